"""Random fault programs, the same on this host's kernel and on linuxmm: anonymous, shared,
file and tmpfs mappings (some past EOF), reads and writes with strides, MADV_DONTNEED,
mprotect, munmap and forks; every fault count, signal, mincore, smaps entry and status line
after every step must agree, on both backends.  The seeds are fixed (the host numbers are
measured live, never stored)."""
import random

import pytest

from host import faulthost as fh
from linuxmm import (MADV_DONTNEED, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_NONE,
                     PROT_READ, PROT_WRITE)

pytestmark = [pytest.mark.host,
              pytest.mark.skipif(not fh.host_available(), reason="needs Linux, gcc and /proc")]
RW = PROT_READ | PROT_WRITE
OBS = {"mincore": 1, "smaps": 1, "status": 1}
SEEDS = range(24)
_HOST = {}


def scenario(seed):
    r = random.Random(seed)
    ops = []
    maps = []
    nfile = 0
    for step in range(r.randint(4, 10)):
        kind = r.random()
        if not maps or kind < 0.25:
            n = r.choice([8, 32, 64, 100])
            which = r.random()
            prot = r.choice([RW, RW, PROT_READ])
            align = r.choice([0, 0, 5, 13])
            var = f"m{len(maps)}"
            if which < 0.4:
                ops.append(("mmap", var, n, prot, MAP_PRIVATE | MAP_ANONYMOUS, None, 0, align))
            elif which < 0.55:
                ops.append(("mmap", var, n, prot, MAP_SHARED | MAP_ANONYMOUS, None, 0, align))
            else:
                name = f"f{nfile}"; nfile += 1
                size = r.choice([n, n // 2 + 1, 2 * n])
                ops.append((r.choice(["file", "file", "shmfile", "shmhole"]), name, size))
                if r.random() < 0.5 and ops[-1][0] == "file":
                    ops.append(("cache", name, 0, size))
                flags = r.choice([MAP_PRIVATE, MAP_SHARED])
                ops.append(("mmap", var, n, prot, flags, name, 0, align))
            maps.append((var, n))
            continue
        var, n = r.choice(maps)
        first = r.randrange(n)
        cnt = r.randint(1, n - first)
        c = r.random()
        if c < 0.35:
            ops.append(("read", var, first, cnt, r.choice([1, 1, 3, 16]), OBS))
        elif c < 0.65:
            ops.append(("write", var, first, cnt, r.choice([1, 1, 2]), OBS))
        elif c < 0.72:
            ops.append(("madvise", var, first, cnt, MADV_DONTNEED, OBS))
        elif c < 0.8:
            ops.append(("mprotect", var, first, cnt, r.choice([PROT_READ, RW, PROT_NONE]), OBS))
        elif c < 0.85:
            ops.append(("munmap", var, first, cnt, OBS))
        else:
            sub = [("read", var, 0, n, OBS), ("write", var, first, cnt, OBS)]
            ops.append(("fork_child", sub))
            ops.append(("write", var, 0, n, OBS))
    return ops



@pytest.mark.parametrize("backend", ["c", "reference"])
@pytest.mark.parametrize("seed", SEEDS)
def test_random_program_matches_host(seed, backend):
    s = scenario(seed)
    if seed not in _HOST:
        try:
            _HOST[seed] = fh.run_host(s)
        except fh.HostRefused as e:
            pytest.skip(f"host refused: {e}")
        except (OSError, RuntimeError) as e:
            pytest.skip(f"cannot run the host helper: {e}")
    fh.assert_same_as_host(s, _HOST[seed], fh.run_linuxmm(s, backend))
