"""Fuzzing the readers of untrusted input with Hypothesis (issue 11): mutated ELF files given
to execve, e820 maps given to Kernel(e820=...), scenario TOML, strace logs and lackey traces.

Each mutated input must give either a result or the documented exception (OSError for execve,
ValueError/MemoryError for e820, ScenarioError, TraceError), never an uncaught IndexError,
KeyError, struct.error, UnicodeDecodeError..., within a time bound per example; the ELF test
also bounds the memory the process grows by."""
import contextlib
import gzip
import os
import resource
import shutil
import signal
import struct
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import linuxmm
from linuxmm import boot, scenario
from linuxmm.replay import TraceError, detect
from linuxmm.replay import access as lackey
from linuxmm.replay import strace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
TIME_BOUND = 60          # seconds per example, generous for a loaded machine: a hang, not a slow run

FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck))


class TooSlow(Exception):
    pass


@contextlib.contextmanager
def time_bound(seconds=TIME_BOUND):
    """Fail (TooSlow) when the body runs longer than seconds: a hang on a mutated input."""
    def alarm(signum, frame):
        raise TooSlow(f"no answer within {seconds} s")
    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- mutations ----------------------------------------------------------------------------------
INTERESTING = [0, 1, 2, 3, 7, 0x38, 0x40, 0xfff, 0x1000, 0x1001, 0x200000, 0x7fff_ffff,
               0x8000_0000, 0xffff_ffff, 0x1_0000_0000, 0x7fff_ffff_f000, 0x8000_0000_0000,
               0x7fff_ffff_ffff_ffff, 0x8000_0000_0000_0000, 0xffff_ffff_ffff_f000,
               0xffff_ffff_ffff_ffff]


def byte_edits(limit):
    """A list of (position, new byte) edits at positions below limit."""
    return st.lists(st.tuples(st.integers(0, limit - 1), st.integers(0, 255)), max_size=12)


def text_edits(text, alphabet=None):
    """Character edits of text: replace, insert or delete at random positions; a truncation."""
    chars = st.characters() if alphabet is None else st.sampled_from(alphabet)
    edit = st.tuples(st.sampled_from("rid"), st.integers(0, max(len(text) - 1, 0)), chars)

    @st.composite
    def mutated(draw):
        out = list(text)
        for kind, pos, ch in draw(st.lists(edit, max_size=10)):
            pos = min(pos, len(out))
            if kind == "r" and pos < len(out):
                out[pos] = ch
            elif kind == "i":
                out.insert(pos, ch)
            elif out and pos < len(out):
                del out[pos]
        s = "".join(out)
        if draw(st.booleans()):
            s = s[:draw(st.integers(0, len(s)))]
        return s
    return mutated()


# -- ELF ------------------------------------------------------------------------------------------
def _seed_elf():
    for path in ("/bin/true", "/usr/bin/true"):
        if os.path.isfile(path):
            with open(path, "rb") as f:
                data = f.read()
            if data[:4] == b"\x7fELF" and data[4] == 2 and data[18] == 62:
                return data
    return None


SEED_ELF = _seed_elf()
EHDR_FIELDS = {"e_type": (16, "<H"), "e_machine": (18, "<H"), "e_entry": (24, "<Q"),
               "e_phoff": (32, "<Q"), "e_phentsize": (54, "<H"), "e_phnum": (56, "<H")}
PHDR_FIELDS = {"p_type": (0, "<I"), "p_flags": (4, "<I"), "p_offset": (8, "<Q"),
               "p_vaddr": (16, "<Q"), "p_filesz": (32, "<Q"), "p_memsz": (40, "<Q"),
               "p_align": (48, "<Q")}


class Mutated(bytes):
    """The mutated bytes, shown as the edits that made them (not 35 kB of repr)."""

    def __new__(cls, data, edits):
        self = super().__new__(cls, data)
        self.edits = edits
        return self

    def __repr__(self):
        return f"Mutated(<{len(self)} bytes>, edits={self.edits!r})"


