"""Hypothesis drives the C and reference buddy allocators side by side: same results, same errors."""
import numpy as np
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import linuxmm
import linuxmm.reference


def outcome(fn, *args):
    """A call's result, or its exception's type and message (so errors are compared too)."""
    try:
        r = fn(*args)
    except Exception as e:  # noqa: BLE001 - every error is part of the outcome
        return ("raised", type(e).__name__, str(e))
    if isinstance(r, np.ndarray):
        return ("array", r.tolist())
    return ("value", r)


class BuddyMachine(RuleBasedStateMachine):
    @initialize(nr_pages=st.integers(1, 600), start_pfn=st.integers(0, 2000),
                max_order=st.integers(0, 10))
    def boot(self, nr_pages, start_pfn, max_order):
        self.c = linuxmm.BuddyAllocator(nr_pages, start_pfn=start_pfn, max_order=max_order)
        self.r = linuxmm.reference.BuddyAllocator(nr_pages, start_pfn=start_pfn, max_order=max_order)
        self.held = []          # (pfn, order) blocks allocated on both
        self.start, self.end = start_pfn, start_pfn + nr_pages

    def same(self, name, *args):
        a = outcome(getattr(self.c, name), *args)
        b = outcome(getattr(self.r, name), *args)
        assert a == b, (name, args, a, b)
        return a

    @rule(order=st.integers(-1, 11))
    def alloc(self, order):
        res = self.same("alloc", order)
        if res[0] == "value":
            self.held.append((res[1], order))

    @precondition(lambda self: self.held)
    @rule(i=st.integers(0, 10**6))
    def free(self, i):
        pfn, order = self.held.pop(i % len(self.held))
        assert self.same("free", pfn, order) == ("value", None)

    @rule(pfn=st.integers(-5, 2700), order=st.integers(-1, 11))
    def free_anything(self, pfn, order):
        res = self.same("free", pfn, order)
        if res[0] == "value":          # it was a held block after all
            self.held.remove((pfn, order))

    @precondition(lambda self: self.held)
    @rule(i=st.integers(0, 10**6), delta=st.sampled_from([0, 1]))
    def free_wrong_order(self, i, delta):
        pfn, order = self.held[i % len(self.held)]
        res = self.same("free", pfn, order + 1 + delta)
        assert res[0] == "raised"

    @rule(count=st.integers(0, 70), order=st.integers(0, 3))
    def alloc_bulk(self, count, order):
        res = self.same("alloc_bulk", count, order)
        if res[0] == "array":
            self.held.extend((p, order) for p in res[1])

    @rule(n=st.integers(0, 40), order=st.integers(0, 3), poison=st.sampled_from(
        [None, "dup", "free", "range"]), data=st.data())
    def free_bulk(self, n, order, poison, data):
        mine = [h for h in self.held if h[1] == order][:n]
        pfns = [p for p, _ in mine]
        if poison == "dup" and pfns:
            pfns.insert(data.draw(st.integers(0, len(pfns))), pfns[0])
        elif poison == "range":
            pfns.insert(data.draw(st.integers(0, len(pfns))), self.end + 7)
        elif poison == "free":
            pfns.append(self.start if (self.start, order) not in self.held else self.end)
        res = self.same("free_bulk", np.array(pfns, dtype=np.int64), order)
        if res[0] == "value":
            for h in mine:
                self.held.remove(h)

    @invariant()
    def consistent(self):
        self.c.check()
        self.r.check()
        assert self.c.nr_free == self.r.nr_free
        assert self.c.free_pages == self.r.free_pages
        for o in range(self.c.max_order + 1):
            assert self.c.free_list(o) == self.r.free_list(o)
        assert self.c.free_pages + sum(1 << o for _, o in self.held) == self.end - self.start


TestBuddyMachine = BuddyMachine.TestCase
