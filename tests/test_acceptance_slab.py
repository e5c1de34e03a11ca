"""Acceptance tests for issue 4 (slab allocator), written from the issue text alone.

Every expected value is derived by hand from the kernel's rules (mm/slab_common.c, mm/slub.c,
include/linux/slab.h of Linux 6.18, x86_64, 2 CPUs) or read from this host's /proc, never
printed by the code under test.  Each test runs on both backends.
"""
import inspect

import pytest

import linuxmm
from linuxmm import InvalidFree, InvariantError, Kernel, MMError
from linuxmm.gfp import GFP_KERNEL, GFP_KERNEL_ACCOUNT, __GFP_DMA, __GFP_RECLAIMABLE

PAGE_OFFSET = 0xffff888000000000
PAGE_SIZE = 4096
ZERO_SIZE_PTR = 16

FLAG_NAMES = ("SLAB_HWCACHE_ALIGN", "SLAB_POISON", "SLAB_RED_ZONE", "SLAB_STORE_USER",
              "SLAB_RECLAIM_ACCOUNT", "SLAB_TYPESAFE_BY_RCU", "SLAB_ACCOUNT", "SLAB_NO_MERGE")


@pytest.fixture
def k(backend_name):
    return Kernel("1G", backend=backend_name)


def slabinfo_rows(kern):
    """{name: (active_objs, num_objs, objsize, objperslab, pagesperslab, active_slabs,
    num_slabs)} from k.read('/proc/slabinfo')."""
    rows = {}
    for line in kern.read("/proc/slabinfo").splitlines()[2:]:
        f = line.split()
        rows[f[0]] = tuple(int(x) for x in (f[1], f[2], f[3], f[4], f[5], f[13], f[14]))
    return rows


def meminfo(kern):
    return {line.split(":")[0]: int(line.split()[1])
            for line in kern.read("/proc/meminfo").splitlines()}


def vmstat(kern):
    return {line.split()[0]: int(line.split()[1])
            for line in kern.read("/proc/vmstat").splitlines()}


def snapshot(kern):
    return kern.read("/proc/slabinfo"), kern.read("/proc/meminfo"), kern.read("/proc/vmstat")


def kmalloc_class(n):
    """By hand: kmalloc_size_index[] for 1..192, fls(n - 1) above."""
    for cls in (8, 16, 32, 64, 96, 128, 192):
        if n <= cls:
            return cls
    return 1 << (n - 1).bit_length()


def class_name(cls):
    return f"{cls // 1024}k" if cls >= 1024 else str(cls)


# -- names and signatures ---------------------------------------------------------------------

def test_flag_names_importable_with_6_18_values(backend):
    # Linux 6.18 include/linux/slab.h: SLAB_x = 1U << _SLAB_x (enum _slab_flag_bits); with the
    # reference config (no DEBUG_OBJECTS, FAILSLAB, KASAN_GENERIC, KFENCE; MEMCG on) the bits are
    # CONSISTENCY_CHECKS 0, RED_ZONE 1, POISON 2, KMALLOC 3, HWCACHE_ALIGN 4, CACHE_DMA 5,
    # CACHE_DMA32 6, STORE_USER 7, PANIC 8, TYPESAFE_BY_RCU 9, TRACE 10, NOLEAKTRACE 11,
    # NO_MERGE 12, ACCOUNT 13, NO_USER_FLAGS 14, RECLAIM_ACCOUNT 15.
    expected = {"SLAB_HWCACHE_ALIGN": 1 << 4, "SLAB_POISON": 1 << 2, "SLAB_RED_ZONE": 1 << 1,
                "SLAB_STORE_USER": 1 << 7, "SLAB_RECLAIM_ACCOUNT": 1 << 15,
                "SLAB_TYPESAFE_BY_RCU": 1 << 9, "SLAB_ACCOUNT": 1 << 13, "SLAB_NO_MERGE": 1 << 12}
    for name in FLAG_NAMES:
        assert getattr(linuxmm, name) == expected[name], name
        assert getattr(backend, name) == expected[name], name
        assert name in linuxmm.__all__
    from linuxmm import SLAB_HWCACHE_ALIGN, SLAB_NO_MERGE  # noqa: F401


