"""Best-of-N wall-clock timing for the ratio scripts (ratios_*.py)."""
import time


def ns_per_op(work, ops, *, repeat=5, setup=None, check=None):
    """Best time of `repeat` runs of work(state) divided by ops, in ns.  setup() makes the state
    for each run (untimed); without it work() takes no argument.  check(state), when given,
    verifies each run after it, untimed."""
    best = float("inf")
    for _ in range(repeat):
        state = setup() if setup else None
        start = time.perf_counter()
        work(state) if setup else work()
        best = min(best, time.perf_counter() - start)
        if check:
            check(state)
    return best / ops * 1e9
