"""mmap and munmap: ksys_mmap_pgoff -> vm_mmap_pgoff -> do_mmap -> __mmap_region (mm/mmap.c,
mm/vma.c, 6.12+ order of checks)."""
import errno

from .constants import (LEGACY_MAP_MASK, MAP_ANONYMOUS, MAP_DROPPABLE, MAP_FIXED,
                        MAP_FIXED_NOREPLACE, MAP_GROWSDOWN, MAP_HUGETLB, MAP_LOCKED, MAP_NONBLOCK,
                        MAP_NORESERVE, MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, MAP_SHARED_VALIDATE,
                        MAP_STACK, MAP_SYNC, MAP_TYPE, MMAP_MIN_ADDR, PAGE_MASK, PAGE_SHIFT, PAGE_SIZE,
                        PROT_EXEC, PROT_READ, PROT_WRITE, VM_ACCOUNT, VM_DONTDUMP,
                        VM_GROWSDOWN, VM_HUGETLB, VM_LOCKED, VM_MAYEXEC, VM_MAYREAD, VM_MAYSHARE,
                        VM_MAYWRITE, VM_NOHUGEPAGE, VM_NORESERVE, VM_SHARED, VM_SPECIAL, VM_SYNC,
                        VM_WIPEONFORK, VM_WRITE)
from .mm import oserror
from .unmapped_area import get_unmapped_area
from .vma import FILE_VM_OPS, SHMEM_VM_OPS, VmArea

U64 = (1 << 64) - 1


def calc_vm_flag_bits(flags):
    vm_flags = 0
    if flags & MAP_GROWSDOWN:
        vm_flags |= VM_GROWSDOWN
    if flags & MAP_LOCKED:
        vm_flags |= VM_LOCKED
    if flags & MAP_STACK:
        vm_flags |= VM_NOHUGEPAGE
    if flags & MAP_SYNC:
        vm_flags |= VM_SYNC
    return vm_flags


def sys_mmap(mm, addr, length, prot, flags, file=None, offset=0):
    """The mmap(2) system call (arch/x86/kernel/sys_x86_64.c) -> the mapped address."""
    addr &= U64
    length &= U64
    if offset & ~PAGE_MASK:
        raise oserror(errno.EINVAL)
    if not flags & MAP_ANONYMOUS:
        if file is None:
            raise oserror(errno.EBADF)
        if flags & MAP_HUGETLB:
            raise oserror(errno.EINVAL)
    else:
        file = None
        if flags & MAP_HUGETLB:
            raise oserror(errno.ENOMEM)   # no huge pages are reserved in this model
    ret, populate = do_mmap(mm, file, addr, length, prot, flags, 0, (offset & U64) >> PAGE_SHIFT)
    if populate:
        mm_populate(mm, ret, populate)
    return ret


def vm_mmap_pgoff(mm, file, addr, length, prot, flags, pgoff):
    ret, populate = do_mmap(mm, file, addr, length, prot, flags, 0, pgoff)
    if populate:
        mm_populate(mm, ret, populate)
    return ret


