/*
 * swap.c - swap areas in the MMU engine (mm/swapfile.c, mm/swap_state.c, mm/page_io.c) and the
 * swap-in fault of the bulk access loop (mm/memory.c do_swap_page).  linuxmm/vm/swap.py keeps
 * the policy (swapon/swapoff, priorities, readahead windows, reclaim) and calls these;
 * linuxmm/reference/mmu.py is the pure-Python twin of every function here.
 *
 * An area's slots: swap_map[] (PTEs holding the slot), cache[] (the swap cache: slot -> pfn),
 * shadow[] (workingset shadow of an evicted folio) and data[] (the bytes pageout wrote).  A slot
 * is busy while a PTE holds it or a folio caches it; inuse_pages counts busy slots.  Slots come
 * from 512-slot clusters: cpu 0's current cluster, then the oldest free cluster, then any
 * cluster with room (cluster_alloc_swap_entry without the per-order lists).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lock.h"
#include "lmm.h"
#include "mmu_internal.h"

#define PFN_OF(e) ((int64_t)(((e) & LMM_PTE_PFN_MASK) >> LMM_PAGE_SHIFT))

/* ---- areas ---------------------------------------------------------------------------------- */
void swap_area_free(struct lmm_swap_area *si)
{
    if (!si)
        return;
    if (si->data)
        for (int64_t i = 0; i < si->info[LMM_SWPI_MAX]; i++)
            free(si->data[i]);
    free(si->data);
    free(si->free_clusters);
    free(si->cluster_used);
    free(si->shadow);
    free(si->cache);
    free(si->swap_map);
    free(si);
}

int lmm_mmu_swapon(struct lmm_mmu *m, int type, int64_t max, int sync)
{
    LMM_LOCKED(m->lock);
    if (type < 0 || type >= LMM_MAX_SWAPFILES || m->swap[type] || max < 2 || max > (1LL << 32))
        return -LMM_EINVAL;
    struct lmm_swap_area *si = calloc(1, sizeof(*si));
    if (!si)
        return -LMM_ENOMEM;
    size_t n = (size_t)max;
    si->nclusters = (max + LMM_SWAPFILE_CLUSTER - 1) / LMM_SWAPFILE_CLUSTER;
    si->info[LMM_SWPI_MAX] = max;
    si->swap_map = calloc(n, sizeof(*si->swap_map));
    si->cache = malloc(n * sizeof(*si->cache));
    si->shadow = malloc(n * sizeof(*si->shadow));
    si->data = calloc(n, sizeof(*si->data));
    si->cluster_used = calloc((size_t)si->nclusters, sizeof(*si->cluster_used));
    si->free_clusters = calloc((size_t)si->nclusters, sizeof(*si->free_clusters));
    if (!si->swap_map || !si->cache || !si->shadow || !si->data || !si->cluster_used ||
        !si->free_clusters) {
        swap_area_free(si);
        return -LMM_ENOMEM;
    }
    memset(si->cache, 0xff, n * sizeof(*si->cache));
    memset(si->shadow, 0xff, n * sizeof(*si->shadow));
    si->swap_map[0] = -1;                       /* SWAP_MAP_BAD: the header page */
    si->cluster_used[0] = 1;
    for (int64_t c = 1; c < si->nclusters; c++)  /* every other cluster starts free */
        si->free_clusters[c - 1] = (int32_t)c;
    si->info[LMM_SWPI_NR_FREE] = si->nclusters - 1;
    si->info[LMM_SWPI_PAGES] = max - 1;
    si->info[LMM_SWPI_NEXT_OFFSET] = 1;
    si->info[LMM_SWPI_SYNC] = sync != 0;
    m->swap[type] = si;
    return 0;
}

static struct lmm_swap_area *area(struct lmm_mmu *m, int type)
{
    return type >= 0 && type < LMM_MAX_SWAPFILES ? m->swap[type] : NULL;
}

