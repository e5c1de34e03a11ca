"""Argument checks and messages shared by both MMU backends (linuxmm.mmu and
linuxmm.reference.mmu), so that they refuse the same calls with the same errors."""
import numpy as np

from .. import _args
from ..errors import ArgumentTypeError
from . import mmu_defs as D

MAX_PFN_LIMIT = 1 << 36          # 256 TiB of 4 KiB frames: far above any simulated machine


def check_geometry(pa, max_pfn, zero_pfn):
    max_pfn = _args.as_int(max_pfn, "max_pfn")
    zero_pfn = _args.as_int(zero_pfn, "zero_pfn")
    if not 0 < max_pfn <= MAX_PFN_LIMIT:
        raise ValueError(f"max_pfn must be in 1..{MAX_PFN_LIMIT}, got {max_pfn}")
    if not 0 <= zero_pfn < max_pfn:
        raise ValueError(f"zero_pfn must be in 0..max_pfn-1, got {zero_pfn}")
    top = max((pa.zone_start_pfn(i) + pa.zone_spanned(i) for i in range(pa.nr_zones)), default=0)
    if top > max_pfn:
        raise ValueError(f"the page allocator spans pfns up to {top}, above max_pfn {max_pfn}")
    return max_pfn, zero_pfn


def check_pfn(pfn, max_pfn, name="pfn"):
    pfn = _args.as_int(pfn, name)
    if not 0 <= pfn < max_pfn:
        raise ValueError(f"{name} {pfn} is outside 0..{max_pfn - 1}")
    return pfn


def check_span(offset, length):
    offset = _args.as_int(offset, "offset")
    length = _args.as_int(length, "length")
    if offset < 0 or length < 0 or offset + length > D.PAGE_SIZE:
        raise ValueError(f"offset {offset} + length {length} is outside the page (0..{D.PAGE_SIZE})")
    return offset, length


def check_bytes(data):
    if isinstance(data, str):
        raise ArgumentTypeError("data must be bytes-like, not str")
    try:
        return bytes(memoryview(data).cast("B"))
    except TypeError:
        raise ArgumentTypeError(f"data must be bytes-like, not {type(data).__name__}") from None


def check_levels(levels):
    """The paging mode of an Mmu: 4 (x86_64) or 3 (i386 PAE); returns (levels, TASK_SIZE,
    the top of what the PGD's user part maps)."""
    levels = _args.as_int(levels, "levels")
    if levels == 4:
        return levels, D.TASK_SIZE, D.USER_TOP
    if levels == 3:
        return levels, D.PAE_TASK_SIZE, D.PAE_TASK_SIZE
    raise ValueError(f"levels must be 4 (x86_64) or 3 (i386 PAE), got {levels}")


def check_addr(addr, task_size=D.TASK_SIZE):
    addr = _args.as_int(addr, "addr")
    if not 0 <= addr < task_size:
        raise ValueError(f"addr {addr:#x} is outside the user address space")
    return addr


def check_entry(entry):
    entry = _args.as_int(entry, "entry")
    if not 0 <= entry < 1 << 64:
        raise ValueError(f"entry {entry:#x} does not fit in 64 bits")
    return entry


def check_huge(addr, entry, task_size=D.TASK_SIZE):
    addr, entry = check_addr(addr, task_size), check_entry(entry)
    if addr & (D.PMD_SIZE - 1):
        raise ValueError(f"addr {addr:#x} is not 2 MiB aligned")
    if not entry & D._PAGE_PSE:
        raise ValueError(f"a huge PMD leaf needs _PAGE_PSE: {entry:#x}")
    return addr, entry


def check_range(start, end, top=D.USER_TOP):
    start, end = _args.as_int(start, "start"), _args.as_int(end, "end")
    if not 0 <= start <= end <= top:
        raise ValueError(f"[{start:#x}, {end:#x}) is not a range of user addresses")
    return start, end


def check_free_range(start, end, floor, ceiling, top=D.USER_TOP):
    start, end = check_range(start, end, top)
    if start == end:
        raise ValueError("free_pgtables needs start < end")
    floor, ceiling = _args.as_int(floor, "floor"), _args.as_int(ceiling, "ceiling")
    for name, v in (("floor", floor), ("ceiling", ceiling)):
        if not 0 <= v <= top:
            raise ValueError(f"{name} {v:#x} is outside 0..{top:#x}")
    return start, end, floor, ceiling


def _array(a, dtype, name, ndim=1):
    if not isinstance(a, np.ndarray):
        raise ArgumentTypeError(f"{name} must be a numpy array, not {type(a).__name__}")
    if a.dtype != dtype:
        raise ArgumentTypeError(f"{name} must have dtype {np.dtype(dtype).name}, not {a.dtype}")
    if a.ndim != ndim or not a.flags.c_contiguous:
        raise ValueError(f"{name} must be a C-contiguous {ndim}-D array")
    return a


def check_counters(counters):
    _array(counters, np.int64, "counters")
    if len(counters) != D.NR_MM_COUNTERS or not counters.flags.writeable:
        raise ValueError(f"counters must be a writable int64 array of {D.NR_MM_COUNTERS}")
    return counters


def check_snapshot(snapshot):
    _array(snapshot, np.int64, "snapshot", 2)
    if snapshot.shape[1] != D.SNAP_COLUMNS:
        raise ValueError(f"snapshot must have {D.SNAP_COLUMNS} columns")
    return snapshot


def check_access(addrs, writes, start):
    _array(addrs, np.int64, "addrs")
    _array(writes, np.uint8, "writes")
    if len(addrs) != len(writes):
        raise ValueError("addrs and writes differ in length")
    start = _args.as_int(start, "start")
    if not 0 <= start <= len(addrs):
        raise ValueError(f"start must be in 0..{len(addrs)}, got {start}")
    return start


def check_access_range(addr, npages, write, start):
    addr = _args.as_int(addr, "addr")
    npages = _args.as_int(npages, "npages")
    start = _args.as_int(start, "start")
    if not 0 <= addr < 1 << 62 or not 0 <= npages < 1 << 40:
        raise ValueError("addr or npages out of range")
    if not 0 <= start <= npages:
        raise ValueError(f"start must be in 0..{npages}, got {start}")
    return addr, npages, 1 if write else 0, start


def addr_array(addrs, task_size=D.TASK_SIZE):
    """User addresses as a contiguous int64 array (ValueError for any outside the space)."""
    a = _args.int_array(addrs, np.int64, "addrs")
    if a.size and (int(a.min()) < 0 or int(a.max()) >= task_size):
        raise ValueError("addrs must lie in the user address space")
    return a


def entry_array(entries, n):
    e = _args.int_array(entries, np.uint64, "entries")
    if len(e) != n:
        raise ValueError("addrs and entries differ in length")
    return e


def leaf_left_message(addr, entry):
    return f"free_pgtables: entry {entry:#x} for {addr:#x} would be lost with its table page"


def not_table_message(pgd, pfn):
    return f"pgd {pgd}: table page {pfn} lacks PG_PGTABLE"


def bad_leaf_message(pgd, addr, entry, max_pfn):
    return f"pgd {pgd}: entry {entry:#x} at {addr:#x} maps a pfn >= max_pfn {max_pfn}"


def check_lru(lru):
    lru = _args.as_int(lru, "lru")
    if not 0 <= lru < D.NR_LRU_LISTS:
        raise ValueError(f"lru must be in 0..{D.NR_LRU_LISTS - 1}, got {lru}")
    return lru
