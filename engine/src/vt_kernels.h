/* vt_kernels.h - the arithmetic of the forward pass, one definition for the
 * CPU scalar path, (by construction) the AVX2 path, and the CUDA kernels.
 *
 * Every function here fixes an order of floating-point operations; the AVX2
 * kernels (kernels_avx2.c) implement the same order with vectors, and the
 * CUDA kernels (engine/cuda/) call these very functions. docs/determinism.md
 * states each order in words. Changing anything here changes model outputs:
 * all verifiers must then upgrade together.
 *
 * Build rules: C11 with -ffp-contract=off, nvcc with -fmad=false; fused
 * multiply-adds only where fmaf() is written.
 */
#ifndef VT_KERNELS_H
#define VT_KERNELS_H

#include <math.h>
#include <stdint.h>

#include "vt_math.h"

/* Float dot products use 32 interleaved lane accumulators: element i goes to
 * lane i % 32. Lengths are zero-padded to a multiple of 32 (the padded steps
 * are fmaf(0,0,acc), which the AVX2 masked tail reproduces). */
#define VT_LANES 32
#define VT_QK 32 /* Q8_0 block length */

/* GGUF's Q8_0 block: f16 scale then 32 int8; value = d * q. 34 bytes. */
typedef struct vt_blk_q8 {
    uint16_t d;
    int8_t qs[VT_QK];
} vt_blk_q8;

/* IEEE half -> float, exact (every half is a float). */
VT_HD float vt_k_f16(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1fu) {
        bits = sign | 0x7f800000u | (man << 13); /* inf / nan */
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else { /* subnormal half: normalise */
        uint32_t e = 113u;
        while (!(man & 0x400u)) {
            man <<= 1;
            e--;
        }
        bits = sign | (e << 23) | ((man & 0x3ffu) << 13);
    }
    return vt_bits_f32(bits);
}

/* The fixed combining tree of the 32 lanes. It is what the AVX2 code does
 * with four 8-wide accumulators v0..v3: t = (v0+v1)+(v2+v3), then the
 * 128-bit halves, then the 64-bit halves, then the last pair. */
VT_HD float vt_k_fold32(const float acc[VT_LANES])
{
    float t[8];
    for (int l = 0; l < 8; l++)
        t[l] = (acc[l] + acc[l + 8]) + (acc[l + 16] + acc[l + 24]);
    float u0 = t[0] + t[4], u1 = t[1] + t[5], u2 = t[2] + t[6], u3 = t[3] + t[7];
    return (u0 + u2) + (u1 + u3);
}

/* Zero-padded steps after the last element (see VT_LANES). */
VT_HD void vt_k_pad_lanes(float acc[VT_LANES], int n)
{
    int end = (n + VT_LANES - 1) / VT_LANES * VT_LANES;
    for (int i = n; i < end; i++)
        acc[i % VT_LANES] = fmaf(0.0f, 0.0f, acc[i % VT_LANES]);
}

/* sum_i w[i]*x[i], F32 weights. */
VT_HD float vt_k_dot_f32(const float *w, const float *x, int n)
{
    float acc[VT_LANES];
    for (int l = 0; l < VT_LANES; l++)
        acc[l] = 0.0f;
    for (int i = 0; i < n; i++)
        acc[i % VT_LANES] = fmaf(w[i], x[i], acc[i % VT_LANES]);
    vt_k_pad_lanes(acc, n);
    return vt_k_fold32(acc);
}

/* F16 weights: each converted exactly to F32, then the F32 order. */
VT_HD float vt_k_dot_f16(const uint16_t *w, const float *x, int n)
{
    float acc[VT_LANES];
    for (int l = 0; l < VT_LANES; l++)
        acc[l] = 0.0f;
    for (int i = 0; i < n; i++)
        acc[i % VT_LANES] = fmaf(vt_k_f16(w[i]), x[i], acc[i % VT_LANES]);
    vt_k_pad_lanes(acc, n);
    return vt_k_fold32(acc);
}

/* Round to nearest, ties to even, for |y| < 2^22, without libm: adding and
 * removing 1.5*2^23 leaves the rounded integer (default rounding mode). */
VT_HD float vt_k_rint(float y)
{
    const float shifter = 12582912.0f;
    return (y + shifter) - shifter;
}

/* Quantise 32 activations to Q8: d = amax/127, q = rint(x * (127/amax)).
 * d is kept as float (not f16). amax == 0, or any |x| > 3e38 (inf, NaN),
 * gives d=0 and q=0 for the whole block. */
VT_HD void vt_k_quant_q8(const float *x, int8_t *q, float *d)
{
    float amax = 0.0f;
    int finite = 1;
    for (int k = 0; k < VT_QK; k++) {
        float a = fabsf(x[k]);
        finite &= a <= 3.0e38f; /* false for inf and NaN */
        amax = a > amax ? a : amax;
    }
    if (!finite || !(amax > 0.0f)) {
        *d = 0.0f;
        for (int k = 0; k < VT_QK; k++)
            q[k] = 0;
        return;
    }
    float id = 127.0f / amax;
    *d = amax / 127.0f;
    for (int k = 0; k < VT_QK; k++)
        q[k] = (int8_t)(int)vt_k_rint(x[k] * id);
}

/* Exact integer dot of one block pair; |result| <= 32*127*128 < 2^24. */
VT_HD int32_t vt_k_isum_q8(const int8_t *a, const int8_t *b)
{
    int32_t s = 0;
    for (int k = 0; k < VT_QK; k++)
        s += (int32_t)a[k] * (int32_t)b[k];
    return s;
}

