"""The per-CPU LRU batches of mm/swap.c that the fault path already feels: folio_mark_lazyfree
(MADV_FREE) queues folios on cpu 0's lru_lazyfree batch, holding a reference; they become
lazily freeable (clean, not swap-backed, on the file LRU) only when the batch fills up
(FOLIO_BATCH_SIZE, 31) or is drained by lru_add_drain() (munmap, MADV_DONTNEED, exit,
MADV_FREE itself before it walks).  Until then smaps still shows them as ordinary anonymous
pages, as on a real machine.  folio_deactivate (MADV_COLD) queues active folios on cpu 0's
lru_deactivate batch the same way: they move to the head of their inactive list (PG_active and
PG_referenced cleared, pgdeactivate) when the batch fills up or is drained.  The other batches
(lru_add, activate) land with the LRU."""
from .filemap import put_page
from .lruvec import folio_nr_pages, folio_set_lru_state, lru_move
from .mmu_defs import (EV_PGLAZYFREE, LRU_INACTIVE_FILE, NR_ACTIVE_ANON, NR_INACTIVE_ANON,
                       NR_INACTIVE_FILE, PG_ACTIVE, PG_ANON, PG_HEAD, PG_LRU, PG_REFERENCED,
                       PG_SWAPBACKED, PG_UNEVICTABLE)

FOLIO_BATCH_SIZE = 31


def _lazyfree_ok(flags):
    return flags & PG_ANON and flags & PG_SWAPBACKED and not flags & PG_UNEVICTABLE


def folio_mark_lazyfree(kernel, pfn):
    mmu = kernel.mmu
    flags = int(mmu.flags[pfn])
    if not _lazyfree_ok(flags):
        return
    mmu.refcount[pfn] += 1                     # folio_get: the batch's reference
    batch = kernel.lru_lazyfree
    batch.append(pfn)
    if len(batch) >= FOLIO_BATCH_SIZE or flags & PG_HEAD:
        lru_add_drain(kernel)


def lru_lazyfree_fn(mmu, pfn):
    flags = int(mmu.flags[pfn])
    if not _lazyfree_ok(flags) or not flags & PG_LRU:
        return
    nr = 512 if flags & PG_HEAD else 1
    node = mmu.node
    node[NR_ACTIVE_ANON if flags & PG_ACTIVE else NR_INACTIVE_ANON] -= nr
    node[NR_INACTIVE_FILE] += nr
    mmu.flags[pfn] = flags & ~(PG_SWAPBACKED | PG_ACTIVE | PG_REFERENCED)
    lru_move(mmu, pfn, LRU_INACTIVE_FILE)
    mmu.events[EV_PGLAZYFREE] += nr


def folio_deactivate(kernel, pfn):
    """mm/swap.c folio_deactivate (classic LRU): an active, evictable folio on the LRU joins
    cpu 0's lru_deactivate batch with a reference; a full batch or a large folio moves it."""
    mmu = kernel.mmu
    flags = int(mmu.flags[pfn])
    batch = kernel.lru_deactivate
    if flags & PG_UNEVICTABLE or not flags & PG_LRU or not flags & PG_ACTIVE or pfn in batch:
        return                                 # (a batched folio's PG_lru is clear in Linux)
    mmu.refcount[pfn] += 1                     # folio_get: the batch's reference
    batch.append(pfn)
    if len(batch) >= FOLIO_BATCH_SIZE or flags & PG_HEAD or folio_nr_pages(flags) > 1:
        _drain_deactivate(kernel)


def lru_deactivate_fn(kernel, pfn):
    """lru_deactivate: off the active list, PG_active and PG_referenced cleared, on the head
    of the inactive list; pgdeactivate counts its pages."""
    mmu = kernel.mmu
    flags = int(mmu.flags[pfn])
    if flags & PG_UNEVICTABLE or not flags & PG_LRU or not flags & PG_ACTIVE:
        return
    folio_set_lru_state(mmu, pfn, clear_bits=PG_ACTIVE | PG_REFERENCED)
    kernel.vmscan.stat["pgdeactivate"] += folio_nr_pages(flags)


def _drain_deactivate(kernel):
    batch = kernel.lru_deactivate
    pfns = list(batch)
    batch.clear()
    for pfn in pfns:
        lru_deactivate_fn(kernel, pfn)
    for pfn in pfns:
        put_page(kernel, pfn)


def lru_add_drain(kernel):
    """Move every queued folio and drop the batch's references (the last one frees a folio
    that was unmapped meanwhile), the lru_deactivate batch before the lru_lazyfree one (the
    order of lru_add_drain_cpu); then cpu 0's mlock_fbatch (mlock_drain_local)."""
    if kernel.lru_deactivate:
        _drain_deactivate(kernel)
    batch = kernel.lru_lazyfree
    if batch:
        pfns = list(batch)
        batch.clear()
        mmu = kernel.mmu
        for pfn in pfns:
            lru_lazyfree_fn(mmu, pfn)
        for pfn in pfns:
            put_page(kernel, pfn)
    if kernel.mlock_fbatch:                  # mlock_drain_local (vm/mlock.py)
        from .mlock import mlock_drain_local
        mlock_drain_local(kernel)
