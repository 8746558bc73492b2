/* test_load.c - issue 3, "normal load": 200 jobs from 8 concurrent agents
 * across 2 workers and 2 verifiers. Every job is done and verified, and each
 * output equals a direct `verity-model run` with the same seed.
 *
 * The cluster: redis-server, the scheduler (with --tokenizer, so agents may
 * send text prompts), two workers with different --slots and two verifiers
 * (one on the scalar ISA), every node its own operator, all on the tiny
 * synthetic model. Eight agents, each with its own API key, its own
 * vt_client and its own thread, submit their 25 jobs at once (all in flight
 * together) and then wait for each. The jobs mix greedy, top-k and top-p
 * sampling, seeds, prompt lengths (token prompts of 1..120 ids, and text
 * prompts the scheduler tokenizes) and max_tokens (1..80); verification is
 * the scheduler's default policy (full:1).
 *
 * Checks:
 *   1. each of the 200 jobs ends verified without error, with one passing
 *      verdict and none failing, and its tokens, stop reason and trace
 *      digest equal vt_generate's run in this process (same engine, same
 *      prompt tokens, sampling and seed);
 *   2. six text-prompt jobs (five fixed, one whose output starts with a
 *      space) are also run through the real `verity-model run` binary with
 *      the same prompt, -n, seed, temperature, top-k and top-p: its prompt
 *      token count, generated token count, stop reason, trace digest and
 *      printed text equal the cluster's result;
 *   3. the 200 job ids are distinct; both workers ran jobs and both
 *      verifiers gave verdicts;
 *   4. the scheduler's verified-jobs counter grew by exactly 200 and no job
 *      failed; every daemon exits 0 on SIGTERM.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "fixture.h"
#include "vt_client.h"
#include "vt_clock.h"
#include "vt_test.h"

#define N_AGENTS 8
/* 25 jobs per agent (200 in all) by default; VT_LOAD_PER_AGENT raises it
 * (up to MAX_PER_AGENT) for the slow "no false rejections over >= 2,000
 * honest jobs" run of issue 4, registered as cluster_load_2000. */
#define MAX_PER_AGENT 250
#define MAX_JOBS (N_AGENTS * MAX_PER_AGENT)
static int per_agent = 25;
#define PER_AGENT per_agent
#define N_JOBS (N_AGENTS * per_agent)

#define VERIFIED_METRIC "verity_scheduler_jobs_finished_total{state=\"verified\"}"
#define FAILED_METRIC "verity_scheduler_jobs_finished_total{state=\"failed\"}"

/* Jobs whose result is also compared with `verity-model run` (text prompts:
 * the binary only takes text; g % 4 == 0 are the text jobs): five different
 * texts, greedy, top-k, top-p and top-p with top-k sampling (g % 3, g % 8),
 * 53..77 max_tokens. */
static const int cli_jobs[] = {12, 4, 92, 128, 184};
#define N_CLI_FIXED ((int)(sizeof cli_jobs / sizeof *cli_jobs))

static const char *texts[] = {
    "the quick brown fox jumps over the lazy dog",
    "once upon a time",
    "hi",
    "in the beginning was the word, and the word was with the model",
    "to be or not to be, that is the question: whether 'tis nobler in the mind to suffer",
    "verifiable inference",
    "a",
    "zebras 123 and 4567 numbers, punctuation!? and CAPITALS",
};
#define N_TEXTS ((int)(sizeof texts / sizeof *texts))

typedef struct load_job {
    fx_job j;             /* prompt tokens, sampling, reference result */
    const char *text;     /* submitted as this text (NULL: as j.prompt ids) */
    int keep;             /* keep the result for the verity-model comparison */
    char id[VT_JOB_ID_MAX + 1];
    int verified;         /* ended verified and equal to the reference */
    uint8_t worker[VT_PUBKEY_BYTES];
    uint8_t verifier[VT_PUBKEY_BYTES];
    vt_job_result res;    /* when keep */
} load_job;

