/* vt_metrics.c - Prometheus registry (see vt_metrics.h).
 *
 * Updates are relaxed atomics on per-metric cells; doubles are stored as
 * their bit pattern in a uint64 and updated with compare-and-swap. The
 * registry list is guarded by a mutex that only registration and rendering
 * take. */
#include "vt_metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum mtype { M_COUNTER, M_GAUGE, M_HISTOGRAM, M_GAUGE_FN };

static const char *const type_name[] = {"counter", "gauge", "histogram", "gauge"};

struct vt_counter {
    _Atomic uint64_t v;
};

struct vt_gauge {
    _Atomic uint64_t bits;
};

struct vt_histogram {
    size_t nbounds;
    double bounds[VT_METRICS_MAX_BUCKETS];
    _Atomic uint64_t counts[VT_METRICS_MAX_BUCKETS + 1]; /* per bucket, last = +Inf */
    _Atomic uint64_t sum_bits;
};

typedef struct entry {
    struct entry *next;
    enum mtype type;
    char *name;
    char *labels; /* "" when none */
    char *help;
    union {
        struct vt_counter counter;
        struct vt_gauge gauge;
        struct vt_histogram hist;
        struct {
            vt_gauge_fn fn;
            void *arg;
        } gfn;
    } u;
} entry;

struct vt_metrics {
    pthread_mutex_t mu;
    entry *head, *tail;
};

