"""Policy shared by the C-backed slab allocator and its pure-Python twin: cache creation with
SLUB's geometry and merging, the boot caches, kmalloc caches, the ctor and debug slow paths,
/proc/slabinfo, meminfo/vmstat contributions.  Each backend supplies the object-level core.
"""
import operator
import weakref

import numpy as np

from .. import _args
from ..gfp import __GFP_DIRECT_RECLAIM as _GFP_DIRECT_RECLAIM
from ..errors import ArgumentTypeError, InvariantError, OutOfMemory
from . import debug as D
from . import flags as F
from . import kmalloc as K
from .geometry import PAGE_SHIFT, PAGE_SIZE, WORD, align_up, calculate_alignment, calculate_sizes
from .slabinfo import render_slabinfo

# SLUB's lists for one node and cpu 0: the node partial list (empty slabs included), full slabs
# (on no SLUB list), 'empty' (a view: the empty slabs of the node partial list), the cpu slab
# (c->slab) and the cpu partial list (c->partial).
LIST_NAMES = ("partial", "full", "empty", "cpu", "cpu_partial")
REAL_LISTS = (0, 1, 3, 4)
KMEM_CACHE_OBJECT_SIZE = 232            # sizeof(struct kmem_cache) with one node (6.18 x86_64)
KMEM_CACHE_NODE_OBJECT_SIZE = 72        # sizeof(struct kmem_cache_node)


# Error codes of the core (csrc/lmm.h, slab section); the reference returns the same ones.
ENOMEM, EINVAL = 1, 2
ENOTSLAB, EWRONGCACHE, EINTERIOR, EFREE, EDUP, EDEBUG, EDEAD, EBUSY, ETOOBIG, ENOCACHE = range(20, 30)
REASONS = {ENOTSLAB: "notslab", EWRONGCACHE: "wrong-cache", EINTERIOR: "interior", EFREE: "free",
           EDUP: "dup", EDEAD: "dead"}
STATS = ("nr_slabs", "nr_partial", "nr_full", "nr_empty", "total_objects", "inuse",
         "slabs_created", "pages", "nr_cpu_partial", "nr_cpu_slab", "partial_free",
         "cpu_partial_slabs")


def may_reclaim(allocator, code, gfp):
    """Did an allocation fail for want of a page that reclaim could give (ENOMEM, a gfp with
    __GFP_DIRECT_RECLAIM, an allocator whose Kernel reclaims)?"""
    return code == ENOMEM and gfp & _GFP_DIRECT_RECLAIM and \
        getattr(allocator, "page_reclaim", None) is not None


def retry_after_reclaim(allocator, code, gfp, order, attempt):
    """__alloc_pages_slowpath() for a slab's pages: the engines take pages without reclaim, so
    when an allocation failed for want of a page (ENOMEM) and gfp may reclaim, the allocator's
    page_reclaim hook (the Kernel's: kswapd, direct reclaim, the OOM killer for a block of
    `order` pages) runs and attempt() is tried again, up to four times.  attempt() returns an
    address or None; the result is attempt()'s, None when reclaim could not help."""
    if not may_reclaim(allocator, code, gfp):
        return None
    reclaim = allocator.page_reclaim
    with allocator.lock:
        for _ in range(4):
            if not reclaim(gfp, order):
                return None
            addr = attempt()
            if addr is not None:
                return addr
    return None


def kmalloc_order(allocator, size, gfp):
    """The page order a kmalloc(size, gfp) takes a block of: its cache's slabs, or the large
    allocation's own."""
    cache = allocator.kmalloc_cache(size, gfp)
    return K.large_order(size) if cache is None else cache.order


def check_gfp(gfp):
    """A gfp mask: any int (bool included, as cffi takes it) in 0..2**32-1."""
    try:
        gfp = operator.index(gfp)
    except TypeError:
        raise ArgumentTypeError(f"gfp must be an integer, not {type(gfp).__name__}") from None
    if not 0 <= gfp < 2**32:
        raise ValueError(f"gfp {gfp} is not a 32-bit gfp mask")
    return gfp


