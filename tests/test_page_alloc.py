"""Known-answer tests of the page allocator engine, on both backends.

Expected values are worked out by hand from mm/page_alloc.c as linux-mm-physical.md sections 2-4
describe it; each test says how.
"""
import numpy as np
import pytest

from linuxmm.errors import InvalidFree, OutOfMemory
from linuxmm.gfp import (GFP_ATOMIC, GFP_DMA, GFP_DMA32, GFP_HIGHUSER_MOVABLE, GFP_KERNEL,
                         GFP_NOWAIT, __GFP_HIGH, __GFP_RECLAIMABLE)

UNMOVABLE, MOVABLE, RECLAIMABLE, HIGHATOMIC = 0, 1, 2, 3
X86 = [("DMA", 1, 4095), ("DMA32", 4096, 8192), ("Normal", 1048576, 8192), ("Movable", 0, 0)]


def no_pcp(pa):
    """batch 1, high 0: nr_pcp_alloc() refills one page, every free flushes it at once."""
    for i in range(pa.nr_zones):
        pa.set_zone_tunables(i, pcp_batch=1, pcp_high_min=0, pcp_high_max=0)


def x86_machine(backend, **kw):
    pa = backend.PageAllocator(X86, cpus=2, **kw)
    pa.free_boot_range(1, 12288)
    pa.free_boot_range(1048576, 1048576 + 8192)
    return pa


def test_boot_release_and_zones(backend):
    pa = x86_machine(backend)
    # DMA: pfns 1..4095 released as 1, 2, 4, ... 512 (sizes 1..512) then 3 blocks of 1024
    assert [pa.managed_pages(i) for i in range(4)] == [4095, 8192, 8192, 0]
    assert pa.nr_free(0) == [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3]
    assert pa.nr_free(1) == [0] * 10 + [8]
    assert pa.zonelist == [2, 1, 0]
    assert pa.zonelist_for(GFP_KERNEL) == [2, 1, 0]
    assert pa.zonelist_for(GFP_HIGHUSER_MOVABLE) == [2, 1, 0]     # Movable is empty
    assert pa.zonelist_for(GFP_DMA32) == [1, 0]
    assert pa.zonelist_for(GFP_DMA) == [0]
    assert pa.gfp_zone(GFP_HIGHUSER_MOVABLE) == 3
    vm = pa.vmstat()
    assert vm["pgfree"] == 4095 + 8192 + 8192
    assert vm["nr_free_pages"] == 4095 + 8192 + 8192
    assert vm["nr_free_pages_blocks"] == 512 + 3 * 1024 + 16 * 1024
    assert pa.page_info(0) == {"zone": None, "state": "absent", "order": None, "migratetype": None,
                               "compound": False}
    assert pa.page_info(1024) == {"zone": 0, "state": "free", "order": 10, "migratetype": MOVABLE,
                                  "compound": False}
    assert pa.page_info(1025)["state"] == "tail"
    with pytest.raises(ValueError):
        pa.free_boot_range(100, 200)                # released already
    pa.check()


def test_reserved_pages_are_not_managed(backend):
    pa = backend.PageAllocator([("Normal", 0, 4096)], cpus=1)
    pa.free_boot_range(0, 1000)
    pa.free_boot_range(1100, 4096)
    assert pa.managed_pages(0) == 4096 - 100
    assert pa.page_info(1050)["state"] == "reserved"
    with pytest.raises(InvalidFree) as e:
        pa.free_pages(1050)
    assert e.value.reason == "nothead"


def test_zonelist_fallback_normal_to_dma32(backend):
    pa = x86_machine(backend)
    no_pcp(pa)
    # Normal: 8192 free, low watermark 9000: refused at low (fast path) and min (slow path).
    pa.set_zone_tunables(2, wmark_min=9000, wmark_low=9000, wmark_high=9000, wmark_promo=9000)
    pfn = pa.alloc_pages(GFP_KERNEL)
    assert 4096 <= pfn < 12288
    assert pa.page_info(pfn)["zone"] == 1
    vm = pa.vmstat()
    assert (vm["pgalloc_normal"], vm["pgalloc_dma32"]) == (0, 1)
    # GFP_KERNEL is UNMOVABLE: DMA32 had only MOVABLE order-10 blocks, so the head one
    # (pfn 4096, released first, FPI_TO_TAIL) is claimed whole: its 2 pageblocks turn UNMOVABLE.
    assert pfn == 4096
    assert pa.pageblock_counts(1) == [2, 14, 0, 0, 0]
    pa.check()


