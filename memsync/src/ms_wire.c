/* ms_wire.c - encode/decode memsync requests and answers (ms_wire.h). */
#include "ms_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const req_names[MS_REQ__COUNT] = {
    NULL, "mem_add", "mem_get", "mem_update", "mem_delete", "mem_list", "mem_search",
    "mem_profile_get", "mem_profile_set", "mem_profile_del", "mem_verify",
};

const char *ms_req_name(int op)
{
    return op > 0 && op < MS_REQ__COUNT ? req_names[op] : NULL;
}

/* ---- little helpers ---------------------------------------------------- */

#define TRY(x)                 \
    do {                       \
        if ((rv = (x)) != 0)   \
            goto out;          \
    } while (0)

static int wstr(vt_buf *w, const char *k, const char *v)
{
    int rv = vt_mp_write_cstr(w, k);
    return rv ? rv : vt_mp_write_cstr(w, v ? v : "");
}

static int wuint(vt_buf *w, const char *k, uint64_t v)
{
    int rv = vt_mp_write_cstr(w, k);
    return rv ? rv : vt_mp_write_uint(w, v);
}

static int wint(vt_buf *w, const char *k, int64_t v)
{
    int rv = vt_mp_write_cstr(w, k);
    return rv ? rv : vt_mp_write_int(w, v);
}

static int wf64(vt_buf *w, const char *k, double v)
{
    int rv = vt_mp_write_cstr(w, k);
    return rv ? rv : vt_mp_write_f64(w, v);
}

/* float32 vector as bin: dim * 4 bytes, IEEE-754 little-endian. */
static int wvec(vt_buf *w, const char *k, const float *v, uint32_t dim)
{
    int rv = vt_mp_write_cstr(w, k);
    if (rv)
        return rv;
    uint8_t *b = malloc(dim ? (size_t)dim * 4 : 1);
    if (!b)
        return VT_ERR_NOMEM;
    for (uint32_t i = 0; i < dim; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        b[4 * i] = (uint8_t)u;
        b[4 * i + 1] = (uint8_t)(u >> 8);
        b[4 * i + 2] = (uint8_t)(u >> 16);
        b[4 * i + 3] = (uint8_t)(u >> 24);
    }
    rv = vt_mp_write_bin(w, b, (size_t)dim * 4);
    free(b);
    return rv;
}

static int whead(vt_buf *w, const char *k, const vt_mem_head *h)
{
    char s[VT_MEM_HEAD_STRSZ];
    return wstr(w, k, vt_mem_head_format(h, s));
}

static int bad(vt_errinfo *ei, int rv, const char *field)
{
    if (rv == VT_ERR_NOMEM)
        return vt_fail(ei, rv, "out of memory");
    if (rv == VT_ERR_TOOBIG)
        return vt_fail(ei, rv, "field '%s' is too large", field);
    if (rv == VT_ERR_RANGE || rv == VT_ERR_INVAL)
        return vt_fail(ei, rv, "field '%s': value not allowed", field);
    return vt_fail(ei, VT_ERR_PROTO, "field '%s': missing, malformed or of the wrong type", field);
}

/* Read a str into a new NUL-terminated string; no NUL inside; at most max
 * bytes (longer: VT_ERR_TOOBIG). */
static int rstrdup(vt_mp_reader *r, size_t max, char **out)
{
    const char *s;
    uint32_t n;
    int rv = vt_mp_read_str(r, &s, &n);
    if (rv)
        return rv;
    if (n > max)
        return VT_ERR_TOOBIG;
    if (memchr(s, 0, n))
        return VT_ERR_PROTO;
    char *d = malloc((size_t)n + 1);
    if (!d)
        return VT_ERR_NOMEM;
    memcpy(d, s, n);
    d[n] = '\0';
    free(*out);
    *out = d;
    return 0;
}

static int rstrbuf(vt_mp_reader *r, char *buf, size_t bufsz)
{
    const char *s;
    uint32_t n;
    int rv = vt_mp_read_str(r, &s, &n);
    if (rv)
        return rv;
    if (n >= bufsz)
        return VT_ERR_TOOBIG;
    if (memchr(s, 0, n))
        return VT_ERR_PROTO;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return 0;
}

