/* ms_item.c - public helpers on items, heads and result containers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_memsync.h"

const char *vt_mem_type_name(vt_mem_type t)
{
    switch (t) {
    case VT_MEM_SEMANTIC: return "semantic";
    case VT_MEM_EPISODIC: return "episodic";
    }
    return "unknown";
}

int vt_mem_type_parse(const char *s, vt_mem_type *out)
{
    if (s && strcmp(s, "semantic") == 0) {
        *out = VT_MEM_SEMANTIC;
        return 0;
    }
    if (s && strcmp(s, "episodic") == 0) {
        *out = VT_MEM_EPISODIC;
        return 0;
    }
    return VT_ERR_INVAL;
}

void vt_mem_item_clear(vt_mem_item *it)
{
    if (!it)
        return;
    free(it->source);
    for (size_t i = 0; i < it->ncategories; i++)
        free(it->categories[i]);
    free(it->categories);
    free(it->text);
    free(it->embedding);
    memset(it, 0, sizeof *it);
}

char *vt_mem_head_format(const vt_mem_head *h, char buf[VT_MEM_HEAD_STRSZ])
{
    static const char hex[] = "0123456789abcdef";
    int n = snprintf(buf, VT_MEM_HEAD_STRSZ, "%llu:", (unsigned long long)h->seq);
    for (int i = 0; i < 32; i++) {
        buf[n + 2 * i] = hex[h->hash[i] >> 4];
        buf[n + 2 * i + 1] = hex[h->hash[i] & 15];
    }
    buf[n + 64] = '\0';
    return buf;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int vt_mem_head_parse(const char *s, size_t n, vt_mem_head *out)
{
    size_t i = 0;
    uint64_t seq = 0;
    if (n == 0 || s[0] == ':')
        return VT_ERR_FORMAT;
    for (; i < n && s[i] != ':'; i++) {
        if (s[i] < '0' || s[i] > '9' || seq > (UINT64_MAX - 9) / 10)
            return VT_ERR_FORMAT;
        seq = seq * 10 + (uint64_t)(s[i] - '0');
    }
    if (i >= n || n - i - 1 != 64)
        return VT_ERR_FORMAT;
    const char *h = s + i + 1;
    for (int j = 0; j < 32; j++) {
        int a = hexval(h[2 * j]), b = hexval(h[2 * j + 1]);
        if (a < 0 || b < 0)
            return VT_ERR_FORMAT;
        out->hash[j] = (uint8_t)(a << 4 | b);
    }
    out->seq = seq;
    return 0;
}

void vt_mem_hits_clear(vt_mem_hits *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        vt_mem_item_clear(&h->v[i].item);
    free(h->v);
    memset(h, 0, sizeof *h);
}

void vt_mem_list_clear(vt_mem_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        vt_mem_item_clear(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

void vt_mem_profile_clear(vt_mem_profile *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->keys[i]);
        free(p->values[i]);
    }
    free(p->keys);
    free(p->values);
    memset(p, 0, sizeof *p);
}
