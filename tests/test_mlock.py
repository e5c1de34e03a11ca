"""mlock, mlock2, munlock, mlockall, munlockall and the unevictable LRU (mm/mlock.c) on both
backends: VMA flags, splits and merges, locked_vm, populate, errors, and the page side
(PG_mlocked, the unevictable list, nr_mlock, unevictable_pgs_*, cpu 0's mlock_fbatch)."""
import errno

import pytest

import linuxmm as L
from linuxmm.vm.mlock import RLIM_INFINITY
from linuxmm.vm.mmu_defs import PG_LRU, PG_MLOCKED, PG_UNEVICTABLE
from procfields import status, meminfo

P = 4096
RW = L.PROT_READ | L.PROT_WRITE
ANON = L.MAP_PRIVATE | L.MAP_ANONYMOUS
EVENTS = ("unevictable_pgs_mlocked", "unevictable_pgs_munlocked", "unevictable_pgs_culled",
          "unevictable_pgs_rescued", "unevictable_pgs_cleared", "unevictable_pgs_stranded")


@pytest.fixture
def k(backend_name):
    return L.Kernel("1G", backend=backend_name)


@pytest.fixture
def p(k):
    return k.spawn("t")




def vmas(k, p):
    """[(start, end, VmFlags, Rss kB, Locked kB)] from smaps."""
    out = []
    for line in k.read(f"/proc/{p.pid}/smaps").splitlines():
        first = line.split(" ")[0]
        if "-" in first and ":" not in first:
            lo, hi = (int(x, 16) for x in first.split("-"))
            out.append([lo, hi, None, 0, 0])
        elif line.startswith("Rss:"):
            out[-1][3] = int(line.split()[1])
        elif line.startswith("Locked:"):
            out[-1][4] = int(line.split()[1])
        elif line.startswith("VmFlags:"):
            out[-1][2] = line.split(":", 1)[1].split()
    return [tuple(v) for v in out]


def vma_at(k, p, addr):
    return next(v for v in vmas(k, p) if v[0] <= addr < v[1])


def events(k):
    v = k.vm_counters()
    return {name: v[name] for name in EVENTS}


def flags_of(k, p, addr):
    return int(k.mmu.flags[p.translate(addr)[0]])


def test_mlock_splits_populates_and_counts(k, p):
    a = p.mmap(0, 8 * P, RW, ANON)
    p.touch(a, write=True)
    p.touch(a + P, write=True)
    flt = p.min_flt
    assert p.mlock(a + 2 * P, 4 * P) == 0
    assert p.min_flt - flt == 4                   # GUP write faults for the 4 missing pages
    layout = vmas(k, p)
    assert [(v[0] - a, v[1] - a) for v in layout] == [(0, 2 * P), (2 * P, 6 * P), (6 * P, 8 * P)]
    assert "lo" in layout[1][2] and "lo" not in layout[0][2] and "lo" not in layout[2][2]
    assert (layout[1][3], layout[1][4]) == (16, 16)   # Rss, Locked
    assert status(k, p, "VmLck") == 16 and p.mm.locked_vm == 4
    assert meminfo(k, "Mlocked") == 16 and meminfo(k, "Unevictable") == 16
    ev = events(k)
    assert ev["unevictable_pgs_mlocked"] == 4 and ev["unevictable_pgs_culled"] == 4
    f = flags_of(k, p, a + 2 * P)
    assert f & PG_MLOCKED and f & PG_UNEVICTABLE and f & PG_LRU
    assert not flags_of(k, p, a) & (PG_MLOCKED | PG_UNEVICTABLE)
    k.check()


def test_mlock_of_present_pages_then_munlock_merges_back(k, p):
    a = p.mmap(0, 8 * P, RW, ANON)
    p.touch_range(a, 8 * P, write=True)
    inactive = meminfo(k, "Inactive(anon)")
    flt = p.min_flt
    p.mlock(a + 2 * P, 4 * P)
    assert p.min_flt == flt                       # all present: no fault
    assert meminfo(k, "Inactive(anon)") == inactive - 16
    p.munlock(a + 2 * P, 4 * P)
    assert len(vmas(k, p)) == 1 and "lo" not in vmas(k, p)[0][2]
    assert p.mm.locked_vm == 0 and meminfo(k, "Mlocked") == 0 and meminfo(k, "Unevictable") == 0
    assert meminfo(k, "Inactive(anon)") == inactive     # rescued to the inactive list
    ev = events(k)
    assert ev["unevictable_pgs_munlocked"] == 4 and ev["unevictable_pgs_rescued"] == 4
    k.check()


