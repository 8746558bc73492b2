/* test_detection_rate.c - the verifier's replay against every way a worker
 * cheats, one result at a time (issue 4 §6: "every worker fault mode is
 * detected in 100% of at least 100 jobs per mode").
 *
 * adv_worker_faults runs the real daemons, but there a cheating worker is
 * quarantined on the FIRST result a verifier replays and its other results
 * are dropped unverified, so it shows about one replayed detection per mode.
 * This test measures the replay itself: per mode it produces the faulty
 * results exactly as `verity-worker --fault MODE` does (a vt_runner with
 * continuous batching, then the worker library's vt_worker_fault_params /
 * vt_worker_fault_result, the code the daemon runs; wrong_model and
 * q8_for_f32 compute with another tiny model of the same shape: other
 * weights, or the same weights in Q8_0), checks that each one really
 * differs from the honest result of the same job, and replays every one
 * with the verifier's vt_checker, as verity-verifier builds its task from
 * the wire result. Every differing result must get a verdict other than
 * "none"; a result that happens to equal the honest one (skip_sampler
 * where greedy picks what sampling picks, replay_other's first job, a
 * one-token result that truncate cannot shorten) is counted apart, must
 * PASS (it is honest output), and must leave at least MIN_FAULTY faulty
 * results in its mode. Modes where that cannot happen must show none.
 *
 * The honest results of every job are replayed by every checker in the
 * same run and must all pass: a checker that rejected everything would fail
 * here. Jobs mix text and raw-id prompts, greedy and sampled (temperature
 * 0.001 to 1.3, top-k, top-p), stop strings, EOS and a context-filling job;
 * the checkers are a forced-scalar one-replay one-thread checker, a native
 * 4-replay 2-thread one, and a native 8-replay one with few logit rows (so
 * long replays go in chunks). Each faulty result goes to one checker, in
 * turn.
 *
 * bad_signature does not touch the result at all (tokens and digest are
 * honest): the worker signs its results batch with a key the scheduler does
 * not know, and the scheduler rejects the batch (vt_results_verify) before
 * any verifier sees it. Replay cannot and need not detect it, so it is
 * measured here the way it is caught: each batch signed as that worker
 * signs must fail vt_results_verify under the worker's registered key (and
 * the same batch signed with that key must pass). adv_bad_signature shows
 * the quarantine in a real cluster. `slow` is an honest worker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "vt_test.h"
#include "vt_verifier.h"
#include "vt_worker.h"

#ifdef VT_TEST_FAULTS

#define NJOBS 200
#define MIN_FAULTY 100
#define NCHECKERS 3

typedef struct job {
    int32_t prompt[256];
    uint32_t n_prompt;
    vt_gen_params gp;          /* what the job asks for (and the result claims) */
    const char *stop[2];
} job;

/* One result as it reaches a verifier. */
typedef struct result {
    int32_t *tokens;
    uint32_t n_tokens;
    int stop_reason;
    vt_trace trace;
} result;

typedef struct mode_spec {
    int mode;
    int slots;                 /* the worker's --slots */
    const char *may_coincide;  /* why a result can equal the honest one, or NULL */
} mode_spec;

static const mode_spec modes[] = {
    {VT_WORKER_FAULT_FLIP_TOKEN, 1, NULL},
    {VT_WORKER_FAULT_RANDOM_TOKENS, 2, "a short output can be drawn right (1/509 a token)"},
    {VT_WORKER_FAULT_TRUNCATE, 4, "a one-token output has no token to drop"},
    {VT_WORKER_FAULT_WRONG_DIGEST, 8, NULL},
    {VT_WORKER_FAULT_REPLAY_OTHER, 3, "the first job has nothing to replay"},
    {VT_WORKER_FAULT_SKIP_SAMPLER, 4, "greedy can pick what sampling picks"},
    {VT_WORKER_FAULT_WRONG_MODEL, 2, NULL},
    {VT_WORKER_FAULT_Q8_FOR_F32, 4, NULL},
};
#define NMODES (int)(sizeof modes / sizeof *modes)

static const char *const words[] = {"the", "quick", "brown", "fox", "once", "upon", "a",
                                    "time", "hello", "world", "to", "be", "or", "not",
                                    "question", "verity"};

/* NJOBS varied jobs. Temperatures cycle greedy, 0.7 + top-k, 1.1 + top-p,
 * 0.001 (greedy mostly agrees) and 1.3; every third job has stop strings, the
 * last one fills the context. */
