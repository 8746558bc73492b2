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

/* Adds committed together at most (one pipelined Redis round trip). */
#define MS_BATCH_MAX 64
/* Committer threads. Two, so that one prepares its group while Redis runs
 * the other's scripts; agents are split between them by write stripe, so
 * they never wait for each other's locks. */
#define MS_COMMITTERS 2
/* Receiving contexts: requests taken in at once, queued for the threads.
 * More than the threads, so that adds arriving while a group is being
 * committed wait in the add queue and join the next group. */
#define MS_CTX_PER_WORKER 16
#define MS_CTX_MIN 64

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

/* One receiving context. Its aio's callback takes a request in, decodes
 * it and queues it (adds for a committer, everything else for the
 * workers); the thread that handled it sends the answer on the same aio,
 * and the send's completion re-arms the receive. No thread blocks on NNG. */
typedef struct rctx {
    struct ms_server *srv;
    nng_ctx ctx;
    nng_aio *aio;
    bool sending;            /* the aio carries an answer */
    nng_msg *req;            /* the request being handled (reused for the answer) */
    ms_req rq;               /* req decoded, when decode_rv is 0 */
    int decode_rv;
    vt_errinfo decode_ei;
    uint64_t t0_us;          /* when it arrived */
    struct rctx *next;       /* queue link */
} rctx;

typedef struct rqueue {
    rctx *head, *tail;
    pthread_cond_t cv;
    int waiting;             /* threads asleep on cv */
} rqueue;

/* A thread with its own Redis connection: a worker (any request but adds,
 * one at a time) or a committer (adds, in groups). */
typedef struct worker {
    struct ms_server *srv;
    pthread_t thread;
    bool started;
    ms_store st;
    vt_buf out;
} worker;

/* The committer's scratch space for one group. */
typedef struct add_group {
    rctx *x[MS_BATCH_MAX];
    int rv[MS_BATCH_MAX];
    vt_errinfo ei[MS_BATCH_MAX];
    char agent[MS_BATCH_MAX][VT_AGENT_ID_BUFSZ];
    size_t job[MS_BATCH_MAX]; /* index into jobs, SIZE_MAX = none */
    ms_add_job jobs[MS_BATCH_MAX];
} add_group;

typedef struct committer {
    worker w;
    rqueue q;                 /* its adds */
    add_group g;
} committer;

struct ms_server {
    ms_server_cfg cfg;
    nng_socket sock;
    rctx *ctxs;
    int nctx;
    worker *w;
    int nworkers;
    committer *com;            /* MS_COMMITTERS of them */
    pthread_mutex_t qmu;       /* guards every queue */
    rqueue workq;
    ms_cache *cache;
    vt_agent_cache *agents;
    char service_key[VT_MEM_SERVICE_KEY_BUFSZ];
    stripe_t stripes[MS_STRIPES];
    atomic_bool redis_ok;
    atomic_bool stopping;
    ms_store health;           /* main loop's connection for the PING */
    /* main loop: Redis's persistence settings as last said (at start, then
     * every tick says them again only when they change: CONFIG SET on a
     * live Redis, or a restarted one with other settings) */
    vt_redis_persistence_seen persist_seen;
    vt_ratelimit bad_log;      /* hostile peers must not flood the log */
    vt_counter *req_total[MS_REQ__COUNT], *err_total, *bad_total;
    vt_counter *groups_total, *redos_total;
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

static size_t stripe_index(const char *agent)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = agent; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return (size_t)(h % MS_STRIPES);
}

