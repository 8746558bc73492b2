/* codec.c - table-driven encoder and decoder for every vt_msg.
 *
 * Both directions walk the same vt_schema tables (schema.c) and enforce the
 * same limits, so we never send what a peer would refuse. Decoding copies
 * what it keeps into the message's arena; the input buffer can be freed
 * right after vt_msg_decode returns.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "wire.h"

#define AT(base, off, type) ((type *)((char *)(base) + (off)))
#define CAT(base, off, type) ((type const *)((const char *)(base) + (off)))

/* ================================================================ errors */

/* Turn "field 'x': ..." into "field 'outer[i].x': ..." as an error bubbles
 * up through nested objects, so the detail names the exact field. */
static void nest_detail(vt_errinfo *ei, const char *outer, long index)
{
    if (!ei)
        return;
    char prefix[80];
    if (index >= 0)
        snprintf(prefix, sizeof prefix, "%s[%ld].", outer, index);
    else
        snprintf(prefix, sizeof prefix, "%s.", outer);
    /* insert prefix after "field '" (or at the start), truncating the tail */
    const char *tag = "field '";
    size_t at = strncmp(ei->detail, tag, strlen(tag)) == 0 ? strlen(tag) : 0;
    size_t plen = strlen(prefix), dlen = strnlen(ei->detail, sizeof ei->detail - 1);
    size_t cap = sizeof ei->detail - 1;
    if (at + plen > cap)
        return;
    size_t tail = dlen - at;
    if (at + plen + tail > cap)
        tail = cap - at - plen;
    memmove(ei->detail + at + plen, ei->detail + at, tail);
    memcpy(ei->detail + at, prefix, plen);
    ei->detail[at + plen + tail] = 0;
}

static const char *mp_type_name(vt_mp_type t)
{
    static const char *const n[] = {"end of message", "nil", "bool", "uint", "int", "float",
                                    "str", "bin", "array", "map", "ext", "invalid byte"};
    return (unsigned)t < sizeof n / sizeof n[0] ? n[t] : "?";
}

/* A reader error while reading field f, expecting `want`. */
static int rd_fail(vt_errinfo *ei, int rv, const vt_mp_reader *r, const char *field,
                   const char *want)
{
    if (rv == VT_ERR_TRUNCATED)
        return vt_fail(ei, VT_ERR_PROTO, "field '%s': truncated at byte %zu", field,
                       vt_mp_offset(r));
    if (rv == VT_ERR_RANGE)
        return vt_fail(ei, VT_ERR_PROTO, "field '%s': %s out of range", field, want);
    return vt_fail(ei, VT_ERR_PROTO, "field '%s': expected %s, got %s", field, want,
                   mp_type_name(vt_mp_peek(r)));
}

/* ================================================================ decode */

typedef struct dctx {
    struct vt_arena *arena;
    vt_errinfo *ei;
    bool root; /* the next decode_obj is the message's top-level map */
} dctx;

static int decode_obj(dctx *d, vt_mp_reader *r, const vt_schema *s, void *obj);

static void *d_alloc(dctx *d, size_t n, size_t size)
{
    return vt_arena_calloc(d->arena, n ? n : 1, size);
}

static int d_str(dctx *d, vt_mp_reader *r, const vt_field *f, uint32_t max, const char **s,
                 uint32_t *len, int allow_nul)
{
    int rv = vt_mp_read_str(r, s, len);
    if (rv)
        return rd_fail(d->ei, rv, r, f->name, "str");
    if (max && *len > max)
        return vt_fail(d->ei, VT_ERR_TOOBIG, "field '%s': %u bytes > limit %u", f->name,
                       (unsigned)*len, (unsigned)max);
    if (!allow_nul && memchr(*s, 0, *len))
        return vt_fail(d->ei, VT_ERR_PROTO, "field '%s': NUL byte inside string", f->name);
    return 0;
}

/* Copy (s, len) into the arena with a NUL after it. */
static char *d_strdup(dctx *d, const char *s, uint32_t len)
{
    char *p = vt_arena_alloc(d->arena, (size_t)len + 1);
    if (p && len)
        memcpy(p, s, len);
    return p;
}

static int d_bin(dctx *d, vt_mp_reader *r, const vt_field *f, const uint8_t **b, uint32_t *len)
{
    int rv = vt_mp_read_bin(r, b, len);
    return rv ? rd_fail(d->ei, rv, r, f->name, "bin") : 0;
}

