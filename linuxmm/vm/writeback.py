"""Dirty page-cache writeback (mm/page-writeback.c, fs/fs-writeback.c), sync(2) and
/proc/sys/vm/drop_caches (fs/drop_caches.c).

* Dirtying: a folio that becomes dirty (write(2), a write fault on a shared file mapping, a
  dirty PTE zapped) counts NR_FILE_DIRTY and nr_dirtied; the first dirty folio of an inode
  stamps its ``dirtied_when`` (__mark_inode_dirty) and, when it is the first dirty inode, arms
  the flusher's periodic wake-up dirty_writeback_centisecs later (wb_wakeup_delayed).
* The flusher (wb_workfn), at each wake-up: queues the inodes dirtied at least
  dirty_expire_centisecs ago (kupdate, oldest first, all their dirty folios) and starts
  background writeback when nr_dirty is over the background threshold; it re-arms itself while
  dirty inodes remain.  Its I/O proceeds at the disk's pace (kernel.costs["page_write"] per
  page) as simulated time passes, in the background: the clock is not charged for it (its timer
  fires every WB_BATCH pages' worth of time; any clock movement catches it up to the page).
  Background writeback writes the oldest inodes until nr_dirty is at or below the background
  threshold.
* balance_dirty_pages (after write(2) and shared write faults): over the background threshold
  it starts background writeback; over the dirty threshold the writer is throttled: its clock
  advances until the flusher has brought nr_dirty back to the threshold.
* Writing a folio: its bytes reach the inode's backing store, PG_dirty clears, the PTEs of
  shared mappings are cleaned and write-protected (folio_mkclean, so the next write faults and
  re-dirties it), NR_FILE_DIRTY -= nr, nr_written += nr, pgpgout += 4 kB per page.  The I/O
  completes at once: NR_WRITEBACK (meminfo Writeback) stays 0.

Simplifications: no per-task ratelimit (every write checks the thresholds), no proportional
throttling between the freerun ceiling and the limit (only the hard limit throttles), no
writeback_index cycling across calls beyond one pass per inode, no laptop mode, no strictlimit
or cgroup writeback domains, inodes are written whole (no MAX_WRITEBACK_PAGES chunks).
"""
import errno
import os

from .clock import NEVER, advance, rearm
from .constants import VM_SHARED
from .mmu_defs import (_PAGE_DIRTY, _PAGE_RW, EV_PGPGOUT, NR_FILE_DIRTY, NR_WRITEBACK,
                       PAGE_SHIFT, PG_DIRTY, pg_order)

WB_BATCH = 32                     # the flusher's timer fires every 32 pages' I/O time
CENTISEC_NS = 10_000_000


class Writeback:
    """The one bdi_writeback of the simulated disk, and the dirty sysctls."""

    def __init__(self):
        self.next_wakeup = NEVER      # the delayed wb_workfn
        self.clock = 0                # the flusher's I/O is accounted up to this time
        self.background = False       # background writeback running
        self.kupdate = []             # inodes queued by the last periodic flush, oldest first
        self.dirty = {}               # mapping -> dirtied_when (b_dirty, oldest first)
        self.cursor = {}              # mapping -> indices left to write in its current pass
        self.stats = {"nr_dirtied": 0, "nr_written": 0, "drop_pagecache": 0, "drop_slab": 0}
        self.dirty_ratio = 20
        self.dirty_background_ratio = 10
        self.dirty_bytes = 0
        self.dirty_background_bytes = 0
        self.dirty_expire_centisecs = 3000
        self.dirty_writeback_centisecs = 500
        self.drop_caches_stfu = False
        self.balance_mapping = None   # a shared write fault dirtied it: balance after the access


def wb_init(kernel):
    kernel.wb = Writeback()
    kernel._drop_caches_log = []
    kernel.register_stats(lambda: dict(kernel.wb.stats))
    kernel._checkers.append(lambda: check(kernel))


# -- dirtying ---------------------------------------------------------------------------------
def account_dirtied(kernel, mapping, first, nr):
    """folio_account_dirtied + __mark_inode_dirty for a folio of `mapping` that became dirty."""
    wb = kernel.wb
    wb.stats["nr_dirtied"] += nr
    mapping.dirty_folios.add(first)
    if mapping not in wb.dirty:
        now = kernel.now
        wb.dirty[mapping] = now
        mapping.host.dirtied_when = now
        if wb.next_wakeup == NEVER and wb.dirty_writeback_centisecs:
            wb.next_wakeup = now + wb.dirty_writeback_centisecs * CENTISEC_NS
            rearm(kernel)


