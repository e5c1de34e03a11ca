"""The MMU engine on both backends: hand-worked known answers, then a Hypothesis stateful test
driving the C engine and the reference side by side."""
import importlib

import numpy as np
import pytest

from linuxmm.errors import InvariantError, OutOfMemory
from linuxmm.vm import mmu_defs as D

MAX_PFN = 65536
ZERO_PFN = 0            # never released to the allocator
GIB = 1 << 30
ANON_VMA = 7
ANON_PTE = D._PAGE_PRESENT | D._PAGE_RW | D._PAGE_USER | D._PAGE_ACCESSED | D._PAGE_DIRTY
ZERO_PTE = (ZERO_PFN << 12) | D._PAGE_PRESENT | D._PAGE_USER | D._PAGE_ACCESSED \
    | D._PAGE_SPECIAL | D._PAGE_NX
ANON_FLAGS = D.PG_ANON | D.PG_ANON_EXCLUSIVE | D.PG_SWAPBACKED | D.PG_UPTODATE | D.PG_LRU
NOT_EXCLUSIVE = np.uint32(0xFFFFFFFF & ~D.PG_ANON_EXCLUSIVE)
RW = D.VM_READ | D.VM_WRITE
BACKENDS = {"c": ("linuxmm.page_alloc", "linuxmm.mmu"),
            "reference": ("linuxmm.reference.page_alloc", "linuxmm.reference.mmu")}


def make(name, pages=MAX_PFN):
    pa_mod, mmu_mod = (importlib.import_module(m) for m in BACKENDS[name])
    pa = pa_mod.PageAllocator([("Normal", 0, MAX_PFN)], cpus=1)
    pa.free_boot_range(1, pages)
    return pa, mmu_mod.Mmu(pa, MAX_PFN, ZERO_PFN)


@pytest.fixture(params=sorted(BACKENDS))
def env(request):
    pa, m = make(request.param)
    counters = np.zeros(D.NR_MM_COUNTERS, np.int64)
    return pa, m, counters, m.pgd_alloc(counters)


def snap(*rows):
    """rows of (start, end, vm_flags, pgoff, anon_vma, kind)"""
    return np.array(rows, dtype=np.int64).reshape(-1, D.SNAP_COLUMNS)


def anon(start, end, flags=RW, pgoff=0, anon_vma=ANON_VMA, kind=D.SNAPK_ANON):
    return (start, end, flags, pgoff, anon_vma, kind)


def touch(m, pgd, counters, snapshot, addrs, write):
    addrs = np.asarray(addrs, dtype=np.int64)
    return m.access(pgd, counters, snapshot, addrs, np.full(len(addrs), write, np.uint8))


def free_count(pa):
    return pa.nr_free_pages(0) + pa.pcp_count(0, 0)


def test_pgd_alloc_and_free(env):
    pa, m, counters, pgd = env
    assert m.flags[pgd] == D.PG_PGTABLE and m.refcount[pgd] == 1 and m.mapcount[pgd] == 0
    assert m.node[D.NR_PAGETABLE] == 1 and counters[D.MM_PGTABLES_BYTES] == 0
    assert m.table_pages(pgd) == [pgd]
    before = free_count(pa)
    m.pgd_free(pgd, counters)
    assert free_count(pa) == before + 1
    assert m.flags[pgd] == 0 and m.refcount[pgd] == 0 and m.node[D.NR_PAGETABLE] == 0
    with pytest.raises(ValueError):
        m.pte_get(pgd, 0)


def test_first_write_fault_allocates_three_tables_and_a_page(env):
    pa, m, counters, pgd = env
    s = snap(anon(0x400000, 0x600000, pgoff=0x10))
    assert touch(m, pgd, counters, s, [0x401000], 1) == (1, D.ACCESS_DONE)
    assert counters[D.MM_PGTABLES_BYTES] == 12288
    assert m.node[D.NR_PAGETABLE] == 4
    assert counters[D.MM_ANONPAGES] == 1 and counters[D.MM_MIN_FLT] == 1
    assert m.events[D.EV_PGFAULT] == 1
    e = m.pte_get(pgd, 0x401000)
    pfn = D.pte_pfn(e)
    assert e == (pfn << 12) | ANON_PTE | D._PAGE_NX
    assert m.flags[pfn] == ANON_FLAGS and m.refcount[pfn] == 1 and m.mapcount[pfn] == 1
    assert m.mapping[pfn] == ANON_VMA and m.index[pfn] == 0x11
    assert m.node[D.NR_ANON_MAPPED] == 1 and m.node[D.NR_INACTIVE_ANON] == 1
    assert len(m.table_pages(pgd)) == 4
    # a second touch is a hit: nothing counted
    assert touch(m, pgd, counters, s, [0x401000, 0x401fff], 1) == (2, D.ACCESS_DONE)
    assert counters[D.MM_MIN_FLT] == 1


