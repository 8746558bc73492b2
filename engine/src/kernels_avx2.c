/* kernels_avx2.c - the AVX2/FMA/F16C kernel table. Compiled with
 * -mavx2 -mfma -mf16c (engine/CMakeLists.txt) and used only when the CPU has
 * them. Every kernel follows the operation order of vt_kernels.h exactly;
 * the comments say which scalar function each one mirrors. */
#include <immintrin.h>
#include <string.h>

#include "kernels_avx2_f32.h"
#include "kernels_rows.h"

/* vt_k_dot_f32: lane i%32 accumulates fmaf(w[i], x[i], .); masked loads
 * give 0 in the lanes past n: the definition's fmaf(0, 0, acc) padding.
 * (F32 only: the F32/F16 matmul lives in kernels_avx2_f32.c; this serves
 * the attention's leftover keys.) */
static float dot_f32(const float *w, const float *x, int n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    if (i < n) {
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - i), lane);
        __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - i - 8), lane);
        __m256i m2 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - i - 16), lane);
        __m256i m3 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - i - 24), lane);
        a0 = _mm256_fmadd_ps(_mm256_maskload_ps(w + i, m0), _mm256_maskload_ps(x + i, m0), a0);
        a1 = _mm256_fmadd_ps(_mm256_maskload_ps(w + i + 8, m1), _mm256_maskload_ps(x + i + 8, m1), a1);
        a2 = _mm256_fmadd_ps(_mm256_maskload_ps(w + i + 16, m2), _mm256_maskload_ps(x + i + 16, m2), a2);
        a3 = _mm256_fmadd_ps(_mm256_maskload_ps(w + i + 24, m3), _mm256_maskload_ps(x + i + 24, m3), a3);
    }
    return vt_avx2_fold32(a0, a1, a2, a3);
}

/* Decode streams every weight once per token: the packed groups of a
 * thread's rows are one contiguous range, read at DRAM speed. The hardware
 * prefetcher alone keeps too few lines in flight for that (measured on
 * Zen 3: the T=1 kernel reached ~75% of a plain read loop, ~85-88% with this
 * prefetch), so each block asks for the block VT_Q8_PF bytes ahead. Reading
 * past the range's end is harmless: prefetches never fault. */
#define VT_Q8_PF 2048

static inline void q8_prefetch(const uint8_t *p)
{
    /* a block is 272 bytes; the line of its last 16 bytes is the first
     * line of the next block's prefetch */
    for (int o = 0; o < VT_PACK_BLOCK_BYTES; o += 64)
        _mm_prefetch((const char *)p + o, _MM_HINT_T0);
}

/* vt_k_dot_q8 for 8 rows at once (one packed group), lane r = row r:
 *   isum_r = exact int32 dot of the block pair  (maddubs/madd, then a
 *            transposing hadd tree: integer adds, order irrelevant)
 *   acc_r  = fmaf((float)isum_r, f16(dw_r) * dx_b, acc_r), blocks in order.
 * maddubs(|x|, sign(w, x)) multiplies w*x exactly: |x| <= 127 and w is in
 * [-127, 127] (the loader rejects -128), so no int16 saturation. */
static inline __m256 q8_group(const uint8_t *gp, int nb, const int8_t *xq, const float *xd)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *bp = gp + (long)b * VT_PACK_BLOCK_BYTES;
        q8_prefetch(bp + VT_Q8_PF);
        __m256i xv = _mm256_loadu_si256((const __m256i *)(xq + b * VT_QK));
        __m256i xa = _mm256_abs_epi8(xv);
        __m256i p[8];
        for (int r = 0; r < 8; r++) {
            __m256i w = _mm256_loadu_si256((const __m256i *)(bp + 16 + 32 * r));
            p[r] = _mm256_madd_epi16(_mm256_maddubs_epi16(xa, _mm256_sign_epi8(w, xv)), ones);
        }
        __m256i s0123 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]),
                                          _mm256_hadd_epi32(p[2], p[3]));
        __m256i s4567 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]),
                                          _mm256_hadd_epi32(p[6], p[7]));
        __m256i isum = _mm256_add_epi32(_mm256_permute2x128_si256(s0123, s4567, 0x20),
                                        _mm256_permute2x128_si256(s0123, s4567, 0x31));
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)bp));
        __m256 s = _mm256_mul_ps(dw, _mm256_set1_ps(xd[b]));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), s, acc);
    }
    return acc;
}

