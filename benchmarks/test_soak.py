"""Smoke test of benchmarks/soak.py (issue 11): a few thousand operations in one thread on
each backend, so that the soak keeps working.  The 10M run and the 4-thread run are the lead's
(benchmarks/RESULTS.md); the shared-Kernel mode needs the locking of issue 11."""
import pytest

import soak


@pytest.mark.parametrize("backend", ["c", "reference"])
def test_soak_single_thread_checks_and_loses_nothing(backend):
    s = soak.run(ops=3000, threads=1, seed=1, backend=backend, check_every=1000)
    assert s["failures"] == []
    assert s["ops"] == 3000
    assert s["checks"] == 3 + 2         # every 1000 operations, then twice at the end
    assert s["lost_pages"] == 0
    assert s["events"]["verified"] > 100                       # data read back
    assert all(v["ops"] > 0 for v in s["subsystems"].values())
    assert s["peak_rss_kb"] > 0


def test_soak_finds_a_page_that_is_not_given_back(monkeypatch):
    """The end-of-run accounting is not vacuous: one page kept back is reported."""
    release = soak.Worker.release

    def leaky(self):
        self.k.alloc_pages()
        release(self)
    monkeypatch.setattr(soak.Worker, "release", leaky)
    s = soak.run(ops=500, threads=1, seed=2, check_every=1000)
    assert s["lost_pages"] == 1
    assert s["failures"] == ["end: SoakError: 1 pages not back after everything was freed"]


def test_soak_command_line(capsys):
    assert soak.main(["--ops", "400", "--seed", "3", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("soak: 400 operations, 1 thread(s), backend c, seed 3")
    assert "checks passed: 2;" in out and out.rstrip().endswith("OK")
