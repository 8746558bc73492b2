/* test_lying_verifiers.c - one lying verifier among the verifiers of a
 * full:3 job, both ways (issue 4 §6), against the real scheduler, workers
 * and verifiers on the tiny model. Audits are off here: the dispute rule
 * alone must catch the liar.
 *
 *  A. always_fail liar, honest worker. The three verifiers (two honest, the
 *     liar) give pass, pass, fail: a dispute (panel 5, majority 3), which
 *     waits for a fourth verifier; when an honest one joins it passes, the
 *     job is delivered verified and the liar, overruled, is quarantined.
 *     The honest worker is never quarantined.
 *  B. always_pass liar, flip_token worker. fail, fail, pass: the fourth
 *     (honest) verifier fails it too; the worker is convicted and
 *     quarantined, the liar that passed a wrong result is quarantined, the
 *     jobs run again on an honest worker.
 * Both: every job ends verified with vt_generate's output, and its receipt
 * checks against the scheduler's key and the signed log.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adv_common.h"
#include "vt_clock.h"
#include "vt_synth.h"
#include "vt_test.h"

#define NJOBS 8
#define PER 4

typedef struct failed_arg {
    vt_client *cl;
    char (*ids)[VT_JOB_ID_MAX + 1];
    int n;
} failed_arg;

/* Some job already has a failing verdict (status shows it while pending). */
static bool some_failed(void *arg)
{
    failed_arg *a = arg;
    for (int k = 0; k < a->n; k++) {
        vt_job_status st;
        vt_errinfo ei = {0};
        if (vt_client_status(a->cl, a->ids[k], &st, &ei) == 0 && st.verify.failed > 0)
            return true;
    }
    return false;
}

static int submit_jobs(vt_client *cl, const fx_job *jobs, int first, const fx_job **mine,
                       char (*ids)[VT_JOB_ID_MAX + 1])
{
    int n = 0;
    for (int i = 0; i < NJOBS && n < PER; i++) {
        const fx_job *j = &jobs[(first + i) % NJOBS];
        if (j->ref.n_tokens < 4)
            continue;
        mine[n] = j;
        adv_submit(cl, j, "full:3", NULL, ids[n]);
        n++;
    }
    VT_REQUIRE(n >= 2, "not enough suitable jobs");
    return n;
}

/* Every job verified, vt_generate's output, receipt with >= 3 passes. */
static void check_delivered(vt_client *cl, const char *part, const fx_job **mine,
                            char (*ids)[VT_JOB_ID_MAX + 1], int n, const uint8_t spk[32],
                            const uint8_t good_pk[32])
{
    for (int k = 0; k < n; k++) {
        vt_job_result res;
        vt_errinfo ei = {0};
        int rv = vt_client_wait(cl, ids[k], 60000, &res, &ei);
        VT_CHECK(rv == 0 && res.r.state == VT_JOB_VERIFIED, "%s job %d: %s state %s", part, k,
                 vt_errname(rv), vt_job_state_name(res.r.state));
        if (rv == 0 && res.r.state == VT_JOB_VERIFIED) {
            VT_CHECK(adv_is_reference(&res.r, mine[k]), "%s job %d: output is not vt_generate's",
                     part, k);
            VT_CHECK(memcmp(res.r.worker, good_pk, 32) == 0, "%s job %d: the honest worker's result",
                     part, k);
            VT_CHECK(res.r.verify.passed >= 3, "%s job %d: %u passes", part, k, res.r.verify.passed);
            char why[300];
            VT_CHECK(adv_check_receipt(cl, &res.r, spk, why, sizeof why) == 0,
                     "%s job %d: receipt: %s", part, k, why);
        }
        if (rv == 0 || rv == VT_ERR_TIMEOUT)
            vt_job_result_free(&res);
    }
}

