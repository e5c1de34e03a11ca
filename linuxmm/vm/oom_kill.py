"""The OOM killer (mm/oom_kill.c, Linux 6.x) and its /proc files (fs/proc/base.c).

    oom_badness(p, totalpages)      rss + swap entries + page-table pages, + oom_score_adj
                                    * (totalpages / 1000); None (the kernel's LONG_MIN) for a
                                    task that is never chosen
    proc_oom_score(badness, total)  /proc/<pid>/oom_score from a badness
    select_bad_process(k, total)    for_each_process order, a later task wins a tie
    out_of_memory(k, gfp, order)    pick and kill a victim; True when one was killed
    oom_retry(k, gfp, order, alloc) the allocator's __alloc_pages_may_oom loop around alloc()

A victim is torn down as exit does (Kernel.exit_process).  The task on whose behalf the
kernel runs (``kernel.current``, set while a Process method runs: see ``task_call``) cannot
be torn down under its own feet: it is marked killed (the SIGKILL is pending), its allocation
fails, and when its call unwinds it exits and the call raises linuxmm.Killed, as the task
dies on its way back to user space.
"""
import errno
import functools
import os

from .. import gfp as G
from ..errors import Killed, OutOfMemory
from ..printk import KERN_ERR, KERN_INFO, KERN_WARNING
from .mmu_defs import (MM_ANONPAGES, MM_FILEPAGES, MM_PGTABLES_BYTES, MM_SHMEMPAGES,
                       MM_SWAPENTS, PAGE_SHIFT, PAGE_SIZE)

OOM_SCORE_ADJ_MIN = -1000
OOM_SCORE_ADJ_MAX = 1000
OOM_DISABLE = -17              # the legacy /proc/<pid>/oom_adj range: -17..15
OOM_ADJUST_MIN = -16
OOM_ADJUST_MAX = 15
PAGE_ALLOC_COSTLY_ORDER = 3
SIGKILL = 9

# the task the log names when an allocation outside any process's call runs out of memory
KERNEL_CONTEXT_COMM = "kworker/0:1"


def total_pages(kernel):
    """oc->totalpages of a global OOM (constrained_alloc): totalram_pages + total_swap_pages."""
    swap = getattr(kernel, "total_swap_pages", None)
    if swap is None:
        swap = kernel.swap >> PAGE_SHIFT
    return kernel._totalram_pages() + int(swap)


