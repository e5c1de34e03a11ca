"""Parameter sweeps: one scenario over a grid of values, one table row per run (docs/reports.md).

    from linuxmm.sweep import run_sweep, parse_grid
    rows = run_sweep("examples/pressure.toml", {"machine.swappiness": [0, 60, 200]}, workers=2)
    rows = run_sweep(..., scheduler="tcp://10.0.0.1:8786")    # an existing Dask cluster
    write_table(rows, "out.csv")                               # or .parquet (pyarrow/fastparquet)

Grid keys address the scenario's TOML: `seed`, `machine.<key>` (mem, swap, swappiness...),
`process[i].<key>`, `action[i].<key>` (i counts from 0).  Every run boots its own Kernel with the
run's seed, so a row depends only on the scenario and its grid values: the same grid gives the
same rows (apart from `wall_s`) on any number of workers or machines.
"""
import csv
import itertools
import os
import re
import time

from .scenario import MACHINE_KEYS, ScenarioError, Scenario, parse_toml, read_text

__all__ = ["SweepError", "parse_grid", "parse_value", "expand", "run_sweep", "run_one",
           "write_table", "METRICS"]

# the columns after the grid values (and seed)
METRICS = ("faults", "major_faults", "pswpin", "pswpout", "oom_kills", "pgscan", "pgsteal",
           "mem_free_kb", "swap_free_kb", "events", "time_ns", "wall_s")


class SweepError(ValueError):
    """A grid or output that cannot be used (one line, naming the key)."""


_KEY = re.compile(r"^(seed|name|machine\.([a-z_]+)|(process|action)\[(\d+)\]\.([a-z_]+))$")


def parse_value(text):
    """A grid value as TOML would read it: integers, floats, true/false, else a string
    ("64M", "random")."""
    text = text.strip()
    if text in ("true", "false"):
        return text == "true"
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def parse_grid(specs):
    """["KEY=V1,V2", ...] -> {KEY: [values]} (SweepError on a bad item)."""
    grid = {}
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SweepError(f"--grid {spec!r}: expected KEY=V1,V2,... (e.g. "
                             f"machine.swappiness=0,60,200)")
        items = [v for v in values.split(",")]
        if not values.strip() or any(not v.strip() for v in items):
            raise SweepError(f"--grid {key}: empty value in {values!r}")
        if key in grid:
            raise SweepError(f"--grid {key}: given twice")
        grid[key] = [parse_value(v) for v in items]
    return grid


def _check_key(key, data):
    m = _KEY.match(key)
    if not m:
        raise SweepError(f"--grid {key}: not a scenario key (seed, machine.<key>, "
                         f"process[i].<key>, action[i].<key>)")
    if m.group(2) and m.group(2) not in MACHINE_KEYS:
        raise SweepError(f"--grid {key}: unknown machine key (one of "
                         f"{', '.join(sorted(MACHINE_KEYS))})")
    if m.group(3):
        table = m.group(3)
        n = len(data.get(table, []))
        if int(m.group(4)) >= n:
            raise SweepError(f"--grid {key}: the scenario has {n} {table}(s) "
                             f"({table}[0]..{table}[{n - 1}])" if n else
                             f"--grid {key}: the scenario has no [[{table}]]")
    return m


def _set(data, key, value):
    m = _KEY.match(key)
    if m.group(2):
        data.setdefault("machine", {})[m.group(2)] = value
    elif m.group(3):
        data[m.group(3)][int(m.group(4))][m.group(5)] = value
    else:
        data[key] = value


def _copy(data):
    if isinstance(data, dict):
        return {k: _copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_copy(v) for v in data]
    return data


def _read(scenario):
    """(TOML text, source name) of a scenario path, or of the built-in one (None)."""
    if scenario is None:
        from .report.scenarios import PRESSURE
        return PRESSURE, "pressure (built in)"
    path = os.fspath(scenario)
    return read_text(path), path


def expand(text, source, grid):
    """Every point of the grid, in order (the last key varies fastest): a list of
    {key: value} dicts, each checked by building its Scenario (ScenarioError names the key)."""
    data = parse_toml(text, source)
    for key in grid:
        _check_key(key, data)
    keys = list(grid)
    points = [dict(zip(keys, values)) for values in itertools.product(*grid.values())]
    for point in points:
        try:
            _scenario(data, source, point)
        except ScenarioError as err:
            raise SweepError(f"--grid: {err}") from None
    return points


def _scenario(data, source, point):
    data = _copy(data)
    for key, value in point.items():
        _set(data, key, value)
    where = ", ".join(f"{k}={v}" for k, v in point.items())
    try:
        return Scenario(data, source)
    except ScenarioError as err:
        raise ScenarioError(f"{err} (grid point {where})" if where else str(err)) from None


