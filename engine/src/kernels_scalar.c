/* kernels_scalar.c - the portable kernel table: straight calls into
 * vt_kernels.h, the same functions the CUDA kernels run. */
#include "kernels_rows.h"

static void scalar_matmul(const vt_mat *w, int g0, int g1, const vt_xin *in, float *y, int ldy)
{
    int r0 = g0 * VT_ROW_GROUP;
    int r1 = g1 * VT_ROW_GROUP < (int)w->rows ? g1 * VT_ROW_GROUP : (int)w->rows;
    int n = (int)w->cols;
    for (int r = r0; r < r1; r++) {
        for (int t = 0; t < in->T; t++) {
            float v;
            if (w->type == VT_DTYPE_F32) {
                v = vt_k_dot_f32((const float *)w->data + (long)r * n, in->x + (long)t * n, n);
            } else if (w->type == VT_DTYPE_F16) {
                v = vt_k_dot_f16((const uint16_t *)w->data + (long)r * n, in->x + (long)t * n, n);
            } else {
                int nb = n / VT_QK;
                v = vt_k_dot_q8((const vt_blk_q8 *)w->data + (long)r * nb, in->q + (long)t * n,
                                in->d + (long)t * nb, nb);
            }
            y[(long)t * ldy + r] = v;
        }
    }
}

const vt_ops vt_ops_scalar = {
    .name = "scalar",
    .matmul = scalar_matmul,
    .quant_q8 = rows_quant_q8,
    .rmsnorm = vt_k_rmsnorm,
    .swiglu = rows_swiglu,
    .rope = vt_k_rope_heads,
    .attn_head = vt_k_attn_head,
};
