/* test_sched_hostile.c - hostile input to every scheduler socket (agent over
 * ipc, worker and verifier over tcp): garbage, empty, truncated msgpack,
 * huge announced counts, deep nesting, wrong field types, unknown version,
 * unknown message type, oversized messages. Each gets an error reply or a
 * dropped connection (logged), and the scheduler then serves the next valid
 * request on that socket. Then the wire itself (the scheduler speaks it,
 * vt_sp.h): peers that are not SP, frames announcing 2^60 bytes, requests
 * without a backtrace, a frame cut short by a peer that then stays silent,
 * a burst of connections; valid requests are served meanwhile. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vt_sp.h"

#include "sched_harness.h"

#include "vt_test.h"

#define RECV_MAX 65536

/* One request on a fresh connection. 0 + reply, or VT_ERR_TIMEOUT /
 * VT_ERR_TRANSPORT when the scheduler dropped the connection instead of
 * answering. Our own SP client (vt_sp_req), not an NNG REQ socket: NNG
 * 1.5.2's nng_close() hung here for good after the scheduler dropped a
 * pipe that was sending an oversized message (gdb: raw_call -> nng_close
 * -> pthread_cond_wait, the scheduler idle in epoll_wait), about once in
 * a hundred runs under ctest -j2; what is under test is the scheduler. */
static int raw_call(const char *url, const void *buf, size_t len, int timeout_ms, vt_msg *reply)
{
    vt_msg_init(reply, VT_MSG_NONE);
    vt_sp_req *r = NULL;
    vt_errinfo ei = {0};
    int rv = vt_sp_req_open(url, RECV_MAX * 16, &r, &ei);
    if (rv)
        return rv;
    const uint8_t *rb = NULL;
    size_t rl = 0;
    rv = vt_sp_req_call(r, buf, len, timeout_ms, &rb, &rl, &ei);
    if (rv == 0)
        rv = vt_msg_decode(rb, rl, reply, &ei);
    vt_sp_req_close(r);
    return rv;
}

/* Expect an error reply with a code and a message. */
static void expect_refused(const char *what, const char *url, const void *buf, size_t len)
{
    vt_msg rep;
    int rv = raw_call(url, buf, len, 2000, &rep);
    VT_CHECK(rv == 0 && rep.type == VT_MSG_ERROR, "%s on %s: rv=%s type=%d", what, url,
             vt_errname(rv), rep.type);
    if (rv == 0 && rep.type == VT_MSG_ERROR)
        VT_CHECK(rep.u.error.code < 0 && rep.u.error.msg[0], "%s: code %d msg '%s'", what,
                 rep.u.error.code, rep.u.error.msg);
    vt_msg_free(&rep);
}

/* Something valid still works on the socket. */
static void expect_alive(const sh_env *e, const char *url, int sock)
{
    if (sock == 0) {
        vt_client *a = sh_agent(e, e->key_a);
        vt_job_status st;
        vt_errinfo ei = {0};
        VT_CHECK_ERR(vt_client_status(a, "j-00000000000000ff", &st, &ei), VT_ERR_NOTFOUND);
        vt_client_close(a);
    } else {
        sh_node n;
        VT_CHECK_OK(sh_node_open(&n, url, sock == 1 ? &e->worker_kp : &e->verifier_kp, sock == 2,
                                 e->model));
        sh_node_close(&n);
    }
}

static size_t envelope(vt_buf *w, int version, const char *type, uint32_t extra)
{
    vt_mp_write_map(w, 3 + extra);
    vt_mp_write_cstr(w, "v");
    vt_mp_write_uint(w, (uint64_t)version);
    vt_mp_write_cstr(w, "vm");
    vt_mp_write_uint(w, 0);
    vt_mp_write_cstr(w, "t");
    vt_mp_write_cstr(w, type);
    return w->len;
}

