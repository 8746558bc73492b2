/* test_registry.c - agents, API keys, the agent cache and nodes against a
 * real redis-server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vt_clock.h"
#include "vt_registry.h"
#include "vt_test.h"
#include "vt_testsupport.h"

static uint8_t secret[VT_AUTH_SECRET_BYTES];

static void test_secret_file(void)
{
    char path[600];
    vt_errinfo ei = {0, ""};
    vt_ts_path("auth.secret", path, sizeof(path));
    VT_REQUIRE_OK(vt_auth_secret_generate(path, &ei));
    struct stat st;
    VT_CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "mode 0600");
    VT_CHECK_EQ_INT(st.st_size, 65);
    VT_CHECK_ERR(vt_auth_secret_generate(path, &ei), VT_ERR_EXISTS);
    VT_REQUIRE_OK(vt_auth_secret_load(path, secret, &ei));
    uint8_t again[32];
    VT_CHECK_OK(vt_auth_secret_load(path, again, &ei));
    VT_CHECK(memcmp(secret, again, 32) == 0, "same secret twice");

    char bad[600];
    vt_ts_path("bad.secret", bad, sizeof(bad));
    vt_ts_write_file(bad, "abcd\n", 5, 0600);
    VT_CHECK_ERR(vt_auth_secret_load(bad, again, &ei), VT_ERR_FORMAT);
    char zz[66];
    memset(zz, 'z', 64);
    zz[64] = '\n';
    vt_ts_write_file(bad, zz, 65, 0600);
    VT_CHECK_ERR(vt_auth_secret_load(bad, again, &ei), VT_ERR_FORMAT);
    VT_CHECK_ERR(vt_auth_secret_load("/nonexistent/secret", again, &ei), VT_ERR_IO);
}

static void test_agents(vt_redis *r)
{
    vt_errinfo ei = {0, ""};
    char id[VT_AGENT_ID_BUFSZ], key[VT_API_KEY_BUFSZ];
    VT_REQUIRE_OK(vt_registry_agent_add(r, secret, "alice's bot", id, key, &ei));
    VT_CHECK_EQ_INT(strlen(id), VT_AGENT_ID_LEN);
    VT_CHECK(strncmp(id, "ag_", 3) == 0, "id %s", id);
    VT_CHECK_EQ_INT(strlen(key), VT_API_KEY_LEN);
    VT_CHECK(strncmp(key, "vtk_", 4) == 0 && strncmp(key + 4, id, VT_AGENT_ID_LEN) == 0, "key embeds id");

    char got[VT_AGENT_ID_BUFSZ] = "";
    VT_CHECK_OK(vt_registry_agent_check(r, secret, key, strlen(key), got, &ei));
    VT_CHECK_EQ_STR(got, id);

    /* Redis holds only the MAC, never the key or its secret part. */
    char rkey[64];
    snprintf(rkey, sizeof(rkey), "verity:agent:{%s}", id);
    redisReply *rep;
    VT_REQUIRE_OK(vt_redis_command(r, &rep, &ei, "HGETALL %s", rkey));
    bool leaked = false;
    for (size_t i = 0; i < rep->elements; i++)
        if (strstr(rep->element[i]->str, key + 20) != NULL)
            leaked = true;
    VT_CHECK(!leaked, "secret part of the key stored in redis");
    VT_CHECK_EQ_INT(rep->elements, 10);
    freeReplyObject(rep);

    /* Wrong secret bytes, a tampered character, a truncated key. */
    char wrong[VT_API_KEY_BUFSZ];
    memcpy(wrong, key, sizeof(wrong));
    wrong[VT_API_KEY_LEN - 1] = wrong[VT_API_KEY_LEN - 1] == '0' ? '1' : '0';
    VT_CHECK_ERR(vt_registry_agent_check(r, secret, wrong, strlen(wrong), NULL, &ei), VT_ERR_AUTH);
    VT_CHECK(strstr(ei.detail, "wrong API key") != NULL, "%s", ei.detail);
    VT_CHECK_ERR(vt_registry_agent_check(r, secret, key, strlen(key) - 1, NULL, &ei), VT_ERR_AUTH);
    memcpy(wrong, key, sizeof(wrong));
    wrong[30] = 'G'; /* not lowercase hex */
    VT_CHECK_ERR(vt_registry_agent_check(r, secret, wrong, strlen(wrong), NULL, &ei), VT_ERR_AUTH);
    VT_CHECK_ERR(vt_registry_agent_check(r, secret, "", 0, NULL, &ei), VT_ERR_AUTH);
    VT_CHECK_ERR(vt_registry_agent_check(r, secret, "vtk_x", 5, NULL, &ei), VT_ERR_AUTH);

    /* Another agent's id spliced into this key: the MAC covers the id. */
    char id2[VT_AGENT_ID_BUFSZ], key2[VT_API_KEY_BUFSZ];
    VT_REQUIRE_OK(vt_registry_agent_add(r, secret, "bob", id2, key2, &ei));
    VT_CHECK(strcmp(id, id2) != 0, "distinct ids");
    memcpy(wrong, key, sizeof(wrong));
    memcpy(wrong + 4, id2, VT_AGENT_ID_LEN);
    VT_CHECK_ERR(vt_registry_agent_check(r, secret, wrong, strlen(wrong), NULL, &ei), VT_ERR_AUTH);
    /* An unknown but well-formed id. */
    memcpy(wrong + 4, "ag_aaaaaaaaaaaa", VT_AGENT_ID_LEN);
    VT_CHECK_ERR(vt_registry_agent_check(r, secret, wrong, strlen(wrong), NULL, &ei), VT_ERR_AUTH);
    VT_CHECK(strstr(ei.detail, "unknown agent") != NULL, "%s", ei.detail);
    /* A different auth secret (another deployment) rejects the key. */
    uint8_t other[32];
    memcpy(other, secret, 32);
    other[0] ^= 1;
    VT_CHECK_ERR(vt_registry_agent_check(r, other, key, strlen(key), NULL, &ei), VT_ERR_AUTH);

    /* Names. */
    VT_CHECK_ERR(vt_registry_agent_add(r, secret, "", id, key2, &ei), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_registry_agent_add(r, secret, "bad\nname", id2, key2, &ei), VT_ERR_INVAL);

    /* get / list. */
    vt_agent_info info;
    VT_CHECK_OK(vt_registry_agent_get(r, id, &info, &ei));
    VT_CHECK_EQ_STR(info.name, "alice's bot");
    VT_CHECK(!info.revoked, "not revoked");
    int64_t now = vt_wall_ms();
    VT_CHECK(info.created_ms > now - 60000 && info.created_ms <= now, "created %lld", (long long)info.created_ms);
    VT_CHECK_ERR(vt_registry_agent_get(r, "ag_aaaaaaaaaaaa", &info, &ei), VT_ERR_NOTFOUND);
    VT_CHECK_ERR(vt_registry_agent_get(r, "x\r\nFLUSHALL", &info, &ei), VT_ERR_NOTFOUND);
    vt_agent_info *list;
    size_t n;
    VT_CHECK_OK(vt_registry_agent_list(r, &list, &n, &ei));
    VT_CHECK_EQ_INT(n, 2);
    if (n == 2)
        VT_CHECK(strcmp(list[0].id, list[1].id) < 0, "sorted");
    free(list);

    /* Revoke: direct checks refuse at once; revoking twice is fine. */
    VT_CHECK_OK(vt_registry_agent_revoke(r, id, &ei));
    VT_CHECK_OK(vt_registry_agent_revoke(r, id, &ei));
    VT_CHECK_ERR(vt_registry_agent_revoke(r, "ag_aaaaaaaaaaaa", &ei), VT_ERR_NOTFOUND);
    VT_CHECK_ERR(vt_registry_agent_check(r, secret, key, strlen(key), NULL, &ei), VT_ERR_AUTH);
    VT_CHECK(strstr(ei.detail, "revoked") != NULL, "%s", ei.detail);
    VT_CHECK_OK(vt_registry_agent_get(r, id, &info, &ei));
    VT_CHECK(info.revoked && info.revoked_ms >= info.created_ms, "revoked record");
    VT_CHECK_OK(vt_registry_agent_check(r, secret, key2, strlen(key2), NULL, &ei));
}

