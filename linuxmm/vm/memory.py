"""The fault path and the page-table walks of mm/memory.c, shared by both backends.

Page tables and per-frame state live in the Kernel's MMU (linuxmm.mmu in C, or the pure-Python
linuxmm.reference.mmu); this module is the policy above them:

    user_access(mm, addr, write)        one access by the CPU: hit, or exc_page_fault
    do_user_addr_fault                  VMA lookup, stack growth, access_error, signals, retry
    handle_mm_fault                     -> do_anonymous_page / do_fault / do_wp_page
    zap_page_range, free_pgtables       munmap, MADV_DONTNEED, exit
    copy_page_range                     fork (dup_mmap)
    change_protection, move_page_tables mprotect, mremap

A bulk replay (Process.access / touch_range) runs in the MMU's loop, which completes present
accesses and anonymous faults itself and returns to this module for every other fault.
"""
import numpy as np

from .. import gfp as G
from ..errors import BusError, OutOfMemory, SegmentationFault
from .constants import (MMAP_MIN_ADDR, STACK_GUARD_GAP, VM_ACCOUNT, VM_EXEC, VM_GROWSDOWN,
                        VM_IO, VM_LOCKED, VM_MAYSHARE, VM_MAYWRITE, VM_MIXEDMAP, VM_PFNMAP,
                        VM_READ, VM_SHARED, VM_WRITE)
from .filemap import folio_frames, mark_page_accessed, put_page
from .mmu_defs import (_PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_NX, _PAGE_PRESENT, _PAGE_PROTNONE,
                       _PAGE_PSE, _PAGE_RW, _PAGE_SPECIAL, _PAGE_USER, ACCESS_DONE,
                       EV_PGFAULT, EV_PGMAJFAULT, EV_PGREUSE, MM_ANONPAGES, MM_FILEPAGES,
                       MM_MAJ_FLT, MM_MIN_FLT, MM_SHMEMPAGES, NR_ANON_MAPPED, NR_FILE_MAPPED,
                       NR_INACTIVE_ANON, PAGE_SHIFT, PAGE_SIZE, PG_ANON, PG_ANON_EXCLUSIVE,
                       PG_DIRTY, PG_FILE, PG_LRU, PG_ORDER_MASK, PG_READAHEAD, PG_SHMEM,
                       PG_SWAPBACKED, PG_UPTODATE, PMD_SHIFT, PMD_SIZE, PTRS_PER_TABLE,
                       SNAP_COLUMNS, SNAPK_ANON, pte_pfn)

# vm_fault_t (include/linux/mm_types.h)
VM_FAULT_OOM = 0x1
VM_FAULT_SIGBUS = 0x2
VM_FAULT_MAJOR = 0x4
VM_FAULT_HWPOISON = 0x10
VM_FAULT_HWPOISON_LARGE = 0x20
VM_FAULT_SIGSEGV = 0x40
VM_FAULT_NOPAGE = 0x100
VM_FAULT_LOCKED = 0x200
VM_FAULT_RETRY = 0x400
VM_FAULT_FALLBACK = 0x800
VM_FAULT_DONE_COW = 0x1000
VM_FAULT_COMPLETED = 0x4000
VM_FAULT_ERROR = (VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV | VM_FAULT_HWPOISON
                  | VM_FAULT_HWPOISON_LARGE | VM_FAULT_FALLBACK)

# enum fault_flag
FAULT_FLAG_WRITE = 1 << 0
FAULT_FLAG_MKWRITE = 1 << 1
FAULT_FLAG_ALLOW_RETRY = 1 << 2
FAULT_FLAG_RETRY_NOWAIT = 1 << 3
FAULT_FLAG_KILLABLE = 1 << 4
FAULT_FLAG_TRIED = 1 << 5
FAULT_FLAG_USER = 1 << 6
FAULT_FLAG_REMOTE = 1 << 7
FAULT_FLAG_INSTRUCTION = 1 << 8

FAULT_AROUND_BYTES = 65536          # debugfs fault_around_bytes
_U64 = (1 << 64) - 1
_PROT_BITS = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_NX | _PAGE_PROTNONE


# -- protections ------------------------------------------------------------------------------
def vma_wants_writenotify(vma):
    """Shared writable file mappings of filesystems with page_mkwrite (ext4) start read-only."""
    flags = vma.vm_flags
    if (flags & (VM_WRITE | VM_SHARED)) != (VM_WRITE | VM_SHARED):
        return False
    ops = vma.vm_ops
    return ops is not None and ops.page_mkwrite is not None


