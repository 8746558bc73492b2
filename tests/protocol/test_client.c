/* test_client.c - the agent client library: argument checks without a
 * scheduler, then real round trips against a small in-process libnng REP
 * responder (it answers from the protocol, not from scheduler logic; the
 * scheduler's own tests cover that): over ipc:// and tcp:// (the client's
 * own SP connections) and inproc:// (its libnng fallback), and a request
 * over the responder's receive limit (the connection is dropped; the
 * client says so, then serves the next call and closes). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "samples.h"
#include "vt_client.h"

static char tmpdir[] = "/tmp/vt_client_test_XXXXXX";
static char url[300]; /* ipc:// in tmpdir */

typedef struct responder {
    nng_socket sock;
    pthread_t thread;
    int result_calls;
    uint32_t last_wait_ms;
    uint8_t last_token[VT_REQUEST_TOKEN_BYTES];
} responder;

static void reply_msg(responder *s, vt_msg *m)
{
    vt_buf b;
    vt_buf_init(&b, 0);
    CHECK(vt_msg_encode(m, &b, NULL) == 0);
    CHECK(nng_send(s->sock, b.data, b.len, 0) == 0);
    vt_buf_free(&b);
}

static void reply_error(responder *s, int code, const char *msg, uint32_t retry_ms)
{
    vt_buf b;
    vt_buf_init(&b, 0);
    CHECK(vt_msg_encode_error(&b, code, msg, retry_ms) == 0);
    CHECK(nng_send(s->sock, b.data, b.len, 0) == 0);
    vt_buf_free(&b);
}

static void *serve(void *arg)
{
    responder *s = arg;
    for (;;) {
        char *buf;
        size_t len;
        if (nng_recv(s->sock, &buf, &len, NNG_FLAG_ALLOC) != 0)
            return NULL; /* closed */
        vt_msg req, rep;
        vt_errinfo ei = {0};
        int rv = vt_msg_decode(buf, len, &req, &ei);
        nng_free(buf, len);
        if (rv) {
            reply_error(s, rv, ei.detail, 0);
            continue;
        }
        switch (req.type) {
        case VT_MSG_SUBMIT:
            if (strcmp(req.u.submit.api_key, "busy") == 0) {
                reply_error(s, VT_ERR_OVERLOADED, "queue full", 123);
                break;
            }
            memcpy(s->last_token, req.u.submit.job.request_token, VT_REQUEST_TOKEN_BYTES);
            vt_msg_init(&rep, VT_MSG_SUBMIT_OK);
            snprintf(rep.u.submit_ok.job_id, sizeof rep.u.submit_ok.job_id, "j_1");
            reply_msg(s, &rep);
            break;
        case VT_MSG_STATUS:
            if (strcmp(req.u.status.job_id, "missing") == 0) {
                reply_error(s, VT_ERR_NOTFOUND, "no such job", 0);
                break;
            }
            vt_msg_init(&rep, VT_MSG_STATUS_OK);
            snprintf(rep.u.status_ok.job_id, sizeof rep.u.status_ok.job_id, "%s",
                     req.u.status.job_id);
            rep.u.status_ok.state = VT_JOB_LEASED;
            rep.u.status_ok.attempts = 1;
            reply_msg(s, &rep);
            break;
        case VT_MSG_RESULT: {
            s->last_wait_ms = req.u.result.wait_ms;
            bool done = strcmp(req.u.result.job_id, "slow") != 0 && ++s->result_calls >= 2;
            if (!done) /* park a little, as a long poll would */
                usleep(1000u * (req.u.result.wait_ms < 100 ? req.u.result.wait_ms : 100));
            vt_msg_init(&rep, VT_MSG_RESULT_OK);
            vt_msg_result_ok *r = &rep.u.result_ok;
            snprintf(r->job_id, sizeof r->job_id, "%s", req.u.result.job_id);
            r->state = done ? VT_JOB_VERIFIED : VT_JOB_VERIFYING;
            static const int32_t toks[] = {5, 6, 7};
            if (done) {
                r->tokens = toks;
                r->n_tokens = 3;
                r->text = "hi!";
                r->text_len = 3;
                r->verify = (vt_verify_summary){1, 1, 0, 0};
            }
            reply_msg(s, &rep);
            break;
        }
        case VT_MSG_CANCEL:
            vt_msg_init(&rep, VT_MSG_CANCEL_OK);
            snprintf(rep.u.cancel_ok.job_id, sizeof rep.u.cancel_ok.job_id, "%s",
                     req.u.cancel.job_id);
            rep.u.cancel_ok.state = VT_JOB_CANCELLED;
            reply_msg(s, &rep);
            break;
        default:
            reply_error(s, VT_ERR_PROTO, "unexpected message", 0);
        }
        vt_msg_free(&req);
    }
}

