/* test_audits.c - an always_pass verifier is found by audits (issue 4 §6).
 *
 * With an honest worker and full:1, a verifier that passes everything
 * without replaying is never contradicted by a dispute. Audits catch it:
 * with --audit-rate R, each real task it leases carries, with probability
 * R, a copy of a task verified by others, corrupted half of the time. It
 * passes the corrupted copy and is quarantined. The test counts the real
 * tasks it answered (its verdicts on delivered jobs) and requires the
 * quarantine within vt_arb_audit_tasks_to_catch(R / 2, 0.999) of them (a
 * 1-in-1000 chance of a false failure). The two honest verifiers get the
 * same audits, replay them, and are never quarantined; their reputation
 * counts the audits they answered right.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adv_common.h"
#include "vt_arbiter.h"
#include "vt_clock.h"
#include "vt_synth.h"
#include "vt_test.h"

#define NJOBS 12
#define BATCH 6
#define MAX_JOBS 300
#define RATE 0.5

/* Submits one batch of BATCH jobs (full:1), checks each verified result
 * and its receipt, and counts the liar's and the honest verifiers' verdicts
 * on them. */
static void run_batch(vt_client *cl, const fx_job *jobs, int *submitted, const uint8_t *spk,
                      const uint8_t *lpk, int *liar_tasks, int *honest_tasks)
{
    vt_errinfo ei = {0};
    char ids[BATCH][VT_JOB_ID_MAX + 1];
    const fx_job *mine[BATCH];
    for (int k = 0; k < BATCH; k++) {
        mine[k] = &jobs[(*submitted + k) % NJOBS];
        adv_submit(cl, mine[k], "full:1", NULL, ids[k]);
    }
    *submitted += BATCH;
    for (int k = 0; k < BATCH; k++) {
        vt_job_result res;
        int rv = vt_client_wait(cl, ids[k], 60000, &res, &ei);
        VT_CHECK(rv == 0 && res.r.state == VT_JOB_VERIFIED, "job %d: %s state %s",
                 *submitted - BATCH + k, vt_errname(rv), vt_job_state_name(res.r.state));
        if (rv == 0 && res.r.state == VT_JOB_VERIFIED) {
            VT_CHECK(adv_is_reference(&res.r, mine[k]), "job %d: output is not vt_generate's",
                     *submitted - BATCH + k);
            char why[300];
            VT_CHECK(adv_check_receipt(cl, &res.r, spk, why, sizeof why) == 0, "receipt: %s", why);
            for (uint32_t v = 0; lpk && v < res.r.n_verdicts; v++) {
                bool l = memcmp(res.r.verdicts[v].verifier, lpk, 32) == 0;
                *liar_tasks += l;
                *honest_tasks += !l;
            }
        }
        if (rv == 0 || rv == VT_ERR_TIMEOUT)
            vt_job_result_free(&res);
    }
}

static void get_reps(const cl_cluster *c, const uint8_t pks[3][32], vt_arb_rep reps[3])
{
    vt_errinfo ei = {0};
    vt_redis *r = NULL;
    VT_REQUIRE(vt_redis_connect(&r, c->rs.url, 2000, 2000, &ei) == 0, "redis");
    VT_REQUIRE_OK(vt_arb_store_get_reps(r, pks, 3, reps, &ei));
    vt_redis_close(r);
}

