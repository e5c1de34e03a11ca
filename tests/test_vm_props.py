"""Property tests of the address space: the VMA tree stays sorted and non-overlapping, lookups
agree with a brute-force scan, bulk lookups agree with single ones, and untouched anonymous
memory is merged exactly where Linux merges it (maximal runs of pages with one protection)."""
import numpy as np
from hypothesis import given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import linuxmm as L
from linuxmm.kernel import Kernel

P = 4096
B = 0x7f0000000000
PAGES = 64
ANON = L.MAP_PRIVATE | L.MAP_ANONYMOUS
PROTS = [0, L.PROT_READ, L.PROT_READ | L.PROT_WRITE, L.PROT_READ | L.PROT_EXEC]
page = st.integers(0, PAGES - 1)
npages = st.integers(1, 12)
prot = st.sampled_from(PROTS)


class AddressSpace(RuleBasedStateMachine):
    """Random syscalls, compared with a page-granular model of protections."""

    def __init__(self):
        super().__init__()
        self.k = Kernel(randomize_va_space=0)
        self.p = self.k.spawn()
        self.prot = {}             # page -> prot, for untouched anonymous private memory only
        self.exact = True          # False once an operation the simple model cannot follow ran

    @rule(start=page, n=npages, pr=prot, replace=st.booleans())
    def mmap_fixed(self, start, n, pr, replace):
        n = min(n, PAGES - start)
        flags = ANON | (L.MAP_FIXED if replace else L.MAP_FIXED_NOREPLACE)
        try:
            self.p.mmap(B + start * P, n * P, pr, flags)
        except OSError as err:
            assert err.errno == 17 and not replace
            assert any(start + i in self.prot for i in range(n))
            return
        for i in range(n):
            self.prot[start + i] = pr

    @rule(start=page, n=npages)
    def munmap(self, start, n):
        self.p.munmap(B + start * P, n * P)
        for i in range(n):
            self.prot.pop(start + i, None)

    @rule(start=page, n=npages, pr=prot)
    def mprotect(self, start, n, pr):
        pages = [start + i for i in range(n)]
        try:
            self.p.mprotect(B + start * P, n * P, pr)
        except OSError as err:
            assert err.errno == 12
            assert any(q not in self.prot for q in pages)
            for q in pages:                   # pages before the first hole were changed
                if q not in self.prot:
                    break
                self.prot[q] = pr
            return
        for q in pages:
            self.prot[q] = pr

    @rule(start=page, n=npages, advice=st.sampled_from([L.MADV_DONTFORK, L.MADV_DOFORK]))
    def madvise(self, start, n, advice):
        try:
            self.p.madvise(B + start * P, n * P, advice)
        except OSError as err:
            assert err.errno == 12
        self.exact = False

    @rule(start=page)
    def touch(self, start):
        vma = self.p.mm.vma_lookup(B + start * P)
        if vma is not None and vma.vm_flags & L.VM_WRITE:
            self.p.touch(B + start * P, write=True)
            self.exact = False

    @precondition(lambda self: self.exact)
    @invariant()
    def merged_exactly_like_linux(self):
        runs = []
        for q in sorted(self.prot):
            if runs and runs[-1][1] == q and runs[-1][2] == self.prot[q]:
                runs[-1][1] = q + 1
            else:
                runs.append([q, q + 1, self.prot[q]])
        got = [[(v.vm_start - B) // P, (v.vm_end - B) // P, v.vm_flags & 7] for v in self.p.mm]
        assert got == runs

    @invariant()
    def tree_is_consistent(self):
        mm = self.p.mm
        mm.check()
        self.k._vm_check()
        vmas = list(mm)
        assert len(vmas) == mm.map_count
        for a, b in zip(vmas, vmas[1:]):
            assert a.vm_end <= b.vm_start
        addrs = np.arange(B - P, B + (PAGES + 1) * P, P // 2, dtype=np.int64)
        bulk_find = mm.find_vma_bulk(addrs)
        bulk_lookup = mm.vma_lookup_bulk(addrs)
        for addr, fb, lb in zip(addrs.tolist(), bulk_find.tolist(), bulk_lookup.tolist()):
            brute = next((v for v in vmas if v.vm_end > addr), None)
            assert mm.find_vma(addr) is brute
            assert fb == (brute.vm_start if brute else -1)
            inside = brute if brute is not None and brute.vm_start <= addr else None
            assert mm.vma_lookup(addr) is inside
            assert lb == (inside.vm_start if inside else -1)


AddressSpace.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestAddressSpace = AddressSpace.TestCase


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5000), st.booleans()), min_size=1, max_size=400))
def test_tree_insert_remove_matches_sorted_list(ops):
    from linuxmm.vm import tree as tree_module
    saved = tree_module.LOAD
    tree_module.LOAD = 3               # tiny blocks: splits and empty blocks happen often
    try:
        _run_tree_ops(tree_module.VmaTree(), ops)
    finally:
        tree_module.LOAD = saved


def _run_tree_ops(tree, ops):
    from linuxmm.vm.vma import VmArea
    model = {}
    for slot, add in ops:
        if add and slot not in model:
            vma = VmArea(None, slot * 2 * P, slot * 2 * P + P, 0, 0)
            tree.insert(vma)
            model[slot] = vma
        elif not add and slot in model:
            tree.remove(model.pop(slot))
        assert not list(tree.check())
        starts = sorted(s * 2 * P for s in model)
        assert [v.vm_start for v in tree] == starts
        for addr in (0, P, 3 * P, slot * 2 * P, slot * 2 * P + P):
            expect = next((x for x in starts if x + P > addr), None)
            got = tree.find(addr)
            assert (got.vm_start if got else None) == expect
    assert [v.vm_start for v in reversed(tree)] == sorted((s * 2 * P for s in model), reverse=True)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(page, npages, prot), max_size=30),
       st.lists(st.integers(B - 4 * P, B + (PAGES + 4) * P), min_size=1, max_size=200))
def test_bulk_lookups_same_on_both_backends(maps, addrs):
    """lmm_vma_find_bulk / lmm_vma_lookup_bulk (C) and their numpy twins agree, and agree with
    find_vma / vma_lookup one address at a time."""
    results = []
    for backend in ("c", "reference"):
        p = Kernel(randomize_va_space=0, backend=backend).spawn()
        for start, n, pr in maps:
            p.mmap(B + start * P, min(n, PAGES - start) * P, pr, ANON | L.MAP_FIXED)
        arr = np.array(addrs, dtype=np.int64)
        results.append((p.mm.find_vma_bulk(arr).tolist(), p.mm.vma_lookup_bulk(arr).tolist()))
        single = [(v.vm_start if (v := p.mm.find_vma(a)) else -1) for a in addrs]
        inside = [(v.vm_start if (v := p.mm.vma_lookup(a)) else -1) for a in addrs]
        assert results[-1] == (single, inside)
    assert results[0] == results[1]
