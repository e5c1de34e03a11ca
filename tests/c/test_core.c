/*
 * The C core's invariants without Python: every engine (buddy, page allocator, slab, MMU, VMA
 * lookups) is created, used, fed bad arguments (refused with error codes, nothing changed, no
 * crash) and destroyed.  Built straight from the csrc C files by tests/test_c_core.py and run under
 * valgrind (--error-exitcode=1 --leak-check=full) and, where gcc has them, ASan/UBSan.
 * Exit status 0 when every check holds; failures are printed with their line.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "lmm.h"

static int failures, checks;

#define CHECK(cond) do { checks++; if (!(cond)) { failures++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_EQ(a, b) do { long long _a = (long long)(a), _b = (long long)(b); checks++; \
    if (_a != _b) { failures++; fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", \
        __FILE__, __LINE__, #a, _a, #b, _b); } } while (0)

static char msg[512];

static void test_buddy(void)
{
    /* bad creation arguments */
    CHECK(lmm_buddy_create(0, -1, 10) == NULL);
    CHECK(lmm_buddy_create(-5, 64, 10) == NULL);
    CHECK(lmm_buddy_create(0, 64, -1) == NULL);
    CHECK(lmm_buddy_create(0, 64, LMM_MAX_ORDER_LIMIT + 1) == NULL);
    lmm_buddy_destroy(NULL);

    struct lmm_buddy *b = lmm_buddy_create(1024, 4096, 10);
    CHECK(b != NULL);
    if (!b)
        return;
    CHECK_EQ(lmm_buddy_free_pages(b), 0);
    CHECK_EQ(lmm_buddy_alloc(b, 0), -LMM_ENOMEM);
    CHECK(lmm_buddy_free_range(b, 0, 10) < 0);              /* outside the range */
    CHECK(lmm_buddy_free_range(b, 2000, 1500) < 0);         /* end before start */
    CHECK_EQ(lmm_buddy_free_range(b, 1024, 1024 + 4096), 0);
    CHECK(lmm_buddy_free_range(b, 1024, 1030) < 0);         /* released twice */
    CHECK_EQ(lmm_buddy_free_pages(b), 4096);
    CHECK_EQ(lmm_buddy_check(b, msg, sizeof msg), 0);

    /* bad orders, pfns */
    CHECK_EQ(lmm_buddy_alloc(b, -1), -LMM_EINVAL);
    CHECK_EQ(lmm_buddy_alloc(b, 11), -LMM_EINVAL);
    CHECK_EQ(lmm_buddy_alloc(b, 1 << 30), -LMM_EINVAL);
    CHECK_EQ(lmm_buddy_free(b, 5, 0), -LMM_ERANGE);
    CHECK_EQ(lmm_buddy_free(b, INT64_MAX, 0), -LMM_ERANGE);
    CHECK_EQ(lmm_buddy_free(b, INT64_MIN, 0), -LMM_ERANGE);
    CHECK_EQ(lmm_buddy_free(b, 1024, -3), -LMM_EINVAL);
    CHECK_EQ(lmm_buddy_free(b, 1024, 0), -LMM_EFREE);       /* never allocated */

    int64_t p = lmm_buddy_alloc(b, 3);
    CHECK(p >= 1024 && p % 8 == 0);
    CHECK_EQ(lmm_buddy_free_pages(b), 4096 - 8);
    CHECK_EQ(lmm_buddy_free(b, p + 1, 3), -LMM_EALIGN);
    CHECK_EQ(lmm_buddy_free(b, p + 1, 0), -LMM_ENOTHEAD);
    CHECK_EQ(lmm_buddy_free(b, p, 2), -LMM_EORDER);
    CHECK_EQ(lmm_buddy_free(b, p, 3), 0);
    CHECK_EQ(lmm_buddy_free(b, p, 3), -LMM_EFREE);          /* double free */
    CHECK_EQ(lmm_buddy_free_pages(b), 4096);

    /* bulk: all or nothing */
    int64_t pfns[64];
    CHECK_EQ(lmm_buddy_alloc_bulk(b, pfns, -1, 0), -LMM_EINVAL);
    CHECK_EQ(lmm_buddy_alloc_bulk(b, pfns, 64, 0), 64);
    int64_t dup[3] = {pfns[0], pfns[1], pfns[0]};
    CHECK_EQ(lmm_buddy_free_bulk(b, dup, 3, 0), -LMM_EDUP);
    CHECK_EQ(lmm_buddy_error_index(b), 2);
    CHECK_EQ(lmm_buddy_free_pages(b), 4096 - 64);
    CHECK_EQ(lmm_buddy_free_bulk(b, pfns, 64, 0), 0);
    CHECK_EQ(lmm_buddy_free_pages(b), 4096);

    /* exhaustion: ENOMEM, and everything comes back */
    int64_t *all = malloc(sizeof(int64_t) * 4096);
    int64_t n = 0, r;
    while ((r = lmm_buddy_alloc(b, 0)) >= 0)
        all[n++] = r;
    CHECK_EQ(r, -LMM_ENOMEM);
    CHECK_EQ(n, 4096);
    CHECK_EQ(lmm_buddy_alloc(b, 10), -LMM_ENOMEM);
    CHECK_EQ(lmm_buddy_free_bulk(b, all, n, 0), 0);
    free(all);
    CHECK_EQ(lmm_buddy_free_pages(b), 4096);
    int64_t nr_free[LMM_MAX_ORDER_LIMIT + 1];
    lmm_buddy_nr_free(b, nr_free, -1);
    CHECK_EQ(nr_free[10], 4);
    int st_order = -1;
    CHECK(lmm_buddy_page_state(b, 1 << 20, &st_order) < 0 || 1);   /* out of range: no crash */
    CHECK_EQ(lmm_buddy_free_list(b, 99, 0, pfns, 64), -LMM_EINVAL);
    CHECK_EQ(lmm_buddy_check(b, msg, sizeof msg), 0);
    lmm_buddy_destroy(b);
}

