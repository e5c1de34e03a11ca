"""Kernel-level allocation: per call and bulk, through the per-CPU lists (order 0) and
without (order 4), and the boot of a large machine.  Each benchmark checks its result."""
import os

import pytest

import linuxmm
from kernel_work import MEM, boot_in_subprocess, free_total, kernel_pairs
from pa_machines import bulk_rounds as kernel_bulk_rounds

PAIRS = 20_000
ROUNDS = 20
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(benchmark, work, *args, backend="c", rounds=10):
    kernels = []

    def setup():
        kernels.append(linuxmm.Kernel(MEM, backend=backend))
        return (kernels[-1],) + args, {}

    result = benchmark.pedantic(work, setup=setup, rounds=rounds)
    k = kernels[-1]
    assert free_total(k) == sum(z.managed_pages for z in k.zones)
    k.check()
    return result


@pytest.mark.benchmark(group="kernel-pairs-per-call")
@pytest.mark.parametrize("order", [0, 4])
def test_kernel_pairs(benchmark, order):
    total = run(benchmark, kernel_pairs, PAIRS, order)
    # the reference model given the same calls hands out the same pfns
    assert total == kernel_pairs(linuxmm.Kernel(MEM, backend="reference"), PAIRS, order)


@pytest.mark.benchmark(group="kernel-pairs-bulk")
def test_kernel_bulk(benchmark):
    total = run(benchmark, kernel_bulk_rounds, ROUNDS)
    assert total == kernel_bulk_rounds(linuxmm.Kernel(MEM, backend="reference"), ROUNDS)


@pytest.mark.benchmark(group="kernel-boot")
def test_boot_1tib(benchmark):
    seconds, rss, managed = benchmark.pedantic(boot_in_subprocess, args=("1T", ROOT), rounds=1)
    assert managed > (1 << 28) * 0.98
