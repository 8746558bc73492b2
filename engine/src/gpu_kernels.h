/* gpu_kernels.h - the CUDA backend's kernels as element functions: element
 * i of each launch is computed by one VT_HD function over vt_kernels.h.
 * engine/cuda/vt_cuda.cu wraps each in a __global__ (one thread per
 * element); gpu_emu.c (VT_BACKEND_CUDA_EMU) loops them on the CPU so the
 * backend's indexing and phase order are tested on machines without a GPU.
 * Written in the common subset of C11 and CUDA C++. */
#ifndef VT_GPU_KERNELS_H
#define VT_GPU_KERNELS_H

#include <stddef.h>

#include "vt_kernels.h"

/* A weight matrix in (device) memory, GGUF row layout. */
typedef struct vt_dmat {
    uint32_t type, rows, cols;
    const void *data;
} vt_dmat;

VT_HD size_t vt_dmat_row_bytes(uint32_t type, uint32_t cols)
{
    return type == 0 ? (size_t)cols * 4 : type == 1 ? (size_t)cols * 2
                                                    : (size_t)(cols / VT_QK) * sizeof(vt_blk_q8);
}

/* i < T*dim: x[t][d] = embedding of tok[t] */
VT_HD void vt_ck_embed(long i, vt_dmat e, const int32_t *tok, float *x)
{
    int t = (int)(i / e.cols), d = (int)(i % e.cols);
    const uint8_t *row = (const uint8_t *)e.data + (size_t)tok[t] * vt_dmat_row_bytes(e.type, e.cols);
    x[i] = vt_k_embed(e.type, row, d);
}

/* t < T: one token's row */
VT_HD void vt_ck_rmsnorm(long t, const float *x, const float *w, int n, float eps, float *out)
{
    vt_k_rmsnorm(x + (size_t)t * n, w, n, eps, out + (size_t)t * n);
}

/* i < T*n/32: one Q8 block */
VT_HD void vt_ck_quant(long i, const float *x, int n, int8_t *q, float *d)
{
    int nb = n / VT_QK;
    long t = i / nb, b = i % nb;
    vt_k_quant_q8(x + t * n + b * VT_QK, q + t * n + b * VT_QK, d + t * nb + b);
}

/* i < T*rows: y[t][r] */
VT_HD void vt_ck_matmul(long i, vt_dmat w, const float *x, const int8_t *xq, const float *xd,
                        float *y)
{
    long t = i / w.rows, r = i % w.rows;
    int n = (int)w.cols;
    float v;
    if (w.type == 0) {
        v = vt_k_dot_f32((const float *)w.data + r * n, x + t * n, n);
    } else if (w.type == 1) {
        v = vt_k_dot_f16((const uint16_t *)w.data + r * n, x + t * n, n);
    } else {
        int nb = n / VT_QK;
        v = vt_k_dot_q8((const vt_blk_q8 *)w.data + r * nb, xq + t * n, xd + t * nb, nb);
    }
    y[t * w.rows + r] = v;
}

/* Shapes of the attention phases. KV cache: [slot][layer][max_ctx][kv]. */
typedef struct vt_dattn {
    int layer, n_layers, max_ctx, nh, nkv, hd, rope_dim;
    float scale;
} vt_dattn;

/* t < T: RoPE on q and k of token t, then k and v into its slot's cache at
 * its position (written before attention reads it, as on the CPU). */
VT_HD void vt_ck_rope_store(long t, vt_dattn a, float *q, float *k, const float *v,
                            const int *slot, const int *pos, const float *cs, const float *sn,
                            float *kc, float *vc)
{
    int half = a.rope_dim / 2, kv = a.nkv * a.hd;
    const float *c = cs + (size_t)pos[t] * half, *s = sn + (size_t)pos[t] * half;
    vt_k_rope_heads(q + (size_t)t * a.nh * a.hd, a.nh, a.hd, a.rope_dim, c, s);
    float *kt = k + (size_t)t * kv;
    vt_k_rope_heads(kt, a.nkv, a.hd, a.rope_dim, c, s);
    size_t off = (((size_t)slot[t] * a.n_layers + a.layer) * a.max_ctx + pos[t]) * kv;
    for (int e = 0; e < kv; e++) {
        kc[off + e] = kt[e];
        vc[off + e] = v[(size_t)t * kv + e];
    }
}

/* i < T*nh: head h of token t; scores: [T*nh][max_ctx] scratch */
VT_HD void vt_ck_attn(long i, vt_dattn a, const float *q, const float *kc, const float *vc,
                      const int *slot, const int *pos, float *scores, float *att)
{
    int t = (int)(i / a.nh), h = (int)(i % a.nh), g = h / (a.nh / a.nkv), kv = a.nkv * a.hd;
    size_t base = ((size_t)slot[t] * a.n_layers + a.layer) * a.max_ctx * kv + (size_t)g * a.hd;
    vt_k_attn_head(q + (size_t)t * a.nh * a.hd + h * a.hd, kc + base, vc + base, kv, pos[t] + 1,
                   a.hd, a.scale, scores + (size_t)i * a.max_ctx,
                   att + (size_t)t * a.nh * a.hd + h * a.hd);
}

VT_HD void vt_ck_add(long i, float *x, const float *y)
{
    x[i] = x[i] + y[i];
}

VT_HD void vt_ck_swiglu(long i, float *g, const float *u)
{
    g[i] = vt_k_swiglu(g[i], u[i]);
}

/* i < n*dim: dst[k] = src[idx[k]] rows */
VT_HD void vt_ck_gather(long i, const float *src, const int *idx, int dim, float *dst)
{
    dst[i] = src[(size_t)idx[i / dim] * dim + i % dim];
}

#endif
