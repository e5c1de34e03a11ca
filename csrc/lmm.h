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

#define LMM_ABI_VERSION 2

/* ---- error codes (negated on return) ---------------------------------------------------- */
#define LMM_ENOMEM      1   /* no block large enough */
#define LMM_EINVAL      2   /* bad argument (order, count, size) */
#define LMM_ERANGE      3   /* pfn outside the allocator's range */
#define LMM_EALIGN      4   /* pfn not aligned to the order */
#define LMM_EFREE       5   /* pfn lies in a block that is already free: double free */
#define LMM_ENOTHEAD    6   /* pfn is not the first page of an allocated block */
#define LMM_EORDER      7   /* block was allocated with another order */
#define LMM_EDUP        8   /* bulk free names the same block twice */
#define LMM_EOWNED      11  /* the block belongs to the slab allocator (a slab, a large kmalloc) */
#define LMM_EMAPPED     12  /* the frame belongs to the fault path (user, page-cache, table page) */
#define LMM_EPERM       13  /* a lock released by a thread that does not hold it */

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

/* ---- the engines' lock (csrc/lock.c, lock.h) --------------------------------------------- */
/* One recursive lock per machine, taken by every entry point of an engine it is set on (cffi
 * releases the GIL around each call); Python holds it across several calls (`with k.lock:`). */
struct lmm_lock;
void lmm_lock_acquire(struct lmm_lock *l);
int lmm_lock_try_acquire(struct lmm_lock *l);       /* 1: acquired, 0: held by another thread */
int lmm_lock_release(struct lmm_lock *l);           /* -LMM_EPERM unless this thread holds it */
int lmm_lock_held(struct lmm_lock *l);              /* this thread's depth, 0: not its lock */
int64_t lmm_lock_bench(struct lmm_lock *l, int64_t n);

/* ---- buddy allocator (csrc/buddy.c) ------------------------------------------------------ */
struct lmm_buddy;

struct lmm_buddy *lmm_buddy_create(int64_t start_pfn, int64_t nr_pages, int max_order);
void lmm_buddy_destroy(struct lmm_buddy *b);
/* The lock every entry point of b takes (created and freed with b); see lock.h. */
struct lmm_lock *lmm_buddy_lock(struct lmm_buddy *b);
/* Hand [start, end) to the free lists as memblock_free_all() does (largest aligned blocks, tail). */
int lmm_buddy_free_range(struct lmm_buddy *b, int64_t start, int64_t end);

int64_t lmm_buddy_alloc(struct lmm_buddy *b, int order);
int64_t lmm_buddy_free(struct lmm_buddy *b, int64_t pfn, int order);
int64_t lmm_buddy_alloc_bulk(struct lmm_buddy *b, int64_t *pfns, int64_t count, int order);
int64_t lmm_buddy_free_bulk(struct lmm_buddy *b, const int64_t *pfns, int64_t count, int order);
/* Index of the entry that made the last bulk free fail. */
int64_t lmm_buddy_error_index(struct lmm_buddy *b);

/* The same two calls through an int naming the allocator: cffi converts an int argument faster
 * than a pointer, and makes a one-argument call faster than a longer one (the Python fast paths
 * use them).  lmm_buddy_handle() is that int; it names the allocator until lmm_buddy_destroy().
 * lmm_buddy_alloc_ho() takes the handle and the order in one int, h << LMM_HANDLE_ORDER_BITS |
 * order.  A bad handle is -LMM_EINVAL. */
#define LMM_HANDLE_ORDER_BITS 6
int lmm_buddy_handle(struct lmm_buddy *b);
int64_t lmm_buddy_alloc_ho(int64_t h_order);
int64_t lmm_buddy_free_h(int h, int64_t pfn, int order);

int64_t lmm_buddy_alloc_mt(struct lmm_buddy *b, int order, int mt);
int64_t lmm_buddy_free_mt(struct lmm_buddy *b, int64_t pfn, int order, int mt, int fpi);
/* For a slab allocator on a bare buddy: the block is marked as the slab's, which
 * lmm_buddy_free()/lmm_buddy_free_bulk() refuse (-LMM_EOWNED); lmm_buddy_free_owned() frees it. */
int64_t lmm_buddy_alloc_owned(struct lmm_buddy *b, int order);
int64_t lmm_buddy_free_owned(struct lmm_buddy *b, int64_t pfn, int order);

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
/* The per-node page allocator engine (csrc/page_alloc.c): zones with buddy free lists, per-CPU
 * page lists, gfp -> zonelist, alloc_flags and the watermark test, migratetype fallback. */

/* gfp bits (include/linux/gfp_types.h, 6.3+; GFP_NOWAIT as 6.17+) */
#define LMM_GFP_DMA             0x01
#define LMM_GFP_HIGHMEM         0x02
#define LMM_GFP_DMA32           0x04
#define LMM_GFP_MOVABLE         0x08
#define LMM_GFP_RECLAIMABLE     0x10
#define LMM_GFP_HIGH            0x20
#define LMM_GFP_IO              0x40
#define LMM_GFP_FS              0x80
#define LMM_GFP_ZERO            0x100
#define LMM_GFP_DIRECT_RECLAIM  0x400
#define LMM_GFP_KSWAPD_RECLAIM  0x800
#define LMM_GFP_WRITE           0x1000
#define LMM_GFP_NOWARN          0x2000
#define LMM_GFP_RETRY_MAYFAIL   0x4000
#define LMM_GFP_NOFAIL          0x8000
#define LMM_GFP_NORETRY         0x10000
#define LMM_GFP_MEMALLOC        0x20000
#define LMM_GFP_COMP            0x40000
#define LMM_GFP_NOMEMALLOC      0x80000
#define LMM_GFP_HARDWALL        0x100000
#define LMM_GFP_THISNODE        0x200000
#define LMM_GFP_ACCOUNT         0x400000
#define LMM_GFP_ZEROTAGS        0x800000
#define LMM_GFP_ATOMIC          0x820
#define LMM_GFP_KERNEL          0xcc0
#define LMM_GFP_NOWAIT          0x2800
#define LMM_GFP_USER            0x100cc0
#define LMM_GFP_HIGHUSER        0x100cc2
#define LMM_GFP_HIGHUSER_MOVABLE 0x100cca

