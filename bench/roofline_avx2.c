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

/* The engine's Q8_0 inner step for 8 weight rows x one 32-element block
 * (256 MACs): per row sign(w, x) then maddubs(|x|, .) (u8*i8 -> i16 pairs)
 * then madd with ones (-> i32); an hadd tree puts the 8 row sums in one
 * register, converted to float and accumulated with the block scales by
 * one fmadd. Registers only; the asm keeps the inputs opaque. */
float vt_roof_q8_avx2(uint64_t iters)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i x = _mm256_set1_epi8(3);
    __m256i w0 = _mm256_set1_epi8(-5), w1 = _mm256_set1_epi8(7), w2 = _mm256_set1_epi8(-2),
            w3 = _mm256_set1_epi8(9), w4 = _mm256_set1_epi8(1), w5 = _mm256_set1_epi8(-8),
            w6 = _mm256_set1_epi8(4), w7 = _mm256_set1_epi8(-3);
    __m256 s = _mm256_set1_ps(1e-6f), acc = _mm256_setzero_ps();
    for (uint64_t i = 0; i < iters; i++) {
        __asm__ volatile("" : "+x"(x), "+x"(w0), "+x"(w1), "+x"(w2), "+x"(w3));
        __asm__ volatile("" : "+x"(w4), "+x"(w5), "+x"(w6), "+x"(w7));
        __m256i xa = _mm256_abs_epi8(x);
        __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(xa, _mm256_sign_epi8(w0, x)), ones);
        __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(xa, _mm256_sign_epi8(w1, x)), ones);
        __m256i p2 = _mm256_madd_epi16(_mm256_maddubs_epi16(xa, _mm256_sign_epi8(w2, x)), ones);
        __m256i p3 = _mm256_madd_epi16(_mm256_maddubs_epi16(xa, _mm256_sign_epi8(w3, x)), ones);
        __m256i p4 = _mm256_madd_epi16(_mm256_maddubs_epi16(xa, _mm256_sign_epi8(w4, x)), ones);
        __m256i p5 = _mm256_madd_epi16(_mm256_maddubs_epi16(xa, _mm256_sign_epi8(w5, x)), ones);
        __m256i p6 = _mm256_madd_epi16(_mm256_maddubs_epi16(xa, _mm256_sign_epi8(w6, x)), ones);
        __m256i p7 = _mm256_madd_epi16(_mm256_maddubs_epi16(xa, _mm256_sign_epi8(w7, x)), ones);
        __m256i s0 = _mm256_hadd_epi32(_mm256_hadd_epi32(p0, p1), _mm256_hadd_epi32(p2, p3));
        __m256i s1 = _mm256_hadd_epi32(_mm256_hadd_epi32(p4, p5), _mm256_hadd_epi32(p6, p7));
        __m256i is = _mm256_add_epi32(_mm256_permute2x128_si256(s0, s1, 0x20),
                                      _mm256_permute2x128_si256(s0, s1, 0x31));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), s, acc);
    }
    float out[8];
    _mm256_storeu_ps(out, acc);
    return out[0] + out[7];
}
