"""mlock and the unevictable LRU (mm/mlock.c, 6.x; mm/gup.c populate_vma_page_range and
__mm_populate; mm/swap.c folio_add_lru_vma).

System calls (Process.mlock, mlock2, munlock, mlockall, munlockall):

    do_mlock -> apply_vma_lock_flags -> mlock_fixup -> vma_modify_flags + mlock_vma_pages_range
             -> __mm_populate (GUP faults; VM_LOCKONFAULT ranges are skipped)

Pages (folios).  PG_mlocked says "some VM_LOCKED VMA maps me"; PG_unevictable says "on the
unevictable LRU".  Every state change goes through cpu 0's mlock_fbatch (31 folios, each holding
a reference), as in 6.x:

    mlock_folio      PG_mlocked at once (nr_mlock, unevictable_pgs_mlocked), the LRU move later
    mlock_new_folio  a new page faulted into a VM_LOCKED VMA (folio_add_lru_vma): not on any LRU
                     until the batch is processed
    munlock_folio    everything later: folio->mlock_count drops, the last one clears PG_mlocked

The batch is processed when it fills up, at once for a large folio, and by every lru_add_drain()
(mlock_drain_local): before and after mlock's page walk, at the end of each
populate_vma_page_range, and after a zap frees pages (free_pages_and_swap_cache).  So
/proc/meminfo Mlocked counts a page faulted into an MLOCK_ONFAULT range at once, Unevictable
only when the batch drains -- as on a real machine.

Every LRU move of this module goes through _lru_move_unevictable / _lru_move_evictable.
"""
import errno

from ..errors import BusError, OutOfMemory, SegmentationFault
from .constants import (MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT, MLOCK_ONFAULT, PAGE_MASK,
                        PAGE_SHIFT, PAGE_SIZE, VM_EXEC, VM_HUGETLB, VM_IO, VM_LOCKED,
                        VM_LOCKED_MASK, VM_LOCKONFAULT, VM_PFNMAP, VM_READ, VM_SHARED,
                        VM_SPECIAL, VM_WRITE)
from .mm import oserror
from .lruvec import lruvec_add_folio, lruvec_del_folio
from .mmu_defs import (_PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_PSE, _PAGE_SPECIAL, NR_UNEVICTABLE,
                       PG_ACTIVE, PG_ANON, PG_FILE, PG_HEAD, PG_LRU, PG_MLOCKED, PG_ORDER_MASK,
                       PG_UNEVICTABLE, pg_order, pte_pfn)

U64 = (1 << 64) - 1
RLIM_INFINITY = U64
MLOCK_FBATCH_SIZE = 31            # PAGEVEC_SIZE: folio_batch_add() full -> mlock_folio_batch

# the entries of the mlock_fbatch (mm/mlock.c: LRU_FOLIO, NEW_FOLIO; 0 = munlock)
MUNLOCK = 0
LRU_FOLIO = 1
NEW_FOLIO = 2

STAT_NAMES = ("nr_mlock", "unevictable_pgs_culled", "unevictable_pgs_scanned",
              "unevictable_pgs_rescued", "unevictable_pgs_mlocked",
              "unevictable_pgs_munlocked", "unevictable_pgs_cleared",
              "unevictable_pgs_stranded")


def mlock_init(kernel):
    """The kernel's mlock state: cpu 0's mlock_fbatch, folio->mlock_count of the folios on the
    unevictable list (by head pfn), and the counters (nr_mlock is a zone counter in Linux,
    NR_MLOCK; the unevictable_pgs_* are vm events), reported to /proc/vmstat and meminfo."""
    kernel.mlock_fbatch = []
    kernel.mlock_count = {}
    kernel.mlock_stats = dict.fromkeys(STAT_NAMES, 0)
    kernel.register_stats(lambda: dict(kernel.mlock_stats))


