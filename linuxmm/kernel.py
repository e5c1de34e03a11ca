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
        self._vm_init()

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

    # -- processes and address spaces (linuxmm/vm) ------------------------------------------------
    def _vm_init(self):
        from .vm.files import FileSystem
        from .vm.layout import KernelRandom
        from .vm.procfs import render_maps, render_status
        self.fs = FileSystem()
        self.vm_random = KernelRandom(self.seed)
        self.max_map_count = 65530            # vm.max_map_count
        self.overcommit_memory = 0            # vm.overcommit_memory
        self.vm_committed_as = 0              # pages charged by VM_ACCOUNT and shmem
        self._processes = {}
        self._next_pid = 1
        self.register_proc("/proc/<pid>/maps",
                           lambda pid: render_maps(self._process(pid).mm))
        self.register_proc("/proc/<pid>/status", lambda pid: render_status(self._process(pid)))

    def _process(self, pid):
        process = self._processes.get(pid)
        if process is None:
            raise FileNotFoundError(2, "No such file or directory", f"/proc/{pid}")
        return process

    @property
    def processes(self):
        """The live processes, by pid."""
        return dict(self._processes)

    def spawn(self, name="init"):
        """A new process with an empty address space."""
        from .vm.process import Process
        with self.lock:
            pid = self._next_pid
            self._next_pid += 1
            process = Process(self, pid, name)
            self._processes[pid] = process
            return process

    def exit_process(self, process):
        """The process exits: its address space is torn down and the pid is released."""
        with self.lock:
            process.mm.exit_mmap()
            self._processes.pop(process.pid, None)

    def create_file(self, path, size=0):
        """creat(2) + ftruncate: a simulated file of `size` zero bytes, returned open (O_RDWR)."""
        from .units import parse_size
        with self.lock:
            return self.fs.create(path, parse_size(size))

    def open(self, path, flags=0):
        """open(2): a new open file (struct file) on the path's inode; host files are imported
        read-only."""
        with self.lock:
            return self.fs.open(path, flags)

    def unlink(self, path):
        with self.lock:
            self.fs.unlink(path)

    def _vm_enough_memory(self, pages):
        """__vm_enough_memory: charge `pages` to vm_committed_as or raise ENOMEM."""
        import errno
        import os
        mode = self.overcommit_memory
        if mode == 0:
            if pages > self._totalram_pages() + (self.swap >> 12):
                raise OSError(errno.ENOMEM, os.strerror(errno.ENOMEM))
        elif mode == 2:
            limit = self._totalram_pages() * 50 // 100 + (self.swap >> 12)
            if self.vm_committed_as + pages > limit:
                raise OSError(errno.ENOMEM, os.strerror(errno.ENOMEM))
        self.vm_committed_as += pages

    def _totalram_pages(self):
        value = getattr(self, "totalram_pages", None)
        return value() if callable(value) else (value if value is not None else self.mem >> 12)
