/* redis.c - blocking hiredis connection with timeouts, reconnect and
 * pipelining (see vt_redis.h). One vt_redis per thread. */
#include "vt_redis.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

struct vt_redis {
    redisContext *c; /* NULL while broken */
    vt_redis_url url;
    int connect_timeout_ms;
    int cmd_timeout_ms;
    size_t pending; /* appended commands whose replies are not read yet */
    char *resp;      /* vt_redis_appendv's RESP buffer, kept across commands */
    size_t resp_cap;
};

static struct timeval tv_of(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

static void drop(vt_redis *r)
{
    if (r->c)
        redisFree(r->c);
    r->c = NULL;
    r->pending = 0;
}

static const char *where(const vt_redis *r, char *buf, size_t n)
{
    if (r->url.kind == VT_REDIS_UNIX)
        snprintf(buf, n, "%s", r->url.path);
    else
        snprintf(buf, n, "%s:%d", r->url.host, r->url.port);
    return buf;
}

/* Errors the server raises when it cannot serve right now (as opposed to
 * our command being wrong). */
static bool transient_error(const char *msg)
{
    static const char *const prefixes[] = {"LOADING", "BUSY", "MASTERDOWN",
                                           "TRYAGAIN", "OOM", "READONLY",
                                           "NOREPLICAS", "CLUSTERDOWN"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (strncmp(msg, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

/* Take ownership of a reply from a one-shot command: error replies become
 * codes. Sets *out only on success. */
static int take_reply(vt_redis *r, redisReply *rep, redisReply **out,
                      vt_errinfo *ei)
{
    char w[300];
    if (!rep) {
        int rv = vt_fail(ei, VT_ERR_UNAVAILABLE, "redis %s: %s", where(r, w, sizeof(w)),
                         r->c && r->c->errstr[0] ? r->c->errstr : "connection lost");
        drop(r);
        return rv;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        const char *msg = rep->str ? rep->str : "";
        int code = transient_error(msg) ? VT_ERR_UNAVAILABLE : VT_ERR_INTERNAL;
        vt_fail(ei, code, "redis %s: %.200s", where(r, w, sizeof(w)), msg);
        freeReplyObject(rep);
        return code;
    }
    if (out)
        *out = rep;
    else
        freeReplyObject(rep);
    return 0;
}

static int do_connect(vt_redis *r, vt_errinfo *ei)
{
    char w[300];
    drop(r);
    struct timeval ctv = tv_of(r->connect_timeout_ms);
    redisContext *c = r->url.kind == VT_REDIS_UNIX
                          ? redisConnectUnixWithTimeout(r->url.path, ctv)
                          : redisConnectWithTimeout(r->url.host, r->url.port, ctv);
    if (!c)
        return vt_fail(ei, VT_ERR_NOMEM, "redis: out of memory");
    if (c->err) {
        int rv = vt_fail(ei, VT_ERR_UNAVAILABLE, "redis %s: connect: %s", where(r, w, sizeof(w)), c->errstr);
        redisFree(c);
        return rv;
    }
    if (redisSetTimeout(c, tv_of(r->cmd_timeout_ms)) != REDIS_OK) {
        redisFree(c);
        return vt_fail(ei, VT_ERR_UNAVAILABLE, "redis %s: cannot set timeout", where(r, w, sizeof(w)));
    }
    r->c = c;
    if (r->url.password[0]) {
        redisReply *rep = redisCommand(c, "AUTH %s", r->url.password);
        int rv = take_reply(r, rep, NULL, ei);
        if (rv == VT_ERR_INTERNAL) {
            drop(r);
            return vt_fail(ei, VT_ERR_AUTH, "redis %s: AUTH refused", where(r, w, sizeof(w)));
        }
        if (rv != 0) {
            drop(r);
            return rv;
        }
    }
    if (r->url.db != 0) {
        redisReply *rep = redisCommand(c, "SELECT %d", r->url.db);
        int rv = take_reply(r, rep, NULL, ei);
        if (rv != 0) {
            drop(r);
            return rv;
        }
    }
    return 0;
}

int vt_redis_connect(vt_redis **out, const char *url, int connect_timeout_ms,
                     int cmd_timeout_ms, vt_errinfo *ei)
{
    *out = NULL;
    if (connect_timeout_ms <= 0 || cmd_timeout_ms <= 0)
        return vt_fail(ei, VT_ERR_INVAL, "redis: timeouts must be > 0");
    vt_redis *r = calloc(1, sizeof(*r));
    if (!r)
        return vt_fail(ei, VT_ERR_NOMEM, "redis: out of memory");
    int rv = vt_redis_url_parse(url, &r->url, ei);
    if (rv != 0) {
        free(r);
        return rv;
    }
    r->connect_timeout_ms = connect_timeout_ms;
    r->cmd_timeout_ms = cmd_timeout_ms;
    rv = do_connect(r, ei);
    if (rv == VT_ERR_NOMEM) {
        free(r);
        return rv;
    }
    *out = r; /* also on UNAVAILABLE/AUTH: a broken handle that can retry */
    return rv;
}

void vt_redis_close(vt_redis *r)
{
    if (!r)
        return;
    drop(r);
    memset(r->url.password, 0, sizeof(r->url.password));
    free(r->resp);
    free(r);
}

int vt_redis_reconnect(vt_redis *r, vt_errinfo *ei)
{
    return do_connect(r, ei);
}

bool vt_redis_broken(const vt_redis *r)
{
    return !r || !r->c || r->c->err != 0;
}

redisContext *vt_redis_ctx(vt_redis *r)
{
    return vt_redis_broken(r) ? NULL : r->c;
}

/* Connected and not in the middle of a pipeline. */
static int ready_for_command(vt_redis *r, vt_errinfo *ei)
{
    if (r->pending)
        return vt_fail(ei, VT_ERR_INTERNAL, "redis: %zu pipelined replies not read", r->pending);
    if (vt_redis_broken(r))
        return do_connect(r, ei);
    return 0;
}

int vt_redis_command(vt_redis *r, redisReply **reply, vt_errinfo *ei,
                     const char *fmt, ...)
{
    if (reply)
        *reply = NULL;
    int rv = ready_for_command(r, ei);
    if (rv != 0)
        return rv;
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(r->c, fmt, ap);
    va_end(ap);
    return take_reply(r, rep, reply, ei);
}

int vt_redis_commandv(vt_redis *r, redisReply **reply, vt_errinfo *ei,
                      int argc, const char **argv, const size_t *argvlen)
{
    if (reply)
        *reply = NULL;
    int rv = ready_for_command(r, ei);
    if (rv != 0)
        return rv;
    redisReply *rep = redisCommandArgv(r->c, argc, argv, argvlen);
    return take_reply(r, rep, reply, ei);
}

int vt_redis_ping(vt_redis *r, vt_errinfo *ei)
{
    redisReply *rep;
    int rv = vt_redis_command(r, &rep, ei, "PING");
    if (rv != 0)
        return rv == VT_ERR_INTERNAL ? VT_ERR_UNAVAILABLE : rv;
    freeReplyObject(rep);
    return 0;
}

static int before_append(vt_redis *r, vt_errinfo *ei)
{
    /* Reconnect only between batches: mid-batch, earlier commands would be
     * lost silently. */
    if (vt_redis_broken(r)) {
        if (r->pending) {
            r->pending = 0;
            return vt_fail(ei, VT_ERR_UNAVAILABLE, "redis: connection lost in a pipeline");
        }
        return do_connect(r, ei);
    }
    return 0;
}

int vt_redis_append(vt_redis *r, vt_errinfo *ei, const char *fmt, ...)
{
    int rv = before_append(r, ei);
    if (rv != 0)
        return rv;
    va_list ap;
    va_start(ap, fmt);
    int hr = redisvAppendCommand(r->c, fmt, ap);
    va_end(ap);
    if (hr != REDIS_OK)
        return vt_fail(ei, VT_ERR_INVAL, "redis: cannot format command");
    r->pending++;
    return 0;
}

/* "<kind><n>\r\n" at w; returns its length (at most 23). */
static size_t resp_header(char *w, char kind, size_t n)
{
    char digits[20];
    int k = 0;
    do {
        digits[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    size_t len = 0;
    w[len++] = kind;
    while (k)
        w[len++] = digits[--k];
    w[len++] = '\r';
    w[len++] = '\n';
    return len;
}

int vt_redis_appendv(vt_redis *r, vt_errinfo *ei, int argc, const char **argv,
                     const size_t *argvlen)
{
    int rv = before_append(r, ei);
    if (rv != 0)
        return rv;
    /* RESP written here, then queued as is: hiredis's redisAppendCommandArgv
     * builds a fresh sds per command with one sdscatfmt per argument, ~5% of
     * the scheduler's instructions under load (the journal queues several
     * commands per job). */
    size_t need = 16;
    for (int i = 0; i < argc; i++)
        need += 1 + 20 + 2 + (argvlen ? argvlen[i] : strlen(argv[i])) + 2;
    if (need > r->resp_cap) {
        char *p = realloc(r->resp, need);
        if (!p)
            return vt_fail(ei, VT_ERR_NOMEM, "redis: cannot queue command");
        r->resp = p;
        r->resp_cap = need;
    }
    char *w = r->resp;
    w += resp_header(w, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        size_t len = argvlen ? argvlen[i] : strlen(argv[i]);
        w += resp_header(w, '$', len);
        memcpy(w, argv[i], len);
        w += len;
        *w++ = '\r';
        *w++ = '\n';
    }
    if (redisAppendFormattedCommand(r->c, r->resp, (size_t)(w - r->resp)) != REDIS_OK)
        return vt_fail(ei, VT_ERR_NOMEM, "redis: cannot queue command");
    r->pending++;
    return 0;
}

size_t vt_redis_pending(const vt_redis *r)
{
    return r->pending;
}

void vt_redis_free_replies(redisReply **replies, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (replies[i])
            freeReplyObject(replies[i]);
        replies[i] = NULL;
    }
}

int vt_redis_read_replies(vt_redis *r, redisReply **replies, size_t n,
                          vt_errinfo *ei)
{
    for (size_t i = 0; i < n; i++)
        replies[i] = NULL;
    if (n > r->pending)
        return vt_fail(ei, VT_ERR_INTERNAL, "redis: reading %zu replies, %zu pending", n, r->pending);
    for (size_t i = 0; i < n; i++) {
        void *rep = NULL;
        if (vt_redis_broken(r) || redisGetReply(r->c, &rep) != REDIS_OK || !rep) {
            char w[300];
            vt_fail(ei, VT_ERR_UNAVAILABLE, "redis %s: %s", where(r, w, sizeof(w)),
                    r->c && r->c->errstr[0] ? r->c->errstr : "connection lost");
            vt_redis_free_replies(replies, i);
            drop(r);
            return VT_ERR_UNAVAILABLE;
        }
        replies[i] = rep;
        r->pending--;
    }
    return 0;
}
