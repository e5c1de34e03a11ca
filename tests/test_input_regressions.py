"""Regressions found by fuzzing untrusted input (tests/test_fuzz_inputs.py): each gives the
documented exception, not an internal one."""
import errno
import struct

import numpy as np
import pytest

import linuxmm
from linuxmm import boot
from linuxmm.replay import TraceError
from linuxmm.replay import access
from test_fuzz_inputs import SEED_ELF


def _true():
    if SEED_ELF is None:
        pytest.skip("no x86_64 /bin/true")
    return SEED_ELF


def test_execve_padzero_beyond_eof_is_efault(tmp_path):
    """A writable PT_LOAD whose p_filesz runs past the file's end: padzero()'s clear_user()
    faults (SIGBUS beyond EOF) and elf_load() returns -EFAULT; it was an uncaught BusError."""
    data = bytearray(_true())
    phoff, phnum = struct.unpack_from("<Q", data, 32)[0], struct.unpack_from("<H", data, 56)[0]
    for i in range(phnum):
        off = phoff + 56 * i
        p_type, p_flags = struct.unpack_from("<II", data, off)
        if p_type == 1 and p_flags & 2:                      # PT_LOAD, PF_W
            p_offset, p_vaddr = struct.unpack_from("<QQ", data, off + 8)
            filesz = len(data) - p_offset + 0x1000 + 0x100   # the last page lies beyond EOF
            struct.pack_into("<QQ", data, off + 32, filesz, filesz + 0x200)
            break
    else:
        pytest.skip("no writable PT_LOAD")
    path = tmp_path / "prog"
    path.write_bytes(bytes(data))
    path.chmod(0o755)
    k = linuxmm.Kernel("256M")
    p = k.spawn("sh")
    with pytest.raises(OSError) as err:
        p.execve(str(path), [str(path)], [])
    assert err.value.errno == errno.EFAULT
    k.check()


@pytest.mark.parametrize("entry", [(0, False, "usable"), (0, None, "usable"), (1.5, 4096, "usable"),
                                   (b"0", 4096, "usable")])
def test_e820_entry_of_wrong_type_is_argument_type_error(entry):
    """A bool/None/float/bytes address in an e820 table: ArgumentTypeError (a ValueError, as
    parse_e820 documents), not a bare TypeError from parse_size."""
    with pytest.raises(linuxmm.ArgumentTypeError):
        boot.parse_e820([entry])
    with pytest.raises(ValueError):
        linuxmm.Kernel(e820=[entry])


@pytest.mark.parametrize("raw", [b"", b"PK\x03\x04xx", b"\x93NUMPY", b"\x93NUMPY\x01\x00garbage"])
def test_damaged_npz_trace_is_trace_error(tmp_path, raw):
    """An empty or damaged .npy/.npz: TraceError (it was EOFError, BadZipFile...)."""
    path = tmp_path / "t.npz"
    path.write_bytes(raw)
    with pytest.raises(TraceError):
        access.read_npz(str(path))


def test_npz_with_damaged_member_is_trace_error(tmp_path):
    path = tmp_path / "t.npz"
    np.savez_compressed(path, addrs=np.arange(1000, dtype=np.int64))
    raw = bytearray(path.read_bytes())
    raw[60:90] = b"\xff" * 30                         # inside the compressed member
    path.write_bytes(bytes(raw))
    with pytest.raises(TraceError):
        access.read_npz(str(path))


@pytest.mark.parametrize("action", [{"process": "a", "do": "mmap", "region": ["x"], "size": 4096},
                                    {"process": "a", "do": ["mmap"], "region": "x"},
                                    {"process": "a", "do": {"k": 1}}])
def test_scenario_unhashable_values_are_scenario_error(action):
    """A list or table where a string belongs (region, do): ScenarioError, not TypeError."""
    from linuxmm import scenario
    with pytest.raises(scenario.ScenarioError):
        scenario.Scenario({"process": [{"name": "a"}], "action": [action]})