static void make_jobs(const vt_model *m, job *jobs)
{
    const vt_tokenizer *tok = vt_model_tokenizer(m);
    const vt_model_info *mi = vt_model_get_info(m);
    uint64_t x = 0x2545f4914f6cdd1dull;
    for (int i = 0; i < NJOBS; i++) {
        job *j = &jobs[i];
        memset(j, 0, sizeof *j);
        if (i == NJOBS - 1) { /* ends at the context, not at max_tokens */
            j->n_prompt = mi->ctx_len - 8;
            for (uint32_t k = 0; k < j->n_prompt; k++)
                j->prompt[k] = (int32_t)(3 + (k * 37u) % (mi->vocab - 3));
        } else if (i % 4 == 0) { /* raw ids */
            j->n_prompt = 1 + (uint32_t)(i * 13) % 60;
            for (uint32_t k = 0; k < j->n_prompt; k++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                j->prompt[k] = (int32_t)(3 + (x >> 33) % (mi->vocab - 3));
            }
        } else { /* text: 1..6 words picked by the job's index */
            char text[128] = "";
            int nw = 1 + i % 6;
            for (int w = 0; w < nw; w++) {
                strcat(text, w ? " " : "");
                strcat(text, words[(i * 7 + w * 5) % (int)(sizeof words / sizeof *words)]);
            }
            size_t np = 0;
            VT_REQUIRE_OK(vt_tok_encode(tok, text, strlen(text), 1, j->prompt, 256, &np));
            j->n_prompt = (uint32_t)np;
        }
        vt_sampling_default(&j->gp.sampling);
        vt_sampling *s = &j->gp.sampling;
        switch (i % 5) {
        case 1:
            s->temperature = 0.7f;
            s->top_k = 40;
            break;
        case 2:
            s->temperature = 1.1f;
            s->top_p = 0.9f;
            break;
        case 3:
            s->temperature = 0.001f; /* near greedy: skip_sampler often goes unnoticed */
            break;
        case 4:
            s->temperature = 1.3f;
            break;
        default:
            break;
        }
        s->seed = 7u + (uint64_t)i * 1000003u;
        j->gp.max_tokens = i == NJOBS - 1 ? 40 : 2 + (uint32_t)(i * 7) % 30;
        j->gp.stop_at_eos = 1; /* the wire has no switch: always stop at EOS */
        if (i % 3 == 2) {
            j->stop[0] = "e";
            j->stop[1] = "\xff never";
            j->gp.stop = j->stop;
            j->gp.n_stop = 2;
        }
    }
}

/* Run the jobs sel[0..n) on model m as `verity-worker --slots S --fault
 * MODE` runs them: the cheat's parameters go to a continuous-batching
 * runner, and each result is corrupted in the order the jobs finish (the
 * order replay_other's memory sees). out[k] is job sel[k]'s result. */
static void work(const vt_model *m, int mode, int slots, const job *jobs, const int *sel, int n,
                 result *out)
{
    vt_runner_params rp;
    vt_runner_params_default(&rp);
    rp.slots = slots;
    rp.n_threads = 1;
    rp.backend = VT_BACKEND_CPU;
    vt_runner *r = NULL;
    vt_errinfo ei = {0};
    VT_REQUIRE(vt_runner_create(m, &rp, &r, &ei) == 0, "runner: %s", vt_errinfo_msg(&ei));
    vt_fault_state *fs = vt_fault_state_new();
    VT_REQUIRE(fs != NULL, "fault state");
    uint32_t vocab = vt_model_get_info(m)->vocab;
    int next = 0, done = 0;
    while (done < n) {
        while (next < n && vt_runner_free_slots(r) > 0) {
            vt_gen_params gp = jobs[sel[next]].gp;
            vt_worker_fault_params(mode, &gp);
            VT_REQUIRE(vt_runner_submit(r, (uint64_t)next, jobs[sel[next]].prompt,
                                        jobs[sel[next]].n_prompt, &gp, 0, &ei) == 0,
                       "submit: %s", vt_errinfo_msg(&ei));
            next++;
        }
        VT_REQUIRE(vt_runner_step(r, NULL, &ei) == 0, "step: %s", vt_errinfo_msg(&ei));
        vt_run_result rr;
        while (vt_runner_take(r, &rr)) {
            VT_REQUIRE(rr.status == 0 && rr.tag < (uint64_t)n, "job %llu: %s",
                       (unsigned long long)rr.tag, vt_errname(rr.status));
            result *o = &out[rr.tag];
            o->tokens = rr.tokens;
            o->n_tokens = rr.n_tokens;
            o->stop_reason = rr.stop_reason;
            o->trace = rr.trace;
            rr.tokens = NULL;
            vt_worker_fault_result(mode, fs, o->tokens, &o->n_tokens, o->trace.final_digest,
                                   vocab);
            /* what the verifier rebuilds from the wire (verifier/src/loops.c) */
            o->trace.n_positions =
                jobs[sel[rr.tag]].n_prompt + o->n_tokens - (o->n_tokens ? 1 : 0);
            vt_run_result_free(&rr);
            done++;
        }
    }
    vt_fault_state_free(fs);
    vt_runner_free(r);
}

