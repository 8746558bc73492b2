/* sc_net.c - the three REP sockets, their contexts, replies and parking.
 *
 * Each socket has a fixed set of contexts (sc_conn), one request each.
 * Whichever thread finishes a request (the handler itself, the journal
 * thread after a group commit, the ticker when a long poll ends, the
 * dispatcher when work arrives) sends its reply. Handlers never touch a
 * context again after parking it and releasing the core lock.
 *
 * Sockets on ipc:// and tcp:// are spoken directly (vt_sp.h's REP server):
 * requests arrive on the server's thread, which takes a free context from
 * the socket's list (or leaves the request unread while none is free), and
 * a reply is one sendmsg on the replying thread, after which the context
 * is free again. NNG 1.5.2's REP socket handed every message between its
 * poller and task threads (several context switches per message, and the
 * scheduler's largest cost per job on the 2-core target). Other schemes
 * (inproc://, abstract://, ws://) stay on NNG: there each context has an
 * aio and a three-state machine (RECV -> BUSY -> SEND -> RECV), and a
 * context in BUSY has no operation pending.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"

#include <nng/protocol/reqrep0/rep.h>
#include "vt_clock.h"
#include "vt_sp.h"

static const char *const sock_names[SC_SOCKS] = {"agent", "worker", "verifier"};

#define SC_OUT_BUF_KEEP 16384 /* reply buffers up to this size stay with their context */


/* A context that grew a large reply buffer (a big fetch batch) gives it
 * back; called once its reply bytes are no longer needed, before the
 * context can take the next request. */
static void conn_shrink(sc_conn *c)
{
    if (c->out_buf.cap > SC_OUT_BUF_KEEP)
        vt_buf_free(&c->out_buf);
    if (c->out_defer.cap > SC_OUT_BUF_KEEP)
        vt_buf_free(&c->out_defer);
}

static void conn_recv(sc_conn *c)
{
    conn_shrink(c);
    c->state = SC_CONN_RECV;
    nng_ctx_recv(c->ctx, c->aio);
}

/* A direct socket's context is done with its request: free it for the next,
 * and wake the server if it was refused a request for want of one. */
static void direct_free(sc_conn *c)
{
    sc_direct *d = &c->s->direct[c->sock];
    vt_sp_rep_drop(&c->rq); /* nothing once replied */
    conn_shrink(c);
    pthread_mutex_lock(&d->mu);
    c->free_next = d->free;
    d->free = c;
    if (d->stalled && d->srv) /* under mu: sc_net_stop clears srv under it before closing */
        vt_sp_rep_resume(d->srv);
    d->stalled = false;
    pthread_mutex_unlock(&d->mu);
}

/* The request is abandoned without a reply (out of memory): the peer's
 * request times out. */
static void conn_abandon(sc_conn *c)
{
    if (c->s->direct[c->sock].on)
        direct_free(c);
    else
        conn_recv(c);
}

static void conn_send(sc_conn *c, nng_msg *m);

static void conn_cb(void *arg)
{
    sc_conn *c = arg;
    int rv = nng_aio_result(c->aio);
    if (c->state == SC_CONN_SEND) {
        if (rv != 0) {
            nng_msg *m = nng_aio_get_msg(c->aio);
            if (m)
                nng_msg_free(m);
        }
        if (rv == NNG_ECLOSED)
            return;
        conn_recv(c);
        return;
    }
    if (c->state != SC_CONN_RECV)
        return;
    if (rv != 0) {
        if (rv == NNG_ECLOSED)
            return;
        conn_recv(c);
        return;
    }
    nng_msg *msg = nng_aio_get_msg(c->aio);
    c->state = SC_CONN_BUSY;
    c->pipe = nng_pipe_id(nng_msg_get_pipe(msg));
    if (c->sock == SC_SOCK_AGENT)
        sc_agent_handle(c, nng_msg_body(msg), nng_msg_len(msg));
    else
        sc_node_handle(c, nng_msg_body(msg), nng_msg_len(msg));
    nng_msg_free(msg);
}

