/*
 * buddy.c - a buddy page allocator with Linux 6.x policy (mm/page_alloc.c).
 *
 * Allocation takes the head of the smallest non-empty free list (__rmqueue_smallest) and splits
 * with expand(); a free merges with its buddy (pfn ^ (1 << order)) while the buddy is free and of
 * the same order, then goes to the head of its list, or to the tail where buddy_merge_likely()
 * says so (__free_one_page).  Boot memory enters as memblock_free_all() releases it.
 *
 * Every entry point validates its arguments and returns a negative LMM_E* code without touching
 * state when they are wrong.  This allocator knows nothing of zones or watermarks: the zone layer
 * (zone.c) builds on the primitives of buddy_internal.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lock.h"
#include "buddy_internal.h"
#include "handles.h"

/* ===================================================================== handles == */

/* Integer handles for the Python fast paths (handles.h). */
#define NR_HANDLES (1 << 20)
static void *handles[NR_HANDLES];

static inline struct lmm_buddy *handle_buddy(uint64_t h)
{
    return handle_lookup(handles, NR_HANDLES, h);
}

int lmm_buddy_handle(struct lmm_buddy *b)
{
    return b->handle;
}

/* ===================================================================== creation and boot == */

struct lmm_buddy *lmm_buddy_create(int64_t start_pfn, int64_t nr_pages, int max_order)
{
    if (start_pfn < 0 || nr_pages <= 0 || nr_pages >= (int64_t)LMM_NIL ||
        start_pfn > INT64_MAX / 2 || max_order < 0 || max_order > LMM_MAX_ORDER_LIMIT)
        return NULL;
    struct lmm_buddy *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->handle = -1;
    b->start_pfn = start_pfn;
    b->nr_pages = nr_pages;
    b->max_order = max_order;
    b->pageblock_order = max_order < LMM_PAGEBLOCK_ORDER ? max_order : LMM_PAGEBLOCK_ORDER;
    b->first_pageblock = start_pfn >> b->pageblock_order;
    b->nr_pageblocks = ((start_pfn + nr_pages - 1) >> b->pageblock_order) - b->first_pageblock + 1;
    for (int o = 0; o <= LMM_MAX_ORDER_LIMIT; o++)
        for (int t = 0; t < LMM_MIGRATE_TYPES; t++)
            b->free_list[o][t].head = b->free_list[o][t].tail = LMM_NIL;
    int meta = buddy_meta_alloc(b);
    b->pageblock_mt = malloc((size_t)b->nr_pageblocks);
    b->lock = lmm_lock_create();
    if (meta || !b->pageblock_mt || !b->lock) {
        lmm_buddy_destroy(b);
        return NULL;
    }
    memset(b->pageblock_mt, LMM_MIGRATE_MOVABLE, (size_t)b->nr_pageblocks);
    b->error_index = -1;
    b->handle = handle_claim(handles, NR_HANDLES, b);
    if (b->handle < 0) {
        lmm_buddy_destroy(b);
        return NULL;
    }
    return b;
}

struct lmm_lock *lmm_buddy_lock(struct lmm_buddy *b)
{
    return b->lock;
}

void lmm_buddy_destroy(struct lmm_buddy *b)
{
    if (!b)
        return;
    handle_release(handles, NR_HANDLES, b->handle, b);
    buddy_meta_free(b);
    free(b->pageblock_mt);
    lmm_lock_destroy(b->lock);
    free(b);
}

static int lowest_set_bit(int64_t x)
{
    return x ? __builtin_ctzll((unsigned long long)x) : 63;
}

/*
 * __free_pages_memory(): release [start, end) in the largest naturally aligned blocks, in pfn
 * order; __free_pages_core() frees each with FPI_TO_TAIL into the pageblock's type.
 */
int lmm_buddy_free_range(struct lmm_buddy *b, int64_t start, int64_t end)
{
    LMM_LOCKED(b->lock);
    if (start < b->start_pfn || end > b->start_pfn + b->nr_pages || start > end)
        return -LMM_ERANGE;
    for (int64_t pfn = start; pfn < end; pfn++)     /* refuse to free anything twice */
        if (b->pages[pfn_to_idx(b, pfn)].flags)
            return -LMM_EFREE;
    while (start < end) {
        int order = lowest_set_bit(start);
        if (order > b->max_order)
            order = b->max_order;
        while (start + ((int64_t)1 << order) > end)
            order--;
        free_one_page(b, start, order, get_pfnblock_migratetype(b, start), LMM_FPI_TO_TAIL);
        start += (int64_t)1 << order;
    }
    return 0;
}