# -- folios ------------------------------------------------------------------------------------
def _folio(mmu, pfn):
    """(head, frames carrying the folio's flags, nr pages): an anonymous THP keeps its flags on
    the head, a large page-cache folio on every frame."""
    flags = int(mmu.flags[pfn])
    if flags & PG_FILE and flags & PG_ORDER_MASK:
        nr = 1 << pg_order(flags)
        head = pfn & ~(nr - 1)
        return head, range(head, head + nr), nr
    nr = 512 if flags & PG_ANON and flags & PG_HEAD else 1
    return pfn, (pfn,), nr


def _update(mmu, frames, set_bits=0, clear_bits=0):
    for p in frames:
        mmu.flags[p] = (int(mmu.flags[p]) | set_bits) & ~clear_bits


def folio_is_large(mmu, pfn):
    flags = int(mmu.flags[pfn])
    return bool(flags & PG_ORDER_MASK) if flags & PG_FILE else bool(flags & PG_HEAD)


# -- the two LRU moves (the lead's lruvec lists replace these bodies) --------------------------
def _lru_move_unevictable(kernel, pfn):
    """lruvec_del_folio (if on a list) + folio_clear_active + folio_set_unevictable +
    lruvec_add_folio: the folio is on the unevictable list."""
    mmu = kernel.mmu
    head, frames, _ = _folio(mmu, pfn)
    lruvec_del_folio(mmu, head)
    _update(mmu, frames, PG_UNEVICTABLE, PG_ACTIVE)
    lruvec_add_folio(mmu, head)


def _lru_move_evictable(kernel, pfn):
    """lruvec_del_folio (if on a list) + folio_clear_unevictable + lruvec_add_folio: the folio is
    on the (in)active anon or file list its flags select."""
    mmu = kernel.mmu
    head, frames, _ = _folio(mmu, pfn)
    lruvec_del_folio(mmu, head)
    _update(mmu, frames, 0, PG_UNEVICTABLE)
    lruvec_add_folio(mmu, head)


# -- the mlock_fbatch --------------------------------------------------------------------------
def _batch_add(kernel, head, op, large):
    kernel.mmu.refcount[head] += 1                  # folio_get: the batch's reference
    batch = kernel.mlock_fbatch
    batch.append((head, op))
    if len(batch) >= MLOCK_FBATCH_SIZE or large:
        mlock_folio_batch(kernel)


def mlock_folio(kernel, pfn):
    """mlock_folio: a mapped folio (on an LRU) becomes mlocked."""
    mmu = kernel.mmu
    head, frames, nr = _folio(mmu, pfn)
    if not int(mmu.flags[head]) & PG_MLOCKED:       # folio_test_set_mlocked
        _update(mmu, frames, PG_MLOCKED)
        stats = kernel.mlock_stats
        stats["nr_mlock"] += nr
        stats["unevictable_pgs_mlocked"] += nr
    _batch_add(kernel, head, LRU_FOLIO, nr > 1)


def mlock_new_folio(kernel, pfn):
    """mlock_new_folio: a new folio of a VM_LOCKED VMA, not yet on any LRU."""
    mmu = kernel.mmu
    head, frames, nr = _folio(mmu, pfn)
    _update(mmu, frames, PG_MLOCKED)
    stats = kernel.mlock_stats
    stats["nr_mlock"] += nr
    stats["unevictable_pgs_mlocked"] += nr
    _batch_add(kernel, head, NEW_FOLIO, nr > 1)


def munlock_folio(kernel, pfn):
    """munlock_folio: PG_mlocked is left to __munlock_folio (it may be mlocked elsewhere)."""
    head, _, nr = _folio(kernel.mmu, pfn)
    _batch_add(kernel, head, MUNLOCK, nr > 1)


def mlock_vma_folio(kernel, pfn, vma):
    """mlock_vma_folio: mapping a folio into a VM_LOCKED (not VM_SPECIAL) VMA mlocks it;
    folio_add_{anon,file}_rmap only does it for small folios (large ones are left to reclaim)."""
    if (vma.vm_flags & (VM_LOCKED | VM_SPECIAL)) == VM_LOCKED and not folio_is_large(
            kernel.mmu, pfn):
        mlock_folio(kernel, pfn)


