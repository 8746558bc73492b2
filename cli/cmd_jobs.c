/* cmd_jobs.c - `verity submit|status|result|cancel`: an agent's view, through
 * the client library (vt_client.h), exactly as a program would use it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vt_client.h"
#include "vt_strbuf.h"
#include "vt_types.h"

typedef struct agent_opts {
    const char *url;
    const char *api_key;
    bool json;
} agent_opts;

#define AGENT_OPTS(a)                                                                      \
    {.flag = "url", .env = "VERITY_URL", .type = VT_OPT_URL,                              \
     .def = "tcp://127.0.0.1:7400", .help = "scheduler's agent socket", .dest = &(a)->url}, \
    {.flag = "api-key", .env = "VERITY_API_KEY", .type = VT_OPT_STRING,                   \
     .flags = VT_OPT_REQUIRED, .help = "this agent's API key (verity agent add)",        \
     .dest = &(a)->api_key},                                                               \
    {.flag = "json", .type = VT_OPT_BOOL, .def = "false", .help = "print JSON",          \
     .dest = &(a)->json}

static int open_client(const char *prog, const agent_opts *a, vt_client **c)
{
    vt_errinfo ei = {0};
    int rv = vt_client_open(a->url, a->api_key, NULL, c, &ei);
    return rv ? vt_cli_fail(prog, a->url, rv, &ei) : 0;
}

static void print_verify_text(const vt_verify_summary *v)
{
    if (v->required == 0)
        printf("not verified (policy none)");
    else
        printf("%u/%u verifiers passed%s", v->passed, v->required,
               v->failed ? ", some failed" : (v->pending ? ", pending" : ""));
}

static void print_result(const vt_msg_result_ok *r, bool json)
{
    char model[65], digest[65], worker[65];
    vt_hex_encode(r->model_sha256, 32, model);
    vt_hex_encode(r->trace_digest, 32, digest);
    vt_hex_encode(r->worker, 32, worker);
    if (!json) {
        if (r->text_len)
            printf("%.*s\n", (int)r->text_len, r->text);
        printf("-- job %s %s: ", r->job_id, vt_job_state_name(r->state));
        if (r->error)
            printf("%s (%s)", r->error_msg ? r->error_msg : vt_strerror(r->error),
                   vt_errname(r->error));
        else
            print_verify_text(&r->verify);
        if (r->n_tokens)
            printf("; %u tokens, stop %s, model %.12s, worker %.12s, digest %.16s",
                   r->n_tokens, vt_stop_name(r->stop_reason), model, worker, digest);
        if (r->n_embedding)
            printf("; embedding of %u floats (--json prints them), model %.12s, digest %.16s",
                   r->n_embedding, model, digest);
        printf("\n");
        return;
    }
    vt_strbuf sb = VT_STRBUF_INIT;
    vt_strbuf_printf(&sb, "{\"job_id\":\"%s\",\"state\":\"%s\"", r->job_id,
                     vt_job_state_name(r->state));
    if (r->error) {
        vt_strbuf_printf(&sb, ",\"error\":\"%s\",\"error_msg\":", vt_errname(r->error));
        const char *m = r->error_msg ? r->error_msg : vt_strerror(r->error);
        vt_strbuf_json_str(&sb, m, strlen(m));
    }
    vt_strbuf_puts(&sb, ",\"text\":");
    vt_strbuf_json_str(&sb, r->text ? r->text : "", r->text ? r->text_len : 0);
    if (r->n_embedding) {
        vt_strbuf_puts(&sb, ",\"embedding\":[");
        for (uint32_t i = 0; i < r->n_embedding; i++)
            vt_strbuf_printf(&sb, "%s%.9g", i ? "," : "", (double)r->embedding[i]);
        vt_strbuf_puts(&sb, "]");
    }
    vt_strbuf_puts(&sb, ",\"tokens\":[");
    for (uint32_t i = 0; i < r->n_tokens; i++)
        vt_strbuf_printf(&sb, "%s%d", i ? "," : "", r->tokens[i]);
    vt_strbuf_printf(&sb,
                     "],\"stop\":\"%s\",\"model\":\"%s\",\"trace_digest\":\"%s\",\"worker\":\"%s\","
                     "\"verify\":{\"required\":%u,\"passed\":%u,\"failed\":%u,\"pending\":%u},"
                     "\"verdicts\":[",
                     vt_stop_name(r->stop_reason), model, digest, worker, r->verify.required,
                     r->verify.passed, r->verify.failed, r->verify.pending);
    for (uint32_t i = 0; i < r->n_verdicts; i++) {
        char v[65];
        vt_hex_encode(r->verdicts[i].verifier, 32, v);
        vt_strbuf_printf(&sb, "%s{\"verifier\":\"%s\",\"pass\":%s,\"fault\":\"%s\"", i ? "," : "",
                         v, r->verdicts[i].pass ? "true" : "false",
                         vt_fault_name(r->verdicts[i].fault));
        if (r->verdicts[i].first_divergence != VT_POS_NONE)
            vt_strbuf_printf(&sb, ",\"first_divergence\":%u", r->verdicts[i].first_divergence);
        vt_strbuf_puts(&sb, "}");
    }
    vt_strbuf_printf(&sb, "],\"submitted_ms\":%llu,\"finished_ms\":%llu}",
                     (unsigned long long)r->submitted_ms, (unsigned long long)r->finished_ms);
    puts(vt_strbuf_cstr(&sb));
    vt_strbuf_free(&sb);
}

static int parse_float(const char *prog, const char *flag, const char *s, double lo, double hi,
                       double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return vt_cli_usage(prog, "--%s: '%s' is not a number in [%g, %g]", flag, s, lo, hi);
    *out = v;
    return 0;
}

static int parse_tokens(const char *prog, const char *s, int32_t **out, uint32_t *n)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    int32_t *t = calloc(cap, sizeof *t);
    if (!t)
        return vt_cli_usage(prog, "out of memory");
    uint32_t k = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 0 || v > INT32_MAX || (*end && *end != ',')) {
            free(t);
            return vt_cli_usage(prog, "--tokens: expected comma-separated token ids, got '%s'", s);
        }
        t[k++] = (int32_t)v;
        p = *end ? end + 1 : end;
    }
    *out = t;
    *n = k;
    return 0;
}

/* A submit that got no job id: the error, and the scheduler's hint when it
 * was overloaded or rate-limited. */
