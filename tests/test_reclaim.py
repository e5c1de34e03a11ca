"""Reclaim and swap on both backends (mm/vmscan.c, mm/swapfile.c, mm/swap_state.c,
mm/workingset.c): anonymous memory larger than RAM goes to swap and comes back byte for byte,
a file larger than RAM thrashes the page cache with refaults counted, swap areas come and go,
mlocked memory stays, and the C and reference backends agree on every counter."""
import errno

import pytest

import linuxmm as L
from procfields import field, status

P = 4096
RW = L.PROT_READ | L.PROT_WRITE
ANON = L.MAP_PRIVATE | L.MAP_ANONYMOUS
EVENTS = ("pswpin", "pswpout", "pgscan_kswapd", "pgsteal_kswapd", "pgscan_direct",
          "pgsteal_direct", "pgscan_anon", "pgscan_file", "pgsteal_anon", "pgsteal_file",
          "pgmajfault", "pgfault", "pageoutrun", "workingset_refault_anon",
          "workingset_refault_file", "workingset_activate_file", "pgdeactivate", "pgrefill",
          "pgactivate", "swap_ra", "swap_ra_hit", "oom_kill")


def vmstat(k):
    return {line.split()[0]: int(line.split()[1]) for line in k.read("/proc/vmstat").splitlines()}



def ram_pages(k):
    return sum(z.managed_pages for z in k.zones)


def pressured(backend_name, name, num, den, swap="0", init=False):
    """A 64 MiB machine (swap as given), an init process when asked, and process `name` with
    an anonymous mapping of num/den of RAM: (kernel, process, address, pages)."""
    k = L.Kernel("64M", swap=swap, backend=backend_name)
    if init:
        k.spawn("init")
    p = k.spawn(name)
    n = ram_pages(k) * num // den
    return k, p, p.mmap(0, n * P, RW, ANON), n


def stamp(i):
    return b"page%08d" % i


def fill(p, addr, n, stride=1):
    """Every page faulted in for write; every stride-th one carries its own stamp."""
    p.touch_range(addr, n * P, write=True)
    for i in range(0, n, stride):
        p.write(addr + i * P + 100, stamp(i))


def verify(p, addr, n, stride=1):
    bad = [i for i in range(0, n, stride) if p.read(addr + i * P + 100, 12) != stamp(i)]
    assert not bad, f"{len(bad)} pages lost, first {bad[:5]}"


def test_anonymous_memory_larger_than_ram_swaps_out_and_back(backend_name):
    k, p, a, n = pressured(backend_name, "big", 3, 2, swap="128M", init=True)
    fill(p, a, n, stride=7)
    k.check()
    v = vmstat(k)
    status = k.read(f"/proc/{p.pid}/status")
    swapped = field(status, "VmSwap") // 4
    resident = field(status, "RssAnon") // 4
    assert v["pswpout"] > 0 and swapped > 0
    assert resident + swapped == n                 # every page is resident or in swap
    mem = k.read("/proc/meminfo")
    used = field(mem, "SwapTotal") - field(mem, "SwapFree")
    assert used == swapped * 4 + field(mem, "SwapCached")
    lines = k.read("/proc/swaps").splitlines()
    assert lines[1].split()[3] == str(used)
    assert v["pgsteal_kswapd"] + v["pgsteal_direct"] == v["pgsteal_anon"] + v["pgsteal_file"]
    assert v["pgsteal_anon"] == v["pswpout"]      # every anon page stolen was written out
    verify(p, a, n, stride=7)                      # swapped bytes come back intact
    k.check()
    v2 = vmstat(k)
    assert v2["pswpin"] > 0 and p.maj_flt > 0
    assert v2["pgmajfault"] - v["pgmajfault"] <= v2["pswpin"]  # readahead reads more than it faults
    p.exit()
    k.check()
    mem = k.read("/proc/meminfo")
    assert field(mem, "SwapFree") == field(mem, "SwapTotal")   # exit frees every slot
    assert field(mem, "SwapCached") == 0


