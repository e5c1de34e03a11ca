"""Ratios for the page-table and fault-path goals.  Each measurement checks its result.

1. Replay of accesses over pre-faulted anonymous memory (all hits): random addresses and
   address order through Process.access (one MMU call), address order as repeated
   Process.touch_range; also the bare Mmu.access call, to show what the Python layer adds.
2. Anonymous first-touch write faults: linuxmm's touch_range over a fresh mapping against the
   host kernel taking the same faults (tests/host/faultbench.c, built with the system compiler
   here; skipped where there is none).
3. Faults that run Python: private read-only mapping of a cached simulated file, every page
   touched; each fault is a fault-around fault mapping 16 pages in filemap_map_pages (Python);
   and a device whose vm_ops.fault is a Python method, one fault per page.
4. The same random replay on backend "c" and on the reference backend's pure-Python page
   table.

measure() runs at full size (report.py); the pytest-benchmark file uses small sizes.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

import linuxmm as L
from linuxmm.vm.memory import fault_snapshot
from timing import ns_per_op

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
from host.vmhost import build_helper, host_available  # noqa: E402

P = 4096
RW = L.PROT_READ | L.PROT_WRITE
ANON = L.MAP_PRIVATE | L.MAP_ANONYMOUS
HIT_BITS = L.PTE_PRESENT | L.PTE_RW | L.PTE_ACCESSED | L.PTE_DIRTY
FAULT_AROUND_PAGES = 16              # fault_around_bytes 64 KiB


# -- shared work ------------------------------------------------------------------------------
def anon_process(npages, backend="c", prefault=True):
    """A process with one private anonymous mapping of npages, write-faulted when prefault."""
    k = L.Kernel("8G", backend=backend)
    p = k.spawn("bench")
    a = p.mmap(0, npages * P, RW, ANON)
    if prefault:
        p.touch_range(a, npages * P, write=True)
        assert p.min_flt == npages
    return k, p, a


def random_accesses(a, npages, n, seed=1):
    """n random byte addresses in the mapping, and a random read/write mix."""
    rng = np.random.default_rng(seed)
    addrs = a + rng.integers(0, npages * P, n, dtype=np.int64)
    return addrs, rng.integers(0, 2, n).astype(np.uint8)


def sequential_accesses(a, npages, n):
    """n accesses in address order, one per page, wrapping around the mapping."""
    addrs = a + (np.arange(n, dtype=np.int64) % npages) * P
    return addrs, np.zeros(n, dtype=np.uint8)


def page_table(p, addrs):
    """translate() of each address: the (pfn, flags) the replay must leave unchanged."""
    return [p.translate(int(x)) for x in addrs]


def check_hits(p, npages, sample, before):
    """After a replay of hits: no new fault, and the sampled PTEs unchanged and dirty."""
    assert p.min_flt == npages and p.maj_flt == 0
    after = page_table(p, sample)
    assert after == before
    assert all(e is not None and e[1] & HIT_BITS == HIT_BITS for e in after)


def bare_access(p, addrs, writes):
    """The MMU's access loop called directly: one C call, no Process layer."""
    mm = p.mm
    i, _ = p.kernel.mmu.access(mm.pgd, mm.counters, fault_snapshot(mm), addrs, writes, 0)
    assert i == len(addrs)


def first_touch(npages, backend="c"):
    """State for one first-touch run: a fresh process and its untouched mapping."""
    k, p, a = anon_process(npages, backend, prefault=False)
    return p, a, npages


def touch_fresh(state):
    p, a, npages = state
    p.touch_range(a, npages * P, write=True)


