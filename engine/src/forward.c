/* forward.c - the llama forward pass of one chunk of tokens on the CPU.
 *
 * Tokens of all sequences in the chunk form one activation matrix [T][dim];
 * every phase is a pool job that splits OUTPUT elements (matmul rows,
 * tokens, or (token, head) pairs) into contiguous ranges, one per thread.
 * No reduction is ever split, so no result depends on T, on the neighbours
 * of a token, or on the thread count (docs/determinism.md). */
#include <string.h>

#include "ctx.h"

typedef struct job {
    vt_ctx *c;
    const vt_layer *L;
    int T;
    /* matmul: up to 3 weights sharing one input */
    int n_mm;
    const vt_mat *mm_w[3];
    float *mm_y[3];
    int mm_ldy[3];
    vt_xin in;
    int phase;
} job;

static void range(int n, int i, int nt, int *lo, int *hi)
{
    *lo = (int)((long)n * i / nt);
    *hi = (int)((long)n * (i + 1) / nt);
}

/* Rows of all the job's matrices, in 8-row groups, concatenated. */
static void mm_task(void *arg, int i, int nt)
{
    job *j = arg;
    int total = 0, gs[3];
    for (int k = 0; k < j->n_mm; k++) {
        gs[k] = (int)((j->mm_w[k]->rows + VT_ROW_GROUP - 1) / VT_ROW_GROUP);
        total += gs[k];
    }
    int lo, hi;
    range(total, i, nt, &lo, &hi);
    int base = 0;
    for (int k = 0; k < j->n_mm; k++) {
        int a = lo > base ? lo - base : 0, b = hi - base < gs[k] ? hi - base : gs[k];
        if (a < b)
            j->c->ops->matmul(j->mm_w[k], a, b, &j->in, j->mm_y[k], j->mm_ldy[k]);
        base += gs[k];
    }
}

static void matmul(job *j, int n, const vt_mat *const *w, float *const *y, const float *x,
                   int n_in)
{
    vt_ctx *c = j->c;
    j->n_mm = n;
    int any_q8 = 0;
    for (int k = 0; k < n; k++) {
        j->mm_w[k] = w[k];
        j->mm_y[k] = y[k];
        j->mm_ldy[k] = (int)w[k]->rows;
        any_q8 |= w[k]->type == VT_DTYPE_Q8_0;
    }
    j->in.x = x;
    j->in.T = j->T;
    j->in.n = n_in;
    j->in.q = any_q8 ? c->xq : NULL;
    j->in.d = any_q8 ? c->xd : NULL;
    vt_pool_run(c->pool, mm_task, j);
}

enum { PH_ATTN_NORM, PH_ROPE_STORE, PH_ATTN, PH_FFN_NORM, PH_SWIGLU, PH_RESID, PH_FINAL_NORM,
       PH_QUANT_ATT };

static int wants_q8(const vt_mat *a, const vt_mat *b, const vt_mat *d)
{
    return a->type == VT_DTYPE_Q8_0 || (b && b->type == VT_DTYPE_Q8_0) ||
           (d && d->type == VT_DTYPE_Q8_0);
}

