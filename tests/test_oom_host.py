"""/proc/<pid>/oom_score on this host (the oracle) against linuxmm's formula: a child process
touches N MiB of anonymous memory and waits; its oom_score must be what
oom_kill.oom_score_from_status computes from its status (VmRSS, VmSwap, VmPTE), its
oom_score_adj and /proc/meminfo (MemTotal, SwapTotal), read around it."""
import os
import subprocess
import sys

import pytest

from linuxmm.vm import oom_kill

pytestmark = [pytest.mark.host,
              pytest.mark.skipif(not sys.platform.startswith("linux")
                                 or not os.path.exists("/proc/self/oom_score"),
                                 reason="needs Linux /proc")]

CHILD = r"""
import mmap, sys
n = int(sys.argv[1]) << 20
m = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
for off in range(0, n, 4096):
    m[off] = 1
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.readline()
"""


def _kb(text, key):
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _read(path):
    with open(path) as f:
        return f.read()


def _observe(pid):
    """(oom_score, inputs) read when the child's status is the same before and after."""
    for _ in range(20):
        before = _read(f"/proc/{pid}/status")
        meminfo = _read("/proc/meminfo")
        score = int(_read(f"/proc/{pid}/oom_score"))
        adj = int(_read(f"/proc/{pid}/oom_score_adj"))
        after = _read(f"/proc/{pid}/status")
        keys = ("VmRSS", "VmSwap", "VmPTE")
        if all(_kb(before, k) == _kb(after, k) for k in keys):
            inputs = dict(vmrss_kb=_kb(after, "VmRSS"), vmswap_kb=_kb(after, "VmSwap"),
                          vmpte_kb=_kb(after, "VmPTE"), oom_score_adj=adj,
                          memtotal_kb=_kb(meminfo, "MemTotal"),
                          swaptotal_kb=_kb(meminfo, "SwapTotal"))
            return score, inputs
    pytest.skip("the child's memory kept changing")


@pytest.mark.parametrize("mib", [1, 64, 256])
def test_host_oom_score_matches_the_formula(mib):
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(mib)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        score, inputs = _observe(child.pid)
        if inputs["vmrss_kb"] < mib << 10:
            pytest.skip("the host did not keep the child's pages resident")
        assert oom_kill.oom_score_from_status(**inputs) == score, inputs
        # raising oom_score_adj needs no privilege
        try:
            with open(f"/proc/{child.pid}/oom_score_adj", "w") as f:
                f.write("500")
        except OSError as err:
            pytest.skip(f"cannot write oom_score_adj: {err}")
        score, inputs = _observe(child.pid)
        assert inputs["oom_score_adj"] == 500
        assert oom_kill.oom_score_from_status(**inputs) == score, inputs
        assert _read(f"/proc/{child.pid}/oom_adj") == \
            f"{oom_kill.oom_adj_from_score_adj(500)}\n"
    finally:
        child.stdin.close()
        child.wait(timeout=30)


CHILD_SWAPPED = r"""
import mmap, sys
n = int(sys.argv[1]) << 20
m = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
for off in range(0, n, 4096):
    m[off] = 1
m.madvise(21, 0, n // 2)                       # MADV_PAGEOUT: half of it to swap
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.readline()
"""


def test_host_oom_score_with_swap_matches_the_formula():
    """With a swap area on the host (zram), swap entries count in the badness and SwapTotal in
    the total pages: the host's oom_score of a half-swapped child is the formula's."""
    from host import faulthost as fh
    try:
        fh.zram_swapon(1 << 16)                          # 256 MiB of zram swap
    except fh.HostRefused as e:
        pytest.skip(f"host refused swap: {e}")
    try:
        child = subprocess.Popen([sys.executable, "-c", CHILD_SWAPPED, "64"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline() == "ready\n"
            score, inputs = _observe(child.pid)
            if inputs["vmswap_kb"] == 0 or inputs["swaptotal_kb"] == 0:
                pytest.skip("the host did not swap the child's pages out")
            assert oom_kill.oom_score_from_status(**inputs) == score, inputs
        finally:
            child.stdin.write("\n")
            child.stdin.flush()
            child.wait(timeout=30)
    finally:
        fh.zram_swapoff()
