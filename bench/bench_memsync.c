/* bench_memsync.c - `verity-bench memsync`: MemSync's search latency and
 * add throughput, against Redis baselines measured in the same run.
 *
 * It starts its own redis-server (AOF on, appendfsync everysec, loopback
 * port, temp dir) and verity-memsync (found next to verity-bench, rate
 * limit off), then:
 *   baseline  raw Redis PING round trip (p50) and pipelined SET rate, from
 *             this process over loopback;
 *   search    --items memories (--dim floats each, texts from a synthetic
 *             vocabulary) in one agent; one warm-up search fills memsync's
 *             cache; then --searches sequential hybrid searches (3 words +
 *             a vector, k=10): p50/p99 in ms (target p99 < 10 ms);
 *   adds      --adds adds spread round-robin over --agents agents from
 *             --clients threads: adds/s (target >= 5000/s).
 * Every loop is bounded in count and in --seconds. Figures are printed as
 * absolute numbers and as ratios to the baselines; --json FILE (or -)
 * writes them as JSON.
 */
#include <errno.h>
#include <stdatomic.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "cli_util.h"
#include "proc_spawn.h"
#include "vt_clock.h"
#include "vt_memsync.h"
#include "vt_redis.h"
#include "vt_registry.h"

static const char *prog = "verity-bench memsync";

typedef struct mopts {
    uint64_t items, dim, searches, adds, agents, clients, seconds, workers;
    uint64_t rate_limit; /* memsync --rate-limit (0: off, the default here) */
    const char *json, *redis_server;
    int unix_redis; /* talk to Redis over a unix socket instead of TCP */
    int sync;       /* adds from --clients blocking threads instead of one
                       async chain per agent */
} mopts;

/* ---- processes --------------------------------------------------------- */

