/* test_faults.c - misbehaving workers (test-build fault modes) against a
 * real scheduler and two verifiers (one on the scalar ISA; two, because a
 * failing verdict opens a dispute that needs a second verifier to convict
 * the worker: arbiter/README.md). For each mode a faulty worker is the only
 * one up while three jobs are submitted; the verifiers must catch it (the
 * fault kind they report is checked where the mode determines it, and for
 * flip_token also the divergent position). Then an honest worker starts and
 * every job still ends verified with vt_generate's output: a faulty result
 * is never delivered. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "fixture.h"
#include "vt_client.h"
#include "vt_clock.h"
#include "vt_synth.h"
#include "vt_test.h"

#define NJOBS 9

typedef struct mode {
    const char *name;
    const char *metric; /* verifier fault counter that must grow; NULL: any failure */
    int sampled_only;   /* use jobs with a temperature */
} mode;

static const mode modes[] = {
    {"flip_token", "verity_verifier_faults_total{fault=\"wrong_token\"}", 0},
    {"wrong_digest", "verity_verifier_faults_total{fault=\"wrong_digest\"}", 0},
    {"truncate", "verity_verifier_faults_total{fault=\"malformed\"}", 0},
    {"random_tokens", "verity_verifier_faults_total{fault=\"wrong_token\"}", 0},
    {"skip_sampler", "verity_verifier_faults_total{fault=\"wrong_token\"}", 1},
    {"replay_other", NULL, 0},
    {"wrong_model", NULL, 0},
    {"q8_for_f32", NULL, 0},
};

typedef struct grow_arg {
    const char *host[2], *name;
    double before;
} grow_arg;

/* the metric summed over both verifiers */
static double metric2(const grow_arg *g)
{
    double a = cl_metric(g->host[0], g->name), b = cl_metric(g->host[1], g->name);
    return (a > 0 ? a : 0) + (b > 0 ? b : 0);
}

static bool grew(void *arg)
{
    grow_arg *g = arg;
    return metric2(g) > g->before;
}

int main(void)
{
#ifndef VT_TEST_FAULTS
    vt_test_skip("built without VT_TEST_FAULTS");
#endif
    VT_REQUIRE_OK(vt_protocol_init());
    uint64_t deadline = vt_mono_ms() + 240000; /* every wait together */
    char mpath[512], other[512], q8[512];
    vt_model *m = fx_tiny_model("tiny.gguf", VT_DTYPE_F32, 5, mpath, sizeof mpath);
    vt_model *mo = fx_tiny_model("other.gguf", VT_DTYPE_F32, 6, other, sizeof other);
    vt_model *mq = fx_tiny_model("tiny-q8.gguf", VT_DTYPE_Q8_0, 5, q8, sizeof q8);
    vt_model_free(mo);
    vt_model_free(mq);
    static fx_job jobs[NJOBS];
    fx_jobs(m, jobs, NJOBS, 1);

    cl_cluster c;
    const char *sargs[] = {"--lease-ms", "5000", NULL};
    cl_start(&c, mpath, sargs);
    const char *vargs[] = {"--model", mpath, "--batch", "4", NULL};
    const char *vargs2[] = {"--model", mpath, "--batch", "2", "--isa", "scalar", NULL};
    cl_node *ver = cl_node_start(&c, 1, vargs);
    cl_node *ver2 = cl_node_start(&c, 1, vargs2);
    vt_client *cl = NULL;
    vt_errinfo ei = {0};
    VT_REQUIRE_OK(vt_client_open(c.agent_url, c.agent_key[0], NULL, &cl, &ei));

    for (size_t mi = 0; mi < sizeof modes / sizeof *modes; mi++) {
        const mode *md = &modes[mi];
        const char *fm = strcmp(md->name, "wrong_model") == 0  ? other
                         : strcmp(md->name, "q8_for_f32") == 0 ? q8
                                                               : NULL;
        const char *wargs[] = {"--model", mpath, "--slots", "2", "--fault", md->name,
                               fm ? "--fault-model" : NULL, fm, NULL};
        grow_arg g = {{ver->http, ver2->http},
                      md->metric ? md->metric : "verity_verifier_verdicts_total{result=\"fail\"}",
                      0};
        g.before = metric2(&g);
        cl_node *bad = cl_node_start(&c, 0, wargs);

        /* three jobs with at least 4 output tokens */
        const fx_job *mine[3];
        char ids[3][VT_JOB_ID_MAX + 1];
        int n = 0;
        for (int i = 0; i < NJOBS && n < 3; i++) {
            const fx_job *j = &jobs[(i + (int)mi) % NJOBS];
            if (j->ref.n_tokens < 4 || (md->sampled_only && j->gp.sampling.temperature == 0))
                continue;
            mine[n] = j;
            cl_submit(cl, j, "full:1", ids[n]);
            n++;
        }
        VT_REQUIRE(n >= 2, "%s: not enough suitable jobs", md->name);
        VT_CHECK(vt_ts_wait_until(30000, grew, &g), "%s: the verifier never reported %s",
                 md->name, g.name);
        VT_CHECK(vt_proc_stop(bad->proc, 20000) == 0, "%s worker exit", md->name);

        /* an honest worker redoes the caught jobs */
        const char *hargs[] = {"--model", mpath, "--slots", "2", NULL};
        cl_node *good = cl_node_start(&c, 0, hargs);
        int caught = 0;
        for (int k = 0; k < n; k++) {
            vt_job_result res;
            uint64_t now = vt_mono_ms();
            if (now >= deadline) { /* out of time: fail without waiting */
                VT_CHECK(0, "%s job %d: not done in time", md->name, k);
                continue;
            }
            int rv = vt_client_wait(cl, ids[k], (uint32_t)(deadline - now), &res, &ei);
            VT_CHECK(rv == 0 && res.r.state == VT_JOB_VERIFIED, "%s job %d: %s state %s",
                     md->name, k, vt_errname(rv), vt_job_state_name(res.r.state));
            if (rv == 0) {
                const fx_job *j = mine[k];
                VT_CHECK(res.r.n_tokens == j->ref.n_tokens &&
                             memcmp(res.r.tokens, j->ref.tokens, j->ref.n_tokens * 4) == 0,
                         "%s job %d: delivered output is not vt_generate's", md->name, k);
                for (uint32_t v = 0; v < res.r.n_verdicts; v++) {
                    const vt_job_verdict *jv = &res.r.verdicts[v];
                    if (jv->pass)
                        continue;
                    caught++;
                    if (strcmp(md->name, "flip_token") == 0) {
                        VT_CHECK_EQ_INT(jv->fault, VT_FAULT_WRONG_TOKEN);
                        VT_CHECK_EQ_INT(jv->first_divergence,
                                        j->n_prompt - 1 + j->ref.n_tokens / 2);
                    }
                }
            }
            vt_job_result_free(&res);
        }
        VT_CHECK(caught >= 1, "%s: no failing verdict reached any job", md->name);
        VT_CHECK(vt_proc_stop(good->proc, 20000) == 0, "honest worker exit");
    }
    vt_client_close(cl);
    cl_stop(&c);
    fx_jobs_free(jobs, NJOBS);
    vt_model_free(m);
    return vt_test_done();
}
