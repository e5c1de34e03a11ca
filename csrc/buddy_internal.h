/*
 * buddy_internal.h - the buddy allocator's data structures and list primitives, shared by
 * buddy.c and the zone layer.  Names follow mm/page_alloc.c so the two can be read side by side.
 *
 * Layout: page frames [start_pfn, start_pfn + nr_pages) are described by one 16-byte
 * struct lmm_page_meta each, indexed by pfn - start_pfn.  The array comes from calloc, which for
 * large sizes maps zero pages lazily, so page frames that are never touched cost no host memory.
 * Free lists are doubly linked through the meta entries by index (uint32), one list per
 * (order, migratetype), as in struct free_area, each with its block count.
 */
#ifndef LMM_BUDDY_INTERNAL_H
#define LMM_BUDDY_INTERNAL_H

#include <stdint.h>
#include <stddef.h>
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
};

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
 * expand(): a block of order `high` at idx is being handed out at order `low`.  While high > low
 * the upper half (idx + 2^high after high--) becomes a free block at the head of its list; the
 * caller keeps the lowest 2^low pages.  Order 0 from an order-3 block at P frees P+4 (order 2),
 * P+2 (order 1) and P+1 (order 0).  Returns the pages it listed (the caller accounts them).
 */
static inline int64_t expand(struct lmm_buddy *b, uint32_t idx, int low, int high, int mt)
{
    int64_t nr_added = ((int64_t)1 << high) - ((int64_t)1 << low);

    while (high > low) {
        high--;
        __add_to_free_list(b, idx + ((uint32_t)1 << high), high, mt, 0);
    }
    return nr_added;
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
static inline uint32_t rmqueue_smallest(struct lmm_buddy *b, int order, int mt)
{
    for (int o = order; o <= b->max_order; o++) {
        struct lmm_buddy_list *fl = &b->free_list[o][mt];
        uint32_t idx = fl->head;
        if (idx == LMM_NIL)
            continue;
        /* the list head: __del_page_from_free_list() without the prev test */
        struct lmm_page_meta *pages = b->pages;
        uint32_t next = pages[idx].next;
        fl->head = next;
        if (next == LMM_NIL)
            fl->tail = LMM_NIL;
        else
            pages[next].prev = LMM_NIL;
        pages[idx].state = 0;
        fl->nr--;
        expand(b, idx, order, o, mt);
        account_freepages(b, -((int64_t)1 << order), mt);
        return idx;
    }
    return LMM_NIL;
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

/*
 * __free_one_page(): merge upwards while the buddy is free, then insert at head or tail.  The
 * pages are counted once, under mt (account_freepages); a merged buddy on another type's list
 * moves its pages to mt.  At and above pageblock_order the buddy's pageblock type decides
 * whether the merge may happen, and a merged buddy's pageblock takes mt.
 *
 * Written for the compiler: everything the loop reads from *b is a local first (the pageblock
 * byte store of the rare branch would otherwise make it reload them), and each level steps
 * order, 1 << order, the free-head key and the free_list row together instead of recomputing
 * them.  Always inlined into the hot entry points; free_one_page() is the same for the others.
 */
static inline __attribute__((always_inline)) void __free_one_page(struct lmm_buddy *b,
                                                                  int64_t pfn, int order,
                                                                  int mt, int fpi)
{
    struct lmm_page_meta *const pages = b->pages;
    const uint64_t start = (uint64_t)b->start_pfn, nr_pages = (uint64_t)b->nr_pages;
    const int max_order = b->max_order, pageblock_order = b->pageblock_order;
    struct lmm_buddy_list *row = b->free_list[order];  /* free_list[order][0..] */
    uint64_t bit = (uint64_t)1 << order;
    uint64_t upfn = (uint64_t)pfn, buddy = upfn;
    uint32_t key = PAGE_KEY(PB_BUDDY, order);

    account_freepages(b, (int64_t)bit, mt);
    for (; order < max_order; order++, bit <<= 1, key++, row += LMM_MIGRATE_TYPES) {
        buddy = upfn ^ bit;
        uint64_t bidx = buddy - start;
        if (bidx >= nr_pages)
            break;
        struct lmm_page_meta *bp = &pages[bidx];
        if (page_key(bp) != key)                    /* page_is_buddy() */
            break;
        int list_mt = bp->mt;
        if (__builtin_expect(order >= pageblock_order, 0)) {
            int buddy_mt = get_pfnblock_migratetype(b, (int64_t)buddy);
            if (mt != buddy_mt &&
                (!migratetype_is_mergeable(mt) || !migratetype_is_mergeable(buddy_mt)))
                break;
            if (buddy_mt != mt)
                set_pageblock_migratetype(b, (int64_t)buddy, mt);
        }
        /* __del_page_from_free_list(buddy) */
        struct lmm_buddy_list *l = &row[list_mt];
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
        if (__builtin_expect(list_mt != mt, 0)) {
            b->free_pages_mt[list_mt] -= (int64_t)bit;
            b->free_pages_mt[mt] += (int64_t)bit;
        }
        upfn &= buddy;
    }

    /* FPI_TO_TAIL, else buddy_merge_likely(upfn, buddy, order): the order+1 buddy of the block
     * the missing buddy would complete, (buddy & upfn) ^ (bit << 1), is a free head */
    int to_tail = 1;
    if (!(fpi & LMM_FPI_TO_TAIL)) {
        uint64_t hidx = ((buddy & upfn) ^ (bit << 1)) - start;
        to_tail = order < max_order - 1 && hidx < nr_pages && page_key(&pages[hidx]) == key + 1;
    }

    /* __add_to_free_list(upfn) */
    uint32_t idx = (uint32_t)(upfn - start);
    struct lmm_buddy_list *l = &row[mt];
    struct lmm_page_meta *p = &pages[idx];
    p->state = key | (uint32_t)mt << 16;
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
    __free_one_page(b, pfn, order, mt, fpi);
}

/* Validate a free of (pfn, order): 0 when pfn heads an allocated block of that order. */
int lmm_buddy_validate_free(const struct lmm_buddy *b, int64_t pfn, int order);

#endif
