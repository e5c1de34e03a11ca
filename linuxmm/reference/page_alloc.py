"""Pure-Python page allocator: the same algorithm, results and errors as linuxmm.PageAllocator.

One node of Linux 6.x's zoned page allocator (mm/page_alloc.c), written for reading: each method
names the kernel function it models.  Zones hold buddy free lists per (order, migratetype) and
per-CPU page lists (pcp); gfp flags pick the zonelist, alloc_flags and the watermark test decide
which zone may serve, migratetype fallback claims or steals pageblocks.  The engine knows no
formulas: watermarks, lowmem_reserve and pcp sizes are pushed in with set_zone_tunables().
"""
import bisect
import threading

import numpy as np

from .. import _args, gfp as G
from ..errors import InvariantError, invalid_free
from ..sync import synchronized
from .buddy import _FreeList
from ..page_alloc_args import (MAX_CPUS, _check_mt, _check_zones, _int64, _tunables,  # noqa: F401
                               already_released, alloc_failure, check_alloc,
                               check_isolate_args, check_pfn_range, compound_split,
                               not_a_free_block,
                               check_boot_range, check_cpu, check_pcp_sizes, check_zone_index)

# mm/internal.h alloc_flags (6.3+)
ALLOC_WMARK_MIN, ALLOC_WMARK_LOW, ALLOC_WMARK_HIGH = 0, 1, 2
ALLOC_WMARK_MASK = 3
ALLOC_NO_WATERMARKS = 0x04
ALLOC_OOM = 0x08
ALLOC_NON_BLOCK = 0x10
ALLOC_MIN_RESERVE = 0x20
ALLOC_CPUSET = 0x40
ALLOC_NOFRAGMENT = 0x100
ALLOC_HIGHATOMIC = 0x200
ALLOC_KSWAPD = 0x800
ALLOC_RESERVES = ALLOC_NON_BLOCK | ALLOC_MIN_RESERVE | ALLOC_HIGHATOMIC | ALLOC_OOM

PAGE_ALLOC_COSTLY_ORDER = 3
PCP_BATCH_SCALE_MAX = 5                 # CONFIG_PCP_BATCH_SCALE_MAX
NR_LOWORDER_PCP_LISTS = G.MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER + 1)
PCPF_PREV_FREE_HIGH_ORDER = 0x1
PCPF_FREE_HIGH_BATCH = 0x2
MAX_ZONES = 6

UNMOVABLE, MOVABLE, RECLAIMABLE, HIGHATOMIC, ISOLATE = range(5)
PCPTYPES = G.MIGRATE_PCPTYPES
MIGRATE_TYPES = G.MIGRATE_TYPES
FALLBACKS = {UNMOVABLE: (RECLAIMABLE, MOVABLE), MOVABLE: (RECLAIMABLE, UNMOVABLE),
             RECLAIMABLE: (UNMOVABLE, MOVABLE)}

_GFP_HIGH = G.__GFP_HIGH
_GFP_KSWAPD = G.__GFP_KSWAPD_RECLAIM
_GFP_DIRECT = G.__GFP_DIRECT_RECLAIM
_GFP_MEMALLOC = G.__GFP_MEMALLOC
_GFP_COMP = G.__GFP_COMP
_GFP_NOMEMALLOC = G.__GFP_NOMEMALLOC

_FREE, _ALLOC, _PCP = 1, 2, 3           # kinds of block heads in _Zone.state


def clamp(v, lo, hi):
    return min(max(v, lo), hi)


class _Pcp:
    """struct per_cpu_pages of one zone and CPU."""

    __slots__ = ("count", "high", "free_count", "alloc_factor", "flags", "lists")

    def __init__(self, nr_lists):
        self.count = self.high = self.free_count = self.alloc_factor = self.flags = 0
        self.lists = [_FreeList() for _ in range(nr_lists)]


class _Zone:
    """struct zone: free_area, pageblock types, watermarks and the per-CPU lists."""

    def __init__(self, idx, name, start, spanned, pa):
        self.idx, self.name, self.start, self.spanned = idx, name, start, spanned
        self.end = start + spanned
        mo = pa.max_order
        self.lists = [[_FreeList() for _ in range(MIGRATE_TYPES)] for _ in range(mo + 1)]
        self.nr_free = [0] * (mo + 1)
        self.nr_free_mt = [[0] * MIGRATE_TYPES for _ in range(mo + 1)]
        self.free_pages = 0
        self.free_pages_mt = [0] * MIGRATE_TYPES
        self.state = {}             # block head pfn -> [kind, order, mt]
        self.pb_mt = {}             # pageblock index -> migratetype (default MOVABLE)
        self.released = []          # sorted disjoint [start, end) ranges given by free_boot_range
        self.managed = 0
        self.wmark = [0, 0, 0, 0]   # min, low, high, promo (without boost)
        self.boost = 0
        self.lowmem_reserve = [0] * pa.nr_zones
        self.nr_reserved_highatomic = 0
        self.pgalloc = 0
        self.below_high = False     # ZONE_BELOW_HIGH
        self.boosted = False        # ZONE_BOOSTED_WATERMARK
        self.batch = 1              # the boot pageset: batch 1, high 0
        self.high_min = self.high_max = 0
        self.pcp = [_Pcp(pa.nr_pcp_lists) for _ in range(pa.cpus)]

    def spans(self, pfn):
        return self.start <= pfn < self.end