def _cdiv(a, b):
    """C's integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _unkillable(p):
    """oom_unkillable_task: the global init (pid 1); no kernel threads are modelled."""
    return p.pid == 1


def _has_mm(p):
    return p.alive and p.mm is not None and p.mm.pgd is not None


def oom_badness(p, totalpages):
    """oom_badness(): the points of task p, or None (LONG_MIN) when it is never chosen (init,
    no mm, oom_score_adj -1000, or already an OOM victim: MMF_OOM_SKIP)."""
    if _unkillable(p) or not _has_mm(p):
        return None
    adj = p.oom_score_adj
    if adj == OOM_SCORE_ADJ_MIN or p.oom_killed:
        return None
    c = p.mm.counters
    points = badness_points(int(c[MM_FILEPAGES]) + int(c[MM_ANONPAGES]) + int(c[MM_SHMEMPAGES]),
                            int(c[MM_SWAPENTS]), int(c[MM_PGTABLES_BYTES]), adj, totalpages)
    return points


def badness_points(rss, swapents, pgtables_bytes, oom_score_adj, totalpages):
    """The arithmetic of oom_badness() for an eligible task: get_mm_rss + MM_SWAPENTS +
    mm_pgtables_bytes / PAGE_SIZE, plus oom_score_adj * (totalpages / 1000) (C longs)."""
    points = rss + swapents + pgtables_bytes // PAGE_SIZE
    return points + oom_score_adj * (totalpages // 1000)


def proc_oom_score(badness, totalpages):
    """fs/proc/base.c proc_oom_score: 0 for LONG_MIN (None), else
    (1000 + badness * 1000 / totalpages) * 2 / 3 in C long arithmetic."""
    if badness is None:
        return 0
    return _cdiv((1000 + _cdiv(badness * 1000, totalpages)) * 2, 3)


def oom_score_from_status(vmrss_kb, vmswap_kb, vmpte_kb, oom_score_adj, memtotal_kb,
                          swaptotal_kb):
    """/proc/<pid>/oom_score from what /proc/<pid>/status and /proc/meminfo show (kB): the
    same formula, for comparing with a real kernel.  VmRSS is get_mm_rss, VmSwap MM_SWAPENTS,
    VmPTE pgtables_bytes >> 10, MemTotal totalram_pages, SwapTotal total_swap_pages."""
    if oom_score_adj == OOM_SCORE_ADJ_MIN:
        return 0
    totalpages = (memtotal_kb + swaptotal_kb) // 4
    points = badness_points(vmrss_kb // 4, vmswap_kb // 4, vmpte_kb << 10, oom_score_adj,
                            totalpages)
    return proc_oom_score(points, totalpages)


# -- selection ----------------------------------------------------------------------------------
ABORT = object()     # select_bad_process met a victim still exiting: oc->chosen == -1


def select_bad_process(kernel, totalpages):
    """(chosen process or None or ABORT, its points).  for_each_process is creation order;
    oom_evaluate_task skips unkillable tasks, aborts on a victim that still holds its mm,
    and takes a task whose points are >= the best so far (so the later one wins a tie)."""
    chosen, chosen_points = None, None
    for p in list(kernel._processes.values()):
        if _unkillable(p):
            continue
        if p.oom_killed:                       # tsk_is_oom_victim
            if not _has_mm(p):                 # MMF_OOM_SKIP: exit_mmap has run
                continue
            return ABORT, None
        points = oom_badness(p, totalpages)
        if points is None or (chosen_points is not None and points < chosen_points):
            continue
        chosen, chosen_points = p, points
    return chosen, chosen_points


def _kb(pages):
    return pages << (PAGE_SHIFT - 10)


def _rss(c):
    return int(c[MM_FILEPAGES]) + int(c[MM_ANONPAGES]) + int(c[MM_SHMEMPAGES])


def dump_tasks(kernel):
    """dump_tasks(): the eligible tasks' memory, in pages (6.8+ columns)."""
    lines = ["Tasks state (memory values in pages):",
             "[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem "
             "pgtables_bytes swapents oom_score_adj name"]
    for p in kernel._processes.values():
        if _unkillable(p) or not _has_mm(p):
            continue
        c = p.mm.counters
        lines.append("[%7d] %5d %5d %8d %8d %8d %8d %9d %8d %8d         %5d %s" % (
            p.pid, 0, p.pid, p.mm.total_vm, _rss(c), int(c[MM_ANONPAGES]),
            int(c[MM_FILEPAGES]), int(c[MM_SHMEMPAGES]), int(c[MM_PGTABLES_BYTES]),
            int(c[MM_SWAPENTS]), p.oom_score_adj, p.comm))
    return lines


def dump_header(kernel, gfp, order, current):
    """dump_header(): who invoked the killer, then the task dump.  The stack dump and
    show_mem() are not reproduced."""
    comm = current.comm if current is not None else KERNEL_CONTEXT_COMM
    adj = current.oom_score_adj if current is not None else 0
    kernel.printk(f"{comm} invoked oom-killer: gfp_mask={gfp:#x}({G.format_gfp(gfp)}), "
                  f"order={order}, oom_score_adj={adj}", KERN_WARNING)
    for line in dump_tasks(kernel):
        kernel.printk(line, KERN_INFO)


def killed_line(p, message="Out of memory"):
    """__oom_kill_process's summary of the victim (before its memory is freed)."""
    mm = p.mm
    c = mm.counters
    return (f"{message}: Killed process {p.pid} ({p.comm}) total-vm:{_kb(mm.total_vm)}kB, "
            f"anon-rss:{_kb(int(c[MM_ANONPAGES]))}kB, file-rss:{_kb(int(c[MM_FILEPAGES]))}kB, "
            f"shmem-rss:{_kb(int(c[MM_SHMEMPAGES]))}kB, UID:0 "
            f"pgtables:{int(c[MM_PGTABLES_BYTES]) >> 10}kB oom_score_adj:{p.oom_score_adj}")


