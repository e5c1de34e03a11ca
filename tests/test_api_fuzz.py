"""Issue 11: a stateful fuzzer over the whole public API, valid and invalid arguments mixed.

One Hypothesis RuleBasedStateMachine per backend drives a small Kernel (zones, pcp, slab,
kmalloc, processes with mmap & co., faults, files and the page cache, swap, reclaim,
compaction, sysctls, /proc, snapshots) and, beside it, a bare BuddyAllocator, PageAllocator
and SlabAllocator.  Its rules send what a careless or hostile caller sends: negative, huge
(2**63, 2**64), misaligned and kernel-space values, bools, floats, strings, None and numpy
scalars, freed pfns and objects, destroyed caches, objects of another cache, exited
processes, lengths that overflow.  For every call:

- it succeeds or raises a documented exception (README "Guarantees"): a ValueError
  (ArgumentTypeError, InvalidFree, SysctlError, SnapshotError included), OSError with an
  errno, OutOfMemory, CacheInUse, or the signal a process would get (SegmentationFault,
  BusError, Killed).  Never a bare TypeError, IndexError, KeyError, OverflowError,
  AttributeError, an InvariantError or a crash;
- a refused call (a wrong argument, not a resource running out or a signal) changes nothing:
  a digest of free pages per zone and per order, pcp counts, /proc/meminfo, /proc/slabinfo,
  the commit charge, the live processes' maps and the bare allocators' free lists is the
  same before and after;
- data written into a process reads back, in the child of a fork too;
- and after every step k.check() and the bare allocators' check() hold.

What the differential tests already hold (C and reference agree on the int-like arguments of
the allocators, tests/test_refused_calls_props.py, and of the VM calls, tests/test_vm_misuse.py)
is not repeated: this file reuses their argument strategy and adds state (freed and foreign
objects, dead processes, files, swap areas) and the calls they leave out.  The examples found
are in tests/test_input_regressions.py.

Size: HYPOTHESIS_PROFILE scales it (a quarter of the profile's max_examples per backend, 40
steps each): ci 50 runs of each backend (~25 s in all), expensive 500.
"""
import errno
import operator
import os
import signal
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import linuxmm
import linuxmm.reference
from linuxmm import gfp as G
from linuxmm.errors import InvariantError, MMError
from linuxmm.slab import CacheInUse
from test_refused_calls_props import int_like

P = 4096
RW = linuxmm.PROT_READ | linuxmm.PROT_WRITE
ANON = linuxmm.MAP_PRIVATE | linuxmm.MAP_ANONYMOUS
KERNEL_SPACE = 0xffff800000000000
DIRECT_MAP = 0xffff888000000000
U64 = 2**64 - 1

# -- arguments --------------------------------------------------------------------------------
HOSTILE = st.sampled_from([-1, -P, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**100, -(2**63),
                           KERNEL_SPACE, DIRECT_MAP, 0xffffffffff600000, 1, P - 1, P + 1,
                           np.int64(-1), np.uint64(2**64 - 1), np.uint64(2**63),
                           np.int64(2**63 - 1), np.bool_(True), np.bool_(False), True, False,
                           1.0, 0.5, float("nan"), float("inf"), np.float64(P), None, "4096",
                           "x", b"\x01", [1], (), object()])


def arg(typical):
    """Mostly typical values, sometimes the careless caller's (int_like: edge ints, numpy
    integers, bools, floats, None, strings), sometimes the hostile one's."""
    return st.one_of(int_like(typical), int_like(typical), HOSTILE)


ORDER = arg(st.integers(0, 4))
CPU = arg(st.integers(0, 1))
COUNT = arg(st.integers(0, 64))
GFP = arg(st.sampled_from([G.GFP_KERNEL, G.GFP_ATOMIC, G.GFP_NOWAIT, G.GFP_DMA,
                           G.GFP_DMA32, G.GFP_HIGHUSER_MOVABLE, G.GFP_KERNEL | G.__GFP_ZERO,
                           G.GFP_KERNEL | G.__GFP_NOWARN | G.__GFP_NORETRY, 0]))
SIZE = arg(st.integers(0, 3 * P))
PROT = arg(st.sampled_from([0, 1, 3, 5, 7, 0x01000000, 0x02000000]))
MFLAGS = arg(st.sampled_from([ANON, ANON | linuxmm.MAP_FIXED, ANON | 0x20000,
                              linuxmm.MAP_SHARED | linuxmm.MAP_ANONYMOUS, linuxmm.MAP_PRIVATE,
                              linuxmm.MAP_SHARED, ANON | linuxmm.MAP_POPULATE, 0]))
ADVICE = arg(st.sampled_from([0, 1, 2, 3, 4, 8, 9, 10, 14, 15, 20, 21, 25, 100]))

SYSCTLS = ["min_free_kbytes", "watermark_scale_factor", "percpu_pagelist_high_fraction",
           "max_map_count", "overcommit_memory", "overcommit_ratio", "admin_reserve_kbytes",
           "user_reserve_kbytes", "swappiness", "page_cluster", "extfrag_threshold",
           "compact_unevictable_allowed", "dirty_ratio", "dirty_background_ratio",
           "dirty_bytes", "dirty_background_bytes", "dirty_expire_centisecs",
           "dirty_writeback_centisecs", "randomize_va_space", "transparent_hugepage",
           "lowmem_reserve_ratio"]