static void hostile(const sh_env *e, const char *url, int sock)
{
    const char *type = sock == 0 ? "submit" : sock == 1 ? "fetch" : "vfetch";
    uint8_t garbage[512];
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = (uint8_t)(i * 131 + 7);
    expect_refused("garbage", url, garbage, sizeof garbage);
    expect_alive(e, url, sock);
    expect_refused("empty", url, "", 0);

    /* A valid message, truncated at every 7th byte. */
    vt_buf w;
    vt_buf_init(&w, 0);
    if (sock == 0) {
        vt_msg m;
        vt_msg_init(&m, VT_MSG_SUBMIT);
        int32_t toks[4];
        sh_spec(&m.u.submit.job, toks, 4);
        m.u.submit.api_key = e->key_a;
        vt_errinfo ei = {0};
        VT_REQUIRE_OK(vt_msg_encode(&m, &w, &ei));
    } else {
        vt_msg m;
        vt_msg_init(&m, sock == 1 ? VT_MSG_FETCH : VT_MSG_VFETCH);
        strcpy(m.u.fetch.session, "s0.0.0000000000000000");
        m.u.fetch.free_slots = 1;
        m.u.fetch.max_jobs = 1;
        vt_errinfo ei = {0};
        VT_REQUIRE_OK(vt_msg_encode(&m, &w, &ei));
    }
    for (size_t cut = 1; cut < w.len; cut += 7)
        expect_refused("truncated", url, w.data, cut);
    expect_alive(e, url, sock);

    /* Huge announced counts: an array32/map32 of 4 billion, a str32 of 4 GB. */
    const uint8_t huge_arr[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};
    const uint8_t huge_map[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x76};
    expect_refused("array32 4G", url, huge_arr, sizeof huge_arr);
    expect_refused("map32 4G", url, huge_map, sizeof huge_map);
    vt_buf_reset(&w);
    envelope(&w, 1, type, 1);
    vt_mp_write_cstr(&w, "api_key");
    const uint8_t str32[] = {0xdb, 0xff, 0xff, 0xff, 0xf0, 'x'};
    vt_buf_append(&w, str32, sizeof str32);
    expect_refused("str32 4G", url, w.data, w.len);
    vt_buf_reset(&w);
    envelope(&w, 1, type, 1);
    vt_mp_write_cstr(&w, sock == 0 ? "job" : "session");
    const uint8_t arr_in[] = {0xdc, 0xff, 0xff, 0x01};
    vt_buf_append(&w, arr_in, sizeof arr_in);
    expect_refused("array16 65535 inside", url, w.data, w.len);

    /* Deep nesting. */
    vt_buf_reset(&w);
    envelope(&w, 1, type, 1);
    vt_mp_write_cstr(&w, "zz");
    for (int i = 0; i < 5000; i++)
        vt_mp_write_array(&w, 1);
    vt_mp_write_nil(&w);
    expect_refused("deep nesting", url, w.data, w.len);
    expect_alive(e, url, sock);

    /* Wrong field types. */
    vt_buf_reset(&w);
    envelope(&w, 1, type, 2);
    vt_mp_write_cstr(&w, sock == 0 ? "api_key" : "session");
    vt_mp_write_uint(&w, 42);
    vt_mp_write_cstr(&w, sock == 0 ? "job" : "free_slots");
    vt_mp_write_cstr(&w, "lots");
    expect_refused("wrong types", url, w.data, w.len);
    /* Not a map at all; a map with a non-string key. */
    const uint8_t notmap[] = {0x93, 0x01, 0x02, 0x03};
    expect_refused("not a map", url, notmap, sizeof notmap);
    const uint8_t intkey[] = {0x81, 0x01, 0x02};
    expect_refused("int key", url, intkey, sizeof intkey);

    /* Unknown version and unknown message type. */
    vt_buf_reset(&w);
    envelope(&w, 99, type, 0);
    vt_msg rep;
    VT_CHECK_OK(raw_call(url, w.data, w.len, 2000, &rep));
    VT_CHECK(rep.type == VT_MSG_ERROR && rep.u.error.code == VT_ERR_VERSION, "version refused (%d)",
             rep.type == VT_MSG_ERROR ? rep.u.error.code : 0);
    vt_msg_free(&rep);
    vt_buf_reset(&w);
    envelope(&w, 1, "launch_missiles", 0);
    expect_refused("unknown type", url, w.data, w.len);
    /* A log query the agent socket does not know, and one cut short: the
     * agent socket tries log queries only after a failed decode. */
    vt_buf_reset(&w);
    envelope(&w, 1, "log_launch_missiles", 0);
    expect_refused("unknown log query", url, w.data, w.len);
    if (sock == 0 && w.len > 1)
        expect_refused("log query cut short", url, w.data, w.len - 1);
    /* A message valid elsewhere but not on this socket. */
    vt_buf_reset(&w);
    envelope(&w, 1, sock == 0 ? "heartbeat" : "submit", 0);
    expect_refused("wrong socket", url, w.data, w.len);
    expect_alive(e, url, sock);

    /* Oversized: NNG drops the pipe (no reply); we log it. */
    size_t big = RECV_MAX * 4;
    uint8_t *huge = calloc(1, big);
    memset(huge, 0xc0, big);
    int rv = raw_call(url, huge, big, 1500, &rep);
    VT_CHECK(rv == VT_ERR_TIMEOUT || rv == VT_ERR_TRANSPORT, "oversized: no reply (got %s)",
             vt_errname(rv));
    vt_msg_free(&rep);
    free(huge);
    expect_alive(e, url, sock);
    vt_buf_free(&w);
}