int main(void)
{
#ifndef VT_TEST_FAULTS
    vt_test_skip("built without VT_TEST_FAULTS");
#endif
    static fx_job jobs[NJOBS];
    static adv_env e;
    char rate[16];
    snprintf(rate, sizeof rate, "%.2f", RATE);
    const char *sargs[] = {"--lease-ms", "5000", "--audit-rate", rate, NULL};
    adv_start(&e, sargs, jobs, NJOBS);
    cl_cluster *c = &e.c;
    vt_client *cl = e.cl;
    const char *mpath = e.mpath;
    const uint8_t *spk = e.spk;
    const char *honest_v[] = {"--model", mpath, "--batch", "4", NULL};
    const char *pass_v[] = {"--model", mpath, "--fault", "always_pass", NULL};
    const char *honest_w[] = {"--model", mpath, "--slots", "2", NULL};
    cl_node *w = cl_node_start(c, 0, honest_w);
    cl_node *h1 = cl_node_start(c, 1, honest_v);
    cl_node *h2 = cl_node_start(c, 1, honest_v);
    uint8_t wpk[32], h1pk[32], h2pk[32], lpk[32];
    adv_node_pk(w, wpk);
    adv_node_pk(h1, h1pk);
    adv_node_pk(h2, h2pk);

    uint64_t bound = vt_arb_audit_tasks_to_catch(RATE / 2, 0.999);
    VT_REQUIRE(bound > 0, "bound");
    int submitted = 0, liar_tasks = 0, honest_tasks = 0;
    /* The first batch, verified by the honest pair, is what audits copy. */
    run_batch(cl, jobs, &submitted, spk, NULL, &liar_tasks, &honest_tasks);
    cl_node *liar = cl_node_start(c, 1, pass_v);
    adv_node_pk(liar, lpk);
    bool caught = false;
    while (!caught && submitted < MAX_JOBS) {
        run_batch(cl, jobs, &submitted, spk, lpk, &liar_tasks, &honest_tasks);
        caught = adv_quarantined(c, lpk);
    }
    if (!caught)
        caught = adv_wait_quarantined(c, lpk, 20000);
    printf("always_pass verifier: %d real tasks before quarantine (bound %llu at rate %.2f), "
           "%d jobs, %d tasks to honest verifiers meanwhile\n",
           liar_tasks, (unsigned long long)bound, RATE, submitted, honest_tasks);
    VT_CHECK(caught, "always_pass verifier not quarantined after %d jobs", submitted);
    VT_CHECK((uint64_t)liar_tasks <= bound, "caught after %d tasks, bound %llu", liar_tasks,
             (unsigned long long)bound);

    /* Reputation: the liar failed an audit, the honest verifiers only ever
     * answered audits right. The liar may be caught before the honest pair
     * answered any audit (it verifies fastest, and with 3 honest tasks in the
     * run no audit reaches them one time in 8), so with the liar out the
     * honest pair verifies more batches until one of them has answered an
     * audit: each of their tasks carries one with probability RATE, so the
     * MAX_JOBS bound fails by chance about 2^-250 of the time. */
    uint8_t pks[3][32];
    memcpy(pks[0], h1pk, 32);
    memcpy(pks[1], h2pk, 32);
    memcpy(pks[2], lpk, 32);
    vt_arb_rep reps[3];
    int honest_after = 0, liar_after = 0;
    uint64_t t_end = vt_mono_ms() + 60000;
    for (;;) {
        get_reps(c, (const uint8_t(*)[32])pks, reps);
        if (reps[0].c[VT_ARB_C_AUDITS_PASSED] + reps[1].c[VT_ARB_C_AUDITS_PASSED] >= 1 ||
            submitted >= 2 * MAX_JOBS || vt_mono_ms() > t_end)
            break;
        run_batch(cl, jobs, &submitted, spk, lpk, &liar_after, &honest_after);
    }
    VT_CHECK(liar_after == 0, "the quarantined verifier still got %d tasks", liar_after);
    VT_CHECK(!adv_quarantined(c, h1pk) && !adv_quarantined(c, h2pk),
             "an honest verifier was quarantined by an audit");
    VT_CHECK(!adv_quarantined(c, wpk), "the honest worker was quarantined");
    VT_CHECK(reps[0].c[VT_ARB_C_AUDITS_FAILED] == 0 && reps[1].c[VT_ARB_C_AUDITS_FAILED] == 0,
             "honest verifiers answered every audit right");
    VT_CHECK(reps[0].c[VT_ARB_C_AUDITS_PASSED] + reps[1].c[VT_ARB_C_AUDITS_PASSED] >= 1,
             "honest verifiers were audited too (%d more jobs after the quarantine)",
             honest_after);
    VT_CHECK(reps[2].c[VT_ARB_C_AUDITS_FAILED] >= 1, "the liar's failed audit is counted");
    printf("audits answered right: h1 %lld, h2 %lld (%d tasks after the quarantine); liar: "
           "right %lld, wrong %lld\n",
           (long long)reps[0].c[VT_ARB_C_AUDITS_PASSED], (long long)reps[1].c[VT_ARB_C_AUDITS_PASSED],
           honest_after, (long long)reps[2].c[VT_ARB_C_AUDITS_PASSED],
           (long long)reps[2].c[VT_ARB_C_AUDITS_FAILED]);
    vt_proc_kill(liar->proc, SIGKILL);
    adv_finish(&e, jobs, NJOBS);
    return vt_test_done();
}
