"""Issue 12, VM layer: a refused call changes nothing, on both backends.

Calls on an exited process raise ProcessLookupError (ESRCH) and an OOM-killed one Killed;
sysctl-like Kernel attributes refuse bad values and keep the old one; mmap, execve and
create_file validate before they change anything; every int-like VM argument accepts
__index__ integers (numpy too) and refuses floats and bools with ArgumentTypeError."""
import errno

import numpy as np
import pytest

import linuxmm as L
from linuxmm.errors import ArgumentTypeError, SysctlError
from linuxmm.vm.constants import (MAP_ANONYMOUS, MAP_PRIVATE, NR_brk, NR_madvise, NR_mmap,
                                  NR_munmap, PROT_READ, PROT_WRITE)

P = 4096
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS


def snapshot(k, p):
    return (k.read(f"/proc/{p.pid}/maps"), k.read(f"/proc/{p.pid}/status"), k.vm_committed_as,
            k.read("/proc/meminfo"))


# -- 1. lifetimes ------------------------------------------------------------------------------
def calls_on(p, addr):
    return {
        "mmap": lambda: p.mmap(0, P, RW, ANON),
        "munmap": lambda: p.munmap(addr, P),
        "mprotect": lambda: p.mprotect(addr, P, PROT_READ),
        "mremap": lambda: p.mremap(addr, P, 2 * P, 1),
        "brk": lambda: p.brk(0),
        "madvise": lambda: p.madvise(addr, P, 4),
        "mlock": lambda: p.mlock(addr, P),
        "mlock2": lambda: p.mlock2(addr, P, 0),
        "munlock": lambda: p.munlock(addr, P),
        "mlockall": lambda: p.mlockall(1),
        "munlockall": lambda: p.munlockall(),
        "mincore": lambda: p.mincore(addr, P),
        "execve": lambda: p.execve("/usr/bin/true", ["true"], []),
        "touch": lambda: p.touch(addr),
        "touch_range": lambda: p.touch_range(addr, P),
        "access": lambda: p.access([addr]),
        "read": lambda: p.read(addr, 1),
        "write": lambda: p.write(addr, b"x"),
        "translate": lambda: p.translate(addr),
        "fork": lambda: p.fork(),
        "syscall": lambda: p.syscall(NR_brk, 0),
        "syscall_mmap": lambda: p.syscall(NR_mmap, 0, P, RW, ANON, -1, 0),
    }


@pytest.mark.parametrize("how", ["exit_process", "exit"])
def test_every_call_on_an_exited_process_raises_esrch(backend_name, how):
    k = L.Kernel("128M", backend=backend_name)
    p = k.spawn("a")
    addr = p.mmap(0, 4 * P, RW, ANON)
    p.touch_range(addr, 4 * P, write=True)
    committed = k.vm_committed_as
    if how == "exit":
        p.exit()
    else:
        k.exit_process(p)
    assert k.vm_committed_as == committed - 4
    before = k.read("/proc/meminfo"), k.vm_committed_as
    for name, call in calls_on(p, addr).items():
        with pytest.raises(ProcessLookupError) as err:
            call()
        assert err.value.errno == errno.ESRCH, name
        assert (k.read("/proc/meminfo"), k.vm_committed_as) == before, name
        k.check()
    assert p.mm.map_count == 0 and p.maps == ""
    p.exit()                                   # exiting again does nothing
    k.exit_process(p)
    k.check()


def test_check_finds_what_is_charged_to_an_exited_process(backend_name):
    k = L.Kernel("128M", backend=backend_name)
    p = k.spawn("a")
    p.mmap(0, 4 * P, RW, ANON)
    k.exit_process(p)
    k.check()
    p.mm.committed = 3                         # corrupt: a charge left behind
    with pytest.raises(L.InvariantError, match="exited process"):
        k.check()