static int rvec(vt_mp_reader *r, float **out, uint32_t *dim)
{
    const uint8_t *b;
    uint32_t n;
    int rv = vt_mp_read_bin(r, &b, &n);
    if (rv)
        return rv;
    if (n % 4 != 0)
        return VT_ERR_PROTO;
    if (n / 4 > VT_MEM_MAX_DIM)
        return VT_ERR_TOOBIG;
    float *v = NULL;
    if (n > 0 && !(v = malloc(n)))
        return VT_ERR_NOMEM;
    for (uint32_t i = 0; i < n / 4; i++) {
        uint32_t u = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 |
                     (uint32_t)b[4 * i + 2] << 16 | (uint32_t)b[4 * i + 3] << 24;
        memcpy(&v[i], &u, 4);
    }
    free(*out);
    *out = v;
    *dim = n / 4;
    return 0;
}

static int ru32(vt_mp_reader *r, uint32_t *out)
{
    uint64_t v;
    int rv = vt_mp_read_uint(r, &v);
    if (rv == 0 && v > UINT32_MAX)
        rv = VT_ERR_RANGE;
    if (rv == 0)
        *out = (uint32_t)v;
    return rv;
}

static int rhead(vt_mp_reader *r, vt_mem_head *h)
{
    const char *s;
    uint32_t n;
    int rv = vt_mp_read_str(r, &s, &n);
    if (rv == 0 && vt_mem_head_parse(s, n, h) != 0)
        rv = VT_ERR_PROTO;
    return rv;
}

/* Key of the next map entry. */
static int rkey(vt_mp_reader *r, const char **k, uint32_t *kl)
{
    return vt_mp_read_str(r, k, kl);
}

#define KEY(name) vt_mp_str_eq(k, kl, name)

/* ---- items ------------------------------------------------------------- */

static int item_fields(const vt_mem_item *it)
{
    return 9 + (it->dim > 0);
}

static int write_item(vt_buf *w, const vt_mem_item *it)
{
    int rv;
    TRY(vt_mp_write_map(w, (uint32_t)item_fields(it)));
    TRY(wuint(w, "id", it->id));
    TRY(wstr(w, "type", vt_mem_type_name(it->type)));
    TRY(vt_mp_write_cstr(w, "importance"));
    TRY(vt_mp_write_f32(w, it->importance));
    TRY(wint(w, "created_ms", it->created_ms));
    TRY(wint(w, "updated_ms", it->updated_ms));
    TRY(wuint(w, "seq", it->seq));
    TRY(wstr(w, "source", it->source));
    TRY(vt_mp_write_cstr(w, "categories"));
    TRY(vt_mp_write_array(w, (uint32_t)it->ncategories));
    for (size_t i = 0; i < it->ncategories; i++)
        TRY(vt_mp_write_cstr(w, it->categories[i]));
    TRY(wstr(w, "text", it->text));
    if (it->dim > 0)
        TRY(wvec(w, "embedding", it->embedding, it->dim));
out:
    return rv;
}

