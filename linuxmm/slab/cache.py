"""KmemCache and SlabAllocator backed by the C core (csrc/slab.c).

Hot paths are one cffi call each: cache.alloc()/free() (kmem_cache_alloc/free),
alloc_bulk()/free_bulk() on uint64 numpy arrays, kmalloc()/kfree().  Caches with a ctor or
with SLAB_POISON / SLAB_RED_ZONE take a Python slow path around the same calls.  The twin is
linuxmm.reference.slab.
"""
import weakref

import numpy as np

from .. import _args
from .._ffi import ffi, lib
from ..buddy import BuddyAllocator
from ..errors import ArgumentTypeError, InvariantError
from ..sync import synchronized
from . import flags as F
from . import kmalloc as K
from . import common as C
from . import debug as D
from .common import (STATS, KmemCacheCommon, SlabAllocatorCommon, SlowPathMixin, addr_array,
                     alloc_error, check_addr, check_gfp, direct_map, kmalloc_error)

_kmalloc = lib.lmm_slab_kmalloc
_kfree = lib.lmm_slab_kfree
_MIN_ADDR = lib.LMM_SLAB_MIN_ADDR
_DEAD = lib.LMM_SLAB_DEAD_CACHE
assert _MIN_ADDR == 4096

for _name in ("ENOMEM", "EINVAL"):
    assert getattr(lib, "LMM_" + _name) == getattr(C, _name)
for _name in ("ENOTSLAB", "EWRONGCACHE", "EINTERIOR", "EFREE", "EDUP", "EDEBUG", "EDEAD",
              "EBUSY", "ETOOBIG", "ENOCACHE"):
    assert getattr(lib, "LMM_SLAB_" + _name) == getattr(C, _name)


def _page_source(src):
    """(alloc callback, free callback, context) for the C core."""
    if isinstance(src, BuddyAllocator):
        return (ffi.addressof(lib, "lmm_slab_buddy_alloc_page"),
                ffi.addressof(lib, "lmm_slab_buddy_free_page"), src._b)
    ptr = getattr(src, "_ptr", None)
    if ptr is not None and hasattr(lib, "lmm_pa_alloc_page_cb"):
        return (ffi.addressof(lib, "lmm_pa_alloc_page_cb"),
                ffi.addressof(lib, "lmm_pa_free_page_cb"), ptr)
    raise ArgumentTypeError("page_source must be a linuxmm BuddyAllocator or PageAllocator "
                            "(C backend)")


