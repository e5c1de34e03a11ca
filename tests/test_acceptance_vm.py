"""Acceptance tests for issue 5 (processes, VMAs, the mmap family, exec, /proc/<pid>/maps),
written from the issue text alone.  Expected values come from the host kernel (ctypes system
calls in a private window of this process's address space, /proc/self/maps and smaps, and
`setarch -R` runs of host binaries) or from the documented [C] observations of the reference
doc, never from linuxmm itself."""
import ctypes
import errno
import mmap as pymmap
import os
import re
import shutil
import subprocess
import sys

import pytest

import linuxmm as L
from linuxmm import Kernel

P = 4096
RW = L.PROT_READ | L.PROT_WRITE
ANON = L.MAP_PRIVATE | L.MAP_ANONYMOUS
SHANON = L.MAP_SHARED | L.MAP_ANONYMOUS
NOREPLACE = L.MAP_FIXED_NOREPLACE
ON_LINUX = sys.platform.startswith("linux") and os.path.exists("/proc/self/maps")
needs_host = pytest.mark.skipif(not ON_LINUX, reason="needs a Linux host with /proc")

# smaps VmFlags codes in bit order (doc section 1.3), to decode the host's flags
VMFLAG_CODES = {
    "rd": 0x1, "wr": 0x2, "ex": 0x4, "sh": 0x8, "mr": 0x10, "mw": 0x20, "me": 0x40,
    "ms": 0x80, "gd": 0x100, "pf": 0x400, "lo": 0x2000, "io": 0x4000, "sr": 0x8000,
    "rr": 0x10000, "dc": 0x20000, "de": 0x40000, "lf": 0x80000, "ac": 0x100000,
    "nr": 0x200000, "ht": 0x400000, "sf": 0x800000, "wf": 0x2000000, "dd": 0x4000000,
    "mm": 0x10000000, "hg": 0x20000000, "nh": 0x40000000, "mg": 0x80000000,
}


def kernel(**kw):
    kw.setdefault("randomize_va_space", 0)
    return Kernel(**kw)


def sim_call(fn, *args, **kw):
    """(result, errno) of a linuxmm syscall method; result -1 on OSError."""
    try:
        return fn(*args, **kw), 0
    except OSError as err:
        return -1, err.errno


def maps_lines(k, p, lo=0, hi=1 << 64):
    text = k.read(f"/proc/{p.pid}/maps")
    assert text.endswith("\n") or text == ""
    return [ln for ln in text.splitlines() if lo <= int(ln.split("-")[0], 16) < hi]


# ------------------------------------------------------------------------------------------------
# host oracle: raw system calls through ctypes in a private window of this process
# ------------------------------------------------------------------------------------------------
if ON_LINUX:
    _libc = ctypes.CDLL(None, use_errno=True)
    _syscall = _libc.syscall
    _syscall.restype = ctypes.c_long
NR = {"mmap": 9, "mprotect": 10, "munmap": 11, "mremap": 25, "madvise": 28}
WINDOW_PAGES = 256


def host(name, *args):
    ctypes.set_errno(0)
    r = _syscall(ctypes.c_long(NR[name]), *[ctypes.c_long(a) for a in args])
    if r == -1:
        return -1, ctypes.get_errno()
    return r, 0


class Pair:
    """The same syscalls on the host (this process, inside a free window) and on a simulated
    process, both at the same addresses."""

    def __init__(self, **kw):
        self.k = kernel(**kw)
        self.p = self.k.spawn(name="init")
        self.host_fds = []
        for base in range(0x3e0000000000, 0x3f0000000000, 0x1000000000):
            r, e = host("mmap", base, WINDOW_PAGES * P, 0, ANON | NOREPLACE, -1, 0)
            if r == base:
                host("munmap", base, WINDOW_PAGES * P)
                self.base = base
                break
            if r > 0:
                host("munmap", r, WINDOW_PAGES * P)
        else:
            pytest.skip("no free window on the host")

    def open(self, path, flags):
        fd = os.open(path, flags)
        self.host_fds.append(fd)
        return fd, self.k.open(path, flags)

    def step(self, name, *args, file=None):
        """Run on both; host args take an fd where linuxmm takes a File (file=(fd, File))."""
        if name == "mmap":
            addr, length, prot, flags, offset = args
            hr = host("mmap", addr, length, prot, flags, file[0] if file else -1, offset)
            sr = sim_call(self.p.mmap, addr, length, prot, flags,
                          file[1] if file else None, offset)
        else:
            hr = host(name, *args)
            sr = sim_call(getattr(self.p, name), *args)
            if name != "mremap" and sr[1] == 0:
                assert sr[0] in (0, None), f"{name} returned {sr[0]!r}, expected 0"
                sr = (0, 0)
        assert sr == hr, f"{name}{tuple(hex(a) for a in args)}: linuxmm {sr} host {hr}"
        return hr

    def step_hint(self, addr, length, prot, flags, offset=0, file=None):
        """mmap with a hint: a free hint is returned exactly on both sides; an occupied one
        sends both elsewhere (removed again: the two mmap_bases differ)."""
        hr = host("mmap", addr, length, prot, flags, file[0] if file else -1, offset)
        sr = sim_call(self.p.mmap, addr, length, prot, flags, file[1] if file else None,
                      offset)
        assert (sr[0] == -1, sr[1]) == (hr[0] == -1, hr[1]), f"hint {addr:#x}: {sr} host {hr}"
        if hr[1] == 0:
            assert (sr[0] == addr) == (hr[0] == addr), f"hint {addr:#x}: {sr} host {hr}"
            if hr[0] != addr:
                host("munmap", hr[0], length)
                self.p.munmap(sr[0], length)
        return hr

    def step_placed(self, *args):
        """mremap whose destination the top-down allocator picks (different mmap_base on the
        two sides): same success or errno; the moved mapping is then removed on both sides."""
        hr = host("mremap", *args)
        sr = sim_call(self.p.mremap, *args)
        assert (sr[0] == -1, sr[1]) == (hr[0] == -1, hr[1]), f"mremap{args}: {sr} host {hr}"
        if hr[1] == 0:
            host("munmap", hr[0], args[2])
            self.p.munmap(sr[0], args[2])
        return hr

    def host_maps(self):
        with open("/proc/self/maps") as f:
            return [ln.rstrip("\n") for ln in f if self.base <= int(ln.split("-")[0], 16)
                    < self.base + WINDOW_PAGES * P]

    def host_vmflags(self):
        out, cur = {}, None
        with open("/proc/self/smaps") as f:
            for ln in f:
                m = re.match(r"([0-9a-f]+)-([0-9a-f]+) ", ln)
                if m:
                    cur = int(m.group(1), 16)
                elif ln.startswith("VmFlags:") and self.base <= cur < self.base + WINDOW_PAGES * P:
                    out[cur] = sum(VMFLAG_CODES[c] for c in ln.split()[1:])
        return out

    def compare(self):
        """The window's maps lines byte for byte (shared-anon inode numbers differ between the
        two kernels) and every VMA's vm_flags against the host's smaps VmFlags."""
        hl = self.host_maps()
        sl = maps_lines(self.k, self.p, self.base, self.base + WINDOW_PAGES * P)

        def norm(lines):
            return [re.sub(r" 00:01 \d+ +", " 00:01 INO ", ln) for ln in lines]
        assert norm(sl) == norm(hl)
        flags = {v.vm_start: v.vm_flags for v in self.p.mm
                 if self.base <= v.vm_start < self.base + WINDOW_PAGES * P}
        assert flags == self.host_vmflags()
        return sl

    def close(self):
        host("munmap", self.base, WINDOW_PAGES * P)
        for fd in self.host_fds:
            os.close(fd)


@pytest.fixture
def pair():
    if not ON_LINUX:
        pytest.skip("needs Linux")
    pr = Pair()
    yield pr
    pr.close()


@pytest.fixture(scope="module")
def datafile(tmp_path_factory):
    path = tmp_path_factory.mktemp("acc") / "data"
    path.write_bytes(os.urandom(32 * P))
    return str(path)


# ------------------------------------------------------------------------------------------------
# processes, mm, VMAs, constants
# ------------------------------------------------------------------------------------------------
def test_spawn_process_and_processes(backend_name):
    k = kernel(backend=backend_name)
    p = k.spawn(name="init")
    assert isinstance(p, L.Process)
    q = k.spawn(name="sh")
    assert isinstance(p.pid, int) and isinstance(q.pid, int) and p.pid != q.pid
    procs = k.processes
    assert procs[p.pid] is p and procs[q.pid] is q and len(procs) == 2
    assert p in procs and p.pid in procs and set(procs.values()) == {p, q}
    q.exit()
    assert q not in k.processes and q.pid not in k.processes and len(k.processes) == 1
    with pytest.raises(FileNotFoundError):
        k.read(f"/proc/{q.pid}/maps")
    assert list(p.mm) == [] and p.mm.map_count == 0
    assert p.mm.find_vma(0) is None and p.mm.vma_lookup(0x1000) is None
    assert k.read(f"/proc/{p.pid}/maps") == ""


def test_constants_equal_python_mmap_and_linux():
    for name in dir(pymmap):
        if name.startswith(("PROT_", "MAP_", "MADV_", "MREMAP_")):
            assert getattr(L, name) == getattr(pymmap, name), name
    linux = {  # include/uapi/asm-generic/mman*.h, x86_64
        "MAP_SHARED": 1, "MAP_PRIVATE": 2, "MAP_FIXED": 0x10, "MAP_ANONYMOUS": 0x20,
        "MAP_GROWSDOWN": 0x100, "MAP_DENYWRITE": 0x800, "MAP_NORESERVE": 0x4000,
        "MAP_POPULATE": 0x8000, "MAP_STACK": 0x20000, "MAP_FIXED_NOREPLACE": 0x100000,
        "PROT_NONE": 0, "PROT_READ": 1, "PROT_WRITE": 2, "PROT_EXEC": 4,
        "MREMAP_MAYMOVE": 1, "MREMAP_FIXED": 2, "MREMAP_DONTUNMAP": 4,
        "MADV_NORMAL": 0, "MADV_RANDOM": 1, "MADV_SEQUENTIAL": 2, "MADV_WILLNEED": 3,
        "MADV_DONTNEED": 4, "MADV_FREE": 8, "MADV_DONTFORK": 10, "MADV_DOFORK": 11,
    }
    for name, value in linux.items():
        assert getattr(L, name) == value, name
    vm = {"VM_READ": 1, "VM_WRITE": 2, "VM_EXEC": 4, "VM_SHARED": 8, "VM_MAYREAD": 0x10,
          "VM_MAYWRITE": 0x20, "VM_MAYEXEC": 0x40, "VM_MAYSHARE": 0x80, "VM_GROWSDOWN": 0x100,
          "VM_LOCKED": 0x2000, "VM_ACCOUNT": 0x100000, "VM_NORESERVE": 0x200000,
          "VM_DONTCOPY": 0x20000, "VM_DONTEXPAND": 0x40000, "VM_NOHUGEPAGE": 0x40000000}
    for name, value in vm.items():
        assert getattr(L, name) == value, name


