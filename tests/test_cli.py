"""`linuxmm demo` runs and prints buddyinfo lines in the kernel's format."""
import re
import subprocess
import sys

from linuxmm.cli import buddyinfo_line, main

LINE = re.compile(r"^Node 0, zone +\S+ (?: *\d+ ){11}$")


def test_buddyinfo_line_format():
    # A real /proc/buddyinfo line (linux-mm-physical.md 8.1): "%6lu " per order, trailing space.
    real = ("Node 0, zone      DMA      0      0      0      0      0      0      0      0      1"
            "      1      3 ")
    assert buddyinfo_line("DMA", [0] * 8 + [1, 1, 3]) == real


def test_demo_prints_boot_burst_and_fragmented_state(capsys):
    assert main(["demo", "--mem", "512M", "--bursts", "3"]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("Node 0")]
    # 512 MiB: zones DMA and DMA32, printed at boot, after the burst, after freeing half
    assert len(lines) == 2 * 3 and all(LINE.match(ln) for ln in lines)
    dma32_boot, dma32_after = lines[1], lines[-1]
    assert int(dma32_boot.split()[4]) <= 1 and int(dma32_after.split()[4]) > 50  # fragmented
    assert "slabinfo - version: 2.1" in out and "demo_dentry" in out
    assert "invariants checked" in out
    maps = out[out.index("/proc/1/maps:"):].splitlines()[1:]
    assert any(ln.endswith("[stack]") or ln.endswith("[heap]") or " rw-p " in ln for ln in maps)
    assert any(" r--p " in ln for ln in maps)          # the mprotect'ed page of the mmap