typedef struct agent {
    const char *url;
    char key[VT_API_KEY_BUFSZ];
    load_job *jobs; /* PER_AGENT of them, owned by this agent's thread */
} agent;

static uint64_t deadline; /* for every wait of the test together */

static uint32_t time_left(void)
{
    uint64_t now = vt_mono_ms();
    return now < deadline ? (uint32_t)(deadline - now) : 1;
}

/* The sampling mix: greedy, temperature + top-k, temperature + top-p
 * (job g uses modes[g % 3]; every 8th top-p job also sets top-k). */
static const vt_sampling modes[3] = {
    {.temperature = 0.0f, .top_k = 0, .top_p = 1.0f},
    {.temperature = 0.7f, .top_k = 20, .top_p = 1.0f},
    {.temperature = 1.05f, .top_k = 0, .top_p = 0.85f},
};

/* Job g: a text prompt every 4th job, else 1..120 token ids; greedy,
 * temperature + top-k, or temperature + top-p (some with both); its own
 * seed; max_tokens 1..80. */
static void make_job(const vt_model *m, int g, load_job *lj)
{
    memset(lj, 0, sizeof *lj);
    fx_job *j = &lj->j;
    uint32_t vocab = vt_model_get_info(m)->vocab;
    if (g % 4 == 0) {
        lj->text = texts[(g / 4) % N_TEXTS];
        size_t np = 0;
        /* add_bos = 1: what the scheduler and verity-model run do with text */
        VT_REQUIRE_OK(vt_tok_encode(vt_model_tokenizer(m), lj->text, strlen(lj->text), 1,
                                    j->prompt, sizeof j->prompt / sizeof *j->prompt, &np));
        j->n_prompt = (uint32_t)np;
    } else {
        j->n_prompt = 1 + (uint32_t)(g * 37) % 120;
        for (uint32_t k = 0; k < j->n_prompt; k++)
            j->prompt[k] = (int32_t)(3 + (k * 131u + (uint32_t)g * 29u) % (vocab - 3));
    }
    j->gp.sampling = modes[g % 3];
    if (g % 3 == 2 && g % 8 == 0)
        j->gp.sampling.top_k = 60;
    j->gp.sampling.seed = 0x5eed0000u + (uint64_t)g * 7919u;
    j->gp.max_tokens = 1 + (uint32_t)(g * 13) % 80;
    j->gp.stop_at_eos = 1; /* the wire protocol always stops at EOS */
    fx_job_reference(m, j);
}

