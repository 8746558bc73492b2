/* bench_load.c - `verity-bench load`: end-to-end job throughput and latency
 * of a scheduler, measured from the agents' side.
 *
 *   --spawn   start a whole local cluster (load_spawn.h) and measure it;
 *   --url     measure a running scheduler (loopback or ipc:// only).
 *
 * Closed loop (default): --concurrency agents, each submits its next job when
 * the previous one is verified: the maximum rate. Open loop (--rate R):
 * Poisson arrivals at R jobs/s, latency counted from each arrival. --sweep
 * runs the closed loop, then the open loop at half the rate it reached
 * (the latency a service sees when it is not saturated).
 *
 * Next to the scheduler's figure the bench measures its own ceiling: the
 * same agent machinery (load_driver) against a bare REP server in this
 * process, on the scheduler's transport, answering each request at once
 * (load_echo.h). The ratio says how much of what client + transport + this
 * machine allow the scheduler reaches.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "cli_util.h"
#include "load_driver.h"
#include "load_echo.h"
#include "load_spawn.h"
#include "vt_config.h"
#include "vt_protocol.h"
#include "vt_redis.h"
#include "vt_worker.h"

static const char *prog = "verity-bench load";

#define MAX_DURATION_S 600.0
#define MAX_COUNT 1000000000ull
#define CEILING_S_MAX 5.0
#define TARGET_JOBS_S 10000.0
#define TARGET_P99_MS 5.0
#define LD_IDENTITY_BATCH 64 /* --spawn --identity: worker slots and verifier batch */
/* --curve: open loops at these fractions of the closed-loop rate, besides
 * the sweep's half */
static const double CURVE_FRACTIONS[] = {0.10, 0.25, 0.75};
#define N_CURVE (sizeof CURVE_FRACTIONS / sizeof CURVE_FRACTIONS[0])
#define N_PHASES (4 + N_CURVE)

typedef struct load_opts {
    const char *url, *model, *model_file, *verify, *delivery, *json, *bin_dir;
    const char *log_level;
    const char *keys[LD_MAX_KEYS];
    const char *redis_config[LS_REDIS_CONFIG_MAX][2];
    char redis_config_name[LS_REDIS_CONFIG_MAX][65]; /* what [i][0] points to */
    int n_redis_config;
    int result_ttl_s;
    int n_keys;
    int spawn, identity, keep, sweep, curve, ceiling, quiet, submit_wait;
    int workers, verifiers, agents, worker_slots, worker_threads, verifier_threads,
        verifier_batch;
    int concurrency, connections;
    int stages_every;
    double rate, duration_s, warmup_s, job_timeout_s;
    uint64_t count;
    uint32_t prompt_tokens, max_tokens;
} load_opts;

static volatile sig_atomic_t g_stop;
static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(void)
{
    printf(
        "usage: verity-bench load (--spawn [cluster flags] | --url URL --api-key KEY) [flags]\n"
        "\n"
        "Where:\n"
        "  --spawn               start redis (AOF, appendfsync always), a scheduler, workers and\n"
        "                        verifiers on loopback in a temp dir, measure, stop them\n"
        "  --url URL             an existing scheduler's agent socket (127.0.0.1 / ::1 / ipc://)\n"
        "  --api-key KEY         agent key for --url (repeatable: agents use them in turn)\n"
        "  --model NAME|SHA256   model the jobs name (--url; default: the identity model's hash)\n"
        "Cluster (--spawn):\n"
        "  --workers K (2)  --verifiers M (1)  --agents A (8 API keys)\n"
        "  --identity            identity workers/verifiers (default unless --model-file)\n"
        "  --model-file PATH     serve this GGUF instead (real engine work per job)\n"
        "  --worker-slots N  --worker-threads N  --verifier-threads N  --verifier-batch N\n"
        "                        (identity: slots and batch default to 64, else the daemons')\n"
        "  --bin-dir DIR         daemons' directory (default: this program's)\n"
        "  --keep                keep the temp dir (logs, redis data)\n"
        "  --log-level LEVEL     the daemons' log level (default warn; with --keep to read them)\n"
        "  --result-ttl S        the scheduler's --result-ttl-s: results expire within the run\n"
        "                        (steady state: Redis deletes as many records as it adds)\n"
        "  --redis-config NAME=VALUE  a redis-server setting after the journal's own\n"
        "                        (repeatable; e.g. auto-aof-rewrite-percentage=0 to see a run\n"
        "                        without AOF rewrites)\n"
        "Load:\n"
        "  --concurrency N (64)  closed loop: agents; open loop: most jobs in flight\n"
        "  --connections C       REQ sockets the agents share (default: one per agent)\n"
        "  --rate R              open loop: Poisson arrivals at R jobs/s\n"
        "  --duration D (10s)    measured window (at most 600s)\n"
        "  --warmup D (1s)       not measured\n"
        "  --count N             stop after N jobs in the window (default 1e9)\n"
        "  --job-timeout D (30s)\n"
        "  --prompt-tokens P (8)  --max-tokens O (= P)  --verify POLICY  --delivery MODE\n"
        "  --stages N (16)       every Nth verified job: a status call for its stage times\n"
        "                        (queued, computing, verifying ...); 0 = off\n"
        "  --sweep               closed loop, then open loop at half the rate reached\n"
        "  --curve               --sweep, then open loops at 10%%, 25%% and 75%% of that rate:\n"
        "                        latency against load, and the highest rate with p99 < 5 ms\n"
        "  --no-ceiling          skip the echo-server ceiling\n"
        "  --submit-wait         submit with wait_ms, as vt_client_run: the result comes with the\n"
        "                        submit's reply (one round trip per job, journaled once; the\n"
        "                        echo ceiling still counts two)\n"
        "  --json FILE  --quiet\n");
}

