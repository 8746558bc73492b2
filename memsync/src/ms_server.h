/* ms_server.h - verity-memsync's request handling: an NNG REP socket with
 * 16 receiving contexts per worker (at least 64), driven by callbacks that
 * decode each request and queue it; no thread blocks on NNG.
 *   - adds go to one of two committer threads (by agent), which take every
 *     add queued (up to 64) and commit them in one pipelined Redis round
 *     trip, one write script per add (group commit, ms_store_add_batch);
 *   - every other request goes to the --workers threads, one at a time.
 * Each of these threads owns its Redis connection (ms_store) and answers
 * on the request's context. Writes of one agent are serialized in this
 * process by a striped mutex and across replicas by the store's
 * compare-and-set; different agents run in parallel. */
#ifndef MS_SERVER_H
#define MS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ms_store.h"
#include "vt_log.h"
#include "vt_metrics.h"

typedef struct ms_server_cfg {
    const char *listen;       /* NNG URL */
    const char *redis_url;
    uint8_t secret[32];       /* auth secret (API-key MACs, service key) */
    ms_limits limits;
    size_t recv_max;          /* NNG_OPT_RECVMAXSZ, also the answer cap */
    int workers;              /* threads for requests other than adds */
    size_t cache_agents;      /* agents whose index is kept in memory */
    size_t cache_bytes;       /* memory budget of those indexes (0 = none) */
    vt_log *log;
    vt_metrics *metrics;      /* may be NULL */
} ms_server_cfg;

typedef struct ms_server ms_server;

int ms_server_start(ms_server **out, const ms_server_cfg *cfg, vt_errinfo *ei);
/* Close the socket, finish in-flight requests, join, free. */
void ms_server_stop(ms_server *s);
/* For /readyz: Redis answered the last health check. */
bool ms_server_ready(void *s, char *why, size_t whysz);
/* Health check: PING Redis on the caller's connection; call periodically
 * from the main loop. */
void ms_server_tick(ms_server *s);

#endif
