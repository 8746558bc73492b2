/* vt_log.h - structured, one-line-per-event logging.
 *
 * A logger is an explicit object created at start-up (no global logger):
 *
 *   vt_log *log;
 *   vt_log_open(&log, "scheduler", VT_LOG_INFO, VT_LOG_TEXT, stderr);
 *   vt_log_event(log, VT_LOG_INFO, "job.accepted", "id=%s agent=%s", id, ag);
 *
 * Text form (one line):
 *   2026-11-24T02:10:00.123Z INFO scheduler job.accepted id=j1 agent=ag_x
 * JSON form (one line, every string escaped per RFC 8259; control characters
 * become \uXXXX, invalid UTF-8 bytes become U+FFFD):
 *   {"ts":"2026-11-24T02:10:00.123Z","level":"info","comp":"scheduler",
 *    "event":"job.accepted","msg":"id=j1 agent=ag_x"}
 * In text form, control characters in the message (newline, CR, ESC...) are
 * written as \n, \r or \xNN so that a hostile value cannot forge a line.
 *
 * Thread-safe: each line is built in a per-call buffer and written with a
 * single write(2) on the FILE's descriptor (the FILE's own buffer is not
 * used) under a mutex, so lines from different threads never interleave.
 * A message longer than VT_LOG_MSG_MAX bytes (before escaping) is cut and
 * ends with "...".
 *
 * Event names are dotted lowercase identifiers ("job.accepted",
 * "peer.bad_message"); the message is free text, by convention key=value
 * pairs separated by spaces.
 */
#ifndef VT_LOG_H
#define VT_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <pthread.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vt_log_level {
    VT_LOG_DEBUG = 0,
    VT_LOG_INFO = 1,
    VT_LOG_WARN = 2,
    VT_LOG_ERROR = 3,
    VT_LOG_OFF = 4 /* as a threshold: log nothing */
} vt_log_level;

typedef enum vt_log_format {
    VT_LOG_TEXT = 0,
    VT_LOG_JSON = 1
} vt_log_format;

#define VT_LOG_MSG_MAX 2048

typedef struct vt_log vt_log;

/* Create a logger. component: short name ("scheduler", at most 31 chars).
 * fp: where lines go (NULL means stderr); the logger does not close it.
 * Returns 0, VT_ERR_INVAL or VT_ERR_NOMEM. */
int vt_log_open(vt_log **out, const char *component, vt_log_level level,
                vt_log_format format, FILE *fp);
void vt_log_close(vt_log *log); /* NULL is fine */

/* Change the threshold at run time (atomic; e.g. on SIGHUP). */
void vt_log_set_level(vt_log *log, vt_log_level level);

/* Cheap check (one relaxed atomic load) to skip building expensive
 * arguments: if (vt_log_enabled(log, VT_LOG_DEBUG)) { ... }.
 * A NULL logger is never enabled. */
bool vt_log_enabled(const vt_log *log, vt_log_level level);

/* Log one event. fmt may be NULL (no message). A NULL logger is a no-op. */
void vt_log_event(vt_log *log, vt_log_level level, const char *event,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Shorthands. */
#define vt_log_debug(log, event, ...) vt_log_event((log), VT_LOG_DEBUG, (event), __VA_ARGS__)
#define vt_log_info(log, event, ...) vt_log_event((log), VT_LOG_INFO, (event), __VA_ARGS__)
#define vt_log_warn(log, event, ...) vt_log_event((log), VT_LOG_WARN, (event), __VA_ARGS__)
#define vt_log_error(log, event, ...) vt_log_event((log), VT_LOG_ERROR, (event), __VA_ARGS__)

/* Parse "debug|info|warn|error" and "text|json". Return 0 or VT_ERR_INVAL. */
int vt_log_level_parse(const char *s, vt_log_level *out);
int vt_log_format_parse(const char *s, vt_log_format *out);
const char *vt_log_level_name(vt_log_level level); /* "info", ... */

/* Rate limiter for noisy events (a hostile peer sending garbage must not be
 * able to flood the log). Allows at most `burst` events per `interval_ms`
 * window; counts the rest. Thread-safe (mutex inside).
 *
 *   static-lifetime or per-object:  vt_ratelimit rl;
 *   vt_ratelimit_init(&rl, 10, 1000);
 *   uint64_t dropped;
 *   if (vt_ratelimit_allow(&rl, &dropped))
 *       vt_log_warn(log, "peer.bad_message", "err=%s suppressed=%llu", ...,
 *                   (unsigned long long)dropped);
 *
 * *suppressed (may be NULL) receives how many events were refused since the
 * last allowed one, so the log can say what it did not show. */
typedef struct vt_ratelimit {
    pthread_mutex_t mu;
    uint64_t interval_ms;
    uint32_t burst;
    uint32_t used;          /* events allowed in the current window */
    uint64_t window_start;  /* vt_mono_ms() at window start */
    uint64_t suppressed;    /* refused since the last allowed event */
} vt_ratelimit;

void vt_ratelimit_init(vt_ratelimit *rl, uint32_t burst, uint64_t interval_ms);
void vt_ratelimit_destroy(vt_ratelimit *rl);
bool vt_ratelimit_allow(vt_ratelimit *rl, uint64_t *suppressed);

/* Name the calling thread (up to 15 characters) as top -H, perf and gdb
 * show it: which of a daemon's threads is busy is the first question. */
void vt_thread_name(const char *name);

#ifdef __cplusplus
}
#endif
#endif
