/*
 * page_alloc.c - one node of Linux 6.x's zoned page allocator (mm/page_alloc.c).
 *
 * The fast path (get_page_from_freelist at the low watermark, ALLOC_NOFRAGMENT first when the
 * preferred zone is Normal and DMA32 exists), the slow path's alloc_flags (gfp_to_alloc_flags:
 * min watermark, __GFP_HIGH and non-blocking reductions, highatomic), the watermark test with
 * lowmem_reserve, per-CPU lists with Linux's batch/high arithmetic, migratetype fallback that
 * claims or steals pageblocks, the highatomic reserve and watermark boosting.  Function names
 * follow the kernel's; linuxmm/reference/page_alloc.py is the same algorithm in Python.
 *
 * Every entry point validates its arguments and returns a negative LMM_E* code without touching
 * state.  The engine knows no formulas: boot code pushes watermarks, lowmem_reserve and pcp
 * sizes in with lmm_pa_set_tunables().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lock.h"
#include "page_alloc_internal.h"
#include "handles.h"

static const int fallbacks[LMM_MIGRATE_PCPTYPES][2] = {
    [LMM_MIGRATE_UNMOVABLE]   = { LMM_MIGRATE_RECLAIMABLE, LMM_MIGRATE_MOVABLE },
    [LMM_MIGRATE_MOVABLE]     = { LMM_MIGRATE_RECLAIMABLE, LMM_MIGRATE_UNMOVABLE },
    [LMM_MIGRATE_RECLAIMABLE] = { LMM_MIGRATE_UNMOVABLE,   LMM_MIGRATE_MOVABLE },
};

/* ===================================================================== creation == */

/* Integer handles for the Python fast paths (handles.h). */
#define NR_PA_HANDLES (1 << 16)
static void *pa_handles[NR_PA_HANDLES];

int lmm_pa_register_handle(struct lmm_pa *pa)
{
    return pa->handle = handle_claim(pa_handles, NR_PA_HANDLES, pa);
}

int lmm_pa_handle(struct lmm_pa *pa)
{
    return pa->handle;
}

/* The allocator, CPU and order of a key (lmm.h); NULL when it names no allocator. */
static inline struct lmm_pa *key_pa(int64_t key, int *cpu, int *order)
{
    uint64_t h = (uint64_t)key >> (LMM_PA_KEY_CPU_BITS + LMM_PA_KEY_ORDER_BITS);
    *cpu = (int)((key >> LMM_PA_KEY_ORDER_BITS) & ((1 << LMM_PA_KEY_CPU_BITS) - 1));
    *order = (int)(key & ((1 << LMM_PA_KEY_ORDER_BITS) - 1));
    return handle_lookup(pa_handles, NR_PA_HANDLES, h);
}

int64_t lmm_pa_alloc_k(uint32_t gfp, int64_t key)
{
    int cpu, order;
    struct lmm_pa *pa = key_pa(key, &cpu, &order);
    return pa ? lmm_pa_alloc(pa, gfp, order, cpu) : -LMM_EINVAL;
}

int64_t lmm_pa_free_k(int64_t pfn, int64_t key)
{
    int cpu, order;
    struct lmm_pa *pa = key_pa(key, &cpu, &order);
    return pa ? lmm_pa_free(pa, pfn, order, cpu) : -LMM_EINVAL;
}

static int zone_init(struct lmm_pa *pa, struct lmm_zone *z, int idx, int kind, int64_t start,
                     int64_t spanned)
{
    struct lmm_buddy *b = &z->b;

    z->idx = idx;
    z->kind = kind;
    z->start = start;
    z->spanned = spanned;
    for (int o = 0; o <= LMM_MAX_ORDER_LIMIT; o++)
        for (int t = 0; t < LMM_MIGRATE_TYPES; t++)
            b->free_list[o][t].head = b->free_list[o][t].tail = LMM_NIL;
    b->start_pfn = start;
    b->nr_pages = spanned;
    b->max_order = pa->max_order;
    b->pageblock_order = pa->pageblock_order;
    b->error_index = -1;
    b->handle = -1;
    z->pcp = calloc((size_t)pa->cpus, sizeof(struct per_cpu_pages));
    if (!z->pcp)
        return -1;
    for (int c = 0; c < pa->cpus; c++)
        for (int l = 0; l < LMM_NR_PCP_LISTS; l++)
            z->pcp[c].lists[l].head = z->pcp[c].lists[l].tail = LMM_NIL;
    z->batch = 1;           /* the boot pageset: batch 1, high 0 */
    if (!spanned)
        return 0;
    b->first_pageblock = start >> pa->pageblock_order;
    b->nr_pageblocks = ((start + spanned - 1) >> pa->pageblock_order) - b->first_pageblock + 1;
    int meta = buddy_meta_alloc(b);
    b->pageblock_mt = malloc((size_t)b->nr_pageblocks);
    if (meta || !b->pageblock_mt)
        return -1;
    memset(b->pageblock_mt, LMM_MIGRATE_MOVABLE, (size_t)b->nr_pageblocks);
    return 0;
}

struct lmm_lock *lmm_pa_lock(struct lmm_pa *pa)
{
    return pa->lock;
}

void lmm_pa_destroy(struct lmm_pa *pa)
{
    if (!pa)
        return;
    handle_release(pa_handles, NR_PA_HANDLES, pa->handle, pa);
    for (int i = 0; i < pa->nr_zones; i++) {
        buddy_meta_free(&pa->zones[i].b);
        free(pa->zones[i].b.pageblock_mt);
        free(pa->zones[i].pcp);
        free(pa->zones[i].released);
    }
    lmm_lock_destroy(pa->lock);
    free(pa);
}

/* GFP_ZONE_TABLE for the configured zones (include/linux/gfp.h), OPT_ZONE_* -> Normal if absent. */
static void build_zone_table(struct lmm_pa *pa)
{
    int by_kind[LMM_MAX_NR_ZONES];

    for (int k = 0; k < LMM_MAX_NR_ZONES; k++)
        by_kind[k] = -1;
    for (int i = 0; i < pa->nr_zones; i++)
        by_kind[pa->zones[i].kind] = i;
    int normal = by_kind[LMM_ZONE_NORMAL];
#define OPT(k) (by_kind[k] >= 0 ? by_kind[k] : normal)
    for (int bits = 0; bits < 16; bits++) {
        int z = bits & (LMM_GFP_DMA | LMM_GFP_DMA32 | LMM_GFP_HIGHMEM);
        if (z & (z - 1))
            pa->zone_table[bits] = -1;
        else if (bits & LMM_GFP_DMA)
            pa->zone_table[bits] = (signed char)OPT(LMM_ZONE_DMA);
        else if (bits & LMM_GFP_DMA32)
            pa->zone_table[bits] = (signed char)OPT(LMM_ZONE_DMA32);
        else if (bits & LMM_GFP_HIGHMEM)
            pa->zone_table[bits] = (signed char)((bits & LMM_GFP_MOVABLE) ? OPT(LMM_ZONE_MOVABLE)
                                                                          : OPT(LMM_ZONE_HIGHMEM));
        else
            pa->zone_table[bits] = (signed char)normal;
    }
#undef OPT
    pa->has_dma32 = by_kind[LMM_ZONE_DMA32] >= 0;
    pa->normal_idx = normal;
    pa->movable_idx = 0;
    for (int i = 0; i < pa->nr_zones; i++)
        if (pa->zones[i].kind <= LMM_ZONE_MOVABLE)
            pa->movable_idx = i;
}

