"""Pressure stall information for memory (kernel/sched/psi.c), /proc/pressure/memory.

The kernel's model: each CPU has task counts (NR_RUNNING, NR_MEMSTALL, NR_MEMSTALL_RUNNING)
and accumulates time in the states

    MEM_SOME  while tasks[NR_MEMSTALL] > 0
    MEM_FULL  while tasks[NR_MEMSTALL] > 0 and tasks[NR_RUNNING] == tasks[NR_MEMSTALL_RUNNING]

(a stalled task that is reclaiming is both running and stalled: TSK_MEMSTALL_RUNNING).  The
aggregator folds the times into `total` (ns; the file prints microseconds) and, every
psi_period = PSI_FREQ jiffies (2*HZ+1: 2.004 s at HZ=250), into the running averages
avg10/avg60/avg300 with the load-average fixed-point decay (calc_avgs, FIXED_1 = 2048).

The simulation's notion of tasks (one CPU for PSI):

* The simulated program is single-threaded: the task doing the current operation (a Process,
  or None for "the caller") is the only task running.  When it stalls (the lead's reclaim,
  refault or swap-in wraps the work in psi_memstall_enter/leave) nothing else can run, so
  **some and full both accrue**, as they do on a one-CPU machine with one busy task.
* A kernel thread named by a string (``"kswapd0"``) runs *beside* the current task: entering a
  stall makes it a running, stalled task (NR_RUNNING + 1, NR_MEMSTALL + 1), leaving takes it
  off the run queue again.  While only kswapd stalls, the user task is still running and not
  stalled: **some accrues, full does not**; if the user task also stalls (direct reclaim while
  kswapd works) full accrues too.
* Stalls nest per task (the kernel's psi_memstall_enter is nestable through PF_MEMSTALL).

Simplifications: one PSI CPU (no per-CPU weighting by non-idle time: with one CPU it divides
out); the non-idle time is not truncated to whole jiffies (the kernel drops a stall slice when
two reads of the file fall within one jiffy); the averaging work runs exactly every psi_period
(the kernel's delayed work fires up to a jiffy late and stops when the whole machine is idle);
no PSI triggers, no cgroups, no cpu/io/irq files.
"""
from contextlib import contextmanager

from .clock import HZ, NSEC_PER_SEC, NSEC_PER_USEC