def test_every_call_on_an_oom_killed_process_raises_killed(backend_name):
    k = L.Kernel("64M", backend=backend_name)
    k.spawn("init")
    a, b, c = k.spawn("a"), k.spawn("b"), k.spawn("c")
    base = {p: p.mmap(0, 6000 * P, RW, ANON) for p in (a, b, c)}
    a.touch_range(base[a], 3000 * P, write=True)     # a is the biggest throughout
    b.touch_range(base[b], 1000 * P, write=True)
    done = {b: 1000, c: 0}
    while not a.oom_killed:                          # until the OOM killer takes a
        for p in (c, b):
            p.touch_range(base[p] + done[p] * P, 50 * P, write=True)
            done[p] += 50
    assert a.oom_killed and not a.alive and b.alive and c.alive
    base = base[a]
    k.check()
    for name, call in calls_on(a, base).items():
        with pytest.raises(L.Killed):
            call()
        k.check()


def test_exit_process_and_read_refuse_non_objects(backend_name):
    k = L.Kernel("64M", backend=backend_name)
    with pytest.raises(ArgumentTypeError):
        k.exit_process(None)
    with pytest.raises(ArgumentTypeError):
        k.exit_process(1)
    other = L.Kernel("64M", backend=backend_name).spawn("x")
    with pytest.raises(ValueError):
        k.exit_process(other)
    assert other.alive
    with pytest.raises(ArgumentTypeError):
        k.read(None)
    with pytest.raises(ArgumentTypeError):
        k.read(b"/proc/meminfo")
    k.check()


# -- 2. sysctls ---------------------------------------------------------------------------------
INT_MAX = 2**31 - 1
SYSCTLS = {   # name: (a good value, refused out-of-range values)
    "min_free_kbytes": (8192, [-1, 2**40, INT_MAX + 1]),
    "max_map_count": (1000, [-1, INT_MAX + 1]),
    "overcommit_memory": (2, [-1, 3]),
    "overcommit_ratio": (80, [-1, INT_MAX + 1]),
    "admin_reserve_kbytes": (4096, [-1, 2**64]),
    "user_reserve_kbytes": (4096, [-1, 2**64]),
    "swappiness": (200, [-1, 201]),
    "page_cluster": (0, [-1, 32]),
    "watermark_scale_factor": (100, [0, 3001]),
    "percpu_pagelist_high_fraction": (8, [-1, 7, INT_MAX + 1]),
    "extfrag_threshold": (0, [-1, 1001]),
    "compact_unevictable_allowed": (0, [-1, 2]),
    "dirty_ratio": (30, [-1, 101]),
    "dirty_background_ratio": (5, [-1, 101]),
    "dirty_bytes": (1 << 20, [1, 2**64]),
    "dirty_background_bytes": (1 << 20, [0, 2**64]),
    "dirty_expire_centisecs": (100, [-1, INT_MAX + 1]),
    "dirty_writeback_centisecs": (100, [-1, INT_MAX + 1]),
    "randomize_va_space": (0, [INT_MAX + 1]),
}
BAD_TYPES = [None, "10", 1.0, 2.5, True, b"1", [1]]


@pytest.mark.parametrize("name", sorted(SYSCTLS))
def test_sysctl_writes_are_validated_and_refusals_keep_the_old_value(backend_name, name):
    k = L.Kernel("128M", backend=backend_name)
    good, bad = SYSCTLS[name]
    for value in bad:
        old = getattr(k, name)
        with pytest.raises(SysctlError) as err:
            setattr(k, name, value)
        assert isinstance(err.value, ValueError) and err.value.errno == errno.EINVAL
        assert getattr(k, name) == old
        k.check()
    for value in BAD_TYPES:
        old = getattr(k, name)
        with pytest.raises(ValueError):            # ArgumentTypeError
            setattr(k, name, value)
        assert getattr(k, name) == old
        k.check()
    setattr(k, name, np.int64(good))
    assert getattr(k, name) == good and type(getattr(k, name)) is int
    k.check()


