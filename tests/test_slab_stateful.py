"""Stateful differential test: the C slab allocator and the reference twin, step by step.

Both run over buddy allocators that hand out identical pfns; every result, every error type
and message must agree, and check() (each object in exactly one place, list membership matching
inuse, pages accounted) holds after every step.
"""
import numpy as np
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import linuxmm
import linuxmm.reference
from linuxmm.slab import flags as F

PAGE_OFFSET = 0xffff888000000000
SIZES = st.sampled_from([8, 16, 24, 64, 96, 100, 192, 256, 500, 1000, 2048, 4096, 5000])
FLAGS = st.sampled_from([0, F.SLAB_HWCACHE_ALIGN, F.SLAB_RECLAIM_ACCOUNT, F.SLAB_NO_MERGE,
                         F.SLAB_ACCOUNT, F.SLAB_TYPESAFE_BY_RCU, F.SLAB_POISON | F.SLAB_RED_ZONE,
                         F.SLAB_STORE_USER, F.SLAB_CONSISTENCY_CHECKS])
GFPS = st.sampled_from([F.GFP_KERNEL, F.GFP_ATOMIC, F.GFP_KERNEL | F.GFP_RECLAIMABLE,
                        F.GFP_KERNEL_ACCOUNT, F.GFP_KERNEL | F.GFP_DMA])
KSIZES = st.one_of(st.integers(0, 300), st.sampled_from([1000, 4096, 8192, 8193, 20000, 70000,
                                                          1 << 20, (4 << 20) + 1]))


def outcome(fn, *args):
    """(result, None) or (None, (type name, message))."""
    try:
        r = fn(*args)
    except Exception as e:          # noqa: BLE001 - compared across backends
        return None, (type(e).__name__, str(e))
    if isinstance(r, np.ndarray):
        r = r.tolist()
    return r, None


class SlabMachine(RuleBasedStateMachine):
    @initialize(pages=st.sampled_from([256, 1024, 4096]), nomerge=st.booleans())
    def setup(self, pages, nomerge):
        self.buddies = [m.BuddyAllocator(pages, max_order=10) for m in (linuxmm, linuxmm.reference)]
        self.sas = [m.SlabAllocator(b, slab_nomerge=nomerge)
                    for m, b in zip((linuxmm, linuxmm.reference), self.buddies)]
        self.caches = []            # (c cache, reference cache)
        self.objs = []              # (cache index or -1 for kmalloc, addr)
        self.freed = []

    def both(self, fn):
        rc, ec = outcome(fn, 0)
        rr, er = outcome(fn, 1)
        assert ec == er, (ec, er)
        if isinstance(rc, (linuxmm.KmemCache, linuxmm.reference.KmemCache)):
            assert rc.name == rr.name and rc.index == rr.index
        else:
            assert rc == rr, (rc, rr)
        return rc, ec

    @rule(size=SIZES, flags=FLAGS, align=st.sampled_from([0, 0, 64]), ctor=st.booleans())
    def create(self, size, flags, align, ctor):
        fn = (lambda a: None) if ctor else None
        made = [None, None]

        def go(i):
            made[i] = self.sas[i].kmem_cache_create(f"c{len(self.caches)}", size, align=align,
                                                    flags=flags, ctor=fn)
            return made[i]
        r, err = self.both(go)
        if err is None:
            self.caches.append(tuple(made))

    @precondition(lambda self: self.caches)
    @rule(data=st.data(), gfp=GFPS)
    def alloc(self, data, gfp):
        i = data.draw(st.integers(0, len(self.caches) - 1))
        addr, err = self.both(lambda b: self.caches[i][b].alloc(gfp))
        if err is None:
            self.objs.append((i, addr))

    @precondition(lambda self: self.caches)
    @rule(data=st.data(), n=st.integers(0, 70))
    def alloc_bulk(self, data, n):
        i = data.draw(st.integers(0, len(self.caches) - 1))
        addrs, err = self.both(lambda b: self.caches[i][b].alloc_bulk(n))
        if err is None:
            self.objs += [(i, a) for a in addrs]

    @rule(data=st.data(), size=KSIZES, gfp=GFPS)
    def kmalloc(self, data, size, gfp):
        addr, err = self.both(lambda b: self.sas[b].kmalloc(size, gfp))
        if err is None and addr != 16:
            self.objs.append((-1, addr))

    @precondition(lambda self: self.objs)
    @rule(data=st.data(), how=st.sampled_from(["own", "kfree", "other", "interior"]))
    def free(self, data, how):
        k = data.draw(st.integers(0, len(self.objs) - 1))
        ci, addr = self.objs[k]
        if how == "interior":
            addr += data.draw(st.sampled_from([1, 8, 4096]))
        if how == "kfree" or ci < 0:
            r, err = self.both(lambda b: self.sas[b].kfree(addr))
        else:
            j = ci if how != "other" else data.draw(st.integers(0, len(self.caches) - 1))
            r, err = self.both(lambda b: self.caches[j][b].free(addr))
        if err is None:
            self.freed.append(self.objs.pop(k))

    @precondition(lambda self: self.freed)
    @rule(data=st.data())
    def double_free(self, data):
        ci, addr = data.draw(st.sampled_from(self.freed))
        if ci < 0:
            r, err = self.both(lambda b: self.sas[b].kfree(addr))
        else:
            r, err = self.both(lambda b: self.caches[ci][b].free(addr))
        if err is None:      # the address was handed out again meanwhile
            self.objs = [(c, a) for c, a in self.objs if a != addr]

    @precondition(lambda self: self.caches)
    @rule(data=st.data(), dup=st.booleans())
    def free_bulk(self, data, dup):
        i = data.draw(st.integers(0, len(self.caches) - 1))
        mine = [(c, a) for c, a in self.objs if c >= 0 and self.caches[c][0] is self.caches[i][0]]
        pick = data.draw(st.lists(st.sampled_from(mine), unique=True, max_size=40)) if mine else []
        addrs = [a for _, a in pick] + ([pick[0][1]] if dup and pick else [])
        r, err = self.both(lambda b: self.caches[i][b].free_bulk(np.array(addrs, dtype=np.uint64)))
        if err is None:
            gone = set(addrs)
            self.freed += [o for o in self.objs if o[1] in gone]
            self.objs = [o for o in self.objs if o[1] not in gone]

    @precondition(lambda self: self.objs)
    @rule(data=st.data(), new=KSIZES)
    def krealloc_ksize(self, data, new):
        k = data.draw(st.integers(0, len(self.objs) - 1))
        ci, addr = self.objs[k]
        self.both(lambda b: self.sas[b].ksize(addr))
        if ci >= 0:
            return
        r, err = self.both(lambda b: self.sas[b].krealloc(addr, new))
        if err is None:
            self.objs.pop(k)
            if r != 16:
                self.objs.append((-1, r))

    @precondition(lambda self: self.caches)
    @rule(data=st.data())
    def shrink(self, data):
        i = data.draw(st.integers(0, len(self.caches) - 1))
        self.both(lambda b: self.caches[i][b].shrink())

    @precondition(lambda self: self.caches)
    @rule(data=st.data())
    def destroy(self, data):
        i = data.draw(st.integers(0, len(self.caches) - 1))
        r, err = self.both(lambda b: self.caches[i][b].destroy())
        if err is None and not self.caches[i][0].alive:
            self.objs = [o for o in self.objs if o[0] < 0 or self.caches[o[0]][0].alive]

    @invariant()
    def same_state(self):
        if not hasattr(self, "sas"):
            return
        c, r = self.sas
        for sa in self.sas:
            sa.check()
        assert c.slabinfo() == r.slabinfo()
        assert c.meminfo() == r.meminfo() and c.large_kmalloc() == r.large_kmalloc()
        assert self.buddies[0].nr_free == self.buddies[1].nr_free
        for cc, rc in zip(c.caches, r.caches):
            for which in ("partial", "full", "empty", "cpu", "cpu_partial"):
                pfns = cc.slab_list(which)
                assert pfns == rc.slab_list(which), which
                for pfn in pfns:            # every slab's freelist, in order
                    assert cc._core_freelist(pfn) == rc._core_freelist(pfn)
            assert cc.objects_in_use() == rc.objects_in_use()
            assert cc.stats() == rc.stats()


