"""Behaviour of the Kernel's page allocation API, on both backends."""
import numpy as np
import pytest

pytest.importorskip("linuxmm.page_alloc")
pytest.importorskip("linuxmm.reference.page_alloc")
from linuxmm import InvalidFree, Kernel, OutOfMemory  # noqa: E402
from linuxmm import gfp as G  # noqa: E402


def pgalloc(k):
    return {line.split()[0]: int(line.split()[1])
            for line in k.read("/proc/vmstat").splitlines() if line.startswith("pgalloc_")}


@pytest.fixture
def small(backend_name):
    """256 MiB x86_64: DMA and DMA32 populated, Normal empty."""
    return Kernel("256M", backend=backend_name)


def zone_of(k, pfn):
    return k.page(pfn).zone


def drain_zone(k, gfp):
    """Allocate with gfp until it fails; returns how many pages that took."""
    n = len(k.alloc_pages_bulk(gfp, 1 << 20))
    while True:
        try:
            k.alloc_pages(gfp)
        except OutOfMemory:
            return n
        n += 1


def test_zonelists(backend_name):
    k = Kernel("5G", backend=backend_name)
    assert k.zonelist(G.GFP_HIGHUSER_MOVABLE) == ["Normal", "DMA32", "DMA"]   # Movable empty
    assert k.zonelist(G.GFP_KERNEL) == ["Normal", "DMA32", "DMA"]
    assert k.zonelist(G.GFP_DMA32) == ["DMA32", "DMA"]
    assert k.zonelist(G.GFP_DMA) == ["DMA"]
    with pytest.raises(ValueError):
        k.zonelist(G.__GFP_DMA | G.__GFP_DMA32)
    i386 = Kernel("2G", arch="i386", backend=backend_name)
    assert i386.zonelist(G.GFP_HIGHUSER) == ["HighMem", "Normal", "DMA"]
    assert i386.zonelist(G.GFP_KERNEL) == ["Normal", "DMA"]


def test_zone_choice(small):
    k = small
    assert zone_of(k, k.alloc_pages(G.GFP_KERNEL)) == "DMA32"
    assert zone_of(k, k.alloc_pages(G.GFP_DMA32)) == "DMA32"
    assert zone_of(k, k.alloc_pages(G.GFP_DMA | G.GFP_KERNEL)) == "DMA"
    assert zone_of(k, k.alloc_pages(G.GFP_HIGHUSER_MOVABLE)) == "DMA32"
    counts = pgalloc(k)
    assert counts["pgalloc_dma"] == 1 and counts["pgalloc_dma32"] == 3


def test_zonelist_falls_back_and_lowmem_reserve_refuses(small):
    k = small
    dma, dma32 = k.zones[0], k.zones[1]
    reserve = dma.lowmem_reserve[2]          # GFP_KERNEL's highest_zoneidx is Normal
    assert reserve == dma32.managed_pages // 256
    k.alloc_pages_bulk(G.GFP_KERNEL, 1 << 20)  # stops early: bulk uses one zone's pcp
    zones = set()
    while True:
        try:
            zones.add(zone_of(k, k.alloc_pages(G.GFP_KERNEL)))
        except OutOfMemory:
            break
    assert "DMA" in zones                     # fell back from DMA32 to DMA
    k.drain_pages()
    # DMA kept its watermark plus the protection against Normal-capable requests
    assert dma.free_pages > dma.watermark[0] + reserve - 1
    # a GFP_DMA request has highest_zoneidx DMA: no protection applies, it still succeeds
    assert zone_of(k, k.alloc_pages(G.GFP_DMA)) == "DMA"


