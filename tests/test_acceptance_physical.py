"""Acceptance test for issue 3 (physical memory), written from the issue text alone.

Every capability the issue names is exercised exactly as it names it, on both backends
(``linuxmm.Kernel`` / ``linuxmm.reference.Kernel``).  Expected numbers are derived by hand from
the kernel's rules (linux-mm-physical.md); the derivations are in the comments.  The last part
compares with this host's own kernel where it exposes the files (skipped elsewhere).

SMALL is a 64 MiB PC: RAM 0-0x9fbff and 1 MiB-64 MiB, 1 MiB reserved at 48 MiB.
  DMA   start 1, spanned 4095, present 158 + 3840 = 3998 (pfn 0 and 0x9f-0xff are not RAM),
        managed 3840 (the first MiB is reserved)
  DMA32 start 4096, spanned = present = 16384 - 4096 = 12288, managed 12288 - 256 = 12032
  Normal/Movable/Device empty (start_pfn 0).
min_free_kbytes: sqrt rule int_sqrt(15872*4*16) = 1007 kB -> pages_min 251 -> DMA high 90,
  DMA32 high 284; THP rule: 2 zones * 512 * 11 = 11264 capped at
  ((3840-90) + (12032-284)) / 20 = 774 pages -> 3096 kB (> 1007, wins).
Watermarks (pages_min 774, lowmem 15872):
  DMA   tmp 774*3840/15872 = 187, step max(46, 3) = 46   -> (187, 233, 279)
  DMA32 tmp 774*12032/15872 = 586, step max(146, 12) = 146 -> (586, 732, 878)
  Movable: clamp(0/1024, 32, 128) = 32, step 0 -> (32, 32, 32); Normal, Device (0, 0, 0)
lowmem_reserve: DMA j>=DMA32: 12032/256 = 47 -> (0, 47, 47, 47, 47); the others 0.
pcp: DMA batch 1 (3/4 = 0 -> 1), high_min 233/2 = 116, high_max 3840/8/2 = 240;
  DMA32 batch 11/4 = 2 -> rounddown_pow_of_two(3) - 1 = 1, high_min 732/2 = 366,
  high_max 12032/8/2 = 752.  vm stats threshold 2*fls(2)*(1+fls(0)) = 4 for both.
totalreserve: min(47 + 279, 3840) + min(0 + 878, 12032) + 0 = 1204.
"""
import inspect
import re

import numpy as np
import pytest

import linuxmm
from host_physical import e820_lines, parse_zoneinfo, read as read_host, stable_zoneinfo
import linuxmm.reference
from linuxmm import OutOfMemory

MIB = 1 << 20
SMALL_E820 = [(0, 0x9FBFF, "usable"), (0x9FC00, 0x9FFFF, "reserved"),
              (0xF0000, 0xFFFFF, "reserved"), (0x100000, 0x3FFFFFF, "usable")]
SMALL_RESERVED = [(48 * MIB, 49 * MIB - 1)]
SMALL_ZONES = [("DMA", 1, 4095, 3998, 3840), ("DMA32", 4096, 12288, 12288, 12032),
               ("Normal", 0, 0, 0, 0), ("Movable", 0, 0, 0, 0), ("Device", 0, 0, 0, 0)]
SMALL_WMARKS = [(187, 233, 279), (586, 732, 878), (0, 0, 0), (32, 32, 32), (0, 0, 0)]
SMALL_RESERVE = [(0, 47, 47, 47, 47)] + [(0, 0, 0, 0, 0)] * 4

GFP_NAMES = {"GFP_KERNEL": 0xCC0, "GFP_ATOMIC": 0x820, "GFP_NOWAIT": 0x2800, "GFP_DMA": 0x01,
             "GFP_DMA32": 0x04, "GFP_HIGHUSER": 0x100CC2, "GFP_HIGHUSER_MOVABLE": 0x100CCA,
             "__GFP_ZERO": 0x100, "__GFP_NOWARN": 0x2000, "__GFP_NORETRY": 0x10000,
             "__GFP_HIGH": 0x20}
GFP_KERNEL, GFP_ATOMIC, GFP_NOWAIT = 0xCC0, 0x820, 0x2800
GFP_DMA, GFP_DMA32, GFP_HIGHUSER_MOVABLE = 0x01, 0x04, 0x100CCA
__GFP_MOVABLE, __GFP_HIGH, __GFP_HIGHMEM = 0x08, 0x20, 0x02

PROC_FILES = ["/proc/buddyinfo", "/proc/pagetypeinfo", "/proc/zoneinfo", "/proc/meminfo",
              "/proc/vmstat"]
DEBUGFS = ["/sys/kernel/debug/extfrag/unusable_index", "/sys/kernel/debug/extfrag/extfrag_index"]


@pytest.fixture(params=["c", "reference"])
def Kernel(request):
    return {"c": linuxmm.Kernel, "reference": linuxmm.reference.Kernel}[request.param]


def small(Kernel, **kw):
    return Kernel(e820=SMALL_E820, reserved=SMALL_RESERVED, **kw)


def zone(k, name):
    z = next(z for z in k.zones if z.name == name)
    assert k.zones[name].start_pfn == z.start_pfn        # k.zones["DMA32"] works too
    return z


