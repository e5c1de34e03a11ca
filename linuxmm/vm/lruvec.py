"""The node's LRU lists (include/linux/mm_inline.h: lruvec_add_folio, lruvec_del_folio;
mm/swap.c: folio_add_lru, folio_activate; mm/vmscan.c: folio_isolate_lru, folio_putback_lru).

Only the head frame of a folio is on a list; the NR_*ANON/FILE and NR_UNEVICTABLE node counters
count every frame of it.  The list a folio belongs on follows from its flags (folio_lru_list):
PG_UNEVICTABLE -> unevictable, else PG_SWAPBACKED picks anon or file and PG_ACTIVE the half.
"""
from .mmu_defs import (LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE,
                       LRU_UNEVICTABLE, NR_ACTIVE_ANON, NR_ACTIVE_FILE, NR_INACTIVE_ANON,
                       NR_INACTIVE_FILE, NR_UNEVICTABLE, PG_ACTIVE, PG_ANON, PG_HEAD, PG_LRU,
                       PG_SWAPBACKED, PG_UNEVICTABLE, pg_order)

LRU_NODE_ITEM = {LRU_INACTIVE_ANON: NR_INACTIVE_ANON, LRU_ACTIVE_ANON: NR_ACTIVE_ANON,
                 LRU_INACTIVE_FILE: NR_INACTIVE_FILE, LRU_ACTIVE_FILE: NR_ACTIVE_FILE,
                 LRU_UNEVICTABLE: NR_UNEVICTABLE}


def folio_lru_list(flags):
    if flags & PG_UNEVICTABLE:
        return LRU_UNEVICTABLE
    base = LRU_INACTIVE_ANON if flags & PG_SWAPBACKED else LRU_INACTIVE_FILE
    return base + (1 if flags & PG_ACTIVE else 0)


def folio_nr_pages(flags):
    """Frames of the folio headed by a frame with these flags: 512 for an anonymous THP, 2**order
    for a large page-cache folio, else 1."""
    if flags & PG_ANON:
        return 512 if flags & PG_HEAD else 1
    return 1 << pg_order(flags)
