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

/* ---- address spaces (csrc/vma.c) --------------------------------------------------------- */
