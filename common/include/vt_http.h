/* vt_http.h - the daemons' health and metrics HTTP endpoint.
 *
 * Built on NNG's HTTP server, which runs on NNG's own threads: starting it
 * never blocks the daemon, and the daemon's threads never serve HTTP.
 *
 *   GET /healthz  -> 200 "ok\n"  while the process is alive
 *   GET /readyz   -> 200 "ready\n", or 503 "not ready: <reason>\n" when the
 *                    ready callback says so
 *   GET /metrics  -> 200, Content-Type "text/plain; version=0.0.4", the
 *                    registry rendered by vt_metrics_render, then whatever
 *                    extra_metrics appends
 *   anything else -> 404; non-GET methods on the three paths -> 405
 *
 * Callbacks run on NNG threads, possibly concurrently: they must be
 * thread-safe, quick and non-blocking. In particular the ready callback must
 * NOT do a Redis round-trip; have the daemon's own loop keep an atomic
 * "redis reachable" flag and read that.
 */
#ifndef VT_HTTP_H
#define VT_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "vt_err.h"
#include "vt_log.h"
#include "vt_metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Return true when ready; otherwise write a short reason into why (NUL-
 * terminated, at most whysz bytes) and return false. */
typedef bool (*vt_http_ready_fn)(void *arg, char *why, size_t whysz);
/* Append extra exposition text (use vt_metrics_write_header/sample). */
typedef void (*vt_http_metrics_fn)(void *arg, vt_strbuf *out);

typedef struct vt_http_config {
    const char *addr;                  /* "host:port" (port 0: any) or "off" */
    vt_metrics *metrics;               /* may be NULL */
    vt_http_ready_fn ready;            /* NULL: always ready */
    void *ready_arg;
    vt_http_metrics_fn extra_metrics;  /* may be NULL */
    void *extra_arg;
    vt_log *log;                       /* may be NULL */
} vt_http_config;

typedef struct vt_http vt_http;

/* Start serving. addr "off": *out = NULL and 0 is returned (vt_http_stop and
 * vt_http_port accept NULL). Returns 0, VT_ERR_INVAL (bad address),
 * VT_ERR_TRANSPORT (cannot bind: port in use...) or VT_ERR_NOMEM. The
 * config's pointers must stay valid until vt_http_stop. */
int vt_http_start(vt_http **out, const vt_http_config *cfg, vt_errinfo *ei);

/* Stop serving and free (waits for in-flight requests). */
void vt_http_stop(vt_http *h);

/* The bound TCP port (useful with port 0), or 0 for NULL/off. */
int vt_http_port(const vt_http *h);

#ifdef __cplusplus
}
#endif
#endif
