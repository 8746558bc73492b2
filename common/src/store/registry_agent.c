/* registry_agent.c - agents and their API keys (see vt_registry.h). */
#include "registry_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "vt_clock.h"

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

static bool is_b32(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7');
}

static bool is_lowerhex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool reg_valid_agent_id(const char *id)
{
    if (strlen(id) != VT_AGENT_ID_LEN || strncmp(id, "ag_", 3) != 0)
        return false;
    for (size_t i = 3; i < VT_AGENT_ID_LEN; i++)
        if (!is_b32(id[i]))
            return false;
    return true;
}

int vt_api_key_parse(const char *key, size_t keylen,
                     char id_out[VT_AGENT_ID_BUFSZ], vt_errinfo *ei)
{
    /* vtk_ + ag_xxxxxxxxxxxx + _ + 64 hex */
    if (!key || keylen != VT_API_KEY_LEN || memcmp(key, "vtk_", 4) != 0 ||
        key[4 + VT_AGENT_ID_LEN] != '_')
        return vt_fail(ei, VT_ERR_AUTH, "malformed API key");
    char id[VT_AGENT_ID_BUFSZ];
    memcpy(id, key + 4, VT_AGENT_ID_LEN);
    id[VT_AGENT_ID_LEN] = '\0';
    if (!reg_valid_agent_id(id))
        return vt_fail(ei, VT_ERR_AUTH, "malformed API key");
    for (size_t i = 5 + VT_AGENT_ID_LEN; i < VT_API_KEY_LEN; i++)
        if (!is_lowerhex(key[i]))
            return vt_fail(ei, VT_ERR_AUTH, "malformed API key");
    if (id_out)
        memcpy(id_out, id, VT_AGENT_ID_BUFSZ);
    return 0;
}

static void key_mac(const uint8_t secret[VT_AUTH_SECRET_BYTES], const char *key,
                    size_t keylen, uint8_t mac[32])
{
    crypto_generichash(mac, 32, (const unsigned char *)key, keylen, secret,
                       VT_AUTH_SECRET_BYTES);
}

int reg_fetch_agent_auth(vt_redis *r, const char *id, reg_agent_auth *out,
                         vt_errinfo *ei)
{
    memset(out, 0, sizeof(*out));
    char k[64];
    reg_agent_key(id, k, sizeof(k));
    redisReply *rep;
    int rv = vt_redis_command(r, &rep, ei, "HMGET %s mac revoked", k);
    if (rv != 0)
        return rv;
    size_t n;
    rv = vt_redis_reply_array(rep, 2, &n, ei);
    if (rv == 0 && n != 2)
        rv = vt_fail(ei, VT_ERR_PROTO, "redis: HMGET returned %zu fields", n);
    if (rv == 0) {
        char hex[2 * 32 + 1], rev[8] = "0";
        if (vt_redis_reply_strcpy(rep->element[0], hex, sizeof(hex), NULL) == 0 &&
            vt_hex_decode(hex, strlen(hex), out->mac, 32) == 0) {
            out->exists = true;
            vt_redis_reply_strcpy(rep->element[1], rev, sizeof(rev), NULL);
            /* Anything but "0" counts as revoked: fail closed. */
            out->revoked = strcmp(rev, "0") != 0;
        }
    }
    freeReplyObject(rep);
    return rv;
}

int reg_judge_key(const uint8_t secret[VT_AUTH_SECRET_BYTES], const char *key,
                  size_t keylen, const char *id, const reg_agent_auth *rec,
                  vt_errinfo *ei)
{
    if (!rec->exists)
        return vt_fail(ei, VT_ERR_AUTH, "unknown agent %s", id);
    uint8_t mac[32];
    key_mac(secret, key, keylen, mac);
    int same = sodium_memcmp(mac, rec->mac, 32) == 0;
    sodium_memzero(mac, sizeof(mac));
    if (!same)
        return vt_fail(ei, VT_ERR_AUTH, "wrong API key for agent %s", id);
    if (rec->revoked)
        return vt_fail(ei, VT_ERR_AUTH, "agent %s is revoked", id);
    return 0;
}

int vt_registry_agent_check(vt_redis *r,
                            const uint8_t secret[VT_AUTH_SECRET_BYTES],
                            const char *key, size_t keylen,
                            char id_out[VT_AGENT_ID_BUFSZ], vt_errinfo *ei)
{
    char id[VT_AGENT_ID_BUFSZ];
    int rv = vt_api_key_parse(key, keylen, id, ei);
    if (rv != 0)
        return rv;
    reg_agent_auth rec;
    if ((rv = reg_fetch_agent_auth(r, id, &rec, ei)) != 0)
        return rv;
    if ((rv = reg_judge_key(secret, key, keylen, id, &rec, ei)) != 0)
        return rv;
    if (id_out)
        memcpy(id_out, id, VT_AGENT_ID_BUFSZ);
    return 0;
}