static void test_cache(vt_redis *r)
{
    vt_errinfo ei = {0, ""};
    char id[VT_AGENT_ID_BUFSZ], key[VT_API_KEY_BUFSZ];
    VT_REQUIRE_OK(vt_registry_agent_add(r, secret, "cached", id, key, &ei));
    vt_agent_cache *c;
    const uint64_t ttl = 200;
    VT_REQUIRE_OK(vt_agent_cache_new(&c, secret, ttl, 4));
    char got[VT_AGENT_ID_BUFSZ];
    VT_CHECK_OK(vt_agent_cache_check(c, r, key, strlen(key), got, &ei));
    VT_CHECK_EQ_STR(got, id);

    /* While the entry is fresh the cache answers without Redis: prove it
     * by checking with no usable connection. */
    vt_redis *dead;
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", vt_ts_free_port());
    vt_redis_connect(&dead, url, 200, 200, &ei);
    VT_REQUIRE(dead != NULL, "handle");
    uint64_t t0 = vt_mono_ms();
    int rv = vt_agent_cache_check(c, dead, key, strlen(key), NULL, &ei);
    if (vt_mono_ms() - t0 < ttl)
        VT_CHECK_OK(rv); /* (only meaningful if we were fast enough) */

    /* Wrong keys are refused from the cache too. */
    char wrong[VT_API_KEY_BUFSZ];
    memcpy(wrong, key, sizeof(wrong));
    wrong[VT_API_KEY_LEN - 1] = wrong[VT_API_KEY_LEN - 1] == 'a' ? 'b' : 'a';
    VT_CHECK_ERR(vt_agent_cache_check(c, r, wrong, strlen(wrong), NULL, &ei), VT_ERR_AUTH);

    /* Revocation takes effect once the TTL has passed. */
    VT_REQUIRE_OK(vt_registry_agent_revoke(r, id, &ei));
    vt_sleep_ms(ttl + 50);
    VT_CHECK_ERR(vt_agent_cache_check(c, r, key, strlen(key), NULL, &ei), VT_ERR_AUTH);
    VT_CHECK(strstr(ei.detail, "revoked") != NULL, "%s", ei.detail);

    /* A stale entry with Redis down fails closed. */
    char id2[VT_AGENT_ID_BUFSZ], key2[VT_API_KEY_BUFSZ];
    VT_REQUIRE_OK(vt_registry_agent_add(r, secret, "second", id2, key2, &ei));
    VT_CHECK_OK(vt_agent_cache_check(c, r, key2, strlen(key2), NULL, &ei));
    vt_sleep_ms(ttl + 50);
    VT_CHECK_ERR(vt_agent_cache_check(c, dead, key2, strlen(key2), NULL, &ei), VT_ERR_UNAVAILABLE);

    /* Many unknown ids: bounded table (max 4) keeps working. */
    for (int i = 0; i < 20; i++) {
        char k[VT_API_KEY_BUFSZ];
        memcpy(k, key2, sizeof(k));
        k[4 + 3] = "abcdefghijklmnopqrstuvwxyz234567"[i];
        if (k[4 + 3] == key2[4 + 3])
            continue; /* that would be the real agent */
        VT_CHECK_ERR(vt_agent_cache_check(c, r, k, strlen(k), NULL, &ei), VT_ERR_AUTH);
    }
    VT_CHECK_OK(vt_agent_cache_check(c, r, key2, strlen(key2), NULL, &ei));
    vt_redis_close(dead);
    vt_agent_cache_free(c);
}

