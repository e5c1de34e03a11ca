"""Address-space layout and its randomization (arch/x86/mm/mmap.c, fs/binfmt_elf.c,
arch/x86/kernel/process.c, mm/util.c).  Random numbers come from the Kernel's seeded generator,
so a layout with randomize_va_space=2 is reproducible from the seed."""
import random

from .arch import X86_64
from .constants import PAGE_SHIFT, PAGE_SIZE, RLIMIT_STACK_DEFAULT, STACK_GUARD_GAP, page_align

MMAP_RND_BITS = X86_64.mmap_rnd_bits      # vm.mmap_rnd_bits default on x86_64 (i386: 8)
STACK_RND_MASK = X86_64.stack_rnd_mask    # 64-bit tasks: 16 GiB of stack randomization
U64 = (1 << 64) - 1


class KernelRandom:
    """get_random_long & co. from a seeded generator."""

    def __init__(self, seed):
        self._rng = random.Random(seed)

    def get_random_long(self):
        return self._rng.getrandbits(64)

    def get_random_u32_below(self, ceil):
        return self._rng.randrange(ceil)


def arch_mmap_rnd(rng, arch=X86_64):
    """arch_rnd(mmap_rnd_bits): 28 bits on x86_64, 8 on i386."""
    return (rng.get_random_long() & ((1 << arch.mmap_rnd_bits) - 1)) << PAGE_SHIFT


def mmap_base(rnd, randomize, rlim_stack=RLIMIT_STACK_DEFAULT, arch=X86_64):
    """arch/x86/mm/mmap.c mmap_base(rnd, task_size, rlim_stack).  i386 without randomization:
    gap = 8 MiB + 1 MiB guard -> clamped up to 128 MiB -> 0xC0000000 - 0x8000000 = 0xB8000000."""
    task_size = arch.task_size
    gap = rlim_stack
    pad = STACK_GUARD_GAP + ((arch.stack_rnd_mask << PAGE_SHIFT) if randomize else 0)
    if gap + pad <= arch.long_mask:
        gap += pad
    gap_min = 128 << 20
    gap_max = (task_size // 6) * 5
    gap = min(max(gap, gap_min), gap_max)
    return page_align(task_size - gap - rnd)


def arch_pick_mmap_layout(mm, randomize, rng):
    arch = mm.arch
    rnd = arch_mmap_rnd(rng, arch) if randomize else 0
    mm.mmap_legacy_base = arch.task_unmapped_base + rnd
    mm.mmap_base = mmap_base(rnd, randomize, arch=arch)
    mm.topdown = True


def randomize_stack_top(stack_top, randomize, rng, arch=X86_64):
    random_variable = 0
    if randomize:
        random_variable = (rng.get_random_long() & arch.stack_rnd_mask) << PAGE_SHIFT
    return page_align(stack_top) - random_variable


def arch_align_stack(sp, randomize, rng):
    if randomize:
        sp -= rng.get_random_u32_below(8192)
    return sp & ~0xf


def randomize_page(start, range_):
    """mm/util.c: randomize_page (the caller supplies the random long)."""
    def pick(rng):
        s, r = start, range_
        if s & (PAGE_SIZE - 1):
            r -= page_align(s) - s
            s = page_align(s)
        if s > U64 - r:
            r = U64 - s
        r >>= PAGE_SHIFT
        if r == 0:
            return s
        return s + ((rng.get_random_long() % r) << PAGE_SHIFT)
    return pick


def arch_randomize_brk(brk, rng, arch=X86_64):
    """arch/x86/kernel/process.c: 32 MiB of brk randomization for ia32, 1 GiB otherwise."""
    return randomize_page(brk, (1 << 25) if arch.elf_class == 1 else (1 << 30))(rng)
