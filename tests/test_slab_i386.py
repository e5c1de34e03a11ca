"""The slab allocator on i386: objects live in the lowmem direct map, PAGE_OFFSET 0xC0000000 +
physical address (arch/x86/include/asm/page_32.h __va()), never in HighMem (kmalloc and
kmem_cache gfp carry no __GFP_HIGHMEM; kmalloc_fix_flags() strips it).  Both backends."""
import random

import pytest

import linuxmm as L
from linuxmm.errors import InvalidFree, OutOfMemory
from linuxmm.kernel import Kernel
from linuxmm.slab import flags as F

I386_PAGE_OFFSET = 0xC0000000
X86_64_PAGE_OFFSET = 0xffff888000000000


def state(k):
    """What a refused call must leave alone."""
    return (k.read("/proc/slabinfo"), k.read("/proc/meminfo"), k.read("/proc/buddyinfo"),
            [(c.name, c.objects_in_use()) for c in k.slab.caches])


def test_objects_are_lowmem_direct_map_addresses(backend_name):
    k = Kernel("256M", arch="i386", backend=backend_name)
    c = k.kmem_cache_create("obj64", 64, flags=F.SLAB_NO_MERGE)
    a = [c.alloc() for _ in range(3)]
    pfn = k.slab.object_info(a[0])["pfn"]
    assert a == [I386_PAGE_OFFSET + pfn * 4096 + i * 64 for i in range(3)]
    page = k.virt_to_page(a[1])
    assert (page.pfn, page.page_type, page.slab_cache) == (pfn, "slab", c)

    small = k.kmalloc(100)                              # kmalloc-128
    info = k.slab.object_info(small)
    assert small == I386_PAGE_OFFSET + info["pfn"] * 4096 + info["index"] * 128
    assert k.virt_to_page(small).slab_cache is k.slab.cache("kmalloc-128")
    big = k.kmalloc(20000)                              # order-3 pages, not a slab
    pfn_big = (big - I386_PAGE_OFFSET) >> 12
    assert big == I386_PAGE_OFFSET + pfn_big * 4096 and k.ksize(big) == 8 * 4096
    assert k.virt_to_page(big).page_type == "large_kmalloc"
    assert all(I386_PAGE_OFFSET <= x < I386_PAGE_OFFSET + (k.layout.max_low_pfn << 12)
               for x in a + [small, big])
    assert k.krealloc(small, 120) == small
    k.check()
    for x in a:
        c.free(x)
    k.kfree(small)
    k.kfree(big)
    assert c.objects_in_use() == [] and k.slab.large_kmalloc() == (0, 0)
    k.check()


def test_bad_addresses_refused_same_errors_nothing_changed():
    results = []
    for backend_name in ("c", "reference"):
        k = Kernel("256M", arch="i386", backend=backend_name)
        c = k.kmem_cache_create("victim", 64, flags=F.SLAB_NO_MERGE)
        a = c.alloc()
        k.kmalloc(64)
        pfn = k.slab.object_info(a)["pfn"]
        lowmem_end = I386_PAGE_OFFSET + (k.layout.max_low_pfn << 12)
        bad = [X86_64_PAGE_OFFSET + pfn * 4096 + (a & 4095),      # the x86_64 twin of a
               X86_64_PAGE_OFFSET, a - I386_PAGE_OFFSET, lowmem_end, lowmem_end + 64,
               I386_PAGE_OFFSET - 4096, 2**64 - 4096]
        before = state(k)
        got = []
        for addr in bad:
            for call in (c.free, k.kfree, k.ksize):
                with pytest.raises(InvalidFree) as e:
                    call(addr)
                assert e.value.reason == "notslab"
                got.append(str(e.value))
            assert k.slab.object_info(addr)["kind"] is None
            with pytest.raises(ValueError):
                k.virt_to_page(addr)
        assert state(k) == before
        k.check()
        results.append(got)
    assert results[0] == results[1]


