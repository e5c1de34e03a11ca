"""The C-backed Kernel and the reference Kernel, driven by the same calls, stay identical:
same pfns, same errors, same /proc files."""
import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from linuxmm import InvalidFree, Kernel, OutOfMemory
from linuxmm import gfp as G

GFPS = [G.GFP_KERNEL, G.GFP_ATOMIC, G.GFP_NOWAIT, G.GFP_DMA, G.GFP_DMA32,
        G.GFP_HIGHUSER_MOVABLE, G.GFP_KERNEL | G.__GFP_RECLAIMABLE, G.GFP_KERNEL | G.__GFP_ZERO,
        G.__GFP_DMA | G.__GFP_DMA32]
FILES = ("/proc/buddyinfo", "/proc/pagetypeinfo", "/proc/zoneinfo", "/proc/vmstat",
         "/proc/meminfo", "/sys/kernel/debug/extfrag/extfrag_index")


def outcome(call, *args):
    try:
        r = call(*args)
    except (OutOfMemory, InvalidFree, ValueError) as e:
        return ("error", type(e).__name__, str(e))
    return ("ok", r.tolist() if hasattr(r, "tolist") else r)


class KernelPair(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.c = Kernel("80M", backend="c", cpus=2)
        self.ref = Kernel("80M", backend="reference", cpus=2)
        self.blocks = []           # (pfn, order)

    def both(self, name, *args):
        a = outcome(getattr(self.c, name), *args)
        b = outcome(getattr(self.ref, name), *args)
        assert a == b, (name, args)
        return a

    @rule(gfp=st.sampled_from(GFPS), order=st.integers(-1, 11), cpu=st.integers(0, 2))
    def alloc(self, gfp, order, cpu):
        r = self.both("alloc_pages", gfp, order, cpu)
        if r[0] == "ok":
            self.blocks.append((r[1], order))

    @rule(gfp=st.sampled_from(GFPS), count=st.integers(0, 3000), cpu=st.integers(0, 1))
    def alloc_bulk(self, gfp, count, cpu):
        r = self.both("alloc_pages_bulk", gfp, count, cpu)
        if r[0] == "ok":
            self.blocks += [(p, 0) for p in r[1]]

    @precondition(lambda self: self.blocks)
    @rule(data=st.data(), cpu=st.integers(0, 1), wrong_order=st.booleans())
    def free(self, data, cpu, wrong_order):
        i = data.draw(st.integers(0, len(self.blocks) - 1))
        pfn, order = self.blocks[i]
        r = self.both("free_pages", pfn, order + 1 if wrong_order else order, cpu)
        if r[0] == "ok":
            self.blocks.pop(i)

    @precondition(lambda self: self.blocks)
    @rule(cpu=st.integers(0, 1))
    def free_bulk_order0(self, cpu):
        pfns = [p for p, o in self.blocks if o == 0][:500]
        r = self.both("free_pages_bulk", pfns, cpu)
        if r[0] == "ok":
            done = set(pfns)
            self.blocks = [(p, o) for p, o in self.blocks if not (o == 0 and p in done)]

    @rule(cpu=st.sampled_from([None, 0, 1]))
    def drain(self, cpu):
        self.both("drain_pages", cpu)

    @rule(value=st.integers(0, 20000))
    def set_min_free_kbytes(self, value):
        self.c.min_free_kbytes = value
        self.ref.min_free_kbytes = value

    @invariant()
    def same_proc_files_and_consistent(self):
        for path in FILES:
            assert self.c.read(path) == self.ref.read(path), path
        self.c.check()
        self.ref.check()


KernelPair.TestCase.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)
TestKernelPair = KernelPair.TestCase
