/* ctx.c - contexts (slots, KV caches, scratch, RoPE table) and vt_forward:
 * validation, and cutting the batch into chunks for the backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "fpenv.h"

void vt_ctx_params_default(vt_ctx_params *p)
{
    memset(p, 0, sizeof *p);
    p->max_seqs = 1;
    p->max_ctx = 0;
    p->n_threads = 1;
    p->isa = VT_ISA_NATIVE;
    p->backend = VT_BACKEND_AUTO;
    p->trace_per_pos = 0;
}

/* RoPE table: cos/sin of pos * base^(-2i/rope_dim), computed in double by
 * vt_math.h's own exp/log/sincos (no libm), rounded to float once. */
static int rope_table(vt_ctx *c)
{
    const vt_model_info *in = &c->m->info;
    int half = (int)in->rope_dim / 2;
    size_t n = (size_t)c->p.max_ctx * half;
    c->rope_cos = malloc(n * sizeof(float));
    c->rope_sin = malloc(n * sizeof(float));
    if (!c->rope_cos || !c->rope_sin)
        return VT_ERR_NOMEM;
    double lnb = vt_log_d((double)in->rope_base);
    for (int i = 0; i < half; i++) {
        double inv_freq = vt_exp_d(-((double)(2 * i) / (double)in->rope_dim) * lnb);
        for (int p = 0; p < c->p.max_ctx; p++) {
            double s, co;
            vt_sincos_d((double)p * inv_freq, &s, &co);
            c->rope_cos[(size_t)p * half + i] = (float)co;
            c->rope_sin[(size_t)p * half + i] = (float)s;
        }
    }
    return 0;
}

static void *xcalloc(size_t n, size_t size, int *fail)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        *fail = 1;
    return p;
}

static int alloc_scratch(vt_ctx *c)
{
    const vt_model *m = c->m;
    size_t dim = m->info.dim, kv = m->kv_dim, hid = m->info.hidden_dim;
    size_t wide = dim > hid ? dim : hid;
    int fail = 0;
    c->x = xcalloc(VT_CHUNK * dim, sizeof(float), &fail);
    c->xb = xcalloc(VT_CHUNK * dim, sizeof(float), &fail);
    c->q = xcalloc(VT_CHUNK * dim, sizeof(float), &fail);
    c->k = xcalloc(VT_CHUNK * kv, sizeof(float), &fail);
    c->v = xcalloc(VT_CHUNK * kv, sizeof(float), &fail);
    c->att = xcalloc(VT_CHUNK * dim, sizeof(float), &fail);
    c->tmp = xcalloc(VT_CHUNK * dim, sizeof(float), &fail);
    c->hb = xcalloc(VT_CHUNK * hid, sizeof(float), &fail);
    c->hb2 = xcalloc(VT_CHUNK * hid, sizeof(float), &fail);
    c->xq = xcalloc(VT_CHUNK * wide, 1, &fail);
    c->xd = xcalloc(VT_CHUNK * (wide / VT_QK + 1), sizeof(float), &fail);
    c->scores = xcalloc((size_t)c->p.n_threads * c->p.max_ctx, sizeof(float), &fail);
    c->logits = xcalloc((size_t)VT_LOGIT_GROUP * m->info.vocab, sizeof(float), &fail);
    c->busy = xcalloc((size_t)c->p.max_seqs, 1, &fail);
    if (c->backend != VT_BACKEND_CPU)
        c->layer_out = xcalloc((size_t)m->info.n_layers * VT_CHUNK * dim, sizeof(float), &fail);
    return fail ? VT_ERR_NOMEM : 0;
}