/* alloc_flags (mm/internal.h, 6.3+) */
#define LMM_ALLOC_WMARK_MIN     0
#define LMM_ALLOC_WMARK_LOW     1
#define LMM_ALLOC_WMARK_HIGH    2
#define LMM_ALLOC_WMARK_MASK    3
#define LMM_ALLOC_NO_WATERMARKS 0x04
#define LMM_ALLOC_OOM           0x08
#define LMM_ALLOC_NON_BLOCK     0x10
#define LMM_ALLOC_MIN_RESERVE   0x20
#define LMM_ALLOC_CPUSET        0x40
#define LMM_ALLOC_NOFRAGMENT    0x100
#define LMM_ALLOC_HIGHATOMIC    0x200
#define LMM_ALLOC_KSWAPD        0x800

/* zone kinds (enum zone_type with every zone configured); a machine lists a subset in order */
#define LMM_ZONE_DMA      0
#define LMM_ZONE_DMA32    1
#define LMM_ZONE_NORMAL   2
#define LMM_ZONE_HIGHMEM  3
#define LMM_ZONE_MOVABLE  4
#define LMM_ZONE_DEVICE   5
#define LMM_MAX_NR_ZONES  6
#define LMM_MAX_CPUS      1024
#define LMM_NR_PCP_LISTS  14      /* 12 for orders 0..3, 2 for pageblock_order (THP) */

/* what lmm_pa_zone_stat() reports */
#define LMM_ZS_START            0
#define LMM_ZS_SPANNED          1
#define LMM_ZS_MANAGED          2
#define LMM_ZS_FREE             3   /* NR_FREE_PAGES */
#define LMM_ZS_WMARK_MIN        4   /* without boost */
#define LMM_ZS_WMARK_LOW        5
#define LMM_ZS_WMARK_HIGH       6
#define LMM_ZS_WMARK_PROMO      7
#define LMM_ZS_BOOST            8
#define LMM_ZS_FREE_HIGHATOMIC  9
#define LMM_ZS_RESERVED_HIGHATOMIC 10
#define LMM_ZS_PGALLOC          11
#define LMM_ZS_BATCH            12
#define LMM_ZS_HIGH_MIN         13
#define LMM_ZS_HIGH_MAX         14
#define LMM_ZS_BELOW_HIGH       15
#define LMM_ZS_BOOSTED          16
#define LMM_ZS_FREE_BLOCKS      17  /* free pages in blocks of order >= pageblock_order */
#define LMM_ZS_KIND             18
/* what lmm_pa_pcp_stat() reports */
#define LMM_PS_COUNT        0
#define LMM_PS_HIGH         1
#define LMM_PS_FREE_COUNT   2
#define LMM_PS_ALLOC_FACTOR 3
#define LMM_PS_FLAGS        4
/* what lmm_pa_stat() reports */
#define LMM_PA_PGFREE            0
#define LMM_PA_KSWAPD_WAKEUPS    1
#define LMM_PA_MOBILITY_DISABLED 2
#define LMM_PA_NR_PCP_LISTS      3
/* page states from lmm_pa_page_info() */
#define LMM_PAGE_ABSENT     0
#define LMM_PAGE_RESERVED   1
#define LMM_PAGE_FREE       2
#define LMM_PAGE_PCP        3
#define LMM_PAGE_ALLOCATED  4
#define LMM_PAGE_TAIL       5
#define LMM_EGFP            9   /* two zone modifiers in one gfp */
#define LMM_ECPU            10  /* cpu out of range */

struct lmm_pa;

/* kinds[i] = LMM_ZONE_*, strictly increasing; spanned 0 = empty zone.  NULL on bad arguments. */
struct lmm_pa *lmm_pa_create(int nr_zones, const int *kinds, const int64_t *starts,
                             const int64_t *spanned, int cpus, int max_order, int pageblock_order,
                             int thp, int watermark_boost_factor);
void lmm_pa_destroy(struct lmm_pa *pa);
/* The lock every entry point of pa takes (created and freed with pa); see lock.h. */
struct lmm_lock *lmm_pa_lock(struct lmm_pa *pa);
int64_t lmm_pa_metadata_bytes(struct lmm_pa *pa);
/* memblock_free_all() of [start, end): -LMM_EFREE if part of it was already released. */
int lmm_pa_free_boot_range(struct lmm_pa *pa, int64_t start, int64_t end);
/* vals: min, low, high, promo, pcp_high, pcp_batch, pcp_high_min, pcp_high_max,
 * pcp_free_high_batch (0/1) (-1 = keep);
 * lowmem_reserve: nr_zones entries or NULL to keep. */
int lmm_pa_set_tunables(struct lmm_pa *pa, int zone, const int64_t *vals,
                        const int64_t *lowmem_reserve);
int lmm_pa_clear_boost(struct lmm_pa *pa, int zone);

/* Hot paths.  Results: pfn / count >= 0, or -LMM_ENOMEM, -LMM_EINVAL (order), -LMM_EGFP,
 * -LMM_ECPU, and the InvalidFree codes for frees. */
