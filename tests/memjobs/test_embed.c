/* test_embed.c - embed jobs end to end: real redis-server, verity-scheduler
 * (--tokenizer), a worker and a verifier on the tiny synthetic model.
 *   - kind "embed" with prompt tokens and with a text prompt: verified by the
 *     verifier's replay, no output tokens, embedding of length dim, equal bit
 *     for bit to vt_seq_embed computed here on the same tokens;
 *   - a burst of embed jobs the worker computes and the verifier replays
 *     in shared forward calls (vt_embed_batch): every embedding still
 *     equal bit for bit to vt_seq_embed of it alone;
 *   - the receipt (decoded, verified against the scheduler's key) carries
 *     the same embedding in the worker's signed result;
 *   - an embed job for the identity model fails (unsupported by the
 *     worker), and memory with embed is refused;
 *   - (test builds) a worker that flips one bit of the embedding is caught
 *     by the verifier, and the job is redone by an honest worker. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "vt_client.h"
#include "vt_clock.h"
#include "vt_engine.h"
#include "vt_receipt.h"
#include "vt_synth.h"
#include "vt_test.h"
#include "vt_worker.h"

/* Job id's result: verified, and the embedding of toks that vt_seq_embed
 * gives here, also in its receipt. */
static void check_embed_result(vt_client *cl, const uint8_t sched_pk[32], const char *id,
                               const int32_t *toks, size_t ntok, vt_ctx *ctx, uint32_t dim,
                               const char *what)
{
    vt_errinfo ei = {0};
    vt_job_result res;
    int rv = vt_client_wait(cl, id, 60000, &res, &ei);
    VT_REQUIRE(rv == 0, "%s: wait: %s", what, vt_errinfo_msg(&ei));
    VT_CHECK(res.r.state == VT_JOB_VERIFIED && res.r.verify.passed == 1,
             "%s: state %s err %s %s, %u passed", what, vt_job_state_name(res.r.state),
             vt_errname(res.r.error), res.r.error_msg ? res.r.error_msg : "", res.r.verify.passed);
    VT_CHECK(res.r.n_tokens == 0, "%s: %u output tokens", what, res.r.n_tokens);
    VT_REQUIRE(res.r.n_embedding == dim, "%s: embedding of %u floats, dim %u", what,
               res.r.n_embedding, dim);
    float *e = malloc(dim * sizeof(float));
    VT_REQUIRE_OK(vt_seq_embed(ctx, 0, toks, (int)ntok, e, NULL));
    VT_CHECK(memcmp(e, res.r.embedding, dim * sizeof(float)) == 0,
             "%s: embedding differs from vt_seq_embed here", what);
    vt_receipt_file rf;
    VT_REQUIRE_OK(vt_receipt_decode(res.r.receipt, res.r.receipt_len, &rf, &ei));
    vt_receipt_report rep;
    rv = vt_receipt_verify(&rf, sched_pk, &rep, &ei);
    VT_CHECK(rv == 0, "%s: receipt: %s", what, vt_errinfo_msg(&ei));
    VT_CHECK(rf.r.result.n_embedding == dim &&
                 memcmp(rf.r.result.embedding, e, dim * sizeof(float)) == 0,
             "%s: receipt embedding", what);
    VT_CHECK(rf.r.n_prompt == ntok && memcmp(rf.r.prompt, toks, ntok * sizeof(int32_t)) == 0,
             "%s: receipt input tokens", what);
    VT_CHECK(!rf.r.has_memory, "%s: no memory", what);
    vt_receipt_file_free(&rf);
    free(e);
    vt_job_result_free(&res);
}

static void check_embed_job(vt_client *cl, const uint8_t sched_pk[32], vt_job_spec *s,
                            const int32_t *toks, size_t ntok, vt_ctx *ctx, uint32_t dim,
                            const char *what)
{
    vt_errinfo ei = {0};
    char id[VT_JOB_ID_MAX + 1];
    int rv = vt_client_submit(cl, s, id, NULL, &ei);
    VT_REQUIRE(rv == 0, "%s: submit: %s", what, vt_errinfo_msg(&ei));
    check_embed_result(cl, sched_pk, id, toks, ntok, ctx, dim, what);
}