def test_list_and_string_sysctls(backend_name):
    k = L.Kernel("128M", backend=backend_name)
    ratios = k.lowmem_reserve_ratio
    for value in (None, 5, "256 32", [1.5] * len(ratios), [1] * (len(ratios) + 1),
                  [INT_MAX + 1] * len(ratios)):
        with pytest.raises(ValueError):
            k.lowmem_reserve_ratio = value
        assert k.lowmem_reserve_ratio == ratios
    k.lowmem_reserve_ratio = [np.int32(64)] * len(ratios)
    assert k.lowmem_reserve_ratio == [64] * len(ratios)
    for value in (None, "sometimes", 1, b"never"):
        with pytest.raises(SysctlError):
            k.transparent_hugepage = value
        assert k.transparent_hugepage == "madvise"
    k.transparent_hugepage = "never"
    k.min_free_kbytes = INT_MAX                    # the largest accepted: every zone copes
    k.check()
    with pytest.raises(SysctlError):
        L.Kernel("64M", backend=backend_name, swappiness=201)
    with pytest.raises(SysctlError):
        L.Kernel("64M", backend=backend_name, transparent_hugepage="sometimes")


def test_huge_min_free_kbytes_is_refused_and_check_passes(backend_name):
    k = L.Kernel("256M", backend=backend_name)
    old = k.min_free_kbytes
    with pytest.raises(ValueError):
        k.min_free_kbytes = 2**40
    assert k.min_free_kbytes == old
    k.check()


# -- 2. refused calls that would have changed state ----------------------------------------------
def test_mmap_with_numpy_all_ones_prot_leaves_nothing_charged(backend_name):
    k = L.Kernel("128M", backend=backend_name)
    p = k.spawn("a")
    before = snapshot(k, p)
    addr = p.mmap(0, 8192, np.uint64(2**64 - 1), ANON)   # unknown prot bits are ignored
    assert type(addr) is int
    assert k.vm_committed_as == before[2] + 2
    p.munmap(addr, 8192)
    assert k.vm_committed_as == before[2] and p.maps == ""
    before = snapshot(k, p)                    # VmPeak keeps the 8 kB
    for bad in (1.0, True, None, "3"):
        with pytest.raises(ArgumentTypeError):
            p.mmap(0, 8192, bad, ANON)
        with pytest.raises(ArgumentTypeError):
            p.mmap(0, 8192, RW, ANON, None, bad)
        assert snapshot(k, p) == before
    k.check()


def _exec_ready(k):
    p = k.spawn("sh")
    p.execve("/usr/bin/true", ["true"], ["A=1"])
    return p


def test_execve_validates_before_the_old_address_space_goes(backend_name):
    k = L.Kernel("128M", backend=backend_name)
    p = _exec_ready(k)
    before = snapshot(k, p)
    bad = [(5, []), (["true"], 5), ("true", []), ([1], []), (["true"], [None]),
           (["tr\0ue"], []), ([b"x" * (32 * 4096)], []), (["x" * 4000] * 600, [])]
    for argv, envp in bad:
        with pytest.raises((ValueError, TypeError, OSError)):
            p.execve("/usr/bin/true", argv, envp)
        assert snapshot(k, p) == before, (argv, envp)
        k.check()
    with pytest.raises(OSError) as err:
        p.execve("/usr/bin/true", ["x" * 4000] * 600, [])
    assert err.value.errno == errno.E2BIG
    for path in (None, 5, "/no/such/file", "", "/etc/hostname"):
        with pytest.raises((ValueError, TypeError, OSError)):
            p.execve(path, ["x"], [])
        assert snapshot(k, p)[:3] == before[:3], path     # (reading a header may cache it)
    # NULL argv and envp are allowed (Linux adds an empty string and warns once)
    p.execve("/usr/bin/true", None, None)
    assert "with NULL argv: empty string added" in k.dmesg()
    assert p.alive and p.mm.map_count > 0
    k.check()


