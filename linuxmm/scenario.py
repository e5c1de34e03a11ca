"""Scenarios: a machine, its processes and their actions over time, from a TOML file.

    s = linuxmm.scenario.load("examples/pressure.toml")     # ScenarioError names the bad key
    result = s.run()                                         # Result: .kernel, .summary()

The format is documented in docs/cli.md ("Scenario files").  Every run is deterministic: the
Kernel is booted with the scenario's seed and every random touch pattern draws from
numpy.random.default_rng(seed).
"""
import os
import sys

import numpy as np

from .errors import BusError, Killed, MMError, SegmentationFault
from .units import parse_size
from .vm import constants as C

if sys.version_info >= (3, 11):
    import tomllib
else:                                     # pragma: no cover - Python 3.9/3.10
    import tomli as tomllib

__all__ = ["ScenarioError", "Scenario", "Result", "load", "loads", "MACHINE_KEYS", "ACTIONS"]


class ScenarioError(ValueError):
    """A scenario file that cannot be run: the message names the file and the key."""


# Kernel(...) arguments a scenario's [machine] table may set, with their kinds.
MACHINE_KEYS = {
    "mem": "size", "swap": "size", "cpus": "int", "backend": "str", "arch": "str",
    "transparent_hugepage": "str", "swappiness": "int", "page_cluster": "int",
    "min_free_kbytes": "int", "watermark_scale_factor": "int", "randomize_va_space": "int",
    "read_ahead_kb": "int", "slab_nomerge": "bool", "percpu_pagelist_high_fraction": "int",
}
PROCESS_KEYS = {"name": "str", "exec": "str", "argv": "strlist", "env": "strlist",
                "oom_score_adj": "int"}

_REGION = {"region": "str"}
_RANGE = {"region": "str", "offset": "size", "length": "size"}
# action kind -> (required keys, optional keys, needs a process)
ACTIONS = {
    "mmap": ({"region": "str", "size": "size"},
             {"prot": "str", "shared": "bool", "file": "str", "offset": "size",
              "populate": "bool", "locked": "bool"}, True),
    "munmap": (_REGION, {}, True),
    "touch": (_REGION, {"offset": "size", "length": "size", "pattern": "str", "count": "int",
                        "write": "fraction", "repeat": "int"}, True),
    "write": (_REGION, {"offset": "size", "data": "str", "bytes": "size"}, True),
    "read": (_REGION, {"offset": "size", "length": "size"}, True),
    "madvise": ({"region": "str", "advice": "str"}, {"offset": "size", "length": "size"}, True),
    "mlock": (_REGION, {"offset": "size", "length": "size"}, True),
    "munlock": (_REGION, {"offset": "size", "length": "size"}, True),
    "mprotect": ({"region": "str", "prot": "str"}, {"offset": "size", "length": "size"}, True),
    "fork": ({"child": "str"}, {}, True),
    "exec": ({"path": "str"}, {"argv": "strlist", "env": "strlist"}, True),
    "exit": ({}, {}, True),
    "create_file": ({"path": "str", "size": "size"}, {}, False),
    "read_file": ({"path": "str"}, {"offset": "size", "length": "size"}, False),
    "write_file": ({"path": "str"}, {"offset": "size", "data": "str", "bytes": "size"}, False),
    "sleep": ({"seconds": "float"}, {}, False),
    "kswapd": ({}, {}, False),
    "drop_caches": ({}, {"mode": "int"}, False),
    "swapon": ({"size": "size"}, {"priority": "int", "path": "str"}, False),
    "swapoff": ({"path": "str"}, {}, False),
}
_COMMON = {"do": "str", "process": "str", "at": "time"}

ADVICE = {name[5:].lower(): getattr(C, name) for name in dir(C) if name.startswith("MADV_")}


def _check(where, key, value, kind):
    """The value of `key`, converted to its kind, or ScenarioError naming where.key."""
    name = f"{where}.{key}"
    if kind == "str":
        if not isinstance(value, str):
            raise ScenarioError(f"{name}: expected a string, got {value!r}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ScenarioError(f"{name}: expected true or false, got {value!r}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"{name}: expected an integer, got {value!r}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ScenarioError(f"{name}: expected a number >= 0, got {value!r}")
        return float(value)
    if kind == "fraction":
        if isinstance(value, bool):
            return 1.0 if value else 0.0
        if not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ScenarioError(f"{name}: expected a fraction 0..1 or true/false, got {value!r}")
        return float(value)
    if kind == "size":
        try:
            return parse_size(value)
        except (TypeError, ValueError):
            raise ScenarioError(f"{name}: bad size {value!r} (use e.g. 4096, \"64K\", \"1G\")") \
                from None
    if kind == "strlist":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ScenarioError(f"{name}: expected a list of strings, got {value!r}")
        return list(value)
    if kind == "time":
        return _parse_time(name, value)
    raise AssertionError(kind)


_TIME_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}


