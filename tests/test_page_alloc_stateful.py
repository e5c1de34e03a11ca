"""C engine vs pure-Python reference, step by step: every result, every error, the whole state."""
import numpy as np
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import linuxmm
import linuxmm.reference
from linuxmm import gfp as G
from linuxmm.errors import MMError

GFPS = [G.GFP_KERNEL, G.GFP_ATOMIC, G.GFP_NOWAIT, G.GFP_DMA, G.GFP_KERNEL | G.GFP_DMA,
        G.GFP_KERNEL | G.GFP_DMA32, G.GFP_ATOMIC | G.GFP_DMA32, G.GFP_HIGHUSER_MOVABLE,
        G.GFP_KERNEL | G.__GFP_RECLAIMABLE, G.GFP_KERNEL | G.__GFP_HIGH, G.GFP_TRANSHUGE_LIGHT,
        G.GFP_NOWAIT | G.__GFP_NOMEMALLOC, G.GFP_ATOMIC | G.__GFP_MEMALLOC, G.GFP_USER,
        G.GFP_HIGHUSER_MOVABLE | G.__GFP_HIGH]

# (zones, boot ranges, max_order, pageblock_order)
NORMAL = 1048576
MACHINES = [
    ([("DMA", 1, 4095), ("DMA32", 4096, 8192), ("Normal", NORMAL, 8192), ("Movable", 0, 0)],
     [(1, 159), (256, 4096), (4096, 9000), (9100, 12288), (NORMAL, NORMAL + 8192)], 10, 9),
    ([("DMA", 1, 4095), ("DMA32", 4096, 8192), ("Normal", NORMAL, 8192)],
     [(1, 4096), (4096, 12288), (NORMAL + 3, NORMAL + 8190)], 7, 5),
    ([("DMA", 1, 1023), ("DMA32", 1024, 2048), ("Normal", 8192, 2048)],
     [(1, 3072), (8192, 10240)], 6, 4),                             # small: refusals, highatomic
    ([("DMA", 1, 1023), ("DMA32", 1024, 2048), ("Normal", 8192, 2048)],
     [(1, 3072), (8192, 10240)], 6, 4),
    ([("Normal", 0, 2048)], [(0, 2048)], 10, 9),                   # mobility grouping off
    ([("DMA", 0, 4096), ("Normal", 4096, 12288), ("HighMem", 16384, 4096)],
     [(0, 20480)], 8, 6),                                           # i386-like
]


def outcome(f):
    try:
        r = f()
    except (MMError, ValueError, TypeError, OverflowError) as e:
        return ("error", type(e).__name__, str(e))
    if isinstance(r, np.ndarray):
        return ("ok", r.tolist())
    return ("ok", r)


def state(pa):
    out = [pa.vmstat(), pa.mobility_disabled, pa.zonelist]
    for i in range(pa.nr_zones):
        out += [pa.nr_free(i, mt) for mt in range(5)]
        out += [pa.pcp_state(i, c) for c in range(pa.cpus)]
        out += [pa.watermarks(i), pa.zone_flags(i), pa.pageblock_counts(i),
                pa.nr_reserved_highatomic(i), pa.nr_free_highatomic(i), pa.managed_pages(i)]
    return out


def lists(pa):
    """Every buddy free list and pcp list, head to tail."""
    out = []
    for i in range(pa.nr_zones):
        out += [pa.free_list(i, o, mt) for o in range(pa.max_order + 1) for mt in range(5)]
        out += [pa.pcp_list(i, c, k) for c in range(pa.cpus) for k in range(pa.nr_pcp_lists)]
    return out


