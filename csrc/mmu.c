/*
 * mmu.c - page frames, x86_64 4-level page tables and the bulk access loop (the fault paths of
 * do_anonymous_page() and do_wp_page() for private anonymous VMAs).  linuxmm/reference/mmu.py is
 * the pure-Python twin; both must give identical results.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lock.h"
#include "lmm.h"
#include "mmu_internal.h"

#define IDX(addr, shift) ((unsigned)(((addr) >> (shift)) & 511))
#define PFN_OF(e) ((int64_t)(((e) & LMM_PTE_PFN_MASK) >> LMM_PAGE_SHIFT))
#define PMD_SIZE (1ULL << LMM_PMD_SHIFT)
#define PUD_SIZE (1ULL << LMM_PUD_SHIFT)
#define PGDIR_SIZE (1ULL << LMM_PGDIR_SHIFT)
#define PMD_MASK (~(PMD_SIZE - 1))
#define ANON_FLAGS (LMM_PG_ANON | LMM_PG_ANON_EXCLUSIVE | LMM_PG_SWAPBACKED | LMM_PG_UPTODATE | \
                    LMM_PG_LRU)
#define ANON_PTE (LMM_PTE_PRESENT | LMM_PTE_RW | LMM_PTE_USER | LMM_PTE_ACCESSED | LMM_PTE_DIRTY)
#define ZERO_PTE (LMM_PTE_PRESENT | LMM_PTE_USER | LMM_PTE_ACCESSED | LMM_PTE_SPECIAL)


struct lmm_mmu *lmm_mmu_create(struct lmm_pa *pa, int64_t max_pfn, int64_t zero_pfn)
{
    if (!pa || max_pfn <= 0 || zero_pfn < 0 || zero_pfn >= max_pfn)
        return NULL;
    struct lmm_mmu *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    size_t n = (size_t)max_pfn;
    m->lock = lmm_pa_lock(pa);          /* one machine, one lock (lock.h) */
    m->pa = pa;
    m->max_pfn = max_pfn;
    m->zero_pfn = zero_pfn;
    m->levels = 4;
    m->task_size = LMM_TASK_SIZE;
    m->user_top = LMM_USER_TOP;
    m->flags = calloc(n, sizeof(*m->flags));
    m->refcount = calloc(n, sizeof(*m->refcount));
    m->mapcount = calloc(n, sizeof(*m->mapcount));
    m->mapping = calloc(n, sizeof(*m->mapping));
    m->index = calloc(n, sizeof(*m->index));
    m->level = calloc(n, sizeof(*m->level));
    m->data = calloc(n, sizeof(*m->data));
    m->lru_prev = malloc((n + LMM_NR_LRU_LISTS) * sizeof(*m->lru_prev));
    m->lru_next = malloc((n + LMM_NR_LRU_LISTS) * sizeof(*m->lru_next));
    m->swap_entry = calloc(n, sizeof(*m->swap_entry));
    if (!m->flags || !m->refcount || !m->mapcount || !m->mapping || !m->index || !m->level ||
        !m->data || !m->lru_prev || !m->lru_next || !m->swap_entry) {
        lmm_mmu_destroy(m);
        return NULL;
    }
    memset(m->lru_prev, 0xff, n * sizeof(*m->lru_prev));
    memset(m->lru_next, 0xff, n * sizeof(*m->lru_next));
    for (int i = 0; i < LMM_NR_LRU_LISTS; i++)          /* INIT_LIST_HEAD */
        m->lru_prev[n + i] = m->lru_next[n + i] = (int32_t)(n + i);
    return m;
}

void lmm_mmu_set_lock(struct lmm_mmu *m, struct lmm_lock *lock)
{
    m->lock = lock;
}

void lmm_mmu_destroy(struct lmm_mmu *m)
{
    if (!m)
        return;
    if (m->data)
        for (int64_t i = 0; i < m->max_pfn && m->nr_data; i++)
            if (m->data[i]) {
                free(m->data[i]);
                m->nr_data--;
            }
    for (int t = 0; t < LMM_MAX_SWAPFILES; t++)
        swap_area_free(m->swap[t]);
    free(m->swap_entry);
    free(m->data);
    free(m->lru_next);
    free(m->lru_prev);
    free(m->level);
    free(m->index);
    free(m->mapping);
    free(m->mapcount);
    free(m->refcount);
    free(m->flags);
    free(m);
}

void *lmm_mmu_array(struct lmm_mmu *m, int which)
{
    LMM_LOCKED(m->lock);
    switch (which) {
    case LMM_MMU_FLAGS: return m->flags;
    case LMM_MMU_REFCOUNT: return m->refcount;
    case LMM_MMU_MAPCOUNT: return m->mapcount;
    case LMM_MMU_MAPPING: return m->mapping;
    case LMM_MMU_INDEX: return m->index;
    case LMM_MMU_EVENTS: return m->events;
    case LMM_MMU_NODE: return m->node;
    case LMM_MMU_LRU_PREV: return m->lru_prev;
    case LMM_MMU_LRU_NEXT: return m->lru_next;
    case LMM_MMU_SWAP_ENTRY: return m->swap_entry;
    case LMM_MMU_SWAP_STAT: return m->swap_stat;
    default: return NULL;
    }
}

int64_t lmm_mmu_metadata_bytes(struct lmm_mmu *m)
{
    LMM_LOCKED(m->lock);
    return (int64_t)sizeof(*m) + m->max_pfn * (int64_t)(4 + 4 + 4 + 8 + 8 + 1 + 4 + 4 + 8 + sizeof(void *)) +
           m->nr_data * LMM_PAGE_SIZE;
}

/* ---- frames and contents ------------------------------------------------------------------ */
static inline int bad_pfn(const struct lmm_mmu *m, int64_t pfn)
{
    return pfn < 0 || pfn >= m->max_pfn;
}


static void zero_frame(struct lmm_mmu *m, int64_t pfn)
{
    m->flags[pfn] = 0;
    m->refcount[pfn] = 0;
    m->mapcount[pfn] = 0;
    m->mapping[pfn] = 0;
    m->index[pfn] = 0;
}


int lmm_mmu_page_read(struct lmm_mmu *m, int64_t pfn, int64_t offset, int64_t length, uint8_t *out)
{
    LMM_LOCKED(m->lock);
    if (bad_pfn(m, pfn) || offset < 0 || length < 0 || offset > LMM_PAGE_SIZE ||
        length > LMM_PAGE_SIZE - offset)
        return -LMM_EINVAL;
    if (!m->data[pfn]) {
        memset(out, 0, (size_t)length);
        return 0;
    }
    memcpy(out, m->data[pfn] + offset, (size_t)length);
    return 1;
}

