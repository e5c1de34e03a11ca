"""Soak test (issue 11): N random operations across every subsystem of one Kernel, with
k.check() every --check-every operations, in one thread or in several sharing the Kernel.

    python benchmarks/soak.py                        # 10,000,000 operations, one thread
    python benchmarks/soak.py --threads 4            # 4 threads sharing one Kernel
    python benchmarks/soak.py --ops 200000 --seed 3 --backend reference

Each thread owns what it allocates and verifies it (several threads: thread t allocates and
frees pages on CPU t's per-CPU lists): page blocks (k.alloc_pages), kmalloc
objects, objects of its own slab cache, processes with anonymous mappings whose written data
is read back (after reclaim has swapped it out, and in forked children), and a file whose
contents are read back through the page cache.  The machine is sized so that the threads'
mappings together exceed RAM: kswapd and direct reclaim run, pages go to swap and come back
(the OOM killer may take a process: that is counted, not an error).  Only the public API is
used, so the 4-thread run is correct once a shared Kernel is thread-safe (README "Threads").

At the end every thread proves that what it holds adds up (its pfns allocated and owned by no
one else, its cache's inuse equal to the objects it holds, kmalloc objects at least their
requested size, every written token readable), frees all of it, and k.check() runs once more;
then, with every pcp list drained and the caches dropped, the free pages must be those after
boot.  Prints a summary (operations, operations/s per subsystem, checks passed, peak RSS of
this Python process) and exits non-zero on any failure.
"""
import argparse
import os
import random
import resource
import sys
import threading
import time
from collections import Counter, defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import linuxmm  # noqa: E402
from linuxmm import gfp as G  # noqa: E402

P = 4096
RW = linuxmm.PROT_READ | linuxmm.PROT_WRITE
ANON = linuxmm.MAP_PRIVATE | linuxmm.MAP_ANONYMOUS
MEM = "96M"
SWAP = "192M"
FILE_PAGES = 256                    # each thread's file: 1 MiB with a known pattern

# subsystem -> weight of its operations in the random mix
MIX = {"pages": 20, "kmalloc": 20, "slab": 20, "vm": 30, "pagecache": 6, "reclaim": 1,
       "process": 3}


class SoakError(AssertionError):
    """A soak check failed: data did not read back, ownership did not add up."""


