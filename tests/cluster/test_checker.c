/* test_checker.c - the verifier's replay checker: honest results pass; a
 * flipped token fails as wrong_token at its position; an altered digest as
 * wrong_digest; truncated output, a bogus stop reason, too many tokens or
 * ids out of vocab as malformed. Batching, chunked replay and the scalar ISA
 * give identical verdicts. Identity results are checked the same way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "vt_test.h"
#include "vt_testsupport.h"
#include "vt_verifier.h"

#define NJOBS 12

typedef struct task_buf {
    int32_t out[512];
    vt_trace trace;
    vt_replay_task t;
} task_buf;

/* An honest task from a job's reference result. */
static void honest(const fx_job *j, task_buf *b)
{
    memset(b, 0, sizeof *b);
    memcpy(b->out, j->ref.tokens, j->ref.n_tokens * sizeof(int32_t));
    b->trace = j->ref.trace;
    b->t = (vt_replay_task){.prompt = j->prompt,
                            .n_prompt = j->n_prompt,
                            .output = b->out,
                            .n_output = j->ref.n_tokens,
                            .gp = j->gp,
                            .stop_reason = j->ref.stop_reason,
                            .trace = &b->trace};
}

static void run(vt_checker *c, task_buf *b, int n, vt_replay_verdict *v)
{
    vt_replay_task t[16];
    for (int i = 0; i < n; i++)
        t[i] = b[i].t;
    vt_errinfo ei = {0};
    VT_REQUIRE(vt_checker_run(c, t, n, v, &ei) == 0, "run: %s", vt_errinfo_msg(&ei));
}

static int same_verdict(const vt_replay_verdict *a, const vt_replay_verdict *b)
{
    return a->fault == b->fault && a->position == b->position &&
           a->expected_token == b->expected_token && a->first_bad_layer == b->first_bad_layer &&
           a->n_layers == b->n_layers &&
           memcmp(a->final_digest, b->final_digest, VT_DIGEST_BYTES) == 0 &&
           memcmp(a->layer_digest, b->layer_digest, (size_t)a->n_layers * VT_DIGEST_BYTES) == 0;
}

/* index of a job with at least `min_tokens` outputs that stopped by `reason`
 * (-1: any reason) */
static int pick(const fx_job *jobs, uint32_t min_tokens, int reason)
{
    for (int i = 0; i < NJOBS; i++)
        if (jobs[i].ref.n_tokens >= min_tokens && (reason < 0 || jobs[i].ref.stop_reason == reason))
            return i;
    return -1;
}

/* A wrong_token verdict's digests of its position are those of a plain
 * one-sequence prefill of the honest tokens up to that position (the
 * checker computes them in a second pass; batch invariance makes them
 * equal). */
static void check_pos_digests(const vt_model *m, const fx_job *j, const vt_replay_verdict *v)
{
    int32_t toks[768];
    uint32_t pos = (uint32_t)v->position, n = 0;
    VT_REQUIRE(v->position >= 0 && pos + 1 <= sizeof toks / sizeof toks[0], "position");
    for (uint32_t i = 0; i < j->n_prompt && n <= pos; i++)
        toks[n++] = j->prompt[i];
    for (uint32_t i = 0; i < j->ref.n_tokens && n <= pos; i++)
        toks[n++] = j->ref.tokens[i];
    VT_REQUIRE(n == pos + 1, "too few tokens for position %u", pos);
    vt_ctx_params cp;
    vt_ctx_params_default(&cp);
    cp.max_seqs = 1;
    cp.trace_per_pos = 1;
    vt_ctx *x = NULL;
    vt_errinfo ei = {0};
    VT_REQUIRE_OK(vt_ctx_create(m, &cp, &x, &ei));
    vt_batch_item it = {.seq = 0, .tokens = toks, .n_tokens = (int)n, .n_logits = 0};
    VT_REQUIRE_OK(vt_forward(x, &it, 1, &ei));
    uint8_t fin[VT_DIGEST_BYTES], lay[VT_MAX_LAYERS][VT_DIGEST_BYTES];
    VT_REQUIRE_OK(vt_seq_pos_digest(x, 0, (int)pos, fin, lay, VT_MAX_LAYERS));
    VT_CHECK(memcmp(fin, v->final_digest, VT_DIGEST_BYTES) == 0,
             "verdict's final digest of position %u differs from a plain prefill's", pos);
    VT_CHECK(memcmp(lay, v->layer_digest, (size_t)v->n_layers * VT_DIGEST_BYTES) == 0,
             "verdict's layer digests of position %u differ from a plain prefill's", pos);
    vt_ctx_free(x);
}

