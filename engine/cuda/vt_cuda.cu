/* vt_cuda.cu - the CUDA backend: device copies of the weights, a device KV
 * cache per slot, and thin kernels over the SAME functions the CPU scalar
 * path runs (engine/src/vt_kernels.h, VT_HD = __host__ __device__).
 *
 * Correctness of order over speed: one thread computes one output element
 * (a matmul output, a token's norm row, a (token, head) attention) with the
 * exact sequential order of vt_kernels.h. Built with -fmad=false, so the
 * only fused multiply-adds are the explicit fmaf() calls, which CUDA rounds
 * exactly like the CPU. The structure mirrors engine/src/forward.c phase by
 * phase. */
#include <cuda_runtime.h>

#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "vt_cuda.h"

#define TPB 256
#define LOGIT_GROUP 32

typedef struct dmat {
    uint32_t type, rows, cols;
    const void *data; /* device, GGUF row layout */
} dmat;

typedef struct dlayer {
    const float *attn_norm, *ffn_norm;
    dmat wq, wk, wv, wo, gate, up, down;
} dlayer;

struct vt_cuda_ctx {
    const vt_model *m;
    int max_seqs, max_ctx, max_tok;
    dlayer *layers; /* host array of device pointers */
    dmat embd, output;
    const float *output_norm;
    void **allocs; /* every cudaMalloc, for free */
    int n_allocs, cap_allocs;
    float *rope_cos, *rope_sin;
    float *kc, *vc; /* [max_seqs][n_layers][max_ctx][kv_dim] */
    /* scratch, [max_tok][...] */
    float *x, *xb, *q, *k, *v, *att, *tmp, *hb, *hb2, *scores, *logits;
    int8_t *xq;
    float *xd;
    int *slot, *pos, *gather;
    int32_t *tok;
    float *h_logits;
};

static int cuda_fail(vt_errinfo *ei, cudaError_t e, const char *what)
{
    return vt_fail(ei, VT_ERR_CUDA, "CUDA %s: %s", what, cudaGetErrorString(e));
}

static int dalloc(vt_cuda_ctx *c, void **p, size_t bytes, vt_errinfo *ei)
{
    if (c->n_allocs == c->cap_allocs) {
        int cap = c->cap_allocs ? 2 * c->cap_allocs : 64;
        void **a = (void **)realloc(c->allocs, (size_t)cap * sizeof *a);
        if (!a)
            return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
        c->allocs = a;
        c->cap_allocs = cap;
    }
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 4);
    if (e != cudaSuccess)
        return cuda_fail(ei, e, "cudaMalloc");
    c->allocs[c->n_allocs++] = *p;
    return 0;
}

static size_t mat_bytes(const vt_mat *w)
{
    size_t rb = w->type == VT_DTYPE_F32   ? (size_t)w->cols * 4
                : w->type == VT_DTYPE_F16 ? (size_t)w->cols * 2
                                          : (size_t)(w->cols / VT_QK) * sizeof(vt_blk_q8);
    return rb * w->rows;
}

static int upload(vt_cuda_ctx *c, const void *src, size_t bytes, const void **dst,
                  vt_errinfo *ei)
{
    void *p = NULL;
    int rv = dalloc(c, &p, bytes, ei);
    if (rv < 0)
        return rv;
    cudaError_t e = cudaMemcpy(p, src, bytes, cudaMemcpyHostToDevice);
    if (e != cudaSuccess)
        return cuda_fail(ei, e, "upload");
    *dst = p;
    return 0;
}

static int upload_mat(vt_cuda_ctx *c, const vt_mat *w, dmat *d, vt_errinfo *ei)
{
    d->type = w->type;
    d->rows = w->rows;
    d->cols = w->cols;
    return upload(c, w->data, mat_bytes(w), &d->data, ei);
}

/* ------------------------------------------------------------ kernels */

