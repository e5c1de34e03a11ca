"""The MMU engine in C (csrc/mmu.c): per-frame state, sparse page contents, x86_64 4-level page
tables and the bulk access loop.  linuxmm.reference.mmu.Mmu is the pure-Python twin (same API,
same results).

    m = Mmu(pa, max_pfn, zero_pfn)               # pa: a linuxmm.PageAllocator
    counters = np.zeros(NR_MM_COUNTERS, np.int64) # one per mm
    pgd = m.pgd_alloc(counters)
    m.access(pgd, counters, snapshot, addrs, writes)   # -> (index, ACCESS_*)

The numpy arrays flags, refcount, mapcount, mapping, index (one entry per frame), events and node
are views of the C engine's memory: writes from Python are what the C loop sees.
"""
import numpy as np

from ._ffi import ffi, lib
from .errors import InvariantError, OutOfMemory
from .vm import mmu_args as A
from .vm import mmu_defs as D

_from_buffer = ffi.from_buffer
_access = lib.lmm_mmu_access
_pte_get = lib.lmm_mmu_pte_get
_pte_update = lib.lmm_mmu_pte_update
_pte_clear_young = lib.lmm_mmu_pte_clear_young
_check_refs = lib.lmm_mmu_check_references
_pmd_get = lib.lmm_mmu_pmd_get
_page_clear = lib.lmm_mmu_page_clear
_isolate = lib.lmm_mmu_isolate_lru
_lru_add_batch = lib.lmm_mmu_lru_add_batch
_swap_alloc_slot = lib.lmm_mmu_swap_alloc_slot
_swap_slot_free = lib.lmm_mmu_swap_slot_free
_swap_cache_add = lib.lmm_mmu_swap_cache_add
_swap_cache_delete = lib.lmm_mmu_swap_cache_delete
_swap_writepage = lib.lmm_mmu_swap_writepage
_swap_readpage = lib.lmm_mmu_swap_readpage
_shrink_anon = lib.lmm_mmu_shrink_anon
_ARRAYS = (("flags", lib.LMM_MMU_FLAGS, np.uint32, None),
           ("refcount", lib.LMM_MMU_REFCOUNT, np.int32, None),
           ("mapcount", lib.LMM_MMU_MAPCOUNT, np.int32, None),
           ("mapping", lib.LMM_MMU_MAPPING, np.int64, None),
           ("index", lib.LMM_MMU_INDEX, np.int64, None),
           ("events", lib.LMM_MMU_EVENTS, np.int64, D.NR_VM_EVENTS),
           ("node", lib.LMM_MMU_NODE, np.int64, D.NR_NODE_ITEMS),
           ("lru_prev", lib.LMM_MMU_LRU_PREV, np.int32, "lru"),
           ("lru_next", lib.LMM_MMU_LRU_NEXT, np.int32, "lru"),
           ("swap_entry", lib.LMM_MMU_SWAP_ENTRY, np.int64, None),
           ("swap_stat", lib.LMM_MMU_SWAP_STAT, np.int64, D.NR_SWAP_STATS))
# one swap area's arrays (lmm_mmu_swap_array): name, selector, dtype, length ("max", "clusters"
# or a number)
_SWAP_ARRAYS = (("swap_map", lib.LMM_MMU_SWP_MAP, np.int32, "max"),
                ("cache", lib.LMM_MMU_SWP_CACHE, np.int64, "max"),
                ("shadow", lib.LMM_MMU_SWP_SHADOW, np.int64, "max"),
                ("cluster_used", lib.LMM_MMU_SWP_CLUSTERS, np.int32, "clusters"),
                ("free_clusters", lib.LMM_MMU_SWP_FREE, np.int32, "clusters"),
                ("info", lib.LMM_MMU_SWP_INFO, np.int64, D.NR_SWPI))


def _c_array(arr, ctype):
    return _from_buffer(ctype, arr, require_writable=ctype.startswith("int64_t[]"))


