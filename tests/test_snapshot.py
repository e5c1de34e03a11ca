"""Snapshots (k.save / Kernel.load) and Kernel(rootfs=...), both backends."""
import errno
import json
import os
import random
import re
import shutil
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

import linuxmm as L
from linuxmm import SnapshotError
from linuxmm.kernel import Kernel
from linuxmm import snapshot as S

BACKENDS = ["c", "reference"]
HOST_BIN = "/usr/bin/true"
PRESSURE = 40 << 20          # touched in a 64M machine with swap: reclaim swaps


def proc_files(k):
    files = ["/proc/meminfo", "/proc/vmstat", "/proc/zoneinfo", "/proc/buddyinfo",
             "/proc/pagetypeinfo", "/proc/slabinfo", "/proc/swaps", "/proc/pressure/memory"]
    for pid in sorted(k.processes):
        files += [f"/proc/{pid}/maps", f"/proc/{pid}/smaps", f"/proc/{pid}/status"]
    return {f: k.read(f) for f in files}


def assert_same(k1, k2):
    k1.check()
    k2.check()
    assert sorted(k1.processes) == sorted(k2.processes)
    a, b = proc_files(k1), proc_files(k2)
    for name in a:
        assert a[name] == b[name], name


def machine(backend, **kw):
    return Kernel("64M", backend=backend, swap="64M", randomize_va_space=2, seed=7, **kw)


RW = L.PROT_READ | L.PROT_WRITE
ANON = L.MAP_PRIVATE | L.MAP_ANONYMOUS


class Driver:
    """Random operations on one kernel, by names only (pids, indices): the same script drives
    the original and the loaded kernel."""

    def __init__(self, k):
        self.k = k
        self.pages = []
        self.objs = []
        self.maps = []        # (pid, addr, length)

    def run(self, op, arg):
        try:
            return ("ok", getattr(self, op)(arg))
        except (L.MMError, OSError, ValueError) as err:
            return ("err", type(err).__name__, str(err))

    def _pid(self, arg):
        pids = sorted(self.k.processes)
        return pids[arg % len(pids)] if pids else None

    def spawn(self, arg):
        return self.k.spawn(f"p{arg % 10}").pid

    def alloc(self, arg):
        pfn = self.k.alloc_pages(order=arg % 4)
        self.pages.append((pfn, arg % 4))
        return pfn

    def free(self, arg):
        if self.pages:
            pfn, order = self.pages.pop(arg % len(self.pages))
            self.k.free_pages(pfn, order)

    def kmalloc(self, arg):
        addr = self.k.kmalloc(8 + arg % 5000)
        self.objs.append(addr)
        return addr

    def kfree(self, arg):
        if self.objs:
            self.k.kfree(self.objs.pop(arg % len(self.objs)))

    def mmap(self, arg):
        pid = self._pid(arg)
        if pid is None:
            return self.spawn(arg)
        length = (1 + arg % 64) * 4096
        addr = self.k.processes[pid].mmap(0, length, RW, ANON)
        self.maps.append((pid, addr, length))
        return addr

    def touch(self, arg):
        if self.maps:
            pid, addr, length = self.maps[arg % len(self.maps)]
            p = self.k.processes.get(pid)
            if p is not None:
                p.touch_range(addr, length, write=bool(arg & 1))
                return sorted(p.rss.items())

    def fork(self, arg):
        pid = self._pid(arg)
        if pid is not None:
            child = self.k.processes[pid].fork()
            self.maps += [(child.pid, a, n) for p, a, n in self.maps if p == pid]
            return child.pid

    def exit(self, arg):
        pid = self._pid(arg)
        if pid is not None and len(self.k.processes) > 1:
            self.k.exit_process(self.k.processes[pid])

    def file(self, arg):
        path = f"/data/f{arg % 3}"
        try:
            f = self.k.open(path, os.O_RDWR)
        except OSError:
            f = self.k.create_file(path, "256K")
        f.write((arg * 4096) % (200 << 10), bytes([arg % 256]) * 3000)
        return f.read((arg * 977) % (250 << 10), 5000)

    def host(self, arg):
        f = self.k.open(HOST_BIN)
        return f.read((arg * 1000) % 8192, 300)

    def pressure(self, arg):
        pid = self._pid(arg)
        if pid is None:
            return None
        p = self.k.processes[pid]
        addr = p.mmap(0, PRESSURE, RW, ANON)
        p.touch_range(addr, PRESSURE, write=True)
        self.maps.append((pid, addr, PRESSURE))
        return sorted(p.rss.items())


