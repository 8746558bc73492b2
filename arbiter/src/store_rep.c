/* store_rep.c - reputation counters and recent-job windows in Redis
 * (vt_arbiter.h, "store"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

static const char *const COUNTER_NAMES[VT_ARB_C__COUNT] = {
    "jobs", "verified", "failed", "verdicts", "overruled", "audits_passed", "audits_failed",
    "quarantines"};

const char *vt_arb_counter_name(vt_arb_counter c)
{
    return (unsigned)c < VT_ARB_C__COUNT ? COUNTER_NAMES[c] : "?";
}

void arb_pubhex(const uint8_t pk[VT_PUBKEY_BYTES], char hex[VT_NODE_ID_HEX + 1])
{
    vt_hex_encode(pk, VT_PUBKEY_BYTES, hex);
}

void arb_key(const char *kind, const uint8_t pk[VT_PUBKEY_BYTES], char key[ARB_KEY_MAX])
{
    char hex[VT_NODE_ID_HEX + 1];
    arb_pubhex(pk, hex);
    snprintf(key, ARB_KEY_MAX, "verity:%s:{%s}", kind, hex);
}

bool arb_parse_pubhex(const char *s, size_t len, uint8_t pk[VT_PUBKEY_BYTES])
{
    if (len != VT_NODE_ID_HEX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return vt_hex_decode(s, len, pk, VT_PUBKEY_BYTES) == 0;
}

void arb_clean_reason(const char *reason, char out[VT_ARB_REASON_MAX + 1])
{
    size_t n = 0;
    for (const char *p = reason; p && *p && n < VT_ARB_REASON_MAX; p++) {
        unsigned char c = (unsigned char)*p;
        out[n++] = c < 0x20 ? ' ' : c < 0x7f ? (char)c : '?';
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, VT_ARB_REASON_MAX + 1, "unspecified");
}

int arb_array_cmd(vt_redis *r, int argc, const char **argv, size_t max, size_t elem,
                  redisReply **rep, void **arr, size_t *m, vt_errinfo *ei)
{
    *arr = NULL;
    *m = 0;
    int rv = vt_redis_commandv(r, rep, ei, argc, argv, NULL);
    if (rv)
        return rv;
    rv = vt_redis_reply_array(*rep, max, m, ei);
    if (rv == 0 && *m > 0 && !(*arr = calloc(*m, elem)))
        rv = vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    if (rv) {
        freeReplyObject(*rep);
        *rep = NULL;
        *m = 0;
    }
    return rv;
}

int vt_arb_store_flush(vt_redis *r, size_t n, vt_errinfo *ei)
{
    if (n == 0)
        return 0;
    redisReply **rep = calloc(n, sizeof *rep);
    if (!rep)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory reading %zu replies", n);
    int rv = vt_redis_read_replies(r, rep, n, ei);
    for (size_t i = 0; rv == 0 && i < n; i++)
        if (rep[i]->type == REDIS_REPLY_ERROR)
            rv = vt_fail(ei, VT_ERR_INTERNAL, "redis: %.200s", rep[i]->str ? rep[i]->str : "error");
    vt_redis_free_replies(rep, n);
    free(rep);
    return rv;
}

int vt_arb_store_queue_rep(vt_redis *r, const uint8_t pk[VT_PUBKEY_BYTES], const vt_arb_rep *delta,
                           size_t *n_queued, vt_errinfo *ei)
{
    char key[ARB_KEY_MAX];
    arb_key("rep", pk, key);
    for (int c = 0; c < VT_ARB_C__COUNT; c++) {
        if (delta->c[c] == 0)
            continue;
        /* argv rather than a format string: hiredis formats the latter
         * piece by piece, and this runs several times per verified job. */
        char num[24];
        snprintf(num, sizeof num, "%lld", (long long)delta->c[c]);
        const char *argv[] = {"HINCRBY", key, COUNTER_NAMES[c], num};
        int rv = vt_redis_appendv(r, ei, 4, argv, NULL);
        if (rv)
            return rv;
        (*n_queued)++;
    }
    return 0;
}

int vt_arb_store_add_rep(vt_redis *r, const uint8_t pk[VT_PUBKEY_BYTES], const vt_arb_rep *delta,
                         vt_errinfo *ei)
{
    size_t n = 0;
    int rv = vt_arb_store_queue_rep(r, pk, delta, &n, ei);
    int fr = vt_arb_store_flush(r, n, rv ? NULL : ei); /* never leave replies unread */
    return rv ? rv : fr;
}

