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
        # -- processes and address spaces (linuxmm/vm) --

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
