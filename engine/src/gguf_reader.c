/* gguf_reader.c - validate and index a GGUF v3 file (spec: ggml/docs/gguf.md).
 *
 * Everything is parsed once, at open, through a bounds-checked cursor: a
 * length or count is compared with the bytes that remain BEFORE it is used
 * to allocate or to advance, and every allocation is bounded by the file
 * size (an n-element index is only built once n elements provably fit in
 * the bytes left). After open, accessors only read through offsets that
 * were checked, so they cannot fault.
 *
 * Rejected: other magics, versions other than 3, nested arrays, duplicate
 * keys or tensor names, n_dims outside 1..4, zero or overflowing shapes,
 * unknown tensor types, tensors outside the file or misaligned, a
 * general.alignment that is not a power of two.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vt_gguf.h"

typedef struct gkv {
    vt_gguf_str key;
    uint32_t vtype;
    uint64_t off;        /* file offset of the value (arrays: of the first element) */
    uint32_t elem_type;  /* arrays only */
    uint64_t count;      /* arrays only */
    uint64_t *str_offs;  /* string arrays: file offset of each element's length */
} gkv;

struct vt_gguf {
    const uint8_t *base;
    size_t len;
    void *map; /* non-NULL when we own an mmap */
    uint32_t version;
    uint32_t alignment;
    uint64_t data_off;
    gkv *kv;
    uint64_t n_kv;
    uint64_t *kv_sorted; /* indices of kv sorted by key */
    vt_gguf_tensor *t;
    uint64_t n_t;
    uint64_t *t_sorted;
};

/* ---------------------------------------------------------------- cursor */

typedef struct cursor {
    const uint8_t *p;
    size_t len, pos;
    vt_errinfo *ei;
} cursor;

static int need(cursor *c, uint64_t n, const char *what)
{
    if (n > c->len - c->pos)
        return vt_fail(c->ei, VT_ERR_TRUNCATED,
                       "gguf: %s at offset %zu needs %llu bytes, only %zu left", what, c->pos,
                       (unsigned long long)n, c->len - c->pos);
    return 0;
}

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int rd_u32(cursor *c, const char *what, uint32_t *v)
{
    int rv = need(c, 4, what);
    if (rv)
        return rv;
    *v = (uint32_t)le(c->p + c->pos, 4);
    c->pos += 4;
    return 0;
}

static int rd_u64(cursor *c, const char *what, uint64_t *v)
{
    int rv = need(c, 8, what);
    if (rv)
        return rv;
    *v = le(c->p + c->pos, 8);
    c->pos += 8;
    return 0;
}

static int rd_str(cursor *c, const char *what, vt_gguf_str *s)
{
    uint64_t n;
    size_t at = c->pos;
    int rv = rd_u64(c, what, &n);
    if (rv)
        return rv;
    if (n > c->len - c->pos)
        return vt_fail(c->ei, VT_ERR_TRUNCATED,
                       "gguf: %s at offset %zu: string length %llu exceeds the %zu bytes left",
                       what, at, (unsigned long long)n, c->len - c->pos);
    s->ptr = (const char *)c->p + c->pos;
    s->len = n;
    c->pos += (size_t)n;
    return 0;
}

/* Size of a fixed-size value type; 0 for string/array/unknown. */
static uint32_t scalar_size(uint32_t t)
{
    switch (t) {
    case VT_GGUF_U8: case VT_GGUF_I8: case VT_GGUF_BOOL: return 1;
    case VT_GGUF_U16: case VT_GGUF_I16: return 2;
    case VT_GGUF_U32: case VT_GGUF_I32: case VT_GGUF_F32: return 4;
    case VT_GGUF_U64: case VT_GGUF_I64: case VT_GGUF_F64: return 8;
    default: return 0;
    }
}

static int str_cmp(vt_gguf_str a, vt_gguf_str b)
{
    size_t n = a.len < b.len ? (size_t)a.len : (size_t)b.len;
    int r = memcmp(a.ptr, b.ptr, n);
    return r ? r : (a.len < b.len ? -1 : a.len > b.len);
}

