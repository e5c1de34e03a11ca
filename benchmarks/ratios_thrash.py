"""Ratios for the reclaim + swap goal (issue 9): a thrashing workload.

The workload (thrash_machine / thrash_accesses): a 64 MiB machine (6197 pages of RAM) with a
256 MiB swap partition; one process maps private anonymous memory of twice the machine's managed
pages and replays accesses through Process.access: 90% of them go to a hot tenth of the mapping,
the rest anywhere in it, each a random 64-byte line of its page, 30% writes (seeded).  The first
visits fault pages in; from then on reclaim runs all the time (kswapd woken by the allocator,
direct reclaim when it cannot keep up) and swaps pages out, and the accesses that find a swap
PTE take swap-in faults (major, with cluster readahead, or minor from the swap cache).

Checks: bytes written with p.write into a sample of pages before the replay read back after it
(they went to swap and came back), k.check() passes, reclaim and swap visibly ran (pswpin,
pswpout, major faults, kswapd and direct scans), and on a smaller run the C and reference
backends give identical counters (vmstat, fault counts, simulated clock) and page contents.

measure() runs at full size (report.py); test_bench_thrash.py uses a small one.
"""
import time

import numpy as np

import linuxmm as L

P = 4096
RW = L.PROT_READ | L.PROT_WRITE
ANON = L.MAP_PRIVATE | L.MAP_ANONYMOUS
COUNTERS = ("pswpin", "pswpout", "pgmajfault", "pgfault", "pgscan_kswapd", "pgscan_direct",
            "pgsteal_kswapd", "pgsteal_direct", "pgscan_anon", "pgsteal_anon", "pgrefill",
            "pgdeactivate", "pgactivate", "workingset_refault_anon",
            "workingset_activate_anon", "swap_ra", "swap_ra_hit", "pageoutrun",
            "allocstall_normal", "allocstall_dma32", "allocstall_dma", "nr_free_pages")


def thrash_machine(backend="c", ram="64M", swap="256M", ratio=2):
    """(kernel, process, mapping address, pages): the mapping is `ratio` x RAM, untouched."""
    k = L.Kernel(ram, swap=swap, backend=backend)
    k.spawn("init")
    p = k.spawn("thrash")
    ram_pages = sum(z.managed_pages for z in k.zones)
    npages = ratio * ram_pages
    a = p.mmap(0, npages * P, RW, ANON)
    return k, p, a, npages


def thrash_accesses(a, npages, n, seed=1, hot=0.9, write_share=0.3):
    """n addresses (90% in the hot first tenth of the mapping) and their write flags."""
    rng = np.random.default_rng(seed)
    pages = np.where(rng.random(n) < hot, rng.integers(0, npages // 10, n),
                     rng.integers(0, npages, n))
    addrs = a + pages * P + rng.integers(0, P // 64, n) * 64
    writes = (rng.random(n) < write_share).astype(np.uint8)
    return addrs.astype(np.int64), writes


def mark(p, a, npages, every=97):
    """Write a distinct 16-byte marker into every `every`-th page; returns {addr: bytes}."""
    marks = {}
    for i in range(0, npages, every):
        addr = a + i * P + (i * 64) % P
        data = (b"%08x" % i) * 2
        p.write(addr, data)
        marks[addr] = data
    return marks


def check_marks(p, marks):
    for addr, data in marks.items():
        got = p.read(addr, len(data))
        assert got == data, (hex(addr), got, data)


def counters(k, p):
    v = k.vm_counters()
    out = {name: int(v.get(name, 0)) for name in COUNTERS}
    out.update(maj_flt=p.maj_flt, min_flt=p.min_flt, now=k.now)
    return out


def run(backend, n, seed=1, every=97):
    """One checked run: (seconds for the replay, counters after, page contents digest)."""
    k, p, a, npages = thrash_machine(backend)
    marks = mark(p, a, npages, every)
    addrs, writes = thrash_accesses(a, npages, n, seed)
    before = counters(k, p)
    t = time.perf_counter()
    p.access(addrs, writes)
    dt = time.perf_counter() - t
    after = counters(k, p)
    check_marks(p, marks)
    k.check()
    delta = {name: after[name] - before[name] for name in after}
    assert delta["pswpout"] > 0 and delta["pgscan_kswapd"] > 0, delta
    if n >= 300_000:
        assert delta["pswpin"] > 0 and delta["maj_flt"] > 0, delta
    digest = contents_digest(p, a, npages)
    return dt, after, delta, digest


def contents_digest(p, a, npages, step=31):
    """A hash of a sample of the mapping's bytes (read through the page tables: swap-ins)."""
    import hashlib
    h = hashlib.sha1()
    for i in range(0, npages, step):
        h.update(p.read(a + i * P, 64))
    return h.hexdigest()


def per_million(delta, n, name):
    return delta[name] * 1e6 / n


def measure(accesses=10_000_000, ref_accesses=1_000_000, agree_accesses=300_000):
    out = []
    dt, after, delta, _ = run("c", accesses)
    label = f"thrash: 2x RAM anon, {accesses // 10**6}M accesses"
    out.append((f"{label}, backend c", accesses / dt / 1e6, "M accesses/s (goal >= 2)"))
    for name, key in (("  swap-ins (pswpin)", "pswpin"), ("  swap-outs (pswpout)", "pswpout"),
                      ("  major faults", "maj_flt"), ("  minor faults", "min_flt"),
                      ("  pages scanned by kswapd", "pgscan_kswapd"),
                      ("  pages scanned by direct reclaim", "pgscan_direct")):
        out.append((name, per_million(delta, accesses, key), "per M accesses"))
    rdt, _, rdelta, _ = run("reference", ref_accesses)
    out.append((f"thrash: same, {ref_accesses // 1000}k accesses, reference",
                ref_accesses / rdt / 1e6, "M accesses/s"))
    cdt, _, _, _ = run("c", ref_accesses)
    out.append((f"thrash: same, {ref_accesses // 1000}k accesses, backend c",
                ref_accesses / cdt / 1e6, "M accesses/s"))
    out.append(("reference / c time per access (same run)", rdt / cdt, "x"))
    results = [run(b, agree_accesses)[1:] for b in ("c", "reference")]
    assert results[0][0] == results[1][0], "C and reference counters differ"
    assert results[0][2] == results[1][2], "C and reference page contents differ"
    out.append((f"thrash {agree_accesses // 1000}k: c and reference counters identical", 1.0,
                "1 = yes"))
    return out


if __name__ == "__main__":
    import sys
    args = [int(x) for x in sys.argv[1:]]
    for name, value, unit in measure(*args):
        print(f"{name:58} {value:10.2f}  {unit}", flush=True)
