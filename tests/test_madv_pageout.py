"""MADV_COLD and MADV_PAGEOUT (mm/madvise.c, linuxmm/vm/madvise_lru.py): LRU moves, the
lru_deactivate batch, reclaim_pages ignoring references, swap-out, counters and errors.  Every
test runs on both backends, checks the invariants after each step and that both agree."""
import errno

import pytest

import linuxmm as L

RW, ANON = L.PROT_READ | L.PROT_WRITE, L.MAP_PRIVATE | L.MAP_ANONYMOUS
PAGE = 4096
BACKENDS = ["c", "reference"]


def meminfo(k, key):
    for line in k.read("/proc/meminfo").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def status(k, p, key):
    for line in k.read(f"/proc/{p.pid}/status").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def core(p, addr, n):
    return "".join(map(str, p.mincore(addr, n * PAGE)))


def lru_of(k, p, addr):
    return int(k.mmu.flags[p.translate(addr)[0]])


def run_anon_pageout(backend):
    k = L.Kernel("1G", backend=backend)
    p = k.spawn("t")
    a = p.mmap(0, 16 * PAGE, RW, ANON)
    for i in range(16):
        p.write(a + i * PAGE, bytes([i + 1]))
    k.check()
    v0 = k.vm_counters()
    p.madvise(a, 8 * PAGE, L.MADV_PAGEOUT)            # no swap: activated, nothing else
    k.check()
    v1 = k.vm_counters()
    out = [core(p, a, 16), v1["pgactivate"] - v0["pgactivate"], meminfo(k, "Active(anon)"),
           v1["pgscan_direct"] + v1["pgscan_kswapd"] - v0["pgscan_direct"] - v0["pgscan_kswapd"]]
    path = k.swapon("64M", path="/dev/zram0")
    p.madvise(a, 8 * PAGE, L.MADV_PAGEOUT)
    k.check()
    v2 = k.vm_counters()
    out += [core(p, a, 16), status(k, p, "VmSwap"), status(k, p, "RssAnon"),
            v2["pswpout"] - v1["pswpout"], v2["pgsteal_direct"] - v1["pgsteal_direct"],
            meminfo(k, "Active(anon)"), meminfo(k, "Inactive(anon)")]
    m0, j0 = p.min_flt, p.maj_flt
    data = bytes(p.read(a + i * PAGE, 1)[0] for i in range(16))
    k.check()
    out += [data, p.min_flt - m0, p.maj_flt - j0, status(k, p, "VmSwap"),
            k.read("/proc/swaps").splitlines()[1].split()[3]]
    k.swapoff(path)
    k.check()
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_anon_pageout_without_and_with_swap(backend):
    out = run_anon_pageout(backend)
    assert out == [
        "1" * 16, 8, 32, 0,                       # no swap: 8 pages activated, not scanned
        "0" * 8 + "1" * 8, 32, 32, 8, 0, 0, 32,   # swapped out; no pgsteal from reclaim_pages
        bytes(range(1, 17)), 0, 8, 0, "0"]        # zram: one major fault a page, slots freed
    assert run_anon_pageout("c") == run_anon_pageout("reference")


def test_swapfile_pageout_reads_back_with_readahead():
    for backend in BACKENDS:
        k = L.Kernel("1G", swap="64M", backend=backend)
        p = k.spawn("t")
        a = p.mmap(0, 16 * PAGE, RW, ANON)
        p.touch_range(a, 16 * PAGE, write=True)
        p.madvise(a, 16 * PAGE, L.MADV_PAGEOUT)
        k.check()
        assert core(p, a, 16) == "0" * 16 and status(k, p, "VmSwap") == 64
        m0, j0 = p.min_flt, p.maj_flt
        p.touch_range(a, 16 * PAGE)
        k.check()
        # the swap cache and cluster readahead: the window grows with the hits (swapin_nr_pages)
        assert (p.min_flt - m0, p.maj_flt - j0) == (11, 5)


def run_file(backend):
    k = L.Kernel("1G", backend=backend)
    p = k.spawn("t")
    f = k.create_file("/data/f", 64 * PAGE)
    f.write(0, bytes(64 * PAGE))
    k.sync()
    f.fadvise(0, 64 * PAGE, 4)                         # POSIX_FADV_DONTNEED
    f.read(0, 64 * PAGE)                               # 64 clean order-0 pages
    m = p.mmap(0, 64 * PAGE, L.PROT_READ, L.MAP_PRIVATE, f, 0)
    p.touch_range(m, 64 * PAGE)
    k.check()
    out = [meminfo(k, "Active(file)"), meminfo(k, "Inactive(file)")]
    v0 = k.vm_counters()
    p.madvise(m + 16 * PAGE, 16 * PAGE, L.MADV_PAGEOUT)
    k.check()
    v1 = k.vm_counters()
    out += [core(p, m, 64), meminfo(k, "Inactive(file)"), status(k, p, "RssFile"),
            v1["pgsteal_direct"] - v0["pgsteal_direct"], v1["pgactivate"] - v0["pgactivate"]]
    # the page cache's pages mapped by two processes stay
    q = k.spawn("q")
    n = q.mmap(0, 64 * PAGE, L.PROT_READ, L.MAP_PRIVATE, f, 0)
    q.touch_range(n, 8 * PAGE)
    p.madvise(m, 64 * PAGE, L.MADV_PAGEOUT)
    k.check()
    out += [core(p, m, 64)]
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_file_pageout(backend):
    out = run_file(backend)
    assert out == [0, 256,
                   "1" * 16 + "0" * 16 + "1" * 32, 192, 192, 0, 0,
                   "1" * 16 + "0" * 48]              # q maps pages 0..15 (fault-around)
    assert run_file("c") == run_file("reference")


