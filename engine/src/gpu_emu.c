/* gpu_emu.c - VT_BACKEND_CUDA_EMU: the CUDA backend's forward pass
 * (gpu_forward.h) with each kernel launch a loop over its elements and
 * "device" memory plain host memory. Weights are used in place (the
 * mapping). */
#include <stdlib.h>

static void *emu_alloc(size_t bytes)
{
    return calloc(1, bytes ? bytes : 1);
}

#define VT_LAUNCH(name, n, ...)                                                 \
    do {                                                                        \
        long n_ = (n);                                                          \
        for (long i_ = 0; i_ < n_; i_++)                                        \
            vt_ck_##name(i_, __VA_ARGS__);                                      \
    } while (0)
#define VT_DALLOC(ptr, bytes) (((ptr) = emu_alloc(bytes)) ? 0 : VT_ERR_NOMEM)
#define VT_H2D(dst, src, bytes) (memcpy((dst), (src), (bytes)), 0)
#define VT_D2H(dst, src, bytes) (memcpy((dst), (src), (bytes)), 0)

#include "gpu_forward.h"

static vt_dlayer emu_layer(const vt_layer *s)
{
    vt_dlayer d;
    d.attn_norm = s->attn_norm;
    d.ffn_norm = s->ffn_norm;
    d.wq = vt_gpu_dmat(&s->wq, s->wq.data);
    d.wk = vt_gpu_dmat(&s->wk, s->wk.data);
    d.wv = vt_gpu_dmat(&s->wv, s->wv.data);
    d.wo = vt_gpu_dmat(&s->wo, s->wo.data);
    d.gate = vt_gpu_dmat(&s->gate, s->gate.data);
    d.up = vt_gpu_dmat(&s->up, s->up.data);
    d.down = vt_gpu_dmat(&s->down, s->down.data);
    return d;
}

int vt_gpu_emu_create(const vt_model *m, int max_seqs, int max_ctx, int max_tok,
                      const float *rope_cos, const float *rope_sin, vt_gpu **out,
                      vt_errinfo *ei)
{
    *out = NULL;
    vt_gpu *c = calloc(1, sizeof *c);
    if (!c)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    c->m = m;
    c->max_seqs = max_seqs;
    c->max_ctx = max_ctx;
    c->max_tok = max_tok;
    c->layers = calloc(m->info.n_layers, sizeof *c->layers);
    c->h_logits = malloc((size_t)VT_GPU_LOGIT_GROUP * m->info.vocab * sizeof(float));
    int rv = !c->layers || !c->h_logits ? VT_ERR_NOMEM : vt_gpu_alloc_state(c, ei);
    if (rv < 0) {
        vt_gpu_emu_free(c);
        return vt_fail(ei, rv, "out of memory for the emulated device");
    }
    for (uint32_t l = 0; l < m->info.n_layers; l++)
        c->layers[l] = emu_layer(&m->layers[l]);
    c->embd = vt_gpu_dmat(&m->embd, m->embd.data);
    c->output = vt_gpu_dmat(&m->output, m->output.data);
    c->output_norm = m->output_norm;
    c->rope_cos = rope_cos;
    c->rope_sin = rope_sin;
    *out = c;
    return 0;
}

void vt_gpu_emu_free(vt_gpu *c)
{
    if (!c)
        return;
    void *bufs[] = {c->kc,  c->vc,     c->x,      c->xb,     c->q,    c->k,
                    c->v,   c->att,    c->tmp,    c->hb,     c->hb2,  c->scores,
                    c->logits, c->xd,  c->xq,     c->slot,   c->pos,  c->gather,
                    c->tok, c->layers, c->h_logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(c);
}

int vt_gpu_emu_forward(vt_gpu *c, const vt_fwd_batch *b, vt_errinfo *ei)
{
    return vt_gpu_forward(c, b, ei);
}
