/* vt_registry.h - the one identity registry (agents and nodes) in Redis
 * (target vt_store). Used by the scheduler, memsync and the `verity` CLI.
 *
 * AGENTS authenticate with an API key:
 *     vtk_<agentid>_<64 lowercase hex chars = 32 random bytes>
 *     agent id: "ag_" + 12 chars of lowercase RFC 4648 base32 (a-z, 2-7),
 *     i.e. 60 random bits; e.g.
 *     vtk_ag_k3j2mq7xzt4a_9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
 * The key is shown once at creation. Redis stores only
 *     mac = BLAKE2b-256(key = auth secret (32 bytes), message = whole API key
 *           string)   (libsodium crypto_generichash)
 * so a Redis dump does not reveal usable keys, and the MAC binds the agent
 * id embedded in the key (a key edited to name another agent fails).
 *
 * NODES (workers, verifiers) are an allow-list of Ed25519 public keys.
 *
 * Key schema (hash tags {...} keep each identity's keys in one slot):
 *   verity:agent:{<agentid>}  HASH  name        display name (1..64 printable ASCII)
 *                                   mac         64 hex chars
 *                                   created_ms  wall-clock ms
 *                                   revoked     "0" | "1"
 *                                   revoked_ms  wall-clock ms (when revoked)
 *   verity:agents             SET   agent ids (for listing)
 *   verity:node:{<pubhex>}    HASH  role        "worker" | "verifier"
 *                                   operator    operator name (1..64 printable ASCII)
 *                                   added_ms    wall-clock ms
 *                                   revoked     "0" | "1"
 *                                   revoked_ms  wall-clock ms (when revoked)
 *   verity:nodes              SET   lowercase pubhex of every node
 *   verity:nodes:revocations  STRING counter, INCR'd by every node revoke
 *                                   (daemons poll it to end revoked sessions)
 *   verity:hello:{<pubhex>}:<noncehex>
 *                             STRING "1", expiring: a hello nonce that key
 *                                   has used (vt_registry_node_hello_nonce)
 * Creation is atomic per identity (a Lua script refuses existing keys);
 * records are never deleted, only revoked, so an id is never reused.
 *
 * AUTH SECRET file: 64 hex chars (32 random bytes) and an optional trailing
 * newline, mode 0600. The scheduler, memsync and `verity agent` must share
 * the same file (VERITY_AUTH_SECRET_FILE).
 *
 * All functions take a caller-owned vt_redis (one per thread, see
 * vt_redis.h). Redis failures return VT_ERR_UNAVAILABLE.
 */
#ifndef VT_REGISTRY_H
#define VT_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vt_err.h"
#include "vt_redis.h"
#include "vt_types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VT_AUTH_SECRET_BYTES 32
#define VT_AGENT_ID_LEN 15        /* "ag_" + 12 */
#define VT_AGENT_ID_BUFSZ 16
#define VT_API_KEY_LEN 84         /* "vtk_" + 15 + "_" + 64 */
#define VT_API_KEY_BUFSZ 85
#define VT_NAME_MAX 64            /* agent names, operator names */
#define VT_PUBKEY_HEX_LEN 64
#define VT_PUBKEY_HEX_BUFSZ 65

/* ---- auth secret file -------------------------------------------------- */

/* Create path with 32 fresh random bytes as hex (O_EXCL, mode 0600).
 * VT_ERR_EXISTS if the file exists, VT_ERR_IO otherwise. */
int vt_auth_secret_generate(const char *path, vt_errinfo *ei);
/* Load and validate; VT_ERR_IO (unreadable), VT_ERR_FORMAT (not exactly 64
 * hex chars). */
int vt_auth_secret_load(const char *path,
                        uint8_t secret[VT_AUTH_SECRET_BYTES], vt_errinfo *ei);

/* ---- agents ------------------------------------------------------------ */

typedef struct vt_agent_info {
    char id[VT_AGENT_ID_BUFSZ];
    char name[VT_NAME_MAX + 1];
    int64_t created_ms;
    bool revoked;
    int64_t revoked_ms; /* 0 if not revoked */
} vt_agent_info;

/* Create an agent named `name`; writes its id to id_out (may be NULL) and its
 * API key (NUL-terminated) to key_out. VT_ERR_INVAL for a bad name. */
int vt_registry_agent_add(vt_redis *r,
                          const uint8_t secret[VT_AUTH_SECRET_BYTES],
                          const char *name, char id_out[VT_AGENT_ID_BUFSZ],
                          char key_out[VT_API_KEY_BUFSZ], vt_errinfo *ei);

/* Mark revoked (idempotent). VT_ERR_NOTFOUND for an unknown id. */
int vt_registry_agent_revoke(vt_redis *r, const char *agent_id,
                             vt_errinfo *ei);

/* One agent's record. VT_ERR_NOTFOUND for an unknown id. */
int vt_registry_agent_get(vt_redis *r, const char *agent_id,
                          vt_agent_info *out, vt_errinfo *ei);

