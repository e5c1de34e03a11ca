/*
 * slab.c - SLUB object caches (mm/slub.c, Linux 6.12-6.17 with CONFIG_SLUB_CPU_PARTIAL, before
 * 6.18's sheaves) on pages from a page source, for one node and cpu 0.
 *
 * A cache has cpu 0's slab (c->slab: allocation pops its freelist, a free of one of its objects
 * pushes on it), cpu 0's partial slabs (c->partial) and the node partial list (n->partial, empty
 * slabs included); full slabs are on no SLUB list (a FULL list here, for the checker).
 * ___slab_alloc() takes the next cpu partial slab, else get_partial_node() (the first node slab
 * becomes the cpu slab, more go to the cpu partial list up to cpu_partial_slabs / 2 + 1), else a
 * new slab.  __slab_free(): a full slab that regains objects goes to the cpu partial list
 * (put_cpu_partial(), which spills the whole list to the node tail when it already holds
 * cpu_partial_slabs slabs); a node partial slab that becomes empty is discarded when the node has
 * min_partial partial slabs.  Debug caches (kmem_cache_debug()) have no cpu slabs:
 * alloc_single_from_partial(), alloc_single_from_new_slab(), free_to_partial_list().
 * A slab's freelist is LIFO and starts in address order.
 *
 * Every entry point validates its arguments and returns an error without changing anything.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lock.h"
#include "slab_internal.h"
#include "handles.h"

/* ===================================================================== page sources == */

int64_t lmm_slab_buddy_alloc_page(void *buddy, uint32_t gfp, int order)
{
    (void)gfp;
    return lmm_buddy_alloc_owned((struct lmm_buddy *)buddy, order);
}

int64_t lmm_slab_buddy_free_page(void *buddy, int64_t pfn, int order)
{
    return lmm_buddy_free_owned((struct lmm_buddy *)buddy, pfn, order);
}

/* ===================================================================== pfn map == */

static inline uint32_t map_get(const struct lmm_slab_sys *s, int64_t pfn)
{
    uint64_t t = (uint64_t)pfn >> MAP_LEAF_SHIFT;
    if (t >= (uint64_t)s->map_leaves || !s->map[t])
        return 0;
    return s->map[t][pfn & (MAP_LEAF_SIZE - 1)];
}

/* Make sure leaves exist for [pfn, pfn + n); 0 or -LMM_ENOMEM (nothing else changes). */
static int map_reserve(struct lmm_slab_sys *s, int64_t pfn, int64_t n)
{
    int64_t last = (pfn + n - 1) >> MAP_LEAF_SHIFT;
    if (last >= s->map_leaves) {
        int64_t want = s->map_leaves ? s->map_leaves : 16;
        while (want <= last)
            want *= 2;
        uint32_t **m = realloc(s->map, (size_t)want * sizeof(*m));
        if (!m)
            return -LMM_ENOMEM;
        memset(m + s->map_leaves, 0, (size_t)(want - s->map_leaves) * sizeof(*m));
        s->map = m;
        s->map_leaves = want;
    }
    for (int64_t t = pfn >> MAP_LEAF_SHIFT; t <= last; t++) {
        if (!s->map[t]) {
            s->map[t] = calloc(MAP_LEAF_SIZE, sizeof(uint32_t));
            if (!s->map[t])
                return -LMM_ENOMEM;
        }
    }
    return 0;
}

static inline void map_set(struct lmm_slab_sys *s, int64_t pfn, uint32_t v)
{
    s->map[(uint64_t)pfn >> MAP_LEAF_SHIFT][pfn & (MAP_LEAF_SIZE - 1)] = v;
}

/* __pa()/virt_to_pfn() of this machine's direct map: 0 for an address outside it */
static inline int addr_to_pfn(const struct lmm_slab_sys *s, uint64_t addr, int64_t *pfn)
{
    if (addr < s->page_offset || addr >= s->direct_map_end)
        return 0;
    *pfn = (int64_t)((addr - s->page_offset) >> PAGE_SHIFT);
    return 1;
}

/* page_address() of a lowmem page */
static inline uint64_t pfn_to_addr(const struct lmm_slab_sys *s, int64_t pfn)
{
    return s->page_offset + ((uint64_t)pfn << PAGE_SHIFT);
}

/*
 * The page source's pages, refused (given back, -LMM_EINVAL) unless they lie in the direct map:
 * slab and large kmalloc gfp never carry __GFP_HIGHMEM, so an unmapped (HighMem) page is a bug.
 */
static int64_t get_pages(struct lmm_slab_sys *s, uint32_t gfp, int order)
{
    int64_t pfn = s->page_alloc(s->src, gfp, order);
    if (pfn >= 0 && (uint64_t)pfn + ((uint64_t)1 << order) >
                    (s->direct_map_end - s->page_offset) >> PAGE_SHIFT) {
        s->page_free(s->src, pfn, order);
        return -LMM_EINVAL;
    }
    return pfn;
}

/* ===================================================================== creation == */

/* Integer handles for the Python fast paths (handles.h). */
#define NR_SLAB_HANDLES (1 << 16)
static void *slab_handles[NR_SLAB_HANDLES];

int lmm_slab_register_handle(struct lmm_slab_sys *s)
{
    return s->handle = handle_claim(slab_handles, NR_SLAB_HANDLES, s);
}

int lmm_slab_handle(struct lmm_slab_sys *s)
{
    return s->handle;
}

static inline struct lmm_slab_sys *key_sys(int64_t key)
{
    uint64_t h = (uint64_t)key >> 32;
    return handle_lookup(slab_handles, NR_SLAB_HANDLES, h);
}

uint64_t lmm_slab_alloc_k0(int64_t key)
{
    struct lmm_slab_sys *s = key_sys(key);
    return s ? lmm_slab_alloc(s, (int)(uint32_t)key, LMM_GFP_KERNEL) : LMM_EINVAL;
}

uint64_t lmm_slab_alloc_k(int64_t key, uint32_t gfp)
{
    struct lmm_slab_sys *s = key_sys(key);
    return s ? lmm_slab_alloc(s, (int)(uint32_t)key, gfp) : LMM_EINVAL;
}

int64_t lmm_slab_free_k(int64_t key, uint64_t addr)
{
    struct lmm_slab_sys *s = key_sys(key);
    return s ? lmm_slab_free(s, (int)(uint32_t)key, addr) : -LMM_EINVAL;
}

struct lmm_slab_sys *lmm_slab_sys_create(lmm_page_alloc_cb alloc, lmm_page_free_cb free, void *src,
                                         uint64_t page_offset, uint64_t direct_map_end)
{
    if (!alloc || !free || page_offset & (PAGE_SIZE - 1) || direct_map_end <= page_offset)
        return NULL;
    struct lmm_slab_sys *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->handle = -1;
    s->page_alloc = alloc;
    s->page_free = free;
    s->src = src;
    s->page_offset = page_offset;
    s->direct_map_end = direct_map_end;
    s->slab_ids_cap = 64;
    s->slabs = calloc(s->slab_ids_cap, sizeof(struct slab));
    s->free_ids = malloc(s->slab_ids_cap * sizeof(uint32_t));
    if (!s->slabs || !s->free_ids) {
        lmm_slab_sys_destroy(s);
        return NULL;
    }
    s->nr_slab_ids = 1;
    for (int l = 0; l < 5; l++)
        s->dead.lists[l].head = s->dead.lists[l].tail = SLAB_NIL;
    for (int t = 0; t < KMALLOC_TYPES; t++)
        for (int i = 0; i < KMALLOC_INDEXES; i++)
            s->kmalloc[t][i] = -1;
    s->error_index = -1;
    if (lmm_slab_register_handle(s) < 0) {
        lmm_slab_sys_destroy(s);
        return NULL;
    }
    return s;
}