/* Bin of fixed-size little-endian elements (tokens, floats, digests). */
static int d_packed(dctx *d, vt_mp_reader *r, const vt_field *f, size_t elem, void **out,
                    uint32_t *count)
{
    const uint8_t *b;
    uint32_t len;
    int rv = d_bin(d, r, f, &b, &len);
    if (rv)
        return rv;
    if (len % elem)
        return vt_fail(d->ei, VT_ERR_PROTO, "field '%s': %u bytes is not a multiple of %zu",
                       f->name, (unsigned)len, elem);
    uint32_t n = (uint32_t)(len / elem);
    if (f->max && n > f->max)
        return vt_fail(d->ei, VT_ERR_TOOBIG, "field '%s': %u elements > limit %u", f->name,
                       (unsigned)n, (unsigned)f->max);
    uint8_t *p = d_alloc(d, n, elem);
    if (!p)
        return vt_fail(d->ei, VT_ERR_NOMEM, "field '%s': out of memory", f->name);
    if (elem == 4) {
        /* int32 / float32, little endian on the wire */
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *q = b + 4 * (size_t)i;
            uint32_t v = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 |
                         (uint32_t)q[3] << 24;
            memcpy(p + 4 * (size_t)i, &v, 4);
        }
    } else if (len) {
        memcpy(p, b, len);
    }
    *out = p;
    *count = n;
    return 0;
}

static int d_array(dctx *d, vt_mp_reader *r, const vt_field *f, uint32_t *n)
{
    int rv = vt_mp_read_array(r, n);
    if (rv)
        return rd_fail(d->ei, rv, r, f->name, "array");
    if (f->max && *n > f->max)
        return vt_fail(d->ei, VT_ERR_TOOBIG, "field '%s': %u elements > limit %u", f->name,
                       (unsigned)*n, (unsigned)f->max);
    return 0;
}

static int d_enum(dctx *d, vt_mp_reader *r, const vt_field *f, int *out)
{
    const char *s;
    uint32_t len;
    int rv = d_str(d, r, f, 64, &s, &len, 0);
    if (rv)
        return rv;
    int i = vt_enum_lookup(f->sub, f->n_names, s, len);
    if (i < 0)
        return vt_fail(d->ei, VT_ERR_PROTO, "field '%s': unknown value \"%.*s\"", f->name,
                       (int)(len > 32 ? 32 : len), s);
    *out = i;
    return 0;
}

