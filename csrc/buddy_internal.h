/*
 * buddy_internal.h - the buddy allocator's data structures and list primitives, shared by
 * buddy.c and the zone layer.  Names follow mm/page_alloc.c so the two can be read side by side.
 *
 * Layout: page frames [start_pfn, start_pfn + nr_pages) are described by one 16-byte
 * struct lmm_page_meta each, indexed by pfn - start_pfn, inside an array padded to aligned blocks
 * (buddy_meta_alloc).  The array comes from calloc, which for large sizes maps zero pages
 * lazily, so page frames that are never touched cost no host memory.
 * Free lists are doubly linked through the meta entries by index (uint32), one list per
 * (order, migratetype), as in struct free_area, each with its block count.
 */
#ifndef LMM_BUDDY_INTERNAL_H
#define LMM_BUDDY_INTERNAL_H

#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include "lmm.h"

#define LMM_NIL UINT32_MAX

/* For the check() walkers, which take (char *msg, int msglen): on a broken invariant, describe it
 * in msg and return -LMM_EINVAL.  Needs <stdio.h>. */
#define CHECK(cond, ...)                                    \
    do {                                                    \
        if (!(cond)) {                                      \
            snprintf(msg, (size_t)msglen, __VA_ARGS__);     \
            return -LMM_EINVAL;                             \
        }                                                   \
    } while (0)

/* lmm_page_meta.flags */
#define PB_BUDDY    0x01    /* first page of a free block (PageBuddy), order valid */
#define PB_HEAD     0x02    /* first page of an allocated block, order valid */
#define PB_PENDING  0x04    /* transient mark used while validating a bulk free */
#define PB_PCP      0x08    /* first page of a block on a per-CPU list (zone layer), order valid */
#define PB_OWNED    0x10    /* with PB_HEAD: the slab allocator's block (PageSlab, large kmalloc);
                             * the public frees refuse it (-LMM_EOWNED), only its owner frees it */

/*
 * One page frame's metadata: 16 bytes, four to a cache line.  A free block's links and its state
 * share one line, so a split or merge level touches one line of page metadata per page visited
 * (the block it lists or unlinks) plus its list neighbour's.
 *
 * order, flags and mt are also one 32-bit word, `state` (order | flags << 8 | mt << 16 |
 * spare8 << 24, little-endian): the hot paths write a page's state with one store and test "a
 * free head of order o" / "an allocated head of order o" with one 16-bit compare (page_key()).
 * spare8 belongs to the zone layer and means something only on an allocated head; a state
 * write clears it.
 */
struct lmm_page_meta {
    uint32_t next;          /* free-list links (page indices), LMM_NIL terminated */
    uint32_t prev;
    union {
        struct {
            uint8_t order;  /* buddy_order() of a free block, or order of an allocated block */
            uint8_t flags;  /* PB_* */
            uint8_t mt;     /* free list the block is on */
            uint8_t spare8; /* for the zone layer */
        };
        uint32_t state;
    };
    uint32_t spare32;       /* for the zone layer */
};

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "lmm_page_meta.state assumes a little-endian host"
#endif

/* The state word of a page with these flags, order and migratetype (spare8 0). */
#define PAGE_STATE(flags, order, mt) \
    ((uint32_t)(order) | (uint32_t)(flags) << 8 | (uint32_t)(mt) << 16)

/* The low half of the state word, flags and order: page_key(p) == PAGE_KEY(PB_BUDDY, o) is
 * PageBuddy() with buddy_order() == o and no other flag. */
#define PAGE_KEY(flags, order) ((uint32_t)(order) | (uint32_t)(flags) << 8)

static inline uint32_t page_key(const struct lmm_page_meta *p)
{
    return (uint16_t)p->state;
}

/* One free list of free_area[order].free_list[mt], with its block count: the count sits in the
 * same 16 bytes as the list it counts (nr_free per order is the sum over the types). */