int lmm_mmu_swapoff(struct lmm_mmu *m, int type)
{
    LMM_LOCKED(m->lock);
    struct lmm_swap_area *si = area(m, type);
    if (!si)
        return -LMM_EINVAL;
    swap_area_free(si);
    m->swap[type] = NULL;
    return 0;
}

void *lmm_mmu_swap_array(struct lmm_mmu *m, int type, int which)
{
    LMM_LOCKED(m->lock);
    struct lmm_swap_area *si = area(m, type);
    if (!si)
        return NULL;
    switch (which) {
    case LMM_MMU_SWP_MAP: return si->swap_map;
    case LMM_MMU_SWP_CACHE: return si->cache;
    case LMM_MMU_SWP_SHADOW: return si->shadow;
    case LMM_MMU_SWP_CLUSTERS: return si->cluster_used;
    case LMM_MMU_SWP_FREE: return si->free_clusters;
    case LMM_MMU_SWP_INFO: return si->info;
    default: return NULL;
    }
}

/* ---- slots ---------------------------------------------------------------------------------- */
static int cluster_has_room(const struct lmm_swap_area *si, int64_t c)
{
    int64_t end = (c + 1) * LMM_SWAPFILE_CLUSTER;
    if (end > si->info[LMM_SWPI_MAX])
        end = si->info[LMM_SWPI_MAX];
    return si->cluster_used[c] < end - c * LMM_SWAPFILE_CLUSTER;
}

static int64_t take_slot(struct lmm_swap_area *si, int64_t off)
{
    si->info[LMM_SWPI_NEXT_OFFSET] = off + 1;
    si->info[LMM_SWPI_INUSE]++;
    si->cluster_used[off / LMM_SWAPFILE_CLUSTER]++;
    return off;
}

/* The first free slot of cluster c from offset `from` on, or -1. */
static int64_t scan_cluster(const struct lmm_swap_area *si, int64_t c, int64_t from)
{
    int64_t end = (c + 1) * LMM_SWAPFILE_CLUSTER;
    if (end > si->info[LMM_SWPI_MAX])
        end = si->info[LMM_SWPI_MAX];
    for (int64_t off = from; off < end; off++)
        if (si->swap_map[off] == 0 && si->cache[off] < 0)
            return off;
    return -1;
}

int64_t swap_area_alloc_slot(struct lmm_swap_area *si)
{
    int64_t *info = si->info;
    if (info[LMM_SWPI_INUSE] >= info[LMM_SWPI_PAGES])
        return -1;
    for (;;) {
        int64_t c = info[LMM_SWPI_CURRENT];
        if (cluster_has_room(si, c)) {
            int64_t from = c * LMM_SWAPFILE_CLUSTER;
            if (info[LMM_SWPI_NEXT_OFFSET] > from)
                from = info[LMM_SWPI_NEXT_OFFSET];
            int64_t off = scan_cluster(si, c, from);
            if (off >= 0)
                return take_slot(si, off);
        }
        if (!info[LMM_SWPI_NR_FREE])
            break;
        c = si->free_clusters[info[LMM_SWPI_FREE_HEAD]];    /* a new free cluster for cpu 0 */
        info[LMM_SWPI_FREE_HEAD] = (info[LMM_SWPI_FREE_HEAD] + 1) % si->nclusters;
        info[LMM_SWPI_NR_FREE]--;
        info[LMM_SWPI_CURRENT] = c;
        info[LMM_SWPI_NEXT_OFFSET] = c * LMM_SWAPFILE_CLUSTER;
    }
    for (int64_t c = 0; c < si->nclusters; c++) {    /* the nonfull and fragmented clusters */
        if (!cluster_has_room(si, c))
            continue;
        int64_t off = scan_cluster(si, c, c * LMM_SWAPFILE_CLUSTER);
        if (off >= 0) {
            info[LMM_SWPI_CURRENT] = c;
            return take_slot(si, off);
        }
    }
    return -1;                                  /* (inuse_pages says there is room) */
}

