"""Differential fault scenarios: run the same list of operations in a real process on this host
(tests/host/faulthelper.c) and in a linuxmm process, recording the same observations, so a test
can compare ``run_host(s) == run_linuxmm(s, backend)``.

A scenario is a list of ops, each a tuple; an optional trailing dict selects extra observations
for that op: ``{"mincore": 1, "smaps": 1, "status": 1}`` (ops naming a mapping var) or
``{"filecore": 1}`` (ops naming a file).  Pages are 4096 bytes; numbers are Linux's values.

    ("file", name, npages)          create npages pages, page i filled with byte (i*7+1)&255,
                                    fsync, POSIX_FADV_DONTNEED (starts uncached)
    ("shmfile", name, npages)       the same file on tmpfs (/dev/shm): its pages stay cached
    ("shmhole", name, npages)       an empty tmpfs file ftruncated to npages (every page a hole)
    ("cache", name, first, count[, chunk_pages])   pread those pages, chunk_pages (default:
                                    all) per pread, readahead included; then wait until mincore
                                    shows them all resident.  The chunking matters: one big
                                    pread caches order-0 folios, 4 KiB preads let readahead
                                    grow large folios, which fault-around maps whole.
    ("mmap", var, npages, prot, flags, file_name_or_None, pgoff_pages, align_offset_pages)
                                    map with MAP_FIXED_NOREPLACE at REGION + k GiB +
                                    align_offset_pages pages (k-th mmap of the scenario: a
                                    2 MiB-aligned address in a 512 GiB region nothing else uses,
                                    so page-table allocation (VmPTE) is the same on both sides)
    ("read", var, first, npages[, step])   load one byte of every step-th page
    ("write", var, first, npages[, step])  store 0x5a into every step-th page
    ("madvise", var, first, npages, advice) ("mprotect", var, first, npages, prot)
    ("munmap", var, first, npages)  ("mlock", var, first, npages)  ("munlock", var, first, npages)
    ("mlock2", var, first, npages, flags)
    ("mlockall", flags) ("munlockall",)   whole-process: only err (and minflt without
                                    MCL_CURRENT, which would fault in the helper itself)
    ("fadvise", name, first, npages, advice) ("pread", name, offset, length)
    ("fork_child", [ops...])        the child runs the nested ops (its own counters), exits;
                                    the parent waits
    ("swapon", npages)              a swap area of npages pages on /dev/zram0 (SWP_SYNCHRONOUS_IO:
                                    swap-out frees at once, swap-in reads one page, no swap
                                    cache); the host's is set up as root and removed after the
                                    scenario, and refused (HostRefused) when zram0 is missing or
                                    busy or another swap area is active
    ("drop_caches", mode)           echo mode > /proc/sys/vm/drop_caches (refused if not writable)

Result: one dict per op, ``{"op": label, "minflt": n, "majflt": n, ...}`` with, where they
apply, ``err`` (errno name or None), ``signal`` (None or (signal, si_code name, page index of
si_addr relative to the var)), ``done`` (pages index reached by the access loop), ``sum``
(sum of the bytes read), ``n`` (bytes pread), ``mincore``/``filecore`` (resident page ranges,
``[(first, end), ...]``), ``smaps`` (the VMAs overlapping the var, page ranges relative to it,
``parse_smaps`` fields), ``status`` (VmRSS/RssAnon/RssFile/RssShmem/VmPTE kB deltas since the
process started).  A fork_child op records ``{"op", "child": [results]}``: the parent's own
counters around fork() would count the helper's copy-on-write of its stack, which is no part of
the scenario.
"""
import errno
import os
import re
import shutil
import subprocess
import sys
import tempfile

from host.vmhost import build_helper

PAGE = 4096
REGION = 0x100000000000          # 16 TiB: a 512 GiB-aligned slot far below mmap_base
REGION_SIZE = 1 << 39
SLOT = 1 << 30