/* Print at most 64 bytes of a file string in messages. */
#define SHOWN(s) (int)((s).len < 64 ? (s).len : 64), (s).ptr

/* ------------------------------------------------------------- metadata */

static int parse_value(cursor *c, gkv *kv)
{
    uint32_t sz = scalar_size(kv->vtype);
    if (sz) {
        kv->off = c->pos;
        int rv = need(c, sz, "metadata value");
        if (rv)
            return vt_fail(c->ei, rv, "gguf: key '%.*s': value truncated at offset %zu",
                           SHOWN(kv->key), c->pos);
        if (kv->vtype == VT_GGUF_BOOL && c->p[c->pos] > 1)
            return vt_fail(c->ei, VT_ERR_FORMAT, "gguf: key '%.*s': bool value %u at offset %zu",
                           SHOWN(kv->key), c->p[c->pos], c->pos);
        c->pos += sz;
        return 0;
    }
    if (kv->vtype == VT_GGUF_STRING) {
        kv->off = c->pos;
        vt_gguf_str s;
        return rd_str(c, "string value", &s);
    }
    if (kv->vtype != VT_GGUF_ARRAY)
        return vt_fail(c->ei, VT_ERR_FORMAT, "gguf: key '%.*s': unknown value type %u at offset %zu",
                       SHOWN(kv->key), kv->vtype, c->pos - 4);
    size_t at = c->pos;
    int rv = rd_u32(c, "array element type", &kv->elem_type);
    if (!rv)
        rv = rd_u64(c, "array count", &kv->count);
    if (rv)
        return rv;
    kv->off = c->pos;
    size_t left = c->len - c->pos;
    uint32_t esz = scalar_size(kv->elem_type);
    if (esz) {
        if (kv->count > left / esz)
            return vt_fail(c->ei, VT_ERR_TRUNCATED,
                           "gguf: key '%.*s': array of %llu x %u-byte elements at offset %zu "
                           "exceeds the %zu bytes left",
                           SHOWN(kv->key), (unsigned long long)kv->count, esz, at, left);
        c->pos += (size_t)(kv->count * esz);
        return 0;
    }
    if (kv->elem_type == VT_GGUF_ARRAY)
        return vt_fail(c->ei, VT_ERR_UNSUPPORTED, "gguf: key '%.*s': nested arrays not supported",
                       SHOWN(kv->key));
    if (kv->elem_type != VT_GGUF_STRING)
        return vt_fail(c->ei, VT_ERR_FORMAT, "gguf: key '%.*s': unknown array element type %u",
                       SHOWN(kv->key), kv->elem_type);
    /* Each string takes at least its 8-byte length: bound count before the
     * index is allocated (count * 8 <= bytes left <= file size). */
    if (kv->count > left / 8)
        return vt_fail(c->ei, VT_ERR_TRUNCATED,
                       "gguf: key '%.*s': %llu strings at offset %zu cannot fit in %zu bytes",
                       SHOWN(kv->key), (unsigned long long)kv->count, at, left);
    kv->str_offs = malloc((size_t)(kv->count ? kv->count : 1) * sizeof(uint64_t));
    if (!kv->str_offs)
        return vt_fail(c->ei, VT_ERR_NOMEM, "gguf: out of memory indexing '%.*s'", SHOWN(kv->key));
    for (uint64_t i = 0; i < kv->count; i++) {
        kv->str_offs[i] = c->pos;
        vt_gguf_str s;
        size_t el_at = c->pos;
        if ((rv = rd_str(c, "array string", &s)) != 0)
            return vt_fail(c->ei, rv, "gguf: key '%.*s': string element %llu at offset %zu "
                           "runs past the end of the file", SHOWN(kv->key),
                           (unsigned long long)i, el_at);
    }
    return 0;
}


/* Heapsort of an index array by a string key: C11 has no qsort_r and a
 * global would be hidden state. */
