"""Memory pressure on both backends, driven by the same random programs on a small machine
with swap: processes map anonymous memory and files, write stamps into pages, read them back,
fork, exit, unmap, run kswapd or direct reclaim, swap areas come and go.  After every step the
two backends agree on every result and /proc file, k.check() holds on both, and nothing is
lost: every page ever written reads back what was last written to it (resident, in swap, in
the page cache or in its file)."""
import errno

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import linuxmm as L

P = 4096
RW = L.PROT_READ | L.PROT_WRITE
ANON = L.MAP_PRIVATE | L.MAP_ANONYMOUS
NPAGES = 3072                      # each mapping: 12 MiB, half of the machine's RAM or so
FILE_PAGES = 2048
SIZES = {"anon": NPAGES, "file_shared": FILE_PAGES, "big": 6000}


def outcome(call, *args):
    try:
        r = call(*args)
    except OSError as e:
        return ("errno", errno.errorcode.get(e.errno, e.errno))
    except L.Killed as e:
        return ("killed", e.pid)
    except L.OutOfMemory:
        return ("oom",)
    return ("ok", r if isinstance(r, (bytes, int, str, type(None))) else repr(type(r)))


class PressurePair(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.k = {b: L.Kernel("64M", swap="48M", backend=b) for b in ("c", "reference")}
        for k in self.k.values():
            k.spawn("init")
        self.files = {b: k.create_file("/data/f", FILE_PAGES * P) for b, k in self.k.items()}
        self.procs = {b: [k.spawn("t")] for b, k in self.k.items()}
        self.maps = [[]]               # per process: [(addr, kind)]
        self.model = {}                # (process index, addr) -> bytes last written there
        self.file_model = {}           # file offset -> bytes written through a shared mapping
        self.stamp = 0
        # start under pressure: one mapping of nearly all RAM, written, every 97th page stamped
        big = 6000
        for b in self.k:
            p = self.procs[b][0]
            addr = p.mmap(0, big * P, RW, ANON)
            p.touch_range(addr, big * P, write=True)
            for j in range(0, big, 97):
                p.write(addr + j * P + 8, b"boot%08d" % j)
        self.maps[0].append((addr, "big"))
        for j in range(0, big, 97):
            self.model[(0, addr + j * P)] = b"boot%08d" % j

    def both(self, fn):
        a, b = fn("c"), fn("reference")
        assert a == b, (a, b)
        return a

    @rule(i=st.integers(0, 7), kind=st.sampled_from(["anon", "anon", "file_shared"]))
    def mmap(self, i, kind):
        i %= len(self.maps)

        def go(b):
            p = self.procs[b][i]
            if kind == "anon":
                return outcome(p.mmap, 0, NPAGES * P, RW, ANON)
            return outcome(p.mmap, 0, FILE_PAGES * P, RW, L.MAP_SHARED, self.files[b])
        r = self.both(go)
        if r[0] == "ok":
            self.maps[i].append((r[1], kind))

    @precondition(lambda self: any(self.maps))
    @rule(data=st.data(), n=st.integers(1, 3072))
    def write_pages(self, data, n):
        """Stamp n pages of one mapping (a bulk fault-in of them first)."""
        i = data.draw(st.sampled_from([j for j, m in enumerate(self.maps) if m]))
        addr, kind = data.draw(st.sampled_from(self.maps[i]))
        size = SIZES[kind]
        first = data.draw(st.integers(0, size - 1))
        n = min(n, size - first)
        self.stamp += 1
        tag = b"%06d" % self.stamp

        def go(b):
            p = self.procs[b][i]
            r = outcome(p.touch_range, addr + first * P, n * P, True)
            if r[0] != "ok":
                return r
            for j in range(first, first + n, 3):
                r = outcome(p.write, addr + j * P + 8, tag + b"%06d" % j)
                if r[0] != "ok":
                    return r
            return ("ok",)
        r = self.both(go)
        if r[0] == "ok":
            for j in range(first, first + n, 3):
                value = tag + b"%06d" % j
                if kind != "file_shared":
                    self.model[(i, addr + j * P)] = value
                else:
                    self.file_model[j] = value
        else:
            self.forget_dead()

    @precondition(lambda self: any(self.maps))
    @rule(data=st.data())
    def read_back(self, data):
        """Every stamped page of one process reads back what was last written."""
        i = data.draw(st.sampled_from([j for j, m in enumerate(self.maps) if m]))
        for (pi, addr), value in sorted(self.model.items()):
            if pi != i:
                continue
            got = self.both(lambda b: outcome(self.procs[b][pi].read, addr + 8, 12))
            assert got == ("ok", value), (addr, got, value)

    @rule()
    def read_file(self):
        for off, value in sorted(self.file_model.items())[:200]:
            got = self.both(lambda b: self.files[b].read(off * P + 8, 12))
            assert got == value

    @precondition(lambda self: len(self.maps) < 4)
    @rule(i=st.integers(0, 7))
    def fork(self, i):
        i %= len(self.maps)
        r = self.both(lambda b: outcome(self.procs[b][i].fork))
        if r[0] != "ok":
            return
        for b in self.k:
            self.procs[b].append(self.k[b].processes[max(self.k[b].processes)])
        j = len(self.maps)
        self.maps.append([(a, kind) for a, kind in self.maps[i]])
        for (pi, addr), value in list(self.model.items()):
            if pi == i:
                self.model[(j, addr)] = value

    @precondition(lambda self: len(self.maps) > 1)
    @rule(i=st.integers(1, 7))
    def exit(self, i):
        i = 1 + i % (len(self.maps) - 1)
        self.both(lambda b: self.procs[b].pop(i).exit())
        self.maps.pop(i)
        self.model = {((pi if pi < i else pi - 1), a): v for (pi, a), v in self.model.items()
                      if pi != i}

    @precondition(lambda self: any(self.maps))
    @rule(data=st.data())
    def munmap(self, data):
        i = data.draw(st.sampled_from([j for j, m in enumerate(self.maps) if m]))
        addr, kind = data.draw(st.sampled_from(self.maps[i]))
        size = SIZES[kind]
        self.both(lambda b: outcome(self.procs[b][i].munmap, addr, size * P))
        self.maps[i].remove((addr, kind))
        self.model = {(pi, a): v for (pi, a), v in self.model.items()
                      if pi != i or not addr <= a < addr + size * P}

    @rule()
    def kswapd(self):
        self.both(lambda b: self.k[b].kswapd())

    @rule()
    def direct_reclaim(self):
        self.both(lambda b: self.k[b].try_to_free_pages())

    @rule(size=st.sampled_from(["8M", "16M"]))
    def swapon(self, size):
        self.both(lambda b: outcome(self.k[b].swapon, size))

    @rule(which=st.sampled_from(["/dev/vdb1", "/dev/vdb2", "/swapfile"]))
    def swapoff(self, which):
        self.both(lambda b: outcome(self.k[b].swapoff, which))

    def forget_dead(self):
        """A process the OOM killer took loses its mappings in the model."""
        for i in reversed(range(len(self.maps))):
            alive = self.both(lambda b: self.procs[b][i].alive)
            if not alive and i > 0:
                for b in self.k:
                    self.procs[b].pop(i)
                self.maps.pop(i)
                self.model = {((pi if pi < i else pi - 1), a): v
                              for (pi, a), v in self.model.items() if pi != i}

    def teardown(self):
        from hypothesis import event
        v = self.k["c"].vm_counters()
        event(f"swapped out: {'yes' if v['pswpout'] else 'no'}, swapped in: "
              f"{'yes' if v['pswpin'] else 'no'}, oom kills: {v['oom_kill']}")

    @invariant()
    def same_machine(self):
        files = ["/proc/meminfo", "/proc/swaps", "/proc/vmstat", "/proc/pressure/memory"]
        self.both(lambda b: [self.k[b].read(f) for f in files])
        self.both(lambda b: [self.k[b].read(f"/proc/{p.pid}/smaps_rollup")
                             for p in self.procs[b] if p.alive])
        for k in self.k.values():
            k.check()


TestPressurePair = PressurePair.TestCase
TestPressurePair.settings = settings(max_examples=15, stateful_step_count=30, deadline=None)