/* Wait for lj's job; check it is verified and equals its reference. */
static void expect(vt_client *cl, load_job *lj)
{
    vt_job_result res;
    memset(&res, 0, sizeof res);
    vt_errinfo ei = {0};
    if (vt_mono_ms() >= deadline) { /* out of time: fail without waiting */
        VT_CHECK(0, "job %s: not done in time", lj->id);
        return;
    }
    int rv = vt_client_wait(cl, lj->id, time_left(), &res, &ei);
    VT_CHECK(rv == 0, "wait %s: %s", lj->id, vt_errinfo_msg(&ei));
    if (rv != 0) {
        vt_job_result_free(&res);
        return;
    }
    const vt_msg_result_ok *r = &res.r;
    const vt_gen_result *ref = &lj->j.ref;
    int ok = 1;
    ok &= VT_CHECK(strcmp(r->job_id, lj->id) == 0, "asked for %s, got %s", lj->id, r->job_id);
    ok &= VT_CHECK(r->state == VT_JOB_VERIFIED && r->error == 0,
                   "job %s state %s error %s (%s)", lj->id, vt_job_state_name(r->state),
                   vt_errname(r->error), r->error_msg ? r->error_msg : "");
    ok &= VT_CHECK(r->n_tokens == ref->n_tokens &&
                       memcmp(r->tokens, ref->tokens, r->n_tokens * sizeof(int32_t)) == 0,
                   "job %s: %u tokens, vt_generate gives %u (or they differ)", lj->id,
                   r->n_tokens, ref->n_tokens);
    ok &= VT_CHECK(r->stop_reason == ref->stop_reason, "job %s: stop %d, vt_generate's %d",
                   lj->id, r->stop_reason, ref->stop_reason);
    ok &= VT_CHECK(memcmp(r->trace_digest, ref->trace.final_digest, VT_DIGEST_BYTES) == 0,
                   "job %s: trace digest differs from vt_generate's", lj->id);
    ok &= VT_CHECK(r->verify.required == 1 && r->verify.passed >= 1 && r->verify.failed == 0 &&
                       r->n_verdicts >= 1,
                   "job %s: %u required, %u passed, %u failed verdicts, %u listed", lj->id,
                   r->verify.required, r->verify.passed, r->verify.failed, r->n_verdicts);
    for (uint32_t i = 0; i < r->n_verdicts; i++)
        ok &= VT_CHECK(r->verdicts[i].pass, "job %s: verdict %u fails", lj->id, i);
    lj->verified = ok;
    memcpy(lj->worker, r->worker, sizeof lj->worker);
    if (r->n_verdicts)
        memcpy(lj->verifier, r->verdicts[0].verifier, sizeof lj->verifier);
    if (lj->keep)
        lj->res = res; /* the main thread compares it with verity-model */
    else
        vt_job_result_free(&res);
}

/* One agent: submit all its jobs (all in flight together), then wait for
 * each. */
static void *agent_run(void *arg)
{
    agent *a = arg;
    vt_client *cl = NULL;
    vt_errinfo ei = {0};
    if (!VT_CHECK(vt_client_open(a->url, a->key, NULL, &cl, &ei) == 0, "client: %s",
                  vt_errinfo_msg(&ei)))
        return NULL;
    for (int k = 0; k < PER_AGENT; k++) {
        load_job *lj = &a->jobs[k];
        vt_job_spec s;
        cl_job_spec(&lj->j, NULL, &s); /* NULL: the default policy, full:1 */
        if (lj->text) {
            s.prompt_tokens = NULL;
            s.n_prompt_tokens = 0;
            s.prompt = lj->text;
            s.prompt_len = strlen(lj->text);
        }
        uint32_t retry_ms = 0;
        int rv = vt_client_submit(cl, &s, lj->id, &retry_ms, &ei);
        if (!VT_CHECK(rv == 0, "submit: %s (retry %u ms)", vt_errinfo_msg(&ei), retry_ms))
            lj->id[0] = '\0';
    }
    for (int k = 0; k < PER_AGENT; k++)
        if (a->jobs[k].id[0])
            expect(cl, &a->jobs[k]);
    vt_client_close(cl);
    return NULL;
}

static void hex32(const uint8_t *b, char out[65])
{
    vt_hex(b, 32, out);
}

/* Run `verity-model run` on lj's text prompt with its parameters and
 * compare what it prints with the cluster's result. */
/* Does the output start with a piece that has a leading space? (The wire's
 * text drops that space: see check_cli.) */
static int leading_space(const vt_model *m, const vt_gen_result *out)
{
    const char *piece;
    size_t pl;
    return out->n_tokens &&
           vt_tok_piece(vt_model_tokenizer(m), out->tokens[0], &piece, &pl) == 0 && pl > 1 &&
           piece[0] == ' ';
}

