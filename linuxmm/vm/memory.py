"""The fault path of mm/memory.c and arch/x86/mm/fault.c, shared by both backends.

Page tables and per-frame state live in the Kernel's MMU (linuxmm.mmu in C, or the pure-Python
linuxmm.reference.mmu); this module is the policy above them:

    user_access(mm, addr, write)        one access by the CPU: hit, or exc_page_fault
    do_user_addr_fault                  VMA lookup, stack growth, access_error, signals, retry
    handle_mm_fault                     -> do_anonymous_page / do_fault / do_wp_page

The file handlers (filemap_fault, filemap_map_pages) are in filemap_fault.py, the walks over
ranges (zap, free_pgtables, copy_page_range, change_protection, move_page_tables, populate) in
pagewalk.py.

A bulk replay (Process.access / touch_range) runs in the MMU's loop, which completes present
accesses and anonymous faults itself and returns to this module for every other fault.
"""
import numpy as np

from .. import gfp as G
from ..errors import BusError, OutOfMemory, SegmentationFault
from .constants import (MMAP_MIN_ADDR, STACK_GUARD_GAP, VM_ACCOUNT, VM_EXEC, VM_GROWSDOWN,
                        VM_LOCKED, VM_MAYSHARE, VM_MAYWRITE, VM_READ, VM_SHARED, VM_SPECIAL,
                        VM_WRITE)
from .clock import advance, charge
from .filemap import folio_frames, put_page
from .lruvec import lru_link
from .mmu_defs import (ACCESS_DONE, ACCESS_KSWAPD, EV_PGFAULT, EV_PGREUSE, LRU_INACTIVE_ANON,
                       MM_ANONPAGES, MM_FILEPAGES, MM_MAJ_FLT, MM_MIN_FLT, MM_SHMEMPAGES,
                       NR_ANON_MAPPED, NR_FILE_MAPPED, NR_INACTIVE_ANON, _PAGE_ACCESSED,
                       _PAGE_DIRTY, _PAGE_NX, _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_PSE, _PAGE_RW,
                       PAGE_SHIFT, PAGE_SIZE, _PAGE_SPECIAL, _PAGE_USER, PG_ANON,
                       PG_ANON_EXCLUSIVE, PG_FILE, PG_LRU, PG_ORDER_MASK, PG_SHMEM, PG_SWAPBACKED,
                       PG_UPTODATE, PMD_SIZE, pte_pfn, PTRS_PER_TABLE, SNAPK_ANON, SNAP_COLUMNS,
                       SWS_PAGE_CLUSTER, SWS_PSWPIN)
from .writeback import balance_dirty_pages

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
    """folio_add_new_anon_rmap + folio_add_lru_vma for a fresh anonymous frame: the inactive
    anon list, or in a VM_LOCKED VMA mlock_new_folio (vm/mlock.py)."""
    mmu.page_clear(pfn)
    locked = (vma.vm_flags & (VM_LOCKED | VM_SPECIAL)) == VM_LOCKED
    mmu.flags[pfn] = PG_ANON | PG_ANON_EXCLUSIVE | PG_SWAPBACKED | PG_UPTODATE | (
        0 if locked else PG_LRU)
    mmu.refcount[pfn] = 1
    mmu.mapcount[pfn] = 1
    mmu.mapping[pfn] = vma.anon_vma.id
    mmu.index[pfn] = linear_page_index(vma, addr)
    mmu.node[NR_ANON_MAPPED] += 1
    if locked:
        from .mlock import mlock_new_folio
        mlock_new_folio(vma.vm_mm.kernel, pfn)
    else:
        mmu.node[NR_INACTIVE_ANON] += 1
        lru_link(mmu, pfn, LRU_INACTIVE_ANON)


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
        with_tables(mm.kernel, mmu.pte_set, mm.pgd, addr, 0, mm.counters)


def with_tables(kernel, fn, *args):
    """An MMU call that may allocate page-table pages (which the engine takes from the
    allocator without reclaim): when the allocator refuses, the allocation's slow path runs
    (kswapd, direct reclaim, the OOM killer) for one GFP_PGTABLE_USER page, which goes back
    to the per-CPU list the engine takes it from; then the call runs again."""
    for _ in range(4):
        try:
            return fn(*args)
        except OutOfMemory:
            pfn = kernel.alloc_user_page(G.GFP_PGTABLE_USER)
            kernel.free_pages(pfn, 0)
    return fn(*args)


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
            mmu.pte_update(mm.pgd, addr, new, mm.counters)


