/* embed_check.c - replaying `kind: embed` results.
 *
 * The worker's embedding is vt_seq_embed over the prompt (mean of the
 * final-norm hidden states, summation order fixed in docs/determinism.md);
 * the replay runs the same computation, on contexts of this verifier's
 * created the first time the model gets an embed task: the short prompts
 * of a group (up to VF_EMBED_BATCH of at most VF_EMBED_SHORT tokens) share
 * forward calls (vt_embed_batch), the rest run one at a time on a one-slot
 * context of the model's length (vt_seq_embed); batch invariance makes
 * both the same bits. It compares:
 *   - no output tokens and exactly `dim` floats            else malformed;
 *   - the trace over positions 0..P-1, bit for bit          else wrong_digest
 *     (first_bad_layer names the first layer that differs);
 *   - the embedding, bit for bit                            else wrong_digest
 *     (the states were right, their mean was not).
 * Runs on the replay loop's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vf.h"

static void verdict_init(vt_replay_verdict *vd)
{
    memset(vd, 0, sizeof *vd);
    vd->position = -1;
    vd->first_bad_layer = -1;
}

static int ensure_ctx(const vf *v, vf_model *m, vt_ctx **ctx, int seqs, int max_ctx,
                      vt_errinfo *ei)
{
    if (*ctx)
        return 0;
    vt_ctx_params p;
    vt_ctx_params_default(&p);
    p.max_seqs = seqs;
    p.max_ctx = max_ctx;
    p.n_threads = v->threads > 0 ? v->threads : 1;
    p.isa = v->isa == 1 ? VT_ISA_SCALAR : VT_ISA_NATIVE;
    p.backend = VT_BACKEND_CPU;
    return vt_ctx_create(m->model, &p, ctx, ei);
}

/* The shape of the claim; false (and the verdict) if it is malformed. */
static bool well_formed(const vf_model *m, const vf_task *t, vt_replay_verdict *vd)
{
    verdict_init(vd);
    if (m->identity) {
        vd->fault = VT_FAULT_MALFORMED;
        snprintf(vd->detail, sizeof vd->detail, "embed result for the identity model");
        return false;
    }
    const vt_model_info *mi = vt_model_get_info(m->model);
    if (t->n_output != 0 || t->n_embedding != mi->dim || t->n_prompt == 0 ||
        t->n_prompt > mi->ctx_len) {
        vd->fault = VT_FAULT_MALFORMED;
        snprintf(vd->detail, sizeof vd->detail,
                 "embed result with %u output tokens and %u floats (model dim %u, prompt %u)",
                 t->n_output, t->n_embedding, mi->dim, t->n_prompt);
        return false;
    }
    return true;
}

/* Compare the replay (embedding e, slot seq of c) with the claim. */
static void judge(const vf_model *m, const vf_task *t, const float *e, vt_ctx *c, int seq,
                  vt_replay_verdict *vd)
{
    vt_trace tr;
    if (vt_seq_trace(c, seq, &tr) != 0) {
        vd->unverifiable = 1;
        snprintf(vd->detail, sizeof vd->detail, "embed replay: no trace");
        return;
    }
    vd->have_replay_digest = 1;
    memcpy(vd->replay_digest, tr.final_digest, VT_DIGEST_BYTES);
    bool trace_ok = memcmp(tr.final_digest, t->trace.final_digest, VT_DIGEST_BYTES) == 0;
    for (uint32_t l = 0; l < tr.n_layers && l < t->trace.n_layers; l++)
        if (memcmp(tr.layer_digest[l], t->trace.layer_digest[l], VT_DIGEST_BYTES) != 0) {
            vd->first_bad_layer = (int32_t)l;
            trace_ok = false;
            break;
        }
    if (!trace_ok && vd->first_bad_layer < 0)
        vd->first_bad_layer = (int32_t)tr.n_layers;
    size_t dim = vt_model_get_info(m->model)->dim;
    bool emb_ok = memcmp(e, t->embedding, dim * sizeof(float)) == 0;
    if (trace_ok && emb_ok)
        return;
    vd->fault = VT_FAULT_WRONG_DIGEST;
    vd->n_layers = tr.n_layers;
    memcpy(vd->final_digest, tr.final_digest, VT_DIGEST_BYTES);
    memcpy(vd->layer_digest, tr.layer_digest, (size_t)tr.n_layers * VT_DIGEST_BYTES);
    snprintf(vd->detail, sizeof vd->detail, "%s", !trace_ok ? "embed: hidden-state trace differs"
                                                            : "embed: embedding differs "
                                                              "(trace matches)");
}

