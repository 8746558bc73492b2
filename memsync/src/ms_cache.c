/* ms_cache.c - per-agent index cache (see ms_cache.h). */
#include "ms_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ms_chain.h"
#include "ms_store_int.h"

/* Log entries replayed to catch up before a full reload is cheaper. */
#define MS_CATCHUP_MAX 1024

typedef struct centry {
    char agent[VT_MEM_MAX_AGENT + 1]; /* "" = free slot */
    pthread_rwlock_t lock;
    ms_index ix;
    bool valid;       /* ix holds the memory at ix.head */
    int refs;         /* threads using it (table mutex) */
    uint64_t last_use;
    size_t bytes;     /* ix.bytes as of the last release (table mutex) */
} centry;

struct ms_cache {
    pthread_mutex_t mu;
    centry *e;
    size_t n;
    uint64_t clock;
    size_t max_bytes;
};

int ms_cache_new(ms_cache **out, size_t max_agents, size_t max_bytes)
{
    ms_cache *c = calloc(1, sizeof *c);
    if (!c || !(c->e = calloc(max_agents ? max_agents : 1, sizeof *c->e))) {
        free(c);
        return VT_ERR_NOMEM;
    }
    c->n = max_agents ? max_agents : 1;
    c->max_bytes = max_bytes;
    pthread_mutex_init(&c->mu, NULL);
    for (size_t i = 0; i < c->n; i++)
        pthread_rwlock_init(&c->e[i].lock, NULL);
    *out = c;
    return 0;
}

void ms_cache_free(ms_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        ms_index_free(&c->e[i].ix);
        pthread_rwlock_destroy(&c->e[i].lock);
    }
    pthread_mutex_destroy(&c->mu);
    free(c->e);
    free(c);
}

