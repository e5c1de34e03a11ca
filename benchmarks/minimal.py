"""Minimal C baselines for the allocator-core ratios (issue 13), compiled by the benchmark itself.

Not part of the package: cffi (API mode) builds this module into a temporary directory, keyed by
the source's hash, the first time a benchmark imports it.  Three allocators with no policy
beyond the mechanism and no validation at all:

- a buddy allocator: free lists as int32 next/prev arrays, one order byte per page (0xff: not a
  free block head), head insertion, one list per order (no migratetypes, no pageblocks, no
  buddy_merge_likely), an alloc takes the head of the smallest non-empty list and splits,
  a free merges while the buddy is a free head of the same order;
- a per-CPU page list on top of it: a LIFO of order-0 pages linked through the same arrays,
  refilled with `batch` pages when empty, `batch` pages from its tail given back when a free
  takes it above `high` (the engine's pcp_batch 63 and pcp high 630 of the benchmark machine);
- an object free list: SLUB's fast path without the slabs: a LIFO of object indices (int32
  next array), addresses base + index * size.

Every handle is a small int into a C table, so a Python call passes only plain ints.
"""
import hashlib
import importlib.util
import os
import sys
import tempfile

from cffi import FFI

CDEF = """
int mb_create(int64_t nr_pages, int max_order);
void mb_destroy(int h);
int64_t mb_alloc(int h, int order);
int64_t mb_free(int h, int64_t pfn, int order);
int64_t mb_free_pages(int h);
int64_t mb_check(int h);
int64_t mb_bench_pairs(int h, int64_t pairs, int order);
int64_t mb_bench_batches(int h, int64_t rounds, int64_t batch, int64_t *scratch);
int mp_create(int mb, int high, int batch);
int64_t mp_alloc(int h);
int64_t mp_free(int h, int64_t pfn);
int64_t mp_count(int h);
void mp_drain(int h);
int64_t mp_bench_pairs(int h, int64_t pairs);
int64_t mp_bench_batches(int h, int64_t rounds, int64_t batch, int64_t *scratch);
int mf_create(int64_t nr_objects, int64_t size, uint64_t base);
void mf_destroy(int h);
uint64_t mf_alloc(int h);
int64_t mf_free(int h, uint64_t addr);
int64_t mf_inuse(int h);
int64_t mf_bench_pairs(int h, int64_t pairs);
int64_t mf_bench_batches(int h, int64_t rounds, int64_t batch, uint64_t *scratch);
"""