int vt_ctx_create(const vt_model *m, const vt_ctx_params *p, vt_ctx **out, vt_errinfo *ei)
{
    *out = NULL;
    if (!m || !p)
        return vt_fail(ei, VT_ERR_INVAL, "model and params are required");
    if (p->max_seqs < 1 || p->max_seqs > 4096)
        return vt_fail(ei, VT_ERR_INVAL, "max_seqs %d out of range [1, 4096]", p->max_seqs);
    if (p->n_threads < 1 || p->n_threads > 256)
        return vt_fail(ei, VT_ERR_INVAL, "n_threads %d out of range [1, 256]", p->n_threads);
    if (p->max_ctx < 0 || p->max_ctx > (1 << 20))
        return vt_fail(ei, VT_ERR_INVAL, "max_ctx %d out of range", p->max_ctx);
    if (p->isa != VT_ISA_NATIVE && p->isa != VT_ISA_SCALAR)
        return vt_fail(ei, VT_ERR_INVAL, "unknown isa %d", (int)p->isa);
    if (p->backend != VT_BACKEND_AUTO && p->backend != VT_BACKEND_CPU &&
        p->backend != VT_BACKEND_CUDA && p->backend != VT_BACKEND_CUDA_EMU)
        return vt_fail(ei, VT_ERR_INVAL, "unknown backend %d", (int)p->backend);
    vt_backend be = p->backend;
    if (be == VT_BACKEND_AUTO)
        be = vt_cuda_compiled() && vt_cuda_device_count() > 0 ? VT_BACKEND_CUDA : VT_BACKEND_CPU;
    if (be == VT_BACKEND_CUDA && !vt_cuda_compiled())
        return vt_fail(ei, VT_ERR_CUDA, "CUDA backend requested but this build has no CUDA");
    if (be == VT_BACKEND_CUDA && vt_cuda_device_count() <= 0)
        return vt_fail(ei, VT_ERR_CUDA, "CUDA backend requested but no CUDA device is present");

    vt_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    c->m = m;
    c->p = *p;
    if (c->p.max_ctx == 0)
        c->p.max_ctx = (int)m->info.ctx_len;
    c->backend = be;
    c->ops = vt_ops_for(p->isa);
    int rv;
    if ((rv = vt_pool_create(p->n_threads, &c->pool)) < 0) {
        vt_ctx_free(c);
        return vt_fail(ei, rv, "cannot start %d threads", p->n_threads);
    }
    vt_fpenv env = vt_fpenv_enter();
    rv = rope_table(c);
    vt_fpenv_leave(env);
    if (rv < 0 || alloc_scratch(c) < 0)
        goto nomem;
    c->slots = calloc((size_t)c->p.max_seqs, sizeof *c->slots);
    if (!c->slots)
        goto nomem;
    size_t kv_floats = (size_t)m->info.n_layers * c->p.max_ctx * m->kv_dim;
    for (int s = 0; s < c->p.max_seqs; s++) {
        vt_slot *sl = &c->slots[s];
        if (be == VT_BACKEND_CPU) {
            sl->k = malloc(kv_floats * sizeof(float));
            sl->v = malloc(kv_floats * sizeof(float));
            if (!sl->k || !sl->v)
                goto nomem;
            /* Touch every page now: a decode step that first writes and
             * reads new cache pages pays their page faults (on a VM ~5-10%
             * of a 110m decode step at 2 threads), creation pays it once. */
            memset(sl->k, 0, kv_floats * sizeof(float));
            memset(sl->v, 0, kv_floats * sizeof(float));
        }
        if (vt_trace_init_slot(c, sl) < 0)
            goto nomem;
    }
    if (be == VT_BACKEND_CUDA) {
        rv = vt_cuda_ctx_create(m, c->p.max_seqs, c->p.max_ctx, VT_CHUNK, c->rope_cos,
                                c->rope_sin, &c->cuda, ei);
        if (rv < 0) {
            vt_ctx_free(c);
            return rv;
        }
        snprintf(c->desc, sizeof c->desc, "cuda");
    } else if (be == VT_BACKEND_CUDA_EMU) {
        rv = vt_gpu_emu_create(m, c->p.max_seqs, c->p.max_ctx, VT_CHUNK, c->rope_cos,
                               c->rope_sin, &c->emu, ei);
        if (rv < 0) {
            vt_ctx_free(c);
            return rv;
        }
        snprintf(c->desc, sizeof c->desc, "cuda-emu (CUDA kernels as CPU loops)");
    } else {
        snprintf(c->desc, sizeof c->desc, "cpu %s %d thread%s", c->ops->name, p->n_threads,
                 p->n_threads == 1 ? "" : "s");
    }
    *out = c;
    return 0;
nomem:
    vt_ctx_free(c);
    return vt_fail(ei, VT_ERR_NOMEM, "out of memory for a context of %d slots x %d tokens",
                   p->max_seqs, p->max_ctx ? p->max_ctx : (int)m->info.ctx_len);
}

