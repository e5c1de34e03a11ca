"""Formats of the rendered files checked against linux-mm-physical.md section 8 (no host needed)."""
import re

import pytest

from linuxmm import Kernel

# 8.5, with the reference x86_64 configuration's optional fields (Zswap; no HighMem, CMA,
# HardwareCorrupted, Unaccepted, ShadowCallStack)
MEMINFO_X86_64 = """MemTotal MemFree MemAvailable Buffers Cached SwapCached Active Inactive
Active(anon) Inactive(anon) Active(file) Inactive(file) Unevictable Mlocked SwapTotal SwapFree
Zswap Zswapped Dirty Writeback AnonPages Mapped Shmem KReclaimable Slab SReclaimable SUnreclaim
KernelStack PageTables SecPageTables NFS_Unstable Bounce WritebackTmp CommitLimit Committed_AS
VmallocTotal VmallocUsed VmallocChunk Percpu AnonHugePages ShmemHugePages ShmemPmdMapped
FileHugePages FilePmdMapped Balloon HugePages_Total HugePages_Free HugePages_Rsvd HugePages_Surp
Hugepagesize Hugetlb DirectMap4k DirectMap2M DirectMap1G""".split()


@pytest.fixture(scope="module")
def k():
    return Kernel("1G", swap="512M")


def test_meminfo_fields_and_columns(k):
    lines = k.read("/proc/meminfo").splitlines(keepends=True)
    assert [line.split(":")[0] for line in lines] == MEMINFO_X86_64
    for line in lines:
        if line.startswith("HugePages_"):
            assert re.fullmatch(r"HugePages_\w+: {3,}\d+\n", line) and len(line) == 25
        else:
            assert line.endswith(" kB\n")
            value = line[16:-4]
            assert value.strip().isdigit()
            assert len(value) == max(8, len(value.strip()))     # %8lu, wider when needed
    meminfo = {x.split(":")[0]: int(x.split()[1]) for x in lines}
    # a 512 MiB swap area: its first page is the swap header (si->pages = size - 1 page)
    assert meminfo["SwapTotal"] == meminfo["SwapFree"] == 512 * 1024 - 4
    assert meminfo["MemTotal"] == 4 * sum(z.managed_pages for z in k.zones)
    assert meminfo["CommitLimit"] == 4 * (sum(z.managed_pages for z in k.zones) // 2
                                          + 512 * 256 - 1)
    assert meminfo["VmallocTotal"] == 34359738367


def test_meminfo_i386_has_highmem_lines():
    names = [x.split(":")[0] for x in Kernel("2G", arch="i386").read("/proc/meminfo").splitlines()]
    i = names.index("Mlocked")
    assert names[i + 1:i + 6] == ["HighTotal", "HighFree", "LowTotal", "LowFree", "SwapTotal"]
    assert "DirectMap1G" not in names


def test_vmstat_format(k):
    lines = k.read("/proc/vmstat").splitlines()
    assert all(re.fullmatch(r"[a-z0-9_]+ \d+", x) for x in lines)
    names = [x.split()[0] for x in lines]
    assert names[:2] == ["nr_free_pages", "nr_free_pages_blocks"]
    assert names[-1] == "nr_unstable"
    i = names.index("pgalloc_dma")
    assert names[i:i + 5] == ["pgalloc_dma", "pgalloc_dma32", "pgalloc_normal",
                              "pgalloc_movable", "pgalloc_device"]
    assert names.index("nr_dirty_threshold") < names.index("nr_memmap_boot_pages") < \
        names.index("pgpgin") < i < names.index("pgfree")


def test_zoneinfo_entries(k):
    text = k.read("/proc/zoneinfo")
    entries = re.split(r"(?m)^(?=Node 0, zone)", text)[1:]
    assert [re.match(r"Node 0, zone\s+(\S+)", e).group(1) for e in entries] == [
        "DMA", "DMA32", "Normal", "Movable", "Device"]
    for e, z in zip(entries, k.zones):
        assert e.startswith("Node 0, zone %8s\n" % z.name)
        if z.populated:
            assert e.count("\n    cpu: ") == k.cpus
            assert e.endswith("  start_pfn:           %d\n" % z.start_pfn)
        else:
            assert e.endswith(")\n") and "pagesets" not in e


def test_buddyinfo_lines(k):
    for line, z in zip(k.read("/proc/buddyinfo").splitlines(keepends=True),
                       [z for z in k.zones if z.populated]):
        assert line == "Node 0, zone %8s " % z.name + "".join("%6d " % n for n in z.nr_free) + "\n"


def test_pagetypeinfo_caps_counts_at_100000():
    k = Kernel("420G")           # Normal: 105072 free order-10 blocks, all Movable
    rows = [x for x in k.read("/proc/pagetypeinfo").splitlines()
            if x.startswith("Node    0, zone   Normal, type      Movable ")]
    assert rows[0].endswith("      0 >100000 ")
    assert k.read("/proc/buddyinfo").splitlines()[2].endswith(" 105072 ")