def test_read_fault_maps_the_zero_page_then_write_replaces_it(env):
    pa, m, counters, pgd = env
    s = snap(anon(0x400000, 0x600000))
    assert touch(m, pgd, counters, s, [0x400000], 0) == (1, D.ACCESS_DONE)
    assert m.pte_get(pgd, 0x400000) == ZERO_PTE
    assert counters[D.MM_ANONPAGES] == 0 and counters[D.MM_MIN_FLT] == 1
    assert m.refcount[ZERO_PFN] == 0
    assert touch(m, pgd, counters, s, [0x400000], 1) == (1, D.ACCESS_DONE)
    e = m.pte_get(pgd, 0x400000)
    assert D.pte_pfn(e) != ZERO_PFN and e & D._PAGE_RW and e & D._PAGE_DIRTY
    assert counters[D.MM_ANONPAGES] == 1 and counters[D.MM_MIN_FLT] == 2
    assert m.events[D.EV_PGFAULT] == 2 and m.events[D.EV_PGREUSE] == 0


def test_exec_vma_has_no_nx_and_no_zero_page_flag_faults(env):
    pa, m, counters, pgd = env
    s = snap(anon(0x400000, 0x401000, flags=RW | D.VM_EXEC),
             anon(0x500000, 0x501000, kind=D.SNAPK_ANON | D.SNAPK_NO_ZERO_PAGE))
    assert touch(m, pgd, counters, s, [0x400000], 0) == (1, D.ACCESS_DONE)
    assert m.pte_get(pgd, 0x400000) == ZERO_PTE & ~D._PAGE_NX
    assert touch(m, pgd, counters, s, [0x500000], 0) == (0, D.ACCESS_FAULT)
    assert touch(m, pgd, counters, s, [0x500000], 1) == (1, D.ACCESS_DONE)


def test_faults_the_loop_leaves_to_python(env):
    pa, m, counters, pgd = env
    s = snap(anon(0x400000, 0x401000, flags=D.VM_READ), anon(0x600000, 0x601000, anon_vma=0),
             anon(0x700000, 0x701000, kind=0), anon(0x800000, 0x801000, flags=0))
    cases = [(0x300000, 0), (0x401000, 0), (0x400000, 1), (0x600000, 1), (0x700000, 0),
             (0x800000, 0), (D.TASK_SIZE, 0), (-4096, 0)]
    for addr, w in cases:
        assert touch(m, pgd, counters, s, [addr], w) == (0, D.ACCESS_FAULT), hex(addr)
    assert counters[D.MM_MIN_FLT] == 0 and m.node[D.NR_PAGETABLE] == 1
    # a swap entry and a huge leaf are Python's too
    m.pte_set(pgd, 0x400000, 0x1234 << 12, counters)
    assert touch(m, pgd, counters, s, [0x400000], 0) == (0, D.ACCESS_FAULT)
    # the stop index counts from the start
    ok = snap(anon(0x400000, 0x600000))
    addrs = np.array([0x500000, 0x501000, 0x900000, 0x502000], np.int64)
    w = np.zeros(4, np.uint8)
    assert m.access(pgd, counters, ok, addrs, w) == (2, D.ACCESS_FAULT)
    assert m.access(pgd, counters, ok, addrs, w, 3) == (4, D.ACCESS_DONE)
    assert counters[D.MM_MIN_FLT] == 3


def test_hit_sets_accessed_and_dirty(env):
    pa, m, counters, pgd = env
    s = snap(anon(0, GIB))
    m.pte_set(pgd, 0x1000, (500 << 12) | D._PAGE_PRESENT | D._PAGE_RW, counters)
    assert touch(m, pgd, counters, s, [0x1000], 0) == (1, D.ACCESS_DONE)
    assert m.pte_get(pgd, 0x1000) == (500 << 12) | D._PAGE_PRESENT | D._PAGE_RW | D._PAGE_ACCESSED
    assert touch(m, pgd, counters, s, [0x1000], 1) == (1, D.ACCESS_DONE)
    assert m.pte_get(pgd, 0x1000) & D._PAGE_DIRTY
    huge = (1024 << 12) | D._PAGE_PRESENT | D._PAGE_PSE
    m.pmd_set(pgd, 0x200000, huge, counters)
    assert touch(m, pgd, counters, s, [0x234000], 0) == (1, D.ACCESS_DONE)
    assert m.pmd_get(pgd, 0x200000) == huge | D._PAGE_ACCESSED
    assert m.pte_get(pgd, 0x3ff000) == huge | D._PAGE_ACCESSED
    assert touch(m, pgd, counters, s, [0x234000], 1) == (0, D.ACCESS_FAULT)   # huge wp: Python
    assert counters[D.MM_MIN_FLT] == 0