PROC = ["/proc/meminfo", "/proc/vmstat", "/proc/zoneinfo", "/proc/buddyinfo",
        "/proc/pagetypeinfo", "/proc/slabinfo", "/proc/swaps", "/proc/pressure/memory",
        "/proc/{pid}/maps", "/proc/{pid}/smaps", "/proc/{pid}/smaps_rollup",
        "/proc/{pid}/status", "/proc/{pid}/statm", "/proc/{pid}/oom_score",
        "/proc/{pid}/oom_score_adj", "/proc/99999/maps", "/proc/-1/maps", "/proc/x/maps",
        "/proc/1/", "/proc/", "", "/proc/meminfo/", "/proc/\x00", "/proc/\u0661/maps",
        "/proc/1/../meminfo", "/sys/kernel/debug/extfrag/extfrag_index"]


# -- what a call may raise --------------------------------------------------------------------
SIGNALS = (linuxmm.SegmentationFault, linuxmm.BusError, linuxmm.Killed)


def documented(err):
    """The exceptions the README promises (see the module docstring)."""
    if isinstance(err, InvariantError) and not isinstance(err, linuxmm.InvalidFree):
        return False                        # only check() may say the state is broken
    if isinstance(err, (MMError, CacheInUse)):
        return True
    if isinstance(err, OSError):
        return isinstance(err.errno, int) and err.errno > 0
    if isinstance(err, MemoryError):        # the host's memory, checked before anything changes
        return "MemAvailable" in str(err) or str(err).startswith("cannot allocate")
    if isinstance(err, (TypeError, LookupError, ArithmeticError, AttributeError, UnicodeError,
                        AssertionError, RecursionError)):
        return False
    return isinstance(err, ValueError)


def changes_state(err):
    """A failure that may legitimately have changed the machine: a resource ran out (reclaim,
    OOM kill, compaction ran first), a signal stopped an access part way, or a range system
    call applied to part of its range before meeting a hole, as Linux's do."""
    if isinstance(err, (linuxmm.OutOfMemory,) + SIGNALS):
        return True
    return isinstance(err, OSError) and err.errno in (errno.ENOMEM, errno.EAGAIN, errno.EFAULT)


TIME_BOUND = 10.0                   # seconds: a call that takes longer is a hang


class TimeBound(BaseException):
    """SIGALRM: a call ran past TIME_BOUND."""


def _alarm(signum, frame):
    raise TimeBound()


class Refused(Exception):
    """The call raised a documented exception (the rule goes on without its result)."""