def do_mmap(mm, file, addr, length, prot, flags, vm_flags, pgoff):
    """do_mmap: returns (address, bytes to populate) or raises OSError."""
    if not length:
        raise oserror(errno.EINVAL)
    if flags & MAP_FIXED_NOREPLACE:
        flags |= MAP_FIXED
    if not flags & MAP_FIXED and addr:
        addr = round_hint_to_min(addr)
    length = (length + PAGE_SIZE - 1) & PAGE_MASK & U64
    if not length:
        raise oserror(errno.ENOMEM)
    if pgoff + (length >> PAGE_SHIFT) > U64:
        raise oserror(errno.EOVERFLOW)
    if len(mm.tree) > mm.max_map_count:
        raise oserror(errno.ENOMEM)
    addr = get_unmapped_area(mm, file, addr, length, pgoff, flags)
    if addr < 0:
        raise oserror(-addr)
    if flags & MAP_FIXED_NOREPLACE and mm.tree.intersection(addr, addr + length) is not None:
        raise oserror(errno.EEXIST)
    # calc_vm_prot_bits: VM_READ/WRITE/EXEC have PROT_READ/WRITE/EXEC's values
    vm_flags |= ((prot & (PROT_READ | PROT_WRITE | PROT_EXEC)) | mm.def_flags
                 | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC)
    if flags & (MAP_GROWSDOWN | MAP_LOCKED | MAP_STACK | MAP_SYNC):
        vm_flags |= calc_vm_flag_bits(flags)
    if vm_flags & VM_LOCKED:
        from .mlock import can_do_mlock, mlock_future_ok
        if flags & MAP_LOCKED and not can_do_mlock(mm):
            raise oserror(errno.EPERM)
        if not mlock_future_ok(mm, vm_flags, length):
            raise oserror(errno.EAGAIN)
    if file is not None:
        inode = file.f_inode
        if not file_mmap_ok(inode, pgoff, length):
            raise oserror(errno.EOVERFLOW)
        map_type = flags & MAP_TYPE
        if map_type in (MAP_SHARED, MAP_SHARED_VALIDATE):
            flags_mask = LEGACY_MAP_MASK
            if inode.kind == "ext4":                   # FOP_MMAP_SYNC
                flags_mask |= MAP_SYNC
            if map_type == MAP_SHARED:
                flags &= LEGACY_MAP_MASK
            if flags & ~flags_mask:
                raise oserror(errno.EOPNOTSUPP)
            if prot & PROT_WRITE and not file.writable:
                raise oserror(errno.EACCES)
            vm_flags |= VM_SHARED | VM_MAYSHARE
            if not file.writable:
                vm_flags &= ~(VM_MAYWRITE | VM_SHARED)
        elif map_type != MAP_PRIVATE:
            raise oserror(errno.EINVAL)
        if not file.readable:
            raise oserror(errno.EACCES)
        if vm_flags & VM_GROWSDOWN:
            raise oserror(errno.EINVAL)
    else:
        map_type = flags & MAP_TYPE
        if map_type == MAP_SHARED:
            if vm_flags & VM_GROWSDOWN:
                raise oserror(errno.EINVAL)
            pgoff = 0
            vm_flags |= VM_SHARED | VM_MAYSHARE
        elif map_type in (MAP_PRIVATE, MAP_DROPPABLE):
            if map_type == MAP_DROPPABLE:
                vm_flags |= VM_WIPEONFORK | VM_DONTDUMP | VM_NORESERVE
            pgoff = addr >> PAGE_SHIFT
        else:
            raise oserror(errno.EINVAL)
    if flags & MAP_NORESERVE and _overcommit_memory(mm) != 2:
        vm_flags |= VM_NORESERVE
    addr = mmap_region(mm, file, addr, length, vm_flags, pgoff)
    populate = 0
    if vm_flags & VM_LOCKED or (flags & (MAP_POPULATE | MAP_NONBLOCK)) == MAP_POPULATE:
        populate = length
    return addr, populate


def _overcommit_memory(mm):
    return getattr(mm.kernel, "overcommit_memory", 0) if mm.kernel is not None else 0


def round_hint_to_min(hint):
    hint &= PAGE_MASK
    if hint and hint < MMAP_MIN_ADDR:
        return MMAP_MIN_ADDR
    return hint


def file_mmap_ok(inode, pgoff, length):
    """file_mmap_ok with MAX_LFS_FILESIZE (the offset of the last byte must fit in loff_t)."""
    maxsize = (1 << 63) - 1
    if length > maxsize:
        return False
    maxsize -= length
    return pgoff <= maxsize >> PAGE_SHIFT


