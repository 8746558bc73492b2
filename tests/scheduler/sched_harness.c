/* sched_harness.c - see sched_harness.h. */
#include "sched_harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/protocol/reqrep0/req.h>
#include <sodium.h>

#include "vt_clock.h"
#include "vt_redis.h"
#include "vt_test.h"

static void make_key(const char *name, vt_keypair *kp, char *path, size_t pathsz)
{
    VT_REQUIRE_OK(vt_key_generate(kp));
    if (path) {
        vt_ts_path(name, path, pathsz);
        vt_errinfo ei = {0};
        VT_REQUIRE_OK(vt_key_save(path, kp, true, &ei));
    }
}

void sh_setup(sh_env *e, const char *const *extra_args)
{
    memset(e, 0, sizeof *e);
    int rv = vt_ts_redis_start(&e->rs);
    if (rv == VT_ERR_UNSUPPORTED)
        vt_test_skip("redis-server not installed");
    VT_REQUIRE_OK(rv);
    vt_keypair skp;
    make_key("sched.key", &skp, e->key_path, sizeof e->key_path);
    memcpy(e->sched_pk, skp.pk, sizeof e->sched_pk);
    vt_ts_path("auth.secret", e->secret_path, sizeof e->secret_path);
    vt_errinfo ei = {0};
    VT_REQUIRE_OK(vt_auth_secret_generate(e->secret_path, &ei));
    VT_REQUIRE_OK(vt_auth_secret_load(e->secret_path, e->secret, &ei));
    /* Node keys are written too, for tests that start real daemons. */
    make_key("worker.key", &e->worker_kp, e->worker_key_path, sizeof e->worker_key_path);
    make_key(NULL, &e->worker2_kp, NULL, 0);
    make_key("verifier.key", &e->verifier_kp, e->verifier_key_path, sizeof e->verifier_key_path);
    make_key(NULL, &e->verifier2_kp, NULL, 0);
    make_key(NULL, &e->rogue_kp, NULL, 0);

    vt_redis *r = NULL;
    VT_REQUIRE_OK(vt_redis_connect(&r, e->rs.url, 2000, 2000, &ei));
    char id[VT_AGENT_ID_BUFSZ];
    VT_REQUIRE_OK(vt_registry_agent_add(r, e->secret, "agent-a", NULL, e->key_a, &ei));
    VT_REQUIRE_OK(vt_registry_agent_add(r, e->secret, "agent-b", NULL, e->key_b, &ei));
    VT_REQUIRE_OK(vt_registry_agent_add(r, e->secret, "agent-gone", id, e->key_revoked, &ei));
    VT_REQUIRE_OK(vt_registry_agent_revoke(r, id, &ei));
    struct {
        const vt_keypair *kp;
        vt_node_role role;
    } nodes[] = {{&e->worker_kp, VT_ROLE_WORKER},
                 {&e->worker2_kp, VT_ROLE_WORKER},
                 {&e->verifier_kp, VT_ROLE_VERIFIER},
                 {&e->verifier2_kp, VT_ROLE_VERIFIER}};
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
        char hex[65];
        vt_hex_encode(nodes[i].kp->pk, 32, hex);
        /* One operator per node: a verifier never checks its own operator's worker. */
        char op[32];
        snprintf(op, sizeof op, "test-operator-%zu", i);
        VT_REQUIRE_OK(vt_registry_node_add(r, hex, nodes[i].role, op, &ei));
    }
    vt_redis_close(r);

    memset(e->model, 0x5a, sizeof e->model);
    vt_hex_encode(e->model, 32, e->model_hex);
    char p[400];
    snprintf(e->agent_url, sizeof e->agent_url, "ipc://%s", vt_ts_path("agent.ipc", p, sizeof p));
    snprintf(e->worker_url, sizeof e->worker_url, "tcp://127.0.0.1:%d", vt_ts_free_port());
    snprintf(e->verifier_url, sizeof e->verifier_url, "tcp://127.0.0.1:%d", vt_ts_free_port());
    snprintf(e->http, sizeof e->http, "127.0.0.1:%d", vt_ts_free_port());
    sh_start_sched(e, extra_args);
}

