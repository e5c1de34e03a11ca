/*
 * mmu_internal.h - the MMU engine's data structures (csrc/mmu.c, csrc/swap.c, csrc/snapshot.c).
 *
 * One struct lmm_mmu per machine: per-frame arrays, sparse page contents, the LRU lists and the
 * swap areas (struct lmm_swap_area, one per active swap_info_struct).  The small helpers the
 * fault path and swap share are static inline here.
 */
#ifndef LMM_MMU_INTERNAL_H
#define LMM_MMU_INTERNAL_H

#include <stdint.h>
#include <stdlib.h>
/* (after lmm.h, which has no include guard: it is also the cffi cdef) */

/* One swap area (struct swap_info_struct): per-slot arrays of max entries, slot 0 the header. */
struct lmm_swap_area {
    int32_t *swap_map;          /* PTEs holding each slot; -1 (SWAP_MAP_BAD) for the header */
    int64_t *cache;             /* the swap cache: slot -> pfn, -1 none */
    int64_t *shadow;            /* workingset shadow of an evicted folio (age << 1 | workingset),
                                   -1 none */
    uint8_t **data;             /* the bytes pageout wrote to a slot; NULL: zeros */
    int32_t *cluster_used;      /* slots in use per SWAPFILE_CLUSTER slots (the header counts) */
    int32_t *free_clusters;     /* FIFO ring of free clusters (head, count in info) */
    int64_t nclusters;
    int64_t info[LMM_NR_SWPI];  /* LMM_SWPI_*: max, pages, inuse_pages, current cluster, ... */
};

struct lmm_mmu {
    struct lmm_lock *lock;          /* its pa's, taken by every entry point (lock.h) */
    struct lmm_pa *pa;
    int64_t max_pfn, zero_pfn;
    int levels;                 /* 4: x86_64, 3: i386 PAE */
    int64_t nr_pgds;
    uint64_t task_size, user_top;
    uint32_t *flags;
    int32_t *refcount, *mapcount;
    int64_t *mapping, *index;
    uint8_t *level;             /* LMM_LEVEL_* of a table page, 0 otherwise */
    uint8_t **data;             /* page contents; a table page's entries */
    int64_t nr_data;
    int64_t error_index;
    int64_t events[LMM_NR_VM_EVENTS];
    int64_t node[LMM_NR_NODE_ITEMS];
    /* The node's LRU lists (struct lruvec): doubly linked through the frames, heads at
     * max_pfn + lru; -1 in both links: not on a list.  Only a folio's head frame is linked. */
    int32_t *lru_prev, *lru_next;
    /* swap: the areas by type, each swap-cache folio's entry (SWP_ENTRY(type, offset), 0 for
     * none; folio->swap), and swap's counters and readahead state (LMM_SWS_*) */
    struct lmm_swap_area *swap[LMM_MAX_SWAPFILES];
    int64_t *swap_entry;
    int64_t swap_stat[LMM_NR_SWAP_STATS];
};

/* swp_entry_t as the engine keeps it in swap_entry[] (never 0: slot 0 is the header) */
#define SWP_ENTRY(type, off) (((int64_t)(type) << 40) | (off))
#define SWP_TYPE(e) ((int)((e) >> 40))
#define SWP_OFFSET(e) ((e) & ((1LL << 40) - 1))

/* The bulk access loop's state (csrc/mmu.c), which swap-in faults share. */
struct access_ctx {
    struct lmm_mmu *m;
    int64_t pgd;
    int64_t *counters;
    const int64_t *snap;
    int64_t nvma;
    uint64_t region;            /* addr >> PMD_SHIFT of the cached PTE table, ~0: none */
    uint64_t *pte;
    int64_t wakeups;            /* the allocator's kswapd wakeups when the loop started */
};

/* what fault() returns besides LMM_ACCESS_*: completed as a major fault (never leaves C) */
#define ACCESS_DONE_MAJOR 100

static inline void drop_data(struct lmm_mmu *m, int64_t pfn)
{
    if (m->data[pfn]) {
        free(m->data[pfn]);
        m->data[pfn] = NULL;
        m->nr_data--;
    }
}

/* One order-0 page, cpu 0, no reclaim hook; -1 when the allocator refuses. */
static inline int64_t frame_alloc(struct lmm_mmu *m, uint32_t gfp)
{
    int64_t pfn = lmm_pa_alloc(m->pa, gfp, 0, 0);
    if (pfn < 0)
        return -1;
    if (pfn >= m->max_pfn) {            /* the Python layer refuses such allocators */
        lmm_pa_free(m->pa, pfn, 0, 0);
        return -1;
    }
    return pfn;
}

/* lruvec_add_folio(): list_add at the head (reclaim isolates from the tail). */
static inline void lru_add(struct lmm_mmu *m, int64_t pfn, int lru)
{
    int32_t head = (int32_t)(m->max_pfn + lru), next = m->lru_next[head];
    m->lru_next[head] = (int32_t)pfn;
    m->lru_prev[pfn] = head;
    m->lru_next[pfn] = next;
    m->lru_prev[next] = (int32_t)pfn;
}

/* csrc/mmu.c */
void release_page(struct lmm_mmu *m, int64_t pfn);
uint64_t *pte_slot_of(struct lmm_mmu *m, int64_t pgd, uint64_t addr);

/* csrc/swap.c */
void swap_area_free(struct lmm_swap_area *si);
int64_t swap_area_alloc_slot(struct lmm_swap_area *si);
void swap_cache_add(struct lmm_mmu *m, struct lmm_swap_area *si, int64_t pfn, int type, int64_t off);
void swap_cache_delete(struct lmm_mmu *m, int64_t pfn, int64_t shadow);
int swap_writepage(struct lmm_mmu *m, int64_t pfn);
int64_t swap_free_pages(const struct lmm_mmu *m, int64_t *total);
int do_swap_page(struct access_ctx *c, uint64_t *slot, uint64_t entry, const int64_t *row,
                 uint64_t addr, int write);

#endif