def munlock_vma_folio(kernel, pfn, vma):
    """munlock_vma_folio: unmapping from a VM_LOCKED VMA munlocks (any size)."""
    if vma is not None and vma.vm_flags & VM_LOCKED:
        munlock_folio(kernel, pfn)


def folio_add_lru_vma(kernel, pfn, vma):
    """folio_add_lru_vma for a new anonymous folio the caller has put on the inactive anon
    list: in a VM_LOCKED VMA it comes off again and goes to mlock_new_folio instead.
    Returns True when it did."""
    if (vma.vm_flags & (VM_LOCKED | VM_SPECIAL)) != VM_LOCKED:
        return False
    mmu = kernel.mmu
    head, _, _ = _folio(mmu, pfn)
    lruvec_del_folio(mmu, head)
    mlock_new_folio(kernel, pfn)
    return True


def _mlock_lru(kernel, head):
    """__mlock_folio"""
    mmu = kernel.mmu
    flags = int(mmu.flags[head])
    if not flags & PG_LRU:
        return                                      # nothing more we can do while off LRU
    _, _, nr = _folio(mmu, head)
    stats = kernel.mlock_stats
    if not flags & PG_MLOCKED:                      # folio_evictable: munlocked meanwhile
        if flags & PG_UNEVICTABLE:
            _lru_move_evictable(kernel, head)
            kernel.mlock_count.pop(head, None)
            stats["unevictable_pgs_rescued"] += nr
        return
    if flags & PG_UNEVICTABLE:
        kernel.mlock_count[head] = kernel.mlock_count.get(head, 0) + 1
        return
    _lru_move_unevictable(kernel, head)
    kernel.mlock_count[head] = 1
    stats["unevictable_pgs_culled"] += nr


def _mlock_new(kernel, head):
    """__mlock_new_folio"""
    mmu = kernel.mmu
    _, _, nr = _folio(mmu, head)
    if not int(mmu.flags[head]) & PG_MLOCKED:       # evictable after all
        _lru_move_evictable(kernel, head)
        return
    _lru_move_unevictable(kernel, head)
    kernel.mlock_count[head] = 1
    kernel.mlock_stats["unevictable_pgs_culled"] += nr


def _munlock(kernel, head):
    """__munlock_folio"""
    mmu = kernel.mmu
    head, frames, nr = _folio(mmu, head)
    flags = int(mmu.flags[head])
    isolated = bool(flags & PG_LRU)
    stats = kernel.mlock_stats
    if isolated and flags & PG_UNEVICTABLE:
        count = kernel.mlock_count.get(head, 0)
        if count:
            count -= 1
        kernel.mlock_count[head] = count
        if count:
            return
    if flags & PG_MLOCKED:                          # folio_test_clear_mlocked
        _update(mmu, frames, 0, PG_MLOCKED)
        stats["nr_mlock"] -= nr
        if isolated or not flags & PG_UNEVICTABLE:
            stats["unevictable_pgs_munlocked"] += nr
        else:
            stats["unevictable_pgs_stranded"] += nr
    flags = int(mmu.flags[head])
    if isolated and flags & PG_UNEVICTABLE and not flags & PG_MLOCKED:
        _lru_move_evictable(kernel, head)
        kernel.mlock_count.pop(head, None)
        stats["unevictable_pgs_rescued"] += nr


def mlock_folio_batch(kernel):
    """Process the batch in order, then drop its references (folios_put: the last one frees a
    folio unmapped meanwhile)."""
    batch = kernel.mlock_fbatch
    if not batch:
        return
    entries = list(batch)
    batch.clear()
    for head, op in entries:
        if op == LRU_FOLIO:
            _mlock_lru(kernel, head)
        elif op == NEW_FOLIO:
            _mlock_new(kernel, head)
        else:
            _munlock(kernel, head)
    from .filemap import put_page
    for head, _ in entries:
        put_page(kernel, head)