static int decode_field(dctx *d, vt_mp_reader *r, const vt_field *f, void *base)
{
    int rv;
    switch ((vt_fkind)f->kind) {
    case FK_U32: case FK_U64: {
        uint64_t v;
        if ((rv = vt_mp_read_uint(r, &v)))
            return rd_fail(d->ei, rv, r, f->name, "uint");
        if (f->kind == FK_U32) {
            if (v > UINT32_MAX || (f->max && v > f->max))
                return vt_fail(d->ei, VT_ERR_PROTO, "field '%s': %llu out of range", f->name,
                               (unsigned long long)v);
            *AT(base, f->off, uint32_t) = (uint32_t)v;
        } else {
            *AT(base, f->off, uint64_t) = v;
        }
        return 0;
    }
    case FK_I32: {
        int64_t v;
        if ((rv = vt_mp_read_int(r, &v)))
            return rd_fail(d->ei, rv, r, f->name, "int");
        if (v < INT32_MIN || v > INT32_MAX)
            return vt_fail(d->ei, VT_ERR_PROTO, "field '%s': %lld out of range", f->name,
                           (long long)v);
        *AT(base, f->off, int32_t) = (int32_t)v;
        return 0;
    }
    case FK_BOOL:
        if ((rv = vt_mp_read_bool(r, AT(base, f->off, bool))))
            return rd_fail(d->ei, rv, r, f->name, "bool");
        return 0;
    case FK_F32: {
        double v;
        if ((rv = vt_mp_read_float(r, &v)))
            return rd_fail(d->ei, rv, r, f->name, "float");
        if (!isfinite(v) || fabs(v) > 3.0e38)
            return vt_fail(d->ei, VT_ERR_PROTO, "field '%s': not a finite float32", f->name);
        *AT(base, f->off, float) = (float)v;
        return 0;
    }
    case FK_ID: case FK_CSTR: {
        const char *s;
        uint32_t len;
        if ((rv = d_str(d, r, f, f->max, &s, &len, 0)))
            return rv;
        if (f->kind == FK_ID && !vt_ident_valid(s, len, f->max))
            return vt_fail(d->ei, VT_ERR_PROTO,
                           "field '%s': not an identifier (1..%u of A-Z a-z 0-9 _ . : -)",
                           f->name, (unsigned)f->max);
        char *dst = AT(base, f->off, char);
        memcpy(dst, s, len);
        dst[len] = 0;
        return 0;
    }
    case FK_PSTR: case FK_TEXT: {
        const char *s;
        uint32_t len;
        if ((rv = d_str(d, r, f, f->max, &s, &len, f->kind == FK_TEXT)))
            return rv;
        char *p = d_strdup(d, s, len);
        if (!p)
            return vt_fail(d->ei, VT_ERR_NOMEM, "field '%s': out of memory", f->name);
        *AT(base, f->off, const char *) = p;
        if (f->kind == FK_TEXT)
            *AT(base, f->off2, size_t) = len;
        return 0;
    }
    case FK_FIXBIN: {
        const uint8_t *b;
        uint32_t len;
        if ((rv = d_bin(d, r, f, &b, &len)))
            return rv;
        if (len != f->max)
            return vt_fail(d->ei, VT_ERR_PROTO, "field '%s': expected %u bytes, got %u",
                           f->name, (unsigned)f->max, (unsigned)len);
        memcpy(AT(base, f->off, uint8_t), b, len);
        return 0;
    }
    case FK_VBIN: case FK_DIGESTS:
        return d_packed(d, r, f, f->kind == FK_DIGESTS ? VT_DIGEST_BYTES : 1,
                        AT(base, f->off, void *), AT(base, f->off2, uint32_t));
    case FK_TOKENS: case FK_FLOATS:
        return d_packed(d, r, f, 4, AT(base, f->off, void *), AT(base, f->off2, uint32_t));
    case FK_STRLIST: {
        uint32_t n;
        if ((rv = d_array(d, r, f, &n)))
            return rv;
        const char **list = d_alloc(d, n, sizeof *list);
        if (!list)
            return vt_fail(d->ei, VT_ERR_NOMEM, "field '%s': out of memory", f->name);
        for (uint32_t i = 0; i < n; i++) {
            const char *s;
            uint32_t len;
            if ((rv = d_str(d, r, f, f->max2, &s, &len, 0)))
                return rv;
            if (!(list[i] = d_strdup(d, s, len)))
                return vt_fail(d->ei, VT_ERR_NOMEM, "field '%s': out of memory", f->name);
        }
        *AT(base, f->off, const char **) = list;
        *AT(base, f->off2, uint32_t) = n;
        return 0;
    }
    case FK_U64LIST: {
        uint32_t n;
        if ((rv = d_array(d, r, f, &n)))
            return rv;
        uint64_t *v = d_alloc(d, n, sizeof *v);
        if (!v)
            return vt_fail(d->ei, VT_ERR_NOMEM, "field '%s': out of memory", f->name);
        for (uint32_t i = 0; i < n; i++)
            if ((rv = vt_mp_read_uint(r, &v[i])))
                return rd_fail(d->ei, rv, r, f->name, "uint");
        *AT(base, f->off, uint64_t *) = v;
        *AT(base, f->off2, uint32_t) = n;
        return 0;
    }
    case FK_ENUM:
        return d_enum(d, r, f, AT(base, f->off, int));
    case FK_ENUMLIST: {
        uint32_t n;
        if ((rv = d_array(d, r, f, &n)))
            return rv;
        int *v = d_alloc(d, n, sizeof *v);
        if (!v)
            return vt_fail(d->ei, VT_ERR_NOMEM, "field '%s': out of memory", f->name);
        for (uint32_t i = 0; i < n; i++)
            if ((rv = d_enum(d, r, f, &v[i])))
                return rv;
        *AT(base, f->off, int *) = v;
        *AT(base, f->off2, uint32_t) = n;
        return 0;
    }
    case FK_OBJ:
        if ((rv = decode_obj(d, r, f->sub, AT(base, f->off, void))))
            nest_detail(d->ei, f->name, -1);
        return rv;
    case FK_OBJS: {
        const vt_schema *s = f->sub;
        uint32_t n;
        if ((rv = d_array(d, r, f, &n)))
            return rv;
        char *items = d_alloc(d, n, s->size);
        if (!items)
            return vt_fail(d->ei, VT_ERR_NOMEM, "field '%s': out of memory", f->name);
        for (uint32_t i = 0; i < n; i++) {
            if ((rv = decode_obj(d, r, s, items + (size_t)i * s->size))) {
                nest_detail(d->ei, f->name, (long)i);
                return rv;
            }
        }
        *AT(base, f->off, void *) = items;
        *AT(base, f->off2, uint32_t) = n;
        return 0;
    }
    case FK_PATH: {
        uint32_t n;
        if ((rv = d_array(d, r, f, &n)))
            return rv;
        uint8_t(*path)[VT_HASH_BYTES] = (uint8_t(*)[VT_HASH_BYTES])AT(base, f->off, uint8_t);
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *b;
            uint32_t len;
            if ((rv = d_bin(d, r, f, &b, &len)))
                return rv;
            if (len != VT_HASH_BYTES)
                return vt_fail(d->ei, VT_ERR_PROTO, "field '%s': hash %u is %u bytes, not 32",
                               f->name, (unsigned)i, (unsigned)len);
            memcpy(path[i], b, VT_HASH_BYTES);
        }
        *AT(base, f->off2, uint32_t) = n;
        return 0;
    }
    }
    return vt_fail(d->ei, VT_ERR_INTERNAL, "field '%s': unknown kind", f->name);
}

