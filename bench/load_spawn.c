/* load_spawn.c - see load_spawn.h. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "load_spawn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "proc_spawn.h"
#include "vt_clock.h"
#include "vt_engine.h"
#include "vt_protocol.h"
#include "vt_redis.h"
#include "vt_registry.h"
#include "vt_worker.h"

int ls_self_dir(char *out, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", out, cap - 1);
    if (n <= 0)
        return -1;
    out[n] = 0;
    char *slash = strrchr(out, '/');
    if (!slash)
        return -1;
    *slash = 0;
    return 0;
}

/* GET path on 127.0.0.1:port: the HTTP status, or -1. */
static int http_status(int port, const char *path)
{
    char buf[512];
    return vt_bench_http_get(port, path, buf, sizeof buf);
}

/* Start one process, logging to <dir>/<name>.log, and track it. */
static int spawn(ls_cluster *c, const char *name, const char *path, char *const argv[],
                 vt_errinfo *ei)
{
    if (c->n_procs == LS_MAX_PROCS)
        return vt_fail(ei, VT_ERR_RANGE, "too many processes");
    char log[512];
    snprintf(log, sizeof log, "%s/%s.log", c->dir, name);
    pid_t pid;
    int rv = vt_bench_spawn(path, argv, log, &pid, ei);
    if (rv)
        return rv;
    ls_proc *p = &c->procs[c->n_procs++];
    memset(p, 0, sizeof *p);
    p->pid = pid;
    snprintf(p->name, sizeof p->name, "%s", name);
    return 0;
}

static int wait_ready(ls_cluster *c, ls_proc *p, int port, int timeout_ms, vt_errinfo *ei)
{
    uint64_t end = vt_mono_ms() + (uint64_t)timeout_ms;
    while (vt_mono_ms() < end) {
        int st;
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            p->pid = 0;
            return vt_fail(ei, VT_ERR_UNAVAILABLE, "%s exited during start-up: see %s/%s.log",
                           p->name, c->dir, p->name);
        }
        if (http_status(port, "/readyz") == 200)
            return 0;
        vt_sleep_ms(20);
    }
    return vt_fail(ei, VT_ERR_TIMEOUT, "%s not ready after %d ms: see %s/%s.log", p->name,
                   timeout_ms, c->dir, p->name);
}

/* The chart's redis.aofRewritePercentage and redis.aofRewriteMinSize
 * (docs/operations.md). */
#define JOURNAL_AOF_REWRITE_PCT "100"
#define JOURNAL_AOF_REWRITE_MIN "2gb"

