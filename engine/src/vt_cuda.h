/* vt_cuda.h - the CUDA backend as the C side sees it (internal).
 * The .cu files in engine/cuda/ define these when built with nvcc; cuda_stub.c
 * otherwise. */
#ifndef VT_CUDA_H
#define VT_CUDA_H

#include "vt_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A forward step flattened to tokens: token t belongs to slot slot[t] at
 * position pos[t]; a slot's tokens are consecutive with ascending positions.
 * The backend writes, for every token, each layer's output residual
 * (layer_out[l][t][dim]) and the final-norm output (final_out[t][dim]) so the
 * caller can absorb them into the trace digests, and the logits of tokens
 * whose logit_dst[t] is non-NULL. */
typedef struct vt_fwd_batch {
    int n_tok;
    const int *slot;
    const int *pos;
    const int32_t *tok;
    float *const *logit_dst;
    float *layer_out; /* layer l, token t at layer_out + l*layer_stride + t*dim */
    size_t layer_stride;
    float *final_out; /* [n_tok][dim] */
} vt_fwd_batch;

typedef struct vt_cuda_ctx vt_cuda_ctx;

/* rope_cos/rope_sin: [max_ctx][rope_dim/2], uploaded as is. max_tok: the
 * most tokens one vt_cuda_forward call will carry. */
int vt_cuda_ctx_create(const vt_model *m, int max_seqs, int max_ctx, int max_tok,
                       const float *rope_cos,
                       const float *rope_sin, vt_cuda_ctx **out, vt_errinfo *ei);
void vt_cuda_ctx_free(vt_cuda_ctx *c);
int vt_cuda_forward(vt_cuda_ctx *c, const vt_fwd_batch *b, vt_errinfo *ei);

/* The same backend with every kernel run as a plain loop on the CPU
 * (VT_BACKEND_CUDA_EMU, gpu_emu.c): it executes gpu_forward.h and the
 * element functions of gpu_kernels.h, so the CUDA backend's indexing and
 * phase order are tested on machines without a GPU. Slow; for tests. */
typedef struct vt_gpu vt_gpu;
int vt_gpu_emu_create(const vt_model *m, int max_seqs, int max_ctx, int max_tok,
                      const float *rope_cos, const float *rope_sin, vt_gpu **out,
                      vt_errinfo *ei);
void vt_gpu_emu_free(vt_gpu *g);
int vt_gpu_emu_forward(vt_gpu *g, const vt_fwd_batch *b, vt_errinfo *ei);

#ifdef __cplusplus
}
#endif
#endif