/* ===================================================================== allocation == */

/* Take a block of `order` from the free lists of `mt` and mark it allocated. */
static inline __attribute__((always_inline)) int64_t take_block(struct lmm_buddy *b,
                                                               const struct buddy_view *v,
                                                               int order, int mt)
{
    uint32_t idx = __rmqueue_smallest(b, v, order, mt);
    if (idx == LMM_NIL)
        return -LMM_ENOMEM;
    v->pages[idx].state = PAGE_STATE(PB_HEAD, order, mt);
    return (int64_t)(v->start + idx);
}

int64_t lmm_buddy_alloc_mt(struct lmm_buddy *b, int order, int mt)
{
    LMM_LOCKED(b->lock);
    if ((unsigned)order > (unsigned)b->max_order || (unsigned)mt >= LMM_MIGRATE_TYPES)
        return -LMM_EINVAL;
    struct buddy_view v = buddy_view(b);
    return take_block(b, &v, order, mt);
}

int64_t lmm_buddy_alloc(struct lmm_buddy *b, int order)
{
    LMM_LOCKED(b->lock);
    if ((unsigned)order > (unsigned)b->max_order)
        return -LMM_EINVAL;
    struct buddy_view v = buddy_view(b);
    return take_block(b, &v, order, LMM_MIGRATE_MOVABLE);
}

int64_t lmm_buddy_alloc_ho(int64_t h_order)
{
    struct lmm_buddy *b = handle_buddy((uint64_t)h_order >> LMM_HANDLE_ORDER_BITS);
    int order = (int)(h_order & ((1 << LMM_HANDLE_ORDER_BITS) - 1));
    return b ? lmm_buddy_alloc(b, order) : -LMM_EINVAL;
}

int64_t lmm_buddy_alloc_bulk(struct lmm_buddy *b, int64_t *pfns, int64_t count, int order)
{
    LMM_LOCKED(b->lock);
    if ((unsigned)order > (unsigned)b->max_order || count < 0)
        return -LMM_EINVAL;
    const struct buddy_view v = buddy_view(b);
    int64_t n = 0;
    for (; n < count; n++) {
        int64_t pfn = take_block(b, &v, order, LMM_MIGRATE_MOVABLE);
        if (pfn < 0)
            break;
        pfns[n] = pfn;
    }
    return n;
}

/* ===================================================================== freeing == */

/* Is pfn inside a free block?  (Only on the error path: a wrong free is diagnosed precisely.) */
static int pfn_is_free(const struct lmm_buddy *b, int64_t pfn)
{
    for (int o = 0; o <= b->max_order; o++) {
        int64_t head = pfn & ~(((int64_t)1 << o) - 1);
        if (!pfn_in_range(b, head))
            break;
        const struct lmm_page_meta *p = &b->pages[pfn_to_idx(b, head)];
        if ((p->flags & PB_BUDDY) && p->order >= o)
            return 1;
    }
    return 0;
}

int lmm_buddy_validate_free(const struct lmm_buddy *b, int64_t pfn, int order)
{
    LMM_LOCKED(b->lock);
    if ((unsigned)order > (unsigned)b->max_order)
        return -LMM_EINVAL;
    if (!pfn_in_range(b, pfn))
        return -LMM_ERANGE;
    if (pfn & (((int64_t)1 << order) - 1))
        return -LMM_EALIGN;
    const struct lmm_page_meta *p = &b->pages[pfn_to_idx(b, pfn)];
    if (p->flags & PB_PENDING)
        return -LMM_EDUP;
    if (!(p->flags & PB_HEAD))
        return pfn_is_free(b, pfn) ? -LMM_EFREE : -LMM_ENOTHEAD;
    if (p->flags & PB_OWNED)
        return -LMM_EOWNED;
    if (p->order != order)
        return -LMM_EORDER;
    return 0;
}

int64_t lmm_buddy_free_mt(struct lmm_buddy *b, int64_t pfn, int order, int mt, int fpi)
{
    LMM_LOCKED(b->lock);
    if ((unsigned)mt >= LMM_MIGRATE_TYPES)
        return -LMM_EINVAL;
    int err = lmm_buddy_validate_free(b, pfn, order);
    if (err)
        return err;
    b->pages[pfn_to_idx(b, pfn)].state = 0;
    free_one_page(b, pfn, order, mt, fpi);
    return 0;
}