static void test_nodes(vt_redis *r)
{
    vt_errinfo ei = {0, ""};
    const char *pub1 = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
    const char *pub2 = "0000000000000000000000000000000000000000000000000000000000000001";
    VT_CHECK_OK(vt_registry_node_add(r, pub1, VT_ROLE_WORKER, "acme gpu farm", &ei));
    VT_CHECK_OK(vt_registry_node_add(r, pub2, VT_ROLE_VERIFIER, "ops", &ei));
    VT_CHECK_ERR(vt_registry_node_add(r, pub1, VT_ROLE_VERIFIER, "again", &ei), VT_ERR_EXISTS);
    VT_CHECK_ERR(vt_registry_node_add(r, "abc", VT_ROLE_WORKER, "x", &ei), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_registry_node_add(r, pub2, (vt_node_role)7, "x", &ei), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_registry_node_add(r, pub2, VT_ROLE_WORKER, "", &ei), VT_ERR_INVAL);

    vt_node_info info;
    VT_CHECK_OK(vt_registry_node_lookup(r, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", &info, &ei));
    VT_CHECK_EQ_STR(info.pubhex, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    VT_CHECK_EQ_INT(info.role, VT_ROLE_WORKER);
    VT_CHECK_EQ_STR(info.operator_name, "acme gpu farm");
    VT_CHECK(!info.revoked && info.added_ms > 0, "fresh node");
    VT_CHECK_ERR(vt_registry_node_lookup(r, "1111111111111111111111111111111111111111111111111111111111111111", &info, &ei), VT_ERR_NOTFOUND);

    VT_CHECK_OK(vt_registry_node_revoke(r, pub1, &ei));
    VT_CHECK_OK(vt_registry_node_lookup(r, pub1, &info, &ei));
    VT_CHECK(info.revoked, "revoked node is still found, flagged");
    VT_CHECK_ERR(vt_registry_node_revoke(r, "1111111111111111111111111111111111111111111111111111111111111111", &ei), VT_ERR_NOTFOUND);

    vt_node_info *list;
    size_t n;
    VT_CHECK_OK(vt_registry_node_list(r, &list, &n, &ei));
    VT_CHECK_EQ_INT(n, 2);
    if (n == 2) {
        VT_CHECK_EQ_STR(list[0].pubhex, "0000000000000000000000000000000000000000000000000000000000000001");
        VT_CHECK_EQ_INT(list[0].role, VT_ROLE_VERIFIER);
        VT_CHECK(list[1].revoked, "second is the revoked worker");
    }
    free(list);

    /* Hello nonces: usable once per key while remembered, then free again. */
    const uint8_t nonce[16] = {1, 2, 3};
    VT_CHECK_OK(vt_registry_node_hello_nonce(r, pub1, nonce, sizeof nonce, 200, &ei));
    VT_CHECK_ERR(vt_registry_node_hello_nonce(r, pub1, nonce, sizeof nonce, 200, &ei),
                 VT_ERR_EXISTS);
    VT_CHECK_OK(vt_registry_node_hello_nonce(r, pub2, nonce, sizeof nonce, 200, &ei));
    VT_CHECK_ERR(vt_registry_node_hello_nonce(r, "abc", nonce, sizeof nonce, 200, &ei),
                 VT_ERR_INVAL);
    VT_CHECK_ERR(vt_registry_node_hello_nonce(r, pub1, nonce, 0, 200, &ei), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_registry_node_hello_nonce(r, pub1, nonce, sizeof nonce, 0, &ei),
                 VT_ERR_INVAL);
    vt_sleep_ms(300);
    VT_CHECK_OK(vt_registry_node_hello_nonce(r, pub1, nonce, sizeof nonce, 200, &ei));
}

int main(void)
{
    test_secret_file();
    vt_ts_redis rs;
    int rv = vt_ts_redis_start(&rs);
    if (rv == VT_ERR_UNSUPPORTED)
        vt_test_skip("redis-server not installed");
    VT_REQUIRE_OK(rv);
    vt_redis *r;
    vt_errinfo ei = {0, ""};
    VT_REQUIRE_OK(vt_redis_connect(&r, rs.url, 1000, 2000, &ei));
    test_agents(r);
    test_cache(r);
    test_nodes(r);
    vt_redis_close(r);
    vt_ts_redis_stop(&rs);
    return vt_test_done();
}
