"""Issue 12, allocator and slab side: a refused call changes nothing.

Ownership (a page may only be freed by the path that owns it), lifetimes (destroyed caches and
dropped allocators release everything), bounds (no input makes the host run out of memory) and
one argument contract on both backends."""
import numpy as np
import pytest

from linuxmm.errors import InvalidFree
from linuxmm.vm.mmu_defs import PG_ANON, PG_FILE, PG_PGTABLE

PROT_RW = 3
MAP_PRIVATE_ANON = 0x22


def _snapshot(k):
    """Everything a refused free could change: free pages per zone and per order, pcp lists."""
    out = []
    for i in range(len(k._zone_names)):
        out.append((k._pa.nr_free_pages(i), tuple(k._pa.nr_free(i)),
                    tuple(k._pa.pcp_count(i, c) for c in range(k.cpus))))
    return out


def _refused(k, call, reason):
    before = _snapshot(k)
    with pytest.raises(InvalidFree) as info:
        call()
    assert info.value.reason == reason
    assert _snapshot(k) == before
    k.check()


# ------------------------------------------------------------------ ownership ----------------
def test_free_pages_refuses_a_slab_page(backend):
    k = backend.Kernel("64M")
    c = k.kmem_cache_create("x", 128)
    pfn = k.alloc_pages()
    k.free_pages(pfn)                       # the next allocation (the slab's) may take it
    objs = [c.alloc() for _ in range(64)]
    pages = sorted({k.virt_to_page(o).pfn for o in objs})
    for p in pages:
        _refused(k, lambda: k.free_pages(p, 0), "slab")
        _refused(k, lambda: k.free_pages_bulk([p]), "slab")
    other = k.alloc_pages()
    _refused(k, lambda: k.free_pages_bulk([other, pages[0]]), "slab")   # all or nothing
    k.free_pages(other)
    for o in objs:
        c.free(o)
    c.destroy()                             # the slab's own path still releases its pages
    k.check()


def test_free_pages_refuses_a_large_kmalloc_block(backend):
    k = backend.Kernel("64M")
    addr = k.kmalloc(100_000)               # order 5, from the page allocator
    pfn = k.virt_to_page(addr).pfn
    _refused(k, lambda: k.free_pages(pfn, 5), "slab")
    _refused(k, lambda: k.free_pages(pfn, 0), "slab")
    k.kfree(addr)
    with pytest.raises(InvalidFree):        # kfree released it: no second free anywhere
        k.free_pages(pfn, 5)
    k.check()


def test_buddy_slab_pages_are_the_slabs(backend):
    b = backend.BuddyAllocator(1024)
    s = backend.SlabAllocator(b) if hasattr(backend, "SlabAllocator") else None
    if s is None:
        import linuxmm.slab.cache as cache
        s = cache.SlabAllocator(b)
    c = s.kmem_cache_create("y", 256)
    obj = c.alloc()
    pfn = (obj - s.page_offset) >> 12
    free = b.free_pages
    with pytest.raises(InvalidFree) as info:
        b.free(pfn, 0)
    assert info.value.reason == "slab"
    with pytest.raises(InvalidFree):
        b.free_bulk([pfn])
    assert b.free_pages == free
    b.check()
    c.free(obj)
    c.destroy()
    b.check()


def _frame_with(k, bit):
    return int(np.nonzero(k.mmu.flags & bit)[0][0])


def test_free_pages_refuses_frames_of_the_fault_path(backend):
    k = backend.Kernel("64M")
    p = k.spawn()
    addr = p.mmap(0, 4 * 4096, PROT_RW, MAP_PRIVATE_ANON)
    p.write(addr, b"x" * 4 * 4096)
    f = k.create_file("/data/f", 8192)
    f.read(0, 16)
    for bit in (PG_ANON, PG_PGTABLE, PG_FILE):
        pfn = _frame_with(k, bit)
        _refused(k, lambda: k.free_pages(pfn, 0), "mapped")
        _refused(k, lambda: k.free_pages_bulk(np.array([pfn], np.int64)), "mapped")
    assert p.read(addr, 4) == b"xxxx"
    k.exit_process(p)
    k.check()


# ------------------------------------------------------------------ permanent caches ---------
def test_kmalloc_and_boot_caches_cannot_be_destroyed(backend):
    from linuxmm.slab import CacheInUse
    k = backend.Kernel("64M")
    addr = k.kmalloc(100)
    kc = k.virt_to_page(addr).slab_cache
    k.kfree(addr)
    for cache in (kc, k.slab.kmem_cache, k.slab.kmem_cache_node):
        with pytest.raises(CacheInUse):
            cache.destroy()
        with pytest.raises(CacheInUse):
            k.kmem_cache_destroy(cache)
        assert cache.alive
    assert k.kmalloc(100)
    c = k.kmem_cache_create("after", 200)
    c.destroy()
    k.check()


