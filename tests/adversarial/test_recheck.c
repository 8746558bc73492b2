/* test_recheck.c - when a worker is quarantined, its recent delivered jobs
 * are replayed again (arbiter/README.md: re-verify its recent jobs).
 *
 * A flip_token worker computes three verify=none jobs: delivered at once,
 * unchecked, and wrong (the test checks they differ from vt_generate's).
 * Then a full:1 job of it is convicted by two honest verifiers and the
 * worker is quarantined. The scheduler reads the worker's recent-jobs
 * window, rebuilds each delivered job from its receipt and hands it to a
 * verifier along with real tasks; each re-check fails and is logged
 * (job.recheck ... result=fail), so the operator knows which delivered
 * results to distrust. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adv_common.h"
#include "vt_clock.h"
#include "vt_test.h"

#define NJOBS 8
#define NONE 3

typedef struct logged_arg {
    const char *path;
    char (*ids)[VT_JOB_ID_MAX + 1];
} logged_arg;

/* Every none-job's re-check failed in the scheduler's log. */
static bool all_rechecked(void *arg)
{
    logged_arg *a = arg;
    size_t n = 0;
    char *log = vt_ts_read_file(a->path, &n);
    bool all = log != NULL;
    for (int k = 0; all && k < NONE; k++) {
        char want[96];
        snprintf(want, sizeof want, "job.recheck job=%s ", a->ids[k]);
        const char *at = strstr(log, want);
        char line[512] = "";
        if (at) {
            size_t len = strcspn(at, "\n");
            snprintf(line, sizeof line, "%.*s", (int)(len < 511 ? len : 511), at);
        }
        all = at && strstr(line, "result=fail") != NULL;
    }
    free(log);
    return all;
}

int main(void)
{
#ifndef VT_TEST_FAULTS
    vt_test_skip("built without VT_TEST_FAULTS");
#endif
    static adv_env e;
    static fx_job jobs[NJOBS];
    const char *sargs[] = {"--lease-ms", "5000", "--audit-rate", "0", NULL};
    adv_start(&e, sargs, jobs, NJOBS);
    cl_cluster *c = &e.c;
    vt_client *cl = e.cl;
    const char *mpath = e.mpath;
    vt_errinfo ei = {0};
    const char *vargs[] = {"--model", mpath, NULL};
    const char *bad_w[] = {"--model", mpath, "--slots", "2", "--fault", "flip_token", NULL};
    const char *good_w[] = {"--model", mpath, "--slots", "2", NULL};
    cl_node_start(c, 1, vargs);
    cl_node_start(c, 1, vargs);
    cl_node *bad = cl_node_start(c, 0, bad_w);
    uint8_t bad_pk[32];
    adv_node_pk(bad, bad_pk);

    static char ids[NONE][VT_JOB_ID_MAX + 1];
    const fx_job *mine[NONE];
    int n = 0;
    for (int i = 0; i < NJOBS && n < NONE; i++) {
        if (jobs[i].ref.n_tokens < 4)
            continue;
        mine[n] = &jobs[i];
        adv_submit(cl, &jobs[i], "none", NULL, ids[n]);
        n++;
    }
    VT_REQUIRE(n == NONE, "suitable jobs");
    for (int k = 0; k < NONE; k++) {
        vt_job_result res;
        int rv = vt_client_wait(cl, ids[k], 30000, &res, &ei);
        VT_CHECK(rv == 0 && res.r.state == VT_JOB_VERIFIED && res.r.n_verdicts == 0,
                 "none job %d delivered unchecked", k);
        if (rv == 0)
            VT_CHECK(!adv_is_reference(&res.r, mine[k]), "none job %d: the cheat is in the output", k);
        if (rv == 0 || rv == VT_ERR_TIMEOUT)
            vt_job_result_free(&res);
    }
    char id[VT_JOB_ID_MAX + 1];
    adv_submit(cl, mine[0], "full:1", NULL, id);
    VT_CHECK(adv_wait_quarantined(c, bad_pk, 30000), "the cheating worker is quarantined");
    cl_node_start(c, 0, good_w);
    /* Real verification traffic carries the re-checks. */
    logged_arg la = {vt_proc_log(c->sched), ids};
    for (int round = 0; round < 10 && !all_rechecked(&la); round++) {
        char more[4][VT_JOB_ID_MAX + 1];
        for (int k = 0; k < 4; k++)
            adv_submit(cl, &jobs[(round + k) % NJOBS], "full:1", NULL, more[k]);
        for (int k = 0; k < 4; k++) {
            vt_job_result res;
            int rv = vt_client_wait(cl, more[k], 30000, &res, &ei);
            VT_CHECK(rv == 0 && res.r.state == VT_JOB_VERIFIED, "carrier job: %s", vt_errname(rv));
            if (rv == 0 || rv == VT_ERR_TIMEOUT)
                vt_job_result_free(&res);
        }
    }
    VT_CHECK(vt_ts_wait_until(10000, all_rechecked, &la),
             "every delivered job of the quarantined worker was re-checked and failed");
    vt_proc_kill(bad->proc, SIGKILL);
    adv_finish(&e, jobs, NJOBS);
    return vt_test_done();
}