def buddy_line(name, counts):
    return "Node 0, zone %8s " % name + "".join("%6d " % c for c in counts) + "\n"


# -- Kernel(...) ----------------------------------------------------------------------------------
def test_constructor_signature_and_defaults():
    params = inspect.signature(linuxmm.Kernel).parameters
    expected = {"mem": None, "arch": "x86_64", "e820": None, "reserved": None, "cpus": 2,
                "min_free_kbytes": None, "watermark_scale_factor": 10, "swap": 0,
                "randomize_va_space": 2, "seed": 0}
    for name, default in expected.items():
        assert params[name].default == default, name
    assert list(params)[0] == "mem"
    for name in list(expected)[1:]:
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, name


def test_default_machine_is_1g_and_stores_swap_and_aslr(Kernel):
    k = Kernel()
    # 1 GiB = 262144 pfns; pfn 0 and the 97 pfns of 0x9f..0xff are never RAM
    assert sum(z.present_pages for z in k.zones) == 262144 - 1 - 97
    assert [z.name for z in k.zones] == ["DMA", "DMA32", "Normal", "Movable", "Device"]
    k = Kernel("512M", swap="1G", randomize_va_space=0, seed=7, cpus=4)
    assert (k.swap, k.randomize_va_space, k.cpus) == (1 << 30, 0, 4)


@pytest.mark.parametrize("mem", ["4G", "4096M", "4194304K", 4 << 30, "4g"])
def test_mem_sizes(Kernel, mem):
    k = Kernel(mem)
    assert sum(z.present_pages for z in k.zones) == (4 << 30) // 4096 - 1 - 97


def test_bad_mem_and_arch():
    with pytest.raises(ValueError):
        linuxmm.Kernel("4Q")
    with pytest.raises(ValueError):
        linuxmm.Kernel("1G", arch="arm64")


def test_e820_tuples_zones(Kernel):
    k = small(Kernel)
    assert [(z.name, z.start_pfn, z.spanned_pages, z.present_pages, z.managed_pages)
            for z in k.zones] == SMALL_ZONES


def test_e820_as_bios_lines_timestamped_or_not(Kernel):
    lines = ["[    0.000000] BIOS-e820: [mem 0x%016x-0x%016x] %s" % t for t in SMALL_E820]
    bare = [line.split("] ", 1)[1] for line in lines]
    for e820 in (lines, bare, "\n".join(["[    0.000000] BIOS-provided physical RAM map:"]
                                         + lines)):
        k = Kernel(e820=e820, reserved=SMALL_RESERVED)
        assert [(z.name, z.start_pfn, z.spanned_pages, z.present_pages, z.managed_pages)
                for z in k.zones] == SMALL_ZONES


def test_e820_dmesg_dump_other_lines_ignored(Kernel):
    """Only the BIOS-e820: lines describe the firmware map; the kernel's own later edits
    (first page -> reserved, legacy hole removed) are the boot rules, not extra entries."""
    dump = ["[    0.000000] Linux version 6.18.0 (gcc) #1 SMP",
            "[    0.000000] BIOS-provided physical RAM map:"]
    dump += ["[    0.000000] BIOS-e820: [mem 0x%016x-0x%016x] %s" % t for t in SMALL_E820]
    dump += ["[    0.000393] e820: update [mem 0x00000000-0x00000fff] usable ==> reserved",
             "[    0.000394] e820: remove [mem 0x000a0000-0x000fffff] usable",
             "[    0.000395] e820: remove [mem 0x04000000-0x07ffffff] usable",
             "[    0.266145] PCI: ECAM [mem 0xeec00000-0xeecfffff] reserved as E820 entry"]
    for e820 in (dump, "\n".join(dump)):
        k = Kernel(e820=e820, reserved=SMALL_RESERVED)
        assert [(z.name, z.start_pfn, z.spanned_pages, z.present_pages, z.managed_pages)
                for z in k.zones] == SMALL_ZONES


def test_e820_non_ram_types_and_partial_pages(Kernel):
    # usable 1 MiB..64 MiB with an "ACPI data" hole (pfns 0x2000..0x2fff) and an
    # "ACPI NVS" page; a usable range that starts and ends mid-page loses both partial pages
    e820 = [(0, 0x9FBFF, "usable"), (0x9FC00, 0xFFFFF, "reserved"),
            (0x100000, 0x1FFFFFF, "usable"), (0x2000000, 0x2FFFFFF, "ACPI data"),
            (0x3000000, 0x3000FFF, "ACPI NVS"), (0x3001000, 0x3FFFFFF, "usable"),
            (0x4000800, 0x40107FF, "usable")]     # pfns 0x4001..0x400f (0x4000, 0x4010 partial)
    k = Kernel(e820=e820, reserved=[])
    dma32 = zone(k, "DMA32")
    assert dma32.start_pfn == 4096
    assert dma32.spanned_pages == 0x4010 - 4096
    assert dma32.present_pages == (0x2000 - 4096) + (0x4000 - 0x3001) + 15
    assert dma32.managed_pages == dma32.present_pages