def test_kmem_cache_create_signature(k):
    sig = inspect.signature(k.kmem_cache_create)
    params = sig.parameters
    assert list(params)[:2] == ["name", "size"]
    for name, default in (("align", 0), ("flags", 0), ("ctor", None)):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[name].default == default
    c = k.kmem_cache_create("acc_sig", 40)
    assert isinstance(c, (linuxmm.KmemCache, linuxmm.reference.KmemCache))
    assert c.name == "acc_sig"
    sig = inspect.signature(c.alloc)
    assert sig.parameters["gfp"].default == GFP_KERNEL
    sig = inspect.signature(k.kmalloc)
    assert list(sig.parameters) == ["size", "gfp"] and sig.parameters["gfp"].default == GFP_KERNEL
    with pytest.raises(TypeError):
        k.kmem_cache_create("acc_sig2", 40, 8)          # align is keyword-only


# -- geometry -----------------------------------------------------------------------------------

# (size, kwargs) -> (slabinfo objsize, objperslab, pagesperslab, min_partial), by hand with
# min_objects = 4 * (fls(2) + 1) = 12 and calculate_sizes()/calc_slab_order():
GEOMETRY = [
    # 24: ALIGN(24, 8) = 24, free pointer inside; 12*24 -> order 0; 4096 % 24 = 16 <= 256
    ((24, {}), (24, 170, 1, 5)),
    # HWCACHE_ALIGN: 200 > 32 keeps the 64-byte line: 256; 4096 / 256 = 16
    ((200, {"flags": "SLAB_HWCACHE_ALIGN"}), (256, 16, 1, 5)),
    # HWCACHE_ALIGN, 20 <= 32 halves the line to 32 (20 > 16): ALIGN(24, 32) = 32
    ((20, {"flags": "SLAB_HWCACHE_ALIGN"}), (32, 128, 1, 5)),
    # align=256: 100 -> 104 -> 256
    ((100, {"align": 256}), (256, 16, 1, 5)),
    # ctor: free pointer after the object: 24 + 8 = 32
    ((24, {"ctor": True}), (32, 128, 1, 5)),
    # TYPESAFE_BY_RCU: 64 + 8 = 72; 4096 % 72 = 64 <= 256 -> order 0, 56 objects
    ((64, {"flags": "SLAB_TYPESAFE_BY_RCU"}), (72, 56, 1, 5)),
    # POISON: free pointer after the object: 24 + 8 = 32
    ((24, {"flags": "SLAB_POISON"}), (32, 128, 1, 5)),
    # RED_ZONE: size == object_size -> +8 (32); pointer inside; +8 right, +8 left pad = 48;
    # 4096 % 48 = 16 -> 85 objects
    ((24, {"flags": "SLAB_RED_ZONE"}), (48, 85, 1, 5)),
    # POISON|RED_ZONE: 32, pointer after (40), +8 +8 = 56; 4096 % 56 = 8 -> 73 objects
    ((24, {"flags": "SLAB_POISON|SLAB_RED_ZONE"}), (56, 73, 1, 5)),
    # STORE_USER: 24 + 2 * sizeof(struct track) (32) = 88; 4096 % 88 = 48 -> 46 objects
    ((24, {"flags": "SLAB_STORE_USER"}), (88, 46, 1, 5)),
    # 1000: 12 * 1000 -> order 2; 16384 % 1000 = 384 <= 1024 -> 16 objects, 4 pages
    ((1000, {"flags": "SLAB_RECLAIM_ACCOUNT"}), (1000, 16, 4, 5)),
    # 632: order 1 wastes 608 > 512; order 2: 584 <= 1024 -> 25 objects (hugetlbfs_inode_cache)
    ((632, {}), (632, 25, 4, 5)),
    # 4224: min(12, 32768 / 4224 = 7) -> order 3; 1/16: 3200 > 2048; 1/8: 3200 <= 4096 -> 7
    ((4224, {}), (4224, 7, 8, 6)),
    # 8192: min_partial = ilog2(8192) / 2 = 6
    ((8192, {}), (8192, 4, 8, 6)),
]


def _kwargs(kw):
    out = dict(kw)
    if "flags" in out:
        flags = 0
        for name in out["flags"].split("|"):
            flags |= getattr(linuxmm, name)
        out["flags"] = flags
    if out.get("ctor"):
        out["ctor"] = lambda addr: None
    return out


