"""The MMU engine in pure Python + numpy: the twin of linuxmm.mmu.Mmu (same API, same results).

Per-frame state lives in numpy arrays (flags, refcount, mapcount, mapping, index), page contents
in a dict pfn -> bytearray, page tables in a dict pfn -> list of 512 ints (x86_64 4-level, P4D
folded).  `access()` replays user accesses as the MMU and do_anonymous_page()/do_wp_page() would.
"""
import bisect

import numpy as np

from ..errors import InvariantError, OutOfMemory
from ..vm import mmu_args as A
from ..vm import mmu_defs as D
from .swap import _DONE_MAJOR, SwapEngine, _NoMem

_M64 = (1 << 64) - 1
_PFN = D.PTE_PFN_MASK
_PSE = D._PAGE_PSE
_U64 = (1 << 64) - 1
_VM_LOCKED = 0x2000
_REF_SKIP = D.PG_HEAD | D.PG_TAIL | D.PG_ORDER_MASK | D.PG_MLOCKED | D.PG_UNEVICTABLE
_PMD_MASK = _M64 & ~(D.PMD_SIZE - 1)
_SHIFT = {D.LEVEL_PGD: D.PGDIR_SHIFT, D.LEVEL_PUD: D.PUD_SHIFT, D.LEVEL_PMD: D.PMD_SHIFT,
          D.LEVEL_PTE: D.PAGE_SHIFT}
_ANON_FLAGS = D.PG_ANON | D.PG_ANON_EXCLUSIVE | D.PG_SWAPBACKED | D.PG_UPTODATE | D.PG_LRU
_ANON_PTE = D._PAGE_PRESENT | D._PAGE_RW | D._PAGE_USER | D._PAGE_ACCESSED | D._PAGE_DIRTY
_ZERO_PTE = D._PAGE_PRESENT | D._PAGE_USER | D._PAGE_ACCESSED | D._PAGE_SPECIAL
_VM_ACCESS = D.VM_READ | D.VM_WRITE | D.VM_EXEC


class _Leaf(Exception):
    """free_pgtables found a table to free that still holds an entry."""


def _addr_end(addr, end, size):
    boundary = (addr + size) & _M64 & ~(size - 1)
    return boundary if (boundary - 1) & _M64 < (end - 1) & _M64 else end


def _may_free(start, end, floor, ceiling, mask):
    """The floor/ceiling test after a free_p?d_range() loop."""
    if start & mask < floor:
        return False
    if ceiling:
        ceiling &= mask
        if not ceiling:
            return False
    return (end - 1) & _M64 <= (ceiling - 1) & _M64


def _chunked(addrs, writes, start):
    """(k, addr, write) from k = start on, converted to Python ints in growing chunks: a loop
    that stops at the next fault converts about as many as it replays (not the whole rest)."""
    n = len(addrs)
    step = 64
    while start < n:
        end = min(start + step, n)
        yield from zip(range(start, end), addrs[start:end].tolist(), writes[start:end].tolist())
        start = end
        step = min(step * 2, 1 << 16)


