/* ms_server.c - verity-memsync's socket, workers and request handlers. */
#include "ms_server.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <sodium.h>

#include "ms_cache.h"
#include "ms_wire.h"
#include "vt_clock.h"
#include "vt_protocol.h"
#include "vt_registry.h"

#define MS_STRIPES 64 /* per-agent write locks, by hash of the agent id */
#define MS_LIST_DEFAULT 100

#define MS_STRIPE_HINTS 8 /* agents per stripe whose last head is remembered */

/* The head the last write of an agent left: a hint (the write script still
 * checks it against Redis), but when it is right an add costs one Redis
 * round trip instead of two. */
typedef struct head_hint {
    char agent[VT_MEM_MAX_AGENT + 1]; /* "" = free */
    vt_mem_head head;
} head_hint;

/* A write lock for the agents hashing to it, with the hints of the last
 * few of them: with one hint per stripe, agents sharing a stripe (most of
 * them once there are ~100 writing agents) kept evicting each other's
 * hint and paid the extra read on nearly every add. */
typedef struct stripe_t {
    pthread_mutex_t mu;
    head_hint hints[MS_STRIPE_HINTS];
    unsigned next; /* round-robin victim when no hint is free */
} stripe_t;

typedef struct worker {
    struct ms_server *srv;
    pthread_t thread;
    ms_store st;
    nng_ctx ctx;
    nng_aio *aio;      /* receives, waited on by the worker */
    nng_aio *saio;     /* sends answers; not waited on (see send_done) */
    vt_buf out;
} worker;

struct ms_server {
    ms_server_cfg cfg;
    nng_socket sock;
    worker *w;
    int nworkers;
    ms_cache *cache;
    vt_agent_cache *agents;
    char service_key[VT_MEM_SERVICE_KEY_BUFSZ];
    stripe_t stripes[MS_STRIPES];
    atomic_bool redis_ok;
    atomic_bool stopping;
    ms_store health;           /* main loop's connection for the PING */
    vt_ratelimit bad_log;      /* hostile peers must not flood the log */
    vt_counter *req_total[MS_REQ__COUNT], *err_total, *bad_total;
    vt_histogram *latency;
    vt_metrics *own_metrics;   /* when the caller gave none */
};

/* ---- authentication ---------------------------------------------------- */

static bool job_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > VT_JOB_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

/* Decide which agent the request acts as (agent[] out). An agent's API key
 * names its agent (the MAC binds it); a request naming another agent is
 * refused. The service key acts for `agent` only with a job of that
 * agent. Failure details go to our log; the client learns only auth/denied. */
static int authenticate(ms_server *s, worker *w, const ms_req *rq, char agent[VT_AGENT_ID_BUFSZ],
                        vt_errinfo *ei)
{
    size_t kl = strlen(rq->key);
    if (kl == VT_MEM_SERVICE_KEY_LEN && strncmp(rq->key, "vts_", 4) == 0) {
        if (sodium_memcmp(rq->key, s->service_key, VT_MEM_SERVICE_KEY_LEN) != 0)
            return vt_fail(ei, VT_ERR_AUTH, "bad service key");
        if (!rq->job[0] || !job_id_valid(rq->job))
            return vt_fail(ei, VT_ERR_DENIED, "the service key needs the id of a job");
        if (!ms_agent_id_valid(rq->agent))
            return vt_fail(ei, VT_ERR_DENIED, "the service key needs a valid agent id");
        char owner[64];
        int rv = ms_store_job_owner(&w->st, rq->job, owner, sizeof owner, ei);
        if (rv == VT_ERR_NOTFOUND || rv == VT_ERR_TOOBIG)
            return vt_fail(ei, VT_ERR_DENIED, "job does not belong to this agent");
        if (rv)
            return rv;
        if (strcmp(owner, rq->agent) != 0)
            return vt_fail(ei, VT_ERR_DENIED, "job does not belong to this agent");
        memcpy(agent, rq->agent, VT_AGENT_ID_LEN + 1); /* valid: exactly that long */
        return 0;
    }
    int rv = vt_agent_cache_check(s->agents, w->st.r, rq->key, kl, agent, ei);
    if (rv == VT_ERR_AUTH)
        return vt_fail(ei, VT_ERR_AUTH, "unknown, revoked or malformed API key");
    if (rv)
        return rv;
    if (rq->job[0])
        return vt_fail(ei, VT_ERR_DENIED, "a job id goes only with the service key");
    if (rq->agent[0] && strcmp(rq->agent, agent) != 0)
        return vt_fail(ei, VT_ERR_DENIED, "this API key belongs to another agent");
    return 0;
}