def test_lowmem_reserve_refuses_kernel_but_not_dma(backend):
    pa = x86_machine(backend)
    no_pcp(pa)
    for i in (1, 2):
        pa.set_zone_tunables(i, wmark_min=9000, wmark_low=9000, wmark_high=9000)
    # DMA: 4095 free, low 12 / min 10; protection 4090 against DMA32 requests, 5000 against
    # Normal ones: a request may use DMA only while free > watermark + lowmem_reserve[highest].
    pa.set_zone_tunables(0, wmark_min=10, wmark_low=12, wmark_high=14,
                         lowmem_reserve=[0, 4090, 5000, 5000])
    with pytest.raises(OutOfMemory, match=r"order:0, mode:0xcc0\(GFP_KERNEL\)"):
        pa.alloc_pages(GFP_KERNEL)
    with pytest.raises(OutOfMemory):
        pa.alloc_pages(GFP_DMA32)                   # 4095 <= 10 + 4090
    pfn = pa.alloc_pages(GFP_DMA)                   # highest_zoneidx 0: lowmem_reserve[0] = 0
    assert 1 <= pfn < 4096
    assert pa.vmstat()["pgalloc_dma"] == 1
    pa.set_zone_tunables(0, lowmem_reserve=[0, 4000, 5000, 5000])
    assert pa.page_info(pa.alloc_pages(GFP_DMA32))["zone"] == 0     # 4094 > 12 + 4000
    assert pa.lowmem_reserve(0) == [0, 4000, 5000, 5000]


def test_gfp_atomic_reaches_three_eighths_of_min(backend):
    pa = backend.PageAllocator([("Normal", 0, 4096)], cpus=1, watermark_boost_factor=0)
    pa.free_boot_range(0, 4096)
    no_pcp(pa)
    pa.set_zone_tunables(0, wmark_min=4000, wmark_low=4000, wmark_high=4000, wmark_promo=4000)

    def drain_with(gfp):
        n = 0
        while True:
            try:
                pa.alloc_pages(gfp)
            except OutOfMemory:
                return n
            n += 1
    # __zone_watermark_ok: free must stay above min (+ reserve 0) before each allocation.
    assert drain_with(GFP_KERNEL) == 96             # 4096 -> 4000
    assert drain_with(GFP_NOWAIT) == 0              # non-blocking without __GFP_HIGH: no reduction
    assert drain_with(GFP_KERNEL | __GFP_HIGH) == 2000    # min - min/2 = 2000
    assert drain_with(GFP_ATOMIC) == 500            # 2000 - 2000/4 = 1500 (~3/8 of min)
    assert pa.nr_free_pages(0) == 1500
    assert pa.vmstat()["pgalloc_normal"] == 2596
    pa.check()


def test_claim_changes_pageblock_types(backend):
    pa = backend.PageAllocator([("Normal", 0, 4096)], cpus=1)
    pa.free_boot_range(0, 4096)
    no_pcp(pa)
    assert pa.pageblock_counts(0) == [0, 8, 0, 0, 0]
    # UNMOVABLE order 0: no UNMOVABLE free page; __rmqueue_claim from order 10 down finds the
    # MOVABLE list's head (pfn 0) and takes the whole block: both pageblocks become UNMOVABLE.
    assert pa.alloc_pages(GFP_KERNEL) == 0
    assert pa.pageblock_counts(0) == [2, 6, 0, 0, 0]
    assert pa.page_info(0)["migratetype"] == UNMOVABLE
    # expand() left orders 0..9 free on the UNMOVABLE lists
    assert pa.nr_free(0, UNMOVABLE) == [1] * 10 + [0]
    assert pa.watermark_boost(0) == 0               # whole-block claims do not boost
    assert pa.alloc_pages(GFP_HIGHUSER_MOVABLE) == 1024
    # RECLAIMABLE: fallbacks[RECLAIMABLE] = {UNMOVABLE, MOVABLE}; claim goes largest first:
    # at order 10 only MOVABLE has a block (2048), claimed whole.
    assert pa.alloc_pages(GFP_KERNEL | __GFP_RECLAIMABLE) == 2048
    assert pa.pageblock_counts(0) == [2, 4, 2, 0, 0]
    pa.check()


