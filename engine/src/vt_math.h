/* vt_math.h - scalar math shared by the CPU kernels, the CUDA kernels and the
 * sampler. Every function here is built from + - * / sqrt and explicit fmaf
 * only, so that glibc and the CUDA math library cannot make two machines
 * disagree (see docs/determinism.md). Compile with -ffp-contract=off (C) and
 * -fmad=false (nvcc): an accidental contraction changes bits.
 *
 * VT_HD marks functions callable from host and device code.
 */
#ifndef VT_MATH_H
#define VT_MATH_H

#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define VT_HD __host__ __device__ __forceinline__
#else
#define VT_HD static inline
#endif

VT_HD uint32_t vt_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

VT_HD float vt_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* exp(x) for float, within 2 ulp of the true value on [-87.3, 88.7].
 * Below that range it returns 0 (the true value is subnormal), above it +inf;
 * NaN in gives NaN out.
 *
 *   k = round(x / ln2)            (by the 1.5*2^23 shifter trick: exact, no libm)
 *   r = x - k*ln2                 (Cody-Waite, two fmaf steps, |r| <= ln2/2)
 *   exp(r) ~ Horner degree-6 polynomial in r (Taylor coefficients)
 *   exp(x) = 2^k * exp(r)         (k put straight into the exponent bits)
 */
VT_HD float vt_expf(float x)
{
    if (x != x)
        return x;
    if (x < -87.33654f)
        return 0.0f;
    if (x > 88.72283f)
        return vt_bits_f32(0x7f800000u);
    const float shifter = 12582912.0f; /* 1.5 * 2^23 */
    float t = fmaf(x, 1.44269504f, shifter);
    float k = t - shifter;
    float r = fmaf(-k, 0.693145752f, x);   /* ln2 high part (exact in float) */
    r = fmaf(-k, 1.42860677e-06f, r);      /* ln2 low part */
    float p = 1.38888889e-03f;             /* 1/720 */
    p = fmaf(p, r, 8.33333333e-03f);       /* 1/120 */
    p = fmaf(p, r, 4.16666667e-02f);       /* 1/24 */
    p = fmaf(p, r, 1.66666667e-01f);       /* 1/6 */
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    int ki = (int)k;
    /* 2^k may need two steps when k+127 leaves [1, 254]. */
    if (ki > 127) {
        p = p * 2.0f;
        ki -= 1;
    } else if (ki < -126) {
        p = p * vt_bits_f32(0x00800000u); /* 2^-126 */
        ki += 126;
    }
    return p * vt_bits_f32((uint32_t)(ki + 127) << 23);
}

#endif
