"""Issue 11: the lock's cost, timed (pytest-benchmark); ratios_threads.py prints it as a share of
the per-call pairs.  Each benchmark checks that the work was done and nothing was lost."""
import threading

import linuxmm
from linuxmm._ffi import lib

LOOPS = 1_000_000


def test_lock_take_drop_in_c(benchmark):
    b = linuxmm.BuddyAllocator(1 << 10)
    held = benchmark(lib.lmm_lock_bench, b.lock.ptr, LOOPS)
    assert held == LOOPS                    # the loop held the lock on every pass
    assert lib.lmm_lock_held(b.lock.ptr) == 0


def test_with_core_lock(benchmark):
    k = linuxmm.Kernel("256M")
    entered = []

    def run():
        with k.lock:
            entered.append(lib.lmm_lock_held(k.lock.ptr))

    benchmark(run)
    assert set(entered) == {1}              # held once inside, released after
    assert lib.lmm_lock_held(k.lock.ptr) == 0


def test_four_threads_share_one_buddy(benchmark):
    b = linuxmm.BuddyAllocator(1 << 14)

    def run():
        def body():
            alloc, free = b.alloc, b.free
            for _ in range(5000):
                free(alloc(0))
        threads = [threading.Thread(target=body) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    benchmark.pedantic(run, rounds=5)
    b.check()
    assert b.free_pages == b.nr_pages
