/* gguf_writer.c - build a GGUF v3 file (spec: ggml/docs/gguf.md).
 *
 * Layout written, as llama.cpp's gguf writer does:
 *   "GGUF" u32 version=3, u64 n_tensors, u64 n_kv
 *   n_kv x  (string key, u32 value type, value)
 *   n_tensors x (string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset)
 *   zero padding to general.alignment
 *   tensor data, each tensor starting at an offset that is a multiple of the
 *   alignment (offsets relative to the start of the data section).
 * Strings are u64 length + bytes, no NUL. All integers little endian.
 *
 * Metadata is serialized into a byte buffer as it is added; tensors keep a
 * copy of their data until the file is emitted through a sink (memory or
 * FILE*), so writing a 500 MB model to disk does not need a second copy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_gguf.h"

#define GGUF_DEFAULT_ALIGNMENT 32u

typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
    int oom;
} wbuf;

static void wb_put(wbuf *b, const void *src, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void wb_u32(wbuf *b, uint32_t v)
{
    uint8_t t[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    wb_put(b, t, 4);
}

static void wb_u64(wbuf *b, uint64_t v)
{
    wb_u32(b, (uint32_t)v);
    wb_u32(b, (uint32_t)(v >> 32));
}

static void wb_f32(wbuf *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    wb_u32(b, u);
}

static void wb_str(wbuf *b, const char *s)
{
    size_t n = strlen(s);
    wb_u64(b, n);
    wb_put(b, s, n);
}

typedef struct wtensor {
    char *name;
    uint32_t type, n_dims;
    uint64_t ne[4];
    uint8_t *data;
    uint64_t nbytes;
    uint64_t offset;
} wtensor;

struct vt_gguf_writer {
    wbuf kv;
    uint64_t n_kv;
    wtensor *t;
    size_t n_t, cap_t;
    uint32_t alignment;
};

int vt_gguf_writer_new(vt_gguf_writer **out)
{
    vt_gguf_writer *w = calloc(1, sizeof *w);
    if (!w)
        return VT_ERR_NOMEM;
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    *out = w;
    return 0;
}

void vt_gguf_writer_free(vt_gguf_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_t; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    free(w->t);
    free(w->kv.p);
    free(w);
}

static int kv_head(vt_gguf_writer *w, const char *key, uint32_t vtype)
{
    if (!w || !key)
        return VT_ERR_INVAL;
    wb_str(&w->kv, key);
    wb_u32(&w->kv, vtype);
    w->n_kv++;
    return 0;
}

static int kv_done(vt_gguf_writer *w)
{
    return w->kv.oom ? VT_ERR_NOMEM : 0;
}

int vt_gguf_w_u32(vt_gguf_writer *w, const char *key, uint32_t v)
{
    int rv = kv_head(w, key, VT_GGUF_U32);
    if (rv)
        return rv;
    wb_u32(&w->kv, v);
    /* general.alignment governs the layout this writer produces. */
    if (strcmp(key, "general.alignment") == 0 && v != 0 && (v & (v - 1)) == 0)
        w->alignment = v;
    return kv_done(w);
}

int vt_gguf_w_f32(vt_gguf_writer *w, const char *key, float v)
{
    int rv = kv_head(w, key, VT_GGUF_F32);
    if (rv)
        return rv;
    wb_f32(&w->kv, v);
    return kv_done(w);
}

int vt_gguf_w_str(vt_gguf_writer *w, const char *key, const char *v)
{
    if (!v)
        return VT_ERR_INVAL;
    int rv = kv_head(w, key, VT_GGUF_STRING);
    if (rv)
        return rv;
    wb_str(&w->kv, v);
    return kv_done(w);
}

static int arr_head(vt_gguf_writer *w, const char *key, uint32_t elem, uint64_t n)
{
    int rv = kv_head(w, key, VT_GGUF_ARRAY);
    if (rv)
        return rv;
    wb_u32(&w->kv, elem);
    wb_u64(&w->kv, n);
    return 0;
}

int vt_gguf_w_arr_str(vt_gguf_writer *w, const char *key, const char *const *v, uint64_t n)
{
    if (n && !v)
        return VT_ERR_INVAL;
    int rv = arr_head(w, key, VT_GGUF_STRING, n);
    if (rv)
        return rv;
    for (uint64_t i = 0; i < n; i++)
        wb_str(&w->kv, v[i]);
    return kv_done(w);
}

int vt_gguf_w_arr_f32(vt_gguf_writer *w, const char *key, const float *v, uint64_t n)
{
    if (n && !v)
        return VT_ERR_INVAL;
    int rv = arr_head(w, key, VT_GGUF_F32, n);
    if (rv)
        return rv;
    for (uint64_t i = 0; i < n; i++)
        wb_f32(&w->kv, v[i]);
    return kv_done(w);
}

int vt_gguf_w_arr_i32(vt_gguf_writer *w, const char *key, const int32_t *v, uint64_t n)
{
    if (n && !v)
        return VT_ERR_INVAL;
    int rv = arr_head(w, key, VT_GGUF_I32, n);
    if (rv)
        return rv;
    for (uint64_t i = 0; i < n; i++)
        wb_u32(&w->kv, (uint32_t)v[i]);
    return kv_done(w);
}