@pytest.mark.parametrize("case", range(len(GEOMETRY)))
def test_geometry_by_hand(backend_name, case):
    (size, kw), (objsize, perslab, pages, min_partial) = GEOMETRY[case]
    k = Kernel("1G", backend=backend_name, slab_nomerge=True)
    c = k.kmem_cache_create(f"acc_geom{case}", size, **_kwargs(kw))
    assert (c.size, c.objperslab, c.pagesperslab, c.min_partial) == (objsize, perslab, pages,
                                                                     min_partial)
    assert c.object_size == size
    a = c.alloc()
    row = slabinfo_rows(k)[f"acc_geom{case}"]
    # the slab is the cpu slab (its free objects count as active), except for debug caches
    # (kmem_cache_debug()), whose slab is on the node partial list
    active = 1 if c.flags & linuxmm.slab.flags.SLAB_DEBUG_FLAGS else perslab
    assert row == (active, perslab, objsize, perslab, pages, 1, 1)
    c.free(a)


def _present_cpus():
    try:
        text = open("/sys/devices/system/cpu/present").read().strip()
    except OSError:
        return None
    n = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        n += int(hi or lo) - int(lo) + 1
    return n


def test_geometry_matches_every_line_of_host_slabinfo(backend_name):
    try:
        text = open("/proc/slabinfo").read()
    except OSError:
        pytest.skip("/proc/slabinfo not readable")
    cpus = _present_cpus()
    if cpus is None:
        pytest.skip("no /sys/devices/system/cpu/present")
    k = Kernel("1G", backend=backend_name, cpus=cpus)
    lines = text.splitlines()[2:]
    assert lines
    for i, line in enumerate(lines):
        f = line.split()
        objsize, perslab, pages = int(f[3]), int(f[4]), int(f[5])
        c = k.kmem_cache_create(f"host{i}", objsize)
        assert (c.size, c.objperslab, c.pagesperslab) == (objsize, perslab, pages), line


# -- merging ------------------------------------------------------------------------------------

def test_merging_and_aliases(k):
    S = linuxmm
    a = k.kmem_cache_create("acc_m104", 104)
    b = k.kmem_cache_create("acc_m100", 100)            # ALIGN(100, 8) = 104: alias of a
    assert b is a
    rows = slabinfo_rows(k)
    assert "acc_m104" in rows and "acc_m100" not in rows
    assert k.kmem_cache_create("acc_m96", 96) is not a  # 104 - 96 = 8: too much waste
    # a flag of SLAB_NEVER_MERGE, or a ctor, keeps a new cache apart
    for flag in ("SLAB_POISON", "SLAB_RED_ZONE", "SLAB_STORE_USER", "SLAB_TYPESAFE_BY_RCU",
                 "SLAB_NO_MERGE"):
        assert k.kmem_cache_create(f"acc_m_{flag}", 104, flags=getattr(S, flag)) is not a
    assert k.kmem_cache_create("acc_m_ctor", 104, ctor=lambda p: None) is not a
    # SLAB_MERGE_SAME flags must be equal
    r1 = k.kmem_cache_create("acc_m_rcl1", 104, flags=S.SLAB_RECLAIM_ACCOUNT)
    assert r1 is not a
    assert k.kmem_cache_create("acc_m_rcl2", 104, flags=S.SLAB_RECLAIM_ACCOUNT) is r1
    g1 = k.kmem_cache_create("acc_m_acct1", 104, flags=S.SLAB_ACCOUNT)
    assert g1 is not a and g1 is not r1
    # HWCACHE_ALIGN 100 -> align 64, size 128; a plain 128 then fits it exactly
    h = k.kmem_cache_create("acc_m_hw", 100, flags=S.SLAB_HWCACHE_ALIGN)
    assert h.size == 128
    assert k.kmem_cache_create("acc_m_128", 128) is h
    # kmalloc caches and the boot caches kmem_cache (256) / kmem_cache_node (128) are never
    # merge targets: a plain 256-byte cache is a new cache
    c256 = k.kmem_cache_create("acc_m_256", 256)
    assert c256.name == "acc_m_256"
    assert "acc_m_256" in slabinfo_rows(k)
    k.check()


def test_destroy_alias_drops_one_reference(k):
    a = k.kmem_cache_create("acc_d104", 104)
    b = k.kmem_cache_create("acc_d100", 100)
    assert b is a
    b.destroy()
    assert "acc_d104" in slabinfo_rows(k)
    x = a.alloc()
    a.free(x)
    a.destroy()
    assert "acc_d104" not in slabinfo_rows(k)


