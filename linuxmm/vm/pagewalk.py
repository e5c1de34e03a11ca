"""Page-table walks over ranges (mm/memory.c: zap_pte_range, free_pgtables, copy_pte_range;
mm/mprotect.c: change_pte_range; mm/mremap.c: move_ptes; mm/gup.c: populate; mm/madvise.c:
madvise_free_pte_range) and the hooks through which the VMA layer calls them."""
import numpy as np

from ..errors import (BusError, SegmentationFault)
from .constants import (VM_IO, VM_LOCKED, VM_MIXEDMAP, VM_PFNMAP, VM_SHARED)
from .filemap import (mark_page_accessed)
from .mlock import munlock_folio
from .memory import (_PROT_BITS, with_tables, do_user_addr_fault, is_cow_mapping, linear_page_index,
                     mm_counter_of, page_add_rmap, page_remove_rmap, vm_page_prot,
                     vma_wants_writenotify)
from .mmu_defs import (MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES, MM_SWAPENTS, PAGE_SHIFT, PAGE_SIZE,
                       PGDIR_SIZE, PUD_SIZE, PG_ANON, PG_ANON_EXCLUSIVE, PG_DIRTY, PG_FILE,
                       PG_SHMEM, PMD_SIZE, VM_EXEC, VM_READ, VM_WRITE, _PAGE_ACCESSED, _PAGE_DIRTY,
                       _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_PSE, _PAGE_RW, _PAGE_SPECIAL, pte_pfn)



# -- page-table walks over ranges -------------------------------------------------------------
def _drain_split_walk(mm, start, end):
    """What zap and MADV_FREE do first: lru_add_drain(), split the huge PMDs the range covers
    only partly; then the present entries of [start, end)."""
    from .huge_memory import split_huge_pmds_in
    from .lru import lru_add_drain
    lru_add_drain(mm.kernel)
    if mm.deposited:
        split_huge_pmds_in(mm, start, end)
    return mm.kernel.mmu.walk(mm.pgd, start, end)


def zap_page_range(mm, start, end, vma=None):
    """zap_pte_range over [start, end): every mapping goes; dirty file PTEs dirty their page,
    young ones mark it accessed; frames whose last reference goes are freed (address order)."""
    kernel = mm.kernel
    mmu = kernel.mmu
    addrs, entries = _drain_split_walk(mm, start, end)
    if not len(addrs):
        return 0
    update_hiwater_rss(mm)
    counters = mm.counters
    huge = []
    swapped = []
    for addr, entry in zip(addrs.tolist(), entries.tolist()):
        if entry & _PAGE_PSE:
            huge.append(addr)
            continue
        if not entry & (_PAGE_PRESENT | _PAGE_PROTNONE):
            swapped.append(entry)                      # free_swap_and_cache, below
            continue
        if entry & _PAGE_SPECIAL:
            continue
        pfn = pte_pfn(entry)
        flags = int(mmu.flags[pfn])
        if flags & PG_ANON:
            counters[MM_ANONPAGES] -= 1
        else:
            counters[MM_SHMEMPAGES if flags & PG_SHMEM else MM_FILEPAGES] -= 1
            if entry & _PAGE_DIRTY and flags & PG_FILE:
                vma_ = vma if vma is not None else mm.find_vma(addr)
                if vma_ is not None and vma_.vm_file is not None:
                    vma_.vm_file.f_inode.i_mapping.set_dirty(pfn)
            if entry & _PAGE_ACCESSED:
                mark_page_accessed(mmu, pfn)
    small = addrs[(entries & np.uint64(_PAGE_PSE)) == 0]
    mmu.clear_bulk(mm.pgd, small)
    locked = None if vma is None else bool(vma.vm_flags & VM_LOCKED)
    freed = False
    for addr, entry in zip(addrs.tolist(), entries.tolist()):
        if entry & _PAGE_PSE or not entry & (_PAGE_PRESENT | _PAGE_PROTNONE) \
                or entry & _PAGE_SPECIAL:
            continue
        pfn = pte_pfn(entry)
        if locked or (locked is None and mm.find_vma(addr).vm_flags & VM_LOCKED):
            munlock_folio(kernel, pfn)                 # munlock_vma_folio (folio_remove_rmap)
        page_remove_rmap(kernel, pfn)
        freed = True
    if huge:
        from .huge_memory import zap_huge_pmd
        for addr in huge:
            if locked or (locked is None and mm.find_vma(addr).vm_flags & VM_LOCKED):
                entry = mmu.pmd_get(mm.pgd, addr)
                if not entry & _PAGE_SPECIAL:
                    munlock_folio(kernel, pte_pfn(entry))
            zap_huge_pmd(mm, addr)
            freed = True
    if freed:
        # tlb_finish_mmu -> free_pages_and_swap_cache -> lru_add_drain (the mlock batch)
        from .lru import lru_add_drain
        lru_add_drain(kernel)
    if swapped:
        from .swap import pte_to_swp_entry
        swap = kernel.swap_state
        counters[MM_SWAPENTS] -= len(swapped)
        for entry in swapped:
            swap.put_entry(pte_to_swp_entry(entry))
    return len(addrs)