def _parse_time(name, value):
    """Simulated time in ns from a number of seconds or "1.5s", "200ms", "10us", "5ns"."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return int(round(value * 1e9))
    if isinstance(value, str):
        text = value.strip()
        for unit in ("ns", "us", "ms", "s"):
            if text.endswith(unit):
                try:
                    number = float(text[:-len(unit)])
                except ValueError:
                    break
                if number >= 0:
                    return int(round(number * _TIME_UNITS[unit]))
                break
    raise ScenarioError(f"{name}: bad time {value!r} (use seconds, or e.g. \"1.5s\", \"200ms\")")


def _table(where, table, required, optional):
    if not isinstance(table, dict):
        raise ScenarioError(f"{where}: expected a table, got {table!r}")
    allowed = {**required, **optional}
    for key in table:
        if key not in allowed:
            raise ScenarioError(f"{where}.{key}: unknown key (expected one of "
                                f"{', '.join(sorted(allowed))})")
    for key in required:
        if key not in table:
            raise ScenarioError(f"{where}.{key}: missing (required)")
    return {key: _check(where, key, value, allowed[key]) for key, value in table.items()}


def _prot(where, text):
    if text in ("none", ""):
        return C.PROT_NONE
    prot = 0
    for ch in text:
        bit = {"r": C.PROT_READ, "w": C.PROT_WRITE, "x": C.PROT_EXEC}.get(ch)
        if bit is None:
            raise ScenarioError(f"{where}.prot: bad protection {text!r} (letters r, w, x, "
                                f"or \"none\")")
        prot |= bit
    return prot


class Scenario:
    """A validated scenario: `machine` (Kernel keyword arguments), `seed`, `processes` and
    `actions` (dicts with sizes in bytes and times in ns)."""

    def __init__(self, data, source="<scenario>"):
        self.source = source
        where = os.path.basename(source)
        top = {"name": "str", "description": "str", "seed": "int", "machine": "table",
               "process": "tables", "action": "tables"}
        for key in data:
            if key not in top:
                raise ScenarioError(f"{where}: {key}: unknown key (expected one of "
                                    f"{', '.join(sorted(top))})")
        self.name = _check(where, "name", data.get("name", os.path.splitext(where)[0]), "str")
        self.description = _check(where, "description", data.get("description", ""), "str")
        self.seed = _check(where, "seed", data.get("seed", 0), "int")
        self.machine = _table(f"{where}: machine", data.get("machine", {}), {},
                              MACHINE_KEYS)
        procs = data.get("process", [])
        if not isinstance(procs, list):
            raise ScenarioError(f"{where}: process: expected [[process]] tables")
        self.processes = []
        names = set()
        for i, proc in enumerate(procs):
            entry = _table(f"{where}: process[{i}]", proc, {"name": "str"},
                           {k: v for k, v in PROCESS_KEYS.items() if k != "name"})
            if entry["name"] in names:
                raise ScenarioError(f"{where}: process[{i}].name: {entry['name']!r} is "
                                    f"already a process")
            names.add(entry["name"])
            self.processes.append(entry)
        actions = data.get("action", [])
        if not isinstance(actions, list):
            raise ScenarioError(f"{where}: action: expected [[action]] tables")
        self.actions = []
        last_at = 0
        mapped = {a.get("region") for a in actions
                  if isinstance(a, dict) and a.get("do") == "mmap"
                  and isinstance(a.get("region"), str)}        # (others are refused below)
        for i, act in enumerate(actions):
            w = f"{where}: action[{i}]"
            if not isinstance(act, dict):
                raise ScenarioError(f"{w}: expected a table")
            kind = act.get("do")
            if not isinstance(kind, str) or kind not in ACTIONS:
                raise ScenarioError(f"{w}.do: {'missing' if kind is None else repr(kind)} "
                                    f"(expected one of {', '.join(ACTIONS)})")
            required, optional, needs_process = ACTIONS[kind]
            required = dict(required)
            optional = {**optional, **_COMMON}
            if needs_process:
                required["process"] = "str"
            entry = _table(w, act, required, optional)
            if "process" in entry and entry["process"] not in names:
                raise ScenarioError(f"{w}.process: {entry['process']!r} is not a process "
                                    f"(defined: {', '.join(sorted(names)) or 'none'})")
            if kind == "fork":
                if entry["child"] in names:
                    raise ScenarioError(f"{w}.child: {entry['child']!r} is already a process")
                names.add(entry["child"])
            if "region" in entry and kind != "mmap" and entry["region"] not in mapped:
                raise ScenarioError(f"{w}.region: no mmap action creates region "
                                    f"{entry['region']!r}")
            if "prot" in entry:
                entry["prot"] = _prot(w, entry["prot"])
            if kind == "madvise":
                adv = entry["advice"].lower().removeprefix("madv_")
                if adv not in ADVICE:
                    raise ScenarioError(f"{w}.advice: unknown advice {entry['advice']!r} "
                                        f"(e.g. dontneed, pageout, cold, willneed)")
                entry["advice"] = adv
            if kind == "touch":
                pattern = entry.setdefault("pattern", "sequential")
                if pattern not in ("sequential", "random"):
                    raise ScenarioError(f"{w}.pattern: {pattern!r} (expected sequential or "
                                        f"random)")
                if "count" in entry and pattern != "random":
                    raise ScenarioError(f"{w}.count: only for pattern = \"random\"")
                if entry.get("count", 1) < 0 or entry.get("repeat", 1) < 1:
                    raise ScenarioError(f"{w}: count must be >= 0 and repeat >= 1")
            if kind in ("write", "write_file") and ("data" in entry) == ("bytes" in entry):
                raise ScenarioError(f"{w}: give exactly one of data and bytes")
            if "at" in entry:
                if entry["at"] < last_at:
                    raise ScenarioError(f"{w}.at: {act['at']!r} is earlier than an earlier "
                                        f"action's time (actions run in order)")
                last_at = entry["at"]
            self.actions.append(entry)

    def kernel(self):
        """Boot the scenario's machine."""
        from .kernel import Kernel
        try:
            return Kernel(**self.machine, seed=self.seed)
        except (ValueError, TypeError, MMError, MemoryError, OSError) as err:
            raise ScenarioError(f"{os.path.basename(self.source)}: machine: cannot boot: "
                                f"{err}") from None

    def run(self, progress=None, kernel=None):
        """Boot the machine and run every action; returns a Result.  `progress(i)` is called
        after each action."""
        k = kernel if kernel is not None else self.kernel()
        runner = _Runner(self, k)
        runner.start()
        for i, action in enumerate(self.actions):
            runner.step(i, action)
            if progress is not None:
                progress(i + 1)
        return Result(self, k, runner)