/* Bad configuration is refused on one line with exit status 2. */
static void bad_flags(const sh_env *e)
{
    char bin[512];
    vt_ts_bin("verity-scheduler", bin, sizeof bin);
    const char *cases[][8] = {
        {"--queue-max", "abc", "--key", e->key_path, "--auth-secret", e->secret_path, NULL},
        {"--model-alias", "tiny=xyz", "--key", e->key_path, "--auth-secret", e->secret_path, NULL},
        {"--lease-ms", "-5", "--key", e->key_path, "--auth-secret", e->secret_path, NULL},
        {"--key", e->secret_path, "--auth-secret", e->secret_path, NULL}, /* not a key file */
        {"--redis", "http://x", "--key", e->key_path, "--auth-secret", e->secret_path, NULL},
        {"--auth-secret", e->secret_path, NULL},                         /* --key missing */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vt_proc *p = vt_proc_spawn("badflags", bin, cases[i], NULL);
        int code = -1;
        VT_CHECK(p && vt_proc_wait(p, 10000, &code) == 0 && code == 2, "case %zu: exit %d", i, code);
        vt_proc_free(p);
    }
    const char *env[] = {"VERITY_QUEUE_MAX=lots", NULL};
    const char *args[] = {"--key", e->key_path, "--auth-secret", e->secret_path, NULL};
    vt_proc *p = vt_proc_spawn("badflags", bin, args, env);
    int code = -1;
    VT_CHECK(p && vt_proc_wait(p, 10000, &code) == 0 && code == 2, "bad env: exit %d", code);
    vt_proc_free(p);
}

static int raw_connect(const char *url)
{
    return vt_ts_sp_connect(url);
}

/* Whether the scheduler ends the connection: reads (its handshake) until
 * end of stream, within the 5 s receive timeout. */
static bool ended_by_peer(int fd)
{
    uint8_t b[256];
    for (;;) {
        ssize_t k = recv(fd, b, sizeof b, 0);
        if (k == 0)
            return true;
        if (k < 0)
            return false;
    }
}

static void hostile_wire(const sh_env *e, const char *url, int sock)
{
    bool ipc = strncmp(url, "ipc://", 6) == 0;
    size_t hl = ipc ? 9 : 8;
    uint8_t buf[64];
    /* not SP at all */
    int fd = raw_connect(url);
    VT_REQUIRE(fd >= 0, "connect %s", url);
    VT_CHECK(send(fd, "GET / HTTP/1.1\r\n\r\n", 18, MSG_NOSIGNAL) == 18, "send");
    VT_CHECK(ended_by_peer(fd), "%s: a peer that is not SP is dropped", url);
    close(fd);
    /* the REP protocol where REQ is expected */
    fd = raw_connect(url);
    vt_sp_handshake(buf, VT_SP_PROTO_REP);
    VT_CHECK(send(fd, buf, VT_SP_HANDSHAKE_LEN, MSG_NOSIGNAL) == VT_SP_HANDSHAKE_LEN, "send");
    VT_CHECK(ended_by_peer(fd), "%s: a REP peer is dropped", url);
    close(fd);
    /* a frame announcing 2^60 bytes */
    fd = raw_connect(url);
    vt_sp_handshake(buf, VT_SP_PROTO_REQ);
    size_t n = VT_SP_HANDSHAKE_LEN;
    if (ipc)
        buf[n++] = 0x01;
    memset(buf + n, 0, 8);
    buf[n] = 0x10;
    n += 8;
    VT_CHECK(send(fd, buf, n, MSG_NOSIGNAL) == (ssize_t)n, "send");
    VT_CHECK(ended_by_peer(fd), "%s: a 2^60-byte frame is refused", url);
    close(fd);
    /* a request without a backtrace is dropped; a frame cut short and a
     * silent peer hold nothing but their own connection */
    fd = raw_connect(url);
    n = VT_SP_HANDSHAKE_LEN;
    if (ipc)
        buf[n] = 0x01;
    memset(buf + n + (ipc ? 1 : 0), 0, 8);
    buf[n + hl - 1] = 6;
    memcpy(buf + n + hl, "\x00\x00\x00\x01hi", 6);
    n += hl + 6;
    n += vt_sp_request_header(buf + n, ipc, 9, 100); /* 100 bytes announced, 3 sent */
    memcpy(buf + n, "abc", 3);
    n += 3;
    VT_CHECK(send(fd, buf, n, MSG_NOSIGNAL) == (ssize_t)n, "send");
    int burst[64];
    for (int i = 0; i < 64; i++)
        burst[i] = raw_connect(url);
    expect_alive(e, url, sock);
    for (int i = 0; i < 64; i++)
        if (burst[i] >= 0)
            close(burst[i]);
    close(fd);
    expect_alive(e, url, sock);
}

int main(void)
{
    static const char *const args[] = {"--recv-max", "65536", NULL};
    sh_env e;
    sh_setup(&e, args);
    bad_flags(&e);
    hostile(&e, e.agent_url, 0);
    hostile(&e, e.worker_url, 1);
    hostile(&e, e.verifier_url, 2);
    hostile_wire(&e, e.agent_url, 0);
    hostile_wire(&e, e.worker_url, 1);
    hostile_wire(&e, e.verifier_url, 2);
    VT_CHECK(sh_log_has(&e, "peer.pipe_closed"), "dropped pipes are logged");
    VT_CHECK(sh_log_has(&e, "peer.bad_message"), "bad messages are logged");
    VT_CHECK(sh_metric(&e, "verity_scheduler_bad_messages_total{socket=\"agent\"}") > 10,
             "bad messages counted");
    sh_teardown(&e);
    return vt_test_done();
}
