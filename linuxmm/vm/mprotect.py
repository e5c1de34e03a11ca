"""mprotect (mm/mprotect.c: do_mprotect_pkey, mprotect_fixup)."""
import errno

from .constants import (PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, PROT_EXEC, PROT_GROWSDOWN,
                        PROT_GROWSUP, PROT_READ, PROT_SEM, PROT_WRITE, VM_ACCESS_FLAGS,
                        VM_ACCOUNT, VM_GROWSDOWN, VM_HUGETLB, VM_LOCKED, VM_NORESERVE, VM_SHARED,
                        VM_WRITE)
from .mm import oserror

U64 = (1 << 64) - 1


def sys_mprotect(mm, start, length, prot):
    start &= U64
    length &= U64
    grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP)
    prot &= ~(PROT_GROWSDOWN | PROT_GROWSUP)
    if grows == PROT_GROWSDOWN | PROT_GROWSUP:
        raise oserror(errno.EINVAL)
    if start & ~PAGE_MASK:
        raise oserror(errno.EINVAL)
    if not length:
        return 0
    length = (length + PAGE_SIZE - 1) & PAGE_MASK & U64
    end = start + length
    if end <= start or end > U64:
        raise oserror(errno.ENOMEM)
    if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM):
        raise oserror(errno.EINVAL)
    tree = mm.tree
    vma = tree.intersection(start, end)
    if vma is None:
        raise oserror(errno.ENOMEM)
    if grows & PROT_GROWSDOWN:
        start = vma.vm_start
        if not vma.vm_flags & VM_GROWSDOWN:
            raise oserror(errno.EINVAL)
    else:
        if vma.vm_start > start:
            raise oserror(errno.ENOMEM)
        if grows & PROT_GROWSUP:
            raise oserror(errno.EINVAL)      # no VM_GROWSUP on x86
    prev = vma if start > vma.vm_start else tree.prev(vma)
    nstart = start
    tmp = vma.vm_start
    newbits = prot & (PROT_READ | PROT_WRITE | PROT_EXEC)
    while vma is not None and vma.vm_start < end:
        if vma.vm_start != tmp:
            raise oserror(errno.ENOMEM)
        newflags = newbits | (vma.vm_flags & ~VM_ACCESS_FLAGS)
        if (newflags & ~(newflags >> 4)) & VM_ACCESS_FLAGS:
            raise oserror(errno.EACCES)
        tmp = vma.vm_end if vma.vm_end < end else end
        vma = mprotect_fixup(mm, vma, prev, nstart, tmp, newflags)
        prev = vma
        tmp = vma.vm_end
        nstart = tmp
        vma = tree.next(vma)
    if tmp < end:
        raise oserror(errno.ENOMEM)
    return 0


def mprotect_fixup(mm, vma, prev, start, end, newflags):
    """Apply newflags to [start, end) of vma (merge or split); returns the VMA now covering it."""
    oldflags = vma.vm_flags
    nrpages = (end - start) >> PAGE_SHIFT
    if newflags == oldflags:
        return vma
    charged = 0
    if newflags & VM_WRITE:
        if not oldflags & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE):
            charged = nrpages
            mm.vm_enough_memory(charged)
            newflags |= VM_ACCOUNT
    elif oldflags & VM_ACCOUNT and vma.vm_ops is None and vma.anon_vma is None:
        newflags &= ~VM_ACCOUNT
    try:
        vma = mm.modify_flags(prev, vma, start, end, newflags)
    except OSError:
        if charged:
            mm.vm_unacct_memory(charged)
        raise
    vma.vm_flags = newflags
    mm.tree.touch()
    if oldflags & VM_ACCOUNT and not newflags & VM_ACCOUNT:
        mm.vm_unacct_memory(nrpages)
    if (oldflags & (VM_WRITE | VM_SHARED | VM_LOCKED)) == VM_LOCKED and newflags & VM_WRITE:
        mm.anon_vma_prepare(vma)          # populate_vma_page_range: COW the locked pages now
    mm.vm_stat_account(oldflags, -nrpages)
    mm.vm_stat_account(newflags, nrpages)
    for hook in mm.protect_hooks:
        hook(mm, start, end, newflags)
    return vma