def test_reserved_pages_present_not_managed(Kernel):
    base = Kernel(e820=SMALL_E820, reserved=[])
    assert zone(base, "DMA32").managed_pages == 12288
    # a reservation touching part of a page reserves the whole page: 0x2000800-0x2001800
    # touches pfns 0x2000 and 0x2001
    k = Kernel(e820=SMALL_E820, reserved=[(0x2000800, 0x2001800)])
    assert zone(k, "DMA32").present_pages == 12288
    assert zone(k, "DMA32").managed_pages == 12288 - 2
    assert "PG_reserved" in k.page(0x2001).flags
    assert "PG_reserved" not in k.page(0x2002).flags


def test_i386_zones(Kernel):
    k = Kernel("1G", arch="i386", reserved=[])
    # DMA < 16 MiB, Normal < 896 MiB (pfn 229376), HighMem above
    assert [(z.name, z.start_pfn, z.spanned_pages) for z in k.zones] == [
        ("DMA", 1, 4095), ("Normal", 4096, 225280), ("HighMem", 229376, 32768),
        ("Movable", 0, 0)]
    # protection as linux-mm-physical.md 2.4 (managed DMA 3840, Normal 225280, HighMem 32768):
    # DMA: 225280/256 = 880, (225280+32768)/256 = 1008; Normal: 32768/32 = 1024
    assert [z.lowmem_reserve for z in k.zones[:2]] == [(0, 880, 1008, 1008), (0, 0, 1024, 1024)]
    # HighMem min = clamp(32768/1024, 32, 128) = 32
    assert zone(k, "HighMem").watermark[0] == 32


# -- zones: watermarks, lowmem_reserve, pcp -------------------------------------------------------
def test_small_zone_numbers(Kernel):
    k = small(Kernel)
    assert k.min_free_kbytes == 3096
    assert [tuple(z.watermark) for z in k.zones] == SMALL_WMARKS
    assert [tuple(z.lowmem_reserve) for z in k.zones] == SMALL_RESERVE
    for z in k.zones:
        assert z.free_pages == z.managed_pages          # nothing allocated yet
        assert sum(n << o for o, n in enumerate(z.nr_free)) == z.free_pages
        assert len(z.nr_free) == 11
    # memblock_free_all: DMA frees 256..511 (order 8), 512..1023 (9), 1024..4095 (3 x 10)
    assert list(zone(k, "DMA").nr_free) == [0] * 8 + [1, 1, 3]


def test_watermark_tuple_and_sysctl_arguments(Kernel):
    k = small(Kernel, min_free_kbytes=1024, watermark_scale_factor=100)
    # pages_min 256: DMA tmp 256*3840/15872 = 61, step max(15, 3840*100/10000 = 38) = 38
    # DMA32 tmp 256*12032/15872 = 194, step max(48, 120) = 120
    assert tuple(zone(k, "DMA").watermark) == (61, 99, 137)
    assert tuple(zone(k, "DMA32").watermark) == (194, 314, 434)
    assert k.min_free_kbytes == 1024


def test_min_free_kbytes_sqrt_rule_without_thp():
    # 64 MiB machine, THP rule aside, the square-root rule gives 1007 kB (no clamp)
    k = linuxmm.Kernel(e820=SMALL_E820, reserved=SMALL_RESERVED, transparent_hugepage="never")
    assert k.min_free_kbytes == 1007


# -- gfp names ------------------------------------------------------------------------------------
def test_gfp_names_from_linuxmm_and_linuxmm_gfp():
    import linuxmm.gfp
    for name, value in GFP_NAMES.items():
        assert getattr(linuxmm, name) == value, name
        assert getattr(linuxmm.reference, name) == value, name
        assert getattr(linuxmm.gfp, name) == value, name
    from linuxmm import GFP_KERNEL as a, __GFP_ZERO as b  # noqa: F401
    from linuxmm.gfp import GFP_HIGHUSER_MOVABLE as c  # noqa: F401
    assert (a, b, c) == (0xCC0, 0x100, 0x100CCA)


# -- alloc_pages / free_pages ---------------------------------------------------------------------
def test_first_allocations_by_zone_and_migratetype(Kernel):
    k = small(Kernel)
    # GFP_KERNEL: Normal is empty -> DMA32; UNMOVABLE claims the largest MOVABLE block (the
    # head of DMA32's order-10 list, pfn 4096, freed to the tail first) and returns its first page
    assert k.alloc_pages() == 4096
    assert k.page(4096).zone == "DMA32"
    assert k.alloc_pages(GFP_DMA32) == 4097
    # GFP_DMA: DMA only; claims DMA's first order-10 block at 1024
    assert k.alloc_pages(GFP_DMA) == 1024
    # MOVABLE: smallest movable block first (__rmqueue_smallest): DMA32's order-8 block at
    # pfn 12544 (the reservation ends at 12544)
    assert k.alloc_pages(GFP_HIGHUSER_MOVABLE) == 12544
    # pagetypeinfo block counts: DMA32 24 blocks from 4096, 2 claimed for UNMOVABLE
    text = k.read("/proc/pagetypeinfo")
    assert "Node 0, zone    DMA32            2           22            0            0" \
           "            0 \n" in text
    assert "Node 0, zone      DMA            2            6            0            0" \
           "            0 \n" in text