static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static void atomic_add_double(_Atomic uint64_t *cell, double delta)
{
    uint64_t old = atomic_load_explicit(cell, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(cell, &old,
                                                  dbits(bitsd(old) + delta),
                                                  memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

/* ---- validation -------------------------------------------------------- */

static bool name_char(char c, bool first, bool colon_ok)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
        return true;
    if (colon_ok && c == ':')
        return true;
    return !first && c >= '0' && c <= '9';
}

int vt_metrics_check_name(const char *name)
{
    if (!name || !name[0] || strlen(name) > 200)
        return VT_ERR_INVAL;
    for (size_t i = 0; name[i]; i++)
        if (!name_char(name[i], i == 0, true))
            return VT_ERR_INVAL;
    return 0;
}

int vt_metrics_check_labels(const char *labels)
{
    if (!labels || !labels[0])
        return 0;
    const char *p = labels;
    for (;;) {
        const char *start = p;
        while (*p && *p != '=') {
            if (!name_char(*p, p == start, false))
                return VT_ERR_INVAL;
            p++;
        }
        if (p == start || *p != '=' || (p - start >= 2 && start[0] == '_' && start[1] == '_'))
            return VT_ERR_INVAL;
        if (strncmp(start, "le=", 3) == 0 && p - start == 2)
            return VT_ERR_INVAL; /* reserved for histogram buckets */
        p++;
        if (*p++ != '"')
            return VT_ERR_INVAL;
        while (*p && *p != '"') {
            if (*p == '\n')
                return VT_ERR_INVAL;
            if (*p == '\\') {
                p++;
                if (*p != '\\' && *p != '"' && *p != 'n')
                    return VT_ERR_INVAL;
            }
            p++;
        }
        if (*p++ != '"')
            return VT_ERR_INVAL;
        if (*p == '\0')
            return 0;
        if (*p++ != ',' || *p == '\0')
            return VT_ERR_INVAL;
    }
}

/* ---- registry ---------------------------------------------------------- */

int vt_metrics_new(vt_metrics **out)
{
    vt_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return VT_ERR_NOMEM;
    pthread_mutex_init(&m->mu, NULL);
    *out = m;
    return 0;
}

void vt_metrics_free(vt_metrics *m)
{
    if (!m)
        return;
    entry *e = m->head;
    while (e) {
        entry *next = e->next;
        free(e->name);
        free(e->labels);
        free(e->help);
        free(e);
        e = next;
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* Find name+labels, or check the type of a same-name entry. Caller holds mu.
 * Returns the exact match or NULL; *clash set when the name has another
 * type. */
static entry *find(vt_metrics *m, const char *name, const char *labels,
                   enum mtype type, bool *clash)
{
    *clash = false;
    for (entry *e = m->head; e; e = e->next) {
        if (strcmp(e->name, name) != 0)
            continue;
        bool same_kind = e->type == type ||
                         ((e->type == M_GAUGE || e->type == M_GAUGE_FN) &&
                          (type == M_GAUGE || type == M_GAUGE_FN));
        if (!same_kind) {
            *clash = true;
            return NULL;
        }
        if (strcmp(e->labels, labels) == 0)
            return e;
    }
    return NULL;
}

static int add_entry(vt_metrics *m, const char *name, const char *help,
                     const char *labels, enum mtype type, entry **out,
                     vt_errinfo *ei)
{
    if (!m || !out)
        return vt_fail(ei, VT_ERR_INVAL, "metrics: NULL argument");
    if (!labels)
        labels = "";
    if (vt_metrics_check_name(name) != 0)
        return vt_fail(ei, VT_ERR_INVAL, "metric name '%s' is invalid", name ? name : "(null)");
    if (vt_metrics_check_labels(labels) != 0)
        return vt_fail(ei, VT_ERR_INVAL, "metric %s: labels '%s' are invalid", name, labels);
    pthread_mutex_lock(&m->mu);
    bool clash;
    entry *e = find(m, name, labels, type, &clash);
    if (clash) {
        pthread_mutex_unlock(&m->mu);
        return vt_fail(ei, VT_ERR_INVAL, "metric %s already registered with another type", name);
    }
    if (e) {
        pthread_mutex_unlock(&m->mu);
        if (e->type != type)
            return vt_fail(ei, VT_ERR_INVAL, "metric %s{%s} already registered differently", name, labels);
        *out = e;
        return VT_ERR_EXISTS; /* internal: caller returns the existing one */
    }
    e = calloc(1, sizeof(*e));
    if (e) {
        e->name = strdup(name);
        e->labels = strdup(labels);
        e->help = strdup(help ? help : "");
    }
    if (!e || !e->name || !e->labels || !e->help) {
        if (e) {
            free(e->name);
            free(e->labels);
            free(e->help);
            free(e);
        }
        pthread_mutex_unlock(&m->mu);
        return vt_fail(ei, VT_ERR_NOMEM, "metrics: out of memory");
    }
    e->type = type;
    /* The entry is initialised by the caller before anyone can render it:
     * it is linked only in publish(). */
    *out = e;
    pthread_mutex_unlock(&m->mu);
    return 0;
}

static void publish(vt_metrics *m, entry *e)
{
    pthread_mutex_lock(&m->mu);
    if (m->tail)
        m->tail->next = e;
    else
        m->head = e;
    m->tail = e;
    pthread_mutex_unlock(&m->mu);
}

int vt_metrics_counter(vt_metrics *m, const char *name, const char *help,
                       const char *labels, vt_counter **out, vt_errinfo *ei)
{
    entry *e;
    int rv = add_entry(m, name, help, labels, M_COUNTER, &e, ei);
    if (rv == VT_ERR_EXISTS) {
        *out = &e->u.counter;
        return 0;
    }
    if (rv != 0)
        return rv;
    atomic_init(&e->u.counter.v, 0);
    publish(m, e);
    *out = &e->u.counter;
    return 0;
}

int vt_metrics_gauge(vt_metrics *m, const char *name, const char *help,
                     const char *labels, vt_gauge **out, vt_errinfo *ei)
{
    entry *e;
    int rv = add_entry(m, name, help, labels, M_GAUGE, &e, ei);
    if (rv == VT_ERR_EXISTS) {
        *out = &e->u.gauge;
        return 0;
    }
    if (rv != 0)
        return rv;
    atomic_init(&e->u.gauge.bits, dbits(0.0));
    publish(m, e);
    *out = &e->u.gauge;
    return 0;
}

int vt_metrics_gauge_fn(vt_metrics *m, const char *name, const char *help,
                        const char *labels, vt_gauge_fn fn, void *arg,
                        vt_errinfo *ei)
{
    if (!fn)
        return vt_fail(ei, VT_ERR_INVAL, "metric %s: NULL function", name ? name : "?");
    entry *e;
    int rv = add_entry(m, name, help, labels, M_GAUGE_FN, &e, ei);
    if (rv == VT_ERR_EXISTS)
        return vt_fail(ei, VT_ERR_EXISTS, "metric %s{%s} already registered", name, labels ? labels : "");
    if (rv != 0)
        return rv;
    e->u.gfn.fn = fn;
    e->u.gfn.arg = arg;
    publish(m, e);
    return 0;
}

int vt_metrics_histogram(vt_metrics *m, const char *name, const char *help,
                         const char *labels, const double *bounds,
                         size_t nbounds, vt_histogram **out, vt_errinfo *ei)
{
    if (!bounds || nbounds == 0 || nbounds > VT_METRICS_MAX_BUCKETS)
        return vt_fail(ei, VT_ERR_INVAL, "histogram %s: 1..%d buckets needed",
                       name ? name : "?", VT_METRICS_MAX_BUCKETS);
    for (size_t i = 0; i < nbounds; i++)
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            return vt_fail(ei, VT_ERR_INVAL,
                           "histogram %s: bounds must be finite and strictly increasing",
                           name ? name : "?");
    entry *e;
    int rv = add_entry(m, name, help, labels, M_HISTOGRAM, &e, ei);
    if (rv == VT_ERR_EXISTS) {
        struct vt_histogram *h = &e->u.hist;
        if (h->nbounds != nbounds || memcmp(h->bounds, bounds, nbounds * sizeof(double)) != 0)
            return vt_fail(ei, VT_ERR_INVAL, "histogram %s: registered before with other buckets", name);
        *out = h;
        return 0;
    }
    if (rv != 0)
        return rv;
    struct vt_histogram *h = &e->u.hist;
    h->nbounds = nbounds;
    memcpy(h->bounds, bounds, nbounds * sizeof(double));
    for (size_t i = 0; i <= nbounds; i++)
        atomic_init(&h->counts[i], 0);
    atomic_init(&h->sum_bits, dbits(0.0));
    publish(m, e);
    *out = h;
    return 0;
}

/* ---- updates ----------------------------------------------------------- */

void vt_counter_add(vt_counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

void vt_counter_inc(vt_counter *c)
{
    atomic_fetch_add_explicit(&c->v, 1, memory_order_relaxed);
}

uint64_t vt_counter_get(const vt_counter *c)
{
    return atomic_load_explicit((_Atomic uint64_t *)&c->v, memory_order_relaxed);
}

void vt_gauge_set(vt_gauge *g, double v)
{
    atomic_store_explicit(&g->bits, dbits(v), memory_order_relaxed);
}

void vt_gauge_add(vt_gauge *g, double delta)
{
    atomic_add_double(&g->bits, delta);
}

double vt_gauge_get(const vt_gauge *g)
{
    return bitsd(atomic_load_explicit((_Atomic uint64_t *)&g->bits, memory_order_relaxed));
}

void vt_histogram_observe(vt_histogram *h, double v)
{
    /* Buckets are few (<= 32): a linear scan is as fast as a binary search
     * here and obviously right. NaN lands in +Inf. */
    size_t i = 0;
    while (i < h->nbounds && !(v <= h->bounds[i]))
        i++;
    atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
    atomic_add_double(&h->sum_bits, v);
}

uint64_t vt_histogram_count(const vt_histogram *h)
{
    uint64_t n = 0;
    for (size_t i = 0; i <= h->nbounds; i++)
        n += atomic_load_explicit((_Atomic uint64_t *)&h->counts[i], memory_order_relaxed);
    return n;
}

/* ---- rendering --------------------------------------------------------- */

/* Shortest decimal that reads back to the same double; Prometheus spellings
 * for the special values. */
static void put_double(vt_strbuf *out, double v)
{
    if (isnan(v)) {
        vt_strbuf_puts(out, "NaN");
        return;
    }
    if (isinf(v)) {
        vt_strbuf_puts(out, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    char buf[40];
    snprintf(buf, sizeof(buf), "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, sizeof(buf), "%.17g", v);
    vt_strbuf_puts(out, buf);
}

void vt_metrics_write_header(vt_strbuf *out, const char *name,
                             const char *help, const char *type)
{
    vt_strbuf_printf(out, "# HELP %s ", name);
    for (const char *p = help ? help : ""; *p; p++) {
        if (*p == '\\')
            vt_strbuf_puts(out, "\\\\");
        else if (*p == '\n')
            vt_strbuf_puts(out, "\\n");
        else
            vt_strbuf_putc(out, *p);
    }
    vt_strbuf_printf(out, "\n# TYPE %s %s\n", name, type);
}

void vt_metrics_write_sample(vt_strbuf *out, const char *name,
                             const char *labels, double value)
{
    if (labels && labels[0])
        vt_strbuf_printf(out, "%s{%s} ", name, labels);
    else
        vt_strbuf_printf(out, "%s ", name);
    put_double(out, value);
    vt_strbuf_putc(out, '\n');
}

static void render_histogram(vt_strbuf *out, const entry *e)
{
    const struct vt_histogram *h = &e->u.hist;
    const char *sep = e->labels[0] ? "," : "";
    uint64_t cum = 0;
    for (size_t i = 0; i <= h->nbounds; i++) {
        cum += atomic_load_explicit((_Atomic uint64_t *)&h->counts[i], memory_order_relaxed);
        vt_strbuf_printf(out, "%s_bucket{%s%sle=\"", e->name, e->labels, sep);
        if (i < h->nbounds)
            put_double(out, h->bounds[i]);
        else
            vt_strbuf_puts(out, "+Inf");
        vt_strbuf_printf(out, "\"} %llu\n", (unsigned long long)cum);
    }
    double sum = bitsd(atomic_load_explicit((_Atomic uint64_t *)&h->sum_bits, memory_order_relaxed));
    char suffixed[256];
    snprintf(suffixed, sizeof(suffixed), "%s_sum", e->name);
    vt_metrics_write_sample(out, suffixed, e->labels, sum);
    /* _count is the +Inf bucket as read above, so the two always agree. */
    if (e->labels[0])
        vt_strbuf_printf(out, "%s_count{%s} %llu\n", e->name, e->labels, (unsigned long long)cum);
    else
        vt_strbuf_printf(out, "%s_count %llu\n", e->name, (unsigned long long)cum);
}

int vt_metrics_render(vt_metrics *m, vt_strbuf *out)
{
    pthread_mutex_lock(&m->mu);
    for (const entry *e = m->head; e; e = e->next) {
        bool first = true;
        for (const entry *p = m->head; p != e; p = p->next)
            if (strcmp(p->name, e->name) == 0) {
                first = false;
                break;
            }
        if (!first)
            continue; /* rendered with the first entry of its name */
        vt_metrics_write_header(out, e->name, e->help, type_name[e->type]);
        for (const entry *s = e; s; s = s->next) {
            if (strcmp(s->name, e->name) != 0)
                continue;
            switch (s->type) {
            case M_COUNTER:
                if (s->labels[0])
                    vt_strbuf_printf(out, "%s{%s} %llu\n", s->name, s->labels,
                                     (unsigned long long)vt_counter_get(&s->u.counter));
                else
                    vt_strbuf_printf(out, "%s %llu\n", s->name,
                                     (unsigned long long)vt_counter_get(&s->u.counter));
                break;
            case M_GAUGE:
                vt_metrics_write_sample(out, s->name, s->labels, vt_gauge_get(&s->u.gauge));
                break;
            case M_GAUGE_FN:
                vt_metrics_write_sample(out, s->name, s->labels, s->u.gfn.fn(s->u.gfn.arg));
                break;
            case M_HISTOGRAM:
                render_histogram(out, s);
                break;
            }
        }
    }
    pthread_mutex_unlock(&m->mu);
    return vt_strbuf_error(out) ? VT_ERR_NOMEM : 0;
}
