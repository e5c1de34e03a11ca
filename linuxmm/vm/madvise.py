"""madvise (mm/madvise.c: do_madvise, madvise_walk_vmas, madvise_vma_behavior).

Advice that changes vm_flags splits/merges VMAs exactly like mprotect; advice about pages
(DONTNEED, FREE, COLD, PAGEOUT, WILLNEED, ...) is validated per VMA and handed to the page-level
hooks (mm.advise_hooks), which the page-table issue fills in.
"""
import errno

from .constants import (MADV_COLD, MADV_COLLAPSE, MADV_DODUMP, MADV_DOFORK, MADV_DONTDUMP,
                        MADV_DONTFORK, MADV_DONTNEED, MADV_DONTNEED_LOCKED, MADV_FREE,
                        MADV_GUARD_INSTALL, MADV_GUARD_REMOVE, MADV_HUGEPAGE, MADV_HWPOISON,
                        MADV_KEEPONFORK, MADV_MERGEABLE, MADV_NOHUGEPAGE, MADV_NORMAL,
                        MADV_PAGEOUT, MADV_POPULATE_READ, MADV_POPULATE_WRITE, MADV_RANDOM,
                        MADV_REMOVE, MADV_SEQUENTIAL, MADV_SOFT_OFFLINE, MADV_UNMERGEABLE,
                        MADV_WILLNEED, MADV_WIPEONFORK, PAGE_MASK, PAGE_SIZE, VM_DONTCOPY,
                        VM_DONTDUMP, VM_HUGEPAGE, VM_HUGETLB, VM_IO, VM_LOCKED, VM_MAYSHARE,
                        VM_MERGEABLE, VM_NOHUGEPAGE, VM_PFNMAP, VM_RAND_READ, VM_READ, VM_SEQ_READ,
                        VM_SHARED, VM_SPECIAL, VM_WIPEONFORK, VM_WRITE)
from ..errors import BusError, SegmentationFault
from .mm import oserror

U64 = (1 << 64) - 1

VALID = {MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED, MADV_FREE,
         MADV_REMOVE, MADV_DONTFORK, MADV_DOFORK, MADV_MERGEABLE, MADV_UNMERGEABLE, MADV_HUGEPAGE,
         MADV_NOHUGEPAGE, MADV_DONTDUMP, MADV_DODUMP, MADV_WIPEONFORK, MADV_KEEPONFORK, MADV_COLD,
         MADV_PAGEOUT, MADV_POPULATE_READ, MADV_POPULATE_WRITE, MADV_DONTNEED_LOCKED,
         MADV_COLLAPSE, MADV_HWPOISON, MADV_SOFT_OFFLINE, MADV_GUARD_INSTALL, MADV_GUARD_REMOVE}
FLAG_ADVICE = {MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_DONTFORK, MADV_DOFORK,
               MADV_MERGEABLE, MADV_UNMERGEABLE, MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_DONTDUMP,
               MADV_DODUMP, MADV_WIPEONFORK, MADV_KEEPONFORK}


def sys_madvise(mm, start, len_in, advice):
    start &= U64
    len_in &= U64
    if advice not in VALID or start & ~PAGE_MASK:
        raise oserror(errno.EINVAL)
    length = (len_in + PAGE_SIZE - 1) & PAGE_MASK & U64
    if len_in and not length:
        raise oserror(errno.EINVAL)
    end = start + length
    if end > U64:
        raise oserror(errno.EINVAL)
    if end == start:
        return 0
    if advice in (MADV_HWPOISON, MADV_SOFT_OFFLINE):
        raise oserror(errno.EPERM)
    if advice in (MADV_POPULATE_READ, MADV_POPULATE_WRITE):
        return _populate(mm, start, end, advice == MADV_POPULATE_WRITE)
    tree = mm.tree
    unmapped_error = 0
    vma = tree.find(start)
    prev = vma if vma is not None and start > vma.vm_start else (
        tree.prev(vma) if vma is not None else tree.last())
    while True:
        if vma is None:
            raise oserror(errno.ENOMEM)
        if start < vma.vm_start:
            unmapped_error = errno.ENOMEM
            start = vma.vm_start
            if start >= end:
                break
        tmp = vma.vm_end if vma.vm_end < end else end
        if advice in FLAG_ADVICE:
            vma = _update_flags(mm, prev, vma, start, tmp, advice)
        else:
            _page_advice(mm, vma, start, tmp, advice)
        prev = vma
        start = tmp
        if start < prev.vm_end:
            start = prev.vm_end
        if start >= end:
            break
        vma = tree.find(prev.vm_end)
    if unmapped_error:
        raise oserror(unmapped_error)
    return 0


