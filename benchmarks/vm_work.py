"""Address spaces for the vm benchmarks: a process holding n one-page VMAs with one-page holes."""
import linuxmm as L
from linuxmm.kernel import Kernel

P = 4096
BASE = 0x10000000


def process_with(nr_vmas):
    k = Kernel(randomize_va_space=0)
    p = k.spawn("bench")
    flags = L.MAP_PRIVATE | L.MAP_ANONYMOUS | L.MAP_FIXED_NOREPLACE
    for i in range(nr_vmas):                      # 1-page VMAs with 1-page holes: no merging
        p.mmap(BASE + 2 * i * P, P, L.PROT_READ, flags)
    assert p.mm.map_count == nr_vmas
    return p
