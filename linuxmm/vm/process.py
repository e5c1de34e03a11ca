"""A process: pid, name and address space, with the memory system calls as methods."""
import errno

from .brk import sys_brk
from .files import File
from .constants import (MAP_ANONYMOUS, NR_brk as NR_BRK, NR_madvise as NR_MADVISE,
                        NR_mmap as NR_MMAP, NR_mprotect as NR_MPROTECT, NR_mremap as NR_MREMAP,
                        NR_munmap as NR_MUNMAP, VM_EXEC, VM_READ, VM_SHARED, VM_WRITE)
from .layout import arch_pick_mmap_layout
from .madvise import sys_madvise
from .mm import MmStruct, oserror
from .mmap import sys_mmap
from .mprotect import sys_mprotect
from .mremap import sys_mremap

U64 = (1 << 64) - 1


class ProcessTable(dict):
    """Kernel.processes: the live processes by pid; `in` accepts a pid or a Process."""

    def __contains__(self, key):
        if isinstance(key, Process):
            return self.get(key.pid) is key
        return dict.__contains__(self, key)


class Process:
    """A simulated task.  Syscalls take Linux's arguments and raise OSError(errno) on failure."""

    def __init__(self, kernel, pid, name, ppid=0):
        self.kernel = kernel
        self.pid = pid
        self.ppid = ppid
        self.comm = name[:15]
        self.mm = None
        self.exe = None
        self.fds = {}                 # the file descriptor table: fd -> File
        self.new_mm()

    def new_mm(self, pick_layout=True):
        """A fresh, empty address space with the kernel's layout (mmap_base, randomization)."""
        kernel = self.kernel
        mm = MmStruct(kernel)
        if kernel is not None and pick_layout:
            arch_pick_mmap_layout(mm, kernel.randomize_va_space != 0, kernel.vm_random)
        old = self.mm
        self.mm = mm
        if old is not None:
            old.exit_mmap()
        return mm

    # -- system calls --------------------------------------------------------------------------
    def mmap(self, addr, length, prot, flags, file=None, offset=0):
        """addr None is NULL; file is a File or a descriptor from install_fd() (fget: an
        unknown one gives EBADF, and it is ignored with MAP_ANONYMOUS as the kernel does)."""
        if addr is None:
            addr = 0
        if isinstance(file, int) and not isinstance(file, bool):
            file = None if flags & MAP_ANONYMOUS else self.fds.get(file)
        elif file is not None and not isinstance(file, File):
            raise TypeError(f"file must be a File, a file descriptor or None, not {file!r}")
        with self.kernel.lock:
            return sys_mmap(self.mm, addr, length, prot, flags, file, offset)

    def munmap(self, addr, length):
        with self.kernel.lock:
            return self.mm.do_munmap(addr & U64, length & U64)

    def mprotect(self, addr, length, prot):
        with self.kernel.lock:
            return sys_mprotect(self.mm, addr, length, prot)

    def mremap(self, old_addr, old_len, new_len, flags=0, new_addr=0):
        with self.kernel.lock:
            return sys_mremap(self.mm, old_addr, old_len, new_len, flags, new_addr)

    def brk(self, addr):
        with self.kernel.lock:
            return sys_brk(self.mm, addr)

    def madvise(self, addr, length, advice):
        with self.kernel.lock:
            return sys_madvise(self.mm, addr, length, advice)

    def exit(self):
        """exit(2): the address space is torn down and the pid released."""
        self.kernel.exit_process(self)

    def execve(self, path, argv, envp):
        from .binfmt_elf import execve
        with self.kernel.lock:
            return execve(self, path, argv, envp)

    def install_fd(self, file):
        """fd_install: the lowest free descriptor >= 3 now refers to file."""
        fd = 3
        while fd in self.fds:
            fd += 1
        self.fds[fd] = file
        return fd

    def close(self, fd):
        if self.fds.pop(fd, None) is None:
            raise oserror(errno.EBADF)

    def syscall(self, nr, *args):
        """The raw system call by x86_64 number (NR_mmap, NR_munmap, NR_mprotect, NR_mremap,
        NR_brk, NR_madvise): returns what the kernel returns, a negative errno on failure.
        mmap's fifth argument is a file descriptor from install_fd()."""
        try:
            if nr == NR_MMAP:
                addr, length, prot, flags, fd, offset = args
                file = None
                if not flags & MAP_ANONYMOUS:
                    file = self.fds.get(fd)
                    if file is None:
                        return -errno.EBADF
                return self.mmap(addr, length, prot, flags, file, offset)
            handler = {NR_MUNMAP: self.munmap, NR_MPROTECT: self.mprotect,
                       NR_MREMAP: self.mremap, NR_BRK: self.brk,
                       NR_MADVISE: self.madvise}.get(nr)
            if handler is None:
                return -errno.ENOSYS
            return handler(*args)
        except OSError as err:
            return -err.errno

    # -- faults, until the page-fault issue ----------------------------------------------------
    def touch(self, addr, write=True):
        """Simulate the first access to addr as far as VMAs are concerned: a write fault in a
        private VMA assigns its anon_vma (anon_vma_prepare); a read fault of anonymous memory
        maps the zero page and assigns nothing.  Raises OSError(EFAULT) where the access would
        get SIGSEGV."""
        with self.kernel.lock:
            mm = self.mm
            vma = mm.vma_lookup(addr)
            if vma is None:
                raise oserror(errno.EFAULT)
            flags = vma.vm_flags
            if write and not flags & VM_WRITE:
                raise oserror(errno.EFAULT)
            if not flags & (VM_READ | VM_WRITE | VM_EXEC):     # x86: any other prot reads
                raise oserror(errno.EFAULT)
            if write and not flags & VM_SHARED:
                mm.anon_vma_prepare(vma)
            return vma

    def rss_counters(self):
        return {}

    # -- views ---------------------------------------------------------------------------------
    @property
    def maps(self):
        from .procfs import render_maps
        return render_maps(self.mm)

    def __repr__(self):
        return f"<Process {self.pid} {self.comm!r} vmas={self.mm.map_count}>"
