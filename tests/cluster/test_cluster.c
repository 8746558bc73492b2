/* test_cluster.c - a real cluster on loopback: redis-server, the scheduler,
 * two workers and two verifiers (one on the scalar ISA) serving the tiny
 * synthetic model, two agents.
 *   1. Jobs from both agents all end verified (full:2), and each output,
 *      stop reason and trace digest equals vt_generate run here directly
 *      with the same parameters and seed.
 *   2. A worker is killed (SIGKILL) while it holds leases (checked in the
 *      scheduler's and the worker's /metrics): every job still reaches its
 *      agent, verified and correct, and the scheduler finished each job
 *      exactly once.
 *   3. A worker that gets SIGTERM while it holds leases (frozen with
 *      SIGSTOP so the signal surely lands mid-job) drains, exits 0, and its
 *      jobs reach their agents.
 *   4. An agent cancels a job while a worker runs it: the worker learns it
 *      from its next heartbeat and drops the job.
 *   5. Every daemon exits 0 on SIGTERM.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "fixture.h"
#include "vt_client.h"
#include "vt_clock.h"
#include "vt_test.h"
#include "vt_worker.h"

#define N1 12
#define N2 10
#define N3 6

static char job_ids[N1 + N2 + N3][VT_JOB_ID_MAX + 1];
static uint64_t deadline; /* for every wait of the test together */

static uint32_t time_left(void)
{
    uint64_t now = vt_mono_ms();
    return now < deadline ? (uint32_t)(deadline - now) : 1;
}

/* Wait for job `id`, check it is verified and equals its reference. */
static void expect(vt_client *cl, const char *id, const fx_job *j, uint32_t verifiers)
{
    vt_job_result res;
    vt_errinfo ei = {0};
    if (vt_mono_ms() >= deadline) { /* out of time: fail without waiting */
        VT_CHECK(0, "job %s: not done in time", id);
        return;
    }
    int rv = vt_client_wait(cl, id, time_left(), &res, &ei);
    VT_CHECK(rv == 0, "wait %s: %s", id, vt_errinfo_msg(&ei));
    if (rv == 0) {
        const vt_msg_result_ok *r = &res.r;
        VT_CHECK(r->state == VT_JOB_VERIFIED, "job %s state %s error %s (%s)", id,
                 vt_job_state_name(r->state), vt_errname(r->error),
                 r->error_msg ? r->error_msg : "");
        VT_CHECK(r->n_tokens == j->ref.n_tokens &&
                     memcmp(r->tokens, j->ref.tokens, r->n_tokens * sizeof(int32_t)) == 0,
                 "job %s: %u tokens, vt_generate gives %u (or they differ)", id, r->n_tokens,
                 j->ref.n_tokens);
        VT_CHECK_EQ_INT(r->stop_reason, j->ref.stop_reason);
        VT_CHECK(memcmp(r->trace_digest, j->ref.trace.final_digest, VT_DIGEST_BYTES) == 0,
                 "job %s: trace digest differs from vt_generate's", id);
        VT_CHECK(r->verify.passed >= verifiers && r->verify.failed == 0,
                 "job %s: %u passed, %u failed verdicts", id, r->verify.passed, r->verify.failed);
    }
    vt_job_result_free(&res);
}

typedef struct metric_arg {
    const char *host, *name;
} metric_arg;

static bool metric_positive(void *arg)
{
    const metric_arg *m = arg;
    return cl_metric(m->host, m->name) >= 1;
}

static bool leased(void *arg)
{
    const cl_cluster *c = arg;
    return cl_metric(c->http, "verity_scheduler_jobs{state=\"leased\"}") >= 1;
}