/* build_zonerefs_node(): managed zones from the highest down; page_group_by_mobility_disabled. */
static void build_all_zonelists(struct lmm_pa *pa)
{
    int64_t total = 0;

    pa->nr_zonelist = 0;
    for (int i = pa->nr_zones - 1; i >= 0; i--) {
        if (pa->zones[i].managed)
            pa->zonelist[pa->nr_zonelist++] = i;
        total += pa->zones[i].managed;
    }
    for (int h = 0; h < pa->nr_zones; h++) {
        int k = 0;
        while (k < pa->nr_zonelist && pa->zonelist[k] > h)
            k++;
        pa->preferred[h] = k;
    }
    pa->mobility_disabled = total < ((int64_t)1 << pa->pageblock_order) * LMM_MIGRATE_TYPES;
    for (int i = 0; i < pa->nr_zones; i++)
        pa->zones[i].b.mobility_disabled = pa->mobility_disabled;
}

struct lmm_pa *lmm_pa_create(int nr_zones, const int *kinds, const int64_t *starts,
                             const int64_t *spanned, int cpus, int max_order, int pageblock_order,
                             int thp, int watermark_boost_factor)
{
    if (nr_zones < 1 || nr_zones > LMM_MAX_NR_ZONES || cpus < 1 || cpus > LMM_MAX_CPUS ||
        max_order < 0 || max_order > LMM_MAX_ORDER_LIMIT || pageblock_order < 0 ||
        pageblock_order > max_order || watermark_boost_factor < 0)
        return NULL;
    int normal = 0;
    int64_t last_end = 0;
    for (int i = 0; i < nr_zones; i++) {
        if (kinds[i] < 0 || kinds[i] >= LMM_MAX_NR_ZONES || (i && kinds[i] <= kinds[i - 1]))
            return NULL;
        if (starts[i] < 0 || starts[i] > ((int64_t)1 << 62) || spanned[i] < 0 ||
            spanned[i] >= (int64_t)LMM_NIL)
            return NULL;
        if (spanned[i]) {
            if (starts[i] < last_end)
                return NULL;
            last_end = starts[i] + spanned[i];
        }
        normal |= kinds[i] == LMM_ZONE_NORMAL;
    }
    if (!normal)
        return NULL;
    struct lmm_pa *pa = calloc(1, sizeof(*pa));
    if (!pa)
        return NULL;
    pa->handle = -1;
    pa->lock = lmm_lock_create();
    if (!pa->lock) {
        free(pa);
        return NULL;
    }
    pa->nr_zones = nr_zones;
    pa->cpus = cpus;
    pa->max_order = max_order;
    pa->pageblock_order = pageblock_order;
    pa->thp = thp && pageblock_order > PAGE_ALLOC_COSTLY_ORDER;
    pa->nr_pcp_lists = NR_LOWORDER_PCP_LISTS + (pa->thp ? 2 : 0);
    pa->watermark_boost_factor = watermark_boost_factor;
    pa->error_index = -1;
    pa->min_pfn = INT64_MAX;
    for (int i = 0; i < nr_zones; i++) {
        if (zone_init(pa, &pa->zones[i], i, kinds[i], starts[i], spanned[i])) {
            pa->nr_zones = i + 1;
            lmm_pa_destroy(pa);
            return NULL;
        }
        if (spanned[i]) {
            pa->min_pfn = min64(pa->min_pfn, starts[i]);
            pa->max_pfn = max64(pa->max_pfn, starts[i] + spanned[i]);
        }
    }
    if (pa->min_pfn == INT64_MAX)
        pa->min_pfn = 0;
    build_zone_table(pa);
    build_all_zonelists(pa);
    if (lmm_pa_register_handle(pa) < 0) {
        lmm_pa_destroy(pa);
        return NULL;
    }
    return pa;
}

int64_t lmm_pa_metadata_bytes(struct lmm_pa *pa)
{
    LMM_LOCKED(pa->lock);
    int64_t n = (int64_t)sizeof(*pa);
    for (int i = 0; i < pa->nr_zones; i++)
        n += (pa->zones[i].spanned ? pa->zones[i].b.meta_len : 0) *
             (int64_t)sizeof(struct lmm_page_meta) +
             pa->zones[i].b.nr_pageblocks + pa->cpus * (int64_t)sizeof(struct per_cpu_pages);
    return n;
}

/* ===================================================================== free lists == */

/* split_large_buddy(): a block above pageblock_order is freed one pageblock at a time. */
static void split_large_buddy(struct lmm_buddy *b, int64_t pfn, int order, int fpi)
{
    int64_t end = pfn + ((int64_t)1 << order);

    if (order > b->pageblock_order) {
        /* When every pageblock of the block has the same type the pageblock-sized frees just
         * reassemble it (no merge is refused, nothing is retagged, the intermediate list entries
         * vanish), so one free at full order leaves the same state and touches one struct page
         * instead of one per pageblock: boot of a large machine pays half the page faults. */
        int mt = get_pfnblock_migratetype(b, pfn), same = 1;
        for (int64_t p = pfn + ((int64_t)1 << b->pageblock_order); p < end && same;
             p += (int64_t)1 << b->pageblock_order)
            same = get_pfnblock_migratetype(b, p) == mt;
        if (same) {
            free_one_page(b, pfn, order, mt, fpi);
            return;
        }
        order = b->pageblock_order;
    }
    do {
        free_one_page(b, pfn, order, get_pfnblock_migratetype(b, pfn), fpi);
        pfn += (int64_t)1 << order;
    } while (pfn < end);
}

static void move_to_free_list_tail(struct lmm_buddy *b, uint32_t idx, int new_mt)
{
    int order = b->pages[idx].order, old_mt = b->pages[idx].mt;
    __del_page_from_free_list(b, idx, order, old_mt);
    __add_to_free_list(b, idx, order, new_mt, 1);
    account_freepages(b, -((int64_t)1 << order), old_mt);
    account_freepages(b, (int64_t)1 << order, new_mt);
}

static void change_pageblock_range(struct lmm_buddy *b, int64_t pfn, int order, int mt)
{
    int64_t nr = (int64_t)1 << b->pageblock_order;
    int64_t n = (int64_t)1 << order;
    if (n < nr)
        n = nr;
    for (int64_t p = pfn; p < pfn + n; p += nr)
        set_pageblock_migratetype(b, p, mt);
}

/* ===================================================================== fallback == */

static inline int should_try_claim_block(const struct lmm_pa *pa, int order, int start_mt)
{
    return order >= pa->pageblock_order || order >= pa->pageblock_order / 2 ||
           start_mt == LMM_MIGRATE_RECLAIMABLE || start_mt == LMM_MIGRATE_UNMOVABLE ||
           pa->mobility_disabled;
}

static int find_suitable_fallback(const struct lmm_pa *pa, const struct lmm_buddy *b, int order,
                                  int mt, int claimable)
{
    if (claimable && !should_try_claim_block(pa, order, mt))
        return -2;
    for (int i = 0; i < 2; i++) {
        int fb = fallbacks[mt][i];
        if (b->free_list[order][fb].head != LMM_NIL)
            return fb;
    }
    return -1;
}

