/*
 * snapshot.c - export the C engines' state to a caller's buffer and rebuild an engine from it
 * (linuxmm/snapshot.py: Kernel.save() / Kernel.load()).
 *
 * Each export writes a self-describing stream: a magic, the sizes of the structures it copies
 * (a build whose structures differ refuses the stream), then the engine's structure verbatim and
 * every array it points to.  Pointers in the copied structure are rebuilt on import, never
 * trusted.  export(NULL, 0) returns the size; export(buf, cap) writes it when cap is enough and
 * returns the size either way.  Import returns NULL for a stream that is short, long, of another
 * engine or build, or inconsistent (the caller reports a damaged snapshot).
 */
#include <stdlib.h>
#include <string.h>
#include "lock.h"
#include "page_alloc_internal.h"
#include "slab_internal.h"
#include "mmu_internal.h"

#define SNAP_PA_MAGIC   0x41504d4cu  /* "LMPA" */
#define SNAP_SLAB_MAGIC 0x4c534d4cu  /* "LMSL" */
#define SNAP_MMU_MAGIC  0x4d4d4d4cu  /* "LMMM" */


struct writer {
    uint8_t *buf;
    int64_t cap, pos;
};

static void put(struct writer *w, const void *p, int64_t n)
{
    if (n <= 0)
        return;
    if (w->buf && w->pos + n <= w->cap)
        memcpy(w->buf + w->pos, p, (size_t)n);
    w->pos += n;
}

static void put64(struct writer *w, int64_t v) { put(w, &v, sizeof(v)); }

struct reader {
    const uint8_t *buf;
    int64_t len, pos;
    int bad;
};

static int get(struct reader *r, void *p, int64_t n)
{
    if (n < 0 || r->bad || n > r->len - r->pos) {
        r->bad = 1;
        return -1;
    }
    if (n)
        memcpy(p, r->buf + r->pos, (size_t)n);
    r->pos += n;
    return 0;
}

static int64_t get64(struct reader *r)
{
    int64_t v = 0;
    get(r, &v, sizeof(v));
    return v;
}

/* n elements of size sz from the stream into fresh memory (calloc'd: NULL only on error). */
static void *get_array(struct reader *r, int64_t n, size_t sz)
{
    if (n < 0 || r->bad || (uint64_t)n > (uint64_t)(r->len - r->pos) / (sz ? sz : 1)) {
        r->bad = 1;
        return NULL;
    }
    void *p = calloc(n ? (size_t)n : 1, sz);
    if (!p) {
        r->bad = 1;
        return NULL;
    }
    get(r, p, n * (int64_t)sz);
    return p;
}

static void put_header(struct writer *w, uint32_t magic, int64_t size)
{
    put64(w, magic);
    put64(w, size);
}

static int check_header(struct reader *r, uint32_t magic, int64_t size)
{
    return get64(r) == magic && get64(r) == size && !r->bad;
}

/* ===================================================================== page allocator == */

int64_t lmm_pa_export(struct lmm_pa *pa, uint8_t *buf, int64_t cap)
{
    LMM_LOCKED(pa->lock);
    struct writer w = {buf, cap, 0};
    put_header(&w, SNAP_PA_MAGIC, sizeof(*pa));
    put64(&w, sizeof(struct lmm_page_meta));
    put64(&w, sizeof(struct per_cpu_pages));
    put(&w, pa, sizeof(*pa));
    for (int i = 0; i < pa->nr_zones; i++) {
        const struct lmm_zone *z = &pa->zones[i];
        if (z->spanned) {
            put(&w, z->b.pages, z->b.nr_pages * (int64_t)sizeof(struct lmm_page_meta));
            put(&w, z->b.pageblock_mt, z->b.nr_pageblocks);
        }
        put(&w, z->pcp, pa->cpus * (int64_t)sizeof(struct per_cpu_pages));
        put(&w, z->released, z->nr_released * (int64_t)sizeof(struct released_range));
    }
    return w.pos;
}