def mlock_drain_local(kernel):
    mlock_folio_batch(kernel)


def folio_free_mlocked(kernel, pfn, flags, nr=1):
    """__page_cache_release / free of a frame still PG_mlocked: unevictable_pgs_cleared."""
    kernel.mlock_count.pop(pfn, None)
    if flags & PG_MLOCKED:
        kernel.mlock_stats["nr_mlock"] -= nr
        kernel.mlock_stats["unevictable_pgs_cleared"] += nr


# -- the page walk of mlock_vma_pages_range ------------------------------------------------
def mlock_pte_range(mm, vma, start, end):
    """mlock_pte_range over [start, end): every present normal folio is mlocked (VM_LOCKED) or
    munlocked; a large folio is mlocked only when the range maps all of it (allow_mlock_munlock)."""
    kernel = mm.kernel
    mmu = kernel.mmu
    addrs, entries = mmu.walk(mm.pgd, start, end)
    addrs, entries = addrs.tolist(), entries.tolist()
    lock = bool(vma.vm_flags & VM_LOCKED)
    i, n = 0, len(addrs)
    while i < n:
        addr, entry = addrs[i], entries[i]
        if not entry & (_PAGE_PRESENT | _PAGE_PROTNONE) or entry & _PAGE_SPECIAL:
            i += 1
            continue
        pfn = pte_pfn(entry)
        if entry & _PAGE_PSE:                         # a PMD-mapped THP
            (mlock_folio if lock else munlock_folio)(kernel, pfn)
            i += 1
            continue
        if not int(mmu.flags[pfn]) & (PG_ANON | PG_FILE):
            i += 1
            continue
        head, _, nr = _folio(mmu, pfn)
        step = 1
        if nr > 1:                                    # folio_mlock_step
            while i + step < n and pfn + step < head + nr \
                    and addrs[i + step] == addr + (step << PAGE_SHIFT) \
                    and pte_pfn(entries[i + step]) == pfn + step \
                    and entries[i + step] & (_PAGE_PRESENT | _PAGE_PROTNONE):
                step += 1
        if not lock or nr == 1 or (pfn == head and step == nr):
            (mlock_folio if lock else munlock_folio)(kernel, pfn)
        i += step


def mlock_vma_pages_range(mm, vma, start, end, newflags):
    from .lru import lru_add_drain
    vma.vm_flags = newflags
    mm.tree.touch()
    if mm.pgd is None:
        return
    lru_add_drain(mm.kernel)
    mlock_pte_range(mm, vma, start, end)
    lru_add_drain(mm.kernel)


# -- VMAs ------------------------------------------------------------------------------------
def mlock_fixup(mm, vma, prev, start, end, newflags):
    """Apply newflags (VM_LOCKED / VM_LOCKONFAULT) to [start, end) of vma, merging or splitting;
    returns the VMA now covering the range (the new prev).  VM_SPECIAL and hugetlb VMAs are
    left alone (never VM_LOCKED, not counted)."""
    oldflags = vma.vm_flags
    if newflags == oldflags or oldflags & (VM_SPECIAL | VM_HUGETLB):
        return vma
    vma = mm.modify_flags(prev, vma, start, end, newflags)
    nr_pages = (end - start) >> PAGE_SHIFT
    if not newflags & VM_LOCKED:
        nr_pages = -nr_pages
    elif oldflags & VM_LOCKED:
        nr_pages = 0
    mm.locked_vm += nr_pages
    if newflags & VM_LOCKED and oldflags & VM_LOCKED:
        vma.vm_flags = newflags                     # no work, and mlocking twice would be wrong
        mm.tree.touch()
    else:
        mlock_vma_pages_range(mm, vma, start, end, newflags)
    return vma


