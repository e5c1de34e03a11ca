"""Address selection: __get_unmapped_area (mm/mmap.c), arch_get_unmapped_area_topdown
(arch/x86/kernel/sys_x86_64.c), unmapped_area_topdown / unmapped_area (mm/vma.c) and the THP
alignment of __thp_get_unmapped_area (mm/huge_memory.c).

Functions return an address or a negative errno, as the kernel's do.
"""
import errno

from .constants import (DAC_MMAP_MIN_ADDR, MAP_32BIT, MAP_ABOVE4G, MAP_FIXED,
                        MAP_SHARED, MMAP_MIN_ADDR, PAGE_MASK, PAGE_SIZE, PMD_SIZE,
                        VM_GROWSDOWN)
from .layout import randomize_page


MAX_ERRNO = 4095


def unmapped_area_topdown(mm, length, low_limit, high_limit, align_mask=0, align_offset=0):
    """The highest gap in [low_limit, high_limit) that fits length (+ alignment slack)."""
    need = length + align_mask
    if low_limit < MMAP_MIN_ADDR:
        low_limit = MMAP_MIN_ADDR
    tree = mm.tree
    if not align_mask:
        # fast path: the gap right below high_limit fits (no VMA straddles high_limit)
        top, nxt = tree.around(high_limit)
        if top is not None and low_limit <= top.vm_end <= high_limit - need and (
                nxt is None or not nxt.vm_flags & VM_GROWSDOWN):
            return high_limit - length
    while True:
        gap_end = None
        above_start = mm.task_size + PAGE_SIZE
        for vma in tree.iter_down(high_limit):
            end = above_start if above_start < high_limit else high_limit
            start = vma.vm_end if vma.vm_end > low_limit else low_limit
            if end - start >= need:
                gap_end = end
                break
            above_start = vma.vm_start
            if above_start <= low_limit:
                break
        else:
            end = above_start if above_start < high_limit else high_limit
            if end - low_limit >= need:
                gap_end = end
        if gap_end is None:
            return -errno.ENOMEM
        gap = gap_end - length
        gap -= (gap - align_offset) & align_mask
        nxt = tree.find(gap_end)
        if nxt is not None and nxt.vm_flags & VM_GROWSDOWN:
            start_gap = nxt.start_gap()
            if start_gap < gap_end:
                high_limit = start_gap
                continue
        return gap


def unmapped_area(mm, length, low_limit, high_limit, align_mask=0, align_offset=0):
    """The lowest gap in [low_limit, high_limit) that fits length (bottom-up search)."""
    need = length + align_mask
    if low_limit < MMAP_MIN_ADDR:
        low_limit = MMAP_MIN_ADDR
    tree = mm.tree
    while True:
        below_end = low_limit
        prev = tree.prev_of_addr(low_limit + 1)
        if prev is not None and prev.vm_end > below_end:
            below_end = prev.vm_end
        gap_start = None
        for vma in tree.iter_range(below_end, high_limit + PAGE_SIZE):
            end = min(vma.start_gap(), high_limit)
            if end - below_end >= need:
                gap_start = below_end
                break
            if vma.vm_end > below_end:
                below_end = vma.vm_end
            if below_end >= high_limit:
                break
        else:
            if high_limit - below_end >= need:
                gap_start = below_end
        if gap_start is None:
            return -errno.ENOMEM
        gap = gap_start + ((align_offset - gap_start) & align_mask)
        return gap


def arch_get_unmapped_area_topdown(mm, file, addr0, length, pgoff, flags):
    if length > mm.task_size:
        return -errno.ENOMEM
    if flags & MAP_FIXED:
        return addr0
    if flags & MAP_32BIT:                        # legacy base below 2 GiB: bottom-up
        return arch_get_unmapped_area(mm, file, addr0, length, pgoff, flags)
    addr = addr0
    if addr:
        addr &= PAGE_MASK
        if _hint_valid(mm, addr, length):
            vma = mm.tree.find(addr)
            if vma is None or addr + length <= vma.start_gap():
                return addr
    low = (1 << 32) if flags & MAP_ABOVE4G else PAGE_SIZE
    result = unmapped_area_topdown(mm, length, low, mm.mmap_base)
    if result >= 0:
        return result
    return arch_get_unmapped_area(mm, file, addr0, length, pgoff, flags)