int64_t lmm_pa_alloc(struct lmm_pa *pa, uint32_t gfp, int order, int cpu);
int64_t lmm_pa_alloc_slowpath(struct lmm_pa *pa, uint32_t gfp, int order, int cpu);
int64_t lmm_pa_free(struct lmm_pa *pa, int64_t pfn, int order, int cpu);
/* The same two calls with two arguments, the cheapest cffi call the Python fast paths can make:
 * the allocator, the CPU and the order in one int, key = h << (LMM_PA_KEY_CPU_BITS +
 * LMM_PA_KEY_ORDER_BITS) | cpu << LMM_PA_KEY_ORDER_BITS | order, with h = lmm_pa_handle(), which
 * names the allocator until lmm_pa_destroy().  A key naming no allocator is -LMM_EINVAL; an order
 * field above max_order is the -LMM_EINVAL of a bad order. */
#define LMM_PA_KEY_ORDER_BITS 6
#define LMM_PA_KEY_CPU_BITS   10
int lmm_pa_handle(struct lmm_pa *pa);
int64_t lmm_pa_alloc_k(uint32_t gfp, int64_t key);
int64_t lmm_pa_free_k(int64_t pfn, int64_t key);
int64_t lmm_pa_alloc_bulk(struct lmm_pa *pa, uint32_t gfp, int64_t count, int cpu, int64_t *out);
int64_t lmm_pa_free_bulk(struct lmm_pa *pa, const int64_t *pfns, int64_t count, int cpu);
int64_t lmm_pa_error_index(struct lmm_pa *pa);
int lmm_pa_drain(struct lmm_pa *pa, int cpu);     /* cpu -1: every CPU */

/* For the slab allocator: cpu 0, no reclaim hook.  The block is marked as the slab's (PageSlab,
 * PG_large_kmalloc): lmm_pa_free() and lmm_pa_free_bulk() refuse it with -LMM_EOWNED; only
 * lmm_pa_free_page_cb() releases it. */
int64_t lmm_pa_alloc_page_cb(void *pa, uint32_t gfp, int order);
int64_t lmm_pa_free_page_cb(void *pa, int64_t pfn, int order);
/* The fault path's per-frame flags (nr entries): lmm_pa_free() and lmm_pa_free_bulk() refuse a
 * block whose head frame has a bit of mask set (-LMM_EMAPPED).  flags NULL: no such check.  The
 * caller keeps the array alive as long as the allocator. */
void lmm_pa_set_frame_owners(struct lmm_pa *pa, const uint32_t *flags, int64_t nr, uint32_t mask);

/* Compaction support (mm/compaction.c's free scanner; not on the hot paths).
 * isolate_free_page: __isolate_free_page() of the free block heading at pfn with this order
 * (order-0 min-watermark test, pageblocks of >= half a pageblock retagged MOVABLE), then
 * post_alloc_hook(): the block becomes an allocated, non-compound MOVABLE block of that order.
 * Returns 1 << order, 0 when the watermark refuses (nothing changed), -LMM_EINVAL (order),
 * -LMM_ERANGE (pfn in no zone), -LMM_ENOTHEAD (pfn does not head a free block of that order).
 * split_page: an allocated non-compound block of order -> 2^order allocated order-0 pages;
 * 0, or the free codes of lmm_pa_free() (-LMM_ENOTHEAD also for a compound block).
 * free_blocks: (pfn, order) pairs of the free blocks heading in [start, end) of a zone, in pfn
 * order, into out[2*k], out[2*k+1] (at most cap pairs); returns how many there are. */
int64_t lmm_pa_isolate_free_page(struct lmm_pa *pa, int64_t pfn, int order);
int64_t lmm_pa_split_page(struct lmm_pa *pa, int64_t pfn, int order);
int64_t lmm_pa_free_blocks(struct lmm_pa *pa, int zone, int64_t start, int64_t end,
                           int64_t *out, int64_t cap);

/* Inspection */
int64_t lmm_pa_stat(struct lmm_pa *pa, int what);
int64_t lmm_pa_zone_stat(struct lmm_pa *pa, int zone, int what);
int64_t lmm_pa_pcp_stat(struct lmm_pa *pa, int zone, int cpu, int what);
int64_t lmm_pa_lowmem_reserve(struct lmm_pa *pa, int zone, int j);
/* nr_free per order (mt -1: all types) into out[0..max_order] */
int lmm_pa_nr_free(struct lmm_pa *pa, int zone, int mt, int64_t *out);
/* pageblocks per migratetype into out[0..LMM_MIGRATE_TYPES-1] */
int lmm_pa_pageblock_counts(struct lmm_pa *pa, int zone, int64_t *out);
int lmm_pa_pageblock_mt(struct lmm_pa *pa, int64_t pfn);
/* A buddy free list (cpu < 0: list = order, mt) or a pcp list (list = pindex) head to tail. */
int64_t lmm_pa_list(struct lmm_pa *pa, int zone, int cpu, int order, int mt, int64_t *out,
                    int64_t cap);
/* out[5]: state (LMM_PAGE_*), zone, order (-1), migratetype (-1), compound head (0/1) */
int lmm_pa_page_info(struct lmm_pa *pa, int64_t pfn, int64_t *out);
/* gfp_zone(); zonelist into out (returns its length) */
int lmm_pa_gfp_zone(struct lmm_pa *pa, uint32_t gfp);
int lmm_pa_zonelist(struct lmm_pa *pa, uint32_t gfp, int *out);
int lmm_pa_check(struct lmm_pa *pa, char *msg, int msglen);

/* Benchmark loops wholly in C (checksum of pfns, or a negative error). */
int64_t lmm_pa_bench_pairs(struct lmm_pa *pa, uint32_t gfp, int order, int cpu, int64_t pairs);
int64_t lmm_pa_bench_bulk(struct lmm_pa *pa, uint32_t gfp, int cpu, int64_t rounds, int64_t batch,
                          int64_t *scratch);