static struct lmm_pa *make_pa(int64_t pages)
{
    int kinds[2] = {LMM_ZONE_DMA32, LMM_ZONE_NORMAL};
    int64_t starts[2] = {0, pages / 2};
    int64_t spanned[2] = {pages / 2, pages - pages / 2};
    struct lmm_pa *pa = lmm_pa_create(2, kinds, starts, spanned, 2, 10, 9, 1, 150);
    if (pa && lmm_pa_free_boot_range(pa, 1, pages) != 0) {
        lmm_pa_destroy(pa);
        return NULL;
    }
    return pa;
}

static void test_page_alloc(void)
{
    int kinds[2] = {LMM_ZONE_NORMAL, LMM_ZONE_DMA};   /* not increasing */
    int64_t starts[2] = {0, 4096}, spanned[2] = {4096, 4096};
    CHECK(lmm_pa_create(2, kinds, starts, spanned, 1, 10, 9, 0, 0) == NULL);
    int k1[1] = {LMM_ZONE_DMA};                         /* no ZONE_NORMAL */
    CHECK(lmm_pa_create(1, k1, starts, spanned, 1, 10, 9, 0, 0) == NULL);
    int k2[1] = {LMM_ZONE_NORMAL};
    CHECK(lmm_pa_create(1, k2, starts, spanned, 0, 10, 9, 0, 0) == NULL);      /* cpus */
    CHECK(lmm_pa_create(1, k2, starts, spanned, 1, 10, 11, 0, 0) == NULL);     /* pageblock */
    CHECK(lmm_pa_create(0, k2, starts, spanned, 1, 10, 9, 0, 0) == NULL);      /* zones */
    int64_t neg[1] = {-1};
    CHECK(lmm_pa_create(1, k2, starts, neg, 1, 10, 9, 0, 0) == NULL);
    lmm_pa_destroy(NULL);

    struct lmm_pa *pa = make_pa(16384);
    CHECK(pa != NULL);
    if (!pa)
        return;
    CHECK(lmm_pa_free_boot_range(pa, 1, 100) < 0);      /* released twice */
    CHECK_EQ(lmm_pa_check(pa, msg, sizeof msg), 0);
    int64_t free0 = lmm_pa_zone_stat(pa, 1, LMM_ZS_FREE) + lmm_pa_zone_stat(pa, 0, LMM_ZS_FREE);

    CHECK_EQ(lmm_pa_alloc(pa, LMM_GFP_KERNEL, -1, 0), -LMM_EINVAL);
    CHECK_EQ(lmm_pa_alloc(pa, LMM_GFP_KERNEL, 11, 0), -LMM_EINVAL);
    CHECK_EQ(lmm_pa_alloc(pa, LMM_GFP_KERNEL, 0, 2), -LMM_ECPU);
    CHECK_EQ(lmm_pa_alloc(pa, LMM_GFP_KERNEL, 0, -1), -LMM_ECPU);
    CHECK_EQ(lmm_pa_alloc(pa, LMM_GFP_DMA | LMM_GFP_HIGHMEM, 0, 0), -LMM_EGFP);
    CHECK_EQ(lmm_pa_free(pa, -1, 0, 0), -LMM_ERANGE);
    CHECK_EQ(lmm_pa_free(pa, INT64_MAX, 0, 0), -LMM_ERANGE);

    int64_t pages[200];
    int n = 0;
    for (int order = 0; order <= 10; order++)
        for (int cpu = 0; cpu < 2; cpu++) {
            int64_t p = lmm_pa_alloc(pa, order % 2 ? LMM_GFP_KERNEL : LMM_GFP_HIGHUSER_MOVABLE,
                                     order, cpu);
            CHECK(p >= 0);
            if (p >= 0)
                pages[n++] = p;
        }
    CHECK_EQ(lmm_pa_check(pa, msg, sizeof msg), 0);
    CHECK(lmm_pa_free(pa, pages[2], 0, 0) < 0);          /* order-1 block freed as order 0 */
    CHECK(lmm_pa_free(pa, pages[2] + 1, 1, 0) < 0);      /* misaligned */
    for (int i = 0; i < n; i++)
        CHECK_EQ(lmm_pa_free(pa, pages[i], i / 2, i % 2), 0);
    CHECK(lmm_pa_free(pa, pages[0], 0, 0) < 0);          /* double free */

    int64_t bulk[64];
    CHECK_EQ(lmm_pa_alloc_bulk(pa, LMM_GFP_KERNEL, 64, 1, bulk), 64);
    CHECK_EQ(lmm_pa_alloc_bulk(pa, LMM_GFP_KERNEL, -1, 1, bulk), -LMM_EINVAL);
    int64_t dup[2] = {bulk[0], bulk[0]};
    CHECK(lmm_pa_free_bulk(pa, dup, 2, 0) < 0);
    CHECK_EQ(lmm_pa_free_bulk(pa, bulk, 64, 0), 0);
    CHECK_EQ(lmm_pa_drain(pa, -1), 0);
    CHECK(lmm_pa_drain(pa, 7) < 0);
    CHECK_EQ(lmm_pa_zone_stat(pa, 1, LMM_ZS_FREE) + lmm_pa_zone_stat(pa, 0, LMM_ZS_FREE), free0);

    /* exhaustion with GFP_ATOMIC until ENOMEM, then give everything back */
    int64_t cap = 16384, got = 0, r;
    int64_t *all = malloc(sizeof(int64_t) * cap);
    while (got < cap && (r = lmm_pa_alloc(pa, LMM_GFP_ATOMIC, 0, 0)) >= 0)
        all[got++] = r;
    CHECK(got > 0 && got < cap);
    CHECK_EQ(lmm_pa_alloc(pa, LMM_GFP_ATOMIC, 0, 0), -LMM_ENOMEM);
    CHECK_EQ(lmm_pa_free_bulk(pa, all, got, 0), 0);
    free(all);
    CHECK_EQ(lmm_pa_drain(pa, -1), 0);
    CHECK_EQ(lmm_pa_check(pa, msg, sizeof msg), 0);

    /* inspection with bad zones, cpus, pfns refuses without reading out of bounds */
    int64_t out[64];
    CHECK(lmm_pa_nr_free(pa, 9, -1, out) < 0);
    CHECK(lmm_pa_nr_free(pa, -1, -1, out) < 0);
    CHECK(lmm_pa_pageblock_counts(pa, 5, out) < 0);
    CHECK(lmm_pa_page_info(pa, -7, out) >= 0 || 1);
    CHECK(lmm_pa_page_info(pa, INT64_MAX, out) >= 0 || 1);
    CHECK(lmm_pa_list(pa, 0, 5, 0, 0, out, 64) < 0);
    CHECK(lmm_pa_list(pa, 0, -1, 99, 0, out, 64) < 0);
    CHECK(lmm_pa_list(pa, 0, -1, 0, 99, out, 64) < 0);
    CHECK(lmm_pa_free_blocks(pa, 9, 0, 100, out, 32) < 0);
    CHECK(lmm_pa_isolate_free_page(pa, INT64_MAX, 0) < 0);
    CHECK(lmm_pa_split_page(pa, -1, 0) < 0);
    int64_t vals[9] = {-1, -1, -1, -1, -1, -1, -1, -1, -1};
    CHECK(lmm_pa_set_tunables(pa, 9, vals, NULL) < 0);
    CHECK_EQ(lmm_pa_check(pa, msg, sizeof msg), 0);
    lmm_pa_destroy(pa);
}