static int boost_watermark(struct lmm_pa *pa, struct lmm_zone *z)
{
    int64_t nr = (int64_t)1 << pa->pageblock_order;
    int64_t f = pa->watermark_boost_factor;

    if (!f || nr * 4 > z->managed)
        return 0;
    int64_t high = z->wmark[2];
    int64_t max_boost = (high / 10000) * f + ((high % 10000) * f) / 10000;     /* mult_frac */
    if (!max_boost)
        return 0;
    max_boost = max64(nr, max_boost);
    z->boost = min64(z->boost + nr, max_boost);
    return 1;
}

/* prep_move_freepages_block(): 0 if the pageblock leaves the zone; else start, free, movable. */
static int prep_move_freepages_block(struct lmm_pa *pa, struct lmm_zone *z, int64_t pfn,
                                     int64_t *start_pfn, int64_t *nr_free, int64_t *nr_movable)
{
    int64_t nr = (int64_t)1 << pa->pageblock_order;
    int64_t start = pfn & ~(nr - 1), end = start + nr;

    if (!zone_spans_pfn(z, start) || !zone_spans_pfn(z, end - 1))
        return 0;
    *start_pfn = start;
    if (!nr_free)
        return 1;
    int64_t f = 0, m = 0;
    const struct lmm_page_meta *pages = z->b.pages;
    for (int64_t i = start - z->start, e = end - z->start; i < e;) {
        const struct lmm_page_meta *p = &pages[i];
        if (!(p->flags & (PB_BUDDY | PB_HEAD | PB_PCP))) {
            i++;
            continue;
        }
        int64_t n = (int64_t)1 << p->order;
        if (p->flags & PB_BUDDY)
            f += n;
        else if ((p->flags & PB_HEAD) && p->mt == LMM_MIGRATE_MOVABLE)
            m += n;                                 /* PageLRU: a movable allocation */
        i += n;
    }
    *nr_free = f;
    *nr_movable = m;
    return 1;
}

/* __move_freepages_block(): the pageblock's free blocks to the tail of new_mt's lists. */
static void move_freepages_block_pages(struct lmm_pa *pa, struct lmm_zone *z, int64_t start,
                                       int new_mt)
{
    struct lmm_buddy *b = &z->b;
    int64_t e = start - z->start + ((int64_t)1 << pa->pageblock_order);

    for (int64_t i = start - z->start; i < e;) {
        struct lmm_page_meta *p = &b->pages[i];
        if (!(p->flags & (PB_BUDDY | PB_HEAD | PB_PCP))) {
            i++;
            continue;
        }
        int64_t n = (int64_t)1 << p->order;
        if (p->flags & PB_BUDDY)
            move_to_free_list_tail(b, (uint32_t)i, new_mt);
        i += n;
    }
}

static uint32_t try_to_claim_block(struct lmm_pa *pa, struct lmm_zone *z, uint32_t idx,
                                   int current_order, int order, int start_mt, int block_mt,
                                   int flags)
{
    struct lmm_buddy *b = &z->b;

    if (current_order >= pa->pageblock_order) {
        del_page_from_free_list(b, idx);
        change_pageblock_range(b, idx_to_pfn(b, idx), current_order, start_mt);
        account_freepages(b, expand(b, idx, order, current_order, start_mt), start_mt);
        return idx;
    }
    if (boost_watermark(pa, z) && (flags & LMM_ALLOC_KSWAPD))
        z->boosted = 1;
    int64_t start, nr_free, nr_movable, alike;
    if (!prep_move_freepages_block(pa, z, idx_to_pfn(b, idx), &start, &nr_free, &nr_movable))
        return LMM_NIL;
    if (start_mt == LMM_MIGRATE_MOVABLE)
        alike = nr_movable;
    else if (block_mt == LMM_MIGRATE_MOVABLE)
        alike = ((int64_t)1 << pa->pageblock_order) - (nr_free + nr_movable);
    else
        alike = 0;
    if (nr_free + alike >= ((int64_t)1 << (pa->pageblock_order - 1)) || pa->mobility_disabled) {
        move_freepages_block_pages(pa, z, start, start_mt);
        set_pageblock_migratetype(b, start, start_mt);
        return rmqueue_smallest(b, order, start_mt);
    }
    return LMM_NIL;
}

static uint32_t rmqueue_claim(struct lmm_pa *pa, struct lmm_zone *z, int order, int start_mt,
                              int flags)
{
    struct lmm_buddy *b = &z->b;
    int min_order = order;

    if (order < pa->pageblock_order && (flags & LMM_ALLOC_NOFRAGMENT))
        min_order = pa->pageblock_order;
    for (int o = pa->max_order; o >= min_order; o--) {
        int fb = find_suitable_fallback(pa, b, o, start_mt, 1);
        if (fb == -1)
            continue;
        if (fb == -2)
            break;
        uint32_t idx = try_to_claim_block(pa, z, b->free_list[o][fb].head, o, order, start_mt,
                                          fb, flags);
        if (idx != LMM_NIL)
            return idx;
    }
    return LMM_NIL;
}

static uint32_t rmqueue_steal(struct lmm_pa *pa, struct lmm_zone *z, int order, int start_mt)
{
    struct lmm_buddy *b = &z->b;

    for (int o = order; o <= pa->max_order; o++) {
        int fb = find_suitable_fallback(pa, b, o, start_mt, 0);
        if (fb == -1)
            continue;
        uint32_t idx = b->free_list[o][fb].head;
        page_del_and_expand(b, idx, order, o, fb);
        return idx;
    }
    return LMM_NIL;
}

/* __rmqueue() (6.15+, no CMA): *mode remembers the level that worked during one refill. */
static inline uint32_t rmqueue(struct lmm_pa *pa, struct lmm_zone *z, int order, int mt,
                               int flags, int *mode)
{
    uint32_t idx;

    if (*mode == RMQUEUE_NORMAL) {
        idx = rmqueue_smallest(&z->b, order, mt);
        if (idx != LMM_NIL)
            return idx;
    }
    if (*mode <= RMQUEUE_CLAIM) {
        idx = rmqueue_claim(pa, z, order, mt, flags);
        if (idx != LMM_NIL) {
            *mode = RMQUEUE_NORMAL;
            return idx;
        }
    }
    if (!(flags & LMM_ALLOC_NOFRAGMENT)) {
        idx = rmqueue_steal(pa, z, order, mt);
        if (idx != LMM_NIL) {
            *mode = RMQUEUE_STEAL;
            return idx;
        }
    }
    return LMM_NIL;
}

/* ===================================================================== watermarks == */

static inline int64_t unusable_free(const struct lmm_zone *z, int order, int flags)
{
    int64_t u = ((int64_t)1 << order) - 1;
    if (!(flags & ALLOC_RESERVES))
        u += z->b.free_pages_mt[LMM_MIGRATE_HIGHATOMIC];
    return u;
}