int lmm_mmu_page_write(struct lmm_mmu *m, int64_t pfn, int64_t offset, const uint8_t *src,
                       int64_t length)
{
    LMM_LOCKED(m->lock);
    if (bad_pfn(m, pfn) || m->level[pfn] || offset < 0 || length < 0 ||
        offset > LMM_PAGE_SIZE || length > LMM_PAGE_SIZE - offset)
        return -LMM_EINVAL;
    if (!m->data[pfn]) {
        m->data[pfn] = calloc(1, LMM_PAGE_SIZE);
        if (!m->data[pfn])
            return -LMM_ENOMEM;
        m->nr_data++;
    }
    memcpy(m->data[pfn] + offset, src, (size_t)length);
    return 0;
}

static int page_copy(struct lmm_mmu *m, int64_t dst, int64_t src)
{
    if (!m->data[src]) {
        drop_data(m, dst);
        return 0;
    }
    if (dst == src)
        return 0;
    if (!m->data[dst]) {
        m->data[dst] = malloc(LMM_PAGE_SIZE);
        if (!m->data[dst])
            return -LMM_ENOMEM;
        m->nr_data++;
    }
    memcpy(m->data[dst], m->data[src], LMM_PAGE_SIZE);
    return 0;
}

int lmm_mmu_page_copy(struct lmm_mmu *m, int64_t dst, int64_t src)
{
    LMM_LOCKED(m->lock);
    if (bad_pfn(m, dst) || bad_pfn(m, src) || m->level[dst] || m->level[src])
        return -LMM_EINVAL;
    return page_copy(m, dst, src);
}

int lmm_mmu_page_clear(struct lmm_mmu *m, int64_t pfn)
{
    LMM_LOCKED(m->lock);
    if (bad_pfn(m, pfn) || m->level[pfn])
        return -LMM_EINVAL;
    drop_data(m, pfn);
    return 0;
}

int lmm_mmu_page_has_data(struct lmm_mmu *m, int64_t pfn)
{
    LMM_LOCKED(m->lock);
    if (bad_pfn(m, pfn))
        return -LMM_EINVAL;
    return m->data[pfn] != NULL;
}

int64_t lmm_mmu_nr_data_pages(struct lmm_mmu *m)
{
    LMM_LOCKED(m->lock);
    return m->nr_data;
}

/* ---- page-table pages --------------------------------------------------------------------- */
static inline uint64_t *table(const struct lmm_mmu *m, uint64_t entry)
{
    return (uint64_t *)m->data[PFN_OF(entry)];
}

static int64_t table_alloc(struct lmm_mmu *m, int level, int64_t *counters)
{
    int64_t pfn = frame_alloc(m, LMM_GFP_PGTABLE_USER);
    if (pfn < 0)
        return -LMM_ENOMEM;
    uint8_t *buf = calloc(LMM_PTRS_PER_TABLE, sizeof(uint64_t));
    if (!buf) {
        lmm_pa_free(m->pa, pfn, 0, 0);
        return -LMM_ENOMEM;
    }
    drop_data(m, pfn);
    m->data[pfn] = buf;
    m->nr_data++;
    m->level[pfn] = (uint8_t)level;
    zero_frame(m, pfn);
    m->flags[pfn] = LMM_PG_PGTABLE;
    m->refcount[pfn] = 1;
    m->node[LMM_NR_PAGETABLE]++;
    if (level != LMM_LEVEL_PGD)
        counters[LMM_MM_PGTABLES_BYTES] += LMM_PAGE_SIZE;
    return pfn;
}

static void table_free(struct lmm_mmu *m, int64_t pfn, int64_t *counters)
{
    if (m->level[pfn] != LMM_LEVEL_PGD)
        counters[LMM_MM_PGTABLES_BYTES] -= LMM_PAGE_SIZE;
    m->level[pfn] = 0;
    drop_data(m, pfn);
    zero_frame(m, pfn);
    m->node[LMM_NR_PAGETABLE]--;
    lmm_pa_free(m->pa, pfn, 0, 0);
}

int lmm_mmu_table_level(struct lmm_mmu *m, int64_t pfn)
{
    LMM_LOCKED(m->lock);
    return bad_pfn(m, pfn) ? 0 : m->level[pfn];
}

static inline int bad_pgd(const struct lmm_mmu *m, int64_t pgd)
{
    return bad_pfn(m, pgd) || m->level[pgd] != LMM_LEVEL_PGD;
}

int lmm_mmu_set_levels(struct lmm_mmu *m, int levels)
{
    LMM_LOCKED(m->lock);
    if ((levels != 3 && levels != 4) || m->nr_pgds)
        return -LMM_EINVAL;
    m->levels = levels;
    m->task_size = levels == 3 ? LMM_PAE_TASK_SIZE : LMM_TASK_SIZE;
    m->user_top = levels == 3 ? LMM_PAE_TASK_SIZE : LMM_USER_TOP;
    return 0;
}

/* The entry of a table pointing to a lower one: _PAGE_TABLE, or on PAE _PAGE_PRESENT alone in
 * the PGD (pud_populate(): "almost everything apart from _PAGE_PRESENT is reserved"). */
static inline uint64_t table_entry(const struct lmm_mmu *m, int64_t pfn, int level)
{
    uint64_t flags = (m->levels == 3 && level == LMM_LEVEL_PMD) ? LMM_PTE_PRESENT : LMM_PTE_TABLE;
    return ((uint64_t)pfn << LMM_PAGE_SHIFT) | flags;
}

/* pgd_alloc(): the PGD page (PageTables, not pgtables_bytes) and on PAE the PREALLOCATED_PMDS
 * (= PTRS_PER_PGD = 4, each mm_inc_nr_pmds) populated into it; all or nothing. */
int64_t lmm_mmu_pgd_alloc(struct lmm_mmu *m, int64_t *counters)
{
    LMM_LOCKED(m->lock);
    int64_t pgd = table_alloc(m, LMM_LEVEL_PGD, counters);
    if (pgd < 0)
        return pgd;
    if (m->levels == 3) {
        uint64_t *t = (uint64_t *)m->data[pgd];
        for (int i = 0; i < LMM_PAE_PGD_PTRS; i++) {
            int64_t pmd = table_alloc(m, LMM_LEVEL_PMD, counters);
            if (pmd < 0) {
                for (int j = 0; j < i; j++)
                    table_free(m, PFN_OF(t[j]), counters);
                table_free(m, pgd, counters);
                return pmd;
            }
            t[i] = table_entry(m, pmd, LMM_LEVEL_PMD);
        }
    }
    m->nr_pgds++;
    return pgd;
}

static int table_empty(const struct lmm_mmu *m, int64_t pfn)
{
    const uint64_t *t = (const uint64_t *)m->data[pfn];
    for (int i = 0; i < LMM_PTRS_PER_TABLE; i++)
        if (t[i])
            return 0;
    return 1;
}

