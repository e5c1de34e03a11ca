"""The page cache (mm/filemap.c): one address_space per inode, index -> page frame.

Cache pages are real frames from the page allocator (GFP_HIGHUSER_MOVABLE, order 0).  Their
per-frame state lives in the MMU's arrays (PG_FILE, PG_UPTODATE, PG_DIRTY, PG_READAHEAD, ...,
refcount = 1 for the cache + 1 per mapping PTE, mapcount = mapping PTEs, mapping = this
address_space's id, index = page offset) and their bytes in the MMU's sparse page store, so a
shared mapping's write is the file's contents as read(2) sees it.

This object is the `mapping` of linuxmm.vm.readahead's protocol: nr_pages, is_cached,
test_readahead, test_clear_readahead, read_pages, mark_accessed, and for large folios
max_folio_order, add_folio, folio.

Large folios (ext4, 6.16+): an order-k folio is an order-k block from the page allocator,
naturally aligned in pfn and in file index.  Every frame keeps its own page-cache state (PG_FILE,
index, the folio's order in PG_ORDER_MASK, PG_HEAD on the first, PG_TAIL on the others) and its
own precise mapcount; the folio-wide flags (PG_dirty, PG_readahead, PG_referenced, PG_active) are
kept equal on all its frames.  Refcount rule: every frame holds 1 for the cache + 1 per PTE that
maps it; the block goes back with free_pages(head, order) when all its frames reached 0.
"""
import itertools

from .. import gfp as G
from .clock import charge
from .lruvec import lru_del_frame, lru_link, lru_move
from .writeback import account_dirtied, write_mapping_range
from .mmu_defs import (EV_PGACTIVATE, EV_PGPGIN, LRU_ACTIVE_ANON, LRU_ACTIVE_FILE,
                       LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, NR_ACTIVE_ANON, NR_ACTIVE_FILE,
                       NR_FILE_DIRTY, NR_FILE_PAGES, NR_INACTIVE_ANON, NR_INACTIVE_FILE, NR_SHMEM,
                       PAGE_SHIFT, PAGE_SIZE, PG_ACTIVE, PG_DIRTY, PG_FILE, PG_HEAD, PG_LRU,
                       PG_MLOCKED, pg_order, PG_ORDER_MASK, PG_ORDER_SHIFT, PG_READAHEAD,
                       PG_REFERENCED, PG_SHMEM, PG_SWAPBACKED, PG_TAIL, PG_UNEVICTABLE,
                       PG_UPTODATE, PG_WORKINGSET)

_mapping_ids = itertools.count(1 << 32)     # disjoint from anon_vma ids
MAX_PAGECACHE_ORDER = 9
_RA_GFP = G.GFP_HIGHUSER_MOVABLE | G.__GFP_NORETRY | G.__GFP_NOWARN    # readahead_gfp_mask
_RA_GFP_LARGE = _RA_GFP | G.__GFP_COMP


