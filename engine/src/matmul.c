/* matmul.c - CPU ISA selection and the weights' CPU copies: the Q8_0
 * repacking for the AVX2 kernel and the huge-page copies of F32 / F16. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "vt_hugemem.h"

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

#define VT_MAX_LAYERS_MATS (7 * VT_MAX_LAYERS + 1)

/* Every matrix the forward pass multiplies by: 7 per layer, then the
 * classifier. Returns how many. */
static int model_mats(vt_model *m, vt_mat **out)
{
    int n = 0;
    for (uint32_t l = 0; l < m->info.n_layers; l++) {
        vt_layer *L = &m->layers[l];
        vt_mat *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->gate, &L->up, &L->down};
        for (int i = 0; i < 7; i++)
            out[n++] = mats[i];
    }
    out[n++] = &m->output;
    return n;
}

/* The GGUF name of model_mats()'s i-th matrix. */
static void mat_name(const vt_model *m, int i, char *buf, size_t cap)
{
    static const char *const names[] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                        "ffn_gate", "ffn_up", "ffn_down"};
    if ((uint32_t)i == 7 * m->info.n_layers)
        snprintf(buf, cap, "%s", m->info.tied_output ? "token_embd.weight" : "output.weight");
    else
        snprintf(buf, cap, "blk.%d.%s.weight", i / 7, names[i % 7]);
}

/* Bytes of w's CPU copy: the Q8_0 repacking for the AVX2 kernel, or, for
 * F32 / F16 when `copy_f` is set, the same rows in the same layout. */
static size_t mat_copy_bytes(const vt_mat *w, int copy_f)
{
    if (w->type == VT_DTYPE_Q8_0)
        return (size_t)(w->rows + 7) / 8 * (w->cols / VT_QK) * VT_PACK_BLOCK_BYTES;
    if (copy_f && (w->type == VT_DTYPE_F32 || w->type == VT_DTYPE_F16))
        return (size_t)w->rows * w->cols * (w->type == VT_DTYPE_F32 ? 4 : 2);
    return 0;
}

/* Writes w's CPU copy to dst (zeroed, mat_copy_bytes(w) long) and points
 * w->packed at it. */
static void mat_copy_into(vt_mat *w, uint8_t *dst)
{
    if (w->type != VT_DTYPE_Q8_0) {
        memcpy(dst, w->data, mat_copy_bytes(w, 1));
        w->packed = dst;
        return;
    }
    size_t nb = w->cols / VT_QK;
    const vt_blk_q8 *src = w->data;
    for (size_t r = 0; r < w->rows; r++) {
        size_t g = r / 8, lr = r % 8;
        for (size_t b = 0; b < nb; b++) {
            const vt_blk_q8 *blk = &src[r * nb + b];
            uint8_t *o = dst + (g * nb + b) * VT_PACK_BLOCK_BYTES;
            memcpy(o + 2 * lr, &blk->d, 2);
            memcpy(o + 16 + 32 * lr, blk->qs, VT_QK);
        }
    }
    w->packed = dst;
}

int vt_mat_pack(vt_mat *w)
{
    if (w->type != VT_DTYPE_Q8_0 || w->packed)
        return 0;
    uint8_t *p = calloc(1, mat_copy_bytes(w, 0));
    if (!p)
        return VT_ERR_NOMEM;
    mat_copy_into(w, p);
    return 0;
}

/* The weights' CPU copies, all in one anonymous mapping advised into 2 MiB
 * huge pages. Decode streams every weight once per token; with 4 KiB pages
 * that walk takes a TLB miss every 4 KiB (in-process A/B, 1 thread, median
 * decode: 110m F32 36.2 -> 39.1 tok/s, 110m Q8_0 137.7 -> 155.5, when the
 * weights moved into huge pages). The file mapping itself stays for the
 * rest (embedding rows, norms, the CUDA upload). */
int vt_model_pack(vt_model *m, vt_errinfo *ei)
{
    /* F32 / F16 are copied only where huge pages are granted: otherwise
     * the copy would be as slow to walk as the file's 4 KiB pages. */
    int avx2 = vt_cpu_has_avx2(), copy_f = avx2 && vt_hugemem_thp_enabled(), rv;
    vt_mat *mats[VT_MAX_LAYERS_MATS];
    int n = model_mats(m, mats);
    for (int i = 0; i < n; i++) {
        char name[64];
        mat_name(m, i, name, sizeof name);
        if ((rv = check_q8(mats[i], name, ei)) < 0)
            return rv;
    }
    if (!avx2)
        return 0;
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += (mat_copy_bytes(mats[i], copy_f) + 63) / 64 * 64;
    if (total == 0)
        return 0;
    uint8_t *base = vt_hugemem_alloc(&m->wmem, total);
    if (!base)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory for the weights' CPU copies (%zu MB)",
                       total >> 20);
    for (int i = 0; i < n; i++) {
        size_t b = mat_copy_bytes(mats[i], copy_f);
        if (b) {
            mat_copy_into(mats[i], base);
            base += (b + 63) / 64 * 64;
        }
    }
    return 0;
}

void vt_model_unpack(vt_model *m)
{
    vt_mat *mats[VT_MAX_LAYERS_MATS];
    int n = m->layers ? model_mats(m, mats) : 0;
    for (int i = 0; i < n; i++)
        mats[i]->packed = NULL;
    m->output.packed = NULL;
    vt_hugemem_free(&m->wmem);
}