def run_dirty_shared(backend):
    k = L.Kernel("1G", backend=backend)
    p = k.spawn("t")
    f = k.create_file("/data/f", 16 * PAGE)
    f.write(0, b"x" * 16 * PAGE)
    k.sync()
    m = p.mmap(0, 16 * PAGE, RW, L.MAP_SHARED, f, 0)
    p.touch_range(m, 16 * PAGE)
    p.touch_range(m, 4 * PAGE, write=True)
    v0 = k.vm_counters()
    p.madvise(m, 16 * PAGE, L.MADV_PAGEOUT)
    k.check()
    v1 = k.vm_counters()
    dirty = [int(k.mmu.flags[k.address_spaces[f.f_inode.i_mapping.id].pages[i]])
             for i in range(4)]
    from linuxmm.vm.mmu_defs import PG_ACTIVE, PG_RECLAIM
    return [core(p, m, 16), status(k, p, "RssFile"), meminfo(k, "Dirty"),
            meminfo(k, "Active(file)"), v1["nr_vmscan_immediate_reclaim"]
            - v0["nr_vmscan_immediate_reclaim"], v1["pgactivate"] - v0["pgactivate"],
            all(fl & PG_ACTIVE and fl & PG_RECLAIM for fl in dirty)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_dirty_shared_file_pages_stay_cached(backend):
    # unmapped (the PTE's dirty bit goes to the folio), PG_reclaim, activated; no flusher wakeup
    assert run_dirty_shared(backend) == ["1111" + "0" * 12, 0, 16, 16, 4, 4, True]


def run_cold(backend):
    from linuxmm.vm.lru import lru_add_drain
    from linuxmm.vm.mmu_defs import PG_ACTIVE, PG_REFERENCED, PG_WORKINGSET, _PAGE_ACCESSED
    k = L.Kernel("1G", backend=backend)
    p = k.spawn("t")
    f = k.create_file("/data/f", 40 * PAGE)
    f.write(0, bytes(40 * PAGE))
    k.sync()
    for _ in range(2):
        f.read(0, 40 * PAGE)                          # read twice: active
    m = p.mmap(0, 40 * PAGE, L.PROT_READ, L.MAP_SHARED, f, 0)
    p.touch_range(m, 40 * PAGE)
    k.check()
    out = [meminfo(k, "Active(file)")]
    v0 = k.vm_counters()
    p.madvise(m, 8 * PAGE, L.MADV_COLD)               # 8 folios wait in the batch
    k.check()
    out += [meminfo(k, "Active(file)"), len(k.lru_deactivate),
            k.vm_counters()["pgdeactivate"] - v0["pgdeactivate"]]
    pte = k.mmu.pte_get(p.mm.pgd, m)
    out += [bool(pte & _PAGE_ACCESSED)]
    p.madvise(m + 8 * PAGE, 32 * PAGE, L.MADV_COLD)   # 31 fill the batch: moved; 9 wait
    k.check()
    out += [meminfo(k, "Active(file)"), len(k.lru_deactivate)]
    lru_add_drain(k)
    k.check()
    fl = lru_of(k, p, m)
    out += [meminfo(k, "Active(file)"), meminfo(k, "Inactive(file)"),
            k.vm_counters()["pgdeactivate"] - v0["pgdeactivate"],
            bool(fl & PG_ACTIVE), bool(fl & PG_REFERENCED), bool(fl & PG_WORKINGSET)]
    # the deactivated folios went to the inactive list's head: the last moved is the newest
    from linuxmm.vm.lruvec import lru_pfns
    from linuxmm.vm.mmu_defs import LRU_INACTIVE_FILE
    head = lru_pfns(k.mmu, LRU_INACTIVE_FILE)[0]
    out += [head == p.translate(m + 39 * PAGE)[0]]
    p.madvise(m, 40 * PAGE, L.MADV_COLD)              # inactive already: nothing moves
    lru_add_drain(k)
    out += [k.vm_counters()["pgdeactivate"] - v0["pgdeactivate"]]
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_cold_deactivates_through_the_batch(backend):
    assert run_cold(backend) == [
        160,                       # 40 active file pages
        160, 8, 0, False,          # queued (a reference each), not moved yet; PTEs old
        4, 1,                      # madvise drains first (the 8), 31 fill the batch, 1 waits
        0, 160, 40,                # drained: all on the inactive list, pgdeactivate 40
        False, False, True,        # PG_active, PG_referenced cleared; PG_workingset set
        True,                      # the head of the inactive list: the last one moved
        40]                        # inactive folios are not moved (nor counted) again


def test_cold_backends_agree():
    assert run_cold("c") == run_cold("reference")


@pytest.mark.parametrize("backend", BACKENDS)
def test_errors(backend):
    k = L.Kernel("1G", backend=backend)
    p = k.spawn("t")
    a = p.mmap(0, 8 * PAGE, RW, ANON)
    p.mlock(a, 4 * PAGE)
    for advice in (L.MADV_COLD, L.MADV_PAGEOUT):
        with pytest.raises(OSError) as e:
            p.madvise(a, 8 * PAGE, advice)
        assert e.value.errno == errno.EINVAL               # can_madv_lru_vma: VM_LOCKED
        p.munmap(a + 6 * PAGE, PAGE)                       # (a second time: nothing)
        with pytest.raises(OSError) as e:
            p.madvise(a + 4 * PAGE, 4 * PAGE, advice)
        assert e.value.errno == errno.ENOMEM               # the hole, after the advice
        assert p.madvise(a + 4 * PAGE, 0, advice) == 0
    k.check()
