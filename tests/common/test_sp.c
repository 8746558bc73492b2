/* test_sp.c - vt_sp.h: the SP wire helpers, and the blocking REQ connection
 * the node daemons use, against real NNG REP sockets over ipc:// and tcp://:
 * round trips, a late reply skipped by its id, an oversized reply (the
 * connection is dropped, the next call reconnects), a server that comes up
 * while a call waits, a restarted server, a peer that is not SP, and an
 * abort from another thread. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "vt_clock.h"
#include "vt_sp.h"
#include "vt_test.h"
#include "vt_testsupport.h"

#define BODY_MAX 4096

/* An NNG REP echo server: replies "<body>!"; "big" gets BODY_MAX + 1 bytes;
 * "slow" is answered after slow_ms. */
typedef struct server {
    nng_socket sock;
    pthread_t th;
    int slow_ms;
    int delay_start_ms; /* listen only after this (a call waits for it) */
    char url[256];
} server;

static void *serve(void *arg)
{
    server *sv = arg;
    if (sv->delay_start_ms) {
        vt_sleep_ms((uint64_t)sv->delay_start_ms);
        if (nng_listen(sv->sock, sv->url, NULL, 0) != 0)
            return NULL;
    }
    for (;;) {
        nng_msg *m;
        if (nng_recvmsg(sv->sock, &m, 0) != 0)
            return NULL;
        size_t n = nng_msg_len(m);
        if (n == 3 && memcmp(nng_msg_body(m), "big", 3) == 0) {
            nng_msg_clear(m);
            nng_msg_realloc(m, BODY_MAX + 1);
            memset(nng_msg_body(m), 'x', BODY_MAX + 1);
        } else {
            if (n == 4 && memcmp(nng_msg_body(m), "slow", 4) == 0)
                vt_sleep_ms((uint64_t)sv->slow_ms);
            nng_msg_append(m, "!", 1);
        }
        if (nng_sendmsg(sv->sock, m, 0) != 0)
            nng_msg_free(m);
    }
}

/* url: tcp://127.0.0.1:0 gets a free port, written back into sv->url. */
static int server_start(server *sv, const char *url)
{
    snprintf(sv->url, sizeof sv->url, "%s", url);
    if (nng_rep0_open(&sv->sock) != 0)
        return -1;
    if (!sv->delay_start_ms) {
        nng_listener l;
        if (nng_listen(sv->sock, url, &l, 0) != 0)
            return -1;
        if (strncmp(url, "tcp://", 6) == 0) {
            int port = 0;
            nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port);
            snprintf(sv->url, sizeof sv->url, "tcp://127.0.0.1:%d", port);
        }
    }
    return pthread_create(&sv->th, NULL, serve, sv);
}

static void server_stop(server *sv)
{
    nng_close(sv->sock);
    pthread_join(sv->th, NULL);
}

static int call_str(vt_sp_req *r, const char *body, int timeout_ms, char *out, size_t cap)
{
    return vt_ts_sp_call(r, body, strlen(body), timeout_ms, out, cap);
}

static vt_sp_req *open_req(const char *url)
{
    vt_sp_req *r = NULL;
    VT_CHECK_OK(vt_sp_req_open(url, BODY_MAX, &r, NULL));
    return r;
}

static void test_addresses(void)
{
    vt_sp_addr a;
    VT_CHECK_OK(vt_sp_addr_parse("ipc:///tmp/x.sock", &a, NULL));
    VT_CHECK(a.ipc && a.sa.ss_family == AF_UNIX, "ipc");
    VT_CHECK_OK(vt_sp_addr_parse("tcp://127.0.0.1:5555", &a, NULL));
    VT_CHECK(!a.ipc && a.sa.ss_family == AF_INET, "tcp v4");
    VT_CHECK_OK(vt_sp_addr_parse("tcp://[::1]:5555", &a, NULL));
    VT_CHECK(a.sa.ss_family == AF_INET6, "tcp v6");
    VT_CHECK_OK(vt_sp_addr_parse("tcp4://localhost:5555", &a, NULL));
    VT_CHECK(a.sa.ss_family == AF_INET, "tcp4 resolves to v4");
    VT_CHECK_ERR(vt_sp_addr_parse("inproc://x", &a, NULL), VT_ERR_UNSUPPORTED);
    VT_CHECK_ERR(vt_sp_addr_parse("tls+tcp://127.0.0.1:1", &a, NULL), VT_ERR_UNSUPPORTED);
    VT_CHECK_ERR(vt_sp_addr_parse("abstract://x", &a, NULL), VT_ERR_UNSUPPORTED);
    VT_CHECK_ERR(vt_sp_addr_parse("tcp://127.0.0.1", &a, NULL), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_sp_addr_parse("tcp://:5555", &a, NULL), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_sp_addr_parse("ipc://", &a, NULL), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_sp_addr_parse(NULL, &a, NULL), VT_ERR_INVAL);
    /* a connection is opened without resolving (a Kubernetes service name
     * may not resolve yet): each attempt resolves again. Nothing here asks
     * a name server: tests stay on loopback. */
    VT_CHECK_OK(vt_sp_url_check("tcp://scheduler.example:7001", NULL));
    vt_sp_req *r = NULL;
    VT_CHECK_ERR(vt_sp_req_open("inproc://x", BODY_MAX, &r, NULL), VT_ERR_UNSUPPORTED);
    VT_CHECK_ERR(vt_sp_req_open("tcp://h", BODY_MAX, &r, NULL), VT_ERR_INVAL);
    char longpath[200] = "ipc://";
    memset(longpath + 6, 'p', sizeof longpath - 7);
    longpath[sizeof longpath - 1] = '\0';
    VT_CHECK_ERR(vt_sp_addr_parse(longpath, &a, NULL), VT_ERR_INVAL);
}

