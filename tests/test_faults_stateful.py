"""The fault path on both backends, driven by the same random programs: mmaps (anonymous,
private and shared files, shared anonymous, THP), accesses one by one and in bulk, data
written and read back, mprotect, munmap, MADV_DONTNEED, mlock/mlock2(MLOCK_ONFAULT)/munlock,
fork and exit.  Every result (errors
and signals included), every process's smaps/status and the machine's /proc files agree, and
k.check() holds after every step on both."""
import errno

import hypothesis.strategies as st
import numpy as np
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import linuxmm as L

P = 4096
NPAGES = 64                  # each mapping is 64 pages (256 KiB)
RW = L.PROT_READ | L.PROT_WRITE
KINDS = ("anon", "file_private", "file_shared", "shared_anon", "thp")


def outcome(call, *args, **kwargs):
    try:
        r = call(*args, **kwargs)
    except L.SegmentationFault as e:
        return ("SIGSEGV", e.code, e.addr)
    except L.BusError as e:
        return ("SIGBUS", e.addr)
    except OSError as e:
        return ("errno", errno.errorcode.get(e.errno, e.errno))
    except L.OutOfMemory:
        return ("oom",)
    if isinstance(r, (bytes, int, type(None))):
        return ("ok", r)
    return ("ok", repr(type(r)))


