/* matmul.c - CPU ISA selection and the Q8_0 weight repacking for the AVX2
 * kernel. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

int vt_cpu_has_avx2(void)
{
#if defined(VT_ENGINE_X86) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
#else
    return 0;
#endif
}

const vt_ops *vt_ops_for(int isa)
{
#ifdef VT_ENGINE_X86
    if (isa == VT_ISA_NATIVE && vt_cpu_has_avx2())
        return &vt_ops_avx2;
#endif
    (void)isa;
    return &vt_ops_scalar;
}

/* llama.cpp writes Q8_0 values in [-127, 127]. -128 would overflow the
 * AVX2 sign trick, so such a file is refused on every machine alike. */
static int check_q8(const vt_mat *w, const char *name, vt_errinfo *ei)
{
    if (w->type != VT_DTYPE_Q8_0)
        return 0;
    const vt_blk_q8 *b = w->data;
    size_t nblk = (size_t)w->rows * (w->cols / VT_QK);
    for (size_t i = 0; i < nblk; i++)
        for (int k = 0; k < VT_QK; k++)
            if (b[i].qs[k] == -128)
                return vt_fail(ei, VT_ERR_UNSUPPORTED,
                               "tensor '%s': Q8_0 value -128 in block %zu; only [-127, 127] "
                               "is supported",
                               name, i);
    return 0;
}

int vt_mat_pack(vt_mat *w)
{
    if (w->type != VT_DTYPE_Q8_0 || w->packed)
        return 0;
    size_t nb = w->cols / VT_QK, groups = (w->rows + 7) / 8;
    uint8_t *p = calloc(groups * nb, VT_PACK_BLOCK_BYTES);
    if (!p)
        return VT_ERR_NOMEM;
    const vt_blk_q8 *src = w->data;
    for (size_t r = 0; r < w->rows; r++) {
        size_t g = r / 8, lr = r % 8;
        for (size_t b = 0; b < nb; b++) {
            const vt_blk_q8 *blk = &src[r * nb + b];
            uint8_t *dst = p + (g * nb + b) * VT_PACK_BLOCK_BYTES;
            memcpy(dst + 2 * lr, &blk->d, 2);
            memcpy(dst + 16 + 32 * lr, blk->qs, VT_QK);
        }
    }
    w->packed = p;
    return 0;
}

int vt_model_pack(vt_model *m, vt_errinfo *ei)
{
    int avx2 = vt_cpu_has_avx2(), rv;
    for (uint32_t l = 0; l < m->info.n_layers; l++) {
        vt_layer *L = &m->layers[l];
        vt_mat *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->gate, &L->up, &L->down};
        static const char *const names[] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                            "ffn_gate", "ffn_up", "ffn_down"};
        for (int i = 0; i < 7; i++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%u.%s.weight", l, names[i]);
            if ((rv = check_q8(mats[i], name, ei)) < 0)
                return rv;
            if (avx2 && vt_mat_pack(mats[i]) < 0)
                return vt_fail(ei, VT_ERR_NOMEM, "out of memory repacking weights");
        }
    }
    if ((rv = check_q8(&m->output, m->info.tied_output ? "token_embd.weight" : "output.weight",
                       ei)) < 0)
        return rv;
    if (avx2 && vt_mat_pack(&m->output) < 0)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory repacking weights");
    return 0;
}

void vt_model_unpack(vt_model *m)
{
    if (m->layers) {
        for (uint32_t l = 0; l < m->info.n_layers; l++) {
            vt_layer *L = &m->layers[l];
            vt_mat *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->gate, &L->up, &L->down};
            for (int i = 0; i < 7; i++) {
                free(mats[i]->packed);
                mats[i]->packed = NULL;
            }
        }
    }
    free(m->output.packed);
    m->output.packed = NULL;
}
