"""Issue 13: the allocator core against minimal C allocators (benchmarks/minimal.py).

Every ratio is engine / minimal for the same access pattern, both timed in the same run,
alternately (best of REPEAT each).  Each measurement checks its result: the engine's heap is
intact (check(), every page back), the minimal allocator's lists hold every page again, and the
checksums of single pairs are a whole number of pairs of one block (a clean heap hands out the
same block every time once a pair has merged it back).

- buddy: a 1M-page clean heap (every order-0 pair splits and merges ten orders); C loops of
  single pairs and of batches (1024 allocs then 1024 frees) against the minimal buddy's loops;
  alloc_bulk+free_bulk (Python, one C call each way) against the minimal batch loop; the Python
  per-call pair b.free(b.alloc(0)) against two bare cffi calls (plain ints) into the minimal buddy.
- pcp: the page allocator's order-0 path through the per-CPU list (the 1 GiB machine of
  pa_machines.py) against a minimal pcp list (LIFO, batch 63, high 630) over the minimal buddy.
- slub: a 64-byte cache's object free list against a minimal LIFO object free list.
"""
import numpy as np

import linuxmm
from linuxmm.gfp import GFP_KERNEL
from minimal import ffi as mffi
from minimal import lib as m
import pa_machines
import ratios_slab

NR_PAGES = 1 << 20
PAIRS = 200_000
C_PAIRS = 2_000_000
ROUNDS = 200
BATCH = 1024
REPEAT = 7
GOAL = "x (goal <= 1.3)"


def _best_pair(setup_a, work_a, setup_b, work_b, repeat=REPEAT):
    """Best seconds of work_a(state) and work_b(state), run alternately.  A work is a
    (run, check) pair: check(state) runs untimed after each run."""
    import time
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for k, (setup, (work, check)) in enumerate(((setup_a, work_a), (setup_b, work_b))):
            state = setup()
            t = time.perf_counter()
            work(state)
            best[k] = min(best[k], time.perf_counter() - t)
            check(state)
    return best


def _ns(pair, ops):
    return [t / ops * 1e9 for t in pair]


def _check_pairs(total, pairs):
    assert total >= 0 and total % pairs == 0, total


# -- buddy --------------------------------------------------------------------------------------
def _engine_buddy():
    return linuxmm.BuddyAllocator(NR_PAGES)


def _engine_intact(b):
    assert b.free_pages == NR_PAGES
    b.check()


_MB = {}


def _minimal_buddy():
    h = _MB.get("h")
    if h is None:
        h = _MB["h"] = m.mb_create(NR_PAGES, 10)
    assert m.mb_check(h) == NR_PAGES
    return h


def _minimal_intact(h):
    assert m.mb_check(h) == NR_PAGES


def _py_pairs(b, pairs=PAIRS):
    alloc, free = b.alloc, b.free
    total = 0
    for _ in range(pairs):
        pfn = alloc(0)
        total += pfn
        free(pfn, 0)
    _check_pairs(total, pairs)


def _py_pairs_minimal(h, pairs=PAIRS):
    alloc, free = m.mb_alloc, m.mb_free
    total = 0
    for _ in range(pairs):
        pfn = alloc(h, 0)
        total += pfn
        free(h, pfn, 0)
    _check_pairs(total, pairs)


def _bulk(b):
    total = 0
    for _ in range(ROUNDS):
        pfns = b.alloc_bulk(BATCH)
        assert len(pfns) == BATCH
        total += int(pfns.sum())
        b.free_bulk(pfns)
    assert total > 0


def _scratch(dtype="int64_t[]", np_dtype=np.int64, n=BATCH):
    arr = np.empty(n, dtype=np_dtype)
    return arr, mffi.from_buffer(dtype, arr)


