/* test_sp_req.c - the load generator's SP client (sp_req.c) against real NNG
 * REP sockets: round trips over ipc:// and tcp://, replies matched by id,
 * an oversized reply drops the connection (as NNG_OPT_RECVMAXSZ), a peer
 * that is not an SP REP socket is dropped, and a restarted server is
 * reconnected to. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "sp_req.h"
#include "vt_clock.h"

static int failures;
#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c); \
            failures++;                                                            \
        }                                                                          \
    } while (0)

/* An echo server on a REP socket: replies "<body>!", or `big` bytes when the
 * request is "big". Runs until its socket is closed. */
typedef struct server {
    nng_socket sock;
    pthread_t th;
    size_t big;
} server;

static void *serve(void *arg)
{
    server *sv = arg;
    for (;;) {
        nng_msg *m;
        if (nng_recvmsg(sv->sock, &m, 0) != 0)
            return NULL;
        if (nng_msg_len(m) == 3 && memcmp(nng_msg_body(m), "big", 3) == 0) {
            nng_msg_clear(m);
            nng_msg_realloc(m, sv->big);
            memset(nng_msg_body(m), 'x', sv->big);
        } else {
            nng_msg_append(m, "!", 1);
        }
        if (nng_sendmsg(sv->sock, m, 0) != 0)
            nng_msg_free(m);
    }
}

static int server_start(server *sv, const char *url, char *bound, size_t bound_len)
{
    nng_listener l;
    if (nng_rep0_open(&sv->sock) != 0 || nng_listen(sv->sock, url, &l, 0) != 0)
        return -1;
    if (bound) {
        if (strncmp(url, "tcp://", 6) == 0) {
            int port = 0;
            nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port);
            snprintf(bound, bound_len, "tcp://127.0.0.1:%d", port);
        } else {
            snprintf(bound, bound_len, "%s", url);
        }
    }
    return pthread_create(&sv->th, NULL, serve, sv);
}

static void server_stop(server *sv)
{
    nng_close(sv->sock);
    pthread_join(sv->th, NULL);
}

typedef struct seen {
    int replies, lost;
    uint32_t last_id;
    char last[64];
} seen;

static void on_reply(void *arg, sp_conn *c, uint32_t id, const uint8_t *body, size_t len)
{
    (void)c;
    seen *s = arg;
    s->replies++;
    s->last_id = id;
    snprintf(s->last, sizeof s->last, "%.*s", (int)(len < 60 ? len : 60), (const char *)body);
}

static void on_lost(void *arg, sp_conn *c)
{
    (void)c;
    ((seen *)arg)->lost++;
}

/* Poll until *counter reaches want, at most 5 s. */
static void poll_for(sp_loop *l, const int *counter, int want)
{
    uint64_t end = vt_mono_us() + 5000000u;
    while (*counter < want && vt_mono_us() < end)
        sp_loop_poll(l, vt_mono_us() + 20000u);
}

/* Send once the connection is back (sends fail while it is down), 5 s at most. */
static void send_when_up(sp_loop *l, sp_conn *c, uint32_t id, const char *body)
{
    uint64_t end = vt_mono_us() + 5000000u;
    int rv;
    while ((rv = sp_conn_send(c, id, body, strlen(body))) == VT_ERR_UNAVAILABLE &&
           vt_mono_us() < end)
        sp_loop_poll(l, vt_mono_us() + 20000u);
    CHECK(rv == 0);
}