def test_one_touch_per_2m_slot_of_a_gib_and_free_pgtables(env):
    pa, m, counters, pgd = env
    before = free_count(pa)
    s = snap(anon(GIB, 2 * GIB))
    addrs = np.arange(GIB, 2 * GIB, D.PMD_SIZE, dtype=np.int64)
    assert touch(m, pgd, counters, s, addrs, 0) == (512, D.ACCESS_DONE)
    # 512 PTE tables + 1 PMD table = 2052 KiB, and the PUD table the GiB's PGD entry needed
    assert counters[D.MM_PGTABLES_BYTES] == 2052 * 1024 + 4096
    assert m.node[D.NR_PAGETABLE] == 515
    assert free_count(pa) == before - 514
    tables = m.table_pages(pgd)
    assert len(tables) == 515 and tables[0] == pgd
    got_a, got_e = m.walk(pgd, 0, D.USER_TOP)
    assert got_a.tolist() == addrs.tolist() and set(got_e.tolist()) == {ZERO_PTE}
    # the PTE tables still map the zero page: nothing is freed
    with pytest.raises(InvariantError):
        m.free_pgtables(pgd, GIB, 2 * GIB, 0, 0, counters)
    assert m.node[D.NR_PAGETABLE] == 515
    m.clear_bulk(pgd, addrs)
    assert m.walk(pgd, 0, D.USER_TOP)[0].size == 0
    # a neighbour at 2 GiB (ceiling) keeps the PUD table; the PMD table goes
    m.free_pgtables(pgd, GIB, 2 * GIB, 0, 2 * GIB, counters)
    assert counters[D.MM_PGTABLES_BYTES] == 4096 and m.node[D.NR_PAGETABLE] == 2
    m.free_pgtables(pgd, GIB, 2 * GIB, 0, 0, counters)
    assert counters[D.MM_PGTABLES_BYTES] == 0 and m.node[D.NR_PAGETABLE] == 1
    assert free_count(pa) == before
    assert m.table_pages(pgd) == [pgd]
    m.pgd_free(pgd, counters)


def test_free_pgtables_floor_and_ceiling_keep_shared_tables(env):
    pa, m, counters, pgd = env
    for a in (0x400000, 0x401000, 0x600000):
        m.pte_set(pgd, a, 0, counters)
    assert counters[D.MM_PGTABLES_BYTES] == 4 * 4096
    # [0x401000, 0x402000) with a neighbour ending at 0x401000 in the same PMD: floor rounds
    # addr up to 0x600000, past end: nothing goes
    m.free_pgtables(pgd, 0x401000, 0x402000, 0x401000, 0x600000, counters)
    assert counters[D.MM_PGTABLES_BYTES] == 4 * 4096
    # floor 0, ceiling 0x600000: the PTE table of 0x400000 goes, the PMD table stays
    m.free_pgtables(pgd, 0x400000, 0x401000, 0, 0x600000, counters)
    assert counters[D.MM_PGTABLES_BYTES] == 3 * 4096
    assert m.pmd_get(pgd, 0x400000) == 0 and m.pmd_get(pgd, 0x600000) != 0
    m.free_pgtables(pgd, 0, 0x800000, 0, 0, counters)
    assert counters[D.MM_PGTABLES_BYTES] == 0 and m.table_pages(pgd) == [pgd]
    with pytest.raises(ValueError):
        m.free_pgtables(pgd, 5, 5, 0, 0, counters)


