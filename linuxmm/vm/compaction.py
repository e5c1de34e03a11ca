"""Memory compaction of user pages (mm/compaction.c, mm/migrate.c).

The migrate scanner walks a zone upwards from its start, one pageblock at a time, isolating
order-0 LRU pages (anonymous or page cache) from their LRU list; the free scanner walks down from
the zone's end, isolating free buddy blocks from MOVABLE pageblocks and splitting them into
order-0 pages; migrate_pages() copies each isolated page into a free one taken from the top of
the zone, moves its state (flags, references, mapping, index, contents), points every PTE
(rmap_walk) and the page-cache slot at the new frame and frees the old one.  The scanners stop
when they meet or, for an allocation's order, when a free block of that order exists.

Entry points:
    compact_memory(kernel)                 echo 1 > /proc/sys/vm/compact_memory (compact_nodes)
    compact_zone(kernel, zone, order)      one zone, synchronous, whole zone (-1: to the end)
    try_to_compact_pages(kernel, gfp, order, prio)     -> COMPACT_* (direct compaction)
    alloc_pages_direct_compact(kernel, gfp, order, prio) -> (pfn or None, COMPACT_*), counting
        compact_stall / compact_success / compact_fail as __alloc_pages_direct_compact() does.

The structure follows mm/compaction.c as of 6.6-6.8, where isolated free blocks are split into
order-0 pages at once (split_map_pages) and compaction_alloc() takes the head of that list;
6.9+ keeps them per order and splits on demand (the pages chosen then differ).  Deliberately not
modelled (docs/pressure.md): fast_find_migrateblock() and fast_isolate_freepages() (the
free-list searches that direct compaction and kcompactd of orders > 3 try before the linear
scans), kcompactd and proactive compaction, capture_control, non-LRU movable pages (zsmalloc,
balloon), large folios (THPs and large page-cache folios are skipped as compound pages), pages in
the swap cache, lock contention and signals (COMPACT_CONTENDED only from -ENOMEM).
"""
from .. import _args, gfp as G
from . import lruvec
from .mmu_defs import (PAGE_SHIFT, PG_ANON, PG_FILE, PG_HEAD, PG_LOCKED, PG_LRU,
                       PG_SWAPCACHE, PG_TAIL, PG_UNEVICTABLE, PG_WRITEBACK, PTE_PFN_MASK,
                       pg_order)

# enum compact_result (include/linux/compaction.h)
COMPACT_NOT_SUITABLE_ZONE = 0
COMPACT_SKIPPED = 1
COMPACT_DEFERRED = 2
COMPACT_NO_SUITABLE_PAGE = 3
COMPACT_CONTINUE = 4
COMPACT_COMPLETE = 5
COMPACT_PARTIAL_SKIPPED = 6
COMPACT_CONTENDED = 7
COMPACT_SUCCESS = 8
COMPACT_RESULT_NAMES = {v: k for k, v in list(globals().items()) if k.startswith("COMPACT_")
                        and isinstance(v, int)}

# enum compact_priority
COMPACT_PRIO_SYNC_FULL = 0
MIN_COMPACT_PRIORITY = COMPACT_PRIO_SYNC_FULL
COMPACT_PRIO_SYNC_LIGHT = 1
MIN_COMPACT_COSTLY_PRIORITY = COMPACT_PRIO_SYNC_LIGHT
DEF_COMPACT_PRIORITY = COMPACT_PRIO_SYNC_LIGHT
COMPACT_PRIO_ASYNC = 2
INIT_COMPACT_PRIORITY = COMPACT_PRIO_ASYNC

# enum migrate_mode
MIGRATE_ASYNC = 0
MIGRATE_SYNC_LIGHT = 1
MIGRATE_SYNC = 2

# isolate_mode_t
ISOLATE_ASYNC_MIGRATE = 0x4
ISOLATE_UNEVICTABLE = 0x8

COMPACT_CLUSTER_MAX = 32            # SWAP_CLUSTER_MAX
COMPACT_MAX_DEFER_SHIFT = 6
PAGE_ALLOC_COSTLY_ORDER = 3
NR_MIGRATE_RETRIES = 10             # NR_MAX_MIGRATE_PAGES_RETRY

# alloc_flags (mm/internal.h) that the watermark tests below read
ALLOC_WMARK_MIN, ALLOC_WMARK_LOW, ALLOC_WMARK_HIGH, ALLOC_WMARK_MASK = 0, 1, 2, 3
ALLOC_OOM = 0x08
ALLOC_NON_BLOCK = 0x10
ALLOC_MIN_RESERVE = 0x20
ALLOC_HIGHATOMIC = 0x200
ALLOC_KSWAPD = 0x800
ALLOC_RESERVES = ALLOC_NON_BLOCK | ALLOC_MIN_RESERVE | ALLOC_HIGHATOMIC | ALLOC_OOM

UNMOVABLE, MOVABLE, RECLAIMABLE, HIGHATOMIC = 0, 1, 2, 3
FALLBACKS = {UNMOVABLE: (RECLAIMABLE, MOVABLE), MOVABLE: (RECLAIMABLE, UNMOVABLE),
             RECLAIMABLE: (UNMOVABLE, MOVABLE)}

ENOMEM = 12
EAGAIN = 11

VMSTAT_ITEMS = ("pgmigrate_success", "pgmigrate_fail", "compact_migrate_scanned",
                "compact_free_scanned", "compact_isolated", "compact_stall", "compact_fail",
                "compact_success", "compact_daemon_wake", "compact_daemon_migrate_scanned",
                "compact_daemon_free_scanned")


