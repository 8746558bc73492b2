/* test_sp_rep.c - vt_sp.h's REP server against real peers over ipc:// and
 * tcp:// (loopback): NNG REQ contexts with many requests outstanding on one
 * connection, answered in and out of order and from other threads; the
 * blocking vt_sp_req; an oversized request (connection ended), a peer that
 * is not SP (ended), a request without a backtrace (dropped, connection
 * kept), a refused request read again after vt_sp_rep_resume, replies to a
 * connection that went away and to a closed server, a stale ipc path, and
 * running out of descriptors (accepting pauses, then resumes). */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "vt_clock.h"
#include "vt_sp.h"
#include "vt_test.h"
#include "vt_testsupport.h"

#define BODY_MAX 4096
#define NCTX 16
#define ROUNDS 40
#define HELD_MAX 64

/* The handler: "<body>!" now, or for bodies starting with 'd' from the
 * deferring thread (which answers in reverse order of arrival); "keep" is
 * held unanswered; while `refuse` is set every request is refused. */
typedef struct handler {
    pthread_mutex_t mu;
    vt_sp_rep_req held[HELD_MAX];
    char held_body[HELD_MAX][64];
    int n_held;
    vt_sp_rep_req kept;
    bool have_kept;
    atomic_bool refuse;
    atomic_int n_requests, n_refused, n_add, n_rem, n_dropped, n_accept_fail;
    char last_rem[128];
    pthread_t th;
    atomic_bool stop;
} handler;

static void reply_bang(vt_sp_rep_req *rq, const char *body, size_t len)
{
    char out[BODY_MAX + 2];
    memcpy(out, body, len);
    out[len] = '!';
    vt_sp_rep_reply(rq, out, len + 1);
}

static bool on_request(void *arg, const vt_sp_rep_req *rq, const uint8_t *body, size_t len)
{
    handler *h = arg;
    if (atomic_load(&h->refuse)) {
        atomic_fetch_add(&h->n_refused, 1);
        return false;
    }
    atomic_fetch_add(&h->n_requests, 1);
    vt_sp_rep_req r = *rq;
    if (len == 4 && memcmp(body, "keep", 4) == 0) {
        pthread_mutex_lock(&h->mu);
        h->kept = r;
        h->have_kept = true;
        pthread_mutex_unlock(&h->mu);
        return true;
    }
    if (len > 0 && body[0] == 'd' && len < 64) {
        pthread_mutex_lock(&h->mu);
        if (h->n_held < HELD_MAX) {
            memcpy(h->held_body[h->n_held], body, len);
            h->held_body[h->n_held][len] = '\0';
            h->held[h->n_held++] = r;
            pthread_mutex_unlock(&h->mu);
            return true;
        }
        pthread_mutex_unlock(&h->mu);
    }
    reply_bang(&r, (const char *)body, len);
    return true;
}

static void on_event(void *arg, int ev, uint32_t pipe, const char *what)
{
    handler *h = arg;
    (void)pipe;
    if (ev == VT_SP_EV_PIPE_ADD)
        atomic_fetch_add(&h->n_add, 1);
    if (ev == VT_SP_EV_PIPE_REM) {
        pthread_mutex_lock(&h->mu);
        snprintf(h->last_rem, sizeof h->last_rem, "%s", what ? what : "");
        pthread_mutex_unlock(&h->mu);
        atomic_fetch_add(&h->n_rem, 1);
    }
    if (ev == VT_SP_EV_DROPPED)
        atomic_fetch_add(&h->n_dropped, 1);
    if (ev == VT_SP_EV_ACCEPT_FAIL)
        atomic_fetch_add(&h->n_accept_fail, 1);
}

/* Answers held requests newest first, every millisecond. */
static void *deferrer(void *arg)
{
    handler *h = arg;
    while (!atomic_load(&h->stop)) {
        pthread_mutex_lock(&h->mu);
        while (h->n_held > 0) {
            int i = --h->n_held;
            reply_bang(&h->held[i], h->held_body[i], strlen(h->held_body[i]));
        }
        pthread_mutex_unlock(&h->mu);
        vt_sleep_ms(1);
    }
    return NULL;
}

