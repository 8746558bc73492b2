/* embed_job.c - `kind: embed` jobs on the worker.
 *
 * An embed job has no output tokens: its result is the mean of the
 * final-norm hidden states over the prompt's positions (vt_seq_embed, whose
 * summation order docs/determinism.md fixes), dimension = the model's dim,
 * plus the trace of those P positions so the verifier can also point at the
 * first diverging layer. They run synchronously on the engine loop's
 * thread, outside the continuous-batching runner, through the model's
 * vt_embedder (vt_worker.h): the embed jobs admitted together with short
 * prompts share forward calls, so a burst of short texts (MemSync's
 * memories and queries) reads the weights once per round instead of once
 * per text; the verifier replays them the same way.
 */
#include <stdlib.h>
#include <string.h>

#include "wk.h"

/* Room for the job's result. */
static int res_alloc(const wk_model *m, wk_res *r, vt_errinfo *ei)
{
    const vt_model_info *mi = vt_model_get_info(m->model);
    r->embedding = malloc((size_t)mi->dim * sizeof(float));
    r->text = calloc(1, 1); /* no text, no tokens */
    if (!r->embedding || !r->text)
        return vt_fail(ei, VT_ERR_NOMEM, "embed: out of memory");
    return 0;
}

/* The embedding is in r->embedding and (c, seq) holds its trace: fill the
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

/* What the embedder's callback needs: the model, and per item the job's
 * index in the caller's arrays. */
typedef struct embed_run {
    const wk_model *m;
    wk_res *const *res;
    int *rc;
    vt_errinfo *ei;
    int at[WK_EMBED_MAX];
} embed_run;

static void embedded(void *arg, int k, int rc, vt_ctx *c, int seq, const vt_errinfo *ei)
{
    embed_run *er = arg;
    int j = er->at[k];
    er->rc[j] = rc ? rc : res_finish(er->m, c, seq, er->res[j], &er->ei[j]);
    if (rc)
        er->ei[j] = *ei;
}

void wk_embed_jobs(wk *w, wk_model *m, wk_job *const *jobs, wk_res *const *res, int n, int *rc,
                   vt_errinfo *ei)
{
    if (!m->embedder.model) {
        vt_ctx_params p;
        vt_ctx_params_default(&p);
        p.n_threads = w->threads > 0 ? w->threads : 1;
        p.backend = m->runner ? vt_runner_backend(m->runner) : VT_BACKEND_CPU;
        vt_embedder_init(&m->embedder, m->model, &p, w->m_embed_batch);
    }
    embed_run er = {.m = m, .res = res, .rc = rc, .ei = ei};
    vt_embed_item items[WK_EMBED_MAX];
    int ni = 0;
    for (int k = 0; k < n; k++) {
        rc[k] = res[k] ? res_alloc(m, res[k], &ei[k]) : VT_ERR_NOMEM;
        if (rc[k])
            continue;
        items[ni] = (vt_embed_item){.tokens = jobs[k]->prompt, .n_tokens = (int)jobs[k]->n_prompt,
                                    .out = res[k]->embedding};
        er.at[ni++] = k;
    }
    vt_embedder_run(&m->embedder, items, ni, embedded, &er);
}

void wk_embed_free(wk *w)
{
    for (int i = 0; i < w->n_models; i++)
        vt_embedder_free(&w->models[i].embedder);
}