def test_execve_relative_path_and_non_utf8_interpreter(backend_name, tmp_path):
    import struct
    k = L.Kernel("128M", backend=backend_name)
    data = bytearray(open("/usr/bin/true", "rb").read())
    phoff, = struct.unpack_from("<Q", data, 32)
    phnum, = struct.unpack_from("<H", data, 56)
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * 56)
        if p_type == 3:
            break
    else:
        pytest.skip("/usr/bin/true has no PT_INTERP")
    bogus = b"/lib\xff\xfe-ld.so"
    data[p_offset:p_offset + p_filesz] = bogus + bytes(p_filesz - len(bogus))
    f = k.create_file("bin/badinterp", 0)             # relative: /bin/badinterp
    assert f.path == "/bin/badinterp"
    f.write(0, bytes(data))
    p = _exec_ready(k)
    before = snapshot(k, p)
    with pytest.raises(OSError) as err:
        p.execve("bin/badinterp", ["x"], [])
    assert err.value.errno in (errno.ENOENT, errno.ENOEXEC)
    assert snapshot(k, p)[:3] == before[:3]
    data[p_offset + p_filesz - 1] = ord("x")          # not NUL-terminated: ENOEXEC
    f.write(0, bytes(data))
    with pytest.raises(OSError) as err:
        p.execve("/bin/badinterp", ["x"], [])
    assert err.value.errno == errno.ENOEXEC
    assert snapshot(k, p)[:3] == before[:3]
    k.check()


def test_relative_paths_resolve_against_slash_not_the_host_cwd(backend_name, tmp_path,
                                                               monkeypatch):
    (tmp_path / "usr").mkdir()
    (tmp_path / "hostonly").write_bytes(b"host cwd file")
    monkeypatch.chdir(tmp_path)
    k = L.Kernel("64M", backend=backend_name)
    with pytest.raises(FileNotFoundError):
        k.open("hostonly")                             # /hostonly: not the host's cwd
    assert k.open("etc/hostname").path == "/etc/hostname"
    f = k.create_file("data/x", 10)
    assert f.path == "/data/x" and k.open("/data/x").f_inode is f.f_inode
    p = k.spawn("a")
    p.execve("usr/bin/true", ["true"], [])             # /usr/bin/true
    assert "/usr/bin/true" in p.maps
    for bad in (None, 5, 1.5):
        with pytest.raises(TypeError):
            k.open(bad)
        with pytest.raises(TypeError):
            k.create_file(bad, 0)
    k.check()


@pytest.mark.parametrize("fs,limit", [("ext4", ((1 << 32) - 1) << 12), ("tmpfs", (1 << 63) - 1)])
def test_create_file_beyond_max_file_size_is_efbig_and_leaves_no_inode(backend_name, fs, limit):
    k = L.Kernel("64M", backend=backend_name)
    for size in (2**62, limit + 1, 2**64):
        if size <= limit:
            continue
        with pytest.raises(OSError) as err:
            k.create_file("/data/huge", size, fs=fs)
        assert err.value.errno == errno.EFBIG
        assert "/data/huge" not in k.fs.inodes
    f = k.create_file("/data/huge", np.int64(limit), fs=fs)
    assert f.size == limit
    with pytest.raises(OSError) as err:
        f.write(limit, b"x")
    assert err.value.errno == errno.EFBIG
    assert f.write(limit - 1, b"xy") == 1
    for bad in (1.5, True, None):
        with pytest.raises(TypeError):
            k.create_file("/data/bad", bad)
        assert "/data/bad" not in k.fs.inodes
    k.check()


def test_big_files_are_sparse_and_read_lazily(backend_name, tmp_path, monkeypatch):
    import builtins
    k = L.Kernel("64M", backend=backend_name)
    f = k.create_file("/data/big", "1G")
    assert f.read(0, 16) == bytes(16) and f.read((1 << 30) - 8, 16) == bytes(8)
    assert not f.f_inode._backing
    host = tmp_path / "sparse"
    with open(host, "wb") as h:
        h.truncate(1 << 30)
        h.seek(5 * 4096)
        h.write(b"hello")
    read = []
    real_open = builtins.open

    def counting_open(*args, **kw):
        fh = real_open(*args, **kw)
        if str(args[0]) == str(host):
            real_read = fh.read
            fh = _Wrap(fh, real_read, read)
        return fh
    monkeypatch.setattr(builtins, "open", counting_open)
    g = k.open(str(host))
    assert g.read(0, 16) == bytes(16)
    assert g.read(5 * 4096, 5) == b"hello"
    assert sum(read) <= 64 * 4096                      # readahead windows, not the file


class _Wrap:
    def __init__(self, fh, real_read, log):
        self._fh, self._read, self._log = fh, real_read, log

    def read(self, n=-1):
        data = self._read(n)
        self._log.append(len(data))
        return data

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()


