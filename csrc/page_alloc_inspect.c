/*
 * page_alloc_inspect.c - looking at the page allocator engine without changing it: counters,
 * lists, page states, check() (every invariant the engine keeps) and the C-only benchmark loops.
 * The engine itself is csrc/page_alloc.c.
 */
#include <stdio.h>
#include "lock.h"
#include "page_alloc_internal.h"

/* ===================================================================== inspection == */

int64_t lmm_pa_stat(struct lmm_pa *pa, int what)
{
    LMM_LOCKED(pa->lock);
    switch (what) {
    case LMM_PA_PGFREE: return pa->pgfree;
    case LMM_PA_KSWAPD_WAKEUPS: return pa->kswapd_wakeups;
    case LMM_PA_MOBILITY_DISABLED: return pa->mobility_disabled;
    case LMM_PA_NR_PCP_LISTS: return pa->nr_pcp_lists;
    }
    return -LMM_EINVAL;
}

int64_t lmm_pa_zone_stat(struct lmm_pa *pa, int zone, int what)
{
    LMM_LOCKED(pa->lock);
    if (zone < 0 || zone >= pa->nr_zones)
        return -LMM_EINVAL;
    const struct lmm_zone *z = &pa->zones[zone];
    switch (what) {
    case LMM_ZS_START: return z->start;
    case LMM_ZS_SPANNED: return z->spanned;
    case LMM_ZS_MANAGED: return z->managed;
    case LMM_ZS_FREE: return z->b.free_pages;
    case LMM_ZS_WMARK_MIN: case LMM_ZS_WMARK_LOW: case LMM_ZS_WMARK_HIGH: case LMM_ZS_WMARK_PROMO:
        return z->wmark[what - LMM_ZS_WMARK_MIN];
    case LMM_ZS_BOOST: return z->boost;
    case LMM_ZS_FREE_HIGHATOMIC: return z->b.free_pages_mt[LMM_MIGRATE_HIGHATOMIC];
    case LMM_ZS_RESERVED_HIGHATOMIC: return z->nr_reserved_highatomic;
    case LMM_ZS_PGALLOC: return z->pgalloc;
    case LMM_ZS_BATCH: return z->batch;
    case LMM_ZS_HIGH_MIN: return z->high_min;
    case LMM_ZS_HIGH_MAX: return z->high_max;
    case LMM_ZS_BELOW_HIGH: return z->below_high;
    case LMM_ZS_BOOSTED: return z->boosted;
    case LMM_ZS_KIND: return z->kind;
    case LMM_ZS_FREE_BLOCKS: {
        int64_t n = 0;
        for (int o = pa->pageblock_order; o <= pa->max_order; o++)
            n += nr_free_order(&z->b, o) << o;
        return n;
    }
    }
    return -LMM_EINVAL;
}

int64_t lmm_pa_pcp_stat(struct lmm_pa *pa, int zone, int cpu, int what)
{
    LMM_LOCKED(pa->lock);
    if (zone < 0 || zone >= pa->nr_zones || cpu < 0 || cpu >= pa->cpus)
        return -LMM_EINVAL;
    const struct per_cpu_pages *p = &pa->zones[zone].pcp[cpu];
    switch (what) {
    case LMM_PS_COUNT: return p->count;
    case LMM_PS_HIGH: return p->high;
    case LMM_PS_FREE_COUNT: return p->free_count;
    case LMM_PS_ALLOC_FACTOR: return p->alloc_factor;
    case LMM_PS_FLAGS: return p->flags;
    }
    return -LMM_EINVAL;
}

int64_t lmm_pa_lowmem_reserve(struct lmm_pa *pa, int zone, int j)
{
    LMM_LOCKED(pa->lock);
    if (zone < 0 || zone >= pa->nr_zones || j < 0 || j >= pa->nr_zones)
        return -LMM_EINVAL;
    return pa->zones[zone].lowmem_reserve[j];
}

int lmm_pa_nr_free(struct lmm_pa *pa, int zone, int mt, int64_t *out)
{
    LMM_LOCKED(pa->lock);
    if (zone < 0 || zone >= pa->nr_zones || mt < -1 || mt >= LMM_MIGRATE_TYPES)
        return -LMM_EINVAL;
    lmm_buddy_nr_free(&pa->zones[zone].b, out, mt);
    return 0;
}

