"""/proc/slabinfo (mm/slab_common.c: slab_show(), cache_show()) and a slabtop-like summary."""
from .._args import as_int
from .geometry import PAGE_SIZE

HEADER = ("slabinfo - version: 2.1\n"
          "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
          " : tunables <limit> <batchcount> <sharedfactor>"
          " : slabdata <active_slabs> <num_slabs> <sharedavail>\n")


def slabinfo_line(name, active_objs, num_objs, objsize, objperslab, pagesperslab,
                  active_slabs, num_slabs):
    return (f"{name:<17} {active_objs:6d} {num_objs:6d} {objsize:6d} {objperslab:4d} "
            f"{pagesperslab:4d} : tunables {0:4d} {0:4d} {0:4d} : slabdata "
            f"{active_slabs:6d} {num_slabs:6d} {0:6d}\n")


def render_slabinfo(rows):
    """rows: (name, active_objs, num_objs, objsize, objperslab, pagesperslab, active_slabs,
    num_slabs), newest cache first."""
    return HEADER + "".join(slabinfo_line(*r) for r in rows)


def parse_slabinfo(text):
    """[(name, active_objs, num_objs, objsize, objperslab, pagesperslab, active_slabs, num_slabs)]."""
    rows = []
    for line in text.splitlines()[2:]:
        f = line.split()
        rows.append((f[0], int(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[5]), int(f[13]),
                     int(f[14])))
    return rows


def _k(nbytes):
    return f"{nbytes / 1024:.2f}K"


def render_slabtop(rows, sort="objs", limit=None):
    """slabtop -o: the summary header and the per-cache table (procps-ng layout: the average
    object is total size / total objects; a cache is active when it has objects; names are
    padded to 23 columns)."""
    keys = {"objs": lambda r: r[2], "active": lambda r: r[1], "size": lambda r: r[3],
            "slabs": lambda r: r[7], "cache": lambda r: r[7] * r[5] * PAGE_SIZE,
            "name": lambda r: r[0]}
    if not isinstance(sort, str) or sort not in keys:
        raise ValueError(f"sort must be one of {sorted(keys)}")
    if limit is not None:
        limit = as_int(limit, "limit")
        if limit < 0:
            raise ValueError(f"limit must be None or >= 0, got {limit}")
    active_objs = sum(r[1] for r in rows)
    total_objs = sum(r[2] for r in rows)
    active_slabs = sum(r[6] for r in rows)
    total_slabs = sum(r[7] for r in rows)
    active_caches = sum(1 for r in rows if r[2])          # procps: caches with objects
    active_size = sum(r[1] * r[3] for r in rows)
    total_size = sum(r[2] * r[3] for r in rows)
    sizes = [r[3] for r in rows] or [0]

    def pct(a, b):
        return 100.0 * a / b if b else 0.0

    out = [
        f" Active / Total Objects (% used)    : {active_objs} / {total_objs} ({pct(active_objs, total_objs):.1f}%)",
        f" Active / Total Slabs (% used)      : {active_slabs} / {total_slabs} ({pct(active_slabs, total_slabs):.1f}%)",
        f" Active / Total Caches (% used)     : {active_caches} / {len(rows)} ({pct(active_caches, len(rows)):.1f}%)",
        f" Active / Total Size (% used)       : {_k(active_size)} / {_k(total_size)} ({pct(active_size, total_size):.1f}%)",
        f" Minimum / Average / Maximum Object : {_k(min(sizes))} / "
        f"{_k(total_size // total_objs if total_objs else 0)} / {_k(max(sizes))}",
        "",
        "  OBJS ACTIVE  USE OBJ SIZE  SLABS OBJ/SLAB CACHE SIZE NAME" + " " * 19,
    ]
    ordered = sorted(rows, key=keys[sort], reverse=sort != "name")
    for r in ordered[:limit]:
        name, act, num, objsize, per, pages, _, slabs = r
        use = int(pct(act, num))
        out.append(f"{num:6d} {act:6d} {use:3d}% {objsize / 1024:7.2f}K {slabs:6d} {per:8d} "
                   f"{slabs * pages * PAGE_SIZE // 1024:9d}K {name:<23}")
    return "\n".join(out) + "\n"