def buddy():
    scratch = _scratch()[1]

    def engine(work):
        return work, _engine_intact

    def minimal(work):
        return work, _minimal_intact

    single = _ns(_best_pair(
        _engine_buddy, engine(lambda b: _check_pairs(b.bench_pairs(C_PAIRS), C_PAIRS)),
        _minimal_buddy, minimal(lambda h: _check_pairs(m.mb_bench_pairs(h, C_PAIRS, 0), C_PAIRS))),
        C_PAIRS)
    ops = ROUNDS * BATCH
    batches = _ns(_best_pair(
        _engine_buddy, engine(lambda b: b.bench_batches(ROUNDS, BATCH) > 0 or 1 / 0),
        _minimal_buddy, minimal(lambda h: m.mb_bench_batches(h, ROUNDS, BATCH, scratch) > 0 or 1 / 0)),
        ops)
    bulk = _ns(_best_pair(_engine_buddy, engine(_bulk),
                          _minimal_buddy, minimal(lambda h: m.mb_bench_batches(h, ROUNDS, BATCH, scratch))),
               ops)
    per_call = _ns(_best_pair(_engine_buddy, engine(_py_pairs),
                              _minimal_buddy, minimal(_py_pairs_minimal)), PAIRS)
    return [
        ("core buddy: C loop single pairs, engine", single[0], "ns"),
        ("core buddy: C loop single pairs, minimal", single[1], "ns"),
        ("core buddy: single pairs engine / minimal", single[0] / single[1], GOAL),
        ("core buddy: C loop batches of 1024, engine", batches[0], "ns/pair"),
        ("core buddy: C loop batches of 1024, minimal", batches[1], "ns/pair"),
        ("core buddy: batches engine / minimal", batches[0] / batches[1], GOAL),
        ("core buddy: alloc_bulk+free_bulk(1024)", bulk[0], "ns/pair"),
        ("core buddy: bulk / minimal batch loop", bulk[0] / bulk[1], GOAL),
        ("core buddy: per-call pair b.free(b.alloc(0))", per_call[0], "ns"),
        ("core buddy: two bare cffi calls into minimal", per_call[1], "ns"),
        ("core buddy: per-call / (bare cffi + minimal)", per_call[0] / per_call[1], GOAL),
    ]


# -- pcp ----------------------------------------------------------------------------------------
PCP_PAGES = pa_machines.NR_PAGES
PCP_HIGH, PCP_BATCH = 630, 63


def _engine_pa():
    return pa_machines.machine()


def _engine_pa_intact(pa):
    assert pa_machines.intact(pa)


_MP = {}


def _minimal_pcp():
    if "h" not in _MP:
        _MP["b"] = m.mb_create(PCP_PAGES, 10)
        _MP["h"] = m.mp_create(_MP["b"], PCP_HIGH, PCP_BATCH)
    m.mp_drain(_MP["h"])
    assert m.mb_check(_MP["b"]) == PCP_PAGES
    return _MP["h"]


def _minimal_pcp_intact(h):
    assert m.mp_count(h) + m.mb_free_pages(_MP["b"]) == PCP_PAGES
    assert m.mb_check(_MP["b"]) == m.mb_free_pages(_MP["b"])


def _pa_py_pairs(pa, pairs=PAIRS):
    alloc, free, gfp = pa.alloc_pages, pa.free_pages, GFP_KERNEL
    total = 0
    for _ in range(pairs):
        pfn = alloc(gfp, 0)
        total += pfn
        free(pfn, 0)
    _check_pairs(total, pairs)


def _mp_py_pairs(h, pairs=PAIRS):
    alloc, free = m.mp_alloc, m.mp_free
    total = 0
    for _ in range(pairs):
        pfn = alloc(h)
        total += pfn
        free(h, pfn)
    _check_pairs(total, pairs)


def pcp():
    scratch = _scratch()[1]

    def engine(work):
        return work, _engine_pa_intact

    def minimal(work):
        return work, _minimal_pcp_intact

    single = _ns(_best_pair(
        _engine_pa, engine(lambda pa: _check_pairs(pa.bench_pairs(GFP_KERNEL, C_PAIRS), C_PAIRS)),
        _minimal_pcp, minimal(lambda h: _check_pairs(m.mp_bench_pairs(h, C_PAIRS), C_PAIRS))),
        C_PAIRS)
    ops = ROUNDS * BATCH
    batches = _ns(_best_pair(
        _engine_pa, engine(lambda pa: pa.bench_bulk(GFP_KERNEL, ROUNDS, BATCH) > 0 or 1 / 0),
        _minimal_pcp, minimal(lambda h: m.mp_bench_batches(h, ROUNDS, BATCH, scratch) > 0 or 1 / 0)),
        ops)
    bulk = _ns(_best_pair(
        _engine_pa, engine(lambda pa: pa_machines.bulk_rounds(pa, ROUNDS, BATCH) > 0 or 1 / 0),
        _minimal_pcp, minimal(lambda h: m.mp_bench_batches(h, ROUNDS, BATCH, scratch))), ops)
    per_call = _ns(_best_pair(_engine_pa, engine(_pa_py_pairs),
                              _minimal_pcp, minimal(_mp_py_pairs)), PAIRS)
    return [
        ("core pcp: C loop single order-0 pairs, engine", single[0], "ns"),
        ("core pcp: C loop single pairs, minimal pcp", single[1], "ns"),
        ("core pcp: single pairs engine / minimal", single[0] / single[1], GOAL),
        ("core pcp: C loop bulk(1024) pairs, engine", batches[0], "ns/pair"),
        ("core pcp: C loop batches of 1024, minimal pcp", batches[1], "ns/pair"),
        ("core pcp: batches engine / minimal", batches[0] / batches[1], GOAL),
        ("core pcp: alloc_pages_bulk+free_pages_bulk(1024)", bulk[0], "ns/pair"),
        ("core pcp: bulk / minimal batch loop", bulk[0] / bulk[1], GOAL),
        ("core pcp: per-call pair alloc_pages/free_pages", per_call[0], "ns"),
        ("core pcp: two bare cffi calls into minimal pcp", per_call[1], "ns"),
        ("core pcp: per-call / (bare cffi + minimal)", per_call[0] / per_call[1], GOAL),
    ]