def oom_kill_process(kernel, victim, gfp, order, current, message="Out of memory"):
    """oom_kill_process + __oom_kill_process: log, count oom_kill, SIGKILL the victim.  The
    victim exits at once unless it is `current` (then when its call unwinds).  The OOM
    reaper finds nothing to reap once exit_mmap has run, so it logs nothing."""
    dump_header(kernel, gfp, order, current)
    kernel.printk("oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,"
                  f"mems_allowed=0,global_oom,task_memcg=/,task={victim.comm},"
                  f"pid={victim.pid},uid=0", KERN_INFO)
    kernel.oom_kill_count += 1                 # count_vm_event(OOM_KILL)
    victim.exit_signal = SIGKILL
    victim.oom_killed = True                   # mark_oom_victim
    kernel.printk(killed_line(victim, message), KERN_ERR)
    if victim is not current:
        kernel.exit_process(victim)


def _oom_allowed(kernel, gfp, order):
    """__alloc_pages_may_oom's gates: no OOM kill for costly orders, __GFP_RETRY_MAYFAIL,
    __GFP_NORETRY (the slow path gives up before), __GFP_THISNODE, a request below
    ZONE_NORMAL, or one that may not reclaim."""
    if order > PAGE_ALLOC_COSTLY_ORDER:
        return False
    if gfp & (G.__GFP_RETRY_MAYFAIL | G.__GFP_NORETRY | G.__GFP_THISNODE):
        return False
    if not gfp & G.__GFP_DIRECT_RECLAIM:
        return False
    names = list(kernel._zone_names)
    if "Normal" in names and G.gfp_zone(gfp, names) < names.index("Normal"):
        return False
    return True


def out_of_memory(kernel, gfp, order=0, current=None):
    """out_of_memory(): select the task with the highest badness and kill it.  True when a
    victim was killed; False for costly orders and the other requests the allocator never
    OOM-kills for, when the previous victim is still exiting, and when nothing is killable
    (Linux then panics "System is deadlocked on memory"; here the allocation fails)."""
    if current is None:
        current = getattr(kernel, "current", None)
    if not _oom_allowed(kernel, gfp, order):
        return False
    if not gfp & G.__GFP_FS:                   # does not compensate for IO-less reclaim
        return False
    if current is not None and current.oom_killed:     # task_will_free_mem(current)
        return False
    totalpages = total_pages(kernel)
    victim, _ = select_bad_process(kernel, totalpages)
    if victim is ABORT:
        return False
    if victim is None:
        dump_header(kernel, gfp, order, current)
        kernel.printk("Out of memory and no killable processes...", KERN_WARNING)
        return False
    oom_kill_process(kernel, victim, gfp, order, current)
    return True


def oom_retry(kernel, gfp, order, alloc):
    """The allocator's last resort: alloc() again after each OOM kill, while a kill frees
    memory; OutOfMemory when nothing can be killed, or when `current` itself was the victim
    (its allocation fails and the task dies on its way out)."""
    while True:
        try:
            return alloc()
        except OutOfMemory:
            current = getattr(kernel, "current", None)
            # __GFP_COMP: every folio allocation (vma_alloc_folio, filemap_alloc_folio) adds it
            if not out_of_memory(kernel, gfp | G.__GFP_COMP, order, current):
                kernel._oom_failed = True      # the fault's VM_FAULT_OOM needs no second try
                raise
            if current is not None and current.oom_killed:
                raise


def pagefault_out_of_memory(mm, addr):
    """A fault returned VM_FAULT_OOM.  A task with SIGKILL pending dies (Killed); otherwise
    the allocation that failed was a page table (the page allocator's own OOM step is
    modelled for user pages only): the OOM killer runs for it, and when it killed someone
    the fault is retried (True); else OutOfMemory."""
    kernel = mm.kernel
    current = getattr(kernel, "current", None)
    if current is not None and current.oom_killed:
        raise Killed(current.pid, addr)
    failed = getattr(kernel, "_oom_failed", False)
    kernel._oom_failed = False
    if not failed and out_of_memory(kernel, G.GFP_PGTABLE_USER, 0, current):
        if current is not None and current.oom_killed:
            raise Killed(current.pid, addr)
        return True
    raise OutOfMemory(f"page fault at 0x{addr:x}: out of memory")