# -- 3. one contract for int-like arguments -------------------------------------------------------
def test_vm_calls_take_numpy_integers_and_refuse_floats_and_bools(backend_name):
    k = L.Kernel("128M", backend=backend_name)
    p = k.spawn("a")
    addr = p.mmap(np.int64(0), np.uint32(4 * P), np.int8(RW), np.int32(ANON), None, np.uint8(0))
    assert type(addr) is int
    p.touch(np.uint64(addr), write=True)
    p.touch_range(np.int64(addr), np.int16(P))
    p.write(np.uint64(addr), b"abc")
    assert p.read(np.int64(addr), np.int32(3)) == b"abc"
    addr = new = p.mremap(np.uint64(addr), np.int64(4 * P), np.int64(8 * P), np.int32(1))
    assert p.mincore(np.uint64(addr), np.int64(P)) == bytes([1])
    p.mprotect(np.uint64(addr), np.int64(P), np.int32(PROT_READ))
    p.madvise(np.uint64(addr + P), np.int64(P), np.int32(4))
    p.mlock(np.uint64(addr), np.int64(P))
    p.munlock(np.uint64(addr), np.int64(P))
    p.mlock2(np.uint64(addr), np.int64(P), np.int32(0))
    p.brk(np.int64(0))
    assert p.mm.find_vma_bulk(np.array([new], dtype=np.uint64))[0] == new
    p.munmap(np.uint64(new), np.int64(8 * P))
    assert p.maps == ""
    assert p.syscall(NR_brk, 0, 0, 0, 0, 0, 0) == p.mm.brk
    assert p.syscall(np.int64(NR_munmap), np.uint64(0), np.int64(P)) == 0
    assert p.syscall(NR_madvise, 1, P, 4, 0, 0, 0) == -errno.EINVAL
    with pytest.raises(TypeError):
        p.syscall(NR_brk, 0, 0, 0, 0, 0, 0, 0)
    with pytest.raises(ArgumentTypeError):
        p.syscall(NR_brk, 1.5)
    before = snapshot(k, p)
    for bad in (1.5, True, np.float64(4096), None, "4096", np.bool_(True)):
        calls = [lambda: p.mmap(0, bad, RW, ANON), lambda: p.mmap(0, P, RW, bad), lambda: p.munmap(bad, P),
                 lambda: p.mprotect(0, bad, RW), lambda: p.mremap(0, P, bad),
                 lambda: p.brk(bad), lambda: p.madvise(0, P, bad),
                 lambda: p.mlock(bad, P), lambda: p.mlock2(0, P, bad),
                 lambda: p.mlockall(bad), lambda: p.mincore(bad, P),
                 lambda: p.touch(bad), lambda: p.touch_range(0, bad),
                 lambda: p.read(bad, 1), lambda: p.write(bad, b"x")]
        if bad is not None:                    # mmap's addr None is NULL
            calls += [lambda: p.mm.find_vma_bulk([bad]), lambda: p.mmap(bad, P, RW, ANON)]
        for call in calls:
            with pytest.raises(ArgumentTypeError):
                call()
            assert snapshot(k, p) == before
    with pytest.raises(ArgumentTypeError):
        p.mm.find_vma_bulk([1.5])
    k.check()


# -- 4. Hypothesis: both backends, one contract for int-like arguments ------------------------------
from hypothesis import given, settings, strategies as st   # noqa: E402

NP_INTS = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]


def _np_int(draw_value):
    return st.sampled_from(NP_INTS).flatmap(
        lambda t: st.integers(int(np.iinfo(t).min), int(np.iinfo(t).max)).map(t))


INTLIKE = st.one_of(
    st.integers(0, 8) .map(lambda n: n * P),
    st.sampled_from([0, 1, 3, 7, P - 1, P, 2**47, 2**63 - 1, 2**64 - 1, 2**64, -1, -P, 2**100]),
    st.integers(-2**70, 2**70),
    _np_int(None),
    st.booleans(), st.floats(allow_nan=True), st.sampled_from([np.float64(P), np.bool_(False)]),
)
SMALL = st.one_of(st.integers(0, 40), st.sampled_from([MAP_PRIVATE | MAP_ANONYMOUS,
                                                       0x22 | 0x10, 0x21, 0x100022]), INTLIKE)