void vt_ctx_free(vt_ctx *c)
{
    if (!c)
        return;
    if (c->cuda)
        vt_cuda_ctx_free(c->cuda);
    if (c->emu)
        vt_gpu_emu_free(c->emu);
    if (c->pool)
        vt_pool_destroy(c->pool);
    if (c->slots) {
        for (int s = 0; s < c->p.max_seqs; s++) {
            free(c->slots[s].k);
            free(c->slots[s].v);
            free(c->slots[s].layer_st);
            free(c->slots[s].perpos);
        }
        free(c->slots);
    }
    free(c->rope_cos);
    free(c->rope_sin);
    float *bufs[] = {c->x, c->xb, c->q, c->k, c->v, c->att, c->tmp, c->hb, c->hb2,
                     c->xd, c->scores, c->logits, c->layer_out};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(c->xq);
    free(c->busy);
    free(c);
}

vt_backend vt_ctx_backend(const vt_ctx *c)
{
    return c->backend;
}

const char *vt_ctx_describe(const vt_ctx *c)
{
    return c->desc;
}

int vt_seq_reset(vt_ctx *c, int seq)
{
    if (!c || seq < 0 || seq >= c->p.max_seqs)
        return VT_ERR_INVAL;
    c->slots[seq].pos = 0;
    vt_trace_reset_slot(c, &c->slots[seq]);
    return 0;
}

int vt_seq_pos(const vt_ctx *c, int seq)
{
    if (!c || seq < 0 || seq >= c->p.max_seqs)
        return VT_ERR_INVAL;
    return c->slots[seq].pos;
}

static int validate(vt_ctx *c, const vt_batch_item *items, int n_items, vt_errinfo *ei)
{
    uint32_t vocab = c->m->info.vocab;
    memset(c->busy, 0, (size_t)c->p.max_seqs);
    for (int i = 0; i < n_items; i++) {
        const vt_batch_item *it = &items[i];
        if (it->seq < 0 || it->seq >= c->p.max_seqs)
            return vt_fail(ei, VT_ERR_INVAL, "item %d: slot %d out of range [0, %d)", i, it->seq,
                           c->p.max_seqs);
        if (c->busy[it->seq])
            return vt_fail(ei, VT_ERR_INVAL, "item %d: slot %d named twice in one batch", i,
                           it->seq);
        c->busy[it->seq] = 1;
        if (it->n_tokens < 0 || (it->n_tokens > 0 && !it->tokens))
            return vt_fail(ei, VT_ERR_INVAL, "item %d: bad token list", i);
        if (it->n_logits < 0 || it->n_logits > it->n_tokens || (it->n_logits > 0 && !it->logits))
            return vt_fail(ei, VT_ERR_INVAL, "item %d: n_logits %d invalid for %d tokens", i,
                           it->n_logits, it->n_tokens);
        int pos = c->slots[it->seq].pos;
        if (it->n_tokens > c->p.max_ctx - pos)
            return vt_fail(ei, VT_ERR_RANGE,
                           "item %d: slot %d at position %d cannot take %d more tokens "
                           "(context %d)",
                           i, it->seq, pos, it->n_tokens, c->p.max_ctx);
        for (int t = 0; t < it->n_tokens; t++)
            if (it->tokens[t] < 0 || (uint32_t)it->tokens[t] >= vocab)
                return vt_fail(ei, VT_ERR_INVAL, "item %d: token %d at index %d not in [0, %u)",
                               i, it->tokens[t], t, vocab);
    }
    return 0;
}

