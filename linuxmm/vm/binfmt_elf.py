"""execve of a real ELF executable: fs/exec.c (bprm_mm_init, copy_strings, setup_arg_pages)
and fs/binfmt_elf.c (load_elf_binary, elf_load, elf_map, load_elf_interp), plus the vDSO
(arch/x86/entry/vdso/vma.c: map_vdso) and the vsyscall gate VMA."""
import errno
import os
import stat
import struct

from ..errors import BusError, SegmentationFault
from .brk import vm_brk_flags
from .arch import X86_64
from .constants import (MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_PRIVATE, PAGE_MASK,
                        PAGE_SHIFT, PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE,
                        RLIMIT_STACK_DEFAULT, VM_ACCOUNT, VM_DONTDUMP,
                        VM_DONTEXPAND, VM_EXEC, VM_GROWSDOWN, VM_IO, VM_MAYEXEC, VM_MAYREAD,
                        VM_MAYWRITE, VM_PFNMAP, VM_READ, VM_STACK_DEFAULT_FLAGS, VSYSCALL_ADDR,
                        page_align)
from .layout import (arch_align_stack, arch_mmap_rnd, arch_pick_mmap_layout, arch_randomize_brk,
                     randomize_stack_top)
from .arch import vm_arch
from .mm import oserror
from .mmap import vm_mmap_pgoff
from .unmapped_area import get_unmapped_area
from .vma import VmArea, special_mapping_ops

ET_EXEC, ET_DYN = 2, 3
PT_LOAD, PT_INTERP, PT_GNU_STACK = 1, 3, 0x6474e551
PF_X, PF_W, PF_R = 1, 2, 4
EM_X86_64 = 62
EM_386, EM_486 = 3, 6
VDSO_TEXT_PAGES = 2                  # vdso_image_64.size
VVAR_PAGES = 4                       # [vvar]: the generic vDSO data pages
VCLOCK_PAGES = 2                     # [vvar_vclock]
U64 = (1 << 64) - 1

VVAR_OPS = special_mapping_ops("[vvar]")
VCLOCK_OPS = special_mapping_ops("[vvar_vclock]")
VDSO_OPS = special_mapping_ops("[vdso]", mremap=True)


# (ELF class, header layout, program header layout and size): ELF64 for x86_64, ELF32 for i386
_ELF64 = (2, "<HHIQQQIHHH", 56)
_ELF32 = (1, "<HHIIIIIHHH", 32)


def _phdr32(p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, p_align):
    return Phdr(p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align)


def elf_check_arch(machine, arch):
    """elf_check_arch: EM_X86_64 on x86_64; EM_386 or EM_486 on i386 (elf_check_arch_ia32).
    linuxmm's x86_64 kernel has no IA32 emulation (compat_binfmt_elf): ELF32 gives ENOEXEC."""
    if arch.elf_class == 1:
        return machine in (EM_386, EM_486)
    return machine == EM_X86_64


