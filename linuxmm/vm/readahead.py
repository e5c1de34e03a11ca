"""Readahead and the page-cache read decisions of Linux 6.18, as pure algorithms.

Models mm/readahead.c (page_cache_ra_unbounded, do_page_cache_ra, force_page_cache_ra,
get_init_ra_size, get_next_ra_size, ractl_max_pages, page_cache_sync_ra, page_cache_async_ra,
page_cache_ra_order, ra_alloc_folio), the readahead parts of mm/filemap.c (filemap_read,
filemap_get_pages, filemap_get_read_batch, filemap_readahead, filemap_fault,
do_sync_mmap_readahead, do_async_mmap_readahead, page_cache_prev_miss/next_miss, the mmap_miss
update of filemap_map_pages), mm/fadvise.c (generic_fadvise) and mm/madvise.c (madvise_willneed).

The module never stores pages.  It decides what to read and works on a ``mapping`` (the
address_space) through this protocol, which the page cache implements:

* ``nr_pages()``: pages in the file, ceil(i_size / 4096) ("EOF");
* ``is_cached(index)``: a folio is present (a shadow entry left by reclaim counts as absent);
* ``test_readahead(index)`` / ``test_clear_readahead(index)``: PG_readahead of a cached page;
* ``read_pages(indices, mark)``: add the given uncached, ascending, contiguous indices to the cache
  as one I/O (one ->readahead call) and set PG_readahead on ``mark`` (None: no marker);
* ``mark_accessed(index)``: folio_mark_accessed, called exactly where filemap_read calls it;
* optionally ``i_size`` (an int attribute, or a method): the file size in bytes.  Without it the
  size is taken as ``nr_pages() * 4096``; only byte-exact results need it (the end of a read
  straddling EOF, so ``prev_pos``, and POSIX_FADV_DONTNEED's "last byte of the file" rule).

Simplifications, all deliberate:

* **Large folios** where the mapping allows them (``max_folio_order`` > 0: ext4 in 6.16+):
  page_cache_ra_order grows ``ra.order`` (+2 per async window, clamped to the mapping's maximum
  and ilog2(ra.size)), folios aligned to their order, never past EOF, PG_readahead on the folio
  holding the mark; read(2) batches, marks accessed and meets the marker per folio.  A mapping
  without large folios (shmem here, test fakes) takes page_cache_ra_order's order-0 fallback.
  On the reference machine 8 MiB of 4 KiB reads leave 0..3071 cached with large folios and
  0..5971 on an order-0 mapping (both worked by hand in tests/test_readahead.py).  Not
  modelled: write(2) allocating large folios (write_begin uses order 0 here).
* I/O completes at once and never fails: no locked or !uptodate folios, no writeback (the
  PG_reclaim alias check of page_cache_async_ra), no EIO shrinking of ra_pages, no
  IOCB_NOWAIT/NOIO/DONTCACHE, no blk-cgroup congestion, no fsnotify pre-content watches, no DAX or
  noop-bdi files, no s_maxbytes limit.  Hence a folio is never seen locked, and
  do_async_mmap_readahead always decrements mmap_miss.
* exec_folio_order() is 0 (x86 does not override it), so the 6.16+ VM_EXEC window is
  ``[max(pgoff, vm_pgoff), min(that + ra_pages, vma end))`` with no async part, as the kernel does
  it on x86.
* VM_HUGEPAGE (MADV_HUGEPAGE, CONFIG_TRANSPARENT_HUGEPAGE=y) takes the kernel's PMD path:
  ra.order = HPAGE_PMD_ORDER, 1024 pages (512 with VM_RAND_READ) from the 512-aligned index with
  a 512-page async part (an order-0 mapping falls back to one do_page_cache_ra of them); as in
  the kernel it does not update ra->start.
"""
import errno

from .constants import PAGE_SHIFT, PAGE_SIZE, VM_EXEC, VM_HUGEPAGE, VM_RAND_READ, VM_SEQ_READ
from .mm import oserror

