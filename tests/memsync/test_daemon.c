/* test_daemon.c - verity-memsync over its socket: CRUD and profile, the
 * head on every answer, isolation between agents (every attack we could
 * think of), the service key, tampering detected by verify, limits, and
 * what it says about Redis's persistence settings, at start and when they
 * change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms_testutil.h"
#include "vt_clock.h"
#include "vt_protocol.h"
#include "vt_redis.h"
#include "vt_test.h"

static ms_env env;

static void test_crud(ms_agent *a)
{
    vt_errinfo ei = {0};
    char *cats[2] = {"travel", "work"};
    float v[3] = {1, 0, 0};
    vt_mem_item it = ms_item("Bob lives in Paris", v, 3);
    it.type = VT_MEM_EPISODIC;
    it.importance = 0.75f;
    it.categories = cats;
    it.ncategories = 2;
    uint64_t id1 = 0, id2 = 0;
    vt_mem_head h1, h2, h3;
    VT_REQUIRE_OK(vt_memsync_add(env.client, &a->cred, &it, &id1, &h1, &ei));
    VT_CHECK_EQ_U64(h1.seq, 1);
    VT_CHECK_EQ_U64(id1, 1); /* ids are the seq of the add */
    vt_mem_item it2 = ms_item("Alice prefers tea", NULL, 0);
    VT_REQUIRE_OK(vt_memsync_add(env.client, &a->cred, &it2, &id2, &h2, &ei));
    VT_CHECK_EQ_U64(h2.seq, 2);
    VT_CHECK(memcmp(h1.hash, h2.hash, 32) != 0, "head hash moves");

    vt_mem_item got;
    VT_REQUIRE_OK(vt_memsync_get(env.client, &a->cred, id1, &got, &h3, &ei));
    VT_CHECK_EQ_STR(got.text, "Bob lives in Paris");
    VT_CHECK_EQ_INT(got.type, VT_MEM_EPISODIC);
    VT_CHECK(got.importance == 0.75f, "importance");
    VT_CHECK_EQ_INT(got.ncategories, 2);
    VT_CHECK_EQ_STR(got.categories[0], "travel");
    VT_CHECK(got.dim == 3 && got.embedding[0] == 1.0f, "embedding kept");
    VT_CHECK_EQ_STR(got.source, "test");
    VT_CHECK(got.created_ms > 0 && got.created_ms == got.updated_ms, "times");
    VT_CHECK_EQ_U64(h3.seq, 2);
    int64_t created = got.created_ms;
    vt_mem_item_clear(&got);

    vt_mem_item up = ms_item("Bob moved to Berlin", NULL, 0);
    up.id = id1;
    VT_REQUIRE_OK(vt_memsync_update(env.client, &a->cred, &up, &h3, &ei));
    VT_CHECK_EQ_U64(h3.seq, 3);
    VT_REQUIRE_OK(vt_memsync_get(env.client, &a->cred, id1, &got, NULL, &ei));
    VT_CHECK_EQ_STR(got.text, "Bob moved to Berlin");
    VT_CHECK_EQ_INT(got.created_ms, created);
    VT_CHECK_EQ_U64(got.seq, 3);
    VT_CHECK_EQ_INT(got.dim, 0); /* update replaces the whole item */
    vt_mem_item_clear(&got);

    /* search finds the new text, not the old one */
    vt_mem_hits hits;
    vt_mem_query q = {.text = "Berlin", .k = 5};
    VT_REQUIRE_OK(vt_memsync_search(env.client, &a->cred, &q, &hits, &ei));
    VT_CHECK_EQ_INT(hits.n, 1);
    if (hits.n == 1)
        VT_CHECK_EQ_U64(hits.v[0].item.id, id1);
    VT_CHECK_EQ_U64(hits.head.seq, 3);
    vt_mem_hits_clear(&hits);
    q.text = "Paris";
    VT_REQUIRE_OK(vt_memsync_search(env.client, &a->cred, &q, &hits, &ei));
    VT_CHECK_EQ_INT(hits.n, 0);
    vt_mem_hits_clear(&hits);

    vt_mem_list l;
    VT_REQUIRE_OK(vt_memsync_list(env.client, &a->cred, NULL, 0, 10, &l, &ei));
    VT_CHECK_EQ_INT(l.n, 2);
    VT_CHECK_EQ_U64(l.next_after, 0);
    vt_mem_list_clear(&l);
    /* paging */
    VT_REQUIRE_OK(vt_memsync_list(env.client, &a->cred, NULL, 0, 1, &l, &ei));
    VT_CHECK_EQ_INT(l.n, 1);
    VT_CHECK_EQ_U64(l.next_after, id1);
    vt_mem_list_clear(&l);

    VT_REQUIRE_OK(vt_memsync_delete(env.client, &a->cred, id1, &h3, &ei));
    VT_CHECK_EQ_U64(h3.seq, 4);
    VT_CHECK_ERR(vt_memsync_get(env.client, &a->cred, id1, &got, NULL, &ei), VT_ERR_NOTFOUND);
    VT_CHECK_ERR(vt_memsync_delete(env.client, &a->cred, id1, NULL, &ei), VT_ERR_NOTFOUND);
    VT_REQUIRE_OK(vt_memsync_list(env.client, &a->cred, NULL, 0, 10, &l, &ei));
    VT_CHECK_EQ_INT(l.n, 1);
    vt_mem_list_clear(&l);

    VT_REQUIRE_OK(vt_memsync_profile_set(env.client, &a->cred, "city", "Paris", NULL, &ei));
    VT_REQUIRE_OK(vt_memsync_profile_set(env.client, &a->cred, "city", "Berlin", NULL, &ei));
    VT_REQUIRE_OK(vt_memsync_profile_set(env.client, &a->cred, "lang", "de", NULL, &ei));
    VT_REQUIRE_OK(vt_memsync_profile_del(env.client, &a->cred, "lang", NULL, &ei));
    VT_CHECK_ERR(vt_memsync_profile_del(env.client, &a->cred, "lang", NULL, &ei), VT_ERR_NOTFOUND);
    vt_mem_profile p;
    VT_REQUIRE_OK(vt_memsync_profile_get(env.client, &a->cred, &p, &ei));
    VT_CHECK_EQ_INT(p.n, 1);
    if (p.n == 1) {
        VT_CHECK_EQ_STR(p.keys[0], "city");
        VT_CHECK_EQ_STR(p.values[0], "Berlin");
    }
    VT_CHECK_EQ_U64(p.head.seq, 8);
    vt_mem_profile_clear(&p);

    vt_mem_verify vr;
    VT_REQUIRE_OK(vt_memsync_verify(env.client, &a->cred, &vr, &ei));
    VT_CHECK(vr.ok, "verify after CRUD: %s", vr.problem);
    VT_CHECK_EQ_U64(vr.ops, 8);
    VT_CHECK_EQ_U64(vr.head.seq, 8);
}

