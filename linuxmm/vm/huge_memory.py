"""PMD-mapped transparent huge pages for anonymous memory (mm/huge_memory.c).

A THP is an order-9 compound frame mapped by one PMD leaf; its state is kept on the head frame
(PG_HEAD; the 511 others carry PG_TAIL).  As in the kernel each huge PMD deposits one
preallocated PTE table (pgtable_trans_huge_deposit), counted in VmPTE.

Simplification (docs/faults.md): a write to a THP shared after fork copies the whole THP
instead of splitting the PMD and copying one 4 KiB page.
"""
import numpy as np

from .. import gfp as G
from ..errors import OutOfMemory
from .constants import VM_HUGEPAGE, VM_LOCKED, VM_NOHUGEPAGE, VM_SHARED, VM_WRITE
from .filemap import release_page
from .lruvec import lru_link
from .mmu_defs import (EV_THP_FAULT_ALLOC, EV_THP_FAULT_FALLBACK, EV_THP_ZERO_PAGE_ALLOC,
                       HPAGE_PMD_ORDER, LRU_INACTIVE_ANON, MM_ANONPAGES, MM_PGTABLES_BYTES,
                       NR_ANON_MAPPED, NR_ANON_THPS, NR_INACTIVE_ANON, NR_PAGETABLE,
                       _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PSE, _PAGE_RW, PAGE_SHIFT, _PAGE_SPECIAL,
                       PG_ANON, PG_ANON_EXCLUSIVE, PG_HEAD, PG_LRU, PG_MLOCKED, PG_PGTABLE,
                       PG_SWAPBACKED, PG_TAIL, PG_UNEVICTABLE, PG_UPTODATE, PG_ZERO, PMD_SIZE,
                       pte_pfn)

HPAGE_PMD_NR = 1 << HPAGE_PMD_ORDER
GFP_TRANSHUGE_LIGHT = G.GFP_TRANSHUGE_LIGHT
GFP_TRANSHUGE = G.GFP_TRANSHUGE


def thp_vma_suitable_mode(mm, vma):
    """The sysfs mode allows THPs in this anonymous private VMA (address not considered)."""
    if vma.vm_ops is not None or vma.vm_flags & VM_SHARED or vma.vm_flags & VM_NOHUGEPAGE:
        return False
    mode = mm.kernel.transparent_hugepage
    if mode == "always" or (mode == "madvise" and vma.vm_flags & VM_HUGEPAGE):
        return vma.vm_end - vma.vm_start >= PMD_SIZE
    return False


def thp_vma_allowable(mm, vma, addr):
    """thp_vma_allowable_order + thp_vma_suitable_order for the PMD around addr."""
    if not thp_vma_suitable_mode(mm, vma):
        return False
    haddr = addr & ~(PMD_SIZE - 1)
    if ((vma.vm_start >> PAGE_SHIFT) - vma.vm_pgoff) % HPAGE_PMD_NR:
        return False
    return haddr >= vma.vm_start and haddr + PMD_SIZE <= vma.vm_end


def _deposit(mm):
    """pte_alloc_one for pgtable_trans_huge_deposit: a PTE table kept with the huge PMD."""
    kernel = mm.kernel
    mmu = kernel.mmu
    pfn = kernel.alloc_pages(G.GFP_PGTABLE_USER, 0)
    mmu.flags[pfn] = PG_PGTABLE
    mmu.refcount[pfn] = 1
    mm.counters[MM_PGTABLES_BYTES] += 1 << PAGE_SHIFT
    mmu.node[NR_PAGETABLE] += 1
    return pfn


def _withdraw(mm, pfn):
    kernel = mm.kernel
    mmu = kernel.mmu
    mmu.flags[pfn] = 0
    mmu.refcount[pfn] = 0
    mm.counters[MM_PGTABLES_BYTES] -= 1 << PAGE_SHIFT
    mmu.node[NR_PAGETABLE] -= 1
    kernel.free_pages(pfn, 0)


def huge_zero_pfn(kernel):
    """mm_get_huge_zero_folio: allocated on first use, kept."""
    if kernel.huge_zero_pfn is None:
        pfn = kernel.alloc_pages((G.GFP_TRANSHUGE | G.__GFP_ZERO) & ~G.__GFP_MOVABLE,
                                 HPAGE_PMD_ORDER)
        mmu = kernel.mmu
        mmu.flags[pfn] = PG_ZERO | PG_HEAD
        mmu.refcount[pfn] = 1
        for tail in range(pfn + 1, pfn + HPAGE_PMD_NR):
            mmu.flags[tail] = PG_ZERO | PG_TAIL
        mmu.events[EV_THP_ZERO_PAGE_ALLOC] += 1
        kernel.huge_zero_pfn = pfn
    return kernel.huge_zero_pfn


