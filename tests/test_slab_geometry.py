"""Cache geometry against the real kernel this runs on, and kmalloc size classes.

The host's /proc/slabinfo (root only) and /sys/kernel/slab are the oracle: every cache line's
objsize, objperslab and pagesperslab must come out of a cache created with that object size.
Tests skip when the files are unreadable.
"""
import os

import pytest

import linuxmm
import linuxmm.reference
from linuxmm._ffi import lib
from linuxmm.slab import flags as F
from linuxmm.slab import geometry as G
from linuxmm.slab import kmalloc as K
from linuxmm.slab.slabinfo import parse_slabinfo

SYS_SLAB = "/sys/kernel/slab"


def host_slabinfo():
    try:
        with open("/proc/slabinfo") as f:
            text = f.read()
    except OSError:
        pytest.skip("/proc/slabinfo is not readable here")
    if not text.startswith("slabinfo - version: 2.1"):
        pytest.skip("not a slabinfo 2.1 kernel")
    return parse_slabinfo(text)


def present_cpus():
    try:
        with open("/sys/devices/system/cpu/present") as f:
            spec = f.read().strip()
    except OSError:
        pytest.skip("no /sys/devices/system/cpu/present")
    n = 0
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        n += int(hi or lo) - int(lo) + 1
    return n


def make_allocator(backend, cpus):
    buddy = backend.BuddyAllocator(1 << 12)
    return backend.SlabAllocator(buddy, cpus=cpus, slab_nomerge=True, boot=False)


def test_header_and_line_format_match_host():
    host_slabinfo()
    with open("/proc/slabinfo") as f:
        text = f.read()
    from linuxmm.slab.slabinfo import HEADER, slabinfo_line
    assert text.startswith(HEADER)
    for line in text.splitlines(keepends=True)[2:]:
        f = line.split()
        rebuilt = slabinfo_line(f[0], int(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[5]),
                                int(f[13]), int(f[14]))
        assert rebuilt == line


def test_every_host_slabinfo_line(backend):
    rows = host_slabinfo()
    cpus = present_cpus()
    sa = make_allocator(backend, cpus)
    assert len(rows) > 50
    bad = []
    for name, _, _, objsize, objperslab, pagesperslab, _, _ in rows:
        c = sa.kmem_cache_create(name, objsize)
        line = [r for r in sa.slabinfo_rows() if r[0] == name][0]
        if (line[3], line[4], line[5]) != (objsize, objperslab, pagesperslab):
            bad.append((name, objsize, objperslab, pagesperslab, line[3:6]))
        assert (c.size, c.objperslab, c.pagesperslab) == line[3:6]
    assert not bad, bad


def _sysfs(name, key):
    with open(os.path.join(SYS_SLAB, name, key)) as f:
        return f.read().split()


def test_every_host_cache_layout_from_sysfs():
    """slab_size, align, order, objs_per_slab, min_partial, cpu_partial of every root cache from its
    object_size and flags (kmalloc alignment rule, HWCACHE_ALIGN, ctor, TYPESAFE_BY_RCU)."""
    if not os.path.isdir(SYS_SLAB):
        pytest.skip("no /sys/kernel/slab")
    cpus = present_cpus()
    names = [n for n in os.listdir(SYS_SLAB)
             if not os.path.islink(os.path.join(SYS_SLAB, n)) and not n.startswith(":")]
    checked = 0
    for name in names:
        try:
            osize = int(_sysfs(name, "object_size")[0])
            align = int(_sysfs(name, "align")[0])
            want = [int(_sysfs(name, k)[0]) for k in ("slab_size", "order", "objs_per_slab",
                                                       "min_partial", "cpu_partial")]
            hw = int(_sysfs(name, "hwcache_align")[0])
            rcu = int(_sysfs(name, "destroy_by_rcu")[0])
            ctor = bool(_sysfs(name, "ctor"))
            debug = any(int(_sysfs(name, k)[0]) for k in ("poison", "red_zone", "store_user"))
        except (OSError, IndexError, ValueError):
            continue
        if debug:
            continue
        kmalloc = "kmalloc-" in name and name.split("-")[-1][0].isdigit()
        flags = (F.SLAB_HWCACHE_ALIGN if hw else 0) | (F.SLAB_TYPESAFE_BY_RCU if rcu else 0)
        creator_align = 0 if kmalloc or G.calculate_alignment(flags, 0, osize) == align else align
        freeptr = 0 if name == "vm_area_struct" else None     # passes its own freeptr_offset
        g = G.calculate_sizes(osize, align=creator_align, flags=flags, ctor=ctor, cpus=cpus,
                              kmalloc=kmalloc, freeptr_offset=freeptr)
        got = [g.size, g.order, g.objects, g.min_partial, g.cpu_partial]
        assert g.align == align, name
        assert got == want, (name, got, want)
        checked += 1
    assert checked > 50


