/* kernels_avx2_f32.c - the F32 / F16 matmul of the AVX2 table (compiled with
 * -mavx2 -mfma -mf16c like every *_avx2* file).
 *
 * The order is vt_k_dot_f32's (vt_kernels.h): output (r, t) owns 32 lane
 * accumulators, element i of the row goes to lane i % 32 by fmaf, the row is
 * zero-padded to a multiple of 32, then vt_k_fold32. With vectors, lane
 * group g (lanes 8g..8g+7) is one __m256 chain
 *     acc_g = fmadd(w[32b + 8g ..], x[32b + 8g ..], acc_g),  b = 0, 1, ...
 * and the fold is vt_avx2_fold32(acc_0, acc_1, acc_2, acc_3).
 *
 * Why this is not one dot product per output: a single dot keeps 4 chains
 * in flight, and a chain can take one fmadd per FMA latency (4 cycles on
 * Zen 3), so it runs at a quarter of the FMA rate, and it loads one x vector
 * per fmadd. Two freedoms leave every chain's own sequence unchanged:
 *  - several outputs can run side by side (a register tile of R rows x T
 *    tokens): each loaded w vector feeds T chains, each x vector R chains;
 *  - the four chains of one output never meet before the fold, so they need
 *    not run at the same time: a pass can run only G of them and park them
 *    in memory (a store and a load of a float are exact) until the fold.
 * Prefill runs tiles of 3 rows x 4 tokens, one lane group per pass: 12
 * chains in registers, 3 w and 4 x loads per 12 fmadd, four passes per
 * tile. Decode (one token) runs 3 rows over all four groups in one pass. */
#include <immintrin.h>
#include <string.h>

#include "kernels_avx2_f32.h"

#define VT_F_ALWAYS static inline __attribute__((always_inline))

/* Largest tile the code below instantiates (sizes the arrays). */
#define VT_F_MAXR 4
#define VT_F_MAXT 6

/* 8 weights from element i of an F32 (f16 == 0) or F16 row, as floats
 * (the F16C conversion is exact). */
VT_F_ALWAYS __m256 ld8(const void *w, int f16, long i)
{
    return f16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)))
               : _mm256_loadu_ps((const float *)w + i);
}

/* The chains of lane groups g0 .. g0+G-1 of an R x T tile over blocks
 * b0 .. b1-1: acc[(r*T + t)*G + k] is lane group g0+k of output (r, t).
 * Row r of w starts at element r*ldw, token t of x at t*ldx. */
VT_F_ALWAYS void chains(__m256 *acc, const void *w, int f16, long ldw, const float *x, long ldx,
                        int b0, int b1, int g0, int G, int R, int T, int PF, const char *pf)
{
    for (int b = b0; b < b1; b++) {
        if (PF && pf) /* R rows' worth of lines per block: see one_token */
            for (int k = 0; k < R * 32 * (f16 ? 2 : 4); k += 64)
                _mm_prefetch(pf + (long)(b - b0) * R * 32 * (f16 ? 2 : 4) + k, _MM_HINT_T0);
#pragma GCC unroll 4
        for (int k = 0; k < G; k++) {
            long o = (long)b * 32 + (g0 + k) * 8;
            __m256 wv[VT_F_MAXR];
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                wv[r] = ld8(w, f16, r * ldw + o);
#pragma GCC unroll 6
            for (int t = 0; t < T; t++) {
                __m256 xv = _mm256_loadu_ps(x + t * ldx + o);
                /* keep x in a register: folded into each fmadd it would be
                 * loaded R times */
                __asm__("" : "+x"(xv));
#pragma GCC unroll 4
                for (int r = 0; r < R; r++)
                    acc[(r * T + t) * G + k] = _mm256_fmadd_ps(wv[r], xv, acc[(r * T + t) * G + k]);
            }
        }
    }
}

