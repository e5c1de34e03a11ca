"""HTML reports of a scenario run (docs/reports.md).

    from linuxmm.report import write_report
    info = write_report("out", "examples/pressure.toml", every="10ms")   # out/index.html + PNGs

The scenario runs with a Sampler (linuxmm.sampling) taking snapshots after each action (and,
inside long sequential touches, after each chunk of `chunk_pages` pages); the PNGs are drawn
with matplotlib's Agg backend (an optional dependency: `pip install linuxmm[report]`).
"""
import html
import os
import time

from ..sampling import Sampler, memory_map, owner_counts
from ..scenario import Result, Scenario, ScenarioError, _Runner, load, loads

__all__ = ["write_report", "run_sampled", "default_scenario", "ReportError", "IMAGES"]

# file name -> caption
IMAGES = {
    "free_pages.png": "Free pages per order over time (the zones' nr_free, pages = blocks << order)",
    "fragmentation.png": "Fragmentation index per order over time (mm/vmstat.c, thousandths)",
    "memory_map.png": "Physical memory at the end of the run: every page frame by owner",
    "processes.png": "RSS, swap and page faults per process over time",
    "reclaim.png": "Reclaim and swap activity per sample, PSI memory stall totals",
}


class ReportError(ValueError):
    """A report that cannot be made (matplotlib missing, an output path that is a file)."""


def default_scenario():
    """The built-in scenario: a 64 MiB machine with swap under pressure (a Scenario)."""
    from .scenarios import PRESSURE
    return loads(PRESSURE, "pressure (built in)")


def _as_scenario(scenario):
    if scenario is None:
        return default_scenario()
    if isinstance(scenario, Scenario):
        return scenario
    return load(os.fspath(scenario))


def _splittable(act):
    """A sequential touch can run in page-aligned pieces: the same accesses in the same order,
    no random draws."""
    return act["do"] == "touch" and act["pattern"] == "sequential" and act.get("repeat", 1) == 1


def run_sampled(scenario=None, sampler=None, *, every=None, chunk_pages=1024, maps=False,
                progress=None):
    """Run a scenario (a path, a Scenario, or None for the built-in one) with a Sampler;
    returns (Result, Sampler).  Long sequential touches run in pieces of `chunk_pages` pages
    (the same accesses in the same order: the counters at the end are those of
    scenario.run()) so that the sampler sees inside them; 0 turns that off."""
    s = _as_scenario(scenario)
    k = s.kernel()
    if sampler is None:
        sampler = Sampler(k, every, maps=maps)
    elif sampler.k is not k:
        sampler.k = k
    runner = _Runner(s, k)
    runner.start()
    sampler.sample("boot")
    step = max(int(chunk_pages or 0), 0) * 4096
    for i, act in enumerate(s.actions):
        name = act.get("process")
        pieces = None
        if step and _splittable(act) and name in runner.regions \
                and name not in runner.dead and act["region"] in runner.regions[name]:
            _, size = runner.regions[name][act["region"]]
            offset = act.get("offset", 0)
            length = act.get("length", size - offset)
            if offset % 4096 == 0 and length > step:
                pieces = []
                for o in range(offset, offset + length, step):
                    piece = dict(act, offset=o, length=min(step, offset + length - o))
                    if o != offset:
                        piece.pop("at", None)
                    pieces.append(piece)
        if pieces is None:
            runner.step(i, act)
            sampler.maybe_sample(f"action {i}: {act['do']}")
        else:
            first = len(runner.events)
            for piece in pieces:
                before = len(runner.events)
                runner.step(i, piece)
                sampler.maybe_sample(f"action {i}: {act['do']}")
                if any(e["process"] == name for e in runner.events[before:]):
                    break           # this process failed or was killed: one call would stop
            # as one call reports them: the acting process's own event first, then the
            # processes the OOM killer chose, in creation order
            order = list(runner.procs)
            runner.events[first:] = sorted(
                runner.events[first:],
                key=lambda e: -1 if e["process"] == name else order.index(e["process"]))
        if progress is not None:
            progress(i + 1)
    if sampler.every is not None and sampler.snapshots[-1]["t"] != k.now:
        sampler.sample("end")
    return Result(s, k, runner), sampler