static void conn_send(sc_conn *c, nng_msg *m)
{
    conn_shrink(c);
    nng_aio_set_msg(c->aio, m);
    c->state = SC_CONN_SEND;
    nng_ctx_send(c->ctx, c->aio);
}

/* Send a reply now (the core lock is not held). */
static void conn_send_bytes(sc_conn *c, const uint8_t *p, size_t n)
{
    if (c->s->direct[c->sock].on) {
        /* VT_ERR_CLOSED: the peer left; its request needs no answer */
        vt_sp_rep_reply(&c->rq, p, n);
        direct_free(c);
        return;
    }
    nng_msg *m;
    if (nng_msg_alloc(&m, n) != 0) {
        conn_recv(c); /* the peer's request times out; nothing else to do */
        return;
    }
    memcpy(nng_msg_body(m), p, n);
    conn_send(c, m);
}

/* A request on a direct socket, on its server's thread. */
static bool direct_request(void *arg, const vt_sp_rep_req *rq, const uint8_t *body, size_t len)
{
    sc_pipe_arg *pa = arg;
    sc_direct *d = &pa->s->direct[pa->sock];
    pthread_mutex_lock(&d->mu);
    sc_conn *c = d->free;
    if (c)
        d->free = c->free_next;
    else
        d->stalled = true;
    pthread_mutex_unlock(&d->mu);
    if (!c)
        return false; /* left unread until a context is free, as NNG would */
    c->free_next = NULL;
    c->rq = *rq;
    c->pipe = rq->pipe_id;
    if (c->sock == SC_SOCK_AGENT)
        sc_agent_handle(c, body, len);
    else
        sc_node_handle(c, body, len);
    return true;
}

/* Whether the calling thread holds the core lock. Only the holder ever
 * stores its own id, and it clears it before unlocking, so another thread
 * can never read its own id here by accident. */
static bool holds_core(sched *s)
{
    pthread_t o = atomic_load_explicit(&s->mu_owner, memory_order_relaxed);
    return o && pthread_equal(o, pthread_self());
}

void sc_conn_reply(sc_conn *c, const vt_buf *b)
{
    sched *s = c->s;
    if (!holds_core(s)) {
        conn_send_bytes(c, b->data, b->len);
        return;
    }
    /* under the core lock: keep a copy, sent once the lock is released */
    if (s->direct[c->sock].on) {
        vt_buf_reset(&c->out_defer);
        c->out_defer.max = b->len;
        if (vt_buf_append(&c->out_defer, b->data, b->len) != 0) {
            conn_abandon(c);
            return;
        }
    } else {
        nng_msg *m;
        if (nng_msg_alloc(&m, b->len) != 0) {
            conn_recv(c);
            return;
        }
        memcpy(nng_msg_body(m), b->data, b->len);
        c->out_msg = m;
    }
    c->out_next = s->outbox;
    s->outbox = c;
}

void sc_unlock(sched *s)
{
    sc_conn *out = s->outbox;
    s->outbox = NULL;
    atomic_store_explicit(&s->mu_owner, (pthread_t)0, memory_order_relaxed);
    pthread_mutex_unlock(&s->mu);
    while (out) {
        sc_conn *c = out;
        out = c->out_next;
        c->out_next = NULL;
        if (s->direct[c->sock].on) {
            conn_send_bytes(c, c->out_defer.data, c->out_defer.len);
            continue;
        }
        nng_msg *m = c->out_msg;
        c->out_msg = NULL;
        conn_send(c, m);
    }
}

/* Encode a message and send it (an encoding failure is our bug: say so). */
void sc_conn_reply_msg(sc_conn *c, const vt_msg *m)
{
    /* Only whoever answers this context's request touches its buffer; it
     * is given back if it grew large (conn_shrink) once the reply is out. */
    vt_buf *b = &c->out_buf;
    b->max = (size_t)c->s->cfg.recv_max;
    vt_buf_reset(b);
    vt_errinfo ei = {0};
    if (vt_msg_encode(m, b, &ei) == 0)
        sc_conn_reply(c, b);
    else
        sc_conn_reply_error(c, VT_ERR_INTERNAL, vt_errinfo_msg(&ei), 0);
}