/* q8_group for two tokens at once: each weight block is loaded once and
 * used for both (same arithmetic per token as q8_group). */
static inline __m256i q8_isum8(const __m256i *p)
{
    __m256i s0123 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
    __m256i s4567 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(s0123, s4567, 0x20),
                            _mm256_permute2x128_si256(s0123, s4567, 0x31));
}

static inline void q8_group2(const uint8_t *gp, int nb, const int8_t *xq0, const float *xd0,
                             const int8_t *xq1, const float *xd1, __m256 *out0, __m256 *out1)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *bp = gp + (long)b * VT_PACK_BLOCK_BYTES;
        __m256i x0 = _mm256_loadu_si256((const __m256i *)(xq0 + b * VT_QK));
        __m256i x1 = _mm256_loadu_si256((const __m256i *)(xq1 + b * VT_QK));
        __m256i p0[8], p1[8];
        for (int r = 0; r < 8; r++) {
            __m256i w = _mm256_loadu_si256((const __m256i *)(bp + 16 + 32 * r));
            __m256i wa = _mm256_abs_epi8(w);
            p0[r] = _mm256_madd_epi16(_mm256_maddubs_epi16(wa, _mm256_sign_epi8(x0, w)), ones);
            p1[r] = _mm256_madd_epi16(_mm256_maddubs_epi16(wa, _mm256_sign_epi8(x1, w)), ones);
        }
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)bp));
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q8_isum8(p0)),
                               _mm256_mul_ps(dw, _mm256_set1_ps(xd0[b])), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q8_isum8(p1)),
                               _mm256_mul_ps(dw, _mm256_set1_ps(xd1[b])), acc1);
    }
    *out0 = acc0;
    *out1 = acc1;
}

/* q8_group for four tokens at once (prefill): each weight block is loaded
 * and made absolute once for four tokens, and each token's reduction tree
 * starts right after a pair of rows (hadd of the pair), which keeps the
 * live registers within the 16 ymm. Per token the same integer sums (exact)
 * and the same fmadd chain as q8_group. ~9% more MAC/s than two tokens
 * per load on Zen 3. xq/xd: token t's rows at xq + t*n, xd + t*(n/32). */
static inline void q8_group4(const uint8_t *gp, int nb, const int8_t *xq, const float *xd, int n,
                             __m256 *out)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *bp = gp + (long)b * VT_PACK_BLOCK_BYTES;
        __m256i h[4][4]; /* [token][row pair]: hadd of the pair's madd sums */
        for (int r = 0; r < 8; r += 2) {
            __m256i w0 = _mm256_loadu_si256((const __m256i *)(bp + 16 + 32 * r));
            __m256i w1 = _mm256_loadu_si256((const __m256i *)(bp + 16 + 32 * r + 32));
            __m256i a0 = _mm256_abs_epi8(w0), a1 = _mm256_abs_epi8(w1);
            for (int t = 0; t < 4; t++) {
                __m256i x = _mm256_loadu_si256((const __m256i *)(xq + (long)t * n + b * VT_QK));
                __m256i p0 = _mm256_maddubs_epi16(a0, _mm256_sign_epi8(x, w0));
                __m256i p1 = _mm256_maddubs_epi16(a1, _mm256_sign_epi8(x, w1));
                p0 = _mm256_madd_epi16(p0, ones);
                p1 = _mm256_madd_epi16(p1, ones);
                h[t][r / 2] = _mm256_hadd_epi32(p0, p1);
            }
        }
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)bp));
        for (int t = 0; t < 4; t++) {
            __m256i s0123 = _mm256_hadd_epi32(h[t][0], h[t][1]);
            __m256i s4567 = _mm256_hadd_epi32(h[t][2], h[t][3]);
            __m256i is = _mm256_add_epi32(_mm256_permute2x128_si256(s0123, s4567, 0x20),
                                          _mm256_permute2x128_si256(s0123, s4567, 0x31));
            __m256 sc = _mm256_mul_ps(dw, _mm256_set1_ps(xd[(long)t * (n / VT_QK) + b]));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), sc, acc[t]);
        }
    }
    for (int t = 0; t < 4; t++)
        out[t] = acc[t];
}

