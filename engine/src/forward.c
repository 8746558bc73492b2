/* forward.c - the llama forward pass of one chunk of tokens on the CPU.
 *
 * Tokens of all sequences in the chunk form one activation matrix [T][dim];
 * every phase is a pool job that splits OUTPUT elements (matmul rows,
 * tokens, or (token, head) pairs) into contiguous ranges, one per thread.
 * No reduction is ever split, so no result depends on T, on the neighbours
 * of a token, or on the thread count (docs/determinism.md). */
#include <string.h>

#include "ctx.h"
#include "work_claim.h"

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
    /* units claimed dynamically (work_claim.h) when set: 2+ threads */
    vt_claims *cl;
    int claimed;
} job;

/* Matmul units: 4 row groups (32 rows) in a decode step; 6 (48 rows) in a
 * chunk of several tokens, whose kernels pass every token tile over a
 * unit's rows while they sit in L2 (48 rows: 144 KB of 110m F32, 38 KB of
 * its Q8_0). 48 is a multiple of the F32 kernel's 3-row tiles (64 left one
 * row per unit to a 1-row tile) and cuts the 15m model's 288-row matrices
 * into 6 units rather than 4.5, which 2 threads share evenly (15m F32
 * prefill, 2 threads: +2%). */
#define VT_CLAIM_GROUPS 4
#define VT_CLAIM_GROUPS_CHUNK 6

static int unit_groups(const job *j)
{
    return j->T == 1 ? VT_CLAIM_GROUPS : VT_CLAIM_GROUPS_CHUNK;
}

static void range(int n, int i, int nt, int *lo, int *hi)
{
    *lo = (int)((long)n * i / nt);
    *hi = (int)((long)n * (i + 1) / nt);
}

/* The slot's K/V cache (CPU backend only) is [layer][kv_head][max_ctx]
 * [head_dim]: one head's rows are contiguous, so attention streams them
 * (a [pos][kv_dim] layout gives a head head_dim floats every kv_dim, a
 * pattern that DRAM and the hardware prefetchers serve at a fraction of
 * the streaming rate). Row pos of KV head g of layer l: */
static float *kv_row(const vt_ctx *c, float *cache, int l, int g, int pos)
{
    const vt_model_info *in = &c->m->info;
    return cache + (((size_t)l * in->n_kv_heads + (size_t)g) * c->p.max_ctx + (size_t)pos) *
                       in->head_dim;
}

/* Row groups (8 rows) of all the job's matrices, concatenated. */
static int mm_groups(const job *j)
{
    int total = 0;
    for (int k = 0; k < j->n_mm; k++)
        total += (int)((j->mm_w[k]->rows + VT_ROW_GROUP - 1) / VT_ROW_GROUP);
    return total;
}

/* Groups [lo, hi) of the concatenation. */
static void mm_range(job *j, int lo, int hi)
{
    int base = 0;
    for (int k = 0; k < j->n_mm; k++) {
        int gs = (int)((j->mm_w[k]->rows + VT_ROW_GROUP - 1) / VT_ROW_GROUP);
        int a = lo > base ? lo - base : 0, b = hi - base < gs ? hi - base : gs;
        if (a < b)
            j->c->ops->matmul(j->mm_w[k], a, b, &j->in, j->mm_y[k], j->mm_ldy[k]);
        base += gs;
    }
}

static void mm_task(void *arg, int i, int nt)
{
    job *j = arg;
    int total = mm_groups(j), ug = unit_groups(j), lo, hi, u;
    if (j->claimed) {
        while (vt_claim(j->cl, i, nt, &u)) {
            lo = u * ug;
            mm_range(j, lo, lo + ug < total ? lo + ug : total);
        }
        return;
    }
    range(total, i, nt, &lo, &hi);
    mm_range(j, lo, hi);
}

/* Pool jobs claim their work units dynamically: equal units are not equal
 * work when the two vCPUs of a shared VM run at different speeds (a
 * descheduled or throttled thread used to hold every prefill barrier; a
 * 128-token 15m prefill on 2 threads spread over 2.3k-6.8k tok/s). */
static void claim_units(job *j, int n_units)
{
    int nt = vt_pool_size(j->c->pool);
    j->claimed = nt > 1 && vt_claims_init(j->cl, n_units, nt);
}

/* Units of a job for thread i: claimed, or the static range [next, end). */
typedef struct units {
    int next, end;
} units;

static int units_next(job *j, units *it, int i, int nt, int *u)
{
    if (j->claimed)
        return vt_claim(j->cl, i, nt, u);
    if (it->next >= it->end)
        return 0;
    *u = it->next++;
    return 1;
}

/* The matmul input x [T][n_in] and, when a weight is Q8_0, its quantised
 * rows xq/xd (c->xq/c->xd, or the second row set of a decode step). */
