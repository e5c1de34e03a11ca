/*
 * lmm.h - the C core's public interface.
 *
 * This file has two readers: the C compiler (every C file in csrc includes it) and cffi, which reads it
 * as the cdef.  It therefore holds declarations and integer #defines only: no #include, no #if,
 * no inline code.  Exported symbols are prefixed lmm_ and named object-before-verb.
 *
 * Error convention: functions that can fail return a negative LMM_E* code; 0 or a non-negative
 * result (a pfn, a count) means success.  Nothing is changed when an error is returned.
 */

#define LMM_ABI_VERSION 1

/* ---- error codes (negated on return) ---------------------------------------------------- */
#define LMM_ENOMEM      1   /* no block large enough */
#define LMM_EINVAL      2   /* bad argument (order, count, size) */
#define LMM_ERANGE      3   /* pfn outside the allocator's range */
#define LMM_EALIGN      4   /* pfn not aligned to the order */
#define LMM_EFREE       5   /* pfn lies in a block that is already free: double free */
#define LMM_ENOTHEAD    6   /* pfn is not the first page of an allocated block */
#define LMM_EORDER      7   /* block was allocated with another order */
#define LMM_EDUP        8   /* bulk free names the same block twice */

/* ---- migratetypes and free-page flags (include/linux/mmzone.h, mm/internal.h) ------------ */
#define LMM_MIGRATE_UNMOVABLE    0
#define LMM_MIGRATE_MOVABLE      1
#define LMM_MIGRATE_RECLAIMABLE  2
#define LMM_MIGRATE_PCPTYPES     3
#define LMM_MIGRATE_HIGHATOMIC   3
#define LMM_MIGRATE_ISOLATE      4
#define LMM_MIGRATE_TYPES        5

#define LMM_FPI_NONE     0
#define LMM_FPI_TO_TAIL  2

#define LMM_MAX_ORDER_LIMIT 20      /* largest max_order an allocator may be created with */
#define LMM_PAGEBLOCK_ORDER 9

/* ---- buddy allocator (csrc/buddy.c) ------------------------------------------------------ */
struct lmm_buddy;

struct lmm_buddy *lmm_buddy_create(int64_t start_pfn, int64_t nr_pages, int max_order);
void lmm_buddy_destroy(struct lmm_buddy *b);
/* Hand [start, end) to the free lists as memblock_free_all() does (largest aligned blocks, tail). */
int lmm_buddy_free_range(struct lmm_buddy *b, int64_t start, int64_t end);

int64_t lmm_buddy_alloc(struct lmm_buddy *b, int order);
int64_t lmm_buddy_free(struct lmm_buddy *b, int64_t pfn, int order);
int64_t lmm_buddy_alloc_bulk(struct lmm_buddy *b, int64_t *pfns, int64_t count, int order);
int64_t lmm_buddy_free_bulk(struct lmm_buddy *b, const int64_t *pfns, int64_t count, int order);
/* Index of the entry that made the last bulk free fail. */
int64_t lmm_buddy_error_index(struct lmm_buddy *b);

int64_t lmm_buddy_alloc_mt(struct lmm_buddy *b, int order, int mt);
int64_t lmm_buddy_free_mt(struct lmm_buddy *b, int64_t pfn, int order, int mt, int fpi);

int64_t lmm_buddy_start_pfn(struct lmm_buddy *b);
int64_t lmm_buddy_nr_pages(struct lmm_buddy *b);
int lmm_buddy_max_order(struct lmm_buddy *b);
int64_t lmm_buddy_free_pages(struct lmm_buddy *b);
/* nr_free for orders 0..max_order into out[]; per migratetype when mt >= 0, all types when -1. */
void lmm_buddy_nr_free(struct lmm_buddy *b, int64_t *out, int mt);
/* Free list of (order, mt) from head to tail into out[] (at most cap entries); returns its length. */
int64_t lmm_buddy_free_list(struct lmm_buddy *b, int order, int mt, int64_t *out, int64_t cap);
/* State of one pfn: 1 free block head, 2 allocated block head, 0 otherwise; order via *order. */
int lmm_buddy_page_state(struct lmm_buddy *b, int64_t pfn, int *order);
/* Walk every list and page; 0 when consistent, else a negative code and a message. */
int lmm_buddy_check(struct lmm_buddy *b, char *msg, int msglen);
/* Bytes of host memory the allocator reserved (touched lazily). */
int64_t lmm_buddy_metadata_bytes(struct lmm_buddy *b);