static int start_redis(ls_cluster *c, const ls_params *p, vt_errinfo *ei)
{
    char rdir[300], sock[300];
    snprintf(rdir, sizeof rdir, "%s/redis", c->dir);
    snprintf(sock, sizeof sock, "%s/redis.sock", c->dir);
    if (mkdir(rdir, 0700) != 0)
        return vt_fail(ei, VT_ERR_IO, "%s: %s", rdir, strerror(errno));
    const char *bin = getenv("VT_REDIS_SERVER");
    /* Durable like production: every write in the AOF, fsynced before the
     * reply (Redis groups the fsyncs of one event-loop turn), and the rest
     * of the journal settings the chart gives Redis (docs/operations.md,
     * "Redis for the journal"): no LZF in the AOF rewrites' RDB preamble,
     * expiry in small steps (hz 100), a rewrite once the AOF has grown
     * JOURNAL_AOF_REWRITE_PCT% past its last one and to at least
     * JOURNAL_AOF_REWRITE_MIN. */
    char *argv[26 + 2 * LS_REDIS_CONFIG_MAX + 1] = {
        "redis-server", "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
        "--save", "", "--appendonly", "yes", "--appendfsync", "always",
        "--rdbcompression", "no", "--hz", "100",
        "--auto-aof-rewrite-percentage", JOURNAL_AOF_REWRITE_PCT,
        "--auto-aof-rewrite-min-size", JOURNAL_AOF_REWRITE_MIN,
        "--dir", rdir, "--daemonize", "no"};
    int k = 25;
    char names[LS_REDIS_CONFIG_MAX][80];
    for (int i = 0; i < p->n_redis_config; i++) {
        snprintf(names[i], sizeof names[i], "--%s", p->redis_config[i][0]);
        argv[k++] = names[i];
        argv[k++] = (char *)p->redis_config[i][1];
    }
    argv[k] = NULL;
    int rv = spawn(c, "redis", bin && *bin ? bin : "redis-server", argv, ei);
    if (rv)
        return rv;
    snprintf(c->redis_url, sizeof c->redis_url, "unix://%s", sock);
    uint64_t end = vt_mono_ms() + 10000;
    while (vt_mono_ms() < end) {
        vt_redis *r = NULL;
        rv = vt_redis_connect(&r, c->redis_url, 500, 500, NULL);
        if (rv == 0)
            rv = vt_redis_ping(r, NULL);
        vt_redis_close(r);
        if (rv == 0)
            return 0;
        int st;
        if (waitpid(c->procs[0].pid, &st, WNOHANG) == c->procs[0].pid) {
            c->procs[0].pid = 0;
            return vt_fail(ei, VT_ERR_UNAVAILABLE,
                           "redis-server did not start (is it installed? "
                           "scripts/install-deps.sh): see %s/redis.log",
                           c->dir);
        }
        vt_sleep_ms(20);
    }
    return vt_fail(ei, VT_ERR_TIMEOUT, "redis-server not answering: see %s/redis.log", c->dir);
}

static int new_key(const char *path, char hex[VT_NODE_ID_HEX + 1], vt_errinfo *ei)
{
    vt_keypair kp;
    int rv = vt_key_generate(&kp);
    if (!rv)
        rv = vt_key_save(path, &kp, true, ei);
    if (!rv)
        vt_node_id(kp.pk, hex);
    vt_key_wipe(&kp);
    return rv;
}

static int register_agents(ls_cluster *c, const ls_params *p, const uint8_t *secret,
                           vt_errinfo *ei)
{
    vt_redis *r = NULL;
    int rv = vt_redis_connect(&r, c->redis_url, 2000, 2000, ei);
    int n = p->agents < 1 ? 1 : p->agents > LD_MAX_KEYS ? LD_MAX_KEYS : p->agents;
    for (int i = 0; !rv && i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "bench-agent-%d", i);
        rv = vt_registry_agent_add(r, secret, name, NULL, c->keys[i], ei);
        if (!rv)
            c->n_keys = i + 1;
    }
    vt_redis_close(r);
    return rv;
}