# -- slub ---------------------------------------------------------------------------------------
SLAB_BATCH = 4096
SLAB_ROUNDS = 100
_MF = {}


def _engine_cache():
    sa, cache = ratios_slab.make()
    ratios_slab.bulk_rounds(cache, 1)           # warm: slabs exist, as in a running kernel
    cache.free(cache.alloc())
    return sa, cache


def _engine_cache_intact(state):
    sa, cache = state
    assert cache.inuse == 0
    sa.check()


def _minimal_freelist():
    if "h" not in _MF:
        _MF["h"] = m.mf_create(1 << 16, 64, 0xffff888000000000)
    assert m.mf_inuse(_MF["h"]) == 0
    return _MF["h"]


def _minimal_freelist_intact(h):
    assert m.mf_inuse(h) == 0


def _mf_py_pairs(h, pairs=PAIRS):
    alloc, free = m.mf_alloc, m.mf_free
    total = 0
    for _ in range(pairs):
        a = alloc(h)
        total += a & 0xffffffffffff
        free(h, a)
    _check_pairs(total, pairs)


def slub():
    scratch = _scratch("uint64_t[]", np.uint64, SLAB_BATCH)[1]

    def engine(work):
        return (lambda s: work(s[1])), _engine_cache_intact

    def minimal(work):
        return work, _minimal_freelist_intact

    single = _ns(_best_pair(
        _engine_cache, engine(lambda c: c.bench_pairs(C_PAIRS)),
        _minimal_freelist, minimal(lambda h: m.mf_bench_pairs(h, C_PAIRS) != -1 or 1 / 0)),
        C_PAIRS)
    ops = SLAB_ROUNDS * SLAB_BATCH
    batches = _ns(_best_pair(
        _engine_cache, engine(lambda c: c.bench_bulk(SLAB_ROUNDS, SLAB_BATCH) > 0 or 1 / 0),
        _minimal_freelist,
        minimal(lambda h: m.mf_bench_batches(h, SLAB_ROUNDS, SLAB_BATCH, scratch) > 0 or 1 / 0)),
        ops)
    bulk = _ns(_best_pair(
        _engine_cache, engine(lambda c: ratios_slab.bulk_rounds(c, SLAB_ROUNDS) > 0 or 1 / 0),
        _minimal_freelist, minimal(lambda h: m.mf_bench_batches(h, SLAB_ROUNDS, SLAB_BATCH, scratch))),
        ops)

    def py_pairs(c):
        _check_pairs(ratios_slab.python_pairs(c, PAIRS), PAIRS)

    per_call = _ns(_best_pair(_engine_cache, engine(py_pairs),
                              _minimal_freelist, minimal(_mf_py_pairs)), PAIRS)
    return [
        ("core slub: C loop single pairs, engine", single[0], "ns"),
        ("core slub: C loop single pairs, minimal freelist", single[1], "ns"),
        ("core slub: single pairs engine / minimal", single[0] / single[1], GOAL),
        ("core slub: C loop bulk(4096), engine", batches[0], "ns/object"),
        ("core slub: C loop batches of 4096, minimal", batches[1], "ns/object"),
        ("core slub: batches engine / minimal", batches[0] / batches[1], GOAL),
        ("core slub: alloc_bulk+free_bulk(4096)", bulk[0], "ns/object"),
        ("core slub: bulk / minimal batch loop", bulk[0] / bulk[1], GOAL),
        ("core slub: per-call pair cache.free(cache.alloc())", per_call[0], "ns"),
        ("core slub: two bare cffi calls into minimal", per_call[1], "ns"),
        ("core slub: per-call / (bare cffi + minimal)", per_call[0] / per_call[1], GOAL),
    ]


def measure():
    return buddy() + pcp() + slub()


if __name__ == "__main__":
    import sys
    parts = sys.argv[1:] or ["buddy", "pcp", "slub"]
    for part in parts:
        for label, value, unit in globals()[part]():
            print(f"{label:58} {value:10.2f}  {unit}", flush=True)
