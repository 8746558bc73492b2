/* ms_verify.c - tamper check of one agent's memory: recompute the hash
 * chain over the op log, replay the log, and compare what it produces with
 * what Redis holds (head, item records, item list, postings, profile).
 * Anyone who edits an item, the index or the profile in Redis without
 * going through memsync is caught here, because the log and its chain are
 * the commitment; editing the log itself breaks the chain, unless the
 * attacker also rewrites the head - which the holder of an older head (a
 * receipt, a previous answer) detects by comparing heads. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms_chain.h"
#include "ms_store.h"
#include "ms_store_int.h"
#include "ms_tokenize.h"

#define MS_VCHUNK 256

typedef struct vstate {
    ms_buf *recs;        /* recs[id]: expected record of item id, len 0 = none */
    uint64_t nrecs;
    char **pkeys, **pvals;
    size_t np, pcap;
} vstate;

static void vstate_free(vstate *s)
{
    for (uint64_t i = 0; i < s->nrecs; i++)
        ms_buf_free(&s->recs[i]);
    free(s->recs);
    for (size_t i = 0; i < s->np; i++) {
        free(s->pkeys[i]);
        free(s->pvals[i]);
    }
    free(s->pkeys);
    free(s->pvals);
}

static int problem(vt_mem_verify *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int problem(vt_mem_verify *out, const char *fmt, ...)
{
    va_list ap;
    out->ok = false;
    va_start(ap, fmt);
    vsnprintf(out->problem, sizeof out->problem, fmt, ap);
    va_end(ap);
    return 0;
}

static int vapply(vstate *s, const ms_op *op, vt_mem_verify *out)
{
    switch (op->kind) {
    case MS_OP_ADD:
    case MS_OP_UPDATE: {
        uint64_t id = op->item.id;
        if (id == 0 || id >= s->nrecs || op->item.seq != op->seq ||
            (op->kind == MS_OP_ADD && id != op->seq))
            return problem(out, "op %llu: item id/seq inconsistent", (unsigned long long)op->seq);
        bool exists = s->recs[id].len > 0;
        if (exists != (op->kind == MS_OP_UPDATE))
            return problem(out, "op %llu: add of an existing or update of a missing item",
                           (unsigned long long)op->seq);
        s->recs[id].len = 0;
        ms_item_encode(&s->recs[id], &op->item);
        return s->recs[id].oom ? VT_ERR_NOMEM : 0;
    }
    case MS_OP_DELETE:
        if (op->id == 0 || op->id >= s->nrecs || s->recs[op->id].len == 0)
            return problem(out, "op %llu: delete of a missing item", (unsigned long long)op->seq);
        ms_buf_free(&s->recs[op->id]);
        return 0;
    case MS_OP_PROFILE_SET:
    case MS_OP_PROFILE_DEL: {
        size_t i = 0;
        while (i < s->np && strcmp(s->pkeys[i], op->key) != 0)
            i++;
        if (op->kind == MS_OP_PROFILE_DEL) {
            if (i == s->np)
                return problem(out, "op %llu: delete of a missing profile key",
                               (unsigned long long)op->seq);
            free(s->pkeys[i]);
            free(s->pvals[i]);
            s->pkeys[i] = s->pkeys[s->np - 1];
            s->pvals[i] = s->pvals[s->np - 1];
            s->np--;
            return 0;
        }
        if (i == s->np) {
            if (s->np == s->pcap) {
                size_t nc = s->pcap ? s->pcap * 2 : 16;
                char **k = realloc(s->pkeys, nc * sizeof *k);
                if (!k)
                    return VT_ERR_NOMEM;
                s->pkeys = k;
                char **v = realloc(s->pvals, nc * sizeof *v);
                if (!v)
                    return VT_ERR_NOMEM;
                s->pvals = v;
                s->pcap = nc;
            }
            s->pkeys[i] = strdup(op->key);
            s->pvals[i] = NULL;
            s->np++;
            if (!s->pkeys[i])
                return VT_ERR_NOMEM;
        }
        free(s->pvals[i]);
        s->pvals[i] = strdup(op->value);
        return s->pvals[i] ? 0 : VT_ERR_NOMEM;
    }
    }
    return problem(out, "op %llu: unknown kind", (unsigned long long)op->seq);
}

/* Replay the whole log; fills out->head with the recomputed head. */
static int replay(ms_store *st, const char *agent, uint64_t nlog, vstate *s, vt_mem_verify *out,
                  vt_errinfo *ei)
{
    char lk[96];
    ms_key(lk, sizeof lk, agent, "log");
    for (uint64_t i = 0; i < nlog && out->ok; i += MS_VCHUNK) {
        redisReply *rep = NULL;
        /* up to nlog only: later entries are writes after the snapshot */
        uint64_t last = (i + MS_VCHUNK < nlog ? i + MS_VCHUNK : nlog) - 1;
        int rv = vt_redis_command(st->r, &rep, ei, "LRANGE %s %llu %llu", lk,
                                  (unsigned long long)i, (unsigned long long)last);
        if (rv)
            return rv;
        size_t n = 0;
        if ((rv = vt_redis_reply_array(rep, MS_VCHUNK, &n, ei)) != 0) {
            freeReplyObject(rep);
            return rv;
        }
        for (size_t j = 0; j < n && out->ok && rv == 0; j++) {
            const redisReply *r = rep->element[j];
            ms_op op;
            if (r->type != REDIS_REPLY_STRING ||
                ms_op_decode((const uint8_t *)r->str, r->len, &op) != 0) {
                problem(out, "op log entry %llu is malformed", (unsigned long long)(i + j + 1));
                break;
            }
            if (op.seq != i + j + 1)
                problem(out, "op log entry %llu carries another seq", (unsigned long long)(i + j + 1));
            else
                rv = vapply(s, &op, out);
            ms_chain_advance(&out->head, (const uint8_t *)r->str, r->len);
            out->ops++;
            ms_op_clear(&op);
        }
        freeReplyObject(rep);
        if (rv)
            return rv;
        if (n < MS_VCHUNK && i + n < nlog)
            return problem(out, "op log shrank while verifying at %llu", (unsigned long long)(i + n));
    }
    return 0;
}

/* Items: the id list and every record must be exactly what the log says. */
static int check_items(ms_store *st, const char *agent, vstate *s, vt_mem_verify *out,
                       vt_errinfo *ei)
{
    char zk[96], ibase[96];
    ms_key(zk, sizeof zk, agent, "items");
    ms_key(ibase, sizeof ibase, agent, "item:");
    redisReply *ids = NULL;
    int rv = vt_redis_command(st->r, &ids, ei, "ZRANGE %s 0 -1", zk);
    if (rv)
        return rv;
    size_t n = 0;
    rv = vt_redis_reply_array(ids, s->nrecs + 16, &n, ei);
    uint64_t expect_alive = 0;
    for (uint64_t id = 1; id < s->nrecs; id++)
        expect_alive += s->recs[id].len > 0;
    if (rv == 0 && n != expect_alive)
        problem(out, "item list holds %llu ids, the log leaves a different count",
                (unsigned long long)n);
    for (size_t i = 0; rv == 0 && out->ok && i < n; i++) {
        long long id = 0;
        if (vt_redis_reply_ll(ids->element[i], &id, NULL) != 0 || id <= 0 ||
            (uint64_t)id >= s->nrecs || s->recs[id].len == 0)
            problem(out, "item list names item %llu that the log does not hold",
                    (unsigned long long)id);
    }
    freeReplyObject(ids);
    redisReply **rs = calloc(MS_VCHUNK, sizeof *rs);
    uint64_t *want = calloc(MS_VCHUNK, sizeof *want);
    if (!rs || !want)
        rv = VT_ERR_NOMEM;
    for (uint64_t id = 1; rv == 0 && out->ok && id < s->nrecs;) {
        size_t m = 0;
        for (; id < s->nrecs && m < MS_VCHUNK; id++) {
            if (s->recs[id].len == 0)
                continue;
            want[m++] = id;
            if ((rv = vt_redis_append(st->r, ei, "GET %s%llu", ibase, (unsigned long long)id)) != 0)
                break;
        }
        if (rv == 0 && m > 0)
            rv = vt_redis_read_replies(st->r, rs, m, ei);
        for (size_t j = 0; rv == 0 && j < m && out->ok; j++) {
            const ms_buf *b = &s->recs[want[j]];
            if (rs[j]->type != REDIS_REPLY_STRING || rs[j]->len != b->len ||
                memcmp(rs[j]->str, b->p, b->len) != 0)
                problem(out, "item %llu differs from the op log", (unsigned long long)want[j]);
            out->items++;
        }
        if (rv == 0)
            vt_redis_free_replies(rs, m);
    }
    free(rs);
    free(want);
    return rv;
}

/* Postings: every (term, id, tf) the items imply must be in the Redis
 * index, and the index must hold nothing more (equal totals). */
static int check_index(ms_store *st, const char *agent, vstate *s, vt_mem_verify *out,
                       vt_errinfo *ei)
{
    char tk[96], base[96], key[MS_TERM_MAX + 96];
    ms_key(tk, sizeof tk, agent, "terms");
    ms_key(base, sizeof base, agent, "ix:");
    uint64_t expected = 0;
    int rv = 0;
    for (uint64_t id = 1; rv == 0 && out->ok && id < s->nrecs; id++) {
        if (s->recs[id].len == 0)
            continue;
        vt_mem_item it;
        if ((rv = ms_item_decode(s->recs[id].p, s->recs[id].len, &it)) != 0)
            return rv;
        ms_terms t;
        rv = ms_tokenize(it.text, strlen(it.text), &t);
        vt_mem_item_clear(&it);
        if (rv)
            return rv;
        for (size_t i = 0; rv == 0 && i < t.n; i++) {
            snprintf(key, sizeof key, "%s%s", base, t.v[i].s);
            rv = vt_redis_append(st->r, ei, "HGET %s %llu", key, (unsigned long long)id);
        }
        for (size_t i = 0; rv == 0 && i < t.n; i++) {
            redisReply *r = NULL;
            long long tf = 0;
            if ((rv = vt_redis_read_replies(st->r, &r, 1, ei)) != 0)
                break;
            if (out->ok && (vt_redis_reply_ll(r, &tf, NULL) != 0 || tf != t.v[i].tf))
                problem(out, "index entry of item %llu differs from its text",
                        (unsigned long long)id);
            freeReplyObject(r);
        }
        expected += t.n;
        ms_terms_free(&t);
    }
    if (rv || !out->ok)
        return rv;
    redisReply *terms = NULL;
    if ((rv = vt_redis_command(st->r, &terms, ei, "SMEMBERS %s", tk)) != 0)
        return rv;
    size_t nt = 0;
    rv = vt_redis_reply_array(terms, 16u << 20, &nt, ei);
    uint64_t actual = 0;
    for (size_t i = 0; rv == 0 && i < nt; i++) {
        const redisReply *t = terms->element[i];
        if (t->type != REDIS_REPLY_STRING || t->len > MS_TERM_MAX) {
            problem(out, "term set is malformed");
            break;
        }
        const char *argv[2] = {"HLEN", key};
        size_t bl = strlen(base);
        memcpy(key, base, bl);
        memcpy(key + bl, t->str, t->len);
        size_t lens[2] = {4, bl + t->len};
        redisReply *r = NULL;
        if ((rv = vt_redis_commandv(st->r, &r, ei, 2, argv, lens)) != 0)
            break;
        long long hl = 0;
        if (vt_redis_reply_int(r, &hl, NULL) == 0)
            actual += (uint64_t)hl;
        freeReplyObject(r);
    }
    freeReplyObject(terms);
    if (rv == 0 && out->ok && actual != expected)
        problem(out, "index holds %llu postings, the items imply %llu",
                (unsigned long long)actual, (unsigned long long)expected);
    return rv;
}

static int check_profile(ms_store *st, const char *agent, vstate *s, vt_mem_verify *out,
                         vt_errinfo *ei)
{
    vt_mem_profile p;
    int rv = ms_store_profile_get(st, agent, &p, ei);
    if (rv)
        return rv;
    if (p.n != s->np)
        problem(out, "profile holds %llu keys, the log a different number",
                (unsigned long long)p.n);
    for (size_t i = 0; out->ok && i < p.n; i++) {
        size_t j = 0;
        while (j < s->np && strcmp(s->pkeys[j], p.keys[i]) != 0)
            j++;
        if (j == s->np || strcmp(s->pvals[j], p.values[i]) != 0)
            problem(out, "profile entry %llu differs from the op log", (unsigned long long)i);
    }
    vt_mem_profile_clear(&p);
    return 0;
}

static int verify_once(ms_store *st, const char *agent, vt_mem_verify *out, vt_errinfo *ei)
{
    char hk[96], lk[96];
    memset(out, 0, sizeof *out);
    out->ok = true;
    ms_key(hk, sizeof hk, agent, "head");
    ms_key(lk, sizeof lk, agent, "log");
    redisReply *e = NULL;
    int rv = vt_redis_append(st->r, ei, "MULTI");
    if (rv == 0) rv = vt_redis_append(st->r, ei, "GET %s", hk);
    if (rv == 0) rv = vt_redis_append(st->r, ei, "LLEN %s", lk);
    if (rv == 0) rv = vt_redis_append(st->r, ei, "EXEC");
    if (rv == 0) rv = ms_exec(st, 2, &e, ei);
    if (rv)
        return rv;
    vt_mem_head stored;
    long long nlog = 0;
    int hrv = ms_head_from_reply(e->element[0], &stored, NULL);
    rv = vt_redis_reply_int(e->element[1], &nlog, ei);
    freeReplyObject(e);
    if (rv)
        return rv;
    if (hrv != 0)
        return problem(out, "stored head is malformed"), 0;
    if ((uint64_t)nlog != stored.seq)
        return problem(out, "op log has %llu entries but the head names another seq",
                       (unsigned long long)nlog), 0;
    vstate s = {0};
    s.nrecs = (uint64_t)nlog + 1;
    s.recs = calloc(s.nrecs, sizeof *s.recs);
    if (!s.recs)
        return VT_ERR_NOMEM;
    rv = replay(st, agent, (uint64_t)nlog, &s, out, ei);
    if (rv == 0 && out->ok && memcmp(out->head.hash, stored.hash, 32) != 0)
        problem(out, "op log does not hash to the stored head (log edited)");
    if (rv == 0 && out->ok)
        rv = check_items(st, agent, &s, out, ei);
    if (rv == 0 && out->ok)
        rv = check_index(st, agent, &s, out, ei);
    if (rv == 0 && out->ok)
        rv = check_profile(st, agent, &s, out, ei);
    vstate_free(&s);
    return rv;
}

/* The head now; false when it cannot be read. */
static bool head_now(ms_store *st, const char *agent, vt_mem_head *h)
{
    char hk[96];
    redisReply *rep = NULL;
    ms_key(hk, sizeof hk, agent, "head");
    if (vt_redis_command(st->r, &rep, NULL, "GET %s", hk) != 0)
        return false;
    bool ok = ms_head_from_reply(rep, h, NULL) == 0;
    freeReplyObject(rep);
    return ok;
}

int ms_store_verify(ms_store *st, const char *agent, vt_mem_verify *out, vt_errinfo *ei)
{
    /* The checks span many round trips; writes landing meanwhile (their
     * ops after the snapshot, their items and postings already there) look
     * like tampering. A problem counts only if the head did not move while
     * verifying; otherwise verify again. */
    for (int attempt = 0;; attempt++) {
        vt_mem_head before, after;
        bool hb = head_now(st, agent, &before);
        int rv = verify_once(st, agent, out, ei);
        if (rv != 0 || out->ok || attempt == 3 || !hb || !head_now(st, agent, &after) ||
            (after.seq == before.seq && memcmp(after.hash, before.hash, 32) == 0))
            return rv;
    }
}