static inline void store8(float *y, __m256 v, int nr)
{
    if (nr == 8) {
        _mm256_storeu_ps(y, v);
    } else {
        float tmp[8];
        _mm256_storeu_ps(tmp, v);
        memcpy(y, tmp, (size_t)nr * sizeof(float));
    }
}

/* Token tile of the Q8 matmul: the x rows of a tile stay in L2 while every
 * row group of the range passes over them. */
#define VT_Q8_TILE 32

static void avx2_matmul(const vt_mat *w, int g0, int g1, const vt_xin *in, float *y, int ldy)
{
    int n = (int)w->cols, rows = (int)w->rows;
    if (w->type == VT_DTYPE_Q8_0 && w->packed) {
        int nb = n / VT_QK;
        size_t gbytes = (size_t)nb * VT_PACK_BLOCK_BYTES;
        for (int t0 = 0; t0 < in->T; t0 += VT_Q8_TILE) {
            int t1 = in->T - t0 < VT_Q8_TILE ? in->T : t0 + VT_Q8_TILE;
            for (int g = g0; g < g1; g++) {
                const uint8_t *gp = w->packed + (size_t)g * gbytes;
                int r0 = g * 8, nr = rows - r0 < 8 ? rows - r0 : 8;
                int t = t0;
                for (; t + 4 <= t1; t += 4) {
                    __m256 a[4];
                    q8_group4(gp, nb, in->q + (long)t * n, in->d + (long)t * nb, n, a);
                    for (int k = 0; k < 4; k++)
                        store8(y + (long)(t + k) * ldy + r0, a[k], nr);
                }
                for (; t + 2 <= t1; t += 2) {
                    __m256 a0, a1;
                    q8_group2(gp, nb, in->q + (long)t * n, in->d + (long)t * nb,
                              in->q + (long)(t + 1) * n, in->d + (long)(t + 1) * nb, &a0, &a1);
                    store8(y + (long)t * ldy + r0, a0, nr);
                    store8(y + (long)(t + 1) * ldy + r0, a1, nr);
                }
                for (; t < t1; t++)
                    store8(y + (long)t * ldy + r0,
                           q8_group(gp, nb, in->q + (long)t * n, in->d + (long)t * nb), nr);
            }
        }
        return;
    }
    if (w->type == VT_DTYPE_Q8_0) { /* not packed: cannot happen after load */
        vt_ops_scalar.matmul(w, g0, g1, in, y, ldy);
        return;
    }
    /* F32 / F16: kernels_avx2_f32.c */
    vt_avx2_matmul_f(w, g0 * 8, g1 * 8 < rows ? g1 * 8 : rows, in, y, ldy);
}

/* Round to nearest even, no exceptions. A macro, not a const int: the
 * intrinsic needs an immediate, which an -O0 build does not fold. */
#define Q8_ROUND (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* vt_k_quant_q8 per block: amax (exact max; any non-finite value makes the
 * whole block zero, as in the scalar code), id = 127/amax, d = amax/127,
 * q = round-to-nearest-even(x * id). */