struct lmm_pa *lmm_pa_import(const uint8_t *buf, int64_t len)
{
    struct reader r = {buf, len, 0, 0};
    if (!check_header(&r, SNAP_PA_MAGIC, sizeof(struct lmm_pa)) ||
        get64(&r) != (int64_t)sizeof(struct lmm_page_meta) ||
        get64(&r) != (int64_t)sizeof(struct per_cpu_pages))
        return NULL;
    struct lmm_pa *pa = calloc(1, sizeof(*pa));
    if (!pa)
        return NULL;
    if (get(&r, pa, sizeof(*pa)) || pa->nr_zones < 0 || pa->nr_zones > LMM_MAX_NR_ZONES ||
        pa->cpus < 1 || pa->cpus > LMM_MAX_CPUS) {
        free(pa);
        return NULL;
    }
    pa->handle = -1;                                /* this process's, given at the end */
    pa->lock = lmm_lock_create();                   /* its own, as lmm_pa_create gives it */
    if (!pa->lock) {
        free(pa);
        return NULL;
    }
    pa->frame_flags = NULL;                         /* re-registered by the Kernel on load */
    pa->nr_frames = 0;
    int n = pa->nr_zones;
    for (int i = 0; i < LMM_MAX_NR_ZONES; i++) {    /* nothing points anywhere yet */
        struct lmm_zone *z = &pa->zones[i];
        z->b.pages = NULL;
        z->b.pageblock_mt = NULL;
        z->pcp = NULL;
        z->released = NULL;
        if (i >= n)
            memset(z, 0, sizeof(*z));
    }
    pa->nr_zones = 0;                               /* what destroy frees while we build */
    for (int i = 0; i < n && !r.bad; i++) {
        struct lmm_zone *z = &pa->zones[i];
        pa->nr_zones = i + 1;
        if (z->spanned) {
            if (z->b.nr_pages != z->spanned || z->b.nr_pages <= 0 || z->b.nr_pageblocks <= 0 ||
                z->b.start_pfn != z->start || z->b.start_pfn < 0 ||
                z->b.start_pfn > INT64_MAX / 2 || z->b.nr_pages >= (int64_t)LMM_NIL ||
                z->b.max_order < 0 || z->b.max_order > LMM_MAX_ORDER_LIMIT ||
                z->b.nr_pages > (r.len - r.pos) / (int64_t)sizeof(struct lmm_page_meta) ||
                buddy_meta_alloc(&z->b)) {
                r.bad = 1;
                break;
            }
            get(&r, z->b.pages, z->b.nr_pages * (int64_t)sizeof(struct lmm_page_meta));
            z->b.pageblock_mt = get_array(&r, z->b.nr_pageblocks, 1);
        }
        z->pcp = get_array(&r, pa->cpus, sizeof(struct per_cpu_pages));
        if (z->nr_released < 0 || z->nr_released > z->cap_released) {
            r.bad = 1;
            break;
        }
        z->released = z->cap_released ? calloc((size_t)z->cap_released,
                                               sizeof(struct released_range)) : NULL;
        if (z->cap_released && !z->released)
            r.bad = 1;
        else
            get(&r, z->released, z->nr_released * (int64_t)sizeof(struct released_range));
    }
    if (r.bad || r.pos != r.len || lmm_pa_register_handle(pa) < 0) {
        lmm_pa_destroy(pa);
        return NULL;
    }
    return pa;
}

/* ===================================================================== slab == */

int64_t lmm_slab_export(struct lmm_slab_sys *s, uint8_t *buf, int64_t cap)
{
    LMM_LOCKED(s->lock);
    struct writer w = {buf, cap, 0};
    put_header(&w, SNAP_SLAB_MAGIC, sizeof(*s));
    put64(&w, sizeof(struct slab));
    put64(&w, sizeof(struct kmem_cache));
    put(&w, s, sizeof(*s));
    put(&w, s->slabs, (int64_t)s->nr_slab_ids * (int64_t)sizeof(struct slab));
    for (uint32_t i = 0; i < s->nr_slab_ids; i++)
        if (s->slabs[i].next)
            put(&w, s->slabs[i].next, (int64_t)s->slabs[i].cap * 2);
    put(&w, s->free_ids, (int64_t)s->nr_free_ids * 4);
    put(&w, s->free_caches, (int64_t)s->nr_free_caches * (int64_t)sizeof(int));
    for (int i = 0; i < s->nr_caches; i++) {
        put64(&w, s->caches[i] != NULL);
        if (s->caches[i])
            put(&w, s->caches[i], sizeof(struct kmem_cache));
    }
    for (int64_t t = 0; t < s->map_leaves; t++) {
        put64(&w, s->map[t] != NULL);
        if (s->map[t])
            put(&w, s->map[t], MAP_LEAF_SIZE * 4);
    }
    return w.pos;
}

