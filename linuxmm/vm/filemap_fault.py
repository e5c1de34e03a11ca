"""The page cache's fault handlers (mm/filemap.c: filemap_fault, filemap_map_pages,
filemap_page_mkwrite; mm/shmem.c: shmem_fault; mm/mmap.c: special_mapping_fault): the vm_ops of
file, shmem and special mappings."""
from ..errors import (OutOfMemory)
from .constants import VM_LOCKED
from .memory import (FAULT_FLAG_ALLOW_RETRY, FAULT_FLAG_TRIED, VM_FAULT_LOCKED, VM_FAULT_MAJOR,
                     VM_FAULT_NOPAGE, VM_FAULT_OOM, VM_FAULT_RETRY, VM_FAULT_SIGBUS, mk_pte,
                     mm_counter_of, page_add_rmap, pte_alloc, set_pte, vm_page_prot)
from .mmu_defs import (EV_PGMAJFAULT, PAGE_SHIFT, PG_READAHEAD, PG_UPTODATE, PMD_SHIFT)



# -- file faults (filemap_fault, filemap_map_pages, filemap_page_mkwrite) -------------------
def filemap_fault(vmf):
    """filemap_fault: SIGBUS past EOF; a cache hit (async readahead at the marker) or a miss
    (major: sync readahead, the page read, VM_FAULT_RETRY as the lock is dropped for I/O)."""
    from . import readahead as ra
    file = vmf.vma.vm_file
    mapping = file.f_inode.i_mapping
    kernel = vmf.kernel
    index = vmf.pgoff
    if index >= mapping.nr_pages():
        return VM_FAULT_SIGBUS
    cached = mapping.is_cached(index)
    vma = vmf.vma
    major = ra.filemap_fault_readahead(mapping, file.f_ra, kernel.bdi, index, vma.vm_flags,
                                       cached, tried=bool(vmf.flags & FAULT_FLAG_TRIED),
                                       vm_pgoff=vma.vm_pgoff, vma_pages=vma.pages)
    ret = 0
    if not cached:
        kernel.mmu.events[EV_PGMAJFAULT] += 1
        ret = VM_FAULT_MAJOR
        try:
            mapping.find_or_create(index)
        except OutOfMemory:
            return VM_FAULT_OOM
        if vmf.flags & FAULT_FLAG_ALLOW_RETRY and not vmf.flags & FAULT_FLAG_TRIED:
            return ret | VM_FAULT_RETRY          # the I/O dropped the mmap lock
    elif major:
        ret = VM_FAULT_MAJOR
    pfn = mapping.pages.get(index)
    if pfn is None:                          # reclaimed by the readahead's own allocations:
        try:                                 # filemap_fault's retry_find reads it again
            pfn, _ = mapping.find_or_create(index)
        except OutOfMemory:
            return VM_FAULT_OOM
    kernel.mmu.refcount[pfn] += 1            # the reference handed to the fault
    vmf.page = pfn
    return ret | VM_FAULT_LOCKED


def filemap_map_pages(vmf, start_pgoff, end_pgoff):
    """Map the cached, uptodate folios of [start_pgoff, end_pgoff] (clipped to EOF) that are
    not the readahead marker, where no PTE is present; NOPAGE if the faulting page got one.

    6.18 (mm/filemap.c filemap_map_pages / filemap_map_folio_range): a large folio is mapped
    whole, beyond the window, when it lies inside the VMA (folio_within_vma) and inside one page
    table, and can_map_large holds: shmem, or file_end >= folio_next_index of the first folio
    next_uptodate_folio returned (file_end = the last page of the file; so a folio that ends at
    EOF is not mapped whole, preserving SIGBUS semantics).  Otherwise only its pages inside the
    window are.  Not modelled: filemap_map_pmd (a PMD-sized folio is mapped by PTEs here)."""
    mm, vma = vmf.mm, vmf.vma
    kernel = mm.kernel
    mmu = kernel.mmu
    file = vma.vm_file
    mapping = file.f_inode.i_mapping
    file_end = mapping.nr_pages() - 1
    last = min(end_pgoff, file_end)
    prot = vm_page_prot(vma)
    ret = 0
    mapped = 0
    tables = False
    pages = mapping.pages
    can_map_large = None
    pgoff = start_pgoff
    while pgoff <= last:
        pfn = pages.get(pgoff)
        if pfn is None:
            pgoff += 1
            continue
        first, nr = mapping.folio(pgoff)
        nxt = first + nr
        flags = int(mmu.flags[pfn])
        if not flags & PG_UPTODATE or flags & PG_READAHEAD:
            pgoff = nxt
            continue
        if can_map_large is None:
            can_map_large = mapping.shmem or file_end >= nxt
        lo, hi = pgoff, min(nxt - 1, last)
        if nr > 1 and can_map_large and first >= vma.vm_pgoff \
                and nxt <= vma.vm_pgoff + vma.pages:
            addr0 = vma.vm_start + ((first - vma.vm_pgoff) << PAGE_SHIFT)
            if addr0 >> PMD_SHIFT == (addr0 + (nr << PAGE_SHIFT) - 1) >> PMD_SHIFT:
                lo, hi = first, nxt - 1
        for index in range(lo, hi + 1):
            addr = vma.vm_start + ((index - vma.vm_pgoff) << PAGE_SHIFT)
            if not tables:
                try:
                    pte_alloc(mm, addr)
                except OutOfMemory:
                    return VM_FAULT_OOM
                tables = True
            pfn = pages.get(index)            # (the table's allocation may have reclaimed it)
            if pfn is None:
                continue
            if mmu.pte_get(mm.pgd, addr) != 0:
                continue
            if addr == vmf.address:
                ret = VM_FAULT_NOPAGE
            page_add_rmap(mmu, pfn)
            set_pte(mm, addr, mk_pte(pfn, prot))
            mm.counters[mm_counter_of(mmu, pfn)] += 1
            mapped += 1
            if vma.vm_flags & VM_LOCKED:
                from .mlock import mlock_vma_folio
                mlock_vma_folio(mm.kernel, pfn, vma)
        pgoff = nxt
    from .readahead import map_pages_mmap_miss
    map_pages_mmap_miss(file.f_ra, mapped)
    return ret


def filemap_page_mkwrite(vmf):
    """ext4's page_mkwrite: the page becomes dirty (file_update_time, set_page_dirty)."""
    vmf.vma.vm_file.f_inode.i_mapping.set_dirty(vmf.page)
    return VM_FAULT_LOCKED


def shmem_fault(vmf):
    """shmem_fault: the page from the shmem cache, a new zeroed page for a hole (no zero-page
    trick, no readahead)."""
    mapping = vmf.vma.vm_file.f_inode.i_mapping
    index = vmf.pgoff
    if index >= mapping.nr_pages():
        return VM_FAULT_SIGBUS
    try:
        pfn, _ = mapping.find_or_create(index)
    except OutOfMemory:
        return VM_FAULT_OOM
    vmf.kernel.mmu.refcount[pfn] += 1
    vmf.page = pfn
    return VM_FAULT_LOCKED


def special_mapping_fault(vmf):
    """The vDSO/vvar pages: kernel pages, mapped as special PTEs of the zero page here (their
    contents are not modelled); never counted in RSS."""
    return vmf.insert_pfn(vmf.kernel.zero_pfn)
