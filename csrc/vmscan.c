/*
 * vmscan.c - the anonymous order-0 half of shrink_folio_list() (mm/vmscan.c) as one engine call
 * per isolated batch.  linuxmm/vm/vmscan.py keeps everything else (file folios, THPs, lazily
 * freed and mlocked folios, MADV_PAGEOUT's batches, the scan control) and takes over at the
 * first folio this file does not handle; linuxmm/reference/swap.py (SwapEngine.shrink_anon) is
 * the pure-Python twin.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lock.h"
#include "lmm.h"
#include "mmu_internal.h"

#define PG_HEAD_        0x1000u
#define PG_MLOCKED_     0x10000u
enum { FOLIOREF_RECLAIM, FOLIOREF_RECLAIM_CLEAN, FOLIOREF_KEEP, FOLIOREF_ACTIVATE };

/* swp_entry_to_pte(): the type in the top 5 bits, the offset inverted in bits 9..58 */
static inline uint64_t swp_entry_to_pte(int type, int64_t off)
{
    return ((~(uint64_t)off << 14) >> 5) | ((uint64_t)type << 59);
}

/* folio_free_swap() of a mapped folio: only the swap cache holds its slot -> drop it. */
static void folio_free_swap(struct lmm_mmu *m, int64_t pfn)
{
    int64_t e = m->swap_entry[pfn];
    if (!e || m->swap[SWP_TYPE(e)]->swap_map[SWP_OFFSET(e)] > 0)
        return;
    swap_cache_delete(m, pfn, -1);
    if (--m->refcount[pfn] == 0)
        release_page(m, pfn);
}

static int swap_full(const struct lmm_mmu *m)
{
    int64_t total, used = -swap_free_pages(m, &total);
    used += total;
    return total > 0 && used * 2 > total;
}

/* vmscan.py _activate(): the pages activated (0 for an mlocked folio). */
static int64_t activate(struct lmm_mmu *m, int64_t pfn)
{
    uint32_t flags = m->flags[pfn];
    if ((flags & LMM_PG_SWAPCACHE) && swap_full(m))
        folio_free_swap(m, pfn);
    if (flags & PG_MLOCKED_)
        return 0;
    m->flags[pfn] |= LMM_PG_ACTIVE;
    return 1;
}

/* folio_alloc_swap + add_to_swap_cache, folio dirtied: 0, or -1 when swap is full. */
static int add_to_swap(struct lmm_mmu *m, int64_t pfn, const int64_t *order, int64_t nswap)
{
    for (int64_t k = 0; k < nswap; k++) {
        int type = (int)order[k];
        struct lmm_swap_area *si = (type >= 0 && type < LMM_MAX_SWAPFILES) ? m->swap[type] : NULL;
        int64_t off = si ? swap_area_alloc_slot(si) : -1;
        if (off >= 0) {
            swap_cache_add(m, si, pfn, type, off);
            m->flags[pfn] |= LMM_PG_DIRTY;
            return 0;
        }
    }
    return -1;
}

int64_t lmm_mmu_shrink_anon(struct lmm_mmu *m, const int64_t *pfns, int64_t n, int64_t start,
                            const int64_t *ref, const int64_t *decision, const int64_t *mstart,
                            const int64_t *mcand, const int64_t *maddr, const int64_t *c_pgd,
                            int64_t **c_counters, const int64_t *swap_order, int64_t nswap,
                            int may_swap, int may_writepage, int64_t *keep, int64_t *out)
{
    LMM_LOCKED(m->lock);
    for (int64_t i = start; i < n; i++) {
        int64_t pfn = pfns[i];
        if (ref[i] < 0 || pfn < 0 || pfn >= m->max_pfn)
            return i;
        uint32_t flags = m->flags[pfn];
        if (!(flags & LMM_PG_ANON) || !(flags & LMM_PG_SWAPBACKED) || (flags & PG_HEAD_))
            return i;
        for (int64_t j = mstart[i]; j < mstart[i + 1]; j++)     /* every PTE in a table */
            if (!pte_slot_of(m, c_pgd[mcand[j]], (uint64_t)maddr[j]))
                return i;
        int64_t d = decision[i];
        if (d == FOLIOREF_ACTIVATE) {
            out[2] += activate(m, pfn);
            keep[out[0]++] = pfn;
            continue;
        }
        if (d == FOLIOREF_KEEP) {
            keep[out[0]++] = pfn;
            continue;
        }
        if (!(flags & LMM_PG_SWAPCACHE) &&
            (!may_swap || add_to_swap(m, pfn, swap_order, nswap))) {
            out[2] += activate(m, pfn);
            keep[out[0]++] = pfn;
            continue;
        }
        /* try_to_unmap: each PTE becomes the swap entry */
        int64_t e = m->swap_entry[pfn];
        struct lmm_swap_area *si = m->swap[SWP_TYPE(e)];
        int64_t off = SWP_OFFSET(e);
        uint64_t swp_pte = swp_entry_to_pte(SWP_TYPE(e), off);
        for (int64_t j = mstart[i]; j < mstart[i + 1]; j++) {
            uint64_t *slot = pte_slot_of(m, c_pgd[mcand[j]], (uint64_t)maddr[j]);
            int64_t *counters = c_counters[mcand[j]];
            if (*slot & LMM_PTE_DIRTY)
                m->flags[pfn] |= LMM_PG_DIRTY;
            *slot = swp_pte;
            counters[LMM_MM_ANONPAGES]--;
            counters[LMM_MM_SWAPENTS]++;
            si->swap_map[off]++;
            if (--m->mapcount[pfn] == 0)
                m->node[LMM_NR_ANON_MAPPED]--;
            if (--m->refcount[pfn] == 0)    /* (the swap cache holds one: never here) */
                release_page(m, pfn);
        }
        if (m->flags[pfn] & LMM_PG_DIRTY) {
            if (d == FOLIOREF_RECLAIM_CLEAN || !may_writepage) {
                keep[out[0]++] = pfn;
                continue;
            }
            if (swap_writepage(m, pfn)) {
                keep[out[0]++] = pfn;
                return -LMM_ENOMEM;
            }
            out[3]++;
        }
        /* __remove_mapping: only the swap cache's reference may remain */
        if (m->mapcount[pfn] || m->refcount[pfn] != 1) {
            keep[out[0]++] = pfn;
            continue;
        }
        int64_t age = ++m->swap_stat[LMM_SWS_NONRESIDENT_AGE];        /* workingset_eviction */
        swap_cache_delete(m, pfn, (age << 1) | ((m->flags[pfn] & LMM_PG_WORKINGSET) ? 1 : 0));
        m->refcount[pfn] = 0;
        release_page(m, pfn);
        out[1]++;
    }
    return n;
}
