"""The fault path on both backends: known answers from ../shared/docs/linux-mm-virtual.md
(§4-6, confirmed on a real 6.18 kernel) and from the kernel source, worked by hand."""
import numpy as np
import pytest

import linuxmm as L
from linuxmm import VM_FAULT_NOPAGE, VM_FAULT_SIGBUS
from procfields import status

P = 4096
RW = L.PROT_READ | L.PROT_WRITE
ANON = L.MAP_PRIVATE | L.MAP_ANONYMOUS
GIB = 1 << 30
N = 256


@pytest.fixture
def k(backend_name):
    return L.Kernel("1G", backend=backend_name, read_ahead_kb=128)


@pytest.fixture
def p(k):
    return k.spawn("t")



def smaps_of(k, p, addr):
    text = k.read(f"/proc/{p.pid}/smaps")
    blocks = text.split("\nVmFlags:")
    for block in text.split("VmFlags:"):
        lines = block.strip().splitlines()
        for i, line in enumerate(lines):
            if "-" in line.split(" ")[0] and int(line.split("-")[0], 16) == addr:
                return {ln.split(":")[0]: int(ln.split()[1]) for ln in lines[i + 1:]
                        if ln.endswith(" kB")}
    raise KeyError(hex(addr), len(blocks))


def faults(p, fn):
    before = (p.min_flt, p.maj_flt)
    fn()
    return p.min_flt - before[0], p.maj_flt - before[1]


def cached_file(k, npages, name="/data/f"):
    f = k.create_file(name, npages * P)
    f.write(0, b"".join(bytes([i & 255]) * P for i in range(npages)))
    f.fsync()
    return f


# -- anonymous memory (§5.4, §5.10) ---------------------------------------------------------
def test_read_then_write_anon(k, p):
    a = p.mmap(0, N * P, RW, ANON)
    assert faults(p, lambda: p.touch_range(a, N * P)) == (N, 0)
    pfn, flags = p.translate(a)
    assert pfn == k.zero_pfn and flags & L.PTE_SPECIAL and not flags & L.PTE_RW
    assert status(k, p, "RssAnon") == 0                        # the zero page is not counted
    assert smaps_of(k, p, a)["Rss"] == 0
    assert faults(p, lambda: p.touch_range(a, N * P, write=True)) == (N, 0)
    assert faults(p, lambda: p.touch_range(a, N * P, write=True)) == (0, 0)
    assert status(k, p, "RssAnon") == N * 4
    pfn, flags = p.translate(a)
    assert pfn != k.zero_pfn and flags & L.PTE_RW and flags & L.PTE_DIRTY and flags & L.PTE_NX
    k.check()


def test_write_only_costs_one_fault_and_dontneed_zeroes(k, p):
    a = p.mmap(0, N * P, RW, ANON)
    assert faults(p, lambda: p.touch_range(a, N * P, write=True)) == (N, 0)
    p.write(a + 10, b"data")
    p.madvise(a, N * P, L.MADV_DONTNEED)
    assert status(k, p, "RssAnon") == 0 and p.translate(a) is None
    assert p.read(a + 10, 4) == bytes(4)                       # a fresh zero page again
    assert p.translate(a)[0] == k.zero_pfn
    assert faults(p, lambda: p.touch_range(a, N * P, write=True)) == (N, 0)
    k.check()


def test_mprotect_keeps_exclusive_pages_writable(k, p):
    a = p.mmap(0, N * P, RW, ANON)
    p.touch_range(a, N * P, write=True)
    p.mprotect(a, N * P, L.PROT_READ)
    assert not p.translate(a)[1] & L.PTE_RW
    with pytest.raises(L.SegmentationFault) as e:
        p.touch(a, write=True)
    assert e.value.code == "SEGV_ACCERR"
    p.mprotect(a, N * P, RW)
    assert faults(p, lambda: p.touch_range(a, N * P, write=True)) == (0, 0)


