"""mincore(2) (mm/mincore.c): which pages of a range are resident."""
import errno

from .constants import PAGE_MASK, PAGE_SHIFT, PAGE_SIZE
from .mm import oserror
from .mmu_defs import _PAGE_PRESENT, _PAGE_PROTNONE, PG_UPTODATE

_U64 = (1 << 64) - 1


def sys_mincore(mm, start, length):
    """One byte per page: 1 for a present PTE (the zero page too), else whether the mapped
    file's page is in the page cache (0 for anonymous memory).  EINVAL for an unaligned
    start, ENOMEM for a range beyond TASK_SIZE or with a hole."""
    start &= _U64
    length &= _U64
    if start & ~PAGE_MASK:
        raise oserror(errno.EINVAL)
    if start > mm.task_size or length > mm.task_size - start:
        raise oserror(errno.ENOMEM)
    pages = (length + PAGE_SIZE - 1) >> PAGE_SHIFT
    mmu = mm.kernel.mmu
    out = bytearray(pages)
    addr = start
    for i in range(pages):
        vma = mm.vma_lookup(addr)
        if vma is None:
            raise oserror(errno.ENOMEM)
        entry = mmu.pte_get(mm.pgd, addr)
        if entry & (_PAGE_PRESENT | _PAGE_PROTNONE):
            out[i] = 1
        elif entry:                                   # a swap entry: in the swap cache?
            from .swap import pte_to_swp_entry
            out[i] = 1 if mm.kernel.swap_state.lookup(pte_to_swp_entry(entry)) is not None \
                else 0
        elif entry == 0 and vma.vm_file is not None:
            mapping = vma.vm_file.f_inode.i_mapping
            pgoff = vma.vm_pgoff + ((addr - vma.vm_start) >> PAGE_SHIFT)
            pfn = mapping.pages.get(pgoff)
            out[i] = 1 if pfn is not None and mmu.flags[pfn] & PG_UPTODATE else 0
        addr += PAGE_SIZE
    return bytes(out)
