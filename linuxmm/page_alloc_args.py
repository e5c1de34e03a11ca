"""Argument checks and errors of the page allocator, shared by both backends
(linuxmm.page_alloc in C and linuxmm.reference.page_alloc), so that both refuse the same calls
with the same exceptions."""
from . import _args, gfp as G
from .errors import ArgumentTypeError, OutOfMemory

MAX_CPUS = 1024
MAX_ZONES = 6
MIGRATE_TYPES = G.MIGRATE_TYPES


def check_alloc(gfp, order, cpu, max_order, cpus):
    """Arguments of alloc_pages(): ValueError on bad gfp (two zone modifiers), order or cpu."""
    gfp = _args.as_int(gfp, "gfp")
    if not 0 <= gfp <= G.GFP_MAX:
        raise ValueError(f"gfp {gfp:#x} does not fit in gfp_t")
    if G.gfp_zone_bad(gfp):
        raise ValueError(f"bad gfp {gfp:#x}: more than one zone modifier ({G.format_gfp(gfp)})")
    if gfp & G.GFP_MOVABLE_MASK == G.GFP_MOVABLE_MASK:
        raise ValueError(f"bad gfp {gfp:#x}: __GFP_MOVABLE and __GFP_RECLAIMABLE together")
    order = _args.as_int(order, "order")
    if not 0 <= order <= max_order:
        raise ValueError(f"order must be in 0..{max_order}, got {order}")
    return gfp, order, check_cpu(cpu, cpus)


def check_cpu(cpu, cpus):
    cpu = _args.as_int(cpu, "cpu")
    if not 0 <= cpu < cpus:
        raise ValueError(f"cpu must be in 0..{cpus - 1}, got {cpu}")
    return cpu


def check_zone_index(i, nr_zones):
    if i.__class__ is int and 0 <= i < nr_zones:      # the common case, without conversions
        return i
    i = _args.as_int(i, "zone index")
    if not 0 <= i < nr_zones:
        raise ValueError(f"zone index must be in 0..{nr_zones - 1}, got {i}")
    return i


def check_boot_range(start, end):
    start, end = _args.as_int(start, "start"), _args.as_int(end, "end")
    if not 0 <= start <= end <= 2**62:
        raise ValueError(f"bad range [{start}, {end})")
    return start, end


def already_released(start, end):
    return ValueError(f"pfns [{start}, {end}) overlap memory released before")


def alloc_failure(gfp, order):
    """The OutOfMemory both backends raise, worded as warn_alloc()."""
    err = OutOfMemory(f"page allocation failure: order:{order}, mode:{gfp:#x}({G.format_gfp(gfp)})")
    err.gfp = gfp
    err.order = order
    return err


def _check_zones(zones):
    try:
        spec = [tuple(z) for z in zones]
    except TypeError:
        raise ArgumentTypeError("zones must be a list of (name, start_pfn, spanned_pages)") \
            from None
    if not 1 <= len(spec) <= MAX_ZONES:
        raise ValueError(f"between 1 and {MAX_ZONES} zones, got {len(spec)}")
    out = []
    last_kind, last_end = -1, 0
    for z in spec:
        if len(z) != 3:
            raise ValueError(f"zone {z!r} is not (name, start_pfn, spanned_pages)")
        name, start, spanned = z
        if name not in G.ZONE_NAMES:
            raise ValueError(f"unknown zone name {name!r}; known: {', '.join(G.ZONE_NAMES)}")
        kind = G.ZONE_NAMES.index(name)
        if kind <= last_kind:
            raise ValueError(f"zone {name} out of order or repeated")
        last_kind = kind
        start, spanned = _args.as_int(start, "start_pfn"), _args.as_int(spanned, "spanned_pages")
        if not 0 <= start <= 2**62 or not 0 <= spanned < 2**32 - 1:
            raise ValueError(f"zone {name}: bad start_pfn {start} or spanned_pages {spanned}")
        if spanned:
            if start < last_end:
                raise ValueError(f"zone {name} overlaps the zone below it")
            last_end = start + spanned
        out.append((name, start, spanned))
    if "Normal" not in [n for n, _, _ in out]:
        raise ValueError("a Normal zone is required")
    return out


def _tunables(nr_zones, *vals):
    out = []
    for k, v in enumerate(vals):
        if v is None:
            out.append(None)
        elif k == 4:
            lr = [_args.as_int(x, "lowmem_reserve") for x in v]
            if len(lr) != nr_zones or any(not 0 <= x < 2**62 for x in lr):
                raise ValueError(f"lowmem_reserve must have {nr_zones} entries >= 0")
            out.append(lr)
        elif k == 9:
            out.append(bool(v))
        else:
            v = _args.as_int(v, "tunable")
            limit = 2**62 if k < 4 else 2**20 if k == 6 else 2**30     # pcp sizes are C ints
            if not 0 <= v <= limit:
                raise ValueError(f"tunable value {v} out of range 0..{limit}")
            out.append(v)
    return out


def check_pcp_sizes(vals, batch, high_min, high_max):
    """pcp batch is at least 1 (zone_batchsize() never gives less).  high_min may exceed
    high_max, as zone_highsize() allows on small zones; clamp() then gives high_max."""
    batch = batch if vals[6] is None else vals[6]
    if batch < 1:
        raise ValueError(f"pcp_batch must be >= 1, got {batch}")


def _check_mt(mt):
    mt = _args.as_int(mt, "migratetype")
    if not 0 <= mt < MIGRATE_TYPES:
        raise ValueError(f"migratetype must be in 0..{MIGRATE_TYPES - 1}")
    return mt


def _int64(value, name):
    """An int64_t argument: ArgumentTypeError for a non-integer, ValueError beyond 64 bits."""
    value = _args.as_int(value, name)
    if not -(2**63) <= value < 2**63:
        raise ValueError(f"{name} {value} does not fit in 64 bits")
    return value


# -- compaction support (isolate_free_page, split_page, free_blocks) ---------------------------
def check_isolate_args(pfn, order, max_order):
    pfn, order = _int64(pfn, "pfn"), _args.as_int(order, "order")
    if not 0 <= order <= max_order:
        raise ValueError(f"order must be in 0..{max_order}, got {order}")
    return pfn, order


def check_pfn_range(start, end):
    start, end = _int64(start, "start"), _int64(end, "end")
    if not 0 <= start <= end:
        raise ValueError(f"bad pfn range [{start}, {end})")
    return start, end


def not_a_free_block(pfn, order):
    return ValueError(f"pfn {pfn} does not head a free block of order {order}")


def compound_split(pfn, order):
    from .errors import invalid_free
    err = invalid_free("nothead", pfn, order)
    err.args = (f"pfn {pfn} heads a compound block of order {order}: split_page refuses it",)
    return err
