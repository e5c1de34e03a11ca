"""Ratios for the page allocator engine (issue 3: zones).  Each measurement checks its result.

Goals: the zone layer adds at most 30% over the bare BuddyAllocator per call and in bulk; an
order-0 pair served from the per-CPU list costs at most 15 ns in bulk.
"""
import linuxmm
import linuxmm.reference
from heaps import bulk_rounds as buddy_bulk_rounds
from heaps import clean
from linuxmm.gfp import GFP_KERNEL
from pa_machines import NR_PAGES, bulk_rounds, intact, machine, python_pairs
from timing import ns_per_op

PAIRS = 200_000
ROUNDS = 200


def _buddy_pairs(b, pairs, order):
    alloc, free = b.alloc, b.free
    for _ in range(pairs):
        free(alloc(order), order)


def _time_pa(work, ops, *args, pcp=True, cls=None, repeat=5):
    def run(pa):
        work(pa, *args)
        assert intact(pa)
    return ns_per_op(run, ops, setup=lambda: machine(cls, pcp=pcp), repeat=repeat)


def _time_buddy(work, ops, *args):
    def run(b):
        work(b, *args)
        assert b.free_pages == NR_PAGES
        b.check()
    return ns_per_op(run, ops, setup=lambda: clean(linuxmm.BuddyAllocator), repeat=5)


def measure():
    batch_ops = ROUNDS * 1024
    rows = []
    for order in (0, 4):
        pa = _time_pa(python_pairs, PAIRS, PAIRS, order)
        bare = _time_buddy(_buddy_pairs, PAIRS, PAIRS, order)
        via = "pcp" if order == 0 else "buddy lists"
        rows += [
            (f"page_alloc: per-call pair order {order} ({via})", pa, "ns"),
            (f"page_alloc: BuddyAllocator per-call pair order {order}", bare, "ns"),
            (f"page_alloc: per-call order {order} / BuddyAllocator", pa / bare, "x (goal <= 1.3)"),
        ]
    bulk = _time_pa(bulk_rounds, batch_ops, ROUNDS)
    bulk_nopcp = _time_pa(bulk_rounds, batch_ops, ROUNDS, pcp=False)
    bare_bulk = _time_buddy(buddy_bulk_rounds, batch_ops, ROUNDS)
    c_bulk = _time_pa(lambda pa: pa.bench_bulk(GFP_KERNEL, ROUNDS, 1024), batch_ops)
    c_pairs = _time_pa(lambda pa: pa.bench_pairs(GFP_KERNEL, PAIRS * 10), PAIRS * 10)
    c_pairs4 = _time_pa(lambda pa: pa.bench_pairs(GFP_KERNEL, PAIRS * 10, 4), PAIRS * 10)
    c_nopcp = _time_pa(lambda pa: pa.bench_pairs(GFP_KERNEL, PAIRS * 10), PAIRS * 10, pcp=False)
    ref = _time_pa(bulk_rounds, 4 * 1024, 4, cls=linuxmm.reference.PageAllocator, repeat=2)
    rows += [
        ("page_alloc: bulk(1024) pair via pcp", bulk, "ns (goal <= 15)"),
        ("page_alloc: BuddyAllocator bulk(1024) pair", bare_bulk, "ns"),
        ("page_alloc: bulk via pcp / BuddyAllocator bulk", bulk / bare_bulk, "x (goal <= 1.3)"),
        ("page_alloc: bulk(1024) pair, pcp high 0", bulk_nopcp, "ns"),
        ("page_alloc: bulk pcp high 0 / BuddyAllocator bulk", bulk_nopcp / bare_bulk, "x"),
        ("page_alloc: C loop, bulk(1024) pairs", c_bulk, "ns"),
        ("page_alloc: bulk / C loop", bulk / c_bulk, "x"),
        ("page_alloc: C loop, single pairs order 0 (pcp)", c_pairs, "ns"),
        ("page_alloc: C loop, single pairs order 4", c_pairs4, "ns"),
        ("page_alloc: C loop, single pairs order 0, pcp high 0", c_nopcp, "ns"),
        ("page_alloc: reference bulk pair", ref, "ns"),
        ("page_alloc: reference / bulk", ref / bulk, "x"),
    ]
    return rows


if __name__ == "__main__":
    for label, value, unit in measure():
        print(f"{label:58} {value:10.2f}  {unit}")