/* pgd_free(): on PAE pgd_mop_up_pmds() frees the PMDs still attached (each mm_dec_nr_pmds);
 * -LMM_EINVAL (nothing freed) while a lower table remains. */
int lmm_mmu_pgd_free(struct lmm_mmu *m, int64_t pgd, int64_t *counters)
{
    LMM_LOCKED(m->lock);
    if (bad_pgd(m, pgd))
        return -LMM_EINVAL;
    uint64_t *t = (uint64_t *)m->data[pgd];
    int mop = m->levels == 3 ? LMM_PAE_PGD_PTRS : 0;
    for (int i = 0; i < LMM_PTRS_PER_TABLE; i++)
        if (t[i] && (i >= mop || !table_empty(m, PFN_OF(t[i]))))
            return -LMM_EINVAL;
    for (int i = 0; i < mop; i++)
        if (t[i]) {
            table_free(m, PFN_OF(t[i]), counters);
            t[i] = 0;
        }
    table_free(m, pgd, counters);
    m->nr_pgds--;
    return 0;
}

/* The table entry i of t points to; allocated (with counters) when absent.  NULL when absent
 * and counters is NULL, or when the allocation fails (*err = -LMM_ENOMEM). */
static uint64_t *child(struct lmm_mmu *m, uint64_t *t, unsigned i, int level, int64_t *counters,
                       int *err)
{
    if (!t[i]) {
        if (!counters)
            return NULL;
        int64_t pfn = table_alloc(m, level, counters);
        if (pfn < 0) {
            *err = -LMM_ENOMEM;
            return NULL;
        }
        t[i] = table_entry(m, pfn, level);
    }
    return table(m, t[i]);
}

/* The PMD slot of addr (NULL when the tables are absent and counters is NULL, or on ENOMEM). */
static uint64_t *pmd_slot(struct lmm_mmu *m, int64_t pgd, uint64_t addr, int64_t *counters,
                          int *err)
{
    uint64_t *t = (uint64_t *)m->data[pgd];
    if (m->levels == 4) {
        t = child(m, t, IDX(addr, LMM_PGDIR_SHIFT), LMM_LEVEL_PUD, counters, err);
        if (!t)
            return NULL;
    }
    t = child(m, t, IDX(addr, LMM_PUD_SHIFT), LMM_LEVEL_PMD, counters, err);
    return t ? &t[IDX(addr, LMM_PMD_SHIFT)] : NULL;
}

/* The PTE slot of addr, allocating PUD, PMD and PTE tables: 0, -LMM_ENOMEM or -LMM_EHUGE. */
static int pte_slot_alloc(struct lmm_mmu *m, int64_t pgd, uint64_t addr, int64_t *counters,
                          uint64_t **slot)
{
    int err = 0;
    uint64_t *pmd = pmd_slot(m, pgd, addr, counters, &err);
    if (!pmd)
        return err;
    if (*pmd & LMM_PTE_PSE)
        return -LMM_EHUGE;
    uint64_t *pte = child(m, pmd, 0, LMM_LEVEL_PTE, counters, &err);
    if (!pte)
        return err;
    *slot = &pte[IDX(addr, LMM_PAGE_SHIFT)];
    return 0;
}

/* The leaf slot of addr: the PTE, or the PMD slot of a huge leaf; NULL when absent. */
static inline uint64_t *leaf_slot(struct lmm_mmu *m, int64_t pgd, uint64_t addr)
{
    int err = 0;
    uint64_t *pmd = pmd_slot(m, pgd, addr, NULL, &err);
    if (!pmd || !*pmd)
        return NULL;
    if (*pmd & LMM_PTE_PSE)
        return pmd;
    return &table(m, *pmd)[IDX(addr, LMM_PAGE_SHIFT)];
}

/* The PTE slot of addr in an existing PTE table; NULL when absent or a huge leaf. */
uint64_t *pte_slot_of(struct lmm_mmu *m, int64_t pgd, uint64_t addr)
{
    uint64_t *slot = leaf_slot(m, pgd, addr);
    return slot && !(*slot & LMM_PTE_PSE) ? slot : NULL;
}

uint64_t lmm_mmu_pte_get(struct lmm_mmu *m, int64_t pgd, uint64_t addr)
{
    LMM_LOCKED(m->lock);
    if (bad_pgd(m, pgd) || addr >= m->task_size)
        return 0;
    uint64_t *slot = leaf_slot(m, pgd, addr);
    return slot ? *slot : 0;
}

uint64_t lmm_mmu_pmd_get(struct lmm_mmu *m, int64_t pgd, uint64_t addr)
{
    LMM_LOCKED(m->lock);
    int err = 0;
    if (bad_pgd(m, pgd) || addr >= m->task_size)
        return 0;
    uint64_t *pmd = pmd_slot(m, pgd, addr, NULL, &err);
    return pmd ? *pmd : 0;
}

int lmm_mmu_pte_set(struct lmm_mmu *m, int64_t pgd, uint64_t addr, uint64_t entry, int64_t *counters)
{
    LMM_LOCKED(m->lock);
    if (bad_pgd(m, pgd) || addr >= m->task_size)
        return -LMM_EINVAL;
    uint64_t *slot;
    int err = pte_slot_alloc(m, pgd, addr, counters, &slot);
    if (err)
        return err;
    *slot = entry;
    return 0;
}

int lmm_mmu_pte_update(struct lmm_mmu *m, int64_t pgd, uint64_t addr, uint64_t entry)
{
    LMM_LOCKED(m->lock);
    if (bad_pgd(m, pgd) || addr >= m->task_size)
        return -LMM_EINVAL;
    int err = 0;
    uint64_t *pmd = pmd_slot(m, pgd, addr, NULL, &err);
    if (!pmd || !*pmd || (*pmd & LMM_PTE_PSE))
        return -LMM_EINVAL;
    table(m, *pmd)[IDX(addr, LMM_PAGE_SHIFT)] = entry;
    return 0;
}

uint64_t lmm_mmu_pte_clear_young(struct lmm_mmu *m, int64_t pgd, uint64_t addr)
{
    LMM_LOCKED(m->lock);
    if (bad_pgd(m, pgd) || addr >= m->task_size)
        return 0;
    uint64_t *slot = leaf_slot(m, pgd, addr);
    if (!slot)
        return 0;
    uint64_t e = *slot;
    if ((e & LMM_PTE_ACCESSED) && !(e & LMM_PTE_PSE))
        *slot = e & ~(uint64_t)LMM_PTE_ACCESSED;
    return e;
}

