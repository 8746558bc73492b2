/* client.c - agent client library (vt_client.h).
 *
 * Transport. ipc:// and tcp:// (what a scheduler's agent socket listens on)
 * go through vt_sp_req, our own REQ side of NNG's wire protocol: one
 * connection per call in flight, taken from a small pool under a lock, so
 * calls from several threads run at once without sharing a connection's
 * state. Why not libnng here: NNG 1.5.2's nng_close() was seen to wait for
 * good after the peer dropped a pipe that had sent an oversized message
 * (the scheduler does that for a message over its --recv-max), and every
 * NNG round trip costs several thread hand-offs. Other schemes (tls+tcp://,
 * ws://, inproc:// ...) stay on one libnng REQ socket with a context per
 * call.
 *
 * Neither transport resends a request: a resent submit could start a second
 * job, so idempotency comes from the request token instead and the caller
 * decides when to retry.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <sodium.h>

#include "vt_client.h"
#include "vt_clock.h"
#include "vt_sp.h"

/* Idle connections kept for later calls; more concurrent calls than this
 * open connections of their own and close them afterwards. */
#define CLIENT_IDLE_MAX 16

struct vt_client {
    char api_key[VT_API_KEY_MAX + 1];
    vt_client_opts opts;
    vt_sp_pool *pool; /* ipc:// or tcp://: vt_sp_req connections, else `sock` */
    nng_socket sock;
};

/* A reply's bytes, valid until reply_release. */
typedef struct call_reply {
    const uint8_t *data;
    size_t len;
    vt_sp_req *conn; /* sp: the connection whose buffer holds data */
    nng_msg *msg;    /* libnng: the message holding data */
} call_reply;

void vt_client_opts_default(vt_client_opts *o)
{
    o->recv_max = VT_PROTO_MAX_MSG_DEFAULT;
    o->timeout_ms = 10000;
    o->reconnect_ms = 100;
    o->poll_ms = 25000;
}

void vt_job_spec_new_token(vt_job_spec *s)
{
    vt_protocol_init();
    randombytes_buf(s->request_token, sizeof s->request_token);
}

void vt_job_spec_default(vt_job_spec *s)
{
    memset(s, 0, sizeof *s);
    s->max_tokens = 64;
    s->sampling.top_p = 1.0f;
    s->kind = VT_KIND_GENERATE;
    vt_job_spec_new_token(s);
}

static int nng_to_vt(int e)
{
    switch (e) {
    case 0: return 0;
    case NNG_ETIMEDOUT: return VT_ERR_TIMEOUT;
    case NNG_ECLOSED: return VT_ERR_CLOSED;
    case NNG_ENOMEM: return VT_ERR_NOMEM;
    case NNG_EINVAL: case NNG_EADDRINVAL: case NNG_ENOTSUP: return VT_ERR_INVAL;
    case NNG_ECONNREFUSED: case NNG_ECONNRESET: case NNG_ECONNSHUT: case NNG_EUNREACHABLE:
        return VT_ERR_UNAVAILABLE;
    case NNG_EMSGSIZE: return VT_ERR_TOOBIG;
    case NNG_ECANCELED: return VT_ERR_CANCELLED;
    default: return VT_ERR_TRANSPORT;
    }
}

static int nng_fail(vt_errinfo *ei, int e, const char *what)
{
    return vt_fail(ei, nng_to_vt(e), "%s: %s", what, nng_strerror(e));
}

