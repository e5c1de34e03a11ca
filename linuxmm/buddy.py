"""BuddyAllocator: the C core's buddy allocator behind a Python class.

Policy is Linux 6.x's (mm/page_alloc.c): see csrc/buddy.c and the README.  The reference twin is
``linuxmm.reference.BuddyAllocator``; both give the same results for the same calls.

Safe to share between threads: every C entry point takes the allocator's lock (`b.lock`, a
CoreLock), and the methods that make several calls hold it throughout (linuxmm.sync).
"""
import numpy as np

from . import _args
from ._ffi import FREE_REASONS, ffi, lib
from .corelock import CoreLock
from .errors import InvariantError, OutOfMemory, invalid_free
from .sync import synchronized

_REASONS = FREE_REASONS

MIGRATE_MOVABLE = lib.LMM_MIGRATE_MOVABLE

# the bulk calls' fast paths: an exact int, an int64 ndarray, cffi's array type parsed once
_int, _ndarray, _empty, _int64, _INT64 = int, np.ndarray, np.empty, np.int64, np.dtype(np.int64)
_from_buffer, _INT64_ARRAY = ffi.from_buffer, ffi.typeof("int64_t[]")


@synchronized
class BuddyAllocator:
    """Page frames [start_pfn, start_pfn + nr_pages) managed with free lists of orders 0..max_order."""

    backend = "c"

    def __init__(self, nr_pages, *, start_pfn=0, max_order=10):
        nr_pages, start_pfn, max_order = _args.buddy_geometry(nr_pages, start_pfn, max_order)
        raw = lib.lmm_buddy_create(start_pfn, nr_pages, max_order)
        if raw == ffi.NULL:
            raise MemoryError(f"cannot allocate metadata for {nr_pages} pages")
        self._b = ffi.gc(raw, lib.lmm_buddy_destroy, size=lib.lmm_buddy_metadata_bytes(raw))
        self.lock = CoreLock(lib.lmm_buddy_lock(raw), self._b)
        self.start_pfn = start_pfn
        self.nr_pages = nr_pages
        self.max_order = max_order
        self._orders = ffi.new("int64_t[]", max_order + 1)
        self._msg = ffi.new("char[]", 256)
        lib.lmm_buddy_free_range(raw, start_pfn, start_pfn + nr_pages)
        self._errors = _Errors(self._b, start_pfn, nr_pages, max_order)
        self._bind_fast_paths(self._b)

    def _bind_fast_paths(self, raw):
        """alloc/free as closures over the (garbage-collected) C pointer, which they keep alive:
        no attribute lookups on the hot path.  They shadow the documented methods below.  They
        hold no reference to self (an _Errors builds their exceptions), so the allocator is in
        no reference cycle: its memory goes back at the last `del`, without the cycle collector."""
        errors = self._errors
        alloc_error, free_error, bad_args = errors.alloc_error, errors.free_error, errors.bad_free_args
        # cffi converts an int argument faster than a pointer, and makes a one-argument call
        # faster than a longer one: the C table's handle for this allocator, and for alloc the
        # handle and the order in one int, keys[order] (lmm_buddy_alloc_ho); a negative order
        # indexes the second half of keys, which C refuses like any order above max_order
        owner, handle = raw, lib.lmm_buddy_handle(raw)
        bits = lib.LMM_HANDLE_ORDER_BITS
        n = self.max_order + 1
        keys = (tuple(handle << bits | o for o in range(n)) +
                (handle << bits | ((1 << bits) - 1),) * n)
        _alloc, _free = lib.lmm_buddy_alloc_ho, lib.lmm_buddy_free_h

        # cffi takes a bool (and any object with __int__, numpy.bool_ included) as an int: an
        # argument that is not exactly an int is converted by _args.as_int first, which refuses
        # what the reference refuses (ArgumentTypeError) and accepts numpy integers
        as_int, _int = _args.as_int, int

        def alloc(order=0):
            if order.__class__ is not _int:
                order = as_int(order, "order")
            try:
                pfn = _alloc(keys[order])
            except IndexError:
                pfn = -lib.LMM_EINVAL
            if pfn < 0:
                raise alloc_error(pfn, order)
            return pfn

        def free(pfn, order=0):
            if pfn.__class__ is not _int or order.__class__ is not _int:
                pfn, order = as_int(pfn, "pfn"), as_int(order, "order")
            try:
                err = _free(handle, pfn, order)
            except OverflowError:
                err = bad_args(pfn, order)
            if err:
                raise free_error(err, pfn, order)

        alloc.__doc__, free.__doc__ = BuddyAllocator.alloc.__doc__, BuddyAllocator.free.__doc__
        alloc._owner = free._owner = owner  # the garbage-collected pointer lives as long as they do
        self.alloc, self.free = alloc, free

    # -- single blocks ------------------------------------------------------------------------
    def alloc(self, order=0):
        """pfn of a free, naturally aligned block of 2**order pages; OutOfMemory when none fits."""
        return self.alloc(order)            # the instance's fast path (_bind_fast_paths)

    def free(self, pfn, order=0):
        """Return a block; InvalidFree (and no change) unless it is an allocated block of that order."""
        return self.free(pfn, order)

    # -- bulk -----------------------------------------------------------------------------------
    def alloc_bulk(self, count, order=0):
        """Up to count blocks as an int64 array (shorter when memory runs out), in one C call."""
        if count.__class__ is not _int or order.__class__ is not _int or count < 0 or \
                not 0 <= order <= self.max_order:      # else what the checks return unchanged
            count = _args.check_count(count)
            order = _args.check_alloc_order(order, self.max_order)
        if count > _args.BULK_CLAMP:    # the output holds what can be allocated: never huge
            count = min(count, lib.lmm_buddy_free_pages(self._b) >> order)
        out = _empty(count, _int64)
        n = lib.lmm_buddy_alloc_bulk(self._b, _from_buffer(_INT64_ARRAY, out), count, order)
        return out if n == count else out[:n]

    def free_bulk(self, pfns, order=0):
        """Free every block of an array or buffer of pfns; all or nothing."""
        if pfns.__class__ is _ndarray and pfns.dtype is _INT64 and pfns.flags.c_contiguous:
            arr = pfns                  # what _args.pfn_array() returns for it, as one row
        else:
            arr = _args.pfn_array(pfns)
        if order.__class__ is not _int:
            order = _args.as_int(order, "order")
        if not 0 <= order <= self.max_order:
            raise invalid_free("order", None, order)
        err = lib.lmm_buddy_free_bulk(self._b, _from_buffer(_INT64_ARRAY, arr), arr.size, order)
        if err:
            if err == -lib.LMM_EINVAL:
                raise invalid_free("order", None, order)
            raise self._free_error(err, int(arr.reshape(-1)[lib.lmm_buddy_error_index(self._b)]),
                                   order)

    # -- state ----------------------------------------------------------------------------------
    @property
    def nr_free(self):
        """Free blocks per order, orders 0..max_order."""
        lib.lmm_buddy_nr_free(self._b, self._orders, -1)
        return list(self._orders)

    @property
    def free_pages(self):
        return lib.lmm_buddy_free_pages(self._b)

    def free_list(self, order, mt=MIGRATE_MOVABLE):
        """pfns of one free list from head to tail."""
        order = _args.check_alloc_order(order, self.max_order)
        n = lib.lmm_buddy_free_list(self._b, order, mt, ffi.NULL, 0)
        out = np.empty(n, dtype=np.int64)
        lib.lmm_buddy_free_list(self._b, order, mt, ffi.from_buffer("int64_t[]", out), n)
        return out.tolist()

    def check(self):
        """Walk every free list and every page; InvariantError on the first broken invariant."""
        if lib.lmm_buddy_check(self._b, self._msg, len(self._msg)):
            raise InvariantError(ffi.string(self._msg).decode())

    @property
    def metadata_bytes(self):
        return lib.lmm_buddy_metadata_bytes(self._b)

    # -- C loops for benchmarks -----------------------------------------------------------------
    def bench_pairs(self, pairs, order=0):
        """alloc+free `pairs` times wholly in C; returns the sum of the pfns handed out."""
        r = lib.lmm_buddy_bench_pairs(self._b, pairs, order)
        if r < 0:
            raise self._alloc_error(r, order)
        return r

    def bench_batches(self, rounds, batch):
        """alloc `batch` order-0 pages then free them, `rounds` times, wholly in C."""
        scratch = np.empty(batch, dtype=np.int64)
        r = lib.lmm_buddy_bench_batches(self._b, rounds, batch, ffi.from_buffer("int64_t[]", scratch))
        if r < 0:
            raise self._alloc_error(r, 0)
        return r

    # -- errors ---------------------------------------------------------------------------------
    def _alloc_error(self, code, order):
        return self._errors.alloc_error(code, order)

    def _free_error(self, code, pfn, order):
        return self._errors.free_error(code, pfn, order)

    def __repr__(self):
        return (f"<BuddyAllocator pfns {self.start_pfn}..{self.start_pfn + self.nr_pages} "
                f"max_order {self.max_order} free {self.free_pages}>")


