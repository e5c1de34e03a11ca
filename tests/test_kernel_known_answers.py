"""The Kernel boots the reference machine of linux-mm-physical.md and reproduces, to the page,
the numbers its real 6.18 kernel showed (snapshot A and B: same firmware map, Normal managed
131072 / 163840 pages while the vendor kernel initialised memory lazily)."""
import pytest

pytest.importorskip("linuxmm.page_alloc")
pytest.importorskip("linuxmm.reference.page_alloc")
from linuxmm import Kernel  # noqa: E402

from test_boot import REFERENCE_DMESG  # noqa: E402

GIB4 = 1 << 32


def reference_kernel(backend_name, normal_managed, dma32_managed=772808):
    reserved = [(16 << 20, (16 << 20) + (782336 - dma32_managed) * 4096 - 1),
                (GIB4 + normal_managed * 4096, 0x63FFFFFFF)]
    return Kernel(e820=REFERENCE_DMESG, reserved=reserved, boot_allocations=False, cpus=2,
                  backend=backend_name)


@pytest.fixture(scope="module", params=["c", "reference"])
def snapshot_a(request):
    return reference_kernel(request.param, 131072)


def test_snapshot_a_zones(snapshot_a):
    k = snapshot_a
    assert [z.name for z in k.zones] == ["DMA", "DMA32", "Normal", "Movable", "Device"]
    assert [(z.start_pfn, z.spanned_pages, z.present_pages, z.managed_pages)
            for z in k.zones[:3]] == [(1, 4095, 3998, 3840), (4096, 1044480, 782336, 772808),
                                      (1048576, 5505024, 5505024, 131072)]


def test_snapshot_a_min_free_kbytes_watermarks(snapshot_a):
    k = snapshot_a
    assert k.min_free_kbytes == 67584
    assert [z.watermark + (z.watermark_promo,) for z in k.zones] == [
        (71, 88, 105, 122), (14384, 17980, 21576, 25172), (2439, 3048, 3657, 4266),
        (32, 32, 32, 32), (0, 0, 0, 0)]


def test_snapshot_a_protection_totalreserve(snapshot_a):
    k = snapshot_a
    assert [z.lowmem_reserve for z in k.zones[:3]] == [
        (0, 3018, 3530, 3530, 3530), (0, 0, 512, 512, 512), (0, 0, 0, 0, 0)]
    assert k.totalreserve_pages == 29380


def test_snapshot_a_pcp_and_thresholds(snapshot_a):
    k = snapshot_a
    assert [(z.pcp_batch, z.pcp_high_min, z.pcp_high_max, z.stat_threshold)
            for z in k.zones[:3]] == [(1, 44, 240, 4), (63, 8990, 48300, 24),
                                      (31, 1524, 8192, 16)]


def test_snapshot_a_zoneinfo_dma32_excerpt(snapshot_a):
    text = snapshot_a.read("/proc/zoneinfo")
    entry = text.split("Node 0, zone    DMA32\n")[1].split("Node 0, zone")[0]
    assert entry.startswith(
        "  pages free     772808\n"
        "        boost    0\n"
        "        min      14384\n"
        "        low      17980\n"
        "        high     21576\n"
        "        promo    25172\n"
        "        spanned  1044480\n"
        "        present  782336\n"
        "        managed  772808\n"
        "        cma      0\n"
        "        protection: (0, 0, 512, 512, 512)\n"
        "      nr_free_pages 772808\n")
    assert ("  pagesets\n"
            "    cpu: 0\n"
            "              count:    0\n"
            "              high:     0\n"
            "              batch:    63\n"
            "              high_min: 8990\n"
            "              high_max: 48300\n"
            "  vm stats threshold: 24\n") in entry
    assert entry.endswith("  node_unreclaimable:  0\n  start_pfn:           4096\n")


def test_snapshot_a_movable_entry_is_short(snapshot_a):
    text = snapshot_a.read("/proc/zoneinfo")
    assert text.endswith(
        "Node 0, zone   Device\n"
        "  pages free     0\n"
        "        boost    0\n"
        "        min      0\n"
        "        low      0\n"
        "        high     0\n"
        "        promo    0\n"
        "        spanned  0\n"
        "        present  0\n"
        "        managed  0\n"
        "        cma      0\n"
        "        protection: (0, 0, 0, 0, 0)\n")
    assert text.count("per-node stats") == 1
    assert text.index("per-node stats") < text.index("zone    DMA32")


