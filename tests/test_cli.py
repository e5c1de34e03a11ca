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
