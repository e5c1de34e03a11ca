"""The page cache (mm/filemap.c): one address_space per inode, index -> page frame.

Cache pages are real frames from the page allocator (GFP_HIGHUSER_MOVABLE, order 0).  Their
per-frame state lives in the MMU's arrays (PG_FILE, PG_UPTODATE, PG_DIRTY, PG_READAHEAD, ...,
refcount = 1 for the cache + 1 per mapping PTE, mapcount = mapping PTEs, mapping = this
address_space's id, index = page offset) and their bytes in the MMU's sparse page store, so a
shared mapping's write is the file's contents as read(2) sees it.

This object is the `mapping` of linuxmm.vm.readahead's protocol: nr_pages, is_cached,
test_readahead, test_clear_readahead, read_pages, mark_accessed.
"""
import itertools

from .. import gfp as G
from .mmu_defs import (EV_PGACTIVATE, EV_PGPGIN, NR_ACTIVE_ANON, NR_ACTIVE_FILE, NR_FILE_DIRTY,
                       NR_FILE_PAGES, NR_INACTIVE_ANON, NR_INACTIVE_FILE, NR_SHMEM, PAGE_SHIFT,
                       PAGE_SIZE, PG_ACTIVE, PG_DIRTY, PG_FILE, PG_LRU, PG_READAHEAD,
                       PG_REFERENCED, PG_SHMEM, PG_SWAPBACKED, PG_UPTODATE)

_mapping_ids = itertools.count(1 << 32)     # disjoint from anon_vma ids


class AddressSpace:
    """struct address_space of one inode: `pages` maps index -> pfn."""

    def __init__(self, inode, kernel):
        self.host = inode
        self.kernel = kernel
        self.id = next(_mapping_ids)
        self.pages = {}
        self.shmem = inode.kind == "shmem"

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
        flags = self.kernel.mmu.flags
        if flags[pfn] & PG_READAHEAD:
            flags[pfn] = int(flags[pfn]) & ~PG_READAHEAD
            return True
        return False

    def read_pages(self, indices, mark=None):
        """One read I/O: allocate, fill from the backing store and insert each (uncached)
        index; PG_readahead on `mark`.  Stops quietly when memory runs out (readahead is
        best effort, as page_cache_ra_unbounded's allocation failures are)."""
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

    def mark_accessed(self, index):
        """folio_mark_accessed: referenced, then active on the second call."""
        pfn = self.pages.get(index)
        if pfn is not None:
            mark_page_accessed(self.kernel.mmu, pfn)

    # -- insertion and removal --------------------------------------------------------------
    def add_page(self, index, *, read=True):
        """filemap_add_folio of a new frame at index (read from the backing store when read is
        true, else left zeroed for a whole-page write).  Raises OutOfMemory."""
        kernel = self.kernel
        mmu = kernel.mmu
        pfn = kernel.alloc_user_page(G.GFP_HIGHUSER_MOVABLE)
        mmu.page_clear(pfn)
        flags = PG_FILE | PG_UPTODATE | PG_LRU
        if self.shmem:
            flags |= PG_SHMEM | PG_SWAPBACKED
        mmu.flags[pfn] = flags
        mmu.refcount[pfn] = 1
        mmu.mapcount[pfn] = 0
        mmu.mapping[pfn] = self.id
        mmu.index[pfn] = index
        node = mmu.node
        node[NR_FILE_PAGES] += 1
        if self.shmem:
            node[NR_SHMEM] += 1
            node[NR_INACTIVE_ANON] += 1       # shmem is swap-backed: the anon LRU
        else:
            node[NR_INACTIVE_FILE] += 1
        if read and not self.shmem:
            data = self.host.read_backing(index << PAGE_SHIFT, PAGE_SIZE)
            if data.strip(b"\0"):
                mmu.page_write(pfn, 0, data)
            mmu.events[EV_PGPGIN] += PAGE_SIZE >> 10
        self.pages[index] = pfn
        kernel.address_spaces[self.id] = self
        return pfn

    def find_or_create(self, index):
        """(pfn, created): the cached page, or a new one read now (no readahead)."""
        pfn = self.pages.get(index)
        if pfn is not None:
            return pfn, False
        return self.add_page(index, read=True), True

    def remove_page(self, index):
        """__filemap_remove_folio + the cache's reference: the frame is freed when nothing
        else holds it."""
        pfn = self.pages.pop(index)
        mmu = self.kernel.mmu
        flags = int(mmu.flags[pfn])
        node = mmu.node
        node[NR_FILE_PAGES] -= 1
        if flags & PG_DIRTY:
            mmu.flags[pfn] = flags & ~PG_DIRTY
            if not self.shmem:
                node[NR_FILE_DIRTY] -= 1
        if self.shmem:
            node[NR_SHMEM] -= 1
        put_page(self.kernel, pfn)

    def set_dirty(self, pfn):
        """folio_mark_dirty: PG_dirty; NR_FILE_DIRTY for filesystems that account it (not
        shmem, whose dirty_folio is noop_dirty_folio)."""
        mmu = self.kernel.mmu
        flags = int(mmu.flags[pfn])
        if not flags & PG_DIRTY:
            mmu.flags[pfn] = flags | PG_DIRTY
            if not self.shmem:
                mmu.node[NR_FILE_DIRTY] += 1

    def writeback(self, start=0, end=None):
        """Write the dirty pages of [start, end] to the backing store; they stay cached, clean
        (instant I/O: filemap_write_and_wait_range)."""
        if self.shmem:
            return 0
        mmu = self.kernel.mmu
        done = 0
        for index in sorted(self.pages):
            if index < start or (end is not None and index > end):
                continue
            pfn = self.pages[index]
            flags = int(mmu.flags[pfn])
            if flags & PG_DIRTY:
                self.host.write_backing(index << PAGE_SHIFT, mmu.page_read(pfn))
                mmu.flags[pfn] = flags & ~PG_DIRTY
                mmu.node[NR_FILE_DIRTY] -= 1
                done += 1
        return done

    def invalidate(self, start, end):
        """mapping_try_invalidate / invalidate_mapping_pages over [start, end]: drop clean,
        unmapped, unlocked pages.  Returns how many were dropped."""
        mmu = self.kernel.mmu
        dropped = 0
        for index in sorted(i for i in self.pages if start <= i <= end):
            pfn = self.pages[index]
            if mmu.mapcount[pfn] or mmu.flags[pfn] & PG_DIRTY:
                continue
            self.remove_page(index)
            dropped += 1
        return dropped

    def truncate(self):
        """truncate_inode_pages of every page (unmapped ones only; mapped pages stay until
        their mappings go, as after an unlink)."""
        for index in sorted(self.pages):
            pfn = self.pages[index]
            if not self.kernel.mmu.mapcount[pfn]:
                self.remove_page(index)

    def __len__(self):
        return len(self.pages)


