"""fork's address-space half (kernel/fork.c: dup_mm, dup_mmap; mm/rmap.c: anon_vma_fork)."""
from .constants import (VM_ACCOUNT, VM_DONTCOPY, VM_LOCKED, VM_LOCKONFAULT, VM_NOHUGEPAGE,
                        VM_WIPEONFORK)
from .pagewalk import copy_page_range, vma_needs_copy
from .mmu_defs import MM_HIWATER_RSS
from .vma import AnonVma

# mm_struct fields dup_mm copies (memcpy) and mm_init leaves alone
_COPIED = ("task_size", "mmap_base", "mmap_legacy_base", "topdown", "def_flags", "total_vm",
           "data_vm", "exec_vm", "stack_vm", "hiwater_vm", "start_code", "end_code",
           "start_data", "end_data", "start_brk", "brk", "start_stack", "arg_start", "arg_end",
           "env_start", "env_end", "brk_randomized", "gate_vma", "capable_sys_rawio",
           "_max_map_count")


def anon_vma_fork(src):
    """The child's VMA gets an anon_vma of its own, chained under the parent's."""
    anon = AnonVma()
    anon.parent = src.anon_vma
    anon.degree = 1
    return anon


def dup_mmap(mm, oldmm):
    """Copy oldmm's VMAs (and the PTEs of those that need it) into the fresh mm.  Raises
    OSError(ENOMEM) when the commit charge of the VM_ACCOUNT VMAs is refused; mm is then
    torn down by the caller."""
    for name in _COPIED:
        setattr(mm, name, getattr(oldmm, name))
    mm.counters[MM_HIWATER_RSS] = oldmm.counters[MM_HIWATER_RSS]
    mm.def_flags = oldmm.def_flags & VM_NOHUGEPAGE   # mm_init: VM_INIT_DEF_MASK (no mlockall)
    for vma in list(oldmm.tree):
        flags = vma.vm_flags
        pages = vma.pages
        if flags & VM_DONTCOPY:
            mm.vm_stat_account(flags, -pages)
            continue
        if flags & VM_ACCOUNT:
            mm.vm_enough_memory(pages)
        tmp = vma.dup()
        tmp.vm_mm = mm
        tmp.vm_flags = flags & ~(VM_LOCKED | VM_LOCKONFAULT)
        if flags & VM_WIPEONFORK or vma.anon_vma is None:
            tmp.anon_vma = None
            tmp.anon_vma_chain = 0
        else:
            tmp.anon_vma = anon_vma_fork(vma)
            tmp.anon_vma_chain = vma.anon_vma_chain + 1
        mm.tree.insert(tmp)
        ops = tmp.vm_ops
        if ops is not None and ops.open is not None:
            ops.open(tmp)
        if not flags & VM_WIPEONFORK and vma_needs_copy(vma):
            copy_page_range(mm, oldmm, vma)