class _ZoneState:
    """The compaction fields of struct zone: cached scanner positions, deferral, skip hints."""

    def __init__(self, start, end, pageblock_nr):
        self.start, self.end = start, end
        self.compact_cached_free_pfn = 0
        self.compact_cached_migrate_pfn = [0, 0]
        self.compact_init_migrate_pfn = 0
        self.compact_init_free_pfn = 0
        self.compact_considered = 0
        self.compact_defer_shift = 0
        self.compact_order_failed = 0
        self.compact_blockskip_flush = False
        self.skip = set()               # pageblocks with PB_migrate_skip (pfn >> pageblock_order)


class Compaction:
    """Per-kernel compaction state: the vmstat counters it owns and each zone's fields."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.events = dict.fromkeys(VMSTAT_ITEMS, 0)
        pa = kernel._pa
        self.pageblock_order = pa.pageblock_order
        self.zones = [_ZoneState(pa.zone_start_pfn(i), pa.zone_start_pfn(i) + pa.zone_spanned(i),
                                 1 << pa.pageblock_order) for i in range(pa.nr_zones)]
        self.extfrag_threshold = 500            # vm.extfrag_threshold
        self.compact_unevictable_allowed = 1    # CONFIG_COMPACT_UNEVICTABLE_DEFAULT (!RT)

    def vmstat(self):
        return dict(self.events)


def init(kernel):
    """Attach the compaction state to a Kernel and feed its counters to /proc/vmstat."""
    state = Compaction(kernel)
    kernel.compaction = state
    kernel.register_stats(state.vmstat)
    return state


class CompactControl:
    """struct compact_control."""

    def __init__(self, zone, order, gfp, mode, *, alloc_flags=0, highest_zoneidx=0,
                 direct_compaction=False, whole_zone=False, ignore_skip_hint=False,
                 ignore_block_suitable=False):
        self.zone = zone                    # zone index
        self.order = order
        self.gfp_mask = gfp
        self.mode = mode
        self.alloc_flags = alloc_flags
        self.highest_zoneidx = highest_zoneidx
        self.direct_compaction = direct_compaction
        self.whole_zone = whole_zone
        self.ignore_skip_hint = ignore_skip_hint
        self.ignore_block_suitable = ignore_block_suitable
        self.finish_pageblock = False
        self.contended = False
        self.migratetype = MOVABLE
        self.freepages = []                 # order-0 pfns, head first
        self.migratepages = []              # isolated LRU pfns, head first
        self.nr_freepages = self.nr_migratepages = 0
        self.migrate_pfn = self.free_pfn = 0
        self.total_migrate_scanned = self.total_free_scanned = 0
        self.nr_succeeded = 0


# =============================================================================== LRU hooks ==
def _isolate_lru(kernel, pfn):
    """folio_isolate_lru(): take an order-0 folio off its LRU list (PG_LRU cleared, the node's
    LRU counter dropped)."""
    return lruvec.lruvec_del_folio(kernel.mmu, pfn)


def _putback_lru(kernel, pfn):
    """folio_putback_lru() / folio_add_lru(): back on the head of the list its flags select,
    PG_LRU set, the node's LRU counter raised."""
    lruvec.lruvec_add_folio(kernel.mmu, pfn)


# =============================================================================== helpers ==
def _pb_start(pfn, pb):
    return pfn & ~((1 << pb) - 1)


def _pb_end(pfn, pb):
    return (pfn + (1 << pb)) & ~((1 << pb) - 1)


def _block_start(pfn, order):
    return pfn & ~((1 << order) - 1)


def _block_end(pfn, order):
    return (pfn + (1 << order)) & ~((1 << order) - 1)


def _pfn_valid(kernel, pfn):
    from ..boot import PAGES_PER_SECTION
    layout = kernel.layout
    return 0 <= pfn < layout.max_pfn and pfn // PAGES_PER_SECTION in layout.sections


def _pageblock_pfn_to_page(kernel, zone, start, end):
    """__pageblock_pfn_to_page(): both ends valid and in the zone."""
    z = kernel.compaction.zones[zone]
    end -= 1
    return (_pfn_valid(kernel, start) and _pfn_valid(kernel, end)
            and z.start <= start and end < z.end)


def _compound(flags):
    """(is part of a large folio, compound_order) from a frame's flags: an anonymous THP head
    is order 9, a page-cache folio keeps its order; tails report order 0."""
    if flags & PG_HEAD:
        return True, (pg_order(flags) if flags & PG_FILE else 9)
    return bool(flags & PG_TAIL), 0


def _zone_watermark_ok(pa, z, order, mark, highest, flags, free_pages=None):
    """__zone_watermark_ok() on the engine's counters."""
    if free_pages is None:
        free_pages = pa.nr_free_pages(z)
    unusable = (1 << order) - 1
    if not flags & ALLOC_RESERVES:
        unusable += pa.nr_free_highatomic(z)
    free_pages -= unusable
    min_ = mark
    if flags & ALLOC_RESERVES:
        if flags & ALLOC_MIN_RESERVE:
            min_ -= min_ // 2
            if flags & ALLOC_NON_BLOCK:
                min_ -= min_ // 4
        if flags & ALLOC_OOM:
            min_ -= min_ // 2
    if free_pages <= min_ + pa.lowmem_reserve(z)[highest]:
        return False
    if order == 0:
        return True
    per_mt = [pa.nr_free(z, mt) for mt in range(HIGHATOMIC + 1)]
    for o in range(order, pa.max_order + 1):
        if any(per_mt[mt][o] for mt in (UNMOVABLE, MOVABLE, RECLAIMABLE)):
            return True
        if flags & (ALLOC_HIGHATOMIC | ALLOC_OOM) and per_mt[HIGHATOMIC][o]:
            return True
    return False