def test_slab_nomerge(backend_name):
    k = Kernel("1G", backend=backend_name, slab_nomerge=True)
    a = k.kmem_cache_create("acc_n1", 104)
    b = k.kmem_cache_create("acc_n2", 104)
    assert a is not b
    rows = slabinfo_rows(k)
    assert "acc_n1" in rows and "acc_n2" in rows


# -- objects, addresses, pages ----------------------------------------------------------------

def test_alloc_returns_direct_map_address_and_virt_to_page(k):
    c = k.kmem_cache_create("acc_va", 200, flags=linuxmm.SLAB_HWCACHE_ALIGN)   # 256 x 16
    addrs = [c.alloc() for _ in range(16)]
    assert all(isinstance(a, int) for a in addrs)
    assert all(PAGE_OFFSET <= a < PAGE_OFFSET + (1 << 30) for a in addrs)
    base = addrs[0] & ~(PAGE_SIZE - 1)
    assert sorted(addrs) == [base + i * 256 for i in range(16)]      # one order-0 slab
    for a in addrs:
        page = k.virt_to_page(a)
        assert page.pfn == (a - PAGE_OFFSET) >> 12
        assert page.slab_cache is c
    # an order-2 slab: objects in every page of it find the same cache
    big = k.kmem_cache_create("acc_va2", 1000)                          # 1000 x 16, 4 pages
    objs = [big.alloc() for _ in range(16)]
    pfns = {(a - PAGE_OFFSET) >> 12 for a in objs}
    assert len(pfns) == 4
    assert {k.virt_to_page(a).slab_cache.name for a in objs} == {"acc_va2"}
    assert all(k.page(pfn).slab_cache is big for pfn in pfns)
    for a in objs:
        big.free(a)
    for a in addrs:
        c.free(a)
    k.check()


def test_free_alloc_bulk_free_bulk_shrink(k):
    c = k.kmem_cache_create("acc_bulk", 64)                           # 64 x 64, order 0
    v0 = vmstat(k)["nr_slab_unreclaimable"]
    objs = c.alloc_bulk(640)
    assert len(objs) == 640 and len({int(a) for a in objs}) == 640
    rows = slabinfo_rows(k)
    assert rows["acc_bulk"] == (640, 640, 64, 64, 1, 10, 10)
    assert vmstat(k)["nr_slab_unreclaimable"] == v0 + 10
    one = c.alloc()                          # the exhausted cpu slab is left full: a new one
    assert slabinfo_rows(k)["acc_bulk"] == (704, 704, 64, 64, 1, 11, 11)
    c.free(one)
    c.free_bulk(objs)
    # From the end: slabs 10..7 go to the cpu partial list (cpu_partial_slabs =
    # DIV_ROUND_UP(120 * 2, 64) = 4); slab 6 drains them to the node partial tail (4 empty
    # slabs); 5..3 join 6; slab 2 drains them: 3 makes the node's 5th (min_partial) partial
    # slab, 4, 5, 6 are discarded; slab 1 joins 2.  Kept: the cpu slab 11, cpu partial 1, 2,
    # node 7, 8, 9, 10, 3: 8 slabs, of which only the node's 5 * 64 free objects are inactive.
    assert c.inuse == 0
    assert slabinfo_rows(k)["acc_bulk"] == (192, 512, 64, 64, 1, 8, 8)
    assert c.shrink() == 0                                           # no slab left
    assert slabinfo_rows(k)["acc_bulk"] == (0, 0, 64, 64, 1, 0, 0)
    assert vmstat(k)["nr_slab_unreclaimable"] == v0
    k.check()