/*
 * The valid case of a free inline: an allocated head of this order with no other flag (one
 * compare of the state word's low half).  Such a head is aligned to its order (every block is),
 * so the alignment test is left to the diagnosis, lmm_buddy_validate_free(), which accepts
 * nothing this test refuses.
 */
static inline __attribute__((always_inline)) int64_t buddy_free(struct lmm_buddy *b,
                                                               const struct buddy_view *v,
                                                               int64_t pfn, int order)
{
    uint64_t off = (uint64_t)pfn - v->start;
    if ((unsigned)order <= (unsigned)v->max_order && off < v->nr_pages) {
        struct lmm_page_meta *p = &v->pages[off];
        if (page_key(p) == PAGE_KEY(PB_HEAD, order)) {
            p->state = 0;
            __free_one_page(b, v, pfn, order, view_pfnblock_migratetype(v, pfn), LMM_FPI_NONE);
            return 0;
        }
    }
    return lmm_buddy_validate_free(b, pfn, order);
}

int64_t lmm_buddy_free(struct lmm_buddy *b, int64_t pfn, int order)
{
    LMM_LOCKED(b->lock);
    const struct buddy_view v = buddy_view(b);
    return buddy_free(b, &v, pfn, order);
}

int64_t lmm_buddy_free_h(int h, int64_t pfn, int order)
{
    struct lmm_buddy *b = handle_buddy((unsigned)h);
    return b ? lmm_buddy_free(b, pfn, order) : -LMM_EINVAL;
}

int64_t lmm_buddy_alloc_owned(struct lmm_buddy *b, int order)
{
    LMM_LOCKED(b->lock);
    int64_t pfn = lmm_buddy_alloc(b, order);
    if (pfn >= 0)
        b->pages[pfn_to_idx(b, pfn)].flags = PB_HEAD | PB_OWNED;
    return pfn;
}

int64_t lmm_buddy_free_owned(struct lmm_buddy *b, int64_t pfn, int order)
{
    LMM_LOCKED(b->lock);
    if (pfn_in_range(b, pfn)) {
        struct lmm_page_meta *p = &b->pages[pfn_to_idx(b, pfn)];
        if (p->flags == (PB_HEAD | PB_OWNED) && p->order == order) {
            p->flags = PB_HEAD;
            int64_t err = lmm_buddy_free(b, pfn, order);
            if (err)                    /* cannot happen: the block is valid */
                p->flags = PB_HEAD | PB_OWNED;
            return err;
        }
    }
    return lmm_buddy_free(b, pfn, order);
}

/*
 * All or nothing: every entry is validated first (marking each block PB_PENDING so that a block
 * named twice is caught), and only then are the blocks freed, in array order.
 */
int64_t lmm_buddy_free_bulk(struct lmm_buddy *b, const int64_t *pfns, int64_t count, int order)
{
    LMM_LOCKED(b->lock);
    if (count < 0 || (unsigned)order > (unsigned)b->max_order)
        return -LMM_EINVAL;
    const struct buddy_view v = buddy_view(b);
    struct lmm_page_meta *const pages = v.pages;
    int64_t i;
    int err = 0;
    for (i = 0; i < count; i++) {
        /* the valid case inline (an allocated head of this order, so aligned, as in
         * buddy_free()); anything else is diagnosed by lmm_buddy_validate_free(), which accepts
         * nothing this test refuses */
        int64_t pfn = pfns[i];
        uint64_t off = (uint64_t)pfn - v.start;
        if (off < v.nr_pages && page_key(&pages[off]) == PAGE_KEY(PB_HEAD, order)) {
            pages[off].flags = PB_PENDING;
            continue;
        }
        err = lmm_buddy_validate_free(b, pfn, order);
        if (err)
            break;
        pages[off].flags = PB_PENDING;
    }
    if (err) {
        b->error_index = i;
        while (i-- > 0)
            pages[(uint64_t)pfns[i] - v.start].flags = PB_HEAD;
        return err;
    }
    for (i = 0; i < count; i++) {
        int64_t pfn = pfns[i];
        pages[(uint64_t)pfn - v.start].state = 0;
        __free_one_page(b, &v, pfn, order, view_pfnblock_migratetype(&v, pfn), LMM_FPI_NONE);
    }
    return 0;
}

int64_t lmm_buddy_error_index(struct lmm_buddy *b)
{
    LMM_LOCKED(b->lock);
    return b->error_index;
}

/* ===================================================================== introspection == */