static void test_slab(void)
{
    struct lmm_buddy *b = lmm_buddy_create(0, 2048, 10);
    CHECK(b != NULL);
    if (!b)
        return;
    CHECK_EQ(lmm_buddy_free_range(b, 0, 2048), 0);
    const uint64_t po = 0xffff888000000000ULL, end = 0xffffc88000000000ULL;
    CHECK(lmm_slab_sys_create(lmm_slab_buddy_alloc_page, lmm_slab_buddy_free_page, b, end, po)
          == NULL);
    struct lmm_slab_sys *s = lmm_slab_sys_create(lmm_slab_buddy_alloc_page,
                                                 lmm_slab_buddy_free_page, b, po, end);
    CHECK(s != NULL);
    if (!s) {
        lmm_buddy_destroy(b);
        return;
    }
    struct lmm_slab_geometry g = {.size = 64, .red_left_pad = 0, .ksize = 64, .order = 0,
                                  .objects = 64, .min_order = 0, .min_objects = 64,
                                  .min_partial = 5, .allocflags = 0, .cpu_partial = 30};
    struct lmm_slab_geometry bad = g;
    bad.objects = 1000;     /* 1000 * 64 bytes do not fit an order-0 slab */
    CHECK(lmm_slab_cache_create(s, &bad) < 0);
    bad = g;
    bad.size = 0;
    CHECK(lmm_slab_cache_create(s, &bad) < 0);
    bad = g;
    bad.order = -1;
    CHECK(lmm_slab_cache_create(s, &bad) < 0);
    int c = lmm_slab_cache_create(s, &g);
    CHECK(c >= 0);

    uint64_t objs[200];
    for (int i = 0; i < 200; i++) {
        objs[i] = lmm_slab_alloc(s, c, LMM_GFP_KERNEL);
        CHECK(objs[i] >= LMM_SLAB_MIN_ADDR);
    }
    CHECK_EQ(lmm_slab_check(s, msg, sizeof msg), 0);
    CHECK(lmm_slab_alloc(s, c + 7, LMM_GFP_KERNEL) < LMM_SLAB_MIN_ADDR);
    CHECK(lmm_slab_alloc(s, -1, LMM_GFP_KERNEL) < LMM_SLAB_MIN_ADDR);
    CHECK_EQ(lmm_slab_free(s, c, objs[0] + 1), -LMM_SLAB_EINTERIOR);
    CHECK_EQ(lmm_slab_free(s, c, 0), -LMM_SLAB_ENOTSLAB);
    CHECK(lmm_slab_free(s, c, UINT64_MAX) < 0);
    CHECK(lmm_slab_free(s, c, po + 2047 * 4096ULL) < 0);    /* a page never a slab */
    CHECK(lmm_slab_free(s, c, end - 64) < 0);
    CHECK(lmm_slab_free(s, c + 1, objs[0]) < 0);
    CHECK_EQ(lmm_slab_free(s, c, objs[0]), 0);
    CHECK_EQ(lmm_slab_free(s, c, objs[0]), -LMM_SLAB_EFREE);
    uint64_t dup[2] = {objs[1], objs[1]};
    CHECK_EQ(lmm_slab_free_bulk(s, c, dup, 2), -LMM_SLAB_EDUP);
    CHECK_EQ(lmm_slab_free_bulk(s, c, objs + 1, -1), -LMM_EINVAL);
    CHECK_EQ(lmm_slab_cache_release(s, c), -LMM_SLAB_EBUSY);
    CHECK_EQ(lmm_slab_free_bulk(s, c, objs + 1, 199), 0);
    CHECK_EQ(lmm_slab_check(s, msg, sizeof msg), 0);

    uint64_t bulk[100];
    CHECK_EQ(lmm_slab_alloc_bulk(s, c, LMM_GFP_KERNEL, 100, bulk), 100);
    CHECK(lmm_slab_alloc_bulk(s, c, LMM_GFP_KERNEL, -5, bulk) < 0);
    CHECK_EQ(lmm_slab_free_bulk(s, -1, bulk, 100), 0);

    /* kmalloc with no kmalloc caches registered: refused, not a crash */
    CHECK(lmm_slab_kmalloc(s, 64, LMM_GFP_KERNEL) < LMM_SLAB_MIN_ADDR);
    CHECK(lmm_slab_kmalloc(s, -1, LMM_GFP_KERNEL) < LMM_SLAB_MIN_ADDR);
    CHECK(lmm_slab_kmalloc(s, INT64_MAX, LMM_GFP_KERNEL) < LMM_SLAB_MIN_ADDR);
    CHECK(lmm_slab_kfree(s, 12345) < 0);
    CHECK(lmm_slab_ksize(s, 12345) <= 0);
    CHECK(lmm_slab_set_kmalloc(s, 99, 0, c) < 0);
    CHECK(lmm_slab_set_kmalloc(s, 0, 999, c) < 0);
    CHECK(lmm_slab_set_kmalloc(s, 0, 6, 999) < 0);
    int64_t out[16];
    CHECK(lmm_slab_freelist(s, -1, out, 16) <= 0);
    CHECK(lmm_slab_freelist(s, INT64_MAX, out, 16) <= 0);
    CHECK(lmm_slab_object_info(s, UINT64_MAX, out) >= 0 || 1);
    CHECK(lmm_slab_list(s, c, 99, out, 16) < 0);
    CHECK(lmm_slab_list(s, 999, 0, out, 16) < 0);

    /* exhaustion: the page source runs dry, alloc refuses, bulk is all or nothing */
    uint64_t *many = malloc(sizeof(uint64_t) * 2048 * 64);
    int64_t n = 0;
    uint64_t a;
    while ((a = lmm_slab_alloc(s, c, LMM_GFP_KERNEL)) >= LMM_SLAB_MIN_ADDR)
        many[n++] = a;
    CHECK(n > 0 && n <= 2048 * 64);
    CHECK(lmm_slab_alloc_bulk(s, c, LMM_GFP_KERNEL, 10, bulk) < 0);
    CHECK_EQ(lmm_slab_free_bulk(s, c, many, n), 0);
    free(many);

    CHECK_EQ(lmm_slab_shrink(s, c), 0);
    CHECK_EQ(lmm_slab_check(s, msg, sizeof msg), 0);
    CHECK_EQ(lmm_slab_cache_release(s, c), 0);
    /* a released id is no cache at all (it may be handed out again) */
    CHECK_EQ(lmm_slab_alloc(s, c, LMM_GFP_KERNEL), LMM_EINVAL);
    CHECK_EQ(lmm_slab_free(s, c, bulk[0]), -LMM_EINVAL);
    /* the dead cache every stale Python handle names refuses everything */
    CHECK_EQ(lmm_slab_alloc(s, LMM_SLAB_DEAD_CACHE, LMM_GFP_KERNEL), LMM_SLAB_EDEAD);
    CHECK_EQ(lmm_slab_free(s, LMM_SLAB_DEAD_CACHE, bulk[0]), -LMM_SLAB_EDEAD);
    lmm_slab_sys_destroy(s);
    lmm_slab_sys_destroy(NULL);
    CHECK_EQ(lmm_buddy_free_pages(b), 2048);
    lmm_buddy_destroy(b);
}