def test_partial_claim_counts_free_pages_and_boosts(backend):
    pa = backend.PageAllocator([("Normal", 0, 4096)], cpus=1)
    pa.free_boot_range(0, 4096)
    no_pcp(pa)
    # Use all memory for MOVABLE order-8 blocks, then free the one at 256 (in pageblock 0).
    pfns = [pa.alloc_pages(GFP_HIGHUSER_MOVABLE, 8) for _ in range(16)]
    assert pfns == list(range(0, 4096, 256))
    pa.free_pages(256, 8)
    pa.set_zone_tunables(0, wmark_min=100, wmark_low=100, wmark_high=100)
    assert pa.nr_free(0, MOVABLE)[8] == 1
    # UNMOVABLE order 0: claim scans orders 10..0; at order 8 MOVABLE has pfn 256.
    # try_to_claim_block: below pageblock_order, so boost_watermark(): high 100 * 15000 / 10000 =
    # 150 -> max(512, 150) = 512 -> boost min(0 + 512, 512).  Pageblock 0 holds 256 free pages,
    # 256 movable ones: alike = 512 - 256 - 256 = 0, free + alike = 256 >= 256: claimed.
    assert pa.alloc_pages(GFP_KERNEL) == 256
    assert pa.watermark_boost(0) == 512
    assert pa.watermarks(0) == (612, 612, 612, 512)
    assert pa.pageblock_counts(0) == [1, 7, 0, 0, 0]
    assert pa.zone_flags(0)["boosted_watermark"] is False     # rmqueue() woke kswapd at once
    assert pa.kswapd_wakeups == 1
    pa.clear_watermark_boost(0)
    assert pa.watermark_boost(0) == 0


def test_steal_keeps_pageblock_type(backend):
    pa = backend.PageAllocator([("Normal", 0, 4096)], cpus=1)
    pa.free_boot_range(0, 4096)
    no_pcp(pa)
    # Fill memory with movable order-3 blocks, then free one: an order-3 MOVABLE hole at 8.
    held = [pa.alloc_pages(GFP_HIGHUSER_MOVABLE, 3) for _ in range(512)]
    pa.free_pages(8, 3)
    # UNMOVABLE order 0 may claim from order 3 (start_mt UNMOVABLE always may), but the block
    # has 8 free and 504 movable pages: alike = 0, 8 < 256: no claim.  __rmqueue_steal takes the
    # order-3 block, returns pfn 8 and leaves 9, 10-11, 12-15 free on the MOVABLE lists.
    assert pa.alloc_pages(GFP_KERNEL) == 8
    assert pa.pageblock_counts(0) == [0, 8, 0, 0, 0]
    assert pa.nr_free(0, MOVABLE)[:4] == [1, 1, 1, 0]
    assert len(held) == 512
    pa.check()