__global__ void k_embed(dmat e, const int32_t *tok, int T, float *x)
{
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long)T * e.cols)
        return;
    int t = (int)(i / e.cols), d = (int)(i % e.cols);
    size_t rb = e.type == 0 ? (size_t)e.cols * 4 : e.type == 1 ? (size_t)e.cols * 2
                                                               : (size_t)(e.cols / VT_QK) * 34;
    x[i] = vt_k_embed(e.type, (const uint8_t *)e.data + (size_t)tok[t] * rb, d);
}

__global__ void k_rmsnorm(const float *x, const float *w, int T, int n, float eps, float *out)
{
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t < T)
        vt_k_rmsnorm(x + (size_t)t * n, w, n, eps, out + (size_t)t * n);
}

__global__ void k_quant(const float *x, int T, int n, int8_t *q, float *d)
{
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    int nb = n / VT_QK;
    if (i >= (long)T * nb)
        return;
    int t = (int)(i / nb), b = (int)(i % nb);
    vt_k_quant_q8(x + (size_t)t * n + b * VT_QK, q + (size_t)t * n + b * VT_QK,
                  d + (size_t)t * nb + b);
}

__global__ void k_matmul(dmat w, const float *x, const int8_t *xq, const float *xd, int T,
                         float *y)
{
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long)T * w.rows)
        return;
    int t = (int)(i / w.rows), r = (int)(i % w.rows), n = (int)w.cols;
    float v;
    if (w.type == VT_DTYPE_F32) {
        v = vt_k_dot_f32((const float *)w.data + (size_t)r * n, x + (size_t)t * n, n);
    } else if (w.type == VT_DTYPE_F16) {
        v = vt_k_dot_f16((const uint16_t *)w.data + (size_t)r * n, x + (size_t)t * n, n);
    } else {
        int nb = n / VT_QK;
        v = vt_k_dot_q8((const vt_blk_q8 *)w.data + (size_t)r * nb, xq + (size_t)t * n,
                        xd + (size_t)t * nb, nb);
    }
    y[(size_t)t * w.rows + r] = v;
}

/* RoPE on q and k of one token, then k and v into the slot's cache at the
 * token's position (before attention, as on the CPU). */
__global__ void k_rope_store(float *q, float *k, const float *v, int T, const int *slot,
                             const int *pos, const float *cs, const float *sn, float *kc,
                             float *vc, int layer, int n_layers, int max_ctx, int nh, int nkv,
                             int hd, int rope_dim)
{
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= T)
        return;
    int half = rope_dim / 2, kv = nkv * hd;
    const float *c = cs + (size_t)pos[t] * half, *s = sn + (size_t)pos[t] * half;
    vt_k_rope_heads(q + (size_t)t * nh * hd, nh, hd, rope_dim, c, s);
    float *kt = k + (size_t)t * kv;
    vt_k_rope_heads(kt, nkv, hd, rope_dim, c, s);
    size_t off = (((size_t)slot[t] * n_layers + layer) * max_ctx + pos[t]) * kv;
    for (int i = 0; i < kv; i++) {
        kc[off + i] = kt[i];
        vc[off + i] = v[(size_t)t * kv + i];
    }
}

__global__ void k_attn(const float *q, const float *kc, const float *vc, int T, const int *slot,
                       const int *pos, int layer, int n_layers, int max_ctx, int nh, int nkv,
                       int hd, float scale, float *scores, float *att)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= T * nh)
        return;
    int t = i / nh, h = i % nh, g = h / (nh / nkv), kv = nkv * hd;
    size_t base = ((size_t)slot[t] * n_layers + layer) * max_ctx * kv + (size_t)g * hd;
    vt_k_attn_head(q + (size_t)t * nh * hd + h * hd, kc + base, vc + base, kv, pos[t] + 1, hd,
                   scale, scores + (size_t)i * max_ctx, att + (size_t)t * nh * hd + h * hd);
}

__global__ void k_add(float *x, const float *y, long n)
{
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        x[i] = x[i] + y[i];
}

__global__ void k_swiglu(float *g, const float *u, long n)
{
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        g[i] = vt_k_swiglu(g[i], u[i]);
}

