"""Ratios for the slab allocator goals (issue 4).  Each measurement checks its result.

kmem_cache_alloc+free pairs of 64-byte objects: per call through KmemCache, as two bare cffi
calls, in bulk (numpy arrays, one C call each way), wholly in C, and on the reference model;
kmalloc/kfree mixes through the Python API.
"""
import numpy as np

import linuxmm
import linuxmm.reference
from linuxmm._ffi import lib
from timing import ns_per_op

PAGES = 1 << 16
PAIRS = 200_000
BATCH = 4096
ROUNDS = 100
MIX = [8, 24, 64, 100, 192, 256, 500, 1000, 2048, 4096, 8192, 16]


def make(mod=linuxmm, pages=PAGES):
    sa = mod.SlabAllocator(mod.BuddyAllocator(pages))
    cache = sa.kmem_cache_create("bench64", 64, flags=linuxmm.SLAB_NO_MERGE)
    return sa, cache


def python_pairs(cache, pairs):
    alloc, free = cache.alloc, cache.free
    total = 0
    for _ in range(pairs):
        a = alloc()
        total += a & 0xffffffffffff
        free(a)
    return total


def bare_pairs(cache, pairs):
    """The same C calls without the Python layer: two bare cffi calls per pair."""
    alloc, free, sys, cid = lib.lmm_slab_alloc, lib.lmm_slab_free, cache._sys, cache._id
    total = 0
    for _ in range(pairs):
        a = alloc(sys, cid, 0xcc0)
        total += a & 0xffffffffffff
        free(sys, cid, a)
    return total


def bulk_rounds(cache, rounds, batch=BATCH):
    total = 0
    mask = np.uint64(0xffffffffffff)
    for _ in range(rounds):
        addrs = cache.alloc_bulk(batch)
        total += int((addrs & mask).sum())
        cache.free_bulk(addrs)
    return total


def kmalloc_mix(sa, n):
    """n kmalloc()s over a size mix, then kfree() of all, through the Python API."""
    kmalloc, kfree = sa.kmalloc, sa.kfree
    sizes = MIX * (n // len(MIX))
    addrs = [kmalloc(s) for s in sizes]
    for a in addrs:
        kfree(a)
    return len(addrs)


def _time(work, ops, *, mod=linuxmm, pages=PAGES, repeat=5):
    """ns per op of work(sa, cache) on a fresh allocator per run; it must be intact after."""
    def setup():
        sa, cache = make(mod, pages)
        work(sa, cache)                  # warm: slabs exist, as in a running kernel
        cache.shrink()
        return sa, cache

    def run(state):
        sa, cache = state
        work(sa, cache)
        assert cache.inuse == 0
        sa.check()

    return ns_per_op(run, ops, setup=setup, repeat=repeat)


def _time_pair(work_a, work_b, ops, repeat=7):
    """Best-of ns per op of two workloads timed alternately, so that both see the same load."""
    import time
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for k, work in enumerate((work_a, work_b)):
            sa, cache = make()
            work(sa, cache)
            cache.shrink()
            start = time.perf_counter()
            work(sa, cache)
            best[k] = min(best[k], time.perf_counter() - start)
            assert cache.inuse == 0
            sa.check()
    return best[0] / ops * 1e9, best[1] / ops * 1e9


def measure():
    ref_sa, ref_cache = make(linuxmm.reference, 1 << 14)
    c_sa, c_cache = make()
    assert bulk_rounds(ref_cache, 2) == bulk_rounds(c_cache, 2)             # same addresses
    assert python_pairs(ref_cache, 100) == bare_pairs(c_cache, 100) == c_cache.bench_pairs(100)

    per_call, bare = _time_pair(lambda sa, c: python_pairs(c, PAIRS),
                                lambda sa, c: bare_pairs(c, PAIRS), PAIRS)
    objs = ROUNDS * BATCH
    bulk, c_loop = _time_pair(lambda sa, c: bulk_rounds(c, ROUNDS),
                              lambda sa, c: c.bench_bulk(ROUNDS, BATCH), objs)
    c_pairs = _time(lambda sa, c: c.bench_pairs(PAIRS * 10), PAIRS * 10)
    ref = _time(lambda sa, c: bulk_rounds(c, 2), 2 * BATCH, mod=linuxmm.reference,
                pages=1 << 14, repeat=2)
    mix_n = 120_000
    mix = _time(lambda sa, c: kmalloc_mix(sa, mix_n), mix_n)
    ref_mix = _time(lambda sa, c: kmalloc_mix(sa, 12_000), 12_000, mod=linuxmm.reference,
                    pages=1 << 14, repeat=2)
    return [
        ("slab: per-call alloc+free pair", per_call, "ns"),
        ("slab: two bare cffi calls", bare, "ns"),
        ("slab: per-call / bare", per_call / bare, "x (goal <= 1.3)"),
        ("slab: bulk(4096) alloc+free, per object", bulk, "ns (goal <= 10)"),
        ("slab: C loop, bulk batches of 4096, per object", c_loop, "ns"),
        ("slab: bulk / C loop", bulk / c_loop, "x (goal <= 1.3)"),
        ("slab: C loop, single pairs", c_pairs, "ns"),
        ("slab: reference bulk, per object", ref, "ns"),
        ("slab: reference / bulk", ref / bulk, "x (goal >= 20)"),
        ("slab: kmalloc+kfree mix, per object", mix, "ns"),
        ("slab: reference kmalloc+kfree mix, per object", ref_mix, "ns"),
        ("slab: reference mix / C mix", ref_mix / mix, "x"),
    ]


if __name__ == "__main__":
    for name, value, unit in measure():
        print(f"{name:50s} {value:10.2f} {unit}")