def test_pcp_refill_and_flush_counts(backend):
    pa = backend.PageAllocator([("Normal", 0, 4096)], cpus=2)
    pa.free_boot_range(0, 4096)
    pa.set_zone_tunables(0, pcp_batch=7, pcp_high_min=28, pcp_high_max=28)
    got = [pa.alloc_pages(GFP_HIGHUSER_MOVABLE, 0, cpu=0) for _ in range(30)]
    # nr_pcp_alloc: 7 (alloc_factor 0 -> 1), 14 (-> 2), then 28 capped at high - count - batch
    # = 21 (factor stays 2): 42 pages left the buddy lists, 12 remain on the list.
    st = pa.pcp_state(0, 0)
    assert (st["count"], st["alloc_factor"], st["high"]) == (12, 2, 28)
    assert pa.nr_free_pages(0) == 4096 - 42
    assert got == list(range(30))                   # refills come in ascending pfn order
    assert pa.pcp_count(0, 1) == 0
    for pfn in got:
        pa.free_pages(pfn, 0, cpu=0)
    # 16th free: count 28 >= high 28 -> free_pcppages_bulk(clamp(free_count 16, 7, 21) = 16)
    st = pa.pcp_state(0, 0)
    assert (st["count"], st["free_count"], st["alloc_factor"]) == (26, 30, 0)
    assert pa.nr_free_pages(0) == 4096 - 26
    vm = pa.vmstat()
    assert vm["pgalloc_normal"] == 30 and vm["pgfree"] == 4096 + 30
    pa.drain_pages(0)
    assert pa.pcp_count(0, 0) == 0 and pa.nr_free_pages(0) == 4096
    assert pa.nr_free(0) == [0] * 10 + [4]          # everything merged again
    pa.check()


def test_pcp_lists_are_per_cpu_and_lifo(backend):
    pa = backend.PageAllocator([("Normal", 0, 4096)], cpus=2)
    pa.free_boot_range(0, 4096)
    pa.set_zone_tunables(0, pcp_batch=4, pcp_high_min=64, pcp_high_max=64)
    a = pa.alloc_pages(GFP_KERNEL, 0, cpu=1)
    pa.free_pages(a, 0, cpu=0)                      # freed to cpu 0's list head
    assert pa.pcp_list(0, 0, UNMOVABLE) == [a]
    assert pa.page_info(a)["state"] == "pcp"
    assert pa.alloc_pages(GFP_KERNEL, 0, cpu=0) == a     # taken back from the head
    assert pa.pcp_count(0, 1) == 3
    with pytest.raises(InvalidFree) as e:
        pa.free_pages(pa.pcp_list(0, 1, UNMOVABLE)[0])
    assert e.value.reason == "free"


def test_highatomic_reserve(backend):
    pa = backend.PageAllocator([("Normal", 0, 65536)], cpus=1)
    pa.free_boot_range(0, 65536)
    no_pcp(pa)
    # The fast path's low watermark fails, so the slow path runs with ALLOC_HIGHATOMIC
    # (order > 0 without __GFP_DIRECT_RECLAIM).
    pa.set_zone_tunables(0, wmark_min=100, wmark_low=70000, wmark_high=70000)
    assert pa.alloc_pages(GFP_ATOMIC, 1) == 0
    # claimed order-10 block at 0 (two UNMOVABLE pageblocks), then reserve_highatomic_pageblock:
    # managed/100 = 655 >= 512, limit ALIGN(655, 512) = 1024; pageblock 0's 510 free pages move.
    assert pa.nr_reserved_highatomic(0) == 512
    assert pa.nr_free_highatomic(0) == 510
    assert pa.pageblock_counts(0) == [1, 126, 0, 1, 0]
    # Order 1 is a pcp order: rmqueue_pcplist() refills through __rmqueue(), which never looks
    # at HIGHATOMIC: pageblock 1 (UNMOVABLE, order-9 block at 512) serves and is reserved too.
    assert pa.alloc_pages(GFP_ATOMIC, 1) == 512
    assert (pa.nr_reserved_highatomic(0), pa.nr_free_highatomic(0)) == (1024, 1020)
    assert pa.pageblock_counts(0) == [0, 126, 0, 2, 0]
    # The limit is reached: a third claims the next order-10 block and reserves nothing.
    assert pa.alloc_pages(GFP_ATOMIC, 1) == 1024
    assert pa.pageblock_counts(0) == [2, 124, 0, 2, 0]
    # Order 4 goes to rmqueue_buddy(), which tries HIGHATOMIC first: the order-4 block at 16.
    assert pa.alloc_pages(GFP_ATOMIC, 4) == 16
    assert (pa.nr_reserved_highatomic(0), pa.nr_free_highatomic(0)) == (1024, 1004)
    # Ordinary requests treat the reserve as unusable (__zone_watermark_unusable_free).
    # 22 pages allocated: 65514 free, 1004 of them in the reserve, 64510 usable.
    assert pa.nr_free_pages(0) == 65514
    pa.set_zone_tunables(0, wmark_min=64510, wmark_low=64510, wmark_high=64510)
    with pytest.raises(OutOfMemory):
        pa.alloc_pages(GFP_KERNEL)
    pa.set_zone_tunables(0, wmark_min=64509, wmark_low=64509, wmark_high=64509)
    pa.alloc_pages(GFP_KERNEL)
    pa.check()


