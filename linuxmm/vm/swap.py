"""Swap (mm/swapfile.c, mm/swap_state.c, mm/page_io.c): swap areas, slots, the swap cache and
swap-in.

A swap area is `SwapInfo`: its policy (path, priority) here, its slots in the MMU engine
(csrc/swap.c, twin linuxmm/reference/swap.py) and seen as numpy arrays: `swap_map` holds one
use count per slot (PTEs holding the entry), slot 0 is the header page, slots are handed out
from 512-slot clusters (cpu 0's current cluster, then the first free cluster, then any cluster
with room).  A swapped-out page's bytes live in the engine's sparse slot store.  The swap cache
maps a slot to the anonymous folio being written or read (PG_SWAPCACHE, its entry in
`mmu.swap_entry`), and the slot keeps a shadow entry (workingset.py) for an evicted one.  The
engine's access loop completes swap-cache hits and one-page swap-ins itself (do_swap_page in
csrc/swap.c); everything else comes here.

Simplifications (docs/pressure.md): I/O completes synchronously (pageout frees the folio in
the same reclaim pass, as with a synchronous device); swap-in readahead is the cluster
readahead of vm.page-cluster (swap_cluster_readahead, with swapin_nr_pages' window), not the
VMA readahead; anonymous THPs and shmem are not swapped.  A swap area named /dev/zramN is
SWP_SYNCHRONOUS_IO: a fault on a slot only one PTE holds reads that page alone, skipping the
swap cache, and frees the slot (do_swap_page's skip-swapcache path).
"""
import errno
import os

import numpy as np

from ..errors import OutOfMemory
from .. import gfp as G
from .clock import charge
from .lruvec import lruvec_add_folio
from .filemap import put_page
from .memory import (VM_FAULT_MAJOR, VM_FAULT_OOM, VM_FAULT_SIGBUS, do_wp_page,
                     linear_page_index, mk_pte, vm_page_prot)
from .workingset import workingset_refault
from .mmu_defs import (EV_PGMAJFAULT, MAX_SWAPFILES, MM_ANONPAGES, MM_SWAPENTS, NR_ANON_MAPPED,
                       _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_RW,
                       PAGE_SHIFT, PG_ANON, PG_ANON_EXCLUSIVE, PG_DIRTY, PG_READAHEAD,
                       PG_SWAPBACKED, PG_SWAPCACHE, PG_UPTODATE, SWP_ENTRY_SHIFT, SWPI_FREE_HEAD,
                       SWPI_INUSE, SWPI_NR_FREE, SWS_NR_SWAPCACHED, SWS_RA_HITS, SWS_SWAP_RA,
                       SWS_SWAP_RA_HIT, VM_WRITE, swapin_window)

SWP_TYPE_BITS = 5
SWP_OFFSET_SHIFT = 9 + SWP_TYPE_BITS      # SWP_OFFSET_FIRST_BIT (_PAGE_BIT_PROTNONE + 1) + bits
_U64 = (1 << 64) - 1
_OFF_MASK = (1 << SWP_ENTRY_SHIFT) - 1


# -- swap entries in PTEs (arch/x86/include/asm/pgtable_64.h) ----------------------------------
def swp_entry_to_pte(type_, offset):
    """__swp_entry_to_pte(__swp_entry(type, offset)): the type in the top 5 bits, the offset
    inverted (L1TF mitigation) in bits 9..58; Present and PROT_NONE clear."""
    return (((~offset << SWP_OFFSET_SHIFT) & _U64) >> SWP_TYPE_BITS) | (type_ << (64 - SWP_TYPE_BITS))


def pte_to_swp_entry(pte):
    """(type, offset) of a swap PTE."""
    return pte >> (64 - SWP_TYPE_BITS), ((~pte << SWP_TYPE_BITS) & _U64) >> SWP_OFFSET_SHIFT


def is_swap_pte(pte):
    return pte != 0 and not pte & (_PAGE_PRESENT | _PAGE_PROTNONE)