/* The pages are not given back: the page source goes away with the machine. */
void lmm_slab_set_lock(struct lmm_slab_sys *s, struct lmm_lock *lock)
{
    s->lock = lock;
}

void lmm_slab_sys_destroy(struct lmm_slab_sys *s)
{
    if (!s)
        return;
    handle_release(slab_handles, NR_SLAB_HANDLES, s->handle, s);
    if (s->slabs)
        for (uint32_t i = 0; i < s->nr_slab_ids; i++)
            free(s->slabs[i].next);
    free(s->slabs);
    free(s->free_ids);
    for (int i = 0; i < s->nr_caches; i++)
        free(s->caches[i]);
    free(s->caches);
    free(s->free_caches);
    for (int64_t t = 0; t < s->map_leaves; t++)
        free(s->map[t]);
    free(s->map);
    free(s);
}

int lmm_slab_cache_create(struct lmm_slab_sys *s, const struct lmm_slab_geometry *g)
{
    if (!g || g->size < 8 || g->objects < 1 || g->objects > MAX_SLAB_OBJECTS ||
        g->min_objects < 1 || g->min_objects > g->objects || g->order < 0 ||
        g->order > LMM_MAX_ORDER_LIMIT || g->min_order < 0 || g->min_order > g->order ||
        g->red_left_pad >= g->size ||
        (uint64_t)g->size * (uint64_t)g->objects > ((uint64_t)PAGE_SIZE << g->order) ||
        (uint64_t)g->size * (uint64_t)g->min_objects > ((uint64_t)PAGE_SIZE << g->min_order) ||
        g->min_partial < 0 || g->cpu_partial < 0 || g->cpu_partial > 0xffff)
        return -LMM_EINVAL;
    if (!s->nr_free_caches && s->nr_caches == s->caches_cap) {
        if (s->caches_cap >= (1 << 30))
            return -LMM_ENOMEM;
        int cap = s->caches_cap ? 2 * s->caches_cap : 64;
        struct kmem_cache **c = realloc(s->caches, (size_t)cap * sizeof(*c));
        if (!c)
            return -LMM_ENOMEM;
        s->caches = c;
        int *f = realloc(s->free_caches, (size_t)cap * sizeof(*f));
        if (!f)
            return -LMM_ENOMEM;
        s->free_caches = f;
        s->caches_cap = cap;
    }
    struct kmem_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return -LMM_ENOMEM;
    c->g = *g;
    c->alive = 1;
    for (int l = 0; l < 5; l++)
        c->lists[l].head = c->lists[l].tail = SLAB_NIL;
    /* slub_set_cpu_partial(): DIV_ROUND_UP(cpu_partial * 2, oo_objects) */
    c->cpu_partial_slabs = c->g.debug_lists ? 0 :
        (uint32_t)((2 * (int64_t)c->g.cpu_partial + g->objects - 1) / g->objects);
    if (s->nr_free_caches) {            /* the lowest released id first */
        int best = 0;
        for (int i = 1; i < s->nr_free_caches; i++)
            if (s->free_caches[i] < s->free_caches[best])
                best = i;
        int id = s->free_caches[best];
        s->free_caches[best] = s->free_caches[--s->nr_free_caches];
        s->caches[id] = c;
        return id;
    }
    s->caches[s->nr_caches] = c;
    return s->nr_caches++;
}

int lmm_slab_set_kmalloc(struct lmm_slab_sys *s, int type, int index, int cache)
{
    LMM_LOCKED(s->lock);
    if ((unsigned)type >= KMALLOC_TYPES || (unsigned)index >= KMALLOC_INDEXES ||
        cache < -1 || cache >= s->nr_caches || (cache >= 0 && !s->caches[cache]))
        return -LMM_EINVAL;
    s->kmalloc[type][index] = cache;
    return 0;
}

/* The cache of an id; &s->dead for LMM_SLAB_DEAD_CACHE; NULL for an id never handed out or
 * released. */
static inline struct kmem_cache *get_cache(struct lmm_slab_sys *s, int cache)
{
    if ((unsigned)cache >= (unsigned)s->nr_caches)
        return cache == LMM_SLAB_DEAD_CACHE ? &s->dead : NULL;
    return s->caches[cache];
}

/* ===================================================================== lists == */

static inline void list_add_head(struct lmm_slab_sys *s, struct kmem_cache *c, uint32_t id, int which)
{
    struct slab_list *l = &c->lists[which];
    struct slab *sl = &s->slabs[id];
    sl->list = (uint8_t)which;
    sl->lprev = SLAB_NIL;
    sl->lnext = l->head;
    if (l->head == SLAB_NIL)
        l->tail = id;
    else
        s->slabs[l->head].lprev = id;
    l->head = id;
    l->nr++;
}

static inline void list_add_tail(struct lmm_slab_sys *s, struct kmem_cache *c, uint32_t id, int which)
{
    struct slab_list *l = &c->lists[which];
    struct slab *sl = &s->slabs[id];
    sl->list = (uint8_t)which;
    sl->lnext = SLAB_NIL;
    sl->lprev = l->tail;
    if (l->tail == SLAB_NIL)
        l->head = id;
    else
        s->slabs[l->tail].lnext = id;
    l->tail = id;
    l->nr++;
}

static inline void list_del(struct lmm_slab_sys *s, struct kmem_cache *c, uint32_t id)
{
    struct slab *sl = &s->slabs[id];
    struct slab_list *l = &c->lists[sl->list];
    if (sl->lprev == SLAB_NIL)
        l->head = sl->lnext;
    else
        s->slabs[sl->lprev].lnext = sl->lnext;
    if (sl->lnext == SLAB_NIL)
        l->tail = sl->lprev;
    else
        s->slabs[sl->lnext].lprev = sl->lprev;
    l->nr--;
}

/* ===================================================================== slabs == */

static uint32_t get_slab_id(struct lmm_slab_sys *s)
{
    if (s->nr_free_ids)
        return s->free_ids[--s->nr_free_ids];
    if (s->nr_slab_ids == s->slab_ids_cap) {
        if (s->slab_ids_cap >= 0x3fffffffu)
            return SLAB_NIL;
        uint32_t cap = s->slab_ids_cap * 2;
        struct slab *n = realloc(s->slabs, (size_t)cap * sizeof(*n));
        if (!n)
            return SLAB_NIL;
        memset(n + s->slab_ids_cap, 0, (size_t)(cap - s->slab_ids_cap) * sizeof(*n));
        s->slabs = n;
        uint32_t *f = realloc(s->free_ids, (size_t)cap * sizeof(*f));
        if (!f)
            return SLAB_NIL;
        s->free_ids = f;
        s->slab_ids_cap = cap;
    }
    return s->nr_slab_ids++;
}

static inline int64_t *slab_bytes(struct lmm_slab_sys *s, const struct kmem_cache *c)
{
    return c->g.reclaimable ? &s->reclaimable_bytes : &s->unreclaimable_bytes;
}

/*
 * allocate_slab(): pages of order oo (falling back to min when that fails), the pfn map, a
 * freelist in address order.  The new slab is on no list.  Returns its id, or SLAB_NIL with
 * *err set and nothing changed.
 */