def _wmark(pa, z, k):
    """wmark_pages(): the watermark with the boost."""
    return pa.watermarks(z)[k]


def _min_wmark_raw(pa, z):
    return pa.watermarks(z)[0] - pa.watermark_boost(z)


# =============================================================================== deferral ==
def defer_compaction(state, order):
    state.compact_considered = 0
    state.compact_defer_shift = min(state.compact_defer_shift + 1, COMPACT_MAX_DEFER_SHIFT)
    if order < state.compact_order_failed:
        state.compact_order_failed = order


def compaction_deferred(state, order):
    limit = 1 << state.compact_defer_shift
    if order < state.compact_order_failed:
        return False
    state.compact_considered += 1
    if state.compact_considered >= limit:
        state.compact_considered = limit
        return False
    return True


def compaction_defer_reset(state, order, alloc_success):
    if alloc_success:
        state.compact_considered = 0
        state.compact_defer_shift = 0
    if order >= state.compact_order_failed:
        state.compact_order_failed = order + 1


def compaction_restarting(state, order):
    if order < state.compact_order_failed:
        return False
    return (state.compact_defer_shift == COMPACT_MAX_DEFER_SHIFT
            and state.compact_considered >= 1 << state.compact_defer_shift)


def reset_cached_positions(state, pb):
    state.compact_cached_migrate_pfn = [state.start, state.start]
    state.compact_cached_free_pfn = _pb_start(state.end - 1, pb)


# =============================================================================== suitability ==
def __compaction_suitable(kernel, z, order, highest, wmark_target):
    pa = kernel._pa
    mark = _wmark(pa, z, 1) if order > PAGE_ALLOC_COSTLY_ORDER else _wmark(pa, z, 0)
    mark += 2 << order                                  # compact_gap(order)
    return _zone_watermark_ok(pa, z, 0, mark, highest, 0, wmark_target)


def compaction_suitable(kernel, z, order, highest=None):
    """Enough order-0 pages above the watermark + compact_gap, and for costly orders a
    fragmentation index above vm.extfrag_threshold (failure due to fragmentation)."""
    from ..fragmentation import fragmentation_index
    pa = kernel._pa
    if highest is None:
        highest = z
    if not __compaction_suitable(kernel, z, order, highest, pa.nr_free_pages(z)):
        return False
    if order > PAGE_ALLOC_COSTLY_ORDER:
        index = fragmentation_index(pa.nr_free(z), order)
        if 0 <= index <= kernel.compaction.extfrag_threshold:
            return False
    return True


def _can_steal_fallback(order, start_mt, pb, mobility_disabled):
    return (order >= pb or order >= pb // 2 or start_mt in (RECLAIMABLE, UNMOVABLE)
            or mobility_disabled)


def __compact_finished(kernel, cc):
    state = kernel.compaction.zones[cc.zone]
    pb = kernel.compaction.pageblock_order
    if compact_scanners_met(cc, pb):
        reset_cached_positions(state, pb)
        if cc.direct_compaction:
            state.compact_blockskip_flush = True
        return COMPACT_COMPLETE if cc.whole_zone else COMPACT_PARTIAL_SKIPPED
    if cc.order == -1:
        return COMPACT_CONTINUE
    if cc.migrate_pfn & ((1 << pb) - 1):
        return COMPACT_CONTINUE
    pa = kernel._pa
    per_mt = [pa.nr_free(cc.zone, mt) for mt in range(HIGHATOMIC)]
    for order in range(cc.order, pa.max_order + 1):
        if per_mt[cc.migratetype][order]:
            return COMPACT_SUCCESS
        if _can_steal_fallback(order, cc.migratetype, pb, pa.mobility_disabled) and \
                any(per_mt[f][order] for f in FALLBACKS[cc.migratetype]):
            return COMPACT_SUCCESS
    return COMPACT_NO_SUITABLE_PAGE


def compact_finished(kernel, cc):
    ret = __compact_finished(kernel, cc)
    return COMPACT_CONTINUE if ret == COMPACT_NO_SUITABLE_PAGE else ret


def compact_scanners_met(cc, pb):
    return cc.free_pfn >> pb <= cc.migrate_pfn >> pb


# =============================================================================== free scanner ==
def _isolation_suitable(kernel, cc, pfn):
    if cc.ignore_skip_hint:
        return True
    return pfn >> kernel.compaction.pageblock_order not in kernel.compaction.zones[cc.zone].skip


def _set_skip(kernel, cc, pfn):
    kernel.compaction.zones[cc.zone].skip.add(pfn >> kernel.compaction.pageblock_order)


def _test_and_set_skip(kernel, cc, pfn):
    if cc.ignore_skip_hint:
        return False
    pb = kernel.compaction.pageblock_order
    skip = kernel.compaction.zones[cc.zone].skip
    was = pfn >> pb in skip
    skip.add(pfn >> pb)
    return was