@synchronized
class KmemCache(KmemCacheCommon):
    """One SLUB cache.  Create it with SlabAllocator.kmem_cache_create()."""

    backend = "c"

    def __init__(self, allocator, name, geometry, ctor, cid):
        self._pages = allocator.page_source     # the C core's page source outlives the cache
        self._setup(allocator, name, geometry, geometry.flags, ctor, cid)
        self._bind(allocator, cid)

    def _bind(self, allocator, cid):
        """The core handles, the stats buffer and the fast paths of cache id cid (also how a
        snapshot's cache is taken over)."""
        self._sys = allocator._sys
        self._id = cid
        self._stats_buf = ffi.new("int64_t[12]")
        self._fast = _fast_paths(self, self._sys, cid)
        if type(self) is KmemCache:         # no Python work around the core call: bind them
            self.alloc, self.free = self._fast[:2]

    # -- hot paths ------------------------------------------------------------------------------
    def alloc(self, gfp=F.GFP_KERNEL):
        """kmem_cache_alloc(): the address of a free object; OutOfMemory when no page is left."""
        return self._fast[0](gfp)

    def free(self, addr):
        """kmem_cache_free(); InvalidFree (nothing changed) unless addr is an allocated object here."""
        return self._fast[1](addr)

    def alloc_bulk(self, count, gfp=F.GFP_KERNEL):
        """kmem_cache_alloc_bulk(): `count` objects as a uint64 array, all or nothing."""
        count = _args.check_count(count)
        gfp = check_gfp(gfp)
        if self.alive and self._bulk_impossible(count):
            raise self._alloc_error(lib.LMM_ENOMEM, gfp)
        out = np.empty(count, dtype=np.uint64)
        n = lib.lmm_slab_alloc_bulk(self._sys, self._id, gfp, count, ffi.from_buffer("uint64_t[]", out))
        if n < 0:
            if C.may_reclaim(self.allocator, -n, gfp):
                return self._alloc_bulk_with_reclaim(count, gfp)
            raise self._alloc_error(-n, gfp)
        return out

    def free_bulk(self, addrs):
        """kmem_cache_free_bulk(): every address must be an allocated object of this cache; all
        or nothing."""
        arr = addr_array(addrs)
        err = lib.lmm_slab_free_bulk(self._sys, self._id, ffi.from_buffer("uint64_t[]", arr), len(arr))
        if err:
            bad = int(arr[lib.lmm_slab_error_index(self._sys)]) if -err != lib.LMM_SLAB_EDEAD else 0
            raise self.allocator._free_error(-err, bad, self)

    # -- core primitives for the shared code -----------------------------------------------------
    def _alloc_error(self, code, gfp):
        return alloc_error(self, code, gfp)

    def _core_stats(self):
        lib.lmm_slab_cache_stats(self._sys, self._id, self._stats_buf)
        return dict(zip(STATS, self._stats_buf))

    def _core_list(self, which):
        n = lib.lmm_slab_list(self._sys, self._id, which, ffi.NULL, 0)
        out = np.empty(n, dtype=np.int64)
        lib.lmm_slab_list(self._sys, self._id, which, ffi.from_buffer("int64_t[]", out), n)
        return out.tolist()

    def _core_freelist(self, pfn):
        n = lib.lmm_slab_freelist(self._sys, pfn, ffi.NULL, 0)
        out = np.empty(max(n, 0), dtype=np.int64)
        lib.lmm_slab_freelist(self._sys, pfn, ffi.from_buffer("int64_t[]", out), len(out))
        return out.tolist()

    def _core_inuse_objects(self):
        n = lib.lmm_slab_inuse_objects(self._sys, self._id, ffi.NULL, 0)
        out = np.empty(n, dtype=np.uint64)
        lib.lmm_slab_inuse_objects(self._sys, self._id, ffi.from_buffer("uint64_t[]", out), n)
        return [int(a) for a in out]

    def _core_shrink(self):
        return lib.lmm_slab_shrink(self._sys, self._id)

    def _core_release(self):
        err = lib.lmm_slab_cache_release(self._sys, self._id)
        if err:  # pragma: no cover - destroy() checked first
            raise InvariantError(f"{self.name}: release failed ({err})")
        # the core reuses the id: this handle (and its fast paths) now name the dead cache
        self.allocator._ids[self._id] = None
        self._id = _DEAD
        self._fast[2]()

    # -- benchmarks -----------------------------------------------------------------------------
    def bench_pairs(self, pairs):
        """alloc+free `pairs` times wholly in C; returns a checksum of the addresses."""
        r = lib.lmm_slab_bench_pairs(self._sys, self._id, pairs)
        if r < 0:
            raise self._alloc_error(-r, F.GFP_KERNEL)
        return r

    def bench_bulk(self, rounds, batch):
        """alloc_bulk(batch) then free_bulk, `rounds` times, wholly in C."""
        scratch = np.empty(batch, dtype=np.uint64)
        r = lib.lmm_slab_bench_bulk(self._sys, self._id, rounds, batch,
                                    ffi.from_buffer("uint64_t[]", scratch))
        if r < 0:
            raise self._alloc_error(-r, F.GFP_KERNEL)
        return r


def _address(result):
    """A core allocation's result as an address, None for an error code."""
    return result if result >= _MIN_ADDR else None


