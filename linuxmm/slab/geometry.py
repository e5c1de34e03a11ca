"""Cache geometry as SLUB computes it: alignment, object layout, slab order, objects per slab.

calculate_alignment() is mm/slab_common.c's; calculate_sizes(), calculate_order() and
calc_slab_order() follow mm/slub.c (6.7+ form).  Pure functions, shared by both backends.
"""
from dataclasses import dataclass

from . import flags as F

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
CACHE_LINE_SIZE = 64            # cache_line_size() on x86_64
ARCH_SLAB_MINALIGN = 8          # __alignof__(unsigned long long)
WORD = 8                        # sizeof(void *)
TRACK_SIZE = 32                 # sizeof(struct track) with CONFIG_STACKDEPOT
MAX_OBJS_PER_PAGE = 32767
PAGE_ALLOC_COSTLY_ORDER = 3
MAX_PAGE_ORDER = 10
MIN_PARTIAL = 5
MAX_PARTIAL = 10


def fls(x):
    """Position of the most significant set bit, 1-based; fls(0) = 0."""
    return int(x).bit_length()


def ilog2(x):
    return int(x).bit_length() - 1


def align_up(x, a):
    return (x + a - 1) // a * a


def get_order(size):
    """Smallest order whose block holds size bytes (get_order(); size >= 1)."""
    return max(0, fls((size - 1) >> PAGE_SHIFT))


def calculate_alignment(flags, align, size):
    """mm/slab_common.c: HWCACHE_ALIGN halves the cache line while the object fits twice."""
    if flags & F.SLAB_HWCACHE_ALIGN:
        ralign = CACHE_LINE_SIZE
        while size <= ralign // 2:
            ralign //= 2
        align = max(align, ralign)
    align = max(align, ARCH_SLAB_MINALIGN)
    return align_up(align, WORD)


def kmalloc_align(size):
    """create_boot_cache() for kmalloc caches (6.11+): the largest power of two dividing size."""
    return max(ARCH_SLAB_MINALIGN, size & -size)


def min_objects_for(cpus, slub_min_objects=0):
    if slub_min_objects:
        return slub_min_objects
    return 4 * (fls(cpus) + 1)


def calc_slab_order(size, min_order, max_order, fraction):
    """First order in min_order..max_order wasting at most 1/fraction of the slab."""
    for order in range(min_order, max_order + 1):
        slab_size = PAGE_SIZE << order
        if slab_size % size <= slab_size // fraction:
            return order
    return max_order + 1


def calculate_order(size, cpus=2, *, slub_min_order=0, slub_max_order=PAGE_ALLOC_COSTLY_ORDER,
                    slub_min_objects=0):
    """The slab order SLUB picks for objects of `size` bytes (None when too large)."""
    min_objects = min_objects_for(cpus, slub_min_objects)
    min_objects = min(min_objects, max((PAGE_SIZE << slub_max_order) // size, 1))
    min_order = max(slub_min_order, get_order(min_objects * size))
    if (PAGE_SIZE << min_order) // size > MAX_OBJS_PER_PAGE:
        return get_order(size * MAX_OBJS_PER_PAGE) - 1
    for fraction in (16, 8, 4, 2):
        order = calc_slab_order(size, min_order, slub_max_order, fraction)
        if order <= slub_max_order:
            return order
    order = get_order(size)
    return order if order <= MAX_PAGE_ORDER else None


@dataclass(frozen=True)
class Geometry:
    """Everything calculate_sizes() decides for one cache."""
    object_size: int
    size: int
    align: int
    inuse: int
    offset: int
    red_left_pad: int
    order: int
    objects: int
    min_order: int
    min_objects: int
    min_partial: int
    cpu_partial: int
    flags: int

    @property
    def pagesperslab(self):
        return 1 << self.order


def calculate_sizes(object_size, *, align=0, flags=0, ctor=False, cpus=2, freeptr_offset=None,
                    kmalloc=False):
    """Object layout and slab order for a new cache (mm/slub.c calculate_sizes()).

    `align` is the creator's alignment; the cache's alignment is calculate_alignment() of it
    (or kmalloc_align() for kmalloc caches).  Returns a Geometry; ValueError when no slab order
    can hold the object.
    """
    if kmalloc:
        align = max(align, kmalloc_align(object_size))
        flags |= F.SLAB_KMALLOC
    else:
        align = calculate_alignment(flags, align, object_size)
    size = align_up(object_size, WORD)
    if flags & F.SLAB_POISON and not flags & F.SLAB_TYPESAFE_BY_RCU and not ctor:
        flags |= F.OBJECT_POISON
    else:
        flags &= ~F.OBJECT_POISON
    if flags & F.SLAB_RED_ZONE and size == object_size:
        size += WORD
    inuse = size
    use_freeptr_offset = freeptr_offset is not None
    if ((flags & F.SLAB_TYPESAFE_BY_RCU and not use_freeptr_offset) or flags & F.SLAB_POISON or
            (ctor and not use_freeptr_offset) or
            (flags & F.SLAB_RED_ZONE and (object_size < WORD or
                                          (kmalloc and flags & F.SLAB_STORE_USER)))):
        offset = size
        size += WORD
    elif (flags & F.SLAB_TYPESAFE_BY_RCU or ctor) and use_freeptr_offset:
        offset = freeptr_offset
    else:
        offset = (object_size // 2) // WORD * WORD
    if flags & F.SLAB_STORE_USER:
        size += 2 * TRACK_SIZE
        if kmalloc:
            size += WORD
    red_left_pad = 0
    if flags & F.SLAB_RED_ZONE:
        size += WORD
        red_left_pad = align_up(WORD, align)
        size += red_left_pad
    size = align_up(size, align)
    order = calculate_order(size, cpus)
    if order is None:
        raise ValueError(f"object size {object_size} is too large for a slab cache")
    min_order = get_order(size)
    min_partial = min(MAX_PARTIAL, max(MIN_PARTIAL, ilog2(size) // 2))
    if flags & F.SLAB_DEBUG_FLAGS:
        cpu_partial = 0         # set_cpu_partial(): no cpu partial slabs for kmem_cache_debug()
    elif size >= PAGE_SIZE:
        cpu_partial = 6
    elif size >= 1024:
        cpu_partial = 24
    elif size >= 256:
        cpu_partial = 52
    else:
        cpu_partial = 120
    return Geometry(object_size=object_size, size=size, align=align, inuse=inuse, offset=offset,
                    red_left_pad=red_left_pad, order=order,
                    objects=(PAGE_SIZE << order) // size, min_order=min_order,
                    min_objects=(PAGE_SIZE << min_order) // size, min_partial=min_partial,
                    cpu_partial=cpu_partial, flags=flags)