__all__ = [
    "Bdi", "FileRaState", "FaultBeyondEOF", "MMAP_LOTSAMISS", "POSIX_FADV_DONTNEED",
    "POSIX_FADV_NOREUSE", "POSIX_FADV_NORMAL", "POSIX_FADV_RANDOM", "POSIX_FADV_SEQUENTIAL",
    "POSIX_FADV_WILLNEED", "do_page_cache_ra", "fadvise", "file_read", "filemap_fault_readahead",
    "force_page_cache_ra", "get_init_ra_size", "get_next_ra_size", "madvise_willneed",
    "map_pages_mmap_miss", "page_cache_async_ra", "page_cache_next_miss", "page_cache_prev_miss",
    "page_cache_ra_unbounded", "page_cache_sync_ra", "sync_mmap_readahead", "async_mmap_readahead",
    "ractl_max_pages",
]

POSIX_FADV_NORMAL = 0
POSIX_FADV_RANDOM = 1
POSIX_FADV_SEQUENTIAL = 2
POSIX_FADV_WILLNEED = 3
POSIX_FADV_DONTNEED = 4
POSIX_FADV_NOREUSE = 5

MMAP_LOTSAMISS = 100                        # mm/filemap.c
FORCE_CHUNK = (2 * 1024 * 1024) // PAGE_SIZE  # force_page_cache_ra's 2 MiB chunks
PAGEVEC_SIZE = 31                           # folios in a struct folio_batch
HPAGE_PMD_NR = 512
HPAGE_PMD_ORDER = 9
ULONG_MAX = (1 << 64) - 1
LLONG_MAX = (1 << 63) - 1


class FaultBeyondEOF(IndexError):
    """filemap_fault's VM_FAULT_SIGBUS: the faulting index is at or past EOF."""


class Bdi:
    """The backing device's readahead parameters: ``ra_pages`` = read_ahead_kb / 4 (kernel default
    128 KiB → 32) and ``io_pages`` = max_sectors_kb / 4 (default 1280 KiB → 320)."""

    def __init__(self, read_ahead_kb=128, max_sectors_kb=1280):
        if read_ahead_kb < 0 or max_sectors_kb < 0:
            raise oserror(errno.EINVAL)
        self.ra_pages = read_ahead_kb // (PAGE_SIZE // 1024)
        self.io_pages = max_sectors_kb // (PAGE_SIZE // 1024)

    def __repr__(self):
        return f"Bdi(ra_pages={self.ra_pages}, io_pages={self.io_pages})"


class FileRaState:
    """struct file_ra_state of one open file, as file_ra_state_init leaves it, plus the two
    f_mode bits generic_fadvise sets: ``random`` (FMODE_RANDOM) and ``noreuse`` (FMODE_NOREUSE)."""

    def __init__(self, bdi=None):
        self.ra_pages = (bdi if bdi is not None else Bdi()).ra_pages
        self.start = 0
        self.size = 0
        self.async_size = 0
        self.order = 0
        self.mmap_miss = 0
        self.prev_pos = -1
        self.random = False
        self.noreuse = False

    def __repr__(self):
        return (f"FileRaState(start={self.start}, size={self.size}, async_size={self.async_size}, "
                f"ra_pages={self.ra_pages}, mmap_miss={self.mmap_miss}, prev_pos={self.prev_pos})")


def _need(*values):
    for v in values:
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise oserror(errno.EINVAL)


def _i_size(mapping):
    size = getattr(mapping, "i_size", None)
    if size is None:
        return mapping.nr_pages() * PAGE_SIZE
    return size() if callable(size) else size


def _roundup_pow_of_two(n):
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def get_init_ra_size(size, max_pages):
    """get_init_ra_size(): the first window for a read of ``size`` pages."""
    newsize = _roundup_pow_of_two(size)
    if newsize <= max_pages // 32:
        return newsize * 4
    if newsize <= max_pages // 4:
        return newsize * 2
    return max_pages