static void test_framing(void)
{
    uint8_t hs[VT_SP_HANDSHAKE_LEN];
    vt_sp_handshake(hs, VT_SP_PROTO_REQ);
    static const uint8_t want[VT_SP_HANDSHAKE_LEN] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
    VT_CHECK(memcmp(hs, want, sizeof hs) == 0, "REQ handshake bytes");
    VT_CHECK(vt_sp_handshake_is(hs, VT_SP_PROTO_REQ) && !vt_sp_handshake_is(hs, VT_SP_PROTO_REP),
             "handshake protocol");
    for (int ipc = 0; ipc <= 1; ipc++) {
        uint8_t h[VT_SP_FRAME_HDR_MAX];
        size_t hl = vt_sp_request_header(h, ipc, 0x1234, 10);
        VT_CHECK_EQ_INT(hl, ipc ? 13 : 12);
        VT_CHECK(h[hl - 4] == 0x80 && h[hl - 1] == 0x34, "id with the high bit");
        size_t ph = 0;
        uint64_t pl = 0;
        VT_CHECK_OK(vt_sp_frame_parse(h, hl, ipc, 10, &ph, &pl));
        VT_CHECK_EQ_INT(ph, hl - 4);
        VT_CHECK_EQ_U64(pl, 14);
        VT_CHECK_ERR(vt_sp_frame_parse(h, hl, ipc, 9, &ph, &pl), VT_ERR_TOOBIG);
        VT_CHECK_ERR(vt_sp_frame_parse(h, ph - 1, ipc, 10, &ph, &pl), VT_ERR_TRUNCATED);
        uint8_t tiny[VT_SP_FRAME_HDR_MAX];
        size_t th = vt_sp_request_header(tiny, ipc, 1, 0);
        tiny[th - 5] = 3; /* a payload of 3 bytes has no room for the id */
        VT_CHECK_ERR(vt_sp_frame_parse(tiny, th, ipc, 10, &ph, &pl), VT_ERR_PROTO);
    }
    uint8_t h[VT_SP_FRAME_HDR_MAX];
    size_t hl = vt_sp_request_header(h, 1, 1, 1);
    h[0] = 0x02;
    size_t ph = 0;
    uint64_t pl = 0;
    VT_CHECK_ERR(vt_sp_frame_parse(h, hl, 1, 10, &ph, &pl), VT_ERR_PROTO);
}

static void test_round_trips(const char *listen_url)
{
    server sv = {.slow_ms = 300};
    VT_CHECK_OK(server_start(&sv, listen_url));
    vt_sp_req *r = open_req(sv.url);
    char out[BODY_MAX + 8];
    for (int i = 0; i < 50; i++) {
        char body[32];
        snprintf(body, sizeof body, "req-%d", i);
        VT_CHECK_OK(call_str(r, body, 2000, out, sizeof out));
        VT_CHECK(strncmp(out, body, strlen(body)) == 0 && out[strlen(body)] == '!', "%s: %s", body,
                 out);
    }
    /* a call that times out; its late reply must not answer the next call */
    VT_CHECK_ERR(call_str(r, "slow", 50, out, sizeof out), VT_ERR_TIMEOUT);
    VT_CHECK_OK(call_str(r, "after", 2000, out, sizeof out));
    VT_CHECK_EQ_STR(out, "after!");
    /* over the receive limit: the call fails, the connection is dropped, the
     * next call connects again */
    VT_CHECK_ERR(call_str(r, "big", 2000, out, sizeof out), VT_ERR_TRANSPORT);
    VT_CHECK_OK(call_str(r, "again", 2000, out, sizeof out));
    VT_CHECK_EQ_STR(out, "again!");
    vt_sp_req_close(r);
    server_stop(&sv);
}

