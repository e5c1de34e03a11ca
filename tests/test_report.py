"""Sampler, memory map and HTML reports (linuxmm.sampling, linuxmm.report, `linuxmm report`)."""
import os
import re
import shutil

import numpy as np
import pytest

import linuxmm
import linuxmm.scenario as S
from linuxmm.report import IMAGES, default_scenario, run_sampled, write_report
from linuxmm.sampling import Sampler, memory_map, owner_counts
from clirun import cli, one_line_error  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
EXAMPLES = os.path.join(ROOT, "examples")

pytest.importorskip("matplotlib")




# -- Sampler and memory_map ---------------------------------------------------------------------
def test_memory_map_agrees_with_counters():
    k = linuxmm.Kernel("64M", swap="32M")
    p = k.spawn("a")
    a = p.mmap(0, 4000 * 4096, linuxmm.PROT_READ | linuxmm.PROT_WRITE,
               linuxmm.MAP_PRIVATE | linuxmm.MAP_ANONYMOUS)
    p.touch_range(a, 4000 * 4096, write=True)
    objs = [k.kmalloc(512) for _ in range(2000)]
    owner = memory_map(k)
    assert owner.shape == (k.layout.max_pfn,)
    counts = owner_counts(owner)
    v = k.vm_counters()
    pcp = sum(z.pcp_count(cpu) for z in k.zones for cpu in range(k.cpus))
    assert counts["free"] == v["nr_free_pages"] + pcp
    assert counts["anon"] == v["nr_anon_pages"] == 4000
    assert counts["page table"] == v["nr_page_table_pages"]
    assert counts["slab"] == v["nr_slab_unreclaimable"] + v["nr_slab_reclaimable"] > 0
    assert sum(counts.values()) == k.layout.max_pfn
    grid = memory_map(k, rows=64)
    assert grid.shape[0] == 64 and owner_counts(grid)["anon"] == 4000
    for o in objs:
        k.kfree(o)


def test_sampler_every_and_series():
    k = linuxmm.Kernel("64M")
    s = Sampler(k, every="1ms")
    assert s.maybe_sample() is not None           # the first is always taken
    assert s.maybe_sample() is None               # not due yet
    k.advance(999_999)
    assert s.maybe_sample() is None
    k.advance(1)
    assert s.maybe_sample() is not None
    k.advance(5_500_000)
    s.maybe_sample()
    assert list(s.times) == [0, 1_000_000, 6_500_000]
    assert s.series("pgfault").tolist() == [0, 0, 0]
    assert s.nr_free().shape == (3, 11)
    assert s.fragmentation("DMA32").shape == (3, 11)
    with pytest.raises(KeyError):
        s.series("nonsense")
    with pytest.raises(ValueError):
        Sampler(k, every=0)
    with pytest.raises(ValueError):
        Sampler(k, every="soon")
    per_call = Sampler(k)
    per_call.maybe_sample()
    per_call.maybe_sample()
    assert len(per_call) == 2


@pytest.mark.parametrize("name", ["pressure.toml", "fork.toml", "files.toml", None])
def test_sampled_run_equals_plain_run(name):
    """Touches split into chunks for sampling give the summary of one call per action."""
    path = os.path.join(EXAMPLES, name) if name else None
    result, sampler = run_sampled(path, chunk_pages=100)
    plain = (S.load(path) if path else default_scenario()).run()
    assert result.summary() == plain.summary()
    assert len(sampler) > len(result.scenario.actions)       # samples inside the touches
    assert np.all(np.diff(sampler.times) >= 0)


def test_default_scenario_is_under_pressure():
    result, sampler = run_sampled(None)
    v = result.summary()["vmstat"]
    assert v["pswpout"] > 0 and v["pswpin"] > 0 and v["pgscan_kswapd"] > 0
    assert v["oom_kill"] == 1
    assert sampler.deltas("pswpout").max() > 0
    assert sampler.series("psi_some")[-1] > 0


# -- the report ---------------------------------------------------------------------------------
def _check_png(path):
    import matplotlib.image as mpimg
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 400
    colours = np.unique(img.reshape(-1, img.shape[2]), axis=0)
    assert len(colours) > 8, path                 # drawn, not blank
    assert img[..., :3].std() > 0.05, path