/* ---- slab (csrc/slab.c) ------------------------------------------------------------------ */
/*
 * SLUB-style object caches.  Objects are named by kernel virtual address in the direct map of the
 * machine (page_offset + pfn * 4096 + offset: x86_64 PAGE_OFFSET 0xffff888000000000, i386
 * 0xC0000000, given at creation); a pfn -> slab map finds slab and
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
#define LMM_SLAB_LIST_EMPTY   2   /* a view: the empty slabs of the node partial list */
#define LMM_SLAB_LIST_CPU     3   /* the cpu slab of cpu 0 (c->slab, frozen): 0 or 1 slab */
#define LMM_SLAB_LIST_CPU_PARTIAL 4   /* cpu 0's partial slabs (c->partial), head first */

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
    int debug_lists;            /* kmem_cache_debug(): no cpu slabs, SLUB's debug list handling */
    int cpu_partial;            /* s->cpu_partial in objects (0 for debug caches) */
};

/* The direct map runs from page_offset (page aligned) to direct_map_end (exclusive); NULL for a
 * bad range.  x86_64: 0xffff888000000000..0xffffc88000000000; i386: 0xC0000000 + lowmem. */
struct lmm_slab_sys *lmm_slab_sys_create(lmm_page_alloc_cb alloc, lmm_page_free_cb free, void *src,
                                         uint64_t page_offset, uint64_t direct_map_end);
void lmm_slab_sys_destroy(struct lmm_slab_sys *s);
/* The lock every entry point of s takes from now on: its page source's (NULL: none). */
void lmm_slab_set_lock(struct lmm_slab_sys *s, struct lmm_lock *lock);
/* Page source over a struct lmm_buddy (same semantics as the engine's callbacks). */
int64_t lmm_slab_buddy_alloc_page(void *buddy, uint32_t gfp, int order);
int64_t lmm_slab_buddy_free_page(void *buddy, int64_t pfn, int order);

int lmm_slab_cache_create(struct lmm_slab_sys *s, const struct lmm_slab_geometry *g);
/* Release every slab of a cache with no objects in use and retire it; -EBUSY if objects remain.
 * The cache's memory and id are released: a later lmm_slab_cache_create() may reuse the id, so
 * the caller's handle becomes LMM_SLAB_DEAD_CACHE, on which every call returns
 * -LMM_SLAB_EDEAD. */
int lmm_slab_cache_release(struct lmm_slab_sys *s, int cache);
#define LMM_SLAB_DEAD_CACHE  2147483647
int lmm_slab_set_kmalloc(struct lmm_slab_sys *s, int type, int index, int cache);

uint64_t lmm_slab_alloc(struct lmm_slab_sys *s, int cache, uint32_t gfp);
int64_t lmm_slab_free(struct lmm_slab_sys *s, int cache, uint64_t addr);
/* The same calls with fewer arguments for the Python fast paths (cffi converts an int faster
 * than a pointer, and a one-argument call costs less than a longer one): key = h << 32 | cache,
 * h = lmm_slab_handle(), which names the slab system until lmm_slab_sys_destroy();
 * lmm_slab_alloc_k0() allocates with LMM_GFP_KERNEL.  A key naming no system is LMM_EINVAL. */
int lmm_slab_handle(struct lmm_slab_sys *s);
uint64_t lmm_slab_alloc_k0(int64_t key);
uint64_t lmm_slab_alloc_k(int64_t key, uint32_t gfp);
int64_t lmm_slab_free_k(int64_t key, uint64_t addr);
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

/* stats: nr_slabs, nr_partial, nr_full, nr_empty, total_objects, inuse, slabs_created, pages,
 * nr_cpu_partial, nr_cpu_slab, partial_free (count_partial_free_approx), cpu_partial_slabs */
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
/*
 * Bulk lookups over a snapshot of one mm's VMAs: starts[] and ends[] sorted, n entries, VMAs
 * not overlapping.  out[i] = vm_start of find_vma(addrs[i]) (first VMA with vm_end > addr) or
 * of vma_lookup(addrs[i]) (the VMA containing addr); -1 when there is none.  Returns count, or
 * -LMM_EINVAL for a negative n or count.
 */
int64_t lmm_vma_find_bulk(const int64_t *starts, const int64_t *ends, int64_t n,
                          const int64_t *addrs, int64_t *out, int64_t count);
int64_t lmm_vma_lookup_bulk(const int64_t *starts, const int64_t *ends, int64_t n,
                            const int64_t *addrs, int64_t *out, int64_t count);

/* ---- MMU: page frames, page tables, bulk access (csrc/mmu.c) ---- */
/*
 * Per-frame state (flags, refcount, mapcount, mapping, index: calloc'ed arrays of max_pfn the
 * Python layer views with numpy), sparse page contents (one malloc'ed 4 KiB buffer per frame
 * that has data; a page-table page's buffer holds its 512 entries), x86_64 4-level page tables
 * (PGD -> PUD -> PMD -> PTE, P4D folded) in frames from a struct lmm_pa, and the bulk access
 * loop.  Every value repeats linuxmm/vm/mmu_defs.py (tests/test_mmu_defs.py checks them).
 * Table pages come from lmm_pa_alloc(GFP_PGTABLE_USER, 0, cpu 0), anonymous pages from
 * lmm_pa_alloc(GFP_HIGHUSER_MOVABLE, 0, cpu 0): never a reclaim hook.
 */
#define LMM_PAGE_SHIFT       12
#define LMM_PAGE_SIZE        4096
#define LMM_PTRS_PER_TABLE   512
#define LMM_PMD_SHIFT        21
#define LMM_PUD_SHIFT        30
#define LMM_PGDIR_SHIFT      39
#define LMM_TASK_SIZE        0x7ffffffff000
#define LMM_USER_TOP         0x800000000000
#define LMM_PAE_TASK_SIZE    0xc0000000
#define LMM_PAE_PGD_PTRS     4
#define LMM_GFP_PGTABLE_USER 0x400dc0
#define LMM_GFP_ANON_PAGE    0x100cca

