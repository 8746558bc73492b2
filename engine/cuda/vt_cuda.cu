/* vt_cuda.cu - the CUDA backend: device copies of the weights, a device KV
 * cache per slot, and one __global__ per element function of
 * engine/src/gpu_kernels.h (one thread per output element, the exact
 * sequential order of vt_kernels.h, the same source the CPU scalar path
 * runs). The forward pass itself is engine/src/gpu_forward.h, shared with
 * the CPU emulation (gpu_emu.c) that tests it on machines without a GPU.
 * Built with -fmad=false: the only fused multiply-adds are explicit
 * fmaf() calls, rounded by CUDA exactly like the CPU. */
#include <cuda_runtime.h>

#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "vt_cuda.h"

#define TPB 256

static unsigned vt_blocks(long n)
{
    return (unsigned)((n + TPB - 1) / TPB);
}

struct vt_cuda_ctx;
static int vt_cuda_dalloc(struct vt_cuda_ctx *c, void **p, size_t bytes, vt_errinfo *ei);
static int vt_cuda_copy(void *dst, const void *src, size_t bytes, int to_device, vt_errinfo *ei);

/* gpu_forward.h's vt_gpu is the first member of vt_cuda_ctx. */
#define VT_LAUNCH(name, n, ...) k_##name<<<vt_blocks(n), TPB>>>((long)(n), __VA_ARGS__)
#define VT_DALLOC(ptr, bytes) \
    vt_cuda_dalloc((struct vt_cuda_ctx *)c, (void **)&(ptr), (bytes), ei)
#define VT_H2D(dst, src, bytes) vt_cuda_copy((dst), (src), (bytes), 1, ei)
#define VT_D2H(dst, src, bytes) vt_cuda_copy((dst), (src), (bytes), 0, ei)

#include "gpu_kernels.h"

/* ------------------------------------------------------------ kernels */

#define VT_ELEM long i = (long)blockIdx.x * blockDim.x + threadIdx.x; if (i >= n) return

__global__ void k_embed(long n, vt_dmat e, const int32_t *tok, float *x)
{
    VT_ELEM;
    vt_ck_embed(i, e, tok, x);
}

__global__ void k_rmsnorm(long n, const float *x, const float *w, int dim, float eps, float *out)
{
    VT_ELEM;
    vt_ck_rmsnorm(i, x, w, dim, eps, out);
}

__global__ void k_quant(long n, const float *x, int dim, int8_t *q, float *d)
{
    VT_ELEM;
    vt_ck_quant(i, x, dim, q, d);
}

__global__ void k_matmul(long n, vt_dmat w, const float *x, const int8_t *xq, const float *xd,
                         float *y)
{
    VT_ELEM;
    vt_ck_matmul(i, w, x, xq, xd, y);
}

__global__ void k_rope_store(long n, vt_dattn a, float *q, float *k, const float *v,
                             const int *slot, const int *pos, const float *cs, const float *sn,
                             float *kc, float *vc)
{
    VT_ELEM;
    vt_ck_rope_store(i, a, q, k, v, slot, pos, cs, sn, kc, vc);
}

__global__ void k_attn(long n, vt_dattn a, const float *q, const float *kc, const float *vc,
                       const int *slot, const int *pos, float *scores, float *att)
{
    VT_ELEM;
    vt_ck_attn(i, a, q, kc, vc, slot, pos, scores, att);
}

__global__ void k_add(long n, float *x, const float *y)
{
    VT_ELEM;
    vt_ck_add(i, x, y);
}

__global__ void k_swiglu(long n, float *g, const float *u)
{
    VT_ELEM;
    vt_ck_swiglu(i, g, u);
}

__global__ void k_gather(long n, const float *src, const int *idx, int dim, float *dst)
{
    VT_ELEM;
    vt_ck_gather(i, src, idx, dim, dst);
}

#include "gpu_forward.h"

struct vt_cuda_ctx {
    vt_gpu g; /* first: VT_DALLOC casts between the two */
    void **allocs;
    int n_allocs, cap_allocs;
};

static int cuda_fail(vt_errinfo *ei, cudaError_t e, const char *what)
{
    return vt_fail(ei, VT_ERR_CUDA, "CUDA %s: %s", what, cudaGetErrorString(e));
}

static int vt_cuda_dalloc(struct vt_cuda_ctx *c, void **p, size_t bytes, vt_errinfo *ei)
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

static int vt_cuda_copy(void *dst, const void *src, size_t bytes, int to_device, vt_errinfo *ei)
{
    cudaError_t e = cudaMemcpy(dst, src, bytes,
                               to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost);
    if (e != cudaSuccess)
        return cuda_fail(ei, e, to_device ? "copy to device" : "copy from device");
    /* a failed kernel launch surfaces here at the latest */
    if ((e = cudaGetLastError()) != cudaSuccess)
        return cuda_fail(ei, e, "kernel");
    return 0;
}