class ElfImage:
    """The parts of a little-endian ELF file the loader reads: ELF64 x86_64 or, for an i386
    kernel (arch=linuxmm.vm.arch.I386), ELF32 i386.  Anything else is ENOEXEC."""

    def __init__(self, file, arch=X86_64):
        head = file.read(0, 64)
        if len(head) < 52 or head[:4] != b"\x7fELF":
            raise oserror(errno.ENOEXEC)
        elf_class, header, phsize = _ELF64 if arch.elf_class == 2 else _ELF32
        if head[4] != elf_class or head[5] != 1 or len(head) < struct.calcsize(header) + 16:
            raise oserror(errno.ENOEXEC)
        (self.e_type, machine, _, self.e_entry, self.e_phoff, _, _, _, phentsize,
         phnum) = struct.unpack_from(header, head, 16)
        if self.e_type not in (ET_EXEC, ET_DYN) or not elf_check_arch(machine, arch):
            raise oserror(errno.ENOEXEC)
        if phentsize != phsize or not 1 <= phnum <= 65536 // phsize:
            raise oserror(errno.ENOEXEC)
        table = file.read(self.e_phoff, phentsize * phnum)
        if len(table) != phentsize * phnum:
            raise oserror(errno.EIO)
        self.e_phnum = phnum
        if elf_class == 2:
            self.phdrs = [Phdr(*struct.unpack_from("<IIQQQQQQ", table, i * 56))
                          for i in range(phnum)]
        else:
            self.phdrs = [_phdr32(*struct.unpack_from("<IIIIIIII", table, i * 32))
                          for i in range(phnum)]
        self.interp = None
        self.exec_stack = None
        for ph in self.phdrs:
            if ph.p_type == PT_INTERP and self.interp is None:
                # load_elf_binary: a NUL-terminated path of 2..PATH_MAX bytes, else ENOEXEC;
                # the bytes are the path as they are (os.fsdecode: any bytes, no UTF-8 needed)
                if not 2 <= ph.p_filesz <= 4096:
                    raise oserror(errno.ENOEXEC)
                raw = file.read(ph.p_offset, ph.p_filesz)
                if len(raw) != ph.p_filesz:
                    raise oserror(errno.EIO)
                if raw[-1] != 0:
                    raise oserror(errno.ENOEXEC)
                self.interp = os.fsdecode(raw.split(b"\0", 1)[0])
            elif ph.p_type == PT_GNU_STACK:
                self.exec_stack = bool(ph.p_flags & PF_X)

    def total_mapping_size(self):
        loads = [ph for ph in self.phdrs if ph.p_type == PT_LOAD]
        if not loads:
            return 0
        return loads[-1].p_vaddr + loads[-1].p_memsz - (loads[0].p_vaddr & PAGE_MASK)

    def maximum_alignment(self):
        alignment = 0
        for ph in self.phdrs:
            if ph.p_type == PT_LOAD and ph.p_align and not ph.p_align & (ph.p_align - 1):
                alignment = max(alignment, ph.p_align)
        return page_align(alignment)


class Phdr:
    __slots__ = ("p_type", "p_flags", "p_offset", "p_vaddr", "p_paddr", "p_filesz", "p_memsz",
                 "p_align")

    def __init__(self, p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align):
        self.p_type, self.p_flags, self.p_offset = p_type, p_flags, p_offset
        self.p_vaddr, self.p_paddr, self.p_filesz = p_vaddr, p_paddr, p_filesz
        self.p_memsz, self.p_align = p_memsz, p_align


def make_prot(p_flags):
    prot = 0
    if p_flags & PF_R:
        prot |= PROT_READ
    if p_flags & PF_W:
        prot |= PROT_WRITE
    if p_flags & PF_X:
        prot |= PROT_EXEC
    return prot


def _bad_addr(mm, value):
    return value >= mm.task_size


def _vm_mmap(mm, file, addr, length, prot, flags, offset):
    if offset & ~PAGE_MASK:
        raise oserror(errno.EINVAL)
    return vm_mmap_pgoff(mm, file, addr, length, prot, flags, offset >> PAGE_SHIFT)


def elf_map(mm, file, addr, ph, prot, type_, total_size):
    size = ph.p_filesz + (ph.p_vaddr & ~PAGE_MASK)
    off = ph.p_offset - (ph.p_vaddr & ~PAGE_MASK)
    addr &= PAGE_MASK
    size = page_align(size)
    if not size:
        return addr
    if total_size:
        total_size = page_align(total_size)
        map_addr = _vm_mmap(mm, file, addr, total_size, prot, type_, off)
        if total_size > size:
            mm.do_munmap(map_addr + size, total_size - size)
        return map_addr
    return _vm_mmap(mm, file, addr, size, prot, type_, off)


