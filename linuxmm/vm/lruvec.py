"""The node's LRU lists (include/linux/mm_inline.h: lruvec_add_folio, lruvec_del_folio;
mm/swap.c: folio_add_lru, folio_activate; mm/vmscan.c: folio_isolate_lru, folio_putback_lru).

Only the head frame of a folio is on a list; the NR_*ANON/FILE and NR_UNEVICTABLE node counters
count every frame of it.  The list a folio belongs on follows from its flags (folio_lru_list):
PG_UNEVICTABLE -> unevictable, else PG_SWAPBACKED picks anon or file and PG_ACTIVE the half.
"""
import numpy as np

from .mmu_defs import (LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE,
                       LRU_UNEVICTABLE, NR_ACTIVE_ANON, NR_ACTIVE_FILE, NR_INACTIVE_ANON,
                       NR_INACTIVE_FILE, NR_UNEVICTABLE, PG_ACTIVE, PG_ANON, PG_HEAD, PG_LRU,
                       PG_ORDER_MASK, PG_ORDER_SHIFT, PG_SWAPBACKED, PG_TAIL, PG_UNEVICTABLE,
                       pg_order)

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


# -- the lists: links through the frames (mmu.lru_prev / lru_next), heads at max_pfn + lru ----
def lru_head(mmu, lru):
    return mmu.max_pfn + lru


def lru_link(mmu, pfn, lru, tail=False):
    """list_add (the head: newest) or list_add_tail (the tail: reclaimed first)."""
    head = mmu.max_pfn + lru
    prev_, next_ = mmu.lru_prev, mmu.lru_next
    if tail:
        before = int(prev_[head])
        prev_[head] = pfn
        next_[pfn] = head
        prev_[pfn] = before
        next_[before] = pfn
    else:
        after = int(next_[head])
        next_[head] = pfn
        prev_[pfn] = head
        next_[pfn] = after
        prev_[after] = pfn


def lru_unlink(mmu, pfn):
    """list_del; nothing for a frame on no list."""
    prev_, next_ = mmu.lru_prev, mmu.lru_next
    p = int(prev_[pfn])
    if p < 0:
        return
    n = int(next_[pfn])
    next_[p] = n
    prev_[n] = p
    prev_[pfn] = next_[pfn] = -1


def lru_del_frame(mmu, pfn, flags):
    """A frame being freed leaves the LRU: its page off its list's counter (each frame of a
    large page-cache folio counts on its own) and, for a folio's head, off the list."""
    if flags & PG_LRU:
        mmu.node[LRU_NODE_ITEM[folio_lru_list(flags)]] -= 1
    lru_unlink(mmu, pfn)


def lru_linked(mmu, pfn):
    return int(mmu.lru_prev[pfn]) >= 0


def lru_tail(mmu, lru):
    """The folio reclaim looks at next (the list's tail), or None when the list is empty."""
    head = mmu.max_pfn + lru
    pfn = int(mmu.lru_prev[head])
    return None if pfn == head else pfn


def lru_pfns(mmu, lru):
    """Every folio on the list, head (newest) first."""
    head = mmu.max_pfn + lru
    out = []
    nxt = mmu.lru_next
    pfn = int(nxt[head])
    limit = mmu.max_pfn
    while pfn != head:
        out.append(pfn)
        if len(out) > limit:
            raise RuntimeError(f"LRU list {lru} loops")
        pfn = int(nxt[pfn])
    return out


def lru_move(mmu, pfn, lru, tail=False):
    lru_unlink(mmu, pfn)
    lru_link(mmu, pfn, lru, tail)


# -- folios on the lists, with the node counters --------------------------------------------
def lruvec_add_folio(mmu, head, tail=False):
    """Set PG_LRU (every frame of the folio) and put the head on the list its flags say."""
    flags = int(mmu.flags[head])
    nr = folio_nr_pages(flags)
    lru = folio_lru_list(flags)
    _set_lru_flag(mmu, head, nr, flags, True)
    mmu.node[LRU_NODE_ITEM[lru]] += nr
    lru_link(mmu, head, lru, tail)