static int submit_failed(const char *prog, int rv, const vt_errinfo *ei, uint32_t retry_ms)
{
    int ex = vt_cli_fail(prog, "submit", rv, ei);
    if (retry_ms)
        fprintf(stderr, "%s: retry after %u ms\n", prog, retry_ms);
    return ex;
}

int vt_cmd_submit(const char *prog, int argc, char **argv)
{
    agent_opts a = {0};
    const char *model = NULL, *prompt = NULL, *tokens = NULL, *temp = "0", *top_p = "1";
    const char *verify = NULL, *delivery = NULL, *memory_query = NULL;
    int64_t max_tokens = 0, seed = 0, top_k = 0, priority = 0, deadline = 0, timeout = 0;
    int64_t memory_k = 0;
    bool no_wait = false, remember = false;
    static const char *const kinds[] = {"generate", "embed", NULL};
    int kind = 0;
    vt_strlist stop = {0};
    vt_opt opts[] = {
        AGENT_OPTS(&a),
        {.flag = "model", .type = VT_OPT_STRING, .metavar = "NAME|SHA256",
         .flags = VT_OPT_REQUIRED, .help = "model alias or sha256", .dest = &model},
        {.flag = "prompt", .type = VT_OPT_STRING, .metavar = "TEXT", .flags = VT_OPT_ALLOW_EMPTY,
         .help = "prompt text", .dest = &prompt},
        {.flag = "tokens", .type = VT_OPT_STRING, .metavar = "ID,ID,...",
         .help = "prompt as token ids instead of text", .dest = &tokens},
        {.flag = "max-tokens", .type = VT_OPT_INT, .metavar = "N", .def = "64", .min = 1,
         .max = 1 << 20, .help = "tokens to generate (-n)", .dest = &max_tokens},
        {.flag = "seed", .type = VT_OPT_INT, .def = "0", .min = 0, .max = INT64_MAX,
         .help = "sampling seed", .dest = &seed},
        {.flag = "temp", .type = VT_OPT_STRING, .metavar = "T", .def = "0",
         .help = "temperature (0 = greedy)", .dest = &temp},
        {.flag = "top-k", .type = VT_OPT_INT, .def = "0", .min = 0, .max = 1 << 20,
         .help = "top-k (0 = off)", .dest = &top_k},
        {.flag = "top-p", .type = VT_OPT_STRING, .metavar = "P", .def = "1",
         .help = "top-p (1 = off)", .dest = &top_p},
        {.flag = "stop", .type = VT_OPT_LIST, .metavar = "TEXT", .help = "stop string (repeatable)",
         .dest = &stop},
        {.flag = "priority", .type = VT_OPT_INT, .def = "0", .min = INT32_MIN, .max = INT32_MAX,
         .help = "lower runs first", .dest = &priority},
        {.flag = "deadline-ms", .type = VT_OPT_INT, .def = "0", .min = 0, .max = UINT32_MAX,
         .help = "expire the job after this long (0 = none)", .dest = &deadline},
        {.flag = "verify", .type = VT_OPT_STRING, .metavar = "POLICY",
         .help = "full:K | sampled:P | none (default: the scheduler's)", .dest = &verify},
        {.flag = "delivery", .type = VT_OPT_STRING, .metavar = "MODE",
         .help = "verified | optimistic", .dest = &delivery},
        {.flag = "memory-k", .type = VT_OPT_INT, .def = "0", .min = 0, .max = 64,
         .help = "recall this many memories into the prompt", .dest = &memory_k},
        {.flag = "memory-query", .type = VT_OPT_STRING, .metavar = "TEXT",
         .help = "memory query (default: the prompt)", .dest = &memory_query},
        {.flag = "remember", .type = VT_OPT_BOOL, .def = "false",
         .help = "store the exchange as an episodic memory", .dest = &remember},
        {.flag = "kind", .type = VT_OPT_ENUM, .def = "generate", .choices = kinds,
         .help = "embed: return the mean of the final hidden states instead of text",
         .dest = &kind},
        {.flag = "no-wait", .type = VT_OPT_BOOL, .def = "false",
         .help = "print the job id and return", .dest = &no_wait},
        {.flag = "timeout-ms", .type = VT_OPT_INT, .def = "300000", .min = 1, .max = INT32_MAX,
         .help = "how long to wait for the result", .dest = &timeout},
        VT_OPT_END};
    int ex = vt_cli_parse(prog, "submit a job and print its output and verification status",
                          opts, argc, argv, NULL);
    vt_client *c = NULL;
    int32_t *toks = NULL;
    if (ex >= 0)
        goto out;
    if (!!prompt == !!tokens) {
        ex = vt_cli_usage(prog, "give exactly one of --prompt and --tokens");
        goto out;
    }
    double t = 0, p = 1; /* set by parse_float; initialised for the compiler */
    if ((ex = parse_float(prog, "temp", temp, 0, 100, &t)) != 0 ||
        (ex = parse_float(prog, "top-p", top_p, 0, 1, &p)) != 0)
        goto out;
    vt_job_spec spec;
    vt_job_spec_default(&spec);
    spec.model = model;
    if (prompt) {
        spec.prompt = prompt;
        spec.prompt_len = strlen(prompt);
    } else if ((ex = parse_tokens(prog, tokens, &toks, &spec.n_prompt_tokens)) != 0) {
        goto out;
    } else {
        spec.prompt_tokens = toks;
    }
    spec.max_tokens = (uint32_t)max_tokens;
    spec.sampling.seed = (uint64_t)seed;
    spec.sampling.temperature = (float)t;
    spec.sampling.top_k = (uint32_t)top_k;
    spec.sampling.top_p = (float)p;
    spec.stop = (const char *const *)stop.items;
    spec.n_stop = (uint32_t)stop.n;
    spec.priority = (int32_t)priority;
    spec.deadline_ms = (uint32_t)deadline;
    spec.verify = verify;
    spec.delivery = delivery;
    spec.memory_k = (uint32_t)memory_k;
    spec.memory_query = memory_query;
    spec.remember = remember;
    spec.kind = kind == 1 ? VT_KIND_EMBED : VT_KIND_GENERATE;

    if ((ex = open_client(prog, &a, &c)) != 0)
        goto out;
    char id[VT_JOB_ID_MAX + 1];
    vt_errinfo ei = {0};
    int rv;
    if (no_wait) {
        uint32_t retry = 0;
        rv = vt_client_submit(c, &spec, id, &retry, &ei);
        if (rv)
            ex = submit_failed(prog, rv, &ei, retry);
        else
            printf(a.json ? "{\"job_id\":\"%s\"}\n" : "%s\n", id);
        goto out;
    }
    /* Submit and wait in one call: one round trip for a job done within the
     * client's poll interval, and the scheduler journals it once
     * (docs/architecture.md 2.4). */
    vt_job_result res;
    rv = vt_client_run(c, &spec, (uint32_t)timeout, id, &res, &ei);
    if (rv && !id[0]) { /* refused, or lost before an id came back */
        ex = submit_failed(prog, rv, &ei, res.retry_ms);
    } else {
        if ((rv == 0 || rv == VT_ERR_TIMEOUT) && res.r.job_id[0])
            print_result(&res.r, a.json);
        if (rv == 0)
            ex = res.r.state == VT_JOB_VERIFIED ? VT_EXIT_OK : VT_EXIT_FAIL;
        else
            ex = vt_cli_fail(prog, id, rv, &ei);
    }
    vt_job_result_free(&res);
out:
    free(toks);
    vt_client_close(c);
    vt_config_free(opts);
    return ex;
}