def elf_load(process, file, addr, ph, prot, type_, total_size):
    mm = process.mm
    if ph.p_filesz:
        map_addr = elf_map(mm, file, addr, ph, prot, type_, total_size)
        zero_start = map_addr + (ph.p_vaddr & ~PAGE_MASK) + ph.p_filesz
        zero_end = map_addr + (ph.p_vaddr & ~PAGE_MASK) + ph.p_memsz
        if ph.p_memsz > ph.p_filesz and zero_start & ~PAGE_MASK and prot & PROT_WRITE:
            try:
                process.touch(zero_start, write=True)        # padzero: clear_user() faults
            except (BusError, SegmentationFault):
                # clear_user() fails (a page beyond the file's end: SIGBUS in the fault
                # handler, or nothing mapped): padzero() != 0 and the segment is writable
                raise oserror(errno.EFAULT) from None
    else:
        map_addr = zero_start = addr & PAGE_MASK
        zero_end = zero_start + (ph.p_vaddr & ~PAGE_MASK) + ph.p_memsz
    if ph.p_memsz > ph.p_filesz:
        zero_start = page_align(zero_start)
        zero_end = page_align(zero_end)
        vm_brk_flags(mm, zero_start, zero_end - zero_start, VM_EXEC if prot & PROT_EXEC else 0)
    return map_addr


def load_elf_interp(process, image, file, no_base):
    load_addr = 0
    load_addr_set = False
    total_size = image.total_mapping_size()
    if not total_size:
        raise oserror(errno.EINVAL)
    for ph in image.phdrs:
        if ph.p_type != PT_LOAD:
            continue
        elf_type = MAP_PRIVATE
        vaddr = ph.p_vaddr
        if image.e_type == ET_EXEC or load_addr_set:
            elf_type |= MAP_FIXED
        elif no_base and image.e_type == ET_DYN:
            load_addr = -vaddr
        map_addr = elf_load(process, file, (load_addr + vaddr) & U64, ph, make_prot(ph.p_flags),
                            elf_type, total_size)
        total_size = 0
        if not load_addr_set and image.e_type == ET_DYN:
            load_addr = map_addr - (vaddr & PAGE_MASK)
            load_addr_set = True
    return load_addr


def copy_strings_size(filename, argv, envp):
    """Bytes the argument strings take at the top of the new stack (copy_string_kernel +
    copy_strings), NUL terminators included."""
    def size(s):
        return len(s.encode() if isinstance(s, str) else bytes(s)) + 1
    return size(filename) + sum(size(e) for e in envp) + sum(size(a) for a in argv or [""])


def setup_stack(process, filename, argv, envp, randomize, exec_stack):
    """bprm_mm_init + copy_strings + setup_arg_pages: the [stack] VMA."""
    mm = process.mm
    rng = process.kernel.vm_random
    arch = mm.arch
    p = arch.stack_top - arch.word - copy_strings_size(filename, argv, envp)   # STACK_TOP_MAX
    vm_end = arch.stack_top
    vm_start = min(p & PAGE_MASK, vm_end - PAGE_SIZE)
    stack_top = randomize_stack_top(arch.stack_top, randomize, rng, arch)
    stack_top = arch_align_stack(stack_top, randomize, rng)
    stack_top = page_align(stack_top)
    shift = vm_end - stack_top
    vm_start -= shift
    vm_end -= shift
    p -= shift
    mm.arg_start = p
    stack_size = vm_end - vm_start
    rlim_stack = RLIMIT_STACK_DEFAULT & PAGE_MASK
    stack_base = vm_end - min(rlim_stack, stack_size + 131072)
    flags = VM_GROWSDOWN | VM_STACK_DEFAULT_FLAGS | VM_ACCOUNT | mm.def_flags
    if exec_stack:
        flags |= VM_EXEC
    pages = (vm_end - stack_base) >> PAGE_SHIFT
    mm.vm_enough_memory(pages)
    vma = VmArea(mm, stack_base, vm_end, flags, (1 - pages) & U64)
    mm.tree.insert(vma)
    mm.vm_stat_account(flags, pages)
    mm.start_stack = p
    return p


