/* store_quarantine.c - quarantine set, release, history (vt_arbiter.h,
 * "store"). Quarantine and release are Lua scripts so that each is atomic
 * and a retried command changes nothing the second time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

/* KEYS: set, info hash, rep hash, epoch, history.
 * ARGV: pubhex, reason, now_ms, history cap. Returns 1 if newly added. */
static const char QUARANTINE_LUA[] =
    "if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end "
    "redis.call('HSET', KEYS[2], 'reason', ARGV[2], 'since_ms', ARGV[3]) "
    "redis.call('HINCRBY', KEYS[3], 'quarantines', 1) "
    "redis.call('INCR', KEYS[4]) "
    "redis.call('LPUSH', KEYS[5], ARGV[3] .. '\\tquarantine\\t' .. ARGV[1] .. '\\t' .. ARGV[2]) "
    "redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[4]) - 1) "
    "return 1";

/* Same keys and arguments. Returns 1 if it was quarantined. */
static const char RELEASE_LUA[] =
    "if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end "
    "redis.call('DEL', KEYS[2]) "
    "redis.call('INCR', KEYS[4]) "
    "redis.call('LPUSH', KEYS[5], ARGV[3] .. '\\trelease\\t' .. ARGV[1] .. '\\t' .. ARGV[2]) "
    "redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[4]) - 1) "
    "return 1";

static int append_script(vt_redis *r, const char *script, const uint8_t pk[VT_PUBKEY_BYTES],
                         const char *reason, int64_t now_ms, vt_errinfo *ei)
{
    char hex[VT_NODE_ID_HEX + 1], info[ARB_KEY_MAX], rep[ARB_KEY_MAX];
    char why[VT_ARB_REASON_MAX + 1], now[32], cap[16];
    arb_pubhex(pk, hex);
    arb_key("quarantine", pk, info);
    arb_key("rep", pk, rep);
    arb_clean_reason(reason, why);
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    snprintf(cap, sizeof cap, "%d", VT_ARB_HISTORY_MAX);
    const char *argv[] = {"EVAL", script, "5", ARB_QSET, info, rep, ARB_QEPOCH, ARB_QHISTORY,
                          hex, why, now, cap};
    return vt_redis_appendv(r, ei, (int)(sizeof argv / sizeof argv[0]), argv, NULL);
}

/* Run a script now; *result = its integer reply. */
static int run_script(vt_redis *r, const char *script, const uint8_t pk[VT_PUBKEY_BYTES],
                      const char *reason, int64_t now_ms, long long *result, vt_errinfo *ei)
{
    int rv = append_script(r, script, pk, reason, now_ms, ei);
    if (rv)
        return rv;
    redisReply *rep = NULL;
    rv = vt_redis_read_replies(r, &rep, 1, ei);
    if (rv)
        return rv;
    if (rep->type == REDIS_REPLY_ERROR)
        rv = vt_fail(ei, VT_ERR_INTERNAL, "redis: %.200s", rep->str ? rep->str : "error");
    else
        rv = vt_redis_reply_int(rep, result, ei);
    freeReplyObject(rep);
    return rv;
}

int vt_arb_store_queue_quarantine(vt_redis *r, const uint8_t pk[VT_PUBKEY_BYTES], const char *reason,
                                  int64_t now_ms, size_t *n_queued, vt_errinfo *ei)
{
    int rv = append_script(r, QUARANTINE_LUA, pk, reason, now_ms, ei);
    if (rv == 0)
        (*n_queued)++;
    return rv;
}

int vt_arb_store_quarantine(vt_redis *r, const uint8_t pk[VT_PUBKEY_BYTES], const char *reason,
                            int64_t now_ms, bool *newly, vt_errinfo *ei)
{
    long long added = 0;
    int rv = run_script(r, QUARANTINE_LUA, pk, reason, now_ms, &added, ei);
    if (newly)
        *newly = rv == 0 && added == 1;
    return rv;
}

int vt_arb_store_release(vt_redis *r, const uint8_t pk[VT_PUBKEY_BYTES], const char *reason,
                         int64_t now_ms, vt_errinfo *ei)
{
    long long removed = 0;
    int rv = run_script(r, RELEASE_LUA, pk, reason, now_ms, &removed, ei);
    if (rv == 0 && removed != 1) {
        char id[VT_NODE_ID_SHORT + 1];
        vt_node_id_short(pk, id);
        return vt_fail(ei, VT_ERR_NOTFOUND, "node %s... is not quarantined", id);
    }
    return rv;
}

int vt_arb_store_is_quarantined(vt_redis *r, const uint8_t pk[VT_PUBKEY_BYTES], bool *out,
                                vt_errinfo *ei)
{
    char hex[VT_NODE_ID_HEX + 1];
    arb_pubhex(pk, hex);
    redisReply *rep;
    *out = false;
    int rv = vt_redis_command(r, &rep, ei, "SISMEMBER %s %s", ARB_QSET, hex);
    if (rv)
        return rv;
    long long v = 0;
    rv = vt_redis_reply_int(rep, &v, ei);
    freeReplyObject(rep);
    *out = rv == 0 && v == 1;
    return rv;
}

int vt_arb_store_quarantine_epoch(vt_redis *r, int64_t *out, vt_errinfo *ei)
{
    redisReply *rep;
    *out = 0;
    int rv = vt_redis_command(r, &rep, ei, "GET %s", ARB_QEPOCH);
    if (rv)
        return rv;
    long long v = 0;
    if (rep->type != REDIS_REPLY_NIL)
        rv = vt_redis_reply_ll(rep, &v, ei);
    freeReplyObject(rep);
    *out = v;
    return rv;
}