def isolate_freepages_block(kernel, cc, start_pfn, end_pfn, stride):
    """Isolate the free blocks of one pageblock (from start_pfn, every `stride` pfns) onto the
    private list; returns (pages isolated, where the scan stopped)."""
    pa, flags = kernel._pa, kernel.mmu.flags
    buddy = dict(pa.free_blocks(cc.zone, start_pfn, end_pfn))
    blockpfn, nr_scanned, total = start_pfn, 0, 0
    while blockpfn < end_pfn:
        nr_scanned += 1
        compound, order = _compound(int(flags[blockpfn]))
        if compound:
            blockpfn += (1 << order) - 1
            nr_scanned += (1 << order) - 1
            blockpfn += stride
            continue
        order = buddy.get(blockpfn)
        if order is None:
            blockpfn += stride
            continue
        isolated = pa.isolate_free_page(blockpfn, order)
        if not isolated:
            break
        cc.freepages_new.append((blockpfn, order))
        nr_scanned += isolated - 1
        total += isolated
        cc.nr_freepages += isolated
        if cc.nr_migratepages <= cc.nr_freepages:
            blockpfn += isolated
            break
        blockpfn += isolated - 1 + stride
    blockpfn = min(blockpfn, end_pfn)
    cc.total_free_scanned += nr_scanned
    kernel.compaction.events["compact_isolated"] += total
    return total, blockpfn


def suitable_migration_target(kernel, cc, pfn):
    pa = kernel._pa
    pb = kernel.compaction.pageblock_order
    blocks = pa.free_blocks(cc.zone, pfn, pfn + 1)
    if blocks and blocks[0][1] >= pb:
        return False
    if cc.ignore_block_suitable:
        return True
    return pa.pageblock_migratetype(pfn) == MOVABLE


def isolate_freepages(kernel, cc):
    """The free scanner: from cc.free_pfn down to the migrate scanner's pageblock."""
    pb = kernel.compaction.pageblock_order
    nr = 1 << pb
    state = kernel.compaction.zones[cc.zone]
    cc.freepages_new = []
    isolate_start_pfn = cc.free_pfn
    block_start = _pb_start(isolate_start_pfn, pb)
    block_end = min(block_start + nr, state.end)
    low_pfn = _pb_end(cc.migrate_pfn, pb)
    stride = COMPACT_CLUSTER_MAX if cc.mode == MIGRATE_ASYNC else 1
    while block_start >= low_pfn:
        if _pageblock_pfn_to_page(kernel, cc.zone, block_start, block_end) and \
                suitable_migration_target(kernel, cc, block_start) and \
                _isolation_suitable(kernel, cc, block_start):
            nr_isolated, isolate_start_pfn = isolate_freepages_block(
                kernel, cc, isolate_start_pfn, block_end, stride)
            if isolate_start_pfn == block_end:          # update_pageblock_skip()
                _set_skip(kernel, cc, block_start)
                if block_start - nr < state.compact_cached_free_pfn:
                    state.compact_cached_free_pfn = block_start - nr
            if cc.nr_freepages >= cc.nr_migratepages:
                if isolate_start_pfn >= block_end:
                    isolate_start_pfn = block_start - nr
                break
            if isolate_start_pfn < block_end:
                break
            stride = 1 if nr_isolated else min(COMPACT_CLUSTER_MAX, stride << 1)
        block_end = block_start
        block_start -= nr
        isolate_start_pfn = block_start
    cc.free_pfn = isolate_start_pfn
    split_map_pages(kernel, cc)


def split_map_pages(kernel, cc):
    """post_alloc_hook + split_page of every isolated block; the order-0 pages go to the head
    of the list one by one (so the last page of the last block comes first)."""
    pa = kernel._pa
    tmp = []
    for pfn, order in cc.freepages_new:
        pa.split_page(pfn, order)
        tmp.extend(range(pfn, pfn + (1 << order)))
    cc.freepages_new = []
    cc.freepages[:0] = tmp[::-1]


def compaction_alloc(kernel, cc):
    if not cc.freepages:
        isolate_freepages(kernel, cc)
        if not cc.freepages:
            return None
    cc.nr_freepages -= 1
    return cc.freepages.pop(0)


def compaction_free(kernel, cc, pfn):
    cc.freepages.insert(0, pfn)
    cc.nr_freepages += 1


def release_freepages(kernel, cc):
    high = 0
    for pfn in cc.freepages:
        kernel.free_pages(pfn, 0)
        high = max(high, pfn)
    cc.freepages = []
    return high


# =============================================================================== migrate scanner ==
def _migratable_state(kernel, cc, pfn, flags, mode):
    """The per-page tests of isolate_migratepages_block() for an LRU page: None to isolate it,
    else why not."""
    mmu = kernel.mmu
    file = bool(flags & PG_FILE)
    if not flags & (PG_ANON | PG_FILE):
        return "owner"
    if flags & PG_SWAPCACHE:
        return "swapcache"                      # swap is not modelled
    if not file and int(mmu.refcount[pfn]) > int(mmu.mapcount[pfn]):
        return "pinned"
    if file and not cc.gfp_mask & G.__GFP_FS:
        return "nofs"
    unevictable = bool(flags & PG_UNEVICTABLE)
    if not mode & ISOLATE_UNEVICTABLE and unevictable:
        return "unevictable"
    if mode & ISOLATE_ASYNC_MIGRATE and flags & PG_WRITEBACK:
        return "writeback"
    from .mmu_defs import PG_DIRTY
    if (mode & ISOLATE_ASYNC_MIGRATE and flags & PG_DIRTY) or (file and unevictable):
        if flags & PG_LOCKED:                   # folio_trylock() fails
            return "locked"
    return None