static void test_server_late_and_restart(const char *ipc_url)
{
    /* nobody listening, short timeout: VT_ERR_TIMEOUT after retrying */
    vt_sp_req *r = open_req(ipc_url);
    char out[64];
    VT_CHECK_ERR(call_str(r, "x", 120, out, sizeof out), VT_ERR_TIMEOUT);
    /* the server comes up while a call waits */
    server sv = {.delay_start_ms = 300};
    VT_CHECK_OK(server_start(&sv, ipc_url));
    VT_CHECK_OK(call_str(r, "late", 5000, out, sizeof out));
    VT_CHECK_EQ_STR(out, "late!");
    /* restart between calls: the old connection is seen dead before
     * sending (as NNG's dialer would have reconnected), so no call fails */
    server_stop(&sv);
    server sv2 = {0};
    VT_CHECK_OK(server_start(&sv2, ipc_url));
    VT_CHECK_OK(call_str(r, "one", 2000, out, sizeof out));
    VT_CHECK_EQ_STR(out, "one!");
    VT_CHECK_OK(call_str(r, "two", 2000, out, sizeof out));
    VT_CHECK_EQ_STR(out, "two!");
    vt_sp_req_close(r);
    server_stop(&sv2);
}

/* A unix socket that answers like an HTTP server. */
static void *not_sp(void *arg)
{
    int lfd = *(int *)arg;
    int fd = accept(lfd, NULL, NULL);
    if (fd >= 0) {
        static const char resp[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
        ssize_t n = write(fd, resp, sizeof resp - 1);
        (void)n;
        vt_sleep_ms(200);
        close(fd);
    }
    return NULL;
}

static void test_not_sp(const char *path)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    size_t pl = strlen(path);
    if (!VT_CHECK(pl < sizeof un.sun_path, "socket path too long: %s", path))
        return;
    memcpy(un.sun_path, path, pl + 1);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    unlink(path);
    VT_CHECK(bind(lfd, (struct sockaddr *)&un, sizeof un) == 0 && listen(lfd, 4) == 0, "listen");
    pthread_t th;
    pthread_create(&th, NULL, not_sp, &lfd);
    char url[600], out[64];
    snprintf(url, sizeof url, "ipc://%s", path);
    vt_sp_req *r = open_req(url);
    VT_CHECK_ERR(call_str(r, "hello", 2000, out, sizeof out), VT_ERR_TRANSPORT);
    vt_sp_req_close(r);
    pthread_join(th, NULL);
    close(lfd);
    unlink(path);
}

typedef struct aborter {
    vt_sp_req *r;
    int after_ms;
} aborter;

static void *abort_later(void *arg)
{
    aborter *a = arg;
    vt_sleep_ms((uint64_t)a->after_ms);
    vt_sp_req_abort(a->r);
    return NULL;
}

static void test_abort(const char *ipc_url)
{
    server sv = {.slow_ms = 1500};
    VT_CHECK_OK(server_start(&sv, ipc_url));
    vt_sp_req *r = open_req(ipc_url);
    aborter a = {r, 100};
    pthread_t th;
    pthread_create(&th, NULL, abort_later, &a);
    char out[64];
    /* the reply would come at 1.5 s and succeed: CLOSED means the abort
     * ended the wait */
    VT_CHECK_ERR(call_str(r, "slow", 10000, out, sizeof out), VT_ERR_CLOSED);
    VT_CHECK_ERR(call_str(r, "x", 1000, out, sizeof out), VT_ERR_CLOSED);
    pthread_join(th, NULL);
    vt_sp_req_close(r);
    server_stop(&sv);
}

int main(void)
{
    char p1[512], p2[512], p3[512], u1[600], u2[600];
    vt_ts_path("sp1.sock", p1, sizeof p1);
    vt_ts_path("sp2.sock", p2, sizeof p2);
    vt_ts_path("notsp.sock", p3, sizeof p3);
    snprintf(u1, sizeof u1, "ipc://%s", p1);
    snprintf(u2, sizeof u2, "ipc://%s", p2);
    test_addresses();
    test_framing();
    test_round_trips(u1);
    test_round_trips("tcp://127.0.0.1:0");
    test_server_late_and_restart(u2);
    test_not_sp(p3);
    test_abort(u1);
    return vt_test_done();
}
