/* registry_internal.h - pieces shared by the agent, node and cache files. */
#ifndef VT_REGISTRY_INTERNAL_H
#define VT_REGISTRY_INTERNAL_H

#include "vt_registry.h"

/* Key builders: "verity:agent:{<id>}", "verity:node:{<pubhex>}". */
#define VT_AGENT_SET "verity:agents"
#define VT_NODE_SET "verity:nodes"
#define VT_NODE_REVOCATIONS "verity:nodes:revocations"
void reg_agent_key(const char *id, char *buf, size_t n);
void reg_node_key(const char *pubhex, char *buf, size_t n);

/* 1..VT_NAME_MAX printable ASCII characters. */
bool reg_valid_name(const char *s);

/* Atomically create hash KEYS[0] with the field/value pairs (if it does not
 * exist) and add member to set. VT_ERR_EXISTS if it exists. */
int reg_create(vt_redis *r, const char *key, const char *set,
               const char *member, int nfields, const char *const *fv,
               vt_errinfo *ei);
/* Set revoked=1 (keeping the first revoked_ms). VT_ERR_NOTFOUND if absent. */
int reg_revoke(vt_redis *r, const char *key, vt_errinfo *ei);
/* SMEMBERS of an index set, validated by `valid`; *out malloc'd array of
 * malloc'd strings sorted ascending. */
int reg_members(vt_redis *r, const char *set, bool (*valid)(const char *),
                char ***out, size_t *n, vt_errinfo *ei);
void reg_free_members(char **m, size_t n);
/* Fetch one record by index member into out (a vt_agent_info or
 * vt_node_info): 0, VT_ERR_NOTFOUND / VT_ERR_FORMAT (skipped by reg_list) or
 * a Redis error. */
typedef int (*reg_get_fn)(vt_redis *r, const char *member, void *out,
                          vt_errinfo *ei);
/* Every valid member of the index set, fetched with get, sorted by member;
 * *out is a malloc'd array of n records of elem_size bytes. */
int reg_list(vt_redis *r, const char *set, bool (*valid)(const char *),
             size_t elem_size, reg_get_fn get, void **out, size_t *n,
             vt_errinfo *ei);

/* What a key check needs from an agent record. */
typedef struct reg_agent_auth {
    bool exists;
    bool revoked;
    uint8_t mac[32];
} reg_agent_auth;

bool reg_valid_agent_id(const char *id);
/* HMGET mac revoked (a record without a valid mac counts as absent). */
int reg_fetch_agent_auth(vt_redis *r, const char *id, reg_agent_auth *out,
                         vt_errinfo *ei);
/* The decision, shared by the direct check and the cache: 0 or VT_ERR_AUTH. */
int reg_judge_key(const uint8_t secret[VT_AUTH_SECRET_BYTES], const char *key,
                  size_t keylen, const char *id, const reg_agent_auth *rec,
                  vt_errinfo *ei);

#endif
