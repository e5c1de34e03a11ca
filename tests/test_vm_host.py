"""Differential tests: every syscall runs on the host kernel and on linuxmm inside the same
private window; return values, errnos and the window's /proc/pid/maps lines must agree."""
import os

import pytest
from hypothesis import example, given, settings, strategies as st

import linuxmm as L
from host.vmhost import Pair, build_helper, host_available

pytestmark = pytest.mark.skipif(not host_available(), reason="needs Linux, gcc and /proc")

P = 4096
ANON = L.MAP_PRIVATE | L.MAP_ANONYMOUS
SHANON = L.MAP_SHARED | L.MAP_ANONYMOUS
NOREPLACE = L.MAP_FIXED_NOREPLACE
RW = L.PROT_READ | L.PROT_WRITE


@pytest.fixture(scope="module")
def helper(tmp_path_factory):
    return build_helper(tmp_path_factory.mktemp("vmhelper"))


@pytest.fixture
def pair(helper):
    p = Pair(helper)
    yield p
    p.close()


@pytest.fixture(scope="module")
def datafile(tmp_path_factory):
    path = tmp_path_factory.mktemp("vmdata") / "f8"
    path.write_bytes(os.urandom(64 * P))
    return str(path)


def count(pair):
    return len(pair.compare_maps())


def test_anon_merge_split_a1_a5(pair):
    b = pair.base
    for i in range(3):
        assert pair.step("mmap", b + i * P, P, RW, ANON | NOREPLACE, -1, 0) == (b + i * P, 0)
    assert count(pair) == 1
    pair.step("mprotect", b + P, P, L.PROT_READ)
    assert count(pair) == 3
    pair.step("mprotect", b + P, P, RW)
    assert count(pair) == 1
    pair.step("munmap", b + P, P)
    assert count(pair) == 2
    pair.step("mmap", b + P, P, RW, ANON | NOREPLACE, -1, 0)
    assert count(pair) == 1
    for i in range(3):
        pair.step("touch", b + i * P)
    pair.step("mprotect", b + P, P, L.PROT_READ)
    assert count(pair) == 3
    pair.step("mprotect", b + P, P, RW)
    assert count(pair) == 1


def test_protection_boundary_b1_b4(pair):
    b = pair.base
    pair.step("mmap", b, 2 * P, L.PROT_READ, ANON | NOREPLACE, -1, 0)
    pair.step("mmap", b + 2 * P, 2 * P, RW, ANON | NOREPLACE, -1, 0)
    assert count(pair) == 2
    pair.step("mprotect", b, 2 * P, RW)
    assert count(pair) == 1
    pair.step("mprotect", b + P, 2 * P, L.PROT_READ)
    assert count(pair) == 3
    pair.step("mprotect", b, 4 * P, 0)
    assert count(pair) == 1


def test_file_offsets_f1_f7(pair, datafile):
    b = pair.base
    fd = pair.open(datafile, os.O_RDONLY)
    pair.step("mmap", b, 2 * P, L.PROT_READ, L.MAP_PRIVATE | NOREPLACE, fd, 0)
    pair.step("mmap", b + 2 * P, 2 * P, L.PROT_READ, L.MAP_PRIVATE | NOREPLACE, fd, 2 * P)
    assert count(pair) == 1
    pair.step("mmap", b + 4 * P, 2 * P, L.PROT_READ, L.MAP_PRIVATE | NOREPLACE, fd, 8 * P)
    pair.step("mmap", b + 6 * P, 2 * P, L.PROT_READ, L.MAP_SHARED | NOREPLACE, fd, 10 * P)
    assert count(pair) == 3
    pair.step("mprotect", b + P, P, RW)
    assert count(pair) == 5
    assert pair.step("mprotect", b + 6 * P, P, RW) == (2**64 - 1, 13)      # EACCES
    fd2 = pair.open(datafile, os.O_RDONLY)
    pair.step("mmap", b + 10 * P, 2 * P, L.PROT_READ, L.MAP_PRIVATE | NOREPLACE, fd, 0)
    pair.step("mmap", b + 12 * P, 2 * P, L.PROT_READ, L.MAP_PRIVATE | NOREPLACE, fd2, 2 * P)
    assert count(pair) == 7
    fd3 = pair.open(datafile, os.O_RDWR)
    pair.step("mmap", b + 16 * P, 2 * P, RW, L.MAP_SHARED | NOREPLACE, fd3, 0)
    pair.step("mmap", b + 20 * P, 2 * P, RW, L.MAP_PRIVATE | NOREPLACE, fd3, 4 * P)
    pair.step("touch", b + 20 * P)
    pair.compare_maps()