static int zone_watermark_ok(const struct lmm_pa *pa, const struct lmm_zone *z, int order,
                             int64_t mark, int highest, int flags, int64_t free_pages)
{
    const struct lmm_buddy *b = &z->b;
    int64_t min = mark;

    free_pages -= unusable_free(z, order, flags);
    if (flags & ALLOC_RESERVES) {
        if (flags & LMM_ALLOC_MIN_RESERVE) {
            min -= min / 2;
            if (flags & LMM_ALLOC_NON_BLOCK)
                min -= min / 4;
        }
        if (flags & LMM_ALLOC_OOM)
            min -= min / 2;
    }
    if (free_pages <= min + z->lowmem_reserve[highest])
        return 0;
    if (order == 0)
        return 1;
    for (int o = order; o <= pa->max_order; o++) {
        for (int mt = 0; mt < LMM_MIGRATE_PCPTYPES; mt++)
            if (b->free_list[o][mt].head != LMM_NIL)
                return 1;
        if ((flags & (LMM_ALLOC_HIGHATOMIC | LMM_ALLOC_OOM)) &&
            b->free_list[o][LMM_MIGRATE_HIGHATOMIC].head != LMM_NIL)
            return 1;
    }
    return 0;
}

static inline int zone_watermark_fast(const struct lmm_pa *pa, const struct lmm_zone *z, int order,
                                      int64_t mark, int highest, int flags)
{
    int64_t free_pages = z->b.free_pages;

    if (!order) {
        int64_t usable = free_pages - min64(free_pages, unusable_free(z, 0, flags));
        if (usable > mark + z->lowmem_reserve[highest])
            return 1;
    }
    if (zone_watermark_ok(pa, z, order, mark, highest, flags, free_pages))
        return 1;
    if (!order && (flags & LMM_ALLOC_MIN_RESERVE) && z->boost &&
        (flags & LMM_ALLOC_WMARK_MASK) == LMM_ALLOC_WMARK_MIN)
        return zone_watermark_ok(pa, z, order, z->wmark[0], highest, flags, free_pages);
    return 0;
}

static inline int64_t wmark_pages(const struct lmm_zone *z, int k)
{
    return z->wmark[k] + z->boost;
}

/* ===================================================================== pcp lists == */

static inline void pcp_add(struct lmm_page_meta *pages, struct lmm_free_list *l, uint32_t idx,
                           int tail)
{
    struct lmm_page_meta *p = &pages[idx];
    if (l->head == LMM_NIL) {
        p->next = p->prev = LMM_NIL;
        l->head = l->tail = idx;
    } else if (tail) {
        p->prev = l->tail;
        p->next = LMM_NIL;
        pages[l->tail].next = idx;
        l->tail = idx;
    } else {
        p->next = l->head;
        p->prev = LMM_NIL;
        pages[l->head].prev = idx;
        l->head = idx;
    }
}

static inline void pcp_del(struct lmm_page_meta *pages, struct lmm_free_list *l, uint32_t idx)
{
    struct lmm_page_meta *p = &pages[idx];
    if (p->prev == LMM_NIL)
        l->head = p->next;
    else
        pages[p->prev].next = p->next;
    if (p->next == LMM_NIL)
        l->tail = p->prev;
    else
        pages[p->next].prev = p->prev;
}

static int nr_pcp_alloc(struct per_cpu_pages *pcp, struct lmm_zone *z, int order)
{
    int base = z->batch;
    int high = pcp->high = (int)clamp64(pcp->high, z->high_min, z->high_max);
    int batch;

    if (high < base)
        return 1;
    batch = order ? base : base << pcp->alloc_factor;
    if (z->high_min != z->high_max && !z->below_high)
        high = pcp->high = (int)min64((int64_t)high + batch, z->high_max);
    if (!order) {
        int max_nr_alloc = (int)max64((int64_t)high - pcp->count - base, base);
        if (batch <= max_nr_alloc && pcp->alloc_factor < PCP_BATCH_SCALE_MAX)
            pcp->alloc_factor++;
        batch = batch < max_nr_alloc ? batch : max_nr_alloc;
    }
    if (batch > 1)
        batch = (batch >> order) > 2 ? batch >> order : 2;
    return batch;
}

/* rmqueue_bulk(): count blocks appended at the list's tail, under one zone-lock hold. */
static int rmqueue_bulk(struct lmm_pa *pa, struct lmm_zone *z, int order, int count,
                        struct lmm_free_list *list, int mt, int flags)
{
    struct lmm_page_meta *pages = z->b.pages;
    int mode = RMQUEUE_NORMAL;
    uint8_t pindex = (uint8_t)order_to_pindex(mt, order);

    for (int i = 0; i < count; i++) {
        uint32_t idx = rmqueue(pa, z, order, mt, flags, &mode);
        if (idx == LMM_NIL)
            return i;
        pcp_add(pages, list, idx, 1);
        pages[idx].state = PAGE_STATE(PB_PCP, order, pindex);
    }
    return count;
}

/* __rmqueue_pcplist(): the list head, refilled from the buddy lists when empty. */
static inline uint32_t rmqueue_pcplist_inner(struct lmm_pa *pa, struct lmm_zone *z, int order,
                                             int mt, int flags, struct per_cpu_pages *pcp)
{
    struct lmm_free_list *list = &pcp->lists[order_to_pindex(mt, order)];

    if (list->head == LMM_NIL) {
        int batch = nr_pcp_alloc(pcp, z, order);
        int n = rmqueue_bulk(pa, z, order, batch, list, mt, flags);
        pcp->count += n << order;
        if (list->head == LMM_NIL)
            return LMM_NIL;
    }
    uint32_t idx = list->head;
    pcp_del(z->b.pages, list, idx);
    pcp->count -= 1 << order;
    return idx;
}

static void free_pcppages_bulk(struct lmm_pa *pa, struct lmm_zone *z, int count,
                               struct per_cpu_pages *pcp, int pindex)
{
    struct lmm_buddy *b = &z->b;

    if (count > pcp->count)
        count = pcp->count;
    pindex--;
    while (count > 0) {
        struct lmm_free_list *list;
        do {
            if (++pindex > pa->nr_pcp_lists - 1)
                pindex = 0;
            list = &pcp->lists[pindex];
        } while (list->head == LMM_NIL);
        int order = pindex_to_order(pa, pindex);
        int nr = 1 << order;
        do {
            uint32_t idx = list->tail;
            pcp_del(b->pages, list, idx);
            b->pages[idx].state = 0;
            count -= nr;
            pcp->count -= nr;
            int64_t pfn = idx_to_pfn(b, idx);
            free_one_page(b, pfn, order, get_pfnblock_migratetype(b, pfn), LMM_FPI_NONE);
        } while (count > 0 && list->head != LMM_NIL);
    }
}

static inline int nr_pcp_free(struct per_cpu_pages *pcp, int batch, int high, int free_high)
{
    if (free_high)
        return (int)min64(pcp->count, (int64_t)batch << PCP_BATCH_SCALE_MAX);
    if (high < batch)           /* pcp disabled or boot pageset */
        return 1;
    return (int)clamp64(pcp->free_count, batch, (int64_t)high - batch);
}

static inline int nr_pcp_high(struct per_cpu_pages *pcp, struct lmm_zone *z, int batch,
                              int free_high)
{
    int high = pcp->high = (int)clamp64(pcp->high, z->high_min, z->high_max);

    if (!high)
        return 0;
    if (free_high) {
        int64_t lowered = (int64_t)high - ((int64_t)batch << PCP_BATCH_SCALE_MAX);
        pcp->high = (int)max64(lowered, z->high_min);
        return 0;
    }
    if (z->high_min == z->high_max)
        return high;
    if (z->below_high) {
        int free_count = pcp->free_count > batch ? pcp->free_count : batch;
        pcp->high = (int)max64((int64_t)high - free_count, z->high_min);
        high = (int)max64(pcp->count, z->high_min);
    } else if (pcp->count >= high) {
        int need_high = pcp->free_count + batch;
        if (pcp->high < need_high)
            pcp->high = (int)clamp64(need_high, z->high_min, z->high_max);
    }
    return high;
}

