/* vt_redis.h - Redis connections for Verity (target vt_store).
 *
 * A thin layer over hiredis 0.14.1 blocking contexts that adds: URL parsing
 * with clear errors, connect + per-command timeouts, automatic reconnect on
 * the next command after an I/O error, typed reply checks, and pipelining.
 *
 * THREADS: a vt_redis (like the hiredis context inside it) is NOT
 * thread-safe. Each thread opens and owns its own connection; never share
 * one between threads, not even under a lock held across a pipeline.
 *
 * Failure semantics: an I/O error or timeout returns VT_ERR_UNAVAILABLE and
 * marks the connection broken; the next command (or vt_redis_reconnect)
 * reconnects. A command that failed this way may or may not have been
 * executed by the server: make writes idempotent or check afterwards.
 *
 * URLs:
 *   redis://host:port[/db]         port 1..65535, db 0..15 (default 0)
 *   redis://host[/db]              port 6379
 *   redis://:password@host:port[/db]   sends AUTH password
 *   unix:///path/to/redis.sock[?db=N]
 */
#ifndef VT_REDIS_H
#define VT_REDIS_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "vt_err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vt_redis_kind {
    VT_REDIS_TCP = 1,
    VT_REDIS_UNIX = 2
} vt_redis_kind;

typedef struct vt_redis_url {
    vt_redis_kind kind;
    char host[256];     /* TCP */
    int port;           /* TCP */
    char path[108];     /* UNIX (sun_path size) */
    int db;             /* 0..15 */
    char password[128]; /* "" if none */
} vt_redis_url;

/* Returns 0 or VT_ERR_INVAL with a detail ("redis URL 'x': port must be
 * 1..65535"). */
int vt_redis_url_parse(const char *url, vt_redis_url *out, vt_errinfo *ei);

/* Adapter for vt_opt.check (vt_config.h): validates a Redis URL. */
int vt_redis_url_check(const char *url, vt_errinfo *ei);

typedef struct vt_redis vt_redis;

/* Connect (TCP or unix socket), AUTH and SELECT as the URL says.
 * connect_timeout_ms bounds the connect; cmd_timeout_ms bounds every later
 * read/write (redisSetTimeout). Both must be > 0.
 * Returns 0, VT_ERR_INVAL (bad URL), VT_ERR_UNAVAILABLE (cannot connect;
 * on this error *out is still a valid, broken handle that the next command
 * or vt_redis_reconnect will retry; free it with vt_redis_close),
 * VT_ERR_AUTH (AUTH refused) or VT_ERR_NOMEM (*out NULL). */
int vt_redis_connect(vt_redis **out, const char *url, int connect_timeout_ms,
                     int cmd_timeout_ms, vt_errinfo *ei);
void vt_redis_close(vt_redis *r); /* NULL is fine */

/* Drop the current connection (if any) and connect again. */
int vt_redis_reconnect(vt_redis *r, vt_errinfo *ei);

/* True when the last operation left the connection unusable. */
bool vt_redis_broken(const vt_redis *r);

/* The hiredis context (NULL while broken) for calls not wrapped here. */
redisContext *vt_redis_ctx(vt_redis *r);

/* Run one command (printf-style as redisCommand: %s, %b (ptr,len), %d...).
 * On 0, *reply is the reply (free with freeReplyObject); it is never an
 * error reply. Returns VT_ERR_UNAVAILABLE (I/O, timeout, or server busy /
 * loading / read-only / OOM), VT_ERR_INTERNAL (other error reply: our bug,
 * e.g. WRONGTYPE; the server's message is in ei), VT_ERR_NOMEM. */
int vt_redis_command(vt_redis *r, redisReply **reply, vt_errinfo *ei,
                     const char *fmt, ...);
/* Same with an argument vector (binary-safe). */
int vt_redis_commandv(vt_redis *r, redisReply **reply, vt_errinfo *ei,
                      int argc, const char **argv, const size_t *argvlen);

/* PING; 0 or VT_ERR_UNAVAILABLE. */
int vt_redis_ping(vt_redis *r, vt_errinfo *ei);

/* Pipelining: queue commands with vt_redis_append / vt_redis_appendv (they
 * are sent on the first read), then read exactly as many replies with
 * vt_redis_read_replies. Replies are returned as they come, INCLUDING error
 * replies (type REDIS_REPLY_ERROR), because inside MULTI/EXEC or a batch
 * the caller must decide per command. On failure every reply read so far is
 * freed, all of replies[] is NULL, the connection is marked broken (queued
 * commands are discarded on reconnect) and VT_ERR_UNAVAILABLE returned. */
