/* roofline_avx2.c - AVX2 loops that measure the machine, not the engine.
 * Compiled with -mavx2 -mfma; called only after vt_roof_avx2() says yes. */
#include <immintrin.h>

#include "roofline.h"

/* Sum 64-bit lanes of every 32 bytes, four independent accumulators so the
 * loop is bound by loads, not by the add latency. n is a multiple of 128. */
uint64_t vt_roof_sum_avx2(const uint8_t *p, size_t n)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 128) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(p + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(p + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(p + i + 96)));
    }
    __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t out[4];
    _mm256_storeu_si256((__m256i *)out, s);
    return out[0] + out[1] + out[2] + out[3];
}

/* 10 independent fmadd chains (FMA latency 4 x 2 ports needs >= 8). The
 * empty asm makes x opaque, so the compiler cannot fold the loop. */
float vt_roof_f32_avx2(uint64_t iters)
{
    __m256 x = _mm256_set1_ps(1e-3f), y = _mm256_set1_ps(0.999f);
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0,
           c7 = c0, c8 = c0, c9 = c0;
    for (uint64_t i = 0; i < iters; i++) {
        __asm__ volatile("" : "+x"(x));
        c0 = _mm256_fmadd_ps(x, y, c0);
        c1 = _mm256_fmadd_ps(x, y, c1);
        c2 = _mm256_fmadd_ps(x, y, c2);
        c3 = _mm256_fmadd_ps(x, y, c3);
        c4 = _mm256_fmadd_ps(x, y, c4);
        c5 = _mm256_fmadd_ps(x, y, c5);
        c6 = _mm256_fmadd_ps(x, y, c6);
        c7 = _mm256_fmadd_ps(x, y, c7);
        c8 = _mm256_fmadd_ps(x, y, c8);
        c9 = _mm256_fmadd_ps(x, y, c9);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    s = _mm256_add_ps(s, _mm256_add_ps(c8, c9));
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[7];
}

/* One Q8_0 x Q8_0 block (32 MACs): |x| and sign(y, x) make an unsigned x
 * signed y pair for maddubs (u8*i8 -> i16 pairs), madd with ones -> i32,
 * to float, times the product of the block scales into the accumulator. */
static inline __m256 q8_block(__m256i x, __m256i y, __m256 d, __m256 acc)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i ax = _mm256_sign_epi8(x, x);
    __m256i sy = _mm256_sign_epi8(y, x);
    __m256i p16 = _mm256_maddubs_epi16(ax, sy);
    __m256i p32 = _mm256_madd_epi16(p16, ones);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32), d, acc);
}

float vt_roof_q8_avx2(uint64_t iters)
{
    __m256i x0 = _mm256_set1_epi8(3), x1 = _mm256_set1_epi8(-5), x2 = _mm256_set1_epi8(7),
            x3 = _mm256_set1_epi8(-2), y = _mm256_set1_epi8(11);
    __m256 d = _mm256_set1_ps(1e-6f);
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
    for (uint64_t i = 0; i < iters; i++) {
        __asm__ volatile("" : "+x"(x0), "+x"(x1), "+x"(x2), "+x"(x3));
        c0 = q8_block(x0, y, d, c0);
        c1 = q8_block(x1, y, d, c1);
        c2 = q8_block(x2, y, d, c2);
        c3 = q8_block(x3, y, d, c3);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3));
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[7];
}
