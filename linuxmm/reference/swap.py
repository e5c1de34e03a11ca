"""Swap areas of the reference MMU engine: the pure-Python twin of csrc/swap.c (same arrays, same
results).  linuxmm.reference.mmu.Mmu inherits SwapEngine; linuxmm/vm/swap.py keeps the policy.

An area's slots: swap_map (PTEs holding the slot), cache (the swap cache: slot -> pfn, -1 none),
shadow (workingset shadow age << 1 | workingset, -1 none) and data (slot -> the bytes pageout
wrote).  Slots come from 512-slot clusters: cpu 0's current cluster, then the oldest free
cluster (a ring in free_clusters), then any cluster with room.
"""
import numpy as np

from ..vm import mmu_defs as D

_U64 = (1 << 64) - 1
_CLUSTER = D.SWAPFILE_CLUSTER
_ENTRY_SHIFT = D.SWP_ENTRY_SHIFT
_OFF_MASK = (1 << _ENTRY_SHIFT) - 1
_PSE_BIT = D._PAGE_PSE
_FOLIOREF_RECLAIM_CLEAN, _FOLIOREF_KEEP, _FOLIOREF_ACTIVATE = 1, 2, 3


class _NoMem(Exception):
    """The page allocator refused a page inside an operation (the reference MMU's)."""