class Mmu:
    """Page frames, page tables and the bulk access loop over one PageAllocator."""

    backend = "c"

    def __init__(self, pa, max_pfn, zero_pfn, levels=4):
        self.max_pfn, self.zero_pfn = A.check_geometry(pa, max_pfn, zero_pfn)
        self.levels, self.task_size, self.user_top = A.check_levels(levels)
        raw = lib.lmm_mmu_create(pa._ptr, self.max_pfn, self.zero_pfn)
        if raw == ffi.NULL:
            raise MemoryError("cannot allocate the MMU's per-frame state")
        lib.lmm_mmu_set_levels(raw, self.levels)
        self._attach(pa, raw, self.max_pfn)

    def _attach(self, pa, raw, max_pfn):
        """Own the engine `raw` (over allocator pa): numpy views of its per-frame arrays and
        the scratch cells of the calls (also how a snapshot's engine is taken over)."""
        self.pa = pa
        self._pa_ptr = pa._ptr                  # the C engine holds the allocator: keep it
        self._ptr = ptr = ffi.gc(raw, lib.lmm_mmu_destroy)
        for name, which, dtype, n in _ARRAYS:
            count = (max_pfn if n is None else max_pfn + D.NR_LRU_LISTS if n == "lru" else n)
            # a cdata that keeps the engine alive as long as any view of its memory lives
            keep = ffi.gc(ffi.cast("char *", lib.lmm_mmu_array(raw, which)),
                          lambda _p, owner=ptr: None)
            buf = ffi.buffer(keep, count * np.dtype(dtype).itemsize)
            setattr(self, name, np.frombuffer(buf, dtype=dtype))
        self._reason = ffi.new("int *")
        self._leaf = ffi.new("uint64_t[2]")
        self._flat_cache = None           # (flat snapshot, its C views): check_references
        self._counters_cache = None       # (counters list, C pointer array, arrays): shrink_anon
        self._refs_cache = None           # check_references' last arrays and their C views
        self._scanned = ffi.new("int64_t *")

    def lru_list(self, lru):
        """The pfns on LRU list `lru`, newest first (InvariantError when the list is broken)."""
        lru = A.check_lru(lru)
        n = lib.lmm_mmu_lru_walk(self._ptr, lru, ffi.NULL, 0)
        if n < 0:
            raise InvariantError(f"LRU list {lru} is broken")
        out = np.empty(n, np.int64)
        lib.lmm_mmu_lru_walk(self._ptr, lru, _from_buffer("int64_t[]", out), n)
        return out

    # -- page contents ----------------------------------------------------------------------
    def _data_pfn(self, pfn, name="pfn"):
        pfn = A.check_pfn(pfn, self.max_pfn, name)
        if lib.lmm_mmu_table_level(self._ptr, pfn):
            raise ValueError(f"{name} {pfn} is a page-table page")
        return pfn

    def page_read(self, pfn, offset=0, length=D.PAGE_SIZE):
        pfn = A.check_pfn(pfn, self.max_pfn)
        offset, length = A.check_span(offset, length)
        out = bytearray(length)
        lib.lmm_mmu_page_read(self._ptr, pfn, offset, length, _from_buffer("uint8_t[]", out))
        return bytes(out)

    def page_write(self, pfn, offset, data):
        pfn = self._data_pfn(pfn)
        data = A.check_bytes(data)
        offset, length = A.check_span(offset, len(data))
        if lib.lmm_mmu_page_write(self._ptr, pfn, offset, data, length):
            raise MemoryError("no host memory for a page buffer")

    def page_copy(self, dst, src):
        dst, src = self._data_pfn(dst, "dst"), self._data_pfn(src, "src")
        if lib.lmm_mmu_page_copy(self._ptr, dst, src):
            raise MemoryError("no host memory for a page buffer")

    def page_clear(self, pfn):
        lib.lmm_mmu_page_clear(self._ptr, self._data_pfn(pfn))

    def page_has_data(self, pfn):
        return bool(lib.lmm_mmu_page_has_data(self._ptr, A.check_pfn(pfn, self.max_pfn)))

    def nr_data_pages(self):
        return lib.lmm_mmu_nr_data_pages(self._ptr)

    # -- page tables --------------------------------------------------------------------------
    def _check_pgd(self, pgd):
        pgd = A.check_pfn(pgd, self.max_pfn, "pgd")
        if lib.lmm_mmu_table_level(self._ptr, pgd) != D.LEVEL_PGD:
            raise ValueError(f"pfn {pgd} is not a PGD of this MMU")
        return pgd

    def pgd_alloc(self, counters):
        pgd = lib.lmm_mmu_pgd_alloc(self._ptr, _c_array(A.check_counters(counters), "int64_t[]"))
        if pgd < 0:
            raise OutOfMemory("no page for a PGD")
        return pgd

    def pgd_free(self, pgd, counters):
        pgd = self._check_pgd(pgd)
        if lib.lmm_mmu_pgd_free(self._ptr, pgd, _c_array(A.check_counters(counters), "int64_t[]")):
            raise ValueError(f"pgd {pgd} still has lower tables")

    def pte_get(self, pgd, addr):
        return lib.lmm_mmu_pte_get(self._ptr, self._check_pgd(pgd),
                                   A.check_addr(addr, self.task_size))

    # -- unchecked fast paths: trusted internal callers only (reclaim, swap), with a pgd of this
    # MMU and a user address; the checked methods above stay the public API
    def pte_get_unchecked(self, pgd, addr):
        """pte_get without argument checks."""
        return _pte_get(self._ptr, pgd, addr)

    def pmd_get_unchecked(self, pgd, addr):
        """pmd_get without argument checks."""
        return _pmd_get(self._ptr, pgd, addr)

    def page_clear_unchecked(self, pfn):
        """page_clear of a frame known to be a user page (not a page-table page)."""
        _page_clear(self._ptr, pfn)

    def pte_update(self, pgd, addr, entry, counters):
        """pte_set without argument checks: a PTE in an existing PTE table is overwritten in
        place; otherwise (no table, a huge leaf) the checked pte_set runs."""
        if _pte_update(self._ptr, pgd, addr, entry):
            self.pte_set(pgd, addr, entry, counters)

    def pte_clear_young(self, pgd, addr):
        """ptep_test_and_clear_young: pte_get's entry for addr; a PTE (not a huge PMD leaf)
        with Accessed set loses it in the table."""
        return _pte_clear_young(self._ptr, pgd, addr)

    def pmd_get(self, pgd, addr):
        return lib.lmm_mmu_pmd_get(self._ptr, self._check_pgd(pgd),
                                   A.check_addr(addr, self.task_size))

    @staticmethod
    def _set_error(err, addr):
        if err == -lib.LMM_ENOMEM:
            raise OutOfMemory(f"no page for a page table at {addr:#x}")
        if err == -lib.LMM_EHUGE:
            raise ValueError(f"addr {addr:#x} lies in a huge PMD leaf")
        raise AssertionError(f"C refused arguments the checks accept: {err}")  # pragma: no cover

    def pte_set(self, pgd, addr, entry, counters):
        pgd, entry = self._check_pgd(pgd), A.check_entry(entry)
        addr = A.check_addr(addr, self.task_size)
        c = _c_array(A.check_counters(counters), "int64_t[]")
        err = lib.lmm_mmu_pte_set(self._ptr, pgd, addr, entry, c)
        if err:
            self._set_error(err, addr)

    def pmd_set(self, pgd, addr, entry, counters):
        pgd = self._check_pgd(pgd)
        addr, entry = A.check_huge(addr, entry, self.task_size)
        c = _c_array(A.check_counters(counters), "int64_t[]")
        err = lib.lmm_mmu_pmd_set(self._ptr, pgd, addr, entry, c)
        if err == -lib.LMM_EHUGE:
            raise ValueError(f"the PMD slot of {addr:#x} points to a PTE table")
        if err:
            self._set_error(err, addr)

    def pmd_alloc(self, pgd, addr, counters):
        """pud_alloc + pmd_alloc: the PUD and PMD tables above addr (OutOfMemory)."""
        pgd = self._check_pgd(pgd)
        addr = A.check_addr(addr, self.task_size)
        c = _c_array(A.check_counters(counters), "int64_t[]")
        err = lib.lmm_mmu_pmd_alloc(self._ptr, pgd, addr, c)
        if err:
            self._set_error(err, addr)

    def pud_alloc(self, pgd, addr, counters):
        """pud_alloc alone (no-op with PAE); OutOfMemory."""
        pgd = self._check_pgd(pgd)
        addr = A.check_addr(addr, self.task_size)
        c = _c_array(A.check_counters(counters), "int64_t[]")
        err = lib.lmm_mmu_pud_alloc(self._ptr, pgd, addr, c)
        if err:
            self._set_error(err, addr)

    def table_depth(self, pgd, addr):
        """0 no PUD table above addr, 1 no PMD table, 2 an empty PMD slot, 3 a PTE table or a
        huge leaf in addr's PMD slot."""
        return lib.lmm_mmu_table_depth(self._ptr, self._check_pgd(pgd),
                                       A.check_addr(addr, self.task_size))

    def set_bulk(self, pgd, addrs, entries, counters):
        pgd = self._check_pgd(pgd)
        addrs = A.addr_array(addrs, self.task_size)
        entries = A.entry_array(entries, len(addrs))
        c = _c_array(A.check_counters(counters), "int64_t[]")
        n = lib.lmm_mmu_set_bulk(self._ptr, pgd, _from_buffer("int64_t[]", addrs),
                                 _from_buffer("uint64_t[]", entries), len(addrs), c)
        if n < 0:
            self._set_error(n, int(addrs[lib.lmm_mmu_error_index(self._ptr)]))

    def clear_bulk(self, pgd, addrs):
        pgd = self._check_pgd(pgd)
        addrs = A.addr_array(addrs, self.task_size)
        lib.lmm_mmu_clear_bulk(self._ptr, pgd, _from_buffer("int64_t[]", addrs), len(addrs))

    def walk(self, pgd, start, end):
        pgd = self._check_pgd(pgd)
        start, end = A.check_range(start, end, self.user_top)
        n = lib.lmm_mmu_walk(self._ptr, pgd, start, end, ffi.NULL, ffi.NULL, 0)
        addrs = np.empty(n, np.int64)
        entries = np.empty(n, np.uint64)
        lib.lmm_mmu_walk(self._ptr, pgd, start, end, _from_buffer("int64_t[]", addrs),
                         _from_buffer("uint64_t[]", entries), n)
        return addrs, entries

    def table_pages(self, pgd):
        pgd = self._check_pgd(pgd)
        n = lib.lmm_mmu_table_pages(self._ptr, pgd, ffi.NULL, 0)
        out = np.empty(n, np.int64)
        lib.lmm_mmu_table_pages(self._ptr, pgd, _from_buffer("int64_t[]", out), n)
        return out.tolist()

    def free_pgtables(self, pgd, start, end, floor, ceiling, counters):
        """free_pgd_range(tlb, start, end, floor, ceiling) of 4-level x86_64 or 3-level PAE
        (a PMD table freed clears its PGD entry, mm_dec_nr_pmds); InvariantError
        (and nothing freed) when a table it would free still holds an entry."""
        pgd = self._check_pgd(pgd)
        start, end, floor, ceiling = A.check_free_range(start, end, floor, ceiling,
                                                        self.user_top)
        c = _c_array(A.check_counters(counters), "int64_t[]")
        err = lib.lmm_mmu_free_pgtables(self._ptr, pgd, start, end, floor, ceiling, c, self._leaf)
        if err == -lib.LMM_ELEAF:
            raise InvariantError(A.leaf_left_message(self._leaf[0], self._leaf[1]))
        if err:                                                     # pragma: no cover
            raise AssertionError(f"C refused arguments the checks accept: {err}")

    # -- reclaim's referenced-PTE pass (trusted internal callers: linuxmm/vm/vmscan.py) ---------
    def _flat_cdata(self, flat):
        """The C views of a flat rmap snapshot, kept while the same snapshot comes back (a
        reclaim pass calls with one snapshot many times)."""
        cached = self._flat_cache
        if cached is not None and cached[0] is flat:
            return cached[1]
        views = tuple(_from_buffer("int64_t[]", x) for x in flat)
        self._flat_cache = (flat, views)
        return views

    def check_references(self, pfns, flat, check):
        """lmm_mmu_check_references over the isolated folios `pfns` (int64 array) with the
        pass's flat anon rmap snapshot `flat` (RmapIndex.flat()): (ref, vmflags, decision,
        mstart, cand, addr) int64 arrays; ref[i] == -1: folio i is left to the Python path."""
        n = len(pfns)
        keys, kstart, pgd, start, pages, pgoff, vmflags = self._flat_cdata(flat)
        nkeys = len(flat[0])
        out = np.empty(4 * n + 1, np.int64)           # ref, vmf, dec, mstart
        out[2 * n:3 * n] = -1                          # dec: written only with check
        o = _from_buffer("int64_t[]", out)
        cap = max(n * 2, 8)
        while True:
            maps = np.empty(2 * cap, np.int64)           # cand, addr
            mp = _from_buffer("int64_t[]", maps)
            w = _check_refs(self._ptr, _from_buffer("int64_t[]", pfns), n, keys, kstart, nkeys,
                            pgd, start, pages, pgoff, vmflags, 1 if check else 0, o, o + n,
                            o + 2 * n, o + 3 * n, mp, mp + cap, cap)
            if w >= 0:
                ref = out[:n]
                # shrink_anon usually follows with these very arrays: keep their C views
                self._refs_cache = (ref, pfns, _from_buffer("int64_t[]", pfns),
                                    (o, o + 2 * n, o + 3 * n, mp, mp + cap), out, maps)
                return (ref, out[n:2 * n], out[2 * n:3 * n], out[3 * n:], maps[:w],
                        maps[cap:cap + w])
            cap *= 4

    def isolate_lru(self, lru, nr_to_scan, limit_pfn):
        """lmm_mmu_isolate_lru: (folios taken from list lru's tail as a list, pages scanned);
        folios at or above limit_pfn are skipped (linuxmm/vm/vmscan.py isolate_lru_folios)."""
        cap = int(self.node[lru]) + 1
        out = np.empty(cap, np.int64)
        scratch = np.empty(cap, np.int64)
        n = _isolate(self._ptr, lru, nr_to_scan, limit_pfn, _from_buffer("int64_t[]", out),
                     _from_buffer("int64_t[]", scratch), self._scanned)
        return out[:n].tolist(), self._scanned[0]

    def lru_add_batch(self, pfns):
        """lruvec_add_folio of each folio of the list `pfns`, in order."""
        if pfns:
            arr = np.array(pfns, np.int64)
            _lru_add_batch(self._ptr, _from_buffer("int64_t[]", arr), len(arr))

    # -- swap areas (trusted internal callers: linuxmm/vm/swap.py) -------------------------------
    def swapon(self, type_, max_slots, sync=False):
        """An empty swap area of max_slots slots (the header included) for a free type."""
        err = lib.lmm_mmu_swapon(self._ptr, type_, max_slots, 1 if sync else 0)
        if err == -lib.LMM_ENOMEM:
            raise MemoryError("cannot allocate the swap area's state")
        if err:
            raise ValueError(f"swap type {type_} is in use or bad, or {max_slots} slots too few")

    def swapoff(self, type_):
        """Free the area (views of its arrays must not be used any more)."""
        if lib.lmm_mmu_swapoff(self._ptr, type_):
            raise ValueError(f"no swap area of type {type_}")

    def swap_arrays(self, type_):
        """{name: numpy view} of the area's arrays (swap_map, cache, shadow, cluster_used,
        free_clusters, info)."""
        info = lib.lmm_mmu_swap_array(self._ptr, type_, lib.LMM_MMU_SWP_INFO)
        if info == ffi.NULL:
            raise ValueError(f"no swap area of type {type_}")
        info = ffi.cast("int64_t *", info)
        max_slots = info[D.SWPI_MAX]
        clusters = (max_slots + D.SWAPFILE_CLUSTER - 1) // D.SWAPFILE_CLUSTER
        out = {}
        for name, which, dtype, n in _SWAP_ARRAYS:
            count = max_slots if n == "max" else clusters if n == "clusters" else n
            keep = ffi.gc(ffi.cast("char *", lib.lmm_mmu_swap_array(self._ptr, type_, which)),
                          lambda _p, owner=self._ptr: None)
            out[name] = np.frombuffer(ffi.buffer(keep, count * np.dtype(dtype).itemsize),
                                      dtype=dtype)
        return out

    def swap_alloc_slot(self, type_):
        """cluster_alloc_swap_entry: a free slot's offset, or -1 when the area is full."""
        return _swap_alloc_slot(self._ptr, type_)

    def swap_slot_free(self, type_, offset):
        """The slot's last user went: its contents go, its cluster may become free."""
        _swap_slot_free(self._ptr, type_, offset)

    def swap_cache_add(self, pfn, type_, offset):
        """add_to_swap_cache (PG_swapcache, the cache's reference, nr_file_pages,
        nr_swapcached)."""
        if _swap_cache_add(self._ptr, pfn, type_, offset):
            raise ValueError(f"pfn {pfn} or swap slot {type_}:{offset} cannot be cached")

    def swap_cache_delete(self, pfn, shadow=-1):
        """__delete_from_swap_cache but the cache's reference (the caller puts it); the slot
        is freed when no PTE holds it, else it keeps the shadow (>= 0)."""
        if _swap_cache_delete(self._ptr, pfn, shadow):
            raise ValueError(f"pfn {pfn} is not in the swap cache")

    def swap_writepage(self, pfn):
        """swap_writepage: the folio's bytes to its slot, PG_dirty cleared, pswpout and
        pgpgout counted."""
        err = _swap_writepage(self._ptr, pfn)
        if err == -lib.LMM_ENOMEM:
            raise MemoryError("no host memory for a swap slot's contents")
        if err:
            raise ValueError(f"pfn {pfn} is not in the swap cache")

    def swap_readpage(self, pfn, type_, offset):
        """swap_read_folio: the slot's bytes into frame pfn, pswpin and pgpgin counted."""
        err = _swap_readpage(self._ptr, pfn, type_, offset)
        if err == -lib.LMM_ENOMEM:
            raise MemoryError("no host memory for a page buffer")
        if err:
            raise ValueError(f"bad frame {pfn} or swap slot {type_}:{offset}")

    def shrink_anon(self, pfns, start, refs, flat, counters, swap_order, may_swap,
                    may_writepage):
        """lmm_mmu_shrink_anon: shrink_folio_list's anonymous order-0 half from folio `start`
        of the isolated batch `pfns` (int64 array), with check_references' answer
        refs = (ref, decision, mstart, cand, addr) and the pass's flat rmap `flat`
        (RmapIndex.flat(); counters[c]: candidate c's mm counters).  Returns (index of the
        first folio left to the caller, folios kept in order, reclaimed, activated, written)."""
        ref, dec, mstart, cand, addr = refs
        n = len(pfns)
        keep = np.empty(max(n - start, 1) + 4, np.int64)     # kept folios, then out[4]
        k = keep[-4:]
        k[:] = 0
        fb = _from_buffer
        kp = fb("int64_t[]", keep)
        cached = self._counters_cache
        if cached is not None and cached[0] is counters:
            ptrs = cached[1]
        else:
            ptrs = ffi.new("int64_t *[]", [fb("int64_t[]", c, require_writable=True)
                                           for c in counters] or [ffi.NULL])
            self._counters_cache = (counters, ptrs, list(counters))
        last = self._refs_cache
        if last is not None and last[0] is ref and last[1] is pfns:
            pp, (rp, dp, mp, cp, ap) = last[2], last[3]
        else:
            pp, rp, dp, mp, cp, ap = (fb("int64_t[]", x) for x in (pfns, ref, dec, mstart, cand,
                                                                   addr))
        i = _shrink_anon(self._ptr, pp, n, start, rp, dp, mp, cp, ap, self._flat_cdata(flat)[2],
                         ptrs,
                         fb("int64_t[]", swap_order), len(swap_order), 1 if may_swap else 0,
                         1 if may_writepage else 0, kp, kp + (len(keep) - 4))
        if i < 0:
            raise MemoryError("no host memory for a swap slot's contents")
        return i, keep[:k[0]].tolist(), int(k[1]), int(k[2]), int(k[3])

    # -- the bulk access loop ---------------------------------------------------------------
    def access(self, pgd, counters, snapshot, addrs, writes, start=0):
        pgd = self._check_pgd(pgd)
        A.check_counters(counters)
        A.check_snapshot(snapshot)
        start = A.check_access(addrs, writes, start)
        i = _access(self._ptr, pgd, _from_buffer("int64_t[]", counters),
                    _from_buffer("int64_t[]", snapshot), len(snapshot),
                    _from_buffer("int64_t[]", addrs), _from_buffer("uint8_t[]", writes),
                    len(addrs), start, self._reason)
        if i < 0:                                                   # pragma: no cover
            raise AssertionError(f"C refused arguments the checks accept: {i}")
        return i, self._reason[0]

    def access_range(self, pgd, counters, snapshot, addr, npages, write, start=0):
        pgd = self._check_pgd(pgd)
        A.check_counters(counters)
        A.check_snapshot(snapshot)
        addr, npages, write, start = A.check_access_range(addr, npages, write, start)
        i = lib.lmm_mmu_access_range(self._ptr, pgd, _from_buffer("int64_t[]", counters),
                                     _from_buffer("int64_t[]", snapshot), len(snapshot), addr,
                                     npages, write, start, self._reason)
        if i < 0:                                                   # pragma: no cover
            raise AssertionError(f"C refused arguments the checks accept: {i}")
        return i, self._reason[0]

    # -- invariants -------------------------------------------------------------------------
    def check(self, pgd_list):
        problems = []
        for pgd in pgd_list:
            pgd = self._check_pgd(pgd)
            tables = np.array(self.table_pages(pgd), np.int64)
            for pfn in tables[(self.flags[tables] & D.PG_PGTABLE) == 0].tolist():
                problems.append(A.not_table_message(pgd, pfn))
            addrs, entries = self.walk(pgd, 0, self.user_top)
            bad = ((entries & np.uint64(D._PAGE_PRESENT | D._PAGE_PROTNONE)) != 0) \
                & ((entries & np.uint64(D._PAGE_SPECIAL)) == 0) \
                & (((entries & np.uint64(D.PTE_PFN_MASK)) >> np.uint64(D.PAGE_SHIFT))
                   >= np.uint64(self.max_pfn))
            for a, e in zip(addrs[bad].tolist(), entries[bad].tolist()):
                problems.append(A.bad_leaf_message(pgd, a, e, self.max_pfn))
        if problems:
            raise InvariantError("; ".join(problems))
