/* sc_main.c - verity-scheduler: configuration, start-up, graceful drain.
 *
 * Flags and VERITY_* variables exactly as docs/configuration.md. SIGTERM
 * (or SIGINT): submits answer VT_ERR_CLOSED, no new compute leases are
 * handed out, jobs already leased get up to min(--lease-ms, 10 s) to finish
 * (verification of computed jobs continues), the journal is flushed, and the
 * process exits 0. Jobs still queued stay pending in Redis for the next start.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"
#include "vt_clock.h"
#include "vt_config.h"
#include "vt_http.h"
#include "vt_signal.h"

#define SC_DRAIN_MAX_MS 10000

static int parse_aliases(sched *s, const vt_strlist *l)
{
    s->cfg.aliases = l->n ? calloc(l->n, sizeof(sc_alias)) : NULL;
    if (l->n && !s->cfg.aliases)
        return VT_ERR_NOMEM;
    for (size_t i = 0; i < l->n; i++) {
        const char *a = l->items[i];
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : 0;
        if (!eq || nl == 0 || nl > VT_MODEL_NAME_MAX || strlen(eq + 1) != 64 ||
            vt_hex_decode(eq + 1, 64, s->cfg.aliases[i].sha256, 32) != 0) {
            fprintf(stderr, "verity-scheduler: --model-alias: '%s' is not NAME=SHA256 (64 hex chars)\n",
                    a);
            return VT_ERR_INVAL;
        }
        memcpy(s->cfg.aliases[i].name, a, nl);
        s->cfg.aliases[i].name[nl] = 0;
    }
    s->cfg.n_aliases = l->n;
    return 0;
}

/* --audit-rate: a probability (the share of verification tasks that get
 * an audit copy alongside). */
static int check_rate(const char *v, vt_errinfo *ei)
{
    char *end;
    double r = strtod(v, &end);
    if (end == v || *end || !(r >= 0.0 && r <= 1.0))
        return vt_fail(ei, VT_ERR_INVAL, "'%s' is not a number from 0 to 1", v);
    return 0;
}

static bool ready(void *arg, char *why, size_t whysz)
{
    sched *s = arg;
    if (atomic_load(&s->draining)) {
        snprintf(why, whysz, "draining (shutting down)");
        return false;
    }
    if (!atomic_load(&s->jr.redis_ok)) {
        snprintf(why, whysz, "Redis (job journal) unreachable");
        return false;
    }
    return true;
}

static void *ticker_main(void *arg)
{
    sched *s = arg;
    vt_thread_name("sc-ticker");
    while (!atomic_load(&s->ticker_stop)) {
        vt_sleep_ms(SC_TICK_MS);
        sc_lock(s);
        sc_core_tick(s, vt_mono_ms());
        sc_unlock(s);
    }
    return NULL;
}

static void die(sched *s, int code, const char *what, const vt_errinfo *ei)
{
    if (s->log)
        vt_log_error(s->log, "startup.failed", "%s: %s", what, vt_errinfo_msg(ei));
    else
        fprintf(stderr, "verity-scheduler: %s: %s\n", what, vt_errinfo_msg(ei));
    exit(code);
}

static uint64_t busy_jobs(sched *s)
{
    sc_lock(s);
    uint64_t n = s->n_state[VT_JOB_LEASED] + s->n_state[VT_JOB_COMPUTED] +
                 s->n_state[VT_JOB_VERIFYING];
    sc_unlock(s);
    return n;
}