def test_shared_anon_and_munmap_edges(pair):
    b = pair.base
    pair.step("mmap", b, 2 * P, RW, ANON | NOREPLACE, -1, 0)
    pair.step("mmap", b + 2 * P, 2 * P, RW, SHANON | NOREPLACE, -1, 0)
    pair.step("mmap", b + 4 * P, 2 * P, RW, SHANON | NOREPLACE, -1, 0)
    assert count(pair) == 3
    pair.step("mmap", b + 8 * P, 4 * P, L.PROT_READ, ANON | NOREPLACE, -1, 0)
    pair.step("mmap", b + 12 * P, 4 * P, RW, ANON | NOREPLACE, -1, 0)
    pair.step("mmap", b + 16 * P, 4 * P, L.PROT_READ | L.PROT_EXEC, ANON | NOREPLACE, -1, 0)
    pair.step("munmap", b + 10 * P, 8 * P)
    pair.compare_maps()
    assert pair.step("munmap", b + 1, P)[1] == 22
    assert pair.step("munmap", b, 0)[1] == 22
    assert pair.step("munmap", b + 30 * P, 4 * P) == (0, 0)
    pair.step("munmap", b, 1)
    pair.compare_maps()


def test_map_fixed_replace_and_noreplace(pair):
    b = pair.base
    pair.step("mmap", b, 8 * P, RW, ANON | NOREPLACE, -1, 0)
    pair.step("mmap", b + 2 * P, 2 * P, L.PROT_READ, ANON | L.MAP_FIXED, -1, 0)
    assert count(pair) == 3
    assert pair.step("mmap", b + 7 * P, 2 * P, RW, ANON | NOREPLACE, -1, 0)[1] == 17
    assert pair.step("mmap", b + 3, P, RW, ANON | L.MAP_FIXED, -1, 0)[1] == 22
    assert pair.step("mmap", b, 0, RW, ANON, -1, 0)[1] == 22
    assert pair.step("mmap", b, P, RW, L.MAP_ANONYMOUS, -1, 0)[1] == 22
    assert pair.step("mmap", b, P, RW, L.MAP_SHARED_VALIDATE | L.MAP_ANONYMOUS, -1, 0)[1] == 22
    pair.compare_maps()


def test_hints(pair):
    b = pair.base
    assert pair.step("mmap", b + 20 * P + 123, P, RW, ANON, -1, 0) == (b + 20 * P, 0)
    assert pair.step("mmap", b + 20 * P, P, RW, ANON, -1, 0) == ("outside", 0)
    pair.compare_maps()


def test_mremap(pair):
    b = pair.base
    pair.step("mmap", b, 2 * P, RW, ANON | NOREPLACE, -1, 0)
    pair.step("touch", b)
    assert pair.step("mremap", b, 2 * P, 4 * P, 0, 0) == (b, 0)
    pair.step("mmap", b + 6 * P, 2 * P, RW, ANON | NOREPLACE, -1, 0)
    assert pair.step("mremap", b, 4 * P, 8 * P, 0, 0)[1] == 12
    assert pair.step("mremap", b, 4 * P, 6 * P, 0, 0) == (b, 0)
    pair.compare_maps()
    assert pair.step("mremap", b, 8 * P, 2 * P, 0, 0) == (b, 0)
    pair.compare_maps()
    assert pair.step("mremap", b + 40 * P, P, 2 * P, 0, 0)[1] == 14            # EFAULT
    pair.step("mmap", b + 20 * P, 2 * P, RW, ANON | NOREPLACE, -1, 0)
    fixed = L.MREMAP_MAYMOVE | L.MREMAP_FIXED
    assert pair.step("mremap", b + 20 * P, 2 * P, 2 * P, fixed, b + 2 * P) == (b + 2 * P, 0)
    pair.compare_maps()
    pair.step("mmap", b + 24 * P, 2 * P, RW, ANON | NOREPLACE, -1, 0)
    pair.step("touch", b + 24 * P)
    pair.step("mremap", b + 24 * P, 2 * P, 2 * P, fixed | L.MREMAP_DONTUNMAP, b + 30 * P)
    pair.compare_maps()
    assert pair.step("mremap", b, 2 * P, 4 * P, L.MREMAP_MAYMOVE, 0) == ("outside", 0)
    pair.compare_maps()