class FaultPair(RuleBasedStateMachine):
    ARCH = "x86_64"

    def __init__(self):
        super().__init__()
        self.k = {b: L.Kernel("256M", backend=b, read_ahead_kb=64, arch=self.ARCH)
                  for b in ("c", "reference")}
        self.files = {b: k.create_file("/data/f", 48 * P) for b, k in self.k.items()}
        for b, f in self.files.items():
            f.write(0, bytes(range(256)) * (48 * P // 256))
            f.fsync()
            f.fadvise(0, 48 * P, L.POSIX_FADV_DONTNEED)
        self.procs = {b: [k.spawn("t")] for b, k in self.k.items()}
        self.maps = [[]]          # per process index: list of mapping base addresses

    def both(self, fn):
        a = fn("c")
        b = fn("reference")
        assert a == b
        return a

    def proc(self, b, i):
        return self.procs[b][i]

    procs_strategy = st.integers(0, 7)

    @precondition(lambda self: len(self.maps) > 0)
    @rule(i=procs_strategy, kind=st.sampled_from(KINDS), prot=st.sampled_from([RW, L.PROT_READ]))
    def mmap(self, i, kind, prot):
        i %= len(self.maps)

        def go(b):
            p, f = self.proc(b, i), self.files[b]
            if kind == "anon" or kind == "thp":
                flags = L.MAP_PRIVATE | L.MAP_ANONYMOUS
                length = NPAGES * P if kind == "anon" else 4 << 20
                r = outcome(p.mmap, 0, length, prot, flags)
                if kind == "thp" and r[0] == "ok":
                    p.madvise(r[1], length, L.MADV_HUGEPAGE)
                return r
            if kind == "shared_anon":
                return outcome(p.mmap, 0, NPAGES * P, prot, L.MAP_SHARED | L.MAP_ANONYMOUS)
            flags = L.MAP_PRIVATE if kind == "file_private" else L.MAP_SHARED
            return outcome(p.mmap, 0, NPAGES * P, prot, flags, f, 0)   # 64 pages of 48: SIGBUS
        r = self.both(go)
        if r[0] == "ok":
            self.maps[i].append(r[1])

    def _target(self, data, i):
        i %= len(self.maps)
        if not self.maps[i]:
            return i, None
        base = data.draw(st.sampled_from(self.maps[i]))
        return i, base + data.draw(st.integers(-2, NPAGES + 1)) * P + data.draw(st.integers(0, 7))

    @rule(data=st.data(), i=procs_strategy, write=st.booleans())
    def touch(self, data, i, write):
        i, addr = self._target(data, i)
        if addr is not None:
            self.both(lambda b: outcome(self.proc(b, i).touch, addr, write))

    @rule(data=st.data(), i=procs_strategy, write=st.booleans(), n=st.integers(1, 40))
    def touch_range(self, data, i, write, n):
        i, addr = self._target(data, i)
        if addr is not None:
            self.both(lambda b: outcome(self.proc(b, i).touch_range, addr, n * P, write))

    @rule(data=st.data(), i=procs_strategy, n=st.integers(1, 60))
    def access(self, data, i, n):
        i %= len(self.maps)
        if not self.maps[i]:
            return
        addrs = np.array([self._target(data, i)[1] for _ in range(n)], dtype=np.int64)
        writes = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)),
                          dtype=np.uint8)
        self.both(lambda b: outcome(self.proc(b, i).access, addrs, writes))

    @rule(data=st.data(), i=procs_strategy, payload=st.binary(min_size=1, max_size=6000))
    def write_read(self, data, i, payload):
        i, addr = self._target(data, i)
        if addr is None:
            return
        self.both(lambda b: outcome(self.proc(b, i).write, addr, payload))
        self.both(lambda b: outcome(self.proc(b, i).read, addr, len(payload)))

    @rule(data=st.data(), i=procs_strategy, n=st.integers(1, 20),
          op=st.sampled_from(["munmap", "dontneed", "mprotect_r", "mprotect_rw", "mprotect_none",
                              "mlock", "mlock_onfault", "munlock"]))
    def range_op(self, data, i, n, op):
        i, addr = self._target(data, i)
        if addr is None:
            return
        addr &= ~(P - 1)

        def go(b):
            p = self.proc(b, i)
            if op == "munmap":
                return outcome(p.munmap, addr, n * P)
            if op == "dontneed":
                return outcome(p.madvise, addr, n * P, L.MADV_DONTNEED)
            if op == "mlock":
                return outcome(p.mlock, addr, n * P)
            if op == "mlock_onfault":
                return outcome(p.mlock2, addr, n * P, L.MLOCK_ONFAULT)
            if op == "munlock":
                return outcome(p.munlock, addr, n * P)
            prot = {"mprotect_r": L.PROT_READ, "mprotect_rw": RW, "mprotect_none": 0}[op]
            return outcome(p.mprotect, addr, n * P, prot)
        self.both(go)

    @precondition(lambda self: len(self.maps) < 6)
    @rule(i=procs_strategy)
    def fork(self, i):
        i %= len(self.maps)
        for b in self.k:
            self.procs[b].append(self.proc(b, i).fork())
        self.maps.append(list(self.maps[i]))

    @precondition(lambda self: len(self.maps) > 1)
    @rule(i=procs_strategy)
    def exit(self, i):
        i %= len(self.maps)
        for b in self.k:
            self.procs[b].pop(i).exit()
        self.maps.pop(i)

    @rule(offset=st.integers(0, 47), n=st.integers(1, 48))
    def file_read(self, offset, n):
        self.both(lambda b: outcome(self.files[b].read, offset * P, n * P))

    @invariant()
    def same_state(self):
        texts = {}
        for b, k in self.k.items():
            k.check()
            files = [k.read("/proc/meminfo"), k.read("/proc/vmstat"), k.read("/proc/buddyinfo")]
            for p in self.procs[b]:
                for name in ("smaps", "status", "statm"):
                    files.append(k.read(f"/proc/{p.pid}/{name}"))
                files.append((p.min_flt, p.maj_flt))
            texts[b] = files
        assert texts["c"] == texts["reference"]


class FaultPairI386(FaultPair):
    """The same on i386: a 3 GiB address space with PAE page tables."""
    ARCH = "i386"


FaultPairI386.TestCase.settings = settings(
    max_examples=int(__import__("os").environ.get("FAULT_EXAMPLES", 40)) // 2,
    stateful_step_count=40, deadline=None)
TestFaultPairI386 = FaultPairI386.TestCase
FaultPair.TestCase.settings = settings(max_examples=int(__import__("os").environ.get("FAULT_EXAMPLES", 40)), stateful_step_count=40, deadline=None)
TestFaultPair = FaultPair.TestCase