static void check_identity(void)
{
    int32_t prompt[7] = {5, 9, 300, 2, 2, 41, 7};
    task_buf b;
    memset(&b, 0, sizeof b);
    uint32_t n = 0;
    VT_REQUIRE_OK(vt_identity_run(prompt, 7, 5, b.out, 512, &n, &b.trace));
    VT_CHECK_EQ_INT(n, 5);
    b.t = (vt_replay_task){.prompt = prompt, .n_prompt = 7, .output = b.out, .n_output = n,
                           .stop_reason = VT_STOP_MAX, .trace = &b.trace};
    b.t.gp.max_tokens = 5;
    vt_replay_verdict v;
    vt_check_identity(&b.t, &v);
    VT_CHECK_EQ_INT(v.fault, VT_FAULT_NONE);
    b.out[3] = 8;
    vt_check_identity(&b.t, &v);
    VT_CHECK_EQ_INT(v.fault, VT_FAULT_WRONG_TOKEN);
    VT_CHECK_EQ_INT(v.position, 3);
    b.out[3] = 2;
    b.trace.final_digest[0] ^= 1;
    vt_check_identity(&b.t, &v);
    VT_CHECK_EQ_INT(v.fault, VT_FAULT_WRONG_DIGEST);
    b.trace.final_digest[0] ^= 1;
    b.t.n_output = 4;
    vt_check_identity(&b.t, &v);
    VT_CHECK_EQ_INT(v.fault, VT_FAULT_MALFORMED);
    /* the digest binds the whole prompt, not only what was echoed */
    uint8_t d1[32], d2[32];
    vt_identity_digest(prompt, 7, 5, d1);
    prompt[6] = 8;
    vt_identity_digest(prompt, 7, 5, d2);
    VT_CHECK(memcmp(d1, d2, 32) != 0, "identity digest ignores the prompt tail");
    uint8_t h[32];
    vt_identity_hash(h);
    VT_CHECK(vt_identity_is(h) && h[0] != 0x00, "identity hash");
}