# -- swap areas -------------------------------------------------------------------------------
_AREA_ARRAYS = ("swap_map", "cache", "shadow", "cluster_used", "free_clusters", "info")
HOST_BYTES_PER_SLOT = 28            # the engine's slot arrays: swap_map, cache, shadow, data


def check_host_memory(pages):
    """MemoryError, before anything changes, when the swap map of an area of `pages` slots
    would not fit in the host's available memory (as boot.check_host_memory for a machine)."""
    from .. import boot
    need = pages * HOST_BYTES_PER_SLOT
    avail = boot.host_available_bytes()
    if avail is not None and need > avail:
        raise MemoryError(f"a swap area of {pages} pages needs {need >> 20} MiB of host memory "
                          f"for its swap map; the host has {avail >> 20} MiB available "
                          f"(MemAvailable)")


class SwapInfo:
    """struct swap_info_struct of one swap area: the policy half here (path, kind, priority),
    the slots in the MMU engine (csrc/swap.c, linuxmm/reference/swap.py), seen through numpy
    arrays: swap_map (PTEs holding each slot), cache (the swap cache: slot -> pfn, -1 none),
    shadow (workingset shadow, -1 none), cluster_used, free_clusters and info (SWPI_*)."""

    def __init__(self, type_, path, size_pages, prio, kind, mmu):
        self.type = type_
        self.path = path
        self.kind = kind                          # "partition" or "file"
        # SWP_SYNCHRONOUS_IO: a zram device (/dev/zramN) completes its I/O synchronously, and
        # do_swap_page reads a page only this PTE holds without the swap cache or readahead
        self.synchronous_io = path.startswith("/dev/zram")
        self.max = size_pages                     # slots, the header page included
        self.pages = size_pages - 1               # usable slots (si->pages)
        self.prio = prio
        self.mmu = mmu
        mmu.swapon(type_, size_pages, self.synchronous_io)

    def __getattr__(self, name):
        # the engine's arrays, fetched on first use (and again after a snapshot is loaded)
        if name in _AREA_ARRAYS:
            arrays = self.mmu.swap_arrays(self.type)
            self.__dict__.update(arrays)
            return arrays[name]
        raise AttributeError(name)

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in _AREA_ARRAYS}

    @property
    def inuse_pages(self):
        return int(self.info[SWPI_INUSE])

    def alloc_slot(self):
        """cluster_alloc_swap_entry for one order-0 slot, or None when the area is full."""
        off = self.mmu.swap_alloc_slot(self.type)
        return None if off < 0 else off

    def slot_free(self, off):
        """The slot's last user (PTE or swap cache) went: it is free again."""
        self.mmu.swap_slot_free(self.type, off)

    def slot_busy(self, off):
        return self.swap_map[off] > 0 or self.cache[off] >= 0

    def cached(self, off):
        """The swap-cache folio of slot off, or None."""
        pfn = int(self.cache[off])
        return None if pfn < 0 else pfn

    def pop_shadow(self, off):
        """The slot's workingset shadow as (age, workingset), removed; None when it has none."""
        v = int(self.shadow[off])
        if v < 0:
            return None
        self.shadow[off] = -1
        return v >> 1, bool(v & 1)

    def get_shadow(self, off):
        v = int(self.shadow[off])
        return None if v < 0 else (v >> 1, bool(v & 1))


