"""Simulated time: ``kernel.now``, nanoseconds since boot (an int), and the timers it drives.

Nothing in the simulation sleeps on the host.  Time moves when the simulated machine does work
that costs time, by a fixed cost per kind of operation (``COSTS``, copied per kernel as
``kernel.costs`` so a test or a user can change them), or when it is told to let time pass
(``k.advance(ns)``, ``k.sleep(seconds)``).  The timers that hang on the clock run when it passes
them, in time order: the PSI averaging tick (every PSI_FREQ, linuxmm/vm/psi.py) and the flusher
(its periodic wake-up every dirty_writeback_centisecs and the progress of its I/O at the disk's
bandwidth, linuxmm/vm/writeback.py).

The costs (ns).  The host numbers were measured on the development machine (Linux 6.18, x86_64
under a hypervisor); the disk is an assumed NVMe-class SSD: 100 us per request, 1000 MB/s.

| kind | ns | what |
|---|---|---|
| ``minor_fault`` | 1270 | a page fault that needs no I/O (measured: a C loop writing one byte per page of a fresh 256 MiB anonymous mapping, best of 5 runs, 1273 ns per fault: entry, page allocation and zeroing, PTE) |
| ``major_fault`` | 100000 | the I/O request a major fault waits for (one disk request's latency); the pages it reads are charged ``page_read`` each |
| ``page_read`` | 4096 | one 4 KiB page read from the disk at 1000 MB/s (every page the page cache reads: fault read-around, read(2), readahead; async readahead is not overlapped with the reader) |
| ``page_write`` | 4096 | one 4 KiB page written to the disk at 1000 MB/s (the flusher's pace; fsync, sync and throttled writers wait for it) |
| ``reclaim_scan`` | 200 | one folio looked at by shrink_folio_list (for the reclaim code) |
| ``swap_out`` | 4096 | one page written to swap |
| ``swap_in`` | 104096 | one page read back from swap by a fault (request latency + the page) |

Hot paths stay cheap: the bulk access loop counts its faults in C and the time is charged once
per call from the counter deltas; ``advance`` itself is an addition and one comparison unless a
timer is due.
"""
import math

from .. import _args
from ..errors import ArgumentTypeError

NSEC_PER_SEC = 1_000_000_000
NSEC_PER_USEC = 1000
HZ = 250                          # CONFIG_HZ of the reference kernels (jiffies for PSI_FREQ)
DISK_LATENCY_NS = 100_000
DISK_MB_PER_S = 1000
PAGE_IO_NS = 4096 * 1000 // DISK_MB_PER_S      # 4096 ns per 4 KiB page
MINOR_FAULT_NS = 1270

COSTS = {
    "minor_fault": MINOR_FAULT_NS,
    "major_fault": DISK_LATENCY_NS,
    "page_read": PAGE_IO_NS,
    "page_write": PAGE_IO_NS,
    "reclaim_scan": 200,
    "swap_out": PAGE_IO_NS,
    "swap_in": DISK_LATENCY_NS + PAGE_IO_NS,
}

NEVER = 1 << 62                   # a timer that is not armed


def clock_init(kernel):
    """Boot at time 0 with the default costs; the timers register themselves."""
    kernel.now = 0
    kernel.costs = dict(COSTS)
    kernel._next_event = NEVER
    kernel._in_timers = False


def advance(kernel, ns):
    """Let ns nanoseconds of simulated time pass (running every timer that falls due, in time
    order).  ValueError for a negative ns."""
    target = kernel.now + ns
    if ns < 0:
        raise ValueError(f"time cannot go backwards (advance by {ns} ns)")
    if target >= NEVER:         # an unarmed timer's time: beyond it every timer would be due
        raise ValueError(f"simulated time ends at 2**62 ns (146 years): cannot advance by "
                         f"{ns} ns from {kernel.now}")
    if target >= kernel._next_event and not kernel._in_timers:
        run_timers(kernel, target)
    else:
        kernel.now = target


def charge(kernel, kind, n=1):
    """Advance the clock by n operations of `kind` (a key of kernel.costs; None: nothing);
    returns the ns."""
    if kind is None:
        return 0
    ns = kernel.costs[kind] * n
    if ns:
        advance(kernel, ns)
    return ns


def sleep(kernel, seconds):
    """Idle time: `seconds` (int or float) of simulated time pass, rounded to the ns."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise ArgumentTypeError(f"seconds must be a number, got {type(seconds).__name__}")
    ns = seconds * NSEC_PER_SEC
    if not math.isfinite(ns):
        raise ValueError(f"seconds must be a finite time, got {seconds}")
    ns = round(ns)
    advance(kernel, ns)


def run_timers(kernel, target):
    """Move the clock to `target` through every timer due on the way (PSI ticks, the flusher's
    wake-ups and I/O), each run with kernel.now at its own due time."""
    from . import psi, writeback
    kernel._in_timers = True
    try:
        group = kernel.psi
        wb = kernel.wb
        while True:
            due = min(group.avg_next_update, wb.next_wakeup, writeback.next_io(kernel))
            if due > target:
                break
            kernel.now = max(kernel.now, due)
            writeback.wb_progress(kernel, kernel.now)
            if group.avg_next_update <= kernel.now:
                psi.psi_avgs_work(kernel, kernel.now, target)
            if wb.next_wakeup <= kernel.now:
                wb.next_wakeup = NEVER
                writeback.wb_workfn(kernel)
        kernel.now = target
        writeback.wb_progress(kernel, target)
    finally:
        kernel._in_timers = False
        rearm(kernel)


def rearm(kernel):
    """Recompute the earliest armed timer (call after arming or disarming one)."""
    from . import writeback
    kernel._next_event = min(kernel.psi.avg_next_update, kernel.wb.next_wakeup,
                             writeback.next_io(kernel))


def as_ns(value, name):
    value = _args.as_int(value, name)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value
