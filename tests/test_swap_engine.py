"""The swap areas in the MMU engines (csrc/swap.c and its twin linuxmm/reference/swap.py): the
slot allocator, the swap cache, page I/O and the access loop's swap-in give the same arrays on
both backends step by step, the loop's swap-in ends where Python's do_swap_page ends, snapshots
keep the state, and k.check() sees a broken one."""
import numpy as np
import pytest

import linuxmm as L
from linuxmm.errors import InvariantError
from linuxmm.vm import mmu_defs as D

P = 4096
RW = L.PROT_READ | L.PROT_WRITE
ANON = L.MAP_PRIVATE | L.MAP_ANONYMOUS
BACKENDS = ("c", "reference")
AREA = ("swap_map", "cache", "shadow", "cluster_used", "free_clusters", "info")


def area_state(mmu, type_):
    return {name: arr.tolist() for name, arr in mmu.swap_arrays(type_).items()}


def engine_state(k, types=None, skip_page_cluster=False):
    mmu = k.mmu
    out = {"flags": mmu.flags.tolist(), "refcount": mmu.refcount.tolist(),
           "mapcount": mmu.mapcount.tolist(), "swap_entry": mmu.swap_entry.tolist(),
           "swap_stat": [v for i, v in enumerate(mmu.swap_stat.tolist())
                         if not (skip_page_cluster and i == D.SWS_PAGE_CLUSTER)],
           "node": mmu.node.tolist(),
           "events": mmu.events.tolist(), "now": k.now}
    for type_ in (k.swap_state.areas if types is None else types):
        out[f"area{type_}"] = area_state(mmu, type_)
    for proc in sorted(k._processes.values(), key=lambda x: x.pid):
        mm = proc.mm
        if mm is not None and mm.pgd is not None:
            addrs, entries = mmu.walk(mm.pgd, 0, mm.task_size)
            out[f"pte{proc.pid}"] = (addrs.tolist(), entries.tolist())
            out[f"counters{proc.pid}"] = mm.counters.tolist()
    return out


# -- the slot allocator ------------------------------------------------------------------------
def test_slots_come_from_clusters_in_order():
    for backend in BACKENDS:
        k = L.Kernel("64M", backend=backend)
        mmu = k.mmu
        mmu.swapon(3, 3 * 512 + 100)
        got = [mmu.swap_alloc_slot(3) for _ in range(512)]
        # cluster 0 (slot 0 is the header), then the first free cluster
        assert got == list(range(1, 513)), backend
        info = mmu.swap_arrays(3)["info"]
        assert info[D.SWPI_CURRENT] == 1 and info[D.SWPI_INUSE] == 512
        got = [mmu.swap_alloc_slot(3) for _ in range(512)]
        assert got == list(range(513, 1024)) + [1024], backend     # then cluster 2
        for off in range(512, 1024):          # cluster 1 empties and is not current: free
            mmu.swap_slot_free(3, off)
        arrays = mmu.swap_arrays(3)
        assert arrays["cluster_used"].tolist() == [512, 0, 1, 0]   # (the header counts)
        assert info[D.SWPI_CURRENT] == 2 and info[D.SWPI_NR_FREE] == 2
        ring = [int(arrays["free_clusters"][(int(info[D.SWPI_FREE_HEAD]) + i) % 4])
                for i in range(2)]
        assert ring == [3, 1], backend        # FIFO: a freed cluster goes to the back
        assert mmu.swap_alloc_slot(3) == 1025  # the current cluster still has room


def test_slot_allocator_backends_agree_step_by_step():
    rng = np.random.default_rng(3)
    ks = {b: L.Kernel("64M", backend=b) for b in BACKENDS}
    for k in ks.values():
        k.mmu.swapon(0, 4 * 512 + 7)
    busy = []
    for step in range(6000):
        if busy and rng.random() < 0.45:
            off = busy.pop(int(rng.integers(len(busy))))
            results = [k.mmu.swap_slot_free(0, off) for k in ks.values()]
        else:
            results = [k.mmu.swap_alloc_slot(0) for k in ks.values()]
            if results[0] >= 0:
                busy.append(results[0])
                for k in ks.values():            # a PTE holds it (as try_to_unmap does)
                    k.mmu.swap_arrays(0)["swap_map"][results[0]] += 1
        assert results[0] == results[1], step
        if step % 97 == 0:
            assert area_state(ks["c"].mmu, 0) == area_state(ks["reference"].mmu, 0), step
    assert area_state(ks["c"].mmu, 0) == area_state(ks["reference"].mmu, 0)
    full = ks["c"].mmu.swap_arrays(0)["info"]
    assert full[D.SWPI_INUSE] == len(busy)


