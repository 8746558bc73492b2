/* tlog_tree.c - the log held in memory as complete aligned subtrees.
 *
 * level[l] holds MTH of the blocks [i*2^l, (i+1)*2^l) that are complete, so
 * level[l] has exactly size >> l entries. Memory: about 2 * 32 bytes a leaf.
 * Every root and proof for any size <= current is assembled from these.
 */
#include "vt_tlog.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LEVELS 64

typedef struct level {
    uint8_t (*h)[VT_TLOG_HASH];
    uint64_t n, cap;
    /* During restore a node may arrive before its neighbours: track which
     * slots were filled so gaps are detected. */
    uint8_t *filled;
} level;

struct vt_tlog {
    uint64_t size;
    level lv[MAX_LEVELS];
};

int vt_tlog_new(vt_tlog **out)
{
    if (!out)
        return VT_ERR_INVAL;
    if (sodium_init() < 0)
        return VT_ERR_INTERNAL;
    *out = calloc(1, sizeof(vt_tlog));
    return *out ? 0 : VT_ERR_NOMEM;
}

void vt_tlog_free(vt_tlog *t)
{
    if (!t)
        return;
    for (int l = 0; l < MAX_LEVELS; l++) {
        free(t->lv[l].h);
        free(t->lv[l].filled);
    }
    free(t);
}

uint64_t vt_tlog_size(const vt_tlog *t)
{
    return t ? t->size : 0;
}

size_t vt_tlog_bytes(const vt_tlog *t)
{
    size_t b = t ? sizeof *t : 0;
    for (int l = 0; t && l < MAX_LEVELS; l++)
        b += (size_t)t->lv[l].cap * (VT_TLOG_HASH + 1);
    return b;
}

static int level_reserve(level *v, uint64_t n)
{
    if (n <= v->cap)
        return 0;
    uint64_t cap = v->cap ? v->cap : 64;
    while (cap < n)
        cap *= 2;
    void *h = realloc(v->h, cap * VT_TLOG_HASH);
    if (!h)
        return VT_ERR_NOMEM;
    v->h = h;
    uint8_t *f = realloc(v->filled, cap);
    if (!f)
        return VT_ERR_NOMEM;
    memset(f + v->cap, 0, cap - v->cap);
    v->filled = f;
    v->cap = cap;
    return 0;
}

static int level_set(level *v, uint64_t i, const uint8_t h[VT_TLOG_HASH])
{
    int rv = level_reserve(v, i + 1);
    if (rv)
        return rv;
    memcpy(v->h[i], h, VT_TLOG_HASH);
    v->filled[i] = 1;
    if (i + 1 > v->n)
        v->n = i + 1;
    return 0;
}

int vt_tlog_append(vt_tlog *t, const uint8_t leaf_hash[VT_TLOG_HASH], uint64_t *index_out,
                   vt_tlog_node *new_nodes, uint32_t *n_new)
{
    if (!t || !leaf_hash)
        return VT_ERR_INVAL;
    uint64_t idx = t->size;
    uint32_t k = 0;
    int rv = level_set(&t->lv[0], idx, leaf_hash);
    if (rv)
        return rv;
    if (new_nodes) {
        new_nodes[k].level = 0;
        new_nodes[k].index = idx;
        memcpy(new_nodes[k].hash, leaf_hash, VT_TLOG_HASH);
    }
    k++;
    /* Each trailing 1 bit of idx closes one more complete subtree. */
    uint64_t i = idx;
    for (uint32_t l = 1; l < MAX_LEVELS && (i & 1); l++) {
        uint64_t parent = i >> 1;
        uint8_t h[VT_TLOG_HASH];
        vt_tlog_node_hash(t->lv[l - 1].h[2 * parent], t->lv[l - 1].h[2 * parent + 1], h);
        if ((rv = level_set(&t->lv[l], parent, h)) != 0)
            return rv;
        if (new_nodes) {
            new_nodes[k].level = l;
            new_nodes[k].index = parent;
            memcpy(new_nodes[k].hash, h, VT_TLOG_HASH);
        }
        k++;
        i = parent;
    }
    t->size = idx + 1;
    if (index_out)
        *index_out = idx;
    if (n_new)
        *n_new = k;
    return 0;
}

int vt_tlog_restore_node(vt_tlog *t, const vt_tlog_node *node)
{
    if (!t || !node || node->level >= MAX_LEVELS)
        return VT_ERR_INVAL;
    if (node->index > (UINT64_MAX >> node->level))
        return VT_ERR_RANGE;
    return level_set(&t->lv[node->level], node->index, node->hash);
}