def test_cow_copy_then_reuse(env):
    pa, m, counters, pgd = env
    c2 = np.zeros(D.NR_MM_COUNTERS, np.int64)
    pgd2 = m.pgd_alloc(c2)
    s = snap(anon(0x400000, 0x500000))
    touch(m, pgd, counters, s, [0x400000], 1)
    e = m.pte_get(pgd, 0x400000)
    p = D.pte_pfn(e)
    m.page_write(p, 100, b"hello")
    # fork: both map p read-only, shared
    ro = e & ~D._PAGE_RW
    m.pte_set(pgd, 0x400000, ro, counters)
    m.pte_set(pgd2, 0x400000, ro, c2)
    m.refcount[p] = 2
    m.mapcount[p] = 2
    m.flags[p] &= NOT_EXCLUSIVE
    c2[D.MM_ANONPAGES] = 1
    assert touch(m, pgd2, c2, s, [0x400010], 1) == (1, D.ACCESS_DONE)
    q = D.pte_pfn(m.pte_get(pgd2, 0x400000))
    assert q != p and m.page_read(q, 100, 5) == b"hello"
    assert m.refcount[p] == 1 and m.mapcount[p] == 1 and m.refcount[q] == 1
    assert c2[D.MM_ANONPAGES] == 1 and c2[D.MM_MIN_FLT] == 1
    assert m.node[D.NR_ANON_MAPPED] == 2 and m.events[D.EV_PGREUSE] == 0
    # the parent's write reuses p: refcount 1
    assert touch(m, pgd, counters, s, [0x400000], 1) == (1, D.ACCESS_DONE)
    assert m.pte_get(pgd, 0x400000) == e
    assert m.flags[p] & D.PG_ANON_EXCLUSIVE and m.events[D.EV_PGREUSE] == 1
    # a copy that drops the last reference releases the old page
    m.pte_set(pgd, 0x400000, ro, counters)
    m.flags[p] &= NOT_EXCLUSIVE
    m.refcount[p] = 2
    m.refcount[p] -= 1      # pretend a GUP pin went away: refcount 1 -> reuse again
    assert touch(m, pgd, counters, s, [0x400000], 1) == (1, D.ACCESS_DONE)
    assert m.events[D.EV_PGREUSE] == 2


def test_cow_copy_of_a_pinned_page(env):
    pa, m, counters, pgd = env
    s = snap(anon(0x400000, 0x500000, pgoff=3))
    touch(m, pgd, counters, s, [0x400000], 1)
    e = m.pte_get(pgd, 0x400000)
    p = D.pte_pfn(e)
    m.page_write(p, 0, b"x")
    m.pte_set(pgd, 0x401000, e & ~D._PAGE_RW, counters)   # p mapped twice, plus a pin
    m.flags[p] &= NOT_EXCLUSIVE
    m.refcount[p] = 3
    m.mapcount[p] = 2
    nodes = m.node.copy()
    before = free_count(pa)
    assert touch(m, pgd, counters, s, [0x401000], 1) == (1, D.ACCESS_DONE)
    q = D.pte_pfn(m.pte_get(pgd, 0x401000))
    assert m.page_read(q, 0, 2) == b"x\0" and m.index[q] == 4 and m.mapping[q] == ANON_VMA
    assert m.refcount[p] == 2 and m.mapcount[p] == 1 and m.refcount[q] == 1
    assert free_count(pa) == before - 1
    assert m.node[D.NR_ANON_MAPPED] == nodes[D.NR_ANON_MAPPED] + 1
    assert counters[D.MM_ANONPAGES] == 1                # a copy of an anon page: no change
    # the pin goes; p's remaining mapping, write-protected, is reused on a write
    m.refcount[p] = 1
    m.pte_set(pgd, 0x400000, e & ~D._PAGE_RW, counters)
    assert touch(m, pgd, counters, s, [0x400000], 1) == (1, D.ACCESS_DONE)
    assert m.pte_get(pgd, 0x400000) == e and m.events[D.EV_PGREUSE] == 1


def exhaust(pa):
    held = []
    while True:
        try:
            held.append(pa.alloc_pages(D.GFP_ANON_PAGE, 0, 0))
        except OutOfMemory:
            return held


def test_nomem_leaves_the_access_uncounted(env):
    pa, m, counters, pgd = env
    s = snap(anon(0x400000, 0x500000))
    held = exhaust(pa)
    assert touch(m, pgd, counters, s, [0x400000], 1) == (0, D.ACCESS_NOMEM)
    assert touch(m, pgd, counters, s, [0x400000], 0) == (0, D.ACCESS_NOMEM)
    assert counters[D.MM_MIN_FLT] == 0 and m.events[D.EV_PGFAULT] == 0
    with pytest.raises(OutOfMemory):
        m.pte_set(pgd, 0x400000, 0, counters)
    # three pages: the tables fit, the data page does not; the tables stay
    for pfn in held[:3]:
        pa.free_pages(pfn, 0, 0)
    assert touch(m, pgd, counters, s, [0x400000], 1) == (0, D.ACCESS_NOMEM)
    assert counters[D.MM_PGTABLES_BYTES] == 12288 and counters[D.MM_MIN_FLT] == 0
    assert counters[D.MM_ANONPAGES] == 0 and m.pte_get(pgd, 0x400000) == 0
    assert touch(m, pgd, counters, s, [0x400000], 0) == (1, D.ACCESS_DONE)    # no page needed
    pa.free_pages(held[3], 0, 0)
    assert touch(m, pgd, counters, s, [0x400000], 1) == (1, D.ACCESS_DONE)
    assert counters[D.MM_MIN_FLT] == 2