int lmm_pa_pageblock_counts(struct lmm_pa *pa, int zone, int64_t *out)
{
    LMM_LOCKED(pa->lock);
    if (zone < 0 || zone >= pa->nr_zones)
        return -LMM_EINVAL;
    /* pagetypeinfo_showblockcount_print(): pfn = zone_start_pfn, step pageblock_nr_pages */
    const struct lmm_zone *z = &pa->zones[zone];
    for (int t = 0; t < LMM_MIGRATE_TYPES; t++)
        out[t] = 0;
    int64_t step = (int64_t)1 << pa->pageblock_order;
    for (int64_t pfn = z->start; pfn < z->start + z->spanned; pfn += step)
        out[get_pfnblock_migratetype(&z->b, pfn)]++;
    return 0;
}

int lmm_pa_pageblock_mt(struct lmm_pa *pa, int64_t pfn)
{
    LMM_LOCKED(pa->lock);
    struct lmm_zone *z = pfn_to_zone(pa, pfn);
    if (!z)
        return -LMM_ERANGE;
    return get_pfnblock_migratetype(&z->b, pfn);
}

int64_t lmm_pa_list(struct lmm_pa *pa, int zone, int cpu, int order, int mt, int64_t *out,
                    int64_t cap)
{
    LMM_LOCKED(pa->lock);
    if (zone < 0 || zone >= pa->nr_zones || cpu >= pa->cpus)
        return -LMM_EINVAL;
    const struct lmm_zone *z = &pa->zones[zone];
    uint32_t head;
    if (cpu < 0) {
        if (order < 0 || order > pa->max_order || mt < 0 || mt >= LMM_MIGRATE_TYPES)
            return -LMM_EINVAL;
        head = z->b.free_list[order][mt].head;
    } else {
        if (order < 0 || order >= pa->nr_pcp_lists)
            return -LMM_EINVAL;
        head = z->pcp[cpu].lists[order].head;
    }
    int64_t n = 0;
    for (uint32_t idx = head; idx != LMM_NIL; idx = z->b.pages[idx].next) {
        if (n < cap)
            out[n] = idx_to_pfn(&z->b, idx);
        n++;
    }
    return n;
}

int lmm_pa_page_info(struct lmm_pa *pa, int64_t pfn, int64_t *out)
{
    LMM_LOCKED(pa->lock);
    struct lmm_zone *z = pfn_to_zone(pa, pfn);
    out[0] = LMM_PAGE_ABSENT;
    out[1] = out[2] = out[3] = -1;
    out[4] = 0;
    if (!z)
        return 0;
    const struct lmm_buddy *b = &z->b;
    out[1] = z->idx;
    out[3] = get_pfnblock_migratetype(b, pfn);
    out[0] = LMM_PAGE_RESERVED;
    for (int o = 0; o <= pa->max_order; o++) {
        int64_t head = pfn & ~(((int64_t)1 << o) - 1);
        if (head < z->start)
            break;
        const struct lmm_page_meta *p = &b->pages[pfn_to_idx(b, head)];
        if ((p->flags & (PB_BUDDY | PB_HEAD | PB_PCP)) && p->order >= o) {
            if (head != pfn) {
                out[0] = LMM_PAGE_TAIL;
            } else {
                out[0] = (p->flags & PB_BUDDY) ? LMM_PAGE_FREE
                         : (p->flags & PB_PCP) ? LMM_PAGE_PCP : LMM_PAGE_ALLOCATED;
                out[2] = p->order;
                out[4] = (p->flags & PB_HEAD) && p->order > 0 && p->spare8;
            }
            break;
        }
    }
    return 0;
}

int lmm_pa_gfp_zone(struct lmm_pa *pa, uint32_t gfp)
{
    LMM_LOCKED(pa->lock);
    int z = pa->zone_table[gfp & 0xf];
    return z < 0 ? -LMM_EGFP : z;
}

int lmm_pa_zonelist(struct lmm_pa *pa, uint32_t gfp, int *out)
{
    LMM_LOCKED(pa->lock);
    int highest = pa->zone_table[gfp & 0xf];
    if (highest < 0)
        return -LMM_EGFP;
    int n = 0;
    for (int k = pa->preferred[highest]; k < pa->nr_zonelist; k++)
        out[n++] = pa->zonelist[k];
    return n;
}

