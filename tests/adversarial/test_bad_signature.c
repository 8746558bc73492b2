/* test_bad_signature.c - a worker that signs its results with another key
 * (issue 4 §6: "a result signed with another key").
 *
 * The bad worker is the only worker at first, so it leases the jobs. Its
 * results batch does not verify under its own key: the scheduler drops the
 * batch, quarantines the worker (in Redis, so it holds across restarts) and
 * puts its leases back. An honest worker started afterwards computes every
 * job; each is delivered verified, equal to vt_generate, with a receipt that
 * verifies and names the honest worker, never the bad one. */
#include <signal.h>
#include <string.h>

#include "adv_common.h"
#include "vt_test.h"

#define NJOBS 6

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
    const char *vargs[] = {"--model", e.mpath, NULL};
    const char *bad_w[] = {"--model", e.mpath, "--slots", "4", "--fault", "bad_signature", NULL};
    const char *good_w[] = {"--model", e.mpath, "--slots", "2", NULL};
    cl_node_start(c, 1, vargs);
    cl_node *bad = cl_node_start(c, 0, bad_w);
    uint8_t bad_pk[32];
    adv_node_pk(bad, bad_pk);

    char ids[NJOBS][VT_JOB_ID_MAX + 1];
    for (int i = 0; i < NJOBS; i++)
        adv_submit(e.cl, &jobs[i], "full:1", NULL, ids[i]);
    VT_CHECK(adv_wait_quarantined(c, bad_pk, 30000),
             "a worker whose results batch does not verify is quarantined");

    cl_node *good = cl_node_start(c, 0, good_w);
    uint8_t good_pk[32];
    adv_node_pk(good, good_pk);
    for (int i = 0; i < NJOBS; i++) {
        vt_job_result res;
        vt_errinfo ei = {0};
        int rv = vt_client_wait(e.cl, ids[i], 60000, &res, &ei);
        VT_CHECK(rv == 0 && res.r.state == VT_JOB_VERIFIED, "job %d: %s", i, vt_errinfo_msg(&ei));
        if (rv == 0) {
            VT_CHECK(adv_is_reference(&res.r, &jobs[i]), "job %d: output is vt_generate's", i);
            VT_CHECK(memcmp(res.r.worker, good_pk, 32) == 0,
                     "job %d: delivered from the honest worker, never the bad one", i);
            char why[256] = "";
            VT_CHECK(adv_check_receipt(e.cl, &res.r, e.spk, why, sizeof why) == 0,
                     "job %d: receipt: %s", i, why);
        }
        if (rv == 0 || rv == VT_ERR_TIMEOUT)
            vt_job_result_free(&res);
    }
    VT_CHECK(!adv_quarantined(c, good_pk), "the honest worker stays in good standing");
    vt_proc_kill(bad->proc, SIGKILL);
    adv_finish(&e, jobs, NJOBS);
    return vt_test_done();
}