void sc_conn_reply_error(sc_conn *c, int code, const char *msg, uint32_t retry_ms)
{
    vt_buf b;
    vt_buf_init(&b, 0);
    if (vt_msg_encode_error(&b, code, msg, retry_ms) == 0)
        sc_conn_reply(c, &b);
    else
        conn_abandon(c);
    vt_buf_free(&b);
}

void sc_bad_message(sched *s, sc_conn *c, int code, const char *detail)
{
    vt_counter_inc(s->m.bad_msgs[c->sock]);
    uint64_t suppressed = 0;
    if (vt_ratelimit_allow(&s->bad_rl, &suppressed))
        vt_log_warn(s->log, "peer.bad_message", "sock=%s err=%s detail=%s suppressed=%llu",
                    sock_names[c->sock], vt_errname(code), detail ? detail : "",
                    (unsigned long long)suppressed);
    sc_conn_reply_error(c, code, detail, 0);
}

void sc_conn_park(sched *s, sc_conn *c, uint64_t until_ms)
{
    c->parked = true;
    c->gen++;
    c->park_until_ms = until_ms;
    sc_th_push(&s->waits, until_ms, ((uint32_t)c->sock << 24) | c->index, c->gen);
    if (c->sock != SC_SOCK_AGENT) {
        int lane = c->sock == SC_SOCK_WORKER ? SC_LANE_COMPUTE : SC_LANE_VERIFY;
        c->park_prev = NULL;
        c->park_next = s->parked[lane];
        if (s->parked[lane])
            s->parked[lane]->park_prev = c;
        s->parked[lane] = c;
        s->nodes[c->node].n_parked++;
    }
}

void sc_conn_unpark(sched *s, sc_conn *c)
{
    if (!c->parked)
        return;
    c->parked = false;
    if (c->sock != SC_SOCK_AGENT) {
        int lane = c->sock == SC_SOCK_WORKER ? SC_LANE_COMPUTE : SC_LANE_VERIFY;
        if (c->park_prev)
            c->park_prev->park_next = c->park_next;
        else
            s->parked[lane] = c->park_next;
        if (c->park_next)
            c->park_next->park_prev = c->park_prev;
        c->park_prev = c->park_next = NULL;
        if (s->nodes[c->node].n_parked > 0)
            s->nodes[c->node].n_parked--;
        s->nodes[c->node].last_seen_ms = vt_mono_ms();
    } else if (c->job_slot != SC_NONE) {
        sc_job *j = sc_job_at(s, c->job_slot);
        if (j->gen == c->job_gen) {
            for (sc_conn **pp = &j->waiters; *pp; pp = &(*pp)->next_waiter)
                if (*pp == c) {
                    *pp = c->next_waiter;
                    break;
                }
        }
        c->next_waiter = NULL;
        c->job_slot = SC_NONE;
    }
}

/* A connection went away: log it, give back an agent's parked result
 * waits, and end the session of a node whose hello pipe closed (its leases
 * go elsewhere). */
static void pipe_closed(sc_pipe_arg *pa, uint32_t id, const char *cause)
{
    sched *s = pa->s;
    if (atomic_load(&s->closing))
        return;
    vt_counter_inc(s->m.pipes_dropped);
    uint64_t suppressed = 0;
    if (vt_ratelimit_allow(&s->bad_rl, &suppressed))
        vt_log_info(s->log, "peer.pipe_closed", "sock=%s pipe=%u cause=%s suppressed=%llu",
                    sock_names[pa->sock], id, cause, (unsigned long long)suppressed);
    if (pa->sock == SC_SOCK_AGENT) {
        /* A result long poll of an agent that went away would hold its
         * context until the wait ends: give it back now. */
        sc_lock(s);
        for (int i = 0; i < s->n_conns[SC_SOCK_AGENT]; i++) {
            sc_conn *c = &s->conns[SC_SOCK_AGENT][i];
            if (c->parked && c->pipe == id) {
                sc_conn_unpark(s, c);
                sc_conn_reply_error(c, VT_ERR_CLOSED, "connection closed", 0);
            }
        }
        sc_unlock(s);
        return;
    }
    int role = pa->sock == SC_SOCK_WORKER ? SC_LANE_COMPUTE : SC_LANE_VERIFY;
    sc_lock(s);
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        sc_node *n = &s->nodes[i];
        if (n->used && n->alive && n->role == role && n->pipe == id)
            sc_core_node_dead(s, i, "connection closed");
    }
    sc_unlock(s);
}

