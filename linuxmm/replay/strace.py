"""Replaying ``strace -f -y -e trace=%memory,execve`` logs.

Each process of the log becomes a simulated process: its ``execve`` loads the same host ELF file
(linuxmm's binfmt_elf), then every memory system call is made again with the recorded
arguments (addresses as recorded, file descriptors as the ``-y`` paths show them) and linuxmm's
result is compared with the kernel's, which the log carries (the address, or ``-1 ENOMEM``...).
A log recorded without address randomization (``setarch -R``, as ``linuxmm record`` does) is
replayed with ``randomize_va_space=0``: the addresses can then be equal call for call.
"""
import errno
import os
import re

from . import TraceError, open_text
from ..vm import constants as C

# system calls replayed, by name -> (x86_64 number or None for execve/brk special cases)
REPLAYED = ("mmap", "munmap", "mprotect", "mremap", "brk", "madvise", "mlock", "mlock2",
            "munlock", "mlockall", "munlockall", "execve")
FORKS = ("clone", "clone3", "fork", "vfork")

_PREFIX = re.compile(r"^(?:\[pid +(\d+)\] |(\d+) +)?(?:\d+:\d+:\d+(?:\.\d+)? |\d+\.\d+ )?")
_CALL = re.compile(r"^([a-z_0-9]+)\((.*)\)\s+=\s+(.*)$")
_UNFINISHED = re.compile(r"^([a-z_0-9]+)\((.*?)\s*<unfinished \.\.\.>$")
_RESUMED = re.compile(r"^<\.\.\. ([a-z_0-9]+) resumed>\s*(.*)\)\s+=\s+(.*)$")
_EXIT = re.compile(r"^\+\+\+ (exited with \d+|killed by \w+.*) \+\+\+$")
_RESULT = re.compile(r"^(-?\d+|0x[0-9a-fA-F]+)(?:\s+(E[A-Z0-9]+)\b.*)?$")

_CONST = {name: getattr(C, name) for name in dir(C) if name.isupper()}
_CONST.update({"NULL": 0, "MCL_CURRENT": 1, "MCL_FUTURE": 2, "MCL_ONFAULT": 4,
               "MLOCK_ONFAULT": 1, "MAP_FILE": 0, "MAP_HUGE_2MB": 21 << 26,
               "MAP_HUGE_1GB": 30 << 26, "MREMAP_MAYMOVE": 1, "MREMAP_FIXED": 2,
               "MREMAP_DONTUNMAP": 4})


class Call:
    """One recorded call: pid, name, raw argument text, the kernel's result (int, with errno
    name when it failed) and the line number."""

    def __init__(self, lineno, pid, name, args, result):
        self.lineno, self.pid, self.name, self.args_text = lineno, pid, name, args
        self.result_text = result.strip()
        self.args = split_args(args)
        m = _RESULT.match(self.result_text)
        if m is None:
            self.ret, self.err = None, None          # "?" (exit), unparsable
        else:
            value = int(m.group(1), 0)
            self.err = m.group(2)
            self.ret = value
        self.kernel = self.result_text.split(" (")[0]

    def __repr__(self):
        return f"{self.name}({self.args_text}) = {self.result_text}"


def split_args(text):
    """The top-level arguments of a call, as strings (brackets, braces, quotes and -y's
    <path> kept whole; /* comments */ dropped)."""
    out, depth, cur, i, quote = [], 0, [], 0, False
    while i < len(text):
        ch = text[i]
        if quote:
            cur.append(ch)
            if ch == "\\" and i + 1 < len(text):
                cur.append(text[i + 1])
                i += 1
            elif ch == '"':
                quote = False
        elif ch == '"':
            quote = True
            cur.append(ch)
        elif text.startswith("/*", i):
            end = text.find("*/", i)
            i = len(text) if end < 0 else end + 2
            continue
        elif ch in "[{(<":
            depth += 1
            cur.append(ch)
        elif ch in "]})>":
            depth -= 1
            cur.append(ch)
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    if cur or out:
        out.append("".join(cur).strip())
    return out