OPS = ["spawn", "alloc", "free", "kmalloc", "kfree", "mmap", "touch", "fork", "exit", "file",
       "host", "mmap", "touch", "kmalloc", "alloc"]


def script(seed, n):
    rng = random.Random(seed)
    return [(rng.choice(OPS), rng.randrange(1 << 16)) for _ in range(n)]


def clone_driver(driver, k):
    d = Driver(k)
    d.pages, d.objs, d.maps = list(driver.pages), list(driver.objs), list(driver.maps)
    return d


@pytest.mark.parametrize("backend", BACKENDS)
def test_round_trip_and_continue(backend, tmp_path):
    k = machine(backend)
    d = Driver(k)
    d.spawn(0)
    for op, arg in script(1, 60):
        d.run(op, arg)
    d.run("pressure", 0)
    path = tmp_path / "k.snap"
    k.save(path)
    k2 = Kernel.load(path)
    assert k2.backend == backend and k2.lock is not k.lock
    assert_same(k, k2)
    d2 = clone_driver(d, k2)
    for i, (op, arg) in enumerate(script(2, 80) + [("pressure", 1)]):
        assert d.run(op, arg) == d2.run(op, arg), (i, op, arg)
        if i % 10 == 9 or op == "pressure":
            assert_same(k, k2)
    assert_same(k, k2)
    assert int(re.search(r"^pswpout (\d+)", k2.read("/proc/vmstat"), re.M).group(1)) > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_execve_and_fresh_boot_round_trip(backend, tmp_path):
    k = machine(backend)
    p = k.spawn("sh")
    p.execve(HOST_BIN, ["true"], ["A=1"])
    k.save(tmp_path / "a")
    k2 = Kernel.load(tmp_path / "a")
    assert_same(k, k2)
    # the saved host file is in the snapshot: a second save of the loaded one is identical
    k2.save(tmp_path / "b")
    assert Kernel.load(tmp_path / "b").read(f"/proc/{p.pid}/maps") == k.read(f"/proc/{p.pid}/maps")
    for kk in (k, k2):
        q = kk.processes[p.pid].fork()
        q.execve(HOST_BIN, ["true"], [])
    assert_same(k, k2)


def _snapshot(tmp_path):
    k = Kernel("64M", swap="8M")
    k.spawn("a").mmap(0, 8192, RW, ANON)
    path = tmp_path / "s"
    k.save(path)
    return path, path.read_bytes()


def test_damaged_files(tmp_path):
    path, data = _snapshot(tmp_path)
    hdr = S.read_header(data)
    assert hdr["format"] == S.FORMAT_VERSION and hdr["linuxmm"] == L.__version__
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x40
    bad = {"flip": bytes(flipped), "truncated": data[:-100], "short": data[:10],
           "magic": b"X" + data[1:], "empty": b"", "extra": data + b"\0"}
    start = len(S.MAGIC) + 4
    n = int.from_bytes(data[len(S.MAGIC):start], "big")
    header = json.loads(data[start:start + n])
    header["format"] = S.FORMAT_VERSION + 1
    future = json.dumps(header).encode()
    bad["future"] = S.MAGIC + len(future).to_bytes(4, "big") + future + data[start + n:]
    for name, blob in bad.items():
        p = tmp_path / name
        p.write_bytes(blob)
        with pytest.raises(SnapshotError):
            Kernel.load(p)
    with pytest.raises(SnapshotError, match="format"):
        Kernel.load(tmp_path / "future")
    with pytest.raises(SnapshotError, match="magic"):
        Kernel.load(tmp_path / "magic")
    assert issubclass(SnapshotError, L.MMError) and issubclass(SnapshotError, ValueError)


