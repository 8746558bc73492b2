/* test_tlog_store.c - the log's Redis copy against a real redis-server:
 * round trip, survival of kill -9 (AOF always), and refusal of a tampered or
 * corrupt store. */
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sodium.h>
#include <string.h>

#include "vt_redis.h"
#include "vt_test.h"
#include "vt_testsupport.h"
#include "vt_tlog.h"

static void append_n(vt_redis *r, vt_tlog *t, int n)
{
    for (int i = 0; i < n; i++) {
        uint8_t leaf[32], lh[32];
        memset(leaf, 0, sizeof leaf);
        memcpy(leaf, &i, sizeof i);
        vt_tlog_leaf_hash(leaf, sizeof leaf, lh);
        vt_tlog_node nodes[64];
        uint32_t k;
        VT_REQUIRE_OK(vt_tlog_append(t, lh, NULL, nodes, &k));
        VT_CHECK_EQ_INT(vt_tlog_store_queue(r, nodes, k, NULL), 1);
        redisReply *rep = NULL;
        VT_REQUIRE_OK(vt_redis_read_replies(r, &rep, 1, NULL));
        VT_CHECK(rep && rep->type == REDIS_REPLY_INTEGER, "HSET reply");
        vt_redis_free_replies(&rep, 1);
    }
}

static int load_root(vt_redis *r, uint64_t *size, uint8_t root[32])
{
    vt_tlog *t;
    VT_REQUIRE_OK(vt_tlog_new(&t));
    vt_errinfo ei = {0};
    int rv = vt_tlog_store_load(r, t, &ei);
    if (rv == 0) {
        *size = vt_tlog_size(t);
        vt_tlog_root(t, *size, root);
    }
    vt_tlog_free(t);
    return rv;
}

int main(void)
{
    vt_ts_redis rs;
    if (vt_ts_redis_start(&rs) == VT_ERR_UNSUPPORTED)
        vt_test_skip("redis-server not installed");
    vt_redis *r;
    VT_REQUIRE_OK(vt_redis_connect(&r, rs.url, 2000, 2000, NULL));

    vt_tlog *t;
    VT_REQUIRE_OK(vt_tlog_new(&t));
    append_n(r, t, 77);
    uint8_t want[32], got[32];
    VT_REQUIRE_OK(vt_tlog_root(t, 77, want));

    /* A signed head round trips. */
    uint8_t pk[32], sk[64];
    crypto_sign_keypair(pk, sk);
    vt_tree_head th = {.size = 77, .time_ms = 123456};
    memcpy(th.root, want, 32);
    VT_REQUIRE_OK(vt_tree_head_sign(&th, sk));
    VT_CHECK_EQ_INT(vt_tlog_store_queue_head(r, &th, NULL), 3);
    redisReply *reps[3] = {0};
    VT_REQUIRE_OK(vt_redis_read_replies(r, reps, 3, NULL));
    vt_redis_free_replies(reps, 3);
    vt_tree_head back;
    VT_CHECK_OK(vt_tlog_store_load_head(r, &back, NULL));
    VT_CHECK(back.size == 77 && back.time_ms == 123456 && memcmp(back.root, want, 32) == 0 &&
                 vt_tree_head_verify(&back, pk) == 0,
             "head round trip");

    uint64_t size = 0;
    VT_CHECK_OK(load_root(r, &size, got));
    VT_CHECK_EQ_U64(size, 77);
    VT_CHECK(memcmp(got, want, 32) == 0, "loaded root equals the in-memory root");

    /* kill -9 and restart: AOF with appendfsync always keeps every append. */
    vt_redis_close(r);
    VT_REQUIRE_OK(vt_ts_redis_kill(&rs, SIGKILL));
    VT_REQUIRE_OK(vt_ts_redis_restart(&rs));
    VT_REQUIRE_OK(vt_redis_connect(&r, rs.url, 2000, 2000, NULL));
    VT_CHECK_OK(load_root(r, &size, got));
    VT_CHECK(size == 77 && memcmp(got, want, 32) == 0, "log survives kill -9");

    /* Tampering with a stored node is detected on load. */
    redisReply *rep = NULL;
    VT_REQUIRE_OK(vt_redis_command(r, &rep, NULL, "HGET verity:tlog:nodes 1:3"));
    VT_REQUIRE(rep->type == REDIS_REPLY_STRING && rep->len == 32, "node 1:3 stored");
    uint8_t saved[32];
    memcpy(saved, rep->str, 32);
    freeReplyObject(rep);
    uint8_t evil[32];
    memcpy(evil, saved, 32);
    evil[0] ^= 1;
    VT_REQUIRE_OK(vt_redis_command(r, &rep, NULL, "HSET verity:tlog:nodes 1:3 %b", evil,
                                   (size_t)32));
    freeReplyObject(rep);
    VT_CHECK_ERR(load_root(r, &size, got), VT_ERR_FORMAT);
    VT_REQUIRE_OK(vt_redis_command(r, &rep, NULL, "HSET verity:tlog:nodes 1:3 %b", saved,
                                   (size_t)32));
    freeReplyObject(rep);
    VT_CHECK_OK(load_root(r, &size, got));

    /* A node far beyond the log is refused before anything is sized by it. */
    VT_REQUIRE_OK(vt_redis_command(r, &rep, NULL,
                                   "HSET verity:tlog:nodes 0:99999999999999 %b", evil,
                                   (size_t)32));
    freeReplyObject(rep);
    VT_CHECK_ERR(load_root(r, &size, got), VT_ERR_FORMAT);

    vt_tlog_free(t);
    vt_redis_close(r);
    vt_ts_redis_stop(&rs);
    return vt_test_done();
}