def _update_flags(mm, prev, vma, start, end, advice):
    flags = vma.vm_flags
    if advice == MADV_NORMAL:
        new = flags & ~(VM_RAND_READ | VM_SEQ_READ)
    elif advice == MADV_SEQUENTIAL:
        new = (flags & ~VM_RAND_READ) | VM_SEQ_READ
    elif advice == MADV_RANDOM:
        new = (flags & ~VM_SEQ_READ) | VM_RAND_READ
    elif advice == MADV_DONTFORK:
        new = flags | VM_DONTCOPY
    elif advice == MADV_DOFORK:
        if flags & VM_IO:
            raise oserror(errno.EINVAL)
        new = flags & ~VM_DONTCOPY
    elif advice == MADV_WIPEONFORK:
        if vma.vm_file is not None or flags & VM_SHARED:
            raise oserror(errno.EINVAL)
        new = flags | VM_WIPEONFORK
    elif advice == MADV_KEEPONFORK:
        new = flags & ~VM_WIPEONFORK
    elif advice == MADV_DONTDUMP:
        new = flags | VM_DONTDUMP
    elif advice == MADV_DODUMP:
        if not flags & VM_HUGETLB and flags & VM_SPECIAL:
            raise oserror(errno.EINVAL)
        new = flags & ~VM_DONTDUMP
    elif advice == MADV_MERGEABLE:
        if flags & (VM_MERGEABLE | VM_SHARED | VM_MAYSHARE | VM_SPECIAL | VM_HUGETLB):
            new = flags
        else:
            new = flags | VM_MERGEABLE
    elif advice == MADV_UNMERGEABLE:
        new = flags & ~VM_MERGEABLE
    elif advice == MADV_HUGEPAGE:
        new = (flags & ~VM_NOHUGEPAGE) | VM_HUGEPAGE
    else:  # MADV_NOHUGEPAGE
        new = (flags & ~VM_HUGEPAGE) | VM_NOHUGEPAGE
    if new == flags:
        return vma
    vma = mm.modify_flags(prev, vma, start, end, new)
    vma.vm_flags = new
    mm.tree.touch()
    return vma


def _page_advice(mm, vma, start, end, advice):
    flags = vma.vm_flags
    if advice in (MADV_DONTNEED, MADV_FREE) and flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB):
        raise oserror(errno.EINVAL)              # madvise_dontneed_free_valid_vma
    if advice == MADV_DONTNEED_LOCKED and flags & (VM_PFNMAP | VM_HUGETLB):
        raise oserror(errno.EINVAL)
    if advice == MADV_FREE and vma.vm_ops is not None:
        raise oserror(errno.EINVAL)
    if advice in (MADV_COLD, MADV_PAGEOUT) and flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB):
        raise oserror(errno.EINVAL)              # can_madv_lru_vma
    if advice in (MADV_GUARD_INSTALL, MADV_GUARD_REMOVE):    # is_valid_guard_vma
        disallowed = VM_SPECIAL | VM_HUGETLB
        if advice == MADV_GUARD_INSTALL:
            disallowed |= VM_LOCKED
        if flags & disallowed:
            raise oserror(errno.EINVAL)
        if advice == MADV_GUARD_INSTALL and vma.vm_ops is None:
            mm.anon_vma_prepare(vma)         # guard markers: page tables no longer empty
    if advice == MADV_REMOVE:
        if flags & VM_LOCKED or vma.vm_file is None:
            raise oserror(errno.EINVAL)
        if (flags & (VM_SHARED | VM_MAYSHARE)) != (VM_SHARED | VM_MAYSHARE):
            raise oserror(errno.EACCES)
    for hook in mm.advise_hooks:
        hook(mm, vma, start, end, advice)


def _populate(mm, start, end, write):
    """madvise_populate: fault the range in (GUP without FOLL_FORCE).  A hole is ENOMEM, a VMA
    whose permissions refuse the access is EINVAL (faultin_page_range reports check_vma_flags
    failures so), a file page beyond EOF (SIGBUS) is EFAULT; pages before stay populated."""
    addr = start
    while addr < end:
        vma = mm.tree.lookup(addr)
        if vma is None:
            raise oserror(errno.ENOMEM)
        flags = vma.vm_flags
        if flags & (VM_IO | VM_PFNMAP) or not flags & (VM_WRITE if write else VM_READ):
            raise oserror(errno.EINVAL)
        if write and not flags & VM_SHARED and mm.pgd is None:
            mm.anon_vma_prepare(vma)
        file = vma.vm_file
        if mm.pgd is None and file is not None:         # no page tables: only the EOF check
            last = vma.vm_pgoff + ((min(end, vma.vm_end) - 1 - vma.vm_start) >> 12)
            if last >= (file.size + 4095) >> 12:
                raise oserror(errno.EFAULT)
        try:                                  # the faults stop at the first SIGBUS / SIGSEGV
            for hook in mm.advise_hooks:
                hook(mm, vma, addr, min(end, vma.vm_end), MADV_POPULATE_WRITE if write
                     else MADV_POPULATE_READ)
        except (BusError, SegmentationFault):
            raise oserror(errno.EFAULT) from None
        addr = vma.vm_end
    return 0