def get_next_ra_size(cur, max_pages):
    """get_next_ra_size(): ramp the previous window size ``cur`` (ra->size) up."""
    if cur < max_pages // 16:
        return 4 * cur
    if cur <= max_pages // 2:
        return 2 * cur
    return max_pages


def ractl_max_pages(ra, bdi, req_size):
    """ractl_max_pages(): ra_pages, or up to io_pages for a request larger than the window."""
    max_pages = ra.ra_pages
    if req_size > max_pages and bdi.io_pages > max_pages:
        max_pages = min(req_size, bdi.io_pages)
    return max_pages


def page_cache_prev_miss(mapping, index, max_scan):
    """page_cache_prev_miss(): the first absent index scanning down from ``index`` (inclusive);
    when all ``max_scan`` are present, the last one looked at (index - max_scan + 1); ULONG_MAX
    when the scan wraps below 0."""
    cur = index
    for step in range(max_scan):
        if step:
            cur = (cur - 1) & ULONG_MAX
        if cur == ULONG_MAX or not mapping.is_cached(cur):
            break
    return cur


def page_cache_next_miss(mapping, index, max_scan):
    """page_cache_next_miss(): the first absent index scanning up from ``index`` (inclusive); when
    all ``max_scan`` are present, the last one looked at (index + max_scan - 1)."""
    cur = index
    for step in range(max_scan):
        if step:
            cur = (cur + 1) & ULONG_MAX
        if not mapping.is_cached(cur) or cur == 0:
            break
    return cur


def page_cache_ra_unbounded(mapping, index, nr_to_read, lookahead_size):
    """page_cache_ra_unbounded(): read the absent pages of [index, index + nr_to_read), one I/O
    per run of absent pages, PG_readahead on index + nr_to_read - lookahead_size if that page is
    newly read.  Does not look at EOF."""
    _need(index, nr_to_read, lookahead_size)
    mark = index + nr_to_read - lookahead_size if lookahead_size <= nr_to_read else None
    run = []

    def submit():
        if run:
            inside = mark is not None and run[0] <= mark <= run[-1]
            mapping.read_pages(list(run), mark if inside else None)
            run.clear()

    for i in range(index, index + nr_to_read):
        if mapping.is_cached(i):
            submit()
        else:
            run.append(i)
    submit()


def do_page_cache_ra(mapping, index, nr_to_read, lookahead_size):
    """do_page_cache_ra(): page_cache_ra_unbounded clipped to the page holding the last byte."""
    _need(index, nr_to_read, lookahead_size)
    nr_pages = mapping.nr_pages()
    if nr_pages == 0:
        return
    end_index = nr_pages - 1
    if index > end_index:
        return
    if nr_to_read > end_index - index:
        nr_to_read = end_index - index + 1
    page_cache_ra_unbounded(mapping, index, nr_to_read, lookahead_size)


def force_page_cache_ra(mapping, ra, bdi, index, nr_to_read):
    """force_page_cache_ra(): read ``nr_to_read`` pages from ``index`` regardless of the window
    state, at most max(io_pages, ra_pages), in 2 MiB chunks (one I/O batch per chunk)."""
    _need(index, nr_to_read)
    nr_to_read = min(nr_to_read, max(bdi.io_pages, ra.ra_pages))
    while nr_to_read:
        chunk = min(FORCE_CHUNK, nr_to_read)
        do_page_cache_ra(mapping, index, chunk, 0)
        index += chunk   # ractl->_index has moved past the chunk when read_pages returns
        nr_to_read -= chunk


def _folio(mapping, index):
    """(first index, pages) of the cached folio holding ``index``; (index, 1) for a mapping
    without large folios."""
    folio = getattr(mapping, "folio", None)
    return folio(index) if folio is not None else (index, 1)