def test_gfp_atomic_digs_deeper_than_nowait(small):
    k = small
    dma32 = k.zones[1]
    wmin = dma32.watermark[0]
    # GFP_NOWAIT: no reduction, the zone stops at its min watermark (pcp pages never count
    # as free, so the buddy free count is what the watermark test saw)
    drain_zone(k, G.GFP_DMA32 | G.GFP_NOWAIT)
    after_nowait = dma32.free_pages
    assert after_nowait <= wmin
    # GFP_ATOMIC (__GFP_HIGH, cannot block): min - min/2, then minus a quarter of that
    floor = wmin - wmin // 2
    floor -= floor // 4
    assert k.alloc_pages(G.GFP_DMA32 | G.GFP_ATOMIC) >= 0
    assert drain_zone(k, G.GFP_DMA32 | G.GFP_ATOMIC) > 0
    assert dma32.free_pages <= floor < after_nowait
    with pytest.raises(OutOfMemory):
        k.alloc_pages(G.GFP_DMA32 | G.GFP_NOWAIT)
    k.check()


@pytest.mark.parametrize("gfp", [G.__GFP_DMA | G.__GFP_DMA32, G.__GFP_DMA | G.__GFP_HIGHMEM,
                                 -1, 1 << 40])
def test_bad_gfp_raises_value_error_state_unchanged(small, gfp):
    k = small
    before = k.read("/proc/buddyinfo"), k.read("/proc/vmstat")
    with pytest.raises(ValueError):
        k.alloc_pages(gfp)
    with pytest.raises(ValueError):
        k.alloc_pages_bulk(gfp, 4)
    assert (k.read("/proc/buddyinfo"), k.read("/proc/vmstat")) == before


@pytest.mark.parametrize("order", [-1, 11, 64])
def test_bad_order_raises_value_error(small, order):
    before = small.read("/proc/buddyinfo")
    with pytest.raises(ValueError):
        small.alloc_pages(G.GFP_KERNEL, order)
    assert small.read("/proc/buddyinfo") == before


def test_bad_cpu_raises_value_error(small):
    with pytest.raises(ValueError):
        small.alloc_pages(G.GFP_KERNEL, 0, cpu=2)


def test_invalid_free_leaves_state(small):
    k = small
    pfn = k.alloc_pages(G.GFP_KERNEL, 2)
    before = k.read("/proc/buddyinfo"), k.read("/proc/zoneinfo")
    with pytest.raises(InvalidFree):
        k.free_pages(pfn, 1)
    with pytest.raises(InvalidFree):
        k.free_pages(pfn + 1, 0)
    assert (k.read("/proc/buddyinfo"), k.read("/proc/zoneinfo")) == before
    k.free_pages(pfn, 2)
    with pytest.raises(InvalidFree):
        k.free_pages(pfn, 2)
    k.check()


def test_bulk_roundtrip_accounting(small):
    k = small
    managed = sum(z.managed_pages for z in k.zones)
    pfns = k.alloc_pages_bulk(G.GFP_KERNEL, 1000)
    assert isinstance(pfns, np.ndarray) and pfns.dtype == np.int64 and len(pfns) == 1000
    assert len(set(pfns.tolist())) == 1000
    pcp = sum(z.pcp_count(c) for z in k.zones for c in range(k.cpus))
    assert sum(z.free_pages for z in k.zones) + pcp + 1000 == managed
    k.free_pages_bulk(pfns)
    k.drain_pages()
    assert sum(z.free_pages for z in k.zones) == managed
    vm = dict(line.split() for line in k.read("/proc/vmstat").splitlines())
    assert int(vm["pgfree"]) - sum(int(v) for n, v in vm.items() if n.startswith("pgalloc_")) \
        == managed
    k.check()


def test_page_view(small):
    k = small
    pfn = k.alloc_pages(G.GFP_KERNEL, 3)
    p = k.page(pfn)
    assert (p.state, p.order, p.refcount, p.mapcount, p.zone) == ("allocated", 3, 1, 0, "DMA32")
    assert p.flags == ()
    tail = k.page(pfn + 1)
    assert tail.state == "tail" and tail.refcount == 0
    bios = k.page(0x50)                       # first MiB: reserved at boot
    assert bios.flags == ("PG_reserved",) and bios.zone == "DMA"
    assert k.page(0x1000).flags == ("PG_reserved",)         # the kernel image at 16 MiB
    k.free_pages(pfn, 3)
    k.drain_pages()
    free = k.page(pfn)
    assert free.refcount == 0 and free.flags == ()
    with pytest.raises(ValueError):
        k.page(1 << 40)
    pfn0 = k.page(0)                          # not RAM, but it has a struct page in DMA
    assert pfn0.zone == "DMA" and pfn0.flags == ("PG_reserved",) and pfn0.state == "absent"


