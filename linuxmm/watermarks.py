"""Linux's formulas for the per-zone numbers the page allocator enforces.

Pure functions of their inputs (zone names, managed pages, sysctls, CPU count); the Kernel runs
them in the order the kernel does at boot and pushes the results into the page allocator.
Sources: mm/page_alloc.c (calculate_min_free_kbytes, __setup_per_zone_wmarks,
setup_per_zone_lowmem_reserve, calculate_totalreserve_pages, zone_batchsize, zone_highsize),
mm/khugepaged.c (set_recommended_min_free_kbytes), mm/vmstat.c (calculate_normal_threshold).
See docs/physical.md and linux-mm-physical.md sections 2.4, 3.
"""
import math

PAGE_SHIFT = 12
SWAP_CLUSTER_MAX = 32
MIGRATE_PCPTYPES = 3
MIN_PERCPU_PAGELIST_HIGH_FRACTION = 8
MAX_WATERMARK_SCALE_FACTOR = 3000
# sysctl_lowmem_reserve_ratio defaults by zone name (mm/page_alloc.c)
LOWMEM_RESERVE_RATIO = {"DMA": 256, "DMA32": 256, "Normal": 32, "HighMem": 0, "Movable": 0,
                        "Device": 0}
HIGH_ZONES = ("HighMem", "Movable")     # is_highmem(zone) || zone_idx(zone) == ZONE_MOVABLE
USER_ZONES = ("DMA", "DMA32", "Normal")  # zones <= gfp_zone(GFP_USER)


def user_zone_indices(names):
    """Indices of zones an ordinary GFP_USER/GFP_KERNEL request may use."""
    return [i for i, name in enumerate(names) if name in USER_ZONES]


def nr_free_buffer_pages(names, managed, high):
    """Σ max(0, managed - high watermark) over the zones <= gfp_zone(GFP_USER)."""
    return sum(max(0, managed[i] - high[i]) for i in user_zone_indices(names))


def min_free_kbytes_sqrt(names, managed, high):
    """calculate_min_free_kbytes(): int_sqrt(lowmem_kbytes * 16) clamped to [128, 262144]."""
    lowmem_kbytes = nr_free_buffer_pages(names, managed, high) * (1 << (PAGE_SHIFT - 10))
    return min(max(math.isqrt(lowmem_kbytes * 16), 128), 262144)