def _alloc_thp(mm, vma, haddr):
    kernel = mm.kernel
    gfp = GFP_TRANSHUGE if vma.vm_flags & VM_HUGEPAGE else GFP_TRANSHUGE_LIGHT
    try:
        pfn = kernel.alloc_pages(gfp | G.__GFP_COMP, HPAGE_PMD_ORDER)
    except OutOfMemory:
        kernel.mmu.events[EV_THP_FAULT_FALLBACK] += 1
        return None
    mmu = kernel.mmu
    mm.anon_vma_prepare(vma)
    for p in range(pfn, pfn + HPAGE_PMD_NR):
        mmu.page_clear(p)
        mmu.flags[p] = PG_TAIL
        mmu.mapping[p] = vma.anon_vma.id
    mmu.flags[pfn] = (PG_ANON | PG_ANON_EXCLUSIVE | PG_SWAPBACKED | PG_UPTODATE | PG_LRU
                      | PG_HEAD)
    mmu.refcount[pfn] = 1
    mmu.mapcount[pfn] = 1
    from .memory import linear_page_index
    mmu.index[pfn] = linear_page_index(vma, haddr)
    node = mmu.node
    node[NR_ANON_MAPPED] += HPAGE_PMD_NR
    node[NR_INACTIVE_ANON] += HPAGE_PMD_NR
    lru_link(mmu, pfn, LRU_INACTIVE_ANON)
    node[NR_ANON_THPS] += 1
    mmu.events[EV_THP_FAULT_ALLOC] += 1
    from .mlock import folio_add_lru_vma
    folio_add_lru_vma(kernel, pfn, vma)            # a VM_LOCKED VMA: mlock_new_folio instead
    return pfn


def _pmd_prot(mm, vma, write):
    from .memory import vm_page_prot
    prot = vm_page_prot(vma) | _PAGE_PSE
    if write:
        prot |= _PAGE_DIRTY | (_PAGE_RW if vma.vm_flags & VM_WRITE else 0)
    return prot


def do_huge_pmd_anonymous_page(mm, vma, addr, flags):
    from .memory import FAULT_FLAG_WRITE, VM_FAULT_FALLBACK, VM_FAULT_OOM
    haddr = addr & ~(PMD_SIZE - 1)
    write = flags & FAULT_FLAG_WRITE
    mm.anon_vma_prepare(vma)             # before the zero-page branch: reads get one too
    try:
        if not write:
            zero = huge_zero_pfn(mm.kernel)
            table = _deposit(mm)
            mm.deposited[haddr] = table
            mm.kernel.mmu.pmd_set(mm.pgd, haddr, (zero << PAGE_SHIFT) | _pmd_prot(mm, vma, False)
                                  | _PAGE_SPECIAL, mm.counters)
            return 0
        pfn = _alloc_thp(mm, vma, haddr)
        if pfn is None:
            return VM_FAULT_FALLBACK
        table = _deposit(mm)
    except OutOfMemory:
        return VM_FAULT_OOM
    mm.deposited[haddr] = table
    mm.kernel.mmu.pmd_set(mm.pgd, haddr, (pfn << PAGE_SHIFT) | _pmd_prot(mm, vma, True),
                          mm.counters)
    mm.counters[MM_ANONPAGES] += HPAGE_PMD_NR
    return 0


def huge_pmd_fault(mm, vma, addr, flags, entry):
    """A fault on a present huge PMD: a write to a read-only one (huge zero page, or shared
    after fork) gets a THP of its own, or reuses an exclusive one."""
    from .memory import FAULT_FLAG_WRITE, VM_FAULT_OOM, touch_entry
    kernel = mm.kernel
    mmu = kernel.mmu
    haddr = addr & ~(PMD_SIZE - 1)
    write = flags & FAULT_FLAG_WRITE
    if not write or entry & _PAGE_RW:
        touch_entry(mm, addr, entry, write)
        return 0
    old = pte_pfn(entry)
    if not entry & _PAGE_SPECIAL and (mmu.flags[old] & PG_ANON_EXCLUSIVE
                                      or mmu.refcount[old] == 1):
        mmu.flags[old] |= PG_ANON_EXCLUSIVE
        mmu.pmd_set(mm.pgd, haddr, entry | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED, mm.counters)
        return 0
    pfn = _alloc_thp(mm, vma, haddr)
    if pfn is None:
        return VM_FAULT_OOM
    if not entry & _PAGE_SPECIAL:
        for i in range(HPAGE_PMD_NR):
            mmu.page_copy(pfn + i, old + i)
        _put_thp(mm, old)
    else:
        mm.counters[MM_ANONPAGES] += HPAGE_PMD_NR
    mmu.pmd_set(mm.pgd, haddr, (pfn << PAGE_SHIFT) | _pmd_prot(mm, vma, True), mm.counters)
    return 0