int main(void)
{
    VT_REQUIRE_OK(vt_protocol_init());
    deadline = vt_mono_ms() + 150000;
    char mpath[512];
    vt_model *m = fx_tiny_model("tiny.gguf", VT_DTYPE_F32, 21, mpath, sizeof mpath);
    static fx_job jobs[N1], longj[N2];
    fx_jobs(m, jobs, N1, 1);

    cl_cluster c;
    const char *sargs[] = {"--lease-ms", "5000", "--log-level", "debug", NULL};
    cl_start(&c, mpath, sargs);
    char spec[700];
    snprintf(spec, sizeof spec, "%s@%s", mpath, c.model_hex);
    const char *wargs[] = {"--model", spec, "--slots", "3", "--heartbeat-ms", "300", NULL};
    const char *vargs[] = {"--model", mpath, "--batch", "4", "--heartbeat-ms", "300", NULL};
    const char *vargs2[] = {"--model", mpath, "--batch", "2", "--isa", "scalar", NULL};
    const char *wargs_slow[] = {"--model", spec, "--slots", "3", "--heartbeat-ms", "300",
#ifdef VT_TEST_FAULTS
                                "--fault", "slow",
#endif
                                NULL};
    cl_node *w1 = cl_node_start(&c, 0, wargs_slow);
    cl_node *w2 = cl_node_start(&c, 0, wargs);
    cl_node_start(&c, 1, vargs);
    cl_node_start(&c, 1, vargs2);
    vt_client *cl[2];
    vt_errinfo ei = {0};
    for (int i = 0; i < 2; i++)
        VT_REQUIRE_OK(vt_client_open(c.agent_url, c.agent_key[i], NULL, &cl[i], &ei));

    /* 1. every job verified by both verifiers, equal to vt_generate */
    for (int i = 0; i < N1; i++)
        cl_submit(cl[i % 2], &jobs[i], "full:2", job_ids[i]);
    for (int i = 0; i < N1; i++)
        expect(cl[i % 2], job_ids[i], &jobs[i], 2);
    VT_CHECK(cl_metric(w1->http, "verity_worker_jobs_total{status=\"ok\"}") +
                     cl_metric(w2->http, "verity_worker_jobs_total{status=\"ok\"}") >= N1,
             "workers' job counters");

#ifndef VT_TEST_FAULTS
    fprintf(stderr, "phases 2 and 3 need --fault slow (VT_TEST_FAULTS): skipped\n");
    goto shutdown;
#endif
    /* 2. long jobs; only w1 (slow, so it surely holds leases for a while)
     * fetches (w2 frozen); freeze w1 once the scheduler shows leases, kill
     * it, let w2 finish everything */
    for (int i = 0; i < N2; i++) {
        fx_job *j = &longj[i];
        memset(j, 0, sizeof *j);
        j->n_prompt = 4;
        for (uint32_t k = 0; k < 4; k++)
            j->prompt[k] = (int32_t)(10 + i * 7 + (int)k);
        vt_sampling_default(&j->gp.sampling);
        j->gp.sampling.temperature = i % 2 ? 0.9f : 0.0f;
        j->gp.sampling.seed = 77 + (uint64_t)i;
        j->gp.max_tokens = 200;
        j->gp.stop_at_eos = 1;
        vt_ctx_params cp;
        vt_ctx_params_default(&cp);
        cp.max_seqs = 1;
        vt_ctx *x = NULL;
        VT_REQUIRE_OK(vt_ctx_create(m, &cp, &x, &ei));
        VT_REQUIRE_OK(vt_generate(x, 0, j->prompt, j->n_prompt, &j->gp, &j->ref, &ei));
        vt_ctx_free(x);
    }
    VT_REQUIRE_OK(vt_proc_kill(w2->proc, SIGSTOP));
    vt_sleep_ms(1500); /* w2's parked fetch times out empty */
    for (int i = 0; i < N2; i++)
        cl_submit(cl[i % 2], &longj[i], "full:1", job_ids[N1 + i]);
    VT_CHECK(vt_ts_wait_until(20000, leased, &c), "scheduler never showed a leased job");
    VT_REQUIRE_OK(vt_proc_kill(w1->proc, SIGSTOP));
    double held = cl_metric(c.http, "verity_scheduler_jobs{state=\"leased\"}");
    VT_CHECK(held >= 1, "worker 1 holds no lease when killed (%g)", held);
    VT_REQUIRE_OK(vt_proc_kill(w1->proc, SIGKILL));
    int code = 0;
    VT_CHECK_OK(vt_proc_wait(w1->proc, 5000, &code));
    VT_CHECK_EQ_INT(code, 128 + SIGKILL);
    VT_REQUIRE_OK(vt_proc_kill(w2->proc, SIGCONT));
    uint32_t attempts = 0;
    for (int i = 0; i < N2; i++) {
        expect(cl[i % 2], job_ids[N1 + i], &longj[i], 1);
        vt_job_status st;
        if (vt_client_status(cl[i % 2], job_ids[N1 + i], &st, &ei) == 0)
            attempts += st.attempts;
    }
    VT_CHECK(attempts > N2, "no job was leased twice (%u attempts for %d jobs)", attempts, N2);
    VT_CHECK_EQ_INT(cl_metric(c.http, "verity_scheduler_jobs_finished_total{state=\"verified\"}"),
                    N1 + N2);
    VT_CHECK(cl_metric(c.http, "verity_scheduler_jobs_finished_total{state=\"failed\"}") <= 0,
             "failed jobs");

    /* 3. SIGTERM while holding leases: drain, exit 0, nothing lost */
    cl_node *w3 = cl_node_start(&c, 0, wargs_slow);
    VT_REQUIRE_OK(vt_proc_kill(w2->proc, SIGSTOP));
    vt_sleep_ms(1500);
    for (int i = 0; i < N3; i++)
        cl_submit(cl[i % 2], &longj[i], "full:1", job_ids[N1 + N2 + i]);
    VT_CHECK(vt_ts_wait_until(20000, leased, &c), "no lease before SIGTERM");
    VT_REQUIRE_OK(vt_proc_kill(w3->proc, SIGSTOP));
    VT_REQUIRE_OK(vt_proc_kill(w3->proc, SIGTERM));
    VT_REQUIRE_OK(vt_proc_kill(w3->proc, SIGCONT));
    VT_CHECK_OK(vt_proc_wait(w3->proc, 30000, &code));
    VT_CHECK_EQ_INT(code, 0);
    VT_REQUIRE_OK(vt_proc_kill(w2->proc, SIGCONT));
    attempts = 0;
    for (int i = 0; i < N3; i++) {
        expect(cl[i % 2], job_ids[N1 + N2 + i], &longj[i], 1);
        vt_job_status st;
        if (vt_client_status(cl[i % 2], job_ids[N1 + N2 + i], &st, &ei) == 0)
            attempts += st.attempts;
    }
    /* at most the jobs it had not started yet were leased again (released) */
    VT_CHECK(attempts <= N3 + 3, "%u attempts for %d jobs", attempts, N3);
    /* and the drained worker got every result it computed acked */
    char *log = vt_ts_read_file(vt_proc_log(w3->proc), NULL);
    VT_CHECK(log && strstr(log, "worker.stopped unsent=0") && !strstr(log, "results.lost") &&
                 !strstr(log, "err=auth"),
             "drained worker lost results: %s", log ? log : "(no log)");
    free(log);
    VT_CHECK_EQ_INT(cl_metric(c.http, "verity_scheduler_jobs_finished_total{state=\"verified\"}"),
                    N1 + N2 + N3);

    /* 4. cancel while running: w2 frozen, a slow worker runs one long job */
    VT_REQUIRE_OK(vt_proc_kill(w2->proc, SIGSTOP));
    vt_sleep_ms(1500);
    cl_node *w5 = cl_node_start(&c, 0, wargs_slow);
    char cid[VT_JOB_ID_MAX + 1];
    cl_submit(cl[0], &longj[0], "full:1", cid);
    metric_arg busy = {w5->http, "verity_worker_slots_busy"};
    VT_CHECK(vt_ts_wait_until(20000, metric_positive, &busy), "the job never started");
    vt_job_state cst = VT_JOB_QUEUED;
    VT_CHECK_OK(vt_client_cancel(cl[0], cid, &cst, &ei));
    VT_CHECK_EQ_INT(cst, VT_JOB_CANCELLED);
    metric_arg dropped = {w5->http, "verity_worker_jobs_total{status=\"cancelled\"}"};
    VT_CHECK(vt_ts_wait_until(20000, metric_positive, &dropped),
             "the worker did not drop the cancelled job");
    VT_REQUIRE_OK(vt_proc_kill(w2->proc, SIGCONT));

#ifndef VT_TEST_FAULTS
shutdown:
#endif
    /* 5. orderly shutdown */
    for (int i = 0; i < 2; i++)
        vt_client_close(cl[i]);
    cl_stop(&c);
    fx_jobs_free(jobs, N1);
    fx_jobs_free(longj, N2);
    vt_model_free(m);
    return vt_test_done();
}