def test_empty_slabs_kept_up_to_min_partial(k):
    c = k.kmem_cache_create("acc_minp", 64)
    objs = c.alloc_bulk(64 * 20)                    # slabs 1..19 full, 20 the (full) cpu slab
    pfn = [None] + [k.virt_to_page(int(objs[64 * i])).pfn for i in range(20)]
    c.free_bulk(objs)
    # 20: cpu slab; 19..16 to the cpu partial list; 15 drains 16..19 to the node (4 slabs);
    # 14..12 join 15; 11 drains them: 12 is the node's 5th slab, 13..15 discarded; 10..8 join
    # 11; 7 drains them (all discarded), 6..4 join 7; 3 drains them; 2, 1 join 3.
    assert c.slab_list("cpu") == [pfn[20]]
    assert c.slab_list("cpu_partial") == [pfn[1], pfn[2], pfn[3]]
    assert c.slab_list("partial") == [pfn[16], pfn[17], pfn[18], pfn[19], pfn[12]]
    assert c.slab_list("empty") == c.slab_list("partial")
    assert slabinfo_rows(k)["acc_minp"] == (4 * 64, 9 * 64, 64, 64, 1, 9, 9)
    c.shrink()
    assert slabinfo_rows(k)["acc_minp"][6] == 0


def test_free_bulk_is_all_or_nothing(k):
    c = k.kmem_cache_create("acc_bulk2", 64)
    objs = c.alloc_bulk(10)
    other = k.kmem_cache_create("acc_bulk3", 64, flags=linuxmm.SLAB_NO_MERGE)
    x = other.alloc()
    before = snapshot(k)
    with pytest.raises(InvalidFree):
        c.free_bulk(list(objs) + [x])
    assert snapshot(k) == before
    c.free_bulk(objs)
    other.free(x)


def test_destroy_refuses_while_objects_remain(k):
    c = k.kmem_cache_create("acc_destroy", 64, flags=linuxmm.SLAB_NO_MERGE)
    a, b = c.alloc(), c.alloc()
    before = snapshot(k)
    with pytest.raises(MMError) as e:
        c.destroy()
    assert f"{a:x}" in str(e.value) and f"{b:x}" in str(e.value)
    assert "acc_destroy" in str(e.value)
    assert snapshot(k) == before
    c.free(a)
    c.free(b)
    v0 = vmstat(k)["nr_slab_unreclaimable"]
    c.destroy()
    assert "acc_destroy" not in slabinfo_rows(k)
    assert vmstat(k)["nr_slab_unreclaimable"] == v0 - 1              # its empty slab went back
    k.check()


def test_ctor_runs_when_a_slab_is_populated(k):
    calls = []
    c = k.kmem_cache_create("acc_ctor", 24, ctor=calls.append)        # 32 x 128, order 0
    a = c.alloc()
    slab = (a - PAGE_OFFSET) & ~(PAGE_SIZE - 1)
    assert calls == [PAGE_OFFSET + slab + i * 32 for i in range(128)]
    b = c.alloc()
    assert len(calls) == 128                                         # same slab: no new calls
    more = c.alloc_bulk(128)                                         # fills slab 1, starts slab 2
    assert len(calls) == 256
    c.free_bulk(more)
    c.free(a)
    c.free(b)
    c.shrink()
    c.alloc()                                                        # a new slab again
    assert len(calls) == 384


# -- kmalloc ------------------------------------------------------------------------------------

def test_kmalloc_class_of_every_size(k):
    addrs = []
    for n in range(1, 8193):
        a = k.kmalloc(n)
        assert k.ksize(a) == kmalloc_class(n), n
        addrs.append(a)
    counts = {}
    for n in range(1, 8193):
        counts[kmalloc_class(n)] = counts.get(kmalloc_class(n), 0) + 1
    for cls, count in counts.items():
        assert k.slab.cache(f"kmalloc-{class_name(cls)}").inuse == count, cls
    for a in addrs:
        k.kfree(a)
    assert all(k.slab.cache(f"kmalloc-{class_name(cls)}").inuse == 0 for cls in counts)
    k.check()


def test_kmalloc_zero_and_kfree_noops(k):
    assert k.kmalloc(0) == ZERO_SIZE_PTR
    before = snapshot(k)
    k.kfree(0)
    k.kfree(ZERO_SIZE_PTR)
    assert snapshot(k) == before
    assert k.ksize(0) == 0 and k.ksize(ZERO_SIZE_PTR) == 0
    k.kfree(None)                              # NULL
    assert snapshot(k) == before