static double duration_flag(const char *flag, const char *v, double lo, double hi)
{
    int64_t ms;
    if (vt_parse_duration_ms(v, &ms) != 0 || ms / 1000.0 < lo || ms / 1000.0 > hi)
        vt_cli_usage_error(prog, "%s: '%s' must be a duration between %gs and %gs (e.g. 10s)",
                           flag, v, lo, hi);
    return (double)ms / 1000.0;
}

/* Tests and benchmarks talk to loopback only. */
static int loopback_url(const char *url)
{
    if (!strncmp(url, "ipc://", 6))
        return url[6] != 0;
    const char *h = NULL;
    if (!strncmp(url, "tcp://", 6))
        h = url + 6;
    else if (!strncmp(url, "tcp4://", 7))
        h = url + 7;
    else if (!strncmp(url, "tcp6://", 7))
        h = url + 7;
    if (!h)
        return 0;
    if (!strncmp(h, "127.", 4) || !strncmp(h, "localhost:", 10) || !strncmp(h, "[::1]:", 6)) {
        /* 127.a.b.c: digits and dots up to the port. */
        const char *p = h;
        if (*p == '1')
            for (p += 4; (*p >= '0' && *p <= '9') || *p == '.'; p++)
                ;
        else
            p = strchr(h, ']') ? strchr(h, ']') + 1 : strchr(h, ':');
        return p && *p == ':';
    }
    return 0;
}