static stripe_t *stripe(ms_server *s, const char *agent)
{
    return &s->stripes[stripe_index(agent)];
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

/* Any request but an add (adds go to the committer: commit_adds). */
static int handle(ms_server *s, worker *w, ms_req *rq, ms_rep *rep, vt_errinfo *ei)
{
    char agent[VT_AGENT_ID_BUFSZ];
    vt_mem_head head;
    const ms_limits *lim = &s->cfg.limits;
    ms_write wr = {0};
    if (rq->op == MS_REQ_ADD)
        return vt_fail(ei, VT_ERR_INTERNAL, "an add reached a worker");
    int rv = authenticate(s, w, rq, agent, ei);
    if (rv)
        return rv;
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

static void log_bad_message(ms_server *s, int rv, const vt_errinfo *ei)
{
    uint64_t suppressed;
    vt_counter_inc(s->bad_total);
    if (vt_ratelimit_allow(&s->bad_log, &suppressed))
        vt_log_warn(s->cfg.log, "peer.bad_message", "err=%s detail=\"%s\" suppressed=%llu",
                    vt_errname(rv), vt_errinfo_msg(ei), (unsigned long long)suppressed);
}

/* Answer request rq (op may be MS_REQ_NONE when it did not decode) with
 * error rv into out: log what the operator needs, tell the client only
 * what it may know. */
static void encode_error(ms_server *s, vt_buf *out, const ms_req *rq, int rv, vt_errinfo *ei)
{
    if (rv == VT_ERR_UNAVAILABLE)
        atomic_store(&s->redis_ok, false);
    vt_counter_inc(s->err_total);
    if (rv == VT_ERR_AUTH || rv == VT_ERR_DENIED) {
        uint64_t suppressed;
        if (vt_ratelimit_allow(&s->bad_log, &suppressed))
            vt_log_warn(s->cfg.log, "request.refused", "op=%s agent=%s err=%s detail=\"%s\"",
                        ms_req_name(rq->op) ? ms_req_name(rq->op) : "?", rq->agent,
                        vt_errname(rv), vt_errinfo_msg(ei));
        /* never tell a client which part of a credential was wrong */
        ei->detail[0] = '\0';
    } else if (rv == VT_ERR_INTERNAL || rv == VT_ERR_UNAVAILABLE || rv == VT_ERR_MISMATCH) {
        vt_log_error(s->cfg.log, "request.failed", "op=%s err=%s detail=\"%s\"",
                     ms_req_name(rq->op) ? ms_req_name(rq->op) : "?", vt_errname(rv),
                     vt_errinfo_msg(ei));
        /* addresses and Redis messages are for our log, not for clients */
        snprintf(ei->detail, sizeof ei->detail, "%s",
                 rv == VT_ERR_UNAVAILABLE ? "memory store (Redis) unavailable; retry later"
                 : rv == VT_ERR_MISMATCH  ? "stored memory is inconsistent; run verify"
                                          : "internal error");
    }
    vt_buf_reset(out);
    vt_msg_encode_error(out, rv, ei->detail[0] ? ei->detail : vt_strerror(rv),
                        rv == VT_ERR_RATELIMIT ? 1000 : 0);
}

/* Build the answer to a request (decoded by the callback) into w->out. */
static void serve_one(ms_server *s, worker *w, rctx *x)
{
    vt_errinfo ei = x->decode_ei;
    ms_rep rep;
    memset(&rep, 0, sizeof rep);
    vt_buf_reset(&w->out);
    int rv = x->decode_rv;
    if (rv == 0) {
        vt_counter_inc(s->req_total[x->rq.op]);
        ms_store_refresh(&w->st);
        rv = handle(s, w, &x->rq, &rep, &ei);
        if (rv == 0)
            rv = ms_rep_encode(&w->out, &rep, &ei);
    } else {
        log_bad_message(s, rv, &ei);
    }
    if (rv)
        encode_error(s, &w->out, &x->rq, rv, &ei);
    ms_rep_clear(&rep);
}

/* ---- contexts and queues ----------------------------------------------- */

static void rctx_recv(rctx *x)
{
    if (!atomic_load(&x->srv->stopping))
        nng_ctx_recv(x->ctx, x->aio);
}

/* Send out (the answer to x's request) on x's context; x is then free for
 * the next request. */
static void rctx_answer(rctx *x, const vt_buf *out)
{
    ms_server *s = x->srv;
    nng_msg *m = x->req;
    x->req = NULL;
    ms_req_clear(&x->rq);
    vt_histogram_observe(s->latency, (double)(vt_mono_us() - x->t0_us) / 1e6);
    nng_msg_clear(m); /* the request's message carries the answer */
    if (nng_msg_append(m, out->data, out->len) != 0) {
        nng_msg_free(m); /* no memory: the client's request times out */
        rctx_recv(x);
        return;
    }
    x->sending = true;
    nng_aio_set_msg(x->aio, m);
    nng_ctx_send(x->ctx, x->aio);
}

static void enqueue(ms_server *s, rqueue *q, rctx *x)
{
    x->next = NULL;
    pthread_mutex_lock(&s->qmu);
    if (q->tail)
        q->tail->next = x;
    else
        q->head = x;
    q->tail = x;
    if (q->waiting)
        pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&s->qmu);
}

/* Wait for requests; take up to max of them. 0 = stopping. */
static size_t dequeue(ms_server *s, rqueue *q, rctx **out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&s->qmu);
    while (!q->head && !atomic_load(&s->stopping)) {
        q->waiting++;
        pthread_cond_wait(&q->cv, &s->qmu);
        q->waiting--;
    }
    while (!atomic_load(&s->stopping) && n < max && q->head) {
        out[n++] = q->head;
        q->head = q->head->next;
    }
    if (!q->head)
        q->tail = NULL;
    pthread_mutex_unlock(&s->qmu);
    return n;
}