/* All agents, sorted by id; *out is malloc'd (free() it), may be NULL when
 * *n == 0. */
int vt_registry_agent_list(vt_redis *r, vt_agent_info **out, size_t *n,
                           vt_errinfo *ei);

/* Verify an API key against Redis directly (no cache: the CLI and tests;
 * daemons use vt_agent_cache). On success writes the agent id (may be NULL).
 * Every way a key can be wrong (malformed, unknown agent, MAC mismatch,
 * revoked) returns VT_ERR_AUTH, with a detail in ei for the server's log
 * only (never tell the client which). VT_ERR_UNAVAILABLE if Redis fails. */
int vt_registry_agent_check(vt_redis *r,
                            const uint8_t secret[VT_AUTH_SECRET_BYTES],
                            const char *key, size_t keylen,
                            char id_out[VT_AGENT_ID_BUFSZ], vt_errinfo *ei);

/* Split an API key into its agent id without checking it (VT_ERR_AUTH if
 * malformed). Useful for logging which agent a rejected key claimed. */
int vt_api_key_parse(const char *key, size_t keylen,
                     char id_out[VT_AGENT_ID_BUFSZ], vt_errinfo *ei);

/* ---- agent cache (hot path) --------------------------------------------
 * In-process cache: agent id -> (exists, MAC, revoked, fetched time). A
 * check costs one hash lookup + one BLAKE2b MAC while the entry is younger
 * than ttl_ms; older entries are re-read from Redis on the caller's
 * connection. Unknown ids are cached too (negative entries), so random ids
 * from a hostile client cost at most one Redis read per id per TTL.
 *
 * REVOCATION BOUND: a key revoked in Redis is refused by every cache at most
 * ttl_ms (plus one Redis round-trip) after the revocation is written.
 * If Redis is unreachable when an entry needs refreshing the check fails
 * closed with VT_ERR_UNAVAILABLE (a stale entry is never trusted).
 *
 * Memory is bounded by max_entries; when the table fills up it is emptied
 * (everything is refetched on demand), so a flood of random ids cannot
 * grow it. The cache is thread-safe (one mutex, held only for the lookup,
 * never during Redis I/O); each thread passes its own vt_redis. */
typedef struct vt_agent_cache vt_agent_cache;

/* ttl_ms 0 means 1000; max_entries 0 means 65536. */
int vt_agent_cache_new(vt_agent_cache **out,
                       const uint8_t secret[VT_AUTH_SECRET_BYTES],
                       uint64_t ttl_ms, size_t max_entries);
void vt_agent_cache_free(vt_agent_cache *c); /* NULL is fine */

/* Same contract as vt_registry_agent_check. */
int vt_agent_cache_check(vt_agent_cache *c, vt_redis *r, const char *key,
                         size_t keylen, char id_out[VT_AGENT_ID_BUFSZ],
                         vt_errinfo *ei);

/* ---- nodes ------------------------------------------------------------- */

/* vt_node_role and its name/parse functions: vt_types.h. */

typedef struct vt_node_info {
    char pubhex[VT_PUBKEY_HEX_BUFSZ]; /* lowercase */
    vt_node_role role;
    char operator_name[VT_NAME_MAX + 1];
    int64_t added_ms;
    bool revoked;
    int64_t revoked_ms;
} vt_node_info;

/* pubhex: 64 hex chars, either case (stored lowercase). VT_ERR_EXISTS if the
 * key is already registered (revoked or not), VT_ERR_INVAL for bad input. */
int vt_registry_node_add(vt_redis *r, const char *pubhex, vt_node_role role,
                         const char *operator_name, vt_errinfo *ei);
int vt_registry_node_revoke(vt_redis *r, const char *pubhex, vt_errinfo *ei);
/* The revocation counter (0 before the first revoke): when it changes, a
 * daemon re-reads the records of the nodes it has sessions with. */
int vt_registry_node_revocations(vt_redis *r, long long *out, vt_errinfo *ei);
/* VT_ERR_NOTFOUND for unknown keys; revoked nodes are returned with
 * revoked = true (the caller decides; the scheduler refuses them). */
int vt_registry_node_lookup(vt_redis *r, const char *pubhex,
                            vt_node_info *out, vt_errinfo *ei);
/* Remember that the node pubhex sent a hello with this nonce, for ttl_ms
 * (as long as that hello could still be accepted): 0 the first time,
 * VT_ERR_EXISTS when the key has used the nonce before, i.e. the hello is
 * a replay. In Redis, so a restarted scheduler still knows. */
int vt_registry_node_hello_nonce(vt_redis *r, const char *pubhex, const uint8_t *nonce,
                                 size_t nonce_len, uint32_t ttl_ms, vt_errinfo *ei);
/* Sorted by pubhex; *out malloc'd. */
int vt_registry_node_list(vt_redis *r, vt_node_info **out, size_t *n,
                          vt_errinfo *ei);

/* vt_hex_encode / vt_hex_decode: vt_types.h. */

#ifdef __cplusplus
}
#endif
#endif
