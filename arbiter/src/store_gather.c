/* store_gather.c - many events' store writes as few commands
 * (vt_arbiter.h, "gathering"): counters summed per node, recent job ids
 * pushed per list in one LPUSH. The per-event rules (which counters an
 * outcome moves, who is quarantined) live here once; the store_queue_*
 * calls of store_rep.c gather one event and queue it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

void vt_arb_gather_init(vt_arb_gather *g)
{
    memset(g, 0, sizeof *g);
}

void vt_arb_gather_free(vt_arb_gather *g)
{
    for (size_t i = 0; i < g->cap; i++)
        free(g->node[i].recent);
    free(g->node);
    memset(g, 0, sizeof *g);
}

/* The node's entry, added if new. A cluster has tens of nodes, so a scan
 * is cheaper than keeping an index. */
static vt_arb_gnode *gnode(vt_arb_gather *g, const uint8_t pk[VT_PUBKEY_BYTES], vt_errinfo *ei)
{
    for (size_t i = 0; i < g->n; i++)
        if (memcmp(g->node[i].pk, pk, VT_PUBKEY_BYTES) == 0)
            return &g->node[i];
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 8;
        vt_arb_gnode *nn = realloc(g->node, cap * sizeof *nn);
        if (!nn) {
            vt_fail(ei, VT_ERR_NOMEM, "out of memory gathering store writes");
            return NULL;
        }
        memset(nn + g->cap, 0, (cap - g->cap) * sizeof *nn);
        g->node = nn;
        g->cap = cap;
    }
    /* Entries past n keep their recent buffers from earlier rounds. */
    vt_arb_gnode *e = &g->node[g->n++];
    memcpy(e->pk, pk, VT_PUBKEY_BYTES);
    memset(&e->delta, 0, sizeof e->delta);
    e->n_recent = 0;
    e->window = 0;
    return e;
}

int vt_arb_gather_rep(vt_arb_gather *g, const uint8_t pk[VT_PUBKEY_BYTES], const vt_arb_rep *delta,
                      vt_errinfo *ei)
{
    bool any = false;
    for (int c = 0; c < VT_ARB_C__COUNT; c++)
        any |= delta->c[c] != 0;
    if (!any)
        return 0;
    vt_arb_gnode *e = gnode(g, pk, ei);
    if (!e)
        return VT_ERR_NOMEM;
    for (int c = 0; c < VT_ARB_C__COUNT; c++)
        e->delta.c[c] += delta->c[c];
    return 0;
}

int vt_arb_gather_recent(vt_arb_gather *g, const uint8_t pk[VT_PUBKEY_BYTES], const char *job_id,
                         uint32_t window, vt_errinfo *ei)
{
    if (!job_id || !vt_ident_valid(job_id, strlen(job_id), VT_JOB_ID_MAX))
        return vt_fail(ei, VT_ERR_INVAL, "recent job: invalid job id");
    if (window < 1 || window > VT_ARB_RECENT_MAX)
        return vt_fail(ei, VT_ERR_INVAL, "recent job window must be 1..%u", VT_ARB_RECENT_MAX);
    vt_arb_gnode *e = gnode(g, pk, ei);
    if (!e)
        return VT_ERR_NOMEM;
    if (e->n_recent == e->cap_recent) {
        size_t cap = e->cap_recent ? 2 * e->cap_recent : 16;
        void *nr = realloc(e->recent, cap * sizeof *e->recent);
        if (!nr)
            return vt_fail(ei, VT_ERR_NOMEM, "out of memory gathering recent jobs");
        e->recent = nr;
        e->cap_recent = cap;
    }
    snprintf(e->recent[e->n_recent++], VT_JOB_ID_MAX + 1, "%s", job_id);
    if (e->window == 0 || window < e->window)
        e->window = window;
    return 0;
}

int vt_arb_gather_result(vt_arb_gather *g, const uint8_t worker_pk[VT_PUBKEY_BYTES],
                         const char *job_id, uint32_t window, vt_errinfo *ei)
{
    /* Validated first, so a bad id gathers nothing. */
    int rv = vt_arb_gather_recent(g, worker_pk, job_id, window, ei);
    if (rv)
        return rv;
    vt_arb_rep d = {{0}};
    d.c[VT_ARB_C_JOBS] = 1;
    return vt_arb_gather_rep(g, worker_pk, &d, ei);
}