/* NNG's pipe events: the only trace NNG leaves of an oversized message or a
 * bad handshake on tcp/ipc is a pipe that goes away. */
static void pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    sc_pipe_arg *pa = arg;
    uint32_t id = nng_pipe_id(p);
    if (ev == NNG_PIPE_EV_ADD_POST)
        vt_log_debug(pa->s->log, "peer.pipe_open", "sock=%s pipe=%u", sock_names[pa->sock], id);
    else if (ev == NNG_PIPE_EV_REM_POST)
        pipe_closed(pa, id,
                    "peer-closed-or-dropped(oversized message > recv-max, bad handshake, or "
                    "disconnect)");
}

/* The direct server's events, on its thread; each says what happened. */
static void direct_event(void *arg, int ev, uint32_t id, const char *what)
{
    sc_pipe_arg *pa = arg;
    sched *s = pa->s;
    uint64_t suppressed = 0;
    switch (ev) {
    case VT_SP_EV_PIPE_ADD:
        vt_log_debug(s->log, "peer.pipe_open", "sock=%s pipe=%u", sock_names[pa->sock], id);
        break;
    case VT_SP_EV_PIPE_REM:
        pipe_closed(pa, id, what);
        break;
    case VT_SP_EV_DROPPED:
        vt_counter_inc(s->m.bad_msgs[pa->sock]);
        if (vt_ratelimit_allow(&s->bad_rl, &suppressed))
            vt_log_warn(s->log, "peer.bad_message", "sock=%s pipe=%u detail=%s suppressed=%llu",
                        sock_names[pa->sock], id, what, (unsigned long long)suppressed);
        break;
    case VT_SP_EV_ACCEPT_FAIL:
        if (vt_ratelimit_allow(&s->bad_rl, &suppressed))
            vt_log_error(s->log, "accept_failed", "sock=%s err=%s suppressed=%llu",
                         sock_names[pa->sock], what, (unsigned long long)suppressed);
        break;
    }
}

static int open_sock(sched *s, int k, const char *url, int nctx, vt_errinfo *ei)
{
    int rv;
    sc_direct *d = &s->direct[k];
    s->pipe_args[k].s = s;
    s->pipe_args[k].sock = k;
    d->on = vt_sp_url_check(url, NULL) != VT_ERR_UNSUPPORTED;
    if (!d->on) {
        if ((rv = nng_rep0_open(&s->sock[k])) != 0)
            return vt_fail(ei, VT_ERR_TRANSPORT, "%s socket: %s", sock_names[k],
                           nng_strerror(rv));
        nng_socket_set_size(s->sock[k], NNG_OPT_RECVMAXSZ, (size_t)s->cfg.recv_max);
        nng_pipe_notify(s->sock[k], NNG_PIPE_EV_ADD_POST, pipe_cb, &s->pipe_args[k]);
        nng_pipe_notify(s->sock[k], NNG_PIPE_EV_REM_POST, pipe_cb, &s->pipe_args[k]);
    }
    s->conns[k] = calloc((size_t)nctx, sizeof(sc_conn));
    if (!s->conns[k])
        return vt_fail(ei, VT_ERR_NOMEM, "contexts");
    for (int i = 0; i < nctx; i++) {
        sc_conn *c = &s->conns[k][i];
        c->s = s;
        c->sock = k;
        c->index = (uint32_t)i;
        c->job_slot = SC_NONE;
        c->node = SC_NONE;
        if (k != SC_SOCK_AGENT) {
            c->batch = calloc(VT_PROTO_MAX_BATCH, sizeof(uint32_t));
            if (!c->batch)
                return vt_fail(ei, VT_ERR_NOMEM, "contexts");
        }
        s->n_conns[k] = i + 1;
        if (d->on) {
            c->free_next = d->free;
            d->free = c;
            continue;
        }
        if ((rv = nng_ctx_open(&c->ctx, s->sock[k])) != 0 ||
            (rv = nng_aio_alloc(&c->aio, conn_cb, c)) != 0)
            return vt_fail(ei, VT_ERR_TRANSPORT, "%s context: %s", sock_names[k], nng_strerror(rv));
    }
    if (d->on) {
        static const char *const thread_names[SC_SOCKS] = {"sc-agent", "sc-worker",
                                                           "sc-verifier"};
        vt_sp_rep_ops ops = {.request = direct_request, .event = direct_event,
                             .arg = &s->pipe_args[k], .name = thread_names[k]};
        vt_errinfo oe = {0};
        if ((rv = vt_sp_rep_open(url, (size_t)s->cfg.recv_max, &ops, &d->srv, &oe)) != 0)
            return vt_fail(ei, rv, "%s socket: %s", sock_names[k], vt_errinfo_msg(&oe));
    } else {
        if ((rv = nng_listen(s->sock[k], url, NULL, 0)) != 0)
            return vt_fail(ei, VT_ERR_TRANSPORT, "cannot listen on %s (%s): %s", url,
                           sock_names[k], nng_strerror(rv));
        for (int i = 0; i < nctx; i++)
            conn_recv(&s->conns[k][i]);
    }
    vt_log_info(s->log, "listen", "sock=%s url=%s transport=%s contexts=%d recv_max=%lld",
                sock_names[k], url, d->on ? "direct" : "nng", nctx, (long long)s->cfg.recv_max);
    return 0;
}