struct lmm_buddy_list {
    uint32_t head;
    uint32_t tail;
    int64_t nr;             /* blocks on this list */
};

/* A per-CPU list (zone layer): no count of its own (per_cpu_pages.count counts pages). */
struct lmm_free_list {
    uint32_t head;
    uint32_t tail;
};

struct lmm_buddy {
    struct lmm_lock *lock;          /* taken by every entry point; NULL: none (lock.h) */
    int64_t start_pfn;
    int64_t nr_pages;
    int max_order;
    int pageblock_order;
    int64_t free_pages;                             /* pages on the free lists (all types) */
    int64_t free_pages_mt[LMM_MIGRATE_TYPES];       /* the same per migratetype */
    int mobility_disabled;                          /* page_group_by_mobility_disabled */
    struct lmm_buddy_list free_list[LMM_MAX_ORDER_LIMIT + 1][LMM_MIGRATE_TYPES];
    struct lmm_page_meta *pages;
    uint8_t *pageblock_mt;                          /* migratetype per pageblock */
    int64_t first_pageblock;                        /* start_pfn >> pageblock_order */
    int64_t nr_pageblocks;
    int64_t error_index;
    int handle;                                     /* lmm_buddy_handle(), -1: none */
    int64_t meta_pad;                               /* entries of pages[] before start_pfn's */
    int64_t meta_len;                               /* entries allocated (buddy_meta_alloc) */
};

/*
 * The page metadata array: the entries of [start_pfn, start_pfn + nr_pages), padded on both sides
 * to the naturally aligned blocks of 2^a pages that hold them, a = min(max_order, top + 2) with
 * top = floor(log2(nr_pages)).  Every page __free_one_page() probes lies inside (the buddy of a
 * block of order o < max_order that fits in nr_pages, and buddy_merge_likely()'s order o+1
 * buddy, for o < max_order - 1: all in the block's aligned 2^min(o + 2, max_order) block), so
 * its merge loop needs no range test and can work in offsets from the aligned start, where the
 * buddy of offset r is r ^ (1 << o).  The padding's entries stay zero: never a free head.  At
 * most 2^max_order entries each side (2 KiB of 16-byte entries per side for max_order 10).
 */
static inline int buddy_meta_alloc(struct lmm_buddy *b)
{
    int top = 63 - __builtin_clzll((unsigned long long)b->nr_pages);
    int align = b->max_order < top + 2 ? b->max_order : top + 2;
    int64_t a = (int64_t)1 << align;
    b->meta_pad = b->start_pfn & (a - 1);
    b->meta_len = ((b->start_pfn + b->nr_pages + a - 1) & ~(a - 1)) - (b->start_pfn - b->meta_pad);
    struct lmm_page_meta *m = calloc((size_t)b->meta_len, sizeof(*m));
    b->pages = m ? m + b->meta_pad : NULL;
    return m ? 0 : -1;
}

static inline void buddy_meta_free(struct lmm_buddy *b)
{
    if (b->pages)
        free(b->pages - b->meta_pad);
    b->pages = NULL;
}

static inline uint32_t pfn_to_idx(const struct lmm_buddy *b, int64_t pfn)
{
    return (uint32_t)(pfn - b->start_pfn);
}

static inline int64_t idx_to_pfn(const struct lmm_buddy *b, uint32_t idx)
{
    return b->start_pfn + (int64_t)idx;
}

static inline int pfn_in_range(const struct lmm_buddy *b, int64_t pfn)
{
    return (uint64_t)pfn - (uint64_t)b->start_pfn < (uint64_t)b->nr_pages;
}

/* free_area[order].nr_free: blocks of this order on all the type lists. */
static inline int64_t nr_free_order(const struct lmm_buddy *b, int order)
{
    int64_t n = 0;
    for (int t = 0; t < LMM_MIGRATE_TYPES; t++)
        n += b->free_list[order][t].nr;
    return n;
}

