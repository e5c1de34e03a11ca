"""Issue 12: a Hypothesis test over the size/count/int-like arguments of the allocator and slab
public API (BuddyAllocator, Kernel.alloc_pages/free_pages(+_bulk), kmalloc/kfree, KmemCache
alloc/free(+_bulk)): both backends give the same result or the same exception type at every
step, and a refused call changes nothing (both end in the same state, check() holds)."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import linuxmm
import linuxmm.reference as R

_NP_INTS = (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)


@st.composite
def int_like(draw, typical):
    """An argument as a careless caller passes it: typical ints, edge ints, numpy integers,
    bools (Python and numpy), floats, None, strings."""
    kind = draw(st.sampled_from(["typical"] * 6 + ["edge", "numpy", "bool", "other"]))
    if kind == "typical":
        return draw(typical)
    if kind == "edge":
        return draw(st.sampled_from([-1, -(2**31), 2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63,
                                     2**64 - 1, 2**64, -(2**63), -(2**64)]))
    if kind == "numpy":
        value = draw(typical)
        dtype = draw(st.sampled_from(_NP_INTS))
        info = np.iinfo(dtype)
        return dtype(value) if info.min <= value <= info.max else dtype(0)
    if kind == "bool":
        return draw(st.sampled_from([True, False, np.bool_(True), np.bool_(False)]))
    return draw(st.sampled_from([1.0, 0.5, np.float32(1), None, "1", b"\x01"]))


ORDER = int_like(st.integers(0, 11))
COUNT = int_like(st.integers(0, 40))
CPU = int_like(st.integers(0, 2))
GFP = int_like(st.sampled_from([0xcc0, 0x100cca, 0xcc1, 0x400dc0, 0x3, 0]))
SIZE = int_like(st.integers(0, 20000))
INDEX = st.integers(0, 10_000)          # picks one of the handed-out pfns/addresses

OPS = st.one_of(
    st.tuples(st.just("b.alloc"), ORDER),
    st.tuples(st.just("b.free"), INDEX, ORDER),
    st.tuples(st.just("b.free_raw"), int_like(st.integers(0, 300)), ORDER),
    st.tuples(st.just("b.alloc_bulk"), COUNT, ORDER),
    st.tuples(st.just("b.free_bulk"), INDEX, ORDER),
    st.tuples(st.just("k.alloc_pages"), GFP, ORDER, CPU),
    st.tuples(st.just("k.free_pages"), INDEX, ORDER, CPU),
    st.tuples(st.just("k.alloc_pages_bulk"), GFP, COUNT, CPU),
    st.tuples(st.just("k.free_pages_bulk"), INDEX, CPU),
    st.tuples(st.just("k.kmalloc"), SIZE),
    st.tuples(st.just("k.kfree"), INDEX),
    st.tuples(st.just("k.kfree_raw"), int_like(st.integers(0, 2**20))),
    st.tuples(st.just("c.alloc")),
    st.tuples(st.just("c.free"), INDEX),
    st.tuples(st.just("c.free_raw"), int_like(st.integers(0, 2**20))),
    st.tuples(st.just("c.alloc_bulk"), COUNT),
    st.tuples(st.just("c.free_bulk"), INDEX),
)


class World:
    def __init__(self, mod):
        self.b = mod.BuddyAllocator(256, max_order=6)
        self.k = mod.Kernel("64M", cpus=2)
        self.c = self.k.kmem_cache_create("prop", 200)
        self.blocks, self.pages, self.kaddrs, self.objs = [], [], [], []

    def run(self, op):
        name, *args = op
        b, k, c = self.b, self.k, self.c
        if name == "b.alloc":
            pfn = b.alloc(args[0])
            self.blocks.append(pfn)
            return pfn
        if name == "b.free":
            return b.free(_pick(self.blocks, args[0]), args[1])
        if name == "b.free_raw":
            return b.free(*args)
        if name == "b.alloc_bulk":
            out = b.alloc_bulk(*args)
            self.blocks += out.tolist()
            return out.tolist()
        if name == "b.free_bulk":
            return b.free_bulk(self.blocks[args[0] % (len(self.blocks) + 1):], args[1])
        if name == "k.alloc_pages":
            pfn = k.alloc_pages(*args)
            self.pages.append(pfn)
            return pfn
        if name == "k.free_pages":
            return k.free_pages(_pick(self.pages, args[0]), args[1], args[2])
        if name == "k.alloc_pages_bulk":
            out = k.alloc_pages_bulk(*args)
            self.pages += out.tolist()
            return out.tolist()
        if name == "k.free_pages_bulk":
            return k.free_pages_bulk(self.pages[args[0] % (len(self.pages) + 1):], args[1])
        if name == "k.kmalloc":
            addr = k.kmalloc(args[0])
            self.kaddrs.append(addr)
            return addr
        if name == "k.kfree":
            return k.kfree(_pick(self.kaddrs, args[0]))
        if name in ("k.kfree_raw", "c.free_raw"):
            return (k.kfree if name == "k.kfree_raw" else c.free)(args[0])
        if name == "c.alloc":
            addr = c.alloc()
            self.objs.append(addr)
            return addr
        if name == "c.free":
            return c.free(_pick(self.objs, args[0]))
        if name == "c.alloc_bulk":
            out = c.alloc_bulk(args[0])
            self.objs += out.tolist()
            return out.tolist()
        if name == "c.free_bulk":
            return c.free_bulk(self.objs[args[0] % (len(self.objs) + 1):])
        raise AssertionError(name)

    def state(self):
        k = self.k
        zones = [(k._pa.nr_free_pages(i), tuple(k._pa.nr_free(i)),
                  tuple(k._pa.pcp_count(i, cpu) for cpu in range(k.cpus)))
                 for i in range(len(k._zone_names))]
        return (self.b.free_pages, tuple(self.b.nr_free), zones, self.c.inuse,
                k.read("/proc/slabinfo"))


def _pick(seq, i):
    return seq[i % len(seq)] if seq else 0


def _outcome(world, op):
    try:
        r = world.run(op)
    except Exception as e:          # noqa: BLE001 - the exception type is the result
        return ("raises", type(e).__name__)
    return ("ok", int(r) if isinstance(r, (int, np.integer)) else r)


@settings(deadline=None)
@given(st.lists(OPS, min_size=1, max_size=30))
def test_both_backends_agree_on_every_argument(ops):
    worlds = [World(linuxmm), World(R)]
    for op in ops:
        results = [_outcome(w, op) for w in worlds]
        assert results[0] == results[1], (op, results)
        assert worlds[0].state() == worlds[1].state(), op
    for w in worlds:
        w.k.check()
        w.b.check()
