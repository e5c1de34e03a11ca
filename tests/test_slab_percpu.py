"""SLUB's per-cpu layer and debug-cache list handling, worked by hand from mm/slub.c (6.12-6.17,
before sheaves): ___slab_alloc, get_partial_node, put_cpu_partial, __put_partials,
deactivate_slab, __slab_free, free_to_partial_list, build_detached_freelist, __kmem_cache_shrink,
get_slabinfo.  Both backends."""
import numpy as np
import pytest

from linuxmm.slab import flags as F


@pytest.fixture
def sa(backend):
    return backend.SlabAllocator(backend.BuddyAllocator(1 << 12))


def slabinfo_row(sa, name):
    line = [ln for ln in sa.slabinfo().splitlines() if ln.startswith(name + " ")][0].split()
    return int(line[1]), int(line[2]), int(line[13])


def pfn_of(sa, addr):
    return sa.object_info(int(addr))["pfn"]


def test_twenty_of_sixteen_shows_32_32(sa):
    c = sa.kmem_cache_create("pc256", 256, flags=F.SLAB_NO_MERGE)      # 16 a slab
    objs = [c.alloc() for _ in range(20)]
    # slab 1 became full and was dropped by the 17th allocation; slab 2 is the cpu slab
    assert c.slab_list("full") == [pfn_of(sa, objs[0])]
    assert c.slab_list("cpu") == [pfn_of(sa, objs[16])]
    assert slabinfo_row(sa, "pc256") == (32, 32, 2)
    assert c.inuse == 20
    assert c.shrink() == 1          # flush: the cpu slab goes to the node partial head
    assert c.slab_list("partial") == [pfn_of(sa, objs[16])] and c.slab_list("cpu") == []
    assert slabinfo_row(sa, "pc256") == (20, 32, 2)
    sa.check()


def test_cpu_slab_keeps_its_frees_until_the_next_allocation(sa):
    c = sa.kmem_cache_create("pc64", 64, flags=F.SLAB_NO_MERGE)        # 64 a slab
    objs = c.alloc_bulk(64)                     # the cpu slab is exhausted but still c->slab
    c.free(int(objs[5]))                        # do_slab_free() fast path: c->freelist
    assert c.slab_list("cpu") == [pfn_of(sa, objs[0])] and c.slab_list("cpu_partial") == []
    assert c.alloc() == int(objs[5])
    b = c.alloc()                               # exhausted: the slab is left full, a new one
    assert c.slab_list("full") == [pfn_of(sa, objs[0])]
    assert c.slab_list("cpu") == [pfn_of(sa, b)]
    c.free(int(objs[7]))                        # a full slab regains an object: cpu partial
    assert c.slab_list("cpu_partial") == [pfn_of(sa, objs[0])] and c.slab_list("full") == []
    sa.check()


def test_get_partial_node_refills_cpu_partial_and_shrink_order(sa):
    c = sa.kmem_cache_create("pc64b", 64, flags=F.SLAB_NO_MERGE)
    st = c.stats()
    assert (st["cpu_partial_slabs"], c.min_partial) == (4, 5)    # DIV_ROUND_UP(120 * 2, 64)
    objs = c.alloc_bulk(64 * 6).reshape(6, 64)                   # slabs 1..5 full, 6 cpu
    pfn = [None] + [pfn_of(sa, objs[i, 0]) for i in range(6)]
    for i in range(5):
        c.free(int(objs[i, 0]))
    # 1..4 to the cpu partial list (head first 4 3 2 1); 5 drains them to the node tail
    assert c.slab_list("cpu_partial") == [pfn[5]]
    assert c.slab_list("partial") == [pfn[4], pfn[3], pfn[2], pfn[1]]
    assert c.shrink() == 1
    # flush: cpu slab 6 (no free object) is left full, cpu partial 5 goes to the node tail;
    # then every slab has 1 free object: list_move() into promote[0] reverses the scan order
    assert c.slab_list("full") == [pfn[6]]
    assert c.slab_list("partial") == [pfn[5], pfn[1], pfn[2], pfn[3], pfn[4]]
    a = c.alloc()
    # get_partial_node(): 5 becomes the cpu slab; 1, 2, 3 are put on the cpu partial list
    # (head first) until more than cpu_partial_slabs / 2 = 2 were moved
    assert a == int(objs[4, 0])
    assert c.slab_list("cpu") == [pfn[5]]
    assert c.slab_list("cpu_partial") == [pfn[3], pfn[2], pfn[1]]
    assert c.slab_list("partial") == [pfn[4]]
    # only the free object on the node partial list is inactive
    assert slabinfo_row(sa, "pc64b") == (6 * 64 - 1, 6 * 64, 6) and c.inuse == 6 * 64 - 4
    sa.check()