# (cache, objsize, objs/slab, pages) rows of the reference doc's table (2 CPUs)
DOC_ROWS = [("kmalloc-96", 96, 42, 1), ("kmalloc-192", 192, 21, 1), ("kmalloc-512", 512, 16, 2),
            ("inode_cache", 624, 13, 2), ("hugetlbfs_inode_cache", 632, 25, 4),
            ("ext4_inode_cache", 1128, 14, 4), ("mm_struct", 1600, 20, 8), ("TCP", 2368, 13, 8),
            ("task_struct", 4224, 7, 8), ("kmalloc-8k", 8192, 4, 8)]


@pytest.mark.parametrize("name,objsize,objs,pages", DOC_ROWS)
def test_doc_table(name, objsize, objs, pages):
    g = G.calculate_sizes(objsize, cpus=2)
    assert (g.size, g.objects, 1 << g.order) == (objsize, objs, pages)


def test_cpu_count_changes_min_objects():
    assert G.min_objects_for(2) == 12
    assert G.min_objects_for(1) == 8
    assert G.min_objects_for(4) == 16
    # 1 CPU: hugetlbfs_inode_cache (632) fits order 0 with min_objects 8 at 1/16... differs from 2 CPUs
    assert G.calculate_sizes(632, cpus=2).order == 2


def test_doc_verified_sizes():
    assert G.calculate_sizes(232, flags=F.SLAB_HWCACHE_ALIGN).size == 256      # kmem_cache
    assert G.calculate_sizes(72, flags=F.SLAB_HWCACHE_ALIGN).size == 128       # kmem_cache_node
    assert G.calculate_sizes(96, kmalloc=True).align == 32
    assert G.calculate_sizes(192, kmalloc=True).align == 64
    assert G.calculate_sizes(4096, kmalloc=True).align == 4096
    assert G.calculate_sizes(8192, kmalloc=True).min_partial == 6
    assert G.calculate_sizes(1024, kmalloc=True).min_partial == 5
    assert [G.calculate_sizes(s, kmalloc=True).cpu_partial for s in (96, 1024, 8192)] == [120, 24, 6]


def test_debug_layout():
    # SLAB_RED_ZONE | SLAB_POISON on a 64-byte object: 64 + 8 right red zone + 8 free pointer
    # + 8 padding word + 8 left red zone = 96
    g = G.calculate_sizes(64, flags=F.SLAB_RED_ZONE | F.SLAB_POISON)
    assert (g.inuse, g.offset, g.red_left_pad, g.size) == (72, 72, 8, 96)
    assert g.flags & F.OBJECT_POISON
    g = G.calculate_sizes(60, flags=F.SLAB_POISON)
    assert (g.inuse, g.offset, g.size) == (64, 64, 72)
    g = G.calculate_sizes(64, flags=F.SLAB_POISON, ctor=True)
    assert not g.flags & F.OBJECT_POISON


# -- kmalloc size classes: every size 1..8192 against the doc's table (7.4) -------------------
CLASS_SIZES = [8, 16, 32, 64, 96, 128, 192] + [1 << i for i in range(8, 14)]


def expected_class(size):
    """Smallest class holding size: 1-8 -> 8, ..., 65-96 -> 96, 97-128 -> 128, 129-192 -> 192,
    193-256 -> 256, ..., 4097-8192 -> 8k."""
    return min(c for c in CLASS_SIZES if c >= size)


EXPECTED_INDEX = {8: 3, 16: 4, 32: 5, 64: 6, 96: 1, 128: 7, 192: 2, 256: 8, 512: 9, 1024: 10,
                  2048: 11, 4096: 12, 8192: 13}


