/* sampler.c - deterministic, stateless token sampling (docs/engine.md has
 * the exact definition other implementations must follow).
 *
 * vt_sample(logits, V, s, pos):
 *   Order: token a ranks before b when logit_a > logit_b, or they are equal
 *     and a < b. NaN ranks below every number (and NaN ties go by id).
 *   Greedy (temperature <= 0, NaN, or top_k == 1): the first token in that
 *     order = argmax, ties to the lowest id.
 *   Otherwise:
 *   1. Candidates: with top_k in 1..V-1 the top_k first tokens in rank
 *      order; else all V tokens, in rank order when top_p is active, in id
 *      order when it is not (no sort needed then).
 *   2. Weights, in candidate order: m = max logit / T (the first candidate's
 *      when ranked), x_i = logit_i / T, w_i = 1 when x_i == m, else
 *      vt_expf(x_i - m) (NaN -> 0). c_i = c_{i-1} + w_i in float, left to
 *      right (this IS the summation order).
 *   3. top_p in (0,1): keep the shortest prefix whose c_j >= top_p * c_last.
 *      The total is then c_j.
 *   4. u = vt_rng_uniform(seed, pos); t = u * total; the answer is the first
 *      candidate with c_i > t (the last kept one if rounding leaves none).
 * Nothing is kept between calls, so a verifier can check any position alone.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vt_engine.h"
#include "vt_math.h"

void vt_sampling_default(vt_sampling *s)
{
    s->temperature = 0.0f;
    s->top_k = 0;
    s->top_p = 1.0f;
    s->seed = 0;
}

/* SplitMix64's output function. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#define GOLDEN 0x9e3779b97f4a7c15ull

/* key = mix64(seed + GOLDEN); z = mix64(key + GOLDEN * (pos + 1));
 * u = (z >> 40) / 2^24: 24 bits, exact in float, in [0, 1). */
float vt_rng_uniform(uint64_t seed, uint32_t pos)
{
    uint64_t key = mix64(seed + GOLDEN);
    uint64_t z = mix64(key + GOLDEN * ((uint64_t)pos + 1));
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}

/* Does token a (value va) rank before token b (vb)? */
static int ranks_before(float va, int32_t a, float vb, int32_t b)
{
    int na = va != va, nb = vb != vb;
    if (na != nb)
        return nb; /* the number beats the NaN */
    if (!na && va != vb)
        return va > vb;
    return a < b;
}

/* The first token in rank order. Two passes instead of one ranks_before
 * per element (a branchy compare per logit was ~19% of a 15m replay):
 *   1. m = the largest non-NaN value. `x > m ? x : m` never takes a NaN, and
 *      max is exact, so 8 independent running maxima (which the compiler
 *      can keep in one vector) give the same m as a left-to-right scan.
 *   2. the first id whose value == m: the lowest id among the ties (+0 and
 *      -0 compare equal, as ranks_before treats them). No value equals m
 *      only when every value is NaN: they all tie, id 0 wins.
 * Same answer as the ranks_before scan for every input. */
static int32_t argmax(const float *x, uint32_t n)
{
    float mk[8];
    for (int k = 0; k < 8; k++)
        mk[k] = -INFINITY;
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            mk[k] = x[i + k] > mk[k] ? x[i + k] : mk[k];
    for (; i < n; i++)
        mk[0] = x[i] > mk[0] ? x[i] : mk[0];
    float m = mk[0];
    for (int k = 1; k < 8; k++)
        m = mk[k] > m ? mk[k] : m;
    for (i = 0; i < n; i++)
        if (x[i] == m)
            return (int32_t)i;
    return 0;
}

/* Heap of ids whose root is the WORST ranked: keeps the k best seen. */
static void sift_worst(const float *x, int32_t *h, uint32_t i, uint32_t n)
{
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && ranks_before(x[h[c]], h[c], x[h[c + 1]], h[c + 1]))
            c++; /* the worse child */
        if (!ranks_before(x[h[i]], h[i], x[h[c]], h[c]))
            return;
        int32_t t = h[i];
        h[i] = h[c];
        h[c] = t;
        i = c;
    }
}

/* Fill ids[0..k) with the k best tokens in rank order. O(V log k). */
static void top_k_ranked(const float *x, uint32_t v, uint32_t k, int32_t *ids)
{
    for (uint32_t i = 0; i < k; i++)
        ids[i] = (int32_t)i;
    for (uint32_t i = k / 2; i-- > 0;)
        sift_worst(x, ids, i, k);
    for (uint32_t i = k; i < v; i++) {
        if (ranks_before(x[i], (int32_t)i, x[ids[0]], ids[0])) {
            ids[0] = (int32_t)i;
            sift_worst(x, ids, 0, k);
        }
    }
    /* Heapsort: repeatedly move the worst to the end -> best first. */
    for (uint32_t end = k; end-- > 1;) {
        int32_t t = ids[0];
        ids[0] = ids[end];
        ids[end] = t;
        sift_worst(x, ids, 0, end);
    }
}

int32_t vt_sample(const float *logits, uint32_t vocab, const vt_sampling *s, uint32_t pos)
{
    if (!logits || vocab == 0 || vocab > (uint32_t)INT32_MAX)
        return VT_ERR_INVAL;
    float temp = s ? s->temperature : 0.0f;
    if (!(temp > 0.0f) || (s && s->top_k == 1))
        return argmax(logits, vocab);
    int top_p_on = s->top_p > 0.0f && s->top_p < 1.0f;
    uint32_t k = s->top_k > 0 && s->top_k < vocab ? s->top_k : vocab;
    int ranked = k < vocab || top_p_on;

    int32_t *ids = malloc((size_t)k * sizeof *ids);
    float *cum = malloc((size_t)k * sizeof *cum);
    if (!ids || !cum) {
        free(ids);
        free(cum);
        return VT_ERR_NOMEM;
    }
    if (ranked)
        top_k_ranked(logits, vocab, k, ids);
    else
        for (uint32_t i = 0; i < k; i++)
            ids[i] = (int32_t)i;
    float m = logits[ranked ? ids[0] : argmax(logits, vocab)] / temp;
    float c = 0.0f;
    for (uint32_t i = 0; i < k; i++) {
        float x = logits[ids[i]] / temp;
        float w = x == m ? 1.0f : vt_expf(x - m);
        if (w != w)
            w = 0.0f;
        c += w;
        cum[i] = c;
    }
    uint32_t n = k;
    if (top_p_on) {
        float need = s->top_p * cum[k - 1];
        n = 0;
        while (n < k - 1 && cum[n] < need)
            n++;
        n++;
    }
    float target = vt_rng_uniform(s->seed, pos) * cum[n - 1];
    int32_t pick = ids[n - 1];
    for (uint32_t i = 0; i < n; i++) {
        if (cum[i] > target) {
            pick = ids[i];
            break;
        }
    }
    free(ids);
    free(cum);
    return pick;
}