static void check_cli(const vt_model *m, const char *mpath, int g, const load_job *lj)
{
    const vt_sampling *sp = &lj->j.gp.sampling;
    const vt_msg_result_ok *r = &lj->res.r;
    char n[16], seed[32], temp[32], topk[16], topp[32], name[32], bin[512];
    snprintf(n, sizeof n, "%u", lj->j.gp.max_tokens);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)sp->seed);
    snprintf(temp, sizeof temp, "%.9g", (double)sp->temperature); /* round-trips a float */
    snprintf(topk, sizeof topk, "%u", sp->top_k);
    snprintf(topp, sizeof topp, "%.9g", (double)sp->top_p);
    snprintf(name, sizeof name, "model-run-%d", g);
    const char *argv[] = {"run", mpath, "--prompt", lj->text, "-n", n, "--seed", seed,
                          "--temp", temp, "--top-k", topk, "--top-p", topp, "--threads", "1",
                          NULL};
    vt_proc *p = vt_proc_spawn(name, vt_ts_bin("verity-model", bin, sizeof bin), argv, NULL);
    if (!VT_CHECK(p != NULL, "spawn verity-model"))
        return;
    int code = -1;
    int rv = vt_proc_wait(p, (int)time_left(), &code);
    VT_CHECK(rv == 0 && code == 0, "verity-model run (job %d): %s, exit %d", g, vt_errname(rv),
             code);
    size_t len = 0;
    char *log = vt_ts_read_file(vt_proc_log(p), &len);
    if (rv != 0 || code != 0)
        vt_proc_tail(p, 20);
    vt_proc_free(p);
    if (!VT_CHECK(log && len >= 2 && log[len - 1] == '\n', "verity-model printed nothing")) {
        free(log);
        return;
    }
    /* The log holds stdout (prompt, generated text, "\n"; flushed first)
     * then the stats line from stderr. The text may hold any byte, NUL
     * included (byte tokens): find the last line by length, not strrchr. */
    size_t b = len - 1;
    while (b > 0 && log[b - 1] != '\n')
        b--;
    log[len - 1] = '\0';
    if (!VT_CHECK(b > 0, "job %d: no stats line in: %s", g, log)) {
        free(log);
        return;
    }
    const char *stats = log + b;
    size_t stdout_len = b - 1; /* without its final "\n" */

    static const char *const reasons[] = {"max_tokens", "eos", "stop string"};
    char want[256], h[65];
    unsigned long np = 0, gen = 0;
    const char *pp = strstr(stats, "prompt ");
    const char *gp = strstr(stats, "generated ");
    if (pp)
        np = strtoul(pp + 7, NULL, 10);
    if (gp)
        gen = strtoul(gp + 10, NULL, 10);
    VT_CHECK(pp == stats && np == lj->j.n_prompt, "job %d: verity-model saw %lu prompt tokens, "
             "the scheduler %u: %s", g, np, lj->j.n_prompt, stats);
    VT_CHECK(gp && gen == r->n_tokens, "job %d: verity-model generated %lu tokens, the cluster "
             "%u: %s", g, gen, r->n_tokens, stats);
    snprintf(want, sizeof want, "| stop %s |",
             r->stop_reason >= 0 && r->stop_reason <= 2 ? reasons[r->stop_reason] : "?");
    VT_CHECK(strstr(stats, want) != NULL, "job %d: want '%s' in: %s", g, want, stats);
    hex32(r->trace_digest, h);
    snprintf(want, sizeof want, "| trace %s", h);
    size_t sl = strlen(stats), wl = strlen(want);
    VT_CHECK(sl >= wl && strcmp(stats + sl - wl, want) == 0,
             "job %d: cluster trace %s, verity-model: %s", g, h, stats);

    /* stdout: the prompt, then the output continuing it. The wire's text is
     * the output on its own, so a first piece with a leading space loses it
     * (vt_detok's at_start); verity-model prints it after the prompt and
     * keeps that space. Otherwise the bytes must be the same. */
    size_t tl = strlen(lj->text);
    int same_prompt = stdout_len >= tl && memcmp(log, lj->text, tl) == 0;
    VT_CHECK(same_prompt, "job %d: verity-model's output does not start with the prompt: %.*s",
             g, (int)stdout_len, log);
    if (same_prompt) {
        const char *out = log + tl;
        size_t ol = stdout_len - tl;
        size_t skip = leading_space(m, &lj->j.ref) ? 1 : 0;
        int same = ol == r->text_len + skip && (!skip || out[0] == ' ') &&
                   (r->text_len == 0 || memcmp(out + skip, r->text, r->text_len) == 0);
        VT_CHECK(same, "job %d: verity-model wrote %zu bytes \"%.*s\", the cluster %zu \"%.*s\"",
                 g, ol, (int)ol, out, r->text_len, (int)r->text_len, r->text ? r->text : "");
    }
    free(log);
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* How many different 32-byte keys among n (n small enough for n^2). */
static int distinct_keys(const uint8_t (*k)[VT_PUBKEY_BYTES], int n)
{
    int d = 0;
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++)
            seen = memcmp(k[i], k[j], VT_PUBKEY_BYTES) == 0;
        d += !seen;
    }
    return d;
}

