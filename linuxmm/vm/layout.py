"""Address-space layout and its randomization (arch/x86/mm/mmap.c, fs/binfmt_elf.c,
arch/x86/kernel/process.c, mm/util.c).  Random numbers come from the Kernel's seeded generator,
so a layout with randomize_va_space=2 is reproducible from the seed."""
import random

from .constants import (PAGE_SHIFT, PAGE_SIZE, RLIMIT_STACK_DEFAULT, STACK_GUARD_GAP, TASK_SIZE,
                        TASK_UNMAPPED_BASE, page_align)

MMAP_RND_BITS = 28                 # vm.mmap_rnd_bits default on x86_64
STACK_RND_MASK = 0x3fffff          # 64-bit tasks: 16 GiB of stack randomization
U64 = (1 << 64) - 1


class KernelRandom:
    """get_random_long & co. from a seeded generator."""

    def __init__(self, seed):
        self._rng = random.Random(seed)

    def get_random_long(self):
        return self._rng.getrandbits(64)

    def get_random_u32_below(self, ceil):
        return self._rng.randrange(ceil)


def arch_mmap_rnd(rng):
    return (rng.get_random_long() & ((1 << MMAP_RND_BITS) - 1)) << PAGE_SHIFT


def mmap_base(rnd, randomize, rlim_stack=RLIMIT_STACK_DEFAULT):
    gap = rlim_stack
    pad = STACK_GUARD_GAP + ((STACK_RND_MASK << PAGE_SHIFT) if randomize else 0)
    if gap + pad <= U64:
        gap += pad
    gap_min = 128 << 20
    gap_max = (TASK_SIZE // 6) * 5
    gap = min(max(gap, gap_min), gap_max)
    return page_align(TASK_SIZE - gap - rnd)


def arch_pick_mmap_layout(mm, randomize, rng):
    rnd = arch_mmap_rnd(rng) if randomize else 0
    mm.mmap_legacy_base = TASK_UNMAPPED_BASE + rnd
    mm.mmap_base = mmap_base(rnd, randomize)
    mm.topdown = True


def randomize_stack_top(stack_top, randomize, rng):
    random_variable = 0
    if randomize:
        random_variable = (rng.get_random_long() & STACK_RND_MASK) << PAGE_SHIFT
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


def arch_randomize_brk(brk, rng):
    return randomize_page(brk, 1 << 30)(rng)