# create_elf_tables on x86_64, 6.18: ARCH_DLINFO (AT_SYSINFO_EHDR, AT_MINSIGSTKSZ), 15 generic
# entries, AT_HWCAP2, AT_RSEQ_FEATURE_SIZE, AT_RSEQ_ALIGN, AT_EXECFN, AT_PLATFORM, AT_NULL;
# i386's ARCH_DLINFO_IA32 adds AT_SYSINFO (the vDSO entry)
AUXV_ENTRIES = 2 + 15 + 1 + 2 + 1 + 1 + 1
ELF_PLATFORM = b"x86_64\0"


def create_elf_tables(process, argc, envc, randomize):
    """The stack pointer after argc, argv, envp and auxv are pushed below the strings; the
    stack VMA is extended down to it when they do not fit in the 128 KiB setup_arg_pages left
    (find_extend_vma)."""
    mm = process.mm
    arch = mm.arch
    auxv = AUXV_ENTRIES + (0 if arch.vsyscall else 1)
    p = arch_align_stack(mm.arg_start, randomize, process.kernel.vm_random)
    p -= len(arch.platform)
    p -= 16                                               # AT_RANDOM bytes
    sp = p - 2 * auxv * arch.word
    items = (argc + 1) + (envc + 1) + 1
    sp = (sp - items * arch.word) & ~15
    vma = mm.find_vma(sp)
    new_start = sp & PAGE_MASK
    if vma is not None and vma.vm_flags & VM_GROWSDOWN and new_start < vma.vm_start:
        grow = (vma.vm_start - new_start) >> PAGE_SHIFT
        mm.vm_enough_memory(grow)
        mm.tree.set_start(vma, new_start)
        vma.vm_pgoff = (vma.vm_pgoff - grow) & U64
        mm.vm_stat_account(vma.vm_flags, grow)
    mm.start_stack = sp
    return sp


def map_vdso(mm):
    """map_vdso(&vdso_image_64, 0): [vvar], [vvar_vclock] and [vdso], placed top-down."""
    size = (VVAR_PAGES + VCLOCK_PAGES + VDSO_TEXT_PAGES) * PAGE_SIZE
    addr = get_unmapped_area(mm, None, 0, size, 0, 0)
    if addr < 0:
        raise oserror(-addr)
    text = addr + (VVAR_PAGES + VCLOCK_PAGES) * PAGE_SIZE
    _install_special_mapping(mm, text, VDSO_TEXT_PAGES * PAGE_SIZE,
                             VM_READ | VM_EXEC | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC, VDSO_OPS)
    vvar_flags = VM_READ | VM_MAYREAD | VM_IO | VM_DONTDUMP | VM_PFNMAP
    _install_special_mapping(mm, addr, VVAR_PAGES * PAGE_SIZE, vvar_flags, VVAR_OPS)
    _install_special_mapping(mm, addr + VVAR_PAGES * PAGE_SIZE, VCLOCK_PAGES * PAGE_SIZE,
                             vvar_flags, VCLOCK_OPS)
    return text


def _install_special_mapping(mm, addr, length, flags, ops):
    flags |= mm.def_flags | VM_DONTEXPAND
    vma = VmArea(mm, addr, addr + length, flags, 0, None, ops)
    mm.tree.insert(vma)
    mm.vm_stat_account(flags, length >> PAGE_SHIFT)
    return vma


def may_exec_host(kernel, path):
    """may_open/do_open_execat for a host file: a directory or other non-regular file, or a file
    without any execute bit, gives EACCES (simulated files carry no mode)."""
    inode = kernel.fs.inodes.get(path)
    if inode is not None and inode.host_path is None:
        return
    if inode is not None and inode.host_mode is not None:
        mode = inode.host_mode                   # imported: the mode it had then
    else:
        try:
            mode = kernel.fs.host_lookup(path)[2].st_mode
        except OSError:
            return                               # open reports ENOENT & co.
    if not stat.S_ISREG(mode) or not mode & 0o111:
        raise oserror(errno.EACCES)


