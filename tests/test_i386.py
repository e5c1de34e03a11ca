"""i386 (CONFIG_X86_PAE, VMSPLIT_3G) processes: address space, PAE page tables, ELF32 exec, kmap.

Worked by hand from the kernel source (arch/x86/mm/mmap.c, arch/x86/mm/pgtable.c):
  * mmap_base without randomization: gap = RLIMIT_STACK 8 MiB + stack_guard_gap 1 MiB = 9 MiB,
    clamped up to 128 MiB -> PAGE_ALIGN(0xC0000000 - 0x8000000) = 0xB8000000; a 3-page
    anonymous mmap lands top-down at 0xB8000000 - 0x3000 = 0xB7FFD000.
  * mmap_legacy_base = PAGE_ALIGN(0xC0000000 / 3) = 0x40000000.
  * pgd_alloc (6.16+: a whole page for the PGD, PREALLOCATED_PMDS = PTRS_PER_PGD = 4, each
    mm_inc_nr_pmds): VmPTE of a new mm = 4 * 4 kB = 16 kB; the PGD page is in PageTables but
    not in pgtables_bytes, so PageTables grows by 5 pages = 20 kB per mm.
  * one write fault adds a PTE table: VmPTE 20 kB.  munmap of the only VMA of the 1 GiB PGD
    entry [0x80000000, 0xC0000000): free_pgtables(floor 0, ceiling 0) frees the PTE table and
    (free_pmd_range, pud_clear, mm_dec_nr_pmds) the PMD: VmPTE 12 kB; the next fault there
    allocates both again: 20 kB.
"""
import errno
import os
import shutil
import subprocess

import pytest

import linuxmm as L
from linuxmm.kernel import Kernel

RW = L.PROT_READ | L.PROT_WRITE
ANON = L.MAP_PRIVATE | L.MAP_ANONYMOUS


def vm_line(k, pid, name):
    for line in k.read(f"/proc/{pid}/status").splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise KeyError(name)


def meminfo(k, name):
    for line in k.read("/proc/meminfo").splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise KeyError(name)


@pytest.fixture(params=["c", "reference"])
def k(request):
    return Kernel("4G", arch="i386", randomize_va_space=0, backend=request.param)


def test_layout_and_mmap(k):
    p = k.spawn("a")
    assert p.mm.task_size == 0xC0000000
    assert p.mm.mmap_base == 0xB8000000
    assert p.mm.mmap_legacy_base == 0x40000000
    assert p.mmap(0, 3 * 4096, RW, ANON) == 0xB7FFD000
    with pytest.raises(OSError) as e:
        p.mmap(0xBFFFF000, 2 * 4096, RW, ANON | L.MAP_FIXED)
    assert e.value.errno == errno.ENOMEM
    assert p.mmap(0, 1 << 30, RW, ANON | L.MAP_NORESERVE) < 0xB7FFD000
    k.check()


def test_pae_tables_fork_exit(k):
    base = meminfo(k, "PageTables")
    p = k.spawn("a")
    assert vm_line(k, p.pid, "VmPTE") == 16
    assert meminfo(k, "PageTables") == base + 20
    a = p.mmap(0, 3 * 4096, RW, ANON)
    p.touch(a, write=True)
    k.check()
    assert vm_line(k, p.pid, "VmPTE") == 20
    pfn, flags = p.translate(a)
    assert k.page(pfn).zone == "HighMem"                 # GFP_HIGHUSER_MOVABLE on 4 GiB
    assert flags & L.PTE_NX and flags & L.PTE_RW          # PAE: NX in bit 63
    c = p.fork()
    k.check()
    assert vm_line(k, c.pid, "VmPTE") == 20
    p.touch(a, write=True)                                # COW break in the parent
    k.check()
    assert p.translate(a)[0] != c.translate(a)[0]
    k.exit_process(c)
    k.check()
    p.munmap(a, 3 * 4096)
    assert vm_line(k, p.pid, "VmPTE") == 12               # PTE table and its PMD freed
    k.check()
    p.mmap(a, 4096, RW, ANON | L.MAP_FIXED)
    p.touch(a, write=True)
    assert vm_line(k, p.pid, "VmPTE") == 20
    k.exit_process(p)
    k.check()
    assert meminfo(k, "PageTables") == base