/* NAME=VALUE, NAME a redis.conf directive (letters, digits, '-'). */
static void redis_config_flag(load_opts *o, const char *v)
{
    const char *eq = strchr(v, '=');
    size_t n = eq ? (size_t)(eq - v) : 0;
    if (o->n_redis_config == LS_REDIS_CONFIG_MAX)
        vt_cli_usage_error(prog, "at most %d --redis-config", LS_REDIS_CONFIG_MAX);
    if (n == 0 || n > 64 || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
        vt_cli_usage_error(prog, "--redis-config: '%s' is not NAME=VALUE (e.g. hz=10)", v);
    char *name = o->redis_config_name[o->n_redis_config];
    memcpy(name, v, n);
    name[n] = 0;
    o->redis_config[o->n_redis_config][0] = name;
    o->redis_config[o->n_redis_config][1] = eq + 1;
    o->n_redis_config++;
}

static void parse(int argc, char **argv, load_opts *o)
{
    memset(o, 0, sizeof *o);
    o->workers = 2;
    o->verifiers = 1;
    o->agents = 8;
    o->concurrency = 64;
    o->duration_s = 10;
    o->warmup_s = 1;
    o->job_timeout_s = 30;
    o->count = MAX_COUNT;
    o->prompt_tokens = 8;
    o->ceiling = 1;
    o->stages_every = 16;
    int set_max = 0;
    const char *v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            exit(0);
        } else if (!strcmp(a, "--spawn"))
            o->spawn = 1;
        else if (!strcmp(a, "--identity"))
            o->identity = 1;
        else if (!strcmp(a, "--keep"))
            o->keep = 1;
        else if (!strcmp(a, "--sweep"))
            o->sweep = 1;
        else if (!strcmp(a, "--curve"))
            o->sweep = o->curve = 1;
        else if (!strcmp(a, "--submit-wait"))
            o->submit_wait = 1;
        else if (!strcmp(a, "--no-ceiling"))
            o->ceiling = 0;
        else if (!strcmp(a, "--quiet"))
            o->quiet = 1;
        else if (vt_cli_flag(prog, argc, argv, &i, "--url", &v))
            o->url = v;
        else if (vt_cli_flag(prog, argc, argv, &i, "--api-key", &v)) {
            if (o->n_keys == LD_MAX_KEYS)
                vt_cli_usage_error(prog, "at most %d --api-key", LD_MAX_KEYS);
            o->keys[o->n_keys++] = v;
        } else if (vt_cli_flag(prog, argc, argv, &i, "--model", &v))
            o->model = v;
        else if (vt_cli_flag(prog, argc, argv, &i, "--model-file", &v))
            o->model_file = v;
        else if (vt_cli_flag(prog, argc, argv, &i, "--verify", &v))
            o->verify = v;
        else if (vt_cli_flag(prog, argc, argv, &i, "--delivery", &v))
            o->delivery = v;
        else if (vt_cli_flag(prog, argc, argv, &i, "--json", &v))
            o->json = v;
        else if (vt_cli_flag(prog, argc, argv, &i, "--log-level", &v))
            o->log_level = v;
        else if (vt_cli_flag(prog, argc, argv, &i, "--result-ttl", &v))
            o->result_ttl_s = (int)vt_cli_u64(prog, "--result-ttl", v, 1, 31536000);
        else if (vt_cli_flag(prog, argc, argv, &i, "--redis-config", &v))
            redis_config_flag(o, v);
        else if (vt_cli_flag(prog, argc, argv, &i, "--bin-dir", &v))
            o->bin_dir = v;
        else if (vt_cli_flag(prog, argc, argv, &i, "--workers", &v))
            o->workers = (int)vt_cli_u64(prog, "--workers", v, 0, 16);
        else if (vt_cli_flag(prog, argc, argv, &i, "--verifiers", &v))
            o->verifiers = (int)vt_cli_u64(prog, "--verifiers", v, 0, 16);
        else if (vt_cli_flag(prog, argc, argv, &i, "--agents", &v))
            o->agents = (int)vt_cli_u64(prog, "--agents", v, 1, LD_MAX_KEYS);
        else if (vt_cli_flag(prog, argc, argv, &i, "--worker-slots", &v))
            o->worker_slots = (int)vt_cli_u64(prog, "--worker-slots", v, 1, 4096);
        else if (vt_cli_flag(prog, argc, argv, &i, "--worker-threads", &v))
            o->worker_threads = (int)vt_cli_u64(prog, "--worker-threads", v, 1, 256);
        else if (vt_cli_flag(prog, argc, argv, &i, "--verifier-threads", &v))
            o->verifier_threads = (int)vt_cli_u64(prog, "--verifier-threads", v, 1, 256);
        else if (vt_cli_flag(prog, argc, argv, &i, "--verifier-batch", &v))
            o->verifier_batch = (int)vt_cli_u64(prog, "--verifier-batch", v, 1, 256);
        else if (vt_cli_flag(prog, argc, argv, &i, "--concurrency", &v))
            o->concurrency = (int)vt_cli_u64(prog, "--concurrency", v, 1, 1000);
        else if (vt_cli_flag(prog, argc, argv, &i, "--stages", &v))
            o->stages_every = (int)vt_cli_u64(prog, "--stages", v, 0, 1000000);
        else if (vt_cli_flag(prog, argc, argv, &i, "--connections", &v))
            o->connections = (int)vt_cli_u64(prog, "--connections", v, 1, 1000);
        else if (vt_cli_flag(prog, argc, argv, &i, "--rate", &v))
            o->rate = (double)vt_cli_u64(prog, "--rate", v, 1, 10000000);
        else if (vt_cli_flag(prog, argc, argv, &i, "--duration", &v))
            o->duration_s = duration_flag("--duration", v, 0.1, MAX_DURATION_S);
        else if (vt_cli_flag(prog, argc, argv, &i, "--warmup", &v))
            o->warmup_s = duration_flag("--warmup", v, 0, 60);
        else if (vt_cli_flag(prog, argc, argv, &i, "--job-timeout", &v))
            o->job_timeout_s = duration_flag("--job-timeout", v, 0.1, 600);
        else if (vt_cli_flag(prog, argc, argv, &i, "--count", &v))
            o->count = vt_cli_u64(prog, "--count", v, 1, MAX_COUNT);
        else if (vt_cli_flag(prog, argc, argv, &i, "--prompt-tokens", &v))
            o->prompt_tokens = (uint32_t)vt_cli_u64(prog, "--prompt-tokens", v, 1, 4096);
        else if (vt_cli_flag(prog, argc, argv, &i, "--max-tokens", &v)) {
            o->max_tokens = (uint32_t)vt_cli_u64(prog, "--max-tokens", v, 1, 4096);
            set_max = 1;
        } else
            vt_cli_usage_error(prog, "unknown argument '%s'", a);
    }
    if (!set_max)
        o->max_tokens = o->prompt_tokens;
    if (o->spawn == !!o->url)
        vt_cli_usage_error(prog, "give exactly one of --spawn and --url");
    if (o->url && !loopback_url(o->url))
        vt_cli_usage_error(prog,
                           "--url '%s': benchmarks only talk to loopback (tcp://127.0.0.1:PORT, "
                           "tcp://[::1]:PORT, tcp://localhost:PORT) or ipc://PATH",
                           o->url);
    if (o->model && (!*o->model || strlen(o->model) > VT_MODEL_NAME_MAX))
        vt_cli_usage_error(prog, "--model: a name of 1..%u bytes or a sha256 in hex",
                           VT_MODEL_NAME_MAX);
    if (o->url && o->n_keys == 0) {
        const char *k = getenv("VERITY_API_KEY");
        if (!k || !*k)
            vt_cli_usage_error(prog, "--url needs --api-key (or VERITY_API_KEY)");
        o->keys[o->n_keys++] = k;
    }
    if (o->spawn && o->n_keys)
        vt_cli_usage_error(prog, "--api-key is for --url (--spawn registers its own agents)");
    if (o->spawn && o->model)
        vt_cli_usage_error(prog, "--model is for --url (with --spawn use --model-file)");
    if (o->url && (o->result_ttl_s || o->n_redis_config))
        vt_cli_usage_error(prog, "--result-ttl and --redis-config are for --spawn");
    if (o->identity && o->model_file)
        vt_cli_usage_error(prog, "give at most one of --identity and --model-file");
    if (o->spawn && !o->model_file)
        o->identity = 1;
    /* The identity model does no work, so the daemons' defaults (8 slots, 8
     * replays per batch: sized for a real model's KV cache and prefill)
     * would only cap the node batches and make every job wait for a fetch
     * round trip. A GGUF keeps the daemons' own defaults. */
    if (o->spawn && o->identity && o->worker_slots == 0)
        o->worker_slots = LD_IDENTITY_BATCH;
    if (o->spawn && o->identity && o->verifier_batch == 0)
        o->verifier_batch = LD_IDENTITY_BATCH;
    if (o->spawn && o->workers == 0)
        vt_cli_usage_error(prog, "--spawn needs at least one worker");
    if (o->spawn && o->verifiers == 0 && !o->verify)
        o->verify = "none"; /* nothing could verify: say so instead of waiting forever */
    if (o->sweep && o->rate > 0)
        vt_cli_usage_error(prog, "--sweep and --curve find the rate themselves: leave out --rate");
}

/* ------------------------------------------------------------- reporting */

typedef struct phase {
    const char *name;
    ld_params p;
    ld_result *r;
    double proc_cpu[LS_MAX_PROCS]; /* spawn: CPU seconds per process in the window */
    double aof_rewrites;           /* spawn: Redis AOF rewrites started in the window; -1 unknown */
    double expired_keys;           /* spawn: keys Redis expired in the window (--result-ttl); -1 unknown */
    bool echo;                     /* run against the echo server: no cluster to measure */
} phase;

/* Redis's counters so far, -1 unknown: AOF rewrites (each writes the
 * whole data set from a forked child: what most often sets the open loop's
 * tail here) and keys expired (the steady state's deletes). */
typedef struct redis_counts {
    double rewrites, expired;
} redis_counts;

typedef struct mark_ctx {
    ls_cluster *cl;
    phase *ph;
    redis_counts at_start;
} mark_ctx;

static redis_counts redis_counters(const ls_cluster *cl)
{
    redis_counts c = {-1, -1};
    vt_redis *r = NULL;
    if (vt_redis_connect(&r, cl->redis_url, 1000, 1000, NULL) != 0)
        return c;
    c.rewrites = vt_bench_redis_info(r, "aof_rewrites");
    c.expired = vt_bench_redis_info(r, "expired_keys");
    vt_redis_close(r);
    return c;
}