/* ---- handlers ---------------------------------------------------------- */

static stripe_t *stripe(ms_server *s, const char *agent)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = agent; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return &s->stripes[h % MS_STRIPES];
}

/* The agent's hint in its stripe (held locked), or NULL. */
static head_hint *hint_find(stripe_t *sp, const char *agent)
{
    for (int i = 0; i < MS_STRIPE_HINTS; i++)
        if (strcmp(sp->hints[i].agent, agent) == 0)
            return &sp->hints[i];
    return NULL;
}

static void hint_set(stripe_t *sp, const char *agent, const vt_mem_head *head)
{
    head_hint *h = hint_find(sp, agent);
    for (int i = 0; !h && i < MS_STRIPE_HINTS; i++)
        if (!sp->hints[i].agent[0])
            h = &sp->hints[i];
    if (!h)
        h = &sp->hints[sp->next++ % MS_STRIPE_HINTS];
    snprintf(h->agent, sizeof h->agent, "%s", agent);
    h->head = *head;
}

/* known: the head this request read, or NULL to use the stripe's hint. */
static int do_write(ms_server *s, worker *w, const char *agent, const ms_write *wr,
                    const vt_mem_head *known, ms_rep *rep, vt_errinfo *ei)
{
    ms_op op;
    stripe_t *sp = stripe(s, agent);
    pthread_mutex_lock(&sp->mu);
    vt_mem_head hint;
    head_hint *h = hint_find(sp, agent);
    if (!known && h) {
        hint = h->head;
        known = &hint;
    }
    int rv = ms_store_write(&w->st, agent, wr, known, &op, &rep->head, ei);
    if (rv == 0)
        hint_set(sp, agent, &rep->head);
    else if (h)
        h->agent[0] = '\0';
    pthread_mutex_unlock(&sp->mu);
    if (rv == 0) {
        ms_cache_note_write(s->cache, agent, &op, &rep->head);
        rep->id = op.kind == MS_OP_DELETE ? op.id : op.item.id;
        ms_op_clear(&op);
    }
    return rv;
}

static int check_profile_str(const char *what, const char *v, vt_errinfo *ei)
{
    if (!v || !v[0])
        return vt_fail(ei, VT_ERR_INVAL, "%s is empty", what);
    return 0;
}