def test_alloc_free_keyword_forms_and_page_view(Kernel):
    k = small(Kernel)
    pfn = k.alloc_pages(gfp=GFP_KERNEL, order=2)
    p = k.page(pfn)
    assert (p.refcount, p.mapcount, p.order, p.zone) == (1, 0, 2, "DMA32")
    assert "PG_reserved" not in p.flags
    k.free_pages(pfn, order=2)
    p = k.page(pfn)
    assert p.refcount == 0
    pfn = k.alloc_pages()
    assert k.page(pfn).order == 0 and k.page(pfn).refcount == 1
    k.free_pages(pfn)
    assert k.page(pfn).refcount == 0
    # first MiB: reserved at boot, refcount 1, never free
    bios = k.page(0x50)
    assert "PG_reserved" in bios.flags and bios.refcount == 1 and bios.zone == "DMA"
    # a free buddy block head knows its order: DMA's order-9 block at 512
    assert k.page(512).order == 9 and k.page(512).refcount == 0
    k.check()


def test_order_10_and_bad_orders(Kernel):
    k = small(Kernel)
    pfn = k.alloc_pages(GFP_KERNEL, 10)
    assert pfn % 1024 == 0
    k.free_pages(pfn, 10)
    before = (k.read("/proc/buddyinfo"), k.read("/proc/vmstat"))
    for order in (11, -1, 64):
        with pytest.raises(ValueError):
            k.alloc_pages(GFP_KERNEL, order)
    with pytest.raises(ValueError):
        k.free_pages(pfn, 11)
    assert (k.read("/proc/buddyinfo"), k.read("/proc/vmstat")) == before


@pytest.mark.parametrize("gfp", [GFP_DMA | GFP_DMA32, GFP_DMA | __GFP_HIGHMEM,
                                 GFP_DMA32 | __GFP_HIGHMEM, -1, 1 << 32])
def test_bad_gfp_value_error_state_unchanged(Kernel, gfp):
    k = small(Kernel)
    before = (k.read("/proc/buddyinfo"), k.read("/proc/vmstat"))
    with pytest.raises(ValueError):
        k.alloc_pages(gfp)
    with pytest.raises(ValueError):
        k.alloc_pages(gfp, 0)
    with pytest.raises(ValueError):
        k.alloc_pages_bulk(gfp, 4)
    assert (k.read("/proc/buddyinfo"), k.read("/proc/vmstat")) == before


def test_cpu_argument(Kernel):
    k = small(Kernel, cpus=2)
    a = k.alloc_pages(GFP_KERNEL, 0, cpu=0)
    b = k.alloc_pages(GFP_KERNEL, cpu=1)
    assert a != b
    k.free_pages(a, 0, cpu=1)
    k.free_pages(b, cpu=0)
    with pytest.raises(ValueError):
        k.alloc_pages(GFP_KERNEL, 0, cpu=2)
    k.check()


def test_unmovable_fallback_claims_and_watermark_boost(Kernel):
    """GFP_KERNEL|GFP_DMA order 4 (UNMOVABLE, DMA only, no pcp).  All DMA pageblocks start
    MOVABLE; __rmqueue_claim takes the largest movable block first, whole blocks (order >= 9)
    are retyped: 1024, 2048, 3072 (order 10), 512 (order 9) -> 224 allocations, free 256.
    The 225th (256 - 15 > low 233) falls back to the order-8 block at 256: below pageblock
    order, so boost_watermark(): max(512, high 279 * 15000 / 10000) -> boost 512; the block
    cannot be claimed (its pageblock starts at pfn 0, outside the zone), so it is stolen:
    pfn 256, pageblock stays MOVABLE.  Boosted min 187 + 512 = 699 > 240 - 15: OOM."""
    k = small(Kernel)
    got = []
    with pytest.raises(OutOfMemory):
        for _ in range(400):
            got.append(k.alloc_pages(GFP_KERNEL | GFP_DMA, 4))
    dma = zone(k, "DMA")
    assert len(got) == 225 and got[-1] == 256
    assert tuple(dma.watermark) == (187 + 512, 233 + 512, 279 + 512)
    assert dma.free_pages == 240
    assert "        boost    512\n        min      699\n" in k.read("/proc/zoneinfo")
    assert "Node 0, zone      DMA            7            1            0            0" \
           "            0 \n" in k.read("/proc/pagetypeinfo")


def test_pcp_refills_as_nr_pcp_alloc(Kernel):
    """DMA32 pcp: batch 1, high_min 366, high_max 752, boot high 0.  Each refill (nr_pcp_alloc):
    high = clamp(high, 366, 752) + (batch << alloc_factor), alloc_factor += 1, refill
    batch << alloc_factor pages: 1st alloc refills 1 (high 367), 2nd 2 (369), 3rd from the
    list, 4th 4 (373).  zoneinfo's pcp count/high of CPU 0 after each; CPU 1 untouched."""
    k = small(Kernel)
    seen = []
    for _ in range(4):
        k.alloc_pages(GFP_KERNEL)
        entry = k.read("/proc/zoneinfo").split("Node 0, zone    DMA32\n")[1]
        m = re.search(r"cpu: 0\n\s+count:\s+(\d+)\n\s+high:\s+(\d+)", entry)
        seen.append((int(m.group(1)), int(m.group(2))))
    assert seen == [(0, 367), (1, 369), (0, 369), (3, 373)]
    assert re.search(r"cpu: 1\n\s+count:\s+0\n\s+high:\s+0\n", entry)
    assert zone(k, "DMA32").free_pages == 12032 - (1 + 2 + 4)