static vt_sp_rep *start(handler *h, const char *url, char *bound, size_t cap)
{
    memset(h, 0, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    vt_sp_rep_ops ops = {.request = on_request, .event = on_event, .arg = h};
    vt_sp_rep *srv = NULL;
    vt_errinfo ei = {0};
    int rv = vt_sp_rep_open(url, BODY_MAX, &ops, &srv, &ei);
    VT_REQUIRE(rv == 0, "open %s: %s", url, vt_errinfo_msg(&ei));
    if (strncmp(url, "tcp://", 6) == 0)
        snprintf(bound, cap, "tcp://127.0.0.1:%d", vt_sp_rep_port(srv));
    else
        snprintf(bound, cap, "%s", url);
    VT_REQUIRE(pthread_create(&h->th, NULL, deferrer, h) == 0, "thread");
    return srv;
}

static void stop(handler *h, vt_sp_rep *srv)
{
    atomic_store(&h->stop, true);
    pthread_join(h->th, NULL);
    vt_sp_rep_close(srv);
    if (h->have_kept)
        vt_sp_rep_drop(&h->kept);
    pthread_mutex_destroy(&h->mu);
}

/* ---- NNG REQ contexts: NCTX requests outstanding on one connection ---- */

typedef struct nctx_arg {
    nng_socket sock;
    int idx;
    int ok;
} nctx_arg;

static void *nng_client(void *arg)
{
    nctx_arg *a = arg;
    nng_ctx ctx;
    if (nng_ctx_open(&ctx, a->sock) != 0)
        return NULL;
    nng_ctx_set_ms(ctx, NNG_OPT_SENDTIMEO, 5000);
    nng_ctx_set_ms(ctx, NNG_OPT_RECVTIMEO, 5000);
    nng_aio *aio;
    if (nng_aio_alloc(&aio, NULL, NULL) != 0)
        return NULL;
    for (int r = 0; r < ROUNDS; r++) {
        char body[32];
        int n = snprintf(body, sizeof body, "%c%d-%d", r % 2 ? 'd' : 'n', a->idx, r);
        nng_msg *m;
        nng_msg_alloc(&m, 0);
        nng_msg_append(m, body, (size_t)n);
        nng_aio_set_msg(aio, m);
        nng_ctx_send(ctx, aio);
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0) {
            nng_msg_free(m);
            break;
        }
        nng_ctx_recv(ctx, aio);
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0)
            break;
        m = nng_aio_get_msg(aio);
        a->ok += nng_msg_len(m) == (size_t)n + 1 && memcmp(nng_msg_body(m), body, (size_t)n) == 0 &&
                 ((char *)nng_msg_body(m))[n] == '!';
        nng_msg_free(m);
    }
    nng_aio_free(aio);
    nng_ctx_close(ctx);
    return NULL;
}

static void test_nng_contexts(const char *url)
{
    handler h;
    char bound[256];
    vt_sp_rep *srv = start(&h, url, bound, sizeof bound);
    nng_socket sock;
    VT_REQUIRE(nng_req0_open(&sock) == 0, "req socket");
    VT_REQUIRE(nng_dial(sock, bound, NULL, 0) == 0, "dial %s", bound);
    pthread_t th[NCTX];
    nctx_arg args[NCTX];
    for (int i = 0; i < NCTX; i++) {
        args[i] = (nctx_arg){.sock = sock, .idx = i};
        pthread_create(&th[i], NULL, nng_client, &args[i]);
    }
    int ok = 0;
    for (int i = 0; i < NCTX; i++) {
        pthread_join(th[i], NULL);
        ok += args[i].ok;
    }
    VT_CHECK(ok == NCTX * ROUNDS, "%s: %d of %d replies right", url, ok, NCTX * ROUNDS);
    VT_CHECK(atomic_load(&h.n_add) == 1, "%s: one connection (%d)", url, atomic_load(&h.n_add));
    nng_close(sock);
    for (int i = 0; i < 200 && atomic_load(&h.n_rem) == 0; i++)
        vt_sleep_ms(10);
    VT_CHECK(atomic_load(&h.n_rem) == 1, "%s: its end was seen", url);
    stop(&h, srv);
}

/* ---- vt_sp_req, raw peers ---- */

static int call(vt_sp_req *r, const char *body, size_t len, int timeout_ms, char *out, size_t cap)
{
    return vt_ts_sp_call(r, body, len, timeout_ms, out, cap);
}