class SwapState:
    """The machine's swap areas (swap_info[]) and the counters swap keeps (in the engine's
    swap_stat: pswpin, pswpout, swap_ra, swap_ra_hit, nr_swapcached, the readahead state)."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.areas = {}                           # type -> SwapInfo
        self.least_priority = -1

    @property
    def stat(self):
        return self.kernel.mmu.swap_stat

    def folio_entry(self, pfn):
        """folio->swap of a swap-cache folio: (type, offset), or None."""
        e = int(self.kernel.mmu.swap_entry[pfn])
        return None if not e else (e >> SWP_ENTRY_SHIFT, e & _OFF_MASK)

    def nr_swapcached(self):
        return int(np.count_nonzero(self.kernel.mmu.swap_entry))

    # -- totals ---------------------------------------------------------------------------
    def total_pages(self):
        return sum(si.pages for si in self.areas.values())

    def free_pages(self):
        return sum(si.pages - si.inuse_pages for si in self.areas.values())

    def swap_full(self):
        """vm_swap_full(): more than half of swap in use."""
        total = self.total_pages()
        return total > 0 and (total - self.free_pages()) * 2 > total

    # -- swapon / swapoff -----------------------------------------------------------------
    def swapon(self, size, priority=None, path=None):
        """sys_swapon of a swap area of `size` bytes (a partition named path, default
        /dev/vdbN); returns its path."""
        pages = size >> PAGE_SHIFT
        if pages < 2:
            raise OSError(errno.EINVAL, "swap area too small", path)
        if priority is not None and not -1 <= priority <= 32767:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), path)
        free_types = [t for t in range(MAX_SWAPFILES) if t not in self.areas]
        if not free_types:
            raise OSError(errno.EPERM, os.strerror(errno.EPERM), path)
        type_ = free_types[0]
        if path is None:
            path = f"/dev/vdb{type_ + 1}"
        if any(si.path == path for si in self.areas.values()):
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), path)
        check_host_memory(pages)
        prio = self.least_priority - 1 if priority is None else priority
        kind = "partition" if path.startswith("/dev/") else "file"
        self.areas[type_] = SwapInfo(type_, path, pages, prio, kind, self.kernel.mmu)
        if priority is None:
            self.least_priority = prio
        return path

    def swapoff(self, path):
        """sys_swapoff: every swapped page of the area is read back (try_to_unuse), then the
        area goes.  ENOMEM (nothing changed) when memory cannot hold them."""
        si = next((s for s in self.areas.values() if s.path == path), None)
        if si is None:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), path)
        kernel = self.kernel
        needed = int((si.swap_map[1:] > 0).sum())
        if needed > kernel.mem_available():
            raise OSError(errno.ENOMEM, os.strerror(errno.ENOMEM), path)
        try_to_unuse(kernel, si)
        del self.areas[si.type]
        for name in _AREA_ARRAYS:                  # (views of memory swapoff frees)
            si.__dict__.pop(name, None)
        kernel.mmu.swapoff(si.type)
        if si.prio < 0:
            self.least_priority += 1
            for other in self.areas.values():      # the others move up, as _enable_swap_info
                if other.prio < si.prio:
                    other.prio += 1

    def ordered(self):
        """The areas in allocation order: highest priority first, then by type."""
        return sorted(self.areas.values(), key=lambda s: (-s.prio, s.type))

    # -- slots --------------------------------------------------------------------------------
    def get_swap_page(self):
        """folio_alloc_swap's slot: (type, offset), or None when swap is full."""
        for si in self.ordered():
            off = si.alloc_slot()
            if off is not None:
                return si.type, off
        return None

    def area(self, type_):
        return self.areas.get(type_)

    def swap_count(self, entry):
        si = self.areas.get(entry[0])
        return 0 if si is None else int(si.swap_map[entry[1]])

    def duplicate(self, entry):
        """swap_duplicate: one more PTE holds the entry (fork)."""
        self.areas[entry[0]].swap_map[entry[1]] += 1

    def put_entry(self, entry):
        """swap_free / free_swap_and_cache: a PTE holding the entry went.  The slot is freed
        when no PTE holds it and no folio caches it; a cached folio nobody maps any more
        leaves the swap cache (and is freed with its last reference)."""
        si = self.areas[entry[0]]
        off = entry[1]
        si.swap_map[off] -= 1
        if si.swap_map[off] > 0:
            return
        pfn = si.cached(off)
        if pfn is None:
            si.shadow[off] = -1
            si.slot_free(off)
            return
        mmu = self.kernel.mmu
        if not mmu.mapcount[pfn]:                   # __try_to_reclaim_swap
            self.delete_from_swap_cache(pfn)

    # -- the swap cache -----------------------------------------------------------------------
    def add_to_swap_cache(self, pfn, entry):
        """PG_swapcache, the cache's reference, nr_file_pages and nr_swapcached."""
        self.kernel.mmu.swap_cache_add(pfn, entry[0], entry[1])

    def delete_from_swap_cache(self, pfn, shadow=None):
        """__delete_from_swap_cache (+ the cache's reference): the slot is freed when no PTE
        holds it, else it keeps the shadow (age, workingset)."""
        code = -1 if shadow is None else (shadow[0] << 1) | (1 if shadow[1] else 0)
        self.kernel.mmu.swap_cache_delete(pfn, code)
        put_page(self.kernel, pfn)

    def folio_free_swap(self, pfn):
        """folio_free_swap: drop a mapped folio's swap slot when only this cache holds it."""
        entry = self.folio_entry(pfn)
        if entry is None or self.swap_count(entry) > 0:
            return False
        self.delete_from_swap_cache(pfn)
        return True

    def lookup(self, entry):
        si = self.areas.get(entry[0])
        return None if si is None else si.cached(entry[1])