def test_populate(k, p):
    before = p.min_flt
    a = p.mmap(0, N * P, RW, ANON | L.MAP_POPULATE)
    assert p.min_flt - before == N and status(k, p, "VmRSS") == N * 4
    assert faults(p, lambda: p.touch_range(a, N * P, write=True)) == (0, 0)
    before = p.min_flt
    b = p.mmap(0, N * P, L.PROT_READ, ANON | L.MAP_POPULATE)
    assert p.min_flt - before == N
    assert faults(p, lambda: p.touch_range(b, N * P)) == (0, 0)


def test_signals_are_not_counted(k, p):
    a = p.mmap(0, 4 * P, L.PROT_NONE, ANON)
    for addr, write, code in ((a, False, "SEGV_ACCERR"), (0, False, "SEGV_MAPERR"),
                              (a + 8 * P, True, "SEGV_MAPERR"),
                              ((1 << 47) + P, False, "SEGV_MAPERR")):
        with pytest.raises(L.SegmentationFault) as e:
            p.touch(addr, write)
        assert (e.value.addr, e.value.code) == (addr, code)
    assert (p.min_flt, p.maj_flt) == (0, 0)
    assert k.vm_counters()["pgfault"] == 0


def test_sigbus_beyond_eof_counts_pgfault_only(k, p):
    f = cached_file(k, 2)
    a = p.mmap(0, 8 * P, L.PROT_READ, L.MAP_PRIVATE, f, 0)
    p.touch(a)
    minflt, pgfault = p.min_flt, k.vm_counters()["pgfault"]
    for i in range(2, 8):
        with pytest.raises(L.BusError) as e:
            p.touch(a + i * P)
        assert e.value.addr == a + i * P
    assert p.min_flt == minflt and k.vm_counters()["pgfault"] == pgfault + 6


def test_stack_growth_and_guard_gap(k, p):
    base = 0x7f0000000000
    stack = p.mmap(base, 4 * P, RW, ANON | L.MAP_FIXED | L.MAP_GROWSDOWN)
    p.touch(stack - 1, write=True)                             # one byte below: +1 page
    assert p.mm.vma_lookup(stack - 1).vm_start == stack - P
    p.touch(stack - 100 * P, write=True)                       # any distance: to that page
    assert p.mm.vma_lookup(stack - 100 * P).vm_start == stack - 100 * P
    low = stack - 100 * P - 299 * P                            # an accessible VMA 299 pages below
    p.mmap(low - P, P, RW, ANON | L.MAP_FIXED)
    p.touch(stack - 101 * P)                                   # leaves 298 pages: fine
    with pytest.raises(L.SegmentationFault) as e:               # would leave < 256 pages
        p.touch(stack - 101 * P - 43 * P)
    assert e.value.code == "SEGV_MAPERR"
    k.check()


# -- page tables (§4) --------------------------------------------------------------------------
def test_vmpte_one_touch_per_2mib_of_a_gib(k, p):
    a = p.mmap(64 * GIB, GIB, RW, ANON | L.MAP_FIXED | L.MAP_NORESERVE)
    before_pte = status(k, p, "VmPTE")
    before_tables = k.vm_counters()["nr_page_table_pages"]
    p.access(np.arange(a, a + GIB, 2 << 20, dtype=np.int64), True)
    # 512 PTE tables + 1 PMD table (+ the PUD table of this fresh 512 GiB region)
    assert status(k, p, "VmPTE") - before_pte == 2052 + 4
    assert k.vm_counters()["nr_page_table_pages"] - before_tables == 514
    p.touch_range(a, 8 << 20, write=True)                     # more pages: no more tables
    assert status(k, p, "VmPTE") - before_pte == 2056
    p.munmap(a, GIB)
    assert status(k, p, "VmPTE") == before_pte
    k.check()


