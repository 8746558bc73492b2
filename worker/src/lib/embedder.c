/* embedder.c - embeddings for workers and verifiers (see vt_worker.h). */
#include <string.h>

#include "vt_worker.h"

static int ensure_ctx(vt_embedder *e, vt_ctx **c, int seqs, int max_ctx, vt_errinfo *ei)
{
    if (*c)
        return 0;
    vt_ctx_params p = e->params;
    p.max_seqs = seqs;
    p.max_ctx = max_ctx;
    return vt_ctx_create(e->model, &p, c, ei);
}

void vt_embedder_init(vt_embedder *e, const vt_model *m, const vt_ctx_params *p,
                      vt_histogram *runs)
{
    memset(e, 0, sizeof *e);
    e->model = m;
    e->params = *p;
    e->runs = runs;
}

void vt_embedder_free(vt_embedder *e)
{
    vt_ctx_free(e->one);
    vt_ctx_free(e->batch);
    e->one = e->batch = NULL;
}

static void observe(const vt_embedder *e, int prompts)
{
    if (e->runs)
        vt_histogram_observe(e->runs, prompts);
}

/* One prompt alone on the one-slot context of the model's length. */
static void run_one(vt_embedder *e, const vt_embed_item *it, int k, vt_embedder_done done,
                    void *arg)
{
    vt_errinfo ei = {0};
    uint32_t ctx_len = vt_model_get_info(e->model)->ctx_len;
    int rv = it->n_tokens > (int)ctx_len
                 ? vt_fail(&ei, VT_ERR_RANGE, "embed: %d prompt tokens exceed the context (%u)",
                           it->n_tokens, ctx_len)
                 : ensure_ctx(e, &e->one, 1, 0, &ei);
    if (rv == 0)
        rv = vt_seq_embed(e->one, 0, it->tokens, it->n_tokens, it->out, &ei);
    if (rv == 0)
        observe(e, 1);
    done(arg, k, rv, e->one, 0, &ei);
}

/* The short prompts items[at[0..nb-1]] in shared forward calls, or one at
 * a time when they are one, or the engine refused them together. */
static void run_short(vt_embedder *e, const vt_embed_item *items, const int *at, int nb,
                      vt_embedder_done done, void *arg)
{
    vt_embed_item b[VT_EMBEDDER_BATCH];
    for (int i = 0; i < nb; i++) {
        b[i] = items[at[i]];
        b[i].seq = i;
    }
    vt_errinfo ei = {0};
    if (nb > 1 && ensure_ctx(e, &e->batch, VT_EMBEDDER_BATCH, VT_EMBEDDER_SHORT, &ei) == 0 &&
        vt_embed_batch(e->batch, b, nb, &ei) == 0) {
        observe(e, nb);
        for (int i = 0; i < nb; i++)
            done(arg, at[i], 0, e->batch, i, &ei);
        return;
    }
    for (int i = 0; i < nb; i++)
        run_one(e, &items[at[i]], at[i], done, arg);
}

void vt_embedder_run(vt_embedder *e, const vt_embed_item *items, int n, vt_embedder_done done,
                     void *arg)
{
    int at[VT_EMBEDDER_BATCH], nb = 0;
    for (int k = 0; k < n; k++) {
        if (items[k].n_tokens > VT_EMBEDDER_SHORT) {
            run_one(e, &items[k], k, done, arg);
            continue;
        }
        at[nb++] = k;
        if (nb == VT_EMBEDDER_BATCH) {
            run_short(e, items, at, nb, done, arg);
            nb = 0;
        }
    }
    run_short(e, items, at, nb, done, arg);
}