static int raw_connect(const char *bound)
{
    return vt_ts_sp_connect(bound);
}

static size_t read_n(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = recv(fd, p + got, n - got, 0);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    return got;
}

static void test_peers(const char *url)
{
    handler h;
    char bound[256], out[BODY_MAX + 8];
    vt_sp_rep *srv = start(&h, url, bound, sizeof bound);
    bool ipc = strncmp(url, "ipc://", 6) == 0;

    vt_sp_req *r = NULL;
    VT_REQUIRE_OK(vt_sp_req_open(bound, BODY_MAX + 8, &r, NULL));
    int good = 0;
    for (int i = 0; i < ROUNDS; i++) {
        char body[16];
        int n = snprintf(body, sizeof body, "%c%d", i % 2 ? 'd' : 'n', i);
        good += call(r, body, (size_t)n, 5000, out, sizeof out) == 0 &&
                strlen(out) == (size_t)n + 1 && out[n] == '!';
    }
    VT_CHECK(good == ROUNDS, "%s: vt_sp_req round trips %d of %d", url, good, ROUNDS);
    /* the largest request is served; one byte more ends the connection */
    static char big[BODY_MAX + 1];
    memset(big, 'b', sizeof big);
    VT_CHECK_OK(call(r, big, BODY_MAX, 5000, out, sizeof out));
    VT_CHECK(strlen(out) == BODY_MAX + 1, "%s: body_max request served", url);
    int rems = atomic_load(&h.n_rem);
    VT_CHECK_ERR(call(r, big, BODY_MAX + 1, 5000, out, sizeof out), VT_ERR_TRANSPORT);
    for (int i = 0; i < 200 && atomic_load(&h.n_rem) == rems; i++)
        vt_sleep_ms(10);
    pthread_mutex_lock(&h.mu);
    VT_CHECK(strstr(h.last_rem, "recv-max") != NULL, "%s: cause '%s'", url, h.last_rem);
    pthread_mutex_unlock(&h.mu);
    VT_CHECK_OK(call(r, "again", 5, 5000, out, sizeof out)); /* reconnects */
    VT_CHECK_EQ_STR(out, "again!");

    /* a peer that is not SP: gets our handshake, then the connection ends */
    int fd = raw_connect(bound);
    VT_REQUIRE(fd >= 0, "raw connect");
    const char *http = "GET / HTTP/1.1\r\n\r\n";
    VT_CHECK(send(fd, http, strlen(http), MSG_NOSIGNAL) > 0, "send");
    uint8_t hs[VT_SP_HANDSHAKE_LEN + 1];
    VT_CHECK(read_n(fd, hs, sizeof hs) == VT_SP_HANDSHAKE_LEN &&
                 vt_sp_handshake_is(hs, VT_SP_PROTO_REP),
             "%s: REP handshake, then end of stream", url);
    close(fd);

    /* a request without a backtrace word is dropped; the connection stays */
    fd = raw_connect(bound);
    VT_REQUIRE(fd >= 0, "raw connect");
    uint8_t buf[64];
    vt_sp_handshake(buf, VT_SP_PROTO_REQ);
    size_t n = VT_SP_HANDSHAKE_LEN;
    size_t hl = ipc ? 9 : 8;
    if (ipc)
        buf[n] = 0x01;
    memset(buf + n + (ipc ? 1 : 0), 0, 8);
    buf[n + hl - 1] = 8; /* payload: 4-byte word without the high bit, "oops" */
    memcpy(buf + n + hl, "\x00\x00\x00\x01oops", 8);
    n += hl + 8;
    n += vt_sp_request_header(buf + n, ipc, 7, 2);
    memcpy(buf + n, "ok", 2);
    n += 2;
    int dropped = atomic_load(&h.n_dropped);
    VT_CHECK(send(fd, buf, n, MSG_NOSIGNAL) == (ssize_t)n, "send");
    uint8_t in[64];
    size_t want = VT_SP_HANDSHAKE_LEN + hl + 4 + 3;
    VT_CHECK(read_n(fd, in, want) == want, "%s: the good request is answered", url);
    VT_CHECK(memcmp(in + VT_SP_HANDSHAKE_LEN + hl, "\x80\x00\x00\x07ok!", 7) == 0,
             "%s: reply behind the request's id", url);
    VT_CHECK(atomic_load(&h.n_dropped) == dropped + 1, "%s: the bad one dropped", url);
    close(fd);

    /* refused while `refuse` is set: read again after resume */
    atomic_store(&h.refuse, true);
    const uint8_t *rep;
    size_t rlen;
    VT_CHECK_ERR(vt_sp_req_call(r, "wait", 4, 200, &rep, &rlen, NULL), VT_ERR_TIMEOUT);
    VT_CHECK(atomic_load(&h.n_refused) >= 1, "%s: refused", url);
    int refused = atomic_load(&h.n_refused);
    vt_sleep_ms(50);
    VT_CHECK(atomic_load(&h.n_refused) == refused, "%s: not read again before resume", url);
    atomic_store(&h.refuse, false);
    vt_sp_rep_resume(srv);
    /* the timed-out request is answered now; its reply is skipped by id */
    VT_CHECK_OK(call(r, "after", 5, 5000, out, sizeof out));
    VT_CHECK_EQ_STR(out, "after!");

    /* a request kept unanswered: its peer leaves, the reply finds it gone */
    vt_sp_req *r2 = NULL;
    VT_REQUIRE_OK(vt_sp_req_open(bound, BODY_MAX, &r2, NULL));
    rems = atomic_load(&h.n_rem);
    VT_CHECK_ERR(vt_sp_req_call(r2, "keep", 4, 100, &rep, &rlen, NULL), VT_ERR_TIMEOUT);
    vt_sp_req_close(r2);
    for (int i = 0; i < 200 && atomic_load(&h.n_rem) == rems; i++)
        vt_sleep_ms(10);
    pthread_mutex_lock(&h.mu);
    VT_REQUIRE(h.have_kept, "kept");
    h.have_kept = false;
    VT_CHECK_ERR(vt_sp_rep_reply(&h.kept, "late", 4), VT_ERR_CLOSED);
    pthread_mutex_unlock(&h.mu);

    /* a request still held when the server closes */
    VT_CHECK_ERR(vt_sp_req_call(r, "keep", 4, 100, &rep, &rlen, NULL), VT_ERR_TIMEOUT);
    atomic_store(&h.stop, true);
    pthread_join(h.th, NULL);
    vt_sp_rep_close(srv);
    pthread_mutex_lock(&h.mu);
    VT_REQUIRE(h.have_kept, "kept");
    h.have_kept = false;
    VT_CHECK_ERR(vt_sp_rep_reply(&h.kept, "late", 4), VT_ERR_CLOSED);
    pthread_mutex_unlock(&h.mu);
    /* the connection the server ended is seen dead before sending, and
     * there is nobody to connect to: the call times out, as NNG's would */
    VT_CHECK_ERR(call(r, "gone", 4, 300, out, sizeof out), VT_ERR_TIMEOUT);
    VT_CHECK_ERR(call(r, "gone", 4, 300, out, sizeof out), VT_ERR_TIMEOUT);
    vt_sp_req_close(r);
    pthread_mutex_destroy(&h.mu);
    if (ipc)
        VT_CHECK(access(url + 6, F_OK) != 0, "the ipc path is removed on close");
}

