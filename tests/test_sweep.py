"""Parameter sweeps (linuxmm.sweep, `linuxmm sweep`): grids, reproducibility, worker pools,
a Dask LocalCluster, CSV and Parquet, one-line errors."""
import csv
import json
import os

import pytest

from linuxmm.sweep import METRICS, SweepError, parse_grid, parse_value, run_sweep, write_table
from clirun import cli, one_line_error  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FORK = os.path.join(ROOT, "examples", "fork.toml")
PRESSURE = os.path.join(ROOT, "examples", "pressure.toml")
GRID = {"machine.swappiness": [0, 200], "seed": [1, 2]}




def strip(rows):
    return [{k: v for k, v in row.items() if k != "wall_s"} for row in rows]


@pytest.fixture(scope="module")
def local_rows():
    return run_sweep(PRESSURE, GRID)


def test_parse_grid():
    assert parse_grid(["machine.mem=64M,128M", "seed=1,2", "action[2].write=0.5,true"]) == {
        "machine.mem": ["64M", "128M"], "seed": [1, 2], "action[2].write": [0.5, True]}
    assert parse_value('"7"') == "7" and parse_value("7") == 7
    for bad in (["seed"], ["=1"], ["seed=1,,2"], ["seed="], ["seed=1", "seed=2"]):
        with pytest.raises(SweepError):
            parse_grid(bad)


def test_rows_and_reproducible(local_rows):
    rows = local_rows
    assert [(r["machine.swappiness"], r["seed"]) for r in rows] == [(0, 1), (0, 2), (200, 1),
                                                                    (200, 2)]
    for row in rows:
        assert list(row)[2:] == list(METRICS)
        assert row["pswpout"] > 0 and row["oom_kills"] == 1 and row["pgscan"] >= row["pgsteal"]
    assert rows[0]["pswpout"] != rows[2]["pswpout"]          # swappiness matters
    assert strip(run_sweep(PRESSURE, GRID)) == strip(rows)    # the same grid again


def test_local_pool_equals_serial(local_rows):
    assert strip(run_sweep(PRESSURE, GRID, workers=2)) == strip(local_rows)


def test_dask_local_cluster_equals_local_pool(local_rows):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        rows = run_sweep(PRESSURE, GRID, scheduler=cluster.scheduler_address)
    assert strip(rows) == strip(local_rows)


def test_grid_errors():
    with pytest.raises(SweepError, match="unknown machine key"):
        run_sweep(FORK, {"machine.nonsense": [1]})
    with pytest.raises(SweepError, match="machine.mem: bad size"):
        run_sweep(FORK, {"machine.mem": ["lots"]})
    with pytest.raises(SweepError, match="has 8 action"):
        run_sweep(FORK, {"action[8].size": ["1M"]})
    with pytest.raises(SweepError, match="not a scenario key"):
        run_sweep(FORK, {"mem": ["1M"]})
    with pytest.raises(SweepError, match="workers"):
        run_sweep(FORK, {"seed": [1]}, workers=0)


def test_write_table_csv_and_parquet(tmp_path, local_rows):
    path = write_table(local_rows, tmp_path / "t.csv")
    with open(path) as f:
        back = list(csv.DictReader(f))
    assert [int(r["pswpout"]) for r in back] == [r["pswpout"] for r in local_rows]
    pq = pytest.importorskip("pyarrow.parquet")
    path = write_table(local_rows, str(tmp_path / "t.parquet"))
    table = pq.read_table(path).to_pylist()
    assert strip(table) == strip(local_rows)


def test_sweep_cli(tmp_path):
    out = tmp_path / "fork.csv"
    r = cli("sweep", FORK, "--grid", "machine.mem=128M,256M", "-g", "seed=3", "-o", str(out),
            "--workers", "2")
    assert r.returncode == 0, r.stderr
    assert "2 runs" in r.stdout
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert [r["machine.mem"] for r in rows] == ["128M", "256M"]
    assert {r["seed"] for r in rows} == {"3"}
    assert int(rows[1]["mem_free_kb"]) > int(rows[0]["mem_free_kb"])
    r = cli("sweep", FORK, "-g", "seed=1,2", "--json", "-o", str(tmp_path / "j.csv"))
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["runs"] == 2 and strip(got["rows"])[0] == strip(got["rows"])[1] | {"seed": 1}


def test_sweep_cli_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    out = tmp_path / "fork.parquet"
    r = cli("sweep", FORK, "-g", "seed=1,2", "-o", str(out))
    assert r.returncode == 0, r.stderr
    import pyarrow.parquet as pq
    assert pq.read_table(str(out)).num_rows == 2


def test_sweep_cli_errors(tmp_path):
    out = str(tmp_path / "x.csv")
    assert "--grid" in one_line_error(cli("sweep", FORK, "-o", out), 2)
    assert "machine.bogus" in one_line_error(cli("sweep", FORK, "-g", "machine.bogus=1",
                                                 "-o", out), 2)
    assert "bad size" in one_line_error(cli("sweep", FORK, "-g", "machine.mem=64M,lots",
                                            "-o", out), 2)
    assert "KEY=V1,V2" in one_line_error(cli("sweep", FORK, "-g", "seed", "-o", out), 2)
    assert "empty value" in one_line_error(cli("sweep", FORK, "-g", "seed=1,", "-o", out), 2)
    assert "action[0]..action[7]" in one_line_error(
        cli("sweep", FORK, "-g", "action[9].size=1M", "-o", out), 2)
    assert "nope.toml" in one_line_error(cli("sweep", str(tmp_path / "nope.toml"), "-g",
                                             "seed=1", "-o", out), 1)
    assert "no such directory" in one_line_error(
        cli("sweep", FORK, "-g", "seed=1", "-o", str(tmp_path / "no" / "x.csv")), 1)
    assert not os.path.exists(out)