def test_large_kmalloc_is_compound_pages(k):
    m0, v0 = meminfo(k), vmstat(k)
    a = k.kmalloc(100_000)                    # get_order(100000) = 5: 32 pages, 128 kB
    assert (a - PAGE_OFFSET) % (PAGE_SIZE << 5) == 0
    assert k.ksize(a) == PAGE_SIZE << 5
    m1, v1 = meminfo(k), vmstat(k)
    assert m1["SUnreclaim"] - m0["SUnreclaim"] == 128
    assert m1["Slab"] - m0["Slab"] == 128
    assert m0["MemFree"] - m1["MemFree"] == 128
    assert v1["nr_slab_unreclaimable"] - v0["nr_slab_unreclaimable"] == 32
    page = k.virt_to_page(a)
    assert page.pfn == (a - PAGE_OFFSET) >> 12 and page.order == 5
    assert page.slab_cache is None
    k.kfree(a)                                # order 5 bypasses the pcp lists
    m2 = meminfo(k)
    assert (m2["Slab"], m2["SUnreclaim"], m2["MemFree"]) == (m0["Slab"], m0["SUnreclaim"],
                                                              m0["MemFree"])
    b = k.kmalloc(8193)                       # get_order(8193) = 2
    assert k.ksize(b) == 16384
    assert meminfo(k)["SUnreclaim"] == m0["SUnreclaim"] + 16
    k.kfree(b)
    assert meminfo(k)["SUnreclaim"] == m0["SUnreclaim"]
    k.check()


def test_kmalloc_variants_by_gfp(k):
    cases = [(GFP_KERNEL_ACCOUNT, "kmalloc-cg-64"),
             (GFP_KERNEL | __GFP_RECLAIMABLE, "kmalloc-rcl-64"),
             (GFP_KERNEL | __GFP_DMA, "dma-kmalloc-64"),
             (GFP_KERNEL | __GFP_DMA | __GFP_RECLAIMABLE, "dma-kmalloc-64"),     # DMA wins
             (GFP_KERNEL_ACCOUNT | __GFP_RECLAIMABLE, "kmalloc-rcl-64")]        # then RECLAIM
    for gfp, name in cases:
        before = k.slab.cache(name).inuse
        a = k.kmalloc(50, gfp)
        assert k.slab.cache(name).inuse == before + 1, name
        assert k.virt_to_page(a).slab_cache.name == name
    m = meminfo(k)
    # one order-0 kmalloc-rcl-64 slab is reclaimable; kmalloc-cg-64 and dma-kmalloc-64 are not
    assert m["SReclaimable"] == 4
    assert m["KReclaimable"] >= m["SReclaimable"]


def test_ksize_and_krealloc(k):
    p = k.kmalloc(100)                        # kmalloc-128
    assert k.ksize(p) == 128
    assert k.krealloc(p, 120) == p            # still fits
    q = k.krealloc(p, 200)                    # kmalloc-256, the old object freed
    assert q != p and k.ksize(q) == 256
    assert k.slab.cache("kmalloc-128").inuse == 0 and k.slab.cache("kmalloc-256").inuse == 1
    r = k.krealloc(0, 50)                     # krealloc(NULL) = kmalloc
    assert k.ksize(r) == 64
    assert k.krealloc(q, 0) == ZERO_SIZE_PTR  # frees
    assert k.slab.cache("kmalloc-256").inuse == 0
    k.kfree(r)
    k.check()


# -- bad frees -----------------------------------------------------------------------------------

def _assert_refused(k, call, *words):
    before = snapshot(k)
    with pytest.raises(InvalidFree) as e:
        call()
    assert isinstance(e.value, ValueError)
    for w in words:
        assert w in str(e.value), (w, str(e.value))
    assert snapshot(k) == before
    k.check()
    return e.value


def test_invalid_frees_name_cache_and_problem(k):
    c = k.kmem_cache_create("acc_bad", 64, flags=linuxmm.SLAB_NO_MERGE)
    d = k.kmem_cache_create("acc_other", 64, flags=linuxmm.SLAB_NO_MERGE)
    a = c.alloc()
    b = c.alloc()
    c.free(b)
    # double free
    _assert_refused(k, lambda: c.free(b), "acc_bad", "already free")
    # wrong cache
    _assert_refused(k, lambda: d.free(a), "acc_bad", "acc_other", "Wrong slab cache")
    # interior pointer
    _assert_refused(k, lambda: c.free(a + 8), "acc_bad", "Invalid object pointer")
    # never allocated: a free object of the slab, and an address outside any slab
    _assert_refused(k, lambda: c.free(a + 64 * 5), "acc_bad")
    _assert_refused(k, lambda: c.free(PAGE_OFFSET + 0x100000), "acc_bad")
    # kfree of the same problems
    _assert_refused(k, lambda: k.kfree(b), "acc_bad", "already free")
    _assert_refused(k, lambda: k.kfree(a + 8), "acc_bad")
    c.free(a)