def access_error(write, vma):
    flags = vma.vm_flags
    if write:
        return not flags & VM_WRITE
    return not flags & (VM_READ | VM_WRITE | VM_EXEC)


def do_user_addr_fault(mm, addr, write, gup=False, retry_tried=True):
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
        # the user fault (and __get_user_pages_locked) retries with FAULT_FLAG_TRIED, so it
        # counts as major; __mm_populate's populate_vma_page_range returns instead and faults
        # the page again afresh (retry_tried False)
        if retry_tried:
            flags |= FAULT_FLAG_TRIED
    kind = mm_account_fault(mm, flags, ret)
    if ret & VM_FAULT_ERROR:
        if ret & VM_FAULT_OOM:
            # pagefault_out_of_memory (linuxmm/vm/oom_kill.py): the OOM victim dies (Killed),
            # nothing left to kill gives OutOfMemory, else the access faults again
            from .oom_kill import pagefault_out_of_memory
            pagefault_out_of_memory(mm, addr)
            return do_user_addr_fault(mm, addr, write, gup, retry_tried)
        if ret & VM_FAULT_SIGSEGV:
            raise SegmentationFault(addr, "SEGV_MAPERR")
        raise BusError(addr)
    kernel = mm.kernel
    entry = kernel.mmu.pte_get_unchecked(mm.pgd, addr)
    if entry & _PAGE_PRESENT:
        touch_entry(mm, addr, entry, write)
    # the time the fault took (linuxmm/vm/clock.py), then a writer's dirty throttling
    charge(kernel, kind)
    wb = kernel.wb
    if wb.balance_mapping is not None:
        mapping, wb.balance_mapping = wb.balance_mapping, None
        balance_dirty_pages(kernel, mapping)
    return ret


def mm_account_fault(mm, flags, ret):
    """pgfault for every completed fault; min_flt or maj_flt unless it failed.  Returns the
    kind of fault the clock charges ("minor_fault", "major_fault" or None)."""
    mmu = mm.kernel.mmu
    mmu.events[EV_PGFAULT] += 1
    if ret & VM_FAULT_ERROR:
        return None
    if ret & VM_FAULT_MAJOR or flags & FAULT_FLAG_TRIED:
        mm.counters[MM_MAJ_FLT] += 1
        return "major_fault"
    mm.counters[MM_MIN_FLT] += 1
    return "minor_fault"


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
    pmd = mmu.pmd_get_unchecked(mm.pgd, addr)
    if pmd == 0:                     # __handle_mm_fault: pud_alloc, pmd_alloc come first (they
        try:                         # stay even when the fault then fails with SIGBUS)
            with_tables(mm.kernel, mmu.pmd_alloc, mm.pgd, addr, mm.counters)
        except OutOfMemory:
            return VM_FAULT_OOM
    entry = mmu.pte_get_unchecked(mm.pgd, addr)      # (addr lies in vma: a user address)
    if entry & _PAGE_PSE:
        from .huge_memory import huge_pmd_fault
        return huge_pmd_fault(mm, vma, addr, flags, entry)
    if entry == 0 and vma.vm_ops is None and pmd == 0:
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
        from .swap import do_swap_page
        return do_swap_page(vmf, entry)
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


def _anon_prepare_alloc(vmf):
    """vmf_anon_prepare + the new anonymous page's allocation: its pfn, or None (OOM)."""
    vmf.mm.anon_vma_prepare(vmf.vma)
    try:
        return vmf.kernel.alloc_user_page(G.GFP_HIGHUSER_MOVABLE)
    except OutOfMemory:
        return None


