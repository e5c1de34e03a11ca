/*
 * slab_internal.h - data structures of the slab allocator (csrc/slab.c).
 *
 * struct slab is SLUB's struct slab reduced to what the model needs: the pfn of its first page,
 * its cache, the links of the cache list it is on, and a per-object array next[] that is both
 * the object freelist (next[i] = index of the next free object, OBJ_END at the tail) and the
 * allocation state (OBJ_ALLOCATED).  Slabs are named by a uint32 id into sys->slabs; id 0 is
 * never used, so that 0 in the pfn map means "no slab".
 */
#ifndef LMM_SLAB_INTERNAL_H
#define LMM_SLAB_INTERNAL_H

#include <stdint.h>
#include <stddef.h>
#include "buddy_internal.h"     /* lmm.h, which has no include guard of its own */

#define PAGE_SHIFT      12
#define PAGE_SIZE       (1u << PAGE_SHIFT)

#define SLAB_NIL        UINT32_MAX
#define OBJ_END         0xfffdu                     /* tail of a freelist */
#define OBJ_PENDING     0xfffeu                     /* being freed by a bulk free */
#define OBJ_ALLOCATED   0xffffu
#define MAX_SLAB_OBJECTS 0xfff0

/* pfn map: two levels, MAP_LEAF_SHIFT bits per leaf */
#define MAP_LEAF_SHIFT  14
#define MAP_LEAF_SIZE   (1u << MAP_LEAF_SHIFT)
#define MAP_LARGE_HEAD  0x80000000u                 /* | order: first page of a large kmalloc */
#define MAP_LARGE_TAIL  0xc0000000u                 /* other pages of a large kmalloc */
#define MAP_KIND_MASK   0xc0000000u

#define KMALLOC_TYPES       4
#define KMALLOC_INDEXES     14                      /* 0..13 */
#define KMALLOC_MAX_CACHE   8192
#define KMALLOC_MAX_ORDER   10
#define GFP_DMA_BIT         0x01u
#define GFP_HIGHMEM_BIT     0x02u
#define GFP_DMA32_BIT       0x04u
#define GFP_RECLAIMABLE_BIT 0x10u
#define GFP_ACCOUNT_BIT     0x400000u
#define GFP_COMP_BIT        0x40000u
#define GFP_NOWARN_BIT      0x2000u
#define GFP_NORETRY_BIT     0x10000u
#define GFP_NOFAIL_BIT      0x8000u
/* GFP_RECLAIM_MASK of mm/internal.h: the bits of the caller's gfp a slab allocation keeps */
#define GFP_RECLAIM_MASK    (0xc00u | 0x20u | 0x40u | 0x80u | 0x2000u | 0x4000u | 0x8000u | \
                             0x10000u | 0x20000u | 0x80000u)

struct slab {
    int64_t pfn;            /* first page */
    uint64_t base;          /* address of object 0 */
    uint16_t *next;         /* per object: next free index, OBJ_END, OBJ_PENDING or OBJ_ALLOCATED */
    uint32_t cap;           /* entries next[] can hold */
    uint32_t cache;
    uint32_t lnext, lprev;  /* cache list links (slab ids) */
    uint32_t freelist;      /* first free object, OBJ_END when full */
    uint32_t inuse;
    uint32_t objects;
    uint8_t order;
    uint8_t list;           /* LMM_SLAB_LIST_* */
    uint16_t spare;
    uint64_t serial;        /* creation number, for the caller's per-slab state */
};

struct slab_list {
    uint32_t head, tail;
    int64_t nr;
};

struct kmem_cache {
    struct lmm_slab_geometry g;
    int alive;
    /*
     * LMM_SLAB_LIST_*: [PARTIAL] the node partial list (n->partial, empty slabs included),
     * [FULL] slabs with no free object on no SLUB list, [CPU] cpu 0's slab (c->slab, at most
     * one), [CPU_PARTIAL] cpu 0's partial slabs (c->partial).  [EMPTY] is unused (a view).
     */
    struct slab_list lists[5];
    uint32_t cpu_partial_slabs;     /* s->cpu_partial_slabs */
    int64_t nr_slabs;
    int64_t total_objects;
    int64_t inuse;
    int64_t pages;
    int64_t slabs_created;
};

struct lmm_slab_sys {
    struct lmm_lock *lock;          /* taken by every entry point; NULL: none (lock.h) */
    lmm_page_alloc_cb page_alloc;
    lmm_page_free_cb page_free;
    void *src;
    /* the direct map: page_offset + pfn * PAGE_SIZE for addresses below direct_map_end */
    uint64_t page_offset;
    uint64_t direct_map_end;

    struct slab *slabs;             /* by id; [0] unused */
    uint32_t nr_slab_ids;           /* ids handed out so far (including 0) */
    uint32_t slab_ids_cap;
    uint32_t *free_ids;             /* recycled ids */
    uint32_t nr_free_ids;

    struct kmem_cache **caches;     /* by id; NULL for a released id */
    int nr_caches, caches_cap;      /* ids handed out so far, capacity */
    int *free_caches;               /* released ids, reused by lmm_slab_cache_create() */
    int nr_free_caches;
    struct kmem_cache dead;         /* what LMM_SLAB_DEAD_CACHE names: never alive */
    int kmalloc[KMALLOC_TYPES][KMALLOC_INDEXES];

    uint32_t **map;                 /* pfn >> MAP_LEAF_SHIFT -> leaf */
    int64_t map_leaves;             /* entries of map[] */

    int64_t reclaimable_bytes;
    int64_t unreclaimable_bytes;
    int64_t large_pages;
    int64_t large_blocks;
    uint64_t serial;
    int64_t error_index;
    int handle;                     /* lmm_slab_handle(), -1: none */
};

/* Give s its handle (lmm_slab_handle); -1 when the table is full. */
int lmm_slab_register_handle(struct lmm_slab_sys *s);

#endif
