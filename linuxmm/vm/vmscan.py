"""Page reclaim (mm/vmscan.c, classic two-list LRU): kswapd, direct reclaim and the allocation
slow path that calls them.

    alloc_with_reclaim    __alloc_pages_slowpath for user pages: kswapd when woken, direct
                          reclaim (try_to_free_pages), retries, then the OOM killer
    balance_pgdat         kswapd: reclaim until a zone passes its high watermark (+ boost)
    shrink_node           get_scan_count -> shrink_lruvec -> shrink_list per LRU
    shrink_active_list    deactivate (referenced executable file folios rotate)
    shrink_inactive_list  -> shrink_folio_list: folio_check_references, swap-out of anon
                          folios, dropping clean file folios (shadow entries), dirty file
                          folios marked PG_reclaim and activated for the flusher

Referenced bits come from the PTEs (rmap): every simulated access sets Accessed, reclaim
clears and counts them.  Counters are kept where /proc/vmstat shows them.
"""
from collections import Counter, deque

import numpy as np

from ..errors import OutOfMemory
from .. import gfp as G
from .clock import charge
from .psi import psi_memstall_enter, psi_memstall_leave
from .rmap import RmapIndex, rmap_walk
from .filemap import put_page
from .lru import lru_add_drain
from .swap import add_to_swap, swap_writepage, try_to_unmap_anon
from .workingset import workingset_eviction
from .lruvec import LRU_NODE_ITEM, folio_nr_pages, lruvec_add_folio
from .mmu_defs import (NR_ANON_MAPPED, MM_ANONPAGES, EV_PGACTIVATE, LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_ANON,
                       LRU_INACTIVE_FILE, MM_FILEPAGES, MM_SHMEMPAGES, NR_ACTIVE_ANON,
                       NR_ACTIVE_FILE, NR_FILE_MAPPED, NR_INACTIVE_ANON, NR_INACTIVE_FILE,
                       _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_PSE, PAGE_SHIFT,
                       PG_ACTIVE, PG_ANON, PG_DIRTY, PG_HEAD, PG_MLOCKED, PG_ORDER_MASK,
                       PG_RECLAIM, PG_REFERENCED, PG_SHMEM, PG_SWAPBACKED, PG_SWAPCACHE, PG_TAIL,
                       PG_UNEVICTABLE, PG_WORKINGSET, PTE_PFN_MASK, SWAP_STAT_NAMES,
                       SWS_ACTIVATE_ANON, VM_EXEC)

SWAP_CLUSTER_MAX = 32
KSWAPD_LOG_MAX = 100_000          # kswapd runs remembered for k.kswapd_log()
DEF_PRIORITY = 12
MAX_SWAPPINESS = 200
MAX_RECLAIM_RETRIES = 16
PAGE_ALLOC_COSTLY_ORDER = 3
VM_LOCKED = 0x2000

FOLIOREF_RECLAIM, FOLIOREF_RECLAIM_CLEAN, FOLIOREF_KEEP, FOLIOREF_ACTIVATE = range(4)
STAT_NAMES = (
    "pgscan_kswapd", "pgscan_direct", "pgsteal_kswapd", "pgsteal_direct", "pgscan_anon",
    "pgscan_file", "pgsteal_anon", "pgsteal_file", "pgrefill", "pgdeactivate", "pgrotated",
    "pageoutrun", "workingset_refault_file", "workingset_activate_file",
    "workingset_restore_file",
    "nr_vmscan_write", "nr_vmscan_immediate_reclaim", "pglazyfreed", "kswapd_low_wmark_hit_quickly",
    "kswapd_high_wmark_hit_quickly", "pgsteal_khugepaged", "pgscan_khugepaged")
# (pswpin, pswpout, swap_ra, swap_ra_hit, nr_swapcached and the anonymous workingset counters
# are kept in the MMU engine's swap_stat: mmu_defs.SWAP_STAT_NAMES)