@synchronized
class PageAllocator:
    """Reference model of linuxmm.PageAllocator (see its docstring for the API)."""

    backend = "reference"

    def __init__(self, zones, *, cpus=2, max_order=10, pageblock_order=9, thp=True,
                 watermark_boost_factor=15000):
        spec = _check_zones(zones)
        self.lock = threading.RLock()
        self.cpus = _args.as_int(cpus, "cpus")
        if not 1 <= self.cpus <= MAX_CPUS:
            raise ValueError(f"cpus must be in 1..{MAX_CPUS}, got {self.cpus}")
        self.max_order = _args.as_int(max_order, "max_order")
        if not 0 <= self.max_order <= _args.MAX_ORDER_LIMIT:
            raise ValueError(f"max_order must be in 0..{_args.MAX_ORDER_LIMIT}, "
                             f"got {self.max_order}")
        self.pageblock_order = _args.as_int(pageblock_order, "pageblock_order")
        if not 0 <= self.pageblock_order <= self.max_order:
            raise ValueError(f"pageblock_order must be in 0..max_order, got {self.pageblock_order}")
        self.thp = bool(thp) and self.pageblock_order > PAGE_ALLOC_COSTLY_ORDER
        self.watermark_boost_factor = _args.as_int(watermark_boost_factor, "watermark_boost_factor")
        if self.watermark_boost_factor < 0:
            raise ValueError("watermark_boost_factor must be >= 0")
        self.nr_pcp_lists = NR_LOWORDER_PCP_LISTS + (2 if self.thp else 0)
        self.nr_zones = len(spec)
        self.zones = [_Zone(i, n, s, sp, self) for i, (n, s, sp) in enumerate(spec)]
        names = [z.name for z in self.zones]
        self._zone_table = G.gfp_zone_table(names)
        self._has_dma32 = "DMA32" in names
        self._normal = names.index("Normal")
        self._movable = max(i for i, n in enumerate(names) if G.ZONE_NAMES.index(n) <= 4)
        self._min_pfn = min((z.start for z in self.zones if z.spanned), default=0)
        self._max_pfn = max((z.end for z in self.zones if z.spanned), default=0)
        self._zonelist = []
        self.mobility_disabled = True
        self.pgfree = 0
        self.kswapd_wakeups = 0
        self.reclaim_hook = None
        self._compound = set()      # heads of allocated __GFP_COMP blocks of order > 0
        self._slab_owned = set()    # heads of the slab allocator's blocks (PageSlab, large kmalloc)
        self._frame_flags = None    # the fault path's per-frame flags (set_frame_owners)
        self._frame_mask = 0

    # ==================================================================== boot ==
    def free_boot_range(self, start, end):
        """memblock_free_all() of pfns [start, end): __free_pages_memory() per zone."""
        start, end = check_boot_range(start, end)
        parts = []
        for z in self.zones:
            s, e = max(start, z.start), min(end, z.end)
            if s < e:
                if any(rs < e and s < re_ for rs, re_ in z.released):
                    raise already_released(start, end)
                parts.append((z, s, e))
        for z, s, e in parts:
            bisect.insort(z.released, [s, e])
            while s < e:
                order = min((s & -s).bit_length() - 1 if s else 63, self.max_order)
                while s + (1 << order) > e:
                    order -= 1
                # __free_pages_core(): managed_pages, pgfree, __free_pages_ok(FPI_TO_TAIL)
                z.managed += 1 << order
                self.pgfree += 1 << order
                self._split_large_buddy(z, s, order, to_tail=True)
                s += 1 << order
        self._build_all_zonelists()

    def _build_all_zonelists(self):
        """build_zonerefs_node(): managed zones, highest index first; mobility grouping check."""
        self._zonelist = [z for z in reversed(self.zones) if z.managed]
        total = sum(z.managed for z in self.zones)
        self.mobility_disabled = total < (1 << self.pageblock_order) * MIGRATE_TYPES

    def set_zone_tunables(self, i, *, wmark_min=None, wmark_low=None, wmark_high=None,
                          wmark_promo=None, lowmem_reserve=None, pcp_high=None, pcp_batch=None,
                          pcp_high_min=None, pcp_high_max=None, pcp_free_high_batch=None):
        """Push the numbers boot code computed; only the values given change."""
        z = self.zones[self._zone_index(i)]
        vals = _tunables(self.nr_zones, wmark_min, wmark_low, wmark_high, wmark_promo,
                         lowmem_reserve, pcp_high, pcp_batch, pcp_high_min, pcp_high_max,
                         pcp_free_high_batch)
        check_pcp_sizes(vals, z.batch, z.high_min, z.high_max)
        for k, v in enumerate(vals[:4]):
            if v is not None:
                z.wmark[k] = v
        if vals[4] is not None:
            z.lowmem_reserve = list(vals[4])
        if vals[5] is not None:
            for p in z.pcp:
                p.high = vals[5]
        if vals[6] is not None:
            z.batch = vals[6]
        if vals[7] is not None:
            z.high_min = vals[7]
        if vals[8] is not None:
            z.high_max = vals[8]
        if vals[9] is not None:
            for p in z.pcp:
                if vals[9]:
                    p.flags |= PCPF_FREE_HIGH_BATCH
                else:
                    p.flags &= ~PCPF_FREE_HIGH_BATCH

    def clear_watermark_boost(self, i):
        """What kswapd does at the end of balance_pgdat(): drop the zone's watermark boost."""
        z = self.zones[self._zone_index(i)]
        z.boost = 0

    # ==================================================================== free lists ==
    def _pageblock_mt(self, z, pfn):
        return z.pb_mt.get(pfn >> self.pageblock_order, MOVABLE)

    def _set_pageblock_migratetype(self, z, pfn, mt):
        if self.mobility_disabled and mt < PCPTYPES:
            mt = UNMOVABLE
        z.pb_mt[pfn >> self.pageblock_order] = mt

    def _add_to_free_list(self, z, pfn, order, mt, tail):
        z.lists[order][mt].add(pfn, tail)
        z.state[pfn] = [_FREE, order, mt]
        z.nr_free[order] += 1
        z.nr_free_mt[order][mt] += 1
        z.free_pages += 1 << order
        z.free_pages_mt[mt] += 1 << order

    def _del_page_from_free_list(self, z, pfn):
        _, order, mt = z.state.pop(pfn)
        z.lists[order][mt].remove(pfn)
        z.nr_free[order] -= 1
        z.nr_free_mt[order][mt] -= 1
        z.free_pages -= 1 << order
        z.free_pages_mt[mt] -= 1 << order

    def _move_to_free_list(self, z, pfn, new_mt):
        order = z.state[pfn][1]
        self._del_page_from_free_list(z, pfn)
        self._add_to_free_list(z, pfn, order, new_mt, tail=True)

    def _expand(self, z, pfn, low, high, mt):
        while high > low:
            high -= 1
            self._add_to_free_list(z, pfn + (1 << high), high, mt, tail=False)

    def _page_del_and_expand(self, z, pfn, low, high, mt):
        self._del_page_from_free_list(z, pfn)
        self._expand(z, pfn, low, high, mt)

    def _rmqueue_smallest(self, z, order, mt):
        """__rmqueue_smallest(): head of the smallest non-empty list of type mt."""
        for o in range(order, self.max_order + 1):
            pfn = z.lists[o][mt].head
            if pfn is not None:
                self._page_del_and_expand(z, pfn, order, o, mt)
                return pfn
        return None

    def _page_is_buddy(self, z, pfn, order):
        st = z.state.get(pfn)
        return st is not None and st[0] == _FREE and st[1] == order and z.spans(pfn)

    def _free_one_page(self, z, pfn, order, mt, to_tail):
        """__free_one_page(): merge with free buddies, then insert at head or tail."""
        buddy = pfn
        while order < self.max_order:
            buddy = pfn ^ (1 << order)
            if not self._page_is_buddy(z, buddy, order):
                break
            buddy_mt = z.state[buddy][2]
            if order >= self.pageblock_order:
                buddy_mt = self._pageblock_mt(z, buddy)
                if mt != buddy_mt and (mt >= PCPTYPES or buddy_mt >= PCPTYPES):
                    break
            self._del_page_from_free_list(z, buddy)
            if buddy_mt != mt and order >= self.pageblock_order:
                self._set_pageblock_migratetype(z, buddy, mt)
            pfn &= buddy
            order += 1
        if not to_tail and order < self.max_order - 1:      # buddy_merge_likely()
            higher = buddy & pfn
            to_tail = self._page_is_buddy(z, higher ^ (1 << (order + 1)), order + 1)
        self._add_to_free_list(z, pfn, order, mt, to_tail)

    def _split_large_buddy(self, z, pfn, order, to_tail=False):
        """split_large_buddy(): blocks above pageblock_order are freed a pageblock at a time."""
        end = pfn + (1 << order)
        order = min(order, self.pageblock_order)
        while pfn < end:
            self._free_one_page(z, pfn, order, self._pageblock_mt(z, pfn), to_tail)
            pfn += 1 << order

    # ==================================================================== fallback ==
    def _should_try_claim_block(self, order, start_mt):
        return (order >= self.pageblock_order or order >= self.pageblock_order // 2
                or start_mt in (RECLAIMABLE, UNMOVABLE) or self.mobility_disabled)

    def _find_suitable_fallback(self, z, order, mt, claimable):
        if claimable and not self._should_try_claim_block(order, mt):
            return -2
        if z.nr_free[order] == 0:
            return -1
        for fb in FALLBACKS[mt]:
            if z.lists[order][fb].head is not None:
                return fb
        return -1

    def _boost_watermark(self, z):
        if not self.watermark_boost_factor:
            return False
        nr = 1 << self.pageblock_order
        if nr * 4 > z.managed:
            return False
        high = z.wmark[2]
        max_boost = (high // 10000) * self.watermark_boost_factor + \
            (high % 10000) * self.watermark_boost_factor // 10000      # mult_frac()
        if not max_boost:
            return False
        max_boost = max(nr, max_boost)
        z.boost = min(z.boost + nr, max_boost)
        return True

    def _prep_move_freepages_block(self, z, pfn):
        """(start_pfn, free_pages, movable_pages) of pfn's pageblock, None if it leaves the zone."""
        nr = 1 << self.pageblock_order
        start = pfn & ~(nr - 1)
        end = start + nr
        if not (z.spans(start) and z.spans(end - 1)):
            return None
        free = movable = 0
        for _, st in _block_heads(z, start, end):
            if st[0] == _FREE:
                free += 1 << st[1]
            elif st[0] == _ALLOC and st[2] == MOVABLE:      # PageLRU: a movable allocation
                movable += 1 << st[1]
        return start, free, movable

    def _move_freepages_block_pages(self, z, start, new_mt):
        """__move_freepages_block(): every free block of the pageblock to new_mt's list tail."""
        for p, st in _block_heads(z, start, start + (1 << self.pageblock_order)):
            if st[0] == _FREE:
                self._move_to_free_list(z, p, new_mt)

    def _change_pageblock_range(self, z, pfn, order, mt):
        nr = 1 << self.pageblock_order
        for p in range(pfn, pfn + max(1 << order, nr), nr):
            self._set_pageblock_migratetype(z, p, mt)

    def _try_to_claim_block(self, z, pfn, current_order, order, start_mt, block_mt, flags):
        if current_order >= self.pageblock_order:
            self._del_page_from_free_list(z, pfn)
            self._change_pageblock_range(z, pfn, current_order, start_mt)
            self._expand(z, pfn, order, current_order, start_mt)
            return pfn
        if self._boost_watermark(z) and flags & ALLOC_KSWAPD:
            z.boosted = True
        prep = self._prep_move_freepages_block(z, pfn)
        if prep is None:
            return None
        start, free, movable = prep
        if start_mt == MOVABLE:
            alike = movable
        elif block_mt == MOVABLE:
            alike = (1 << self.pageblock_order) - (free + movable)
        else:
            alike = 0
        if free + alike >= 1 << (self.pageblock_order - 1) or self.mobility_disabled:
            self._move_freepages_block_pages(z, start, start_mt)
            self._set_pageblock_migratetype(z, start, start_mt)
            return self._rmqueue_smallest(z, order, start_mt)
        return None

    def _rmqueue_claim(self, z, order, start_mt, flags):
        min_order = order
        if order < self.pageblock_order and flags & ALLOC_NOFRAGMENT:
            min_order = self.pageblock_order
        for o in range(self.max_order, min_order - 1, -1):
            fb = self._find_suitable_fallback(z, o, start_mt, True)
            if fb == -1:
                continue
            if fb == -2:
                break
            pfn = self._try_to_claim_block(z, z.lists[o][fb].head, o, order, start_mt, fb, flags)
            if pfn is not None:
                return pfn
        return None

    def _rmqueue_steal(self, z, order, start_mt):
        for o in range(order, self.max_order + 1):
            fb = self._find_suitable_fallback(z, o, start_mt, False)
            if fb == -1:
                continue
            pfn = z.lists[o][fb].head
            self._page_del_and_expand(z, pfn, order, o, fb)
            return pfn
        return None

    def _rmqueue(self, z, order, mt, flags, mode):
        """__rmqueue() with enum rmqueue_mode (mode is a one-element list: 0 normal, 2 claim,
        3 steal) remembered across one rmqueue_bulk() refill.  No CMA."""
        if mode[0] <= 0:
            pfn = self._rmqueue_smallest(z, order, mt)
            if pfn is not None:
                return pfn
        if mode[0] <= 2:
            pfn = self._rmqueue_claim(z, order, mt, flags)
            if pfn is not None:
                mode[0] = 0
                return pfn
        if not flags & ALLOC_NOFRAGMENT:
            pfn = self._rmqueue_steal(z, order, mt)
            if pfn is not None:
                mode[0] = 3
                return pfn
        return None

    # ==================================================================== watermarks ==
    def _unusable_free(self, z, order, flags):
        unusable = (1 << order) - 1
        if not flags & ALLOC_RESERVES:
            unusable += z.free_pages_mt[HIGHATOMIC]
        return unusable

    def _zone_watermark_ok(self, z, order, mark, highest, flags, free_pages):
        """__zone_watermark_ok()."""
        free_pages -= self._unusable_free(z, order, flags)
        mn = mark
        if flags & ALLOC_RESERVES:
            if flags & ALLOC_MIN_RESERVE:
                mn -= mn // 2
                if flags & ALLOC_NON_BLOCK:
                    mn -= mn // 4
            if flags & ALLOC_OOM:
                mn -= mn // 2
        if free_pages <= mn + z.lowmem_reserve[highest]:
            return False
        if order == 0:
            return True
        for o in range(order, self.max_order + 1):
            if not z.nr_free[o]:
                continue
            for mt in range(PCPTYPES):
                if z.lists[o][mt].head is not None:
                    return True
            if flags & (ALLOC_HIGHATOMIC | ALLOC_OOM) and z.lists[o][HIGHATOMIC].head is not None:
                return True
        return False

    def _zone_watermark_fast(self, z, order, mark, highest, flags):
        free_pages = z.free_pages
        if order == 0:
            usable = free_pages - min(free_pages, self._unusable_free(z, 0, flags))
            if usable > mark + z.lowmem_reserve[highest]:
                return True
        if self._zone_watermark_ok(z, order, mark, highest, flags, free_pages):
            return True
        if (order == 0 and flags & ALLOC_MIN_RESERVE and z.boost
                and (flags & ALLOC_WMARK_MASK) == ALLOC_WMARK_MIN):
            return self._zone_watermark_ok(z, order, z.wmark[0], highest, flags, free_pages)
        return False

    def _wmark(self, z, k):
        return z.wmark[k] + z.boost

    # ==================================================================== pcp ==
    def _pindex(self, mt, order):
        if order > PAGE_ALLOC_COSTLY_ORDER:
            return NR_LOWORDER_PCP_LISTS + (mt == MOVABLE)
        return PCPTYPES * order + mt

    def _pindex_order(self, pindex):
        return self.pageblock_order if pindex >= NR_LOWORDER_PCP_LISTS else pindex // PCPTYPES

    def _pcp_allowed_order(self, order):
        return order <= PAGE_ALLOC_COSTLY_ORDER or (self.thp and order == self.pageblock_order)

    def _nr_pcp_alloc(self, pcp, z, order):
        base = z.batch
        high = pcp.high = clamp(pcp.high, z.high_min, z.high_max)
        if high < base:
            return 1
        batch = base if order else base << pcp.alloc_factor
        if z.high_min != z.high_max and not z.below_high:
            high = pcp.high = min(high + batch, z.high_max)
        if not order:
            max_nr_alloc = max(high - pcp.count - base, base)
            if batch <= max_nr_alloc and pcp.alloc_factor < PCP_BATCH_SCALE_MAX:
                pcp.alloc_factor += 1
            batch = min(batch, max_nr_alloc)
        if batch > 1:
            batch = max(batch >> order, 2)
        return batch

    def _rmqueue_bulk(self, z, order, count, lst, mt, flags):
        mode = [0]
        for i in range(count):
            pfn = self._rmqueue(z, order, mt, flags, mode)
            if pfn is None:
                return i
            lst.add(pfn, tail=True)
            z.state[pfn] = [_PCP, order, self._pindex(mt, order)]
        return count

    def _rmqueue_pcplist_inner(self, z, order, mt, flags, pcp):
        """__rmqueue_pcplist()."""
        pindex = self._pindex(mt, order)
        lst = pcp.lists[pindex]
        if lst.head is None:
            batch = self._nr_pcp_alloc(pcp, z, order)
            n = self._rmqueue_bulk(z, order, batch, lst, mt, flags)
            pcp.count += n << order
            if lst.head is None:
                return None
        pfn = lst.head
        lst.remove(pfn)
        pcp.count -= 1 << order
        return pfn

    def _rmqueue_pcplist(self, z, order, mt, flags, cpu):
        pcp = z.pcp[cpu]
        pcp.free_count >>= 1
        pfn = self._rmqueue_pcplist_inner(z, order, mt, flags, pcp)
        if pfn is not None:
            z.pgalloc += 1 << order
        return pfn

    def _free_pcppages_bulk(self, z, count, pcp, pindex):
        count = min(pcp.count, count)
        pindex -= 1
        while count > 0:
            while True:
                pindex += 1
                if pindex > self.nr_pcp_lists - 1:
                    pindex = 0
                lst = pcp.lists[pindex]
                if lst.head is not None:
                    break
            order = self._pindex_order(pindex)
            nr = 1 << order
            while True:
                pfn = lst.tail
                lst.remove(pfn)
                del z.state[pfn]
                count -= nr
                pcp.count -= nr
                self._free_one_page(z, pfn, order, self._pageblock_mt(z, pfn), False)
                if count <= 0 or lst.head is None:
                    break

    def _nr_pcp_free(self, pcp, batch, high, free_high):
        if free_high:
            return min(pcp.count, batch << PCP_BATCH_SCALE_MAX)
        if high < batch:                # pcp disabled or boot pageset
            return 1
        return clamp(pcp.free_count, batch, high - batch)

    def _nr_pcp_high(self, pcp, z, batch, free_high):
        high = pcp.high = clamp(pcp.high, z.high_min, z.high_max)
        if not high:
            return 0
        if free_high:
            pcp.high = max(high - (batch << PCP_BATCH_SCALE_MAX), z.high_min)
            return 0
        if z.high_min == z.high_max:
            return high
        if z.below_high:
            free_count = max(pcp.free_count, batch)
            pcp.high = max(high - free_count, z.high_min)
            high = max(pcp.count, z.high_min)
        elif pcp.count >= high:
            need_high = pcp.free_count + batch
            if pcp.high < need_high:
                pcp.high = clamp(need_high, z.high_min, z.high_max)
        return high

    def _free_frozen_page_commit(self, z, pcp, pfn, mt, order):
        pcp.alloc_factor >>= 1
        self.pgfree += 1 << order
        pindex = self._pindex(mt, order)
        pcp.lists[pindex].add(pfn, tail=False)
        z.state[pfn] = [_PCP, order, pindex]
        pcp.count += 1 << order
        batch = z.batch
        free_high = False
        if order and order <= PAGE_ALLOC_COSTLY_ORDER:
            free_high = (pcp.free_count >= batch + z.high_min // 2
                         and bool(pcp.flags & PCPF_PREV_FREE_HIGH_ORDER)
                         and (not pcp.flags & PCPF_FREE_HIGH_BATCH or pcp.count >= batch))
            pcp.flags |= PCPF_PREV_FREE_HIGH_ORDER
        elif pcp.flags & PCPF_PREV_FREE_HIGH_ORDER:
            pcp.flags &= ~PCPF_PREV_FREE_HIGH_ORDER
        if pcp.free_count < batch << PCP_BATCH_SCALE_MAX:
            pcp.free_count += 1 << order
        high = self._nr_pcp_high(pcp, z, batch, free_high)
        if pcp.count >= high:
            self._free_pcppages_bulk(z, self._nr_pcp_free(pcp, batch, high, free_high), pcp, pindex)
            if z.below_high and self._zone_watermark_ok(z, 0, self._wmark(z, 2), self._movable, 0,
                                                        z.free_pages):
                z.below_high = False

    def _free_frozen_pages(self, z, pfn, order, cpu):
        """__free_frozen_pages(): pcp orders to the CPU's list, others to the buddy lists."""
        del z.state[pfn]
        if not self._pcp_allowed_order(order):
            self.pgfree += 1 << order
            self._split_large_buddy(z, pfn, order)
            return
        mt = self._pageblock_mt(z, pfn)
        if mt >= PCPTYPES:
            mt = MOVABLE                # HIGHATOMIC pages are cached on the movable list
        self._free_frozen_page_commit(z, z.pcp[cpu], pfn, mt, order)

    def _drain_pages_zone(self, z, cpu):
        pcp = z.pcp[cpu]
        while pcp.count:
            self._free_pcppages_bulk(z, min(pcp.count, z.batch << PCP_BATCH_SCALE_MAX), pcp, 0)

    # ==================================================================== allocation ==
    def _rmqueue_buddy(self, z, order, flags, mt):
        pfn = None
        if flags & ALLOC_HIGHATOMIC:
            pfn = self._rmqueue_smallest(z, order, HIGHATOMIC)
        if pfn is None:
            pfn = self._rmqueue(z, order, mt, flags, [0])
            if pfn is None and flags & (ALLOC_OOM | ALLOC_NON_BLOCK):
                pfn = self._rmqueue_smallest(z, order, HIGHATOMIC)
            if pfn is None:
                return None
        z.pgalloc += 1 << order
        return pfn

    def _rmqueue_zone(self, z, order, flags, mt, cpu):
        """rmqueue()."""
        pfn = None
        if self._pcp_allowed_order(order):
            pfn = self._rmqueue_pcplist(z, order, mt, flags, cpu)
        if pfn is None:
            pfn = self._rmqueue_buddy(z, order, flags, mt)
        if flags & ALLOC_KSWAPD and z.boosted:
            z.boosted = False
            self.kswapd_wakeups += 1        # wakeup_kswapd(): the Python layer runs kswapd
        return pfn

    def _reserve_highatomic_pageblock(self, z, pfn, order):
        nr = 1 << self.pageblock_order
        if z.managed // 100 < nr:
            return
        max_managed = -(-(z.managed // 100) // nr) * nr
        if z.nr_reserved_highatomic >= max_managed:
            return
        mt = self._pageblock_mt(z, pfn)
        if mt >= PCPTYPES:
            return
        if order < self.pageblock_order:
            prep = self._prep_move_freepages_block(z, pfn)
            if prep is None:
                return
            self._move_freepages_block_pages(z, prep[0], HIGHATOMIC)
            self._set_pageblock_migratetype(z, prep[0], HIGHATOMIC)
            z.nr_reserved_highatomic += nr
        else:
            self._change_pageblock_range(z, pfn, order, HIGHATOMIC)
            z.nr_reserved_highatomic += 1 << order

    def _get_page_from_freelist(self, order, flags, highest, mt, cpu):
        while True:
            no_fallback = flags & ALLOC_NOFRAGMENT
            for z in self._zonelist:
                if z.idx > highest:
                    continue
                ok = False
                if not z.below_high:
                    if self._zone_watermark_fast(z, order, self._wmark(z, 2), highest, flags):
                        ok = True
                    else:
                        z.below_high = True
                if not ok:
                    mark = self._wmark(z, flags & ALLOC_WMARK_MASK)
                    if not self._zone_watermark_fast(z, order, mark, highest, flags):
                        if not flags & ALLOC_NO_WATERMARKS:
                            continue
                pfn = self._rmqueue_zone(z, order, flags, mt, cpu)
                if pfn is not None:
                    z.state[pfn] = [_ALLOC, order, mt]
                    if flags & ALLOC_HIGHATOMIC:
                        self._reserve_highatomic_pageblock(z, pfn, order)
                    return pfn
            if not no_fallback:
                return None
            flags &= ~ALLOC_NOFRAGMENT

    def _preferred_zone(self, highest):
        for z in self._zonelist:
            if z.idx <= highest:
                return z
        return None

    def _alloc(self, gfp, order, cpu, slowpath_only=False):
        """__alloc_pages(), then prep_compound_page() for __GFP_COMP blocks of order > 0."""
        pfn = self._alloc_pages(gfp, order, cpu, slowpath_only)
        if pfn is not None and order > 0:
            if gfp & _GFP_COMP:
                self._compound.add(pfn)
            else:
                self._compound.discard(pfn)
        return pfn

    def _alloc_pages(self, gfp, order, cpu, slowpath_only):
        """__alloc_pages(): fast path at the low watermark, then the slow path's flags."""
        highest = self._zone_table[gfp & G.GFP_ZONEMASK]
        mt = G.gfp_migratetype(gfp, self.mobility_disabled)
        pref = self._preferred_zone(highest)
        if pref is None:
            return None
        if not slowpath_only:
            flags = ALLOC_WMARK_LOW | (gfp & _GFP_KSWAPD)          # alloc_flags_nofragment()
            if pref.idx == self._normal and self._has_dma32:
                flags |= ALLOC_NOFRAGMENT
            pfn = self._get_page_from_freelist(order, flags, highest, mt, cpu)
            if pfn is not None:
                return pfn
            if gfp & _GFP_KSWAPD:
                self.kswapd_wakeups += 1    # wake_all_kswapds(): the Python layer runs kswapd
        # __alloc_pages_slowpath(): a pass with gfp_to_alloc_flags(), then the retry: label's
        # pass (ALLOC_NO_WATERMARKS for __GFP_MEMALLOC).  No compaction or reclaim here.
        flags = gfp_to_alloc_flags(gfp, order)
        pfn = self._get_page_from_freelist(order, flags, highest, mt, cpu)
        if pfn is not None:
            return pfn
        if gfp & _GFP_MEMALLOC and not gfp & _GFP_NOMEMALLOC:
            flags = ALLOC_NO_WATERMARKS | (flags & ALLOC_KSWAPD)
        return self._get_page_from_freelist(order, flags, highest, mt, cpu)

    # ==================================================================== public API ==
    def alloc_pages(self, gfp=G.GFP_KERNEL, order=0, cpu=0):
        """pfn of 2**order pages; OutOfMemory when no zone of the zonelist may serve."""
        gfp, order, cpu = self._check_alloc(gfp, order, cpu)
        pfn = self._alloc(gfp, order, cpu)
        if pfn is None and self.reclaim_hook is not None and gfp & _GFP_DIRECT:
            pfn = self._retry_with_hook(gfp, order, cpu)
        if pfn is None:
            raise alloc_failure(gfp, order)
        return pfn

    def _retry_with_hook(self, gfp, order, cpu):
        for _ in range(16):                         # MAX_RECLAIM_RETRIES
            if not self.reclaim_hook(self, gfp, order):
                return None
            pfn = self._alloc(gfp, order, cpu, slowpath_only=True)
            if pfn is not None:
                return pfn
        return None

    def free_pages(self, pfn, order=0, cpu=0):
        """Free a block from alloc_pages; InvalidFree (state unchanged) when it is not one."""
        cpu = self._check_cpu(cpu)
        pfn, order = _args.as_int(pfn, "pfn"), _args.as_int(order, "order")
        z, err = self._validate_free(pfn, order)
        if err is not None:
            raise err
        self._free_frozen_pages(z, pfn, order, cpu)

    def alloc_pages_bulk(self, gfp=G.GFP_KERNEL, count=1, cpu=0):
        """alloc_pages_bulk(): up to count order-0 pages as an int64 array (may be short)."""
        gfp, _, cpu = self._check_alloc(gfp, 0, cpu)
        count = _args.check_count(count)
        out = []
        if count == 1:
            pfn = self._alloc(gfp, 0, cpu)
            if pfn is not None:
                out.append(pfn)
        elif count > 1:
            self._alloc_bulk(gfp, count, cpu, out)
        return np.array(out, dtype=np.int64)

    def _alloc_bulk(self, gfp, count, cpu, out):
        highest = self._zone_table[gfp & G.GFP_ZONEMASK]
        mt = G.gfp_migratetype(gfp, self.mobility_disabled)
        pref = self._preferred_zone(highest)
        if pref is None:
            return
        flags = ALLOC_WMARK_LOW
        zone = None
        for z in self._zonelist:
            if z.idx > highest:
                continue
            mark = self._wmark(z, ALLOC_WMARK_LOW) + count
            if self._zone_watermark_fast(z, 0, mark, pref.idx, flags):
                zone = z
                break
        if zone is not None:
            pcp = zone.pcp[cpu]
            while len(out) < count:
                pfn = self._rmqueue_pcplist_inner(zone, 0, mt, flags, pcp)
                if pfn is None:
                    break
                zone.state[pfn] = [_ALLOC, 0, mt]
                out.append(pfn)
            zone.pgalloc += len(out)
            if out:
                return
        pfn = self._alloc(gfp, 0, cpu)             # one ordinary allocation instead
        if pfn is not None:
            out.append(pfn)

    def free_pages_bulk(self, pfns, cpu=0):
        """Free order-0 pages (array or sequence of pfns); all or nothing."""
        cpu = self._check_cpu(cpu)
        arr = _args.pfn_array(pfns).tolist()
        pending = set()
        zones = []
        for pfn in arr:
            z, err = self._validate_free(pfn, 0, pending)
            if err is not None:
                raise err
            pending.add(pfn)
            zones.append(z)
        for z, pfn in zip(zones, arr):
            self._free_frozen_pages(z, pfn, 0, cpu)

    # -- the slab allocator's blocks and the fault path's frames: not ours to free --------------
    def _slab_alloc_pages(self, gfp, order):
        """alloc_pages() for the slab allocator: the block is marked as the slab's, which
        free_pages()/free_pages_bulk() then refuse (reason "slab")."""
        pfn = self.alloc_pages(gfp, order)
        self._slab_owned.add(pfn)
        return pfn

    def _slab_free_pages(self, pfn, order):
        """The slab allocator releases one of its blocks."""
        if pfn in self._slab_owned:
            z, err = self._validate_free(pfn, order, owned_ok=True)
            if err is not None:
                raise err
            self._slab_owned.discard(pfn)
            self._free_frozen_pages(z, pfn, order, 0)
        else:
            self.free_pages(pfn, order)

    def set_frame_owners(self, flags, mask):
        """See linuxmm.PageAllocator.set_frame_owners."""
        flags = np.asarray(flags)
        if flags.dtype != np.uint32 or flags.ndim != 1 or not flags.flags.c_contiguous:
            raise ValueError("flags must be a contiguous 1-D uint32 array")
        self._frame_flags, self._frame_mask = flags, _args.as_int(mask, "mask")

    def drain_pages(self, cpu=None):
        """drain_local_pages(cpu) / drain_all_pages(): every pcp page back to the buddy lists."""
        cpus = range(self.cpus) if cpu is None else [self._check_cpu(cpu)]
        for c in cpus:
            for z in self.zones:
                self._drain_pages_zone(z, c)

    # -- validation -----------------------------------------------------------------------------
    def _check_alloc(self, gfp, order, cpu):
        return check_alloc(gfp, order, cpu, self.max_order, self.cpus)

    def _check_cpu(self, cpu):
        return check_cpu(cpu, self.cpus)

    def _zone_index(self, i):
        return check_zone_index(i, self.nr_zones)

    def _zone_of(self, pfn):
        for z in self.zones:
            if z.spanned and z.spans(pfn):
                return z
        return None

    def _covering_block(self, z, pfn):
        """(head, state) of the block that contains pfn, or (None, None)."""
        for o in range(self.max_order + 1):
            head = pfn & ~((1 << o) - 1)
            if head < z.start:
                break
            st = z.state.get(head)
            if st is not None and st[1] >= o:
                return head, st
        return None, None

    def _validate_free(self, pfn, order, pending=(), owned_ok=False):
        if not 0 <= order <= self.max_order:
            return None, invalid_free("order", pfn, order)
        z = self._zone_of(pfn)
        if z is None:
            return None, invalid_free("range", pfn, order, start_pfn=self._min_pfn,
                                      end_pfn=self._max_pfn)
        if pfn & ((1 << order) - 1):
            return None, invalid_free("align", pfn, order)
        if pfn in pending:
            return None, invalid_free("dup", pfn, order)
        st = z.state.get(pfn)
        if st is None or st[0] != _ALLOC:
            head, cov = self._covering_block(z, pfn)
            free = cov is not None and cov[0] != _ALLOC
            return None, invalid_free("free" if free else "nothead", pfn, order)
        if pfn in self._slab_owned and not owned_ok:
            return None, invalid_free("slab", pfn, order)
        if st[1] != order:
            return None, invalid_free("order-mismatch", pfn, order, allocated_order=st[1])
        ff = self._frame_flags
        if ff is not None and 0 <= pfn < len(ff) and int(ff[pfn]) & self._frame_mask:
            return None, invalid_free("mapped", pfn, order)
        return z, None

    # ==================================================================== compaction support ==
    def isolate_free_page(self, pfn, order):
        """__isolate_free_page() + post_alloc_hook() for compaction's free scanner: the free
        block heading at pfn (of exactly this order) leaves the free lists if the order-0 min
        watermark (no boost) + 2**order holds, pageblocks of at least half a pageblock are
        retagged MOVABLE, and it becomes an allocated non-compound MOVABLE block.  Returns
        2**order, or 0 when the watermark refuses (nothing changed)."""
        pfn, order = check_isolate_args(pfn, order, self.max_order)
        z = self._zone_of(pfn)
        if z is None:
            raise ValueError(f"pfn {pfn} is in no zone")
        st = z.state.get(pfn)
        if st is None or st[0] != _FREE or st[1] != order:
            raise not_a_free_block(pfn, order)
        if self._pageblock_mt(z, pfn) != ISOLATE:
            mark = z.wmark[0] + (1 << order)
            if not self._zone_watermark_ok(z, 0, mark, 0, 0, z.free_pages):
                return 0
        self._del_page_from_free_list(z, pfn)
        if order >= self.pageblock_order - 1:
            end = pfn + (1 << order) - 1
            for q in range(pfn, end, 1 << self.pageblock_order):
                bmt = self._pageblock_mt(z, q)
                if bmt < PCPTYPES:
                    prep = self._prep_move_freepages_block(z, q)
                    if prep is not None:
                        self._move_freepages_block_pages(z, prep[0], MOVABLE)
                        self._set_pageblock_migratetype(z, prep[0], MOVABLE)
        z.state[pfn] = [_ALLOC, order, MOVABLE]
        self._compound.discard(pfn)
        return 1 << order

    def split_page(self, pfn, order):
        """split_page(): an allocated non-compound block of this order becomes 2**order
        allocated order-0 pages, each freed on its own with free_pages(pfn, 0)."""
        pfn, order = _args.as_int(pfn, "pfn"), _args.as_int(order, "order")
        z, err = self._validate_free(pfn, order)
        if err is not None:
            raise err
        if order > 0 and pfn in self._compound:
            raise compound_split(pfn, order)
        mt = z.state[pfn][2]
        for q in range(pfn, pfn + (1 << order)):
            z.state[q] = [_ALLOC, 0, mt]

    def free_blocks(self, i, start, end):
        """[(pfn, order)] of the free blocks heading in [start, end) of zone i, pfn order."""
        z = self.zones[self._zone_index(i)]
        start, end = check_pfn_range(start, end)
        start, end = max(start, z.start), min(end, z.end)
        return [(p, st[1]) for p, st in _block_heads(z, start, end) if st[0] == _FREE]

    def alloc_pages_slowpath(self, gfp=G.GFP_KERNEL, order=0, cpu=0):
        """get_page_from_freelist() with the slow path's alloc_flags, as the retries after
        direct compaction or reclaim do: a pfn or None, no reclaim hook."""
        gfp, order, cpu = self._check_alloc(gfp, order, cpu)
        return self._alloc(gfp, order, cpu, slowpath_only=True)

    # ==================================================================== inspection ==
    def zone_name(self, i):
        return self.zones[self._zone_index(i)].name

    def zone_start_pfn(self, i):
        return self.zones[self._zone_index(i)].start

    def zone_spanned(self, i):
        return self.zones[self._zone_index(i)].spanned

    def managed_pages(self, i):
        return self.zones[self._zone_index(i)].managed

    def nr_free_pages(self, i):
        return self.zones[self._zone_index(i)].free_pages

    def nr_free(self, i, mt=None):
        z = self.zones[self._zone_index(i)]
        if mt is None:
            return list(z.nr_free)
        mt = _check_mt(mt)
        return [z.nr_free_mt[o][mt] for o in range(self.max_order + 1)]

    def free_list(self, i, order, mt):
        """pfns on one buddy free list, head to tail."""
        z = self.zones[self._zone_index(i)]
        order = _args.check_alloc_order(order, self.max_order)
        return list(z.lists[order][_check_mt(mt)])

    def pcp_list(self, i, cpu, pindex):
        """pfns on one pcp list (index MIGRATE_PCPTYPES*order+mt; 12/13 THP), head to tail."""
        z = self.zones[self._zone_index(i)]
        pindex = _args.as_int(pindex, "pindex")
        if not 0 <= pindex < self.nr_pcp_lists:
            raise ValueError(f"pindex must be in 0..{self.nr_pcp_lists - 1}")
        return list(z.pcp[self._check_cpu(cpu)].lists[pindex])

    def pcp_count(self, i, cpu):
        return self.zones[self._zone_index(i)].pcp[self._check_cpu(cpu)].count

    def pcp_high(self, i, cpu):
        return self.zones[self._zone_index(i)].pcp[self._check_cpu(cpu)].high

    def pcp_batch(self, i):
        return self.zones[self._zone_index(i)].batch

    def pcp_state(self, i, cpu):
        """count, high, high_min, high_max, batch, free_count, alloc_factor, flags of one pcp."""
        z = self.zones[self._zone_index(i)]
        p = z.pcp[self._check_cpu(cpu)]
        return {"count": p.count, "high": p.high, "high_min": z.high_min, "high_max": z.high_max,
                "batch": z.batch, "free_count": p.free_count, "alloc_factor": p.alloc_factor,
                "flags": p.flags}

    def pageblock_counts(self, i):
        """Pageblocks per migratetype, counted as pagetypeinfo_showblockcount_print() does:
        pfn = zone_start_pfn, zone_start_pfn + pageblock_nr_pages, ... below the zone end."""
        z = self.zones[self._zone_index(i)]
        counts = [0] * MIGRATE_TYPES
        for pfn in range(z.start, z.end, 1 << self.pageblock_order):    # as pagetypeinfo does
            counts[self._pageblock_mt(z, pfn)] += 1
        return counts

    def pageblock_migratetype(self, pfn):
        pfn = _args.as_int(pfn, "pfn")
        z = self._zone_of(pfn)
        if z is None:
            raise ValueError(f"pfn {pfn} is in no zone")
        return self._pageblock_mt(z, pfn)

    def nr_free_highatomic(self, i):
        return self.zones[self._zone_index(i)].free_pages_mt[HIGHATOMIC]

    def nr_reserved_highatomic(self, i):
        return self.zones[self._zone_index(i)].nr_reserved_highatomic

    def watermark_boost(self, i):
        return self.zones[self._zone_index(i)].boost

    def watermarks(self, i):
        z = self.zones[self._zone_index(i)]
        return tuple(w + z.boost for w in z.wmark)

    def zone_balance_info(self, i, highest_zoneidx):
        """(managed, free, free highatomic, high watermark + boost, lowmem_reserve[highest])."""
        z = self.zones[self._zone_index(i)]
        reserve = z.lowmem_reserve[highest_zoneidx] \
            if 0 <= highest_zoneidx < len(z.lowmem_reserve) else 0
        return (z.managed, z.free_pages, z.free_pages_mt[HIGHATOMIC], z.wmark[2] + z.boost,
                reserve)

    def lowmem_reserve(self, i):
        return list(self.zones[self._zone_index(i)].lowmem_reserve)

    def zone_flags(self, i):
        """{'below_high': ZONE_BELOW_HIGH, 'boosted_watermark': ZONE_BOOSTED_WATERMARK}."""
        z = self.zones[self._zone_index(i)]
        return {"below_high": z.below_high, "boosted_watermark": z.boosted}

    @property
    def zonelist(self):
        """Zone indices of the node's zonelist (managed zones, highest first)."""
        return [z.idx for z in self._zonelist]

    def zonelist_for(self, gfp):
        """Zone indices an allocation with this gfp may use, in the order it tries them."""
        gfp, _, _ = self._check_alloc(gfp, 0, 0)
        highest = self._zone_table[gfp & G.GFP_ZONEMASK]
        return [z.idx for z in self._zonelist if z.idx <= highest]

    def gfp_zone(self, gfp):
        gfp, _, _ = self._check_alloc(gfp, 0, 0)
        return self._zone_table[gfp & G.GFP_ZONEMASK]

    def gfp_migratetype(self, gfp):
        gfp, _, _ = self._check_alloc(gfp, 0, 0)
        return G.gfp_migratetype(gfp, self.mobility_disabled)

    def vmstat(self):
        out = {f"pgalloc_{z.name.lower()}": z.pgalloc for z in self.zones}
        out["pgfree"] = self.pgfree
        out["nr_free_pages"] = sum(z.free_pages for z in self.zones)
        out["nr_free_pages_blocks"] = sum(
            z.nr_free[o] << o for z in self.zones
            for o in range(self.pageblock_order, self.max_order + 1))
        return out

    def page_info(self, pfn):
        pfn = _args.as_int(pfn, "pfn")
        z = self._zone_of(pfn)
        if z is None:
            return {"zone": None, "state": "absent", "order": None, "migratetype": None,
                    "compound": False}
        info = {"zone": z.idx, "order": None, "migratetype": self._pageblock_mt(z, pfn),
                "compound": False}
        head, st = self._covering_block(z, pfn)
        if st is None:
            info["state"] = "reserved"
        elif head != pfn:
            info["state"] = "tail"
        else:
            info["state"] = {_FREE: "free", _PCP: "pcp", _ALLOC: "allocated"}[st[0]]
            info["order"] = st[1]
            info["compound"] = st[0] == _ALLOC and st[1] > 0 and pfn in self._compound
        return info

    def check(self):
        for z in self.zones:
            self._check_zone(z)

    def _check_zone(self, z):
        total = 0
        mt_pages = [0] * MIGRATE_TYPES
        for o in range(self.max_order + 1):
            n_order = 0
            for mt in range(MIGRATE_TYPES):
                n = 0
                for pfn in z.lists[o][mt]:
                    st = z.state.get(pfn)
                    _require(st == [_FREE, o, mt],
                             f"{z.name}: pfn {pfn} on list {o}/{mt} has state {st}")
                    _require(pfn & ((1 << o) - 1) == 0,
                             f"{z.name}: pfn {pfn} misaligned for order {o}")
                    _require(z.spans(pfn) and pfn + (1 << o) <= z.end,
                             f"{z.name}: block {pfn}/{o} outside the zone")
                    buddy = pfn ^ (1 << o)
                    if o < self.max_order and self._page_is_buddy(z, buddy, o):
                        bmt = self._pageblock_mt(z, buddy)
                        amt = self._pageblock_mt(z, pfn)
                        _require(o >= self.pageblock_order and amt != bmt
                                 and (amt >= 3 or bmt >= 3),
                                 f"{z.name}: free buddies {pfn} and {buddy} of order {o} "
                                 "were not merged")
                    n += 1
                _require(n == z.nr_free_mt[o][mt], f"{z.name}: order {o} type {mt}: {n} listed, "
                         f"nr_free says {z.nr_free_mt[o][mt]}")
                n_order += n
                mt_pages[mt] += n << o
            _require(n_order == z.nr_free[o],
                     f"{z.name}: order {o}: {n_order} listed, nr_free {z.nr_free[o]}")
            total += n_order << o
        _require(total == z.free_pages,
                 f"{z.name}: lists hold {total} pages, free_pages {z.free_pages}")
        _require(mt_pages == z.free_pages_mt,
                 f"{z.name}: free pages per type {mt_pages} != {z.free_pages_mt}")
        for cpu, p in enumerate(z.pcp):
            count = 0
            for pindex, lst in enumerate(p.lists):
                order = self._pindex_order(pindex)
                for pfn in lst:
                    st = z.state.get(pfn)
                    _require(st == [_PCP, order, pindex],
                             f"{z.name}: pfn {pfn} on pcp list {cpu}/{pindex} has state {st}")
                    count += 1 << order
            _require(count == p.count,
                     f"{z.name}: cpu {cpu} pcp lists hold {count}, count {p.count}")
        covered = sorted((pfn, 1 << st[1]) for pfn, st in z.state.items())
        for (a, sa), (b, _) in zip(covered, covered[1:]):
            _require(a + sa <= b, f"{z.name}: blocks at {a} and {b} overlap")
        inside = sum(s for _, s in covered)
        _require(inside <= z.managed, f"{z.name}: {inside} pages in blocks, {z.managed} managed")

    def __repr__(self):
        zs = ", ".join(f"{z.name} {z.start}+{z.spanned}" for z in self.zones)
        return f"<reference PageAllocator {zs}>"


def gfp_to_alloc_flags(gfp, order):
    """The slow path's alloc_flags (mm/page_alloc.c: gfp_to_alloc_flags, 6.3+; no RT tasks)."""
    flags = ALLOC_WMARK_MIN | ALLOC_CPUSET | (gfp & (_GFP_HIGH | _GFP_KSWAPD))
    if not gfp & _GFP_DIRECT:
        if not gfp & _GFP_NOMEMALLOC:
            flags |= ALLOC_NON_BLOCK
            if order > 0:
                flags |= ALLOC_HIGHATOMIC
        if flags & ALLOC_MIN_RESERVE:
            flags &= ~ALLOC_CPUSET
    return flags


def _require(cond, text):
    if not cond:
        raise InvariantError(text)


def _block_heads(z, start, end):
    """(pfn, state) of every block head in [start, end), stepping over each block's pages (a
    pfn_valid() walk of the pageblock, as __move_freepages_block() does it)."""
    p = start
    while p < end:
        st = z.state.get(p)
        if st is None:
            p += 1
            continue
        yield p, st
        p += 1 << st[1]