static void results_free(result *r, int n)
{
    for (int i = 0; i < n; i++)
        free(r[i].tokens);
}

static bool same_result(const result *a, const result *b)
{
    return a->n_tokens == b->n_tokens &&
           memcmp(a->tokens, b->tokens, (size_t)a->n_tokens * sizeof(int32_t)) == 0 &&
           memcmp(a->trace.final_digest, b->trace.final_digest, VT_DIGEST_BYTES) == 0;
}

/* Replay results res[0..n) (job sel[k]) on checker c, as many per
 * vt_checker_run as its batch holds. idx lists which k to replay. */
static void replay(vt_checker *c, const job *jobs, const int *sel, const result *res,
                   const int *idx, int n, vt_replay_verdict *out)
{
    int batch = vt_checker_batch(c);
    vt_replay_task t[16];
    VT_REQUIRE(batch >= 1 && batch <= 16, "checker batch %d", batch);
    for (int at = 0; at < n; at += batch) {
        int b = n - at < batch ? n - at : batch;
        for (int q = 0; q < b; q++) {
            const job *j = &jobs[sel[idx[at + q]]];
            const result *r = &res[idx[at + q]];
            t[q] = (vt_replay_task){.prompt = j->prompt,
                                    .n_prompt = j->n_prompt,
                                    .output = r->tokens,
                                    .n_output = r->n_tokens,
                                    .gp = j->gp, /* the job's, not the cheat's */
                                    .stop_reason = r->stop_reason,
                                    .trace = &r->trace};
        }
        vt_errinfo ei = {0};
        VT_REQUIRE(vt_checker_run(c, t, b, &out[at], &ei) == 0, "checker: %s",
                   vt_errinfo_msg(&ei));
    }
}

/* Each result to one checker, in turn (k % NCHECKERS); verdicts in v[k]. */
static void replay_all(vt_checker *const *ck, const job *jobs, const int *sel, const result *res,
                       int n, vt_replay_verdict *v)
{
    int *idx = malloc((size_t)n * sizeof *idx);
    vt_replay_verdict *tmp = malloc((size_t)n * sizeof *tmp);
    VT_REQUIRE(idx && tmp, "out of memory");
    for (int c = 0; c < NCHECKERS; c++) {
        int m = 0;
        for (int k = c; k < n; k += NCHECKERS)
            idx[m++] = k;
        replay(ck[c], jobs, sel, res, idx, m, tmp);
        for (int q = 0; q < m; q++)
            v[idx[q]] = tmp[q];
    }
    free(tmp);
    free(idx);
}

/* bad_signature: batches of 1..8 honest results, signed as that worker
 * signs them (a key from vt_key_generate) and as an honest worker would. */
static void check_signatures(const job *jobs, const result *honest, int *n_bad, int *n_caught)
{
    vt_keypair real, other;
    VT_REQUIRE_OK(vt_key_generate(&real));
    VT_REQUIRE_OK(vt_key_generate(&other));
    vt_wire_result wr[8];
    *n_bad = *n_caught = 0;
    for (int at = 0, size = 1; at < NJOBS; at += size, size = size % 8 + 1) {
        int b = NJOBS - at < size ? NJOBS - at : size;
        memset(wr, 0, sizeof wr);
        for (int q = 0; q < b; q++) {
            const result *r = &honest[at + q];
            snprintf(wr[q].job_id, sizeof wr[q].job_id, "job-%d", at + q);
            wr[q].lease_id = 1000u + (uint64_t)(at + q);
            vt_hash_tokens(jobs[at + q].prompt, jobs[at + q].n_prompt, wr[q].prompt_digest);
            wr[q].tokens = r->tokens;
            wr[q].n_tokens = r->n_tokens;
            wr[q].text = "";
            wr[q].stop_reason = r->stop_reason;
            memcpy(wr[q].trace_digest, r->trace.final_digest, VT_DIGEST_BYTES);
            wr[q].n_layers = r->trace.n_layers;
            wr[q].layer_digests = &r->trace.layer_digest[0][0];
        }
        vt_msg_results m;
        memset(&m, 0, sizeof m);
        snprintf(m.session, sizeof m.session, "s");
        m.results = wr;
        m.n_results = (uint32_t)b;
        vt_errinfo ei = {0};
        VT_REQUIRE(vt_results_sign(&m, &other, &ei) == 0, "sign: %s", vt_errinfo_msg(&ei));
        int rv = vt_results_verify(&m, real.pk, &ei);
        VT_CHECK(rv == VT_ERR_BADSIG, "batch at %d signed with another key: %s", at,
                 vt_errname(rv));
        *n_bad += b;
        *n_caught += rv == VT_ERR_BADSIG ? b : 0;
        VT_REQUIRE(vt_results_sign(&m, &real, &ei) == 0, "sign: %s", vt_errinfo_msg(&ei));
        VT_CHECK_OK(vt_results_verify(&m, real.pk, &ei));
    }
    vt_key_wipe(&real);
    vt_key_wipe(&other);
}