def update_hiwater_rss(mm):
    from .mmu_defs import MM_HIWATER_RSS
    c = mm.counters
    rss = int(c[MM_FILEPAGES] + c[MM_ANONPAGES] + c[MM_SHMEMPAGES])
    if c[MM_HIWATER_RSS] < rss:
        c[MM_HIWATER_RSS] = rss


def unmap_region(mm, detached, floor, ceiling):
    """vms_clear_ptes: zap every detached VMA, then free_pgtables between floor and ceiling
    (prev->vm_end and next->vm_start, 0 for none)."""
    detached = sorted(detached, key=lambda v: v.vm_start)
    for vma in detached:
        zap_page_range(mm, vma.vm_start, vma.vm_end, vma)
    free_pgtables(mm, [(v.vm_start, v.vm_end) for v in detached], floor, ceiling)


def free_pgtables(mm, ranges, floor, ceiling):
    """mm/memory.c free_pgtables: nearby ranges (within a PMD) go down in one call."""
    mmu = mm.kernel.mmu
    i = 0
    while i < len(ranges):
        start, end = ranges[i]
        i += 1
        while i < len(ranges) and ranges[i][0] <= end + PMD_SIZE:
            end = ranges[i][1]
            i += 1
        nxt = ranges[i][0] if i < len(ranges) else ceiling
        mmu.free_pgtables(mm.pgd, start, end, floor, nxt, mm.counters)


def vma_needs_copy(vma):
    """vma_needs_copy: PTEs are copied at fork only for these VMAs."""
    if vma.vm_flags & (VM_PFNMAP | VM_MIXEDMAP):
        return True
    return vma.anon_vma is not None


def _next(addr, size):
    return (addr | (size - 1)) + 1


def copy_tables(dst, src, start, end):
    """copy_p4d_range / copy_pud_range / copy_pmd_range: the child gets a PUD table for every
    PGD entry of the parent over [start, end), a PMD table for every PUD entry, a PTE table for
    every non-empty PMD slot (huge leaves are copied with their own table) -- also where the
    parent's tables hold no present entry."""
    mmu = src.kernel.mmu
    addr = start
    while addr < end:
        depth = mmu.table_depth(src.pgd, addr)
        if depth == 0:
            addr = _next(addr, PGDIR_SIZE)
            continue
        with_tables(dst.kernel, mmu.pud_alloc, dst.pgd, addr, dst.counters)
        if depth == 1:
            addr = _next(addr, PUD_SIZE)
            continue
        with_tables(dst.kernel, mmu.pmd_alloc, dst.pgd, addr, dst.counters)
        if depth == 3 and not mmu.pmd_get(src.pgd, addr) & _PAGE_PSE \
                and mmu.table_depth(dst.pgd, addr) == 2:
            with_tables(dst.kernel, mmu.pte_set, dst.pgd, addr, 0, dst.counters)  # pte_alloc
        addr = _next(addr, PMD_SIZE)