static int cmp_qinfo(const void *a, const void *b)
{
    return memcmp(((const vt_arb_qinfo *)a)->pk, ((const vt_arb_qinfo *)b)->pk, VT_PUBKEY_BYTES);
}

#define ARB_QSET_MAX (1u << 20) /* more quarantined nodes than that: the set is not ours */

int vt_arb_store_load_quarantined(vt_redis *r, vt_arb_qinfo **out, size_t *n, vt_errinfo *ei)
{
    *out = NULL;
    *n = 0;
    const char *argv[] = {"SMEMBERS", ARB_QSET};
    redisReply *members;
    size_t m = 0;
    void *arr;
    int rv = arb_array_cmd(r, 2, argv, ARB_QSET_MAX, sizeof(vt_arb_qinfo), &members, &arr, &m, ei);
    if (rv)
        return rv;
    vt_arb_qinfo *q = arr;
    /* Valid members only; their info hashes in one round trip. */
    size_t k = 0;
    for (size_t i = 0; rv == 0 && i < m; i++) {
        const redisReply *e = members->element[i];
        if (e->type != REDIS_REPLY_STRING || !arb_parse_pubhex(e->str, e->len, q[k].pk))
            continue;
        char info[ARB_KEY_MAX];
        arb_key("quarantine", q[k].pk, info);
        rv = vt_redis_append(r, ei, "HMGET %s reason since_ms", info);
        if (rv == 0)
            k++;
    }
    freeReplyObject(members);
    redisReply **rep = NULL;
    if (k > 0 && !(rep = calloc(k, sizeof *rep))) {
        /* The queued replies must still be read before the connection is reused. */
        vt_arb_store_flush(r, k, NULL);
        rv = vt_fail(ei, VT_ERR_NOMEM, "out of memory");
        k = 0;
    }
    if (k > 0) {
        int rr = vt_redis_read_replies(r, rep, k, rv ? NULL : ei);
        if (rv == 0)
            rv = rr;
    }
    for (size_t i = 0; rv == 0 && i < k; i++) {
        size_t f = 0;
        if (vt_redis_reply_array(rep[i], 2, &f, NULL) != 0 || f != 2)
            continue; /* leave reason empty, since 0 */
        if (vt_redis_reply_strcpy(rep[i]->element[0], q[i].reason, sizeof q[i].reason, NULL) != 0)
            q[i].reason[0] = '\0';
        long long since = 0;
        if (vt_redis_reply_ll(rep[i]->element[1], &since, NULL) == 0)
            q[i].since_ms = since;
    }
    if (rep) {
        vt_redis_free_replies(rep, k);
        free(rep);
    }
    if (rv || k == 0) {
        free(q);
        return rv;
    }
    qsort(q, k, sizeof *q, cmp_qinfo);
    *out = q;
    *n = k;
    return 0;
}

/* "ms<TAB>action<TAB>pubhex<TAB>reason" -> h; false if malformed. */
static bool parse_history(const char *s, size_t len, vt_arb_history *h)
{
    memset(h, 0, sizeof *h);
    const char *end = s + len, *t1 = memchr(s, '\t', len);
    if (!t1)
        return false;
    const char *t2 = memchr(t1 + 1, '\t', (size_t)(end - t1 - 1));
    if (!t2)
        return false;
    const char *t3 = memchr(t2 + 1, '\t', (size_t)(end - t2 - 1));
    if (!t3)
        return false;
    long long ms = 0;
    for (const char *p = s; p < t1; p++) {
        if (*p < '0' || *p > '9' || ms > (INT64_MAX - 9) / 10)
            return false;
        ms = ms * 10 + (*p - '0');
    }
    size_t alen = (size_t)(t2 - t1 - 1);
    if (alen == 7 && memcmp(t1 + 1, "release", 7) == 0)
        h->release = true;
    else if (!(alen == 10 && memcmp(t1 + 1, "quarantine", 10) == 0))
        return false;
    if (!arb_parse_pubhex(t2 + 1, (size_t)(t3 - t2 - 1), h->pk))
        return false;
    size_t rlen = (size_t)(end - t3 - 1);
    if (rlen > VT_ARB_REASON_MAX)
        rlen = VT_ARB_REASON_MAX;
    memcpy(h->reason, t3 + 1, rlen);
    h->reason[rlen] = '\0';
    h->ms = ms;
    return true;
}

int vt_arb_store_history(vt_redis *r, uint32_t max, vt_arb_history **out, size_t *n,
                         vt_errinfo *ei)
{
    *out = NULL;
    *n = 0;
    if (max == 0)
        return 0;
    if (max > VT_ARB_HISTORY_MAX)
        max = VT_ARB_HISTORY_MAX;
    char stop[16];
    snprintf(stop, sizeof stop, "%u", max - 1);
    const char *argv[] = {"LRANGE", ARB_QHISTORY, "0", stop};
    redisReply *rep;
    size_t m = 0;
    void *arr;
    int rv = arb_array_cmd(r, 4, argv, max, sizeof(vt_arb_history), &rep, &arr, &m, ei);
    if (rv)
        return rv;
    vt_arb_history *h = arr;
    size_t k = 0;
    for (size_t i = 0; rv == 0 && i < m; i++) {
        const redisReply *e = rep->element[i];
        if (e->type == REDIS_REPLY_STRING && parse_history(e->str, e->len, &h[k]))
            k++;
    }
    freeReplyObject(rep);
    if (rv || k == 0) {
        free(h);
        return rv;
    }
    *out = h;
    *n = k;
    return 0;
}
