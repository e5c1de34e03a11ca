"""Order-0 alloc+free pairs, four ways, on a clean and a fragmented heap.  Each checks its result."""
import pytest

import linuxmm
import linuxmm.reference
from heaps import bulk_rounds, clean, fragmented, python_pairs

HEAPS = {"clean": clean, "fragmented": fragmented}
PAIRS = 20_000
ROUNDS = 20                  # bulk rounds of 1024


def expected_checksum(make, pairs=None, rounds=None):
    """The same work on the reference model (small counts), to check the C result."""
    ref = make(linuxmm.reference.BuddyAllocator, 1 << 14)
    return python_pairs(ref, pairs) if pairs else bulk_rounds(ref, rounds)


@pytest.fixture(params=sorted(HEAPS))
def heap(request):
    return request.param


def run(benchmark, make, cls, work, *args, rounds=15):
    """Time work(heap, *args) on a fresh heap each round; return (result, last heap)."""
    heaps = []

    def setup():
        heaps.append(make(cls, 1 << 14))
        return (heaps[-1],) + args, {}

    result = benchmark.pedantic(work, setup=setup, rounds=rounds)
    b = heaps[-1]
    assert b.free_pages == make(cls, 1 << 14).free_pages
    b.check()
    return result


@pytest.mark.benchmark(group="buddy-pairs-per-call")
def test_per_call_pairs(benchmark, heap):
    total = run(benchmark, HEAPS[heap], linuxmm.BuddyAllocator, python_pairs, PAIRS)
    assert total == expected_checksum(HEAPS[heap], pairs=PAIRS)


@pytest.mark.benchmark(group="buddy-pairs-bulk")
def test_bulk_pairs(benchmark, heap):
    total = run(benchmark, HEAPS[heap], linuxmm.BuddyAllocator, bulk_rounds, ROUNDS)
    assert total == expected_checksum(HEAPS[heap], rounds=ROUNDS)


@pytest.mark.benchmark(group="buddy-pairs-c-loop")
def test_c_loop_pairs(benchmark, heap):
    total = run(benchmark, HEAPS[heap], linuxmm.BuddyAllocator,
                lambda b, n: b.bench_pairs(n), PAIRS)
    assert total == expected_checksum(HEAPS[heap], pairs=PAIRS)


@pytest.mark.benchmark(group="buddy-pairs-reference")
def test_reference_bulk_pairs(benchmark, heap):
    total = run(benchmark, HEAPS[heap], linuxmm.reference.BuddyAllocator, bulk_rounds, 2,
                rounds=3)
    assert total == expected_checksum(HEAPS[heap], rounds=2)
