"""Memory compaction (linuxmm/vm/compaction.py; mm/compaction.c, mm/migrate.c) on both backends:
a fragmented zone gets its high-order blocks back, every byte survives at its address and in
its file, the frames move to the top of the zone, counters agree, bad calls change nothing."""
import os

import numpy as np
import pytest

import linuxmm as L
from linuxmm import gfp as G
from linuxmm.vm import compaction as C

BACKENDS = ["c", "reference"]
PAGE = 4096
COUNTERS = ("pgmigrate_success", "pgmigrate_fail", "compact_migrate_scanned",
            "compact_free_scanned", "compact_isolated", "compact_stall", "compact_fail",
            "compact_success", "compact_daemon_wake")


def _marker(i):
    return b"page %06d " % i + bytes([i % 251]) * 20


def _fragmented(backend):
    """A 128 MiB machine whose DMA32 zone holds anonymous pages and page-cache pages (a
    shared file mapping) interleaved with holes: no free block of order 9 or more."""
    k = L.Kernel("128M", backend=backend)
    f = k.create_file("/data/file", 64 * PAGE)
    p = k.spawn("frag")
    m = p.mmap(0, 64 * PAGE, L.PROT_READ | L.PROT_WRITE, L.MAP_SHARED, f, 0)
    n = k.zone("DMA32").free_pages - 900
    a = p.mmap(0, n * PAGE, L.PROT_READ | L.PROT_WRITE, L.MAP_PRIVATE | L.MAP_ANONYMOUS)
    for i in range(64):                      # page cache pages between the anonymous ones
        p.touch_range(a + i * 256 * PAGE, 256 * PAGE, write=True)
        p.write(m + i * PAGE + 100, _marker(100000 + i))
    p.touch_range(a, n * PAGE, write=True)
    keep = list(range(1, n, 2))
    for i in keep[::37]:
        p.write(a + i * PAGE + 11, _marker(i))
    for i in range(0, n, 2):
        p.munmap(a + i * PAGE, PAGE)
    k.drain_pages()
    z = k.zone("DMA32").index
    held = []                                # kernel allocations take what is left of order 9+
    while sum(k.zone("DMA32").nr_free[9:]):
        held.append(k.alloc_pages(G.GFP_KERNEL | G.__GFP_DMA32, 9))
        assert k._pa.page_info(held[-1])["zone"] == z
    return k, p, f, a, m, n, keep


def _counters(k):
    v = k.vm_counters()
    return {name: v[name] for name in COUNTERS}


def _high_order_free(k, zone="DMA32", order=9):
    return sum(k.zone(zone).nr_free[order:])


@pytest.mark.parametrize("backend", BACKENDS)
def test_compact_memory_frees_huge_blocks_and_keeps_every_byte(backend):
    k, p, f, a, m, n, keep = _fragmented(backend)
    k.check()
    assert _high_order_free(k) == 0
    before = {i: p.translate(a + i * PAGE)[0] for i in keep}
    cache_before = [p.translate(m + i * PAGE)[0] for i in range(64)]
    k.compact_memory()
    k.check()
    k.drain_pages()                     # compact_memory leaves the frees on the pcp lists
    k.check()
    assert _high_order_free(k) > 0
    assert "DMA32" in k.read("/proc/buddyinfo")
    after = {i: p.translate(a + i * PAGE)[0] for i in keep}
    moved = sum(before[i] != after[i] for i in keep)
    moved += sum(c != p.translate(m + i * PAGE)[0] for i, c in enumerate(cache_before))
    counters = _counters(k)
    assert moved > 0 and counters["pgmigrate_success"] == moved
    assert counters["compact_isolated"] >= 2 * moved
    assert counters["compact_migrate_scanned"] > 0 and counters["compact_free_scanned"] > 0
    assert counters["compact_stall"] == 0           # compact_memory is not direct compaction
    # the bytes: through the page tables, through the file, and in the frames themselves
    for i in keep[::37]:
        assert p.read(a + i * PAGE + 11, 32) == _marker(i)
    for i in range(64):
        assert p.read(m + i * PAGE + 100, 32) == _marker(100000 + i)
        assert f.read(i * PAGE + 100, 32) == _marker(100000 + i)
    # the moved frames now sit in the upper half of the zone, each rmap finds its PTE
    z = k.zone("DMA32")
    top = z.start_pfn + z.spanned_pages // 2
    moved_to = [after[i] for i in keep if before[i] != after[i]]
    assert all(pfn >= top for pfn in moved_to)
    for i in keep[::101]:
        assert k.rmap(after[i]) == [(p.pid, a + i * PAGE)]
    vmstat = k.read("/proc/vmstat")
    assert f"pgmigrate_success {moved}\n" in vmstat
    p.exit()
    k.check()


