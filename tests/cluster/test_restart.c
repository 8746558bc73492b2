/* test_restart.c - the scheduler crashes (SIGKILL) and comes back on the
 * same addresses and Redis: the worker and the verifier notice that their
 * session is gone, say hello again by themselves, and new jobs end verified
 * with vt_generate's output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "vt_clock.h"
#include "vt_test.h"

#define NJOBS 6

static void run_jobs(cl_cluster *c, vt_client *cl, fx_job *jobs, int from, int to)
{
    char ids[NJOBS][VT_JOB_ID_MAX + 1];
    for (int i = from; i < to; i++)
        cl_submit(cl, &jobs[i], "full:1", ids[i]);
    uint64_t deadline = vt_mono_ms() + 60000;
    for (int i = from; i < to; i++) {
        uint64_t now = vt_mono_ms();
        if (now >= deadline) {
            VT_CHECK(0, "job %d: not done in time", i);
            continue;
        }
        vt_job_result res;
        vt_errinfo ei = {0};
        int rv = vt_client_wait(cl, ids[i], (uint32_t)(deadline - now), &res, &ei);
        VT_CHECK(rv == 0 && res.r.state == VT_JOB_VERIFIED && res.r.n_tokens == jobs[i].ref.n_tokens &&
                     memcmp(res.r.tokens, jobs[i].ref.tokens, res.r.n_tokens * sizeof(int32_t)) == 0,
                 "job %d: %s, state %s", i, vt_errname(rv), vt_job_state_name(res.r.state));
        vt_job_result_free(&res);
    }
    (void)c;
}

int main(void)
{
    VT_REQUIRE_OK(vt_protocol_init());
    char mpath[512];
    vt_model *m = fx_tiny_model("tiny.gguf", VT_DTYPE_F32, 9, mpath, sizeof mpath);
    static fx_job jobs[NJOBS];
    fx_jobs(m, jobs, NJOBS, 1);
    cl_cluster c;
    cl_start(&c, mpath, NULL);
    const char *wargs[] = {"--model", mpath, "--heartbeat-ms", "200", NULL};
    cl_node *w = cl_node_start(&c, 0, wargs);
    cl_node *v = cl_node_start(&c, 1, wargs);
    vt_client *cl = NULL;
    vt_errinfo ei = {0};
    VT_REQUIRE_OK(vt_client_open(c.agent_url, c.agent_key[0], NULL, &cl, &ei));
    run_jobs(&c, cl, jobs, 0, NJOBS / 2);

    cl_sched_restart(&c, 1);
    run_jobs(&c, cl, jobs, NJOBS / 2, NJOBS);
    for (int k = 0; k < 2; k++) {
        cl_node *n = k ? v : w;
        char *log = vt_ts_read_file(vt_proc_log(n->proc), NULL);
        VT_CHECK(log && strstr(log, "node.reregistered"), "%s never said hello again", n->name);
        free(log);
    }
    vt_client_close(cl);
    cl_stop(&c);
    fx_jobs_free(jobs, NJOBS);
    vt_model_free(m);
    return vt_test_done();
}