def test_access_range_matches_access(env):
    pa, m, counters, pgd = env
    s = snap(anon(0x400000, 0x800000))
    assert m.access_range(pgd, counters, s, 0x7fe000, 4, 1) == (2, D.ACCESS_FAULT)
    assert counters[D.MM_ANONPAGES] == 2
    assert m.access_range(pgd, counters, s, 0x400000, 1024, 0, 1) == (1024, D.ACCESS_DONE)
    assert counters[D.MM_MIN_FLT] == 2 + 1021          # 0x7fe000, 0x7ff000 were hits
    addrs = np.arange(0x400000, 0x800000, 4096, dtype=np.int64)
    assert touch(m, pgd, counters, s, addrs, 0) == (1024, D.ACCESS_DONE)
    assert counters[D.MM_MIN_FLT] == 2 + 1022


def test_page_contents(env):
    pa, m, counters, pgd = env
    assert m.page_read(5) == bytes(4096) and not m.page_has_data(5)
    m.page_write(5, 4090, b"abcdef")
    assert m.page_read(5, 4088, 8) == b"\0\0abcdef" and m.page_has_data(5)
    m.page_copy(6, 5)
    assert m.page_read(6) == m.page_read(5)
    m.page_copy(6, 7)
    assert not m.page_has_data(6)
    n = m.nr_data_pages()
    m.page_clear(5)
    assert m.nr_data_pages() == n - 1
    for bad in [lambda: m.page_write(5, 4095, b"ab"), lambda: m.page_read(MAX_PFN),
                lambda: m.page_read(-1), lambda: m.page_read(1, 0, 4097),
                lambda: m.page_write(pgd, 0, b"x"), lambda: m.page_copy(pgd, 5)]:
        with pytest.raises(ValueError):
            bad()
    # a table page's contents are its entries
    m.pte_set(pgd, 0, 0, counters)
    assert m.page_read(pgd, 0, 8) == int(m.table_pages(pgd)[1] << 12 | D._PAGE_TABLE).to_bytes(8, "little")


def test_tables_walk_and_clear(env):
    pa, m, counters, pgd = env
    m.pte_set(pgd, 0x1000, 0x5003, counters)
    m.pmd_set(pgd, 0x400000, 0x200083, counters)
    m.pte_set(pgd, 0x7ffffffe000, 0x6001, counters)
    with pytest.raises(ValueError):
        m.pte_set(pgd, 0x401000, 1, counters)
    with pytest.raises(ValueError):
        m.pmd_set(pgd, 0, 0x200083, counters)          # points to a PTE table
    with pytest.raises(ValueError):
        m.pmd_set(pgd, 0x401000, 0x200083, counters)   # misaligned
    with pytest.raises(ValueError):
        m.pte_set(pgd, D.TASK_SIZE, 1, counters)
    a, e = m.walk(pgd, 0, D.USER_TOP)
    assert a.dtype == np.int64 and e.dtype == np.uint64
    assert a.tolist() == [0x1000, 0x400000, 0x7ffffffe000]
    assert e.tolist() == [0x5003, 0x200083, 0x6001]
    assert m.walk(pgd, 0x500000, 0x500001)[0].tolist() == [0x400000]
    assert m.walk(pgd, 0x1fff, 0x2000)[0].tolist() == [0x1000]
    assert m.walk(pgd, 0x2000, 0x400000)[0].tolist() == []
    assert counters[D.MM_PGTABLES_BYTES] == 6 * 4096
    m.clear_bulk(pgd, [0x401000])                       # not the leaf's address: kept
    assert m.pmd_get(pgd, 0x400000) == 0x200083
    m.clear_bulk(pgd, [0x400000, 0x1000, 0x2000, 0x40000000])
    assert m.walk(pgd, 0, D.USER_TOP)[0].tolist() == [0x7ffffffe000]
    m.set_bulk(pgd, np.array([0x3000, 0x4000]), np.array([1, 2], np.uint64), counters)
    assert m.pte_get(pgd, 0x4000) == 2
    with pytest.raises(ValueError):
        m.pgd_free(pgd, counters)
    with pytest.raises(ValueError):
        m.set_bulk(pgd, [0x3000], [1, 2], counters)
    big = np.uint64(1 << 63 | 0x7003)
    m.pte_set(pgd, 0x5000, int(big), counters)
    assert m.pte_get(pgd, 0x5000) == 1 << 63 | 0x7003


def test_check(env):
    pa, m, counters, pgd = env
    m.pte_set(pgd, 0x1000, (MAX_PFN << 12) | 1, counters)
    m.pte_set(pgd, 0x2000, (MAX_PFN << 12) | 1 | D._PAGE_SPECIAL, counters)
    with pytest.raises(InvariantError, match="max_pfn"):
        m.check([pgd])
    m.clear_bulk(pgd, [0x1000])
    m.check([pgd])
    m.flags[m.table_pages(pgd)[2]] = 0
    with pytest.raises(InvariantError, match="lacks PG_PGTABLE"):
        m.check([pgd])


