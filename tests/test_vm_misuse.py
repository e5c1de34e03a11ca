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
