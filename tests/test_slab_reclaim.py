"""Slab and page-table pages under memory pressure reclaim as Linux's GFP_KERNEL allocations do
(found by tests/test_threads.py): kmalloc, a cache's alloc and a new mm's PGD do not fail while
reclaim can free anonymous memory to swap; GFP_NOWAIT still fails at once."""
import linuxmm
from linuxmm import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, OutOfMemory
from linuxmm.gfp import GFP_NOWAIT


def squeezed(backend_name):
    """A small machine whose free memory a process has eaten down to the min watermark."""
    k = linuxmm.Kernel("64M", backend=backend_name, swap="128M")
    p = k.spawn("hog")
    length = 64 << 20
    addr = p.mmap(0, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    p.touch_range(addr, length, write=True)
    return k, p


def pages_in_use_until_refused(alloc):
    got = []
    try:
        for _ in range(100_000):
            got.append(alloc())
    except OutOfMemory:
        pass
    return got


def test_kmalloc_and_cache_alloc_reclaim_for_their_pages(backend_name):
    k, _ = squeezed(backend_name)
    cache = k.kmem_cache_create("squeezed", 2048)
    out_before = k.vm_counters()["pswpout"]
    objs = [cache.alloc() for _ in range(3000)]             # ~6 MiB of slabs
    objs += [int(a) for a in cache.alloc_bulk(1000)]        # and 2 MiB more in one call
    big = [k.kmalloc(64 << 10) for _ in range(40)]          # large kmallocs: order-4 blocks
    assert k.vm_counters()["pswpout"] > out_before          # reclaim swapped anon out for them
    assert len(set(objs)) == len(objs)
    k.check()
    for a in objs:
        cache.free(a)
    for a in big:
        k.kfree(a)
    k.check()


def test_nowait_slab_allocations_do_not_reclaim(backend_name):
    k, _ = squeezed(backend_name)
    cache = k.kmem_cache_create("nowait", 2048)
    out_before = k.vm_counters()["pswpout"]
    got = pages_in_use_until_refused(lambda: cache.alloc(GFP_NOWAIT))
    assert k.vm_counters()["pswpout"] == out_before         # no reclaim ran for them
    for a in got:
        cache.free(a)
    k.check()


def test_fork_under_pressure_reclaims_for_the_pgd(backend_name):
    k, p = squeezed(backend_name)
    hogs = pages_in_use_until_refused(lambda: k.alloc_pages(order=0))   # no reclaim: to min
    children = [p.fork() for _ in range(3)]     # each child's PGD and tables reclaim for room
    assert all(c.alive for c in children)
    for c in children:
        c.exit()
    for pfn in hogs:
        k.free_pages(pfn)
    k.check()
