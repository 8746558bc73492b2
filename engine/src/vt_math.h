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

#include <math.h>
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
 *   exp(r) ~ Horner degree-7 polynomial in r (Taylor coefficients; degree 6
 *            left 3 ulp near |r| = ln2/2)
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
    float p = 1.98412698e-04f;             /* 1/5040 */
    p = fmaf(p, r, 1.38888889e-03f);       /* 1/720 */
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

/* ---- double-precision helpers for tables computed once (RoPE) ----------
 * Built from + - * / and fma only, so every machine fills the RoPE table
 * with the same bits; the table is then uploaded to CUDA as is. */

/* Round to nearest even for |x| < 2^51 (1.5*2^52 shifter). */
VT_HD double vt_rint_d(double x)
{
    const double shifter = 6755399441055744.0;
    return (x + shifter) - shifter;
}

/* exp(x), |x| < 700: x = k*ln2 + r, |r| <= ln2/2, Taylor to r^16. */
VT_HD double vt_exp_d(double x)
{
    double k = vt_rint_d(x * 1.4426950408889634074);
    double r = fma(-k, 6.93147180369123816490e-01, x); /* ln2 high (fdlibm) */
    r = fma(-k, 1.90821492927058770002e-10, r);        /* ln2 low */
    double p = 1.0 / 20922789888000.0;                 /* 1/16! */
    const double inv_fact[16] = {
        1.0 / 1307674368000.0, 1.0 / 87178291200.0, 1.0 / 6227020800.0,
        1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
        1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0,
        1.0 / 6.0, 0.5, 1.0, 1.0};
    for (int i = 0; i < 16; i++)
        p = fma(p, r, inv_fact[i]);
    int64_t ki = (int64_t)k;
    uint64_t bits = (uint64_t)(ki + 1023) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* log(x) for finite x > 0 (normal): x = m * 2^e, m in [sqrt(1/2), sqrt(2)),
 * log(m) = 2 atanh(f), f = (m-1)/(m+1), series to f^31. */
VT_HD double vt_log_d(double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m > 1.4142135623730950488) {
        m = m * 0.5;
        e += 1;
    }
    double f = (m - 1.0) / (m + 1.0);
    double f2 = f * f;
    double s = 1.0 / 31.0;
    for (int k = 29; k >= 1; k -= 2)
        s = fma(s, f2, 1.0 / (double)k);
    return fma((double)e, 6.93147180369123816490e-01,
               fma((double)e, 1.90821492927058770002e-10, 2.0 * f * s));
}

/* sin and cos of x (|x| < 2^30) together: k = rint(x*2/pi), r = x - k*pi/2
 * in three fma steps, Taylor polynomials on |r| <= pi/4, quadrant by k&3. */
VT_HD void vt_sincos_d(double x, double *s_out, double *c_out)
{
    double k = vt_rint_d(x * 0.63661977236758134308);
    double r = fma(-k, 1.5707963267948965580e+00, x);
    r = fma(-k, 6.1232339957367658e-17, r);
    r = fma(-k, -1.4973849048591698e-33, r);
    double r2 = r * r;
    double sp = 0.0, cp = 0.0;
    /* sin r = r * sum_{n=0..9} (-1)^n r^2n/(2n+1)!; cos r = sum (-1)^n r^2n/(2n)! */
    double fs = 1.0, fc = 1.0;
    double cs[10], cc[10];
    for (int n = 0; n < 10; n++) {
        cs[n] = (n & 1) ? -1.0 / fs : 1.0 / fs;
        cc[n] = (n & 1) ? -1.0 / fc : 1.0 / fc;
        fs = fs * (double)(2 * n + 2) * (double)(2 * n + 3);
        fc = fc * (double)(2 * n + 1) * (double)(2 * n + 2);
    }
    for (int n = 9; n >= 0; n--) {
        sp = fma(sp, r2, cs[n]);
        cp = fma(cp, r2, cc[n]);
    }
    double sn = r * sp, cn = cp;
    int q = (int)((int64_t)k & 3);
    double s = q == 0 ? sn : q == 1 ? cn : q == 2 ? -sn : -cn;
    double c = q == 0 ? cn : q == 1 ? -sn : q == 2 ? -cn : sn;
    *s_out = s;
    *c_out = c;
}

#endif