def page_cache_ra_order(mapping, ra, index=None):
    """page_cache_ra_order() (mm/readahead.c, 6.16+): read the window ``ra.start`` (or
    ``index``), ``ra.size`` pages, in folios of order ``ra.order`` clamped to
    mapping_max_folio_order and ilog2(ra.size) (stored back in ra.order); a folio at an index
    not aligned to that order takes the order of the index's lowest set bit, and shrinks so as
    not to reach past min(EOF page, window end); PG_readahead goes on the folio holding
    round_down(mark, its size), mark = start + size - async_size.  When a folio cannot be added
    (a page of it is cached: -EEXIST, or -ENOMEM) the rest of the window is read by
    do_page_cache_ra from there (the order-0 fallback).  A mapping without large folios
    (``max_folio_order`` 0 or absent) sets ra.order = 0 and takes the fallback at once."""
    start = ra.start if index is None else index
    max_order = getattr(mapping, "max_folio_order", 0)
    if not max_order:
        ra.order = 0
        if ra.size > 0:
            do_page_cache_ra(mapping, start, ra.size, ra.async_size)
        return
    nr_pages = mapping.nr_pages()
    if ra.size <= 0 or nr_pages == 0:
        return
    limit = min(nr_pages - 1, start + ra.size - 1)
    new_order = min(max_order, ra.order, ra.size.bit_length() - 1)
    ra.order = new_order
    mark = start + ra.size - ra.async_size
    index = start
    failed = False
    while index <= limit:
        order = new_order
        if index & ((1 << order) - 1):          # align with smaller folios: __ffs(index)
            order = (index & -index).bit_length() - 1
        while order > 0 and index + (1 << order) - 1 > limit:    # nothing past EOF
            order -= 1
        if not mapping.add_folio(index, order, index == mark & ~((1 << order) - 1)):
            failed = True
            break
        index += 1 << order
    if failed and ra.size > index - start:
        do_page_cache_ra(mapping, index, ra.size - (index - start), ra.async_size)


def _ra_submit(mapping, ra):
    """ractl._index = ra->start; page_cache_ra_order() (the callers set ra.order first)."""
    page_cache_ra_order(mapping, ra)


def _sync_ra(mapping, ra, bdi, index, req_count, forced):
    if not ra.ra_pages:
        req_count = 1
        forced = True
    if forced:
        force_page_cache_ra(mapping, ra, bdi, index, req_count)
        return
    max_pages = ractl_max_pages(ra, bdi, req_count)
    prev_index = (ra.prev_pos & ULONG_MAX) >> PAGE_SHIFT
    if not index or req_count > max_pages or ((index - prev_index) & ULONG_MAX) <= 1:
        # Start of file, oversized read, or sequential cache miss.
        ra.start = index
        ra.size = get_init_ra_size(req_count, max_pages)
        ra.async_size = ra.size - req_count if ra.size > req_count else ra.size >> 1
    else:
        miss = page_cache_prev_miss(mapping, index - 1, max_pages)
        contig_count = (index - miss - 1) & ULONG_MAX
        if contig_count <= req_count:
            # Standalone, small random read: read as is, do not touch the state.
            do_page_cache_ra(mapping, index, req_count, 0)
            return
        if miss == ULONG_MAX:
            contig_count *= 2   # cached from the start of the file
        ra.start = index
        ra.size = min(contig_count + req_count, max_pages)
        ra.async_size = 1
    ra.order = 0
    _ra_submit(mapping, ra)


def page_cache_sync_ra(mapping, ra, bdi, index, req_count):
    """page_cache_sync_ra(): readahead on a cache miss at ``index`` for a read of ``req_count``
    pages (FMODE_RANDOM, i.e. ``ra.random``, or ra_pages 0 force-read just the request)."""
    _need(index, req_count)
    _sync_ra(mapping, ra, bdi, index, req_count, ra.random)