MAX_ARG_STRINGS = 0x7FFFFFFF
MAX_ARG_STRLEN = 32 * PAGE_SIZE
ARG_MAX = 32 * PAGE_SIZE


def copy_strings_arg(strings, name):
    """do_execveat_common's count() + copy_strings() of argv or envp, before anything changes:
    None is NULL (no strings); else a list or tuple of str or bytes without NUL bytes.
    ArgumentTypeError for other types, E2BIG for a string over MAX_ARG_STRLEN."""
    from ..errors import ArgumentTypeError
    if strings is None:
        return []
    if not isinstance(strings, (list, tuple)):
        raise ArgumentTypeError(f"{name} must be a list of str or bytes, "
                                f"not {type(strings).__name__}")
    out = []
    for s in strings:
        if isinstance(s, str):
            b = os.fsencode(s)
        elif isinstance(s, (bytes, bytearray)):
            b = bytes(s)
        else:
            raise ArgumentTypeError(f"{name} items must be str or bytes, not {type(s).__name__}")
        if b"\0" in b:
            raise ValueError(f"{name} item contains a NUL byte: {s!r}")
        if len(b) + 1 > MAX_ARG_STRLEN:
            raise oserror(errno.E2BIG)
        out.append(b)
    if len(out) > MAX_ARG_STRINGS:
        raise oserror(errno.E2BIG)
    return out