struct lmm_slab_sys *lmm_slab_import(const uint8_t *buf, int64_t len, lmm_page_alloc_cb alloc,
                                     lmm_page_free_cb free_cb, void *src)
{
    struct reader r = {buf, len, 0, 0};
    if (!alloc || !free_cb || !check_header(&r, SNAP_SLAB_MAGIC, sizeof(struct lmm_slab_sys)) ||
        get64(&r) != (int64_t)sizeof(struct slab) ||
        get64(&r) != (int64_t)sizeof(struct kmem_cache))
        return NULL;
    struct lmm_slab_sys *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    struct lmm_slab_sys h;
    if (get(&r, &h, sizeof(h)) || h.nr_slab_ids < 1 || h.nr_slab_ids > h.slab_ids_cap ||
        h.nr_free_ids > h.slab_ids_cap || h.nr_caches < 0 || h.nr_caches > h.caches_cap ||
        h.map_leaves < 0 || h.map_leaves > ((int64_t)1 << 40) || h.nr_free_caches < 0 ||
        h.nr_free_caches > h.caches_cap) {
        free(s);
        return NULL;
    }
    *s = h;
    s->handle = -1;                                 /* this process's, given at the end */
    s->lock = NULL;                                 /* its page source's: lmm_slab_set_lock */
    s->page_alloc = alloc;
    s->page_free = free_cb;
    s->src = src;
    s->slabs = NULL;
    s->free_ids = NULL;
    s->caches = NULL;
    s->free_caches = NULL;
    s->nr_free_caches = 0;
    s->map = NULL;
    s->nr_slab_ids = 0;
    s->nr_caches = 0;
    s->map_leaves = 0;
    /* slabs: the table (cap entries), then each one's next[] */
    s->slabs = calloc(h.slab_ids_cap, sizeof(struct slab));
    s->free_ids = malloc((size_t)h.slab_ids_cap * sizeof(uint32_t));
    if (!s->slabs || !s->free_ids)
        goto bad;
    if (get(&r, s->slabs, (int64_t)h.nr_slab_ids * (int64_t)sizeof(struct slab)))
        goto bad;
    for (uint32_t i = 0; i < h.nr_slab_ids; i++) {
        struct slab *sl = &s->slabs[i];
        int had = sl->next != NULL;
        sl->next = NULL;
        s->nr_slab_ids = i + 1;
        if (had && !(sl->next = get_array(&r, sl->cap, sizeof(uint16_t))))
            goto bad;
    }
    if (get(&r, s->free_ids, (int64_t)h.nr_free_ids * 4))
        goto bad;
    if (h.caches_cap) {                             /* released cache ids, capacity caches_cap */
        s->free_caches = calloc((size_t)h.caches_cap, sizeof(int));
        if (!s->free_caches || get(&r, s->free_caches, (int64_t)h.nr_free_caches * 4))
            goto bad;
        s->nr_free_caches = h.nr_free_caches;
    }
    s->caches = calloc(h.caches_cap ? (size_t)h.caches_cap : 1, sizeof(*s->caches));
    if (!s->caches)
        goto bad;
    for (int i = 0; i < h.nr_caches; i++) {
        int64_t present = get64(&r);
        s->nr_caches = i + 1;
        if (present && !(s->caches[i] = get_array(&r, 1, sizeof(struct kmem_cache))))
            goto bad;
    }
    if (h.map_leaves) {
        s->map = calloc((size_t)h.map_leaves, sizeof(*s->map));
        if (!s->map)
            goto bad;
        s->map_leaves = h.map_leaves;
        for (int64_t t = 0; t < h.map_leaves; t++)
            if (get64(&r) && !(s->map[t] = get_array(&r, MAP_LEAF_SIZE, 4)))
                goto bad;
    }
    if (r.bad || r.pos != r.len || lmm_slab_register_handle(s) < 0)
        goto bad;
    return s;
bad:
    lmm_slab_sys_destroy(s);
    return NULL;
}