/* A wire item: unknown fields skipped; type defaults to semantic. */
static int read_item(vt_mp_reader *r, vt_mem_item *it, const char **field)
{
    uint32_t n;
    int rv;
    memset(it, 0, sizeof *it);
    it->type = VT_MEM_SEMANTIC;
    *field = "item";
    TRY(vt_mp_read_map(r, &n));
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t kl;
        TRY(rkey(r, &k, &kl));
        if (KEY("id")) {
            *field = "item.id";
            TRY(vt_mp_read_uint(r, &it->id));
        } else if (KEY("type")) {
            const char *s;
            uint32_t sl;
            *field = "item.type";
            TRY(vt_mp_read_str(r, &s, &sl));
            if (vt_mp_str_eq(s, sl, "semantic"))
                it->type = VT_MEM_SEMANTIC;
            else if (vt_mp_str_eq(s, sl, "episodic"))
                it->type = VT_MEM_EPISODIC;
            else {
                rv = VT_ERR_INVAL;
                goto out;
            }
        } else if (KEY("importance")) {
            double d;
            *field = "item.importance";
            TRY(vt_mp_read_float(r, &d));
            if (!(d >= 0.0 && d <= 1.0)) {
                rv = VT_ERR_RANGE;
                goto out;
            }
            it->importance = (float)d;
        } else if (KEY("created_ms")) {
            *field = "item.created_ms";
            TRY(vt_mp_read_int(r, &it->created_ms));
        } else if (KEY("updated_ms")) {
            *field = "item.updated_ms";
            TRY(vt_mp_read_int(r, &it->updated_ms));
        } else if (KEY("seq")) {
            *field = "item.seq";
            TRY(vt_mp_read_uint(r, &it->seq));
        } else if (KEY("source")) {
            *field = "item.source";
            TRY(rstrdup(r, VT_MEM_MAX_SOURCE, &it->source));
        } else if (KEY("text")) {
            *field = "item.text";
            TRY(rstrdup(r, VT_MEM_MAX_TEXT, &it->text));
        } else if (KEY("embedding")) {
            *field = "item.embedding";
            TRY(rvec(r, &it->embedding, &it->dim));
        } else if (KEY("categories")) {
            uint32_t nc;
            *field = "item.categories";
            if (it->categories) {
                rv = VT_ERR_PROTO; /* given twice */
                goto out;
            }
            TRY(vt_mp_read_array(r, &nc));
            if (nc > VT_MEM_MAX_CATEGORIES) {
                rv = VT_ERR_TOOBIG;
                goto out;
            }
            if (nc && !(it->categories = calloc(nc, sizeof(char *)))) {
                rv = VT_ERR_NOMEM;
                goto out;
            }
            for (uint32_t j = 0; j < nc; j++) {
                TRY(rstrdup(r, VT_MEM_MAX_CATEGORY, &it->categories[j]));
                it->ncategories++;
            }
        } else {
            TRY(vt_mp_skip(r));
        }
    }
    *field = "item.text";
    if (!it->text)
        rv = VT_ERR_PROTO;
out:
    if (rv)
        vt_mem_item_clear(it);
    return rv;
}

/* ---- requests ---------------------------------------------------------- */

void ms_req_clear(ms_req *r)
{
    vt_mem_item_clear(&r->item);
    free(r->text);
    free(r->vector);
    free(r->category);
    free(r->pkey);
    free(r->pvalue);
    memset(r, 0, sizeof *r);
}