class Worker:
    """One thread's share of the soak: what it owns, and the operations on it."""

    def __init__(self, k, tid, seed, budget_pages, cpus):
        self.k = k
        self.tid = tid
        self.cpus = cpus                          # the CPUs whose pcp lists it uses
        self.rng = random.Random(seed * 1000003 + tid)
        self.budget_pages = budget_pages          # anonymous pages its processes may map
        self.pages = []                           # (pfn, order)
        self.kmallocs = []                        # (addr, size)
        self.cache = k.kmem_cache_create(f"soak{tid}", 72 + 8 * tid, flags=0)
        self.objs = []
        self.procs = []                           # Proc
        self.file = k.create_file(f"/soak/t{tid}", FILE_PAGES * P)
        for i in range(0, FILE_PAGES, 16):
            self.file.write(i * P, self._file_bytes(i, 16))
        self.ops = Counter()
        self.time = defaultdict(float)
        self.events = Counter()

    # -- helpers ---------------------------------------------------------------------------------
    def _file_bytes(self, first, n):
        return b"".join(((self.tid << 24 | (first + i)).to_bytes(4, "little") * (P // 4))
                        for i in range(n))

    def mapped_pages(self):
        return sum(pr.mapped for pr in self.procs)

    # -- subsystems ------------------------------------------------------------------------------
    def op_pages(self):
        r, k = self.rng, self.k
        if self.pages and (len(self.pages) > 512 or r.random() < 0.5):
            pfn, order = self.pages.pop(r.randrange(len(self.pages)))
            k.free_pages(pfn, order, r.choice(self.cpus))
            return
        if r.random() < 0.1:
            cpu = r.choice(self.cpus)
            pfns = k.alloc_pages_bulk(G.GFP_KERNEL, r.randrange(1, 64), cpu)
            k.free_pages_bulk(pfns, cpu)
            return
        order = r.choice((0, 0, 0, 0, 1, 2, 3))
        try:
            self.pages.append((k.alloc_pages(G.GFP_KERNEL, order, r.choice(self.cpus)), order))
        except linuxmm.OutOfMemory:
            self.events["page_oom"] += 1

    def op_kmalloc(self):
        r, k = self.rng, self.k
        if self.kmallocs and (len(self.kmallocs) > 1024 or r.random() < 0.5):
            addr, size = self.kmallocs.pop(r.randrange(len(self.kmallocs)))
            if k.ksize(addr) < size:
                raise SoakError(f"ksize(0x{addr:x}) < {size}")
            k.kfree(addr)
            return
        size = r.choice((8, 16, 64, 100, 200, 500, 1000, 3000, 5000, 9000))
        try:
            self.kmallocs.append((k.kmalloc(size), size))
        except linuxmm.OutOfMemory:
            self.events["kmalloc_oom"] += 1

    def op_slab(self):
        r, c = self.rng, self.cache
        if self.objs and (len(self.objs) > 4096 or r.random() < 0.5):
            if r.random() < 0.1:
                n = r.randrange(1, min(len(self.objs), 64) + 1)
                batch, self.objs = self.objs[-n:], self.objs[:-n]
                c.free_bulk(batch)
            else:
                c.free(self.objs.pop(r.randrange(len(self.objs))))
            return
        try:
            if r.random() < 0.1:
                self.objs += c.alloc_bulk(r.randrange(1, 64)).tolist()
            else:
                self.objs.append(c.alloc())
        except linuxmm.OutOfMemory:
            self.events["slab_oom"] += 1

    def op_process(self):
        r = self.rng
        if len(self.procs) < 2 or (len(self.procs) < 4 and r.random() < 0.4):
            if self.procs and r.random() < 0.5:
                parent = r.choice(self.procs)
                self._guard(parent, lambda: self.procs.append(parent.fork(self)))
            else:
                self.procs.append(Proc(self, self.k.spawn(f"soak{self.tid}")))
            return
        pr = self.procs[r.randrange(len(self.procs))]
        self._guard(pr, pr.verify_all)
        if pr in self.procs:                # (not taken by the OOM killer meanwhile)
            self.procs.remove(pr)
            pr.p.exit()

    def op_vm(self):
        r = self.rng
        if not self.procs:
            self.procs.append(Proc(self, self.k.spawn(f"soak{self.tid}")))
        pr = r.choice(self.procs)
        self._guard(pr, lambda: pr.random_op(r))

    def op_pagecache(self):
        r, f = self.rng, self.file
        first = r.randrange(FILE_PAGES)
        n = min(r.randrange(1, 32), FILE_PAGES - first)
        if f.read(first * P, n * P) != self._file_bytes(first, n):
            raise SoakError(f"thread {self.tid}: file pages {first}..{first + n} read back wrong")
        if r.random() < 0.05:
            f.fadvise(0, 0, linuxmm.POSIX_FADV_DONTNEED)

    def op_reclaim(self):
        r, k = self.rng, self.k
        what = r.random()
        if what < 0.5:
            k.try_to_free_pages(32)
        elif what < 0.8:
            k.kswapd()
        elif what < 0.95:
            k.drop_caches(1)
        else:
            k.compact_memory()

    def _guard(self, pr, fn):
        """fn() on a process the OOM killer may have taken: Killed drops it."""
        try:
            fn()
        except linuxmm.Killed:
            self.events["oom_killed"] += 1
            if pr in self.procs:
                self.procs.remove(pr)

    # -- the end ---------------------------------------------------------------------------------
    def verify_holdings(self):
        k = self.k
        for pfn, order in self.pages:
            page = k.page(pfn)
            if page.state != "allocated" or page.order != order:
                raise SoakError(f"thread {self.tid}: pfn {pfn} is {page.state} order "
                                f"{page.order}, expected allocated order {order}")
        for addr, size in self.kmallocs:
            if k.ksize(addr) < size:
                raise SoakError(f"thread {self.tid}: ksize(0x{addr:x}) < {size}")
        if self.cache.inuse != len(self.objs):
            raise SoakError(f"thread {self.tid}: cache inuse {self.cache.inuse}, holds "
                            f"{len(self.objs)}")
        for pr in list(self.procs):
            self._guard(pr, pr.verify_all)

    def release(self):
        k = self.k
        for pfn, order in self.pages:
            k.free_pages(pfn, order)
        for addr, _ in self.kmallocs:
            k.kfree(addr)
        if self.objs:
            self.cache.free_bulk(self.objs)
        self.cache.destroy()
        for pr in self.procs:
            pr.p.exit()
        k.unlink(self.file.path)
        self.pages, self.kmallocs, self.objs, self.procs = [], [], [], []


class Proc:
    """A process of one worker: its mappings and the tokens written in them."""

    def __init__(self, worker, p, maps=None, tokens=None):
        self.w = worker
        self.p = p
        self.maps = maps if maps is not None else []         # [start, npages]
        self.tokens = tokens if tokens is not None else {}   # page address -> bytes

    @property
    def mapped(self):
        return sum(n for _, n in self.maps)

    def fork(self, worker):
        child = self.p.fork()
        return Proc(worker, child, [list(m) for m in self.maps], dict(self.tokens))

    def random_op(self, r):
        p = self.p
        room = self.w.budget_pages - self.w.mapped_pages()
        what = r.random()
        if not self.maps or (what < 0.08 and room > 0):
            n = min(r.choice((1, 4, 16, 64, 256, 1024)), max(room, 1))
            self.maps.append([p.mmap(0, n * P, RW, ANON), n])
        elif what < 0.12 and len(self.maps) > 1:
            start, n = self.maps.pop(r.randrange(len(self.maps)))
            p.munmap(start, n * P)
            for a in [a for a in self.tokens if start <= a < start + n * P]:
                del self.tokens[a]
        elif what < 0.45:
            start, n = r.choice(self.maps)
            addr = start + r.randrange(n) * P
            token = b"%d:%d:%x:%d" % (self.w.tid, p.pid, addr, r.getrandbits(32))
            p.write(addr, token)
            self.tokens[addr] = token
        elif what < 0.75 and self.tokens:
            addr = r.choice(list(self.tokens))
            self._verify(addr)
        else:
            start, n = r.choice(self.maps)
            first = r.randrange(n)
            count = min(r.randrange(1, 64), n - first)
            p.touch_range(start + first * P, count * P, write=r.random() < 0.5)

    def _verify(self, addr):
        want = self.tokens[addr]
        got = self.p.read(addr, len(want))
        if got != want:
            raise SoakError(f"pid {self.p.pid} 0x{addr:x}: read {got!r}, wrote {want!r}")
        self.w.events["verified"] += 1

    def verify_all(self):
        for addr in list(self.tokens):
            self._verify(addr)


def free_pages_total(k):
    return sum(z.free_pages for z in k.zones)


def run(ops=10_000_000, threads=1, seed=0, backend="c", check_every=100_000, mem=MEM,
        swap=SWAP, progress=None):
    """The soak; returns the summary dict (see main).  Raises nothing: failures are listed in
    summary["failures"]."""
    k = linuxmm.Kernel(mem, swap=swap, cpus=max(2, threads), backend=backend, seed=seed)
    ram_pages = sum(z.managed_pages for z in k.zones)
    k.drain_pages()
    baseline = free_pages_total(k) + kernel_pages(k)
    # the threads' mappings together: 1.5x RAM, so that reclaim and swap are exercised
    # one thread: both CPUs; several: each thread is "on" its own CPU, as per-CPU lists are
    workers = [Worker(k, t, seed, (ram_pages * 3 // 2) // threads,
                      list(range(k.cpus)) if threads == 1 else [t]) for t in range(threads)]
    done = [0]
    checks = [0]
    failures = []
    lock = threading.Lock()
    names = list(MIX)
    weights = [MIX[n] for n in names]
    share = [ops // threads + (1 if t < ops % threads else 0) for t in range(threads)]

    def body(w, n):
        ops_fns = {name: getattr(w, "op_" + name) for name in names}
        clock = time.perf_counter
        choices = w.rng.choices
        try:
            for _ in range(n):
                name = choices(names, weights)[0]
                t = clock()
                ops_fns[name]()
                w.time[name] += clock() - t
                w.ops[name] += 1
                with lock:
                    done[0] += 1
                    due = done[0] % check_every == 0
                    count = done[0]
                if due:
                    k.check()
                    with lock:
                        checks[0] += 1
                    if progress:
                        progress(count)
        except BaseException as err:        # noqa: BLE001 - reported in the summary
            failures.append(f"thread {w.tid}: {type(err).__name__}: {err}")

    t0 = time.perf_counter()
    if threads == 1:
        body(workers[0], share[0])
    else:
        pool = [threading.Thread(target=body, args=(w, n), name=f"soak{w.tid}")
                for w, n in zip(workers, share)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    elapsed = time.perf_counter() - t0

    # -- what every thread holds adds up, and is given back -------------------------------------
    lost = None
    try:
        owned = Counter(pfn for w in workers for pfn, _ in w.pages)
        twice = [pfn for pfn, n in owned.items() if n > 1]
        if twice:
            raise SoakError(f"pfns held by two threads: {twice[:10]}")
        objs = Counter(a for w in workers for a, _ in w.kmallocs)
        objs.update(a for w in workers for a in w.objs)
        twice = [a for a, n in objs.items() if n > 1]
        if twice:
            raise SoakError(f"objects held twice: {[hex(a) for a in twice[:10]]}")
        for w in workers:
            w.verify_holdings()
        k.check()
        checks[0] += 1
        for w in workers:
            w.release()
        for p in list(k.processes.values()):
            p.exit()
        k.drop_caches(3)
        for c in list(k.slab.caches):
            if not c.permanent and c.alive:
                c.shrink()
        k.drain_pages()
        k.check()
        checks[0] += 1
        lost = baseline - free_pages_total(k) - kernel_pages(k)
        if lost:
            raise SoakError(f"{lost} pages not back after everything was freed")
    except BaseException as err:            # noqa: BLE001 - reported in the summary
        failures.append(f"end: {type(err).__name__}: {err}")

    total = Counter()
    seconds = defaultdict(float)
    events = Counter()
    for w in workers:
        total.update(w.ops)
        events.update(w.events)
        for name, s in w.time.items():
            seconds[name] += s
    return {
        "ops": sum(total.values()), "threads": threads, "backend": backend, "seed": seed,
        "seconds": elapsed, "ops_per_s": sum(total.values()) / elapsed if elapsed else 0.0,
        "subsystems": {name: {"ops": total[name],
                              "ops_per_s": total[name] / seconds[name] if seconds[name] else 0.0}
                       for name in names},
        "checks": checks[0], "events": dict(events), "lost_pages": lost,
        "swap_out": int(k.vm_counters().get("pswpout", 0)),
        "swap_in": int(k.vm_counters().get("pswpin", 0)),
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "failures": failures,
    }


def kernel_pages(k):
    """Pages the kernel holds for itself whatever the threads did: the slabs of every cache
    (the kmalloc caches keep up to min_partial empty slabs), the page cache and swap cache,
    page tables.  What the threads held must come back beside these."""
    v = k.vm_counters()
    slab = sum(c.stats()["pages"] for c in k.slab.caches if c.alive)
    return slab + v.get("nr_file_pages", 0) + v.get("nr_page_table_pages", 0)


def format_summary(s):
    lines = [f"soak: {s['ops']:,} operations, {s['threads']} thread(s), backend {s['backend']}, "
             f"seed {s['seed']}: {s['seconds']:.1f} s, {s['ops_per_s']:,.0f} ops/s",
             "  per subsystem (ops, ops/s of the time spent in it):"]
    for name, v in s["subsystems"].items():
        lines.append(f"    {name:<10} {v['ops']:>12,} {v['ops_per_s']:>14,.0f}/s")
    ev = s["events"]
    lines.append(f"  checks passed: {s['checks']}; reads verified: {ev.get('verified', 0):,}; "
                 f"swap out/in: {s['swap_out']:,}/{s['swap_in']:,} pages; OOM kills: "
                 f"{ev.get('oom_killed', 0)}; allocation failures: "
                 f"{sum(v for n, v in ev.items() if n.endswith('_oom'))}")
    lines.append(f"  pages lost: {s['lost_pages']}; peak RSS: {s['peak_rss_kb'] / 1024:.0f} MiB")
    if s["failures"]:
        lines.append("  FAILED:")
        lines += [f"    {f}" for f in s["failures"]]
    else:
        lines.append("  OK")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", type=int, default=10_000_000, help="operations in all (10,000,000)")
    ap.add_argument("--threads", type=int, default=1, help="threads sharing the Kernel (1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", choices=("c", "reference"), default="c")
    ap.add_argument("--check-every", type=int, default=100_000,
                    help="k.check() after every this many operations (100,000)")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    args = ap.parse_args(argv)
    if args.ops < 0 or args.threads < 1 or args.check_every < 1:
        ap.error("--ops >= 0, --threads >= 1, --check-every >= 1")
    t0 = time.perf_counter()

    def progress(n):
        print(f"  {n:,} operations, {time.perf_counter() - t0:.0f} s, check passed",
              file=sys.stderr, flush=True)
    summary = run(args.ops, args.threads, args.seed, args.backend, args.check_every,
                  progress=None if args.quiet else progress)
    print(format_summary(summary))
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
