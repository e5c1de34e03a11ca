"""Workloads of the Kernel-level benchmarks (zones + pcp over the buddy allocator)."""
import subprocess
import sys

GFP_KERNEL = 0xCC0
MEM = "2G"


def kernel_pairs(k, pairs, order=0):
    """alloc+free pairs through k.alloc_pages/k.free_pages; returns the sum of the pfns."""
    alloc, free = k.alloc_pages, k.free_pages
    total = 0
    for _ in range(pairs):
        pfn = alloc(GFP_KERNEL, order)
        total += pfn
        free(pfn, order)
    return total


def free_total(k):
    """Free pages counting the per-CPU lists (what a round trip must leave unchanged)."""
    return sum(z.free_pages + sum(z.pcp_count(c) for c in range(k.cpus)) for z in k.zones)


BOOT_SCRIPT = """
import resource, sys, time
sys.path.insert(0, {root!r})
import linuxmm
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
k = linuxmm.Kernel({mem!r}, backend="c")
dt = time.perf_counter() - t
k.alloc_pages(0xcc0)
assert sum(z.present_pages for z in k.zones) > 0
print(dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base,
      sum(z.managed_pages for z in k.zones))
"""


def boot_in_subprocess(mem, root):
    """(seconds, extra max RSS in bytes, managed pages) of booting Kernel(mem) in a new process."""
    out = subprocess.run([sys.executable, "-c", BOOT_SCRIPT.format(root=root, mem=mem)],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1]) * 1024, int(out[2])
