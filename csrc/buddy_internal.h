/*
 * buddy_internal.h - the buddy allocator's data structures and list primitives, shared by
 * buddy.c and the zone layer.  Names follow mm/page_alloc.c so the two can be read side by side.
 *
 * Layout: page frames [start_pfn, start_pfn + nr_pages) are described by one 16-byte
 * struct lmm_page_meta each, indexed by pfn - start_pfn.  The array comes from calloc, which for
 * large sizes maps zero pages lazily, so page frames that are never touched cost no host memory.
 * Free lists are doubly linked through the meta entries by index (uint32), one list per
 * (order, migratetype), as in struct free_area.
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

struct lmm_page_meta {
    uint32_t next;          /* free-list links (page indices), LMM_NIL terminated */
    uint32_t prev;
    uint8_t order;          /* buddy_order() of a free block, or order of an allocated block */
    uint8_t flags;          /* PB_* */
    uint8_t mt;             /* free list the block is on */
    uint8_t spare8;         /* for the zone layer */
    uint32_t spare32;       /* for the zone layer */
};

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
    int64_t nr_free[LMM_MAX_ORDER_LIMIT + 1];       /* blocks per order, all types */
    int64_t nr_free_mt[LMM_MAX_ORDER_LIMIT + 1][LMM_MIGRATE_TYPES];
    struct lmm_free_list free_list[LMM_MAX_ORDER_LIMIT + 1][LMM_MIGRATE_TYPES];
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
    return pfn >= b->start_pfn && pfn < b->start_pfn + b->nr_pages;
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

/* __add_to_free_list(): link block idx at the head (or tail) of free_list[order][mt]. */
static inline void add_to_free_list(struct lmm_buddy *b, uint32_t idx, int order, int mt, int tail)
{
    struct lmm_free_list *fl = &b->free_list[order][mt];
    struct lmm_page_meta *p = &b->pages[idx];

    p->order = (uint8_t)order;
    p->flags = PB_BUDDY;
    p->mt = (uint8_t)mt;
    if (fl->head == LMM_NIL) {
        p->next = p->prev = LMM_NIL;
        fl->head = fl->tail = idx;
    } else if (tail) {
        p->prev = fl->tail;
        p->next = LMM_NIL;
        b->pages[fl->tail].next = idx;
        fl->tail = idx;
    } else {
        p->next = fl->head;
        p->prev = LMM_NIL;
        b->pages[fl->head].prev = idx;
        fl->head = idx;
    }
    b->nr_free[order]++;
    b->nr_free_mt[order][mt]++;
    b->free_pages += (int64_t)1 << order;
    b->free_pages_mt[mt] += (int64_t)1 << order;
}

/* __del_page_from_free_list(): unlink a free block; its flags are cleared. */
static inline void del_page_from_free_list(struct lmm_buddy *b, uint32_t idx)
{
    struct lmm_page_meta *p = &b->pages[idx];
    int order = p->order, mt = p->mt;
    struct lmm_free_list *fl = &b->free_list[order][mt];

    if (p->prev == LMM_NIL)
        fl->head = p->next;
    else
        b->pages[p->prev].next = p->next;
    if (p->next == LMM_NIL)
        fl->tail = p->prev;
    else
        b->pages[p->next].prev = p->prev;
    p->flags = 0;
    b->nr_free[order]--;
    b->nr_free_mt[order][mt]--;
    b->free_pages -= (int64_t)1 << order;
    b->free_pages_mt[mt] -= (int64_t)1 << order;
}

/*
 * expand(): a block of order `high` at idx is being handed out at order `low`.  While high > low
 * the upper half (idx + 2^high after high--) becomes a free block at the head of its list; the
 * caller keeps the lowest 2^low pages.  Order 0 from an order-3 block at P frees P+4 (order 2),
 * P+2 (order 1) and P+1 (order 0).
 */
static inline void expand(struct lmm_buddy *b, uint32_t idx, int low, int high, int mt)
{
    while (high > low) {
        high--;
        add_to_free_list(b, idx + ((uint32_t)1 << high), high, mt, 0);
    }
}

/* __rmqueue_smallest(): head of the smallest non-empty list of type mt at or above order. */
static inline uint32_t rmqueue_smallest(struct lmm_buddy *b, int order, int mt)
{
    for (int o = order; o <= b->max_order; o++) {
        uint32_t idx = b->free_list[o][mt].head;
        if (idx == LMM_NIL)
            continue;
        del_page_from_free_list(b, idx);
        expand(b, idx, order, o, mt);
        return idx;
    }
    return LMM_NIL;
}

/* The buddy of the block at pfn of this order is free and of the same order (page_is_buddy). */
static inline int page_is_buddy(const struct lmm_buddy *b, int64_t buddy_pfn, int order)
{
    if (!pfn_in_range(b, buddy_pfn))
        return 0;
    const struct lmm_page_meta *p = &b->pages[pfn_to_idx(b, buddy_pfn)];
    return (p->flags & PB_BUDDY) && p->order == order;
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

/* __free_one_page(): merge upwards while the buddy is free, then insert at head or tail. */
static inline void free_one_page(struct lmm_buddy *b, int64_t pfn, int order, int mt, int fpi)
{
    int64_t buddy_pfn = pfn;

    while (order < b->max_order) {
        buddy_pfn = pfn ^ ((int64_t)1 << order);
        if (!page_is_buddy(b, buddy_pfn, order))
            break;
        uint32_t bidx = pfn_to_idx(b, buddy_pfn);
        int buddy_mt = b->pages[bidx].mt;
        if (order >= b->pageblock_order) {
            buddy_mt = get_pfnblock_migratetype(b, buddy_pfn);
            if (mt != buddy_mt &&
                (!migratetype_is_mergeable(mt) || !migratetype_is_mergeable(buddy_mt)))
                break;
        }
        del_page_from_free_list(b, bidx);
        if (buddy_mt != mt && order >= b->pageblock_order)
            set_pageblock_migratetype(b, buddy_pfn, mt);
        pfn &= buddy_pfn;
        order++;
    }
    int to_tail = (fpi & LMM_FPI_TO_TAIL) || buddy_merge_likely(b, pfn, buddy_pfn, order);
    add_to_free_list(b, pfn_to_idx(b, pfn), order, mt, to_tail);
}

/* Validate a free of (pfn, order): 0 when pfn heads an allocated block of that order. */
int lmm_buddy_validate_free(const struct lmm_buddy *b, int64_t pfn, int order);

#endif
