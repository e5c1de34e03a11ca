"""Ratios for the buddy allocator goals (issue: foundation).  Each measurement checks its result."""
import linuxmm
import linuxmm.reference
from heaps import NR_PAGES, bulk_rounds, clean, fragmented, python_pairs
from linuxmm._ffi import lib
from timing import ns_per_op

PAIRS = 200_000
ROUNDS = 200
REF_PAGES = 1 << 15


def _bare_pairs(b, pairs):
    """The same C calls without the Python layer: two bare cffi calls per pair."""
    alloc, free, raw = lib.lmm_buddy_alloc, lib.lmm_buddy_free, b._b
    total = 0
    for _ in range(pairs):
        pfn = alloc(raw, 0)
        total += pfn
        free(raw, pfn, 0)
    return total


def _time(make, cls, pages, ops, work, *args, repeat=5):
    """ns per op of work(heap, *args) on a fresh heap per run; the heap must be intact after."""
    free_before = make(cls, pages).free_pages

    def run(b):
        work(b, *args)
        assert b.free_pages == free_before
        b.check()

    return ns_per_op(run, ops, setup=lambda: make(cls, pages), repeat=repeat)


def measure():
    rows = []
    c_cls, ref_cls = linuxmm.BuddyAllocator, linuxmm.reference.BuddyAllocator
    batch_ops = ROUNDS * 1024
    for name, make in (("clean", clean), ("fragmented", fragmented)):
        per_call = _time(make, c_cls, NR_PAGES, PAIRS, python_pairs, PAIRS)
        bare = _time(make, c_cls, NR_PAGES, PAIRS, _bare_pairs, PAIRS)
        bulk = _time(make, c_cls, NR_PAGES, batch_ops, bulk_rounds, ROUNDS)
        c_batch = _time(make, c_cls, NR_PAGES, batch_ops, lambda b: b.bench_batches(ROUNDS, 1024))
        c_pairs = _time(make, c_cls, NR_PAGES, PAIRS * 10, lambda b: b.bench_pairs(PAIRS * 10))
        ref = _time(make, ref_cls, REF_PAGES, 4 * 1024, bulk_rounds, 4, repeat=2)
        goal_c = "<= 50" if name == "clean" else "<= 10"
        rows += [
            (f"buddy {name}: per-call pair", per_call, "ns"),
            (f"buddy {name}: two bare cffi calls", bare, "ns"),
            (f"buddy {name}: per-call / bare", per_call / bare, "x (goal <= 1.3)"),
            (f"buddy {name}: bulk(1024) pair", bulk, "ns"),
            (f"buddy {name}: C loop, batches of 1024", c_batch, "ns"),
            (f"buddy {name}: bulk / C loop", bulk / c_batch, "x (goal <= 1.3)"),
            (f"buddy {name}: C loop, single pairs", c_pairs, f"ns (goal {goal_c})"),
            (f"buddy {name}: reference bulk pair", ref, "ns"),
            (f"buddy {name}: reference / bulk", ref / bulk, "x (goal >= 20)"),
        ]
    return rows