def run_one(text, source, point):
    """Run one grid point; returns its row (a dict: the grid values, seed, METRICS)."""
    from .scenario import meminfo, vmstat
    t0 = time.perf_counter()
    s = _scenario(parse_toml(text, source), source, point)
    result = s.run()
    wall = time.perf_counter() - t0
    k = result.kernel
    v, mi = vmstat(k), meminfo(k)
    row = dict(point)
    row["seed"] = s.seed
    row.update({
        "faults": v.get("pgfault", 0), "major_faults": v.get("pgmajfault", 0),
        "pswpin": v.get("pswpin", 0), "pswpout": v.get("pswpout", 0),
        "oom_kills": v.get("oom_kill", 0),
        "pgscan": v.get("pgscan_kswapd", 0) + v.get("pgscan_direct", 0),
        "pgsteal": v.get("pgsteal_kswapd", 0) + v.get("pgsteal_direct", 0),
        "mem_free_kb": mi.get("MemFree", 0), "swap_free_kb": mi.get("SwapFree", 0),
        "events": len(result.events), "time_ns": int(k.now), "wall_s": round(wall, 6)})
    return row


def _run_task(task):
    return run_one(*task)


def run_sweep(scenario, grid, *, workers=1, scheduler=None, progress=None):
    """Run `scenario` (a path, or None for the built-in pressure scenario) at every point of
    `grid` ({key: [values]} or ["KEY=V1,V2", ...]); returns the rows in grid order.
    `workers` > 1: a local process pool; `scheduler`: the address of a Dask distributed
    scheduler (needs dask[distributed]; its workers need linuxmm installed).
    `progress(done, total)` is called as runs finish."""
    if not isinstance(grid, dict):
        grid = parse_grid(grid)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SweepError(f"workers must be an integer >= 1, got {workers!r}")
    text, source = _read(scenario)
    points = expand(text, source, grid)
    tasks = [(text, source, point) for point in points]
    total = len(tasks)
    if progress is not None:
        progress(0, total)
    if scheduler is not None:
        return _run_dask(tasks, scheduler, progress)
    if workers == 1 or total <= 1:
        rows = []
        for task in tasks:
            rows.append(_run_task(task))
            if progress is not None:
                progress(len(rows), total)
        return rows
    import concurrent.futures as cf
    import multiprocessing
    ctx = multiprocessing.get_context()
    rows = [None] * total
    done = 0
    with cf.ProcessPoolExecutor(max_workers=min(workers, total), mp_context=ctx) as pool:
        futures = {pool.submit(_run_task, task): i for i, task in enumerate(tasks)}
        for future in cf.as_completed(futures):
            rows[futures[future]] = future.result()
            done += 1
            if progress is not None:
                progress(done, total)
    return rows


def _run_dask(tasks, scheduler, progress):
    try:
        from dask.distributed import Client
    except ImportError:
        raise SweepError("--scheduler needs dask.distributed (pip install 'dask[distributed]' "
                         "or 'linuxmm[dask]')") from None
    try:
        client = Client(scheduler, timeout=10, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        raise SweepError(f"cannot connect to the Dask scheduler at {scheduler}: "
                         f"{' '.join(str(err).split())}") from None
    try:
        futures = [client.submit(_run_task, task, pure=False) for task in tasks]
        rows = []
        for future in futures:                  # in grid order, as they come
            rows.append(future.result())
            if progress is not None:
                progress(len(rows), len(tasks))
        return rows
    finally:
        client.close()


def columns(rows):
    """The table's columns: the grid keys, seed, then METRICS."""
    cols = []
    for row in rows:
        for key in row:
            if key not in cols:
                cols.append(key)
    return cols


def write_table(rows, path):
    """Write the rows as CSV, or Parquet when path ends in .parquet (pyarrow or fastparquet)."""
    path = os.fspath(path)
    cols = columns(rows)
    if path.endswith(".parquet"):
        _write_parquet(rows, cols, path)
        return path
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for row in rows:
            w.writerow(row)
    return path


def _write_parquet(rows, cols, path):
    data = {}
    for c in cols:
        values = [row.get(c) for row in rows]
        kinds = {type(v) for v in values if v is not None}
        if len(kinds) > 1 and not kinds <= {int, float}:      # "64M" and 134217728
            values = [None if v is None else str(v) for v in values]
        data[c] = values
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        pa = None
    if pa is not None:
        pq.write_table(pa.table(data), path)
        return
    try:
        import fastparquet
        import pandas
    except ImportError:
        raise SweepError(f"{path}: writing Parquet needs pyarrow or fastparquet (pip install "
                         f"pyarrow, or 'linuxmm[parquet]'); or write a .csv") from None
    fastparquet.write(path, pandas.DataFrame(data))