/* A device copy of host bytes. */
static int upload(vt_cuda_ctx *c, const void *src, size_t bytes, const void **dst,
                  vt_errinfo *ei)
{
    void *p = NULL;
    int rv = vt_cuda_dalloc(c, &p, bytes, ei);
    if (rv < 0 || (rv = vt_cuda_copy(p, src, bytes, 1, ei)) < 0)
        return rv;
    *dst = p;
    return 0;
}

static int upload_mat(vt_cuda_ctx *c, const vt_mat *w, vt_dmat *d, vt_errinfo *ei)
{
    const void *p = NULL;
    int rv = upload(c, w->data, vt_mat_bytes(w), &p, ei);
    *d = vt_gpu_dmat(w, p);
    return rv;
}

static int upload_f32(vt_cuda_ctx *c, const float *src, size_t n, const float **dst,
                      vt_errinfo *ei)
{
    const void *p = NULL;
    int rv = upload(c, src, n * sizeof(float), &p, ei);
    *dst = (const float *)p;
    return rv;
}

/* ------------------------------------------------------------ API */

extern "C" int vt_cuda_compiled(void)
{
    return 1;
}

extern "C" int vt_cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* clear the "no device" error */
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
    free(c->g.layers);
    free(c->g.h_logits);
    free(c);
}

static int upload_model(vt_cuda_ctx *c, const float *rope_cos, const float *rope_sin,
                        vt_errinfo *ei)
{
    const vt_model *m = c->g.m;
    size_t dim = m->info.dim;
    int rv = 0;
    for (uint32_t l = 0; l < m->info.n_layers && rv == 0; l++) {
        const vt_layer *s = &m->layers[l];
        vt_dlayer *d = &c->g.layers[l];
        if ((rv = upload_f32(c, s->attn_norm, dim, &d->attn_norm, ei)) < 0 ||
            (rv = upload_f32(c, s->ffn_norm, dim, &d->ffn_norm, ei)) < 0 ||
            (rv = upload_mat(c, &s->wq, &d->wq, ei)) < 0 ||
            (rv = upload_mat(c, &s->wk, &d->wk, ei)) < 0 ||
            (rv = upload_mat(c, &s->wv, &d->wv, ei)) < 0 ||
            (rv = upload_mat(c, &s->wo, &d->wo, ei)) < 0 ||
            (rv = upload_mat(c, &s->gate, &d->gate, ei)) < 0 ||
            (rv = upload_mat(c, &s->up, &d->up, ei)) < 0 ||
            (rv = upload_mat(c, &s->down, &d->down, ei)) < 0)
            return rv;
    }
    if ((rv = upload_mat(c, &m->embd, &c->g.embd, ei)) < 0)
        return rv;
    if (m->info.tied_output)
        c->g.output = c->g.embd;
    else if ((rv = upload_mat(c, &m->output, &c->g.output, ei)) < 0)
        return rv;
    size_t nrope = (size_t)c->g.max_ctx * (m->info.rope_dim / 2);
    if ((rv = upload_f32(c, m->output_norm, dim, &c->g.output_norm, ei)) < 0 ||
        (rv = upload_f32(c, rope_cos, nrope, &c->g.rope_cos, ei)) < 0 ||
        (rv = upload_f32(c, rope_sin, nrope, &c->g.rope_sin, ei)) < 0)
        return rv;
    return 0;
}

extern "C" int vt_cuda_ctx_create(const vt_model *m, int max_seqs, int max_ctx, int max_tok,
                                  const float *rope_cos, const float *rope_sin,
                                  vt_cuda_ctx **out, vt_errinfo *ei)
{
    *out = NULL;
    vt_cuda_ctx *c = (vt_cuda_ctx *)calloc(1, sizeof *c);
    if (!c)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    c->g.m = m;
    c->g.max_seqs = max_seqs;
    c->g.max_ctx = max_ctx;
    c->g.max_tok = max_tok;
    c->g.layers = (vt_dlayer *)calloc(m->info.n_layers, sizeof *c->g.layers);
    c->g.h_logits = (float *)malloc((size_t)VT_GPU_LOGIT_GROUP * m->info.vocab * sizeof(float));
    int rv;
    cudaError_t e;
    if (!c->g.layers || !c->g.h_logits)
        rv = vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    else if ((e = cudaSetDevice(0)) != cudaSuccess)
        rv = cuda_fail(ei, e, "cudaSetDevice");
    else if ((rv = upload_model(c, rope_cos, rope_sin, ei)) == 0)
        rv = vt_gpu_alloc_state(&c->g, ei);
    if (rv < 0) {
        vt_cuda_ctx_free(c);
        return rv;
    }
    *out = c;
    return 0;
}

extern "C" int vt_cuda_forward(vt_cuda_ctx *c, const vt_fwd_batch *b, vt_errinfo *ei)
{
    return vt_gpu_forward(&c->g, b, ei);
}