static void slot_free(struct lmm_swap_area *si, int64_t off)
{
    free(si->data[off]);
    si->data[off] = NULL;
    si->info[LMM_SWPI_INUSE]--;
    int64_t c = off / LMM_SWAPFILE_CLUSTER;
    if (--si->cluster_used[c] == 0 && c != si->info[LMM_SWPI_CURRENT]) {
        int64_t tail = (si->info[LMM_SWPI_FREE_HEAD] + si->info[LMM_SWPI_NR_FREE]) % si->nclusters;
        si->free_clusters[tail] = (int32_t)c;
        si->info[LMM_SWPI_NR_FREE]++;
    }
}

int64_t lmm_mmu_swap_alloc_slot(struct lmm_mmu *m, int type)
{
    LMM_LOCKED(m->lock);
    struct lmm_swap_area *si = area(m, type);
    return si ? swap_area_alloc_slot(si) : -1;
}

static int bad_slot(const struct lmm_swap_area *si, int64_t off)
{
    return !si || off <= 0 || off >= si->info[LMM_SWPI_MAX];
}

void lmm_mmu_swap_slot_free(struct lmm_mmu *m, int type, int64_t offset)
{
    LMM_LOCKED(m->lock);
    struct lmm_swap_area *si = area(m, type);
    if (!bad_slot(si, offset))
        slot_free(si, offset);
}

/* ---- the swap cache ------------------------------------------------------------------------- */
void swap_cache_add(struct lmm_mmu *m, struct lmm_swap_area *si, int64_t pfn, int type, int64_t off)
{
    si->cache[off] = pfn;
    m->swap_entry[pfn] = SWP_ENTRY(type, off);
    m->flags[pfn] |= LMM_PG_SWAPCACHE;
    m->refcount[pfn]++;                         /* the swap cache's reference */
    m->node[LMM_NR_FILE_PAGES]++;               /* nr_file_pages counts the swap cache too */
    m->swap_stat[LMM_SWS_NR_SWAPCACHED]++;
}

/* __delete_from_swap_cache without the cache's reference (the caller puts it). */
void swap_cache_delete(struct lmm_mmu *m, int64_t pfn, int64_t shadow)
{
    int64_t e = m->swap_entry[pfn];
    struct lmm_swap_area *si = m->swap[SWP_TYPE(e)];
    int64_t off = SWP_OFFSET(e);
    m->swap_entry[pfn] = 0;
    si->cache[off] = -1;
    m->flags[pfn] &= ~(uint32_t)LMM_PG_SWAPCACHE;
    m->node[LMM_NR_FILE_PAGES]--;
    m->swap_stat[LMM_SWS_NR_SWAPCACHED]--;
    if (si->swap_map[off] == 0)
        slot_free(si, off);
    else if (shadow >= 0)
        si->shadow[off] = shadow;
}

int lmm_mmu_swap_cache_add(struct lmm_mmu *m, int64_t pfn, int type, int64_t offset)
{
    LMM_LOCKED(m->lock);
    struct lmm_swap_area *si = area(m, type);
    if (pfn < 0 || pfn >= m->max_pfn || m->level[pfn] || bad_slot(si, offset) ||
        m->swap_entry[pfn] || si->cache[offset] >= 0)
        return -LMM_EINVAL;
    swap_cache_add(m, si, pfn, type, offset);
    return 0;
}

static int bad_cached(const struct lmm_mmu *m, int64_t pfn)
{
    if (pfn < 0 || pfn >= m->max_pfn || !m->swap_entry[pfn])
        return 1;
    int64_t e = m->swap_entry[pfn];
    const struct lmm_swap_area *si = area((struct lmm_mmu *)m, SWP_TYPE(e));
    return bad_slot(si, SWP_OFFSET(e)) || si->cache[SWP_OFFSET(e)] != pfn;
}

int lmm_mmu_swap_cache_delete(struct lmm_mmu *m, int64_t pfn, int64_t shadow)
{
    LMM_LOCKED(m->lock);
    if (bad_cached(m, pfn))
        return -LMM_EINVAL;
    swap_cache_delete(m, pfn, shadow);
    return 0;
}