SlabMachine.TestCase.settings = SlabMachine.TestCase.settings  # profile from conftest
TestSlabDifferential = SlabMachine.TestCase


def test_kernel_backends_agree_over_the_page_allocator():
    """Through the Kernel (slabs from the page allocator engine's callbacks): the same calls give
    the same addresses, /proc/slabinfo and /proc/vmstat on both backends."""
    import random

    from linuxmm.kernel import Kernel
    ks = [Kernel("128M", backend=b) for b in ("c", "reference")]
    rnd = random.Random(4)
    caches = [[k.kmem_cache_create(f"t{i}", s, flags=f) for k in ks]
              for i, (s, f) in enumerate([(40, 0), (700, F.SLAB_RECLAIM_ACCOUNT),
                                          (3000, F.SLAB_HWCACHE_ALIGN)])]
    live = []
    for step in range(3000):
        r = rnd.random()
        if r < 0.3 or not live:
            size = rnd.choice([8, 50, 100, 300, 1000, 5000, 9000, 50000])
            gfp = rnd.choice([F.GFP_KERNEL, F.GFP_KERNEL_ACCOUNT, F.GFP_KERNEL | F.GFP_DMA])
            a = [k.kmalloc(size, gfp) for k in ks]
            assert a[0] == a[1]
            live.append((None, a[0]))
        elif r < 0.6:
            i = rnd.randrange(len(caches))
            a = [c.alloc() for c in caches[i]]
            assert a[0] == a[1]
            live.append((i, a[0]))
        else:
            i, addr = live.pop(rnd.randrange(len(live)))
            for j, k in enumerate(ks):
                if i is None:
                    k.kfree(addr)
                else:
                    caches[i][j].free(addr)
        if step % 500 == 0:
            for k in ks:
                k.slab.check()
            assert ks[0].read("/proc/slabinfo") == ks[1].read("/proc/slabinfo")
            assert ks[0].read("/proc/vmstat") == ks[1].read("/proc/vmstat")
