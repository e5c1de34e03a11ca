"""SLAB_* cache flags and the GFP bits the slab allocator looks at.

Since 6.9 include/linux/slab.h numbers the flags from `enum _slab_flag_bits` (each flag is
`1U << _SLAB_<NAME>`), and some bits exist only with a config option.  The values here are
Linux 6.18's for the reference machine's x86_64 config (CONFIG_SLUB_DEBUG, CONFIG_MEMCG,
CONFIG_SLAB_OBJ_EXT on; CONFIG_DEBUG_OBJECTS, CONFIG_FAILSLAB, CONFIG_KASAN_GENERIC,
CONFIG_KFENCE, CONFIG_SLUB_TINY off), so SLAB_DEBUG_OBJECTS and SLAB_FAILSLAB are
__SLAB_FLAG_UNUSED (0) as in that kernel.  (Up to 6.8 the values were fixed: SLAB_RED_ZONE
0x400, SLAB_POISON 0x800, SLAB_HWCACHE_ALIGN 0x2000, ...; only the names are stable.)
GFP values are those of include/linux/gfp_types.h (6.3 to 6.18).
"""

# -- kmem_cache_create() flags: enum _slab_flag_bits order (6.18, reference config) -----------
_SLAB_FLAG_BITS = ("CONSISTENCY_CHECKS", "RED_ZONE", "POISON", "KMALLOC", "HWCACHE_ALIGN",
                   "CACHE_DMA", "CACHE_DMA32", "STORE_USER", "PANIC", "TYPESAFE_BY_RCU", "TRACE",
                   # _SLAB_DEBUG_OBJECTS only with CONFIG_DEBUG_OBJECTS
                   "NOLEAKTRACE", "NO_MERGE",
                   # _SLAB_FAILSLAB only with CONFIG_FAILSLAB
                   "ACCOUNT",            # CONFIG_MEMCG
                   # _SLAB_KASAN only with CONFIG_KASAN_GENERIC
                   "NO_USER_FLAGS",
                   # _SLAB_SKIP_KFENCE only with CONFIG_KFENCE
                   "RECLAIM_ACCOUNT",    # !CONFIG_SLUB_TINY
                   "OBJECT_POISON", "CMPXCHG_DOUBLE", "NO_OBJ_EXT")
_BIT = {name: 1 << nr for nr, name in enumerate(_SLAB_FLAG_BITS)}

SLAB_CONSISTENCY_CHECKS = _BIT["CONSISTENCY_CHECKS"]     # 0x1
SLAB_RED_ZONE = _BIT["RED_ZONE"]                         # 0x2
SLAB_POISON = _BIT["POISON"]                             # 0x4
SLAB_KMALLOC = _BIT["KMALLOC"]                           # 0x8
SLAB_HWCACHE_ALIGN = _BIT["HWCACHE_ALIGN"]               # 0x10
SLAB_CACHE_DMA = _BIT["CACHE_DMA"]                       # 0x20
SLAB_CACHE_DMA32 = _BIT["CACHE_DMA32"]                   # 0x40
SLAB_STORE_USER = _BIT["STORE_USER"]                     # 0x80
SLAB_PANIC = _BIT["PANIC"]                               # 0x100
SLAB_TYPESAFE_BY_RCU = _BIT["TYPESAFE_BY_RCU"]           # 0x200
SLAB_TRACE = _BIT["TRACE"]                               # 0x400
SLAB_DEBUG_OBJECTS = 0                                   # __SLAB_FLAG_UNUSED
SLAB_NOLEAKTRACE = _BIT["NOLEAKTRACE"]                   # 0x800
SLAB_NO_MERGE = _BIT["NO_MERGE"]                         # 0x1000
SLAB_FAILSLAB = 0                                        # __SLAB_FLAG_UNUSED
SLAB_ACCOUNT = _BIT["ACCOUNT"]                           # 0x2000
SLAB_NO_USER_FLAGS = _BIT["NO_USER_FLAGS"]               # 0x4000
SLAB_RECLAIM_ACCOUNT = _BIT["RECLAIM_ACCOUNT"]           # 0x8000
SLAB_TEMPORARY = SLAB_RECLAIM_ACCOUNT
OBJECT_POISON = _BIT["OBJECT_POISON"]   # __OBJECT_POISON 0x10000: internal (calculate_sizes())
SLAB_NO_OBJ_EXT = _BIT["NO_OBJ_EXT"]                     # 0x40000

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
    v: k for k, v in globals().items() if k.startswith("SLAB_") and v and k not in (
        "SLAB_DEBUG_FLAGS", "SLAB_NEVER_MERGE", "SLAB_MERGE_SAME", "SLAB_FLAGS_PERMITTED",
        "SLAB_TEMPORARY")
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


def public_flags():
    """The kmem_cache_create() flag names users import from linuxmm (SLAB_HWCACHE_ALIGN, ...)."""
    private = ("SLAB_DEBUG_FLAGS", "SLAB_NEVER_MERGE", "SLAB_MERGE_SAME", "SLAB_FLAGS_PERMITTED")
    return {n: v for n, v in globals().items() if n.startswith("SLAB_") and n not in private}