/* Which committer takes an add: by the stripe of the agent it names (the
 * agent field, or the id inside an agent key "vtk_<agent id>_..."), so
 * that one agent's adds go to one committer and the two never contend for
 * a stripe. Only a routing choice: the stripe locks keep writes of one
 * agent serialized whatever the route. */
static committer *route(ms_server *s, const ms_req *rq)
{
    char agent[VT_AGENT_ID_BUFSZ] = "";
    if (!rq->agent[0] && strncmp(rq->key, "vtk_", 4) == 0 &&
        strlen(rq->key) > 4 + VT_AGENT_ID_LEN) {
        memcpy(agent, rq->key + 4, VT_AGENT_ID_LEN);
        agent[VT_AGENT_ID_LEN] = '\0';
    }
    return &s->com[stripe_index(rq->agent[0] ? rq->agent : agent) % MS_COMMITTERS];
}

/* NNG's callback (on NNG's threads): a request came in, or an answer went
 * out. It never blocks: requests are only queued here. */
static void rctx_cb(void *arg)
{
    rctx *x = arg;
    ms_server *s = x->srv;
    int rv = nng_aio_result(x->aio);
    if (x->sending) {
        x->sending = false;
        if (rv != 0)
            nng_msg_free(nng_aio_get_msg(x->aio)); /* still ours on failure */
        rctx_recv(x);
        return;
    }
    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
        return; /* shutting down */
    if (rv != 0) {
        rctx_recv(x);
        return;
    }
    x->req = nng_aio_get_msg(x->aio);
    x->t0_us = vt_mono_us();
    memset(&x->rq, 0, sizeof x->rq);
    memset(&x->decode_ei, 0, sizeof x->decode_ei);
    x->decode_rv = ms_req_decode(nng_msg_body(x->req), nng_msg_len(x->req), &x->rq, &x->decode_ei);
    if (x->decode_rv == 0 && x->rq.op == MS_REQ_ADD)
        enqueue(s, &route(s, &x->rq)->q, x);
    else
        enqueue(s, &s->workq, x); /* errors are answered there too */
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    ms_server *s = w->srv;
    rctx *x;
    while (dequeue(s, &s->workq, &x, 1) == 1) {
        serve_one(s, w, x);
        rctx_answer(x, &w->out);
    }
    return NULL;
}

/* ---- adds: group commit ------------------------------------------------ */

/* Commit a group of add requests in one pipelined Redis round trip
 * (ms_store_add_batch) and answer each. Each add is still checked,
 * authenticated, chained and committed on its own (its own script,
 * compare-and-set, rate-limit count); only the round trip is shared. The
 * agents' stripe locks are held from reading the hints until the hints
 * are updated, in stripe order (workers hold at most one at a time, so
 * this cannot deadlock). */
static void commit_adds(ms_server *s, worker *w, add_group *g, size_t n)
{
    size_t nj = 0;
    bool lock[MS_STRIPES] = {false};
    ms_store_refresh(&w->st);
    for (size_t i = 0; i < n; i++) {
        ms_req *rq = &g->x[i]->rq; /* decoded, an add (rctx_cb) */
        memset(&g->ei[i], 0, sizeof g->ei[i]);
        g->job[i] = SIZE_MAX;
        vt_counter_inc(s->req_total[rq->op]);
        int rv = authenticate(s, w, rq, g->agent[i], &g->ei[i]);
        if (rv == 0)
            rv = ms_item_check(&rq->item, s->cfg.limits.max_text, &g->ei[i]);
        g->rv[i] = rv;
        if (rv == 0) {
            g->jobs[nj] = (ms_add_job){.agent = g->agent[i], .item = &rq->item};
            lock[stripe_index(g->agent[i])] = true;
            g->job[i] = nj++;
        }
    }
    for (size_t k = 0; k < MS_STRIPES; k++)
        if (lock[k])
            pthread_mutex_lock(&s->stripes[k].mu);
    for (size_t j = 0; j < nj; j++) {
        head_hint *h = hint_find(stripe(s, g->jobs[j].agent), g->jobs[j].agent);
        if (h) {
            g->jobs[j].known = h->head;
            g->jobs[j].has_known = true;
        }
    }
    ms_store_add_batch(&w->st, g->jobs, nj);
    if (nj)
        vt_counter_inc(s->groups_total);
    for (size_t j = 0; j < nj; j++)
        if (g->jobs[j].redone)
            vt_counter_inc(s->redos_total);
    for (size_t j = 0; j < nj; j++) {
        stripe_t *sp = stripe(s, g->jobs[j].agent);
        if (g->jobs[j].rv == 0) {
            hint_set(sp, g->jobs[j].agent, &g->jobs[j].head);
        } else {
            head_hint *h = hint_find(sp, g->jobs[j].agent);
            if (h)
                h->agent[0] = '\0';
        }
    }
    for (size_t k = 0; k < MS_STRIPES; k++)
        if (lock[k])
            pthread_mutex_unlock(&s->stripes[k].mu);
    for (size_t i = 0; i < n; i++) {
        ms_add_job *j = g->job[i] == SIZE_MAX ? NULL : &g->jobs[g->job[i]];
        int rv = j ? j->rv : g->rv[i];
        vt_errinfo *ei = j ? &j->ei : &g->ei[i];
        vt_buf_reset(&w->out);
        if (rv == 0) {
            ms_cache_note_write(s->cache, j->agent, &j->op, &j->head);
            ms_rep rep;
            memset(&rep, 0, sizeof rep);
            rep.head = j->head;
            rep.id = j->op.item.id;
            ms_op_clear(&j->op);
            rv = ms_rep_encode(&w->out, &rep, ei);
        }
        if (rv != 0)
            encode_error(s, &w->out, &g->x[i]->rq, rv, ei);
        rctx_answer(g->x[i], &w->out);
    }
}