def putback_movable_pages(kernel, cc):
    for pfn in cc.migratepages:
        _putback_lru(kernel, pfn)
    cc.migratepages = []


def isolate_migratepages_block(kernel, cc, low_pfn, end_pfn, mode):
    pa, flags_arr = kernel._pa, kernel.mmu.flags
    pb = kernel.compaction.pageblock_order
    state = kernel.compaction.zones[cc.zone]
    cc.migrate_pfn = low_pfn
    nr_scanned = nr_isolated = 0
    valid_page = None
    skip_updated = False
    skip_on_failure = cc.direct_compaction and cc.mode == MIGRATE_ASYNC
    next_skip_pfn = _block_end(low_pfn, cc.order) if skip_on_failure else 0
    buddy = dict(pa.free_blocks(cc.zone, low_pfn, end_pfn))
    aborted = False
    while low_pfn < end_pfn:
        if skip_on_failure and low_pfn >= next_skip_pfn:
            if nr_isolated:
                break
            next_skip_pfn = _block_end(low_pfn, cc.order)
        nr_scanned += 1
        if valid_page is None and (not low_pfn & ((1 << pb) - 1) or low_pfn == state.start):
            if not _isolation_suitable(kernel, cc, low_pfn):
                low_pfn = end_pfn
                aborted = True
                break
            valid_page = low_pfn
        order = buddy.get(low_pfn)
        if order is not None:
            if order > 0:
                low_pfn += (1 << order) - 1
                nr_scanned += (1 << order) - 1
            low_pfn += 1
            continue
        f = int(flags_arr[low_pfn])
        compound, corder = _compound(f)
        failed = True
        if compound:
            low_pfn += (1 << corder) - 1
            nr_scanned += (1 << corder) - 1
        elif f & PG_LRU and _migratable_state(kernel, cc, low_pfn, f, mode) is None:
            if not skip_updated and valid_page is not None:
                skip_updated = True
                if _test_and_set_skip(kernel, cc, valid_page) and not cc.finish_pageblock:
                    low_pfn = end_pfn
                    aborted = True
                    break
            _isolate_lru(kernel, low_pfn)
            cc.migratepages.insert(0, low_pfn)
            cc.nr_migratepages += 1
            nr_isolated += 1
            failed = False
            if cc.nr_migratepages >= COMPACT_CLUSTER_MAX and not cc.finish_pageblock \
                    and not cc.contended:
                low_pfn += 1
                break
        if failed and skip_on_failure:
            if nr_isolated:
                putback_movable_pages(kernel, cc)
                cc.nr_migratepages = 0
                nr_isolated = 0
            if low_pfn < next_skip_pfn:
                low_pfn = next_skip_pfn - 1
                next_skip_pfn += 1 << cc.order
        low_pfn += 1
    if not aborted and low_pfn > end_pfn:
        low_pfn = end_pfn
    if low_pfn == end_pfn and (not nr_isolated or cc.finish_pageblock):
        if valid_page is not None and not skip_updated:
            _set_skip(kernel, cc, valid_page)
        _update_cached_migrate(cc, state, low_pfn, pb)
    cc.total_migrate_scanned += nr_scanned
    kernel.compaction.events["compact_isolated"] += nr_isolated
    cc.migrate_pfn = low_pfn


def _update_cached_migrate(cc, state, pfn, pb):
    pfn = _pb_end(pfn, pb)
    if pfn > state.compact_cached_migrate_pfn[0]:
        state.compact_cached_migrate_pfn[0] = pfn
    if cc.mode != MIGRATE_ASYNC and pfn > state.compact_cached_migrate_pfn[1]:
        state.compact_cached_migrate_pfn[1] = pfn


def suitable_migration_source(kernel, cc, pfn):
    f = int(kernel.mmu.flags[pfn])
    compound, order = _compound(f)
    if compound and order >= kernel.compaction.pageblock_order:    # pageblock_skip_persistent
        return False
    if cc.mode != MIGRATE_ASYNC or not cc.direct_compaction:
        return True
    mt = kernel._pa.pageblock_migratetype(pfn)
    if cc.migratetype == MOVABLE:
        return mt == MOVABLE
    return mt == cc.migratetype


def isolate_migratepages(kernel, cc):
    """The migrate scanner: the first suitable pageblock from cc.migrate_pfn up.  True when
    pages were isolated (ISOLATE_SUCCESS), False for ISOLATE_NONE."""
    pb = kernel.compaction.pageblock_order
    nr = 1 << pb
    state = kernel.compaction.zones[cc.zone]
    mode = ((ISOLATE_UNEVICTABLE if kernel.compaction.compact_unevictable_allowed else 0)
            | (ISOLATE_ASYNC_MIGRATE if cc.mode != MIGRATE_SYNC else 0))
    low_pfn = cc.migrate_pfn
    block_start = max(_pb_start(low_pfn, pb), state.start)
    block_end = _pb_end(low_pfn, pb)
    while block_end <= cc.free_pfn:
        if _pageblock_pfn_to_page(kernel, cc.zone, block_start, block_end) and not (
                (not low_pfn & (nr - 1) or low_pfn == state.start)
                and not _isolation_suitable(kernel, cc, block_start)):
            if not suitable_migration_source(kernel, cc, block_start):
                _update_cached_migrate(cc, state, block_end, pb)
            else:
                isolate_migratepages_block(kernel, cc, low_pfn, block_end, mode)
                break
        cc.migrate_pfn = low_pfn = block_end
        block_start = block_end
        block_end += nr
    return cc.nr_migratepages > 0