static int handle(ms_server *s, worker *w, ms_req *rq, ms_rep *rep, vt_errinfo *ei)
{
    char agent[VT_AGENT_ID_BUFSZ];
    vt_mem_head head;
    const ms_limits *lim = &s->cfg.limits;
    ms_write wr = {0};
    int rv = authenticate(s, w, rq, agent, ei);
    if (rv)
        return rv;
    if (rq->op == MS_REQ_ADD) {
        /* the hot path: one round trip (the write script counts the
         * request and checks the head) */
        if ((rv = ms_item_check(&rq->item, lim->max_text, ei)) != 0)
            return rv;
        wr.kind = MS_OP_ADD;
        wr.item = &rq->item;
        wr.count_rate = true;
        return do_write(s, w, agent, &wr, NULL, rep, ei);
    }
    if ((rv = ms_store_begin(&w->st, agent, &head, ei)) != 0)
        return rv;
    rep->head = head;
    switch (rq->op) {
    case MS_REQ_UPDATE:
        if ((rv = ms_item_check(&rq->item, lim->max_text, ei)) != 0)
            return rv;
        rq->item.id = rq->id;
        wr.kind = MS_OP_UPDATE;
        wr.item = &rq->item;
        wr.id = rq->id;
        return do_write(s, w, agent, &wr, &head, rep, ei);
    case MS_REQ_DELETE:
        wr.kind = MS_OP_DELETE;
        wr.id = rq->id;
        return do_write(s, w, agent, &wr, &head, rep, ei);
    case MS_REQ_PROFILE_SET:
        if ((rv = check_profile_str("profile key", rq->pkey, ei)) != 0)
            return rv;
        wr.kind = MS_OP_PROFILE_SET;
        wr.key = rq->pkey;
        wr.value = rq->pvalue;
        return do_write(s, w, agent, &wr, &head, rep, ei);
    case MS_REQ_PROFILE_DEL:
        if ((rv = check_profile_str("profile key", rq->pkey, ei)) != 0)
            return rv;
        wr.kind = MS_OP_PROFILE_DEL;
        wr.key = rq->pkey;
        return do_write(s, w, agent, &wr, &head, rep, ei);
    case MS_REQ_GET:
        rv = ms_store_get(&w->st, agent, rq->id, &rep->item, &rep->head, ei);
        rep->has_item = rv == 0;
        return rv;
    case MS_REQ_PROFILE_GET:
        rv = ms_store_profile_get(&w->st, agent, &rep->profile, ei);
        rep->has_profile = rv == 0;
        if (rv == 0)
            rep->head = rep->profile.head;
        return rv;
    case MS_REQ_LIST: {
        uint32_t limit = rq->limit ? rq->limit : MS_LIST_DEFAULT;
        if (limit > VT_MEM_MAX_K)
            return vt_fail(ei, VT_ERR_RANGE, "limit %u, at most %d", limit, VT_MEM_MAX_K);
        rv = ms_cache_list(s->cache, &w->st, agent, &head, &rq->filter, rq->after, limit,
                           &rep->list, ei);
        rep->has_list = rv == 0;
        if (rv == 0)
            rep->head = rep->list.head;
        return rv;
    }
    case MS_REQ_SEARCH: {
        if (rq->k == 0 || rq->k > VT_MEM_MAX_K)
            return vt_fail(ei, VT_ERR_RANGE, "k %u, must be 1..%d", rq->k, VT_MEM_MAX_K);
        for (uint32_t i = 0; i < rq->dim; i++)
            if (!(rq->vector[i] == rq->vector[i]) || rq->vector[i] > 3.0e38f ||
                rq->vector[i] < -3.0e38f)
                return vt_fail(ei, VT_ERR_INVAL, "vector[%u] is not finite", i);
        vt_mem_query q = {rq->text, rq->vector, rq->dim, rq->k, rq->filter};
        rv = ms_cache_search(s->cache, &w->st, agent, &head, &q, &rep->hits, ei);
        rep->has_hits = rv == 0;
        if (rv == 0)
            rep->head = rep->hits.head;
        return rv;
    }
    case MS_REQ_VERIFY:
        rv = ms_store_verify(&w->st, agent, &rep->verify, ei);
        rep->has_verify = rv == 0;
        if (rv == 0)
            rep->head = rep->verify.head;
        return rv;
    }
    return vt_fail(ei, VT_ERR_PROTO, "unknown request");
}

/* Build the answer for one message into w->out. */
static void serve_one(ms_server *s, worker *w, const void *body, size_t len)
{
    uint64_t t0 = vt_mono_us();
    vt_errinfo ei = {0};
    ms_req rq;
    ms_rep rep;
    memset(&rep, 0, sizeof rep);
    memset(&rq, 0, sizeof rq);
    vt_buf_reset(&w->out);
    int rv = ms_req_decode(body, len, &rq, &ei);
    if (rv == 0) {
        vt_counter_inc(s->req_total[rq.op]);
        rv = handle(s, w, &rq, &rep, &ei);
        if (rv == 0)
            rv = ms_rep_encode(&w->out, &rep, &ei);
    } else {
        vt_counter_inc(s->bad_total);
        uint64_t suppressed;
        if (vt_ratelimit_allow(&s->bad_log, &suppressed))
            vt_log_warn(s->cfg.log, "peer.bad_message", "err=%s detail=\"%s\" suppressed=%llu",
                        vt_errname(rv), vt_errinfo_msg(&ei), (unsigned long long)suppressed);
    }
    if (rv == VT_ERR_UNAVAILABLE)
        atomic_store(&s->redis_ok, false);
    if (rv) {
        vt_counter_inc(s->err_total);
        if (rv == VT_ERR_AUTH || rv == VT_ERR_DENIED) {
            uint64_t suppressed;
            if (vt_ratelimit_allow(&s->bad_log, &suppressed))
                vt_log_warn(s->cfg.log, "request.refused", "op=%s agent=%s err=%s detail=\"%s\"",
                            ms_req_name(rq.op) ? ms_req_name(rq.op) : "?", rq.agent,
                            vt_errname(rv), vt_errinfo_msg(&ei));
            /* never tell a client which part of a credential was wrong */
            ei.detail[0] = '\0';
        } else if (rv == VT_ERR_INTERNAL || rv == VT_ERR_UNAVAILABLE || rv == VT_ERR_MISMATCH) {
            vt_log_error(s->cfg.log, "request.failed", "op=%s err=%s detail=\"%s\"",
                         ms_req_name(rq.op) ? ms_req_name(rq.op) : "?", vt_errname(rv),
                         vt_errinfo_msg(&ei));
            /* addresses and Redis messages are for our log, not for clients */
            snprintf(ei.detail, sizeof ei.detail, "%s",
                     rv == VT_ERR_UNAVAILABLE ? "memory store (Redis) unavailable; retry later"
                     : rv == VT_ERR_MISMATCH  ? "stored memory is inconsistent; run verify"
                                              : "internal error");
        }
        vt_buf_reset(&w->out);
        vt_msg_encode_error(&w->out, rv, ei.detail[0] ? ei.detail : vt_strerror(rv),
                            rv == VT_ERR_RATELIMIT ? 1000 : 0);
    }
    ms_req_clear(&rq);
    ms_rep_clear(&rep);
    vt_histogram_observe(s->latency, (double)(vt_mono_us() - t0) / 1e6);
}