def parse_int(text):
    """NULL, numbers, and flag expressions such as PROT_READ|PROT_WRITE or MAP_PRIVATE|0x40."""
    total = 0
    for part in text.split("|"):
        part = part.strip()
        if part in _CONST:
            total |= _CONST[part]
            continue
        m = re.match(r"^(\d+)<<(\d+)$", part)            # MAP_HUGE_... printed as 21<<MAP_HUGE_SHIFT
        if m:
            total |= int(m.group(1)) << int(m.group(2))
            continue
        m = re.match(r"^(\d+)<<MAP_HUGE_SHIFT$", part)
        if m:
            total |= int(m.group(1)) << 26
            continue
        try:
            total |= int(part, 0)
        except ValueError:
            raise ValueError(f"cannot read {text!r}") from None
    return total


def parse_fd(text):
    """(fd, path or None) of a -y descriptor argument such as 3</usr/lib/libc.so.6>."""
    m = re.match(r"^(-?\d+)(?:<(.*)>)?$", text)
    if m is None:
        raise ValueError(f"cannot read descriptor {text!r}")
    path = m.group(2)
    if path is not None and path.endswith(" (deleted)"):
        path = path[:-len(" (deleted)")]
    return int(m.group(1)), path


def parse_string(text):
    if not (text.startswith('"') and text.endswith('"')):
        if text.endswith('"...'):
            text = text[:-3]
        else:
            raise ValueError(f"expected a string, got {text!r}")
    return bytes(text[1:-1], "utf-8").decode("unicode_escape")


def parse_strings(text):
    text = text.strip()
    if not text.startswith("["):
        return None                                   # 0x7ffe... /* 39 vars */: not recorded
    inner = text[1:-1]
    return [parse_string(s) for s in split_args(inner) if s and s != "..."]


def parse_log(path):
    """Every call of the log (unfinished/resumed pairs joined), the forks seen, the exits."""
    events = []
    pending = {}
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            m = _PREFIX.match(line)
            pid = int(m.group(1) or m.group(2) or 0)
            rest = line[m.end():]
            if not rest or rest.startswith("---"):
                continue
            em = _EXIT.match(rest)
            if em:
                events.append(("exit", lineno, pid, em.group(1)))
                continue
            um = _UNFINISHED.match(rest)
            if um:
                pending[pid] = (lineno, um.group(1), um.group(2))
                continue
            rm = _RESUMED.match(rest)
            if rm:
                start = pending.pop(pid, None)
                if start is None or start[1] != rm.group(1):
                    continue
                args = start[2] + (", " if start[2] and rm.group(2) else "") + rm.group(2)
                rest = f"{rm.group(1)}({args}) = {rm.group(3)}"
                lineno = start[0]
            cm = _CALL.match(rest)
            if cm is None:
                continue
            try:
                events.append(("call", lineno, pid, Call(lineno, pid, *cm.groups())))
            except ValueError as err:
                raise TraceError(f"{path}:{lineno}: {err}") from None
    if not any(e[0] == "call" for e in events):
        raise TraceError(f"{path}: no system calls in this strace log")
    return events


def _expected(call):
    """What linuxmm's syscall() returns when it agrees with the kernel: the value, or -errno."""
    if call.err:
        return -getattr(errno, call.err, 0) if call.ret == -1 else call.ret
    return call.ret


def _show(value):
    if value is None:
        return "?"
    if value < 0 and -value in errno.errorcode:
        return f"-1 {errno.errorcode[-value]}"
    return hex(value) if value > 4096 else str(value)