typedef struct metric_goal {
    const char *http;
    double want;
} metric_goal;

static bool metric_reached(void *arg)
{
    const metric_goal *mg = arg;
    return cl_metric(mg->http, VERIFIED_METRIC) >= mg->want;
}

int main(void)
{
    VT_REQUIRE_OK(vt_protocol_init());
    const char *pa = getenv("VT_LOAD_PER_AGENT");
    if (pa && *pa) {
        per_agent = atoi(pa);
        VT_REQUIRE(per_agent >= 1 && per_agent <= MAX_PER_AGENT, "VT_LOAD_PER_AGENT 1..%d",
                   MAX_PER_AGENT);
    }
    deadline = vt_mono_ms() + 200000 + (uint64_t)N_JOBS * 400;
    char mpath[512];
    vt_model *m = fx_tiny_model("tiny.gguf", VT_DTYPE_F32, 33, mpath, sizeof mpath);
    static load_job jobs[MAX_JOBS];
    for (int g = 0; g < N_JOBS; g++)
        make_job(m, g, &jobs[g]);
    int stops[3] = {0, 0, 0};
    for (int g = 0; g < N_JOBS; g++)
        stops[jobs[g].j.ref.stop_reason % 3]++;
    fprintf(stderr, "references: %d stop at max_tokens, %d at EOS\n", stops[VT_STOP_MAX],
            stops[VT_STOP_EOS]);
    /* the fixed five, and the first text job whose output starts with a
     * piece that has a leading space (the one place where verity-model's
     * text and the wire's may differ, see check_cli), if there is one */
    int cli[N_CLI_FIXED + 1], n_cli = 0;
    for (int i = 0; i < N_CLI_FIXED; i++)
        cli[n_cli++] = cli_jobs[i];
    for (int g = 0; g < N_JOBS && n_cli == N_CLI_FIXED; g++)
        if (jobs[g].text && leading_space(m, &jobs[g].j.ref))
            cli[n_cli++] = g;
    for (int i = 0; i < n_cli; i++) {
        VT_REQUIRE(jobs[cli[i]].text != NULL, "job %d has no text prompt", cli[i]);
        jobs[cli[i]].keep = 1;
    }

    static cl_cluster c;
    const char *sargs[] = {"--tokenizer", mpath, NULL};
    cl_start(&c, mpath, sargs);
    char spec[700];
    snprintf(spec, sizeof spec, "%s@%s", mpath, c.model_hex);
    const char *wargs1[] = {"--model", spec, "--slots", "3", "--heartbeat-ms", "300", NULL};
    const char *wargs2[] = {"--model", spec, "--slots", "2", "--heartbeat-ms", "300", NULL};
    const char *vargs1[] = {"--model", mpath, "--batch", "4", "--heartbeat-ms", "300", NULL};
    const char *vargs2[] = {"--model", mpath, "--batch", "2", "--isa", "scalar", "--threads", "1",
                            NULL};
    cl_node_start(&c, 0, wargs1);
    cl_node_start(&c, 0, wargs2);
    cl_node_start(&c, 1, vargs1);
    cl_node_start(&c, 1, vargs2);

    static agent agents[N_AGENTS];
    for (int a = 0; a < N_AGENTS; a++) {
        agents[a].url = c.agent_url;
        agents[a].jobs = &jobs[a * PER_AGENT];
        if (a < 2) {
            memcpy(agents[a].key, c.agent_key[a], sizeof agents[a].key);
        } else {
            char name[16];
            snprintf(name, sizeof name, "agent%d", a);
            cl_agent_add(&c, name, agents[a].key);
        }
    }
    double before = cl_metric(c.http, VERIFIED_METRIC);
    if (before < 0) /* no sample line before the first job finished */
        before = 0;

    /* 1. eight agents at once, each with all its jobs in flight */
    uint64_t t0 = vt_mono_ms();
    pthread_t th[N_AGENTS];
    for (int a = 0; a < N_AGENTS; a++)
        VT_REQUIRE(pthread_create(&th[a], NULL, agent_run, &agents[a]) == 0, "thread");
    for (int a = 0; a < N_AGENTS; a++)
        pthread_join(th[a], NULL);
    int n_ok = 0;
    for (int g = 0; g < N_JOBS; g++)
        n_ok += jobs[g].verified;
    VT_CHECK_EQ_INT(n_ok, N_JOBS);
    fprintf(stderr, "%d jobs from %d agents: %d verified and equal to vt_generate in %.1f s\n",
            N_JOBS, N_AGENTS, n_ok, (double)(vt_mono_ms() - t0) / 1000.0);

    /* 2. the literal claim: a direct `verity-model run` prints the same */
    for (int i = 0; i < n_cli; i++)
        if (jobs[cli[i]].verified)
            check_cli(m, mpath, cli[i], &jobs[cli[i]]);

    /* 3. distinct ids; both workers and both verifiers took part */
    static const char *ids[MAX_JOBS];
    static uint8_t workers[MAX_JOBS][VT_PUBKEY_BYTES], verifiers[MAX_JOBS][VT_PUBKEY_BYTES];
    int n_ids = 0, n_res = 0;
    for (int g = 0; g < N_JOBS; g++) {
        if (jobs[g].id[0])
            ids[n_ids++] = jobs[g].id;
        if (jobs[g].verified) {
            memcpy(workers[n_res], jobs[g].worker, VT_PUBKEY_BYTES);
            memcpy(verifiers[n_res], jobs[g].verifier, VT_PUBKEY_BYTES);
            n_res++;
        }
    }
    VT_CHECK_EQ_INT(n_ids, N_JOBS);
    qsort(ids, (size_t)n_ids, sizeof *ids, cmp_id);
    for (int i = 1; i < n_ids; i++)
        VT_CHECK(strcmp(ids[i - 1], ids[i]) != 0, "job id %s given twice", ids[i]);
    VT_CHECK_EQ_INT(distinct_keys((const uint8_t(*)[VT_PUBKEY_BYTES])workers, n_res), 2);
    VT_CHECK_EQ_INT(distinct_keys((const uint8_t(*)[VT_PUBKEY_BYTES])verifiers, n_res), 2);

    /* 4. the scheduler counted exactly these jobs as verified, none failed:
     * no honest job was ever rejected by either verifier (scalar 1 thread,
     * native all threads) */
    metric_goal goal = {c.http, before + N_JOBS};
    vt_ts_wait_until(5000, metric_reached, &goal);
    VT_CHECK_EQ_INT(cl_metric(c.http, VERIFIED_METRIC), goal.want);
    VT_CHECK(cl_metric(c.http, FAILED_METRIC) <= 0, "failed jobs: %g",
             cl_metric(c.http, FAILED_METRIC));

    cl_stop(&c);
    for (int g = 0; g < N_JOBS; g++) {
        if (jobs[g].keep)
            vt_job_result_free(&jobs[g].res);
        free(jobs[g].j.ref.tokens);
    }
    vt_model_free(m);
    return vt_test_done();
}