/* ---- page I/O ------------------------------------------------------------------------------- */
int lmm_mmu_swap_writepage(struct lmm_mmu *m, int64_t pfn)
{
    LMM_LOCKED(m->lock);
    if (bad_cached(m, pfn))
        return -LMM_EINVAL;
    return swap_writepage(m, pfn);
}

int swap_writepage(struct lmm_mmu *m, int64_t pfn)
{
    int64_t e = m->swap_entry[pfn];
    struct lmm_swap_area *si = m->swap[SWP_TYPE(e)];
    int64_t off = SWP_OFFSET(e);
    if (m->data[pfn]) {
        if (!si->data[off] && !(si->data[off] = malloc(LMM_PAGE_SIZE)))
            return -LMM_ENOMEM;
        memcpy(si->data[off], m->data[pfn], LMM_PAGE_SIZE);
    } else {
        free(si->data[off]);
        si->data[off] = NULL;
    }
    m->flags[pfn] &= ~(uint32_t)LMM_PG_DIRTY;
    m->swap_stat[LMM_SWS_PSWPOUT]++;
    m->events[LMM_EV_PGPGOUT] += LMM_PAGE_SIZE >> 10;
    return 0;
}

static int readpage(struct lmm_mmu *m, struct lmm_swap_area *si, int64_t pfn, int64_t off)
{
    drop_data(m, pfn);                          /* a fresh user page */
    if (si->data[off]) {
        if (!(m->data[pfn] = malloc(LMM_PAGE_SIZE)))
            return -LMM_ENOMEM;
        m->nr_data++;
        memcpy(m->data[pfn], si->data[off], LMM_PAGE_SIZE);
    }
    m->swap_stat[LMM_SWS_PSWPIN]++;
    m->events[LMM_EV_PGPGIN] += LMM_PAGE_SIZE >> 10;
    return 0;
}

int lmm_mmu_swap_readpage(struct lmm_mmu *m, int64_t pfn, int type, int64_t offset)
{
    LMM_LOCKED(m->lock);
    struct lmm_swap_area *si = area(m, type);
    if (pfn < 0 || pfn >= m->max_pfn || m->level[pfn] || bad_slot(si, offset))
        return -LMM_EINVAL;
    return readpage(m, si, pfn, offset);
}

/* ---- swap-in in the access loop ------------------------------------------------------------- */
int64_t swap_free_pages(const struct lmm_mmu *m, int64_t *total)
{
    int64_t free_pages = 0, all = 0;
    for (int t = 0; t < LMM_MAX_SWAPFILES; t++)
        if (m->swap[t]) {
            all += m->swap[t]->info[LMM_SWPI_PAGES];
            free_pages += m->swap[t]->info[LMM_SWPI_PAGES] - m->swap[t]->info[LMM_SWPI_INUSE];
        }
    *total = all;
    return free_pages;
}

/* swapin_nr_pages() / __swapin_nr_pages(): the readahead window for offset from the recent
 * readahead hits (the state in swap_stat, shared with linuxmm/vm/swap.py). */
static int64_t swapin_nr_pages(int64_t *st, int64_t off)
{
    int64_t max_pages = (int64_t)1 << st[LMM_SWS_PAGE_CLUSTER];
    if (max_pages <= 1)
        return 1;
    int64_t hits = st[LMM_SWS_RA_HITS], pages = hits + 2;
    st[LMM_SWS_RA_HITS] = 0;
    if (pages == 2) {
        if (off != st[LMM_SWS_PREV_OFFSET] + 1 && off != st[LMM_SWS_PREV_OFFSET] - 1)
            pages = 1;
    } else {
        int64_t roundup = 4;
        while (roundup < pages)
            roundup <<= 1;
        pages = roundup;
    }
    if (pages > max_pages)
        pages = max_pages;
    if (pages < st[LMM_SWS_LAST_RA] / 2)
        pages = st[LMM_SWS_LAST_RA] / 2;
    if (!hits)
        st[LMM_SWS_PREV_OFFSET] = off;
    st[LMM_SWS_LAST_RA] = pages;
    return pages;
}

