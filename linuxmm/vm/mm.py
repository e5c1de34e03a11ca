"""mm_struct and the VMA-level primitives of mm/vma.c: merge, split, munmap, anon_vma_prepare.

The syscalls (mmap.py, mprotect.py, mremap.py, brk.py, madvise.py) are built from these.
Errors are raised as OSError carrying the errno the kernel returns.
"""
import errno
import os

import numpy as np

from .._ffi import ffi, lib
from ..errors import InvariantError
from .arch import vm_arch
from .constants import (DEFAULT_MAX_MAP_COUNT, PAGE_MASK, PAGE_SHIFT, PAGE_SIZE,
                        VM_ACCESS_FLAGS, VM_ACCOUNT, VM_EXEC, VM_LOCKED, VM_SHARED,
                        VM_SOFTDIRTY, VM_SPECIAL, VM_STACK, VM_WRITE)
from .mmu_defs import MM_PGTABLES_BYTES, NR_MM_COUNTERS
from .tree import VmaTree
from .vma import AnonVma


_lmm_vma_find_bulk = lib.lmm_vma_find_bulk
_lmm_vma_lookup_bulk = lib.lmm_vma_lookup_bulk
_from_buffer = ffi.from_buffer

_U64 = (1 << 64) - 1


def find_vma_bulk_numpy(starts, ends, addrs):
    """The pure twin of lmm_vma_find_bulk."""
    if not len(starts):
        return np.full(addrs.shape, -1, dtype=np.int64)
    idx = np.searchsorted(ends, addrs, side="right")
    return np.where(idx < len(starts), starts[np.minimum(idx, len(starts) - 1)], -1)


def vma_lookup_bulk_numpy(starts, ends, addrs):
    """The pure twin of lmm_vma_lookup_bulk."""
    if not len(starts):
        return np.full(addrs.shape, -1, dtype=np.int64)
    idx = np.searchsorted(ends, addrs, side="right")
    safe = np.minimum(idx, len(starts) - 1)
    return np.where((idx < len(starts)) & (starts[safe] <= addrs), starts[safe], -1)


def oserror(code):
    return OSError(code, os.strerror(code))


def is_exec_mapping(flags):
    return (flags & (VM_EXEC | VM_WRITE | VM_STACK)) == VM_EXEC


def is_stack_mapping(flags):
    return (flags & VM_STACK) == VM_STACK


def is_data_mapping(flags):
    return (flags & (VM_WRITE | VM_SHARED | VM_STACK)) == VM_WRITE


def _had_uncowed_parents(vma):
    return vma is not None and vma.anon_vma is not None and vma.anon_vma_chain > 1


def _anon_compatible(tgt, src_anon, src):
    """is_mergeable_anon_vma: may `tgt` merge with a range whose anon_vma is src_anon?"""
    tgt_anon = tgt.anon_vma
    if tgt_anon is None and src_anon is not None:
        return not _had_uncowed_parents(src)
    if tgt_anon is not None and src_anon is None:
        return not _had_uncowed_parents(tgt)
    return src_anon is tgt_anon


def _mergeable(vma, flags, file):
    """is_mergeable_vma (mempolicy, uffd context and anon name are always equal here)."""
    return not ((vma.vm_flags ^ flags) & ~VM_SOFTDIRTY) and vma.vm_file is file


def _can_remove(vma):
    """can_merge_remove_vma: a VMA with vm_ops->close is never deleted by a merge."""
    return vma.vm_ops is None or vma.vm_ops.close is None


def _dup_anon_vma(dst, src):
    if src.anon_vma is not None and dst.anon_vma is None:
        dst.anon_vma = src.anon_vma
        dst.anon_vma_chain = src.anon_vma_chain