def alloc_error(cache, code, gfp):
    if code == EDEAD:
        return ValueError(f"cache {cache.name} was destroyed")
    if code == ENOMEM:
        return OutOfMemory(f"{cache.name}: cannot allocate a slab of order {cache.order} "
                           f"(gfp 0x{gfp:x})")
    return ValueError(f"{cache.name}: allocation failed with code {code}")


def kmalloc_error(code, size, gfp):
    if code == ETOOBIG or size < 0:
        return ValueError(f"kmalloc size {size} is outside 0..{K.KMALLOC_MAX_SIZE}")
    if code == ENOCACHE:
        return ValueError(f"no kmalloc cache for size {size} with gfp 0x{gfp:x}")
    if code == ENOMEM:
        return OutOfMemory(f"kmalloc({size}, 0x{gfp:x}): out of memory")
    return ValueError(f"kmalloc({size}) failed with code {code}")


def check_addr(addr):
    addr = _args.as_int(addr, "addr")
    if not 0 <= addr < 2**64:
        raise ValueError(f"address {addr} is not a 64-bit address")
    return addr


def direct_map(page_offset, direct_map_end):
    """(page_offset, direct_map_end) of a slab allocator, checked: objects are named by
    page_offset + pfn * 4096 + offset below direct_map_end.  The default is x86_64's
    (0xffff888000000000, 64 TiB); the i386 Kernel passes 0xC0000000 and the end of lowmem."""
    page_offset = _args.as_int(page_offset, "page_offset")
    if direct_map_end is None:
        direct_map_end = min(page_offset + (D.DIRECT_MAP_END - D.PAGE_OFFSET), 2**64 - PAGE_SIZE)
    direct_map_end = _args.as_int(direct_map_end, "direct_map_end")
    if page_offset % PAGE_SIZE or not 0 < page_offset < direct_map_end < 2**64:
        raise ValueError(f"direct map 0x{page_offset:x}..0x{direct_map_end:x} is not a page "
                         f"aligned range of 64-bit addresses")
    return page_offset, direct_map_end


def addr_array(addrs):
    """Object addresses as a contiguous uint64 array (see _args.int_array)."""
    return _args.int_array(addrs, np.uint64, "addresses")


