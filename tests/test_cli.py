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
    assert main(["demo", "--pages", "4096", "--bursts", "50"]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("Node 0")]
    assert len(lines) == 3 and all(LINE.match(ln) for ln in lines)
    boot = [int(x) for x in lines[0].split()[4:]]
    assert boot == [0] * 10 + [4]
    assert "invariants checked" in out


def test_python_dash_m_entry_point():
    r = subprocess.run([sys.executable, "-m", "linuxmm", "demo", "--pages", "1024", "--bursts", "5"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "buddyinfo at boot" in r.stdout