/* The envelope's keys, as bits, so that both passes over a message's top
 * level (read_envelope, decode_obj) refuse them repeated the same way. */
enum { ENV_V = 1, ENV_VM = 2, ENV_T = 4, ENV_ALL = 7 };

static unsigned envelope_key(const char *key, uint32_t klen)
{
    return vt_mp_str_eq(key, klen, "v")    ? ENV_V
           : vt_mp_str_eq(key, klen, "vm") ? ENV_VM
           : vt_mp_str_eq(key, klen, "t")  ? ENV_T
                                           : 0u;
}

static int envelope_repeated(vt_errinfo *ei, unsigned *seen, unsigned bit, const char *key,
                             uint32_t klen)
{
    if (bit & *seen)
        return vt_fail(ei, VT_ERR_PROTO, "field '%.*s': repeated", (int)klen, key);
    *seen |= bit;
    return 0;
}

/* The schema field named key, or s->n_fields. The search starts at `hint`,
 * the field after the last one found: our encoder writes fields in schema
 * order, so for our peers each key is found at the first comparison; any
 * order is still accepted. */
static uint32_t find_field(const vt_schema *s, const char *key, uint32_t klen, uint32_t hint)
{
    for (uint32_t j = 0; j < s->n_fields; j++) {
        uint32_t k = hint + j < s->n_fields ? hint + j : hint + j - s->n_fields;
        if (vt_mp_str_eq(key, klen, s->fields[k].name))
            return k;
    }
    return s->n_fields;
}

static int decode_obj(dctx *d, vt_mp_reader *r, const vt_schema *s, void *obj)
{
    uint32_t n, hint = 0;
    int rv = vt_mp_read_map(r, &n);
    if (rv)
        return rd_fail(d->ei, rv, r, s->name, "map");
    bool root = d->root;
    d->root = false;
    uint64_t seen = 0;
    unsigned env_seen = 0; /* top level: "v", "vm", "t" (read by read_envelope) */
    for (uint32_t i = 0; i < n; i++) {
        const char *key;
        uint32_t klen;
        if ((rv = vt_mp_read_str(r, &key, &klen)))
            return rd_fail(d->ei, rv, r, s->name, "str key");
        uint32_t k = find_field(s, key, klen, hint);
        if (k == s->n_fields && root &&
            (rv = envelope_repeated(d->ei, &env_seen, envelope_key(key, klen), key, klen)))
            return rv;
        if (k == s->n_fields) { /* unknown: ignored, as newer minors may add fields */
            if ((rv = vt_mp_skip(r)))
                return vt_fail(d->ei, VT_ERR_PROTO, "field '%.*s': %s", (int)(klen > 32 ? 32 : klen),
                               key, rv == VT_ERR_TRUNCATED ? "truncated" : "unreadable or nested too deep");
            continue;
        }
        if (seen & (1ull << k))
            return vt_fail(d->ei, VT_ERR_PROTO, "field '%s': repeated", s->fields[k].name);
        seen |= 1ull << k;
        hint = k + 1 < s->n_fields ? k + 1 : 0;
        if ((rv = decode_field(d, r, &s->fields[k], obj)))
            return rv;
    }
    for (uint32_t k = 0; k < s->n_fields; k++)
        if ((s->fields[k].flags & FF_REQ) && !(seen & (1ull << k)))
            return vt_fail(d->ei, VT_ERR_PROTO, "field '%s': missing", s->fields[k].name);
    return s->check ? s->check(obj, d->ei) : 0;
}

/* The envelope: "v" (major), "vm" (minor), "t" (type), anywhere in the
 * top-level map. full: walk the whole map (and refuse trailing bytes);
 * otherwise stop once all three were read - our encoder writes them first
 * (vt_mp_write_envelope), so vt_msg_decode, whose field pass walks the
 * message anyway and checks the rest, reads a message once, not twice. */