def do_cow_fault(vmf):
    mm, vma = vmf.mm, vmf.vma
    kernel = mm.kernel
    cow = _anon_prepare_alloc(vmf)
    if cow is None:
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
    # balance_dirty_pages_ratelimited runs once the access completed (do_user_addr_fault)
    vmf.kernel.wb.balance_mapping = mapping


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
    if vma.vm_flags & VM_LOCKED:
        from .mlock import mlock_vma_folio
        mlock_vma_folio(mm.kernel, pfn, vma)
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
            mapping = vma.vm_file.f_inode.i_mapping
            mapping.set_dirty(pfn)
            kernel.wb.balance_mapping = mapping         # fault_dirty_shared_page
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
    new = _anon_prepare_alloc(vmf)
    if new is None:
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
        if vma.vm_flags & VM_LOCKED:
            from .mlock import munlock_vma_folio
            munlock_vma_folio(kernel, old, vma)
        page_remove_rmap(kernel, old)
    return 0


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
        # (VM_LOCKED VMAs fault in Python: their new pages are mlocked)
        if vma.vm_ops is None and not vma.vm_flags & (VM_SHARED | VM_LOCKED):
            from .huge_memory import thp_vma_suitable_mode
            # THP-eligible VMAs fault in Python (do_huge_pmd_anonymous_page)
            kind = 0 if thp_vma_suitable_mode(mm, vma) else SNAPK_ANON
        anon = vma.anon_vma
        table[i] = (vma.vm_start, vma.vm_end, vma.vm_flags & 0x7fffffffffffffff, _s64(vma.vm_pgoff),
                    anon.id if anon is not None else 0, kind)
    mm.snap_cache = (key, table)
    return table


def wakeup_kswapd(kernel):
    from .vmscan import wakeup_kswapd as wake
    wake(kernel)


def _loop_start(kernel, counters):
    """Before a call of the engine's access loop: vm.page-cluster for its swap-ins, and the
    counters its time is charged from (minor faults, major faults, pages read from swap)."""
    st = kernel.mmu.swap_stat
    st[SWS_PAGE_CLUSTER] = kernel.page_cluster
    return int(counters[MM_MIN_FLT]), int(counters[MM_MAJ_FLT]), int(st[SWS_PSWPIN])


def _loop_charge(kernel, counters, before):
    """The time of the faults the engine's loop completed (linuxmm/vm/clock.py), charged at
    once: minor_fault each, major_fault + page_read per swap-in (do_swap_page's costs)."""
    costs = kernel.costs
    ns = (costs["minor_fault"] * (int(counters[MM_MIN_FLT]) - before[0])
          + costs["major_fault"] * (int(counters[MM_MAJ_FLT]) - before[1])
          + costs["page_read"] * (int(kernel.mmu.swap_stat[SWS_PSWPIN]) - before[2]))
    if ns:
        advance(kernel, ns)


def access_bulk(mm, addrs, writes):
    """Replay accesses: the MMU's loop runs until a fault it does not handle, which is
    handled here, and then resumes after it."""
    kernel = mm.kernel
    mmu = kernel.mmu
    counters = mm.counters
    n = len(addrs)
    i = 0
    while i < n:
        snap = fault_snapshot(mm)
        before = _loop_start(kernel, counters)
        i, reason = mmu.access(mm.pgd, counters, snap, addrs, writes, i)
        _loop_charge(kernel, counters, before)
        if reason == ACCESS_DONE:
            break
        if reason == ACCESS_KSWAPD:                 # the access at i - 1 woke kswapd
            wakeup_kswapd(mm.kernel)
            continue
        addr = int(addrs[i])
        do_user_addr_fault(mm, addr & _U64, bool(writes[i]))
        i += 1


def access_range(mm, start, npages, write):
    kernel = mm.kernel
    mmu = kernel.mmu
    counters = mm.counters
    i = 0
    while i < npages:
        snap = fault_snapshot(mm)
        before = _loop_start(kernel, counters)
        i, reason = mmu.access_range(mm.pgd, counters, snap, start, npages, write, i)
        _loop_charge(kernel, counters, before)
        if reason == ACCESS_DONE:
            break
        if reason == ACCESS_KSWAPD:
            wakeup_kswapd(mm.kernel)
            continue
        do_user_addr_fault(mm, start + (i << PAGE_SHIFT), bool(write))
        i += 1


__all__ = ["user_access", "handle_mm_fault", "access_bulk",
           "access_range", "VmFault", "VM_FAULT_OOM", "VM_FAULT_SIGBUS", "VM_FAULT_MAJOR",
           "VM_FAULT_HWPOISON", "VM_FAULT_SIGSEGV", "VM_FAULT_NOPAGE", "VM_FAULT_LOCKED",
           "VM_FAULT_RETRY", "VM_FAULT_FALLBACK", "VM_FAULT_DONE_COW", "VM_FAULT_COMPLETED",
           "VM_FAULT_ERROR"]
