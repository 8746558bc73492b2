/* test_tlog_store.c - the log's Redis copy against a real redis-server:
 * tiles round trip (several leaf tiles, a level-8 tile, appends crossing a
 * tile boundary in one batch), survival of kill -9 (AOF always), refusal of
 * a tampered or corrupt store, and the conversion of a log still in the old
 * one-hash layout. */
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "vt_redis.h"
#include "vt_test.h"
#include "vt_testsupport.h"
#include "vt_tlog.h"

#define N_LEAVES 600 /* leaf tiles 0:0, 0:1 full, 0:2 partial; level-8 tile 1:0 */
#define BATCH 7      /* leaves per queued write, as a journal turn: 256 = 36*7 + 4 */

static void leaf_hash(int i, uint8_t out[32])
{
    uint8_t leaf[32];
    memset(leaf, 0, sizeof leaf);
    memcpy(leaf, &i, sizeof i);
    vt_tlog_leaf_hash(leaf, sizeof leaf, out);
}

static redisReply *cmd(vt_redis *r, const char *fmt, const char *key, const void *v, size_t vl)
{
    redisReply *rep = NULL;
    VT_REQUIRE_OK(vt_redis_command(r, &rep, NULL, fmt, key, v, vl));
    return rep;
}

/* Append leaves [from, to) to t and write them BATCH at a time. */
static void append_range(vt_redis *r, vt_tlog *t, int from, int to)
{
    static vt_tlog_node nodes[BATCH * 64];
    for (int i = from; i < to;) {
        uint32_t nn = 0;
        for (int b = 0; b < BATCH && i < to; b++, i++) {
            uint8_t lh[32];
            leaf_hash(i, lh);
            uint32_t k;
            VT_REQUIRE_OK(vt_tlog_append(t, lh, NULL, nodes + nn, &k));
            nn += k;
        }
        int q = vt_tlog_store_queue(r, nodes, nn, NULL);
        VT_REQUIRE(q >= 1 && q <= 4, "queued %d writes for one batch", q);
        redisReply *reps[4] = {0};
        VT_REQUIRE_OK(vt_redis_read_replies(r, reps, (size_t)q, NULL));
        for (int j = 0; j < q; j++)
            VT_CHECK(reps[j] && reps[j]->type == REDIS_REPLY_INTEGER, "SETRANGE reply");
        vt_redis_free_replies(reps, (size_t)q);
    }
}

static int load_root(vt_redis *r, uint64_t *size, uint8_t root[32], bool *converted)
{
    vt_tlog *t;
    VT_REQUIRE_OK(vt_tlog_new(&t));
    vt_errinfo ei = {0};
    int rv = vt_tlog_store_load(r, t, converted, &ei);
    if (rv == 0) {
        *size = vt_tlog_size(t);
        vt_tlog_root(t, *size, root);
    }
    vt_tlog_free(t);
    return rv;
}

static void expect_root(vt_redis *r, uint64_t want_size, const uint8_t want[32], const char *what)
{
    uint64_t size = 0;
    uint8_t got[32];
    bool conv = true;
    VT_CHECK_OK(load_root(r, &size, got, &conv));
    VT_CHECK(size == want_size && memcmp(got, want, 32) == 0 && !conv, "%s: size %llu", what,
             (unsigned long long)size);
}

static size_t strlen_key(vt_redis *r, const char *key)
{
    redisReply *rep = cmd(r, "STRLEN %s", key, NULL, 0);
    size_t n = rep->type == REDIS_REPLY_INTEGER ? (size_t)rep->integer : 0;
    freeReplyObject(rep);
    return n;
}

/* Flip a byte of key at off, expect the load to refuse, put it back. */
static void expect_tamper_caught(vt_redis *r, const char *key, size_t off, const uint8_t want[32])
{
    redisReply *rep = cmd(r, "GET %s", key, NULL, 0);
    VT_REQUIRE(rep->type == REDIS_REPLY_STRING && rep->len > off, "%s stored", key);
    uint8_t b = (uint8_t)(rep->str[off] ^ 1);
    freeReplyObject(rep);
    char o[24];
    snprintf(o, sizeof o, "%zu", off);
    redisReply *x = NULL;
    VT_REQUIRE_OK(vt_redis_command(r, &x, NULL, "SETRANGE %s %s %b", key, o, &b, (size_t)1));
    freeReplyObject(x);
    uint64_t size;
    uint8_t got[32];
    VT_CHECK_ERR(load_root(r, &size, got, NULL), VT_ERR_FORMAT);
    b ^= 1;
    VT_REQUIRE_OK(vt_redis_command(r, &x, NULL, "SETRANGE %s %s %b", key, o, &b, (size_t)1));
    freeReplyObject(x);
    expect_root(r, N_LEAVES, want, "restored after tampering");
}