def test_bad_arguments(env):
    pa, m, counters, pgd = env
    s = snap(anon(0, GIB))
    a = np.zeros(2, np.int64)
    w = np.zeros(2, np.uint8)
    bad = [lambda: m.access(pgd, counters, s, a.astype(np.int32), w),
           lambda: m.access(pgd, counters, s, a, w[:1]),
           lambda: m.access(pgd, counters, s, a, w, 3),
           lambda: m.access(pgd, counters, s[:, :5].copy(), a, w),
           lambda: m.access(pgd, counters[:5], s, a, w),
           lambda: m.access(pgd + 1, counters, s, a, w),
           lambda: m.access(pgd, counters, s, a, w.astype(bool)),
           lambda: m.access_range(pgd, counters, s, 0, 4, 0, 5),
           lambda: m.pte_get(MAX_PFN, 0), lambda: m.walk(pgd, 5, 4)]
    for f in bad:
        with pytest.raises((TypeError, ValueError)):
            f()
    assert m.access(pgd, counters, s, a, w, 2) == (2, D.ACCESS_DONE)
    assert counters.sum() == 0


# ---- the C engine and the reference side by side ---------------------------------------------
from hypothesis import settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule  # noqa: E402

from linuxmm.errors import MMError  # noqa: E402

SMALL = 4096
SNAPSHOT = snap(anon(0x400000, 0x600000, pgoff=5, anon_vma=1),
                anon(0x600000, 0x700000, flags=D.VM_READ, anon_vma=2),
                anon(0x700000, 0x800000, anon_vma=0),
                anon(0x800000, 0x900000, kind=0),
                anon(0x3fe00000, 0x40400000, flags=RW | D.VM_EXEC, anon_vma=3,
                     kind=D.SNAPK_ANON | D.SNAPK_NO_ZERO_PAGE),
                anon(0xbfe00000, 0xc0000000, anon_vma=5),
                anon(0x7fffff000000, D.TASK_SIZE, anon_vma=4))
BASES = [0x3ff000, 0x400000, 0x5fe000, 0x6ff000, 0x7ff000, 0x8ff000, 0x3ffff000,
         0x7fffff000000, 0x7ffffffee000, 0x40200000, 0xbffe0000]
addresses = st.builds(lambda b, k: b + k * 4096, st.sampled_from(BASES), st.integers(0, 40))
user_addresses = addresses.filter(lambda a: a < D.TASK_SIZE)
edges = st.sampled_from([0, 0x200000, 0x3ff000, 0x400000, 0x401000, 0x600000, 0x800000,
                         0x3fe00000, 0x40000000, 0x40400000, 0x80000000, 0x7fffff000000,
                         0x7fffffe00000, D.TASK_SIZE, D.USER_TOP, 0xbfe00000, 0xc0000000])
FLAG_BITS = [0, D._PAGE_PRESENT, D._PAGE_PRESENT | D._PAGE_RW, D._PAGE_PROTNONE,
             D._PAGE_PRESENT | D._PAGE_SPECIAL, D._PAGE_PRESENT | D._PAGE_USER | D._PAGE_NX]
entries = st.builds(lambda pfn, f: (pfn << 12) | f, st.integers(0, SMALL + 8),
                    st.sampled_from(FLAG_BITS))


def outcome(f):
    try:
        r = f()
    except (MMError, ValueError, TypeError) as e:
        return ("error", type(e).__name__, str(e))
    if isinstance(r, tuple) and r and isinstance(r[0], np.ndarray):
        return ("ok", [a.tolist() for a in r])
    return ("ok", r)


class Side:
    def __init__(self, name, levels=4):
        pa_mod, mmu_mod = (importlib.import_module(m) for m in BACKENDS[name])
        self.pa = pa_mod.PageAllocator([("Normal", 0, SMALL)], cpus=1)
        self.pa.free_boot_range(1, SMALL)
        self.m = mmu_mod.Mmu(self.pa, SMALL, ZERO_PFN, levels=levels)
        self.counters = [np.zeros(D.NR_MM_COUNTERS, np.int64) for _ in range(2)]
        self.pgds = [self.m.pgd_alloc(c) for c in self.counters]
        self.held = []

    def state(self):
        m = self.m
        out = [getattr(m, a).tolist() for a in ("flags", "refcount", "mapcount", "mapping",
                                                "index", "events", "node")]
        out += [c.tolist() for c in self.counters]
        out += [self.pa.nr_free(0), self.pa.pcp_count(0, 0), m.nr_data_pages(), self.held]
        for pgd in self.pgds:
            out.append(m.table_pages(pgd))
            addrs, ents = m.walk(pgd, 0, m.user_top)
            out += [addrs.tolist(), ents.tolist()]
            for e in ents.tolist()[:40]:
                pfn = D.pte_pfn(e)
                if pfn < SMALL:
                    out.append(m.page_read(pfn, 0, 8))
        return out