static int check_zone(struct lmm_pa *pa, struct lmm_zone *z, char *msg, int msglen)
{
    struct lmm_buddy *b = &z->b;
    const char *name = "zone";
    int64_t total = 0, mt_pages[LMM_MIGRATE_TYPES] = {0};

    for (int o = 0; o <= b->max_order; o++) {
        int64_t n_order = 0;
        for (int t = 0; t < LMM_MIGRATE_TYPES; t++) {
            int64_t n = 0;
            uint32_t prev = LMM_NIL;
            for (uint32_t idx = b->free_list[o][t].head; idx != LMM_NIL; idx = b->pages[idx].next) {
                CHECK(idx < b->nr_pages, "%s %d: list %d/%d index out of range", name, z->idx,
                      o, t);
                const struct lmm_page_meta *p = &b->pages[idx];
                int64_t pfn = idx_to_pfn(b, idx);
                CHECK(p->flags == PB_BUDDY && p->order == o && p->mt == t,
                      "%s %d: pfn %lld on list %d/%d has flags %#x order %d type %d", name, z->idx,
                      (long long)pfn, o, t, p->flags, p->order, p->mt);
                CHECK(p->prev == prev, "%s %d: pfn %lld: broken back link", name, z->idx,
                      (long long)pfn);
                CHECK((pfn & (((int64_t)1 << o) - 1)) == 0 &&
                      pfn + ((int64_t)1 << o) <= z->start + z->spanned,
                      "%s %d: block %lld/%d misaligned or outside the zone", name, z->idx,
                      (long long)pfn, o);
                CHECK(n < b->nr_pages, "%s %d: list %d/%d has a cycle", name, z->idx, o, t);
                int64_t bpfn = pfn ^ ((int64_t)1 << o);
                if (o < b->max_order && page_is_buddy(b, bpfn, o)) {
                    int amt = get_pfnblock_migratetype(b, pfn);
                    int bmt = get_pfnblock_migratetype(b, bpfn);
                    CHECK(o >= b->pageblock_order && amt != bmt &&
                          (!migratetype_is_mergeable(amt) || !migratetype_is_mergeable(bmt)),
                          "%s %d: free buddies %lld and %lld of order %d were not merged", name,
                          z->idx, (long long)pfn, (long long)bpfn, o);
                }
                prev = idx;
                n++;
            }
            CHECK(b->free_list[o][t].tail == prev, "%s %d: list %d/%d tail is wrong", name,
                  z->idx, o, t);
            CHECK(n == b->free_list[o][t].nr, "%s %d: list %d/%d counted %lld, nr_free %lld", name,
                  z->idx, o, t, (long long)n, (long long)b->free_list[o][t].nr);
            n_order += n;
            mt_pages[t] += n << o;
        }
        total += n_order << o;
    }
    CHECK(total == b->free_pages, "%s %d: lists hold %lld pages, free_pages %lld", name, z->idx,
          (long long)total, (long long)b->free_pages);
    for (int t = 0; t < LMM_MIGRATE_TYPES; t++)
        CHECK(mt_pages[t] == b->free_pages_mt[t],
              "%s %d: type %d holds %lld free pages, counter %lld",
              name, z->idx, t, (long long)mt_pages[t], (long long)b->free_pages_mt[t]);
    int64_t pcp_pages = 0;
    for (int c = 0; c < pa->cpus; c++) {
        const struct per_cpu_pages *pcp = &z->pcp[c];
        int64_t count = 0;
        for (int l = 0; l < LMM_NR_PCP_LISTS; l++) {
            int order = pindex_to_order(pa, l);
            uint32_t prev = LMM_NIL;
            int64_t n = 0;
            CHECK(l < pa->nr_pcp_lists || pcp->lists[l].head == LMM_NIL,
                  "%s %d: unused pcp list %d is not empty", name, z->idx, l);
            for (uint32_t idx = pcp->lists[l].head; idx != LMM_NIL; idx = b->pages[idx].next) {
                CHECK(idx < b->nr_pages && n < b->nr_pages, "%s %d: pcp list %d/%d is broken",
                      name, z->idx, c, l);
                const struct lmm_page_meta *p = &b->pages[idx];
                CHECK(p->flags == PB_PCP && p->order == order && p->mt == l,
                      "%s %d: pfn %lld on pcp list %d/%d has flags %#x order %d list %d", name,
                      z->idx, (long long)idx_to_pfn(b, idx), c, l, p->flags, p->order, p->mt);
                CHECK(p->prev == prev, "%s %d: pcp list %d/%d broken back link", name, z->idx,
                      c, l);
                prev = idx;
                count += (int64_t)1 << order;
                n++;
            }
            CHECK(pcp->lists[l].tail == prev, "%s %d: pcp list %d/%d tail is wrong", name, z->idx,
                  c, l);
        }
        CHECK(count == pcp->count, "%s %d: cpu %d pcp lists hold %lld, count %d", name, z->idx, c,
              (long long)count, pcp->count);
        pcp_pages += count;
    }
    /* Every page: blocks are disjoint, pages inside a block are unmarked. */
    int64_t in_blocks = 0, heads = 0, pcp_seen = 0;
    for (int64_t i = 0; i < b->nr_pages;) {
        const struct lmm_page_meta *p = &b->pages[i];
        if (!p->flags) {
            i++;
            continue;
        }
        CHECK(p->flags == PB_BUDDY || p->flags == PB_HEAD || p->flags == PB_PCP ||
              p->flags == (PB_HEAD | PB_OWNED),
              "%s %d: pfn %lld has flags %#x", name, z->idx, (long long)idx_to_pfn(b, (uint32_t)i),
              p->flags);
        int64_t size = (int64_t)1 << p->order;
        CHECK(p->order <= b->max_order && i + size <= b->nr_pages,
              "%s %d: block at pfn %lld runs past the zone", name, z->idx,
              (long long)idx_to_pfn(b, (uint32_t)i));
        for (int64_t j = i + 1; j < i + size; j++)
            CHECK(b->pages[j].flags == 0, "%s %d: pfn %lld inside the block at %lld is marked",
                  name, z->idx, (long long)idx_to_pfn(b, (uint32_t)j),
                  (long long)idx_to_pfn(b, (uint32_t)i));
        if (p->flags == PB_BUDDY)
            heads++;
        if (p->flags == PB_PCP)
            pcp_seen += size;
        in_blocks += size;
        i += size;
    }
    int64_t listed = 0;
    for (int o = 0; o <= b->max_order; o++)
        listed += nr_free_order(b, o);
    CHECK(heads == listed, "%s %d: %lld free blocks marked, %lld listed", name, z->idx,
          (long long)heads, (long long)listed);
    CHECK(pcp_seen == pcp_pages, "%s %d: %lld pcp pages marked, %lld listed", name, z->idx,
          (long long)pcp_seen, (long long)pcp_pages);
    CHECK(in_blocks <= z->managed, "%s %d: %lld pages in blocks, %lld managed", name, z->idx,
          (long long)in_blocks, (long long)z->managed);
    return 0;
}