def page_cache_async_ra(mapping, ra, bdi, index, req_count):
    """page_cache_async_ra(): the page at ``index`` carried PG_readahead (cleared here): push the
    window forward, or rebuild it from the cache when the state does not match (interleaved
    streams)."""
    _need(index, req_count)
    if not ra.ra_pages:
        return
    mapping.test_clear_readahead(index)
    max_pages = ractl_max_pages(ra, bdi, req_count)
    # expected = round_down(start + size - async_size, folio_nr_pages(folio))
    expected = (ra.start + ra.size - ra.async_size) & ULONG_MAX
    expected &= ~(_folio(mapping, index)[1] - 1)
    if index == expected:
        ra.start += ra.size
        ra.size = max(ra.size, get_next_ra_size(ra.size, max_pages))
    else:
        start = page_cache_next_miss(mapping, index + 1, max_pages)
        if not start or start - index > max_pages:
            return
        ra.start = start
        ra.size = get_next_ra_size(start - index + req_count, max_pages)
    ra.order += 2                               # page_cache_ra_order clamps it
    align = 1 << min(ra.order, (max_pages & -max_pages).bit_length() - 1)
    end = ra.start + ra.size
    aligned_end = end - end % align
    if aligned_end > ra.start:
        ra.size -= end - aligned_end
    ra.async_size = ra.size
    _ra_submit(mapping, ra)


# ---------------------------------------------------------------------------------------------
# read(2)


def _read_batch(mapping, index, last):
    """filemap_get_read_batch(): the contiguous cached folios from the one holding ``index`` up
    to the one holding ``last``, as (first index, pages), at most PAGEVEC_SIZE folios, ending
    early after a PG_readahead folio."""
    batch = []
    while index <= last and mapping.is_cached(index):
        first, nr = _folio(mapping, index)
        batch.append((first, nr))
        if len(batch) == PAGEVEC_SIZE or mapping.test_readahead(first):
            break
        index = first + nr
    return batch


def _get_pages(mapping, ra, bdi, pos, count, forced):
    """filemap_get_pages(): the folio batch the next copy uses, after sync/async readahead."""
    index = pos >> PAGE_SHIFT
    last_index = (pos + count + PAGE_SIZE - 1) >> PAGE_SHIFT
    batch = _read_batch(mapping, index, last_index - 1)
    if not batch:
        _sync_ra(mapping, ra, bdi, index, last_index - index, forced)
        batch = _read_batch(mapping, index, last_index - 1)
    if not batch:
        mapping.read_pages([index], None)   # filemap_create_folio (min order: 0)
        return [(index, 1)]
    last = batch[-1][0]
    if mapping.test_readahead(last):
        page_cache_async_ra(mapping, ra, bdi, last, last_index - last)   # filemap_readahead
    return batch


def file_read(mapping, ra, bdi, offset, length, *, random=False):
    """filemap_read(): a read(2)/pread(2) of ``length`` bytes at ``offset``.  Returns the page
    indices the data is copied from (each once, ascending; nothing at or past EOF) after
    readahead made them present; updates ``ra.prev_pos``.  ``random`` (or ``ra.random``) is
    FMODE_RANDOM, as POSIX_FADV_RANDOM sets it.  folio_mark_accessed is called once per folio
    copied from, except for the first folio of a batch when the previous read ended in it
    (pos_same_folio with the folio's size)."""
    _need(offset, length)
    if length == 0:
        return []
    forced = random or ra.random
    pos, count = offset, length
    last_pos = ra.prev_pos
    pages = []
    while True:
        isize = _i_size(mapping)
        if pos >= isize:
            break
        batch = _get_pages(mapping, ra, bdi, pos, count, forced)
        end_offset = min(isize, pos + count)
        first, nr = batch[0]
        shift = PAGE_SHIFT + nr.bit_length() - 1
        if pos >> shift != (last_pos - 1) >> shift:
            mapping.mark_accessed(first)
        for i, (first, nr) in enumerate(batch):
            if end_offset < first << PAGE_SHIFT:
                break
            if i > 0:
                mapping.mark_accessed(first)
            fsize = nr << PAGE_SHIFT
            nbytes = min(end_offset - pos, fsize - (pos & (fsize - 1)))
            if nbytes > 0:
                pages.extend(range(pos >> PAGE_SHIFT, ((pos + nbytes - 1) >> PAGE_SHIFT) + 1))
            pos += nbytes
            count -= nbytes
            last_pos = pos
        if not count or pos >= isize:
            break
    ra.prev_pos = last_pos
    return pages