static void test_mmu(void)
{
    struct lmm_pa *pa = make_pa(8192);
    CHECK(pa != NULL);
    if (!pa)
        return;
    CHECK(lmm_mmu_create(pa, 8192, 8192) == NULL);      /* zero_pfn out of range */
    CHECK(lmm_mmu_create(pa, -1, 0) == NULL);
    lmm_mmu_destroy(NULL);
    struct lmm_mmu *m = lmm_mmu_create(pa, 8192, 0);
    CHECK(m != NULL);
    if (!m) {
        lmm_pa_destroy(pa);
        return;
    }
    int64_t counters[LMM_NR_MM_COUNTERS] = {0};
    CHECK(lmm_mmu_set_levels(m, 2) < 0);
    int64_t pgd = lmm_mmu_pgd_alloc(m, counters);
    CHECK(pgd > 0);
    CHECK(lmm_mmu_set_levels(m, 3) < 0);                /* a PGD exists */

    /* pages with contents; bad offsets and lengths refused */
    uint8_t buf[LMM_PAGE_SIZE];
    memset(buf, 0xab, sizeof buf);
    int64_t page = lmm_pa_alloc(pa, LMM_GFP_HIGHUSER_MOVABLE, 0, 0);
    CHECK(page > 0);
    CHECK_EQ(lmm_mmu_page_write(m, page, 100, buf, 200), 0);
    CHECK_EQ(lmm_mmu_page_read(m, page, 100, 4, buf), 1);
    CHECK(lmm_mmu_page_write(m, page, 4000, buf, 200) < 0);
    CHECK(lmm_mmu_page_write(m, page, -1, buf, 1) < 0);
    CHECK(lmm_mmu_page_read(m, page, 1, INT64_MAX, buf) < 0);
    CHECK(lmm_mmu_page_read(m, page, INT64_MAX, 1, buf) < 0);
    CHECK(lmm_mmu_page_write(m, page, 1, buf, INT64_MAX) < 0);
    CHECK(lmm_mmu_page_read(m, 8192, 0, 1, buf) < 0);
    CHECK(lmm_mmu_page_read(m, -1, 0, 1, buf) < 0);
    CHECK(lmm_mmu_page_write(m, pgd, 0, buf, 8) < 0);   /* a page-table page */
    CHECK(lmm_mmu_page_copy(m, page, INT64_MIN) < 0);
    CHECK(lmm_mmu_page_clear(m, 1 << 30) < 0);
    CHECK(lmm_mmu_array(m, 99) == NULL);
    CHECK(lmm_mmu_array(m, -1) == NULL);

    /* map, walk, unmap */
    uint64_t entry = ((uint64_t)page << LMM_PAGE_SHIFT) | LMM_PTE_PRESENT | LMM_PTE_RW | LMM_PTE_USER;
    uint64_t addr = 0x400000;
    CHECK_EQ(lmm_mmu_pte_set(m, pgd, addr, entry, counters), 0);
    CHECK_EQ(lmm_mmu_pte_get(m, pgd, addr), entry);
    CHECK(lmm_mmu_pte_set(m, pgd, LMM_USER_TOP, entry, counters) < 0);
    CHECK(lmm_mmu_pte_set(m, pgd, UINT64_MAX, entry, counters) < 0);
    CHECK(lmm_mmu_pte_set(m, page, addr, entry, counters) < 0);     /* not a PGD */
    CHECK(lmm_mmu_pte_set(m, -1, addr, entry, counters) < 0);
    CHECK(lmm_mmu_pte_get(m, 1 << 30, addr) == 0 || 1);
    CHECK(lmm_mmu_table_level(m, -3) == 0 || 1);
    int64_t addrs[8];
    uint64_t entries[8];
    CHECK_EQ(lmm_mmu_walk(m, pgd, 0, LMM_USER_TOP, addrs, entries, 8), 1);
    CHECK_EQ(addrs[0], (int64_t)addr);
    CHECK(lmm_mmu_walk(m, pgd, 0, LMM_USER_TOP, addrs, entries, -1) < 0 || 1);
    uint64_t leaf[2];
    CHECK_EQ(lmm_mmu_free_pgtables(m, pgd, 0, LMM_USER_TOP, 0, LMM_USER_TOP, counters, leaf),
             -LMM_ELEAF);
    CHECK_EQ(leaf[0], addr);
    int64_t bad_addrs[2] = {0x1000, -1};
    uint64_t bad_entries[2] = {0, 0};
    CHECK(lmm_mmu_set_bulk(m, pgd, bad_addrs, bad_entries, 2, counters) < 0);
    CHECK_EQ(lmm_mmu_error_index(m), 1);
    CHECK(lmm_mmu_set_bulk(m, pgd, bad_addrs, bad_entries, -1, counters) < 0);

    /* the access loop over one anonymous VMA, with bad arguments first */
    int64_t snap[LMM_SNAP_COLUMNS] = {0x600000, 0x600000 + 64 * 4096, LMM_VM_READ | LMM_VM_WRITE,
                                      0x600, 1, LMM_SNAPK_ANON};
    int reason = -1;
    CHECK(lmm_mmu_access_range(m, pgd, counters, snap, 1, 0x600000, -1, 1, 0, &reason) < 0);
    CHECK(lmm_mmu_access_range(m, pgd, counters, snap, -1, 0x600000, 4, 1, 0, &reason) < 0);
    CHECK(lmm_mmu_access_range(m, pgd, counters, snap, 1, 0x600000, 4, 1, 9, &reason) < 0);
    CHECK_EQ(lmm_mmu_access_range(m, pgd, counters, snap, 1, 0x600000, 64, 1, 0, &reason), 64);
    CHECK_EQ(counters[LMM_MM_ANONPAGES], 64);
    int64_t a2[3] = {0x600000, 0x500000, 0x600000 + 8 * 4096};
    uint8_t w2[3] = {0, 1, 1};
    CHECK_EQ(lmm_mmu_access(m, pgd, counters, snap, 1, a2, w2, 3, 0, &reason), 1);
    CHECK_EQ(reason, LMM_ACCESS_FAULT);

    /* tear down: clear the leaves, free the anonymous pages, the tables, the PGD */
    int64_t n = lmm_mmu_walk(m, pgd, 0, LMM_USER_TOP, addrs, entries, 0);
    int64_t *la = malloc(sizeof(int64_t) * n);
    uint64_t *le = malloc(sizeof(uint64_t) * n);
    CHECK_EQ(lmm_mmu_walk(m, pgd, 0, LMM_USER_TOP, la, le, n), n);
    CHECK_EQ(lmm_mmu_clear_bulk(m, pgd, la, n), n);
    free(la);
    free(le);
    CHECK_EQ(lmm_mmu_free_pgtables(m, pgd, 0, LMM_USER_TOP, 0, 0, counters, leaf), 0);
    CHECK_EQ(lmm_mmu_pgd_free(m, pgd, counters), 0);
    CHECK(lmm_mmu_pgd_free(m, pgd, counters) < 0);      /* twice */
    CHECK_EQ(lmm_pa_check(pa, msg, sizeof msg), 0);
    lmm_mmu_destroy(m);
    lmm_pa_destroy(pa);
}

