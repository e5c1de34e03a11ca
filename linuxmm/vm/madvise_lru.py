"""MADV_COLD and MADV_PAGEOUT (mm/madvise.c: madvise_cold, madvise_pageout,
madvise_cold_or_pageout_pte_range), classic two-list LRU.

For every present PTE of the range (one PMD's worth at a time, as the page walk's pmd_entry):
a folio mapped elsewhere too (mapcount != its pages), not on the LRU, or the zero page is left
alone.  MADV_COLD clears the PTE's young bit, PG_referenced (PG_workingset is set on an active
folio) and queues the folio on cpu 0's lru_deactivate batch (linuxmm/vm/lru.py: an active
folio moves to the head of its inactive list when the batch drains; an inactive one stays where
it is).  MADV_PAGEOUT isolates the folios from the LRU and hands each PMD's list to
reclaim_pages (linuxmm/vm/vmscan.py): shrink_folio_list ignoring references, so clean file
folios are dropped, anonymous ones swapped out when swap has room (activated otherwise), dirty
file folios unmapped, marked PG_reclaim and activated.

Simplifications (docs/pressure.md): can_do_file_pageout is always true (every simulated task
is root: inode_owner_or_capable); large page-cache folios are skipped (Linux unmaps a fully
covered one and drops it whole, and splits a partly covered one); a PMD-mapped THP only partly
in the range is split by copying (split_huge_pmd) when this mm maps it alone; anonymous THPs
are not swapped (shrink_folio_list activates them).
"""
import numpy as np

from .constants import VM_MAYSHARE
from .lruvec import lruvec_add_folio, lruvec_del_folio
from .mmu_defs import (_PAGE_ACCESSED, _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_PSE, _PAGE_SPECIAL,
                       PG_ACTIVE, PG_ANON, PG_FILE, PG_HEAD, PG_LRU, PG_ORDER_MASK,
                       PG_REFERENCED, PG_TAIL, PG_UNEVICTABLE, PG_WORKINGSET, PMD_SIZE, pte_pfn)

HPAGE_PMD_NR = 512


def vma_is_anonymous(vma):
    return vma.vm_ops is None


def can_do_file_pageout(vma):
    """inode_owner_or_capable(file) || file_permission(file, MAY_WRITE) == 0: the simulated
    task is root, so any file VMA qualifies."""
    return vma.vm_file is not None


def madvise_cold_or_pageout(mm, vma, start, end, pageout):
    """madvise_cold / madvise_pageout for [start, end) of one VMA (can_madv_lru_vma already
    checked by madvise.py)."""
    from .lru import lru_add_drain
    if pageout and not vma_is_anonymous(vma) and not can_do_file_pageout(vma) \
            and vma.vm_flags & VM_MAYSHARE:
        return
    kernel = mm.kernel
    lru_add_drain(kernel)
    if mm.pgd is None:
        return
    anon_only = pageout and not vma_is_anonymous(vma) and not can_do_file_pageout(vma)
    addr = start
    while addr < end:
        nxt = min((addr | (PMD_SIZE - 1)) + 1, end)
        _pmd_entry(mm, vma, addr, nxt, pageout, anon_only)
        addr = nxt


def _folio_mark_cold(mmu, pfn):
    """folio_clear_referenced, folio_test_clear_young, PG_workingset on an active folio (the
    folios here keep their state on one frame: small folios and anonymous THP heads)."""
    flags = int(mmu.flags[pfn])
    set_bits = PG_WORKINGSET if flags & PG_ACTIVE else 0
    mmu.flags[pfn] = (flags | set_bits) & ~PG_REFERENCED


def _isolate(kernel, pfn, folio_list):
    """folio_isolate_lru; an unevictable folio goes straight back (folio_putback_lru)."""
    mmu = kernel.mmu
    if not lruvec_del_folio(mmu, pfn):
        return
    if int(mmu.flags[pfn]) & PG_UNEVICTABLE:
        lruvec_add_folio(mmu, pfn)
    else:
        folio_list.append(pfn)


def _pmd_entry(mm, vma, addr, end, pageout, anon_only):
    from .lru import folio_deactivate
    from .vmscan import reclaim_pages
    kernel = mm.kernel
    mmu = kernel.mmu
    haddr = addr & ~(PMD_SIZE - 1)
    pmd = int(mmu.pmd_get(mm.pgd, haddr))
    folio_list = []
    if pmd & _PAGE_PSE:
        if pmd & _PAGE_SPECIAL:                        # the huge zero page
            return
        head = pte_pfn(pmd)
        if mmu.mapcount[head] != 1:                    # folio_maybe_mapped_shared
            return
        if anon_only and not int(mmu.flags[head]) & PG_ANON:
            return
        if end - addr != PMD_SIZE:                     # split_folio, then the PTEs
            from .huge_memory import split_huge_pmd
            split_huge_pmd(mm, haddr)
        else:
            if not pageout and pmd & _PAGE_ACCESSED:
                mmu.pmd_set(mm.pgd, haddr, pmd & ~_PAGE_ACCESSED, mm.counters)
            _folio_mark_cold(mmu, head)
            if pageout:
                _isolate(kernel, head, folio_list)
                reclaim_pages(kernel, folio_list)
            else:
                folio_deactivate(kernel, head)
            return
    addrs, entries = mmu.walk(mm.pgd, addr, end)
    old_a, old_e = [], []
    zero = kernel.zero_pfn
    for a, entry in zip(addrs.tolist(), entries.tolist()):
        if entry & _PAGE_PSE or not entry & (_PAGE_PRESENT | _PAGE_PROTNONE) \
                or entry & _PAGE_SPECIAL:
            continue
        pfn = pte_pfn(entry)
        if pfn == zero:
            continue
        flags = int(mmu.flags[pfn])
        if not flags & (PG_ANON | PG_FILE):
            continue
        if flags & PG_FILE and flags & (PG_TAIL | PG_ORDER_MASK):
            continue                                   # a large page-cache folio
        if flags & PG_HEAD or not flags & PG_LRU or mmu.mapcount[pfn] != 1:
            continue
        if anon_only and not flags & PG_ANON:
            continue
        if not pageout and entry & _PAGE_ACCESSED:
            old_a.append(a)
            old_e.append(entry & ~_PAGE_ACCESSED)
        _folio_mark_cold(mmu, pfn)
        if pageout:
            _isolate(kernel, pfn, folio_list)
        else:
            folio_deactivate(kernel, pfn)
    if old_a:
        mmu.set_bulk(mm.pgd, np.array(old_a, dtype=np.int64),
                     np.array(old_e, dtype=np.uint64), mm.counters)
    if pageout:
        reclaim_pages(kernel, folio_list)
