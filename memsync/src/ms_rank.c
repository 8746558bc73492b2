/* ms_rank.c - BM25, cosine and RRF (see ms_rank.h). */
#include "ms_rank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double ms_bm25_idf(uint64_t n_docs, uint64_t df)
{
    if (df > n_docs)
        df = n_docs;
    return log(1.0 + ((double)(n_docs - df) + 0.5) / ((double)df + 0.5));
}

double ms_bm25_term(double idf, uint32_t tf, uint32_t doc_len, double avg_len)
{
    if (tf == 0)
        return 0.0;
    double norm = avg_len > 0.0 ? (double)doc_len / avg_len : 1.0;
    double f = (double)tf;
    return idf * (f * (MS_BM25_K1 + 1.0)) / (f + MS_BM25_K1 * (1.0 - MS_BM25_B + MS_BM25_B * norm));
}

double ms_cosine(const float *a, const float *b, uint32_t dim)
{
    double dot = 0.0, na = 0.0, nb = 0.0;
    for (uint32_t i = 0; i < dim; i++) {
        dot += (double)a[i] * (double)b[i];
        na += (double)a[i] * (double)a[i];
        nb += (double)b[i] * (double)b[i];
    }
    if (na == 0.0 || nb == 0.0)
        return 0.0;
    return dot / (sqrt(na) * sqrt(nb));
}

/* Eight lanes as one GCC vector: lane j sums a[i+j]*b[i+j] over i in
 * steps of 8 - exactly the scalar definition in ms_rank.h, so every build
 * (SSE pairs by default, one AVX2 register where the CPU has it) gives the
 * same bits. memcpy loads: the rows need no alignment. */
typedef float ms_v8 __attribute__((vector_size(32)));

__attribute__((target_clones("avx2", "default")))
float ms_dot(const float *a, const float *b, uint32_t dim)
{
    ms_v8 acc = {0, 0, 0, 0, 0, 0, 0, 0};
    uint32_t i = 0;
    for (; i + 8 <= dim; i += 8) {
        ms_v8 x, y;
        memcpy(&x, a + i, sizeof x);
        memcpy(&y, b + i, sizeof y);
        acc += x * y;
    }
    float s[8];
    memcpy(s, &acc, sizeof s);
    for (; i < dim; i++)
        s[i & 7] += a[i] * b[i];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

/* Four rows against one query, each row's lanes and final combination
 * exactly as in ms_dot (so the same bits): the four accumulator chains are
 * independent, which lets the CPU overlap their add latencies, and every
 * load of the query serves four rows. */
__attribute__((target_clones("avx2", "default")))
void ms_dot4(const float *const a[4], const float *b, uint32_t dim, float out[4])
{
    ms_v8 acc0 = {0, 0, 0, 0, 0, 0, 0, 0}, acc1 = acc0, acc2 = acc0, acc3 = acc0;
    uint32_t i = 0;
    for (; i + 8 <= dim; i += 8) {
        ms_v8 x0, x1, x2, x3, y;
        memcpy(&y, b + i, sizeof y);
        memcpy(&x0, a[0] + i, sizeof x0);
        memcpy(&x1, a[1] + i, sizeof x1);
        memcpy(&x2, a[2] + i, sizeof x2);
        memcpy(&x3, a[3] + i, sizeof x3);
        acc0 += x0 * y;
        acc1 += x1 * y;
        acc2 += x2 * y;
        acc3 += x3 * y;
    }
    float s[4][8];
    memcpy(s[0], &acc0, sizeof s[0]);
    memcpy(s[1], &acc1, sizeof s[1]);
    memcpy(s[2], &acc2, sizeof s[2]);
    memcpy(s[3], &acc3, sizeof s[3]);
    for (int r = 0; r < 4; r++) {
        for (uint32_t j = i; j < dim; j++)
            s[r][j & 7] += a[r][j] * b[j];
        out[r] = ((s[r][0] + s[r][4]) + (s[r][1] + s[r][5])) +
                 ((s[r][2] + s[r][6]) + (s[r][3] + s[r][7]));
    }
}

float ms_inv_norm(const float *v, uint32_t dim)
{
    double n = 0.0;
    for (uint32_t i = 0; i < dim; i++)
        n += (double)v[i] * (double)v[i];
    return n > 0.0 ? (float)(1.0 / sqrt(n)) : 0.0f;
}

static int better(const ms_scored *x, const ms_scored *y)
{
    if (x->score != y->score)
        return x->score > y->score;
    return x->id < y->id;
}

static int scored_cmp(const void *a, const void *b)
{
    const ms_scored *x = a, *y = b;
    if (better(x, y))
        return -1;
    if (better(y, x))
        return 1;
    return 0;
}

void ms_rank_sort(ms_scored *v, size_t n)
{
    qsort(v, n, sizeof *v, scored_cmp);
}

/* Sift-down for a min-heap whose root is the worst kept candidate. */
static void heap_down(ms_scored *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && better(&h[w], &h[l]))
            w = l;
        if (r < n && better(&h[w], &h[r]))
            w = r;
        if (w == i)
            return;
        ms_scored t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

size_t ms_rank_top(ms_scored *v, size_t n, size_t keep)
{
    if (keep >= n) {
        ms_rank_sort(v, n);
        return n;
    }
    if (keep == 0)
        return 0;
    /* v[0..keep) becomes a heap of the best seen so far, worst at the root. */
    for (size_t i = keep / 2; i-- > 0;)
        heap_down(v, keep, i);
    for (size_t i = keep; i < n; i++) {
        if (better(&v[i], &v[0])) {
            v[0] = v[i];
            heap_down(v, keep, 0);
        }
    }
    ms_rank_sort(v, keep);
    return keep;
}

double ms_rrf_term(uint32_t rank, uint32_t k)
{
    return 1.0 / ((double)k + (double)rank);
}