class _Errors:
    """Turns a failed C call into the exception the reference model raises (what that needs,
    not the BuddyAllocator: the fast-path closures then create no reference cycle)."""

    def __init__(self, b, start_pfn, nr_pages, max_order):
        self._b, self.start_pfn, self.nr_pages, self.max_order = b, start_pfn, nr_pages, max_order

    def alloc_error(self, code, order):
        if code == -lib.LMM_ENOMEM:
            return OutOfMemory(f"no free block of order {order} or above")
        _args.check_alloc_order(order, self.max_order)      # raises the TypeError/ValueError
        return ValueError(f"bad order {order!r}")           # pragma: no cover

    def bad_free_args(self, pfn, order):
        """Arguments cffi refused: raise what the reference raises, or name the reason."""
        pfn = _args.as_int(pfn, "pfn")
        order = _args.as_int(order, "order")
        if not 0 <= order <= self.max_order:
            return -lib.LMM_EINVAL
        return -lib.LMM_ERANGE

    def free_error(self, code, pfn, order):
        reason = _REASONS[code]
        allocated = None
        if reason == "order-mismatch":
            o = ffi.new("int *")
            lib.lmm_buddy_page_state(self._b, pfn, o)
            allocated = o[0]
        return invalid_free(reason, pfn, order, start_pfn=self.start_pfn,
                            end_pfn=self.start_pfn + self.nr_pages, allocated_order=allocated)
