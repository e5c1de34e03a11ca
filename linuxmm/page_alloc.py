"""PageAllocator: one node of Linux 6.x's zoned page allocator, in C (csrc/page_alloc.c).

    pa = PageAllocator([("DMA", 1, 4095), ("DMA32", 4096, 1044480), ("Normal", 1048576, 0)])
    pa.free_boot_range(1, 500000)                 # memblock_free_all()
    pa.set_zone_tunables(1, wmark_min=..., lowmem_reserve=[0, 0, 0], pcp_batch=63, ...)
    pfn = pa.alloc_pages(GFP_KERNEL, order=0, cpu=0)
    pa.free_pages(pfn, 0, cpu=0)
    pfns = pa.alloc_pages_bulk(GFP_KERNEL, 1000)  # numpy int64, one C call
    pa.free_pages_bulk(pfns)

The twin ``linuxmm.reference.PageAllocator`` gives the same results and errors.  Safe to share
between threads: every C entry point takes the allocator's lock (`pa.lock`), and the methods that
make several calls hold it throughout (linuxmm.sync).
"""
import weakref

import numpy as np

from . import _args, gfp as G
from ._ffi import FREE_REASONS, _plain, ffi, lib
from .corelock import CoreLock
from .errors import InvariantError, invalid_free
from .page_alloc_args import (MAX_CPUS, _check_mt, _check_zones, _tunables,
                                   already_released, alloc_failure, check_alloc, check_boot_range,
                                   check_cpu, check_isolate_args, check_pfn_range,
                                   check_pcp_sizes, check_zone_index, compound_split,
                                   not_a_free_block)
from .sync import synchronized

_alloc = lib.lmm_pa_alloc
_free = lib.lmm_pa_free
_alloc_bulk = lib.lmm_pa_alloc_bulk
_free_bulk = lib.lmm_pa_free_bulk
_from_buffer = ffi.from_buffer
_empty = np.empty
_int64_t = np.int64
_as_int = _args.as_int
_GFP_DIRECT_RECLAIM = G.__GFP_DIRECT_RECLAIM

_REASONS = FREE_REASONS
_STATES = {lib.LMM_PAGE_ABSENT: "absent", lib.LMM_PAGE_RESERVED: "reserved",
           lib.LMM_PAGE_FREE: "free", lib.LMM_PAGE_PCP: "pcp",
           lib.LMM_PAGE_ALLOCATED: "allocated", lib.LMM_PAGE_TAIL: "tail"}


class _Errors:
    """Turns a failed C call into the exception the reference model raises.  Holds what that
    needs (not the PageAllocator, so the fast-path closures create no reference cycle)."""

    def __init__(self, ptr, max_order, cpus, min_pfn, max_pfn):
        self.ptr, self.max_order, self.cpus = ptr, max_order, cpus
        self.min_pfn, self.max_pfn = min_pfn, max_pfn

    def alloc_error(self, code, gfp, order, cpu):
        check_alloc(gfp, order, cpu, self.max_order, self.cpus)
        if code == -lib.LMM_ENOMEM:
            raise alloc_failure(gfp, order)
        raise AssertionError(f"C refused arguments the checks accept: {code}")  # pragma: no cover

    def bad_free_args(self, pfn, order, cpu):
        """Arguments cffi refused: raise what the reference raises, or return its reason code."""
        check_cpu(cpu, self.cpus)
        _as_int(pfn, "pfn")
        order = _as_int(order, "order")
        if not 0 <= order <= self.max_order:
            return -lib.LMM_EINVAL
        return -lib.LMM_ERANGE                      # a pfn beyond int64_t: outside every zone

    def free_error(self, code, pfn, order, cpu):
        if code == -lib.LMM_ECPU:
            check_cpu(cpu, self.cpus)
        reason = _REASONS[code]
        allocated = None
        if reason == "order-mismatch":
            info = ffi.new("int64_t[5]")      # the error path's own: threads share _Errors
            lib.lmm_pa_page_info(self.ptr, pfn, info)
            allocated = info[2]
        return invalid_free(reason, pfn, order, start_pfn=self.min_pfn, end_pfn=self.max_pfn,
                            allocated_order=allocated)


