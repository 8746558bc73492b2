/* tlog_store.c - the log's durable copy in Redis (layout in vt_tlog.h). */
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_redis.h"
#include "vt_tlog.h"

#define KEY_NODES "verity:tlog:nodes" /* the layout before tiles */
#define KEY_TILE "verity:tlog:tile"
#define KEY_OLD_HEAD "verity:tlog:head" /* before tiles: a copy of heads[0] */
#define KEY_HEADS "verity:tlog:heads"
#define HEADS_KEPT 1000

/* A tile holds 2^TILE_BITS nodes of every 2^TILE_BITS-th tree level. */
#define TILE_BITS 8
#define TILE_NODES (1u << TILE_BITS)
#define TILE_BYTES (TILE_NODES * VT_TLOG_HASH)
#define TILE_LEVELS (64 / TILE_BITS)
#define LOAD_BATCH 64 /* tiles asked for per pipelined round trip */

static int tile_key(char *buf, size_t cap, uint32_t tlevel, uint64_t k)
{
    return snprintf(buf, cap, "%s:%u:%llu", KEY_TILE, tlevel, (unsigned long long)k);
}

void vt_tree_head_encode(const vt_tree_head *th, uint8_t out[VT_TREE_HEAD_BYTES])
{
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(th->size >> (56 - 8 * i));
        out[8 + i] = (uint8_t)(th->time_ms >> (56 - 8 * i));
    }
    memcpy(out + 16, th->root, VT_TLOG_HASH);
    memcpy(out + 16 + VT_TLOG_HASH, th->sig, 64);
}

void vt_tree_head_decode(const uint8_t in[VT_TREE_HEAD_BYTES], vt_tree_head *th)
{
    th->size = th->time_ms = 0;
    for (int i = 0; i < 8; i++) {
        th->size = th->size << 8 | in[i];
        th->time_ms = th->time_ms << 8 | in[8 + i];
    }
    memcpy(th->root, in + 16, VT_TLOG_HASH);
    memcpy(th->sig, in + 16 + VT_TLOG_HASH, 64);
}

/* SETRANGE of run[0..n) (consecutive nodes of one tile) at their offsets in
 * the tile. */
static int queue_run(struct vt_redis *r, const vt_tlog_node *const *run, uint32_t n,
                     vt_errinfo *ei)
{
    uint32_t tlevel = run[0]->level / TILE_BITS;
    uint64_t k = run[0]->index >> TILE_BITS;
    char key[64], off[24];
    uint8_t data[TILE_BYTES];
    int kl = tile_key(key, sizeof key, tlevel, k);
    int ol = snprintf(off, sizeof off, "%llu",
                      (unsigned long long)(run[0]->index & (TILE_NODES - 1)) * VT_TLOG_HASH);
    for (uint32_t i = 0; i < n; i++)
        memcpy(data + (size_t)i * VT_TLOG_HASH, run[i]->hash, VT_TLOG_HASH);
    const char *argv[] = {"SETRANGE", key, off, (const char *)data};
    size_t lens[] = {8, (size_t)kl, (size_t)ol, (size_t)n * VT_TLOG_HASH};
    return vt_redis_appendv(r, ei, 4, argv, lens);
}

/* Queue the run gathered so far, if any. */
static int flush_run(struct vt_redis *r, const vt_tlog_node *const *run, uint32_t *m, int *queued,
                     vt_errinfo *ei)
{
    if (*m == 0)
        return 0;
    int rv = queue_run(r, run, *m, ei);
    *m = 0;
    *queued += rv == 0;
    return rv;
}