def test_a_full_area_gives_no_slot():
    for backend in BACKENDS:
        k = L.Kernel("64M", backend=backend)
        k.mmu.swapon(1, 4)
        assert [k.mmu.swap_alloc_slot(1) for _ in range(4)] == [1, 2, 3, -1]
        assert k.mmu.swap_alloc_slot(2) == -1            # no such area


@pytest.mark.parametrize("backend", BACKENDS)
def test_swapon_swapoff_refusals(backend):
    mmu = L.Kernel("64M", backend=backend).mmu
    mmu.swapon(0, 100)
    for bad in ((0, 100), (32, 100), (-1, 100), (4, 1)):
        with pytest.raises(ValueError):
            mmu.swapon(*bad)
    mmu.swapoff(0)
    with pytest.raises(ValueError):
        mmu.swapoff(0)
    with pytest.raises(ValueError):
        mmu.swap_arrays(0)


# -- the swap cache and page I/O -------------------------------------------------------------
def cache_steps(backend):
    k = L.Kernel("64M", backend=backend)
    mmu = k.mmu
    mmu.swapon(2, 600)
    pfns = [int(x) for x in k.alloc_pages_bulk(count=4)]
    mmu.page_write(pfns[0], 100, b"swapped bytes")
    log = [[mmu.swap_alloc_slot(2) for _ in range(8)]]     # slots 1..8 taken
    mmu.swap_cache_add(pfns[0], 2, 7)
    mmu.swap_cache_add(pfns[1], 2, 8)                   # no contents: zeros
    log.append(engine_state(k, [2]))
    pgd = next(pr.mm.pgd for pr in k._processes.values() if pr.mm and pr.mm.pgd) \
        if k._processes else k.mmu.pgd_alloc(np.zeros(D.NR_MM_COUNTERS, np.int64))
    for bad in ((pfns[0], 2, 9), (pfns[2], 2, 7), (pfns[2], 2, 0), (pfns[2], 2, 600),
                (pfns[2], 5, 3), (pgd, 2, 9)):                  # (a page-table page)
        with pytest.raises(ValueError):
            mmu.swap_cache_add(*bad)
    mmu.swap_writepage(pfns[0])
    mmu.swap_writepage(pfns[1])
    with pytest.raises(ValueError):
        mmu.swap_writepage(pfns[2])
    mmu.swap_readpage(pfns[2], 2, 7)
    mmu.swap_readpage(pfns[3], 2, 8)
    log.append((mmu.page_read(pfns[2], 100, 13), mmu.page_has_data(pfns[3])))
    mmu.swap_arrays(2)["swap_map"][7] = 1               # one PTE holds slot 7
    mmu.swap_cache_delete(pfns[0], (41 << 1) | 1)       # slot kept, with its shadow
    mmu.swap_cache_delete(pfns[1], 99 << 1)             # nobody holds 8: freed, no shadow
    with pytest.raises(ValueError):
        mmu.swap_cache_delete(pfns[1])
    log.append(engine_state(k, [2]))
    return log


def test_swap_cache_and_io_backends_agree():
    c, ref = cache_steps("c"), cache_steps("reference")
    assert c == ref
    assert c[0] == list(range(1, 9))
    assert c[2] == (b"swapped bytes", False)
    after = c[3]["area2"]
    assert after["shadow"][7] == 83 and after["shadow"][8] == -1
    assert after["cache"][7] == after["cache"][8] == -1
    assert after["info"][D.SWPI_INUSE] == 7 and after["swap_map"][7] == 1    # 8 went
    stat = c[3]["swap_stat"]
    assert stat[D.SWS_PSWPOUT] == 2 and stat[D.SWS_PSWPIN] == 2
    assert stat[D.SWS_NR_SWAPCACHED] == 0


# -- the access loop's swap-in ---------------------------------------------------------------
def paged_out(backend, n=48, writes_every=3, sequential=False):
    """A 1 GiB machine (no pressure) with swap: n written pages, then MADV_PAGEOUT of them;
    the accesses to replay visit them in a random (or the sequential) order."""
    k = L.Kernel("1G", swap="64M", backend=backend)
    p = k.spawn("t")
    a = p.mmap(0, n * P, RW, ANON)
    for i in range(n):
        p.write(a + i * P + 8, b"page%04d" % i)
    p.madvise(a, n * P, L.MADV_PAGEOUT)
    order = np.arange(n) if sequential else np.random.default_rng(5).permutation(n)
    addrs = (a + order * P + 8).astype(np.int64)
    writes = (order % writes_every == 0).astype(np.uint8)
    return k, p, a, addrs, writes


