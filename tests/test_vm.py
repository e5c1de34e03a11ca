"""Address-space behaviour of linuxmm against the facts of docs linux-mm-virtual.md (§1-3, 8, 9),
which were measured on a real 6.18 kernel."""
import errno
import os

import pytest

import linuxmm as L
from linuxmm.errors import InvariantError
from linuxmm.kernel import Kernel

P = 4096
ANON = L.MAP_PRIVATE | L.MAP_ANONYMOUS
NR = L.MAP_FIXED_NOREPLACE
RW = L.PROT_READ | L.PROT_WRITE
B = 0x7f0000000000


@pytest.fixture
def kernel(backend_name):
    return Kernel(randomize_va_space=0, backend=backend_name)


@pytest.fixture
def proc(kernel):
    return kernel.spawn("test")


def ranges(p, lo=B, hi=B + (1 << 30)):
    """[(start_page, end_page, perms)] of the VMAs in [lo, hi), relative to B."""
    out = []
    for line in p.maps.splitlines():
        start, end = (int(x, 16) for x in line.split()[0].split("-"))
        if lo <= start < hi:
            out.append(((start - B) // P, (end - B) // P, line.split()[1]))
    return out


def errno_of(fn, *args):
    with pytest.raises(OSError) as err:
        fn(*args)
    return err.value.errno


def fixed(p, page, pages, prot=RW, flags=ANON):
    return p.mmap(B + page * P, pages * P, prot, flags | NR)


# -- tree and lookups ------------------------------------------------------------------------------

def test_find_vma_family(proc):
    fixed(proc, 0, 2)
    fixed(proc, 4, 2, L.PROT_READ)
    mm = proc.mm
    assert mm.find_vma(B + P).vm_start == B
    assert mm.find_vma(B + 2 * P).vm_start == B + 4 * P          # in a gap: the next VMA
    assert mm.find_vma(B + 6 * P) is None
    assert mm.vma_lookup(B + 2 * P) is None
    assert mm.vma_lookup(B + 5 * P).vm_start == B + 4 * P
    assert mm.find_vma_intersection(B + 2 * P, B + 4 * P) is None
    assert mm.find_vma_intersection(B + 2 * P, B + 5 * P).vm_start == B + 4 * P
    assert [v.vm_start for v in mm] == [B, B + 4 * P]
    assert mm.map_count == 2
    addrs = [B - 1, B, B + 2 * P, B + 5 * P, B + 7 * P]
    assert list(mm.find_vma_bulk(addrs)) == [B, B, B + 4 * P, B + 4 * P, -1]
    assert list(mm.vma_lookup_bulk(addrs)) == [-1, B, -1, B + 4 * P, -1]


def test_tree_stays_balanced_with_many_vmas(proc):
    for i in range(3000):
        fixed(proc, 2 * i, 1, L.PROT_READ if i % 2 else RW)
    mm = proc.mm
    mm.check()
    assert mm.map_count == 3000
    assert max(len(b) for b in mm.tree._vmas) <= 512
    for i in range(0, 3000, 7):
        assert mm.find_vma(B + (2 * i + 1) * P).vm_start == B + (2 * i + 2) * P
    for i in range(0, 3000, 2):
        proc.munmap(B + 2 * i * P, P)
    mm.check()
    assert mm.map_count == 1500


def test_vma_fields(proc, kernel):
    f = kernel.create_file("/data/f", 16 * P)
    a = proc.mmap(B, 4 * P, L.PROT_READ, L.MAP_PRIVATE | NR, f, 2 * P)
    vma = proc.mm.vma_lookup(a)
    assert (vma.vm_start, vma.vm_end, vma.vm_pgoff, vma.vm_file) == (B, B + 4 * P, 2, f)
    assert vma.vm_flags == L.VM_READ | L.VM_MAYREAD | L.VM_MAYWRITE | L.VM_MAYEXEC
    assert vma.vm_ops.kind == "file" and vma.anon_vma is None
    anon = proc.mm.vma_lookup(fixed(proc, 10, 1))
    assert anon.vm_ops is None and anon.vm_pgoff == (B >> 12) + 10
    proc.touch(B + 10 * P, write=True)
    assert anon.anon_vma is not None


# -- §2.3 VmFlags --------------------------------------------------------------------------------

@pytest.mark.parametrize("prot,flags,expected", [
    (L.PROT_READ, ANON, "rd mr mw me"),
    (RW, ANON, "rd wr mr mw me ac"),
    (RW, ANON | L.MAP_NORESERVE, "rd wr mr mw me nr"),
    (0, ANON, "mr mw me"),
    (RW, L.MAP_SHARED | L.MAP_ANONYMOUS, "rd wr sh mr mw me ms"),
    (RW, ANON | L.MAP_GROWSDOWN, "rd wr mr mw me gd ac"),
    (RW, ANON | L.MAP_LOCKED, "rd wr mr mw me lo ac"),
    (RW, ANON | L.MAP_STACK, "rd wr mr mw me ac nh"),
])
def test_vmflags_of_anonymous_mappings(proc, prot, flags, expected):
    vma = proc.mm.vma_lookup(proc.mmap(0, P, prot, flags))
    assert L.vm_flags_string(vma.vm_flags).strip() == expected


@pytest.mark.parametrize("mode,prot,flags,expected", [
    (os.O_RDONLY, L.PROT_READ, L.MAP_PRIVATE, "rd mr mw me"),
    (os.O_RDONLY, L.PROT_READ, L.MAP_SHARED, "rd mr me ms"),
    (os.O_RDWR, RW, L.MAP_SHARED, "rd wr sh mr mw me ms"),
    (os.O_RDWR, RW, L.MAP_PRIVATE, "rd wr mr mw me ac"),
    (os.O_RDONLY, L.PROT_READ | L.PROT_EXEC, L.MAP_PRIVATE, "rd ex mr mw me"),
])
def test_vmflags_of_file_mappings(proc, kernel, mode, prot, flags, expected):
    kernel.create_file("/data/g", 4 * P)
    f = kernel.open("/data/g", mode)
    vma = proc.mm.vma_lookup(proc.mmap(0, P, prot, flags, f))
    assert L.vm_flags_string(vma.vm_flags).strip() == expected


def test_madvise_flags_codes(proc):
    a = proc.mmap(0, 8 * P, RW, ANON)
    for i, (advice, code) in enumerate([(L.MADV_DONTFORK, "dc"), (L.MADV_WIPEONFORK, "wf"),
                                         (L.MADV_DONTDUMP, "dd"), (L.MADV_SEQUENTIAL, "sr"),
                                         (L.MADV_RANDOM, "rr"), (L.MADV_HUGEPAGE, "hg"),
                                         (L.MADV_MERGEABLE, "mg")]):
        proc.madvise(a + i * P, P, advice)
        assert code in L.vm_flags_string(proc.mm.vma_lookup(a + i * P).vm_flags).split()
    assert proc.mm.map_count == 8


# -- §2.5 placement -------------------------------------------------------------------------------

def test_top_down_placement_c(proc):
    p1 = proc.mmap(0, P, RW, ANON)
    p2 = proc.mmap(0, P, RW, ANON)
    p3 = proc.mmap(0, 2 * P, RW, ANON)
    assert p1 == 0x7ffff7fff000 - P
    assert (p2, p3) == (p1 - P, p2 - 2 * P)
    assert proc.mm.map_count == 1
    p4 = proc.mmap(0, P, L.PROT_READ, ANON)
    assert p4 == p3 - P and proc.mm.map_count == 2


def test_thp_alignment_of_anonymous_mappings(proc):
    first = proc.mmap(0, P, RW, ANON)
    a2 = proc.mmap(0, 2 << 20, RW, ANON)
    a4 = proc.mmap(0, 4 << 20, RW, ANON)
    a3 = proc.mmap(0, 3 << 20, RW, ANON)
    s2 = proc.mmap(0, 2 << 20, RW, L.MAP_SHARED | L.MAP_ANONYMOUS)
    assert a2 % (2 << 20) == 0 and a4 % (2 << 20) == 0
    assert a3 % (2 << 20) != 0 and s2 == a3 - (2 << 20)
    last = proc.mmap(0, P, L.PROT_READ, ANON)
    assert a2 < last < first                          # fills the hole left by the alignment


def test_aligned_placement_leaves_a_gap_that_small_mappings_fill(proc):
    one = proc.mmap(0, P, L.PROT_READ, ANON)
    big = proc.mmap(0, 2 << 20, RW, ANON)
    two = proc.mmap(0, P, L.PROT_READ | L.PROT_EXEC, ANON)
    assert big % (2 << 20) == 0
    assert two == one - P


def test_thp_alignment_of_file_mappings(proc, kernel):
    f = kernel.create_file("/data/big", 16 << 20)
    assert proc.mmap(0, 1 << 20, L.PROT_READ, L.MAP_PRIVATE, f) % (2 << 20) != 0
    assert proc.mmap(0, 2 << 20, L.PROT_READ, L.MAP_PRIVATE, f) % (2 << 20) == 0
    assert proc.mmap(0, (2 << 20) + P, L.PROT_READ, L.MAP_PRIVATE, f) % (2 << 20) == 0
    assert proc.mmap(0, 4 << 20, L.PROT_READ, L.MAP_PRIVATE, f, P) % (2 << 20) == 0x1000
    assert proc.mmap(0, 4 << 20, L.PROT_READ, L.MAP_PRIVATE, f, 5 * P) % (2 << 20) == 0x5000


def test_hints(proc):
    assert proc.mmap(B + 20 * P + 123, P, RW, ANON) == B + 20 * P
    assert proc.mmap(B + 20 * P, P, RW, ANON) != B + 20 * P
    assert proc.mmap(0x1000, P, RW, ANON) == 0x10000
    assert proc.mmap(1 << 47, P, RW, ANON) < 1 << 47


def test_mmap_errors(proc, kernel):
    f = kernel.create_file("/data/e", 4 * P)
    ro = kernel.open("/data/e", os.O_RDONLY)
    assert errno_of(proc.mmap, 0, 0, RW, ANON) == errno.EINVAL
    assert errno_of(proc.mmap, 0, P, RW, L.MAP_ANONYMOUS) == errno.EINVAL
    assert errno_of(proc.mmap, B + 1, P, RW, ANON | L.MAP_FIXED) == errno.EINVAL
    assert errno_of(proc.mmap, 0, P, RW, L.MAP_PRIVATE, f, 100) == errno.EINVAL
    assert errno_of(proc.mmap, 0, 1 << 48, RW, ANON) == errno.ENOMEM
    assert errno_of(proc.mmap, 0, 2**64 - 100, RW, ANON) == errno.ENOMEM
    assert errno_of(proc.mmap, 0x7ffffffff000, P, RW, ANON | L.MAP_FIXED) == errno.ENOMEM
    assert errno_of(proc.mmap, 0, P, RW, L.MAP_SHARED, ro) == errno.EACCES
    assert errno_of(proc.mmap, 0, P, RW, L.MAP_SHARED_VALIDATE | 0x200000, f) == errno.EOPNOTSUPP
    assert errno_of(proc.mmap, 0, P, RW,
                    L.MAP_SHARED_VALIDATE | L.MAP_ANONYMOUS | 0x200000) == errno.EINVAL
    assert errno_of(proc.mmap, B + 100 * P, P, RW, L.MAP_SHARED_VALIDATE | L.MAP_FIXED_NOREPLACE,
                    f) == errno.EOPNOTSUPP              # NOREPLACE is not a legacy flag (6.18)
    proc.mmap(0, P, RW, L.MAP_SHARED_VALIDATE | (1 << 30), f)   # MAP_HUGE_* bits pass
    assert errno_of(proc.mmap, 0, P, RW, L.MAP_PRIVATE | L.MAP_SYNC, f) == errno.EOPNOTSUPP
    assert errno_of(proc.mmap, 0, P, RW, L.MAP_PRIVATE | L.MAP_GROWSDOWN, f) == errno.EINVAL
    assert errno_of(proc.mmap, 0, P, RW, L.MAP_PRIVATE) == errno.EBADF
    assert errno_of(proc.mmap, 0, P, RW, ANON | L.MAP_FIXED) == errno.EPERM
    assert proc.mmap(0x1000, P, RW, ANON | L.MAP_FIXED) == 0x1000      # dac_mmap_min_addr
    fixed(proc, 0, 4)
    assert errno_of(proc.mmap, B + 3 * P, 2 * P, RW, ANON | NR) == errno.EEXIST
    proc.mm.check()


def test_refused_calls_change_nothing(proc):
    fixed(proc, 0, 4)
    before = proc.maps
    for call in [lambda: proc.mmap(B + 2 * P, P, RW, ANON | NR),
                 lambda: proc.munmap(B + 1, P), lambda: proc.mprotect(B + 1, P, 1),
                 lambda: proc.mprotect(B, P, 0x100), lambda: proc.mremap(B, P, 2 * P, 8),
                 lambda: proc.mremap(B + 40 * P, P, P), lambda: proc.madvise(B, P, 77)]:
        with pytest.raises(OSError):
            call()
        assert proc.maps == before
    proc.mm.check()


# -- §3 merging, splitting -------------------------------------------------------------------------

def test_munmap_k_and_mremap_v1(proc):
    fixed(proc, 0, 4, L.PROT_READ)
    fixed(proc, 4, 4)
    fixed(proc, 8, 4, L.PROT_READ | L.PROT_EXEC)
    proc.munmap(B + 2 * P, 8 * P)
    assert ranges(proc) == [(0, 2, "r--p"), (10, 12, "r-xp")]
    proc.munmap(B, 12 * P)
    fixed(proc, 0, 2)
    proc.touch(B, write=True)
    other = proc.mmap(B + 40 * P, 2 * P, RW, ANON)
    proc.touch(other, write=True)
    proc.mremap(other, 2 * P, 2 * P, L.MREMAP_MAYMOVE | L.MREMAP_FIXED, B + 2 * P)
    assert ranges(proc) == [(0, 2, "rw-p"), (2, 4, "rw-p")]


def test_untouched_vma_moved_next_to_its_neighbour_merges(proc):
    fixed(proc, 0, 2)
    proc.touch(B, write=True)
    fixed(proc, 10, 2)
    proc.mremap(B + 10 * P, 2 * P, 2 * P, L.MREMAP_MAYMOVE | L.MREMAP_FIXED, B + 2 * P)
    assert ranges(proc) == [(0, 4, "rw-p")]


def test_fork_like_chain_blocks_merge(proc):
    fixed(proc, 0, 2)
    proc.touch(B, write=True)
    proc.mm.vma_lookup(B).anon_vma_chain = 2          # what anon_vma_fork leaves in a child
    fixed(proc, 2, 2)
    assert ranges(proc) == [(0, 2, "rw-p"), (2, 4, "rw-p")]


def test_merge_only_within_one_open_file(proc, kernel):
    kernel.create_file("/data/m", 8 * P)
    f1 = kernel.open("/data/m")
    f2 = kernel.open("/data/m")
    proc.mmap(B, 2 * P, L.PROT_READ, L.MAP_PRIVATE | NR, f1, 0)
    proc.mmap(B + 2 * P, 2 * P, L.PROT_READ, L.MAP_PRIVATE | NR, f1, 2 * P)
    proc.mmap(B + 4 * P, 2 * P, L.PROT_READ, L.MAP_PRIVATE | NR, f2, 4 * P)
    assert ranges(proc) == [(0, 4, "r--p"), (4, 6, "r--p")]
    assert f1.f_inode is f2.f_inode


def test_map_fixed_replaces_l(proc):
    fixed(proc, 0, 8)
    proc.mmap(B + 2 * P, 2 * P, L.PROT_READ, ANON | L.MAP_FIXED)
    assert ranges(proc) == [(0, 2, "rw-p"), (2, 4, "r--p"), (4, 8, "rw-p")]


def test_mprotect_partial_effect_before_hole(proc):
    fixed(proc, 0, 2)
    fixed(proc, 3, 2)
    assert errno_of(proc.mprotect, B, 5 * P, L.PROT_READ) == errno.ENOMEM
    assert ranges(proc) == [(0, 2, "r--p"), (3, 5, "rw-p")]
    assert errno_of(proc.mprotect, B + 10 * P, P, L.PROT_READ) == errno.ENOMEM
    assert errno_of(proc.mprotect, B + 1, P, L.PROT_READ) == errno.EINVAL


# -- §1.5 max_map_count ----------------------------------------------------------------------------

def _fill(proc, n):
    for i in range(n):
        fixed(proc, 2 * i, 1, L.PROT_READ)


def test_max_map_count_mmap(proc, kernel):
    kernel.max_map_count = 60
    _fill(proc, 61)
    assert proc.mm.map_count == 61
    assert errno_of(fixed, proc, 200, 1) == errno.ENOMEM


def test_max_map_count_mprotect_split_not_undone(proc, kernel):
    kernel.max_map_count = 60
    _fill(proc, 58)
    fixed(proc, 300, 3, L.PROT_READ)
    assert proc.mm.map_count == 59
    assert errno_of(proc.mprotect, B + 301 * P, P, RW) == errno.ENOMEM
    assert proc.mm.map_count == 60
    assert ranges(proc, B + 300 * P) == [(300, 301, "r--p"), (301, 303, "r--p")]


def test_max_map_count_munmap(proc, kernel):
    kernel.max_map_count = 60
    _fill(proc, 58)
    fixed(proc, 300, 3)
    proc.munmap(B + 301 * P, P)                       # at 59 -> 60
    fixed(proc, 310, 3)
    assert proc.mm.map_count == 61
    assert errno_of(proc.munmap, B + 311 * P, P) == errno.ENOMEM
    proc.munmap(B + 310 * P, P)                       # edge: always allowed
    proc.munmap(B, P)


def test_max_map_count_map_fixed_in_middle(proc, kernel):
    kernel.max_map_count = 60
    _fill(proc, 58)
    fixed(proc, 300, 3)
    proc.mmap(B + 301 * P, P, L.PROT_READ, ANON | L.MAP_FIXED)
    assert proc.mm.map_count == 61


# -- §3.6 brk ----------------------------------------------------------------------------------------

@pytest.fixture
def heap_proc(proc):
    proc.mm.start_brk = proc.mm.brk = 0x555555560000
    return proc


def test_brk(heap_proc):
    p = heap_proc
    base = p.mm.start_brk
    assert p.brk(0) == base
    assert p.brk(base + 100) == base + 100 and p.mm.brk == base + 100
    assert "[heap]" in p.maps
    vma = p.mm.vma_lookup(base)
    assert (vma.vm_start, vma.vm_end) == (base, base + P)
    assert p.brk(base + 8 * P) == base + 8 * P
    assert p.brk(base + P + 1) == base + P + 1
    assert p.mm.vma_lookup(base).vm_end == base + 2 * P
    assert p.brk(base - P) == base + P + 1            # below start_brk: ignored
    p.mmap(base + 5 * P, P, L.PROT_READ, ANON | NR)
    assert p.brk(base + 5 * P) == base + P + 1        # would end exactly at the next VMA
    assert p.brk(base + 4 * P) == base + 4 * P        # one free page kept
    assert p.brk(base) == base
    assert p.mm.vma_lookup(base) is None
    p.mm.check()


def test_brk_heap_swallows_adjacent_mmap(heap_proc):
    p = heap_proc
    base = p.mm.start_brk
    p.brk(base + 2 * P)
    p.mmap(base + 2 * P, 2 * P, RW, ANON | NR)
    vma = p.mm.vma_lookup(base)
    assert (vma.vm_start, vma.vm_end) == (base, base + 4 * P)
    assert p.brk(base + 6 * P) == base + 2 * P
    assert "[heap]" in p.maps


# -- §2.4 commit accounting, §1.6 status -----------------------------------------------------------

def test_commit_accounting_sequence(proc, kernel):
    mb10 = 10 << 20
    pages = mb10 // P
    c0 = kernel.vm_committed_as
    a = proc.mmap(0, mb10, L.PROT_READ, ANON)
    assert kernel.vm_committed_as == c0
    proc.mprotect(a, mb10, RW)
    assert kernel.vm_committed_as == c0 + pages
    assert proc.mm.vma_lookup(a).vm_flags & L.VM_ACCOUNT
    proc.mprotect(a, mb10, L.PROT_READ)
    assert kernel.vm_committed_as == c0 and not proc.mm.vma_lookup(a).vm_flags & L.VM_ACCOUNT
    proc.mprotect(a, mb10, RW)
    proc.touch(a, write=True)
    proc.mprotect(a, mb10, L.PROT_READ)
    assert kernel.vm_committed_as == c0 + pages and proc.mm.vma_lookup(a).vm_flags & L.VM_ACCOUNT
    proc.munmap(a, mb10)
    assert kernel.vm_committed_as == c0
    nr = proc.mmap(0, mb10, RW, ANON | L.MAP_NORESERVE)
    assert kernel.vm_committed_as == c0 and proc.mm.vma_lookup(nr).vm_flags & L.VM_NORESERVE


def test_overcommit_heuristic(proc, kernel):
    too_big = kernel.mem + (100 << 20)
    assert errno_of(proc.mmap, 0, too_big, RW, ANON) == errno.ENOMEM
    proc.mmap(0, too_big, RW, ANON | L.MAP_NORESERVE)
    proc.mmap(0, 64 << 40, RW, ANON | L.MAP_NORESERVE)


@pytest.mark.parametrize("prot,flags,key", [
    (RW, ANON, "VmData"), (L.PROT_READ, ANON, None), (L.PROT_READ | L.PROT_EXEC, ANON, "VmLib"),
    (RW | L.PROT_EXEC, ANON, "VmData"), (RW, L.MAP_SHARED | L.MAP_ANONYMOUS, None),
    (RW, ANON | L.MAP_GROWSDOWN, "VmStk"), (0, ANON, None)])
def test_status_deltas(proc, kernel, prot, flags, key):
    def status():
        text = kernel.read(f"/proc/{proc.pid}/status")
        return {ln.split(":")[0]: int(ln.split()[1]) for ln in text.splitlines()
                if ln.startswith(("Vm", "Rss"))}
    before = status()
    proc.mmap(0, 1 << 20, prot, flags)
    after = status()
    delta = {k: after[k] - before[k] for k in after if after[k] != before[k]}
    expected = {"VmSize": 1024, "VmPeak": 1024}
    if key:
        expected[key] = 1024
    assert delta == expected


def test_status_format(proc, kernel):
    text = kernel.read(f"/proc/{proc.pid}/status")
    assert "VmPeak:\t       0 kB\n" in text and "VmSwap:\t       0 kB\n" in text
    assert text.index("VmPeak") < text.index("VmSize") < text.index("VmData") < text.index("VmLib")


# -- files and /proc/pid/maps text -----------------------------------------------------------------

def test_files_read_write_and_open(kernel):
    f = kernel.create_file("/data/x", "8K")
    assert f.size == 8192 and f.read(0, 4) == b"\0\0\0\0"
    assert f.write(4090, b"hello world") == 11
    assert kernel.open("/data/x").read(4090, 11) == b"hello world"
    f.write(8190, 10)
    assert f.size == 8200
    assert len(f.f_inode.i_mapping) == 3
    g = kernel.open("/data/x")
    assert g is not f and g.f_inode is f.f_inode
    ro = kernel.open("/data/x", os.O_RDONLY)
    assert errno_of(ro.write, 0, b"x") == errno.EBADF
    assert errno_of(kernel.open, "/no/such/file") == errno.ENOENT


def test_host_file_import(kernel, tmp_path):
    path = tmp_path / "hostfile"
    path.write_bytes(b"abc" * 5000)
    f = kernel.open(str(path))
    st = os.stat(path)
    assert f.size == 15000 and f.read(2, 4) == b"cabc"
    assert f.f_inode.i_ino == st.st_ino
    f2 = kernel.open(str(path), os.O_RDWR)
    f2.write(0, b"zzz")
    assert path.read_bytes()[:3] == b"abc"              # the host file is never written
    assert f.read(0, 3) == b"zzz"                       # one inode, one page cache


def test_maps_text_format(proc, kernel):
    f = kernel.create_file("/path/f8", 8 * P)
    proc.mmap(B, P, L.PROT_READ, L.MAP_PRIVATE | NR, f, 0)
    proc.mmap(B + P, P, RW, L.MAP_PRIVATE | NR, f, P)
    fixed(proc, 4, 1)
    proc.mmap(B + 6 * P, P, RW, L.MAP_SHARED | L.MAP_ANONYMOUS | NR)
    proc.mmap(B + 7 * P, P, RW, L.MAP_SHARED | L.MAP_ANONYMOUS | NR)
    lines = proc.maps.splitlines(keepends=True)
    ino = f.f_inode.i_ino
    assert lines[0] == f"7f0000000000-7f0000001000 r--p 00000000 fe:01 {ino}".ljust(72) + \
        " /path/f8\n"
    assert lines[1].startswith("7f0000001000-7f0000002000 rw-p 00001000 fe:01 ")
    assert lines[2] == "7f0000004000-7f0000005000 rw-p 00000000 00:00 0 \n"
    assert lines[3][73:] == "/dev/zero (deleted)\n" and " 00:01 " in lines[3]
    assert lines[3].split()[4] != lines[4].split()[4]   # one shmem inode per mapping
    assert all(line[72] == " " for line in lines if line.count(" ") > 6)
    kernel.unlink("/path/f8")
    assert proc.maps.splitlines()[0].endswith("/path/f8 (deleted)")


def test_process_registry_and_proc_files(kernel):
    a = kernel.spawn("a")
    b = kernel.spawn("b")
    assert kernel.processes == {a.pid: a, b.pid: b} and a.pid != b.pid
    assert kernel.read(f"/proc/{a.pid}/maps") == ""
    assert kernel.read(f"/proc/{b.pid}/status").startswith("Name:\tb\n")
    c0 = kernel.vm_committed_as
    a.mmap(0, 4 * P, RW, ANON)
    assert kernel.vm_committed_as == c0 + 4
    a.exit()
    assert a.pid not in kernel.processes and kernel.vm_committed_as == c0
    with pytest.raises(FileNotFoundError):
        kernel.read(f"/proc/{a.pid}/maps")


def test_check_detects_corruption(proc):
    fixed(proc, 0, 2)
    proc.mm.check()
    proc.mm.vma_lookup(B).vm_end = B + P + 1
    with pytest.raises(InvariantError):
        proc.mm.check()


def test_constants_match_python_mmap():
    import mmap
    for name in dir(mmap):
        if name.startswith(("MAP_", "PROT_", "MADV_")) and hasattr(L, name):
            assert getattr(L, name) == getattr(mmap, name), name


def test_touch_permissions(proc):
    none = fixed(proc, 0, 1, 0)
    wo = fixed(proc, 2, 1, L.PROT_WRITE)
    xo = fixed(proc, 4, 1, L.PROT_EXEC)
    for addr, write, code in ((none, False, "SEGV_ACCERR"), (xo, True, "SEGV_ACCERR"),
                              (B + 10 * P, False, "SEGV_MAPERR")):
        with pytest.raises(L.SegmentationFault) as info:
            proc.touch(addr, write)
        assert (info.value.addr, info.value.code) == (addr, code)
    proc.touch(wo, False)                              # PROT_WRITE-only pages are readable
    proc.touch(xo, False)
    assert proc.mm.vma_lookup(wo).anon_vma is None     # read faults use the zero page
    proc.touch(wo, True)
    assert proc.mm.vma_lookup(wo).anon_vma is not None


def test_raw_syscalls_by_number(proc, kernel):
    f = kernel.create_file("/data/s", 4 * P)
    fd = proc.install_fd(f)
    assert fd == 3
    a = proc.syscall(L.NR_mmap, 0, P, RW, ANON, -1, 0)
    assert proc.mm.vma_lookup(a) is not None
    assert proc.syscall(L.NR_mmap, 0, P, RW, L.MAP_PRIVATE, 99, 0) == -errno.EBADF
    b = proc.syscall(L.NR_mmap, 0, P, L.PROT_READ, L.MAP_SHARED, fd, 0)
    assert proc.mm.vma_lookup(b).vm_file is f
    assert proc.syscall(L.NR_mprotect, a + 1, P, 1) == -errno.EINVAL
    assert proc.syscall(L.NR_mremap, a, P, 2 * P, 0, 0) in (a, -errno.ENOMEM)
    assert proc.syscall(L.NR_madvise, a, P, L.MADV_DONTFORK) == 0
    assert proc.syscall(L.NR_munmap, a, P) == 0
    assert proc.syscall(L.NR_brk, 0) == 0
    assert proc.syscall(999) == -errno.ENOSYS
    proc.close(fd)
    assert errno_of(proc.close, fd) == errno.EBADF


def test_committed_as_in_meminfo_and_strict_overcommit(proc, kernel):
    def committed_kb():
        line = [ln for ln in kernel.read("/proc/meminfo").splitlines()
                if ln.startswith("Committed_AS:")][0]
        return int(line.split()[1])
    before = committed_kb()
    a = proc.mmap(0, 10 << 20, RW, ANON)
    assert committed_kb() == before + 10240
    proc.munmap(a, 10 << 20)
    assert committed_kb() == before
    kernel.overcommit_memory = 2
    limit_kb = int([ln for ln in kernel.read("/proc/meminfo").splitlines()
                    if ln.startswith("CommitLimit:")][0].split()[1])
    assert errno_of(proc.mmap, 0, limit_kb * 1024, RW, ANON) == errno.ENOMEM
    half = proc.mmap(0, limit_kb * 1024 // 2, RW, ANON)
    shared = L.MAP_SHARED | L.MAP_ANONYMOUS
    assert errno_of(proc.mmap, 0, limit_kb * 1024 // 2, RW, shared) == errno.ENOMEM
    assert errno_of(proc.mmap, 0, limit_kb * 1024 // 2, RW, ANON | L.MAP_NORESERVE) == errno.ENOMEM
    proc.munmap(half, limit_kb * 1024 // 2)
    kernel.overcommit_memory = 0
    s = proc.mmap(0, 10 << 20, RW, shared)              # shmem charges without VM_ACCOUNT
    assert committed_kb() == before + 10240
    assert "ac" not in L.vm_flags_string(proc.mm.vma_lookup(s).vm_flags).split()
    proc.munmap(s + (4 << 20), 4096)                     # split: the file is still mapped
    assert committed_kb() == before + 10240
    proc.munmap(s, 10 << 20)
    assert committed_kb() == before
    proc.mmap(0, 10 << 20, RW, shared | L.MAP_NORESERVE)
    assert committed_kb() == before


def test_kernel_check_covers_address_spaces(proc, kernel):
    fixed(proc, 0, 2)
    kernel.check()
    proc.mm.total_vm += 1
    with pytest.raises(InvariantError):
        kernel.check()


def test_map_32bit_and_above4g(proc):
    """MAP_32BIT allocates bottom-up from 1 GiB (measured under setarch -R: 0x40000000, then
    0x40001000); MAP_ABOVE4G keeps top-down placement above 4 GiB."""
    assert proc.mmap(0, P, RW, ANON | L.MAP_32BIT) == 0x40000000
    assert proc.mmap(0, P, RW, ANON | L.MAP_32BIT) == 0x40001000
    assert proc.mmap(0, P, RW, ANON | L.MAP_ABOVE4G) > 1 << 32
    k2 = Kernel(randomize_va_space=2, seed=3)
    a = k2.spawn().mmap(0, P, RW, ANON | L.MAP_32BIT)
    assert 0x40000000 <= a < 0x42000000