PROT_NONE, PROT_READ, PROT_WRITE = 0, 1, 2
RW = PROT_READ | PROT_WRITE
MAP_SHARED, MAP_PRIVATE, MAP_ANONYMOUS, MAP_POPULATE = 0x01, 0x02, 0x20, 0x8000
MAP_FIXED_NOREPLACE = 0x100000
MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED = 1, 2, 3, 4
MADV_HUGEPAGE = 14
MADV_COLD, MADV_PAGEOUT = 20, 21
POSIX_FADV_RANDOM, POSIX_FADV_SEQUENTIAL, POSIX_FADV_WILLNEED, POSIX_FADV_DONTNEED = 1, 2, 3, 4

SIGBUS, SIGSEGV = 7, 11
SI_CODES = {(SIGSEGV, 1): "SEGV_MAPERR", (SIGSEGV, 2): "SEGV_ACCERR", (SIGBUS, 2): "BUS_ADRERR"}
STATUS_KEYS = ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmPTE", "VmLck")
OBSERVE = ("mincore", "smaps", "status", "filecore")


class HostRefused(Exception):
    """The host cannot run the scenario as asked (no free region, cannot create files)."""


def host_available():
    return sys.platform.startswith("linux") and shutil.which("gcc") is not None \
        and os.path.exists("/proc/self/smaps")


_TMP = {}


def helper_path():
    """The helper binary, compiled once per session into a temporary directory."""
    if "dir" not in _TMP:
        _TMP["dir"] = tempfile.mkdtemp(prefix="faulthelper-")
    return build_helper(_TMP["dir"], "faulthelper", ("-Wl,-z,now",))


def data_dir():
    """Files live on the disk filesystem (ext4 here), not tmpfs: /var/tmp."""
    if "data" not in _TMP:
        _TMP["data"] = tempfile.mkdtemp(prefix="faulthost-", dir="/var/tmp")
    return _TMP["data"]


# -- parsing (host and linuxmm text alike) ----------------------------------------------------

_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) ")
_FIELD = re.compile(r"^(\w+):\s+(\d+)(?: kB)?$")


def parse_smaps(text):
    """/proc/pid/smaps -> [{"start", "end", "perms", "pgoff", <numeric fields (kB)>, "VmFlags"}]."""
    vmas = []
    for line in text.splitlines():
        m = _HEADER.match(line)
        if m:
            vmas.append({"start": int(m.group(1), 16), "end": int(m.group(2), 16),
                         "perms": m.group(3), "pgoff": int(m.group(4), 16)})
            continue
        if not vmas:
            continue
        if line.startswith("VmFlags:"):
            vmas[-1]["VmFlags"] = line.split(":", 1)[1].split()
            continue
        f = _FIELD.match(line)
        if f:
            vmas[-1][f.group(1)] = int(f.group(2))
    return vmas