static int read_envelope(const void *buf, size_t len, uint32_t *minor, const char **type,
                         uint32_t *type_len, bool full, vt_errinfo *ei)
{
    vt_mp_reader r;
    vt_mp_reader_init(&r, buf, len);
    uint32_t n;
    int rv = vt_mp_read_map(&r, &n);
    if (rv)
        return rv == VT_ERR_TRUNCATED && len > 0 && vt_mp_peek(&r) == VT_MP_MAP
                   ? vt_fail(ei, VT_ERR_PROTO, "message truncated")
                   : vt_fail(ei, VT_ERR_PROTO, "message is not a msgpack map");
    unsigned seen = 0;
    uint64_t major = 0, vm = 0;
    for (uint32_t i = 0; i < n && (full || seen != ENV_ALL); i++) {
        const char *key;
        uint32_t klen;
        if ((rv = vt_mp_read_str(&r, &key, &klen)))
            return rd_fail(ei, rv, &r, "(key)", "str key");
        unsigned bit = envelope_key(key, klen);
        if ((rv = envelope_repeated(ei, &seen, bit, key, klen)))
            return rv;
        if (bit == ENV_V) {
            if ((rv = vt_mp_read_uint(&r, &major)))
                return rd_fail(ei, rv, &r, "v", "uint");
        } else if (bit == ENV_VM) {
            if ((rv = vt_mp_read_uint(&r, &vm)))
                return rd_fail(ei, rv, &r, "vm", "uint");
        } else if (bit == ENV_T) {
            if ((rv = vt_mp_read_str(&r, type, type_len)))
                return rd_fail(ei, rv, &r, "t", "str");
        } else if ((rv = vt_mp_skip(&r))) {
            return vt_fail(ei, VT_ERR_PROTO, "field '%.*s': %s", (int)(klen > 32 ? 32 : klen),
                           key, rv == VT_ERR_TRUNCATED ? "truncated" : "unreadable or nested too deep");
        }
    }
    if (full && vt_mp_left(&r))
        return vt_fail(ei, VT_ERR_PROTO, "%zu trailing bytes after the message", vt_mp_left(&r));
    if (!(seen & ENV_V))
        return vt_fail(ei, VT_ERR_PROTO, "field 'v': missing");
    if (major != VT_PROTO_MAJOR)
        return vt_fail(ei, VT_ERR_VERSION, "protocol major %llu not supported (this build speaks %d)",
                       (unsigned long long)major, VT_PROTO_MAJOR);
    if (!(seen & ENV_T))
        return vt_fail(ei, VT_ERR_PROTO, "field 't': missing");
    if (minor)
        *minor = vm > UINT32_MAX ? UINT32_MAX : (uint32_t)vm;
    return 0;
}

int vt_mp_read_envelope(const void *buf, size_t len, uint32_t *minor, const char **type,
                        uint32_t *type_len, vt_errinfo *ei)
{
    return read_envelope(buf, len, minor, type, type_len, true, ei);
}

void vt_msg_init(vt_msg *m, vt_msg_type type)
{
    memset(m, 0, sizeof *m);
    m->type = type;
}

void vt_msg_free(vt_msg *m)
{
    if (!m)
        return;
    vt_arena_free(m->arena_);
    memset(m, 0, sizeof *m);
}

int vt_msg_decode(const void *buf, size_t len, vt_msg *out, vt_errinfo *ei)
{
    memset(out, 0, sizeof *out);
    const char *type;
    uint32_t type_len, minor = 0;
    int rv = read_envelope(buf, len, &minor, &type, &type_len, false, ei);
    if (rv)
        return rv;
    vt_msg_type t = vt_msg_type_parse(type, type_len);
    if (t == VT_MSG_NONE)
        return vt_fail(ei, VT_ERR_PROTO, "field 't': unknown message type \"%.*s\"",
                       (int)(type_len > 32 ? 32 : type_len), type);
    dctx d = {.arena = vt_arena_new(), .ei = ei, .root = true};
    if (!d.arena)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    const vt_schema *s = vt_msg_schema(t);
    vt_mp_reader r;
    vt_mp_reader_init(&r, buf, len);
    if (!(rv = decode_obj(&d, &r, s, &out->u)) && vt_mp_left(&r))
        rv = vt_fail(ei, VT_ERR_PROTO, "%zu trailing bytes after the message", vt_mp_left(&r));
    if (rv) {
        vt_arena_free(d.arena);
        memset(out, 0, sizeof *out);
        return rv;
    }
    out->type = t;
    out->minor = minor;
    out->arena_ = d.arena;
    return 0;
}

