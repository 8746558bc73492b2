/* test_hostile.c - bad input is normal input: garbage, wrong types, lying
 * counts, oversized items and messages, limits (item size, items per agent,
 * rate) - each gets a clear error and the daemon keeps serving; and the
 * client across a daemon restart and over a scheme only libnng speaks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "ms_testutil.h"
#include "vt_clock.h"
#include "vt_protocol.h"
#include "vt_test.h"

static ms_env env;
static ms_agent ag;

/* Send raw bytes, return the error code of the answer (0 for mem_ok),
 * or VT_ERR_TIMEOUT when no answer came. */
static int raw(const void *p, size_t n)
{
    nng_socket s;
    VT_REQUIRE(nng_req0_open(&s) == 0, "req socket");
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 3000);
    nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 3000);
    nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 1 << 20);
    VT_REQUIRE(nng_dial(s, env.listen, NULL, 0) == 0, "dial");
    int code = VT_ERR_TIMEOUT;
    if (nng_send(s, (void *)p, n, 0) == 0) {
        char *buf = NULL;
        size_t len = 0;
        if (nng_recv(s, &buf, &len, NNG_FLAG_ALLOC) == 0) {
            vt_msg m;
            uint32_t minor, tl;
            const char *t;
            if (vt_mp_read_envelope(buf, len, &minor, &t, &tl, NULL) == 0 &&
                vt_mp_str_eq(t, tl, "mem_ok"))
                code = 0;
            else if (vt_msg_decode(buf, len, &m, NULL) == 0) {
                code = m.u.error.code;
                vt_msg_free(&m);
            } else
                code = 1; /* undecodable answer: a test failure below */
            nng_free(buf, len);
        }
    }
    nng_close(s);
    return code;
}

/* Still serving? A real request succeeds. */
static void alive(const char *after)
{
    vt_mem_list l;
    int rv = vt_memsync_list(env.client, &ag.cred, NULL, 0, 1, &l, NULL);
    VT_CHECK(rv == 0, "daemon stopped serving after %s (%s)", after, vt_errname(rv));
    if (rv == 0)
        vt_mem_list_clear(&l);
}

/* A request envelope with the agent's credentials and `extra` more fields
 * to follow. */
static void env_begin(vt_buf *b, const char *type, uint32_t extra)
{
    vt_buf_init(b, 0);
    vt_mp_write_envelope(b, type, 2 + extra);
    vt_mp_write_cstr(b, "agent");
    vt_mp_write_cstr(b, ag.id);
    vt_mp_write_cstr(b, "key");
    vt_mp_write_cstr(b, ag.key);
}