def vm_page_prot(vma):
    """vma->vm_page_prot on x86_64 (protection_map + write-notify): PROT_NONE is not present,
    private mappings are never writable in the PTE (COW), NX unless VM_EXEC."""
    flags = vma.vm_flags
    if not flags & (VM_READ | VM_WRITE | VM_EXEC):
        return _PAGE_PROTNONE | _PAGE_ACCESSED
    prot = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED
    if not flags & VM_EXEC:
        prot |= _PAGE_NX
    if flags & VM_SHARED and flags & VM_WRITE and not vma_wants_writenotify(vma):
        prot |= _PAGE_RW
    return prot


def mk_pte(pfn, prot):
    return (pfn << PAGE_SHIFT) | prot


def is_cow_mapping(flags):
    return (flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE


# -- rss / rmap bookkeeping -------------------------------------------------------------------
def mm_counter_of(mmu, pfn):
    """mm_counter(): MM_ANONPAGES, MM_SHMEMPAGES or MM_FILEPAGES for a mapped frame."""
    flags = int(mmu.flags[pfn])
    if flags & PG_ANON:
        return MM_ANONPAGES
    if flags & PG_SHMEM:
        return MM_SHMEMPAGES
    return MM_FILEPAGES


def page_add_rmap(mmu, pfn):
    """folio_add_*_rmap_pte for an existing page: one more mapping and reference."""
    count = int(mmu.mapcount[pfn]) + 1
    mmu.mapcount[pfn] = count
    mmu.refcount[pfn] += 1
    if count == 1:
        mmu.node[NR_ANON_MAPPED if mmu.flags[pfn] & PG_ANON else NR_FILE_MAPPED] += 1


def page_remove_rmap(kernel, pfn):
    """folio_remove_rmap_pte + the mapping's reference."""
    mmu = kernel.mmu
    count = int(mmu.mapcount[pfn]) - 1
    mmu.mapcount[pfn] = count
    if count == 0:
        mmu.node[NR_ANON_MAPPED if mmu.flags[pfn] & PG_ANON else NR_FILE_MAPPED] -= 1
    put_page(kernel, pfn)


def new_anon_page(mmu, pfn, vma, addr):
    """folio_add_new_anon_rmap + folio_add_lru_vma for a fresh anonymous frame."""
    mmu.page_clear(pfn)
    mmu.flags[pfn] = PG_ANON | PG_ANON_EXCLUSIVE | PG_SWAPBACKED | PG_UPTODATE | PG_LRU
    mmu.refcount[pfn] = 1
    mmu.mapcount[pfn] = 1
    mmu.mapping[pfn] = vma.anon_vma.id
    mmu.index[pfn] = linear_page_index(vma, addr)
    mmu.node[NR_ANON_MAPPED] += 1
    mmu.node[NR_INACTIVE_ANON] += 1


def linear_page_index(vma, addr):
    """vm_pgoff + page offset, as the kernel's unsigned long (a stack moved by exec wraps)."""
    return _s64(vma.vm_pgoff + ((addr - vma.vm_start) >> PAGE_SHIFT))


def _s64(value):
    """An unsigned long as the int64 the MMU's arrays hold (two's complement)."""
    value &= _U64
    return value - (1 << 64) if value >> 63 else value


# -- the fault descriptor ---------------------------------------------------------------------
class VmFault:
    """struct vm_fault: what a fault handler (vm_ops.fault, map_pages, page_mkwrite) gets.
    A handler sets `page` (a pfn whose reference it hands over) and returns VM_FAULT_* bits,
    or installs the PTE itself with insert_pfn() and returns VM_FAULT_NOPAGE."""
    __slots__ = ("vma", "address", "real_address", "pgoff", "flags", "page", "cow_page",
                 "orig_pte", "mm", "kernel")

    def __init__(self, mm, vma, addr, flags):
        self.mm = mm
        self.kernel = mm.kernel
        self.vma = vma
        self.real_address = addr
        self.address = addr & ~(PAGE_SIZE - 1)
        self.pgoff = linear_page_index(vma, self.address)
        self.flags = flags
        self.page = None
        self.cow_page = None
        self.orig_pte = 0

    @property
    def write(self):
        return bool(self.flags & FAULT_FLAG_WRITE)

    def grab_page(self, pgoff=None):
        """A frame of the mapped file's (a device's) page cache at pgoff (default: the
        faulting one), created zeroed when absent; the caller gets one reference, to hand
        over as vmf.page."""
        mapping = self.vma.vm_file.f_inode.i_mapping
        pfn, _ = mapping.find_or_create(self.pgoff if pgoff is None else pgoff)
        self.kernel.mmu.refcount[pfn] += 1
        return pfn

    def insert_pfn(self, pfn, write=False):
        """vmf_insert_pfn: a special PTE (no struct page counted) for a device's frame."""
        prot = vm_page_prot(self.vma) | _PAGE_SPECIAL
        if write and self.vma.vm_flags & VM_WRITE:
            prot |= _PAGE_RW | _PAGE_DIRTY
        set_pte(self.mm, self.address, mk_pte(pfn, prot))
        return VM_FAULT_NOPAGE

    def __repr__(self):
        return f"<vm_fault {self.address:#x} pgoff={self.pgoff} flags={self.flags:#x}>"


def set_pte(mm, addr, entry):
    mm.kernel.mmu.pte_set(mm.pgd, addr, entry, mm.counters)


def pte_alloc(mm, addr):
    """pte_alloc (and the PUD/PMD above it): make sure the tables for addr exist."""
    mmu = mm.kernel.mmu
    if mmu.pte_get(mm.pgd, addr) == 0:
        mmu.pte_set(mm.pgd, addr, 0, mm.counters)


# -- entry: one user access -------------------------------------------------------------------
def user_access(mm, addr, write):
    """One access by user code: completes it or raises SegmentationFault / BusError."""
    mmu = mm.kernel.mmu
    if addr < mm.task_size:
        entry = mmu.pte_get(mm.pgd, addr)
        if entry & _PAGE_PRESENT and (not write or entry & _PAGE_RW):
            touch_entry(mm, addr, entry, write)
            return
    do_user_addr_fault(mm, addr, write)


def touch_entry(mm, addr, entry, write):
    """What the CPU does on a completed access: Accessed, and Dirty on a write."""
    new = entry | _PAGE_ACCESSED | (_PAGE_DIRTY if write else 0)
    if new != entry:
        mmu = mm.kernel.mmu
        if entry & _PAGE_PSE:
            mmu.pmd_set(mm.pgd, addr & ~(PMD_SIZE - 1), new, mm.counters)
        else:
            mmu.pte_set(mm.pgd, addr, new, mm.counters)


def access_error(write, vma):
    flags = vma.vm_flags
    if write:
        return not flags & VM_WRITE
    return not flags & (VM_READ | VM_WRITE | VM_EXEC)


def do_user_addr_fault(mm, addr, write, gup=False):
    """arch/x86/mm/fault.c: find the VMA (growing a stack), check the access, handle the
    fault (retrying after I/O as the kernel does) and account it; then complete the access."""
    if addr >= mm.task_size:
        raise SegmentationFault(addr, "SEGV_MAPERR")
    vma = mm.find_vma(addr)
    if vma is None:
        raise SegmentationFault(addr, "SEGV_MAPERR")
    if vma.vm_start > addr:
        if not vma.vm_flags & VM_GROWSDOWN or not expand_stack(mm, vma, addr):
            raise SegmentationFault(addr, "SEGV_MAPERR")
    if access_error(write, vma):
        raise SegmentationFault(addr, "SEGV_ACCERR")
    flags = FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE | (0 if gup else FAULT_FLAG_USER)
    if write:
        flags |= FAULT_FLAG_WRITE
    while True:
        ret = handle_mm_fault(mm, vma, addr, flags)
        if not ret & VM_FAULT_RETRY:
            break
        flags |= FAULT_FLAG_TRIED
    mm_account_fault(mm, flags, ret)
    if ret & VM_FAULT_ERROR:
        if ret & VM_FAULT_OOM:
            raise OutOfMemory(f"page fault at 0x{addr:x}: out of memory")
        if ret & VM_FAULT_SIGSEGV:
            raise SegmentationFault(addr, "SEGV_MAPERR")
        raise BusError(addr)
    entry = mm.kernel.mmu.pte_get(mm.pgd, addr)
    if entry & _PAGE_PRESENT:
        touch_entry(mm, addr, entry, write)
    return ret


def mm_account_fault(mm, flags, ret):
    """pgfault for every completed fault; min_flt or maj_flt unless it failed."""
    mmu = mm.kernel.mmu
    mmu.events[EV_PGFAULT] += 1
    if ret & VM_FAULT_ERROR:
        return
    if ret & VM_FAULT_MAJOR or flags & FAULT_FLAG_TRIED:
        mm.counters[MM_MAJ_FLT] += 1
    else:
        mm.counters[MM_MIN_FLT] += 1


def expand_stack(mm, vma, addr):
    """expand_downwards + acct_stack_growth: grow vma down to the page holding addr."""
    address = addr & ~(PAGE_SIZE - 1)
    if address < MMAP_MIN_ADDR:
        return False
    prev = mm.tree.prev(vma)
    if prev is not None and not prev.vm_flags & VM_GROWSDOWN and \
            prev.vm_flags & (VM_READ | VM_WRITE | VM_EXEC):
        if address - prev.vm_end < STACK_GUARD_GAP:
            return False
    size = vma.vm_end - address
    grow = (vma.vm_start - address) >> PAGE_SHIFT
    if size > mm.kernel.rlimit_stack:
        return False
    if vma.vm_flags & VM_ACCOUNT:
        try:
            mm.vm_enough_memory(grow)
        except OSError:
            return False
    if vma.vm_flags & VM_LOCKED:
        mm.locked_vm += grow
    mm.vm_stat_account(vma.vm_flags, grow)
    vma.vm_pgoff = (vma.vm_pgoff - grow) & _U64
    mm.tree.set_start(vma, address)
    return True


# -- handle_mm_fault --------------------------------------------------------------------------
def handle_mm_fault(mm, vma, addr, flags):
    mmu = mm.kernel.mmu
    write = flags & FAULT_FLAG_WRITE
    entry = mmu.pte_get(mm.pgd, addr)
    if entry & _PAGE_PSE:
        from .huge_memory import huge_pmd_fault
        return huge_pmd_fault(mm, vma, addr, flags, entry)
    if entry == 0 and vma.vm_ops is None and mmu.pmd_get(mm.pgd, addr) == 0:
        from .huge_memory import thp_vma_allowable, do_huge_pmd_anonymous_page
        if thp_vma_allowable(mm, vma, addr):
            ret = do_huge_pmd_anonymous_page(mm, vma, addr, flags)
            if not ret & VM_FAULT_FALLBACK:
                return ret
    vmf = VmFault(mm, vma, addr, flags)
    vmf.orig_pte = entry
    if entry == 0:
        if vma.vm_ops is None:
            return do_anonymous_page(vmf)
        return do_fault(vmf)
    if not entry & (_PAGE_PRESENT | _PAGE_PROTNONE):
        return VM_FAULT_SIGBUS                       # swap entries: the swap issue
    if write and not entry & _PAGE_RW:
        return do_wp_page(vmf)
    touch_entry(mm, addr, entry, write)              # spurious fault
    return 0


def do_anonymous_page(vmf):
    mm, vma, addr = vmf.mm, vmf.vma, vmf.address
    kernel = mm.kernel
    mmu = kernel.mmu
    if vma.vm_flags & VM_SHARED:
        return VM_FAULT_SIGBUS
    try:
        pte_alloc(mm, addr)
    except OutOfMemory:
        return VM_FAULT_OOM
    prot = vm_page_prot(vma)
    if not vmf.write:
        set_pte(mm, addr, mk_pte(kernel.zero_pfn, prot | _PAGE_SPECIAL))
        return 0
    mm.anon_vma_prepare(vma)
    try:
        pfn = kernel.alloc_user_page(G.GFP_HIGHUSER_MOVABLE)
    except OutOfMemory:
        return VM_FAULT_OOM
    new_anon_page(mmu, pfn, vma, addr)
    entry = mk_pte(pfn, prot | _PAGE_DIRTY)
    if vma.vm_flags & VM_WRITE:
        entry |= _PAGE_RW
    set_pte(mm, addr, entry)
    mm.counters[MM_ANONPAGES] += 1
    return 0


def do_fault(vmf):
    ops = vmf.vma.vm_ops
    if ops.fault is None:
        return VM_FAULT_SIGBUS
    if not vmf.write:
        return do_read_fault(vmf)
    if not vmf.vma.vm_flags & VM_SHARED:
        return do_cow_fault(vmf)
    return do_shared_fault(vmf)


def should_fault_around(vmf):
    return vmf.vma.vm_ops.map_pages is not None and FAULT_AROUND_BYTES > PAGE_SIZE


def do_fault_around(vmf):
    """The 64 KiB window around the fault, clamped to the VMA and the page table (6.4+)."""
    vma = vmf.vma
    nr = FAULT_AROUND_BYTES >> PAGE_SHIFT
    pte_off = (vmf.address >> PAGE_SHIFT) & (PTRS_PER_TABLE - 1)
    vma_off = vmf.pgoff - vma.vm_pgoff
    from_pte = max(pte_off - pte_off % nr, pte_off - min(pte_off, vma_off))
    to_pte = min(from_pte + nr, PTRS_PER_TABLE, pte_off + vma.pages - vma_off) - 1
    start_pgoff = vmf.pgoff - (pte_off - from_pte)
    end_pgoff = start_pgoff + (to_pte - from_pte)
    return vma.vm_ops.map_pages(vmf, start_pgoff, end_pgoff)


def do_read_fault(vmf):
    if should_fault_around(vmf):
        ret = do_fault_around(vmf)
        if ret:
            return ret
    ret = vmf.vma.vm_ops.fault(vmf)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        return ret
    return finish_fault(vmf, _handed_page(vmf)) | ret


def _handed_page(vmf):
    """The page a fault handler returned: a page-cache frame it holds a reference to."""
    pfn = vmf.page
    mmu = vmf.kernel.mmu
    if not isinstance(pfn, int) or not 0 <= pfn < len(mmu.flags) \
            or not mmu.flags[pfn] & PG_FILE or mmu.refcount[pfn] < 2:
        raise ValueError(f"vm_ops.fault returned without a page it holds (vmf.page={pfn!r}); "
                         "use vmf.grab_page() or vmf.insert_pfn()")
    return pfn


def do_cow_fault(vmf):
    mm, vma = vmf.mm, vmf.vma
    kernel = mm.kernel
    mm.anon_vma_prepare(vma)
    try:
        cow = kernel.alloc_user_page(G.GFP_HIGHUSER_MOVABLE)
    except OutOfMemory:
        return VM_FAULT_OOM
    ret = vma.vm_ops.fault(vmf)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        kernel.free_pages(cow, 0)
        return ret
    _handed_page(vmf)
    mmu = kernel.mmu
    new_anon_page(mmu, cow, vma, vmf.address)
    mmu.page_copy(cow, vmf.page)
    ret |= finish_new_anon(vmf, cow)
    put_page(kernel, vmf.page)                # the file page is not mapped
    return ret


def finish_new_anon(vmf, pfn):
    mm, vma = vmf.mm, vmf.vma
    try:
        pte_alloc(mm, vmf.address)
    except OutOfMemory:
        return VM_FAULT_OOM
    entry = mk_pte(pfn, vm_page_prot(vma) | _PAGE_DIRTY)
    if vma.vm_flags & VM_WRITE:
        entry |= _PAGE_RW
    set_pte(mm, vmf.address, entry)
    mm.counters[MM_ANONPAGES] += 1
    return 0


def do_shared_fault(vmf):
    vma = vmf.vma
    ret = vma.vm_ops.fault(vmf)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        return ret
    _handed_page(vmf)
    if vma.vm_ops.page_mkwrite is not None:
        tmp = vma.vm_ops.page_mkwrite(vmf)
        if tmp & VM_FAULT_ERROR:
            put_page(vmf.kernel, vmf.page)
            return tmp
    ret |= finish_fault(vmf, vmf.page)
    fault_dirty_shared_page(vmf, vmf.page)
    return ret


def fault_dirty_shared_page(vmf, pfn):
    mapping = vmf.vma.vm_file.f_inode.i_mapping
    mapping.set_dirty(pfn)


def _folio_ptes_none(mm, addr, nr):
    mmu = mm.kernel.mmu
    return all(mmu.pte_get(mm.pgd, addr + (i << PAGE_SHIFT)) == 0 for i in range(nr))


def finish_fault(vmf, pfn):
    """Map the page the handler returned (its reference becomes the mapping's).

    6.18 (mm/memory.c finish_fault, "map large folios in one shot"): a page of a large
    page-cache folio maps the whole folio when the folio lies inside the VMA and inside the
    faulting page table and none of its PTEs is set; otherwise (or when some PTE is set: the
    needs_fallback retry) just the faulting page.  set_pte_range makes them all young and, for
    a write, dirty and writable; folio_ref_add(folio, nr - 1): here one reference per frame."""
    mm, vma = vmf.mm, vmf.vma
    mmu = mm.kernel.mmu
    try:
        pte_alloc(mm, vmf.address)
    except OutOfMemory:
        put_page(mm.kernel, pfn)
        return VM_FAULT_OOM
    if mmu.pte_get(mm.pgd, vmf.address) != 0:       # raced with fault-around: drop ours
        put_page(mm.kernel, pfn)
        return VM_FAULT_NOPAGE
    head, nr, addr = pfn, 1, vmf.address
    flags = int(mmu.flags[pfn])
    if flags & PG_FILE and flags & PG_ORDER_MASK:
        fhead, fnr = folio_frames(mmu, pfn)
        idx = pfn - fhead
        vma_off = vmf.pgoff - vma.vm_pgoff
        pte_off = (vmf.address >> PAGE_SHIFT) & (PTRS_PER_TABLE - 1)
        addr0 = vmf.address - (idx << PAGE_SHIFT)
        if vma_off >= idx and vma_off + fnr - idx <= vma.pages and pte_off >= idx \
                and pte_off + fnr - idx <= PTRS_PER_TABLE and _folio_ptes_none(mm, addr0, fnr):
            head, nr, addr = fhead, fnr, addr0
    prot = vm_page_prot(vma)
    if vmf.write:
        prot |= _PAGE_DIRTY
        if vma.vm_flags & VM_WRITE:
            prot |= _PAGE_RW
    for i in range(nr):
        p = head + i
        if p == pfn:        # the handler's reference becomes the mapping's: count the mapping
            count = int(mmu.mapcount[p]) + 1
            mmu.mapcount[p] = count
            if count == 1:
                mmu.node[NR_ANON_MAPPED if mmu.flags[p] & PG_ANON else NR_FILE_MAPPED] += 1
        else:
            page_add_rmap(mmu, p)
        set_pte(mm, addr + (i << PAGE_SHIFT), mk_pte(p, prot))
    mm.counters[mm_counter_of(mmu, pfn)] += nr
    return 0


def do_wp_page(vmf):
    mm, vma = vmf.mm, vmf.vma
    kernel = mm.kernel
    mmu = kernel.mmu
    entry = vmf.orig_pte
    pfn = pte_pfn(entry)
    special = bool(entry & _PAGE_SPECIAL)
    if vma.vm_flags & (VM_SHARED | VM_MAYSHARE):
        if special:
            return wp_page_reuse(vmf, entry)
        ops = vma.vm_ops
        if ops is not None and ops.page_mkwrite is not None:
            vmf.page = pfn
            tmp = ops.page_mkwrite(vmf)
            if tmp & VM_FAULT_ERROR:
                return tmp
        if mmu.flags[pfn] & PG_FILE:
            vma.vm_file.f_inode.i_mapping.set_dirty(pfn)
        return wp_page_reuse(vmf, entry)
    if not special and mmu.flags[pfn] & PG_ANON:
        if mmu.flags[pfn] & PG_ANON_EXCLUSIVE or mmu.refcount[pfn] == 1:
            mmu.flags[pfn] |= PG_ANON_EXCLUSIVE
            return wp_page_reuse(vmf, entry)
    return wp_page_copy(vmf, None if special else pfn)


def wp_page_reuse(vmf, entry):
    mm = vmf.mm
    set_pte(mm, vmf.address, entry | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_RW)
    mm.kernel.mmu.events[EV_PGREUSE] += 1
    return 0


def wp_page_copy(vmf, old):
    """A private copy: zeroed when the old PTE was the zero page, else copied."""
    mm, vma = vmf.mm, vmf.vma
    kernel = mm.kernel
    mmu = kernel.mmu
    mm.anon_vma_prepare(vma)
    try:
        new = kernel.alloc_user_page(G.GFP_HIGHUSER_MOVABLE)
    except OutOfMemory:
        return VM_FAULT_OOM
    new_anon_page(mmu, new, vma, vmf.address)
    if old is not None:
        mmu.page_copy(new, old)
    entry = mk_pte(new, vm_page_prot(vma) | _PAGE_DIRTY | _PAGE_RW)
    set_pte(mm, vmf.address, entry)
    if old is None:
        mm.counters[MM_ANONPAGES] += 1
    else:
        counter = mm_counter_of(mmu, old)
        if counter != MM_ANONPAGES:
            mm.counters[counter] -= 1
            mm.counters[MM_ANONPAGES] += 1
        page_remove_rmap(kernel, old)
    return 0


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
    pfn = mapping.pages[index]
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
            pfn = pages[index]
            addr = vma.vm_start + ((index - vma.vm_pgoff) << PAGE_SHIFT)
            if not tables:
                try:
                    pte_alloc(mm, addr)
                except OutOfMemory:
                    return VM_FAULT_OOM
                tables = True
            if mmu.pte_get(mm.pgd, addr) != 0:
                continue
            if addr == vmf.address:
                ret = VM_FAULT_NOPAGE
            page_add_rmap(mmu, pfn)
            set_pte(mm, addr, mk_pte(pfn, prot))
            mm.counters[mm_counter_of(mmu, pfn)] += 1
            mapped += 1
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


# -- page-table walks over ranges -------------------------------------------------------------
def zap_page_range(mm, start, end, vma=None):
    """zap_pte_range over [start, end): every mapping goes; dirty file PTEs dirty their page,
    young ones mark it accessed; frames whose last reference goes are freed (address order)."""
    kernel = mm.kernel
    mmu = kernel.mmu
    if mm.deposited:
        from .huge_memory import split_huge_pmds_in
        split_huge_pmds_in(mm, start, end)
    addrs, entries = mmu.walk(mm.pgd, start, end)
    if not len(addrs):
        return 0
    update_hiwater_rss(mm)
    counters = mm.counters
    huge = []
    for addr, entry in zip(addrs.tolist(), entries.tolist()):
        if entry & _PAGE_PSE:
            huge.append(addr)
            continue
        if not entry & (_PAGE_PRESENT | _PAGE_PROTNONE):
            continue                                   # swap entries: the swap issue
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
    for addr, entry in zip(addrs.tolist(), entries.tolist()):
        if entry & _PAGE_PSE or not entry & (_PAGE_PRESENT | _PAGE_PROTNONE) \
                or entry & _PAGE_SPECIAL:
            continue
        page_remove_rmap(kernel, pte_pfn(entry))
    if huge:
        from .huge_memory import zap_huge_pmd
        for addr in huge:
            zap_huge_pmd(mm, addr)
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


def copy_page_range(dst, src, vma):
    """copy_pte_range: the child gets the parent's PTEs; private writable ones are
    write-protected in both, anon pages lose PageAnonExclusive, every mapped page gains a
    mapping; child PTEs are old (and clean in shared VMAs)."""
    kernel = src.kernel
    mmu = kernel.mmu
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
        mmu.set_bulk(dst.pgd, np.array([a for a, _ in child], dtype=np.int64),
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
        mmu.set_bulk(mm.pgd, addrs[small] - old_addr + new_addr, entries[small], mm.counters)
    for addr, entry in zip(addrs[huge].tolist(), entries[huge].tolist()):
        mmu.pmd_set(mm.pgd, addr - old_addr + new_addr, entry, mm.counters)
        mm.deposited[addr - old_addr + new_addr] = mm.deposited.pop(addr)


def populate_range(mm, start, end, write):
    """__get_user_pages for [start, end): a fault (counted as the caller's) for every page not
    already mapped with the needed permission; errors end the walk as GUP's do."""
    addr = start
    mmu = mm.kernel.mmu
    while addr < end:
        entry = mmu.pte_get(mm.pgd, addr)
        if not (entry & _PAGE_PRESENT and (not write or entry & _PAGE_RW)):
            do_user_addr_fault(mm, addr, write, gup=True)
        addr += PAGE_SIZE


# -- the bulk loop's partner ------------------------------------------------------------------
def fault_snapshot(mm):
    """The int64 (n, SNAP_COLUMNS) table of VMAs the MMU's access loop reads."""
    tree = mm.tree
    key = (tree.version, mm.snap_epoch)
    snap = mm.snap_cache
    if snap is not None and snap[0] == key:
        return snap[1]
    vmas = list(tree)
    table = np.zeros((len(vmas), SNAP_COLUMNS), dtype=np.int64)
    for i, vma in enumerate(vmas):
        kind = 0
        if vma.vm_ops is None and not vma.vm_flags & VM_SHARED:
            from .huge_memory import thp_vma_suitable_mode
            # THP-eligible VMAs fault in Python (do_huge_pmd_anonymous_page)
            kind = 0 if thp_vma_suitable_mode(mm, vma) else SNAPK_ANON
        anon = vma.anon_vma
        table[i] = (vma.vm_start, vma.vm_end, vma.vm_flags & 0x7fffffffffffffff, _s64(vma.vm_pgoff),
                    anon.id if anon is not None else 0, kind)
    mm.snap_cache = (key, table)
    return table


def access_bulk(mm, addrs, writes):
    """Replay accesses: the MMU's loop runs until a fault it does not handle, which is
    handled here, and then resumes after it."""
    mmu = mm.kernel.mmu
    n = len(addrs)
    i = 0
    while i < n:
        snap = fault_snapshot(mm)
        i, reason = mmu.access(mm.pgd, mm.counters, snap, addrs, writes, i)
        if reason == ACCESS_DONE:
            break
        addr = int(addrs[i])
        do_user_addr_fault(mm, addr & _U64, bool(writes[i]))
        i += 1


def access_range(mm, start, npages, write):
    mmu = mm.kernel.mmu
    i = 0
    while i < npages:
        snap = fault_snapshot(mm)
        i, reason = mmu.access_range(mm.pgd, mm.counters, snap, start, npages, write, i)
        if reason == ACCESS_DONE:
            break
        do_user_addr_fault(mm, start + (i << PAGE_SHIFT), bool(write))
        i += 1


__all__ = ["user_access", "handle_mm_fault", "zap_page_range", "copy_page_range",
           "change_protection", "move_page_tables", "populate_range", "access_bulk",
           "access_range", "VmFault", "VM_FAULT_OOM", "VM_FAULT_SIGBUS", "VM_FAULT_MAJOR",
           "VM_FAULT_HWPOISON", "VM_FAULT_SIGSEGV", "VM_FAULT_NOPAGE", "VM_FAULT_LOCKED",
           "VM_FAULT_RETRY", "VM_FAULT_FALLBACK", "VM_FAULT_DONE_COW", "VM_FAULT_COMPLETED",
           "VM_FAULT_ERROR"]


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


def madvise_free(mm, start, end):
    """madvise_free_pte_range: exclusive anonymous pages become lazily freeable (clean, old,
    no longer swap-backed: the file LRU), to be dropped by reclaim unless written again."""
    mmu = mm.kernel.mmu
    if mm.deposited:
        from .huge_memory import split_huge_pmds_in
        split_huge_pmds_in(mm, start, end)
    addrs, entries = mmu.walk(mm.pgd, start, end)
    out_a, out_e = [], []
    node = mmu.node
    from .mmu_defs import NR_ACTIVE_ANON, NR_INACTIVE_FILE
    from .mmu_defs import PG_ACTIVE, PG_REFERENCED
    for addr, entry in zip(addrs.tolist(), entries.tolist()):
        if entry & _PAGE_PSE or not entry & _PAGE_PRESENT or entry & _PAGE_SPECIAL:
            continue
        pfn = pte_pfn(entry)
        flags = int(mmu.flags[pfn])
        if not flags & PG_ANON or mmu.mapcount[pfn] != 1:
            continue
        if flags & PG_SWAPBACKED and flags & PG_LRU:
            node[NR_ACTIVE_ANON if flags & PG_ACTIVE else NR_INACTIVE_ANON] -= 1
            node[NR_INACTIVE_FILE] += 1
            mmu.flags[pfn] = flags & ~(PG_SWAPBACKED | PG_ACTIVE | PG_REFERENCED | PG_DIRTY)
        out_a.append(addr)
        out_e.append(entry & ~(_PAGE_DIRTY | _PAGE_ACCESSED))
    if out_a:
        mmu.set_bulk(mm.pgd, np.array(out_a, dtype=np.int64), np.array(out_e, dtype=np.uint64),
                     mm.counters)


def mm_populate(mm, start, length):
    """__mm_populate: GUP faults over every VMA of the range (errors skip to the next VMA)."""
    end = start + length
    addr = start
    while addr < end:
        vma = mm.find_vma(addr)
        if vma is None or vma.vm_start >= end:
            break
        addr = max(addr, vma.vm_start)
        stop = min(end, vma.vm_end)
        flags = vma.vm_flags
        if not flags & (VM_IO | VM_PFNMAP) and flags & (VM_READ | VM_WRITE | VM_EXEC):
            write = (flags & (VM_WRITE | VM_SHARED)) == VM_WRITE
            try:
                populate_range(mm, addr, stop, write)
            except (SegmentationFault, BusError):
                pass
        addr = stop