def test_damaged_engine_stream_is_refused():
    """A checksummed payload whose engine stream is wrong still raises SnapshotError."""
    from linuxmm._ffi import ffi, lib
    k = Kernel("64M")
    data = S._export(lib.lmm_pa_export, k._pa._ptr)
    assert lib.lmm_pa_import(data[:-1], len(data) - 1) == ffi.NULL
    assert lib.lmm_pa_import(data + b"\0", len(data) + 1) == ffi.NULL
    slab = S._export(lib.lmm_slab_export, k.slab._sys)
    cb = ffi.addressof(lib, "lmm_pa_alloc_page_cb"), ffi.addressof(lib, "lmm_pa_free_page_cb")
    assert lib.lmm_slab_import(slab[:-7], len(slab) - 7, *cb, k._pa._ptr) == ffi.NULL
    mmu = S._export(lib.lmm_mmu_export, k.mmu._ptr)
    assert lib.lmm_mmu_import(k._pa._ptr, mmu[:-1], len(mmu) - 1) == ffi.NULL
    assert lib.lmm_mmu_import(k._pa._ptr, data, len(data)) == ffi.NULL


class Ops:                      # a module-level device driver: saved by reference
    def fault(self, vmf):
        vmf.page = vmf.grab_page()
        return 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_user_callables(backend, tmp_path):
    k = machine(backend)
    k.create_device("/dev/ring", Ops())
    p = k.spawn("a")
    f = k.open("/dev/ring", os.O_RDWR)
    a = p.mmap(0, 8192, RW, L.MAP_SHARED, f, 0)
    p.touch(a, write=True)
    k.save(tmp_path / "ok")
    k2 = Kernel.load(tmp_path / "ok")
    assert_same(k, k2)
    k2.processes[p.pid].touch(a + 4096)

    class Local:
        def fault(self, vmf):
            return 0
    k.create_device("/dev/local", Local())
    with pytest.raises(SnapshotError):
        k.save(tmp_path / "bad")
    k3 = machine(backend)
    k3.kmem_cache_create("c", 64, ctor=lambda obj: None)
    with pytest.raises(SnapshotError, match="lambda"):
        k3.save(tmp_path / "bad2")


@settings(max_examples=8, deadline=None)
@given(backend=st.sampled_from(BACKENDS), seed=st.integers(0, 10**6),
       n=st.integers(0, 40), at=st.integers(0, 40))
def test_hypothesis_save_anywhere(tmp_path_factory, backend, seed, n, at):
    ops = script(seed, n)
    at = min(at, n)
    k, ref = machine(backend), machine(backend)
    d, dref = Driver(k), Driver(ref)
    for op, arg in ops[:at]:
        assert d.run(op, arg) == dref.run(op, arg)
    path = tmp_path_factory.mktemp("h") / "s"
    k.save(path)
    k = Kernel.load(path)
    d = clone_driver(d, k)
    for op, arg in ops[at:]:
        assert d.run(op, arg) == dref.run(op, arg)
    assert_same(k, ref)


# -- rootfs -----------------------------------------------------------------------------------
def _copy_with_deps(binary, root):
    """binary and every library and interpreter ldd names, copied under root at their paths
    (symbolic links kept as links)."""
    paths = [binary]
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    for line in out.splitlines():
        for word in line.split():
            if word.startswith("/"):
                paths.append(word)
    for path in paths:
        while True:
            dst = os.path.join(root, path.lstrip("/"))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if os.path.islink(path):
                if not os.path.lexists(dst):
                    os.symlink(os.readlink(path), dst)
                target = os.readlink(path)
                path = target if target.startswith("/") else \
                    os.path.normpath(os.path.join(os.path.dirname(path), target))
                continue
            if not os.path.exists(dst):
                shutil.copy2(path, dst)
            break