class Replayer:
    def __init__(self, kernel, log_dir):
        self.k = kernel
        self.log_dir = log_dir
        self.procs = {}
        self.first = None
        self.parents = {}                     # child pid -> parent pid, for logs without clone
        self.threads = set()
        self.results = []
        self.unsupported = {}

    def process(self, pid):
        p = self.procs.get(pid)
        if p is None:
            parent = self.procs.get(self.parents.get(pid, self.first))
            if parent is not None and parent.alive:
                p = parent.fork()             # a new pid: forked (clone itself is not traced)
            else:
                p = self.k.spawn("replay")
            self.procs[pid] = p
            if self.first is None:
                self.first = pid
        return p

    def file(self, p, fd, path, shared):
        """Install (fd -> the file at path, opened anew) in p's descriptor table."""
        k = self.k
        file = None
        if path is not None and path.startswith("/"):
            for flags in ((os.O_RDWR, os.O_RDONLY) if shared else (os.O_RDONLY,)):
                try:
                    file = k.open(path, flags)
                    break
                except OSError:
                    continue
        if file is None:                      # unknown (no -y) or gone: a large simulated file
            sim = f"/replay/fd{fd}"
            try:
                file = k.open(sim, os.O_RDWR)
            except OSError:
                file = k.create_file(sim, 1 << 30)
        p.fds[fd] = file

    def call(self, c):
        p = self.process(c.pid)
        name, a = c.name, c.args
        if name in FORKS:
            child = c.ret
            if child is not None and child > 0 and child not in self.procs and p.alive:
                if "CLONE_VM" in c.args_text and "CLONE_VFORK" not in c.args_text:
                    self.procs[child] = p          # a thread: the same address space
                    self.threads.add(child)
                else:
                    self.procs[child] = p.fork()
            return
        if name not in REPLAYED:
            self.unsupported[name] = self.unsupported.get(name, 0) + 1
            return
        if not p.alive:
            return
        note = None
        if name == "execve":
            got = self.execve(p, a)
        else:
            if name == "mmap":
                fd, path = parse_fd(a[4])
                flags = parse_int(a[3])
                if not flags & C.MAP_ANONYMOUS and fd >= 0:
                    self.file(p, fd, path, flags & C.MAP_TYPE != C.MAP_PRIVATE)
                args = (parse_int(a[0]), parse_int(a[1]), parse_int(a[2]), flags, fd,
                        parse_int(a[5]))
            else:
                args = tuple(parse_int(x) for x in a)
            try:
                got = p.syscall(getattr(C, "NR_" + name), *args)
            except (ValueError, TypeError, OverflowError, MemoryError) as err:
                got, note = None, f"{type(err).__name__}: {err}"
        want = _expected(c)
        res = {"line": c.lineno, "pid": c.pid, "call": f"{name}({c.args_text})",
               "kernel": c.kernel, "linuxmm": note or _show(got),
               "match": want is not None and got == want}
        self.results.append(res)

    def execve(self, p, a):
        path = parse_string(a[0])
        argv = parse_strings(a[1]) or [os.path.basename(path)]
        envp = parse_strings(a[2]) if len(a) > 2 else None
        if not os.path.isabs(path) and not os.path.exists(path):
            alt = os.path.join(self.log_dir, path)
            path = alt if os.path.exists(alt) else path
        try:
            p.execve(path, argv, envp or [])
            p.comm = os.path.basename(path)[:15]
            return 0
        except OSError as err:
            return -err.errno


def replay(path, *, mem="16G", backend="c", cpus=2, seed=0, randomize_va_space=0,
           progress=None):
    """Replay an strace log: a summary dict with `calls` (compared), `matched`, `mismatches`
    (the differing calls with both results), `results` (every call), `unsupported` (memory
    calls linuxmm does not replay, by name) and `processes`."""
    from ..kernel import Kernel
    events = parse_log(path)
    k = Kernel(mem, backend=backend, cpus=cpus, seed=seed,
               randomize_va_space=randomize_va_space)
    r = Replayer(k, os.path.dirname(os.path.abspath(path)))
    # Which pids appear without a traced clone (they are forked from the first process).
    first = next(ev[2] for ev in events)
    cloned = {ev[3].ret for ev in events if ev[0] == "call" and ev[3].name in FORKS}
    later = {first: [pid for pid in dict.fromkeys(ev[2] for ev in events)
                     if pid != first and pid not in cloned]}
    for i, ev in enumerate(events):
        if ev[0] == "call":
            try:
                r.call(ev[3])
            except (ValueError, IndexError) as err:
                raise TraceError(f"{path}:{ev[1]}: cannot replay {ev[3]!r}: {err}") from None
        elif ev[2] in r.procs and ev[2] not in r.threads and r.procs[ev[2]].alive:
            # Without traced clone calls a child first seen after its parent exited is
            # forked now, as the parent's last moment.
            for pid in later.get(ev[2], ()):
                if pid not in r.procs:
                    r.procs[pid] = r.procs[ev[2]].fork()
            r.procs[ev[2]].exit()
        if progress is not None:
            progress(i + 1, len(events))
    mismatches = [res for res in r.results if not res["match"]]
    return {"trace": path, "kind": "strace", "calls": len(r.results),
            "matched": len(r.results) - len(mismatches), "mismatches": mismatches,
            "unsupported": r.unsupported, "processes": len(r.procs),
            "results": r.results}, k