@st.composite
def mutated_elf(draw):
    data = bytearray(SEED_ELF)
    edits = []
    phoff, phnum = struct.unpack_from("<Q", data, 32)[0], struct.unpack_from("<H", data, 56)[0]
    head = phoff + 56 * phnum
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            off, fmt = EHDR_FIELDS[draw(st.sampled_from(sorted(EHDR_FIELDS)))]
        else:
            off, fmt = PHDR_FIELDS[draw(st.sampled_from(sorted(PHDR_FIELDS)))]
            off += phoff + 56 * draw(st.integers(0, phnum - 1))
        bits = 8 * struct.calcsize(fmt)
        value = draw(st.sampled_from(INTERESTING) | st.integers(0, 2**bits - 1)) % 2**bits
        struct.pack_into(fmt, data, off, value)
        edits.append((off, fmt, hex(value)))
    for pos, byte in draw(byte_edits(head)):
        data[pos] = byte
        edits.append((pos, byte))
    if draw(st.integers(0, 4)) == 0:
        data = data[:draw(st.integers(0, head + 64))]
        edits.append(("truncate", len(data)))
    return Mutated(data, edits)


@pytest.fixture(scope="module")
def elf_dir():
    d = tempfile.mkdtemp(prefix="linuxmm-fuzz-elf-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.skipif(SEED_ELF is None, reason="no x86_64 /bin/true to mutate")
@FUZZ
@given(data=mutated_elf())
def test_execve_of_mutated_elf_is_oserror_or_runs(elf_dir, data):
    path = os.path.join(elf_dir, "prog")
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o755)
    k = linuxmm.Kernel("256M", randomize_va_space=2, seed=1)
    p = k.spawn("sh")
    before = maxrss_mb()
    with time_bound():
        try:
            p.execve(path, [path], ["A=1"])
        except OSError:
            pass                         # ENOEXEC, EIO, EINVAL, ENOMEM, ENOENT (interpreter)...
    assert maxrss_mb() - before < 512, "execve of a mutated ELF grew the process by > 512 MiB"
    if p.alive and p.mm is not None:
        p.mm.check()
    p.exit()
    k.check()


@pytest.mark.skipif(SEED_ELF is None, reason="no x86_64 /bin/true to mutate")
def test_execve_of_truncated_and_garbage_files(elf_dir):
    k = linuxmm.Kernel("256M")
    p = k.spawn("sh")
    path = os.path.join(elf_dir, "short")
    for data in (b"", b"\x7fELF", SEED_ELF[:63], SEED_ELF[:64], SEED_ELF[:200], b"\0" * 4096,
                 b"#!/bin/sh\n", bytes(range(256)) * 16):
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o755)
        with pytest.raises(OSError):
            p.execve(path, [path], [])
    p.mm.check()


# -- e820 -----------------------------------------------------------------------------------------
E820_TEXT = ("[    0.000000] BIOS-provided physical RAM map:\n"
             + "".join(f"[    0.000000] {line}\n"
                       for line in boot.e820_format(boot.default_e820(256 << 20)).splitlines())
             + "[    0.000000] e820: update [mem 0x00000000-0x00000fff] usable ==> reserved\n")
SMALL_MACHINE = 4 << 30               # boot mutated maps up to this much RAM (memory bound)


def _boot_e820(e820):
    """Kernel(e820=...) when the map parses and describes a small machine; else the parser's
    answer.  Only ValueError (incl. ArgumentTypeError) and MemoryError are documented."""
    with time_bound():
        try:
            entries = boot.parse_e820(e820)
        except ValueError:
            return
        if not entries or max(e for _, e, _ in entries) >= SMALL_MACHINE:
            return
        try:
            k = linuxmm.Kernel(e820=e820, cpus=1)
        except (ValueError, MemoryError):
            return
        k.check()


@FUZZ
@given(text=text_edits(E820_TEXT, alphabet="0123456789abcdefx-[] :\nusablereservdACPI\x00\u00e9"))
def test_kernel_e820_text_mutations(text):
    _boot_e820(text)


value = (st.integers(-2**65, 2**65) | st.sampled_from(INTERESTING) | st.none() | st.floats()
         | st.text(max_size=8) | st.booleans() | st.sampled_from(["4K", "1M", "-1", "usable"]))
kind = st.sampled_from(["usable", "reserved", "ACPI data", "ACPI NVS", "unusable", "", "x"]) | value


@FUZZ
@given(table=st.lists(st.one_of(st.tuples(value, value, kind), st.tuples(value, value),
                                st.lists(value, max_size=4), value), max_size=6))
def test_kernel_e820_table_mutations(table):
    _boot_e820(table)


# -- scenarios ------------------------------------------------------------------------------------
def _example(name):
    with open(os.path.join(EXAMPLES, name), encoding="utf-8") as f:
        return f.read()


SCENARIO_TEXTS = {name: _example(name) for name in ("fork.toml", "files.toml", "pressure.toml")}