def _inode_clean(kernel, mapping):
    wb = kernel.wb
    wb.dirty.pop(mapping, None)
    wb.cursor.pop(mapping, None)
    if mapping in wb.kupdate:
        wb.kupdate.remove(mapping)
    mapping.host.dirtied_when = None


def dirty_thresholds(kernel):
    """(thresh, bg_thresh) in pages: global_dirty_limits() with the dirty sysctls."""
    return kernel._dirty_limits(None)


def nr_dirty(kernel):
    node = kernel.mmu.node
    return int(node[NR_FILE_DIRTY]) + int(node[NR_WRITEBACK])


def balance_dirty_pages(kernel, mapping):
    """balance_dirty_pages_ratelimited after `mapping` was dirtied by a writer."""
    if mapping.shmem or not mapping.host.kind == "ext4":
        return
    thresh, bg = dirty_thresholds(kernel)
    dirty = nr_dirty(kernel)
    if dirty <= bg:
        return
    wb = kernel.wb
    if not wb.background:
        wb_progress(kernel, kernel.now)
        wb.background = True
        rearm(kernel)
    pw = kernel.costs["page_write"]
    while dirty > thresh and not kernel._in_timers:
        # throttled: the writer waits while the flusher writes the excess back
        excess = dirty - thresh
        advance(kernel, max(excess, WB_BATCH) * pw if pw else 0)
        wb_progress(kernel, kernel.now)
        new = nr_dirty(kernel)
        if new >= dirty and pw == 0:
            break
        dirty = new
        thresh, bg = dirty_thresholds(kernel)


# -- the flusher ------------------------------------------------------------------------------
def next_io(kernel):
    """When the flusher's next I/O batch completes (NEVER when it has no work)."""
    wb = kernel.wb
    if not (wb.kupdate or wb.background):
        return NEVER
    return wb.clock + WB_BATCH * kernel.costs["page_write"]


def wb_workfn(kernel):
    """The periodic wake-up at kernel.now: wb_check_old_data_flush (kupdate) and
    wb_check_background_flush, then re-arm while dirty inodes remain."""
    wb = kernel.wb
    now = kernel.now
    wb_progress(kernel, now)
    if wb.dirty_writeback_centisecs:
        older_than = now - wb.dirty_expire_centisecs * CENTISEC_NS
        for mapping, when in wb.dirty.items():
            if when > older_than:
                break
            if mapping not in wb.kupdate:
                wb.kupdate.append(mapping)
    if not wb.background:
        thresh, bg = dirty_thresholds(kernel)
        if nr_dirty(kernel) > bg:
            wb.background = True
    if wb.dirty and wb.dirty_writeback_centisecs:
        wb.next_wakeup = now + wb.dirty_writeback_centisecs * CENTISEC_NS
    rearm(kernel)


def wb_progress(kernel, t):
    """The flusher's I/O up to time t: as many pages as the disk wrote since wb.clock."""
    wb = kernel.wb
    if not (wb.kupdate or wb.background):
        wb.clock = t
        return
    pw = kernel.costs["page_write"]
    if pw > 0:
        budget = (t - wb.clock) // pw
        if budget <= 0:
            return
    else:
        budget = 1 << 62
    written = _flush(kernel, budget)
    if written < budget:
        wb.clock = t                  # out of work: idle from now on
    else:
        wb.clock += written * pw


def _flush(kernel, budget):
    wb = kernel.wb
    written = 0
    while written < budget:
        if wb.kupdate:
            written += write_inode(kernel, wb.kupdate[0], budget - written)
            continue
        if not wb.background:
            break
        thresh, bg = dirty_thresholds(kernel)
        over = nr_dirty(kernel) - bg
        if over <= 0 or not wb.dirty:
            wb.background = False
            break
        mapping = next(iter(wb.dirty))
        written += write_inode(kernel, mapping, min(over, budget - written))
    return written


