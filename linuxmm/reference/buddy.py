"""Pure-Python buddy allocator: the same algorithm and API as linuxmm.BuddyAllocator.

Written for reading, not speed: each step names the kernel function it models
(mm/page_alloc.c).  Free lists are doubly linked through dicts so that head and tail insertion
and unlinking a buddy are O(1), as with struct list_head.
"""
import threading

import numpy as np

from .. import _args
from ..errors import InvariantError, OutOfMemory, invalid_free
from ..sync import synchronized

MIGRATE_MOVABLE = 1
MIGRATE_TYPES = 5
PAGEBLOCK_ORDER = 9
_FREE, _HEAD = 1, 2


class _FreeList:
    """One free_list[mt] of one order: a doubly linked list of block pfns."""

    __slots__ = ("head", "tail", "next", "prev")

    def __init__(self):
        self.head = self.tail = None
        self.next = {}
        self.prev = {}

    def add(self, pfn, tail):
        if self.head is None:
            self.head = self.tail = pfn
            self.next[pfn] = self.prev[pfn] = None
        elif tail:
            self.next[self.tail] = pfn
            self.prev[pfn], self.next[pfn] = self.tail, None
            self.tail = pfn
        else:
            self.prev[self.head] = pfn
            self.next[pfn], self.prev[pfn] = self.head, None
            self.head = pfn

    def remove(self, pfn):
        nxt, prv = self.next.pop(pfn), self.prev.pop(pfn)
        if prv is None:
            self.head = nxt
        else:
            self.next[prv] = nxt
        if nxt is None:
            self.tail = prv
        else:
            self.prev[nxt] = prv

    def __iter__(self):
        pfn = self.head
        while pfn is not None:
            yield pfn
            pfn = self.next[pfn]


HOST_BYTES_PER_BLOCK = 256          # measured: ~216 bytes of Python objects per free block


