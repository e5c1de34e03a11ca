"""The minimal C baselines of ratios_core.py (issue 13) are real allocators: checked here against
simple invariants, and timed beside the engine on the same small patterns."""
import numpy as np

import linuxmm
from minimal import ffi, lib as m

PAGES = 1 << 14


def test_minimal_buddy_is_an_allocator():
    h = m.mb_create(PAGES, 10)
    try:
        rng = np.random.default_rng(1)
        held = {}
        for _ in range(20_000):
            if held and rng.random() < 0.5:
                pfn = list(held)[rng.integers(len(held))]
                m.mb_free(h, pfn, held.pop(pfn))
            else:
                order = int(rng.integers(0, 4))
                pfn = m.mb_alloc(h, order)
                if pfn < 0:
                    continue
                assert pfn % (1 << order) == 0
                for q, o in held.items():           # no overlap with a block held
                    assert pfn + (1 << order) <= q or q + (1 << o) <= pfn
                held[pfn] = order
        for pfn, order in held.items():
            m.mb_free(h, pfn, order)
        assert m.mb_check(h) == PAGES               # everything merged back: one list walk
        assert m.mb_free_pages(h) == PAGES
    finally:
        m.mb_destroy(h)


def test_minimal_pcp_and_freelist():
    b = m.mb_create(PAGES, 10)
    p = m.mp_create(b, 630, 63)
    pages = [m.mp_alloc(p) for _ in range(2000)]
    assert len(set(pages)) == 2000 and min(pages) >= 0
    for pfn in pages:
        m.mp_free(p, pfn)
    assert m.mp_count(p) <= 630
    m.mp_drain(p)
    assert m.mb_check(b) == PAGES
    m.mb_destroy(b)
    f = m.mf_create(4096, 64, 1 << 40)
    objs = [m.mf_alloc(f) for _ in range(4096)]
    assert sorted(objs) == [(1 << 40) + 64 * i for i in range(4096)] and m.mf_alloc(f) == 0
    for a in objs:
        m.mf_free(f, a)
    assert m.mf_inuse(f) == 0
    m.mf_destroy(f)


def test_engine_and_minimal_single_pairs(benchmark):
    b = linuxmm.BuddyAllocator(PAGES)
    h = m.mb_create(PAGES, 10)
    assert benchmark(lambda: (b.bench_pairs(10_000), m.mb_bench_pairs(h, 10_000, 0)))[0] >= 0
    b.check()
    assert b.free_pages == PAGES and m.mb_check(h) == PAGES
    m.mb_destroy(h)


def test_minimal_batches(benchmark):
    h = m.mb_create(PAGES, 10)
    scratch = np.empty(1024, dtype=np.int64)
    assert benchmark(m.mb_bench_batches, h, 10, 1024, ffi.from_buffer("int64_t[]", scratch)) > 0
    assert m.mb_check(h) == PAGES
    m.mb_destroy(h)