int vt_tlog_store_queue(struct vt_redis *r, const vt_tlog_node *nodes, uint32_t n,
                        vt_errinfo *ei)
{
    if (!r || !nodes || n == 0 || n > 4096)
        return vt_fail(ei, VT_ERR_INVAL, "tlog store: bad node batch");
    /* Appends complete nodes in index order within each level, so the nodes
     * of one kept level form runs of consecutive indices. */
    const vt_tlog_node *run[TILE_NODES];
    int queued = 0, rv = 0;
    for (uint32_t tl = 0; tl < TILE_LEVELS && rv == 0; tl++) {
        uint32_t m = 0;
        for (uint32_t i = 0; i < n && rv == 0; i++) {
            const vt_tlog_node *nd = &nodes[i];
            if (nd->level != tl * TILE_BITS)
                continue;
            if (m > 0 && (nd->index != run[m - 1]->index + 1 ||
                          (nd->index >> TILE_BITS) != (run[0]->index >> TILE_BITS)))
                rv = flush_run(r, run, &m, &queued, ei);
            run[m++] = nd;
        }
        if (rv == 0)
            rv = flush_run(r, run, &m, &queued, ei);
    }
    if (rv)
        return rv;
    return queued ? queued : vt_fail(ei, VT_ERR_INVAL, "tlog store: no node to write");
}

int vt_tlog_store_queue_head(struct vt_redis *r, const vt_tree_head *th, vt_errinfo *ei)
{
    uint8_t b[VT_TREE_HEAD_BYTES];
    vt_tree_head_encode(th, b);
    const char *push[] = {"LPUSH", KEY_HEADS, (const char *)b};
    size_t pushl[] = {5, strlen(KEY_HEADS), sizeof b};
    int rv = vt_redis_appendv(r, ei, 3, push, pushl);
    if (!rv)
        rv = vt_redis_append(r, ei, "LTRIM %s 0 %d", KEY_HEADS, HEADS_KEPT - 1);
    return rv ? rv : 2;
}

int vt_tlog_store_load_head(struct vt_redis *r, vt_tree_head *out, vt_errinfo *ei)
{
    redisReply *rep = NULL;
    int rv = vt_redis_command(r, &rep, ei, "LINDEX %s 0", KEY_HEADS);
    if (rv)
        return rv;
    if (rep->type == REDIS_REPLY_NIL) {
        rv = VT_ERR_NOTFOUND;
    } else if (rep->type != REDIS_REPLY_STRING || rep->len != VT_TREE_HEAD_BYTES) {
        rv = vt_fail(ei, VT_ERR_FORMAT, "tlog store: %s[0] is not a tree head", KEY_HEADS);
    } else {
        vt_tree_head_decode((const uint8_t *)rep->str, out);
    }
    freeReplyObject(rep);
    return rv;
}

static int parse_field(const char *s, size_t len, vt_tlog_node *n)
{
    char buf[48];
    if (len == 0 || len >= sizeof buf)
        return VT_ERR_FORMAT;
    memcpy(buf, s, len);
    buf[len] = 0;
    unsigned level;
    unsigned long long index;
    char tail;
    if (sscanf(buf, "%u:%llu%c", &level, &index, &tail) != 2)
        return VT_ERR_FORMAT;
    n->level = level;
    n->index = index;
    return 0;
}

