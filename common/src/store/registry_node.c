/* registry_node.c - allow-list of worker/verifier Ed25519 public keys
 * (see vt_registry.h). */
#include "registry_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_clock.h"

/* 64 hex chars -> lowercase copy; false if malformed. */
static bool norm_pubhex(const char *in, char out[VT_PUBKEY_HEX_BUFSZ])
{
    if (!in || strlen(in) != VT_PUBKEY_HEX_LEN)
        return false;
    for (size_t i = 0; i < VT_PUBKEY_HEX_LEN; i++) {
        if (!isxdigit((unsigned char)in[i]))
            return false;
        out[i] = (char)tolower((unsigned char)in[i]);
    }
    out[VT_PUBKEY_HEX_LEN] = '\0';
    return true;
}

static bool valid_pub_member(const char *s)
{
    char tmp[VT_PUBKEY_HEX_BUFSZ];
    return norm_pubhex(s, tmp) && strcmp(tmp, s) == 0;
}

int vt_registry_node_add(vt_redis *r, const char *pubhex, vt_node_role role,
                         const char *operator_name, vt_errinfo *ei)
{
    char pub[VT_PUBKEY_HEX_BUFSZ];
    if (!norm_pubhex(pubhex, pub))
        return vt_fail(ei, VT_ERR_INVAL, "node key must be 64 hex characters");
    if (role != VT_ROLE_WORKER && role != VT_ROLE_VERIFIER)
        return vt_fail(ei, VT_ERR_INVAL, "node role must be worker or verifier");
    if (!reg_valid_name(operator_name))
        return vt_fail(ei, VT_ERR_INVAL, "operator name must be 1..%d printable ASCII characters", VT_NAME_MAX);
    char k[128], now[32];
    reg_node_key(pub, k, sizeof(k));
    snprintf(now, sizeof(now), "%lld", (long long)vt_wall_ms());
    const char *fv[] = {"role", vt_node_role_name(role), "operator", operator_name,
                        "added_ms", now, "revoked", "0", "revoked_ms", "0"};
    return reg_create(r, k, VT_NODE_SET, pub, 5, fv, ei);
}

int vt_registry_node_revoke(vt_redis *r, const char *pubhex, vt_errinfo *ei)
{
    char pub[VT_PUBKEY_HEX_BUFSZ];
    if (!norm_pubhex(pubhex, pub))
        return vt_fail(ei, VT_ERR_NOTFOUND, "node key must be 64 hex characters");
    char k[128];
    reg_node_key(pub, k, sizeof(k));
    int rv = reg_revoke(r, k, ei);
    if (rv != 0)
        return rv;
    /* Schedulers end a revoked node's live session when this moves. A
     * separate command (the record and the counter are in different hash
     * slots); if it fails, the revoke stands and saying it again is safe. */
    redisReply *rep;
    rv = vt_redis_command(r, &rep, ei, "INCR %s", VT_NODE_REVOCATIONS);
    if (rv == 0) {
        long long v;
        rv = vt_redis_reply_int(rep, &v, ei);
        freeReplyObject(rep);
    }
    return rv;
}

int vt_registry_node_revocations(vt_redis *r, long long *out, vt_errinfo *ei)
{
    *out = 0;
    redisReply *rep;
    int rv = vt_redis_command(r, &rep, ei, "GET %s", VT_NODE_REVOCATIONS);
    if (rv != 0)
        return rv;
    if (rep->type != REDIS_REPLY_NIL)
        rv = vt_redis_reply_ll(rep, out, ei);
    freeReplyObject(rep);
    return rv;
}

int vt_registry_node_lookup(vt_redis *r, const char *pubhex,
                            vt_node_info *out, vt_errinfo *ei)
{
    memset(out, 0, sizeof(*out));
    char pub[VT_PUBKEY_HEX_BUFSZ];
    if (!norm_pubhex(pubhex, pub))
        return vt_fail(ei, VT_ERR_NOTFOUND, "node key must be 64 hex characters");
    char k[128];
    reg_node_key(pub, k, sizeof(k));
    redisReply *rep;
    int rv = vt_redis_command(r, &rep, ei, "HMGET %s role operator added_ms revoked revoked_ms", k);
    if (rv != 0)
        return rv;
    size_t n;
    char role[16];
    long long added = 0, revoked = 1, revoked_ms = 0;
    rv = vt_redis_reply_array(rep, 5, &n, ei);
    if (rv == 0 && n != 5)
        rv = vt_fail(ei, VT_ERR_PROTO, "redis: HMGET returned %zu fields", n);
    if (rv == 0 && rep->element[0]->type == REDIS_REPLY_NIL)
        rv = vt_fail(ei, VT_ERR_NOTFOUND, "node %.16s... is not registered", pub);
    if (rv == 0)
        rv = vt_redis_reply_strcpy(rep->element[0], role, sizeof(role), ei);
    if (rv == 0)
        rv = vt_node_role_parse(role, &out->role);
    if (rv == 0)
        rv = vt_redis_reply_strcpy(rep->element[1], out->operator_name, sizeof(out->operator_name), ei);
    if (rv == 0)
        rv = vt_redis_reply_ll(rep->element[2], &added, ei);
    if (rv == 0)
        rv = vt_redis_reply_ll(rep->element[3], &revoked, ei);
    if (rv == 0 && vt_redis_reply_ll(rep->element[4], &revoked_ms, NULL) != 0)
        revoked_ms = 0;
    freeReplyObject(rep);
    if (rv != 0)
        return rv == VT_ERR_NOTFOUND ? rv : vt_fail(ei, VT_ERR_FORMAT, "node %.16s...: malformed record", pub);
    memcpy(out->pubhex, pub, sizeof(pub));
    out->added_ms = added;
    out->revoked = revoked != 0;
    out->revoked_ms = revoked_ms;
    return 0;
}

int vt_registry_node_hello_nonce(vt_redis *r, const char *pubhex, const uint8_t *nonce,
                                 size_t nonce_len, uint32_t ttl_ms, vt_errinfo *ei)
{
    char pub[VT_PUBKEY_HEX_BUFSZ];
    if (!norm_pubhex(pubhex, pub))
        return vt_fail(ei, VT_ERR_INVAL, "node key must be 64 hex characters");
    if (!nonce || nonce_len == 0 || nonce_len > 64 || ttl_ms == 0)
        return vt_fail(ei, VT_ERR_INVAL, "hello nonce: 1..64 bytes and a time to live");
    char hex[129], k[256];
    vt_hex_encode(nonce, nonce_len, hex);
    snprintf(k, sizeof k, "verity:hello:{%s}:%s", pub, hex);
    redisReply *rep;
    int rv = vt_redis_command(r, &rep, ei, "SET %s 1 NX PX %u", k, (unsigned)ttl_ms);
    if (rv != 0)
        return rv;
    if (rep->type == REDIS_REPLY_NIL)
        rv = vt_fail(ei, VT_ERR_EXISTS, "hello nonce %.16s... already used by this key", hex);
    else
        rv = vt_redis_reply_ok(rep, ei);
    freeReplyObject(rep);
    return rv;
}

static int get_node(vt_redis *r, const char *pubhex, void *out, vt_errinfo *ei)
{
    return vt_registry_node_lookup(r, pubhex, out, ei);
}

int vt_registry_node_list(vt_redis *r, vt_node_info **out, size_t *n,
                          vt_errinfo *ei)
{
    void *list;
    int rv = reg_list(r, VT_NODE_SET, valid_pub_member, sizeof(vt_node_info),
                      get_node, &list, n, ei);
    *out = list;
    return rv;
}