def test_backends_agree_step_by_step():
    results = []
    for backend_name in ("c", "reference"):
        k = L.Kernel("64M", swap="64M", backend=backend_name)
        k.spawn("init")
        p = k.spawn("big")
        n = ram_pages(k) * 5 // 4
        a = p.mmap(0, n * P, RW, ANON)
        trace = []
        fill(p, a, n, stride=11)
        trace.append({e: vmstat(k)[e] for e in EVENTS})
        q = p.fork()
        q.write(a + 11 * P + 100, b"child")
        verify(p, a, n, stride=11)
        trace.append({e: vmstat(k)[e] for e in EVENTS})
        trace.append((p.translate(a), p.mincore(a, 64 * P), k.read("/proc/meminfo"),
                      k.read("/proc/swaps"), k.read(f"/proc/{p.pid}/smaps_rollup")))
        k.check()
        results.append(trace)
    assert results[0] == results[1]


def test_fork_shares_swapped_pages_and_cow_keeps_them_apart(backend_name):
    k, p, a, n = pressured(backend_name, "parent", 5, 4, swap="128M", init=True)
    fill(p, a, n, stride=5)
    c = p.fork()
    swap = field(k.read(f"/proc/{c.pid}/status"), "VmSwap")
    assert swap == field(k.read(f"/proc/{p.pid}/status"), "VmSwap") > 0
    rollup = k.read(f"/proc/{c.pid}/smaps_rollup")
    assert field(rollup, "Swap") == swap
    assert field(rollup, "SwapPss") == swap // 2     # each slot shared by two PTEs
    for i in range(0, n, 50):
        c.write(a + i * P + 100, b"child-%06d" % i)
    k.check()
    verify(p, a, n, stride=5)                       # the parent never sees the child's writes
    for i in range(0, n, 50):
        assert c.read(a + i * P + 100, 12) == b"child-%06d" % i
    c.exit()
    p.exit()
    k.check()
    mem = k.read("/proc/meminfo")
    assert field(mem, "SwapFree") == field(mem, "SwapTotal")


def test_file_larger_than_ram_read_twice_thrashes_the_page_cache(backend_name):
    k = L.Kernel("64M", backend=backend_name)
    k.spawn("init")
    p = k.spawn("reader")
    n = ram_pages(k) * 3 // 2
    f = k.create_file("/data/big", n * P)
    for i in range(0, n, 64):
        f.write(i * P, stamp(i))
    f.fsync()
    f.fadvise(0, 0, L.POSIX_FADV_DONTNEED)
    m = p.mmap(0, n * P, L.PROT_READ, L.MAP_SHARED, f)
    p.touch_range(m, n * P)
    first = p.maj_flt
    v1 = vmstat(k)
    assert v1["pgsteal_file"] > 0                  # the file never fit
    assert v1["workingset_refault_file"] < n // 50  # (readahead pages evicted before use)
    k.check()
    p.touch_range(m, n * P)                         # the first pages were evicted: refaults
    v2 = vmstat(k)
    assert p.maj_flt > first
    assert v2["workingset_refault_file"] - v1["workingset_refault_file"] > n // 4
    assert v2["pgsteal_file"] > v1["pgsteal_file"]
    for i in range(0, n, 64):
        assert p.read(m + i * P, 12) == stamp(i)
    mem = k.read("/proc/meminfo")
    assert field(mem, "Cached") < n * 4            # the file never fit
    k.check()


def test_dirty_file_pages_are_written_back_before_reclaim(backend_name):
    k = L.Kernel("64M", backend=backend_name)
    k.spawn("init")
    p = k.spawn("writer")
    n = ram_pages(k) * 5 // 4
    f = k.create_file("/data/out", n * P)
    m = p.mmap(0, n * P, RW, L.MAP_SHARED, f)
    for i in range(n):
        p.write(m + i * P + 100, stamp(i))
    k.check()
    assert vmstat(k)["pgsteal_file"] > 0
    p.munmap(m, n * P)
    for i in range(0, n, 17):                      # nothing lost: in the cache or the file
        assert f.read(i * P + 100, 12) == stamp(i)
    k.check()


