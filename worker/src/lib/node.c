/* node.c - what every node daemon (worker, verifier) does the same way:
 * load models by PATH[@SHA256], talk REQ to the scheduler, say hello. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <sodium.h>
#include <nng/protocol/reqrep0/req.h>

#include "vt_clock.h"
#include "vt_sp.h"
#include "vt_types.h"
#include "vt_worker.h"

#define VT_VERSION_STR "verity-0.1.0"

int vt_node_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (int)n : 1;
}

int vt_model_spec_load(const char *spec, vt_model **out, vt_errinfo *ei)
{
    *out = NULL;
    if (!spec || !*spec)
        return vt_fail(ei, VT_ERR_INVAL, "empty model spec");
    char path[4096];
    const char *at = strrchr(spec, '@');
    uint8_t want[32];
    int have_want = 0;
    size_t plen = strlen(spec);
    if (at && strlen(at + 1) == 64) {
        if (vt_hex_decode(at + 1, 64, want, 32) != 0)
            return vt_fail(ei, VT_ERR_INVAL, "model '%s': '%s' is not a SHA-256 in hex", spec,
                           at + 1);
        have_want = 1;
        plen = (size_t)(at - spec);
    }
    if (plen == 0 || plen >= sizeof path)
        return vt_fail(ei, VT_ERR_INVAL, "model '%s': bad path", spec);
    memcpy(path, spec, plen);
    path[plen] = '\0';
    vt_model *m = NULL;
    int rv = vt_model_load(path, &m, ei);
    if (rv)
        return rv;
    const vt_model_info *mi = vt_model_get_info(m);
    if (have_want && memcmp(mi->sha256, want, 32) != 0) {
        char got[65], exp[65];
        vt_hex(mi->sha256, 32, got);
        vt_hex(want, 32, exp);
        vt_model_free(m);
        return vt_fail(ei, VT_ERR_MISMATCH, "model %s has sha256 %s, expected %s", path, got, exp);
    }
    *out = m;
    return 0;
}

/* ipc:// and tcp:// are spoken directly (vt_sp.h: one request at a time on
 * a blocking socket, no thread hand-offs); other schemes NNG knows
 * (tls+tcp://, abstract://, inproc://) go through an NNG REQ socket. */
struct vt_node_conn {
    vt_sp_req *sp;    /* direct, or NULL */
    nng_socket sock;  /* NNG, when sp is NULL */
    size_t recv_max;
    vt_buf buf;
};

static int nng_to_vt(int e)
{
    switch (e) {
    case 0:
        return 0;
    case NNG_ETIMEDOUT:
        return VT_ERR_TIMEOUT;
    case NNG_ECLOSED:
        return VT_ERR_CLOSED;
    case NNG_ENOMEM:
        return VT_ERR_NOMEM;
    case NNG_EINVAL:
    case NNG_EADDRINVAL:
        return VT_ERR_INVAL;
    default:
        return VT_ERR_TRANSPORT;
    }
}

static int nng_conn_open(vt_node_conn *c, const char *url, vt_errinfo *ei)
{
    int e = nng_req0_open(&c->sock);
    if (!e)
        e = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, c->recv_max);
    if (!e)
        e = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    if (!e)
        e = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 50);
    if (!e)
        e = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 1000);
    if (!e)
        e = nng_dial(c->sock, url, NULL, NNG_FLAG_NONBLOCK);
    if (e) {
        int rv = nng_to_vt(e);
        nng_close(c->sock);
        return vt_fail(ei, rv, "scheduler %s: %s", url, nng_strerror(e));
    }
    return 0;
}

int vt_node_conn_open(const char *url, size_t recv_max, vt_node_conn **out, vt_errinfo *ei)
{
    *out = NULL;
    vt_node_conn *c = calloc(1, sizeof *c);
    if (!c)
        return VT_ERR_NOMEM;
    c->recv_max = recv_max ? recv_max : VT_PROTO_MAX_MSG_DEFAULT;
    vt_buf_init(&c->buf, c->recv_max);
    vt_errinfo aei = {0};
    int rv = vt_sp_req_open(url, c->recv_max, &c->sp, &aei);
    if (rv == VT_ERR_UNSUPPORTED)
        rv = nng_conn_open(c, url, ei);
    else if (rv)
        vt_fail(ei, rv, "scheduler %s", vt_errinfo_msg(&aei));
    if (rv) {
        vt_buf_free(&c->buf);
        free(c);
        return rv;
    }
    *out = c;
    return 0;
}

