/* pool.c - persistent worker pool for the forward pass.
 *
 * A decode step dispatches ~50 short jobs (4 per layer, the logits), so
 * waking threads through a condition variable each time would cost more
 * than the work. Workers therefore spin on a generation counter and only
 * then sleep on the condvar. The spin is measured in time, not iterations:
 * it must outlast the serial work between two jobs, including the gap
 * between two decode steps (sampling, the caller's bookkeeping: ~0.1 ms),
 * because a worker that went to sleep costs a futex wake-up (tens of
 * microseconds on a VM) at the start of the next step. The caller is
 * thread 0 and runs its share itself.
 *
 * Determinism note: the pool only decides WHO computes an output element,
 * never the order of any reduction (docs/determinism.md).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "fpenv.h"
#include "vt_engine.h"

/* How long a waiting thread spins before it sleeps (workers) or yields
 * (the caller); the clock is read every 256 spins. */
#define VT_POOL_SPIN_NS 1000000L

static long pool_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static inline void pool_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

typedef struct vt_pool_worker {
    struct vt_pool *pool;
    int index;
    pthread_t thread;
} vt_pool_worker;

struct vt_pool {
    int n;
    vt_pool_worker *workers; /* n-1 of them; index 1..n-1 */
    void (*fn)(void *arg, int i, int n);
    void *arg;
    atomic_uint_fast64_t gen;  /* bumped once per vt_pool_run */
    atomic_int pending;        /* workers still running the current job */
    atomic_int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void *pool_main(void *p_)
{
    vt_pool_worker *w = p_;
    struct vt_pool *p = w->pool;
    uint_fast64_t seen = 0;
    (void)vt_fpenv_enter(); /* this thread only ever runs engine kernels */
    for (;;) {
        long t0 = pool_now_ns();
        unsigned spins = 0;
        while (atomic_load_explicit(&p->gen, memory_order_acquire) == seen &&
               !atomic_load_explicit(&p->stop, memory_order_acquire)) {
            pool_pause();
            if ((++spins & 255) != 0 || pool_now_ns() - t0 < VT_POOL_SPIN_NS)
                continue;
            pthread_mutex_lock(&p->mu);
            while (atomic_load_explicit(&p->gen, memory_order_acquire) == seen &&
                   !atomic_load_explicit(&p->stop, memory_order_acquire))
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load_explicit(&p->stop, memory_order_acquire))
            return NULL;
        seen = atomic_load_explicit(&p->gen, memory_order_acquire);
        p->fn(p->arg, w->index, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
    }
}

int vt_pool_create(int n_threads, vt_pool **out)
{
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024)
        return VT_ERR_INVAL;
    struct vt_pool *p = calloc(1, sizeof *p);
    if (!p)
        return VT_ERR_NOMEM;
    p->n = n_threads;
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->stop, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (n_threads > 1) {
        p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
        if (!p->workers) {
            vt_pool_destroy(p);
            return VT_ERR_NOMEM;
        }
        for (int i = 1; i < n_threads; i++) {
            vt_pool_worker *w = &p->workers[i - 1];
            w->pool = p;
            w->index = i;
            if (pthread_create(&w->thread, NULL, pool_main, w) != 0) {
                p->n = i; /* only the started ones get joined */
                vt_pool_destroy(p);
                return VT_ERR_NOMEM;
            }
        }
    }
    *out = p;
    return 0;
}

void vt_pool_destroy(vt_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->stop, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++)
        pthread_join(p->workers[i - 1].thread, NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->workers);
    free(p);
}

int vt_pool_size(const vt_pool *p)
{
    return p->n;
}

void vt_pool_run(vt_pool *p, void (*fn)(void *arg, int i, int n), void *arg)
{
    if (p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_release);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_acq_rel);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    long t0 = pool_now_ns();
    unsigned spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) != 0) {
        pool_pause();
        if ((++spins & 255) == 0 && pool_now_ns() - t0 > VT_POOL_SPIN_NS)
            sched_yield();
    }
}
