"""Replay speed of the three trace kinds (issue 10); each round checks its answer (every
recorded strace call matched; one fault per page touched plus one per page first read then
written).  Full numbers: `python benchmarks/report.py replay`."""
import pytest

import ratios_replay as R


@pytest.mark.benchmark(group="replay")
def test_replay_strace(benchmark, tmp_path):
    log = R.record_loop(300, str(tmp_path))
    if log is None:
        pytest.skip("gcc or strace missing")
    calls, _ = benchmark.pedantic(R.strace_rate, args=(log,), rounds=1, iterations=1)
    assert calls >= 900


@pytest.mark.benchmark(group="replay")
@pytest.mark.parametrize("kind", ["lackey", "npz"])
def test_replay_access(benchmark, kind):
    addrs, writes = R.lackey_trace() if kind == "lackey" else R.npz_trace(repeat=10)
    n, _ = benchmark.pedantic(R.access_rate, args=(addrs, writes), rounds=1, iterations=1)
    assert n > 0