class KmemCacheCommon:
    """What a cache looks like from outside: SLUB's struct kmem_cache fields and operations
    that are not hot paths.  Backends provide alloc/free/alloc_bulk/free_bulk and the _core_*
    primitives."""

    @property
    def lock(self):
        """The slab allocator's lock, which is its page source's (linuxmm.sync)."""
        return self.allocator.lock

    def _alloc_bulk_with_reclaim(self, count, gfp):
        """kmem_cache_alloc_bulk() after the core's one-call bulk ran out of pages: object by
        object, each taking the slow path with reclaim for its slab (as ___slab_alloc does),
        all or nothing."""
        got = []
        try:
            for _ in range(count):
                got.append(self.alloc(gfp))
        except OutOfMemory:
            self.free_bulk(got)
            raise
        return np.array(got, dtype=np.uint64)

    def _setup(self, allocator, name, geometry, flags, ctor, index):
        # a weak proxy: the allocator lists its caches, so a strong back pointer would be a
        # reference cycle keeping the machine's memory until the cycle collector runs
        self.allocator = allocator if isinstance(allocator, weakref.ProxyType) \
            else weakref.proxy(allocator)
        self.name = name
        self.geometry = geometry
        self.flags = geometry.flags
        self.object_size = geometry.object_size
        self.size = geometry.size
        self.align = geometry.align
        self.order = geometry.order
        self.objects = geometry.objects
        self.min_partial = geometry.min_partial
        self.ctor = ctor
        self.usersize = 0
        self.refcount = 1
        self.aliases = []
        self.alive = True
        self.permanent = False        # a boot or kmalloc cache: Linux never destroys it
        self.index = index
        self._meta = []               # kmem_cache and kmem_cache_node objects backing this cache
        self._constructed = {}        # slab pfn -> serial of the slab the ctor ran on
        self._memory = (D.ObjectMemory(self)
                        if self.flags & (F.SLAB_POISON | F.SLAB_RED_ZONE) else None)

    # -- geometry as slabinfo shows it ----------------------------------------------------------
    @property
    def objsize(self):
        """slabinfo's <objsize>: the object stride with metadata and alignment (s->size)."""
        return self.size

    @property
    def objperslab(self):
        return self.objects

    @property
    def pagesperslab(self):
        return 1 << self.order

    @property
    def unique_id(self):
        """create_unique_id(): the sysfs name of a mergeable cache, e.g. ':A-0001280'."""
        tags = "".join(ch for bit, ch in ((F.SLAB_CACHE_DMA, "d"), (F.SLAB_CACHE_DMA32, "D"),
                                           (F.SLAB_RECLAIM_ACCOUNT, "a"),
                                           (F.SLAB_CONSISTENCY_CHECKS, "F"), (F.SLAB_ACCOUNT, "A"))
                       if self.flags & bit)
        return f":{tags}{'-' if tags else ''}{self.size:07d}"

    @property
    def ksize(self):
        return self.object_size if self.flags & (F.SLAB_RED_ZONE | F.SLAB_POISON) else self.size

    # -- state ----------------------------------------------------------------------------------
    def stats(self):
        """nr_slabs, nr_partial, nr_full, nr_empty, total_objects, inuse, slabs_created, pages."""
        return self._core_stats()

    @property
    def inuse(self):
        return self._core_stats()["inuse"]

    def slab_list(self, which):
        """pfns of the slabs on one list, head first: 'partial' (the node partial list, empty
        slabs included), 'full', 'empty' (the empty slabs of the node partial list), 'cpu'
        (cpu 0's slab) or 'cpu_partial' (cpu 0's partial slabs)."""
        if which not in LIST_NAMES:
            raise ValueError(f"list must be one of {LIST_NAMES}, got {which!r}")
        return self._core_list(LIST_NAMES.index(which))

    def objects_in_use(self):
        """Addresses of every allocated object, slab by slab (node partial list, full slabs,
        the cpu slab, the cpu partial list)."""
        return self._core_inuse_objects()

    def shrink(self):
        """kmem_cache_shrink(): release empty slabs, sort partial slabs; 0 iff no slab remains."""
        self._check_alive()
        return self._core_shrink()

    def destroy(self):
        """kmem_cache_destroy(): drop one reference; the last one releases the cache.  Refuses
        (CacheInUse listing the objects, nothing changed) while objects remain."""
        self._check_alive()
        if self.permanent:
            raise D.CacheInUse(f"kmem_cache_destroy {self.name}: a boot or kmalloc cache is "
                               f"never destroyed (the slab allocator itself uses it)")
        if self.refcount > 1:
            self.refcount -= 1
            return
        objs = self._core_inuse_objects()
        if objs:
            lines = [D.RULE, D.bug_line(self.name, "Objects remaining on __kmem_cache_shutdown()"),
                     D.DASH, ""]
            for a in objs:
                info = self.allocator.object_info(a)
                slab_addr = self.allocator.page_address(info["pfn"])
                lines.append(f"Object 0x{a:x} @offset={a - slab_addr}")
            lines.append(f"kmem_cache_destroy {self.name}: Slab cache still has objects when "
                         f"called from kmem_cache_destroy")
            err = D.CacheInUse("\n".join(lines))
            err.objects = objs
            raise err
        self._core_release()
        self.refcount = 0
        self.alive = False
        self.allocator._cache_destroyed(self)

    def _bulk_impossible(self, count):
        """A bulk allocation of count objects cannot succeed: more than the cache's free objects
        plus a full slab for every page its page source could still hand out.  Checked (for
        large counts only) before anything is allocated, so that a huge count is OutOfMemory on
        both backends without allocating (or sizing an array for) count objects."""
        if count <= _args.BULK_CLAMP:
            return False
        st = self._core_stats()
        free_objects = st["total_objects"] - st["inuse"]
        pages = _args.free_pages_of(self.allocator.page_source)
        return count > free_objects + (pages >> self.order) * self.objects

    def _check_alive(self):
        if not self.alive:
            raise ValueError(f"cache {self.name} was destroyed")

    def check(self):
        """The allocator's invariants, then this cache's poison and red zones."""
        self.allocator.check()
        if self._memory is not None:
            self._check_memory()

    def _check_memory(self):
        slabs = []
        for which in REAL_LISTS:
            for pfn in self._core_list(which):
                info = self.allocator.object_info(self.allocator.page_address(pfn))
                slabs.append((info, set(self._core_freelist(pfn))))
        self._memory.check(slabs)

    # -- debug helpers --------------------------------------------------------------------------
    def _slab_info_for(self, addr):
        addr = check_addr(addr)
        info = self.allocator.object_info(addr)
        if info["kind"] != "slab" or info["cache"] is not self:
            raise ValueError(f"0x{addr:x} is not in a slab of {self.name}")
        return info

    def write(self, addr, offset, length, value=0):
        """Scribble `length` bytes of `value` at addr + offset (any place inside the slab: object,
        red zones, padding).  Only for caches with SLAB_POISON or SLAB_RED_ZONE."""
        if self._memory is None:
            raise ValueError(f"{self.name} has no object memory (needs SLAB_POISON or SLAB_RED_ZONE)")
        offset = _args.as_int(offset, "offset")
        length = _args.as_int(length, "length")
        value = _args.as_int(value, "value")
        if length < 0 or not 0 <= value <= 255:
            raise ValueError("length must be >= 0 and value a byte")
        self._memory.write(self._slab_info_for(addr), addr, offset, length, value)

    def read(self, addr, offset, length):
        if self._memory is None:
            raise ValueError(f"{self.name} has no object memory (needs SLAB_POISON or SLAB_RED_ZONE)")
        return self._memory.read(self._slab_info_for(addr), addr, _args.as_int(offset, "offset"),
                                 _args.as_int(length, "length"))

    def __repr__(self):
        return (f"<KmemCache {self.name} object_size {self.object_size} size {self.size} "
                f"objperslab {self.objects} pagesperslab {self.pagesperslab}>")


