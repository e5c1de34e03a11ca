"""Ratios for the Kernel's physical-memory goals (issue 3).  Each measurement checks its result.

Goals: the zone layer adds at most 30 % over the bare BuddyAllocator per call and in bulk; an
order-0 pair served from the per-CPU list costs at most 15 ns in bulk; a 1 TiB machine boots in
under 2 s and under 5 GiB of host memory.
"""
import os

import linuxmm
from heaps import clean, python_pairs, bulk_rounds
from kernel_work import MEM, boot_in_subprocess, free_total, kernel_pairs
from pa_machines import bulk_rounds as kernel_bulk_rounds
from timing import ns_per_op

PAIRS = 200_000
ROUNDS = 200
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _kernel_time(ops, work, *args, repeat=5):
    """The work timed; the machine's free pages counted before (at setup) and after, and its
    check(), untimed, as _buddy_time() leaves its allocator's out of the time."""
    def make():
        k = linuxmm.Kernel(MEM)
        k._bench_free_before = free_total(k)
        return k

    def check(k):
        assert free_total(k) == k._bench_free_before
        k.check()

    return ns_per_op(lambda k: work(k, *args), ops, setup=make, check=check, repeat=repeat)


def _buddy_time(ops, work, *args, repeat=5):
    def run(b):
        before = b.free_pages
        work(b, *args)
        assert b.free_pages == before

    return ns_per_op(run, ops, setup=lambda: clean(linuxmm.BuddyAllocator, 1 << 19),
                     repeat=repeat)


def _served_by_pcp():
    """True when a warm bulk(1024) round never touches the buddy free lists."""
    k = linuxmm.Kernel(MEM)
    kernel_bulk_rounds(k, 2)
    before = sum(z.free_pages for z in k.zones)
    pfns = k.alloc_pages_bulk(0xCC0, 1024)
    during = sum(z.free_pages for z in k.zones)
    k.free_pages_bulk(pfns)
    return before == during == sum(z.free_pages for z in k.zones)


def measure():
    rows = []
    buddy_pair = _buddy_time(PAIRS, python_pairs, PAIRS)
    buddy_bulk = _buddy_time(ROUNDS * 1024, bulk_rounds, ROUNDS)
    pcp_pair = _kernel_time(PAIRS, kernel_pairs, PAIRS, 0)
    nopcp_pair = _kernel_time(PAIRS // 4, kernel_pairs, PAIRS // 4, 4)
    bulk = _kernel_time(ROUNDS * 1024, kernel_bulk_rounds, ROUNDS)
    small = _kernel_time(ROUNDS * 4 * 64, kernel_bulk_rounds, ROUNDS * 4, 64)
    seconds, rss, managed = boot_in_subprocess("1T", ROOT)
    assert managed > (1 << 28) * 0.98
    rows += [
        ("kernel: per-call order-0 pair (pcp)", pcp_pair, "ns"),
        ("kernel: per-call order-4 pair (no pcp)", nopcp_pair, "ns"),
        ("buddy: per-call order-0 pair", buddy_pair, "ns"),
        ("kernel per-call / buddy per-call", pcp_pair / buddy_pair, "x (goal <= 1.3)"),
        ("kernel: bulk(1024) order-0 pair", bulk, "ns"),
        ("kernel: bulk(1024) pairs served by the pcp list", float(_served_by_pcp()), "1 = yes"),
        ("kernel: bulk(1024) pcp pair", bulk, "ns (goal <= 15)"),
        ("buddy: bulk(1024) order-0 pair", buddy_bulk, "ns"),
        ("kernel bulk / buddy bulk", bulk / buddy_bulk, "x (goal <= 1.3)"),
        ("kernel: bulk(64) pcp pair", small, "ns"),
        ("kernel: boot 1 TiB x86_64", seconds, "s (goal < 2)"),
        ("kernel: boot 1 TiB host memory", rss / 2**30, "GiB (goal < 5)"),
    ]
    return rows