@synchronized
class PageAllocator:
    """Zones [(name, start_pfn, spanned_pages), ...] in zone-index order, per-CPU lists for
    `cpus` CPUs, orders 0..max_order, pageblocks of 2**pageblock_order pages; thp adds the
    pcp lists for pageblock_order (CONFIG_TRANSPARENT_HUGEPAGE)."""

    backend = "c"

    def __init__(self, zones, *, cpus=2, max_order=10, pageblock_order=9, thp=True,
                 watermark_boost_factor=15000):
        spec = _check_zones(zones)
        cpus = _args.as_int(cpus, "cpus")
        if not 1 <= cpus <= MAX_CPUS:
            raise ValueError(f"cpus must be in 1..{MAX_CPUS}, got {cpus}")
        max_order = _args.as_int(max_order, "max_order")
        if not 0 <= max_order <= _args.MAX_ORDER_LIMIT:
            raise ValueError(f"max_order must be in 0..{_args.MAX_ORDER_LIMIT}, got {max_order}")
        pageblock_order = _args.as_int(pageblock_order, "pageblock_order")
        if not 0 <= pageblock_order <= max_order:
            raise ValueError(f"pageblock_order must be in 0..max_order, got {pageblock_order}")
        watermark_boost_factor = _args.as_int(watermark_boost_factor, "watermark_boost_factor")
        if not 0 <= watermark_boost_factor < 2**31:
            raise ValueError("watermark_boost_factor must be >= 0")
        n = len(spec)
        kinds = ffi.new("int[]", [G.ZONE_NAMES.index(name) for name, _, _ in spec])
        starts = ffi.new("int64_t[]", [s for _, s, _ in spec])
        spanned = ffi.new("int64_t[]", [sp for _, _, sp in spec])
        raw = lib.lmm_pa_create(n, kinds, starts, spanned, cpus, max_order, pageblock_order,
                                bool(thp), watermark_boost_factor)
        if raw == ffi.NULL:
            raise MemoryError("cannot allocate the page allocator's metadata")
        self._ptr = ffi.gc(raw, lib.lmm_pa_destroy, size=lib.lmm_pa_metadata_bytes(raw))
        self.cpus = cpus
        self.max_order = max_order
        self.pageblock_order = pageblock_order
        self.nr_zones = n
        self.thp = bool(thp) and pageblock_order > 3
        self.nr_pcp_lists = lib.lmm_pa_stat(raw, lib.LMM_PA_NR_PCP_LISTS)
        self.watermark_boost_factor = watermark_boost_factor
        self._names = [name for name, _, _ in spec]
        spans = [(s, s + sp) for _, s, sp in spec if sp]
        self._min_pfn = min((a for a, _ in spans), default=0)
        self._max_pfn = max((b for _, b in spans), default=0)
        self.reclaim_hook = None
        self._scratch_and_fast_paths(self._min_pfn, self._max_pfn)

    def _scratch_and_fast_paths(self, min_pfn, max_pfn):
        """The scratch buffers of the calls, the error reporter and the bound fast paths over
        self._ptr (also how a snapshot's engine is taken over)."""
        self.lock = CoreLock(lib.lmm_pa_lock(self._ptr), self._ptr)
        self._orders = ffi.new("int64_t[]", self.max_order + 1)
        self._info = ffi.new("int64_t[5]")
        self._zl = ffi.new("int[]", 8)
        self._msg = ffi.new("char[]", 512)
        self._errors = _Errors(self._ptr, self.max_order, self.cpus, min_pfn, max_pfn)
        self._bind_fast_paths()

    def _bind_fast_paths(self):
        """Per-instance closures for the hot calls: no attribute lookups on the way to C.  They
        shadow the methods of the same names below, which document them.  They
        hold the C allocator (self._ptr) and a weak reference to self, so no reference cycle
        keeps an allocator alive after its last user lets go."""
        ptr, errors, me = _plain(self._ptr), self._errors, weakref.ref(self)

        # cffi takes a bool (and any object with __int__, numpy.bool_ included) as an int: an
        # argument that is not exactly an int is converted by _args.as_int first, which refuses
        # what the reference refuses (ArgumentTypeError) and accepts numpy integers
        _int, max_order, cpus = int, self.max_order, self.cpus

        # cffi converts ints faster than a pointer, and two arguments faster than four: for
        # CPU 0 (exactly the int 0, the default) the calls pass the C table's handle for this
        # allocator, the CPU and the order as one int, keys[order] (lmm_pa_alloc_k,
        # lmm_pa_free_k); a negative order indexes the second half of keys, an order field C
        # refuses as it refuses any order above max_order
        obits, cbits = lib.LMM_PA_KEY_ORDER_BITS, lib.LMM_PA_KEY_CPU_BITS
        base = lib.lmm_pa_handle(ptr) << (cbits + obits)
        keys = (tuple(base | o for o in range(max_order + 1)) +
                (base | ((1 << obits) - 1),) * (max_order + 1))
        _alloc_k, _free_k, zero = lib.lmm_pa_alloc_k, lib.lmm_pa_free_k, 0

        def alloc_pages(gfp=G.GFP_KERNEL, order=0, cpu=0):
            if cpu is zero and gfp.__class__ is _int and order.__class__ is _int:
                try:
                    pfn = _alloc_k(gfp, keys[order])
                except (IndexError, OverflowError):
                    pfn = -lib.LMM_EINVAL
            else:
                if gfp.__class__ is not _int or order.__class__ is not _int \
                        or cpu.__class__ is not _int:
                    gfp, order, cpu = check_alloc(gfp, order, cpu, max_order, cpus)
                try:
                    pfn = _alloc(ptr, gfp, order, cpu)
                except OverflowError:
                    pfn = -lib.LMM_EINVAL
            if pfn >= 0:
                return pfn
            pa = me()
            if pa is None:      # only this closure is left: no reclaim hook to call
                errors.alloc_error(pfn, gfp, order, cpu)
            return pa._alloc_failed(pfn, gfp, order, cpu)

        def free_pages(pfn, order=0, cpu=0):
            if cpu is zero and pfn.__class__ is _int and order.__class__ is _int:
                try:
                    err = _free_k(pfn, keys[order])
                except (IndexError, OverflowError):
                    err = errors.bad_free_args(pfn, order, cpu)
            else:
                if pfn.__class__ is not _int or order.__class__ is not _int \
                        or cpu.__class__ is not _int:
                    cpu = check_cpu(cpu, cpus)
                    pfn, order = _as_int(pfn, "pfn"), _as_int(order, "order")
                try:
                    err = _free(ptr, pfn, order, cpu)
                except OverflowError:
                    err = errors.bad_free_args(pfn, order, cpu)
            if err:
                raise errors.free_error(err, pfn, order, cpu)

        alloc_pages._owner = free_pages._owner = self._ptr     # keeps `ptr` valid
        self.alloc_pages = alloc_pages
        self.free_pages = free_pages

    # -- boot ---------------------------------------------------------------------------------
    def free_boot_range(self, start, end):
        """memblock_free_all() of pfns [start, end): largest aligned blocks, FPI_TO_TAIL."""
        start, end = check_boot_range(start, end)
        err = lib.lmm_pa_free_boot_range(self._ptr, start, end)
        if err == -lib.LMM_EFREE:
            raise already_released(start, end)
        if err:
            raise MemoryError("cannot record the released range")

    def set_zone_tunables(self, i, *, wmark_min=None, wmark_low=None, wmark_high=None,
                          wmark_promo=None, lowmem_reserve=None, pcp_high=None, pcp_batch=None,
                          pcp_high_min=None, pcp_high_max=None, pcp_free_high_batch=None):
        """Push boot code's numbers into zone i; only the values given change.
        pcp_free_high_batch: PCPF_FREE_HIGH_BATCH on every CPU (the kernel sets it when the CPU's
        data cache slice holds more than 3 * batch pages)."""
        i = check_zone_index(i, self.nr_zones)
        vals = _tunables(self.nr_zones, wmark_min, wmark_low, wmark_high, wmark_promo,
                         lowmem_reserve, pcp_high, pcp_batch, pcp_high_min, pcp_high_max,
                         pcp_free_high_batch)
        check_pcp_sizes(vals, self._zs(i, lib.LMM_ZS_BATCH), self._zs(i, lib.LMM_ZS_HIGH_MIN),
                        self._zs(i, lib.LMM_ZS_HIGH_MAX))
        packed = ffi.new("int64_t[9]", [-1 if v is None else int(v) for v in vals[:4] + vals[5:]])
        lr = ffi.NULL if vals[4] is None else ffi.new("int64_t[]", vals[4])
        if lib.lmm_pa_set_tunables(self._ptr, i, packed, lr):   # pragma: no cover - prevalidated
            raise ValueError("bad tunables")

    def clear_watermark_boost(self, i):
        """What kswapd does at the end of balance_pgdat(): drop the zone's watermark boost."""
        lib.lmm_pa_clear_boost(self._ptr, check_zone_index(i, self.nr_zones))

    # -- hot paths ------------------------------------------------------------------------------
    def alloc_pages(self, gfp=G.GFP_KERNEL, order=0, cpu=0):
        """pfn of 2**order pages; OutOfMemory when no zone of the zonelist may serve."""
        return self.alloc_pages(gfp, order, cpu)    # the instance's fast path (_bind_fast_paths)

    def _alloc_failed(self, code, gfp, order, cpu):
        if code != -lib.LMM_ENOMEM:
            self._errors.alloc_error(code, gfp, order, cpu)
        if self.reclaim_hook is not None and gfp & _GFP_DIRECT_RECLAIM:
            with self.lock:                         # reclaim, then retry, as one step
                for _ in range(16):                 # MAX_RECLAIM_RETRIES
                    if not self.reclaim_hook(self, gfp, order):
                        break
                    pfn = lib.lmm_pa_alloc_slowpath(self._ptr, gfp, order, cpu)
                    if pfn >= 0:
                        return pfn
        raise alloc_failure(gfp, order)

    def free_pages(self, pfn, order=0, cpu=0):
        """Free a block from alloc_pages; InvalidFree (state unchanged) when it is not one."""
        return self.free_pages(pfn, order, cpu)     # the instance's fast path

    def alloc_pages_bulk(self, gfp=G.GFP_KERNEL, count=1, cpu=0):
        """alloc_pages_bulk(): up to count order-0 pages as an int64 array, one C call."""
        if gfp.__class__ is not int or count.__class__ is not int or cpu.__class__ is not int:
            # cffi takes a bool, numpy.bool_ as an int: convert (or refuse) as the reference
            gfp, _, cpu = check_alloc(gfp, 0, cpu, self.max_order, self.cpus)
            count = _args.check_count(count)
        try:
            if count > _args.BULK_CLAMP:    # size the output by what can be allocated
                count = min(_args.check_count(count), _args.free_pages_of(self))
            out = _empty(count, _int64_t)
            n = _alloc_bulk(self._ptr, gfp, count, cpu, _from_buffer("int64_t[]", out))
        except (TypeError, OverflowError, ValueError):
            check_alloc(gfp, 0, cpu, self.max_order, self.cpus)
            _args.check_count(count)
            raise
        if n < 0:
            check_alloc(gfp, 0, cpu, self.max_order, self.cpus)
            _args.check_count(count)
            raise AssertionError("unreachable")     # pragma: no cover
        return out if n == count else out[:n]

    def free_pages_bulk(self, pfns, cpu=0):
        """Free order-0 pages (an int64 array or any sequence of pfns); all or nothing."""
        if (type(pfns) is not np.ndarray or pfns.dtype != _int64_t or pfns.ndim != 1
                or not pfns.flags.c_contiguous):
            pfns = _args.pfn_array(pfns)
        if cpu.__class__ is not int:                # cffi takes a bool, numpy.bool_ as an int
            cpu = check_cpu(cpu, self.cpus)
        try:
            err = _free_bulk(self._ptr, _from_buffer("int64_t[]", pfns), len(pfns), cpu)
        except (TypeError, OverflowError):
            check_cpu(cpu, self.cpus)
            raise AssertionError("unreachable")     # pragma: no cover
        if err:
            if err == -lib.LMM_ECPU:
                check_cpu(cpu, self.cpus)
            pfn = int(pfns[lib.lmm_pa_error_index(self._ptr)])
            raise self._errors.free_error(err, pfn, 0, cpu)

    def set_frame_owners(self, flags, mask):
        """Register the fault path's per-frame flags (a uint32 numpy array, one entry per
        frame): free_pages and free_pages_bulk then refuse (InvalidFree, reason "mapped") a
        block whose head frame has a bit of mask set.  The array is kept alive here."""
        flags = np.asarray(flags)
        if flags.dtype != np.uint32 or flags.ndim != 1 or not flags.flags.c_contiguous:
            raise ValueError("flags must be a contiguous 1-D uint32 array")
        mask = _args.as_int(mask, "mask")
        self._frame_owners = (flags, _from_buffer("uint32_t[]", flags))
        lib.lmm_pa_set_frame_owners(self._ptr, self._frame_owners[1], len(flags), mask)

    def drain_pages(self, cpu=None):
        """drain_local_pages(cpu) / drain_all_pages() when cpu is None."""
        cpu = -1 if cpu is None else check_cpu(cpu, self.cpus)
        lib.lmm_pa_drain(self._ptr, cpu)

    # -- compaction support ---------------------------------------------------------------------
    def isolate_free_page(self, pfn, order):
        """__isolate_free_page() + post_alloc_hook() for compaction's free scanner: the free
        block heading at pfn (of exactly this order) leaves the free lists if the order-0 min
        watermark (no boost) + 2**order holds, pageblocks of at least half a pageblock are
        retagged MOVABLE, and it becomes an allocated non-compound MOVABLE block.  Returns
        2**order, or 0 when the watermark refuses (nothing changed)."""
        pfn, order = check_isolate_args(pfn, order, self.max_order)
        r = lib.lmm_pa_isolate_free_page(self._ptr, pfn, order)
        if r == -lib.LMM_ERANGE:
            raise ValueError(f"pfn {pfn} is in no zone")
        if r < 0:
            raise not_a_free_block(pfn, order)
        return r

    def split_page(self, pfn, order):
        """split_page(): an allocated non-compound block of this order becomes 2**order
        allocated order-0 pages, each freed on its own with free_pages(pfn, 0)."""
        pfn, order = _as_int(pfn, "pfn"), _as_int(order, "order")
        try:
            err = lib.lmm_pa_split_page(self._ptr, pfn, order)
        except OverflowError:
            err = -lib.LMM_EINVAL
        if err == -lib.LMM_ENOTHEAD and self.page_info(pfn)["state"] == "allocated" \
                and self.page_info(pfn)["order"] == order:
            raise compound_split(pfn, order)
        if err:
            raise self._errors.free_error(err, pfn, order, 0)

    def free_blocks(self, i, start, end):
        """[(pfn, order)] of the free blocks heading in [start, end) of zone i, pfn order."""
        i = check_zone_index(i, self.nr_zones)
        start, end = check_pfn_range(start, end)
        cap = 64
        while True:
            out = np.empty(2 * cap, dtype=np.int64)
            n = lib.lmm_pa_free_blocks(self._ptr, i, start, end,
                                       ffi.from_buffer("int64_t[]", out), cap)
            if n <= cap:
                return [(int(out[2 * k]), int(out[2 * k + 1])) for k in range(n)]
            cap = n

    def alloc_pages_slowpath(self, gfp=G.GFP_KERNEL, order=0, cpu=0):
        """get_page_from_freelist() with the slow path's alloc_flags, as the retries after
        direct compaction or reclaim do: a pfn or None, no reclaim hook."""
        gfp, order, cpu = check_alloc(gfp, order, cpu, self.max_order, self.cpus)
        pfn = lib.lmm_pa_alloc_slowpath(self._ptr, gfp, order, cpu)
        return None if pfn < 0 else pfn

    # -- inspection -----------------------------------------------------------------------------
    def _zs(self, i, what):
        return lib.lmm_pa_zone_stat(self._ptr, check_zone_index(i, self.nr_zones), what)

    def zone_name(self, i):
        return self._names[check_zone_index(i, self.nr_zones)]

    def zone_start_pfn(self, i):
        return self._zs(i, lib.LMM_ZS_START)

    def zone_spanned(self, i):
        return self._zs(i, lib.LMM_ZS_SPANNED)

    def managed_pages(self, i):
        return self._zs(i, lib.LMM_ZS_MANAGED)

    def nr_free_pages(self, i):
        return self._zs(i, lib.LMM_ZS_FREE)

    def nr_free(self, i, mt=None):
        i = check_zone_index(i, self.nr_zones)
        lib.lmm_pa_nr_free(self._ptr, i, -1 if mt is None else _check_mt(mt), self._orders)
        return list(self._orders)

    def _list(self, i, cpu, a, b):
        n = lib.lmm_pa_list(self._ptr, i, cpu, a, b, ffi.NULL, 0)
        out = np.empty(n, dtype=np.int64)
        lib.lmm_pa_list(self._ptr, i, cpu, a, b, ffi.from_buffer("int64_t[]", out), n)
        return out.tolist()

    def free_list(self, i, order, mt):
        """pfns on one buddy free list, head to tail."""
        i = check_zone_index(i, self.nr_zones)
        order = _args.check_alloc_order(order, self.max_order)
        return self._list(i, -1, order, _check_mt(mt))

    def pcp_list(self, i, cpu, pindex):
        """pfns on one pcp list (index MIGRATE_PCPTYPES*order+mt; 12/13 THP), head to tail."""
        i = check_zone_index(i, self.nr_zones)
        pindex = _args.as_int(pindex, "pindex")
        if not 0 <= pindex < self.nr_pcp_lists:
            raise ValueError(f"pindex must be in 0..{self.nr_pcp_lists - 1}")
        return self._list(i, check_cpu(cpu, self.cpus), pindex, 0)

    def _ps(self, i, cpu, what):
        return lib.lmm_pa_pcp_stat(self._ptr, check_zone_index(i, self.nr_zones),
                                   check_cpu(cpu, self.cpus), what)

    def pcp_count(self, i, cpu):
        return self._ps(i, cpu, lib.LMM_PS_COUNT)

    def pcp_high(self, i, cpu):
        return self._ps(i, cpu, lib.LMM_PS_HIGH)

    def pcp_batch(self, i):
        return self._zs(i, lib.LMM_ZS_BATCH)

    def pcp_state(self, i, cpu):
        """count, high, high_min, high_max, batch, free_count, alloc_factor, flags of one pcp."""
        return {"count": self._ps(i, cpu, lib.LMM_PS_COUNT),
                "high": self._ps(i, cpu, lib.LMM_PS_HIGH),
                "high_min": self._zs(i, lib.LMM_ZS_HIGH_MIN),
                "high_max": self._zs(i, lib.LMM_ZS_HIGH_MAX),
                "batch": self._zs(i, lib.LMM_ZS_BATCH),
                "free_count": self._ps(i, cpu, lib.LMM_PS_FREE_COUNT),
                "alloc_factor": self._ps(i, cpu, lib.LMM_PS_ALLOC_FACTOR),
                "flags": self._ps(i, cpu, lib.LMM_PS_FLAGS)}

    def pageblock_counts(self, i):
        out = ffi.new("int64_t[]", G.MIGRATE_TYPES)
        lib.lmm_pa_pageblock_counts(self._ptr, check_zone_index(i, self.nr_zones), out)
        return list(out)

    def pageblock_migratetype(self, pfn):
        pfn = _as_int(pfn, "pfn")
        mt = lib.lmm_pa_pageblock_mt(self._ptr, pfn) if -(2**63) <= pfn < 2**63 else -1
        if mt < 0:
            raise ValueError(f"pfn {pfn} is in no zone")
        return mt

    def nr_free_highatomic(self, i):
        return self._zs(i, lib.LMM_ZS_FREE_HIGHATOMIC)

    def nr_reserved_highatomic(self, i):
        return self._zs(i, lib.LMM_ZS_RESERVED_HIGHATOMIC)

    def watermark_boost(self, i):
        return self._zs(i, lib.LMM_ZS_BOOST)

    def watermarks(self, i):
        boost = self.watermark_boost(i)
        return tuple(self._zs(i, lib.LMM_ZS_WMARK_MIN + k) + boost for k in range(4))

    def zone_balance_info(self, i, highest_zoneidx):
        """What kswapd's balance check reads of zone i, in one call: (managed pages, free
        pages, free highatomic pages, high watermark + boost, lowmem_reserve[highest_zoneidx]
        (0 past the last zone))."""
        i = check_zone_index(i, self.nr_zones)
        ptr, zs = self._ptr, lib.lmm_pa_zone_stat
        reserve = (lib.lmm_pa_lowmem_reserve(ptr, i, highest_zoneidx)
                   if 0 <= highest_zoneidx < self.nr_zones else 0)
        return (zs(ptr, i, lib.LMM_ZS_MANAGED), zs(ptr, i, lib.LMM_ZS_FREE),
                zs(ptr, i, lib.LMM_ZS_FREE_HIGHATOMIC),
                zs(ptr, i, lib.LMM_ZS_WMARK_HIGH) + zs(ptr, i, lib.LMM_ZS_BOOST), reserve)

    def lowmem_reserve(self, i):
        i = check_zone_index(i, self.nr_zones)
        return [lib.lmm_pa_lowmem_reserve(self._ptr, i, j) for j in range(self.nr_zones)]

    def zone_flags(self, i):
        """{'below_high': ZONE_BELOW_HIGH, 'boosted_watermark': ZONE_BOOSTED_WATERMARK}."""
        return {"below_high": bool(self._zs(i, lib.LMM_ZS_BELOW_HIGH)),
                "boosted_watermark": bool(self._zs(i, lib.LMM_ZS_BOOSTED))}

    @property
    def zonelist(self):
        """Zone indices of the node's zonelist (managed zones, highest first)."""
        return [i for i in reversed(range(self.nr_zones)) if self.managed_pages(i)]

    def zonelist_for(self, gfp):
        """Zone indices an allocation with this gfp may use, in the order it tries them."""
        gfp, _, _ = check_alloc(gfp, 0, 0, self.max_order, self.cpus)
        n = lib.lmm_pa_zonelist(self._ptr, gfp, self._zl)
        return [self._zl[k] for k in range(n)]

    def gfp_zone(self, gfp):
        gfp, _, _ = check_alloc(gfp, 0, 0, self.max_order, self.cpus)
        return lib.lmm_pa_gfp_zone(self._ptr, gfp)

    def gfp_migratetype(self, gfp):
        gfp, _, _ = check_alloc(gfp, 0, 0, self.max_order, self.cpus)
        return G.gfp_migratetype(gfp, self.mobility_disabled)

    @property
    def mobility_disabled(self):
        return bool(lib.lmm_pa_stat(self._ptr, lib.LMM_PA_MOBILITY_DISABLED))

    @property
    def pgfree(self):
        return lib.lmm_pa_stat(self._ptr, lib.LMM_PA_PGFREE)

    @property
    def kswapd_wakeups(self):
        return lib.lmm_pa_stat(self._ptr, lib.LMM_PA_KSWAPD_WAKEUPS)

    def vmstat(self):
        out = {f"pgalloc_{name.lower()}": self._zs(i, lib.LMM_ZS_PGALLOC)
               for i, name in enumerate(self._names)}
        out["pgfree"] = self.pgfree
        out["nr_free_pages"] = sum(self._zs(i, lib.LMM_ZS_FREE) for i in range(self.nr_zones))
        out["nr_free_pages_blocks"] = sum(self._zs(i, lib.LMM_ZS_FREE_BLOCKS)
                                          for i in range(self.nr_zones))
        return out

    def page_info(self, pfn):
        pfn = _as_int(pfn, "pfn")
        if not -(2**63) <= pfn < 2**63:
            pfn = -1                                # beyond int64_t: absent, as pfn -1 is
        lib.lmm_pa_page_info(self._ptr, pfn, self._info)
        st, zone, order, mt, compound = (self._info[k] for k in range(5))
        return {"zone": None if zone < 0 else zone, "state": _STATES[st],
                "order": None if order < 0 else order, "migratetype": None if mt < 0 else mt,
                "compound": bool(compound)}

    def check(self):
        """Walk every free list, pcp list and page; InvariantError on a broken invariant."""
        if lib.lmm_pa_check(self._ptr, self._msg, len(self._msg)):
            raise InvariantError(ffi.string(self._msg).decode())

    @property
    def metadata_bytes(self):
        return lib.lmm_pa_metadata_bytes(self._ptr)

    # -- C loops for benchmarks -----------------------------------------------------------------
    def bench_pairs(self, gfp, pairs, order=0, cpu=0):
        """alloc+free `pairs` times wholly in C; returns the sum of the pfns handed out."""
        gfp, order, cpu = check_alloc(gfp, order, cpu, self.max_order, self.cpus)
        r = lib.lmm_pa_bench_pairs(self._ptr, gfp, order, cpu, pairs)
        if r < 0:
            raise alloc_failure(gfp, order)
        return r

    def bench_bulk(self, gfp, rounds, batch, cpu=0):
        """alloc_pages_bulk(batch) then free_pages_bulk, `rounds` times, wholly in C."""
        gfp, _, cpu = check_alloc(gfp, 0, cpu, self.max_order, self.cpus)
        scratch = np.empty(batch, dtype=np.int64)
        r = lib.lmm_pa_bench_bulk(self._ptr, gfp, cpu, rounds, batch,
                                  ffi.from_buffer("int64_t[]", scratch))
        if r < 0:
            raise alloc_failure(gfp, 0)
        return r

    def __repr__(self):
        zs = ", ".join(f"{n} {self.zone_start_pfn(i)}+{self.zone_spanned(i)}"
                       for i, n in enumerate(self._names))
        return f"<PageAllocator {zs}>"
