"""execve of real ELF programs compared with the host kernel under `setarch -R`: the programs
print their own /proc/self/maps."""
import os
import shutil
import subprocess
import sys

import pytest

from linuxmm.kernel import Kernel
from linuxmm.vm.constants import ELF_ET_DYN_BASE, PAGE_SIZE, TASK_SIZE

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "host")

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("gcc") is None
    or shutil.which("setarch") is None, reason="needs Linux, gcc and setarch")

BUILDS = {
    "static": ("maps_nolibc.c", ["-static", "-nostdlib", "-fno-pie", "-no-pie"]),
    "static-pie": ("maps_nolibc.c", ["-static-pie", "-nostdlib", "-fpie"]),
    "dynamic": ("maps_libc.c", []),
    "static-libc": ("maps_libc.c", ["-static"]),
    "static-status": ("maps_nolibc.c", ["-DSTATUS", "-static", "-nostdlib", "-fno-pie", "-no-pie"]),
    "static-pie-status": ("maps_nolibc.c", ["-DSTATUS", "-static-pie", "-nostdlib", "-fpie"]),
    "static-brk": ("brk_nolibc.c", ["-static", "-nostdlib", "-fno-pie", "-no-pie"]),
    "static-pie-brk": ("brk_nolibc.c", ["-static-pie", "-nostdlib", "-fpie"]),
}


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    out = tmp_path_factory.mktemp("progs")
    built = {}
    for name, (src, flags) in BUILDS.items():
        path = str(out / name.replace("-", "_"))
        res = subprocess.run(["gcc", "-O1", *flags, "-o", path, os.path.join(HERE, src)],
                             capture_output=True)
        if res.returncode == 0:
            built[name] = path
    return built


def host_maps(path, env=("A=1",)):
    res = subprocess.run(["setarch", "-R", "env", "-i", *env, path], capture_output=True,
                         text=True, check=True)
    return res.stdout.splitlines(keepends=True)


def sim_maps(path, env=("A=1",), randomize=0, seed=0):
    k = Kernel(randomize_va_space=randomize, seed=seed)
    p = k.spawn("bash")
    p.execve(path, [path], list(env))
    p.mm.check()
    return k.read(f"/proc/{p.pid}/maps").splitlines(keepends=True), p


def _program(programs, name):
    if name not in programs:
        pytest.skip(f"gcc cannot build the {name} test program here")
    return programs[name]


@pytest.mark.parametrize("name", ["static", "static-pie"])
def test_exec_without_libc_matches_setarch_R_exactly(programs, name):
    path = _program(programs, name)
    ours, _ = sim_maps(path)
    assert ours == host_maps(path)


@pytest.mark.parametrize("env", [
    tuple(f"VAR{i}={'x' * 300}" for i in range(40)),      # ~12 KiB of strings
    tuple(f"V{i}=" for i in range(20000)),                 # pointers beyond the 128 KiB
    tuple(f"W{i}=" for i in range(15000)),
], ids=["long-strings", "many-pointers", "some-pointers"])
def test_exec_stack_size_follows_arguments(programs, env):
    path = _program(programs, "static")
    ours, _ = sim_maps(path, env)
    assert ours == host_maps(path, env)


def _parse(line):
    fields = line.split(None, 5)
    start, end = (int(x, 16) for x in fields[0].split("-"))
    name = fields[5].strip() if len(fields) > 5 else ""
    return start, end, fields[1], int(fields[2], 16), fields[3], int(fields[4]), name


HOST_PROGRAMS = {
    "cat": ["/usr/bin/cat", "/proc/self/maps"],
    "bash": ["/bin/bash", "-c", "cat /proc/$$/maps; true"],
    "python3": [os.path.realpath(sys.executable), "-S", "-c",
                "print(open('/proc/self/maps').read(), end='')"],
}