static void avx2_quant_q8(const float *x, int n, int8_t *q, float *d)
{
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 big = _mm256_set1_ps(3.0e38f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int b = 0; b < n / VT_QK; b++) {
        const float *xb = x + b * VT_QK;
        __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8);
        __m256 v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
        __m256 a0 = _mm256_and_ps(v0, absmask), a1 = _mm256_and_ps(v1, absmask);
        __m256 a2 = _mm256_and_ps(v2, absmask), a3 = _mm256_and_ps(v3, absmask);
        int fin = _mm256_movemask_ps(_mm256_cmp_ps(a0, big, _CMP_LE_OQ)) &
                  _mm256_movemask_ps(_mm256_cmp_ps(a1, big, _CMP_LE_OQ)) &
                  _mm256_movemask_ps(_mm256_cmp_ps(a2, big, _CMP_LE_OQ)) &
                  _mm256_movemask_ps(_mm256_cmp_ps(a3, big, _CMP_LE_OQ));
        __m256 m = _mm256_max_ps(_mm256_max_ps(a0, a1), _mm256_max_ps(a2, a3));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
        float amax = _mm_cvtss_f32(m4);
        int8_t *qb = q + b * VT_QK;
        if (fin != 0xff || !(amax > 0.0f)) {
            d[b] = 0.0f;
            memset(qb, 0, VT_QK);
            continue;
        }
        float id = 127.0f / amax;
        d[b] = amax / 127.0f;
        __m256 idv = _mm256_set1_ps(id);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, idv), Q8_ROUND));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, idv), Q8_ROUND));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, idv), Q8_ROUND));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, idv), Q8_ROUND));
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        _mm256_storeu_si256((__m256i *)qb, _mm256_permutevar8x32_epi32(p, perm));
    }
}

/* Attention streams one head's K rows, then its V rows, from DRAM (the
 * CPU cache keeps a head's rows contiguous; with other strides the rows
 * are simply further apart). The hardware prefetcher alone leaves the
 * kernel ~15% slower on Zen 3 (decode, 110m), so the kernels ask for the
 * row ATT_PF positions ahead; the score pass also pulls V into L2. A head
 * whose K and V rows add up to less than ATT_PF_MIN_BYTES skips that: in a
 * prefill its rows were just written and sit in L2, and the prefetches were
 * a third of the score pass's instructions (15m F32 prefill +1.6% without
 * them; 110m decode at positions 128-192 the same either way). */
#define ATT_PF 12
#define ATT_PF_MIN_BYTES (128 * 1024)

static inline void prefetch_row_l1(const float *p, int hd)
{
    const char *c = (const char *)p;
    for (int o = 0; o < hd * 4; o += 64)
        _mm_prefetch(c + o, _MM_HINT_T0);
    _mm_prefetch(c + hd * 4 - 1, _MM_HINT_T0); /* rows need not start on a line */
}

static inline void prefetch_row_l2(const float *p, int hd)
{
    const char *c = (const char *)p;
    for (int o = 0; o < hd * 4; o += 64)
        _mm_prefetch(c + o, _MM_HINT_T1);
    _mm_prefetch(c + hd * 4 - 1, _MM_HINT_T1);
}

/* out[0 .. 8*na) = sum_j p_j * v_j[d], a sequential fmaf chain in j per d;
 * na <= 8 independent 8-wide chains hide the FMA latency. Each na gets its
 * own function (att_v_1 .. att_v_8): inlined into the cases of one switch,
 * gcc merged the copies back into one loop over a[] kept on the stack, a
 * store-to-load round trip per fmadd. */