def write_inode(kernel, mapping, limit):
    """Write up to `limit` pages (whole folios) of the inode's dirty folios in index order;
    the inode leaves the dirty list when none is left.  Returns the pages written."""
    wb = kernel.wb
    todo = wb.cursor.get(mapping)         # descending: the next index is at the end
    written = 0
    while written < limit:
        if not todo:
            todo = sorted(mapping.dirty_folios, reverse=True)
            if not todo:
                break
        first = todo.pop()
        if first in mapping.dirty_folios:
            written += write_folio(kernel, mapping, first)
    if mapping.dirty_folios:
        wb.cursor[mapping] = todo
    else:
        _inode_clean(kernel, mapping)
    return written


def write_folio(kernel, mapping, first):
    """Write the dirty folio at index `first` back (instant I/O) and clean it; returns nr."""
    mmu = kernel.mmu
    head = mapping.pages[first]
    nr = 1 << pg_order(mmu.flags[head])
    host = mapping.host
    for i in range(nr):
        pfn = mapping.pages[first + i]
        host.write_backing((first + i) << PAGE_SHIFT, mmu.page_read(pfn))
        mmu.flags[pfn] = int(mmu.flags[pfn]) & ~PG_DIRTY
        if mmu.mapcount[pfn]:
            folio_mkclean(kernel, pfn)
    mmu.node[NR_FILE_DIRTY] -= nr
    mmu.events[EV_PGPGOUT] += (nr << PAGE_SHIFT) >> 10
    mapping.dirty_folios.discard(first)
    kernel.wb.stats["nr_written"] += nr
    return nr


def folio_mkclean(kernel, pfn):
    """page_mkclean_one on every shared mapping of the frame: PTE clean and read-only."""
    from .rmap import rmap_walk
    mmu = kernel.mmu
    for process, vma, addr in rmap_walk(kernel, pfn):
        if not vma.vm_flags & VM_SHARED:
            continue
        mm = process.mm
        entry = mmu.pte_get(mm.pgd, addr)
        if entry & (_PAGE_DIRTY | _PAGE_RW):
            mmu.pte_set(mm.pgd, addr, entry & ~(_PAGE_DIRTY | _PAGE_RW), mm.counters)


def write_mapping_range(kernel, mapping, start=0, end=None):
    """filemap_write_and_wait_range: write every dirty folio meeting [start, end]."""
    if mapping.shmem:
        return 0
    written = 0
    for first in sorted(mapping.dirty_folios):
        nr = 1 << pg_order(kernel.mmu.flags[mapping.pages[first]])
        if first + nr - 1 < start or (end is not None and first > end):
            continue
        written += write_folio(kernel, mapping, first)
    if not mapping.dirty_folios:
        _inode_clean(kernel, mapping)
    return written


def writeback_folio(kernel, pfn):
    """Reclaim's pageout() of a dirty page-cache folio holding frame pfn: written back at once
    (instant I/O, no time charged: the lead's reclaim charges "page_write" if it waits).
    Returns the pages written: 0 for a clean folio, an anonymous or shmem page."""
    from .filemap import folio_frames
    mmu = kernel.mmu
    head, _ = folio_frames(mmu, pfn)
    mapping = kernel.address_spaces.get(int(mmu.mapping[head]))
    if mapping is None or mapping.shmem or not mmu.flags[head] & PG_DIRTY:
        return 0
    first = int(mmu.index[head])
    if first not in mapping.dirty_folios:
        return 0
    n = write_folio(kernel, mapping, first)
    if not mapping.dirty_folios:
        _inode_clean(kernel, mapping)
    return n


def sync(kernel):
    """sync(2): every dirty inode written, the caller waits for the I/O (its clock advances
    by page_write per page).  Returns the pages written."""
    wb = kernel.wb
    written = 0
    for mapping in list(wb.dirty):
        written += write_mapping_range(kernel, mapping)
    wb.background = False
    wb.kupdate.clear()
    if written:
        advance(kernel, written * kernel.costs["page_write"])
    return written