def test_find_vma_family_and_vma_attributes(backend_name):
    k = kernel(backend=backend_name)
    p = k.spawn(name="init")
    b = 0x10000000
    p.mmap(b, 2 * P, L.PROT_READ, ANON | L.MAP_FIXED)
    p.mmap(b + 4 * P, 2 * P, RW, ANON | L.MAP_FIXED)
    mm = p.mm
    assert mm.map_count == 2
    vmas = list(mm)
    assert [(v.vm_start, v.vm_end) for v in vmas] == [(b, b + 2 * P), (b + 4 * P, b + 6 * P)]
    lo, hi = vmas
    assert mm.find_vma(0) is lo and mm.find_vma(b + P) is lo
    assert mm.find_vma(b + 2 * P) is hi and mm.find_vma(b + 6 * P - 1) is hi
    assert mm.find_vma(b + 6 * P) is None
    assert mm.vma_lookup(b + 2 * P) is None and mm.vma_lookup(b + 5 * P) is hi
    assert mm.vma_lookup(b) is lo
    assert mm.find_vma_intersection(b + 2 * P, b + 4 * P) is None
    assert mm.find_vma_intersection(b + 2 * P, b + 4 * P + 1) is hi
    assert mm.find_vma_intersection(b + P, b + 5 * P) is lo
    # attributes, Linux values
    assert lo.vm_flags == L.VM_READ | L.VM_MAYREAD | L.VM_MAYWRITE | L.VM_MAYEXEC
    assert hi.vm_flags == (L.VM_READ | L.VM_WRITE | L.VM_MAYREAD | L.VM_MAYWRITE
                           | L.VM_MAYEXEC | L.VM_ACCOUNT)
    assert lo.vm_pgoff == b >> 12 and hi.vm_pgoff == (b + 4 * P) >> 12
    assert lo.vm_file is None and lo.anon_vma is None and lo.vm_ops is None
    f = k.create_file("/acc/f", 8 * P)
    a = p.mmap(0, 2 * P, L.PROT_READ, L.MAP_PRIVATE, f, 2 * P)
    v = mm.vma_lookup(a)
    assert v.vm_file is f and v.vm_pgoff == 2 and v.vm_ops is not None
    s = p.mmap(0, P, RW, SHANON)
    assert mm.vma_lookup(s).vm_ops is not None
    assert mm.vma_lookup(s).vm_flags & (L.VM_SHARED | L.VM_MAYSHARE) == L.VM_SHARED | L.VM_MAYSHARE
    assert mm.map_count == 4 and len(list(mm)) == 4
    starts = [v.vm_start for v in mm]
    assert starts == sorted(starts)


# ------------------------------------------------------------------------------------------------
# differential sequences against the host kernel
# ------------------------------------------------------------------------------------------------
@needs_host
def test_merge_split_sequences_a_b_k_l(pair):
    b = pair.base
    for i in range(3):
        pair.step("mmap", b + i * P, P, RW, ANON | NOREPLACE, 0)
    assert len(pair.compare()) == 1
    pair.step("mprotect", b + P, P, L.PROT_READ)
    assert len(pair.compare()) == 3
    pair.step("mprotect", b + P, P, RW)
    assert len(pair.compare()) == 1
    pair.step("munmap", b + P, P)
    assert len(pair.compare()) == 2
    pair.step("mmap", b + P, P, RW, ANON | NOREPLACE, 0)
    assert len(pair.compare()) == 1
    pair.step("munmap", b, 3 * P)
    # B1-B4
    pair.step("mmap", b, 2 * P, L.PROT_READ, ANON | NOREPLACE, 0)
    pair.step("mmap", b + 2 * P, 2 * P, RW, ANON | NOREPLACE, 0)
    assert len(pair.compare()) == 2
    pair.step("mprotect", b, 2 * P, RW)
    assert len(pair.compare()) == 1
    pair.step("mprotect", b + P, 2 * P, L.PROT_READ)
    assert len(pair.compare()) == 3
    pair.step("mprotect", b, 4 * P, L.PROT_NONE)
    assert len(pair.compare()) == 1
    # K: R RW RX, munmap across
    c = b + 16 * P
    pair.step("mmap", c, 4 * P, L.PROT_READ, ANON | NOREPLACE, 0)
    pair.step("mmap", c + 4 * P, 4 * P, RW, ANON | NOREPLACE, 0)
    pair.step("mmap", c + 8 * P, 4 * P, L.PROT_READ | L.PROT_EXEC, ANON | NOREPLACE, 0)
    pair.step("munmap", c + 2 * P, 8 * P)
    pair.compare()
    # L: MAP_FIXED replaces the middle of a VMA
    d = b + 40 * P
    pair.step("mmap", d, 8 * P, RW, ANON | NOREPLACE, 0)
    assert pair.step("mmap", d + 2 * P, 2 * P, L.PROT_READ, ANON | L.MAP_FIXED, 0)[0] == d + 2 * P
    pair.compare()
    # MAP_FIXED_NOREPLACE: any overlap -> EEXIST, nothing changes
    assert pair.step("mmap", d + 7 * P, 2 * P, RW, ANON | NOREPLACE, 0)[1] == errno.EEXIST
    assert pair.step("mmap", d - P, 2 * P, RW, ANON | NOREPLACE, 0)[1] == errno.EEXIST
    pair.compare()


@needs_host
def test_file_mappings_merge_per_open_file(pair, datafile):
    b = pair.base
    f = pair.open(datafile, os.O_RDONLY)
    pair.step("mmap", b + 2 * P, 2 * P, L.PROT_READ, L.MAP_PRIVATE | NOREPLACE, 2 * P, file=f)
    pair.step("mmap", b, 2 * P, L.PROT_READ, L.MAP_PRIVATE | NOREPLACE, 0, file=f)
    pair.step("mmap", b + 4 * P, 2 * P, L.PROT_READ, L.MAP_PRIVATE | NOREPLACE, 8 * P, file=f)
    pair.step("mmap", b + 6 * P, 2 * P, L.PROT_READ, L.MAP_SHARED | NOREPLACE, 10 * P, file=f)
    assert len(pair.compare()) == 3
    pair.step("mprotect", b + P, P, RW)
    assert len(pair.compare()) == 5
    assert pair.step("mprotect", b + 6 * P, P, RW)[1] == errno.EACCES
    g = pair.open(datafile, os.O_RDONLY)            # a second open(): never merges with f
    pair.step("mmap", b + 20 * P, 2 * P, L.PROT_READ, L.MAP_PRIVATE | NOREPLACE, 0, file=f)
    pair.step("mmap", b + 22 * P, 2 * P, L.PROT_READ, L.MAP_PRIVATE | NOREPLACE, 2 * P, file=g)
    w = pair.open(datafile, os.O_RDWR)
    pair.step("mmap", b + 30 * P, 2 * P, RW, L.MAP_SHARED | NOREPLACE, 0, file=w)
    pair.step("mmap", b + 34 * P, 2 * P, RW | L.PROT_EXEC, L.MAP_PRIVATE | NOREPLACE, 4 * P, file=w)
    # shared anonymous memory: /dev/zero (deleted), one VMA each
    pair.step("mmap", b + 40 * P, 2 * P, RW, SHANON | NOREPLACE, 0)
    pair.step("mmap", b + 42 * P, 2 * P, RW, SHANON | NOREPLACE, 0)
    lines = pair.compare()
    assert sum("/dev/zero (deleted)" in ln for ln in lines) == 2
    # errors on files
    r = pair.step("mmap", b + 50 * P, P, RW, L.MAP_SHARED | NOREPLACE, 0, file=f)
    assert r[1] == errno.EACCES
    r = pair.step("mmap", b + 50 * P, P, L.PROT_READ, L.MAP_PRIVATE, 100, file=f)
    assert r[1] == errno.EINVAL
    assert pair.step("mmap", b + 50 * P, P, L.PROT_READ,
                     L.MAP_PRIVATE | L.MAP_GROWSDOWN, 0, file=f)[1] == errno.EINVAL
    validate = 0x03
    assert pair.step("mmap", b + 50 * P, P, L.PROT_READ, validate | 0x200000 | NOREPLACE,
                     0, file=f)[1] == errno.EOPNOTSUPP
    pair.compare()


@needs_host
def test_mmap_errors_and_flags(pair):
    b = pair.base
    assert pair.step("mmap", b, 0, RW, ANON, 0)[1] == errno.EINVAL
    assert pair.step("mmap", b, P, RW, L.MAP_ANONYMOUS, 0)[1] == errno.EINVAL
    assert pair.step("mmap", b + 1, P, RW, ANON | L.MAP_FIXED, 0)[1] == errno.EINVAL
    assert pair.step("mmap", 0, 1 << 48, RW, ANON, 0)[1] == errno.ENOMEM
    assert pair.step("mmap", 0, (1 << 64) - 100, RW, ANON, 0)[1] == errno.ENOMEM
    assert pair.step("mmap", 0x7ffffffff000, P, RW, ANON | L.MAP_FIXED, 0)[1] == errno.ENOMEM
    assert pair.step("mmap", b, P, RW, 0x03 | L.MAP_ANONYMOUS | 0x200000, 0)[1] == errno.EINVAL
    # hints: free -> exact; unaligned -> rounded down
    assert pair.step("mmap", b + 10 * P, P, RW, ANON, 0)[0] == b + 10 * P
    assert pair.step("mmap", b + 20 * P + 123, P, L.PROT_READ, ANON, 0)[0] == b + 20 * P
    # flag bits: NORESERVE, GROWSDOWN, STACK, POPULATE, DENYWRITE, LOCKED-free set
    pair.step("mmap", b + 30 * P, 2 * P, RW, ANON | L.MAP_NORESERVE | NOREPLACE, 0)
    pair.step("mmap", b + 34 * P, 2 * P, RW, ANON | L.MAP_GROWSDOWN | NOREPLACE, 0)
    pair.step("mmap", b + 40 * P, 2 * P, RW, ANON | L.MAP_STACK | NOREPLACE, 0)
    pair.step("mmap", b + 44 * P, 2 * P, RW, ANON | L.MAP_POPULATE | NOREPLACE, 0)
    pair.step("mmap", b + 48 * P, 2 * P, L.PROT_READ, ANON | L.MAP_DENYWRITE | NOREPLACE, 0)
    pair.step("mmap", b + 52 * P, 2 * P, L.PROT_NONE, ANON | NOREPLACE, 0)
    pair.step("mmap", b + 56 * P, 2 * P, L.PROT_WRITE, ANON | NOREPLACE, 0)
    pair.compare()
    # MAP_FIXED over several VMAs replaces them all
    r = pair.step("mmap", b + 29 * P, 30 * P, L.PROT_READ, ANON | L.MAP_FIXED, 0)
    assert r[0] == b + 29 * P
    pair.compare()