static inline __attribute__((always_inline)) void att_v_cols(const float *p, const float *v,
                                                             int stride, int n_ctx, int na, int pf,
                                                             float *out)
{
    __m256 a[8];
    for (int i = 0; i < na; i++)
        a[i] = _mm256_setzero_ps();
    for (int j = 0; j < n_ctx; j++) {
        const float *vj = v + (long)j * stride;
        if (pf && j + ATT_PF < n_ctx)
            _mm_prefetch((const char *)(vj + (long)ATT_PF * stride), _MM_HINT_T0);
        __m256 pj = _mm256_set1_ps(p[j]);
        for (int i = 0; i < na; i++)
            a[i] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 8 * i), a[i]);
    }
    for (int i = 0; i < na; i++)
        _mm256_storeu_ps(out + 8 * i, a[i]);
}

typedef void (*att_v_fn)(const float *p, const float *v, int stride, int n_ctx, int pf,
                         float *out);
#define ATT_V(NA)                                                                               \
    static __attribute__((noinline)) void att_v_##NA(const float *p, const float *v, int stride, \
                                                     int n_ctx, int pf, float *out)              \
    {                                                                                           \
        att_v_cols(p, v, stride, n_ctx, NA, pf, out);                                           \
    }
ATT_V(1)
ATT_V(2)
ATT_V(3)
ATT_V(4)
ATT_V(5)
ATT_V(6)
ATT_V(7)
ATT_V(8)
static const att_v_fn att_v[8] = {att_v_1, att_v_2, att_v_3, att_v_4,
                                  att_v_5, att_v_6, att_v_7, att_v_8};

/* vt_expf on 8 lanes: the same fmaf steps, shifter rounding, Horner
 * polynomial and two-step scaling by 2^k as vt_math.h, lane by lane; the
 * special cases (NaN, underflow to 0, overflow to inf) blended in. */
static inline __m256 expf8(__m256 x)
{
    const __m256 shifter = _mm256_set1_ps(12582912.0f);
    __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504f), shifter);
    __m256 k = _mm256_sub_ps(t, shifter);
    __m256 nk = _mm256_xor_ps(k, _mm256_set1_ps(-0.0f)); /* -k, exact */
    __m256 r = _mm256_fmadd_ps(nk, _mm256_set1_ps(0.693145752f), x);
    r = _mm256_fmadd_ps(nk, _mm256_set1_ps(1.42860677e-06f), r);
    __m256 p = _mm256_set1_ps(1.98412698e-04f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.38888889e-03f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.33333333e-03f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.16666667e-02f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.66666667e-01f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i ki = _mm256_cvttps_epi32(k);
    /* |x| <= 86 in every lane (no NaN): k is in [-125, 125], 2^k is one
     * normal float and none of the special cases below applies - the
     * usual case (SwiGLU gates, most softmax inputs), half the work */
    __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    if (_mm256_movemask_ps(_mm256_cmp_ps(ax, _mm256_set1_ps(86.0f), _CMP_LE_OQ)) == 0xff)
        return _mm256_mul_ps(
            p, _mm256_castsi256_ps(
                   _mm256_slli_epi32(_mm256_add_epi32(ki, _mm256_set1_epi32(127)), 23)));
    __m256i hi = _mm256_cmpgt_epi32(ki, _mm256_set1_epi32(127));
    __m256i lo = _mm256_cmpgt_epi32(_mm256_set1_epi32(-126), ki);
    p = _mm256_blendv_ps(p, _mm256_mul_ps(p, _mm256_set1_ps(2.0f)), _mm256_castsi256_ps(hi));
    p = _mm256_blendv_ps(p, _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_set1_epi32(0x00800000))),
                         _mm256_castsi256_ps(lo));
    ki = _mm256_add_epi32(ki, hi); /* hi lanes are -1: ki - 1 */
    ki = _mm256_add_epi32(ki, _mm256_and_si256(lo, _mm256_set1_epi32(126)));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(ki, _mm256_set1_epi32(127)), 23);
    __m256 two_k = _mm256_castsi256_ps(bits);
    __m256 y = _mm256_mul_ps(p, two_k);
    y = _mm256_blendv_ps(y, _mm256_setzero_ps(),
                         _mm256_cmp_ps(x, _mm256_set1_ps(-87.33654f), _CMP_LT_OQ));
    y = _mm256_blendv_ps(y, _mm256_castsi256_ps(_mm256_set1_epi32(0x7f800000)),
                         _mm256_cmp_ps(x, _mm256_set1_ps(88.72283f), _CMP_GT_OQ));
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