class Mmu(SwapEngine):
    """Page frames, page tables and the bulk access loop over one PageAllocator."""

    backend = "reference"

    def __init__(self, pa, max_pfn, zero_pfn, levels=4):
        self.max_pfn, self.zero_pfn = A.check_geometry(pa, max_pfn, zero_pfn)
        self.levels, self.task_size, self.user_top = A.check_levels(levels)
        self._top = D.LEVEL_PUD if self.levels == 3 else D.LEVEL_PGD   # how the PGD is walked
        self.pa = pa
        n = self.max_pfn
        self.flags = np.zeros(n, np.uint32)
        self.refcount = np.zeros(n, np.int32)
        self.mapcount = np.zeros(n, np.int32)
        self.mapping = np.zeros(n, np.int64)
        self.index = np.zeros(n, np.int64)
        self.events = np.zeros(D.NR_VM_EVENTS, np.int64)
        self.node = np.zeros(D.NR_NODE_ITEMS, np.int64)
        # the node's LRU lists: links through the frames, heads at n + lru, -1: unlinked
        self.lru_prev = np.full(n + D.NR_LRU_LISTS, -1, np.int32)
        self.lru_next = np.full(n + D.NR_LRU_LISTS, -1, np.int32)
        heads = np.arange(n, n + D.NR_LRU_LISTS, dtype=np.int32)
        self.lru_prev[n:] = heads
        self.lru_next[n:] = heads
        self._data = {}
        self._tables = {}
        self._level = {}
        self._swap_init()

    # -- frames ---------------------------------------------------------------------------
    def _alloc(self, gfp):
        """One order-0 page without the reclaim hook (the access loop's contract)."""
        pfn = self.pa._alloc(gfp, 0, 0)
        if pfn is None:
            raise _NoMem
        return pfn

    def _zero_frame(self, pfn):
        self.flags[pfn] = 0
        self.refcount[pfn] = 0
        self.mapcount[pfn] = 0
        self.mapping[pfn] = 0
        self.index[pfn] = 0

    def _new_anon_page(self, pfn, anon_vma, index):
        self._data.pop(pfn, None)
        self.flags[pfn] = _ANON_FLAGS
        self.refcount[pfn] = 1
        self.mapcount[pfn] = 1
        self.mapping[pfn] = anon_vma
        self.index[pfn] = index
        self.node[D.NR_ANON_MAPPED] += 1
        self.node[D.NR_INACTIVE_ANON] += 1
        self._lru_add(pfn, D.LRU_INACTIVE_ANON)

    def _lru_add(self, pfn, lru):
        head = self.max_pfn + lru
        nxt = int(self.lru_next[head])
        self.lru_next[head] = pfn
        self.lru_prev[pfn] = head
        self.lru_next[pfn] = nxt
        self.lru_prev[nxt] = pfn

    def lru_list(self, lru):
        """The pfns on LRU list `lru`, newest first (InvariantError when the list is broken)."""
        lru = A.check_lru(lru)
        head = self.max_pfn + lru
        out = []
        pfn = int(self.lru_next[head])
        while pfn != head:
            if not 0 <= pfn < self.max_pfn or len(out) >= self.max_pfn:
                raise InvariantError(f"LRU list {lru} is broken")
            out.append(pfn)
            pfn = int(self.lru_next[pfn])
        return np.array(out, np.int64)

    def _lru_unlink(self, pfn):
        prev, nxt = int(self.lru_prev[pfn]), int(self.lru_next[pfn])
        if prev < 0:
            return
        self.lru_next[prev] = nxt
        self.lru_prev[nxt] = prev
        self.lru_prev[pfn] = self.lru_next[pfn] = -1

    def _release_page(self, pfn):
        fl = int(self.flags[pfn])
        if fl & D.PG_LRU:
            self.node[D.NR_ACTIVE_ANON if fl & D.PG_ACTIVE else D.NR_INACTIVE_ANON] -= 1
        self._lru_unlink(pfn)
        self._data.pop(pfn, None)
        self._zero_frame(pfn)
        try:
            self.pa.free_pages(pfn, 0, 0)
        except ValueError:
            pass                # the C engine ignores a refused free the same way

    # -- page contents ----------------------------------------------------------------------
    def _data_pfn(self, pfn, name="pfn"):
        pfn = A.check_pfn(pfn, self.max_pfn, name)
        if pfn in self._tables:
            raise ValueError(f"{name} {pfn} is a page-table page")
        return pfn

    def page_read(self, pfn, offset=0, length=D.PAGE_SIZE):
        pfn = A.check_pfn(pfn, self.max_pfn)
        offset, length = A.check_span(offset, length)
        t = self._tables.get(pfn)
        if t is not None:
            return np.array(t, dtype="<u8").tobytes()[offset:offset + length]
        buf = self._data.get(pfn)
        if buf is None:
            return bytes(length)
        return bytes(buf[offset:offset + length])

    def page_write(self, pfn, offset, data):
        pfn = self._data_pfn(pfn)
        data = A.check_bytes(data)
        offset, length = A.check_span(offset, len(data))
        buf = self._data.get(pfn)
        if buf is None:
            buf = self._data[pfn] = bytearray(D.PAGE_SIZE)
        buf[offset:offset + length] = data

    def page_copy(self, dst, src):
        dst, src = self._data_pfn(dst, "dst"), self._data_pfn(src, "src")
        buf = self._data.get(src)
        if buf is None:
            self._data.pop(dst, None)
        elif dst != src:
            self._data[dst] = bytearray(buf)

    def page_clear(self, pfn):
        self._data.pop(self._data_pfn(pfn), None)

    def page_has_data(self, pfn):
        pfn = A.check_pfn(pfn, self.max_pfn)
        return pfn in self._data or pfn in self._tables

    def nr_data_pages(self):
        return len(self._data) + len(self._tables)

    # -- page-table pages -------------------------------------------------------------------
    def _table_alloc(self, level, counters):
        pfn = self._alloc(D.GFP_PGTABLE_USER)
        self._data.pop(pfn, None)
        self._tables[pfn] = [0] * D.PTRS_PER_TABLE
        self._level[pfn] = level
        self._zero_frame(pfn)
        self.flags[pfn] = D.PG_PGTABLE
        self.refcount[pfn] = 1
        self.node[D.NR_PAGETABLE] += 1
        if level != D.LEVEL_PGD:
            counters[D.MM_PGTABLES_BYTES] += D.PAGE_SIZE
        return pfn

    def _table_free(self, pfn, counters):
        level = self._level.pop(pfn)
        del self._tables[pfn]
        self._zero_frame(pfn)
        self.node[D.NR_PAGETABLE] -= 1
        if level != D.LEVEL_PGD:
            counters[D.MM_PGTABLES_BYTES] -= D.PAGE_SIZE
        self.pa.free_pages(pfn, 0, 0)

    def _check_pgd(self, pgd):
        pgd = A.check_pfn(pgd, self.max_pfn, "pgd")
        if self._level.get(pgd) != D.LEVEL_PGD:
            raise ValueError(f"pfn {pgd} is not a PGD of this MMU")
        return pgd

    def _entry(self, pfn, level):
        """The entry pointing to a table of `level`: _PAGE_TABLE, or on PAE _PAGE_PRESENT alone
        in the PGD (pud_populate)."""
        if self.levels == 3 and level == D.LEVEL_PMD:
            return (pfn << D.PAGE_SHIFT) | D._PAGE_PRESENT
        return (pfn << D.PAGE_SHIFT) | D._PAGE_TABLE

    def pgd_alloc(self, counters):
        """pgd_alloc(): the PGD page and, on PAE, the 4 preallocated PMDs (mm_inc_nr_pmds)."""
        A.check_counters(counters)
        try:
            pgd = self._table_alloc(D.LEVEL_PGD, counters)
        except _NoMem:
            raise OutOfMemory("no page for a PGD") from None
        if self.levels == 3:
            t = self._tables[pgd]
            for i in range(D.PAE_PGD_PTRS):
                try:
                    t[i] = self._entry(self._table_alloc(D.LEVEL_PMD, counters), D.LEVEL_PMD)
                except _NoMem:
                    for e in t[:i]:
                        self._table_free((e & _PFN) >> D.PAGE_SHIFT, counters)
                    self._table_free(pgd, counters)
                    raise OutOfMemory("no page for a PGD") from None
        return pgd

    def pgd_free(self, pgd, counters):
        """pgd_free(): on PAE pgd_mop_up_pmds() frees the (empty) PMDs still attached."""
        pgd = self._check_pgd(pgd)
        A.check_counters(counters)
        t = self._tables[pgd]
        mop = D.PAE_PGD_PTRS if self.levels == 3 else 0
        for i, e in enumerate(t):
            if e and (i >= mop or any(self._tables[(e & _PFN) >> D.PAGE_SHIFT])):
                raise ValueError(f"pgd {pgd} still has lower tables")
        for i in range(mop):
            if t[i]:
                self._table_free((t[i] & _PFN) >> D.PAGE_SHIFT, counters)
                t[i] = 0
        self._table_free(pgd, counters)

    def _child(self, table, i, level, counters):
        """The table that entry i of `table` points to, allocated when absent and counters is
        given (None: absent)."""
        e = table[i]
        if not e:
            if counters is None:
                return None
            table[i] = e = self._entry(self._table_alloc(level, counters), level)
        return self._tables[(e & _PFN) >> D.PAGE_SHIFT]

    def _pmd_table(self, pgd, addr, counters=None):
        pud = self._tables[pgd]
        if self.levels == 4:
            pud = self._child(pud, (addr >> D.PGDIR_SHIFT) & 511, D.LEVEL_PUD, counters)
            if pud is None:
                return None
        return self._child(pud, (addr >> D.PUD_SHIFT) & 511, D.LEVEL_PMD, counters)

    def _pte_table(self, pgd, addr, counters):
        """The PTE table for addr, allocating PUD, PMD, PTE; ValueError under a huge leaf."""
        pmd = self._pmd_table(pgd, addr, counters)
        i = (addr >> D.PMD_SHIFT) & 511
        if pmd[i] & _PSE:
            raise ValueError(f"addr {addr:#x} lies in a huge PMD leaf")
        return self._child(pmd, i, D.LEVEL_PTE, counters)

    def _leaf(self, pgd, addr):
        """(entry, table holding it, index)"""
        pmd = self._pmd_table(pgd, addr)
        if pmd is None:
            return 0, None, 0
        i = (addr >> D.PMD_SHIFT) & 511
        e = pmd[i]
        if not e:
            return 0, None, 0
        if e & _PSE:
            return e, pmd, i
        pte = self._tables[(e & _PFN) >> D.PAGE_SHIFT]
        j = (addr >> D.PAGE_SHIFT) & 511
        return pte[j], pte, j

    def pte_get(self, pgd, addr):
        return self._leaf(self._check_pgd(pgd), A.check_addr(addr, self.task_size))[0]

    # -- unchecked fast paths (linuxmm.mmu.Mmu's twins): trusted internal callers only
    def pte_get_unchecked(self, pgd, addr):
        """pte_get without argument checks."""
        return self._leaf(pgd, addr)[0]

    def pmd_get_unchecked(self, pgd, addr):
        """pmd_get without argument checks."""
        pmd = self._pmd_table(pgd, addr)
        return 0 if pmd is None else pmd[(addr >> D.PMD_SHIFT) & 511]

    def page_clear_unchecked(self, pfn):
        """page_clear of a frame known to be a user page (not a page-table page)."""
        self._data.pop(pfn, None)

    def pte_update(self, pgd, addr, entry, counters):
        """pte_set without argument checks: a PTE in an existing PTE table is overwritten in
        place; otherwise (no table, a huge leaf) the checked pte_set runs."""
        e, table, i = self._leaf(pgd, addr)
        if table is None or e & _PSE:
            self.pte_set(pgd, addr, entry, counters)
            return
        table[i] = entry

    def pte_clear_young(self, pgd, addr):
        """ptep_test_and_clear_young: pte_get's entry for addr; a PTE (not a huge PMD leaf)
        with Accessed set loses it in the table."""
        e, table, i = self._leaf(pgd, addr)
        if e & D._PAGE_ACCESSED and not e & _PSE:
            table[i] = e & ~D._PAGE_ACCESSED
        return e

    # -- the LRU lists in bulk (linuxmm.mmu.Mmu's twins, with linuxmm/vm/lruvec.py's rules) ----
    def isolate_lru(self, lru, nr_to_scan, limit_pfn):
        """lmm_mmu_isolate_lru in Python: (folios taken, pages scanned)."""
        from ..vm.lruvec import folio_nr_pages, lru_link, lru_tail, lru_unlink
        taken, skipped = [], []
        scanned = seen = 0
        total = int(self.node[lru])
        flags_arr = self.flags
        while scanned < nr_to_scan and seen < total:
            pfn = lru_tail(self, lru)
            if pfn is None:
                break
            flags = int(flags_arr[pfn])
            nr = folio_nr_pages(flags)
            seen += nr
            if pfn >= limit_pfn:
                lru_unlink(self, pfn)
                skipped.append(pfn)
                continue
            scanned += nr
            self.node[lru] -= nr
            for p in range(pfn, pfn + (1 if flags & D.PG_ANON else nr)):
                flags_arr[p] = int(flags_arr[p]) & ~D.PG_LRU
            lru_unlink(self, pfn)
            taken.append(pfn)
        for pfn in reversed(skipped):
            lru_link(self, pfn, lru)
        return taken, scanned

    def lru_add_batch(self, pfns):
        """lruvec_add_folio of each folio of the list `pfns`, in order."""
        from ..vm.lruvec import lruvec_add_folio
        for pfn in pfns:
            lruvec_add_folio(self, pfn)

    # -- reclaim's referenced-PTE pass (linuxmm.mmu.Mmu.check_references's twin) --------------
    def check_references(self, pfns, flat, check):
        """lmm_mmu_check_references in Python: (ref, vmflags, decision, mstart, cand, addr)."""
        keys, kstart, c_pgd, c_start, c_pages, c_pgoff, c_vmflags = (a.tolist() for a in flat)
        slot = {k: j for j, k in enumerate(keys)}
        pfns = [int(p) for p in pfns]
        n = len(pfns)
        ref = [-1] * n
        vmf = [0] * n
        dec = [-1] * n
        mstart = [0] * (n + 1)
        cand, addrs = [], []
        flags_arr, mapping, index_arr = self.flags, self.mapping, self.index
        skip = _REF_SKIP
        for i, pfn in enumerate(pfns):
            mstart[i] = len(cand)
            if not 0 <= pfn < self.max_pfn:
                continue
            flags = int(flags_arr[pfn])
            if not flags & D.PG_ANON or flags & skip:
                continue
            k = slot.get(int(mapping[pfn]))
            found = []
            huge = False
            if k is not None:
                index = int(index_arr[pfn])
                for c in range(kstart[k], kstart[k + 1]):
                    delta = (index - c_pgoff[c]) & _U64
                    if delta >= c_pages[c]:
                        continue
                    addr = c_start[c] + (delta << D.PAGE_SHIFT)
                    e = self._leaf(c_pgd[c], addr)[0] if addr < self.task_size else 0
                    if not e & (D._PAGE_PRESENT | D._PAGE_PROTNONE) or e & D._PAGE_SPECIAL:
                        continue
                    mapped = (e & _PFN) >> D.PAGE_SHIFT
                    if e & _PSE:
                        mapped += (addr & (D.PMD_SIZE - 1)) >> D.PAGE_SHIFT
                    if mapped != pfn:
                        continue
                    if e & _PSE:
                        huge = True
                        break
                    found.append((c, addr))
            if huge:
                continue
            ref[i] = 0
            for c, addr in found:
                cand.append(c)
                addrs.append(addr)
        mstart[n] = len(cand)
        for i, pfn in enumerate(pfns):
            if ref[i] < 0:
                continue
            referenced = vm_flags = 0
            for j in range(mstart[i], mstart[i + 1]):
                c = cand[j]
                if c_vmflags[c] & _VM_LOCKED:
                    vm_flags |= _VM_LOCKED
                    break
                if self.pte_clear_young(c_pgd[c], addrs[j]) & D._PAGE_ACCESSED:
                    referenced += 1
                    vm_flags |= c_vmflags[c]
            ref[i] = referenced
            vmf[i] = vm_flags
            if not check:
                continue
            flags = int(flags_arr[pfn])
            referenced_folio = bool(flags & D.PG_REFERENCED)
            file_lru = not flags & D.PG_SWAPBACKED
            if referenced_folio:
                flags_arr[pfn] = flags & ~D.PG_REFERENCED
            if vm_flags & _VM_LOCKED:
                d = 3
            elif referenced:
                flags_arr[pfn] = int(flags_arr[pfn]) | D.PG_REFERENCED
                if referenced_folio or referenced > 1 or (vm_flags & D.VM_EXEC and file_lru):
                    d = 3                                   # FOLIOREF_ACTIVATE
                else:
                    d = 2                                   # FOLIOREF_KEEP
            elif referenced_folio and file_lru:
                d = 1                                       # FOLIOREF_RECLAIM_CLEAN
            else:
                d = 0                                       # FOLIOREF_RECLAIM
            dec[i] = d
        as64 = lambda x: np.array(x, np.int64)
        return as64(ref), as64(vmf), as64(dec), as64(mstart), as64(cand), as64(addrs)

    def pmd_get(self, pgd, addr):
        pgd, addr = self._check_pgd(pgd), A.check_addr(addr, self.task_size)
        pmd = self._pmd_table(pgd, addr)
        return 0 if pmd is None else pmd[(addr >> D.PMD_SHIFT) & 511]

    def _set(self, pgd, addr, entry, counters):
        try:
            self._pte_table(pgd, addr, counters)[(addr >> D.PAGE_SHIFT) & 511] = entry
        except _NoMem:
            raise OutOfMemory(f"no page for a page table at {addr:#x}") from None

    def pte_set(self, pgd, addr, entry, counters):
        pgd, addr, entry = self._check_pgd(pgd), A.check_addr(addr, self.task_size), A.check_entry(entry)
        self._set(pgd, addr, entry, A.check_counters(counters))

    def pmd_set(self, pgd, addr, entry, counters):
        pgd = self._check_pgd(pgd)
        addr, entry = A.check_huge(addr, entry, self.task_size)
        A.check_counters(counters)
        try:
            pmd = self._pmd_table(pgd, addr, counters)
        except _NoMem:
            raise OutOfMemory(f"no page for a page table at {addr:#x}") from None
        i = (addr >> D.PMD_SHIFT) & 511
        if pmd[i] and not pmd[i] & _PSE:
            raise ValueError(f"the PMD slot of {addr:#x} points to a PTE table")
        pmd[i] = entry

    def pmd_alloc(self, pgd, addr, counters):
        """pud_alloc + pmd_alloc: the PUD and PMD tables above addr (OutOfMemory)."""
        pgd, addr = self._check_pgd(pgd), A.check_addr(addr, self.task_size)
        A.check_counters(counters)
        try:
            self._pmd_table(pgd, addr, counters)
        except _NoMem:
            raise OutOfMemory(f"no page for a page table at {addr:#x}") from None

    def pud_alloc(self, pgd, addr, counters):
        """pud_alloc alone (no-op with PAE); OutOfMemory."""
        pgd, addr = self._check_pgd(pgd), A.check_addr(addr, self.task_size)
        A.check_counters(counters)
        if self.levels != 4:
            return
        try:
            self._child(self._tables[pgd], (addr >> D.PGDIR_SHIFT) & 511, D.LEVEL_PUD, counters)
        except _NoMem:
            raise OutOfMemory(f"no page for a page table at {addr:#x}") from None

    def table_depth(self, pgd, addr):
        """0 no PUD table above addr, 1 no PMD table, 2 an empty PMD slot, 3 a PTE table or a
        huge leaf in addr's PMD slot."""
        pgd, addr = self._check_pgd(pgd), A.check_addr(addr, self.task_size)
        top = self._tables[pgd]
        if self.levels == 4 and not top[(addr >> D.PGDIR_SHIFT) & 511]:
            return 0
        pmd = self._pmd_table(pgd, addr)
        if pmd is None:
            return 1
        return 3 if pmd[(addr >> D.PMD_SHIFT) & 511] else 2

    def set_bulk(self, pgd, addrs, entries, counters):
        pgd = self._check_pgd(pgd)
        addrs = A.addr_array(addrs, self.task_size)
        entries = A.entry_array(entries, len(addrs))
        A.check_counters(counters)
        for a, e in zip(addrs.tolist(), entries.tolist()):
            self._set(pgd, a, e, counters)

    def clear_bulk(self, pgd, addrs):
        pgd = self._check_pgd(pgd)
        for a in A.addr_array(addrs, self.task_size).tolist():
            e, table, i = self._leaf(pgd, a)
            if e and (not e & _PSE or not a & (D.PMD_SIZE - 1)):
                table[i] = 0

    def _walk(self, pfn, level, base, start, end, out):
        shift = _SHIFT[level]
        t = self._tables[pfn]
        lo = max(0, (start - base) >> shift)
        hi = min(511, (end - 1 - base) >> shift)
        for i in range(lo, hi + 1):
            e = t[i]
            if not e:
                continue
            a = base + (i << shift)
            if level == D.LEVEL_PTE or (level == D.LEVEL_PMD and e & _PSE):
                out.append((a, e))
            else:
                self._walk((e & _PFN) >> D.PAGE_SHIFT, level - 1, a, start, end, out)

    def walk(self, pgd, start, end):
        pgd = self._check_pgd(pgd)
        start, end = A.check_range(start, end, self.user_top)
        out = []
        if start < end:
            self._walk(pgd, self._top, 0, start, end, out)
        return (np.array([a for a, _ in out], dtype=np.int64),
                np.array([e for _, e in out], dtype=np.uint64))

    def table_pages(self, pgd):
        # pre-order, as a recursive walk would list them; iterative, because a recursive
        # closure is a reference cycle that would keep this Mmu (and its allocator) alive
        out = []
        stack = [(self._check_pgd(pgd), self._top)]
        while stack:
            pfn, level = stack.pop()
            out.append(pfn)
            if level == D.LEVEL_PTE:
                continue
            children = [((e & _PFN) >> D.PAGE_SHIFT, level - 1) for e in self._tables[pfn]
                        if e and not (level == D.LEVEL_PMD and e & _PSE)]
            stack.extend(reversed(children))
        return out

    # -- free_pgd_range (mm/memory.c) -------------------------------------------------------
    def _left_over(self, t, level, base, lo, hi):
        """Raise _Leaf for the first entry of a table about to be freed that no one cleared
        (entries lo..hi are cleared by the loop that just ran over them)."""
        for i, e in enumerate(t):
            if e and not lo <= i <= hi:
                raise _Leaf(base + (i << _SHIFT[level]), e)

    def _free_lower(self, parent, i, level, base, lo, hi, counters):
        """Free the table (of `level`, mapping from base) that parent[i] points to, after the
        loop that cleared its entries lo..hi (counters None: check only)."""
        pfn = (parent[i] & _PFN) >> D.PAGE_SHIFT
        self._left_over(self._tables[pfn], level, base, lo, hi)
        if counters is not None:
            parent[i] = 0
            self._table_free(pfn, counters)

    def _free_level(self, parent, pi, level, addr, end, floor, ceiling, counters):
        """free_pmd_range() (level PMD) and free_pud_range() (level PUD) of the table parent[pi]
        points to, over [addr, end); a PTE table under a non-none PMD entry is always freed
        (free_pte_range()), a huge leaf in range is an error."""
        shift = _SHIFT[level]
        size = 1 << shift
        mask = _M64 & ~((size << 9) - 1)
        start = addr
        t = self._tables[(parent[pi] & _PFN) >> D.PAGE_SHIFT]
        lo = hi = (addr >> shift) & 511
        while True:
            nxt = _addr_end(addr, end, size)
            i = hi = (addr >> shift) & 511
            e = t[i]
            if e and level == D.LEVEL_PUD:
                self._free_level(t, i, D.LEVEL_PMD, addr, nxt, floor, ceiling, counters)
            elif e & _PSE:
                raise _Leaf(addr, e)
            elif e:
                self._free_lower(t, i, D.LEVEL_PTE, addr & _PMD_MASK, 1, 0, counters)
            addr = nxt
            if addr == end:
                break
        if _may_free(start, end, floor, ceiling, mask):
            self._free_lower(parent, pi, level, start & mask, lo, hi, counters)

    def _free_pgd_range(self, pgd, addr, end, floor, ceiling, counters):
        addr &= _PMD_MASK
        if addr < floor:
            addr = (addr + D.PMD_SIZE) & _M64
            if not addr:
                return
        if ceiling:
            ceiling &= _PMD_MASK
            if not ceiling:
                return
        if (end - 1) & _M64 > (ceiling - 1) & _M64:
            end = (end - D.PMD_SIZE) & _M64
        if addr > (end - 1) & _M64:
            return
        pgdt = self._tables[pgd]
        # PAE: PGDIR_SIZE is 1 GiB and the PUD level is folded: free_pmd_range() per PGD entry
        level = self._top - 1
        shift = _SHIFT[self._top]
        while True:
            nxt = _addr_end(addr, end, 1 << shift)
            i = (addr >> shift) & 511
            if pgdt[i]:
                self._free_level(pgdt, i, level, addr, nxt, floor, ceiling, counters)
            addr = nxt
            if addr == end:
                break

    def free_pgtables(self, pgd, start, end, floor, ceiling, counters):
        """free_pgd_range(tlb, start, end, floor, ceiling) of 4-level x86_64; InvariantError
        (and nothing freed) when a table it would free still holds an entry."""
        pgd = self._check_pgd(pgd)
        start, end, floor, ceiling = A.check_free_range(start, end, floor, ceiling,
                                                        self.user_top)
        A.check_counters(counters)
        try:
            self._free_pgd_range(pgd, start, end, floor, ceiling, None)      # dry run: check
        except _Leaf as e:
            raise InvariantError(A.leaf_left_message(*e.args)) from None
        self._free_pgd_range(pgd, start, end, floor, ceiling, counters)

    # -- the bulk access loop ---------------------------------------------------------------
    def access(self, pgd, counters, snapshot, addrs, writes, start=0):
        pgd = self._check_pgd(pgd)
        A.check_counters(counters)
        A.check_snapshot(snapshot)
        start = A.check_access(addrs, writes, start)
        return self._access(pgd, counters, snapshot.tolist(),
                            _chunked(addrs, writes, start), len(addrs))

    def access_range(self, pgd, counters, snapshot, addr, npages, write, start=0):
        pgd = self._check_pgd(pgd)
        A.check_counters(counters)
        A.check_snapshot(snapshot)
        addr, npages, write, start = A.check_access_range(addr, npages, write, start)
        seq = ((k, addr + (k << D.PAGE_SHIFT), write) for k in range(start, npages))
        return self._access(pgd, counters, snapshot.tolist(), seq, npages)

    def _access(self, pgd, counters, rows, seq, n):
        ends = [r[D.SNAP_END] for r in rows]
        wakeups = self.pa.kswapd_wakeups
        for k, addr, write in seq:
            if not 0 <= addr < self.task_size:
                return k, D.ACCESS_FAULT
            entry, table, i = self._leaf(pgd, addr)
            if entry & D._PAGE_PRESENT and (not write or entry & D._PAGE_RW):
                entry |= D._PAGE_ACCESSED | (D._PAGE_DIRTY if write else 0)
                table[i] = entry
                continue
            reason = self._fault(pgd, counters, rows, ends, addr, write, entry, table, i)
            if reason == _DONE_MAJOR:
                counters[D.MM_MAJ_FLT] += 1
            elif reason != D.ACCESS_DONE:
                return k, reason
            else:
                counters[D.MM_MIN_FLT] += 1
            self.events[D.EV_PGFAULT] += 1
            if self.pa.kswapd_wakeups != wakeups:       # done, but kswapd must run first
                return k + 1, D.ACCESS_KSWAPD
        return n, D.ACCESS_DONE

    def _fault(self, pgd, counters, rows, ends, addr, write, entry, table, i):
        v = bisect.bisect_right(ends, addr)             # find_vma(): first VMA with end > addr
        if v == len(rows) or rows[v][D.SNAP_START] > addr:
            return D.ACCESS_FAULT
        row = rows[v]
        vm_flags = row[D.SNAP_FLAGS]
        if not row[D.SNAP_KIND] & D.SNAPK_ANON:
            return D.ACCESS_FAULT
        if (write and not vm_flags & D.VM_WRITE) or not vm_flags & _VM_ACCESS:
            return D.ACCESS_FAULT
        if entry & _PSE:
            return D.ACCESS_FAULT
        if entry and not entry & (D._PAGE_PRESENT | D._PAGE_PROTNONE):
            try:                                        # linuxmm/reference/swap.py
                return self._do_swap_page(counters, row, entry, table, i, addr, write)
            except _NoMem:
                return D.ACCESS_NOMEM
        if entry and not entry & D._PAGE_PRESENT:
            return D.ACCESS_FAULT
        nx = 0 if vm_flags & D.VM_EXEC else D._PAGE_NX
        anon_vma = row[D.SNAP_ANON_VMA]
        index = row[D.SNAP_PGOFF] + ((addr - row[D.SNAP_START]) >> D.PAGE_SHIFT)
        try:
            if not entry:                               # do_anonymous_page()
                if not write:
                    if row[D.SNAP_KIND] & D.SNAPK_NO_ZERO_PAGE:
                        return D.ACCESS_FAULT
                    pte = self._pte_table(pgd, addr, counters)
                    pte[(addr >> D.PAGE_SHIFT) & 511] = \
                        (self.zero_pfn << D.PAGE_SHIFT) | _ZERO_PTE | nx
                    return D.ACCESS_DONE
                if not anon_vma:
                    return D.ACCESS_FAULT
                pte = self._pte_table(pgd, addr, counters)
                self._install_anon(pte, (addr >> D.PAGE_SHIFT) & 511, anon_vma, index, nx,
                                   counters)
                return D.ACCESS_DONE
            return self._wp_page(counters, entry, table, i, anon_vma, index, nx)
        except _NoMem:
            return D.ACCESS_NOMEM

    def _install_anon(self, table, i, anon_vma, index, nx, counters, copy_from=None):
        pfn = self._alloc(D.GFP_ANON_PAGE)
        self._new_anon_page(pfn, anon_vma, index)
        if copy_from is not None:
            self.page_copy(pfn, copy_from)
        table[i] = (pfn << D.PAGE_SHIFT) | _ANON_PTE | nx
        counters[D.MM_ANONPAGES] += 1

    def _wp_page(self, counters, entry, table, i, anon_vma, index, nx):
        """do_wp_page() of a present, write-protected PTE in a writable anonymous VMA."""
        old = (entry & _PFN) >> D.PAGE_SHIFT
        if entry & D._PAGE_SPECIAL:
            if old != self.zero_pfn or not anon_vma:
                return D.ACCESS_FAULT
            self._install_anon(table, i, anon_vma, index, nx, counters)
            return D.ACCESS_DONE
        if old >= self.max_pfn or not self.flags[old] & D.PG_ANON:
            return D.ACCESS_FAULT
        if self.flags[old] & D.PG_ANON_EXCLUSIVE or self.refcount[old] == 1:
            self.flags[old] |= D.PG_ANON_EXCLUSIVE
            table[i] = entry | D._PAGE_RW | D._PAGE_DIRTY | D._PAGE_ACCESSED
            self.events[D.EV_PGREUSE] += 1
            return D.ACCESS_DONE
        self._install_anon(table, i, anon_vma, index, nx, counters, copy_from=old)
        counters[D.MM_ANONPAGES] -= 1       # the copy replaces a page this mm counted
        self.mapcount[old] -= 1
        if self.mapcount[old] == 0:
            self.node[D.NR_ANON_MAPPED] -= 1
        self.refcount[old] -= 1
        if self.refcount[old] == 0:
            self._release_page(old)
        return D.ACCESS_DONE

    # -- invariants -------------------------------------------------------------------------
    def check(self, pgd_list):
        problems = []
        for pgd in pgd_list:
            pgd = self._check_pgd(pgd)
            for pfn in self.table_pages(pgd):
                if not self.flags[pfn] & D.PG_PGTABLE:
                    problems.append(A.not_table_message(pgd, pfn))
            addrs, entries = self.walk(pgd, 0, self.user_top)
            for a, e in zip(addrs.tolist(), entries.tolist()):
                if (e & (D._PAGE_PRESENT | D._PAGE_PROTNONE) and not e & D._PAGE_SPECIAL
                        and (e & _PFN) >> D.PAGE_SHIFT >= self.max_pfn):
                    problems.append(A.bad_leaf_message(pgd, a, e, self.max_pfn))
        if problems:
            raise InvariantError("; ".join(problems))