def copy_page_range(dst, src, vma):
    """copy_pte_range: the child gets the parent's PTEs; private writable ones are
    write-protected in both, anon pages lose PageAnonExclusive, every mapped page gains a
    mapping; child PTEs are old (and clean in shared VMAs)."""
    kernel = src.kernel
    mmu = kernel.mmu
    copy_tables(dst, src, vma.vm_start, vma.vm_end)
    addrs, entries = mmu.walk(src.pgd, vma.vm_start, vma.vm_end)
    if not len(addrs):
        return
    cow = is_cow_mapping(vma.vm_flags)
    shared = bool(vma.vm_flags & VM_SHARED)
    child = []
    parent_wp = []
    for addr, entry in zip(addrs.tolist(), entries.tolist()):
        if entry & _PAGE_PSE:
            from .huge_memory import copy_huge_pmd
            copy_huge_pmd(dst, src, vma, addr, entry)
            continue
        if not entry & (_PAGE_PRESENT | _PAGE_PROTNONE):
            from .swap import pte_to_swp_entry          # copy_nonpresent_pte
            src.kernel.swap_state.duplicate(pte_to_swp_entry(entry))
            dst.counters[MM_SWAPENTS] += 1
            child.append((addr, entry))
            continue
        if not entry & _PAGE_SPECIAL:
            pfn = pte_pfn(entry)
            if mmu.flags[pfn] & PG_ANON:
                mmu.flags[pfn] = int(mmu.flags[pfn]) & ~PG_ANON_EXCLUSIVE
            page_add_rmap(mmu, pfn)
            dst.counters[mm_counter_of(mmu, pfn)] += 1
        if cow and entry & _PAGE_RW:
            entry &= ~_PAGE_RW
            parent_wp.append((addr, entry))
        if shared:
            entry &= ~_PAGE_DIRTY
        child.append((addr, entry & ~_PAGE_ACCESSED))
    if parent_wp:
        mmu.set_bulk(src.pgd, np.array([a for a, _ in parent_wp], dtype=np.int64),
                     np.array([e for _, e in parent_wp], dtype=np.uint64), src.counters)
    if child:
        with_tables(dst.kernel, mmu.set_bulk, dst.pgd, np.array([a for a, _ in child], dtype=np.int64),
                     np.array([e for _, e in child], dtype=np.uint64), dst.counters)


def change_protection(mm, vma, start, end, newflags):
    """change_pte_range: new protection bits on present PTEs.  Making a private mapping
    writable upgrades exclusive anon pages at once (can_change_pte_writable), shared
    non-write-notify mappings their dirty PTEs; nothing else gains write permission."""
    mmu = mm.kernel.mmu
    addrs, entries = mmu.walk(mm.pgd, start, end)
    if not len(addrs):
        return
    newprot = vm_page_prot(vma)
    try_writable = bool(newflags & VM_WRITE) and (
        not newflags & VM_SHARED or not vma_wants_writenotify(vma))
    out_a, out_e = [], []
    for addr, entry in zip(addrs.tolist(), entries.tolist()):
        if entry & _PAGE_PSE or not entry & (_PAGE_PRESENT | _PAGE_PROTNONE):
            continue
        new = (entry & ~_PROT_BITS) | (newprot & _PROT_BITS)
        if try_writable and newprot & _PAGE_PRESENT and not new & _PAGE_RW \
                and not entry & _PAGE_SPECIAL:
            pfn = pte_pfn(entry)
            if newflags & VM_SHARED:
                if entry & _PAGE_DIRTY:
                    new |= _PAGE_RW
            elif mmu.flags[pfn] & PG_ANON_EXCLUSIVE:
                new |= _PAGE_RW
        if new != entry:
            out_a.append(addr)
            out_e.append(new)
    if out_a:
        mmu.set_bulk(mm.pgd, np.array(out_a, dtype=np.int64),
                     np.array(out_e, dtype=np.uint64), mm.counters)


def move_page_tables(mm, old_addr, new_addr, length):
    """move_ptes / move_huge_pmd: the entries of [old_addr, +length) move to new_addr
    unchanged; a huge PMD moves whole when both sides are PMD-aligned, else it is split."""
    mmu = mm.kernel.mmu
    if mm.deposited:
        from .huge_memory import split_huge_pmd, split_huge_pmds_in
        split_huge_pmds_in(mm, old_addr, old_addr + length)
        if (new_addr - old_addr) & (PMD_SIZE - 1):
            for haddr in list(mm.deposited):
                if old_addr <= haddr < old_addr + length:
                    split_huge_pmd(mm, haddr)
    addrs, entries = mmu.walk(mm.pgd, old_addr, old_addr + length)
    if not len(addrs):
        return
    huge = (entries & np.uint64(_PAGE_PSE)) != 0
    mmu.clear_bulk(mm.pgd, addrs)
    small = ~huge
    if small.any():
        with_tables(mm.kernel, mmu.set_bulk, mm.pgd, addrs[small] - old_addr + new_addr,
                    entries[small], mm.counters)
    for addr, entry in zip(addrs[huge].tolist(), entries[huge].tolist()):
        mmu.pmd_set(mm.pgd, addr - old_addr + new_addr, entry, mm.counters)
        mm.deposited[addr - old_addr + new_addr] = mm.deposited.pop(addr)


def populate_range(mm, start, end, write, retry_tried=True):
    """__get_user_pages for [start, end): a fault (counted as the caller's) for every page not
    already mapped with the needed permission; errors end the walk as GUP's do."""
    addr = start
    mmu = mm.kernel.mmu
    while addr < end:
        entry = mmu.pte_get(mm.pgd, addr)
        if not (entry & _PAGE_PRESENT and (not write or entry & _PAGE_RW)):
            do_user_addr_fault(mm, addr, write, gup=True, retry_tried=retry_tried)
            entry = mmu.pte_get(mm.pgd, addr)
        if entry & _PAGE_PRESENT and not entry & _PAGE_SPECIAL:     # FOLL_TOUCH
            mark_page_accessed(mmu, pte_pfn(entry))      # a THP's state is on its head
        addr += PAGE_SIZE