# =============================================================================== migration ==
def _expected_refs(flags, mapcount):
    """The references a folio may hold to be migrated: its mappings (+ the page cache's)."""
    return mapcount + (1 if flags & PG_FILE else 0)


class RmapIndex:
    """rmap_walk() for many frames in a row: every VMA of every live process, keyed by the
    anon_vma ids it serves (its own and its ancestors') or its file's mapping id and sorted by
    vm_pgoff, so a frame's mappings are found without visiting every VMA.  Gives exactly
    rmap_walk()'s answer while no VMA changes (compaction changes none)."""

    def __init__(self, kernel):
        import bisect
        self._bisect = bisect.bisect_right
        self.keys = {}
        for process in list(kernel._processes.values()):
            mm = process.mm
            if mm is None or mm.pgd is None:
                continue
            for vma in mm.tree:
                keys = []
                anon = vma.anon_vma
                while anon is not None:
                    keys.append(("anon", anon.id))
                    anon = anon.parent
                if vma.vm_file is not None:
                    keys.append(("file", vma.vm_file.f_inode.i_mapping.id))
                for key in keys:
                    self.keys.setdefault(key, []).append((vma.vm_pgoff, process, vma))
        self.index = {}
        for key, entries in self.keys.items():
            entries.sort(key=lambda e: e[0])
            self.index[key] = ([e[0] for e in entries], entries,
                               max(e[2].pages for e in entries))

    def walk(self, kernel, pfn):
        from .mmu_defs import (_PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_SPECIAL, pte_pfn)
        mmu = kernel.mmu
        flags = int(mmu.flags[pfn])
        key = ("anon" if flags & PG_ANON else "file", int(mmu.mapping[pfn]))
        found = self.index.get(key)
        if found is None:
            return []
        pgoffs, entries, longest = found
        index = int(mmu.index[pfn])
        out = []
        k = self._bisect(pgoffs, index) - 1
        while k >= 0 and pgoffs[k] + longest > index:
            pgoff, process, vma = entries[k]
            k -= 1
            if index - pgoff >= vma.pages:
                continue
            addr = vma.vm_start + ((index - pgoff) << PAGE_SHIFT)
            entry = mmu.pte_get(process.mm.pgd, addr)
            if not entry & (_PAGE_PRESENT | _PAGE_PROTNONE) or entry & _PAGE_SPECIAL:
                continue
            if pte_pfn(entry) == pfn:
                out.append((process, vma, addr))
        return out


def _rmap(kernel, pfn):
    index = getattr(kernel.compaction, "rmap_index", None)
    if index is None:
        from .rmap import rmap_walk
        return rmap_walk(kernel, pfn)
    return index.walk(kernel, pfn)


def move_to_new_folio(kernel, src, dst):
    """migrate_folio_unmap + migrate_folio_move for an order-0 folio whose references are all
    accounted for: contents, flags, references, mapping and index move to dst, every PTE
    (keeping its permission/dirty/accessed bits) and the page-cache slot point at dst, and the
    old frame is cleared and freed."""
    mmu = kernel.mmu
    mappings = _rmap(kernel, src)
    mmu.page_copy(dst, src)
    flags = int(mmu.flags[src])
    mapping, index = int(mmu.mapping[src]), int(mmu.index[src])
    mmu.flags[dst] = flags
    mmu.refcount[dst] = mmu.refcount[src]
    mmu.mapcount[dst] = mmu.mapcount[src]
    mmu.mapping[dst] = mapping
    mmu.index[dst] = index
    for process, _vma, addr in mappings:
        mm = process.mm
        entry = mmu.pte_get(mm.pgd, addr)
        mmu.pte_set(mm.pgd, addr, (entry & ~PTE_PFN_MASK) | (dst << PAGE_SHIFT), mm.counters)
    if flags & PG_FILE:
        kernel.address_spaces[mapping].pages[index] = dst
    mmu.page_clear(src)
    mmu.flags[src] = 0
    mmu.refcount[src] = 0
    mmu.mapcount[src] = 0
    mmu.mapping[src] = 0
    mmu.index[src] = 0
    kernel.free_pages(src, 0)
    _putback_lru(kernel, dst)


def migrate_pages(kernel, cc):
    """migrate_pages(&cc->migratepages, compaction_alloc, compaction_free, MR_COMPACTION):
    0, the number of pages that failed, or -ENOMEM when compaction_alloc ran dry.  Pages that
    failed stay on cc.migratepages for putback_movable_pages()."""
    mmu = kernel.mmu
    events = kernel.compaction.events
    failed, succeeded, rc = [], 0, 0
    pending = cc.migratepages
    cc.migratepages = []
    while pending:
        src = pending[0]
        flags = int(mmu.flags[src])
        if int(mmu.refcount[src]) != _expected_refs(flags, int(mmu.mapcount[src])):
            failed.append(pending.pop(0))        # -EAGAIN on every retry
            continue
        dst = compaction_alloc(kernel, cc)
        if dst is None:
            failed.append(pending.pop(0))
            rc = -ENOMEM
            break
        pending.pop(0)
        move_to_new_folio(kernel, src, dst)
        succeeded += 1
    cc.migratepages = failed + pending
    events["pgmigrate_success"] += succeeded
    events["pgmigrate_fail"] += len(failed)
    cc.nr_succeeded += succeeded
    if rc:
        return rc
    return len(failed)