int vt_msg_decode_expect(const void *buf, size_t len, vt_msg_type expect, vt_msg *out,
                         vt_errinfo *ei)
{
    int rv = vt_msg_decode(buf, len, out, ei);
    if (rv)
        return rv;
    if (out->type == expect)
        return 0;
    if (out->type == VT_MSG_ERROR) {
        const vt_msg_error *e = &out->u.error;
        return vt_fail(ei, e->code, "%s", e->msg[0] ? e->msg : vt_strerror(e->code));
    }
    rv = vt_fail(ei, VT_ERR_PROTO, "expected a \"%s\" reply, got \"%s\"",
                 vt_msg_type_name(expect), vt_msg_type_name(out->type));
    vt_msg_free(out);
    return rv;
}

/* ================================================================ encode */

static bool is_pointer_kind(vt_fkind k)
{
    switch (k) {
    case FK_PSTR: case FK_TEXT: case FK_VBIN: case FK_TOKENS: case FK_FLOATS:
    case FK_DIGESTS: case FK_STRLIST: case FK_U64LIST: case FK_ENUMLIST: case FK_OBJS:
        return true;
    default:
        return false;
    }
}

/* Whether an encoder emits f: scalars and inline values always; pointer
 * fields when set (or required: then an empty list is sent). */
static int e_present(const vt_field *f, const void *base, vt_errinfo *ei, bool *emit)
{
    if (!is_pointer_kind(f->kind)) {
        *emit = true;
        return 0;
    }
    const void *p = *CAT(base, f->off, const void *);
    bool counted = f->kind != FK_PSTR && f->kind != FK_TEXT;
    size_t count = 0;
    if (f->kind == FK_TEXT)
        count = *CAT(base, f->off2, size_t);
    else if (counted)
        count = *CAT(base, f->off2, uint32_t);
    if (!p && count)
        return vt_fail(ei, VT_ERR_INVAL, "field '%s': count %zu with a NULL pointer", f->name, count);
    if (!p && (f->flags & FF_REQ) && !counted)
        return vt_fail(ei, VT_ERR_INVAL, "field '%s': missing", f->name);
    *emit = p != NULL || (f->flags & FF_REQ);
    return 0;
}

static int encode_obj(vt_buf *w, const vt_schema *s, const void *obj, vt_errinfo *ei);

static int e_limit(vt_errinfo *ei, const vt_field *f, size_t n, uint32_t max, const char *what)
{
    if (max && n > max)
        return vt_fail(ei, VT_ERR_TOOBIG, "field '%s': %zu %s > limit %u", f->name, n, what,
                       (unsigned)max);
    return 0;
}

static int e_packed4(vt_buf *w, const void *src, uint32_t n)
{
    int rv = vt_mp_write_bin_header(w, (size_t)n * 4);
    const uint8_t *p = src;
    uint8_t chunk[1024];
    for (uint32_t i = 0; !rv && i < n;) {
        uint32_t m = 0;
        for (; m < sizeof chunk / 4 && i < n; m++, i++) {
            uint32_t v;
            memcpy(&v, p + 4 * (size_t)i, 4);
            chunk[4 * m] = (uint8_t)v, chunk[4 * m + 1] = (uint8_t)(v >> 8);
            chunk[4 * m + 2] = (uint8_t)(v >> 16), chunk[4 * m + 3] = (uint8_t)(v >> 24);
        }
        rv = vt_buf_append(w, chunk, 4 * (size_t)m);
    }
    return rv;
}

static int e_enum(vt_buf *w, const vt_field *f, int v, vt_errinfo *ei)
{
    const char *const *names = f->sub;
    if (v < 0 || v >= f->n_names || !names[v])
        return vt_fail(ei, VT_ERR_INVAL, "field '%s': invalid value %d", f->name, v);
    return vt_mp_write_cstr(w, names[v]);
}

static int e_str_checked(vt_buf *w, const vt_field *f, const char *s, uint32_t max,
                         vt_errinfo *ei)
{
    size_t len = strlen(s);
    int rv = e_limit(ei, f, len, max, "bytes");
    return rv ? rv : vt_mp_write_str(w, s, len);
}