int64_t lmm_buddy_start_pfn(struct lmm_buddy *b) { return b->start_pfn; }
int64_t lmm_buddy_nr_pages(struct lmm_buddy *b) { return b->nr_pages; }
int lmm_buddy_max_order(struct lmm_buddy *b) { return b->max_order; }
int64_t lmm_buddy_free_pages(struct lmm_buddy *b) { return b->free_pages; }

int64_t lmm_buddy_metadata_bytes(struct lmm_buddy *b)
{
    LMM_LOCKED(b->lock);
    return (int64_t)sizeof(*b) + b->meta_len * (int64_t)sizeof(struct lmm_page_meta) +
           b->nr_pageblocks;
}

void lmm_buddy_nr_free(struct lmm_buddy *b, int64_t *out, int mt)
{
    LMM_LOCKED(b->lock);
    for (int o = 0; o <= b->max_order; o++)
        out[o] = (mt >= 0 && mt < LMM_MIGRATE_TYPES) ? b->free_list[o][mt].nr : nr_free_order(b, o);
}

int64_t lmm_buddy_free_list(struct lmm_buddy *b, int order, int mt, int64_t *out, int64_t cap)
{
    LMM_LOCKED(b->lock);
    if ((unsigned)order > (unsigned)b->max_order || (unsigned)mt >= LMM_MIGRATE_TYPES)
        return -LMM_EINVAL;
    int64_t n = 0;
    for (uint32_t idx = b->free_list[order][mt].head; idx != LMM_NIL; idx = b->pages[idx].next) {
        if (n < cap)
            out[n] = idx_to_pfn(b, idx);
        n++;
    }
    return n;
}

int lmm_buddy_page_state(struct lmm_buddy *b, int64_t pfn, int *order)
{
    LMM_LOCKED(b->lock);
    if (!pfn_in_range(b, pfn))
        return -LMM_ERANGE;
    const struct lmm_page_meta *p = &b->pages[pfn_to_idx(b, pfn)];
    *order = p->order;
    if (p->flags & PB_BUDDY)
        return 1;
    if (p->flags & PB_HEAD)
        return 2;
    *order = -1;
    return 0;
}