def test_kmalloc_index_every_size():
    doc_small = [3, 4, 5, 5, 6, 6, 6, 6, 1, 1, 1, 1, 7, 7, 7, 7, 2, 2, 2, 2, 2, 2, 2, 2]
    for size in range(1, 8193):
        want = EXPECTED_INDEX[expected_class(size)]
        if size <= 192:
            assert doc_small[(size - 1) // 8] == want
        assert K.kmalloc_index(size) == want, size
        assert lib.lmm_slab_kmalloc_index(size) == want, size
        assert K.index_size(want) == expected_class(size)
    assert lib.lmm_slab_kmalloc_index(8193) == -1


def test_kmalloc_cache_every_size(backend):
    sa = backend.SlabAllocator(backend.BuddyAllocator(1 << 14))
    for size in range(1, 8193):
        addr = sa.kmalloc(size)
        name = sa.object_info(addr)["cache"].name
        want = expected_class(size)
        assert name == "kmalloc-" + (f"{want // 1024}k" if want >= 1024 else str(want)), size
        assert sa.ksize(addr) == want
        sa.kfree(addr)
    sa.check()


def test_kmalloc_names_and_types():
    assert [K.cache_name(K.KMALLOC_NORMAL, i) for i in K.CREATION_ORDER][:4] == [
        "kmalloc-96", "kmalloc-192", "kmalloc-8", "kmalloc-16"]
    assert K.cache_name(K.KMALLOC_CGROUP, 13) == "kmalloc-cg-8k"
    assert K.kmalloc_type(F.GFP_KERNEL) == K.KMALLOC_NORMAL
    assert K.kmalloc_type(F.GFP_KERNEL | F.GFP_DMA | F.GFP_RECLAIMABLE) == K.KMALLOC_DMA
    assert K.kmalloc_type(F.GFP_KERNEL | F.GFP_RECLAIMABLE | F.GFP_ACCOUNT) == K.KMALLOC_RECLAIM
    assert K.kmalloc_type(F.GFP_KERNEL_ACCOUNT) == K.KMALLOC_CGROUP


def test_boot_caches_in_host_order():
    """The kmalloc caches appear in /proc/slabinfo in the same relative order as on the host."""
    rows = host_slabinfo()
    host = [r[0] for r in rows if r[0].startswith(("kmalloc-", "dma-kmalloc-")) or
            r[0] in ("kmem_cache", "kmem_cache_node")]
    sa = linuxmm.SlabAllocator(linuxmm.BuddyAllocator(1 << 12))
    ours = [r[0] for r in sa.slabinfo_rows()]
    assert [n for n in host if n in ours] == [n for n in ours if n in host]
    assert ours[-2:] == ["kmem_cache_node", "kmem_cache"]
    ref = linuxmm.reference.SlabAllocator(linuxmm.reference.BuddyAllocator(1 << 12))
    assert [r[0] for r in ref.slabinfo_rows()] == ours


def test_gfp_bits_agree_with_linuxmm_gfp():
    import linuxmm.gfp as G2
    for ours, theirs in (("GFP_DMA", "__GFP_DMA"), ("GFP_HIGHMEM", "__GFP_HIGHMEM"),
                         ("GFP_DMA32", "__GFP_DMA32"), ("GFP_RECLAIMABLE", "__GFP_RECLAIMABLE"),
                         ("GFP_ACCOUNT", "__GFP_ACCOUNT"), ("GFP_COMP", "__GFP_COMP"),
                         ("GFP_NOWARN", "__GFP_NOWARN"), ("GFP_NORETRY", "__GFP_NORETRY"),
                         ("GFP_NOFAIL", "__GFP_NOFAIL"), ("GFP_ZERO", "__GFP_ZERO"),
                         ("GFP_KERNEL", "GFP_KERNEL"), ("GFP_ATOMIC", "GFP_ATOMIC"),
                         ("GFP_KERNEL_ACCOUNT", "GFP_KERNEL_ACCOUNT")):
        assert getattr(F, ours) == getattr(G2, theirs), ours


def test_unique_ids_of_host_merge_roots(backend):
    """Every ':<flags>-<size>' directory of /sys/kernel/slab is the unique id of a cache of that
    slab_size and those flags (SLAB_ACCOUNT has no sysfs file: its 'A' is taken from the name)."""
    if not os.path.isdir(SYS_SLAB):
        pytest.skip("no /sys/kernel/slab")
    sa = make_allocator(backend, 2)
    ids = [n for n in os.listdir(SYS_SLAB) if n.startswith(":")]
    for name in ids:
        size = int(_sysfs(name, "slab_size")[0])
        flags = 0
        for key, bit in (("cache_dma", F.SLAB_CACHE_DMA), ("reclaim_account", F.SLAB_RECLAIM_ACCOUNT),
                         ("sanity_checks", F.SLAB_CONSISTENCY_CHECKS)):
            if int(_sysfs(name, key)[0]):
                flags |= bit
        if "A" in name:
            flags |= F.SLAB_ACCOUNT
        c = sa.kmem_cache_create("id" + name[1:].replace("-", "_"), size, flags=flags)
        assert c.unique_id == name
    assert len(ids) > 10