def mmap_region(mm, file, addr, length, vm_flags, pgoff):
    """__mmap_region: unmap what is in the way, charge, merge or insert a new VMA."""
    end = addr + length
    pglen = length >> PAGE_SHIFT
    tree = mm.tree
    detached = ()
    nr_accounted = 0
    around = tree.gap_neighbours(addr, end)
    if around is None:
        detached, prev, nxt = mm.gather_munmap(tree.intersection(addr, end), addr, end)
        for vma in detached:
            if vma.vm_flags & VM_ACCOUNT:
                nr_accounted += vma.pages
    else:
        prev, nxt = around
    transferred = False
    shm_charge = 0
    if (vm_flags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) == VM_WRITE:   # accountable_mapping
        charged = pglen - nr_accounted
        if charged > 0:
            try:
                mm.vm_enough_memory(charged)
            except OSError:
                for vma in detached:         # vms_abort_munmap_vmas: put the old VMAs back
                    tree.insert(vma)
                raise
        elif charged < 0:
            mm.vm_unacct_memory(-charged)
        transferred = True
        vm_flags |= VM_ACCOUNT
    elif file is None and vm_flags & VM_SHARED and not vm_flags & VM_NORESERVE \
            and mm.kernel is not None:
        try:                                  # shmem_zero_setup -> shmem_acct_size
            mm.kernel._vm_enough_memory(pglen, mm)
        except OSError:
            for vma in detached:
                tree.insert(vma)
            raise
        shm_charge = pglen
    if file is not None and vm_flags & VM_SYNC and file.f_inode.kind == "ext4":
        # ext4_file_mmap: VM_SYNC needs DAX -> EOPNOTSUPP.  The PTEs of the old VMAs are gone
        # by now, so vms_abort_munmap_vmas leaves a gap where the MAP_FIXED mapping failed.
        if transferred:
            charged = pglen - nr_accounted
            if charged > 0:
                mm.vm_unacct_memory(charged)
            elif charged < 0:
                mm.vm_enough_memory_force(-charged)
        if detached:
            mm.complete_munmap(detached, addr, end)
        raise oserror(errno.EOPNOTSUPP)
    if detached:
        mm.complete_munmap(detached, addr, end, keep_accounted=transferred)
    vma = None
    if file is None and not vm_flags & VM_SHARED:
        if prev is not None or nxt is not None:
            vma = mm.merge_new_range(prev, nxt, addr, end, vm_flags, None, pgoff, None)
        if vma is None:
            vma = VmArea(mm, addr, end, vm_flags, pgoff)
            tree.insert(vma)
    elif file is None:
        # shared anonymous memory: shmem_zero_setup gives it its own unlinked shmem file
        fs = mm.kernel.fs if mm.kernel is not None else None
        shm_file = fs.shmem_zero_file(length) if fs is not None else _standalone_shmem(length)
        shm_file.f_inode.charged = shm_charge
        vma = VmArea(mm, addr, end, vm_flags, 0, shm_file, SHMEM_VM_OPS)
        tree.insert(vma)
    else:
        device = file.f_inode.device
        if device is not None:                # the driver's ->mmap: its flags and vm_ops
            vm_flags |= device.vm_flags
        if prev is not None or nxt is not None:
            vma = mm.merge_new_range(prev, nxt, addr, end, vm_flags, file, pgoff, None)
        if vma is None:
            ops = SHMEM_VM_OPS if file.f_inode.kind == "shmem" else FILE_VM_OPS
            if device is not None:
                ops = device.ops
            file.f_count += 1
            vma = VmArea(mm, addr, end, vm_flags, pgoff, file, ops)
            tree.insert(vma)
    mm.vm_stat_account(vm_flags, pglen)
    if vm_flags & VM_LOCKED:
        if vm_flags & VM_SPECIAL or vm_flags & VM_HUGETLB:
            vma.vm_flags &= ~VM_LOCKED
        else:
            mm.locked_vm += pglen
    return addr


def _standalone_shmem(length):
    from .files import FileSystem
    return FileSystem().shmem_zero_file(length)


def mm_populate(mm, start, length):
    """__mm_populate: fault the range in (MAP_POPULATE, VM_LOCKED)."""
    if mm.pgd is not None:
        from .pagewalk import mm_populate as populate
        populate(mm, start, length)
        return
    end = start + length
    for vma in list(mm.tree.iter_range(start, end)):
        if (vma.vm_flags & (VM_WRITE | VM_SHARED)) == VM_WRITE:
            mm.anon_vma_prepare(vma)


def sys_munmap(mm, addr, length):
    return mm.do_munmap(addr & U64, length & U64)


__all__ = ["sys_mmap", "sys_munmap", "do_mmap", "mmap_region", "vm_mmap_pgoff"]