#define LMM_PTE_PRESENT   0x1
#define LMM_PTE_RW        0x2
#define LMM_PTE_USER      0x4
#define LMM_PTE_ACCESSED  0x20
#define LMM_PTE_DIRTY     0x40
#define LMM_PTE_PSE       0x80
#define LMM_PTE_PROTNONE  0x100
#define LMM_PTE_SPECIAL   0x200
#define LMM_PTE_TABLE     0x67
#define LMM_PTE_NX        0x8000000000000000
#define LMM_PTE_PFN_MASK  0xffffffffff000

#define LMM_PG_ANON           0x1
#define LMM_PG_ANON_EXCLUSIVE 0x2
#define LMM_PG_PGTABLE        0x8
#define LMM_PG_UPTODATE       0x20
#define LMM_PG_ACTIVE         0x200
#define LMM_PG_LRU            0x400
#define LMM_PG_SWAPBACKED     0x800

#define LMM_MM_ANONPAGES      1
#define LMM_MM_MIN_FLT        4
#define LMM_MM_PGTABLES_BYTES 6
#define LMM_NR_MM_COUNTERS    16
#define LMM_EV_PGFAULT        0
#define LMM_EV_PGREUSE        2
#define LMM_NR_VM_EVENTS      16
#define LMM_NR_INACTIVE_ANON  0
#define LMM_NR_ACTIVE_ANON    1
#define LMM_NR_ANON_MAPPED    5
#define LMM_NR_PAGETABLE      12
#define LMM_NR_NODE_ITEMS     16

#define LMM_VM_READ   0x1
#define LMM_VM_WRITE  0x2
#define LMM_VM_EXEC   0x4
#define LMM_SNAP_START     0
#define LMM_SNAP_END       1
#define LMM_SNAP_FLAGS     2
#define LMM_SNAP_PGOFF     3
#define LMM_SNAP_ANON_VMA  4
#define LMM_SNAP_KIND      5
#define LMM_SNAP_COLUMNS   6
#define LMM_SNAPK_ANON         1
#define LMM_SNAPK_NO_ZERO_PAGE 2
#define LMM_ACCESS_DONE   0
#define LMM_ACCESS_FAULT  1
#define LMM_ACCESS_NOMEM  2
#define LMM_ACCESS_KSWAPD 3   /* the access completed but its allocation woke kswapd */
#define LMM_NR_LRU_LISTS       5
#define LMM_LRU_INACTIVE_ANON  0
#define LMM_LRU_ACTIVE_ANON    1

/* swap (csrc/swap.c; linuxmm/vm/swap.py) */
#define LMM_PG_DIRTY          0x40
#define LMM_PG_READAHEAD      0x80
#define LMM_PG_SWAPCACHE      0x40000
#define LMM_PG_WORKINGSET     0x200000
#define LMM_MM_SWAPENTS       2
#define LMM_MM_MAJ_FLT        5
#define LMM_EV_PGMAJFAULT     1
#define LMM_EV_PGPGIN         5
#define LMM_EV_PGPGOUT        6
#define LMM_NR_INACTIVE_FILE  2
#define LMM_NR_ACTIVE_FILE    3
#define LMM_NR_FILE_PAGES     7
#define LMM_MAX_SWAPFILES     32
#define LMM_SWAPFILE_CLUSTER  512
/* swap's counters and readahead state: int64_t[LMM_NR_SWAP_STATS] (LMM_MMU_SWAP_STAT) */
#define LMM_SWS_NONRESIDENT_AGE  0   /* the node's nonresident age (workingset.c) */
#define LMM_SWS_RA_HITS          1   /* swapin_readahead_hits */
#define LMM_SWS_PREV_OFFSET      2   /* swapin_nr_pages' prev_offset */
#define LMM_SWS_LAST_RA          3   /* swapin_nr_pages' last_readahead_pages */
#define LMM_SWS_PAGE_CLUSTER     4   /* vm.page-cluster, as the caller last set it */
#define LMM_SWS_PSWPIN           5
#define LMM_SWS_PSWPOUT          6
#define LMM_SWS_SWAP_RA          7
#define LMM_SWS_SWAP_RA_HIT      8
#define LMM_SWS_NR_SWAPCACHED    9
#define LMM_SWS_REFAULT_ANON     10  /* workingset_refault_anon */
#define LMM_SWS_ACTIVATE_ANON    11  /* workingset_activate_anon */
#define LMM_SWS_RESTORE_ANON     12  /* workingset_restore_anon */
#define LMM_NR_SWAP_STATS        16
/* one swap area's scalars: int64_t[LMM_NR_SWPI] (LMM_MMU_SWP_INFO) */
#define LMM_SWPI_MAX          0   /* slots, the header included (si->max) */
#define LMM_SWPI_PAGES        1   /* usable slots (si->pages) */
#define LMM_SWPI_INUSE        2   /* si->inuse_pages */
#define LMM_SWPI_CURRENT      3   /* cpu 0's current cluster */
#define LMM_SWPI_NEXT_OFFSET  4   /* where its next slot search starts */
#define LMM_SWPI_FREE_HEAD    5   /* the free-cluster ring: first entry */
#define LMM_SWPI_NR_FREE      6   /* the free-cluster ring: entries */
#define LMM_SWPI_SYNC         7   /* SWP_SYNCHRONOUS_IO (zram) */
#define LMM_NR_SWPI           8

#define LMM_LEVEL_PTE 1
#define LMM_LEVEL_PMD 2
#define LMM_LEVEL_PUD 3
#define LMM_LEVEL_PGD 4

