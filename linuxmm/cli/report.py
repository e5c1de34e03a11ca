"""`linuxmm report` and `linuxmm sweep` (docs/reports.md)."""
import os

import click

from . import CONTEXT, UserError, _common, _emit, _progress, cli


def _every(value):
    if value is None:
        return None
    from ..scenario import ScenarioError, _parse_time
    text = value.strip()
    try:
        ns = int(text) if text.isdigit() else _parse_time("--every", text)
    except ScenarioError:
        raise UserError(f"--every: bad time {value!r} (ns, or e.g. \"10ms\", \"1.5s\")", 2) \
            from None
    if ns <= 0:
        raise UserError("--every: must be more than 0", 2)
    return ns


@cli.command(context_settings=CONTEXT)
@click.argument("scenario", type=click.Path(dir_okay=False), required=False)
@click.option("--output", "-o", type=click.Path(file_okay=False), default="report",
              help="directory for index.html and the PNGs")
@click.option("--every", default=None, metavar="TIME",
              help="sample every TIME of simulated time (ns, or \"10ms\") "
                   "[default: after each action]")
@click.option("--chunk", type=click.IntRange(0, None), default=1024,
              help="sample inside sequential touches every CHUNK pages (0: per action only)")
@click.option("--map-rows", type=click.IntRange(1, 4096), default=128,
              help="rows of the physical-memory map (frames per row = frames / rows)")
@_common
def report(scenario, output, every, chunk, map_rows, as_json, quiet):
    """Run SCENARIO (a TOML file; default: a built-in 64 MiB machine under memory pressure)
    with sampling and write OUTPUT/index.html with PNGs: free pages per order, fragmentation
    index, the physical-memory map, RSS and faults per process, reclaim, swap and PSI over
    simulated time."""
    from ..report import ReportError, write_report
    from ..scenario import ScenarioError, load
    every_ns = _every(every)
    try:
        s = load(scenario) if scenario is not None else None
        with _progress(quiet or as_json) as bar:
            total = len(s.actions) if s is not None else None
            task = bar.add_task("report", total=total)
            info = write_report(output, s, every=every_ns, chunk_pages=chunk,
                                map_rows=map_rows,
                                progress=lambda n: bar.update(task, completed=n))
    except (ScenarioError, ReportError) as err:
        raise UserError(str(err)) from None
    if as_json:
        _emit(info)
    else:
        sm = info["summary"]
        click.echo(f"report of scenario {sm['scenario']}: {info['samples']} samples over "
                   f"{sm['time_ns'] / 1e9:.3f} s simulated; {info['index']}")
    return 0


@cli.command(context_settings=CONTEXT)
@click.argument("scenario", type=click.Path(dir_okay=False), required=False)
@click.option("--grid", "-g", multiple=True, metavar="KEY=V1,V2",
              help="a scenario key and its values (repeatable): seed=1,2 "
                   "machine.mem=64M,128M machine.swappiness=0,60,200 action[3].size=8M,16M")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default="sweep.csv",
              help="the table: .csv, or .parquet (needs pyarrow or fastparquet)")
@click.option("--workers", "-j", type=click.IntRange(1, 1024), default=1,
              help="local worker processes")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="run on an existing Dask distributed cluster (tcp://host:8786)")
@_common
def sweep(scenario, grid, output, workers, scheduler, as_json, quiet):
    """Run SCENARIO (default: the built-in pressure scenario) at every point of the --grid
    and write one row per run to OUTPUT: the grid values, the seed, faults, major faults,
    pswpin/pswpout, OOM kills, pgscan/pgsteal, MemFree, SwapFree, simulated and wall time."""
    from ..scenario import ScenarioError
    from ..sweep import SweepError, expand, parse_grid, run_sweep, write_table, _read
    if not grid:
        raise UserError("give at least one --grid KEY=V1,V2 (e.g. machine.swappiness=0,60,200)",
                        2)
    try:
        g = parse_grid(grid)
    except SweepError as err:
        raise UserError(str(err), 2) from None
    if output.endswith(".parquet"):
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            try:
                import fastparquet  # noqa: F401
            except ImportError:
                raise UserError(f"{output}: writing Parquet needs pyarrow or fastparquet "
                                f"(pip install pyarrow); or write a .csv") from None
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        raise UserError(f"{output}: no such directory {parent}")
    try:
        text, source = _read(scenario)
        total = len(expand(text, source, g))
        with _progress(quiet or as_json) as bar:
            task = bar.add_task("sweep", total=total)
            rows = run_sweep(scenario, g, workers=workers, scheduler=scheduler,
                             progress=lambda done, n: bar.update(task, completed=done))
        write_table(rows, output)
    except SweepError as err:
        raise UserError(str(err), 2 if str(err).startswith("--grid") else 1) from None
    except ScenarioError as err:
        raise UserError(str(err)) from None
    if as_json:
        _emit({"output": output, "runs": len(rows), "rows": rows})
    else:
        click.echo(f"{len(rows)} runs of {source} -> {output}")
    return 0
