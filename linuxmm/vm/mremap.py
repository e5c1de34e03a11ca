"""mremap (mm/mremap.c, 6.17+ structure: check_mremap_params, check_prep_vma, mremap_at,
mremap_to, expand_vma, move_vma, remap_move)."""
import errno

from .constants import (MAP_FIXED, MAP_SHARED, MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE,
                        PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, VM_ACCOUNT, VM_DONTEXPAND,
                        VM_LOCKED, VM_LOCKED_MASK, VM_MAYSHARE, VM_PFNMAP, VM_SHARED)
from .mm import oserror
from .unmapped_area import get_unmapped_area

U64 = (1 << 64) - 1


class _Remap:
    __slots__ = ("addr", "old_len", "new_len", "flags", "new_addr", "vma", "delta", "kind")


def _align(length):
    return (length + PAGE_SIZE - 1) & PAGE_MASK & U64


def sys_mremap(mm, old_addr, old_len, new_len, flags=0, new_addr=0):
    r = _Remap()
    r.addr = old_addr & U64
    r.old_len = _align(old_len & U64)
    r.new_len = _align(new_len & U64)
    r.flags = flags
    r.new_addr = new_addr & U64
    r.vma = None
    _check_params(mm, r)
    if flags & MREMAP_FIXED and r.old_len == r.new_len:
        return _remap_move(mm, r)
    r.vma = mm.tree.lookup(r.addr)
    _check_prep_vma(mm, r)
    locked = r.vma.vm_flags & VM_LOCKED
    if _implies_new_addr(r):
        ret = _mremap_to(mm, r)
    else:
        ret = _mremap_at(mm, r)
    if locked and r.new_len > r.old_len:         # a VM_LOCKED VMA grew: populate the new part
        from .mmap import mm_populate
        mm_populate(mm, ret + r.old_len, r.new_len - r.old_len)
    return ret


def _implies_new_addr(r):
    return r.flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)


def _check_params(mm, r):
    flags = r.flags
    if flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP):
        raise oserror(errno.EINVAL)
    if r.addr & ~PAGE_MASK:
        raise oserror(errno.EINVAL)
    if not r.new_len:
        raise oserror(errno.EINVAL)
    if r.new_len > mm.task_size:
        raise oserror(errno.EINVAL)
    if not _implies_new_addr(r):
        return
    if r.new_addr > mm.task_size - r.new_len:
        raise oserror(errno.EINVAL)
    if r.new_addr & ~PAGE_MASK:
        raise oserror(errno.EINVAL)
    if not flags & MREMAP_MAYMOVE:
        raise oserror(errno.EINVAL)
    if flags & MREMAP_DONTUNMAP and r.old_len != r.new_len:
        raise oserror(errno.EINVAL)
    if r.addr + r.old_len > r.new_addr and r.new_addr + r.new_len > r.addr:
        raise oserror(errno.EINVAL)
    if mm.map_count + 2 >= mm.max_map_count - 3:
        raise oserror(errno.ENOMEM)


def _check_prep_vma(mm, r):
    vma = r.vma
    if vma is None:
        raise oserror(errno.EFAULT)
    r.delta = abs(r.new_len - r.old_len)
    if r.old_len == r.new_len:
        r.kind = "same"
    elif r.old_len > r.new_len:
        r.kind = "shrink"
    else:
        r.kind = "expand"
    if not _implies_new_addr(r):
        r.new_addr = r.addr
    if r.kind != "expand" and not _implies_new_addr(r):
        return
    old_len = r.old_len
    if not old_len and not vma.vm_flags & (VM_SHARED | VM_MAYSHARE):
        raise oserror(errno.EINVAL)
    if r.flags & MREMAP_DONTUNMAP and vma.vm_flags & (VM_DONTEXPAND | VM_PFNMAP):
        raise oserror(errno.EINVAL)
    if r.kind == "shrink":
        old_len = r.new_len
    if old_len > vma.vm_end - r.addr:
        raise oserror(errno.EFAULT)
    if r.new_len == old_len:
        return
    pgoff = vma.vm_pgoff + ((r.addr - vma.vm_start) >> PAGE_SHIFT)
    if pgoff + (r.new_len >> PAGE_SHIFT) > U64:
        raise oserror(errno.EINVAL)
    if vma.vm_flags & (VM_DONTEXPAND | VM_PFNMAP):
        raise oserror(errno.EFAULT)
    if r.new_len > old_len:
        from .mlock import mlock_future_ok
        if not mlock_future_ok(mm, vma.vm_flags, r.new_len - old_len):
            raise oserror(errno.EAGAIN)