def test_backends_agree():
    results = []
    for backend in BACKENDS:
        k, p, f, a, m, n, keep = _fragmented(backend)
        r1 = k.compact_zone("DMA32", 9)
        k.compact_memory()
        frames = [p.translate(a + i * PAGE)[0] for i in keep]
        frames += [p.translate(m + i * PAGE)[0] for i in range(64)]
        results.append((r1, k.read("/proc/buddyinfo"), k.read("/proc/pagetypeinfo"),
                        _counters(k), frames, [z.pcp_count(0) for z in k.zones]))
    assert results[0] == results[1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_compact_zone_for_an_order_stops_at_success(backend):
    k, p, f, a, m, n, keep = _fragmented(backend)
    assert k.compact_zone("DMA32", 9) == C.COMPACT_SUCCESS
    assert _high_order_free(k) >= 1
    k.check()
    # the zone is now fine for order 9 without work: the watermark test says success
    migrated = _counters(k)["pgmigrate_success"]
    assert k.compact_zone("DMA32", 9) == C.COMPACT_SUCCESS
    assert _counters(k)["pgmigrate_success"] == migrated


@pytest.mark.parametrize("backend", BACKENDS)
def test_direct_compaction_counts_stall_and_success(backend):
    k, p, f, a, m, n, keep = _fragmented(backend)
    gfp = G.GFP_KERNEL | G.__GFP_DMA32
    assert k._pa.alloc_pages_slowpath(gfp, 9) is None or True
    pfn, result = C.alloc_pages_direct_compact(k, gfp, 9, C.COMPACT_PRIO_SYNC_FULL)
    assert result == C.COMPACT_SUCCESS and pfn is not None
    assert k.page(pfn).zone == "DMA32" and k.page(pfn).order == 9
    c = _counters(k)
    assert (c["compact_stall"], c["compact_success"], c["compact_fail"]) == (1, 1, 0)
    k.free_pages(pfn, 9)
    k.check()
    # GFP_NOIO may not migrate: skipped, not counted
    assert C.try_to_compact_pages(k, G.GFP_NOIO, 9, C.COMPACT_PRIO_ASYNC) == C.COMPACT_SKIPPED
    assert C.alloc_pages_direct_compact(k, G.GFP_NOIO, 9)[1] == C.COMPACT_SKIPPED
    assert C.alloc_pages_direct_compact(k, G.GFP_KERNEL, 0) == (None, C.COMPACT_SKIPPED)
    assert _counters(k)["compact_stall"] == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_pinned_and_unsuitable_pages_stay(backend):
    """Anonymous pages held by an extra reference (the MADV_FREE batch) and large folios are
    not isolated; page tables and slab pages are not LRU pages."""
    k = L.Kernel("128M", backend=backend)
    p = k.spawn("pin")
    a = p.mmap(0, 64 * PAGE, L.PROT_READ | L.PROT_WRITE, L.MAP_PRIVATE | L.MAP_ANONYMOUS)
    p.touch_range(a, 64 * PAGE, write=True)
    p.madvise(a, 8 * PAGE, L.MADV_FREE)     # 8 folios on cpu 0's lru_lazyfree batch: pinned
    pinned = [p.translate(a + i * PAGE)[0] for i in range(8)]
    st = C.CompactControl(k.zone("DMA32").index, -1, G.GFP_KERNEL, C.MIGRATE_SYNC)
    for pfn in pinned:
        f = int(k.mmu.flags[pfn])
        assert C._migratable_state(k, st, pfn, f, C.ISOLATE_UNEVICTABLE) == "pinned"
    free = [p.translate(a + i * PAGE)[0] for i in range(8, 64)]
    assert C._migratable_state(k, st, free[0], int(k.mmu.flags[free[0]]),
                               C.ISOLATE_UNEVICTABLE) is None
    k.check()


@pytest.mark.parametrize("backend", BACKENDS)
def test_isolate_free_page_and_split_page(backend):
    k = L.Kernel("128M", backend=backend)
    pa = k._pa
    z = 1
    blocks = pa.free_blocks(z, 0, 1 << 40)
    pfn, order = blocks[-1]
    text = k.read("/proc/buddyinfo")
    # refused calls change nothing
    for bad in ((pfn, order - 1), (pfn + 1, 0), (pfn, pa.max_order + 1), (pfn, -1)):
        with pytest.raises(ValueError):
            pa.isolate_free_page(*bad)
    with pytest.raises(ValueError):
        pa.isolate_free_page(10**12, 0)
    with pytest.raises(L.InvalidFree):
        pa.split_page(pfn, order)              # free, not allocated
    with pytest.raises(ValueError):
        pa.free_blocks(z, 5, 4)
    with pytest.raises(ValueError):
        pa.free_blocks(99, 0, 4)
    assert k.read("/proc/buddyinfo") == text
    pgfree = pa.pgfree
    assert pa.isolate_free_page(pfn, order) == 1 << order
    assert pa.page_info(pfn)["state"] == "allocated"
    assert pa.page_info(pfn)["migratetype"] == 1
    with pytest.raises(L.InvalidFree):
        pa.split_page(pfn, order - 1)
    pa.split_page(pfn, order)
    assert pa.page_info(pfn + 3)["order"] == 0
    for q in range(pfn, pfn + (1 << order)):
        pa.free_pages(q, 0)
    k.drain_pages()
    assert k.read("/proc/buddyinfo") == text
    assert pa.pgfree == pgfree + (1 << order)
    k.check()
    # a compound block is not split_page()'s
    c = pa.alloc_pages(G.GFP_KERNEL | G.__GFP_COMP, 2)
    with pytest.raises(L.InvalidFree):
        pa.split_page(c, 2)
    pa.free_pages(c, 2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_isolate_free_page_obeys_the_min_watermark(backend):
    k = L.Kernel("128M", backend=backend)
    pa = k._pa
    z = 1
    wmin = pa.watermarks(z)[0] - pa.watermark_boost(z)
    keep = []
    while pa.nr_free_pages(z) - (1 << 10) > wmin:      # leave just above min
        keep.append(k.alloc_pages(G.GFP_DMA32 | G.__GFP_HIGH, 0))
        if len(keep) > 40000:
            break
    k.drain_pages()
    blocks = pa.free_blocks(z, 0, 1 << 40)
    pfn, order = max(blocks, key=lambda b: b[1])
    if pa.nr_free_pages(z) - pa.nr_free_highatomic(z) <= wmin + (1 << order):
        text = k.read("/proc/buddyinfo")
        assert pa.isolate_free_page(pfn, order) == 0
        assert k.read("/proc/buddyinfo") == text
    k.free_pages_bulk(keep)
    k.check()


@pytest.mark.parametrize("backend", BACKENDS)
def test_argument_errors_change_nothing(backend):
    k, p, f, a, m, n, keep = _fragmented(backend)
    text, counters = k.read("/proc/buddyinfo"), _counters(k)
    for call in (lambda: k.compact_zone("Nowhere"), lambda: k.compact_zone("DMA32", 11),
                 lambda: k.compact_zone("DMA32", -2), lambda: k.compact_zone(7),
                 lambda: C.try_to_compact_pages(k, G.GFP_KERNEL, 0, 0),
                 lambda: C.try_to_compact_pages(k, G.GFP_KERNEL, 9, 3),
                 lambda: C.try_to_compact_pages(k, G.__GFP_DMA | G.__GFP_HIGHMEM, 9, 0)):
        with pytest.raises(ValueError):
            call()
    for bad in (-1, 1001, "x"):
        with pytest.raises((ValueError, TypeError)):
            k.extfrag_threshold = bad
    with pytest.raises(ValueError):
        k.compact_unevictable_allowed = 2
    assert k.extfrag_threshold == 500 and k.compact_unevictable_allowed == 1
    assert k.read("/proc/buddyinfo") == text and _counters(k) == counters
    k.check()


@pytest.mark.parametrize("backend", BACKENDS)
def test_extfrag_threshold_decides_suitability(backend):
    k, p, f, a, m, n, keep = _fragmented(backend)
    z = k.zone("DMA32").index
    index = k.zone("DMA32").fragmentation_index(9)
    assert 0 <= index <= 1000
    k.extfrag_threshold = 1000              # every failure is "lack of memory": skip
    assert not C.compaction_suitable(k, z, 9)
    assert k.compact_zone("DMA32", 9) == C.COMPACT_SKIPPED
    assert _counters(k)["compact_migrate_scanned"] == 0
    k.extfrag_threshold = 0
    assert C.compaction_suitable(k, z, 9) == (index > 0)


def test_rmap_index_matches_rmap_walk():
    from linuxmm.vm.rmap import rmap_walk
    k, p, f, a, m, n, keep = _fragmented("c")
    c = p.fork()
    index = C.RmapIndex(k)
    for i in keep[::53]:
        pfn = p.translate(a + i * PAGE)[0]
        assert sorted((x.pid, y) for x, _, y in index.walk(k, pfn)) == \
            sorted((x.pid, y) for x, _, y in rmap_walk(k, pfn))
    for i in range(0, 64, 7):
        pfn = p.translate(m + i * PAGE)[0]
        assert index.walk(k, pfn) == rmap_walk(k, pfn) != []
    c.exit()


def test_host_vmstat_names_the_counters():
    try:
        with open("/proc/vmstat") as fh:
            names = {line.split()[0] for line in fh}
    except OSError:
        pytest.skip("no /proc/vmstat")
    if "compact_stall" not in names:
        pytest.skip("host kernel without CONFIG_COMPACTION")
    for name in C.VMSTAT_ITEMS + ("pgmigrate_success", "pgmigrate_fail"):
        assert name in names, name
    assert os.path.exists("/proc/sys/vm/extfrag_threshold")
