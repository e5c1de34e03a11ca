"""Kernel: the simulated machine, the one object users start from.

It owns every subsystem.  Each subsystem lives in its own module and is attached here; the
Kernel's public methods are thin delegations so that the whole API is discoverable on one class.
/proc files are rendered by functions registered with ``register_proc``.
"""
import importlib
import weakref

from . import _args
from . import boot as _boot
from . import procfs as _procfs
from . import watermarks as _wm
from .errors import ArgumentTypeError, InvariantError, SysctlError
from .gfp import GFP_KERNEL
from .page import Page
from .printk import KERN_INFO, LogBuffer
from .procfs.items import ZONE_TEXT as _ZONE_TEXT
from .slab.debug import PAGE_OFFSET
from .sync import UNSHARED, synchronized
from .units import parse_size
from .zone import Zone, ZoneList

MAX_PAGE_ORDER = 10
I386_PAGE_OFFSET = 0xC0000000        # i386 CONFIG_VMSPLIT_3G: lowmem at 0xC0000000 + physical
PAGEBLOCK_ORDER = 9
THP_MODES = ("always", "madvise", "never")


@synchronized(exclude=("alloc_pages", "free_pages", "alloc_pages_bulk", "free_pages_bulk",
                       "drain_pages"))
class Kernel:
    """A simulated x86 machine running Linux 6.18's memory management.

    Physical memory (docs/physical.md): ``Kernel(mem)`` or ``Kernel(e820=...)`` boots as x86
    Linux does (e820 -> memblock -> zones), hands the free memory to the page allocator
    (``backend="c"``: linuxmm.page_alloc, ``"reference"``: linuxmm.reference.page_alloc) and
    sets min_free_kbytes, watermarks, lowmem_reserve and pcp limits with the kernel's formulas.
    ``k.zones``, ``k.page(pfn)``, ``k.alloc_pages``/``free_pages`` (+ ``_bulk``),
    ``k.read("/proc/zoneinfo")``; sysctls ``min_free_kbytes``, ``watermark_scale_factor``,
    ``lowmem_reserve_ratio``, ``percpu_pagelist_high_fraction`` are assignable attributes.
    Safe to share between threads: every method holds the machine's lock (``k.lock``), the
    allocation fast paths through the C engine's own locking (linuxmm.sync).
    """

    def __init__(self, mem=None, *, arch="x86_64", e820=None, reserved=None, cpus=2,
                 min_free_kbytes=None, watermark_scale_factor=10, swap=0,
                 randomize_va_space=2, seed=0, slab_nomerge=False, backend="c",
                 transparent_hugepage="madvise", lowmem_reserve_ratio=None,
                 percpu_pagelist_high_fraction=0, boot_allocations=None, read_ahead_kb=128,
                 max_sectors_kb=1280, swappiness=60, page_cluster=3, rootfs="/"):
        from .vm.files import check_rootfs
        self.lock = UNSHARED          # until the page allocator's lock exists (_boot_physical)
        self._rootfs = check_rootfs(rootfs)     # where open/execve find host files
        if backend not in ("c", "reference"):
            raise ValueError(f"backend must be 'c' or 'reference', got {backend!r}")
        self.backend = backend
        self.arch = arch
        self.mem = parse_size(mem if mem is not None else "1G")
        self.cpus = _args.as_int(cpus, "cpus")
        if not 1 <= self.cpus <= 1024:
            raise ValueError(f"cpus must be in 1..1024, got {self.cpus}")
        self.swap = parse_size(swap)
        self.randomize_va_space = randomize_va_space
        self.seed = _args.as_int(seed, "seed")
        self.slab_nomerge = bool(slab_nomerge)
        # Subsystems, registered closures and processes hold this weak proxy, never the Kernel
        # itself: the Kernel is in no reference cycle, so `del k` frees the machine at once.
        self._me = weakref.proxy(self)
        self._procfs = {}
        self._stat_sources = []
        self._checkers = []          # each subsystem's check(), run by Kernel.check()
        self.now = 0                 # simulated time, ns (printk timestamps)
        self.current = None          # the Process whose call the kernel is running (`current`)
        self._log = LogBuffer(lambda me=self._me: me.now)
        # -- physical memory (linuxmm/boot, watermarks, zone, page, procfs) --
        self._boot_physical(e820, reserved, min_free_kbytes, watermark_scale_factor,
                            transparent_hugepage, lowmem_reserve_ratio,
                            percpu_pagelist_high_fraction, boot_allocations)
        # -- slab (linuxmm/slab) --
        self._slab_init()
        # -- end slab --
        # -- page frames, page tables, page cache (linuxmm/mmu, linuxmm/vm/memory) --
        self._mmu_init(read_ahead_kb, max_sectors_kb)
        # -- processes and address spaces (linuxmm/vm) --
        self._vm_init()
        # -- simulated time, PSI, writeback (linuxmm/vm/clock.py, psi.py, writeback.py) --
        self._time_init()
        # -- reclaim and swap (linuxmm/vm/vmscan, linuxmm/vm/swap) --
        self._reclaim_init(swappiness, page_cluster)
        # -- compaction (linuxmm/vm/compaction) --
        self._compaction_init()

    # -- snapshots (linuxmm/snapshot.py) --------------------------------------------------------
    def save(self, path):
        """Write the whole simulated state to path (a versioned, checksummed snapshot)."""
        from .snapshot import save
        save(self, path)

    @staticmethod
    def load(path):
        """The Kernel a snapshot written by save() holds; SnapshotError for a damaged, truncated
        or foreign file."""
        from .snapshot import load
        return load(path)

    @property
    def rootfs(self):
        """Where open() and execve() find host files: "/", a sysroot directory, or None."""
        return self._rootfs

    # -- physical memory ------------------------------------------------------------------------
    def _boot_physical(self, e820, reserved, min_free_kbytes, watermark_scale_factor,
                       transparent_hugepage, lowmem_reserve_ratio, high_fraction,
                       boot_allocations):
        if self.arch not in _boot.ARCHES:
            raise ValueError(f"arch must be one of {_boot.ARCHES}, got {self.arch!r}")
        self.transparent_hugepage = transparent_hugepage
        self.max_order = MAX_PAGE_ORDER
        self.pageblock_order = PAGEBLOCK_ORDER
        self.numa = self.arch == "x86_64"       # CONFIG_NUMA (numa_* counters shown)
        self._wmark_scale = self._check_scale_factor(watermark_scale_factor)
        self._high_fraction = self._check_high_fraction(high_fraction)
        if min_free_kbytes is not None:
            min_free_kbytes = _args.sysctl_int(min_free_kbytes, "min_free_kbytes")
        if boot_allocations is None:        # reserved= alone describes memblock.reserved
            boot_allocations = reserved is None
        layout = _boot.boot(self.mem, arch=self.arch, e820=e820, reserved=reserved,
                            boot_allocations=bool(boot_allocations))
        if e820 is not None:
            self.mem = _boot.count(layout.memory) << _boot.PAGE_SHIFT
        self.layout = layout
        self._zone_names = layout.names
        self._present = layout.present
        self._ratios = self._check_ratios(lowmem_reserve_ratio)
        module = importlib.import_module(
            "linuxmm.page_alloc" if self.backend == "c" else "linuxmm.reference.page_alloc")
        self._pa = module.PageAllocator(layout.spans, cpus=self.cpus, max_order=MAX_PAGE_ORDER,
                                        pageblock_order=PAGEBLOCK_ORDER)
        # the machine's one lock (linuxmm.sync): the page allocator's, which the slab
        # allocator and the MMU share, so every engine call and every method is serialized
        self.lock = self._pa.lock
        for start, end in layout.free:                  # memblock_free_all()
            self._pa.free_boot_range(start, end)
        managed = self._managed()
        # init_per_zone_wmark_min(): square-root rule while every watermark is still 0
        names = self._zone_names
        self._user_min_free_kbytes = -1
        self._min_free_kbytes = _wm.min_free_kbytes_sqrt(names, managed, [0] * len(names))
        self._setup_per_zone_wmarks(boot=True)
        if transparent_hugepage != "never":             # khugepaged start
            high = [w[2] for w in self._wmarks]
            rec = _wm.min_free_kbytes_thp(names, self._present, managed, high,
                                          PAGEBLOCK_ORDER)
            if rec > self._min_free_kbytes:
                self._min_free_kbytes = rec
                self._setup_per_zone_wmarks()
        if min_free_kbytes is not None:                 # sysctl vm.min_free_kbytes written
            self.min_free_kbytes = min_free_kbytes
        _procfs.register(self._me)
        # The hot entry points are the engine's own (same signatures and defaults): they shadow
        # the documented methods below without a delegation frame.
        self.alloc_pages, self.free_pages = self._pa.alloc_pages, self._pa.free_pages

    def _managed(self):
        pa = self._pa
        return [pa.managed_pages(i) for i in range(len(self._zone_names))]

    @staticmethod
    def _check_scale_factor(value):
        return _args.sysctl_int(value, "watermark_scale_factor", 1,
                                _wm.MAX_WATERMARK_SCALE_FACTOR)

    @staticmethod
    def _check_high_fraction(value):
        value = _args.sysctl_int(value, "percpu_pagelist_high_fraction")
        if value != 0 and value < _wm.MIN_PERCPU_PAGELIST_HIGH_FRACTION:
            import errno
            raise SysctlError(errno.EINVAL, f"vm.percpu_pagelist_high_fraction must be 0 or "
                              f">= 8, got {value}")
        return value

    def _check_ratios(self, ratios, default_none=True):
        if ratios is None and default_none:
            return [_wm.LOWMEM_RESERVE_RATIO[name] for name in self._zone_names]
        if isinstance(ratios, (str, bytes)) or not hasattr(ratios, "__iter__"):
            raise ArgumentTypeError(f"lowmem_reserve_ratio must be a sequence of integers, "
                                    f"not {type(ratios).__name__}")
        ratios = [_args.sysctl_int(r, "lowmem_reserve_ratio", -_args.INT_MAX - 1)
                  for r in ratios]
        if len(ratios) != len(self._zone_names):
            import errno
            raise SysctlError(errno.EINVAL,
                              f"lowmem_reserve_ratio needs {len(self._zone_names)} values "
                              f"(one per zone: {' '.join(self._zone_names)}), got {len(ratios)}")
        return [r if r >= 1 else 0 for r in ratios]     # values < 1 become 0

    def _retune(self, **values):
        """Assign zone-shaping sysctls and recompute the watermarks; if the page allocator
        refuses the result, every value and tunable is put back and SysctlError raised."""
        with self.lock:
            old = {name: getattr(self, name) for name in values}
            for name, value in values.items():
                setattr(self, name, value)
            try:
                self._setup_per_zone_wmarks()
            except (ValueError, OverflowError) as err:
                for name, value in old.items():
                    setattr(self, name, value)
                self._setup_per_zone_wmarks()
                import errno
                raise SysctlError(errno.EINVAL, f"refused: {err}") from None

    def _setup_per_zone_wmarks(self, boot=False):
        """__setup_per_zone_wmarks + lowmem_reserve + totalreserve + pcp + thresholds, pushed
        into the page allocator (the kernel recomputes all of these together).  pcp->high
        starts at 0 (BOOT_PAGESET_HIGH) and is then tuned by the allocator inside
        [high_min, high_max]; later recomputations leave it alone as pageset_update() does."""
        names, pa = self._zone_names, self._pa
        managed = self._managed()
        self._wmarks = _wm.zone_watermarks(names, managed, self._min_free_kbytes,
                                           self._wmark_scale)
        self._reserve = _wm.lowmem_reserve(names, managed, self._ratios)
        high = [w[2] for w in self._wmarks]
        self.totalreserve_pages = _wm.totalreserve_pages(managed, high, self._reserve)
        self._pcp = [_wm.pcp_limits(m, w[1], self.cpus, self._high_fraction)
                     for m, w in zip(managed, self._wmarks)]
        self._thresholds = [_wm.stat_threshold(m, self.cpus) for m in managed]
        for i, (w, pcp) in enumerate(zip(self._wmarks, self._pcp)):
            batch, high_min, high_max = pcp
            pa.set_zone_tunables(i, wmark_min=w[0], wmark_low=w[1], wmark_high=w[2],
                                 wmark_promo=w[3], lowmem_reserve=self._reserve[i],
                                 pcp_high=0 if boot else None, pcp_batch=batch,
                                 pcp_high_min=high_min, pcp_high_max=high_max)
            pa.clear_watermark_boost(i)          # zone->watermark_boost = 0

    # sysctls of vm.* that shape the zones; writing one recomputes as the kernel's handler does
    @property
    def min_free_kbytes(self):
        """vm.min_free_kbytes (boot value: max(sqrt rule, THP rule)); assignable."""
        return self._min_free_kbytes

    @min_free_kbytes.setter
    def min_free_kbytes(self, value):
        value = _args.sysctl_int(value, "min_free_kbytes")
        self._retune(_min_free_kbytes=value, _user_min_free_kbytes=value)

    @property
    def watermark_scale_factor(self):
        return self._wmark_scale

    @watermark_scale_factor.setter
    def watermark_scale_factor(self, value):
        self._retune(_wmark_scale=self._check_scale_factor(value))

    @property
    def lowmem_reserve_ratio(self):
        return list(self._ratios)

    @lowmem_reserve_ratio.setter
    def lowmem_reserve_ratio(self, value):
        self._retune(_ratios=self._check_ratios(value, default_none=False))

    @property
    def percpu_pagelist_high_fraction(self):
        return self._high_fraction

    @percpu_pagelist_high_fraction.setter
    def percpu_pagelist_high_fraction(self, value):
        self._retune(_high_fraction=self._check_high_fraction(value))

    @property
    def zones(self):
        """Every configured zone of node 0 in zone-index order (empty ones included)."""
        layout = self.layout
        return ZoneList(Zone(self._pa, i, name, start, spanned, self._present[i],
                             self._reserve[i], self._pcp[i], self._thresholds[i], self.cpus,
                             layout.offline_pageblocks[i])
                        for i, (name, start, spanned) in enumerate(layout.spans))

    def zone(self, name):
        """The zone called name ("DMA", "DMA32", "Normal", "HighMem", "Movable", "Device");
        ValueError for a name this machine has no zone of."""
        for z in self.zones:
            if z.name == name:
                return z
        raise ValueError(f"no zone {name!r} on {self.arch} (zones: {' '.join(self._zone_names)})")

    def alloc_pages(self, gfp=GFP_KERNEL, order=0, cpu=0):
        """pfn of the first page of 2**order pages (alloc_pages): zone from gfp, zonelist
        fallback, watermark checks; OutOfMemory on failure, ValueError on bad gfp/order/cpu."""
        return self._pa.alloc_pages(gfp, order, cpu)

    def free_pages(self, pfn, order=0, cpu=0):
        """__free_pages(): InvalidFree (state unchanged) unless pfn heads an allocation of order."""
        self._pa.free_pages(pfn, order, cpu)

    def alloc_pages_bulk(self, gfp=GFP_KERNEL, count=1, cpu=0):
        """Up to count order-0 pages as an int64 numpy array (short when memory runs out)."""
        return self._pa.alloc_pages_bulk(gfp, count, cpu)

    def free_pages_bulk(self, pfns, cpu=0):
        """Free order-0 pages given as an array or sequence of pfns; all or nothing."""
        self._pa.free_pages_bulk(pfns, cpu)

    def drain_pages(self, cpu=None):
        """Return the pages cached on per-CPU lists (one CPU or all) to the buddy lists."""
        self._pa.drain_pages(cpu)

    def zonelist(self, gfp=GFP_KERNEL):
        """Names of the zones an allocation with gfp tries, in order (the fallback zonelist
        from gfp_zone(gfp) down, managed zones only); ValueError on bad gfp."""
        return [self._zone_names[i] for i in self._pa.zonelist_for(gfp)]

    def page(self, pfn):
        """A view of struct page for pfn; ValueError when the pfn has no struct page (beyond
        the end of memory, or in a 128 MiB section without RAM: pfn_valid() is false)."""
        pfn = _args.as_int(pfn, "pfn")
        layout = self.layout
        if not 0 <= pfn < layout.max_pfn or \
                pfn // _boot.PAGES_PER_SECTION not in layout.sections:
            raise ValueError(f"pfn {pfn} has no struct page (no RAM in its memory section)")
        info = self._pa.page_info(pfn)
        zone = info.get("zone")
        if zone is None:       # hole outside every zone span: memmap_init gives it the zone
            zone = self._hole_zone(pfn)     # of the memory that follows (or the last one)
        page = Page(pfn, self._zone_names[zone], info["state"], info.get("order"),
                    info.get("migratetype"), compound=info.get("compound", False))
        if info["state"] in ("allocated", "tail"):
            self._slab_page(page)
            self._user_page(page)
        return page

    def _user_page(self, page):
        """k.page() of a frame the fault path owns: its refcount, mapcount, flags, kind."""
        from .vm.mmu_defs import (PG_ACTIVE, PG_ANON, PG_DIRTY, PG_FILE, PG_LRU, PG_PGTABLE,
                                  PG_READAHEAD, PG_REFERENCED, PG_SWAPBACKED, PG_UPTODATE)
        mmu = self.mmu
        pfn = page.pfn
        flags = int(mmu.flags[pfn])
        if not flags & (PG_ANON | PG_FILE | PG_PGTABLE):
            return
        page.refcount = int(mmu.refcount[pfn])
        page.mapcount = int(mmu.mapcount[pfn])
        if flags & PG_PGTABLE:
            page.page_type = "table"
            return
        page.page_type = "anon" if flags & PG_ANON else "file"
        names = [("PG_referenced", PG_REFERENCED), ("PG_uptodate", PG_UPTODATE),
                 ("PG_dirty", PG_DIRTY), ("PG_lru", PG_LRU), ("PG_active", PG_ACTIVE),
                 ("PG_swapbacked", PG_SWAPBACKED), ("PG_readahead", PG_READAHEAD)]
        page.flags = tuple(page.flags) + tuple(n for n, bit in names if flags & bit)
        page.index = int(mmu.index[pfn])

    def _hole_zone(self, pfn):
        spans = self.layout.spans
        for i, (_, start, spanned) in enumerate(spans):
            if spanned and pfn < start + spanned:
                return i
        return max(i for i, (_, _, spanned) in enumerate(spans) if spanned)

    def __repr__(self):
        return (f"<Kernel {self.arch} {self.mem >> 20} MiB, {self.cpus} cpus, "
                f"backend {self.backend!r}>")

    def register_stats(self, source):
        """Add a callable returning {vmstat item name: value}; /proc/vmstat, meminfo and
        zoneinfo add up every source (later subsystems: slab, LRU, page tables...)."""
        self._stat_sources.append(source)

    def vm_counters(self):
        """Every counter known to the simulation, by /proc/vmstat item name."""
        values = dict(self._pa.vmstat())
        for name in self._zone_names:       # the engine names pgalloc_* by zone name
            text = _ZONE_TEXT[name]
            if text != name.lower() and f"pgalloc_{name.lower()}" in values:
                values[f"pgalloc_{text}"] = values.pop(f"pgalloc_{name.lower()}")
        nr_free = 0
        blocks = 0
        for i in range(len(self._zone_names)):
            nr_free += self._pa.nr_free_pages(i)
            blocks += sum(n << o for o, n in enumerate(self._pa.nr_free(i))
                          if o >= self.pageblock_order)
        values["nr_free_pages"] = nr_free
        values["nr_free_pages_blocks"] = blocks
        values["nr_memmap_boot_pages"] = self.layout.memmap_pages
        for source in self._stat_sources:
            for name, value in source().items():
                values[name] = values.get(name, 0) + value
        dirty, background = self._dirty_limits(values)
        values["nr_dirty_threshold"] = dirty
        values["nr_dirty_background_threshold"] = background
        return values

    def _dirty_limits(self, v=None):
        """global_dirty_limits() with the vm.dirty_* sysctls: (thresh, bg_thresh) in pages.
        v: the vm_counters() being built, or None to read the free pages and file LRU here."""
        highmem_free = 0
        if "HighMem" in self._zone_names:        # vm_highmem_is_dirtyable = 0
            hi = self._zone_names.index("HighMem")
            hfree = self._pa.nr_free_pages(hi)
            highmem_free = hfree - min(hfree, self._wmarks[hi][2] + max(self._reserve[hi]))
        if v is None:
            from .vm.mmu_defs import NR_ACTIVE_FILE, NR_INACTIVE_FILE
            node = self.mmu.node
            free = sum(self._pa.nr_free_pages(i) for i in range(len(self._zone_names)))
            file_lru = int(node[NR_INACTIVE_FILE]) + int(node[NR_ACTIVE_FILE])
        else:
            free = v["nr_free_pages"]
            file_lru = v.get("nr_inactive_file", 0) + v.get("nr_active_file", 0)
        wb = self.__dict__.get("wb")
        if wb is None:
            return _wm.dirty_limits(free, self.totalreserve_pages, file_lru, highmem_free)
        return _wm.dirty_limits(free, self.totalreserve_pages, file_lru, highmem_free,
                                dirty_ratio=wb.dirty_ratio,
                                background_ratio=wb.dirty_background_ratio,
                                dirty_bytes=wb.dirty_bytes,
                                background_bytes=wb.dirty_background_bytes)

    def mem_available(self):
        """si_mem_available() in pages (MemAvailable)."""
        v = self.vm_counters()
        wmark_low = sum(self._pa.watermarks(i)[1] for i in range(len(self._zone_names)))
        return _wm.si_mem_available(
            v["nr_free_pages"], self.totalreserve_pages, wmark_low,
            v.get("nr_active_file", 0) + v.get("nr_inactive_file", 0),
            v.get("nr_slab_reclaimable", 0) + v.get("nr_kernel_misc_reclaimable", 0))

    def direct_map_kb(self):
        """DirectMap* lines of meminfo: RAM ranges split into 4k/2M/1G-aligned pieces
        (an approximation of the kernel's init_memory_mapping, see docs/physical.md)."""
        sizes = (1, 512, 262144) if self.arch == "x86_64" else (1, 512)
        totals = [0] * len(sizes)
        totals[0] += 256                            # [0, 1 MiB): init_memory_mapping(0, ISA_END)
        for start, end in _boot.intersect(self.layout.memory, 256, self.layout.max_low_pfn):
            pfn = start                             # i386: only lowmem is direct-mapped
            while pfn < end:
                for level in range(len(sizes) - 1, -1, -1):
                    step = sizes[level]
                    if pfn % step == 0 and pfn + step <= end:
                        totals[level] += step
                        pfn += step
                        break
        names = ("DirectMap4k", "DirectMap2M", "DirectMap1G")
        return [(names[i], totals[i] * 4) for i in range(len(sizes))]

    def check(self):
        """Walk the page allocator's state, the zones' boot numbers and then every subsystem's own
        check() (slab, address spaces); InvariantError when broken."""
        self._check_physical()
        for check in self._checkers:
            check()

    def _check_physical(self):
        self._pa.check()
        for i, name in enumerate(self._zone_names):
            managed = self._pa.managed_pages(i)
            if managed != self.layout.managed[i] or managed > self._present[i]:
                raise InvariantError(f"zone {name}: managed {managed} differs from boot "
                                     f"({self.layout.managed[i]}, present {self._present[i]})")
            boost = self._pa.watermark_boost(i)
            if tuple(w - boost for w in self._pa.watermarks(i)) != tuple(self._wmarks[i]):
                raise InvariantError(f"zone {name}: watermarks {self._pa.watermarks(i)} are not "
                                     f"the computed {self._wmarks[i]} + boost {boost}")

    # -- slab (linuxmm/slab) -------------------------------------------------------------------
    def _slab_init(self):
        """kmem_cache_init(): the boot caches and kmalloc caches, pages from the page allocator
        (cpu 0); /proc/slabinfo; NR_SLAB_* counters for /proc/meminfo and /proc/vmstat."""
        module = importlib.import_module(
            "linuxmm.slab.cache" if self.backend == "c" else "linuxmm.reference.slab")
        # boot_objects=False: booting takes no page, so the page allocator's boot state (and the
        # zones' known answers) is what memblock_free_all() left.  Objects are direct-map
        # addresses: on i386 lowmem at 0xC0000000 + physical (slab gfp has no __GFP_HIGHMEM)
        direct_map = ({"page_offset": I386_PAGE_OFFSET,
                       "direct_map_end": I386_PAGE_OFFSET + (self.layout.max_low_pfn << 12)}
                      if self.arch == "i386" else {})
        self.slab = module.SlabAllocator(self._pa, cpus=self.cpus, slab_nomerge=self.slab_nomerge,
                                         dma="DMA" in self._zone_names, boot_objects=False,
                                         **direct_map)
        self.register_proc("/proc/slabinfo", self.slab.slabinfo)
        self.register_stats(self.slab.vmstat)
        self._checkers.append(self.slab.check)

    def kmem_cache_create(self, name, size, *, align=0, flags=0, ctor=None, freeptr_offset=None,
                          useroffset=0, usersize=0):
        """A SLUB cache (or a compatible existing one, merged as SLUB does): see docs/slab.md."""
        with self.lock:
            return self.slab.kmem_cache_create(name, size, align=align, flags=flags, ctor=ctor,
                                               freeptr_offset=freeptr_offset,
                                               useroffset=useroffset, usersize=usersize)

    def kmem_cache_destroy(self, cache):
        """cache.destroy(): CacheInUse (nothing changed) while objects remain;
        ArgumentTypeError unless cache is a KmemCache."""
        self._own_cache(cache)
        with self.lock:
            cache.destroy()

    def kmem_cache_shrink(self, cache):
        """cache.shrink(): release empty slabs; 0 when no slab remains."""
        self._own_cache(cache)
        with self.lock:
            return cache.shrink()

    def _not_slab_metadata(self, addr):
        """InvalidFree (nothing changed) when addr is the kmem_cache or kmem_cache_node object
        of a live cache (a stale pointer into a slab page the boot caches reused): kfree would
        free the cache's descriptor under it."""
        try:
            addr = _args.as_int(addr, "addr")
        except ValueError:
            return                          # the slab layer refuses it
        owner = self.slab._metadata_owner(addr)
        if owner is not None:
            from .slab.debug import invalid_free
            info = self.slab.object_info(addr)
            raise invalid_free("metadata", info["cache"].name, addr, other=owner.name)

    def _own_cache(self, cache):
        from .slab.common import KmemCacheCommon
        if not isinstance(cache, KmemCacheCommon):
            raise ArgumentTypeError(f"cache must be a KmemCache, not {type(cache).__name__}")

    def kmalloc(self, size, gfp=GFP_KERNEL):
        """kmalloc(size, gfp) -> kernel virtual address (GFP_KERNEL by default)."""
        with self.lock:
            return self.slab.kmalloc(size, gfp)

    def kfree(self, addr):
        """kfree(addr); None (NULL), 0 and ZERO_SIZE_PTR (16) are no-ops."""
        if addr is None:
            return
        with self.lock:
            self._not_slab_metadata(addr)
            self.slab.kfree(addr)

    def ksize(self, addr):
        """ksize(addr): the usable size of a kmalloc object (0 for None, 0, ZERO_SIZE_PTR)."""
        if addr is None:
            return 0
        with self.lock:
            return self.slab.ksize(addr)

    def krealloc(self, addr, new_size, gfp=GFP_KERNEL):
        """krealloc(addr, new_size, gfp): addr itself while ksize(addr) holds new_size, else a
        new object and the old one freed; krealloc(None or 0, n) is kmalloc(n)."""
        with self.lock:
            if addr is not None:
                self._not_slab_metadata(addr)
            return self.slab.krealloc(0 if addr is None else addr, new_size, gfp)

    def virt_to_page(self, addr):
        """virt_to_page(): the struct page of a direct-map address (x86_64 PAGE_OFFSET
        0xffff888000000000 + pfn * 4096; i386 lowmem 0xC0000000 + pfn * 4096): k.page(pfn).
        Every page of a slab has page_type
        'slab' and slab_cache (virt_to_slab()->slab_cache); a large kmalloc's 'large_kmalloc'."""
        addr = _args.as_int(addr, "addr")
        if self.arch == "i386":
            pfn = (addr - I386_PAGE_OFFSET) >> 12
            if addr < I386_PAGE_OFFSET or pfn >= self.layout.max_low_pfn:
                raise ValueError(f"0x{addr:x} is not a lowmem address of this machine")
            return self.page(pfn)
        pfn = (addr - PAGE_OFFSET) >> 12
        if addr < PAGE_OFFSET or pfn >= self.layout.max_pfn:
            raise ValueError(f"0x{addr:x} is not a direct-map address of this machine")
        return self.page(pfn)

    def _slab_page(self, page):
        """k.page() of an allocated page: page_type and slab_cache if the slab layer owns it."""
        with self.lock:
            info = self.slab.object_info(self.slab.page_address(page.pfn))
        if info["kind"] == "slab":
            page.page_type, page.slab_cache = "slab", info["cache"]
        elif info["kind"] == "large":
            page.page_type = "large_kmalloc"

    def slabtop(self, sort="objs", limit=None):
        """A `slabtop -o` summary of the slab caches (see SlabAllocator.slabtop)."""
        with self.lock:
            return self.slab.slabtop(sort=sort, limit=limit)

    # -- end slab -------------------------------------------------------------------------------

    # -- the kernel log (linuxmm/printk.py) ------------------------------------------------------
    def printk(self, text, level=KERN_INFO):
        """Append text to the kernel log at `level` (0 KERN_EMERG .. 7 KERN_DEBUG), stamped
        with the simulated time `now`."""
        self._log.printk(text, level)

    def dmesg(self, level=None):
        """The kernel log as dmesg prints it: "[%5lu.%06lu] text" lines (seconds.microseconds
        of `now` when each was logged); level: only records this urgent or more."""
        return self._log.dmesg(level)

    # -- /proc ----------------------------------------------------------------------------------
    def register_proc(self, path, render):
        """Make k.read(path) return render(); path may contain '<pid>' for per-process files.
        ArgumentTypeError unless path is a str and render a callable."""
        if not isinstance(path, str) or not callable(render):
            raise ArgumentTypeError("register_proc needs a str path and a callable render")
        self._procfs[path] = render

    def read(self, path):
        """The text of a /proc file, byte for byte as the kernel prints it."""
        if not isinstance(path, str):
            raise ArgumentTypeError(f"path must be a str, not {type(path).__name__}")
        render = self._procfs.get(path)
        if render is not None:
            return render()
        parts = path.split("/")
        if len(parts) >= 4 and parts[1] == "proc" and parts[2].isdigit():
            render = self._procfs.get("/proc/<pid>/" + "/".join(parts[3:]))
            if render is not None:
                return render(int(parts[2]))
        raise FileNotFoundError(2, "No such file or directory", path)

    # -- page frames, page tables and the page cache ------------------------------------------
    def _mmu_init(self, read_ahead_kb, max_sectors_kb):
        """The MMU (backend "c": linuxmm.mmu, "reference": linuxmm.reference.mmu): per-frame
        state, page contents and page tables; the backing disk's queue (read_ahead_kb,
        max_sectors_kb); the zero page (in the kernel image: never allocated)."""
        from .vm import readahead
        from .vm.mmu_defs import NODE_STAT_NAMES, VM_EVENT_NAMES
        read_ahead_kb = _args.as_int(read_ahead_kb, "read_ahead_kb")
        max_sectors_kb = _args.as_int(max_sectors_kb, "max_sectors_kb")
        if read_ahead_kb < 0 or max_sectors_kb < 4:
            raise ValueError("read_ahead_kb must be >= 0 and max_sectors_kb >= 4")
        self.bdi = readahead.Bdi(read_ahead_kb=read_ahead_kb, max_sectors_kb=max_sectors_kb)
        module = importlib.import_module(
            "linuxmm.mmu" if self.backend == "c" else "linuxmm.reference.mmu")
        image = _boot.KERNEL_START_PFN
        self.zero_pfn = image if image < self.layout.max_pfn else 0
        self.huge_zero_pfn = None
        self.rlimit_stack = 8 << 20               # RLIMIT_STACK soft limit
        # i386 is CONFIG_X86_PAE: 3-level tables (docs/vm.md "i386")
        self.mmu = module.Mmu(self._pa, self.layout.max_pfn, self.zero_pfn,
                              levels=3 if self.arch == "i386" else 4)
        # a frame the fault path owns (user page, page cache, page table, zero page) is not
        # free_pages()'s to release: the allocator refuses it (InvalidFree "mapped")
        from .vm.mmu_defs import PG_OWNER_MASK
        self._pa.set_frame_owners(self.mmu.flags, PG_OWNER_MASK)
        self.address_spaces = {}                  # every page cache that ever held a page
        self.lru_lazyfree = []                    # cpu 0's lru_lazyfree folio batch (vm/lru.py)
        self.lru_deactivate = []                  # cpu 0's lru_deactivate folio batch (MADV_COLD)
        from .vm.mlock import mlock_init
        mlock_init(self._me)                          # mlock_fbatch, mlock_count, nr_mlock (vm/mlock.py)
        mmu = self.mmu

        def counters():
            values = {name: int(mmu.node[i]) for i, name in NODE_STAT_NAMES.items()}
            values.update({name: int(mmu.events[i]) for i, name in VM_EVENT_NAMES.items()})
            return values
        self.register_stats(counters)
        self._checkers.append(lambda me=self._me: me._frames_check())
        from .kmap import Kmap
        self._kmap = Kmap(self.arch, I386_PAGE_OFFSET if self.arch == "i386" else PAGE_OFFSET,
                          self.layout.max_low_pfn, self.layout.max_pfn, self.cpus)

    # kmap (mm/highmem.c; linuxmm/kmap.py)
    def kmap(self, pfn):
        """kmap(page): the kernel address of pfn; a HighMem page (i386) takes a pkmap slot."""
        with self.lock:
            return self._kmap.kmap(pfn)

    def kunmap(self, pfn):
        """kunmap(page); InvalidFree (nothing changed) for a HighMem page not kmapped."""
        with self.lock:
            self._kmap.kunmap(pfn)

    def kmap_local_page(self, pfn, cpu=0):
        """kmap_local_page(page) on cpu: lowmem -> direct map, HighMem -> a fixmap slot."""
        with self.lock:
            return self._kmap.kmap_local_page(pfn, cpu)

    def kunmap_local(self, addr, cpu=0):
        """kunmap_local(addr): strictly the cpu's last kmap_local (else InvalidFree)."""
        with self.lock:
            self._kmap.kunmap_local(addr, cpu)

    def page_address(self, pfn):
        """page_address(page): direct-map address, pkmap address, or None (unmapped HighMem)."""
        with self.lock:
            return self._kmap.page_address(pfn)

    def kmap_stats(self):
        """pkmap slots in use/unused and kmap_local depth per CPU (no kernel counter exists)."""
        with self.lock:
            return self._kmap.stats()

    def _frames_check(self):
        from .vm.check import check_frames
        with self.lock:
            check_frames(self._me)

    def rmap(self, pfn):
        """[(pid, address)] of every user mapping of frame pfn (rmap_walk), in pid order."""
        from .vm.rmap import rmap_walk
        pfn = _args.as_int(pfn, "pfn")
        if not 0 <= pfn < self.layout.max_pfn:
            raise ValueError(f"pfn {pfn} is beyond the end of memory")
        with self.lock:
            return sorted((p.pid, addr) for p, _, addr in rmap_walk(self._me, pfn))

    def alloc_user_page(self, gfp, order=0, noretry=False):
        """Pages for user memory or the page cache (cpu 0) through the allocation slow path:
        kswapd when the allocation wakes it, direct reclaim, the OOM killer; OutOfMemory when
        nothing helps (at once after one reclaim pass with noretry / __GFP_NORETRY)."""
        from .vm.vmscan import alloc_with_reclaim
        return alloc_with_reclaim(self._me, gfp, order, noretry)

    # -- reclaim and swap (linuxmm/vm/vmscan.py, linuxmm/vm/swap.py) --------------------------
    def _reclaim_init(self, swappiness, page_cluster):
        from .vm.swap import SwapState, render_swaps
        from .vm.vmscan import SlabPageReclaim, Vmscan
        self.swappiness = swappiness          # (validating properties)
        self.page_cluster = page_cluster
        self.swap_state = SwapState(self._me)
        self.vmscan = Vmscan(self._me)
        self.slab.page_reclaim = SlabPageReclaim(self._me)      # kmalloc(GFP_KERNEL) reclaims
        self.register_stats(self.vmscan.vmstat)
        self.register_proc("/proc/swaps", lambda me=self._me: render_swaps(me))
        self._checkers.append(lambda me=self._me: me._swap_check())
        if self.swap:
            self.swap_state.swapon(self.swap, path="/swapfile")

    @property
    def total_swap_pages(self):
        """total_swap_pages: the usable slots of every active swap area."""
        return self.swap_state.total_pages()

    def swapon(self, size, priority=None, path=None):
        """swapon(2) of a new swap area of `size` bytes ("1G" style strings too); priority
        None takes the next default (-2, -3, ...).  Returns the area's path for swapoff."""
        if path is not None and not isinstance(path, str):
            raise ArgumentTypeError(f"path must be a str or None, not {type(path).__name__}")
        with self.lock:
            return self.swap_state.swapon(parse_size(size),
                                          None if priority is None
                                          else _args.as_int(priority, "priority"), path)

    def swapoff(self, path):
        """swapoff(2): the area's pages are read back first; OSError(ENOMEM) (nothing
        changed) when they do not fit, OSError(EINVAL) for an unknown path."""
        with self.lock:
            self.swap_state.swapoff(path)

    def kswapd(self):
        """Wake kswapd now (balance_pgdat): returns the pages it reclaimed."""
        from .vm.vmscan import balance_pgdat
        with self.lock:
            return balance_pgdat(self._me)

    def kswapd_log(self):
        """kswapd's runs so far (the last 100000): dicts of start and end (simulated ns,
        k.now), pages scanned and pages reclaimed, oldest first."""
        with self.lock:
            return [{"start": s, "end": e, "scanned": n, "reclaimed": r}
                    for s, e, n, r in self.vmscan.kswapd_log]

    def try_to_free_pages(self, nr_pages=32):
        """Direct reclaim as an allocation would do it (try_to_free_pages); returns the pages
        reclaimed."""
        from .vm.vmscan import try_to_free_pages
        with self.lock:
            return try_to_free_pages(self._me, GFP_KERNEL, 0, len(self._zone_names) - 1)

    def _swap_check(self):
        from .vm.swap import check_swap
        with self.lock:
            check_swap(self._me)

    # -- compaction (linuxmm/vm/compaction.py) ---------------------------------------------------
    def _compaction_init(self):
        from .vm import compaction
        compaction.init(self._me)

    def compact_memory(self):
        """echo 1 > /proc/sys/vm/compact_memory: every populated zone compacted synchronously
        from end to end (movable user pages migrate towards the zone's end)."""
        from .vm import compaction
        compaction.compact_memory(self._me)

    def compact_zone(self, zone, order=-1):
        """Compact one zone (name or index) over its whole span, synchronously; order -1 runs
        until the scanners meet, an order stops once a free block of that order exists.
        Returns the kernel's compact_result (linuxmm.vm.compaction.COMPACT_*)."""
        from .vm import compaction
        return compaction.compact_zone(self._me, zone, order)

    @property
    def extfrag_threshold(self):
        """vm.extfrag_threshold (0..1000, default 500): direct compaction of costly orders
        runs only when the zone's fragmentation index is above it."""
        return self.compaction.extfrag_threshold

    @extfrag_threshold.setter
    def extfrag_threshold(self, value):
        value = _args.sysctl_int(value, "extfrag_threshold", 0, 1000)
        self.compaction.extfrag_threshold = value

    @property
    def compact_unevictable_allowed(self):
        """vm.compact_unevictable_allowed (0 or 1, default 1): compaction may move pages of
        the unevictable LRU."""
        return self.compaction.compact_unevictable_allowed

    @compact_unevictable_allowed.setter
    def compact_unevictable_allowed(self, value):
        value = _args.sysctl_int(value, "compact_unevictable_allowed", 0, 1)
        self.compaction.compact_unevictable_allowed = value

    # -- sysctls checked on every write (docs/vm.md "Refused calls") ----------------------------
    def _int_sysctl(name, lo, hi, doc):
        key = "_sysctl_" + name

        def get(self):
            return self.__dict__[key]

        def put(self, value):
            self.__dict__[key] = _args.sysctl_int(value, name, lo, hi)
        return property(get, put, doc=doc)

    max_map_count = _int_sysctl("max_map_count", 0, _args.INT_MAX,
                                "vm.max_map_count (65530)")
    overcommit_memory = _int_sysctl("overcommit_memory", 0, 2,
                                    "vm.overcommit_memory: 0 heuristic, 1 always, 2 never")
    overcommit_ratio = _int_sysctl("overcommit_ratio", 0, _args.INT_MAX,
                                   "vm.overcommit_ratio (50; the kernel's proc_dointvec also "
                                   "takes negative values, linuxmm refuses them)")
    admin_reserve_kbytes = _int_sysctl("admin_reserve_kbytes", 0, _args.ULONG_MAX,
                                       "vm.admin_reserve_kbytes")
    user_reserve_kbytes = _int_sysctl("user_reserve_kbytes", 0, _args.ULONG_MAX,
                                      "vm.user_reserve_kbytes")
    swappiness = _int_sysctl("swappiness", 0, 200, "vm.swappiness (60)")
    page_cluster = _int_sysctl("page_cluster", 0, 31, "vm.page-cluster (3)")
    randomize_va_space = _int_sysctl("randomize_va_space", -_args.INT_MAX - 1, _args.INT_MAX,
                                     "kernel.randomize_va_space (2; proc_dointvec: any int, "
                                     "above 1 acts as 2)")
    del _int_sysctl

    @property
    def transparent_hugepage(self):
        """/sys/kernel/mm/transparent_hugepage/enabled: "always", "madvise" or "never"."""
        return self.__dict__["_thp_mode"]

    @transparent_hugepage.setter
    def transparent_hugepage(self, value):
        if not isinstance(value, str) or value not in THP_MODES:
            import errno
            raise SysctlError(errno.EINVAL, f"transparent_hugepage must be one of {THP_MODES}, "
                              f"got {value!r}")
        self.__dict__["_thp_mode"] = value

    # -- processes and address spaces (linuxmm/vm) ------------------------------------------------
    def _vm_init(self):
        from .vm.files import FileSystem
        from .vm.layout import KernelRandom
        from .vm.procfs import render_maps, render_status
        self.fs = FileSystem(self._me, self._rootfs)
        self.vm_random = KernelRandom(self.seed)
        self.max_map_count = 65530            # vm.max_map_count
        self.overcommit_memory = 0            # vm.overcommit_memory
        self.vm_committed_as = 0              # pages charged by VM_ACCOUNT and shmem
        self._processes = {}
        self._exited = weakref.WeakSet()     # exited processes still referenced (check())
        self._next_pid = 1
        self.register_stats(lambda me=self._me: {"vm_committed_as": me.vm_committed_as})
        from .vm.oom_kill import oom_init
        oom_init(self._me)                        # oom_kill count, /proc/<pid>/oom_score*
        self._checkers.append(lambda me=self._me: me._vm_check())
        # mm/util.c init_admin_reserve / init_user_reserve: from the free memory at boot
        free_kb = self._vm_free_pages_at_boot() * 4
        self.admin_reserve_kbytes = min(free_kb // 32, 1 << 13)
        self.user_reserve_kbytes = min(free_kb // 32, 1 << 17)
        self.overcommit_ratio = 50
        me = self._me

        def maps(pid):
            with me.lock:
                return render_maps(me._process(pid).mm)

        def status(pid):
            with me.lock:
                return render_status(me._process(pid))
        self.register_proc("/proc/<pid>/maps", maps)
        self.register_proc("/proc/<pid>/status", status)
        from .vm import smaps as _smaps
        for name, render in (("smaps", _smaps.render_smaps),
                             ("smaps_rollup", _smaps.render_smaps_rollup),
                             ("statm", _smaps.render_statm)):
            self.register_proc(f"/proc/<pid>/{name}", self._mm_renderer(render))

    def _mm_renderer(self, render):
        me = self._me

        def show(pid):
            with me.lock:
                return render(me._process(pid).mm)
        return show

    def _vm_check(self):
        """check() of every process's address space and of the global commit charge."""
        with self.lock:
            for process in self._processes.values():
                process.mm.check()
            for process in list(self._exited):
                _check_exited(process)
            if self.vm_committed_as < 0:
                raise InvariantError(f"vm_committed_as {self.vm_committed_as} < 0")

    def _process(self, pid):
        process = self._processes.get(pid)
        if process is None:
            raise FileNotFoundError(2, "No such file or directory", f"/proc/{pid}")
        return process

    @property
    def processes(self):
        """The live processes, by pid (`p in k.processes` also works)."""
        from .vm.process import ProcessTable
        return ProcessTable(self._processes)

    def spawn(self, name="init"):
        """A new process with an empty address space; name (a str) is its comm, cut to 15
        characters as the kernel's TASK_COMM_LEN.  ArgumentTypeError for other types."""
        if not isinstance(name, str):
            raise ArgumentTypeError(f"name must be a str, not {type(name).__name__}")
        return self._new_process(name)

    def _new_process(self, name, ppid=0, mm=True):
        from .vm.process import Process
        with self.lock:
            pid = self._next_pid
            self._next_pid += 1
            # a process holds its kernel (a caller keeping only a process keeps the machine):
            # the kernel is in a reference cycle only while it has live processes
            process = Process(self, pid, name, ppid=ppid, mm=mm)
            self._processes[pid] = process
            return process

    def exit_process(self, process):
        """The process exits: its address space is torn down and the pid is released.  Every
        later call on it raises ProcessLookupError (ESRCH); exiting twice does nothing.
        ArgumentTypeError unless process is a Process; ValueError for another Kernel's."""
        from .vm.process import Process
        if not isinstance(process, Process):
            raise ArgumentTypeError(f"process must be a Process, not {type(process).__name__}")
        if process.kernel is not self:
            raise ValueError(f"process {process.pid} belongs to another Kernel")
        with self.lock:
            if not process.alive:
                return
            if process.mm is not None:
                process.mm.exit_mmap()
                process.mm.owner = None     # no process <-> mm cycle holding the kernel
            process.alive = False
            self._processes.pop(process.pid, None)
            self._exited.add(process)

    def create_file(self, path, size=0, fs=None):
        """creat(2) + ftruncate: a simulated file of `size` zero bytes, returned open (O_RDWR)
        with nothing cached.  fs "ext4" (a disk: reads fill the page cache) or "tmpfs" (shmem);
        by default paths under /dev/shm/ and /run/ are tmpfs, all others ext4."""
        from .units import parse_size
        size = parse_size(size) if isinstance(size, str) else _args.as_int(size, "size")
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        with self.lock:
            return self.fs.create(path, size, fs)

    def create_device(self, path, ops, vm_flags=None):
        """A character device at path whose mmap installs `ops`, a Python vm_operations_struct
        (fault(vmf) and optionally map_pages, page_mkwrite, open, close, name): see
        docs/faults.md.  vm_flags: what the driver's ->mmap adds (default VM_DONTEXPAND |
        VM_DONTDUMP).  Returns the device opened O_RDWR."""
        with self.lock:
            return self.fs.create_device(path, ops, vm_flags)

    def open(self, path, flags=0):
        """open(2): a new open file (struct file) on the path's inode; host files are imported
        read-only."""
        with self.lock:
            return self.fs.open(path, flags)

    def unlink(self, path):
        with self.lock:
            self.fs.unlink(path)

    # -- simulated time, PSI, writeback, drop_caches (linuxmm/vm/clock.py, psi.py, writeback.py)
    def _time_init(self):
        from .vm import clock, psi, writeback
        clock.clock_init(self._me)
        psi.psi_init(self._me)
        writeback.wb_init(self._me)
        clock.rearm(self._me)

    def advance(self, ns):
        """Let ns nanoseconds of simulated time pass (k.now, ns since boot); the PSI averages
        and the flusher run as their timers fall due."""
        from .vm.clock import advance, as_ns
        with self.lock:
            advance(self._me, as_ns(ns, "ns"))

    def sleep(self, seconds):
        """Let `seconds` of idle simulated time pass (k.advance in seconds)."""
        from .vm.clock import sleep
        with self.lock:
            sleep(self._me, seconds)

    def sync(self):
        """sync(2): write every dirty page-cache page back and wait for it (the clock advances
        by the I/O time).  Returns the pages written."""
        from .vm.writeback import sync
        with self.lock:
            return sync(self._me)

    def drop_caches(self, mode, process=None):
        """echo mode > /proc/sys/vm/drop_caches: 1 page cache (clean unmapped pages), 2 slab,
        3 both, 4 silences the log line after this write.  OSError(EINVAL) for other values.
        The line the kernel logs ("<comm> (<pid>): drop_caches: <mode>", comm and pid of
        `process`, else "sh (0)") is kept in k._drop_caches_log.  Returns the page-cache pages
        dropped."""
        from .vm.writeback import drop_caches
        with self.lock:
            return drop_caches(self._me, mode, process)

    def _wb_sysctl(name, lo, hi, clears=None, doc=""):
        def get(self):
            return getattr(self.wb, name)

        def put(self, value):
            import errno
            import os
            value = _args.as_int(value, name)
            limit = _args.ULONG_MAX if name.endswith("_bytes") else _args.INT_MAX
            if value < lo or value > (limit if hi is None else hi):
                raise SysctlError(errno.EINVAL, os.strerror(errno.EINVAL), f"vm.{name}")
            with self.lock:
                old = getattr(self.wb, name)
                setattr(self.wb, name, value)
                if clears is not None and value != old:
                    setattr(self.wb, clears, 0)    # the ratio and bytes forms exclude each other
                if name == "dirty_writeback_centisecs":
                    from .vm.writeback import rearm_flusher
                    rearm_flusher(self._me)
        return property(get, put, doc=doc)

    dirty_ratio = _wb_sysctl("dirty_ratio", 0, 100, "dirty_bytes",
                             "vm.dirty_ratio (20): % of dirtyable memory; clears dirty_bytes")
    dirty_background_ratio = _wb_sysctl("dirty_background_ratio", 0, 100,
                                        "dirty_background_bytes",
                                        "vm.dirty_background_ratio (10); clears "
                                        "dirty_background_bytes")
    dirty_bytes = _wb_sysctl("dirty_bytes", 2 * 4096, None, "dirty_ratio",
                             "vm.dirty_bytes (0: use dirty_ratio); >= 2 pages; clears "
                             "dirty_ratio")
    dirty_background_bytes = _wb_sysctl("dirty_background_bytes", 1, None,
                                        "dirty_background_ratio",
                                        "vm.dirty_background_bytes; clears "
                                        "dirty_background_ratio")
    dirty_expire_centisecs = _wb_sysctl("dirty_expire_centisecs", 0, None, None,
                                        "vm.dirty_expire_centisecs (3000)")
    dirty_writeback_centisecs = _wb_sysctl("dirty_writeback_centisecs", 0, None, None,
                                           "vm.dirty_writeback_centisecs (500; 0 disables "
                                           "the periodic flush)")
    del _wb_sysctl

    def _vm_enough_memory(self, pages, mm=None):
        """__vm_enough_memory (unprivileged caller): charge `pages` to vm_committed_as or
        raise ENOMEM."""
        mode = self.overcommit_memory
        if mode == 0:
            if pages > self._totalram_pages() + self.swap_state.total_pages():
                self._vm_enomem()
        elif mode == 2:
            allowed = _wm.commit_limit(self._totalram_pages(), 0, self.swap_state.total_pages(),
                                       self.overcommit_ratio)
            allowed -= self.admin_reserve_kbytes >> 2
            if mm is not None:
                allowed -= min(mm.total_vm // 32, self.user_reserve_kbytes >> 2)
            if self.vm_committed_as + pages >= allowed:
                self._vm_enomem()
        self.vm_committed_as += pages

    @staticmethod
    def _vm_enomem():
        import errno
        import os
        raise OSError(errno.ENOMEM, os.strerror(errno.ENOMEM))

    def _vm_free_pages_at_boot(self):
        try:
            return sum(self._pa.nr_free_pages(i) for i in range(len(self._zone_names)))
        except AttributeError:
            return self.mem >> 12

    def _totalram_pages(self):
        """totalram_pages(): the zones' managed pages (fixed after boot, so read once)."""
        value = self.__dict__.get("_vm_totalram")
        if value is None:
            managed = getattr(self, "_managed", None)
            value = sum(managed()) if managed is not None else self.mem >> 12
            self._vm_totalram = value
        return value


def _check_exited(process):
    """Nothing may stay charged to an exited process: no VMA, commit charge, page table,
    resident page or swap entry (exit_mmap returned them all)."""
    from .vm.mmu_defs import (MM_ANONPAGES, MM_FILEPAGES, MM_PGTABLES_BYTES, MM_SHMEMPAGES,
                              MM_SWAPENTS)
    mm = process.mm
    if process.pid in process.kernel._processes or mm is None:
        return
    c = mm.counters
    left = {"vmas": len(mm.tree), "committed": mm.committed, "total_vm": mm.total_vm,
            "locked_vm": mm.locked_vm, "pgd": 0 if mm.pgd is None else 1,
            "anon": int(c[MM_ANONPAGES]), "file": int(c[MM_FILEPAGES]),
            "shmem": int(c[MM_SHMEMPAGES]), "swap": int(c[MM_SWAPENTS]),
            "pgtables_bytes": int(c[MM_PGTABLES_BYTES])}
    left = {k: v for k, v in left.items() if v}
    if left:
        raise InvariantError(f"exited process {process.pid} still holds {left}")
