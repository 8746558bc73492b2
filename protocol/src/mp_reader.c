/* mp_reader.c - bounded msgpack reader.
 *
 * Peer data is never handed to msgpack_unpack: its decoder allocates
 * count * sizeof(msgpack_object) straight from an untrusted header. This
 * cursor instead refuses any count that cannot fit in the bytes left (an
 * element takes at least 1 byte, a map entry at least 2), returns STR/BIN
 * as views into the caller's buffer and allocates nothing at all.
 */
#include <string.h>

#include "vt_protocol.h"

void vt_mp_reader_init(vt_mp_reader *r, const void *buf, size_t len)
{
    r->start = buf;
    r->p = buf;
    r->end = r->start + (buf ? len : 0);
}

size_t vt_mp_left(const vt_mp_reader *r) { return (size_t)(r->end - r->p); }
size_t vt_mp_offset(const vt_mp_reader *r) { return (size_t)(r->p - r->start); }

/* Big-endian loads (msgpack is big-endian). */
static uint64_t load_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

vt_mp_type vt_mp_peek(const vt_mp_reader *r)
{
    if (r->p >= r->end)
        return VT_MP_NONE;
    uint8_t b = *r->p;
    if (b <= 0x7f || (b >= 0xcc && b <= 0xcf))
        return VT_MP_UINT;
    if (b >= 0xe0 || (b >= 0xd0 && b <= 0xd3))
        return VT_MP_INT;
    if ((b & 0xf0) == 0x80 || b == 0xde || b == 0xdf)
        return VT_MP_MAP;
    if ((b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd)
        return VT_MP_ARRAY;
    if ((b & 0xe0) == 0xa0 || (b >= 0xd9 && b <= 0xdb))
        return VT_MP_STR;
    switch (b) {
    case 0xc0: return VT_MP_NIL;
    case 0xc2: case 0xc3: return VT_MP_BOOL;
    case 0xc4: case 0xc5: case 0xc6: return VT_MP_BIN;
    case 0xca: case 0xcb: return VT_MP_FLOAT;
    case 0xc7: case 0xc8: case 0xc9:
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: return VT_MP_EXT;
    default: return VT_MP_INVALID; /* 0xc1 */
    }
}

/* Reads a length of `width` bytes after the type byte. The cursor is only
 * moved by the caller once the whole value is known to fit. */
static int read_len(const vt_mp_reader *r, int width, uint64_t *len)
{
    if (vt_mp_left(r) < (size_t)1 + (size_t)width)
        return VT_ERR_TRUNCATED;
    *len = load_be(r->p + 1, width);
    return 0;
}

/* Container header: header bytes hdr, count n, min bytes per element. */
static int read_container(vt_mp_reader *r, vt_mp_type want, uint32_t *n)
{
    if (r->p >= r->end)
        return VT_ERR_TRUNCATED;
    if (vt_mp_peek(r) != want)
        return VT_ERR_PROTO;
    uint8_t b = *r->p;
    uint64_t count;
    int hdr;
    if ((b & 0xf0) == 0x80 || (b & 0xf0) == 0x90) {
        count = b & 0x0f;
        hdr = 1;
    } else {
        int w = (b == 0xdc || b == 0xde) ? 2 : 4;
        int rv = read_len(r, w, &count);
        if (rv)
            return rv;
        hdr = 1 + w;
    }
    uint64_t min_bytes = count * (want == VT_MP_MAP ? 2u : 1u);
    if (min_bytes > vt_mp_left(r) - (size_t)hdr)
        return VT_ERR_TRUNCATED; /* the announced count cannot fit */
    r->p += hdr;
    *n = (uint32_t)count;
    return 0;
}

int vt_mp_read_map(vt_mp_reader *r, uint32_t *n) { return read_container(r, VT_MP_MAP, n); }
int vt_mp_read_array(vt_mp_reader *r, uint32_t *n) { return read_container(r, VT_MP_ARRAY, n); }

static int read_blob(vt_mp_reader *r, vt_mp_type want, const uint8_t **ptr, uint32_t *len)
{
    if (r->p >= r->end)
        return VT_ERR_TRUNCATED;
    if (vt_mp_peek(r) != want)
        return VT_ERR_PROTO;
    uint8_t b = *r->p;
    uint64_t n;
    int hdr;
    if ((b & 0xe0) == 0xa0) {
        n = b & 0x1f;
        hdr = 1;
    } else {
        int w = (b == 0xd9 || b == 0xc4) ? 1 : (b == 0xda || b == 0xc5) ? 2 : 4;
        int rv = read_len(r, w, &n);
        if (rv)
            return rv;
        hdr = 1 + w;
    }
    if (n > vt_mp_left(r) - (size_t)hdr)
        return VT_ERR_TRUNCATED;
    *ptr = r->p + hdr;
    *len = (uint32_t)n;
    r->p += hdr + (size_t)n;
    return 0;
}

int vt_mp_read_str(vt_mp_reader *r, const char **s, uint32_t *len)
{
    const uint8_t *p;
    int rv = read_blob(r, VT_MP_STR, &p, len);
    if (rv == 0)
        *s = (const char *)p;
    return rv;
}

int vt_mp_read_bin(vt_mp_reader *r, const uint8_t **b, uint32_t *len)
{
    return read_blob(r, VT_MP_BIN, b, len);
}

/* Any integer as (negative?, magnitude-or-value) without moving. */
static int peek_integer(const vt_mp_reader *r, int *neg, uint64_t *u, int64_t *s, int *size)
{
    if (r->p >= r->end)
        return VT_ERR_TRUNCATED;
    uint8_t b = *r->p;
    if (b <= 0x7f) {
        *neg = 0, *u = b, *size = 1;
        return 0;
    }
    if (b >= 0xe0) {
        *neg = 1, *s = (int8_t)b, *size = 1;
        return 0;
    }
    if (b >= 0xcc && b <= 0xcf) {
        int w = 1 << (b - 0xcc);
        if (vt_mp_left(r) < (size_t)1 + (size_t)w)
            return VT_ERR_TRUNCATED;
        *neg = 0, *u = load_be(r->p + 1, w), *size = 1 + w;
        return 0;
    }
    if (b >= 0xd0 && b <= 0xd3) {
        int w = 1 << (b - 0xd0);
        if (vt_mp_left(r) < (size_t)1 + (size_t)w)
            return VT_ERR_TRUNCATED;
        uint64_t raw = load_be(r->p + 1, w);
        int64_t v;
        /* sign-extend from w bytes */
        if (w == 8)
            memcpy(&v, &raw, 8);
        else if (raw & (1ull << (8 * w - 1)))
            v = (int64_t)(raw | ~((1ull << (8 * w)) - 1));
        else
            v = (int64_t)raw;
        if (v >= 0)
            *neg = 0, *u = (uint64_t)v;
        else
            *neg = 1, *s = v;
        *size = 1 + w;
        return 0;
    }
    return VT_ERR_PROTO;
}

int vt_mp_read_uint(vt_mp_reader *r, uint64_t *v)
{
    int neg, size;
    uint64_t u = 0;
    int64_t s = 0;
    int rv = peek_integer(r, &neg, &u, &s, &size);
    if (rv)
        return rv;
    if (neg)
        return VT_ERR_RANGE;
    *v = u;
    r->p += size;
    return 0;
}

int vt_mp_read_int(vt_mp_reader *r, int64_t *v)
{
    int neg, size;
    uint64_t u = 0;
    int64_t s = 0;
    int rv = peek_integer(r, &neg, &u, &s, &size);
    if (rv)
        return rv;
    if (!neg && u > (uint64_t)INT64_MAX)
        return VT_ERR_RANGE;
    *v = neg ? s : (int64_t)u;
    r->p += size;
    return 0;
}

int vt_mp_read_float(vt_mp_reader *r, double *v)
{
    if (r->p >= r->end)
        return VT_ERR_TRUNCATED;
    uint8_t b = *r->p;
    if (b == 0xca || b == 0xcb) {
        int w = b == 0xca ? 4 : 8;
        if (vt_mp_left(r) < (size_t)1 + (size_t)w)
            return VT_ERR_TRUNCATED;
        uint64_t raw = load_be(r->p + 1, w);
        if (w == 4) {
            uint32_t r32 = (uint32_t)raw;
            float f;
            memcpy(&f, &r32, 4);
            *v = f;
        } else {
            memcpy(v, &raw, 8);
        }
        r->p += 1 + w;
        return 0;
    }
    int neg, size;
    uint64_t u = 0;
    int64_t s = 0;
    int rv = peek_integer(r, &neg, &u, &s, &size);
    if (rv)
        return rv;
    *v = neg ? (double)s : (double)u;
    r->p += size;
    return 0;
}

int vt_mp_read_bool(vt_mp_reader *r, bool *v)
{
    if (r->p >= r->end)
        return VT_ERR_TRUNCATED;
    if (*r->p != 0xc2 && *r->p != 0xc3)
        return VT_ERR_PROTO;
    *v = *r->p == 0xc3;
    r->p++;
    return 0;
}

int vt_mp_read_nil(vt_mp_reader *r)
{
    if (r->p >= r->end)
        return VT_ERR_TRUNCATED;
    if (*r->p != 0xc0)
        return VT_ERR_PROTO;
    r->p++;
    return 0;
}

static int skip_depth(vt_mp_reader *r, int depth)
{
    vt_mp_type t = vt_mp_peek(r);
    uint8_t b = r->p < r->end ? *r->p : 0;
    switch (t) {
    case VT_MP_NONE:
        return VT_ERR_TRUNCATED;
    case VT_MP_INVALID:
        return VT_ERR_PROTO;
    case VT_MP_NIL: case VT_MP_BOOL:
        r->p++;
        return 0;
    case VT_MP_UINT: case VT_MP_INT: {
        int neg, size;
        uint64_t u;
        int64_t s;
        int rv = peek_integer(r, &neg, &u, &s, &size);
        if (rv == 0)
            r->p += size;
        return rv;
    }
    case VT_MP_FLOAT: {
        double d;
        return vt_mp_read_float(r, &d);
    }
    case VT_MP_STR: {
        const char *s;
        uint32_t n;
        return vt_mp_read_str(r, &s, &n);
    }
    case VT_MP_BIN: {
        const uint8_t *p;
        uint32_t n;
        return vt_mp_read_bin(r, &p, &n);
    }
    case VT_MP_EXT: {
        uint64_t n;
        int hdr;
        if (b >= 0xd4 && b <= 0xd8) {
            n = 1u << (b - 0xd4);
            hdr = 2; /* type byte + ext type */
        } else {
            int w = 1 << (b - 0xc7);
            int rv = read_len(r, w, &n);
            if (rv)
                return rv;
            hdr = 1 + w + 1;
        }
        if ((size_t)hdr > vt_mp_left(r) || n > vt_mp_left(r) - (size_t)hdr)
            return VT_ERR_TRUNCATED;
        r->p += hdr + (size_t)n;
        return 0;
    }
    case VT_MP_ARRAY: case VT_MP_MAP: {
        if (depth > VT_MP_MAX_DEPTH)
            return VT_ERR_PROTO; /* containers nested too deep */
        const uint8_t *save = r->p;
        uint32_t n;
        int rv = read_container(r, t, &n);
        if (rv)
            return rv;
        /* n was checked against the bytes left and every skip consumes at
         * least one byte, so this loop is bounded by the buffer length. */
        uint64_t items = (uint64_t)n * (t == VT_MP_MAP ? 2u : 1u);
        for (uint64_t i = 0; i < items; i++) {
            rv = skip_depth(r, depth + 1);
            if (rv) {
                r->p = save;
                return rv;
            }
        }
        return 0;
    }
    }
    return VT_ERR_PROTO;
}

int vt_mp_skip(vt_mp_reader *r) { return skip_depth(r, 1); }

/* One pass, stopping at the first difference: the decoders compare every
 * key of every message against field names, and a strlen of the name
 * first cost as much as the comparison. Never reads cstr past its NUL. */
int vt_mp_str_eq(const char *s, uint32_t len, const char *cstr)
{
    for (uint32_t i = 0; i < len; i++)
        if (cstr[i] == '\0' || cstr[i] != s[i])
            return 0;
    return cstr[len] == '\0';
}
