/* gpu_forward.h - the CUDA backend's context layout, sizing and forward
 * pass, written once for two targets. The includer defines:
 *   VT_LAUNCH(name, n, args...)  run vt_ck_<name>(i, args...) for i < n
 *   VT_DALLOC(ptr, bytes)        allocate (device) memory, 0 or vt_err
 *   VT_H2D(dst, src, bytes)      copy host -> (device), 0 or vt_err
 *   VT_D2H(dst, src, bytes)      copy (device) -> host, 0 or vt_err
 * engine/cuda/vt_cuda.cu maps them to kernels and cudaMemcpy; gpu_emu.c to
 * plain loops and memcpy. Common subset of C11 and C++. The phase order
 * mirrors forward.c. */
#ifndef VT_GPU_FORWARD_H
#define VT_GPU_FORWARD_H

#include <string.h>

#include "gpu_kernels.h"
#include "model.h"
#include "vt_cuda.h"

#define VT_GPU_LOGIT_GROUP 32

typedef struct vt_dlayer {
    const float *attn_norm, *ffn_norm;
    vt_dmat wq, wk, wv, wo, gate, up, down;
} vt_dlayer;

/* Everything a forward step touches; pointers are (device) memory except
 * `layers` (a host array of descriptors) and h_logits. */
typedef struct vt_gpu {
    const vt_model *m;
    int max_seqs, max_ctx, max_tok;
    vt_dlayer *layers;
    vt_dmat embd, output;
    const float *output_norm, *rope_cos, *rope_sin;
    float *kc, *vc; /* [max_seqs][n_layers][max_ctx][kv_dim] */
    float *x, *xb, *q, *k, *v, *att, *tmp, *hb, *hb2, *scores, *logits, *xd;
    int8_t *xq;
    int *slot, *pos, *gather;
    int32_t *tok;
    float *h_logits; /* host, [VT_GPU_LOGIT_GROUP][vocab] */
} vt_gpu;

static inline vt_dmat vt_gpu_dmat(const vt_mat *w, const void *data)
{
    vt_dmat d;
    d.type = w->type;
    d.rows = w->rows;
    d.cols = w->cols;
    d.data = data;
    return d;
}

static inline size_t vt_mat_bytes(const vt_mat *w)
{
    return vt_dmat_row_bytes(w->type, w->cols) * w->rows;
}

/* KV cache and scratch. */
static int vt_gpu_alloc_state(vt_gpu *c, vt_errinfo *ei)
{
    const vt_model_info *in = &c->m->info;
    size_t dim = in->dim, kv = c->m->kv_dim, hid = in->hidden_dim, L = in->n_layers;
    size_t wide = dim > hid ? dim : hid, T = (size_t)c->max_tok;
    size_t kvsz = (size_t)c->max_seqs * L * (size_t)c->max_ctx * kv * sizeof(float);
    int rv;
    if ((rv = VT_DALLOC(c->kc, kvsz)) < 0 || (rv = VT_DALLOC(c->vc, kvsz)) < 0 ||
        (rv = VT_DALLOC(c->x, T * dim * 4)) < 0 || (rv = VT_DALLOC(c->xb, T * dim * 4)) < 0 ||
        (rv = VT_DALLOC(c->q, T * dim * 4)) < 0 || (rv = VT_DALLOC(c->k, T * kv * 4)) < 0 ||
        (rv = VT_DALLOC(c->v, T * kv * 4)) < 0 || (rv = VT_DALLOC(c->att, T * dim * 4)) < 0 ||
        (rv = VT_DALLOC(c->tmp, T * dim * 4)) < 0 || (rv = VT_DALLOC(c->hb, T * hid * 4)) < 0 ||
        (rv = VT_DALLOC(c->hb2, T * hid * 4)) < 0 || (rv = VT_DALLOC(c->xq, T * wide)) < 0 ||
        (rv = VT_DALLOC(c->xd, T * (wide / VT_QK + 1) * 4)) < 0 ||
        (rv = VT_DALLOC(c->scores, T * in->n_heads * (size_t)c->max_ctx * 4)) < 0 ||
        (rv = VT_DALLOC(c->logits, (size_t)VT_GPU_LOGIT_GROUP * in->vocab * 4)) < 0 ||
        (rv = VT_DALLOC(c->slot, T * sizeof(int))) < 0 ||
        (rv = VT_DALLOC(c->pos, T * sizeof(int))) < 0 ||
        (rv = VT_DALLOC(c->gather, T * sizeof(int))) < 0 ||
        (rv = VT_DALLOC(c->tok, T * sizeof(int32_t))) < 0)
        return rv < 0 ? rv : vt_fail(ei, VT_ERR_NOMEM, "out of device memory");
    return 0;
}

static void vt_gpu_quant_if(vt_gpu *c, int q8, const float *x, int T, int n)
{
    if (q8)
        VT_LAUNCH(quant, (long)T * (n / VT_QK), x, n, c->xq, c->xd);
}

static void vt_gpu_matmul(vt_gpu *c, const vt_dmat *w, const float *x, int T, float *y)
{
    VT_LAUNCH(matmul, (long)T * w->rows, *w, x, c->xq, c->xd, y);
}

