/* ms_rank.h - scoring and fusion: BM25, cosine similarity, reciprocal rank
 * fusion. Pure functions over plain arrays so the unit tests can check them
 * against hand computations. */
#ifndef MS_RANK_H
#define MS_RANK_H

#include <stddef.h>
#include <stdint.h>

/* BM25 parameters (Robertson/Sparck Jones; the usual defaults). */
#define MS_BM25_K1 1.2
#define MS_BM25_B 0.75

/* Inverse document frequency of a term found in df of n_docs documents:
 * ln(1 + (N - df + 0.5) / (df + 0.5)) - the Lucene form, never negative. */
double ms_bm25_idf(uint64_t n_docs, uint64_t df);

/* One term's contribution for a document where it occurs tf times, the
 * document having doc_len tokens and the collection avg_len on average. */
double ms_bm25_term(double idf, uint32_t tf, uint32_t doc_len, double avg_len);

/* cos(a, b) = a.b / (|a| |b|), accumulated in double in index order;
 * 0 when either vector is all zeros. */
double ms_cosine(const float *a, const float *b, uint32_t dim);

/* Float dot product for the search hot path: 8 partial sums (lane i % 8),
 * combined as ((s0+s4)+(s1+s5))+((s2+s6)+(s3+s7)); the fixed order keeps
 * results identical run to run, and the lanes let the compiler vectorize
 * without -ffast-math. */
float ms_dot(const float *a, const float *b, uint32_t dim);

/* ms_dot of four rows a[0..3] with b at once: out[r] has exactly the bits
 * of ms_dot(a[r], b, dim); faster because the rows' sums run in parallel. */
void ms_dot4(const float *const a[4], const float *b, uint32_t dim, float out[4]);

/* 1/|v| in double, or 0 for a zero vector. */
float ms_inv_norm(const float *v, uint32_t dim);

/* A candidate in a ranking: identified by its position `doc` in the
 * caller's arrays, with a score; higher scores rank first, ties go to the
 * smaller id (older memory first) so rankings are deterministic. */
typedef struct ms_scored {
    uint32_t doc;
    uint64_t id;
    double score;
} ms_scored;

/* Sort descending by score, ties by ascending id. */
void ms_rank_sort(ms_scored *v, size_t n);

/* Keep the best `keep` of v[0..n) in order (partial selection, then sort);
 * returns the new count. */
size_t ms_rank_top(ms_scored *v, size_t n, size_t keep);

/* 1 / (k + rank), rank 1-based. */
double ms_rrf_term(uint32_t rank, uint32_t k);

#endif
