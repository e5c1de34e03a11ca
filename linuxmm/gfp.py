"""GFP flags: Linux's names and values (include/linux/gfp_types.h, 6.3+ values, 6.17+ GFP_NOWAIT).

Pure Python (the reference models use it too); csrc/lmm.h repeats the values as LMM_GFP_*
#defines for the C core, and a test checks that both agree.

    gfp_zone(gfp, zone_names)   highest zone index a request may use (GFP_ZONE_TABLE)
    gfp_migratetype(gfp)        MIGRATE_UNMOVABLE / MOVABLE / RECLAIMABLE
    format_gfp(gfp)             the "%pGg" rendering, e.g. "GFP_KERNEL|__GFP_ZERO"
"""
__GFP_DMA = 0x01
__GFP_HIGHMEM = 0x02
__GFP_DMA32 = 0x04
__GFP_MOVABLE = 0x08
__GFP_RECLAIMABLE = 0x10
__GFP_HIGH = 0x20
__GFP_IO = 0x40
__GFP_FS = 0x80
__GFP_ZERO = 0x100
__GFP_DIRECT_RECLAIM = 0x400
__GFP_KSWAPD_RECLAIM = 0x800
__GFP_WRITE = 0x1000
__GFP_NOWARN = 0x2000
__GFP_RETRY_MAYFAIL = 0x4000
__GFP_NOFAIL = 0x8000
__GFP_NORETRY = 0x10000
__GFP_MEMALLOC = 0x20000
__GFP_COMP = 0x40000
__GFP_NOMEMALLOC = 0x80000
__GFP_HARDWALL = 0x100000
__GFP_THISNODE = 0x200000
__GFP_ACCOUNT = 0x400000
__GFP_ZEROTAGS = 0x800000
__GFP_SKIP_KASAN = 0          # only with CONFIG_KASAN_HW_TAGS

__GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM
GFP_ZONEMASK = __GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE
GFP_MOVABLE_MASK = __GFP_RECLAIMABLE | __GFP_MOVABLE
GFP_MOVABLE_SHIFT = 3

GFP_ATOMIC = __GFP_HIGH | __GFP_KSWAPD_RECLAIM
GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS
GFP_KERNEL_ACCOUNT = GFP_KERNEL | __GFP_ACCOUNT
GFP_NOWAIT = __GFP_KSWAPD_RECLAIM | __GFP_NOWARN
GFP_NOIO = __GFP_RECLAIM
GFP_NOFS = __GFP_RECLAIM | __GFP_IO
GFP_USER = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL
GFP_DMA = __GFP_DMA
GFP_DMA32 = __GFP_DMA32
GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM
GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE | __GFP_SKIP_KASAN
GFP_TRANSHUGE_LIGHT = ((GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NOWARN)
                       & ~__GFP_RECLAIM)
GFP_TRANSHUGE = GFP_TRANSHUGE_LIGHT | __GFP_DIRECT_RECLAIM
GFP_PGTABLE_USER = GFP_KERNEL_ACCOUNT | __GFP_ZERO      # page-table pages of user mms

GFP_MAX = 2**32 - 1           # gfp_t is 32 bits

MIGRATE_UNMOVABLE, MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE = 0, 1, 2
MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE = 3, 4
MIGRATE_PCPTYPES = 3
MIGRATE_TYPES = 5
MIGRATETYPE_NAMES = ("Unmovable", "Movable", "Reclaimable", "HighAtomic", "Isolate")

ZONE_NAMES = ("DMA", "DMA32", "Normal", "HighMem", "Movable", "Device")