/* Q8_0 row (nb blocks) times a Q8 activation (qs, per-block scales xd):
 * a sequential chain over blocks, acc = fmaf((float)isum_b, dw_b*dx_b, acc). */
VT_HD float vt_k_dot_q8(const vt_blk_q8 *w, const int8_t *xq, const float *xd, int nb)
{
    float acc = 0.0f;
    for (int b = 0; b < nb; b++) {
        int32_t is = vt_k_isum_q8(w[b].qs, xq + b * VT_QK);
        float s = vt_k_f16(w[b].d) * xd[b];
        acc = fmaf((float)is, s, acc);
    }
    return acc;
}

/* One dequantised Q8_0 value: d * q (a single rounded multiply). */
VT_HD float vt_k_deq_q8(const vt_blk_q8 *w, int i)
{
    return vt_k_f16(w[i / VT_QK].d) * (float)w[i / VT_QK].qs[i % VT_QK];
}

/* RMSNorm scale: 1 / sqrt(sum(x^2)/n + eps); the sum of squares uses the
 * dot-product lane order (fmaf(x,x,acc)). sqrt and / are IEEE exact-rounded
 * on every target. vt_k_rms_scale_ss: the same from the sum of squares. */
VT_HD float vt_k_rms_scale_ss(float ss, int n, float eps)
{
    return 1.0f / sqrtf(ss / (float)n + eps);
}

VT_HD float vt_k_rms_scale(const float *x, int n, float eps)
{
    return vt_k_rms_scale_ss(vt_k_dot_f32(x, x, n), n, eps);
}

/* out = (x * scale) * w, elementwise (two rounded multiplies). */
VT_HD float vt_k_rms_apply(float x, float scale, float w)
{
    return (x * scale) * w;
}

/* out = rmsnorm(x) * w over a row of n. */
VT_HD void vt_k_rmsnorm(const float *x, const float *w, int n, float eps, float *out)
{
    float sc = vt_k_rms_scale(x, n, eps);
    for (int i = 0; i < n; i++)
        out[i] = vt_k_rms_apply(x[i], sc, w[i]);
}

/* RoPE (llama.cpp NORMAL mode) on one adjacent pair (x0, x1). */
VT_HD void vt_k_rope_pair(float *x0, float *x1, float c, float s)
{
    float a = *x0, b = *x1;
    float r0 = a * c - b * s;
    float r1 = a * s + b * c;
    *x0 = r0;
    *x1 = r1;
}

/* RoPE over n_heads heads of hd floats: pairs (2i, 2i+1) for i < rope_dim/2
 * with cs[i]/sn[i] of this position; dims past rope_dim untouched. */
VT_HD void vt_k_rope_heads(float *x, int n_heads, int hd, int rope_dim, const float *cs,
                           const float *sn)
{
    for (int h = 0; h < n_heads; h++) {
        float *xh = x + h * hd;
        for (int i = 0; i < rope_dim / 2; i++)
            vt_k_rope_pair(&xh[2 * i], &xh[2 * i + 1], cs[i], sn[i]);
    }
}

/* Element i of an embedding row of type `type` (row pointer of that row). */
VT_HD float vt_k_embed(uint32_t type, const void *row, int i)
{
    if (type == 0) /* F32 */
        return ((const float *)row)[i];
    if (type == 1) /* F16 */
        return vt_k_f16(((const uint16_t *)row)[i]);
    return vt_k_deq_q8((const vt_blk_q8 *)row, i); /* Q8_0 */
}

/* silu(g) * u with silu(g) = g / (1 + exp(-g)). */
VT_HD float vt_k_swiglu(float g, float u)
{
    return (g / (1.0f + vt_expf(-g))) * u;
}

/* In-place softmax over s[0..n-1]: max, e_j = exp(s_j - max), sum in j
 * order, p_j = e_j * (1/sum). */
VT_HD void vt_k_softmax(float *s, int n)
{
    float m = s[0];
    for (int j = 1; j < n; j++)
        m = s[j] > m ? s[j] : m;
    float sum = 0.0f;
    for (int j = 0; j < n; j++) {
        s[j] = vt_expf(s[j] - m);
        sum = sum + s[j];
    }
    float inv = 1.0f / sum;
    for (int j = 0; j < n; j++)
        s[j] = s[j] * inv;
}

/* One head of causal attention for a query at position n_ctx-1:
 *   score_j = dot(q, k_j) * scale  (dot in lane order), j = 0..n_ctx-1
 *   p = softmax(score)
 *   out[d] = sum_j p_j * v_j[d], a sequential fmaf chain in j per d.
 * k/v rows are hd floats, row j at k + j*stride. scores: n_ctx floats. */
VT_HD void vt_k_attn_head(const float *q, const float *k, const float *v, int stride,
                          int n_ctx, int hd, float scale, float *scores, float *out)
{
    for (int j = 0; j < n_ctx; j++)
        scores[j] = vt_k_dot_f32(q, k + (long)j * stride, hd) * scale;
    vt_k_softmax(scores, n_ctx);
    for (int d = 0; d < hd; d++)
        out[d] = 0.0f;
    for (int j = 0; j < n_ctx; j++) {
        const float *vj = v + (long)j * stride;
        for (int d = 0; d < hd; d++)
            out[d] = fmaf(scores[j], vj[d], out[d]);
    }
}

#endif