/* workingset_refault() of an anonymous folio with its shadow, before it goes on the LRU. */
static void workingset_refault(struct lmm_mmu *m, int64_t pfn, int64_t shadow)
{
    int64_t *st = m->swap_stat, total;
    int64_t distance = st[LMM_SWS_NONRESIDENT_AGE] - (shadow >> 1);
    int64_t size = m->node[LMM_NR_ACTIVE_FILE] + m->node[LMM_NR_INACTIVE_FILE];
    if (swap_free_pages(m, &total) > 0)
        size += m->node[LMM_NR_ACTIVE_ANON];
    st[LMM_SWS_REFAULT_ANON]++;
    if (distance > size)
        return;
    m->flags[pfn] |= LMM_PG_ACTIVE;
    st[LMM_SWS_NONRESIDENT_AGE]++;
    st[LMM_SWS_ACTIVATE_ANON]++;
    if (shadow & 1) {
        m->flags[pfn] |= LMM_PG_WORKINGSET;
        st[LMM_SWS_RESTORE_ANON]++;
    }
}

/* __read_swap_cache_async + swap_read_folio: a new anonymous folio in the swap cache with the
 * slot's bytes (anon_vma and index of the faulting VMA and address), refaulted, on the LRU;
 * -1 when the allocator (or host memory) refuses, nothing changed. */
static int64_t read_swap_folio(struct lmm_mmu *m, struct lmm_swap_area *si, int type, int64_t off,
                               int64_t anon_vma, int64_t index, int readahead)
{
    int64_t pfn = frame_alloc(m, LMM_GFP_ANON_PAGE);
    if (pfn < 0)
        return -1;
    if (readpage(m, si, pfn, off)) {
        lmm_pa_free(m->pa, pfn, 0, 0);          /* host memory ran out: as no page */
        return -1;
    }
    m->flags[pfn] = LMM_PG_ANON | LMM_PG_SWAPBACKED | LMM_PG_UPTODATE |
                    (readahead ? LMM_PG_READAHEAD : 0);
    m->refcount[pfn] = 0;
    m->mapcount[pfn] = 0;
    m->mapping[pfn] = anon_vma;
    m->index[pfn] = index;
    swap_cache_add(m, si, pfn, type, off);
    int64_t shadow = si->shadow[off];
    si->shadow[off] = -1;
    if (shadow >= 0)
        workingset_refault(m, pfn, shadow);
    int lru = (m->flags[pfn] & LMM_PG_ACTIVE) ? LMM_LRU_ACTIVE_ANON : LMM_LRU_INACTIVE_ANON;
    m->flags[pfn] |= LMM_PG_LRU;
    m->node[lru]++;                             /* (NR_*_ANON == LRU_*_ANON) */
    lru_add(m, pfn, lru);
    return pfn;
}

/*
 * do_swap_page() for the access loop: a swap-cache hit (minor) or an order-0 swap-in with the
 * cluster readahead of vm.page-cluster (major), in a private anonymous VMA with an anon_vma.
 * Anything else returns LMM_ACCESS_FAULT before changing anything (Python's do_swap_page takes
 * it): a bad or free entry, a SWP_SYNCHRONOUS_IO miss, a write that would not find the folio
 * exclusive (do_wp_page follows).  LMM_ACCESS_NOMEM (nothing changed) when the allocator
 * refuses the faulting page; a readahead page it refuses ends the readahead (Python's path
 * reclaims once first).  As for anonymous faults, a kswapd wakeup by these allocations is
 * handled by the caller after the fault completes.
 */