class PageAllocMachine(RuleBasedStateMachine):
    @initialize(machine=st.sampled_from(range(len(MACHINES))), cpus=st.integers(1, 3),
                thp=st.booleans(), data=st.data())
    def boot(self, machine, cpus, thp, data):
        zones, ranges, max_order, pb = MACHINES[machine]
        self.max_order = max_order
        self.cpus = cpus
        self.c = linuxmm.PageAllocator(zones, cpus=cpus, max_order=max_order,
                                       pageblock_order=pb, thp=thp)
        self.r = linuxmm.reference.PageAllocator(zones, cpus=cpus, max_order=max_order,
                                                 pageblock_order=pb, thp=thp)
        for s, e in ranges:
            self.both(lambda pa: pa.free_boot_range(s, e))
        for i in range(len(zones)):
            self.tune(i, data)
        self.held = []          # (pfn, order)

    def tune(self, i, data):
        managed = self.c.managed_pages(i)
        mn = data.draw(st.one_of(st.integers(0, max(managed // 8, 1)),
                                 st.integers(0, max(managed, 1))))
        step = data.draw(st.one_of(st.integers(0, max(managed // 16, 1)),
                                   st.integers(0, max(managed // 2, 1))))
        batch = data.draw(st.sampled_from([1, 2, 7, 31]))
        high_min = data.draw(st.sampled_from([0, batch, 4 * batch, 40]))
        high_max = data.draw(st.sampled_from([high_min, 8 * high_min + 3, high_min // 2]))
        lr = [0 if j <= i else data.draw(st.integers(0, managed // 2)) for j in
              range(self.c.nr_zones)]
        kw = dict(wmark_min=mn, wmark_low=mn + step, wmark_high=mn + 2 * step,
                  wmark_promo=mn + 3 * step, lowmem_reserve=lr, pcp_batch=batch,
                  pcp_high_min=high_min, pcp_high_max=high_max,
                  pcp_free_high_batch=data.draw(st.sampled_from([None, False, True])))
        self.both(lambda pa: pa.set_zone_tunables(i, **kw))

    def both(self, f):
        a, b = outcome(lambda: f(self.c)), outcome(lambda: f(self.r))
        assert a == b, (a, b)
        return a

    @rule(gfp=st.sampled_from(GFPS), order=st.sampled_from([0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 9, 10]),
          cpu=st.integers(0, 2))
    def alloc(self, gfp, order, cpu):
        cpu %= self.cpus
        order = min(order, self.max_order)
        res = self.both(lambda pa: pa.alloc_pages(gfp, order, cpu))
        if res[0] == "ok":
            self.held.append((res[1], order))

    @rule(gfp=st.sampled_from(GFPS), order=st.sampled_from([0, 0, 1, 2, 3, 4, 5]),
          n=st.integers(1, 300), cpu=st.integers(0, 2))
    def alloc_many(self, gfp, order, n, cpu):
        for _ in range(n):
            self.alloc(gfp, order, cpu)

    @rule(gfp=st.sampled_from(GFPS), count=st.integers(0, 400), cpu=st.integers(0, 2))
    def alloc_bulk(self, gfp, count, cpu):
        cpu %= self.cpus
        res = self.both(lambda pa: pa.alloc_pages_bulk(gfp, count, cpu))
        self.held += [(p, 0) for p in res[1]]

    @precondition(lambda self: self.held)
    @rule(data=st.data(), cpu=st.integers(0, 2))
    def free(self, data, cpu):
        pfn, order = self.held.pop(data.draw(st.integers(0, len(self.held) - 1)))
        res = self.both(lambda pa: pa.free_pages(pfn, order, cpu % self.cpus))
        assert res[0] == "ok", res

    @precondition(lambda self: self.held)
    @rule(data=st.data(), cpu=st.integers(0, 2))
    def free_many(self, data, cpu):
        """Free every k-th held block: fragments memory."""
        k = data.draw(st.integers(2, 5))
        keep = []
        for n, (pfn, order) in enumerate(self.held):
            if n % k:
                keep.append((pfn, order))
            else:
                res = self.both(lambda pa: pa.free_pages(pfn, order, cpu % self.cpus))
                assert res[0] == "ok", res
        self.held = keep

    @precondition(lambda self: self.held)
    @rule(data=st.data(), cpu=st.integers(0, 2), dup=st.booleans())
    def free_bulk(self, data, cpu, dup):
        zero = [h for h in self.held if h[1] == 0]
        chosen = []
        if zero:
            chosen = data.draw(st.lists(st.sampled_from(zero), unique=True, max_size=300))
        pfns = [p for p, _ in chosen]
        if dup and pfns:
            pfns.append(pfns[0])
        res = self.both(lambda pa: pa.free_pages_bulk(np.array(pfns, dtype=np.int64),
                                                       cpu % self.cpus))
        if res[0] == "ok":
            for h in chosen:
                self.held.remove(h)

    @rule(cpu=st.one_of(st.none(), st.integers(0, 2)))
    def drain(self, cpu):
        if cpu is not None:
            cpu %= self.cpus
        self.both(lambda pa: pa.drain_pages(cpu))

    @rule(data=st.data(), i=st.integers(0, 3))
    def retune(self, data, i):
        self.tune(i % self.c.nr_zones, data)

    @rule(i=st.integers(0, 3))
    def clear_boost(self, i):
        self.both(lambda pa: pa.clear_watermark_boost(i % pa.nr_zones))

    @rule(pfn=st.one_of(st.integers(-2, 20500), st.integers(NORMAL - 2, NORMAL + 8200)),
          order=st.integers(-1, 11), cpu=st.integers(-1, 3))
    def free_anything(self, pfn, order, cpu):
        res = self.both(lambda pa: pa.free_pages(pfn, order, cpu))
        if res[0] == "ok":
            self.held.remove((pfn, order))

    @rule(gfp=st.one_of(st.sampled_from(GFPS), st.integers(-1, 2**32 + 1)),
          order=st.integers(-2, 12), cpu=st.integers(-1, 3))
    def alloc_anything(self, gfp, order, cpu):
        res = self.both(lambda pa: pa.alloc_pages(gfp, order, cpu))
        if res[0] == "ok":
            self.held.append((res[1], order))

    @rule(pfn=st.integers(-1, 20500))
    def page_info(self, pfn):
        self.both(lambda pa: pa.page_info(pfn))

    @invariant()
    def same_state(self):
        if not hasattr(self, "c"):
            return
        self.c.check()
        self.r.check()
        assert state(self.c) == state(self.r)
        assert lists(self.c) == lists(self.r)


TestPageAllocMachine = PageAllocMachine.TestCase
