"""SLAB_* cache flags and the GFP bits the slab allocator looks at.

Flag values are the classic ones of include/linux/slab.h (stable through 6.8; since 6.9 the
kernel numbers them from an enum whose values depend on the configuration, so only the names
are ABI).  GFP values are those of include/linux/gfp_types.h (6.3 to 6.18).
"""

# -- kmem_cache_create() flags ----------------------------------------------------------------
SLAB_CONSISTENCY_CHECKS = 0x00000100
SLAB_RED_ZONE = 0x00000400
SLAB_POISON = 0x00000800
SLAB_KMALLOC = 0x00001000
SLAB_HWCACHE_ALIGN = 0x00002000
SLAB_CACHE_DMA = 0x00004000
SLAB_CACHE_DMA32 = 0x00008000
SLAB_STORE_USER = 0x00010000
SLAB_RECLAIM_ACCOUNT = 0x00020000
SLAB_PANIC = 0x00040000
SLAB_TYPESAFE_BY_RCU = 0x00080000
SLAB_TRACE = 0x00200000
SLAB_DEBUG_OBJECTS = 0x00400000
SLAB_NOLEAKTRACE = 0x00800000
SLAB_NO_MERGE = 0x01000000
SLAB_FAILSLAB = 0x02000000
SLAB_ACCOUNT = 0x04000000
SLAB_NO_USER_FLAGS = 0x10000000
OBJECT_POISON = 0x80000000          # __OBJECT_POISON: internal, set by calculate_sizes()

SLAB_DEBUG_FLAGS = SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_TRACE | SLAB_CONSISTENCY_CHECKS
SLAB_NEVER_MERGE = (SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_TRACE |
                    SLAB_TYPESAFE_BY_RCU | SLAB_NOLEAKTRACE | SLAB_FAILSLAB | SLAB_NO_MERGE)
SLAB_MERGE_SAME = SLAB_RECLAIM_ACCOUNT | SLAB_CACHE_DMA | SLAB_CACHE_DMA32 | SLAB_ACCOUNT

# Flags a caller may pass to kmem_cache_create() (SLAB_FLAGS_PERMITTED, minus internal bits).
SLAB_FLAGS_PERMITTED = (SLAB_CONSISTENCY_CHECKS | SLAB_RED_ZONE | SLAB_POISON | SLAB_KMALLOC |
                        SLAB_HWCACHE_ALIGN | SLAB_CACHE_DMA | SLAB_CACHE_DMA32 | SLAB_STORE_USER |
                        SLAB_RECLAIM_ACCOUNT | SLAB_PANIC | SLAB_TYPESAFE_BY_RCU | SLAB_TRACE |
                        SLAB_DEBUG_OBJECTS | SLAB_NOLEAKTRACE | SLAB_NO_MERGE | SLAB_FAILSLAB |
                        SLAB_ACCOUNT | SLAB_NO_USER_FLAGS)

FLAG_NAMES = {
    v: k for k, v in globals().items() if k.startswith("SLAB_") and k not in (
        "SLAB_DEBUG_FLAGS", "SLAB_NEVER_MERGE", "SLAB_MERGE_SAME", "SLAB_FLAGS_PERMITTED")
}

# -- GFP bits used here -----------------------------------------------------------------------
GFP_DMA = 0x01
GFP_HIGHMEM = 0x02          # __GFP_HIGHMEM
GFP_DMA32 = 0x04            # __GFP_DMA32
GFP_RECLAIMABLE = 0x10      # __GFP_RECLAIMABLE
GFP_ZERO = 0x100            # __GFP_ZERO
GFP_NOWARN = 0x2000         # __GFP_NOWARN
GFP_NORETRY = 0x10000       # __GFP_NORETRY
GFP_NOFAIL = 0x8000         # __GFP_NOFAIL
GFP_COMP = 0x40000          # __GFP_COMP
GFP_ACCOUNT = 0x400000      # __GFP_ACCOUNT
GFP_KERNEL = 0xcc0
GFP_KERNEL_ACCOUNT = 0x400cc0
GFP_ATOMIC = 0x820
GFP_NOWAIT = 0x2800
GFP_SLAB_BUG_MASK = GFP_DMA32 | GFP_HIGHMEM     # kmalloc_fix_flags() strips these
GFP_MASK = (1 << 26) - 1                        # every defined bit