/* The layout before tiles: every node in one hash. */
static int load_hash(struct vt_redis *r, vt_tlog *t, vt_errinfo *ei)
{
    /* Collect first, then check every index against the leaf count before
     * restoring: a corrupt index must not size an allocation. HSCAN pages
     * through the hash, which may hold millions of nodes. */
    vt_tlog_node *all = NULL;
    size_t n_all = 0, cap = 0;
    uint64_t n_leaves = 0;
    char cursor[32] = "0";
    int rv = 0;
    do {
        redisReply *rep = NULL;
        if ((rv = vt_redis_command(r, &rep, ei, "HSCAN %s %s COUNT 4096", KEY_NODES, cursor)))
            goto out;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
            rep->element[0]->type != REDIS_REPLY_STRING ||
            rep->element[0]->len >= sizeof cursor || rep->element[1]->type != REDIS_REPLY_ARRAY ||
            rep->element[1]->elements % 2) {
            freeReplyObject(rep);
            rv = vt_fail(ei, VT_ERR_FORMAT, "tlog store: unexpected HSCAN reply");
            goto out;
        }
        memcpy(cursor, rep->element[0]->str, rep->element[0]->len);
        cursor[rep->element[0]->len] = 0;
        redisReply *kv = rep->element[1];
        for (size_t i = 0; i < kv->elements; i += 2) {
            redisReply *f = kv->element[i], *v = kv->element[i + 1];
            if (n_all == cap) {
                size_t nc = cap ? 2 * cap : 4096;
                vt_tlog_node *na = realloc(all, nc * sizeof *na);
                if (!na) {
                    freeReplyObject(rep);
                    rv = vt_fail(ei, VT_ERR_NOMEM, "tlog store: out of memory");
                    goto out;
                }
                all = na;
                cap = nc;
            }
            vt_tlog_node *n = &all[n_all];
            if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
                v->len != VT_TLOG_HASH || parse_field(f->str, f->len, n) != 0 || n->level >= 64) {
                freeReplyObject(rep);
                rv = vt_fail(ei, VT_ERR_FORMAT, "tlog store: bad node entry in %s", KEY_NODES);
                goto out;
            }
            memcpy(n->hash, v->str, VT_TLOG_HASH);
            n_leaves += n->level == 0;
            n_all++;
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    for (size_t i = 0; i < n_all; i++) {
        if (all[i].index >= (n_leaves >> all[i].level)) {
            rv = vt_fail(ei, VT_ERR_FORMAT, "tlog store: node %u:%llu beyond %llu leaves",
                         all[i].level, (unsigned long long)all[i].index,
                         (unsigned long long)n_leaves);
            goto out;
        }
        if ((rv = vt_tlog_restore_node(t, &all[i])) != 0)
            goto out;
    }
    if ((rv = vt_tlog_restore_finish(t)) != 0)
        rv = vt_fail(ei, rv, "tlog store: stored nodes do not form a consistent log");
out:
    free(all);
    return rv;
}

/* One tile read back: its nodes into t. *full: it holds TILE_NODES. */
static int restore_tile(vt_tlog *t, uint32_t tlevel, uint64_t k, const redisReply *rep,
                        bool *full, vt_errinfo *ei)
{
    if (rep->type != REDIS_REPLY_STRING || rep->len == 0 || rep->len % VT_TLOG_HASH ||
        rep->len > TILE_BYTES)
        return vt_fail(ei, VT_ERR_FORMAT, "tlog store: %s:%u:%llu is not a tile", KEY_TILE,
                       tlevel, (unsigned long long)k);
    size_t n = rep->len / VT_TLOG_HASH;
    for (size_t i = 0; i < n; i++) {
        vt_tlog_node nd = {.level = tlevel * TILE_BITS, .index = (k << TILE_BITS) + i};
        memcpy(nd.hash, rep->str + i * VT_TLOG_HASH, VT_TLOG_HASH);
        int rv = vt_tlog_restore_node(t, &nd);
        if (rv)
            return vt_fail(ei, rv, "tlog store: tile %u:%llu: %s", tlevel, (unsigned long long)k,
                           vt_errname(rv));
    }
    *full = n == TILE_NODES;
    return 0;
}

/* Read the tiles of kept level tl in order up to the first one missing or
 * partial (the level's last); *n_tiles: how many were read. */
static int load_level(struct vt_redis *r, vt_tlog *t, uint32_t tl, uint64_t *n_tiles,
                      vt_errinfo *ei)
{
    *n_tiles = 0;
    bool end = false;
    for (uint64_t k = 0; !end; k += LOAD_BATCH) {
        redisReply *reps[LOAD_BATCH] = {0};
        int rv = 0;
        for (int i = 0; i < LOAD_BATCH && rv == 0; i++) {
            char key[64];
            tile_key(key, sizeof key, tl, k + (uint64_t)i);
            rv = vt_redis_append(r, ei, "GET %s", key);
        }
        if (rv == 0)
            rv = vt_redis_read_replies(r, reps, LOAD_BATCH, ei);
        for (int i = 0; i < LOAD_BATCH && rv == 0; i++) {
            bool nil = reps[i]->type == REDIS_REPLY_NIL, full = false;
            if (end && !nil) /* within the batch; the scheduler's head check sees the rest */
                rv = vt_fail(ei, VT_ERR_FORMAT, "tlog store: tile %u:%llu after the last one", tl,
                             (unsigned long long)(k + (uint64_t)i));
            else if (nil)
                end = true;
            else if (!end && (rv = restore_tile(t, tl, k + (uint64_t)i, reps[i], &full, ei)) == 0) {
                *n_tiles = k + (uint64_t)i + 1;
                end = !full;
            }
        }
        vt_redis_free_replies(reps, LOAD_BATCH);
        if (rv)
            return rv;
    }
    return 0;
}