int lmm_pa_check(struct lmm_pa *pa, char *msg, int msglen)
{
    LMM_LOCKED(pa->lock);
    for (int i = 0; i < pa->nr_zones; i++) {
        int err = check_zone(pa, &pa->zones[i], msg, msglen);
        if (err)
            return err;
    }
    return 0;
}

/* ===================================================================== benchmarks == */

int64_t lmm_pa_bench_pairs(struct lmm_pa *pa, uint32_t gfp, int order, int cpu, int64_t pairs)
{
    LMM_LOCKED(pa->lock);
    int64_t sum = 0;
    for (int64_t i = 0; i < pairs; i++) {
        int64_t pfn = lmm_pa_alloc(pa, gfp, order, cpu);
        if (pfn < 0)
            return pfn;
        sum += pfn;
        int64_t err = lmm_pa_free(pa, pfn, order, cpu);
        if (err)
            return err;
    }
    return sum;
}

int64_t lmm_pa_bench_bulk(struct lmm_pa *pa, uint32_t gfp, int cpu, int64_t rounds, int64_t batch,
                          int64_t *scratch)
{
    LMM_LOCKED(pa->lock);
    int64_t sum = 0;
    for (int64_t r = 0; r < rounds; r++) {
        int64_t n = lmm_pa_alloc_bulk(pa, gfp, batch, cpu, scratch);
        if (n != batch)
            return n < 0 ? n : -LMM_ENOMEM;
        for (int64_t i = 0; i < n; i++)
            sum += scratch[i];
        int64_t err = lmm_pa_free_bulk(pa, scratch, n, cpu);
        if (err)
            return err;
    }
    return sum;
}

/* ===================================================================== compaction scans == */

int64_t lmm_pa_free_blocks(struct lmm_pa *pa, int zone, int64_t start, int64_t end,
                           int64_t *out, int64_t cap)
{
    LMM_LOCKED(pa->lock);
    if (zone < 0 || zone >= pa->nr_zones || cap < 0)
        return -LMM_EINVAL;
    const struct lmm_zone *z = &pa->zones[zone];
    if (start < z->start)
        start = z->start;
    if (end > z->start + z->spanned)
        end = z->start + z->spanned;
    int64_t n = 0;
    /* Free block heads are aligned to their order: step to the next candidate by walking the
     * blocks that start at or before pfn (as __move_freepages_block() does within a block). */
    for (int64_t pfn = start; pfn < end;) {
        const struct lmm_page_meta *p = &z->b.pages[pfn - z->start];
        if (p->flags & PB_BUDDY) {
            if (n < cap) {
                out[2 * n] = pfn;
                out[2 * n + 1] = p->order;
            }
            n++;
            pfn += (int64_t)1 << p->order;
        } else if (p->flags & (PB_HEAD | PB_PCP)) {
            pfn += (int64_t)1 << p->order;
        } else {
            pfn++;
        }
    }
    return n;
}