static int start_node(ls_cluster *c, const ls_params *p, int verifier, int n, const char *url,
                      int *port, vt_errinfo *ei)
{
    char name[32], key[320], hex[VT_NODE_ID_HEX + 1];
    snprintf(name, sizeof name, "%s%d", verifier ? "verifier" : "worker", n);
    snprintf(key, sizeof key, "%s/%s.key", c->dir, name);
    int rv = new_key(key, hex, ei);
    if (rv)
        return rv;
    vt_redis *r = NULL;
    if ((rv = vt_redis_connect(&r, c->redis_url, 2000, 2000, ei)) == 0)
        /* Verifiers must not share the workers' operator: the scheduler never
         * lets an organisation check its own work. */
        rv = vt_registry_node_add(r, hex, verifier ? VT_ROLE_VERIFIER : VT_ROLE_WORKER,
                                  verifier ? "bench-audit" : "bench-compute", ei);
    vt_redis_close(r);
    if (rv)
        return rv;
    *port = vt_bench_free_port();
    char http[32], bin[600], slots[16], threads[16], batch[16];
    snprintf(http, sizeof http, "127.0.0.1:%d", *port);
    snprintf(bin, sizeof bin, "%s/%s", p->bin_dir, verifier ? "verity-verifier" : "verity-worker");
    char *argv[24] = {bin, "--scheduler", (char *)url, "--key", key, "--http", http,
                      "--log-level", (char *)(p->log_level ? p->log_level : "warn")};
    int k = 9;
    if (p->identity)
        argv[k++] = "--identity";
    else {
        argv[k++] = "--model";
        argv[k++] = (char *)p->model;
    }
    int thr = verifier ? p->verifier_threads : p->worker_threads;
    if (thr > 0) {
        snprintf(threads, sizeof threads, "%d", thr);
        argv[k++] = "--threads";
        argv[k++] = threads;
    }
    if (!verifier && p->worker_slots > 0) {
        snprintf(slots, sizeof slots, "%d", p->worker_slots);
        argv[k++] = "--slots";
        argv[k++] = slots;
    }
    if (verifier && p->verifier_batch > 0) {
        snprintf(batch, sizeof batch, "%d", p->verifier_batch);
        argv[k++] = "--batch";
        argv[k++] = batch;
    }
    argv[k] = NULL;
    if ((rv = spawn(c, name, bin, argv, ei)) != 0)
        return rv;
    snprintf(c->procs[c->n_procs - 1].http, sizeof c->procs[0].http, "%s", http);
    return 0;
}

static int model_hex(const ls_params *p, char out[72], vt_errinfo *ei)
{
    uint8_t sha[32];
    if (p->identity) {
        vt_identity_hash(sha);
    } else {
        vt_model *m = NULL;
        int rv = vt_model_load(p->model, &m, ei);
        if (rv)
            return rv;
        memcpy(sha, vt_model_get_info(m)->sha256, 32);
        vt_model_free(m);
    }
    vt_hex(sha, 32, out);
    return 0;
}