/* the arrays lmm_mmu_array() returns */
#define LMM_MMU_FLAGS     0   /* uint32_t[max_pfn] */
#define LMM_MMU_REFCOUNT  1   /* int32_t[max_pfn] */
#define LMM_MMU_MAPCOUNT  2   /* int32_t[max_pfn] */
#define LMM_MMU_MAPPING   3   /* int64_t[max_pfn] */
#define LMM_MMU_INDEX     4   /* int64_t[max_pfn] */
#define LMM_MMU_EVENTS    5   /* int64_t[LMM_NR_VM_EVENTS] */
#define LMM_MMU_NODE      6   /* int64_t[LMM_NR_NODE_ITEMS] */
#define LMM_MMU_LRU_PREV  7   /* int32_t[max_pfn + LMM_NR_LRU_LISTS]: list links, -1 unlinked */
#define LMM_MMU_LRU_NEXT  8   /* (the last LMM_NR_LRU_LISTS entries are the list heads) */
#define LMM_MMU_SWAP_ENTRY 9  /* int64_t[max_pfn]: a swap-cache folio's entry (type << 40 | offset), 0 */
#define LMM_MMU_SWAP_STAT 10  /* int64_t[LMM_NR_SWAP_STATS] */
/* the arrays of one swap area lmm_mmu_swap_array() returns */
#define LMM_MMU_SWP_MAP      0   /* int32_t[max] */
#define LMM_MMU_SWP_CACHE    1   /* int64_t[max] */
#define LMM_MMU_SWP_SHADOW   2   /* int64_t[max] */
#define LMM_MMU_SWP_CLUSTERS 3   /* int32_t[nclusters] */
#define LMM_MMU_SWP_FREE     4   /* int32_t[nclusters] */
#define LMM_MMU_SWP_INFO     5   /* int64_t[LMM_NR_SWPI] */

#define LMM_ELEAF  40   /* free_pgtables: a table it would free still holds an entry */
#define LMM_EHUGE  41   /* the PMD slot holds a huge leaf (pte_set) or a PTE table (pmd_set) */

struct lmm_mmu;

/* NULL when memory runs out or the arguments are bad (zero_pfn must be < max_pfn). */
struct lmm_mmu *lmm_mmu_create(struct lmm_pa *pa, int64_t max_pfn, int64_t zero_pfn);
void lmm_mmu_destroy(struct lmm_mmu *m);
/* The lock every entry point of m takes from now on (lmm_mmu_create sets its pa's). */
void lmm_mmu_set_lock(struct lmm_mmu *m, struct lmm_lock *lock);
void *lmm_mmu_array(struct lmm_mmu *m, int which);
int64_t lmm_mmu_metadata_bytes(struct lmm_mmu *m);
int64_t lmm_mmu_lru_walk(struct lmm_mmu *m, int lru, int64_t *out, int64_t cap);

/* Page contents.  read: length bytes at offset into out (zeros without a buffer); returns 1 if
 * the frame has a buffer, 0 if not.  write/copy/clear refuse page-table pages (-LMM_EINVAL). */
int lmm_mmu_page_read(struct lmm_mmu *m, int64_t pfn, int64_t offset, int64_t length, uint8_t *out);
int lmm_mmu_page_write(struct lmm_mmu *m, int64_t pfn, int64_t offset, const uint8_t *src,
                       int64_t length);
int lmm_mmu_page_copy(struct lmm_mmu *m, int64_t dst, int64_t src);
int lmm_mmu_page_clear(struct lmm_mmu *m, int64_t pfn);
int lmm_mmu_page_has_data(struct lmm_mmu *m, int64_t pfn);
int64_t lmm_mmu_nr_data_pages(struct lmm_mmu *m);

/* Page tables.  counters: the mm's int64_t[LMM_NR_MM_COUNTERS].  Level of a table page (0: not
 * one). */
int lmm_mmu_table_level(struct lmm_mmu *m, int64_t pfn);
/* The paging mode, set once before the first PGD: 4 (x86_64, the default) or 3 (i386 PAE: a PGD
 * of 4 entries at 1 GiB each, each pointing to a PMD; user addresses below 0xC0000000; the 4
 * PMDs are preallocated by pgd_alloc and mopped up by pgd_free, as arch/x86/mm/pgtable.c does).
 * 0, or -LMM_EINVAL for another value or once a PGD exists. */
int lmm_mmu_set_levels(struct lmm_mmu *m, int levels);
int64_t lmm_mmu_pgd_alloc(struct lmm_mmu *m, int64_t *counters);
int lmm_mmu_pgd_free(struct lmm_mmu *m, int64_t pgd, int64_t *counters);
uint64_t lmm_mmu_pte_get(struct lmm_mmu *m, int64_t pgd, uint64_t addr);
uint64_t lmm_mmu_pmd_get(struct lmm_mmu *m, int64_t pgd, uint64_t addr);
int lmm_mmu_pte_set(struct lmm_mmu *m, int64_t pgd, uint64_t addr, uint64_t entry, int64_t *counters);
int lmm_mmu_pmd_set(struct lmm_mmu *m, int64_t pgd, uint64_t addr, uint64_t entry, int64_t *counters);
/* Unchecked fast paths for trusted internal callers (reclaim, swap): the PTE of addr in an existing
 * PTE table is overwritten (0), or nothing happens and -LMM_EINVAL when there is no PTE table for
 * addr (absent tables or a huge leaf: the caller takes the checked pte_set). */
int lmm_mmu_pte_update(struct lmm_mmu *m, int64_t pgd, uint64_t addr, uint64_t entry);
/* ptep_test_and_clear_young: the leaf entry of addr as pte_get() returns it; when it is a PTE
 * (not a huge PMD leaf) with Accessed set, Accessed is cleared in the table. */