static inline int get_pfnblock_migratetype(const struct lmm_buddy *b, int64_t pfn)
{
    return b->pageblock_mt[(pfn >> b->pageblock_order) - b->first_pageblock];
}

static inline void set_pageblock_migratetype(struct lmm_buddy *b, int64_t pfn, int mt)
{
    if (b->mobility_disabled && mt < LMM_MIGRATE_PCPTYPES)
        mt = LMM_MIGRATE_UNMOVABLE;
    b->pageblock_mt[(pfn >> b->pageblock_order) - b->first_pageblock] = (uint8_t)mt;
}

static inline int migratetype_is_mergeable(int mt)
{
    return mt < LMM_MIGRATE_PCPTYPES;
}

/*
 * account_freepages(): the free page counters (NR_FREE_PAGES and the per-type counts) change
 * once per allocation or free, by its net size, as in Linux 6.10+; the list primitives below
 * with two underscores count blocks (nr per list) but not pages.
 */
static inline void account_freepages(struct lmm_buddy *b, int64_t nr_pages, int mt)
{
    b->free_pages += nr_pages;
    b->free_pages_mt[mt] += nr_pages;
}

/* __add_to_free_list(): link block idx at the head (or tail) of free_list[order][mt]. */
static inline void __add_to_free_list(struct lmm_buddy *b, uint32_t idx, int order, int mt,
                                      int tail)
{
    struct lmm_buddy_list *fl = &b->free_list[order][mt];
    struct lmm_page_meta *pages = b->pages, *p = &pages[idx];

    p->state = PAGE_STATE(PB_BUDDY, order, mt);
    fl->nr++;
    if (tail) {
        uint32_t t = fl->tail;
        p->prev = t;
        p->next = LMM_NIL;
        fl->tail = idx;
        if (t == LMM_NIL)
            fl->head = idx;
        else
            pages[t].next = idx;
    } else {
        uint32_t h = fl->head;
        p->next = h;
        p->prev = LMM_NIL;
        fl->head = idx;
        if (h == LMM_NIL)
            fl->tail = idx;
        else
            pages[h].prev = idx;
    }
}

/* __del_page_from_free_list(): unlink free block idx of this order from list mt; its state
 * word is cleared (no flags: a page inside a block, or one the caller marks allocated). */
static inline void __del_page_from_free_list(struct lmm_buddy *b, uint32_t idx, int order, int mt)
{
    struct lmm_buddy_list *fl = &b->free_list[order][mt];
    struct lmm_page_meta *pages = b->pages, *p = &pages[idx];
    uint32_t next = p->next, prev = p->prev;

    if (prev == LMM_NIL)
        fl->head = next;
    else
        pages[prev].next = next;
    if (next == LMM_NIL)
        fl->tail = prev;
    else
        pages[next].prev = prev;
    p->state = 0;
    fl->nr--;
}

/* add_to_free_list() / del_page_from_free_list(): the same with the page counters. */
static inline void add_to_free_list(struct lmm_buddy *b, uint32_t idx, int order, int mt, int tail)
{
    __add_to_free_list(b, idx, order, mt, tail);
    account_freepages(b, (int64_t)1 << order, mt);
}

static inline void del_page_from_free_list(struct lmm_buddy *b, uint32_t idx)
{
    int order = b->pages[idx].order, mt = b->pages[idx].mt;
    __del_page_from_free_list(b, idx, order, mt);
    account_freepages(b, -((int64_t)1 << order), mt);
}

/*
 * What the split and merge loops read from struct lmm_buddy, loaded once per entry point (or
 * once per bulk call) into locals.  Without it the compiler reloads the fields after every store
 * to page metadata or to a list: a uint32_t store may alias an int field, a list count an
 * int64_t field, a pageblock byte anything.
 */
