/* model.h - the loaded model as the forward pass sees it (internal). */
#ifndef VT_MODEL_H
#define VT_MODEL_H

#include <stdint.h>

#include "vt_engine.h"
#include "vt_hugemem.h"
#include "vt_gguf.h"
#include "vt_kernels.h"

/* A weight matrix [rows][cols]: GGUF ne[0] = cols (input), ne[1] = rows. */
typedef struct vt_mat {
    uint32_t type;    /* VT_DTYPE_F32, F16 or Q8_0 */
    uint32_t rows, cols;
    const void *data; /* into the mapping, GGUF row-major layout */
    /* On AVX2 machines, the CPU copy the AVX2 kernels read (matmul.c):
     * Q8_0 rows repacked in groups of 8 (see kernels_avx2.c), or F32 / F16
     * rows in the file's layout, in huge pages; same numbers. NULL: use
     * data. Points into the model's wmem. */
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
    vt_hugemem wmem; /* the mapping holding every packed copy (matmul.c) */
};

/* The weights' CPU copies for the AVX2 kernels (matmul.c): Q8_0 repacked,
 * F32 / F16 copied into huge pages where the kernel grants them; also
 * refuses Q8_0 values of -128 on every machine. No copies without AVX2. */
int vt_model_pack(vt_model *m, vt_errinfo *ei);
void vt_model_unpack(vt_model *m);
/* Repack one Q8_0 matrix into its own calloc'd buffer (sets w->packed,
 * which the caller frees; no-op for other types). For tests. */
int vt_mat_pack(vt_mat *w);

#endif