static int vt_gpu_forward(vt_gpu *c, const vt_fwd_batch *b, vt_errinfo *ei)
{
    const vt_model_info *in = &c->m->info;
    int T = b->n_tok, dim = (int)in->dim, hid = (int)in->hidden_dim, L = (int)in->n_layers;
    int vocab = (int)in->vocab, rv;
    vt_dattn a;
    a.n_layers = L;
    a.max_ctx = c->max_ctx;
    a.nh = (int)in->n_heads;
    a.nkv = (int)in->n_kv_heads;
    a.hd = (int)in->head_dim;
    a.rope_dim = (int)in->rope_dim;
    a.scale = 1.0f / sqrtf((float)a.hd);
    if (T < 1 || T > c->max_tok)
        return vt_fail(ei, VT_ERR_INTERNAL, "device forward: %d tokens (max %d)", T, c->max_tok);
    if ((rv = VT_H2D(c->slot, b->slot, T * sizeof(int))) < 0 ||
        (rv = VT_H2D(c->pos, b->pos, T * sizeof(int))) < 0 ||
        (rv = VT_H2D(c->tok, b->tok, T * sizeof(int32_t))) < 0)
        return rv;
    VT_LAUNCH(embed, (long)T * dim, c->embd, c->tok, c->x);
    for (int l = 0; l < L; l++) {
        const vt_dlayer *ly = &c->layers[l];
        a.layer = l;
        VT_LAUNCH(rmsnorm, T, c->x, ly->attn_norm, dim, in->rms_eps, c->xb);
        vt_gpu_quant_if(c, ly->wq.type == VT_DTYPE_Q8_0 || ly->wk.type == VT_DTYPE_Q8_0 ||
                               ly->wv.type == VT_DTYPE_Q8_0, c->xb, T, dim);
        vt_gpu_matmul(c, &ly->wq, c->xb, T, c->q);
        vt_gpu_matmul(c, &ly->wk, c->xb, T, c->k);
        vt_gpu_matmul(c, &ly->wv, c->xb, T, c->v);
        VT_LAUNCH(rope_store, T, a, c->q, c->k, c->v, c->slot, c->pos, c->rope_cos, c->rope_sin,
                  c->kc, c->vc);
        VT_LAUNCH(attn, (long)T * a.nh, a, c->q, c->kc, c->vc, c->slot, c->pos, c->scores, c->att);
        vt_gpu_quant_if(c, ly->wo.type == VT_DTYPE_Q8_0, c->att, T, dim);
        vt_gpu_matmul(c, &ly->wo, c->att, T, c->tmp);
        VT_LAUNCH(add, (long)T * dim, c->x, c->tmp);
        VT_LAUNCH(rmsnorm, T, c->x, ly->ffn_norm, dim, in->rms_eps, c->xb);
        vt_gpu_quant_if(c, ly->gate.type == VT_DTYPE_Q8_0 || ly->up.type == VT_DTYPE_Q8_0, c->xb,
                        T, dim);
        vt_gpu_matmul(c, &ly->gate, c->xb, T, c->hb);
        vt_gpu_matmul(c, &ly->up, c->xb, T, c->hb2);
        VT_LAUNCH(swiglu, (long)T * hid, c->hb, c->hb2);
        vt_gpu_quant_if(c, ly->down.type == VT_DTYPE_Q8_0, c->hb, T, hid);
        vt_gpu_matmul(c, &ly->down, c->hb, T, c->tmp);
        VT_LAUNCH(add, (long)T * dim, c->x, c->tmp);
        if ((rv = VT_D2H(b->layer_out + (size_t)l * b->layer_stride, c->x,
                         (size_t)T * dim * sizeof(float))) < 0)
            return rv;
    }
    VT_LAUNCH(rmsnorm, T, c->x, c->output_norm, dim, in->rms_eps, c->xb);
    if ((rv = VT_D2H(b->final_out, c->xb, (size_t)T * dim * sizeof(float))) < 0)
        return rv;
    /* logits, VT_GPU_LOGIT_GROUP tokens at a time */
    int want[VT_GPU_LOGIT_GROUP], n = 0;
    for (int t = 0; t <= T; t++) {
        if (t < T && b->logit_dst[t])
            want[n++] = t;
        if (n == 0 || (n < VT_GPU_LOGIT_GROUP && t < T))
            continue;
        if ((rv = VT_H2D(c->gather, want, n * sizeof(int))) < 0)
            return rv;
        VT_LAUNCH(gather, (long)n * dim, c->xb, c->gather, dim, c->att);
        vt_gpu_quant_if(c, c->output.type == VT_DTYPE_Q8_0, c->att, n, dim);
        vt_gpu_matmul(c, &c->output, c->att, n, c->logits);
        if ((rv = VT_D2H(c->h_logits, c->logits, (size_t)n * vocab * sizeof(float))) < 0)
            return rv;
        for (int k = 0; k < n; k++)
            memcpy(b->logit_dst[want[k]], c->h_logits + (size_t)k * vocab,
                   (size_t)vocab * sizeof(float));
        n = 0;
    }
    return 0;
}

#endif
