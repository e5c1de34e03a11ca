/*
 * page_alloc_internal.h - the page allocator engine's data structures (csrc/page_alloc.c).
 *
 * A node has up to LMM_MAX_NR_ZONES zones; each zone embeds a struct lmm_buddy (free lists per
 * (order, migratetype), pageblock types, page metadata) and one struct per_cpu_pages per CPU.
 * Pages on a pcp list are linked through the same next/prev fields of struct lmm_page_meta as
 * free pages (a page is never on both), flagged PB_PCP, with mt holding the list index.
 * Allocated block heads (PB_HEAD) keep the allocation's migratetype in mt: movable allocations
 * stand for PageLRU pages when try_to_claim_block() counts a pageblock.
 */
#ifndef LMM_PAGE_ALLOC_INTERNAL_H
#define LMM_PAGE_ALLOC_INTERNAL_H

#include "buddy_internal.h"

#define PAGE_ALLOC_COSTLY_ORDER 3
#define PCP_BATCH_SCALE_MAX     5           /* CONFIG_PCP_BATCH_SCALE_MAX */
#define NR_LOWORDER_PCP_LISTS   (LMM_MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER + 1))
#define PCPF_PREV_FREE_HIGH_ORDER 0x1
#define PCPF_FREE_HIGH_BATCH      0x2   /* from the CPU cache size (zone_pcp_update_cacheinfo) */

/* enum rmqueue_mode */
#define RMQUEUE_NORMAL 0
#define RMQUEUE_CLAIM  2
#define RMQUEUE_STEAL  3

#define ALLOC_RESERVES (LMM_ALLOC_NON_BLOCK | LMM_ALLOC_MIN_RESERVE | LMM_ALLOC_HIGHATOMIC | \
                        LMM_ALLOC_OOM)

struct per_cpu_pages {
    int count;              /* pages on the lists */
    int high;
    int free_count;
    int alloc_factor;
    int flags;              /* PCPF_* */
    int pad;
    struct lmm_free_list lists[LMM_NR_PCP_LISTS];
};

struct released_range {
    int64_t start, end;
};

struct lmm_zone {
    struct lmm_buddy b;
    int idx;                /* position in the node's zone list */
    int kind;               /* LMM_ZONE_* */
    int64_t start, spanned;
    int64_t managed;
    int64_t wmark[4];       /* _watermark[]: min, low, high, promo */
    int64_t boost;          /* watermark_boost */
    int64_t lowmem_reserve[LMM_MAX_NR_ZONES];
    int64_t nr_reserved_highatomic;
    int64_t pgalloc;
    int below_high;         /* ZONE_BELOW_HIGH */
    int boosted;            /* ZONE_BOOSTED_WATERMARK */
    int batch, high_min, high_max;
    struct per_cpu_pages *pcp;      /* [cpus] */
    struct released_range *released;
    int nr_released, cap_released;
};

struct lmm_pa {
    struct lmm_lock *lock;          /* taken by every entry point; NULL: none (lock.h) */
    int nr_zones;
    int cpus;
    int max_order;
    int pageblock_order;
    int thp;
    int nr_pcp_lists;
    int watermark_boost_factor;
    int mobility_disabled;
    int has_dma32;
    int normal_idx;
    int movable_idx;        /* highest zone index up to ZONE_MOVABLE, for ZONE_BELOW_HIGH */
    signed char zone_table[16];     /* GFP_ZONE_TABLE, -1 = GFP_ZONE_BAD */
    int zonelist[LMM_MAX_NR_ZONES]; /* managed zones, highest first */
    int nr_zonelist;
    int preferred[LMM_MAX_NR_ZONES];/* first zonelist position with idx <= highest, per highest */
    int64_t min_pfn, max_pfn;
    int64_t pgfree;
    int64_t kswapd_wakeups;
    int64_t error_index;
    const uint32_t *frame_flags;    /* the fault path's per-frame flags (lmm_pa_set_frame_owners) */
    int64_t nr_frames;
    uint32_t frame_mask;            /* owner bits: a frame with one of them set is not ours */
    int handle;                     /* lmm_pa_handle(), -1: none */
    struct lmm_zone zones[LMM_MAX_NR_ZONES];
};

/* Give pa its handle (lmm_pa_handle); -1 when the table is full. */
int lmm_pa_register_handle(struct lmm_pa *pa);

/* ---- helpers shared by page_alloc.c and page_alloc_inspect.c ---- */

static inline int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    if (v < lo)
        v = lo;
    return v > hi ? hi : v;
}

static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static inline struct lmm_zone *pfn_to_zone(struct lmm_pa *pa, int64_t pfn)
{
    for (int i = pa->nr_zones - 1; i >= 0; i--) {
        struct lmm_zone *z = &pa->zones[i];
        if ((uint64_t)(pfn - z->start) < (uint64_t)z->spanned)
            return z;
    }
    return NULL;
}

static inline int zone_spans_pfn(const struct lmm_zone *z, int64_t pfn)
{
    return (uint64_t)(pfn - z->start) < (uint64_t)z->spanned;
}

static inline int order_to_pindex(int mt, int order)
{
    if (order > PAGE_ALLOC_COSTLY_ORDER)
        return NR_LOWORDER_PCP_LISTS + (mt == LMM_MIGRATE_MOVABLE);
    return LMM_MIGRATE_PCPTYPES * order + mt;
}

static inline int pindex_to_order(const struct lmm_pa *pa, int pindex)
{
    return pindex >= NR_LOWORDER_PCP_LISTS ? pa->pageblock_order : pindex / LMM_MIGRATE_PCPTYPES;
}

static inline int pcp_allowed_order(const struct lmm_pa *pa, int order)
{
    return order <= PAGE_ALLOC_COSTLY_ORDER || (pa->thp && order == pa->pageblock_order);
}

/* Does the fault path own the frame (PG_ANON, PG_FILE, PG_PGTABLE, PG_ZERO)? */
static inline int frame_is_mapped(const struct lmm_pa *pa, int64_t pfn)
{
    return (uint64_t)pfn < (uint64_t)pa->nr_frames && (pa->frame_flags[pfn] & pa->frame_mask);
}

#endif