def test_mlock2_onfault_faults_nothing_and_the_batch_lags(k, p):
    a = p.mmap(0, 8 * P, RW, ANON)
    flt = p.min_flt
    p.mlock2(a, 8 * P, L.MLOCK_ONFAULT)
    assert p.min_flt == flt
    assert vmas(k, p)[0][2] == ["rd", "wr", "mr", "mw", "me", "lo", "lf", "ac"]
    assert status(k, p, "VmLck") == 32
    p.touch_range(a, 3 * P, write=True)
    # mlock_new_folio: PG_mlocked and nr_mlock at once, the LRU move when cpu 0's batch drains
    assert meminfo(k, "Mlocked") == 12 and meminfo(k, "Unevictable") == 0
    assert vma_at(k, p, a)[4] == 12                # smaps Locked: pages of the VM_LOCKED VMA
    k.check()
    b = p.mmap(0, P, RW, ANON)
    p.touch(b, write=True)
    p.munmap(b, P)                                 # a zap frees a page: lru_add_drain
    assert meminfo(k, "Unevictable") == 12
    k.check()


def test_batch_drains_when_full(k, p):
    a = p.mmap(0, 40 * P, RW, ANON)
    p.mlock2(a, 40 * P, L.MLOCK_ONFAULT)
    p.touch_range(a, 31 * P, write=True)
    assert meminfo(k, "Unevictable") == 31 * 4 and not k.mlock_fbatch
    p.touch_range(a + 31 * P, 5 * P, write=True)
    assert meminfo(k, "Unevictable") == 31 * 4 and len(k.mlock_fbatch) == 5
    k.check()


def test_errors(k, p):
    a = p.mmap(0, 8 * P, RW, ANON)
    with pytest.raises(OSError) as e:
        p.mlock2(a, P, 2)
    assert e.value.errno == errno.EINVAL
    for flags in (0, L.MCL_ONFAULT, 8, L.MCL_CURRENT | 16):
        with pytest.raises(OSError) as e:
            p.mlockall(flags)
        assert e.value.errno == errno.EINVAL
    for call in (p.mlock, p.munlock):
        with pytest.raises(OSError) as e:
            call(a + 100 * P, P)                   # nothing mapped there
        assert e.value.errno == errno.ENOMEM
        with pytest.raises(OSError) as e:
            call(a + 6 * P, 4 * P)                 # runs past the end
        assert e.value.errno == errno.ENOMEM
    assert p.mlock(a + 1, 1) == 0 and p.mm.locked_vm == 1    # rounded out to the page
    assert p.mlock(a, 0) == 0
    assert p.syscall(L.NR_mlock2, a, P, 4) == -errno.EINVAL
    assert p.syscall(L.NR_munlockall) == 0 and p.mm.locked_vm == 0
    k.check()


def test_mlock_prot_none_is_enomem_after_locking(k, p):
    """populate_vma_page_range refuses PROT_NONE (-EFAULT, ENOMEM from mlock) after
    apply_vma_lock_flags has set VM_LOCKED, as on the host."""
    a = p.mmap(0, 4 * P, RW, ANON)
    b = p.mmap(a + 4 * P, 4 * P, L.PROT_NONE, ANON | L.MAP_FIXED)
    flt = p.min_flt
    with pytest.raises(OSError) as e:
        p.mlock(a + 2 * P, 4 * P)
    assert e.value.errno == errno.ENOMEM
    assert p.min_flt - flt == 2 and p.mm.locked_vm == 4
    assert "lo" in vma_at(k, p, b)[2]
    k.check()


