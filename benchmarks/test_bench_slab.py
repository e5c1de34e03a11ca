"""kmem_cache alloc+free pairs (per call, bulk, C loop, reference) and kmalloc/kfree mixes.
Each benchmark checks its result against the reference model."""
import pytest

import linuxmm
import linuxmm.reference
from ratios_slab import bulk_rounds, kmalloc_mix, make, python_pairs

PAIRS = 20_000
ROUNDS = 10                  # bulk rounds of 4096 objects


def expected(work):
    """The same work on the reference model, to check the C result."""
    sa, cache = make(linuxmm.reference, 1 << 14)
    return work(sa, cache)


def run(benchmark, mod, work, rounds=15):
    states = []

    def setup():
        states.append(make(mod, 1 << 14))
        return states[-1], {}

    result = benchmark.pedantic(work, setup=setup, rounds=rounds)
    sa, cache = states[-1]
    assert cache.inuse == 0
    sa.check()
    return result


@pytest.mark.benchmark(group="slab-pairs-per-call")
def test_per_call_pairs(benchmark):
    work = lambda sa, c: python_pairs(c, PAIRS)             # noqa: E731
    assert run(benchmark, linuxmm, work) == expected(work)


@pytest.mark.benchmark(group="slab-bulk")
def test_bulk(benchmark):
    work = lambda sa, c: bulk_rounds(c, ROUNDS)             # noqa: E731
    assert run(benchmark, linuxmm, work) == expected(work)


@pytest.mark.benchmark(group="slab-c-loop")
def test_c_loop_bulk(benchmark):
    total = run(benchmark, linuxmm, lambda sa, c: c.bench_bulk(ROUNDS, 4096))
    assert total == expected(lambda sa, c: bulk_rounds(c, ROUNDS))


@pytest.mark.benchmark(group="slab-c-loop")
def test_c_loop_pairs(benchmark):
    total = run(benchmark, linuxmm, lambda sa, c: c.bench_pairs(PAIRS))
    assert total == expected(lambda sa, c: python_pairs(c, PAIRS))


@pytest.mark.benchmark(group="slab-reference")
def test_reference_bulk(benchmark):
    work = lambda sa, c: bulk_rounds(c, 1)                  # noqa: E731
    assert run(benchmark, linuxmm.reference, work, rounds=3) == expected(work)


@pytest.mark.benchmark(group="slab-kmalloc-mix")
def test_kmalloc_mix(benchmark):
    n = run(benchmark, linuxmm, lambda sa, c: kmalloc_mix(sa, 12_000))
    assert n == 12_000


@pytest.mark.benchmark(group="slab-kmalloc-mix")
def test_kmalloc_mix_reference(benchmark):
    n = run(benchmark, linuxmm.reference, lambda sa, c: kmalloc_mix(sa, 1_200), rounds=3)
    assert n == 1_200