def apply_vma_lock_flags(mm, start, length, flags):
    end = start + length
    if end > U64:
        raise oserror(errno.EINVAL)
    if end == start:
        return
    tree = mm.tree
    vma = tree.lookup(start)
    if vma is None:
        raise oserror(errno.ENOMEM)
    prev = vma if start > vma.vm_start else tree.prev(vma)
    nstart = start
    tmp = vma.vm_start
    while vma is not None and vma.vm_start < end:
        if vma.vm_start != tmp:
            raise oserror(errno.ENOMEM)
        newflags = (vma.vm_flags & ~VM_LOCKED_MASK) | flags
        tmp = min(vma.vm_end, end)
        vma = mlock_fixup(mm, vma, prev, nstart, tmp, newflags)
        prev = vma
        tmp = vma.vm_end
        nstart = tmp
        vma = tree.next(vma)
    if tmp < end:
        raise oserror(errno.ENOMEM)


def count_mm_mlocked_page_nr(mm, start, length):
    end = U64 if U64 - length < start else start + length
    count = 0
    for vma in mm.tree.iter_range(start, end):
        if vma.vm_flags & VM_LOCKED:
            if start > vma.vm_start:
                count -= start - vma.vm_start
            if end < vma.vm_end:
                count += end - vma.vm_start
                break
            count += vma.vm_end - vma.vm_start
    return count >> PAGE_SHIFT


# -- limits (can_do_mlock, mlock_future_ok) ----------------------------------------------------
def _limits(mm):
    """(RLIMIT_MEMLOCK in bytes, CAP_IPC_LOCK) of the task owning mm (none: root, no limit)."""
    task = getattr(mm, "owner", None)
    if task is None:
        return RLIM_INFINITY, True
    return task.rlimit_memlock, task.capable_ipc_lock


def can_do_mlock(mm):
    limit, capable = _limits(mm)
    return limit != 0 or capable


def mlock_future_ok(mm, flags, nbytes):
    """mlock_future_ok: may flags (VM_LOCKED) add nbytes of locked memory?"""
    limit, capable = _limits(mm)
    if not flags & VM_LOCKED or capable:
        return True
    return (nbytes >> PAGE_SHIFT) + mm.locked_vm <= limit >> PAGE_SHIFT


# -- populate (mm/gup.c) -----------------------------------------------------------------------
def populate_vma_page_range(mm, vma, start, end):
    """Pages populated, or -errno: VM_LOCKONFAULT ranges are skipped, PROT_NONE ones are
    EFAULT; writable private mappings fault for write (break COW), others read (FOLL_FORCE)."""
    from .lru import lru_add_drain
    from .pagewalk import populate_range
    nr_pages = (end - start) >> PAGE_SHIFT
    flags = vma.vm_flags
    if flags & VM_LOCKONFAULT:
        return nr_pages
    if not flags & (VM_READ | VM_WRITE | VM_EXEC):
        return -errno.EFAULT
    ret = nr_pages
    if mm.pgd is None:                              # no page tables (a Kernel-less mm)
        if (flags & (VM_WRITE | VM_SHARED)) == VM_WRITE:
            mm.anon_vma_prepare(vma)
        return ret
    try:
        populate_range(mm, start, end, (flags & (VM_WRITE | VM_SHARED)) == VM_WRITE,
                       retry_tried=False)
    except (SegmentationFault, BusError):
        ret = -errno.EFAULT
    except OutOfMemory:
        ret = -errno.ENOMEM
    lru_add_drain(mm.kernel)
    return ret


def mm_populate(mm, start, length, ignore_errors=True):
    """__mm_populate: populate_vma_page_range over every VMA of [start, start + length) except
    VM_IO / VM_PFNMAP ones; the first error ends it unless ignore_errors.  0 or an errno."""
    end = min(start + length, U64)
    nstart = start
    tree = mm.tree
    while nstart < end:
        vma = tree.intersection(nstart, end)
        if vma is None:
            break
        nend = min(end, vma.vm_end)
        if not vma.vm_flags & (VM_IO | VM_PFNMAP):
            nstart = max(nstart, vma.vm_start)
            ret = populate_vma_page_range(mm, vma, nstart, nend)
            if ret < 0 and not ignore_errors:
                return -ret
        nstart = nend
    return 0


