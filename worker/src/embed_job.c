/* embed_job.c - `kind: embed` jobs on the worker.
 *
 * An embed job has no output tokens: its result is the mean of the
 * final-norm hidden states over the prompt's positions (vt_seq_embed, whose
 * summation order docs/determinism.md fixes), dimension = the model's dim,
 * plus the trace of those P positions so the verifier can also point at the
 * first diverging layer. They run synchronously on the engine loop's
 * thread, outside the continuous-batching runner, on contexts of their own
 * created the first time the model gets an embed job:
 *
 *   short   WK_EMBED_BATCH slots of WK_EMBED_SHORT tokens: the embed jobs
 *           admitted together with prompts up to that length share forward
 *           calls (vt_embed_batch), so a burst of short texts (MemSync's
 *           memories and queries) reads the weights once per round instead
 *           of once per text;
 *   long    one slot of the model's context length, one job at a time.
 *
 * Batch invariance makes each embedding and trace the same bits either
 * way. A batch the engine refuses (one job's bad token) is run again one
 * job at a time, so a bad job fails alone.
 */
#include <stdlib.h>
#include <string.h>

#include "wk.h"

static int ensure_ctx(wk *w, wk_model *m, vt_ctx **ctx, int seqs, int max_ctx, vt_errinfo *ei)
{
    if (*ctx)
        return 0;
    vt_ctx_params p;
    vt_ctx_params_default(&p);
    p.max_seqs = seqs;
    p.max_ctx = max_ctx;
    p.n_threads = w->threads > 0 ? w->threads : 1;
    p.backend = m->runner ? vt_runner_backend(m->runner) : VT_BACKEND_CPU;
    return vt_ctx_create(m->model, &p, ctx, ei);
}

/* Room for the job's result (kept if a batch that failed made it). */
static int res_alloc(const wk_model *m, wk_res *r, vt_errinfo *ei)
{
    const vt_model_info *mi = vt_model_get_info(m->model);
    if (!r->embedding)
        r->embedding = malloc((size_t)mi->dim * sizeof(float));
    if (!r->text)
        r->text = calloc(1, 1); /* no text, no tokens */
    if (!r->embedding || !r->text)
        return vt_fail(ei, VT_ERR_NOMEM, "embed: out of memory");
    return 0;
}

/* The embedding is in r->embedding and the slot holds its trace: fill the
 * result. */
static int res_finish(const wk_model *m, vt_ctx *c, int seq, wk_res *r, vt_errinfo *ei)
{
    vt_trace tr;
    int rv = vt_seq_trace(c, seq, &tr);
    if (rv)
        return vt_fail(ei, rv, "embed: trace");
    r->r.embedding = r->embedding;
    r->r.n_embedding = vt_model_get_info(m->model)->dim;
    r->r.text = r->text;
    r->r.stop_reason = VT_STOP_MAX;
    memcpy(r->r.trace_digest, tr.final_digest, 32);
    if (tr.n_layers) {
        r->layers = malloc((size_t)tr.n_layers * 32);
        if (!r->layers)
            return vt_fail(ei, VT_ERR_NOMEM, "embed: out of memory");
        memcpy(r->layers, tr.layer_digest, (size_t)tr.n_layers * 32);
        r->r.n_layers = tr.n_layers;
        r->r.layer_digests = r->layers;
    }
    return 0;
}

/* One job alone on the long context. */
static int embed_one(wk *w, wk_model *m, const wk_job *j, wk_res *r, vt_errinfo *ei)
{
    const vt_model_info *mi = vt_model_get_info(m->model);
    if (j->n_prompt > mi->ctx_len)
        return vt_fail(ei, VT_ERR_RANGE, "embed: %u prompt tokens exceed the context (%u)",
                       j->n_prompt, mi->ctx_len);
    int rv = ensure_ctx(w, m, &m->embed_ctx, 1, 0, ei);
    if (rv == 0)
        rv = res_alloc(m, r, ei);
    if (rv == 0)
        rv = vt_seq_embed(m->embed_ctx, 0, j->prompt, (int)j->n_prompt, r->embedding, ei);
    if (rv == 0)
        vt_histogram_observe(w->m_embed_batch, 1);
    return rv ? rv : res_finish(m, m->embed_ctx, 0, r, ei);
}

void wk_embed_jobs(wk *w, wk_model *m, wk_job *const *jobs, wk_res *const *res, int n, int *rc,
                   vt_errinfo *ei)
{
    vt_embed_item items[WK_EMBED_BATCH];
    int at[WK_EMBED_BATCH], nb = 0;
    bool done[WK_EMBED_BATCH] = {false}; /* n <= WK_EMBED_BATCH */
    for (int k = 0; k < n; k++) {
        rc[k] = res[k] ? 0 : VT_ERR_NOMEM;
        done[k] = rc[k] != 0;
        if (done[k] || jobs[k]->n_prompt > WK_EMBED_SHORT)
            continue; /* alone, below */
        if ((rc[k] = res_alloc(m, res[k], &ei[k])) != 0) {
            done[k] = true;
            continue;
        }
        items[nb] = (vt_embed_item){.seq = nb, .tokens = jobs[k]->prompt,
                                    .n_tokens = (int)jobs[k]->n_prompt, .out = res[k]->embedding};
        at[nb++] = k;
    }
    vt_errinfo bei = {0};
    if (nb > 1 && ensure_ctx(w, m, &m->embed_short, WK_EMBED_BATCH, WK_EMBED_SHORT, &bei) == 0 &&
        vt_embed_batch(m->embed_short, items, nb, &bei) == 0) {
        vt_histogram_observe(w->m_embed_batch, nb);
        for (int b = 0; b < nb; b++) {
            rc[at[b]] = res_finish(m, m->embed_short, b, res[at[b]], &ei[at[b]]);
            done[at[b]] = true;
        }
    }
    for (int k = 0; k < n; k++)
        if (!done[k])
            rc[k] = embed_one(w, m, jobs[k], res[k], &ei[k]);
}

void wk_embed_free(wk *w)
{
    for (int i = 0; i < w->n_models; i++) {
        vt_ctx_free(w->models[i].embed_ctx);
        vt_ctx_free(w->models[i].embed_short);
        w->models[i].embed_ctx = w->models[i].embed_short = NULL;
    }
}
