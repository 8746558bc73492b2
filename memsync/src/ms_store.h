/* ms_store.h - memsync's Redis data model (docs/memsync.md, "Redis keys").
 *
 * Every key of agent A carries the hash tag {A}, so one agent's keys live
 * in one slot and one Lua script can change them atomically:
 *
 *   verity:mem:{A}:head        STRING "<seq>:<64 hex>"  head of the op log
 *   verity:mem:{A}:log         LIST   op n at index n-1 (canonical bytes)
 *   verity:mem:{A}:item:<id>   STRING item record (canonical bytes)
 *   verity:mem:{A}:items       ZSET   id -> id (ordered listing)
 *   verity:mem:{A}:dl          HASH   id -> token count (BM25 |D|)
 *   verity:mem:{A}:ix:<term>   HASH   id -> term frequency (postings)
 *   verity:mem:{A}:terms       SET    every term with postings
 *   verity:mem:{A}:profile     HASH   key -> value
 *   verity:mem:{A}:rl:<sec>    STRING request count in that second (TTL 2 s)
 *
 * A write computes the next chain head in C and runs one Lua script that
 * compares the stored head with the one the write was computed from, and
 * only then applies every key change, appends the op and moves the head
 * (compare-and-set; on a mismatch nothing is changed and the write is
 * retried on fresh data).
 *
 * An ms_store is one thread's Redis connection plus the script's SHA; not
 * thread-safe (like vt_redis). */
#ifndef MS_STORE_H
#define MS_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "ms_index.h"
#include "ms_record.h"
#include "vt_memsync.h"
#include "vt_redis.h"

typedef struct ms_limits {
    size_t max_text;       /* --max-item-bytes */
    uint64_t max_items;    /* --max-items, per agent */
    uint64_t rate_limit;   /* --rate-limit, requests/s per agent (0 = off) */
} ms_limits;

typedef struct ms_store {
    vt_redis *r;
    char sha[41];          /* SHA-1 of the apply script, "" until loaded */
    const ms_limits *lim;
} ms_store;

/* Agent ids as the registry makes them: "ag_" + 12 of [a-z2-7]. Other
 * strings never reach a Redis key. */
bool ms_agent_id_valid(const char *s);

int ms_store_open(ms_store *st, const char *url, const ms_limits *lim, vt_errinfo *ei);
void ms_store_close(ms_store *st);

/* Before a request: if Redis closed this connection while it was idle
 * (a restart), reconnect now, so that the request does not fail on the
 * dead connection. No round trip: one poll() of the socket. */
void ms_store_refresh(ms_store *st);

/* The request's first round trip: count it against the agent's rate limit
 * and read the head. VT_ERR_RATELIMIT when over the limit. (An add with a
 * known head skips this: its one round trip is the write script, which
 * counts the request and checks the head itself.) */
int ms_store_begin(ms_store *st, const char *agent, vt_mem_head *head, vt_errinfo *ei);

/* Reads, consistent with the returned head (one MULTI/EXEC). */
int ms_store_get(ms_store *st, const char *agent, uint64_t id, vt_mem_item *out,
                 vt_mem_head *head, vt_errinfo *ei);
int ms_store_profile_get(ms_store *st, const char *agent, vt_mem_profile *out,
                         vt_errinfo *ei);

/* A write request: kind and its arguments. ADD: item (id, times and seq
 * are assigned); UPDATE: item with id; DELETE: id; PROFILE_SET: key, value;
 * PROFILE_DEL: key. `known` is the head the caller last read (or NULL): it
 * is tried first and saves a round trip when still current. On success
 * *op holds the op as committed (caller ms_op_clear) and *head the new
 * head. */
typedef struct ms_write {
    int kind;
    const vt_mem_item *item;
    uint64_t id;
    const char *key, *value;
    bool count_rate;  /* count the request against the rate limit inside the
                         write (when ms_store_begin was skipped) */
} ms_write;

int ms_store_write(ms_store *st, const char *agent, const ms_write *w,
                   const vt_mem_head *known, ms_op *op, vt_mem_head *head,
                   vt_errinfo *ei);

/* Group commit: several adds (of any agents, in arrival order) in one
 * pipelined round trip, one write script per add. An add builds on the
 * head the previous add of the same agent in the batch leads to, else on
 * `known` (the caller's hint), else on a head read first (one pipelined GET
 * for all such agents). Each add is its own script, so each is atomic and
 * compare-and-set checked on its own, and one add's failure never touches
 * another's data; adds that lost the compare-and-set (another replica
 * wrote), met a restarted Redis (NOSCRIPT) or built on a refused
 * batch-mate are redone alone, in order, like ms_store_write. The caller
 * holds the agents' write locks (writes of one agent stay serialized).
 * Per job out: rv (0 or an error with ei), and on success op (caller
 * ms_op_clear) and head. */
typedef struct ms_add_job {
    const char *agent;          /* in */
    const vt_mem_item *item;    /* in: checked already */
    vt_mem_head known;          /* in: valid when has_known */
    bool has_known;
    ms_op op;                   /* out */
    vt_mem_head head;           /* out */
    int rv;                     /* out */
    vt_errinfo ei;              /* out */
    bool redone;                /* out: committed or refused alone, after
                                   the group (lost compare-and-set...) */
    size_t prev;                /* internal: same agent's previous job */
} ms_add_job;

void ms_store_add_batch(ms_store *st, ms_add_job *jobs, size_t n);

/* Fill ix with the agent's memory as of one head (items from the item
 * records, postings from the Redis index); retries if writes move the head
 * while loading. */
int ms_store_load(ms_store *st, const char *agent, ms_index *ix, vt_errinfo *ei);

/* Bring ix from its head to `to` by replaying log entries, checking the
 * chain on the way. VT_ERR_MISMATCH if the log does not lead to `to`;
 * VT_ERR_RANGE if the gap is larger than max_ops (caller reloads). */
int ms_store_catch_up(ms_store *st, const char *agent, ms_index *ix,
                      const vt_mem_head *to, uint64_t max_ops, vt_errinfo *ei);

/* Recompute the chain from the log, replay it and compare with the stored
 * head, items, index and profile (see vt_memsync_verify). */
int ms_store_verify(ms_store *st, const char *agent, vt_mem_verify *out, vt_errinfo *ei);

/* The scheduler's job record: owner agent id of job_id, or VT_ERR_NOTFOUND.
 * Key and field: docs/memsync.md, "Service key". */
int ms_store_job_owner(ms_store *st, const char *job_id, char *owner, size_t ownersz,
                       vt_errinfo *ei);

#endif
