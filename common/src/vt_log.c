/* vt_log.c - one line per event, text or JSON (see vt_log.h). */
#include "vt_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "vt_clock.h"
#include "vt_err.h"
#include "vt_strbuf.h"

/* The message part is capped before escaping so one event cannot produce
 * an unbounded line; escaping may still grow it (worst case 6x in JSON). */
#define MSG_MAX VT_LOG_MSG_MAX

struct vt_log {
    atomic_int level;
    vt_log_format format;
    int fd;
    pthread_mutex_t write_mu; /* one writer at a time: whole lines only */
    char comp[32];
};

static const char *const level_upper[] = {"DEBUG", "INFO", "WARN", "ERROR"};
static const char *const level_lower[] = {"debug", "info", "warn", "error"};

int vt_log_open(vt_log **out, const char *component, vt_log_level level,
                vt_log_format format, FILE *fp)
{
    if (!out || !component || !component[0] || strlen(component) >= 32 ||
        (int)level < VT_LOG_DEBUG || level > VT_LOG_OFF ||
        (format != VT_LOG_TEXT && format != VT_LOG_JSON))
        return VT_ERR_INVAL;
    for (const char *p = component; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '\\' || *p == 0x7F)
            return VT_ERR_INVAL;
    vt_log *log = calloc(1, sizeof(*log));
    if (!log)
        return VT_ERR_NOMEM;
    atomic_init(&log->level, (int)level);
    log->format = format;
    log->fd = fileno(fp ? fp : stderr);
    pthread_mutex_init(&log->write_mu, NULL);
    strcpy(log->comp, component);
    *out = log;
    return 0;
}

void vt_log_close(vt_log *log)
{
    if (!log)
        return;
    pthread_mutex_destroy(&log->write_mu);
    free(log);
}

void vt_log_set_level(vt_log *log, vt_log_level level)
{
    if (log && (int)level >= VT_LOG_DEBUG && level <= VT_LOG_OFF)
        atomic_store_explicit(&log->level, (int)level, memory_order_relaxed);
}

bool vt_log_enabled(const vt_log *log, vt_log_level level)
{
    if (!log || (int)level < VT_LOG_DEBUG || level >= VT_LOG_OFF)
        return false;
    /* atomic_load on a const object is fine in C11 (read-only access). */
    return (int)level >= atomic_load_explicit((atomic_int *)&log->level,
                                              memory_order_relaxed);
}

/* Text form: printable bytes as-is, control characters escaped so that a
 * hostile value can neither end the line nor send terminal escapes. */
static void text_escape(vt_strbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            vt_strbuf_append(b, "\\n", 2);
        else if (c == '\r')
            vt_strbuf_append(b, "\\r", 2);
        else if (c == '\t')
            vt_strbuf_append(b, "\\t", 2);
        else if (c < 0x20 || c == 0x7F)
            vt_strbuf_printf(b, "\\x%02x", c);
        else
            vt_strbuf_putc(b, (char)c);
    }
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere to report a failing log; drop the line */
        }
        p += w;
        n -= (size_t)w;
    }
}

void vt_log_event(vt_log *log, vt_log_level level, const char *event,
                  const char *fmt, ...)
{
    if (!vt_log_enabled(log, level))
        return;
    char msg[MSG_MAX + 4];
    size_t msglen = 0;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(msg, MSG_MAX + 1, fmt, ap);
        va_end(ap);
        if (n < 0) {
            msglen = 0;
        } else if ((size_t)n > MSG_MAX) {
            memcpy(msg + MSG_MAX, "...", 4);
            msglen = MSG_MAX + 3;
        } else {
            msglen = (size_t)n;
        }
    }
    if (!event || !event[0])
        event = "-";

    char ts[VT_TIME_BUFSZ];
    vt_wall_format(vt_wall_ms(), ts);

    vt_strbuf line = VT_STRBUF_INIT;
    vt_strbuf *out = &line;

    if (log->format == VT_LOG_JSON) {
        vt_strbuf_puts(out, "{\"ts\":\"");
        vt_strbuf_puts(out, ts);
        vt_strbuf_puts(out, "\",\"level\":\"");
        vt_strbuf_puts(out, level_lower[level]);
        vt_strbuf_puts(out, "\",\"comp\":");
        vt_strbuf_json_str(out, log->comp, strlen(log->comp));
        vt_strbuf_puts(out, ",\"event\":");
        vt_strbuf_json_str(out, event, strlen(event));
        vt_strbuf_puts(out, ",\"msg\":");
        vt_strbuf_json_str(out, msg, msglen);
        vt_strbuf_puts(out, "}\n");
    } else {
        vt_strbuf_printf(out, "%s %s %s ", ts, level_upper[level], log->comp);
        text_escape(out, event, strlen(event));
        if (msglen) {
            vt_strbuf_putc(out, ' ');
            text_escape(out, msg, msglen);
        }
        vt_strbuf_putc(out, '\n');
    }
    if (vt_strbuf_error(out) == 0) {
        pthread_mutex_lock(&log->write_mu);
        write_all(log->fd, out->data, out->len);
        pthread_mutex_unlock(&log->write_mu);
    }
    vt_strbuf_free(out);
}

int vt_log_level_parse(const char *s, vt_log_level *out)
{
    for (int i = 0; s && i < 4; i++) {
        if (strcmp(s, level_lower[i]) == 0) {
            *out = (vt_log_level)i;
            return 0;
        }
    }
    return VT_ERR_INVAL;
}

int vt_log_format_parse(const char *s, vt_log_format *out)
{
    if (s && strcmp(s, "text") == 0)
        *out = VT_LOG_TEXT;
    else if (s && strcmp(s, "json") == 0)
        *out = VT_LOG_JSON;
    else
        return VT_ERR_INVAL;
    return 0;
}

const char *vt_log_level_name(vt_log_level level)
{
    if ((int)level >= VT_LOG_DEBUG && level <= VT_LOG_ERROR)
        return level_lower[level];
    return level == VT_LOG_OFF ? "off" : "?";
}

void vt_ratelimit_init(vt_ratelimit *rl, uint32_t burst, uint64_t interval_ms)
{
    pthread_mutex_init(&rl->mu, NULL);
    rl->interval_ms = interval_ms ? interval_ms : 1000;
    rl->burst = burst ? burst : 1;
    rl->used = 0;
    rl->window_start = vt_mono_ms();
    rl->suppressed = 0;
}

void vt_ratelimit_destroy(vt_ratelimit *rl)
{
    pthread_mutex_destroy(&rl->mu);
}

bool vt_ratelimit_allow(vt_ratelimit *rl, uint64_t *suppressed)
{
    uint64_t now = vt_mono_ms();
    bool ok;
    pthread_mutex_lock(&rl->mu);
    if (now - rl->window_start >= rl->interval_ms) {
        rl->window_start = now;
        rl->used = 0;
    }
    ok = rl->used < rl->burst;
    if (ok) {
        rl->used++;
        if (suppressed)
            *suppressed = rl->suppressed;
        rl->suppressed = 0;
    } else {
        rl->suppressed++;
    }
    pthread_mutex_unlock(&rl->mu);
    return ok;
}

void vt_thread_name(const char *name)
{
    char n[16];
    snprintf(n, sizeof n, "%s", name);
    prctl(PR_SET_NAME, n, 0, 0, 0);
}