def test_page_in_memory_hole_has_no_struct_page(backend_name):
    k = Kernel("4G", backend=backend_name)    # RAM below 3 GiB and 4-5 GiB
    with pytest.raises(ValueError):
        k.page(0xD0000)                       # 3.25 GiB: PCI hole, no memmap
    assert k.page(0x100000).zone == "Normal"


def test_i386_highmem_zonelist(backend_name):
    k = Kernel("1G", arch="i386", backend=backend_name)
    assert [z.name for z in k.zones] == ["DMA", "Normal", "HighMem", "Movable"]
    assert zone_of(k, k.alloc_pages(G.GFP_HIGHUSER)) == "HighMem"
    assert zone_of(k, k.alloc_pages(G.GFP_KERNEL)) == "Normal"
    assert "HighTotal:" in k.read("/proc/meminfo")
    assert "pgalloc_high 1" in k.read("/proc/vmstat")


def test_unknown_path(small):
    with pytest.raises(FileNotFoundError):
        small.read("/proc/nonexistent")


def test_fragmentation_views_match_debugfs(small):
    k = small
    pfns = k.alloc_pages_bulk(G.GFP_KERNEL, 3000)
    k.free_pages_bulk(pfns[::2])
    k.drain_pages()
    unusable = k.read("/sys/kernel/debug/extfrag/unusable_index").splitlines()
    extfrag = k.read("/sys/kernel/debug/extfrag/extfrag_index").splitlines()
    populated = [z for z in k.zones if z.populated]
    for z, u, e in zip(populated, unusable, extfrag):
        assert u.split()[4:] == ["%d.%03d" % divmod(z.unusable_index(o), 1000) for o in range(11)]
        assert len(e.split()[4:]) == 11
        for o in range(11):
            idx = z.fragmentation_index(o)
            assert idx == -1000 or 0 <= idx <= 1000


def test_backends_agree():
    runs = []
    for name in ("c", "reference"):
        k = Kernel("128M", backend=name, cpus=2)
        pfns = [k.alloc_pages(G.GFP_KERNEL, o % 4, cpu=o % 2) for o in range(40)]
        for i, p in enumerate(pfns[::3]):
            k.free_pages(p, (3 * i) % 4, cpu=i % 2)
        runs.append((pfns, k.read("/proc/buddyinfo"), k.read("/proc/zoneinfo"),
                     k.read("/proc/vmstat"), k.read("/proc/pagetypeinfo")))
    assert runs[0] == runs[1]


def test_gfp_comp_makes_a_compound_page_with_pg_head(backend_name):
    # prep_compound_page() runs for __GFP_COMP allocations of order > 0 only: the head page
    # carries PG_head, its tail pages no flags; a plain order-2 block has no PG_head.
    import linuxmm
    from linuxmm import GFP_KERNEL, __GFP_COMP
    k = linuxmm.Kernel("256M", backend=backend_name)
    comp = k.alloc_pages(GFP_KERNEL | __GFP_COMP, 2)
    plain = k.alloc_pages(GFP_KERNEL, 2)
    single = k.alloc_pages(GFP_KERNEL | __GFP_COMP, 0)
    assert k.page(comp).flags == ("PG_head",) and k.page(comp).order == 2
    assert k.page(comp + 1).flags == () and k.page(comp + 1).refcount == 0
    assert k.page(plain).flags == () and k.page(single).flags == ()
    k.free_pages(comp, 2)
    again = k.alloc_pages(GFP_KERNEL, 2)          # the same block, now without __GFP_COMP
    assert again == comp and k.page(again).flags == ()
    k.check()