def mark_page_accessed(mmu, pfn):
    """folio_mark_accessed: PG_referenced first; a second time activates an LRU folio."""
    flags = int(mmu.flags[pfn])
    if not flags & PG_REFERENCED:
        mmu.flags[pfn] = flags | PG_REFERENCED
    elif not flags & PG_ACTIVE and flags & PG_LRU:
        mmu.flags[pfn] = (flags | PG_ACTIVE) & ~PG_REFERENCED
        node = mmu.node
        if flags & PG_SWAPBACKED:
            node[NR_INACTIVE_ANON] -= 1
            node[NR_ACTIVE_ANON] += 1
        else:
            node[NR_INACTIVE_FILE] -= 1
            node[NR_ACTIVE_FILE] += 1
        mmu.events[EV_PGACTIVATE] += 1


def lru_del(mmu, pfn, flags):
    """Take a frame off its LRU list count (the frame is being freed)."""
    if not flags & PG_LRU:
        return
    node = mmu.node
    if flags & PG_SWAPBACKED:
        node[NR_ACTIVE_ANON if flags & PG_ACTIVE else NR_INACTIVE_ANON] -= 1
    else:
        node[NR_ACTIVE_FILE if flags & PG_ACTIVE else NR_INACTIVE_FILE] -= 1


def put_page(kernel, pfn):
    """folio_put: drop one reference; the last one frees the frame to the allocator."""
    mmu = kernel.mmu
    ref = int(mmu.refcount[pfn]) - 1
    mmu.refcount[pfn] = ref
    if ref == 0:
        release_page(kernel, pfn)


def release_page(kernel, pfn):
    """The last reference went: LRU count dropped, contents and state cleared, frame freed."""
    mmu = kernel.mmu
    lru_del(mmu, pfn, int(mmu.flags[pfn]))
    mmu.page_clear(pfn)
    mmu.flags[pfn] = 0
    mmu.refcount[pfn] = 0
    mmu.mapcount[pfn] = 0
    mmu.mapping[pfn] = 0
    mmu.index[pfn] = 0
    kernel.free_pages(pfn, 0)
