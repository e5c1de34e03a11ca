"""Sampling a running Kernel: snapshots of its counters over simulated time (docs/reports.md).

    s = linuxmm.Sampler(k, every="10ms")   # or every=None: one snapshot per call of sample()
    ... run something ...
    s.maybe_sample()                       # records a snapshot when k.now passed the next due time
    s.sample()                             # records one now
    s.series("pswpout")                    # numpy arrays over the snapshots; s.times (ns)

A snapshot is cheap (no walk over page frames): k.now, the vmstat counters, every zone's
nr_free per order (and so the fragmentation index per order), PSI's some/full totals and, per
process, RSS (anon, file, swap pages) and fault counts.  `memory_map(k)` classifies every page
frame by owner (free, slab, anon, file, page table, kernel, reserved, absent) with numpy, for
the physical-memory map of a report.
"""
import numpy as np

from .fragmentation import fragmentation_index
from .scenario import _parse_time

__all__ = ["Sampler", "memory_map", "OWNERS", "SCALARS"]

# vmstat items a snapshot keeps (missing items count 0)
SCALARS = ("nr_free_pages", "pgfault", "pgmajfault", "pgscan_kswapd", "pgscan_direct",
           "pgsteal_kswapd", "pgsteal_direct", "pswpin", "pswpout", "pageoutrun", "oom_kill",
           "allocstall_dma", "allocstall_dma32", "allocstall_normal", "allocstall_movable",
           "compact_stall", "nr_anon_pages", "nr_file_pages", "nr_page_table_pages",
           "nr_slab_reclaimable", "nr_slab_unreclaimable", "nr_swap_free_pages",
           "workingset_refault_anon", "workingset_refault_file")

# page-frame owners, in the order of memory_map()'s codes
OWNERS = ("absent", "reserved", "free", "kernel", "slab", "anon", "file", "page table")
ABSENT, RESERVED, FREE, KERNEL, SLAB, ANON, FILE, PGTABLE = range(len(OWNERS))


def _every_ns(every):
    if every is None:
        return None
    if isinstance(every, str):
        ns = _parse_time("every", every)
    elif isinstance(every, bool) or not isinstance(every, int):
        raise TypeError(f"every must be ns (an int), a time string like \"10ms\" or None, "
                        f"got {every!r}")
    else:
        ns = every
    if ns <= 0:
        raise ValueError(f"every must be > 0 ns, got {every!r}")
    return ns