struct buddy_view {
    struct lmm_page_meta *pages;
    struct lmm_page_meta *pages0;       /* pages - meta_pad: the aligned start's entry */
    uint64_t base;                      /* start - meta_pad: the aligned start's pfn */
    uint64_t start, nr_pages;
    int max_order;
    int below;                          /* min(pageblock_order, max_order) */
    int pageblock_order;
    const uint8_t *pageblock_mt;
    int64_t first_pageblock;
};

static inline struct buddy_view buddy_view(const struct lmm_buddy *b)
{
    struct buddy_view v = {
        .pages = b->pages,
        .pages0 = b->pages - b->meta_pad,
        .base = (uint64_t)(b->start_pfn - b->meta_pad),
        .start = (uint64_t)b->start_pfn,
        .nr_pages = (uint64_t)b->nr_pages,
        .max_order = b->max_order,
        .below = b->pageblock_order < b->max_order ? b->pageblock_order : b->max_order,
        .pageblock_order = b->pageblock_order,
        .pageblock_mt = b->pageblock_mt,
        .first_pageblock = b->first_pageblock,
    };
    return v;
}

/* get_pfnblock_migratetype() through a view. */
static inline int view_pfnblock_migratetype(const struct buddy_view *v, int64_t pfn)
{
    return v->pageblock_mt[(pfn >> v->pageblock_order) - v->first_pageblock];
}

/*
 * expand(): a block of order `high` at idx is being handed out at order `low`.  While high > low
 * the upper half (idx + 2^high after high--) becomes a free block at the head of its list; the
 * caller keeps the lowest 2^low pages.  Order 0 from an order-3 block at P frees P+4 (order 2),
 * P+2 (order 1) and P+1 (order 0).  Returns the pages it listed (the caller accounts them).
 * Each level steps the half's size, its state word and its list together.
 */
static inline __attribute__((always_inline)) int64_t __expand(struct lmm_buddy *b,
                                                              struct lmm_page_meta *pages,
                                                              uint32_t idx, int low, int high,
                                                              int mt)
{
    struct lmm_buddy_list *l = &b->free_list[high][mt];
    uint32_t size = (uint32_t)1 << high, state = PAGE_STATE(PB_BUDDY, high, mt);
    int64_t nr_added = (int64_t)size - ((int64_t)1 << low);

    while (high > low) {
        high--;
        size >>= 1;
        state--;
        l -= LMM_MIGRATE_TYPES;
        /* __add_to_free_list(idx + size, high, mt, head) */
        uint32_t half = idx + size, h = l->head;
        struct lmm_page_meta *p = &pages[half];
        p->state = state;
        p->next = h;
        p->prev = LMM_NIL;
        l->head = half;
        l->nr++;
        if (h == LMM_NIL)
            l->tail = half;
        else
            pages[h].prev = half;
    }
    return nr_added;
}

static inline int64_t expand(struct lmm_buddy *b, uint32_t idx, int low, int high, int mt)
{
    return __expand(b, b->pages, idx, low, high, mt);
}

/* page_del_and_expand(): take free block idx (order high, list mt) and keep 2^low of it. */
static inline void page_del_and_expand(struct lmm_buddy *b, uint32_t idx, int low, int high,
                                       int mt)
{
    __del_page_from_free_list(b, idx, high, mt);
    expand(b, idx, low, high, mt);
    account_freepages(b, -((int64_t)1 << low), mt);
}

/* __rmqueue_smallest(): head of the smallest non-empty list of type mt at or above order. */
static inline __attribute__((always_inline)) uint32_t __rmqueue_smallest(struct lmm_buddy *b,
                                                                         const struct buddy_view *v,
                                                                         int order, int mt)
{
    struct lmm_page_meta *const pages = v->pages;
    struct lmm_buddy_list *l = &b->free_list[order][mt];

    for (int o = order; o <= v->max_order; o++, l += LMM_MIGRATE_TYPES) {
        uint32_t idx = l->head;
        if (idx == LMM_NIL)
            continue;
        /* the list head: __del_page_from_free_list() without the prev test */
        uint32_t next = pages[idx].next;
        l->head = next;
        if (next == LMM_NIL)
            l->tail = LMM_NIL;
        else
            pages[next].prev = LMM_NIL;
        pages[idx].state = 0;
        l->nr--;
        __expand(b, pages, idx, order, o, mt);
        account_freepages(b, -((int64_t)1 << order), mt);
        return idx;
    }
    return LMM_NIL;
}