@pytest.mark.parametrize("name", ["dynamic", "static-libc", *HOST_PROGRAMS])
def test_exec_dynamic_matches_setarch_R(programs, name):
    """Every VMA the kernel made at exec is in the host's maps: exactly, or split by ld.so's
    RELRO mprotect (pieces of an rw-p file segment may be r--p).  Besides the test program,
    real host programs that can print their own maps."""
    if name in HOST_PROGRAMS:
        path, *args = HOST_PROGRAMS[name]
        if not os.path.exists(path):
            pytest.skip(f"{path} missing")
    else:
        path, args = _program(programs, name), []
    k = Kernel(randomize_va_space=0)
    p = k.spawn("bash")
    p.execve(path, [path, *args], ["A=1"])
    p.mm.check()
    ours = k.read(f"/proc/{p.pid}/maps").splitlines(keepends=True)
    res = subprocess.run(["setarch", "-R", "env", "-i", "A=1", path, *args], capture_output=True,
                         text=True, check=True)
    host_lines = res.stdout.splitlines(keepends=True)
    host = [_parse(line) for line in host_lines]
    checked = 0
    for line in ours:
        start, end, perms, off, dev, ino, name = _parse(line)
        pieces = [h for h in host if h[0] < end and h[1] > start]
        assert pieces and pieces[0][0] == start and pieces[-1][1] == end, line
        for prev, cur in zip(pieces, pieces[1:]):
            assert prev[1] == cur[0], line
        for piece in pieces:
            assert (piece[4], piece[5], piece[6]) == (dev, ino, name), (line, piece)
            expect_off = off + (piece[0] - start) if ino else 0
            assert piece[3] == expect_off, (line, piece)
            relro = perms == "rw-p" and piece[2] == "r--p" and ino
            assert piece[2] == perms or relro, (line, piece)
        if len(pieces) == 1:
            assert line in host_lines, line
        checked += 1
    assert checked >= 8
    heap = [h for h in host if h[6] == "[heap]"]
    assert not heap or heap[0][0] == p.mm.start_brk


def test_exec_layout_without_randomization(programs):
    path = _program(programs, "dynamic")
    _, p = sim_maps(path)
    mm = p.mm
    assert mm.mmap_base == 0x7ffff7fff000
    assert mm.tree.first().vm_start == 0x555555554000
    assert mm.start_brk == mm.brk == 0x555555569000
    stack = mm.find_vma(mm.start_stack)
    assert (stack.vm_start, stack.vm_end) == (0x7ffffffde000, 0x7ffffffff000)


def test_exec_randomized_is_reproducible(programs):
    path = _program(programs, "dynamic")
    a, pa = sim_maps(path, randomize=2, seed=7)
    b, _ = sim_maps(path, randomize=2, seed=7)
    c, _ = sim_maps(path, randomize=2, seed=8)
    assert a == b
    assert a != c
    mm = pa.mm
    base = mm.tree.first().vm_start
    assert ELF_ET_DYN_BASE & ~0xfff <= base < ELF_ET_DYN_BASE + (1 << 40)
    assert TASK_SIZE - (1 << 41) < mm.mmap_base < TASK_SIZE - (16 << 30)
    stack = mm.find_vma(mm.start_stack)
    assert TASK_SIZE - (16 << 30) - PAGE_SIZE <= stack.vm_end <= TASK_SIZE
    bss_end = max(v.vm_end for v in mm if v.vm_end < mm.start_brk)
    assert bss_end + PAGE_SIZE <= mm.start_brk < bss_end + PAGE_SIZE + (1 << 30)


def test_exec_status_lines(programs):
    path = _program(programs, "static")
    _, p = sim_maps(path)
    status = p.kernel.read(f"/proc/{p.pid}/status")
    values = dict(line.split(":\t") for line in status.splitlines() if line.startswith("Vm"))
    # 4 file pages + 16 bss pages + 33 stack pages + 8 vdso pages = 61 pages
    assert values["VmSize"].strip() == "244 kB"
    assert values["VmStk"].strip() == "132 kB"
    assert values["VmExe"].strip() == "4 kB"
    assert values["VmLib"].strip() == "8 kB"
    assert values["VmData"].strip() == "68 kB"


