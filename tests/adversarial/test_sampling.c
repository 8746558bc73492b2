/* test_sampling.c - verify=sampled:P against the real scheduler: the coin is
 * thrown after the worker's result is in (so a worker cannot know which
 * jobs are checked), from a stream seeded with --verify-seed in this test
 * build. Some jobs are replayed, some not; the ones not replayed are still
 * delivered with a receipt that verifies, says "sampled:0.5" and carries no
 * verdict, so the agent can see it was not checked. */
#include <stdio.h>
#include <string.h>

#include "adv_common.h"
#include "vt_receipt.h"
#include "vt_synth.h"
#include "vt_test.h"

#define NJOBS 8
#define N 24

int main(void)
{
#ifndef VT_TEST_FAULTS
    vt_test_skip("built without VT_TEST_FAULTS");
#endif
    static fx_job jobs[NJOBS];
    static adv_env e;
    const char *sargs[] = {"--verify-seed",
                           "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
                           "--audit-rate", "0", NULL};
    adv_start(&e, sargs, jobs, NJOBS);
    cl_cluster *c = &e.c;
    vt_client *cl = e.cl;
    const char *mpath = e.mpath;
    const uint8_t *spk = e.spk;
    vt_errinfo ei = {0};
    const char *wargs[] = {"--model", mpath, "--slots", "2", NULL};
    const char *vargs[] = {"--model", mpath, NULL};
    cl_node_start(c, 0, wargs);
    cl_node_start(c, 1, vargs);

    char ids[N][VT_JOB_ID_MAX + 1];
    for (int i = 0; i < N; i++)
        adv_submit(cl, &jobs[i % NJOBS], i == N - 1 ? "full:1" : "sampled:0.5", NULL, ids[i]);
    int checked = 0, skipped = 0;
    for (int i = 0; i < N; i++) {
        vt_job_result res;
        int rv = vt_client_wait(cl, ids[i], 60000, &res, &ei);
        VT_CHECK(rv == 0 && res.r.state == VT_JOB_VERIFIED, "job %d: %s", i, vt_errname(rv));
        if (rv == 0 && res.r.state == VT_JOB_VERIFIED) {
            VT_CHECK(adv_is_reference(&res.r, &jobs[i % NJOBS]), "job %d output", i);
            char why[300];
            VT_CHECK(adv_check_receipt(cl, &res.r, spk, why, sizeof why) == 0, "job %d receipt: %s",
                     i, why);
            vt_receipt_file rf;
            if (vt_receipt_decode(res.r.receipt, res.r.receipt_len, &rf, &ei) == 0) {
                const char *want = i == N - 1 ? "full:1" : "sampled:0.5";
                VT_CHECK(strcmp(rf.r.policy, want) == 0, "job %d: receipt policy %s", i, rf.r.policy);
                VT_CHECK(rf.r.n_verdicts == res.r.n_verdicts, "job %d: receipt verdicts", i);
                vt_receipt_file_free(&rf);
            }
            if (i == N - 1) {
                VT_CHECK(res.r.n_verdicts == 1 && res.r.verify.required == 1, "full:1 is replayed");
            } else if (res.r.n_verdicts == 0) {
                skipped++;
                VT_CHECK_EQ_INT(res.r.verify.required, 0);
            } else {
                checked++;
                VT_CHECK(res.r.verdicts[0].pass, "job %d: honest result passes", i);
            }
        }
        if (rv == 0 || rv == VT_ERR_TIMEOUT)
            vt_job_result_free(&res);
    }
    printf("sampled:0.5 - %d replayed, %d not\n", checked, skipped);
    /* 23 fair coins all alike: 2^-22. */
    VT_CHECK(checked > 0 && skipped > 0, "sampling replays some jobs, not all (%d / %d)", checked,
             skipped);
    adv_finish(&e, jobs, NJOBS);
    return vt_test_done();
}