def test_free_bulk_builds_detached_freelists_from_the_end(sa):
    c = sa.kmem_cache_create("pc64c", 64, flags=F.SLAB_NO_MERGE)
    objs = c.alloc_bulk(128).reshape(2, 64)         # slab 0 full, slab 1 the cpu slab
    a0, a1, a2 = (int(x) for x in objs[0, :3])
    b0, b1, b2, b3 = (int(x) for x in objs[1, :4])
    c.free_bulk([a0, b1, a1, b2, a2, b0, b3])
    # build_detached_freelist() from the end: b3 starts a group; b0 (p[5]) hits, a2 misses,
    # b2 (p[3]) hits and is swapped with p[4], a1 misses, b1 (p[1]) hits and is swapped with
    # p[3]; the array is done.  The group is pushed b3 b0 b2 b1, so b1 heads the freelist.
    assert c._core_freelist(pfn_of(sa, b0))[:4] == [1, 2, 0, 3]
    # what is left is [a0, a2, a1]: one group a1 a2 a0, a0 at the head; slab 0 was full, so it
    # went to the cpu partial list
    assert c._core_freelist(pfn_of(sa, a0))[:3] == [0, 2, 1]
    assert c.slab_list("cpu_partial") == [pfn_of(sa, a0)]
    sa.check()


def test_debug_cache_lists_follow_free_to_partial_list(sa):
    c = sa.kmem_cache_create("pcdbg", 24, flags=F.SLAB_STORE_USER)      # 88 bytes, 46 a slab
    assert (c.size, c.objperslab, c.min_partial) == (88, 46, 5)
    assert c.stats()["cpu_partial_slabs"] == 0                           # no cpu slabs
    objs = c.alloc_bulk(46 * 6).reshape(6, 46)
    pfn = [pfn_of(sa, objs[i, 0]) for i in range(6)]
    # alloc_single_from_new_slab(): every slab filled in turn and moved to the full list
    assert c.slab_list("full") == pfn[::-1] and c.slab_list("cpu") == []
    assert slabinfo_row(sa, "pcdbg") == (276, 276, 6)
    for i in range(5):
        c.free(int(objs[i, 0]))         # full -> add_partial(DEACTIVATE_TO_TAIL)
    assert c.slab_list("partial") == pfn[:5]
    assert slabinfo_row(sa, "pcdbg") == (271, 276, 6)                  # active = in use
    assert c.alloc() == int(objs[0, 0])  # alloc_single_from_partial(): the head slab
    assert c.slab_list("partial") == pfn[1:5]
    c.free(int(objs[0, 0]))
    assert c.slab_list("partial") == pfn[1:5] + pfn[:1]
    # slab 0 empties while the node has 5 partial slabs: discarded
    c.free_bulk(objs[0, 1:])
    assert c.slab_list("partial") == pfn[1:5]
    # slab 5 (full) freed in one group: inuse 0, but nr_partial 4 < min_partial, so it is
    # added to the partial tail, empty (one object at a time it would have been discarded)
    c.free_bulk(objs[5])
    assert c.slab_list("partial") == pfn[1:6] and c.slab_list("empty") == [pfn[5]]
    assert c.stats()["nr_slabs"] == 5
    sa.check()


def test_kmalloc_slabinfo_counts_cpu_slab_objects(backend):
    k = backend.Kernel("64M")
    a = k.kmalloc(100)                              # kmalloc-128: 32 a slab
    line = [ln for ln in k.read("/proc/slabinfo").splitlines() if ln.startswith("kmalloc-128 ")]
    assert line[0].split()[1:3] == ["32", "32"]
    k.kfree(a)
    assert k.slab.cache("kmalloc-128").inuse == 0


def test_slabinfo_approximates_partial_free_above_10000_slabs(backend):
    """count_partial_free_approx(): above MAX_PARTIAL_TO_SCAN (10000) node partial slabs only
    the first and last 5000 are counted, scaled by nr_partial / 10000."""
    sa = backend.SlabAllocator(backend.BuddyAllocator(1 << 14), boot=False)
    c = sa.kmem_cache_create("many", 64, flags=F.SLAB_NO_MERGE)       # 64 a slab
    n_slabs = 10100
    objs = c.alloc_bulk(64 * n_slabs).reshape(n_slabs, 64)
    # 1, 2 or 3 free objects in each slab: every full slab goes through the cpu partial list
    # to the node partial list
    c.free_bulk(np.concatenate([objs[i, :1 + i % 3] for i in range(n_slabs)]))
    st = c.stats()
    partial = c.slab_list("partial")
    assert st["nr_partial"] == len(partial) > 10000
    free = [len(c._core_freelist(pfn)) for pfn in partial]
    exact = sum(free)
    scanned = sum(free[:5000]) + sum(free[-5000:])
    approx = scanned * len(free) // 10000                               # mult_frac()
    assert approx != exact
    assert st["partial_free"] == approx
    assert slabinfo_row(sa, "many") == (64 * n_slabs - approx, 64 * n_slabs, n_slabs)
