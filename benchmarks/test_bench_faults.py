"""Page-table replay and fault benchmarks (issue 8) at small sizes: hits replayed at random and in
address order, anonymous first-touch faults (linuxmm and the host kernel), file fault-around
faults through Python, and the reference backend's replay.  Each benchmark checks its result
(fault counts, translate() of sampled pages, C and reference page tables equal); full-size
numbers come from `python benchmarks/report.py faults`."""
import numpy as np
import pytest

from ratios_faults import (P, anon_process, cached_file_process, check_device_faults,
                           check_file_faults, check_first_touch, check_hits, device_process,
                           file_mapping, first_touch, host_available, host_first_touch,
                           page_table, random_accesses, sequential_accesses, touch_device,
                           touch_file, touch_fresh)

PAGES = 4096
ACCESSES = 100_000


@pytest.fixture(scope="module")
def prefaulted():
    k, p, a = anon_process(PAGES)
    sample = a + np.arange(0, PAGES, 61, dtype=np.int64) * P
    return p, a, sample, page_table(p, sample)


@pytest.mark.benchmark(group="replay hits")
@pytest.mark.parametrize("order", ["random", "sequential"])
def test_replay_hits(benchmark, prefaulted, order):
    p, a, sample, before = prefaulted
    make = random_accesses if order == "random" else sequential_accesses
    addrs, writes = make(a, PAGES, ACCESSES)
    benchmark(p.access, addrs, writes)
    check_hits(p, PAGES, sample, before)


@pytest.mark.benchmark(group="replay hits")
def test_replay_touch_range(benchmark, prefaulted):
    p, a, sample, before = prefaulted
    benchmark(p.touch_range, a, PAGES * P)
    check_hits(p, PAGES, sample, before)


@pytest.mark.benchmark(group="anon first touch")
def test_first_touch_faults(benchmark):
    states = []

    def setup():
        states.append(first_touch(PAGES))
        return (states[-1],), {}
    benchmark.pedantic(touch_fresh, setup=setup, rounds=3)
    for state in states:
        check_first_touch(state)


@pytest.mark.skipif(not host_available(), reason="no C compiler for the host helper")
def test_host_first_touch():
    assert host_first_touch(1024, repeat=2) > 0


@pytest.mark.benchmark(group="file fault-around")
def test_file_fault_around(benchmark):
    k, p, f = cached_file_process(1024)
    runs = []

    def setup():
        runs.append((file_mapping((k, p, f, 1024)), p.min_flt))
        return (runs[-1][0],), {}
    benchmark.pedantic(touch_file, setup=setup, rounds=3)
    for state, flt_before in runs:
        check_file_faults(state, flt_before)


def test_device_faults(benchmark):
    states = []

    def setup():
        states.append(device_process(512))
        return (states[-1],), {}
    benchmark.pedantic(touch_device, setup=setup, rounds=3)
    for state in states:
        check_device_faults(state)


@pytest.mark.benchmark(group="replay reference")
@pytest.mark.parametrize("backend", ["c", "reference"])
def test_replay_backends_agree(benchmark, backend):
    k, p, a = anon_process(1024, backend)
    addrs, writes = random_accesses(a, 1024, 5000, seed=4)
    sample = a + np.arange(0, 1024, 17, dtype=np.int64) * P
    before = page_table(p, sample)
    benchmark.pedantic(p.access, (addrs, writes), rounds=3)
    check_hits(p, 1024, sample, before)
    other, q, b = anon_process(1024, "reference" if backend == "c" else "c")
    assert (b, page_table(q, sample - a + b)) == (a, before)