/* Write a job record the way the scheduler's journal does
 * (docs/architecture.md): verity:sched:job:<16 hex> = msgpack map with
 * "kind", "id" and "agent". */
static void put_job(const char *hex, const char *agent)
{
    vt_buf b;
    vt_buf_init(&b, 0);
    vt_mp_write_map(&b, 3);
    vt_mp_write_cstr(&b, "kind");
    vt_mp_write_cstr(&b, "submit");
    vt_mp_write_cstr(&b, "id");
    vt_mp_write_uint(&b, strtoull(hex, NULL, 16));
    vt_mp_write_cstr(&b, "agent");
    vt_mp_write_cstr(&b, agent);
    redisReply *rep = NULL;
    VT_REQUIRE_OK(vt_redis_command(env.r, &rep, NULL, "SET verity:sched:job:%s %b", hex,
                                   b.data, b.len));
    freeReplyObject(rep);
    vt_buf_free(&b);
}

/* Agent B (and forgers) against agent A's memory. */
static void test_isolation(ms_agent *a, ms_agent *b)
{
    vt_errinfo ei = {0};
    vt_mem_item secret = ms_item("A's secret launch code zebra", NULL, 0);
    uint64_t id = 0;
    VT_REQUIRE_OK(vt_memsync_add(env.client, &a->cred, &secret, &id, NULL, &ei));
    vt_mem_item got;
    vt_mem_hits hits;
    vt_mem_list l;
    vt_mem_query q = {.text = "zebra launch code", .k = 10};

    /* B with its own key: A's id does not exist in B's memory */
    VT_CHECK_ERR(vt_memsync_get(env.client, &b->cred, id, &got, NULL, &ei), VT_ERR_NOTFOUND);
    VT_REQUIRE_OK(vt_memsync_search(env.client, &b->cred, &q, &hits, &ei));
    VT_CHECK_EQ_INT(hits.n, 0);
    vt_mem_hits_clear(&hits);
    VT_REQUIRE_OK(vt_memsync_list(env.client, &b->cred, NULL, 0, 100, &l, &ei));
    for (size_t i = 0; i < l.n; i++)
        VT_CHECK(strstr(l.v[i].text, "zebra") == NULL, "B lists A's item");
    vt_mem_list_clear(&l);
    vt_mem_item evil = ms_item("overwritten by B", NULL, 0);
    evil.id = id;
    VT_CHECK_ERR(vt_memsync_update(env.client, &b->cred, &evil, NULL, &ei), VT_ERR_NOTFOUND);
    VT_CHECK_ERR(vt_memsync_delete(env.client, &b->cred, id, NULL, &ei), VT_ERR_NOTFOUND);

    /* B's key naming A: refused outright */
    vt_mem_cred forged = {.agent = a->id, .key = b->key};
    VT_CHECK_ERR(vt_memsync_get(env.client, &forged, id, &got, NULL, &ei), VT_ERR_DENIED);
    VT_CHECK_ERR(vt_memsync_search(env.client, &forged, &q, &hits, &ei), VT_ERR_DENIED);
    VT_CHECK_ERR(vt_memsync_list(env.client, &forged, NULL, 0, 10, &l, &ei), VT_ERR_DENIED);
    VT_CHECK_ERR(vt_memsync_update(env.client, &forged, &evil, NULL, &ei), VT_ERR_DENIED);
    VT_CHECK_ERR(vt_memsync_delete(env.client, &forged, id, NULL, &ei), VT_ERR_DENIED);
    VT_CHECK_ERR(vt_memsync_add(env.client, &forged, &evil, NULL, NULL, &ei), VT_ERR_DENIED);
    vt_mem_profile p;
    VT_CHECK_ERR(vt_memsync_profile_get(env.client, &forged, &p, &ei), VT_ERR_DENIED);

    /* a key edited to name A (agent id inside the key) fails the MAC */
    char edited[VT_API_KEY_BUFSZ];
    snprintf(edited, sizeof edited, "vtk_%s_%s", a->id, b->key + 4 + VT_AGENT_ID_LEN + 1);
    vt_mem_cred ek = {.agent = a->id, .key = edited};
    VT_CHECK_ERR(vt_memsync_get(env.client, &ek, id, &got, NULL, &ei), VT_ERR_AUTH);
    /* one flipped character of A's own key */
    char flipped[VT_API_KEY_BUFSZ];
    snprintf(flipped, sizeof flipped, "%s", a->key);
    flipped[strlen(flipped) - 1] ^= 1;
    vt_mem_cred fk = {.agent = a->id, .key = flipped};
    VT_CHECK_ERR(vt_memsync_get(env.client, &fk, id, &got, NULL, &ei), VT_ERR_AUTH);
    vt_mem_cred junk = {.agent = a->id, .key = "not-a-key"};
    VT_CHECK_ERR(vt_memsync_get(env.client, &junk, id, &got, NULL, &ei), VT_ERR_AUTH);
    /* a key with a job id (only the service key may carry one) */
    vt_mem_cred kj = {.agent = a->id, .key = a->key, .job = "j1"};
    VT_CHECK_ERR(vt_memsync_get(env.client, &kj, id, &got, NULL, &ei), VT_ERR_DENIED);

    /* service key: only with a job of the named agent */
    char sk[VT_MEM_SERVICE_KEY_BUFSZ];
    vt_mem_service_key(env.secret, sk);
    /* job records as the scheduler's journal writes them */
    put_job("00000000000000a1", a->id);
    put_job("00000000000000b2", b->id);
    redisReply *rep = NULL;
    VT_REQUIRE_OK(vt_redis_command(env.r, &rep, NULL, "SET verity:sched:job:00000000000000c3 %s",
                                   "\x81\xa5" "agent" "\x07")); /* agent is not a string */
    freeReplyObject(rep);
    vt_mem_cred s_nojob = {.agent = a->id, .key = sk};
    VT_CHECK_ERR(vt_memsync_get(env.client, &s_nojob, id, &got, NULL, &ei), VT_ERR_DENIED);
    vt_mem_cred s_other = {.agent = a->id, .key = sk, .job = "j-00000000000000b2"};
    VT_CHECK_ERR(vt_memsync_get(env.client, &s_other, id, &got, NULL, &ei), VT_ERR_DENIED);
    VT_CHECK_ERR(vt_memsync_search(env.client, &s_other, &q, &hits, &ei), VT_ERR_DENIED);
    VT_CHECK_ERR(vt_memsync_add(env.client, &s_other, &evil, NULL, NULL, &ei), VT_ERR_DENIED);
    vt_mem_cred s_missing = {.agent = a->id, .key = sk, .job = "j-00000000000000ff"};
    VT_CHECK_ERR(vt_memsync_get(env.client, &s_missing, id, &got, NULL, &ei), VT_ERR_DENIED);
    vt_mem_cred s_badrec = {.agent = a->id, .key = sk, .job = "j-00000000000000c3"};
    VT_CHECK_ERR(vt_memsync_get(env.client, &s_badrec, id, &got, NULL, &ei), VT_ERR_DENIED);
    vt_mem_cred s_badid = {.agent = a->id, .key = sk, .job = "a1"};
    VT_CHECK_ERR(vt_memsync_get(env.client, &s_badid, id, &got, NULL, &ei), VT_ERR_DENIED);
    vt_mem_cred s_badagent = {.agent = "ag_../../etc", .key = sk, .job = "j-00000000000000a1"};
    VT_CHECK_ERR(vt_memsync_get(env.client, &s_badagent, id, &got, NULL, &ei), VT_ERR_DENIED);
    char fake_sk[VT_MEM_SERVICE_KEY_BUFSZ];
    snprintf(fake_sk, sizeof fake_sk, "%s", sk);
    fake_sk[10] = fake_sk[10] == 'a' ? 'b' : 'a';
    vt_mem_cred s_fake = {.agent = a->id, .key = fake_sk, .job = "j-00000000000000a1"};
    VT_CHECK_ERR(vt_memsync_get(env.client, &s_fake, id, &got, NULL, &ei), VT_ERR_AUTH);
    /* the right job: the scheduler may read and remember for A */
    vt_mem_cred s_ok = {.agent = a->id, .key = sk, .job = "j-00000000000000a1"};
    VT_CHECK_OK(vt_memsync_get(env.client, &s_ok, id, &got, NULL, &ei));
    VT_CHECK_EQ_STR(got.text, "A's secret launch code zebra");
    vt_mem_item_clear(&got);
    VT_CHECK_OK(vt_memsync_search(env.client, &s_ok, &q, &hits, &ei));
    VT_CHECK_EQ_INT(hits.n, 1);
    /* ... and remember the exchange in A's memory (remember:true) */
    char *prompt = NULL, *episode = NULL;
    VT_REQUIRE_OK(vt_mem_prompt_render(&hits, "what is the code?", &prompt, NULL));
    VT_CHECK(strstr(prompt, "zebra") != NULL, "recalled memory in the prompt");
    VT_REQUIRE_OK(vt_mem_episode_text(prompt, "I cannot say.", 16384, &episode));
    vt_mem_item ep = ms_item(episode, NULL, 0);
    ep.type = VT_MEM_EPISODIC;
    ep.source = "j-00000000000000a1";
    uint64_t ep_id = 0;
    VT_CHECK_OK(vt_memsync_add(env.client, &s_ok, &ep, &ep_id, NULL, &ei));
    free(prompt);
    free(episode);
    vt_mem_hits_clear(&hits);
    VT_REQUIRE_OK(vt_memsync_get(env.client, &a->cred, ep_id, &got, NULL, &ei));
    VT_CHECK_EQ_STR(got.source, "j-00000000000000a1");
    VT_CHECK(strncmp(got.text, "user: <memory head=", 19) == 0, "episode text: %s", got.text);
    vt_mem_item_clear(&got);
    VT_CHECK_ERR(vt_memsync_get(env.client, &b->cred, ep_id, &got, NULL, &ei), VT_ERR_NOTFOUND);

    /* after all the attacks, A's item is intact */
    VT_REQUIRE_OK(vt_memsync_get(env.client, &a->cred, id, &got, NULL, &ei));
    VT_CHECK_EQ_STR(got.text, "A's secret launch code zebra");
    vt_mem_item_clear(&got);
    vt_mem_verify vr;
    VT_REQUIRE_OK(vt_memsync_verify(env.client, &a->cred, &vr, &ei));
    VT_CHECK(vr.ok, "A verifies: %s", vr.problem);
    VT_REQUIRE_OK(vt_memsync_verify(env.client, &b->cred, &vr, &ei));
    VT_CHECK(vr.ok, "B verifies: %s", vr.problem);
}