static void test_garbage(void)
{
    static const uint8_t junk[] = {0xde, 0xad, 0xbe, 0xef, 0xc1, 0x00};
    VT_CHECK_EQ_INT(raw(junk, sizeof junk), VT_ERR_PROTO);
    alive("junk bytes");
    VT_CHECK_EQ_INT(raw("", 0), VT_ERR_PROTO);
    /* a map announcing 2^32-1 entries in 5 bytes */
    static const uint8_t huge_map[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
    VT_CHECK_EQ_INT(raw(huge_map, sizeof huge_map), VT_ERR_PROTO);
    /* nesting far deeper than any message */
    uint8_t deep[4000];
    memset(deep, 0x91, sizeof deep); /* fixarray(1) x 4000 */
    VT_CHECK(raw(deep, sizeof deep) < 0, "deep nesting refused");
    alive("lying counts");

    vt_buf b;
    /* unknown request type */
    env_begin(&b, "mem_explode", 0);
    VT_CHECK_EQ_INT(raw(b.data, b.len), VT_ERR_PROTO);
    vt_buf_free(&b);
    /* wrong types: id as a string, k as a negative number, item as an array */
    env_begin(&b, "mem_get", 1);
    vt_mp_write_cstr(&b, "id");
    vt_mp_write_cstr(&b, "7");
    VT_CHECK_EQ_INT(raw(b.data, b.len), VT_ERR_PROTO);
    vt_buf_free(&b);
    env_begin(&b, "mem_search", 2);
    vt_mp_write_cstr(&b, "k");
    vt_mp_write_int(&b, -5);
    vt_mp_write_cstr(&b, "text");
    vt_mp_write_cstr(&b, "x");
    VT_CHECK_EQ_INT(raw(b.data, b.len), VT_ERR_RANGE); /* an integer, but < 0 */
    vt_buf_free(&b);
    env_begin(&b, "mem_add", 1);
    vt_mp_write_cstr(&b, "item");
    vt_mp_write_array(&b, 0);
    VT_CHECK_EQ_INT(raw(b.data, b.len), VT_ERR_PROTO);
    vt_buf_free(&b);
    /* huge counts that are well-formed: k way over the limit */
    env_begin(&b, "mem_search", 2);
    vt_mp_write_cstr(&b, "k");
    vt_mp_write_uint(&b, 4000000000u);
    vt_mp_write_cstr(&b, "text");
    vt_mp_write_cstr(&b, "x");
    VT_CHECK_EQ_INT(raw(b.data, b.len), VT_ERR_RANGE);
    vt_buf_free(&b);
    env_begin(&b, "mem_list", 1);
    vt_mp_write_cstr(&b, "limit");
    vt_mp_write_uint(&b, 1u << 30);
    VT_CHECK_EQ_INT(raw(b.data, b.len), VT_ERR_RANGE);
    vt_buf_free(&b);
    /* an item whose categories array claims 1000 entries */
    env_begin(&b, "mem_add", 1);
    vt_mp_write_cstr(&b, "item");
    vt_mp_write_map(&b, 2);
    vt_mp_write_cstr(&b, "text");
    vt_mp_write_cstr(&b, "x");
    vt_mp_write_cstr(&b, "categories");
    vt_mp_write_array(&b, 1000);
    for (int i = 0; i < 1000; i++)
        vt_mp_write_cstr(&b, "c");
    VT_CHECK_EQ_INT(raw(b.data, b.len), VT_ERR_TOOBIG);
    vt_buf_free(&b);
    /* embedding bytes not a multiple of 4 */
    env_begin(&b, "mem_add", 1);
    vt_mp_write_cstr(&b, "item");
    vt_mp_write_map(&b, 2);
    vt_mp_write_cstr(&b, "text");
    vt_mp_write_cstr(&b, "x");
    vt_mp_write_cstr(&b, "embedding");
    vt_mp_write_bin(&b, "abcde", 5);
    VT_CHECK_EQ_INT(raw(b.data, b.len), VT_ERR_PROTO);
    vt_buf_free(&b);
    /* text with a NUL byte inside */
    env_begin(&b, "mem_add", 1);
    vt_mp_write_cstr(&b, "item");
    vt_mp_write_map(&b, 1);
    vt_mp_write_cstr(&b, "text");
    vt_mp_write_str(&b, "a\0b", 3);
    VT_CHECK_EQ_INT(raw(b.data, b.len), VT_ERR_PROTO);
    vt_buf_free(&b);
    /* missing credentials */
    vt_buf_init(&b, 0);
    vt_mp_write_envelope(&b, "mem_list", 0);
    VT_CHECK_EQ_INT(raw(b.data, b.len), VT_ERR_PROTO);
    vt_buf_free(&b);
    alive("malformed requests");

    /* a message over --recv-max: NNG drops the pipe, nothing answers */
    size_t big = 5u << 20;
    char *blob = calloc(1, big);
    VT_CHECK_EQ_INT(raw(blob, big), VT_ERR_TIMEOUT);
    free(blob);
    alive("an oversized message");
}

static void test_limits(void)
{
    vt_errinfo ei = {0};
    /* text over --max-item-bytes (16384 by default) */
    char *text = malloc(20001);
    memset(text, 'a', 20000);
    text[20000] = 0;
    for (int i = 0; i < 20000; i += 10)
        text[i] = ' ';
    vt_mem_item it = ms_item(text, NULL, 0);
    VT_CHECK_ERR(vt_memsync_add(env.client, &ag.cred, &it, NULL, NULL, &ei), VT_ERR_TOOBIG);
    printf("too big: %s\n", ei.detail);
    text[16384] = 0;
    VT_CHECK_OK(vt_memsync_add(env.client, &ag.cred, &it, NULL, NULL, &ei));
    free(text);
    /* embedding dimension over the format limit */
    float *v = calloc(VT_MEM_MAX_DIM + 1, sizeof *v);
    it = ms_item("vec", v, VT_MEM_MAX_DIM + 1);
    VT_CHECK_ERR(vt_memsync_add(env.client, &ag.cred, &it, NULL, NULL, &ei), VT_ERR_TOOBIG);
    free(v);
    /* importance out of range, empty text, empty profile key */
    it = ms_item("x", NULL, 0);
    it.importance = 7;
    VT_CHECK_ERR(vt_memsync_add(env.client, &ag.cred, &it, NULL, NULL, &ei), VT_ERR_RANGE);
    it = ms_item("", NULL, 0);
    VT_CHECK_ERR(vt_memsync_add(env.client, &ag.cred, &it, NULL, NULL, &ei), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_memsync_profile_set(env.client, &ag.cred, "", "v", NULL, &ei), VT_ERR_INVAL);
    /* NaN in a query vector */
    float nanv[2] = {0.0f / 0.0f, 1};
    vt_mem_query q = {.vector = nanv, .dim = 2, .k = 3};
    vt_mem_hits h;
    VT_CHECK_ERR(vt_memsync_search(env.client, &ag.cred, &q, &h, &ei), VT_ERR_INVAL);
    alive("limit errors");
}

/* A replica on the same Redis with tight limits: items per agent and rate. */
static void test_agent_limits(void)
{
    ms_env e2 = env;
    char sock[512];
    snprintf(e2.listen, sizeof e2.listen, "ipc://%s", vt_ts_path("tight.ipc", sock, sizeof sock));
    snprintf(e2.http, sizeof e2.http, "127.0.0.1:%d", vt_ts_free_port());
    const char *extra[] = {"--max-items", "3", "--rate-limit", "20", NULL};
    ms_env_start_daemon(&e2, extra);
    vt_memsync *c2;
    VT_REQUIRE_OK(vt_memsync_open(&c2, e2.listen, 10000, NULL));
    ms_agent fresh;
    ms_agent_new(&env, "limited", &fresh);
    vt_mem_item it = ms_item("one of three", NULL, 0);
    vt_errinfo ei = {0};
    int added = 0, rv = 0;
    while (added < 10 && (rv = vt_memsync_add(c2, &fresh.cred, &it, NULL, NULL, &ei)) == 0)
        added++;
    VT_CHECK_EQ_INT(added, 3);
    VT_CHECK_EQ_INT(rv, VT_ERR_RANGE);
    printf("max items: %s\n", ei.detail);
    /* 20 requests/s: 60 back-to-back requests cannot all pass */
    int limited = 0;
    for (int i = 0; i < 60; i++) {
        vt_mem_list l;
        rv = vt_memsync_list(c2, &fresh.cred, NULL, 0, 1, &l, &ei);
        if (rv == 0)
            vt_mem_list_clear(&l);
        else if (rv == VT_ERR_RATELIMIT)
            limited++;
        else
            VT_CHECK(0, "unexpected %s", vt_errname(rv));
    }
    VT_CHECK(limited > 0, "rate limit never hit");
    vt_memsync_close(c2);
    VT_CHECK_EQ_INT(vt_proc_stop(e2.daemon, 10000), 0);
    vt_proc_free(e2.daemon);
}

/* The client across a daemon restart: while it is down a call times out
 * (nothing to connect to; the client keeps trying until its deadline),
 * and once it is back the same handle's first call succeeds, though the
 * connection it kept was closed by the old daemon (vt_sp_req replaces it
 * before sending, as NNG's redial would). */
static void test_client_restart(void)
{
    alive("before the restart");
    VT_CHECK_EQ_INT(vt_proc_stop(env.daemon, 10000), 0);
    vt_proc_free(env.daemon);
    env.daemon = NULL;
    vt_memsync *quick;
    VT_REQUIRE_OK(vt_memsync_open(&quick, env.listen, 200, NULL));
    vt_mem_list l;
    uint64_t t0 = vt_mono_ms();
    VT_CHECK_ERR(vt_memsync_list(quick, &ag.cred, NULL, 0, 1, &l, NULL), VT_ERR_TIMEOUT);
    VT_CHECK(vt_mono_ms() - t0 >= 150, "waited for the daemon until the deadline");
    ms_env_start_daemon(&env, NULL);
    alive("a restart");
    VT_CHECK_OK(vt_memsync_list(quick, &ag.cred, NULL, 0, 1, &l, NULL));
    vt_mem_list_clear(&l);
    vt_memsync_close(quick);
}

/* A scheme vt_sp_req does not speak (abstract://) takes the libnng path
 * for blocking calls too. Runs last: the daemon moves off env.listen. */
static void test_client_other_scheme(void)
{
    VT_CHECK_EQ_INT(vt_proc_stop(env.daemon, 10000), 0);
    vt_proc_free(env.daemon);
    snprintf(env.listen, sizeof env.listen, "abstract://verity-ms-test-%d", (int)getpid());
    ms_env_start_daemon(&env, NULL);
    vt_memsync *c;
    VT_REQUIRE_OK(vt_memsync_open(&c, env.listen, 5000, NULL));
    vt_mem_list l;
    VT_CHECK_OK(vt_memsync_list(c, &ag.cred, NULL, 0, 1, &l, NULL));
    vt_mem_list_clear(&l);
    vt_memsync_close(c);
}

int main(void)
{
    ms_env_start(&env, NULL);
    ms_agent_new(&env, "target", &ag);
    test_garbage();
    test_limits();
    test_agent_limits();
    test_client_restart();
    test_client_other_scheme();
    ms_env_stop(&env);
    return vt_test_done();
}