def test_zonelist_fallback_and_lowmem_reserve_order4(Kernel):
    """GFP_HIGHUSER_MOVABLE order 4 (no pcp, MOVABLE: no fallback, no boost).
    highest_zoneidx = Movable (3); zonelist DMA32 -> DMA.  Fast path at LOW, slow path at MIN;
    order 4 passes when free - 15 > mark + lowmem_reserve[3]:
      1. DMA32 at LOW 732: free >= 748: 12032 - 16k >= 748 -> 706 allocations, free 736
      2. DMA at LOW 233 + 47: free >= 296: 3840 - 16j >= 296 -> 222 allocations, free 288
      3. slow path DMA32 at MIN 586: free >= 602 -> 9 allocations, free 592
      4. slow path DMA at MIN 187 + 47: free >= 250 -> 3 allocations, free 240
    then OutOfMemory: 940 allocations, 715 from DMA32 and 225 from DMA."""
    k = small(Kernel)
    zones = []
    with pytest.raises(OutOfMemory):
        for _ in range(2000):
            zones.append(k.page(k.alloc_pages(GFP_HIGHUSER_MOVABLE, 4)).zone)
    assert len(zones) == 940
    assert zones == ["DMA32"] * 706 + ["DMA"] * 222 + ["DMA32"] * 9 + ["DMA"] * 3
    assert (zone(k, "DMA32").free_pages, zone(k, "DMA").free_pages) == (592, 240)
    vm = dict(line.split() for line in k.read("/proc/vmstat").splitlines())
    assert (int(vm["pgalloc_dma32"]), int(vm["pgalloc_dma"])) == (715 * 16, 225 * 16)
    assert int(vm["nr_free_pages"]) == 592 + 240
    # lowmem_reserve refused DMA to Movable-capable requests; a DMA request
    # (highest_zoneidx 0, reserve 0) still gets pages until free - 15 <= 187: 240 -> 224 -> 208
    # -> 192 -> refused
    movable_dma = (GFP_HIGHUSER_MOVABLE & ~__GFP_HIGHMEM) | GFP_DMA
    got = []
    with pytest.raises(OutOfMemory):
        for _ in range(10):
            got.append(k.alloc_pages(movable_dma, 4))
    assert len(got) == 3 and zone(k, "DMA").free_pages == 192
    assert OutOfMemory.__mro__.count(MemoryError) == 1
    k.check()


@pytest.mark.parametrize("gfp, limit", [
    # movable, so that no pageblock is ever claimed (no watermark boost); DMA min 187,
    # lowmem_reserve[DMA][DMA] = 0.  Refused when NR_FREE <= limit:
    (GFP_KERNEL, 187),                       # WMARK_MIN
    (GFP_NOWAIT, 187),                       # no reduction for GFP_NOWAIT
    (GFP_KERNEL | __GFP_HIGH, 187 - 93),     # __GFP_HIGH: min - min/2
    (GFP_ATOMIC, 94 - 23),                   # GFP_ATOMIC: then - min/4 (~3/8 of min left)
])
def test_order0_watermark_reserves(Kernel, gfp, limit):
    k = small(Kernel)
    dma = zone(k, "DMA")
    gfp |= GFP_DMA | __GFP_MOVABLE
    for _ in range(5000):
        free = dma.free_pages
        try:
            k.alloc_pages(gfp)
        except OutOfMemory:
            assert free <= limit
            break
        assert free > limit
    else:
        pytest.fail("DMA never ran out")
    k.check()


def test_atomic_goes_deeper_than_kernel(Kernel):
    k = small(Kernel)
    dma = zone(k, "DMA")
    kernel_dma = GFP_KERNEL | GFP_DMA | __GFP_MOVABLE
    with pytest.raises(OutOfMemory):
        for _ in range(5000):
            k.alloc_pages(kernel_dma)
    assert dma.free_pages <= 187
    pfn = k.alloc_pages(GFP_ATOMIC | GFP_DMA | __GFP_MOVABLE)     # below min: still served
    assert k.page(pfn).zone == "DMA"
    with pytest.raises(OutOfMemory):
        k.alloc_pages(kernel_dma)
    # __GFP_NOWARN / __GFP_NORETRY / __GFP_ZERO are accepted
    k.alloc_pages(GFP_ATOMIC | GFP_DMA | __GFP_MOVABLE | 0x2000 | 0x10000 | 0x100)