typedef vt_gguf_str (*key_of)(const vt_gguf *g, uint64_t i);

static vt_gguf_str kv_key(const vt_gguf *g, uint64_t i) { return g->kv[i].key; }
static vt_gguf_str t_key(const vt_gguf *g, uint64_t i) { return g->t[i].name; }

static void sift(const vt_gguf *g, key_of k, uint64_t *a, uint64_t root, uint64_t n)
{
    for (;;) {
        uint64_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && str_cmp(k(g, a[child]), k(g, a[child + 1])) < 0)
            child++;
        if (str_cmp(k(g, a[root]), k(g, a[child])) >= 0)
            return;
        uint64_t t = a[root];
        a[root] = a[child];
        a[child] = t;
        root = child;
    }
}

static void sort_idx(const vt_gguf *g, key_of k, uint64_t *a, uint64_t n)
{
    for (uint64_t i = n / 2; i-- > 0;)
        sift(g, k, a, i, n);
    for (uint64_t end = n; end-- > 1;) {
        uint64_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift(g, k, a, 0, end);
    }
}

static int build_index(vt_gguf *g, key_of k, uint64_t n, uint64_t **out, const char *what,
                       vt_errinfo *ei)
{
    uint64_t *a = malloc((size_t)(n ? n : 1) * sizeof *a);
    if (!a)
        return vt_fail(ei, VT_ERR_NOMEM, "gguf: out of memory");
    for (uint64_t i = 0; i < n; i++)
        a[i] = i;
    sort_idx(g, k, a, n);
    *out = a;
    for (uint64_t i = 1; i < n; i++) {
        vt_gguf_str s = k(g, a[i]);
        if (str_cmp(k(g, a[i - 1]), s) == 0)
            return vt_fail(ei, VT_ERR_FORMAT, "gguf: duplicate %s '%.*s'", what, SHOWN(s));
    }
    return 0;
}