static double since(double now, double then)
{
    return now >= 0 && then >= 0 ? now - then : -1;
}

static void mark(void *arg, int end)
{
    mark_ctx *m = arg;
    if (!end) {
        m->at_start = redis_counters(m->cl);
        ls_cpu_mark(m->cl);
        return;
    }
    for (int i = 0; i < m->cl->n_procs; i++)
        m->ph->proc_cpu[i] = ls_cpu_since(m->cl, i);
    redis_counts now = redis_counters(m->cl);
    m->ph->aof_rewrites = since(now.rewrites, m->at_start.rewrites);
    m->ph->expired_keys = since(now.expired, m->at_start.expired);
}

static void errors_line(const ld_result *r, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = 0;
    for (int at = 0; at < LD_AT__COUNT; at++)
        for (int k = 0; k < LD_CODES; k++)
            if (r->err[at][k] && n < cap)
                n += (size_t)snprintf(out + n, cap - n, "%s%s:%s %llu", n ? ", " : "",
                                      ld_at_name(at), vt_errname(-k),
                                      (unsigned long long)r->err[at][k]);
    if (r->dropped && n < cap)
        n += (size_t)snprintf(out + n, cap - n, "%sdropped arrivals %llu", n ? ", " : "",
                              (unsigned long long)r->dropped);
    if (r->unfinished && n < cap)
        snprintf(out + n, cap - n, "%sunfinished at stop %llu", n ? ", " : "",
                 (unsigned long long)r->unfinished);
    if (!out[0])
        snprintf(out, cap, "none");
}

static void print_phase(const char *label, const ld_result *r)
{
    char errs[600];
    errors_line(r, errs, sizeof errs);
    printf("  %-10s %9.0f jobs/s  (%llu in %.1f s)  latency ms: p50 %.2f  p90 %.2f  p99 %.2f  "
           "p99.9 %.2f  max %.2f\n",
           label, r->throughput, (unsigned long long)r->completed, r->window_s,
           load_hist_percentile(&r->hist, 50) / 1e3, load_hist_percentile(&r->hist, 90) / 1e3,
           load_hist_percentile(&r->hist, 99) / 1e3, load_hist_percentile(&r->hist, 99.9) / 1e3,
           (double)load_hist_max(&r->hist) / 1e3);
    printf("  %-10s errors: %s\n", "", errs);
}

static void print_stages(const ld_result *r)
{
    if (load_hist_count(&r->stage[LD_ST_QUEUED]) == 0)
        return;
    printf("  %-10s where the time went (%llu sampled jobs; ms, p50 / p99):", "",
           (unsigned long long)load_hist_count(&r->stage[LD_ST_QUEUED]));
    for (int s = 0; s < LD_ST__COUNT; s++)
        printf("%s %s %.0f / %.0f", s ? "," : "", ld_stage_name(s),
               load_hist_percentile(&r->stage[s], 50) / 1e3,
               load_hist_percentile(&r->stage[s], 99) / 1e3);
    printf("\n");
}