def check_first_touch(state):
    p, a, npages = state
    assert p.min_flt == npages
    for off in (0, npages // 2, npages - 1):
        pfn, flags = p.translate(a + off * P)
        assert flags & HIT_BITS == HIT_BITS


def host_first_touch(npages, repeat=5):
    """ns per fault of the host kernel over fresh anonymous memory (best run), or None where
    there is no compiler.  Checks that every page took exactly one minor fault."""
    if not host_available():
        return None
    helper = build_helper(tempfile.mkdtemp(prefix="faultbench"), "faultbench")
    out = subprocess.run([helper, str(npages), str(repeat)], check=True, capture_output=True,
                         text=True).stdout
    fields = dict(word.split("=") for word in out.split())
    assert int(fields["pages"]) == npages
    assert int(fields["minflt"]) == npages, out
    return float(fields["ns_per_fault"])


def cached_file_process(npages, backend="c"):
    """A process and a fully cached simulated file of npages (WILLNEED reads at most
    max(io_pages, ra_pages) per call, as Linux, so it is asked for in 1 MiB steps)."""
    k = L.Kernel("8G", backend=backend)
    f = k.create_file("/data/f", npages * P)
    for off in range(0, npages * P, 1 << 20):
        f.fadvise(off, 1 << 20, L.POSIX_FADV_WILLNEED)
    assert len(f.f_inode.i_mapping.pages) == npages
    return k, k.spawn("bench"), f


def file_mapping(state):
    """State for one fault-around run: a fresh read-only private mapping of the cached file."""
    k, p, f, npages = state
    return p, p.mmap(0, npages * P, L.PROT_READ, L.MAP_PRIVATE, f, 0), f, npages


def touch_file(state):
    p, m, f, npages = state
    p.touch_range(m, npages * P)


def check_file_faults(state, flt_before):
    """Every page mapped by fault-around from the page cache: 16 pages per minor fault."""
    p, m, f, npages = state
    assert p.maj_flt == 0
    assert p.min_flt - flt_before == npages // FAULT_AROUND_PAGES
    cache = f.f_inode.i_mapping.pages
    for index in (0, 1, npages // 2 + 3, npages - 1):
        pfn, flags = p.translate(m + index * P)
        assert pfn == cache[index] and flags & L.PTE_PRESENT and not flags & L.PTE_RW


class PageOnDemand:
    """A driver's vm_operations_struct: every fault hands over a frame of the device's cache."""

    def __init__(self):
        self.faults = 0

    def fault(self, vmf):
        self.faults += 1
        vmf.page = vmf.grab_page()
        return 0


def device_process(npages, backend="c"):
    """A process with a fresh shared mapping of a device whose fault() is Python code."""
    k = L.Kernel("8G", backend=backend)
    ops = PageOnDemand()
    dev = k.create_device("/dev/bench", ops)
    p = k.spawn("bench")
    return p, p.mmap(0, npages * P, RW, L.MAP_SHARED, dev, 0), ops, npages


def touch_device(state):
    p, m, ops, npages = state
    p.touch_range(m, npages * P, write=True)


def check_device_faults(state):
    """One vm_ops.fault call and one minor fault per page; every page mapped writable."""
    p, m, ops, npages = state
    assert ops.faults == npages and p.min_flt == npages and p.maj_flt == 0
    for index in (0, npages // 2, npages - 1):
        assert p.translate(m + index * P)[1] & L.PTE_RW


# -- measurements -----------------------------------------------------------------------------
def replay_hits(pages, accesses, repeat=5):
    out = []
    k, p, a = anon_process(pages)
    sample = a + np.arange(0, pages, max(1, pages // 64), dtype=np.int64) * P
    before = page_table(p, sample)
    addrs, writes = random_accesses(a, pages, accesses)
    t = ns_per_op(lambda: p.access(addrs, writes), accesses, repeat=repeat)
    label = f"replay {accesses // 10**6}M random hits (half writes), {pages >> 10}k pages"
    out.append((label, t, "ns/access (goal <= 25)"))
    t = ns_per_op(lambda: bare_access(p, addrs, writes), accesses, repeat=repeat)
    out.append(("  same, bare Mmu.access C call", t, "ns/access"))
    seq, seqw = sequential_accesses(a, pages, accesses)
    t = ns_per_op(lambda: p.access(seq, seqw), accesses, repeat=repeat)
    out.append(("replay sequential hits, one access array in address order", t,
                "ns/access (goal <= 5)"))
    passes = max(1, round(accesses / pages))

    def touch_passes():
        for _ in range(passes):
            p.touch_range(a, pages * P)
    t = ns_per_op(touch_passes, passes * pages, repeat=repeat)
    out.append((f"replay sequential hits, {passes} touch_range passes", t,
                "ns/access (goal <= 5)"))
    check_hits(p, pages, sample, before)
    return out


def fresh_runs(make, work, check, ops, repeat):
    """ns per op of work(state) over `repeat` runs, each on a fresh make(); every run checked."""
    states = []

    def setup():                     # checks the previous run, then drops its kernel
        if states:
            check(states.pop())
        states.append(make())
        return states[-1]
    t = ns_per_op(work, ops, repeat=repeat, setup=setup)
    check(states.pop())
    return t


def first_touch_faults(pages, repeat=5):
    sim = fresh_runs(lambda: first_touch(pages), touch_fresh, check_first_touch, pages, repeat)
    out = [(f"anon first-touch write fault, linuxmm C, {pages >> 10}k pages", sim, "ns/fault")]
    host = host_first_touch(pages, repeat)
    if host is None:
        out.append(("anon first-touch fault, host kernel: skipped (no cc)", float("nan"), ""))
        return out
    out.append((f"anon first-touch write fault, host kernel, {pages >> 10}k pages", host,
                "ns/fault"))
    out.append(("host / linuxmm first-touch fault", host / sim, "x (goal >= 10)"))
    return out


def file_faults(pages, repeat=5):
    k, p, f = cached_file_process(pages)
    runs = []

    def setup():
        if runs:
            old = runs[-1][0]
            old[0].munmap(old[1], pages * P)
        runs.append((file_mapping((k, p, f, pages)), p.min_flt))
        return runs[-1][0]
    t = ns_per_op(touch_file, pages // FAULT_AROUND_PAGES, repeat=repeat, setup=setup)
    check_file_faults(*runs[-1])
    return [(f"file fault-around faults in Python, {pages >> 10}k pages",
             1e9 / t / 1e3, "k faults/s (16 pages each; no goal)"),
            ("  per page mapped", t / FAULT_AROUND_PAGES / 1e3, "us/page")]


def device_faults(pages, repeat=5):
    t = fresh_runs(lambda: device_process(pages), touch_device, check_device_faults, pages,
                   repeat)
    return [(f"device faults through a Python vm_ops.fault, {pages >> 10}k pages",
             1e9 / t / 1e3, "k faults/s (no goal)")]


def reference_ratio(pages, accesses, repeat=3):
    times, tables = {}, {}
    for backend in ("c", "reference"):
        k, p, a = anon_process(pages, backend)
        addrs, writes = random_accesses(a, pages, accesses, seed=4)
        sample = a + np.arange(0, pages, max(1, pages // 64), dtype=np.int64) * P
        before = page_table(p, sample)
        times[backend] = ns_per_op(lambda: p.access(addrs, writes), accesses,
                                   repeat=repeat if backend == "c" else max(1, repeat - 2))
        check_hits(p, pages, sample, before)
        tables[backend] = before
    assert tables["c"] == tables["reference"]
    label = f"{accesses // 1000}k random hits, {pages >> 10}k pages"
    return [(f"replay {label}, backend c", times["c"], "ns/access"),
            (f"replay {label}, reference", times["reference"], "ns/access"),
            ("reference / c replay", times["reference"] / times["c"], "x (goal >= 15)")]


def measure(hit_pages=1 << 20, accesses=10_000_000, fault_pages=1 << 18, file_pages=1 << 14,
            ref_pages=1 << 16, ref_accesses=200_000):
    return (replay_hits(hit_pages, accesses) + first_touch_faults(fault_pages)
            + file_faults(file_pages) + device_faults(file_pages)
            + reference_ratio(ref_pages, ref_accesses))


if __name__ == "__main__":
    for name, value, unit in measure():
        print(f"{name:58} {value:10.2f}  {unit}")