int main(void)
{
    VT_REQUIRE_OK(vt_protocol_init());
    vt_errinfo ei = {0};
    char mpath[512];
    vt_ts_path("tiny.gguf", mpath, sizeof mpath);
    VT_REQUIRE_OK(vt_synth_write("tiny", VT_DTYPE_Q8_0, 3, mpath, &ei));
    vt_model *model = NULL;
    VT_REQUIRE_OK(vt_model_load(mpath, &model, &ei));
    const vt_model_info *mi = vt_model_get_info(model);
    vt_ctx_params p;
    vt_ctx_params_default(&p);
    p.max_seqs = 1;
    p.backend = VT_BACKEND_CPU;
    p.isa = VT_ISA_SCALAR; /* the worker runs native: the bits must not care */
    vt_ctx *ctx = NULL;
    VT_REQUIRE_OK(vt_ctx_create(model, &p, &ctx, &ei));

    cl_cluster c;
    const char *sargs[] = {"--tokenizer", mpath, NULL};
    cl_start(&c, mpath, sargs);
    const char *wargs[] = {"--model", mpath, "--slots", "2", "--identity", NULL};
    const char *vargs[] = {"--model", mpath, NULL};
    vt_keypair skp;
    VT_REQUIRE_OK(vt_key_load(c.key_path, &skp, &ei));
    vt_client *cl = NULL;
    VT_REQUIRE_OK(vt_client_open(c.agent_url, c.agent_key[0], NULL, &cl, &ei));

    /* A burst queued before any worker is up: the worker's fetches take
     * them two at a time (its slots) and run the short ones of each pair
     * in shared forward calls (vt_embed_batch; the 150-token one alone).
     * Every embedding is still the bits vt_seq_embed gives alone. */
    enum { BURST = 6 };
    static const int blen[BURST] = {3, 17, 40, 150, 9, 64};
    static int32_t btoks[BURST][150];
    char bids[BURST][VT_JOB_ID_MAX + 1];
    for (int b = 0; b < BURST; b++) {
        for (int i = 0; i < blen[b]; i++)
            btoks[b][i] = (int32_t)(3 + (b * 101 + i * 13) % (int)(mi->vocab - 3));
        vt_job_spec bs;
        vt_job_spec_default(&bs);
        bs.model = "tiny";
        bs.kind = VT_KIND_EMBED;
        bs.prompt_tokens = btoks[b];
        bs.n_prompt_tokens = (uint32_t)blen[b];
        bs.verify = "full:1";
        VT_REQUIRE_OK(vt_client_submit(cl, &bs, bids[b], NULL, &ei));
    }
    cl_node *honest = cl_node_start(&c, 0, wargs);
    cl_node *ver = cl_node_start(&c, 1, vargs);
    for (int b = 0; b < BURST; b++) {
        char what[32];
        snprintf(what, sizeof what, "burst job %d", b);
        check_embed_result(cl, skp.pk, bids[b], btoks[b], (size_t)blen[b], ctx, mi->dim, what);
    }
    double runs = cl_metric(honest->http, "verity_worker_embed_batch_jobs_count");
    double jobs = cl_metric(honest->http, "verity_worker_embed_batch_jobs_sum");
    VT_CHECK(jobs == BURST && runs < jobs,
             "some embed jobs shared a run (%g jobs in %g runs)", jobs, runs);
    runs = cl_metric(ver->http, "verity_verifier_embed_batch_size_count");
    jobs = cl_metric(ver->http, "verity_verifier_embed_batch_size_sum");
    VT_CHECK(jobs == BURST && runs < jobs,
             "some embed replays shared a run (%g replays in %g runs)", jobs, runs);

    /* token prompt, longer than one engine chunk is not possible at ctx 256:
     * 200 tokens, several prefill chunks on neither side */
    int32_t toks[200];
    for (int i = 0; i < 200; i++)
        toks[i] = (int32_t)(3 + (i * 37) % (int)(mi->vocab - 3));
    vt_job_spec s;
    vt_job_spec_default(&s);
    s.model = "tiny";
    s.kind = VT_KIND_EMBED;
    s.max_tokens = 0;
    s.prompt_tokens = toks;
    s.n_prompt_tokens = 200;
    s.verify = "full:1";
    check_embed_job(cl, skp.pk, &s, toks, 200, ctx, mi->dim, "token prompt");

    /* text prompt: tokenized by the scheduler */
    const char *text = "embed this sentence about zebras and pizza";
    int32_t tt[256];
    size_t nt = 0;
    VT_REQUIRE_OK(vt_tok_encode(vt_model_tokenizer(model), text, strlen(text), 1, tt, 256, &nt));
    vt_job_spec_default(&s);
    s.model = "tiny";
    s.kind = VT_KIND_EMBED;
    s.prompt = text;
    s.prompt_len = strlen(text);
    s.verify = "full:1";
    check_embed_job(cl, skp.pk, &s, tt, nt, ctx, mi->dim, "text prompt");

    /* the identity model has no hidden states */
    {
        uint8_t h[32];
        char hex[65], id[VT_JOB_ID_MAX + 1];
        vt_identity_hash(h);
        vt_hex(h, 32, hex);
        vt_job_spec_default(&s);
        s.model = hex;
        s.kind = VT_KIND_EMBED;
        s.prompt_tokens = toks;
        s.n_prompt_tokens = 4;
        VT_REQUIRE_OK(vt_client_submit(cl, &s, id, NULL, &ei));
        vt_job_result res;
        VT_REQUIRE_OK(vt_client_wait(cl, id, 30000, &res, &ei));
        VT_CHECK(res.r.state == VT_JOB_FAILED && res.r.error == VT_ERR_UNSUPPORTED,
                 "identity embed: state %s err %s", vt_job_state_name(res.r.state),
                 vt_errname(res.r.error));
        vt_job_result_free(&res);
    }
    /* memory needs a generate job (and this scheduler has no --memsync) */
    {
        char id[VT_JOB_ID_MAX + 1];
        vt_job_spec_default(&s);
        s.model = "tiny";
        s.kind = VT_KIND_EMBED;
        s.prompt = text;
        s.prompt_len = strlen(text);
        s.memory_k = 2;
        int rv = vt_client_submit(cl, &s, id, NULL, &ei);
        VT_CHECK(rv == VT_ERR_UNSUPPORTED || rv == VT_ERR_INVAL, "embed + memory: %s",
                 vt_errname(rv));
    }

#ifdef VT_TEST_FAULTS
    /* a worker that flips one bit of the embedding is caught by the replay
     * (trace right, embedding wrong: wrong_digest); an honest worker redoes
     * the job, which ends verified with the right bits */
    {
        VT_CHECK(vt_proc_stop(honest->proc, 20000) == 0, "honest worker exit");
        const char *fargs[] = {"--model", mpath, "--fault", "flip_token", NULL};
        const char *metric = "verity_verifier_faults_total{fault=\"wrong_digest\"}";
        /* a second verifier (scalar kernels): the one that voted on the bad
         * result does not vote again on the re-execution */
        const char *vargs2[] = {"--model", mpath, "--isa", "scalar", NULL};
        cl_node *ver2 = cl_node_start(&c, 1, vargs2);
        double before = cl_metric(ver->http, metric) + cl_metric(ver2->http, metric);
        cl_node *bad = cl_node_start(&c, 0, fargs);
        vt_job_spec_default(&s);
        s.model = "tiny";
        s.kind = VT_KIND_EMBED;
        s.prompt_tokens = toks;
        s.n_prompt_tokens = 50;
        s.verify = "full:1";
        char id[VT_JOB_ID_MAX + 1];
        VT_REQUIRE_OK(vt_client_submit(cl, &s, id, NULL, &ei));
        uint64_t until = vt_mono_ms() + 30000;
        double now = before;
        while ((now = cl_metric(ver->http, metric) + cl_metric(ver2->http, metric)) <= before &&
               vt_mono_ms() < until)
            vt_sleep_ms(50);
        VT_CHECK(now > before, "the verifiers never caught the flipped bit");
        VT_CHECK(vt_proc_stop(bad->proc, 20000) == 0, "faulty worker exit");
        cl_node_start(&c, 0, wargs);
        vt_job_result res;
        VT_REQUIRE_OK(vt_client_wait(cl, id, 60000, &res, &ei));
        float *e = malloc(mi->dim * sizeof(float));
        VT_REQUIRE_OK(vt_seq_embed(ctx, 0, toks, 50, e, NULL));
        VT_CHECK(res.r.state == VT_JOB_VERIFIED && res.r.n_embedding == mi->dim &&
                     memcmp(res.r.embedding, e, mi->dim * sizeof(float)) == 0,
                 "re-executed embed job: state %s err %s %s", vt_job_state_name(res.r.state),
                 vt_errname(res.r.error), res.r.error_msg ? res.r.error_msg : "");
        VT_CHECK(res.r.verify.failed >= 1, "the failed verdict is on record (%u)",
                 res.r.verify.failed);
        free(e);
        vt_job_result_free(&res);
    }
#else
    (void)honest;
    (void)ver;
#endif

    vt_client_close(cl);
    vt_ctx_free(ctx);
    vt_model_free(model);
    cl_stop(&c);
    return vt_test_done();
}