def test_bulk_uses_first_zone_passing_low_plus_count(backend):
    pa = x86_machine(backend)
    for i in range(3):
        pa.set_zone_tunables(i, wmark_min=50, wmark_low=100, wmark_high=150, pcp_batch=31,
                             pcp_high_min=1000, pcp_high_max=1000)
    # Normal: 8192 free > 100 + 8000 is true, so Normal serves 8000 pages from its pcp.
    pfns = pa.alloc_pages_bulk(GFP_HIGHUSER_MOVABLE, 8000)
    assert pfns.dtype == np.int64 and len(pfns) == 8000
    assert (pfns >= 1048576).all()
    assert pa.vmstat()["pgalloc_normal"] == 8000
    # Normal now has < low + 100 free: DMA32 serves the next bulk request.
    more = pa.alloc_pages_bulk(GFP_HIGHUSER_MOVABLE, 100)
    assert len(more) == 100 and ((more >= 4096) & (more < 12288)).all()
    pa.free_pages_bulk(pfns.reshape(80, 100))      # any shape of int64 pfns
    pa.free_pages_bulk(more.tolist(), cpu=1)
    assert len(pa.alloc_pages_bulk(GFP_KERNEL, 0)) == 0
    pa.check()


def test_bulk_is_short_when_memory_runs_out(backend):
    pa = backend.PageAllocator([("Normal", 0, 1024)], cpus=1)
    pa.free_boot_range(0, 1024)
    pa.set_zone_tunables(0, pcp_batch=8, pcp_high_min=32, pcp_high_max=32)
    # low 0 + 2000 > 1024 free: no zone passes, one ordinary allocation is made instead.
    assert len(pa.alloc_pages_bulk(GFP_KERNEL, 2000)) == 1
    got = pa.alloc_pages_bulk(GFP_KERNEL, 500)
    assert len(got) == 500 and len(set(got.tolist())) == 500


def snapshot(pa):
    return ([pa.nr_free(i) for i in range(pa.nr_zones)],
            [pa.pcp_state(i, c) for i in range(pa.nr_zones) for c in range(pa.cpus)],
            pa.vmstat(), [pa.pageblock_counts(i) for i in range(pa.nr_zones)])


def test_bad_arguments_change_nothing(backend):
    pa = x86_machine(backend)
    pfn = pa.alloc_pages(GFP_KERNEL, 2)
    single = pa.alloc_pages(GFP_KERNEL)
    before = snapshot(pa)
    for args in [(GFP_DMA | GFP_DMA32, 0, 0), (GFP_KERNEL, 11, 0), (GFP_KERNEL, -1, 0),
                 (GFP_KERNEL, 0, 2), (GFP_KERNEL, 0, -1), (2**32, 0, 0), (-1, 0, 0),
                 (GFP_HIGHUSER_MOVABLE | __GFP_RECLAIMABLE, 0, 0)]:
        with pytest.raises(ValueError):
            pa.alloc_pages(*args)
    with pytest.raises(ValueError):
        pa.alloc_pages_bulk(GFP_DMA | GFP_DMA32, 10)
    with pytest.raises(ValueError):
        pa.alloc_pages_bulk(GFP_KERNEL, -1)
    with pytest.raises(TypeError):
        pa.alloc_pages(1.5)
    cases = [((pfn, 1), "order-mismatch"), ((pfn + 1, 0), "nothead"), ((pfn, 11), "order"),
             ((5, 0), "free"), ((0, 0), "range"), ((20000, 0), "range"), ((pfn + 2, 2), "align")]
    for (p, o), reason in cases:
        with pytest.raises(InvalidFree) as e:
            pa.free_pages(p, o)
        assert e.value.reason == reason, (p, o)
    with pytest.raises(ValueError):
        pa.free_pages(pfn, 2, cpu=7)
    with pytest.raises(InvalidFree) as e:
        pa.free_pages_bulk([single, single])
    assert e.value.reason == "dup"
    with pytest.raises(InvalidFree) as e:
        pa.free_pages_bulk(np.array([single, pfn], dtype=np.int64))
    assert e.value.reason == "order-mismatch"
    assert snapshot(pa) == before
    assert pa.page_info(single)["state"] == "allocated"
    pa.free_pages_bulk([single])
    pa.free_pages(pfn, 2)
    pa.check()