@needs_host
def test_munmap_mprotect_madvise_errors(pair):
    b = pair.base
    pair.step("mmap", b, 4 * P, RW, ANON | NOREPLACE, 0)
    pair.step("mmap", b + 6 * P, 4 * P, RW, ANON | NOREPLACE, 0)
    assert pair.step("munmap", b + 1, P)[1] == errno.EINVAL
    assert pair.step("munmap", b, 0)[1] == errno.EINVAL
    assert pair.step("munmap", b + 100 * P, 4 * P) == (0, 0)
    assert pair.step("mprotect", b + 1, P, L.PROT_READ)[1] == errno.EINVAL
    assert pair.step("mprotect", b, P, 0x100)[1] == errno.EINVAL
    assert pair.step("mprotect", b + 100 * P, P, L.PROT_READ)[1] == errno.ENOMEM
    # a hole: ENOMEM after the part before it was changed
    assert pair.step("mprotect", b + 2 * P, 6 * P, L.PROT_READ)[1] == errno.ENOMEM
    pair.compare()
    pair.step("munmap", b + 3 * P, 1)                   # length rounded up to a page
    pair.compare()
    assert pair.step("madvise", b + 1, P, L.MADV_DONTNEED)[1] == errno.EINVAL
    assert pair.step("madvise", b, P, 9999)[1] == errno.EINVAL
    assert pair.step("madvise", b + 100 * P, P, L.MADV_DONTNEED)[1] == errno.ENOMEM
    assert pair.step("madvise", b + 2 * P, 6 * P, L.MADV_NORMAL)[1] == errno.ENOMEM
    pair.step("madvise", b + 7 * P, P, L.MADV_DONTFORK)
    pair.step("madvise", b + 8 * P, P, L.MADV_RANDOM)
    pair.step("madvise", b + 6 * P, P, L.MADV_SEQUENTIAL)
    pair.compare()
    pair.step("madvise", b + 7 * P, P, L.MADV_DOFORK)
    pair.step("madvise", b + 6 * P, 4 * P, L.MADV_NORMAL)
    pair.step("madvise", b + 6 * P, 4 * P, L.MADV_DONTNEED)
    assert len(pair.compare()) == 3


@needs_host
def test_mremap_grow_move_shrink(pair):
    b = pair.base
    mm = L.MREMAP_MAYMOVE
    assert pair.step("mremap", b + 100 * P, P, 2 * P, mm, 0)[1] == errno.EFAULT
    pair.step("mmap", b, 2 * P, RW, ANON | NOREPLACE, 0)
    assert pair.step("mremap", b + 1, P, 2 * P, 0, 0)[1] == errno.EINVAL
    assert pair.step("mremap", b, 2 * P, 4 * P, 0, 0)[0] == b          # grow in place
    pair.compare()
    pair.step("mmap", b + 6 * P, 2 * P, L.PROT_READ, ANON | NOREPLACE, 0)
    assert pair.step("mremap", b, 4 * P, 8 * P, 0, 0)[1] == errno.ENOMEM
    assert pair.step("mremap", b, 4 * P, 3 * P, 0, 0)[0] == b          # shrink
    pair.compare()
    assert pair.step("mremap", b, 3 * P, 3 * P, mm | L.MREMAP_FIXED, b + 20 * P)[0] == b + 20 * P
    pair.compare()
    assert pair.step("mremap", b + 20 * P, 3 * P, 2 * P, mm | L.MREMAP_FIXED, b + 40 * P)[0] == \
        b + 40 * P
    pair.compare()
    assert pair.step("mremap", b + 40 * P, 2 * P, 3 * P, L.MREMAP_FIXED, b + 60 * P)[1] == \
        errno.EINVAL
    # a range spanning two VMAs -> EFAULT
    pair.step("mmap", b + 42 * P, P, L.PROT_READ, ANON | NOREPLACE, 0)
    assert pair.step("mremap", b + 40 * P, 3 * P, 4 * P, mm, 0)[1] == errno.EFAULT
    pair.compare()


# ------------------------------------------------------------------------------------------------
# placement, accounting, map_count, brk (documented [C] observations of Linux 6.18)
# ------------------------------------------------------------------------------------------------
def test_get_unmapped_area_top_down(backend_name):
    k = kernel(backend=backend_name)
    p = k.spawn(name="init")
    a = p.mmap(0, P, RW, ANON)
    assert a == 0x7ffff7fff000 - P                       # mmap_base without ASLR
    b = p.mmap(0, P, RW, ANON)
    c = p.mmap(0, 2 * P, RW, ANON)
    assert (b, c) == (a - P, b - 2 * P) and p.mm.map_count == 1
    r = p.mmap(0, P, L.PROT_READ, ANON)
    assert r == c - P and p.mm.map_count == 2
    big = p.mmap(0, 2 << 20, RW, ANON)
    assert big % (2 << 20) == 0
    odd = p.mmap(0, 3 << 20, RW, ANON)
    assert odd % (2 << 20) != 0
    assert p.mmap(0x1000, P, RW, ANON) == 0x10000
    h = p.mmap(1 << 47, P, RW, ANON)
    assert h < 1 << 47
    occupied = p.mmap(a, P, L.PROT_READ, ANON)
    assert occupied != a
    with pytest.raises(OSError) as e:
        p.mmap(0, P, RW, ANON | L.MAP_FIXED)              # address 0, unprivileged
    assert e.value.errno == errno.EPERM


def test_vm_account_and_status_lines(backend_name):
    k = kernel(backend=backend_name)
    p = k.spawn(name="init")

    def status():
        text = k.read(f"/proc/{p.pid}/status")
        return {m.group(1): int(m.group(2))
                for m in re.finditer(r"^(Vm\w+):\t *(\d+) kB$", text, re.M)}

    def committed():
        return int(re.search(r"Committed_AS: +(\d+) kB", k.read("/proc/meminfo")).group(1))

    s0, c0 = status(), committed()
    mb = 1 << 20
    a = p.mmap(0, mb, RW, ANON)
    assert p.mm.vma_lookup(a).vm_flags & L.VM_ACCOUNT and committed() - c0 == 1024
    s1 = status()
    assert s1["VmData"] - s0["VmData"] == 1024 and s1["VmSize"] - s0["VmSize"] == 1024
    r = p.mmap(0, mb, L.PROT_READ, ANON)
    assert not p.mm.vma_lookup(r).vm_flags & L.VM_ACCOUNT and committed() - c0 == 1024
    x = p.mmap(0, mb, L.PROT_READ | L.PROT_EXEC, ANON)
    g = p.mmap(0, mb, RW, ANON | L.MAP_GROWSDOWN)
    n = p.mmap(0, mb, RW, ANON | L.MAP_NORESERVE)
    assert p.mm.vma_lookup(n).vm_flags & (L.VM_ACCOUNT | L.VM_NORESERVE) == L.VM_NORESERVE
    s = p.mmap(0, mb, RW, SHANON)
    assert not p.mm.vma_lookup(s).vm_flags & L.VM_ACCOUNT
    assert committed() - c0 == 3 * 1024                   # a, g, shared anon (shmem charge)
    s2 = status()
    assert s2["VmLib"] - s1["VmLib"] == 1024 and s2["VmStk"] - s1["VmStk"] == 1024
    assert s2["VmData"] - s1["VmData"] == 1024           # the NORESERVE one
    assert s2["VmSize"] - s1["VmSize"] == 5 * 1024 and s2["VmPeak"] == s2["VmSize"]
    # mprotect R drops VM_ACCOUNT of an untouched anonymous VMA, RW takes it again
    p.mprotect(a, mb, L.PROT_READ)
    assert not p.mm.vma_lookup(a).vm_flags & L.VM_ACCOUNT and committed() - c0 == 2 * 1024
    p.mprotect(r, mb, RW)
    assert p.mm.vma_lookup(r).vm_flags & L.VM_ACCOUNT and committed() - c0 == 3 * 1024
    p.munmap(x, mb)
    p.munmap(r, mb)
    assert committed() - c0 == 2 * 1024
    s3 = status()
    assert s3["VmSize"] == s2["VmSize"] - 2048 and s3["VmPeak"] == s2["VmPeak"]
    p.munmap(g, mb)
    p.munmap(s, mb)
    assert committed() == c0


def test_max_map_count(backend_name):
    k = kernel(backend=backend_name)
    k.max_map_count = 60
    p = k.spawn(name="init")
    b = 0x20000000
    for i in range(61):                                  # may reach max + 1
        p.mmap(b + 2 * i * P, P, RW, ANON | NOREPLACE)
    assert p.mm.map_count == 61
    with pytest.raises(OSError) as e:
        p.mmap(b + 200 * P, P, RW, ANON | NOREPLACE)
    assert e.value.errno == errno.ENOMEM
    for i in range(3):
        p.munmap(b + 2 * i * P, P)                       # 58 VMAs
    c = b + 300 * P
    p.mmap(c, 3 * P, RW, ANON | NOREPLACE)               # 59
    with pytest.raises(OSError) as e:
        p.mprotect(c + P, P, L.PROT_READ)                # first split done, second refused
    assert e.value.errno == errno.ENOMEM
    assert p.mm.map_count == 60
    assert [ln.split()[1] for ln in maps_lines(k, p, c, c + 3 * P)] == ["rw-p", "rw-p"]
    p.munmap(b + 100 * P, P)                             # 59: a middle-page munmap is allowed
    p.mmap(b + 400 * P, 3 * P, RW, ANON | NOREPLACE)     # 60
    with pytest.raises(OSError) as e:
        p.munmap(b + 401 * P, P)
    assert e.value.errno == errno.ENOMEM
    p.munmap(b + 400 * P, P)                             # an edge: always allowed
    assert p.mm.map_count == 60


