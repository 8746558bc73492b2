/* embed_check.c - replaying `kind: embed` results.
 *
 * The worker's embedding is vt_seq_embed over the prompt (mean of the
 * final-norm hidden states, summation order fixed in docs/determinism.md);
 * the replay runs the same function on a one-slot context of this
 * verifier's (created the first time the model gets an embed task) and
 * compares:
 *   - no output tokens and exactly `dim` floats            else malformed;
 *   - the trace over positions 0..P-1, bit for bit          else wrong_digest
 *     (first_bad_layer names the first layer that differs);
 *   - the embedding, bit for bit                            else wrong_digest
 *     (the states were right, their mean was not).
 * Runs on the replay loop's thread, one task at a time.
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

void vf_check_embed(vf *v, vf_model *m, const vf_task *t, vt_replay_verdict *vd)
{
    verdict_init(vd);
    if (m->identity) {
        vd->fault = VT_FAULT_MALFORMED;
        snprintf(vd->detail, sizeof vd->detail, "embed result for the identity model");
        return;
    }
    const vt_model_info *mi = vt_model_get_info(m->model);
    if (t->n_output != 0 || t->n_embedding != mi->dim || t->n_prompt == 0 ||
        t->n_prompt > mi->ctx_len) {
        vd->fault = VT_FAULT_MALFORMED;
        snprintf(vd->detail, sizeof vd->detail,
                 "embed result with %u output tokens and %u floats (model dim %u, prompt %u)",
                 t->n_output, t->n_embedding, mi->dim, t->n_prompt);
        return;
    }
    vt_errinfo ei = {0};
    if (!m->embed_ctx) {
        vt_ctx_params p;
        vt_ctx_params_default(&p);
        p.max_seqs = 1;
        p.n_threads = v->threads > 0 ? v->threads : 1;
        p.isa = v->isa == 1 ? VT_ISA_SCALAR : VT_ISA_NATIVE;
        p.backend = VT_BACKEND_CPU;
        if (vt_ctx_create(m->model, &p, &m->embed_ctx, &ei) != 0) {
            vd->unverifiable = 1;
            snprintf(vd->detail, sizeof vd->detail, "embed context: %s", vt_errinfo_msg(&ei));
            return;
        }
    }
    float *e = malloc((size_t)mi->dim * sizeof(float));
    vt_trace tr;
    int rv = e ? vt_seq_embed(m->embed_ctx, 0, t->prompt, (int)t->n_prompt, e, &ei) : VT_ERR_NOMEM;
    if (rv == 0)
        rv = vt_seq_trace(m->embed_ctx, 0, &tr);
    if (rv) {
        free(e);
        vd->unverifiable = 1;
        snprintf(vd->detail, sizeof vd->detail, "embed replay: %s", vt_errinfo_msg(&ei));
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
    bool emb_ok = memcmp(e, t->embedding, (size_t)mi->dim * sizeof(float)) == 0;
    free(e);
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

void vf_embed_free(vf *v)
{
    for (int i = 0; i < v->n_models; i++) {
        vt_ctx_free(v->models[i].embed_ctx);
        v->models[i].embed_ctx = NULL;
    }
}