def test_bad_constructor_arguments(backend):
    for zones in ([], [("Normal", 0, 10), ("DMA", 20, 10)], [("DMA", 0, 10)],
                  [("Nope", 0, 1)], [("DMA", 0, 100), ("Normal", 50, 100)]):
        with pytest.raises(ValueError):
            backend.PageAllocator(zones)
    with pytest.raises(ValueError):
        backend.PageAllocator([("Normal", 0, 10)], cpus=0)
    with pytest.raises(ValueError):
        backend.PageAllocator([("Normal", 0, 10)], pageblock_order=11)
    pa = backend.PageAllocator([("Normal", 0, 10)])
    with pytest.raises(ValueError):
        pa.set_zone_tunables(0, pcp_batch=0)
    with pytest.raises(ValueError):
        pa.set_zone_tunables(0, lowmem_reserve=[0, 0])
    with pytest.raises(ValueError):
        pa.set_zone_tunables(0, pcp_batch=2**21)
    with pytest.raises(ValueError):
        pa.set_zone_tunables(0, pcp_high_max=2**31)
    with pytest.raises(ValueError):
        pa.set_zone_tunables(0, wmark_min=-1)
    assert pa.pcp_state(0, 0)["batch"] == 1


def test_mobility_grouping_disabled_on_tiny_machines(backend):
    pa = backend.PageAllocator([("Normal", 0, 2048)], cpus=1)
    pa.free_boot_range(0, 2048)                     # 2048 < 512 * MIGRATE_TYPES
    assert pa.mobility_disabled
    assert pa.gfp_migratetype(GFP_HIGHUSER_MOVABLE) == UNMOVABLE
    pa.alloc_pages(GFP_HIGHUSER_MOVABLE)
    assert pa.pageblock_counts(0) == [2, 2, 0, 0, 0]
    pa.check()


def test_nofragment_prefers_other_zone_before_stealing(backend):
    pa = x86_machine(backend)
    no_pcp(pa)
    # Normal: make every pageblock MOVABLE-used except small holes; an UNMOVABLE request with
    # ALLOC_NOFRAGMENT may only claim whole pageblocks there, so DMA32 serves it instead.
    held = [pa.alloc_pages(GFP_HIGHUSER_MOVABLE, 3) for _ in range(1024)]
    assert all(p >= 1048576 for p in held)
    pa.free_pages(held[5], 3)
    pfn = pa.alloc_pages(GFP_KERNEL)
    assert pa.page_info(pfn)["zone"] == 1
    # without DMA32 and DMA memory, the retry without NOFRAGMENT steals the Normal hole
    for i in (0, 1):
        pa.set_zone_tunables(i, wmark_min=99999, wmark_low=99999, wmark_high=99999)
    assert pa.alloc_pages(GFP_KERNEL) == held[5]