int lmm_mmu_pmd_set(struct lmm_mmu *m, int64_t pgd, uint64_t addr, uint64_t entry, int64_t *counters)
{
    LMM_LOCKED(m->lock);
    int err = 0;
    if (bad_pgd(m, pgd) || addr >= m->task_size || (addr & (PMD_SIZE - 1)) ||
        !(entry & LMM_PTE_PSE))
        return -LMM_EINVAL;
    uint64_t *pmd = pmd_slot(m, pgd, addr, counters, &err);
    if (!pmd)
        return err;
    if (*pmd && !(*pmd & LMM_PTE_PSE))
        return -LMM_EHUGE;
    *pmd = entry;
    return 0;
}

int lmm_mmu_table_depth(struct lmm_mmu *m, int64_t pgd, uint64_t addr)
{
    LMM_LOCKED(m->lock);
    int err = 0;
    if (bad_pgd(m, pgd) || addr >= m->task_size)
        return -LMM_EINVAL;
    uint64_t *t = (uint64_t *)m->data[pgd];
    if (m->levels == 4) {
        t = child(m, t, IDX(addr, LMM_PGDIR_SHIFT), LMM_LEVEL_PUD, NULL, &err);
        if (!t)
            return 0;
    }
    t = child(m, t, IDX(addr, LMM_PUD_SHIFT), LMM_LEVEL_PMD, NULL, &err);
    if (!t)
        return 1;
    return t[IDX(addr, LMM_PMD_SHIFT)] ? 3 : 2;
}

int lmm_mmu_pud_alloc(struct lmm_mmu *m, int64_t pgd, uint64_t addr, int64_t *counters)
{
    LMM_LOCKED(m->lock);
    int err = 0;
    if (bad_pgd(m, pgd) || addr >= m->task_size)
        return -LMM_EINVAL;
    if (m->levels != 4)
        return 0;
    uint64_t *t = (uint64_t *)m->data[pgd];
    return child(m, t, IDX(addr, LMM_PGDIR_SHIFT), LMM_LEVEL_PUD, counters, &err) ? 0 : err;
}

int lmm_mmu_pmd_alloc(struct lmm_mmu *m, int64_t pgd, uint64_t addr, int64_t *counters)
{
    LMM_LOCKED(m->lock);
    int err = 0;
    if (bad_pgd(m, pgd) || addr >= m->task_size)
        return -LMM_EINVAL;
    uint64_t *pmd = pmd_slot(m, pgd, addr, counters, &err);
    return pmd ? 0 : err;
}

int64_t lmm_mmu_set_bulk(struct lmm_mmu *m, int64_t pgd, const int64_t *addrs,
                         const uint64_t *entries, int64_t n, int64_t *counters)
{
    LMM_LOCKED(m->lock);
    if (bad_pgd(m, pgd) || n < 0)
        return -LMM_EINVAL;
    for (int64_t i = 0; i < n; i++) {
        int err = lmm_mmu_pte_set(m, pgd, (uint64_t)addrs[i], entries[i], counters);
        if (err) {
            m->error_index = i;
            return err;
        }
    }
    return n;
}

int64_t lmm_mmu_clear_bulk(struct lmm_mmu *m, int64_t pgd, const int64_t *addrs, int64_t n)
{
    LMM_LOCKED(m->lock);
    if (bad_pgd(m, pgd) || n < 0)
        return -LMM_EINVAL;
    for (int64_t i = 0; i < n; i++) {
        uint64_t addr = (uint64_t)addrs[i];
        if (addr >= m->task_size)
            continue;
        uint64_t *slot = leaf_slot(m, pgd, addr);
        if (slot && (!(*slot & LMM_PTE_PSE) || !(addr & (PMD_SIZE - 1))))
            *slot = 0;
    }
    return n;
}

int64_t lmm_mmu_error_index(struct lmm_mmu *m)
{
    LMM_LOCKED(m->lock);
    return m->error_index;
}

/* ---- walks ---------------------------------------------------------------------------------- */
static const int level_shift[5] = {0, LMM_PAGE_SHIFT, LMM_PMD_SHIFT, LMM_PUD_SHIFT, LMM_PGDIR_SHIFT};

struct walk_out {
    int64_t *addrs;
    uint64_t *entries;
    int64_t n, cap;
};

static inline int top_level(const struct lmm_mmu *m)
{
    return m->levels == 3 ? LMM_LEVEL_PUD : LMM_LEVEL_PGD;
}

static void walk_table(const struct lmm_mmu *m, const uint64_t *t, int level, uint64_t base,
                       uint64_t start, uint64_t end, struct walk_out *o)
{
    int shift = level_shift[level];
    int64_t lo = start > base ? (int64_t)((start - base) >> shift) : 0;
    int64_t hi = (int64_t)((end - 1 - base) >> shift);
    if (end - 1 < base)
        return;
    if (hi > 511)
        hi = 511;
    for (int64_t i = lo; i <= hi; i++) {
        uint64_t e = t[i];
        if (!e)
            continue;
        uint64_t a = base + ((uint64_t)i << shift);
        if (level == LMM_LEVEL_PTE || (level == LMM_LEVEL_PMD && (e & LMM_PTE_PSE))) {
            if (o->n < o->cap) {
                o->addrs[o->n] = (int64_t)a;
                o->entries[o->n] = e;
            }
            o->n++;
        } else {
            walk_table(m, table(m, e), level - 1, a, start, end, o);
        }
    }
}

int64_t lmm_mmu_walk(struct lmm_mmu *m, int64_t pgd, uint64_t start, uint64_t end, int64_t *addrs,
                     uint64_t *entries, int64_t cap)
{
    LMM_LOCKED(m->lock);
    if (bad_pgd(m, pgd) || start > end || end > m->user_top || cap < 0)
        return -LMM_EINVAL;
    struct walk_out o = {addrs, entries, 0, cap};
    if (start < end)            /* a PAE PGD is walked as the PUD level it stands for */
        walk_table(m, (const uint64_t *)m->data[pgd], top_level(m), 0, start, end, &o);
    return o.n;
}

static void table_pages(const struct lmm_mmu *m, int64_t pfn, int level, int64_t *out, int64_t cap,
                        int64_t *n)
{
    if (*n < cap)
        out[*n] = pfn;
    (*n)++;
    if (level == LMM_LEVEL_PTE)
        return;
    const uint64_t *t = (const uint64_t *)m->data[pfn];
    for (int i = 0; i < LMM_PTRS_PER_TABLE; i++)
        if (t[i] && !(level == LMM_LEVEL_PMD && (t[i] & LMM_PTE_PSE)))
            table_pages(m, PFN_OF(t[i]), level - 1, out, cap, n);
}