/* swap areas (csrc/swap.c): refusals, slots, the swap cache, page I/O, a swap-in by the access
 * loop; the engine is destroyed with an area, slot contents and a swap-cache folio in place */
static void test_swap(void)
{
    struct lmm_pa *pa = make_pa(8192);
    struct lmm_mmu *m = pa ? lmm_mmu_create(pa, 8192, 0) : NULL;
    CHECK(m != NULL);
    if (!m) {
        lmm_pa_destroy(pa);
        return;
    }
    CHECK_EQ(lmm_mmu_swapon(m, 0, 600, 0), 0);
    CHECK(lmm_mmu_swapon(m, 0, 600, 0) < 0);            /* in use */
    CHECK(lmm_mmu_swapon(m, LMM_MAX_SWAPFILES, 600, 0) < 0);
    CHECK(lmm_mmu_swapon(m, 1, 1, 0) < 0);              /* no room past the header */
    CHECK(lmm_mmu_swap_array(m, 1, LMM_MMU_SWP_MAP) == NULL);
    CHECK(lmm_mmu_swap_array(m, 0, 99) == NULL);
    int32_t *map = lmm_mmu_swap_array(m, 0, LMM_MMU_SWP_MAP);
    CHECK(map != NULL && map[0] == -1);
    CHECK_EQ(lmm_mmu_swap_alloc_slot(m, 0), 1);
    CHECK_EQ(lmm_mmu_swap_alloc_slot(m, 0), 2);
    CHECK_EQ(lmm_mmu_swap_alloc_slot(m, 5), -1);
    lmm_mmu_swap_slot_free(m, 0, 0);                    /* the header: ignored */
    lmm_mmu_swap_slot_free(m, 0, 600);                  /* past the end: ignored */

    uint8_t buf[LMM_PAGE_SIZE];
    memset(buf, 0x5a, sizeof buf);
    int64_t page = lmm_pa_alloc(pa, LMM_GFP_HIGHUSER_MOVABLE, 0, 0);
    CHECK(page > 0);
    CHECK_EQ(lmm_mmu_page_write(m, page, 0, buf, LMM_PAGE_SIZE), 0);
    CHECK(lmm_mmu_swap_cache_add(m, page, 0, 0) < 0);
    CHECK(lmm_mmu_swap_cache_add(m, -1, 0, 1) < 0);
    CHECK(lmm_mmu_swap_cache_add(m, page, 3, 1) < 0);
    CHECK(lmm_mmu_swap_writepage(m, page) < 0);         /* not cached yet */
    CHECK_EQ(lmm_mmu_swap_cache_add(m, page, 0, 1), 0);
    CHECK(lmm_mmu_swap_cache_add(m, page, 0, 2) < 0);   /* already cached */
    CHECK_EQ(lmm_mmu_swap_writepage(m, page), 0);
    map[1] = 1;                                         /* one PTE will hold slot 1 */
    CHECK_EQ(lmm_mmu_swap_cache_delete(m, page, -1), 0);
    CHECK(lmm_mmu_swap_cache_delete(m, page, -1) < 0);
    CHECK(lmm_mmu_swap_readpage(m, -1, 0, 1) < 0);
    CHECK(lmm_mmu_swap_readpage(m, page, 0, 700) < 0);

    /* a swap PTE the access loop faults back in: a major fault with the slot's bytes */
    int64_t counters[LMM_NR_MM_COUNTERS] = {0};
    int64_t pgd = lmm_mmu_pgd_alloc(m, counters);
    uint64_t addr = 0x600000, swp = (~(uint64_t)1 << 14) >> 5;      /* type 0, offset 1 */
    CHECK_EQ(lmm_mmu_pte_set(m, pgd, addr, swp, counters), 0);
    counters[LMM_MM_SWAPENTS] = 1;
    int64_t *stat = lmm_mmu_array(m, LMM_MMU_SWAP_STAT);
    stat[LMM_SWS_PAGE_CLUSTER] = 3;
    int64_t snap[LMM_SNAP_COLUMNS] = {0x600000, 0x600000 + 16 * 4096, LMM_VM_READ | LMM_VM_WRITE,
                                      0x600, 1, LMM_SNAPK_ANON};
    int64_t a1[1] = {(int64_t)addr + 100};
    uint8_t w1[1] = {0};
    int reason = -1;
    /* offset 1 follows prev_offset 0: a window of 2 pages, slot 2 is free (nothing read) */
    CHECK_EQ(lmm_mmu_access(m, pgd, counters, snap, 1, a1, w1, 1, 0, &reason), 1);
    CHECK_EQ(counters[LMM_MM_MAJ_FLT], 1);
    CHECK_EQ(stat[LMM_SWS_LAST_RA], 2);
    CHECK_EQ(stat[LMM_SWS_SWAP_RA], 0);
    CHECK_EQ(counters[LMM_MM_SWAPENTS], 0);
    uint64_t pte = lmm_mmu_pte_get(m, pgd, addr);
    CHECK(pte & LMM_PTE_PRESENT);
    uint8_t got[4] = {0};
    CHECK_EQ(lmm_mmu_page_read(m, (int64_t)((pte & LMM_PTE_PFN_MASK) >> LMM_PAGE_SHIFT), 8, 4,
                               got), 1);
    CHECK_EQ(got[3], 0x5a);
    CHECK_EQ(map[1], 0);
    CHECK_EQ(stat[LMM_SWS_PSWPIN], 1);
    CHECK_EQ(stat[LMM_SWS_PSWPOUT], 1);
    /* the export of an engine holding all this, imported again */
    int64_t size = lmm_mmu_export(m, NULL, 0);
    uint8_t *stream = malloc((size_t)size);
    CHECK(stream && lmm_mmu_export(m, stream, size) == size);
    struct lmm_mmu *copy = stream ? lmm_mmu_import(pa, stream, size) : NULL;
    CHECK(copy != NULL);
    CHECK(stream == NULL || lmm_mmu_import(pa, stream, size - 1) == NULL);
    lmm_mmu_destroy(copy);
    free(stream);
    CHECK_EQ(lmm_mmu_swapoff(m, 3), -LMM_EINVAL);
    lmm_mmu_destroy(m);                                 /* the area and its contents go too */
    lmm_pa_destroy(pa);
}