# -- swap-out (called by reclaim) --------------------------------------------------------------
def add_to_swap(kernel, pfn):
    """folio_alloc_swap + add_to_swap_cache, folio dirtied: False when swap is full."""
    swap = kernel.swap_state
    entry = swap.get_swap_page()
    if entry is None:
        return False
    swap.add_to_swap_cache(pfn, entry)
    mmu = kernel.mmu
    mmu.flags[pfn] = int(mmu.flags[pfn]) | PG_DIRTY
    return True


def swap_writepage(kernel, pfn):
    """pageout of a swap-cache folio: its bytes go to the slot (pswpout, pgpgout in KiB)."""
    kernel.mmu.swap_writepage(pfn)
    charge(kernel, "swap_out")


def try_to_unmap_anon(kernel, pfn, mappings):
    """try_to_unmap of a swap-cache folio: each PTE becomes its swap entry (MM_ANONPAGES ->
    MM_SWAPENTS, one swap_map use each); a dirty PTE dirties the folio."""
    swap = kernel.swap_state
    entry = swap.folio_entry(pfn)
    swp_pte = swp_entry_to_pte(*entry)
    mmu = kernel.mmu
    si = swap.areas[entry[0]]
    for process, vma, addr in mappings:
        mm = process.mm
        pte = mmu.pte_get_unchecked(mm.pgd, addr)
        if pte & _PAGE_DIRTY:
            mmu.flags[pfn] = int(mmu.flags[pfn]) | PG_DIRTY
        mmu.pte_update(mm.pgd, addr, swp_pte, mm.counters)
        mm.counters[MM_ANONPAGES] -= 1
        mm.counters[MM_SWAPENTS] += 1
        si.swap_map[entry[1]] += 1
        count = int(mmu.mapcount[pfn]) - 1
        mmu.mapcount[pfn] = count
        if count == 0:
            mmu.node[NR_ANON_MAPPED] -= 1
        put_page(kernel, pfn)


# -- swap-in ---------------------------------------------------------------------------------
def swapin_nr_pages(swap, offset, page_cluster):
    """swapin_nr_pages / __swapin_nr_pages: the readahead window from recent hits (the state
    lives in the engine's swap_stat, which the access loop's swap-in reads too)."""
    max_pages = 1 << page_cluster
    if max_pages <= 1:
        return 1
    return swapin_window(swap.stat, offset, max_pages)