static inline void free_frozen_page_commit(struct lmm_pa *pa, struct lmm_zone *z,
                                           struct per_cpu_pages *pcp, uint32_t idx, int mt,
                                           int order)
{
    struct lmm_page_meta *pages = z->b.pages;
    int pindex = order_to_pindex(mt, order);
    int batch = z->batch, free_high = 0;

    pcp->alloc_factor >>= 1;
    pa->pgfree += 1 << order;
    pcp_add(pages, &pcp->lists[pindex], idx, 0);
    pages[idx].state = PAGE_STATE(PB_PCP, order, pindex);
    pcp->count += 1 << order;
    if (order && order <= PAGE_ALLOC_COSTLY_ORDER) {
        free_high = pcp->free_count >= batch + z->high_min / 2 &&
                    (pcp->flags & PCPF_PREV_FREE_HIGH_ORDER) &&
                    (!(pcp->flags & PCPF_FREE_HIGH_BATCH) || pcp->count >= batch);
        pcp->flags |= PCPF_PREV_FREE_HIGH_ORDER;
    } else if (pcp->flags & PCPF_PREV_FREE_HIGH_ORDER) {
        pcp->flags &= ~PCPF_PREV_FREE_HIGH_ORDER;
    }
    if ((int64_t)pcp->free_count < ((int64_t)batch << PCP_BATCH_SCALE_MAX))
        pcp->free_count += 1 << order;
    int high = nr_pcp_high(pcp, z, batch, free_high);
    if (pcp->count >= high) {
        free_pcppages_bulk(pa, z, nr_pcp_free(pcp, batch, high, free_high), pcp, pindex);
        if (z->below_high && zone_watermark_ok(pa, z, 0, wmark_pages(z, 2), pa->movable_idx, 0,
                                               z->b.free_pages))
            z->below_high = 0;
    }
}

/* __free_frozen_pages() of a validated allocated block. */
static inline void free_frozen_pages(struct lmm_pa *pa, struct lmm_zone *z, int64_t pfn, int order,
                                     int cpu)
{
    struct lmm_buddy *b = &z->b;
    uint32_t idx = pfn_to_idx(b, pfn);

    b->pages[idx].flags = 0;
    if (!pcp_allowed_order(pa, order)) {
        pa->pgfree += (int64_t)1 << order;
        split_large_buddy(b, pfn, order, LMM_FPI_NONE);
        return;
    }
    int mt = get_pfnblock_migratetype(b, pfn);
    if (mt >= LMM_MIGRATE_PCPTYPES)
        mt = LMM_MIGRATE_MOVABLE;       /* HIGHATOMIC pages are cached on the movable list */
    free_frozen_page_commit(pa, z, &z->pcp[cpu], idx, mt, order);
}

static void drain_pages_zone(struct lmm_pa *pa, struct lmm_zone *z, int cpu)
{
    struct per_cpu_pages *pcp = &z->pcp[cpu];
    while (pcp->count) {
        int to_drain = (int)min64(pcp->count, (int64_t)z->batch << PCP_BATCH_SCALE_MAX);
        free_pcppages_bulk(pa, z, to_drain, pcp, 0);
    }
}

int lmm_pa_drain(struct lmm_pa *pa, int cpu)
{
    LMM_LOCKED(pa->lock);
    if (cpu < -1 || cpu >= pa->cpus)
        return -LMM_ECPU;
    for (int c = cpu < 0 ? 0 : cpu; c < (cpu < 0 ? pa->cpus : cpu + 1); c++)
        for (int i = 0; i < pa->nr_zones; i++)
            if (pa->zones[i].spanned)
                drain_pages_zone(pa, &pa->zones[i], c);
    return 0;
}

/* ===================================================================== allocation == */

static uint32_t rmqueue_buddy(struct lmm_pa *pa, struct lmm_zone *z, int order, int flags, int mt)
{
    uint32_t idx = LMM_NIL;

    if (flags & LMM_ALLOC_HIGHATOMIC)
        idx = rmqueue_smallest(&z->b, order, LMM_MIGRATE_HIGHATOMIC);
    if (idx == LMM_NIL) {
        int mode = RMQUEUE_NORMAL;
        idx = rmqueue(pa, z, order, mt, flags, &mode);
        if (idx == LMM_NIL && (flags & (LMM_ALLOC_OOM | LMM_ALLOC_NON_BLOCK)))
            idx = rmqueue_smallest(&z->b, order, LMM_MIGRATE_HIGHATOMIC);
        if (idx == LMM_NIL)
            return LMM_NIL;
    }
    z->pgalloc += (int64_t)1 << order;
    return idx;
}

static inline uint32_t rmqueue_zone(struct lmm_pa *pa, struct lmm_zone *z, int order, int flags,
                                    int mt, int cpu)
{
    uint32_t idx = LMM_NIL;

    if (pcp_allowed_order(pa, order)) {
        struct per_cpu_pages *pcp = &z->pcp[cpu];
        pcp->free_count >>= 1;
        idx = rmqueue_pcplist_inner(pa, z, order, mt, flags, pcp);
        if (idx != LMM_NIL)
            z->pgalloc += (int64_t)1 << order;
    }
    if (idx == LMM_NIL)
        idx = rmqueue_buddy(pa, z, order, flags, mt);
    if ((flags & LMM_ALLOC_KSWAPD) && z->boosted) {
        z->boosted = 0;
        pa->kswapd_wakeups++;           /* wakeup_kswapd(): the Python layer runs kswapd */
    }
    return idx;
}

static void reserve_highatomic_pageblock(struct lmm_pa *pa, struct lmm_zone *z, int64_t pfn,
                                         int order)
{
    struct lmm_buddy *b = &z->b;
    int64_t nr = (int64_t)1 << pa->pageblock_order;

    if (z->managed / 100 < nr)
        return;
    int64_t max_managed = (z->managed / 100 + nr - 1) / nr * nr;
    if (z->nr_reserved_highatomic >= max_managed)
        return;
    int mt = get_pfnblock_migratetype(b, pfn);
    if (!migratetype_is_mergeable(mt))
        return;
    if (order < pa->pageblock_order) {
        int64_t start;
        if (!prep_move_freepages_block(pa, z, pfn, &start, NULL, NULL))
            return;
        move_freepages_block_pages(pa, z, start, LMM_MIGRATE_HIGHATOMIC);
        set_pageblock_migratetype(b, start, LMM_MIGRATE_HIGHATOMIC);
        z->nr_reserved_highatomic += nr;
    } else {
        change_pageblock_range(b, pfn, order, LMM_MIGRATE_HIGHATOMIC);
        z->nr_reserved_highatomic += (int64_t)1 << order;
    }
}

/* comp: a __GFP_COMP request of order > 0, whose head prep_compound_page() marks PG_head
 * (kept in the head's spare8, written by every allocation so it is never stale). */