static void *committer_main(void *arg)
{
    committer *cm = arg;
    size_t n;
    while ((n = dequeue(cm->w.srv, &cm->q, cm->g.x, MS_BATCH_MAX)) > 0)
        commit_adds(cm->w.srv, &cm->w, &cm->g, n);
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
        rv = vt_metrics_counter(m, "verity_memsync_add_groups_total",
                                "groups of adds committed in one Redis round trip", NULL,
                                &s->groups_total, ei);
    if (rv == 0)
        rv = vt_metrics_counter(m, "verity_memsync_add_redos_total",
                                "adds redone alone after their group (compare-and-set lost to "
                                "another replica, Redis restarted)",
                                NULL, &s->redos_total, ei);
    if (rv == 0)
        rv = vt_metrics_histogram(m, "verity_memsync_request_seconds", "time to answer a request",
                                  NULL, bounds, sizeof bounds / sizeof bounds[0], &s->latency, ei);
    return rv;
}

static int worker_open(ms_server *s, worker *w, vt_errinfo *ei)
{
    w->srv = s;
    vt_buf_init(&w->out, s->cfg.recv_max);
    return ms_store_open(&w->st, s->cfg.redis_url, &s->cfg.limits, ei);
}

static void worker_close(worker *w)
{
    ms_store_close(&w->st);
    vt_buf_free(&w->out);
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
    pthread_mutex_init(&s->qmu, NULL);
    pthread_cond_init(&s->workq.cv, NULL);
    s->com = calloc(MS_COMMITTERS, sizeof *s->com);
    for (int i = 0; s->com && i < MS_COMMITTERS; i++)
        pthread_cond_init(&s->com[i].q.cv, NULL);
    vt_mem_service_key(cfg->secret, s->service_key);
    int rv = register_metrics(s, ei);
    if (rv == 0 && (rv = ms_cache_new(&s->cache, cfg->cache_agents, cfg->cache_bytes)) != 0)
        vt_fail(ei, rv, "out of memory");
    if (rv == 0 && (rv = vt_agent_cache_new(&s->agents, cfg->secret, 1000, 0)) != 0)
        vt_fail(ei, rv, "out of memory");
    if (rv == 0)
        rv = ms_store_open(&s->health, cfg->redis_url, &s->cfg.limits, ei);
    if (rv == 0) {
        /* Say what Redis promises for acknowledged writes (a Redis not up
         * yet says nothing here; memsync serves once it is, and each tick
         * says it when it changes). */
        int durable;
        vt_redis_persistence_log(s->health.r, s->cfg.log, "acknowledged memory items", false,
                                 &s->persist_seen, &durable, NULL);
    }
    if (rv == 0 && (rv = nng_rep0_open(&s->sock)) != 0)
        rv = vt_fail(ei, VT_ERR_TRANSPORT, "rep socket: %s", nng_strerror(rv));
    if (rv == 0)
        nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, cfg->recv_max);
    int nctx = cfg->workers * MS_CTX_PER_WORKER < MS_CTX_MIN ? MS_CTX_MIN
                                                              : cfg->workers * MS_CTX_PER_WORKER;
    if (rv == 0) {
        s->w = calloc((size_t)cfg->workers, sizeof *s->w);
        s->ctxs = calloc((size_t)nctx, sizeof *s->ctxs);
        if (!s->w || !s->ctxs || !s->com)
            rv = vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; rv == 0 && i < cfg->workers; i++) {
        if ((rv = worker_open(s, &s->w[i], ei)) == 0)
            s->nworkers++;
    }
    for (int i = 0; rv == 0 && i < MS_COMMITTERS; i++)
        rv = worker_open(s, &s->com[i].w, ei);
    for (int i = 0; rv == 0 && i < nctx; i++) {
        rctx *x = &s->ctxs[i];
        x->srv = s;
        if ((rv = nng_ctx_open(&x->ctx, s->sock)) != 0 ||
            (rv = nng_aio_alloc(&x->aio, rctx_cb, x)) != 0) {
            rv = vt_fail(ei, VT_ERR_TRANSPORT, "context: %s", nng_strerror(rv));
            break;
        }
        s->nctx++;
    }
    for (int i = 0; rv == 0 && i < s->nworkers; i++) {
        if (pthread_create(&s->w[i].thread, NULL, worker_main, &s->w[i]) != 0)
            rv = vt_fail(ei, VT_ERR_INTERNAL, "cannot start worker thread");
        else
            s->w[i].started = true;
    }
    for (int i = 0; rv == 0 && i < MS_COMMITTERS; i++) {
        if (pthread_create(&s->com[i].w.thread, NULL, committer_main, &s->com[i]) != 0)
            rv = vt_fail(ei, VT_ERR_INTERNAL, "cannot start a committer thread");
        else
            s->com[i].w.started = true;
    }
    if (rv == 0 && (rv = nng_listen(s->sock, cfg->listen, NULL, 0)) != 0)
        rv = vt_fail(ei, VT_ERR_TRANSPORT, "listen %s: %s", cfg->listen, nng_strerror(rv));
    ms_server_tick(s);
    for (int i = 0; rv == 0 && i < s->nctx; i++)
        rctx_recv(&s->ctxs[i]);
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
    /* Threads first (a request being handled is answered; queued ones are
     * dropped), then the contexts (nng_aio_stop waits for a running
     * callback and cancels receives and sends in flight; the callback does
     * not re-arm once `stopping` is set), then the socket: a thread still
     * answering would otherwise send on a context the close has freed, and
     * NNG 1.5.2 then aborts. */
    pthread_mutex_lock(&s->qmu);
    atomic_store(&s->stopping, true);
    pthread_cond_broadcast(&s->workq.cv);
    for (int i = 0; s->com && i < MS_COMMITTERS; i++)
        pthread_cond_broadcast(&s->com[i].q.cv);
    pthread_mutex_unlock(&s->qmu);
    for (int i = 0; s->w && i < s->nworkers; i++)
        if (s->w[i].started)
            pthread_join(s->w[i].thread, NULL);
    for (int i = 0; s->com && i < MS_COMMITTERS; i++)
        if (s->com[i].w.started)
            pthread_join(s->com[i].w.thread, NULL);
    for (int i = 0; i < s->nctx; i++)
        nng_aio_stop(s->ctxs[i].aio);
    for (int i = 0; i < s->nctx; i++) {
        if (s->ctxs[i].req) {
            nng_msg_free(s->ctxs[i].req); /* queued, never answered */
            ms_req_clear(&s->ctxs[i].rq);
        }
    }
    nng_close(s->sock);
    for (int i = 0; i < s->nctx; i++)
        nng_aio_free(s->ctxs[i].aio);
    for (int i = 0; s->w && i < s->nworkers; i++)
        worker_close(&s->w[i]);
    for (int i = 0; s->com && i < MS_COMMITTERS; i++)
        worker_close(&s->com[i].w);
    free(s->w);
    free(s->ctxs);
    ms_store_close(&s->health);
    ms_cache_free(s->cache);
    vt_agent_cache_free(s->agents);
    for (int i = 0; i < MS_STRIPES; i++)
        pthread_mutex_destroy(&s->stripes[i].mu);
    pthread_cond_destroy(&s->workq.cv);
    for (int i = 0; s->com && i < MS_COMMITTERS; i++)
        pthread_cond_destroy(&s->com[i].q.cv);
    free(s->com);
    pthread_mutex_destroy(&s->qmu);
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
    if (ok) {
        int durable;
        vt_redis_persistence_log(s->health.r, s->cfg.log, "acknowledged memory items", false,
                                 &s->persist_seen, &durable, NULL);
    }
}

bool ms_server_ready(void *arg, char *why, size_t whysz)
{
    ms_server *s = arg;
    if (atomic_load(&s->redis_ok))
        return true;
    snprintf(why, whysz, "redis unreachable");
    return false;
}
