"""The reclaim engine calls (Mmu.check_references: the referenced-PTE pass of shrink_folio_list
and shrink_active_list for anonymous order-0 folios, linuxmm/vm/vmscan.py _batch_references)
give what the per-folio Python path gives, on both backends, array for array: decisions,
referenced counts, VM flags, the mappings found, page flags and every PTE after the pass."""
import numpy as np
import pytest

import linuxmm as L
from linuxmm.vm import vmscan as V
from linuxmm.vm.lruvec import lru_pfns
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


def lru_state(k):
    mmu = k.mmu
    return (mmu.flags.tolist(), mmu.node.tolist(), mmu.lru_prev.tolist(), mmu.lru_next.tolist())


@pytest.mark.parametrize("reclaim_idx", [0, 1, 2])
def test_isolate_lru_and_putback_match_the_python_rules(reclaim_idx):
    """Mmu.isolate_lru (C and reference) = vmscan._isolate_lru_folios_py, with zones above
    reclaim_idx skipped and rotated; Mmu.lru_add_batch = lruvec_add_folio in a loop."""
    from linuxmm.vm.lruvec import lruvec_add_folio
    ks = [machine(b) for b in ("c", "c", "reference", "reference")]
    results = []
    for j, k in enumerate(ks):
        sc = V.ScanControl(k, 32, 0, reclaim_idx=reclaim_idx)
        out = []
        for lru, n in ((LRU_INACTIVE_ANON, 32), (LRU_ACTIVE_ANON, 100), (LRU_INACTIVE_ANON, 5000)):
            if j % 2:
                taken, scanned = V._isolate_lru_folios_py(k, n, lru, sc)
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
