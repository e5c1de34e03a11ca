"""Issue 11: what thread safety costs.

Every engine entry point takes the machine's recursive lock (csrc/lock.h), so the uncontended
cost of locking is one take/drop per C call.  Measured here, in one run:
- the take/drop pair in a C loop (lmm_lock_bench: the same inline code an entry point runs);
- the Python per-call pairs it is added to (b.free(b.alloc(0)), cache.free(cache.alloc()),
  k.free_pages(k.alloc_pages())), and the lock's share of each: two take/drops per pair;
- `with k.lock:` (a Python method holding the lock across several calls) against
  `with threading.RLock():`, what the Kernel's methods used before;
- 4 threads sharing one BuddyAllocator against one thread doing the same pairs (contention).
Each measurement checks its result: the allocators end intact (check(), every page back).
"""
import threading
import time

import linuxmm
from linuxmm._ffi import ffi, lib
from timing import ns_per_op

PAIRS = 200_000
LOCK_LOOPS = 5_000_000


def _lock_ns(lock):
    def work():
        assert lib.lmm_lock_bench(lock.ptr, LOCK_LOOPS) == LOCK_LOOPS     # held on every pass
    return ns_per_op(work, LOCK_LOOPS, repeat=7)


def _pair_ns(alloc, free, check):
    def work():
        for _ in range(PAIRS):
            free(alloc())
    ns = ns_per_op(work, PAIRS, repeat=7)
    check()
    return ns


def _threaded(b, threads, pairs):
    """Seconds for `threads` threads doing `pairs` alloc+free pairs each on one allocator."""
    barrier = threading.Barrier(threads + 1)

    def body():
        alloc, free = b.alloc, b.free
        barrier.wait()
        for _ in range(pairs):
            free(alloc(0))

    workers = [threading.Thread(target=body) for _ in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    t = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t
    b.check()
    assert b.free_pages == b.nr_pages
    return elapsed


def _slub_with_and_without_lock():
    """The same per-call pair with the lock and without it, alternately (best of 7 each): a
    bare slab allocator's cache, whose engine's lock pointer is set to NULL (no locking, as
    LMM_LOCKED skips) for the runs without.  The slabs are warm, so no call reaches the buddy
    allocator (which keeps its own lock)."""
    b = linuxmm.BuddyAllocator(1 << 16)
    sa = linuxmm.SlabAllocator(b)
    cache = sa.kmem_cache_create("bench_ab", 64)
    cache.free_bulk(cache.alloc_bulk(4096))
    alloc, free = cache.alloc, cache.free
    best = {True: float("inf"), False: float("inf")}
    try:
        for _ in range(7):
            for locked in (True, False):
                lib.lmm_slab_set_lock(sa._sys, b.lock.ptr if locked else ffi.NULL)
                t = time.perf_counter()
                for _ in range(PAIRS):
                    free(alloc())
                best[locked] = min(best[locked], time.perf_counter() - t)
    finally:
        lib.lmm_slab_set_lock(sa._sys, b.lock.ptr)
    sa.check()
    assert cache.stats()["inuse"] == 0
    return best[True] / PAIRS * 1e9, best[False] / PAIRS * 1e9


def measure():
    b = linuxmm.BuddyAllocator(1 << 20)
    k = linuxmm.Kernel("1G")
    cache = k.kmem_cache_create("bench_lock", 64)
    lock_ns = _lock_ns(b.lock)
    out = [("lock: take+drop in C (one entry point's cost)", lock_ns, "ns")]

    def buddy_intact():
        b.check()
        assert b.free_pages == b.nr_pages

    def cache_intact():
        k.check()
        assert cache.stats()["inuse"] == 0

    def pages_intact():
        k.check()
        k.drain_pages()
        assert k.vm_counters()["nr_free_pages"] == free_pages

    for _ in range(1000):           # the slab pairs' pages stay with the cache: count after them
        cache.free(cache.alloc())
    k.drain_pages()
    free_pages = k.vm_counters()["nr_free_pages"]

    for label, alloc, free, check in (
            ("buddy b.free(b.alloc(0))", b.alloc, b.free, buddy_intact),
            ("slub cache.free(cache.alloc())", cache.alloc, cache.free, cache_intact),
            ("pages k.free_pages(k.alloc_pages())", k.alloc_pages, k.free_pages, pages_intact)):
        pair = _pair_ns(alloc, free, check)
        out.append((f"{label} per-call pair", pair, "ns"))
        out.append(("  its lock share (2 take+drop / pair)", 100 * 2 * lock_ns / pair,
                    "% (goal: a few)"))

    with_lock, without = _slub_with_and_without_lock()
    out.append(("slub per-call pair, lock taken (A/B, same run)", with_lock, "ns"))
    out.append(("slub per-call pair, lock pointer NULL", without, "ns"))
    out.append(("  the lock's share, measured A/B", 100 * (with_lock - without) / without,
                "% (goal: a few)"))

    n = 1_000_000
    rlock = threading.RLock()
    with_rlock = ns_per_op(lambda: _with_n(rlock, n), n, repeat=5)
    with_core = ns_per_op(lambda: _with_n(k.lock, n), n, repeat=5)
    out.append(("`with threading.RLock():`", with_rlock, "ns"))
    out.append(("`with k.lock:` (the C core's lock from Python)", with_core, "ns"))

    pairs = 50_000
    one = _threaded(b, 1, 4 * pairs)
    four = _threaded(b, 4, pairs)
    out.append(("buddy pairs, 1 thread", 4 * pairs / one / 1e6, "M pairs/s"))
    out.append(("buddy pairs, 4 threads on one allocator", 4 * pairs / four / 1e6, "M pairs/s"))
    return out


def _with_n(lock, n):
    for _ in range(n):
        with lock:
            pass