# -- the machine ------------------------------------------------------------------------------
class ApiFuzz(RuleBasedStateMachine):
    backend = "c"

    def __init__(self):
        super().__init__()
        signal.signal(signal.SIGALRM, _alarm)
        mod = linuxmm if self.backend == "c" else linuxmm.reference
        self.mod = mod
        self.k = linuxmm.Kernel("48M", swap="8M", cpus=2, backend=self.backend)
        self.b = mod.BuddyAllocator(512, max_order=6)
        self.pa = mod.PageAllocator([("DMA", 0, 1024), ("Normal", 1024, 2048)], cpus=2,
                                    max_order=6, pageblock_order=4)
        self.pa.free_boot_range(1, 3072)
        self.sa = mod.SlabAllocator(mod.BuddyAllocator(1024, max_order=6))
        self.pages, self.freed_pages = [], []           # (pfn, order) of k
        self.blocks, self.freed_blocks = [], []         # (pfn, order) of b
        self.pa_blocks = []                             # (pfn, order) of pa
        self.kmallocs, self.freed_kmallocs = [], []
        self.caches, self.dead_caches = [], []          # [cache, objects]
        self.sa_objs = []                               # (cache or None for kmalloc, addr)
        self.sa_caches = []
        self.procs, self.dead = [], []                  # [process, [(addr, len)], sentinel]
        self.files = []
        self.swaps = []
        self.procs.append(self._new_process("init"))

    # -- helpers ---------------------------------------------------------------------------------
    def digest(self):
        k = self.k
        zones = [(k._pa.nr_free_pages(i), tuple(k._pa.nr_free(i)),
                  tuple(k._pa.pcp_count(i, c) for c in range(k.cpus)))
                 for i in range(len(k._zone_names))]
        maps = [(p.pid, k.read(f"/proc/{p.pid}/maps")) for p, _, _ in self.procs if p.alive]
        pa = [(self.pa.nr_free_pages(i), tuple(self.pa.nr_free(i))) for i in range(2)]
        return (zones, k.read("/proc/meminfo"), k.read("/proc/slabinfo"), k.vm_committed_as,
                k.read("/proc/swaps"), maps, self.b.free_pages, tuple(self.b.nr_free), pa,
                self.sa.page_source.free_pages, self.sa.slabinfo(), len(k.processes))

    def call(self, fn, *args, _digest=None, **kwargs):
        """fn(*args): its result, or Refused after checking that the exception is documented
        and that a refusal left the digest (or the part _digest takes of it) unchanged."""
        digest = self.digest if _digest is None else lambda: _digest(self.digest())
        before = digest()
        signal.setitimer(signal.ITIMER_REAL, TIME_BOUND)
        try:
            return fn(*args, **kwargs)
        except TimeBound:
            raise AssertionError(f"{fn!r}{args!r}{kwargs!r} took over {TIME_BOUND} s") from None
        except Exception as err:            # noqa: BLE001 - every exception is judged here
            assert documented(err), f"{fn!r}{args!r}{kwargs!r} raised {err!r}"
            if not changes_state(err):
                assert digest() == before, f"refused {fn!r}{args!r} changed the state"
            raise Refused() from err
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _new_process(self, name):
        p = self.k.spawn(name)
        sentinel = p.mmap(0, P, RW, ANON)
        p.write(sentinel, b"sentinel%d" % p.pid)
        return [p, [(sentinel, P)], sentinel]

    @staticmethod
    def pick(data, seq):
        """One element of seq, or a value that names nothing."""
        return data.draw(st.one_of(st.sampled_from(seq), HOSTILE) if seq else HOSTILE)

    def addr_in(self, data, entry):
        """An address near one of the process's mappings (or anywhere, sometimes)."""
        regions = entry[1]
        base, length = data.draw(st.sampled_from(regions)) if regions else (0, P)
        return data.draw(st.one_of(
            st.integers(0, max(length // P, 1) + 2).map(lambda i: base + i * P),
            st.integers(0, length + 2 * P).map(lambda i: base + i),
            arg(st.just(base))))

    def forget(self, addrs):
        """Freed objects: no longer held by whichever list held them."""
        gone = set(addrs)
        self.kmallocs = [a for a in self.kmallocs if a not in gone]
        self.freed_kmallocs = (self.freed_kmallocs + list(gone))[-64:]
        for entry in self.caches:
            entry[1] = [a for a in entry[1] if a not in gone]

    @staticmethod
    def may_change(entry, addr, length):
        """A call on [addr, addr + length) may change the sentinel's page: stop checking it."""
        if entry[2] is None:
            return
        try:
            addr, length = operator.index(addr) & U64, operator.index(length) & U64
        except TypeError:
            return                          # refused without a change (ArgumentTypeError)
        if addr < entry[2] + P and entry[2] < addr + max(length, 1) or addr + length > U64:
            entry[2] = None

    def length(self, data):
        return data.draw(arg(st.integers(0, 8).map(lambda n: n * P)))

    # -- physical pages ------------------------------------------------------------------------
    @rule(data=st.data())
    def alloc_pages(self, data):
        gfp, order, cpu = data.draw(GFP), data.draw(ORDER), data.draw(CPU)
        try:
            pfn = self.call(self.k.alloc_pages, gfp, order, cpu)
        except Refused:
            return
        assert type(pfn) is int
        self.pages.append((pfn, int(order)))
        self.freed_pages = [(p, o) for p, o in self.freed_pages if p != pfn]

    @rule(data=st.data())
    def free_pages(self, data):
        known = self.pages + self.freed_pages
        pfn, order = data.draw(st.sampled_from(known)) if known and data.draw(st.booleans()) \
            else (data.draw(arg(st.integers(0, 12288))), 0)
        if data.draw(st.booleans()):
            order = data.draw(ORDER)
        try:
            self.call(self.k.free_pages, pfn, order, data.draw(CPU))
        except Refused:
            return
        self.pages.remove((pfn, order))
        self.freed_pages = (self.freed_pages + [(pfn, order)])[-64:]

    @rule(data=st.data())
    def pages_bulk(self, data):
        try:
            pfns = self.call(self.k.alloc_pages_bulk, data.draw(GFP), data.draw(COUNT),
                             data.draw(CPU))
        except Refused:
            return
        held = pfns.tolist()
        extra = data.draw(st.lists(st.one_of(st.sampled_from([p for p, o in self.freed_pages]
                                                              or [0]), HOSTILE), max_size=2))
        if extra:                           # a freed or bogus entry: all or nothing
            try:
                self.call(self.k.free_pages_bulk, held + extra)
            except Refused:
                pass
            else:
                raise AssertionError(f"free_pages_bulk with {extra!r} succeeded")
        self.call(self.k.free_pages_bulk, np.asarray(held, dtype=np.int64))

    @rule(data=st.data())
    def page_views(self, data):
        pfn = self.pick(data, [p for p, _ in self.pages + self.freed_pages])
        for fn in (self.k.page, self.k.kmap, self.k.page_address):
            try:
                self.call(fn, pfn)
            except Refused:
                pass
        for fn in (self.k.virt_to_page, self.k.ksize):
            try:
                self.call(fn, data.draw(st.one_of(HOSTILE, st.sampled_from(
                    self.kmallocs or [DIRECT_MAP]))))
            except Refused:
                pass
        try:
            self.call(self.k.drain_pages, data.draw(st.one_of(st.none(), CPU)))
        except Refused:
            pass

    @rule(data=st.data())
    def kernel_misc(self, data):
        k = self.k
        pfn = self.pick(data, [p for p, _ in self.pages + self.freed_pages])
        cpu = data.draw(CPU)
        how = data.draw(st.sampled_from(["kmap", "kmap_local", "rmap", "zonelist", "zone",
                                         "slabtop", "printk", "compact_memory", "ksize",
                                         "krealloc_foreign", "advance", "zone_views",
                                         "register_proc", "create_device"]))
        zone = data.draw(st.sampled_from(k.zones))
        order = data.draw(ORDER)
        calls = {
            "kmap": [(k.kmap, (pfn,)), (k.kunmap, (pfn,))],
            "kmap_local": [(k.kmap_local_page, (pfn, cpu)),
                           (k.kunmap_local, (data.draw(st.one_of(HOSTILE, st.just(DIRECT_MAP))),
                                             cpu))],
            "rmap": [(k.rmap, (pfn,))],
            "zonelist": [(k.zonelist, (data.draw(GFP),))],
            "zone": [(k.zone, (data.draw(st.one_of(st.sampled_from(["DMA", "Normal", "x"]),
                                                   HOSTILE)),))],
            "slabtop": [(k.slabtop, (data.draw(st.one_of(st.sampled_from(["objs", "name"]),
                                                         HOSTILE)),
                                     data.draw(st.one_of(st.none(), COUNT))))],
            "printk": [(k.printk, ("fuzz", data.draw(arg(st.integers(0, 7))))),
                       (k.dmesg, (data.draw(st.one_of(st.none(), arg(st.integers(0, 7)))),))],
            "compact_memory": [(k.compact_memory, ())],
            "ksize": [(k.ksize, (self.pick(data, self.kmallocs + self.freed_kmallocs),))],
            "krealloc_foreign": [(k.krealloc, (self.pick(data, [a for _, h in self.caches
                                                                for a in h]), 100))],
            "advance": [(k.advance, (data.draw(arg(st.integers(0, 10**10))),))],
            "zone_views": [(zone.unusable_index, (order,)), (zone.fragmentation_index, (order,)),
                           (zone.pcp_count, (cpu,)), (zone.pcp_high, (cpu,)),
                           (zone.nr_free_type, (data.draw(arg(st.integers(0, 6))),))],
            "register_proc": [(k.register_proc, (data.draw(st.sampled_from(["/proc/fz", 5])),
                                                 data.draw(st.one_of(HOSTILE,
                                                                     st.just(lambda: "fz\n"))))),
                              (k.read, ("/proc/fz",))],
            "create_device": [(k.create_device, (data.draw(st.sampled_from(["/dev/fz", None])),
                                                 data.draw(HOSTILE)))],
        }[how]
        for fn, args in calls:
            try:
                result = self.call(fn, *args)
            except Refused:
                continue
            if how == "krealloc_foreign" and result not in (args[0], 0, 16):
                self.forget([args[0]])
                self.kmallocs.append(result)

    # -- kmalloc and caches ----------------------------------------------------------------------
    @rule(data=st.data())
    def kmalloc(self, data):
        try:
            addr = self.call(self.k.kmalloc, data.draw(arg(st.integers(0, 9000))),
                             data.draw(GFP))
        except Refused:
            return
        self.kmallocs.append(addr)

    @rule(data=st.data())
    def kfree(self, data):
        objs = [o for _, held in self.caches for o in held]
        addr = self.pick(data, self.kmallocs + self.freed_kmallocs + objs)
        try:
            self.call(self.k.kfree, addr)
        except Refused:
            return
        self.forget([addr])                 # (kfree of a cache's object is allowed, as SLUB)

    @rule(data=st.data())
    def krealloc(self, data):
        addr = self.pick(data, self.kmallocs + self.freed_kmallocs + [None, 0])
        try:
            new = self.call(self.k.krealloc, addr, data.draw(arg(st.integers(0, 9000))))
        except Refused:
            return
        if addr in self.kmallocs:
            self.kmallocs.remove(addr)
        if new not in (0, 16, None):
            self.kmallocs.append(new)

    @precondition(lambda self: len(self.caches) < 4)
    @rule(data=st.data())
    def cache_create(self, data):
        name = data.draw(st.one_of(st.sampled_from(["fz", "fz2", "fz_obj"]),
                                   st.sampled_from(["", "a b", None, 5, b"x", "x" * 300])))
        kwargs = {}
        if data.draw(st.booleans()):
            kwargs["align"] = data.draw(arg(st.sampled_from([0, 8, 64, 3, 8192])))
        if data.draw(st.booleans()):
            kwargs["flags"] = data.draw(arg(st.sampled_from(
                [0, linuxmm.SLAB_HWCACHE_ALIGN, linuxmm.SLAB_POISON, linuxmm.SLAB_RED_ZONE,
                 linuxmm.SLAB_TYPESAFE_BY_RCU, 1 << 40])))
        if data.draw(st.booleans()):
            kwargs["ctor"] = data.draw(st.sampled_from([None, 5, "ctor", lambda addr: None]))
        try:
            c = self.call(self.k.kmem_cache_create, name, data.draw(arg(st.integers(1, 5000))),
                          **kwargs)
        except Refused:
            return
        for entry in self.caches:
            if entry[0] is c:
                return                      # merged with one we hold
        self.caches.append([c, []])

    @precondition(lambda self: self.caches)
    @rule(data=st.data())
    def cache_alloc(self, data):
        entry = data.draw(st.sampled_from(self.caches))
        c = entry[0]
        if data.draw(st.booleans()):
            try:
                entry[1].append(self.call(c.alloc, data.draw(GFP)))
            except Refused:
                pass
            return
        try:
            entry[1] += self.call(c.alloc_bulk, data.draw(COUNT)).tolist()
        except Refused:
            pass

    @precondition(lambda self: self.caches)
    @rule(data=st.data())
    def cache_free(self, data):
        entry = data.draw(st.sampled_from(self.caches))
        c, held = entry
        foreign = [o for e in self.caches if e is not entry for o in e[1]]
        addr = self.pick(data, held + foreign + self.kmallocs + self.freed_kmallocs)
        if data.draw(st.booleans()):
            try:
                self.call(c.free, addr)
            except Refused:
                return
            self.forget([addr])             # (a merged cache frees what its aliases hold)
            return
        batch = held[:data.draw(st.integers(0, len(held)))]
        if data.draw(st.booleans()):
            batch = batch + [addr]
        try:
            self.call(c.free_bulk, batch)
        except Refused:
            return
        self.forget(batch)

    @precondition(lambda self: self.caches or self.dead_caches)
    @rule(data=st.data())
    def cache_destroy_or_dead(self, data):
        entry = data.draw(st.sampled_from(self.caches + self.dead_caches))
        c, held = entry
        if entry in self.dead_caches or data.draw(st.booleans()):
            for fn, args in ((c.alloc, ()), (c.free, (self.pick(data, held or [DIRECT_MAP]),)),
                             (c.alloc_bulk, (2,)), (c.shrink, ()), (c.destroy, ())):
                try:
                    self.call(fn, *args)
                except Refused:
                    continue
                assert entry not in self.dead_caches, f"{fn!r} worked on a destroyed cache"
            return
        if data.draw(st.booleans()):
            try:
                self.call(c.free_bulk, list(held))
            except Refused:
                return
            held.clear()
        try:
            self.call(self.k.kmem_cache_destroy, c)
        except Refused as r:
            assert held or isinstance(r.__cause__, CacheInUse), repr(r.__cause__)
            return
        if c.alive:
            return                          # one reference of a merged cache dropped
        self.caches.remove(entry)
        self.dead_caches.append(entry)

    # -- processes -----------------------------------------------------------------------------
    @precondition(lambda self: len(self.procs) < 4)
    @rule(data=st.data())
    def spawn_or_fork(self, data):
        if data.draw(st.booleans()):
            name = data.draw(st.one_of(st.sampled_from(["a", "x" * 40]), HOSTILE))
            try:
                p = self.call(self.k.spawn, name)
            except Refused:
                return
            self.procs.append([p, [], None])
            return
        parent = data.draw(st.sampled_from(self.procs + self.dead))
        try:
            child = self.call(parent[0].fork)
        except Refused:
            return
        assert parent in self.procs
        entry = [child, list(parent[1]), parent[2]]
        if parent[2] is not None:
            want = b"sentinel%d" % parent[0].pid
            assert child.read(parent[2], len(want)) == want
            entry[2] = None                 # the child's own writes may go there
        self.procs.append(entry)

    @precondition(lambda self: self.procs)
    @rule(data=st.data())
    def exit_or_exec(self, data):
        entry = data.draw(st.sampled_from(self.procs))
        p = entry[0]
        how = data.draw(st.sampled_from(["exit", "exit_process", "bad_exit", "execve"]))
        if how == "bad_exit":
            other = linuxmm.Kernel("64M", backend=self.backend).spawn("other")
            for bad in (None, 1, other, "p"):
                try:
                    self.call(self.k.exit_process, bad)
                    raise AssertionError(f"exit_process({bad!r}) returned")
                except Refused:
                    pass
            return
        if how == "execve":
            path = data.draw(st.sampled_from(["/usr/bin/true", "/no/such", "/etc/hostname",
                                              None, 5, "", "/proc/meminfo"]))
            argv = data.draw(st.sampled_from([["true"], None, [1], "true", [b"x"]]))
            try:
                # reading the file's header may have brought it into the page cache: the
                # address spaces, the commit charge and the process table are what must stay
                self.call(p.execve, path, argv, data.draw(st.sampled_from([[], None, [5]])),
                          _digest=lambda d: (d[3], d[5], d[-1]))
            except Refused:
                return
            entry[1][:] = []
            entry[2] = None
            return
        self.call(p.exit if how == "exit" else lambda: self.k.exit_process(p))
        assert not p.alive
        self.procs.remove(entry)
        self.dead.append(entry)

    @precondition(lambda self: len(self.procs) < 5)
    @rule(data=st.data())
    def memory_hog(self, data):
        """A process touches more than RAM and swap hold: reclaim, swap, then the OOM killer
        takes someone (its victim's later calls raise Killed)."""
        try:
            hog = [self.call(self.k.spawn, "hog"), [], None]     # (OutOfMemory: no PGD page)
        except Refused:
            return
        self.procs.append(hog)
        size = data.draw(st.sampled_from([8 << 20, 32 << 20, 50 << 20, 96 << 20]))
        try:
            addr = self.call(hog[0].mmap, 0, size, RW, ANON)     # (ENOMEM beyond RAM + swap)
            hog[1].append((addr, size))
            self.call(hog[0].touch_range, addr, size, True)
        except Refused:
            pass

    @precondition(lambda self: self.dead)
    @rule(data=st.data())
    def calls_on_dead(self, data):
        p = data.draw(st.sampled_from(self.dead))[0]
        name = data.draw(st.sampled_from(["mmap", "munmap", "touch", "read", "write", "fork",
                                          "brk", "mlockall", "syscall", "oom"]))
        fn = {"mmap": lambda: p.mmap(0, P, RW, ANON), "munmap": lambda: p.munmap(0, P),
              "touch": lambda: p.touch(0), "read": lambda: p.read(0, 1),
              "write": lambda: p.write(0, b"x"), "fork": p.fork, "brk": lambda: p.brk(0),
              "mlockall": lambda: p.mlockall(1), "syscall": lambda: p.syscall(12, 0),
              "oom": lambda: setattr(p, "oom_score_adj", 5)}[name]
        try:
            self.call(fn)
        except Refused as r:
            assert isinstance(r.__cause__, (ProcessLookupError, linuxmm.Killed)), r.__cause__
            return
        assert name == "oom", f"{name} on an exited process returned"

    @precondition(lambda self: self.procs)
    @rule(data=st.data())
    def mmap(self, data):
        entry = data.draw(st.sampled_from(self.procs))
        p = entry[0]
        addr = data.draw(st.one_of(st.just(0), st.just(None), st.builds(
            lambda e: self.addr_in(data, e), st.just(entry))))
        length = self.length(data)
        prot, flags = data.draw(PROT), data.draw(MFLAGS)
        args = [addr, length, prot, flags]
        self.may_change(entry, addr, length)            # MAP_FIXED replaces what was there
        if self.files and data.draw(st.booleans()):
            args += [data.draw(st.one_of(st.sampled_from(self.files), HOSTILE)),
                     data.draw(arg(st.sampled_from([0, P, 2 * P, 1])))]
        try:
            got = self.call(p.mmap, *args)
        except Refused:
            return
        assert type(got) is int and got % P == 0 and got < KERNEL_SPACE
        entry[1].append((got, int(length)))
        del entry[1][:-8]

    @precondition(lambda self: self.procs)
    @rule(data=st.data())
    def range_syscall(self, data):
        entry = data.draw(st.sampled_from(self.procs))
        p = entry[0]
        addr, length = self.addr_in(data, entry), self.length(data)
        name = data.draw(st.sampled_from(["munmap", "mprotect", "mremap", "madvise", "mlock",
                                          "mlock2", "munlock", "mincore", "brk", "mlockall",
                                          "munlockall", "syscall", "translate"]))
        fn, args = {
            "munmap": (p.munmap, (addr, length)),
            "mprotect": (p.mprotect, (addr, length, data.draw(PROT))),
            "mremap": (p.mremap, (addr, length, self.length(data),
                                  data.draw(arg(st.sampled_from([0, 1, 3, 4, 7]))),
                                  self.addr_in(data, entry))),
            "madvise": (p.madvise, (addr, length, data.draw(ADVICE))),
            "mlock": (p.mlock, (addr, length)),
            "mlock2": (p.mlock2, (addr, length, data.draw(arg(st.sampled_from([0, 1, 2]))))),
            "munlock": (p.munlock, (addr, length)),
            "mincore": (p.mincore, (addr, length)),
            "brk": (p.brk, (data.draw(st.one_of(st.just(0), st.just(p.mm.brk + 3 * P),
                                                 st.just(p.mm.start_brk), arg(st.just(0)))),)),
            "mlockall": (p.mlockall, (data.draw(arg(st.sampled_from([1, 2, 3, 4, 5, 8]))),)),
            "munlockall": (p.munlockall, ()),
            "syscall": (p.syscall, tuple(data.draw(st.lists(arg(st.integers(0, 400)),
                                                             min_size=1, max_size=8)))),
            "translate": (p.translate, (addr,)),
        }[name]
        try:
            self.call(fn, *args)
        except Refused:
            pass
        if name in ("syscall", "brk"):
            entry[2] = None
        elif name == "mremap":
            self.may_change(entry, args[0], args[1])
            self.may_change(entry, args[4], args[2])
        elif name in ("munmap", "madvise", "mprotect"):
            self.may_change(entry, addr, length)

    @precondition(lambda self: self.procs)
    @rule(data=st.data())
    def access(self, data):
        entry = data.draw(st.sampled_from(self.procs))
        p = entry[0]
        addr = self.addr_in(data, entry)
        how = data.draw(st.sampled_from(["touch", "touch_range", "access", "read", "write"]))
        if how == "write":
            payload = data.draw(st.one_of(st.binary(min_size=0, max_size=2 * P + 10),
                                          st.sampled_from(["str", None, 5, 2**40, [1]])))
            if isinstance(payload, bytes):  # (a write cut short by a signal too)
                self.may_change(entry, addr, len(payload))
            try:
                n = self.call(p.write, addr, payload)
            except Refused:
                return
            assert n == len(payload)
            assert p.read(addr, len(payload)) == payload      # reads back
            return
        fn, args = {
            "touch": (p.touch, (addr, data.draw(st.one_of(st.booleans(), HOSTILE)))),
            "touch_range": (p.touch_range, (addr, data.draw(arg(st.integers(0, 16 * P))),
                                            data.draw(st.booleans()))),
            "access": (p.access, (data.draw(st.lists(st.one_of(st.just(addr), HOSTILE),
                                                     max_size=4)),
                                  data.draw(st.sampled_from([None, True, [1], "w", 1.5])))),
            "read": (p.read, (addr, data.draw(arg(st.integers(0, 2 * P))))),
        }[how]
        try:
            self.call(fn, *args)
        except Refused:
            pass

    @invariant()
    def sentinels_hold(self):
        for entry in [e for e in self.procs if not e[0].alive]:     # the OOM killer's victims
            assert entry[0].oom_killed
            self.procs.remove(entry)
            self.dead.append(entry)
        for p, _, sentinel in self.procs:
            if sentinel is not None and p.alive:
                want = b"sentinel%d" % p.pid
                assert p.read(sentinel, len(want)) == want

    # -- files, page cache, swap, reclaim ----------------------------------------------------
    @rule(data=st.data())
    def files(self, data):
        how = data.draw(st.sampled_from(["create", "open", "read", "write", "fadvise", "fsync",
                                         "unlink"]))
        if how in ("create", "open") or not self.files:
            path = data.draw(st.sampled_from(["/data/f", "/dev/shm/s", "data/g", "/etc/hostname",
                                              "/no/such/file", "", None, 5, "/data/\x00"]))
            try:
                if how == "open":
                    f = self.call(self.k.open, path, data.draw(arg(st.sampled_from([0, 2, 1]))))
                else:
                    f = self.call(self.k.create_file, path, data.draw(arg(st.sampled_from(
                        [0, 100, 5 * P, 64 * P]))), data.draw(st.sampled_from(
                            [None, "ext4", "tmpfs", "xfs", 5])))
            except Refused:
                return
            self.files.append(f)
            del self.files[:-4]
            return
        f = data.draw(st.sampled_from(self.files))
        off = data.draw(arg(st.integers(0, 20 * P)))
        fn, args = {
            "read": (f.read, (off, data.draw(arg(st.integers(0, 3 * P))))),
            "write": (f.write, (off, data.draw(st.one_of(  # (an int n: n zero bytes)
                st.binary(max_size=P + 10), st.integers(-2, 2 * P),
                st.sampled_from([None, 1.5, "x", True, np.int64(3), [1], bytearray(b"ab")]))))),
            "fadvise": (f.fadvise, (off, data.draw(arg(st.integers(0, 8 * P))),
                                    data.draw(arg(st.integers(0, 6))))),
            "fsync": (f.fsync, ()),
            "unlink": (self.k.unlink, (data.draw(st.one_of(st.just(f.path), HOSTILE)),)),
        }[how]
        try:
            self.call(fn, *args)
        except Refused:
            pass

    @rule(data=st.data())
    def swap_and_reclaim(self, data):
        how = data.draw(st.sampled_from(["swapon", "swapoff", "drop_caches", "kswapd",
                                         "try_to_free_pages", "compact", "advance", "sleep"]))
        k = self.k
        if how == "swapon":
            if len(self.swaps) >= 3:
                return
            try:
                path = self.call(k.swapon, data.draw(st.one_of(st.sampled_from(["1M", 64 * P]),
                                                               arg(st.just(P)))),
                                 data.draw(st.one_of(st.none(), arg(st.integers(-2, 10)))),
                                 data.draw(st.sampled_from([None, "/swap2", 5, "/dev/vdb1"])))
            except Refused:
                return
            self.swaps.append(path)
            return
        fn, args = {
            "swapoff": (k.swapoff, (self.pick(data, self.swaps + ["/swapfile"]),)),
            "drop_caches": (k.drop_caches, (data.draw(arg(st.integers(0, 5))),)),
            "kswapd": (k.kswapd, ()),
            "try_to_free_pages": (k.try_to_free_pages, (data.draw(arg(st.integers(0, 64))),)),
            "compact": (k.compact_zone, (data.draw(st.one_of(st.sampled_from(
                ["DMA", "DMA32", "Normal", "HighMem"]), arg(st.integers(0, 3)))),
                data.draw(arg(st.integers(-1, 11))))),
            "advance": (k.advance, (data.draw(arg(st.integers(0, 10**10))),)),
            "sleep": (k.sleep, (data.draw(st.one_of(st.floats(0, 30), HOSTILE)),)),
        }[how]
        try:
            self.call(fn, *args)
        except Refused:
            return
        if how == "swapoff" and args[0] in self.swaps:
            self.swaps.remove(args[0])

    @rule(data=st.data())
    def sysctl(self, data):
        name = data.draw(st.sampled_from(SYSCTLS))
        old = getattr(self.k, name)
        value = data.draw(st.one_of(arg(st.integers(0, 300)), st.sampled_from(
            ["never", "always", [32] * 5, [1], "256 32"])))
        try:
            self.call(setattr, self.k, name, value)
        except Refused:
            assert getattr(self.k, name) == old
        if data.draw(st.booleans()):
            try:
                self.call(setattr, self.k, name, old)
            except Refused:
                pass

    @rule(data=st.data())
    def proc_read(self, data):
        pids = [p.pid for p, _, _ in self.procs + self.dead] or [1]
        path = data.draw(st.sampled_from(PROC)).format(pid=data.draw(st.sampled_from(pids)))
        try:
            text = self.call(self.k.read, data.draw(st.one_of(st.just(path), HOSTILE)))
        except Refused:
            return
        assert isinstance(text, str)

    @rule(data=st.data())
    def oom_score_adj(self, data):
        entry = data.draw(st.sampled_from(self.procs)) if self.procs else None
        if entry is None:
            return
        name = data.draw(st.sampled_from(["oom_score_adj", "oom_adj"]))
        try:
            self.call(setattr, entry[0], name, data.draw(arg(st.integers(-1000, 1000))))
        except Refused:
            pass

    @precondition(lambda self: len(self.procs) <= 2)
    @rule(data=st.data())
    def snapshot(self, data):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "k.snap")
            try:
                self.call(self.k.save, data.draw(st.sampled_from([path, None, 5])))
            except Refused:
                return
            k2 = linuxmm.Kernel.load(path)
            k2.check()
            assert k2.read("/proc/meminfo") == self.k.read("/proc/meminfo")
            for bad in (os.path.join(tmp, "none"), None):
                try:
                    self.call(linuxmm.Kernel.load, bad)
                    raise AssertionError(f"load({bad!r}) returned")
                except Refused:
                    pass

    # -- constructors --------------------------------------------------------------------------
    @rule(data=st.data())
    def construct(self, data):
        """A machine or an allocator built from hostile arguments: refused, or it checks."""
        mod = self.mod
        what = data.draw(st.sampled_from(["kernel", "buddy", "page_allocator", "slab"]))
        if what == "kernel":
            kw = data.draw(st.sampled_from(
                ["cpus", "swap", "seed", "min_free_kbytes", "watermark_scale_factor",
                 "swappiness", "transparent_hugepage", "read_ahead_kb", "arch", "reserved",
                 "e820", "randomize_va_space", "lowmem_reserve_ratio", "rootfs",
                 "percpu_pagelist_high_fraction", "page_cluster", "mem"]))
            value = data.draw(st.one_of(HOSTILE, arg(st.integers(0, 64)), st.sampled_from(
                ["64M", "1Z", "-1", "/nonexistent", [(0, 2**64)], [(-1, 5)], [("a", "b")],
                 [(0, 1.5, "usable")], "BIOS-e820: [mem 0x0-0x1] usable"])))
            args = {kw: value} if kw in ("mem", "e820") else {"mem": "64M", kw: value}
            fn = lambda: linuxmm.Kernel(backend=self.backend, **args)     # noqa: E731
        elif what == "buddy":
            # (a valid BuddyAllocator of 2**31 pages is slow on the reference: not drawn)
            nr_pages = st.one_of(st.integers(1, 4096), st.sampled_from(
                [0, -1, 2**32 - 1, 2**32, 2**64, 1.5, None, True, np.uint64(2**63), "64"]))
            args = (data.draw(nr_pages), data.draw(arg(st.integers(0, 64))),
                    data.draw(arg(st.integers(0, 11))))
            fn = lambda: mod.BuddyAllocator(args[0], start_pfn=args[1],  # noqa: E731
                                            max_order=args[2])
        elif what == "page_allocator":
            zone = data.draw(st.one_of(HOSTILE, st.tuples(
                st.sampled_from(["DMA", "Normal", "Bogus", None]), arg(st.integers(0, 4096)),
                arg(st.integers(0, 4096)))))
            cpus = data.draw(CPU)
            fn = lambda: mod.PageAllocator([zone], cpus=cpus)     # noqa: E731
        else:
            src = data.draw(st.one_of(HOSTILE, st.builds(lambda: mod.BuddyAllocator(1024))))
            cpus = data.draw(CPU)
            fn = lambda: mod.SlabAllocator(src, cpus=cpus)        # noqa: E731
        try:
            obj = self.call(fn)
        except Refused:
            return
        obj.check()

    # -- the bare allocators ---------------------------------------------------------------------
    @rule(data=st.data())
    def buddy(self, data):
        b = self.b
        if data.draw(st.booleans()):
            order = data.draw(ORDER)
            try:
                pfn = self.call(b.alloc, order)
            except Refused:
                return
            self.blocks.append((pfn, int(order)))
            self.freed_blocks = [(p, o) for p, o in self.freed_blocks if p != pfn]
            return
        pfn, order = data.draw(st.sampled_from(self.blocks + self.freed_blocks)) \
            if self.blocks + self.freed_blocks and data.draw(st.booleans()) \
            else (data.draw(arg(st.integers(0, 600))), data.draw(ORDER))
        try:
            self.call(b.free, pfn, order)
        except Refused:
            return
        self.blocks.remove((pfn, order))
        self.freed_blocks = (self.freed_blocks + [(pfn, order)])[-64:]

    @rule(data=st.data())
    def page_allocator(self, data):
        pa = self.pa
        how = data.draw(st.sampled_from(["alloc", "free", "bulk", "drain", "views"]))
        if how == "alloc":
            order = data.draw(ORDER)
            try:
                pfn = self.call(pa.alloc_pages, data.draw(GFP), order, data.draw(CPU))
            except Refused:
                return
            self.pa_blocks.append((pfn, int(order)))
        elif how == "free":
            pfn, order = data.draw(st.sampled_from(self.pa_blocks)) \
                if self.pa_blocks and data.draw(st.booleans()) \
                else (data.draw(arg(st.integers(0, 3100))), data.draw(ORDER))
            try:
                self.call(pa.free_pages, pfn, order, data.draw(CPU))
            except Refused:
                return
            self.pa_blocks.remove((pfn, order))
        elif how == "bulk":
            try:
                pfns = self.call(pa.alloc_pages_bulk, data.draw(GFP), data.draw(COUNT),
                                 data.draw(CPU))
            except Refused:
                return
            self.call(pa.free_pages_bulk, pfns.tolist(), 0)
        elif how == "drain":
            try:
                self.call(pa.drain_pages, data.draw(st.one_of(st.none(), CPU)))
            except Refused:
                pass
        else:
            i = data.draw(arg(st.integers(0, 2)))
            for fn, args in ((pa.nr_free, (i,)), (pa.nr_free_pages, (i,)),
                             (pa.pcp_count, (i, data.draw(CPU))), (pa.watermarks, (i,)),
                             (pa.zone_name, (i,)), (pa.free_list, (i, data.draw(ORDER), 1)),
                             (pa.page_info, (data.draw(arg(st.integers(0, 3100))),)),
                             (pa.pageblock_migratetype, (data.draw(arg(st.integers(0, 3100))),)),
                             (pa.zonelist_for, (data.draw(GFP),))):
                try:
                    self.call(fn, *args)
                except Refused:
                    pass

    @rule(data=st.data())
    def bare_slab(self, data):
        sa = self.sa
        how = data.draw(st.sampled_from(["create", "alloc", "free", "kmalloc", "kfree", "info"]))
        if how == "create":
            if len(self.sa_caches) >= 3:
                return
            try:
                c = self.call(sa.kmem_cache_create, data.draw(st.sampled_from(["s1", "s2", None])),
                              data.draw(arg(st.integers(1, 5000))))
            except Refused:
                return
            if c not in self.sa_caches:
                self.sa_caches.append(c)
        elif how == "alloc" and self.sa_caches:
            c = data.draw(st.sampled_from(self.sa_caches))
            try:
                self.sa_objs.append((c, self.call(c.alloc)))
            except Refused:
                pass
        elif how == "kmalloc":
            try:
                self.sa_objs.append((None, self.call(sa.kmalloc, data.draw(SIZE))))
            except Refused:
                pass
        elif how in ("free", "kfree"):
            obj = data.draw(st.sampled_from(self.sa_objs)) if self.sa_objs else (None, 0)
            c, addr = obj
            if data.draw(st.booleans()):
                addr = data.draw(HOSTILE)
            if how == "free" and self.sa_caches:
                fn = data.draw(st.sampled_from(self.sa_caches)).free
            else:
                fn = sa.kfree
            try:
                self.call(fn, addr)
            except Refused:
                return
            self.sa_objs = [o for o in self.sa_objs if o[1] != addr]
        else:
            addr = self.pick(data, [a for _, a in self.sa_objs])
            for fn in (sa.object_info, sa.ksize):
                try:
                    self.call(fn, addr)
                except Refused:
                    pass

    # -- after every step ----------------------------------------------------------------------
    @invariant()
    def everything_checks(self):
        self.k.check()
        self.b.check()
        self.pa.check()
        self.sa.check()
        self.sa.page_source.check()

    def teardown(self):
        for p, _, _ in self.procs:
            self.k.exit_process(p)
        self.k.check()


class ApiFuzzReference(ApiFuzz):
    backend = "reference"


_PROFILE = settings()
FUZZ = settings(parent=_PROFILE, max_examples=max(2, _PROFILE.max_examples // 4),
                stateful_step_count=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large])
TestApiFuzzC = pytest.mark.filterwarnings("ignore")(ApiFuzz.TestCase)
TestApiFuzzC.settings = FUZZ
TestApiFuzzReference = ApiFuzzReference.TestCase
TestApiFuzzReference.settings = FUZZ