static int64_t lookup(const vt_gguf *g, key_of k, const uint64_t *a, uint64_t n, const char *z)
{
    vt_gguf_str s = {z, strlen(z)};
    uint64_t lo = 0, hi = n;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int r = str_cmp(k(g, a[mid]), s);
        if (r == 0)
            return (int64_t)a[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static const gkv *find_kv(const vt_gguf *g, const char *key)
{
    if (!g || !key)
        return NULL;
    int64_t i = lookup(g, kv_key, g->kv_sorted, g->n_kv, key);
    return i < 0 ? NULL : &g->kv[i];
}

/* --------------------------------------------------------------- tensors */

static int parse_tensor(vt_gguf *g, cursor *c, uint64_t idx)
{
    vt_gguf_tensor *t = &g->t[idx];
    size_t at = c->pos;
    int rv = rd_str(c, "tensor name", &t->name);
    if (!rv)
        rv = rd_u32(c, "tensor n_dims", &t->n_dims);
    if (rv)
        return rv;
    if (t->n_dims < 1 || t->n_dims > 4)
        return vt_fail(c->ei, VT_ERR_FORMAT, "gguf: tensor '%.*s' (info at offset %zu): n_dims %u not in 1..4",
                       SHOWN(t->name), at, t->n_dims);
    for (uint32_t d = 0; d < 4; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        if ((rv = rd_u64(c, "tensor shape", &t->ne[d])) != 0)
            return rv;
        if (t->ne[d] == 0 || t->ne[d] > (uint64_t)INT64_MAX)
            return vt_fail(c->ei, VT_ERR_FORMAT, "gguf: tensor '%.*s': ne[%u] = %llu invalid",
                           SHOWN(t->name), d, (unsigned long long)t->ne[d]);
    }
    if ((rv = rd_u32(c, "tensor type", &t->type)) != 0 ||
        (rv = rd_u64(c, "tensor offset", &t->offset)) != 0)
        return rv;
    uint64_t elems = 1;
    for (uint32_t d = 0; d < t->n_dims; d++)
        if (__builtin_mul_overflow(elems, t->ne[d], &elems) || elems > (uint64_t)INT64_MAX)
            return vt_fail(c->ei, VT_ERR_FORMAT, "gguf: tensor '%.*s': element count overflows",
                           SHOWN(t->name));
    rv = vt_dtype_nbytes(t->type, t->ne, t->n_dims, &t->nbytes);
    if (rv == VT_ERR_UNSUPPORTED)
        return vt_fail(c->ei, rv, "gguf: tensor '%.*s': unknown tensor type %u", SHOWN(t->name),
                       t->type);
    if (rv)
        return vt_fail(c->ei, VT_ERR_FORMAT,
                       "gguf: tensor '%.*s': shape %llu x ... invalid for type %s (row not a "
                       "whole number of blocks, or size overflows)",
                       SHOWN(t->name), (unsigned long long)t->ne[0], vt_dtype_name(t->type));
    return 0;
}

static int check_tensor_data(vt_gguf *g, vt_gguf_tensor *t, vt_errinfo *ei)
{
    uint64_t avail = g->len - g->data_off;
    if (t->offset % g->alignment)
        return vt_fail(ei, VT_ERR_FORMAT, "gguf: tensor '%.*s': offset %llu not a multiple of alignment %u",
                       SHOWN(t->name), (unsigned long long)t->offset, g->alignment);
    if (t->offset > avail || t->nbytes > avail - t->offset)
        return vt_fail(ei, VT_ERR_TRUNCATED,
                       "gguf: tensor '%.*s': data [%llu, +%llu) past the end of the data section "
                       "(%llu bytes at file offset %llu)",
                       SHOWN(t->name), (unsigned long long)t->offset, (unsigned long long)t->nbytes,
                       (unsigned long long)avail, (unsigned long long)g->data_off);
    t->data = g->base + g->data_off + t->offset;
    return 0;
}

/* ------------------------------------------------------------------ open */

/* Smallest encodings: a kv is key length (8) + type (4) + 1 value byte; a
 * tensor info is name length (8) + n_dims (4) + ne[0] (8) + type (4) +
 * offset (8). Counts above bytes_left / these cannot be real. */
#define MIN_KV_BYTES 13u
#define MIN_TENSOR_BYTES 32u

static int parse(vt_gguf *g, vt_errinfo *ei)
{
    cursor c = {g->base, g->len, 0, ei};
    int rv = need(&c, 4, "magic");
    if (rv)
        return rv;
    if (memcmp(g->base, "GGUF", 4) != 0)
        return vt_fail(ei, VT_ERR_FORMAT, "gguf: bad magic %02x %02x %02x %02x (want 'GGUF')",
                       g->base[0], g->base[1], g->base[2], g->base[3]);
    c.pos = 4;
    if ((rv = rd_u32(&c, "version", &g->version)) != 0)
        return rv;
    if (g->version != 3) {
        if (g->version == 1 || g->version == 2)
            return vt_fail(ei, VT_ERR_VERSION,
                           "gguf: version %u file; only GGUF v3 is supported (re-convert it "
                           "with a current llama.cpp)", g->version);
        return vt_fail(ei, VT_ERR_VERSION, "gguf: unknown version %u%s (only 3 is supported)",
                       g->version, (g->version & 0xffff) == 0 ? ", big-endian file?" : "");
    }
    uint64_t n_t, n_kv;
    if ((rv = rd_u64(&c, "tensor count", &n_t)) != 0 || (rv = rd_u64(&c, "kv count", &n_kv)) != 0)
        return rv;
    size_t left = c.len - c.pos;
    if (n_kv > left / MIN_KV_BYTES)
        return vt_fail(ei, VT_ERR_FORMAT, "gguf: kv count %llu cannot fit in the %zu bytes left",
                       (unsigned long long)n_kv, left);
    if (n_t > left / MIN_TENSOR_BYTES)
        return vt_fail(ei, VT_ERR_FORMAT, "gguf: tensor count %llu cannot fit in the %zu bytes left",
                       (unsigned long long)n_t, left);
    g->kv = calloc((size_t)(n_kv ? n_kv : 1), sizeof *g->kv);
    if (!g->kv)
        return vt_fail(ei, VT_ERR_NOMEM, "gguf: out of memory");
    for (uint64_t i = 0; i < n_kv; i++) {
        gkv *kv = &g->kv[i];
        g->n_kv = i + 1; /* so close() frees what this entry allocates */
        size_t at = c.pos;
        if ((rv = rd_str(&c, "metadata key", &kv->key)) != 0)
            return rv;
        if (kv->key.len == 0 || kv->key.len > 65535)
            return vt_fail(ei, VT_ERR_FORMAT, "gguf: metadata key %llu at offset %zu has length %llu",
                           (unsigned long long)i, at, (unsigned long long)kv->key.len);
        if ((rv = rd_u32(&c, "metadata value type", &kv->vtype)) != 0 ||
            (rv = parse_value(&c, kv)) != 0)
            return rv;
    }
    g->n_kv = n_kv;
    if ((rv = build_index(g, kv_key, n_kv, &g->kv_sorted, "metadata key", ei)) != 0)
        return rv;

    g->alignment = 32;
    const gkv *al = find_kv(g, "general.alignment");
    if (al) {
        if (al->vtype != VT_GGUF_U32)
            return vt_fail(ei, VT_ERR_FORMAT, "gguf: general.alignment has type %u, want u32",
                           al->vtype);
        g->alignment = (uint32_t)le(g->base + al->off, 4);
        if (g->alignment == 0 || (g->alignment & (g->alignment - 1)) || g->alignment > 65536)
            return vt_fail(ei, VT_ERR_FORMAT, "gguf: general.alignment %u is not a power of two <= 65536",
                           g->alignment);
    }

    g->t = calloc((size_t)(n_t ? n_t : 1), sizeof *g->t);
    if (!g->t)
        return vt_fail(ei, VT_ERR_NOMEM, "gguf: out of memory");
    for (uint64_t i = 0; i < n_t; i++)
        if ((rv = parse_tensor(g, &c, i)) != 0)
            return rv;
    g->n_t = n_t;
    if ((rv = build_index(g, t_key, n_t, &g->t_sorted, "tensor name", ei)) != 0)
        return rv;

    uint64_t data_off = ((uint64_t)c.pos + g->alignment - 1) / g->alignment * g->alignment;
    if (n_t && data_off > g->len)
        return vt_fail(ei, VT_ERR_TRUNCATED, "gguf: data section starts at %llu, past the end (%zu)",
                       (unsigned long long)data_off, g->len);
    g->data_off = data_off > g->len ? g->len : data_off;
    for (uint64_t i = 0; i < n_t; i++)
        if ((rv = check_tensor_data(g, &g->t[i], ei)) != 0)
            return rv;
    return 0;
}

static int open_common(vt_gguf *g, vt_gguf **out, vt_errinfo *ei)
{
    int rv = parse(g, ei);
    if (rv) {
        vt_gguf_close(g);
        return rv;
    }
    *out = g;
    return 0;
}

int vt_gguf_open_mem(const void *buf, size_t len, vt_gguf **out, vt_errinfo *ei)
{
    if (!out || (!buf && len))
        return vt_fail(ei, VT_ERR_INVAL, "gguf: no buffer");
    vt_gguf *g = calloc(1, sizeof *g);
    if (!g)
        return vt_fail(ei, VT_ERR_NOMEM, "gguf: out of memory");
    static const uint8_t empty[1];
    g->base = buf ? buf : empty;
    g->len = len;
    return open_common(g, out, ei);
}

int vt_gguf_open(const char *path, vt_gguf **out, vt_errinfo *ei)
{
    if (!path || !out)
        return vt_fail(ei, VT_ERR_INVAL, "gguf: no path");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vt_fail(ei, VT_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return vt_fail(ei, VT_ERR_IO, "'%s' is not a readable regular file", path);
    }
    vt_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        close(fd);
        return vt_fail(ei, VT_ERR_NOMEM, "gguf: out of memory");
    }
    static const uint8_t empty[1];
    g->base = empty;
    g->len = (size_t)st.st_size;
    if (g->len) {
        void *m = mmap(NULL, g->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            free(g);
            return vt_fail(ei, VT_ERR_IO, "cannot mmap '%s': %s", path, strerror(e));
        }
        g->map = m;
        g->base = m;
    }
    close(fd);
    return open_common(g, out, ei);
}

void vt_gguf_close(vt_gguf *g)
{
    if (!g)
        return;
    for (uint64_t i = 0; g->kv && i < g->n_kv; i++)
        free(g->kv[i].str_offs);
    free(g->kv);
    free(g->kv_sorted);
    free(g->t);
    free(g->t_sorted);
    if (g->map)
        munmap(g->map, g->len);
    free(g);
}

uint32_t vt_gguf_version(const vt_gguf *g)
{
    return g->version;
}

const void *vt_gguf_bytes(const vt_gguf *g, size_t *len)
{
    if (len)
        *len = g->len;
    return g->base;
}

/* -------------------------------------------------------------- getters */

static int is_int_type(uint32_t t)
{
    return t <= VT_GGUF_I32 || t == VT_GGUF_U64 || t == VT_GGUF_I64;
}

static int is_signed(uint32_t t)
{
    return t == VT_GGUF_I8 || t == VT_GGUF_I16 || t == VT_GGUF_I32 || t == VT_GGUF_I64;
}

/* An integer of type t at p as (negative?, magnitude). */
static void read_int(const uint8_t *p, uint32_t t, int *neg, uint64_t *mag)
{
    uint32_t sz = scalar_size(t);
    uint64_t v = le(p, (int)sz);
    *neg = 0;
    if (is_signed(t) && (v >> (sz * 8 - 1)) & 1u) {
        *neg = 1;
        uint64_t mask = sz == 8 ? ~0ull : ((1ull << (sz * 8)) - 1);
        *mag = ((~v) & mask) + 1; /* two's complement magnitude */
    } else {
        *mag = v;
    }
}

int vt_gguf_get_u64(const vt_gguf *g, const char *key, uint64_t *out)
{
    const gkv *kv = find_kv(g, key);
    if (!kv)
        return VT_ERR_NOTFOUND;
    if (!is_int_type(kv->vtype))
        return VT_ERR_FORMAT;
    int neg;
    uint64_t mag;
    read_int(g->base + kv->off, kv->vtype, &neg, &mag);
    if (neg && mag)
        return VT_ERR_FORMAT;
    *out = mag;
    return 0;
}

int vt_gguf_get_u32(const vt_gguf *g, const char *key, uint32_t *out)
{
    uint64_t v;
    int rv = vt_gguf_get_u64(g, key, &v);
    if (rv)
        return rv;
    if (v > UINT32_MAX)
        return VT_ERR_FORMAT;
    *out = (uint32_t)v;
    return 0;
}

static float f32_at(const uint8_t *p)
{
    uint32_t u = (uint32_t)le(p, 4);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

int vt_gguf_get_f32(const vt_gguf *g, const char *key, float *out)
{
    const gkv *kv = find_kv(g, key);
    if (!kv)
        return VT_ERR_NOTFOUND;
    if (kv->vtype == VT_GGUF_F32) {
        *out = f32_at(g->base + kv->off);
        return 0;
    }
    if (kv->vtype == VT_GGUF_F64) {
        uint64_t u = le(g->base + kv->off, 8);
        double d;
        memcpy(&d, &u, 8);
        *out = (float)d;
        return 0;
    }
    return VT_ERR_FORMAT;
}

static vt_gguf_str str_at(const vt_gguf *g, uint64_t off)
{
    vt_gguf_str s = {(const char *)g->base + off + 8, le(g->base + off, 8)};
    return s;
}

int vt_gguf_get_str(const vt_gguf *g, const char *key, vt_gguf_str *out)
{
    const gkv *kv = find_kv(g, key);
    if (!kv)
        return VT_ERR_NOTFOUND;
    if (kv->vtype != VT_GGUF_STRING)
        return VT_ERR_FORMAT;
    *out = str_at(g, kv->off);
    return 0;
}

int vt_gguf_get_arr(const vt_gguf *g, const char *key, uint32_t *elem_type, uint64_t *count)
{
    const gkv *kv = find_kv(g, key);
    if (!kv)
        return VT_ERR_NOTFOUND;
    if (kv->vtype != VT_GGUF_ARRAY)
        return VT_ERR_FORMAT;
    if (elem_type)
        *elem_type = kv->elem_type;
    if (count)
        *count = kv->count;
    return 0;
}

static const gkv *find_arr(const vt_gguf *g, const char *key, uint64_t i, int *rv)
{
    const gkv *kv = find_kv(g, key);
    *rv = !kv ? VT_ERR_NOTFOUND : kv->vtype != VT_GGUF_ARRAY ? VT_ERR_FORMAT
          : i >= kv->count ? VT_ERR_RANGE : 0;
    return *rv ? NULL : kv;
}

int vt_gguf_arr_str(const vt_gguf *g, const char *key, uint64_t i, vt_gguf_str *out)
{
    int rv;
    const gkv *kv = find_arr(g, key, i, &rv);
    if (!kv)
        return rv;
    if (kv->elem_type != VT_GGUF_STRING)
        return VT_ERR_FORMAT;
    *out = str_at(g, kv->str_offs[i]);
    return 0;
}

int vt_gguf_arr_f32(const vt_gguf *g, const char *key, uint64_t i, float *out)
{
    int rv;
    const gkv *kv = find_arr(g, key, i, &rv);
    if (!kv)
        return rv;
    if (kv->elem_type != VT_GGUF_F32)
        return VT_ERR_FORMAT;
    *out = f32_at(g->base + kv->off + i * 4);
    return 0;
}

int vt_gguf_arr_i32(const vt_gguf *g, const char *key, uint64_t i, int32_t *out)
{
    int rv;
    const gkv *kv = find_arr(g, key, i, &rv);
    if (!kv)
        return rv;
    if (!is_int_type(kv->elem_type))
        return VT_ERR_FORMAT;
    int neg;
    uint64_t mag;
    read_int(g->base + kv->off + i * scalar_size(kv->elem_type), kv->elem_type, &neg, &mag);
    if (neg ? mag > (uint64_t)INT32_MAX + 1 : mag > (uint64_t)INT32_MAX)
        return VT_ERR_FORMAT;
    *out = neg ? (int32_t)(0 - mag) : (int32_t)mag;
    return 0;
}

uint64_t vt_gguf_n_kv(const vt_gguf *g)
{
    return g->n_kv;
}

int vt_gguf_kv_at(const vt_gguf *g, uint64_t i, vt_gguf_str *key, uint32_t *vtype)
{
    if (!g || i >= g->n_kv)
        return VT_ERR_RANGE;
    if (key)
        *key = g->kv[i].key;
    if (vtype)
        *vtype = g->kv[i].vtype;
    return 0;
}

uint64_t vt_gguf_n_tensors(const vt_gguf *g)
{
    return g->n_t;
}

const vt_gguf_tensor *vt_gguf_tensor_at(const vt_gguf *g, uint64_t i)
{
    return g && i < g->n_t ? &g->t[i] : NULL;
}

const vt_gguf_tensor *vt_gguf_find_tensor(const vt_gguf *g, const char *name)
{
    if (!g || !name)
        return NULL;
    int64_t i = lookup(g, t_key, g->t_sorted, g->n_t, name);
    return i < 0 ? NULL : &g->t[i];
}