static void test_tiles(vt_ts_redis *rs, vt_redis **rp)
{
    vt_redis *r = *rp;
    vt_tlog *t;
    VT_REQUIRE_OK(vt_tlog_new(&t));
    append_range(r, t, 0, N_LEAVES);
    uint8_t want[32];
    VT_REQUIRE_OK(vt_tlog_root(t, N_LEAVES, want));
    VT_CHECK_EQ_U64(strlen_key(r, "verity:tlog:tile:0:0"), 8192);
    VT_CHECK_EQ_U64(strlen_key(r, "verity:tlog:tile:0:1"), 8192);
    VT_CHECK_EQ_U64(strlen_key(r, "verity:tlog:tile:0:2"), (N_LEAVES - 512) * 32);
    VT_CHECK_EQ_U64(strlen_key(r, "verity:tlog:tile:1:0"), 2 * 32); /* two level-8 nodes */
    VT_CHECK_EQ_U64(strlen_key(r, "verity:tlog:tile:0:3"), 0);
    /* the level-8 node as stored is the in-memory one */
    uint8_t n8[32];
    VT_REQUIRE_OK(vt_tlog_node_at(t, 8, 1, n8));
    redisReply *rep = cmd(r, "GETRANGE %s 32 63", "verity:tlog:tile:1:0", NULL, 0);
    VT_CHECK(rep->type == REDIS_REPLY_STRING && rep->len == 32 && memcmp(rep->str, n8, 32) == 0,
             "level-8 node 1 in tile 1:0");
    freeReplyObject(rep);
    expect_root(r, N_LEAVES, want, "tiles round trip");

    /* a batch written twice (its reply lost, the turn redone) changes nothing */
    vt_tlog *t2;
    VT_REQUIRE_OK(vt_tlog_new(&t2));
    append_range(r, t2, 0, N_LEAVES);
    vt_tlog_free(t2);
    expect_root(r, N_LEAVES, want, "rewritten batches");

    /* kill -9 and restart: AOF with appendfsync always keeps every append. */
    vt_redis_close(r);
    VT_REQUIRE_OK(vt_ts_redis_kill(rs, SIGKILL));
    VT_REQUIRE_OK(vt_ts_redis_restart(rs));
    VT_REQUIRE_OK(vt_redis_connect(rp, rs->url, 2000, 2000, NULL));
    r = *rp;
    expect_root(r, N_LEAVES, want, "log survives kill -9");

    /* A stored level-8 node, or a leaf under one, changed: refused. */
    expect_tamper_caught(r, "verity:tlog:tile:1:0", 40, want);
    expect_tamper_caught(r, "verity:tlog:tile:0:1", 100, want);

    /* A tile that is no tile, or one after the level's last: refused. */
    rep = cmd(r, "SET %s %b", "verity:tlog:tile:0:5", "x", 1);
    freeReplyObject(rep);
    uint64_t size;
    uint8_t got[32];
    VT_CHECK_ERR(load_root(r, &size, got, NULL), VT_ERR_FORMAT);
    rep = cmd(r, "SET %s %b", "verity:tlog:tile:0:5", want, 32);
    freeReplyObject(rep);
    VT_CHECK_ERR(load_root(r, &size, got, NULL), VT_ERR_FORMAT);
    rep = cmd(r, "DEL %s", "verity:tlog:tile:0:5", NULL, 0);
    freeReplyObject(rep);
    rep = cmd(r, "APPEND %s %b", "verity:tlog:tile:0:2", "x", 1); /* not whole hashes */
    freeReplyObject(rep);
    VT_CHECK_ERR(load_root(r, &size, got, NULL), VT_ERR_FORMAT);
    rep = cmd(r, "GETRANGE %s 0 -2", "verity:tlog:tile:0:2", NULL, 0); /* drop the 'x' */
    VT_REQUIRE(rep->type == REDIS_REPLY_STRING, "tile 0:2");
    redisReply *x = cmd(r, "SET %s %b", "verity:tlog:tile:0:2", rep->str, rep->len);
    freeReplyObject(x);
    freeReplyObject(rep);

    /* appends go on where the load left off */
    vt_tlog *back;
    VT_REQUIRE_OK(vt_tlog_new(&back));
    VT_REQUIRE_OK(vt_tlog_store_load(r, back, NULL, NULL));
    append_range(r, back, N_LEAVES, N_LEAVES + 100);
    append_range(r, t, N_LEAVES, N_LEAVES + 100);
    uint8_t want2[32], got2[32];
    VT_REQUIRE_OK(vt_tlog_root(t, N_LEAVES + 100, want2));
    VT_CHECK_OK(load_root(r, &size, got2, NULL));
    VT_CHECK(size == N_LEAVES + 100 && memcmp(got2, want2, 32) == 0, "appended after a load");
    vt_tlog_free(back);
    vt_tlog_free(t);
}

