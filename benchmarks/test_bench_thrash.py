"""The thrashing benchmark (issue 9) at a quick size: 2x RAM of anonymous memory on a 64 MiB
machine with swap, reclaim and swap-in running.  Each run checks its result (marker bytes read
back after going through swap, k.check(), swap and reclaim visibly active), and the C and
reference backends must give identical counters and contents; full-size numbers come from
`python benchmarks/report.py thrash`."""
import pytest

from ratios_thrash import check_marks, contents_digest, counters, mark, run, thrash_accesses, \
    thrash_machine

ACCESSES = 400_000           # the first ~250k fill memory; reclaim and swap-in follow


def fresh(backend):
    k, p, a, npages = thrash_machine(backend)
    marks = mark(p, a, npages)
    addrs, writes = thrash_accesses(a, npages, ACCESSES)
    return k, p, a, npages, marks, addrs, writes


def replay(state):
    k, p, a, npages, marks, addrs, writes = state
    p.access(addrs, writes)


def check(state):
    k, p, a, npages, marks, addrs, writes = state
    v = counters(k, p)
    assert v["pswpout"] > 0 and v["pswpin"] > 0 and v["maj_flt"] > 0 and v["pgscan_kswapd"] > 0
    check_marks(p, marks)
    k.check()


@pytest.mark.benchmark(group="thrash")
@pytest.mark.parametrize("backend", ["c", "reference"])
def test_thrash(benchmark, backend):
    states = []

    def setup():
        states.append(fresh(backend))
        return (states[-1],), {}
    benchmark.pedantic(replay, setup=setup, rounds=2)
    for state in states:
        check(state)


def test_thrash_backends_agree():
    results = {b: run(b, ACCESSES) for b in ("c", "reference")}
    c, ref = results["c"], results["reference"]
    assert c[1] == ref[1]                      # counters after the replay
    assert c[2] == ref[2]                      # their deltas
    assert c[3] == ref[3]                      # the sampled contents
    assert c[2]["pswpin"] > 0 and c[2]["pswpout"] > 0


def test_contents_digest_sees_marks():
    k, p, a, npages = thrash_machine("c")
    before = contents_digest(p, a, npages)
    mark(p, a, npages, every=31)
    assert contents_digest(p, a, npages) != before