def test_rlimit_memlock(k, p):
    a = p.mmap(0, 8 * P, RW, ANON)
    p.capable_ipc_lock = False
    p.rlimit_memlock = 4 * P
    before = p.maps
    with pytest.raises(OSError) as e:
        p.mlock(a, 5 * P)
    assert e.value.errno == errno.ENOMEM and p.maps == before and p.mm.locked_vm == 0
    p.mlock(a, 4 * P)
    p.mlock(a + 2 * P, 2 * P)            # already locked: count_mm_mlocked_page_nr
    with pytest.raises(OSError) as e:
        p.mlock(a + 3 * P, 2 * P)
    assert e.value.errno == errno.ENOMEM
    with pytest.raises(OSError) as e:
        p.mlockall(L.MCL_CURRENT)        # total_vm > limit
    assert e.value.errno == errno.ENOMEM
    with pytest.raises(OSError) as e:
        p.mmap(0, P, RW, ANON | L.MAP_LOCKED)   # mlock_future_ok
    assert e.value.errno == errno.EAGAIN
    p.rlimit_memlock = 0
    with pytest.raises(OSError) as e:
        p.mlock(a, P)
    assert e.value.errno == errno.EPERM
    with pytest.raises(OSError) as e:
        p.mmap(0, P, RW, ANON | L.MAP_LOCKED)
    assert e.value.errno == errno.EPERM
    p.munlock(a, 8 * P)                  # munlock needs no permission
    p.rlimit_memlock = RLIM_INFINITY
    p.mlockall(L.MCL_CURRENT)
    assert p.mm.locked_vm == p.mm.total_vm
    k.check()


def test_mlockall_future_locks_and_populates_later_mappings(k, p):
    a = p.mmap(0, 4 * P, RW, ANON)
    p.mlockall(L.MCL_CURRENT | L.MCL_FUTURE)
    assert "lo" in vma_at(k, p, a)[2] and vma_at(k, p, a)[3] == 16
    flt = p.min_flt
    b = p.mmap(0, 4 * P, RW, ANON)
    assert p.min_flt - flt == 4
    assert vma_at(k, p, b)[:2] == (b, a + 4 * P) and vma_at(k, p, b)[3:] == (32, 32)  # merged
    assert meminfo(k, "Mlocked") == 32 == meminfo(k, "Unevictable")
    p.munlockall()
    assert p.mm.def_flags == 0 and p.mm.locked_vm == 0 and meminfo(k, "Mlocked") == 0
    c = p.mmap(0, 4 * P, RW, ANON)
    assert "lo" not in vma_at(k, p, c)[2] and p.translate(c) is None
    p.mlockall(L.MCL_FUTURE | L.MCL_ONFAULT)
    d = p.mmap(0, 4 * P, RW, ANON)
    assert {"lo", "lf"} <= set(vma_at(k, p, d)[2]) and p.translate(d) is None
    assert "lo" not in vma_at(k, p, a)[2]
    k.check()


def test_mlockall_future_brk(k):
    p = k.spawn("b")
    p.mm.start_brk = p.mm.brk = 0x600000
    p.mlockall(L.MCL_FUTURE)
    flt = p.min_flt
    assert p.brk(0x600000 + 3 * P) == 0x600000 + 3 * P
    assert p.min_flt - flt == 3 and meminfo(k, "Mlocked") == 12
    assert "lo" in vma_at(k, p, 0x600000)[2]
    k.check()


def test_fork_child_unlocked_page_stays_mlocked_until_last_locker(k, p):
    f = k.create_file("/dev/shm/f", 4 * P)
    a = p.mmap(0, 4 * P, RW, L.MAP_SHARED, f, 0)
    p.mlock(a, 4 * P)
    c = p.fork()
    assert "lo" not in vma_at(k, c, a)[2] and status(k, c, "VmLck") == 0
    c.touch_range(a, 4 * P)
    assert vma_at(k, p, a)[4] == 8                 # Locked = half the Rss: PSS of shared pages
    c.mlock(a, 2 * P)                              # both lock the first two pages
    assert k.mlock_count[p.translate(a)[0]] == 2
    p.exit()
    assert meminfo(k, "Mlocked") == 8 and meminfo(k, "Unevictable") == 8
    assert flags_of(k, c, a) & PG_MLOCKED and not flags_of(k, c, a + 3 * P) & PG_MLOCKED
    k.check()
    c.exit()
    assert meminfo(k, "Mlocked") == 0 and meminfo(k, "Unevictable") == 0
    assert events(k)["unevictable_pgs_cleared"] == 0
    k.check()