# -- bulk -----------------------------------------------------------------------------------------
def test_bulk(Kernel):
    k = small(Kernel)
    free0 = sum(z.free_pages for z in k.zones)
    pfns = k.alloc_pages_bulk(GFP_KERNEL, 1000)
    assert isinstance(pfns, np.ndarray) and pfns.dtype == np.int64 and len(pfns) == 1000
    assert len(set(pfns.tolist())) == 1000
    assert all(k.page(int(p)).zone == "DMA32" for p in pfns)
    vm = dict(line.split() for line in k.read("/proc/vmstat").splitlines())
    assert int(vm["pgalloc_dma32"]) == 1000
    k.free_pages_bulk(pfns)
    vm = dict(line.split() for line in k.read("/proc/vmstat").splitlines())
    assert int(vm["pgfree"]) == 15872 + 1000          # boot release + the bulk free
    # pcp pages are not free pages; the identity free + pcp = pgfree - pgalloc holds
    pcp = sum(int(c) for c in re.findall(r"count:\s+(\d+)", k.read("/proc/zoneinfo")))
    assert sum(z.free_pages for z in k.zones) + pcp == free0
    k.free_pages_bulk(k.alloc_pages_bulk(GFP_KERNEL, 10).tolist())     # a list works too
    # alloc_pages_bulk serves from the first zone passing low + count; with none, one
    # ordinary allocation: 11500 > DMA32's 12032 - 732 is refused there and in DMA -> 1 page
    got = k.alloc_pages_bulk(GFP_KERNEL, 11500)
    assert len(got) == 1
    k.free_pages_bulk(got)
    # 5000 < free - low: every page from DMA32
    got = k.alloc_pages_bulk(GFP_KERNEL, 5000)
    assert len(got) == 5000 and {k.page(int(p)).zone for p in got} == {"DMA32"}
    with pytest.raises(ValueError):
        k.alloc_pages_bulk(GFP_KERNEL, -1)
    k.check()


# -- /proc ----------------------------------------------------------------------------------------
def test_buddyinfo_text(Kernel):
    k = small(Kernel)
    # DMA32 after the reservation at 12288..12543: 8 order-10 blocks below it, then
    # 12544 (order 8), 12800 (order 9), 13312, 14336, 15360 (order 10)
    assert k.read("/proc/buddyinfo") == (
        buddy_line("DMA", [0] * 8 + [1, 1, 3])
        + buddy_line("DMA32", [0] * 8 + [1, 1, 11]))


def test_pagetypeinfo_text(Kernel):
    k = small(Kernel)
    text = k.read("/proc/pagetypeinfo")
    assert text.startswith("Page block order: 9\nPages per block:  512\n\n"
                           "Free pages count per migrate type at order       0      1      2"
                           "      3      4      5      6      7      8      9     10 \n")
    assert ("Node    0, zone      DMA, type      Movable      0      0      0      0      0"
            "      0      0      0      1      1      3 \n") in text
    assert ("Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic"
            "      Isolate \n") in text
    # DMA: blocks visited from pfn 1 every 512 -> 8; DMA32 12288/512 = 24
    assert "Node 0, zone      DMA            0            8            0            0" \
           "            0 \n" in text
    assert "Node 0, zone    DMA32            0           24            0            0" \
           "            0 \n" in text


def test_zoneinfo_text(Kernel):
    k = small(Kernel)
    text = k.read("/proc/zoneinfo")
    entry = text.split("Node 0, zone    DMA32\n")[1].split("Node 0, zone")[0]
    assert entry.startswith(
        "  pages free     12032\n"
        "        boost    0\n"
        "        min      586\n"
        "        low      732\n"
        "        high     878\n"
        "        promo    1024\n"
        "        spanned  12288\n"
        "        present  12288\n"
        "        managed  12032\n"
        "        cma      0\n"
        "        protection: (0, 0, 0, 0, 0)\n"
        "      nr_free_pages 12032\n")
    for cpu in (0, 1):
        assert ("    cpu: %d\n"
                "              count:    0\n"
                "              high:     0\n"
                "              batch:    1\n"
                "              high_min: 366\n"
                "              high_max: 752\n" % cpu) in entry
    assert "  vm stats threshold: 4\n" in entry
    assert entry.endswith("  start_pfn:           4096\n")
    dma = text.split("Node 0, zone      DMA\n")[1].split("Node 0, zone")[0]
    assert "        protection: (0, 47, 47, 47, 47)\n" in dma
    assert "  per-node stats\n" in dma
    # unpopulated zones end after protection
    assert "Node 0, zone   Normal\n  pages free     0\n" in text
    normal = text.split("Node 0, zone   Normal\n")[1].split("Node 0, zone")[0]
    assert normal.endswith("        protection: (0, 0, 0, 0, 0)\n")