def min_free_kbytes_thp(names, present, managed, high, pageblock_order=9):
    """set_recommended_min_free_kbytes(): the THP floor (two free + 9 pcp-type blocks per zone)."""
    pageblock_nr_pages = 1 << pageblock_order
    nr_zones = sum(1 for i in user_zone_indices(names) if present[i])
    rec = pageblock_nr_pages * nr_zones * 2
    rec += pageblock_nr_pages * nr_zones * MIGRATE_PCPTYPES * MIGRATE_PCPTYPES
    rec = min(rec, nr_free_buffer_pages(names, managed, high) // 20)
    return rec << (PAGE_SHIFT - 10)


def zone_watermarks(names, managed, min_free_kbytes, watermark_scale_factor=10):
    """__setup_per_zone_wmarks(): [(min, low, high, promo)] per zone (boost not included)."""
    pages_min = min_free_kbytes >> (PAGE_SHIFT - 10)
    lowmem_pages = sum(m for name, m in zip(names, managed) if name not in HIGH_ZONES)
    out = []
    for name, m in zip(names, managed):
        tmp = pages_min * m // lowmem_pages if lowmem_pages else 0
        if name in HIGH_ZONES:
            wmin = min(max(m // 1024, SWAP_CLUSTER_MAX), 128)
        else:
            wmin = tmp
        step = max(tmp >> 2, m * watermark_scale_factor // 10000)
        out.append((wmin, wmin + step, wmin + 2 * step, wmin + 3 * step))
    return out


def lowmem_reserve(names, managed, ratios=None):
    """setup_per_zone_lowmem_reserve(): lowmem_reserve[i][j] per zone i, one entry per zone j."""
    if ratios is None:
        ratios = [LOWMEM_RESERVE_RATIO[name] for name in names]
    n = len(names)
    out = []
    for i in range(n):
        row = [0] * n
        acc = 0
        for j in range(i + 1, n):
            acc += managed[j]
            row[j] = 0 if (ratios[i] == 0 or managed[i] == 0) else acc // ratios[i]
        out.append(row)
    return out


def totalreserve_pages(managed, high, reserve):
    """calculate_totalreserve_pages(): Σ min(max lowmem_reserve[i][j>=i] + high, managed)."""
    total = 0
    for i, m in enumerate(managed):
        r = max(reserve[i][i:], default=0) + high[i]
        total += min(r, m)
    return total


def rounddown_pow_of_two(x):
    return 1 << (x.bit_length() - 1)


def zone_batchsize(managed):
    """zone_batchsize(): pcp batch, about a quarter of a 1/1024 slice of the zone, capped."""
    b = min(managed >> 10, (1 << 20) >> PAGE_SHIFT) // 4
    b = max(b, 1)
    b = rounddown_pow_of_two(b + b // 2) - 1
    return max(b, 1)


def zone_highsize(managed, low_wmark, batch, cpus, fraction):
    """zone_highsize() (6.7+): pcp high limit for one CPU of the zone's node."""
    total = managed // fraction if fraction else low_wmark
    return max(total // cpus, batch * 4)


def pcp_limits(managed, low_wmark, cpus, high_fraction=0):
    """(batch, high_min, high_max) as zone_set_pageset_high_and_batch() sets them."""
    if managed == 0:   # zone_batchsize/highsize of an unpopulated zone: the boot pageset
        return 1, 0, 0
    batch = zone_batchsize(managed)
    high_min = zone_highsize(managed, low_wmark, batch, cpus, high_fraction)
    if high_fraction:
        high_max = high_min
    else:
        high_max = zone_highsize(managed, low_wmark, batch, cpus,
                                 MIN_PERCPU_PAGELIST_HIGH_FRACTION)
    return batch, high_min, high_max


def stat_threshold(managed, cpus):
    """calculate_normal_threshold(): the vmstat per-cpu delta threshold of a zone."""
    mem = managed >> (27 - PAGE_SHIFT)
    return min(125, 2 * cpus.bit_length() * (1 + mem.bit_length()))


def si_mem_available(free, totalreserve, wmark_low, pagecache, reclaimable):
    """si_mem_available() (mm/show_mem.c) in pages: free memory plus the easily reclaimable
    halves of page cache and reclaimable kernel memory, minus the reserves."""
    available = free - totalreserve
    available += pagecache - min(pagecache // 2, wmark_low)
    available += reclaimable - min(reclaimable // 2, wmark_low)
    return max(available, 0)


def commit_limit(totalram, hugetlb=0, swap_pages=0, overcommit_ratio=50):
    """vm_commit_limit() in pages with vm.overcommit_kbytes unset."""
    return (totalram - hugetlb) * overcommit_ratio // 100 + swap_pages


def dirty_limits(free, totalreserve, file_lru, highmem_free=0, dirty_ratio=20,
                 background_ratio=10, page_size=4096, dirty_bytes=0, background_bytes=0):
    """global_dirty_limits() (mm/page-writeback.c domain_dirty_limits) in pages:
    (nr_dirty_threshold, nr_dirty_background_threshold).  free and file_lru are NR_FREE_PAGES
    and the file LRU sizes; highmem_free is what highmem_dirtyable_memory() subtracts (0 on
    x86_64); vm.dirty_bytes / dirty_background_bytes, when set, replace the ratios."""
    x = free - min(free, totalreserve) + file_lru
    x -= min(x, highmem_free)
    available = x + 1                         # "Ensure that we never return 0"
    if dirty_bytes:
        thresh = -(-dirty_bytes // page_size)
    else:
        thresh = (dirty_ratio * page_size // 100) * available // page_size
    if background_bytes:
        bg = -(-background_bytes // page_size)
    else:
        bg = (background_ratio * page_size // 100) * available // page_size
    if bg >= thresh:
        bg = thresh // 2
    return thresh, bg