# -- SLAB_POISON / SLAB_RED_ZONE ----------------------------------------------------------------

def test_poison_detects_use_after_free_on_check(k):
    c = k.kmem_cache_create("acc_poison", 24, flags=linuxmm.SLAB_POISON)
    a = c.alloc()
    c.free(a)
    k.check()
    c.write(a, 0, 4)                          # use after free
    with pytest.raises(InvariantError) as e:
        c.check()
    assert "acc_poison" in str(e.value) and "Poison overwritten" in str(e.value)
    with pytest.raises(InvariantError):
        k.check()


def test_poison_use_after_free_seen_when_the_object_is_reused(k):
    c = k.kmem_cache_create("acc_poison2", 24, flags=linuxmm.SLAB_POISON)
    a = c.alloc()
    c.free(a)
    c.write(a, 8, 2)                          # use after free ...
    b = c.alloc()                             # ... then the object is handed out again (LIFO)
    assert b == a
    with pytest.raises(InvariantError) as e:
        k.check()
    assert "acc_poison2" in str(e.value) and "Poison overwritten" in str(e.value)
    k.check()                                 # reported once, bytes restored
    c.free(b)
    k.check()


def test_red_zone_detects_overflow_on_free(k):
    c = k.kmem_cache_create("acc_redzone", 24, flags=linuxmm.SLAB_RED_ZONE)
    a = c.alloc()
    k.check()
    c.write(a, 24, 1)                          # one byte past the 24-byte object
    with pytest.raises(InvariantError) as e:
        c.check()
    assert "acc_redzone" in str(e.value) and "Redzone overwritten" in str(e.value)
    with pytest.raises(MMError) as e:
        c.free(a)                              # reported on free, bytes restored, not freed
    assert "acc_redzone" in str(e.value) and "Right Redzone overwritten" in str(e.value)
    assert slabinfo_rows(k)["acc_redzone"][0] == 1
    k.check()
    c.free(a)
    assert slabinfo_rows(k)["acc_redzone"][0] == 0
    k.check()


def test_red_zone_left_underflow_on_check(k):
    c = k.kmem_cache_create("acc_redzone_l", 24, flags=linuxmm.SLAB_RED_ZONE | linuxmm.SLAB_POISON)
    a = c.alloc()
    c.write(a, -1, 1)
    with pytest.raises(InvariantError) as e:
        k.check()
    assert "Left Redzone overwritten" in str(e.value)


# -- /proc files and slabtop ----------------------------------------------------------------------

def _line(name, active, num, objsize, perslab, pages, slabs):
    # "%-17s %6lu %6lu %6u %4u %4d" " : tunables %4u %4u %4u" " : slabdata %6lu %6lu %6lu\n"
    return (name.ljust(17) + " " + str(active).rjust(6) + " " + str(num).rjust(6) + " " +
            str(objsize).rjust(6) + " " + str(perslab).rjust(4) + " " + str(pages).rjust(4) +
            " : tunables    0    0    0 : slabdata " + str(slabs).rjust(6) + " " +
            str(slabs).rjust(6) + "      0\n")


HEADER = ("slabinfo - version: 2.1\n"
          "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> "
          ": tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> "
          "<num_slabs> <sharedavail>\n")

# kmalloc geometry by hand (natural alignment, 12 min objects): size -> (objperslab, pages)
KMALLOC_GEOM = {8: (512, 1), 16: (256, 1), 32: (128, 1), 64: (64, 1), 96: (42, 1),
                128: (32, 1), 192: (21, 1), 256: (16, 1), 512: (16, 2), 1024: (16, 4),
                2048: (16, 8), 4096: (8, 8), 8192: (4, 8)}
CREATION = (96, 192, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)