# =============================================================================== compact_zone ==
def _compact_zone(kernel, cc):
    from .lru import lru_add_drain
    comp = kernel.compaction
    pa = kernel._pa
    pb = comp.pageblock_order
    state = comp.zones[cc.zone]
    start_pfn, end_pfn = state.start, state.end
    sync = cc.mode != MIGRATE_ASYNC
    cc.migratetype = G.gfp_migratetype(cc.gfp_mask, pa.mobility_disabled)
    if cc.order != -1:
        mark = _wmark(pa, cc.zone, cc.alloc_flags & ALLOC_WMARK_MASK)
        if _zone_watermark_ok(pa, cc.zone, cc.order, mark, cc.highest_zoneidx, cc.alloc_flags):
            return COMPACT_SUCCESS
        if not compaction_suitable(kernel, cc.zone, cc.order, cc.highest_zoneidx):
            return COMPACT_SKIPPED
    if compaction_restarting(state, cc.order):
        state.skip.clear()                      # __reset_isolation_suitable(), simplified
        reset_cached_positions(state, pb)
    if cc.whole_zone:
        cc.migrate_pfn = start_pfn
        cc.free_pfn = _pb_start(end_pfn - 1, pb)
    else:
        cc.migrate_pfn = state.compact_cached_migrate_pfn[int(sync)]
        cc.free_pfn = state.compact_cached_free_pfn
        if not start_pfn <= cc.free_pfn < end_pfn:
            cc.free_pfn = _pb_start(end_pfn - 1, pb)
            state.compact_cached_free_pfn = cc.free_pfn
        if not start_pfn <= cc.migrate_pfn < end_pfn:
            cc.migrate_pfn = start_pfn
            state.compact_cached_migrate_pfn = [start_pfn, start_pfn]
        if cc.migrate_pfn <= state.compact_init_migrate_pfn:
            cc.whole_zone = True
    last_migrated_pfn = 0
    update_cached = (not sync and state.compact_cached_migrate_pfn[0]
                     == state.compact_cached_migrate_pfn[1])
    lru_add_drain(kernel)
    comp.rmap_index = RmapIndex(kernel)
    try:
        return _compact_zone_scan(kernel, cc, state, last_migrated_pfn, update_cached)
    finally:
        comp.rmap_index = None


def _compact_zone_scan(kernel, cc, state, last_migrated_pfn, update_cached):
    from .lru import lru_add_drain
    comp = kernel.compaction
    pa = kernel._pa
    pb = comp.pageblock_order
    start_pfn = state.start
    while True:
        ret = compact_finished(kernel, cc)
        if ret != COMPACT_CONTINUE:
            break
        cc.finish_pageblock = (_pb_start(last_migrated_pfn, pb)
                               == _pb_start(cc.migrate_pfn, pb))
        stop = False
        while True:                             # rescan:
            if not isolate_migratepages(kernel, cc):
                if update_cached:
                    state.compact_cached_migrate_pfn[1] = state.compact_cached_migrate_pfn[0]
                break
            update_cached = False
            last_migrated_pfn = max(start_pfn, _pb_start(cc.migrate_pfn - 1, pb))
            err = migrate_pages(kernel, cc)
            cc.nr_migratepages = 0
            if err:
                putback_movable_pages(kernel, cc)
                if err == -ENOMEM and not compact_scanners_met(cc, pb):
                    ret = COMPACT_CONTENDED
                    stop = True
                    break
                if cc.migrate_pfn & ((1 << pb) - 1) and not cc.ignore_skip_hint \
                        and not cc.finish_pageblock and cc.mode < MIGRATE_SYNC:
                    cc.finish_pageblock = True
                    if cc.order == pb:
                        last_migrated_pfn = 0
                    continue
            break
        if stop:
            break
        # check_drain: flush what the migrated block freed so that it can merge
        if cc.order > 0 and last_migrated_pfn:
            if last_migrated_pfn < _block_start(cc.migrate_pfn, cc.order):
                lru_add_drain(kernel)
                pa.drain_pages(0)               # drain_local_pages() (all zones of cpu 0)
                last_migrated_pfn = 0
    if cc.nr_freepages > 0:
        free_pfn = _pb_start(release_freepages(kernel, cc), pb)
        cc.nr_freepages = 0
        if free_pfn > state.compact_cached_free_pfn:
            state.compact_cached_free_pfn = free_pfn
    comp.events["compact_migrate_scanned"] += cc.total_migrate_scanned
    comp.events["compact_free_scanned"] += cc.total_free_scanned
    return ret


# =============================================================================== entry points ==
def _zone_index(kernel, zone):
    names = [z.name for z in kernel.zones]
    if isinstance(zone, str):
        if zone not in names:
            raise ValueError(f"no zone {zone!r} (zones: {' '.join(names)})")
        return names.index(zone)
    zone = _args.as_int(zone, "zone")
    if not 0 <= zone < len(names):
        raise ValueError(f"zone index must be in 0..{len(names) - 1}, got {zone}")
    return zone


