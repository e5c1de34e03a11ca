"""Reverse mapping (mm/rmap.c: rmap_walk_anon, rmap_walk_file): from a frame to the PTEs that
map it.  An anonymous page's mapping is its anon_vma (the VMAs whose anon_vma is that one or
descends from it through fork); a file page's is its inode (every VMA mapping the file).

Simplification (docs/faults.md): the anon_vma interval trees and i_mmap are not kept; the walk
visits every live process's VMAs and keeps those the kernel's trees would return.
"""
from .mmu_defs import (_PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_PSE, _PAGE_SPECIAL, PAGE_SHIFT,
                       PG_ANON, PG_FILE, PMD_SIZE, pte_pfn)


def _anon_descends(anon, target_id):
    while anon is not None:
        if anon.id == target_id:
            return True
        anon = anon.parent
    return False


def rmap_walk(kernel, pfn):
    """[(process, vma, address)] of every PTE (or huge PMD) mapping frame pfn."""
    mmu = kernel.mmu
    flags = int(mmu.flags[pfn])
    if not flags & (PG_ANON | PG_FILE):
        return []
    mapping_id = int(mmu.mapping[pfn])
    index = int(mmu.index[pfn])
    out = []
    for process in list(kernel._processes.values()):
        mm = process.mm
        if mm is None or mm.pgd is None:
            continue
        for vma in mm.tree:
            if flags & PG_ANON:
                if not _anon_descends(vma.anon_vma, mapping_id):
                    continue
            elif vma.vm_file is None or vma.vm_file.f_inode.i_mapping.id != mapping_id:
                continue
            delta = (index - vma.vm_pgoff) & ((1 << 64) - 1)    # unsigned long arithmetic
            if delta >= vma.pages:
                continue
            addr = vma.vm_start + (delta << PAGE_SHIFT)
            entry = mmu.pte_get(mm.pgd, addr)
            if not entry & (_PAGE_PRESENT | _PAGE_PROTNONE) or entry & _PAGE_SPECIAL:
                continue
            mapped = pte_pfn(entry)
            if entry & _PAGE_PSE:
                mapped += (addr & (PMD_SIZE - 1)) >> PAGE_SHIFT
            if mapped == pfn:
                out.append((process, vma, addr))
    return out