void sh_start_sched(sh_env *e, const char *const *extra_args)
{
    if (extra_args)
        e->extra = extra_args; /* kept for restarts */
    char bin[512], alias[128];
    snprintf(alias, sizeof alias, "%s=%s", SH_MODEL_ALIAS, e->model_hex);
    const char *argv[64] = {"--agent-listen", e->agent_url, "--worker-listen", e->worker_url,
                            "--verifier-listen", e->verifier_url, "--http", e->http,
                            "--redis", e->rs.url, "--key", e->key_path,
                            "--auth-secret", e->secret_path, "--model-alias", alias,
                            /* the in-test verifiers pass without replaying: audits
                             * would rightly quarantine them (tests/adversarial has audits) */
                            "--audit-rate", "0"};
    int n = 18;
    for (int i = 0; e->extra && e->extra[i] && n < 62; i++)
        argv[n++] = e->extra[i];
    argv[n] = NULL;
    e->sched = vt_proc_spawn("scheduler", vt_ts_bin("verity-scheduler", bin, sizeof bin), argv, NULL);
    VT_REQUIRE(e->sched != NULL, "spawn scheduler");
    if (vt_ts_wait_ready(e->http, 60000) != 0) {
        vt_proc_tail(e->sched, 40);
        VT_REQUIRE(false, "scheduler did not become ready");
    }
}

int sh_restart_sched(sh_env *e, int sig)
{
    VT_REQUIRE_OK(vt_proc_kill(e->sched, sig));
    int code = -1;
    vt_proc_wait(e->sched, 15000, &code);
    vt_proc_free(e->sched); /* SIGKILLs it if still running */
    e->sched = NULL;
    sh_start_sched(e, NULL);
    return code;
}

void sh_teardown(sh_env *e)
{
    if (e->sched) {
        int code = vt_proc_stop(e->sched, 15000);
        VT_CHECK(code == 0, "scheduler exit status %d after SIGTERM", code);
        vt_proc_free(e->sched);
        e->sched = NULL;
    }
    vt_ts_redis_stop(&e->rs);
}

vt_client *sh_agent(const sh_env *e, const char *api_key)
{
    vt_client *c = NULL;
    vt_errinfo ei = {0};
    vt_client_opts o;
    vt_client_opts_default(&o);
    o.timeout_ms = 10000;
    VT_REQUIRE_OK(vt_client_open(e->agent_url, api_key, &o, &c, &ei));
    return c;
}

void sh_spec(vt_job_spec *s, int32_t *toks, uint32_t n_prompt)
{
    vt_job_spec_default(s);
    for (uint32_t i = 0; i < n_prompt; i++)
        toks[i] = (int32_t)(i + 1);
    s->model = SH_MODEL_ALIAS;
    s->prompt_tokens = toks;
    s->n_prompt_tokens = n_prompt;
    s->max_tokens = n_prompt;
}

/* ------------------------------------------------------------- nodes */

int sh_node_call_raw(sh_node *n, const void *req, size_t req_len, vt_msg_type expect, vt_msg *rep,
                     int timeout_ms)
{
    vt_msg_init(rep, VT_MSG_NONE);
    nng_socket_set_ms(n->sock, NNG_OPT_RECVTIMEO, timeout_ms);
    if (nng_send(n->sock, (void *)req, req_len, 0) != 0)
        return VT_ERR_TRANSPORT;
    void *buf;
    size_t len;
    int rv = nng_recv(n->sock, &buf, &len, NNG_FLAG_ALLOC);
    if (rv)
        return rv == NNG_ETIMEDOUT ? VT_ERR_TIMEOUT : VT_ERR_TRANSPORT;
    vt_errinfo ei = {0};
    rv = vt_msg_decode_expect(buf, len, expect, rep, &ei);
    nng_free(buf, len);
    if (rv != 0) { /* callers free rep only on success */
        vt_msg_free(rep);
        vt_msg_init(rep, VT_MSG_NONE);
    }
    return rv;
}

/* Encode m into buf; its length, or 0 (with a message) if it did not fit. */
static size_t encode_into(const vt_msg *m, uint8_t *buf, size_t cap)
{
    vt_buf b;
    vt_buf_init(&b, 0);
    vt_errinfo ei = {0};
    size_t len = 0;
    if (vt_msg_encode(m, &b, &ei) != 0)
        fprintf(stderr, "encode: %s\n", vt_errinfo_msg(&ei));
    else if (b.len > cap)
        fprintf(stderr, "encode: %zu bytes do not fit in %zu\n", b.len, cap);
    else
        memcpy(buf, b.data, len = b.len);
    vt_buf_free(&b);
    return len;
}

