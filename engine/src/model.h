/* model.h - the loaded model as the forward pass sees it (internal). */
#ifndef VT_MODEL_H
#define VT_MODEL_H

#include <stdint.h>

#include "vt_engine.h"
#include "vt_gguf.h"
#include "vt_kernels.h"

/* A weight matrix [rows][cols]: GGUF ne[0] = cols (input), ne[1] = rows. */
typedef struct vt_mat {
    uint32_t type;    /* VT_DTYPE_F32, F16 or Q8_0 */
    uint32_t rows, cols;
    const void *data; /* into the mapping, GGUF row-major layout */
    /* Q8_0 only, on AVX2 machines: the rows repacked in groups of 8 for the
     * AVX2 kernel (see kernels_avx2.c); same numbers, another layout. */
    uint8_t *packed;
} vt_mat;

typedef struct vt_layer {
    const float *attn_norm; /* [dim] */
    const float *ffn_norm;  /* [dim] */
    vt_mat wq, wk, wv, wo;  /* [dim][dim], [kv][dim], [kv][dim], [dim][dim] */
    vt_mat gate, up, down;  /* [hidden][dim], [hidden][dim], [dim][hidden] */
} vt_layer;

struct vt_model {
    vt_gguf *gguf;
    vt_tokenizer *tok;
    vt_model_info info;
    uint32_t kv_dim; /* n_kv_heads * head_dim */
    vt_mat embd;     /* [vocab][dim] */
    vt_mat output;   /* [vocab][dim]; == embd when tied */
    const float *output_norm;
    vt_layer *layers;
};

/* Q8_0 repacking for the AVX2 kernel (matmul.c); no-op without AVX2. */
int vt_model_pack(vt_model *m, vt_errinfo *ei);
void vt_model_unpack(vt_model *m);
/* Repack one Q8_0 matrix (sets w->packed; no-op for other types). */
int vt_mat_pack(vt_mat *w);

#endif
