/* session.c - the keeper thread of a node daemon: hello, re-hello, and
 * heartbeats on the socket that carries the session (see vt_worker.h). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "vt_worker.h"

#define KEEPER_CALL_MS 10000
#define KEEPER_BACKOFF_MAX_MS 2000

void vt_node_session_id(vt_node_session *s, char out[VT_SESSION_MAX + 1])
{
    pthread_mutex_lock(s->mu);
    memcpy(out, s->session, VT_SESSION_MAX + 1);
    pthread_mutex_unlock(s->mu);
}

void vt_node_call_failed(vt_node_session *s, const char *what, int rv, const vt_errinfo *ei,
                         vt_counter *errors)
{
    vt_counter_inc(errors);
    if (rv == VT_ERR_AUTH)
        atomic_store(&s->need_hello, true);
    vt_log_warn(s->log, "scheduler.call_failed", "call=%s err=%s detail=\"%s\"", what,
                vt_errname(rv), vt_errinfo_msg(ei));
}

void vt_node_session_abort(vt_node_session *s)
{
    pthread_mutex_lock(s->mu);
    vt_node_conn_abort(s->conn);
    pthread_mutex_unlock(s->mu);
}

static int say_hello(vt_node_session *s, vt_node_conn *c, vt_errinfo *ei)
{
    vt_msg_hello_ok ok;
    int rv = vt_node_hello(c, s->kp, s->role, s->models, s->n_models, s->device, s->slots,
                           KEEPER_CALL_MS, &ok, ei);
    if (rv)
        return rv;
    pthread_mutex_lock(s->mu);
    memcpy(s->session, ok.session, sizeof s->session);
    pthread_mutex_unlock(s->mu);
    atomic_store(&s->need_hello, false);
    bool again = atomic_exchange(&s->registered, true);
    vt_log_info(s->log, again ? "node.reregistered" : "node.registered",
                "role=%s session=%s lease_ms=%u models=%u slots=%u",
                vt_node_role_name(s->role), ok.session, ok.lease_ms, s->n_models, s->slots);
    return 0;
}

static void heartbeat(vt_node_session *s, vt_node_conn *c, uint64_t *ids)
{
    vt_msg m;
    vt_msg_init(&m, VT_MSG_HEARTBEAT);
    uint32_t busy = 0, free_slots = 0;
    pthread_mutex_lock(s->mu);
    uint32_t n = s->collect(s->arg, ids, VT_PROTO_MAX_LEASES, &busy, &free_slots);
    memcpy(m.u.heartbeat.session, s->session, sizeof m.u.heartbeat.session);
    pthread_mutex_unlock(s->mu);
    m.u.heartbeat.lease_ids = ids;
    m.u.heartbeat.n_lease_ids = n;
    m.u.heartbeat.busy_slots = busy;
    m.u.heartbeat.free_slots = free_slots;
    vt_msg reply;
    vt_errinfo ei = {0};
    int rv = vt_node_call(c, &m, VT_MSG_HEARTBEAT_OK, KEEPER_CALL_MS, &reply, &ei);
    if (rv) {
        if (!atomic_load(&s->quit))
            vt_node_call_failed(s, "heartbeat", rv, &ei, s->err_heartbeat);
    } else if (reply.u.heartbeat_ok.n_cancel) {
        pthread_mutex_lock(s->mu);
        s->cancel(s->arg, reply.u.heartbeat_ok.cancel, reply.u.heartbeat_ok.n_cancel);
        pthread_mutex_unlock(s->mu);
        vt_log_info(s->log, "lease.cancel", "n=%u", reply.u.heartbeat_ok.n_cancel);
    }
    vt_msg_free(&reply);
}

void *vt_node_keeper_main(void *arg)
{
    vt_node_session *s = arg;
    vt_node_conn *c = NULL;
    vt_errinfo ei = {0};
    uint64_t *ids = malloc(VT_PROTO_MAX_LEASES * sizeof *ids);
    if (!ids || vt_node_conn_open(s->url, s->recv_max, &c, &ei) != 0) {
        vt_log_error(s->log, "session.socket", "detail=\"%s\"", vt_errinfo_msg(&ei));
        free(ids);
        vt_signals_raise(s->sig, SIGTERM);
        return NULL;
    }
    pthread_mutex_lock(s->mu);
    s->conn = c;
    pthread_mutex_unlock(s->mu);
    uint64_t backoff = 100;
    while (!atomic_load(&s->quit)) {
        if (!atomic_load(&s->registered) || atomic_load(&s->need_hello)) {
            if (atomic_load(&s->stopping))
                break; /* no session to keep: nothing can drain */
            int rv = say_hello(s, c, &ei);
            if (rv) {
                vt_log_warn(s->log, "node.hello_failed", "err=%s detail=\"%s\"", vt_errname(rv),
                            vt_errinfo_msg(&ei));
                vt_node_sleep(&s->stopping, backoff);
                vt_node_backoff(&backoff, KEEPER_BACKOFF_MAX_MS);
            } else {
                backoff = 100;
            }
            continue;
        }
        vt_node_sleep(&s->quit, (uint64_t)s->heartbeat_ms);
        if (!atomic_load(&s->quit))
            heartbeat(s, c, ids);
    }
    free(ids);
    pthread_mutex_lock(s->mu);
    s->conn = NULL;
    pthread_mutex_unlock(s->mu);
    vt_node_conn_close(c);
    return NULL;
}
