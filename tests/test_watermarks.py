"""Known answers from linux-mm-physical.md (numbers read from a real 6.18 kernel's /proc)."""
import pytest

from linuxmm import watermarks as wm
from linuxmm import fragmentation as frag

X86_64 = ["DMA", "DMA32", "Normal", "Movable", "Device"]
SNAPSHOT_A = [3840, 772808, 131072, 0, 0]
SNAPSHOT_B = [3840, 772808, 163840, 0, 0]
PRESENT = [3998, 782336, 5505024, 0, 0]


def test_snapshot_a_watermarks():
    got = wm.zone_watermarks(X86_64, SNAPSHOT_A, 67584, 10)
    assert got == [(71, 88, 105, 122), (14384, 17980, 21576, 25172),
                   (2439, 3048, 3657, 4266), (32, 32, 32, 32), (0, 0, 0, 0)]


def test_snapshot_b_watermarks():
    got = wm.zone_watermarks(X86_64, SNAPSHOT_B, 67584, 10)
    assert got[:3] == [(68, 85, 102, 119), (13883, 17353, 20823, 24293),
                       (2943, 3678, 4413, 5148)]
    assert got[3] == (32, 32, 32, 32)


def test_watermark_scale_factor_step_wins_when_large():
    # step = max(tmp >> 2, managed * wsf / 10000): with wsf 1000, DMA32 step is 77280
    got = wm.zone_watermarks(X86_64, SNAPSHOT_A, 67584, 1000)
    assert got[1] == (14384, 14384 + 77280, 14384 + 2 * 77280, 14384 + 3 * 77280)


def test_highmem_min_is_clamped_managed_over_1024():
    names = ["DMA", "Normal", "HighMem", "Movable"]
    got = wm.zone_watermarks(names, [4096, 225280, 32768, 0], 4096, 10)
    # pages_min 1024 spread over lowmem 229376; HighMem min = clamp(32768/1024, 32, 128) = 32
    assert got[0][0] == 1024 * 4096 // 229376
    assert got[1][0] == 1024 * 225280 // 229376
    tmp = 1024 * 32768 // 229376
    step = max(tmp >> 2, 32768 * 10 // 10000)
    assert got[2] == (32, 32 + step, 32 + 2 * step, 32 + 3 * step)
    big = wm.zone_watermarks(names, [4096, 225280, 1 << 20, 0], 4096, 10)
    assert big[2][0] == 128


def test_protection_snapshots_and_i386():
    a = wm.lowmem_reserve(X86_64, SNAPSHOT_A)
    assert a[0] == [0, 3018, 3530, 3530, 3530]
    assert a[1] == [0, 0, 512, 512, 512]
    assert a[2] == a[3] == a[4] == [0, 0, 0, 0, 0]
    b = wm.lowmem_reserve(X86_64, SNAPSHOT_B)
    assert b[0] == [0, 3018, 3658, 3658, 3658]
    assert b[1] == [0, 0, 640, 640, 640]
    i386 = wm.lowmem_reserve(["DMA", "Normal", "HighMem", "Movable"], [4096, 225280, 32768, 0])
    assert i386[0] == [0, 880, 1008, 1008]
    assert i386[1] == [0, 0, 1024, 1024]


def test_protection_ratio_zero_and_empty_zone():
    r = wm.lowmem_reserve(X86_64, SNAPSHOT_A, [0, 256, 32, 0, 0])
    assert r[0] == [0] * 5
    r = wm.lowmem_reserve(X86_64, [0, 772808, 131072, 0, 0])
    assert r[0] == [0] * 5


def test_min_free_kbytes_thp_rule():
    wmarks = wm.zone_watermarks(X86_64, SNAPSHOT_A, 67584, 10)
    high = [w[2] for w in wmarks]
    assert wm.nr_free_buffer_pages(X86_64, SNAPSHOT_A, high) == 882382
    assert wm.min_free_kbytes_thp(X86_64, PRESENT, SNAPSHOT_A, high) == 67584


def test_min_free_kbytes_sqrt_rule_at_boot():
    # watermarks are all 0 when init_per_zone_wmark_min() runs: lowmem 907720 pages
    assert wm.min_free_kbytes_sqrt(X86_64, SNAPSHOT_A, [0] * 5) == 7621


def test_min_free_kbytes_clamps():
    assert wm.min_free_kbytes_sqrt(X86_64, [100, 0, 0, 0, 0], [0] * 5) == 128
    assert wm.min_free_kbytes_sqrt(X86_64, [0, 0, 1 << 32, 0, 0], [0] * 5) == 262144


def test_thp_rule_capped_at_5_percent_of_lowmem():
    managed = [3840, 40000, 0, 0, 0]
    present = [3998, 40000, 0, 0, 0]
    assert wm.min_free_kbytes_thp(X86_64, present, managed, [0] * 5) == (43840 // 20) * 4


def test_totalreserve_snapshot_a():
    wmarks = wm.zone_watermarks(X86_64, SNAPSHOT_A, 67584, 10)
    reserve = wm.lowmem_reserve(X86_64, SNAPSHOT_A)
    assert wm.totalreserve_pages(SNAPSHOT_A, [w[2] for w in wmarks], reserve) == 29380


def test_pcp_snapshot_a():
    wmarks = wm.zone_watermarks(X86_64, SNAPSHOT_A, 67584, 10)
    got = [wm.pcp_limits(m, w[1], 2) for m, w in zip(SNAPSHOT_A[:3], wmarks)]
    assert got == [(1, 44, 240), (63, 8990, 48300), (31, 1524, 8192)]
    assert [wm.stat_threshold(m, 2) for m in SNAPSHOT_A[:3]] == [4, 24, 16]


def test_pcp_high_fraction():
    # percpu_pagelist_high_fraction set: high_min = high_max = managed / fraction / cpus
    assert wm.pcp_limits(772808, 17980, 2, 8) == (63, 48300, 48300)


def test_threshold_caps_at_125():
    assert wm.stat_threshold(1 << 40, 1024) == 125


def test_mem_available_and_commit_limit_snapshot_a():
    assert wm.si_mem_available(6132757, 29380, 17980 + 88 + 3048 + 32, 16544, 3719) == 6113509
    assert wm.commit_limit(6170914) == 3085457


@pytest.mark.parametrize("order,unusable,extfrag", [
    (0, "0.000", "-1.000"), (8, "0.000", "-1.000"), (9, "0.066", "-1.000"),
    (10, "0.200", "-1.000")])
def test_fragmentation_dma_example(order, unusable, extfrag):
    nr_free = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 3]
    assert frag.format_index(frag.unusable_free_index(nr_free, order)) == unusable
    assert frag.format_index(frag.fragmentation_index(nr_free, order), 2) == extfrag


def test_fragmentation_index_third_branch():
    # 8 free order-0 pages, order-3 request: 1000 - (1000 + 8*1000/8) / 8 = 750
    assert frag.fragmentation_index([8], 3) == 750
    assert frag.unusable_free_index([8], 3) == 1000
    assert frag.fragmentation_index([0, 0], 1) == 0
    assert frag.unusable_free_index([0, 0], 1) == 1000
    assert frag.format_index(750, 2) == " 0.750"