def _fast_paths(cache_obj, sys, cid, GFP_KERNEL=F.GFP_KERNEL, _int=int):
    """alloc() and free() as closures over the core handles, without a bound-method call and
    attribute or global loads per call: a plain cache binds them as its alloc/free, a cache
    with Python work around the core call (SlowKmemCache) calls them from its methods."""
    # cffi converts ints faster than a pointer, and makes a call with fewer arguments faster:
    # the C table's handle for the slab system and the cache id in one int, key; an alloc with
    # the default gfp (this very GFP_KERNEL object) is a one-argument call
    c_alloc0, c_alloc, c_free = lib.lmm_slab_alloc_k0, lib.lmm_slab_alloc_k, lib.lmm_slab_free_k
    owner, base = sys, lib.lmm_slab_handle(sys) << 32
    key = base | cid
    # the closures are the cache's own attributes: they hold it weakly (no reference cycle);
    # only their error paths need it
    cache = weakref.proxy(cache_obj)

    def kill():
        nonlocal cid, key
        cid = _DEAD
        key = base | _DEAD

    def alloc(gfp=GFP_KERNEL):
        try:
            addr = c_alloc0(key) if gfp is GFP_KERNEL else c_alloc(key, gfp)
        except (TypeError, OverflowError):
            check_gfp(gfp)
            raise
        if addr < 4096:                                 # LMM_SLAB_MIN_ADDR: an error code
            got = C.retry_after_reclaim(cache.allocator, addr, gfp, cache.order,
                                        lambda: _address(c_alloc(key, gfp)))
            if got is None:
                raise cache._alloc_error(addr, gfp)
            return got
        return addr

    def free(addr):
        try:
            if addr.__class__ is not _int:              # cffi takes a bool, numpy.bool_ as an int
                addr = check_addr(addr)
            err = c_free(key, addr)
        except (TypeError, OverflowError):
            err = -lib.LMM_SLAB_ENOTSLAB if check_addr(addr) is not None else 0
        if err:
            raise cache.allocator._free_error(-err, addr, cache)

    alloc.__doc__ = KmemCache.alloc.__doc__
    free.__doc__ = KmemCache.free.__doc__
    alloc._owner = free._owner = owner      # keeps `sys` valid as long as they live
    return alloc, free, kill


@synchronized
class SlowKmemCache(SlowPathMixin, KmemCache):
    """A cache with a ctor or object memory (SLAB_POISON / SLAB_RED_ZONE)."""


