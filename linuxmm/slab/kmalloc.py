"""kmalloc size classes and cache types (include/linux/slab.h, mm/slab_common.c), x86_64.

Pure functions shared by both backends; the C core has its own copy of the index table
(csrc/slab.c), tested against the table of the reference doc.
"""
from . import flags as F
from .geometry import MAX_PAGE_ORDER, PAGE_SHIFT

KMALLOC_SHIFT_LOW = 3
KMALLOC_SHIFT_HIGH = PAGE_SHIFT + 1
KMALLOC_MIN_SIZE = 1 << KMALLOC_SHIFT_LOW
KMALLOC_MAX_CACHE_SIZE = 1 << KMALLOC_SHIFT_HIGH            # 8 KiB
KMALLOC_MAX_SIZE = 1 << (MAX_PAGE_ORDER + PAGE_SHIFT)       # 4 MiB
ZERO_SIZE_PTR = 16

# kmalloc_size_index[(size - 1) / 8] for sizes 1..192
_SIZE_INDEX = (3, 4, 5, 5, 6, 6, 6, 6, 1, 1, 1, 1, 7, 7, 7, 7,
               2, 2, 2, 2, 2, 2, 2, 2)

# Cache types in enum kmalloc_cache_type order (no random copies: CONFIG_RANDOM_KMALLOC_CACHES off).
KMALLOC_NORMAL, KMALLOC_RECLAIM, KMALLOC_DMA, KMALLOC_CGROUP = range(4)
NR_KMALLOC_TYPES = 4
TYPE_PREFIX = {KMALLOC_NORMAL: "kmalloc-", KMALLOC_RECLAIM: "kmalloc-rcl-",
               KMALLOC_DMA: "dma-kmalloc-", KMALLOC_CGROUP: "kmalloc-cg-"}
TYPE_FLAGS = {KMALLOC_NORMAL: F.SLAB_NO_MERGE, KMALLOC_RECLAIM: F.SLAB_RECLAIM_ACCOUNT,
              KMALLOC_DMA: F.SLAB_CACHE_DMA, KMALLOC_CGROUP: F.SLAB_ACCOUNT}


def index_size(index):
    """Object size of kmalloc index 1..13 (kmalloc_info[])."""
    if index == 1:
        return 96
    if index == 2:
        return 192
    return 1 << index


def size_name(size):
    """'96', '8', '1k', '8k' as in kmalloc_info[] names."""
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024}k"
    return str(size)


def cache_name(kmalloc_type, index):
    return TYPE_PREFIX[kmalloc_type] + size_name(index_size(index))


# Creation order within one type: 96, 192, then 8 .. 8k (new_kmalloc_cache(), create_kmalloc_caches()).
CREATION_ORDER = (1, 2) + tuple(range(KMALLOC_SHIFT_LOW, KMALLOC_SHIFT_HIGH + 1))


def kmalloc_index(size):
    """kmalloc_slab()'s index for 1 <= size <= KMALLOC_MAX_CACHE_SIZE (0 for size 0)."""
    if size == 0:
        return 0
    if size <= 192:
        return _SIZE_INDEX[(size - 1) // 8]
    return (size - 1).bit_length()


def kmalloc_type(gfp):
    """kmalloc_type(): NORMAL unless __GFP_DMA, __GFP_RECLAIMABLE or __GFP_ACCOUNT (in that order)."""
    if not gfp & (F.GFP_DMA | F.GFP_RECLAIMABLE | F.GFP_ACCOUNT):
        return KMALLOC_NORMAL
    if gfp & F.GFP_DMA:
        return KMALLOC_DMA
    if gfp & F.GFP_RECLAIMABLE:
        return KMALLOC_RECLAIM
    return KMALLOC_CGROUP


def large_order(size):
    """Page order of a kmalloc larger than KMALLOC_MAX_CACHE_SIZE (get_order())."""
    return max(0, ((size - 1) >> PAGE_SHIFT).bit_length())