def _check_order(kernel, order, allow_minus_one=True):
    order = _args.as_int(order, "order")
    low = -1 if allow_minus_one else 1
    if not (low <= order <= kernel._pa.max_order) or (order == 0 and not allow_minus_one):
        raise ValueError(f"order must be in {low}..{kernel._pa.max_order}"
                         f"{', not 0' if not allow_minus_one else ''}, got {order}")
    return order


def compact_zone(kernel, zone, order=-1):
    """Compact one zone synchronously over its whole span (MIGRATE_SYNC, skip hints ignored).
    order -1 runs the scanners until they meet, as /proc/sys/vm/compact_memory does; an order
    stops as soon as a free block of that order exists.  Returns COMPACT_*."""
    z = _zone_index(kernel, zone)
    order = _check_order(kernel, order)
    with kernel.lock:
        if not kernel.zones[z].populated:
            return COMPACT_SKIPPED
        cc = CompactControl(z, order, G.GFP_KERNEL, MIGRATE_SYNC, whole_zone=True,
                            ignore_skip_hint=True, highest_zoneidx=z)
        return _compact_zone(kernel, cc)


def compact_memory(kernel):
    """echo 1 > /proc/sys/vm/compact_memory: lru_add_drain_all(), then every populated zone
    compacted from end to end (compact_nodes)."""
    from .lru import lru_add_drain
    with kernel.lock:
        lru_add_drain(kernel)
        for z, zone in enumerate(kernel.zones):
            if not zone.populated:
                continue
            cc = CompactControl(z, -1, G.GFP_KERNEL, MIGRATE_SYNC, whole_zone=True,
                                ignore_skip_hint=True)
            _compact_zone(kernel, cc)


def _alloc_flags(gfp):
    """The slow path's alloc_flags as far as the watermark tests read them."""
    flags = ALLOC_WMARK_MIN | (gfp & (G.__GFP_HIGH | G.__GFP_KSWAPD_RECLAIM))
    if not gfp & G.__GFP_DIRECT_RECLAIM and not gfp & G.__GFP_NOMEMALLOC:
        flags |= ALLOC_NON_BLOCK
    return flags


def _check_prio(prio):
    prio = _args.as_int(prio, "prio")
    if not COMPACT_PRIO_SYNC_FULL <= prio <= COMPACT_PRIO_ASYNC:
        raise ValueError(f"prio must be in 0..2 (COMPACT_PRIO_*), got {prio}")
    return prio


def try_to_compact_pages(kernel, gfp, order, prio=INIT_COMPACT_PRIORITY, alloc_flags=None):
    """Direct compaction for an allocation of (gfp, order): each zone of its zonelist, until
    one reports COMPACT_SUCCESS; the highest compact_result seen.  No counters of its own
    (alloc_pages_direct_compact counts compact_stall/success/fail)."""
    pa = kernel._pa
    pa.gfp_zone(gfp)                            # ValueError on a bad gfp
    gfp = _args.as_int(gfp, "gfp")
    order = _check_order(kernel, order, allow_minus_one=False)
    prio = _check_prio(prio)
    if alloc_flags is None:
        alloc_flags = _alloc_flags(gfp)
    with kernel.lock:
        if not gfp & G.__GFP_IO:
            return COMPACT_SKIPPED
        highest = pa.gfp_zone(gfp)
        rc = COMPACT_SKIPPED
        for z in pa.zonelist_for(gfp):
            state = kernel.compaction.zones[z]
            if prio > MIN_COMPACT_PRIORITY and compaction_deferred(state, order):
                rc = max(COMPACT_DEFERRED, rc)
                continue
            full = prio == MIN_COMPACT_PRIORITY
            cc = CompactControl(z, order, gfp,
                                MIGRATE_ASYNC if prio == COMPACT_PRIO_ASYNC
                                else MIGRATE_SYNC_LIGHT,
                                alloc_flags=alloc_flags, highest_zoneidx=highest,
                                direct_compaction=True, whole_zone=full,
                                ignore_skip_hint=full, ignore_block_suitable=full)
            status = _compact_zone(kernel, cc)
            rc = max(status, rc)
            if status == COMPACT_SUCCESS:
                compaction_defer_reset(state, order, False)
                break
            if prio != COMPACT_PRIO_ASYNC and status in (COMPACT_COMPLETE,
                                                         COMPACT_PARTIAL_SKIPPED):
                defer_compaction(state, order)
        return rc


def alloc_pages_direct_compact(kernel, gfp, order, prio=INIT_COMPACT_PRIORITY, cpu=0):
    """__alloc_pages_direct_compact(): try_to_compact_pages(), then one allocation attempt with
    the slow path's flags.  compact_stall counts every compaction that ran (not SKIPPED),
    then compact_success or compact_fail.  Returns (pfn or None, compact_result)."""
    order = _args.as_int(order, "order")
    if order == 0:
        return None, COMPACT_SKIPPED
    result = try_to_compact_pages(kernel, gfp, order, prio)
    if result == COMPACT_SKIPPED:
        return None, result
    events = kernel.compaction.events
    with kernel.lock:
        events["compact_stall"] += 1
        pfn = kernel._pa.alloc_pages_slowpath(gfp, order, cpu)
        if pfn is not None:
            zone = kernel._pa.page_info(pfn)["zone"]
            compaction_defer_reset(kernel.compaction.zones[zone], order, True)
            events["compact_success"] += 1
            return pfn, result
        events["compact_fail"] += 1
        return None, result