static uint32_t allocate_slab(struct lmm_slab_sys *s, struct kmem_cache *c, uint32_t cache,
                              uint32_t gfp, int64_t *err)
{
    uint32_t flags = (gfp & GFP_RECLAIM_MASK) | c->g.allocflags;
    int order = c->g.order;
    uint32_t objects = (uint32_t)c->g.objects;
    uint32_t id = get_slab_id(s);
    if (id == SLAB_NIL) {
        *err = -LMM_ENOMEM;
        return SLAB_NIL;
    }
    struct slab *sl = &s->slabs[id];
    if (sl->cap < objects) {
        uint16_t *n = realloc(sl->next, objects * sizeof(uint16_t));
        if (!n) {
            s->free_ids[s->nr_free_ids++] = id;
            *err = -LMM_ENOMEM;
            return SLAB_NIL;
        }
        sl->next = n;
        sl->cap = objects;
    }
    int64_t pfn;
    if (order > c->g.min_order) {
        pfn = get_pages(s, (flags | GFP_NOWARN_BIT | GFP_NORETRY_BIT) & ~GFP_NOFAIL_BIT, order);
        if (pfn < 0) {
            order = c->g.min_order;
            objects = (uint32_t)c->g.min_objects;
            pfn = get_pages(s, flags, order);
        }
    } else {
        pfn = get_pages(s, flags, order);
    }
    if (pfn < 0 || map_reserve(s, pfn, (int64_t)1 << order)) {
        if (pfn >= 0)
            s->page_free(s->src, pfn, order);
        s->free_ids[s->nr_free_ids++] = id;
        *err = pfn < 0 ? pfn : -LMM_ENOMEM;
        return SLAB_NIL;
    }
    sl->pfn = pfn;
    sl->base = pfn_to_addr(s, pfn) + c->g.red_left_pad;
    sl->cache = cache;
    sl->objects = objects;
    sl->inuse = 0;
    sl->order = (uint8_t)order;
    sl->serial = ++s->serial;
    for (uint32_t i = 0; i + 1 < objects; i++)
        sl->next[i] = (uint16_t)(i + 1);
    sl->next[objects - 1] = OBJ_END;
    sl->freelist = 0;
    for (int64_t p = 0; p < ((int64_t)1 << order); p++)
        map_set(s, pfn + p, id);
    c->nr_slabs++;
    c->total_objects += objects;
    c->pages += (int64_t)1 << order;
    c->slabs_created++;
    *slab_bytes(s, c) += (int64_t)PAGE_SIZE << order;
    return id;
}

/* discard_slab(): unlink from the map, give the pages back; the slab is on no list. */
static void discard_slab(struct lmm_slab_sys *s, struct kmem_cache *c, uint32_t id)
{
    struct slab *sl = &s->slabs[id];
    int64_t n = (int64_t)1 << sl->order;
    for (int64_t p = 0; p < n; p++)
        map_set(s, sl->pfn + p, 0);
    c->nr_slabs--;
    c->total_objects -= sl->objects;
    c->pages -= n;
    *slab_bytes(s, c) -= (int64_t)PAGE_SIZE << sl->order;
    s->page_free(s->src, sl->pfn, sl->order);
    s->free_ids[s->nr_free_ids++] = id;
}

/* ===================================================================== per-cpu layer == */

/*
 * __put_partials(): the detached cpu partial chain starting at id goes to the node partial tail,
 * head first; empty slabs beyond min_partial are discarded afterwards, last found first.
 */
static void put_partials(struct lmm_slab_sys *s, struct kmem_cache *c, uint32_t id)
{
    uint32_t discard = SLAB_NIL;
    while (id != SLAB_NIL) {
        struct slab *sl = &s->slabs[id];
        uint32_t next = sl->lnext;
        if (sl->inuse == 0 && c->lists[LMM_SLAB_LIST_PARTIAL].nr >= c->g.min_partial) {
            sl->lnext = discard;
            discard = id;
        } else {
            list_add_tail(s, c, id, LMM_SLAB_LIST_PARTIAL);
        }
        id = next;
    }
    while (discard != SLAB_NIL) {
        uint32_t next = s->slabs[discard].lnext;
        discard_slab(s, c, discard);
        discard = next;
    }
}

/* put_cpu_partial(): push at the head; with drain, a list already cpu_partial_slabs long
 * is first detached and put to the node. */
static void put_cpu_partial(struct lmm_slab_sys *s, struct kmem_cache *c, uint32_t id, int drain)
{
    struct slab_list *cp = &c->lists[LMM_SLAB_LIST_CPU_PARTIAL];
    uint32_t old = SLAB_NIL;
    if (drain && cp->nr && cp->nr >= (int64_t)c->cpu_partial_slabs) {
        old = cp->head;
        cp->head = cp->tail = SLAB_NIL;
        cp->nr = 0;
    }
    list_add_head(s, c, id, LMM_SLAB_LIST_CPU_PARTIAL);
    if (old != SLAB_NIL)
        put_partials(s, c, old);
}

/* get_partial_node(): the first node partial slab (NIL if none); more are moved to the cpu
 * partial list (put_cpu_partial without drain) until there are more than cpu_partial_slabs / 2. */
static uint32_t get_partial_node(struct lmm_slab_sys *s, struct kmem_cache *c)
{
    uint32_t partial = SLAB_NIL, partial_slabs = 0;
    uint32_t id = c->lists[LMM_SLAB_LIST_PARTIAL].head;
    while (id != SLAB_NIL) {
        uint32_t next = s->slabs[id].lnext;
        list_del(s, c, id);
        if (partial == SLAB_NIL) {
            partial = id;
            if (c->g.cpu_partial == 0)
                break;
        } else {
            put_cpu_partial(s, c, id, 0);
            if (++partial_slabs > c->cpu_partial_slabs / 2)
                break;
        }
        id = next;
    }
    return partial;
}

/* deactivate_slab() of cpu 0's slab (all its free objects are on its freelist). */
static void deactivate_slab(struct lmm_slab_sys *s, struct kmem_cache *c)
{
    uint32_t id = c->lists[LMM_SLAB_LIST_CPU].head;
    if (id == SLAB_NIL)
        return;
    struct slab *sl = &s->slabs[id];
    list_del(s, c, id);
    if (sl->inuse == 0 && c->lists[LMM_SLAB_LIST_PARTIAL].nr >= c->g.min_partial)
        discard_slab(s, c, id);
    else if (sl->freelist != OBJ_END)
        list_add_head(s, c, id, LMM_SLAB_LIST_PARTIAL);     /* DEACTIVATE_TO_HEAD */
    else
        list_add_head(s, c, id, LMM_SLAB_LIST_FULL);
}

/* flush_cpu_slab(): the cpu slab, then the cpu partial list. */
static void flush_cpu_slab(struct lmm_slab_sys *s, struct kmem_cache *c)
{
    deactivate_slab(s, c);
    struct slab_list *cp = &c->lists[LMM_SLAB_LIST_CPU_PARTIAL];
    uint32_t old = cp->head;
    cp->head = cp->tail = SLAB_NIL;
    cp->nr = 0;
    put_partials(s, c, old);
}

/* ===================================================================== alloc / free == */

static inline uint64_t pop_object(struct kmem_cache *c, struct slab *sl)
{
    uint32_t idx = sl->freelist;
    sl->freelist = sl->next[idx];
    sl->next[idx] = OBJ_ALLOCATED;
    sl->inuse++;
    c->inuse++;
    return sl->base + (uint64_t)idx * c->g.size;
}

/*
 * ___slab_alloc(): a cpu slab with a free object (NIL with *err set on failure).  A debug cache
 * allocates the object itself (alloc_single_from_partial / _from_new_slab) and returns
 * SLAB_NIL with *err = 0 and *addr set.
 */