def _new_swapin_folio(kernel, entry, vma, addr, noretry=False):
    """A fresh anonymous folio holding the slot's bytes (pswpin, pgpgin, a page read), not yet
    on the LRU: the index and anon_vma of the faulting VMA, no reference yet."""
    pfn = kernel.alloc_user_page(G.GFP_HIGHUSER_MOVABLE, noretry=noretry)
    mmu = kernel.mmu
    mmu.swap_readpage(pfn, entry[0], entry[1])      # a fresh user page with the slot's bytes
    mmu.flags[pfn] = PG_ANON | PG_SWAPBACKED | PG_UPTODATE
    mmu.refcount[pfn] = 0
    mmu.mapcount[pfn] = 0
    mmu.mapping[pfn] = vma.anon_vma.id if vma.anon_vma is not None else 0
    mmu.index[pfn] = linear_page_index(vma, addr)
    charge(kernel, "page_read")                     # the fault's request: major_fault
    return pfn


def _refault_and_lru(kernel, pfn, shadow):
    """workingset_refault (maybe straight to the active list), then onto the LRU."""
    if shadow is not None:
        workingset_refault(kernel, pfn, shadow, file=False)
    lruvec_add_folio(kernel.mmu, pfn)


def read_swap_folio(kernel, entry, vma, addr, readahead):
    """__read_swap_cache_async + swap_read_folio: a new anonymous folio in the swap cache with
    the slot's bytes, on the LRU (activated when workingset_refault says so)."""
    swap = kernel.swap_state
    pfn = _new_swapin_folio(kernel, entry, vma, addr, noretry=readahead)
    swap.add_to_swap_cache(pfn, entry)
    shadow = swap.areas[entry[0]].pop_shadow(entry[1])
    if readahead:
        kernel.mmu.flags[pfn] = int(kernel.mmu.flags[pfn]) | PG_READAHEAD
    _refault_and_lru(kernel, pfn, shadow)
    return pfn


def swapin_direct(kernel, entry, vma, addr):
    """do_swap_page's skip-swapcache read (SWP_SYNCHRONOUS_IO): a new anonymous folio with the
    slot's bytes, on the LRU, not in the swap cache; its one reference becomes the mapping's."""
    pfn = _new_swapin_folio(kernel, entry, vma, addr)
    kernel.mmu.refcount[pfn] = 1
    _refault_and_lru(kernel, pfn, kernel.swap_state.areas[entry[0]].get_shadow(entry[1]))
    return pfn


def swapin_readahead(kernel, entry, vma, addr):
    """swap_cluster_readahead: read the aligned window of in-use slots around the entry (the
    faulting one first), then return the faulting one's folio with a reference held (so the
    readahead's own reclaim cannot free it)."""
    swap = kernel.swap_state
    si = swap.areas[entry[0]]
    offset = entry[1]
    pfn = read_swap_folio(kernel, entry, vma, addr, readahead=False)
    kernel.mmu.refcount[pfn] += 1
    mask = swapin_nr_pages(swap, offset, kernel.page_cluster) - 1
    if mask:
        start = offset & ~mask or 1
        end = min(offset | mask, si.max - 1)
        for off in range(start, end + 1):
            if off == offset or si.swap_map[off] <= 0 or si.cache[off] >= 0:
                continue
            try:
                read_swap_folio(kernel, (entry[0], off), vma, addr, readahead=True)
            except OutOfMemory:
                break
            swap.stat[SWS_SWAP_RA] += 1
    return pfn