int64_t lmm_mmu_table_pages(struct lmm_mmu *m, int64_t pgd, int64_t *out, int64_t cap)
{
    LMM_LOCKED(m->lock);
    if (bad_pgd(m, pgd) || cap < 0)
        return -LMM_EINVAL;
    int64_t n = 0;
    table_pages(m, pgd, top_level(m), out, cap, &n);
    return n;
}

/* ---- free_pgd_range() (mm/memory.c), 4-level x86_64 ------------------------------------------ */
struct free_ctx {
    int64_t *counters;          /* NULL: the dry run that only checks */
    uint64_t leaf[2];           /* the first entry a freed table would lose */
};

static inline uint64_t addr_end(uint64_t addr, uint64_t end, uint64_t size)
{
    uint64_t boundary = (addr + size) & ~(size - 1);
    return boundary - 1 < end - 1 ? boundary : end;
}

static int may_free(uint64_t start, uint64_t end, uint64_t floor, uint64_t ceiling, uint64_t mask)
{
    start &= mask;
    if (start < floor)
        return 0;
    if (ceiling) {
        ceiling &= mask;
        if (!ceiling)
            return 0;
    }
    return !(end - 1 > ceiling - 1);
}

/* -LMM_ELEAF for the first entry of table t (about to be freed) outside lo..hi. */
static int left_over(struct free_ctx *c, const uint64_t *t, int level, uint64_t base, int lo, int hi)
{
    for (int i = 0; i < LMM_PTRS_PER_TABLE; i++)
        if (t[i] && !(lo <= i && i <= hi)) {
            c->leaf[0] = base + ((uint64_t)i << level_shift[level]);
            c->leaf[1] = t[i];
            return -LMM_ELEAF;
        }
    return 0;
}

/* Free the table (of `level`, mapping from base) parent[i] points to, after the loop that
 * cleared its entries lo..hi; the dry run (no counters) only checks. */
static int free_lower(struct lmm_mmu *m, struct free_ctx *c, uint64_t *parent, unsigned i,
                      int level, uint64_t base, int lo, int hi)
{
    int64_t pfn = PFN_OF(parent[i]);
    int err = left_over(c, (const uint64_t *)m->data[pfn], level, base, lo, hi);
    if (err || !c->counters)
        return err;
    parent[i] = 0;
    table_free(m, pfn, c->counters);
    return 0;
}

/* free_pmd_range() (level PMD) and free_pud_range() (level PUD) of the table parent[pi] points
 * to, over [addr, end); a PTE table under a non-none PMD entry is always freed
 * (free_pte_range()), a huge leaf in range is an error. */
static int free_level(struct lmm_mmu *m, struct free_ctx *c, uint64_t *parent, unsigned pi,
                      int level, uint64_t addr, uint64_t end, uint64_t floor, uint64_t ceiling)
{
    int shift = level_shift[level], err = 0;
    uint64_t size = 1ULL << shift, mask = ~((size << 9) - 1), start = addr, next;
    uint64_t *t = table(m, parent[pi]);
    int lo = (int)IDX(addr, shift), hi = lo;
    do {
        next = addr_end(addr, end, size);
        unsigned i = IDX(addr, shift);
        uint64_t e = t[i];
        hi = (int)i;
        if (!e)
            continue;
        if (level == LMM_LEVEL_PUD) {
            err = free_level(m, c, t, i, LMM_LEVEL_PMD, addr, next, floor, ceiling);
        } else if (e & LMM_PTE_PSE) {
            c->leaf[0] = addr;
            c->leaf[1] = e;
            err = -LMM_ELEAF;
        } else {
            err = free_lower(m, c, t, i, LMM_LEVEL_PTE, addr & PMD_MASK, 1, 0);
        }
        if (err)
            return err;
    } while (addr = next, addr != end);
    if (may_free(start, end, floor, ceiling, mask))
        return free_lower(m, c, parent, pi, level, start & mask, lo, hi);
    return 0;
}

static int free_pgd_range(struct lmm_mmu *m, struct free_ctx *c, int64_t pgd, uint64_t addr,
                          uint64_t end, uint64_t floor, uint64_t ceiling)
{
    uint64_t next;
    addr &= PMD_MASK;
    if (addr < floor) {
        addr += PMD_SIZE;
        if (!addr)
            return 0;
    }
    if (ceiling) {
        ceiling &= PMD_MASK;
        if (!ceiling)
            return 0;
    }
    if (end - 1 > ceiling - 1)
        end -= PMD_SIZE;
    if (addr > end - 1)
        return 0;
    uint64_t *pgdt = (uint64_t *)m->data[pgd];
    /* PAE: PGDIR_SIZE is 1 GiB and the PUD level is folded: free_pmd_range() per PGD entry */
    int pae = m->levels == 3;
    uint64_t pgdir_size = pae ? PUD_SIZE : PGDIR_SIZE;
    do {
        next = addr_end(addr, end, pgdir_size);
        unsigned i = IDX(addr, pae ? LMM_PUD_SHIFT : LMM_PGDIR_SHIFT);
        if (pgdt[i]) {
            int err = free_level(m, c, pgdt, i, pae ? LMM_LEVEL_PMD : LMM_LEVEL_PUD, addr, next,
                                 floor, ceiling);
            if (err)
                return err;
        }
    } while (addr = next, addr != end);
    return 0;
}

int lmm_mmu_free_pgtables(struct lmm_mmu *m, int64_t pgd, uint64_t start, uint64_t end,
                          uint64_t floor, uint64_t ceiling, int64_t *counters, uint64_t *leaf)
{
    LMM_LOCKED(m->lock);
    if (bad_pgd(m, pgd) || start >= end || end > m->user_top || floor > m->user_top ||
        ceiling > m->user_top)
        return -LMM_EINVAL;
    struct free_ctx c = {NULL, {0, 0}};
    int err = free_pgd_range(m, &c, pgd, start, end, floor, ceiling);      /* check only */
    if (err) {
        leaf[0] = c.leaf[0];
        leaf[1] = c.leaf[1];
        return err;
    }
    c.counters = counters;
    return free_pgd_range(m, &c, pgd, start, end, floor, ceiling);
}

/* ---- the bulk access loop ------------------------------------------------------------------ */


/* lruvec_del_folio(): a no-op for a frame on no list. */
static void lru_unlink(struct lmm_mmu *m, int64_t pfn)
{
    int32_t prev = m->lru_prev[pfn], next = m->lru_next[pfn];
    if (prev < 0)
        return;
    m->lru_next[prev] = next;
    m->lru_prev[next] = prev;
    m->lru_prev[pfn] = m->lru_next[pfn] = -1;
}

/* The folios on list lru from its head (newest) to its tail; the count, or -1 when the list
 * does not end within max_pfn steps (a broken list). */
