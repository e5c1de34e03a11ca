"""Kernel: the simulated machine, the one object users start from.

It owns every subsystem.  Each subsystem lives in its own module and is attached here; the
Kernel's public methods are thin delegations so that the whole API is discoverable on one class.
/proc files are rendered by functions registered with ``register_proc``.
"""
import threading

from . import _args
from .units import parse_size


class Kernel:
    def __init__(self, mem=None, *, arch="x86_64", e820=None, reserved=None, cpus=2,
                 min_free_kbytes=None, watermark_scale_factor=10, swap=0,
                 randomize_va_space=2, seed=0, slab_nomerge=False, backend="c"):
        if backend not in ("c", "reference"):
            raise ValueError(f"backend must be 'c' or 'reference', got {backend!r}")
        self.backend = backend
        self.arch = arch
        self.mem = parse_size(mem if mem is not None else "1G")
        self.cpus = _args.as_int(cpus, "cpus")
        self.swap = parse_size(swap)
        self.randomize_va_space = _args.as_int(randomize_va_space, "randomize_va_space")
        self.seed = _args.as_int(seed, "seed")
        self.slab_nomerge = bool(slab_nomerge)
        self.lock = threading.RLock()
        self._procfs = {}
        # -- physical memory (linuxmm/zone*, boot) -- filled in by the zones issue
        # -- slab (linuxmm/slab) --
        self._slab_init()
        # -- end slab --
        # -- processes and address spaces (linuxmm/vm) --

    # -- slab (linuxmm/slab) -------------------------------------------------------------------
    def _slab_page_source(self):
        """The page allocator slabs take pages from.  Until the zones/page allocator engine is
        attached to the Kernel, a buddy allocator over `mem` stands in for it."""
        for attr in ("page_alloc", "pa", "page_allocator"):
            pa = getattr(self, attr, None)
            if pa is not None:
                return pa
        if self.backend == "c":
            from .buddy import BuddyAllocator
        else:
            from .reference.buddy import BuddyAllocator
        self._slab_buddy = BuddyAllocator(max(self.mem >> 12, 1024))
        return self._slab_buddy

    def _slab_init(self):
        if self.backend == "c":
            from .slab.cache import SlabAllocator
        else:
            from .reference.slab import SlabAllocator
        self.slab = SlabAllocator(self._slab_page_source(), cpus=self.cpus,
                                  slab_nomerge=self.slab_nomerge)
        self.register_proc("/proc/slabinfo", self.slab.slabinfo)

    def kmem_cache_create(self, name, size, *, align=0, flags=0, ctor=None, freeptr_offset=None):
        """A SLUB cache (or a compatible existing one, merged as SLUB does): see linuxmm.slab."""
        with self.lock:
            return self.slab.kmem_cache_create(name, size, align=align, flags=flags, ctor=ctor,
                                               freeptr_offset=freeptr_offset)

    def kmalloc(self, size, gfp=0xcc0):
        """kmalloc(size, gfp) -> kernel virtual address (GFP_KERNEL by default)."""
        with self.lock:
            return self.slab.kmalloc(size, gfp)

    def kfree(self, addr):
        """kfree(addr); 0 and ZERO_SIZE_PTR (16) are no-ops."""
        with self.lock:
            self.slab.kfree(addr)

    def ksize(self, addr):
        with self.lock:
            return self.slab.ksize(addr)

    def krealloc(self, addr, new_size, gfp=0xcc0):
        with self.lock:
            return self.slab.krealloc(addr, new_size, gfp)

    def slab_meminfo(self):
        """Slab, SReclaimable, SUnreclaim (kB) for /proc/meminfo."""
        return self.slab.meminfo()

    def slab_vmstat(self):
        """nr_slab_reclaimable, nr_slab_unreclaimable (pages) for /proc/vmstat."""
        return self.slab.vmstat()

    # -- end slab -------------------------------------------------------------------------------

    # -- /proc ----------------------------------------------------------------------------------
    def register_proc(self, path, render):
        """Make k.read(path) return render(); path may contain '<pid>' for per-process files."""
        self._procfs[path] = render

    def read(self, path):
        """The text of a /proc file, byte for byte as the kernel prints it."""
        render = self._procfs.get(path)
        if render is not None:
            return render()
        parts = path.split("/")
        if len(parts) >= 4 and parts[1] == "proc" and parts[2].isdigit():
            render = self._procfs.get("/proc/<pid>/" + "/".join(parts[3:]))
            if render is not None:
                return render(int(parts[2]))
        raise FileNotFoundError(2, "No such file or directory", path)