@pytest.mark.parametrize("page_cluster,sequential", [(0, False), (3, False), (3, True)])
def test_loop_swapin_ends_where_python_do_swap_page_ends(page_cluster, sequential):
    """Without memory pressure the engine's swap-in (p.access) and Python's do_swap_page
    (p.touch, one user access at a time) leave the same engine state, clock included."""
    for backend in BACKENDS:
        states = []
        for via_loop in (True, False):
            k, p, a, addrs, writes = paged_out(backend, sequential=sequential)
            k.page_cluster = page_cluster
            assert k.vm_counters()["pswpout"] == 48
            if via_loop:
                p.access(addrs, writes)
            else:
                for addr, w in zip(addrs.tolist(), writes.tolist()):
                    p.touch(addr, bool(w))
            k.check()
            assert p.maj_flt > 0
            v = k.vm_counters()
            # in order, windows above one page read neighbours (swap_ra) that the next faults
            # find in the swap cache (swap_ra_hit)
            assert (v["swap_ra"] > 0 and v["swap_ra_hit"] > 0) == sequential
            states.append(engine_state(k, skip_page_cluster=True))
            assert [p.read(a + i * P + 8, 8) for i in range(48)] == \
                [b"page%04d" % i for i in range(48)]
        assert states[0] == states[1], backend


