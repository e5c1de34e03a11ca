"""/proc/<pid>/maps and /proc/<pid>/status (fs/proc/task_mmu.c: show_map_vma, task_mem;
fs/proc/array.c)."""
from .constants import PAGE_MASK, PAGE_SHIFT, VM_EXEC, VM_MAYSHARE, VM_READ, VM_WRITE

NAME_COLUMN = 25 + 8 * 6 - 1       # seq_setwidth on a 64-bit kernel: names start at byte 73


def _hex(value, width=8):
    return format(value, "x").rjust(width, "0")


def vma_line(start, end, flags, pgoff, dev, ino, name):
    head = (f"{_hex(start)}-{_hex(end)} "
            f"{'r' if flags & VM_READ else '-'}{'w' if flags & VM_WRITE else '-'}"
            f"{'x' if flags & VM_EXEC else '-'}{'s' if flags & VM_MAYSHARE else 'p'} "
            f"{_hex(pgoff)} {_hex(dev[0], 2)}:{_hex(dev[1], 2)} {ino} ")
    if not name:
        return head + "\n"
    if len(head) < NAME_COLUMN:
        head = head.ljust(NAME_COLUMN)
    return head + " " + name + "\n"


def vma_name(mm, vma):
    """get_vma_name: file path, vm_ops->name, [heap], [stack], or ''."""
    if vma.vm_file is not None:
        return vma.vm_file.path_name()
    ops = vma.vm_ops
    if ops is not None and ops.label:
        return ops.name(vma)
    if vma.vm_start < mm.brk and vma.vm_end > mm.start_brk:     # vma_is_initial_heap
        return "[heap]"
    if vma.vm_start <= mm.start_stack <= vma.vm_end:             # vma_is_initial_stack
        return "[stack]"
    return ""


def vma_header(mm, vma):
    """show_map_vma: the maps line of one VMA (also the header of its smaps entry)."""
    file = vma.vm_file
    if file is not None:
        inode = file.f_inode
        pgoff, dev, ino = vma.vm_pgoff << PAGE_SHIFT, inode.dev, inode.i_ino
    else:
        pgoff, dev, ino = 0, (0, 0), 0
    return vma_line(vma.vm_start, vma.vm_end, vma.vm_flags, pgoff, dev, ino, vma_name(mm, vma))


def render_maps(mm):
    lines = [vma_header(mm, vma) for vma in mm.tree]
    gate = mm.gate_vma
    if gate is not None:
        lines.append(vma_line(gate[0], gate[1], gate[2], 0, (0, 0), 0, "[vsyscall]"))
    return "".join(lines)


def task_mem(mm, rss_anon=0, rss_file=0, rss_shmem=0, swap=0, pgtables_bytes=0, hiwater_rss=0):
    """The memory lines of /proc/pid/status, formatted as task_mem does."""
    total_vm = mm.total_vm
    hiwater_vm = max(total_vm, mm.hiwater_vm)
    total_rss = rss_anon + rss_file + rss_shmem
    hiwater_rss = max(total_rss, hiwater_rss)
    text = ((mm.end_code + ~PAGE_MASK) & PAGE_MASK) - (mm.start_code & PAGE_MASK)
    text = min(text, mm.exec_vm << PAGE_SHIFT)
    lib = (mm.exec_vm << PAGE_SHIFT) - text
    kb = 1 << (PAGE_SHIFT - 10)

    def line(key, value_kb):
        return f"{key}:\t{value_kb:8d} kB\n"
    return "".join([
        line("VmPeak", hiwater_vm * kb), line("VmSize", total_vm * kb),
        line("VmLck", mm.locked_vm * kb), line("VmPin", mm.pinned_vm * kb),
        line("VmHWM", hiwater_rss * kb), line("VmRSS", total_rss * kb),
        line("RssAnon", rss_anon * kb), line("RssFile", rss_file * kb),
        line("RssShmem", rss_shmem * kb), line("VmData", mm.data_vm * kb),
        line("VmStk", mm.stack_vm * kb), line("VmExe", text >> 10), line("VmLib", lib >> 10),
        line("VmPTE", pgtables_bytes >> 10), line("VmSwap", swap * kb),
    ])


def render_status(process):
    mm = process.mm
    head = (f"Name:\t{process.comm}\nUmask:\t0022\nState:\tR (running)\nTgid:\t{process.pid}\n"
            f"Ngid:\t0\nPid:\t{process.pid}\nPPid:\t{process.ppid}\n")
    return head + task_mem(mm, **process.rss_counters()) + "HugetlbPages:\t       0 kB\n"
