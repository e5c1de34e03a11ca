"""Per-architecture values of a process's address space.  Every mm carries one (``mm.arch``);
``mm.task_size`` is ``mm.arch.task_size``.

x86_64 (4-level paging):  arch/x86/include/asm/page_64_types.h, processor.h, elf.h.
i386 with CONFIG_X86_PAE and CONFIG_VMSPLIT_3G (native 32-bit kernel, no IA32 emulation):
  * TASK_SIZE = TASK_SIZE_MAX = DEFAULT_MAP_WINDOW = STACK_TOP = PAGE_OFFSET = 0xC0000000
    (page_32_types.h, processor.h);
  * TASK_UNMAPPED_BASE = PAGE_ALIGN(TASK_SIZE / 3) = 0x40000000 (__TASK_UNMAPPED_BASE);
  * mmap_rnd_bits = CONFIG_ARCH_MMAP_RND_BITS = ARCH_MMAP_RND_BITS_MIN = 8 (arch/x86/Kconfig,
    "default 8" without 64BIT), STACK_RND_MASK = 0x7ff (elf.h, CONFIG_X86_32);
  * ELF_ET_DYN_BASE = 0x400000 (elf.h: mmap_is_ia32() ? 0x000400000UL : ...);
  * no [vsyscall] gate (CONFIG_X86_64 only); the 32-bit vDSO (vdso_image_32, map_vdso(.., 0)
    from load_vdso32) has the same [vvar] 4 / [vvar_vclock] 2 / [vdso] 2 pages as the host's
    compat run shows;
  * PAE page tables: 3 levels (PGD of 4 entries -> PMD -> PTE, 9 bits each below the PGD).
"""

PAGE_SIZE = 4096
PAGE_MASK = ~(PAGE_SIZE - 1)


class VmArch:
    """The constants arch/x86 derives from TASK_SIZE and the ELF class of an architecture."""

    def __init__(self, name, *, task_size, mmap_rnd_bits, stack_rnd_mask, elf_et_dyn_base,
                 vsyscall, elf_class, e_machine, levels, user_top, page_offset, platform,
                 word):
        self.name = name
        self.task_size = task_size
        self.default_map_window = task_size
        self.stack_top = task_size
        self.task_unmapped_base = (task_size // 3 + PAGE_SIZE - 1) & PAGE_MASK
        self.mmap_rnd_bits = mmap_rnd_bits
        self.stack_rnd_mask = stack_rnd_mask
        self.elf_et_dyn_base = elf_et_dyn_base
        self.vsyscall = vsyscall
        self.elf_class = elf_class          # 2: ELFCLASS64, 1: ELFCLASS32
        self.e_machine = e_machine
        self.levels = levels                # page-table levels of the MMU
        self.user_top = user_top            # what the user part of the PGD maps
        self.page_offset = page_offset      # the kernel's direct (lowmem) map
        self.platform = platform            # AT_PLATFORM string
        self.word = word                    # sizeof(unsigned long)
        self.long_mask = (1 << (8 * word)) - 1

    def __repr__(self):
        return f"<VmArch {self.name}>"


X86_64 = VmArch("x86_64", task_size=(1 << 47) - PAGE_SIZE, mmap_rnd_bits=28,
                stack_rnd_mask=0x3fffff, elf_et_dyn_base=((1 << 47) - PAGE_SIZE) // 3 * 2,
                vsyscall=True, elf_class=2, e_machine=62, levels=4, user_top=1 << 47,
                page_offset=0xffff888000000000, platform=b"x86_64\0", word=8)
I386 = VmArch("i386", task_size=0xC0000000, mmap_rnd_bits=8, stack_rnd_mask=0x7ff,
              elf_et_dyn_base=0x400000, vsyscall=False, elf_class=1, e_machine=3, levels=3,
              user_top=0xC0000000, page_offset=0xC0000000, platform=b"i686\0", word=4)
ARCHES = {"x86_64": X86_64, "i386": I386}


def vm_arch(kernel):
    """The VmArch of a Kernel (x86_64 without one)."""
    return ARCHES.get(getattr(kernel, "arch", "x86_64"), X86_64)