class SlowPathMixin:
    """alloc/free of caches with a ctor or object memory: the core call plus Python work around it."""

    def _run_ctor(self, addrs):
        seen = self._constructed
        for a in addrs:
            info = self.allocator.object_info(int(a))
            if seen.get(info["pfn"]) != info["serial"]:
                seen[info["pfn"]] = info["serial"]
                base = self.allocator.page_address(info["pfn"]) + self.geometry.red_left_pad
                for i in range(info["objects"]):
                    self.ctor(base + i * self.size)

    def _after_alloc(self, addrs):
        if self.ctor is not None:
            self._run_ctor(addrs)
        if self._memory is not None:
            for a in addrs:
                self._memory.on_alloc(self.allocator.object_info(int(a)))

    def alloc(self, gfp=F.GFP_KERNEL):
        addr = super().alloc(gfp)
        self._after_alloc((addr,))
        return addr

    def alloc_bulk(self, count, gfp=F.GFP_KERNEL):
        out = super().alloc_bulk(count, gfp)
        self._after_alloc(out)
        return out

    def _debug_info(self, addr):
        """object_info of an allocated object of this cache, or None (the core diagnoses it)."""
        try:
            addr = check_addr(addr)
        except (TypeError, ValueError):
            return None
        info = self.allocator.object_info(addr)
        if (info["kind"] == "slab" and info["cache"] is self and info["allocated"] and
                info["addr"] == addr):
            return info
        return None

    def free(self, addr):
        info = self._debug_info(addr) if self._memory is not None else None
        if info is not None:
            self._memory.before_free(info)
        super().free(addr)
        if info is not None:
            self._memory.after_free(info)

    def free_bulk(self, addrs):
        if self._memory is None:
            return super().free_bulk(addrs)
        arr = addr_array(addrs)
        infos = [self._debug_info(int(a)) for a in arr]
        if all(i is not None for i in infos) and len({int(a) for a in arr}) == len(arr):
            for info in infos:
                self._memory.before_free(info)
        super().free_bulk(arr)
        for info in infos:
            self._memory.after_free(info)