# -- drop_caches ------------------------------------------------------------------------------
def drop_caches(kernel, mode, process=None):
    """Write `mode` to /proc/sys/vm/drop_caches (drop_caches_sysctl_handler).  Returns the
    page-cache pages dropped."""
    from .. import _args
    if isinstance(mode, str):
        try:
            mode = int(mode.strip())
        except ValueError:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL)) from None
    mode = _args.as_int(mode, "mode")
    if process is not None and not all(hasattr(process, a) for a in ("comm", "pid")):
        raise _args.ArgumentTypeError(f"process must be a Process or None, not "
                                      f"{type(process).__name__}")
    if not 1 <= mode <= 4:                      # proc_dointvec_minmax, SYSCTL_ONE..SYSCTL_FOUR
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
    wb = kernel.wb
    dropped = 0
    if mode & 1:
        from .lru import lru_add_drain
        lru_add_drain(kernel)                   # lru_add_drain_all
        for mapping in list(kernel.address_spaces.values()):
            dropped += invalidate_mapping_pages(kernel, mapping)
        wb.stats["drop_pagecache"] += 1
    if mode & 2:
        drop_slab(kernel)
        wb.stats["drop_slab"] += 1
    if not wb.drop_caches_stfu:
        comm, pid = (process.comm, process.pid) if process is not None else ("sh", 0)
        line = f"{comm} ({pid}): drop_caches: {mode}"
        kernel._drop_caches_log.append(line)
        printk = getattr(kernel, "printk", None)
        if callable(printk):
            printk(line)
    wb.drop_caches_stfu = wb.drop_caches_stfu or bool(mode & 4)
    return dropped


def invalidate_mapping_pages(kernel, mapping):
    """invalidate_mapping_pages(mapping, 0, -1): drop every clean, unmapped folio.  tmpfs
    folios are never dropped (shmem folios carry PG_dirty, unaccounted), nor device files'."""
    if mapping.shmem or mapping.host.kind != "ext4" or not mapping.pages:
        return 0
    return mapping.invalidate(0, 1 << 62)


def drop_slab(kernel):
    """drop_slab(): the registered shrinkers (kernel.shrinkers: callables returning the objects
    they freed), until a round frees almost nothing, then kmem_cache_shrink of every cache
    (SLUB would discard the slabs the shrinkers emptied)."""
    shift = 0
    while True:
        freed = 0
        for shrinker in list(getattr(kernel, "shrinkers", ())):
            freed += int(shrinker() or 0)
        if not (freed >> shift) > 1:
            break
        shift += 1
    with kernel.lock:
        for cache in list(kernel.slab.caches):
            cache.shrink()


def check(kernel):
    """dirty_folios sets and the dirty inode list agree with PG_dirty and NR_FILE_DIRTY."""
    import numpy as np
    from ..errors import InvariantError
    from .mmu_defs import PG_TAIL
    mmu = kernel.mmu
    total = 0
    for mapping in kernel.address_spaces.values():
        if mapping.shmem:
            continue
        if not mapping.pages:
            if mapping.dirty_folios:
                raise InvariantError(f"{mapping.host}: dirty folios tracked without pages")
            continue
        index = np.fromiter(mapping.pages.keys(), np.int64, len(mapping.pages))
        flags = mmu.flags[np.fromiter(mapping.pages.values(), np.int64, len(mapping.pages))]
        flags = flags.astype(np.int64)
        is_dirty = (flags & PG_DIRTY) != 0
        total += int(is_dirty.sum())
        dirty = set(index[is_dirty & ((flags & PG_TAIL) == 0)].tolist())
        if dirty != mapping.dirty_folios:
            raise InvariantError(f"{mapping.host}: dirty folios {sorted(dirty)} but tracked "
                                 f"{sorted(mapping.dirty_folios)}")
        if dirty and mapping not in kernel.wb.dirty:
            raise InvariantError(f"{mapping.host} has dirty folios but is not on b_dirty")
    if total != int(mmu.node[NR_FILE_DIRTY]):
        raise InvariantError(f"NR_FILE_DIRTY {int(mmu.node[NR_FILE_DIRTY])} but {total} "
                             "dirty page-cache pages")


def rearm_flusher(kernel):
    """dirty_writeback_centisecs_handler: a new interval re-arms the wake-up from now
    (wakeup_flusher_threads is not called: the next wake-up follows the new interval)."""
    wb = kernel.wb
    if wb.dirty and wb.dirty_writeback_centisecs:
        wb.next_wakeup = kernel.now + wb.dirty_writeback_centisecs * CENTISEC_NS
    elif not wb.dirty_writeback_centisecs:
        wb.next_wakeup = NEVER
    rearm(kernel)