class Vmscan:
    """The node's reclaim state: counters (with swap's in the MMU engine's swap_stat, as the
    nonresident age of workingset.py), the reclaim cost of each LRU type (lru_note_cost), the
    refault snapshot of the last reclaim."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.stat = Counter({name: 0 for name in STAT_NAMES})
        self.anon_cost = 0
        self.file_cost = 0
        self.refaults_file = 0
        self.refaults_anon = 0
        self.kswapd_runs = 0
        self.kswapd_log = deque(maxlen=KSWAPD_LOG_MAX)   # (start ns, end ns, scanned, reclaimed)
        self.in_reclaim = False
        self.rmap_pass = False            # shrink_node runs: rmap through rmap_index
        self.rmap_index = None            # the pass's RmapIndex, built at its first rmap walk
        # zone_limits[i]: the lowest pfn page_zone() puts above zone i (isolate_lru_folios
        # skips folios at or above it)
        spans = kernel.layout.spans
        self.zone_limits = [min([start for j, (_, start, size) in enumerate(spans)
                                 if j > i and size] or [1 << 62]) for i in range(len(spans))]

    def vmstat(self):
        out = dict(self.stat)
        st = self.kernel.mmu.swap_stat
        for i, name in SWAP_STAT_NAMES.items():
            out[name] = int(st[i])
        swap = self.kernel.swap_state
        out["nr_swap_free_pages"] = swap.free_pages()
        return out


class ScanControl:
    __slots__ = ("nr_to_reclaim", "gfp", "order", "priority", "may_swap", "may_writepage",
                 "may_unmap", "reclaim_idx", "kswapd", "nr_scanned", "nr_reclaimed",
                 "may_deactivate", "cache_trim_mode", "file_is_tiny", "swappiness",
                 "no_flusher")

    def __init__(self, kernel, nr_to_reclaim, gfp, order=0, kswapd=False, reclaim_idx=None):
        self.nr_to_reclaim = nr_to_reclaim
        self.gfp = gfp
        self.order = order
        self.priority = DEF_PRIORITY
        self.may_swap = True
        self.may_writepage = True
        self.may_unmap = True
        self.reclaim_idx = (len(kernel._zone_names) - 1) if reclaim_idx is None else reclaim_idx
        self.kswapd = kswapd
        self.nr_scanned = 0
        self.nr_reclaimed = 0
        self.may_deactivate = 0
        self.cache_trim_mode = False
        self.file_is_tiny = False
        self.swappiness = kernel.swappiness
        self.no_flusher = False       # reclaim_pages: shrink_inactive_list's flusher wakeup
                                      # is not on its path


DEACTIVATE_ANON, DEACTIVATE_FILE = 1, 2


# -- referenced bits (rmap) ------------------------------------------------------------------
def folio_rmap(kernel, pfn):
    """Every (process, vma, address) mapping the folio headed by pfn: for a large page-cache
    folio, the mappings of each of its pages (each frame carries its own index)."""
    flags = int(kernel.mmu.flags[pfn])
    if flags & PG_ANON or not flags & PG_ORDER_MASK:
        return _rmap(kernel, pfn)
    out = []
    for p in range(pfn, pfn + folio_nr_pages(flags)):
        if kernel.mmu.mapcount[p]:
            out.extend(_rmap(kernel, p))
    return out


def folio_referenced(kernel, pfn):
    """(young PTEs, union of the VMAs' flags, their mappings): test and clear Accessed."""
    mmu = kernel.mmu
    referenced = 0
    vm_flags = 0
    mappings = folio_rmap(kernel, pfn)
    thp = mmu.flags[pfn] & PG_ANON and mmu.flags[pfn] & PG_HEAD     # PMD-mapped
    for process, vma, addr in mappings:
        if vma.vm_flags & VM_LOCKED:
            return referenced, vm_flags | VM_LOCKED, mappings
        mm = process.mm
        if thp:
            pte = mmu.pmd_get(mm.pgd, addr)
        else:
            pte = mmu.pte_clear_young(mm.pgd, addr)      # a PTE's Accessed is cleared here
        if pte & _PAGE_ACCESSED:
            if pte & _PAGE_PSE:
                mmu.pmd_set(mm.pgd, addr & ~((1 << 21) - 1), pte & ~_PAGE_ACCESSED, mm.counters)
            referenced += 1
            vm_flags |= vma.vm_flags
    return referenced, vm_flags, mappings


def _rmap(kernel, pfn):
    """rmap_walk, through the pass's RmapIndex while shrink_node runs (no VMA changes then)."""
    vs = kernel.vmscan
    index = vs.rmap_index
    if index is None:
        if not vs.rmap_pass:
            return rmap_walk(kernel, pfn)
        index = vs.rmap_index = RmapIndex(kernel)
    return index.walk(kernel, pfn)


def _batch_references(kernel, folios, check):
    """The engine's batch folio_referenced / folio_check_references for the anonymous order-0
    folios among `folios` (Mmu.check_references), inside a reclaim pass only (the pass's
    RmapIndex, flattened); None outside one.

    Why a batch before the per-folio loop gives the per-folio loop's results: a folio's rmap
    answer and its PTEs' Accessed bits depend only on the PTEs mapping that folio and on the
    VMAs (fixed during a pass), and handling the other folios of the batch (swap slot, unmap of
    their own PTEs, freeing them, the clock's timers, which touch file folios only) changes
    neither; the flags it reads and writes (PG_referenced) are the folio's own."""
    vs = kernel.vmscan
    if not vs.rmap_pass:
        return None
    index = vs.rmap_index
    if index is None:
        index = vs.rmap_index = RmapIndex(kernel)
    flat = index.flat()
    pfns = np.array(folios, np.int64)
    ref, vmf, dec, mstart, cand, addr = kernel.mmu.check_references(pfns, flat, check)
    return (ref.tolist(), vmf.tolist(), dec.tolist(), mstart.tolist(), cand.tolist(),
            addr.tolist(), index.flat_items, (ref, dec, mstart, cand, addr), flat,
            index.flat_counters(), pfns)


def _batch_mappings(batch, i):
    """folio i's [(process, vma, address)] from a _batch_references answer."""
    _, _, _, mstart, cand, addr, items = batch[:7]
    out = []
    for j in range(mstart[i], mstart[i + 1]):
        process, _, vma = items[cand[j]]
        out.append((process, vma, addr[j]))
    return out


def _is_file_lru(flags):
    return not flags & PG_SWAPBACKED


def folio_check_references(kernel, pfn):
    referenced_ptes, vm_flags, mappings = folio_referenced(kernel, pfn)
    mmu = kernel.mmu
    flags = int(mmu.flags[pfn])
    referenced_folio = bool(flags & PG_REFERENCED)
    if referenced_folio:
        _set_folio_flags(mmu, pfn, 0, PG_REFERENCED)
    if vm_flags & VM_LOCKED:
        return FOLIOREF_ACTIVATE, mappings
    if referenced_ptes:
        _set_folio_flags(mmu, pfn, PG_REFERENCED, 0)
        if referenced_folio or referenced_ptes > 1:
            return FOLIOREF_ACTIVATE, mappings
        if vm_flags & VM_EXEC and _is_file_lru(flags):
            return FOLIOREF_ACTIVATE, mappings
        return FOLIOREF_KEEP, mappings
    if referenced_folio and _is_file_lru(flags):
        return FOLIOREF_RECLAIM_CLEAN, mappings
    return FOLIOREF_RECLAIM, mappings


def _set_folio_flags(mmu, head, set_bits, clear_bits):
    flags = int(mmu.flags[head])
    nr = 1 if flags & PG_ANON else folio_nr_pages(flags)
    for p in range(head, head + nr):
        mmu.flags[p] = (int(mmu.flags[p]) | set_bits) & ~clear_bits


# -- isolation ---------------------------------------------------------------------------------
def isolate_lru_folios(kernel, nr_to_scan, lru, sc):
    """Take up to nr_to_scan pages' worth of folios from the list's tail (off the LRU, PG_lru
    cleared); folios of zones above reclaim_idx are skipped (rotated to the head).  Returns
    (folios in isolation order, pages scanned)."""
    limits = kernel.vmscan.zone_limits
    idx = sc.reclaim_idx
    limit = limits[idx] if 0 <= idx < len(limits) else (0 if idx < 0 else 1 << 62)
    return kernel.mmu.isolate_lru(lru, nr_to_scan, limit)


def putback(kernel, pfn):
    """move_folios_to_lru for one folio: back on the head of the list its flags name; a folio
    whose last reference went meanwhile is freed."""
    mmu = kernel.mmu
    lruvec_add_folio(mmu, pfn)


# -- the active lists --------------------------------------------------------------------------
def shrink_active_list(kernel, nr_to_scan, sc, lru):
    mmu = kernel.mmu
    folios, scanned = isolate_lru_folios(kernel, nr_to_scan, lru, sc)
    stat = kernel.vmscan.stat
    stat["pgrefill"] += scanned
    file = lru == LRU_ACTIVE_FILE
    active, inactive = [], []
    batch = _batch_references(kernel, folios, False) if folios else None
    for i, pfn in enumerate(folios):
        flags = int(mmu.flags[pfn])
        if flags & PG_UNEVICTABLE:
            active.append(pfn)
            continue
        if batch is not None and batch[0][i] >= 0:
            referenced, vm_flags = batch[0][i], batch[1][i]
        else:
            referenced, vm_flags, _ = folio_referenced(kernel, pfn)
        if referenced and vm_flags & VM_EXEC and _is_file_lru(flags):
            active.append(pfn)
            continue
        _set_folio_flags(mmu, pfn, PG_WORKINGSET, PG_ACTIVE)
        inactive.append(pfn)
    nr_deactivate = sum(folio_nr_pages(int(mmu.flags[pfn])) for pfn in inactive)
    mmu.lru_add_batch(active + inactive)                 # putback, in order
    stat["pgdeactivate"] += nr_deactivate
    # lru_note_cost of the rotated pages
    rotated = sum(folio_nr_pages(int(mmu.flags[p])) for p in active)
    _note_cost(kernel, file, rotated)


def _note_cost(kernel, file, nr):
    vs = kernel.vmscan
    if file:
        vs.file_cost += nr
    else:
        vs.anon_cost += nr
    total = vs.anon_cost + vs.file_cost
    lrusize = sum(int(kernel.mmu.node[i]) for i in (NR_INACTIVE_ANON, NR_ACTIVE_ANON,
                                                    NR_INACTIVE_FILE, NR_ACTIVE_FILE))
    if total > lrusize // 4:
        vs.anon_cost //= 2
        vs.file_cost //= 2


# -- the inactive lists ------------------------------------------------------------------------
def shrink_inactive_list(kernel, nr_to_scan, sc, lru):
    folios, scanned = isolate_lru_folios(kernel, nr_to_scan, lru, sc)
    if not folios:
        return 0
    stat = kernel.vmscan.stat
    file = lru == LRU_INACTIVE_FILE
    stat["pgscan_kswapd" if sc.kswapd else "pgscan_direct"] += scanned
    stat["pgscan_file" if file else "pgscan_anon"] += scanned
    sc.nr_scanned += scanned
    reclaimed, activated = shrink_folio_list(kernel, folios, sc)
    stat["pgsteal_kswapd" if sc.kswapd else "pgsteal_direct"] += reclaimed
    stat["pgsteal_file" if file else "pgsteal_anon"] += reclaimed
    kernel.mmu.events[EV_PGACTIVATE] += activated
    _note_cost(kernel, file, activated)
    return reclaimed


def shrink_folio_list(kernel, folios, sc, ignore_references=False):
    """(pages reclaimed, pages activated: pgactivate) for the isolated folios, in order.
    ignore_references (reclaim_pages: MADV_PAGEOUT) skips folio_check_references: every
    folio is reclaimed as FOLIOREF_RECLAIM.

    Inside a reclaim pass the engine takes the anonymous order-0 swap-backed folios
    (Mmu.shrink_anon, csrc/vmscan.c) and returns at the first folio it leaves to
    _shrink_folio below, which runs here; then the engine goes on after it.  The time of the
    pages it wrote (swap_out) is charged when it returns."""
    mmu = kernel.mmu
    reclaimed = 0
    activated = 0
    keep = []
    charge(kernel, "reclaim_scan", len(folios))
    batch = None if ignore_references else _batch_references(kernel, folios, True)
    if batch is not None:
        flat, counters, arr = batch[8], batch[9], batch[10]
        order = np.array([si.type for si in kernel.swap_state.ordered()], np.int64)
    n = len(folios)
    i = 0
    while i < n:
        if batch is not None:
            i, kept, r, a, written = mmu.shrink_anon(arr, i, batch[7], flat, counters, order,
                                                     sc.may_swap, sc.may_writepage)
            keep.extend(kept)
            reclaimed += r
            activated += a
            if written:
                kernel.vmscan.stat["nr_vmscan_write"] += written
                charge(kernel, "swap_out", written)
            if i >= n:
                break
        r, a, kept = _shrink_folio(kernel, i, folios[i], batch, sc, ignore_references)
        reclaimed += r
        activated += a
        if kept:
            keep.append(folios[i])
        i += 1
    refcount = mmu.refcount
    mmu.lru_add_batch([pfn for pfn in keep if refcount[pfn] > 0])     # putback, in order
    return reclaimed, activated


def _shrink_folio(kernel, i, pfn, batch, sc, ignore_references):
    """shrink_folio_list's body for folio i: (pages reclaimed, pages activated, kept)."""
    mmu = kernel.mmu
    flags = int(mmu.flags[pfn])
    nr = folio_nr_pages(flags)
    if flags & (PG_UNEVICTABLE | PG_MLOCKED):
        return 0, 0, True
    if ignore_references:
        references, mappings = FOLIOREF_RECLAIM, rmap_walk(kernel, pfn)
    elif batch is not None and batch[0][i] >= 0:
        references = batch[2][i]
        mappings = _batch_mappings(batch, i) if batch[3][i + 1] > batch[3][i] else []
    else:
        references, mappings = folio_check_references(kernel, pfn)
    if references == FOLIOREF_ACTIVATE:
        return 0, _activate(kernel, pfn), True
    if references == FOLIOREF_KEEP:
        return 0, 0, True
    flags = int(mmu.flags[pfn])
    anon = bool(flags & PG_ANON)
    if anon and flags & PG_SWAPBACKED:
        if flags & PG_HEAD:                          # THPs are not split for swap here
            return 0, _activate(kernel, pfn), True
        if not flags & PG_SWAPCACHE:
            if not sc.may_swap or not add_to_swap(kernel, pfn):
                return 0, _activate(kernel, pfn), True
    elif anon:                                       # MADV_FREE'd: lazily freeable
        if _discard_lazyfree(kernel, pfn, mappings):
            kernel.vmscan.stat["pglazyfreed"] += nr
            return nr, 0, False
        return 0, _activate(kernel, pfn), True      # written again: swap-backed again
    elif flags & PG_SHMEM or (not anon and flags & PG_ORDER_MASK and flags & PG_TAIL):
        return 0, _activate(kernel, pfn), True      # shmem is not swapped here
    # try_to_unmap
    if mappings:
        if anon:
            try_to_unmap_anon(kernel, pfn, mappings)
        else:
            _unmap_file(kernel, pfn, mappings)
    flags = int(mmu.flags[pfn])
    if flags & PG_DIRTY:
        if not anon:
            # only the flusher writes file folios: mark them and let them go round
            _set_folio_flags(mmu, pfn, PG_RECLAIM, 0)
            kernel.vmscan.stat["nr_vmscan_immediate_reclaim"] += nr
            activated = _activate(kernel, pfn)
            if not sc.no_flusher:
                _wake_flusher(kernel)
            return 0, activated, True
        if references == FOLIOREF_RECLAIM_CLEAN or not sc.may_writepage:
            return 0, 0, True
        swap_writepage(kernel, pfn)
        kernel.vmscan.stat["nr_vmscan_write"] += nr
    # __remove_mapping: only the cache's reference (and isolation) may remain
    if not _remove_mapping(kernel, pfn, anon):
        return 0, 0, True
    return nr, 0, False


def _activate(kernel, pfn):
    mmu = kernel.mmu
    flags = int(mmu.flags[pfn])
    if flags & PG_SWAPCACHE and kernel.swap_state.swap_full():
        kernel.swap_state.folio_free_swap(pfn)
    if flags & PG_MLOCKED:
        return 0
    _set_folio_flags(mmu, pfn, PG_ACTIVE, 0)
    return folio_nr_pages(flags)


def _discard_lazyfree(kernel, pfn, mappings):
    """try_to_unmap_one of a lazily freeable anonymous folio (MADV_FREE): clean everywhere, its
    PTEs are dropped and the folio freed (pglazyfreed); redirtied, it is swap-backed again and
    stays mapped (the unmap fails).  True when it was discarded."""
    mmu = kernel.mmu
    dirty = bool(int(mmu.flags[pfn]) & PG_DIRTY)
    for process, _, addr in mappings:
        if mmu.pte_get(process.mm.pgd, addr) & _PAGE_DIRTY:
            dirty = True
    if dirty or mmu.refcount[pfn] != mmu.mapcount[pfn]:
        from .lruvec import folio_set_lru_state
        folio_set_lru_state(mmu, pfn, PG_SWAPBACKED, 0)   # (isolated: flags only)
        return False
    for process, _, addr in mappings:
        mm = process.mm
        mmu.pte_set(mm.pgd, addr, 0, mm.counters)
        mm.counters[MM_ANONPAGES] -= 1
        count = int(mmu.mapcount[pfn]) - 1
        mmu.mapcount[pfn] = count
        if count == 0:
            mmu.node[NR_ANON_MAPPED] -= 1
        put_page(kernel, pfn)
    return True


def _unmap_file(kernel, head, mappings):
    """try_to_unmap of a page-cache folio: its PTEs go (a dirty one dirties the folio)."""
    mmu = kernel.mmu
    for process, vma, addr in mappings:
        mm = process.mm
        pte = mmu.pte_get_unchecked(mm.pgd, addr)
        if pte & _PAGE_PSE or not pte & _PAGE_PRESENT:
            continue
        pfn = (pte & PTE_PFN_MASK) >> PAGE_SHIFT
        if pte & _PAGE_DIRTY:
            vma.vm_file.f_inode.i_mapping.set_dirty(pfn)
        mmu.pte_update(mm.pgd, addr, 0, mm.counters)
        mm.counters[MM_SHMEMPAGES if mmu.flags[pfn] & PG_SHMEM else MM_FILEPAGES] -= 1
        count = int(mmu.mapcount[pfn]) - 1
        mmu.mapcount[pfn] = count
        if count == 0:
            mmu.node[NR_FILE_MAPPED] -= 1
        put_page(kernel, pfn)


def _remove_mapping(kernel, pfn, anon):
    """__remove_mapping: free the folio when the cache's reference is the only one left,
    leaving a shadow entry."""
    mmu = kernel.mmu
    flags = int(mmu.flags[pfn])
    nr = folio_nr_pages(flags)
    if anon:
        if mmu.mapcount[pfn] or mmu.refcount[pfn] != 1:
            return False
        shadow = workingset_eviction(kernel, pfn)
        kernel.swap_state.delete_from_swap_cache(pfn, shadow)
        return True
    frames = range(pfn, pfn + nr)
    if any(mmu.mapcount[p] or mmu.refcount[p] != 1 for p in frames):
        return False
    shadow = workingset_eviction(kernel, pfn, nr)
    mapping = kernel.address_spaces.get(int(mmu.mapping[pfn]))
    if mapping is None:                                  # pragma: no cover
        return False
    index = int(mmu.index[pfn])
    mapping.remove_page(index)
    for i in range(nr):
        mapping.shadows[index + i] = shadow
    return True


def _wake_flusher(kernel):
    """wakeup_flusher_threads(WB_REASON_VMSCAN): write back every dirty page."""
    flusher = getattr(kernel, "wakeup_flusher_threads", None)
    if flusher is not None:
        flusher()
        return
    for mapping in list(kernel.address_spaces.values()):
        mapping.writeback()


# -- reclaim_pages (MADV_PAGEOUT) ---------------------------------------------------------------
def reclaim_pages(kernel, folios):
    """mm/vmscan.c reclaim_pages + reclaim_folio_list: the isolated folios (off the LRU, in
    the order given) lose PG_active and go through shrink_folio_list with ignore_references
    (GFP_KERNEL, may_writepage, may_unmap, may_swap); what is kept goes back on the LRU
    (folio_putback_lru).  Counts pgactivate (and what pageout counts) but no pgscan/pgsteal:
    only shrink_inactive_list counts those.  Returns the pages reclaimed."""
    if not folios:
        return 0
    mmu = kernel.mmu
    for pfn in folios:
        _set_folio_flags(mmu, pfn, 0, PG_ACTIVE)
    sc = ScanControl(kernel, SWAP_CLUSTER_MAX, G.GFP_KERNEL)
    sc.no_flusher = True
    reclaimed, activated = shrink_folio_list(kernel, folios, sc, ignore_references=True)
    mmu.events[EV_PGACTIVATE] += activated
    return reclaimed


# -- shrink_node -------------------------------------------------------------------------------
def inactive_is_low(mmu, inactive_lru):
    inactive = int(mmu.node[LRU_NODE_ITEM[inactive_lru]])
    active = int(mmu.node[LRU_NODE_ITEM[inactive_lru + 1]])
    gb = (inactive + active) >> (30 - PAGE_SHIFT)
    ratio = _int_sqrt(10 * gb) if gb else 1
    return inactive * ratio < active


def _int_sqrt(x):
    import math
    return math.isqrt(x)


def can_reclaim_anon_pages(kernel):
    return kernel.swap_state.free_pages() > 0


def prepare_scan_control(kernel, sc):
    mmu = kernel.mmu
    vs = kernel.vmscan
    sc.may_deactivate = 0
    refaults = int(mmu.swap_stat[SWS_ACTIVATE_ANON])
    if refaults != vs.refaults_anon or inactive_is_low(mmu, LRU_INACTIVE_ANON):
        sc.may_deactivate |= DEACTIVATE_ANON
    refaults = vs.stat["workingset_activate_file"]
    if refaults != vs.refaults_file or inactive_is_low(mmu, LRU_INACTIVE_FILE):
        sc.may_deactivate |= DEACTIVATE_FILE
    file = int(mmu.node[NR_INACTIVE_FILE])
    sc.cache_trim_mode = bool(file >> sc.priority) and not sc.may_deactivate & DEACTIVATE_FILE
    pa = kernel._pa
    free = sum(pa.nr_free_pages(i) for i in range(len(kernel._zone_names)))
    file = int(mmu.node[NR_ACTIVE_FILE]) + int(mmu.node[NR_INACTIVE_FILE])
    high = sum(w[2] for w in kernel._wmarks)
    anon = int(mmu.node[NR_INACTIVE_ANON])
    sc.file_is_tiny = (file + free <= high and not sc.may_deactivate & DEACTIVATE_ANON
                       and bool(anon >> sc.priority))


def get_scan_count(kernel, sc):
    """How many pages of each evictable list to scan at this priority (mm/vmscan.c)."""
    mmu = kernel.mmu
    vs = kernel.vmscan
    swappiness = sc.swappiness
    fraction = [1, 1]
    denominator = 1
    if not sc.may_swap or not can_reclaim_anon_pages(kernel):
        balance = "file"
    elif not sc.priority and swappiness:
        balance = "equal"
    elif sc.file_is_tiny:
        balance = "anon"
    elif sc.cache_trim_mode:
        balance = "file"
    else:
        balance = "fract"
        total_cost = vs.anon_cost + vs.file_cost
        anon_cost = total_cost + vs.anon_cost
        file_cost = total_cost + vs.file_cost
        total_cost = anon_cost + file_cost
        ap = swappiness * (total_cost + 1) // (anon_cost + 1)
        fp = (MAX_SWAPPINESS - swappiness) * (total_cost + 1) // (file_cost + 1)
        fraction = [ap, fp]
        denominator = ap + fp
    nr = {}
    for lru in (LRU_INACTIVE_ANON, LRU_ACTIVE_ANON, LRU_INACTIVE_FILE, LRU_ACTIVE_FILE):
        file = lru >= LRU_INACTIVE_FILE
        size = int(mmu.node[LRU_NODE_ITEM[lru]])
        scan = size >> sc.priority
        if balance == "fract":
            scan = scan * fraction[file] // denominator if denominator else 0
        elif balance in ("file", "anon") and (balance == "file") != file:
            scan = 0
        nr[lru] = scan
    return nr


def shrink_list(kernel, lru, nr_to_scan, sc):
    if lru in (LRU_ACTIVE_ANON, LRU_ACTIVE_FILE):
        bit = DEACTIVATE_FILE if lru == LRU_ACTIVE_FILE else DEACTIVATE_ANON
        if sc.may_deactivate & bit:
            shrink_active_list(kernel, nr_to_scan, sc, lru)
        return 0
    return shrink_inactive_list(kernel, nr_to_scan, sc, lru)


def shrink_lruvec(kernel, sc):
    nr = get_scan_count(kernel, sc)
    targets = dict(nr)
    nr_reclaimed = 0
    nr_to_reclaim = sc.nr_to_reclaim
    proportional = not sc.kswapd and sc.priority == DEF_PRIORITY
    scan_adjusted = False
    order = (LRU_INACTIVE_ANON, LRU_ACTIVE_ANON, LRU_INACTIVE_FILE, LRU_ACTIVE_FILE)
    while nr[LRU_INACTIVE_ANON] or nr[LRU_ACTIVE_FILE] or nr[LRU_INACTIVE_FILE]:
        for lru in order:
            if nr[lru]:
                n = min(nr[lru], SWAP_CLUSTER_MAX)
                nr[lru] -= n
                nr_reclaimed += shrink_list(kernel, lru, n, sc)
        if nr_reclaimed < nr_to_reclaim or proportional or scan_adjusted:
            continue
        nr_file = nr[LRU_INACTIVE_FILE] + nr[LRU_ACTIVE_FILE]
        nr_anon = nr[LRU_INACTIVE_ANON] + nr[LRU_ACTIVE_ANON]
        if not nr_file or not nr_anon:
            break
        # scale down the other type to the share already scanned of this one
        if nr_file > nr_anon:
            target = targets[LRU_INACTIVE_ANON] + targets[LRU_ACTIVE_ANON] + 1
            pct = nr_anon * 100 // target
            kind, other = (LRU_INACTIVE_ANON, LRU_ACTIVE_ANON), (LRU_INACTIVE_FILE, LRU_ACTIVE_FILE)
        else:
            target = targets[LRU_INACTIVE_FILE] + targets[LRU_ACTIVE_FILE] + 1
            pct = nr_file * 100 // target
            kind, other = (LRU_INACTIVE_FILE, LRU_ACTIVE_FILE), (LRU_INACTIVE_ANON, LRU_ACTIVE_ANON)
        for lru in kind:
            nr[lru] = 0
        for lru in other:
            scanned = targets[lru] - nr[lru]
            nr[lru] = max(targets[lru] * (100 - pct) // 100 - scanned, 0)
        scan_adjusted = True
    sc.nr_reclaimed += nr_reclaimed
    if can_reclaim_anon_pages(kernel) and inactive_is_low(kernel.mmu, LRU_INACTIVE_ANON):
        shrink_active_list(kernel, SWAP_CLUSTER_MAX, sc, LRU_ACTIVE_ANON)


def shrink_node(kernel, sc):
    lru_add_drain(kernel)
    prepare_scan_control(kernel, sc)
    vs = kernel.vmscan
    vs.rmap_index = None
    vs.rmap_pass = True
    try:
        shrink_lruvec(kernel, sc)
    finally:
        vs.rmap_pass = False
        vs.rmap_index = None
    vs.refaults_anon = int(kernel.mmu.swap_stat[SWS_ACTIVATE_ANON])
    vs.refaults_file = vs.stat["workingset_activate_file"]


# -- kswapd ------------------------------------------------------------------------------------
def pgdat_balanced(kernel, order, highest_zoneidx):
    """A zone up to highest_zoneidx above its high watermark (+ boost): zone_watermark_ok
    below, on one zone_balance_info() read per zone."""
    pa = kernel._pa
    for i in range(min(highest_zoneidx, len(kernel._zone_names) - 1) + 1):
        managed, free, highatomic, high, reserve = pa.zone_balance_info(i, highest_zoneidx)
        if not managed:
            continue
        if free - ((1 << order) - 1) - highatomic <= high + reserve:
            continue
        if not order or any(n for o, n in enumerate(pa.nr_free(i)) if o >= order):
            return True
    return False


def zone_watermark_ok(pa, i, order, mark, highest_zoneidx):
    """__zone_watermark_ok without ALLOC_RESERVES: free pages (the highatomic reserve
    excluded) above mark + lowmem_reserve, and a free block of at least `order`."""
    free = pa.nr_free_pages(i) - ((1 << order) - 1) - pa.nr_free_highatomic(i)
    reserve = pa.lowmem_reserve(i)
    reserve = reserve[highest_zoneidx] if highest_zoneidx < len(reserve) else 0
    if free <= mark + reserve:
        return False
    if not order:
        return True
    return any(n for o, n in enumerate(pa.nr_free(i)) if o >= order)


def balance_pgdat(kernel, order=0, highest_zoneidx=None):
    """kswapd's balance_pgdat: reclaim at falling priority until a zone is balanced (above
    high + boost), then drop the boosts.  Returns the pages reclaimed."""
    vs = kernel.vmscan
    if vs.in_reclaim:
        return 0
    if highest_zoneidx is None:
        highest_zoneidx = len(kernel._zone_names) - 1
    pa = kernel._pa
    boosted = any(pa.watermark_boost(i) for i in range(len(kernel._zone_names)))
    vs.stat["pageoutrun"] += 1
    vs.kswapd_runs += 1
    vs.in_reclaim = True
    total = 0
    start, scanned = kernel.now, vs.stat["pgscan_kswapd"]
    psi_memstall_enter(kernel, "kswapd0")
    try:
        nr_to_reclaim = sum(max(pa.watermarks(i)[2], SWAP_CLUSTER_MAX)
                            for i in range(highest_zoneidx + 1) if pa.managed_pages(i))
        sc = ScanControl(kernel, nr_to_reclaim, G.GFP_KERNEL, order, kswapd=True,
                         reclaim_idx=highest_zoneidx)
        while sc.priority >= 1:
            if pgdat_balanced(kernel, order, highest_zoneidx):
                break
            before = sc.nr_reclaimed
            sc.nr_to_reclaim = nr_to_reclaim
            sc.nr_reclaimed = 0
            shrink_node(kernel, sc)
            # ZONE_RECLAIM_ACTIVE: while kswapd works, nr_pcp_high() falls to high_min and the
            # freed pages reach the buddy lists (here: the pcp lists are drained)
            kernel.drain_pages()
            got = sc.nr_reclaimed
            total += got
            sc.nr_reclaimed = before + got
            if got < nr_to_reclaim:
                sc.priority -= 1
    finally:
        vs.in_reclaim = False
        psi_memstall_leave(kernel, "kswapd0")
    if boosted:
        for i in range(len(kernel._zone_names)):
            if pa.watermark_boost(i):
                pa.clear_watermark_boost(i)
    vs.kswapd_log.append((start, kernel.now, vs.stat["pgscan_kswapd"] - scanned, total))
    return total


def wakeup_kswapd(kernel):
    if kernel.swap_state is None:
        return 0
    return balance_pgdat(kernel)


# -- direct reclaim ---------------------------------------------------------------------------
def try_to_free_pages(kernel, gfp, order, highest_zoneidx):
    """Direct reclaim: SWAP_CLUSTER_MAX pages, priority falling from DEF_PRIORITY to 0;
    allocstall_<zone> counted."""
    from ..procfs.items import ZONE_TEXT
    vs = kernel.vmscan
    if vs.in_reclaim:
        return 0
    name = kernel._zone_names[highest_zoneidx]
    vs.stat[f"allocstall_{ZONE_TEXT[name]}"] += 1
    sc = ScanControl(kernel, SWAP_CLUSTER_MAX, gfp, order, kswapd=False,
                     reclaim_idx=highest_zoneidx)
    vs.in_reclaim = True
    current = getattr(kernel, "current", None)
    psi_memstall_enter(kernel, current)              # __perform_reclaim
    try:
        while sc.priority >= 0:
            shrink_node(kernel, sc)
            if sc.nr_reclaimed >= sc.nr_to_reclaim:
                break
            sc.priority -= 1
    finally:
        vs.in_reclaim = False
        psi_memstall_leave(kernel, current)
    return sc.nr_reclaimed


def _highest_zoneidx(kernel, gfp):
    names = kernel.zonelist(gfp)
    return kernel._zone_names.index(names[0]) if names else 0


class SlabPageReclaim:
    """The slab allocator's page_reclaim hook (slab/common.py retry_after_reclaim): the engines
    take a slab's pages without reclaim, so this runs the allocation slow path for a block of
    `order` pages with the slab's gfp (kswapd, direct reclaim, the OOM killer), gives the block
    back to the per-CPU list the engine takes it from, and says whether it got one."""

    def __init__(self, kernel):
        self.kernel = kernel            # the Kernel's weak proxy

    def __call__(self, gfp, order):
        try:
            pfn = alloc_with_reclaim(self.kernel, gfp, order)
        except OutOfMemory:
            return False
        self.kernel.free_pages(pfn, order)
        return True


def alloc_with_reclaim(kernel, gfp, order=0, noretry=False):
    """alloc_pages with __alloc_pages_slowpath's reclaim: the allocator (fast path at low,
    slow path at min) first; kswapd when the allocation woke it; on failure direct reclaim and
    retries (MAX_RECLAIM_RETRIES rounds without progress), then the OOM killer (not for costly
    orders or __GFP_NORETRY)."""
    pa = kernel._pa
    wakeups = pa.kswapd_wakeups
    pfn = _try_alloc(pa, gfp, order)
    if pfn is not None:
        if pa.kswapd_wakeups != wakeups:
            wakeup_kswapd(kernel)
        return pfn
    if kernel.vmscan.in_reclaim:
        raise OutOfMemory(f"no page for order {order} during reclaim")
    from . import compaction as C
    highest = _highest_zoneidx(kernel, gfp)
    wakeup_kswapd(kernel)
    costly = order > PAGE_ALLOC_COSTLY_ORDER
    if order and (costly or not gfp & G.__GFP_MOVABLE):   # one async compaction first
        pfn, _ = C.alloc_pages_direct_compact(kernel, gfp, order, C.COMPACT_PRIO_ASYNC)
        if pfn is not None:
            return pfn
    no_progress = 0
    while True:
        pfn = _try_alloc(pa, gfp, order)
        if pfn is not None:
            return pfn
        progress = try_to_free_pages(kernel, gfp, order, highest)
        pfn = _try_alloc(pa, gfp, order)
        if pfn is None:
            kernel.drain_pages()                   # __alloc_pages_direct_reclaim's
            pfn = _try_alloc(pa, gfp, order)       # drain_all_pages and second try
        if pfn is not None:
            return pfn
        if order:
            pfn, _ = C.alloc_pages_direct_compact(kernel, gfp, order, C.DEF_COMPACT_PRIORITY)
            if pfn is not None:
                return pfn
            if costly:
                raise OutOfMemory(f"order-{order} allocation failed after reclaim and "
                                  "compaction")
        if noretry or gfp & G.__GFP_NORETRY:
            raise OutOfMemory(f"order-{order} allocation failed after one reclaim pass")
        no_progress = 0 if progress else no_progress + 1
        if no_progress <= MAX_RECLAIM_RETRIES and _reclaimable(kernel, order, highest):
            continue
        # __alloc_pages_may_oom: kill a task and retry (linuxmm/vm/oom_kill.py)
        from .oom_kill import oom_retry
        return oom_retry(kernel, gfp, order, lambda: pa.alloc_pages(gfp, order, 0))


def _try_alloc(pa, gfp, order):
    """One pass of the allocator (fast path, then the slow path's flags): a pfn or None."""
    try:
        return pa.alloc_pages(gfp, order, 0)
    except OutOfMemory:
        return None


def _reclaimable(kernel, order, highest):
    """should_reclaim_retry's question: would a zone pass its min watermark if the node's
    reclaimable pages were freed?"""
    mmu = kernel.mmu
    reclaimable = int(mmu.node[NR_ACTIVE_FILE]) + int(mmu.node[NR_INACTIVE_FILE])
    if can_reclaim_anon_pages(kernel):
        reclaimable += int(mmu.node[NR_ACTIVE_ANON]) + int(mmu.node[NR_INACTIVE_ANON])
    if not reclaimable:
        return False
    pa = kernel._pa
    for i in range(highest + 1):
        if not pa.managed_pages(i):
            continue
        available = pa.nr_free_pages(i) + reclaimable
        reserve = pa.lowmem_reserve(i)
        reserve = reserve[highest] if highest < len(reserve) else 0
        if available > pa.watermarks(i)[0] + reserve:
            return True
    return False