/* Blocks b0 .. b1-1 of an R x T tile's dot products, G lane groups per
 * pass. The chains start at zero when b0 == 0, else from park (4 vectors
 * per output, lane group major: park[g*R*T + r*T + t]); they go back to
 * park unless this slice ends the row (b1 == nb), where the last partial
 * block (n % 32 elements) runs from zero-padded copies - the padded steps
 * are fmaf(+0, +0, acc), as the definition says - and each output is
 * folded into y[t*ldy + r]. */
VT_F_ALWAYS void tile(const void *w, int f16, long ldw, const float *x, long ldx, int n, int b0,
                      int b1, __m256 *park, int R, int T, int G, float *y, long ldy, int PF,
                      const char *pf)
{
    int nb = n / 32, rem = n % 32, last = b1 == nb;
    float tw[VT_F_MAXR][32], tx[VT_F_MAXT][32];
    if (last && rem) {
        for (int r = 0; r < R; r++)
            for (int k = 0; k < 32; k++) {
                long i = r * ldw + (long)nb * 32 + k;
                tw[r][k] = k >= rem ? 0.0f
                           : f16    ? vt_k_f16(((const uint16_t *)w)[i])
                                    : ((const float *)w)[i];
            }
        for (int t = 0; t < T; t++)
            for (int k = 0; k < 32; k++)
                tx[t][k] = k < rem ? x[t * ldx + (long)nb * 32 + k] : 0.0f;
    }
    __m256 res[4 * VT_F_MAXR * VT_F_MAXT];
    __m256 *out = last ? res : park;
    for (int g0 = 0; g0 < 4; g0 += G) {
        __m256 acc[VT_F_MAXR * VT_F_MAXT * 4];
#pragma GCC unroll 24
        for (int i = 0; i < R * T; i++)
            for (int k = 0; k < G; k++)
                acc[i * G + k] = b0 == 0 ? _mm256_setzero_ps() : park[(g0 + k) * R * T + i];
        chains(acc, w, f16, ldw, x, ldx, b0, b1, g0, G, R, T, PF, pf);
        if (last && rem)
            chains(acc, tw, 0, 32, &tx[0][0], 32, 0, 1, g0, G, R, T, 0, NULL);
#pragma GCC unroll 24
        for (int i = 0; i < R * T; i++)
            for (int k = 0; k < G; k++)
                out[(g0 + k) * R * T + i] = acc[i * G + k];
    }
    if (!last)
        return;
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) {
            int i = r * T + t, q = R * T;
            y[t * ldy + r] = vt_avx2_fold32(res[i], res[q + i], res[2 * q + i], res[3 * q + i]);
        }
}

/* Tile shapes. Prefill: VT_F_PR rows x VT_F_PT tokens (VT_F_PT - 1 tokens
 * and single rows for the remainders), VT_F_PG lane groups per pass:
 * VT_F_PR * VT_F_PT * VT_F_PG = 12 chains in registers plus VT_F_PR w
 * vectors and one x vector. (3 x 4 x 1 measured ~13% faster prefill than
 * 2 x 3 x 2, which loads 10 vectors per 12 fmadd instead of 7.) Decode:
 * VT_F_DR rows of one token, all four lane groups in one pass. The -D
 * overrides are for experiments; every shape gives the same bits. */
#ifndef VT_F_PR
#define VT_F_PR 3
#endif
#ifndef VT_F_PT
#define VT_F_PT 4
#endif
#ifndef VT_F_PG
#define VT_F_PG 1
#endif
#ifndef VT_F_DR
#define VT_F_DR 3
#endif