@pytest.mark.parametrize("free_high_batch, end_count, end_flags", [(False, 0, 1), (True, 2, 3)])
def test_high_order_frees_flush_the_pcp(backend, free_high_batch, end_count, end_flags):
    pa = backend.PageAllocator([("Normal", 0, 4096)], cpus=1)
    pa.free_boot_range(0, 4096)
    pa.set_zone_tunables(0, pcp_batch=4, pcp_high_min=8, pcp_high_max=64,
                         pcp_free_high_batch=free_high_batch)
    # order 1: nr_pcp_alloc gives max(4 >> 1, 2) = 2 blocks per refill and grows pcp->high by
    # batch each time (8 -> 12 -> ... -> 28 after five refills).
    blocks = [pa.alloc_pages(GFP_KERNEL, 1) for _ in range(10)]
    st = pa.pcp_state(0, 0)
    assert (st["count"], st["high"]) == (0, 28)
    for pfn in blocks:
        pa.free_pages(pfn, 1)
    # From the 5th free on, free_count >= batch + high_min / 2 = 8 after a high-order free:
    # free_high drains the list (pcp->high drops to high_min).  With PCPF_FREE_HIGH_BATCH it
    # waits until count >= batch, so every other free flushes and 2 pages stay.
    st = pa.pcp_state(0, 0)
    assert (st["count"], st["high"], st["free_count"], st["flags"]) == (end_count, 8, 20, end_flags)
    assert pa.nr_free_pages(0) == 4096 - end_count
    pa.check()


def test_reclaim_hook_runs_before_failing(backend):
    pa = backend.PageAllocator([("Normal", 0, 1024)], cpus=1)
    pa.free_boot_range(0, 1024)
    no_pcp(pa)
    held = [pa.alloc_pages(GFP_KERNEL, 4) for _ in range(64)]
    calls = []

    def reclaim(p, gfp, order):
        calls.append((p is pa, gfp, order))
        if len(calls) == 2:             # "reclaims" one block on the second call
            p.free_pages(held.pop(), 4)
        return True

    pa.reclaim_hook = reclaim
    with pytest.raises(OutOfMemory):
        pa.alloc_pages(GFP_ATOMIC, 2)   # cannot direct-reclaim: the hook is not called
    assert calls == []
    assert pa.alloc_pages(GFP_KERNEL, 2) == held[-1] + 16
    assert calls == [(True, GFP_KERNEL, 2)] * 2
    pa.reclaim_hook = lambda p, gfp, order: False      # no progress: give up at once
    with pytest.raises(OutOfMemory):
        pa.alloc_pages(GFP_KERNEL, 4)


def test_thp_orders_use_the_pcp(backend):
    from linuxmm.gfp import GFP_TRANSHUGE_LIGHT
    for thp in (True, False):
        pa = backend.PageAllocator([("Normal", 0, 4096)], cpus=1, thp=thp)
        pa.free_boot_range(0, 4096)
        pa.set_zone_tunables(0, pcp_batch=4, pcp_high_min=64, pcp_high_max=64)
        assert pa.alloc_pages(GFP_TRANSHUGE_LIGHT, 9) == 0
        if not thp:                 # order 9 is not a pcp order: straight from the buddy lists
            assert pa.nr_free(0)[9:] == [1, 3]
            pa.free_pages(0, 9)
            assert pa.nr_free(0)[9:] == [0, 4] and pa.pcp_count(0, 0) == 0
            continue
        # nr_pcp_alloc: max(4 >> 9, 2) = 2 order-9 blocks onto list 13 (movable THP)
        assert pa.pcp_list(0, 0, 13) == [512] and pa.pcp_count(0, 0) == 512
        pa.free_pages(0, 9)
        # count 1024 >= high 64: free_pcppages_bulk(clamp(free_count 512, 4, 60)) frees one
        # block from list 13's tail (512); 0 stays cached.
        assert pa.pcp_list(0, 0, 13) == [0] and pa.pcp_count(0, 0) == 512
        assert pa.nr_free(0)[9:] == [1, 3]
        pa.drain_pages()
        assert pa.nr_free(0)[9:] == [0, 4]
        pa.check()


def test_pageblock_counts_step_from_the_zone_start(backend):
    # pagetypeinfo visits pfn 1, 513 (< 1025): two pageblocks although the zone touches three
    pa = backend.PageAllocator([("DMA", 1, 1024), ("Normal", 1025, 0)], cpus=1)
    assert pa.pageblock_counts(0) == [0, 2, 0, 0, 0]
    assert pa.pageblock_counts(1) == [0, 0, 0, 0, 0]