CALLS = {
    "mmap": (lambda p, a: p.mmap(*a), [INTLIKE, INTLIKE, SMALL, SMALL]),
    "mmap_off": (lambda p, a: p.mmap(0, P, RW, ANON, None, a[0]), [INTLIKE]),
    "munmap": (lambda p, a: p.munmap(*a), [INTLIKE, INTLIKE]),
    "mprotect": (lambda p, a: p.mprotect(*a), [INTLIKE, INTLIKE, SMALL]),
    "mremap": (lambda p, a: p.mremap(*a), [INTLIKE, INTLIKE, INTLIKE, SMALL]),
    "brk": (lambda p, a: p.brk(*a), [INTLIKE]),
    "madvise": (lambda p, a: p.madvise(*a), [INTLIKE, INTLIKE, SMALL]),
    "mlock": (lambda p, a: p.mlock(*a), [INTLIKE, INTLIKE]),
    "mlock2": (lambda p, a: p.mlock2(*a), [INTLIKE, INTLIKE, SMALL]),
    "munlock": (lambda p, a: p.munlock(*a), [INTLIKE, INTLIKE]),
    "mincore": (lambda p, a: p.mincore(*a), [INTLIKE, INTLIKE]),
    "touch": (lambda p, a: p.touch(*a), [INTLIKE]),
    "touch_range": (lambda p, a: p.touch_range(a[0], a[1] % (64 * P) if isinstance(a[1], int)
                                                 and not isinstance(a[1], bool) else a[1]),
                    [INTLIKE, INTLIKE]),
    "read": (lambda p, a: p.read(a[0], 8), [INTLIKE]),
    "write": (lambda p, a: p.write(a[0], b"12345678"), [INTLIKE]),
    "find_vma_bulk": (lambda p, a: p.mm.find_vma_bulk([a[0]]).tolist(), [INTLIKE]),
    "syscall": (lambda p, a: p.syscall(*a), [st.sampled_from([9, 10, 11, 12, 25, 28, 149, 150,
                                                              151, 325, 999]),
                                              INTLIKE, INTLIKE, SMALL, SMALL, SMALL, INTLIKE]),
}


def _machine(backend_name):
    k = L.Kernel("64M", backend=backend_name)
    p = k.spawn("a")
    base = p.mmap(0, 16 * P, RW, ANON)
    p.touch_range(base, 4 * P, write=True)
    p.mmap(base + 32 * P, 4 * P, PROT_READ, ANON | 0x10)
    return k, p


def _outcome(k, p, call, args):
    try:
        result = call(p, args)
    except BaseException as err:       # noqa: BLE001 - any refusal is compared
        return ("raise", type(err).__name__, getattr(err, "errno", None))
    return ("ok", result)


@settings(deadline=None)
@given(data=st.data())
def test_int_like_arguments_same_on_both_backends_and_refusals_change_nothing(data):
    name = data.draw(st.sampled_from(sorted(CALLS)), label="call")
    call, strategies = CALLS[name]
    args = [data.draw(s, label=f"arg{i}") for i, s in enumerate(strategies)]
    outcomes = []
    for backend_name in ("c", "reference"):
        k, p = _machine(backend_name)
        before = (k.read(f"/proc/{p.pid}/maps"), k.read(f"/proc/{p.pid}/status"),
                  k.vm_committed_as)
        out = _outcome(k, p, call, args)
        k.check()
        if out[0] == "raise" and out[1] not in ("SegmentationFault", "BusError", "Killed"):
            after = (k.read(f"/proc/{p.pid}/maps"), k.read(f"/proc/{p.pid}/status"),
                     k.vm_committed_as)
            assert after == before, (name, args, out)
        if any(isinstance(a, (bool, np.bool_, float, np.floating)) for a in args) \
                and name not in ("syscall",) or (name == "syscall" and any(
                    isinstance(a, (bool, np.bool_, float, np.floating)) for a in args[1:])):
            assert out[1] == "ArgumentTypeError", (name, args, out)
        outcomes.append(out)
    assert outcomes[0] == outcomes[1], (name, args)