static void stop(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

/* ---- data -------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    /* splitmix64: fixed seed, same data every run */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#define VOCAB 2000

static void make_text(uint64_t *s, char *buf, size_t n, int words)
{
    size_t off = 0;
    for (int w = 0; w < words && off + 16 < n; w++) {
        uint64_t r = rng_next(s) % VOCAB;
        /* Zipf-ish: square the uniform draw so low word numbers are common */
        r = (r * r) / VOCAB;
        off += (size_t)snprintf(buf + off, n - off, "%sw%llu", w ? " " : "", (unsigned long long)r);
    }
}

static void make_vec(uint64_t *s, float *v, uint64_t dim)
{
    for (uint64_t i = 0; i < dim; i++)
        v[i] = (float)((double)(rng_next(s) >> 11) / 9007199254740992.0 - 0.5);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

/* ---- phases ------------------------------------------------------------ */

/* The value of an unlabeled counter on memsync's /metrics (127.0.0.1:port),
 * or -1. */
static double memsync_metric(int port, const char *name)
{
    const size_t cap = (size_t)1 << 16;
    char *buf = malloc(cap);
    if (!buf)
        return -1;
    double v = -1;
    if (vt_bench_http_get(port, "/metrics", buf, cap) == 200) {
        char pat[128];
        snprintf(pat, sizeof pat, "\n%s ", name);
        const char *p = strstr(buf, pat);
        if (p)
            v = strtod(p + strlen(pat), NULL);
    }
    free(buf);
    return v;
}

/* One field of Redis's INFO commandstats ("cmdstat_x:calls=N,usec=N,..."),
 * for command `cmd`, or summed over all commands but the bench's own INFO
 * and CONFIG when cmd is NULL; 0 when unreadable. */
static double redis_commandstat(vt_redis *r, const char *cmd, const char *field)
{
    redisReply *rep = NULL;
    double sum = 0;
    if (vt_redis_command(r, &rep, NULL, "INFO commandstats") != 0)
        return 0;
    if (rep->type == REDIS_REPLY_STRING) {
        size_t fl = strlen(field), cl = cmd ? strlen(cmd) : 0;
        for (const char *p = strstr(rep->str, "cmdstat_"); p; p = strstr(p + 1, "cmdstat_")) {
            const char *name = p + 8, *colon = strchr(p, ':'), *eol = strchr(p, '\n');
            if (!colon)
                break;
            if (cmd ? ((size_t)(colon - name) != cl || strncmp(name, cmd, cl) != 0)
                    : (!strncmp(name, "info:", 5) || !strncmp(name, "config|", 7)))
                continue;
            for (const char *f = colon; f && (!eol || f < eol); f = strchr(f + 1, ',')) {
                if (!strncmp(f + 1, field, fl) && f[1 + fl] == '=') {
                    sum += strtod(f + 2 + fl, NULL);
                    break;
                }
            }
        }
    }
    freeReplyObject(rep);
    return sum;
}

typedef struct baseline {
    double ping_us_p50, set_per_s, ping_per_s;
} baseline;

static int measure_baseline(const char *url, baseline *b)
{
    vt_redis *r;
    vt_errinfo ei = {0};
    if (vt_redis_connect(&r, url, 2000, 10000, &ei) != 0)
        return -1;
    enum { NP = 2000, NS = 100000, BATCH = 1000 };
    static double lat[NP];
    double t0 = vt_bench_now();
    for (int i = 0; i < NP; i++) {
        double t = vt_bench_now();
        vt_redis_ping(r, NULL);
        lat[i] = (vt_bench_now() - t) * 1e6;
    }
    b->ping_per_s = NP / (vt_bench_now() - t0);
    b->ping_us_p50 = pct(lat, NP, 0.5);
    redisReply *reps[BATCH];
    t0 = vt_bench_now();
    for (int i = 0; i < NS; i += BATCH) {
        for (int j = 0; j < BATCH; j++)
            vt_redis_append(r, NULL, "SET bench:k%d %d", (i + j) % 10000, i + j);
        if (vt_redis_read_replies(r, reps, BATCH, NULL) != 0)
            return -1;
        vt_redis_free_replies(reps, BATCH);
    }
    b->set_per_s = NS / (vt_bench_now() - t0);
    vt_redis_command(r, &reps[0], NULL, "FLUSHALL");
    if (reps[0])
        freeReplyObject(reps[0]);
    vt_redis_close(r);
    return 0;
}

typedef struct adder {
    vt_memsync *c;
    const mopts *o;
    vt_mem_cred *creds;
    uint64_t first, step, done, failed;
    double deadline;
    int pin_agent;          /* -1: round-robin over all agents */
} adder;

static void *add_loop(void *arg)
{
    adder *a = arg;
    uint64_t seed = 1000 + a->first;
    float *v = malloc(a->o->dim * sizeof *v);
    char text[256];
    for (uint64_t i = a->first; i < (a->pin_agent >= 0 ? a->o->items : a->o->adds);
         i += a->step) {
        if (vt_bench_now() > a->deadline)
            break;
        make_text(&seed, text, sizeof text, 12);
        make_vec(&seed, v, a->o->dim);
        vt_mem_item it = {.type = VT_MEM_SEMANTIC, .importance = 0.5f, .text = text,
                          .embedding = v, .dim = (uint32_t)a->o->dim, .source = "bench"};
        const vt_mem_cred *cr = &a->creds[a->pin_agent >= 0 ? (uint64_t)a->pin_agent
                                                            : i % a->o->agents];
        if (vt_memsync_add(a->c, cr, &it, NULL, NULL, NULL) == 0)
            a->done++;
        else
            a->failed++;
    }
    free(v);
    return NULL;
}

/* Async mode: `nchains` chains, each one add in flight at a time (the
 * next add starts from the previous one's completion, on NNG's thread), as
 * an agent that waits for each acknowledgement would send them. */
typedef struct add_run {
    vt_memsync *c;
    const mopts *o;
    uint64_t total;
    double deadline;
    atomic_uint_fast64_t started, done, failed;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t active; /* chains still going */
} add_run;

typedef struct add_chain {
    add_run *run;
    const vt_mem_cred *cred;
    uint64_t seed;
    float *v;
} add_chain;

static void chain_next(add_chain *a);

static void chain_done(void *arg, int rv, uint64_t id, const vt_mem_head *head,
                       const vt_errinfo *ei)
{
    (void)id, (void)head, (void)ei;
    add_chain *a = arg;
    atomic_fetch_add(rv == 0 ? &a->run->done : &a->run->failed, 1);
    chain_next(a);
}

static void chain_next(add_chain *a)
{
    add_run *r = a->run;
    char text[256];
    while (vt_bench_now() <= r->deadline && atomic_fetch_add(&r->started, 1) < r->total) {
        make_text(&a->seed, text, sizeof text, 12);
        make_vec(&a->seed, a->v, r->o->dim);
        vt_mem_item it = {.type = VT_MEM_SEMANTIC, .importance = 0.5f, .text = text,
                          .embedding = a->v, .dim = (uint32_t)r->o->dim, .source = "bench"};
        if (vt_memsync_add_async(r->c, a->cred, &it, chain_done, a, NULL) == 0)
            return;
        atomic_fetch_add(&r->failed, 1);
    }
    pthread_mutex_lock(&r->mu);
    if (--r->active == 0)
        pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* `total` adds from `nchains` chains; chain k adds to creds[k % ncreds]. */
static uint64_t run_chains(vt_memsync *c, const mopts *o, const vt_mem_cred *creds,
                           uint64_t ncreds, uint64_t nchains, uint64_t total, double *secs,
                           uint64_t *failed)
{
    add_run r = {.c = c, .o = o, .total = total, .active = nchains};
    add_chain *ch = calloc(nchains, sizeof *ch);
    atomic_init(&r.started, 0);
    atomic_init(&r.done, 0);
    atomic_init(&r.failed, 0);
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    for (uint64_t k = 0; k < nchains; k++)
        ch[k] = (add_chain){&r, &creds[k % ncreds], 1000 + k, malloc(o->dim * sizeof(float))};
    double t0 = vt_bench_now();
    r.deadline = t0 + (double)o->seconds;
    for (uint64_t k = 0; k < nchains; k++)
        chain_next(&ch[k]);
    pthread_mutex_lock(&r.mu);
    while (r.active > 0)
        pthread_cond_wait(&r.cv, &r.mu);
    pthread_mutex_unlock(&r.mu);
    *secs = vt_bench_now() - t0;
    for (uint64_t k = 0; k < nchains; k++)
        free(ch[k].v);
    free(ch);
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);
    *failed = atomic_load(&r.failed);
    return atomic_load(&r.done);
}

static uint64_t run_adders(vt_memsync *c, const mopts *o, vt_mem_cred *creds, int pin,
                           double *secs, uint64_t *failed)
{
    adder *ad = calloc(o->clients, sizeof *ad);
    pthread_t *th = calloc(o->clients, sizeof *th);
    double t0 = vt_bench_now();
    for (uint64_t i = 0; i < o->clients; i++) {
        ad[i] = (adder){c, o, creds, i, o->clients, 0, 0, t0 + (double)o->seconds, pin};
        pthread_create(&th[i], NULL, add_loop, &ad[i]);
    }
    uint64_t done = 0;
    *failed = 0;
    for (uint64_t i = 0; i < o->clients; i++) {
        pthread_join(th[i], NULL);
        done += ad[i].done;
        *failed += ad[i].failed;
    }
    *secs = vt_bench_now() - t0;
    free(ad);
    free(th);
    return done;
}

int vt_bench_memsync(int argc, char **argv)
{
    mopts o = {.items = 10000, .dim = 384, .searches = 1000, .adds = 20000, .agents = 100,
               .clients = 8, .seconds = 60, .workers = 8, .json = NULL,
               .redis_server = "redis-server"};
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help")) {
            printf("usage: %s [--items N] [--dim N] [--searches N] [--adds N] [--agents N]\n"
                   "       [--clients N] [--workers N] [--seconds S] [--json FILE|-]\n"
                   "       [--redis-server PATH] [--redis-via tcp|unix] [--client async|sync]\n"
                   "       [--rate-limit N]  (memsync's per-agent limit; default 0 = off)\n"
                   "Defaults: 10000 items of 384 floats, 1000 searches, 20000 adds over 100\n"
                   "agents, memsync with 8 workers, 60 s per phase. --client async (default):\n"
                   "every agent sends its adds one after another, each after the previous\n"
                   "one's answer (vt_memsync_add_async), all agents at once; --client sync:\n"
                   "--clients threads (default 8) call vt_memsync_add round-robin over them.\n",
                   prog);
            return 0;
        }
        if (vt_cli_flag(prog, argc, argv, &i, "--items", &v))
            o.items = vt_cli_u64(prog, "--items", v, 1, 1000000);
        else if (vt_cli_flag(prog, argc, argv, &i, "--dim", &v))
            o.dim = vt_cli_u64(prog, "--dim", v, 1, VT_MEM_MAX_DIM);
        else if (vt_cli_flag(prog, argc, argv, &i, "--searches", &v))
            o.searches = vt_cli_u64(prog, "--searches", v, 1, 1000000);
        else if (vt_cli_flag(prog, argc, argv, &i, "--adds", &v))
            o.adds = vt_cli_u64(prog, "--adds", v, 1, 10000000);
        else if (vt_cli_flag(prog, argc, argv, &i, "--agents", &v))
            o.agents = vt_cli_u64(prog, "--agents", v, 1, 10000);
        else if (vt_cli_flag(prog, argc, argv, &i, "--clients", &v))
            o.clients = vt_cli_u64(prog, "--clients", v, 1, 256);
        else if (vt_cli_flag(prog, argc, argv, &i, "--workers", &v))
            o.workers = vt_cli_u64(prog, "--workers", v, 1, 256);
        else if (vt_cli_flag(prog, argc, argv, &i, "--seconds", &v))
            o.seconds = vt_cli_u64(prog, "--seconds", v, 1, 3600);
        else if (vt_cli_flag(prog, argc, argv, &i, "--json", &v))
            o.json = v;
        else if (vt_cli_flag(prog, argc, argv, &i, "--redis-server", &v))
            o.redis_server = v;
        else if (vt_cli_flag(prog, argc, argv, &i, "--rate-limit", &v))
            o.rate_limit = vt_cli_u64(prog, "--rate-limit", v, 0, 100000000);
        else if (vt_cli_flag(prog, argc, argv, &i, "--client", &v))
            o.sync = vt_cli_choice(prog, "--client", v, (const char *const[]){"async", "sync", NULL});
        else if (vt_cli_flag(prog, argc, argv, &i, "--redis-via", &v))
            o.unix_redis = vt_cli_choice(prog, "--redis-via", v, (const char *const[]){"tcp", "unix", NULL});
        else
            vt_cli_usage_error(prog, "unknown option '%s'", argv[i]);
    }

    /* temp dir, secret, binaries */
    char dir[] = "/tmp/vt-bench-memsync-XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "%s: mkdtemp: %s\n", prog, strerror(errno));
        return 1;
    }
    char self[PATH_MAX], msbin[PATH_MAX + 32], secret_path[PATH_MAX], log1[PATH_MAX],
        log2[PATH_MAX];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) {
        fprintf(stderr, "%s: cannot find my own path\n", prog);
        return 1;
    }
    self[sl] = 0;
    *strrchr(self, '/') = 0;
    snprintf(msbin, sizeof msbin, "%s/verity-memsync", self);
    if (access(msbin, X_OK) != 0) {
        fprintf(stderr, "%s: %s not found (build the memsync module)\n", prog, msbin);
        rmdir(dir);
        return 1;
    }
    snprintf(secret_path, sizeof secret_path, "%s/auth.secret", dir);
    snprintf(log1, sizeof log1, "%s/redis.log", dir);
    snprintf(log2, sizeof log2, "%s/memsync.log", dir);
    vt_errinfo ei = {0};
    uint8_t secret[32];
    if (vt_auth_secret_generate(secret_path, &ei) != 0 ||
        vt_auth_secret_load(secret_path, secret, &ei) != 0) {
        fprintf(stderr, "%s: %s\n", prog, vt_errinfo_msg(&ei));
        return 1;
    }
    int rport = vt_bench_free_port(), hport = vt_bench_free_port();
    char rports[16], url[PATH_MAX + 16], listen[PATH_MAX + 16], http[32], workers[16];
    snprintf(rports, sizeof rports, "%d", rport);
    char rsock[PATH_MAX];
    snprintf(rsock, sizeof rsock, "%s/redis.sock", dir);
    if (o.unix_redis)
        snprintf(url, sizeof url, "unix://%s", rsock);
    else
        snprintf(url, sizeof url, "redis://127.0.0.1:%d", rport);
    snprintf(listen, sizeof listen, "ipc://%s/memsync.ipc", dir);
    snprintf(http, sizeof http, "127.0.0.1:%d", hport);
    snprintf(workers, sizeof workers, "%llu", (unsigned long long)o.workers);
    char rate[24];
    snprintf(rate, sizeof rate, "%llu", (unsigned long long)o.rate_limit);
    char *rargv[] = {(char *)o.redis_server, "--port", rports, "--bind", "127.0.0.1",
                     "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
                     "--dir", dir, "--daemonize", "no", "--unixsocket", rsock, NULL};
    pid_t rpid = 0, mpid = 0;
    if (vt_bench_spawn(o.redis_server, rargv, log1, &rpid, &ei) != 0) {
        fprintf(stderr, "%s: %s\n", prog, vt_errinfo_msg(&ei));
        return 1;
    }
    vt_redis *r = NULL;
    int rv = -1;
    for (int i = 0; i < 200 && rv != 0; i++) {
        vt_sleep_ms(25);
        vt_redis_close(r);
        r = NULL;
        rv = vt_redis_connect(&r, url, 500, 5000, NULL);
        if (rv == 0)
            rv = vt_redis_ping(r, NULL);
    }
    if (rv != 0) {
        fprintf(stderr, "%s: redis-server did not start (log: %s)\n", prog, log1);
        stop(rpid);
        return 1;
    }
    char *margv[] = {msbin, "--listen", listen, "--http", http, "--redis", url, "--auth-secret",
                     secret_path, "--rate-limit", rate, "--workers", workers,
                     "--max-items", "1000000", "--log-level", "warn", NULL};
    if (vt_bench_spawn(msbin, margv, log2, &mpid, &ei) != 0) {
        fprintf(stderr, "%s: %s\n", prog, vt_errinfo_msg(&ei));
        stop(rpid);
        return 1;
    }

    baseline b;
    if (measure_baseline(url, &b) != 0) {
        fprintf(stderr, "%s: baseline failed\n", prog);
        stop(mpid);
        stop(rpid);
        return 1;
    }
    /* agents: 1 for the search corpus, o.agents for the add phase */
    vt_mem_cred *creds = calloc(o.agents + 1, sizeof *creds);
    char (*ids)[VT_AGENT_ID_BUFSZ] = calloc(o.agents + 1, sizeof *ids);
    char (*keys)[VT_API_KEY_BUFSZ] = calloc(o.agents + 1, sizeof *keys);
    for (uint64_t i = 0; i <= o.agents; i++) {
        if (vt_registry_agent_add(r, secret, "bench", ids[i], keys[i], &ei) != 0) {
            fprintf(stderr, "%s: agent: %s\n", prog, vt_errinfo_msg(&ei));
            stop(mpid);
            stop(rpid);
            return 1;
        }
        creds[i] = (vt_mem_cred){.agent = ids[i], .key = keys[i]};
    }
    vt_memsync *c;
    if (vt_memsync_open(&c, listen, 30000, &ei) != 0) {
        fprintf(stderr, "%s: %s\n", prog, vt_errinfo_msg(&ei));
        stop(mpid);
        stop(rpid);
        return 1;
    }
    /* wait until memsync answers */
    vt_mem_list l;
    bool up = false;
    for (int i = 0; i < 200 && !up; i++) {
        if (vt_memsync_list(c, &creds[0], NULL, 0, 1, &l, NULL) == 0) {
            vt_mem_list_clear(&l);
            up = true;
        } else {
            vt_sleep_ms(25);
        }
    }
    if (!up) {
        fprintf(stderr, "%s: verity-memsync did not answer (log: %s)\n", prog, log2);
        stop(mpid);
        stop(rpid);
        return 1;
    }

    /* search corpus: o.items into agent 0 (the last cred slot is agent 0) */
    double load_s;
    uint64_t failed;
    fprintf(stderr, "%s: loading %llu memories (%llu floats each)...\n", prog,
            (unsigned long long)o.items, (unsigned long long)o.dim);
    uint64_t loaded = o.sync ? run_adders(c, &o, creds + o.agents, 0, &load_s, &failed)
                             : run_chains(c, &o, creds + o.agents, 1, 64, o.items, &load_s, &failed);
    /* warm the cache, then measure */
    uint64_t seed = 42;
    float *qv = malloc(o.dim * sizeof *qv);
    char qt[128];
    double *lat = calloc(o.searches, sizeof *lat);
    size_t nlat = 0, nerr = 0;
    double cold_ms = 0;
    double deadline = vt_bench_now() + (double)o.seconds;
    for (uint64_t i = 0; i <= o.searches && vt_bench_now() < deadline; i++) {
        make_text(&seed, qt, sizeof qt, 3);
        make_vec(&seed, qv, o.dim);
        vt_mem_query q = {.text = qt, .vector = qv, .dim = (uint32_t)o.dim, .k = 10};
        vt_mem_hits h;
        double t = vt_bench_now();
        int srv = vt_memsync_search(c, &creds[o.agents], &q, &h, NULL);
        double ms = (vt_bench_now() - t) * 1e3;
        if (srv != 0) {
            nerr++;
            continue;
        }
        vt_mem_hits_clear(&h);
        if (i == 0)
            cold_ms = ms; /* the first search loads the cache */
        else
            lat[nlat++] = ms;
    }
    double p50 = pct(lat, nlat, 0.5), p99 = pct(lat, nlat, 0.99);

    /* adds over many agents */
    if (o.sync)
        fprintf(stderr, "%s: %llu adds over %llu agents from %llu blocking client threads...\n",
                prog, (unsigned long long)o.adds, (unsigned long long)o.agents,
                (unsigned long long)o.clients);
    else
        fprintf(stderr, "%s: %llu adds over %llu agents, each with one add in flight...\n", prog,
                (unsigned long long)o.adds, (unsigned long long)o.agents);
    double add_s;
    uint64_t add_failed;
    redisReply *rs = NULL;
    if (vt_redis_command(r, &rs, NULL, "CONFIG RESETSTAT") == 0)
        freeReplyObject(rs);
    double cpu0_r = vt_bench_proc_cpu(rpid), cpu0_m = vt_bench_proc_cpu(mpid), cpu0_c = vt_bench_proc_cpu(getpid());
    double groups0 = memsync_metric(hport, "verity_memsync_add_groups_total");
    double rewrites0 = vt_bench_redis_info(r, "aof_rewrites");
    uint64_t adds = o.sync ? run_adders(c, &o, creds, -1, &add_s, &add_failed)
                           : run_chains(c, &o, creds, o.agents, o.agents, o.adds, &add_s, &add_failed);
    double adds_per_s = (double)adds / add_s;
    /* CPU spent per add by each process: on a shared machine the wall-clock
     * rate depends on what else runs; this does not. */
    double na = adds ? (double)adds : 1;
    double us_r = (vt_bench_proc_cpu(rpid) - cpu0_r) / na * 1e6;
    double us_m = (vt_bench_proc_cpu(mpid) - cpu0_m) / na * 1e6;
    double us_c = (vt_bench_proc_cpu(getpid()) - cpu0_c) / na * 1e6;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double groups = memsync_metric(hport, "verity_memsync_add_groups_total") - groups0;
    double rewrites = vt_bench_redis_info(r, "aof_rewrites") - rewrites0;
    /* Redis's time inside commands (scripts included) during the adds: the
     * rest of its CPU per add is networking, AOF writes and the event loop */
    double script_us = redis_commandstat(r, "evalsha", "usec") / na;
    double calls = redis_commandstat(r, NULL, "calls") / na;

    printf("verity-bench memsync (loopback; redis over %s, AOF everysec; memsync %llu workers, "
           "rate limit %s)\n",
           o.unix_redis ? "a unix socket" : "TCP", (unsigned long long)o.workers,
           o.rate_limit ? rate : "off");
    printf("baseline: redis PING round trip p50 %.1f us (%.0f/s unpipelined), pipelined SET %.0f/s\n",
           b.ping_us_p50, b.ping_per_s, b.set_per_s);
    printf("corpus:   %llu memories x %llu floats loaded in %.2f s (%.0f adds/s, one agent), %llu failed\n",
           (unsigned long long)loaded, (unsigned long long)o.dim, load_s, (double)loaded / load_s,
           (unsigned long long)failed);
    printf("search:   %zu warm searches (k=10, 3 words + vector): p50 %.2f ms, p99 %.2f ms "
           "(target < 10 ms: %s); cold first search %.1f ms; %zu errors\n",
           nlat, p50, p99, p99 < 10.0 ? "met" : "MISSED", cold_ms, nerr);
    printf("          p99 = %.1f x redis PING round trip\n", p99 * 1e3 / b.ping_us_p50);
    printf("adds:     %llu single-item adds over %llu agents in %.2f s = %.0f adds/s "
           "(target >= 5000: %s), %llu failed\n",
           (unsigned long long)adds, (unsigned long long)o.agents, add_s, adds_per_s,
           adds_per_s >= 5000 ? "met" : "MISSED", (unsigned long long)add_failed);
    if (o.sync)
        printf("          client: %llu blocking threads (vt_memsync_add), round-robin over the agents\n",
               (unsigned long long)o.clients);
    else
        printf("          client: each agent one add in flight (vt_memsync_add_async), %llu in flight\n",
               (unsigned long long)o.agents);
    printf("          = %.3f x pipelined SET rate, %.2f x unpipelined PING rate\n",
           adds_per_s / b.set_per_s, adds_per_s / b.ping_per_s);
    printf("          CPU per add: redis %.0f us, memsync %.0f us, client %.0f us "
           "(%.0f us total: at most %.0f adds/s on %ld idle cores)\n",
           us_r, us_m, us_c, us_r + us_m + us_c, (double)ncpu * 1e6 / (us_r + us_m + us_c), ncpu);
    if (groups > 0)
        printf("          memsync committed them in %.0f groups (%.1f adds per Redis round trip)\n",
               groups, (double)(adds + add_failed) / groups);
    printf("          redis: %.0f us per add inside the write script (%.1f commands per add, "
           "the script's own included), %.0f us outside it (network, AOF, event loop)\n",
           script_us, calls, us_r - script_us);
    if (rewrites > 0)
        printf("          redis rewrote its AOF %.0f time(s) during the adds (in a child process: "
               "its CPU is not in the figures above, but it shares the cores)\n", rewrites);

    if (o.json) {
        FILE *f = strcmp(o.json, "-") == 0 ? stdout : fopen(o.json, "w");
        if (!f) {
            fprintf(stderr, "%s: %s: %s\n", prog, o.json, strerror(errno));
        } else {
            vt_json j;
            vt_json_init(&j, f);
            vt_json_obj_begin(&j, NULL);
            vt_json_str(&j, "bench", "memsync");
            vt_json_obj_begin(&j, "config");
            vt_json_int(&j, "items", (int64_t)o.items);
            vt_json_int(&j, "dim", (int64_t)o.dim);
            vt_json_int(&j, "agents", (int64_t)o.agents);
            vt_json_int(&j, "clients", (int64_t)o.clients);
            vt_json_str(&j, "client", o.sync ? "sync" : "async");
            vt_json_int(&j, "rate_limit", (int64_t)o.rate_limit);
            vt_json_int(&j, "workers", (int64_t)o.workers);
            vt_json_str(&j, "redis_appendfsync", "everysec");
            vt_json_str(&j, "redis_via", o.unix_redis ? "unix" : "tcp");
            vt_json_obj_end(&j);
            vt_json_obj_begin(&j, "baseline");
            vt_json_num(&j, "redis_ping_us_p50", b.ping_us_p50);
            vt_json_num(&j, "redis_ping_per_s", b.ping_per_s);
            vt_json_num(&j, "redis_pipelined_set_per_s", b.set_per_s);
            vt_json_obj_end(&j);
            vt_json_obj_begin(&j, "search");
            vt_json_int(&j, "corpus_items", (int64_t)loaded);
            vt_json_int(&j, "searches", (int64_t)nlat);
            vt_json_int(&j, "errors", (int64_t)nerr);
            vt_json_num(&j, "p50_ms", p50);
            vt_json_num(&j, "p99_ms", p99);
            vt_json_num(&j, "cold_first_ms", cold_ms);
            vt_json_num(&j, "p99_over_ping", p99 * 1e3 / b.ping_us_p50);
            vt_json_bool(&j, "target_p99_lt_10ms", p99 < 10.0);
            vt_json_obj_end(&j);
            vt_json_obj_begin(&j, "adds");
            vt_json_int(&j, "adds", (int64_t)adds);
            vt_json_int(&j, "failed", (int64_t)add_failed);
            vt_json_num(&j, "seconds", add_s);
            vt_json_num(&j, "adds_per_s", adds_per_s);
            vt_json_num(&j, "over_pipelined_set", adds_per_s / b.set_per_s);
            vt_json_num(&j, "over_ping_rate", adds_per_s / b.ping_per_s);
            vt_json_bool(&j, "target_ge_5000", adds_per_s >= 5000);
            vt_json_num(&j, "cpu_us_redis", us_r);
            vt_json_num(&j, "cpu_us_memsync", us_m);
            vt_json_num(&j, "cpu_us_client", us_c);
            vt_json_num(&j, "cpu_us_redis_in_script", script_us);
            vt_json_num(&j, "redis_aof_rewrites", rewrites);
            vt_json_num(&j, "adds_per_group", groups > 0 ? (double)(adds + add_failed) / groups : 0);
            vt_json_obj_end(&j);
            vt_json_obj_end(&j);
            fputc('\n', f);
            if (f != stdout)
                fclose(f);
        }
    }
    vt_memsync_close(c);
    vt_redis_close(r);
    stop(mpid);
    stop(rpid);
    free(creds);
    free(ids);
    free(keys);
    free(qv);
    free(lat);
    /* leave nothing behind: the temp dir holds only our files */
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "%s: could not remove %s\n", prog, dir);
    return 0;
}