int lmm_buddy_check(struct lmm_buddy *b, char *msg, int msglen)
{
    LMM_LOCKED(b->lock);
    int64_t total_pages = 0, heads = 0, mt_pages[LMM_MIGRATE_TYPES] = {0};

    for (int o = 0; o <= b->max_order; o++) {
        int64_t n_order = 0;
        for (int t = 0; t < LMM_MIGRATE_TYPES; t++) {
            int64_t n = 0;
            uint32_t prev = LMM_NIL;
            for (uint32_t idx = b->free_list[o][t].head; idx != LMM_NIL;
                 idx = b->pages[idx].next) {
                const struct lmm_page_meta *p = &b->pages[idx];
                int64_t pfn = idx_to_pfn(b, idx);
                CHECK(idx < b->nr_pages, "order %d list %d: index %u out of range", o, t, idx);
                CHECK(p->flags == PB_BUDDY, "pfn %lld on free list %d/%d is not marked free",
                      (long long)pfn, o, t);
                CHECK(p->order == o && p->mt == t, "pfn %lld on list %d/%d says order %d type %d",
                      (long long)pfn, o, t, p->order, p->mt);
                CHECK(p->prev == prev, "pfn %lld: broken back link", (long long)pfn);
                CHECK((pfn & (((int64_t)1 << o) - 1)) == 0, "pfn %lld misaligned for order %d",
                      (long long)pfn, o);
                CHECK(pfn + ((int64_t)1 << o) <= b->start_pfn + b->nr_pages,
                      "block at pfn %lld order %d runs past the end", (long long)pfn, o);
                CHECK(n < b->nr_pages, "order %d list %d has a cycle", o, t);
                int64_t bpfn = pfn ^ ((int64_t)1 << o);
                if (o < b->max_order && page_is_buddy(b, bpfn, o)) {
                    int bt = b->pages[pfn_to_idx(b, bpfn)].mt;
                    CHECK(o >= b->pageblock_order && bt != t &&
                          (!migratetype_is_mergeable(t) || !migratetype_is_mergeable(bt)),
                          "free buddies pfn %lld and %lld of order %d were not merged",
                          (long long)pfn, (long long)bpfn, o);
                }
                prev = idx;
                n++;
            }
            CHECK(b->free_list[o][t].tail == prev, "order %d list %d: tail is wrong", o, t);
            CHECK(n == b->free_list[o][t].nr, "order %d list %d: counted %lld, nr_free says %lld",
                  o, t, (long long)n, (long long)b->free_list[o][t].nr);
            n_order += n;
            mt_pages[t] += n << o;
        }
        total_pages += n_order << o;
    }
    CHECK(total_pages == b->free_pages, "free lists hold %lld pages, free_pages says %lld",
          (long long)total_pages, (long long)b->free_pages);
    for (int t = 0; t < LMM_MIGRATE_TYPES; t++)
        CHECK(mt_pages[t] == b->free_pages_mt[t], "type %d holds %lld free pages, counter %lld", t,
              (long long)mt_pages[t], (long long)b->free_pages_mt[t]);

    /* The metadata array's padding (buddy_meta_alloc) holds no page. */
    for (int64_t i = -b->meta_pad; i < b->meta_len - b->meta_pad; i++) {
        if (i == 0)
            i = b->nr_pages;            /* [0, nr_pages) are the pages, checked below */
        if (i >= b->meta_len - b->meta_pad)
            break;
        CHECK(b->pages[i].state == 0 && b->pages[i].next == 0 && b->pages[i].prev == 0,
              "metadata padding entry %lld is not empty", (long long)i);
    }

    /* Every page: heads cover disjoint blocks, nothing inside a block is marked. */
    for (int64_t i = 0; i < b->nr_pages;) {
        const struct lmm_page_meta *p = &b->pages[i];
        if (p->flags & (PB_BUDDY | PB_HEAD)) {
            CHECK(p->flags == PB_BUDDY || p->flags == PB_HEAD || p->flags == (PB_HEAD | PB_OWNED),
                  "pfn %lld has flags %#x",
                  (long long)idx_to_pfn(b, (uint32_t)i), p->flags);
            CHECK(p->order <= b->max_order, "pfn %lld has order %d",
                  (long long)idx_to_pfn(b, (uint32_t)i), p->order);
            int64_t size = (int64_t)1 << p->order;
            CHECK(i + size <= b->nr_pages, "block at pfn %lld runs past the end",
                  (long long)idx_to_pfn(b, (uint32_t)i));
            for (int64_t j = i + 1; j < i + size; j++)
                CHECK(b->pages[j].flags == 0, "pfn %lld inside the block at %lld is marked",
                      (long long)idx_to_pfn(b, (uint32_t)j), (long long)idx_to_pfn(b, (uint32_t)i));
            if (p->flags & PB_BUDDY)
                heads++;
            i += size;
        } else {
            CHECK(p->flags == 0, "pfn %lld has flags %#x", (long long)idx_to_pfn(b, (uint32_t)i),
                  p->flags);
            i++;
        }
    }
    int64_t listed = 0;
    for (int o = 0; o <= b->max_order; o++)
        listed += nr_free_order(b, o);
    CHECK(heads == listed, "%lld free blocks marked, %lld on the lists", (long long)heads,
          (long long)listed);
    return 0;
}

/* ===================================================================== benchmarks == */

/* The loops call the entry points' inline bodies, as the minimal allocator's loops do theirs
 * (the exported functions are interposable in a shared object: a call to one is not inlined). */
int64_t lmm_buddy_bench_pairs(struct lmm_buddy *b, int64_t pairs, int order)
{
    LMM_LOCKED(b->lock);
    if ((unsigned)order > (unsigned)b->max_order)
        return -LMM_EINVAL;
    const struct buddy_view v = buddy_view(b);
    int64_t sum = 0;
    for (int64_t i = 0; i < pairs; i++) {
        int64_t pfn = take_block(b, &v, order, LMM_MIGRATE_MOVABLE);
        if (pfn < 0)
            return pfn;
        sum += pfn;
        int64_t err = buddy_free(b, &v, pfn, order);
        if (err)
            return err;
    }
    return sum;
}

int64_t lmm_buddy_bench_batches(struct lmm_buddy *b, int64_t rounds, int64_t batch, int64_t *scratch)
{
    LMM_LOCKED(b->lock);
    int64_t sum = 0;
    for (int64_t r = 0; r < rounds; r++) {
        int64_t n = lmm_buddy_alloc_bulk(b, scratch, batch, 0);
        if (n != batch)
            return -LMM_ENOMEM;
        for (int64_t i = 0; i < n; i++)
            sum += scratch[i];
        int64_t err = lmm_buddy_free_bulk(b, scratch, n, 0);
        if (err)
            return err;
    }
    return sum;
}
