"""Pure-Python slab allocator: the same algorithm, API, results and errors as
linuxmm.slab.SlabAllocator (csrc/slab.c), i.e. SLUB of Linux 6.12-6.17 for one node and cpu 0.
Written for reading: each cache has its node partial list, full slabs, cpu slab and cpu partial
list (OrderedDicts used as lists with O(1) insertion at the head), each slab a LIFO freelist
that starts in address order, and a dict maps every slab page to its slab.
"""
import threading
import weakref
from collections import OrderedDict

import numpy as np

from .. import _args
from ..errors import ArgumentTypeError, InvariantError, OutOfMemory
from ..sync import synchronized
from ..slab import common as C
from ..slab import flags as F
from ..slab import kmalloc as K
from ..slab.common import (KmemCacheCommon, SlabAllocatorCommon, SlowPathMixin, addr_array,
                           alloc_error, check_addr, check_gfp, direct_map, kmalloc_error)
from ..slab.debug import PAGE_OFFSET
from ..slab.geometry import PAGE_SHIFT, PAGE_SIZE

PARTIAL, FULL, EMPTY, CPU, CPU_PARTIAL = 0, 1, 2, 3, 4
MAX_PARTIAL_TO_SCAN = 10000
GFP_RECLAIM_MASK = 0xc00 | 0x20 | 0x40 | 0x80 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x20000 | 0x80000


class _CoreError(Exception):
    def __init__(self, code):
        self.code = code


def _attempt(alloc, *args):
    """alloc(*args), or None when the core refuses (the retry after reclaim)."""
    try:
        return alloc(*args)
    except _CoreError:
        return None


class _Slab:
    __slots__ = ("pfn", "base", "cache", "objects", "order", "inuse", "freelist", "allocated",
                 "pending", "serial", "list")

    def __init__(self, pfn, base, cache, objects, order, serial):
        self.pfn = pfn
        self.base = base
        self.cache = cache
        self.objects = objects
        self.order = order
        self.inuse = 0
        self.freelist = list(range(objects - 1, -1, -1))    # top of the stack = next object
        self.allocated = set()
        self.pending = set()
        self.serial = serial
        self.list = None


class _Large:
    """A large kmalloc block (map value of its pages)."""
    __slots__ = ("pfn", "order")

    def __init__(self, pfn, order):
        self.pfn = pfn
        self.order = order