FSHIFT = 11
FIXED_1 = 1 << FSHIFT
EXP_10s = 1677                   # 1/exp(2s/10s) as fixed-point
EXP_60s = 1981                   # 1/exp(2s/60s)
EXP_300s = 2034                  # 1/exp(2s/300s)
PSI_FREQ = 2 * HZ + 1            # jiffies
PSI_PERIOD_NS = PSI_FREQ * (NSEC_PER_SEC // HZ)
SOME, FULL = 0, 1


def calc_load(load, exp, active):
    """include/linux/sched/loadavg.h calc_load."""
    newload = load * exp + active * (FIXED_1 - exp)
    if active >= load:
        newload += FIXED_1 - 1
    return newload // FIXED_1


def fixed_power_int(x, frac_bits, n):
    """include/linux/math.h fixed_power_int: x**n in fixed point, rounding each step."""
    result = 1 << frac_bits
    if n:
        while True:
            if n & 1:
                result = (result * x + (1 << (frac_bits - 1))) >> frac_bits
            n >>= 1
            if not n:
                break
            x = (x * x + (1 << (frac_bits - 1))) >> frac_bits
    return result


def calc_load_n(load, exp, active, n):
    return calc_load(load, fixed_power_int(exp, FSHIFT, n), active)


def calc_avgs(avg, missed_periods, time, period):
    """kernel/sched/psi.c calc_avgs: decay avg[0..2] in place by one sampled period (and by
    missed_periods empty ones first)."""
    if missed_periods:
        avg[0] = calc_load_n(avg[0], EXP_10s, 0, missed_periods)
        avg[1] = calc_load_n(avg[1], EXP_60s, 0, missed_periods)
        avg[2] = calc_load_n(avg[2], EXP_300s, 0, missed_periods)
    pct = time * 100 // period
    pct *= FIXED_1
    avg[0] = calc_load(avg[0], EXP_10s, pct)
    avg[1] = calc_load(avg[1], EXP_60s, pct)
    avg[2] = calc_load(avg[2], EXP_300s, pct)


def load_int(x):
    return x >> FSHIFT


def load_frac(x):
    return load_int((x & (FIXED_1 - 1)) * 100)


class PsiGroup:
    """psi_system, memory states only."""

    def __init__(self, now=0):
        self.stalled = {}                 # task key -> nesting depth
        self.nr_running = 1               # the current task
        self.nr_memstall = 0
        self.nr_memstall_running = 0
        self.state_start = now
        self.times = [0, 0]               # ns accumulated in SOME, FULL (record_times)
        self.avg_total = [0, 0]
        self.avg = [[0, 0, 0], [0, 0, 0]]
        self.avg_last_update = now
        self.avg_next_update = now + PSI_PERIOD_NS

    def state(self):
        some = self.nr_memstall > 0
        full = some and self.nr_running == self.nr_memstall_running
        return some, full

    def record_times(self, now):
        delta = now - self.state_start
        self.state_start = now
        if delta <= 0:
            return
        some, full = self.state()
        if some:
            self.times[SOME] += delta
        if full:
            self.times[FULL] += delta

    def total(self, now):
        """group->total[PSI_AVGS] as collect_percpu_times leaves it at `now` (ns)."""
        some, full = self.state()
        delta = max(now - self.state_start, 0)
        return [self.times[SOME] + (delta if some else 0),
                self.times[FULL] + (delta if full else 0)]

    def update_averages(self, now):
        """kernel/sched/psi.c update_averages; returns the next update time."""
        missed_periods = 0
        expires = self.avg_next_update
        if now - expires >= PSI_PERIOD_NS:
            missed_periods = (now - expires) // PSI_PERIOD_NS
        avg_next_update = expires + (1 + missed_periods) * PSI_PERIOD_NS
        period = now - (self.avg_last_update + missed_periods * PSI_PERIOD_NS)
        self.avg_last_update = now
        totals = self.total(now)
        for s in (SOME, FULL):
            sample = (totals[s] - self.avg_total[s]) & 0xFFFFFFFF       # u32 sample
            if sample > period:
                sample = period
            self.avg_total[s] += sample
            calc_avgs(self.avg[s], missed_periods, sample, period)
        return avg_next_update

    def idle_since_update(self, now):
        """No stall since the last update and every average already 0: ticks change nothing."""
        totals = self.total(now)
        return (totals == self.avg_total and not any(self.avg[0]) and not any(self.avg[1])
                and self.nr_memstall == 0)


def psi_init(kernel):
    kernel.psi = PsiGroup(kernel.now)
    kernel.register_proc("/proc/pressure/memory", lambda: psi_show(kernel))


def psi_avgs_work(kernel, now, horizon=None):
    """The averaging tick due at group.avg_next_update (kernel.now == now).  When nothing
    stalled since the last tick and the averages are 0, every tick up to `horizon` (the time the
    clock is moving to) would change nothing: they are taken at once."""
    group = kernel.psi
    if group.idle_since_update(now):
        periods = (max(now, horizon or now) - group.avg_next_update) // PSI_PERIOD_NS + 1
        group.avg_last_update = group.avg_next_update + (periods - 1) * PSI_PERIOD_NS
        group.avg_next_update += periods * PSI_PERIOD_NS
        return
    group.avg_next_update = group.update_averages(now)


def psi_show(kernel):
    """/proc/pressure/memory (psi_show: some and full lines)."""
    group = kernel.psi
    now = kernel.now
    if now >= group.avg_next_update:
        group.avg_next_update = group.update_averages(now)
        from .clock import rearm
        rearm(kernel)
    totals = group.total(now)
    out = []
    for full in (0, 1):
        avg = group.avg[full]
        out.append(f"{'full' if full else 'some'} "
                   f"avg10={load_int(avg[0])}.{load_frac(avg[0]):02d} "
                   f"avg60={load_int(avg[1])}.{load_frac(avg[1]):02d} "
                   f"avg300={load_int(avg[2])}.{load_frac(avg[2]):02d} "
                   f"total={totals[full] // NSEC_PER_USEC}\n")
    return "".join(out)


def _key(task):
    if task is None or isinstance(task, str):
        return task
    return getattr(task, "pid", task)


def psi_memstall_enter(kernel, task=None):
    """The task starts a memory stall (reclaim, a refault's wait, swap-in).  task: a Process or
    None (the current, running task), or a kernel thread's name ("kswapd0"), which becomes
    runnable for the stall's duration.  Nestable."""
    group = kernel.psi
    key = _key(task)
    depth = group.stalled.get(key, 0)
    group.stalled[key] = depth + 1
    if depth:
        return
    group.record_times(kernel.now)
    if isinstance(key, str):
        group.nr_running += 1
    group.nr_memstall += 1
    group.nr_memstall_running += 1


def psi_memstall_leave(kernel, task=None):
    """The matching end of psi_memstall_enter(kernel, task); ValueError without one."""
    group = kernel.psi
    key = _key(task)
    depth = group.stalled.get(key, 0)
    if not depth:
        raise ValueError(f"psi_memstall_leave without psi_memstall_enter for {task!r}")
    if depth > 1:
        group.stalled[key] = depth - 1
        return
    del group.stalled[key]
    group.record_times(kernel.now)
    if isinstance(key, str):
        group.nr_running -= 1
    group.nr_memstall -= 1
    group.nr_memstall_running -= 1


@contextmanager
def memstall(kernel, task=None):
    """``with memstall(k, p): charge(k, "swap_in")``: the time charged inside is stall time."""
    psi_memstall_enter(kernel, task)
    try:
        yield
    finally:
        psi_memstall_leave(kernel, task)
