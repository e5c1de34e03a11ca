"""Sweep throughput with 1 and 2 local workers (runs per second in extra_info); every round's
rows are checked equal to the serial sweep's (apart from wall time).  Full numbers:
`python benchmarks/report.py sweep`."""
import pytest

from ratios_sweep import GRID, SCENARIO, check, strip
from linuxmm.sweep import run_sweep


@pytest.fixture(scope="module")
def serial_rows():
    rows = run_sweep(SCENARIO, GRID)
    check(rows)
    return strip(rows)


@pytest.mark.benchmark(group="sweep")
@pytest.mark.parametrize("workers", [1, 2])
def test_sweep_throughput(benchmark, workers, serial_rows):
    results = []

    def go():
        results.append(run_sweep(SCENARIO, GRID, workers=workers))
    benchmark.pedantic(go, rounds=1, iterations=1)
    for rows in results:
        assert strip(rows) == serial_rows
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None:
        benchmark.extra_info["runs_per_s"] = len(serial_rows) / stats.stats.mean
