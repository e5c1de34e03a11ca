"""Access traces (valgrind lackey output, linuxmm .npy/.npz) replayed as page faults.

The addresses are the recorded process's own.  Every page the trace touches is mapped first,
as private anonymous read-write memory (MAP_FIXED, one mapping per run of pages with gaps of
less than 16 pages filled in); then the whole trace is replayed in one `Process.access` call,
with reclaim, swap and the OOM killer as the chosen machine (mem, swap) makes them.
"""
import os
import re
import zipfile
import zlib

import numpy as np

from ..errors import Killed, SegmentationFault
from ..vm import constants as C
from . import TraceError, open_text

PAGE_SHIFT = 12
GAP_PAGES = 16
MIN_ADDR = 1 << 16                       # mmap_min_addr
TASK_SIZE = (1 << 47) - 4096

_LINE = re.compile(r"^(I |\s[LSM])\s*([0-9a-fA-F]+),(\d+)$", re.M)


def read_lackey(path, progress=None, chunk=1 << 22):
    """(addrs int64, writes uint8, counts) from lackey --trace-mem=yes output.  I and L lines
    are reads, S and M (load + store) writes; an access that crosses a page boundary touches
    both pages.  progress(bytes_read, total) is called as the file is read."""
    total = os.path.getsize(path)
    parts_a, parts_w = [], []
    counts = {"I": 0, "L": 0, "S": 0, "M": 0}
    done = 0
    with open_text(path) as f:
        tail = ""
        while True:
            block = f.read(chunk)
            if not block and not tail:
                break
            text = tail + block
            if block:
                cut = text.rfind("\n") + 1
                text, tail = text[:cut], text[cut:]
            else:
                tail = ""
            found = _LINE.findall(text)
            if found:
                kinds = np.array([k.strip() for k, _, _ in found])
                addr = np.array([int(a, 16) for _, a, _ in found], dtype=np.uint64)
                size = np.array([int(s) for _, _, s in found], dtype=np.uint64)
                for key in counts:
                    counts[key] += int(np.count_nonzero(kinds == key))
                write = (kinds == "S") | (kinds == "M")
                end = addr + np.maximum(size, 1) - 1
                cross = (end >> PAGE_SHIFT) != (addr >> PAGE_SHIFT)
                pairs = np.stack([addr, end], axis=1).reshape(-1)
                keep = np.stack([np.ones(len(addr), bool), cross], axis=1).reshape(-1)
                parts_a.append(pairs[keep].astype(np.int64))
                parts_w.append(np.repeat(write, 2)[keep].astype(np.uint8))
            done += len(block.encode()) if block else 0
            if progress is not None:
                progress(min(done, total), total)
            if not block:
                break
    if not parts_a:
        raise TraceError(f"{path}: no lackey access lines (I/L/S/M); record with "
                         f"valgrind --tool=lackey --trace-mem=yes")
    return np.concatenate(parts_a), np.concatenate(parts_w), counts


def read_npz(path):
    """(addrs int64, writes uint8) from a .npy array of addresses (all reads) or a .npz with
    `addrs` and optional `writes` (bools or 0/1, one per address)."""
    # A damaged file fails in numpy, zipfile or zlib with their own exceptions (EOFError for an
    # empty file, BadZipFile, zlib.error, ValueError...): all of them are a TraceError here.
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.ndarray):
            addrs, writes = data, None
        else:
            with data:
                if "addrs" not in data.files:
                    raise TraceError(f"{path}: the .npz has no 'addrs' array (it has: "
                                     f"{', '.join(data.files) or 'nothing'})")
                addrs = data["addrs"]
                writes = data["writes"] if "writes" in data.files else None
    except TraceError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise TraceError(f"{path}: not a .npy/.npz access trace ({err})") from None
    if addrs.ndim != 1 or addrs.dtype.kind not in "iu":
        raise TraceError(f"{path}: addrs must be a 1-d integer array, got {addrs.dtype} "
                         f"{addrs.shape}")
    addrs = addrs.astype(np.int64)
    if writes is None:
        writes = np.zeros(len(addrs), np.uint8)
    else:
        if writes.shape != addrs.shape:
            raise TraceError(f"{path}: writes has {writes.size} entries, addrs {addrs.size}")
        writes = writes.astype(bool).astype(np.uint8)
    return addrs, writes


def save_npz(path, addrs, writes):
    """Write the compact trace: np.savez_compressed(path, addrs=int64, writes=bool)."""
    np.savez_compressed(path, addrs=np.asarray(addrs, np.int64),
                        writes=np.asarray(writes).astype(bool))


def regions(addrs):
    """The (start, length) runs of pages covering addrs, gaps under GAP_PAGES filled in."""
    pages = np.unique(addrs.astype(np.uint64) >> np.uint64(PAGE_SHIFT)).astype(np.int64)
    if not len(pages):
        return []
    breaks = np.nonzero(np.diff(pages) > GAP_PAGES)[0]
    starts = np.concatenate([[pages[0]], pages[breaks + 1]])
    ends = np.concatenate([pages[breaks], [pages[-1]]]) + 1
    return [(int(s) << PAGE_SHIFT, int(e - s) << PAGE_SHIFT) for s, e in zip(starts, ends)]


def replay_access(addrs, writes, *, mem="1G", swap="1G", backend="c", cpus=1, seed=0,
                  name="trace"):
    """Map the trace's pages in a fresh process and replay it in one access call: a summary
    dict (and the Kernel, as summary["kernel"] is not JSON: returned second)."""
    from ..kernel import Kernel
    from ..scenario import meminfo, vmstat
    k = Kernel(mem, swap=swap, backend=backend, cpus=cpus, seed=seed, randomize_va_space=0)
    k.spawn("init")
    p = k.spawn(name[:15])
    inside = (addrs >= MIN_ADDR) & (addrs < TASK_SIZE)
    outside = int(len(addrs) - np.count_nonzero(inside))
    addrs, writes = addrs[inside], writes[inside]
    runs = regions(addrs)
    rw = C.PROT_READ | C.PROT_WRITE
    flags = C.MAP_PRIVATE | C.MAP_ANONYMOUS | C.MAP_FIXED | C.MAP_NORESERVE
    for start, length in runs:
        p.mmap(start, length, rw, flags)
    killed = None
    try:
        p.access(addrs, writes=writes)
    except Killed:
        killed = "killed by SIGKILL (out of memory)"
    except SegmentationFault as err:                       # pragma: no cover - all mapped
        killed = f"SIGSEGV at {err.addr:#x}"
    vs, mi = vmstat(k), meminfo(k)
    pages = int(len(np.unique(addrs >> PAGE_SHIFT)))
    summary = {"accesses": int(len(addrs)), "writes": int(np.count_nonzero(writes)),
               "outside": outside, "pages": pages, "regions": len(runs),
               "mem": k.mem, "swap": k.swap, "backend": k.backend,
               "min_flt": None if killed else p.min_flt,
               "maj_flt": None if killed else p.maj_flt, "killed": killed,
               "rss_kb": None if killed else p.rss["anon"] * 4,
               "swap_kb": None if killed else p.rss["swap"] * 4,
               "time_ns": int(k.now)}
    for key in ("pgfault", "pgmajfault", "pswpin", "pswpout", "pgsteal_kswapd",
                "pgsteal_direct", "oom_kill"):
        summary[key] = vs.get(key, 0)
    summary["SwapFree_kb"] = mi.get("SwapFree", 0)
    return summary, k
