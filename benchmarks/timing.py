"""Best-of-N wall-clock timing for the ratio scripts (ratios_*.py)."""
import time


def ns_per_op(work, ops, *, repeat=5, setup=None):
    """Best time of `repeat` runs of work(state) divided by ops, in ns.  setup() makes the state
    for each run (untimed); without it work() takes no argument."""
    best = float("inf")
    for _ in range(repeat):
        state = setup() if setup else None
        start = time.perf_counter()
        work(state) if setup else work()
        best = min(best, time.perf_counter() - start)
    return best / ops * 1e9