/* Per-token elementwise phases (and attention over (token, head)). */
static void token_task(void *arg, int i, int nt)
{
    job *j = arg;
    vt_ctx *c = j->c;
    const vt_model *m = c->m;
    const vt_model_info *in = &m->info;
    const vt_layer *L = j->L;
    int dim = (int)in->dim, kv = (int)m->kv_dim, hid = (int)in->hidden_dim;
    int hd = (int)in->head_dim, half = (int)in->rope_dim / 2;
    int lo, hi;
    if (j->phase == PH_ATTN) {
        int nh = (int)in->n_heads, grp = nh / (int)in->n_kv_heads;
        int l = (int)(L - m->layers);
        float scale = 1.0f / sqrtf((float)hd);
        float *scores = c->scores + (size_t)i * c->p.max_ctx;
        /* Strided, not contiguous: later tokens attend over more positions,
         * so contiguous ranges would leave one thread with most work. */
        for (int w = i; w < j->T * nh; w += nt) {
            int t = w / nh, h = w % nh, g = h / grp;
            vt_slot *s = &c->slots[c->t_slot[t]];
            size_t lay = (size_t)l * c->p.max_ctx * kv;
            c->ops->attn_head(c->q + (size_t)t * dim + h * hd, s->k + lay + g * hd,
                              s->v + lay + g * hd, kv, c->t_pos[t] + 1, hd, scale, scores,
                              c->att + (size_t)t * dim + h * hd);
        }
        return;
    }
    range(j->T, i, nt, &lo, &hi);
    for (int t = lo; t < hi; t++) {
        float *x = c->x + (size_t)t * dim, *xb = c->xb + (size_t)t * dim;
        switch (j->phase) {
        case PH_ATTN_NORM:
            c->ops->rmsnorm(x, L->attn_norm, dim, in->rms_eps, xb);
            if (wants_q8(&L->wq, &L->wk, &L->wv))
                c->ops->quant_q8(xb, dim, c->xq + (size_t)t * dim, c->xd + (size_t)t * (dim / VT_QK));
            break;
        case PH_ROPE_STORE: {
            const float *cs = c->rope_cos + (size_t)c->t_pos[t] * half;
            const float *sn = c->rope_sin + (size_t)c->t_pos[t] * half;
            float *q = c->q + (size_t)t * dim, *k = c->k + (size_t)t * kv;
            c->ops->rope(q, (int)in->n_heads, hd, (int)in->rope_dim, cs, sn);
            c->ops->rope(k, (int)in->n_kv_heads, hd, (int)in->rope_dim, cs, sn);
            /* The cache is written before attention reads it, so prefill and
             * decode see the same layout. */
            vt_slot *s = &c->slots[c->t_slot[t]];
            int l = (int)(L - m->layers);
            size_t off = ((size_t)l * c->p.max_ctx + (size_t)c->t_pos[t]) * kv;
            memcpy(s->k + off, k, (size_t)kv * sizeof(float));
            memcpy(s->v + off, c->v + (size_t)t * kv, (size_t)kv * sizeof(float));
            break;
        }
        case PH_QUANT_ATT:
            c->ops->quant_q8(c->att + (size_t)t * dim, dim, c->xq + (size_t)t * dim,
                             c->xd + (size_t)t * (dim / VT_QK));
            break;
        case PH_FFN_NORM:
            for (int e = 0; e < dim; e++)
                x[e] = x[e] + c->tmp[(size_t)t * dim + e];
            c->ops->rmsnorm(x, L->ffn_norm, dim, in->rms_eps, xb);
            if (wants_q8(&L->gate, &L->up, NULL))
                c->ops->quant_q8(xb, dim, c->xq + (size_t)t * dim, c->xd + (size_t)t * (dim / VT_QK));
            break;
        case PH_SWIGLU: {
            float *h = c->hb + (size_t)t * hid;
            c->ops->swiglu(h, c->hb2 + (size_t)t * hid, hid, h);
            if (L->down.type == VT_DTYPE_Q8_0)
                c->ops->quant_q8(h, hid, c->xq + (size_t)t * hid, c->xd + (size_t)t * (hid / VT_QK));
            break;
        }
        case PH_RESID:
            for (int e = 0; e < dim; e++)
                x[e] = x[e] + c->tmp[(size_t)t * dim + e];
            break;
        case PH_FINAL_NORM:
            c->ops->rmsnorm(x, m->output_norm, dim, in->rms_eps, xb);
            break;
        }
    }
}

static void run_phase(job *j, int phase)
{
    j->phase = phase;
    /* A decode step's elementwise work is a few microseconds: waking the
     * pool would cost more. Who computes an element never changes it. */
    if (j->T == 1 && phase != PH_ATTN)
        token_task(j, 0, 1);
    else
        vt_pool_run(j->c->pool, token_task, j);
}