static void set_input(job *j, int n, const vt_mat *const *w, const float *x, int n_in,
                      const int8_t *xq, const float *xd)
{
    int any_q8 = 0;
    for (int k = 0; k < n; k++)
        any_q8 |= w[k]->type == VT_DTYPE_Q8_0;
    j->in.x = x;
    j->in.T = j->T;
    j->in.n = n_in;
    j->in.q = any_q8 ? xq : NULL;
    j->in.d = any_q8 ? xd : NULL;
}

static void matmul_q(job *j, int n, const vt_mat *const *w, float *const *y, const float *x,
                     int n_in, const int8_t *xq, const float *xd)
{
    j->n_mm = n;
    for (int k = 0; k < n; k++) {
        j->mm_w[k] = w[k];
        j->mm_y[k] = y[k];
        j->mm_ldy[k] = (int)w[k]->rows;
    }
    set_input(j, n, w, x, n_in, xq, xd);
    claim_units(j, (mm_groups(j) + unit_groups(j) - 1) / unit_groups(j));
    vt_pool_run(j->c->pool, mm_task, j);
}

static void matmul(job *j, int n, const vt_mat *const *w, float *const *y, const float *x,
                   int n_in)
{
    matmul_q(j, n, w, y, x, n_in, j->c->xq, j->c->xd);
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
        /* Units are (token, head) pairs, claimed: later tokens attend over
         * more positions, so a fixed split would leave one thread with
         * most of the work. */
        units it;
        int w;
        range(j->T * nh, i, nt, &it.next, &it.end);
        while (units_next(j, &it, i, nt, &w)) {
            int t = w / nh, h = w % nh, g = h / grp;
            vt_slot *s = &c->slots[c->t_slot[t]];
            c->ops->attn_head(c->q + (size_t)t * dim + h * hd, kv_row(c, s->k, l, g, 0),
                              kv_row(c, s->v, l, g, 0), hd, c->t_pos[t] + 1, hd, scale, scores,
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
            for (int g = 0; g < (int)in->n_kv_heads; g++) {
                memcpy(kv_row(c, s->k, l, g, c->t_pos[t]), k + g * hd, (size_t)hd * sizeof(float));
                memcpy(kv_row(c, s->v, l, g, c->t_pos[t]), c->v + (size_t)t * kv + g * hd,
                       (size_t)hd * sizeof(float));
            }
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
    j->claimed = 0;
    if (phase == PH_ATTN)
        claim_units(j, j->T * (int)j->c->m->info.n_heads);
    /* A decode step's elementwise work is a few microseconds: waking the
     * pool would cost more. Who computes an element never changes it. */
    if (j->T == 1 && phase != PH_ATTN)
        token_task(j, 0, 1);
    else
        vt_pool_run(j->c->pool, token_task, j);
}

/* ---- decode (T == 1): phases fused where no barrier is needed ----------
 *
 * One token's attention block splits by KV head: head g needs only its own
 * rows of Q, K and V, so the thread that owns g computes those rows (8-row
 * groups: head_dim % 32 == 0 keeps heads on group and Q8 block
 * boundaries), rotates them, stores K/V in the cache, runs the attention of
 * g's query heads and quantises their outputs for wo: one pool run instead
 * of a matmul, three serial phases and an attention run. The FFN splits the
 * hidden rows in 32-row units: gate and up rows, SwiGLU and quantisation of
 * the same rows, then one barrier before down. Each output element is still
 * computed by exactly the kernels and order of the unfused path
 * (docs/determinism.md); only who computes it and when changes.
 *
 * While other threads still read the quantised layer input (c->xq row 0),
 * a thread must not overwrite it: the fused phases write wo's and down's
 * quantised inputs to the scratch's second row (decode uses only one). */

static int8_t *xq_second(vt_ctx *c)
{
    int dim = (int)c->m->info.dim, hid = (int)c->m->info.hidden_dim;
    return c->xq + (dim > hid ? dim : hid);
}

static float *xd_second(vt_ctx *c)
{
    int dim = (int)c->m->info.dim, hid = (int)c->m->info.hidden_dim;
    return c->xd + (dim > hid ? dim : hid) / VT_QK;
}

static int decode_fused(const vt_ctx *c, int T)
{
    const vt_model_info *in = &c->m->info;
    return T == 1 && in->head_dim % VT_QK == 0 && in->hidden_dim % VT_QK == 0 &&
           (int)in->n_kv_heads >= vt_pool_size(c->pool);
}

static void attn_block_task(void *arg, int i, int nt)
{
    job *j = arg;
    vt_ctx *c = j->c;
    const vt_model *m = c->m;
    const vt_model_info *in = &m->info;
    const vt_layer *L = j->L;
    int dim = (int)in->dim, kv = (int)m->kv_dim, hd = (int)in->head_dim;
    int grp = (int)(in->n_heads / in->n_kv_heads), hg = hd / VT_ROW_GROUP;
    int l = (int)(L - m->layers), pos = c->t_pos[0], half = (int)in->rope_dim / 2;
    const float *cs = c->rope_cos + (size_t)pos * half, *sn = c->rope_sin + (size_t)pos * half;
    vt_slot *s = &c->slots[c->t_slot[0]];
    float scale = 1.0f / sqrtf((float)hd);
    float *scores = c->scores + (size_t)i * c->p.max_ctx;
    int8_t *aq = xq_second(c);
    float *ad = xd_second(c);
    units it;
    int g;
    range((int)in->n_kv_heads, i, nt, &it.next, &it.end);
    while (units_next(j, &it, i, nt, &g)) {
        float *kg = c->k + g * hd, *vg = c->v + g * hd, *qg = c->q + g * grp * hd;
        c->ops->matmul(&L->wk, g * hg, (g + 1) * hg, &j->in, c->k, kv);
        c->ops->matmul(&L->wv, g * hg, (g + 1) * hg, &j->in, c->v, kv);
        c->ops->matmul(&L->wq, g * grp * hg, (g + 1) * grp * hg, &j->in, c->q, dim);
        c->ops->rope(qg, grp, hd, (int)in->rope_dim, cs, sn);
        c->ops->rope(kg, 1, hd, (int)in->rope_dim, cs, sn);
        memcpy(kv_row(c, s->k, l, g, pos), kg, (size_t)hd * sizeof(float));
        memcpy(kv_row(c, s->v, l, g, pos), vg, (size_t)hd * sizeof(float));
        for (int h = g * grp; h < (g + 1) * grp; h++) {
            float *out = c->att + h * hd;
            c->ops->attn_head(c->q + h * hd, kv_row(c, s->k, l, g, 0), kv_row(c, s->v, l, g, 0), hd,
                              pos + 1, hd, scale, scores, out);
            if (L->wo.type == VT_DTYPE_Q8_0)
                c->ops->quant_q8(out, hd, aq + h * hd, ad + h * hd / VT_QK);
        }
    }
}

static void ffn_up_task(void *arg, int i, int nt)
{
    job *j = arg;
    vt_ctx *c = j->c;
    const vt_layer *L = j->L;
    int hid = (int)c->m->info.hidden_dim, u;
    const int gpu = VT_QK / VT_ROW_GROUP; /* row groups per 32-row unit */
    units it;
    range(hid / VT_QK, i, nt, &it.next, &it.end);
    while (units_next(j, &it, i, nt, &u)) {
        int r0 = u * VT_QK;
        c->ops->matmul(&L->gate, u * gpu, (u + 1) * gpu, &j->in, c->hb, hid);
        c->ops->matmul(&L->up, u * gpu, (u + 1) * gpu, &j->in, c->hb2, hid);
        c->ops->swiglu(c->hb + r0, c->hb2 + r0, VT_QK, c->hb + r0);
        if (L->down.type == VT_DTYPE_Q8_0)
            c->ops->quant_q8(c->hb + r0, VT_QK, xq_second(c) + r0, xd_second(c) + u);
    }
}

/* One layer of a decode step, fused as above. */
static void decode_layer(job *j)
{
    vt_ctx *c = j->c;
    const vt_layer *L = j->L;
    int dim = (int)c->m->info.dim, hid = (int)c->m->info.hidden_dim;
    run_phase(j, PH_ATTN_NORM);
    {
        const vt_mat *w[3] = {&L->wq, &L->wk, &L->wv};
        set_input(j, 3, w, c->xb, dim, c->xq, c->xd);
        claim_units(j, (int)c->m->info.n_kv_heads);
        vt_pool_run(c->pool, attn_block_task, j);
    }
    {
        const vt_mat *w[1] = {&L->wo};
        float *y[1] = {c->tmp};
        matmul_q(j, 1, w, y, c->att, dim, xq_second(c), xd_second(c));
    }
    run_phase(j, PH_FFN_NORM);
    {
        const vt_mat *w[2] = {&L->gate, &L->up};
        set_input(j, 2, w, c->xb, dim, c->xq, c->xd);
        claim_units(j, hid / VT_QK);
        vt_pool_run(c->pool, ffn_up_task, j);
    }
    {
        const vt_mat *w[1] = {&L->down};
        float *y[1] = {c->tmp};
        matmul_q(j, 1, w, y, c->hb, hid, xq_second(c), xd_second(c));
    }
    run_phase(j, PH_RESID);
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
    vt_claims cl;
    job j = {.c = c, .T = c->T, .cl = &cl};
    for (int t = 0; t < c->T; t++)
        embed(&m->embd, c->t_tok[t], c->x + (size_t)t * dim);
    int fused = decode_fused(c, c->T);
    for (uint32_t l = 0; l < m->info.n_layers; l++) {
        const vt_layer *L = &m->layers[l];
        j.L = L;
        if (fused) {
            decode_layer(&j);
            vt_trace_absorb_layer(c, (int)l, c->x);
            continue;
        }
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