def _mremap_at(mm, r):
    if r.kind == "same":
        return r.addr
    if r.kind == "shrink":
        mm.do_munmap(r.addr + r.new_len, r.delta)
        return r.addr
    return _expand_vma(mm, r)


def _expand_vma(mm, r):
    vma = r.vma
    if vma.vm_end - r.addr == r.old_len and _vma_expandable(mm, vma, r.delta):
        _expand_in_place(mm, r)
        return r.addr
    if not r.flags & MREMAP_MAYMOVE:
        raise oserror(errno.ENOMEM)
    _set_new_addr(mm, r)
    return _move_vma(mm, r)


def _vma_expandable(mm, vma, delta):
    end = vma.vm_end + delta
    if mm.tree.intersection(vma.vm_end, end) is not None:
        return False
    return end <= mm.task_size


def _expand_in_place(mm, r):
    vma = r.vma
    pages = r.delta >> PAGE_SHIFT
    if vma.vm_flags & VM_ACCOUNT:
        mm.vm_enough_memory(pages)
    nxt = mm.tree.next(vma)
    merged = mm.merge_new_range(vma, nxt, vma.vm_end, vma.vm_end + r.delta, vma.vm_flags,
                                vma.vm_file, vma.vm_pgoff + vma.pages, vma.anon_vma,
                                )
    if merged is None:
        if vma.vm_flags & VM_ACCOUNT:
            mm.vm_unacct_memory(pages)
        raise oserror(errno.ENOMEM)
    mm.vm_stat_account(merged.vm_flags, pages)
    if merged.vm_flags & VM_LOCKED:
        mm.locked_vm += pages


def _set_new_addr(mm, r):
    vma = r.vma
    map_flags = 0
    if r.flags & MREMAP_FIXED:
        map_flags |= MAP_FIXED
    if vma.vm_flags & VM_MAYSHARE:
        map_flags |= MAP_SHARED
    pgoff = vma.vm_pgoff + ((r.addr - vma.vm_start) >> PAGE_SHIFT)
    hint = r.new_addr if _implies_new_addr(r) else 0
    res = get_unmapped_area(mm, vma.vm_file, hint, r.new_len, pgoff, map_flags)
    if res < 0:
        raise oserror(-res)
    r.new_addr = res


def _mremap_to(mm, r):
    if r.flags & MREMAP_FIXED:
        mm.do_munmap(r.new_addr, r.new_len)
        r.vma = mm.tree.lookup(r.addr)
        if r.vma is None:
            raise oserror(errno.EFAULT)
    if r.kind == "shrink":
        mm.do_munmap(r.addr + r.new_len, r.delta)
        r.vma = mm.tree.lookup(r.addr)
        if r.vma is None:
            raise oserror(errno.EFAULT)
        r.old_len = r.new_len
    _set_new_addr(mm, r)
    return _move_vma(mm, r)


