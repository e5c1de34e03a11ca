"""Benchmarks of the address-space model: find_vma (per call and bulk) and mmap/munmap churn.
Each benchmark checks its result; timings are reported by pytest-benchmark, never asserted."""
import numpy as np
import pytest

import linuxmm as L
from vm_work import BASE, P, process_with

@pytest.fixture(scope="module", params=[10_000, 60_000])
def many(request):
    return request.param, process_with(request.param)


@pytest.mark.benchmark(group="find_vma per call")
def test_find_vma_per_call(benchmark, many):
    n, p = many
    rng = np.random.default_rng(1)
    addrs = (BASE + rng.integers(0, 2 * n * P, 1000)).tolist()
    find = p.mm.find_vma

    def run():
        return [find(a) for a in addrs]
    found = benchmark(run)
    for a, vma in zip(addrs[:50], found):
        assert vma.vm_end > a and (vma.vm_start <= a or vma.vm_start - a < 2 * P)


@pytest.mark.benchmark(group="find_vma bulk")
def test_find_vma_bulk(benchmark, many):
    n, p = many
    rng = np.random.default_rng(2)
    addrs = BASE + rng.integers(0, 2 * n * P - P, 1_000_000, dtype=np.int64)
    p.mm.find_vma_bulk(addrs[:1])                  # snapshot built outside the timing
    got = benchmark(p.mm.find_vma_bulk, addrs)
    expect = BASE + ((addrs - BASE) // (2 * P) + ((addrs - BASE) % (2 * P) >= P)) * 2 * P
    assert np.array_equal(got, expect)


@pytest.mark.benchmark(group="mmap churn")
def test_mmap_munmap_pair(benchmark):
    p = process_with(16)
    flags = L.MAP_PRIVATE | L.MAP_ANONYMOUS
    mmap, munmap = p.mmap, p.munmap

    def run():
        for _ in range(1000):
            munmap(mmap(0, P, L.PROT_READ | L.PROT_WRITE, flags), P)
    benchmark(run)
    assert p.mm.map_count == 16
    p.mm.check()
