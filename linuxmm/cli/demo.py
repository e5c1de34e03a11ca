"""``linuxmm demo``: boot a machine, a burst of allocations, processes, memory pressure."""
import time

import numpy as np

from .. import gfp as G


def buddyinfo_line(zone_name, nr_free):
    """One /proc/buddyinfo line (mm/vmstat.c: frag_show_print)."""
    return f"Node 0, zone {zone_name:>8} " + "".join(f"{n:6d} " for n in nr_free)


def _meminfo(k, *names):
    lines = k.read("/proc/meminfo").splitlines()
    return [ln for ln in lines if ln.split(":")[0] in names]


def _vmstat(k, *prefixes):
    return [ln for ln in k.read("/proc/vmstat").splitlines() if ln.startswith(prefixes)]


def demo(args, phase=lambda name: None, facts=None):
    """Print the tour; phase(name) is called as each part starts; facts (a dict) collects the
    numbers that --json prints."""
    from ..kernel import Kernel
    facts = {} if facts is None else facts
    phase("boot and allocation burst")

    start = time.perf_counter()
    k = Kernel(args.mem, cpus=args.cpus, seed=args.seed, backend=args.backend)
    rng = np.random.default_rng(args.seed)
    print(f"linuxmm demo: an x86_64 machine with {args.mem} of RAM and {args.cpus} CPUs, booted as "
          f"Linux 6.x boots it ({k.backend} backend, seed {args.seed})\n")
    for z in k.zones:
        if z.present_pages:
            mn, lo, hi = z.watermark
            print(f"  zone {z.name:7} pfns {z.start_pfn:#9x}+{z.spanned_pages:<8} managed "
                  f"{z.managed_pages:8}  min/low/high {mn}/{lo}/{hi}")
    print("\n/proc/buddyinfo at boot:")
    print(k.read("/proc/buddyinfo"), end="")

    # A burst: user pages, kernel pages of mixed orders, DMA32 buffers, slab objects.
    user = [k.alloc_pages_bulk(G.GFP_HIGHUSER_MOVABLE, 4096) for _ in range(args.bursts)]
    kernel = [(k.alloc_pages(G.GFP_KERNEL, int(o)), int(o))
              for o in rng.choice([0, 0, 0, 1, 2, 3], size=20 * args.bursts)]
    dma32 = [k.alloc_pages(G.GFP_DMA32, 2) for _ in range(args.bursts)]
    dentries = k.kmem_cache_create("demo_dentry", 192)
    objs = dentries.alloc_bulk(500 * args.bursts)
    sizes = rng.integers(1, 4096, size=200 * args.bursts)
    kmallocs = [k.kmalloc(int(s)) for s in sizes]
    print(f"\nafter a burst: {sum(len(u) for u in user)} user pages, {len(kernel)} kernel "
          f"blocks of order 0-3, {len(dma32)} DMA32 buffers, {len(objs)} dentry-like objects, "
          f"{len(kmallocs)} kmallocs of 1..4095 bytes")
    print(k.read("/proc/buddyinfo"), end="")

    # Free a random half of everything: the free lists fragment.
    for batch in user:
        k.free_pages_bulk(batch[rng.random(len(batch)) < 0.5])
    for pfn, order in kernel:
        if rng.random() < 0.5:
            k.free_pages(pfn, order)
    half = rng.random(len(objs)) < 0.5
    dentries.free_bulk(objs[half])
    for addr in kmallocs[::2]:
        k.kfree(addr)
    print("\nafter freeing a random half of it (fragmented):")
    print(k.read("/proc/buddyinfo"), end="")

    print("\n/proc/slabinfo (the caches in use):")
    slabinfo = k.read("/proc/slabinfo").splitlines()
    print("\n".join(slabinfo[:2]))
    for line in slabinfo[2:]:
        fields = line.split()
        if fields[1] != "0" and (fields[0].startswith(("kmalloc-", "demo_"))):
            print(line)
    print("\n/proc/meminfo (excerpt):")
    print("\n".join(_meminfo(k, "MemTotal", "MemFree", "MemAvailable", "Slab", "SUnreclaim")))
    print("\n/proc/vmstat (excerpt):")
    print("\n".join(_vmstat(k, "pgalloc_", "pgfree", "nr_free_pages", "nr_slab_")))
    facts.update({"mem": k.mem, "cpus": k.cpus, "backend": k.backend, "seed": args.seed,
                  "user_pages": sum(len(u) for u in user), "kernel_blocks": len(kernel),
                  "slab_objects": len(objs), "kmallocs": len(kmallocs)})
    phase("processes: exec, mmap, faults, fork, exit")
    _process_demo(k, facts)
    k.check()
    phase("memory pressure: kswapd and swap")
    _pressure_demo(args, facts)
    elapsed = time.perf_counter() - start
    facts["seconds"] = round(elapsed, 3)
    print(f"\nall invariants checked; {elapsed * 1e3:.0f} ms in all")
    return 0


