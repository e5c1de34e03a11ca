"""Page: a view of one ``struct page`` (k.page(pfn)), built from the page allocator's state.

Flag names and bit numbers are Linux 6.14-6.18's (include/linux/page-flags.h).  What the view
knows so far comes from the page allocator: free (buddy or pcp), allocated, tail of an allocated
block, reserved at boot, or a hole inside a zone's span (a hole has a struct page marked
PG_reserved, as init_unavailable_range() leaves it).
"""

PAGEFLAGS = ("PG_locked", "PG_writeback", "PG_referenced", "PG_uptodate", "PG_dirty",
             "PG_lru", "PG_head", "PG_waiters", "PG_active", "PG_workingset",
             "PG_owner_priv_1", "PG_owner_2", "PG_arch_1", "PG_reserved", "PG_private",
             "PG_private_2", "PG_reclaim", "PG_swapbacked", "PG_unevictable",
             "PG_dropbehind", "PG_mlocked")
PG_readahead = "PG_readahead"      # PG_reclaim's alias on page-cache pages
PG = {name: bit for bit, name in enumerate(PAGEFLAGS)}
PG[PG_readahead] = PG["PG_reclaim"]


class Page:
    """pfn, zone (name or None), flags (tuple of PG_* names), refcount, mapcount, order, state."""

    __slots__ = ("pfn", "zone", "flags", "refcount", "mapcount", "order", "state", "page_type",
                 "migratetype", "slab_cache", "index")

    def __init__(self, pfn, zone, state, order, migratetype, compound=False):
        self.pfn = pfn
        self.zone = zone
        self.state = state
        self.migratetype = migratetype
        self.mapcount = 0              # page_mapcount(): _mapcount + 1, nothing maps pages yet
        self.page_type = "buddy" if state == "free" else None
        self.slab_cache = None         # the KmemCache of a slab page (k.virt_to_page())
        self.index = None              # page->index of an anon or page-cache page
        if state in ("reserved", "absent"):
            self.flags, self.refcount, self.order = ("PG_reserved",), 1, None
        elif state == "allocated":             # a __GFP_COMP head carries PG_head
            self.flags, self.refcount, self.order = ("PG_head",) if compound else (), 1, order
        elif state in ("free", "pcp"):
            self.flags, self.refcount, self.order = (), 0, order
        else:                           # tail page of an allocated block: refcount 0
            self.flags, self.refcount, self.order = (), 0, None

    @property
    def flags_value(self):
        """The flag bits as an int (the low bits of page->flags)."""
        return sum(1 << PG[name] for name in self.flags)

    def __repr__(self):
        return (f"<Page pfn={self.pfn} zone={self.zone} {self.state} order={self.order} "
                f"refcount={self.refcount} flags={'|'.join(self.flags) or '0'}>")