int main(int argc, char **argv)
{
    static sched S; /* one per process; lives until exit */
    sched *s = &S;
    vt_common_opts common;
    vt_strlist aliases = {NULL, 0};
    vt_strlist tokenizers = {NULL, 0};
    sc_config *cf = &s->cfg;
    vt_opt opts[] = {
        VT_COMMON_OPTS(&common, "127.0.0.1:9400"),
        {.flag = "agent-listen", .env = "VERITY_AGENT_LISTEN", .type = VT_OPT_URL,
         .def = "tcp://127.0.0.1:7400", .help = "agents' REP socket (tcp:// or ipc://)",
         .dest = &cf->agent_listen},
        {.flag = "worker-listen", .env = "VERITY_WORKER_LISTEN", .type = VT_OPT_URL,
         .def = "tcp://127.0.0.1:7401", .help = "workers' REP socket", .dest = &cf->worker_listen},
        {.flag = "verifier-listen", .env = "VERITY_VERIFIER_LISTEN", .type = VT_OPT_URL,
         .def = "tcp://127.0.0.1:7402", .help = "verifiers' REP socket",
         .dest = &cf->verifier_listen},
        {.flag = "redis", .env = "VERITY_REDIS", .type = VT_OPT_STRING, .metavar = "URL",
         .def = "redis://127.0.0.1:6379",
         .help = "redis://host:port[/db] or unix:///path/redis.sock", .dest = &cf->redis_url,
         .check = vt_redis_url_check},
        {.flag = "key", .env = "VERITY_KEY_FILE", .type = VT_OPT_FILE,
         .help = "scheduler's Ed25519 secret key (verity keygen)", .dest = &cf->key_file,
         .flags = VT_OPT_REQUIRED},
        {.flag = "auth-secret", .env = "VERITY_AUTH_SECRET_FILE", .type = VT_OPT_FILE,
         .help = "32-byte secret that keys the API-key MACs", .dest = &cf->auth_secret_file,
         .flags = VT_OPT_REQUIRED},
        {.flag = "queue-max", .env = "VERITY_QUEUE_MAX", .type = VT_OPT_INT, .metavar = "N",
         .def = "10000", .min = 1, .max = 100000000,
         .help = "queued jobs before submit answers overloaded", .dest = &cf->queue_max},
        {.flag = "lease-ms", .env = "VERITY_LEASE_MS", .type = VT_OPT_DURATION_MS, .metavar = "MS",
         .def = "30000", .min = 50, .max = 86400000, .help = "lease length; heartbeats extend it",
         .dest = &cf->lease_ms},
        {.flag = "nomodel-wait-ms", .env = "VERITY_NOMODEL_WAIT_MS", .type = VT_OPT_DURATION_MS,
         .metavar = "MS", .def = "30000", .min = 1, .max = 86400000,
         .help = "how long a job waits for a worker with its model", .dest = &cf->nomodel_wait_ms},
        {.flag = "result-ttl-s", .env = "VERITY_RESULT_TTL_S", .type = VT_OPT_INT, .metavar = "S",
         .def = "86400", .min = 1, .max = 31536000, .help = "how long results stay retrievable",
         .dest = &cf->result_ttl_s},
        {.flag = "model-alias", .env = "VERITY_MODEL_ALIASES", .type = VT_OPT_LIST,
         .metavar = "NAME=SHA256", .help = "names agents may use instead of hashes (repeatable)",
         .dest = &aliases},
        {.flag = "max-verifiers", .env = "VERITY_MAX_VERIFIERS", .type = VT_OPT_INT, .metavar = "K",
         .def = "3", .min = 1, .max = SC_EXCL_MAX, .help = "upper bound for verify=full:K",
         .dest = &cf->max_verifiers},
        {.flag = "tokenizer", .env = "VERITY_TOKENIZERS", .type = VT_OPT_LIST, .metavar = "GGUF",
         .help = "model file whose tokenizer turns text prompts into tokens (repeatable)",
         .dest = &tokenizers},
        {.flag = "memsync", .env = "VERITY_MEMSYNC_URL", .type = VT_OPT_URL,
         .help = "verity-memsync URL for memory jobs (memory_k, remember); unset: refused",
         .dest = &cf->memsync_url},
        {.flag = "memsync-timeout-ms", .env = "VERITY_MEMSYNC_TIMEOUT_MS",
         .type = VT_OPT_DURATION_MS, .metavar = "MS", .def = "5000", .min = 10, .max = 600000,
         .help = "bound on each memsync request; past it the memory job fails (unavailable)",
         .dest = &cf->memsync_timeout_ms},
        {.flag = "audit-rate", .env = "VERITY_AUDIT_RATE", .type = VT_OPT_STRING, .metavar = "R",
         .def = "0.02", .help = "share of verification tasks that carry an audit copy (0..1)",
         .dest = &cf->audit_rate_s, .check = check_rate},
        {.flag = "recent-window", .env = "VERITY_RECENT_WINDOW", .type = VT_OPT_INT, .metavar = "N",
         .def = "100", .min = 1, .max = VT_ARB_RECENT_MAX,
         .help = "recent jobs remembered per worker (named when it is quarantined)",
         .dest = &cf->recent_window},
        {.flag = "max-panel", .env = "VERITY_MAX_PANEL", .type = VT_OPT_INT, .metavar = "N",
         .def = "0", .min = 0, .max = VT_ARB_MAX_PANEL,
         .help = "largest dispute panel (0: min(2K+1, 16))", .dest = &cf->max_panel},
        {.flag = "verify-same-operator", .env = "VERITY_VERIFY_SAME_OPERATOR", .type = VT_OPT_BOOL,
         .help = "let verifiers check workers of their own operator (one-organisation setups)",
         .dest = &cf->verify_same_operator},
#ifdef VT_TEST_FAULTS
        {.flag = "verify-seed", .env = "VERITY_VERIFY_SEED", .type = VT_OPT_STRING, .metavar = "HEX",
         .help = "test builds only: 64 hex chars seeding sampling, verifier and audit choices",
         .dest = &cf->verify_seed},
        {.flag = "fault-final-alloc", .type = VT_OPT_INT, .metavar = "N", .def = "0", .min = 0,
         .max = 1000000, .help = "test builds only: the next N final records fail as out of memory",
         .dest = &cf->fault_final_alloc},
#endif
        VT_OPT_END};
    vt_config_or_exit(opts, argc, argv, "verity-scheduler",
                      "Verity job scheduler: agents submit, workers compute, verifiers replay");
    cf->http = common.http;
    cf->recv_max = common.recv_max;
    cf->audit_rate = strtod(cf->audit_rate_s, NULL);
    int arv = parse_aliases(s, &aliases);
    if (arv == 0) {
        vt_errinfo tei = {0};
        arv = sc_tokenizers_load(s, &tokenizers, &tei);
        if (arv != 0) {
            fprintf(stderr, "verity-scheduler: %s\n", vt_errinfo_msg(&tei));
            sc_tokenizers_free(s);
        }
    }
    vt_config_free(opts);
    if (arv != 0) {
        free(s->cfg.aliases);
        return 2;
    }

    vt_errinfo ei = {0};
    if (vt_key_load(cf->key_file, &s->key, &ei) != 0) {
        fprintf(stderr, "verity-scheduler: --key %s: %s\n", cf->key_file, vt_errinfo_msg(&ei));
        free(s->cfg.aliases);
        return 2;
    }
    if (vt_auth_secret_load(cf->auth_secret_file, s->auth_secret, &ei) != 0) {
        fprintf(stderr, "verity-scheduler: --auth-secret %s: %s\n", cf->auth_secret_file,
                vt_errinfo_msg(&ei));
        free(s->cfg.aliases);
        return 2;
    }
    if (vt_common_log_open(&common, "scheduler", &s->log) != 0) {
        fprintf(stderr, "verity-scheduler: cannot open the log\n");
        return 2;
    }
    vt_signals *sig = NULL;
    if (vt_signals_start(&sig, &ei) != 0)
        die(s, 1, "signals", &ei);
    if (vt_protocol_init() != 0)
        die(s, 1, "libsodium", &ei);

    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->jr.persist_mu, NULL); /* the arbiter (started first) polls too */
    vt_ratelimit_init(&s->bad_rl, 20, 1000);
    s->models = calloc(SC_MAX_MODELS, sizeof(sc_model));
    s->nodes = calloc(SC_MAX_NODES, sizeof(sc_node));
    s->done_head = s->done_tail = SC_NONE;
    if (!s->models || !s->nodes || sc_jobs_init(s) != 0)
        die(s, 1, "memory", &ei);
    sc_th_init(&s->deadlines);
    sc_th_init(&s->leases);
    sc_th_init(&s->waits);
    s->last_rate_ms = s->last_node_check_ms = vt_mono_ms();
    if (sc_metrics_init(s, &ei) != 0)
        die(s, 1, "metrics", &ei);
    if (sc_arb_start(s, &ei) != 0)
        die(s, 2, "arbiter (--verify-seed?)", &ei);
    if (sc_auth_init(s, &ei) != 0)
        die(s, 1, "registry", &ei);
    if (sc_mem_start(s, &ei) != 0)
        die(s, 1, "memory stage (--memsync)", &ei);
    if (sc_journal_start(s, &ei) != 0)
        die(s, 1, "journal", &ei);
    if (sc_net_start(s, &ei) != 0)
        die(s, 1, "sockets", &ei);
    vt_http_config hc = {.addr = cf->http, .metrics = s->m.reg, .ready = ready, .ready_arg = s,
                         .extra_metrics = sc_arb_metrics, .extra_arg = s, .log = s->log};
    vt_http *http = NULL;
    if (vt_http_start(&http, &hc, &ei) != 0)
        die(s, 1, "http", &ei);
    atomic_store(&s->ticker_stop, false);
    if (pthread_create(&s->ticker, NULL, ticker_main, s) != 0)
        die(s, 1, "ticker thread", &ei);
    char pkid[VT_NODE_ID_SHORT + 1];
    vt_node_id_short(s->key.pk, pkid);
    vt_log_info(s->log, "started",
                "agent=%s worker=%s verifier=%s http=%s redis=%s key=%s queue_max=%lld lease_ms=%lld "
                "nomodel_wait_ms=%lld aliases=%zu",
                cf->agent_listen, cf->worker_listen, cf->verifier_listen, cf->http, cf->redis_url,
                pkid, (long long)cf->queue_max, (long long)cf->lease_ms,
                (long long)cf->nomodel_wait_ms, cf->n_aliases);

    while (!vt_signals_stop_requested(sig))
        vt_signals_wait(sig, 1000);

    /* ---- drain ---- */
    atomic_store(&s->draining, true);
    sc_agent_journal_deferred(s); /* submits that wait get their records: they outlive us */
    uint64_t bound = (uint64_t)(cf->lease_ms < SC_DRAIN_MAX_MS ? cf->lease_ms : SC_DRAIN_MAX_MS);
    uint64_t t0 = vt_mono_ms();
    vt_log_info(s->log, "drain.start", "busy=%llu bound_ms=%llu", (unsigned long long)busy_jobs(s),
                (unsigned long long)bound);
    while (busy_jobs(s) > 0 && vt_mono_ms() < t0 + bound)
        vt_sleep_ms(20);
    uint64_t left = busy_jobs(s);
    bool flushed = sc_journal_wait_idle(s, 5000);
    vt_log_info(s->log, "drain.done", "unfinished=%llu journal_flushed=%s waited_ms=%llu",
                (unsigned long long)left, flushed ? "yes" : "no",
                (unsigned long long)(vt_mono_ms() - t0));

    atomic_store(&s->ticker_stop, true);
    pthread_join(s->ticker, NULL);
    vt_http_stop(http);
    sc_mem_stop(s); /* before the sockets: a retrieval that ends may dispatch (reply) */
    sc_net_stop(s);
    sc_arb_stop(s);
    sc_journal_stop(s);
    sc_net_free(s); /* the journal and arbiter may answer contexts until they stop */
    sc_auth_free(s);
    sc_jobs_free(s);
    for (uint32_t i = 0; i < s->n_models; i++)
        for (int l = 0; l < SC_LANES; l++)
            sc_pq_free(&s->models[i].lane[l].heap);
    free(s->models);
    free(s->nodes);
    free(s->cfg.aliases);
    sc_tokenizers_free(s);
    sc_th_free(&s->deadlines);
    sc_th_free(&s->leases);
    sc_th_free(&s->waits);
    vt_metrics_free(s->m.reg);
    vt_ratelimit_destroy(&s->bad_rl);
    vt_key_wipe(&s->key);
    vt_log_info(s->log, "exit", "status=0");
    vt_log_close(s->log);
    vt_signals_stop(sig);
    return 0;
}