uint64_t lmm_mmu_pte_clear_young(struct lmm_mmu *m, int64_t pgd, uint64_t addr);
/* Reclaim's referenced-PTE pass over a batch of isolated folios (mm/rmap.c folio_referenced,
 * mm/vmscan.c folio_check_references) for the anonymous order-0 ones, with a flat rmap snapshot
 * of the reclaim pass: keys[nkeys] (sorted anon_vma ids), kstart[nkeys + 1] (each key's
 * candidates are cand[kstart[k]..kstart[k+1])), and per candidate VMA its pgd, vm_start, pages,
 * vm_pgoff and vm_flags, in rmap_walk()'s order.  For folio i: out_ref[i] = -1 when it is not
 * handled here (not anonymous, large, mlocked/unevictable, or a mapping through a huge PMD:
 * nothing was changed, the caller takes the Python path); else the referenced PTE count (their
 * Accessed cleared, stopping at a VM_LOCKED VMA as folio_referenced does), out_vmflags[i] the
 * union of the referencing VMAs' flags (| VM_LOCKED), and the mappings found are
 * out_cand/out_addr[out_mstart[i]..out_mstart[i+1]) (candidate index, address).  With
 * check != 0 the folio's PG_referenced is tested and set/cleared and out_decision[i] is
 * folio_check_references' FOLIOREF_* code.  Returns the mappings written, or -1 when cap is too
 * small (nothing is changed then). */
int64_t lmm_mmu_check_references(struct lmm_mmu *m, const int64_t *pfns, int64_t n,
                                 const int64_t *keys, const int64_t *kstart, int64_t nkeys,
                                 const int64_t *c_pgd, const int64_t *c_start,
                                 const int64_t *c_pages, const int64_t *c_pgoff,
                                 const int64_t *c_vmflags, int check, int64_t *out_ref,
                                 int64_t *out_vmflags, int64_t *out_decision, int64_t *out_mstart,
                                 int64_t *out_cand, int64_t *out_addr, int64_t cap);
/* isolate_lru_folios for one list: folios from the tail of list lru until nr_to_scan pages
 * are taken or the list's counter of pages has been seen; a folio at or above limit_pfn (a zone
 * above reclaim_idx) is skipped and the skipped ones go back to the head in reverse order.  The
 * taken folios lose PG_lru (the head of an anonymous folio, every frame of a page-cache one) and
 * the list's node counter drops by their pages.  out[] gets the taken folios in order (cap: the
 * counter + 1), skipped[] is scratch of the same size; *scanned the pages taken.  Returns the
 * folios taken. */
int64_t lmm_mmu_isolate_lru(struct lmm_mmu *m, int lru, int64_t nr_to_scan, int64_t limit_pfn,
                            int64_t *out, int64_t *skipped, int64_t *scanned);
/* lruvec_add_folio of each folio in order: PG_lru set, at the head of the list its flags name,
 * the node counter up by its pages. */
void lmm_mmu_lru_add_batch(struct lmm_mmu *m, const int64_t *pfns, int64_t n);

/* Swap areas (csrc/swap.c; linuxmm/vm/swap.py keeps the policy: priorities, swapon/swapoff).
 * swapon: an empty area of max slots (the header included) for a free type, sync != 0 for
 * SWP_SYNCHRONOUS_IO; 0, -LMM_EINVAL (bad type, in use, max < 2) or -LMM_ENOMEM.  swapoff frees
 * the area (its slot contents too).  swap_array: LMM_MMU_SWP_* of an active area, else NULL. */
int lmm_mmu_swapon(struct lmm_mmu *m, int type, int64_t max, int sync);
int lmm_mmu_swapoff(struct lmm_mmu *m, int type);
void *lmm_mmu_swap_array(struct lmm_mmu *m, int type, int which);
/* cluster_alloc_swap_entry for one order-0 slot of the area: the offset, or -1 when full.
 * slot_free: the slot's last user went (its contents are dropped, its cluster maybe freed). */
int64_t lmm_mmu_swap_alloc_slot(struct lmm_mmu *m, int type);
void lmm_mmu_swap_slot_free(struct lmm_mmu *m, int type, int64_t offset);
/* The swap cache of a folio: add (PG_swapcache, a reference, nr_file_pages, nr_swapcached);
 * delete (the reverse but the reference, which the caller drops with folio_put; the slot is
 * freed when no PTE holds it, else it keeps the shadow, -1 for none).  -LMM_EINVAL when the
 * folio or slot is not in the state these need. */
int lmm_mmu_swap_cache_add(struct lmm_mmu *m, int64_t pfn, int type, int64_t offset);
int lmm_mmu_swap_cache_delete(struct lmm_mmu *m, int64_t pfn, int64_t shadow);
/* swap_writepage of a swap-cache folio: its bytes to its slot, PG_dirty cleared, pswpout and
 * pgpgout counted.  readpage: the slot's bytes into frame pfn (zeros when it has none), pswpin
 * and pgpgin counted.  -LMM_EINVAL on a bad folio/slot, -LMM_ENOMEM when host memory ran out. */
int lmm_mmu_swap_writepage(struct lmm_mmu *m, int64_t pfn);
int lmm_mmu_swap_readpage(struct lmm_mmu *m, int64_t pfn, int type, int64_t offset);
/* shrink_folio_list for the anonymous order-0 swap-backed folios of an isolated batch
 * (csrc/vmscan.c; linuxmm/vm/vmscan.py), folio by folio from start, with
 * lmm_mmu_check_references' answers for the batch (ref, decision, and the mappings
 * mcand/maddr[mstart[i]..mstart[i+1]), candidates' c_pgd and their mm's counters c_counters):
 * activate / keep, add_to_swap (slots from the areas in swap_order[nswap], priority order),
 * try_to_unmap, pageout, __remove_mapping with a workingset shadow, the folio freed.  It stops at
 * the first folio it does not handle (ref < 0, not swap-backed, a THP, a mapping without a PTE
 * table) before changing it, and returns its index (n when all are done).  Folios kept are
 * appended to keep[] from out[0]; out[1] += pages reclaimed, out[2] += pages activated
 * (pgactivate), out[3] += pages written (nr_vmscan_write, pswpout, the clock's swap_out).
 * A negative code when host memory for a slot's contents ran out (the folio is kept, swapped). */