int ms_req_encode(vt_buf *w, const ms_req *r, vt_errinfo *ei)
{
    const char *name = ms_req_name(r->op);
    if (!name)
        return vt_fail(ei, VT_ERR_INVAL, "unknown memsync request");
    const vt_mem_filter *f = &r->filter;
    uint32_t n = 2 + (r->job[0] != 0);
    bool filt = r->op == MS_REQ_LIST || r->op == MS_REQ_SEARCH;
    switch (r->op) {
    case MS_REQ_ADD: n += 1; break;
    case MS_REQ_UPDATE: n += 2; break;
    case MS_REQ_GET: case MS_REQ_DELETE: n += 1; break;
    case MS_REQ_LIST: n += 2; break;
    case MS_REQ_SEARCH: n += 1 + (r->text != NULL) + (r->dim > 0); break;
    case MS_REQ_PROFILE_SET: n += 2; break;
    case MS_REQ_PROFILE_DEL: n += 1; break;
    }
    if (filt)
        n += (f->type != 0) + (f->category && f->category[0]) + (f->since_ms != 0) +
             (f->until_ms != 0);
    int rv;
    TRY(vt_mp_write_envelope(w, name, n));
    TRY(wstr(w, "agent", r->agent));
    TRY(wstr(w, "key", r->key));
    if (r->job[0])
        TRY(wstr(w, "job", r->job));
    switch (r->op) {
    case MS_REQ_UPDATE:
        TRY(wuint(w, "id", r->id));
        /* fall through */
    case MS_REQ_ADD:
        TRY(vt_mp_write_cstr(w, "item"));
        TRY(write_item(w, &r->item));
        break;
    case MS_REQ_GET:
    case MS_REQ_DELETE:
        TRY(wuint(w, "id", r->id));
        break;
    case MS_REQ_LIST:
        TRY(wuint(w, "after", r->after));
        TRY(wuint(w, "limit", r->limit));
        break;
    case MS_REQ_SEARCH:
        TRY(wuint(w, "k", r->k));
        if (r->text)
            TRY(wstr(w, "text", r->text));
        if (r->dim > 0)
            TRY(wvec(w, "vector", r->vector, r->dim));
        break;
    case MS_REQ_PROFILE_SET:
        TRY(wstr(w, "pkey", r->pkey));
        TRY(wstr(w, "value", r->pvalue));
        break;
    case MS_REQ_PROFILE_DEL:
        TRY(wstr(w, "pkey", r->pkey));
        break;
    }
    if (filt) {
        if (f->type)
            TRY(wstr(w, "filter_type", vt_mem_type_name((vt_mem_type)f->type)));
        if (f->category && f->category[0])
            TRY(wstr(w, "category", f->category));
        if (f->since_ms)
            TRY(wint(w, "since_ms", f->since_ms));
        if (f->until_ms)
            TRY(wint(w, "until_ms", f->until_ms));
    }
out:
    if (rv == VT_ERR_TOOBIG)
        return vt_fail(ei, rv, "request larger than %zu bytes", w->max);
    return rv ? vt_fail(ei, rv, "cannot encode request") : 0;
}

int ms_req_decode(const void *buf, size_t len, ms_req *r, vt_errinfo *ei)
{
    memset(r, 0, sizeof *r);
    uint32_t minor, tl;
    const char *t;
    int rv = vt_mp_read_envelope(buf, len, &minor, &t, &tl, ei);
    if (rv)
        return rv;
    for (int op = 1; op < MS_REQ__COUNT; op++)
        if (vt_mp_str_eq(t, tl, req_names[op]))
            r->op = op;
    if (!r->op)
        return vt_fail(ei, VT_ERR_PROTO, "unknown memsync request type \"%.*s\"",
                       (int)(tl > 32 ? 32 : tl), t);
    vt_mp_reader rd;
    vt_mp_reader_init(&rd, buf, len);
    uint32_t n;
    const char *field = "(map)";
    bool have_id = false, have_k = false, have_agent = false, have_key = false;
    TRY(vt_mp_read_map(&rd, &n));
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t kl;
        field = "(key)";
        TRY(rkey(&rd, &k, &kl));
        if (KEY("agent")) {
            field = "agent";
            TRY(rstrbuf(&rd, r->agent, sizeof r->agent));
            have_agent = true;
        } else if (KEY("key")) {
            field = "key";
            TRY(rstrbuf(&rd, r->key, sizeof r->key));
            have_key = true;
        } else if (KEY("job")) {
            field = "job";
            TRY(rstrbuf(&rd, r->job, sizeof r->job));
        } else if (KEY("item")) {
            if (r->has_item) {
                field = "item";
                rv = VT_ERR_PROTO;
                goto out;
            }
            TRY(read_item(&rd, &r->item, &field));
            r->has_item = true;
        } else if (KEY("id")) {
            field = "id";
            TRY(vt_mp_read_uint(&rd, &r->id));
            have_id = true;
        } else if (KEY("after")) {
            field = "after";
            TRY(vt_mp_read_uint(&rd, &r->after));
        } else if (KEY("limit")) {
            field = "limit";
            TRY(ru32(&rd, &r->limit));
        } else if (KEY("k")) {
            field = "k";
            TRY(ru32(&rd, &r->k));
            have_k = true;
        } else if (KEY("text")) {
            field = "text";
            TRY(rstrdup(&rd, VT_MEMORY_QUERY_MAX, &r->text));
        } else if (KEY("vector")) {
            field = "vector";
            TRY(rvec(&rd, &r->vector, &r->dim));
        } else if (KEY("filter_type")) {
            const char *s;
            uint32_t sl;
            field = "filter_type";
            TRY(vt_mp_read_str(&rd, &s, &sl));
            r->filter.type = vt_mp_str_eq(s, sl, "semantic")   ? VT_MEM_SEMANTIC
                             : vt_mp_str_eq(s, sl, "episodic") ? VT_MEM_EPISODIC
                                                               : -1;
            if (r->filter.type < 0) {
                rv = VT_ERR_PROTO;
                goto out;
            }
        } else if (KEY("category")) {
            field = "category";
            TRY(rstrdup(&rd, VT_MEM_MAX_CATEGORY, &r->category));
            r->filter.category = r->category;
        } else if (KEY("since_ms")) {
            field = "since_ms";
            TRY(vt_mp_read_int(&rd, &r->filter.since_ms));
        } else if (KEY("until_ms")) {
            field = "until_ms";
            TRY(vt_mp_read_int(&rd, &r->filter.until_ms));
        } else if (KEY("pkey")) {
            field = "pkey";
            TRY(rstrdup(&rd, VT_MEM_MAX_PROFILE_KEY, &r->pkey));
        } else if (KEY("value")) {
            field = "value";
            TRY(rstrdup(&rd, VT_MEM_MAX_PROFILE_VALUE, &r->pvalue));
        } else {
            field = "(unknown field)";
            TRY(vt_mp_skip(&rd));
        }
    }
    rv = VT_ERR_PROTO;
    field = !have_agent ? "agent" : !have_key ? "key" : NULL;
    if (!field) {
        switch (r->op) {
        case MS_REQ_ADD: field = r->has_item ? NULL : "item"; break;
        case MS_REQ_UPDATE: field = !have_id ? "id" : !r->has_item ? "item" : NULL; break;
        case MS_REQ_GET: case MS_REQ_DELETE: field = have_id ? NULL : "id"; break;
        case MS_REQ_SEARCH: field = !have_k ? "k" : (!r->text && !r->dim) ? "text" : NULL; break;
        case MS_REQ_PROFILE_SET: field = !r->pkey ? "pkey" : !r->pvalue ? "value" : NULL; break;
        case MS_REQ_PROFILE_DEL: field = !r->pkey ? "pkey" : NULL; break;
        }
    }
    if (!field)
        rv = 0;