int64_t lmm_mmu_lru_walk(struct lmm_mmu *m, int lru, int64_t *out, int64_t cap)
{
    LMM_LOCKED(m->lock);
    if (lru < 0 || lru >= LMM_NR_LRU_LISTS)
        return -LMM_EINVAL;
    int32_t head = (int32_t)(m->max_pfn + lru);
    int64_t n = 0;
    for (int32_t pfn = m->lru_next[head]; pfn != head; pfn = m->lru_next[pfn]) {
        if (pfn < 0 || pfn >= m->max_pfn || n >= m->max_pfn)
            return -1;
        if (n < cap)
            out[n] = pfn;
        n++;
    }
    return n;
}

static void new_anon_page(struct lmm_mmu *m, int64_t pfn, int64_t anon_vma, int64_t index)
{
    drop_data(m, pfn);
    m->flags[pfn] = ANON_FLAGS;
    m->refcount[pfn] = 1;
    m->mapcount[pfn] = 1;
    m->mapping[pfn] = anon_vma;
    m->index[pfn] = index;
    m->node[LMM_NR_ANON_MAPPED]++;
    m->node[LMM_NR_INACTIVE_ANON]++;
    lru_add(m, pfn, LMM_LRU_INACTIVE_ANON);
}

void release_page(struct lmm_mmu *m, int64_t pfn)
{
    uint32_t fl = m->flags[pfn];
    if (fl & LMM_PG_LRU)
        m->node[(fl & LMM_PG_ACTIVE) ? LMM_NR_ACTIVE_ANON : LMM_NR_INACTIVE_ANON]--;
    lru_unlink(m, pfn);
    drop_data(m, pfn);
    zero_frame(m, pfn);
    lmm_pa_free(m->pa, pfn, 0, 0);              /* a refused free changes nothing */
}

/* Allocate, set up and map an anonymous page at *slot; LMM_ACCESS_NOMEM when refused. */
static int install_anon(struct access_ctx *c, uint64_t *slot, int64_t anon_vma, int64_t index,
                        uint64_t nx, int64_t copy_from)
{
    struct lmm_mmu *m = c->m;
    int64_t pfn = frame_alloc(m, LMM_GFP_ANON_PAGE);
    if (pfn < 0)
        return LMM_ACCESS_NOMEM;
    new_anon_page(m, pfn, anon_vma, index);
    if (copy_from >= 0 && page_copy(m, pfn, copy_from)) {
        lru_unlink(m, pfn);
        zero_frame(m, pfn);                     /* host memory ran out: undo, as NOMEM */
        m->node[LMM_NR_ANON_MAPPED]--;
        m->node[LMM_NR_INACTIVE_ANON]--;
        lmm_pa_free(m->pa, pfn, 0, 0);
        return LMM_ACCESS_NOMEM;
    }
    *slot = ((uint64_t)pfn << LMM_PAGE_SHIFT) | ANON_PTE | nx;
    c->counters[LMM_MM_ANONPAGES]++;
    return LMM_ACCESS_DONE;
}

/* do_wp_page() of a present, write-protected PTE in a writable anonymous VMA. */
static int wp_page(struct access_ctx *c, uint64_t *slot, uint64_t entry, int64_t anon_vma,
                   int64_t index, uint64_t nx)
{
    struct lmm_mmu *m = c->m;
    int64_t old = PFN_OF(entry);
    if (entry & LMM_PTE_SPECIAL) {
        if (old != m->zero_pfn || !anon_vma)
            return LMM_ACCESS_FAULT;
        return install_anon(c, slot, anon_vma, index, nx, -1);
    }
    if (old >= m->max_pfn || !(m->flags[old] & LMM_PG_ANON))
        return LMM_ACCESS_FAULT;
    if ((m->flags[old] & LMM_PG_ANON_EXCLUSIVE) || m->refcount[old] == 1) {
        m->flags[old] |= LMM_PG_ANON_EXCLUSIVE;
        *slot = entry | LMM_PTE_RW | LMM_PTE_DIRTY | LMM_PTE_ACCESSED;
        m->events[LMM_EV_PGREUSE]++;
        return LMM_ACCESS_DONE;
    }
    int r = install_anon(c, slot, anon_vma, index, nx, old);
    if (r != LMM_ACCESS_DONE)
        return r;
    c->counters[LMM_MM_ANONPAGES]--;            /* the copy replaces a page this mm counted */
    if (--m->mapcount[old] == 0)
        m->node[LMM_NR_ANON_MAPPED]--;
    if (--m->refcount[old] == 0)
        release_page(m, old);
    return LMM_ACCESS_DONE;
}

static int fault(struct access_ctx *c, uint64_t addr, int write, uint64_t entry, uint64_t *slot)
{
    struct lmm_mmu *m = c->m;
    int64_t lo = 0, hi = c->nvma;               /* find_vma(): first VMA with end > addr */
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (c->snap[mid * LMM_SNAP_COLUMNS + LMM_SNAP_END] > (int64_t)addr)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (lo == c->nvma)
        return LMM_ACCESS_FAULT;
    const int64_t *row = c->snap + lo * LMM_SNAP_COLUMNS;
    if (row[LMM_SNAP_START] > (int64_t)addr || !(row[LMM_SNAP_KIND] & LMM_SNAPK_ANON))
        return LMM_ACCESS_FAULT;
    int64_t vm_flags = row[LMM_SNAP_FLAGS];
    if ((write && !(vm_flags & LMM_VM_WRITE)) ||
        !(vm_flags & (LMM_VM_READ | LMM_VM_WRITE | LMM_VM_EXEC)))
        return LMM_ACCESS_FAULT;
    if (entry & LMM_PTE_PSE)
        return LMM_ACCESS_FAULT;
    if (entry && !(entry & (LMM_PTE_PRESENT | LMM_PTE_PROTNONE)))
        return do_swap_page(c, slot, entry, row, addr, write);      /* csrc/swap.c */
    if (entry && !(entry & LMM_PTE_PRESENT))
        return LMM_ACCESS_FAULT;
    uint64_t nx = (vm_flags & LMM_VM_EXEC) ? 0 : LMM_PTE_NX;
    int64_t anon_vma = row[LMM_SNAP_ANON_VMA];
    int64_t index = row[LMM_SNAP_PGOFF] + (int64_t)((addr - (uint64_t)row[LMM_SNAP_START]) >>
                                                    LMM_PAGE_SHIFT);
    if (entry)
        return wp_page(c, slot, entry, anon_vma, index, nx);
    /* do_anonymous_page() */
    if (!write && (row[LMM_SNAP_KIND] & LMM_SNAPK_NO_ZERO_PAGE))
        return LMM_ACCESS_FAULT;
    if (write && !anon_vma)
        return LMM_ACCESS_FAULT;
    if (pte_slot_alloc(m, c->pgd, addr, c->counters, &slot))
        return LMM_ACCESS_NOMEM;                /* (not EHUGE: entry 0 means no huge leaf) */
    if (!write) {
        *slot = ((uint64_t)m->zero_pfn << LMM_PAGE_SHIFT) | ZERO_PTE | nx;
        return LMM_ACCESS_DONE;
    }
    return install_anon(c, slot, anon_vma, index, nx, -1);
}

