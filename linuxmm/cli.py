"""Command line: ``linuxmm demo`` (also ``python -m linuxmm demo``)."""
import argparse
import sys
import time

import numpy as np


def buddyinfo_line(zone_name, nr_free):
    """One /proc/buddyinfo line (mm/vmstat.c: frag_show_print)."""
    return f"Node 0, zone {zone_name:>8} " + "".join(f"{n:6d} " for n in nr_free)


def demo(args):
    from . import BuddyAllocator

    nr_pages = args.pages
    b = BuddyAllocator(nr_pages)
    rng = np.random.default_rng(args.seed)
    print(f"linuxmm demo: a buddy allocator over {nr_pages} pages "
          f"({nr_pages * 4 // 1024} MiB), Linux 6.x policy, seed {args.seed}\n")
    print("buddyinfo at boot:")
    print(buddyinfo_line("Normal", b.nr_free))

    start = time.perf_counter()
    held = []
    orders = rng.choice([0, 0, 0, 0, 1, 2, 3, 4], size=args.bursts)
    for order in orders:
        got = b.alloc_bulk(int(rng.integers(1, 256)) >> int(order), int(order))
        held.append((got, int(order)))
    allocated = sum(len(g) << o for g, o in held)
    print(f"\nbuddyinfo after a burst of {sum(len(g) for g, _ in held)} allocations "
          f"({allocated} pages):")
    print(buddyinfo_line("Normal", b.nr_free))

    freed = 0
    for got, order in held:
        keep = rng.random(len(got)) < 0.5
        b.free_bulk(got[~keep], order)
        freed += int((~keep).sum()) << order
    elapsed = time.perf_counter() - start
    print(f"\nbuddyinfo after freeing a random half ({freed} pages): fragmented")
    print(buddyinfo_line("Normal", b.nr_free))
    b.check()
    print(f"\nfree pages {b.free_pages} of {nr_pages}; invariants checked; "
          f"{elapsed * 1e3:.1f} ms for the whole run")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="linuxmm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="run a small default simulation and show what it did")
    p.add_argument("--pages", type=int, default=1 << 18, help="page frames (default 1 GiB)")
    p.add_argument("--bursts", type=int, default=400, help="bulk allocation calls")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
