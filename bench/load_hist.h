/* load_hist.h - a log-bucketed latency histogram (HDR-style) that many
 * threads can record into at once.
 *
 * Values are microseconds. Below 128 every value has its own bucket; above,
 * each power of two is split into 128 equal buckets, so a reported
 * percentile is within 1/128 (0.8%) of the true value. Buckets are atomic
 * counters: recording is one relaxed fetch_add, no lock, which keeps the
 * histogram out of the way of the NNG callback threads that feed it.
 */
#ifndef VT_LOAD_HIST_H
#define VT_LOAD_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#define LH_SUB_BITS 7
#define LH_SUB (1u << LH_SUB_BITS)
#define LH_BUCKETS (LH_SUB + 40u * LH_SUB) /* up to 2^47 us: 4 years */

typedef struct load_hist {
    _Atomic uint64_t bucket[LH_BUCKETS];
    _Atomic uint64_t count, sum_us, max_us;
} load_hist;

void load_hist_reset(load_hist *h);
void load_hist_record(load_hist *h, uint64_t us);
/* p in [0, 100]; 0 when empty. The value is the midpoint of the bucket
 * holding the p-th percentile sample (exact below 128 us). */
double load_hist_percentile(const load_hist *h, double p);
double load_hist_mean(const load_hist *h);
uint64_t load_hist_count(const load_hist *h);
uint64_t load_hist_max(const load_hist *h);
/* dst += src (both quiescent or not: counts are read atomically one by one). */
void load_hist_add(load_hist *dst, const load_hist *src);

#endif