int vt_client_open(const char *url, const char *api_key, const vt_client_opts *opts,
                   vt_client **out, vt_errinfo *ei)
{
    if (!out)
        return vt_fail(ei, VT_ERR_INVAL, "no output pointer");
    *out = NULL;
    if (!url || !*url)
        return vt_fail(ei, VT_ERR_INVAL, "scheduler URL is empty");
    if (!api_key || !*api_key || strlen(api_key) > VT_API_KEY_MAX)
        return vt_fail(ei, VT_ERR_INVAL, "API key must be 1..%u bytes", VT_API_KEY_MAX);
    int rv = vt_protocol_init();
    if (rv)
        return vt_fail(ei, rv, "libsodium failed to start");
    vt_client *c = calloc(1, sizeof *c);
    if (!c)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    vt_client_opts_default(&c->opts);
    if (opts) {
        if (opts->recv_max)
            c->opts.recv_max = opts->recv_max;
        if (opts->timeout_ms)
            c->opts.timeout_ms = opts->timeout_ms;
        if (opts->reconnect_ms)
            c->opts.reconnect_ms = opts->reconnect_ms;
        if (opts->poll_ms)
            c->opts.poll_ms = opts->poll_ms;
    }
    snprintf(c->api_key, sizeof c->api_key, "%s", api_key);
    vt_errinfo uei = {0};
    rv = vt_sp_pool_open(url, c->opts.recv_max, CLIENT_IDLE_MAX, &c->pool, &uei);
    if (rv == 0) {
        *out = c; /* connects on the first call (the scheduler may start later) */
        return 0;
    }
    if (rv != VT_ERR_UNSUPPORTED) {
        free(c);
        return vt_fail(ei, rv, "%s", vt_errinfo_msg(&uei));
    }
    int e;
    if ((e = nng_req0_open(&c->sock))) {
        free(c);
        return nng_fail(ei, e, "cannot open REQ socket");
    }
    if ((e = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, c->opts.recv_max)) ||
        (e = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) ||
        (e = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, (nng_duration)c->opts.reconnect_ms)) ||
        (e = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT,
                               (nng_duration)(c->opts.reconnect_ms * 20)))) {
        nng_close(c->sock);
        free(c);
        return nng_fail(ei, e, "cannot set socket options");
    }
    /* Non-blocking: the scheduler may start after us; NNG keeps retrying. */
    if ((e = nng_dial(c->sock, url, NULL, NNG_FLAG_NONBLOCK))) {
        nng_close(c->sock);
        free(c);
        return nng_fail(ei, e, url);
    }
    *out = c;
    return 0;
}

void vt_client_close(vt_client *c)
{
    if (!c)
        return;
    if (c->pool) {
        vt_sp_pool_close(c->pool);
    } else {
        nng_close(c->sock);
    }
    sodium_memzero(c->api_key, sizeof c->api_key);
    free(c);
}

static void reply_release(vt_client *c, call_reply *r)
{
    if (r->conn)
        vt_sp_pool_give(c->pool, r->conn);
    if (r->msg)
        nng_msg_free(r->msg);
    memset(r, 0, sizeof *r);
}

static int sp_call(vt_client *c, const void *req, size_t len, uint32_t timeout_ms,
                   call_reply *out, vt_errinfo *ei)
{
    vt_sp_req *conn;
    int rv = vt_sp_pool_take(c->pool, &conn, ei);
    if (rv)
        return rv;
    vt_errinfo cei = {0};
    int t = timeout_ms > INT_MAX ? INT_MAX : (int)timeout_ms;
    rv = vt_sp_req_call(conn, req, len, t, &out->data, &out->len, &cei);
    if (rv) {
        vt_sp_pool_give(c->pool, conn);
        return vt_fail(ei, rv, "scheduler %s: %s", vt_sp_pool_url(c->pool), vt_errinfo_msg(&cei));
    }
    out->conn = conn;
    return 0;
}

/* One request/reply on a private libnng context. The aio's timeout covers
 * each of send and receive. */
