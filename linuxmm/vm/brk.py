"""brk (mm/mmap.c: SYSCALL brk, vm_brk_flags; mm/vma.c: do_brk_flags)."""
import errno

from .constants import (MAP_FIXED, PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, STACK_GUARD_GAP, VM_ACCOUNT,
                        VM_DATA_DEFAULT_FLAGS, VM_EXEC, VM_LOCKED, page_align)
from .mm import oserror
from .unmapped_area import get_unmapped_area
from .vma import VmArea


def sys_brk(mm, brk):
    """The brk(2) system call: returns the new break, or the old one when the request fails."""
    origbrk = mm.brk
    if brk < mm.start_brk:
        return origbrk
    newbrk = page_align(brk)
    oldbrk = page_align(mm.brk)
    if oldbrk == newbrk:
        mm.brk = brk
        return brk
    tree = mm.tree
    if brk <= mm.brk:
        brkvma = tree.intersection(newbrk, oldbrk)
        if brkvma is None or brkvma.vm_start >= oldbrk:
            return origbrk
        mm.brk = brk
        try:
            mm.align_munmap(brkvma, newbrk, oldbrk)
        except OSError:
            mm.brk = origbrk
            return origbrk
        return brk
    # check_brk_limits: the range must be valid for a MAP_FIXED mapping (TASK_SIZE, mmap_min_addr)
    if get_unmapped_area(mm, None, oldbrk, newbrk - oldbrk, 0, MAP_FIXED) < 0:
        return origbrk
    nxt = tree.intersection(oldbrk, newbrk + PAGE_SIZE + STACK_GUARD_GAP)
    if nxt is not None and newbrk + PAGE_SIZE > nxt.start_gap():
        return origbrk
    from .mlock import mlock_future_ok
    if not mlock_future_ok(mm, mm.def_flags, newbrk - oldbrk):
        return origbrk                       # check_brk_limits: EAGAIN
    brkvma = tree.prev_of_addr(oldbrk)
    if brkvma is not None and brkvma.vm_end <= mm.start_brk:
        brkvma = None                        # vma_prev_limit(vmi, mm->start_brk)
    try:
        do_brk_flags(mm, brkvma, oldbrk, newbrk - oldbrk, 0)
    except OSError:
        return origbrk
    mm.brk = brk
    if mm.def_flags & VM_LOCKED:             # mlockall(MCL_FUTURE): populate the new part
        from .mmap import mm_populate
        mm_populate(mm, oldbrk, newbrk - oldbrk)
    return brk


def do_brk_flags(mm, vma, addr, length, vm_flags):
    vm_flags |= VM_DATA_DEFAULT_FLAGS | VM_ACCOUNT | mm.def_flags
    pages = length >> PAGE_SHIFT
    if mm.map_count > mm.max_map_count:
        raise oserror(errno.ENOMEM)
    mm.vm_enough_memory(pages)
    merged = None
    if vma is not None and vma.vm_end == addr:
        merged = mm.merge_new_range(vma, None, addr, addr + length, vm_flags, None,
                                    addr >> PAGE_SHIFT, None, just_expand=True)
    if merged is None:
        mm.tree.insert(VmArea(mm, addr, addr + length, vm_flags, addr >> PAGE_SHIFT))
    mm.total_vm += pages
    mm.data_vm += pages
    if vm_flags & VM_LOCKED:
        mm.locked_vm += pages


def vm_brk_flags(mm, addr, request, vm_flags):
    """vm_brk_flags: anonymous rw memory at a fixed address (the ELF loader's bss)."""
    if vm_flags & ~VM_EXEC:
        raise oserror(errno.EINVAL)
    length = page_align(request)
    if length < request:
        raise oserror(errno.ENOMEM)
    if not length:
        return 0
    mapped = get_unmapped_area(mm, None, addr, length, 0, MAP_FIXED)
    if mapped < 0:
        raise oserror(-mapped)
    if mapped & ~PAGE_MASK:
        raise oserror(errno.EINVAL)
    mm.do_munmap(addr, length)
    prev = mm.tree.prev_of_addr(addr)
    do_brk_flags(mm, prev, addr, length, vm_flags)
    return 0
