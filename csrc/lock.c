/*
 * lock.c - the engines' recursive lock (see lock.h): creation, the contended path, and the
 * entry points Python uses to hold it across several calls (`with k.lock:`).
 */
#include <stdint.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "lmm.h"
#include "lock.h"

struct lmm_lock *lmm_lock_create(void)
{
    return calloc(1, sizeof(struct lmm_lock));
}

void lmm_lock_destroy(struct lmm_lock *l)
{
    free(l);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("pause");
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Spin a little (the holder is usually inside one short C call), then yield, then nap: the
 * holder may be a Python thread that holds the lock between calls and waits for the GIL. */
void lmm_lock_wait(struct lmm_lock *l)
{
    for (unsigned int tries = 0;; tries++) {
        if (__atomic_load_n(&l->state, __ATOMIC_RELAXED) == 0 &&
            !__atomic_exchange_n(&l->state, 1, __ATOMIC_ACQUIRE))
            return;
        if (tries < 128) {
            cpu_relax();
        } else if (tries < 256) {
            sched_yield();
        } else {
            struct timespec nap = {0, 20000};       /* 20 us */
            nanosleep(&nap, NULL);
        }
    }
}

void lmm_lock_acquire(struct lmm_lock *l)
{
    lmm_lock_take(l);
}

int lmm_lock_try_acquire(struct lmm_lock *l)
{
    uintptr_t me = lmm_lock_self();
    if (__atomic_load_n(&l->owner, __ATOMIC_RELAXED) == me) {
        l->depth++;
        return 1;
    }
    if (__atomic_exchange_n(&l->state, 1, __ATOMIC_ACQUIRE))
        return 0;
    __atomic_store_n(&l->owner, me, __ATOMIC_RELAXED);
    return 1;
}

int lmm_lock_release(struct lmm_lock *l)
{
    if (__atomic_load_n(&l->owner, __ATOMIC_RELAXED) != lmm_lock_self())
        return -LMM_EPERM;
    lmm_lock_drop(l);
    return 0;
}

int lmm_lock_held(struct lmm_lock *l)
{
    if (__atomic_load_n(&l->owner, __ATOMIC_RELAXED) != lmm_lock_self())
        return 0;
    return l->depth + 1;
}

/* n uncontended take/drop pairs as an entry point does them: what the lock adds to a call. */
int64_t lmm_lock_bench(struct lmm_lock *l, int64_t n)
{
    int64_t held = 0;
    for (int64_t i = 0; i < n; i++) {
        LMM_LOCKED(l);
        held += l->state;
        __asm__ volatile("" ::: "memory");
    }
    return held;
}