static int load_tiles(struct vt_redis *r, vt_tlog *t, vt_errinfo *ei)
{
    for (uint32_t tl = 0; tl < TILE_LEVELS; tl++) {
        uint64_t n = 0;
        int rv = load_level(r, t, tl, &n, ei);
        if (rv)
            return rv;
        if (n == 0)
            break; /* the levels above are empty too */
    }
    int rv = vt_tlog_restore_finish(t);
    return rv ? vt_fail(ei, rv, "tlog store: stored tiles do not form a consistent log") : 0;
}

/* Write t's kept levels as tiles (SET: whole tiles, so a conversion cut
 * short and redone writes the same), then delete the old hash (and the old
 * copy of the latest head). Until that DEL the hash is what a load reads. */
static int convert_to_tiles(struct vt_redis *r, const vt_tlog *t, vt_errinfo *ei)
{
    uint64_t size = vt_tlog_size(t);
    uint8_t data[TILE_BYTES];
    for (uint32_t tl = 0; tl < TILE_LEVELS; tl++) {
        uint64_t nodes = size >> (tl * TILE_BITS);
        uint64_t tiles = (nodes + TILE_NODES - 1) / TILE_NODES;
        for (uint64_t k0 = 0; k0 < tiles; k0 += LOAD_BATCH) {
            int q = 0, rv = 0;
            for (uint64_t k = k0; k < tiles && k < k0 + LOAD_BATCH && rv == 0; k++, q++) {
                uint64_t first = k * TILE_NODES;
                uint64_t n = nodes - first < TILE_NODES ? nodes - first : TILE_NODES;
                for (uint64_t i = 0; i < n; i++)
                    vt_tlog_node_at(t, tl * TILE_BITS, first + i, data + i * VT_TLOG_HASH);
                char key[64];
                int kl = tile_key(key, sizeof key, tl, k);
                const char *argv[] = {"SET", key, (const char *)data};
                size_t lens[] = {3, (size_t)kl, (size_t)n * VT_TLOG_HASH};
                rv = vt_redis_appendv(r, ei, 3, argv, lens);
            }
            redisReply *reps[LOAD_BATCH] = {0};
            if (rv == 0)
                rv = vt_redis_read_replies(r, reps, (size_t)q, ei);
            for (int i = 0; i < q && rv == 0; i++)
                if (reps[i]->type != REDIS_REPLY_STATUS)
                    rv = vt_fail(ei, VT_ERR_UNAVAILABLE, "tlog store: writing tiles: %s",
                                 reps[i]->type == REDIS_REPLY_ERROR ? reps[i]->str : "?");
            vt_redis_free_replies(reps, (size_t)q);
            if (rv)
                return rv;
        }
    }
    redisReply *rep = NULL;
    int rv = vt_redis_command(r, &rep, ei, "DEL %s %s", KEY_NODES, KEY_OLD_HEAD);
    if (rep)
        freeReplyObject(rep);
    return rv;
}

int vt_tlog_store_load(struct vt_redis *r, vt_tlog *t, bool *converted, vt_errinfo *ei)
{
    if (converted)
        *converted = false;
    redisReply *rep = NULL;
    long long legacy = 0;
    int rv = vt_redis_command(r, &rep, ei, "EXISTS %s", KEY_NODES);
    if (rv == 0)
        rv = vt_redis_reply_int(rep, &legacy, ei);
    if (rep)
        freeReplyObject(rep);
    if (rv)
        return rv;
    if (!legacy)
        return load_tiles(r, t, ei);
    rv = load_hash(r, t, ei);
    if (rv == 0)
        rv = convert_to_tiles(r, t, ei);
    if (rv == 0 && converted)
        *converted = true;
    return rv;
}
