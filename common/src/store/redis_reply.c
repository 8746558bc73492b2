/* redis_reply.c - typed checks of hiredis replies (see vt_redis.h). */
#include "vt_redis.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *type_str(int t)
{
    switch (t) {
    case REDIS_REPLY_STRING: return "string";
    case REDIS_REPLY_ARRAY: return "array";
    case REDIS_REPLY_INTEGER: return "integer";
    case REDIS_REPLY_NIL: return "nil";
    case REDIS_REPLY_STATUS: return "status";
    case REDIS_REPLY_ERROR: return "error";
    default: return "unknown";
    }
}

static int wrong(const redisReply *r, const char *want, vt_errinfo *ei)
{
    return vt_fail(ei, VT_ERR_PROTO, "redis: expected %s reply, got %s", want,
                   r ? type_str(r->type) : "none");
}

int vt_redis_reply_ok(const redisReply *r, vt_errinfo *ei)
{
    if (r && (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING) &&
        r->len == 2 && memcmp(r->str, "OK", 2) == 0)
        return 0;
    return wrong(r, "OK", ei);
}

int vt_redis_reply_int(const redisReply *r, long long *out, vt_errinfo *ei)
{
    if (!r || r->type != REDIS_REPLY_INTEGER)
        return wrong(r, "integer", ei);
    *out = r->integer;
    return 0;
}

int vt_redis_reply_str(const redisReply *r, size_t max_len, const char **s,
                       size_t *len, vt_errinfo *ei)
{
    if (r && r->type == REDIS_REPLY_NIL)
        return vt_fail(ei, VT_ERR_NOTFOUND, "redis: nil reply");
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS))
        return wrong(r, "string", ei);
    if ((size_t)r->len > max_len)
        return vt_fail(ei, VT_ERR_TOOBIG, "redis: string of %lld bytes exceeds %zu",
                       (long long)r->len, max_len);
    *s = r->str;
    *len = (size_t)r->len;
    return 0;
}

int vt_redis_reply_strcpy(const redisReply *r, char *buf, size_t bufsz,
                          vt_errinfo *ei)
{
    const char *s = NULL;
    size_t n = 0;
    if (bufsz == 0)
        return vt_fail(ei, VT_ERR_INVAL, "redis: empty buffer");
    int rv = vt_redis_reply_str(r, bufsz - 1, &s, &n, ei);
    if (rv != 0)
        return rv;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return 0;
}

int vt_redis_reply_array(const redisReply *r, size_t max_elems, size_t *n,
                         vt_errinfo *ei)
{
    if (r && r->type == REDIS_REPLY_NIL)
        return vt_fail(ei, VT_ERR_NOTFOUND, "redis: nil array");
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return wrong(r, "array", ei);
    if (r->elements > max_elems)
        return vt_fail(ei, VT_ERR_TOOBIG, "redis: array of %zu elements exceeds %zu",
                       (size_t)r->elements, max_elems);
    if (r->elements > 0 && !r->element)
        return wrong(r, "array", ei);
    *n = r->elements;
    return 0;
}

int vt_redis_reply_ll(const redisReply *r, long long *out, vt_errinfo *ei)
{
    if (r && r->type == REDIS_REPLY_INTEGER) {
        *out = r->integer;
        return 0;
    }
    char buf[32];
    int rv = vt_redis_reply_strcpy(r, buf, sizeof(buf), ei);
    if (rv != 0)
        return rv == VT_ERR_TOOBIG ? vt_fail(ei, VT_ERR_PROTO, "redis: not an integer") : rv;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || end == buf || *end)
        return vt_fail(ei, VT_ERR_PROTO, "redis: '%s' is not an integer", buf);
    *out = v;
    return 0;
}
