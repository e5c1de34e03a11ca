"""A process: pid, name and address space, with the memory system calls as methods."""
import errno

import numpy as np

from .. import _args
from ..errors import ArgumentTypeError, Killed
from ..printk import KERN_WARNING
from ..sync import synchronized
from .memory import access_bulk, access_range, user_access
from .mmu_defs import (_PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_PSE, MM_ANONPAGES, MM_FILEPAGES,
                       MM_HIWATER_RSS, MM_MAJ_FLT, MM_MIN_FLT, MM_PGTABLES_BYTES, MM_SHMEMPAGES,
                       MM_SWAPENTS, PTE_FLAGS_MASK, pte_pfn)

from .brk import sys_brk
from .files import File
from .constants import (MAP_ANONYMOUS, NR_brk as NR_BRK, NR_madvise as NR_MADVISE,
                        NR_mlock, NR_mlock2, NR_mlockall, NR_munlock, NR_munlockall,
                        NR_mmap as NR_MMAP, NR_mprotect as NR_MPROTECT, NR_mremap as NR_MREMAP,
                        NR_munmap as NR_MUNMAP, PAGE_MASK, PAGE_SHIFT, PAGE_SIZE)
from .layout import arch_pick_mmap_layout
from .madvise import sys_madvise
from .mm import MmStruct, oserror
from .mmap import sys_mmap
from .mlock import (sys_mlock, sys_mlock2, sys_mlockall, sys_munlock,
                    sys_munlockall)
from .mprotect import sys_mprotect
from .oom_kill import (check_oom_score_adj, no_such_process, oom_adj_from_score_adj,
                       score_adj_from_oom_adj, task_call)
from .mremap import sys_mremap

U64 = (1 << 64) - 1


def _reg(value, name, _int=int):
    """A system call argument as the register holds it: any integer with __index__ (numpy's
    too; bool, float, None and str refused with ArgumentTypeError), modulo 2**64."""
    if value.__class__ is _int:             # the common case: no conversion to make
        return value & U64
    return _args.as_int(value, name) & U64


class ProcessTable(dict):
    """Kernel.processes: the live processes by pid; `in` accepts a pid or a Process."""

    def __contains__(self, key):
        if isinstance(key, Process):
            return self.get(key.pid) is key
        return dict.__contains__(self, key)