def write_report(output, scenario=None, *, every=None, chunk_pages=1024, map_rows=128,
                 sampler=None, title=None, progress=None):
    """Run `scenario` (path, Scenario or None: the built-in one) with sampling and write
    output/index.html with its PNGs.  With `sampler` (a Sampler of a kernel you drove yourself)
    nothing runs: the report shows what it recorded.  Returns a dict: "index" (the HTML path),
    "images" (PNG paths), "summary" (the run's summary), "samples"."""
    plt = _pyplot()
    output = os.fspath(output)
    if os.path.exists(output) and not os.path.isdir(output):
        raise ReportError(f"{output}: exists and is not a directory")
    os.makedirs(output, exist_ok=True)
    t0 = time.perf_counter()
    result = None
    if sampler is None:
        result, sampler = run_sampled(scenario, every=every, chunk_pages=chunk_pages,
                                      progress=progress)
    elif not sampler.snapshots:
        sampler.sample()
    wall = time.perf_counter() - t0
    k = sampler.k
    owner = memory_map(k, rows=map_rows)
    from . import plots
    images = []
    for name, draw in (("free_pages.png", plots.free_pages),
                       ("fragmentation.png", plots.fragmentation),
                       ("memory_map.png", lambda fig, s: plots.memory_map(fig, owner)),
                       ("processes.png", plots.processes),
                       ("reclaim.png", plots.reclaim)):
        fig = plt.figure(figsize=(9, 4.8 if name != "processes.png" else 6.4), dpi=100)
        try:
            draw(fig, sampler)
            path = os.path.join(output, name)
            fig.savefig(path)
        finally:
            plt.close(fig)
        images.append(path)
    summary = result.summary() if result is not None else None
    index = os.path.join(output, "index.html")
    with open(index, "w", encoding="utf-8") as f:
        f.write(_html(title, summary, sampler, owner_counts(owner), wall,
                      result.scenario.description if result is not None else ""))
    return {"index": index, "images": images, "summary": summary,
            "samples": len(sampler.snapshots), "wall_s": wall}


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ReportError("reports need matplotlib (pip install matplotlib, or "
                          "pip install 'linuxmm[report]')") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _row(cells, head=False):
    tag = "th" if head else "td"
    return "<tr>" + "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in cells) + "</tr>\n"


def _html(title, summary, sampler, owners, wall, description=""):
    k = sampler.k
    last = sampler.summary()
    name = summary["scenario"] if summary else "kernel"
    title = title or f"linuxmm report: {name}"
    rows = [("machine", f"{k.mem >> 20} MiB RAM, {k.swap >> 20} MiB swap, {k.cpus} CPU(s), "
                        f"{k.arch}, {k.backend} backend"),
            ("simulated time", f"{k.now / 1e9:.6f} s"),
            ("snapshots", f"{len(sampler.snapshots)}" + (f" (every {sampler.every} ns)"
                                                       if sampler.every else " (per action)")),
            ("wall time", f"{wall:.2f} s")]
    if summary:
        rows.insert(0, ("scenario", f"{summary['scenario']} (seed {summary['seed']}, "
                                    f"{summary['actions']} actions)"))
        rows += [(f"meminfo {key}", f"{v} kB") for key, v in summary["meminfo_kb"].items()]
        rows += [(f"vmstat {key}", v) for key, v in summary["vmstat"].items()]
    rows += [("vmstat pageoutrun", last.get("pageoutrun", 0)),
             ("PSI memory some total", f"{last.get('psi_some_us', 0)} us"),
             ("PSI memory full total", f"{last.get('psi_full_us', 0)} us")]
    rows += [(f"page frames: {owner}", n) for owner, n in owners.items()]
    parts = ["<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
             f"<title>{html.escape(title)}</title>\n",
             "<style>body{font-family:sans-serif;max-width:960px;margin:1em auto;}"
             "table{border-collapse:collapse;margin:1em 0;}td,th{border:1px solid #bbb;"
             "padding:2px 8px;text-align:left;}figure{margin:1.5em 0;}img{max-width:100%;}"
             "</style>\n</head>\n<body>\n",
             f"<h1>{html.escape(title)}</h1>\n"]
    if description:
        parts.append(f"<p>{html.escape(description)}</p>\n")
    parts.append("<h2>Summary</h2>\n<table id=\"summary\">\n")
    parts.append(_row(("item", "value"), head=True))
    parts += [_row(r) for r in rows]
    parts.append("</table>\n")
    if summary:
        parts.append("<h2>Processes</h2>\n<table id=\"processes\">\n")
        parts.append(_row(("pid", "name", "state", "minflt", "majflt", "RSS kB", "swap kB"),
                          head=True))
        for p in summary["processes"]:
            state = "running" if p["alive"] else ("oom-killed" if p["oom_killed"] else "exited")
            parts.append(_row((p["pid"], p["name"], state, p["min_flt"], p["maj_flt"],
                               p.get("rss_anon_kb", 0) + p.get("rss_file_kb", 0),
                               p.get("swap_kb", 0))))
        parts.append("</table>\n")
        if summary["events"]:
            parts.append("<h2>Events</h2>\n<ul>\n")
            for e in summary["events"]:
                who = f"{e['process']}: " if e["process"] else ""
                parts.append(f"<li>action {e['action']}: {html.escape(who + e['event'])}</li>\n")
            parts.append("</ul>\n")
    parts.append("<h2>Over time</h2>\n")
    for file, caption in IMAGES.items():
        parts.append(f"<figure><img src=\"{file}\" alt=\"{html.escape(caption)}\">"
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>\n")
    parts.append("</body>\n</html>\n")
    return "".join(parts)
