/* vt_strbuf.c - growable text buffer (see vt_strbuf.h). */
#include "vt_strbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_err.h"

/* Make room for n more bytes plus the NUL; sticky error on failure. */
static int reserve(vt_strbuf *b, size_t n)
{
    if (b->err)
        return -1;
    if (n > SIZE_MAX / 2 - b->len - 1) {
        b->err = VT_ERR_NOMEM;
        return -1;
    }
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->err = VT_ERR_NOMEM;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void vt_strbuf_append(vt_strbuf *b, const char *s, size_t n)
{
    if (reserve(b, n) != 0)
        return;
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void vt_strbuf_puts(vt_strbuf *b, const char *s)
{
    vt_strbuf_append(b, s, strlen(s));
}

void vt_strbuf_putc(vt_strbuf *b, char c)
{
    vt_strbuf_append(b, &c, 1);
}

void vt_strbuf_vprintf(vt_strbuf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        b->err = b->err ? b->err : VT_ERR_INVAL;
        return;
    }
    if ((size_t)n < sizeof(tmp)) {
        vt_strbuf_append(b, tmp, (size_t)n);
        return;
    }
    if (reserve(b, (size_t)n) != 0)
        return;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void vt_strbuf_printf(vt_strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vt_strbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    unsigned cp = c & (0xFFu >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

void vt_strbuf_json_str(vt_strbuf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    vt_strbuf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            vt_strbuf_append(b, esc, 2);
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            switch (c) {
            case '\n': vt_strbuf_append(b, "\\n", 2); break;
            case '\r': vt_strbuf_append(b, "\\r", 2); break;
            case '\t': vt_strbuf_append(b, "\\t", 2); break;
            default: vt_strbuf_printf(b, "\\u%04x", c); break;
            }
            i++;
        } else {
            size_t len = utf8_seq(s + i, n - i);
            if (len == 0) {
                vt_strbuf_append(b, "\\ufffd", 6);
                i++;
            } else {
                vt_strbuf_append(b, (const char *)s + i, len);
                i += len;
            }
        }
    }
    vt_strbuf_putc(b, '"');
}

const char *vt_strbuf_cstr(const vt_strbuf *b)
{
    return b->data ? b->data : "";
}

int vt_strbuf_error(const vt_strbuf *b)
{
    return b->err;
}

void vt_strbuf_reset(vt_strbuf *b)
{
    b->len = 0;
    b->err = 0;
    if (b->data)
        b->data[0] = '\0';
}

void vt_strbuf_free(vt_strbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->err = 0;
}