int main(void)
{
    char path[512];
    vt_model *m = fx_tiny_model("tiny-checker.gguf", VT_DTYPE_F32, 11, path, sizeof path);
    uint32_t vocab = vt_model_get_info(m)->vocab;
    uint32_t n_layers = vt_model_get_info(m)->n_layers;
    static fx_job jobs[NJOBS];
    fx_jobs(m, jobs, NJOBS, -1);
    static task_buf b[NJOBS];
    vt_replay_verdict *v = calloc(16, sizeof *v);
    vt_replay_verdict *v2 = calloc(16, sizeof *v2);
    VT_REQUIRE(v && v2, "oom");

    /* honest results pass, in batches of 4 */
    vt_checker *c = fx_checker(m, 4, 1, VT_ISA_NATIVE, 0);
    for (int i = 0; i < NJOBS; i++)
        honest(&jobs[i], &b[i]);
    for (int i = 0; i < NJOBS; i += 4) {
        run(c, b + i, 4, v);
        for (int k = 0; k < 4; k++)
            VT_CHECK(v[k].fault == VT_FAULT_NONE && !v[k].unverifiable, "honest job %d: %s (%s)",
                     i + k, vt_fault_name(v[k].fault), v[k].detail);
    }

    /* a flipped token: wrong_token at its position, with that position's
     * per-layer digests */
    int f = pick(jobs, 3, -1);
    VT_REQUIRE(f >= 0, "no job with 3 tokens");
    honest(&jobs[f], &b[0]);
    b[0].out[1] = (b[0].out[1] + 1) % (int32_t)vocab;
    honest(&jobs[f], &b[1]);
    b[1].trace.final_digest[5] ^= 0x40;
    honest(&jobs[f], &b[2]);
    b[2].trace.layer_digest[1][0] ^= 0x01;
    honest(&jobs[(f + 1) % NJOBS], &b[3]);
    run(c, b, 4, v);
    VT_CHECK_EQ_INT(v[0].fault, VT_FAULT_WRONG_TOKEN);
    VT_CHECK_EQ_INT(v[0].position, jobs[f].n_prompt - 1 + 1);
    VT_CHECK_EQ_INT(v[0].expected_token, jobs[f].ref.tokens[1]);
    VT_CHECK_EQ_INT(v[0].n_layers, n_layers);
    check_pos_digests(m, &jobs[f], &v[0]);
    VT_CHECK_EQ_INT(v[1].fault, VT_FAULT_WRONG_DIGEST);
    VT_CHECK_EQ_INT(v[1].first_bad_layer, n_layers);
    VT_CHECK(memcmp(v[1].final_digest, jobs[f].ref.trace.final_digest, 32) == 0,
             "wrong_digest verdict carries the replay's digest");
    VT_CHECK_EQ_INT(v[2].fault, VT_FAULT_WRONG_DIGEST);
    VT_CHECK_EQ_INT(v[2].first_bad_layer, 1);
    VT_CHECK_EQ_INT(v[3].fault, VT_FAULT_NONE);

    /* the same batch: scalar ISA, and chunked replay (2 logit rows per step),
     * give identical verdicts */
    vt_checker *cs = fx_checker(m, 4, 1, VT_ISA_SCALAR, 0);
    run(cs, b, 4, v2);
    for (int k = 0; k < 4; k++)
        VT_CHECK(same_verdict(&v[k], &v2[k]), "scalar verdict %d differs", k);
    vt_checker *cc = fx_checker(m, 4, 1, VT_ISA_NATIVE, 2);
    run(cc, b, 4, v2);
    for (int k = 0; k < 4; k++)
        VT_CHECK(same_verdict(&v[k], &v2[k]), "chunked verdict %d differs", k);
    /* and one at a time */
    for (int k = 0; k < 4; k++) {
        run(c, b + k, 1, v2);
        VT_CHECK(same_verdict(&v[k], &v2[0]), "single verdict %d differs", k);
    }

    /* malformed results */
    int mx = pick(jobs, 3, VT_STOP_MAX);
    VT_REQUIRE(mx >= 0, "no job stopped at max_tokens");
    const fx_job *jm = &jobs[mx];
    honest(jm, &b[0]); /* truncated: claims max but ends early */
    b[0].t.n_output--;
    b[0].trace.n_positions--;
    honest(jm, &b[1]); /* bogus stop reason */
    b[1].t.stop_reason = VT_STOP_EOS;
    honest(jm, &b[2]); /* more tokens than max_tokens */
    b[2].t.gp.max_tokens = jm->ref.n_tokens - 1;
    honest(jm, &b[3]); /* token out of vocab */
    b[3].out[0] = (int32_t)vocab + 3;
    run(c, b, 4, v);
    for (int k = 0; k < 4; k++)
        VT_CHECK(v[k].fault == VT_FAULT_MALFORMED, "case %d: %s (%s)", k, vt_fault_name(v[k].fault),
                 v[k].detail);
    VT_CHECK_EQ_INT(v[0].position, jm->n_prompt - 1 + jm->ref.n_tokens - 2);
    VT_CHECK_EQ_INT(v[1].position, jm->n_prompt - 1 + jm->ref.n_tokens - 1);

    /* output continuing past a stop string is malformed at the stop */
    int st = pick(jobs, 2, VT_STOP_STRING);
    VT_CHECK(st >= 0, "no stop-string job");
    if (st >= 0) {
        const fx_job *js = &jobs[st];
        honest(js, &b[0]);
        b[0].t.gp.n_stop = 0; /* what the worker ran... */
        b[0].t.gp.stop = NULL;
        run(c, b, 1, v);      /* ...is not what it claims: no reason to stop */
        VT_CHECK_EQ_INT(v[0].fault, VT_FAULT_MALFORMED);
        /* an honest result of a stop-less job, checked against the stops */
        fx_job longer = *js;
        longer.gp.n_stop = 0;
        longer.gp.stop = NULL;
        longer.gp.max_tokens = js->ref.n_tokens + 3;
        longer.gp.stop_at_eos = 0;
        vt_ctx_params cp;
        vt_ctx_params_default(&cp);
        cp.max_seqs = 1;
        vt_ctx *x = NULL;
        vt_errinfo ei = {0};
        VT_REQUIRE_OK(vt_ctx_create(m, &cp, &x, &ei));
        VT_REQUIRE_OK(vt_generate(x, 0, longer.prompt, longer.n_prompt, &longer.gp, &longer.ref, &ei));
        vt_ctx_free(x);
        honest(&longer, &b[1]);
        b[1].t.gp = js->gp;
        b[1].t.gp.max_tokens = longer.gp.max_tokens;
        run(c, b + 1, 1, v);
        VT_CHECK_EQ_INT(v[0].fault, VT_FAULT_MALFORMED);
        VT_CHECK_EQ_INT(v[0].position, js->n_prompt - 1 + js->ref.n_tokens - 1);
        free(longer.ref.tokens);
    }

    check_identity();
    vt_checker_free(c);
    vt_checker_free(cs);
    vt_checker_free(cc);
    free(v);
    free(v2);
    fx_jobs_free(jobs, NJOBS);
    vt_model_free(m);
    return vt_test_done();
}
