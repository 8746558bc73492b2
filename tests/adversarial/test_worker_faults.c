/* test_worker_faults.c - every worker fault mode against the real
 * scheduler, verifiers and arbiter (issue 4 §6), verify=full:1.
 *
 * Per mode: a worker running `--fault MODE` is the only worker while NPER
 * jobs are submitted with delivery=optimistic, and no verifier is up yet,
 * so each job's faulty result can be read back early: the test checks it
 * really differs from vt_generate's (tokens or trace digest). Then two
 * honest verifiers of other operators start: the first faulty result they
 * replay fails twice (a dispute needs a second verifier), the worker is
 * quarantined, its other results are dropped unverified, and once an
 * honest worker starts every job is delivered verified with vt_generate's
 * output, a receipt that checks against the scheduler's key and an
 * inclusion proof under a signed head. No honest node is ever quarantined.
 *
 * NPER is small (CI time: about 8 processes started per mode); set
 * VT_ADV_JOBS for more. A faulty worker is convicted on the first result a
 * verifier replays and quarantined at once, so larger NPER adds faulty
 * results checked for being different, not convictions: this test proves
 * the cluster's reaction (conviction, quarantine, re-execution, delivery).
 * The per-result detection rate of the replay (every faulty result of every
 * mode, at least 100 per mode, each replayed) is test_detection_rate.c's,
 * which runs the same fault code (worker/src/lib/faults.c) on the worker's
 * runner and replays each result with the verifier's checker.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adv_common.h"
#include "vt_clock.h"
#include "vt_synth.h"
#include "vt_test.h"

#define NJOBS 12
#define MAXPER 128

typedef struct mode {
    const char *name;
    int sampled_only; /* the fault only shows with a temperature */
    int honest_first; /* the first result is honest (nothing to replay yet) */
} mode;

static const mode modes[] = {
    {"flip_token", 0, 0},  {"random_tokens", 0, 0}, {"wrong_digest", 0, 0},
    {"truncate", 0, 0},    {"skip_sampler", 1, 0},  {"replay_other", 0, 1},
    {"wrong_model", 0, 0}, {"q8_for_f32", 0, 0},
};

static bool nonzero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return true;
    return false;
}

/* The job's optimistic early result, once the worker's result is in. */
static int early_result(vt_client *cl, const char *id, vt_job_result *out, uint64_t until)
{
    vt_errinfo ei = {0};
    while (vt_mono_ms() < until) {
        int rv = vt_client_wait(cl, id, 1, out, &ei);
        if (rv == 0)
            return 0; /* done already */
        if (rv == VT_ERR_TIMEOUT && nonzero(out->r.worker, 32) &&
            (out->r.state == VT_JOB_COMPUTED || out->r.state == VT_JOB_VERIFYING))
            return 0;
        vt_job_result_free(out);
        vt_sleep_ms(20);
    }
    memset(out, 0, sizeof *out);
    return VT_ERR_TIMEOUT;
}