/* An answer is handed to NNG and the worker goes back to receiving without
 * waiting for the send to finish (one thread wake-up less per request).
 * On failure the message is still ours to free. */
static void send_done(void *arg)
{
    worker *w = arg;
    if (nng_aio_result(w->saio) != 0)
        nng_msg_free(nng_aio_get_msg(w->saio));
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    ms_server *s = w->srv;
    while (!atomic_load(&s->stopping)) {
        nng_ctx_recv(w->ctx, w->aio);
        nng_aio_wait(w->aio);
        int rv = nng_aio_result(w->aio);
        if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
            break;
        if (rv != 0)
            continue;
        nng_msg *m = nng_aio_get_msg(w->aio);
        serve_one(s, w, nng_msg_body(m), nng_msg_len(m));
        /* reuse the request message for the answer */
        nng_msg_clear(m);
        if (nng_msg_append(m, w->out.data, w->out.len) != 0) {
            nng_msg_free(m);
            continue;
        }
        nng_aio_wait(w->saio); /* the previous answer is out (normally long since) */
        nng_aio_set_msg(w->saio, m);
        nng_ctx_send(w->ctx, w->saio);
    }
    nng_aio_wait(w->saio);
    return NULL;
}

/* ---- life cycle -------------------------------------------------------- */

static int register_metrics(ms_server *s, vt_errinfo *ei)
{
    if (!s->cfg.metrics) {
        if (vt_metrics_new(&s->own_metrics) != 0)
            return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
        s->cfg.metrics = s->own_metrics;
    }
    vt_metrics *m = s->cfg.metrics;
    int rv = 0;
    for (int op = 1; op < MS_REQ__COUNT && rv == 0; op++) {
        char labels[64];
        snprintf(labels, sizeof labels, "op=\"%s\"", ms_req_name(op) + 4);
        rv = vt_metrics_counter(m, "verity_memsync_requests_total", "requests by kind", labels,
                                &s->req_total[op], ei);
    }
    static const double bounds[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1};
    if (rv == 0)
        rv = vt_metrics_counter(m, "verity_memsync_errors_total", "requests answered with an error",
                                NULL, &s->err_total, ei);
    if (rv == 0)
        rv = vt_metrics_counter(m, "verity_memsync_bad_messages_total",
                                "messages that could not be decoded", NULL, &s->bad_total, ei);
    if (rv == 0)
        rv = vt_metrics_histogram(m, "verity_memsync_request_seconds", "time to answer a request",
                                  NULL, bounds, sizeof bounds / sizeof bounds[0], &s->latency, ei);
    return rv;
}