def do_swap_page(vmf, pte):
    """do_swap_page: the folio from the swap cache (a hit, minor) or read in (major, with
    readahead); mapped again, the PTE's slot use dropped, and writable when exclusive.  (The
    MMU engine's access loop does the same for a hit or a one-page swap-in: csrc/swap.c.)"""
    mm, vma = vmf.mm, vmf.vma
    kernel = mm.kernel
    mmu = kernel.mmu
    swap = kernel.swap_state
    entry = pte_to_swp_entry(pte)
    si = swap.areas.get(entry[0])
    if si is None or not 0 < entry[1] < si.max or si.swap_map[entry[1]] <= 0:
        return VM_FAULT_SIGBUS
    ret = 0
    pfn = si.cached(entry[1])
    direct = False
    if pfn is None and si.synchronous_io and si.swap_map[entry[1]] == 1:
        mm.anon_vma_prepare(vma)                    # SWP_SYNCHRONOUS_IO, __swap_count == 1
        try:
            pfn = swapin_direct(kernel, entry, vma, vmf.address)
        except OutOfMemory:
            return VM_FAULT_OOM
        direct = True
        ret = VM_FAULT_MAJOR
        mmu.events[EV_PGMAJFAULT] += 1
    elif pfn is not None:                           # swap_cache_get_folio: a reference
        mmu.refcount[pfn] += 1
        if mmu.flags[pfn] & PG_READAHEAD:
            mmu.flags[pfn] = int(mmu.flags[pfn]) & ~PG_READAHEAD
            swap.stat[SWS_RA_HITS] += 1
            swap.stat[SWS_SWAP_RA_HIT] += 1
    else:
        mm.anon_vma_prepare(vma)
        try:
            pfn = swapin_readahead(kernel, entry, vma, vmf.address)
        except OutOfMemory:
            return VM_FAULT_OOM
        ret = VM_FAULT_MAJOR
        mmu.events[EV_PGMAJFAULT] += 1
    # map it: the lookup's reference becomes the mapping's
    flags = int(mmu.flags[pfn])
    if not mmu.mapcount[pfn]:                       # __folio_set_anon: this VMA's anon_vma
        mmu.mapping[pfn] = vma.anon_vma.id
        mmu.index[pfn] = linear_page_index(vma, vmf.address)
    si.swap_map[entry[1]] -= 1
    if direct:                                      # swap_free_nr: nothing else holds it
        si.shadow[entry[1]] = -1
        si.slot_free(entry[1])
    exclusive = si.swap_map[entry[1]] == 0 and not mmu.mapcount[pfn]
    prot = vm_page_prot(vma)
    new = mk_pte(pfn, prot | _PAGE_ACCESSED)
    if exclusive:
        flags |= PG_ANON_EXCLUSIVE
        if vma.vm_flags & VM_WRITE:
            new |= _PAGE_RW
            if vmf.write:
                new |= _PAGE_DIRTY
    mmu.flags[pfn] = flags
    mm.counters[MM_SWAPENTS] -= 1
    mm.counters[MM_ANONPAGES] += 1
    count = int(mmu.mapcount[pfn]) + 1
    mmu.mapcount[pfn] = count
    if count == 1:
        mmu.node[NR_ANON_MAPPED] += 1
    mmu.pte_update(mm.pgd, vmf.address, new, mm.counters)
    # should_try_to_free_swap: a write fault on the only user frees the slot at once
    if swap.swap_full() or (vmf.write and exclusive and int(mmu.refcount[pfn]) == 2):
        swap.folio_free_swap(pfn)
    if vmf.write and not exclusive:
        vmf.orig_pte = new
        ret |= do_wp_page(vmf)
    return ret


def try_to_unuse(kernel, si):
    """swapoff's try_to_unuse: fault every PTE holding a slot of the area back in (unuse_pte),
    then drop the area's swap-cache folios."""
    from .memory import handle_mm_fault, FAULT_FLAG_USER
    for process in list(kernel._processes.values()):
        mm = process.mm
        if mm is None or mm.pgd is None:
            continue
        for vma in list(mm.tree):
            addrs, entries = kernel.mmu.walk(mm.pgd, vma.vm_start, vma.vm_end)
            for addr, pte in zip(addrs.tolist(), entries.tolist()):
                if is_swap_pte(pte) and pte_to_swp_entry(pte)[0] == si.type:
                    handle_mm_fault(mm, vma, addr, FAULT_FLAG_USER)
    for off in np.nonzero(si.cache >= 0)[0].tolist():
        kernel.swap_state.delete_from_swap_cache(int(si.cache[off]))