# -- the hooks the VMA layer calls (mm.protect_hooks, move_hooks, advise_hooks) -------------
def protect_hook(mm, start, end, newflags):
    for vma in list(mm.tree.iter_range(start, end)):
        change_protection(mm, vma, max(start, vma.vm_start), min(end, vma.vm_end), newflags)


def move_hook(mm, old_addr, new_addr, length):
    move_page_tables(mm, old_addr, new_addr, length)
    mm.snap_epoch += 1


def advise_hook(mm, vma, start, end, advice):
    from . import constants as C
    if advice in (C.MADV_DONTNEED, C.MADV_DONTNEED_LOCKED):
        zap_page_range(mm, start, end, vma)
    elif advice == C.MADV_FREE:
        madvise_free(mm, start, end)
    elif advice == C.MADV_REMOVE:
        zap_page_range(mm, start, end, vma)
        mapping = vma.vm_file.f_inode.i_mapping
        first = linear_page_index(vma, start)
        mapping.invalidate(first, first + ((end - start) >> PAGE_SHIFT) - 1)
    elif advice == C.MADV_WILLNEED and vma.vm_file is not None:
        from . import readahead
        kernel = mm.kernel
        offset = linear_page_index(vma, start) << PAGE_SHIFT
        readahead.madvise_willneed(vma.vm_file.f_inode.i_mapping, vma.vm_file.f_ra,
                                   kernel.bdi, offset, end - start)
    elif advice in (C.MADV_POPULATE_READ, C.MADV_POPULATE_WRITE):
        populate_range(mm, start, end, advice == C.MADV_POPULATE_WRITE)
    elif advice in (C.MADV_COLD, C.MADV_PAGEOUT):
        from .madvise_lru import madvise_cold_or_pageout
        madvise_cold_or_pageout(mm, vma, start, end, advice == C.MADV_PAGEOUT)


def madvise_free(mm, start, end):
    """madvise_free_pte_range: every present anonymous page gets a clean, old PTE; a dirty
    folio mapped once is cleaned; each goes to folio_mark_lazyfree (the lru_lazyfree batch);
    swap entries are freed and their PTEs cleared."""
    from .lru import folio_mark_lazyfree
    kernel = mm.kernel
    mmu = kernel.mmu
    addrs, entries = _drain_split_walk(mm, start, end)
    out_a, out_e, lazy, swapped = [], [], [], []
    for addr, entry in zip(addrs.tolist(), entries.tolist()):
        if entry and not entry & (_PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_PSE):
            swapped.append((addr, entry))              # the data is not needed: drop it
            continue
        if entry & _PAGE_PSE or not entry & _PAGE_PRESENT or entry & _PAGE_SPECIAL:
            continue
        pfn = pte_pfn(entry)
        flags = int(mmu.flags[pfn])
        if not flags & PG_ANON:
            continue
        if flags & PG_DIRTY:
            if mmu.mapcount[pfn] != 1:
                continue
            mmu.flags[pfn] = flags & ~PG_DIRTY
        if entry & (_PAGE_ACCESSED | _PAGE_DIRTY):
            out_a.append(addr)
            out_e.append(entry & ~(_PAGE_DIRTY | _PAGE_ACCESSED))
        lazy.append(pfn)
    if out_a:
        mmu.set_bulk(mm.pgd, np.array(out_a, dtype=np.int64), np.array(out_e, dtype=np.uint64),
                     mm.counters)
    for pfn in lazy:
        folio_mark_lazyfree(kernel, pfn)
    if swapped:                       # free_swap_and_cache_nr + clear_not_present_full_ptes
        from .swap import pte_to_swp_entry
        mmu.clear_bulk(mm.pgd, np.array([a for a, _ in swapped], dtype=np.int64))
        mm.counters[MM_SWAPENTS] -= len(swapped)
        for _, entry in swapped:
            kernel.swap_state.put_entry(pte_to_swp_entry(entry))


def mm_populate(mm, start, length):
    """mm_populate: __mm_populate ignoring errors (vm/mlock.py: VM_LOCKONFAULT and PROT_NONE
    VMAs are skipped, each VMA ends with lru_add_drain)."""
    from .mlock import mm_populate as populate
    populate(mm, start, length, ignore_errors=True)