static void print_cpu(const phase *ph, const ls_cluster *cl)
{
    if (!cl || ph->r->completed == 0)
        return;
    double per = 1000.0 / (double)ph->r->completed;
    double total = ph->r->cpu_s;
    printf("  %-10s CPU seconds per 1000 jobs: bench %.3f", "", ph->r->cpu_s * per);
    for (int i = 0; i < cl->n_procs; i++) {
        printf(", %s %.3f", cl->procs[i].name, ph->proc_cpu[i] * per);
        total += ph->proc_cpu[i];
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    printf("\n  %-10s CPU busy: %.2f of %ld cores over the window", "",
           ph->r->window_s > 0 ? total / ph->r->window_s : 0, cpus);
    if (ph->aof_rewrites >= 0)
        printf("; Redis AOF rewrites started: %.0f", ph->aof_rewrites);
    if (ph->expired_keys > 0)
        printf(", keys expired: %.0f", ph->expired_keys);
    printf("\n");
}

static void json_phase(vt_json *j, const phase *ph, const ls_cluster *cl)
{
    const ld_result *r = ph->r;
    vt_json_obj_begin(j, NULL);
    vt_json_str(j, "name", ph->name);
    vt_json_str(j, "mode", ph->p.mode == LD_OPEN ? "open" : "closed");
    vt_json_int(j, "concurrency", ph->p.concurrency);
    vt_json_int(j, "connections", ph->p.connections ? ph->p.connections : ph->p.concurrency);
    if (ph->p.mode == LD_OPEN)
        vt_json_num(j, "rate_target_jobs_s", ph->p.rate);
    vt_json_num(j, "window_s", r->window_s);
    vt_json_int(j, "completed", (int64_t)r->completed);
    vt_json_int(j, "started", (int64_t)r->started);
    vt_json_num(j, "throughput_jobs_s", r->throughput);
    vt_json_obj_begin(j, "latency_ms");
    vt_json_num(j, "p50", load_hist_percentile(&r->hist, 50) / 1e3);
    vt_json_num(j, "p90", load_hist_percentile(&r->hist, 90) / 1e3);
    vt_json_num(j, "p99", load_hist_percentile(&r->hist, 99) / 1e3);
    vt_json_num(j, "p99_9", load_hist_percentile(&r->hist, 99.9) / 1e3);
    vt_json_num(j, "max", (double)load_hist_max(&r->hist) / 1e3);
    vt_json_num(j, "mean", load_hist_mean(&r->hist) / 1e3);
    vt_json_obj_end(j);
    vt_json_int(j, "errors_total", (int64_t)r->errors);
    vt_json_obj_begin(j, "errors");
    for (int at = 0; at < LD_AT__COUNT; at++)
        for (int k = 0; k < LD_CODES; k++)
            if (r->err[at][k]) {
                char key[64];
                snprintf(key, sizeof key, "%s:%s", ld_at_name(at), vt_errname(-k));
                vt_json_int(j, key, (int64_t)r->err[at][k]);
            }
    vt_json_obj_end(j);
    vt_json_int(j, "dropped", (int64_t)r->dropped);
    vt_json_int(j, "backlog_max", (int64_t)r->backlog_max);
    vt_json_int(j, "unfinished", (int64_t)r->unfinished);
    if (load_hist_count(&r->stage[LD_ST_QUEUED]) > 0) {
        vt_json_obj_begin(j, "stages_ms");
        for (int s = 0; s < LD_ST__COUNT; s++) {
            vt_json_obj_begin(j, ld_stage_name(s));
            vt_json_int(j, "n", (int64_t)load_hist_count(&r->stage[s]));
            vt_json_num(j, "p50", load_hist_percentile(&r->stage[s], 50) / 1e3);
            vt_json_num(j, "p99", load_hist_percentile(&r->stage[s], 99) / 1e3);
            vt_json_num(j, "mean", load_hist_mean(&r->stage[s]) / 1e3);
            vt_json_obj_end(j);
        }
        vt_json_obj_end(j);
    }
    vt_json_obj_begin(j, "cpu_s");
    vt_json_num(j, "bench", r->cpu_s);
    for (int i = 0; cl && i < cl->n_procs; i++)
        vt_json_num(j, cl->procs[i].name, ph->proc_cpu[i]);
    vt_json_obj_end(j);
    if (cl && ph->aof_rewrites >= 0)
        vt_json_num(j, "redis_aof_rewrites", ph->aof_rewrites);
    if (cl && ph->expired_keys >= 0)
        vt_json_int(j, "redis_expired_keys", (int64_t)ph->expired_keys);
    vt_json_obj_end(j);
}

/* ------------------------------------------------------------------ main */

static int run_phase(const load_opts *o, const ld_target *t, phase *ph, ls_cluster *cl)
{
    vt_errinfo ei = {0};
    mark_ctx mc = {cl, ph, {-1, -1}};
    if (cl) {
        ph->p.mark = mark;
        ph->p.mark_arg = &mc;
    }
    fflush(stdout); /* keep stdout and the stderr progress lines in order */
    ph->p.label = ph->name;
    ph->p.progress = !o->quiet;
    int rv = ld_run(t, &ph->p, &g_stop, ph->r, &ei);
    ph->p.mark = NULL;
    ph->p.mark_arg = NULL;
    if (rv)
        fprintf(stderr, "%s: %s: %s\n", prog, ph->name, vt_errinfo_msg(&ei));
    return rv;
}

/* The same agents against the echo server (ld_echo) in this process, as
 * `base` in `mode`, briefly: the ceiling, and the half rate's baseline. */
static int run_echo(const load_opts *o, const ld_target *t, const ld_params *base, ld_mode mode,
                    phase *ph, char *tmpdir)
{
    ph->p = *base;
    ph->p.mode = mode;
    ph->p.duration_s = o->duration_s < CEILING_S_MAX ? o->duration_s : CEILING_S_MAX;
    ph->p.warmup_s = o->warmup_s < 0.5 ? o->warmup_s : 0.5;
    ph->p.stages_every = 0; /* the echo server has no job states */
    ph->echo = true;
    char url[320];
    snprintf(url, sizeof url, "ipc://%s/echo.ipc", tmpdir);
    ld_echo *e = NULL;
    vt_errinfo ei = {0};
    int rv = ld_echo_start(url, t->max_tokens, &e, &ei);
    if (rv) {
        fprintf(stderr, "%s: %s: %s\n", prog, ph->name, vt_errinfo_msg(&ei));
        return rv;
    }
    ld_target et = *t;
    et.url = url;
    rv = run_phase(o, &et, ph, NULL);
    ld_echo_stop(e);
    return rv;
}

/* Everything the summary and the JSON report need. */
typedef struct report {
    const load_opts *o;
    const ld_target *t;
    const ls_cluster *cl; /* NULL with --url */
    const phase *ph;
    int n_ph;
    const phase *main_ph, *ceil_ph, *half_ph, *half_echo_ph;
    const phase *curve[N_CURVE + 1]; /* --curve: the open loops by rate, half_ph among them */
    int n_curve;
    char cpu[256];
    double load_start, load_end;
} report;

/* The target: a spawned cluster (*clp set) or --url. */
static int start_target(load_opts *o, ld_target *t, ls_cluster *cl, ls_cluster **clp,
                        char model_hex[72], char bindir[512])
{
    *clp = NULL;
    if (!o->spawn) {
        t->url = o->url;
        for (int i = 0; i < o->n_keys; i++)
            t->api_keys[i] = o->keys[i];
        t->n_keys = o->n_keys;
        if (!o->model) {
            uint8_t sha[32];
            vt_identity_hash(sha);
            vt_hex(sha, 32, model_hex);
            o->model = model_hex;
        }
        t->model = o->model;
        return 0;
    }
    if (!o->bin_dir) {
        if (ls_self_dir(bindir, 512) != 0) {
            fprintf(stderr, "%s: cannot find my own directory: give --bin-dir\n", prog);
            return 1;
        }
        o->bin_dir = bindir;
    }
    ls_params sp = {0};
    sp.bin_dir = o->bin_dir;
    sp.workers = o->workers;
    sp.verifiers = o->verifiers;
    sp.identity = o->identity;
    sp.model = o->model_file;
    sp.worker_slots = o->worker_slots;
    sp.worker_threads = o->worker_threads;
    sp.verifier_threads = o->verifier_threads;
    sp.verifier_batch = o->verifier_batch;
    sp.agents = o->agents;
    sp.keep = o->keep;
    sp.log_level = o->log_level;
    sp.result_ttl_s = o->result_ttl_s;
    memcpy(sp.redis_config, o->redis_config, sizeof sp.redis_config);
    sp.n_redis_config = o->n_redis_config;
    fprintf(stderr, "starting redis-server, verity-scheduler, %d worker%s, %d verifier%s ...\n",
            o->workers, o->workers == 1 ? "" : "s", o->verifiers, o->verifiers == 1 ? "" : "s");
    vt_errinfo ei = {0};
    if (ls_start(cl, &sp, &ei) != 0) {
        fprintf(stderr, "%s: cluster: %s\n", prog, vt_errinfo_msg(&ei));
        return 1;
    }
    *clp = cl;
    t->url = cl->agent_url;
    for (int i = 0; i < cl->n_keys; i++)
        t->api_keys[i] = cl->keys[i];
    t->n_keys = cl->n_keys;
    t->model = cl->model;
    return 0;
}

static double closed_rate(const report *rp)
{
    return rp->main_ph->p.mode == LD_CLOSED ? rp->main_ph->r->throughput : 0;
}

/* An open loop at `fraction` of the closed loop's rate. */
static int run_fraction(const load_opts *o, const ld_target *t, ls_cluster *cl,
                        const phase *closed, double fraction, const char *name, phase *ph)
{
    ph->name = name;
    ph->p = closed->p;
    ph->p.mode = LD_OPEN;
    ph->p.rate = closed->r->throughput * fraction;
    /* Room for bursts: Poisson arrivals bunch up. */
    ph->p.concurrency = o->concurrency * 4 > 1000 ? 1000 : o->concurrency * 4;
    printf("\nopen loop at %.0f%% of the closed-loop rate: %.0f jobs/s (Poisson arrivals)\n",
           100 * fraction, ph->p.rate);
    int rv = run_phase(o, t, ph, cl);
    if (rv == 0) {
        print_phase("scheduler", ph->r);
        print_stages(ph->r);
        print_cpu(ph, cl);
    }
    return rv;
}

static int by_rate(const void *a, const void *b)
{
    double x = (*(const phase *const *)a)->p.rate, y = (*(const phase *const *)b)->p.rate;
    return x < y ? -1 : x > y;
}

/* The highest rate of the curve whose p99 met the target (0: none). */
static double p99_met_up_to(const report *rp)
{
    double best = 0;
    for (int i = 0; i < rp->n_curve; i++)
        if (load_hist_percentile(&rp->curve[i]->r->hist, 99) / 1e3 < TARGET_P99_MS &&
            rp->curve[i]->r->throughput > best)
            best = rp->curve[i]->r->throughput;
    return best;
}

/* --curve: the open loops side by side, by rate. */
static void print_curve(report *rp)
{
    if (rp->n_curve < 2)
        return;
    qsort(rp->curve, (size_t)rp->n_curve, sizeof rp->curve[0], by_rate);
    double max_rate = closed_rate(rp);
    printf("\nlatency against load (open loops; the closed loop reached %.0f jobs/s):\n"
           "  %10s %7s %9s %9s %9s %9s\n", max_rate, "jobs/s", "of max", "p50 ms", "p99 ms",
           "p99.9 ms", "errors");
    for (int i = 0; i < rp->n_curve; i++) {
        const ld_result *r = rp->curve[i]->r;
        printf("  %10.0f %6.0f%% %9.2f %9.2f %9.2f %9llu\n", r->throughput,
               max_rate > 0 ? 100 * r->throughput / max_rate : 0,
               load_hist_percentile(&r->hist, 50) / 1e3, load_hist_percentile(&r->hist, 99) / 1e3,
               load_hist_percentile(&r->hist, 99.9) / 1e3, (unsigned long long)r->errors);
    }
}

static void print_targets(const report *rp)
{
    printf("\nload average (1 min) before %.2f, after %.2f on %ld CPUs: other work on the machine\n"
           "takes CPU from every process measured here\n",
           rp->load_start, rp->load_end, sysconf(_SC_NPROCESSORS_ONLN));
    printf("\ntargets (measured, not asserted):\n");
    double max_rate = closed_rate(rp);
    if (max_rate > 0)
        printf("  >= %.0f jobs/s end to end: %.0f jobs/s  %s\n", TARGET_JOBS_S, max_rate,
               max_rate >= TARGET_JOBS_S ? "met" : "MISSED");
    if (rp->half_ph) {
        double p99 = load_hist_percentile(&rp->half_ph->r->hist, 99) / 1e3;
        printf("  p99 < %.0f ms at half the max rate (%.0f jobs/s): %.2f ms  %s", TARGET_P99_MS,
               rp->half_ph->p.rate, p99, p99 < TARGET_P99_MS ? "met" : "MISSED");
        if (rp->half_echo_ph)
            printf(" (the bench and transport alone: %.2f ms)",
                   load_hist_percentile(&rp->half_echo_ph->r->hist, 99) / 1e3);
        printf("\n");
    } else {
        printf("  p99 at half the max rate: run with --sweep\n");
    }
    /* The wording, "10,000 jobs/s ... and p99 under 5 ms at half
     * that rate", read as half of the 10,000 (the max-rate line above is
     * the stricter reading): an open loop run at that rate says so. */
    const phase *m = rp->main_ph;
    double half_target = TARGET_JOBS_S / 2;
    if (m->p.mode == LD_OPEN && m->p.rate >= 0.98 * half_target && m->p.rate <= 1.02 * half_target) {
        double p99 = load_hist_percentile(&m->r->hist, 99) / 1e3;
        printf("  p99 < %.0f ms at half the %.0f jobs/s target (%.0f jobs/s offered, %.0f done): "
               "%.2f ms  %s\n",
               TARGET_P99_MS, TARGET_JOBS_S, m->p.rate, m->r->throughput, p99,
               p99 < TARGET_P99_MS ? "met" : "MISSED");
    }
    if (rp->n_curve > 1) {
        double up_to = p99_met_up_to(rp);
        if (up_to > 0)
            printf("  highest measured rate with p99 < %.0f ms: %.0f jobs/s (%.0f%% of the max)\n",
                   TARGET_P99_MS, up_to, max_rate > 0 ? 100 * up_to / max_rate : 0);
        else
            printf("  p99 < %.0f ms at none of the measured rates\n", TARGET_P99_MS);
    }
    /* A fresh cluster's seconds are not its steady state: say so where a
     * figure could be read as one (docs/benchmarks.md, "steady state"). */
    if (rp->cl && !rp->o->result_ttl_s)
        printf("  (a fresh cluster: no result expired, so Redis's data set only grew and its AOF\n"
               "  rewrites were its first; --result-ttl S with a --duration of minutes measures\n"
               "  the steady state)\n");
}

static void write_json(FILE *jf, const report *rp)
{
    const load_opts *o = rp->o;
    char date[32];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    vt_json j;
    vt_json_init(&j, jf);
    vt_json_obj_begin(&j, NULL);
    vt_json_str(&j, "bench", "load");
    vt_json_str(&j, "date", date);
    vt_json_obj_begin(&j, "machine");
    vt_json_str(&j, "cpu", rp->cpu);
    vt_json_int(&j, "cpus", sysconf(_SC_NPROCESSORS_ONLN));
    vt_json_num(&j, "loadavg_1m_start", rp->load_start);
    vt_json_num(&j, "loadavg_1m_end", rp->load_end);
    vt_json_obj_end(&j);
    vt_json_obj_begin(&j, "setup");
    vt_json_bool(&j, "spawn", o->spawn);
    if (o->spawn) {
        vt_json_int(&j, "workers", o->workers);
        vt_json_int(&j, "verifiers", o->verifiers);
        vt_json_bool(&j, "identity", o->identity);
        vt_json_int(&j, "worker_slots", o->worker_slots);
        vt_json_int(&j, "verifier_batch", o->verifier_batch);
        vt_json_str(&j, "redis", "unix socket, appendonly yes, appendfsync always");
        if (o->result_ttl_s)
            vt_json_int(&j, "result_ttl_s", o->result_ttl_s);
        vt_json_obj_begin(&j, "redis_config");
        for (int i = 0; i < o->n_redis_config; i++)
            vt_json_str(&j, o->redis_config[i][0], o->redis_config[i][1]);
        vt_json_obj_end(&j);
    }
    vt_json_str(&j, "model", rp->t->model);
    vt_json_str(&j, "verify", o->verify ? o->verify : "default");
    vt_json_str(&j, "delivery", o->delivery ? o->delivery : "verified");
    vt_json_bool(&j, "submit_wait", o->submit_wait);
    vt_json_int(&j, "prompt_tokens", o->prompt_tokens);
    vt_json_int(&j, "max_tokens", o->max_tokens);
    vt_json_obj_end(&j);
    vt_json_arr_begin(&j, "runs");
    for (int i = 0; i < rp->n_ph; i++)
        json_phase(&j, &rp->ph[i], rp->ph[i].echo ? NULL : rp->cl);
    vt_json_arr_end(&j);
    double max_rate = closed_rate(rp);
    if (rp->ceil_ph && rp->ceil_ph->r->throughput > 0 && max_rate > 0)
        vt_json_num(&j, "scheduler_over_ceiling", max_rate / rp->ceil_ph->r->throughput);
    vt_json_obj_begin(&j, "targets");
    vt_json_num(&j, "jobs_s", TARGET_JOBS_S);
    vt_json_num(&j, "p99_ms_at_half_rate", TARGET_P99_MS);
    if (max_rate > 0)
        vt_json_bool(&j, "jobs_s_met", max_rate >= TARGET_JOBS_S);
    if (rp->half_ph)
        vt_json_bool(&j, "p99_met",
                     load_hist_percentile(&rp->half_ph->r->hist, 99) / 1e3 < TARGET_P99_MS);
    if (rp->n_curve > 1)
        vt_json_num(&j, "p99_met_up_to_jobs_s", p99_met_up_to(rp));
    vt_json_obj_end(&j);
    vt_json_obj_end(&j);
}

int vt_bench_load(int argc, char **argv)
{
    load_opts o;
    phase ph[N_PHASES] = {{0}};
    for (size_t i = 0; i < sizeof ph / sizeof ph[0]; i++)
        ph[i].aof_rewrites = ph[i].expired_keys = -1;
    int n_ph = 0;
    parse(argc, argv, &o);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (vt_protocol_init() != 0) {
        fprintf(stderr, "%s: libsodium failed to start\n", prog);
        return 1;
    }
    FILE *jf = NULL;
    if (o.json && !(jf = fopen(o.json, "w"))) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, o.json, strerror(errno));
        return 1;
    }

    /* A private dir for the echo server's socket. */
    char tmpdir[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/verity-bench-echo-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "%s: mkdtemp: %s\n", prog, strerror(errno));
        if (jf)
            fclose(jf);
        return 1;
    }

    ld_target t = {0};
    static ls_cluster cl;
    ls_cluster *clp = NULL;
    report rp = {.o = &o, .t = &t, .ph = ph};
    char model_hex[72], bindir[512];
    int rv = start_target(&o, &t, &cl, &clp, model_hex, bindir);
    if (rv)
        goto out;
    rp.cl = clp;
    vt_bench_machine(rp.cpu, sizeof rp.cpu, &rp.load_start);
    t.prompt_tokens = o.prompt_tokens;
    t.max_tokens = o.max_tokens;
    t.verify = o.verify;
    t.delivery = o.delivery;
    t.submit_wait = o.submit_wait;

    printf("machine: %s, %ld CPUs, load average %.2f before the run\n", rp.cpu,
           sysconf(_SC_NPROCESSORS_ONLN), rp.load_start);
    printf("verity-bench load: %s, verify=%s, delivery=%s, %u prompt / %u output tokens\n",
           o.spawn ? "spawned cluster" : o.url, o.verify ? o.verify : "(scheduler default)",
           o.delivery ? o.delivery : "verified", o.prompt_tokens, o.max_tokens);
    if (o.spawn) {
        char slots[32] = "default", batch[32] = "default";
        if (o.worker_slots)
            snprintf(slots, sizeof slots, "%d", o.worker_slots);
        if (o.verifier_batch)
            snprintf(batch, sizeof batch, "%d", o.verifier_batch);
        printf("  cluster: redis (unix socket, AOF appendfsync always), scheduler, %d %s worker%s "
               "(slots %s), %d verifier%s (batch %s), %d agent keys; all on ipc:// in %s\n",
               o.workers, o.identity ? "identity" : "model", o.workers == 1 ? "" : "s", slots,
               o.verifiers, o.verifiers == 1 ? "" : "s", batch, cl.n_keys, cl.dir);
        if (o.result_ttl_s)
            printf("  results expire after %d s (--result-ttl)\n", o.result_ttl_s);
        for (int i = 0; i < o.n_redis_config; i++)
            printf("  redis: %s %s (--redis-config)\n", o.redis_config[i][0], o.redis_config[i][1]);
    }

    /* The phases: the main one, its ceiling, and (sweep) half its rate with
     * its baseline, then (curve) the other fractions. */
    for (size_t i = 0; i < N_PHASES; i++) {
        ph[i].r = calloc(1, sizeof *ph[i].r);
        if (!ph[i].r) {
            rv = 1;
            goto out;
        }
    }
    phase *main_ph = &ph[n_ph++];
    rp.main_ph = main_ph;
    main_ph->name = o.rate > 0 ? "open" : "closed";
    main_ph->p.mode = o.rate > 0 ? LD_OPEN : LD_CLOSED;
    main_ph->p.rate = o.rate;
    main_ph->p.concurrency = o.concurrency;
    main_ph->p.connections = o.connections;
    main_ph->p.warmup_s = o.warmup_s;
    main_ph->p.duration_s = o.duration_s;
    main_ph->p.count = o.count;
    main_ph->p.job_timeout_s = o.job_timeout_s;
    main_ph->p.drain_s = 10;
    main_ph->p.stages_every = o.stages_every;
    int conns = o.connections ? o.connections : o.concurrency;
    if (main_ph->p.mode == LD_OPEN)
        printf("\nopen loop: %.0f jobs/s (Poisson arrivals), at most %d in flight",
               o.rate, o.concurrency);
    else
        printf("\nclosed loop: %d agents", o.concurrency);
    printf(" on %d connection%s, %.1f s window after %.1f s warmup\n", conns,
           conns == 1 ? "" : "s", o.duration_s, o.warmup_s);
    if ((rv = run_phase(&o, &t, main_ph, clp)) != 0)
        goto out;
    print_phase("scheduler", main_ph->r);
    print_stages(main_ph->r);
    print_cpu(main_ph, clp);

    if (o.ceiling && !g_stop) {
        phase *c = &ph[n_ph++];
        rp.ceil_ph = c;
        c->name = "ceiling";
        /* closed: the ceiling is a maximum rate, whatever the main mode */
        if ((rv = run_echo(&o, &t, &main_ph->p, LD_CLOSED, c, tmpdir)) != 0)
            goto out;
        print_phase("ceiling", c->r);
        printf("  %-10s (same agents, closed loop, against a bare REP server on the "
               "scheduler's transport in this process on ipc://)\n", "");
        if (c->r->throughput > 0 && closed_rate(&rp) > 0)
            printf("  scheduler / ceiling = %.1f%%\n", 100.0 * closed_rate(&rp) / c->r->throughput);
    }

    if (o.sweep && !g_stop && main_ph->r->throughput > 1) {
        phase *h = &ph[n_ph++];
        rp.half_ph = h;
        if ((rv = run_fraction(&o, &t, clp, main_ph, 0.5, "half-rate", h)) != 0)
            goto out;
        rp.curve[rp.n_curve++] = h;
        /* The same open loop against the echo server: what the bench and
         * the transport alone add to the latency at this rate. */
        if (o.ceiling && !g_stop) {
            phase *b = &ph[n_ph++];
            rp.half_echo_ph = b;
            b->name = "half-rate-echo";
            if ((rv = run_echo(&o, &t, &h->p, LD_OPEN, b, tmpdir)) != 0)
                goto out;
            print_phase("baseline", b->r);
            printf("  %-10s (the same open loop against the bare REP server: the bench and the "
                   "transport alone)\n", "");
        }
    }
    static char curve_names[N_CURVE][16];
    for (size_t i = 0; o.curve && rp.half_ph && !g_stop && i < N_CURVE; i++) {
        phase *c = &ph[n_ph++];
        snprintf(curve_names[i], sizeof curve_names[i], "open-%.0f%%", 100 * CURVE_FRACTIONS[i]);
        if ((rv = run_fraction(&o, &t, clp, main_ph, CURVE_FRACTIONS[i], curve_names[i], c)) != 0)
            goto out;
        rp.curve[rp.n_curve++] = c;
    }
    print_curve(&rp);

    rp.n_ph = n_ph;
    vt_bench_machine(rp.cpu, sizeof rp.cpu, &rp.load_end);
    print_targets(&rp);
    if (jf)
        write_json(jf, &rp);
out:
    if (clp)
        ls_stop(clp);
    char echo_path[300];
    snprintf(echo_path, sizeof echo_path, "%s/echo.ipc", tmpdir);
    unlink(echo_path);
    rmdir(tmpdir);
    for (size_t i = 0; i < N_PHASES; i++)
        free(ph[i].r);
    if (jf && fclose(jf) != 0) {
        fprintf(stderr, "%s: writing %s failed\n", prog, o.json);
        rv = 1;
    }
    if (g_stop)
        fprintf(stderr, "%s: interrupted\n", prog);
    return rv ? 1 : (g_stop ? 130 : 0);
}