def test_max_map_count_default_65530():
    k = kernel()
    p = k.spawn(name="init")
    b = 0x100000000
    for i in range(65531):
        p.mmap(b + 2 * i * P, P, L.PROT_READ, ANON | L.MAP_FIXED)
    assert p.mm.map_count == 65531
    with pytest.raises(OSError) as e:
        p.mmap(0, P, L.PROT_READ, ANON)
    assert e.value.errno == errno.ENOMEM


# ------------------------------------------------------------------------------------------------
# files
# ------------------------------------------------------------------------------------------------
def test_files_create_write_read_open(datafile):
    k = kernel()
    f = k.create_file("/acc/file", 8 * P)
    assert isinstance(f, L.File)
    assert f.read(0, 4) == b"\0\0\0\0"
    f.write(10, b"hello")
    assert f.read(8, 9) == b"\0\0hello\0\0"
    f.write(100, 3)
    assert f.read(0, 15) == b"\0" * 10 + b"hello"
    g1, g2 = k.open("/acc/file"), k.open("/acc/file")
    assert g1 is not g2 and g1.read(10, 5) == b"hello"
    assert g1.f_inode is g2.f_inode is f.f_inode            # one inode, one page cache
    p = k.spawn(name="init")
    a = p.mmap(0x30000000, 2 * P, L.PROT_READ, L.MAP_PRIVATE | L.MAP_FIXED, g1, 0)
    p.mmap(a + 2 * P, 2 * P, L.PROT_READ, L.MAP_PRIVATE | L.MAP_FIXED, g2, 2 * P)
    assert p.mm.map_count == 2
    p.mmap(a + 4 * P, 2 * P, L.PROT_READ, L.MAP_PRIVATE | L.MAP_FIXED, g2, 4 * P)
    assert p.mm.map_count == 2
    # host files: imported read-only, real size, contents, device and inode
    h = k.open(datafile)
    with open(datafile, "rb") as fh:
        data = fh.read()
    assert h.read(0, 100) == data[:100] and h.read(5 * P, 10) == data[5 * P:5 * P + 10]
    with pytest.raises(OSError) as e:
        p.mmap(0, P, RW, L.MAP_SHARED, h, 0)
    assert e.value.errno == errno.EACCES
    m = p.mmap(0, P, L.PROT_READ, L.MAP_SHARED, h, P)
    st = os.stat(datafile)
    line = maps_lines(k, p, m, m + 1)[0]
    expect = (f"{m:08x}-{m + P:08x} r--s 00001000 {os.major(st.st_dev):02x}:"
              f"{os.minor(st.st_dev):02x} {st.st_ino} ")
    assert line.startswith(expect) and line[73:] == os.path.realpath(datafile)
    assert line[:73].endswith(" ") and len(line[:73].rstrip()) < 73
    with pytest.raises(OSError) as e:
        h.write(0, b"x")                                  # open(2) default: O_RDONLY
    assert e.value.errno == errno.EBADF
    w = k.open(datafile, os.O_WRONLY)
    with pytest.raises(OSError) as e:
        w.read(0, 1)
    assert e.value.errno == errno.EBADF
    with pytest.raises(OSError) as e:
        p.mmap(0, P, L.PROT_READ, L.MAP_PRIVATE, w, 0)    # every mapping needs FMODE_READ
    assert e.value.errno == errno.EACCES
    with pytest.raises(OSError) as e:
        k.open(datafile + ".missing")
    assert e.value.errno == errno.ENOENT
    with open(datafile, "rb") as fh:
        assert fh.read() == data                          # never written


def test_shared_anon_maps_line(backend_name):
    k = kernel(backend=backend_name)
    p = k.spawn(name="init")
    a = p.mmap(0, 2 * P, RW, SHANON)
    line = maps_lines(k, p)[0]
    assert re.fullmatch(rf"{a:x}-{a + 2 * P:x} rw-s 00000000 00:01 \d+ +/dev/zero \(deleted\)",
                        line)
    assert line.index("/dev/zero") == 73
    b = p.mmap(0, P, L.PROT_READ, ANON)
    assert maps_lines(k, p)[0] == f"{b:x}-{b + P:x} r--p 00000000 00:00 0 "


# ------------------------------------------------------------------------------------------------
# exec against `setarch -R`
# ------------------------------------------------------------------------------------------------
NOLIBC = r"""
static long sc(long n, long a, long b, long c)
{ long r; __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c)
                           : "rcx", "r11", "memory"); return r; }
static char buf[100000];
long data[600] = {1};
static void dump(const char *p)
{ long fd = sc(2, (long)p, 0, 0), n;
  while ((n = sc(0, fd, (long)buf, sizeof buf)) > 0) sc(1, 1, (long)buf, n);
  sc(3, fd, 0, 0); }
void _start(void)
{ dump("/proc/self/maps"); sc(1, 1, (long)"====\n", 5); dump("/proc/self/status");
  sc(60, data[0] - 1, 0, 0); for (;;) ; }
"""


@pytest.fixture(scope="module")
def nolibc(tmp_path_factory):
    if not ON_LINUX or shutil.which("gcc") is None or shutil.which("setarch") is None:
        pytest.skip("needs gcc and setarch")
    d = tmp_path_factory.mktemp("exe")
    (d / "t.c").write_text(NOLIBC)
    out = {}
    for kind, opts in (("static", ["-static", "-no-pie"]), ("static-pie", ["-static-pie"])):
        exe = d / f"maps-{kind}"
        r = subprocess.run(["gcc", "-O2", "-nostdlib", "-fno-stack-protector", *opts,
                            "-o", str(exe), str(d / "t.c")], capture_output=True)
        if r.returncode:
            pytest.skip(f"cannot build the test program: {r.stderr.decode()[:200]}")
        out[kind] = str(exe)
    return out


def run_setarch(argv, env):
    r = subprocess.run(["setarch", "-R", "env", "-i", *[f"{k}={v}" for k, v in env.items()],
                        *argv], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"setarch -R failed ({r.returncode}): {r.stderr[:200]}")
    return r.stdout


VM_KEYS = ("VmPeak", "VmSize", "VmData", "VmStk", "VmExe", "VmLib")