static inline uint32_t rmqueue_smallest(struct lmm_buddy *b, int order, int mt)
{
    struct buddy_view v = buddy_view(b);
    return __rmqueue_smallest(b, &v, order, mt);
}

/* The buddy of the block at pfn of this order is free and of the same order (page_is_buddy). */
static inline int page_is_buddy(const struct lmm_buddy *b, int64_t buddy_pfn, int order)
{
    uint64_t off = (uint64_t)buddy_pfn - (uint64_t)b->start_pfn;
    return off < (uint64_t)b->nr_pages && page_key(&b->pages[off]) == PAGE_KEY(PB_BUDDY, order);
}

/*
 * buddy_merge_likely(): the block just freed at pfn (order) could not merge with buddy_pfn.  If
 * the order+1 block that buddy would complete has its own buddy free, freeing the missing buddy
 * later merges two levels at once: keep this block at the tail so it is not handed out first.
 * (__free_one_page() has it inline.)
 */
static inline int buddy_merge_likely(const struct lmm_buddy *b, int64_t pfn, int64_t buddy_pfn,
                                     int order)
{
    if (order >= b->max_order - 1)
        return 0;
    int64_t higher_pfn = buddy_pfn & pfn;
    int64_t higher_buddy = higher_pfn ^ ((int64_t)1 << (order + 1));
    return page_is_buddy(b, higher_buddy, order + 1);
}

/* A merge level's buddy bidx is free but on another type's list (list_mt != mt): unlink it there
 * and move its pages' count to mt. */
static inline void merge_from_other_list(struct lmm_buddy *b, uint32_t bidx, int order,
                                         int list_mt, int mt)
{
    __del_page_from_free_list(b, bidx, order, list_mt);
    b->free_pages_mt[list_mt] -= (int64_t)1 << order;
    b->free_pages_mt[mt] += (int64_t)1 << order;
}

/*
 * __free_one_page(): merge upwards while the buddy is free, then insert at head or tail.  The
 * pages are counted once, under mt (account_freepages); a merged buddy on another type's list
 * moves its pages to mt.  At and above pageblock_order the buddy's pageblock type decides
 * whether the merge may happen, and a merged buddy's pageblock takes mt.
 *
 * Written for the compiler, which keeps it all in registers: the loop's inputs come from the
 * view; it works in offsets r from the aligned start of the padded metadata array
 * (buddy_meta_alloc), so a buddy is r ^ (1 << order) with no range test; each level steps
 * 1 << order, the expected state word and the list free_list[order][mt] together (the order is
 * the state word's low byte); and the common case, a buddy that is a free head of this order on
 * list mt, is one 32-bit compare of its state word against PAGE_STATE(PB_BUDDY, order, mt)
 * (free heads have spare8 0).  Below pageblock_order no pageblock is looked at (Linux's
 * `order >= pageblock_order` test), so those levels run a loop without the test.  Always inlined
 * into the hot entry points; free_one_page() is the same for the others.
 */