/* Embedding row of a token, dequantised exactly as the kernels define. */
static void embed(const vt_mat *e, int32_t tok, float *out)
{
    int n = (int)e->cols;
    size_t row_bytes = e->type == VT_DTYPE_F32   ? (size_t)n * 4
                       : e->type == VT_DTYPE_F16 ? (size_t)n * 2
                                                 : (size_t)(n / VT_QK) * sizeof(vt_blk_q8);
    const void *row = (const uint8_t *)e->data + (size_t)tok * row_bytes;
    for (int i = 0; i < n; i++)
        out[i] = vt_k_embed(e->type, row, i);
}

/* Logits of the chunk's tokens that asked for them, VT_LOGIT_GROUP at a
 * time: gather their final-norm rows, one matmul, copy out. */
static void logits(job *j)
{
    vt_ctx *c = j->c;
    const vt_model *m = c->m;
    int dim = (int)m->info.dim, vocab = (int)m->info.vocab;
    int want[VT_LOGIT_GROUP], n = 0;
    for (int t = 0; t <= j->T; t++) {
        if (t < j->T && c->t_dst[t])
            want[n++] = t;
        if (n == 0 || (n < VT_LOGIT_GROUP && t < j->T))
            continue;
        /* rows go to c->att (free now) as the matmul input */
        for (int k = 0; k < n; k++) {
            memcpy(c->att + (size_t)k * dim, c->xb + (size_t)want[k] * dim,
                   (size_t)dim * sizeof(float));
            if (m->output.type == VT_DTYPE_Q8_0)
                c->ops->quant_q8(c->att + (size_t)k * dim, dim, c->xq + (size_t)k * dim,
                                 c->xd + (size_t)k * (dim / VT_QK));
        }
        job lj = *j;
        lj.T = n;
        const vt_mat *w[1] = {&m->output};
        float *y[1] = {c->logits};
        matmul(&lj, 1, w, y, c->att, dim);
        for (int k = 0; k < n; k++)
            memcpy(c->t_dst[want[k]], c->logits + (size_t)k * vocab, (size_t)vocab * sizeof(float));
        n = 0;
    }
}

void vt_cpu_forward_chunk(vt_ctx *c)
{
    const vt_model *m = c->m;
    int dim = (int)m->info.dim, hid = (int)m->info.hidden_dim;
    job j = {.c = c, .T = c->T};
    for (int t = 0; t < c->T; t++)
        embed(&m->embd, c->t_tok[t], c->x + (size_t)t * dim);
    for (uint32_t l = 0; l < m->info.n_layers; l++) {
        const vt_layer *L = &m->layers[l];
        j.L = L;
        run_phase(&j, PH_ATTN_NORM);
        {
            const vt_mat *w[3] = {&L->wq, &L->wk, &L->wv};
            float *y[3] = {c->q, c->k, c->v};
            matmul(&j, 3, w, y, c->xb, dim);
        }
        run_phase(&j, PH_ROPE_STORE);
        run_phase(&j, PH_ATTN);
        if (L->wo.type == VT_DTYPE_Q8_0)
            run_phase(&j, PH_QUANT_ATT);
        {
            const vt_mat *w[1] = {&L->wo};
            float *y[1] = {c->tmp};
            matmul(&j, 1, w, y, c->att, dim);
        }
        run_phase(&j, PH_FFN_NORM);
        {
            const vt_mat *w[2] = {&L->gate, &L->up};
            float *y[2] = {c->hb, c->hb2};
            matmul(&j, 2, w, y, c->xb, dim);
        }
        run_phase(&j, PH_SWIGLU);
        {
            const vt_mat *w[1] = {&L->down};
            float *y[1] = {c->tmp};
            matmul(&j, 1, w, y, c->hb, hid);
        }
        run_phase(&j, PH_RESID);
        vt_trace_absorb_layer(c, (int)l, c->x);
    }
    run_phase(&j, PH_FINAL_NORM);
    vt_trace_absorb_final(c, c->xb);
    logits(&j);
}
