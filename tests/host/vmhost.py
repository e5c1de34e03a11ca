"""Run the same memory system calls on the host kernel (through tests/host/vmhelper.c) and on a
linuxmm process, inside one private window of the address space, and compare.

The window is placed above the helper's mmap_base (between ld.so and the stack), where the
kernel's top-down search never looks, so placements without a usable hint land outside the
window on both sides.  The linuxmm process gets the same window, guards and mmap_base.
"""
import os
import re
import shutil
import subprocess
import sys

import pytest

import linuxmm
from linuxmm.kernel import Kernel

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = 4096
U64 = (1 << 64) - 1


def host_available():
    return sys.platform.startswith("linux") and shutil.which("gcc") is not None \
        and os.path.exists("/proc/self/maps")


_BUILT = {}


def build_helper(tmpdir, name="vmhelper", extra=()):
    """Compile tests/host/<name>.c into tmpdir once per session; returns the binary's path."""
    if name not in _BUILT:
        out = os.path.join(str(tmpdir), name)
        subprocess.run(["gcc", "-O2", "-Wall", *extra, "-o", out, os.path.join(HERE, name + ".c")],
                       check=True, capture_output=True)
        _BUILT[name] = out
    return _BUILT[name]


class HostVM:
    def __init__(self, helper_path):
        self.proc = subprocess.Popen([helper_path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)

    def call(self, *words):
        self.proc.stdin.write(" ".join(str(w) for w in words) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"vmhelper died on {words}")
        ret, err = line.split()
        return int(ret), int(err)

    def maps(self, lo, hi):
        self.proc.stdin.write(f"maps {lo} {hi}\n")
        self.proc.stdin.flush()
        lines = []
        while True:
            line = self.proc.stdout.readline()
            if not line or line == "end\n":
                return lines
            lines.append(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=5)


def _hex_start(line):
    return int(line.split("-", 1)[0], 16)


class Pair:
    """A host window and a linuxmm window at the same addresses."""

    def __init__(self, helper_path, pages=48, guard=4):
        self.host = HostVM(helper_path)
        full = self.host.maps(0, U64)
        stack = [ln for ln in full if ln.rstrip().endswith("[stack]")][0]
        stack_start = _hex_start(stack)
        self.stack_start = stack_start
        below = [ln for ln in full if _hex_start(ln) < stack_start and "/" in ln]
        mmap_base = max(int(ln.split()[0].split("-")[1], 16) for ln in below)
        total = (pages + 2 * guard) * PAGE
        hint = (mmap_base + (64 << 20)) & ~(PAGE - 1)
        if hint + total + (64 << 20) > stack_start - (2 << 20):
            self.close()
            pytest.skip("no room above mmap_base on the host for the test window")
        base, err = self.host.call("window", pages, guard, hint)
        assert err == 0, err
        self.base = base
        self.pages = pages
        self.end = base + pages * PAGE
        self.kernel = Kernel(randomize_va_space=0)
        self.proc = self.kernel.spawn("vmhelper")
        mm = self.proc.mm
        mm.mmap_base = mmap_base
        shared = linuxmm.MAP_SHARED | linuxmm.MAP_ANONYMOUS | linuxmm.MAP_FIXED_NOREPLACE
        self.proc.mmap(base - guard * PAGE, total, 0, shared)      # as the helper does
        self.proc.munmap(base, pages * PAGE)
        self.host_fds = {}
        self.sim_files = {}

    def close(self):
        self.host.close()

    # -- one operation on both sides ---------------------------------------------------------
    def sim_call(self, op, *args):
        p = self.proc
        try:
            if op == "mmap":
                addr, length, prot, flags, fd, off = args
                file = self.sim_files.get(fd)
                return p.mmap(addr, length, prot, flags, file, off), 0
            if op == "munmap":
                return p.munmap(*args), 0
            if op == "mprotect":
                return p.mprotect(*args), 0
            if op == "mremap":
                return p.mremap(*args), 0
            if op == "madvise":
                return p.madvise(*args), 0
            if op == "brk":
                return p.brk(*args), 0
            if op == "touch":
                p.touch(args[0], write=True)
                return 0, 0
        except OSError as err:
            return U64, err.errno
        raise AssertionError(op)

    def open(self, path, flags):
        fd, err = self.host.call("open", path, flags)
        assert err == 0
        self.host_fds[fd] = path
        self.sim_files[fd] = self.kernel.open(path, flags)
        return fd

    def step(self, op, *args, keep=False):
        """Run op on both; returns the (normalized) common result, asserting they agree.
        A mapping placed outside the window is unmapped again on both sides unless keep."""
        host = self.host.call(op, *args)
        sim = self.sim_call(op, *args)
        hret, herr = host
        sret, serr = sim
        assert herr == serr, f"{op}{args}: host errno {herr}, linuxmm errno {serr}"
        if herr == 0 and op in ("mmap", "mremap") and not keep:
            length = args[1] if op == "mmap" else args[2]
            length = (length + PAGE - 1) & ~(PAGE - 1)
            h_in = self.base <= hret < self.end
            s_in = self.base <= sret < self.end
            assert h_in == s_in, f"{op}{args}: host {hret:#x}, linuxmm {sret:#x}"
            if not h_in:
                # placed outside the window (no usable hint): both sides drop it again
                assert self.host.call("munmap", hret, length) == (0, 0)
                assert self.sim_call("munmap", sret, length) == (0, 0)
                return "outside", 0
        assert hret == sret, f"{op}{args}: host {hret:#x}, linuxmm {sret:#x}"
        return hret, herr

    def host_map_count(self):
        return sum(1 for ln in self.host.maps(0, U64) if not ln.rstrip().endswith("[vsyscall]"))

    def fill(self, addr, count):
        """count single read-only pages at addr, addr + 2 pages, ... on both sides."""
        done, err = self.host.call("fill", addr, count)
        assert (done, err) == (count, 0)
        flags = linuxmm.MAP_PRIVATE | linuxmm.MAP_ANONYMOUS | linuxmm.MAP_FIXED_NOREPLACE
        for i in range(count):
            self.proc.mmap(addr + 2 * i * PAGE, PAGE, linuxmm.PROT_READ, flags)

    def maps(self):
        host = self.host.maps(self.base, self.end)
        sim = [ln for ln in self.proc.maps.splitlines(keepends=True)
               if self.base <= _hex_start(ln) < self.end]
        return _normalize_shm(host), _normalize_shm(sim)

    def compare_maps(self, context=""):
        host, sim = self.maps()
        assert sim == host, f"maps differ {context}\nhost:\n{''.join(host)}\nlinuxmm:\n{''.join(sim)}"
        return sim


_SHM = re.compile(r" 00:01 (\d+) ")


def _normalize_shm(lines):
    """Shared anonymous inode numbers are arbitrary: number them by first appearance."""
    seen = {}
    out = []
    for line in lines:
        m = _SHM.search(line)
        if m:
            ino = seen.setdefault(m.group(1), len(seen))
            line = line[:m.start()] + f" 00:01 shm{ino} " + line[m.end():]
            line = re.sub(r" {2,}/dev/zero", "  /dev/zero", line)
        out.append(line)
    return out