/* status, result and cancel take one job id. */
static int one_job(const char *prog, const char *summary, vt_opt *extra, int argc, char **argv,
                   agent_opts *a, vt_client **c, char **job_id)
{
    vt_opt opts[12] = {AGENT_OPTS(a)};
    int n = 3;
    for (vt_opt *o = extra; o && o->flag && n < 11; o++)
        opts[n++] = *o;
    opts[n] = (vt_opt)VT_OPT_END;
    vt_strlist pos = {0};
    int ex = vt_cli_parse(prog, summary, opts, argc, argv, &pos);
    if (ex < 0 && pos.n != 1)
        ex = vt_cli_usage(prog, "expected one job id");
    if (ex < 0) {
        *job_id = strdup(pos.items[0]);
        if (!*job_id)
            ex = VT_EXIT_FAIL;
        else if (open_client(prog, a, c) != 0)
            ex = VT_EXIT_FAIL;
    }
    vt_strlist_free(&pos);
    return ex; /* -1: go on */
}

int vt_cmd_status(const char *prog, int argc, char **argv)
{
    agent_opts a = {0};
    vt_client *c = NULL;
    char *id = NULL;
    int ex = one_job(prog, "show where a job is: status JOB_ID", NULL, argc, argv, &a, &c, &id);
    if (ex >= 0) {
        free(id);
        return ex;
    }
    vt_job_status st;
    vt_errinfo ei = {0};
    int rv = vt_client_status(c, id, &st, &ei);
    ex = VT_EXIT_OK;
    if (rv) {
        ex = vt_cli_fail(prog, id, rv, &ei);
    } else if (a.json) {
        printf("{\"job_id\":\"%s\",\"state\":\"%s\",\"submitted_ms\":%llu,\"leased_ms\":%llu,"
               "\"computed_ms\":%llu,\"finished_ms\":%llu,\"worker\":\"%s\",\"attempts\":%u,"
               "\"verify\":{\"required\":%u,\"passed\":%u,\"failed\":%u,\"pending\":%u}}\n",
               st.job_id, vt_job_state_name(st.state), (unsigned long long)st.submitted_ms,
               (unsigned long long)st.leased_ms, (unsigned long long)st.computed_ms,
               (unsigned long long)st.finished_ms, st.worker, st.attempts, st.verify.required,
               st.verify.passed, st.verify.failed, st.verify.pending);
    } else {
        printf("%s %s attempts=%u worker=%.12s verify=", st.job_id, vt_job_state_name(st.state),
               st.attempts, st.worker[0] ? st.worker : "-");
        print_verify_text(&st.verify);
        printf("\n");
    }
    free(id);
    vt_client_close(c);
    return ex;
}