class MmuParity(RuleBasedStateMachine):
    LEVELS = 4

    def __init__(self):
        super().__init__()
        self.c, self.r = Side("c", self.LEVELS), Side("reference", self.LEVELS)

    def both(self, f):
        got = [outcome(lambda s=s: f(s)) for s in (self.c, self.r)]
        assert got[0] == got[1]
        return got[0]

    @rule(mm=st.integers(0, 1), ops=st.lists(st.tuples(addresses, st.booleans()), max_size=30),
          start=st.integers(0, 3))
    def access(self, mm, ops, start):
        addrs = np.array([a for a, _ in ops], np.int64)
        writes = np.array([w for _, w in ops], np.uint8)
        start = min(start, len(ops))
        self.both(lambda s: s.m.access(s.pgds[mm], s.counters[mm], SNAPSHOT, addrs, writes, start))

    @rule(mm=st.integers(0, 1), addr=addresses, npages=st.integers(0, 700), write=st.booleans(),
          start=st.integers(0, 5))
    def access_range(self, mm, addr, npages, write, start):
        self.both(lambda s: s.m.access_range(s.pgds[mm], s.counters[mm], SNAPSHOT, addr, npages,
                                             write, start))

    @rule(mm=st.integers(0, 1), sets=st.lists(st.tuples(addresses, entries), max_size=6))
    def set_bulk(self, mm, sets):
        self.both(lambda s: s.m.set_bulk(s.pgds[mm], [a for a, _ in sets],
                                         np.array([e for _, e in sets], np.uint64), s.counters[mm]))

    @rule(mm=st.integers(0, 1), addr=addresses, entry=entries)
    def pte_set_and_get(self, mm, addr, entry):
        self.both(lambda s: s.m.pte_set(s.pgds[mm], addr, entry, s.counters[mm]))
        self.both(lambda s: (s.m.pte_get(s.pgds[mm], addr), s.m.pmd_get(s.pgds[mm], addr)))

    @rule(mm=st.integers(0, 1), addr=addresses, pfn=st.integers(0, SMALL - 1))
    def pmd_set(self, mm, addr, pfn):
        entry = (pfn << 12) | D._PAGE_PRESENT | D._PAGE_PSE | D._PAGE_USER
        self.both(lambda s: s.m.pmd_set(s.pgds[mm], addr & ~(D.PMD_SIZE - 1), entry,
                                         s.counters[mm]))

    @rule(mm=st.integers(0, 1), addrs=st.lists(addresses, max_size=8), everything=st.booleans())
    def clear_bulk(self, mm, addrs, everything):
        if everything:
            addrs = self.c.m.walk(self.c.pgds[mm], 0, self.c.m.user_top)[0]
        self.both(lambda s: s.m.clear_bulk(s.pgds[mm], addrs))

    @rule(mm=st.integers(0, 1), a=st.one_of(edges, addresses), b=st.one_of(edges, addresses))
    def walk(self, mm, a, b):
        self.both(lambda s: s.m.walk(s.pgds[mm], min(a, b), max(a, b)))

    @rule(mm=st.integers(0, 1), pts=st.lists(st.one_of(edges, addresses), min_size=4,
                                             max_size=4))
    def free_pgtables(self, mm, pts):
        floor, start, end, ceiling = sorted(pts)
        if ceiling >= self.c.m.user_top or pts[3] == 0:
            ceiling = 0
        self.both(lambda s: s.m.free_pgtables(s.pgds[mm], start, end, floor, ceiling,
                                              s.counters[mm]))

    @rule(mm=st.integers(0, 1))
    def recycle_mm(self, mm):
        def recycle(s):
            # the new PGD first: when memory is full the old mm stays as it was
            fresh = s.m.pgd_alloc(s.counters[mm])
            pgd = s.pgds[mm]
            s.m.clear_bulk(pgd, s.m.walk(pgd, 0, s.m.user_top)[0])
            s.m.free_pgtables(pgd, 0, s.m.user_top, 0, 0, s.counters[mm])
            s.m.pgd_free(pgd, s.counters[mm])
            s.pgds[mm] = fresh
            return fresh
        self.both(recycle)

    @rule(data=st.data())
    def fork_share(self, data):
        """Write-protect an anonymous page of mm 0 and map it into mm 1 too, as fork() does."""
        addrs, ents = self.c.m.walk(self.c.pgds[0], 0, self.c.m.user_top)
        anon_leaves = [(a, e) for a, e in zip(addrs.tolist(), ents.tolist())
                       if not e & (D._PAGE_PSE | D._PAGE_SPECIAL) and e & D._PAGE_PRESENT
                       and D.pte_pfn(e) < SMALL and self.c.m.flags[D.pte_pfn(e)] & D.PG_ANON]
        if not anon_leaves:
            return
        a, e = data.draw(st.sampled_from(anon_leaves))
        ro, pfn = e & ~D._PAGE_RW, D.pte_pfn(e)

        def share(s):
            s.m.pte_set(s.pgds[0], a, ro, s.counters[0])
            s.m.pte_set(s.pgds[1], a, ro, s.counters[1])
            s.m.refcount[pfn] += 1
            s.m.mapcount[pfn] += 1
            s.m.flags[pfn] &= NOT_EXCLUSIVE
        self.both(share)

    @rule(pfn=st.integers(0, SMALL), offset=st.integers(0, 4096), data=st.binary(max_size=64))
    def page_write(self, pfn, offset, data):
        self.both(lambda s: s.m.page_write(pfn, offset, data))

    @rule(dst=st.integers(0, SMALL - 1), src=st.integers(0, SMALL - 1), clear=st.booleans())
    def page_copy_or_clear(self, dst, src, clear):
        if clear:
            self.both(lambda s: s.m.page_clear(dst))
        else:
            self.both(lambda s: s.m.page_copy(dst, src))

    @rule(n=st.integers(1, SMALL))
    def hold_pages(self, n):
        def hold(s):
            for _ in range(n):
                try:
                    s.held.append(s.pa.alloc_pages(D.GFP_ANON_PAGE, 0, 0))
                except OutOfMemory:
                    break
        self.both(hold)

    @rule(n=st.integers(1, 64))
    def release_pages(self, n):
        def release(s):
            for _ in range(min(n, len(s.held))):
                s.pa.free_pages(s.held.pop(), 0, 0)
        self.both(release)

    @invariant()
    def same_state(self):
        assert self.c.state() == self.r.state()

    @invariant()
    def check(self):
        self.both(lambda s: s.m.check(s.pgds))


