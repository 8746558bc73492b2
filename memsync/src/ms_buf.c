/* ms_buf.c - byte buffer and bounded cursor (see ms_buf.h). */
#include "ms_buf.h"

#include <stdlib.h>
#include <string.h>

#include "vt_err.h"

void ms_buf_free(ms_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

static int ms_buf_reserve(ms_buf *b, size_t n)
{
    if (b->oom)
        return -1;
    if (n <= b->cap - b->len)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return -1;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void ms_buf_put(ms_buf *b, const void *src, size_t n)
{
    if (n == 0 || ms_buf_reserve(b, n) != 0)
        return;
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

void ms_buf_u8(ms_buf *b, uint8_t v) { ms_buf_put(b, &v, 1); }

void ms_buf_u16(ms_buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    ms_buf_put(b, x, 2);
}

void ms_buf_u32(ms_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    ms_buf_put(b, x, 4);
}

void ms_buf_u64(ms_buf *b, uint64_t v)
{
    ms_buf_u32(b, (uint32_t)(v >> 32));
    ms_buf_u32(b, (uint32_t)v);
}

void ms_buf_f32(ms_buf *b, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    ms_buf_u32(b, u);
}

void ms_buf_str(ms_buf *b, const char *s, size_t n)
{
    if (n > UINT32_MAX) {
        b->oom = 1;
        return;
    }
    ms_buf_u32(b, (uint32_t)n);
    ms_buf_put(b, s, n);
}

static int ms_cur_take(ms_cur *c, size_t n, const uint8_t **out)
{
    if (c->left < n)
        return VT_ERR_TRUNCATED;
    *out = c->p;
    c->p += n;
    c->left -= n;
    return 0;
}

int ms_cur_u8(ms_cur *c, uint8_t *v)
{
    const uint8_t *p;
    int rv = ms_cur_take(c, 1, &p);
    if (rv == 0)
        *v = p[0];
    return rv;
}

int ms_cur_u16(ms_cur *c, uint16_t *v)
{
    const uint8_t *p;
    int rv = ms_cur_take(c, 2, &p);
    if (rv == 0)
        *v = (uint16_t)((p[0] << 8) | p[1]);
    return rv;
}

int ms_cur_u32(ms_cur *c, uint32_t *v)
{
    const uint8_t *p;
    int rv = ms_cur_take(c, 4, &p);
    if (rv == 0)
        *v = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    return rv;
}

int ms_cur_u64(ms_cur *c, uint64_t *v)
{
    uint32_t hi, lo;
    int rv = ms_cur_u32(c, &hi);
    if (rv == 0)
        rv = ms_cur_u32(c, &lo);
    if (rv == 0)
        *v = ((uint64_t)hi << 32) | lo;
    return rv;
}

int ms_cur_f32(ms_cur *c, float *v)
{
    uint32_t u;
    int rv = ms_cur_u32(c, &u);
    if (rv == 0)
        memcpy(v, &u, 4);
    return rv;
}

int ms_cur_str(ms_cur *c, const char **s, uint32_t *n, uint32_t max)
{
    uint32_t len;
    int rv = ms_cur_u32(c, &len);
    if (rv != 0)
        return rv;
    if (len > max)
        return VT_ERR_RANGE;
    const uint8_t *p;
    rv = ms_cur_take(c, len, &p);
    if (rv == 0) {
        *s = (const char *)p;
        *n = len;
    }
    return rv;
}