/* ===================================================================== mmu == */

/* A swap area: 0 when absent; else max, sync, info, the per-slot and per-cluster arrays, then
 * the slots with contents as (offset, 4096 bytes). */
static void export_swap_area(struct writer *w, const struct lmm_swap_area *si)
{
    put64(w, si ? si->info[LMM_SWPI_MAX] : 0);
    if (!si)
        return;
    int64_t max = si->info[LMM_SWPI_MAX], ncl = si->nclusters, nr = 0;
    put64(w, si->info[LMM_SWPI_SYNC]);
    put(w, si->info, sizeof(si->info));
    put(w, si->swap_map, max * 4);
    put(w, si->cache, max * 8);
    put(w, si->shadow, max * 8);
    put(w, si->cluster_used, ncl * 4);
    put(w, si->free_clusters, ncl * 4);
    for (int64_t i = 0; i < max; i++)
        nr += si->data[i] != NULL;
    put64(w, nr);
    for (int64_t i = 0; i < max; i++)
        if (si->data[i]) {
            put64(w, i);
            put(w, si->data[i], LMM_PAGE_SIZE);
        }
}

static int import_swap_area(struct reader *r, struct lmm_mmu *m, int t)
{
    int64_t max = get64(r);
    if (!max)
        return r->bad;
    if (max < 2 || (uint64_t)max > (uint64_t)(r->len - r->pos) / 20)
        return -1;
    int64_t sync = get64(r);
    if (r->bad || lmm_mmu_swapon(m, t, max, (int)sync))
        return -1;
    struct lmm_swap_area *si = m->swap[t];
    int64_t ncl = si->nclusters;
    get(r, si->info, sizeof(si->info));
    get(r, si->swap_map, max * 4);
    get(r, si->cache, max * 8);
    get(r, si->shadow, max * 8);
    get(r, si->cluster_used, ncl * 4);
    get(r, si->free_clusters, ncl * 4);
    if (si->info[LMM_SWPI_MAX] != max || si->info[LMM_SWPI_CURRENT] < 0 ||
        si->info[LMM_SWPI_CURRENT] >= ncl || si->info[LMM_SWPI_FREE_HEAD] < 0 ||
        si->info[LMM_SWPI_FREE_HEAD] >= ncl || si->info[LMM_SWPI_NR_FREE] < 0 ||
        si->info[LMM_SWPI_NR_FREE] > ncl)
        return -1;
    for (int64_t i = 0; i < ncl; i++)
        if (si->free_clusters[i] < 0 || si->free_clusters[i] >= ncl)
            return -1;
    for (int64_t i = 0; i < max; i++)          /* cached frames exist, shadows are shadows */
        if (si->cache[i] < -1 || si->cache[i] >= m->max_pfn || si->shadow[i] < -1)
            return -1;
    for (int64_t i = 0; i < ncl; i++)
        if (si->cluster_used[i] < 0 || si->cluster_used[i] > LMM_SWAPFILE_CLUSTER)
            return -1;
    int64_t nr = get64(r);
    if (nr < 0 || nr > max)
        return -1;
    for (int64_t k = 0; k < nr && !r->bad; k++) {
        int64_t off = get64(r);
        if (off <= 0 || off >= max || si->data[off])
            return -1;
        si->data[off] = get_array(r, LMM_PAGE_SIZE, 1);
    }
    return r->bad;
}

