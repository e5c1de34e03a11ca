"""Dirty page-cache writeback (the flusher's kupdate and background work, throttling, sync,
fsync, reclaim's writeback_folio), the vm.dirty_* sysctls and drop_caches."""
import errno
import os

import pytest

import linuxmm as L
from linuxmm.vm.writeback import writeback_folio
from procfields import meminfo

BACKENDS = ["c", "reference"]
P = 4096
SEC = 1_000_000_000



def vmstat(k, name):
    return k.vm_counters()[name]


def pattern(n):
    return bytes((i * 7 + 1) & 255 for i in range(n))


@pytest.mark.parametrize("backend", BACKENDS)
def test_kupdate_writes_expired_inodes(backend):
    k = L.Kernel("512M", backend=backend)
    f = k.create_file("/data/a", 0)
    data = pattern(100 * P)
    f.write(0, data)
    assert meminfo(k, "Dirty") == 400 and meminfo(k, "Writeback") == 0
    assert f.f_inode.dirtied_when == 0
    k.sleep(29.999)                       # wake-ups at 5..25 s: nothing has expired
    assert meminfo(k, "Dirty") == 400
    k.sleep(0.001)                        # 30 s: expired; the disk writes 32 pages per 131 us
    k.advance(100 * k.costs["page_write"])
    assert meminfo(k, "Dirty") == 0
    assert f.f_inode.read_backing(0, len(data)) == data
    assert f.f_inode.dirtied_when is None
    assert vmstat(k, "nr_dirtied") == 100 and vmstat(k, "nr_written") == 100
    assert vmstat(k, "pgpgout") == 400
    # the pages stay cached, clean
    assert len(f.f_inode.i_mapping) == 100
    k.check()


@pytest.mark.parametrize("backend", BACKENDS)
def test_inodes_expire_separately(backend):
    k = L.Kernel("512M", backend=backend)
    a = k.create_file("/data/a", 0)
    b = k.create_file("/data/b", 0)
    a.write(0, bytes(8 * P))
    k.sleep(12)
    b.write(0, bytes(8 * P))
    k.sleep(18.01)                        # 30.01 s: a expired at the 30 s wake-up, b not
    assert meminfo(k, "Dirty") == 32
    k.sleep(15)                           # b (dirtied at 12 s) goes at the 45 s wake-up
    assert meminfo(k, "Dirty") == 0
    k.check()


@pytest.mark.parametrize("backend", BACKENDS)
def test_background_writeback_and_throttling(backend):
    k = L.Kernel("512M", backend=backend)
    k.dirty_background_bytes = 64 * P
    k.dirty_bytes = 128 * P
    assert (k.dirty_ratio, k.dirty_background_ratio) == (0, 0)
    v = k.vm_counters()
    assert (v["nr_dirty_threshold"], v["nr_dirty_background_threshold"]) == (128, 64)
    f = k.create_file("/data/big", 0)
    data = pattern(512 * P)
    for i in range(512):                  # a page at a time, as a writer's loop
        f.write(i * P, data[i * P:(i + 1) * P])
        assert meminfo(k, "Dirty") <= 128 * 4
    # the writer was throttled: its clock moved by the flusher's I/O it waited for
    assert k.now >= (512 - 128) * k.costs["page_write"]
    k.advance(10 * SEC)                   # background writeback brings it down to 64 pages
    assert meminfo(k, "Dirty") <= 64 * 4
    assert k.sync() * 4 == meminfo(k, "Dirty") or meminfo(k, "Dirty") == 0
    assert meminfo(k, "Dirty") == 0
    assert f.f_inode.read_backing(0, len(data)) == data
    k.check()