/* Find (or, with create, claim) the agent's entry and take a reference. */
static centry *acquire(ms_cache *c, const char *agent, bool create)
{
    centry *hit = NULL, *victim = NULL;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n && !hit; i++) {
        centry *e = &c->e[i];
        if (strcmp(e->agent, agent) == 0)
            hit = e;
        else if (create && e->refs == 0 && (!victim || e->last_use < victim->last_use))
            victim = e;
    }
    if (!hit && create && victim) {
        /* Nobody holds the victim (refs == 0 under the table mutex), so
         * its index can be dropped without its lock. */
        ms_index_free(&victim->ix);
        victim->valid = false;
        victim->bytes = 0;
        snprintf(victim->agent, sizeof victim->agent, "%s", agent);
        hit = victim;
    }
    if (hit) {
        hit->refs++;
        hit->last_use = ++c->clock;
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

/* Drop least recently used indexes nobody holds until the cache fits its
 * byte budget (table mutex held). An index being used is never dropped, so
 * the budget can be exceeded while many agents are searched at once. */
static void trim(ms_cache *c)
{
    size_t total = 0;
    for (size_t i = 0; i < c->n; i++)
        total += c->e[i].bytes;
    while (c->max_bytes && total > c->max_bytes) {
        centry *victim = NULL;
        for (size_t i = 0; i < c->n; i++) {
            centry *e = &c->e[i];
            if (e->refs == 0 && e->bytes > 0 && (!victim || e->last_use < victim->last_use))
                victim = e;
        }
        if (!victim)
            return;
        total -= victim->bytes;
        ms_index_free(&victim->ix);
        victim->valid = false;
        victim->bytes = 0;
        victim->agent[0] = '\0';
    }
}

/* bytes: the entry's index size, read by the caller under the entry lock. */
static void release(ms_cache *c, centry *e, size_t bytes)
{
    pthread_mutex_lock(&c->mu);
    e->refs--;
    e->bytes = bytes;
    trim(c);
    pthread_mutex_unlock(&c->mu);
}

static bool same_head(const vt_mem_head *a, const vt_mem_head *b)
{
    return a->seq == b->seq && memcmp(a->hash, b->hash, 32) == 0;
}

/* Re-read the head (one GET) when the index is ahead of the caller's: it
 * must be what Redis holds now, else the index is not trusted. */
static int reread_head(ms_store *st, const char *agent, vt_mem_head *h, vt_errinfo *ei)
{
    char hk[96];
    redisReply *rep = NULL;
    ms_key(hk, sizeof hk, agent, "head");
    int rv = vt_redis_command(st->r, &rep, ei, "GET %s", hk);
    if (rv == 0) {
        rv = ms_head_from_reply(rep, h, ei);
        freeReplyObject(rep);
    }
    return rv;
}

/* Bring e (write-locked) to `head`. */
static int refresh(centry *e, ms_store *st, const char *agent, const vt_mem_head *head,
                   vt_errinfo *ei)
{
    if (e->valid && same_head(&e->ix.head, head))
        return 0;
    if (e->valid && e->ix.head.seq > head->seq) {
        vt_mem_head now;
        int rv = reread_head(st, agent, &now, ei);
        if (rv)
            return rv;
        if (same_head(&e->ix.head, &now))
            return 0;
        head = &now; /* fall through to catch-up/reload against `now` */
        if (e->ix.head.seq < now.seq && ms_store_catch_up(st, agent, &e->ix, &now,
                                                          MS_CATCHUP_MAX, NULL) == 0)
            return 0;
    } else if (e->valid && ms_store_catch_up(st, agent, &e->ix, head, MS_CATCHUP_MAX, NULL) == 0) {
        return 0;
    }
    /* Catch-up failed or impossible: the index may be half-advanced, drop it. */
    ms_index_free(&e->ix);
    e->valid = false;
    int rv = ms_store_load(st, agent, &e->ix, ei);
    e->valid = rv == 0;
    return rv;
}

typedef int (*reader_fn)(const ms_index *ix, void *arg);

static int with_index(ms_cache *c, ms_store *st, const char *agent, const vt_mem_head *head,
                      reader_fn fn, void *arg, vt_errinfo *ei)
{
    centry *e = acquire(c, agent, true);
    if (!e) {
        /* every entry busy: serve this request from a private load */
        ms_index ix;
        int rv = ms_store_load(st, agent, &ix, ei);
        if (rv == 0)
            rv = fn(&ix, arg);
        ms_index_free(&ix);
        return rv;
    }
    int rv;
    size_t bytes;
    pthread_rwlock_rdlock(&e->lock);
    if (e->valid && same_head(&e->ix.head, head)) {
        rv = fn(&e->ix, arg);
        bytes = e->ix.bytes;
        pthread_rwlock_unlock(&e->lock);
        release(c, e, bytes);
        return rv;
    }
    pthread_rwlock_unlock(&e->lock);
    pthread_rwlock_wrlock(&e->lock);
    rv = refresh(e, st, agent, head, ei);
    if (rv == 0)
        rv = fn(&e->ix, arg);
    bytes = e->valid ? e->ix.bytes : 0;
    pthread_rwlock_unlock(&e->lock);
    release(c, e, bytes);
    return rv;
}

struct search_arg {
    const vt_mem_query *q;
    vt_mem_hits *out;
};

static int do_search(const ms_index *ix, void *arg)
{
    struct search_arg *a = arg;
    return ms_index_search(ix, a->q, a->out);
}

int ms_cache_search(ms_cache *c, ms_store *st, const char *agent, const vt_mem_head *head,
                    const vt_mem_query *q, vt_mem_hits *out, vt_errinfo *ei)
{
    struct search_arg a = {q, out};
    return with_index(c, st, agent, head, do_search, &a, ei);
}

struct list_arg {
    const vt_mem_filter *f;
    uint64_t after;
    uint32_t limit;
    vt_mem_list *out;
};

static int do_list(const ms_index *ix, void *arg)
{
    struct list_arg *a = arg;
    return ms_index_list(ix, a->f, a->after, a->limit, a->out);
}

int ms_cache_list(ms_cache *c, ms_store *st, const char *agent, const vt_mem_head *head,
                  const vt_mem_filter *f, uint64_t after, uint32_t limit, vt_mem_list *out,
                  vt_errinfo *ei)
{
    struct list_arg a = {f, after, limit, out};
    return with_index(c, st, agent, head, do_list, &a, ei);
}

void ms_cache_note_write(ms_cache *c, const char *agent, const ms_op *op, const vt_mem_head *next)
{
    centry *e = acquire(c, agent, false);
    if (!e)
        return;
    pthread_rwlock_wrlock(&e->lock);
    if (e->valid && e->ix.head.seq + 1 == op->seq) {
        ms_buf b = {0};
        ms_op_encode(&b, op);
        vt_mem_head h = e->ix.head;
        ms_chain_advance(&h, b.p, b.len);
        if (!b.oom && same_head(&h, next) && ms_index_apply(&e->ix, op) == 0) {
            e->ix.head = h;
        } else {
            ms_index_free(&e->ix);
            e->valid = false;
        }
        ms_buf_free(&b);
    }
    size_t bytes = e->valid ? e->ix.bytes : 0;
    pthread_rwlock_unlock(&e->lock);
    release(c, e, bytes);
}

void ms_cache_stats(ms_cache *c, double *agents)
{
    double a = 0;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n; i++)
        a += c->e[i].agent[0] != 0;
    pthread_mutex_unlock(&c->mu);
    *agents = a;
}
