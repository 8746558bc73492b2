/* vt_metrics.h - Prometheus counters, gauges and histograms.
 *
 * A registry (vt_metrics) owns every metric registered in it; metric
 * pointers stay valid until vt_metrics_free. Registration takes a mutex;
 * updates (vt_counter_add, vt_gauge_set, vt_histogram_observe) are lock-free
 * atomics, cheap enough for hot paths. Register once at start-up and keep
 * the pointers; do not look metrics up per event.
 *
 * Names: [a-zA-Z_:][a-zA-Z0-9_:]*, conventionally prefixed "verity_" and,
 * for counters, suffixed "_total". Labels: one fixed label set per metric
 * instance, written in Prometheus syntax without braces:
 *     state="verified"      or     state="failed",reason="timeout"
 * Label names [a-zA-Z_][a-zA-Z0-9_]* (not starting with "__"); values are
 * double-quoted with \\, \" and \n escapes. The same name may be registered
 * with several label sets (jobs_total{state="verified"},
 * jobs_total{state="failed"}); they must share the type (and HELP of the
 * first registration is used). Registering the same name+labels again
 * returns the existing metric (histogram buckets must match).
 *
 * Rendering: Prometheus text exposition format 0.0.4, grouped by name in
 * registration order, "# HELP" and "# TYPE" once per name. Histograms:
 * cumulative name_bucket{le="..."} lines including le="+Inf", then
 * name_sum and name_count (count equals the +Inf bucket).
 */
#ifndef VT_METRICS_H
#define VT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "vt_err.h"
#include "vt_strbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_metrics vt_metrics;
typedef struct vt_counter vt_counter;
typedef struct vt_gauge vt_gauge;
typedef struct vt_histogram vt_histogram;

#define VT_METRICS_MAX_BUCKETS 32

int vt_metrics_new(vt_metrics **out);
void vt_metrics_free(vt_metrics *m); /* NULL is fine */

/* labels may be NULL or "" (no labels). Return 0, VT_ERR_INVAL (bad name,
 * bad labels, type clash, bad buckets; detail in ei) or VT_ERR_NOMEM. */
int vt_metrics_counter(vt_metrics *m, const char *name, const char *help,
                       const char *labels, vt_counter **out, vt_errinfo *ei);
int vt_metrics_gauge(vt_metrics *m, const char *name, const char *help,
                     const char *labels, vt_gauge **out, vt_errinfo *ei);
/* bounds: strictly increasing finite upper bounds, 1..VT_METRICS_MAX_BUCKETS
 * of them; +Inf is implicit. */
int vt_metrics_histogram(vt_metrics *m, const char *name, const char *help,
                         const char *labels, const double *bounds,
                         size_t nbounds, vt_histogram **out, vt_errinfo *ei);

/* A gauge computed on demand at render time (queue depth, live workers).
 * fn runs under the registry lock on the rendering thread (an NNG HTTP
 * thread): it must be fast, thread-safe and must not call into the
 * registry. */
typedef double (*vt_gauge_fn)(void *arg);
int vt_metrics_gauge_fn(vt_metrics *m, const char *name, const char *help,
                        const char *labels, vt_gauge_fn fn, void *arg,
                        vt_errinfo *ei);

void vt_counter_add(vt_counter *c, uint64_t n);
void vt_counter_inc(vt_counter *c);
uint64_t vt_counter_get(const vt_counter *c);

void vt_gauge_set(vt_gauge *g, double v);
void vt_gauge_add(vt_gauge *g, double delta); /* negative to decrease */
double vt_gauge_get(const vt_gauge *g);

void vt_histogram_observe(vt_histogram *h, double v);
uint64_t vt_histogram_count(const vt_histogram *h);

/* Append the whole registry in text format 0.0.4 to out. Returns 0 or
 * VT_ERR_NOMEM. */
int vt_metrics_render(vt_metrics *m, vt_strbuf *out);

/* Helpers for callbacks that write extra samples by hand (vt_http's
 * extra_metrics): "# HELP name help\n# TYPE name type\n" and
 * "name{labels} value\n". type: "counter", "gauge", "untyped". */
void vt_metrics_write_header(vt_strbuf *out, const char *name,
                             const char *help, const char *type);
void vt_metrics_write_sample(vt_strbuf *out, const char *name,
                             const char *labels, double value);

/* Validation used by the registry, exported for tests and callbacks. */
int vt_metrics_check_name(const char *name);     /* 0 or VT_ERR_INVAL */
int vt_metrics_check_labels(const char *labels); /* 0 or VT_ERR_INVAL */

#ifdef __cplusplus
}
#endif
#endif