int vt_cmd_result(const char *prog, int argc, char **argv)
{
    agent_opts a = {0};
    int64_t wait_ms = 0;
    vt_opt extra[] = {{.flag = "wait-ms", .type = VT_OPT_INT, .def = "0", .min = 0,
                       .max = INT32_MAX, .help = "wait this long for the job to finish",
                       .dest = &wait_ms},
                      VT_OPT_END};
    vt_client *c = NULL;
    char *id = NULL;
    int ex = one_job(prog, "print a job's result: result JOB_ID", extra, argc, argv, &a, &c, &id);
    if (ex >= 0) {
        free(id);
        return ex;
    }
    vt_job_result res;
    vt_errinfo ei = {0};
    int rv = vt_client_wait(c, id, (uint32_t)wait_ms, &res, &ei);
    if (rv == 0 || rv == VT_ERR_TIMEOUT) {
        print_result(&res.r, a.json);
        ex = (rv == 0 && res.r.state == VT_JOB_VERIFIED) ? VT_EXIT_OK : VT_EXIT_FAIL;
        vt_job_result_free(&res);
    } else {
        ex = vt_cli_fail(prog, id, rv, &ei);
    }
    free(id);
    vt_client_close(c);
    return ex;
}

int vt_cmd_cancel(const char *prog, int argc, char **argv)
{
    agent_opts a = {0};
    vt_client *c = NULL;
    char *id = NULL;
    int ex = one_job(prog, "cancel a job: cancel JOB_ID", NULL, argc, argv, &a, &c, &id);
    if (ex >= 0) {
        free(id);
        return ex;
    }
    vt_job_state st;
    vt_errinfo ei = {0};
    int rv = vt_client_cancel(c, id, &st, &ei);
    ex = VT_EXIT_OK;
    if (rv)
        ex = vt_cli_fail(prog, id, rv, &ei);
    else
        printf(a.json ? "{\"job_id\":\"%s\",\"state\":\"%s\"}\n" : "%s %s\n", id,
               vt_job_state_name(st));
    free(id);
    vt_client_close(c);
    return ex;
}