# ------------------------------------------------------------------ lifetimes ----------------
def test_cache_create_destroy_cycles_release_everything(backend):
    k = backend.Kernel("64M")
    s = k.slab

    def cycle(n):
        for i in range(n):
            c = k.kmem_cache_create("cycle", 128 + (i % 7) * 8)
            c.alloc()                       # a slab, then freed with the cache
            c.free(c.objects_in_use()[0])
            c.destroy()

    cycle(10)
    ids, caches = len(s._ids), len(s.caches)
    meta = getattr(s, "metadata_bytes", None)
    cycle(20_000 if backend.__name__ == "linuxmm" else 2_000)
    assert (len(s._ids), len(s.caches)) == (ids, caches)
    assert getattr(s, "metadata_bytes", None) == meta
    k.check()


def test_a_destroyed_cache_handle_stays_dead_when_its_id_is_reused(backend):
    k = backend.Kernel("64M")
    old = k.kmem_cache_create("old", 300)
    alloc, free = old.alloc, old.free
    old.destroy()
    new = k.kmem_cache_create("new", 300)
    assert new.index == old.index           # the id went back and was reused
    for call in (alloc, old.alloc, lambda: free(new.alloc()), lambda: old.alloc_bulk(2)):
        with pytest.raises(ValueError):
            call()
    assert new.inuse == 1 and old.inuse == 0
    k.check()


def test_buddy_allocator_is_freed_at_del_without_the_cycle_collector(backend):
    import gc
    import weakref
    gc.collect()
    gc.disable()
    try:
        b = backend.BuddyAllocator(1 << 16)
        b.free(b.alloc(3), 3)
        b.free_bulk(b.alloc_bulk(4))
        ref = weakref.ref(b)
        del b
        assert ref() is None
    finally:
        gc.enable()


# ------------------------------------------------------------------ bounds: bulk counts ------
HUGE = 2**32


def test_huge_bulk_counts_are_sized_by_what_can_be_allocated(backend):
    b = backend.BuddyAllocator(4096)
    got = b.alloc_bulk(HUGE, order=2)
    assert len(got) == 1024 and b.free_pages == 0
    assert len(b.alloc_bulk(HUGE)) == 0
    b.free_bulk(got, order=2)
    b.check()
    k = backend.Kernel("64M")
    free = k.zone("DMA32").free_pages + k.zone("DMA").free_pages
    pfns = k.alloc_pages_bulk(count=HUGE)
    assert 0 < len(pfns) <= free
    k.free_pages_bulk(pfns)
    c = k.kmem_cache_create("bulk", 64)
    before = _snapshot(k)
    with pytest.raises(backend.OutOfMemory if hasattr(backend, "OutOfMemory") else MemoryError):
        c.alloc_bulk(HUGE)
    assert _snapshot(k) == before and c.inuse == 0
    objs = c.alloc_bulk(1000)
    c.free_bulk(objs)
    k.check()


def test_huge_bulk_counts_agree_between_backends():
    import linuxmm
    import linuxmm.reference as R
    results = []
    for mod in (linuxmm, R):
        k = mod.Kernel("64M")
        b = mod.BuddyAllocator(2048)
        c = k.kmem_cache_create("bulk", 64)
        out = [b.alloc_bulk(HUGE).tolist(), k.alloc_pages_bulk(count=HUGE).tolist()]
        try:
            c.alloc_bulk(HUGE)
        except MemoryError as e:
            out.append(type(e))
        results.append(out)
    assert results[0] == results[1]


# ------------------------------------------------------------------ one contract -------------
def _outcome(call):
    try:
        r = call()
    except Exception as e:          # noqa: BLE001 - the type is the result being compared
        return ("raises", type(e).__name__)
    return ("ok", r.tolist() if isinstance(r, np.ndarray) else r)


def _misuse_cases(k, b, c):
    return {
        "kmalloc(True)": lambda: k.kmalloc(True),
        "alloc_pages(True)": lambda: k.alloc_pages(True),
        "alloc_pages(order=True)": lambda: k.alloc_pages(order=True),
        "alloc_pages(cpu=np.bool_)": lambda: k.alloc_pages(cpu=np.bool_(False)),
        "b.alloc(True)": lambda: b.alloc(True),
        "b.alloc(np.bool_)": lambda: b.alloc(np.bool_(False)),
        "kfree(True)": lambda: k.kfree(True),
        "b.free(False, 1)": lambda: b.free(False, 1),
        "b.free(np.bool_, 1)": lambda: b.free(np.bool_(False), 1),
        "free_pages(False)": lambda: k.free_pages(False),
        "b.free_bulk(order=2**31)": lambda: b.free_bulk(np.array([0]), order=2**31),
        "b.free_bulk(order=-1)": lambda: b.free_bulk([0], order=-1),
        "c.free(np.bool_)": lambda: c.free(np.bool_(True)),
        "c.free(1.0)": lambda: c.free(1.0),
        "alloc_pages_bulk(count=True)": lambda: k.alloc_pages_bulk(count=True),
        "free_pages_bulk(cpu=True)": lambda: k.free_pages_bulk([], cpu=True),
        "b.alloc(np.float32)": lambda: b.alloc(np.float32(1)),
    }


