/* ctx.h - the inference context (internal; shared by ctx.c, forward.c,
 * trace.c). */
#ifndef VT_CTX_H
#define VT_CTX_H

#include <sodium.h>

#include "kernels.h"
#include "vt_cuda.h"

/* Tokens per internal forward chunk: bounds the scratch memory; results do
 * not depend on it (the contract covers any chunking). */
#define VT_CHUNK 256
/* Tokens whose logits are computed together (bounds the logits scratch). */
#define VT_LOGIT_GROUP 32

typedef struct vt_slot {
    int pos;        /* tokens in the cache = next position */
    float *k, *v;   /* [n_layers][n_kv_heads][max_ctx][head_dim] (forward.c kv_row) */
    crypto_generichash_state final_st;
    crypto_generichash_state *layer_st; /* [n_layers] */
    uint8_t *perpos; /* trace_per_pos: [max_ctx][1 + n_layers][32] */
} vt_slot;

struct vt_ctx {
    const vt_model *m;
    vt_ctx_params p;
    vt_backend backend;
    const vt_ops *ops;
    vt_pool *pool;
    vt_slot *slots;
    float *rope_cos, *rope_sin; /* [max_ctx][rope_dim/2] */
    char desc[96];
    vt_cuda_ctx *cuda;
    vt_gpu *emu;                           /* VT_BACKEND_CUDA_EMU */

    /* chunk description */
    int T;
    int t_slot[VT_CHUNK], t_pos[VT_CHUNK];
    int32_t t_tok[VT_CHUNK];
    float *t_dst[VT_CHUNK];
    float *t_hid[VT_CHUNK];  /* where the token's final-norm row goes (vt_batch_item.hidden), or NULL */

    /* scratch, [VT_CHUNK][...] */
    float *x, *xb, *q, *k, *v, *att, *tmp; /* dim or kv_dim wide */
    float *hb, *hb2;                       /* hidden wide */
    int8_t *xq;                            /* [VT_CHUNK][max(dim, hidden)] */
    float *xd;                             /* [VT_CHUNK][max(dim, hidden)/32] */
    float *scores;                         /* [n_threads][max_ctx] */
    float *logits;                         /* [VT_LOGIT_GROUP][vocab] */
    float *layer_out;                      /* CUDA: [n_layers][VT_CHUNK][dim] */
    uint8_t *busy;                         /* [max_seqs] item validation */
};

/* forward.c: one chunk on the CPU (c->T tokens described in c->t_*). */
void vt_cpu_forward_chunk(vt_ctx *c);
/* trace.c */
int vt_trace_init_slot(vt_ctx *c, vt_slot *s);
void vt_trace_reset_slot(vt_ctx *c, vt_slot *s);
void vt_trace_absorb_layer(vt_ctx *c, int l, const float *rows /* [T][dim] */);
void vt_trace_absorb_final(vt_ctx *c, const float *rows /* [T][dim] */);

#endif