int vt_redis_append(vt_redis *r, vt_errinfo *ei, const char *fmt, ...);
int vt_redis_appendv(vt_redis *r, vt_errinfo *ei, int argc, const char **argv,
                     const size_t *argvlen);
/* Replies not yet read for appended commands. */
size_t vt_redis_pending(const vt_redis *r);
int vt_redis_read_replies(vt_redis *r, redisReply **replies, size_t n,
                          vt_errinfo *ei);
void vt_redis_free_replies(redisReply **replies, size_t n); /* NULLs ok */

/* ---- What Redis says about its own persistence ------------------------
 * The journal's promise ("nothing acknowledged is lost") is only as good
 * as Redis's AOF settings, which live in Redis, not in our flags; daemons
 * read them at each connect and say what they mean (docs/operations.md,
 * "Redis for the journal"). */
typedef struct vt_redis_persistence {
    bool aof;         /* appendonly yes */
    char fsync[12];   /* appendfsync: "always", "everysec" or "no" */
    int hz;           /* background task frequency (expiry steps) */
} vt_redis_persistence;

/* CONFIG GET appendonly appendfsync hz. VT_ERR_DENIED when Redis refuses
 * CONFIG (managed services often rename or forbid it), VT_ERR_PROTO for a
 * reply that is not the three settings, else as vt_redis_command. */
int vt_redis_persistence_get(vt_redis *r, vt_redis_persistence *out, vt_errinfo *ei);

/* What a daemon last said about them (zero it before the first call). */
typedef struct vt_redis_persistence_seen {
    bool any;               /* something was said before */
    int rv;                 /* 0: read; else why they could not be */
    vt_redis_persistence p; /* when rv == 0 */
} vt_redis_persistence_seen;

/* Read them and tell log what they mean for `what` (e.g. "acknowledged
 * jobs"): the settings (event redis.persistence, info), a warning when a
 * crash or restart can lose acknowledged writes or the settings cannot be
 * read (redis.durability), and, with hz_hint, a note when hz < 100 makes
 * key expiry run in long steps (redis.latency). With `seen`, nothing is
 * said when the outcome is what *seen holds (a periodic check says only
 * changes: someone ran CONFIG SET on a live Redis), and *seen is updated.
 * *durable: 1 when Redis runs appendonly yes + appendfsync always, 0 when
 * it does not, -1 when it would not say. Returns 0, or VT_ERR_UNAVAILABLE /
 * VT_ERR_NOMEM (ei) when Redis cannot be reached (nothing said). */
struct vt_log;
int vt_redis_persistence_log(vt_redis *r, struct vt_log *log, const char *what, bool hz_hint,
                             vt_redis_persistence_seen *seen, int *durable, vt_errinfo *ei);

/* ---- Typed reply checks: never trust a reply's type or size. ----------
 * Each returns 0 or VT_ERR_PROTO (unexpected type; detail in ei), except
 * where noted. */

/* Status or string equal to "OK". */
int vt_redis_reply_ok(const redisReply *r, vt_errinfo *ei);
/* Integer reply. */
int vt_redis_reply_int(const redisReply *r, long long *out, vt_errinfo *ei);
/* String or status reply; NIL -> VT_ERR_NOTFOUND. *s is NOT NUL-safe for
 * binary values: use *len. Returns VT_ERR_TOOBIG if len > max_len. */
int vt_redis_reply_str(const redisReply *r, size_t max_len, const char **s,
                       size_t *len, vt_errinfo *ei);
/* Copy a string reply into buf as a C string (NUL-terminated); VT_ERR_TOOBIG
 * if it does not fit, VT_ERR_NOTFOUND for NIL. */
int vt_redis_reply_strcpy(const redisReply *r, char *buf, size_t bufsz,
                          vt_errinfo *ei);
/* Array reply with at most max_elems elements; NIL array -> VT_ERR_NOTFOUND;
 * more than max_elems -> VT_ERR_TOOBIG. */
int vt_redis_reply_array(const redisReply *r, size_t max_elems, size_t *n,
                         vt_errinfo *ei);
/* Integer reply, or a string holding a decimal integer (HGET results). */
int vt_redis_reply_ll(const redisReply *r, long long *out, vt_errinfo *ei);

#ifdef __cplusplus
}
#endif
#endif
