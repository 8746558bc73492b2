/* ms_record.c - canonical item/op encodings (layout in ms_record.h). */
#include "ms_record.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char ITEM_MAGIC[4] = {'V', 'M', 'I', '1'};
static const char OP_MAGIC[4] = {'V', 'M', 'O', '1'};

static int has_nul(const char *s, size_t n) { return memchr(s, 0, n) != NULL; }

static int check_str(const char *what, const char *s, size_t max, vt_errinfo *ei)
{
    if (!s)
        return 0;
    size_t n = strlen(s);
    if (n > max)
        return vt_fail(ei, VT_ERR_TOOBIG, "%s is %zu bytes, limit %zu", what, n, max);
    return 0;
}

int ms_item_check(const vt_mem_item *it, size_t max_text, vt_errinfo *ei)
{
    int rv;
    if (it->type != VT_MEM_SEMANTIC && it->type != VT_MEM_EPISODIC)
        return vt_fail(ei, VT_ERR_INVAL, "type must be semantic or episodic");
    if (!(it->importance >= 0.0f && it->importance <= 1.0f))
        return vt_fail(ei, VT_ERR_RANGE, "importance must be within 0..1");
    if (!it->text || !it->text[0])
        return vt_fail(ei, VT_ERR_INVAL, "text is empty");
    if (max_text > VT_MEM_MAX_TEXT)
        max_text = VT_MEM_MAX_TEXT;
    if ((rv = check_str("text", it->text, max_text, ei)) != 0)
        return rv;
    if ((rv = check_str("source", it->source, VT_MEM_MAX_SOURCE, ei)) != 0)
        return rv;
    if (it->ncategories > VT_MEM_MAX_CATEGORIES)
        return vt_fail(ei, VT_ERR_TOOBIG, "%zu categories, limit %d", it->ncategories,
                       VT_MEM_MAX_CATEGORIES);
    for (size_t i = 0; i < it->ncategories; i++) {
        if (!it->categories[i] || !it->categories[i][0])
            return vt_fail(ei, VT_ERR_INVAL, "empty category");
        if ((rv = check_str("category", it->categories[i], VT_MEM_MAX_CATEGORY, ei)) != 0)
            return rv;
    }
    if (it->dim > VT_MEM_MAX_DIM)
        return vt_fail(ei, VT_ERR_TOOBIG, "embedding dimension %u, limit %d", it->dim,
                       VT_MEM_MAX_DIM);
    if (it->dim > 0 && !it->embedding)
        return vt_fail(ei, VT_ERR_INVAL, "embedding missing");
    for (uint32_t i = 0; i < it->dim; i++)
        if (!isfinite(it->embedding[i]))
            return vt_fail(ei, VT_ERR_INVAL, "embedding[%u] is not finite", i);
    return 0;
}

void ms_item_encode(ms_buf *b, const vt_mem_item *it)
{
    const char *src = it->source ? it->source : "";
    ms_buf_put(b, ITEM_MAGIC, 4);
    ms_buf_u64(b, it->id);
    ms_buf_u8(b, (uint8_t)it->type);
    ms_buf_f32(b, it->importance);
    ms_buf_u64(b, (uint64_t)it->created_ms);
    ms_buf_u64(b, (uint64_t)it->updated_ms);
    ms_buf_u64(b, it->seq);
    ms_buf_str(b, src, strlen(src));
    ms_buf_u16(b, (uint16_t)it->ncategories);
    for (size_t i = 0; i < it->ncategories; i++)
        ms_buf_str(b, it->categories[i], strlen(it->categories[i]));
    ms_buf_str(b, it->text, strlen(it->text));
    ms_buf_u32(b, it->dim);
    for (uint32_t i = 0; i < it->dim; i++)
        ms_buf_f32(b, it->embedding[i]);
}

/* Copy a length-prefixed string into a new NUL-terminated one. */
static int cur_strdup(ms_cur *c, uint32_t max, char **out)
{
    const char *s;
    uint32_t n;
    int rv = ms_cur_str(c, &s, &n, max);
    if (rv != 0)
        return rv;
    if (has_nul(s, n))
        return VT_ERR_FORMAT;
    char *d = malloc((size_t)n + 1);
    if (!d)
        return VT_ERR_NOMEM;
    memcpy(d, s, n);
    d[n] = '\0';
    *out = d;
    return 0;
}

static int item_read(ms_cur *c, vt_mem_item *it)
{
    uint8_t magic[4], type;
    uint16_t ncat;
    uint64_t u;
    int rv = 0;
    memset(it, 0, sizeof *it);
    for (int i = 0; i < 4 && rv == 0; i++)
        rv = ms_cur_u8(c, &magic[i]);
    if (rv == 0 && memcmp(magic, ITEM_MAGIC, 4) != 0)
        rv = VT_ERR_FORMAT;
    if (rv == 0) rv = ms_cur_u64(c, &it->id);
    if (rv == 0) rv = ms_cur_u8(c, &type);
    if (rv == 0) it->type = (vt_mem_type)type;
    if (rv == 0) rv = ms_cur_f32(c, &it->importance);
    if (rv == 0 && (rv = ms_cur_u64(c, &u)) == 0) it->created_ms = (int64_t)u;
    if (rv == 0 && (rv = ms_cur_u64(c, &u)) == 0) it->updated_ms = (int64_t)u;
    if (rv == 0) rv = ms_cur_u64(c, &it->seq);
    if (rv == 0) rv = cur_strdup(c, VT_MEM_MAX_SOURCE, &it->source);
    if (rv == 0) rv = ms_cur_u16(c, &ncat);
    if (rv == 0 && ncat > VT_MEM_MAX_CATEGORIES) rv = VT_ERR_FORMAT;
    if (rv == 0 && ncat > 0) {
        it->categories = calloc(ncat, sizeof(char *));
        if (!it->categories) rv = VT_ERR_NOMEM;
        for (uint16_t i = 0; rv == 0 && i < ncat; i++) {
            rv = cur_strdup(c, VT_MEM_MAX_CATEGORY, &it->categories[i]);
            if (rv == 0) it->ncategories++;
        }
    }
    if (rv == 0) rv = cur_strdup(c, VT_MEM_MAX_TEXT, &it->text);
    if (rv == 0) rv = ms_cur_u32(c, &it->dim);
    if (rv == 0 && it->dim > VT_MEM_MAX_DIM) rv = VT_ERR_FORMAT;
    if (rv == 0 && it->dim > 0) {
        if ((size_t)it->dim * 4 > c->left) {
            rv = VT_ERR_TRUNCATED;
        } else if (!(it->embedding = malloc((size_t)it->dim * sizeof(float)))) {
            rv = VT_ERR_NOMEM;
        } else {
            for (uint32_t i = 0; rv == 0 && i < it->dim; i++)
                rv = ms_cur_f32(c, &it->embedding[i]);
        }
    }
    if (rv != 0) {
        if (rv != VT_ERR_TRUNCATED && rv != VT_ERR_NOMEM)
            rv = VT_ERR_FORMAT;
        vt_mem_item_clear(it);
    }
    return rv;
}