def _process_demo(k, facts):
    """A process: a few mmaps and, where the host has one, execve of a real ELF binary."""
    import os

    from .. import vm

    p = k.spawn("demo")
    rw = vm.PROT_READ | vm.PROT_WRITE
    anon = vm.MAP_PRIVATE | vm.MAP_ANONYMOUS
    binary = next((b for b in ("/usr/bin/cat", "/bin/cat") if os.path.exists(b)), None)
    if binary:
        p.execve(binary, ["cat"], ["PATH=/usr/bin:/bin"])
        print(f"\nexecve({binary!r}) loaded the ELF file as binfmt_elf does; then mmap, "
              f"mprotect, brk:")
    a = p.mmap(0, 64 << 10, rw, anon)
    p.mprotect(a + (16 << 10), 4096, vm.PROT_READ)    # splits the VMA in three
    p.brk(p.brk(0) + (132 << 10))
    print(f"/proc/{p.pid}/maps:")
    print(k.read(f"/proc/{p.pid}/maps"), end="")
    facts["exec"] = binary
    _fault_demo(k, p, facts)


def _fault_demo(k, p, facts):
    """Demand paging, a file through the page cache, fork with COW, exit."""
    from .. import vm
    size = 16 << 20
    a = p.mmap(0, size, vm.PROT_READ | vm.PROT_WRITE, vm.MAP_PRIVATE | vm.MAP_ANONYMOUS)
    p.touch_range(a, size // 2)                       # reads: the zero page
    p.touch_range(a, size, write=True)                # writes: zeroed pages, zero-page COW
    f = k.create_file("/data/demo.log", 4 << 20)
    m = p.mmap(0, 4 << 20, vm.PROT_READ, vm.MAP_PRIVATE, f, 0)
    p.touch_range(m, 4 << 20)                         # read-around, fault-around
    child = p.fork()
    rng = np.random.default_rng(0)
    addrs = rng.integers(a, a + size, 200_000)
    child.access(addrs, writes=rng.random(len(addrs)) < 0.3)   # COW copies in the child
    print(f"\nfaults: parent {p.min_flt} minor / {p.maj_flt} major, child {child.min_flt} "
          f"minor after 200k replayed accesses")
    print(f"/proc/{child.pid}/smaps_rollup:")
    print("\n".join(k.read(f"/proc/{child.pid}/smaps_rollup").splitlines()[:8]))
    print("/proc/meminfo (excerpt):")
    print("\n".join(_meminfo(k, "MemFree", "Cached", "AnonPages", "Mapped", "PageTables")))
    facts.update({"parent_min_flt": p.min_flt, "parent_maj_flt": p.maj_flt,
                  "child_min_flt": child.min_flt})
    child.exit()
    print(f"the child (pid {child.pid}) exited: its pages and page tables are free again")
    print("/proc/vmstat (excerpt):")
    print("\n".join(_vmstat(k, "pgfault", "pgmajfault", "pgreuse")))


def _pressure_demo(args, facts):
    """A small machine with swap: a process writes more than RAM holds; kswapd swaps."""
    from .. import vm
    from ..kernel import Kernel
    k = Kernel("64M", swap="64M", cpus=1, seed=args.seed, backend=args.backend)
    k.spawn("init")
    p = k.spawn("hog")
    npages = 9000
    a = p.mmap(0, npages * 4096, vm.PROT_READ | vm.PROT_WRITE,
               vm.MAP_PRIVATE | vm.MAP_ANONYMOUS)
    print(f"\nmemory pressure: a 64M machine ({k.read('/proc/meminfo').split()[1]} kB "
          f"MemTotal) with a 64M swap file; pid {p.pid} writes {npages} pages "
          f"({npages * 4 // 1024} MiB), more than RAM holds")
    p.write(a, b"first page")
    p.touch_range(a, npages * 4096, write=True)
    first = p.read(a, 10)
    print(f"kswapd swapped the oldest pages out; reading the first page back is a major "
          f"fault: {first!r}, maj_flt {p.maj_flt}")
    print("/proc/swaps:")
    print(k.read("/proc/swaps"), end="")
    print("/proc/meminfo (excerpt):")
    print("\n".join(_meminfo(k, "MemFree", "AnonPages", "SwapTotal", "SwapFree")))
    print(f"/proc/{p.pid}/status (excerpt):")
    print("\n".join(ln for ln in k.read(f"/proc/{p.pid}/status").splitlines()
                    if ln.startswith(("VmRSS", "RssAnon", "VmSwap"))))
    print("/proc/vmstat (excerpt):")
    print("\n".join(_vmstat(k, "pswp", "pgsteal_kswapd", "pgscan_kswapd", "pageoutrun")))
    print("/proc/pressure/memory:")
    print(k.read("/proc/pressure/memory"), end="")
    vs = k.vm_counters()
    facts.update({"pressure_pswpout": int(vs["pswpout"]), "pressure_pswpin": int(vs["pswpin"]),
                  "pressure_maj_flt": p.maj_flt, "pressure_swap_kb": p.rss["swap"] * 4})
    k.check()