class _Runner:
    def __init__(self, scenario, kernel):
        self.s = scenario
        self.k = kernel
        self.rng = np.random.default_rng(scenario.seed)
        self.procs = {}          # name -> Process
        self.regions = {}        # name -> {region: (addr, size)}
        self.events = []
        self.dead = {}           # name -> why

    def event(self, index, name, what):
        self.events.append({"action": index, "process": name, "event": what})

    def start(self):
        for proc in self.s.processes:
            p = self.k.spawn(proc["name"][:15])
            self.procs[proc["name"]] = p
            self.regions[proc["name"]] = {}
            if "oom_score_adj" in proc:
                try:
                    p.oom_score_adj = proc["oom_score_adj"]
                except OSError:
                    raise ScenarioError(f"{self.where}: process {proc['name']!r}: "
                                        f"oom_score_adj must be in -1000..1000") from None
            if "exec" in proc:
                self._exec(None, proc["name"], proc["exec"], proc.get("argv"), proc.get("env"))

    @property
    def where(self):
        return os.path.basename(self.s.source)

    def _exec(self, index, name, path, argv, env):
        p = self.procs[name]
        argv = argv if argv is not None else [os.path.basename(path)]
        try:
            p.execve(path, argv, env or [])
        except OSError as err:
            what = f"execve({path!r}) failed: {os.strerror(err.errno)}"
            if index is None:
                raise ScenarioError(f"{self.where}: process {name!r}: {what}") from None
            self.event(index, name, what)
            return
        self.regions[name] = {}

    def _range(self, w, name, act):
        region = act["region"]
        if region not in self.regions[name]:
            raise _Skip(f"skipped: {name!r} has no region {region!r} now")
        addr, size = self.regions[name][region]
        offset = act.get("offset", 0)
        if offset > size:
            raise ScenarioError(f"{w}.offset: {offset} is beyond region {region!r} "
                                f"({size} bytes)")
        length = act.get("length", size - offset)
        if offset + length > size:
            raise ScenarioError(f"{w}.length: offset + length {offset + length} is beyond "
                                f"region {region!r} ({size} bytes)")
        return addr + offset, length

    def step(self, i, act):
        k = self.k
        w = f"{self.where}: action[{i}]"
        if "at" in act and act["at"] > k.now:
            k.advance(act["at"] - k.now)
        kind = act["do"]
        name = act.get("process")
        if name is not None:
            if name not in self.procs:
                raise ScenarioError(f"{w}.process: {name!r} does not exist yet (forked later?)")
            if name in self.dead:
                self.event(i, name, f"{kind} skipped: process {self.dead[name]}")
                return
        try:
            self._do(w, i, kind, name, act)
        except _Skip as skip:
            self.event(i, name, f"{kind} {skip}")
        except Killed as err:
            self.dead[name] = "killed by SIGKILL (out of memory)"
            self.event(i, name, f"killed by SIGKILL (out of memory) during {kind}")
            del err
        except SegmentationFault as err:
            self._signal(i, name, f"SIGSEGV ({err.code}) at {err.addr:#x} during {kind}")
        except BusError as err:
            self._signal(i, name, f"SIGBUS during {kind}: {err}")
        except OSError as err:
            self.event(i, name, f"{kind} failed: {os.strerror(err.errno) if err.errno else err}")
        except MemoryError as err:
            self.event(i, name, f"{kind} failed: out of memory ({err})")
        # Processes the OOM killer chose while another one ran:
        for pname, p in self.procs.items():
            if pname not in self.dead and getattr(p, "oom_killed", False):
                self.dead[pname] = "killed by SIGKILL (out of memory)"
                self.event(i, pname, "killed by SIGKILL (out of memory)")

    def _signal(self, i, name, what):
        self.event(i, name, what)
        p = self.procs[name]
        if p.alive:
            p.exit()
        self.dead[name] = "killed by " + what.split(" ")[0]

    def _do(self, w, i, kind, name, act):
        k = self.k
        p = self.procs.get(name)
        if kind == "mmap":
            flags = C.MAP_SHARED if act.get("shared") else C.MAP_PRIVATE
            file = None
            if "file" in act:
                try:
                    file = k.open(act["file"], os.O_RDWR if act.get("shared") else os.O_RDONLY)
                except OSError as err:
                    raise ScenarioError(f"{w}.file: cannot open {act['file']!r}: "
                                        f"{os.strerror(err.errno)}") from None
            else:
                flags |= C.MAP_ANONYMOUS
            if act.get("populate"):
                flags |= C.MAP_POPULATE
            if act.get("locked"):
                flags |= C.MAP_LOCKED
            prot = act.get("prot", C.PROT_READ | C.PROT_WRITE)
            addr = p.mmap(0, act["size"], prot, flags, file, act.get("offset", 0))
            self.regions[name][act["region"]] = (addr, act["size"])
        elif kind == "munmap":
            addr, size = self._range(w, name, {"region": act["region"]})
            p.munmap(addr, size)
            del self.regions[name][act["region"]]
        elif kind == "touch":
            addr, length = self._range(w, name, act)
            frac = act.get("write", 0.0)
            first = addr & ~4095
            npages = (addr + length - first + 4095) >> 12
            for _ in range(act.get("repeat", 1)):
                if act["pattern"] == "sequential":
                    addrs = first + (np.arange(npages, dtype=np.int64) << 12)
                else:
                    count = act.get("count", npages)
                    addrs = self.rng.integers(addr, addr + max(length, 1), count,
                                              dtype=np.int64)
                if frac in (0.0, 1.0):
                    writes = frac == 1.0
                else:
                    writes = self.rng.random(len(addrs)) < frac
                if length:
                    p.access(addrs, writes=writes)
        elif kind == "write":
            addr, length = self._range(w, name, {"region": act["region"],
                                                 "offset": act.get("offset", 0)})
            data = _payload(act)
            if len(data) > length:
                raise ScenarioError(f"{w}: {len(data)} bytes do not fit in region "
                                    f"{act['region']!r} at offset {act.get('offset', 0)}")
            p.write(addr, data)
        elif kind == "read":
            addr, length = self._range(w, name, act)
            p.read(addr, length)
        elif kind in ("madvise", "mlock", "munlock", "mprotect"):
            addr, length = self._range(w, name, act)
            if kind == "madvise":
                p.madvise(addr, length, ADVICE[act["advice"]])
            elif kind == "mprotect":
                p.mprotect(addr, length, act["prot"])
            else:
                getattr(p, kind)(addr, length)
        elif kind == "fork":
            child = p.fork()
            self.procs[act["child"]] = child
            self.regions[act["child"]] = dict(self.regions[name])
        elif kind == "exec":
            self._exec(i, name, act["path"], act.get("argv"), act.get("env"))
        elif kind == "exit":
            p.exit()
            self.dead[name] = "exited"
        elif kind == "create_file":
            k.create_file(act["path"], act["size"])
        elif kind in ("read_file", "write_file"):
            try:
                f = k.open(act["path"], os.O_RDWR if kind == "write_file" else os.O_RDONLY)
            except OSError as err:
                raise ScenarioError(f"{w}.path: cannot open {act['path']!r}: "
                                    f"{os.strerror(err.errno)}") from None
            offset = act.get("offset", 0)
            if kind == "read_file":
                f.read(offset, act.get("length", max(f.f_inode.i_size - offset, 0)))
            else:
                f.write(offset, _payload(act))
        elif kind == "sleep":
            k.sleep(act["seconds"])
        elif kind == "kswapd":
            k.kswapd()
        elif kind == "drop_caches":
            k.drop_caches(act.get("mode", 3))
        elif kind == "swapon":
            k.swapon(act["size"], act.get("priority"), act.get("path"))
        elif kind == "swapoff":
            k.swapoff(act["path"])