def parse_status(text):
    """The kB lines of /proc/pid/status -> {key: kB}."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+):\s+(\d+) kB$", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def vma_entries(smaps_text, base, npages):
    """The smaps entries overlapping [base, base + npages pages), start/end as page indices
    relative to base (pgoff in pages)."""
    lo, hi = base, base + npages * PAGE
    out = []
    for v in parse_smaps(smaps_text):
        if v["start"] < hi and v["end"] > lo:
            v = dict(v)
            v["start"] = (v["start"] - base) // PAGE
            v["end"] = (v["end"] - base) // PAGE
            v["pgoff"] //= PAGE
            out.append(v)
    return out


def ranges(core):
    """'0110-1' (1 = resident) -> [(first, end)] of the resident runs."""
    return [(m.start(), m.end()) for m in re.finditer("1+", core)]


def status_delta(now, base):
    return {k: now.get(k, 0) - base.get(k, 0) for k in STATUS_KEYS}


def split_op(op):
    """(name, positional args, observation options)"""
    opts = {}
    if op and isinstance(op[-1], dict):
        opts, op = op[-1], op[:-1]
    unknown = set(opts) - set(OBSERVE)
    if unknown:
        raise ValueError(f"unknown observation {unknown} in {op}")
    return op[0], tuple(op[1:]), opts


def label(name, args):
    if name == "fork_child":
        return "fork_child"
    return " ".join([name] + [str(a) for a in args])


def signal_of(sig, code, addr, base):
    return (("SIGBUS" if sig == SIGBUS else "SIGSEGV"), SI_CODES.get((sig, code), str(code)),
            (addr - base) // PAGE)


# -- the host runner --------------------------------------------------------------------------

class _Helper:
    def __init__(self):
        self.proc = subprocess.Popen([helper_path()], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        assert self.line() == "ready"

    def line(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("faulthelper died")
        return line.strip()

    def call(self, *words):
        self.proc.stdin.write(" ".join(str(w) for w in words) + "\n")
        self.proc.stdin.flush()
        text = self.line()
        if text.startswith("core="):
            return text[5:]
        return {k: (int(v) if v.lstrip("-").isdigit() else v)
                for k, v in (w.split("=", 1) for w in text.split())}

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def _read_proc(pid, name):
    with open(f"/proc/{pid}/{name}") as f:
        return f.read()


class _Common:
    """What both runners share: var and file bookkeeping and turning an op into a result."""

    def __init__(self):
        self.vars = {}            # var -> (base, npages)
        self.files = {}           # name -> (handle, npages)
        self.next_slot = 0

    def run(self, scenario):
        self.baseline = self.status()
        return [self.step(op) for op in scenario]

    def step(self, op):
        name, args, opts = split_op(op)
        r = {"op": label(name, args)}
        if name == "fork_child":
            r["child"] = self.fork_child(args[0])
            return r
        if name in ("file", "shmfile", "shmhole", "cache", "fadvise", "pread"):
            r.update(getattr(self, "op_" + name)(*args))
            if opts.get("filecore"):
                r["filecore"] = ranges(self.filecore(args[0]))
            return r
        if name in ("swapon", "drop_caches"):
            r.update(getattr(self, "op_" + name)(*args))
            return r
        if name in ("mlockall", "munlockall"):
            res = self.op_syscall(name, *args)
            r["err"] = res["err"]
            if name == "munlockall" or not args[0] & 1:     # MCL_CURRENT faults the helper in
                r["minflt"] = res["minflt"]
            return r
        var = args[0]
        if name == "mmap":
            npages, prot, flags, fname, pgoff, align = args[1:]
            base = REGION + self.next_slot * SLOT + align * PAGE
            self.next_slot += 1
            self.vars[var] = (base, npages)
            r.update(self.op_mmap(base, npages, prot, flags, fname, pgoff))
        else:
            base, _ = self.vars[var]
            first, count = args[1], args[2]
            addr, length = base + first * PAGE, count * PAGE
            if name in ("read", "write"):
                step = args[3] if len(args) > 3 else 1
                r.update(self.op_access(addr, count, step, name == "write", base))
            elif name in ("munmap", "mlock", "munlock"):
                r.update(self.op_syscall(name, addr, length))
            else:
                r.update(self.op_syscall(name, addr, length, args[3]))
        base, npages = self.vars[var]
        if opts.get("mincore"):
            r["mincore"] = ranges(self.mincore(base, npages))
        if opts.get("smaps"):
            r["smaps"] = vma_entries(self.read_proc("smaps"), base, npages)
        if opts.get("status"):
            r["status"] = status_delta(self.status(), self.baseline)
        return r

    def status(self):
        return parse_status(self.read_proc("status"))


def _err(res):
    e = res.get("err", 0)
    return errno.errorcode.get(e, str(e)) if e else None


class HostRun(_Common):
    def __init__(self, helper):
        super().__init__()
        self.h = helper
        self.pid = helper.proc.pid
        got = helper.call("region", REGION, REGION_SIZE)["addr"]
        if got != REGION:
            raise HostRefused(f"the host placed the probe region at {got:#x}, not {REGION:#x}")

    def read_proc(self, name):
        return _read_proc(self.pid, name)

    @staticmethod
    def counts(res):
        return {"minflt": res["minflt"], "majflt": res["majflt"]}

    def op_file(self, name, npages, directory=None, command="file"):
        slot = self.next_slot_file()
        path = os.path.join(directory or data_dir(), f"{name}.{os.getpid()}")
        res = self.h.call(command, slot, path, npages)
        if res["err"]:
            raise HostRefused(f"cannot create {path}: {os.strerror(res['err'])}")
        self.files[name] = (slot, npages)
        if directory is not None:
            _TMP.setdefault("shm", []).append(path)
        return dict(self.counts(res), err=None)

    def op_shmfile(self, name, npages):
        if not os.path.isdir("/dev/shm"):
            raise HostRefused("no /dev/shm")
        return self.op_file(name, npages, "/dev/shm")

    def op_shmhole(self, name, npages):
        if not os.path.isdir("/dev/shm"):
            raise HostRefused("no /dev/shm")
        return self.op_file(name, npages, "/dev/shm", "truncfile")

    def next_slot_file(self):
        return len(self.files)

    def op_cache(self, name, first, count, chunk=None):
        res = self.h.call("cache", self.files[name][0], first, count, chunk or count)
        return dict(self.counts(res), err=_err(res))

    def op_fadvise(self, name, first, npages, advice):
        res = self.h.call("fadvise", self.files[name][0], first * PAGE, npages * PAGE, advice)
        return dict(self.counts(res), err=_err(res))

    def op_pread(self, name, offset, length):
        res = self.h.call("pread", self.files[name][0], offset, length)
        return dict(self.counts(res), err=_err(res), n=res["n"])

    def op_mmap(self, base, npages, prot, flags, fname, pgoff):
        slot = -1 if fname is None else self.files[fname][0]
        res = self.h.call("map", base, npages * PAGE, prot, flags, slot, pgoff * PAGE)
        return dict(self.counts(res), err=_err(res))

    def op_access(self, addr, count, step, write, base):
        res = self.h.call("write" if write else "read", addr, count, step)
        sig = signal_of(res["sig"], res["code"], res["sigaddr"], base) if "sig" in res else None
        out = dict(self.counts(res), signal=sig, done=res["done"])
        if not write:
            out["sum"] = res["sum"]
        return out

    def op_syscall(self, name, *args):
        res = self.h.call(name, *args)
        return dict(self.counts(res), err=_err(res))

    def op_swapon(self, npages):
        zram_swapon(npages)
        return {"err": None}

    def op_drop_caches(self, mode):
        try:
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write(f"{mode}\n")
        except OSError as e:
            raise HostRefused(f"cannot write /proc/sys/vm/drop_caches: {e}") from None
        return {"err": None}

    def mincore(self, base, npages):
        return self.h.call("mincore", base, npages)

    def filecore(self, name):
        return self.h.call("filecore", self.files[name][0])

    def fork_child(self, ops):
        res = self.h.call("fork")
        parent_pid = self.pid
        saved = self.pid, self.baseline
        self.pid = res["pid"]
        assert self.pid != parent_pid
        try:
            self.baseline = self.status()
            results = [self.step(op) for op in ops]
        finally:
            self.h.proc.stdin.write("exit\n")
            self.h.proc.stdin.flush()
            done = self.h.line()
            self.pid, self.baseline = saved
        assert done.startswith(f"pid={parent_pid} "), done
        return results


ZRAM = "/sys/block/zram0"


def _swaps():
    with open("/proc/swaps") as f:
        return f.read().splitlines()[1:]


def zram_swapon(npages):
    """swapon /dev/zram0 sized npages pages (mkswap from util-linux); the area is removed by
    zram_swapoff when the scenario ends."""
    if os.geteuid() != 0 or not os.path.exists(ZRAM) or shutil.which("mkswap") is None \
            or shutil.which("swapon") is None:
        raise HostRefused("swap needs root, /dev/zram0, mkswap and swapon")
    if _swaps():
        raise HostRefused("another swap area is active on the host")
    with open(f"{ZRAM}/disksize") as f:
        if f.read().strip() != "0":
            raise HostRefused("/dev/zram0 is in use")
    _TMP["zram"] = True
    try:
        with open(f"{ZRAM}/disksize", "w") as f:
            f.write(str(npages * PAGE))
        for cmd in (["mkswap", "/dev/zram0"], ["swapon", "/dev/zram0"]):
            subprocess.run(cmd, check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as e:
        zram_swapoff()
        raise HostRefused(f"cannot enable swap on /dev/zram0: {e}") from None


def zram_swapoff():
    if not _TMP.pop("zram", False):
        return
    if any(line.startswith("/dev/zram0 ") for line in _swaps()):
        subprocess.run(["swapoff", "/dev/zram0"], check=False, capture_output=True)
    try:
        with open(f"{ZRAM}/reset", "w") as f:
            f.write("1")
    except OSError:
        pass


def run_host(scenario):
    """Run scenario in a fresh helper process on this host; returns the result list."""
    helper = _Helper()
    try:
        return HostRun(helper).run(scenario)
    finally:
        helper.close()
        zram_swapoff()
        for name in os.listdir(data_dir()):
            if name.endswith(f".{os.getpid()}"):
                os.unlink(os.path.join(data_dir(), name))
        for path in _TMP.pop("shm", []):          # tmpfs files: their pages are memory
            if os.path.exists(path):
                os.unlink(path)


# -- the linuxmm runner -----------------------------------------------------------------------

class SimRun(_Common):
    def __init__(self, backend):
        super().__init__()
        import linuxmm
        self.L = linuxmm
        self.k = linuxmm.Kernel("4G", read_ahead_kb=8192, max_sectors_kb=4096, backend=backend)
        self.p = self.k.spawn("t")

    def read_proc(self, name):
        return self.k.read(f"/proc/{self.p.pid}/{name}")

    def counted(self, fn, *args):
        p = self.p
        min0, maj0 = p.min_flt, p.maj_flt
        out = {"err": None}
        try:
            fn(*args)
        except OSError as e:
            out["err"] = errno.errorcode.get(e.errno, str(e.errno))
        return dict({"minflt": p.min_flt - min0, "majflt": p.maj_flt - maj0}, **out)

    def op_file(self, name, npages, directory="/data", fill=True):
        def create():
            f = self.k.create_file(f"{directory}/{name}", npages * PAGE)
            if fill:
                f.write(0, b"".join(bytes([(i * 7 + 1) & 255]) * PAGE for i in range(npages)))
                f.fsync()
                f.fadvise(0, npages * PAGE, POSIX_FADV_DONTNEED)
            self.files[name] = (f, npages)
        return self.counted(create)

    def op_shmfile(self, name, npages):
        return self.op_file(name, npages, "/dev/shm")

    def op_shmhole(self, name, npages):
        return self.op_file(name, npages, "/dev/shm", fill=False)

    def op_cache(self, name, first, count, chunk=None):
        f, chunk = self.files[name][0], chunk or count
        return self.counted(lambda: [f.read(i * PAGE, min(chunk, first + count - i) * PAGE)
                                     for i in range(first, first + count, chunk)])

    def op_fadvise(self, name, first, npages, advice):
        f = self.files[name][0]
        return self.counted(f.fadvise, first * PAGE, npages * PAGE, advice)

    def op_pread(self, name, offset, length):
        got = []
        out = self.counted(lambda: got.append(self.files[name][0].read(offset, length)))
        out["n"] = len(got[0]) if got else 0
        return out

    def op_mmap(self, base, npages, prot, flags, fname, pgoff):
        f = None if fname is None else self.files[fname][0]
        return self.counted(lambda: self.p.mmap(base, npages * PAGE, prot, flags | MAP_FIXED_NOREPLACE,
                                                file=f, offset=pgoff * PAGE))

    def op_access(self, addr, count, step, write, base):
        p, L = self.p, self.L
        min0, maj0 = p.min_flt, p.maj_flt
        total, sig, i = 0, None, 0
        try:
            for i in range(0, count, step):
                if write:
                    p.write(addr + i * PAGE, b"\x5a")
                else:
                    total += p.read(addr + i * PAGE, 1)[0]
            i = count
        except L.SegmentationFault as e:
            sig = ("SIGSEGV", e.code, (e.addr - base) // PAGE)
        except L.BusError as e:
            sig = ("SIGBUS", getattr(e, "code", "BUS_ADRERR"), (e.addr - base) // PAGE)
        out = {"minflt": p.min_flt - min0, "majflt": p.maj_flt - maj0, "signal": sig, "done": i}
        if not write:
            out["sum"] = total
        return out

    def op_syscall(self, name, *args):
        return self.counted(getattr(self.p, name), *args)

    def op_swapon(self, npages):
        self.k.swapon(npages * PAGE, path="/dev/zram0")
        return {"err": None}

    def op_drop_caches(self, mode):
        self.k.drop_caches(mode, process=self.p)
        return {"err": None}

    def mincore(self, base, npages):
        try:
            return "".join("1" if b & 1 else "0" for b in self.p.mincore(base, npages * PAGE))
        except OSError:
            out = []
            for i in range(npages):
                try:
                    out.append("1" if self.p.mincore(base + i * PAGE, PAGE)[0] & 1 else "0")
                except OSError:
                    out.append("-")
            return "".join(out)

    def filecore(self, name):
        f, npages = self.files[name]
        addr = self.p.mmap(0, npages * PAGE, PROT_READ, MAP_SHARED, file=f, offset=0)
        try:
            return "".join("1" if b & 1 else "0" for b in self.p.mincore(addr, npages * PAGE))
        finally:
            self.p.munmap(addr, npages * PAGE)

    def fork_child(self, ops):
        parent, saved = self.p, self.baseline
        self.p = child = parent.fork()
        try:
            self.baseline = self.status()
            return [self.step(op) for op in ops]
        finally:
            child.exit()
            self.p, self.baseline = parent, saved


def run_linuxmm(scenario, backend="c"):
    """Run scenario in a fresh linuxmm Kernel (backend "c" or "reference")."""
    return SimRun(backend).run(scenario)


# -- comparing --------------------------------------------------------------------------------

def differences(host, sim, path="result"):
    """['path: host X, linuxmm Y', ...] for every leaf that differs."""
    if isinstance(host, dict) and isinstance(sim, dict):
        out = []
        for k in list(host) + [k for k in sim if k not in host]:
            out += differences(host.get(k, "<missing>"), sim.get(k, "<missing>"), f"{path}.{k}")
        return out
    if isinstance(host, (list, tuple)) and isinstance(sim, (list, tuple)) and \
            len(host) == len(sim) and not all(isinstance(x, int) for x in list(host) + list(sim)):
        out = []
        for i, (a, b) in enumerate(zip(host, sim)):
            where = a.get("op") if isinstance(a, dict) and "op" in a else i
            out += differences(a, b, f"{path}[{where}]")
        return out
    return [] if host == sim else [f"{path}: host {host!r}, linuxmm {sim!r}"]


def assert_same(host, sim):
    diff = differences(host, sim)
    assert not diff and host == sim, "host and linuxmm differ:\n  " + "\n  ".join(diff)


def assert_same_as_host(scenario, host, sim, rerun=run_host):
    """assert_same, except for observations the host itself does not reproduce: on a mismatch
    the scenario runs on the host again (up to three times), and a leaf that differs between
    host runs (DAMON's access sampling can set a page's young bit, so smaps Referenced; I/O
    timing can change a fault count), or that a host rerun gives exactly as linuxmm does, is
    not held against linuxmm."""
    diff = differences(host, sim)
    if not diff:
        return
    leaf = lambda d: d.split(": host ", 1)[0]       # noqa: E731
    real = diff
    for _ in range(3):          # a rare I/O-timing effect can take more than one rerun to show
        again = rerun(scenario)
        noisy = {leaf(d) for d in differences(host, again)}
        matched = {leaf(d) for d in differences(again, sim)}
        real = [d for d in real if leaf(d) not in noisy and leaf(d) in matched]
        if not real:
            return
    assert not real, "host and linuxmm differ:\n  " + "\n  ".join(real)


def table(results, indent=""):
    """Compact text of a result list (for printing the host numbers)."""
    lines = []
    for r in results:
        extra = {k: v for k, v in r.items() if k not in ("op", "minflt", "majflt", "child")}
        lines.append(f"{indent}{r['op']:<40} {r.get('minflt', ''):>5} {r.get('majflt', ''):>4} "
                     f"{extra if extra else ''}")
        if "child" in r:
            lines += table(r["child"], indent + "  child: ").splitlines()
    return "\n".join(lines)


_HOST_RESULTS = {}


def host_results_or_skip(scenarios, name):
    """run_host(scenarios[name]), once per test session; the test is skipped (pytest.skip)
    when the host refuses the scenario or the helper cannot run."""
    import pytest
    key = (id(scenarios), name)
    if key not in _HOST_RESULTS:
        try:
            _HOST_RESULTS[key] = run_host(scenarios[name])
        except HostRefused as e:
            pytest.skip(f"host refused: {e}")
        except (OSError, RuntimeError) as e:
            pytest.skip(f"cannot run the host helper: {e}")
    return _HOST_RESULTS[key]