__global__ void k_gather(const float *src, const int *idx, int n, int dim, float *dst)
{
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (long)n * dim)
        dst[i] = src[(size_t)idx[i / dim] * dim + i % dim];
}

static unsigned blocks(long n)
{
    return (unsigned)((n + TPB - 1) / TPB);
}

/* ------------------------------------------------------------ host side */

extern "C" int vt_cuda_compiled(void)
{
    return 1;
}

extern "C" int vt_cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* clear the sticky "no device" error */
        return 0;
    }
    return n;
}

extern "C" void vt_cuda_ctx_free(vt_cuda_ctx *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n_allocs; i++)
        cudaFree(c->allocs[i]);
    free(c->allocs);
    free(c->layers);
    free(c->h_logits);
    free(c);
}

#define ALLOC(ptr, bytes)                                                     \
    do {                                                                      \
        void *p_ = NULL;                                                      \
        if ((rv = dalloc(c, &p_, (bytes), ei)) < 0)                           \
            goto fail;                                                        \
        ptr = (decltype(ptr))p_;                                              \
    } while (0)

extern "C" int vt_cuda_ctx_create(const vt_model *m, int max_seqs, int max_ctx, int max_tok,
                                  const float *rope_cos, const float *rope_sin,
                                  vt_cuda_ctx **out, vt_errinfo *ei)
{
    *out = NULL;
    int rv = 0;
    vt_cuda_ctx *c = (vt_cuda_ctx *)calloc(1, sizeof *c);
    if (!c)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    const vt_model_info *in = &m->info;
    size_t dim = in->dim, kv = m->kv_dim, hid = in->hidden_dim, L = in->n_layers;
    size_t wide = dim > hid ? dim : hid, T = (size_t)max_tok;
    size_t half = in->rope_dim / 2;
    c->m = m;
    c->max_seqs = max_seqs;
    c->max_ctx = max_ctx;
    c->max_tok = max_tok;
    c->layers = (dlayer *)calloc(L, sizeof *c->layers);
    c->h_logits = (float *)malloc((size_t)LOGIT_GROUP * in->vocab * sizeof(float));
    if (!c->layers || !c->h_logits) {
        rv = vt_fail(ei, VT_ERR_NOMEM, "out of memory");
        goto fail;
    }
    cudaError_t e;
    if ((e = cudaSetDevice(0)) != cudaSuccess) {
        rv = cuda_fail(ei, e, "cudaSetDevice");
        goto fail;
    }
    for (size_t l = 0; l < L; l++) {
        const vt_layer *s = &m->layers[l];
        dlayer *d = &c->layers[l];
        const void *p;
        if ((rv = upload(c, s->attn_norm, dim * 4, &p, ei)) < 0)
            goto fail;
        d->attn_norm = (const float *)p;
        if ((rv = upload(c, s->ffn_norm, dim * 4, &p, ei)) < 0)
            goto fail;
        d->ffn_norm = (const float *)p;
        if ((rv = upload_mat(c, &s->wq, &d->wq, ei)) < 0 ||
            (rv = upload_mat(c, &s->wk, &d->wk, ei)) < 0 ||
            (rv = upload_mat(c, &s->wv, &d->wv, ei)) < 0 ||
            (rv = upload_mat(c, &s->wo, &d->wo, ei)) < 0 ||
            (rv = upload_mat(c, &s->gate, &d->gate, ei)) < 0 ||
            (rv = upload_mat(c, &s->up, &d->up, ei)) < 0 ||
            (rv = upload_mat(c, &s->down, &d->down, ei)) < 0)
            goto fail;
    }
    if ((rv = upload_mat(c, &m->embd, &c->embd, ei)) < 0)
        goto fail;
    if (in->tied_output)
        c->output = c->embd;
    else if ((rv = upload_mat(c, &m->output, &c->output, ei)) < 0)
        goto fail;
    {
        const void *p;
        if ((rv = upload(c, m->output_norm, dim * 4, &p, ei)) < 0)
            goto fail;
        c->output_norm = (const float *)p;
        if ((rv = upload(c, rope_cos, (size_t)max_ctx * half * 4, &p, ei)) < 0)
            goto fail;
        c->rope_cos = (float *)p;
        if ((rv = upload(c, rope_sin, (size_t)max_ctx * half * 4, &p, ei)) < 0)
            goto fail;
        c->rope_sin = (float *)p;
    }
    ALLOC(c->kc, (size_t)max_seqs * L * max_ctx * kv * 4);
    ALLOC(c->vc, (size_t)max_seqs * L * max_ctx * kv * 4);
    ALLOC(c->x, T * dim * 4);
    ALLOC(c->xb, T * dim * 4);
    ALLOC(c->q, T * dim * 4);
    ALLOC(c->k, T * kv * 4);
    ALLOC(c->v, T * kv * 4);
    ALLOC(c->att, T * dim * 4);
    ALLOC(c->tmp, T * dim * 4);
    ALLOC(c->hb, T * hid * 4);
    ALLOC(c->hb2, T * hid * 4);
    ALLOC(c->xq, T * wide);
    ALLOC(c->xd, T * (wide / VT_QK + 1) * 4);
    ALLOC(c->scores, T * in->n_heads * (size_t)max_ctx * 4);
    ALLOC(c->logits, (size_t)LOGIT_GROUP * in->vocab * 4);
    ALLOC(c->slot, T * sizeof(int));
    ALLOC(c->pos, T * sizeof(int));
    ALLOC(c->gather, T * sizeof(int));
    ALLOC(c->tok, T * sizeof(int32_t));
    *out = c;
    return 0;
fail:
    vt_cuda_ctx_free(c);
    return rv;
}