def test_meminfo_and_vmstat(Kernel):
    k = small(Kernel)
    mem = k.read("/proc/meminfo")
    assert mem.startswith("MemTotal:          63488 kB\nMemFree:           63488 kB\n"
                          # MemAvailable = free - totalreserve = 15872 - 1204 pages
                          "MemAvailable:      58672 kB\n")
    assert "SwapTotal:             0 kB\n" in mem
    assert "HugePages_Total:       0\n" in mem
    vm = k.read("/proc/vmstat")
    assert vm.startswith("nr_free_pages 15872\n")
    assert vm.endswith("nr_unstable 0\n")
    for item in ("pgalloc_dma 0", "pgalloc_dma32 0", "pgalloc_normal 0", "pgalloc_movable 0",
                 "pgfree 15872"):
        assert "\n" + item + "\n" in vm
    pfn = k.alloc_pages(GFP_DMA, 3)
    vm = dict(line.split() for line in k.read("/proc/vmstat").splitlines())
    assert int(vm["pgalloc_dma"]) == 8
    k.free_pages(pfn, 3)
    vm = dict(line.split() for line in k.read("/proc/vmstat").splitlines())
    assert int(vm["pgfree"]) == 15872 + 8


@pytest.mark.parametrize("path", ["/proc/nonexistent", "/proc/buddyinfo2", "buddyinfo",
                                  "/proc/zoneinfo/", "/sys/kernel/debug/extfrag/nothing"])
def test_unknown_paths(Kernel, path):
    k = small(Kernel)
    with pytest.raises(FileNotFoundError):
        k.read(path)


# -- fragmentation --------------------------------------------------------------------------------
def test_fragmentation_indices(Kernel):
    k = small(Kernel)
    dma = zone(k, "DMA")
    # DMA 0 0 0 0 0 0 0 0 1 1 3: free 3840; order 9 suitable 1 + 3*2 = 7 ->
    # (3840 - 3584)*1000/3840 = 66; order 10: 768*1000/3840 = 200
    assert [dma.unusable_index(o) for o in range(11)] == [0] * 9 + [66, 200]
    assert [dma.fragmentation_index(o) for o in range(11)] == [-1000] * 11
    assert k.read("/sys/kernel/debug/extfrag/unusable_index").splitlines()[0] == (
        "Node 0, zone      DMA " + "0.000 " * 9 + "0.066 0.200 ")
    assert k.read("/sys/kernel/debug/extfrag/extfrag_index").splitlines()[0] == (
        "Node 0, zone      DMA " + "-1.000 " * 11)
    # take DMA's three order-10 blocks (GFP_DMA: DMA only): left 256 (order 8) + 512 (order 9)
    for _ in range(3):
        k.alloc_pages(GFP_DMA | __GFP_MOVABLE, 10)
    assert list(dma.nr_free) == [0] * 8 + [1, 1, 0]
    # order 10: no suitable block, 2 blocks, 768 pages:
    # 1000 - (1000 + 768*1000/1024)/2 = 1000 - 1750/2 = 125; unusable 1000
    # order 9: suitable 1 -> unusable (768 - 512)*1000/768 = 333, extfrag -1000
    assert dma.fragmentation_index(10) == 125
    assert dma.unusable_index(10) == 1000 and dma.unusable_index(9) == 333
    assert dma.fragmentation_index(9) == -1000
    assert dma.extfrag_index(10) == 125 and dma.unusable_free_index(9) == 333
    line = k.read("/sys/kernel/debug/extfrag/extfrag_index").splitlines()[0]
    assert line == "Node 0, zone      DMA " + "-1.000 " * 10 + " 0.125 "
    line = k.read("/sys/kernel/debug/extfrag/unusable_index").splitlines()[0]
    assert line == "Node 0, zone      DMA " + "0.000 " * 9 + "0.333 1.000 "


def test_both_backends_agree():
    a = linuxmm.Kernel(e820=SMALL_E820, reserved=SMALL_RESERVED)
    b = linuxmm.reference.Kernel(e820=SMALL_E820, reserved=SMALL_RESERVED)
    for gfp, order in [(GFP_KERNEL, 0), (GFP_DMA, 2), (GFP_HIGHUSER_MOVABLE, 9),
                       (GFP_ATOMIC, 1), (GFP_DMA32, 3)] * 5:
        assert a.alloc_pages(gfp, order) == b.alloc_pages(gfp, order)
    for path in PROC_FILES + DEBUGFS:
        assert a.read(path) == b.read(path), path


# -- this host ------------------------------------------------------------------------------------
def test_host_shapes_match(Kernel):
    k = Kernel("2G")
    for path in ("/proc/buddyinfo", "/proc/zoneinfo", "/proc/pagetypeinfo", "/proc/meminfo"):
        host = read_host(path)
        if host is None:
            continue
        mine = k.read(path)
        if path == "/proc/buddyinfo":
            for line in host.splitlines():
                assert re.fullmatch(r"Node \d+, zone +\S+( +\d+){11} ", line)
            for line in mine.splitlines():
                assert re.fullmatch(r"Node \d+, zone +\S+( +\d+){11} ", line)
                assert len(line) == len(host.splitlines()[0])
        elif path == "/proc/meminfo":
            host_keys = [line.split(":")[0] for line in host.splitlines()]
            my_keys = [line.split(":")[0] for line in mine.splitlines()]
            assert my_keys == [key for key in host_keys if key in my_keys]
            assert my_keys[:3] == ["MemTotal", "MemFree", "MemAvailable"]
        elif path == "/proc/pagetypeinfo":
            assert mine.splitlines()[:4] == host.splitlines()[:4]
        else:
            shape = [re.sub(r"\d+", "N", line) for line in host.splitlines()
                     if line.startswith(("  pages free", "        min", "        protection",
                                         "  pagesets", "    cpu:", "  start_pfn"))]
            mine_shape = [re.sub(r"\d+", "N", line) for line in mine.splitlines()
                          if line.startswith(("  pages free", "        min",
                                              "        protection", "  pagesets", "    cpu:",
                                              "  start_pfn"))]
            assert set(mine_shape) <= set(shape) | {"  start_pfn:           N"}