static uint32_t slab_alloc_slow(struct lmm_slab_sys *s, struct kmem_cache *c, uint32_t cache,
                                uint32_t gfp, int64_t *err, uint64_t *addr)
{
    uint32_t id;
    if (c->g.debug_lists) {
        id = c->lists[LMM_SLAB_LIST_PARTIAL].head;
        if (id == SLAB_NIL) {
            id = allocate_slab(s, c, cache, gfp, err);
            if (id == SLAB_NIL)
                return SLAB_NIL;
            list_add_head(s, c, id, LMM_SLAB_LIST_PARTIAL);     /* DEACTIVATE_TO_HEAD */
        }
        struct slab *sl = &s->slabs[id];
        *addr = pop_object(c, sl);
        if (sl->freelist == OBJ_END) {
            list_del(s, c, id);
            list_add_head(s, c, id, LMM_SLAB_LIST_FULL);
        }
        *err = 0;
        return SLAB_NIL;
    }
    id = c->lists[LMM_SLAB_LIST_CPU].head;
    if (id != SLAB_NIL) {                       /* exhausted: c->slab = NULL, the slab is full */
        list_del(s, c, id);
        list_add_head(s, c, id, LMM_SLAB_LIST_FULL);
    }
    id = c->lists[LMM_SLAB_LIST_CPU_PARTIAL].head;
    if (id != SLAB_NIL) {
        list_del(s, c, id);
    } else {
        id = get_partial_node(s, c);
        if (id == SLAB_NIL) {
            id = allocate_slab(s, c, cache, gfp, err);
            if (id == SLAB_NIL)
                return SLAB_NIL;
        }
    }
    list_add_head(s, c, id, LMM_SLAB_LIST_CPU);
    return id;
}

static inline uint64_t slab_alloc(struct lmm_slab_sys *s, struct kmem_cache *c, uint32_t cache,
                                  uint32_t gfp)
{
    uint32_t id = c->lists[LMM_SLAB_LIST_CPU].head;
    if (id == SLAB_NIL || s->slabs[id].freelist == OBJ_END) {
        int64_t err = 0;
        uint64_t addr = 0;
        id = slab_alloc_slow(s, c, cache, gfp, &err, &addr);
        if (id == SLAB_NIL)
            return err ? (uint64_t)-err : addr;
    }
    return pop_object(c, &s->slabs[id]);
}

/*
 * Is addr an allocated object of cache (-1: of any cache)?  0 with id_out and idx_out set, else the
 * reason.  OBJ_PENDING counts as "named twice".
 */
static inline int64_t locate_object(const struct lmm_slab_sys *s, int cache, uint64_t addr,
                                    uint32_t *id_out, uint32_t *idx_out)
{
    int64_t pfn;
    if (!addr_to_pfn(s, addr, &pfn))
        return -LMM_SLAB_ENOTSLAB;
    uint32_t id = map_get(s, pfn);
    if (id == 0 || (id & MAP_KIND_MASK))
        return -LMM_SLAB_ENOTSLAB;
    const struct slab *sl = &s->slabs[id];
    if (cache >= 0 && sl->cache != (uint32_t)cache)
        return -LMM_SLAB_EWRONGCACHE;
    const struct kmem_cache *c = s->caches[sl->cache];
    if (addr < sl->base)
        return -LMM_SLAB_EINTERIOR;
    uint64_t off = addr - sl->base;                 /* < PAGE_SIZE << order: fits 32 bits */
    uint32_t idx = (uint32_t)off / c->g.size;
    if (idx >= sl->objects || (uint32_t)off != idx * c->g.size)
        return -LMM_SLAB_EINTERIOR;
    uint16_t st = sl->next[idx];
    if (st != OBJ_ALLOCATED)
        return st == OBJ_PENDING ? -LMM_SLAB_EDUP : -LMM_SLAB_EFREE;
    *id_out = id;
    *idx_out = idx;
    return 0;
}

/*
 * The list work of __slab_free() (or free_to_partial_list() for a debug cache) after cnt
 * objects were pushed on the slab's freelist; prior: the slab had free objects before.
 */
static void slab_free_lists(struct lmm_slab_sys *s, struct kmem_cache *c, uint32_t id, int prior)
{
    struct slab *sl = &s->slabs[id];
    int64_t nr_partial = c->lists[LMM_SLAB_LIST_PARTIAL].nr;
    if (c->g.debug_lists) {
        int slab_free = sl->inuse == 0 && nr_partial >= c->g.min_partial;
        if (!prior) {
            list_del(s, c, id);                             /* remove_full() */
            if (!slab_free)
                list_add_tail(s, c, id, LMM_SLAB_LIST_PARTIAL);
        } else if (slab_free) {
            list_del(s, c, id);
        }
        if (slab_free)
            discard_slab(s, c, id);
        return;
    }
    if (sl->list == LMM_SLAB_LIST_CPU || sl->list == LMM_SLAB_LIST_CPU_PARTIAL)
        return;                                             /* frozen, or not on a node list */
    if (!prior) {
        list_del(s, c, id);
        put_cpu_partial(s, c, id, 1);
        return;
    }
    if (sl->inuse == 0 && nr_partial >= c->g.min_partial) {
        list_del(s, c, id);
        discard_slab(s, c, id);
    }
}

/* do_slab_free() of one located object. */
static inline void slab_free(struct lmm_slab_sys *s, struct kmem_cache *c, uint32_t id, uint32_t idx)
{
    struct slab *sl = &s->slabs[id];
    int prior = sl->freelist != OBJ_END;
    sl->next[idx] = (uint16_t)sl->freelist;
    sl->freelist = idx;
    sl->inuse--;
    c->inuse--;
    if (sl->list != LMM_SLAB_LIST_CPU)
        slab_free_lists(s, c, id, prior);
}

uint64_t lmm_slab_alloc(struct lmm_slab_sys *s, int cache, uint32_t gfp)
{
    LMM_LOCKED(s->lock);
    struct kmem_cache *c = get_cache(s, cache);
    if (!c)
        return LMM_EINVAL;
    if (!c->alive)
        return LMM_SLAB_EDEAD;
    return slab_alloc(s, c, (uint32_t)cache, gfp);
}

int64_t lmm_slab_free(struct lmm_slab_sys *s, int cache, uint64_t addr)
{
    LMM_LOCKED(s->lock);
    struct kmem_cache *c = get_cache(s, cache);
    if (!c)
        return -LMM_EINVAL;
    if (!c->alive)
        return -LMM_SLAB_EDEAD;
    uint32_t id, idx;
    int64_t err = locate_object(s, cache, addr, &id, &idx);
    if (err)
        return err;
    slab_free(s, c, id, idx);
    return 0;
}

/*
 * kmem_cache_free_bulk() of located objects (loc[i] = slab id << 32 | index, reordered in
 * place): build_detached_freelist() from the end of the array, gathering the objects of the
 * last one's slab with a look-ahead of 3 misses, then one do_slab_free() per group.
 */
static void free_located(struct lmm_slab_sys *s, uint64_t *loc, int64_t size)
{
    while (size) {
        uint64_t first = loc[--size];
        uint32_t id = (uint32_t)(first >> 32);
        struct slab *sl = &s->slabs[id];
        struct kmem_cache *c = s->caches[sl->cache];
        int prior = sl->freelist != OBJ_END;
        uint16_t *next = sl->next;
        uint32_t freelist = sl->freelist, idx = (uint32_t)first, cnt = 1;
        next[idx] = (uint16_t)freelist;
        freelist = idx;
        int64_t same = size;
        int lookahead = 3;
        while (size) {
            uint64_t o = loc[--size];
            if ((uint32_t)(o >> 32) == id) {
                idx = (uint32_t)o;
                next[idx] = (uint16_t)freelist;
                freelist = idx;
                cnt++;
                same--;
                if (size != same) {
                    loc[size] = loc[same];
                    loc[same] = o;
                }
                continue;
            }
            if (!--lookahead)
                break;
        }
        size = same;
        sl->freelist = freelist;
        sl->inuse -= cnt;
        c->inuse -= cnt;
        if (sl->list != LMM_SLAB_LIST_CPU)
            slab_free_lists(s, c, id, prior);
    }
}

/*
 * The objects are those n calls of slab_alloc() would return, in that order; the inner loop
 * drains the cpu slab's freelist without going back to the slow path for every object.
 * On failure the objects already taken are freed as kmem_cache_free_bulk() frees them.
 */