@synchronized
class SlabAllocator(SlabAllocatorCommon):
    """The slab layer over a page source (a BuddyAllocator, or the PageAllocator engine).

    boot=True creates kmem_cache_node, kmem_cache and the kmalloc caches as kmem_cache_init()
    does (dma=False leaves out dma-kmalloc-*).  Objects are named by direct-map addresses
    page_offset + pfn * 4096 + offset below direct_map_end (see common.direct_map())."""

    backend = "c"

    def __init__(self, page_source, *, cpus=2, slab_nomerge=False, boot=True, dma=True,
                 boot_objects=True, page_offset=D.PAGE_OFFSET, direct_map_end=None):
        alloc_cb, free_cb, ctx = _page_source(page_source)
        self.page_offset, self.direct_map_end = direct_map(page_offset, direct_map_end)
        raw = lib.lmm_slab_sys_create(alloc_cb, free_cb, ctx, self.page_offset, self.direct_map_end)
        if raw == ffi.NULL:
            raise MemoryError("cannot allocate the slab allocator")
        self._attach(raw, page_source)
        self._ids = []                          # cache id -> KmemCache
        self._setup(cpus=cpus, slab_nomerge=slab_nomerge, boot=boot, dma=dma,
                    boot_objects=boot_objects)

    def _attach(self, raw, page_source):
        """Own the engine `raw` and its scratch buffers (also how a snapshot's engine is taken
        over)."""
        self._sys = ffi.gc(raw, lib.lmm_slab_sys_destroy)
        self.page_source = page_source          # keeps the pages' owner alive
        # one lock with the page source, whose engine the slab's calls enter (linuxmm.sync)
        self.lock = page_source.lock
        lib.lmm_slab_set_lock(raw, self.lock.ptr)
        self._geom = ffi.new("struct lmm_slab_geometry *")
        self._info = ffi.new("int64_t[10]")
        self._counters = ffi.new("int64_t[4]")
        self._msg = ffi.new("char[]", 512)

    # -- kmalloc --------------------------------------------------------------------------------
    def kmalloc(self, size, gfp=F.GFP_KERNEL):
        """kmalloc(): an object of the size class of `size` (ZERO_SIZE_PTR for 0), or compound
        pages above 8 KiB."""
        try:
            if size.__class__ is not int:           # cffi takes a bool, numpy.bool_ as an int
                size = _args.as_int(size, "size")
            addr = _kmalloc(self._sys, size, gfp)
        except (TypeError, OverflowError):
            _args.as_int(size, "size")
            check_gfp(gfp)
            raise ValueError(f"size must be in 0..{K.KMALLOC_MAX_SIZE}, got {size}") from None
        if addr < _MIN_ADDR:
            if addr == K.ZERO_SIZE_PTR:
                return addr
            if addr == lib.LMM_SLAB_EDEBUG:
                return self.kmalloc_cache(size, gfp).alloc(gfp)
            got = None
            if addr == C.ENOMEM:
                got = C.retry_after_reclaim(self, addr, gfp, C.kmalloc_order(self, size, gfp),
                                            lambda: _address(_kmalloc(self._sys, size, gfp)))
            if got is None:
                raise self._kmalloc_error(addr, size, gfp)
            return got
        return addr

    def kfree(self, addr):
        """kfree(): any slab object or large kmalloc; 0 and ZERO_SIZE_PTR are no-ops."""
        try:
            if addr.__class__ is not int:           # cffi takes a bool, numpy.bool_ as an int
                addr = check_addr(addr)
            err = _kfree(self._sys, addr)
        except (TypeError, OverflowError):
            check_addr(addr)
            err = -lib.LMM_SLAB_ENOTSLAB
        if err:
            if err == -lib.LMM_SLAB_EDEBUG:
                return self.object_info(addr)["cache"].free(addr)
            raise self._free_error(-err, addr, None)

    def ksize(self, addr):
        """ksize(): usable size of the object at addr (0 for 0 and ZERO_SIZE_PTR)."""
        addr = check_addr(addr)
        r = lib.lmm_slab_ksize(self._sys, addr)
        if r < 0:
            raise self._free_error(-r, addr, None)
        return r

    def _kmalloc_error(self, code, size, gfp):
        return kmalloc_error(code, _args.as_int(size, "size"), check_gfp(gfp))

    # -- inspection -----------------------------------------------------------------------------
    def object_info(self, addr):
        """What addr is: {'kind': 'slab'|'large'|None, 'cache', 'pfn', 'order', 'objects',
        'inuse', 'index', 'allocated', 'serial', 'addr' (object start)}."""
        addr = check_addr(addr)
        lib.lmm_slab_object_info(self._sys, addr, self._info)
        v = list(self._info)
        kind = (None, "slab", "large")[v[0]]
        return {"kind": kind, "cache": self._ids[v[1]] if kind == "slab" else None,
                "pfn": v[2] if kind else None, "order": v[3] if kind else None,
                "objects": v[4] if kind == "slab" else None, "inuse": v[5] if kind == "slab" else None,
                "index": v[6] if kind == "slab" and v[6] >= 0 else None,
                "allocated": bool(v[7] == 1) if kind == "slab" else kind == "large",
                "serial": v[8] if kind == "slab" else None,
                "addr": (v[9] & (2**64 - 1)) if v[9] != -1 else None}

    # -- core primitives for the shared code -----------------------------------------------------
    def _core_new_cache(self, name, g, ctor):
        p = self._geom
        p.size = g.size
        p.red_left_pad = g.red_left_pad
        p.ksize = g.object_size if g.flags & (F.SLAB_RED_ZONE | F.SLAB_POISON) else g.size
        p.order = g.order
        p.objects = g.objects
        p.min_order = g.min_order
        p.min_objects = g.min_objects
        p.min_partial = g.min_partial
        p.allocflags = C.allocflags(g)
        p.reclaimable = 1 if g.flags & F.SLAB_RECLAIM_ACCOUNT else 0
        p.debug = 1 if g.flags & (F.SLAB_RED_ZONE | F.SLAB_POISON) else 0
        p.debug_lists = 1 if g.flags & F.SLAB_DEBUG_FLAGS else 0
        p.cpu_partial = 0 if p.debug_lists else g.cpu_partial
        cid = lib.lmm_slab_cache_create(self._sys, p)
        if cid < 0:
            raise ValueError(f"cannot create cache {name} (code {cid})")
        cls = SlowKmemCache if (ctor is not None or p.debug) else KmemCache
        c = cls(self, name, g, ctor, cid)
        if cid < len(self._ids):            # an id a destroyed cache released
            self._ids[cid] = c
        else:
            self._ids.append(c)
        return c

    def _core_set_kmalloc(self, t, idx, c):
        lib.lmm_slab_set_kmalloc(self._sys, t, idx, c._id)

    def _core_counters(self):
        lib.lmm_slab_counters(self._sys, self._counters)
        return list(self._counters)

    def _core_check(self):
        if lib.lmm_slab_check(self._sys, self._msg, len(self._msg)):
            raise InvariantError(ffi.string(self._msg).decode())

    @property
    def metadata_bytes(self):
        return lib.lmm_slab_metadata_bytes(self._sys)