static void test_listen_addresses(const char *dir)
{
    handler h;
    char url[320], bound[256];
    /* a stale socket file (its server died) is replaced */
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    int pn = snprintf(un.sun_path, sizeof un.sun_path, "%s/stale.sock", dir);
    VT_REQUIRE(pn > 0 && (size_t)pn < sizeof un.sun_path, "temp path too long");
    const char *path = un.sun_path;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    VT_REQUIRE(bind(fd, (struct sockaddr *)&un, sizeof un) == 0, "bind stale");
    close(fd);
    snprintf(url, sizeof url, "ipc://%s", path);
    vt_sp_rep *srv = start(&h, url, bound, sizeof bound);
    /* a live one is not */
    handler h2;
    memset(&h2, 0, sizeof h2);
    vt_sp_rep_ops ops = {.request = on_request, .arg = &h2};
    vt_sp_rep *srv2 = NULL;
    VT_CHECK_ERR(vt_sp_rep_open(url, BODY_MAX, &ops, &srv2, NULL), VT_ERR_TRANSPORT);
    stop(&h, srv);
    /* nor a file that is not a socket */
    char fpath[300], furl[320];
    snprintf(fpath, sizeof fpath, "%s/not-a-socket", dir);
    FILE *f = fopen(fpath, "w");
    VT_REQUIRE(f != NULL, "create %s", fpath);
    fclose(f);
    snprintf(furl, sizeof furl, "ipc://%s", fpath);
    VT_CHECK_ERR(vt_sp_rep_open(furl, BODY_MAX, &ops, &srv2, NULL), VT_ERR_TRANSPORT);
    VT_CHECK(access(fpath, F_OK) == 0, "the file is left alone");
    VT_CHECK_ERR(vt_sp_rep_open("inproc://x", BODY_MAX, &ops, &srv2, NULL), VT_ERR_UNSUPPORTED);
    VT_CHECK_ERR(vt_sp_rep_open("tcp://127.0.0.1", BODY_MAX, &ops, &srv2, NULL), VT_ERR_INVAL);
    vt_sp_addr a;
    VT_CHECK_OK(vt_sp_listen_addr_parse("tcp://*:0", &a, NULL));
    VT_CHECK_OK(vt_sp_listen_addr_parse("tcp://:0", &a, NULL));
    VT_CHECK_ERR(vt_sp_addr_parse("tcp://:5555", &a, NULL), VT_ERR_INVAL); /* not to connect */
}