static int64_t get_page_from_freelist(struct lmm_pa *pa, int order, int flags, int highest, int mt,
                                      int cpu, int comp)
{
    for (;;) {
        int no_fallback = flags & LMM_ALLOC_NOFRAGMENT;
        for (int k = pa->preferred[highest]; k < pa->nr_zonelist; k++) {
            struct lmm_zone *z = &pa->zones[pa->zonelist[k]];
            int ok = 0;
            if (!z->below_high) {
                if (zone_watermark_fast(pa, z, order, wmark_pages(z, 2), highest, flags))
                    ok = 1;
                else
                    z->below_high = 1;
            }
            if (!ok && !zone_watermark_fast(pa, z, order,
                                            wmark_pages(z, flags & LMM_ALLOC_WMARK_MASK),
                                            highest, flags) &&
                !(flags & LMM_ALLOC_NO_WATERMARKS))
                continue;
            uint32_t idx = rmqueue_zone(pa, z, order, flags, mt, cpu);
            if (idx != LMM_NIL) {
                z->b.pages[idx].state = PAGE_STATE(PB_HEAD, order, mt) | (uint32_t)comp << 24;
                int64_t pfn = idx_to_pfn(&z->b, idx);
                if (flags & LMM_ALLOC_HIGHATOMIC)
                    reserve_highatomic_pageblock(pa, z, pfn, order);
                return pfn;
            }
        }
        if (!no_fallback)
            return -LMM_ENOMEM;
        flags &= ~LMM_ALLOC_NOFRAGMENT;
    }
}

static inline int gfp_migratetype(const struct lmm_pa *pa, uint32_t gfp)
{
    if (pa->mobility_disabled)
        return LMM_MIGRATE_UNMOVABLE;
    return (int)((gfp & (LMM_GFP_RECLAIMABLE | LMM_GFP_MOVABLE)) >> 3);
}

static inline int gfp_to_alloc_flags(uint32_t gfp, int order)
{
    int flags = LMM_ALLOC_WMARK_MIN | LMM_ALLOC_CPUSET |
                (int)(gfp & (LMM_GFP_HIGH | LMM_GFP_KSWAPD_RECLAIM));
    if (!(gfp & LMM_GFP_DIRECT_RECLAIM)) {
        if (!(gfp & LMM_GFP_NOMEMALLOC)) {
            flags |= LMM_ALLOC_NON_BLOCK;
            if (order > 0)
                flags |= LMM_ALLOC_HIGHATOMIC;
        }
        if (flags & LMM_ALLOC_MIN_RESERVE)
            flags &= ~LMM_ALLOC_CPUSET;
    }
    return flags;
}

static inline int check_alloc_args(struct lmm_pa *pa, uint32_t gfp, int order, int cpu)
{
    if (pa->zone_table[gfp & 0xf] < 0 ||
        (gfp & (LMM_GFP_MOVABLE | LMM_GFP_RECLAIMABLE)) == (LMM_GFP_MOVABLE | LMM_GFP_RECLAIMABLE))
        return -LMM_EGFP;
    if ((unsigned)order > (unsigned)pa->max_order)
        return -LMM_EINVAL;
    if ((unsigned)cpu >= (unsigned)pa->cpus)
        return -LMM_ECPU;
    return 0;
}

static int64_t alloc_pages(struct lmm_pa *pa, uint32_t gfp, int order, int cpu, int slowpath_only)
{
    int highest = pa->zone_table[gfp & 0xf];
    int mt = gfp_migratetype(pa, gfp);
    int comp = order > 0 && (gfp & LMM_GFP_COMP);
    int64_t pfn;

    if (pa->preferred[highest] >= pa->nr_zonelist)
        return -LMM_ENOMEM;
    if (!slowpath_only) {
        int flags = LMM_ALLOC_WMARK_LOW | (int)(gfp & LMM_GFP_KSWAPD_RECLAIM);
        if (pa->zonelist[pa->preferred[highest]] == pa->normal_idx && pa->has_dma32)
            flags |= LMM_ALLOC_NOFRAGMENT;
        pfn = get_page_from_freelist(pa, order, flags, highest, mt, cpu, comp);
        if (pfn >= 0)
            return pfn;
        if (gfp & LMM_GFP_KSWAPD_RECLAIM)
            pa->kswapd_wakeups++;       /* wake_all_kswapds(): the Python layer runs kswapd */
    }
    /* __alloc_pages_slowpath(): one pass with gfp_to_alloc_flags(), then the retry: label's
     * pass, with ALLOC_NO_WATERMARKS for __GFP_MEMALLOC (__gfp_pfmemalloc_flags).  Direct
     * compaction and reclaim are not modelled (the Python layer's reclaim_hook stands in). */
    int flags = gfp_to_alloc_flags(gfp, order);
    pfn = get_page_from_freelist(pa, order, flags, highest, mt, cpu, comp);
    if (pfn >= 0)
        return pfn;
    if ((gfp & LMM_GFP_MEMALLOC) && !(gfp & LMM_GFP_NOMEMALLOC))
        flags = LMM_ALLOC_NO_WATERMARKS | (flags & LMM_ALLOC_KSWAPD);
    return get_page_from_freelist(pa, order, flags, highest, mt, cpu, comp);
}

int64_t lmm_pa_alloc(struct lmm_pa *pa, uint32_t gfp, int order, int cpu)
{
    LMM_LOCKED(pa->lock);
    int err = check_alloc_args(pa, gfp, order, cpu);
    if (err)
        return err;
    return alloc_pages(pa, gfp, order, cpu, 0);
}

int64_t lmm_pa_alloc_slowpath(struct lmm_pa *pa, uint32_t gfp, int order, int cpu)
{
    LMM_LOCKED(pa->lock);
    int err = check_alloc_args(pa, gfp, order, cpu);
    if (err)
        return err;
    return alloc_pages(pa, gfp, order, cpu, 1);
}

/* alloc_pages_bulk(): the first zone passing low + count serves from its pcp list. */
int64_t lmm_pa_alloc_bulk(struct lmm_pa *pa, uint32_t gfp, int64_t count, int cpu, int64_t *out)
{
    LMM_LOCKED(pa->lock);
    int err = check_alloc_args(pa, gfp, 0, cpu);
    if (err)
        return err;
    if (count < 0)
        return -LMM_EINVAL;
    if (count == 0)
        return 0;
    if (count > 1) {
        int highest = pa->zone_table[gfp & 0xf];
        int mt = gfp_migratetype(pa, gfp);
        int first = pa->preferred[highest];
        if (first >= pa->nr_zonelist)
            return 0;
        int pref_idx = pa->zonelist[first];
        struct lmm_zone *z = NULL;
        for (int k = first; k < pa->nr_zonelist; k++) {
            struct lmm_zone *c = &pa->zones[pa->zonelist[k]];
            if (zone_watermark_fast(pa, c, 0, wmark_pages(c, LMM_ALLOC_WMARK_LOW) + count,
                                    pref_idx, LMM_ALLOC_WMARK_LOW)) {
                z = c;
                break;
            }
        }
        if (z) {
            struct per_cpu_pages *pcp = &z->pcp[cpu];
            struct lmm_free_list *list = &pcp->lists[order_to_pindex(mt, 0)];
            struct lmm_page_meta *pages = z->b.pages;
            int64_t start = z->start;
            int64_t n = 0;
            while (n < count) {
                uint32_t idx = list->head;
                if (idx != LMM_NIL) {           /* inlined __rmqueue_pcplist() hit */
                    pcp_del(pages, list, idx);
                    pcp->count--;
                } else {
                    idx = rmqueue_pcplist_inner(pa, z, 0, mt, LMM_ALLOC_WMARK_LOW, pcp);
                    if (idx == LMM_NIL)
                        break;
                }
                pages[idx].state = PAGE_STATE(PB_HEAD, 0, mt);
                out[n++] = start + idx;
            }
            z->pgalloc += n;
            if (n)
                return n;
        }
    }
    int64_t pfn = alloc_pages(pa, gfp, 0, cpu, 0);   /* one ordinary allocation instead */
    if (pfn < 0)
        return 0;
    out[0] = pfn;
    return 1;
}

