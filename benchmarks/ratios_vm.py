"""Headline numbers of the address-space model for benchmarks/report.py.  Each measurement
checks its result."""
import time

import numpy as np

import linuxmm as L
from vm_work import BASE, P, process_with


def _best(fn, repeat=5):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure():
    out = []
    for n in (10_000, 60_000):
        p = process_with(n)
        rng = np.random.default_rng(3)
        addrs = BASE + rng.integers(0, 2 * n * P - P, 1_000_000, dtype=np.int64)
        p.mm.find_vma_bulk(addrs[:1])
        t = _best(lambda: p.mm.find_vma_bulk(addrs))
        got = p.mm.find_vma_bulk(addrs)
        expect = BASE + ((addrs - BASE) // (2 * P) + ((addrs - BASE) % (2 * P) >= P)) * 2 * P
        assert np.array_equal(got, expect)
        out.append((f"find_vma bulk, {n} VMAs", len(addrs) / t / 1e6, "M lookups/s (goal >= 5 at 60k)"))
        single = addrs[:20000].tolist()
        find = p.mm.find_vma
        t = _best(lambda: [find(a) for a in single])
        out.append((f"find_vma per call, {n} VMAs", t / len(single) * 1e9, "ns/call"))
    p = process_with(16)
    flags = L.MAP_PRIVATE | L.MAP_ANONYMOUS

    def churn():
        for _ in range(5000):
            p.munmap(p.mmap(0, P, L.PROT_READ | L.PROT_WRITE, flags), P)
    t = _best(churn)
    assert p.mm.map_count == 16
    out.append(("mmap+munmap pair", t / 5000 * 1e6, "us/pair (goal < 5)"))
    return out


if __name__ == "__main__":
    for name, value, unit in measure():
        print(f"{name:32s} {value:10.2f} {unit}")
