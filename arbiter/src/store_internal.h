/* store_internal.h - Redis key names and helpers shared by the store files. */
#ifndef VT_ARB_STORE_INTERNAL_H
#define VT_ARB_STORE_INTERNAL_H

#include "vt_arbiter.h"

#define ARB_KEY_MAX 96
#define ARB_QSET "verity:quarantine"
#define ARB_QEPOCH "verity:quarantine:epoch"
#define ARB_QHISTORY "verity:quarantine:history"

/* "verity:<kind>:{<pubhex>}" into key[ARB_KEY_MAX]; kind "rep", "recent",
 * "quarantine". */
void arb_key(const char *kind, const uint8_t pk[VT_PUBKEY_BYTES], char key[ARB_KEY_MAX]);
/* Lowercase 64-hex node id. */
void arb_pubhex(const uint8_t pk[VT_PUBKEY_BYTES], char hex[VT_NODE_ID_HEX + 1]);
/* A 64-char lowercase hex string (as stored) into pk; false if malformed. */
bool arb_parse_pubhex(const char *s, size_t len, uint8_t pk[VT_PUBKEY_BYTES]);
/* Printable ASCII copy of reason (tabs and control bytes become spaces,
 * other bytes '?'), cut to VT_ARB_REASON_MAX; NULL or "" -> "unspecified". */
void arb_clean_reason(const char *reason, char out[VT_ARB_REASON_MAX + 1]);

/* Run a command whose reply is an array of at most max elements. On 0,
 * *rep is the reply (freeReplyObject it), *m its length and *arr a zeroed
 * malloc'd array of *m elements of elem bytes (NULL when *m == 0). On error
 * nothing is left to free. */
int arb_array_cmd(vt_redis *r, int argc, const char **argv, size_t max, size_t elem,
                  redisReply **rep, void **arr, size_t *m, vt_errinfo *ei);

#endif