/* vt_k_softmax: the max and the sum stay sequential scalar loops in j
 * order (the sum's order is part of the definition); the exponentials and
 * the final scaling are elementwise, 8 at a time. */
static void softmax_avx2(float *s, int n)
{
    float m = s[0];
    for (int j = 1; j < n; j++)
        m = s[j] > m ? s[j] : m;
    __m256 mv = _mm256_set1_ps(m);
    float sum = 0.0f;
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        _mm256_storeu_ps(s + j, expf8(_mm256_sub_ps(_mm256_loadu_ps(s + j), mv)));
        for (int i = 0; i < 8; i++)
            sum = sum + s[j + i];
    }
    for (; j < n; j++) {
        s[j] = vt_expf(s[j] - m);
        sum = sum + s[j];
    }
    float inv = 1.0f / sum;
    __m256 iv = _mm256_set1_ps(inv);
    for (j = 0; j + 8 <= n; j += 8)
        _mm256_storeu_ps(s + j, _mm256_mul_ps(_mm256_loadu_ps(s + j), iv));
    for (; j < n; j++)
        s[j] = s[j] * inv;
}

/* vt_k_rmsnorm: the sum of squares by the AVX2 lane-order dot, the same
 * scale expression, then (x * scale) * w 8 at a time. */
static void avx2_rmsnorm(const float *x, const float *w, int n, float eps, float *out)
{
    float sc = vt_k_rms_scale_ss(dot_f32(x, x, n), n, eps);
    __m256 sv = _mm256_set1_ps(sc);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), sv),
                                                _mm256_loadu_ps(w + i)));
    for (; i < n; i++)
        out[i] = vt_k_rms_apply(x[i], sc, w[i]);
}

/* rows_swiglu (vt_k_swiglu), 8 at a time: (g / (1 + exp(-g))) * u. */
static void avx2_swiglu(const float *g, const float *u, int n, float *out)
{
    const __m256 one = _mm256_set1_ps(1.0f), neg = _mm256_set1_ps(-0.0f);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gv = _mm256_loadu_ps(g + i);
        __m256 e = expf8(_mm256_xor_ps(gv, neg));
        __m256 h = _mm256_div_ps(gv, _mm256_add_ps(one, e));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(h, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++)
        out[i] = vt_k_swiglu(g[i], u[i]);
}

/* Scores of 8 keys: each key's dot in vt_k_dot_f32's lane order (four
 * 8-wide chains; a head_dim that is not a multiple of 32 ends with masked
 * loads, whose zero lanes are the definition's fmaf(0, 0, acc) padding),
 * then (v0+v1)+(v2+v3), and the rest of vt_k_fold32 for the 8 keys at once
 * (vt_avx2_fold32x8). */