int vt_registry_agent_add(vt_redis *r,
                          const uint8_t secret[VT_AUTH_SECRET_BYTES],
                          const char *name, char id_out[VT_AGENT_ID_BUFSZ],
                          char key_out[VT_API_KEY_BUFSZ], vt_errinfo *ei)
{
    if (!reg_valid_name(name))
        return vt_fail(ei, VT_ERR_INVAL, "agent name must be 1..%d printable ASCII characters", VT_NAME_MAX);
    if (sodium_init() < 0)
        return vt_fail(ei, VT_ERR_INTERNAL, "libsodium init failed");
    int rv = VT_ERR_EXISTS;
    /* 60-bit ids: a collision is astronomically unlikely, but the create
     * script refuses one anyway and we draw again. */
    for (int attempt = 0; attempt < 5 && rv == VT_ERR_EXISTS; attempt++) {
        char id[VT_AGENT_ID_BUFSZ] = "ag_";
        uint8_t rnd[12];
        randombytes_buf(rnd, sizeof(rnd));
        for (int i = 0; i < 12; i++)
            id[3 + i] = b32[rnd[i] & 31];
        id[VT_AGENT_ID_LEN] = '\0';

        uint8_t sec[32];
        char sechex[65];
        randombytes_buf(sec, sizeof(sec));
        vt_hex_encode(sec, sizeof(sec), sechex);
        char key[VT_API_KEY_BUFSZ];
        snprintf(key, sizeof(key), "vtk_%s_%s", id, sechex);
        uint8_t mac[32];
        char machex[65];
        key_mac(secret, key, VT_API_KEY_LEN, mac);
        vt_hex_encode(mac, sizeof(mac), machex);
        sodium_memzero(sec, sizeof(sec));
        sodium_memzero(sechex, sizeof(sechex));

        char k[64], now[32];
        reg_agent_key(id, k, sizeof(k));
        snprintf(now, sizeof(now), "%lld", (long long)vt_wall_ms());
        const char *fv[] = {"name", name, "mac", machex, "created_ms", now,
                            "revoked", "0", "revoked_ms", "0"};
        rv = reg_create(r, k, VT_AGENT_SET, id, 5, fv, ei);
        if (rv == 0) {
            if (id_out)
                memcpy(id_out, id, VT_AGENT_ID_BUFSZ);
            memcpy(key_out, key, VT_API_KEY_BUFSZ);
        }
        sodium_memzero(key, sizeof(key));
    }
    return rv;
}

int vt_registry_agent_revoke(vt_redis *r, const char *agent_id, vt_errinfo *ei)
{
    if (!agent_id || !reg_valid_agent_id(agent_id))
        return vt_fail(ei, VT_ERR_NOTFOUND, "no agent '%.40s'", agent_id ? agent_id : "");
    char k[64];
    reg_agent_key(agent_id, k, sizeof(k));
    return reg_revoke(r, k, ei);
}

int vt_registry_agent_get(vt_redis *r, const char *agent_id,
                          vt_agent_info *out, vt_errinfo *ei)
{
    memset(out, 0, sizeof(*out));
    if (!agent_id || !reg_valid_agent_id(agent_id))
        return vt_fail(ei, VT_ERR_NOTFOUND, "no agent '%.40s'", agent_id ? agent_id : "");
    char k[64];
    reg_agent_key(agent_id, k, sizeof(k));
    redisReply *rep;
    int rv = vt_redis_command(r, &rep, ei, "HMGET %s name created_ms revoked revoked_ms", k);
    if (rv != 0)
        return rv;
    size_t n;
    rv = vt_redis_reply_array(rep, 4, &n, ei);
    if (rv == 0 && n != 4)
        rv = vt_fail(ei, VT_ERR_PROTO, "redis: HMGET returned %zu fields", n);
    if (rv == 0 && rep->element[0]->type == REDIS_REPLY_NIL)
        rv = vt_fail(ei, VT_ERR_NOTFOUND, "no agent %s", agent_id);
    long long created = 0, revoked = 1, revoked_ms = 0;
    if (rv == 0)
        rv = vt_redis_reply_strcpy(rep->element[0], out->name, sizeof(out->name), ei);
    if (rv == 0)
        rv = vt_redis_reply_ll(rep->element[1], &created, ei);
    if (rv == 0)
        rv = vt_redis_reply_ll(rep->element[2], &revoked, ei);
    if (rv == 0 && vt_redis_reply_ll(rep->element[3], &revoked_ms, NULL) != 0)
        revoked_ms = 0;
    freeReplyObject(rep);
    if (rv != 0)
        return rv == VT_ERR_NOTFOUND ? rv : vt_fail(ei, VT_ERR_FORMAT, "agent %s: malformed record", agent_id);
    memcpy(out->id, agent_id, VT_AGENT_ID_BUFSZ);
    out->created_ms = created;
    out->revoked = revoked != 0;
    out->revoked_ms = revoked_ms;
    return 0;
}

static int get_agent(vt_redis *r, const char *id, void *out, vt_errinfo *ei)
{
    return vt_registry_agent_get(r, id, out, ei);
}

int vt_registry_agent_list(vt_redis *r, vt_agent_info **out, size_t *n,
                           vt_errinfo *ei)
{
    void *list;
    int rv = reg_list(r, VT_AGENT_SET, reg_valid_agent_id, sizeof(vt_agent_info),
                      get_agent, &list, n, ei);
    *out = list;
    return rv;
}