/* One access: LMM_ACCESS_DONE when it completed. */
static inline int access_one(struct access_ctx *c, uint64_t addr, int write)
{
    uint64_t *slot, region = addr >> LMM_PMD_SHIFT;
    if (addr >= c->m->task_size)
        return LMM_ACCESS_FAULT;
    if (region == c->region) {
        slot = &c->pte[IDX(addr, LMM_PAGE_SHIFT)];
    } else {
        int err = 0;
        uint64_t *pmd = pmd_slot(c->m, c->pgd, addr, NULL, &err);
        slot = NULL;
        if (pmd && *pmd) {
            if (*pmd & LMM_PTE_PSE) {
                slot = pmd;
            } else {
                c->pte = table(c->m, *pmd);
                c->region = region;
                slot = &c->pte[IDX(addr, LMM_PAGE_SHIFT)];
            }
        }
    }
    uint64_t e = slot ? *slot : 0;
    if ((e & LMM_PTE_PRESENT) && (!write || (e & LMM_PTE_RW))) {
        *slot = e | LMM_PTE_ACCESSED | (write ? LMM_PTE_DIRTY : 0);
        return LMM_ACCESS_DONE;
    }
    int r = fault(c, addr, write, e, slot);
    c->region = ~(uint64_t)0;
    if (r == ACCESS_DONE_MAJOR) {
        c->counters[LMM_MM_MAJ_FLT]++;
        c->m->events[LMM_EV_PGFAULT]++;
        r = LMM_ACCESS_DONE;
        if (lmm_pa_stat(c->m->pa, LMM_PA_KSWAPD_WAKEUPS) != c->wakeups)
            r = LMM_ACCESS_KSWAPD;
    } else if (r == LMM_ACCESS_DONE) {
        c->counters[LMM_MM_MIN_FLT]++;
        c->m->events[LMM_EV_PGFAULT]++;
        if (lmm_pa_stat(c->m->pa, LMM_PA_KSWAPD_WAKEUPS) != c->wakeups)
            r = LMM_ACCESS_KSWAPD;              /* done, but kswapd must run before the next */
    }
    return r;
}

static int access_args_bad(struct lmm_mmu *m, int64_t pgd, int64_t *counters, const int64_t *snap,
                           int64_t nvma)
{
    return bad_pgd(m, pgd) || !counters || nvma < 0 || (nvma && !snap);
}

int64_t lmm_mmu_access(struct lmm_mmu *m, int64_t pgd, int64_t *counters, const int64_t *snap,
                       int64_t nvma, const int64_t *addrs, const uint8_t *writes, int64_t n,
                       int64_t start, int *reason)
{
    LMM_LOCKED(m->lock);
    if (access_args_bad(m, pgd, counters, snap, nvma) || n < 0 || start < 0 || start > n)
        return -LMM_EINVAL;
    struct access_ctx c = {m, pgd, counters, snap, nvma, ~(uint64_t)0, NULL,
                           lmm_pa_stat(m->pa, LMM_PA_KSWAPD_WAKEUPS)};
    for (int64_t i = start; i < n; i++) {
        int r = access_one(&c, (uint64_t)addrs[i], writes[i] != 0);
        if (r != LMM_ACCESS_DONE) {
            *reason = r;
            return r == LMM_ACCESS_KSWAPD ? i + 1 : i;
        }
    }
    *reason = LMM_ACCESS_DONE;
    return n;
}

int64_t lmm_mmu_access_range(struct lmm_mmu *m, int64_t pgd, int64_t *counters, const int64_t *snap,
                             int64_t nvma, int64_t addr, int64_t npages, int write, int64_t start,
                             int *reason)
{
    LMM_LOCKED(m->lock);
    if (access_args_bad(m, pgd, counters, snap, nvma) || addr < 0 || npages < 0 ||
        npages > (1LL << 40) || start < 0 || start > npages)
        return -LMM_EINVAL;
    struct access_ctx c = {m, pgd, counters, snap, nvma, ~(uint64_t)0, NULL,
                           lmm_pa_stat(m->pa, LMM_PA_KSWAPD_WAKEUPS)};
    for (int64_t k = start; k < npages; k++) {
        int r = access_one(&c, (uint64_t)addr + ((uint64_t)k << LMM_PAGE_SHIFT), write != 0);
        if (r != LMM_ACCESS_DONE) {
            *reason = r;
            return r == LMM_ACCESS_KSWAPD ? k + 1 : k;
        }
    }
    *reason = LMM_ACCESS_DONE;
    return npages;
}

/* -- reclaim: referenced PTEs of a batch of isolated anonymous folios ------------------------ */
#define PG_REFERENCED_  0x100u
#define PG_HEAD_        0x1000u
#define PG_TAIL_        0x2000u
#define PG_MLOCKED_     0x10000u
#define PG_UNEVICTABLE_ 0x100000u
#define PG_ORDER_MASK_  0xF000000u
#define VM_EXEC_        0x4
#define VM_LOCKED_      0x2000
enum { FOLIOREF_RECLAIM, FOLIOREF_RECLAIM_CLEAN, FOLIOREF_KEEP, FOLIOREF_ACTIVATE };

