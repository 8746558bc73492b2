/* ms_cache.h - per-agent index cache shared by the daemon's threads.
 *
 * The cache is only an accelerator: every use passes the head the request
 * just read from Redis, and an entry is used only when its head is exactly
 * that head. Otherwise it is brought forward by replaying the op log (small
 * gaps, chain checked) or reloaded from Redis. So replicas stay
 * interchangeable and a restarted memsync is indistinguishable from a warm
 * one, except for speed.
 *
 * Bounded: at most max_agents entries and about max_bytes of indexes; the
 * least recently used entry that no thread is using is dropped to make
 * room. Thread-safe: one mutex for
 * the table, a rwlock per entry (searches share, refreshes exclude). */
#ifndef MS_CACHE_H
#define MS_CACHE_H

#include "ms_index.h"
#include "ms_store.h"

typedef struct ms_cache ms_cache;

/* max_bytes: budget for all indexes together (0 = none). */
int ms_cache_new(ms_cache **out, size_t max_agents, size_t max_bytes);
void ms_cache_free(ms_cache *c);

/* Search / list agent's memory as of `head` (or later, if the index moved
 * on and Redis confirms the newer head). */
int ms_cache_search(ms_cache *c, ms_store *st, const char *agent, const vt_mem_head *head,
                    const vt_mem_query *q, vt_mem_hits *out, vt_errinfo *ei);
int ms_cache_list(ms_cache *c, ms_store *st, const char *agent, const vt_mem_head *head,
                  const vt_mem_filter *f, uint64_t after, uint32_t limit, vt_mem_list *out,
                  vt_errinfo *ei);

/* This process committed `op`, moving the agent to `next`: advance a cached
 * index that was at the previous head (the chain is recomputed, so a
 * mismatch just invalidates the entry). */
void ms_cache_note_write(ms_cache *c, const char *agent, const ms_op *op,
                         const vt_mem_head *next);

/* Agents with an entry (for metrics). */
void ms_cache_stats(ms_cache *c, double *agents);

#endif
