"""Reverse mapping (mm/rmap.c: rmap_walk_anon, rmap_walk_file): from a frame to the PTEs that
map it.  An anonymous page's mapping is its anon_vma (the VMAs whose anon_vma is that one or
descends from it through fork); a file page's is its inode (every VMA mapping the file).

Simplification (docs/faults.md): the anon_vma interval trees and i_mmap are not kept; the walk
visits every live process's VMAs and keeps those the kernel's trees would return.
"""
import numpy as np

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
    candidates = []
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
            candidates.append((process, mm, vma))
    return _mapped_in(mmu.pte_get, pfn, int(mmu.index[pfn]), candidates)


def _mapped_in(get, pfn, index, candidates):
    """(process, vma, address) of each candidate VMA whose PTE (or huge PMD) at the page's
    index maps frame pfn."""
    out = []
    for process, mm, vma in candidates:
        delta = (index - vma.vm_pgoff) & _U64               # unsigned long arithmetic
        if delta >= vma.pages:
            continue
        addr = vma.vm_start + (delta << PAGE_SHIFT)
        entry = get(mm.pgd, addr)
        if not entry & (_PAGE_PRESENT | _PAGE_PROTNONE) or entry & _PAGE_SPECIAL:
            continue
        mapped = pte_pfn(entry)
        if entry & _PAGE_PSE:
            mapped += (addr & (PMD_SIZE - 1)) >> PAGE_SHIFT
        if mapped == pfn:
            out.append((process, vma, addr))
    return out


class RmapIndex:
    """rmap_walk() for many frames in a row (a reclaim pass): every VMA of every live process,
    listed under each anon_vma id it serves (its own anon_vma's and its ancestors') and under its
    file's mapping id, in rmap_walk()'s order (processes, then each one's VMAs by address).
    walk() gives exactly rmap_walk()'s answer while no VMA, anon_vma or process changes: build
    one per pass and drop it when the pass ends."""

    __slots__ = ("anon", "file", "_flat", "flat_items", "_counters")

    def __init__(self, kernel):
        anon_keys = {}
        file_keys = {}
        for process in list(kernel._processes.values()):
            mm = process.mm
            if mm is None or mm.pgd is None:
                continue
            for vma in mm.tree:
                item = (process, mm, vma)
                anon = vma.anon_vma
                seen = None
                while anon is not None:
                    aid = anon.id
                    if seen is None:
                        seen = {aid}
                        anon_keys.setdefault(aid, []).append(item)
                    elif aid not in seen:
                        seen.add(aid)
                        anon_keys.setdefault(aid, []).append(item)
                    anon = anon.parent
                if vma.vm_file is not None:
                    file_keys.setdefault(vma.vm_file.f_inode.i_mapping.id, []).append(item)
        self.anon = anon_keys
        self.file = file_keys
        self._flat = None
        self.flat_items = None
        self._counters = None

    def flat(self):
        """The anon half as flat int64 arrays for the engine's batch rmap (Mmu.check_references):
        (keys: the anon_vma ids sorted, kstart: key k's candidates are [kstart[k], kstart[k+1]),
        and per candidate its pgd, vm_start, pages, vm_pgoff, vm_flags), candidates in walk()'s
        order; flat_items[c] is candidate c's (process, mm, vma)."""
        if self._flat is None:
            keys = sorted(self.anon)
            kstart = [0]
            items = []
            for k in keys:
                items.extend(self.anon[k])
                kstart.append(len(items))
            cols = ([mm.pgd for _, mm, _ in items], [vma.vm_start for _, _, vma in items],
                    [vma.pages for _, _, vma in items], [vma.vm_pgoff for _, _, vma in items],
                    [vma.vm_flags for _, _, vma in items])
            self._flat = tuple(np.array(x, np.int64) for x in [keys, kstart, *cols])
            self.flat_items = items
        return self._flat

    def flat_counters(self):
        """The mm counters of each flat() candidate (the same list for the whole pass)."""
        if self._counters is None:
            self.flat()
            self._counters = [mm.counters for _, mm, _ in self.flat_items]
        return self._counters

    def walk(self, kernel, pfn):
        """rmap_walk(kernel, pfn) from the index."""
        mmu = kernel.mmu
        flags = int(mmu.flags[pfn])
        if flags & PG_ANON:
            candidates = self.anon.get(int(mmu.mapping[pfn]))
        elif flags & PG_FILE:
            candidates = self.file.get(int(mmu.mapping[pfn]))
        else:
            return []
        if not candidates:
            return []
        return _mapped_in(mmu.pte_get_unchecked, pfn, int(mmu.index[pfn]), candidates)


_U64 = (1 << 64) - 1