def test_exit_returns_everything(k, p):
    k.drain_pages()
    free = k.vm_counters()["nr_free_pages"]
    a = p.mmap(0, 1 << 22, RW, ANON)
    p.touch_range(a, 1 << 22, write=True)
    f = cached_file(k, 16)
    b = p.mmap(0, 16 * P, RW, L.MAP_SHARED, f, 0)
    p.touch_range(b, 16 * P, write=True)
    c = p.fork()
    c.touch_range(a, 1 << 22, write=True)
    c.exit()
    p.exit()
    assert not p.alive and not c.alive
    k.drain_pages()
    v = k.vm_counters()
    assert (v["nr_anon_pages"], v["nr_mapped"]) == (0, 0)
    # everything but the file's 16 cached pages is back, the PGD of p included
    assert v["nr_free_pages"] == free - 16 + 1
    assert v["nr_page_table_pages"] == 0
    k.check()


# -- data ----------------------------------------------------------------------------------------
def test_fork_data_is_private(k, p):
    a = p.mmap(0, 8 * P, RW, ANON)
    p.write(a, b"parent" * (8 * P // 6))
    c = p.fork()
    assert c.read(a, 6) == b"parent"
    assert faults(c, lambda: c.touch_range(a, 8 * P)) == (0, 0)   # PTEs were copied
    c.write(a + P, b"child")
    assert p.read(a + P, 5) == (b"parent" * 2000)[P:P + 5]
    assert c.read(a + P, 5) == b"child"
    assert faults(p, lambda: p.touch_range(a, 8 * P, write=True)) == (8, 0)  # all COW-protected
    k.check()


def test_private_file_write_never_reaches_the_file(k, p):
    f = cached_file(k, 4)
    a = p.mmap(0, 4 * P, RW, L.MAP_PRIVATE, f, 0)
    assert p.read(a + P, 3) == bytes([1, 1, 1])
    file_kb = status(k, p, "RssFile")
    p.write(a + P, b"xyz")                             # do_wp_page: a private copy
    assert p.read(a + P, 3) == b"xyz" and f.read(P, 3) == bytes([1, 1, 1])
    assert status(k, p, "RssAnon") == 4 and status(k, p, "RssFile") == file_kb - 4


def test_shared_file_write_reaches_the_file_and_dirty(k, p):
    f = cached_file(k, 4)
    a = p.mmap(0, 4 * P, RW, L.MAP_SHARED, f, 0)
    assert k.vm_counters()["nr_dirty"] == 0
    p.write(a + 2 * P, b"shared")
    assert f.read(2 * P, 6) == b"shared"
    assert k.vm_counters()["nr_dirty"] == 1
    q = k.spawn("other")
    g = k.open("/data/f", 2)
    b = q.mmap(0, 4 * P, L.PROT_READ, L.MAP_SHARED, g, 0)
    assert q.read(b + 2 * P, 6) == b"shared"
    f.fsync()
    assert k.vm_counters()["nr_dirty"] == 0
    k.check()


# -- page cache and fault-around (§5.6, §7.2) --------------------------------------------------
def test_fault_around_window(k, p):
    f = cached_file(k, 64)
    base = 0x7e0000000000 + 5 * P                   # 64 KiB-aligned + 5 pages
    a = p.mmap(base, 32 * P, L.PROT_READ, L.MAP_PRIVATE | L.MAP_FIXED, f, 0)
    p.touch(a + 10 * P)
    assert [p.translate(a + i * P) is not None for i in range(32)] == \
        [True] * 16 + [False] * 16                       # shifted up to start at vm_start
    below = 0x7e0000200000 - 8 * P                    # 8 pages below a 2 MiB boundary
    b = p.mmap(below, 32 * P, L.PROT_READ, L.MAP_PRIVATE | L.MAP_FIXED, f, 0)
    p.touch(b + 4 * P)
    assert [p.translate(b + i * P) is not None for i in range(32)] == [True] * 8 + [False] * 24
    p.touch(b + 9 * P)
    assert [p.translate(b + i * P) is not None for i in range(24)] == [True] * 24


def test_sequential_read_of_cached_file(k, p):
    f = cached_file(k, N)
    a = p.mmap(0x7e0000000000, N * P, L.PROT_READ, L.MAP_PRIVATE | L.MAP_FIXED, f, 0)
    assert faults(p, lambda: p.touch_range(a, N * P)) == (16, 0)
    b = p.mmap(0x7e0000100000 + 5 * P, N * P, L.PROT_READ, L.MAP_PRIVATE | L.MAP_FIXED, f, 0)
    assert faults(p, lambda: p.touch_range(b, N * P)) == (17, 0)


def test_read_around_on_uncached_file(k, p):
    f = cached_file(k, 512)
    f.fadvise(0, 512 * P, L.POSIX_FADV_DONTNEED)
    a = p.mmap(0, 512 * P, L.PROT_READ, L.MAP_PRIVATE, f, 0)
    assert p.mincore(a, 512 * P) == bytes(512)
    assert faults(p, lambda: p.touch(a + 100 * P)) == (0, 1)
    # read_ahead_kb 128: pages 84..115 read, the PG_readahead marker at 84 + 32 - 8 = 108
    assert p.mincore(a, 512 * P) == bytes(84) + b"\1" * 32 + bytes(512 - 116)
    mapped = [i for i in range(512) if p.translate(a + i * P) is not None]
    assert mapped == [i for i in range(96, 112) if i != 108]
    assert k.vm_counters()["pgmajfault"] == 1
    assert p.read(a + 100 * P, 1) == bytes([100])


def test_madv_random_reads_one_page_per_major_fault(k, p):
    f = cached_file(k, 128)
    f.fadvise(0, 128 * P, L.POSIX_FADV_DONTNEED)
    a = p.mmap(0, 128 * P, L.PROT_READ, L.MAP_PRIVATE, f, 0)
    p.madvise(a, 128 * P, L.MADV_RANDOM)
    assert faults(p, lambda: p.touch_range(a, 64 * P)) == (0, 64)
    assert p.mincore(a, 128 * P) == b"\1" * 64 + bytes(64)


def test_file_read_and_write_through_the_cache(k):
    f = k.create_file("/data/g", 0)
    assert f.write(0, b"abc" * 3000) == 9000
    assert k.vm_counters()["nr_dirty"] == 3 and k.vm_counters()["nr_file_pages"] == 3
    assert f.read(8998, 100) == b"bc"
    f.fadvise(0, 0, L.POSIX_FADV_DONTNEED)             # writeback started: pages stay
    assert k.vm_counters()["nr_file_pages"] == 3 and k.vm_counters()["nr_dirty"] == 0
    f.fadvise(0, 0, L.POSIX_FADV_DONTNEED)             # clean now: dropped
    assert k.vm_counters()["nr_file_pages"] == 0
    assert f.read(0, 6) == b"abcabc"                   # read back from the disk


# -- THP (§5.4) -------------------------------------------------------------------------------
def test_thp_faults(k, p):
    a = p.mmap(0, 8 << 20, RW, ANON)
    base = (a + (2 << 20) - 1) & ~((2 << 20) - 1)
    p.madvise(a, 8 << 20, L.MADV_HUGEPAGE)
    assert faults(p, lambda: p.touch_range(base, 4 << 20, write=True)) == (2, 0)
    assert p.translate(base + 5 * P)[1] & L.PTE_PSE
    assert smaps_of(k, p, a)["AnonHugePages"] == 4096
    assert k.vm_counters()["thp_fault_alloc"] == 2
    b = p.mmap(0, 8 << 20, RW, ANON)
    hb = (b + (2 << 20) - 1) & ~((2 << 20) - 1)
    p.madvise(b, 8 << 20, L.MADV_HUGEPAGE)
    assert faults(p, lambda: p.touch_range(hb, 4 << 20)) == (2, 0)        # huge zero page
    assert faults(p, lambda: p.touch_range(hb, 4 << 20, write=True)) == (2, 0)
    p.write(hb + 7, b"huge")
    c = p.fork()
    c.write(hb + 7, b"HUGE")
    assert p.read(hb + 7, 4) == b"huge" and c.read(hb + 7, 4) == b"HUGE"
    k.check()


# -- device files with a Python vm_ops --------------------------------------------------------
class Ring:
    def __init__(self, pages):
        self.pages = pages
        self.seen = []

    def fault(self, vmf):
        self.seen.append((vmf.pgoff, vmf.write))
        if vmf.pgoff >= self.pages:
            return VM_FAULT_SIGBUS
        vmf.page = vmf.grab_page()
        return 0


class Special:
    def __init__(self, pfn):
        self.pfn = pfn

    def fault(self, vmf):
        return vmf.insert_pfn(self.pfn)


def test_device_vm_ops(k, p):
    ring = Ring(2)
    dev = k.create_device("/dev/ring", ring)
    a = p.mmap(0, 4 * P, RW, L.MAP_SHARED, dev, 0)
    assert faults(p, lambda: p.write(a, b"ring")) == (1, 0)
    assert ring.seen == [(0, True)]
    with pytest.raises(L.BusError):
        p.touch(a + 3 * P)
    assert "rw-s 00000000 00:05 4" in k.read(f"/proc/{p.pid}/maps")
    q = p.fork()
    assert q.read(a, 4) == b"ring"
    assert status(k, q, "RssFile") == 4
    pfn = k.alloc_pages(L.GFP_KERNEL)
    b = p.mmap(0, P, L.PROT_READ, L.MAP_SHARED, k.create_device("/dev/mem1", Special(pfn)), 0)
    p.touch(b)
    assert p.translate(b)[0] == pfn and status(k, p, "RssFile") == 4
    assert VM_FAULT_NOPAGE == 0x100
    k.check()


def test_device_handler_without_a_page_is_refused(k, p):
    class Bad:
        def fault(self, vmf):
            return 0
    a = p.mmap(0, P, L.PROT_READ, L.MAP_SHARED, k.create_device("/dev/bad", Bad()), 0)
    with pytest.raises(ValueError):
        p.touch(a)
    assert p.translate(a) is None
    k.check()


# -- rmap -------------------------------------------------------------------------------------
def test_rmap_follows_fork_and_cow(k, p):
    a = p.mmap(0, 4 * P, RW, ANON)
    p.write(a, b"x")
    c = p.fork()
    pfn = p.translate(a)[0]
    assert k.rmap(pfn) == [(p.pid, a), (c.pid, a)]
    assert k.page(pfn).mapcount == 2 and k.page(pfn).refcount == 2
    c.write(a, b"y")
    assert k.rmap(pfn) == [(p.pid, a)]
    assert k.rmap(c.translate(a)[0]) == [(c.pid, a)]


def test_bad_arguments_change_nothing(k, p):
    a = p.mmap(0, 4 * P, RW, ANON)
    with pytest.raises((TypeError, ValueError)):
        p.access([a, a], [1])
    with pytest.raises(TypeError):
        p.touch("a")
    with pytest.raises(ValueError):
        p.touch_range(a, -1)
    with pytest.raises(OSError):
        p.mincore(a + 1, P)
    assert (p.min_flt, p.translate(a)) == (0, None)
    k.check()


# -- large page-cache folios (ext4 6.16+, readahead page_cache_ra_order, 6.18 fault path) ----
# Worked by hand from mm/readahead.c with ra_pages 32, a 256-page file read by 4 KiB preads
# (get_next_ra_size: 4 -> 8, 8 -> 16, 16 -> 32; the async window's end is rounded down to
# 1 << min(ra->order + 2, 5) pages when that leaves something; the folio order is
# min(ra->order + 2, ilog2(size)), smaller at an unaligned index):
#   sync at 0: 0..3, order 0, marker on 1
#   async at 1: start 4, size 8, order 2: 4, 8 (marker on 4)
#   async at 4: start 12, size 16 -> end 28 rounded to 16: size 4, order 2: 12
#   async at 12: start 16, size 8 (16 is not > start: no rounding), order min(4, 3): 16
#   async at 16: start 24, size 16 -> end 40 rounded to 32: size 8, order 3: 24
#   async at 24: start 32, size 16, order 4: 32;  async at 32: start 48, size 32 -> 16: 48
#   async at 48, 64, ...: size 32, order 5: 64, 96, ..., 224 (EOF ends the next window)
RA32_FOLIOS = ([(i, 1) for i in range(4)] + [(4, 4), (8, 4), (12, 4), (16, 8), (24, 8),
                                             (32, 16), (48, 16)]
               + [(i, 32) for i in range(64, 256, 32)])
BASE = 0x200000000          # 2 MiB aligned: page-table positions are known


def test_large_folios_grow_from_small_reads_and_map_whole(k, p):
    f = k.create_file("/data/f", N * P)
    fh = k.open("/data/f")
    for i in range(N):
        fh.read(i * P, P)
    mapping = fh.f_inode.i_mapping
    assert mapping.folios() == RA32_FOLIOS
    k.check()
    a = p.mmap(BASE, N * P, L.PROT_READ, L.MAP_PRIVATE | L.MAP_FIXED, f, 0)
    # fault-around maps whole folios inside the VMA and the page table: faults at 0, 16, 32,
    # 48, 64, 96, ..., 192; the folio 224..255 ends at EOF (file_end 255 < its next index
    # 256: can_map_large is false), so 224 and 240 map their 16-page windows only.
    assert faults(p, lambda: p.touch_range(a, N * P)) == (11, 0)
    k.check()
    # a shared write maps whole folios in finish_fault: one fault per folio (17), and each
    # fault dirties its whole folio
    b = p.mmap(BASE + (1 << 30) + 5 * P, N * P, L.PROT_READ | L.PROT_WRITE,
               L.MAP_SHARED | L.MAP_FIXED, f, 0)
    assert faults(p, lambda: p.touch_range(b, N * P, write=True)) == (len(RA32_FOLIOS), 0)
    assert smaps_of(k, p, b)["Shared_Dirty"] == N * 4
    k.check()
    p.munmap(a, N * P)
    p.munmap(b, N * P)
    fh.fsync()
    # POSIX_FADV_DONTNEED of pages 0..99 drops the folios wholly inside: 0..95; 96..127 stays
    fh.fadvise(0, 100 * P, L.POSIX_FADV_DONTNEED)
    assert sorted(mapping.pages) == list(range(96, N))
    k.check()
    p.exit()
    k.check()


def test_large_folio_cow_and_fork_keep_counts(k, p):
    f = k.create_file("/data/g", N * P)
    fh = k.open("/data/g")
    for i in range(N):
        fh.read(i * P, P)
    a = p.mmap(BASE, N * P, L.PROT_READ | L.PROT_WRITE, L.MAP_PRIVATE | L.MAP_FIXED, f, 0)
    p.touch_range(a, N * P)
    p.write(a + 70 * P, b"x")                       # COW of one page of folio 64..95
    c = p.fork()
    c.write(a + 71 * P, b"y")
    assert p.read(a + 71 * P, 1) == b"\0" and c.read(a + 71 * P, 1) == b"y"
    k.check()
    c.exit()
    p.munmap(a, N * P)
    k.check()
    fh.f_inode.i_mapping.truncate()
    assert len(fh.f_inode.i_mapping) == 0
    k.check()


# -- tmpfs (shmem files, §5.5 and the §5.10 table) --------------------------------------------
def test_tmpfs_files(k, p):
    f = k.create_file("/dev/shm/t", N * P)                  # under /dev/shm: tmpfs
    a = p.mmap(0x7e0000000000, N * P, RW, L.MAP_SHARED | L.MAP_FIXED, f, 0)
    assert faults(p, lambda: p.touch_range(a, N * P, write=True)) == (N, 0)   # holes: 1 each
    assert status(k, p, "RssShmem") == N * 4 and k.vm_counters()["nr_shmem"] == N
    q = k.spawn("q")
    b = q.mmap(0x7e0000000000 + 5 * P, N * P, RW, L.MAP_SHARED | L.MAP_FIXED,
               k.open("/dev/shm/t", 2), 0)
    assert faults(q, lambda: q.touch_range(b, N * P)) == (17, 0)    # existing pages: around
    assert faults(q, lambda: q.touch_range(b, N * P, write=True)) == (0, 0)   # no write-notify
    g = k.create_file("/dev/shm/h", N * P)
    c = q.mmap(0, N * P, RW, L.MAP_SHARED, g, 0)
    assert faults(q, lambda: q.touch_range(c, N * P)) == (N, 0)     # holes, read: 1 each
    p.write(a, b"shm")
    f.fadvise(0, 0, L.POSIX_FADV_DONTNEED)                   # tmpfs pages are the only copy
    assert f.read(0, 3) == b"shm" and q.read(b - 5 * P + 5 * P, 0) == b""
    assert k.create_file("/data/e", P).f_inode.kind == "ext4"
    assert k.create_file("/data/s", P, fs="tmpfs").f_inode.kind == "shmem"
    with pytest.raises(ValueError):
        k.create_file("/data/x", P, fs="xfs")
    k.check()


def test_fork_honours_dontfork_and_wipeonfork(k, p):
    a = p.mmap(0, 4 * P, RW, ANON)
    b = p.mmap(0, 4 * P, RW, ANON)
    p.write(a, b"keep")
    p.write(b, b"wipe")
    p.madvise(a, 4 * P, L.MADV_DONTFORK)
    p.madvise(b, 4 * P, L.MADV_WIPEONFORK)
    c = p.fork()
    assert c.mm.vma_lookup(a) is None                       # VM_DONTCOPY: not in the child
    with pytest.raises(L.SegmentationFault):
        c.touch(a)
    assert c.read(b, 4) == bytes(4) and c.min_flt == 1      # VM_WIPEONFORK: fresh zero page
    assert p.read(b, 4) == b"wipe"
    k.check()


def test_mremap_moves_pages_with_their_data(k, p):
    a = p.mmap(0, 64 * P, RW, ANON)
    p.touch_range(a, 64 * P, write=True)
    p.write(a + 5 * P, b"moved")
    new = p.mremap(a, 64 * P, 128 * P, L.MREMAP_MAYMOVE)
    assert faults(p, lambda: p.touch_range(new, 64 * P, write=True)) == (0, 0)
    assert p.read(new + 5 * P, 5) == b"moved"
    k.check()


def test_vmhwm_keeps_the_peak(k, p):
    a = p.mmap(0, N * P, RW, ANON)
    p.touch_range(a, N * P, write=True)
    p.munmap(a, N * P)
    assert status(k, p, "VmRSS") == 0 and status(k, p, "VmHWM") == N * 4


def test_populate_file_mapping_takes_fault_around_faults(k, p):
    f = cached_file(k, N)
    before = p.min_flt
    a = p.mmap(0x7e0000000000 + 5 * P, N * P, L.PROT_READ,
               L.MAP_PRIVATE | L.MAP_FIXED | L.MAP_POPULATE, f, 0)
    assert p.min_flt - before == 17
    assert faults(p, lambda: p.touch_range(a, N * P)) == (0, 0)