static void test_vma(void)
{
    int64_t starts[3] = {0x1000, 0x5000, 0x9000}, ends[3] = {0x2000, 0x8000, 0xa000};
    int64_t addrs[5] = {0, 0x1800, 0x3000, 0x9fff, INT64_MAX}, out[5];
    CHECK_EQ(lmm_vma_find_bulk(starts, ends, 3, addrs, out, 5), 5);
    CHECK_EQ(out[0], 0x1000);
    CHECK_EQ(out[2], 0x5000);
    CHECK_EQ(out[4], -1);
    CHECK_EQ(lmm_vma_lookup_bulk(starts, ends, 3, addrs, out, 5), 5);
    CHECK_EQ(out[2], -1);
    CHECK_EQ(out[3], 0x9000);
    CHECK_EQ(lmm_vma_find_bulk(starts, ends, -1, addrs, out, 5), -LMM_EINVAL);
    CHECK_EQ(lmm_vma_lookup_bulk(starts, ends, 3, addrs, out, -1), -LMM_EINVAL);
    CHECK_EQ(lmm_vma_lookup_bulk(starts, ends, 0, addrs, out, 5), 5);
}

int main(void)
{
    test_buddy();
    test_page_alloc();
    test_slab();
    test_mmu();
    test_swap();
    test_vma();
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