static void round_trips(const char *url)
{
    server sv = {.big = 2000};
    char bound[128];
    CHECK(server_start(&sv, url, bound, sizeof bound) == 0);
    seen s = {0};
    sp_handlers h = {.reply = on_reply, .lost = on_lost, .arg = &s};
    sp_loop *l = NULL;
    sp_conn *c = NULL;
    CHECK(sp_loop_open(&h, &l, NULL) == 0);
    CHECK(sp_conn_open(l, bound, 1000, &c, NULL) == 0);
    for (uint32_t i = 1; i <= 3; i++) {
        char body[16];
        int n = snprintf(body, sizeof body, "req%u", i);
        CHECK(sp_conn_send(c, 0x80000000u | (i << 12), body, (size_t)n) == 0);
        poll_for(l, &s.replies, (int)i);
        CHECK(s.replies == (int)i);
        CHECK(s.last_id == (0x80000000u | (i << 12)));
        snprintf(body, sizeof body, "req%u!", i);
        CHECK(strcmp(s.last, body) == 0);
    }
    /* A reply over recv_max drops the connection; the next request goes
     * out on a new one. */
    CHECK(sp_conn_send(c, 0x80000009u, "big", 3) == 0);
    poll_for(l, &s.lost, 1);
    CHECK(s.lost == 1 && s.replies == 3);
    send_when_up(l, c, 0x8000000au, "again");
    poll_for(l, &s.replies, 4);
    CHECK(s.replies == 4 && strcmp(s.last, "again!") == 0);
    /* The server restarts (ipc: same path; tcp: same port): lost, then
     * reconnected. */
    server_stop(&sv);
    poll_for(l, &s.lost, 2);
    CHECK(s.lost == 2);
    server sv2 = {.big = 2000};
    CHECK(server_start(&sv2, bound, NULL, 0) == 0);
    CHECK(sp_conn_send(c, 0x8000000cu, "down", 4) == VT_ERR_UNAVAILABLE); /* not reconnected yet */
    send_when_up(l, c, 0x8000000bu, "back");
    poll_for(l, &s.replies, 5);
    CHECK(s.replies == 5 && strcmp(s.last, "back!") == 0);
    sp_loop_close(l);
    server_stop(&sv2);
}

/* A unix socket server that answers the handshake with garbage. */
static void not_sp(const char *path)
{
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof un.sun_path, "%.100s", path);
    unlink(path);
    CHECK(bind(ls, (struct sockaddr *)&un, sizeof un) == 0 && listen(ls, 4) == 0);
    seen s = {0};
    sp_handlers h = {.reply = on_reply, .lost = on_lost, .arg = &s};
    sp_loop *l = NULL;
    sp_conn *c = NULL;
    char url[160];
    snprintf(url, sizeof url, "ipc://%.140s", path);
    CHECK(sp_loop_open(&h, &l, NULL) == 0);
    CHECK(sp_conn_open(l, url, 1000, &c, NULL) == 0);
    CHECK(sp_conn_send(c, 0x80000001u, "x", 1) == 0);
    int fd = accept(ls, NULL, NULL);
    CHECK(fd >= 0);
    CHECK(write(fd, "HTTP/1.1", 8) == 8);
    poll_for(l, &s.lost, 1);
    CHECK(s.lost == 1 && s.replies == 0);
    sp_loop_close(l);
    close(fd);
    close(ls);
    unlink(path);
}

int main(void)
{
    char dir[] = "/tmp/test_sp_req.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char ipc[128], sock[128];
    snprintf(ipc, sizeof ipc, "ipc://%s/rep.ipc", dir);
    snprintf(sock, sizeof sock, "%s/notsp.sock", dir);
    round_trips(ipc);
    round_trips("tcp://127.0.0.1:0");
    not_sp(sock);
    char path[160];
    snprintf(path, sizeof path, "%s/rep.ipc", dir);
    unlink(path);
    rmdir(dir);
    /* Bad URLs are refused at once. */
    seen s = {0};
    sp_handlers h = {.reply = on_reply, .lost = on_lost, .arg = &s};
    sp_loop *l = NULL;
    sp_conn *c = NULL;
    CHECK(sp_loop_open(&h, &l, NULL) == 0);
    CHECK(sp_conn_open(l, "inproc://x", 1000, &c, NULL) == VT_ERR_UNSUPPORTED);
    CHECK(sp_conn_open(l, "tcp://127.0.0.1", 1000, &c, NULL) == VT_ERR_INVAL);
    sp_loop_close(l);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
