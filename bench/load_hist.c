/* load_hist.c - see load_hist.h. */
#include "load_hist.h"

#include <string.h>

void load_hist_reset(load_hist *h)
{
    for (uint32_t i = 0; i < LH_BUCKETS; i++)
        atomic_store_explicit(&h->bucket[i], 0, memory_order_relaxed);
    atomic_store(&h->count, 0);
    atomic_store(&h->sum_us, 0);
    atomic_store(&h->max_us, 0);
}

/* Bucket of v: v itself below LH_SUB; else octave e (2^e <= v < 2^(e+1))
 * contributes LH_SUB buckets indexed by the LH_SUB_BITS bits after the
 * leading one. */
static uint32_t index_of(uint64_t v)
{
    if (v < LH_SUB)
        return (uint32_t)v;
    uint32_t e = 63u - (uint32_t)__builtin_clzll(v);
    uint32_t shift = e - LH_SUB_BITS;
    uint64_t idx = LH_SUB + (uint64_t)shift * LH_SUB + ((v >> shift) - LH_SUB);
    return idx < LH_BUCKETS ? (uint32_t)idx : LH_BUCKETS - 1;
}

/* Lower bound and width of bucket i (inverse of index_of). */
static void bucket_range(uint32_t i, double *lo, double *width)
{
    if (i < LH_SUB) {
        *lo = i;
        *width = 1;
        return;
    }
    uint32_t shift = (i - LH_SUB) / LH_SUB;
    uint64_t m = LH_SUB + (i - LH_SUB) % LH_SUB;
    *lo = (double)(m << shift);
    *width = (double)((uint64_t)1 << shift);
}

void load_hist_record(load_hist *h, uint64_t us)
{
    atomic_fetch_add_explicit(&h->bucket[index_of(us)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
    uint64_t m = atomic_load_explicit(&h->max_us, memory_order_relaxed);
    while (us > m && !atomic_compare_exchange_weak(&h->max_us, &m, us))
        ;
}

double load_hist_percentile(const load_hist *h, double p)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < LH_BUCKETS; i++)
        total += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
    if (total == 0)
        return 0;
    if (p < 0)
        p = 0;
    if (p > 100)
        p = 100;
    /* Rank of the sample, 1-based: the smallest rank covering p percent. */
    uint64_t rank = (uint64_t)((p / 100.0) * (double)total + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < LH_BUCKETS; i++) {
        seen += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        if (seen >= rank) {
            double lo, w;
            bucket_range(i, &lo, &w);
            double mid = w > 1 ? lo + w / 2 : lo;
            double mx = (double)atomic_load(&h->max_us);
            return mid > mx ? mx : mid;
        }
    }
    return (double)atomic_load(&h->max_us);
}

double load_hist_mean(const load_hist *h)
{
    uint64_t n = atomic_load(&h->count);
    return n ? (double)atomic_load(&h->sum_us) / (double)n : 0;
}

uint64_t load_hist_count(const load_hist *h) { return atomic_load(&h->count); }
uint64_t load_hist_max(const load_hist *h) { return atomic_load(&h->max_us); }

void load_hist_add(load_hist *dst, const load_hist *src)
{
    for (uint32_t i = 0; i < LH_BUCKETS; i++) {
        uint64_t v = atomic_load_explicit(&src->bucket[i], memory_order_relaxed);
        if (v)
            atomic_fetch_add_explicit(&dst->bucket[i], v, memory_order_relaxed);
    }
    atomic_fetch_add(&dst->count, atomic_load(&src->count));
    atomic_fetch_add(&dst->sum_us, atomic_load(&src->sum_us));
    uint64_t m = atomic_load(&src->max_us), d = atomic_load(&dst->max_us);
    while (m > d && !atomic_compare_exchange_weak(&dst->max_us, &d, m))
        ;
}