int64_t lmm_slab_alloc_bulk(struct lmm_slab_sys *s, int cache, uint32_t gfp, int64_t n, uint64_t *out)
{
    LMM_LOCKED(s->lock);
    struct kmem_cache *c = get_cache(s, cache);
    if (!c || n < 0)
        return -LMM_EINVAL;
    if (!c->alive)
        return -LMM_SLAB_EDEAD;
    const uint64_t size = c->g.size;
    int64_t i = 0;
    while (i < n) {
        uint32_t id = c->lists[LMM_SLAB_LIST_CPU].head;
        if (id == SLAB_NIL || s->slabs[id].freelist == OBJ_END) {
            int64_t err = 0;
            uint64_t addr = 0;
            id = slab_alloc_slow(s, c, (uint32_t)cache, gfp, &err, &addr);
            if (id == SLAB_NIL) {
                if (!err) {
                    out[i++] = addr;
                    continue;
                }
                /* all or nothing: give back what we got */
                uint64_t *loc = i ? malloc((size_t)i * sizeof(uint64_t)) : NULL;
                if (i && !loc) {
                    while (i-- > 0) {       /* no scratch memory: one object at a time */
                        uint32_t fid = 0, fidx = 0;
                        locate_object(s, cache, out[i], &fid, &fidx);
                        slab_free(s, c, fid, fidx);
                    }
                    return err;
                }
                for (int64_t j = 0; j < i; j++) {
                    uint32_t fid = 0, fidx = 0;
                    locate_object(s, cache, out[j], &fid, &fidx);
                    loc[j] = (uint64_t)fid << 32 | fidx;
                }
                free_located(s, loc, i);
                free(loc);
                return err;
            }
        }
        struct slab *sl = &s->slabs[id];
        uint16_t *next = sl->next;
        uint32_t idx = sl->freelist;
        int64_t start = i;
        const uint64_t base = sl->base;
        while (i < n && idx != OBJ_END) {
            uint32_t nidx = next[idx];
            next[idx] = OBJ_ALLOCATED;
            out[i++] = base + idx * size;
            idx = nidx;
        }
        sl->freelist = idx;
        sl->inuse += (uint32_t)(i - start);
        c->inuse += i - start;
    }
    return n;
}

/*
 * Validation first (each object marked OBJ_PENDING so that a repeat is caught), then the frees
 * as kmem_cache_free_bulk() does them (free_located).
 */
int64_t lmm_slab_free_bulk(struct lmm_slab_sys *s, int cache, const uint64_t *addrs, int64_t n)
{
    LMM_LOCKED(s->lock);
    if (n < 0 || cache < -1)
        return -LMM_EINVAL;
    if (cache >= 0) {
        const struct kmem_cache *c = get_cache(s, cache);
        if (!c)
            return -LMM_EINVAL;
        if (!c->alive)
            return -LMM_SLAB_EDEAD;
    }
    uint64_t *loc = n ? malloc((size_t)n * sizeof(uint64_t)) : NULL;
    if (n && !loc)
        return -LMM_ENOMEM;
    int64_t i, err = 0;
    uint32_t id = 0, idx = 0;
    for (i = 0; i < n; i++) {
        err = locate_object(s, cache, addrs[i], &id, &idx);
        if (!err && cache < 0 && s->caches[s->slabs[id].cache]->g.debug)
            err = -LMM_SLAB_EDEBUG;
        if (err)
            break;
        s->slabs[id].next[idx] = OBJ_PENDING;
        loc[i] = (uint64_t)id << 32 | idx;
    }
    if (err) {
        s->error_index = i;
        while (i-- > 0)
            s->slabs[loc[i] >> 32].next[(uint32_t)loc[i]] = OBJ_ALLOCATED;
        free(loc);
        return err;
    }
    free_located(s, loc, n);
    free(loc);
    return 0;
}

int64_t lmm_slab_error_index(struct lmm_slab_sys *s)
{
    LMM_LOCKED(s->lock);
    return s->error_index;
}

/* ===================================================================== kmalloc == */

/* kmalloc_size_index[] of mm/slab_common.c: index for sizes 1..192 in steps of 8. */
static const uint8_t size_index[24] = {
    3, 4, 5, 5, 6, 6, 6, 6,     /* 8 .. 64 */
    1, 1, 1, 1,                 /* 72 .. 96 -> kmalloc-96 */
    7, 7, 7, 7,                 /* 104 .. 128 */
    2, 2, 2, 2, 2, 2, 2, 2,     /* 136 .. 192 -> kmalloc-192 */
};

int lmm_slab_kmalloc_index(int64_t size)
{
    if (size <= 0)
        return 0;
    if (size > KMALLOC_MAX_CACHE)
        return -1;
    if (size <= 192)
        return size_index[(size - 1) / 8];
    return 64 - __builtin_clzll((unsigned long long)(size - 1));      /* fls(size - 1) */
}

static inline int kmalloc_type(uint32_t gfp)
{
    if (!(gfp & (GFP_DMA_BIT | GFP_RECLAIMABLE_BIT | GFP_ACCOUNT_BIT)))
        return 0;
    if (gfp & GFP_DMA_BIT)
        return 2;
    if (gfp & GFP_RECLAIMABLE_BIT)
        return 1;
    return 3;
}

static inline int large_order(int64_t size)
{
    return size <= (int64_t)PAGE_SIZE ? 0 : 64 - __builtin_clzll((unsigned long long)((size - 1) >> PAGE_SHIFT));
}

int lmm_slab_kmalloc_cache(struct lmm_slab_sys *s, int64_t size, uint32_t gfp)
{
    LMM_LOCKED(s->lock);
    if (size < 0)
        return -LMM_EINVAL;
    if (size > KMALLOC_MAX_CACHE)
        return large_order(size) > KMALLOC_MAX_ORDER ? -LMM_SLAB_ETOOBIG : -1;
    gfp &= ~(GFP_DMA32_BIT | GFP_HIGHMEM_BIT);     /* kmalloc_fix_flags() */
    int cache = s->kmalloc[kmalloc_type(gfp)][lmm_slab_kmalloc_index(size)];
    return cache >= 0 ? cache : -LMM_SLAB_ENOCACHE;
}

static uint64_t kmalloc_large(struct lmm_slab_sys *s, int64_t size, uint32_t gfp)
{
    int order = large_order(size);
    int64_t pfn = get_pages(s, gfp | GFP_COMP_BIT, order);
    if (pfn < 0)
        return (uint64_t)-pfn;
    if (map_reserve(s, pfn, (int64_t)1 << order)) {
        s->page_free(s->src, pfn, order);
        return LMM_ENOMEM;
    }
    map_set(s, pfn, MAP_LARGE_HEAD | (uint32_t)order);
    for (int64_t p = 1; p < ((int64_t)1 << order); p++)
        map_set(s, pfn + p, MAP_LARGE_TAIL);
    s->unreclaimable_bytes += (int64_t)PAGE_SIZE << order;
    s->large_pages += (int64_t)1 << order;
    s->large_blocks++;
    return pfn_to_addr(s, pfn);
}

uint64_t lmm_slab_kmalloc(struct lmm_slab_sys *s, int64_t size, uint32_t gfp)
{
    LMM_LOCKED(s->lock);
    if (size == 0)
        return 16;                                  /* ZERO_SIZE_PTR */
    int cache = lmm_slab_kmalloc_cache(s, size, gfp);
    if (cache == -1)
        return kmalloc_large(s, size, gfp & ~(GFP_DMA32_BIT | GFP_HIGHMEM_BIT));
    if (cache < 0)
        return (uint64_t)-cache;
    struct kmem_cache *c = s->caches[cache];
    if (!c->alive)
        return LMM_SLAB_EDEAD;
    if (c->g.debug)
        return LMM_SLAB_EDEBUG;
    return slab_alloc(s, c, (uint32_t)cache, gfp);
}

