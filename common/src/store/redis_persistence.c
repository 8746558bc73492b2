/* redis_persistence.c - read Redis's AOF settings (see vt_redis.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_redis.h"

/* CONFIG GET name into buf: one setting per call, which Redis before 7.0
 * (an external Redis may be older) also answers. */
static int config_get(vt_redis *r, const char *name, char *buf, size_t cap, vt_errinfo *ei)
{
    redisReply *rep = NULL;
    int rv = vt_redis_command(r, &rep, ei, "CONFIG GET %s", name);
    if (rv == VT_ERR_INTERNAL) /* an error reply: CONFIG renamed, forbidden, unknown */
        return vt_fail(ei, VT_ERR_DENIED, "redis refused CONFIG GET %s: %s", name,
                       vt_errinfo_msg(ei));
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
        return vt_fail(ei, VT_ERR_PROTO, "redis: unexpected settings appendonly=%s appendfsync=%s hz=%s",
                       aof, fsync, hz);
    memset(out, 0, sizeof *out);
    out->aof = strcmp(aof, "yes") == 0;
    snprintf(out->fsync, sizeof out->fsync, "%s", fsync);
    out->hz = (int)h;
    return 0;
}
