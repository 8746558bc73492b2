/* kernels_avx2_f32.h - the AVX2 F32 / F16 matmul (kernels_avx2_f32.c), the
 * F32 / F16 branch of the AVX2 table's matmul, and the lane fold both AVX2
 * files use (internal; include only from files built with -mavx2). */
#ifndef VT_KERNELS_AVX2_F32_H
#define VT_KERNELS_AVX2_F32_H

#include <immintrin.h>

#include "kernels.h"

/* vt_k_fold32 on four 8-wide vectors holding lanes 0-7, 8-15, 16-23, 24-31:
 * t = (v0+v1)+(v2+v3), then the 128-bit halves, the 64-bit halves, the last
 * pair. */
static inline __attribute__((always_inline)) float vt_avx2_fold32(__m256 v0, __m256 v1,
                                                                  __m256 v2, __m256 v3)
{
    __m256 t = _mm256_add_ps(_mm256_add_ps(v0, v1), _mm256_add_ps(v2, v3));
    __m128 u = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
    __m128 w = _mm_add_ps(u, _mm_movehl_ps(u, u)); /* u0+u2, u1+u3 */
    return _mm_cvtss_f32(_mm_add_ss(w, _mm_shuffle_ps(w, w, 1)));
}

/* vt_avx2_fold32 of eight outputs at once, on transposed vectors: t[j]
 * holds (v0+v1)+(v2+v3) of output j (the fold's first step); lane j of the
 * result is output j's fold. The same additions of the same values as
 * vt_avx2_fold32 lane by lane - the halves, then the pairs, then the last
 * pair - with a third of its shuffles. */
static inline __attribute__((always_inline)) __m256 vt_avx2_fold32x8(const __m256 t[8])
{
    /* slot s holds output s/2 (even s) or 4 + s/2 (odd s): the permutes
     * below then leave the results in output order */
    const __m256 slot[8] = {t[0], t[4], t[1], t[5], t[2], t[6], t[3], t[7]};
    __m256 u[4]; /* u[p] = [lo+hi of slot 2p | of slot 2p+1] */
    for (int p = 0; p < 4; p++)
        u[p] = _mm256_add_ps(_mm256_permute2f128_ps(slot[2 * p], slot[2 * p + 1], 0x20),
                             _mm256_permute2f128_ps(slot[2 * p], slot[2 * p + 1], 0x31));
    __m256 w[2]; /* w = (u0 + u2, u1 + u3) of 4 slots */
    for (int p = 0; p < 2; p++)
        w[p] = _mm256_add_ps(_mm256_shuffle_ps(u[2 * p], u[2 * p + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm256_shuffle_ps(u[2 * p], u[2 * p + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    return _mm256_add_ps(_mm256_shuffle_ps(w[0], w[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm256_shuffle_ps(w[0], w[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/* y[t*ldy + r] = dot(row r of m, token t of in->x) in vt_k_dot_f32's order,
 * for rows r0 <= r < r1 and every token; m is F32 or F16. */
void vt_avx2_matmul_f(const vt_mat *m, int r0, int r1, const vt_xin *in, float *y, int ldy);

#endif