int ls_start(ls_cluster *c, const ls_params *p, vt_errinfo *ei)
{
    memset(c, 0, sizeof *c);
    c->keep = p->keep;
    const char *tmp = getenv("TMPDIR");
    snprintf(c->dir, sizeof c->dir, "%s/verity-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(c->dir))
        return vt_fail(ei, VT_ERR_IO, "mkdtemp %s: %s", c->dir, strerror(errno));
    int rv = model_hex(p, c->model, ei);
    if (!rv)
        rv = start_redis(c, p, ei);
    char secret_path[320], key_path[320];
    snprintf(secret_path, sizeof secret_path, "%s/auth.secret", c->dir);
    snprintf(key_path, sizeof key_path, "%s/scheduler.key", c->dir);
    uint8_t secret[VT_AUTH_SECRET_BYTES];
    char hex[VT_NODE_ID_HEX + 1];
    if (!rv && (rv = vt_auth_secret_generate(secret_path, ei)) == 0 &&
        (rv = vt_auth_secret_load(secret_path, secret, ei)) == 0)
        rv = register_agents(c, p, secret, ei);
    if (!rv)
        rv = new_key(key_path, hex, ei);
    if (rv)
        goto fail;

    char wurl[320], vurl[320], http[32], bin[600];
    snprintf(c->agent_url, sizeof c->agent_url, "ipc://%s/agent.ipc", c->dir);
    snprintf(wurl, sizeof wurl, "ipc://%s/worker.ipc", c->dir);
    snprintf(vurl, sizeof vurl, "ipc://%s/verifier.ipc", c->dir);
    int sport = vt_bench_free_port();
    snprintf(http, sizeof http, "127.0.0.1:%d", sport);
    snprintf(bin, sizeof bin, "%s/verity-scheduler", p->bin_dir);
    char *sargv[] = {bin, "--agent-listen", c->agent_url, "--worker-listen", wurl,
                     "--verifier-listen", vurl, "--http", http, "--redis", c->redis_url,
                     "--key", key_path, "--auth-secret", secret_path, "--log-level",
                     (char *)(p->log_level ? p->log_level : "warn"),
                     "--queue-max", "1000000", NULL, NULL, NULL};
    char ttl[24];
    if (p->result_ttl_s > 0) {
        snprintf(ttl, sizeof ttl, "%d", p->result_ttl_s);
        sargv[sizeof sargv / sizeof sargv[0] - 3] = "--result-ttl-s";
        sargv[sizeof sargv / sizeof sargv[0] - 2] = ttl;
    }
    if ((rv = spawn(c, "scheduler", bin, sargv, ei)) != 0 ||
        (rv = wait_ready(c, &c->procs[1], sport, 15000, ei)) != 0)
        goto fail;
    snprintf(c->procs[1].http, sizeof c->procs[1].http, "%s", http);
    int ports[LS_MAX_PROCS];
    int first = c->n_procs;
    for (int i = 0; i < p->workers && !rv; i++)
        rv = start_node(c, p, 0, i, wurl, &ports[c->n_procs], ei);
    for (int i = 0; i < p->verifiers && !rv; i++)
        rv = start_node(c, p, 1, i, vurl, &ports[c->n_procs], ei);
    for (int i = first; i < c->n_procs && !rv; i++)
        rv = wait_ready(c, &c->procs[i], ports[i], 60000, ei);
    if (!rv)
        return 0;
fail:
    c->keep = 1; /* keep the logs that explain the failure */
    ls_stop(c);
    return rv;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* SIGTERM procs [from, to) in reverse, wait up to grace_ms, then SIGKILL. */
static void stop_range(ls_cluster *c, int from, int to, int grace_ms)
{
    for (int i = to - 1; i >= from; i--)
        if (c->procs[i].pid > 0)
            kill(c->procs[i].pid, SIGTERM);
    uint64_t end = vt_mono_ms() + (uint64_t)grace_ms;
    for (int i = to - 1; i >= from; i--) {
        ls_proc *p = &c->procs[i];
        while (p->pid > 0) {
            int st;
            pid_t w = waitpid(p->pid, &st, WNOHANG);
            if (w == p->pid || (w < 0 && errno == ECHILD)) {
                if (w == p->pid && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
                    fprintf(stderr, "verity-bench: %s exited with status %d\n", p->name,
                            WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
                p->pid = 0;
            } else if (vt_mono_ms() >= end) {
                fprintf(stderr, "verity-bench: %s did not stop in %d ms: SIGKILL\n", p->name,
                        grace_ms);
                kill(p->pid, SIGKILL);
                waitpid(p->pid, &st, 0);
                p->pid = 0;
            } else {
                vt_sleep_ms(10);
            }
        }
    }
}

void ls_stop(ls_cluster *c)
{
    /* Nodes first (they hand back leases), then the scheduler, then Redis. */
    if (c->n_procs > 2)
        stop_range(c, 2, c->n_procs, 20000);
    if (c->n_procs > 1)
        stop_range(c, 1, 2, 10000);
    if (c->n_procs > 0)
        stop_range(c, 0, 1, 10000);
    if (!c->dir[0])
        return;
    if (c->keep)
        fprintf(stderr, "verity-bench: logs and data kept in %s\n", c->dir);
    else
        nftw(c->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* With their reaped children: Redis forks a child for every AOF rewrite,
 * which here (appendfsync always, ~3 KB of AOF per job) runs every few
 * seconds and used about 60% as much CPU again as Redis itself; left
 * out, it was load the figures did not show. A rewrite counts in the
 * window it ends in. Our daemons fork nothing. */
void ls_cpu_mark(ls_cluster *c)
{
    for (int i = 0; i < c->n_procs; i++)
        c->procs[i].cpu0 = c->procs[i].pid > 0 ? vt_bench_proc_tree_cpu(c->procs[i].pid) : 0;
}

double ls_cpu_since(const ls_cluster *c, int i)
{
    const ls_proc *p = &c->procs[i];
    return p->pid > 0 ? vt_bench_proc_tree_cpu(p->pid) - p->cpu0 : 0;
}