static void matmul(vt_cuda_ctx *c, const dmat *w, const float *x, int T, float *y)
{
    k_matmul<<<blocks((long)T * w->rows), TPB>>>(*w, x, c->xq, c->xd, T, y);
}

static void quant_if(vt_cuda_ctx *c, int q8, const float *x, int T, int n)
{
    if (q8)
        k_quant<<<blocks((long)T * (n / VT_QK)), TPB>>>(x, T, n, c->xq, c->xd);
}

extern "C" int vt_cuda_forward(vt_cuda_ctx *c, const vt_fwd_batch *b, vt_errinfo *ei)
{
    const vt_model *m = c->m;
    const vt_model_info *in = &m->info;
    int T = b->n_tok, dim = (int)in->dim, hid = (int)in->hidden_dim, L = (int)in->n_layers;
    int nh = (int)in->n_heads, nkv = (int)in->n_kv_heads, hd = (int)in->head_dim;
    int vocab = (int)in->vocab;
    float scale = 1.0f / sqrtf((float)hd);
    cudaError_t e;
    if (T < 1 || T > c->max_tok)
        return vt_fail(ei, VT_ERR_INTERNAL, "CUDA forward: %d tokens (max %d)", T, c->max_tok);
    if ((e = cudaMemcpy(c->slot, b->slot, T * sizeof(int), cudaMemcpyHostToDevice)) != cudaSuccess ||
        (e = cudaMemcpy(c->pos, b->pos, T * sizeof(int), cudaMemcpyHostToDevice)) != cudaSuccess ||
        (e = cudaMemcpy(c->tok, b->tok, T * sizeof(int32_t), cudaMemcpyHostToDevice)) != cudaSuccess)
        return cuda_fail(ei, e, "upload tokens");
    k_embed<<<blocks((long)T * dim), TPB>>>(c->embd, c->tok, T, c->x);
    for (int l = 0; l < L; l++) {
        const dlayer *ly = &c->layers[l];
        k_rmsnorm<<<blocks(T), TPB>>>(c->x, ly->attn_norm, T, dim, in->rms_eps, c->xb);
        quant_if(c, ly->wq.type == VT_DTYPE_Q8_0 || ly->wk.type == VT_DTYPE_Q8_0 ||
                        ly->wv.type == VT_DTYPE_Q8_0, c->xb, T, dim);
        matmul(c, &ly->wq, c->xb, T, c->q);
        matmul(c, &ly->wk, c->xb, T, c->k);
        matmul(c, &ly->wv, c->xb, T, c->v);
        k_rope_store<<<blocks(T), TPB>>>(c->q, c->k, c->v, T, c->slot, c->pos, c->rope_cos,
                                         c->rope_sin, c->kc, c->vc, l, L, c->max_ctx, nh, nkv,
                                         hd, (int)in->rope_dim);
        k_attn<<<blocks((long)T * nh), TPB>>>(c->q, c->kc, c->vc, T, c->slot, c->pos, l, L,
                                              c->max_ctx, nh, nkv, hd, scale, c->scores, c->att);
        quant_if(c, ly->wo.type == VT_DTYPE_Q8_0, c->att, T, dim);
        matmul(c, &ly->wo, c->att, T, c->tmp);
        k_add<<<blocks((long)T * dim), TPB>>>(c->x, c->tmp, (long)T * dim);
        k_rmsnorm<<<blocks(T), TPB>>>(c->x, ly->ffn_norm, T, dim, in->rms_eps, c->xb);
        quant_if(c, ly->gate.type == VT_DTYPE_Q8_0 || ly->up.type == VT_DTYPE_Q8_0, c->xb, T, dim);
        matmul(c, &ly->gate, c->xb, T, c->hb);
        matmul(c, &ly->up, c->xb, T, c->hb2);
        k_swiglu<<<blocks((long)T * hid), TPB>>>(c->hb, c->hb2, (long)T * hid);
        quant_if(c, ly->down.type == VT_DTYPE_Q8_0, c->hb, T, hid);
        matmul(c, &ly->down, c->hb, T, c->tmp);
        k_add<<<blocks((long)T * dim), TPB>>>(c->x, c->tmp, (long)T * dim);
        e = cudaMemcpy(b->layer_out + (size_t)l * b->layer_stride, c->x,
                       (size_t)T * dim * sizeof(float), cudaMemcpyDeviceToHost);
        if (e != cudaSuccess)
            return cuda_fail(ei, e, "layer output");
    }
    k_rmsnorm<<<blocks(T), TPB>>>(c->x, c->output_norm, T, dim, in->rms_eps, c->xb);
    e = cudaMemcpy(b->final_out, c->xb, (size_t)T * dim * sizeof(float), cudaMemcpyDeviceToHost);
    if (e != cudaSuccess)
        return cuda_fail(ei, e, "final output");
    /* logits, LOGIT_GROUP tokens at a time */
    int want[LOGIT_GROUP], n = 0;
    for (int t = 0; t <= T; t++) {
        if (t < T && b->logit_dst[t])
            want[n++] = t;
        if (n == 0 || (n < LOGIT_GROUP && t < T))
            continue;
        if ((e = cudaMemcpy(c->gather, want, n * sizeof(int), cudaMemcpyHostToDevice)) != cudaSuccess)
            return cuda_fail(ei, e, "gather");
        k_gather<<<blocks((long)n * dim), TPB>>>(c->xb, c->gather, n, dim, c->att);
        quant_if(c, c->output.type == VT_DTYPE_Q8_0, c->att, n, dim);
        matmul(c, &c->output, c->att, n, c->logits);
        e = cudaMemcpy(c->h_logits, c->logits, (size_t)n * vocab * sizeof(float),
                       cudaMemcpyDeviceToHost);
        if (e != cudaSuccess)
            return cuda_fail(ei, e, "logits");
        for (int k = 0; k < n; k++)
            memcpy(b->logit_dst[want[k]], c->h_logits + (size_t)k * vocab,
                   (size_t)vocab * sizeof(float));
        n = 0;
    }
    if ((e = cudaGetLastError()) != cudaSuccess)
        return cuda_fail(ei, e, "kernel launch");
    return 0;
}