int64_t lmm_slab_kfree(struct lmm_slab_sys *s, uint64_t addr)
{
    LMM_LOCKED(s->lock);
    if (addr <= 16)
        return 0;                                   /* NULL and ZERO_SIZE_PTR */
    int64_t pfn;
    if (!addr_to_pfn(s, addr, &pfn))
        return -LMM_SLAB_ENOTSLAB;
    uint32_t v = map_get(s, pfn);
    if ((v & MAP_KIND_MASK) == MAP_LARGE_HEAD) {
        if (addr & (PAGE_SIZE - 1))
            return -LMM_SLAB_EINTERIOR;
        int order = (int)(v & 0xff);
        int64_t n = (int64_t)1 << order;
        for (int64_t p = 0; p < n; p++)
            map_set(s, pfn + p, 0);
        s->unreclaimable_bytes -= (int64_t)PAGE_SIZE << order;
        s->large_pages -= n;
        s->large_blocks--;
        s->page_free(s->src, pfn, order);
        return 0;
    }
    if (v == MAP_LARGE_TAIL)
        return -LMM_SLAB_EINTERIOR;
    uint32_t id, idx;
    int64_t err = locate_object(s, -1, addr, &id, &idx);
    if (err)
        return err;
    struct kmem_cache *c = s->caches[s->slabs[id].cache];
    if (c->g.debug)
        return -LMM_SLAB_EDEBUG;
    slab_free(s, c, id, idx);
    return 0;
}

int64_t lmm_slab_ksize(struct lmm_slab_sys *s, uint64_t addr)
{
    LMM_LOCKED(s->lock);
    if (addr <= 16)
        return 0;
    int64_t pfn;
    if (!addr_to_pfn(s, addr, &pfn))
        return -LMM_SLAB_ENOTSLAB;
    uint32_t v = map_get(s, pfn);
    if ((v & MAP_KIND_MASK) == MAP_LARGE_HEAD)
        return (addr & (PAGE_SIZE - 1)) ? -LMM_SLAB_EINTERIOR : (int64_t)PAGE_SIZE << (v & 0xff);
    if (v == MAP_LARGE_TAIL)
        return -LMM_SLAB_EINTERIOR;
    uint32_t id, idx;
    int64_t err = locate_object(s, -1, addr, &id, &idx);
    if (err)
        return err;
    return s->caches[s->slabs[id].cache]->g.ksize;
}

/* ===================================================================== shrink / release == */

#define SHRINK_PROMOTE_MAX 32

/*
 * __kmem_cache_shrink(): flush cpu 0's slabs; take the empty slabs off the node partial list and
 * move the slabs with 1..32 free objects to the head, fewest free first (list_move: each bucket
 * in reverse scan order); then discard the empty slabs, last found first.
 */
int lmm_slab_shrink(struct lmm_slab_sys *s, int cache)
{
    LMM_LOCKED(s->lock);
    struct kmem_cache *c = get_cache(s, cache);
    if (!c)
        return -LMM_EINVAL;
    if (!c->alive)
        return -LMM_SLAB_EDEAD;
    flush_cpu_slab(s, c);
    uint32_t bucket_first[SHRINK_PROMOTE_MAX], bucket_last[SHRINK_PROMOTE_MAX];
    for (int i = 0; i < SHRINK_PROMOTE_MAX; i++)
        bucket_first[i] = bucket_last[i] = SLAB_NIL;
    uint32_t discard = SLAB_NIL, id;
    struct slab_list *pl = &c->lists[LMM_SLAB_LIST_PARTIAL];
    for (id = pl->head; id != SLAB_NIL;) {
        struct slab *sl = &s->slabs[id];
        uint32_t next = sl->lnext;
        uint32_t nfree = sl->objects - sl->inuse;
        if (nfree == sl->objects) {
            list_del(s, c, id);
            sl->lnext = discard;
            discard = id;
        } else if (nfree <= SHRINK_PROMOTE_MAX) {
            /* chained in scan order; list_move() puts them in the reverse order */
            uint32_t b = nfree - 1;
            list_del(s, c, id);
            sl->lnext = SLAB_NIL;
            if (bucket_last[b] == SLAB_NIL)
                bucket_first[b] = id;
            else
                s->slabs[bucket_last[b]].lnext = id;
            bucket_last[b] = id;
        }
        id = next;
    }
    for (int b = SHRINK_PROMOTE_MAX - 1; b >= 0; b--) {
        /* list_splice(promote + b, &n->partial): the scan-order chain, each to the head */
        for (uint32_t t = bucket_first[b]; t != SLAB_NIL;) {
            uint32_t next = s->slabs[t].lnext;
            list_add_head(s, c, t, LMM_SLAB_LIST_PARTIAL);
            t = next;
        }
    }
    while (discard != SLAB_NIL) {
        uint32_t next = s->slabs[discard].lnext;
        discard_slab(s, c, discard);
        discard = next;
    }
    return c->nr_slabs ? 1 : 0;
}

/* __kmem_cache_shutdown() of a cache with no object in use: flush, free_partial(). */
int lmm_slab_cache_release(struct lmm_slab_sys *s, int cache)
{
    LMM_LOCKED(s->lock);
    struct kmem_cache *c = get_cache(s, cache);
    if (!c)
        return -LMM_EINVAL;
    if (!c->alive)
        return -LMM_SLAB_EDEAD;
    if (c->inuse)
        return -LMM_SLAB_EBUSY;
    flush_cpu_slab(s, c);
    uint32_t discard = SLAB_NIL, id;
    while ((id = c->lists[LMM_SLAB_LIST_PARTIAL].head) != SLAB_NIL) {
        list_del(s, c, id);
        s->slabs[id].lnext = discard;
        discard = id;
    }
    while (discard != SLAB_NIL) {
        uint32_t next = s->slabs[discard].lnext;
        discard_slab(s, c, discard);
        discard = next;
    }
    c->alive = 0;
    for (int t = 0; t < KMALLOC_TYPES; t++)
        for (int i = 0; i < KMALLOC_INDEXES; i++)
            if (s->kmalloc[t][i] == cache)
                s->kmalloc[t][i] = -1;
    if (cache != LMM_SLAB_DEAD_CACHE) {   /* the id and the memory go back */
        free(c);
        s->caches[cache] = NULL;
        s->free_caches[s->nr_free_caches++] = cache;
    }
    return 0;
}

/* ===================================================================== introspection == */

#define MAX_PARTIAL_TO_SCAN 10000

/* count_partial_free_approx() (6.10+): exact up to MAX_PARTIAL_TO_SCAN node partial slabs. */
static int64_t count_partial_free(struct lmm_slab_sys *s, struct kmem_cache *c)
{
    const struct slab_list *pl = &c->lists[LMM_SLAB_LIST_PARTIAL];
    uint64_t x = 0, scanned = 0;
    uint32_t id;
    if (pl->nr <= MAX_PARTIAL_TO_SCAN) {
        for (id = pl->head; id != SLAB_NIL; id = s->slabs[id].lnext)
            x += s->slabs[id].objects - s->slabs[id].inuse;
        return (int64_t)x;
    }
    for (id = pl->head; id != SLAB_NIL; id = s->slabs[id].lnext) {
        x += s->slabs[id].objects - s->slabs[id].inuse;
        if (++scanned == MAX_PARTIAL_TO_SCAN / 2)
            break;
    }
    for (id = pl->tail; id != SLAB_NIL; id = s->slabs[id].lprev) {
        x += s->slabs[id].objects - s->slabs[id].inuse;
        if (++scanned == MAX_PARTIAL_TO_SCAN)
            break;
    }
    uint64_t nr = (uint64_t)pl->nr;
    x = (x / scanned) * nr + ((x % scanned) * nr) / scanned;      /* mult_frac() */
    return (int64_t)(x < (uint64_t)c->total_objects ? x : (uint64_t)c->total_objects);
}