int vt_tlog_restore_finish(vt_tlog *t)
{
    if (!t)
        return VT_ERR_INVAL;
    uint64_t size = t->lv[0].n;
    for (uint64_t i = 0; i < size; i++)
        if (!t->lv[0].filled[i])
            return VT_ERR_FORMAT;
    for (int l = 1; l < MAX_LEVELS; l++) {
        level *v = &t->lv[l];
        uint64_t want = size >> l;
        /* A level the store keeps must be whole and agree with its
         * children; one it does not keep (tiles hold every 8th level) is
         * computed from them. */
        bool stored = v->n > 0;
        if (stored && v->n != want)
            return VT_ERR_FORMAT; /* missing or extra complete subtrees */
        for (uint64_t i = 0; i < want; i++) {
            uint8_t h[VT_TLOG_HASH];
            vt_tlog_node_hash(t->lv[l - 1].h[2 * i], t->lv[l - 1].h[2 * i + 1], h);
            if (!stored) {
                int rv = level_set(v, i, h);
                if (rv)
                    return rv;
            } else if (!v->filled[i] || sodium_memcmp(h, v->h[i], VT_TLOG_HASH) != 0) {
                return VT_ERR_FORMAT;
            }
        }
    }
    t->size = size;
    return 0;
}

int vt_tlog_leaf_at(const vt_tlog *t, uint64_t index, uint8_t out[VT_TLOG_HASH])
{
    return vt_tlog_node_at(t, 0, index, out);
}

int vt_tlog_node_at(const vt_tlog *t, uint32_t level, uint64_t index, uint8_t out[VT_TLOG_HASH])
{
    if (!t || !out || level >= MAX_LEVELS || index >= (t->size >> level))
        return VT_ERR_RANGE;
    memcpy(out, t->lv[level].h[index], VT_TLOG_HASH);
    return 0;
}

static uint64_t split_point(uint64_t n) /* largest power of two < n, n >= 2 */
{
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

/* MTH(D[a:b]). In the RFC recursion every power-of-two range is aligned, so it
 * is a stored node. */
static void mth(const vt_tlog *t, uint64_t a, uint64_t b, uint8_t out[VT_TLOG_HASH])
{
    uint64_t n = b - a;
    if (n == 0) {
        crypto_hash_sha256(out, (const unsigned char *)"", 0);
        return;
    }
    if ((n & (n - 1)) == 0 && a % n == 0) {
        int l = 0;
        while ((1ull << l) < n)
            l++;
        memcpy(out, t->lv[l].h[a >> l], VT_TLOG_HASH);
        return;
    }
    uint64_t k = split_point(n);
    uint8_t left[VT_TLOG_HASH], right[VT_TLOG_HASH];
    mth(t, a, a + k, left);
    mth(t, a + k, b, right);
    vt_tlog_node_hash(left, right, out);
}

int vt_tlog_root(const vt_tlog *t, uint64_t size, uint8_t out[VT_TLOG_HASH])
{
    if (!t || !out || size > t->size)
        return VT_ERR_RANGE;
    mth(t, 0, size, out);
    return 0;
}

static int push(vt_tlog_proof *p, const uint8_t h[VT_TLOG_HASH])
{
    if (p->n >= VT_TLOG_MAX_PROOF)
        return VT_ERR_RANGE;
    memcpy(p->hash[p->n++], h, VT_TLOG_HASH);
    return 0;
}

/* RFC 6962 2.1.1 PATH(m, D[a:b]) */
static int path(const vt_tlog *t, uint64_t m, uint64_t a, uint64_t b, vt_tlog_proof *p)
{
    uint64_t n = b - a;
    if (n <= 1)
        return 0;
    uint64_t k = split_point(n);
    uint8_t h[VT_TLOG_HASH];
    int rv;
    if (m < k) {
        if ((rv = path(t, m, a, a + k, p)) != 0)
            return rv;
        mth(t, a + k, b, h);
    } else {
        if ((rv = path(t, m - k, a + k, b, p)) != 0)
            return rv;
        mth(t, a, a + k, h);
    }
    return push(p, h);
}

int vt_tlog_prove_inclusion(const vt_tlog *t, uint64_t index, uint64_t size,
                            vt_tlog_proof *out)
{
    if (!t || !out || size > t->size || index >= size)
        return VT_ERR_RANGE;
    out->n = 0;
    return path(t, index, 0, size, out);
}

/* RFC 6962 2.1.2 SUBPROOF(m, D[a:b], complete) */
static int subproof(const vt_tlog *t, uint64_t m, uint64_t a, uint64_t b, int complete,
                    vt_tlog_proof *p)
{
    uint64_t n = b - a;
    uint8_t h[VT_TLOG_HASH];
    int rv;
    if (m == n) {
        if (complete)
            return 0;
        mth(t, a, b, h);
        return push(p, h);
    }
    uint64_t k = split_point(n);
    if (m <= k) {
        if ((rv = subproof(t, m, a, a + k, complete, p)) != 0)
            return rv;
        mth(t, a + k, b, h);
    } else {
        if ((rv = subproof(t, m - k, a + k, b, 0, p)) != 0)
            return rv;
        mth(t, a, a + k, h);
    }
    return push(p, h);
}

int vt_tlog_prove_consistency(const vt_tlog *t, uint64_t size1, uint64_t size2,
                              vt_tlog_proof *out)
{
    if (!t || !out || size1 > size2 || size2 > t->size)
        return VT_ERR_RANGE;
    out->n = 0;
    if (size1 == 0 || size1 == size2)
        return 0;
    return subproof(t, size1, 0, size2, 1, out);
}