int ms_item_decode(const uint8_t *p, size_t n, vt_mem_item *it)
{
    ms_cur c = {p, n};
    int rv = item_read(&c, it);
    if (rv == 0 && c.left != 0) {
        vt_mem_item_clear(it);
        rv = VT_ERR_FORMAT;
    }
    return rv;
}

void ms_op_encode(ms_buf *b, const ms_op *op)
{
    ms_buf_put(b, OP_MAGIC, 4);
    ms_buf_u64(b, op->seq);
    ms_buf_u8(b, (uint8_t)op->kind);
    ms_buf_u64(b, (uint64_t)op->ts_ms);
    switch (op->kind) {
    case MS_OP_ADD:
    case MS_OP_UPDATE:
        ms_item_encode(b, &op->item);
        break;
    case MS_OP_DELETE:
        ms_buf_u64(b, op->id);
        break;
    case MS_OP_PROFILE_SET:
        ms_buf_str(b, op->key, strlen(op->key));
        ms_buf_str(b, op->value, strlen(op->value));
        break;
    case MS_OP_PROFILE_DEL:
        ms_buf_str(b, op->key, strlen(op->key));
        break;
    }
}

int ms_op_decode(const uint8_t *p, size_t n, ms_op *op)
{
    ms_cur c = {p, n};
    uint8_t kind;
    uint64_t ts;
    int rv;
    memset(op, 0, sizeof *op);
    if (n < 4 || memcmp(p, OP_MAGIC, 4) != 0)
        return VT_ERR_FORMAT;
    c.p += 4;
    c.left -= 4;
    if ((rv = ms_cur_u64(&c, &op->seq)) != 0 || (rv = ms_cur_u8(&c, &kind)) != 0 ||
        (rv = ms_cur_u64(&c, &ts)) != 0)
        return VT_ERR_FORMAT;
    op->kind = kind;
    op->ts_ms = (int64_t)ts;
    switch (kind) {
    case MS_OP_ADD:
    case MS_OP_UPDATE:
        rv = item_read(&c, &op->item);
        if (rv == 0)
            op->id = op->item.id;
        break;
    case MS_OP_DELETE:
        rv = ms_cur_u64(&c, &op->id);
        break;
    case MS_OP_PROFILE_SET:
        rv = cur_strdup(&c, VT_MEM_MAX_PROFILE_KEY, &op->key);
        if (rv == 0)
            rv = cur_strdup(&c, VT_MEM_MAX_PROFILE_VALUE, &op->value);
        break;
    case MS_OP_PROFILE_DEL:
        rv = cur_strdup(&c, VT_MEM_MAX_PROFILE_KEY, &op->key);
        break;
    default:
        rv = VT_ERR_FORMAT;
    }
    if (rv == 0 && c.left != 0)
        rv = VT_ERR_FORMAT;
    if (rv != 0) {
        ms_op_clear(op);
        return rv == VT_ERR_NOMEM ? rv : VT_ERR_FORMAT;
    }
    return 0;
}

void ms_op_clear(ms_op *op)
{
    vt_mem_item_clear(&op->item);
    free(op->key);
    free(op->value);
    memset(op, 0, sizeof *op);
}

static char *dupstr(const char *s, int *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = 1;
    return d;
}

int ms_item_copy(vt_mem_item *dst, const vt_mem_item *src)
{
    int oom = 0;
    *dst = *src;
    dst->source = dupstr(src->source, &oom);
    dst->text = dupstr(src->text, &oom);
    dst->categories = NULL;
    dst->ncategories = 0;
    dst->embedding = NULL;
    dst->dim = 0;
    if (src->ncategories) {
        dst->categories = calloc(src->ncategories, sizeof(char *));
        if (!dst->categories)
            oom = 1;
        for (size_t i = 0; !oom && i < src->ncategories; i++) {
            dst->categories[i] = dupstr(src->categories[i], &oom);
            if (!oom)
                dst->ncategories++;
        }
    }
    if (!oom && src->dim) {
        dst->embedding = malloc((size_t)src->dim * sizeof(float));
        if (!dst->embedding) {
            oom = 1;
        } else {
            memcpy(dst->embedding, src->embedding, (size_t)src->dim * sizeof(float));
            dst->dim = src->dim;
        }
    }
    if (oom) {
        vt_mem_item_clear(dst);
        return VT_ERR_NOMEM;
    }
    return 0;
}