/* A log written by an older scheduler: every node in verity:tlog:nodes. */
static void test_convert(vt_redis *r)
{
    redisReply *rep = cmd(r, "FLUSHALL", NULL, NULL, 0);
    freeReplyObject(rep);
    vt_tlog *t;
    VT_REQUIRE_OK(vt_tlog_new(&t));
    for (int i = 0; i < N_LEAVES; i++) {
        uint8_t lh[32];
        leaf_hash(i, lh);
        vt_tlog_node nodes[64];
        uint32_t k;
        VT_REQUIRE_OK(vt_tlog_append(t, lh, NULL, nodes, &k));
        for (uint32_t j = 0; j < k; j++) {
            char f[48];
            snprintf(f, sizeof f, "%u:%llu", nodes[j].level, (unsigned long long)nodes[j].index);
            rep = NULL;
            VT_REQUIRE_OK(vt_redis_command(r, &rep, NULL, "HSET verity:tlog:nodes %s %b", f,
                                           nodes[j].hash, (size_t)32));
            freeReplyObject(rep);
        }
    }
    uint8_t want[32], got[32];
    VT_REQUIRE_OK(vt_tlog_root(t, N_LEAVES, want));
    rep = cmd(r, "SET %s %b", "verity:tlog:head", want, 32); /* the old copy of the head */
    freeReplyObject(rep);

    /* a tampered node or one far beyond the log is refused, nothing converted */
    uint8_t evil[32];
    VT_REQUIRE_OK(vt_tlog_node_at(t, 1, 3, evil));
    evil[0] ^= 1;
    rep = NULL;
    VT_REQUIRE_OK(vt_redis_command(r, &rep, NULL, "HSET verity:tlog:nodes 1:3 %b", evil,
                                   (size_t)32));
    freeReplyObject(rep);
    uint64_t size;
    bool conv = true;
    VT_CHECK_ERR(load_root(r, &size, got, &conv), VT_ERR_FORMAT);
    VT_CHECK(!conv && strlen_key(r, "verity:tlog:tile:0:0") == 0, "nothing converted");
    evil[0] ^= 1;
    VT_REQUIRE_OK(vt_redis_command(r, &rep, NULL, "HSET verity:tlog:nodes 1:3 %b", evil,
                                   (size_t)32));
    freeReplyObject(rep);
    VT_REQUIRE_OK(vt_redis_command(r, &rep, NULL, "HSET verity:tlog:nodes 0:99999999999999 %b",
                                   evil, (size_t)32));
    freeReplyObject(rep);
    VT_CHECK_ERR(load_root(r, &size, got, NULL), VT_ERR_FORMAT);
    VT_REQUIRE_OK(vt_redis_command(r, &rep, NULL, "HDEL verity:tlog:nodes 0:99999999999999"));
    freeReplyObject(rep);

    VT_CHECK_OK(load_root(r, &size, got, &conv));
    VT_CHECK(conv && size == N_LEAVES && memcmp(got, want, 32) == 0, "converted log loads");
    rep = cmd(r, "EXISTS %s", "verity:tlog:nodes", NULL, 0);
    VT_CHECK(rep->type == REDIS_REPLY_INTEGER && rep->integer == 0, "the old hash is deleted");
    freeReplyObject(rep);
    rep = cmd(r, "EXISTS %s", "verity:tlog:head", NULL, 0);
    VT_CHECK(rep->type == REDIS_REPLY_INTEGER && rep->integer == 0, "the old head copy too");
    freeReplyObject(rep);
    VT_CHECK_EQ_U64(strlen_key(r, "verity:tlog:tile:0:2"), (N_LEAVES - 512) * 32);
    expect_root(r, N_LEAVES, want, "loaded again from tiles");
    vt_tlog_free(t);
}

int main(void)
{
    vt_ts_redis rs;
    if (vt_ts_redis_start(&rs) == VT_ERR_UNSUPPORTED)
        vt_test_skip("redis-server not installed");
    vt_redis *r;
    VT_REQUIRE_OK(vt_redis_connect(&r, rs.url, 2000, 2000, NULL));

    /* A signed head round trips. */
    uint8_t pk[32], sk[64], root[32] = {7};
    crypto_sign_keypair(pk, sk);
    vt_tree_head th = {.size = 77, .time_ms = 123456};
    memcpy(th.root, root, 32);
    vt_tree_head back;
    VT_CHECK_ERR(vt_tlog_store_load_head(r, &back, NULL), VT_ERR_NOTFOUND);
    for (int i = 0; i < 2; i++) { /* the latest of two is the one loaded */
        th.size = 76 + (uint64_t)i;
        VT_REQUIRE_OK(vt_tree_head_sign(&th, sk));
        VT_CHECK_EQ_INT(vt_tlog_store_queue_head(r, &th, NULL), 2);
        redisReply *reps[2] = {0};
        VT_REQUIRE_OK(vt_redis_read_replies(r, reps, 2, NULL));
        vt_redis_free_replies(reps, 2);
    }
    VT_CHECK_OK(vt_tlog_store_load_head(r, &back, NULL));
    VT_CHECK(back.size == 77 && back.time_ms == 123456 && memcmp(back.root, root, 32) == 0 &&
                 vt_tree_head_verify(&back, pk) == 0,
             "head round trip");

    /* An empty store is an empty log. */
    uint64_t size = 1;
    uint8_t got[32];
    VT_CHECK_OK(load_root(r, &size, got, NULL));
    VT_CHECK_EQ_U64(size, 0);

    test_tiles(&rs, &r);
    test_convert(r);

    vt_redis_close(r);
    vt_ts_redis_stop(&rs);
    return vt_test_done();
}
