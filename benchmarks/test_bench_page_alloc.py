"""Page allocator engine: alloc_pages/free_pages pairs per call and in bulk, through the per-CPU
lists and without (order 4, or pcp high 0), and the same loops wholly in C.  Each benchmark checks
its result against the reference model doing the same work."""
import pytest

import linuxmm.reference
from linuxmm.gfp import GFP_KERNEL
from pa_machines import bulk_rounds, intact, machine, python_pairs

PAIRS = 20_000
ROUNDS = 20


def run(benchmark, work, *args, pcp=True, rounds=10):
    made = []

    def setup():
        made.append(machine(pcp=pcp))
        return (made[-1],) + args, {}

    result = benchmark.pedantic(work, setup=setup, rounds=rounds)
    assert intact(made[-1])
    return result


def reference(work, *args, pcp=True):
    return work(machine(linuxmm.reference.PageAllocator, pcp=pcp), *args)


@pytest.mark.benchmark(group="page-alloc-per-call")
@pytest.mark.parametrize("order", [0, 4])
def test_per_call_pairs(benchmark, order):
    total = run(benchmark, python_pairs, PAIRS, order)
    assert total == reference(python_pairs, PAIRS, order)


@pytest.mark.benchmark(group="page-alloc-bulk")
@pytest.mark.parametrize("pcp", [True, False], ids=["pcp", "no-pcp"])
def test_bulk_pairs(benchmark, pcp):
    total = run(benchmark, bulk_rounds, ROUNDS, pcp=pcp)
    assert total == reference(bulk_rounds, ROUNDS, pcp=pcp)


@pytest.mark.benchmark(group="page-alloc-c-loop")
@pytest.mark.parametrize("order", [0, 4])
def test_c_loop_pairs(benchmark, order):
    total = run(benchmark, lambda pa: pa.bench_pairs(GFP_KERNEL, PAIRS, order))
    assert total == reference(python_pairs, PAIRS, order)


@pytest.mark.benchmark(group="page-alloc-c-loop")
def test_c_loop_bulk(benchmark):
    total = run(benchmark, lambda pa: pa.bench_bulk(GFP_KERNEL, ROUNDS, 1024))
    assert total == reference(bulk_rounds, ROUNDS)