@synchronized
class KmemCache(KmemCacheCommon):
    backend = "reference"

    def __init__(self, allocator, name, geometry, ctor, cid):
        self._sa = weakref.proxy(allocator)     # no cycle through the allocator's cache list
        # node partial, full, (empty: a view), cpu slab, cpu partial; OrderedDicts, head first
        self.lists = tuple(OrderedDict() for _ in range(5))
        self.nr_slabs = self.total_objects = self.inuse_count = self.pages = 0
        self.slabs_created = 0
        self.core_alive = True
        self._setup(allocator, name, geometry, geometry.flags, ctor, cid)
        self.debug_lists = bool(self.flags & F.SLAB_DEBUG_FLAGS)      # kmem_cache_debug()
        self.cpu_partial = 0 if self.debug_lists else geometry.cpu_partial
        # slub_set_cpu_partial(): DIV_ROUND_UP(cpu_partial * 2, oo_objects)
        self.cpu_partial_slabs = -(-2 * self.cpu_partial // geometry.objects)

    # -- lists ----------------------------------------------------------------------------------
    def _add_head(self, slab, which):
        lst = self.lists[which]
        lst[slab] = None
        lst.move_to_end(slab, last=False)
        slab.list = which

    def _add_tail(self, slab, which):
        self.lists[which][slab] = None
        slab.list = which

    def _del(self, slab):
        del self.lists[slab.list][slab]
        slab.list = None

    @property
    def _cpu_slab(self):
        cpu = self.lists[CPU]
        return next(iter(cpu)) if cpu else None

    # -- the per-cpu layer (mm/slub.c) -----------------------------------------------------------
    def _put_partials(self, chain):
        """__put_partials(): to the node partial tail in order; empty slabs beyond min_partial
        are discarded afterwards, last found first."""
        discard = []
        for slab in chain:
            if slab.inuse == 0 and len(self.lists[PARTIAL]) >= self.min_partial:
                discard.append(slab)
            else:
                self._add_tail(slab, PARTIAL)
        for slab in reversed(discard):
            self._sa._discard_slab(self, slab)

    def _put_cpu_partial(self, slab, drain):
        cp = self.lists[CPU_PARTIAL]
        old = []
        if drain and cp and len(cp) >= self.cpu_partial_slabs:
            old = list(cp)
            for s in old:
                self._del(s)
        self._add_head(slab, CPU_PARTIAL)
        if old:
            self._put_partials(old)

    def _get_partial_node(self):
        partial = None
        partial_slabs = 0
        for slab in list(self.lists[PARTIAL]):
            self._del(slab)
            if partial is None:
                partial = slab
                if self.cpu_partial == 0:
                    break
            else:
                self._put_cpu_partial(slab, False)
                partial_slabs += 1
                if partial_slabs > self.cpu_partial_slabs // 2:
                    break
        return partial

    def _deactivate_slab(self):
        slab = self._cpu_slab
        if slab is None:
            return
        self._del(slab)
        if slab.inuse == 0 and len(self.lists[PARTIAL]) >= self.min_partial:
            self._sa._discard_slab(self, slab)
        elif slab.freelist:
            self._add_head(slab, PARTIAL)           # DEACTIVATE_TO_HEAD
        else:
            self._add_head(slab, FULL)

    def _flush_cpu_slab(self):
        self._deactivate_slab()
        chain = list(self.lists[CPU_PARTIAL])
        for slab in chain:
            self._del(slab)
        self._put_partials(chain)

    # -- operations -----------------------------------------------------------------------------
    def _pop(self, slab):
        idx = slab.freelist.pop()
        slab.allocated.add(idx)
        slab.inuse += 1
        self.inuse_count += 1
        return slab.base + idx * self.size

    def _slab_alloc(self, gfp):
        slab = self._cpu_slab
        if slab is not None and slab.freelist:
            return self._pop(slab)
        if self.debug_lists:                        # alloc_single_from_partial / _new_slab
            partial = self.lists[PARTIAL]
            if partial:
                slab = next(iter(partial))
            else:
                slab = self._sa._allocate_slab(self, gfp)
                self._add_head(slab, PARTIAL)
            addr = self._pop(slab)
            if not slab.freelist:
                self._del(slab)
                self._add_head(slab, FULL)
            return addr
        if slab is not None:                        # exhausted: c->slab = NULL
            self._del(slab)
            self._add_head(slab, FULL)
        cp = self.lists[CPU_PARTIAL]
        if cp:
            slab = next(iter(cp))
            self._del(slab)
        else:
            slab = self._get_partial_node()
            if slab is None:
                slab = self._sa._allocate_slab(self, gfp)
        self._add_head(slab, CPU)
        return self._pop(slab)

    def _free_lists(self, slab, prior):
        """The list work of __slab_free() / free_to_partial_list() after objects were pushed."""
        nr_partial = len(self.lists[PARTIAL])
        if self.debug_lists:
            slab_free = slab.inuse == 0 and nr_partial >= self.min_partial
            if not prior:
                self._del(slab)
                if not slab_free:
                    self._add_tail(slab, PARTIAL)
            elif slab_free:
                self._del(slab)
            if slab_free:
                self._sa._discard_slab(self, slab)
            return
        if slab.list in (CPU, CPU_PARTIAL):
            return
        if not prior:
            self._del(slab)
            self._put_cpu_partial(slab, True)
            return
        if slab.inuse == 0 and nr_partial >= self.min_partial:
            self._del(slab)
            self._sa._discard_slab(self, slab)

    def _slab_free_group(self, slab, idxs):
        """do_slab_free() of a detached freelist: idxs pushed in order (the last one heads it)."""
        prior = bool(slab.freelist)
        for idx in idxs:
            slab.allocated.discard(idx)
            slab.freelist.append(idx)
        slab.inuse -= len(idxs)
        self.inuse_count -= len(idxs)
        if slab.list != CPU:
            self._free_lists(slab, prior)

    def _slab_free(self, slab, idx):
        self._slab_free_group(slab, (idx,))

    def alloc(self, gfp=F.GFP_KERNEL):
        gfp = check_gfp(gfp)
        if not self.core_alive:
            raise alloc_error(self, C.EDEAD, gfp)
        try:
            return self._slab_alloc(gfp)
        except _CoreError as e:
            got = C.retry_after_reclaim(self.allocator, e.code, gfp, self.order,
                                        lambda: _attempt(self._slab_alloc, gfp))
            if got is None:
                raise alloc_error(self, e.code, gfp) from None
            return got

    def free(self, addr):
        addr = check_addr(addr)
        if not self.core_alive:
            raise self._sa._free_error(C.EDEAD, addr, self)
        code, slab, idx = self._sa._locate(self, addr)
        if code:
            raise self._sa._free_error(code, addr, self)
        self._slab_free(slab, idx)

    def alloc_bulk(self, count, gfp=F.GFP_KERNEL):
        count = _args.check_count(count)
        gfp = check_gfp(gfp)
        if not self.core_alive:
            raise alloc_error(self, C.EDEAD, gfp)
        if self._bulk_impossible(count):
            raise alloc_error(self, C.ENOMEM, gfp)
        out = []
        try:
            for _ in range(count):
                out.append(self._slab_alloc(gfp))
        except _CoreError as e:
            # all or nothing: kmem_cache_free_bulk() of what we got
            located = []
            for addr in out:
                _, slab, idx = self._sa._locate(self, addr)
                located.append((slab, idx))
            self._sa._free_located(located)
            if C.may_reclaim(self.allocator, e.code, gfp):
                return self._alloc_bulk_with_reclaim(count, gfp)
            raise alloc_error(self, e.code, gfp) from None
        return np.array(out, dtype=np.uint64)

    def free_bulk(self, addrs):
        arr = addr_array(addrs)
        if not self.core_alive:
            raise self._sa._free_error(C.EDEAD, 0, self)
        self._sa._free_bulk(self, [int(a) for a in arr])

    # -- core primitives for the shared code -----------------------------------------------------
    def _partial_free(self):
        """count_partial_free_approx() (6.10+): exact up to MAX_PARTIAL_TO_SCAN slabs."""
        partial = self.lists[PARTIAL]
        if len(partial) <= MAX_PARTIAL_TO_SCAN:
            return sum(s.objects - s.inuse for s in partial)
        slabs = list(partial)
        half = MAX_PARTIAL_TO_SCAN // 2
        scanned = slabs[:half] + slabs[::-1][:MAX_PARTIAL_TO_SCAN - half]
        x = sum(s.objects - s.inuse for s in scanned)
        n = len(slabs)
        x = (x // MAX_PARTIAL_TO_SCAN) * n + ((x % MAX_PARTIAL_TO_SCAN) * n) // MAX_PARTIAL_TO_SCAN
        return min(x, self.total_objects)

    def _core_stats(self):
        return {"nr_slabs": self.nr_slabs, "nr_partial": len(self.lists[PARTIAL]),
                "nr_full": len(self.lists[FULL]),
                "nr_empty": sum(1 for s in self.lists[PARTIAL] if s.inuse == 0),
                "total_objects": self.total_objects, "inuse": self.inuse_count,
                "slabs_created": self.slabs_created, "pages": self.pages,
                "nr_cpu_partial": len(self.lists[CPU_PARTIAL]), "nr_cpu_slab": len(self.lists[CPU]),
                "partial_free": self._partial_free(), "cpu_partial_slabs": self.cpu_partial_slabs}

    def _core_list(self, which):
        if which == EMPTY:
            return [s.pfn for s in self.lists[PARTIAL] if s.inuse == 0]
        return [s.pfn for s in self.lists[which]]

    def _core_freelist(self, pfn):
        slab = self._sa._map.get(pfn)
        if not isinstance(slab, _Slab):
            return []
        return list(reversed(slab.freelist))

    def _core_inuse_objects(self):
        out = []
        for which in (PARTIAL, FULL, CPU, CPU_PARTIAL):
            for slab in self.lists[which]:
                out += [slab.base + i * self.size for i in sorted(slab.allocated)]
        return out

    def _core_shrink(self):
        """__kmem_cache_shrink()."""
        self._flush_cpu_slab()
        partial = self.lists[PARTIAL]
        buckets = [[] for _ in range(32)]
        discard = []
        for slab in list(partial):
            nfree = slab.objects - slab.inuse
            if nfree == slab.objects:
                self._del(slab)
                discard.append(slab)
            elif nfree <= 32:
                self._del(slab)
                buckets[nfree - 1].append(slab)
        for bucket in reversed(buckets):            # list_splice of each list_move()d bucket
            for slab in bucket:
                self._add_head(slab, PARTIAL)
        for slab in reversed(discard):
            self._sa._discard_slab(self, slab)
        return 1 if self.nr_slabs else 0

    def _core_release(self):
        self._flush_cpu_slab()
        discard = list(self.lists[PARTIAL])
        for slab in discard:
            self._del(slab)
        for slab in reversed(discard):
            self._sa._discard_slab(self, slab)
        self.core_alive = False
        for key, cid in list(self._sa._kmalloc_ids.items()):
            if cid is self:
                del self._sa._kmalloc_ids[key]
        ids = self._sa._ids
        if ids[self.index] is self:         # the id is free for the next cache
            ids[self.index] = None

    # -- benchmarks (same results as the C loops, at Python speed) -------------------------------
    def bench_pairs(self, pairs):
        total = 0
        for _ in range(pairs):
            a = self.alloc()
            total += a & 0xffffffffffff
            self.free(a)
        return total

    def bench_bulk(self, rounds, batch):
        total = 0
        for _ in range(rounds):
            arr = self.alloc_bulk(batch)
            total += int((arr & np.uint64(0xffffffffffff)).sum())
            self.free_bulk(arr)
        return total


@synchronized
class SlowKmemCache(SlowPathMixin, KmemCache):
    pass


@synchronized
class SlabAllocator(SlabAllocatorCommon):
    backend = "reference"

    def __init__(self, page_source, *, cpus=2, slab_nomerge=False, boot=True, dma=True,
                 boot_objects=True, page_offset=PAGE_OFFSET, direct_map_end=None):
        self.page_offset, self.direct_map_end = direct_map(page_offset, direct_map_end)
        # one lock with the page source (linuxmm.sync); a page source without one gets ours
        self.lock = getattr(page_source, "lock", None) or threading.RLock()
        # the slab's blocks are marked as its own (PageSlab, PG_large_kmalloc): the allocator's
        # public frees refuse them
        if hasattr(page_source, "_slab_alloc_pages"):
            self._page_alloc = page_source._slab_alloc_pages
            self._page_free = page_source._slab_free_pages
        elif hasattr(page_source, "alloc_pages"):
            self._page_alloc = page_source.alloc_pages
            self._page_free = lambda pfn, order: page_source.free_pages(pfn, order)
        elif hasattr(page_source, "_alloc_owned"):
            self._page_alloc = lambda gfp, order: page_source._alloc_owned(order)
            self._page_free = page_source._free_owned
        elif hasattr(page_source, "alloc") and hasattr(page_source, "free"):
            self._page_alloc = lambda gfp, order: page_source.alloc(order)
            self._page_free = page_source.free
        else:
            raise ArgumentTypeError("page_source must be a BuddyAllocator or PageAllocator")
        self.page_source = page_source
        self._map = {}                   # pfn -> _Slab or _Large
        self._ids = []
        self._kmalloc_ids = {}
        self._serial = 0
        self.reclaimable_bytes = self.unreclaimable_bytes = 0
        self.large_pages = self.large_blocks = 0
        self._setup(cpus=cpus, slab_nomerge=slab_nomerge, boot=boot, dma=dma,
                    boot_objects=boot_objects)

    # -- pages ----------------------------------------------------------------------------------
    def _get_pages(self, gfp, order):
        try:
            pfn = self._page_alloc(gfp, order)
        except OutOfMemory:
            raise _CoreError(C.ENOMEM) from None
        except ValueError:
            raise _CoreError(C.EINVAL) from None
        # slab gfp never carries __GFP_HIGHMEM: a page outside the direct map is refused
        if self.page_address(pfn + (1 << order)) > self.direct_map_end:
            self._page_free(pfn, order)
            raise _CoreError(C.EINVAL)
        return pfn

    def _map_at(self, addr):
        """The _Slab or _Large whose pages hold addr (virt_to_pfn() of the direct map), or None."""
        if not self.page_offset <= addr < self.direct_map_end:
            return None
        return self._map.get((addr - self.page_offset) >> PAGE_SHIFT)

    def _allocate_slab(self, c, gfp):
        g = c.geometry
        flags = (gfp & GFP_RECLAIM_MASK) | C.allocflags(g)
        order, objects = g.order, g.objects
        if order > g.min_order:
            try:
                pfn = self._get_pages((flags | F.GFP_NOWARN | F.GFP_NORETRY) & ~F.GFP_NOFAIL, order)
            except _CoreError:
                order, objects = g.min_order, g.min_objects
                pfn = self._get_pages(flags, order)
        else:
            pfn = self._get_pages(flags, order)
        self._serial += 1
        slab = _Slab(pfn, self.page_address(pfn) + g.red_left_pad, c, objects, order,
                     self._serial)
        for p in range(pfn, pfn + (1 << order)):
            self._map[p] = slab
        c.nr_slabs += 1
        c.total_objects += objects
        c.pages += 1 << order
        c.slabs_created += 1
        self._account(c, PAGE_SIZE << order)
        return slab

    def _account(self, c, nbytes):
        if c.flags & F.SLAB_RECLAIM_ACCOUNT:
            self.reclaimable_bytes += nbytes
        else:
            self.unreclaimable_bytes += nbytes

    def _discard_slab(self, c, slab):
        for p in range(slab.pfn, slab.pfn + (1 << slab.order)):
            del self._map[p]
        c.nr_slabs -= 1
        c.total_objects -= slab.objects
        c.pages -= 1 << slab.order
        self._account(c, -(PAGE_SIZE << slab.order))
        self._page_free(slab.pfn, slab.order)

    # -- object lookup (locate_object) ------------------------------------------------------------
    def _locate(self, cache, addr):
        """(0, slab, index) for an allocated object of cache (None: any cache), else (code, ...)."""
        slab = self._map_at(addr)
        if not isinstance(slab, _Slab):
            return C.ENOTSLAB, None, None
        if cache is not None and slab.cache is not cache:
            return C.EWRONGCACHE, None, None
        if addr < slab.base:
            return C.EINTERIOR, None, None
        idx, rem = divmod(addr - slab.base, slab.cache.size)
        if idx >= slab.objects or rem:
            return C.EINTERIOR, None, None
        if idx not in slab.allocated:
            return (C.EDUP if idx in slab.pending else C.EFREE), None, None
        return 0, slab, idx

    def _free_bulk(self, cache, addrs):
        marked = []
        for addr in addrs:
            code, slab, idx = self._locate(cache, addr)
            if not code and cache is None and slab.cache._memory is not None:
                code = C.EDEBUG
            if code:
                for s, i in marked:
                    s.pending.discard(i)
                    s.allocated.add(i)
                raise self._free_error(code, addr, cache)
            slab.allocated.discard(idx)
            slab.pending.add(idx)
            marked.append((slab, idx))
        for slab, idx in marked:
            slab.pending.discard(idx)
            slab.allocated.add(idx)
        self._free_located(marked)

    @staticmethod
    def _free_located(p):
        """kmem_cache_free_bulk(): build_detached_freelist() from the end of the array (objects
        of the last one's slab, looking ahead past at most 3 others, reordering p as the kernel
        does), one do_slab_free() per group."""
        p = list(p)
        size = len(p)
        while size:
            size -= 1
            slab, idx = p[size]
            group = [idx]
            same = size
            lookahead = 3
            while size:
                size -= 1
                if p[size][0] is slab:
                    group.append(p[size][1])
                    same -= 1
                    if size != same:
                        p[size], p[same] = p[same], p[size]
                    continue
                lookahead -= 1
                if not lookahead:
                    break
            size = same
            slab.cache._slab_free_group(slab, group)

    # -- kmalloc --------------------------------------------------------------------------------
    def _kmalloc_cache_id(self, size, gfp):
        if size < 0:
            return -C.EINVAL
        if size > K.KMALLOC_MAX_CACHE_SIZE:
            return -C.ETOOBIG if K.large_order(size) > 10 else -1
        c = self._kmalloc_ids.get((K.kmalloc_type(gfp & ~F.GFP_SLAB_BUG_MASK), K.kmalloc_index(size)))
        return c if c is not None else -C.ENOCACHE

    def kmalloc(self, size, gfp=F.GFP_KERNEL):
        size = _args.as_int(size, "size")
        gfp = check_gfp(gfp)
        if not -2**63 <= size < 2**63:
            raise ValueError(f"size must be in 0..{K.KMALLOC_MAX_SIZE}, got {size}")
        if size == 0:
            return K.ZERO_SIZE_PTR
        c = self._kmalloc_cache_id(size, gfp)
        if c == -1:
            order = K.large_order(size)
            large_gfp = (gfp & ~F.GFP_SLAB_BUG_MASK) | F.GFP_COMP
            try:
                pfn = self._get_pages(large_gfp, order)
            except _CoreError as e:
                pfn = C.retry_after_reclaim(self, e.code, gfp, order,
                                            lambda: _attempt(self._get_pages, large_gfp, order))
                if pfn is None:
                    raise kmalloc_error(e.code, size, gfp) from None
            large = _Large(pfn, order)
            for p in range(pfn, pfn + (1 << order)):
                self._map[p] = large
            self.unreclaimable_bytes += PAGE_SIZE << order
            self.large_pages += 1 << order
            self.large_blocks += 1
            return self.page_address(pfn)
        if isinstance(c, int):
            raise kmalloc_error(-c, size, gfp)
        if not c.core_alive:
            raise kmalloc_error(C.EDEAD, size, gfp)
        if c._memory is not None:
            return c.alloc(gfp)
        try:
            return c._slab_alloc(gfp)
        except _CoreError as e:
            got = C.retry_after_reclaim(self, e.code, gfp, c.order,
                                        lambda: _attempt(c._slab_alloc, gfp))
            if got is None:
                raise kmalloc_error(e.code, size, gfp) from None
            return got

    def _large_at(self, addr):
        """(code, _Large) for kfree/ksize of an address in a large kmalloc, (None, None) if not one."""
        v = self._map_at(addr)
        if not isinstance(v, _Large):
            return None, None
        if addr != self.page_address(v.pfn):
            return C.EINTERIOR, v
        return 0, v

    def kfree(self, addr):
        addr = check_addr(addr)
        if addr <= K.ZERO_SIZE_PTR:
            return
        code, large = self._large_at(addr)
        if large is not None:
            if code:
                raise self._free_error(code, addr, None)
            for p in range(large.pfn, large.pfn + (1 << large.order)):
                del self._map[p]
            self.unreclaimable_bytes -= PAGE_SIZE << large.order
            self.large_pages -= 1 << large.order
            self.large_blocks -= 1
            self._page_free(large.pfn, large.order)
            return
        code, slab, idx = self._locate(None, addr)
        if code:
            raise self._free_error(code, addr, None)
        if slab.cache._memory is not None:
            return slab.cache.free(addr)
        slab.cache._slab_free(slab, idx)

    def ksize(self, addr):
        addr = check_addr(addr)
        if addr <= K.ZERO_SIZE_PTR:
            return 0
        code, large = self._large_at(addr)
        if large is not None:
            if code:
                raise self._free_error(code, addr, None)
            return PAGE_SIZE << large.order
        code, slab, idx = self._locate(None, addr)
        if code:
            raise self._free_error(code, addr, None)
        return slab.cache.ksize

    # -- inspection -----------------------------------------------------------------------------
    def object_info(self, addr):
        addr = check_addr(addr)
        info = {"kind": None, "cache": None, "pfn": None, "order": None, "objects": None,
                "inuse": None, "index": None, "allocated": False, "serial": None, "addr": None}
        v = self._map_at(addr)
        if isinstance(v, _Large):
            info.update(kind="large", pfn=v.pfn, order=v.order, allocated=True,
                        addr=self.page_address(v.pfn))
        elif isinstance(v, _Slab):
            info.update(kind="slab", cache=v.cache, pfn=v.pfn, order=v.order, objects=v.objects,
                        inuse=v.inuse, serial=v.serial, allocated=False)
            if addr >= v.base:
                idx = (addr - v.base) // v.cache.size
                if idx < v.objects:
                    info.update(index=idx, allocated=idx in v.allocated,
                                addr=v.base + idx * v.cache.size)
        return info

    # -- core primitives for the shared code -----------------------------------------------------
    def _core_new_cache(self, name, g, ctor):
        debug = g.flags & (F.SLAB_RED_ZONE | F.SLAB_POISON)
        cls = SlowKmemCache if (ctor is not None or debug) else KmemCache
        # the lowest id a destroyed cache released, as the C core does
        cid = next((i for i, x in enumerate(self._ids) if x is None), len(self._ids))
        c = cls(self, name, g, ctor, cid)
        if cid < len(self._ids):
            self._ids[cid] = c
        else:
            self._ids.append(c)
        return c

    def _core_set_kmalloc(self, t, idx, c):
        self._kmalloc_ids[(t, idx)] = c

    def _core_counters(self):
        return [self.reclaimable_bytes, self.unreclaimable_bytes, self.large_pages, self.large_blocks]

    def _core_check(self):
        listed = {}
        rec = unrec = 0
        for c in self._ids:
            if c is None:
                continue
            pages = slabs = total = inuse = 0
            for which, lst in enumerate(c.lists):
                if which == EMPTY and lst:
                    raise InvariantError(f"{c.name}: empty list used")
                for slab in lst:
                    where = f"{c.name}: slab at pfn {slab.pfn}"
                    if slab in listed:
                        raise InvariantError(f"{where} is on two lists")
                    listed[slab] = c
                    if not c.core_alive:
                        raise InvariantError(f"dead cache {c.name} still has slabs")
                    if slab.list != which or slab.cache is not c:
                        raise InvariantError(f"{where}: list or cache field wrong")
                    if len(slab.allocated) != slab.inuse or slab.pending:
                        raise InvariantError(f"{where}: {len(slab.allocated)} allocated, inuse {slab.inuse}")
                    if (len(set(slab.freelist)) != len(slab.freelist) or
                            set(slab.freelist) & slab.allocated or
                            len(slab.freelist) + slab.inuse != slab.objects or
                            not all(0 <= i < slab.objects for i in slab.freelist)):
                        raise InvariantError(f"{where}: freelist broken")
                    if which != CPU and (which == FULL) != (slab.inuse == slab.objects):
                        raise InvariantError(f"{where} with {slab.inuse}/{slab.objects} in use is on list {which}")
                    if c.debug_lists and which not in (PARTIAL, FULL):
                        raise InvariantError(f"{where}: debug cache slab on list {which}")
                    for p in range(slab.pfn, slab.pfn + (1 << slab.order)):
                        if self._map.get(p) is not slab:
                            raise InvariantError(f"pfn {p} of {where} is not mapped to it")
                    pages += 1 << slab.order
                    slabs += 1
                    total += slab.objects
                    inuse += slab.inuse
            if len(c.lists[CPU]) > 1 or len(c.lists[CPU_PARTIAL]) > c.cpu_partial_slabs:
                raise InvariantError(f"{c.name}: too many cpu (partial) slabs")
            if (slabs, total, inuse, pages) != (c.nr_slabs, c.total_objects, c.inuse_count, c.pages):
                raise InvariantError(f"{c.name}: counters disagree with the lists")
            if c.flags & F.SLAB_RECLAIM_ACCOUNT:
                rec += pages * PAGE_SIZE
            else:
                unrec += pages * PAGE_SIZE
        large_pages = 0
        blocks = set()
        for pfn, v in self._map.items():
            if isinstance(v, _Large):
                large_pages += 1
                blocks.add(v)
            elif v not in listed:
                raise InvariantError(f"pfn {pfn} maps to a slab on no list")
        unrec += sum(PAGE_SIZE << b.order for b in blocks)
        if large_pages != self.large_pages or len(blocks) != self.large_blocks:
            raise InvariantError("large kmalloc counters disagree with the map")
        if (rec, unrec) != (self.reclaimable_bytes, self.unreclaimable_bytes):
            raise InvariantError("slab byte counters disagree with the slabs")
