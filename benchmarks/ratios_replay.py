"""Replay speed of each trace kind (issue 10): strace logs in system calls per second, lackey
and .npy/.npz access traces in accesses per second.  Every measurement checks its answer:
the strace log is recorded on this host (a C program's mmap/mprotect/munmap loop, under
strace with address randomization off) and every replayed call must return what the kernel
returned; the access traces must take exactly one fault per page touched plus one per page
first read and later written (private anonymous memory without pressure), the same formula
the CLI tests use."""
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from linuxmm.replay.access import MIN_ADDR, TASK_SIZE, read_lackey, replay_access
from linuxmm.replay.strace import replay

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
EX = os.path.join(ROOT, "examples")
LOOP_C = r"""
#include <sys/mman.h>
int main(void)
{
    for (int i = 0; i < %d; i++) {
        char *p = mmap(0, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        mprotect(p + 4096, 4096, PROT_READ);
        munmap(p, 65536);
    }
    return 0;
}
"""


def expected_faults(addrs, writes):
    pages = addrs >> 12
    order = np.argsort(pages, kind="stable")
    pages, writes = pages[order], writes[order]
    starts = np.flatnonzero(np.r_[True, pages[1:] != pages[:-1]])
    first_write = writes[starts]
    any_write = np.logical_or.reduceat(writes, starts)
    return len(starts) + int(np.count_nonzero(~first_write & any_write))


def record_loop(iterations, workdir):
    """An strace log of the loop program recorded on this host (None when gcc or strace is
    missing)."""
    if not (shutil.which("gcc") and shutil.which("strace")):
        return None
    src = os.path.join(workdir, "loop.c")
    exe = os.path.join(workdir, "loop")
    log = os.path.join(workdir, "loop.strace")
    with open(src, "w") as f:
        f.write(LOOP_C % iterations)
    subprocess.run(["gcc", "-O1", "-o", exe, src], check=True)
    cmd = [sys.executable, "-m", "linuxmm", "record", "--quiet", "-o", log, "--", exe]
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT,
                   env=dict(os.environ, PYTHONPATH=ROOT))
    return log


def strace_rate(log):
    t0 = time.perf_counter()
    summary, _ = replay(log)
    dt = time.perf_counter() - t0
    assert summary["calls"] > 0 and summary["matched"] == summary["calls"], summary["mismatches"][:3]
    return summary["calls"], summary["calls"] / dt


def access_rate(addrs, writes, backend="c"):
    t0 = time.perf_counter()
    summary, _ = replay_access(addrs, writes, mem="1G", swap="0", backend=backend)
    dt = time.perf_counter() - t0
    inside = summary["accesses"]
    keep = (addrs >= MIN_ADDR) & (addrs < TASK_SIZE)
    assert inside == int(np.count_nonzero(keep))
    assert summary["min_flt"] + summary["maj_flt"] == expected_faults(addrs[keep], writes[keep])
    return inside, inside / dt


def lackey_trace():
    addrs, writes, _ = read_lackey(os.path.join(EX, "small.lackey.gz"))
    return addrs, writes.astype(bool)


def npz_trace(repeat=100):
    """examples/access.npz replayed `repeat` times over (the same pages again: hits)."""
    data = np.load(os.path.join(EX, "access.npz"))
    return np.tile(data["addrs"], repeat), np.tile(data["writes"].astype(bool), repeat)


def measure():
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        log = record_loop(2000, tmp)
        if log is None:
            out.append(("replay strace: skipped (no gcc or strace)", 0, ""))
        else:
            calls, rate = strace_rate(log)
            out.append((f"replay strace: {calls} recorded calls, all matched", rate, "calls/s"))
    addrs, writes = lackey_trace()
    n, rate = access_rate(addrs, writes)
    out.append((f"replay lackey: {n} accesses (small.lackey.gz, boot included)", rate,
                "accesses/s"))
    addrs, writes = npz_trace()
    n, rate = access_rate(addrs, writes)
    out.append((f"replay npz: {n} accesses (access.npz x100, boot included)", rate,
                "accesses/s"))
    return out