int64_t lmm_mmu_shrink_anon(struct lmm_mmu *m, const int64_t *pfns, int64_t n, int64_t start,
                            const int64_t *ref, const int64_t *decision, const int64_t *mstart,
                            const int64_t *mcand, const int64_t *maddr, const int64_t *c_pgd,
                            int64_t **c_counters, const int64_t *swap_order, int64_t nswap,
                            int may_swap, int may_writepage, int64_t *keep, int64_t *out);
/* pud_alloc + pmd_alloc: the tables above addr's PMD slot (what handle_mm_fault allocates first). */
int lmm_mmu_pmd_alloc(struct lmm_mmu *m, int64_t pgd, uint64_t addr, int64_t *counters);
/* pud_alloc alone (4-level; nothing to do with PAE, whose PMDs come with the PGD). */
int lmm_mmu_pud_alloc(struct lmm_mmu *m, int64_t pgd, uint64_t addr, int64_t *counters);
/* Which tables exist above addr: 0 no PUD table, 1 a PUD table but no PMD table, 2 a PMD table
 * whose slot for addr is empty, 3 a PTE table or a huge leaf in that slot. */
int lmm_mmu_table_depth(struct lmm_mmu *m, int64_t pgd, uint64_t addr);
/* pte_set of each in order: n, or a negative code with lmm_mmu_error_index() the entry that
 * failed (those before it are done). */
int64_t lmm_mmu_set_bulk(struct lmm_mmu *m, int64_t pgd, const int64_t *addrs,
                         const uint64_t *entries, int64_t n, int64_t *counters);
int64_t lmm_mmu_clear_bulk(struct lmm_mmu *m, int64_t pgd, const int64_t *addrs, int64_t n);
int64_t lmm_mmu_error_index(struct lmm_mmu *m);
/* Leaves intersecting [start, end) in address order: their number (the first cap written). */
int64_t lmm_mmu_walk(struct lmm_mmu *m, int64_t pgd, uint64_t start, uint64_t end, int64_t *addrs,
                     uint64_t *entries, int64_t cap);
/* free_pgd_range(); -LMM_ELEAF (nothing freed) with leaf[0] = address, leaf[1] = entry of the
 * first entry a freed table would lose. */
int lmm_mmu_free_pgtables(struct lmm_mmu *m, int64_t pgd, uint64_t start, uint64_t end,
                          uint64_t floor, uint64_t ceiling, int64_t *counters, uint64_t *leaf);
/* Table pages: PGD first, then depth-first in address order; their number (first cap written). */
int64_t lmm_mmu_table_pages(struct lmm_mmu *m, int64_t pgd, int64_t *out, int64_t cap);

/* The bulk access loop: index of the first access not completed (n when all are) and *reason
 * LMM_ACCESS_*; snap is int64_t[nvma][LMM_SNAP_COLUMNS] sorted by start.  Negative on bad
 * arguments.  It completes hits, anonymous faults (zero page, new page, COW) and faults on swap
 * entries (swap-cache hits; swap-ins with the readahead of swap_stat[LMM_SWS_PAGE_CLUSTER],
 * counted in counters[LMM_MM_MAJ_FLT]: csrc/swap.c). */
int64_t lmm_mmu_access(struct lmm_mmu *m, int64_t pgd, int64_t *counters, const int64_t *snap,
                       int64_t nvma, const int64_t *addrs, const uint8_t *writes, int64_t n,
                       int64_t start, int *reason);
/* The same for addr + k * 4096, k in [start, npages). */
int64_t lmm_mmu_access_range(struct lmm_mmu *m, int64_t pgd, int64_t *counters, const int64_t *snap,
                             int64_t nvma, int64_t addr, int64_t npages, int write, int64_t start,
                             int *reason);

/* ---- snapshots (csrc/snapshot.c) --------------------------------------------------------- */
/*
 * An engine's whole state as bytes, and a new engine rebuilt from them (linuxmm/snapshot.py).
 * export: the stream's size; it is written into buf only when cap is at least that size (call
 * with NULL, 0 first).  import: NULL when the stream is short, long, of another engine or of a
 * build whose structures differ, or inconsistent.  The slab engine gets its page source anew;
 * the MMU engine its page allocator (the imported one).
 */
int64_t lmm_pa_export(struct lmm_pa *pa, uint8_t *buf, int64_t cap);
struct lmm_pa *lmm_pa_import(const uint8_t *buf, int64_t len);
int64_t lmm_slab_export(struct lmm_slab_sys *s, uint8_t *buf, int64_t cap);
struct lmm_slab_sys *lmm_slab_import(const uint8_t *buf, int64_t len, lmm_page_alloc_cb alloc,
                                     lmm_page_free_cb free_cb, void *src);
int64_t lmm_mmu_export(struct lmm_mmu *m, uint8_t *buf, int64_t cap);
struct lmm_mmu *lmm_mmu_import(struct lmm_pa *pa, const uint8_t *buf, int64_t len);
/* sizeof(struct lmm_mmu) in mmu.c (snapshot.c checks its copy of the layout against it);
 * lmm_mmu_export returns -LMM_EINVAL when they differ. */
int64_t lmm_mmu_struct_size(void);