def _find_start_end(mm, flags):
    if flags & MAP_32BIT:
        begin, end = 0x40000000, 0x80000000
        kernel = mm.kernel
        if kernel is not None and kernel.randomize_va_space:
            begin = randomize_page(begin, 0x02000000)(kernel.vm_random)
        return begin, end
    return mm.mmap_legacy_base, mm.arch.default_map_window


def arch_get_unmapped_area(mm, file, addr, length, pgoff, flags):
    """The bottom-up search (also the top-down one's fallback and MAP_32BIT's allocator)."""
    if length > mm.task_size:
        return -errno.ENOMEM
    if flags & MAP_FIXED:
        return addr
    begin, end = _find_start_end(mm, flags)
    if length > end:
        return -errno.ENOMEM
    if addr:
        addr = (addr + PAGE_SIZE - 1) & PAGE_MASK
        vma = mm.tree.find(addr)
        if end - length >= addr and (vma is None or addr + length <= vma.start_gap()):
            return addr
    if flags & MAP_ABOVE4G:
        begin = max(begin, 1 << 32)
    return unmapped_area(mm, length, begin, end)


def _hint_valid(mm, addr, length):
    """mmap_address_hint_valid (4-level paging: the window ends at DEFAULT_MAP_WINDOW)."""
    if mm.task_size - length < addr:
        return False
    window = mm.arch.default_map_window
    return (addr > window) == (addr + length > window)


def mm_get_unmapped_area(mm, file, addr, length, pgoff, flags):
    if mm.topdown:
        return arch_get_unmapped_area_topdown(mm, file, addr, length, pgoff, flags)
    return arch_get_unmapped_area(mm, file, addr, length, pgoff, flags)


def thp_get_unmapped_area(mm, file, addr, length, pgoff, flags):
    """thp_get_unmapped_area_vmflags: place so that VA == file offset (mod 2 MiB) when the range
    holds a whole aligned 2 MiB block; otherwise the normal placement."""
    off = pgoff << 12
    off_end = off + length
    off_align = (off + PMD_SIZE - 1) & ~(PMD_SIZE - 1)
    if not (off_end <= off_align or off_end - off_align < PMD_SIZE):
        len_pad = length + PMD_SIZE
        ret = mm_get_unmapped_area(mm, file, addr, len_pad, off >> 12, flags)
        if ret >= 0:
            if ret == addr:
                return addr
            off_sub = (off - ret) & (PMD_SIZE - 1)
            if mm.topdown and not off_sub:
                return ret + PMD_SIZE
            return ret + off_sub
    return mm_get_unmapped_area(mm, file, addr, length, pgoff, flags)


def get_unmapped_area(mm, file, addr, length, pgoff, flags):
    """__get_unmapped_area: an address for [addr, addr+length) or a negative errno."""
    if length > mm.task_size:
        return -errno.ENOMEM
    if file is None and not addr and length % PMD_SIZE and mm.topdown \
            and not flags & (MAP_SHARED | MAP_FIXED | MAP_32BIT | MAP_ABOVE4G):
        # the common case, arch_get_unmapped_area_topdown without a hint, called directly
        addr = unmapped_area_topdown(mm, length, PAGE_SIZE, mm.mmap_base)
        if addr < 0:
            addr = arch_get_unmapped_area(mm, None, 0, length, 0, flags)
    elif file is not None:
        if file.f_inode.kind == "ext4":
            addr = thp_get_unmapped_area(mm, file, addr, length, pgoff, flags)
        else:   # shmem with huge pages disabled: the normal placement
            addr = mm_get_unmapped_area(mm, file, addr, length, pgoff, flags)
    elif flags & MAP_SHARED:
        addr = mm_get_unmapped_area(mm, file, addr, length, 0, flags)
    elif not addr and not length % PMD_SIZE:
        addr = thp_get_unmapped_area(mm, None, addr, length, 0, flags)
    else:
        addr = mm_get_unmapped_area(mm, None, addr, length, 0, flags)
    if addr >= (1 << 64) - MAX_ERRNO:      # IS_ERR_VALUE: a MAP_FIXED address of -errno
        return addr - (1 << 64)
    if addr < 0:
        return addr
    if addr > mm.task_size - length:
        return -errno.ENOMEM
    if addr & ~PAGE_MASK:
        return -errno.EINVAL
    if addr < DAC_MMAP_MIN_ADDR and not mm.capable_sys_rawio:
        return -errno.EPERM
    return addr