/* With the process out of descriptors, accept(2) fails: the server says so
 * (VT_SP_EV_ACCEPT_FAIL), pauses rather than spinning, and takes the
 * waiting connection once a descriptor is free again. */
static void test_out_of_fds(const char *url)
{
    handler h;
    char bound[256];
    vt_sp_rep *srv = start(&h, url, bound, sizeof bound);
    struct rlimit old;
    VT_REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0, "getrlimit");
    /* room for one more pair (client + accepted) and one client more: fill
     * the holes below the highest descriptor, then allow three above it */
    static int fillers[4096];
    int highest = 0, n_fill = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            highest = fd;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fd > highest || n_fill == 4096) {
            if (fd >= 0)
                close(fd);
            break;
        }
        fillers[n_fill++] = fd;
    }
    struct rlimit lim = {.rlim_cur = (rlim_t)highest + 4, .rlim_max = old.rlim_max};
    VT_REQUIRE(setrlimit(RLIMIT_NOFILE, &lim) == 0, "setrlimit");
    int a = raw_connect(bound); /* fd highest+1, accepted as highest+2 */
    uint8_t hs[VT_SP_HANDSHAKE_LEN];
    VT_CHECK(a >= 0 && read_n(a, hs, sizeof hs) == sizeof hs, "first connection served");
    int b = raw_connect(bound); /* fd highest+3: the server has none left */
    VT_CHECK(b >= 0, "second connect (queued by the kernel)");
    for (int i = 0; i < 200 && atomic_load(&h.n_accept_fail) == 0; i++)
        vt_sleep_ms(10);
    int fails = atomic_load(&h.n_accept_fail);
    VT_CHECK(fails >= 1, "accept failure reported");
    vt_sleep_ms(300);
    VT_CHECK(atomic_load(&h.n_accept_fail) <= fails + 4, "paused, not spinning (%d reports)",
             atomic_load(&h.n_accept_fail));
    close(a); /* frees our descriptor and, once the server sees it, its own */
    VT_CHECK(b >= 0 && read_n(b, hs, sizeof hs) == sizeof hs &&
                 vt_sp_handshake_is(hs, VT_SP_PROTO_REP),
             "the waiting connection is taken once descriptors are free");
    if (b >= 0)
        close(b);
    VT_REQUIRE(setrlimit(RLIMIT_NOFILE, &old) == 0, "restore rlimit");
    for (int i = 0; i < n_fill; i++)
        close(fillers[i]);
    stop(&h, srv);
}

int main(void)
{
    const char *dir = vt_ts_tmpdir();
    char url[300];
    snprintf(url, sizeof url, "ipc://%s/rep.sock", dir);
    test_nng_contexts(url);
    test_nng_contexts("tcp://127.0.0.1:0");
    test_peers(url);
    test_peers("tcp://127.0.0.1:0");
    test_listen_addresses(dir);
    test_out_of_fds("tcp://127.0.0.1:0");
    return vt_test_done();
}
