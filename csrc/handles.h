/*
 * handles.h - integer handles for the engines (internal).
 *
 * The Python fast paths pass an int, which cffi converts faster than a pointer (and fewer
 * arguments make a faster call: benchmarks/RESULTS.md, issue 13).  Each engine kind keeps a
 * static table of slots (its pages are touched only as far as handles are in use); an engine
 * claims a slot at creation with a compare-and-swap and releases it when destroyed, as creation
 * and destruction may run in different threads (cffi releases the GIL).  A lookup of a slot
 * that holds nothing, or of a number beyond the table, is NULL.
 */
#ifndef LMM_HANDLES_H
#define LMM_HANDLES_H

#include <stddef.h>
#include <stdint.h>

/* The first free slot of table[0..n) now holding obj, or -1 when every slot is taken. */
static inline int handle_claim(void **table, int n, void *obj)
{
    for (int h = 0; h < n; h++) {
        void *none = NULL;
        if (!__atomic_load_n(&table[h], __ATOMIC_RELAXED) &&
            __atomic_compare_exchange_n(&table[h], &none, obj, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED))
            return h;
    }
    return -1;
}

static inline void *handle_lookup(void *const *table, int n, uint64_t h)
{
    return h < (uint64_t)n ? __atomic_load_n(&table[h], __ATOMIC_ACQUIRE) : NULL;
}

/* Empty slot h if it still holds obj (h may be -1: no handle was claimed). */
static inline void handle_release(void **table, int n, int h, void *obj)
{
    if (h >= 0 && h < n)
        __atomic_compare_exchange_n(&table[h], &obj, NULL, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED);
}

#endif
