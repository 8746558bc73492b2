/* test_identity.c - the identity benchmark model end to end: identity
 * workers and identity-checking verifiers, many small jobs from two agents,
 * every job verified, output = the prompt (up to max_tokens), trace digest =
 * vt_identity_digest. The worker and the verifier also serve a real model
 * at the same time (several models per node), and jobs for it, interleaved,
 * equal vt_generate. Bounded in count; no timing assertions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "vt_client.h"
#include "vt_clock.h"
#include "vt_synth.h"
#include "vt_test.h"
#include "vt_worker.h"

#define NJOBS 200
#define NREAL 6

static int32_t prompts[NJOBS][16];
static uint32_t n_prompt[NJOBS], max_tok[NJOBS];
static char ids[NJOBS][VT_JOB_ID_MAX + 1];

int main(void)
{
    VT_REQUIRE_OK(vt_protocol_init());
    /* identity jobs name the identity hash directly; "tiny" is the real one */
    char mpath[512];
    vt_errinfo ei = {0};
    vt_model *m = fx_tiny_model("tiny.gguf", VT_DTYPE_F32, 1, mpath, sizeof mpath);
    static fx_job real[NREAL];
    fx_jobs(m, real, NREAL, 1);
    cl_cluster c;
    cl_start(&c, mpath, NULL);
    const char *wargs[] = {"--identity", "--model", mpath, "--slots", "64", NULL};
    const char *vargs[] = {"--identity", "--model", mpath, "--batch", "32", NULL};
    cl_node *w = cl_node_start(&c, 0, wargs);
    cl_node *v = cl_node_start(&c, 1, vargs);
    uint8_t h[32];
    char hex[65];
    vt_identity_hash(h);
    vt_hex(h, 32, hex);
    vt_client *cl[2];
    for (int i = 0; i < 2; i++)
        VT_REQUIRE_OK(vt_client_open(c.agent_url, c.agent_key[i], NULL, &cl[i], &ei));
    char real_ids[NREAL][VT_JOB_ID_MAX + 1];
    for (int i = 0; i < NJOBS; i++) {
        if (i % 30 == 0 && i / 30 < NREAL) /* i = 0, 30, ..., 150 */
            cl_submit(cl[0], &real[i / 30], "full:1", real_ids[i / 30]);
        n_prompt[i] = 1 + (uint32_t)(i * 7) % 16;
        for (uint32_t k = 0; k < n_prompt[i]; k++)
            prompts[i][k] = (int32_t)((i * 131 + (int)k * 17) % 30000);
        max_tok[i] = 1 + (uint32_t)(i * 5) % 20;
        vt_job_spec s;
        vt_job_spec_default(&s);
        s.model = hex;
        s.prompt_tokens = prompts[i];
        s.n_prompt_tokens = n_prompt[i];
        s.max_tokens = max_tok[i];
        s.verify = "full:1";
        int rv = vt_client_submit(cl[i % 2], &s, ids[i], NULL, &ei);
        VT_REQUIRE(rv == 0, "submit %d: %s", i, vt_errinfo_msg(&ei));
    }
    int ok = 0;
    uint64_t deadline = vt_mono_ms() + 60000; /* for all jobs together */
    for (int i = 0; i < NJOBS; i++) {
        vt_job_result res;
        uint64_t now = vt_mono_ms();
        if (now >= deadline) { /* out of time: fail the rest without waiting */
            VT_CHECK(0, "identity job %d: not done in time", i);
            continue;
        }
        int rv = vt_client_wait(cl[i % 2], ids[i], (uint32_t)(deadline - now), &res, &ei);
        uint32_t want = n_prompt[i] < max_tok[i] ? n_prompt[i] : max_tok[i];
        uint8_t d[32];
        vt_identity_digest(prompts[i], n_prompt[i], want, d);
        bool good = rv == 0 && res.r.state == VT_JOB_VERIFIED && res.r.n_tokens == want &&
                    memcmp(res.r.tokens, prompts[i], want * sizeof(int32_t)) == 0 &&
                    memcmp(res.r.trace_digest, d, 32) == 0 && res.r.verify.passed == 1;
        VT_CHECK(good, "identity job %d: rv %s state %s, %u tokens (want %u)", i, vt_errname(rv),
                 vt_job_state_name(res.r.state), res.r.n_tokens, want);
        ok += good;
        vt_job_result_free(&res);
    }
    VT_CHECK_EQ_INT(ok, NJOBS);
    for (int i = 0; i < NREAL; i++) {
        vt_job_result res;
        uint64_t now = vt_mono_ms();
        if (now >= deadline) {
            VT_CHECK(0, "real job %d: not done in time", i);
            continue;
        }
        int rv = vt_client_wait(cl[0], real_ids[i], (uint32_t)(deadline - now), &res, &ei);
        VT_CHECK(rv == 0 && res.r.state == VT_JOB_VERIFIED && res.r.n_tokens == real[i].ref.n_tokens &&
                     memcmp(res.r.tokens, real[i].ref.tokens, res.r.n_tokens * sizeof(int32_t)) == 0,
                 "real job %d: not vt_generate's output (state %s)", i, vt_job_state_name(res.r.state));
        vt_job_result_free(&res);
    }
    VT_CHECK(cl_metric(w->http, "verity_worker_jobs_total{status=\"ok\"}") >= NJOBS, "worker count");
    VT_CHECK(cl_metric(v->http, "verity_verifier_verdicts_total{result=\"pass\"}") >= NJOBS,
             "verifier count");
    for (int i = 0; i < 2; i++)
        vt_client_close(cl[i]);
    cl_stop(&c);
    fx_jobs_free(real, NREAL);
    vt_model_free(m);
    return vt_test_done();
}
