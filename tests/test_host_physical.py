"""Boot linuxmm with this host's e820 map and compare with the host kernel's /proc/zoneinfo.

The host may initialise memory lazily (managed pages grow while it runs), so the test gives
linuxmm the boot reservations that make each zone's managed pages equal to the host's, then
compares everything else: zone ranges, spanned/present pages, min_free_kbytes, watermarks,
protection, pcp batch/high_min/high_max and the vmstat thresholds.
"""
import pytest

from linuxmm import boot

import host_physical as host

pytest.importorskip("linuxmm.page_alloc")
from linuxmm import Kernel  # noqa: E402

X86_64 = ["DMA", "DMA32", "Normal", "Movable", "Device"]


@pytest.fixture(scope="module")
def host_state():
    lines = host.e820_lines()
    zones = host.stable_zoneinfo()
    ctl = host.sysctls()
    if not lines or not zones or not ctl:
        pytest.skip("host e820 map, /proc/zoneinfo or vm sysctls not readable")
    if [z["name"] for z in zones] != X86_64 or any(z["node"] for z in zones):
        pytest.skip("host is not a single-node x86_64 machine")
    return lines, zones, ctl


def reservations_for(lines, zones):
    """Inclusive byte ranges that leave exactly the host's managed pages in every zone."""
    layout = boot.boot(e820=lines, boot_allocations=False)
    out = []
    for i, z in enumerate(zones):
        extra = layout.managed[i] - z["managed"]
        if extra < 0:
            pytest.skip(f"host zone {z['name']} manages more pages than its present memory")
        _, start, spanned = layout.spans[i]
        for s, e in reversed(boot.intersect(layout.free, start, start + spanned)):
            if extra == 0:
                break
            take = min(extra, e - s)
            out.append(((e - take) << 12, (e << 12) - 1))
            extra -= take
    return out


@pytest.fixture(scope="module")
def booted(host_state):
    lines, zones, ctl = host_state
    k = Kernel(e820=lines, reserved=reservations_for(lines, zones), boot_allocations=False,
               cpus=ctl["cpus"],
               watermark_scale_factor=ctl["watermark_scale_factor"],
               lowmem_reserve_ratio=ctl["lowmem_reserve_ratio"],
               percpu_pagelist_high_fraction=ctl["percpu_pagelist_high_fraction"],
               transparent_hugepage=ctl["thp"])
    return k, zones, ctl


def test_zone_ranges_and_present(booted):
    k, zones, _ = booted
    for z, h in zip(k.zones, zones):
        assert (z.name, z.spanned_pages, z.present_pages) == (h["name"], h["spanned"],
                                                              h["present"])
        if h["present"]:
            assert z.start_pfn == h["start_pfn"]
        assert z.managed_pages == h["managed"]


def test_min_free_kbytes(booted):
    k, _, ctl = booted
    assert k.min_free_kbytes == ctl["min_free_kbytes"]


def test_watermarks_protection_pcp(booted):
    k, zones, ctl = booted
    k.min_free_kbytes = ctl["min_free_kbytes"]      # as the host's (in case the test above failed)
    for z, h in zip(k.zones, zones):
        wmin, wlow, whigh = z.watermark
        b = h["boost"]
        assert (wmin, wlow, whigh, z.watermark_promo) == (
            h["min"] - b, h["low"] - b, h["high"] - b, h["promo"] - b), z.name
        assert list(z.lowmem_reserve) == h["protection"], z.name
        if h["pcp"]:
            assert (z.pcp_batch, z.pcp_high_min, z.pcp_high_max) == h["pcp"][0], z.name
            assert z.stat_threshold == h["threshold"][0], z.name


def test_memmap_boot_pages_matches_host_vmstat(booted):
    k, _, _ = booted
    vmstat = host.read("/proc/vmstat")
    line = [x for x in vmstat.splitlines() if x.startswith("nr_memmap_boot_pages ")]
    if not line:
        pytest.skip("host has no nr_memmap_boot_pages")
    assert boot.memmap_pages(k.layout.memory) == int(line[0].split()[1])


def test_dirty_thresholds_formula_on_host(host_state):
    """nr_dirty_threshold / nr_dirty_background_threshold from the host's own counters.
    MemFree stands for NR_FREE_PAGES: equal on a stock kernel, and on a lazily initialised
    one it also counts the not-yet-initialised pages, as the kernel's dirtyable memory does."""
    from linuxmm import watermarks as wm
    ctl = {n: host.read(f"/proc/sys/vm/{n}") for n in
           ("dirty_ratio", "dirty_background_ratio", "dirty_bytes", "dirty_background_bytes")}
    if None in ctl.values() or int(ctl["dirty_bytes"]) or int(ctl["dirty_background_bytes"]):
        pytest.skip("dirty sysctls unreadable or byte-based")
    for _ in range(5):
        zones = host.parse_zoneinfo(host.read("/proc/zoneinfo"))
        meminfo = {line.split(":")[0]: int(line.split()[1])
                   for line in host.read("/proc/meminfo").splitlines()}
        vm = dict(line.split() for line in host.read("/proc/vmstat").splitlines())
        names = [z["name"] for z in zones]
        managed = [z["managed"] for z in zones]
        total = wm.totalreserve_pages(managed, [z["high"] - z["boost"] for z in zones],
                                      wm.lowmem_reserve(names, managed,
                                                        host.sysctls()["lowmem_reserve_ratio"]))
        want = wm.dirty_limits(meminfo["MemFree"] // 4, total,
                               int(vm["nr_inactive_file"]) + int(vm["nr_active_file"]),
                               dirty_ratio=int(ctl["dirty_ratio"]),
                               background_ratio=int(ctl["dirty_background_ratio"]))
        got = (int(vm["nr_dirty_threshold"]), int(vm["nr_dirty_background_threshold"]))
        if want == got:
            break
    assert want == got


def test_mem_available_formula_on_host(host_state):
    """MemAvailable (si_mem_available) from the host's meminfo and zoneinfo, read together."""
    from linuxmm import watermarks as wm
    ratios = host.sysctls()["lowmem_reserve_ratio"]
    for _ in range(5):
        meminfo = {line.split(":")[0]: int(line.split()[1])
                   for line in host.read("/proc/meminfo").splitlines()}
        zones = host.parse_zoneinfo(host.read("/proc/zoneinfo"))
        names = [z["name"] for z in zones]
        managed = [z["managed"] for z in zones]
        total = wm.totalreserve_pages(managed, [z["high"] - z["boost"] for z in zones],
                                      wm.lowmem_reserve(names, managed, ratios))
        want = wm.si_mem_available(
            meminfo["MemFree"] // 4, total, sum(z["low"] for z in zones),
            (meminfo["Active(file)"] + meminfo["Inactive(file)"]) // 4,
            meminfo["KReclaimable"] // 4) * 4
        if want == meminfo["MemAvailable"]:
            break
    assert want == meminfo["MemAvailable"]
