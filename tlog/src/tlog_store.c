/* tlog_store.c - the log's durable copy in Redis (layout in vt_tlog.h). */
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_redis.h"
#include "vt_tlog.h"

#define KEY_NODES "verity:tlog:nodes"
#define KEY_HEAD "verity:tlog:head"
#define KEY_HEADS "verity:tlog:heads"
#define HEADS_KEPT 1000

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

int vt_tlog_store_queue(struct vt_redis *r, const vt_tlog_node *nodes, uint32_t n,
                        vt_errinfo *ei)
{
    if (!r || !nodes || n == 0 || n > 4096)
        return vt_fail(ei, VT_ERR_INVAL, "tlog store: bad node batch");
    size_t argc = 2 + 2 * (size_t)n;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *lens = malloc(argc * sizeof *lens);
    char (*fields)[48] = malloc((size_t)n * sizeof *fields);
    int rv = VT_ERR_NOMEM;
    if (argv && lens && fields) {
        argv[0] = "HSET";
        lens[0] = 4;
        argv[1] = KEY_NODES;
        lens[1] = strlen(KEY_NODES);
        for (uint32_t i = 0; i < n; i++) {
            int fl = snprintf(fields[i], sizeof fields[i], "%u:%llu", nodes[i].level,
                              (unsigned long long)nodes[i].index);
            argv[2 + 2 * i] = fields[i];
            lens[2 + 2 * i] = (size_t)fl;
            argv[3 + 2 * i] = (const char *)nodes[i].hash;
            lens[3 + 2 * i] = VT_TLOG_HASH;
        }
        rv = vt_redis_appendv(r, ei, (int)argc, argv, lens);
    }
    free(argv);
    free(lens);
    free(fields);
    return rv ? rv : 1;
}

int vt_tlog_store_queue_head(struct vt_redis *r, const vt_tree_head *th, vt_errinfo *ei)
{
    uint8_t b[VT_TREE_HEAD_BYTES];
    vt_tree_head_encode(th, b);
    const char *set[] = {"SET", KEY_HEAD, (const char *)b};
    size_t setl[] = {3, strlen(KEY_HEAD), sizeof b};
    const char *push[] = {"LPUSH", KEY_HEADS, (const char *)b};
    size_t pushl[] = {5, strlen(KEY_HEADS), sizeof b};
    int rv = vt_redis_appendv(r, ei, 3, set, setl);
    if (!rv)
        rv = vt_redis_appendv(r, ei, 3, push, pushl);
    if (!rv)
        rv = vt_redis_append(r, ei, "LTRIM %s 0 %d", KEY_HEADS, HEADS_KEPT - 1);
    return rv ? rv : 3;
}

int vt_tlog_store_load_head(struct vt_redis *r, vt_tree_head *out, vt_errinfo *ei)
{
    redisReply *rep = NULL;
    int rv = vt_redis_command(r, &rep, ei, "GET %s", KEY_HEAD);
    if (rv)
        return rv;
    if (rep->type == REDIS_REPLY_NIL) {
        rv = VT_ERR_NOTFOUND;
    } else if (rep->type != REDIS_REPLY_STRING || rep->len != VT_TREE_HEAD_BYTES) {
        rv = vt_fail(ei, VT_ERR_FORMAT, "tlog store: %s is not a tree head", KEY_HEAD);
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

int vt_tlog_store_load(struct vt_redis *r, vt_tlog *t, vt_errinfo *ei)
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