/* The common prefill case: n % 32 == 0 (no padded block) and G == 1.
 * Runs `nrt` groups of R rows, one after another, against one token tile of
 * T over blocks b0 .. b1-1 (last: b1 ends the row), so the set-up is paid
 * once per token tile and slice rather than once per row group. Group k's chains start from and go
 * back to park + k * 4*R*VT_F_PT (as in tile()) unless the slice starts or
 * ends the row. In the slice that ends the row, the fold (v0+v1)+(v2+v3)
 * is built as the passes end - s01 = v0+v1 after the second pass, then
 * t = s01 + (v2+v3) in registers after the fourth, the same three
 * additions - and the rest of each output's fold runs eight outputs at a
 * time (vt_avx2_fold32x8). Same bits as tile(). */
VT_F_ALWAYS void tile_rows(const void *w, int f16, long ldw, const float *x, long ldx, int b0,
                           int b1, int last, int nrt, __m256 *park, float *y, long ldy, int R,
                           int T)
{
    enum { Q = VT_F_MAXR * VT_F_MAXT };
    for (int rt = 0; rt < nrt; rt++) {
        const void *wr = (const char *)w + (size_t)rt * R * ldw * (f16 ? 2 : 4);
        __m256 *pk = park + (size_t)rt * 4 * R * VT_F_PT;
        /* s01 and v2 wait in memory (the barrier keeps gcc from holding
         * them in registers across the passes, which spilled the chains) */
        __m256 s01[Q], v2[Q], acc[Q];
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) {
#pragma GCC unroll 24
            for (int i = 0; i < R * T; i++)
                acc[i] = b0 == 0 ? _mm256_setzero_ps() : pk[g * R * T + i];
            chains(acc, wr, f16, ldw, x, ldx, b0, b1, g, 1, R, T, 0, NULL);
#pragma GCC unroll 24
            for (int i = 0; i < R * T; i++) {
                if (!last)
                    pk[g * R * T + i] = acc[i];
                else if (g == 0)
                    s01[i] = acc[i];
                else if (g == 1)
                    s01[i] = _mm256_add_ps(s01[i], acc[i]);
                else if (g == 2)
                    v2[i] = acc[i];
                else
                    acc[i] = _mm256_add_ps(s01[i], _mm256_add_ps(v2[i], acc[i]));
            }
            __asm__ volatile("" : : "r"(s01), "r"(v2) : "memory");
        }
        if (!last)
            continue;
        /* outputs i = r*T + t, eight at a time */
        float *yr = y + (long)rt * R;
        for (int i0 = 0; i0 < R * T; i0 += 8) {
            __m256 t8[8];
            float f[8];
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
                t8[j] = acc[i0 + j < R * T ? i0 + j : i0];
            _mm256_storeu_ps(f, vt_avx2_fold32x8(t8));
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
                if (i0 + j < R * T)
                    yr[(i0 + j) % T * ldy + (i0 + j) / T] = f[j];
        }
    }
}

typedef void (*rows_fn)(const void *w, long ldw, const float *x, long ldx, int b0, int b1,
                        int nb, int nrt, __m256 *park, float *y, long ldy);
#define ROWS(NAME, F16, R, T)                                                                \
    static void NAME(const void *w, long ldw, const float *x, long ldx, int b0, int b1, int nb, \
                     int nrt, __m256 *park, float *y, long ldy)                                 \
    {                                                                                          \
        if (b1 == nb) /* two copies: `last` is a constant in each */                          \
            tile_rows(w, F16, ldw, x, ldx, b0, b1, 1, nrt, park, y, ldy, R, T);                \
        else                                                                                   \
            tile_rows(w, F16, ldw, x, ldx, b0, b1, 0, nrt, park, y, ldy, R, T);                \
    }

typedef void (*tile_fn)(const void *w, long ldw, const float *x, long ldx, int n, int b0,
                        int b1, __m256 *park, float *y, long ldy, const char *pf);

/* PF: the tile prefetches (decode tiles only: a prefill tile's rows are in
 * L2 already, and prefetching the next tile's rows into L1 measured slower) */