@synchronized
class Process:
    """A simulated task.  Syscalls take Linux's arguments and raise OSError(errno) on failure.

    `rlimit_memlock` (bytes; RLIMIT_MEMLOCK's soft limit, linuxmm.vm.mlock.RLIM_INFINITY for
    none) and `capable_ipc_lock` (CAP_IPC_LOCK: no limit applies) decide what mlock, mlock2,
    mlockall, MAP_LOCKED and a VM_LOCKED brk may lock, as can_do_mlock and mlock_future_ok."""

    _rlimit_memlock = 8 << 20         # a modern distribution's default soft limit
    capable_ipc_lock = True           # the simulated task runs as root

    def __init__(self, kernel, pid, name, ppid=0, mm=True):
        self.kernel = kernel
        self.pid = pid
        self.ppid = ppid
        self.comm = name[:15]
        self.mm = None
        self.exe = None
        self.alive = True
        self.exit_signal = None       # 9 (SIGKILL) when the OOM killer killed it
        self.oom_killed = False
        self._oom_score_adj = 0       # signal->oom_score_adj (inherited by fork)
        self.fds = {}                 # the file descriptor table: fd -> File
        if mm:
            self.new_mm()

    @property
    def lock(self):
        """The machine's lock, which every method holds (linuxmm.sync)."""
        return self.kernel.lock

    @property
    def rlimit_memlock(self):
        """RLIMIT_MEMLOCK's soft limit in bytes (RLIM_INFINITY: none)."""
        return self._rlimit_memlock

    @rlimit_memlock.setter
    def rlimit_memlock(self, value):
        # setrlimit(2): an rlim_t; checked here, not inside the next mlock
        value = _args.as_int(value, "rlimit_memlock")
        if not 0 <= value < 2**64:
            raise ValueError(f"rlimit_memlock must be in 0..2**64-1 (RLIM_INFINITY), got {value}")
        self._rlimit_memlock = value

    def new_mm(self, pick_layout=True):
        """A fresh, empty address space with the kernel's layout (mmap_base, randomization)."""
        kernel = self.kernel
        mm = MmStruct(kernel)
        if kernel is not None and pick_layout:
            arch_pick_mmap_layout(mm, kernel.randomize_va_space != 0, kernel.vm_random)
        old = self.mm
        self.mm = mm
        mm.owner = self
        if old is not None:
            mm.counters[MM_MIN_FLT] = old.counters[MM_MIN_FLT]     # the task's, not the mm's
            mm.counters[MM_MAJ_FLT] = old.counters[MM_MAJ_FLT]
            old.exit_mmap()
        return mm

    # -- system calls --------------------------------------------------------------------------
    @task_call
    def mmap(self, addr, length, prot, flags, file=None, offset=0):
        """addr None is NULL; file is a File or a descriptor from install_fd() (fget: an
        unknown one gives EBADF, and it is ignored with MAP_ANONYMOUS as the kernel does)."""
        addr = 0 if addr is None else _reg(addr, "addr")
        length = _reg(length, "length")
        prot = _reg(prot, "prot")
        flags = _reg(flags, "flags")
        offset = _reg(offset, "offset")
        if file is not None and not isinstance(file, (bool, File)) and hasattr(file, "__index__"):
            file = _args.as_int(file, "file")
            file = None if flags & MAP_ANONYMOUS else self.fds.get(file)
        elif file is not None and not isinstance(file, File):
            raise ArgumentTypeError(f"file must be a File, a file descriptor or None, "
                                    f"not {type(file).__name__}")
        with self.kernel.lock:
            return sys_mmap(self.mm, addr, length, prot, flags, file, offset)

    @task_call
    def munmap(self, addr, length):
        addr, length = _reg(addr, "addr"), _reg(length, "length")
        with self.kernel.lock:
            return self.mm.do_munmap(addr, length)

    @task_call
    def mprotect(self, addr, length, prot):
        addr, length, prot = _reg(addr, "addr"), _reg(length, "length"), _reg(prot, "prot")
        with self.kernel.lock:
            return sys_mprotect(self.mm, addr, length, prot)

    @task_call
    def mremap(self, old_addr, old_len, new_len, flags=0, new_addr=0):
        old_addr, old_len = _reg(old_addr, "old_addr"), _reg(old_len, "old_len")
        new_len, flags = _reg(new_len, "new_len"), _reg(flags, "flags")
        new_addr = _reg(new_addr, "new_addr")
        with self.kernel.lock:
            return sys_mremap(self.mm, old_addr, old_len, new_len, flags, new_addr)

    @task_call
    def brk(self, addr):
        addr = _reg(addr, "addr")
        with self.kernel.lock:
            return sys_brk(self.mm, addr)

    @task_call
    def madvise(self, addr, length, advice):
        addr, length, advice = _reg(addr, "addr"), _reg(length, "length"), _reg(advice, "advice")
        with self.kernel.lock:
            return sys_madvise(self.mm, addr, length, advice)

    @task_call
    def mlock(self, addr, length):
        """mlock(2): VM_LOCKED on the range (splitting/merging VMAs), its pages faulted in and
        mlocked (the unevictable LRU).  OSError ENOMEM (hole, RLIMIT_MEMLOCK, PROT_NONE
        range), EPERM, EAGAIN as the kernel."""
        addr, length = _reg(addr, "addr"), _reg(length, "length")
        with self.kernel.lock:
            return sys_mlock(self._live_mm(), addr, length)

    @task_call
    def mlock2(self, addr, length, flags=0):
        """mlock2(2): flags MLOCK_ONFAULT (VM_LOCKONFAULT: nothing is faulted in, pages are
        mlocked as they fault); EINVAL for other bits."""
        addr, length, flags = _reg(addr, "addr"), _reg(length, "length"), _reg(flags, "flags")
        with self.kernel.lock:
            return sys_mlock2(self._live_mm(), addr, length, flags)

    @task_call
    def munlock(self, addr, length):
        addr, length = _reg(addr, "addr"), _reg(length, "length")
        with self.kernel.lock:
            return sys_munlock(self._live_mm(), addr, length)

    @task_call
    def mlockall(self, flags):
        """mlockall(2): MCL_CURRENT, MCL_FUTURE (mm->def_flags: later mmaps and brk are
        VM_LOCKED and populated), MCL_ONFAULT."""
        flags = _reg(flags, "flags")
        with self.kernel.lock:
            return sys_mlockall(self._live_mm(), flags)

    @task_call
    def munlockall(self):
        with self.kernel.lock:
            return sys_munlockall(self._live_mm())

    def exit(self):
        """exit(2): the address space is torn down (every page, page table and count
        returns) and the pid released; `alive` becomes False."""
        self.kernel.exit_process(self)

    @task_call
    def execve(self, path, argv, envp):
        from .binfmt_elf import execve
        with self.kernel.lock:
            return execve(self, path, argv, envp)

    def install_fd(self, file):
        """fd_install: the lowest free descriptor >= 3 now refers to file."""
        if not isinstance(file, File):
            raise ArgumentTypeError(f"file must be a File, not {type(file).__name__}")
        fd = 3
        while fd in self.fds:
            fd += 1
        self.fds[fd] = file
        return fd

    def close(self, fd):
        if self.fds.pop(_args.as_int(fd, "fd"), None) is None:
            raise oserror(errno.EBADF)

    @task_call
    def syscall(self, nr, *args):
        """The raw system call by x86_64 number (NR_mmap, NR_munmap, NR_mprotect, NR_mremap,
        NR_brk, NR_madvise, NR_mlock, NR_munlock, NR_mlock2, NR_mlockall, NR_munlockall):
        returns what the kernel returns, a negative errno on failure.  Up to six integer
        arguments (the registers); those the call does not use are ignored, missing ones are
        0.  mmap's fifth argument is a file descriptor from install_fd().  A process that has
        exited raises ProcessLookupError (ESRCH), an OOM-killed one Killed."""
        nr = _args.as_int(nr, "nr")
        if len(args) > 6:
            raise ArgumentTypeError(f"a system call takes at most 6 arguments, got {len(args)}")
        args = tuple(_args.as_int(a, f"arg{i}") for i, a in enumerate(args))
        args += (0,) * (6 - len(args))
        try:
            if nr == NR_MMAP:
                addr, length, prot, flags, fd, offset = args
                file = None
                if not flags & MAP_ANONYMOUS:
                    file = self.fds.get(fd)
                    if file is None:
                        return -errno.EBADF
                return self.mmap(addr, length, prot, flags, file, offset)
            handler = {NR_MUNMAP: (self.munmap, 2), NR_MPROTECT: (self.mprotect, 3),
                       NR_MREMAP: (self.mremap, 5), NR_BRK: (self.brk, 1),
                       NR_MADVISE: (self.madvise, 3), NR_mlock: (self.mlock, 2),
                       NR_munlock: (self.munlock, 2), NR_mlock2: (self.mlock2, 3),
                       NR_mlockall: (self.mlockall, 1),
                       NR_munlockall: (self.munlockall, 0)}.get(nr)
            if handler is None:
                return -errno.ENOSYS
            handler, nargs = handler
            return handler(*args[:nargs])
        except OSError as err:
            return -err.errno

    # -- user accesses (linuxmm/vm/memory.py) ------------------------------------------------
    def _live_mm(self):
        if self.oom_killed:
            raise Killed(self.pid)
        if not self.alive:
            raise no_such_process(self.pid)
        return self.mm

    @task_call
    def touch(self, addr, write=False):
        """One user access to addr (a read, or a write): completes it, taking the page fault
        the kernel would take.  SegmentationFault (SEGV_MAPERR / SEGV_ACCERR) or BusError
        when the process would get the signal."""
        addr = _args.as_int(addr, "addr") & U64
        with self.kernel.lock:
            user_access(self._live_mm(), addr, bool(write))

    @task_call
    def touch_range(self, addr, length, write=False):
        """One access to every page of [addr, addr + length) in address order, replayed in one
        MMU loop (faults that need Python are handled as they come)."""
        addr = _args.as_int(addr, "addr") & U64
        length = _args.as_int(length, "length")
        if length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        if not length:
            return
        first = addr & PAGE_MASK
        npages = (addr + length - first + PAGE_SIZE - 1) >> PAGE_SHIFT
        with self.kernel.lock:
            access_range(self._live_mm(), first, npages, 1 if write else 0)

    @task_call
    def access(self, addrs, writes=None):
        """Replay user accesses: addrs an int64 array (or sequence), writes a same-length
        bool/uint8 array, a single bool, or None (all reads).  Stops at the first access that
        gets a signal, raising it; every access before it has completed."""
        addrs = _args.int_array(addrs, np.int64, "addrs").reshape(-1)
        if writes is None or isinstance(writes, (bool, int, np.bool_)):
            writes = np.full(len(addrs), 1 if writes else 0, dtype=np.uint8)
        else:
            writes = np.ascontiguousarray(writes).astype(np.uint8).reshape(-1)
            if len(writes) != len(addrs):
                raise ValueError(f"writes has {len(writes)} entries, addrs {len(addrs)}")
        with self.kernel.lock:
            access_bulk(self._live_mm(), addrs, writes)

    def read(self, addr, length):
        """Read user memory as the process would (faulting pages in): bytes."""
        return self._copy(addr, length, None)

    def write(self, addr, data):
        """Write user memory as the process would (faulting pages in, COW as needed); data is
        bytes-like (ArgumentTypeError for a str, int, None...)."""
        data = _args.as_bytes(data, "data")
        self._copy(addr, len(data), data)
        return len(data)

    @task_call
    def _copy(self, addr, length, data):
        addr = _args.as_int(addr, "addr") & U64
        length = _args.as_int(length, "length")
        if length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        out = bytearray()
        with self.kernel.lock:
            mm = self._live_mm()
            mmu = self.kernel.mmu
            pos = 0
            while pos < length:
                cur = addr + pos
                within = cur & ~PAGE_MASK
                take = min(PAGE_SIZE - within, length - pos)
                user_access(mm, cur, data is not None)
                entry = mmu.pte_get(mm.pgd, cur)
                pfn = pte_pfn(entry)
                if entry & _PAGE_PSE:
                    pfn += (cur >> PAGE_SHIFT) & 511
                if data is None:
                    out += mmu.page_read(pfn, within, take)
                else:
                    mmu.page_write(pfn, within, data[pos:pos + take])
                pos += take
        return bytes(out) if data is None else None

    def translate(self, addr):
        """(pfn, pte flags) of the page mapping addr, or None: the flags are the PTE's low
        bits and NX (linuxmm.PTE_PRESENT, PTE_RW, PTE_USER, PTE_ACCESSED, PTE_DIRTY, PTE_NX,
        PTE_SPECIAL, PTE_PSE for a huge page)."""
        addr = _args.as_int(addr, "addr") & U64
        with self.kernel.lock:
            mm = self._live_mm()
            if addr >= mm.task_size:
                return None
            entry = self.kernel.mmu.pte_get(mm.pgd, addr)
        if not entry & (_PAGE_PRESENT | _PAGE_PROTNONE):
            return None
        pfn = pte_pfn(entry)
        if entry & _PAGE_PSE:
            pfn += (addr >> PAGE_SHIFT) & 511
        return pfn, entry & PTE_FLAGS_MASK

    @task_call
    def mincore(self, addr, length):
        """mincore(2): one byte per page, 1 when the page is resident (a present PTE, or a
        cached page of the mapped file).  OSError EINVAL / ENOMEM as the kernel."""
        from .mincore import sys_mincore
        addr, length = _reg(addr, "addr"), _reg(length, "length")
        with self.kernel.lock:
            return sys_mincore(self._live_mm(), addr, length)

    @task_call
    def fork(self):
        """fork(2): a child with a copy of this address space (dup_mmap: COW)."""
        from .fork import dup_mmap
        kernel = self.kernel
        with kernel.lock:
            parent = self._live_mm()
            mm = MmStruct(kernel)       # its PGD first: OutOfMemory here leaves no child behind
            child = kernel._new_process(self.comm, ppid=self.pid, mm=False)
            child.mm = mm
            mm.owner = child
            child.rlimit_memlock = self.rlimit_memlock
            child.capable_ipc_lock = self.capable_ipc_lock
            try:
                dup_mmap(mm, parent)
            except BaseException:       # ENOMEM, or no page for a page table: the half-built
                kernel.exit_process(child)      # child goes, as copy_process() unwinds
                raise
            child.fds = dict(self.fds)
            child._oom_score_adj = self._oom_score_adj      # signal_struct is copied
            return child

    @property
    def min_flt(self):
        """Minor faults (getrusage ru_minflt of the task)."""
        return int(self.mm.counters[MM_MIN_FLT])

    @property
    def maj_flt(self):
        """Major faults (getrusage ru_majflt)."""
        return int(self.mm.counters[MM_MAJ_FLT])

    @property
    def rss(self):
        """Resident pages by type, as get_mm_counter: {"anon", "file", "shmem", "swap"}."""
        c = self.mm.counters
        return {"anon": int(c[MM_ANONPAGES]), "file": int(c[MM_FILEPAGES]),
                "shmem": int(c[MM_SHMEMPAGES]), "swap": int(c[MM_SWAPENTS])}

    def rss_counters(self):
        """The mm's counters as task_mem wants them (pages; page-table bytes)."""
        c = self.mm.counters
        return {"rss_anon": int(c[MM_ANONPAGES]), "rss_file": int(c[MM_FILEPAGES]),
                "rss_shmem": int(c[MM_SHMEMPAGES]), "swap": int(c[MM_SWAPENTS]),
                "pgtables_bytes": int(c[MM_PGTABLES_BYTES]),
                "hiwater_rss": int(c[MM_HIWATER_RSS])}

    # -- OOM killer (linuxmm/vm/oom_kill.py) ------------------------------------------------
    @property
    def oom_score_adj(self):
        """/proc/<pid>/oom_score_adj: -1000 (never OOM-killed) .. 1000; assigning outside that
        range raises OSError(EINVAL) and changes nothing."""
        return self._oom_score_adj

    @oom_score_adj.setter
    def oom_score_adj(self, value):
        self._oom_score_adj = check_oom_score_adj(value)

    @property
    def oom_adj(self):
        """The legacy /proc/<pid>/oom_adj (-17..15), a scaled view of oom_score_adj."""
        return oom_adj_from_score_adj(self._oom_score_adj)

    @oom_adj.setter
    def oom_adj(self, value):
        adj = score_adj_from_oom_adj(value)
        kernel = self.kernel
        if not getattr(kernel, "_oom_adj_warned", False):     # pr_warn_once
            kernel._oom_adj_warned = True
            cur = kernel.current if kernel.current is not None else self
            kernel.printk(f"{cur.comm} ({cur.pid}): /proc/{self.pid}/oom_adj is deprecated, "
                          f"please use /proc/{self.pid}/oom_score_adj instead.", KERN_WARNING)
        self._oom_score_adj = adj

    # -- views ---------------------------------------------------------------------------------
    @property
    def maps(self):
        from .procfs import render_maps
        return render_maps(self.mm)

    def __repr__(self):
        return f"<Process {self.pid} {self.comm!r} vmas={self.mm.map_count}>"