static int encode_field(vt_buf *w, const vt_field *f, const void *base, vt_errinfo *ei)
{
    int rv;
    switch ((vt_fkind)f->kind) {
    case FK_U32: {
        uint32_t v = *CAT(base, f->off, uint32_t);
        if (f->max && v > f->max)
            return vt_fail(ei, VT_ERR_INVAL, "field '%s': %u out of range", f->name, (unsigned)v);
        return vt_mp_write_uint(w, v);
    }
    case FK_U64: return vt_mp_write_uint(w, *CAT(base, f->off, uint64_t));
    case FK_I32: return vt_mp_write_int(w, *CAT(base, f->off, int32_t));
    case FK_BOOL: return vt_mp_write_bool(w, *CAT(base, f->off, bool));
    case FK_F32: {
        float v = *CAT(base, f->off, float);
        if (!isfinite(v))
            return vt_fail(ei, VT_ERR_INVAL, "field '%s': not finite", f->name);
        return vt_mp_write_f32(w, v);
    }
    case FK_ID: case FK_CSTR: {
        const char *s = CAT(base, f->off, char);
        size_t len = strnlen(s, (size_t)f->max + 1);
        if ((rv = e_limit(ei, f, len, f->max, "bytes")))
            return rv;
        if (f->kind == FK_ID && !vt_ident_valid(s, len, f->max))
            return vt_fail(ei, VT_ERR_INVAL, "field '%s': not an identifier", f->name);
        return vt_mp_write_str(w, s, len);
    }
    case FK_PSTR: {
        const char *s = *CAT(base, f->off, const char *);
        return e_str_checked(w, f, s ? s : "", f->max, ei);
    }
    case FK_TEXT: {
        const char *s = *CAT(base, f->off, const char *);
        size_t len = *CAT(base, f->off2, size_t);
        if ((rv = e_limit(ei, f, len, f->max, "bytes")))
            return rv;
        return vt_mp_write_str(w, s ? s : "", s ? len : 0);
    }
    case FK_FIXBIN: return vt_mp_write_bin(w, CAT(base, f->off, uint8_t), f->max);
    case FK_VBIN: case FK_DIGESTS: {
        const uint8_t *p = *CAT(base, f->off, const uint8_t *);
        uint32_t n = *CAT(base, f->off2, uint32_t);
        if ((rv = e_limit(ei, f, n, f->max, "elements")))
            return rv;
        size_t bytes = (size_t)n * (f->kind == FK_DIGESTS ? VT_DIGEST_BYTES : 1);
        return vt_mp_write_bin(w, p, bytes);
    }
    case FK_TOKENS: case FK_FLOATS: {
        uint32_t n = *CAT(base, f->off2, uint32_t);
        if ((rv = e_limit(ei, f, n, f->max, "elements")))
            return rv;
        return e_packed4(w, *CAT(base, f->off, const void *), n);
    }
    case FK_STRLIST: {
        const char *const *list = *CAT(base, f->off, const char *const *);
        uint32_t n = *CAT(base, f->off2, uint32_t);
        if ((rv = e_limit(ei, f, n, f->max, "elements")) || (rv = vt_mp_write_array(w, n)))
            return rv;
        for (uint32_t i = 0; i < n; i++) {
            if (!list[i])
                return vt_fail(ei, VT_ERR_INVAL, "field '%s': NULL string %u", f->name, (unsigned)i);
            if ((rv = e_str_checked(w, f, list[i], f->max2, ei)))
                return rv;
        }
        return 0;
    }
    case FK_U64LIST: {
        const uint64_t *v = *CAT(base, f->off, const uint64_t *);
        uint32_t n = *CAT(base, f->off2, uint32_t);
        if ((rv = e_limit(ei, f, n, f->max, "elements")) || (rv = vt_mp_write_array(w, n)))
            return rv;
        for (uint32_t i = 0; i < n && !rv; i++)
            rv = vt_mp_write_uint(w, v[i]);
        return rv;
    }
    case FK_ENUM: return e_enum(w, f, *CAT(base, f->off, int), ei);
    case FK_ENUMLIST: {
        const int *v = *CAT(base, f->off, const int *);
        uint32_t n = *CAT(base, f->off2, uint32_t);
        if ((rv = e_limit(ei, f, n, f->max, "elements")) || (rv = vt_mp_write_array(w, n)))
            return rv;
        for (uint32_t i = 0; i < n && !rv; i++)
            rv = e_enum(w, f, v[i], ei);
        return rv;
    }
    case FK_OBJ:
        if ((rv = encode_obj(w, f->sub, CAT(base, f->off, void), ei)))
            nest_detail(ei, f->name, -1);
        return rv;
    case FK_OBJS: {
        const vt_schema *s = f->sub;
        const char *items = *CAT(base, f->off, const char *);
        uint32_t n = *CAT(base, f->off2, uint32_t);
        if ((rv = e_limit(ei, f, n, f->max, "elements")) || (rv = vt_mp_write_array(w, n)))
            return rv;
        for (uint32_t i = 0; i < n; i++) {
            if ((rv = encode_obj(w, s, items + (size_t)i * s->size, ei))) {
                nest_detail(ei, f->name, (long)i);
                return rv;
            }
        }
        return 0;
    }
    case FK_PATH: {
        const uint8_t(*path)[VT_HASH_BYTES] = (const uint8_t(*)[VT_HASH_BYTES])CAT(base, f->off, uint8_t);
        uint32_t n = *CAT(base, f->off2, uint32_t);
        if ((rv = e_limit(ei, f, n, f->max, "elements")) || (rv = vt_mp_write_array(w, n)))
            return rv;
        for (uint32_t i = 0; i < n && !rv; i++)
            rv = vt_mp_write_bin(w, path[i], VT_HASH_BYTES);
        return rv;
    }
    }
    return vt_fail(ei, VT_ERR_INTERNAL, "field '%s': unknown kind", f->name);
}

