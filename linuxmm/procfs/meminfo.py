"""/proc/meminfo (fs/proc/meminfo.c: meminfo_proc_show), fields of the kernel's x86 config."""
from ..watermarks import commit_limit

FIELDS_HEAD = ("MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapCached",
               "Active", "Inactive", "Active(anon)", "Inactive(anon)", "Active(file)",
               "Inactive(file)", "Unevictable", "Mlocked")
FIELDS_HIGHMEM = ("HighTotal", "HighFree", "LowTotal", "LowFree")
FIELDS_MID = ("SwapTotal", "SwapFree", "Zswap", "Zswapped", "Dirty", "Writeback", "AnonPages",
              "Mapped", "Shmem", "KReclaimable", "Slab", "SReclaimable", "SUnreclaim",
              "KernelStack", "PageTables", "SecPageTables", "NFS_Unstable", "Bounce",
              "WritebackTmp", "CommitLimit", "Committed_AS", "VmallocTotal", "VmallocUsed",
              "VmallocChunk", "Percpu", "AnonHugePages", "ShmemHugePages", "ShmemPmdMapped",
              "FileHugePages", "FilePmdMapped", "Balloon")
HUGEPAGE_COUNTS = ("HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp")
# VMALLOC_TOTAL >> 10: x86_64 4-level paging (32 TiB - 1), i386 3G/1G split with 128 MiB reserve
VMALLOC_TOTAL_KB = {"x86_64": 34359738367, "i386": 122880}


def fields(k):
    """[(name, value in kB or count)] in the kernel's order."""
    v = k.vm_counters()
    kb = 4
    zones = k.zones
    totalram = sum(z.managed_pages for z in zones)
    free = sum(z.free_pages for z in zones)
    sreclaimable = v.get("nr_slab_reclaimable", 0)
    sunreclaim = v.get("nr_slab_unreclaimable", 0)
    kreclaimable = sreclaimable + v.get("nr_kernel_misc_reclaimable", 0)
    buffers = v.get("nr_blockdev_pages", 0)
    cached = max(v.get("nr_file_pages", 0) - v.get("nr_swapcached", 0) - buffers, 0)
    swap_pages = k.total_swap_pages
    swap_free = v.get("nr_swap_free_pages", swap_pages)
    hugetlb = v.get("nr_hugetlb", 0)
    out = [
        ("MemTotal", totalram * kb), ("MemFree", free * kb),
        ("MemAvailable", k.mem_available() * kb), ("Buffers", buffers * kb),
        ("Cached", cached * kb), ("SwapCached", v.get("nr_swapcached", 0) * kb),
        ("Active", (v.get("nr_active_anon", 0) + v.get("nr_active_file", 0)) * kb),
        ("Inactive", (v.get("nr_inactive_anon", 0) + v.get("nr_inactive_file", 0)) * kb),
        ("Active(anon)", v.get("nr_active_anon", 0) * kb),
        ("Inactive(anon)", v.get("nr_inactive_anon", 0) * kb),
        ("Active(file)", v.get("nr_active_file", 0) * kb),
        ("Inactive(file)", v.get("nr_inactive_file", 0) * kb),
        ("Unevictable", v.get("nr_unevictable", 0) * kb), ("Mlocked", v.get("nr_mlock", 0) * kb),
    ]
    if any(z.name == "HighMem" for z in zones):
        high = [z for z in zones if z.name == "HighMem"]
        high_total = sum(z.managed_pages for z in high)
        high_free = sum(z.free_pages for z in high)
        out += [("HighTotal", high_total * kb), ("HighFree", high_free * kb),
                ("LowTotal", (totalram - high_total) * kb), ("LowFree", (free - high_free) * kb)]
    values = {
        "SwapTotal": swap_pages * kb, "SwapFree": swap_free * kb,
        "Dirty": v.get("nr_dirty", 0) * kb, "Writeback": v.get("nr_writeback", 0) * kb,
        "AnonPages": v.get("nr_anon_pages", 0) * kb, "Mapped": v.get("nr_mapped", 0) * kb,
        "Shmem": v.get("nr_shmem", 0) * kb, "KReclaimable": kreclaimable * kb,
        "Slab": (sreclaimable + sunreclaim) * kb, "SReclaimable": sreclaimable * kb,
        "SUnreclaim": sunreclaim * kb, "KernelStack": v.get("nr_kernel_stack", 0),
        "PageTables": v.get("nr_page_table_pages", 0) * kb,
        "SecPageTables": v.get("nr_sec_page_table_pages", 0) * kb,
        "CommitLimit": commit_limit(totalram, hugetlb, swap_pages) * kb,
        "Committed_AS": v.get("vm_committed_as", 0) * kb,
        "VmallocTotal": VMALLOC_TOTAL_KB[k.arch],
        "AnonHugePages": v.get("nr_anon_transparent_hugepages", 0) * 512 * kb,
    }
    out += [(name, values.get(name, 0)) for name in FIELDS_MID]
    out += [(name, 0) for name in HUGEPAGE_COUNTS]
    out += [("Hugepagesize", 2048), ("Hugetlb", hugetlb * kb)]
    out += k.direct_map_kb()
    return out


def render(k):
    lines = []
    for name, value in fields(k):
        if name.startswith("HugePages_"):
            lines.append("%-16s   %5d\n" % (name + ":", value))
        else:
            lines.append("%-16s%8d kB\n" % (name + ":", value))
    return "".join(lines)
