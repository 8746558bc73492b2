/* test_sched_cli.c - the `verity` job commands against a real scheduler
 * and Redis, with the harness's identity worker and verifier:
 *
 *   submit (one round trip: submit with a wait), --json and text output,
 *   the example agent of docs/examples/agent.c,
 *   --no-wait then status / result / cancel, another agent's key refused,
 *   a full queue refused with the scheduler's retry hint (with and without
 *   --no-wait), and a wait that runs out printing the job's latest state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched_harness.h"
#include "vt_test.h"

#define QMAX 3

static int verity(char **out, const char *const *argv)
{
    return vt_proc_run("verity", argv, NULL, 30000, out);
}

static bool has(const char *out, const char *s)
{
    return out && strstr(out, s) != NULL;
}

/* The job id `verity submit --no-wait` printed (its only line). */
static void first_line(const char *out, char *id, size_t sz)
{
    size_t n = strcspn(out, "\n");
    snprintf(id, sz, "%.*s", (int)(n < sz ? n : sz - 1), out);
}

static void test_submit_and_read(sh_env *e)
{
    char *out;
    int code = verity(&out, (const char *const[]){"submit", "--url", e->agent_url, "--api-key",
                                                  e->key_a, "--model", SH_MODEL_ALIAS, "--tokens",
                                                  "5,6,7", "-n", "3", "--json", NULL});
    VT_CHECK(code == 0, "submit --json exit %d: %s", code, out);
    VT_CHECK(has(out, "\"state\":\"verified\"") && has(out, "\"tokens\":[5,6,7]"),
             "identity output, verified: %s", out);
    VT_CHECK(has(out, "\"passed\":1"), "one verdict passed: %s", out);
    free(out);

    code = verity(&out, (const char *const[]){"submit", "--url", e->agent_url, "--api-key",
                                             e->key_a, "--model", SH_MODEL_ALIAS, "--tokens",
                                             "9,8", NULL});
    VT_CHECK(code == 0 && has(out, " verified: 1/1 verifiers passed; 2 tokens"),
             "text output (exit %d): %s", code, out);
    free(out);

    code = verity(&out, (const char *const[]){"submit", "--url", e->agent_url, "--api-key",
                                             e->key_a, "--model", SH_MODEL_ALIAS, "--tokens",
                                             "4,4", "--no-wait", NULL});
    char id[VT_JOB_ID_MAX + 1];
    first_line(out, id, sizeof id);
    VT_CHECK(code == 0 && id[0], "--no-wait prints the id (exit %d): %s", code, out);
    free(out);

    code = verity(&out, (const char *const[]){"result", "--url", e->agent_url, "--api-key",
                                             e->key_a, "--wait-ms", "10000", "--json", id, NULL});
    VT_CHECK(code == 0 && has(out, "\"state\":\"verified\"") && has(out, "\"tokens\":[4,4]"),
             "result of %s (exit %d): %s", id, code, out);
    free(out);
    code = verity(&out, (const char *const[]){"status", "--url", e->agent_url, "--api-key",
                                             e->key_a, id, NULL});
    VT_CHECK(code == 0 && has(out, id) && has(out, "verified"), "status (exit %d): %s", code, out);
    free(out);

    /* Jobs belong to the agent that submitted them. */
    code = verity(&out, (const char *const[]){"result", "--url", e->agent_url, "--api-key",
                                             e->key_b, id, NULL});
    VT_CHECK(code == 1 && !has(out, "[4,4]") && has(out, "no such job"),
             "agent B may not read A's job (exit %d): %s", code, out);
    free(out);
    /* docs/examples/agent.c, the example program the protocol doc gives */
    char env_key[128];
    snprintf(env_key, sizeof env_key, "VERITY_API_KEY=%s", e->key_a);
    code = vt_proc_run("verity-example-agent",
                       (const char *const[]){"-u", e->agent_url, "-m", SH_MODEL_ALIAS, "-n", "2",
                                             "-t", "11 12", NULL},
                       (const char *const[]){env_key, NULL}, 30000, &out);
    VT_CHECK(code == 0 && has(out, "state:  verified") && has(out, "ids:    11 12") &&
                 has(out, "verify: 1 passed, 0 failed"),
             "example agent (exit %d): %s", code, out);
    free(out);

    code = verity(&out, (const char *const[]){"submit", "--url", e->agent_url, "--api-key",
                                             e->key_revoked, "--model", SH_MODEL_ALIAS,
                                             "--tokens", "1", NULL});
    VT_CHECK(code == 1 && has(out, "unknown or revoked API key"),
             "a revoked key is refused (exit %d): %s", code, out);
    free(out);
}

/* No worker: QMAX jobs fill the queue, the next submit is refused with a
 * retry hint; a cancel makes room, and a short wait ends with the job
 * still queued. */
static void test_full_queue_and_timeout(sh_env *e)
{
    char ids[QMAX][VT_JOB_ID_MAX + 1];
    char *out;
    for (int i = 0; i < QMAX; i++) {
        int code = verity(&out, (const char *const[]){"submit", "--url", e->agent_url,
                                                      "--api-key", e->key_a, "--model",
                                                      SH_MODEL_ALIAS, "--tokens", "2,3",
                                                      "--no-wait", NULL});
        first_line(out, ids[i], sizeof ids[i]);
        VT_CHECK(code == 0 && ids[i][0], "queued job %d (exit %d): %s", i, code, out);
        free(out);
    }
    for (int nowait = 0; nowait < 2; nowait++) {
        int code = verity(&out, (const char *const[]){"submit", "--url", e->agent_url,
                                                      "--api-key", e->key_a, "--model",
                                                      SH_MODEL_ALIAS, "--tokens", "2,3",
                                                      nowait ? "--no-wait" : "--json", NULL});
        VT_CHECK(code == 1 && has(out, "submit: ") && has(out, "retry after "),
                 "full queue%s: refused with a hint (exit %d): %s", nowait ? " (--no-wait)" : "",
                 code, out);
        free(out);
    }
    int code = verity(&out, (const char *const[]){"cancel", "--url", e->agent_url, "--api-key",
                                                  e->key_a, ids[0], NULL});
    VT_CHECK(code == 0 && has(out, "cancelled"), "cancel (exit %d): %s", code, out);
    free(out);
    code = verity(&out, (const char *const[]){"submit", "--url", e->agent_url, "--api-key",
                                              e->key_a, "--model", SH_MODEL_ALIAS, "--tokens",
                                              "2,3", "--timeout-ms", "300", NULL});
    VT_CHECK(code == 1 && has(out, " queued") && has(out, "not finished after 300 ms"),
             "a wait that runs out names the job and its state (exit %d): %s", code, out);
    free(out);
}

int main(void)
{
    static const char *const args[] = {"--queue-max", "3", NULL};
    sh_env e;
    sh_setup(&e, args);
    sh_runner *r = sh_runner_start(&e, &e.worker_kp, &e.verifier_kp);
    test_submit_and_read(&e);
    sh_runner_stop(r);
    test_full_queue_and_timeout(&e);
    sh_teardown(&e);
    return vt_test_done();
}
