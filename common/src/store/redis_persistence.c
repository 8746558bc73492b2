/* redis_persistence.c - read Redis's AOF settings (see vt_redis.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_log.h"
#include "vt_redis.h"

/* CONFIG GET name into buf: one setting per call, which Redis before 7.0
 * (an external Redis may be older) also answers. */
static int config_get(vt_redis *r, const char *name, char *buf, size_t cap, vt_errinfo *ei)
{
    redisReply *rep = NULL;
    vt_errinfo ce = {0};
    int rv = vt_redis_command(r, &rep, &ce, "CONFIG GET %s", name);
    if (rv == VT_ERR_INTERNAL) /* an error reply: CONFIG renamed, forbidden, unknown */
        return vt_fail(ei, VT_ERR_DENIED, "refused CONFIG GET %s (%s)", name,
                       vt_errinfo_msg(&ce));
    if (rv && ei)
        *ei = ce;
    if (rv)
        return rv;
    size_t n = 0;
    rv = vt_redis_reply_array(rep, 2, &n, ei);
    if (rv == 0 && n != 2)
        rv = vt_fail(ei, VT_ERR_PROTO, "redis: CONFIG GET %s answered %zu elements", name, n);
    if (rv == 0)
        rv = vt_redis_reply_strcpy(rep->element[1], buf, cap, ei);
    freeReplyObject(rep);
    return rv;
}

int vt_redis_persistence_get(vt_redis *r, vt_redis_persistence *out, vt_errinfo *ei)
{
    char aof[8], fsync[sizeof out->fsync], hz[12];
    int rv = config_get(r, "appendonly", aof, sizeof aof, ei);
    if (rv == 0)
        rv = config_get(r, "appendfsync", fsync, sizeof fsync, ei);
    if (rv == 0)
        rv = config_get(r, "hz", hz, sizeof hz, ei);
    if (rv)
        return rv;
    char *end;
    long h = strtol(hz, &end, 10);
    if ((strcmp(aof, "yes") && strcmp(aof, "no")) || *end || end == hz || h < 1 || h > 500 ||
        (strcmp(fsync, "always") && strcmp(fsync, "everysec") && strcmp(fsync, "no")))
        return vt_fail(ei, VT_ERR_PROTO,
                       "redis: unexpected settings appendonly=%s appendfsync=%s hz=%s", aof, fsync,
                       hz);
    memset(out, 0, sizeof *out);
    out->aof = strcmp(aof, "yes") == 0;
    snprintf(out->fsync, sizeof out->fsync, "%s", fsync);
    out->hz = (int)h;
    return 0;
}

static bool seen_same(const vt_redis_persistence_seen *seen, int rv,
                      const vt_redis_persistence *p)
{
    if (!seen || !seen->any || seen->rv != rv)
        return false;
    return rv != 0 || (seen->p.aof == p->aof && seen->p.hz == p->hz &&
                       strcmp(seen->p.fsync, p->fsync) == 0);
}

int vt_redis_persistence_log(vt_redis *r, vt_log *log, const char *what, bool hz_hint,
                             vt_redis_persistence_seen *seen, int *durable, vt_errinfo *ei)
{
    *durable = -1;
    vt_redis_persistence p;
    memset(&p, 0, sizeof p);
    vt_errinfo e = {0};
    int rv = vt_redis_persistence_get(r, &p, &e);
    if (rv == VT_ERR_UNAVAILABLE || rv == VT_ERR_NOMEM) {
        if (ei)
            *ei = e;
        return rv;
    }
    if (rv == 0)
        *durable = p.aof && strcmp(p.fsync, "always") == 0;
    if (seen_same(seen, rv, &p))
        return 0;
    if (seen)
        *seen = (vt_redis_persistence_seen){.any = true, .rv = rv, .p = p};
    if (rv) {
        vt_log_warn(log, "redis.durability",
                    "cannot read Redis's persistence settings (%s): %s are safe only with "
                    "appendonly yes and appendfsync always",
                    vt_errinfo_msg(&e), what);
        return 0;
    }
    vt_log_info(log, "redis.persistence", "Redis appendonly=%s appendfsync=%s hz=%d",
                p.aof ? "yes" : "no", p.fsync, p.hz);
    if (!p.aof)
        vt_log_warn(log, "redis.durability",
                    "Redis runs without its AOF (appendonly no): %s since its last snapshot are "
                    "lost when it restarts; set appendonly yes, appendfsync always",
                    what);
    else if (*durable != 1)
        vt_log_warn(log, "redis.durability",
                    "Redis fsyncs its AOF %s (appendfsync %s): a machine crash can lose %s; "
                    "appendfsync always loses none",
                    strcmp(p.fsync, "everysec") == 0 ? "once a second" : "when the OS decides",
                    p.fsync, what);
    /* Redis's expire cycle may take 25% of each 1000/hz ms tick. */
    if (hz_hint && p.hz < 100)
        vt_log_info(log, "redis.latency",
                    "Redis hz=%d: expired keys are deleted in steps of up to %d ms, which delay "
                    "requests; hz 100 keeps them at 2.5 ms (docs/operations.md)",
                    p.hz, 250 / p.hz);
    return 0;
}