/* Listen on `where` (tcp://127.0.0.1:0 picks a port) with a receive
 * limit; the address to dial in dial_url. */
static void responder_start(responder *s, const char *where, size_t recv_max, char *dial_url,
                            size_t dial_cap)
{
    memset(s, 0, sizeof *s);
    nng_listener l;
    CHECK(nng_rep0_open(&s->sock) == 0);
    CHECK(nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, recv_max) == 0);
    CHECK(nng_listen(s->sock, where, &l, 0) == 0);
    int port = 0;
    if (strncmp(where, "tcp://", 6) == 0 &&
        nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) == 0)
        snprintf(dial_url, dial_cap, "tcp://127.0.0.1:%d", port);
    else
        snprintf(dial_url, dial_cap, "%s", where);
    CHECK(pthread_create(&s->thread, NULL, serve, s) == 0);
}

static void responder_stop(responder *s)
{
    nng_close(s->sock);
    pthread_join(s->thread, NULL);
}

static void test_arguments(void)
{
    vt_client *c = (vt_client *)1;
    vt_errinfo ei = {0};
    char longkey[VT_API_KEY_MAX + 2];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = 0;
    CHECK(vt_client_open(NULL, "k", NULL, &c, &ei) == VT_ERR_INVAL && c == NULL);
    CHECK(vt_client_open("", "k", NULL, &c, &ei) == VT_ERR_INVAL);
    CHECK(vt_client_open(url, "", NULL, &c, &ei) == VT_ERR_INVAL);
    CHECK(vt_client_open(url, NULL, NULL, &c, &ei) == VT_ERR_INVAL);
    CHECK(vt_client_open(url, longkey, NULL, &c, &ei) == VT_ERR_INVAL);
    CHECK(vt_client_open("nope://x", "k", NULL, &c, &ei) == VT_ERR_INVAL);
    CHECK(vt_client_open(url, "k", NULL, NULL, &ei) == VT_ERR_INVAL);

    /* a client with nobody listening: calls time out, arguments still checked */
    vt_client_opts o;
    vt_client_opts_default(&o);
    o.timeout_ms = 200;
    CHECK(vt_client_open(url, "k", &o, &c, &ei) == 0);
    vt_job_status st;
    CHECK(vt_client_status(c, "j_1", &st, &ei) == VT_ERR_TIMEOUT);
    CHECK(vt_client_status(c, "a b", &st, &ei) == VT_ERR_INVAL);
    CHECK(vt_client_status(c, NULL, &st, &ei) == VT_ERR_INVAL);
    CHECK(vt_client_cancel(c, "", NULL, &ei) == VT_ERR_INVAL);
    vt_job_result res;
    CHECK(vt_client_wait(c, "bad/id", 10, &res, &ei) == VT_ERR_INVAL);
    vt_job_result_free(&res);
    char id[VT_JOB_ID_MAX + 1];
    CHECK(vt_client_submit(c, NULL, id, NULL, &ei) == VT_ERR_INVAL);
    vt_job_spec spec;
    vt_job_spec_default(&spec);
    spec.model = "tiny"; /* no prompt: refused before anything is sent */
    CHECK(vt_client_submit(c, &spec, id, NULL, &ei) == VT_ERR_INVAL && strstr(ei.detail, "prompt"));
    spec.prompt = "x";
    spec.prompt_len = 1;
    spec.max_tokens = VT_PROTO_MAX_OUTPUT_TOKENS + 1;
    CHECK(vt_client_submit(c, &spec, id, NULL, &ei) == VT_ERR_TOOBIG);
    vt_client_close(c);
    vt_client_close(NULL);

    /* specs get distinct random tokens */
    vt_job_spec a, b;
    vt_job_spec_default(&a);
    vt_job_spec_default(&b);
    CHECK(memcmp(a.request_token, b.request_token, VT_REQUEST_TOKEN_BYTES) != 0);
}