#define TILE(NAME, F16, R, T, G, PF)                                                           \
    static void NAME(const void *w, long ldw, const float *x, long ldx, int n, int b0, int b1, \
                     __m256 *park, float *y, long ldy, const char *pf)                         \
    {                                                                                          \
        tile(w, F16, ldw, x, ldx, n, b0, b1, park, R, T, G, y, ldy, PF, pf);                   \
    }
/* [f16][rows == VT_F_PR][tokens == VT_F_PT] */
TILE(pre32_full, 0, VT_F_PR, VT_F_PT, VT_F_PG, 0)
TILE(pre32_short, 0, VT_F_PR, VT_F_PT - 1, VT_F_PG, 0)
TILE(pre32_r1_full, 0, 1, VT_F_PT, VT_F_PG, 0)
TILE(pre32_r1_short, 0, 1, VT_F_PT - 1, VT_F_PG, 0)
TILE(pre16_full, 1, VT_F_PR, VT_F_PT, VT_F_PG, 0)
TILE(pre16_short, 1, VT_F_PR, VT_F_PT - 1, VT_F_PG, 0)
TILE(pre16_r1_full, 1, 1, VT_F_PT, VT_F_PG, 0)
TILE(pre16_r1_short, 1, 1, VT_F_PT - 1, VT_F_PG, 0)
static const tile_fn pre_tiles[2][2][2] = {
    {{pre32_r1_short, pre32_r1_full}, {pre32_short, pre32_full}},
    {{pre16_r1_short, pre16_r1_full}, {pre16_short, pre16_full}},
};
TILE(dec32, 0, VT_F_DR, 1, 4, 1)
TILE(dec16, 1, VT_F_DR, 1, 4, 1)
TILE(dec32_r2, 0, 2, 1, 4, 1)
TILE(dec16_r2, 1, 2, 1, 4, 1)
TILE(dec32_r1, 0, 1, 1, 4, 1)
TILE(dec16_r1, 1, 1, 1, 4, 1)
_Static_assert(VT_F_DR >= 1 && VT_F_DR <= 3, "dec_tiles holds tiles of 1 to 3 rows");
static const tile_fn dec_tiles[2][3] = {{dec32_r1, dec32_r2, dec32}, {dec16_r1, dec16_r2, dec16}};

/* [f16][tokens == VT_F_PT] */
#if VT_F_PG == 1
ROWS(rows32_full, 0, VT_F_PR, VT_F_PT)
ROWS(rows32_short, 0, VT_F_PR, VT_F_PT - 1)
ROWS(rows16_full, 1, VT_F_PR, VT_F_PT)
ROWS(rows16_short, 1, VT_F_PR, VT_F_PT - 1)
static const rows_fn rows_tiles[2][2] = {{rows32_short, rows32_full}, {rows16_short, rows16_full}};
#endif

/* Row blocks: the rows of one block stay in L2 while every token tile
 * passes over them. K slices: a token tile's slice of x stays in L1 while
 * the block's rows pass over it; rows longer than VT_F_KSLICE elements are
 * cut in slices whose chains are parked in between. */
#ifndef VT_F_ROWBLOCK_BYTES
#define VT_F_ROWBLOCK_BYTES (192 * 1024)
#endif
#ifndef VT_F_KSLICE
#define VT_F_KSLICE 1024
#endif
#define VT_F_PARK_ROWS 64

/* One token over rows [r0, r1) of a matrix of `rows` rows: VT_F_DR rows
 * at a time, then what is left. This streams the weights once (decode is
 * bound by memory bandwidth), so each tile prefetches the rows
 * VT_F_DPF * VT_F_DR ahead, spread over its blocks: the hardware prefetcher
 * alone keeps too few lines in flight. The prefetch may reach past r1 (the
 * next range, which this or the other thread reads next; decode hands out
 * small ranges), never past the matrix. */