# include/trace/events/mmflags.h: __def_gfpflag_names, in the order %pGg tries them.
_FLAG_NAMES = (
    ("GFP_TRANSHUGE", GFP_TRANSHUGE),
    ("GFP_TRANSHUGE_LIGHT", GFP_TRANSHUGE_LIGHT),
    ("GFP_HIGHUSER_MOVABLE", GFP_HIGHUSER_MOVABLE),
    ("GFP_HIGHUSER", GFP_HIGHUSER),
    ("GFP_USER", GFP_USER),
    ("GFP_KERNEL_ACCOUNT", GFP_KERNEL_ACCOUNT),
    ("GFP_KERNEL", GFP_KERNEL),
    ("GFP_NOFS", GFP_NOFS),
    ("GFP_ATOMIC", GFP_ATOMIC),
    ("GFP_NOIO", GFP_NOIO),
    ("GFP_NOWAIT", GFP_NOWAIT),
    ("GFP_DMA", GFP_DMA),
    ("__GFP_HIGHMEM", __GFP_HIGHMEM),
    ("GFP_DMA32", GFP_DMA32),
    ("__GFP_HIGH", __GFP_HIGH),
    ("__GFP_IO", __GFP_IO),
    ("__GFP_FS", __GFP_FS),
    ("__GFP_NOWARN", __GFP_NOWARN),
    ("__GFP_RETRY_MAYFAIL", __GFP_RETRY_MAYFAIL),
    ("__GFP_NOFAIL", __GFP_NOFAIL),
    ("__GFP_NORETRY", __GFP_NORETRY),
    ("__GFP_COMP", __GFP_COMP),
    ("__GFP_ZERO", __GFP_ZERO),
    ("__GFP_NOMEMALLOC", __GFP_NOMEMALLOC),
    ("__GFP_MEMALLOC", __GFP_MEMALLOC),
    ("__GFP_HARDWALL", __GFP_HARDWALL),
    ("__GFP_THISNODE", __GFP_THISNODE),
    ("__GFP_RECLAIMABLE", __GFP_RECLAIMABLE),
    ("__GFP_MOVABLE", __GFP_MOVABLE),
    ("__GFP_ACCOUNT", __GFP_ACCOUNT),
    ("__GFP_WRITE", __GFP_WRITE),
    ("__GFP_RECLAIM", __GFP_RECLAIM),
    ("__GFP_DIRECT_RECLAIM", __GFP_DIRECT_RECLAIM),
    ("__GFP_KSWAPD_RECLAIM", __GFP_KSWAPD_RECLAIM),
    ("__GFP_ZEROTAGS", __GFP_ZEROTAGS),
)


def format_gfp(gfp):
    """lib/vsprintf.c format_flags() with gfpflag_names: composite names first, rest in hex."""
    parts = []
    for name, mask in _FLAG_NAMES:
        if gfp and (gfp & mask) == mask:
            parts.append(name)
            gfp &= ~mask
    if gfp:
        parts.append(f"{gfp:#x}")
    return "|".join(parts)


def gfp_zone_bad(gfp):
    """GFP_ZONE_BAD: two of __GFP_DMA, __GFP_DMA32, __GFP_HIGHMEM together."""
    z = gfp & (__GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM)
    return z & (z - 1) != 0


def gfp_zone_table(zone_names):
    """GFP_ZONE_TABLE for the configured zones: a list of 16 zone indices (-1 for bad entries).

    OPT_ZONE_DMA/DMA32/HIGHMEM become ZONE_NORMAL when that zone is not configured; ZONE_MOVABLE
    likewise (the kernel always configures it; here a zone list may omit it)."""
    names = list(zone_names)

    def idx(name):
        return names.index(name if name in names else "Normal")

    table = []
    for bits in range(16):
        if gfp_zone_bad(bits):
            table.append(-1)
        elif bits & __GFP_DMA:
            table.append(idx("DMA"))
        elif bits & __GFP_DMA32:
            table.append(idx("DMA32"))
        elif bits & __GFP_HIGHMEM:
            table.append(idx("Movable") if bits & __GFP_MOVABLE else idx("HighMem"))
        else:
            table.append(idx("Normal"))
    return table


def gfp_zone(gfp, zone_names=("DMA", "DMA32", "Normal", "Movable", "Device")):
    """highest_zoneidx for gfp with these configured zones (default: x86_64's).
    ValueError for a bad combination."""
    if gfp_zone_bad(gfp):
        raise ValueError(f"bad gfp {gfp:#x}: more than one zone modifier ({format_gfp(gfp)})")
    return gfp_zone_table(zone_names)[gfp & GFP_ZONEMASK]


def gfp_migratetype(gfp, mobility_disabled=False):
    """MIGRATE_UNMOVABLE (0), MOVABLE (1) or RECLAIMABLE (2); UNMOVABLE when grouping is off."""
    if gfp & GFP_MOVABLE_MASK == GFP_MOVABLE_MASK:
        raise ValueError(f"bad gfp {gfp:#x}: __GFP_MOVABLE and __GFP_RECLAIMABLE together")
    if mobility_disabled:
        return MIGRATE_UNMOVABLE
    return (gfp & GFP_MOVABLE_MASK) >> GFP_MOVABLE_SHIFT


__all__ = [n for n in dir() if n.startswith(("GFP_", "__GFP_", "MIGRATE_"))] + [
    "ZONE_NAMES", "format_gfp", "gfp_zone", "gfp_zone_bad", "gfp_zone_table", "gfp_migratetype"]