def test_madvise_flags(pair):
    b = pair.base
    pair.step("mmap", b, 2 * P, RW, ANON | NOREPLACE, -1, 0)
    pair.step("touch", b)
    pair.step("mmap", b + 2 * P, 2 * P, RW | L.PROT_EXEC, ANON | NOREPLACE, -1, 0)
    pair.step("madvise", b + 2 * P, 2 * P, L.MADV_DONTFORK)
    pair.step("touch", b + 2 * P)
    pair.step("madvise", b + 2 * P, 2 * P, L.MADV_DOFORK)
    pair.step("mprotect", b + 2 * P, 2 * P, RW)
    assert count(pair) == 2                                   # Z1: anon_vma differs
    pair.step("mmap", b + 4 * P, 2 * P, RW, ANON | NOREPLACE, -1, 0)
    assert count(pair) == 2                                   # Z2
    assert pair.step("madvise", b, 12 * P, L.MADV_NORMAL)[1] == 12
    assert pair.step("madvise", b + 1, P, L.MADV_NORMAL)[1] == 22
    assert pair.step("madvise", b, P, 999)[1] == 22
    pair.compare_maps()


def test_max_map_count_rules(pair):
    """§1.5 with the host's limit: too slow to reach 65530 VMAs here, so only the paths that
    do not depend on the limit are compared; test_vm.py checks the limit rules on linuxmm."""
    b = pair.base
    for i in range(0, 20, 2):
        pair.step("mmap", b + i * P, P, RW if i % 4 else L.PROT_READ, ANON | NOREPLACE, -1, 0)
    pair.compare_maps()


OPS_PROT = st.sampled_from([0, L.PROT_READ, RW, L.PROT_READ | L.PROT_EXEC, RW | L.PROT_EXEC])


@st.composite
def operations(draw, pages=48):
    n = draw(st.integers(1, 25))
    ops = []
    for _ in range(n):
        kind = draw(st.sampled_from(["mmap", "mmap", "mmap", "munmap", "mprotect", "mremap",
                                     "madvise", "touch", "hint"]))
        off = draw(st.integers(0, pages - 1)) * P
        length = draw(st.integers(1, 8)) * P - draw(st.sampled_from([0, 0, 0, 100]))
        if kind == "mmap":
            flags = draw(st.sampled_from([ANON, ANON, SHANON, "file", "sfile", "vfile",
                                          ANON | L.MAP_NORESERVE,
                                          ANON | L.MAP_POPULATE, ANON | L.MAP_GROWSDOWN,
                                          ANON | L.MAP_STACK, "file_populate", ANON | L.MAP_LOCKED,
                                          SHANON | L.MAP_LOCKED]))
            fixed = draw(st.sampled_from([L.MAP_FIXED, NOREPLACE]))
            fixed |= draw(st.sampled_from([0, 0, 0, 0x40000000, L.MAP_SYNC]))     # unknown bits
            ops.append(("mmap", off, length, draw(OPS_PROT) | draw(st.sampled_from([0, 0, 8])),
                        flags, fixed, draw(st.integers(0, 8)) * P))
        elif kind == "hint":
            ops.append(("hint", off, length, draw(OPS_PROT)))
        elif kind == "munmap":
            ops.append(("munmap", off, length))
        elif kind == "mprotect":
            grows = draw(st.sampled_from([0, 0, 0, 0, L.PROT_GROWSDOWN, 0x2000000]))
            ops.append(("mprotect", off, length, draw(OPS_PROT) | grows))
        elif kind == "madvise":
            ops.append(("madvise", off, length, draw(st.sampled_from(
                [L.MADV_DONTFORK, L.MADV_DOFORK, L.MADV_WIPEONFORK, L.MADV_KEEPONFORK,
                 L.MADV_DONTDUMP, L.MADV_DODUMP, L.MADV_SEQUENTIAL, L.MADV_RANDOM,
                 L.MADV_NORMAL, L.MADV_HUGEPAGE, L.MADV_NOHUGEPAGE, L.MADV_DONTNEED,
                 L.MADV_WILLNEED, L.MADV_FREE, L.MADV_MERGEABLE, L.MADV_UNMERGEABLE,
                 L.MADV_COLD, L.MADV_PAGEOUT, L.MADV_DONTNEED_LOCKED,
                 L.MADV_POPULATE_READ, L.MADV_POPULATE_WRITE]))))
        elif kind == "mremap":
            new_len = draw(st.integers(1, 8)) * P
            flags = draw(st.sampled_from([0, 0, L.MREMAP_MAYMOVE, L.MREMAP_MAYMOVE | L.MREMAP_FIXED,
                                          L.MREMAP_MAYMOVE | L.MREMAP_FIXED | L.MREMAP_DONTUNMAP,
                                          L.MREMAP_MAYMOVE | L.MREMAP_DONTUNMAP]))
            if flags & L.MREMAP_DONTUNMAP:
                new_len = length
            elif draw(st.integers(0, 9)) == 0:
                length = 0                                # "duplicate" a shared mapping
            ops.append(("mremap", off, length, new_len, flags, draw(st.integers(0, pages - 1)) * P))
        else:
            ops.append(("touch", off))
    return ops