static void redis_do(const char *what, const char *fmt, const char *a1, const char *a2)
{
    redisReply *rep = NULL;
    int rv = vt_redis_command(env.r, &rep, NULL, fmt, a1, a2);
    VT_CHECK(rv == 0, "%s", what);
    if (rep)
        freeReplyObject(rep);
}

static void expect_tamper(ms_agent *a, const char *what)
{
    vt_mem_verify vr;
    vt_errinfo ei = {0};
    VT_REQUIRE_OK(vt_memsync_verify(env.client, &a->cred, &vr, &ei));
    VT_CHECK(!vr.ok, "tampering not detected: %s", what);
    if (!vr.ok)
        printf("detected (%s): %s\n", what, vr.problem);
}

static void expect_clean(ms_agent *a, const char *after)
{
    vt_mem_verify vr;
    VT_REQUIRE_OK(vt_memsync_verify(env.client, &a->cred, &vr, NULL));
    VT_CHECK(vr.ok, "clean after %s: %s", after, vr.problem);
}

/* Edit A's keys directly in Redis; verify must notice each edit. */
static void test_tamper(ms_agent *a)
{
    vt_errinfo ei = {0};
    uint64_t id = 0;
    vt_mem_item it = ms_item("meeting in Oslo on Friday", NULL, 0);
    VT_REQUIRE_OK(vt_memsync_add(env.client, &a->cred, &it, &id, NULL, &ei));
    VT_REQUIRE_OK(vt_memsync_profile_set(env.client, &a->cred, "role", "admin", NULL, &ei));
    expect_clean(a, "setup");

    char key[128], ids[32], prefix[64];
    snprintf(prefix, sizeof prefix, "verity:mem:{%s}:", a->id);
    snprintf(ids, sizeof ids, "%llu", (unsigned long long)id);
    redisReply *orig = NULL;

    /* 1. item record: same length, one byte changed ("Oslo" -> "Olso") */
    snprintf(key, sizeof key, "%sitem:%s", prefix, ids);
    VT_REQUIRE_OK(vt_redis_command(env.r, &orig, NULL, "GET %s", key));
    VT_REQUIRE(orig->type == REDIS_REPLY_STRING, "item stored");
    char *bad = malloc(orig->len);
    memcpy(bad, orig->str, orig->len);
    char *o = NULL;
    for (size_t i = 0; i + 4 <= orig->len && !o; i++)
        if (memcmp(bad + i, "Oslo", 4) == 0)
            o = bad + i;
    VT_REQUIRE(o != NULL, "text inside the record");
    memcpy(o, "Olso", 4);
    redisReply *rep = NULL;
    VT_CHECK_OK(vt_redis_command(env.r, &rep, NULL, "SET %s %b", key, bad, (size_t)orig->len));
    freeReplyObject(rep);
    expect_tamper(a, "item text edited");
    VT_CHECK_OK(vt_redis_command(env.r, &rep, NULL, "SET %s %b", key, orig->str, (size_t)orig->len));
    freeReplyObject(rep);
    free(bad);
    freeReplyObject(orig);
    expect_clean(a, "restoring the item");

    /* 2. index: boost the item for a term it does not contain */
    snprintf(key, sizeof key, "%six:password", prefix);
    redis_do("HSET posting", "HSET %s %s 50", key, ids);
    snprintf(key, sizeof key, "%sterms", prefix);
    redis_do("SADD term", "SADD %s %s", key, "password");
    expect_tamper(a, "posting injected");
    redis_do("SREM term", "SREM %s %s", key, "password");
    snprintf(key, sizeof key, "%six:password", prefix);
    redis_do("DEL posting", "DEL %s%s", key, "");
    expect_clean(a, "removing the posting");
    /* ... or change a real posting's tf */
    snprintf(key, sizeof key, "%six:oslo", prefix);
    redis_do("HSET tf", "HSET %s %s 9", key, ids);
    expect_tamper(a, "term frequency changed");
    redis_do("HSET tf back", "HSET %s %s 1", key, ids);
    expect_clean(a, "restoring the tf");

    /* 3. profile edited behind memsync's back */
    snprintf(key, sizeof key, "%sprofile", prefix);
    redis_do("HSET profile", "HSET %s role %s", key, "root");
    expect_tamper(a, "profile edited");
    redis_do("HSET profile back", "HSET %s role %s", key, "admin");
    expect_clean(a, "restoring the profile");

    /* 4. an item deleted behind memsync's back */
    snprintf(key, sizeof key, "%sitems", prefix);
    redis_do("ZREM", "ZREM %s %s", key, ids);
    expect_tamper(a, "item dropped from the list");
    VT_CHECK_OK(vt_redis_command(env.r, &rep, NULL, "ZADD %s %s %s", key, ids, ids));
    freeReplyObject(rep);
    expect_clean(a, "re-adding the id");

    /* 5. the log itself: rewrite entry 1's payload -> chain breaks */
    snprintf(key, sizeof key, "%slog", prefix);
    VT_REQUIRE_OK(vt_redis_command(env.r, &orig, NULL, "LINDEX %s 0", key));
    VT_REQUIRE(orig->type == REDIS_REPLY_STRING && orig->len > 30, "log entry");
    bad = malloc(orig->len);
    memcpy(bad, orig->str, orig->len);
    bad[orig->len - 1] ^= 0x20;
    VT_CHECK_OK(vt_redis_command(env.r, &rep, NULL, "LSET %s 0 %b", key, bad, (size_t)orig->len));
    freeReplyObject(rep);
    expect_tamper(a, "log entry edited");
    VT_CHECK_OK(vt_redis_command(env.r, &rep, NULL, "LSET %s 0 %b", key, orig->str, (size_t)orig->len));
    freeReplyObject(rep);
    free(bad);
    freeReplyObject(orig);
    expect_clean(a, "restoring the log");

    /* 6. the head moved back (a rollback of the newest op) */
    snprintf(key, sizeof key, "%shead", prefix);
    VT_REQUIRE_OK(vt_redis_command(env.r, &orig, NULL, "GET %s", key));
    redis_do("SET head", "SET %s %s", key,
             "1:0000000000000000000000000000000000000000000000000000000000000000");
    expect_tamper(a, "head rewritten");
    redis_do("SET head back", "SET %s %s", key, orig->str);
    freeReplyObject(orig);
    expect_clean(a, "restoring the head");
}