def lruvec_del_folio(mmu, head):
    """Clear PG_LRU and take the folio off its list (folio_isolate_lru's half)."""
    flags = int(mmu.flags[head])
    if not flags & PG_LRU:
        return False
    nr = folio_nr_pages(flags)
    mmu.node[LRU_NODE_ITEM[folio_lru_list(flags)]] -= nr
    _set_lru_flag(mmu, head, nr, flags, False)
    lru_unlink(mmu, head)
    return True


def _set_lru_flag(mmu, head, nr, flags, on):
    if flags & PG_ANON:                  # an anonymous THP keeps PG_LRU on its head only
        mmu.flags[head] = (flags | PG_LRU) if on else (flags & ~PG_LRU)
        return
    for p in range(head, head + nr):
        f = int(mmu.flags[p])
        mmu.flags[p] = (f | PG_LRU) if on else (f & ~PG_LRU)


def folio_set_lru_state(mmu, head, set_bits=0, clear_bits=0):
    """Change the flags that pick the list (PG_ACTIVE, PG_SWAPBACKED, PG_UNEVICTABLE) of a
    folio on the LRU, moving it to the head of its new list with the counters."""
    on_lru = lruvec_del_folio(mmu, head)
    flags = int(mmu.flags[head])
    nr = 1 if flags & PG_ANON else folio_nr_pages(flags)
    for p in range(head, head + nr):
        mmu.flags[p] = (int(mmu.flags[p]) | set_bits) & ~clear_bits
    if on_lru:
        lruvec_add_folio(mmu, head)


def check_lru(mmu, problems):
    """Every folio on the LRU is on exactly the list its flags name, once, as a head frame;
    every frame heading a folio with PG_LRU is linked; each list's pages equal its counter."""
    flags = mmu.flags
    seen = []
    for lru, item in LRU_NODE_ITEM.items():
        try:
            pfns = mmu.lru_list(lru)
        except Exception as e:                     # a broken list
            problems.append(str(e))
            continue
        f = flags[pfns].astype(np.int64)
        want = np.where(f & PG_UNEVICTABLE, LRU_UNEVICTABLE,
                        np.where(f & PG_SWAPBACKED, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE)
                        + np.where(f & PG_ACTIVE, 1, 0))
        bad = ((f & PG_LRU) == 0) | ((f & PG_TAIL) != 0) | ((want != lru) & ((f & PG_UNEVICTABLE) == 0)) \
            | ((lru == LRU_UNEVICTABLE) != ((f & PG_UNEVICTABLE) != 0))
        for pfn in pfns[bad][:5].tolist():
            problems.append(f"pfn {pfn} (flags {int(flags[pfn]):#x}) should not be on LRU "
                            f"list {lru}")
        anon_thp = ((f & PG_ANON) != 0) & ((f & PG_HEAD) != 0)
        order = (f & PG_ORDER_MASK) >> PG_ORDER_SHIFT
        pages = int(np.where(anon_thp, 512, np.where(f & PG_ANON, 1, 1 << order)).sum())
        if pages != int(mmu.node[item]):
            problems.append(f"LRU list {lru} holds {pages} pages, its counter says "
                            f"{int(mmu.node[item])}")
        seen.append(pfns)
    linked = np.concatenate(seen) if seen else np.zeros(0, np.int64)
    if len(np.unique(linked)) != len(linked):
        problems.append("a folio is on two LRU lists (or twice on one)")
    heads = np.nonzero(((flags & PG_LRU) != 0) & ((flags & PG_TAIL) == 0))[0]
    missing = np.setdiff1d(heads, linked)
    for pfn in missing[:5].tolist():
        problems.append(f"pfn {pfn} has PG_LRU but is on no list")