@synchronized
class BuddyAllocator:
    """Reference model of linuxmm.BuddyAllocator."""

    backend = "reference"

    def __init__(self, nr_pages, *, start_pfn=0, max_order=10):
        nr_pages, start_pfn, max_order = _args.buddy_geometry(nr_pages, start_pfn, max_order)
        self.lock = threading.RLock()
        # a dict entry and a list node per free block: refuse, before building them, a boot
        # whose blocks would not fit in the host's memory (BuddyAllocator(2**31, max_order=0))
        blocks = (nr_pages >> max_order) + 2 * (max_order + 1)
        _args.check_host_bytes(blocks * HOST_BYTES_PER_BLOCK,
                               f"a reference BuddyAllocator of {nr_pages} pages (max_order "
                               f"{max_order}, {blocks} free blocks at boot)")
        self.start_pfn = start_pfn
        self.nr_pages = nr_pages
        self.max_order = max_order
        self.pageblock_order = min(max_order, PAGEBLOCK_ORDER)
        self._lists = [[_FreeList() for _ in range(MIGRATE_TYPES)] for _ in range(max_order + 1)]
        self._nr_free = [0] * (max_order + 1)
        self._free_pages = 0
        self._state = {}        # block head pfn -> (_FREE or _HEAD, order, mt)
        self._pageblock_mt = {}  # pageblock index -> migratetype (default MOVABLE)
        self._owned = set()     # heads of a slab allocator's blocks: only _free_owned frees them
        self._free_range(start_pfn, start_pfn + nr_pages)

    # -- list primitives ------------------------------------------------------------------------
    def _add_to_free_list(self, pfn, order, mt, tail):
        self._lists[order][mt].add(pfn, tail)
        self._state[pfn] = (_FREE, order, mt)
        self._nr_free[order] += 1
        self._free_pages += 1 << order

    def _del_page_from_free_list(self, pfn):
        _, order, mt = self._state.pop(pfn)
        self._lists[order][mt].remove(pfn)
        self._nr_free[order] -= 1
        self._free_pages -= 1 << order

    def _in_range(self, pfn):
        return self.start_pfn <= pfn < self.start_pfn + self.nr_pages

    def _page_is_buddy(self, pfn, order):
        st = self._state.get(pfn)
        return st is not None and st[0] == _FREE and st[1] == order and self._in_range(pfn)

    def _pageblock(self, pfn):
        return self._pageblock_mt.get(pfn >> self.pageblock_order, MIGRATE_MOVABLE)

    # -- the algorithm ----------------------------------------------------------------------------
    def _expand(self, pfn, low, high, mt):
        while high > low:
            high -= 1
            self._add_to_free_list(pfn + (1 << high), high, mt, tail=False)

    def _rmqueue_smallest(self, order, mt):
        for o in range(order, self.max_order + 1):
            pfn = self._lists[o][mt].head
            if pfn is None:
                continue
            self._del_page_from_free_list(pfn)
            self._expand(pfn, order, o, mt)
            return pfn
        return None

    def _buddy_merge_likely(self, pfn, buddy_pfn, order):
        if order >= self.max_order - 1:
            return False
        higher = buddy_pfn & pfn
        return self._page_is_buddy(higher ^ (1 << (order + 1)), order + 1)

    def _free_one_page(self, pfn, order, mt, to_tail):
        buddy_pfn = pfn
        while order < self.max_order:
            buddy_pfn = pfn ^ (1 << order)
            if not self._page_is_buddy(buddy_pfn, order):
                break
            buddy_mt = self._state[buddy_pfn][2]
            if order >= self.pageblock_order:
                buddy_mt = self._pageblock(buddy_pfn)
                if mt != buddy_mt and (mt >= 3 or buddy_mt >= 3):
                    break
            self._del_page_from_free_list(buddy_pfn)
            if buddy_mt != mt and order >= self.pageblock_order:
                self._pageblock_mt[buddy_pfn >> self.pageblock_order] = mt
            pfn &= buddy_pfn
            order += 1
        to_tail = to_tail or self._buddy_merge_likely(pfn, buddy_pfn, order)
        self._add_to_free_list(pfn, order, mt, to_tail)

    def _free_range(self, start, end):
        """__free_pages_memory(): largest aligned blocks in pfn order, each freed to the tail."""
        while start < end:
            order = (start & -start).bit_length() - 1 if start else 63
            order = min(order, self.max_order)
            while start + (1 << order) > end:
                order -= 1
            self._free_one_page(start, order, self._pageblock(start), to_tail=True)
            start += 1 << order

    def _alloc_one(self, order):
        pfn = self._rmqueue_smallest(order, MIGRATE_MOVABLE)
        if pfn is not None:
            self._state[pfn] = (_HEAD, order, MIGRATE_MOVABLE)
        return pfn

    def _validate_free(self, pfn, order, pending=(), owned_ok=False):
        """None when pfn heads an allocated block of this order, else the InvalidFree to raise."""
        end = self.start_pfn + self.nr_pages
        if not 0 <= order <= self.max_order:
            return invalid_free("order", pfn, order)
        if not self._in_range(pfn):
            return invalid_free("range", pfn, order, start_pfn=self.start_pfn, end_pfn=end)
        if pfn & ((1 << order) - 1):
            return invalid_free("align", pfn, order)
        if pfn in pending:
            return invalid_free("dup", pfn, order)
        st = self._state.get(pfn)
        if st is None or st[0] != _HEAD:
            return invalid_free("free" if self._pfn_is_free(pfn) else "nothead", pfn, order)
        if pfn in self._owned and not owned_ok:
            return invalid_free("slab", pfn, order)
        if st[1] != order:
            return invalid_free("order-mismatch", pfn, order, allocated_order=st[1])
        return None

    def _pfn_is_free(self, pfn):
        for o in range(self.max_order + 1):
            head = pfn & ~((1 << o) - 1)
            if not self._in_range(head):
                break
            st = self._state.get(head)
            if st is not None and st[0] == _FREE and st[1] >= o:
                return True
        return False

    def _free_block(self, pfn, order):
        del self._state[pfn]
        self._free_one_page(pfn, order, self._pageblock(pfn), to_tail=False)

    def _alloc_owned(self, order):
        """alloc() for a slab allocator: the block is then refused by free()/free_bulk()."""
        pfn = self.alloc(order)
        self._owned.add(pfn)
        return pfn

    def _free_owned(self, pfn, order):
        if pfn not in self._owned:
            return self.free(pfn, order)
        err = self._validate_free(pfn, order, owned_ok=True)
        if err is not None:
            raise err
        self._owned.discard(pfn)
        self._free_block(pfn, order)

    # -- public API -----------------------------------------------------------------------------
    def alloc(self, order=0):
        order = _args.check_alloc_order(order, self.max_order)
        pfn = self._alloc_one(order)
        if pfn is None:
            raise OutOfMemory(f"no free block of order {order} or above")
        return pfn

    def free(self, pfn, order=0):
        pfn, order = _args.as_int(pfn, "pfn"), _args.as_int(order, "order")
        err = self._validate_free(pfn, order)
        if err is not None:
            raise err
        self._free_block(pfn, order)

    def alloc_bulk(self, count, order=0):
        count = _args.check_count(count)
        order = _args.check_alloc_order(order, self.max_order)
        out = []
        for _ in range(count):
            pfn = self._alloc_one(order)
            if pfn is None:
                break
            out.append(pfn)
        return np.array(out, dtype=np.int64)

    def free_bulk(self, pfns, order=0):
        arr = _args.pfn_array(pfns)
        order = _args.as_int(order, "order")
        if not 0 <= order <= self.max_order:
            raise invalid_free("order", None, order)
        pending = set()
        for pfn in arr.tolist():
            err = self._validate_free(pfn, order, pending)
            if err is not None:
                raise err
            pending.add(pfn)
        for pfn in arr.tolist():
            self._free_block(pfn, order)

    @property
    def nr_free(self):
        return list(self._nr_free)

    @property
    def free_pages(self):
        return self._free_pages

    def free_list(self, order, mt=MIGRATE_MOVABLE):
        order = _args.check_alloc_order(order, self.max_order)
        return list(self._lists[order][mt])

    def check(self):
        total = 0
        for o in range(self.max_order + 1):
            count = 0
            for mt in range(MIGRATE_TYPES):
                for pfn in self._lists[o][mt]:
                    st = self._state.get(pfn)
                    _require(st == (_FREE, o, mt), f"pfn {pfn} on list {o}/{mt} has state {st}")
                    _require(pfn & ((1 << o) - 1) == 0, f"pfn {pfn} misaligned for order {o}")
                    _require(self._in_range(pfn) and pfn + (1 << o) <= self.start_pfn + self.nr_pages,
                             f"block {pfn}/{o} outside the range")
                    buddy = pfn ^ (1 << o)
                    if o < self.max_order and self._page_is_buddy(buddy, o):
                        bmt = self._state[buddy][2]
                        _require(o >= self.pageblock_order and bmt != mt and (mt >= 3 or bmt >= 3),
                                 f"free buddies {pfn} and {buddy} of order {o} were not merged")
                    count += 1
            _require(count == self._nr_free[o], f"order {o}: {count} listed, nr_free {self._nr_free[o]}")
            total += count << o
        _require(total == self._free_pages, f"lists hold {total} pages, free_pages {self._free_pages}")
        covered = sorted((pfn, 1 << st[1]) for pfn, st in self._state.items())
        for (a, sa), (b, _) in zip(covered, covered[1:]):
            _require(a + sa <= b, f"blocks at {a} and {b} overlap")

    def __repr__(self):
        return (f"<reference BuddyAllocator pfns {self.start_pfn}..{self.start_pfn + self.nr_pages} "
                f"max_order {self.max_order} free {self.free_pages}>")


def _require(cond, text):
    if not cond:
        raise InvariantError(text)
