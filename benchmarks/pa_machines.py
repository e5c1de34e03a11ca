"""The machine the page allocator benchmarks run on: 1 GiB, x86_64 zones, the kernel's tunables."""
import linuxmm
from linuxmm.gfp import GFP_KERNEL

NR_PAGES = 1 << 18
ZONES = [("DMA", 1, 4095), ("DMA32", 4096, NR_PAGES - 4096), ("Normal", NR_PAGES, 0),
         ("Movable", 0, 0)]
# What boot computes for this machine (linux-mm-physical.md 3.2, 3.6; 2 CPUs, min_free_kbytes 4096
# as the sqrt rule and THP rule give): DMA32 is the zone GFP_KERNEL is served from.
TUNABLES = {
    0: dict(wmark_min=15, wmark_low=18, wmark_high=21, wmark_promo=24,
            lowmem_reserve=[0, 988, 988, 988], pcp_batch=1, pcp_high_min=9, pcp_high_max=240),
    1: dict(wmark_min=1009, wmark_low=1261, wmark_high=1513, wmark_promo=1765,
            lowmem_reserve=[0, 0, 0, 0], pcp_batch=63, pcp_high_min=630, pcp_high_max=16128),
}


def machine(cls=None, pcp=True):
    """Booted allocator; pcp=False sets high 0 (every free flushes, every refill is one page)."""
    cls = cls or linuxmm.PageAllocator
    pa = cls(ZONES, cpus=2)
    pa.free_boot_range(256, NR_PAGES)
    for i, t in TUNABLES.items():
        t = dict(t)
        if not pcp:
            t.update(pcp_high_min=0, pcp_high_max=0)
        pa.set_zone_tunables(i, **t)
    return pa


def python_pairs(pa, pairs, order=0, gfp=GFP_KERNEL):
    alloc, free = pa.alloc_pages, pa.free_pages
    total = 0
    for _ in range(pairs):
        pfn = alloc(gfp, order)
        total += pfn
        free(pfn, order)
    return total


def bulk_rounds(pa, rounds, batch=1024, gfp=GFP_KERNEL):
    """alloc_pages_bulk + free_pages_bulk rounds on a PageAllocator or a Kernel (same API);
    returns the sum of the pfns handed out."""
    total = 0
    alloc, free = pa.alloc_pages_bulk, pa.free_pages_bulk
    for _ in range(rounds):
        pfns = alloc(gfp, batch)
        assert len(pfns) == batch
        total += int(pfns.sum())
        free(pfns)
    return total


def intact(pa):
    """Every page is back: on the buddy lists or on a pcp list."""
    pa.check()
    on_pcp = sum(pa.pcp_count(i, c) for i in range(pa.nr_zones) for c in range(pa.cpus))
    return pa.vmstat()["nr_free_pages"] + on_pcp == NR_PAGES - 256
