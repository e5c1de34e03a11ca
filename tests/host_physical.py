"""Readers of this host's physical-memory files, for tests that compare linuxmm with the kernel.

Every reader returns None when the host does not expose what it needs (not Linux, no
permission, no dmesg); tests then skip.
"""
import os
import re
import subprocess


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def e820_lines():
    """The host's firmware map as ``BIOS-e820:`` lines, from dmesg or /sys/firmware/memmap."""
    try:
        out = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    lines = [line for line in out.splitlines() if "BIOS-e820: [mem" in line]
    if lines:
        return lines
    base = "/sys/firmware/memmap"
    try:
        entries = sorted(os.listdir(base), key=int)
    except (OSError, ValueError):
        return None
    lines = []
    for entry in entries:
        d = os.path.join(base, entry)
        start, end, kind = (read(os.path.join(d, f)) for f in ("start", "end", "type"))
        if None in (start, end, kind):
            return None
        kind = kind.strip()
        kind = "usable" if kind == "System RAM" else kind.lower()
        lines.append(f"BIOS-e820: [mem {int(start, 16):#018x}-{int(end, 16):#018x}] {kind}")
    return lines or None


def parse_zoneinfo(text):
    """[{name, start_pfn, free, boost, min, low, high, promo, spanned, present, managed,
    protection, pcp: [(batch, high_min, high_max)], threshold: [..]}] per zone."""
    zones = []
    for block in re.split(r"(?m)^(?=Node \d+, zone)", text):
        m = re.match(r"Node (\d+), zone\s+(\S+)", block)
        if not m:
            continue
        z = {"node": int(m.group(1)), "name": m.group(2)}
        for key in ("free", "boost", "min", "low", "high", "promo", "spanned", "present",
                    "managed"):
            mm = re.search(r"\n\s+(?:pages )?%s\s+(\d+)" % key, block)
            z[key] = int(mm.group(1)) if mm else 0
        z["protection"] = [int(x) for x in re.search(
            r"protection: \(([^)]*)\)", block).group(1).split(",")]
        z["pcp"] = [tuple(int(v) for v in t) for t in re.findall(
            r"batch:\s+(\d+)\s+high_min:\s+(\d+)\s+high_max:\s+(\d+)", block)]
        z["threshold"] = [int(t) for t in re.findall(r"vm stats threshold:\s+(\d+)", block)]
        mm = re.search(r"start_pfn:\s+(\d+)", block)
        z["start_pfn"] = int(mm.group(1)) if mm else None
        zones.append(z)
    return zones


def stable_zoneinfo(tries=5):
    """/proc/zoneinfo parsed, read until two reads agree on managed pages and min watermarks
    (lazy init grows managed, then the watermarks are recomputed)."""
    prev = None
    for _ in range(tries):
        text = read("/proc/zoneinfo")
        if text is None:
            return None
        zones = parse_zoneinfo(text)
        if prev is not None and [(z["managed"], z["min"]) for z in zones] == \
                [(z["managed"], z["min"]) for z in prev]:
            return zones
        prev = zones
    return prev


def cpulist_count(text):
    n = 0
    for part in text.strip().split(","):
        if "-" in part:
            a, b = part.split("-")
            n += int(b) - int(a) + 1
        elif part:
            n += 1
    return n


def sysctls():
    """The vm sysctls and CPU count that shape the zones, or None."""
    names = ("min_free_kbytes", "watermark_scale_factor", "lowmem_reserve_ratio",
             "percpu_pagelist_high_fraction")
    values = {n: read(f"/proc/sys/vm/{n}") for n in names}
    online = read("/sys/devices/system/cpu/online")
    if None in values.values() or online is None:
        return None
    out = {n: int(values[n]) for n in names if n != "lowmem_reserve_ratio"}
    out["lowmem_reserve_ratio"] = [int(x) for x in values["lowmem_reserve_ratio"].split()]
    out["cpus"] = cpulist_count(online)
    thp = read("/sys/kernel/mm/transparent_hugepage/enabled")
    out["thp"] = re.search(r"\[(\w+)\]", thp).group(1) if thp else "never"
    return out