#ifndef VT_F_DPF
#define VT_F_DPF 2
#endif
static void one_token(int f16, const uint8_t *w, long n, int rows, int r0, int r1,
                      const float *x, float *y)
{
    size_t rowb = (size_t)n * (f16 ? 2 : 4);
    int nb = (int)(n / 32);
    for (int r = r0; r < r1;) {
        int nr = r1 - r < VT_F_DR ? r1 - r : VT_F_DR, ahead = r + VT_F_DPF * VT_F_DR;
        const char *pf = VT_F_DPF && ahead + nr <= rows ? (const char *)w + (size_t)ahead * rowb
                                                        : NULL;
        dec_tiles[f16][nr - 1](w + (size_t)r * rowb, n, x, n, (int)n, 0, nb, NULL, y + r, 0, pf);
        r += nr;
    }
}

void vt_avx2_matmul_f(const vt_mat *m, int r0, int r1, const vt_xin *in, float *y, int ldy)
{
    int f16 = m->type == VT_DTYPE_F16;
    long n = (long)m->cols;
    size_t rowb = (size_t)n * (f16 ? 2 : 4);
    const uint8_t *wb = m->packed ? m->packed : m->data; /* the huge-page copy */
    int T = in->T, nb = (int)(n / 32);
    if (T == 1) {
        one_token(f16, wb, n, (int)m->rows, r0, r1, in->x, y);
        return;
    }
    int nslices = (int)((n + VT_F_KSLICE - 1) / VT_F_KSLICE);
    long rb = VT_F_ROWBLOCK_BYTES / (long)rowb;
    if (nslices > 1 && rb > VT_F_PARK_ROWS)
        rb = VT_F_PARK_ROWS; /* the park holds a block's chains */
    rb = rb < VT_F_PR ? VT_F_PR : rb / VT_F_PR * VT_F_PR;
    __m256 park[VT_F_PARK_ROWS * VT_F_PT * 4];
    /* Token tiles of VT_F_PT, with nshort tiles of VT_F_PT - 1 first so that
     * they add up to T where they can; a token left over runs by itself. */
    int nshort0 = (VT_F_PT - T % VT_F_PT) % VT_F_PT;
    for (int b0 = r0; b0 < r1; b0 += (int)rb) {
        int b1 = r1 - b0 < rb ? r1 : b0 + (int)rb;
        int nshort = nshort0;
        for (int t = 0; t < T;) {
            int nt = nshort > 0 ? VT_F_PT - 1 : VT_F_PT;
            nt = T - t < nt ? T - t : nt;
            if (nt < VT_F_PT - 1 || nt < 2) {
                one_token(f16, wb, n, (int)m->rows, b0, b1, in->x + (long)t * n,
                          y + (long)t * ldy);
                t++;
                continue;
            }
            const float *xt = in->x + (long)t * n;
            float *yt = y + (long)t * ldy;
            for (int s = 0; s < nslices; s++) {
                int k0 = (int)((long)nb * s / nslices), k1 = (int)((long)nb * (s + 1) / nslices);
                int r = b0;
#if VT_F_PG == 1
                if (n % 32 == 0) {
                    int nrt = (b1 - b0) / VT_F_PR;
                    rows_tiles[f16][nt == VT_F_PT](wb + (size_t)b0 * rowb, n, xt, n, k0, k1, nb,
                                                   nrt, park, yt + b0, ldy);
                    r += nrt * VT_F_PR;
                }
#endif
                while (r < b1) { /* rows left over (or every row: tile() alone) */
                    int nr = b1 - r >= VT_F_PR ? VT_F_PR : 1;
                    __m256 *pk = nslices > 1 ? park + (size_t)(r - b0) * VT_F_PT * 4 : NULL;
                    tile_fn fn = pre_tiles[f16][nr == VT_F_PR][nt == VT_F_PT];
                    fn(wb + (size_t)r * rowb, n, xt, n, (int)n, k0, k1, pk, yt + r, ldy, NULL);
                    r += nr;
                }
            }
            nshort -= nshort > 0;
            t += nt;
        }
    }
}