def test_backends_agree():
    out = []
    for backend in ("c", "reference"):
        k = Kernel("2G", arch="i386", randomize_va_space=0, backend=backend)
        p = k.spawn("a")
        a = p.mmap(0, 64 * 4096, RW, ANON)
        p.touch_range(a, 64 * 4096, write=True)
        c = p.fork()
        p.touch_range(a, 8 * 4096, write=True)
        p.mprotect(a, 4096, L.PROT_READ)
        p.munmap(a + 32 * 4096, 8 * 4096)
        k.check()
        out.append([k.read(f"/proc/{q.pid}/{f}") for q in (p, c)
                    for f in ("maps", "status", "smaps")] + [k.read("/proc/meminfo")])
    assert out[0] == out[1]


def test_x86_64_counts_unchanged():
    k = Kernel("1G", randomize_va_space=0)
    p = k.spawn("a")
    assert p.mm.task_size == 0x7FFFFFFFF000 and vm_line(k, p.pid, "VmPTE") == 0
    p.touch(p.mmap(0, 4096, RW, ANON), write=True)
    assert vm_line(k, p.pid, "VmPTE") == 12                # PUD + PMD + PTE


def _tiny_elf32(entry=0x08048054):
    """A minimal ELF32 EM_386 ET_EXEC: one PT_LOAD r-x of the first page."""
    import struct
    ehdr = struct.pack("<16sHHIIIIIHHHHHH", b"\x7fELF\x01\x01\x01" + bytes(9), 2, 3, 1, entry,
                       52, 0, 0, 52, 32, 1, 0, 0, 0)
    phdr = struct.pack("<IIIIIIII", 1, 0, 0x08048000, 0x08048000, 0x60, 0x60, 5, 0x1000)
    return ehdr + phdr + b"\xeb\xfe" + bytes(10)


def test_exec_elf32(k):
    f = k.create_file("/bin/tiny32", 0)
    f.write(0, _tiny_elf32())
    p = k.spawn("sh")
    p.execve("/bin/tiny32", ["tiny32"], [])
    lines = k.read(f"/proc/{p.pid}/maps").splitlines()
    assert lines[0].startswith("08048000-08049000 r-xp 00000000 fe:01")
    assert [ln.split()[-1] for ln in lines[1:]] == ["[vvar]", "[vvar_vclock]", "[vdso]", "[stack]"]
    assert lines[1].startswith("b7ff8000-b7ffc000") and lines[3].startswith("b7ffe000-b8000000")
    assert lines[4].split()[0].endswith("-c0000000")      # STACK_TOP = TASK_SIZE, no vsyscall
    k.check()


def test_exec_wrong_class():
    k32 = Kernel("1G", arch="i386", randomize_va_space=0)
    p = k32.spawn("sh")
    with pytest.raises(OSError) as e:
        p.execve("/bin/true", ["true"], [])               # ELF64 x86_64 on i386
    assert e.value.errno == errno.ENOEXEC
    k64 = Kernel("1G", randomize_va_space=0)
    f = k64.create_file("/bin/tiny32", 0)
    f.write(0, _tiny_elf32())
    q = k64.spawn("sh")
    with pytest.raises(OSError) as e:
        q.execve("/bin/tiny32", ["tiny32"], [])           # no IA32 emulation in linuxmm
    assert e.value.errno == errno.ENOEXEC