@pytest.mark.parametrize("kind", ["static", "static-pie"])
@pytest.mark.parametrize("envsize,nargs", [(0, 0), (300000, 0), (1000, 30000), (0, 9000)])
def test_exec_static_equals_setarch(nolibc, kind, envsize, nargs):
    exe = nolibc[kind]
    env = {f"V{i}": "x" * (envsize // 4) for i in range(4)} if envsize else {}
    argv = [exe] + [str(i % 10) for i in range(nargs)]
    out = run_setarch(argv, env)
    host_maps, host_status = out.split("====\n")
    k = kernel()
    p = k.spawn(name="init")
    p.execve(exe, argv, [f"{a}={b}" for a, b in env.items()])
    assert k.read(f"/proc/{p.pid}/maps") == host_maps
    sim_status = k.read(f"/proc/{p.pid}/status")
    for key in VM_KEYS:
        want = re.search(rf"^{key}:.*$", host_status, re.M).group(0)
        assert re.search(rf"^{key}:.*$", sim_status, re.M).group(0) == want


def _parse(line):
    f = line.split(None, 5)
    s, e = (int(x, 16) for x in f[0].split("-"))
    return s, e, f[1], int(f[2], 16), f[3], f[4], f[5] if len(f) > 5 else ""


LIBC_MAPS = r"""
#include <stdio.h>
#include <stdlib.h>
static char bss[200000];
int main(void)
{ char line[512]; FILE *f = fopen("/proc/self/maps", "r");
  bss[0] = 1;
  while (fgets(line, sizeof line, f)) fputs(line, stdout);
  return bss[1]; }
"""


@pytest.fixture(scope="module")
def libc_programs(tmp_path_factory):
    if not ON_LINUX or shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    d = tmp_path_factory.mktemp("libc")
    (d / "m.c").write_text(LIBC_MAPS)
    out = {}
    for kind, opts in (("pie", ["-pie", "-fPIE"]), ("nopie", ["-no-pie"]),
                       ("static", ["-static"])):
        exe = d / f"maps-{kind}"
        r = subprocess.run(["gcc", "-O2", *opts, "-o", str(exe), str(d / "m.c")],
                           capture_output=True)
        if r.returncode == 0:
            out[kind] = str(exe)
    return out


@pytest.mark.parametrize("argv", [["/bin/cat", "/proc/self/maps"],
                                  ["/usr/bin/python3", "-c",
                                   "print(open('/proc/self/maps').read(), end='')"],
                                  ["/lib64/ld-linux-x86-64.so.2", "/bin/cat", "/proc/self/maps"],
                                  ["pie"], ["nopie"], ["static"]])
def test_exec_dynamic_vmas_created_at_exec(argv, libc_programs):
    """A dynamic binary: every VMA the kernel creates at exec (the binary, ld.so, vvar/vdso,
    stack, vsyscall) shows in setarch -R's maps; ld.so may have split file VMAs (RELRO) and
    added mappings (libraries, heap) in the free space; the stack may have grown."""
    if len(argv) == 1:
        if argv[0] not in libc_programs:
            pytest.skip("cannot build the libc program")
        argv = [libc_programs[argv[0]]]
    if not ON_LINUX or shutil.which("setarch") is None or not os.path.exists(argv[0]):
        pytest.skip("needs setarch and " + argv[0])
    host = [_parse(ln) for ln in run_setarch(argv, {}).splitlines()]
    k = kernel()
    p = k.spawn(name="init")
    p.execve(argv[0], argv, [])
    sim = [_parse(ln) for ln in k.read(f"/proc/{p.pid}/maps").splitlines()]
    for s, e, perms, off, dev, ino, name in sim:
        if name == "[stack]":
            stack = [h for h in host if h[6] == "[stack]"]
            assert len(stack) == 1 and stack[0][1] == e and stack[0][0] <= s
            continue
        pieces = [h for h in host if s <= h[0] < e]
        assert pieces and pieces[0][0] == s and pieces[-1][1] == e, hex(s)
        for a, b2 in zip(pieces, pieces[1:]):
            assert a[1] == b2[0]
        for hs, he, hperms, hoff, hdev, hino, hname in pieces:
            assert (hdev, hino, hname) == (dev, ino, name)
            if dev != "00:00":
                assert hoff == off + (hs - s)
            assert hperms == perms or (perms == "rw-p" and hperms == "r--p" and dev != "00:00")
    covered = [(v[0], v[1]) for v in sim]
    exe_name = os.path.realpath(argv[0])
    for h in host:
        if not any(s <= h[0] < e for s, e in covered):
            assert h[6] not in (exe_name, "[stack]", "[vdso]", "[vvar]", "[vsyscall]"), h
    heap = [h for h in host if h[6] == "[heap]"]
    if heap:                                         # malloc's brk starts at the exec break
        assert heap[0][0] == p.brk(0)


def test_exec_randomized_reproducible():
    exe = "/bin/cat"
    if not os.path.exists(exe):
        pytest.skip("no /bin/cat")

    def layout(seed):
        k = Kernel(randomize_va_space=2, seed=seed)
        p = k.spawn(name="init")
        p.execve(exe, [exe], ["A=1"])
        return k.read(f"/proc/{p.pid}/maps")

    one, again, other = layout(7), layout(7), layout(8)
    assert one == again and one != other
    first = _parse(one.splitlines()[0])
    assert first[0] != 0x555555554000 and first[0] % P == 0
    stack = [_parse(ln) for ln in one.splitlines() if ln.endswith("[stack]")][0]
    assert stack[1] < 0x7ffffffff000
    assert one.splitlines()[-1].endswith("[vsyscall]")
    # arch/x86: PIE bias ELF_ET_DYN_BASE + up to 2^28 pages, stack top TASK_SIZE minus up to
    # 16 GiB, mmap_base below the stack gap, brk up to 1 GiB above the end of bss
    for seed in range(5):
        lines = [_parse(ln) for ln in layout(seed).splitlines()]
        assert 0x555555554000 <= lines[0][0] < 0x555555554000 + (1 << 40)
        stack = [v for v in lines if v[6] == "[stack]"][0]
        assert 0x7ffffffff000 - (16 << 30) - P <= stack[1] <= 0x7ffffffff000
        vdso = [v for v in lines if v[6] == "[vdso]"][0]
        assert stack[0] - vdso[1] >= 8 << 20
        exe_end = max(v[1] for v in lines if v[6] == os.path.realpath(exe))
        k = Kernel(randomize_va_space=2, seed=seed)
        p = k.spawn(name="init")
        p.execve(exe, [exe], ["A=1"])
        assert exe_end <= p.brk(0) < exe_end + (1 << 30) + 2 * P


# ------------------------------------------------------------------------------------------------
# brk and the [heap] VMA (doc 3.6 / 9.13)
# ------------------------------------------------------------------------------------------------
def test_brk_heap(nolibc):
    exe = nolibc["static"]
    k = kernel()
    p = k.spawn(name="init")
    p.execve(exe, [exe], [])
    cur = p.brk(0)
    assert cur % P == 0 and not any(ln.endswith("[heap]") for ln in maps_lines(k, p))
    assert p.brk(cur - P) == cur                         # below start_brk: ignored
    assert p.brk(cur + 100) == cur + 100
    heap = [ln for ln in maps_lines(k, p) if ln.endswith("[heap]")]
    assert heap == [f"{cur:08x}-{cur + P:08x} rw-p 00000000 00:00 0".ljust(73) + "[heap]"]
    v = p.mm.vma_lookup(cur)
    assert v.vm_flags == (L.VM_READ | L.VM_WRITE | L.VM_MAYREAD | L.VM_MAYWRITE
                          | L.VM_MAYEXEC | L.VM_ACCOUNT)
    assert p.brk(cur + 4 * P + 1) == cur + 4 * P + 1
    assert p.mm.vma_lookup(cur).vm_end == cur + 5 * P
    assert p.brk(cur + P + 1) == cur + P + 1
    assert p.mm.vma_lookup(cur).vm_end == cur + 2 * P
    # the bss VMA just below stays separate
    below = p.mm.find_vma(cur - 1)
    assert below.vm_end == cur and below is not p.mm.vma_lookup(cur)
    # growth that would end exactly at the next VMA is refused (one free page kept)
    p.mmap(cur + 10 * P, P, L.PROT_READ, ANON | NOREPLACE)
    assert p.brk(cur + 10 * P) == cur + P + 1
    assert p.brk(cur + 9 * P) == cur + 9 * P
    p.brk(cur + 2 * P)
    # an RW anon mapping at the heap end merges into [heap]; brk can then no longer grow
    p.mmap(cur + 2 * P, P, RW, ANON | NOREPLACE)
    heap = [ln for ln in maps_lines(k, p) if ln.endswith("[heap]")]
    assert heap and heap[0].startswith(f"{cur:08x}-{cur + 3 * P:08x} ")
    assert p.brk(cur + 5 * P) == cur + 2 * P
    assert p.brk(cur) == cur
    assert p.mm.vma_lookup(cur) is None


def test_brk_without_exec():
    """A process that never ran execve has start_brk = brk = 0; growing from 0 fails in
    check_brk_limits (address 0 is below mmap_min_addr) and brk returns the old break."""
    k = kernel()
    p = k.spawn(name="init")
    assert p.brk(0) == 0
    assert p.brk(0x10000000) == 0
    assert k.read(f"/proc/{p.pid}/maps") == "" and p.mm.map_count == 0


@needs_host
def test_edge_arguments_against_host(pair):
    b = pair.base
    mv = L.MREMAP_MAYMOVE
    pair.step("mmap", b, 4 * P, RW, ANON | NOREPLACE, 0)
    pair.step("mmap", b + 8 * P, 4 * P, RW, SHANON | NOREPLACE, 0)
    assert pair.step("mprotect", b, 0, L.PROT_READ) == (0, 0)
    assert pair.step("madvise", b, 0, L.MADV_DONTNEED) == (0, 0)
    pair.step("munmap", b, 1 << 62)
    pair.step("munmap", b + 100 * P, (1 << 64) - b)
    pair.step("mprotect", b + 8 * P, (1 << 64) - P, L.PROT_READ)
    pair.step("mprotect", b + 8 * P, P, L.PROT_READ | L.PROT_GROWSDOWN)
    pair.step("mremap", b + 8 * P, P, 0, mv, 0)
    pair.step("mremap", b + 8 * P, P, P, 8, 0)
    pair.step_placed(b + 8 * P, 0, 2 * P, mv, 0)               # duplicate a shared mapping
    pair.step_placed(b + 8 * P, 2 * P, 2 * P, mv | L.MREMAP_DONTUNMAP, 0)
    pair.step("mremap", b + 8 * P, 2 * P, 2 * P, mv | L.MREMAP_FIXED, b + 9 * P)
    pair.step("mremap", b + 8 * P, 2 * P, 2 * P, mv | L.MREMAP_FIXED, b + 31 * P + 1)
    pair.compare()
    pair.step("mmap", b + 40 * P, 4 * P, RW, ANON | NOREPLACE, 0)
    pair.step_placed(b + 40 * P, 0, 2 * P, mv, 0)              # private: EINVAL
    pair.step_placed(b + 40 * P, 2 * P, 2 * P, mv | L.MREMAP_DONTUNMAP, 0)
    pair.step_placed(b + 40 * P, P, 2 * P, mv | L.MREMAP_DONTUNMAP, 0)
    pair.step("mremap", b + 40 * P, 2 * P, 2 * P, mv | L.MREMAP_FIXED | L.MREMAP_DONTUNMAP,
              b + 60 * P)
    pair.step("mremap", b + 41 * P, P, P, mv | L.MREMAP_FIXED, b + 40 * P)
    pair.step("mremap", b + 42 * P, 2 * P, 3 * P, mv | L.MREMAP_FIXED, b + 43 * P)
    pair.step("mremap", b + 42 * P, 2 * P, 3 * P, mv | L.MREMAP_FIXED, b + 80 * P)
    pair.compare()
    pair.step("madvise", b + 80 * P, 3 * P, L.MADV_WILLNEED)
    pair.step("madvise", b + 80 * P, 3 * P, L.MADV_FREE)
    pair.step("madvise", b + 80 * P, 3 * P, L.MADV_REMOVE)
    pair.step("madvise", b + 60 * P, 2 * P, L.MADV_HUGEPAGE)
    pair.step("madvise", b + 60 * P, 2 * P, L.MADV_DONTDUMP)
    pair.step("madvise", b + 60 * P, P, L.MADV_WIPEONFORK)
    pair.compare()


@needs_host
def test_execve_errors_like_host(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("not a program\n")
    script = tmp_path / "noexec-elf"
    shutil.copyfile("/bin/cat", script)
    os.chmod(script, 0o644)
    notelf = tmp_path / "notelf"
    notelf.write_bytes(b"\0" * 200)
    os.chmod(notelf, 0o755)
    for path in ["/nonexistent-program", str(tmp_path), str(plain), str(script), str(notelf)]:
        r = subprocess.run([sys.executable, "-c", f"import os; os.execv({path!r}, ['x'])"],
                           capture_output=True, text=True)
        m = re.search(r"\[Errno (\d+)\]", r.stderr)
        assert m, r.stderr
        k = kernel()
        p = k.spawn(name="init")
        p.mmap(0x10000000, P, RW, ANON | L.MAP_FIXED)
        with pytest.raises(OSError) as e:
            p.execve(path, [path], [])
        assert e.value.errno == int(m.group(1)), path
        assert p.mm.vma_lookup(0x10000000) is not None       # the old mm survives a failure


@needs_host
@pytest.mark.parametrize("seed", range(int(os.environ.get("ACC_SEEDS", "6"))))
def test_random_sequences_against_host(pair, datafile, seed):
    """Random mmap/munmap/mprotect/mremap/madvise sequences at fixed addresses inside the
    window (anonymous private and shared, one file through two open files): every result,
    errno, maps line and VmFlags equal to the host's after every step."""
    import random
    rnd = random.Random(seed)
    b = pair.base
    n = 48                                          # pages used in the window
    files = [pair.open(datafile, os.O_RDONLY), pair.open(datafile, os.O_RDWR)]
    prots = [L.PROT_NONE, L.PROT_READ, RW, L.PROT_READ | L.PROT_EXEC, RW | L.PROT_EXEC]
    advices = [L.MADV_NORMAL, L.MADV_RANDOM, L.MADV_SEQUENTIAL, L.MADV_DONTFORK,
               L.MADV_DOFORK, L.MADV_DONTDUMP, L.MADV_DODUMP, L.MADV_DONTNEED,
               L.MADV_WILLNEED, L.MADV_HUGEPAGE, L.MADV_NOHUGEPAGE, L.MADV_WIPEONFORK,
               L.MADV_KEEPONFORK, L.MADV_FREE, L.MADV_COLD, L.MADV_PAGEOUT, L.MADV_REMOVE,
               L.MADV_POPULATE_READ, L.MADV_POPULATE_WRITE, L.MADV_MERGEABLE,
               L.MADV_UNMERGEABLE, L.MADV_DODUMP]

    def rng():
        start = rnd.randrange(n)
        return b + start * P, rnd.randint(1, min(8, n - start)) * P - rnd.choice([0, 0, 1, 100])

    for _ in range(120):
        op = rnd.choice(["mmap", "mmap", "munmap", "mprotect", "mremap", "madvise"])
        addr, length = rng()
        if op == "mmap":
            kind = rnd.choice(["anon", "anon", "shared", "file"])
            fixed = rnd.choice([L.MAP_FIXED, NOREPLACE, 0])
            prot = rnd.choice(prots)
            if kind == "file":
                f = rnd.choice(files)
                typ = rnd.choice([L.MAP_PRIVATE, L.MAP_SHARED])
                typ |= rnd.choice([0, L.MAP_POPULATE])
                if fixed:
                    pair.step("mmap", addr, length, prot, typ | fixed, rnd.randrange(16) * P,
                              file=f)
                else:
                    pair.step_hint(addr, length, prot, typ, rnd.randrange(16) * P, file=f)
            else:
                flags = ANON if kind == "anon" else SHANON
                extra = rnd.choice([0, 0, L.MAP_NORESERVE, L.MAP_STACK, L.MAP_GROWSDOWN,
                                    L.MAP_POPULATE, L.MAP_LOCKED])
                if fixed:
                    pair.step("mmap", addr, length, prot, flags | fixed | extra, 0)
                else:
                    pair.step_hint(addr, length, prot, flags | extra)
        elif op == "munmap":
            pair.step("munmap", addr, length)
        elif op == "mprotect":
            pair.step("mprotect", addr, length,
                      rnd.choice(prots + [L.PROT_READ | L.PROT_GROWSDOWN, RW | L.PROT_GROWSUP]))
        elif op == "madvise":
            pair.step("madvise", addr, length, rnd.choice(advices))
        else:
            new_len = rnd.randint(1, 8) * P - rnd.choice([0, 0, 1, 4095])
            if rnd.random() < 0.5:
                pair.step("mremap", addr, length, new_len, 0, 0)
            else:
                dest = b + rnd.randrange(n, 2 * n) * P
                pair.step("mremap", addr, length, new_len,
                          L.MREMAP_MAYMOVE | L.MREMAP_FIXED, dest)
        pair.compare()


@needs_host
def test_negative_and_huge_arguments(pair, datafile):
    b = pair.base
    f = pair.open(datafile, os.O_RDONLY)
    pair.step("mmap", b, P, L.PROT_READ, L.MAP_PRIVATE | NOREPLACE, -P, file=f)
    pair.step("mmap", b, P, L.PROT_READ, L.MAP_PRIVATE | NOREPLACE, 1 << 62, file=f)
    pair.step("mmap", b, -P, RW, ANON | NOREPLACE, 0)
    pair.step("mmap", -P, P, RW, ANON | L.MAP_FIXED, 0)
    pair.step("mmap", b, P, -1, ANON | NOREPLACE, 0)
    pair.step("mmap", b, P, RW, ANON | NOREPLACE, 0)
    pair.step("munmap", -P, P)
    pair.step("munmap", b, -P)
    pair.step("mprotect", b, -P, L.PROT_READ)
    pair.step("mprotect", b, P, -1)
    pair.step("madvise", b, -P, L.MADV_DONTNEED)
    pair.step("madvise", b, P, -1)
    pair.step("mremap", b, P, -P, L.MREMAP_MAYMOVE, 0)
    pair.step("mremap", b, -P, P, 0, 0)
    pair.step("mremap", b, P, 2 * P, -1, 0)
    pair.step("mremap", b, P, P, L.MREMAP_MAYMOVE | L.MREMAP_FIXED, -P)
    pair.compare()


def test_mmap_null_hint_and_file_descriptors():
    """C habits: NULL as None, fd -1 with MAP_ANONYMOUS, an fd from the descriptor table."""
    k = kernel()
    p = k.spawn(name="init")
    a = p.mmap(None, P, RW, ANON)
    assert a == 0x7ffff7fff000 - P
    assert p.mmap(0, P, RW, ANON, -1, 0) == a - P
    f = k.create_file("/acc/fd", 4 * P)
    fd = p.install_fd(f)
    m = p.mmap(0, P, L.PROT_READ, L.MAP_PRIVATE, fd, P)
    assert p.mm.vma_lookup(m).vm_file is f and p.mm.vma_lookup(m).vm_pgoff == 1
    with pytest.raises(OSError) as e:
        p.mmap(0, P, L.PROT_READ, L.MAP_PRIVATE, fd + 1, 0)
    assert e.value.errno == errno.EBADF
    with pytest.raises(OSError) as e:
        p.mmap(0, P, L.PROT_READ, L.MAP_PRIVATE, fd + 1, 5)   # offset checked first
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        p.mmap(0, P, L.PROT_READ, L.MAP_PRIVATE)               # no file at all
    assert e.value.errno == errno.EBADF


def test_lookups_take_unsigned_addresses():
    k = kernel()
    p = k.spawn(name="init")
    p.mmap(0x10000000, 2 * P, RW, ANON | L.MAP_FIXED)
    assert p.mm.find_vma(-1) is None and p.mm.vma_lookup(-1) is None
    assert p.mm.find_vma_intersection(-P, -1) is None


# ------------------------------------------------------------------------------------------------
# placement and brk in a whole address space: a program run under setarch -R makes the calls,
# the simulated process execs the same program and makes the same calls
# ------------------------------------------------------------------------------------------------
SEQ_PROGRAM = r"""
static long sc6(long n, long a, long b, long c, long d, long e, long f)
{ long r; register long r10 __asm__("r10") = d; register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8),
                   "r"(r9) : "rcx", "r11", "memory"); return r; }
static char buf[100000];
static void out(const char *s, long n) { sc6(1, 1, (long)s, n, 0, 0, 0); }
static void hex(long v)
{ char t[20]; int i = 19; t[i] = '\n';
  do { t[--i] = "0123456789abcdef"[v & 15]; v = (unsigned long)v >> 4; } while (v);
  out(t + i, 20 - i); }
static long call(long n, long a, long b, long c, long d, long e, long f)
{ long r = sc6(n, a, b, c, d, e, f); hex(r); return r; }
#define MM(a, l, p, f) call(9, a, l, p, f, -1, 0)
void _start(void)
{ long P = 4096, RW = 3, AN = 0x22, SH = 0x21, M = 1 << 20;
  long a1 = MM(0, P, RW, AN); MM(0, P, RW, AN); long a3 = MM(0, 2 * P, RW, AN);
  MM(0, P, 1, AN); MM(0, 2 * M, RW, AN); long a6 = MM(0, P, RW, AN); MM(0, 3 * M, RW, AN);
  MM(0, 2 * M, RW, SH); MM(0x1000, P, RW, AN); MM(1L << 47, P, RW, AN); MM(a1, P, 1, AN);
  call(11, a3, P, 0, 0, 0, 0); MM(0, P, 7, AN);
  long b0 = call(12, 0, 0, 0, 0, 0, 0); call(12, b0 + 100, 0, 0, 0, 0, 0);
  long b2 = call(12, b0 + 5 * P + 1, 0, 0, 0, 0, 0);
  MM((b2 + P - 1) & ~(P - 1), P, RW, AN | 0x100000); call(12, b2 + 3 * P, 0, 0, 0, 0, 0);
  MM(0, 4 * M, RW, AN); call(25, a6, P, 16 * P, 1, 0, 0);
  MM(0, P, RW, AN | 0x100); MM(0, P, RW, AN); MM(0, 5 * P, 1, AN | 0x40);
  call(12, b0 + 1000 * P, 0, 0, 0, 0, 0); call(12, b0 + 2 * P, 0, 0, 0, 0, 0);
  out("====\n", 5);
  long fd = sc6(2, (long)"/proc/self/maps", 0, 0, 0, 0, 0), n;
  while ((n = sc6(0, fd, (long)buf, sizeof buf, 0, 0, 0)) > 0) out(buf, n);
  sc6(60, 0, 0, 0, 0, 0, 0); for (;;) ; }
"""


def test_placement_and_brk_equal_setarch(tmp_path):
    if not ON_LINUX or shutil.which("gcc") is None or shutil.which("setarch") is None:
        pytest.skip("needs gcc and setarch")
    (tmp_path / "s.c").write_text(SEQ_PROGRAM)
    exe = str(tmp_path / "seq")
    build_nolibc(tmp_path / "s.c", exe)
    results, host_maps = run_setarch([exe], {}).split("====\n")
    results = [int(x, 16) for x in results.split()]
    k = kernel()
    p = k.spawn(name="init")
    p.execve(exe, [exe], [])
    RW_, AN, SH, M = 3, 0x22, 0x21, 1 << 20
    got = []

    def mm(a, length, prot, flags):
        got.append(sim_call(p.mmap, a, length, prot, flags)[0])
        return got[-1]
    a1 = mm(0, P, RW_, AN)
    mm(0, P, RW_, AN)
    a3 = mm(0, 2 * P, RW_, AN)
    mm(0, P, 1, AN)
    mm(0, 2 * M, RW_, AN)
    a6 = mm(0, P, RW_, AN)
    mm(0, 3 * M, RW_, AN)
    mm(0, 2 * M, RW_, SH)
    mm(0x1000, P, RW_, AN)
    mm(1 << 47, P, RW_, AN)
    mm(a1, P, 1, AN)
    got.append(p.munmap(a3, P))
    mm(0, P, 7, AN)
    b0 = p.brk(0)
    got += [b0, p.brk(b0 + 100)]
    b2 = p.brk(b0 + 5 * P + 1)
    got.append(b2)
    mm((b2 + P - 1) & ~(P - 1), P, RW_, AN | 0x100000)
    got.append(p.brk(b2 + 3 * P))
    mm(0, 4 * M, RW_, AN)
    got.append(p.mremap(a6, P, 16 * P, 1))
    mm(0, P, RW_, AN | 0x100)
    mm(0, P, RW_, AN)
    mm(0, 5 * P, 1, AN | 0x40)
    got.append(p.brk(b0 + 1000 * P))
    got.append(p.brk(b0 + 2 * P))
    assert [hex(g) for g in got] == [hex(x) for x in results]

    def norm(text):                                  # shmem inode numbers differ
        return re.sub(r" 00:01 \d+ +", " 00:01 INO ", text)
    assert norm(k.read(f"/proc/{p.pid}/maps")) == norm(host_maps)


def build_nolibc(source, exe):
    """Compile a no-libc test program (static, non-PIE); skip the test when gcc cannot."""
    r = subprocess.run(["gcc", "-O1", "-nostdlib", "-static", "-no-pie", "-fno-stack-protector",
                        "-o", exe, str(source)], capture_output=True)
    if r.returncode:
        pytest.skip("cannot build: " + r.stderr.decode()[:200])


# Programs built without libc: raw syscalls (sc6), write(1, ...) and a hex printer.
NOLIBC_PRELUDE = r"""
static long sc6(long n, long a, long b, long c, long d, long e, long f)
{ long r; register long r10 __asm__("r10") = d; register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8),
                   "r"(r9) : "rcx", "r11", "memory"); return r; }
static void out(const char *s, long n) { sc6(1, 1, (long)s, n, 0, 0, 0); }
static void hex(long v)
{ char t[20]; int i = 19; t[i] = '\n';
  do { t[--i] = "0123456789abcdef"[v & 15]; v = (unsigned long)v >> 4; } while (v);
  out(t + i, 20 - i); }
"""

RANDOM_PROGRAM = NOLIBC_PRELUDE + r"""
/* nr, ref (index of an earlier result added to a0, or -1), a0 .. a5, ref for a4 */
static const long ops[][9] = {
OPS
};
extern char __executable_start[], _end[];
static int hits(long a, long len)
{ return a < (((long)_end + 4095) & ~4095L) && a + len > (long)__executable_start; }
/* nothing in .data/.bss: the program's own writes must not give the bss an anon_vma the
   simulation cannot know about */
void _start(void)
{ long res[sizeof ops / sizeof ops[0]]; char buf[4096];
  sc6(2, (long)"DATAFILE", 2, 0, 0, 0, 0);      /* fd 3, O_RDWR */
  for (unsigned long i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    const long *o = ops[i];
    long a0 = o[2] + (o[1] >= 0 ? res[o[1]] : 0);
    long a4 = o[6] + (o[8] >= 0 ? res[o[8]] : 0);
    /* never touch the program itself: such an op is skipped and reported as -4095 */
    if ((o[0] != 12 && hits(a0, o[3])) || (o[0] == 25 && (o[5] & 2) && hits(a4, o[4])))
      res[i] = -4095;
    else
      res[i] = sc6(o[0], a0, o[3], o[4], o[5], a4, o[7]);
    hex(res[i]); }
  out("====\n", 5);
  long fd = sc6(2, (long)"/proc/self/maps", 0, 0, 0, 0, 0), n;
  while ((n = sc6(0, fd, (long)buf, sizeof buf, 0, 0, 0)) > 0) out(buf, n);
  out("====\n", 5);
  fd = sc6(2, (long)"/proc/self/status", 0, 0, 0, 0, 0);
  while ((n = sc6(0, fd, (long)buf, sizeof buf, 0, 0, 0)) > 0) out(buf, n);
  sc6(60, 0, 0, 0, 0, 0, 0); for (;;) ; }
"""


def _random_ops(seed):
    import random
    rnd = random.Random(seed)
    ops, maps_idx = [(12, -1, 0, 0, 0, 0, 0, 0)], []     # op 0: brk(0)
    prots = [0, 1, 3, 5, 7]
    for i in range(1, 90):
        kind = rnd.choice(["mmap"] * 4 + ["munmap", "mprotect", "mremap", "brk", "hint",
                                          "fixed", "madvise", "remap_fixed"])
        if not maps_idx and kind != "brk":
            kind = "mmap"
        pages = rnd.choice([1, 1, 2, 3, 16, 511, 512, 513, 1024])
        if kind == "mmap":
            flags = rnd.choice([0x22, 0x22, 0x22, 0x21, 0x22 | 0x100, 0x22 | 0x40, 0x22 | 0x20000,
                                1, 2, 2, 0x22 | 0x2000, 0x22 | 0x8000, 0x22 | 0x4000])
            fd = -1 if flags & 0x20 else 3
            ops.append((9, -1, 0, pages * P, rnd.choice(prots), flags, fd,
                        0 if fd < 0 else rnd.randrange(64) * P))
            maps_idx.append(i)
        elif kind == "brk":
            ops.append((12, 0, rnd.randrange(-3, 40) * P + rnd.randrange(P), 0, 0, 0, 0, 0))
        else:
            ref = 0 if rnd.random() < 0.15 else rnd.choice(maps_idx)   # 0: the start of brk
            off = rnd.randrange(0 if ref == 0 else -2, 4) * P     # never over the program
            if kind == "munmap":
                ops.append((11, ref, off, pages * P, 0, 0, 0, 0))
            elif kind == "mprotect":
                prot = rnd.choice(prots + [0x1000001, 0x1000003])      # PROT_GROWSDOWN
                ops.append((10, ref, off, rnd.randint(1, 4) * P, prot, 0, 0, 0))
            elif kind == "mremap":
                ops.append((25, ref, 0, rnd.randint(0, 3) * P, pages * P,
                            rnd.choice([0, 1, 1, 5]), 0, 0))
                maps_idx.append(i)
            elif kind == "remap_fixed":
                ops.append((25, ref, 0, rnd.randint(1, 3) * P, pages * P, 3,
                            rnd.randrange(-8, 8) * P, 0, rnd.choice(maps_idx)))
                maps_idx.append(i)
            elif kind == "fixed":
                flags = rnd.choice([0x32, 0x22 | 0x100000, 0x31, 0x32 | 0x100, 0x12, 0x11,
                                    2 | 0x100000])
                fd = -1 if flags & 0x20 else 3
                ops.append((9, ref, off, rnd.randint(1, 4) * P, rnd.choice(prots), flags, fd,
                            0 if fd < 0 else rnd.randrange(64) * P))
                maps_idx.append(i)
            elif kind == "madvise":
                advice = rnd.choice([0, 1, 2, 4, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
                                     21, 22, 23, 102, 103, 9999])
                ops.append((28, ref, off, rnd.randint(1, 4) * P, advice, 0, 0, 0))
            else:
                ops.append((9, ref, rnd.randrange(-600, 600) * P, pages * P, 3, 0x22, -1, 0))
                maps_idx.append(i)
    return [op + (-1,) if len(op) == 8 else op for op in ops]


@pytest.mark.parametrize("seed", range(int(os.environ.get("ACC_SEEDS", "6"))))
def test_random_whole_address_space_equal_setarch(tmp_path, seed):
    if not ON_LINUX or shutil.which("gcc") is None or shutil.which("setarch") is None:
        pytest.skip("needs gcc and setarch")
    ops = _random_ops(seed)
    data = tmp_path / "data"
    data.write_bytes(b"d" * 64 * P)
    body = ",\n".join("{%s}" % ", ".join(f"{v}L" for v in op) for op in ops)
    (tmp_path / "r.c").write_text(RANDOM_PROGRAM.replace("OPS", body)
                                  .replace("DATAFILE", str(data)))
    exe = str(tmp_path / "rnd")
    build_nolibc(tmp_path / "r.c", exe)
    run = subprocess.run(["setarch", "-R", "env", "-i", exe], capture_output=True, text=True)
    # a random munmap may remove the program's own text: then compare what it printed before
    results, _, host_maps = run.stdout.partition("====\n")
    host_maps, _, host_status = host_maps.partition("====\n")
    results = [int(x, 16) for x in results.split()]
    assert run.returncode == 0 or len(results) < len(ops)
    k = kernel()
    p = k.spawn(name="init")
    p.execve(exe, [exe], [])
    assert p.install_fd(k.open(str(data), os.O_RDWR)) == 3
    res = []
    ops = ops[:len(results)]
    calls = {9: p.mmap, 10: p.mprotect, 11: p.munmap, 12: p.brk, 25: p.mremap,
             28: p.madvise}
    nargs = {9: 6, 10: 3, 11: 2, 12: 1, 25: 5, 28: 3}
    for i, (nr, ref, a0, a1, a2, a3, a4, a5, ref4) in enumerate(ops):
        a0 = (a0 + (res[ref] if ref >= 0 else 0)) & ((1 << 64) - 1)
        if ref4 >= 0:
            a4 = (a4 + res[ref4]) & ((1 << 64) - 1)
        if results[i] == (1 << 64) - 4095:           # skipped: would have hit the program
            res.append(-4095)
            continue
        try:
            v = calls[nr](a0, *[a1, a2, a3, a4, a5][:nargs[nr] - 1])
            v = 0 if v is None else v
        except OSError as err:
            v = -err.errno
        res.append(v)
        assert hex(v & ((1 << 64) - 1)) == hex(results[i]), f"op {i} {ops[i]}"

    def norm(text):
        return re.sub(r" 00:01 \d+ +", " 00:01 INO ", text)
    if run.returncode == 0:
        assert norm(k.read(f"/proc/{p.pid}/maps")) == norm(host_maps)
        status = k.read(f"/proc/{p.pid}/status")
        for key in VM_KEYS + ("VmLck",):
            want = re.search(rf"^{key}:.*$", host_status, re.M).group(0)
            assert re.search(rf"^{key}:.*$", status, re.M).group(0) == want


def test_special_mappings_refuse_splits_like_host(tmp_path):
    """[vvar]/[vdso] (special_mapping_vmops.may_split): any split is EINVAL; whole-VMA
    operations are allowed.  Same calls in a program under setarch -R and in linuxmm."""
    if not ON_LINUX or shutil.which("gcc") is None or shutil.which("setarch") is None:
        pytest.skip("needs gcc and setarch")
    (tmp_path / "s.c").write_text(RANDOM_PROGRAM.replace("OPS", "{12, -1, 0, 0, 0, 0, 0, 0, -1}")
                                  .replace("DATAFILE", "/nonexistent"))
    exe = str(tmp_path / "sp")
    build_nolibc(tmp_path / "s.c", exe)
    k = kernel()
    p = k.spawn(name="init")
    p.execve(exe, [exe], [])
    special = {ln.split()[-1]: _parse(ln) for ln in maps_lines(k, p) if ln.endswith("]")}
    vvar, vdso = special["[vvar]"], special["[vdso]"]
    ops = [(11, -1, vvar[0] + P, P, 0, 0, 0, 0), (10, -1, vvar[0], P, 1, 0, 0, 0),
           (10, -1, vdso[0], vdso[1] - vdso[0], 1, 0, 0, 0), (28, -1, vdso[0], P, 10, 0, 0, 0),
           (28, -1, vvar[0], vvar[1] - vvar[0], 10, 0, 0, 0),
           (25, -1, vdso[0], vdso[1] - vdso[0], P, 0, 0, 0),
           (11, -1, vvar[0] - P, 2 * P, 0, 0, 0, 0),
           (11, -1, vdso[0], vdso[1] - vdso[0], 0, 0, 0, 0)]
    body = ",\n".join("{%s}" % ", ".join(f"{v}L" for v in op + (-1,)) for op in ops)
    (tmp_path / "s.c").write_text(RANDOM_PROGRAM.replace("OPS", body)
                                  .replace("DATAFILE", "/nonexistent"))
    build_nolibc(tmp_path / "s.c", exe)
    results, _, host_maps = run_setarch([exe], {}).partition("====\n")
    host_maps = host_maps.partition("====\n")[0]
    k = kernel()
    p = k.spawn(name="init")
    p.execve(exe, [exe], [])
    calls = {10: p.mprotect, 11: p.munmap, 25: p.mremap, 28: p.madvise}
    nargs = {10: 3, 11: 2, 25: 3, 28: 3}
    got = []
    for nr, _, a0, *rest in ops:
        try:
            v = calls[nr](a0, *rest[:nargs[nr] - 1])
            v = 0 if v is None else v
        except OSError as err:
            v = -err.errno
        got.append(v & ((1 << 64) - 1))
    assert got == [int(x, 16) for x in results.split()]
    assert -errno.EINVAL & ((1 << 64) - 1) in got
    assert k.read(f"/proc/{p.pid}/maps") == host_maps


def test_execve_replaces_the_address_space(nolibc):
    exe = nolibc["static"]
    k = kernel()
    fresh = k.spawn(name="init")
    fresh.execve(exe, [exe], [])
    p = k.spawn(name="init")
    p.mmap(0x10000000, P, RW, ANON | L.MAP_FIXED)
    p.execve("/bin/cat", ["cat"], [])
    p.execve(exe, [exe], [])
    assert k.read(f"/proc/{p.pid}/maps") == k.read(f"/proc/{fresh.pid}/maps")

    def vm_lines(q):
        return [ln for ln in k.read(f"/proc/{q.pid}/status").splitlines()
                if ln.startswith(("Vm", "Name"))]
    assert vm_lines(p) == vm_lines(fresh)


def test_anon_vma_assigned_by_the_first_write_fault():
    """MAP_POPULATE write-faults private writable mappings (anon_vma_prepare); read-only
    populate maps the zero page and shared memory has no anon_vma."""
    k = kernel()
    p = k.spawn(name="init")
    a = p.mmap(0, 2 * P, RW, ANON)
    assert p.mm.vma_lookup(a).anon_vma is None
    w = p.mmap(0x20000000, 2 * P, RW, ANON | L.MAP_POPULATE | L.MAP_FIXED)
    r = p.mmap(0x30000000, 2 * P, L.PROT_READ, ANON | L.MAP_POPULATE | L.MAP_FIXED)
    s = p.mmap(0x40000000, 2 * P, RW, SHANON | L.MAP_POPULATE | L.MAP_FIXED)
    f = k.create_file("/acc/pop", 2 * P)
    fp = p.mmap(0x50000000, 2 * P, RW, L.MAP_PRIVATE | L.MAP_POPULATE | L.MAP_FIXED, f, 0)
    assert p.mm.vma_lookup(w).anon_vma is not None
    assert p.mm.vma_lookup(r).anon_vma is None and p.mm.vma_lookup(s).anon_vma is None
    assert p.mm.vma_lookup(fp).anon_vma is not None
    # a fresh neighbour merges into the faulted VMA (one side without anon_vma)
    p.mmap(w + 2 * P, P, RW, ANON | L.MAP_FIXED)
    assert p.mm.vma_lookup(w).vm_end == w + 3 * P


LIMIT_PROGRAM = NOLIBC_PRELUDE + r"""
#define P 4096L
#define NR 0x100022L
void _start(void)
{ char buf[4096]; long base = 0x200000000000L, n = 0, r, fd;
  long m1 = sc6(9, base - 64 * P, 3 * P, 3, NR, -1, 0);
  long m2 = sc6(9, base - 32 * P, 3 * P, 3, NR, -1, 0);
  for (;;) { r = sc6(9, base + 2 * n * P, P, (n & 1) ? 1 : 3, NR, -1, 0); if (r < 0) break; n++; }
  hex(n); hex(r);
  hex(sc6(9, base - 16 * P, P, 3, NR, -1, 0));          /* at max + 1: ENOMEM */
  hex(sc6(11, m1 + P, P, 0, 0, 0, 0));                  /* middle: ENOMEM */
  hex(sc6(10, m2 + P, P, 1, 0, 0, 0));                  /* split: ENOMEM */
  hex(sc6(11, base, P, 0, 0, 0, 0));                    /* whole VMA: always */
  hex(sc6(11, m1 + P, P, 0, 0, 0, 0));
  hex(sc6(11, base + 2 * P, P, 0, 0, 0, 0));
  hex(sc6(11, m1 + P, P, 0, 0, 0, 0));
  hex(sc6(11, base + 4 * P, P, 0, 0, 0, 0));
  hex(sc6(10, m2 + P, P, 1, 0, 0, 0));                  /* first split only */
  hex(sc6(11, base + 6 * P, P, 0, 0, 0, 0)); hex(sc6(11, base + 8 * P, P, 0, 0, 0, 0));
  hex(sc6(9, m2 + P, P, 5, 0x32, -1, 0));               /* MAP_FIXED over the middle */
  hex(sc6(25, base + 20 * P, P, 3 * P, 1, 0, 0));       /* mremap move */
  hex(sc6(25, base + 22 * P, P, P, 3, base - 8 * P, 0));
  hex(sc6(28, base + 24 * P, 3 * P, 10, 0, 0, 0));      /* madvise over a hole */
  out("====\n", 5);
  fd = sc6(2, (long)"/proc/self/maps", 0, 0, 0, 0, 0);
  while ((n = sc6(0, fd, (long)buf, sizeof buf, 0, 0, 0)) > 0) out(buf, n);
  sc6(60, 0, 0, 0, 0, 0, 0); for (;;) ; }
"""


def test_max_map_count_at_the_real_limit_equal_setarch(tmp_path):
    if not ON_LINUX or shutil.which("gcc") is None or shutil.which("setarch") is None:
        pytest.skip("needs gcc and setarch")
    with open("/proc/sys/vm/max_map_count") as f:
        limit = int(f.read())
    (tmp_path / "l.c").write_text(LIMIT_PROGRAM)
    exe = str(tmp_path / "limit")
    build_nolibc(tmp_path / "l.c", exe)
    results, host_maps = run_setarch([exe], {}).split("====\n")
    k = kernel()
    k.max_map_count = limit
    p = k.spawn(name="init")
    p.execve(exe, [exe], [])
    NR_ = 0x100022
    base = 0x200000000000

    def c(fn, *args):
        try:
            v = fn(*args)
            return 0 if v is None else v & ((1 << 64) - 1)
        except OSError as err:
            return (-err.errno) & ((1 << 64) - 1)
    m1 = c(p.mmap, base - 64 * P, 3 * P, 3, NR_)
    m2 = c(p.mmap, base - 32 * P, 3 * P, 3, NR_)
    n = 0
    while True:
        v = c(p.mmap, base + 2 * n * P, P, 1 if n & 1 else 3, NR_)
        if v >= 1 << 63:
            break
        n += 1
    got = [n, v, c(p.mmap, base - 16 * P, P, 3, NR_), c(p.munmap, m1 + P, P),
           c(p.mprotect, m2 + P, P, 1), c(p.munmap, base, P), c(p.munmap, m1 + P, P),
           c(p.munmap, base + 2 * P, P), c(p.munmap, m1 + P, P), c(p.munmap, base + 4 * P, P),
           c(p.mprotect, m2 + P, P, 1), c(p.munmap, base + 6 * P, P),
           c(p.munmap, base + 8 * P, P), c(p.mmap, m2 + P, P, 5, 0x32),
           c(p.mremap, base + 20 * P, P, 3 * P, 1), c(p.mremap, base + 22 * P, P, P, 3,
                                                      base - 8 * P),
           c(p.madvise, base + 24 * P, 3 * P, 10)]
    assert [hex(g) for g in got] == [hex(int(x, 16)) for x in results.split()]
    assert k.read(f"/proc/{p.pid}/maps") == host_maps


def test_bulk_lookups_agree_with_find_vma(backend_name):
    import numpy as np
    k = kernel(backend=backend_name)
    p = k.spawn(name="init")
    for i in range(0, 400, 3):
        p.mmap(0x10000000 + i * P, (1 + i % 2) * P, L.PROT_READ if i % 6 else RW,
               ANON | L.MAP_FIXED)
    addrs = np.arange(0x10000000 - 2 * P, 0x10000000 + 410 * P, 1000, dtype=np.int64)
    fv = p.mm.find_vma_bulk(addrs)
    vl = p.mm.vma_lookup_bulk(addrs)
    for a, f, v in zip(addrs.tolist(), fv.tolist(), vl.tolist()):
        one = p.mm.find_vma(a)
        assert f == (one.vm_start if one is not None else -1)
        one = p.mm.vma_lookup(a)
        assert v == (one.vm_start if one is not None else -1)
