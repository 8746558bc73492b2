/* agent_cache.c - in-process cache of agent auth records for the hot path
 * (see vt_registry.h for the TTL / revocation bound).
 *
 * Open-addressing hash table keyed by agent id, capacity a power of two at
 * least twice max_entries. When max_entries is reached the table is
 * emptied: simpler than LRU, bounded, and only costs refetches. */
#include "registry_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "vt_clock.h"

typedef struct slot {
    bool used;
    char id[VT_AGENT_ID_BUFSZ];
    reg_agent_auth rec;
    uint64_t fetched_ms; /* vt_mono_ms() when read from Redis */
} slot;

struct vt_agent_cache {
    pthread_mutex_t mu;
    uint8_t secret[VT_AUTH_SECRET_BYTES];
    uint64_t ttl_ms;
    size_t max_entries;
    size_t cap; /* power of two */
    size_t count;
    slot *slots;
};

int vt_agent_cache_new(vt_agent_cache **out,
                       const uint8_t secret[VT_AUTH_SECRET_BYTES],
                       uint64_t ttl_ms, size_t max_entries)
{
    *out = NULL;
    if (sodium_init() < 0)
        return VT_ERR_INTERNAL;
    if (max_entries == 0)
        max_entries = 65536;
    if (max_entries > ((size_t)1 << 28))
        return VT_ERR_INVAL;
    vt_agent_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return VT_ERR_NOMEM;
    c->cap = 16;
    while (c->cap < 2 * max_entries)
        c->cap *= 2;
    c->slots = calloc(c->cap, sizeof(slot));
    if (!c->slots) {
        free(c);
        return VT_ERR_NOMEM;
    }
    memcpy(c->secret, secret, VT_AUTH_SECRET_BYTES);
    c->ttl_ms = ttl_ms ? ttl_ms : 1000;
    c->max_entries = max_entries;
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return 0;
}

void vt_agent_cache_free(vt_agent_cache *c)
{
    if (!c)
        return;
    sodium_memzero(c->secret, sizeof(c->secret));
    pthread_mutex_destroy(&c->mu);
    free(c->slots);
    free(c);
}

static size_t hash_id(const char *id)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return (size_t)h;
}

/* Slot holding id, or the empty slot where it would go. Caller holds mu. */
static slot *probe(vt_agent_cache *c, const char *id)
{
    size_t i = hash_id(id) & (c->cap - 1);
    while (c->slots[i].used && strcmp(c->slots[i].id, id) != 0)
        i = (i + 1) & (c->cap - 1);
    return &c->slots[i];
}

static void store(vt_agent_cache *c, const char *id, const reg_agent_auth *rec,
                  uint64_t now)
{
    pthread_mutex_lock(&c->mu);
    slot *s = probe(c, id);
    if (!s->used) {
        if (c->count >= c->max_entries) {
            memset(c->slots, 0, c->cap * sizeof(slot));
            c->count = 0;
            s = probe(c, id);
        }
        s->used = true;
        memcpy(s->id, id, VT_AGENT_ID_BUFSZ);
        c->count++;
    }
    s->rec = *rec;
    s->fetched_ms = now;
    pthread_mutex_unlock(&c->mu);
}

int vt_agent_cache_check(vt_agent_cache *c, vt_redis *r, const char *key,
                         size_t keylen, char id_out[VT_AGENT_ID_BUFSZ],
                         vt_errinfo *ei)
{
    char id[VT_AGENT_ID_BUFSZ];
    int rv = vt_api_key_parse(key, keylen, id, ei);
    if (rv != 0)
        return rv;
    reg_agent_auth rec;
    bool fresh = false;
    uint64_t now = vt_mono_ms();
    pthread_mutex_lock(&c->mu);
    slot *s = probe(c, id);
    if (s->used && now - s->fetched_ms < c->ttl_ms) {
        rec = s->rec;
        fresh = true;
    }
    pthread_mutex_unlock(&c->mu);
    if (!fresh) {
        /* Redis I/O outside the lock: other threads keep checking. */
        if ((rv = reg_fetch_agent_auth(r, id, &rec, ei)) != 0)
            return rv;
        store(c, id, &rec, now);
    }
    if ((rv = reg_judge_key(c->secret, key, keylen, id, &rec, ei)) != 0)
        return rv;
    if (id_out)
        memcpy(id_out, id, VT_AGENT_ID_BUFSZ);
    return 0;
}