/* ===================================================================== freeing == */

/* Is pfn inside a free or pcp block?  (Error path only.) */
static int pfn_is_free(const struct lmm_zone *z, int64_t pfn)
{
    const struct lmm_buddy *b = &z->b;
    for (int o = 0; o <= b->max_order; o++) {
        int64_t head = pfn & ~(((int64_t)1 << o) - 1);
        if (head < z->start)
            break;
        const struct lmm_page_meta *p = &b->pages[pfn_to_idx(b, head)];
        if ((p->flags & (PB_BUDDY | PB_HEAD | PB_PCP | PB_PENDING)) && p->order >= o)
            return (p->flags & (PB_BUDDY | PB_PCP)) != 0;
    }
    return 0;
}

static int validate_free(struct lmm_pa *pa, int64_t pfn, int order, struct lmm_zone **zp)
{
    if ((unsigned)order > (unsigned)pa->max_order)
        return -LMM_EINVAL;
    struct lmm_zone *z = pfn_to_zone(pa, pfn);
    if (!z)
        return -LMM_ERANGE;
    if (pfn & (((int64_t)1 << order) - 1))
        return -LMM_EALIGN;
    const struct lmm_page_meta *p = &z->b.pages[pfn_to_idx(&z->b, pfn)];
    if (p->flags & PB_PENDING)
        return -LMM_EDUP;
    if (!(p->flags & PB_HEAD))
        return pfn_is_free(z, pfn) ? -LMM_EFREE : -LMM_ENOTHEAD;
    if (p->flags & PB_OWNED)
        return -LMM_EOWNED;
    if (p->order != order)
        return -LMM_EORDER;
    if (frame_is_mapped(pa, pfn))
        return -LMM_EMAPPED;
    *zp = z;
    return 0;
}

int64_t lmm_pa_free(struct lmm_pa *pa, int64_t pfn, int order, int cpu)
{
    LMM_LOCKED(pa->lock);
    struct lmm_zone *z = NULL;

    if ((unsigned)cpu >= (unsigned)pa->cpus)
        return -LMM_ECPU;
    /* the valid case inline (an allocated, unmapped head of this order): validate_free()
     * accepts it with the same zone; anything else goes to validate_free() for the diagnosis */
    if ((unsigned)order <= (unsigned)pa->max_order && !(pfn & (((int64_t)1 << order) - 1)) &&
        (z = pfn_to_zone(pa, pfn)) != NULL) {
        const struct lmm_page_meta *p = &z->b.pages[pfn_to_idx(&z->b, pfn)];
        if (page_key(p) == PAGE_KEY(PB_HEAD, order) && !frame_is_mapped(pa, pfn)) {
            free_frozen_pages(pa, z, pfn, order, cpu);
            return 0;
        }
    }
    int err = validate_free(pa, pfn, order, &z);
    if (err)
        return err;
    free_frozen_pages(pa, z, pfn, order, cpu);
    return 0;
}

int64_t lmm_pa_free_bulk(struct lmm_pa *pa, const int64_t *pfns, int64_t count, int cpu)
{
    LMM_LOCKED(pa->lock);
    if ((unsigned)cpu >= (unsigned)pa->cpus)
        return -LMM_ECPU;
    if (count < 0)
        return -LMM_EINVAL;
    int64_t i;
    int err = 0;
    struct lmm_zone *z = NULL;
    for (i = 0; i < count; i++) {
        int64_t pfn = pfns[i];
        if (!z || !zone_spans_pfn(z, pfn))
            z = pfn_to_zone(pa, pfn);
        struct lmm_page_meta *p;
        if (z && page_key(p = &z->b.pages[pfn - z->start]) == PAGE_KEY(PB_HEAD, 0) &&
            !frame_is_mapped(pa, pfn)) {
            p->flags = PB_PENDING;
            continue;
        }
        err = validate_free(pa, pfn, 0, &z);
        if (!err)       /* cannot happen: the fast test above accepted every valid entry */
            err = -LMM_EINVAL;
        break;
    }
    if (err) {
        pa->error_index = i;
        while (i-- > 0) {
            struct lmm_zone *zz = pfn_to_zone(pa, pfns[i]);
            zz->b.pages[pfns[i] - zz->start].flags = PB_HEAD;
        }
        return err;
    }
    z = NULL;
    for (i = 0; i < count; i++) {
        int64_t pfn = pfns[i];
        if (!z || !zone_spans_pfn(z, pfn))
            z = pfn_to_zone(pa, pfn);
        free_frozen_pages(pa, z, pfn, 0, cpu);
    }
    return 0;
}

int64_t lmm_pa_error_index(struct lmm_pa *pa)
{
    LMM_LOCKED(pa->lock);
    return pa->error_index;
}

int64_t lmm_pa_alloc_page_cb(void *pa, uint32_t gfp, int order)
{
    struct lmm_pa *p = pa;
    if (check_alloc_args(p, gfp, order, 0))
        return -LMM_EINVAL;
    int64_t pfn = alloc_pages(p, gfp, order, 0, 0);
    if (pfn >= 0) {                     /* __SetPageSlab / PG_large_kmalloc: the slab's block */
        struct lmm_zone *z = pfn_to_zone(p, pfn);
        z->b.pages[pfn - z->start].flags = PB_HEAD | PB_OWNED;
    }
    return pfn;
}

int64_t lmm_pa_free_page_cb(void *pa, int64_t pfn, int order)
{
    struct lmm_pa *p = pa;
    struct lmm_zone *z = pfn_to_zone(p, pfn);
    if (z) {
        struct lmm_page_meta *m = &z->b.pages[pfn - z->start];
        if (m->flags == (PB_HEAD | PB_OWNED) && m->order == order) {
            m->flags = PB_HEAD;
            int64_t err = lmm_pa_free(p, pfn, order, 0);
            if (err)                    /* cannot happen: the block is valid */
                m->flags = PB_HEAD | PB_OWNED;
            return err;
        }
    }
    return lmm_pa_free(p, pfn, order, 0);
}

void lmm_pa_set_frame_owners(struct lmm_pa *pa, const uint32_t *flags, int64_t nr, uint32_t mask)
{
    LMM_LOCKED(pa->lock);
    pa->frame_flags = flags;
    pa->nr_frames = flags ? nr : 0;
    pa->frame_mask = mask;
}

/* ===================================================================== boot == */