class Sampler:
    """Snapshots of a Kernel's counters over simulated time.

    `every`: None (a snapshot at each `sample()`/`maybe_sample()` call, e.g. after each action of
    a scenario) or a period of simulated time (ns, or "10ms"): `maybe_sample()` records at most
    one snapshot per period that k.now has entered.  `maps`: also keep the physical-memory map
    (memory_map(k, rows)) at each snapshot (costs a walk over the free lists: off by default).
    """

    def __init__(self, kernel, every=None, *, maps=False, map_rows=64):
        self.k = kernel
        self.every = _every_ns(every)
        self.maps = bool(maps)
        self.map_rows = map_rows
        self.snapshots = []
        self.names = {}                     # pid -> comm of every process seen
        self._next = 0

    def __len__(self):
        return len(self.snapshots)

    def __repr__(self):
        return f"<Sampler {len(self.snapshots)} snapshots, every={self.every}>"

    def maybe_sample(self, label=None):
        """Record a snapshot if it is due (always when `every` is None); returns it or None."""
        if self.every is None:
            return self.sample(label)
        now = self.k.now
        if self.snapshots and now < self._next:
            return None
        return self.sample(label)

    def sample(self, label=None):
        """Record a snapshot now and return it (a dict)."""
        k = self.k
        v = k.vm_counters()
        now = int(k.now)
        snap = {"t": now, "label": label, "vm": {name: int(v.get(name, 0)) for name in SCALARS}}
        zones = {}
        for z in k.zones:
            if z.managed_pages:
                zones[z.name] = tuple(int(n) for n in z.nr_free)
        snap["nr_free"] = zones
        some, full = k.psi.total(now)
        snap["psi"] = (int(some), int(full))
        procs = {}
        for pid, p in k.processes.items():
            self.names.setdefault(pid, p.comm)
            try:
                rss = p.rss
            except AttributeError:          # a process without an address space
                continue
            procs[pid] = (int(rss["anon"]), int(rss["file"]), int(rss["swap"]),
                          int(p.min_flt), int(p.maj_flt))
        snap["procs"] = procs
        if self.maps:
            snap["map"] = memory_map(k, self.map_rows)
        self.snapshots.append(snap)
        if self.every is not None:
            self._next = (now // self.every + 1) * self.every
        return snap

    # -- the recorded series --------------------------------------------------------------------
    @property
    def times(self):
        """Simulated time of each snapshot, ns (int64 array)."""
        return np.array([s["t"] for s in self.snapshots], dtype=np.int64)

    def series(self, name):
        """One counter over the snapshots: a SCALARS item, "psi_some"/"psi_full" (ns)."""
        if name in ("psi_some", "psi_full"):
            i = 0 if name == "psi_some" else 1
            return np.array([s["psi"][i] for s in self.snapshots], dtype=np.int64)
        if name not in SCALARS:
            raise KeyError(f"{name!r} is not sampled (one of {', '.join(SCALARS)}, psi_some, "
                           f"psi_full)")
        return np.array([s["vm"][name] for s in self.snapshots], dtype=np.int64)

    def deltas(self, name):
        """Per-snapshot increments of a counter (the first is 0)."""
        x = self.series(name)
        return np.diff(x, prepend=x[:1]) if len(x) else x

    def zone_names(self):
        seen = []
        for s in self.snapshots:
            for z in s["nr_free"]:
                if z not in seen:
                    seen.append(z)
        return seen

    def nr_free(self, zone=None):
        """Free blocks per order over the snapshots: array (snapshots, orders), summed over the
        zones or of one zone."""
        rows = []
        for s in self.snapshots:
            zs = [s["nr_free"][zone]] if zone is not None else list(s["nr_free"].values())
            width = max((len(z) for z in zs), default=0)
            row = np.zeros(width, dtype=np.int64)
            for z in zs:
                row[:len(z)] += z
            rows.append(row)
        width = max((len(r) for r in rows), default=0)
        out = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            out[i, :len(r)] = r
        return out

    def fragmentation(self, zone, orders=None):
        """zone's fragmentation index (thousandths, as /sys/kernel/debug/extfrag) per order over
        the snapshots: array (snapshots, orders)."""
        counts = self.nr_free(zone)
        orders = range(counts.shape[1]) if orders is None else orders
        return np.array([[fragmentation_index(list(row), o) for o in orders] for row in counts],
                        dtype=np.int64).reshape(len(counts), len(orders))

    def processes(self):
        """{pid: (comm, dict of arrays "anon", "file", "swap" (pages), "min_flt", "maj_flt")},
        NaN where the process was not alive."""
        out = {}
        n = len(self.snapshots)
        for pid, comm in self.names.items():
            cols = np.full((n, 5), np.nan)
            for i, s in enumerate(self.snapshots):
                if pid in s["procs"]:
                    cols[i] = s["procs"][pid]
            out[pid] = (comm, {name: cols[:, j] for j, name in
                               enumerate(("anon", "file", "swap", "min_flt", "maj_flt"))})
        return out

    def summary(self):
        """The last snapshot's counters and the run's span (a dict)."""
        if not self.snapshots:
            return {}
        last = self.snapshots[-1]
        return {"snapshots": len(self.snapshots), "time_ns": last["t"], **last["vm"],
                "psi_some_us": last["psi"][0] // 1000, "psi_full_us": last["psi"][1] // 1000}


def _fill(owner, starts, order_len):
    """owner[start:start+len] = FREE for many blocks at once (numpy repeat of aranges)."""
    if not len(starts):
        return
    lens = np.asarray(order_len, dtype=np.int64)
    starts = np.asarray(starts, dtype=np.int64)
    total = int(lens.sum())
    offs = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
    idx = np.repeat(starts, lens) + offs
    idx = idx[(idx >= 0) & (idx < len(owner))]
    owner[idx] = FREE


def _page_owners(k):
    """One owner code (OWNERS) per page frame of k: an uint8 array of k.layout.max_pfn."""
    from .vm.mmu_defs import PG_ANON, PG_FILE, PG_PGTABLE
    layout = k.layout
    n = layout.max_pfn
    owner = np.full(n, ABSENT, dtype=np.uint8)
    for start, end in layout.memory:
        owner[start:min(end, n)] = RESERVED
    for start, end in layout.free:
        owner[start:min(end, n)] = KERNEL
    pa = k._pa
    starts, lens = [], []
    for i in range(pa.nr_zones):
        if not pa.managed_pages(i):
            continue
        for order in range(pa.max_order + 1):
            for mt in range(_nr_migratetypes(pa)):
                try:
                    pfns = pa.free_list(i, order, mt)
                except ValueError:
                    continue
                starts.extend(pfns)
                lens.extend([1 << order] * len(pfns))
        for cpu in range(k.cpus):
            for pindex in range(pa.nr_pcp_lists):
                pfns = pa.pcp_list(i, cpu, pindex)
                order = pindex // 3 if pindex < 12 else k.pageblock_order
                starts.extend(pfns)
                lens.extend([1 << order] * len(pfns))
    _fill(owner, starts, lens)
    flags = np.asarray(k.mmu.flags[:n])
    used = owner == KERNEL
    owner[used & ((flags & PG_PGTABLE) != 0)] = PGTABLE
    owner[used & ((flags & PG_FILE) != 0)] = FILE
    owner[used & ((flags & PG_ANON) != 0)] = ANON
    # What is left: kernel allocations; the slab layer says which are its slabs.
    rest = np.flatnonzero(owner == KERNEL)
    slab = k.slab
    i = 0
    with k.lock:
        while i < len(rest):
            pfn = int(rest[i])
            info = slab.object_info(slab.page_address(pfn))
            if info["kind"] == "slab":
                first = info["pfn"]
                last = first + (1 << info["order"])
                owner[first:last] = SLAB
                i = int(np.searchsorted(rest, last))
            else:
                i += 1
    return owner


def _nr_migratetypes(pa):
    n = getattr(pa, "_nr_mt", None)
    if n is None:
        from . import gfp
        n = getattr(gfp, "MIGRATE_TYPES", 6)
        pa._nr_mt = n
    return n


def memory_map(k, rows=None, width=None):
    """The physical-memory map: every page frame classified by owner (OWNERS: 0 absent,
    1 reserved, 2 free, 3 kernel (allocated, not slab), 4 slab, 5 anon, 6 file, 7 page table).
    Without `rows`: one code per pfn (uint8 array of k.layout.max_pfn).  With `rows` (or
    `width`): a 2-D array, one image row per `width` frames (the last row padded with absent),
    width chosen to give about `rows` rows."""
    owner = _page_owners(k)
    if rows is None and width is None:
        return owner
    n = len(owner)
    if width is None:
        width = max(1, -(-n // max(int(rows), 1)))
    nrows = -(-n // width)
    out = np.full(nrows * width, ABSENT, dtype=np.uint8)
    out[:n] = owner
    return out.reshape(nrows, width)


def owner_counts(owner):
    """{owner name: frames} of a memory_map()."""
    counts = np.bincount(np.asarray(owner).ravel(), minlength=len(OWNERS))
    return {name: int(c) for name, c in zip(OWNERS, counts)}