/* Fields of obj as map entries (no map header). */
static int encode_fields(vt_buf *w, const vt_schema *s, const void *obj, vt_errinfo *ei)
{
    for (uint32_t k = 0; k < s->n_fields; k++) {
        bool emit = false; /* set by e_present; initialised for -Wmaybe-uninitialized at -O3 */
        int rv = e_present(&s->fields[k], obj, ei, &emit);
        if (rv)
            return rv;
        if (!emit)
            continue;
        if ((rv = vt_mp_write_cstr(w, s->fields[k].name)) ||
            (rv = encode_field(w, &s->fields[k], obj, ei)))
            return rv == VT_ERR_TOOBIG && (!ei || !ei->detail[0])
                       ? vt_fail(ei, rv, "field '%s': message too big", s->fields[k].name)
                       : rv;
    }
    return 0;
}

static int count_fields(const vt_schema *s, const void *obj, vt_errinfo *ei, uint32_t *n)
{
    *n = 0;
    for (uint32_t k = 0; k < s->n_fields; k++) {
        bool emit = false; /* set by e_present; initialised for -Wmaybe-uninitialized at -O3 */
        int rv = e_present(&s->fields[k], obj, ei, &emit);
        if (rv)
            return rv;
        *n += emit;
    }
    return 0;
}

static int encode_obj(vt_buf *w, const vt_schema *s, const void *obj, vt_errinfo *ei)
{
    uint32_t n;
    int rv;
    if (s->check && (rv = s->check(obj, ei)))
        return rv == VT_ERR_PROTO ? (ei ? (ei->code = VT_ERR_INVAL) : VT_ERR_INVAL) : rv;
    if ((rv = count_fields(s, obj, ei, &n)) || (rv = vt_mp_write_map(w, n)))
        return rv;
    return encode_fields(w, s, obj, ei);
}

int vt_msg_encode(const vt_msg *m, vt_buf *out, vt_errinfo *ei)
{
    const vt_schema *s = vt_msg_schema(m->type);
    if (!s)
        return vt_fail(ei, VT_ERR_INVAL, "message type %d unknown", (int)m->type);
    if (ei)
        ei->detail[0] = 0;
    size_t start = out->len;
    uint32_t n = 0;
    int rv = 0;
    vt_msg_error errcopy;
    const void *obj = &m->u;
    if (m->type == VT_MSG_ERROR && !m->u.error.name[0]) {
        /* fill the stable name so non-C peers need no code table */
        errcopy = m->u.error;
        snprintf(errcopy.name, sizeof errcopy.name, "%s", vt_errname(errcopy.code));
        obj = &errcopy;
    }
    if (s->check && (rv = s->check(obj, ei)))
        rv = rv == VT_ERR_PROTO ? (ei ? (ei->code = VT_ERR_INVAL) : VT_ERR_INVAL) : rv;
    if (!rv)
        rv = count_fields(s, obj, ei, &n);
    if (!rv)
        rv = vt_mp_write_envelope(out, s->name, n);
    if (!rv)
        rv = encode_fields(out, s, obj, ei);
    if (rv) {
        out->len = start;
        if (rv == VT_ERR_TOOBIG && ei && !ei->detail[0])
            vt_fail(ei, rv, "message larger than %zu bytes",
                    out->max ? out->max : (size_t)VT_PROTO_MAX_MSG_DEFAULT);
    }
    return rv;
}

int vt_msg_encode_error(vt_buf *out, int code, const char *msg, uint32_t retry_ms)
{
    vt_msg m;
    vt_msg_init(&m, VT_MSG_ERROR);
    m.u.error.code = code < 0 ? code : VT_ERR_INTERNAL;
    snprintf(m.u.error.msg, sizeof m.u.error.msg, "%s", msg ? msg : vt_strerror(code));
    m.u.error.retry_ms = retry_ms;
    return vt_msg_encode(&m, out, NULL);
}