class _Skip(Exception):
    """An action whose region is not mapped (its mmap failed, or it was unmapped)."""


def _payload(act):
    if "data" in act:
        return act["data"].encode()
    pattern = b"linuxmm "
    n = act["bytes"]
    return (pattern * (n // len(pattern) + 1))[:n]


SUMMARY_VMSTAT = ("pgfault", "pgmajfault", "pswpin", "pswpout", "pgsteal_kswapd",
                  "pgsteal_direct", "pgscan_kswapd", "pgscan_direct", "oom_kill",
                  "workingset_refault_anon", "workingset_refault_file")
SUMMARY_MEMINFO = ("MemTotal", "MemFree", "Cached", "AnonPages", "SwapTotal", "SwapFree",
                   "PageTables")


def meminfo(k):
    out = {}
    for line in k.read("/proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        out[key] = int(rest.split()[0])
    return out


def vmstat(k):
    return {name: int(value) for name, value in
            (line.split() for line in k.read("/proc/vmstat").splitlines())}


class Result:
    """A finished run: `kernel` (its final state: k.read("/proc/...")), `processes`
    (name -> Process), `events` and `summary()`."""

    def __init__(self, scenario, kernel, runner):
        self.scenario = scenario
        self.kernel = kernel
        self.processes = runner.procs
        self.events = runner.events
        self.dead = runner.dead

    def summary(self):
        """A JSON-able dict: machine, per-process counts, meminfo and vmstat excerpts."""
        k = self.kernel
        procs = []
        for name, p in self.processes.items():
            entry = {"name": name, "pid": p.pid, "alive": bool(p.alive),
                     "oom_killed": bool(getattr(p, "oom_killed", False)),
                     "min_flt": p.min_flt, "maj_flt": p.maj_flt}
            if p.alive:
                rss = p.rss
                entry.update({"rss_anon_kb": rss["anon"] * 4, "rss_file_kb": rss["file"] * 4,
                              "swap_kb": rss["swap"] * 4, "vmas": p.mm.map_count})
            procs.append(entry)
        mi, vs = meminfo(k), vmstat(k)
        return {"scenario": self.scenario.name, "backend": k.backend, "mem": k.mem,
                "swap": k.swap, "cpus": k.cpus, "seed": self.scenario.seed,
                "actions": len(self.scenario.actions), "time_ns": int(k.now),
                "processes": procs, "events": list(self.events),
                "meminfo_kb": {key: mi.get(key, 0) for key in SUMMARY_MEMINFO},
                "vmstat": {key: vs.get(key, 0) for key in SUMMARY_VMSTAT}}


def parse_toml(text, source="<string>"):
    """The tables of TOML text; ScenarioError naming the source when it is not TOML."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{os.path.basename(source)}: not valid TOML: {err}") from None


def loads(text, source="<string>"):
    """A Scenario from TOML text."""
    return Scenario(parse_toml(text, source), source)


def read_text(path):
    """The text of a scenario file; ScenarioError when it cannot be read or is not UTF-8."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as err:
        raise ScenarioError(f"{path}: {err.strerror}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not a UTF-8 text file") from None


def load(path):
    """A Scenario from a TOML file."""
    return loads(read_text(path), path)