static inline void scores8(const float *q, const float *k, long stride, int hd, float scale,
                           float *out)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    int full = hd / 32 * 32, rest = hd - full;
    __m256i m[4];
    for (int c = 0; c < 4; c++)
        m[c] = _mm256_cmpgt_epi32(_mm256_set1_epi32(rest - 8 * c), lane);
    __m256 t[8];
    for (int s = 0; s < 8; s++) {
        const float *kr = k + (long)s * stride;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i < full; i += 32) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(kr + i), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(kr + i + 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 16), _mm256_loadu_ps(kr + i + 16), a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 24), _mm256_loadu_ps(kr + i + 24), a3);
        }
        /* The padded block. For a lane group that is all padding,
         * fmaf(+0, +0, acc) is exactly acc + (+0) (which turns a -0 lane,
         * left by an underflowed product, into +0): an add, without the
         * loads. */
        const __m256 z = _mm256_setzero_ps();
        if (rest > 0)
            a0 = _mm256_fmadd_ps(_mm256_maskload_ps(q + i, m[0]),
                                 _mm256_maskload_ps(kr + i, m[0]), a0);
        if (rest > 8)
            a1 = _mm256_fmadd_ps(_mm256_maskload_ps(q + i + 8, m[1]),
                                 _mm256_maskload_ps(kr + i + 8, m[1]), a1);
        else if (rest > 0)
            a1 = _mm256_add_ps(a1, z);
        if (rest > 16)
            a2 = _mm256_fmadd_ps(_mm256_maskload_ps(q + i + 16, m[2]),
                                 _mm256_maskload_ps(kr + i + 16, m[2]), a2);
        else if (rest > 0)
            a2 = _mm256_add_ps(a2, z);
        if (rest > 24)
            a3 = _mm256_fmadd_ps(_mm256_maskload_ps(q + i + 24, m[3]),
                                 _mm256_maskload_ps(kr + i + 24, m[3]), a3);
        else if (rest > 0)
            a3 = _mm256_add_ps(a3, z);
        t[s] = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    }
    __m256 r = vt_avx2_fold32x8(t);
    _mm256_storeu_ps(out, _mm256_mul_ps(r, _mm256_set1_ps(scale)));
}

/* vt_k_attn_head: scores by the lane-order dot, softmax, then
 * out[d] = fmaf(p_j, v_j[d], out[d]) in j order, 64 d at once (8 chains).
 * The score pass also pulls the V rows into L2 for the second pass. */
static void avx2_attn_head(const float *q, const float *k, const float *v, int stride,
                           int n_ctx, int hd, float scale, float *scores, float *out)
{
    int j = 0, pf = (long)n_ctx * hd * 8 >= ATT_PF_MIN_BYTES;
    for (; j + 8 <= n_ctx; j += 8) {
        for (int i = j + ATT_PF; pf && i < j + ATT_PF + 8 && i < n_ctx; i++) {
            prefetch_row_l1(k + (long)i * stride, hd);
            prefetch_row_l2(v + (long)i * stride, hd);
        }
        scores8(q, k + (long)j * stride, stride, hd, scale, scores + j);
    }
    for (; j < n_ctx; j++) {
        if (pf && j + ATT_PF < n_ctx) {
            prefetch_row_l1(k + (long)(j + ATT_PF) * stride, hd);
            prefetch_row_l2(v + (long)(j + ATT_PF) * stride, hd);
        }
        scores[j] = dot_f32(q, k + (long)j * stride, hd) * scale;
    }
    softmax_avx2(scores, n_ctx);
    /* Up to 64 columns per pass over the V rows, as many chains as there
     * are 8-column groups: with fewer than 4 chains the pass is bound by
     * the FMA latency (a head_dim of 48 used to take a 4-chain pass and two
     * 1-chain passes, three times the latency of one 6-chain pass). */
    int d8 = hd / 8 * 8, d = 0;
    for (; d < d8; d += 64) {
        float *o = out + d;
        const float *vd = v + d;
        int na = (d8 - d) / 8 < 8 ? (d8 - d) / 8 : 8;
        att_v[na - 1](scores, vd, stride, n_ctx, pf, o);
    }
    for (d = d8; d < hd; d++) {
        float acc = 0.0f;
        for (int i = 0; i < n_ctx; i++)
            acc = fmaf(scores[i], v[(long)i * stride + d], acc);
        out[d] = acc;
    }
}

const vt_ops vt_ops_avx2 = {
    .name = "avx2",
    .matmul = avx2_matmul,
    .quant_q8 = avx2_quant_q8,
    .rmsnorm = avx2_rmsnorm,
    .swiglu = avx2_swiglu,
    .rope = vt_k_rope_heads,
    .attn_head = avx2_attn_head,
};