def _writable_in_model(pair, addr):
    vma = pair.proc.mm.vma_lookup(addr)
    if vma is None or not vma.vm_flags & L.VM_WRITE:
        return False
    if vma.vm_file is not None:
        page = vma.vm_pgoff + ((addr - vma.vm_start) >> 12)
        return page < vma.vm_file.size // P
    return True


@settings(max_examples=int(os.environ.get("VM_HOST_EXAMPLES", "150")), deadline=None)
@given(ops=operations())
# mremap(MAYMOVE|FIXED|DONTUNMAP) whose destination merges with the source VMA: the kernel's
# remap_move() loop ends there (it once went on and failed with EFAULT here)
@example(ops=[("mprotect", 0, 4096, 0), ("mmap", 147456, 32768, 0, 34, 16, 0),
              ("madvise", 0, 4096, 10), ("mremap", 151552, 4096, 4096, 7, 180224)])
def test_random_sequences_match_host(helper, datafile, ops):
    pair = Pair(helper)
    try:
        b = pair.base
        fd_r = pair.open(datafile, os.O_RDONLY)
        fd_rw = pair.open(datafile, os.O_RDWR)
        for op in ops:
            if op[0] == "mmap":
                _, off, length, prot, flags, fixed, foff = op
                if flags == "file":
                    pair.step("mmap", b + off, length, prot, L.MAP_PRIVATE | fixed, fd_r, foff)
                elif flags == "file_populate":
                    pair.step("mmap", b + off, length, prot, L.MAP_PRIVATE | L.MAP_POPULATE | fixed,
                              fd_r, foff)
                elif flags == "vfile":
                    pair.step("mmap", b + off, length, prot, L.MAP_SHARED_VALIDATE | fixed, fd_rw,
                              foff)
                elif flags == "sfile":
                    pair.step("mmap", b + off, length, prot, L.MAP_SHARED | fixed, fd_rw, foff)
                else:
                    pair.step("mmap", b + off, length, prot, flags | fixed, -1, 0)
            elif op[0] == "hint":
                _, off, length, prot = op
                pair.step("mmap", b + off, length, prot, ANON, -1, 0)
            elif op[0] == "mremap":
                _, off, length, new_len, flags, new_off = op
                pair.step("mremap", b + off, length, new_len, flags, b + new_off)
            elif op[0] == "touch":
                if _writable_in_model(pair, b + op[1]):
                    pair.step("touch", b + op[1])
            else:
                pair.step(op[0], b + op[1], *op[2:])
            pair.compare_maps(f"after {op}")
            pair.proc.mm.check()
    finally:
        pair.close()