# -- found by the whole-API fuzzer (tests/test_api_fuzz.py) -------------------------------------
def test_snapshot_path_must_be_a_path_not_a_file_descriptor(backend_name, tmp_path):
    """k.save(5) took 5 as a file descriptor (open(5, "wb")): it wrote the snapshot into
    whatever fd 5 was and closed it.  A path is str, bytes or os.PathLike."""
    k = linuxmm.Kernel("64M", backend=backend_name)
    for bad in (5, None, 1.5, True):
        with pytest.raises(linuxmm.ArgumentTypeError):
            k.save(bad)
        with pytest.raises(linuxmm.ArgumentTypeError):
            linuxmm.Kernel.load(bad)
    k.save(tmp_path / "k.snap")
    assert linuxmm.Kernel.load(str(tmp_path / "k.snap")).read("/proc/meminfo") == \
        k.read("/proc/meminfo")


def test_time_beyond_the_clock_horizon_is_refused_not_a_hang(backend_name):
    """k.advance(2**63) never returned: past 2**62 ns (NEVER, an unarmed timer's time) every
    timer was due again and again.  sleep(1e300) and sleep(inf) raised OverflowError,
    sleep(None) a bare TypeError."""
    k = linuxmm.Kernel("64M", backend=backend_name)
    k.advance(10**9)
    for ns in (2**62, 2**63, 2**64):
        with pytest.raises(ValueError):
            k.advance(ns)
    for seconds in (1e300, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            k.sleep(seconds)
    for bad in (None, "1", np.bool_(True)):
        with pytest.raises(linuxmm.ArgumentTypeError):
            k.sleep(bad)
    assert k.now == 10**9
    k.advance(2**62 - 1 - k.now)                # the last representable instant
    k.check()


@pytest.mark.parametrize("call", [
    lambda k, p, f: k.spawn(None), lambda k, p, f: k.spawn(5),
    lambda k, p, f: f.read("x", 1), lambda k, p, f: f.read(None, 1), lambda k, p, f: f.read(0, 1.5),
    lambda k, p, f: f.write(1.5, b"x"), lambda k, p, f: f.write(0, None),
    lambda k, p, f: f.write(0, 1.5), lambda k, p, f: f.write(0, "x"),
    lambda k, p, f: f.write(0, [1]), lambda k, p, f: p.write(p.mm.mmap_base - 4096, "x"),
    lambda k, p, f: p.write(0, None), lambda k, p, f: p.write(0, 2**40),
    lambda k, p, f: k.open("/etc/hostname", "x"), lambda k, p, f: p.mmap(0, 4096, 3, 2, "x"),
    lambda k, p, f: p.close([1]), lambda k, p, f: p.install_fd(5),
    lambda k, p, f: p.syscall(12, 0, 0, 0, 0, 0, 0, 0),
    lambda k, p, f: k.swapon("1M", None, 5), lambda k, p, f: k.drop_caches(1, 5),
    lambda k, p, f: k.kmem_cache_create("c", 64, ctor=5), lambda k, p, f: k.kmem_cache_destroy(None),
    lambda k, p, f: k.kmem_cache_shrink(None), lambda k, p, f: k.slabtop("objs", "x"),
    lambda k, p, f: k.printk("x", "bad"), lambda k, p, f: k.dmesg("bad"),
    lambda k, p, f: k.slab.cache("kmalloc-64").free_bulk([()]),
])
def test_wrong_types_are_argument_type_errors_not_internal_ones(backend_name, call):
    """Each raised a bare TypeError (or AttributeError) from deep inside: 'NoneType' object is
    not subscriptable, '<' not supported, unhashable type, 'int' object has no attribute
    'startswith' / 'comm' / 'destroy'...  (free_bulk([()]) was taken as an empty batch.)"""
    k = linuxmm.Kernel("64M", backend=backend_name)
    p = k.spawn("a")
    f = k.create_file("/data/f", 4096)
    before = k.read("/proc/meminfo"), k.read("/proc/swaps"), len(k.processes), p.fds
    with pytest.raises(linuxmm.ArgumentTypeError):
        call(k, p, f)
    assert (k.read("/proc/meminfo"), k.read("/proc/swaps"), len(k.processes), p.fds) == before
    k.check()


def test_file_write_count_is_bounded_as_pwrite(backend_name):
    """f.write(0, 10**12) built 10**12 zero bytes on the host (MemoryError): a count is cut
    to MAX_RW_COUNT as rw_verify_area does, and a negative one is EINVAL."""
    from linuxmm.vm.files import MAX_RW_COUNT
    k = linuxmm.Kernel("64M", backend=backend_name)
    f = k.create_file("/data/f", 0)
    with pytest.raises(OSError) as err:
        f.write(0, -1)
    assert err.value.errno == errno.EINVAL and f.size == 0
    assert MAX_RW_COUNT == 0x7ffff000
    assert f.write(0, 5) == 5 and f.read(0, 10) == bytes(5)
    k.check()


def test_swapon_refusals_change_nothing(backend_name, monkeypatch):
    """A swapon too big for the host's memory raised numpy's MemoryError after lowering the
    next default priority (the next area got -3, not -2).  Now it is MemoryError before
    anything changes."""
    k = linuxmm.Kernel("64M", backend=backend_name)
    swaps = k.read("/proc/swaps")
    for size in (2**50, 2**64):
        with pytest.raises(MemoryError, match="MemAvailable"):
            k.swapon(size)
    assert k.read("/proc/swaps") == swaps
    k.swapon("1M")
    assert k.read("/proc/swaps").split()[-1] == "-2"       # the first default priority
    k.check()


def test_zone_by_unknown_name_is_value_error(backend_name):
    """k.zone("foo") raised KeyError."""
    k = linuxmm.Kernel("64M", backend=backend_name)
    for bad in ("foo", 5, None):
        with pytest.raises(ValueError):
            k.zone(bad)
    assert k.zone("DMA").name == "DMA"


@pytest.mark.parametrize("pfn,order,reason", [(2**63, 0, "range"), (2**64, 0, "range"),
                                              (np.uint64(2**63), 0, "range"),
                                              (5, 2**64, "order"), (-(2**63) - 1, 0, "range")])
def test_free_pages_beyond_int64_is_invalid_free(backend, pfn, order, reason):
    """k.free_pages(2**64) raised OverflowError ('pfn does not fit in 64 bits') on both
    backends; BuddyAllocator.free refuses the same pfn with InvalidFree."""
    k = backend.Kernel("64M")
    pa = k._pa
    free = [z.free_pages for z in k.zones]
    for free_call in (k.free_pages, pa.free_pages):
        with pytest.raises(linuxmm.InvalidFree) as err:
            free_call(pfn, order)
        assert err.value.reason == reason
    assert [z.free_pages for z in k.zones] == free
    assert pa.page_info(2**64)["state"] == "absent"
    with pytest.raises(ValueError):
        pa.pageblock_migratetype(2**64)
    with pytest.raises(ValueError):
        pa.free_boot_range(0, 2**64)
    k.check()


def test_oom_score_adj_of_an_infinite_float_is_einval(backend_name):
    """p.oom_score_adj = float('inf') raised OverflowError."""
    k = linuxmm.Kernel("64M", backend=backend_name)
    p = k.spawn("a")
    for name in ("oom_score_adj", "oom_adj"):
        with pytest.raises(OSError) as err:
            setattr(p, name, float("inf"))
        assert err.value.errno == errno.EINVAL
    assert p.oom_score_adj == 0


@pytest.mark.parametrize("make", [
    lambda m: m.PageAllocator(None), lambda m: m.PageAllocator(5),
    lambda m: m.SlabAllocator(None), lambda m: m.SlabAllocator("buddy"),
    lambda m: m.Kernel("64M", reserved=5), lambda m: m.Kernel(e820=1.5),
    lambda m: m.Kernel("64M", reserved=True),
])
def test_constructors_refuse_wrong_types_with_argument_type_error(backend, make):
    """Kernel(reserved=5), Kernel(e820=1.5): "'int' object is not iterable"; PageAllocator(None)
    and SlabAllocator(None): a bare TypeError."""
    with pytest.raises(linuxmm.ArgumentTypeError):
        make(backend)


def test_reference_buddy_too_big_for_the_host_is_refused_before_building_it():
    """linuxmm.reference.BuddyAllocator(2**31, max_order=0) built 2**31 free blocks in Python
    dicts until the host ran out of memory: the boot's blocks are checked against
    MemAvailable first, as a Kernel's page metadata is."""
    import time
    from linuxmm import reference
    t = time.perf_counter()
    with pytest.raises(MemoryError, match="MemAvailable"):
        reference.BuddyAllocator(2**32 - 2, max_order=0)
    assert time.perf_counter() - t < 1
    assert reference.BuddyAllocator(1 << 12, max_order=0).free_pages == 1 << 12


def test_zone_indices_register_proc_and_devices_refuse_wrong_types(backend_name):
    """zone.unusable_index('x') ('>=' not supported), register_proc('/proc/x', 5) (then
    read: 'int' object is not callable), create_device(path, None) (a bare TypeError)."""
    k = linuxmm.Kernel("64M", backend=backend_name)
    z = k.zone("DMA32")
    for bad in ("x", 1.5, None, True):
        with pytest.raises(linuxmm.ArgumentTypeError):
            z.unusable_index(bad)
        with pytest.raises(linuxmm.ArgumentTypeError):
            z.fragmentation_index(bad)
        with pytest.raises(linuxmm.ArgumentTypeError):
            k.register_proc("/proc/x", bad)
        with pytest.raises(linuxmm.ArgumentTypeError):
            k.create_device("/dev/x", bad)
    for order in (-1, 11, 2**64):
        with pytest.raises(ValueError):
            z.fragmentation_index(order)
    with pytest.raises(FileNotFoundError):
        k.read("/proc/x")
    assert z.unusable_index(np.int64(0)) == 0
    k.check()


def test_fork_without_memory_for_the_childs_pgd_leaves_no_child(backend_name):
    """fork() registered the child before allocating its PGD: OutOfMemory left a process
    with no address space in the table (len(k.processes) grew) and every k.check() after it
    raised AttributeError ('NoneType' object has no attribute 'pgd')."""
    k = linuxmm.Kernel("64M", backend=backend_name)
    p = k.spawn("a")
    addr = p.mmap(0, 64 * 4096, 3, 0x22)
    p.touch_range(addr, 64 * 4096, write=True)
    held = []
    while True:     # pages taken through the slow path (no swap: nothing reclaim could give
        try:        # back), so that the PGD's own slow path fails too
            held.append(k.alloc_user_page(linuxmm.GFP_KERNEL, noretry=True))
        except linuxmm.OutOfMemory:
            break
    pids = set(k.processes)
    with pytest.raises(linuxmm.OutOfMemory):
        p.fork()
    assert set(k.processes) == pids
    k.check()
    k.free_pages_bulk(held)
    child = p.fork()
    assert child.read(addr, 1) == b"\0" and set(k.processes) == pids | {child.pid}
    k.check()


def test_kfree_of_a_live_caches_descriptor_is_refused(backend_name):
    """k.kfree() of a cache's own kmem_cache object (a stale pointer whose slab page the boot
    cache reused) was accepted; kmem_cache_destroy() of that cache then raised InvalidFree
    ('Object already free') after the cache was gone, a refusal that changed the state."""
    k = linuxmm.Kernel("64M", backend=backend_name)
    c = k.kmem_cache_create("victim", 1651)
    slabinfo = k.read("/proc/slabinfo")
    for _, addr in c._meta:
        for call in (k.kfree, lambda a: k.krealloc(a, 8)):
            with pytest.raises(linuxmm.InvalidFree) as err:
                call(addr)
            assert err.value.reason == "metadata"
            assert k.read("/proc/slabinfo") == slabinfo
    k.kmem_cache_destroy(c)
    assert not c.alive
    k.kfree(k.kmalloc(256))
    k.check()


def test_rlimit_memlock_is_checked_when_set(backend_name):
    """p.rlimit_memlock = 'x' was accepted and the next mlock raised a bare TypeError (found by
    the API fuzzer); the assignment is now refused, the limit unchanged."""
    k = linuxmm.Kernel("64M", backend=backend_name)
    p = k.spawn("a")
    for bad, exc in (("x", linuxmm.ArgumentTypeError), (None, linuxmm.ArgumentTypeError),
                     (1.5, linuxmm.ArgumentTypeError), (-1, ValueError), (2**64, ValueError)):
        with pytest.raises(exc):
            p.rlimit_memlock = bad
        assert p.rlimit_memlock == 8 << 20
    p.rlimit_memlock = np.int64(4096)
    assert p.rlimit_memlock == 4096 and type(p.rlimit_memlock) is int
    p.capable_ipc_lock = False              # the limit applies
    addr = p.mmap(0, 8192, 3, 0x22)
    with pytest.raises(OSError) as err:
        p.mlock(addr, 8192)                 # two pages over a one-page limit
    assert err.value.errno == errno.ENOMEM
    p.mlock(addr, 4096)