def _check_html(out):
    text = open(os.path.join(out, "index.html"), encoding="utf-8").read()
    srcs = re.findall(r'<img src="([^"]+)"', text)
    assert sorted(srcs) == sorted(IMAGES)
    for src in srcs:
        assert not os.path.isabs(src) and "/" not in src
        _check_png(os.path.join(out, src))
    assert '<table id="summary">' in text
    return text


def test_write_report_python(tmp_path):
    info = write_report(tmp_path / "r", os.path.join(EXAMPLES, "pressure.toml"), every="50ms")
    text = _check_html(info["index"].rsplit("/", 1)[0])
    assert "pswpout" in text and "oom-killed" in text
    assert info["summary"]["vmstat"]["oom_kill"] == 1


def test_write_report_from_own_sampler(tmp_path):
    k = linuxmm.Kernel("64M", swap="32M")
    s = Sampler(k)
    p = k.spawn("big")
    a = p.mmap(0, 9000 * 4096, linuxmm.PROT_READ | linuxmm.PROT_WRITE,
               linuxmm.MAP_PRIVATE | linuxmm.MAP_ANONYMOUS)
    for i in range(0, 9000, 500):
        p.touch_range(a + i * 4096, 500 * 4096, write=True)
        s.sample()
    info = write_report(tmp_path / "own", sampler=s)
    assert info["summary"] is None and info["samples"] == 18
    _check_html(str(tmp_path / "own"))


def test_report_cli(tmp_path):
    out = tmp_path / "rep"
    r = cli("report", os.path.join(EXAMPLES, "pressure.toml"), "--output", str(out),
            "--every", "100ms")
    assert r.returncode == 0, r.stderr
    assert "index.html" in r.stdout
    _check_html(str(out))
    r = cli("report", "-o", str(tmp_path / "default"), "--json", "--chunk", "0")
    assert r.returncode == 0, r.stderr
    import json
    info = json.loads(r.stdout)
    assert info["summary"]["scenario"] == "pressure" and len(info["images"]) == 5
    assert info["samples"] == len(default_scenario().actions) + 1


def test_report_cli_errors(tmp_path):
    assert "nope.toml" in one_line_error(cli("report", str(tmp_path / "nope.toml"), "-o",
                                             str(tmp_path / "x")), 1)
    assert "--every" in one_line_error(cli("report", "--every", "soon", "-o",
                                           str(tmp_path / "x")), 2)
    f = tmp_path / "file"
    f.write_text("")
    one_line_error(cli("report", "-o", str(f)))
    bad = tmp_path / "bad.toml"
    bad.write_text('[machine]\nmem = "lots"\n')
    assert "machine.mem" in one_line_error(cli("report", str(bad), "-o", str(tmp_path / "y")))


# -- the report in a browser --------------------------------------------------------------------
def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_report_in_headless_chromium(tmp_path):
    """Every <img> of index.html loads in a real browser (naturalWidth > 0)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    info = write_report(tmp_path / "web", None, chunk_pages=2048)
    url = "file://" + os.path.abspath(info["index"])
    try:
        with sync_api.sync_playwright() as pw:
            try:
                browser = pw.chromium.launch(headless=True)
            except Exception:                        # Playwright's own browser not downloaded
                exe = _chromium()
                if exe is None:
                    pytest.skip("no Chromium: apt-get install chromium (or playwright install)")
                try:
                    browser = pw.chromium.launch(headless=True, executable_path=exe,
                                                 args=["--no-sandbox"])
                except Exception as err:
                    pytest.skip(f"cannot start {exe}: {str(err).splitlines()[0]}")
            try:
                page = browser.new_page()
                page.goto(url)
                page.wait_for_load_state("load")
                imgs = page.eval_on_selector_all(
                    "img", "els => els.map(e => [e.getAttribute('src'), e.complete, "
                           "e.naturalWidth, e.naturalHeight])")
                title = page.title()
                cells = page.eval_on_selector_all("#summary td", "els => els.length")
            finally:
                browser.close()
    except Exception as err:
        if "Executable doesn't exist" in str(err) or "Host system is missing" in str(err):
            pytest.skip(f"no usable browser: {str(err).splitlines()[0]}")
        raise
    assert sorted(src for src, *_ in imgs) == sorted(IMAGES)
    for src, complete, width, height in imgs:
        assert complete and width > 0 and height > 0, src
    assert title == "linuxmm report: pressure" and cells > 20