@FUZZ
@given(data=st.data(), name=st.sampled_from(sorted(SCENARIO_TEXTS)))
def test_scenario_text_mutations(data, name):
    text = data.draw(text_edits(SCENARIO_TEXTS[name]))
    with time_bound():
        try:
            scenario.loads(text, name)
        except scenario.ScenarioError:
            pass


def _mutate_tree(draw, node, depth=0):
    """The parsed TOML with some values swapped for others of any type."""
    if isinstance(node, dict):
        out = {}
        for key, val in node.items():
            if draw(st.integers(0, 24)) == 0:
                continue                                         # key dropped
            out[key] = _mutate_tree(draw, val, depth + 1)
        if draw(st.integers(0, 9)) == 0:
            out[draw(st.sampled_from(["at", "do", "size", "mem", "process", "zz"]))] = draw(value)
        return out
    if isinstance(node, list):
        return [_mutate_tree(draw, item, depth + 1) for item in node]
    if draw(st.integers(0, 14)) == 0:
        return draw(value | st.lists(value, max_size=3) | st.dictionaries(st.text(max_size=3),
                                                                          value, max_size=2))
    return node


@FUZZ
@given(data=st.data(), name=st.sampled_from(sorted(SCENARIO_TEXTS)))
def test_scenario_value_mutations(data, name):
    tree = _mutate_tree(data.draw, scenario.tomllib.loads(SCENARIO_TEXTS[name]))
    with time_bound():
        try:
            s = scenario.Scenario(tree, name)
        except scenario.ScenarioError:
            return
        machine = tree.get("machine", {})
        try:
            mem = linuxmm.units.parse_size(machine.get("mem", "1G"))
        except ValueError:
            return
        if mem > SMALL_MACHINE:
            return                               # memory bound of the test, not of linuxmm
        try:
            s.run()
        except scenario.ScenarioError:
            pass


# -- strace logs and lackey traces ----------------------------------------------------------------
STRACE_TEXT = _example("anon.strace")
with gzip.open(os.path.join(EXAMPLES, "small.lackey.gz"), "rt") as _f:
    LACKEY_TEXT = "".join(_f.readline() for _ in range(120))


def _write(tmpdir, name, data):
    path = os.path.join(tmpdir, name)
    with open(path, "wb") as f:
        f.write(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    return path


@pytest.fixture(scope="module")
def trace_dir():
    d = tempfile.mkdtemp(prefix="linuxmm-fuzz-trace-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


STRACE_ALPHABET = list("0123456789abcdefx(),|=-<>[]{}\\\"\n+?./_ ") + ["MAP_FIXED", "PROT_READ",
                  "NULL", "<unfinished ...>", "<... mmap resumed>", "[pid 7] ", "+++ exited with 0 +++",
                  "\x00", "\u00e9", "\"", "execve(", "clone(", " = ", "-1 ENOMEM", "mremap("]


@FUZZ
@given(data=st.data(), gz=st.booleans())
def test_strace_log_mutations(trace_dir, data, gz):
    text = data.draw(text_edits(STRACE_TEXT, STRACE_ALPHABET))
    raw = text.encode("utf-8", "surrogatepass")
    path = _write(trace_dir, "log.strace", gzip.compress(raw) if gz else raw)
    with time_bound():
        try:
            strace.parse_log(path)
        except TraceError:
            return
        try:
            summary, k = strace.replay(path, mem="256M")
        except TraceError:
            return
        assert summary["calls"] == len(summary["results"])
        k.check()


@FUZZ
@given(data=st.data())
def test_lackey_trace_mutations(trace_dir, data):
    text = data.draw(text_edits(LACKEY_TEXT, list("0123456789abcdefILSM ,\n=x") + ["\x00", "\u00e9"]))
    path = _write(trace_dir, "trace.lackey", text)
    with time_bound():
        try:
            detect(path)
        except TraceError:
            pass
        try:
            addrs, writes, counts = lackey.read_lackey(path)
        except TraceError:
            return
        assert len(addrs) == len(writes)


@FUZZ
@given(raw=st.binary(max_size=512) | st.sampled_from([b"\x1f\x8b", b"\x1f\x8b\x08\x00garbage",
                                                      b"\x93NUMPY", b"PK\x03\x04xx", b"\xff\xfe"]))
def test_binary_garbage_traces(trace_dir, raw):
    path = _write(trace_dir, "garbage", raw)
    with time_bound():
        for read in (detect, strace.parse_log, lackey.read_lackey, lackey.read_npz):
            try:
                read(path)
            except TraceError:
                pass