void lmm_slab_cache_stats(struct lmm_slab_sys *s, int cache, int64_t *out)
{
    LMM_LOCKED(s->lock);
    struct kmem_cache *c = get_cache(s, cache);
    if (!c) {
        memset(out, 0, 12 * sizeof(int64_t));
        return;
    }
    int64_t empty = 0;
    for (uint32_t id = c->lists[LMM_SLAB_LIST_PARTIAL].head; id != SLAB_NIL; id = s->slabs[id].lnext)
        empty += s->slabs[id].inuse == 0;
    out[0] = c->nr_slabs;
    out[1] = c->lists[LMM_SLAB_LIST_PARTIAL].nr;
    out[2] = c->lists[LMM_SLAB_LIST_FULL].nr;
    out[3] = empty;
    out[4] = c->total_objects;
    out[5] = c->inuse;
    out[6] = c->slabs_created;
    out[7] = c->pages;
    out[8] = c->lists[LMM_SLAB_LIST_CPU_PARTIAL].nr;
    out[9] = c->lists[LMM_SLAB_LIST_CPU].nr;
    out[10] = count_partial_free(s, c);
    out[11] = c->cpu_partial_slabs;
}

void lmm_slab_counters(struct lmm_slab_sys *s, int64_t *out)
{
    LMM_LOCKED(s->lock);
    out[0] = s->reclaimable_bytes;
    out[1] = s->unreclaimable_bytes;
    out[2] = s->large_pages;
    out[3] = s->large_blocks;
}

int64_t lmm_slab_list(struct lmm_slab_sys *s, int cache, int which, int64_t *out, int64_t cap)
{
    LMM_LOCKED(s->lock);
    struct kmem_cache *c = get_cache(s, cache);
    if (!c || (unsigned)which > 4)
        return -LMM_EINVAL;
    int64_t n = 0;
    int l = which == LMM_SLAB_LIST_EMPTY ? LMM_SLAB_LIST_PARTIAL : which;
    for (uint32_t id = c->lists[l].head; id != SLAB_NIL; id = s->slabs[id].lnext) {
        if (which == LMM_SLAB_LIST_EMPTY && s->slabs[id].inuse)
            continue;
        if (n < cap)
            out[n] = s->slabs[id].pfn;
        n++;
    }
    return n;
}

int lmm_slab_object_info(struct lmm_slab_sys *s, uint64_t addr, int64_t *out)
{
    LMM_LOCKED(s->lock);
    for (int i = 0; i < 10; i++)
        out[i] = -1;
    out[0] = 0;
    int64_t pfn;
    if (!addr_to_pfn(s, addr, &pfn))
        return 0;
    uint32_t v = map_get(s, pfn);
    if (v == 0)
        return 0;
    if (v & MAP_KIND_MASK) {
        int64_t head = pfn;
        while ((map_get(s, head) & MAP_KIND_MASK) == MAP_LARGE_TAIL)
            head--;
        int order = (int)(map_get(s, head) & 0xff);
        out[0] = 2;
        out[2] = head;
        out[3] = order;
        out[9] = (int64_t)pfn_to_addr(s, head);
        return 2;
    }
    const struct slab *sl = &s->slabs[v];
    const struct kmem_cache *c = s->caches[sl->cache];
    out[0] = 1;
    out[1] = sl->cache;
    out[2] = sl->pfn;
    out[3] = sl->order;
    out[4] = sl->objects;
    out[5] = sl->inuse;
    out[8] = (int64_t)sl->serial;
    if (addr >= sl->base) {
        uint64_t idx = (addr - sl->base) / c->g.size;
        if (idx < sl->objects) {
            out[6] = (int64_t)idx;
            out[7] = sl->next[idx] == OBJ_ALLOCATED;
            out[9] = (int64_t)(sl->base + idx * c->g.size);
        }
    }
    return 1;
}

int64_t lmm_slab_freelist(struct lmm_slab_sys *s, int64_t pfn, int64_t *out, int64_t cap)
{
    LMM_LOCKED(s->lock);
    uint32_t id = map_get(s, pfn);
    if (id == 0 || (id & MAP_KIND_MASK))
        return -LMM_SLAB_ENOTSLAB;
    const struct slab *sl = &s->slabs[id];
    int64_t n = 0;
    for (uint32_t i = sl->freelist; i != OBJ_END && n <= (int64_t)sl->objects; i = sl->next[i]) {
        if (n < cap)
            out[n] = i;
        n++;
    }
    return n;
}

int64_t lmm_slab_inuse_objects(struct lmm_slab_sys *s, int cache, uint64_t *out, int64_t cap)
{
    LMM_LOCKED(s->lock);
    struct kmem_cache *c = get_cache(s, cache);
    if (!c)
        return -LMM_EINVAL;
    int64_t n = 0;
    static const int order[4] = {LMM_SLAB_LIST_PARTIAL, LMM_SLAB_LIST_FULL, LMM_SLAB_LIST_CPU,
                                 LMM_SLAB_LIST_CPU_PARTIAL};
    for (int w = 0; w < 4; w++)
        for (uint32_t id = c->lists[order[w]].head; id != SLAB_NIL; id = s->slabs[id].lnext) {
            const struct slab *sl = &s->slabs[id];
            for (uint32_t i = 0; i < sl->objects; i++)
                if (sl->next[i] == OBJ_ALLOCATED) {
                    if (n < cap)
                        out[n] = sl->base + (uint64_t)i * c->g.size;
                    n++;
                }
        }
    return n;
}

int64_t lmm_slab_metadata_bytes(struct lmm_slab_sys *s)
{
    LMM_LOCKED(s->lock);
    int64_t n = (int64_t)sizeof(*s) + (int64_t)s->slab_ids_cap * (int64_t)(sizeof(struct slab) + 4);
    for (uint32_t i = 0; i < s->nr_slab_ids; i++)
        n += (int64_t)s->slabs[i].cap * 2;
    for (int64_t t = 0; t < s->map_leaves; t++)
        n += 8 + (s->map[t] ? (int64_t)MAP_LEAF_SIZE * 4 : 0);
    n += (int64_t)s->caches_cap * (int64_t)(sizeof(struct kmem_cache *) + sizeof(int));
    return n + (int64_t)(s->nr_caches - s->nr_free_caches) * (int64_t)sizeof(struct kmem_cache);
}