static int nng_call(vt_client *c, const void *req, size_t len, uint32_t timeout_ms,
                    nng_msg **reply, vt_errinfo *ei)
{
    nng_ctx ctx;
    nng_aio *aio = NULL;
    nng_msg *msg = NULL;
    int e;
    *reply = NULL;
    if ((e = nng_ctx_open(&ctx, c->sock)))
        return nng_fail(ei, e, "cannot open context");
    if ((e = nng_ctx_set_ms(ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) ||
        (e = nng_aio_alloc(&aio, NULL, NULL)) || (e = nng_msg_alloc(&msg, 0)) ||
        (e = nng_msg_append(msg, req, len))) {
        if (msg)
            nng_msg_free(msg);
        nng_aio_free(aio);
        nng_ctx_close(ctx);
        return nng_fail(ei, e, "cannot prepare request");
    }
    nng_aio_set_timeout(aio, (nng_duration)timeout_ms);
    nng_aio_set_msg(aio, msg);
    nng_ctx_send(ctx, aio);
    nng_aio_wait(aio);
    if ((e = nng_aio_result(aio))) {
        nng_msg_free(nng_aio_get_msg(aio)); /* not sent: still ours */
        nng_aio_free(aio);
        nng_ctx_close(ctx);
        return nng_fail(ei, e, "send");
    }
    nng_aio_set_timeout(aio, (nng_duration)timeout_ms);
    nng_ctx_recv(ctx, aio);
    nng_aio_wait(aio);
    if ((e = nng_aio_result(aio))) {
        nng_aio_free(aio);
        nng_ctx_close(ctx);
        return nng_fail(ei, e, "no reply from scheduler");
    }
    *reply = nng_aio_get_msg(aio);
    nng_aio_free(aio);
    nng_ctx_close(ctx);
    return 0;
}

/* One request/reply on whichever transport the client has; on 0 the reply
 * is in *out until reply_release. */
static int call_raw(vt_client *c, const void *req, size_t len, uint32_t timeout_ms,
                    call_reply *out, vt_errinfo *ei)
{
    memset(out, 0, sizeof *out);
    if (c->pool)
        return sp_call(c, req, len, timeout_ms, out, ei);
    int rv = nng_call(c, req, len, timeout_ms, &out->msg, ei);
    if (rv == 0) {
        out->data = nng_msg_body(out->msg);
        out->len = nng_msg_len(out->msg);
    }
    return rv;
}

int vt_client_call(vt_client *c, const vt_buf *req, uint32_t timeout_ms, uint8_t **reply,
                   size_t *reply_len, vt_errinfo *ei)
{
    if (!c || !req || !reply || !reply_len)
        return vt_fail(ei, VT_ERR_INVAL, "missing argument");
    call_reply m;
    int rv = call_raw(c, req->data, req->len, timeout_ms ? timeout_ms : c->opts.timeout_ms, &m, ei);
    if (rv)
        return rv;
    *reply = malloc(m.len ? m.len : 1);
    if (*reply) {
        memcpy(*reply, m.data, m.len);
        *reply_len = m.len;
    }
    reply_release(c, &m);
    return *reply ? 0 : vt_fail(ei, VT_ERR_NOMEM, "out of memory");
}

/* Encode req, call, decode the reply expecting `expect` into *out. */
static int roundtrip(vt_client *c, const vt_msg *req, vt_msg_type expect, uint32_t timeout_ms,
                     vt_msg *out, vt_errinfo *ei)
{
    vt_buf b;
    vt_buf_init(&b, c->opts.recv_max);
    memset(out, 0, sizeof *out);
    int rv = vt_msg_encode(req, &b, ei);
    if (rv) {
        vt_buf_free(&b);
        return rv;
    }
    call_reply m;
    rv = call_raw(c, b.data, b.len, timeout_ms, &m, ei);
    vt_buf_free(&b);
    if (rv)
        return rv;
    if (req->type == VT_MSG_SUBMIT && req->u.submit.wait_ms) {
        /* Submit and wait: result_ok, or submit_ok from a scheduler that
         * predates wait_ms (or for a resent request token). */
        uint32_t minor, tl;
        const char *type;
        if (vt_mp_read_envelope(m.data, m.len, &minor, &type, &tl, NULL) == 0 &&
            vt_mp_str_eq(type, tl, "submit_ok"))
            expect = VT_MSG_SUBMIT_OK;
    }
    rv = vt_msg_decode_expect(m.data, m.len, expect, out, ei);
    reply_release(c, &m);
    return rv;
}

static int check_job_id(const char *job_id, vt_errinfo *ei)
{
    if (!job_id || !vt_ident_valid(job_id, strlen(job_id), VT_JOB_ID_MAX))
        return vt_fail(ei, VT_ERR_INVAL, "job id must be 1..%u of A-Z a-z 0-9 _ . : -",
                       VT_JOB_ID_MAX);
    return 0;
}

int vt_client_submit(vt_client *c, const vt_job_spec *spec, char job_id[VT_JOB_ID_MAX + 1],
                     uint32_t *retry_ms, vt_errinfo *ei)
{
    if (retry_ms)
        *retry_ms = 0;
    if (!c || !spec || !job_id)
        return vt_fail(ei, VT_ERR_INVAL, "missing argument");
    vt_msg req, rep;
    vt_msg_init(&req, VT_MSG_SUBMIT);
    req.u.submit.api_key = c->api_key;
    req.u.submit.job = *spec;
    int rv = roundtrip(c, &req, VT_MSG_SUBMIT_OK, c->opts.timeout_ms, &rep, ei);
    if (rv == 0)
        memcpy(job_id, rep.u.submit_ok.job_id, sizeof rep.u.submit_ok.job_id);
    else if (rep.type == VT_MSG_ERROR && retry_ms)
        *retry_ms = rep.u.error.retry_ms;
    vt_msg_free(&rep);
    return rv;
}

int vt_client_status(vt_client *c, const char *job_id, vt_job_status *out, vt_errinfo *ei)
{
    if (!c || !out)
        return vt_fail(ei, VT_ERR_INVAL, "missing argument");
    int rv = check_job_id(job_id, ei);
    if (rv)
        return rv;
    vt_msg req, rep;
    vt_msg_init(&req, VT_MSG_STATUS);
    req.u.status.api_key = c->api_key;
    snprintf(req.u.status.job_id, sizeof req.u.status.job_id, "%s", job_id);
    rv = roundtrip(c, &req, VT_MSG_STATUS_OK, c->opts.timeout_ms, &rep, ei);
    if (rv == 0)
        *out = rep.u.status_ok; /* inline fields only: no pointers to keep alive */
    vt_msg_free(&rep);
    return rv;
}

void vt_job_result_free(vt_job_result *r)
{
    if (!r)
        return;
    vt_msg_free(&r->msg_);
    memset(&r->r, 0, sizeof r->r);
    r->retry_ms = 0;
}

static bool transient(int rv)
{
    return rv == VT_ERR_UNAVAILABLE || rv == VT_ERR_TIMEOUT || rv == VT_ERR_TRANSPORT;
}

int vt_client_wait(vt_client *c, const char *job_id, uint32_t timeout_ms, vt_job_result *out,
                   vt_errinfo *ei)
{
    if (!out)
        return vt_fail(ei, VT_ERR_INVAL, "missing argument");
    memset(out, 0, sizeof *out);
    if (!c)
        return vt_fail(ei, VT_ERR_INVAL, "missing argument");
    int rv = check_job_id(job_id, ei);
    if (rv)
        return rv;
    vt_msg req;
    vt_msg_init(&req, VT_MSG_RESULT);
    req.u.result.api_key = c->api_key;
    snprintf(req.u.result.job_id, sizeof req.u.result.job_id, "%s", job_id);
    uint64_t deadline = vt_mono_ms() + timeout_ms;
    for (;;) {
        uint64_t now = vt_mono_ms();
        uint64_t left = deadline > now ? deadline - now : 0;
        req.u.result.wait_ms = (uint32_t)(left < c->opts.poll_ms ? left : c->opts.poll_ms);
        vt_msg rep;
        /* The reply may take the whole long poll plus a normal round trip. */
        rv = roundtrip(c, &req, VT_MSG_RESULT_OK, req.u.result.wait_ms + c->opts.timeout_ms, &rep,
                       ei);
        if (rv == 0) {
            vt_msg_free(&out->msg_);
            out->msg_ = rep;
            out->r = rep.u.result_ok;
            if (vt_job_state_done(out->r.state))
                return 0;
        } else {
            vt_msg_free(&rep);
            /* The result request is read-only, so it is safe to repeat after
             * a lost connection; any other error is the answer. */
            if (!transient(rv))
                return rv;
        }
        now = vt_mono_ms();
        if (now >= deadline)
            return vt_fail(ei, VT_ERR_TIMEOUT, "job %s not finished after %u ms", job_id,
                           (unsigned)timeout_ms);
        if (rv != 0 || now - (deadline - left) < 50)
            vt_sleep_ms(50); /* scheduler answered at once (or failed): don't spin */
    }
}

int vt_client_run(vt_client *c, const vt_job_spec *spec, uint32_t timeout_ms,
                  char job_id[VT_JOB_ID_MAX + 1], vt_job_result *out, vt_errinfo *ei)
{
    if (!out)
        return vt_fail(ei, VT_ERR_INVAL, "missing argument");
    memset(out, 0, sizeof *out);
    if (!c || !spec || !job_id)
        return vt_fail(ei, VT_ERR_INVAL, "missing argument");
    job_id[0] = 0;
    uint64_t deadline = vt_mono_ms() + timeout_ms;
    vt_msg req, rep;
    vt_msg_init(&req, VT_MSG_SUBMIT);
    req.u.submit.api_key = c->api_key;
    req.u.submit.job = *spec;
    req.u.submit.wait_ms = timeout_ms < c->opts.poll_ms ? timeout_ms : c->opts.poll_ms;
    if (req.u.submit.wait_ms == 0)
        req.u.submit.wait_ms = 1;
    /* One attempt, like vt_client_submit: a resent submit is a new job
     * unless the spec carries the same request token. */
    int rv = roundtrip(c, &req, VT_MSG_RESULT_OK, req.u.submit.wait_ms + c->opts.timeout_ms, &rep,
                       ei);
    if (rv) {
        if (rep.type == VT_MSG_ERROR)
            out->retry_ms = rep.u.error.retry_ms;
        vt_msg_free(&rep);
        return rv;
    }
    if (rep.type == VT_MSG_SUBMIT_OK) {
        memcpy(job_id, rep.u.submit_ok.job_id, sizeof rep.u.submit_ok.job_id);
        vt_msg_free(&rep);
    } else {
        memcpy(job_id, rep.u.result_ok.job_id, sizeof rep.u.result_ok.job_id);
        out->msg_ = rep;
        out->r = rep.u.result_ok;
        if (vt_job_state_done(out->r.state))
            return 0;
    }
    uint64_t now = vt_mono_ms();
    if (now >= deadline)
        return vt_fail(ei, VT_ERR_TIMEOUT, "job %s not finished after %u ms", job_id,
                       (unsigned)timeout_ms);
    vt_job_result_free(out);
    return vt_client_wait(c, job_id, (uint32_t)(deadline - now), out, ei);
}

int vt_client_cancel(vt_client *c, const char *job_id, vt_job_state *state, vt_errinfo *ei)
{
    if (!c)
        return vt_fail(ei, VT_ERR_INVAL, "missing argument");
    int rv = check_job_id(job_id, ei);
    if (rv)
        return rv;
    vt_msg req, rep;
    vt_msg_init(&req, VT_MSG_CANCEL);
    req.u.cancel.api_key = c->api_key;
    snprintf(req.u.cancel.job_id, sizeof req.u.cancel.job_id, "%s", job_id);
    rv = roundtrip(c, &req, VT_MSG_CANCEL_OK, c->opts.timeout_ms, &rep, ei);
    if (rv == 0 && state)
        *state = rep.u.cancel_ok.state;
    vt_msg_free(&rep);
    return rv;
}
