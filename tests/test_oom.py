"""The OOM killer on both backends (mm/oom_kill.c, fs/proc/base.c, 6.x): badness and oom_score
worked from the formula with the inputs read from /proc, victim choice, the kill and its log,
oom_score_adj, and the victim's own access dying with linuxmm.Killed."""
import errno
import re

import pytest

import linuxmm as L
from linuxmm import gfp as G
from linuxmm.vm import oom_kill
from procfields import status, meminfo

P = 4096
RW = L.PROT_READ | L.PROT_WRITE
ANON = L.MAP_PRIVATE | L.MAP_ANONYMOUS




def vmstat(k, key):
    for line in k.read("/proc/vmstat").splitlines():
        name, value = line.split()
        if name == key:
            return int(value)
    raise KeyError(key)


def c_div(a, b):
    """C's signed division, worked with exact integers."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def expected_badness(k, p):
    """oom_badness from what /proc shows: VmRSS + VmSwap + VmPTE (kB / 4), plus
    oom_score_adj * (totalpages / 1000), totalpages = (MemTotal + SwapTotal) / 4."""
    total = (meminfo(k, "MemTotal") + meminfo(k, "SwapTotal")) // 4
    rss = status(k, p, "VmRSS") // 4 + status(k, p, "VmSwap") // 4 + status(k, p, "VmPTE") // 4
    return rss + p.oom_score_adj * (total // 1000), total


def expected_oom_score(k, p):
    if p.oom_score_adj == -1000:
        return 0
    badness, total = expected_badness(k, p)
    return c_div((1000 + c_div(badness * 1000, total)) * 2, 3)


@pytest.fixture
def k(backend_name):
    return L.Kernel("1G", backend=backend_name)


# -- badness and /proc/<pid>/oom_score ---------------------------------------------------------
@pytest.mark.parametrize("swap", [0, "512M"])
@pytest.mark.parametrize("adj", [0, 500, 1000, -500, -999])
def test_badness_and_oom_score_match_the_formula(backend_name, swap, adj):
    k = L.Kernel("1G", backend=backend_name, swap=swap)
    k.spawn("init")
    p = k.spawn("worker")
    a = p.mmap(0, 3000 * P, RW, ANON)
    p.touch_range(a, 3000 * P, write=True)
    p.touch_range(a, 3000 * P)
    p.oom_score_adj = adj
    badness, total = expected_badness(k, p)
    assert total == k._totalram_pages() + k.total_swap_pages
    assert oom_kill.oom_badness(p, total) == badness
    assert status(k, p, "VmRSS") == 3000 * 4
    score = int(k.read(f"/proc/{p.pid}/oom_score"))
    assert score == expected_oom_score(k, p)
    if adj == 0:
        assert 666 < score < 700


def test_oom_score_of_idle_init_and_unkillable(k):
    init = k.spawn("init")
    p = k.spawn("idle")
    assert k.read(f"/proc/{p.pid}/oom_score") == "666\n"       # (1000 + 0) * 2 / 3
    assert k.read(f"/proc/{init.pid}/oom_score") == "0\n"      # the global init: LONG_MIN
    assert oom_kill.oom_badness(init, 1000) is None
    p.oom_score_adj = -1000
    assert k.read(f"/proc/{p.pid}/oom_score") == "0\n"
    assert oom_kill.oom_badness(p, 1000) is None
    p.oom_score_adj = 1000
    total = oom_kill.total_pages(k)
    assert oom_kill.oom_badness(p, total) == 1000 * (total // 1000)
    assert int(k.read(f"/proc/{p.pid}/oom_score")) == expected_oom_score(k, p)


def test_oom_score_adj_range_proc_files_and_fork(k):
    k.spawn("init")
    p = k.spawn("p")
    assert p.oom_score_adj == 0
    assert k.read(f"/proc/{p.pid}/oom_score_adj") == "0\n"
    p.oom_score_adj = -1000
    p.oom_score_adj = 1000
    for bad in (1001, -1001, 5000):
        with pytest.raises(OSError) as err:
            p.oom_score_adj = bad
        assert err.value.errno == errno.EINVAL
        assert p.oom_score_adj == 1000
    p.oom_score_adj = 300
    assert k.read(f"/proc/{p.pid}/oom_score_adj") == "300\n"
    assert k.read(f"/proc/{p.pid}/oom_adj") == "5\n"           # 300 * 17 / 1000
    child = p.fork()                                            # signal_struct is copied
    assert child.oom_score_adj == 300
    child.oom_score_adj = -17
    assert p.oom_score_adj == 300
    # the legacy file: oom_adj 15 is oom_score_adj 1000, -17 is -1000, else * 1000 / 17
    p.oom_adj = 15
    assert p.oom_score_adj == 1000 and p.oom_adj == 15
    p.oom_adj = -17
    assert p.oom_score_adj == -1000 and k.read(f"/proc/{p.pid}/oom_adj") == "-17\n"
    p.oom_adj = -8
    assert p.oom_score_adj == -470
    with pytest.raises(OSError):
        p.oom_adj = 16
    assert p.oom_score_adj == -470
    assert "/proc/%d/oom_adj is deprecated, please use /proc/%d/oom_score_adj instead." % (
        p.pid, p.pid) in k.dmesg()


def test_select_bad_process_tie_goes_to_the_later_task(k):
    k.spawn("init")
    ps = [k.spawn(f"t{i}") for i in range(3)]
    for p in ps:
        a = p.mmap(0, 64 * P, RW, ANON)
        p.touch_range(a, 64 * P, write=True)
    total = oom_kill.total_pages(k)
    chosen, points = oom_kill.select_bad_process(k, total)
    assert chosen is ps[2] and points == oom_kill.oom_badness(ps[0], total)
    ps[2].oom_score_adj = -1
    assert oom_kill.select_bad_process(k, total)[0] is ps[1]


# -- the kernel log ----------------------------------------------------------------------------
def test_printk_and_dmesg_timestamps(k):
    assert k.dmesg() == ""
    k.printk("hello")
    k.now = 1_234_567_890_123
    k.printk("two\nlines\n", 3)
    k.now = 5 * 10**11 + 999
    k.printk("late")
    assert k.dmesg() == ("[    0.000000] hello\n[ 1234.567890] two\n[ 1234.567890] lines\n"
                         "[  500.000000] late\n")
    assert k.dmesg(level=3) == "[ 1234.567890] two\n[ 1234.567890] lines\n"


# -- a machine that runs out of memory ---------------------------------------------------------
class Machine:
    """Kernel("64M") without swap: init plus workers, each with a 6000-page anonymous mapping;
    every page a worker touches carries (pid, page index) bytes."""

    def __init__(self, backend_name, names=("a", "b", "c"), **kw):
        self.k = L.Kernel("64M", backend=backend_name, **kw)
        self.k.spawn("init")
        self.ps = [self.k.spawn(n) for n in names]
        self.base = {p.pid: p.mmap(0, 6000 * P, RW, ANON) for p in self.ps}
        self.done = {p.pid: 0 for p in self.ps}
        self.vmpte = {}

    def mark(self, p, i):
        return b"%5d:%5d|" % (p.pid, i)

    def grow(self, p, npages):
        """Touch npages more pages, writing the marker into each."""
        start = self.done[p.pid]
        base = self.base[p.pid]
        p.touch_range(base + start * P, npages * P, write=True)
        for i in range(start, start + npages):
            p.write(base + i * P + 100, self.mark(p, i))
        self.done[p.pid] = start + npages
        self.vmpte[p.pid] = self.k.read(f"/proc/{p.pid}/status")

    def intact(self, p):
        base = self.base[p.pid]
        return all(p.read(base + i * P + 100, 12) == self.mark(p, i)
                   for i in range(self.done[p.pid]))

    def killed_line(self, p):
        k = self.k
        text = self.vmpte[p.pid]
        pte = int(re.search(r"VmPTE:\s+(\d+) kB", text).group(1))
        return (f"Out of memory: Killed process {p.pid} ({p.comm}) total-vm:24000kB, "
                f"anon-rss:{self.done[p.pid] * 4}kB, file-rss:0kB, shmem-rss:0kB, UID:0 "
                f"pgtables:{pte}kB oom_score_adj:{p.oom_score_adj}")


def log_lines(k):
    return [line.split("] ", 1)[1] for line in k.dmesg().splitlines()]


def test_biggest_process_is_killed_others_keep_their_data(backend_name):
    m = Machine(backend_name)
    k = m.k
    a, b, c = m.ps
    m.grow(a, 3000)                           # a is the biggest throughout
    m.grow(b, 1000)
    k.check()
    faulting = None
    for _ in range(60):                       # c and b take turns until one of them OOMs
        for p in (c, b):
            m.grow(p, 50)
            k.check()
            if vmstat(k, "oom_kill"):
                faulting = p
                break
        if faulting:
            break
    assert faulting is not None
    assert not a.alive and a.oom_killed and a.exit_signal == 9
    assert a.pid not in k.processes
    assert b.alive and c.alive and not b.oom_killed and b.exit_signal is None
    assert vmstat(k, "oom_kill") == 1
    lines = log_lines(k)
    assert (f"{faulting.comm} invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|"
            f"__GFP_COMP), order=0, oom_score_adj=0") in lines
    assert m.killed_line(a) in lines
    assert lines[-1] == m.killed_line(a)
    assert ("oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,"
            f"global_oom,task_memcg=/,task=a,pid={a.pid},uid=0") in lines
    assert m.intact(b) and m.intact(c)
    with pytest.raises(L.Killed):
        a.touch(m.base[a.pid])
    with pytest.raises(L.Killed):
        a.read(m.base[a.pid], 1)
    with pytest.raises(L.Killed):
        a.fork()
    with pytest.raises(L.Killed):
        a.mmap(0, P, RW, ANON)
    with pytest.raises(FileNotFoundError):
        k.read(f"/proc/{a.pid}/oom_score")
    # the survivors go on using the memory a gave back
    m.grow(b, 300)
    m.grow(c, 300)
    assert m.intact(b) and m.intact(c)
    k.check()


def test_the_victims_own_fault_raises_killed(backend_name):
    m = Machine(backend_name)
    k = m.k
    a, b, c = m.ps
    m.grow(a, 500)
    m.grow(b, 800)
    with pytest.raises(L.Killed) as err:
        m.grow(c, 6000)                       # c becomes the biggest while it faults
    assert err.value.pid == c.pid and err.value.signal == 9 and err.value.addr is not None
    assert not c.alive and c.oom_killed and c.exit_signal == 9
    assert a.alive and b.alive
    assert vmstat(k, "oom_kill") == 1
    k.check()
    assert m.intact(a) and m.intact(b)
    lines = log_lines(k)
    assert any(line.startswith(f"Out of memory: Killed process {c.pid} (c) total-vm:24000kB, "
                               "anon-rss:") for line in lines)
    assert "c invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), " \
           "order=0, oom_score_adj=0" in lines
    with pytest.raises(L.Killed):
        c.write(m.base[c.pid], b"x")
    with pytest.raises(L.Killed):
        c.touch_range(m.base[c.pid], P)
    c.exit()                                   # already gone: nothing to do
    m.grow(a, 300)
    assert m.intact(a)
    k.check()


def test_oom_score_adj_changes_the_victim(backend_name):
    m = Machine(backend_name)
    k = m.k
    a, b, c = m.ps
    a.oom_score_adj = -300                    # a is the biggest, but its points are lowered
    m.grow(a, 2000)
    m.grow(b, 2600)
    total = oom_kill.total_pages(k)
    assert oom_kill.oom_badness(a, total) < oom_kill.oom_badness(b, total)
    m.grow(c, 100)
    before = {p.pid: oom_kill.oom_badness(p, total) for p in (a, b, c)}
    for _ in range(60):
        m.grow(c, 50)
        if not b.alive:
            break
    assert not b.alive and b.oom_killed
    assert a.alive and c.alive
    assert before[b.pid] > before[a.pid]
    assert m.killed_line(b) in log_lines(k)
    assert m.intact(a) and m.intact(c)
    k.check()


def test_minus_1000_is_never_killed(backend_name):
    m = Machine(backend_name)
    k = m.k
    a, b, c = m.ps
    a.oom_score_adj = -1000
    m.grow(b, 300)
    m.grow(c, 200)
    with pytest.raises(L.OutOfMemory):
        m.grow(a, 6000)                        # b and c die, then nothing is killable
    assert a.alive and not a.oom_killed
    assert not b.alive and not c.alive
    assert vmstat(k, "oom_kill") == 2
    lines = log_lines(k)
    killed = [line for line in lines if line.startswith("Out of memory: Killed process")]
    assert [int(line.split()[5]) for line in killed] == [b.pid, c.pid]   # the bigger first
    assert "Out of memory and no killable processes..." in lines
    assert not any(f"Killed process {a.pid} " in line for line in lines)
    k.check()
    # a's pages up to the failing one are all there
    base = m.base[a.pid]
    n = m.done[a.pid]
    assert all(a.read(base + i * P + 100, 12) == m.mark(a, i) for i in range(n))
    assert status(k, a, "VmRSS") > 4000 * 4


def test_out_of_memory_gates(backend_name):
    m = Machine(backend_name)
    k = m.k
    a, b, c = m.ps
    m.grow(a, 100)
    assert not oom_kill.out_of_memory(k, G.GFP_KERNEL, 4)          # costly order
    assert not oom_kill.out_of_memory(k, G.GFP_KERNEL | G.__GFP_NORETRY, 0)
    assert not oom_kill.out_of_memory(k, G.GFP_KERNEL | G.__GFP_RETRY_MAYFAIL, 0)
    assert not oom_kill.out_of_memory(k, G.GFP_NOFS, 0)            # no __GFP_FS
    assert not oom_kill.out_of_memory(k, G.GFP_ATOMIC, 0)
    assert not oom_kill.out_of_memory(k, G.GFP_DMA | G.GFP_KERNEL, 0)
    assert vmstat(k, "oom_kill") == 0 and k.dmesg() == ""
    k.now = 3 * 10**9 + 250_000
    assert oom_kill.out_of_memory(k, G.GFP_KERNEL, 3)               # outside any task
    assert not a.alive and vmstat(k, "oom_kill") == 1
    assert k.dmesg().splitlines()[0] == (
        "[    3.000250] kworker/0:1 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=3, "
        "oom_score_adj=0")
    k.check()


def test_thp_allocation_failure_falls_back_without_oom(backend_name):
    k = L.Kernel("64M", backend=backend_name, transparent_hugepage="always")
    k.spawn("init")
    p = k.spawn("thp")
    hog = k.spawn("hog")
    a = p.mmap(0, 8 << 20, RW, ANON)
    # the hog leaves a few hundred pages above the min watermarks: enough for small pages,
    # not for a THP (small pages itself: MADV_NOHUGEPAGE)
    free = sum(z.free_pages for z in k.zones)
    n = free - sum(w[0] for w in k._wmarks) - 300
    h = hog.mmap(0, n * P, RW, ANON)
    hog.madvise(h, n * P, 15)                  # MADV_NOHUGEPAGE
    hog.touch_range(h, n * P, write=True)
    aligned = (a + (2 << 20) - 1) & ~((2 << 20) - 1)
    p.write(aligned, b"small")                 # order 9 fails: a small page, no OOM kill
    assert p.read(aligned, 5) == b"small"
    assert vmstat(k, "oom_kill") == 0 and hog.alive
    assert vmstat(k, "thp_fault_fallback") >= 1
    assert status(k, p, "VmRSS") == 4
    k.check()


def test_killed_is_an_mmerror():
    assert issubclass(L.Killed, L.MMError)
    assert not issubclass(L.Killed, OSError)
    err = L.Killed(7)
    assert err.signal == 9 and err.pid == 7 and err.addr is None


def test_page_table_oom_runs_the_killer_then_the_fault_retries(backend_name):
    m = Machine(backend_name)
    k = m.k
    a, b, c = m.ps
    m.grow(a, 400)
    m.grow(b, 100)
    # a fault whose page-table allocation failed (VM_FAULT_OOM): the killer runs for it
    assert oom_kill.pagefault_out_of_memory(b.mm, m.base[b.pid]) is True
    assert not a.alive and vmstat(k, "oom_kill") == 1
    assert "gfp_mask=0x400dc0(GFP_KERNEL_ACCOUNT|__GFP_ZERO), order=0" in k.dmesg()
    k.check()
    c.oom_score_adj = b.oom_score_adj = -1000
    with pytest.raises(L.OutOfMemory):
        oom_kill.pagefault_out_of_memory(b.mm, m.base[b.pid])
    assert "Out of memory and no killable processes..." in k.dmesg()
