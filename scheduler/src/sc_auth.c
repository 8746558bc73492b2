/* sc_auth.c - API keys and the node allow-list, from NNG callbacks.
 *
 * Checks go through the registry's agent cache (one keyed MAC while the
 * entry is fresh). A cache miss, and every hello, needs a Redis read; NNG
 * callbacks have no connection of their own, so a small pool of
 * connections, each behind its own lock, serves them. The core lock is
 * never held here. While the journal finds Redis unreachable, checks fail
 * at once (VT_ERR_UNAVAILABLE) instead of each waiting for a connect
 * timeout on one of NNG's shared callback threads, which would stall the
 * worker and verifier sockets too.
 */
#include <stdlib.h>
#include <string.h>

#include "sched.h"

int sc_auth_init(sched *s, vt_errinfo *ei)
{
    int rv = vt_agent_cache_new(&s->auth.cache, s->auth_secret, 1000, 0);
    if (rv)
        return vt_fail(ei, rv, "agent cache");
    for (int i = 0; i < SC_AUTH_CONNS; i++) {
        pthread_mutex_init(&s->auth.mu[i], NULL);
        vt_errinfo e2 = {0};
        rv = vt_redis_connect(&s->auth.r[i], s->cfg.redis_url, 500, 500, &e2);
        if (rv != 0 && rv != VT_ERR_UNAVAILABLE) /* unavailable: retried on use */
            return vt_fail(ei, rv, "registry connection: %s", vt_errinfo_msg(&e2));
    }
    atomic_store(&s->auth.next, 0);
    return 0;
}

void sc_auth_free(sched *s)
{
    for (int i = 0; i < SC_AUTH_CONNS; i++) {
        vt_redis_close(s->auth.r[i]);
        s->auth.r[i] = NULL;
        pthread_mutex_destroy(&s->auth.mu[i]);
    }
    vt_agent_cache_free(s->auth.cache);
    s->auth.cache = NULL;
}

/* Take a pool connection: a free one if any, else wait for one. */
static int take(sched *s)
{
    unsigned start = atomic_fetch_add(&s->auth.next, 1);
    for (int k = 0; k < SC_AUTH_CONNS; k++) {
        int i = (int)((start + (unsigned)k) % SC_AUTH_CONNS);
        if (pthread_mutex_trylock(&s->auth.mu[i]) == 0)
            return i;
    }
    int i = (int)(start % SC_AUTH_CONNS);
    pthread_mutex_lock(&s->auth.mu[i]);
    return i;
}

int sc_auth_agent(sched *s, const char *key, char id_out[VT_AGENT_ID_BUFSZ], vt_errinfo *ei)
{
    size_t len = strnlen(key, VT_API_KEY_MAX + 1);
    if (len == 0 || len > VT_API_KEY_MAX)
        return vt_fail(ei, VT_ERR_AUTH, "API key missing or too long");
    if (!atomic_load(&s->jr.redis_ok))
        return vt_fail(ei, VT_ERR_UNAVAILABLE, "identity registry (Redis) unreachable");
    int i = take(s);
    int rv = vt_agent_cache_check(s->auth.cache, s->auth.r[i], key, len, id_out, ei);
    /* A connection that died while idle fails once, then reconnects. */
    if (rv == VT_ERR_UNAVAILABLE)
        rv = vt_agent_cache_check(s->auth.cache, s->auth.r[i], key, len, id_out, ei);
    pthread_mutex_unlock(&s->auth.mu[i]);
    return rv;
}

int sc_auth_node(sched *s, const vt_msg_hello *h, int role, uint32_t nonce_ttl_ms,
                 char op_out[VT_NAME_MAX + 1], vt_errinfo *ei)
{
    char hex[VT_PUBKEY_HEX_BUFSZ];
    vt_hex_encode(h->node_pk, VT_PUBKEY_BYTES, hex);
    if (!atomic_load(&s->jr.redis_ok))
        return vt_fail(ei, VT_ERR_UNAVAILABLE, "identity registry (Redis) unreachable");
    vt_node_info info;
    int i = take(s);
    int rv = vt_registry_node_lookup(s->auth.r[i], hex, &info, ei);
    if (rv == VT_ERR_UNAVAILABLE)
        rv = vt_registry_node_lookup(s->auth.r[i], hex, &info, ei);
    /* Only a listed key's nonces are stored: a stranger's hellos cost no
     * Redis memory. */
    if (rv == 0 && !info.revoked && (int)info.role == role)
        rv = vt_registry_node_hello_nonce(s->auth.r[i], hex, h->nonce, VT_NONCE_BYTES,
                                          nonce_ttl_ms, ei);
    pthread_mutex_unlock(&s->auth.mu[i]);
    if (rv == VT_ERR_NOTFOUND)
        return vt_fail(ei, VT_ERR_AUTH, "key not on the node allow-list");
    if (rv == VT_ERR_EXISTS)
        return vt_fail(ei, VT_ERR_AUTH, "hello replayed (its nonce was used before)");
    if (rv)
        return rv;
    if (info.revoked)
        return vt_fail(ei, VT_ERR_AUTH, "node key revoked");
    if ((int)info.role != role)
        return vt_fail(ei, VT_ERR_AUTH, "allow-list role is %s", vt_node_role_name(info.role));
    memcpy(op_out, info.operator_name, VT_NAME_MAX + 1);
    return 0;
}

/* Re-read the allow-list records of the nodes with live sessions and end
 * the sessions of keys revoked (or gone) since their hello; their leases
 * go back to the queue and their next hello is refused. Runs on the
 * arbiter thread (its own Redis connection r) when the registry's
 * revocation counter moves: the registry is read without the core lock.
 * Returns 0, or the Redis error that stopped the pass (then the caller
 * tries again at its next poll). */
int sc_auth_recheck_nodes(sched *s, vt_redis *r)
{
    typedef struct {
        uint32_t idx, gen;
        uint8_t pk[VT_PUBKEY_BYTES];
    } live_node;
    live_node *live = NULL;
    uint32_t n = 0;
    int rv = 0;
    sc_lock(s);
    if (s->n_nodes)
        live = malloc(s->n_nodes * sizeof *live);
    for (uint32_t i = 0; live && i < s->n_nodes; i++)
        if (s->nodes[i].used && s->nodes[i].alive) {
            live[n] = (live_node){.idx = i, .gen = s->nodes[i].gen};
            memcpy(live[n++].pk, s->nodes[i].pk, VT_PUBKEY_BYTES);
        }
    bool nomem = s->n_nodes && !live;
    sc_unlock(s);
    if (nomem)
        return VT_ERR_NOMEM;
    for (uint32_t k = 0; k < n; k++) {
        char hex[VT_PUBKEY_HEX_BUFSZ];
        vt_hex_encode(live[k].pk, VT_PUBKEY_BYTES, hex);
        vt_node_info info;
        vt_errinfo ei = {0};
        rv = vt_registry_node_lookup(r, hex, &info, &ei);
        if (rv != 0 && rv != VT_ERR_NOTFOUND)
            break;
        bool listed = rv == 0;
        rv = 0;
        if (listed && !info.revoked)
            continue;
        sc_lock(s);
        sc_node *nd = &s->nodes[live[k].idx];
        if (nd->used && nd->alive && nd->gen == live[k].gen) {
            vt_log_warn(s->log, "node.revoked", "node=%s: %s; session ended", nd->idshort,
                        listed ? "key revoked" : "key no longer on the allow-list");
            sc_core_node_dead(s, live[k].idx, "key revoked");
        }
        sc_unlock(s);
    }
    free(live);
    return rv;
}