def render_swaps(kernel):
    """/proc/swaps (mm/swapfile.c: swap_show)."""
    out = ["Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"]
    for _, si in sorted(kernel.swap_state.areas.items()):
        size = si.pages * 4
        used = si.inuse_pages * 4
        pad = 40 - len(si.path) if len(si.path) < 40 else 1
        kind = "partition" if si.kind == "partition" else "file\t"
        out.append(f"{si.path}{' ' * pad}{kind}\t{size}\t{chr(9) if size < 10000000 else ''}"
                   f"{used}\t{chr(9) if used < 10000000 else ''}{si.prio}\n")
    return "".join(out)


def check_swap(kernel):
    """Every slot's use count equals the PTEs holding it, in-use slots are counted once, the
    swap cache and its folios agree, and each mm's MM_SWAPENTS counts its swap PTEs."""
    from ..errors import InvariantError
    swap = kernel.swap_state
    mmu = kernel.mmu
    problems = []
    users = {}
    for process in kernel._processes.values():
        mm = process.mm
        if mm is None or mm.pgd is None:
            continue
        _, entries = mmu.walk(mm.pgd, 0, mm.task_size)
        n = 0
        for pte in entries.tolist():
            if is_swap_pte(pte):
                entry = pte_to_swp_entry(pte)
                users[entry] = users.get(entry, 0) + 1
                n += 1
        if n != int(mm.counters[MM_SWAPENTS]):
            problems.append(f"pid {process.pid}: MM_SWAPENTS {int(mm.counters[MM_SWAPENTS])}, "
                            f"{n} swap PTEs")
    for type_, si in swap.areas.items():
        busy = 0
        for off in np.nonzero(si.swap_map[1:] != 0)[0].tolist():
            off += 1
            if users.get((type_, off), 0) != int(si.swap_map[off]):
                problems.append(f"swap {type_}:{off} count {int(si.swap_map[off])}, "
                                f"{users.get((type_, off), 0)} PTEs hold it")
        for (t, off) in users:
            if t == type_ and si.swap_map[off] <= 0:
                problems.append(f"swap {t}:{off} is held by a PTE but free")
        cached = np.nonzero(si.cache >= 0)[0]
        busy = int((si.swap_map[1:] > 0).sum()) + int((si.swap_map[cached] == 0).sum())
        if busy != si.inuse_pages:
            problems.append(f"swap area {type_}: inuse {si.inuse_pages}, {busy} slots busy")
        if si.cluster_used.sum() != si.inuse_pages + 1:
            problems.append(f"swap area {type_}: cluster counts disagree")
        for off in cached.tolist():
            pfn = int(si.cache[off])
            if swap.folio_entry(pfn) != (type_, off) or \
                    not int(mmu.flags[pfn]) & PG_SWAPCACHE:
                problems.append(f"swap cache {type_}:{off} -> pfn {pfn} disagrees")
        for off in np.nonzero(si.shadow >= 0)[0].tolist():
            if si.cache[off] >= 0 or si.swap_map[off] <= 0:
                problems.append(f"swap {type_}:{off} keeps a shadow but is cached or free")
        nfree = int(si.info[SWPI_NR_FREE])
        ring = [int(si.free_clusters[(int(si.info[SWPI_FREE_HEAD]) + i) % len(si.cluster_used)])
                for i in range(nfree)]
        if len(set(ring)) != nfree or any(si.cluster_used[c] for c in ring):
            problems.append(f"swap area {type_}: the free-cluster ring holds a busy or "
                            "repeated cluster")
    for t, _ in users:
        if t not in swap.areas:
            problems.append(f"a PTE holds an entry of swap type {t}, which is not active")
    cached_total = swap.nr_swapcached()
    if cached_total != int(swap.stat[SWS_NR_SWAPCACHED]):
        problems.append("nr_swapcached disagrees with the swap cache")
    if cached_total != sum(int((si.cache >= 0).sum()) for si in swap.areas.values()):
        problems.append("folio swap entries disagree with the swap caches")
    if problems:
        raise InvariantError("; ".join(problems[:20]))