int vt_gguf_w_tensor(vt_gguf_writer *w, const char *name, uint32_t type, const uint64_t *ne,
                     uint32_t n_dims, const void *data, uint64_t nbytes)
{
    if (!w || !name || !ne || n_dims < 1 || n_dims > 4 || (nbytes && !data))
        return VT_ERR_INVAL;
    /* The writer accepts any declared size: tests use it to build files whose
     * sizes disagree with their shapes. Real callers pass vt_dtype_nbytes. */
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 16;
        wtensor *t = realloc(w->t, cap * sizeof *t);
        if (!t)
            return VT_ERR_NOMEM;
        w->t = t;
        w->cap_t = cap;
    }
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->data = malloc(nbytes ? (size_t)nbytes : 1);
    if (!t->name || !t->data) {
        free(t->name);
        free(t->data);
        return VT_ERR_NOMEM;
    }
    if (nbytes)
        memcpy(t->data, data, (size_t)nbytes);
    t->type = type;
    t->n_dims = n_dims;
    for (uint32_t i = 0; i < 4; i++)
        t->ne[i] = i < n_dims ? ne[i] : 1;
    t->nbytes = nbytes;
    w->n_t++;
    return 0;
}

/* ---------------------------------------------------------------- emit */

typedef int (*sink_fn)(void *ctx, const void *p, size_t n);

static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) / a * a;
}

static int emit_pad(sink_fn put, void *ctx, uint64_t n)
{
    static const uint8_t zeros[64];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        int rv = put(ctx, zeros, k);
        if (rv)
            return rv;
        n -= k;
    }
    return 0;
}

static int emit(vt_gguf_writer *w, sink_fn put, void *ctx)
{
    wbuf head = {0};
    wb_put(&head, "GGUF", 4);
    wb_u32(&head, 3);
    wb_u64(&head, w->n_t);
    wb_u64(&head, w->n_kv);
    wb_put(&head, w->kv.p, w->kv.len);
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        t->offset = off;
        wb_str(&head, t->name);
        wb_u32(&head, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            wb_u64(&head, t->ne[d]);
        wb_u32(&head, t->type);
        wb_u64(&head, t->offset);
        off = align_up(off + t->nbytes, w->alignment);
    }
    if (head.oom) {
        free(head.p);
        return VT_ERR_NOMEM;
    }
    int rv = put(ctx, head.p, head.len);
    if (!rv)
        rv = emit_pad(put, ctx, align_up(head.len, w->alignment) - head.len);
    free(head.p);
    uint64_t pos = 0;
    for (size_t i = 0; i < w->n_t && !rv; i++) {
        wtensor *t = &w->t[i];
        rv = emit_pad(put, ctx, t->offset - pos);
        if (!rv)
            rv = put(ctx, t->data, (size_t)t->nbytes);
        pos = t->offset + t->nbytes;
    }
    /* llama.cpp pads the last tensor too; keep the file a multiple of it. */
    if (!rv)
        rv = emit_pad(put, ctx, align_up(pos, w->alignment) - pos);
    return rv;
}

static int mem_put(void *ctx, const void *p, size_t n)
{
    wbuf *b = ctx;
    wb_put(b, p, n);
    return b->oom ? VT_ERR_NOMEM : 0;
}

int vt_gguf_w_to_mem(vt_gguf_writer *w, uint8_t **buf, size_t *len)
{
    if (!w || !buf || !len)
        return VT_ERR_INVAL;
    wbuf b = {0};
    int rv = emit(w, mem_put, &b);
    if (rv) {
        free(b.p);
        return rv;
    }
    *buf = b.p;
    *len = b.len;
    return 0;
}

static int file_put(void *ctx, const void *p, size_t n)
{
    return fwrite(p, 1, n, (FILE *)ctx) == n ? 0 : VT_ERR_IO;
}

int vt_gguf_w_to_file(vt_gguf_writer *w, const char *path, vt_errinfo *ei)
{
    if (!w || !path)
        return vt_fail(ei, VT_ERR_INVAL, "gguf writer: no path");
    /* Write to a temporary name and rename, so a reader never sees half a file. */
    size_t n = strlen(path);
    char *tmp = malloc(n + 8);
    if (!tmp)
        return vt_fail(ei, VT_ERR_NOMEM, "gguf writer: out of memory");
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int e = errno;
        free(tmp);
        return vt_fail(ei, VT_ERR_IO, "cannot create '%s': %s", path, strerror(e));
    }
    int rv = emit(w, file_put, f);
    if (fclose(f) != 0 && !rv)
        rv = VT_ERR_IO;
    if (!rv && rename(tmp, path) != 0)
        rv = VT_ERR_IO;
    if (rv) {
        int e = errno;
        remove(tmp);
        free(tmp);
        return vt_fail(ei, rv, "writing '%s' failed: %s", path,
                       rv == VT_ERR_NOMEM ? "out of memory" : strerror(e));
    }
    free(tmp);
    return 0;
}