static inline __attribute__((always_inline)) void __free_one_page(struct lmm_buddy *b,
                                                                  const struct buddy_view *v,
                                                                  int64_t pfn, int order,
                                                                  int mt, int fpi)
{
    struct lmm_page_meta *const pages = v->pages, *const pages0 = v->pages0;
    const int max_order = v->max_order;
    struct lmm_buddy_list *l = &b->free_list[order][mt];
    uint64_t bit = (uint64_t)1 << order, r = (uint64_t)pfn - v->base, buddy = r;
    uint32_t want = PAGE_STATE(PB_BUDDY, order, mt);

    account_freepages(b, (int64_t)bit, mt);
    const uint32_t want_below = PAGE_STATE(PB_BUDDY, v->below, mt);
    for (; want < want_below; bit <<= 1, want++, l += LMM_MIGRATE_TYPES) {
        buddy = r ^ bit;
        struct lmm_page_meta *bp = &pages0[buddy];
        uint32_t state = bp->state;
        if (state == want) {
            /* __del_page_from_free_list(buddy, order, mt) */
            uint32_t next = bp->next, prev = bp->prev;
            if (prev == LMM_NIL)
                l->head = next;
            else
                pages[prev].next = next;
            if (next == LMM_NIL)
                l->tail = prev;
            else
                pages[next].prev = prev;
            bp->state = 0;
            l->nr--;
        } else if ((uint16_t)state == (uint16_t)want) {
            merge_from_other_list(b, (uint32_t)(bp - pages), (int)(want & 0xff),
                                  (int)(state >> 16) & 0xff, (int)(want >> 16) & 0xff);
        } else {
            goto done_merging;
        }
        r &= buddy;
    }
    order = (int)(want & 0xff);
    for (; order < max_order; order++, bit <<= 1, want++, l += LMM_MIGRATE_TYPES) {
        buddy = r ^ bit;
        struct lmm_page_meta *bp = &pages0[buddy];
        if (page_key(bp) != (uint16_t)want)
            break;
        int64_t buddy_pfn = (int64_t)(v->base + buddy);
        int buddy_mt = view_pfnblock_migratetype(v, buddy_pfn);
        if (mt != buddy_mt &&
            (!migratetype_is_mergeable(mt) || !migratetype_is_mergeable(buddy_mt)))
            break;
        int list_mt = bp->mt;
        if (list_mt == mt)
            __del_page_from_free_list(b, (uint32_t)(bp - pages), order, mt);
        else
            merge_from_other_list(b, (uint32_t)(bp - pages), order, list_mt, mt);
        if (buddy_mt != mt)
            set_pageblock_migratetype(b, buddy_pfn, mt);
        r &= buddy;
    }
done_merging:
    order = (int)(want & 0xff);
    /* FPI_TO_TAIL, else buddy_merge_likely(r, buddy, order): the order+1 buddy of the block the
     * missing buddy would complete, (buddy & r) ^ (bit << 1), is a free head */
    int to_tail = 1;
    if (!(fpi & LMM_FPI_TO_TAIL))
        to_tail = order < max_order - 1 &&
                  page_key(&pages0[(buddy & r) ^ (bit << 1)]) == (uint16_t)(want + 1);

    /* __add_to_free_list(r, order, mt, to_tail) */
    struct lmm_page_meta *p = &pages0[r];
    uint32_t idx = (uint32_t)(p - pages);
    p->state = want;
    l->nr++;
    if (to_tail) {
        uint32_t t = l->tail;
        p->prev = t;
        p->next = LMM_NIL;
        l->tail = idx;
        if (t == LMM_NIL)
            l->head = idx;
        else
            pages[t].next = idx;
    } else {
        uint32_t h = l->head;
        p->next = h;
        p->prev = LMM_NIL;
        l->head = idx;
        if (h == LMM_NIL)
            l->tail = idx;
        else
            pages[h].prev = idx;
    }
}

static inline void free_one_page(struct lmm_buddy *b, int64_t pfn, int order, int mt, int fpi)
{
    struct buddy_view v = buddy_view(b);
    __free_one_page(b, &v, pfn, order, mt, fpi);
}

/* Validate a free of (pfn, order): 0 when pfn heads an allocated block of that order. */
int lmm_buddy_validate_free(const struct lmm_buddy *b, int64_t pfn, int order);

#endif