int main(void)
{
    VT_REQUIRE_OK(vt_protocol_init());
    char path[512], other_path[512], q8_path[512];
    vt_model *m = fx_tiny_model("tiny.gguf", VT_DTYPE_F32, 5, path, sizeof path);
    vt_model *other = fx_tiny_model("other.gguf", VT_DTYPE_F32, 6, other_path, sizeof other_path);
    vt_model *q8 = fx_tiny_model("tiny-q8.gguf", VT_DTYPE_Q8_0, 5, q8_path, sizeof q8_path);
    const vt_model_info *mi = vt_model_get_info(m);
    /* the daemon's --fault-model rule: the same shape as the claimed model */
    for (int f = 0; f < 2; f++) {
        const vt_model_info *fi = vt_model_get_info(f ? q8 : other);
        VT_REQUIRE(fi->vocab == mi->vocab && fi->dim == mi->dim && fi->n_layers == mi->n_layers,
                   "fault model shape");
    }

    static job jobs[NJOBS];
    make_jobs(m, jobs);
    int all[NJOBS], sampled[NJOBS], n_sampled = 0;
    for (int i = 0; i < NJOBS; i++) {
        all[i] = i;
        if (jobs[i].gp.sampling.temperature > 0)
            sampled[n_sampled++] = i;
    }
    vt_checker *ck[NCHECKERS] = {
        fx_checker(m, 1, 1, VT_ISA_SCALAR, 0),
        fx_checker(m, 4, 2, VT_ISA_NATIVE, 0),
        fx_checker(m, 8, 1, VT_ISA_NATIVE, 64),
    };
    printf("checkers: [%s] [%s] [%s]\n", vt_checker_describe(ck[0]), vt_checker_describe(ck[1]),
           vt_checker_describe(ck[2]));

    /* Honest results: every checker passes every one. */
    static result honest[NJOBS];
    static vt_replay_verdict v[NJOBS];
    work(m, VT_WORKER_FAULT_NONE, 4, jobs, all, NJOBS, honest);
    int honest_pass = 0, honest_checked = 0, greedy = 0;
    for (int c = 0; c < NCHECKERS; c++) {
        replay(ck[c], jobs, all, honest, all, NJOBS, v);
        for (int i = 0; i < NJOBS; i++) {
            honest_checked++;
            honest_pass += v[i].fault == VT_FAULT_NONE && !v[i].unverifiable;
            VT_CHECK(v[i].fault == VT_FAULT_NONE && !v[i].unverifiable,
                     "honest job %d on checker %d: %s (%s)", i, c, vt_fault_name(v[i].fault),
                     v[i].detail);
        }
    }
    for (int i = 0; i < NJOBS; i++)
        greedy += jobs[i].gp.sampling.temperature == 0;
    printf("honest: %d/%d replays pass (%d jobs, %d greedy, %d sampled)\n", honest_pass,
           honest_checked, NJOBS, greedy, n_sampled);

    int total_faulty = 0, total_caught = 0;
    for (int mdx = 0; mdx < NMODES; mdx++) {
        const mode_spec *ms = &modes[mdx];
        const char *name = vt_worker_fault_names[ms->mode];
        const int *sel = ms->mode == VT_WORKER_FAULT_SKIP_SAMPLER ? sampled : all;
        int n = ms->mode == VT_WORKER_FAULT_SKIP_SAMPLER ? n_sampled : NJOBS;
        const vt_model *wm = ms->mode == VT_WORKER_FAULT_WRONG_MODEL  ? other
                             : ms->mode == VT_WORKER_FAULT_Q8_FOR_F32 ? q8
                                                                      : m;
        VT_CHECK(vt_worker_fault_needs_model(ms->mode) == (wm != m), "%s: --fault-model", name);
        static result bad[NJOBS];
        memset(bad, 0, sizeof bad);
        work(wm, ms->mode, ms->slots, jobs, sel, n, bad);
        replay_all(ck, jobs, sel, bad, n, v);

        int faulty = 0, caught = 0, coincide = 0;
        int kinds[VT_FAULT_MALFORMED + 1] = {0};
        for (int k = 0; k < n; k++) {
            const vt_replay_verdict *vd = &v[k];
            VT_CHECK(!vd->unverifiable, "%s job %d: unverifiable (%s)", name, sel[k], vd->detail);
            if (same_result(&bad[k], &honest[sel[k]])) {
                /* honest output after all: proves nothing, must pass */
                coincide++;
                VT_CHECK(vd->fault == VT_FAULT_NONE, "%s job %d: equals the honest result but "
                         "fails as %s", name, sel[k], vt_fault_name(vd->fault));
                continue;
            }
            faulty++;
            if (vd->fault != VT_FAULT_NONE && vd->fault <= VT_FAULT_MALFORMED) {
                caught++;
                kinds[vd->fault]++;
            }
            VT_CHECK(vd->fault != VT_FAULT_NONE, "%s job %d (checker %d): a faulty result passed",
                     name, sel[k], k % NCHECKERS);
            /* where the cheat is known exactly, so is the verdict */
            uint32_t n_out = honest[sel[k]].n_tokens;
            if (ms->mode == VT_WORKER_FAULT_FLIP_TOKEN)
                VT_CHECK(vd->fault == VT_FAULT_WRONG_TOKEN &&
                             vd->position == (int64_t)(jobs[sel[k]].n_prompt - 1 + n_out / 2) &&
                             vd->expected_token == honest[sel[k]].tokens[n_out / 2],
                         "flip_token job %d: %s at %lld", sel[k], vt_fault_name(vd->fault),
                         (long long)vd->position);
            if (ms->mode == VT_WORKER_FAULT_WRONG_DIGEST)
                VT_CHECK(vd->fault == VT_FAULT_WRONG_DIGEST &&
                             vd->first_bad_layer == (int32_t)mi->n_layers,
                         "wrong_digest job %d: %s, first bad layer %d", sel[k],
                         vt_fault_name(vd->fault), vd->first_bad_layer);
            if (ms->mode == VT_WORKER_FAULT_TRUNCATE)
                VT_CHECK(vd->fault == VT_FAULT_MALFORMED, "truncate job %d: %s", sel[k],
                         vt_fault_name(vd->fault));
        }
        VT_CHECK(faulty >= MIN_FAULTY, "%s: only %d faulty results (%d equal the honest one)",
                 name, faulty, coincide);
        VT_CHECK(ms->may_coincide || coincide == 0,
                 "%s: %d results equal the honest one, which this mode cannot do", name, coincide);
        printf("%-13s %3d/%3d faulty results detected (%3d wrong_token, %3d wrong_digest, "
               "%3d malformed); %d equal the honest one%s%s%s\n",
               name, caught, faulty, kinds[VT_FAULT_WRONG_TOKEN], kinds[VT_FAULT_WRONG_DIGEST],
               kinds[VT_FAULT_MALFORMED], coincide, ms->may_coincide ? " (" : "",
               ms->may_coincide ? ms->may_coincide : "", ms->may_coincide ? ")" : "");
        total_faulty += faulty;
        total_caught += caught;
        results_free(bad, n);
    }

    int sig_bad = 0, sig_caught = 0;
    check_signatures(jobs, honest, &sig_bad, &sig_caught);
    printf("%-13s %3d/%3d results in batches rejected by vt_results_verify\n",
           vt_worker_fault_names[VT_WORKER_FAULT_BAD_SIGNATURE], sig_caught, sig_bad);
    VT_CHECK(sig_bad >= MIN_FAULTY && sig_caught == sig_bad, "bad_signature: %d/%d", sig_caught,
             sig_bad);
    printf("all replayed modes: %d/%d faulty results detected\n", total_caught, total_faulty);

    results_free(honest, NJOBS);
    for (int c = 0; c < NCHECKERS; c++)
        vt_checker_free(ck[c]);
    vt_model_free(q8);
    vt_model_free(other);
    vt_model_free(m);
    return vt_test_done();
}

#else
int main(void)
{
    vt_test_skip("built without VT_TEST_FAULTS");
}
#endif