void vt_node_conn_close(vt_node_conn *c)
{
    if (!c)
        return;
    if (c->sp)
        vt_sp_req_close(c->sp);
    else
        nng_close(c->sock);
    vt_buf_free(&c->buf);
    free(c);
}

void vt_node_conn_abort(vt_node_conn *c)
{
    if (!c)
        return;
    if (c->sp)
        vt_sp_req_abort(c->sp);
    else
        nng_close(c->sock); /* NNG looks sockets up by id: closing twice is harmless */
}

/* Send the encoded request in c->buf; the reply's bytes in *data. */
static int nng_conn_call(vt_node_conn *c, const char *what, int timeout_ms, void **data,
                         size_t *len, vt_errinfo *ei)
{
    nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, timeout_ms);
    nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, timeout_ms);
    int e = nng_send(c->sock, c->buf.data, c->buf.len, 0);
    if (e)
        return vt_fail(ei, nng_to_vt(e), "send %s: %s", what, nng_strerror(e));
    e = nng_recv(c->sock, data, len, NNG_FLAG_ALLOC);
    if (e)
        return vt_fail(ei, nng_to_vt(e), "%s reply: %s", what, nng_strerror(e));
    return 0;
}

int vt_node_call(vt_node_conn *c, const vt_msg *req, vt_msg_type expect, int timeout_ms,
                 vt_msg *reply, vt_errinfo *ei)
{
    vt_msg_init(reply, VT_MSG_NONE);
    vt_buf_reset(&c->buf);
    int rv = vt_msg_encode(req, &c->buf, ei);
    if (rv)
        return rv;
    const char *what = vt_msg_type_name(req->type);
    if (c->sp) {
        const uint8_t *data = NULL;
        size_t len = 0;
        vt_errinfo cei = {0};
        rv = vt_sp_req_call(c->sp, c->buf.data, c->buf.len, timeout_ms, &data, &len, &cei);
        if (rv)
            return vt_fail(ei, rv, "%s: %s", what, vt_errinfo_msg(&cei));
        return vt_msg_decode_expect(data, len, expect, reply, ei);
    }
    void *data = NULL;
    size_t len = 0;
    rv = nng_conn_call(c, what, timeout_ms, &data, &len, ei);
    if (rv)
        return rv;
    rv = vt_msg_decode_expect(data, len, expect, reply, ei);
    nng_free(data, len);
    return rv;
}

int vt_node_hello(vt_node_conn *c, const vt_keypair *kp, vt_hello_role role,
                  const vt_model_ref *models, uint32_t n_models, const char *device,
                  uint32_t slots, int timeout_ms, vt_msg_hello_ok *ok, vt_errinfo *ei)
{
    vt_msg m;
    vt_msg_init(&m, VT_MSG_HELLO);
    vt_msg_hello *h = &m.u.hello;
    memcpy(h->node_pk, kp->pk, VT_PUBKEY_BYTES);
    h->role = role;
    h->models = models;
    h->n_models = n_models;
    h->device = device;
    h->slots = slots;
    h->version = VT_VERSION_STR;
    h->time_ms = (uint64_t)vt_wall_ms();
    /* a fresh nonce: the signature over it cannot be replayed later */
    int rv = vt_protocol_init();
    if (rv)
        return vt_fail(ei, rv, "libsodium did not start");
    randombytes_buf(h->nonce, VT_NONCE_BYTES);
    rv = vt_hello_sign(h, kp, ei);
    if (rv)
        return rv;
    vt_msg reply;
    rv = vt_node_call(c, &m, VT_MSG_HELLO_OK, timeout_ms, &reply, ei);
    if (rv == 0)
        *ok = reply.u.hello_ok;
    vt_msg_free(&reply);
    return rv;
}

void vt_node_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(cv, mu, &ts);
}

void vt_node_sleep(const atomic_bool *quit, uint64_t ms)
{
    uint64_t end = vt_mono_ms() + ms;
    while (!atomic_load(quit)) {
        uint64_t now = vt_mono_ms();
        if (now >= end)
            break;
        vt_sleep_ms(end - now < 20 ? end - now : 20);
    }
}

void vt_node_backoff(uint64_t *ms, uint64_t max_ms)
{
    *ms = *ms * 2 > max_ms ? max_ms : *ms * 2;
}