class SlabAllocatorCommon:
    """The slab layer of one machine: every cache, kmalloc, slabinfo."""

    page_reclaim = None     # (gfp, order) -> reclaimed?  The Kernel's (retry_after_reclaim)

    def _setup(self, *, cpus, slab_nomerge, boot, dma, boot_objects=True):
        """After the backend's own state; self.page_offset and self.direct_map_end are set."""
        self.cpus = _args.as_int(cpus, "cpus")
        if self.cpus < 1:
            raise ValueError("cpus must be >= 1")
        self.slab_nomerge = bool(slab_nomerge)
        self.caches = []                # root caches in creation order (slab_caches, oldest first)
        self._by_index = {}
        self._kmalloc = {}              # (type, index) -> KmemCache
        self.kmem_cache = None
        self.kmem_cache_node = None
        if boot:
            self._boot(dma, boot_objects)

    def page_address(self, pfn):
        """page_address() of a lowmem page: the direct-map address of pfn."""
        return self.page_offset + pfn * PAGE_SIZE

    # -- boot -----------------------------------------------------------------------------------
    def _boot(self, dma, boot_objects):
        """kmem_cache_init(): kmem_cache_node, kmem_cache, then the kmalloc caches.  Each cache
        takes a kmem_cache and a kmem_cache_node object; boot_objects=False leaves them out for
        the boot caches (no page is allocated before the first user of the slab)."""
        node = self._create("kmem_cache_node", KMEM_CACHE_NODE_OBJECT_SIZE, 0,
                            F.SLAB_HWCACHE_ALIGN, None, None, kmalloc=False)
        cache = self._create("kmem_cache", KMEM_CACHE_OBJECT_SIZE, 0, F.SLAB_HWCACHE_ALIGN,
                             None, None, kmalloc=False)
        self.kmem_cache_node, self.kmem_cache = node, cache
        node.refcount = cache.refcount = -1     # create_boot_cache(): "Exempt from merging"
        node.permanent = cache.permanent = True
        # bootstrap() list_add()s kmem_cache, then kmem_cache_node: the latter is listed first
        self.caches[:2] = [cache, node]
        if not boot_objects:
            self._meta_off = True
        for c in (node, cache):
            self._alloc_meta(c)
        types = [K.KMALLOC_NORMAL, K.KMALLOC_RECLAIM] + ([K.KMALLOC_DMA] if dma else []) + [K.KMALLOC_CGROUP]
        for t in types:
            for idx in K.CREATION_ORDER:
                # create_kmalloc_cache(): usersize = size, so never a merge target
                # (slab_unmergeable() with CONFIG_HARDENED_USERCOPY)
                c = self._create(K.cache_name(t, idx), K.index_size(idx), 0, K.TYPE_FLAGS[t],
                                 None, None, kmalloc=True, usersize=K.index_size(idx))
                c.permanent = True
                self._kmalloc[(t, idx)] = c
                self._core_set_kmalloc(t, idx, c)
        self._meta_off = False

    def _alloc_meta(self, c):
        if self.kmem_cache is not None and not getattr(self, "_meta_off", False):
            self.__dict__.pop("_meta_addrs", None)
            c._meta = [(self.kmem_cache, self.kmem_cache.alloc()),
                       (self.kmem_cache_node, self.kmem_cache_node.alloc())]

    def _create(self, name, size, align, flags, ctor, freeptr_offset, *, kmalloc, usersize=0):
        geometry = calculate_sizes(size, align=align, flags=flags, ctor=ctor is not None,
                                   cpus=self.cpus, freeptr_offset=freeptr_offset, kmalloc=kmalloc)
        c = self._core_new_cache(name, geometry, ctor)
        c.usersize = usersize
        self.caches.append(c)
        self._alloc_meta(c)
        return c

    # -- kmem_cache_create ----------------------------------------------------------------------
    def kmem_cache_create(self, name, size, *, align=0, flags=0, ctor=None, freeptr_offset=None,
                          useroffset=0, usersize=0):
        """A new cache, or an existing compatible one (an alias) as SLUB's find_mergeable().
        A usercopy region (usersize > 0, kmem_cache_create_usercopy()) prevents merging."""
        if not isinstance(name, str) or not name or " " in name:
            raise ValueError(f"cache name must be a non-empty string without spaces, got {name!r}")
        size = _args.as_int(size, "size")
        align = _args.as_int(align, "align")
        flags = _args.as_int(flags, "flags")
        if not 1 <= size <= K.KMALLOC_MAX_SIZE:
            raise ValueError(f"size must be in 1..{K.KMALLOC_MAX_SIZE}, got {size}")
        if align < 0 or align & (align - 1) or align > PAGE_SIZE:
            raise ValueError(f"align must be 0 or a power of two <= {PAGE_SIZE}, got {align}")
        if flags & ~F.SLAB_FLAGS_PERMITTED or flags < 0:
            raise ValueError(f"flags 0x{flags:x} include bits kmem_cache_create() refuses")
        if ctor is not None and not callable(ctor):
            raise ArgumentTypeError("ctor must be callable or None")
        if freeptr_offset is not None:
            freeptr_offset = _args.as_int(freeptr_offset, "freeptr_offset")
            if (not flags & F.SLAB_TYPESAFE_BY_RCU or freeptr_offset % WORD or
                    not 0 <= freeptr_offset <= size - WORD):
                raise ValueError("freeptr_offset needs SLAB_TYPESAFE_BY_RCU and an aligned word "
                                 "inside the object")
        useroffset = _args.as_int(useroffset, "useroffset")
        usersize = _args.as_int(usersize, "usersize")
        if useroffset < 0 or usersize < 0 or useroffset + usersize > size:
            raise ValueError("the usercopy region must lie inside the object")
        alias = None if usersize else self.find_mergeable(size, align, flags, ctor)
        if alias is not None:
            alias.refcount += 1
            alias.aliases.append(name)
            alias.object_size = max(alias.object_size, size)
            return alias
        return self._create(name, size, align, flags, ctor, freeptr_offset, kmalloc=False,
                            usersize=usersize)

    def find_mergeable(self, size, align, flags, ctor):
        if self.slab_nomerge or ctor is not None:
            return None
        size = align_up(size, WORD)
        align = calculate_alignment(flags, align, size)
        size = align_up(size, align)
        if flags & F.SLAB_NEVER_MERGE:
            return None
        for s in self.caches:               # list_for_each_entry_reverse: oldest first
            if (s.flags & F.SLAB_NEVER_MERGE or s.ctor is not None or s.usersize or
                    s.refcount < 0 or not s.alive):
                continue
            if size > s.size:
                continue
            if (flags & F.SLAB_MERGE_SAME) != (s.flags & F.SLAB_MERGE_SAME):
                continue
            if s.size & ~(align - 1) != s.size:
                continue
            if s.size - size >= WORD:
                continue
            return s
        return None

    def _metadata_owner(self, addr):
        """The live cache whose kmem_cache or kmem_cache_node object is at addr, or None.  The
        boot caches are never merged into, so their objects are only these descriptors."""
        meta = self.__dict__.get("_meta_addrs")
        if meta is None:                    # (rebuilt after a cache comes or goes)
            meta = self._meta_addrs = {a: c for c in self.caches for _, a in c._meta}
        return meta.get(addr)

    def _cache_destroyed(self, c):
        self.__dict__.pop("_meta_addrs", None)
        self.caches.remove(c)
        for owner, addr in c._meta:
            owner.free(addr)
        c._meta = []
        for key, kc in list(self._kmalloc.items()):
            if kc is c:
                del self._kmalloc[key]

    def cache(self, name):
        """The live cache of that name (or alias name)."""
        for c in reversed(self.caches):
            if c.name == name or name in c.aliases:
                return c
        raise KeyError(name)

    def kmalloc_cache(self, size, gfp=F.GFP_KERNEL):
        """The cache kmalloc(size, gfp) uses, or None for a large (page) allocation."""
        size = _args.as_int(size, "size")
        gfp = check_gfp(gfp) & ~F.GFP_SLAB_BUG_MASK
        if not 1 <= size <= K.KMALLOC_MAX_SIZE:
            raise ValueError(f"size must be in 1..{K.KMALLOC_MAX_SIZE}, got {size}")
        if size > K.KMALLOC_MAX_CACHE_SIZE:
            return None
        return self._kmalloc.get((K.kmalloc_type(gfp), K.kmalloc_index(size)))

    def krealloc(self, addr, new_size, gfp=F.GFP_KERNEL):
        """krealloc(): the same address when the object already holds new_size, else a new
        object (the old one freed); new_size 0 frees and returns ZERO_SIZE_PTR."""
        addr = check_addr(addr)
        new_size = _args.as_int(new_size, "new_size")
        if new_size == 0:
            self.kfree(addr)
            return K.ZERO_SIZE_PTR
        if addr > K.ZERO_SIZE_PTR:
            ks = self.ksize(addr)
            if new_size <= ks:
                return addr
        new = self.kmalloc(new_size, gfp)
        if addr > K.ZERO_SIZE_PTR:
            self.kfree(addr)
        return new

    # -- accounting -----------------------------------------------------------------------------
    def meminfo(self):
        """kB for /proc/meminfo: Slab, SReclaimable, SUnreclaim."""
        rec, unrec = self._core_counters()[:2]
        return {"Slab": (rec + unrec) >> 10, "SReclaimable": rec >> 10, "SUnreclaim": unrec >> 10}

    def vmstat(self):
        """Pages for /proc/vmstat: nr_slab_reclaimable, nr_slab_unreclaimable."""
        rec, unrec = self._core_counters()[:2]
        return {"nr_slab_reclaimable": rec >> PAGE_SHIFT, "nr_slab_unreclaimable": unrec >> PAGE_SHIFT}

    def large_kmalloc(self):
        """(pages, blocks) of kmalloc() served straight from the page allocator."""
        return tuple(self._core_counters()[2:4])

    def slabinfo_rows(self):
        rows = []
        for c in reversed(self.caches):                     # newest first
            st = c.stats()
            # get_slabinfo(): free objects in cpu slabs count as active
            rows.append((c.name, st["total_objects"] - st["partial_free"], st["total_objects"],
                         c.size, c.objects,
                         c.pagesperslab, st["nr_slabs"], st["nr_slabs"]))
        return rows

    def slabinfo(self):
        """/proc/slabinfo, byte for byte in the kernel's format (version 2.1)."""
        return render_slabinfo(self.slabinfo_rows())

    def slabtop(self, sort="objs", limit=None):
        from .slabinfo import render_slabtop
        return render_slabtop(self.slabinfo_rows(), sort=sort, limit=limit)

    # -- checks ---------------------------------------------------------------------------------
    def check(self):
        self._core_check()
        page_info = getattr(self.page_source, "page_info", None)
        for c in self.caches:
            if page_info is not None:           # every slab is an allocated block of its order
                for which in REAL_LISTS:
                    for pfn in c._core_list(which):
                        order = self.object_info(self.page_address(pfn))["order"]
                        pi = page_info(pfn)
                        if pi["state"] != "allocated" or pi["order"] != order:
                            raise InvariantError(f"{c.name}: slab at pfn {pfn} (order {order}) "
                                                 f"is {pi['state']} order {pi['order']} in the "
                                                 f"page allocator")
            if c._memory is not None:
                c._check_memory()
            st = c.stats()
            if st["nr_empty"] > c.min_partial:
                raise InvariantError(f"{c.name}: {st['nr_empty']} empty slabs kept, min_partial "
                                     f"{c.min_partial}")

    def _free_error(self, code, addr, cache):
        """The InvalidFree for a refused free of addr (cache None: kfree)."""
        reason = REASONS.get(code)
        if reason is None:
            return ValueError(f"free failed with code {code}")
        name = cache.name if cache is not None else "kfree"
        other = offset = None
        info = self.object_info(addr) if 0 <= addr < 2**64 else {"kind": None}
        if info["kind"] == "slab":
            owner = info["cache"]
            other = owner.name
            if cache is None:
                name = owner.name
            offset = addr - self.page_address(info["pfn"])
        return D.invalid_free(reason, name, addr, other=other, offset=offset)


def allocflags(g):
    """s->allocflags: __GFP_COMP, plus GFP_DMA / GFP_DMA32 / __GFP_RECLAIMABLE from the flags."""
    f = F.GFP_COMP
    if g.flags & F.SLAB_CACHE_DMA:
        f |= F.GFP_DMA
    if g.flags & F.SLAB_CACHE_DMA32:
        f |= F.GFP_DMA32
    if g.flags & F.SLAB_RECLAIM_ACCOUNT:
        f |= F.GFP_RECLAIMABLE
    return f