int sh_node_call(sh_node *n, const vt_msg *req, vt_msg_type expect, vt_msg *rep, int timeout_ms)
{
    vt_buf b;
    vt_buf_init(&b, 0);
    vt_errinfo ei = {0};
    int rv = vt_msg_encode(req, &b, &ei);
    if (rv) {
        vt_msg_init(rep, VT_MSG_NONE);
        fprintf(stderr, "encode: %s\n", vt_errinfo_msg(&ei));
    } else {
        rv = sh_node_call_raw(n, b.data, b.len, expect, rep, timeout_ms);
    }
    vt_buf_free(&b);
    return rv;
}

int sh_node_hello(sh_node *n, const uint8_t model[VT_SHA256_BYTES])
{
    vt_msg m, rep;
    vt_msg_init(&m, VT_MSG_HELLO);
    vt_msg_hello *h = &m.u.hello;
    memcpy(h->node_pk, n->kp.pk, 32);
    h->role = n->verifier ? VT_HELLO_VERIFIER : VT_HELLO_WORKER;
    vt_model_ref ref;
    memcpy(ref.sha256, model, 32);
    ref.name = SH_MODEL_ALIAS;
    h->models = &ref;
    h->n_models = 1;
    h->device = "test";
    h->slots = 8;
    h->version = "test";
    h->time_ms = (uint64_t)vt_wall_ms();
    randombytes_buf(h->nonce, VT_NONCE_BYTES);
    vt_errinfo ei = {0};
    int rv = vt_hello_sign(h, &n->kp, &ei);
    if (rv)
        return rv;
    n->hello_len = encode_into(&m, n->hello, sizeof n->hello);
    if (n->hello_len == 0)
        return VT_ERR_INTERNAL;
    rv = sh_node_call_raw(n, n->hello, n->hello_len, VT_MSG_HELLO_OK, &rep, 5000);
    if (rv == 0)
        memcpy(n->session, rep.u.hello_ok.session, sizeof n->session);
    vt_msg_free(&rep);
    return rv;
}