def test_kmap():
    k = Kernel("4G", arch="i386")
    lo = k.alloc_pages(L.GFP_KERNEL)
    hi = k.alloc_pages(L.GFP_HIGHUSER_MOVABLE)
    assert k.page(hi).zone == "HighMem" and k.page(lo).zone != "HighMem"
    assert k.kmap(lo) == 0xC0000000 + lo * 4096
    assert k.kmap_local_page(lo) == 0xC0000000 + lo * 4096
    assert k.kmap_stats() == {"pkmap_slots": 512, "pkmap_in_use": 0, "pkmap_unused": 0,
                              "kmap_local": [0, 0]}
    assert k.virt_to_page(0xC0000000 + lo * 4096).pfn == lo
    assert k.page_address(hi) is None
    v = k.kmap(hi)
    assert 0xFF800000 <= v < 0xFFA00000 and k.kmap(hi) == v and k.page_address(hi) == v
    assert k.kmap_stats()["pkmap_in_use"] == 1
    k.kunmap(hi)
    k.kunmap(hi)
    with pytest.raises(L.InvalidFree):
        k.kunmap(hi)
    assert k.kmap_stats()["pkmap_unused"] == 1           # freed at the next flush
    a = k.kmap_local_page(hi)
    b = k.kmap_local_page(hi + 1)
    assert a != b
    with pytest.raises(L.InvalidFree):
        k.kunmap_local(a)                                # not LIFO: nothing changed
    assert k.kmap_stats()["kmap_local"] == [2, 0]
    k.kunmap_local(b)
    k.kunmap_local(a)
    with pytest.raises(L.InvalidFree):
        k.kunmap_local(a)
    k.kunmap_local(0xC0000000 + lo * 4096)               # lowmem: a no-op, as the kernel
    k.check()


def test_kmap_x86_64_direct_map():
    k = Kernel("1G")
    pfn = k.alloc_pages()
    assert k.kmap(pfn) == k.kmap_local_page(pfn) == 0xffff888000000000 + pfn * 4096
    assert k.kmap_stats()["pkmap_slots"] == 0


S32 = r"""
static int sys(int n, int a, int b, int c) { int r; __asm__ volatile("int $0x80" : "=a"(r)
    : "a"(n), "b"(a), "c"(b), "d"(c) : "memory"); return r; }
char buf[8192];
void _start(void) { int fd = sys(5, (int)"/proc/self/maps", 0, 0);
    int n = sys(3, fd, (int)buf, sizeof buf); sys(4, 1, (int)buf, n); sys(1, 0, 0, 0); }
"""


@pytest.fixture(scope="module")
def static32(tmp_path_factory):
    if not shutil.which("gcc") or not shutil.which("setarch"):
        pytest.skip("no gcc or setarch")
    d = tmp_path_factory.mktemp("i386")
    src, exe = d / "s32.c", d / "s32"
    src.write_text(S32)
    r = subprocess.run(["gcc", "-m32", "-static", "-nostdlib", "-fno-pie", "-no-pie", "-O1",
                        "-o", str(exe), str(src)], capture_output=True)
    if r.returncode:
        pytest.skip("gcc -m32 does not work here")
    return str(exe)


def test_exec_matches_host_compat(static32):
    """The host runs the program as an IA32-emulated (compat) task: TASK_SIZE 0xFFFFE000 and
    the compat mmap base, unlike a native i386 kernel.  What both share is checked: the ELF
    segments and the bss/brk lines byte for byte, and the vDSO's three mappings (sizes, order,
    adjacency).  The stack and mmap placement differ by design (0xC0000000 vs 0xFFFFE000)."""
    r = subprocess.run(["setarch", "linux32", "-R", static32], capture_output=True, text=True)
    if r.returncode:
        pytest.skip("the host cannot run i386 programs")
    host = r.stdout.splitlines()
    k = Kernel("1G", arch="i386", randomize_va_space=0)
    p = k.spawn("sh")
    p.execve(static32, [static32], [])
    sim = k.read(f"/proc/{p.pid}/maps").splitlines()

    def elf_lines(lines):
        return [ln for ln in lines if ln.split()[-1] == static32 or len(ln.split()) == 5]

    assert elf_lines(sim) == elf_lines(host)

    def vdso(lines):
        out = []
        for ln in lines:
            if ln.split()[-1] in ("[vvar]", "[vvar_vclock]", "[vdso]"):
                s, e = (int(x, 16) for x in ln.split()[0].split("-"))
                out.append((ln.split()[-1], e - s, ln.split()[1]))
        return out

    assert vdso(sim) == vdso(host)
    assert os.path.basename(static32) == "s32"


def test_docs_i386_section_runs():
    import re
    doc = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "vm.md")
    section = open(doc).read().split("## i386", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, "docs/vm.md", "exec"), {})