SOURCE = r"""
#include <stdint.h>
#include <stdlib.h>

#define NOTFREE 0xff
#define SLOTS 64

struct mb {
    int32_t *next, *prev;
    uint8_t *order;
    int32_t head[32];
    int64_t nr_pages, free_pages;
    int max_order;
};
static struct mb *mbs[SLOTS];

static inline void mb_push(struct mb *b, int32_t i, int o)
{
    int32_t h = b->head[o];
    b->next[i] = h;
    b->prev[i] = -1;
    if (h >= 0)
        b->prev[h] = i;
    b->head[o] = i;
    b->order[i] = (uint8_t)o;
}

static inline void mb_unlink(struct mb *b, int32_t i, int o)
{
    int32_t n = b->next[i], p = b->prev[i];
    if (p >= 0) b->next[p] = n; else b->head[o] = n;
    if (n >= 0) b->prev[n] = p;
    b->order[i] = NOTFREE;
}

static inline int64_t mb_alloc_(struct mb *b, int order)
{
    for (int o = order; o <= b->max_order; o++) {
        int32_t i = b->head[o];
        if (i < 0)
            continue;
        mb_unlink(b, i, o);
        while (o > order) {
            o--;
            mb_push(b, i + (1 << o), o);
        }
        b->free_pages -= (int64_t)1 << order;
        return i;
    }
    return -1;
}

static inline void mb_free_(struct mb *b, int64_t pfn, int order)
{
    b->free_pages += (int64_t)1 << order;
    while (order < b->max_order) {
        int64_t buddy = pfn ^ ((int64_t)1 << order);
        if (buddy >= b->nr_pages || b->order[buddy] != order)
            break;
        mb_unlink(b, (int32_t)buddy, order);
        pfn &= buddy;
        order++;
    }
    mb_push(b, (int32_t)pfn, order);
}

int mb_create(int64_t nr_pages, int max_order)
{
    int h = 0;
    while (h < SLOTS && mbs[h]) h++;
    if (h == SLOTS) return -1;
    struct mb *b = calloc(1, sizeof(*b));
    b->next = malloc(nr_pages * 4);
    b->prev = malloc(nr_pages * 4);
    b->order = malloc(nr_pages);
    for (int64_t i = 0; i < nr_pages; i++) b->order[i] = NOTFREE;
    for (int o = 0; o < 32; o++) b->head[o] = -1;
    b->nr_pages = nr_pages;
    b->max_order = max_order;
    for (int64_t pfn = 0; pfn < nr_pages;) {      /* boot: largest aligned blocks, in order */
        int o = max_order;
        while ((pfn & ((1 << o) - 1)) || pfn + (1 << o) > nr_pages) o--;
        mb_free_(b, pfn, o);
        pfn += (int64_t)1 << o;
    }
    mbs[h] = b;
    return h;
}

void mb_destroy(int h)
{
    struct mb *b = mbs[h];
    free(b->next); free(b->prev); free(b->order); free(b);
    mbs[h] = 0;
}

int64_t mb_alloc(int h, int order) { return mb_alloc_(mbs[h], order); }
int64_t mb_free(int h, int64_t pfn, int order) { mb_free_(mbs[h], pfn, order); return 0; }
int64_t mb_free_pages(int h) { return mbs[h]->free_pages; }

/* Pages on the lists, counted by walking them (the benchmarks' check). */
int64_t mb_check(int h)
{
    struct mb *b = mbs[h];
    int64_t n = 0;
    for (int o = 0; o <= b->max_order; o++)
        for (int32_t i = b->head[o]; i >= 0; i = b->next[i]) {
            if (b->order[i] != o) return -1;
            n += (int64_t)1 << o;
        }
    return n == b->free_pages ? n : -1;
}

int64_t mb_bench_pairs(int h, int64_t pairs, int order)
{
    struct mb *b = mbs[h];
    int64_t sum = 0;
    for (int64_t k = 0; k < pairs; k++) {
        int64_t pfn = mb_alloc_(b, order);
        if (pfn < 0) return -1;
        sum += pfn;
        mb_free_(b, pfn, order);
    }
    return sum;
}

int64_t mb_bench_batches(int h, int64_t rounds, int64_t batch, int64_t *scratch)
{
    struct mb *b = mbs[h];
    int64_t sum = 0;
    for (int64_t r = 0; r < rounds; r++) {
        for (int64_t k = 0; k < batch; k++) {
            int64_t pfn = mb_alloc_(b, 0);
            if (pfn < 0) return -1;
            scratch[k] = pfn;
            sum += pfn;
        }
        for (int64_t k = 0; k < batch; k++)
            mb_free_(b, scratch[k], 0);
    }
    return sum;
}

/* ---- per-CPU list: order-0 pages linked through the buddy's next/prev, LIFO at the head. */
struct mp {
    struct mb *b;
    int32_t head, tail;
    int64_t count;
    int high, batch;
};
static struct mp mps[SLOTS];
static int nr_mps;

int mp_create(int mbh, int high, int batch)
{
    struct mp *p = &mps[nr_mps];
    p->b = mbs[mbh]; p->head = p->tail = -1; p->count = 0; p->high = high; p->batch = batch;
    return nr_mps++;
}

static inline void mp_push(struct mp *p, int32_t i)
{
    struct mb *b = p->b;
    b->next[i] = p->head;
    b->prev[i] = -1;
    if (p->head >= 0) b->prev[p->head] = i; else p->tail = i;
    p->head = i;
    p->count++;
}

static inline int64_t mp_alloc_(struct mp *p)
{
    struct mb *b = p->b;
    if (p->head < 0) {                  /* refill: batch pages, each added at the tail */
        for (int k = 0; k < p->batch; k++) {
            int64_t pfn = mb_alloc_(b, 0);
            if (pfn < 0) break;
            int32_t i = (int32_t)pfn;
            b->next[i] = -1; b->prev[i] = p->tail;
            if (p->tail >= 0) b->next[p->tail] = i; else p->head = i;
            p->tail = i;
            p->count++;
        }
        if (p->head < 0) return -1;
    }
    int32_t i = p->head;
    p->head = b->next[i];
    if (p->head >= 0) b->prev[p->head] = -1; else p->tail = -1;
    p->count--;
    return i;
}

static inline void mp_drain_n(struct mp *p, int64_t n)
{
    struct mb *b = p->b;
    while (n-- > 0 && p->tail >= 0) {   /* from the tail: the coldest pages */
        int32_t i = p->tail;
        p->tail = b->prev[i];
        if (p->tail >= 0) b->next[p->tail] = -1; else p->head = -1;
        p->count--;
        mb_free_(b, i, 0);
    }
}

static inline void mp_free_(struct mp *p, int64_t pfn)
{
    mp_push(p, (int32_t)pfn);
    if (p->count > p->high)
        mp_drain_n(p, p->batch);
}

int64_t mp_alloc(int h) { return mp_alloc_(&mps[h]); }
int64_t mp_free(int h, int64_t pfn) { mp_free_(&mps[h], pfn); return 0; }
int64_t mp_count(int h) { return mps[h].count; }
void mp_drain(int h) { mp_drain_n(&mps[h], mps[h].count); }

int64_t mp_bench_pairs(int h, int64_t pairs)
{
    struct mp *p = &mps[h];
    int64_t sum = 0;
    for (int64_t k = 0; k < pairs; k++) {
        int64_t pfn = mp_alloc_(p);
        if (pfn < 0) return -1;
        sum += pfn;
        mp_free_(p, pfn);
    }
    return sum;
}

int64_t mp_bench_batches(int h, int64_t rounds, int64_t batch, int64_t *scratch)
{
    struct mp *p = &mps[h];
    int64_t sum = 0;
    for (int64_t r = 0; r < rounds; r++) {
        for (int64_t k = 0; k < batch; k++) {
            int64_t pfn = mp_alloc_(p);
            if (pfn < 0) return -1;
            scratch[k] = pfn;
            sum += pfn;
        }
        for (int64_t k = 0; k < batch; k++)
            mp_free_(p, scratch[k]);
    }
    return sum;
}

/* ---- object free list: LIFO of object indices. */
struct mf {
    int32_t *next;
    int32_t head;
    int64_t nr, size, inuse;
    uint64_t base;
};
static struct mf *mfs[SLOTS];

int mf_create(int64_t nr_objects, int64_t size, uint64_t base)
{
    int h = 0;
    while (h < SLOTS && mfs[h]) h++;
    struct mf *f = calloc(1, sizeof(*f));
    f->next = malloc(nr_objects * 4);
    for (int64_t i = 0; i < nr_objects; i++) f->next[i] = i + 1 < nr_objects ? (int32_t)(i + 1) : -1;
    f->head = 0; f->nr = nr_objects; f->size = size; f->base = base;
    mfs[h] = f;
    return h;
}

void mf_destroy(int h) { free(mfs[h]->next); free(mfs[h]); mfs[h] = 0; }

static inline uint64_t mf_alloc_(struct mf *f)
{
    int32_t i = f->head;
    if (i < 0) return 0;
    f->head = f->next[i];
    f->inuse++;
    return f->base + (uint64_t)i * (uint64_t)f->size;
}

static inline void mf_free_(struct mf *f, uint64_t addr)
{
    int32_t i = (int32_t)((addr - f->base) / (uint64_t)f->size);
    f->next[i] = f->head;
    f->head = i;
    f->inuse--;
}

uint64_t mf_alloc(int h) { return mf_alloc_(mfs[h]); }
int64_t mf_free(int h, uint64_t addr) { mf_free_(mfs[h], addr); return 0; }
int64_t mf_inuse(int h) { return mfs[h]->inuse; }

int64_t mf_bench_pairs(int h, int64_t pairs)
{
    struct mf *f = mfs[h];
    uint64_t sum = 0;
    for (int64_t k = 0; k < pairs; k++) {
        uint64_t a = mf_alloc_(f);
        if (!a) return -1;
        sum += a & 0xffffffffffffULL;
        mf_free_(f, a);
    }
    return (int64_t)sum;
}

int64_t mf_bench_batches(int h, int64_t rounds, int64_t batch, uint64_t *scratch)
{
    struct mf *f = mfs[h];
    uint64_t sum = 0;
    for (int64_t r = 0; r < rounds; r++) {
        for (int64_t k = 0; k < batch; k++) {
            uint64_t a = mf_alloc_(f);
            if (!a) return -1;
            scratch[k] = a;
            sum += a & 0xffffffffffffULL;
        }
        for (int64_t k = 0; k < batch; k++)
            mf_free_(f, scratch[k]);
    }
    return (int64_t)sum;
}
"""


def _load():
    key = hashlib.sha1((CDEF + SOURCE + sys.version).encode()).hexdigest()[:12]
    name = f"_lmm_minimal_{key}"
    tmp = os.path.join(tempfile.gettempdir(), f"linuxmm-bench-{key}")
    os.makedirs(tmp, exist_ok=True)
    found = [f for f in os.listdir(tmp) if f.startswith(name) and f.endswith((".so", ".pyd"))]
    if not found:
        ffi = FFI()
        ffi.cdef(CDEF)
        ffi.set_source(name, SOURCE, extra_compile_args=["-O2"])
        ffi.compile(tmpdir=tmp)
        found = [f for f in os.listdir(tmp) if f.startswith(name) and f.endswith((".so", ".pyd"))]
    spec = importlib.util.spec_from_file_location(name, os.path.join(tmp, found[0]))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.ffi, mod.lib


ffi, lib = _load()
