/* embed_check.c - replaying `kind: embed` results.
 *
 * The worker's embedding is vt_seq_embed over the prompt (mean of the
 * final-norm hidden states, summation order fixed in docs/determinism.md);
 * the replay runs the same computation through this verifier's vt_embedder
 * for the model (vt_worker.h: short prompts share forward calls, the rest
 * run one at a time; batch invariance makes both the same bits) and
 * compares:
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

/* What the embedder's callback needs. */
typedef struct replay_run {
    const vf_model *m;
    vf_task *const *tasks;
    vt_replay_verdict *vd;
    vt_embed_item items[VT_PROTO_MAX_BATCH];
    int at[VT_PROTO_MAX_BATCH]; /* item -> task index */
} replay_run;

static void replayed(void *arg, int k, int rc, vt_ctx *c, int seq, const vt_errinfo *ei)
{
    replay_run *rr = arg;
    int t = rr->at[k];
    vt_replay_verdict *vd = &rr->vd[t];
    if (rc) {
        vd->unverifiable = 1;
        snprintf(vd->detail, sizeof vd->detail, "embed replay: %s", vt_errinfo_msg(ei));
        return;
    }
    judge(rr->m, rr->tasks[t], rr->items[k].out, c, seq, vd);
}

void vf_check_embeds(vf *v, vf_model *m, vf_task *const *tasks, int n, vt_replay_verdict *vd)
{
    if (!m->embedder.model) {
        vt_ctx_params p;
        vt_ctx_params_default(&p);
        p.n_threads = v->threads > 0 ? v->threads : 1;
        p.isa = v->isa == 1 ? VT_ISA_SCALAR : VT_ISA_NATIVE;
        p.backend = VT_BACKEND_CPU;
        vt_embedder_init(&m->embedder, m->model, &p, v->m_embed_batch);
    }
    size_t dim = vt_model_get_info(m->model)->dim;
    float *e = malloc((size_t)n * dim * sizeof(float)); /* [n][dim] */
    replay_run *rr = malloc(sizeof *rr);
    int ni = 0;
    for (int k = 0; k < n; k++) {
        if (!well_formed(m, tasks[k], &vd[k]))
            continue;
        if (!e || !rr) {
            vd[k].unverifiable = 1;
            snprintf(vd[k].detail, sizeof vd[k].detail, "embed replay: out of memory");
            continue;
        }
        rr->items[ni] = (vt_embed_item){.tokens = tasks[k]->prompt,
                                        .n_tokens = (int)tasks[k]->n_prompt, .out = e + k * dim};
        rr->at[ni++] = k;
    }
    if (ni) {
        rr->m = m;
        rr->tasks = tasks;
        rr->vd = vd;
        vt_embedder_run(&m->embedder, rr->items, ni, replayed, rr);
    }
    free(rr);
    free(e);
}

void vf_embed_free(vf *v)
{
    for (int i = 0; i < v->n_models; i++)
        vt_embedder_free(&v->models[i].embedder);
}