def _move_vma(mm, r):
    if mm.map_count >= mm.max_map_count - 3:
        raise oserror(errno.ENOMEM)
    vma = r.vma
    ops = vma.vm_ops                      # prep_move_vma: the source must be splittable
    if ops is not None and ops.may_split is not None:
        if vma.vm_start != r.addr:
            ops.may_split(vma, r.addr)
        if vma.vm_end != r.addr + r.old_len:
            ops.may_split(vma, r.addr + r.old_len)
    flags = vma.vm_flags
    charged = 0
    if flags & VM_ACCOUNT:
        if r.flags & MREMAP_DONTUNMAP:
            charged = r.new_len >> PAGE_SHIFT
        elif r.new_len > r.old_len:
            charged = (r.new_len - r.old_len) >> PAGE_SHIFT
        if charged:
            mm.vm_enough_memory(charged)
    new_vma = _copy_vma(mm, vma, r.addr, r.new_addr, r.new_len)
    hiwater_vm = mm.hiwater_vm
    new_pages = r.new_len >> PAGE_SHIFT
    mm.vm_stat_account(flags, new_pages)
    if flags & VM_LOCKED:
        mm.locked_vm += new_pages
    for hook in mm.move_hooks:
        hook(mm, r.addr, r.new_addr, min(r.old_len, r.new_len))
    if r.flags & MREMAP_DONTUNMAP:
        old = mm.tree.lookup(r.addr)
        if old is not None:
            # dontunmap_complete: the old VMA keeps VM_ACCOUNT (and its charge) on 6.18
            old.vm_flags &= ~VM_LOCKED_MASK
            if (old is not new_vma and old.vm_start == r.addr
                    and old.vm_end == r.addr + r.old_len):
                old.anon_vma = None
                old.anon_vma_chain = 0
            mm.tree.touch()
    elif r.old_len:
        _unmap_source(mm, r, flags)
    mm.hiwater_vm = hiwater_vm
    return r.new_addr


def _copy_vma(mm, vma, addr, new_addr, new_len):
    """copy_vma: the destination VMA, merged with its neighbours when possible."""
    pgoff = vma.vm_pgoff + ((addr - vma.vm_start) >> PAGE_SHIFT)
    if vma.vm_ops is None and vma.anon_vma is None:
        pgoff = new_addr >> PAGE_SHIFT
    tree = mm.tree
    prev = tree.prev_of_addr(new_addr)
    nxt = tree.find(new_addr)
    merged = mm.merge_new_range(prev, nxt, new_addr, new_addr + new_len, vma.vm_flags,
                                vma.vm_file, pgoff, vma.anon_vma)
    if merged is not None:
        return merged
    new = vma.dup()
    new.vm_start = new_addr
    new.vm_end = new_addr + new_len
    new.vm_pgoff = pgoff
    tree.insert(new)
    if new.vm_ops is not None and new.vm_ops.open is not None:
        new.vm_ops.open(new)
    return new


def _unmap_source(mm, r, flags):
    addr, length = r.addr, r.old_len
    end = addr + length
    vma = mm.tree.lookup(addr)
    accountable = vma is not None and vma.vm_flags & VM_ACCOUNT
    if accountable:
        vm_start, vm_end = vma.vm_start, vma.vm_end
        vma.vm_flags &= ~VM_ACCOUNT
    try:
        mm.do_munmap(addr, length)
    except OSError:
        mm.vm_enough_memory_force(length >> PAGE_SHIFT)
        return
    if accountable:
        if vm_start < addr:
            prev = mm.tree.prev_of_addr(addr)
            prev.vm_flags |= VM_ACCOUNT
        if vm_end > end:
            nxt = mm.tree.find(end)
            nxt.vm_flags |= VM_ACCOUNT


def _remap_move(mm, r):
    """remap_move: MREMAP_FIXED without resize may move every VMA in [addr, addr+old_len)."""
    start = r.addr
    end = r.addr + r.old_len
    target = r.new_addr
    res = None
    seen = False
    last_end = 0
    while True:
        # for_each_vma_range() resumes after the last VMA it returned: when that VMA grew past
        # the range (the destination merged with it), nothing is left to visit
        if seen and last_end >= end:
            break
        vma = mm.tree.intersection(start if not seen else last_end, end)
        if vma is None:
            break
        addr = max(vma.vm_start, start)
        length = min(end, vma.vm_end) - addr
        if not seen and start < vma.vm_start:
            raise oserror(errno.EFAULT)
        offset = vma.vm_start - last_end if seen else 0
        last_end = vma.vm_end
        piece = _Remap()
        piece.addr = addr
        piece.old_len = piece.new_len = length
        piece.flags = r.flags
        piece.new_addr = target + offset
        piece.vma = vma
        _check_prep_vma(mm, piece)
        res_vma = _mremap_to(mm, piece)
        if not seen:
            res = res_vma
        seen = True
        target = res_vma + length
    if res is None:
        raise oserror(errno.EFAULT)
    return res