/* Benchmark loops wholly in C: `pairs` alloc+free pairs of one order, or alloc `batch` then free
 * them, `rounds` times.  They return a checksum of the pfns seen, or a negative error. */
int64_t lmm_buddy_bench_pairs(struct lmm_buddy *b, int64_t pairs, int order);
int64_t lmm_buddy_bench_batches(struct lmm_buddy *b, int64_t rounds, int64_t batch, int64_t *scratch);

/* ---- zones (csrc/zone.c) ----------------------------------------------------------------- */

/* ---- slab (csrc/slab.c) ------------------------------------------------------------------ */
/*
 * SLUB-style object caches.  Objects are named by kernel virtual address in the x86_64 direct
 * map (PAGE_OFFSET 0xffff888000000000 + pfn * 4096 + offset); a pfn -> slab map finds slab and
 * cache from an address.  Geometry is computed by the caller (linuxmm/slab/geometry.py) and
 * pushed in; pages come from a page source through two callbacks.  Addresses are returned as
 * uint64: a value below LMM_SLAB_MIN_ADDR is a (positive) error code, never an object.
 */
#define LMM_SLAB_MIN_ADDR    4096
#define LMM_SLAB_ENOTSLAB    20  /* address is not in a slab page (never allocated) */
#define LMM_SLAB_EWRONGCACHE 21  /* object belongs to another cache */
#define LMM_SLAB_EINTERIOR   22  /* not the start of an object (interior, red zone, padding) */
#define LMM_SLAB_EFREE       23  /* object is already free: double free */
#define LMM_SLAB_EDUP        24  /* bulk free names one object twice */
#define LMM_SLAB_EDEBUG      25  /* cache has debug flags: the caller must take the slow path */
#define LMM_SLAB_EDEAD       26  /* cache was destroyed */
#define LMM_SLAB_EBUSY       27  /* cache still has objects */
#define LMM_SLAB_ETOOBIG     28  /* kmalloc size above KMALLOC_MAX_SIZE */
#define LMM_SLAB_ENOCACHE    29  /* no kmalloc cache of that type and size */

/* lists of a cache (lmm_slab_list) */
#define LMM_SLAB_LIST_PARTIAL 0
#define LMM_SLAB_LIST_FULL    1
#define LMM_SLAB_LIST_EMPTY   2

typedef int64_t (*lmm_page_alloc_cb)(void *src, uint32_t gfp, int order);
typedef int64_t (*lmm_page_free_cb)(void *src, int64_t pfn, int order);

struct lmm_slab_sys;

struct lmm_slab_geometry {
    uint32_t size;              /* object stride (slabinfo objsize) */
    uint32_t red_left_pad;      /* offset of object 0 in the slab */
    uint32_t ksize;             /* what ksize() reports */
    int order;                  /* oo */
    int objects;
    int min_order;              /* fallback when the oo allocation fails */
    int min_objects;
    int min_partial;
    uint32_t allocflags;        /* gfp bits every slab allocation adds */
    int reclaimable;            /* NR_SLAB_RECLAIMABLE_B rather than UNRECLAIMABLE */
    int debug;                  /* kfree() must go through the caller's slow path */
};

struct lmm_slab_sys *lmm_slab_sys_create(lmm_page_alloc_cb alloc, lmm_page_free_cb free, void *src);
void lmm_slab_sys_destroy(struct lmm_slab_sys *s);
/* Page source over a struct lmm_buddy (same semantics as the engine's callbacks). */
int64_t lmm_slab_buddy_alloc_page(void *buddy, uint32_t gfp, int order);
int64_t lmm_slab_buddy_free_page(void *buddy, int64_t pfn, int order);