typedef struct worker_arg {
    vt_client *c;
    int ok;
} worker_arg;

static void *status_loop(void *p)
{
    worker_arg *w = p;
    for (int i = 0; i < 25; i++) {
        vt_job_status st;
        if (vt_client_status(w->c, "j_1", &st, NULL) == 0 && st.state == VT_JOB_LEASED)
            w->ok++;
    }
    return NULL;
}

static void test_round_trips(const char *where)
{
    responder s;
    char url[300];
    responder_start(&s, where, VT_PROTO_MAX_MSG_DEFAULT, url, sizeof url);

    vt_client *c, *busy;
    vt_errinfo ei = {0};
    vt_client_opts o;
    vt_client_opts_default(&o);
    o.poll_ms = 150; /* several long polls inside one wait */
    CHECK(vt_client_open(url, "vtk_test", &o, &c, &ei) == 0);
    CHECK(vt_client_open(url, "busy", NULL, &busy, &ei) == 0);

    vt_job_spec spec;
    vt_job_spec_default(&spec);
    spec.model = "tiny";
    spec.prompt = "Hello";
    spec.prompt_len = 5;
    char id[VT_JOB_ID_MAX + 1];
    uint32_t retry = 99;
    CHECK(vt_client_submit(c, &spec, id, &retry, &ei) == 0 && strcmp(id, "j_1") == 0 && retry == 0);
    CHECK(memcmp(s.last_token, spec.request_token, VT_REQUEST_TOKEN_BYTES) == 0);
    CHECK(vt_client_submit(busy, &spec, id, &retry, &ei) == VT_ERR_OVERLOADED);
    CHECK(retry == 123 && strstr(ei.detail, "queue full"));

    vt_job_status st;
    CHECK(vt_client_status(c, "j_1", &st, &ei) == 0 && st.state == VT_JOB_LEASED && st.attempts == 1);
    CHECK(vt_client_status(c, "missing", &st, &ei) == VT_ERR_NOTFOUND);

    vt_job_result res;
    CHECK(vt_client_wait(c, "j_1", 5000, &res, &ei) == 0);
    CHECK(res.r.state == VT_JOB_VERIFIED && res.r.n_tokens == 3 && res.r.tokens[2] == 7);
    CHECK(res.r.text_len == 3 && strcmp(res.r.text, "hi!") == 0 && res.r.verify.passed == 1);
    CHECK(s.result_calls == 2 && s.last_wait_ms <= 150);
    vt_job_result_free(&res);

    CHECK(vt_client_wait(c, "slow", 300, &res, &ei) == VT_ERR_TIMEOUT);
    CHECK(res.r.state == VT_JOB_VERIFYING); /* latest state is kept */
    vt_job_result_free(&res);

    /* submit and wait: this responder predates wait_ms and answers
     * submit_ok, so the client goes on with long polls; a refusal keeps the
     * scheduler's retry hint and names no job */
    CHECK(vt_client_run(c, &spec, 5000, id, &res, &ei) == 0 && strcmp(id, "j_1") == 0);
    CHECK(res.r.state == VT_JOB_VERIFIED && res.r.n_tokens == 3 && res.retry_ms == 0);
    vt_job_result_free(&res);
    CHECK(vt_client_run(busy, &spec, 5000, id, &res, &ei) == VT_ERR_OVERLOADED);
    CHECK(id[0] == 0 && res.retry_ms == 123 && strstr(ei.detail, "queue full"));
    vt_job_result_free(&res);
    CHECK(res.retry_ms == 0);

    vt_job_state state;
    CHECK(vt_client_cancel(c, "j_1", &state, &ei) == 0 && state == VT_JOB_CANCELLED);

    /* raw call: the responder refuses garbage with a protocol error */
    vt_buf raw;
    vt_buf_init(&raw, 0);
    CHECK(vt_buf_append(&raw, "\x93\x01\x02", 3) == 0);
    uint8_t *reply;
    size_t rlen;
    CHECK(vt_client_call(c, &raw, 0, &reply, &rlen, &ei) == 0);
    vt_msg m;
    CHECK(vt_msg_decode_expect(reply, rlen, VT_MSG_STATUS_OK, &m, &ei) == VT_ERR_PROTO);
    CHECK(m.type == VT_MSG_ERROR);
    vt_msg_free(&m);
    free(reply);
    vt_buf_free(&raw);

    /* one client, several threads at once */
    pthread_t th[4];
    worker_arg wa[4];
    for (int i = 0; i < 4; i++) {
        wa[i] = (worker_arg){c, 0};
        CHECK(pthread_create(&th[i], NULL, status_loop, &wa[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(wa[i].ok == 25);
    }

    vt_client_close(c);
    vt_client_close(busy);
    responder_stop(&s);
}

/* The scheduler drops the connection of a message over its --recv-max (as
 * libnng's REP does here). The call says the connection was lost instead
 * of waiting out its timeout, the next call on the same client reconnects,
 * and closing returns. */
static void test_oversized_request(void)
{
    responder s;
    char where[300], url[300];
    snprintf(where, sizeof where, "ipc://%s/small.sock", tmpdir);
    responder_start(&s, where, 1024, url, sizeof url);
    vt_client *c;
    vt_errinfo ei = {0};
    vt_client_opts o;
    vt_client_opts_default(&o);
    o.timeout_ms = 20000;
    CHECK(vt_client_open(url, "vtk_test", &o, &c, &ei) == 0);
    vt_job_status st;
    CHECK(vt_client_status(c, "j_1", &st, &ei) == 0 && st.state == VT_JOB_LEASED);

    static char big[4096];
    memset(big, 'x', sizeof big);
    vt_job_spec spec;
    vt_job_spec_default(&spec);
    spec.model = "tiny";
    spec.prompt = big;
    spec.prompt_len = sizeof big;
    char id[VT_JOB_ID_MAX + 1];
    /* TRANSPORT (the connection was lost), not TIMEOUT after 20 s */
    int rv = vt_client_submit(c, &spec, id, NULL, &ei);
    CHECK(rv == VT_ERR_TRANSPORT);
    for (int i = 0; i < 3; i++)
        CHECK(vt_client_status(c, "j_1", &st, &ei) == 0 && st.state == VT_JOB_LEASED);
    vt_client_close(c);
    responder_stop(&s);
    char path[300];
    snprintf(path, sizeof path, "%s/small.sock", tmpdir);
    unlink(path);
}

int main(void)
{
    CHECK(mkdtemp(tmpdir) != NULL);
    snprintf(url, sizeof url, "ipc://%s/agent.sock", tmpdir);
    test_arguments();
    test_round_trips(url);                 /* ipc: the client's SP connections */
    test_round_trips("tcp://127.0.0.1:0"); /* tcp: the same */
    test_round_trips("inproc://vt-client-test"); /* libnng for other schemes */
    test_oversized_request();
    char sock[300];
    snprintf(sock, sizeof sock, "%s/agent.sock", tmpdir);
    unlink(sock);
    rmdir(tmpdir);
    printf("test_client: ok\n");
    return 0;
}