@pytest.mark.parametrize("backend", BACKENDS)
def test_sysctls(backend):
    k = L.Kernel("512M", backend=backend)
    assert (k.dirty_ratio, k.dirty_background_ratio, k.dirty_bytes, k.dirty_background_bytes,
            k.dirty_expire_centisecs, k.dirty_writeback_centisecs) == (20, 10, 0, 0, 3000, 500)
    for name, bad in (("dirty_ratio", 101), ("dirty_ratio", -1), ("dirty_bytes", 4096),
                      ("dirty_background_bytes", 0), ("dirty_expire_centisecs", -1)):
        with pytest.raises(OSError) as e:
            setattr(k, name, bad)
        assert e.value.errno == errno.EINVAL
    v = k.vm_counters()
    t20, b10 = v["nr_dirty_threshold"], v["nr_dirty_background_threshold"]
    k.dirty_ratio = 40
    k.dirty_background_ratio = 5
    v = k.vm_counters()
    assert abs(v["nr_dirty_threshold"] - 2 * t20) <= 2
    assert abs(v["nr_dirty_background_threshold"] - b10 // 2) <= b10 // 200 + 1
    k.dirty_bytes = 10 * P + 1
    assert k.dirty_ratio == 0 and k.vm_counters()["nr_dirty_threshold"] == 11
    k.dirty_ratio = 20
    assert k.dirty_bytes == 0
    # no periodic flush: dirty pages stay
    k.dirty_writeback_centisecs = 0
    f = k.create_file("/data/a", 0)
    f.write(0, bytes(P))
    k.sleep(100)
    assert meminfo(k, "Dirty") == 4
    k.dirty_writeback_centisecs = 500
    k.sleep(5.001)
    assert meminfo(k, "Dirty") == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_shared_mapping_writeback_write_protects(backend):
    k = L.Kernel("512M", backend=backend)
    p = k.spawn("w")
    f = k.create_file("/data/m", 16 * P)
    m = p.mmap(0, 16 * P, L.PROT_READ | L.PROT_WRITE, L.MAP_SHARED, f, 0)
    p.write(m, b"hello")
    assert meminfo(k, "Dirty") == 4
    assert k.sync() == 1 and meminfo(k, "Dirty") == 0
    assert f.f_inode.read_backing(0, 5) == b"hello"
    assert not p.translate(m)[1] & L.PTE_RW          # folio_mkclean: the next write faults
    flt = p.min_flt
    p.write(m, b"HELLO")
    assert p.min_flt == flt + 1 and meminfo(k, "Dirty") == 4
    # reclaim's pageout
    pfn = p.translate(m)[0]
    assert writeback_folio(k, pfn) == 1 and writeback_folio(k, pfn) == 0
    assert f.f_inode.read_backing(0, 5) == b"HELLO" and meminfo(k, "Dirty") == 0
    k.check()


@pytest.mark.parametrize("backend", BACKENDS)
def test_fsync_waits(backend):
    k = L.Kernel("512M", backend=backend)
    f = k.create_file("/data/a", 0)
    f.write(0, bytes(10 * P))
    t = k.now
    f.fsync()
    assert k.now - t == 10 * k.costs["page_write"] and meminfo(k, "Dirty") == 0
    k.sleep(60)
    assert vmstat(k, "nr_written") == 10
    k.check()


@pytest.mark.parametrize("backend", BACKENDS)
def test_drop_caches_keeps_mapped_and_dirty_pages(backend):
    k = L.Kernel("512M", backend=backend)
    p = k.spawn("dd")
    f = k.create_file("/data/c", 64 * P)
    assert len(f.read(0, 64 * P)) == 64 * P             # 64 clean cached pages
    m = p.mmap(0, 64 * P, L.PROT_READ, L.MAP_SHARED, f, 0)
    p.touch(m + 10 * P)                                  # fault-around maps pages 0..15
    f.write(40 * P, b"x")                                # page 40 dirty
    shm = k.create_file("/dev/shm/s", 0)
    shm.write(0, bytes(3 * P))
    assert p.mincore(m, 64 * P).count(1) == 64
    mapped = sum(p.translate(m + i * P) is not None for i in range(64))
    cached_before = meminfo(k, "Cached")
    dropped = k.drop_caches(1, process=p)
    assert dropped == 64 - mapped - 1
    res = p.mincore(m, 64 * P)
    assert [i for i in range(64) if res[i]] == \
        [i for i in range(64) if p.translate(m + i * P) is not None] + [40]
    assert meminfo(k, "Cached") == cached_before - 4 * dropped
    assert shm.read(0, 3 * P) == bytes(3 * P) and len(shm.f_inode.i_mapping) == 3
    assert vmstat(k, "drop_pagecache") == 1 and vmstat(k, "drop_slab") == 0
    assert k._drop_caches_log == [f"dd ({p.pid}): drop_caches: 1"]
    assert f.read(40 * P, 1) == b"x"
    k.drop_caches(3)
    assert vmstat(k, "drop_pagecache") == 2 and vmstat(k, "drop_slab") == 1
    k.drop_caches(4)                                      # logged, then silent
    k.drop_caches(2)
    assert k._drop_caches_log[1:] == ["sh (0): drop_caches: 3", "sh (0): drop_caches: 4"]
    for bad in (0, 5, -1, "x"):
        with pytest.raises(OSError) as e:
            k.drop_caches(bad)
        assert e.value.errno == errno.EINVAL
    k.check()


@pytest.mark.parametrize("backend", BACKENDS)
def test_drop_slab_shrinks_caches(backend):
    k = L.Kernel("512M", backend=backend)
    cache = k.kmem_cache_create("obj", 512)
    objs = [cache.alloc() for _ in range(200)]
    for o in objs:
        cache.free(o)
    calls = []
    k.shrinkers = [lambda: calls.append(1) or 0]
    before = k.vm_counters()["nr_slab_unreclaimable"]
    k.drop_caches(2)
    assert calls == [1]
    assert k.vm_counters()["nr_slab_unreclaimable"] <= before
    k.check()


def test_host_dirty_sysctl_defaults():
    base = "/proc/sys/vm/"
    try:
        host = {n: int(open(base + n).read()) for n in
                ("dirty_expire_centisecs", "dirty_writeback_centisecs")}
    except OSError:
        pytest.skip("no /proc/sys/vm on this host")
    k = L.Kernel("256M")
    defaults = {"dirty_expire_centisecs": 3000, "dirty_writeback_centisecs": 500}
    for name, value in host.items():
        if value != defaults[name]:
            pytest.skip(f"host {name} changed from its default")
        assert getattr(k, name) == value
    assert os.path.exists(base + "drop_caches")