typedef struct log_want {
    const char *s;
    int count;
} log_want;

static bool log_count_reached(void *arg)
{
    const log_want *w = arg;
    return vt_proc_log_count(env.daemon, w->s) >= w->count;
}

/* At start memsync says what Redis promises for acknowledged writes, and
 * again, within a tick, when someone changes it on the live Redis (and
 * only then). */
static void test_persistence_logged(void)
{
    const char *always = "Redis appendonly=yes appendfsync=always";
    VT_CHECK(vt_proc_log_count(env.daemon, always) == 1,
             "memsync logged Redis's persistence settings once");
    VT_CHECK(vt_proc_log_count(env.daemon, "redis.durability") == 0,
             "no durability warning with always");

    redis_do("CONFIG SET everysec", "CONFIG SET %s %s", "appendfsync", "everysec");
    log_want warned = {"(appendfsync everysec): a machine crash can lose acknowledged "
                       "memory items",
                       1};
    VT_CHECK(vt_ts_wait_until(10000, log_count_reached, &warned),
             "a live change to everysec is warned");
    redis_do("CONFIG SET always", "CONFIG SET %s %s", "appendfsync", "always");
    log_want back = {always, 2};
    VT_CHECK(vt_ts_wait_until(10000, log_count_reached, &back),
             "the change back to always is said");
    vt_sleep_ms(2500); /* two more ticks: nothing changed, nothing said */
    VT_CHECK(vt_proc_log_count(env.daemon, always) == 2 &&
                 vt_proc_log_count(env.daemon, "redis.durability") == 1,
             "settings said only when they change");
}

int main(void)
{
    ms_env_start(&env, NULL);
    test_persistence_logged();
    ms_agent a, b;
    ms_agent_new(&env, "alice", &a);
    ms_agent_new(&env, "bob", &b);
    test_crud(&a);
    test_isolation(&a, &b);
    test_tamper(&a);
    ms_env_stop(&env);
    return vt_test_done();
}
