/* agent.c - a complete Verity agent: submit one prompt, wait for the
 * verified result, print it.
 *
 *   verity-example-agent [-u URL] [-m MODEL] [-n MAX_TOKENS] [-v POLICY] [-t] PROMPT
 *
 * With -t, PROMPT is a list of token ids ("1 15043 29892" or "1,15043")
 * instead of text (for schedulers that do not tokenize, and the built-in
 * "identity" benchmark model).
 *
 * The API key comes from the VERITY_API_KEY environment variable (never a
 * flag: flags show up in `ps`). Build: part of the normal CMake build
 * (target verity-example-agent); link your own program with vt_client.
 * Exit status: 0 verified, 1 job failed or verification failed, 2 usage,
 * 3 transport or scheduler error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vt_client.h"

/* "1 2,3" -> {1, 2, 3}; 0 on success. */
static int parse_tokens(const char *s, int32_t *out, uint32_t cap, uint32_t *n)
{
    *n = 0;
    while (*s) {
        if (*s == ' ' || *s == ',') {
            s++;
            continue;
        }
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > INT32_MAX || *n == cap)
            return -1;
        out[(*n)++] = (int32_t)v;
        s = end;
    }
    return *n ? 0 : -1;
}

static void usage(void)
{
    fprintf(stderr, "usage: verity-example-agent [-u URL] [-m MODEL] [-n MAX_TOKENS] "
                    "[-v full:K|sampled:P|none] [-t] PROMPT\n"
                    "  -t: PROMPT is token ids (\"1 15043 29892\")\n"
                    "  VERITY_API_KEY must hold the agent's API key\n");
}

int main(int argc, char **argv)
{
    const char *url = "tcp://127.0.0.1:7400";
    const char *model = "tiny";
    const char *verify = NULL;
    long max_tokens = 32;
    int tokens_mode = 0;
    int opt;
    while ((opt = getopt(argc, argv, "u:m:n:v:th")) != -1) {
        switch (opt) {
        case 'u': url = optarg; break;
        case 'm': model = optarg; break;
        case 'n': max_tokens = strtol(optarg, NULL, 10); break;
        case 'v': verify = optarg; break;
        case 't': tokens_mode = 1; break;
        default: usage(); return 2;
        }
    }
    const char *key = getenv("VERITY_API_KEY");
    if (optind != argc - 1 || !key || !*key || max_tokens < 1 ||
        max_tokens > (long)VT_PROTO_MAX_OUTPUT_TOKENS) {
        usage();
        return 2;
    }
    const char *prompt = argv[optind];
    static int32_t tokens[4096];
    uint32_t n_tokens = 0;
    if (tokens_mode && parse_tokens(prompt, tokens, 4096, &n_tokens) != 0) {
        fprintf(stderr, "-t: PROMPT must be 1..4096 non-negative token ids\n");
        return 2;
    }

    vt_errinfo ei = {0};
    vt_client *c;
    if (vt_client_open(url, key, NULL, &c, &ei) != 0) {
        fprintf(stderr, "open %s: %s\n", url, vt_errinfo_msg(&ei));
        return 3;
    }

    vt_job_spec spec;
    vt_job_spec_default(&spec); /* greedy, fresh idempotency token */
    spec.model = model;
    if (tokens_mode) {
        spec.prompt_tokens = tokens;
        spec.n_prompt_tokens = n_tokens;
    } else {
        spec.prompt = prompt;
        spec.prompt_len = strlen(prompt);
    }
    spec.max_tokens = (uint32_t)max_tokens;
    spec.verify = verify;

    /* Submit and wait in one call (one round trip when the job is done
     * within the client's poll interval). When the scheduler is overloaded,
     * or the submit got no answer, wait as it suggests and resend the SAME
     * spec: the same request token is never a second job, and a resend of
     * a job that was accepted gets that job. */
    char job_id[VT_JOB_ID_MAX + 1];
    vt_job_result res;
    int rv;
    for (int attempt = 0;; attempt++) {
        rv = vt_client_run(c, &spec, 120000, job_id, &res, &ei);
        if (job_id[0] || attempt == 5 ||
            (rv != VT_ERR_OVERLOADED && rv != VT_ERR_RATELIMIT && rv != VT_ERR_UNAVAILABLE &&
             rv != VT_ERR_TIMEOUT))
            break;
        uint32_t retry_ms = res.retry_ms ? res.retry_ms : 500;
        vt_job_result_free(&res);
        fprintf(stderr, "submit: %s; retrying in %u ms\n", vt_errinfo_msg(&ei),
                (unsigned)retry_ms);
        usleep(retry_ms * 1000u);
    }
    if (rv != 0) {
        fprintf(stderr, "%s%s: %s (%s)\n", job_id[0] ? "job " : "submit", job_id,
                vt_errinfo_msg(&ei), vt_errname(rv));
        vt_job_result_free(&res);
        vt_client_close(c);
        return 3;
    }
    printf("job %s\n", job_id);

    const vt_msg_result_ok *r = &res.r;
    char worker[VT_NODE_ID_SHORT + 1];
    vt_node_id_short(r->worker, worker);
    printf("state:  %s\n", vt_job_state_name(r->state));
    if (r->error)
        printf("error:  %s: %s\n", vt_errname(r->error), r->error_msg ? r->error_msg : "");
    printf("output: %.*s\n", (int)r->text_len, r->text ? r->text : "");
    printf("ids:   ");
    for (uint32_t i = 0; i < r->n_tokens && i < 32; i++)
        printf(" %d", r->tokens[i]);
    printf("%s\n", r->n_tokens > 32 ? " ..." : "");
    printf("tokens: %u (stop: %s), worker %s\n", (unsigned)r->n_tokens,
           vt_stop_name(r->stop_reason), worker);
    printf("verify: %u passed, %u failed, %u pending of %u required\n",
           (unsigned)r->verify.passed, (unsigned)r->verify.failed,
           (unsigned)r->verify.pending, (unsigned)r->verify.required);
    for (uint32_t i = 0; i < r->n_verdicts; i++) {
        char v[VT_NODE_ID_SHORT + 1];
        vt_node_id_short(r->verdicts[i].verifier, v);
        printf("  verifier %s: %s (%s)\n", v, r->verdicts[i].pass ? "pass" : "FAIL",
               vt_fault_name(r->verdicts[i].fault));
    }
    int status = r->state == VT_JOB_VERIFIED && r->verify.failed == 0 ? 0 : 1;
    vt_job_result_free(&res);
    vt_client_close(c);
    return status;
}
