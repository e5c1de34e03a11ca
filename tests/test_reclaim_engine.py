"""The reclaim engine calls (Mmu.check_references: the referenced-PTE pass of shrink_folio_list
and shrink_active_list for anonymous order-0 folios, linuxmm/vm/vmscan.py _batch_references)
give what the per-folio Python path gives, on both backends, array for array: decisions,
referenced counts, VM flags, the mappings found, page flags and every PTE after the pass."""
import numpy as np
import pytest

import linuxmm as L
from linuxmm.vm import vmscan as V
from linuxmm.vm import lruvec as LV
from linuxmm.vm.lruvec import lru_pfns
from linuxmm.vm import mmu_defs as D
from linuxmm.vm.mmu_defs import LRU_ACTIVE_ANON, LRU_INACTIVE_ANON
from linuxmm.vm.rmap import RmapIndex

P = 4096
RW = L.PROT_READ | L.PROT_WRITE
ANON = L.MAP_PRIVATE | L.MAP_ANONYMOUS


def machine(backend):
    """A 32 MiB machine under swap pressure with a forked child sharing anon pages (two
    mappings per folio), a read-only-touched area (zero page) and fresh writes after the fork."""
    k = L.Kernel("64M", swap="128M", backend=backend)
    k.spawn("init")
    p = k.spawn("a")
    ram = sum(z.managed_pages for z in k.zones)
    a = p.mmap(0, ram * 3 // 2 * P, RW, ANON)
    rng = np.random.default_rng(7)
    n = ram * 3 // 2
    p.touch_range(a, n * P, write=True)
    child = p.fork()
    addrs = (a + rng.integers(0, n, 20000) * P).astype(np.int64)
    writes = (rng.random(20000) < 0.3).astype(np.uint8)
    p.access(addrs, writes)
    child.access(addrs[::3].copy(), np.zeros(len(addrs[::3]), np.uint8))
    b = p.mmap(0, 64 * P, RW, ANON)
    p.touch_range(b, 64 * P, write=False)
    return k


def ptes(k):
    out = []
    for proc in sorted(k._processes.values(), key=lambda x: x.pid):
        mm = proc.mm
        if mm is None or mm.pgd is None:
            continue
        addrs, entries = k.mmu.walk(mm.pgd, 0, mm.task_size)
        out.append((proc.pid, addrs.tolist(), entries.tolist()))
    return out


def folios_of(k):
    mmu = k.mmu
    pfns = lru_pfns(mmu, LRU_INACTIVE_ANON) + lru_pfns(mmu, LRU_ACTIVE_ANON)
    # plus frames the engine must hand back: page tables, the zero page, free frames, a PGD
    extra = [int(k.mmu.zero_pfn), 0, int(mmu.max_pfn) - 1]
    extra += [mm_pgd for mm_pgd in (pr.mm.pgd for pr in k._processes.values()
                                    if pr.mm is not None and pr.mm.pgd is not None)]
    return pfns[:3000] + extra


def python_path(k, pfns, check):
    """The per-folio Python functions on the same folios (rmap through the pass's index)."""
    vs = k.vmscan
    vs.rmap_pass, vs.rmap_index = True, None
    out = []
    try:
        for pfn in pfns:
            flags = int(k.mmu.flags[pfn])
            if not flags & V.PG_ANON or flags & (V.PG_HEAD | V.PG_TAIL | V.PG_ORDER_MASK
                                                 | V.PG_MLOCKED | V.PG_UNEVICTABLE):
                out.append(None)
                continue
            if check:
                decision, mappings = V.folio_check_references(k, pfn)
                flags_after = int(k.mmu.flags[pfn])
                out.append((decision, [(pr.pid, vma.vm_start, addr) for pr, vma, addr in mappings],
                            flags_after))
            else:
                ref, vm_flags, mappings = V.folio_referenced(k, pfn)
                out.append((ref, vm_flags,
                            [(pr.pid, vma.vm_start, addr) for pr, vma, addr in mappings]))
    finally:
        vs.rmap_pass, vs.rmap_index = False, None
    return out


def engine_path(k, pfns, check):
    vs = k.vmscan
    vs.rmap_pass, vs.rmap_index = True, None
    try:
        batch = V._batch_references(k, pfns, check)
    finally:
        vs.rmap_pass, vs.rmap_index = False, None
    ref, vmf, dec = batch[0], batch[1], batch[2]
    out = []
    for i, pfn in enumerate(pfns):
        if ref[i] < 0:
            out.append(None)
            continue
        maps = [(pr.pid, vma.vm_start, addr) for pr, vma, addr in V._batch_mappings(batch, i)]
        if check:
            out.append((dec[i], maps, int(k.mmu.flags[pfn])))
        else:
            out.append((ref[i], vmf[i], maps))
    return out, batch


@pytest.mark.parametrize("check", [True, False])
def test_check_references_matches_the_python_path_on_both_backends(check):
    ks = {name: machine(b) for name, b in
          (("c_engine", "c"), ("c_python", "c"), ("ref_engine", "reference"),
           ("ref_python", "reference"))}
    pfns = folios_of(ks["c_engine"])
    for k in ks.values():
        assert folios_of(k) == pfns
    got = {}
    raw = {}
    for name, k in ks.items():
        if name.endswith("engine"):
            got[name], raw[name] = engine_path(k, pfns, check)
        else:
            got[name] = python_path(k, pfns, check)
    assert got["c_engine"] == got["c_python"] == got["ref_engine"] == got["ref_python"]
    handled = [x for x in got["c_engine"] if x is not None]
    assert len(handled) > 1000
    assert any(len(x[1 if check else 2]) == 2 for x in handled)     # shared with the child
    if check:
        assert {x[0] for x in handled} >= {V.FOLIOREF_RECLAIM, V.FOLIOREF_KEEP,
                                           V.FOLIOREF_ACTIVATE}
    for a, b in zip(raw["c_engine"][:6], raw["ref_engine"][:6]):
        assert a == b                                  # every output array, C = reference
    states = [(k.mmu.flags.tolist(), ptes(k)) for k in ks.values()]
    assert all(s == states[0] for s in states[1:])
    for k in ks.values():
        k.check()


def test_check_references_short_output_changes_nothing():
    """The output capacity grows and the call is repeated; a too-short first try changed no
    PTE (the C call's first pass has no side effects)."""
    k = machine("c")
    pfns = np.array(folios_of(k), np.int64)
    flat = RmapIndex(k).flat()
    before = ptes(k), k.mmu.flags.tolist()
    from linuxmm._ffi import ffi, lib
    n = len(pfns)
    outs = [np.zeros(n + 1, np.int64) for _ in range(4)]
    cand, addr = np.zeros(1, np.int64), np.zeros(1, np.int64)
    fb = ffi.from_buffer
    w = lib.lmm_mmu_check_references(k.mmu._ptr, fb("int64_t[]", pfns), n,
                                     *(fb("int64_t[]", x) for x in flat[:2]), len(flat[0]),
                                     *(fb("int64_t[]", x) for x in flat[2:]), 1,
                                     *(fb("int64_t[]", x) for x in outs),
                                     fb("int64_t[]", cand), fb("int64_t[]", addr), 1)
    assert w == -1
    assert (ptes(k), k.mmu.flags.tolist()) == before


def pfn_zone(kernel, pfn):
    """page_zone(): the highest populated zone starting at or below pfn."""
    idx = 0
    for i, (_, start, size) in enumerate(kernel.layout.spans):
        if pfn >= start and size:
            idx = i
    return idx


def isolate_by_zone_rule(kernel, nr_to_scan, lru, sc):
    """isolate_lru_folios stated with pfn_zone() and the LRU primitives: what Mmu.isolate_lru
    (C and reference, which compare pfns against the zones' limits) must do."""
    mmu = kernel.mmu
    taken = []
    scanned = 0
    skipped = []
    total = int(mmu.node[LV.LRU_NODE_ITEM[lru]])
    seen = 0
    while scanned < nr_to_scan and seen < total:
        pfn = LV.lru_tail(mmu, lru)
        if pfn is None:
            break
        flags = int(mmu.flags[pfn])
        nr = LV.folio_nr_pages(flags)
        seen += nr
        if pfn_zone(kernel, pfn) > sc.reclaim_idx:
            LV.lru_unlink(mmu, pfn)
            skipped.append(pfn)
            continue
        scanned += nr
        mmu.node[LV.LRU_NODE_ITEM[lru]] -= nr
        V._set_folio_flags(mmu, pfn, 0, D.PG_LRU)
        LV.lru_unlink(mmu, pfn)
        taken.append(pfn)
    for pfn in reversed(skipped):
        LV.lru_link(mmu, pfn, lru)
    return taken, scanned


def lru_state(k):
    mmu = k.mmu
    return (mmu.flags.tolist(), mmu.node.tolist(), mmu.lru_prev.tolist(), mmu.lru_next.tolist())


@pytest.mark.parametrize("reclaim_idx", [0, 1, 2])
def test_isolate_lru_and_putback_match_the_python_rules(reclaim_idx):
    """Mmu.isolate_lru (C and reference) = isolate_by_zone_rule, with zones above
    reclaim_idx skipped and rotated; Mmu.lru_add_batch = lruvec_add_folio in a loop."""
    from linuxmm.vm.lruvec import lruvec_add_folio
    ks = [machine(b) for b in ("c", "c", "reference", "reference")]
    results = []
    for j, k in enumerate(ks):
        sc = V.ScanControl(k, 32, 0, reclaim_idx=reclaim_idx)
        out = []
        for lru, n in ((LRU_INACTIVE_ANON, 32), (LRU_ACTIVE_ANON, 100), (LRU_INACTIVE_ANON, 5000)):
            if j % 2:
                taken, scanned = isolate_by_zone_rule(k, n, lru, sc)
            else:
                taken, scanned = V.isolate_lru_folios(k, n, lru, sc)
            out.append((taken, scanned))
            if j % 2:
                for pfn in taken[::-1]:
                    lruvec_add_folio(k.mmu, pfn)
            else:
                k.mmu.lru_add_batch(taken[::-1])
        results.append((out, lru_state(k)))
        k.check()
    assert all(r == results[0] for r in results[1:])
    assert sum(len(t) for t, _ in results[0][0]) > 0


def shrink_state(k):
    mmu = k.mmu
    areas = {t: {n: a.tolist() for n, a in mmu.swap_arrays(t).items()}
             for t in k.swap_state.areas}
    counters = {pr.pid: pr.mm.counters.tolist() for pr in k._processes.values()
                if pr.mm is not None}
    return (mmu.flags.tolist(), mmu.refcount.tolist(), mmu.mapcount.tolist(),
            mmu.swap_entry.tolist(), mmu.swap_stat.tolist(), mmu.node.tolist(),
            mmu.events.tolist(), areas, counters, ptes(k),
            [k._pa.nr_free_pages(i) for i in range(len(k.zones))])


def shrink_batch(k, engine, may_swap=True, may_writepage=True):
    """One isolated batch of the inactive anon list through shrink_folio_list's per-folio
    body: the engine's Mmu.shrink_anon for as far as it goes (then the Python body for the
    folio it leaves), or the Python body for every folio."""
    sc = V.ScanControl(k, 32, 0, kswapd=True)
    sc.may_swap, sc.may_writepage = may_swap, may_writepage
    taken, _ = V.isolate_lru_folios(k, 400, LRU_INACTIVE_ANON, sc)
    vs = k.vmscan
    vs.rmap_pass, vs.rmap_index = True, None
    try:
        batch = V._batch_references(k, taken, True)
        keep, reclaimed, activated, written, engine_calls = [], 0, 0, 0, 0
        i = 0
        counters = batch[9]
        order = np.array([si.type for si in k.swap_state.ordered()], np.int64)
        while i < len(taken):
            if engine:
                i, kept, r, a, w = k.mmu.shrink_anon(np.array(taken, np.int64), i, batch[7],
                                                     batch[8], counters, order, may_swap,
                                                     may_writepage)
                engine_calls += 1
                keep += kept
                reclaimed, activated, written = reclaimed + r, activated + a, written + w
                if i >= len(taken):
                    break
            before = int(k.mmu.swap_stat[D.SWS_PSWPOUT])
            r, a, kept = V._shrink_folio(k, i, taken[i], batch, sc, False)
            written += int(k.mmu.swap_stat[D.SWS_PSWPOUT]) - before
            reclaimed, activated = reclaimed + r, activated + a
            if kept:
                keep.append(taken[i])
            i += 1
    finally:
        vs.rmap_pass, vs.rmap_index = False, None
    k.mmu.lru_add_batch([pfn for pfn in keep if k.mmu.refcount[pfn] > 0])
    return (taken, keep, reclaimed, activated, written), engine_calls


@pytest.mark.parametrize("may_swap,may_writepage", [(True, True), (False, True), (True, False)])
def test_shrink_anon_matches_the_python_body_on_both_backends(may_swap, may_writepage):
    """Mmu.shrink_anon (C and reference) = vmscan._shrink_folio folio by folio: the same
    results (kept folios in order, pages reclaimed / activated / written) and the same engine
    state after (page flags and counts, PTEs, swap areas and cache, counters, free pages)."""
    ks = {name: machine(b) for name, b in (("c_engine", "c"), ("c_python", "c"),
                                           ("ref_engine", "reference"),
                                           ("ref_python", "reference"))}
    total_written = 0
    for rnd in range(3):
        got = {}
        cached_before = ks["c_engine"].swap_state.nr_swapcached()
        for name, k in ks.items():
            got[name], calls = shrink_batch(k, name.endswith("engine"), may_swap, may_writepage)
            if name.endswith("engine"):
                assert calls >= 1
        assert got["c_engine"] == got["c_python"] == got["ref_engine"] == got["ref_python"]
        states = [shrink_state(k) for k in ks.values()]
        assert all(s == states[0] for s in states[1:]), rnd
        taken, keep, reclaimed, activated, written = got["c_engine"]
        assert len(taken) > 100 and reclaimed > 0 and activated > 0
        total_written += written
        if not may_writepage:
            assert written == 0
        if not may_swap:                            # no folio entered the swap cache
            assert ks["c_engine"].swap_state.nr_swapcached() <= cached_before
        for k in ks.values():
            k.check()
    if may_swap and may_writepage:
        assert total_written > 0


@pytest.mark.parametrize("backend", ["c", "reference"])
def test_zone_balance_info_is_the_zone_reads_it_replaces(backend):
    """PageAllocator.zone_balance_info (pgdat_balanced's one read per zone) = managed_pages,
    nr_free_pages, nr_free_highatomic, watermarks()[2] (boost included), lowmem_reserve[h]."""
    k = machine(backend)
    pa = k._pa
    n = len(k._zone_names)
    for i in range(n):
        for h in range(n + 1):
            reserve = pa.lowmem_reserve(i)
            assert pa.zone_balance_info(i, h) == (
                pa.managed_pages(i), pa.nr_free_pages(i), pa.nr_free_highatomic(i),
                pa.watermarks(i)[2], reserve[h] if h < len(reserve) else 0), (i, h)
    assert any(pa.zone_balance_info(i, n - 1)[4] for i in range(n))   # a reserve counted