def test_snapshot_a_meminfo_and_vmstat(snapshot_a):
    k = snapshot_a
    meminfo = k.read("/proc/meminfo")
    total = (3840 + 772808 + 131072) * 4
    assert meminfo.startswith(f"MemTotal:       {total:8d} kB\n")
    assert f"CommitLimit:    {(907720 * 50 // 100) * 4:8d} kB\n" in meminfo
    vmstat = dict(line.split() for line in k.read("/proc/vmstat").splitlines())
    assert vmstat["nr_memmap_boot_pages"] == "98304"
    assert int(vmstat["pgfree"]) == 907720          # memblock_free_all() frees count
    assert vmstat["nr_unstable"] == "0"


def test_snapshot_a_pagetypeinfo_block_counts(snapshot_a):
    text = snapshot_a.read("/proc/pagetypeinfo")
    dma32 = [line for line in text.splitlines() if line.startswith("Node 0, zone    DMA32")][0]
    assert sum(int(x) for x in dma32.split()[4:]) == 1528


@pytest.mark.parametrize("backend_name", ["c", "reference"])
def test_snapshot_b(backend_name):
    k = reference_kernel(backend_name, 163840)
    assert [z.watermark + (z.watermark_promo,) for z in k.zones[:3]] == [
        (68, 85, 102, 119), (13883, 17353, 20823, 24293), (2943, 3678, 4413, 5148)]
    assert [z.lowmem_reserve for z in k.zones[:2]] == [(0, 3018, 3658, 3658, 3658),
                                                        (0, 0, 640, 640, 640)]


def test_sysctl_writes_recompute():
    k = reference_kernel("reference", 131072)
    k.min_free_kbytes = 7621
    pages_min = 7621 >> 2
    assert k.zones[1].watermark[0] == pages_min * 772808 // 907720
    k.watermark_scale_factor = 1000
    assert k.zones[1].watermark[1] - k.zones[1].watermark[0] == 772808 * 1000 // 10000
    k.lowmem_reserve_ratio = [128, 128, 32, 0, 0]
    assert k.zones[0].lowmem_reserve[1] == 772808 // 128
    with pytest.raises(ValueError):
        k.watermark_scale_factor = 0
    with pytest.raises(ValueError):
        k.min_free_kbytes = -1
    with pytest.raises(ValueError):
        k.lowmem_reserve_ratio = [1, 2]


@pytest.mark.parametrize("backend_name", ["c", "reference"])
def test_i386_example(backend_name):
    # linux-mm-physical.md 2.4's i386 machine: Normal 225280 and HighMem 32768 managed pages
    k = Kernel("1G", arch="i386", boot_allocations=False, backend=backend_name)
    assert [(z.name, z.start_pfn, z.spanned_pages, z.managed_pages) for z in k.zones] == [
        ("DMA", 1, 4095, 3840), ("Normal", 4096, 225280, 225280),
        ("HighMem", 229376, 32768, 32768), ("Movable", 0, 0, 0)]
    assert [z.lowmem_reserve for z in k.zones[:2]] == [(0, 880, 1008, 1008), (0, 0, 1024, 1024)]
    # HighMem: min = clamp(32768 / 1024, 32, 128) = 32, not a share of min_free_kbytes
    assert k.zone("HighMem").watermark[0] == 32


def test_dma_buddyinfo_and_extfrag_lines(snapshot_a):
    # DMA after boot: 0x100-0xfff free -> one order-8, one order-9, three order-10 blocks,
    # the reference machine's line of linux-mm-physical.md 8.1 and its indices of section 6
    k = snapshot_a
    assert k.read("/proc/buddyinfo").splitlines(keepends=True)[0] == (
        "Node 0, zone      DMA      0      0      0      0      0      0      0      0      1"
        "      1      3 \n")
    assert k.read("/sys/kernel/debug/extfrag/unusable_index").splitlines()[0] == (
        "Node 0, zone      DMA 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.066 "
        "0.200 ")
    assert k.read("/sys/kernel/debug/extfrag/extfrag_index").splitlines()[0] == (
        "Node 0, zone      DMA " + "-1.000 " * 11)
    assert k.zones[0].unusable_index(9) == 66
    assert k.zones[0].fragmentation_index(10) == -1000


def test_pagetypeinfo_header(snapshot_a):
    text = snapshot_a.read("/proc/pagetypeinfo")
    assert text.startswith(
        "Page block order: 9\n"
        "Pages per block:  512\n"
        "\n"
        "Free pages count per migrate type at order       0      1      2      3      4      5"
        "      6      7      8      9     10 \n"
        "Node    0, zone      DMA, type    Unmovable ")
    assert ("\nNumber of blocks type     Unmovable      Movable  Reclaimable   HighAtomic"
            "      Isolate \n") in text