int vt_arb_gather_decision(vt_arb_gather *g, vt_redis *r, const uint8_t worker_pk[VT_PUBKEY_BYTES],
                           const char *job_id, const vt_arb_tally *t, const vt_arb_decision *d,
                           int64_t now_ms, size_t *n_queued, vt_errinfo *ei)
{
    if (d->outcome != VT_ARB_VERIFIED && d->outcome != VT_ARB_WORKER_FAULTY)
        return 0;
    const char *jid = job_id ? job_id : "?";
    vt_arb_rep w = {{0}};
    if (d->outcome == VT_ARB_VERIFIED)
        w.c[VT_ARB_C_VERIFIED] = 1;
    else if (!d->capped)
        w.c[VT_ARB_C_FAILED] = 1;
    int rv = vt_arb_gather_rep(g, worker_pk, &w, ei);
    bool overruled[VT_ARB_MAX_PANEL] = {false};
    for (uint32_t i = 0; i < d->n_overruled; i++)
        if (d->overruled[i] < t->n)
            overruled[d->overruled[i]] = true;
    for (uint32_t i = 0; rv == 0 && i < t->n; i++) {
        vt_arb_rep v = {{0}};
        v.c[VT_ARB_C_VERDICTS] = 1;
        v.c[VT_ARB_C_OVERRULED] = overruled[i];
        rv = vt_arb_gather_rep(g, t->votes[i].verifier, &v, ei);
    }
    char reason[VT_ARB_REASON_MAX + 1];
    if (rv == 0 && d->quarantine_worker) {
        snprintf(reason, sizeof reason, "job %.64s: result failed by %u of %u verifiers", jid,
                 t->n_fail, t->n);
        rv = vt_arb_store_queue_quarantine(r, worker_pk, reason, now_ms, n_queued, ei);
    }
    for (uint32_t i = 0; rv == 0 && i < t->n; i++) {
        if (!overruled[i])
            continue;
        snprintf(reason, sizeof reason, "job %.64s: verdict %s overruled by %u of %u verifiers",
                 jid, t->votes[i].pass ? "pass" : "fail",
                 t->votes[i].pass ? t->n_fail : t->n_pass, t->n);
        rv = vt_arb_store_queue_quarantine(r, t->votes[i].verifier, reason, now_ms, n_queued, ei);
    }
    return rv;
}

int vt_arb_gather_audit(vt_arb_gather *g, vt_redis *r, const uint8_t verifier_pk[VT_PUBKEY_BYTES],
                        const char *job_id, bool expected_pass, vt_arb_audit_result res,
                        int64_t now_ms, size_t *n_queued, vt_errinfo *ei)
{
    vt_arb_rep d = {{0}};
    bool lies = res == VT_ARB_VERIFIER_LIES;
    d.c[lies ? VT_ARB_C_AUDITS_FAILED : VT_ARB_C_AUDITS_PASSED] = 1;
    int rv = vt_arb_gather_rep(g, verifier_pk, &d, ei);
    if (rv || !lies)
        return rv;
    char reason[VT_ARB_REASON_MAX + 1];
    snprintf(reason, sizeof reason, "audit on job %.64s: %s", job_id ? job_id : "?",
             expected_pass ? "failed an honest result" : "passed a corrupted result");
    return vt_arb_store_queue_quarantine(r, verifier_pk, reason, now_ms, n_queued, ei);
}

/* LPUSH key id... (oldest first, so the newest ends up at the head, as
 * one LPUSH per id would leave it) and LTRIM to the window. */
static int queue_recent_list(vt_redis *r, const vt_arb_gnode *e, size_t *n_queued,
                             vt_errinfo *ei)
{
    char key[ARB_KEY_MAX];
    arb_key("recent", e->pk, key);
    const char **argv = malloc((2 + e->n_recent) * sizeof *argv);
    if (!argv)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory queueing recent jobs");
    argv[0] = "LPUSH";
    argv[1] = key;
    for (size_t i = 0; i < e->n_recent; i++)
        argv[2 + i] = e->recent[i];
    int rv = vt_redis_appendv(r, ei, (int)(2 + e->n_recent), argv, NULL);
    free(argv);
    if (rv)
        return rv;
    (*n_queued)++;
    char last[16];
    snprintf(last, sizeof last, "%u", e->window - 1);
    const char *trim[] = {"LTRIM", key, "0", last};
    rv = vt_redis_appendv(r, ei, 4, trim, NULL);
    if (rv == 0)
        (*n_queued)++;
    return rv;
}

int vt_arb_gather_queue(vt_arb_gather *g, vt_redis *r, size_t *n_queued, vt_errinfo *ei)
{
    int rv = 0;
    for (size_t i = 0; i < g->n && rv == 0; i++) {
        const vt_arb_gnode *e = &g->node[i];
        rv = vt_arb_store_queue_rep(r, e->pk, &e->delta, n_queued, ei);
        if (rv == 0 && e->n_recent)
            rv = queue_recent_list(r, e, n_queued, ei);
    }
    g->n = 0;
    return rv;
}