out:
    if (rv) {
        ms_req_clear(r);
        return bad(ei, rv, field);
    }
    return 0;
}

/* ---- answers ----------------------------------------------------------- */

void ms_rep_clear(ms_rep *r)
{
    vt_mem_item_clear(&r->item);
    vt_mem_list_clear(&r->list);
    vt_mem_hits_clear(&r->hits);
    vt_mem_profile_clear(&r->profile);
    memset(r, 0, sizeof *r);
}

int ms_rep_encode(vt_buf *w, const ms_rep *r, vt_errinfo *ei)
{
    uint32_t n = 2 + (r->has_item) + (r->has_list ? 2 : 0) + (r->has_hits) + (r->has_profile) +
                 (r->has_verify);
    int rv;
    TRY(vt_mp_write_envelope(w, "mem_ok", n));
    TRY(whead(w, "head", &r->head));
    TRY(wuint(w, "id", r->id));
    if (r->has_item) {
        TRY(vt_mp_write_cstr(w, "item"));
        TRY(write_item(w, &r->item));
    }
    if (r->has_list) {
        TRY(vt_mp_write_cstr(w, "items"));
        TRY(vt_mp_write_array(w, (uint32_t)r->list.n));
        for (size_t i = 0; i < r->list.n; i++)
            TRY(write_item(w, &r->list.v[i]));
        TRY(wuint(w, "next_after", r->list.next_after));
    }
    if (r->has_hits) {
        TRY(vt_mp_write_cstr(w, "hits"));
        TRY(vt_mp_write_array(w, (uint32_t)r->hits.n));
        for (size_t i = 0; i < r->hits.n; i++) {
            const vt_mem_hit *h = &r->hits.v[i];
            TRY(vt_mp_write_map(w, 6));
            TRY(vt_mp_write_cstr(w, "item"));
            TRY(write_item(w, &h->item));
            TRY(wf64(w, "bm25", h->bm25));
            TRY(wf64(w, "cosine", h->cosine));
            TRY(wf64(w, "fused", h->fused));
            TRY(wuint(w, "rank_bm25", h->rank_bm25));
            TRY(wuint(w, "rank_cosine", h->rank_cosine));
        }
    }
    if (r->has_profile) {
        TRY(vt_mp_write_cstr(w, "profile"));
        TRY(vt_mp_write_map(w, (uint32_t)r->profile.n));
        for (size_t i = 0; i < r->profile.n; i++) {
            TRY(vt_mp_write_cstr(w, r->profile.keys[i]));
            TRY(vt_mp_write_cstr(w, r->profile.values[i]));
        }
    }
    if (r->has_verify) {
        TRY(vt_mp_write_cstr(w, "verify"));
        TRY(vt_mp_write_map(w, 5));
        TRY(vt_mp_write_cstr(w, "ok"));
        TRY(vt_mp_write_bool(w, r->verify.ok));
        TRY(wuint(w, "ops", r->verify.ops));
        TRY(wuint(w, "items", r->verify.items));
        TRY(wstr(w, "problem", r->verify.problem));
        TRY(whead(w, "computed_head", &r->verify.head));
    }
out:
    if (rv == VT_ERR_TOOBIG)
        return vt_fail(ei, rv, "answer larger than %zu bytes; ask for fewer items",
                       w->max);
    return rv ? vt_fail(ei, rv, "cannot encode answer") : 0;
}