# -- the task context of a Process call -----------------------------------------------------------
def no_such_process(pid):
    """The error of a call on a process that has exited (the kernel's ESRCH for a dead
    task): ProcessLookupError, an OSError with errno ESRCH."""
    return ProcessLookupError(errno.ESRCH, f"No such process: process {pid} has exited")


def task_call(method):
    """Decorate a Process method that runs in the task's context: a process the OOM killer
    has killed raises Killed, one that has exited ProcessLookupError (ESRCH); while the method runs the process is `kernel.current`; if it
    becomes the OOM victim meanwhile, it exits when the method unwinds and Killed is raised."""
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        if self.oom_killed:
            _reap_current(self)
            raise Killed(self.pid)
        if not self.alive:
            raise no_such_process(self.pid)
        kernel = self.kernel
        saved = kernel.current
        kernel.current = self
        try:
            result = method(self, *args, **kwargs)
        except BaseException as err:
            kernel.current = saved
            if self.oom_killed:
                _reap_current(self)
                if isinstance(err, Killed):
                    raise
                raise Killed(self.pid) from err
            raise
        kernel.current = saved
        if self.oom_killed:                 # the SIGKILL is taken on the way back to user space
            _reap_current(self)
            raise Killed(self.pid)
        return result
    return call


def _reap_current(p):
    """do_exit() of a killed task, once no kernel code runs on its behalf any more."""
    kernel = p.kernel
    if p.alive and kernel.current is not p:
        kernel.exit_process(p)


# -- oom_score_adj and /proc ------------------------------------------------------------------------
def check_oom_score_adj(value):
    """__set_oom_adj's range check: OSError(EINVAL) outside -1000..1000."""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(value)
        except (TypeError, ValueError, OverflowError):      # kstrtoint: not a number
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL)) from None
    if not OOM_SCORE_ADJ_MIN <= value <= OOM_SCORE_ADJ_MAX:
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
    return value


def oom_adj_from_score_adj(adj):
    """oom_adj_read: the legacy value shown for an oom_score_adj."""
    if adj == OOM_SCORE_ADJ_MAX:
        return OOM_ADJUST_MAX
    return _cdiv(adj * -OOM_DISABLE, OOM_SCORE_ADJ_MAX)


def score_adj_from_oom_adj(value):
    """oom_adj_write: OSError(EINVAL) outside -17..15, else the oom_score_adj it sets."""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(value)
        except (TypeError, ValueError, OverflowError):      # kstrtoint: not a number
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL)) from None
    if not OOM_DISABLE <= value <= OOM_ADJUST_MAX:
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
    if value == OOM_ADJUST_MAX:
        return OOM_SCORE_ADJ_MAX
    return _cdiv(value * OOM_SCORE_ADJ_MAX, -OOM_DISABLE)


def oom_init(kernel):
    """Attach the OOM killer's state to a Kernel: the oom_kill event count and the
    /proc/<pid>/oom_score, oom_score_adj and oom_adj files."""
    kernel.oom_kill_count = 0
    kernel.register_stats(lambda: {"oom_kill": kernel.oom_kill_count})

    def oom_score(pid):
        with kernel.lock:
            p = kernel._process(pid)
            total = total_pages(kernel)
            return f"{proc_oom_score(oom_badness(p, total), total)}\n"

    def oom_score_adj(pid):
        with kernel.lock:
            return f"{kernel._process(pid).oom_score_adj}\n"

    def oom_adj(pid):
        with kernel.lock:
            return f"{oom_adj_from_score_adj(kernel._process(pid).oom_score_adj)}\n"
    def check():
        from ..errors import InvariantError
        with kernel.lock:
            for p in kernel._processes.values():
                if p.oom_killed and p is not kernel.current:
                    raise InvariantError(f"OOM victim {p.pid} still listed after its call")
                if not OOM_SCORE_ADJ_MIN <= p.oom_score_adj <= OOM_SCORE_ADJ_MAX:
                    raise InvariantError(f"pid {p.pid}: oom_score_adj {p.oom_score_adj}")
    kernel._checkers.append(check)
    kernel.register_proc("/proc/<pid>/oom_score", oom_score)
    kernel.register_proc("/proc/<pid>/oom_score_adj", oom_score_adj)
    kernel.register_proc("/proc/<pid>/oom_adj", oom_adj)