# ---------------------------------------------------------------------------------------------
# mmap faults


def sync_mmap_readahead(mapping, ra, bdi, pgoff, vm_flags, *, vm_pgoff=0, vma_pages=None):
    """do_sync_mmap_readahead(): readahead for a fault at ``pgoff`` that missed the cache.
    ``vm_pgoff``/``vma_pages`` (the VMA's first file page and length) matter only for VM_EXEC."""
    _need(pgoff, vm_flags, vm_pgoff)
    if vm_flags & VM_HUGEPAGE:
        ra.size = HPAGE_PMD_NR if vm_flags & VM_RAND_READ else 2 * HPAGE_PMD_NR
        ra.async_size = HPAGE_PMD_NR
        ra.order = HPAGE_PMD_ORDER
        page_cache_ra_order(mapping, ra, pgoff & ~(HPAGE_PMD_NR - 1))
        return
    if vm_flags & (VM_RAND_READ | VM_EXEC) == VM_RAND_READ:
        return
    if not ra.ra_pages:
        return
    if vm_flags & VM_SEQ_READ:
        _sync_ra(mapping, ra, bdi, pgoff, ra.ra_pages, ra.random)
        return
    mmap_miss = ra.mmap_miss
    if mmap_miss < MMAP_LOTSAMISS * 10:
        mmap_miss += 1
        ra.mmap_miss = mmap_miss
    if mmap_miss > MMAP_LOTSAMISS:
        return
    if vm_flags & VM_EXEC:
        start = max(pgoff, vm_pgoff)
        end = start + ra.ra_pages
        if vma_pages is not None:
            end = min(end, vm_pgoff + vma_pages)
        ra.start, ra.size, ra.async_size = start, max(0, end - start), 0
        ra.order = 0                            # exec_folio_order(): 0 on x86
    else:   # read-around
        ra.start = max(0, pgoff - ra.ra_pages // 2)
        ra.size = ra.ra_pages
        ra.async_size = ra.ra_pages // 4
        ra.order = 0
    _ra_submit(mapping, ra)


def async_mmap_readahead(mapping, ra, bdi, pgoff, vm_flags):
    """do_async_mmap_readahead(): a fault found ``pgoff`` cached: count a hit in mmap_miss and, if
    the page carries PG_readahead, start the next async window."""
    _need(pgoff, vm_flags)
    if vm_flags & VM_RAND_READ or not ra.ra_pages:
        return
    if ra.mmap_miss:
        ra.mmap_miss -= 1
    if mapping.test_readahead(pgoff):
        page_cache_async_ra(mapping, ra, bdi, pgoff, ra.ra_pages)


def filemap_fault_readahead(mapping, ra, bdi, pgoff, vm_flags, cached=None, *, tried=False,
                            vm_pgoff=0, vma_pages=None):
    """What filemap_fault() does about readahead for a fault at ``pgoff``; returns True for a
    major fault (VM_FAULT_MAJOR, one PGMAJFAULT event).

    ``cached`` is whether filemap_get_folio found the page (looked up when None).  Found: async
    readahead unless ``tried`` (FAULT_FLAG_TRIED, the retry after the lock was dropped for I/O).
    Missing: sync readahead, then, if readahead did not bring the page in (VM_RAND_READ,
    mmap_miss over MMAP_LOTSAMISS, ra_pages 0), the single-page read of __filemap_get_folio
    (FGP_CREAT) + filemap_read_folio.  Raises FaultBeyondEOF (VM_FAULT_SIGBUS) at or past EOF."""
    _need(pgoff, vm_flags)
    if pgoff >= mapping.nr_pages():
        raise FaultBeyondEOF(pgoff)
    if cached is None:
        cached = mapping.is_cached(pgoff)
    if cached:
        if not tried:
            async_mmap_readahead(mapping, ra, bdi, pgoff, vm_flags)
        return False
    sync_mmap_readahead(mapping, ra, bdi, pgoff, vm_flags, vm_pgoff=vm_pgoff, vma_pages=vma_pages)
    if not mapping.is_cached(pgoff):
        mapping.read_pages([pgoff], None)
    return True


def map_pages_mmap_miss(ra, nr_counted):
    """The end of filemap_map_pages(): fault-around lowers mmap_miss by the pages it counted
    (mapped pages not marked workingset), not below 0."""
    _need(nr_counted)
    ra.mmap_miss = 0 if nr_counted >= ra.mmap_miss else ra.mmap_miss - nr_counted


# ---------------------------------------------------------------------------------------------
# fadvise / madvise


def _endbyte(offset, length):
    end = (offset + length) & ULONG_MAX
    if end > LLONG_MAX:
        end -= 1 << 64
    if not length or end < length:
        return LLONG_MAX
    return end - 1


def fadvise(mapping, ra, bdi, offset, length, advice):
    """generic_fadvise() (posix_fadvise/fadvise64).  Returns, for POSIX_FADV_DONTNEED, the
    inclusive (first, last) page-index range to invalidate (the cache drops the clean, unmapped,
    unlocked pages in it and writes back dirty ones first) or None when the range holds no full
    page; None for every other advice.  ``length`` 0 means "to the end of the file"; a negative
    offset is accepted, as Linux does."""
    if not isinstance(length, int) or not isinstance(offset, int) or length < 0:
        raise oserror(errno.EINVAL)
    if advice not in (POSIX_FADV_NORMAL, POSIX_FADV_RANDOM, POSIX_FADV_SEQUENTIAL,
                      POSIX_FADV_WILLNEED, POSIX_FADV_DONTNEED, POSIX_FADV_NOREUSE):
        raise oserror(errno.EINVAL)
    endbyte = _endbyte(offset, length)
    if advice == POSIX_FADV_NORMAL:
        ra.ra_pages = bdi.ra_pages
        ra.random = ra.noreuse = False
    elif advice == POSIX_FADV_RANDOM:
        ra.random = True
    elif advice == POSIX_FADV_SEQUENTIAL:
        ra.ra_pages = bdi.ra_pages * 2
        ra.random = False
    elif advice == POSIX_FADV_NOREUSE:
        ra.noreuse = True
    elif advice == POSIX_FADV_WILLNEED:
        start_index = (offset >> PAGE_SHIFT) & ULONG_MAX
        end_index = (endbyte >> PAGE_SHIFT) & ULONG_MAX
        nrpages = (end_index - start_index + 1) & ULONG_MAX or ULONG_MAX
        force_page_cache_ra(mapping, ra, bdi, start_index, nrpages)
    else:
        start_index = ((offset + PAGE_SIZE - 1) >> PAGE_SHIFT) & ULONG_MAX
        end_index = (endbyte >> PAGE_SHIFT) & ULONG_MAX
        if endbyte & (PAGE_SIZE - 1) != PAGE_SIZE - 1 and endbyte != _i_size(mapping) - 1:
            if end_index == 0:
                return None
            end_index -= 1
        return (start_index, end_index) if end_index >= start_index else None
    return None


def madvise_willneed(mapping, ra, bdi, offset, length):
    """madvise_willneed() for a file VMA: vfs_fadvise(POSIX_FADV_WILLNEED) of the file range
    [offset, offset + length) that the madvise range covers (``offset`` page aligned, ``length``
    rounded up to pages; 0 does nothing, as madvise(2) returns early)."""
    if not isinstance(offset, int) or not isinstance(length, int):
        raise oserror(errno.EINVAL)
    if offset < 0 or length < 0 or offset & (PAGE_SIZE - 1):
        raise oserror(errno.EINVAL)
    length = (length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    if length:
        fadvise(mapping, ra, bdi, offset, length, POSIX_FADV_WILLNEED)