def test_brk_matches_host(pair):
    """brk on the helper's untouched heap (ASLR: start_brk is a random page above its bss)."""
    start, err = pair.host.call("brk", 0)
    assert err == 0
    if any("[heap]" in line for line in pair.host.maps(0, 2**64 - 1)):
        pytest.skip("the helper's libc already used the heap")
    mm = pair.proc.mm
    mm.start_brk = mm.brk = start

    def heap_maps():
        host = pair.host.maps(start, start + 64 * P)
        sim = [ln for ln in pair.proc.maps.splitlines(keepends=True)
               if start <= int(ln.split("-")[0], 16) < start + 64 * P]
        assert sim == host
        return sim

    def brk(value):
        ret = pair.step("brk", value)
        heap_maps()
        return ret[0]

    assert brk(start + 100) == start + 100
    assert brk(start + 8 * P) == start + 8 * P
    assert brk(start + P + 1) == start + P + 1
    assert brk(start - P) == start + P + 1
    pair.step("mmap", start + 5 * P, P, L.PROT_READ, ANON | NOREPLACE, -1, 0, keep=True)
    assert brk(start + 5 * P) == start + P + 1
    assert brk(start + 4 * P) == start + 4 * P
    assert brk(start) == start
    assert brk(start + 2 * P) == start + 2 * P
    pair.step("munmap", start + 5 * P, P)
    pair.step("mmap", start + 2 * P, 2 * P, RW, ANON | NOREPLACE, -1, 0, keep=True)
    assert len(heap_maps()) == 1
    assert brk(start + 6 * P) == start + 2 * P
    pair.step("munmap", start, 4 * P)


def test_max_map_count_matches_host(pair):
    """§1.5 at the host's real vm.max_map_count: fill both address spaces to the limit and run
    the boundary cases (mmap past the limit, split by mprotect/munmap, MAP_FIXED in a VMA)."""
    limit = int(open("/proc/sys/vm/max_map_count").read())
    if limit > 70000:
        pytest.skip("vm.max_map_count too large for this test")
    region = pair.end + (64 << 20)
    if region + 2 * limit * P + (64 << 20) > pair.stack_start:
        pytest.skip("no room for the filler VMAs")
    mm = pair.proc.mm
    extra = pair.host_map_count() - mm.map_count
    flags = ANON | NOREPLACE
    for i in range(extra):                # the helper's own VMAs (exe, libc, stack, ...)
        pair.proc.mmap(0x200000000 + 2 * i * P, P, L.PROT_READ, flags)
    assert pair.host_map_count() == mm.map_count
    pair.fill(region, limit - 2 - mm.map_count)
    assert pair.host_map_count() == mm.map_count == limit - 2
    b = pair.base
    results = []
    seq = [("mmap", b, 3 * P, L.PROT_READ, flags, -1, 0),        # limit - 1
           ("mprotect", b + P, P, RW),                            # 1st split ok, 2nd ENOMEM
           ("munmap", b, 3 * P),
           ("mmap", b, 3 * P, L.PROT_READ, flags, -1, 0),
           ("munmap", b + P, P),                                   # at limit - 1: ok
           ("mmap", b + 10 * P, 3 * P, L.PROT_READ, flags, -1, 0),  # at limit: still ok
           ("munmap", b + 11 * P, P),                              # at limit + 1: ENOMEM
           ("mmap", b + 20 * P, P, L.PROT_READ, flags, -1, 0),      # > limit: ENOMEM
           ("munmap", b + 10 * P, P),                              # edge: always ok
           ("munmap", b, P),
           ("mmap", b + 30 * P, 3 * P, L.PROT_READ, flags, -1, 0),
           ("mmap", b + 31 * P, P, RW, ANON | L.MAP_FIXED, -1, 0),  # limit - 1 + 2
           ("mremap", b + 30 * P, P, P, L.MREMAP_MAYMOVE | L.MREMAP_FIXED, b + 40 * P)]
    for op in seq:
        results.append(pair.step(*op)[1])
        pair.compare_maps(f"after {op}")
        assert pair.host_map_count() == mm.map_count
    assert results.count(12) >= 3