def test_host_e820_zones_and_watermarks(Kernel):
    lines, zones = e820_lines(), stable_zoneinfo()
    ctl = {n: read_host("/proc/sys/vm/" + n) for n in ("watermark_scale_factor",
                                                     "lowmem_reserve_ratio")}
    if not lines or not zones or None in ctl.values():
        pytest.skip("host e820 map or /proc/zoneinfo not readable")
    if [z["name"] for z in zones] != ["DMA", "DMA32", "Normal", "Movable", "Device"] or \
            ctl["lowmem_reserve_ratio"].split() != ["256", "256", "32", "0", "0"] or \
            int(ctl["watermark_scale_factor"]) != 10:
        pytest.skip("host is not a default single-node x86_64 machine")
    cpus = len(zones[0]["pcp"])          # one pageset per online CPU in a populated zone
    if not cpus:
        pytest.skip("host DMA zone has no pagesets")
    thp = read_host("/sys/kernel/mm/transparent_hugepage/enabled") or "[never]"
    if "[never]" in thp:
        pytest.skip("THP off on the host")
    # zone ranges and present pages from the e820 map alone
    k = Kernel(e820=lines, cpus=cpus)
    for mine, host in zip(k.zones, zones):
        assert (mine.spanned_pages, mine.present_pages) == (host["spanned"], host["present"])
        if host["start_pfn"] is not None:
            assert mine.start_pfn == host["start_pfn"]
    # reservations that leave the host's managed pages: the DMA zone's are the first MiB;
    # reserve the rest at the top of DMA32 / Normal RAM
    reserved = []
    for mine, host in zip(k.zones[1:3], zones[1:3]):
        extra = host["present"] - host["managed"]
        if extra:
            end = mine.start_pfn + mine.spanned_pages
            reserved.append(((end - extra) << 12, (end << 12) - 1))
    if zones[0]["present"] - zones[0]["managed"] != 158 or \
            zones[1]["spanned"] != zones[1]["present"] + 262144:
        pytest.skip("host DMA reservations or DMA32 hole differ from the reference machine")
    # DMA32 RAM ends at 3 GiB on the reference machine (pfn 786432)
    reserved[0] = ((786432 - (zones[1]["present"] - zones[1]["managed"])) << 12,
                   (786432 << 12) - 1)
    k = Kernel(e820=lines, reserved=reserved, cpus=cpus)
    assert k.min_free_kbytes == int(read_host("/proc/sys/vm/min_free_kbytes"))
    for mine, host in zip(k.zones, zones):
        assert mine.managed_pages == host["managed"], host["name"]
        assert tuple(mine.watermark) == (host["min"], host["low"], host["high"]), host["name"]
        assert tuple(mine.lowmem_reserve) == tuple(host["protection"]), host["name"]
    # pcp batch / high_min / high_max of every CPU, as zoneinfo prints them
    mine = parse_zoneinfo(k.read("/proc/zoneinfo"))
    assert [z["pcp"] for z in mine] == [z["pcp"] for z in zones]


def test_snapshot_a_from_issue_inputs(Kernel):
    """linux-mm-physical.md snapshot A, with the same inputs: the host's firmware map and
    reservations that leave managed DMA 3840, DMA32 772808, Normal 131072."""
    e820 = ["BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
            "BIOS-e820: [mem 0x000000000009fc00-0x00000000000fffff] reserved",
            "BIOS-e820: [mem 0x0000000000100000-0x00000000bfffffff] usable",
            "BIOS-e820: [mem 0x00000000eec00000-0x00000000febfffff] reserved",
            "BIOS-e820: [mem 0x0000000100000000-0x000000063fffffff] usable"]
    reserved = [(0xC0000000 - 9528 * 4096, 0xBFFFFFFF),
                (0x100000000 + 131072 * 4096, 0x63FFFFFFF)]
    k = Kernel(e820=e820, reserved=reserved)
    assert [(z.start_pfn, z.spanned_pages, z.present_pages, z.managed_pages)
            for z in k.zones[:3]] == [(1, 4095, 3998, 3840), (4096, 1044480, 782336, 772808),
                                      (1048576, 5505024, 5505024, 131072)]
    assert k.min_free_kbytes == 67584
    assert [tuple(z.watermark) for z in k.zones] == [
        (71, 88, 105), (14384, 17980, 21576), (2439, 3048, 3657), (32, 32, 32), (0, 0, 0)]
    assert [tuple(z.lowmem_reserve) for z in k.zones[:2]] == [(0, 3018, 3530, 3530, 3530),
                                                              (0, 0, 512, 512, 512)]
    zi = k.read("/proc/zoneinfo")
    assert "              batch:    63\n              high_min: 8990\n" \
           "              high_max: 48300\n" in zi
