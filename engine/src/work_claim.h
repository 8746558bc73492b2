/* work_claim.h - dynamic split of one pool job's work units (internal).
 *
 * A decode step is memory-bound and runs ~50 pool jobs of a few tens of
 * microseconds; with a fixed split, whichever thread the memory system
 * serves worse decides each job's end while the other waits (measured on
 * the 110m model: ~3 us per job, ~5% of a step). Here each thread starts
 * on its own contiguous segment of units, front to back (one stream for
 * the prefetchers), and a thread that runs out takes units from the BACK
 * of another thread's segment. Every unit is claimed exactly once (one
 * compare-and-swap on the segment's front/back pair), so each output
 * element is still computed by exactly one thread with the same kernel:
 * who computes it never changes its bits (docs/determinism.md).
 */
#ifndef VT_WORK_CLAIM_H
#define VT_WORK_CLAIM_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#define VT_CLAIM_MAX_THREADS 64

typedef struct vt_claim_seg {
    alignas(64) _Atomic uint64_t fb; /* next front unit (low 32 bits), end (high 32) */
} vt_claim_seg;

typedef struct vt_claims {
    vt_claim_seg seg[VT_CLAIM_MAX_THREADS];
} vt_claims;

/* Before the pool job starts: thread i owns units [n*i/nt, n*(i+1)/nt).
 * Returns 0 when nt is too large (the caller then splits statically). */
static inline int vt_claims_init(vt_claims *cl, int n_units, int nt)
{
    if (nt < 1 || nt > VT_CLAIM_MAX_THREADS)
        return 0;
    for (int i = 0; i < nt; i++) {
        uint64_t lo = (uint64_t)((int64_t)n_units * i / nt);
        uint64_t hi = (uint64_t)((int64_t)n_units * (i + 1) / nt);
        atomic_store_explicit(&cl->seg[i].fb, hi << 32 | lo, memory_order_relaxed);
    }
    return 1;
}

/* The next unit for thread i of nt: its own segment's front, else the back
 * of another segment. 0 when every unit is taken. */
static inline int vt_claim(vt_claims *cl, int i, int nt, int *unit)
{
    for (int k = 0; k < nt; k++) {
        vt_claim_seg *s = &cl->seg[(i + k) % nt];
        uint64_t v = atomic_load_explicit(&s->fb, memory_order_relaxed);
        for (;;) {
            uint32_t f = (uint32_t)v, b = (uint32_t)(v >> 32);
            if (f >= b)
                break;
            uint64_t nv = k == 0 ? v + 1 : ((uint64_t)(b - 1) << 32 | f);
            if (atomic_compare_exchange_weak_explicit(&s->fb, &v, nv, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                *unit = k == 0 ? (int)f : (int)(b - 1);
                return 1;
            }
        }
    }
    return 0;
}

#endif