def test_anon_mlock_after_fork_breaks_cow(k, p):
    """populate writes (FOLL_WRITE): the child's mlock copies the shared pages; the old ones
    are munlocked by the COW and stay mlocked by the parent only."""
    a = p.mmap(0, 2 * P, RW, ANON)
    p.mlock(a, 2 * P)
    c = p.fork()
    old = p.translate(a)[0]
    c.mlock(a, 2 * P)
    assert c.translate(a)[0] != old and k.mlock_count[old] == 1
    assert meminfo(k, "Mlocked") == 16
    k.check()


def test_cow_in_locked_vma_munlocks_the_old_page(k, p):
    a = p.mmap(0, 2 * P, RW, ANON)
    p.touch_range(a, 2 * P, write=True)
    c = p.fork()
    p.mlock(a, 2 * P)                    # populate breaks COW: two new mlocked pages
    assert meminfo(k, "Mlocked") == 8
    assert not flags_of(k, c, a) & PG_MLOCKED
    c.exit()
    p.exit()
    assert meminfo(k, "Mlocked") == 0 and meminfo(k, "Unevictable") == 0
    k.check()


def test_shmem_file_pages_and_map_locked(k, p):
    f = k.create_file("/dev/shm/m", 8 * P)
    a = p.mmap(0, 8 * P, RW, L.MAP_SHARED | L.MAP_LOCKED, f, 0)
    assert vma_at(k, p, a)[3:] == (32, 32) and meminfo(k, "Mlocked") == 32
    assert "lo" in vma_at(k, p, a)[2]
    p.munmap(a, 8 * P)
    assert meminfo(k, "Mlocked") == 0 and meminfo(k, "Unevictable") == 0
    assert meminfo(k, "Shmem") == 32                # the pages stay cached, evictable again
    k.check()


def test_madvise_on_locked_vma(k, p):
    a = p.mmap(0, 4 * P, RW, ANON)
    p.mlock(a, 4 * P)
    with pytest.raises(OSError) as e:
        p.madvise(a, 4 * P, L.MADV_DONTNEED)
    assert e.value.errno == errno.EINVAL
    p.madvise(a, 4 * P, L.MADV_DONTNEED_LOCKED)
    assert meminfo(k, "Mlocked") == 0 and vma_at(k, p, a)[3] == 0
    k.check()


def test_thp_in_locked_vma(backend_name):
    k = L.Kernel("1G", backend=backend_name, transparent_hugepage="always")
    p = k.spawn("h")
    a = p.mmap(0, 4 << 20, RW, ANON)
    h = (a + (2 << 20) - 1) & ~((2 << 20) - 1)
    p.mlock(h, 2 << 20)
    assert meminfo(k, "Mlocked") == 2048 and meminfo(k, "Unevictable") == 2048
    assert meminfo(k, "AnonHugePages") == 2048
    k.check()
    p.munlock(h, 2 << 20)
    assert meminfo(k, "Mlocked") == 0 and meminfo(k, "Unevictable") == 0
    p.mlock(h, 2 << 20)
    p.munmap(a, 4 << 20)
    assert meminfo(k, "Mlocked") == 0 and meminfo(k, "Unevictable") == 0
    k.check()


def test_syscall_numbers(k, p):
    a = p.mmap(0, 2 * P, RW, ANON)
    assert p.syscall(L.NR_mlock, a, 2 * P) == 0
    assert p.syscall(L.NR_munlock, a, 2 * P) == 0
    assert p.syscall(L.NR_mlock2, a, 2 * P, L.MLOCK_ONFAULT) == 0
    assert p.syscall(L.NR_mlockall, L.MCL_FUTURE) == 0
    assert p.syscall(L.NR_munlock, a + 50 * P, P) == -errno.ENOMEM
    assert p.syscall(L.NR_munlockall) == 0
    k.check()


def test_mremap_of_locked_vma_populates_growth_and_checks_the_limit(k, p):
    a = p.mmap(0, 2 * P, RW, ANON)
    p.mlock(a, 2 * P)
    flt = p.min_flt
    b = p.mremap(a, 2 * P, 6 * P, L.MREMAP_MAYMOVE)
    assert p.min_flt - flt == 4 and p.mm.locked_vm == 6 and meminfo(k, "Mlocked") == 24
    p.capable_ipc_lock = False
    p.rlimit_memlock = 8 * P
    with pytest.raises(OSError) as e:
        p.mremap(b, 6 * P, 9 * P, L.MREMAP_MAYMOVE)
    assert e.value.errno == errno.EAGAIN and p.mm.locked_vm == 6
    k.check()