def test_python_dash_m_entry_point():
    r = subprocess.run([sys.executable, "-m", "linuxmm", "demo", "--mem", "256M", "--bursts", "1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "/proc/buddyinfo at boot" in r.stdout


# -- the command line as a user runs it ----------------------------------------------------------
import gzip  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from clirun import cli, ok_json, one_line_error  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
EX = os.path.join(ROOT, "examples")





def test_version_and_help_show_defaults():
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == "linuxmm 0.1.0"
    r = cli("demo", "--help")
    text = " ".join(r.stdout.split())
    assert r.returncode == 0 and "[default: 4G]" in text and "[default: 20;" in text
    r = cli("--help")
    for command in ("demo", "run", "proc", "replay", "record"):
        assert command in r.stdout


def test_demo_shows_processes_and_memory_pressure():
    r = cli("demo", "--bursts", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "/proc/swaps:" in r.stdout and "/swapfile" in r.stdout and "VmSwap:" in r.stdout
    assert "pswpout" in r.stdout and "exited" in r.stdout
    facts = ok_json("demo", "--bursts", "1", "--mem", "512M")
    assert facts["pressure_pswpout"] > 0 and facts["pressure_maj_flt"] >= 1
    assert facts["user_pages"] == 4096 and facts["seconds"] < 10


def _scenario_summary(name, backend=None):
    from linuxmm.scenario import load
    s = load(os.path.join(EX, name))
    if backend:
        s.machine["backend"] = backend
    out = s.run().summary()
    out.pop("backend")
    return out


def test_run_pressure_example_exact():
    sm = ok_json("run", "examples/pressure.toml")
    procs = {p["name"]: p for p in sm["processes"]}
    hog, greedy, cache = procs["hog"], procs["greedy"], procs["cache"]
    assert hog["min_flt"] == (48 << 20) // 4096       # one write fault per page of the touch
    assert hog["maj_flt"] == 1                        # the first page, swapped out, read back
    assert hog["oom_killed"] and not hog["alive"]
    assert greedy["alive"] and greedy["min_flt"] == (40 << 20) // 4096
    assert greedy["rss_anon_kb"] + greedy["swap_kb"] == 40 << 10
    assert cache["maj_flt"] == 1 and cache["alive"]   # one major fault, readahead brings the rest
    assert sm["vmstat"]["oom_kill"] == 1 and sm["vmstat"]["pswpout"] > 0
    assert sm["vmstat"]["pgfault"] == sum(p["min_flt"] + p["maj_flt"] for p in procs.values())
    assert [e["event"] for e in sm["events"]] == [
        "killed by SIGKILL (out of memory)",
        "read skipped: process killed by SIGKILL (out of memory)"]
    assert sm["time_ns"] >= 3_000_000_000
    sm.pop("backend")
    assert sm == _scenario_summary("pressure.toml", "reference")


def test_run_fork_example_exact():
    sm = ok_json("run", "examples/fork.toml")
    parent, child = sm["processes"]
    assert parent["min_flt"] == 1024 + 256 and child["min_flt"] == 512 and not child["alive"]
    assert parent["rss_anon_kb"] == 3 << 10           # 1 MiB dropped, read back as zero pages
    assert sm["meminfo_kb"]["AnonPages"] == 3 << 10


@pytest.mark.parametrize("name", ["fork.toml", "files.toml"])
def test_examples_same_on_both_backends(name):
    assert _scenario_summary(name) == _scenario_summary(name, "reference")


def test_run_text_summary_and_proc():
    r = cli("run", "examples/pressure.toml")
    assert r.returncode == 0 and "oom-killed" in r.stdout and "pswpout" in r.stdout
    r = cli("proc", "examples/pressure.toml", "/proc/swaps")
    assert r.returncode == 0 and r.stdout.splitlines()[1].startswith("/swapfile")
    r = cli("proc", "examples/pressure.toml", "/proc/greedy/status")
    assert r.returncode == 0 and "VmSwap:" in r.stdout
    one_line_error(cli("proc", "examples/pressure.toml", "/proc/nonsense"), 2)
    one_line_error(cli("proc", "examples/pressure.toml", "/proc/hog/status"), 2)   # killed


BAD = {
    "mem = '4G'": "unknown key",
    "[machine]\nmem = '12X'": "machine.mem: bad size",
    "[machine]\nmem = '1M'": "cannot boot",
    "[machine]\nmemory = '1G'": "machine.memory: unknown key",
    "[[process]]\nname = 'a'\n[[action]]\nprocess = 'a'\ndo = 'jump'": "action[0].do",
    "[[process]]\nname = 'a'\n[[action]]\nprocess = 'b'\ndo = 'exit'": "action[0].process",
    "[[process]]\nname = 'a'\n[[action]]\nprocess = 'a'\ndo = 'mmap'\nregion = 'r'":
        "action[0].size: missing",
    "[[process]]\nname = 'a'\n[[action]]\nprocess = 'a'\ndo = 'mmap'\nregion = 'r'\n"
    "size = '1M'\nprot = 'rq'": "action[0].prot",
    "[[process]]\nname = 'a'\n[[action]]\nprocess = 'a'\ndo = 'touch'\nregion = 'r'":
        "action[0].region",
    "[[process]]\nname = 'a'\nexec = '/nonexistent/binary'": "execve",
    "this is not toml": "not valid TOML",
}


@pytest.mark.parametrize("text,needle", list(BAD.items()))
def test_bad_scenarios_are_one_line(tmp_path, text, needle):
    path = tmp_path / "bad.toml"
    path.write_text(text + "\n")
    line = one_line_error(cli("run", str(path)))
    assert needle in line and "bad.toml" in line


def test_user_errors_are_one_line(tmp_path):
    one_line_error(cli("run", "no/such/file.toml"))
    one_line_error(cli("replay", "no/such/trace"), 2)
    one_line_error(cli("replay", "examples/access.npz", "--mem", "12X"), 2)
    one_line_error(cli("replay", "examples/access.npz", "--mem", "8M"))       # cannot boot
    one_line_error(cli("demo", "--mem", "lots"), 2)
    one_line_error(cli("frobnicate"), 2)
    one_line_error(cli("replay", "examples/fork.toml"))                        # not a trace
    one_line_error(cli("record", "--", "no-such-command-here"))
    empty = tmp_path / "bin"
    empty.mkdir()
    line = one_line_error(cli("record", "--", "/bin/true", env={"PATH": str(empty)}))
    assert "apt install strace" in line


REPLAYED = ("mmap", "munmap", "mprotect", "mremap", "brk", "madvise", "mlock", "execve")


def _count_calls(path):
    text = open(path).read()
    return sum(1 for ln in text.splitlines()
               if ln.split(" ", 1)[-1].lstrip().split("(")[0] in REPLAYED)


def test_replay_strace_example_exact(tmp_path):
    path = os.path.join(EX, "anon.strace")
    sm = ok_json("replay", "examples/anon.strace")
    assert sm["kind"] == "strace" and sm["processes"] == 2
    assert sm["calls"] == _count_calls(path) == 14
    assert sm["matched"] == 14 and sm["mismatches"] == []
    # Change one recorded result: exactly that call differs, with both results shown.
    bad = tmp_path / "changed.strace"
    bad.write_text(open(path).read().replace("= -1 EEXIST (File exists)", "= 0x7ffff7fef000"))
    sm = ok_json("replay", str(bad))
    assert sm["calls"] == 14 and sm["matched"] == 13
    (m,) = sm["mismatches"]
    assert m["kernel"] == "0x7ffff7fef000" and m["linuxmm"] == "-1 EEXIST"
    assert "MAP_FIXED_NOREPLACE" in m["call"]


@pytest.mark.skipif(not os.path.exists("/usr/bin/cat"), reason="execs the host's cat")
def test_replay_recorded_cat_log_same_on_both_backends():
    from linuxmm.replay import strace
    path = os.path.join(EX, "cat.strace")
    c, _ = strace.replay(path)
    ref, _ = strace.replay(path, backend="reference")
    assert c["calls"] == _count_calls(path) and c["results"] == ref["results"]


def _expected_faults(addrs, writes):
    """Anonymous private memory, no pressure: a page's first access faults (a read maps the
    zero page), and a page first read and later written faults once more (COW of the zero
    page)."""
    pages = addrs >> 12
    faults = 0
    for page in np.unique(pages):
        w = writes[pages == page]
        faults += 1 + int((not w[0]) and bool(w.any()))
    return faults, len(np.unique(pages))


def test_replay_npz_example_exact():
    data = np.load(os.path.join(EX, "access.npz"))
    want, pages = _expected_faults(data["addrs"], data["writes"].astype(bool))
    sm = ok_json("replay", "examples/access.npz")
    assert sm["kind"] == "npz" and sm["accesses"] == len(data["addrs"])
    assert sm["pages"] == pages and sm["min_flt"] == want and sm["maj_flt"] == 0
    assert sm["pgfault"] == want and sm["pswpout"] == 0


def test_replay_lackey_example_exact(tmp_path):
    addrs, writes = [], []
    with gzip.open(os.path.join(EX, "small.lackey.gz"), "rt") as f:
        for line in f:
            if line[:2] in ("I ", " L", " S", " M"):
                a, size = line[2:].strip().split(",")
                a, end = int(a, 16), int(a, 16) + int(size) - 1
                for x in ([a, end] if (a >> 12) != (end >> 12) else [a]):
                    addrs.append(x)
                    writes.append(line[1] in "SM")
    addrs, writes = np.array(addrs), np.array(writes)
    inside = (addrs >= 1 << 16) & (addrs < (1 << 47) - 4096)
    want, pages = _expected_faults(addrs[inside], writes[inside])
    out = tmp_path / "small.npz"
    sm = ok_json("replay", "examples/small.lackey.gz", "--save-npz", str(out))
    assert sm["kind"] == "lackey" and sm["accesses"] == int(inside.sum())
    assert sm["pages"] == pages and sm["min_flt"] == want
    again = ok_json("replay", str(out))              # the compact trace replays the same
    assert (again["min_flt"], again["pages"]) == (want, pages)
    ref = ok_json("replay", "examples/small.lackey.gz", "--backend", "reference")
    assert ref["min_flt"] == want


def test_replay_access_trace_under_pressure():
    sm = ok_json("replay", "examples/access.npz", "--mem", "48M", "--swap", "64M")
    assert sm["min_flt"] + sm["maj_flt"] >= sm["pages"]
    data = np.load(os.path.join(EX, "access.npz"))
    assert sm["accesses"] == len(data["addrs"])


PROGRAM = r"""
#define _GNU_SOURCE
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(void) {
    char *p = mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(p, 1, 1 << 20);
    mprotect(p + 4096, 4096, PROT_READ);
    char *q = mremap(p + (512 << 10), 512 << 10, 1 << 20, MREMAP_MAYMOVE);
    madvise(q, 4096, MADV_DONTNEED);
    sbrk(1 << 16);
    char *m = malloc(300000); m[0] = 1; free(m);
    munmap(p, 8192);
    munmap((void *)-4096, 8192);
    mmap(p, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    mmap(p + 8192, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (fork() == 0) { mmap(0, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); _exit(0); }
    return 0;
}
"""


@pytest.mark.skipif(not shutil.which("strace") or not shutil.which("gcc"),
                    reason="needs strace (apt install strace) and gcc")
def test_record_a_program_every_return_matches(tmp_path):
    src = tmp_path / "prog.c"
    src.write_text(PROGRAM)
    subprocess.run(["gcc", "-O0", "-o", str(tmp_path / "prog"), str(src)], check=True)
    log = tmp_path / "prog.strace"
    r = cli("record", "--json", "-o", str(log), "--", str(tmp_path / "prog"))
    if r.returncode != 0 and "no log" in r.stderr:
        pytest.skip("ptrace is not allowed here")
    assert r.returncode == 0, r.stderr
    sm = json.loads(r.stdout)
    assert sm["exit_status"] == 0 and sm["processes"] == 2
    assert sm["calls"] == _count_calls(log) > 20
    assert sm["mismatches"] == [] and sm["matched"] == sm["calls"]
    again = ok_json("replay", str(log))              # the saved log replays the same way
    assert again["matched"] == again["calls"] == sm["calls"]