static int read_items(vt_mp_reader *r, vt_mem_item **v, size_t *count, const char **field)
{
    uint32_t n;
    int rv = vt_mp_read_array(r, &n);
    if (rv)
        return rv;
    if (n > VT_MEM_MAX_K)
        return VT_ERR_TOOBIG;
    if (n && !(*v = calloc(n, sizeof **v)))
        return VT_ERR_NOMEM;
    for (uint32_t i = 0; i < n; i++) {
        if ((rv = read_item(r, &(*v)[i], field)) != 0)
            return rv;
        (*count)++;
    }
    return 0;
}

static int read_hit(vt_mp_reader *r, vt_mem_hit *h, const char **field)
{
    uint32_t n;
    int rv;
    TRY(vt_mp_read_map(r, &n));
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t kl;
        TRY(rkey(r, &k, &kl));
        if (KEY("item")) {
            vt_mem_item_clear(&h->item);
            TRY(read_item(r, &h->item, field));
        } else if (KEY("bm25"))
            TRY(vt_mp_read_float(r, &h->bm25));
        else if (KEY("cosine"))
            TRY(vt_mp_read_float(r, &h->cosine));
        else if (KEY("fused"))
            TRY(vt_mp_read_float(r, &h->fused));
        else if (KEY("rank_bm25"))
            TRY(ru32(r, &h->rank_bm25));
        else if (KEY("rank_cosine"))
            TRY(ru32(r, &h->rank_cosine));
        else
            TRY(vt_mp_skip(r));
    }
out:
    return rv;
}

static int read_verify(vt_mp_reader *r, vt_mem_verify *v)
{
    uint32_t n;
    int rv;
    TRY(vt_mp_read_map(r, &n));
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t kl;
        TRY(rkey(r, &k, &kl));
        if (KEY("ok"))
            TRY(vt_mp_read_bool(r, &v->ok));
        else if (KEY("ops"))
            TRY(vt_mp_read_uint(r, &v->ops));
        else if (KEY("items"))
            TRY(vt_mp_read_uint(r, &v->items));
        else if (KEY("problem")) {
            const char *s;
            uint32_t sl;
            TRY(vt_mp_read_str(r, &s, &sl));
            snprintf(v->problem, sizeof v->problem, "%.*s", (int)(sl > 255 ? 255 : sl), s);
        } else if (KEY("computed_head"))
            TRY(rhead(r, &v->head));
        else
            TRY(vt_mp_skip(r));
    }