static int64_t key_find(const int64_t *keys, int64_t nkeys, int64_t id)
{
    int64_t lo = 0, hi = nkeys;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (keys[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (lo < nkeys && keys[lo] == id) ? lo : -1;
}

int64_t lmm_mmu_check_references(struct lmm_mmu *m, const int64_t *pfns, int64_t n,
                                 const int64_t *keys, const int64_t *kstart, int64_t nkeys,
                                 const int64_t *c_pgd, const int64_t *c_start,
                                 const int64_t *c_pages, const int64_t *c_pgoff,
                                 const int64_t *c_vmflags, int check, int64_t *out_ref,
                                 int64_t *out_vmflags, int64_t *out_decision, int64_t *out_mstart,
                                 int64_t *out_cand, int64_t *out_addr, int64_t cap)
{
    LMM_LOCKED(m->lock);
    /* first pass: find every mapping (no side effects), so that a short cap changes nothing */
    int64_t w = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t pfn = pfns[i];
        out_mstart[i] = w;
        out_ref[i] = -1;
        out_vmflags[i] = 0;
        if (check)
            out_decision[i] = -1;
        if (pfn < 0 || pfn >= m->max_pfn)
            continue;
        uint32_t flags = m->flags[pfn];
        if (!(flags & LMM_PG_ANON) ||
            (flags & (PG_HEAD_ | PG_TAIL_ | PG_ORDER_MASK_ | PG_MLOCKED_ | PG_UNEVICTABLE_)))
            continue;
        int64_t k = key_find(keys, nkeys, m->mapping[pfn]);
        int64_t start = w, huge = 0;
        if (k >= 0) {
            uint64_t index = (uint64_t)m->index[pfn];
            for (int64_t c = kstart[k]; c < kstart[k + 1]; c++) {
                uint64_t delta = index - (uint64_t)c_pgoff[c];
                if (delta >= (uint64_t)c_pages[c])
                    continue;
                uint64_t addr = (uint64_t)c_start[c] + (delta << LMM_PAGE_SHIFT);
                uint64_t e = lmm_mmu_pte_get(m, c_pgd[c], addr);
                if (!(e & (LMM_PTE_PRESENT | LMM_PTE_PROTNONE)) || (e & LMM_PTE_SPECIAL))
                    continue;
                int64_t mapped = PFN_OF(e);
                if (e & LMM_PTE_PSE)
                    mapped += (int64_t)((addr & (PMD_SIZE - 1)) >> LMM_PAGE_SHIFT);
                if (mapped != pfn)
                    continue;
                if (e & LMM_PTE_PSE) {
                    huge = 1;
                    break;
                }
                if (w >= cap)
                    return -1;
                out_cand[w] = c;
                out_addr[w] = (int64_t)addr;
                w++;
            }
        }
        if (huge) {
            w = start;
            continue;
        }
        out_ref[i] = 0;
    }
    out_mstart[n] = w;
    /* second pass: folio_referenced (test and clear Accessed), folio_check_references */
    for (int64_t i = 0; i < n; i++) {
        if (out_ref[i] < 0)
            continue;
        int64_t referenced = 0, vm_flags = 0;
        for (int64_t j = out_mstart[i]; j < out_mstart[i + 1]; j++) {
            int64_t c = out_cand[j];
            if (c_vmflags[c] & VM_LOCKED_) {
                vm_flags |= VM_LOCKED_;
                break;
            }
            uint64_t e = lmm_mmu_pte_clear_young(m, c_pgd[c], (uint64_t)out_addr[j]);
            if (e & LMM_PTE_ACCESSED) {
                referenced++;
                vm_flags |= c_vmflags[c];
            }
        }
        out_ref[i] = referenced;
        out_vmflags[i] = vm_flags;
        if (!check)
            continue;
        int64_t pfn = pfns[i];
        uint32_t flags = m->flags[pfn];
        int referenced_folio = (flags & PG_REFERENCED_) != 0;
        int file_lru = !(flags & LMM_PG_SWAPBACKED);
        if (referenced_folio)
            m->flags[pfn] = flags & ~PG_REFERENCED_;
        int d;
        if (vm_flags & VM_LOCKED_) {
            d = FOLIOREF_ACTIVATE;
        } else if (referenced) {
            m->flags[pfn] |= PG_REFERENCED_;
            if (referenced_folio || referenced > 1)
                d = FOLIOREF_ACTIVATE;
            else if ((vm_flags & VM_EXEC_) && file_lru)
                d = FOLIOREF_ACTIVATE;
            else
                d = FOLIOREF_KEEP;
        } else if (referenced_folio && file_lru) {
            d = FOLIOREF_RECLAIM_CLEAN;
        } else {
            d = FOLIOREF_RECLAIM;
        }
        out_decision[i] = d;
    }
    return w;
}

/* -- reclaim: the LRU lists in bulk (linuxmm/vm/lruvec.py's rules) ---------------------------- */
#define PG_ACTIVE_     0x200u
#define PG_ORDER_SHIFT_ 24

static inline int64_t folio_nr(uint32_t flags)
{
    if (flags & LMM_PG_ANON)
        return (flags & PG_HEAD_) ? 512 : 1;
    return (int64_t)1 << ((flags & PG_ORDER_MASK_) >> PG_ORDER_SHIFT_);
}

static inline int folio_lru(uint32_t flags)
{
    if (flags & PG_UNEVICTABLE_)
        return 4;                                       /* LRU_UNEVICTABLE */
    return ((flags & LMM_PG_SWAPBACKED) ? 0 : 2) + ((flags & PG_ACTIVE_) ? 1 : 0);
}

static void folio_lru_bit(struct lmm_mmu *m, int64_t head, uint32_t flags, int on)
{
    int64_t nr = (flags & LMM_PG_ANON) ? 1 : folio_nr(flags);
    for (int64_t p = head; p < head + nr; p++)
        m->flags[p] = on ? (m->flags[p] | LMM_PG_LRU) : (m->flags[p] & ~(uint32_t)LMM_PG_LRU);
}

int64_t lmm_mmu_isolate_lru(struct lmm_mmu *m, int lru, int64_t nr_to_scan, int64_t limit_pfn,
                            int64_t *out, int64_t *skipped, int64_t *scanned)
{
    LMM_LOCKED(m->lock);
    int32_t head = (int32_t)(m->max_pfn + lru);
    int64_t total = m->node[lru], seen = 0, scan = 0, taken = 0, nskip = 0;
    while (scan < nr_to_scan && seen < total) {
        int32_t pfn = m->lru_prev[head];
        if (pfn == head)
            break;
        uint32_t flags = m->flags[pfn];
        int64_t nr = folio_nr(flags);
        seen += nr;
        if (pfn >= limit_pfn) {
            lru_unlink(m, pfn);
            skipped[nskip++] = pfn;
            continue;
        }
        scan += nr;
        m->node[lru] -= nr;
        folio_lru_bit(m, pfn, flags, 0);
        lru_unlink(m, pfn);
        out[taken++] = pfn;
    }
    for (int64_t i = nskip - 1; i >= 0; i--)
        lru_add(m, skipped[i], lru);
    *scanned = scan;
    return taken;
}

void lmm_mmu_lru_add_batch(struct lmm_mmu *m, const int64_t *pfns, int64_t n)
{
    LMM_LOCKED(m->lock);
    for (int64_t i = 0; i < n; i++) {
        int64_t pfn = pfns[i];
        uint32_t flags = m->flags[pfn];
        int lru = folio_lru(flags);
        folio_lru_bit(m, pfn, flags, 1);
        m->node[lru] += folio_nr(flags);
        lru_add(m, pfn, lru);
    }
}

/* The size of struct lmm_mmu in this build (snapshot streams carry it). */
int64_t lmm_mmu_struct_size(void)
{
    return (int64_t)sizeof(struct lmm_mmu);
}