int main(void)
{
#ifndef VT_TEST_FAULTS
    vt_test_skip("built without VT_TEST_FAULTS");
#endif
    static fx_job jobs[NJOBS];
    static adv_env e;
    const char *sargs[] = {"--lease-ms", "5000", "--nomodel-wait-ms", "120000", "--audit-rate", "0",
                           NULL};
    adv_start(&e, sargs, jobs, NJOBS);
    cl_cluster *c = &e.c;
    vt_client *cl = e.cl;
    const char *mpath = e.mpath;
    const uint8_t *spk = e.spk;
    const char *honest_v[] = {"--model", mpath, "--batch", "4", NULL};
    const char *fail_v[] = {"--model", mpath, "--fault", "always_fail", NULL};
    const char *pass_v[] = {"--model", mpath, "--fault", "always_pass", NULL};
    const char *honest_w[] = {"--model", mpath, "--slots", "2", NULL};
    const char *bad_w[] = {"--model", mpath, "--slots", "2", "--fault", "flip_token", NULL};
    uint8_t pk[8][32];
    const fx_job *mine[PER];
    char ids[PER][VT_JOB_ID_MAX + 1];

    /* ---- A: always_fail liar ---- */
    cl_node *w = cl_node_start(c, 0, honest_w);
    cl_node *v1 = cl_node_start(c, 1, honest_v);
    cl_node *v2 = cl_node_start(c, 1, honest_v);
    cl_node *liar = cl_node_start(c, 1, fail_v);
    adv_node_pk(w, pk[0]);
    adv_node_pk(v1, pk[1]);
    adv_node_pk(v2, pk[2]);
    adv_node_pk(liar, pk[3]);
    int n = submit_jobs(cl, jobs, 0, mine, ids);
    failed_arg fa = {cl, ids, n};
    VT_CHECK(vt_ts_wait_until(30000, some_failed, &fa), "A: the liar's fail never showed");
    VT_CHECK(!adv_quarantined(c, pk[0]), "A: one failing verdict must not convict the worker");
    cl_node *v3 = cl_node_start(c, 1, honest_v); /* the tie-break */
    adv_node_pk(v3, pk[4]);
    VT_CHECK(adv_wait_quarantined(c, pk[3], 30000), "A: the always_fail verifier not quarantined");
    check_delivered(cl, "A", mine, ids, n, spk, pk[0]);
    for (int i = 0; i < 5; i++)
        VT_CHECK(i == 3 || !adv_quarantined(c, pk[i]), "A: honest node %d quarantined", i);
    vt_proc_kill(liar->proc, SIGKILL);
    VT_CHECK(vt_proc_stop(w->proc, 20000) == 0, "A: worker exit");
    VT_CHECK(vt_proc_stop(v3->proc, 20000) == 0, "A: verifier exit");

    /* ---- B: always_pass liar, cheating worker ---- */
    cl_node *bad = cl_node_start(c, 0, bad_w);
    cl_node *pliar = cl_node_start(c, 1, pass_v);
    adv_node_pk(bad, pk[5]);
    adv_node_pk(pliar, pk[6]);
    n = submit_jobs(cl, jobs, 3, mine, ids);
    fa.n = n;
    VT_CHECK(vt_ts_wait_until(30000, some_failed, &fa), "B: no failing verdict showed");
    cl_node *v4 = cl_node_start(c, 1, honest_v);
    adv_node_pk(v4, pk[7]);
    VT_CHECK(adv_wait_quarantined(c, pk[5], 30000), "B: the cheating worker not quarantined");
    VT_CHECK(adv_wait_quarantined(c, pk[6], 30000), "B: the always_pass verifier not quarantined");
    cl_node *w2 = cl_node_start(c, 0, honest_w);
    uint8_t w2pk[32];
    adv_node_pk(w2, w2pk);
    check_delivered(cl, "B", mine, ids, n, spk, w2pk);
    VT_CHECK(!adv_quarantined(c, w2pk), "B: honest worker quarantined");
    for (int i = 1; i < 8; i++)
        VT_CHECK(i == 3 || i == 5 || i == 6 || !adv_quarantined(c, pk[i]),
                 "B: honest verifier %d quarantined", i);
    vt_proc_kill(bad->proc, SIGKILL);
    vt_proc_kill(pliar->proc, SIGKILL);
    adv_finish(&e, jobs, NJOBS);
    return vt_test_done();
}
