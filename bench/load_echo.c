/* load_echo.c - see load_echo.h. Each REP context loops recv -> reply ->
 * recv on its own aio; the reply is picked by the request's envelope type
 * only (no full decode), so this is as cheap as a server can be. */
#include "load_echo.h"

#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "vt_protocol.h"

typedef struct echo_ctx {
    struct ld_echo *e;
    nng_ctx ctx;
    nng_aio *aio;
    int sending;
} echo_ctx;

struct ld_echo {
    nng_socket sock;
    echo_ctx *ctxs;
    int n_ctx;
    vt_buf submit_ok, result_ok, error;
};

static const vt_buf *reply_for(const ld_echo *e, nng_msg *req)
{
    uint32_t minor, tlen;
    const char *type;
    if (vt_mp_read_envelope(nng_msg_body(req), nng_msg_len(req), &minor, &type, &tlen, NULL) != 0)
        return &e->error;
    if (vt_mp_str_eq(type, tlen, "submit"))
        return &e->submit_ok;
    if (vt_mp_str_eq(type, tlen, "result"))
        return &e->result_ok;
    return &e->error;
}

static void on_aio(void *arg)
{
    echo_ctx *c = arg;
    int e = nng_aio_result(c->aio);
    if (c->sending) {
        if (e)
            nng_msg_free(nng_aio_get_msg(c->aio));
        c->sending = 0;
        if (e == NNG_ECLOSED || e == NNG_ECANCELED)
            return;
        nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    if (e) {
        if (e != NNG_ECLOSED && e != NNG_ECANCELED)
            nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    nng_msg *req = nng_aio_get_msg(c->aio);
    const vt_buf *rep = reply_for(c->e, req);
    /* Reuse the request's message for the reply: no allocation. */
    nng_msg_clear(req);
    if (nng_msg_append(req, rep->data, rep->len) != 0) {
        nng_msg_free(req);
        nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    c->sending = 1;
    nng_aio_set_msg(c->aio, req);
    nng_ctx_send(c->ctx, c->aio);
}

static int canned(ld_echo *e, uint32_t n_tokens, vt_errinfo *ei)
{
    vt_msg m;
    int rv;
    vt_msg_init(&m, VT_MSG_SUBMIT_OK);
    strcpy(m.u.submit_ok.job_id, "echo-1");
    if ((rv = vt_msg_encode(&m, &e->submit_ok, ei)) != 0)
        return rv;
    int32_t *toks = calloc(n_tokens ? n_tokens : 1, sizeof *toks);
    if (!toks)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < n_tokens; i++)
        toks[i] = (int32_t)(259 + i);
    vt_msg_init(&m, VT_MSG_RESULT_OK);
    vt_msg_result_ok *r = &m.u.result_ok;
    strcpy(r->job_id, "echo-1");
    r->state = VT_JOB_VERIFIED;
    r->tokens = toks;
    r->n_tokens = n_tokens;
    r->text = "";
    r->verify.required = r->verify.passed = 1;
    rv = vt_msg_encode(&m, &e->result_ok, ei);
    free(toks);
    if (!rv)
        rv = vt_msg_encode_error(&e->error, VT_ERR_PROTO, "echo server: unexpected request", 0);
    return rv;
}

int ld_echo_start(const char *url, int n_ctx, uint32_t n_tokens, ld_echo **out, vt_errinfo *ei)
{
    *out = NULL;
    ld_echo *e = calloc(1, sizeof *e);
    if (!e)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    vt_buf_init(&e->submit_ok, 0);
    vt_buf_init(&e->result_ok, 0);
    vt_buf_init(&e->error, 0);
    int rv = canned(e, n_tokens, ei), x;
    if (rv) {
        ld_echo_stop(e);
        return rv;
    }
    if ((x = nng_rep0_open(&e->sock)) != 0 ||
        (x = nng_socket_set_size(e->sock, NNG_OPT_RECVMAXSZ, VT_PROTO_MAX_MSG_DEFAULT)) != 0 ||
        (x = nng_listen(e->sock, url, NULL, 0)) != 0) {
        ld_echo_stop(e);
        return vt_fail(ei, VT_ERR_TRANSPORT, "echo server on %s: %s", url, nng_strerror(x));
    }
    e->ctxs = calloc((size_t)n_ctx, sizeof *e->ctxs);
    if (!e->ctxs) {
        ld_echo_stop(e);
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n_ctx; i++) {
        echo_ctx *c = &e->ctxs[i];
        c->e = e;
        if ((x = nng_ctx_open(&c->ctx, e->sock)) != 0 || (x = nng_aio_alloc(&c->aio, on_aio, c))) {
            ld_echo_stop(e);
            return vt_fail(ei, VT_ERR_TRANSPORT, "echo context: %s", nng_strerror(x));
        }
        e->n_ctx = i + 1;
    }
    for (int i = 0; i < n_ctx; i++)
        nng_ctx_recv(e->ctxs[i].ctx, e->ctxs[i].aio);
    *out = e;
    return 0;
}

void ld_echo_stop(ld_echo *e)
{
    if (!e)
        return;
    for (int i = 0; i < e->n_ctx; i++)
        nng_aio_stop(e->ctxs[i].aio);
    for (int i = 0; i < e->n_ctx; i++) {
        nng_ctx_close(e->ctxs[i].ctx);
        nng_aio_free(e->ctxs[i].aio);
    }
    if (nng_socket_id(e->sock) > 0)
        nng_close(e->sock);
    free(e->ctxs);
    vt_buf_free(&e->submit_ok);
    vt_buf_free(&e->result_ok);
    vt_buf_free(&e->error);
    free(e);
}