# -- the system calls --------------------------------------------------------------------------
def do_mlock(mm, start, length, flags):
    start &= U64
    length &= U64
    if not can_do_mlock(mm):
        raise oserror(errno.EPERM)
    length = (length + (start & ~PAGE_MASK) + PAGE_SIZE - 1) & PAGE_MASK & U64
    start &= PAGE_MASK
    limit, capable = _limits(mm)
    lock_limit = limit >> PAGE_SHIFT
    locked = (length >> PAGE_SHIFT) + mm.locked_vm
    if locked > lock_limit and not capable:
        locked -= count_mm_mlocked_page_nr(mm, start, length)
    if locked > lock_limit and not capable:
        raise oserror(errno.ENOMEM)
    apply_vma_lock_flags(mm, start, length, flags)
    error = mm_populate(mm, start, length, ignore_errors=False)
    if error:                                       # __mlock_posix_error_return
        raise oserror({errno.EFAULT: errno.ENOMEM, errno.ENOMEM: errno.EAGAIN}.get(error, error))
    return 0


def sys_mlock(mm, start, length):
    return do_mlock(mm, start, length, VM_LOCKED)


def sys_mlock2(mm, start, length, flags):
    if flags & ~MLOCK_ONFAULT:
        raise oserror(errno.EINVAL)
    vm_flags = VM_LOCKED | (VM_LOCKONFAULT if flags & MLOCK_ONFAULT else 0)
    return do_mlock(mm, start, length, vm_flags)


def sys_munlock(mm, start, length):
    start &= U64
    length = (length + (start & ~PAGE_MASK) + PAGE_SIZE - 1) & PAGE_MASK & U64
    apply_vma_lock_flags(mm, start & PAGE_MASK, length, 0)
    return 0


def apply_mlockall_flags(mm, flags):
    mm.def_flags &= ~VM_LOCKED_MASK
    if flags & MCL_FUTURE:
        mm.def_flags |= VM_LOCKED
        if flags & MCL_ONFAULT:
            mm.def_flags |= VM_LOCKONFAULT
        if not flags & MCL_CURRENT:
            return
    to_add = 0
    if flags & MCL_CURRENT:
        to_add = VM_LOCKED | (VM_LOCKONFAULT if flags & MCL_ONFAULT else 0)
    tree = mm.tree
    prev = None
    vma = tree.first()
    while vma is not None:
        newflags = (vma.vm_flags & ~VM_LOCKED_MASK) | to_add
        try:
            vma = mlock_fixup(mm, vma, prev, vma.vm_start, vma.vm_end, newflags)
        except OSError:                             # ignored; prev becomes this VMA
            pass
        prev = vma
        vma = tree.next(vma)


def sys_mlockall(mm, flags):
    if not flags or flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) or flags == MCL_ONFAULT:
        raise oserror(errno.EINVAL)
    if not can_do_mlock(mm):
        raise oserror(errno.EPERM)
    limit, capable = _limits(mm)
    if flags & MCL_CURRENT and mm.total_vm > limit >> PAGE_SHIFT and not capable:
        raise oserror(errno.ENOMEM)
    apply_mlockall_flags(mm, flags)
    if flags & MCL_CURRENT:
        mm_populate(mm, 0, mm.task_size)
    return 0


def sys_munlockall(mm):
    apply_mlockall_flags(mm, 0)
    return 0


__all__ = ["sys_mlock", "sys_mlock2", "sys_munlock", "sys_mlockall", "sys_munlockall",
           "mlock_folio", "mlock_new_folio", "munlock_folio", "mlock_drain_local",
           "mm_populate", "mlock_future_ok", "can_do_mlock", "RLIM_INFINITY"]