/* One task alone on the long context. */
static void check_one(vf *v, vf_model *m, const vf_task *t, float *e, vt_replay_verdict *vd)
{
    vt_errinfo ei = {0};
    int rv = ensure_ctx(v, m, &m->embed_ctx, 1, 0, &ei);
    if (rv == 0)
        rv = vt_seq_embed(m->embed_ctx, 0, t->prompt, (int)t->n_prompt, e, &ei);
    if (rv == 0)
        vt_histogram_observe(v->m_embed_batch, 1);
    if (rv) {
        vd->unverifiable = 1;
        snprintf(vd->detail, sizeof vd->detail, "embed replay: %s", vt_errinfo_msg(&ei));
        return;
    }
    judge(m, t, e, m->embed_ctx, 0, vd);
}

/* Replay up to VF_EMBED_BATCH short tasks among tasks[from..n-1] that are
 * not done yet in shared forward calls; returns where the next batch
 * starts. A batch the engine refuses leaves its tasks to check_one. */
static int check_batch(vf *v, vf_model *m, vf_task *const *tasks, int from, int n, float *e,
                       bool *done, vt_replay_verdict *vd)
{
    size_t dim = vt_model_get_info(m->model)->dim;
    vt_embed_item items[VF_EMBED_BATCH];
    int at[VF_EMBED_BATCH], nb = 0, k = from;
    for (; k < n && nb < VF_EMBED_BATCH; k++) {
        if (done[k] || tasks[k]->n_prompt > VF_EMBED_SHORT)
            continue;
        items[nb] = (vt_embed_item){.seq = nb, .tokens = tasks[k]->prompt,
                                    .n_tokens = (int)tasks[k]->n_prompt, .out = e + k * dim};
        at[nb++] = k;
    }
    vt_errinfo ei = {0};
    if (nb > 1 && ensure_ctx(v, m, &m->embed_short, VF_EMBED_BATCH, VF_EMBED_SHORT, &ei) == 0 &&
        vt_embed_batch(m->embed_short, items, nb, &ei) == 0) {
        vt_histogram_observe(v->m_embed_batch, nb);
        for (int b = 0; b < nb; b++) {
            judge(m, tasks[at[b]], e + at[b] * dim, m->embed_short, b, &vd[at[b]]);
            done[at[b]] = true;
        }
    }
    return k;
}

void vf_check_embeds(vf *v, vf_model *m, vf_task *const *tasks, int n, vt_replay_verdict *vd)
{
    size_t dim = vt_model_get_info(m->model)->dim;
    float *e = malloc((size_t)n * dim * sizeof(float)); /* [n][dim] */
    bool done[VT_PROTO_MAX_BATCH] = {false};
    for (int k = 0; k < n; k++) {
        done[k] = !well_formed(m, tasks[k], &vd[k]);
        if (!done[k] && !e) {
            vd[k].unverifiable = 1;
            snprintf(vd[k].detail, sizeof vd[k].detail, "embed replay: out of memory");
            done[k] = true;
        }
    }
    for (int from = 0; e && from < n;)
        from = check_batch(v, m, tasks, from, n, e, done, vd);
    for (int k = 0; k < n; k++)
        if (!done[k])
            check_one(v, m, tasks[k], e + k * dim, &vd[k]);
    free(e);
}

void vf_embed_free(vf *v)
{
    for (int i = 0; i < v->n_models; i++) {
        vt_ctx_free(v->models[i].embed_ctx);
        vt_ctx_free(v->models[i].embed_short);
        v->models[i].embed_ctx = v->models[i].embed_short = NULL;
    }
}