def test_bools_and_non_integers_are_refused_alike_and_change_nothing():
    import linuxmm
    import linuxmm.reference as R
    seen = {}
    for mod in (linuxmm, R):
        k = mod.Kernel("64M")
        b = mod.BuddyAllocator(1024)
        pfn0 = b.alloc()
        assert pfn0 == 0
        c = k.kmem_cache_create("z", 64)
        before = (_snapshot(k), b.free_pages, b.nr_free)
        seen[mod.__name__] = {name: _outcome(call)
                              for name, call in _misuse_cases(k, b, c).items()}
        assert (_snapshot(k), b.free_pages, b.nr_free) == before     # pfn 0 still allocated
        b.free(pfn0)
        k.check()
        b.check()
    c_res, ref_res = seen.values()
    assert c_res == ref_res
    assert all(r == ("raises", "ArgumentTypeError") for name, r in c_res.items()
               if "bulk(order" not in name), c_res
    assert c_res["b.free_bulk(order=2**31)"] == ("raises", "InvalidFree")


def test_numpy_integers_are_accepted_everywhere(backend):
    k = backend.Kernel("64M")
    b = backend.BuddyAllocator(1024)
    pfn = b.alloc(np.int64(2))
    b.free(np.uint32(pfn), np.int8(2))
    b.free_bulk(b.alloc_bulk(np.uint16(4), np.int64(1)), np.int32(1))
    p = k.alloc_pages(np.uint32(0xcc0), np.int64(3), np.int16(1))
    k.free_pages(np.int64(p), np.uint8(3), np.int32(1))
    k.free_pages_bulk(k.alloc_pages_bulk(np.uint32(0xcc0), np.int64(5), np.int8(0)), np.int64(0))
    a = k.kmalloc(np.int32(100))
    assert k.ksize(np.uint64(a)) == 128
    k.kfree(np.uint64(a))
    c = k.kmem_cache_create("np", np.int64(64))
    o = c.alloc()
    c.free(np.uint64(o))
    c.free_bulk(c.alloc_bulk(np.int32(7)))
    k.check()
    b.check()


# ------------------------------------------------------------------ bounds: machine size -----
@pytest.mark.parametrize("kwargs", [
    {"mem": 2**64}, {"mem": "10P"}, {"mem": "65T"},
    {"e820": [(0, 2**64 - 1, "usable")]},
    {"e820": [(0, 0x9fbff, "usable"), (0x100000, (1 << 46) + 4095, "usable")]},
    {"mem": "65G", "arch": "i386"},
])
def test_machines_beyond_the_physical_address_width_are_refused_at_once(backend_name, kwargs):
    import time

    import linuxmm
    t = time.perf_counter()
    with pytest.raises(ValueError, match="physical address space"):
        linuxmm.Kernel(backend=backend_name, **kwargs)
    assert time.perf_counter() - t < 1


def test_a_machine_larger_than_the_host_is_refused_before_allocating(backend_name, monkeypatch):
    import linuxmm
    from linuxmm import boot
    need = boot.host_bytes_needed((64 << 30) >> 12)
    monkeypatch.setattr(boot, "host_available_bytes", lambda: need - 1)
    with pytest.raises(MemoryError, match="MemAvailable"):
        linuxmm.Kernel("64G", backend=backend_name)
    monkeypatch.setattr(boot, "host_available_bytes", lambda: need + (1 << 30))
    assert linuxmm.Kernel("1G", backend=backend_name).mem == 1 << 30


def test_host_estimate_covers_what_a_boot_touches():
    from linuxmm import boot
    assert boot.host_bytes_needed(1 << 28) == (2 << 30) + (1 << 30)     # 1 TiB: 3 GiB
    real = boot.host_available_bytes()
    assert real is None or real > 0


def test_kernel_is_freed_at_del_without_the_cycle_collector(backend_name):
    import gc
    import weakref

    import linuxmm
    gc.collect()
    gc.disable()
    try:
        k = linuxmm.Kernel("64M", backend=backend_name)
        p = k.spawn()
        addr = p.mmap(0, 1 << 20, PROT_RW, MAP_PRIVATE_ANON)
        p.write(addr, b"x" * 100_000)
        child = p.fork()
        f = k.create_file("/data/f", 1 << 16)
        f.read(0, 100)
        k.kmem_cache_create("gc", 100).alloc()
        k.kmalloc(100)
        k.read("/proc/meminfo")
        k.read(f"/proc/{p.pid}/smaps")
        k.advance(10**9)
        k.check()
        k.exit_process(child)               # a live process holds its kernel, as it should
        k.exit_process(p)
        refs = [weakref.ref(x) for x in (k, k._pa, k.mmu, k.slab)]
        del k, p, child, f
        assert [r() for r in refs] == [None] * len(refs)
    finally:
        gc.enable()
