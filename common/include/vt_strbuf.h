/* vt_strbuf.h - growable, always NUL-terminated text buffer.
 *
 * Used for rendering /metrics, JSON and other text. An allocation failure
 * is sticky: later appends do nothing and vt_strbuf_error() returns
 * VT_ERR_NOMEM, so callers can append many times and check once.
 * A zero-initialised vt_strbuf is valid and empty (data may be NULL until
 * the first append; vt_strbuf_cstr() never returns NULL).
 */
#ifndef VT_STRBUF_H
#define VT_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_strbuf {
    char *data;
    size_t len; /* bytes, excluding the terminating NUL */
    size_t cap;
    int err;    /* 0 or VT_ERR_NOMEM */
} vt_strbuf;

#define VT_STRBUF_INIT { NULL, 0, 0, 0 }

void vt_strbuf_append(vt_strbuf *b, const char *s, size_t n);
void vt_strbuf_puts(vt_strbuf *b, const char *s);
void vt_strbuf_putc(vt_strbuf *b, char c);
void vt_strbuf_printf(vt_strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void vt_strbuf_vprintf(vt_strbuf *b, const char *fmt, va_list ap);
/* Append s as a JSON string literal, quotes included (RFC 8259 escaping;
 * control chars as \u00XX; invalid UTF-8 bytes replaced by U+FFFD). */
void vt_strbuf_json_str(vt_strbuf *b, const char *s, size_t n);
const char *vt_strbuf_cstr(const vt_strbuf *b);
int vt_strbuf_error(const vt_strbuf *b);
void vt_strbuf_reset(vt_strbuf *b); /* len = 0, keeps memory, clears err */
void vt_strbuf_free(vt_strbuf *b);  /* back to VT_STRBUF_INIT */

#ifdef __cplusplus
}
#endif
#endif