class MmStruct:
    """One address space."""

    def __init__(self, kernel=None, *, mmap_base=None, max_map_count=None):
        self.kernel = kernel
        self.tree = VmaTree()
        self.arch = vm_arch(kernel)           # per-arch layout values (linuxmm/vm/arch.py)
        self.task_size = self.arch.task_size
        self.mmap_base = mmap_base if mmap_base is not None else self.task_size - (128 << 20)
        self.mmap_legacy_base = 0
        self.topdown = True
        self._max_map_count = max_map_count
        self.def_flags = 0
        self.total_vm = self.data_vm = self.exec_vm = self.stack_vm = 0
        self.locked_vm = self.pinned_vm = 0
        self.hiwater_vm = 0
        self.start_code = self.end_code = self.start_data = self.end_data = 0
        self.start_brk = self.brk = self.start_stack = 0
        self.arg_start = self.arg_end = self.env_start = self.env_end = 0
        self.brk_randomized = False
        self.gate_vma = None          # [vsyscall], outside the tree
        self.committed = 0            # pages this mm charged to vm_committed_as (VM_ACCOUNT)
        self.unmap_hooks = []         # called as hook(mm, start, end) when a range is unmapped
        self.protect_hooks = []       # called as hook(mm, start, end, vm_flags) after mprotect
        self.advise_hooks = []        # called as hook(mm, vma, start, end, advice) by madvise
        self.move_hooks = []          # called as hook(mm, old_addr, new_addr, length) by mremap
        self.capable_sys_rawio = False
        self.owner = None             # the Process whose RLIMIT_MEMLOCK applies (vm/mlock.py)
        # page tables and fault-path state (linuxmm/vm/memory.py); none without a Kernel
        self.pgd = None
        self.counters = np.zeros(NR_MM_COUNTERS, dtype=np.int64)   # rss_stat, faults, VmPTE
        self.deposited = {}           # huge PMD address -> its deposited PTE table
        self.snap_epoch = 0           # bumped when a VMA change needs a new fault snapshot
        self.snap_cache = None
        mmu = getattr(kernel, "mmu", None)
        if mmu is not None:
            from .memory import with_tables
            from .pagewalk import advise_hook, move_hook, protect_hook
            # pgd_alloc(): GFP_PGTABLE_USER, so the allocator's slow path reclaims for it
            self.pgd = with_tables(kernel, mmu.pgd_alloc, self.counters)
            self.protect_hooks.append(protect_hook)
            self.move_hooks.append(move_hook)
            self.advise_hooks.append(advise_hook)

    # -- limits & accounting -------------------------------------------------------------------
    @property
    def max_map_count(self):
        """vm.max_map_count: the Kernel's sysctl unless overridden for this mm."""
        if self._max_map_count is not None:
            return self._max_map_count
        kernel = self.kernel
        return kernel.max_map_count if kernel is not None else DEFAULT_MAX_MAP_COUNT

    @max_map_count.setter
    def max_map_count(self, value):
        self._max_map_count = value

    @property
    def map_count(self):
        return len(self.tree)

    def vm_stat_account(self, flags, npages):
        self.total_vm += npages
        if (flags & (VM_EXEC | VM_WRITE | VM_STACK)) == VM_EXEC:
            self.exec_vm += npages
        elif flags & VM_STACK:
            self.stack_vm += npages
        elif (flags & (VM_WRITE | VM_SHARED)) == VM_WRITE:
            self.data_vm += npages

    def update_hiwater_vm(self):
        if self.hiwater_vm < self.total_vm:
            self.hiwater_vm = self.total_vm

    def may_expand_vm(self, flags, npages):
        return True            # RLIMIT_AS and RLIMIT_DATA are unlimited here

    def vm_enough_memory(self, pages):
        """security_vm_enough_memory_mm -> __vm_enough_memory: charge or raise ENOMEM."""
        kernel = self.kernel
        if kernel is not None:
            kernel._vm_enough_memory(pages, self)
        self.committed += pages

    def vm_enough_memory_force(self, pages):
        """vm_acct_memory: charge without a limit check."""
        kernel = self.kernel
        if kernel is not None:
            kernel.vm_committed_as += pages
        self.committed += pages

    def vm_unacct_memory(self, pages):
        kernel = self.kernel
        if kernel is not None:
            kernel.vm_committed_as -= pages
        self.committed -= pages

    # -- lookups -------------------------------------------------------------------------------
    # addresses are unsigned long, as in the kernel: -1 is the top of the address space
    def find_vma(self, addr):
        return self.tree.find(addr & _U64)

    def vma_lookup(self, addr):
        return self.tree.lookup(addr & _U64)

    def find_vma_intersection(self, start, end):
        return self.tree.intersection(start & _U64, end & _U64)

    def find_vma_prev(self, addr):
        """(vma, prev): find_vma(addr) and the VMA before it."""
        vma = self.tree.find(addr)
        prev = self.tree.prev(vma) if vma is not None else self.tree.last()
        return vma, prev

    def find_vma_bulk(self, addrs):
        """find_vma for every address of an int64 array: vm_start of the first VMA with
        vm_end > addr, or -1.  One C call over a sorted snapshot of the tree (backend "c"), or
        the numpy twin (backend "reference"); both give the same answers."""
        return self._bulk(addrs, _lmm_vma_find_bulk, find_vma_bulk_numpy)

    def vma_lookup_bulk(self, addrs):
        """vma_lookup for every address: vm_start of the VMA containing it, or -1."""
        return self._bulk(addrs, _lmm_vma_lookup_bulk, vma_lookup_bulk_numpy)

    def _bulk(self, addrs, c_function, numpy_function):
        _, starts, ends, _ = self.tree.snapshot()
        from .._args import int_array
        addrs = int_array(addrs, np.int64, "addrs")
        kernel = self.kernel
        if kernel is not None and kernel.backend == "reference":
            return numpy_function(starts, ends, addrs)
        out = np.empty_like(addrs)
        c_function(_from_buffer("int64_t[]", starts), _from_buffer("int64_t[]", ends),
                   len(starts), _from_buffer("int64_t[]", addrs),
                   _from_buffer("int64_t[]", out, require_writable=True), len(addrs))
        return out

    def __iter__(self):
        return iter(self.tree)

    def __len__(self):
        return len(self.tree)

    # -- tree edits ----------------------------------------------------------------------------
    def _remove(self, vma):
        self.tree.remove(vma)
        if vma.vm_file is not None:
            self.fput(vma.vm_file)

    def fput(self, file):
        """Drop a reference; the last one of a shmem file returns its commit charge."""
        file.f_count -= 1
        inode = file.f_inode
        if file.f_count == 0 and inode.charged:
            if self.kernel is not None:
                self.kernel.vm_committed_as -= inode.charged
            inode.charged = 0

    def split_vma(self, vma, addr, new_below, check_count=True):
        """split_vma / __split_vma: the copy gets [vm_start, addr) if new_below, else the top."""
        if check_count and self.map_count >= self.max_map_count:
            raise oserror(errno.ENOMEM)
        if self.pgd is not None and self.counters[MM_PGTABLES_BYTES]:
            from .huge_memory import split_huge_pmds_in        # vma_adjust_trans_huge
            split_huge_pmds_in(self, addr, addr)
        ops = vma.vm_ops
        if ops is not None and ops.may_split is not None:
            ops.may_split(vma, addr)
        new = vma.dup()
        delta = (addr - vma.vm_start) >> PAGE_SHIFT
        if new_below:
            new.vm_end = addr
            vma.vm_pgoff += delta
            self.tree.set_start(vma, addr)
        else:
            new.vm_start = addr
            new.vm_pgoff += delta
            vma.vm_end = addr
        self.tree.insert(new)
        if ops is not None and ops.open is not None:
            ops.open(new)
        return new

    def merge_new_range(self, prev, nxt, start, end, flags, file, pgoff, anon_vma,
                        just_expand=False):
        """vma_merge_new_range: extend prev and/or next over [start, end); the survivor or None."""
        if flags & VM_SPECIAL or (prev is None and nxt is None):
            return None
        left = (prev is not None and prev.vm_end == start and _mergeable(prev, flags, file)
                and _anon_compatible(prev, anon_vma, None)
                and prev.vm_pgoff + ((prev.vm_end - prev.vm_start) >> PAGE_SHIFT) == pgoff)
        right = (not just_expand and nxt is not None and nxt.vm_start == end
                 and _mergeable(nxt, flags, file) and _anon_compatible(nxt, anon_vma, None)
                 and nxt.vm_pgoff == pgoff + ((end - start) >> PAGE_SHIFT)
                 and (not left or prev.anon_vma is None or nxt.anon_vma is None
                      or prev.anon_vma is nxt.anon_vma))
        if left:
            if right and _can_remove(nxt):
                _dup_anon_vma(prev, nxt)
                self._remove(nxt)
                prev.vm_end = nxt.vm_end
            else:
                prev.vm_end = end
            if anon_vma is not None and prev.anon_vma is None:
                prev.anon_vma = anon_vma
                prev.anon_vma_chain = 1
            self.tree.touch()
            return prev
        if right:
            self.tree.set_start(nxt, start)
            nxt.vm_pgoff = pgoff
            if anon_vma is not None and nxt.anon_vma is None:
                nxt.anon_vma = anon_vma
                nxt.anon_vma_chain = 1
            return nxt
        return None

    def merge_existing_range(self, prev, middle, start, end, flags):
        """vma_merge_existing_range: [start, end) of `middle` gets `flags`; merge it into prev
        and/or next when they match.  Returns the VMA now covering the range, or None."""
        if flags & VM_SPECIAL:
            return None
        left_side = start == middle.vm_start
        right_side = end == middle.vm_end
        if not left_side and not right_side:
            return None
        file = middle.vm_file
        anon_vma = middle.anon_vma
        pgoff = middle.vm_pgoff + ((start - middle.vm_start) >> PAGE_SHIFT)
        pglen = (end - start) >> PAGE_SHIFT
        merge_left = (left_side and prev is not None and prev.vm_end == start
                      and _mergeable(prev, flags, file) and _anon_compatible(prev, anon_vma, middle)
                      and prev.vm_pgoff + ((prev.vm_end - prev.vm_start) >> PAGE_SHIFT) == pgoff)
        nxt = None
        merge_right = False
        if right_side:
            nxt = self.tree.next(middle)
            merge_right = (nxt is not None and nxt.vm_start == end and _mergeable(nxt, flags, file)
                           and _anon_compatible(nxt, anon_vma, middle)
                           and nxt.vm_pgoff == pgoff + pglen
                           and (not merge_left or prev.anon_vma is None or nxt.anon_vma is None
                                or prev.anon_vma is nxt.anon_vma))
        if not merge_left and not merge_right:
            return None
        remove_middle = left_side and right_side
        if remove_middle and not _can_remove(middle):
            return None
        if merge_left and merge_right and not _can_remove(nxt):
            merge_right = False
        tree = self.tree
        if merge_left and merge_right:
            _dup_anon_vma(prev, nxt if nxt.anon_vma is not None else middle)
            self._remove(middle)
            self._remove(nxt)
            prev.vm_end = nxt.vm_end
            tree.touch()
            return prev
        if merge_left:
            _dup_anon_vma(prev, middle)
            if remove_middle:
                self._remove(middle)
            else:
                middle.vm_pgoff += (end - middle.vm_start) >> PAGE_SHIFT
                tree.set_start(middle, end)
            prev.vm_end = end
            tree.touch()
            return prev
        _dup_anon_vma(nxt, middle)
        if remove_middle:
            self._remove(middle)
        else:
            middle.vm_end = start
        tree.set_start(nxt, start)
        nxt.vm_pgoff -= pglen
        return nxt

    def modify_flags(self, prev, vma, start, end, flags):
        """vma_modify_flags: merge if possible, else split off the parts outside [start, end).
        Returns the VMA covering exactly the range (flags not yet applied)."""
        merged = self.merge_existing_range(prev, vma, start, end, flags)
        if merged is not None:
            return merged
        if vma.vm_start < start:
            self.split_vma(vma, start, True)
        if vma.vm_end > end:
            self.split_vma(vma, end, False)
        return vma

    # -- munmap (do_vmi_munmap, do_vmi_align_munmap) -------------------------------------------
    def do_munmap(self, start, length):
        if start & ~PAGE_MASK or start > self.task_size or length > self.task_size - start:
            raise oserror(errno.EINVAL)
        end = start + ((length + PAGE_SIZE - 1) & PAGE_MASK)
        if end == start:
            raise oserror(errno.EINVAL)
        tree = self.tree
        pos = tree.lookup_pos(start)
        if pos is not None:
            vma = tree.at(pos)
            if vma.vm_start == start and vma.vm_end == end and vma.vm_ops is None \
                    and not self.unmap_hooks:
                # exactly one whole anonymous VMA: vms_complete_munmap_vmas inlined
                tree.remove_at(*pos)
                if self.pgd is not None:
                    self.unmap_pages([vma], start, end)
                if self.hiwater_vm < self.total_vm:
                    self.hiwater_vm = self.total_vm
                flags = vma.vm_flags
                pages = (end - start) >> PAGE_SHIFT
                self.vm_stat_account(flags, -pages)
                if flags & VM_LOCKED:
                    self.locked_vm -= pages
                if flags & VM_ACCOUNT:
                    self.vm_unacct_memory(pages)
                return 0
        vma = tree.find(start)
        if vma is None or vma.vm_start >= end:
            return 0
        self.align_munmap(vma, start, end)
        return 0

    def gather_munmap(self, vma, start, end):
        """vms_gather_munmap_vmas: split at the edges and detach the VMAs inside [start, end).
        Returns (detached VMAs, prev, next)."""
        if start > vma.vm_start:
            if end < vma.vm_end and self.map_count >= self.max_map_count:
                raise oserror(errno.ENOMEM)
            self.split_vma(vma, start, True, check_count=False)
        detached = []
        tree = self.tree
        for cur in list(tree.iter_range(start, end)):
            if cur.vm_end > end:
                self.split_vma(cur, end, False, check_count=False)
            detached.append(cur)
        for cur in detached:
            tree.remove(cur)
        prev = tree.prev_of_addr(start)
        nxt = tree.find(start)
        return detached, prev, nxt

    def complete_munmap(self, detached, start, end, *, keep_accounted=False):
        """vms_complete_munmap_vmas: PTEs and page tables, counters, commit charge,
        vm_ops->close, fput."""
        if not detached:
            return
        if self.pgd is not None:
            self.unmap_pages(detached, start, end)
        self.update_hiwater_vm()
        accounted = 0
        for vma in detached:
            pages = (vma.vm_end - vma.vm_start) >> PAGE_SHIFT
            self.vm_stat_account(vma.vm_flags, -pages)
            if vma.vm_flags & VM_LOCKED:
                self.locked_vm -= pages
            if vma.vm_flags & VM_ACCOUNT:
                accounted += pages
            ops = vma.vm_ops
            if ops is not None and ops.close is not None:
                ops.close(vma)
            if vma.vm_file is not None:
                self.fput(vma.vm_file)
        for hook in self.unmap_hooks:
            hook(self, start, end)
        if accounted and not keep_accounted:
            self.vm_unacct_memory(accounted)
        return accounted

    def align_munmap(self, vma, start, end):
        detached, _, _ = self.gather_munmap(vma, start, end)
        self.complete_munmap(detached, start, end)

    # -- faults (until the page-fault issue) ---------------------------------------------------
    def anon_vma_prepare(self, vma):
        """anon_vma_prepare: give vma an anon_vma, reusing a mergeable neighbour's
        (find_mergeable_anon_vma: neighbours differing only in R/W/X, pgoff-contiguous)."""
        if vma.anon_vma is not None:
            return vma.anon_vma
        anon = None
        nxt = self.tree.next(vma)
        if nxt is not None:
            anon = self._reusable_anon_vma(nxt, vma, nxt)
        if anon is None:
            prev = self.tree.prev(vma)
            if prev is not None:
                anon = self._reusable_anon_vma(prev, prev, vma)
        if anon is None:
            anon = AnonVma()
        vma.anon_vma = anon
        vma.anon_vma_chain = 1
        anon.degree += 1
        self.snap_epoch += 1
        return anon

    @staticmethod
    def _reusable_anon_vma(old, a, b):
        compatible = (a.vm_end == b.vm_start and a.vm_file is b.vm_file
                      and not ((a.vm_flags ^ b.vm_flags) & ~(VM_ACCESS_FLAGS | VM_SOFTDIRTY))
                      and b.vm_pgoff == a.vm_pgoff + ((a.vm_end - a.vm_start) >> PAGE_SHIFT))
        if compatible and old.anon_vma is not None and old.anon_vma_chain == 1:
            return old.anon_vma
        return None

    def unmap_pages(self, detached, start, end):
        """vms_clear_ptes: zap the detached VMAs' PTEs, free the page tables between the
        neighbours left around [start, end)."""
        if not self.counters[MM_PGTABLES_BYTES]:
            return                    # nothing below the PGD: no PTE to zap, no table to free
        from .pagewalk import unmap_region
        prev = self.tree.prev_of_addr(start)
        nxt = self.tree.find(end)
        unmap_region(self, detached, prev.vm_end if prev is not None else 0,
                     nxt.vm_start if nxt is not None else 0)
        self.snap_epoch += 1

    def exit_mmap(self):
        """exit_mmap: unmap everything (commit charge returned, vm_ops->close called), free
        every page table and the PGD."""
        detached = list(self.tree)
        for vma in detached:
            self.tree.remove(vma)
        if detached:
            self.complete_munmap(detached, 0, self.task_size)
        self.gate_vma = None
        if self.pgd is not None:
            mmu = self.kernel.mmu
            mmu.free_pgtables(self.pgd, 0, self.task_size, 0, 0, self.counters)
            mmu.pgd_free(self.pgd, self.counters)
            self.pgd = None

    # -- invariants ----------------------------------------------------------------------------
    def check(self):
        problems = list(self.tree.check())
        total = data = exe = stack = accounted = 0
        for vma in self.tree:
            if vma.vm_flags & VM_ACCOUNT:
                accounted += vma.pages
            if vma.vm_start & ~PAGE_MASK or vma.vm_end & ~PAGE_MASK or vma.vm_end <= vma.vm_start:
                problems.append(f"bad range {vma!r}")
            if vma.vm_end > self.task_size:
                problems.append(f"VMA above TASK_SIZE {vma!r}")
            if vma.vm_mm is not self:
                problems.append(f"VMA of another mm {vma!r}")
            pages = vma.pages
            total += pages
            if is_exec_mapping(vma.vm_flags):
                exe += pages
            elif is_stack_mapping(vma.vm_flags):
                stack += pages
            elif is_data_mapping(vma.vm_flags):
                data += pages
        if (total, data, exe, stack) != (self.total_vm, self.data_vm, self.exec_vm, self.stack_vm):
            problems.append(f"counters total/data/exec/stack {self.total_vm}/{self.data_vm}/"
                            f"{self.exec_vm}/{self.stack_vm} != VMAs {total}/{data}/{exe}/{stack}")
        if accounted != self.committed:
            problems.append(f"{self.committed} pages charged, VM_ACCOUNT VMAs hold {accounted}")
        if problems:
            raise InvariantError("; ".join(problems))