/* vt_forward_hidden: every backend leaves the chunk's final-norm rows in
 * c->xb (the rows the trace digests), so they are copied from there. */
static void copy_hidden(vt_ctx *c)
{
    size_t dim = c->m->info.dim;
    for (int t = 0; t < c->T; t++)
        if (c->t_hid[t])
            memcpy(c->t_hid[t], c->xb + (size_t)t * dim, dim * sizeof(float));
}

static int run_chunk(vt_ctx *c, vt_errinfo *ei)
{
    if (c->backend == VT_BACKEND_CPU) {
        vt_cpu_forward_chunk(c);
        copy_hidden(c);
        return 0;
    }
    vt_fwd_batch b = {.n_tok = c->T, .slot = c->t_slot, .pos = c->t_pos, .tok = c->t_tok,
                      .logit_dst = c->t_dst, .layer_out = c->layer_out,
                      .layer_stride = (size_t)VT_CHUNK * c->m->info.dim, .final_out = c->xb};
    int rv = c->backend == VT_BACKEND_CUDA ? vt_cuda_forward(c->cuda, &b, ei)
                                           : vt_gpu_emu_forward(c->emu, &b, ei);
    if (rv < 0)
        return rv;
    size_t stride = (size_t)VT_CHUNK * c->m->info.dim;
    for (uint32_t l = 0; l < c->m->info.n_layers; l++)
        vt_trace_absorb_layer(c, (int)l, c->layer_out + l * stride);
    vt_trace_absorb_final(c, c->xb);
    copy_hidden(c);
    return 0;
}

int vt_forward(vt_ctx *c, const vt_batch_item *items, int n_items, vt_errinfo *ei)
{
    return vt_forward_hidden(c, items, n_items, NULL, ei);
}

int vt_forward_hidden(vt_ctx *c, const vt_batch_item *items, int n_items, float *const *hidden,
                      vt_errinfo *ei)
{
    if (!c || n_items < 0 || (n_items > 0 && !items))
        return vt_fail(ei, VT_ERR_INVAL, "bad arguments to vt_forward");
    int rv = validate(c, items, n_items, ei);
    if (rv < 0)
        return rv;
    vt_fpenv env = vt_fpenv_enter();
    /* Stream the items' tokens into chunks of at most VT_CHUNK. A slot's
     * tokens stay in order, so its cache and digests see positions in order. */
    c->T = 0;
    for (int i = 0; i < n_items; i++) {
        const vt_batch_item *it = &items[i];
        int base = c->slots[it->seq].pos;
        for (int t = 0; t < it->n_tokens; t++) {
            int li = t - (it->n_tokens - it->n_logits);
            c->t_slot[c->T] = it->seq;
            c->t_pos[c->T] = base + t;
            c->t_tok[c->T] = it->tokens[t];
            c->t_dst[c->T] = li >= 0 ? it->logits + (size_t)li * c->m->info.vocab : NULL;
            c->t_hid[c->T] = hidden && hidden[i] ? hidden[i] + (size_t)t * c->m->info.dim : NULL;
            if (++c->T == VT_CHUNK) {
                if ((rv = run_chunk(c, ei)) < 0)
                    goto fail;
                c->T = 0;
            }
        }
    }
    if (c->T > 0 && (rv = run_chunk(c, ei)) < 0)
        goto fail;
    for (int i = 0; i < n_items; i++)
        c->slots[items[i].seq].pos += items[i].n_tokens;
    vt_fpenv_leave(env);
    return 0;
fail:
    vt_fpenv_leave(env);
    /* A backend failure leaves caches half-written: empty the slots. */
    for (int i = 0; i < n_items; i++)
        vt_seq_reset(c, items[i].seq);
    return rv;
}
