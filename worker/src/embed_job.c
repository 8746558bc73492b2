/* embed_job.c - `kind: embed` jobs on the worker.
 *
 * An embed job has no output tokens: its result is the mean of the
 * final-norm hidden states over the prompt's positions (vt_seq_embed, whose
 * summation order docs/determinism.md fixes), dimension = the model's dim,
 * plus the trace of those P positions so the verifier can also point at the
 * first diverging layer. It runs on a one-slot context of its own (created
 * the first time the model gets an embed job, KV for the model's context
 * length), synchronously on the engine loop's thread: generation jobs of
 * the same worker wait for one prompt's prefill. The continuous-batching
 * runner is left alone; embed traffic that needs batching would move into
 * it.
 */
#include <stdlib.h>
#include <string.h>

#include "wk.h"

int wk_embed(wk *w, wk_model *m, const wk_job *j, wk_res *r, vt_errinfo *ei)
{
    if (!m->embed_ctx) {
        vt_ctx_params p;
        vt_ctx_params_default(&p);
        p.max_seqs = 1;
        p.n_threads = w->threads > 0 ? w->threads : 1;
        p.backend = m->runner ? vt_runner_backend(m->runner) : VT_BACKEND_CPU;
        int rv = vt_ctx_create(m->model, &p, &m->embed_ctx, ei);
        if (rv)
            return rv;
    }
    const vt_model_info *mi = vt_model_get_info(m->model);
    if (j->n_prompt > mi->ctx_len)
        return vt_fail(ei, VT_ERR_RANGE, "embed: %u prompt tokens exceed the context (%u)",
                       j->n_prompt, mi->ctx_len);
    r->embedding = malloc((size_t)mi->dim * sizeof(float));
    r->text = calloc(1, 1); /* no text, no tokens */
    if (!r->embedding || !r->text)
        return vt_fail(ei, VT_ERR_NOMEM, "embed: out of memory");
    int rv = vt_seq_embed(m->embed_ctx, 0, j->prompt, (int)j->n_prompt, r->embedding, ei);
    vt_trace tr;
    if (rv == 0)
        rv = vt_seq_trace(m->embed_ctx, 0, &tr);
    if (rv)
        return rv;
    r->r.embedding = r->embedding;
    r->r.n_embedding = mi->dim;
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

void wk_embed_free(wk *w)
{
    for (int i = 0; i < w->n_models; i++) {
        vt_ctx_free(w->models[i].embed_ctx);
        w->models[i].embed_ctx = NULL;
    }
}