def _put_thp(mm, head):
    kernel = mm.kernel
    mmu = kernel.mmu
    count = int(mmu.mapcount[head]) - 1
    mmu.mapcount[head] = count
    if count == 0:
        mmu.node[NR_ANON_MAPPED] -= HPAGE_PMD_NR
    ref = int(mmu.refcount[head]) - 1
    mmu.refcount[head] = ref
    if ref == 0:
        flags = int(mmu.flags[head])
        if flags & (PG_MLOCKED | PG_UNEVICTABLE):
            from .mlock import folio_free_mlocked
            folio_free_mlocked(kernel, head, flags, HPAGE_PMD_NR)
            mmu.flags[head] = flags & ~PG_MLOCKED
        from .lruvec import lruvec_del_folio
        lruvec_del_folio(mmu, head)
        mmu.node[NR_ANON_THPS] -= 1
        for p in range(head + 1, head + HPAGE_PMD_NR):
            mmu.page_clear(p)
            mmu.flags[p] = 0
            mmu.mapping[p] = 0
        mmu.flags[head] = int(mmu.flags[head]) & ~PG_HEAD
        mmu.page_clear(head)
        mmu.flags[head] = 0
        mmu.mapcount[head] = 0
        mmu.mapping[head] = 0
        mmu.index[head] = 0
        kernel.free_pages(head, HPAGE_PMD_ORDER)


def zap_huge_pmd(mm, haddr):
    kernel = mm.kernel
    mmu = kernel.mmu
    entry = mmu.pmd_get(mm.pgd, haddr)
    mmu.clear_bulk(mm.pgd, np.array([haddr], dtype=np.int64))
    table = mm.deposited.pop(haddr, None)
    if table is not None:
        _withdraw(mm, table)
    if entry & _PAGE_SPECIAL:
        return
    mm.counters[MM_ANONPAGES] -= HPAGE_PMD_NR
    _put_thp(mm, pte_pfn(entry))


def copy_huge_pmd(dst, src, vma, haddr, entry):
    """copy_huge_pmd: both sides map the THP read-only; the child deposits its own table."""
    mmu = src.kernel.mmu
    dst.deposited[haddr] = _deposit(dst)
    if not entry & _PAGE_SPECIAL:
        head = pte_pfn(entry)
        mmu.flags[head] = int(mmu.flags[head]) & ~PG_ANON_EXCLUSIVE
        mmu.mapcount[head] += 1
        mmu.refcount[head] += 1
        dst.counters[MM_ANONPAGES] += HPAGE_PMD_NR
        if entry & _PAGE_RW:
            entry &= ~_PAGE_RW
            mmu.pmd_set(src.pgd, haddr, entry, src.counters)
    mmu.pmd_set(dst.pgd, haddr, entry & ~_PAGE_ACCESSED, dst.counters)


__all__ = ["thp_vma_allowable", "do_huge_pmd_anonymous_page", "huge_pmd_fault",
           "zap_huge_pmd", "copy_huge_pmd", "release_page"]


def split_huge_pmd(mm, haddr):
    """__split_huge_pmd: the PMD at haddr becomes 512 PTEs.  The huge zero page becomes 512
    zero-page PTEs; a THP's pages are copied into 512 base pages of this mm (simplification:
    the kernel keeps the frames and splits the folio later), whose PTEs keep the PMD's bits."""
    from .memory import new_anon_page, mk_pte
    kernel = mm.kernel
    mmu = kernel.mmu
    entry = mmu.pmd_get(mm.pgd, haddr)
    if not entry & _PAGE_PSE:
        return
    vma = mm.vma_lookup(haddr)
    bits = entry & ~(_PAGE_PSE | ((1 << 52) - 1) & ~((1 << PAGE_SHIFT) - 1))
    old = pte_pfn(entry)
    special = bool(entry & _PAGE_SPECIAL)
    new = []
    if not special:
        try:
            for _ in range(HPAGE_PMD_NR):
                new.append(kernel.alloc_user_page(G.GFP_HIGHUSER_MOVABLE))
        except OutOfMemory:
            for pfn in new:
                kernel.free_pages(pfn, 0)
            raise
    mmu.clear_bulk(mm.pgd, np.array([haddr], dtype=np.int64))
    table = mm.deposited.pop(haddr, None)
    if table is not None:
        _withdraw(mm, table)
    addrs = np.arange(haddr, haddr + PMD_SIZE, 1 << PAGE_SHIFT, dtype=np.int64)
    if special:
        entries = [mk_pte(kernel.zero_pfn, bits) for _ in range(HPAGE_PMD_NR)]
    else:
        entries = []
        for i, pfn in enumerate(new):
            new_anon_page(mmu, pfn, vma, haddr + (i << PAGE_SHIFT))
            mmu.page_copy(pfn, old + i)
            entries.append(mk_pte(pfn, bits))
        mm.counters[MM_ANONPAGES] -= HPAGE_PMD_NR          # _put_thp's view; re-added below
        if vma.vm_flags & VM_LOCKED:
            from .mlock import munlock_folio
            munlock_folio(kernel, old)
        _put_thp(mm, old)
        mm.counters[MM_ANONPAGES] += HPAGE_PMD_NR
    mmu.set_bulk(mm.pgd, addrs, np.array(entries, dtype=np.uint64), mm.counters)
    mm.snap_epoch += 1


def split_huge_pmds_in(mm, start, end):
    """Split the huge PMDs that [start, end) covers only partly."""
    mmu = mm.kernel.mmu
    for addr in (start, end):
        if addr & (PMD_SIZE - 1) and addr < (1 << 47):
            haddr = addr & ~(PMD_SIZE - 1)
            if mmu.pmd_get(mm.pgd, haddr) & _PAGE_PSE:
                split_huge_pmd(mm, haddr)