def test_loop_swapin_backends_agree_under_pressure():
    """The thrashing shape on a small machine, replayed in slices: after each slice both
    backends hold the same engine state (PTEs, frames, swap areas, counters, clock)."""
    ks = {}
    for backend in BACKENDS:
        k = L.Kernel("64M", swap="64M", backend=backend)
        k.spawn("init")
        p = k.spawn("t")
        ram = sum(z.managed_pages for z in k.zones)
        a = p.mmap(0, 2 * ram * P, RW, ANON)
        p.touch_range(a, 2 * ram * P, write=True)        # memory full, half of it swapped
        ks[backend] = (k, p, a, 2 * ram)
    rng = np.random.default_rng(11)
    k0, _, a, npages = ks["c"]
    n = 40_000
    pages = np.where(rng.random(n) < 0.8, rng.integers(0, npages // 8, n),
                     rng.integers(0, npages, n))
    addrs = (a + pages * P).astype(np.int64)
    writes = (rng.random(n) < 0.3).astype(np.uint8)
    for s in range(0, n, 5000):
        states = []
        for backend in BACKENDS:
            k, p, _, _ = ks[backend]
            p.access(addrs[s:s + 5000], writes[s:s + 5000])
            states.append(engine_state(k))
        assert states[0] == states[1], s
    k, p, _, _ = ks["c"]
    v = k.vm_counters()
    assert v["pswpin"] > 0 and v["pswpout"] > 0 and p.maj_flt > 0
    for backend in BACKENDS:
        ks[backend][0].check()


def test_loop_leaves_to_python_what_it_does_not_handle():
    """A write to a page whose slot another PTE still holds (after fork) is do_wp_page's:
    the loop stops there and Python's do_swap_page + COW complete it, on both backends."""
    for backend in BACKENDS:
        k, p, a, addrs, writes = paged_out(backend, n=8)
        child = p.fork()
        p.access(np.array([a + 8], np.int64), np.array([1], np.uint8))
        assert p.read(a + 8, 8) == b"page0000" and child.read(a + 8, 8) == b"page0000"
        child.access(np.array([a + P + 8], np.int64), np.array([1], np.uint8))
        k.check()


# -- snapshots and the checker ---------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_snapshot_keeps_the_swap_areas(backend, tmp_path):
    k, p, a, addrs, writes = paged_out(backend)
    p.access(addrs[:10], writes[:10])           # some swapped in, some cached, shadows
    path = tmp_path / "k.snap"
    k.save(path)
    k2 = L.Kernel.load(path)
    assert engine_state(k2) == engine_state(k)
    k2.check()
    for kk in (k, k2):
        kk._processes[p.pid].access(addrs[10:], writes[10:])
    assert engine_state(k2) == engine_state(k)
    p2 = k2._processes[p.pid]
    assert [p2.read(a + i * P + 8, 8) for i in range(48)] == [b"page%04d" % i for i in range(48)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_check_sees_broken_swap_state(backend):
    k, p, a, addrs, writes = paged_out(backend, n=8)
    k.check()
    si = k.swap_state.areas[0]
    free_slot = int(np.nonzero(si.swap_map == 0)[0][-1])
    si.shadow[free_slot] = 10                   # a shadow on a free slot
    with pytest.raises(InvariantError, match="shadow"):
        k.check()
    si.shadow[free_slot] = -1
    k.mmu.swap_stat[D.SWS_NR_SWAPCACHED] += 1
    with pytest.raises(InvariantError, match="nr_swapcached"):
        k.check()


def _bare_engine(backend):
    """An MMU engine over a bare page allocator (no watermarks: the last free page can be
    taken) with one swap area whose slots 4..7 are held, slot 5 by the PTE of 0x600000."""
    import importlib
    pa_mod, mmu_mod = {"c": ("linuxmm.page_alloc", "linuxmm.mmu"),
                       "reference": ("linuxmm.reference.page_alloc", "linuxmm.reference.mmu")}[
                           backend]
    pa = importlib.import_module(pa_mod).PageAllocator([("Normal", 0, 4096)], cpus=1)
    pa.free_boot_range(1, 4096)
    m = importlib.import_module(mmu_mod).Mmu(pa, 4096, 0)
    counters = np.zeros(D.NR_MM_COUNTERS, np.int64)
    pgd = m.pgd_alloc(counters)
    m.swapon(0, 64)
    arrays = m.swap_arrays(0)
    for off in (4, 5, 6, 7):
        arrays["swap_map"][off] = 1
    m.pte_set(pgd, 0x600000, ((~5 << 14) & ((1 << 64) - 1)) >> 5, counters)   # type 0, slot 5
    counters[D.MM_SWAPENTS] = 1
    m.swap_stat[D.SWS_PAGE_CLUSTER] = 3
    m.swap_stat[D.SWS_RA_HITS] = 2                       # a window of 4: slots 4..7
    return pa, m, counters, pgd


@pytest.mark.parametrize("free_pages", [1, 2, 3, 4])
def test_readahead_stops_at_the_first_page_the_allocator_refuses(free_pages):
    results = []
    for backend in BACKENDS:
        pa, m, counters, pgd = _bare_engine(backend)
        taken = []
        while True:                                      # everything but free_pages pages
            try:
                taken.append(pa.alloc_pages(D.GFP_ANON_PAGE, 0, 0))
            except Exception:
                break
        for pfn in taken[:free_pages]:
            pa.free_pages(pfn, 0, 0)
        snapshot = np.array([[0x600000, 0x640000, D.VM_READ | D.VM_WRITE, 0, 9, D.SNAPK_ANON]],
                            np.int64)
        i, reason = m.access(pgd, counters, snapshot, np.array([0x600000], np.int64),
                             np.zeros(1, np.uint8))
        arrays = m.swap_arrays(0)
        results.append((i, reason, counters.tolist(), m.swap_stat.tolist(),
                        arrays["cache"][:8].tolist(), arrays["swap_map"][:8].tolist()))
    assert results[0] == results[1]
    i, reason, counters, stat, cache, swap_map = results[0]
    # completed (the last pages woke kswapd, which the caller runs next)
    assert i == 1 and reason in (D.ACCESS_DONE, D.ACCESS_KSWAPD) and counters[D.MM_MAJ_FLT] == 1
    read = [off for off in (4, 6, 7) if cache[off] >= 0]
    assert read == [4, 6, 7][:free_pages - 1]            # in slot order, up to the refusal
    assert stat[D.SWS_PSWPIN] == free_pages
    assert stat[D.SWS_SWAP_RA] == len(read) and stat[D.SWS_LAST_RA] == 4
    assert swap_map[5] == 0 and cache[5] >= 0           # the faulting page: mapped, cached


def test_a_refused_faulting_page_changes_nothing():
    for backend in BACKENDS:
        pa, m, counters, pgd = _bare_engine(backend)
        while True:
            try:
                pa.alloc_pages(D.GFP_ANON_PAGE, 0, 0)
            except Exception:
                break
        before = (counters.tolist(), m.swap_stat.tolist(), m.swap_arrays(0)["cache"].tolist(),
                  m.pte_get(pgd, 0x600000))
        snapshot = np.array([[0x600000, 0x640000, D.VM_READ | D.VM_WRITE, 0, 9, D.SNAPK_ANON]],
                            np.int64)
        i, reason = m.access(pgd, counters, snapshot, np.array([0x600000], np.int64),
                             np.zeros(1, np.uint8))
        assert (i, reason) == (0, D.ACCESS_NOMEM), backend
        assert (counters.tolist(), m.swap_stat.tolist(), m.swap_arrays(0)["cache"].tolist(),
                m.pte_get(pgd, 0x600000)) == before