out:
    return rv;
}

int ms_rep_decode(const void *buf, size_t len, ms_rep *r, vt_errinfo *ei)
{
    memset(r, 0, sizeof *r);
    uint32_t minor, tl;
    const char *t;
    int rv = vt_mp_read_envelope(buf, len, &minor, &t, &tl, ei);
    if (rv)
        return rv;
    if (vt_mp_str_eq(t, tl, "error")) {
        vt_msg m;
        if ((rv = vt_msg_decode(buf, len, &m, ei)) != 0)
            return rv;
        int code = m.u.error.code;
        if (code >= 0 || code < VT_ERR__LAST)
            code = VT_ERR_PROTO;
        vt_fail(ei, code, "%s", m.u.error.msg[0] ? m.u.error.msg : vt_strerror(code));
        vt_msg_free(&m);
        return code;
    }
    if (!vt_mp_str_eq(t, tl, "mem_ok"))
        return vt_fail(ei, VT_ERR_PROTO, "unexpected answer type");
    vt_mp_reader rd;
    vt_mp_reader_init(&rd, buf, len);
    uint32_t n;
    const char *field = "(map)";
    bool have_head = false;
    TRY(vt_mp_read_map(&rd, &n));
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t kl;
        field = "(key)";
        TRY(rkey(&rd, &k, &kl));
        field = "answer";
        if (KEY("head")) {
            field = "head";
            TRY(rhead(&rd, &r->head));
            have_head = true;
        } else if (KEY("id")) {
            TRY(vt_mp_read_uint(&rd, &r->id));
        } else if (KEY("item") && !r->has_item) {
            TRY(read_item(&rd, &r->item, &field));
            r->has_item = true;
        } else if (KEY("items") && !r->has_list) {
            r->has_list = true;
            TRY(read_items(&rd, &r->list.v, &r->list.n, &field));
        } else if (KEY("next_after")) {
            TRY(vt_mp_read_uint(&rd, &r->list.next_after));
        } else if (KEY("hits") && !r->has_hits) {
            uint32_t nh;
            r->has_hits = true;
            field = "hits";
            TRY(vt_mp_read_array(&rd, &nh));
            if (nh > VT_MEM_MAX_K) {
                rv = VT_ERR_TOOBIG;
                goto out;
            }
            if (nh && !(r->hits.v = calloc(nh, sizeof *r->hits.v))) {
                rv = VT_ERR_NOMEM;
                goto out;
            }
            for (uint32_t j = 0; j < nh; j++) {
                r->hits.n++;
                TRY(read_hit(&rd, &r->hits.v[j], &field));
            }
        } else if (KEY("profile") && !r->has_profile) {
            uint32_t np;
            r->has_profile = true;
            field = "profile";
            TRY(vt_mp_read_map(&rd, &np));
            if (np > VT_MEM_MAX_PROFILE_KEYS) {
                rv = VT_ERR_TOOBIG;
                goto out;
            }
            r->profile.keys = calloc(np ? np : 1, sizeof(char *));
            r->profile.values = calloc(np ? np : 1, sizeof(char *));
            if (!r->profile.keys || !r->profile.values) {
                rv = VT_ERR_NOMEM;
                goto out;
            }
            for (uint32_t j = 0; j < np; j++) {
                r->profile.n++;
                TRY(rstrdup(&rd, VT_MEM_MAX_PROFILE_KEY, &r->profile.keys[j]));
                TRY(rstrdup(&rd, VT_MEM_MAX_PROFILE_VALUE, &r->profile.values[j]));
            }
        } else if (KEY("verify") && !r->has_verify) {
            r->has_verify = true;
            field = "verify";
            TRY(read_verify(&rd, &r->verify));
        } else {
            TRY(vt_mp_skip(&rd));
        }
    }
    field = "head";
    rv = have_head ? 0 : VT_ERR_PROTO;
out:
    if (rv) {
        ms_rep_clear(r);
        return bad(ei, rv, field);
    }
    r->list.head = r->hits.head = r->profile.head = r->head;
    return 0;
}
