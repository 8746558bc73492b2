/* mp_writer.c - msgpack writer over a size-capped vt_buf.
 *
 * Two flavours: the shortest encoding (ordinary messages) and fixed-width
 * encodings (canonical bytes that get hashed and signed, so that one value
 * always has exactly one byte representation regardless of its magnitude).
 */
#include <stdlib.h>
#include <string.h>

#include "vt_protocol.h"
#include "wire.h"

void vt_buf_init(vt_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void vt_buf_reset(vt_buf *b) { b->len = 0; }

void vt_buf_free(vt_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Room for n more bytes without growing and within the limit. */
static inline bool buf_has_room(const vt_buf *b, size_t n)
{
    size_t max = b->max ? b->max : VT_PROTO_MAX_MSG_DEFAULT;
    return n <= b->cap - b->len && b->len + n <= max;
}

/* Most appends are a few bytes (a type byte, a length, a small int): they
 * are copied here, without memcpy's call, when there is room; the rest go
 * through vt_buf_append. Both refuse the same sizes. */
static inline int buf_put(vt_buf *b, const uint8_t *p, size_t n)
{
    if (!buf_has_room(b, n))
        return vt_buf_append(b, p, n);
    uint8_t *d = b->data + b->len;
    for (size_t i = 0; i < n; i++)
        d[i] = p[i];
    b->len += n;
    return 0;
}

int vt_buf_append(vt_buf *b, const void *p, size_t n)
{
    if (buf_has_room(b, n)) {
        if (n)
            memcpy(b->data + b->len, p, n);
        b->len += n;
        return 0;
    }
    size_t max = b->max ? b->max : VT_PROTO_MAX_MSG_DEFAULT;
    if (n > max || b->len > max - n)
        return VT_ERR_TOOBIG;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        if (cap > max)
            cap = max;
        uint8_t *d = realloc(b->data, cap);
        if (!d)
            return VT_ERR_NOMEM;
        b->data = d;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

/* Type byte followed by v in `width` big-endian bytes. */
static int put_be(vt_buf *w, uint8_t type, uint64_t v, int width)
{
    uint8_t tmp[9];
    tmp[0] = type;
    for (int i = 0; i < width; i++)
        tmp[1 + i] = (uint8_t)(v >> (8 * (width - 1 - i)));
    return buf_put(w, tmp, 1 + (size_t)width);
}

/* Container/blob header choosing the smallest of fix / 8 / 16 / 32 forms.
 * fix_base 0 means there is no fix form; t8 0 means no 8-bit form. */
static int put_header(vt_buf *w, uint64_t n, uint8_t fix_base, uint64_t fix_max, uint8_t t8,
                      uint8_t t16, uint8_t t32)
{
    if (n > UINT32_MAX)
        return VT_ERR_TOOBIG;
    if (fix_base && n <= fix_max) {
        uint8_t b = (uint8_t)(fix_base | n);
        return buf_put(w, &b, 1);
    }
    if (t8 && n <= 0xff)
        return put_be(w, t8, n, 1);
    if (n <= 0xffff)
        return put_be(w, t16, n, 2);
    return put_be(w, t32, n, 4);
}

int vt_mp_write_map(vt_buf *w, uint32_t n) { return put_header(w, n, 0x80, 15, 0, 0xde, 0xdf); }
int vt_mp_write_array(vt_buf *w, uint32_t n) { return put_header(w, n, 0x90, 15, 0, 0xdc, 0xdd); }

int vt_mp_write_str(vt_buf *w, const char *s, size_t len)
{
    if (len > UINT32_MAX)
        return VT_ERR_TOOBIG;
    int rv = put_header(w, len, 0xa0, 31, 0xd9, 0xda, 0xdb);
    return rv ? rv : vt_buf_append(w, s, len);
}

int vt_mp_write_cstr(vt_buf *w, const char *s)
{
    return vt_mp_write_str(w, s ? s : "", s ? strlen(s) : 0);
}

int vt_mp_write_bin_header(vt_buf *w, size_t len)
{
    if (len > UINT32_MAX)
        return VT_ERR_TOOBIG;
    return put_header(w, len, 0, 0, 0xc4, 0xc5, 0xc6);
}

int vt_mp_write_bin(vt_buf *w, const void *b, size_t len)
{
    int rv = vt_mp_write_bin_header(w, len);
    return rv ? rv : vt_buf_append(w, b, len);
}

int vt_mp_write_uint(vt_buf *w, uint64_t v)
{
    if (v <= 0x7f) {
        uint8_t b = (uint8_t)v;
        return buf_put(w, &b, 1);
    }
    if (v <= 0xff)
        return put_be(w, 0xcc, v, 1);
    if (v <= 0xffff)
        return put_be(w, 0xcd, v, 2);
    if (v <= 0xffffffffu)
        return put_be(w, 0xce, v, 4);
    return put_be(w, 0xcf, v, 8);
}

int vt_mp_write_int(vt_buf *w, int64_t v)
{
    if (v >= 0)
        return vt_mp_write_uint(w, (uint64_t)v);
    if (v >= -32) {
        uint8_t b = (uint8_t)(int8_t)v;
        return buf_put(w, &b, 1);
    }
    if (v >= INT8_MIN)
        return put_be(w, 0xd0, (uint64_t)v & 0xff, 1);
    if (v >= INT16_MIN)
        return put_be(w, 0xd1, (uint64_t)v & 0xffff, 2);
    if (v >= INT32_MIN)
        return put_be(w, 0xd2, (uint64_t)v & 0xffffffffu, 4);
    return put_be(w, 0xd3, (uint64_t)v, 8);
}

int vt_mp_write_f32(vt_buf *w, float v)
{
    uint32_t raw;
    memcpy(&raw, &v, 4);
    return put_be(w, 0xca, raw, 4);
}

int vt_mp_write_f64(vt_buf *w, double v)
{
    uint64_t raw;
    memcpy(&raw, &v, 8);
    return put_be(w, 0xcb, raw, 8);
}

int vt_mp_write_bool(vt_buf *w, bool v)
{
    uint8_t b = v ? 0xc3 : 0xc2;
    return buf_put(w, &b, 1);
}

int vt_mp_write_nil(vt_buf *w)
{
    uint8_t b = 0xc0;
    return buf_put(w, &b, 1);
}

int vt_mp_write_u8_fixed(vt_buf *w, uint8_t v) { return put_be(w, 0xcc, v, 1); }
int vt_mp_write_u32_fixed(vt_buf *w, uint32_t v) { return put_be(w, 0xce, v, 4); }
int vt_mp_write_u64_fixed(vt_buf *w, uint64_t v) { return put_be(w, 0xcf, v, 8); }
int vt_mp_write_i32_fixed(vt_buf *w, int32_t v)
{
    return put_be(w, 0xd2, (uint64_t)(uint32_t)v, 4);
}
int vt_mp_write_array_fixed(vt_buf *w, uint32_t n) { return put_be(w, 0xdd, n, 4); }

int vt_mp_write_str_fixed(vt_buf *w, const char *s, size_t len)
{
    if (len > UINT32_MAX)
        return VT_ERR_TOOBIG;
    int rv = put_be(w, 0xdb, len, 4);
    return rv ? rv : vt_buf_append(w, s, len);
}

int vt_mp_write_bin_fixed(vt_buf *w, const void *b, size_t len)
{
    if (len > UINT32_MAX)
        return VT_ERR_TOOBIG;
    int rv = put_be(w, 0xc6, len, 4);
    return rv ? rv : vt_buf_append(w, b, len);
}

int vt_mp_write_envelope(vt_buf *w, const char *type, uint32_t n_fields)
{
    int rv;
    if (n_fields > UINT32_MAX - 3)
        return VT_ERR_TOOBIG;
    if ((rv = vt_mp_write_map(w, n_fields + 3)) || (rv = vt_mp_write_cstr(w, "v")) ||
        (rv = vt_mp_write_uint(w, VT_PROTO_MAJOR)) || (rv = vt_mp_write_cstr(w, "vm")) ||
        (rv = vt_mp_write_uint(w, VT_PROTO_MINOR)) || (rv = vt_mp_write_cstr(w, "t")) ||
        (rv = vt_mp_write_cstr(w, type)))
        return rv;
    return 0;
}