int lmm_slab_cache_create(struct lmm_slab_sys *s, const struct lmm_slab_geometry *g);
/* Release every slab of a cache with no objects in use and retire it; -EBUSY if objects remain. */
int lmm_slab_cache_release(struct lmm_slab_sys *s, int cache);
int lmm_slab_set_kmalloc(struct lmm_slab_sys *s, int type, int index, int cache);

uint64_t lmm_slab_alloc(struct lmm_slab_sys *s, int cache, uint32_t gfp);
int64_t lmm_slab_free(struct lmm_slab_sys *s, int cache, uint64_t addr);
/* All or nothing: n objects into out[], or a negative code and nothing allocated. */
int64_t lmm_slab_alloc_bulk(struct lmm_slab_sys *s, int cache, uint32_t gfp, int64_t n, uint64_t *out);
/* All or nothing; cache -1 = each object's own cache (kfree_bulk).  Error entry: lmm_slab_error_index. */
int64_t lmm_slab_free_bulk(struct lmm_slab_sys *s, int cache, const uint64_t *addrs, int64_t n);
int64_t lmm_slab_error_index(struct lmm_slab_sys *s);

uint64_t lmm_slab_kmalloc(struct lmm_slab_sys *s, int64_t size, uint32_t gfp);
int64_t lmm_slab_kfree(struct lmm_slab_sys *s, uint64_t addr);
int64_t lmm_slab_ksize(struct lmm_slab_sys *s, uint64_t addr);
/* kmalloc cache for (size, gfp), -1 for a large kmalloc, or a negative code. */
int lmm_slab_kmalloc_cache(struct lmm_slab_sys *s, int64_t size, uint32_t gfp);
int lmm_slab_kmalloc_index(int64_t size);

/* kmem_cache_shrink(): discard empty slabs, sort partial slabs; 1 if slabs remain, else 0. */
int lmm_slab_shrink(struct lmm_slab_sys *s, int cache);

/* stats: nr_slabs, nr_partial, nr_full, nr_empty, total_objects, inuse, slabs_created, pages */
void lmm_slab_cache_stats(struct lmm_slab_sys *s, int cache, int64_t *out);
/* counters: reclaimable bytes, unreclaimable bytes, large kmalloc pages, large kmalloc blocks */
void lmm_slab_counters(struct lmm_slab_sys *s, int64_t *out);
/* Slab pfns of one list, head first; returns the list length. */
int64_t lmm_slab_list(struct lmm_slab_sys *s, int cache, int which, int64_t *out, int64_t cap);
/* What addr is: out = {kind, cache, slab pfn, order, objects, inuse, index or -1, allocated,
 * serial, object address}; kind 0 none, 1 slab, 2 large kmalloc (cache -1, index -1). */
int lmm_slab_object_info(struct lmm_slab_sys *s, uint64_t addr, int64_t *out);
/* Indices of the free objects of the slab at pfn in freelist order; returns their number. */
int64_t lmm_slab_freelist(struct lmm_slab_sys *s, int64_t pfn, int64_t *out, int64_t cap);
/* Addresses of the allocated objects of a cache, slab by slab in list order. */
int64_t lmm_slab_inuse_objects(struct lmm_slab_sys *s, int cache, uint64_t *out, int64_t cap);
int lmm_slab_check(struct lmm_slab_sys *s, char *msg, int msglen);
int64_t lmm_slab_metadata_bytes(struct lmm_slab_sys *s);

int64_t lmm_slab_bench_pairs(struct lmm_slab_sys *s, int cache, int64_t pairs);
int64_t lmm_slab_bench_bulk(struct lmm_slab_sys *s, int cache, int64_t rounds, int64_t batch, uint64_t *scratch);

/* ---- address spaces (csrc/vma.c) --------------------------------------------------------- */