def test_proc_slabinfo_byte_for_byte(k):
    c = k.kmem_cache_create("acc_slabinfo", 200, flags=linuxmm.SLAB_HWCACHE_ALIGN)
    objs = [c.alloc() for _ in range(20)]                     # 16 per slab: 2 slabs
    longname = k.kmem_cache_create("acc_a_rather_long_name", 72, flags=linuxmm.SLAB_NO_MERGE)
    # 72: 4096 % 72 = 64 -> 56 objects, order 0
    x = longname.alloc()
    expected = HEADER
    # get_slabinfo(): active = num_objs - free objects on the node partial list; the free
    # objects of cpu slabs count as active (20 of 16 a slab: slab 1 full, slab 2 the cpu slab)
    expected += _line("acc_a_rather_long_name", 56, 56, 72, 56, 1, 1)
    expected += _line("acc_slabinfo", 32, 32, 256, 16, 1, 2)
    for prefix in ("kmalloc-cg-", "dma-kmalloc-", "kmalloc-rcl-", "kmalloc-"):
        for size in reversed(CREATION):
            per, pages = KMALLOC_GEOM[size]
            expected += _line(prefix + class_name(size), 0, 0, size, per, pages, 0)
    # the two caches created after boot each hold one kmem_cache (256, 16 a slab) and one
    # kmem_cache_node (128, 32 a slab) object
    expected += _line("kmem_cache_node", 32, 32, 128, 32, 1, 1)
    expected += _line("kmem_cache", 16, 16, 256, 16, 1, 1)
    assert k.read("/proc/slabinfo") == expected
    for a in objs:
        c.free(a)
    longname.free(x)


def test_meminfo_vmstat_consistent_with_slab_pages(k):
    c = k.kmem_cache_create("acc_acct", 1000, flags=linuxmm.SLAB_RECLAIM_ACCOUNT)  # 16 x 4 pages
    u = k.kmem_cache_create("acc_acct_u", 64)
    m0, v0 = meminfo(k), vmstat(k)
    objs = c.alloc_bulk(40)                                   # 3 slabs = 12 pages = 48 kB
    uo = u.alloc_bulk(65)                                     # 2 slabs = 8 kB
    m1, v1 = meminfo(k), vmstat(k)
    assert m1["SReclaimable"] - m0["SReclaimable"] == 48
    assert m1["SUnreclaim"] - m0["SUnreclaim"] == 8
    assert m1["Slab"] == m1["SReclaimable"] + m1["SUnreclaim"]
    assert v1["nr_slab_reclaimable"] - v0["nr_slab_reclaimable"] == 12
    assert v1["nr_slab_unreclaimable"] - v0["nr_slab_unreclaimable"] == 2
    assert v1["nr_slab_reclaimable"] * 4 == m1["SReclaimable"]
    assert v1["nr_slab_unreclaimable"] * 4 == m1["SUnreclaim"]
    # every slab page listed in /proc/slabinfo is in Slab
    pages = sum(r[6] * r[4] for r in slabinfo_rows(k).values())
    assert pages * 4 == m1["Slab"]
    c.free_bulk(objs)
    u.free_bulk(uo)
    c.shrink()
    u.shrink()
    m2 = meminfo(k)
    assert (m2["SReclaimable"], m2["SUnreclaim"]) == (m0["SReclaimable"], m0["SUnreclaim"])


def test_slabtop_summary(k):
    c = k.kmem_cache_create("acc_top", 200, flags=linuxmm.SLAB_HWCACHE_ALIGN)
    objs = [c.alloc() for _ in range(20)]
    text = k.slabtop()
    # objects: every slab is a cpu slab, so all count as active: 32 + 16 + 32 = 80 / 80;
    # slabs 2 + 1 + 1; caches: 13 kmalloc sizes x 4 types + 2 boot + 1 = 55, 3 with objects
    assert "80 / 80 (100.0%)" in text
    assert "4 / 4 (100.0%)" in text
    assert "3 / 55 (5.5%)" in text
    # sizes: 32*256 + 16*256 + 32*128 = 16384 bytes, all active;
    # procps's average object is 16384 // 80 = 204 bytes; smallest 8 (kmalloc-8), largest 8192
    assert " Active / Total Size (% used)       : 16.00K / 16.00K (100.0%)\n" in text
    assert " Minimum / Average / Maximum Object : 0.01K / 0.20K / 8.00K\n" in text
    # "%6u %6u %3u%% %7.2fK %6u %8u %9uK %-23s"
    row = "    32     32 100%    0.25K      2       16         8K acc_top                \n"
    assert row in text
    for a in objs:
        c.free(a)