def check_arg_limits(kernel, filename, argv, envp):
    """bprm_stack_limits: the strings and their pointers fit in a quarter of RLIMIT_STACK
    (at least ARG_MAX, at most 3/4 of _STK_LIM): else E2BIG."""
    limit = min(RLIMIT_STACK_DEFAULT // 4 * 3, getattr(kernel, "rlimit_stack", 8 << 20) // 4)
    limit = max(limit, ARG_MAX)
    ptr_size = (max(len(argv), 1) + len(envp)) * 8
    if ptr_size > limit:
        raise oserror(errno.E2BIG)
    if copy_strings_size(filename, argv, envp) > limit - ptr_size:
        raise oserror(errno.E2BIG)


def execve(process, path, argv, envp):
    """Replace the process's address space with the ELF program at `path` (a simulated file or
    a host file; a relative path resolves against "/").  Returns the entry point (the
    interpreter's when there is one).  Everything that can fail before the point of no
    return (path, argv and envp, the file, its ELF headers and interpreter) is checked
    before the old address space goes: such a failure changes nothing."""
    from .files import resolve_path
    kernel = process.kernel
    path = resolve_path(path)
    argv = copy_strings_arg(argv, "argv")
    envp = copy_strings_arg(envp, "envp")
    check_arg_limits(kernel, path, argv, envp)
    if not argv and not getattr(kernel, "_null_argv_warned", False):     # pr_warn_once
        kernel._null_argv_warned = True
        kernel.printk(f"process '{process.comm}' launched '{path}' with NULL argv: empty "
                      f"string added", 4)
    may_exec_host(kernel, path)
    file = kernel.open(path)
    arch = process.mm.arch if process.mm is not None else vm_arch(kernel)
    image = ElfImage(file, arch)
    interp_file = interp_image = None
    if image.interp is not None:
        interp_file = kernel.open(image.interp)
        interp_image = ElfImage(interp_file, arch)
    randomize = kernel.randomize_va_space != 0
    rng = kernel.vm_random
    # begin_new_exec: the old mm goes away; setup_new_exec picks the layout
    mm = process.new_mm(pick_layout=False)
    process.comm = os.path.basename(path)[:15]
    process.exe = file
    arch_pick_mmap_layout(mm, randomize, rng)
    setup_stack(process, path, argv, envp, randomize, image.exec_stack)

    load_bias = 0
    first = True
    start_code, end_code, start_data, end_data, elf_brk = U64, 0, 0, 0, 0
    for ph in image.phdrs:
        if ph.p_type != PT_LOAD:
            continue
        prot = make_prot(ph.p_flags)
        elf_flags = MAP_PRIVATE
        vaddr = ph.p_vaddr
        total_size = 0
        if not first:
            elf_flags |= MAP_FIXED
        elif image.e_type == ET_EXEC:
            elf_flags |= MAP_FIXED_NOREPLACE
        else:
            total_size = image.total_mapping_size()
            if not total_size:
                raise oserror(errno.EINVAL)
            alignment = image.maximum_alignment()
            if interp_image is not None:
                load_bias = arch.elf_et_dyn_base
                if randomize:
                    load_bias += arch_mmap_rnd(rng, arch)
                if alignment:
                    load_bias &= ~(alignment - 1)
                elf_flags |= MAP_FIXED_NOREPLACE
            elif alignment > PAGE_SIZE:
                load_bias = elf_load(process, file, 0, ph, prot, elf_flags, total_size)
                mm.do_munmap(load_bias, page_align(total_size))
                load_bias &= ~(alignment - 1)
                elf_flags |= MAP_FIXED_NOREPLACE
            else:
                load_bias = 0
            load_bias = (load_bias - vaddr) & PAGE_MASK & U64
        error = elf_load(process, file, (load_bias + vaddr) & U64, ph, prot, elf_flags, total_size)
        if first:
            first = False
            if image.e_type == ET_DYN:
                load_bias += error - ((load_bias + vaddr) & PAGE_MASK & U64)
                load_bias &= U64
        k = ph.p_vaddr
        if ph.p_flags & PF_X and k < start_code:
            start_code = k
        if start_data < k:
            start_data = k
        if _bad_addr(mm, k) or ph.p_filesz > ph.p_memsz or mm.task_size - ph.p_memsz < k:
            raise oserror(errno.EINVAL)
        k = ph.p_vaddr + ph.p_filesz
        if ph.p_flags & PF_X and end_code < k:
            end_code = k
        if end_data < k:
            end_data = k
        k = ph.p_vaddr + ph.p_memsz
        if k > elf_brk:
            elf_brk = k
    e_entry = (image.e_entry + load_bias) & U64
    elf_brk = (elf_brk + load_bias) & U64
    start_code = (start_code + load_bias) & U64
    end_code = (end_code + load_bias) & U64
    start_data = (start_data + load_bias) & U64
    end_data = (end_data + load_bias) & U64

    entry = e_entry
    if interp_image is not None:
        interp_load_addr = load_elf_interp(process, interp_image, interp_file, load_bias)
        entry = (interp_load_addr + interp_image.e_entry) & U64
    map_vdso(mm)
    if arch.vsyscall:                     # CONFIG_X86_VSYSCALL_EMULATION: x86_64 only
        mm.gate_vma = (VSYSCALL_ADDR, VSYSCALL_ADDR + PAGE_SIZE, VM_EXEC)
    create_elf_tables(process, max(len(argv), 1), len(envp), randomize)

    mm.start_code, mm.end_code = start_code, end_code
    mm.start_data, mm.end_data = start_data, end_data
    brk_moved = False
    if image.e_type == ET_DYN and interp_image is None:
        elf_brk = arch.elf_et_dyn_base
        brk_moved = True
    mm.start_brk = mm.brk = page_align(elf_brk)
    if randomize and kernel.randomize_va_space > 1:
        if not brk_moved:
            mm.start_brk = mm.brk = mm.brk + PAGE_SIZE
        mm.start_brk = mm.brk = arch_randomize_brk(mm.brk, rng, arch)
        brk_moved = True
    mm.brk_randomized = brk_moved
    return entry


__all__ = ["execve", "ElfImage", "map_vdso", "setup_stack"]