int lmm_slab_check(struct lmm_slab_sys *s, char *msg, int msglen)
{
    LMM_LOCKED(s->lock);
    static const char *const names[5] = {"partial", "full", "empty", "cpu", "cpu_partial"};
    uint8_t *seen = calloc(s->nr_slab_ids + 1, 1);
    int64_t rec = 0, unrec = 0, slab_pages = 0;
    if (!seen) {
        snprintf(msg, (size_t)msglen, "out of host memory");
        return -LMM_ENOMEM;
    }
    for (int ci = 0; ci < s->nr_caches; ci++) {
        struct kmem_cache *c = s->caches[ci];
        if (!c)
            continue;
        int64_t nr_slabs = 0, total = 0, inuse = 0, pages = 0;
        for (int w = 0; w < 5; w++) {
            int64_t n = 0;
            if (w == LMM_SLAB_LIST_EMPTY) {
                CHECK(c->lists[w].head == SLAB_NIL && c->lists[w].nr == 0, "cache %d: empty list used", ci);
                continue;
            }
            uint32_t prev = SLAB_NIL;
            for (uint32_t id = c->lists[w].head; id != SLAB_NIL; id = s->slabs[id].lnext) {
                CHECK(id > 0 && id < s->nr_slab_ids, "cache %d %s list: bad slab id %u", ci, names[w], id);
                CHECK(!seen[id], "cache %d: slab id %u is on two lists (or a cycle)", ci, id);
                seen[id] = 1;
                const struct slab *sl = &s->slabs[id];
                CHECK(c->alive, "dead cache %d still has slab at pfn %lld", ci, (long long)sl->pfn);
                CHECK(sl->cache == (uint32_t)ci && sl->list == w && sl->lprev == prev,
                      "slab at pfn %lld: cache/list/back link wrong on cache %d %s list", (long long)sl->pfn, ci, names[w]);
                CHECK(sl->base == pfn_to_addr(s, sl->pfn) + c->g.red_left_pad, "slab at pfn %lld: wrong base", (long long)sl->pfn);
                CHECK((sl->order == c->g.order && sl->objects == (uint32_t)c->g.objects) ||
                      (sl->order == c->g.min_order && sl->objects == (uint32_t)c->g.min_objects),
                      "slab at pfn %lld: order %d with %u objects", (long long)sl->pfn, sl->order, sl->objects);
                uint32_t allocated = 0, nfree = 0;
                for (uint32_t i = 0; i < sl->objects; i++) {
                    uint16_t st = sl->next[i];
                    CHECK(st == OBJ_ALLOCATED || st == OBJ_END || st < sl->objects,
                          "slab at pfn %lld: object %u has state %#x", (long long)sl->pfn, i, st);
                    allocated += st == OBJ_ALLOCATED;
                }
                for (uint32_t i = sl->freelist; i != OBJ_END; i = sl->next[i]) {
                    CHECK(i < sl->objects && sl->next[i] != OBJ_ALLOCATED && nfree < sl->objects,
                          "slab at pfn %lld: freelist broken at %u", (long long)sl->pfn, i);
                    nfree++;
                }
                CHECK(allocated == sl->inuse, "slab at pfn %lld: %u objects allocated, inuse says %u",
                      (long long)sl->pfn, allocated, sl->inuse);
                CHECK(nfree + allocated == sl->objects, "slab at pfn %lld: %u free + %u allocated != %u objects",
                      (long long)sl->pfn, nfree, allocated, sl->objects);
                CHECK(w == LMM_SLAB_LIST_CPU || (w == LMM_SLAB_LIST_FULL) == (sl->inuse == sl->objects),
                      "slab at pfn %lld with %u/%u in use is on the %s list",
                      (long long)sl->pfn, sl->inuse, sl->objects, names[w]);
                CHECK(!c->g.debug_lists || w == LMM_SLAB_LIST_PARTIAL || w == LMM_SLAB_LIST_FULL,
                      "debug cache %d has a slab on the %s list", ci, names[w]);
                for (int64_t p = 0; p < ((int64_t)1 << sl->order); p++)
                    CHECK(map_get(s, sl->pfn + p) == id, "pfn %lld of slab id %u is not mapped to it",
                          (long long)(sl->pfn + p), id);
                nr_slabs++;
                total += sl->objects;
                inuse += sl->inuse;
                pages += (int64_t)1 << sl->order;
                prev = id;
                n++;
            }
            CHECK(c->lists[w].tail == prev, "cache %d %s list: wrong tail", ci, names[w]);
            CHECK(c->lists[w].nr == n, "cache %d %s list: counted %lld, nr says %lld", ci, names[w],
                  (long long)n, (long long)c->lists[w].nr);
        }
        int64_t empty = 0;
        for (uint32_t id = c->lists[LMM_SLAB_LIST_PARTIAL].head; id != SLAB_NIL; id = s->slabs[id].lnext)
            empty += s->slabs[id].inuse == 0;
        CHECK(empty <= c->g.min_partial, "cache %d keeps %lld empty node slabs, min_partial is %d", ci,
              (long long)empty, c->g.min_partial);
        CHECK(c->lists[LMM_SLAB_LIST_CPU].nr <= 1 &&
              c->lists[LMM_SLAB_LIST_CPU_PARTIAL].nr <= (int64_t)c->cpu_partial_slabs,
              "cache %d: %lld cpu slabs, %lld cpu partial slabs (cpu_partial_slabs %u)", ci,
              (long long)c->lists[LMM_SLAB_LIST_CPU].nr, (long long)c->lists[LMM_SLAB_LIST_CPU_PARTIAL].nr,
              c->cpu_partial_slabs);
        CHECK(nr_slabs == c->nr_slabs && total == c->total_objects && inuse == c->inuse && pages == c->pages,
              "cache %d counters: slabs %lld/%lld objects %lld/%lld inuse %lld/%lld pages %lld/%lld", ci,
              (long long)nr_slabs, (long long)c->nr_slabs, (long long)total, (long long)c->total_objects,
              (long long)inuse, (long long)c->inuse, (long long)pages, (long long)c->pages);
        if (c->g.reclaimable)
            rec += pages * PAGE_SIZE;
        else
            unrec += pages * PAGE_SIZE;
        slab_pages += pages;
    }
    /* The map holds exactly the pages of listed slabs and of large kmallocs. */
    int64_t mapped = 0, large = 0, large_blocks = 0;
    for (int64_t t = 0; t < s->map_leaves; t++) {
        if (!s->map[t])
            continue;
        for (uint32_t j = 0; j < MAP_LEAF_SIZE; j++) {
            uint32_t v = s->map[t][j];
            if (!v)
                continue;
            if (v & MAP_KIND_MASK) {
                large++;
                if ((v & MAP_KIND_MASK) == MAP_LARGE_HEAD) {
                    large_blocks++;
                    unrec += (int64_t)PAGE_SIZE << (v & 0xff);
                }
                continue;
            }
            CHECK(v < s->nr_slab_ids && seen[v], "pfn %lld maps to slab id %u on no list",
                  (long long)((t << MAP_LEAF_SHIFT) + j), v);
            mapped++;
        }
    }
    CHECK(mapped == slab_pages, "map holds %lld slab pages, lists %lld", (long long)mapped, (long long)slab_pages);
    CHECK(large == s->large_pages && large_blocks == s->large_blocks,
          "large kmalloc: %lld pages in %lld blocks mapped, counters say %lld in %lld",
          (long long)large, (long long)large_blocks, (long long)s->large_pages, (long long)s->large_blocks);
    CHECK(rec == s->reclaimable_bytes && unrec == s->unreclaimable_bytes,
          "slab bytes: reclaimable %lld/%lld unreclaimable %lld/%lld", (long long)rec,
          (long long)s->reclaimable_bytes, (long long)unrec, (long long)s->unreclaimable_bytes);
    int64_t listed = 0;
    for (uint32_t i = 1; i < s->nr_slab_ids; i++)
        listed += seen[i];
    CHECK(listed + s->nr_free_ids == (int64_t)s->nr_slab_ids - 1, "%lld slabs listed + %u free ids != %u ids",
          (long long)listed, s->nr_free_ids, s->nr_slab_ids - 1);
    free(seen);
    return 0;
}

/* ===================================================================== benchmarks == */

int64_t lmm_slab_bench_pairs(struct lmm_slab_sys *s, int cache, int64_t pairs)
{
    LMM_LOCKED(s->lock);
    int64_t sum = 0;
    for (int64_t i = 0; i < pairs; i++) {
        uint64_t addr = lmm_slab_alloc(s, cache, 0xcc0);
        if (addr < LMM_SLAB_MIN_ADDR)
            return -(int64_t)addr;
        sum += (int64_t)(addr & 0xffffffffffffull);
        int64_t err = lmm_slab_free(s, cache, addr);
        if (err)
            return err;
    }
    return sum;
}

int64_t lmm_slab_bench_bulk(struct lmm_slab_sys *s, int cache, int64_t rounds, int64_t batch, uint64_t *scratch)
{
    LMM_LOCKED(s->lock);
    int64_t sum = 0;
    for (int64_t r = 0; r < rounds; r++) {
        int64_t n = lmm_slab_alloc_bulk(s, cache, 0xcc0, batch, scratch);
        if (n < 0)
            return n;
        for (int64_t i = 0; i < n; i++)
            sum += (int64_t)(scratch[i] & 0xffffffffffffull);
        int64_t err = lmm_slab_free_bulk(s, cache, scratch, n);
        if (err)
            return err;
    }
    return sum;
}