class _Area:
    """struct lmm_swap_area."""

    def __init__(self, max_slots, sync):
        self.nclusters = (max_slots + _CLUSTER - 1) // _CLUSTER
        self.swap_map = np.zeros(max_slots, np.int32)
        self.swap_map[0] = -1                       # SWAP_MAP_BAD: the header page
        self.cache = np.full(max_slots, -1, np.int64)
        self.shadow = np.full(max_slots, -1, np.int64)
        self.cluster_used = np.zeros(self.nclusters, np.int32)
        self.cluster_used[0] = 1
        self.free_clusters = np.zeros(self.nclusters, np.int32)
        self.free_clusters[:self.nclusters - 1] = np.arange(1, self.nclusters)
        self.info = np.zeros(D.NR_SWPI, np.int64)
        self.info[D.SWPI_MAX] = max_slots
        self.info[D.SWPI_PAGES] = max_slots - 1
        self.info[D.SWPI_NEXT_OFFSET] = 1
        self.info[D.SWPI_NR_FREE] = self.nclusters - 1
        self.info[D.SWPI_SYNC] = 1 if sync else 0
        self.data = {}                              # offset -> bytes

    def arrays(self):
        return {"swap_map": self.swap_map, "cache": self.cache, "shadow": self.shadow,
                "cluster_used": self.cluster_used, "free_clusters": self.free_clusters,
                "info": self.info}

    def bad_slot(self, off):
        return not 0 < off < int(self.info[D.SWPI_MAX])

    # -- slots --------------------------------------------------------------------------------
    def _has_room(self, c):
        end = min((c + 1) * _CLUSTER, int(self.info[D.SWPI_MAX]))
        return int(self.cluster_used[c]) < end - c * _CLUSTER

    def _scan(self, c, start):
        end = min((c + 1) * _CLUSTER, int(self.info[D.SWPI_MAX]))
        for off in range(start, end):
            if self.swap_map[off] == 0 and self.cache[off] < 0:
                return off
        return -1

    def _take(self, off):
        info = self.info
        info[D.SWPI_NEXT_OFFSET] = off + 1
        info[D.SWPI_INUSE] += 1
        self.cluster_used[off // _CLUSTER] += 1
        return off

    def alloc_slot(self):
        info = self.info
        if info[D.SWPI_INUSE] >= info[D.SWPI_PAGES]:
            return -1
        while True:
            c = int(info[D.SWPI_CURRENT])
            if self._has_room(c):
                off = self._scan(c, max(int(info[D.SWPI_NEXT_OFFSET]), c * _CLUSTER))
                if off >= 0:
                    return self._take(off)
            if not info[D.SWPI_NR_FREE]:
                break
            head = int(info[D.SWPI_FREE_HEAD])      # a new free cluster for cpu 0
            c = int(self.free_clusters[head])
            info[D.SWPI_FREE_HEAD] = (head + 1) % self.nclusters
            info[D.SWPI_NR_FREE] -= 1
            info[D.SWPI_CURRENT] = c
            info[D.SWPI_NEXT_OFFSET] = c * _CLUSTER
        for c in range(self.nclusters):             # the nonfull and fragmented clusters
            if self._has_room(c):
                off = self._scan(c, c * _CLUSTER)
                if off >= 0:
                    info[D.SWPI_CURRENT] = c
                    return self._take(off)
        return -1

    def slot_free(self, off):
        self.data.pop(off, None)
        info = self.info
        info[D.SWPI_INUSE] -= 1
        c = off // _CLUSTER
        self.cluster_used[c] -= 1
        if self.cluster_used[c] == 0 and c != info[D.SWPI_CURRENT]:
            tail = (int(info[D.SWPI_FREE_HEAD]) + int(info[D.SWPI_NR_FREE])) % self.nclusters
            self.free_clusters[tail] = c
            info[D.SWPI_NR_FREE] += 1


class SwapEngine:
    """The swap half of the reference Mmu (csrc/swap.c's twin)."""

    def _swap_init(self):
        self.swap_entry = np.zeros(self.max_pfn, np.int64)
        self.swap_stat = np.zeros(D.NR_SWAP_STATS, np.int64)
        self._swap = {}                             # type -> _Area

    # -- areas --------------------------------------------------------------------------------
    def swapon(self, type_, max_slots, sync=False):
        if not 0 <= type_ < D.MAX_SWAPFILES or type_ in self._swap or \
                not 2 <= max_slots <= 1 << 32:
            raise ValueError(f"swap type {type_} is in use or bad, or {max_slots} slots too few")
        self._swap[type_] = _Area(max_slots, sync)

    def swapoff(self, type_):
        if self._swap.pop(type_, None) is None:
            raise ValueError(f"no swap area of type {type_}")

    def swap_arrays(self, type_):
        si = self._swap.get(type_)
        if si is None:
            raise ValueError(f"no swap area of type {type_}")
        return si.arrays()

    def swap_alloc_slot(self, type_):
        si = self._swap.get(type_)
        return -1 if si is None else si.alloc_slot()

    def swap_slot_free(self, type_, offset):
        si = self._swap.get(type_)
        if si is not None and not si.bad_slot(offset):
            si.slot_free(offset)

    # -- the swap cache -----------------------------------------------------------------------
    def _cache_add(self, si, pfn, type_, off):
        si.cache[off] = pfn
        self.swap_entry[pfn] = (type_ << _ENTRY_SHIFT) | off
        self.flags[pfn] |= D.PG_SWAPCACHE
        self.refcount[pfn] += 1                     # the swap cache's reference
        self.node[D.NR_FILE_PAGES] += 1             # nr_file_pages counts the swap cache too
        self.swap_stat[D.SWS_NR_SWAPCACHED] += 1

    def _cache_delete(self, pfn, shadow):
        e = int(self.swap_entry[pfn])
        si = self._swap[e >> _ENTRY_SHIFT]
        off = e & _OFF_MASK
        self.swap_entry[pfn] = 0
        si.cache[off] = -1
        self.flags[pfn] &= ~np.uint32(D.PG_SWAPCACHE)
        self.node[D.NR_FILE_PAGES] -= 1
        self.swap_stat[D.SWS_NR_SWAPCACHED] -= 1
        if si.swap_map[off] == 0:
            si.slot_free(off)
        elif shadow >= 0:
            si.shadow[off] = shadow

    def swap_cache_add(self, pfn, type_, offset):
        si = self._swap.get(type_)
        if not 0 <= pfn < self.max_pfn or pfn in self._tables or si is None or \
                si.bad_slot(offset) or self.swap_entry[pfn] or si.cache[offset] >= 0:
            raise ValueError(f"pfn {pfn} or swap slot {type_}:{offset} cannot be cached")
        self._cache_add(si, pfn, type_, offset)

    def _cached(self, pfn):
        """(area, offset) of a swap-cache folio, or None."""
        if not 0 <= pfn < self.max_pfn or not self.swap_entry[pfn]:
            return None
        e = int(self.swap_entry[pfn])
        si = self._swap.get(e >> _ENTRY_SHIFT)
        off = e & _OFF_MASK
        if si is None or si.bad_slot(off) or si.cache[off] != pfn:
            return None
        return si, off

    def swap_cache_delete(self, pfn, shadow=-1):
        if self._cached(pfn) is None:
            raise ValueError(f"pfn {pfn} is not in the swap cache")
        self._cache_delete(pfn, shadow)

    # -- page I/O -----------------------------------------------------------------------------
    def swap_writepage(self, pfn):
        where = self._cached(pfn)
        if where is None:
            raise ValueError(f"pfn {pfn} is not in the swap cache")
        si, off = where
        buf = self._data.get(pfn)
        if buf is not None:
            si.data[off] = bytes(buf)
        else:
            si.data.pop(off, None)
        self.flags[pfn] &= ~np.uint32(D.PG_DIRTY)
        self.swap_stat[D.SWS_PSWPOUT] += 1
        self.events[D.EV_PGPGOUT] += D.PAGE_SIZE >> 10

    def _readpage(self, si, pfn, off):
        self._data.pop(pfn, None)                   # a fresh user page
        data = si.data.get(off)
        if data is not None:
            self._data[pfn] = bytearray(data)
        self.swap_stat[D.SWS_PSWPIN] += 1
        self.events[D.EV_PGPGIN] += D.PAGE_SIZE >> 10

    def swap_readpage(self, pfn, type_, offset):
        si = self._swap.get(type_)
        if not 0 <= pfn < self.max_pfn or pfn in self._tables or si is None or \
                si.bad_slot(offset):
            raise ValueError(f"bad frame {pfn} or swap slot {type_}:{offset}")
        self._readpage(si, pfn, offset)

    # -- shrink_folio_list's anonymous half (csrc/vmscan.c) ------------------------------------
    def _folio_free_swap(self, pfn):
        e = int(self.swap_entry[pfn])
        if not e or self._swap[e >> _ENTRY_SHIFT].swap_map[e & _OFF_MASK] > 0:
            return
        self._cache_delete(pfn, -1)
        self.refcount[pfn] -= 1
        if self.refcount[pfn] == 0:
            self._release_page(pfn)

    def _activate(self, pfn):
        flags = int(self.flags[pfn])
        free, total = self._swap_free_pages()
        if flags & D.PG_SWAPCACHE and total > 0 and (total - free) * 2 > total:
            self._folio_free_swap(pfn)
        if flags & D.PG_MLOCKED:
            return 0
        self.flags[pfn] |= D.PG_ACTIVE
        return 1

    def _add_to_swap(self, pfn, swap_order):
        for type_ in swap_order:
            si = self._swap.get(type_)
            off = -1 if si is None else si.alloc_slot()
            if off >= 0:
                self._cache_add(si, pfn, type_, off)
                self.flags[pfn] |= D.PG_DIRTY
                return True
        return False

    def shrink_anon(self, pfns, start, refs, flat, counters, swap_order, may_swap,
                    may_writepage):
        """lmm_mmu_shrink_anon in Python: (index of the first folio left to the caller, folios
        kept in order, reclaimed, activated, written)."""
        ref, dec, mstart, cand, addr = (x.tolist() for x in refs)
        c_pgd = flat[2].tolist()
        pfns = pfns.tolist()
        swap_order = swap_order.tolist()
        keep = []
        reclaimed = activated = written = 0
        n = len(pfns)
        for i in range(start, n):
            pfn = pfns[i]
            if ref[i] < 0 or not 0 <= pfn < self.max_pfn:
                return i, keep, reclaimed, activated, written
            flags = int(self.flags[pfn])
            if not flags & D.PG_ANON or not flags & D.PG_SWAPBACKED or flags & D.PG_HEAD:
                return i, keep, reclaimed, activated, written
            maps = [(c_pgd[cand[j]], addr[j], counters[cand[j]])
                    for j in range(mstart[i], mstart[i + 1])]
            leaves = [self._leaf(pgd, a) for pgd, a, _ in maps]
            if any(t is None or e & _PSE_BIT for e, t, _ in leaves):
                return i, keep, reclaimed, activated, written
            d = dec[i]
            if d == _FOLIOREF_ACTIVATE:
                activated += self._activate(pfn)
                keep.append(pfn)
                continue
            if d == _FOLIOREF_KEEP:
                keep.append(pfn)
                continue
            if not flags & D.PG_SWAPCACHE and \
                    (not may_swap or not self._add_to_swap(pfn, swap_order)):
                activated += self._activate(pfn)
                keep.append(pfn)
                continue
            e = int(self.swap_entry[pfn])           # try_to_unmap
            type_, off = e >> _ENTRY_SHIFT, e & _OFF_MASK
            si = self._swap[type_]
            swp_pte = (((~off << 14) & _U64) >> 5) | (type_ << 59)
            for (_, _, mm_counters), (pte, table, j) in zip(maps, leaves):
                if pte & D._PAGE_DIRTY:
                    self.flags[pfn] |= D.PG_DIRTY
                table[j] = swp_pte
                mm_counters[D.MM_ANONPAGES] -= 1
                mm_counters[D.MM_SWAPENTS] += 1
                si.swap_map[off] += 1
                self.mapcount[pfn] -= 1
                if self.mapcount[pfn] == 0:
                    self.node[D.NR_ANON_MAPPED] -= 1
                self.refcount[pfn] -= 1
                if self.refcount[pfn] == 0:         # (the swap cache holds one: never here)
                    self._release_page(pfn)
            if self.flags[pfn] & D.PG_DIRTY:
                if d == _FOLIOREF_RECLAIM_CLEAN or not may_writepage:
                    keep.append(pfn)
                    continue
                self.swap_writepage(pfn)
                written += 1
            if self.mapcount[pfn] or self.refcount[pfn] != 1:      # __remove_mapping
                keep.append(pfn)
                continue
            self.swap_stat[D.SWS_NONRESIDENT_AGE] += 1              # workingset_eviction
            age = int(self.swap_stat[D.SWS_NONRESIDENT_AGE])
            self._cache_delete(pfn, (age << 1) | (1 if self.flags[pfn] & D.PG_WORKINGSET else 0))
            self.refcount[pfn] = 0
            self._release_page(pfn)
            reclaimed += 1
        return n, keep, reclaimed, activated, written

    # -- swap-in in the access loop -----------------------------------------------------------
    def _swap_free_pages(self):
        """(free slots, usable slots) over every area."""
        free = total = 0
        for si in self._swap.values():
            total += int(si.info[D.SWPI_PAGES])
            free += int(si.info[D.SWPI_PAGES]) - int(si.info[D.SWPI_INUSE])
        return free, total

    def _swapin_nr_pages(self, off):
        """swapin_nr_pages(): the readahead window for off, from the recent readahead hits."""
        st = self.swap_stat
        max_pages = 1 << int(st[D.SWS_PAGE_CLUSTER])
        if max_pages <= 1:
            return 1
        return D.swapin_window(st, off, max_pages)

    def _read_swap_folio(self, si, type_, off, anon_vma, index, readahead):
        """A new anonymous folio in the swap cache with the slot's bytes, refaulted, on the LRU
        (raises _NoMem, nothing changed, when the allocator refuses)."""
        pfn = self._alloc(D.GFP_ANON_PAGE)
        self._readpage(si, pfn, off)
        self.flags[pfn] = D.PG_ANON | D.PG_SWAPBACKED | D.PG_UPTODATE | \
            (D.PG_READAHEAD if readahead else 0)
        self.refcount[pfn] = 0
        self.mapcount[pfn] = 0
        self.mapping[pfn] = anon_vma
        self.index[pfn] = index
        self._cache_add(si, pfn, type_, off)
        shadow = int(si.shadow[off])
        si.shadow[off] = -1
        if shadow >= 0:
            self._workingset_refault(pfn, shadow)
        lru = D.LRU_ACTIVE_ANON if self.flags[pfn] & D.PG_ACTIVE else D.LRU_INACTIVE_ANON
        self.flags[pfn] |= D.PG_LRU
        self.node[lru] += 1                         # (NR_*_ANON == LRU_*_ANON)
        self._lru_add(pfn, lru)
        return pfn

    def _workingset_refault(self, pfn, shadow):
        st = self.swap_stat
        distance = int(st[D.SWS_NONRESIDENT_AGE]) - (shadow >> 1)
        node = self.node
        size = int(node[D.NR_ACTIVE_FILE]) + int(node[D.NR_INACTIVE_FILE])
        if self._swap_free_pages()[0] > 0:
            size += int(node[D.NR_ACTIVE_ANON])
        st[D.SWS_REFAULT_ANON] += 1
        if distance > size:
            return
        self.flags[pfn] |= D.PG_ACTIVE
        st[D.SWS_NONRESIDENT_AGE] += 1
        st[D.SWS_ACTIVATE_ANON] += 1
        if shadow & 1:
            self.flags[pfn] |= D.PG_WORKINGSET
            st[D.SWS_RESTORE_ANON] += 1

    def _do_swap_page(self, counters, row, entry, table, i, addr, write):
        """do_swap_page() for the access loop (csrc/swap.c's do_swap_page): a swap-cache hit or
        a one-page swap-in; ACCESS_FAULT, before any change, for everything else.  Returns
        ACCESS_DONE, _DONE_MAJOR, ACCESS_FAULT or raises _NoMem (nothing changed)."""
        anon_vma, vm_flags = row[D.SNAP_ANON_VMA], row[D.SNAP_FLAGS]
        type_ = entry >> 59
        off = ((~entry << 5) & _U64) >> 14
        si = self._swap.get(type_)
        if not anon_vma or si is None or si.bad_slot(off) or si.swap_map[off] <= 0:
            return D.ACCESS_FAULT
        pfn = int(si.cache[off])
        st = self.swap_stat
        major = pfn < 0
        if major and si.info[D.SWPI_SYNC]:
            return D.ACCESS_FAULT
        exclusive = si.swap_map[off] == 1 and (major or not self.mapcount[pfn])
        if write and not exclusive:
            return D.ACCESS_FAULT
        index = row[D.SNAP_PGOFF] + ((addr - row[D.SNAP_START]) >> D.PAGE_SHIFT)
        if major:                                   # swap_cluster_readahead
            pfn = self._read_swap_folio(si, type_, off, anon_vma, index, False)   # or _NoMem
            self.refcount[pfn] += 1                 # swapin_readahead's reference
            mask = self._swapin_nr_pages(off) - 1
            if mask:
                start = off & ~mask or 1
                end = min(off | mask, int(si.info[D.SWPI_MAX]) - 1)
                for o in range(start, end + 1):
                    if o == off or si.swap_map[o] <= 0 or si.cache[o] >= 0:
                        continue
                    try:
                        self._read_swap_folio(si, type_, o, anon_vma, index, True)
                    except _NoMem:
                        break                       # no page: the readahead stops
                    st[D.SWS_SWAP_RA] += 1
            self.events[D.EV_PGMAJFAULT] += 1
        else:                                       # swap_cache_get_folio: a reference
            self.refcount[pfn] += 1
            if self.flags[pfn] & D.PG_READAHEAD:
                self.flags[pfn] &= ~np.uint32(D.PG_READAHEAD)
                st[D.SWS_RA_HITS] += 1
                st[D.SWS_SWAP_RA_HIT] += 1
        flags = int(self.flags[pfn])                # map it: the lookup's reference
        if not self.mapcount[pfn]:                  # __folio_set_anon
            self.mapping[pfn] = anon_vma
            self.index[pfn] = index
        si.swap_map[off] -= 1
        pte = (pfn << D.PAGE_SHIFT) | D._PAGE_PRESENT | D._PAGE_USER | D._PAGE_ACCESSED | \
            (0 if vm_flags & D.VM_EXEC else D._PAGE_NX)
        if exclusive:
            flags |= D.PG_ANON_EXCLUSIVE
            if vm_flags & D.VM_WRITE:
                pte |= D._PAGE_RW
                if write:
                    pte |= D._PAGE_DIRTY
        self.flags[pfn] = flags
        counters[D.MM_SWAPENTS] -= 1
        counters[D.MM_ANONPAGES] += 1
        self.mapcount[pfn] += 1
        if self.mapcount[pfn] == 1:
            self.node[D.NR_ANON_MAPPED] += 1
        table[i] = pte
        free, total = self._swap_free_pages()       # should_try_to_free_swap
        if (total > 0 and (total - free) * 2 > total) or \
                (write and exclusive and self.refcount[pfn] == 2):
            if si.swap_map[off] == 0:               # folio_free_swap
                self._cache_delete(pfn, -1)
                self.refcount[pfn] -= 1             # folio_put: the mapping keeps one
        return _DONE_MAJOR if major else D.ACCESS_DONE


_DONE_MAJOR = 100           # (csrc/mmu_internal.h ACCESS_DONE_MAJOR: never leaves the engine)
