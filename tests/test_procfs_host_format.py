"""linuxmm's /proc files have the shape of this host kernel's: same lines, field order, widths.

Numbers differ (another machine, another workload); everything else must match.  A number is
compared by the column where it ends when the kernel right-aligns it (%6lu, %8lu kB ...) and by
where it starts when it follows a left-aligned label (%-12s %lu).
"""
import re

import pytest

import host_physical as host

pytest.importorskip("linuxmm.page_alloc")
from linuxmm import Kernel  # noqa: E402

NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def structure(line):
    """The line with every number replaced by N and the padding before it collapsed."""
    return re.sub(r" +N", " N", re.sub(r"(?<![A-Za-z_])\d+", "N", line))


def right_aligned_ends(line):
    return [m.end() for m in re.finditer(r"(?<![A-Za-z_\d])\d+", line)]


@pytest.fixture(scope="module")
def kernel():
    lines = host.e820_lines()
    ctl = host.sysctls()
    if not lines or not ctl:
        pytest.skip("host e820 map or sysctls not readable")
    k = Kernel(e820=lines, cpus=ctl["cpus"])
    pfns = [k.alloc_pages(order=o) for o in (0, 1, 3, 5)]       # some non-trivial free lists
    k.free_pages(pfns[1], 1)
    return k


def host_file(path):
    text = host.read(path)
    if text is None:
        pytest.skip(f"{path} not readable on this host")
    return text


def zone_names(text, pattern):
    return re.findall(pattern, text)


def test_buddyinfo_shape(kernel):
    ours, theirs = kernel.read("/proc/buddyinfo"), host_file("/proc/buddyinfo")
    assert zone_names(ours, r"zone\s+(\S+)") == zone_names(theirs, r"zone\s+(\S+)")
    for a, b in zip(ours.splitlines(keepends=True), theirs.splitlines(keepends=True)):
        assert structure(a) == structure(b)
        assert right_aligned_ends(a) == right_aligned_ends(b)
        assert len(a) == len(b)


def test_pagetypeinfo_shape(kernel):
    ours, theirs = kernel.read("/proc/pagetypeinfo"), host_file("/proc/pagetypeinfo")
    a, b = ours.splitlines(keepends=True), theirs.splitlines(keepends=True)
    b = [line for line in b if not line.startswith("Number of mixed blocks")]  # PAGE_OWNER
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert structure(x) == structure(y)
        assert right_aligned_ends(x) == right_aligned_ends(y)


def _zoneinfo_lines(text):
    return text.splitlines(keepends=True)


def test_zoneinfo_shape(kernel):
    ours, theirs = kernel.read("/proc/zoneinfo"), host_file("/proc/zoneinfo")
    a, b = _zoneinfo_lines(ours), _zoneinfo_lines(theirs)
    assert [structure(x) for x in a] == [structure(y) for y in b]
    for x, y in zip(a, b):
        # numbers after a label start at a fixed column: compare where the last one starts
        mx, my = list(NUMBER.finditer(x)), list(NUMBER.finditer(y))
        if mx and "protection" not in x and not x.startswith("Node"):
            assert mx[-1].start() == my[-1].start(), (x, y)


def test_meminfo_shape(kernel):
    ours, theirs = kernel.read("/proc/meminfo"), host_file("/proc/meminfo")
    a, b = ours.splitlines(keepends=True), theirs.splitlines(keepends=True)
    assert [x.split(":")[0] for x in a] == [y.split(":")[0] for y in b]
    for x, y in zip(a, b):
        assert structure(x) == structure(y)
        vx, vy = NUMBER.findall(x)[-1], NUMBER.findall(y)[-1]
        if len(vx) <= 8 and len(vy) <= 8:           # values fit the 8-column field
            assert right_aligned_ends(x)[-1] == right_aligned_ends(y)[-1], (x, y)


def test_vmstat_items_and_order(kernel):
    ours, theirs = kernel.read("/proc/vmstat"), host_file("/proc/vmstat")
    assert [x.split()[0] for x in ours.splitlines()] == [y.split()[0] for y in theirs.splitlines()]
    assert all(re.fullmatch(r"[a-z0-9_]+ \d+", x) for x in ours.splitlines())
    assert ours.endswith("\nnr_unstable 0\n")