int sc_net_start(sched *s, vt_errinfo *ei)
{
    int rv;
    for (int k = 0; k < SC_SOCKS; k++)
        pthread_mutex_init(&s->direct[k].mu, NULL);
    if ((rv = open_sock(s, SC_SOCK_AGENT, s->cfg.agent_listen, SC_AGENT_CTXS, ei)) != 0 ||
        (rv = open_sock(s, SC_SOCK_WORKER, s->cfg.worker_listen, SC_NODE_CTXS, ei)) != 0 ||
        (rv = open_sock(s, SC_SOCK_VERIFIER, s->cfg.verifier_listen, SC_NODE_CTXS, ei)) != 0)
        return rv;
    return 0;
}

void sc_net_stop(sched *s)
{
    /* Close the direct servers (their threads end; connections close) and
     * stop every NNG aio (NNG #1589: never free one whose callback may still
     * run), then close the NNG sockets. No request comes in after this; a
     * reply another thread still sends finds its connection closed or its
     * aio stopped. */
    atomic_store(&s->closing, true);
    for (int k = 0; k < SC_SOCKS; k++) {
        sc_direct *d = &s->direct[k];
        if (d->on) {
            pthread_mutex_lock(&d->mu);
            vt_sp_rep *srv = d->srv;
            d->srv = NULL;
            pthread_mutex_unlock(&d->mu);
            vt_sp_rep_close(srv); /* waits for a request being handled */
            continue;
        }
        for (int i = 0; i < s->n_conns[k]; i++)
            nng_aio_stop(s->conns[k][i].aio);
    }
    for (int k = 0; k < SC_SOCKS; k++)
        if (!s->direct[k].on && (s->n_conns[k] || nng_socket_id(s->sock[k]) > 0))
            nng_close(s->sock[k]);
}

/* After sc_net_stop and after the journal and arbiter threads are gone:
 * they may still reply to a context until then (nng_aio_free waits for a
 * callback still running). */
void sc_net_free(sched *s)
{
    for (int k = 0; k < SC_SOCKS; k++) {
        for (int i = 0; i < s->n_conns[k]; i++) {
            sc_conn *c = &s->conns[k][i];
            if (c->aio)
                nng_aio_free(c->aio);
            vt_sp_rep_drop(&c->rq); /* a parked request's connection */
            free(c->batch);
            vt_buf_free(&c->out_buf);
            vt_buf_free(&c->out_defer);
        }
        free(s->conns[k]);
        s->conns[k] = NULL;
        s->n_conns[k] = 0;
        s->direct[k].free = NULL;
        pthread_mutex_destroy(&s->direct[k].mu);
    }
}
