"""Simulated time and memory PSI (kernel/sched/psi.c): /proc/pressure/memory, exact totals and
the fixed-point running averages recomputed here from the kernel's formulas."""
import os
import re

import pytest

import linuxmm as L
from linuxmm.vm import clock
from linuxmm.vm.psi import memstall, psi_memstall_enter, psi_memstall_leave

BACKENDS = ["c", "reference"]
P = 4096
PERIOD = 501 * 4_000_000            # PSI_FREQ = 2*HZ+1 jiffies at HZ=250: 2.004 s
LINE = re.compile(r"^(some|full) avg10=\d+\.\d\d avg60=\d+\.\d\d avg300=\d+\.\d\d total=\d+$")


def kernel_avgs(samples):
    """avg10/avg60/avg300 after one calc_avgs per period, written from psi.c + loadavg.h."""
    FIXED_1 = 2048
    avg = [0, 0, 0]
    for stall_ns in samples:
        pct = min(stall_ns, PERIOD) * 100 // PERIOD * FIXED_1
        for i, e in enumerate((1677, 1981, 2034)):
            new = avg[i] * e + pct * (FIXED_1 - e)
            if pct >= avg[i]:
                new += FIXED_1 - 1
            avg[i] = new // FIXED_1
    return ["%d.%02d" % (a >> 11, ((a & 2047) * 100) >> 11) for a in avg]


def parse(text):
    out = {}
    for line in text.splitlines():
        kind, *fields = line.split()
        out[kind] = dict(f.split("=") for f in fields)
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_boot_file_is_zero(backend):
    k = L.Kernel("256M", backend=backend)
    assert k.now == 0
    assert k.read("/proc/pressure/memory") == (
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")


@pytest.mark.parametrize("backend", BACKENDS)
def test_totals_and_averages_match_the_kernel_formula(backend):
    k = L.Kernel("256M", backend=backend)
    p = k.spawn("app")
    # period 1: 500 ms of stall; period 2: 1.5 s; periods 3..5: none
    with memstall(k, p):
        k.advance(500_000_000)
    k.advance(PERIOD - 500_000_000)                 # exactly at the first tick
    with memstall(k, p):
        k.advance(1_500_000_000)
    k.advance(PERIOD - 1_500_000_000 + 3 * PERIOD)
    got = parse(k.read("/proc/pressure/memory"))
    want = kernel_avgs([500_000_000, 1_500_000_000, 0, 0, 0])
    for kind in ("some", "full"):
        assert [got[kind]["avg10"], got[kind]["avg60"], got[kind]["avg300"]] == want
        assert got[kind]["total"] == "2000000"      # microseconds
    assert want[0] != "0.00"


@pytest.mark.parametrize("backend", BACKENDS)
def test_kswapd_stall_is_some_not_full(backend):
    k = L.Kernel("256M", backend=backend)
    psi_memstall_enter(k, "kswapd0")
    clock.charge(k, "reclaim_scan", 1000)            # 200 us
    p = k.spawn("app")
    psi_memstall_enter(k, p)                         # direct reclaim too: full
    k.advance(50_000)
    psi_memstall_leave(k, p)
    psi_memstall_leave(k, "kswapd0")
    got = parse(k.read("/proc/pressure/memory"))
    assert got["some"]["total"] == "250" and got["full"]["total"] == "50"
    with pytest.raises(ValueError):
        psi_memstall_leave(k, "kswapd0")


@pytest.mark.parametrize("backend", BACKENDS)
def test_nested_stalls_count_once_and_idle_decays(backend):
    k = L.Kernel("256M", backend=backend)
    psi_memstall_enter(k)
    psi_memstall_enter(k)
    k.advance(PERIOD)
    psi_memstall_leave(k)
    k.advance(PERIOD)
    psi_memstall_leave(k)
    k.sleep(600)                                      # 10 idle minutes
    got = parse(k.read("/proc/pressure/memory"))
    assert got["some"]["total"] == str(2 * PERIOD // 1000)
    n_idle = (k.now // PERIOD) - 2
    assert [got["full"][f] for f in ("avg10", "avg60", "avg300")] == \
        kernel_avgs([PERIOD, PERIOD] + [0] * n_idle)


@pytest.mark.parametrize("backend", BACKENDS)
def test_faults_advance_the_clock(backend):
    k = L.Kernel("256M", backend=backend)
    p = k.spawn("t")
    a = p.mmap(0, 64 * P, L.PROT_READ | L.PROT_WRITE, L.MAP_PRIVATE | L.MAP_ANONYMOUS)
    p.touch_range(a, 64 * P, write=True)               # 64 faults, in the C loop
    assert k.now == 64 * k.costs["minor_fault"]
    p.touch(a)                                          # present: free
    assert k.now == 64 * k.costs["minor_fault"]
    f = k.create_file("/data/f", 64 * P)
    m = p.mmap(0, 64 * P, L.PROT_READ, L.MAP_PRIVATE, f, 0)
    before = k.now
    p.touch(m)                                          # major fault: read-around of 32 pages
    assert p.maj_flt == 1
    assert k.now - before == k.costs["major_fault"] + 32 * k.costs["page_read"]
    k.advance(10)
    k.sleep(0.5)
    assert k.now - before == k.costs["major_fault"] + 32 * k.costs["page_read"] + 500_000_010
    with pytest.raises(ValueError):
        k.advance(-1)


def test_host_file_format():
    path = "/proc/pressure/memory"
    if not os.path.exists(path):
        pytest.skip("the host has no PSI")
    try:
        host = open(path).read()
    except OSError:
        pytest.skip("PSI disabled on the host")
    k = L.Kernel("256M")
    ours = k.read(path)
    assert [LINE.match(x) is not None for x in host.splitlines()] == [True, True]
    assert [LINE.match(x) is not None for x in ours.splitlines()] == [True, True]
    assert host.endswith("\n") and ours.endswith("\n")