class AddressSpace:
    """struct address_space of one inode: `pages` maps index -> pfn."""

    def __init__(self, inode, kernel):
        self.host = inode
        self.kernel = kernel
        self.id = next(_mapping_ids)
        self.pages = {}
        self.shadows = {}             # index -> workingset shadow of an evicted folio
        self.shmem = inode.kind == "shmem"
        self.dirty_folios = set()         # first index of each dirty folio (writeback.py)
        # mapping_max_folio_order(): ext4 (6.16+, ext4_set_inode_mapping_order) allows orders
        # 0..EXT4_MAX_PAGECACHE_ORDER = min(MAX_PAGECACHE_ORDER, 11 + i_blkbits - PAGE_SHIFT);
        # MAX_PAGECACHE_ORDER = min(MAX_XAS_ORDER = 11, PREFERRED_MAX_PAGECACHE_ORDER =
        # HPAGE_PMD_ORDER = 9) on x86_64, so 9 for 4 KiB blocks.  shmem without huge= and
        # device files keep order-0 folios here.
        self.max_folio_order = MAX_PAGECACHE_ORDER if inode.kind == "ext4" else 0

    # -- the readahead protocol -------------------------------------------------------------
    def nr_pages(self):
        return (self.host.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT

    def is_cached(self, index):
        return index in self.pages

    def test_readahead(self, index):
        pfn = self.pages.get(index)
        return pfn is not None and bool(self.kernel.mmu.flags[pfn] & PG_READAHEAD)

    def test_clear_readahead(self, index):
        pfn = self.pages.get(index)
        if pfn is None:
            return False
        mmu = self.kernel.mmu
        if mmu.flags[pfn] & PG_READAHEAD:
            head, nr = folio_frames(mmu, pfn)
            for p in range(head, head + nr):
                mmu.flags[p] = int(mmu.flags[p]) & ~PG_READAHEAD
            return True
        return False

    def read_pages(self, indices, mark=None):
        """One read I/O: allocate, fill from the backing store and insert each (uncached)
        index as an order-0 folio; PG_readahead on `mark`.  Stops quietly when memory runs out
        (readahead is best effort, as page_cache_ra_unbounded's allocation failures are)."""
        from ..errors import OutOfMemory
        for index in indices:
            if index in self.pages:
                continue
            try:
                pfn = self.add_page(index, read=True)
            except OutOfMemory:
                break
            if index == mark:
                self.kernel.mmu.flags[pfn] |= PG_READAHEAD

    def add_folio(self, index, order, mark=False):
        """ra_alloc_folio(): a folio of 2**order pages at `index` (aligned to its size), read
        from the backing store, PG_readahead on it when `mark`.  False when a page of the range
        is already cached (filemap_add_folio's -EEXIST) or the allocation fails (-ENOMEM).

        The gfp is readahead_gfp_mask(): mapping_gfp_mask (GFP_HIGHUSER_MOVABLE) |
        __GFP_NORETRY | __GFP_NOWARN; filemap_alloc_folio -> folio_alloc adds __GFP_COMP."""
        from ..errors import OutOfMemory
        nr = 1 << order
        if index & (nr - 1) or any(i in self.pages for i in range(index, index + nr)):
            return False
        try:
            pfn = self.kernel.alloc_pages(_RA_GFP_LARGE if order else _RA_GFP, order)
        except OutOfMemory:
            return False
        self._insert(index, pfn, order, read=True)
        if mark:
            flags = self.kernel.mmu.flags
            for p in range(pfn, pfn + nr):
                flags[p] |= PG_READAHEAD
        return True

    def folio(self, index):
        """(first index, number of pages) of the cached folio holding `index`."""
        pfn = self.pages[index]
        nr = 1 << pg_order(self.kernel.mmu.flags[pfn])
        return index & ~(nr - 1), nr

    def mark_accessed(self, index):
        """folio_mark_accessed: referenced, then active on the second call (whole folio)."""
        pfn = self.pages.get(index)
        if pfn is not None:
            mark_page_accessed(self.kernel.mmu, pfn)

    # -- insertion and removal --------------------------------------------------------------
    def add_page(self, index, *, read=True):
        """filemap_add_folio of a new order-0 frame at index (read from the backing store when
        read is true, else left zeroed for a whole-page write).  Raises OutOfMemory."""
        pfn = self.kernel.alloc_user_page(G.GFP_HIGHUSER_MOVABLE)
        self._insert(index, pfn, 0, read=read)
        return pfn

    def _insert(self, index, pfn, order, *, read):
        """Every frame of the folio gets the page-cache state: PG_FILE, its own index, refcount
        1 (the cache's reference; each mapping PTE adds one to the frame it maps), the folio's
        order, PG_HEAD on the first frame and PG_TAIL on the others of a large folio."""
        kernel = self.kernel
        mmu = kernel.mmu
        nr = 1 << order
        flags = PG_FILE | PG_UPTODATE | PG_LRU | (order << PG_ORDER_SHIFT)
        if self.shmem:
            flags |= PG_SHMEM | PG_SWAPBACKED
        for i in range(nr):
            p = pfn + i
            mmu.page_clear(p)
            mmu.flags[p] = flags | ((PG_TAIL if i else PG_HEAD) if order else 0)
            mmu.refcount[p] = 1
            mmu.mapcount[p] = 0
            mmu.mapping[p] = self.id
            mmu.index[p] = index + i
            self.pages[index + i] = p
        node = mmu.node
        node[NR_FILE_PAGES] += nr
        shadow = None
        for i in range(nr):
            s = self.shadows.pop(index + i, None)
            shadow = shadow or s
        if shadow is not None:                # workingset_refault: maybe straight to active
            from .workingset import workingset_refault
            if workingset_refault(kernel, pfn, shadow, file=not self.shmem, nr=nr):
                bits = int(mmu.flags[pfn]) & (PG_ACTIVE | PG_WORKINGSET)
                for i in range(1, nr):
                    mmu.flags[pfn + i] = int(mmu.flags[pfn + i]) | bits
        active = 1 if mmu.flags[pfn] & PG_ACTIVE else 0
        if self.shmem:
            node[NR_SHMEM] += nr
            node[NR_ACTIVE_ANON if active else NR_INACTIVE_ANON] += nr   # swap-backed: anon
            lru_link(mmu, pfn, LRU_INACTIVE_ANON + active)
        else:
            node[NR_ACTIVE_FILE if active else NR_INACTIVE_FILE] += nr
            lru_link(mmu, pfn, LRU_INACTIVE_FILE + active)
        if read and not self.shmem:
            charge(kernel, "page_read", nr)           # the disk reads the folio
            data = self.host.read_backing(index << PAGE_SHIFT, nr * PAGE_SIZE)
            for i in range(nr):
                chunk = data[i * PAGE_SIZE:(i + 1) * PAGE_SIZE]
                if chunk.strip(b"\0"):
                    mmu.page_write(pfn + i, 0, chunk)
            mmu.events[EV_PGPGIN] += (nr * PAGE_SIZE) >> 10
        kernel.address_spaces[self.id] = self

    def find_or_create(self, index):
        """(pfn, created): the cached page, or a new one read now (no readahead)."""
        pfn = self.pages.get(index)
        if pfn is not None:
            return pfn, False
        return self.add_page(index, read=True), True

    def remove_page(self, index):
        """__filemap_remove_folio of the folio holding `index` + the cache's reference on each
        of its frames: the folio is freed when nothing else holds any of them."""
        first, nr = self.folio(index)
        mmu = self.kernel.mmu
        pfns = [self.pages.pop(i) for i in range(first, first + nr)]
        node = mmu.node
        node[NR_FILE_PAGES] -= nr
        if mmu.flags[pfns[0]] & PG_DIRTY:
            for pfn in pfns:
                mmu.flags[pfn] = int(mmu.flags[pfn]) & ~PG_DIRTY
            if not self.shmem:
                node[NR_FILE_DIRTY] -= nr
                self.dirty_folios.discard(first)
        if self.shmem:
            node[NR_SHMEM] -= nr
        for pfn in pfns:
            put_page(self.kernel, pfn)

    def set_dirty(self, pfn):
        """folio_mark_dirty of the folio holding frame `pfn`: PG_dirty on all its frames;
        NR_FILE_DIRTY counts its pages for filesystems that account it (not shmem, whose
        dirty_folio is noop_dirty_folio)."""
        mmu = self.kernel.mmu
        head, nr = folio_frames(mmu, pfn)
        if not mmu.flags[head] & PG_DIRTY:
            for p in range(head, head + nr):
                mmu.flags[p] = int(mmu.flags[p]) | PG_DIRTY
            if not self.shmem:
                mmu.node[NR_FILE_DIRTY] += nr
                account_dirtied(self.kernel, self, int(mmu.index[head]), nr)

    def folios(self, start=0, end=None):
        """(first index, nr) of each cached folio that meets [start, end], ascending."""
        out = []
        for index in sorted(self.pages):
            if index < start or (end is not None and index > end):
                continue
            first, nr = self.folio(index)
            if not out or out[-1][0] != first:
                out.append((first, nr))
        return out

    def writeback(self, start=0, end=None):
        """Write the dirty folios meeting [start, end] to the backing store, whole; they stay
        cached, clean (instant I/O: filemap_write_and_wait_range, linuxmm/vm/writeback.py).
        Returns the pages written."""
        return write_mapping_range(self.kernel, self, start, end)

    def _droppable(self, first, nr):
        mmu = self.kernel.mmu
        pfns = [self.pages[i] for i in range(first, first + nr)]
        return not mmu.flags[pfns[0]] & PG_DIRTY and not any(mmu.mapcount[p] for p in pfns)

    def invalidate(self, start, end, keep=()):
        """mapping_try_invalidate / invalidate_mapping_pages over [start, end]: drop the clean,
        unmapped, unlocked folios that lie wholly inside it (find_lock_entries returns no folio
        partly outside the range); folios holding an index of `keep` (under writeback) stay.
        Returns how many pages were dropped."""
        dropped = 0
        for first, nr in self.folios(start, end):
            if first < start or first + nr - 1 > end:
                continue
            if any(first <= i < first + nr for i in keep) or not self._droppable(first, nr):
                continue
            self.remove_page(first)
            dropped += nr
        return dropped

    def truncate(self):
        self.shadows.clear()
        self._truncate()

    def _truncate(self):
        """truncate_inode_pages of every folio (unmapped ones only; mapped folios stay until
        their mappings go, as after an unlink)."""
        mmu = self.kernel.mmu
        for first, nr in self.folios():
            if not any(mmu.mapcount[self.pages[i]] for i in range(first, first + nr)):
                self.remove_page(first)

    def __len__(self):
        return len(self.pages)


def folio_frames(mmu, pfn):
    """(head pfn, number of frames) of the page-cache folio holding frame `pfn` (folios are
    naturally aligned in pfn); (pfn, 1) for any other frame."""
    flags = int(mmu.flags[pfn])
    if not flags & PG_FILE:
        return pfn, 1
    nr = 1 << pg_order(flags)
    return pfn & ~(nr - 1), nr


def mark_page_accessed(mmu, pfn):
    """folio_mark_accessed of the folio holding `pfn`: PG_referenced first; a second time
    activates an LRU folio (folio_activate counts PGACTIVATE once per page of the folio)."""
    head, nr = folio_frames(mmu, pfn)
    flags = int(mmu.flags[head])
    if not flags & PG_REFERENCED:
        for p in range(head, head + nr):
            mmu.flags[p] = int(mmu.flags[p]) | PG_REFERENCED
    elif flags & PG_UNEVICTABLE:
        pass            # the unevictable list is never rotated: no effect
    elif not flags & PG_ACTIVE and flags & PG_LRU:
        for p in range(head, head + nr):
            mmu.flags[p] = (int(mmu.flags[p]) | PG_ACTIVE) & ~PG_REFERENCED
        node = mmu.node
        if flags & PG_SWAPBACKED:
            node[NR_INACTIVE_ANON] -= nr
            node[NR_ACTIVE_ANON] += nr
            lru_move(mmu, head, LRU_ACTIVE_ANON)
        else:
            node[NR_INACTIVE_FILE] -= nr
            node[NR_ACTIVE_FILE] += nr
            lru_move(mmu, head, LRU_ACTIVE_FILE)
        mmu.events[EV_PGACTIVATE] += nr


def put_page(kernel, pfn):
    """folio_put: drop one reference; the last one frees the frame to the allocator."""
    mmu = kernel.mmu
    ref = int(mmu.refcount[pfn]) - 1
    mmu.refcount[pfn] = ref
    if ref == 0:
        flags = int(mmu.flags[pfn])
        if flags & PG_FILE and flags & PG_ORDER_MASK:
            # a large folio goes back to the allocator, whole, with its last frame's reference
            head, nr = folio_frames(mmu, pfn)
            if not mmu.refcount[head:head + nr].any():
                for p in range(head, head + nr):
                    release_page(kernel, p, free=False)
                kernel.free_pages(head, pg_order(flags))
        else:
            release_page(kernel, pfn)


def release_page(kernel, pfn, free=True):
    """The last reference went: LRU count dropped, contents and state cleared, frame freed
    (unless `free` is false: a frame of a large folio, freed with the folio)."""
    mmu = kernel.mmu
    flags = int(mmu.flags[pfn])
    lru_del_frame(mmu, pfn, flags)
    if flags & (PG_MLOCKED | PG_UNEVICTABLE):
        from .mlock import folio_free_mlocked
        folio_free_mlocked(kernel, pfn, flags)
    mmu.page_clear(pfn)
    mmu.flags[pfn] = 0
    mmu.refcount[pfn] = 0
    mmu.mapcount[pfn] = 0
    mmu.mapping[pfn] = 0
    mmu.index[pfn] = 0
    if free:
        kernel.free_pages(pfn, 0)