int sh_node_dial(sh_node *n, const char *url, const vt_keypair *kp, bool verifier)
{
    memset(n, 0, sizeof *n);
    n->kp = *kp;
    n->verifier = verifier;
    if (nng_req0_open(&n->sock) != 0)
        return VT_ERR_TRANSPORT;
    nng_socket_set_ms(n->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_size(n->sock, NNG_OPT_RECVMAXSZ, 8u << 20);
    nng_socket_set_ms(n->sock, NNG_OPT_RECONNMINT, 20);
    nng_socket_set_ms(n->sock, NNG_OPT_RECONNMAXT, 100);
    if (nng_dial(n->sock, url, NULL, NNG_FLAG_NONBLOCK) != 0)
        return VT_ERR_TRANSPORT;
    return 0;
}

int sh_node_open(sh_node *n, const char *url, const vt_keypair *kp, bool verifier,
                 const uint8_t model[VT_SHA256_BYTES])
{
    int rv = sh_node_dial(n, url, kp, verifier);
    return rv ? rv : sh_node_hello(n, model);
}

void sh_node_close(sh_node *n)
{
    nng_close(n->sock);
}

int sh_fetch(sh_node *n, uint32_t free_slots, uint32_t wait_ms, vt_msg *rep)
{
    vt_msg m;
    vt_msg_init(&m, n->verifier ? VT_MSG_VFETCH : VT_MSG_FETCH);
    memcpy(m.u.fetch.session, n->session, sizeof n->session);
    m.u.fetch.free_slots = free_slots;
    m.u.fetch.max_jobs = free_slots;
    m.u.fetch.wait_ms = wait_ms;
    return sh_node_call(n, &m, n->verifier ? VT_MSG_VFETCH_OK : VT_MSG_FETCH_OK, rep,
                        (int)wait_ms + 5000);
}

int sh_results(sh_node *n, const vt_wire_job *jobs, uint32_t count, vt_ack *acks)
{
    if (count == 0)
        return 0;
    vt_wire_result *rs = calloc(count, sizeof *rs);
    for (uint32_t i = 0; i < count; i++) {
        const vt_wire_job *j = &jobs[i];
        vt_wire_result *r = &rs[i];
        memcpy(r->job_id, j->job_id, sizeof r->job_id);
        r->lease_id = j->lease_id;
        memcpy(r->model_sha256, j->model_sha256, 32);
        vt_hash_tokens(j->prompt, j->n_prompt, r->prompt_digest);
        r->tokens = j->prompt;
        r->n_tokens = j->n_prompt < j->max_tokens ? j->n_prompt : j->max_tokens;
        r->stop_reason = VT_STOP_MAX;
        memset(r->trace_digest, 0x33, sizeof r->trace_digest);
    }
    vt_msg m, rep;
    vt_msg_init(&m, VT_MSG_RESULTS);
    memcpy(m.u.results.session, n->session, sizeof n->session);
    m.u.results.results = rs;
    m.u.results.n_results = count;
    vt_errinfo ei = {0};
    int rv = vt_results_sign(&m.u.results, &n->kp, &ei);
    if (rv == 0)
        rv = sh_node_call(n, &m, VT_MSG_RESULTS_OK, &rep, 5000);
    if (rv == 0 && acks)
        for (uint32_t i = 0; i < count && i < rep.u.acks.n_acks; i++)
            acks[i] = rep.u.acks.acks[i];
    if (rv == 0)
        vt_msg_free(&rep);
    free(rs);
    return rv;
}

int sh_verdicts(sh_node *n, const vt_wire_task *tasks, uint32_t count, bool pass, vt_ack *acks)
{
    if (count == 0)
        return 0;
    vt_wire_verdict *vs = calloc(count, sizeof *vs);
    for (uint32_t i = 0; i < count; i++) {
        vt_wire_verdict *v = &vs[i];
        v->task_id = tasks[i].task_id;
        v->lease_id = tasks[i].lease_id;
        memcpy(v->job_id, tasks[i].job_id, sizeof v->job_id);
        v->pass = pass;
        v->fault = pass ? VT_FAULT_NONE : VT_FAULT_WRONG_TOKEN;
        v->first_divergence = pass ? VT_POS_NONE : 0;
    }
    vt_msg m, rep;
    vt_msg_init(&m, VT_MSG_VERDICTS);
    memcpy(m.u.verdicts.session, n->session, sizeof n->session);
    m.u.verdicts.verdicts = vs;
    m.u.verdicts.n_verdicts = count;
    vt_errinfo ei = {0};
    int rv = vt_verdicts_sign(&m.u.verdicts, &n->kp, &ei);
    if (rv == 0)
        rv = sh_node_call(n, &m, VT_MSG_VERDICTS_OK, &rep, 5000);
    if (rv == 0 && acks)
        for (uint32_t i = 0; i < count && i < rep.u.acks.n_acks; i++)
            acks[i] = rep.u.acks.acks[i];
    if (rv == 0)
        vt_msg_free(&rep);
    free(vs);
    return rv;
}

int sh_heartbeat(sh_node *n, const uint64_t *leases, uint32_t count, uint64_t *cancel_out,
                 uint32_t *n_cancel)
{
    vt_msg m, rep;
    vt_msg_init(&m, VT_MSG_HEARTBEAT);
    memcpy(m.u.heartbeat.session, n->session, sizeof n->session);
    m.u.heartbeat.lease_ids = leases;
    m.u.heartbeat.n_lease_ids = count;
    int rv = sh_node_call(n, &m, VT_MSG_HEARTBEAT_OK, &rep, 5000);
    if (rv == 0) {
        *n_cancel = rep.u.heartbeat_ok.n_cancel;
        for (uint32_t i = 0; i < rep.u.heartbeat_ok.n_cancel && cancel_out; i++)
            cancel_out[i] = rep.u.heartbeat_ok.cancel[i];
        vt_msg_free(&rep);
    }
    return rv;
}

/* ------------------------------------------------------------- runner */

struct sh_runner {
    pthread_t th;
    atomic_bool stop;
    sh_node w, v;
    bool has_w, has_v;
    uint8_t model[VT_SHA256_BYTES];
};

static void *runner_main(void *arg)
{
    sh_runner *r = arg;
    while (!atomic_load(&r->stop)) {
        vt_msg rep;
        int rv = r->has_w ? sh_fetch(&r->w, 64, 20, &rep) : -1;
        if (!r->has_w) {
        } else if (rv == 0) {
            sh_results(&r->w, rep.u.fetch_ok.jobs, rep.u.fetch_ok.n_jobs, NULL);
            vt_msg_free(&rep);
        } else if (rv == VT_ERR_AUTH || rv == VT_ERR_TIMEOUT) {
            sh_node_hello(&r->w, r->model); /* the scheduler restarted: new session */
        }
        if (!r->has_v)
            continue;
        rv = sh_fetch(&r->v, 64, r->has_w ? 20 : 1000, &rep);
        if (rv == 0) {
            sh_verdicts(&r->v, rep.u.vfetch_ok.tasks, rep.u.vfetch_ok.n_tasks, true, NULL);
            vt_msg_free(&rep);
        } else if (rv == VT_ERR_AUTH || rv == VT_ERR_TIMEOUT) {
            sh_node_hello(&r->v, r->model);
        }
    }
    return NULL;
}

sh_runner *sh_runner_start(const sh_env *e, const vt_keypair *worker, const vt_keypair *verifier)
{
    sh_runner *r = calloc(1, sizeof *r);
    memcpy(r->model, e->model, 32);
    if (worker) {
        VT_REQUIRE_OK(sh_node_open(&r->w, e->worker_url, worker, false, e->model));
        r->has_w = true;
    }
    if (verifier) {
        VT_REQUIRE_OK(sh_node_open(&r->v, e->verifier_url, verifier, true, e->model));
        r->has_v = true;
    }
    atomic_store(&r->stop, false);
    pthread_create(&r->th, NULL, runner_main, r);
    return r;
}

void sh_runner_stop(sh_runner *r)
{
    if (!r)
        return;
    atomic_store(&r->stop, true);
    pthread_join(r->th, NULL);
    if (r->has_w)
        sh_node_close(&r->w);
    if (r->has_v)
        sh_node_close(&r->v);
    free(r);
}

/* ------------------------------------------------------------- observing */

double sh_metric(const sh_env *e, const char *line)
{
    int status = 0;
    char *body = NULL;
    if (vt_ts_http_get(e->http, "/metrics", 3000, &status, &body) != 0 || status != 200) {
        free(body);
        return -1;
    }
    double v = -1;
    size_t n = strlen(line);
    for (char *p = body; p && *p;) {
        if (strncmp(p, line, n) == 0 && p[n] == ' ') {
            v = strtod(p + n + 1, NULL);
            break;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    free(body);
    return v;
}

long long sh_redis_int(const sh_env *e, const char *cmd, const char *arg)
{
    vt_redis *rd = NULL;
    redisReply *rep = NULL;
    vt_errinfo ei = {0};
    long long v = -1;
    if (vt_redis_connect(&rd, e->rs.url, 2000, 2000, &ei) != 0)
        return -1;
    if (vt_redis_command(rd, &rep, &ei, "%s %s", cmd, arg) == 0) {
        if (rep->type == REDIS_REPLY_INTEGER)
            v = rep->integer;
        else if (rep->type == REDIS_REPLY_ARRAY)
            v = (long long)rep->elements;
        freeReplyObject(rep);
    }
    vt_redis_close(rd);
    return v;
}

int sh_log_count(const sh_env *e, const char *s)
{
    return vt_proc_log_count(e->sched, s);
}

bool sh_log_has(const sh_env *e, const char *s)
{
    return sh_log_count(e, s) > 0;
}

void sh_expect_verified(vt_client *a, const char *id, uint32_t wait_ms)
{
    vt_job_result res;
    vt_errinfo ei = {0};
    int rv = vt_client_wait(a, id, wait_ms, &res, &ei);
    VT_CHECK(rv == 0, "job %s: no result (%s: %s)", id, vt_errname(rv), vt_errinfo_msg(&ei));
    if (rv != 0)
        return;
    VT_CHECK(res.r.state == VT_JOB_VERIFIED, "job %s: state %s, want verified", id,
             vt_job_state_name(res.r.state));
    vt_job_result_free(&res);
}