int main(void)
{
#ifndef VT_TEST_FAULTS
    vt_test_skip("built without VT_TEST_FAULTS");
#endif
    int nper = 4;
    const char *env = getenv("VT_ADV_JOBS");
    if (env && atoi(env) > 0)
        nper = atoi(env) < MAXPER ? atoi(env) : MAXPER;
    uint64_t deadline = vt_mono_ms() + 270000;
    static adv_env e;
    static fx_job jobs[NJOBS];
    const char *sargs[] = {"--lease-ms", "5000", "--nomodel-wait-ms", "120000", NULL};
    adv_start(&e, sargs, jobs, NJOBS);
    cl_cluster *c = &e.c;
    vt_client *cl = e.cl;
    const char *mpath = e.mpath;
    const uint8_t *spk = e.spk;
    vt_errinfo ei = {0};
    char other[512], q8[512]; /* the wrong_model and q8_for_f32 workers' files */
    vt_model_free(fx_tiny_model("other.gguf", VT_DTYPE_F32, 6, other, sizeof other));
    vt_model_free(fx_tiny_model("tiny-q8.gguf", VT_DTYPE_Q8_0, 5, q8, sizeof q8));
    int total_faulty = 0, total_convicted = 0;

    for (size_t mi = 0; mi < sizeof modes / sizeof *modes && vt_mono_ms() < deadline; mi++) {
        const mode *md = &modes[mi];
        const char *only = getenv("VT_ADV_MODE"); /* run one mode (debugging) */
        if (only && strcmp(only, md->name) != 0)
            continue;
        const char *fm = strcmp(md->name, "wrong_model") == 0  ? other
                         : strcmp(md->name, "q8_for_f32") == 0 ? q8
                                                               : NULL;
        const char *wargs[] = {"--model", mpath, "--slots", "2", "--fault", md->name,
                               fm ? "--fault-model" : NULL, fm, NULL};
        cl_node *bad = cl_node_start(c, 0, wargs);
        uint8_t bad_pk[32];
        adv_node_pk(bad, bad_pk);

        const fx_job *mine[MAXPER];
        char ids[MAXPER][VT_JOB_ID_MAX + 1];
        int n = 0;
        for (int i = 0; n < nper && i < NJOBS * MAXPER; i++) {
            const fx_job *j = &jobs[(i + (int)mi) % NJOBS];
            if (j->ref.n_tokens < 4 || (md->sampled_only && j->gp.sampling.temperature == 0))
                continue;
            mine[n] = j;
            adv_submit(cl, j, "full:1", "optimistic", ids[n]);
            n++;
        }
        VT_REQUIRE(n >= 2, "%s: not enough suitable jobs", md->name);

        /* The faulty results, delivered early: they must differ. */
        int differ = 0;
        for (int k = 0; k < n; k++) {
            vt_job_result res;
            int rv = early_result(cl, ids[k], &res, vt_mono_ms() + 30000);
            VT_CHECK(rv == 0, "%s job %d: no early (optimistic) result", md->name, k);
            if (rv)
                continue;
            VT_CHECK(memcmp(res.r.worker, bad_pk, 32) == 0, "%s job %d: early result is the faulty worker's",
                     md->name, k);
            VT_CHECK(res.r.state != VT_JOB_VERIFIED, "%s job %d: verified with no verifier up",
                     md->name, k);
            VT_CHECK(res.r.verify.pending > 0, "%s job %d: optimistic result says verification is pending",
                     md->name, k);
            if (!adv_is_reference(&res.r, mine[k]))
                differ++;
            vt_job_result_free(&res);
        }
        VT_CHECK(differ >= n - md->honest_first, "%s: only %d of %d faulty results differ from "
                 "vt_generate's", md->name, differ, n);
        total_faulty += differ;

        /* Two honest verifiers (each its own operator) catch it. */
        const char *vargs[] = {"--model", mpath, "--batch", "4", NULL};
        cl_node *v1 = cl_node_start(c, 1, vargs);
        cl_node *v2 = cl_node_start(c, 1, vargs);
        uint8_t v1_pk[32], v2_pk[32];
        adv_node_pk(v1, v1_pk);
        adv_node_pk(v2, v2_pk);
        VT_CHECK(adv_wait_quarantined(c, bad_pk, 30000), "%s: faulty worker not quarantined",
                 md->name);

        const char *hargs[] = {"--model", mpath, "--slots", "2", NULL};
        cl_node *good = cl_node_start(c, 0, hargs);
        uint8_t good_pk[32];
        adv_node_pk(good, good_pk);
        int convicted = 0;
        for (int k = 0; k < n; k++) {
            vt_job_result res;
            uint64_t now = vt_mono_ms();
            uint64_t wait = deadline > now ? deadline - now : 0;
            if (wait > 60000)
                wait = 60000;
            int rv = wait ? vt_client_wait(cl, ids[k], (uint32_t)wait, &res, &ei) : VT_ERR_TIMEOUT;
            VT_CHECK(rv == 0 && res.r.state == VT_JOB_VERIFIED, "%s job %d: %s state %s", md->name,
                     k, vt_errname(rv), rv == 0 ? vt_job_state_name(res.r.state) : "?");
            if (rv == 0 && res.r.state == VT_JOB_VERIFIED) {
                VT_CHECK(adv_is_reference(&res.r, mine[k]),
                         "%s job %d: delivered output is not vt_generate's", md->name, k);
                VT_CHECK(memcmp(res.r.worker, good_pk, 32) == 0 ||
                             (md->honest_first && memcmp(res.r.worker, bad_pk, 32) == 0),
                         "%s job %d: delivered by the honest worker", md->name, k);
                char why[300];
                VT_CHECK(adv_check_receipt(cl, &res.r, spk, why, sizeof why) == 0,
                         "%s job %d: receipt: %s", md->name, k, why);
                uint32_t fails = 0;
                for (uint32_t v = 0; v < res.r.n_verdicts; v++)
                    fails += !res.r.verdicts[v].pass;
                if (fails >= 2)
                    convicted++;
            }
            if (rv == 0 || rv == VT_ERR_TIMEOUT)
                vt_job_result_free(&res);
        }
        VT_CHECK(convicted >= 1, "%s: no job shows the two failing verdicts that convicted", md->name);
        total_convicted += convicted;
        VT_CHECK(!adv_quarantined(c, v1_pk) && !adv_quarantined(c, v2_pk),
                 "%s: an honest verifier was quarantined", md->name);
        VT_CHECK(!adv_quarantined(c, good_pk), "%s: the honest worker was quarantined", md->name);
        printf("%s: %d/%d early results differ, %d convicted, worker quarantined\n", md->name,
                     differ, n, convicted);
        vt_proc_kill(bad->proc, SIGKILL); /* quarantined: it only retries hello */
        VT_CHECK(vt_proc_stop(good->proc, 20000) == 0, "honest worker exit");
        VT_CHECK(vt_proc_stop(v1->proc, 20000) == 0, "verifier exit");
        VT_CHECK(vt_proc_stop(v2->proc, 20000) == 0, "verifier exit");
    }
    printf("all modes: %d faulty results seen to differ, %d convictions\n", total_faulty,
                 total_convicted);
    adv_finish(&e, jobs, NJOBS);
    return vt_test_done();
}
