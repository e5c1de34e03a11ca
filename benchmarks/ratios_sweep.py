"""Sweep throughput (issue 10): runs per second of `run_sweep` over the pressure example with 1
and 2 local worker processes; the rows (apart from wall time) must be equal across worker
counts, so a fast wrong answer fails here."""
import os
import time

from linuxmm.sweep import run_sweep

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SCENARIO = os.path.join(ROOT, "examples", "pressure.toml")
GRID = {"machine.swappiness": [0, 60, 100, 200], "seed": [1, 2]}     # 8 runs


def strip(rows):
    return [{k: v for k, v in row.items() if k != "wall_s"} for row in rows]


def sweep(workers, grid=GRID):
    """(rows, runs per second)."""
    t0 = time.perf_counter()
    rows = run_sweep(SCENARIO, grid, workers=workers)
    return rows, len(rows) / (time.perf_counter() - t0)


def check(rows):
    assert all(r["pswpout"] > 0 and r["oom_kills"] == 1 for r in rows)


def measure():
    base, rate1 = sweep(1)
    check(base)
    rows, rate2 = sweep(2)
    assert strip(rows) == strip(base)
    return [("sweep: pressure.toml x 8 grid points, 1 worker", rate1, "runs/s"),
            ("sweep: pressure.toml x 8 grid points, 2 workers", rate2, "runs/s"),
            ("sweep: 2 workers / 1 worker", rate2 / rate1, "x")]