int vt_arb_store_get_reps(vt_redis *r, const uint8_t (*pks)[VT_PUBKEY_BYTES], size_t n,
                          vt_arb_rep *out, vt_errinfo *ei)
{
    memset(out, 0, n * sizeof *out);
    if (n == 0)
        return 0;
    size_t queued = 0;
    int rv = 0;
    for (size_t i = 0; i < n && rv == 0; i++) {
        char key[ARB_KEY_MAX];
        arb_key("rep", pks[i], key);
        const char *argv[2 + VT_ARB_C__COUNT] = {"HMGET", key};
        for (int c = 0; c < VT_ARB_C__COUNT; c++)
            argv[2 + c] = COUNTER_NAMES[c];
        rv = vt_redis_appendv(r, ei, 2 + VT_ARB_C__COUNT, argv, NULL);
        if (rv == 0)
            queued++;
    }
    redisReply **rep = calloc(queued ? queued : 1, sizeof *rep);
    if (!rep)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    int rr = vt_redis_read_replies(r, rep, queued, rv ? NULL : ei);
    if (rv == 0)
        rv = rr;
    for (size_t i = 0; rv == 0 && i < queued; i++) {
        size_t m;
        rv = vt_redis_reply_array(rep[i], VT_ARB_C__COUNT, &m, ei);
        if (rv == 0 && m != VT_ARB_C__COUNT)
            rv = vt_fail(ei, VT_ERR_PROTO, "redis: HMGET returned %zu fields", m);
        for (size_t c = 0; rv == 0 && c < m; c++) {
            long long v = 0;
            if (rep[i]->element[c]->type != REDIS_REPLY_NIL &&
                vt_redis_reply_ll(rep[i]->element[c], &v, NULL) != 0)
                v = 0; /* a counter someone overwrote by hand: show 0, keep going */
            out[i].c[c] = v;
        }
    }
    vt_redis_free_replies(rep, queued);
    free(rep);
    return rv;
}

/* ---- recent jobs ------------------------------------------------------- */

/* Queue what g gathered for one event (even after an error, like the
 * per-command calls left queued what they had appended); rv first. */
static int queue_gathered(vt_arb_gather *g, vt_redis *r, int rv, size_t *n_queued,
                          vt_errinfo *ei)
{
    int qv = vt_arb_gather_queue(g, r, n_queued, rv ? NULL : ei);
    vt_arb_gather_free(g);
    return rv ? rv : qv;
}

int vt_arb_store_queue_recent(vt_redis *r, const uint8_t pk[VT_PUBKEY_BYTES], const char *job_id,
                              uint32_t window, size_t *n_queued, vt_errinfo *ei)
{
    vt_arb_gather g;
    vt_arb_gather_init(&g);
    int rv = vt_arb_gather_recent(&g, pk, job_id, window, ei);
    return queue_gathered(&g, r, rv, n_queued, ei);
}

int vt_arb_store_add_recent(vt_redis *r, const uint8_t pk[VT_PUBKEY_BYTES], const char *job_id,
                            uint32_t window, vt_errinfo *ei)
{
    size_t n = 0;
    int rv = vt_arb_store_queue_recent(r, pk, job_id, window, &n, ei);
    int fr = vt_arb_store_flush(r, n, rv ? NULL : ei);
    return rv ? rv : fr;
}

int vt_arb_store_recent(vt_redis *r, const uint8_t pk[VT_PUBKEY_BYTES], uint32_t max,
                        char (**ids)[VT_JOB_ID_MAX + 1], size_t *n, vt_errinfo *ei)
{
    *ids = NULL;
    *n = 0;
    if (max == 0)
        return 0;
    if (max > VT_ARB_RECENT_MAX)
        max = VT_ARB_RECENT_MAX;
    char key[ARB_KEY_MAX], stop[16];
    arb_key("recent", pk, key);
    snprintf(stop, sizeof stop, "%u", max - 1);
    const char *argv[] = {"LRANGE", key, "0", stop};
    redisReply *rep;
    size_t m = 0;
    void *arr;
    int rv = arb_array_cmd(r, 4, argv, max, sizeof **ids, &rep, &arr, &m, ei);
    if (rv)
        return rv;
    *ids = arr;
    for (size_t i = 0; rv == 0 && i < m; i++) {
        const char *s;
        size_t len;
        if (vt_redis_reply_str(rep->element[i], VT_JOB_ID_MAX, &s, &len, NULL) != 0 ||
            !vt_ident_valid(s, len, VT_JOB_ID_MAX))
            continue; /* not ours: skip */
        memcpy((*ids)[*n], s, len);
        (*ids)[*n][len] = '\0';
        (*n)++;
    }
    freeReplyObject(rep);
    if (rv || *n == 0) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rv;
}

/* ---- one event's effects: gathered (store_gather.c), then queued ------- */

int vt_arb_store_queue_decision(vt_redis *r, const uint8_t worker_pk[VT_PUBKEY_BYTES],
                                const char *job_id, const vt_arb_tally *t,
                                const vt_arb_decision *d, int64_t now_ms, size_t *n_queued,
                                vt_errinfo *ei)
{
    vt_arb_gather g;
    vt_arb_gather_init(&g);
    int rv = vt_arb_gather_decision(&g, r, worker_pk, job_id, t, d, now_ms, n_queued, ei);
    return queue_gathered(&g, r, rv, n_queued, ei);
}

int vt_arb_store_queue_result(vt_redis *r, const uint8_t worker_pk[VT_PUBKEY_BYTES],
                              const char *job_id, uint32_t window, size_t *n_queued,
                              vt_errinfo *ei)
{
    vt_arb_gather g;
    vt_arb_gather_init(&g);
    int rv = vt_arb_gather_result(&g, worker_pk, job_id, window, ei);
    return queue_gathered(&g, r, rv, n_queued, ei);
}

int vt_arb_store_queue_audit(vt_redis *r, const uint8_t verifier_pk[VT_PUBKEY_BYTES],
                             const char *job_id, bool expected_pass, vt_arb_audit_result res,
                             int64_t now_ms, size_t *n_queued, vt_errinfo *ei)
{
    vt_arb_gather g;
    vt_arb_gather_init(&g);
    int rv = vt_arb_gather_audit(&g, r, verifier_pk, job_id, expected_pass, res, now_ms,
                                 n_queued, ei);
    return queue_gathered(&g, r, rv, n_queued, ei);
}