def test_slab_never_takes_highmem(backend_name):
    """With lowmem used up, kmalloc fails although HighMem is free; every slab is lowmem."""
    k = Kernel("4G", arch="i386", backend=backend_name)
    assert k.layout.max_low_pfn < k.layout.max_pfn
    objs = [k.kmalloc(64, L.GFP_KERNEL | L.__GFP_HIGHMEM) for _ in range(200)]
    objs.append(k.kmalloc(3 << 12, L.GFP_HIGHUSER))     # a large kmalloc: __GFP_HIGHMEM stripped
    pages = []
    for order in range(10, -1, -1):
        while True:
            try:
                pages.append(k.alloc_pages(L.GFP_KERNEL, order))
            except OutOfMemory:
                break
    with pytest.raises(OutOfMemory):
        for _ in range(1 << 16):
            objs.append(k.kmalloc(64))
    with pytest.raises(OutOfMemory):
        k.kmalloc(5 << 12)
    highmem = [z for z in k.zones if z.name == "HighMem"][0]
    assert highmem.free_pages > 0
    for c in k.slab.caches:
        for which in ("partial", "full", "cpu", "cpu_partial"):
            assert all(pfn < k.layout.max_low_pfn for pfn in c.slab_list(which))
    assert all(k.page((x - I386_PAGE_OFFSET) >> 12).zone != "HighMem" for x in objs)
    for x in objs:
        k.kfree(x)
    k.check()


def test_engine_refuses_pages_outside_its_direct_map(backend):
    """A page source that hands out a page beyond direct_map_end (as HighMem would be): the
    page is given back and the allocation fails, the same in both backends."""
    buddy = backend.BuddyAllocator(64)
    sa = backend.SlabAllocator(buddy, boot=False, page_offset=I386_PAGE_OFFSET,
                               direct_map_end=I386_PAGE_OFFSET + 16 * 4096)
    c = sa.kmem_cache_create("x", 2048)
    objs = c.alloc_bulk(32)
    assert all(I386_PAGE_OFFSET <= int(x) < I386_PAGE_OFFSET + 16 * 4096 for x in objs)
    free = list(buddy.nr_free)
    with pytest.raises(ValueError, match="allocation failed with code 2"):
        c.alloc()
    with pytest.raises(ValueError, match=r"kmalloc\(20000\) failed with code 2"):
        sa.kmalloc(20000)
    assert list(buddy.nr_free) == free
    sa.check()


@pytest.mark.parametrize("page_offset, end", [(I386_PAGE_OFFSET + 1, None), (0, 4096),
                                               (I386_PAGE_OFFSET, I386_PAGE_OFFSET),
                                               (I386_PAGE_OFFSET, 2**64), ("x", None)])
def test_direct_map_arguments_checked(backend, page_offset, end):
    with pytest.raises((ValueError, TypeError)):
        backend.SlabAllocator(backend.BuddyAllocator(64), page_offset=page_offset,
                              direct_map_end=end)


def test_c_and_reference_agree_on_i386():
    """A random run of cache and kmalloc operations: the same addresses, errors, slabinfo and
    meminfo from both backends."""
    rng = random.Random(386)
    ks = [Kernel("128M", arch="i386", backend=b) for b in ("c", "reference")]
    caches = [[k.kmem_cache_create(f"t{i}", size, flags=F.SLAB_NO_MERGE | extra)
               for i, (size, extra) in enumerate([(40, 0), (700, 0), (96, F.SLAB_RED_ZONE)])]
              for k in ks]
    live = [[], []]
    for step in range(1500):
        op = rng.random()
        outs = []
        for j, k in enumerate(ks):
            r = random.Random(step)
            try:
                if op < 0.35:
                    x = caches[j][r.randrange(3)].alloc()
                    live[j].append(x)
                elif op < 0.6:
                    x = k.kmalloc(r.choice([8, 100, 1000, 5000, 9000, 40000]))
                    live[j].append(x)
                elif op < 0.95 and live[j]:
                    x = live[j].pop(r.randrange(len(live[j])))
                    k.kfree(x)
                else:
                    x = k.kfree(X86_64_PAGE_OFFSET + r.randrange(1 << 20) * 8)
            except (InvalidFree, OutOfMemory) as e:
                x = (type(e).__name__, str(e))
            outs.append(x)
        assert outs[0] == outs[1], step
        if step % 250 == 0:
            assert ks[0].read("/proc/slabinfo") == ks[1].read("/proc/slabinfo")
    assert live[0] == live[1]
    assert all(I386_PAGE_OFFSET <= x < 1 << 32 for x in live[0])
    for name in ("/proc/slabinfo", "/proc/meminfo"):
        assert ks[0].read(name) == ks[1].read(name)
    for k in ks:
        k.check()
