"""x86 boot rules: e820 parsing, holes, first MiB, zone spans, reservations (pure layer)."""
import pytest

from linuxmm import boot

# The reference machine's firmware map (linux-mm-physical.md 1.2: its zone table is the answer).
REFERENCE_DMESG = """\
[    0.000000] BIOS-provided physical RAM map:
[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable
[    0.000000] BIOS-e820: [mem 0x000000000009fc00-0x00000000000fffff] reserved
[    0.000000] BIOS-e820: [mem 0x0000000000100000-0x00000000bfffffff] usable
[    0.000000] BIOS-e820: [mem 0x00000000eec00000-0x00000000febfffff] reserved
[    0.000000] BIOS-e820: [mem 0x0000000100000000-0x000000063fffffff] usable
"""


def test_parse_dmesg_text_and_lines_and_tuples():
    table = boot.parse_e820(REFERENCE_DMESG)
    assert table[0] == (0, 0x9FBFF, "usable")
    assert table[3] == (0xEEC00000, 0xFEBFFFFF, "reserved")
    lines = [line for line in REFERENCE_DMESG.splitlines() if "e820" in line]
    assert boot.parse_e820(lines) == table
    assert boot.parse_e820([(0, 0x9FBFF, "usable")]) == [(0, 0x9FBFF, "usable")]
    assert boot.parse_e820([("0", "1M", "ACPI data")]) == [(0, 1 << 20, "ACPI data")]
    assert boot.parse_e820([(0, 0xFFF, "System RAM")]) == [(0, 0xFFF, "usable")]


@pytest.mark.parametrize("bad", [
    "no map here", ["BIOS-e820: garbage"], [(5, 1, "usable")], [(0, 1)], [(0, 10, 7)]])
def test_parse_rejects(bad):
    with pytest.raises(ValueError):
        boot.parse_e820(bad)


def test_reference_machine_zones():
    layout = boot.boot(e820=REFERENCE_DMESG)
    assert layout.spans == [("DMA", 1, 4095), ("DMA32", 4096, 1044480),
                            ("Normal", 1048576, 5505024), ("Movable", 0, 0), ("Device", 0, 0)]
    assert layout.present == [3998, 782336, 5505024, 0, 0]
    # DMA: the 158 present pages of the first MiB are reserved -> managed 3840 (verified)
    assert layout.managed[0] == 3840
    assert layout.memmap_pages == 98304          # nr_memmap_boot_pages of the reference machine
    # modelled reservations: kernel image in DMA32, memmap at the top of Normal
    assert layout.managed[1] == 782336 - boot.KERNEL_RESERVED_PAGES
    assert layout.managed[2] == 5505024 - 98304
    # pagetypeinfo counts 1528 of DMA32's 2040 pageblocks: 512 lie in the 3-4 GiB hole
    assert layout.offline_pageblocks == [0, 512, 0, 0, 0]


def test_first_page_and_legacy_hole_never_ram():
    memory = boot.memory_pfns([(0, 0xFFFFFFF, "usable")], "x86_64")
    assert memory == [(1, 0xA0), (0x100, 0x10000)]


def test_partial_pages_dropped_and_non_ram_wins():
    memory = boot.memory_pfns([(0x100800, 0x2007FF, "usable"),
                               (0x180000, 0x180FFF, "ACPI NVS")], "x86_64")
    assert memory == [(0x101, 0x180), (0x181, 0x200)]


def test_i386_zones_896m_and_4g_cap():
    layout = boot.boot("2G", arch="i386")
    assert layout.names == ["DMA", "Normal", "HighMem", "Movable"]
    assert layout.spans[:3] == [("DMA", 1, 4095), ("Normal", 4096, 229376 - 4096),
                                ("HighMem", 229376, 524288 - 229376)]
    assert layout.max_low_pfn == 229376
    big = boot.boot(e820=[(0, 0x9FBFF, "usable"), (0x100000, 0x1FFFFFFFF, "usable")],
                    arch="i386")
    assert big.max_pfn == 1 << 20


def test_small_i386_has_no_highmem():
    layout = boot.boot("512M", arch="i386")
    assert layout.spans[2][2] == 0 and layout.present[2] == 0


def test_default_map_splits_at_3g_like_qemu():
    layout = boot.boot("8G")
    assert layout.memory == [(1, 0x9F), (0x100, 0xC0000), (0x100000, 0x100000 + 0x140000)]
    assert boot.boot("1G").memory == [(1, 0x9F), (0x100, 0x40000)]


def test_reserved_adds_to_boot_allocations():
    base = boot.boot("1G")
    more = boot.boot("1G", reserved=[(0x10000000, 0x10FFFFFF)])    # 16 MiB inside DMA32
    assert more.managed[1] == base.managed[1] - 4096
    assert more.managed[0] == base.managed[0]


def test_reserved_alone_without_boot_allocations():
    layout = boot.boot("1G", reserved=[(0x2000000, 0x2000FFF)], boot_allocations=False)
    assert layout.reserved == [(0, 256), (0x2000, 0x2001)]
    assert layout.managed[0] == 4096 - 256
    assert layout.managed[1] == 0x40000 - 4096 - 1
    # a reservation touching part of a page reserves the whole page
    assert boot.boot("1G", reserved=[(0x3000800, 0x3000900)],
                     boot_allocations=False).reserved[1] == (0x3000, 0x3001)


def test_default_reservation_sizes():
    layout = boot.boot("4G")
    memmap = boot.memmap_pages(layout.memory)
    assert memmap == 32 * 512                 # 32 sections of 128 MiB present
    reserved = boot.count(layout.reserved)
    assert reserved == 256 + boot.KERNEL_RESERVED_PAGES + memmap
    assert sum(layout.managed) == boot.count(layout.memory) - (reserved - 98)  # pfn 0, 0x9f-0xff


def test_too_small_machine_refused():
    with pytest.raises(ValueError):
        boot.boot("16M")
    with pytest.raises(ValueError):
        boot.boot("1G", arch="arm64")
    with pytest.raises(ValueError):
        boot.boot(e820=[(0, 0xFFF, "usable")])


def test_small_machine_moves_kernel_image_below_16m_hole():
    layout = boot.boot("48M")
    assert sum(layout.managed) > 0
    assert boot.count(layout.reserved) == 256 + boot.KERNEL_RESERVED_PAGES + 512


def test_e820_format_roundtrip():
    table = boot.parse_e820(REFERENCE_DMESG)
    assert boot.parse_e820(boot.e820_format(table)) == table
