/* load_echo.c - see load_echo.h. The server is the scheduler's own
 * (vt_sp_rep): every request is answered on its thread, at once, with a
 * reply picked by the request's envelope type only (no full decode), so
 * this is as cheap as a server on that transport can be. */
#include "load_echo.h"

#include <stdlib.h>
#include <string.h>

#include "vt_protocol.h"
#include "vt_sp.h"

struct ld_echo {
    vt_sp_rep *srv;
    vt_buf submit_ok, result_ok, error;
};

static const vt_buf *reply_for(const ld_echo *e, const uint8_t *req, size_t len)
{
    uint32_t minor, tlen;
    const char *type;
    if (vt_mp_read_envelope(req, len, &minor, &type, &tlen, NULL) != 0)
        return &e->error;
    if (vt_mp_str_eq(type, tlen, "submit"))
        return &e->submit_ok;
    if (vt_mp_str_eq(type, tlen, "result"))
        return &e->result_ok;
    return &e->error;
}

static bool on_request(void *arg, const vt_sp_rep_req *rq, const uint8_t *body, size_t len)
{
    ld_echo *e = arg;
    const vt_buf *rep = reply_for(e, body, len);
    vt_sp_rep_req r = *rq;
    vt_sp_rep_reply(&r, rep->data, rep->len);
    return true;
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

int ld_echo_start(const char *url, uint32_t n_tokens, ld_echo **out, vt_errinfo *ei)
{
    *out = NULL;
    ld_echo *e = calloc(1, sizeof *e);
    if (!e)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    vt_buf_init(&e->submit_ok, 0);
    vt_buf_init(&e->result_ok, 0);
    vt_buf_init(&e->error, 0);
    int rv = canned(e, n_tokens, ei);
    vt_sp_rep_ops ops = {.request = on_request, .arg = e, .name = "bench-echo"};
    if (!rv)
        rv = vt_sp_rep_open(url, VT_PROTO_MAX_MSG_DEFAULT, &ops, &e->srv, ei);
    if (rv) {
        ld_echo_stop(e);
        return rv;
    }
    *out = e;
    return 0;
}

void ld_echo_stop(ld_echo *e)
{
    if (!e)
        return;
    vt_sp_rep_close(e->srv);
    vt_buf_free(&e->submit_ok);
    vt_buf_free(&e->result_ok);
    vt_buf_free(&e->error);
    free(e);
}
