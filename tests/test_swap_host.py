"""Swap areas against the host kernel: a zram swap area enabled on this machine shows the same
/proc/swaps line and SwapTotal as linuxmm's k.swapon of the same size and path (swap_show's
format, the header page, the default and explicit priorities).  Skipped where the host does not
allow it (not root, no /dev/zram0, another swap area active, no mkswap/swapon)."""
import subprocess

import pytest

import linuxmm as L
from host import faulthost as fh

pytestmark = pytest.mark.host
PAGE = 4096


def host_swap(npages, priority=None):
    """(the /proc/swaps line of /dev/zram0, SwapTotal kB) on the host, zram swap enabled with
    npages pages (and swapon -p priority), then removed."""
    try:
        fh.zram_swapon(npages)
    except fh.HostRefused as e:
        pytest.skip(str(e))
    try:
        if priority is not None:
            subprocess.run(["swapoff", "/dev/zram0"], check=True, capture_output=True)
            subprocess.run(["swapon", "-p", str(priority), "/dev/zram0"], check=True,
                           capture_output=True)
        with open("/proc/swaps") as f:
            lines = f.read().splitlines()
        with open("/proc/meminfo") as f:
            total = next(int(x.split()[1]) for x in f if x.startswith("SwapTotal:"))
    finally:
        fh.zram_swapoff()
    return lines, total


@pytest.mark.parametrize("npages", [16384, 4097])
@pytest.mark.parametrize("priority", [None, 5])
def test_proc_swaps_and_swaptotal_match_host(backend_name, npages, priority):
    lines, total = host_swap(npages, priority)
    k = L.Kernel("256M", backend=backend_name)
    k.swapon(npages * PAGE, priority=priority, path="/dev/zram0")
    ours = k.read("/proc/swaps").splitlines()
    assert ours[0] == lines[0]
    host = lines[1]
    if host.split()[3] != "0":
        pytest.skip("the host swapped pages out while the area was on")
    assert ours[1] == host
    assert int(k.read("/proc/meminfo").split("SwapTotal:")[1].split()[0]) == total