int lmm_pa_free_boot_range(struct lmm_pa *pa, int64_t start, int64_t end)
{
    LMM_LOCKED(pa->lock);
    if (start < 0 || end < start || end > ((int64_t)1 << 62))
        return -LMM_ERANGE;
    /* refuse the whole call if any part was released before */
    for (int i = 0; i < pa->nr_zones; i++) {
        struct lmm_zone *z = &pa->zones[i];
        int64_t s = max64(start, z->start), e = min64(end, z->start + z->spanned);
        for (int r = 0; s < e && r < z->nr_released; r++)
            if (z->released[r].start < e && s < z->released[r].end)
                return -LMM_EFREE;
    }
    for (int i = 0; i < pa->nr_zones; i++) {
        struct lmm_zone *z = &pa->zones[i];
        int64_t s = max64(start, z->start), e = min64(end, z->start + z->spanned);
        if (s >= e)
            continue;
        if (z->nr_released == z->cap_released) {
            int cap = z->cap_released ? 2 * z->cap_released : 8;
            struct released_range *r = realloc(z->released, (size_t)cap * sizeof(*r));
            if (!r)
                return -LMM_ENOMEM;
            z->released = r;
            z->cap_released = cap;
        }
        int r = 0;
        while (r < z->nr_released && z->released[r].start < s)
            r++;
        memmove(&z->released[r + 1], &z->released[r],
                (size_t)(z->nr_released - r) * sizeof(z->released[0]));
        z->released[r].start = s;
        z->released[r].end = e;
        z->nr_released++;
        while (s < e) {
            int order = s ? __builtin_ctzll((unsigned long long)s) : 63;
            if (order > pa->max_order)
                order = pa->max_order;
            while (s + ((int64_t)1 << order) > e)
                order--;
            z->managed += (int64_t)1 << order;          /* __free_pages_core() */
            pa->pgfree += (int64_t)1 << order;
            split_large_buddy(&z->b, s, order, LMM_FPI_TO_TAIL);
            s += (int64_t)1 << order;
        }
    }
    build_all_zonelists(pa);
    return 0;
}

int lmm_pa_set_tunables(struct lmm_pa *pa, int zone, const int64_t *vals,
                        const int64_t *lowmem_reserve)
{
    LMM_LOCKED(pa->lock);
    if (zone < 0 || zone >= pa->nr_zones)
        return -LMM_EINVAL;
    for (int k = 0; k < 9; k++)
        if (vals[k] < -1 || vals[k] > (k < 4 ? ((int64_t)1 << 62) : k == 5 ? ((int64_t)1 << 20)
                                       : k < 8 ? ((int64_t)1 << 30) : 1))
            return -LMM_EINVAL;
    if (lowmem_reserve)
        for (int j = 0; j < pa->nr_zones; j++)
            if (lowmem_reserve[j] < 0 || lowmem_reserve[j] > ((int64_t)1 << 62))
                return -LMM_EINVAL;
    struct lmm_zone *z = &pa->zones[zone];
    int64_t batch = vals[5] >= 0 ? vals[5] : z->batch;
    if (batch < 1)
        return -LMM_EINVAL;
    for (int k = 0; k < 4; k++)
        if (vals[k] >= 0)
            z->wmark[k] = vals[k];
    if (vals[4] >= 0)
        for (int c = 0; c < pa->cpus; c++)
            z->pcp[c].high = (int)vals[4];
    if (vals[5] >= 0)
        z->batch = (int)vals[5];
    if (vals[6] >= 0)
        z->high_min = (int)vals[6];
    if (vals[7] >= 0)
        z->high_max = (int)vals[7];
    if (vals[8] >= 0)
        for (int c = 0; c < pa->cpus; c++)
            z->pcp[c].flags = vals[8] ? (z->pcp[c].flags | PCPF_FREE_HIGH_BATCH)
                                      : (z->pcp[c].flags & ~PCPF_FREE_HIGH_BATCH);
    if (lowmem_reserve)
        for (int j = 0; j < pa->nr_zones; j++)
            z->lowmem_reserve[j] = lowmem_reserve[j];
    return 0;
}

int lmm_pa_clear_boost(struct lmm_pa *pa, int zone)
{
    LMM_LOCKED(pa->lock);
    if (zone < 0 || zone >= pa->nr_zones)
        return -LMM_EINVAL;
    pa->zones[zone].boost = 0;
    return 0;
}

/* ===================================================================== compaction support == */

/* __isolate_free_page() + post_alloc_hook() for compaction's free scanner (see lmm.h). */
int64_t lmm_pa_isolate_free_page(struct lmm_pa *pa, int64_t pfn, int order)
{
    LMM_LOCKED(pa->lock);
    if ((unsigned)order > (unsigned)pa->max_order)
        return -LMM_EINVAL;
    struct lmm_zone *z = pfn_to_zone(pa, pfn);
    if (!z)
        return -LMM_ERANGE;
    struct lmm_buddy *b = &z->b;
    uint32_t idx = pfn_to_idx(b, pfn);
    struct lmm_page_meta *p = &b->pages[idx];
    if (!(p->flags & PB_BUDDY) || p->order != order)
        return -LMM_ENOTHEAD;
    int mt = get_pfnblock_migratetype(b, pfn);
    if (mt != LMM_MIGRATE_ISOLATE) {
        /* Obey watermarks as if the page was being allocated: the order-0 test with the min
         * watermark (without boost) raised by the block size. */
        int64_t mark = z->wmark[0] + ((int64_t)1 << order);
        if (!zone_watermark_ok(pa, z, 0, mark, 0, 0, b->free_pages))
            return 0;
    }
    del_page_from_free_list(b, idx);
    if (order >= pa->pageblock_order - 1) {
        int64_t end = pfn + ((int64_t)1 << order) - 1;
        for (int64_t q = pfn; q < end; q += (int64_t)1 << pa->pageblock_order) {
            int bmt = get_pfnblock_migratetype(b, q);
            int64_t start;
            /* move_freepages_block(zone, page, bmt, MIGRATE_MOVABLE) */
            if (migratetype_is_mergeable(bmt) &&
                prep_move_freepages_block(pa, z, q, &start, NULL, NULL)) {
                move_freepages_block_pages(pa, z, start, LMM_MIGRATE_MOVABLE);
                set_pageblock_migratetype(b, start, LMM_MIGRATE_MOVABLE);
            }
        }
    }
    p->state = PAGE_STATE(PB_HEAD, order, LMM_MIGRATE_MOVABLE);
    return (int64_t)1 << order;
}

/* split_page(): an allocated non-compound block becomes 2^order allocated order-0 pages. */
int64_t lmm_pa_split_page(struct lmm_pa *pa, int64_t pfn, int order)
{
    LMM_LOCKED(pa->lock);
    struct lmm_zone *z = NULL;
    int err = validate_free(pa, pfn, order, &z);
    if (err)
        return err;
    struct lmm_buddy *b = &z->b;
    uint32_t idx = pfn_to_idx(b, pfn);
    struct lmm_page_meta *head = &b->pages[idx];
    if (order > 0 && head->spare8)
        return -LMM_ENOTHEAD;           /* a compound page is split by split_folio() */
    for (uint32_t i = 0; i < ((uint32_t)1 << order); i++) {
        struct lmm_page_meta *p = &b->pages[idx + i];
        p->flags = PB_HEAD;
        p->order = 0;
        p->mt = head->mt;
        p->spare8 = 0;
    }
    return 0;
}