def test_swapon_swapoff_and_proc_swaps(backend_name):
    k = L.Kernel("64M", backend=backend_name)
    assert k.read("/proc/swaps") == "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
    first = k.swapon("32M")
    second = k.swapon("64M", path="/swapfile")
    assert (first, second) == ("/dev/vdb1", "/swapfile")
    lines = k.read("/proc/swaps").splitlines()
    # swap_show: the path padded to 40 columns, "partition" or "file\t", sizes in KiB without
    # the header page, priorities from -2 down
    assert lines[1] == "/dev/vdb1" + " " * 31 + "partition\t32764\t\t0\t\t-2"
    assert lines[2] == "/swapfile" + " " * 31 + "file\t\t65532\t\t0\t\t-3"
    assert field(k.read("/proc/meminfo"), "SwapTotal") == 32764 + 65532
    p = k.spawn("big")
    n = ram_pages(k) * 5 // 4
    a = p.mmap(0, n * P, RW, ANON)
    fill(p, a, n, stride=9)
    used = [int(line.split()[3]) for line in k.read("/proc/swaps").splitlines()[1:]]
    assert used[0] > 0 and used[1] == 0            # the higher priority (-2) fills first
    with pytest.raises(OSError) as e:
        k.swapoff("/dev/vdb9")
    assert e.value.errno == errno.EINVAL
    p.munmap(a + (n // 2) * P, (n - n // 2) * P)   # room to swap back in
    k.swapoff(first)                               # try_to_unuse: every page comes back
    verify(p, a, n // 2, stride=9)
    assert k.read("/proc/swaps").splitlines()[1].startswith("/swapfile")
    assert k.read("/proc/swaps").splitlines()[1].endswith("-2")   # moved up a priority
    k.check()


def test_swapoff_without_room_is_enomem_and_changes_nothing(backend_name):
    k, p, a, n = pressured(backend_name, "big", 3, 2, swap="128M")
    fill(p, a, n, stride=13)
    before = (k.read("/proc/swaps"), k.read(f"/proc/{p.pid}/status"))
    with pytest.raises(OSError) as e:
        k.swapoff("/swapfile")
    assert e.value.errno == errno.ENOMEM
    assert (k.read("/proc/swaps"), k.read(f"/proc/{p.pid}/status")) == before
    verify(p, a, n, stride=13)
    k.check()


def test_mlocked_memory_is_never_reclaimed(backend_name):
    k = L.Kernel("64M", swap="128M", backend=backend_name)
    p = k.spawn("locker")
    locked = p.mmap(0, 256 * P, RW, ANON)
    p.mlock(locked, 256 * P)
    q = k.spawn("big")
    n = ram_pages(k) * 5 // 4
    a = q.mmap(0, n * P, RW, ANON)
    fill(q, a, n, stride=31)
    rollup = k.read(f"/proc/{p.pid}/smaps_rollup")
    assert field(rollup, "Rss") == field(rollup, "Locked") == 1024
    assert field(rollup, "Swap") == 0
    assert field(k.read("/proc/meminfo"), "Unevictable") >= 1024
    k.check()


def test_without_swap_anonymous_memory_is_not_scanned(backend_name):
    k = L.Kernel("64M", backend=backend_name)
    p = k.spawn("p")
    f = k.create_file("/data/f", 2048 * P)
    m = p.mmap(0, 2048 * P, L.PROT_READ, L.MAP_PRIVATE, f)
    p.touch_range(m, 2048 * P)
    n = ram_pages(k) - 2048
    a = p.mmap(0, n * P, RW, ANON)
    p.touch_range(a, n * P, write=True)
    v = vmstat(k)
    assert v["pgscan_anon"] == 0 and v["pgscan_file"] > 0 and v["pswpout"] == 0
    k.check()


def test_swappiness_zero_prefers_file_pages(backend_name):
    k = L.Kernel("64M", swap="128M", swappiness=0, backend=backend_name)
    p = k.spawn("p")
    f = k.create_file("/data/f", 4096 * P)
    m = p.mmap(0, 4096 * P, L.PROT_READ, L.MAP_PRIVATE, f)
    p.touch_range(m, 4096 * P)
    n = ram_pages(k) - 4096
    a = p.mmap(0, n * P, RW, ANON)
    p.touch_range(a, n * P, write=True)
    v = vmstat(k)
    assert v["pgsteal_file"] > 0 and v["pswpout"] == 0
    with pytest.raises(ValueError):
        L.Kernel("64M", swappiness=201)


def test_kswapd_reclaims_to_the_high_watermark_and_time_passes(backend_name):
    k, p, a, n = pressured(backend_name, "p", 1, 1, swap="128M")
    t0 = k.now
    p.touch_range(a, n * P, write=True)
    v = vmstat(k)
    assert v["pageoutrun"] > 0 and v["pgsteal_kswapd"] > 0 and v["oom_kill"] == 0
    assert k.now > t0
    k.kswapd()                                     # balanced: a zone is above high again
    high_ok = [z.free_pages > z.watermark.high for z in k.zones if z.managed_pages]
    assert any(high_ok)
    pressure = k.read("/proc/pressure/memory").splitlines()
    assert int(pressure[0].split("total=")[1]) > 0     # kswapd's stalls count as "some"
    k.check()


def test_overcommit_never_refuses_beyond_commit_limit(backend_name):
    k = L.Kernel("64M", swap="64M", backend=backend_name)
    k.overcommit_memory = 2
    p = k.spawn("p")
    limit = field(k.read("/proc/meminfo"), "CommitLimit") * 1024
    with pytest.raises(OSError) as e:
        p.mmap(0, limit, RW, ANON)
    assert e.value.errno == errno.ENOMEM
    a = p.mmap(0, limit // 4, RW, ANON)
    assert a > 0
    k.check()


def test_madv_free_pages_are_discarded_under_pressure_without_swap(backend_name):
    k = L.Kernel("64M", backend=backend_name)
    p = k.spawn("lazy")
    n = 3000
    a = p.mmap(0, n * P, RW, ANON)
    fill(p, a, n, stride=1)
    p.madvise(a, n * P, L.MADV_FREE)
    p.write(a + 5 * P + 100, b"rewritten!!!")      # redirtied: must survive
    hog = k.spawn("hog")
    m = ram_pages(k) - 1500
    h = hog.mmap(0, m * P, RW, ANON)
    hog.touch_range(h, m * P, write=True)
    v = vmstat(k)
    assert v["pglazyfreed"] > 0 and v["pswpout"] == 0 and v["oom_kill"] == 0
    assert p.read(a + 5 * P + 100, 12) == b"rewritten!!!"
    lost = sum(p.read(a + i * P + 100, 12) == bytes(12) for i in range(n))
    assert lost == v["pglazyfreed"]                # a discarded page reads back as zeros
    k.check()


def test_madv_free_drops_swapped_pages(backend_name):
    k, p, a, n = pressured(backend_name, "p", 5, 4, swap="128M")
    for i in range(0, n, 50):                      # stamps first: the oldest pages swap
        p.write(a + i * P + 100, stamp(i))
    p.touch_range(a, n * P, write=True)
    assert status(k, p, "VmSwap") > 0
    resident = p.mincore(a, n * P)                 # 0: in swap only
    p.madvise(a, n * P, L.MADV_FREE)
    assert status(k, p, "VmSwap") == 0             # the swap entries went, not the mapping
    mem = k.read("/proc/meminfo")
    assert field(mem, "SwapTotal") - field(mem, "SwapFree") == field(mem, "SwapCached")
    for i in range(0, n, 50):                      # swapped pages read as new zero pages,
        want = stamp(i) if resident[i] else bytes(12)   # resident ones keep their bytes
        assert p.read(a + i * P + 100, 12) == want
    assert 0 < sum(resident[::50]) < len(resident[::50])
    k.check()


def test_kswapd_log_shows_activity_over_time(backend_name):
    k, p, a, n = pressured(backend_name, "p", 3, 2, swap="128M")
    p.touch_range(a, n * P, write=True)
    log = k.kswapd_log()
    v = vmstat(k)
    assert len(log) == v["pageoutrun"] > 1
    assert sum(run["scanned"] for run in log) == v["pgscan_kswapd"]
    assert sum(run["reclaimed"] for run in log) == v["pgsteal_kswapd"]
    starts = [run["start"] for run in log]
    assert starts == sorted(starts) and all(r["start"] <= r["end"] <= k.now for r in log)