MmuParity.TestCase.settings = settings(settings(), stateful_step_count=30)
test_mmu_parity = MmuParity.TestCase


class MmuParityPae(MmuParity):
    """The same comparison with i386 PAE tables (levels=3)."""
    LEVELS = 3


MmuParityPae.TestCase.settings = settings(settings(), stateful_step_count=30)
test_mmu_parity_pae = MmuParityPae.TestCase


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_pae_known_answers(name):
    """pgd_alloc on PAE: the PGD page + 4 preallocated PMDs (PageTables 5 pages, VmPTE 16 kB,
    PGD entries pfn | _PAGE_PRESENT); a fault adds a PTE table; free_pgtables over a whole
    1 GiB frees the PMD too; pgd_free mops up the rest."""
    pa_mod, mmu_mod = (importlib.import_module(mod) for mod in BACKENDS[name])
    pa2 = pa_mod.PageAllocator([("Normal", 0, MAX_PFN)], cpus=1)
    pa2.free_boot_range(1, MAX_PFN)
    m3 = mmu_mod.Mmu(pa2, MAX_PFN, ZERO_PFN, levels=3)
    counters = np.zeros(D.NR_MM_COUNTERS, np.int64)
    free0 = free_count(pa2)
    pgd = m3.pgd_alloc(counters)
    assert counters[D.MM_PGTABLES_BYTES] == 4 * 4096
    assert int(m3.node[D.NR_PAGETABLE]) == 5 and free_count(pa2) == free0 - 5
    assert len(m3.table_pages(pgd)) == 5
    with pytest.raises(ValueError):
        m3.pte_get(pgd, 0xC0000000)
    snapshot = snap(anon(0x80000000, 0x80400000))
    assert touch(m3, pgd, counters, snapshot, [0x80001000], 1) == (1, D.ACCESS_DONE)
    assert counters[D.MM_PGTABLES_BYTES] == 5 * 4096
    assert m3.pte_get(pgd, 0x80001000) & D._PAGE_PRESENT
    m3.clear_bulk(pgd, [0x80001000])
    m3.free_pgtables(pgd, 0x80000000, 0x80400000, 0, 0, counters)
    assert counters[D.MM_PGTABLES_BYTES] == 3 * 4096       # PTE table and PMD #2 freed
    m3.pgd_free(pgd, counters)
    assert counters[D.MM_PGTABLES_BYTES] == 0 and int(m3.node[D.NR_PAGETABLE]) == 0