int ms_server_start(ms_server **out, const ms_server_cfg *cfg, vt_errinfo *ei)
{
    ms_server *s = calloc(1, sizeof *s);
    if (!s)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    s->cfg = *cfg;
    atomic_init(&s->redis_ok, false);
    atomic_init(&s->stopping, false);
    vt_ratelimit_init(&s->bad_log, 10, 1000);
    for (int i = 0; i < MS_STRIPES; i++)
        pthread_mutex_init(&s->stripes[i].mu, NULL);
    vt_mem_service_key(cfg->secret, s->service_key);
    int rv = register_metrics(s, ei);
    if (rv == 0 && (rv = ms_cache_new(&s->cache, cfg->cache_agents, cfg->cache_bytes)) != 0)
        vt_fail(ei, rv, "out of memory");
    if (rv == 0 && (rv = vt_agent_cache_new(&s->agents, cfg->secret, 1000, 0)) != 0)
        vt_fail(ei, rv, "out of memory");
    if (rv == 0)
        rv = ms_store_open(&s->health, cfg->redis_url, &s->cfg.limits, ei);
    if (rv == 0 && (rv = nng_rep0_open(&s->sock)) != 0)
        rv = vt_fail(ei, VT_ERR_TRANSPORT, "rep socket: %s", nng_strerror(rv));
    if (rv == 0)
        nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, cfg->recv_max);
    if (rv == 0) {
        s->w = calloc((size_t)cfg->workers, sizeof *s->w);
        if (!s->w)
            rv = vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; rv == 0 && i < cfg->workers; i++) {
        worker *w = &s->w[i];
        w->srv = s;
        vt_buf_init(&w->out, cfg->recv_max);
        if ((rv = ms_store_open(&w->st, cfg->redis_url, &s->cfg.limits, ei)) != 0)
            break;
        if ((rv = nng_ctx_open(&w->ctx, s->sock)) != 0 ||
            (rv = nng_aio_alloc(&w->aio, NULL, NULL)) != 0 ||
            (rv = nng_aio_alloc(&w->saio, send_done, w)) != 0) {
            rv = vt_fail(ei, VT_ERR_TRANSPORT, "context: %s", nng_strerror(rv));
            break;
        }
        s->nworkers++;
    }
    if (rv == 0 && (rv = nng_listen(s->sock, cfg->listen, NULL, 0)) != 0)
        rv = vt_fail(ei, VT_ERR_TRANSPORT, "listen %s: %s", cfg->listen, nng_strerror(rv));
    ms_server_tick(s);
    for (int i = 0; rv == 0 && i < s->nworkers; i++) {
        if (pthread_create(&s->w[i].thread, NULL, worker_main, &s->w[i]) != 0) {
            rv = vt_fail(ei, VT_ERR_INTERNAL, "cannot start worker thread");
            /* threads already running see the closed socket */
            s->nworkers = i;
        }
    }
    if (rv) {
        ms_server_stop(s);
        return rv;
    }
    *out = s;
    return 0;
}

void ms_server_stop(ms_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, true);
    /* Stop the workers BEFORE closing the socket: a worker that is still
     * answering would otherwise send on a context the close has freed, and
     * NNG 1.5.2 then aborts (pthread_mutex_lock: Invalid argument).
     * Stopping a worker's receive aio wakes it (NNG_ECANCELED) and makes its
     * next receive fail at once; the loop also checks `stopping`. */
    for (int i = 0; s->w && i < s->nworkers; i++)
        if (s->w[i].aio)
            nng_aio_stop(s->w[i].aio);
    for (int i = 0; i < s->nworkers; i++)
        if (s->w[i].thread)
            pthread_join(s->w[i].thread, NULL);
    for (int i = 0; s->w && i < s->cfg.workers; i++) {
        worker *w = &s->w[i];
        if (w->saio)
            nng_aio_stop(w->saio);
    }
    nng_close(s->sock);
    for (int i = 0; s->w && i < s->cfg.workers; i++) {
        worker *w = &s->w[i];
        if (w->aio)
            nng_aio_free(w->aio);
        if (w->saio)
            nng_aio_free(w->saio);
        ms_store_close(&w->st);
        vt_buf_free(&w->out);
    }
    free(s->w);
    ms_store_close(&s->health);
    ms_cache_free(s->cache);
    vt_agent_cache_free(s->agents);
    for (int i = 0; i < MS_STRIPES; i++)
        pthread_mutex_destroy(&s->stripes[i].mu);
    vt_ratelimit_destroy(&s->bad_log);
    vt_metrics_free(s->own_metrics);
    sodium_memzero(s->cfg.secret, sizeof s->cfg.secret);
    sodium_memzero(s->service_key, sizeof s->service_key);
    free(s);
}

void ms_server_tick(ms_server *s)
{
    bool ok = s->health.r && vt_redis_ping(s->health.r, NULL) == 0;
    atomic_store(&s->redis_ok, ok);
}

bool ms_server_ready(void *arg, char *why, size_t whysz)
{
    ms_server *s = arg;
    if (atomic_load(&s->redis_ok))
        return true;
    snprintf(why, whysz, "redis unreachable");
    return false;
}