int do_swap_page(struct access_ctx *c, uint64_t *slot, uint64_t entry, const int64_t *row,
                 uint64_t addr, int write)
{
    struct lmm_mmu *m = c->m;
    int64_t anon_vma = row[LMM_SNAP_ANON_VMA], vm_flags = row[LMM_SNAP_FLAGS];
    /* pte_to_swp_entry: the type in the top 5 bits, the offset inverted in bits 9..58 */
    int type = (int)(entry >> 59);
    int64_t off = (int64_t)(((~entry << 5) & ~0ULL) >> 14);
    struct lmm_swap_area *si = area(m, type);
    if (!anon_vma || bad_slot(si, off) || si->swap_map[off] <= 0)
        return LMM_ACCESS_FAULT;
    int64_t pfn = si->cache[off], *st = m->swap_stat;
    int major = pfn < 0;
    if (major && si->info[LMM_SWPI_SYNC])
        return LMM_ACCESS_FAULT;
    int exclusive = si->swap_map[off] == 1 && (major || !m->mapcount[pfn]);
    if (write && !exclusive)
        return LMM_ACCESS_FAULT;
    int64_t index = row[LMM_SNAP_PGOFF] + (int64_t)((addr - (uint64_t)row[LMM_SNAP_START]) >>
                                                    LMM_PAGE_SHIFT);
    if (major) {                                /* swap_cluster_readahead */
        pfn = read_swap_folio(m, si, type, off, anon_vma, index, 0);
        if (pfn < 0)
            return LMM_ACCESS_NOMEM;
        m->refcount[pfn]++;                     /* swapin_readahead's reference */
        int64_t mask = swapin_nr_pages(st, off) - 1;
        if (mask) {
            int64_t start = off & ~mask, end = off | mask;
            if (!start)
                start = 1;
            if (end > si->info[LMM_SWPI_MAX] - 1)
                end = si->info[LMM_SWPI_MAX] - 1;
            for (int64_t o = start; o <= end; o++) {
                if (o == off || si->swap_map[o] <= 0 || si->cache[o] >= 0)
                    continue;
                if (read_swap_folio(m, si, type, o, anon_vma, index, 1) < 0)
                    break;                      /* no page: the readahead stops */
                st[LMM_SWS_SWAP_RA]++;
            }
        }
        m->events[LMM_EV_PGMAJFAULT]++;
    } else {                                    /* swap_cache_get_folio: a reference */
        m->refcount[pfn]++;
        if (m->flags[pfn] & LMM_PG_READAHEAD) {
            m->flags[pfn] &= ~(uint32_t)LMM_PG_READAHEAD;
            st[LMM_SWS_RA_HITS]++;
            st[LMM_SWS_SWAP_RA_HIT]++;
        }
    }
    /* map it: the lookup's reference becomes the mapping's */
    uint32_t flags = m->flags[pfn];
    if (!m->mapcount[pfn]) {                    /* __folio_set_anon */
        m->mapping[pfn] = anon_vma;
        m->index[pfn] = index;
    }
    si->swap_map[off]--;
    uint64_t pte = ((uint64_t)pfn << LMM_PAGE_SHIFT) | LMM_PTE_PRESENT | LMM_PTE_USER |
                   LMM_PTE_ACCESSED | ((vm_flags & LMM_VM_EXEC) ? 0 : LMM_PTE_NX);
    if (exclusive) {
        flags |= LMM_PG_ANON_EXCLUSIVE;
        if (vm_flags & LMM_VM_WRITE) {
            pte |= LMM_PTE_RW;
            if (write)
                pte |= LMM_PTE_DIRTY;
        }
    }
    m->flags[pfn] = flags;
    c->counters[LMM_MM_SWAPENTS]--;
    c->counters[LMM_MM_ANONPAGES]++;
    if (++m->mapcount[pfn] == 1)
        m->node[LMM_NR_ANON_MAPPED]++;
    *slot = pte;
    /* should_try_to_free_swap: swap more than half full, or a write fault on the only user */
    int64_t total, used = -swap_free_pages(m, &total);
    used += total;
    if ((total > 0 && used * 2 > total) || (write && exclusive && m->refcount[pfn] == 2)) {
        if (si->swap_map[off] == 0) {           /* folio_free_swap */
            swap_cache_delete(m, pfn, -1);
            m->refcount[pfn]--;                 /* folio_put: the mapping keeps one */
        }
    }
    return major ? ACCESS_DONE_MAJOR : LMM_ACCESS_DONE;
}
