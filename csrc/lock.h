/*
 * lock.h - the recursive lock every engine entry point takes (internal; csrc/lock.c exports it).
 *
 * cffi releases the GIL around every call into the core, so two Python threads can be inside
 * the same engine at once.  Each engine (struct lmm_buddy, lmm_pa, lmm_slab_sys, lmm_mmu) holds a
 * pointer to a struct lmm_lock that Python creates and hands over (lmm_*_set_lock); the engines
 * of one Kernel share one.  A NULL pointer means no locking (the C test program, the zones'
 * embedded buddies, which their page allocator's lock covers).
 *
 * Lock order: there is one lock per machine, so there is no order to keep.  A bare slab
 * allocator shares the lock of the buddy or page allocator its pages come from.
 *
 * The lock is recursive by owner: a Python method that holds it (`with k.lock:`) calls entry
 * points that take it again.  Uncontended, taking and dropping it costs one atomic exchange and
 * a few plain loads and stores (benchmarks/RESULTS.md, issue 11, has the measurement).
 * Contended, a waiter spins briefly, then yields, then sleeps in short naps: the holder may be
 * a Python thread waiting for the GIL, which the waiter does not hold.
 */
#ifndef LMM_LOCK_H
#define LMM_LOCK_H

#include <pthread.h>
#include <stdint.h>

struct lmm_lock {
    int state;                  /* 0 free, 1 held */
    int depth;                  /* extra acquisitions by the owner */
    uintptr_t owner;            /* pthread_self() of the holder, 0 when free */
};

struct lmm_lock *lmm_lock_create(void);         /* NULL when out of memory */
void lmm_lock_destroy(struct lmm_lock *l);
void lmm_lock_wait(struct lmm_lock *l);         /* the contended path (lock.c) */

/* Who is asking: the thread pointer (one register read) where the compiler offers it, else
 * pthread_self() (a library call).  Both are unique among live threads. */
static inline uintptr_t lmm_lock_self(void)
{
#if (defined(__x86_64__) || defined(__aarch64__)) && (defined(__clang__) || __GNUC__ >= 11)
    return (uintptr_t)__builtin_thread_pointer();
#else
    return (uintptr_t)pthread_self();
#endif
}

static inline void lmm_lock_take(struct lmm_lock *l)
{
    uintptr_t me = lmm_lock_self();
    if (__atomic_load_n(&l->owner, __ATOMIC_RELAXED) == me) {
        l->depth++;
        return;
    }
    if (__atomic_exchange_n(&l->state, 1, __ATOMIC_ACQUIRE))
        lmm_lock_wait(l);
    __atomic_store_n(&l->owner, me, __ATOMIC_RELAXED);
}

static inline void lmm_lock_drop(struct lmm_lock *l)
{
    if (l->depth) {
        l->depth--;
        return;
    }
    __atomic_store_n(&l->owner, (uintptr_t)0, __ATOMIC_RELAXED);
    __atomic_store_n(&l->state, 0, __ATOMIC_RELEASE);
}

static inline struct lmm_lock *lmm_lock_scope_enter(struct lmm_lock *l)
{
    if (l)
        lmm_lock_take(l);
    return l;
}

static inline void lmm_lock_scope_exit(struct lmm_lock **lp)
{
    if (*lp)
        lmm_lock_drop(*lp);
}

/* Hold `lock` (an engine's lock pointer, possibly NULL) until the enclosing block ends, on every
 * return path: the first statement of an entry point. */
#define LMM_LOCKED(lock) \
    struct lmm_lock *lmm_held_lock_ __attribute__((cleanup(lmm_lock_scope_exit), unused)) = \
        lmm_lock_scope_enter(lock)

#endif