def test_exec_of_missing_or_non_elf_file():
    k = Kernel(randomize_va_space=0)
    p = k.spawn()
    with pytest.raises(OSError) as err:
        p.execve("/nonexistent/prog", ["x"], [])
    assert err.value.errno == 2
    k.create_file("/sim/script", 4096)
    with pytest.raises(OSError) as err:
        p.execve("/sim/script", ["x"], [])
    assert err.value.errno == 8                       # ENOEXEC


@pytest.mark.parametrize("name", ["static-status", "static-pie-status"])
def test_exec_status_matches_host(programs, name):
    """The Vm* lines that depend only on VMAs equal the host's for a program nothing but the
    kernel has touched."""
    path = _program(programs, name)
    host = {ln.split(":")[0]: ln for ln in host_maps(path) if ln.startswith("Vm")}
    _, p = sim_maps(path)
    ours = {ln.split(":")[0]: ln + "\n" for ln in p.kernel.read(f"/proc/{p.pid}/status").splitlines()
            if ln.startswith("Vm")}
    for key in ("VmPeak", "VmSize", "VmLck", "VmPin", "VmData", "VmStk", "VmExe", "VmLib", "VmSwap"):
        assert ours[key] == host[key], key


@pytest.mark.parametrize("name", ["static-brk", "static-pie-brk"])
def test_exec_initial_brk_matches_host(programs, name):
    path = _program(programs, name)
    host = int(host_maps(path)[0], 16)
    _, p = sim_maps(path)
    assert p.brk(0) == host == p.mm.start_brk


def _layout_relations(lines, exe):
    """The relations ASLR keeps between the pieces of a fresh process (parsed maps lines)."""
    maps = [_parse(line) for line in lines]
    exe_lines = [m for m in maps if m[6] == exe]
    bss_end = exe_lines[-1][1]
    bss_end = next((m[1] for m in maps if m[0] == bss_end and not m[6]), bss_end)
    heap = [m for m in maps if m[6] == "[heap]"]
    vdso = [m for m in maps if m[6] == "[vvar]"][0]
    interp = [m for m in maps if "ld-linux" in m[6]]
    stack = [m for m in maps if m[6] == "[stack]"][0]
    return {
        "pie_base": ELF_ET_DYN_BASE & ~0xfff <= exe_lines[0][0] < ELF_ET_DYN_BASE + (1 << 40),
        "heap_gap": not heap or PAGE_SIZE <= heap[0][0] - bss_end < PAGE_SIZE + (1 << 30),
        "vdso_below_interp": not interp or vdso[1] + (2 + 2) * PAGE_SIZE == interp[0][0],
        "stack_top": TASK_SIZE - (16 << 30) - PAGE_SIZE <= stack[1] <= TASK_SIZE,
        "mmap_area": TASK_SIZE - (1 << 41) < vdso[0] < stack[0] - (16 << 30) + (1 << 30),
    }


def test_randomized_layout_keeps_the_hosts_relations():
    path = "/usr/bin/cat"
    if not os.path.exists(path):
        pytest.skip("no /usr/bin/cat")
    # the host's layout is random too: a rare draw can break one relation (say, a gap between
    # the vDSO and ld.so), so the relations must hold in most of a few fresh host processes
    samples = []
    for _ in range(5):
        host = subprocess.run([path, "/proc/self/maps"], capture_output=True, text=True,
                              check=True).stdout.splitlines(keepends=True)
        samples.append(_layout_relations(host, os.path.realpath(path)))
    expected = max(samples, key=lambda rel: sum(rel.values()))
    assert all(expected.values()) and sum(all(r.values()) for r in samples) >= 3, samples
    for seed in range(5):
        k = Kernel(randomize_va_space=2, seed=seed)
        p = k.spawn("sh")
        p.execve(path, [path, "/proc/self/maps"], [])
        p.brk(p.brk(0) + 33 * PAGE_SIZE)                 # cat's malloc grows the heap
        assert _layout_relations(p.maps.splitlines(keepends=True), os.path.realpath(path)) == \
            expected