@pytest.mark.skipif(not shutil.which("ldd") or not os.path.exists(HOST_BIN), reason="no ldd")
@pytest.mark.parametrize("backend", BACKENDS)
def test_rootfs_sysroot(backend, tmp_path):
    root = tmp_path / "sysroot"
    _copy_with_deps(HOST_BIN, str(root))
    os.makedirs(root / "etc")
    (root / "etc" / "motd").write_bytes(b"hello from the sysroot\n")
    os.symlink("/etc/motd", root / "motd-link")           # absolute: resolved inside the root
    k = Kernel("64M", backend=backend, rootfs=root)
    assert k.rootfs == str(root)
    assert k.open("/etc/motd").read(0, 100) == b"hello from the sysroot\n"
    link = k.open("/motd-link")
    assert link.read(0, 5) == b"hello"
    assert link.f_inode.path == "/etc/motd"
    with pytest.raises(OSError) as e:
        k.open("/etc/hostname")                          # on the host, not in the sysroot
    assert e.value.errno == errno.ENOENT
    p = k.spawn("sh")
    p.execve(HOST_BIN, ["true"], [])
    maps = k.read(f"/proc/{p.pid}/maps")
    assert HOST_BIN in maps and str(root) not in maps
    k.save(tmp_path / "s")
    shutil.rmtree(root)                                  # the snapshot has the bytes
    k2 = Kernel.load(tmp_path / "s")
    assert_same(k, k2)
    q = k2.processes[p.pid].fork()
    q.execve(HOST_BIN, ["true"], [])
    assert k2.open("/etc/motd").read(0, 5) == b"hello"
    k2.check()


@pytest.mark.parametrize("backend", BACKENDS)
def test_rootfs_none(backend):
    k = Kernel("64M", backend=backend, rootfs=None)
    assert k.rootfs is None
    for path in ("/etc/passwd", HOST_BIN):
        with pytest.raises(OSError) as e:
            k.open(path)
        assert e.value.errno == errno.ENOENT
    with pytest.raises(OSError) as e:
        k.spawn("sh").execve(HOST_BIN, ["true"], [])
    assert e.value.errno == errno.ENOENT
    f = k.create_file("/data/x", 4096)                   # simulated files still work
    f.write(0, b"abc")
    assert k.open("/data/x").read(0, 3) == b"abc"


def test_rootfs_arguments(tmp_path):
    with pytest.raises(ValueError):
        Kernel("64M", rootfs=tmp_path / "missing")
    with pytest.raises(TypeError):
        Kernel("64M", rootfs=3)
    assert Kernel("64M").rootfs == "/"


# -- CLI ----------------------------------------------------------------------------------------
def _cli(*args):
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.run([sys.executable, "-m", "linuxmm", *args], capture_output=True,
                          text=True, cwd=root)


def test_cli_run_save_and_load(tmp_path):
    snap = str(tmp_path / "fork.snap")
    first = _cli("run", "examples/fork.toml", "--json", "--save", snap)
    assert first.returncode == 0, first.stderr
    k = Kernel.load(snap)
    k.check()
    assert json.loads(first.stdout)["meminfo_kb"]["AnonPages"] == 3 << 10
    again = _cli("run", "examples/fork.toml", "--json", "--load", snap)
    assert again.returncode == 0, again.stderr
    sm = json.loads(again.stdout)
    assert [p["pid"] for p in sm["processes"]] == [3, 4]     # pids continue the saved machine
    assert sm["meminfo_kb"]["AnonPages"] == 6 << 10          # the saved parent still lives
    (tmp_path / "bad").write_bytes(b"nothing")
    bad = _cli("run", "examples/fork.toml", "--load", str(tmp_path / "bad"))
    assert bad.returncode == 1 and "wrong magic" in bad.stderr


def test_ownership_checks_survive_a_round_trip(backend_name, tmp_path):
    """free_pages still refuses a user page and a slab page of the loaded machine."""
    k = L.Kernel("256M", backend=backend_name)
    p = k.spawn("p")
    a = p.mmap(0, 4 * 4096, L.PROT_READ | L.PROT_WRITE, L.MAP_PRIVATE | L.MAP_ANONYMOUS)
    p.touch_range(a, 4 * 4096, write=True)
    slab_pfn = k.virt_to_page(k.kmalloc(100)).pfn
    path = tmp_path / "k.snap"
    k.save(path)
    del k
    k2 = L.Kernel.load(path)
    user_pfn = k2.processes[p.pid].translate(a)[0]
    for pfn in (user_pfn, slab_pfn):
        with pytest.raises(L.InvalidFree):
            k2.free_pages(pfn, 0)
    k2.check()