int64_t lmm_mmu_export(struct lmm_mmu *mm, uint8_t *buf, int64_t cap)
{
    struct lmm_mmu *m = mm;
    struct writer w = {buf, cap, 0};
    if (lmm_mmu_struct_size() != (int64_t)sizeof(*m))
        return -LMM_EINVAL;
    int64_t n = m->max_pfn;
    put_header(&w, SNAP_MMU_MAGIC, sizeof(*m));
    put(&w, m, sizeof(*m));
    put(&w, m->flags, n * 4);
    put(&w, m->refcount, n * 4);
    put(&w, m->mapcount, n * 4);
    put(&w, m->mapping, n * 8);
    put(&w, m->index, n * 8);
    put(&w, m->level, n);
    put(&w, m->lru_prev, (n + LMM_NR_LRU_LISTS) * 4);
    put(&w, m->lru_next, (n + LMM_NR_LRU_LISTS) * 4);
    int64_t nr = 0;
    for (int64_t i = 0; i < n; i++)
        nr += m->data[i] != NULL;
    put64(&w, nr);
    for (int64_t i = 0; i < n; i++)
        if (m->data[i]) {
            put64(&w, i);
            put(&w, m->data[i], LMM_PAGE_SIZE);
        }
    put(&w, m->swap_entry, n * 8);
    for (int t = 0; t < LMM_MAX_SWAPFILES; t++)
        export_swap_area(&w, m->swap[t]);
    return w.pos;
}

struct lmm_mmu *lmm_mmu_import(struct lmm_pa *pa, const uint8_t *buf, int64_t len)
{
    struct reader r = {buf, len, 0, 0};
    struct lmm_mmu h;
    if (!pa || lmm_mmu_struct_size() != (int64_t)sizeof(h) ||
        !check_header(&r, SNAP_MMU_MAGIC, sizeof(h)) || get(&r, &h, sizeof(h)) ||
        h.max_pfn <= 0 || h.zero_pfn < 0 || h.zero_pfn >= h.max_pfn ||
        (uint64_t)h.max_pfn > (uint64_t)(len / 37))
        return NULL;
    /* a fresh engine of the same size, then every array overwritten */
    struct lmm_mmu *m = lmm_mmu_create(pa, h.max_pfn, h.zero_pfn);
    if (!m)
        return NULL;
    int64_t n = h.max_pfn;
    get(&r, m->flags, n * 4);
    get(&r, m->refcount, n * 4);
    get(&r, m->mapcount, n * 4);
    get(&r, m->mapping, n * 8);
    get(&r, m->index, n * 8);
    get(&r, m->level, n);
    get(&r, m->lru_prev, (n + LMM_NR_LRU_LISTS) * 4);
    get(&r, m->lru_next, (n + LMM_NR_LRU_LISTS) * 4);
    m->levels = h.levels;
    m->nr_pgds = h.nr_pgds;
    m->task_size = h.task_size;
    m->user_top = h.user_top;
    m->error_index = h.error_index;
    memcpy(m->events, h.events, sizeof(h.events));
    memcpy(m->node, h.node, sizeof(h.node));
    int64_t nr = get64(&r);
    if (nr < 0 || nr > n)
        r.bad = 1;
    for (int64_t k = 0; k < nr && !r.bad; k++) {
        int64_t pfn = get64(&r);
        if (pfn < 0 || pfn >= n || m->data[pfn]) {
            r.bad = 1;
            break;
        }
        m->data[pfn] = get_array(&r, LMM_PAGE_SIZE, 1);
        if (m->data[pfn])
            m->nr_data++;
    }
    get(&r, m->swap_entry, n * 8);
    memcpy(m->swap_stat, h.swap_stat, sizeof(h.swap_stat));
    for (int t = 0; t < LMM_MAX_SWAPFILES && !r.bad; t++)
        if (import_swap_area(&r, m, t))
            r.bad = 1;
    for (int64_t pfn = 0; pfn < n && !r.bad; pfn++) {  /* each folio's entry names its slot */
        int64_t e = m->swap_entry[pfn];
        if (!e)
            continue;
        struct lmm_swap_area *si = SWP_TYPE(e) < LMM_MAX_SWAPFILES ? m->swap[SWP_TYPE(e)] : NULL;
        if (e < 0 || !si || SWP_OFFSET(e) <= 0 || SWP_OFFSET(e) >= si->info[LMM_SWPI_MAX] ||
            si->cache[SWP_OFFSET(e)] != pfn)
            r.bad = 1;
    }
    if (r.bad || r.pos != r.len || m->nr_data != h.nr_data) {
        lmm_mmu_destroy(m);
        return NULL;
    }
    return m;
}
