/* ms_client.c - the client side of vt_memsync.h (compiled into vt_client).
 *
 * Synchronous calls to ipc:// and tcp:// go through a pool of vt_sp_req
 * connections (vt_sp.h), one per call in flight, as vt_client does: no
 * libnng socket, so neither NNG 1.5.2's nng_close() hang nor its thread
 * hand-offs per round trip. Asynchronous adds (and every call to another
 * scheme) use one libnng REQ socket, opened at the first such call, with a
 * context per request. Neither resends: an add is not idempotent (each
 * creates a new item), so a lost answer is reported as a timeout rather
 * than silently repeated. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "ms_record.h"
#include "ms_wire.h"
#include "vt_memsync.h"
#include "vt_sp.h"

#define MS_CLIENT_RECV_MAX (64u << 20)
#define MS_CLIENT_POOL 32 /* idle contexts (or connections) kept for reuse */
/* Asynchronous requests in flight per handle, at most: NNG 1.5.2's REQ is
 * O(n^2) in the number of requests in flight on one socket. */
#define MS_CLIENT_MAX_ASYNC 1024

/* A REQ context with its aio, reused across requests (opening and closing
 * contexts per request costs NNG locks and timers). */
typedef struct req_slot {
    nng_ctx ctx;
    nng_aio *aio;
} req_slot;

/* An asynchronous request: a context whose aio has a callback that walks
 * send -> receive -> done. Slots are reused; one whose request failed is
 * parked (its context may still get the late answer, and an aio cannot be
 * freed from its own callback) and freed later by the next request that
 * finds it parked and out of its callback, or by close. */
typedef struct async_slot {
    struct vt_memsync *c;
    nng_ctx ctx;
    nng_aio *aio;
    bool receiving;
    vt_memsync_add_done done;
    void *arg;
    bool in_cb;               /* parked, its callback still running */
    struct async_slot *next;  /* free or parked list */
} async_slot;

struct vt_memsync {
    vt_sp_pool *pool;  /* ipc:// or tcp://: synchronous calls */
    char *url;
    bool sock_open;    /* guarded by mu once open returned */
    nng_socket sock;
    int timeout_ms;
    pthread_mutex_t mu;
    req_slot idle[MS_CLIENT_POOL];
    int nidle;
    async_slot *afree, *aparked;  /* guarded by mu */
    int ainflight;
    bool closing;                 /* no new async requests */
    pthread_cond_t drained;       /* ainflight reached 0 while closing */
};

static int slot_get(vt_memsync *c, req_slot *out)
{
    pthread_mutex_lock(&c->mu);
    if (c->nidle > 0) {
        *out = c->idle[--c->nidle];
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    pthread_mutex_unlock(&c->mu);
    int rv = nng_ctx_open(&out->ctx, c->sock);
    if (rv == 0 && (rv = nng_aio_alloc(&out->aio, NULL, NULL)) != 0)
        nng_ctx_close(out->ctx);
    return rv;
}

static void slot_drop(req_slot *s)
{
    nng_aio_stop(s->aio);
    nng_aio_free(s->aio);
    nng_ctx_close(s->ctx);
}

/* Back to the pool - unless the request failed: a context whose request
 * timed out may still get that answer, so it is not reused. */
static void slot_put(vt_memsync *c, req_slot *s, bool ok)
{
    if (ok) {
        pthread_mutex_lock(&c->mu);
        if (c->nidle < MS_CLIENT_POOL) {
            c->idle[c->nidle++] = *s;
            pthread_mutex_unlock(&c->mu);
            return;
        }
        pthread_mutex_unlock(&c->mu);
    }
    slot_drop(s);
}

/* The libnng socket (c->mu held, or before the handle is shared). */
static int sock_open(vt_memsync *c, vt_errinfo *ei)
{
    if (c->sock_open)
        return 0;
    int rv = nng_req0_open(&c->sock);
    if (rv == 0) {
        nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, MS_CLIENT_RECV_MAX);
        nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
        rv = nng_dial(c->sock, c->url, NULL, NNG_FLAG_NONBLOCK);
        if (rv)
            nng_close(c->sock);
    }
    if (rv)
        return vt_fail(ei, rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP ? VT_ERR_INVAL : VT_ERR_TRANSPORT,
                       "memsync %s: %s", c->url, nng_strerror(rv));
    c->sock_open = true;
    return 0;
}

int vt_memsync_open(vt_memsync **out, const char *url, int timeout_ms, vt_errinfo *ei)
{
    vt_memsync *c = calloc(1, sizeof *c);
    if (!c || !(c->url = strdup(url ? url : ""))) {
        free(c);
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    }
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->drained, NULL);
    vt_errinfo uei = {0};
    int rv = vt_sp_pool_open(c->url, MS_CLIENT_RECV_MAX, MS_CLIENT_POOL, &c->pool, &uei);
    if (rv == VT_ERR_UNSUPPORTED)
        rv = sock_open(c, ei);
    else if (rv)
        rv = vt_fail(ei, rv, "memsync %s", vt_errinfo_msg(&uei));
    if (rv) {
        pthread_cond_destroy(&c->drained);
        pthread_mutex_destroy(&c->mu);
        free(c->url);
        free(c);
        return rv;
    }
    *out = c;
    return 0;
}

static void async_free_list(async_slot *a)
{
    while (a) {
        async_slot *next = a->next;
        nng_aio_stop(a->aio);
        nng_aio_free(a->aio);
        nng_ctx_close(a->ctx);
        free(a);
        a = next;
    }
}

void vt_memsync_close(vt_memsync *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nidle; i++)
        slot_drop(&c->idle[i]);
    /* closing the socket ends the requests in flight (their callbacks
     * report VT_ERR_CLOSED); then every slot is idle or parked */
    pthread_mutex_lock(&c->mu);
    c->closing = true;
    bool sock = c->sock_open;
    pthread_mutex_unlock(&c->mu);
    if (sock)
        nng_close(c->sock);
    pthread_mutex_lock(&c->mu);
    while (c->ainflight > 0)
        pthread_cond_wait(&c->drained, &c->mu);
    pthread_mutex_unlock(&c->mu);
    async_free_list(c->afree);
    async_free_list(c->aparked);
    vt_sp_pool_close(c->pool);
    pthread_cond_destroy(&c->drained);
    pthread_mutex_destroy(&c->mu);
    free(c->url);
    free(c);
}

static int nng_to_vt(int rv)
{
    return rv == NNG_ETIMEDOUT ? VT_ERR_TIMEOUT : rv == NNG_ECLOSED ? VT_ERR_CLOSED : VT_ERR_TRANSPORT;
}

static int fill_cred(ms_req *rq, const vt_mem_cred *cred, vt_errinfo *ei)
{
    if (!cred || !cred->key)
        return vt_fail(ei, VT_ERR_INVAL, "no credentials");
    if (strlen(cred->key) > MS_KEY_MAX || (cred->agent && strlen(cred->agent) > VT_MEM_MAX_AGENT) ||
        (cred->job && strlen(cred->job) > VT_JOB_ID_MAX))
        return vt_fail(ei, VT_ERR_INVAL, "credential too long");
    strcpy(rq->key, cred->key);
    strcpy(rq->agent, cred->agent ? cred->agent : "");
    strcpy(rq->job, cred->job ? cred->job : "");
    return 0;
}

/* One round trip on a pooled connection (ipc://, tcp://). */
static int call_sp(vt_memsync *c, const vt_buf *b, ms_rep *rep, vt_errinfo *ei)
{
    vt_sp_req *conn;
    vt_errinfo cei = {0};
    int rv = vt_sp_pool_take(c->pool, &conn, &cei);
    if (rv == 0) {
        const uint8_t *reply;
        size_t len;
        rv = vt_sp_req_call(conn, b->data, b->len, c->timeout_ms, &reply, &len, &cei);
        if (rv == 0) {
            rv = ms_rep_decode(reply, len, rep, ei); /* copies out of conn's buffer */
            vt_sp_pool_give(c->pool, conn);
            return rv;
        }
        vt_sp_pool_give(c->pool, conn);
    }
    return vt_fail(ei, rv, "memsync %s: %s", c->url, vt_errinfo_msg(&cei));
}

/* One round trip on a libnng REQ context (the other schemes). */
static int call_nng(vt_memsync *c, const vt_buf *b, ms_rep *rep, vt_errinfo *ei)
{
    req_slot slot;
    nng_msg *m = NULL;
    int rv = 0, nrv = slot_get(c, &slot);
    if (nrv)
        return vt_fail(ei, nng_to_vt(nrv), "memsync: %s", nng_strerror(nrv));
    if ((nrv = nng_msg_alloc(&m, 0)) == 0)
        nrv = nng_msg_append(m, b->data, b->len);
    if (nrv == 0) {
        nng_aio_set_timeout(slot.aio, c->timeout_ms);
        nng_aio_set_msg(slot.aio, m);
        nng_ctx_send(slot.ctx, slot.aio);
        nng_aio_wait(slot.aio);
        nrv = nng_aio_result(slot.aio);
        if (nrv == 0) {
            m = NULL; /* owned by NNG now */
            nng_ctx_recv(slot.ctx, slot.aio);
            nng_aio_wait(slot.aio);
            nrv = nng_aio_result(slot.aio);
            if (nrv == 0) {
                m = nng_aio_get_msg(slot.aio);
                rv = ms_rep_decode(nng_msg_body(m), nng_msg_len(m), rep, ei);
            }
        }
    }
    if (nrv)
        rv = vt_fail(ei, nng_to_vt(nrv), "memsync: %s", nng_strerror(nrv));
    if (m)
        nng_msg_free(m);
    slot_put(c, &slot, nrv == 0);
    return rv;
}

/* Send rq, wait for the answer, decode it into rep. */
static int call(vt_memsync *c, const ms_req *rq, ms_rep *rep, vt_errinfo *ei)
{
    vt_buf b;
    vt_buf_init(&b, VT_PROTO_MAX_MSG_DEFAULT);
    int rv = ms_req_encode(&b, rq, ei);
    if (rv == 0)
        rv = c->pool ? call_sp(c, &b, rep, ei) : call_nng(c, &b, rep, ei);
    vt_buf_free(&b);
    return rv;
}

/* A shallow copy of a caller's item into the request (not owned). */
static void borrow_item(ms_req *rq, const vt_mem_item *it)
{
    rq->item = *it;
    rq->has_item = true;
}

static void unborrow(ms_req *rq)
{
    memset(&rq->item, 0, sizeof rq->item);
    rq->filter.category = NULL;
    rq->text = NULL;
    rq->vector = NULL;
    rq->pkey = rq->pvalue = NULL;
}

static int simple(vt_memsync *c, const vt_mem_cred *cred, ms_req *rq, ms_rep *rep, vt_errinfo *ei)
{
    int rv = fill_cred(rq, cred, ei);
    if (rv == 0)
        rv = call(c, rq, rep, ei);
    unborrow(rq);
    return rv;
}

/* A request whose answer matters only for its head. */
static int simple_head(vt_memsync *c, const vt_mem_cred *cred, ms_req *rq, vt_mem_head *head,
                       vt_errinfo *ei)
{
    ms_rep rep;
    int rv = simple(c, cred, rq, &rep, ei);
    if (rv == 0) {
        if (head)
            *head = rep.head;
        ms_rep_clear(&rep);
    }
    return rv;
}

int vt_memsync_add(vt_memsync *c, const vt_mem_cred *cred, const vt_mem_item *item, uint64_t *id,
                   vt_mem_head *head, vt_errinfo *ei)
{
    ms_req rq = {.op = MS_REQ_ADD};
    ms_rep rep;
    borrow_item(&rq, item);
    int rv = simple(c, cred, &rq, &rep, ei);
    if (rv == 0) {
        if (id)
            *id = rep.id;
        if (head)
            *head = rep.head;
        ms_rep_clear(&rep);
    }
    return rv;
}

/* ---- asynchronous adds ------------------------------------------------- */

static void async_cb(void *arg)
{
    async_slot *a = arg;
    vt_memsync *c = a->c;
    int nrv = nng_aio_result(a->aio);
    if (nrv == 0 && !a->receiving) {
        a->receiving = true; /* sent: now the answer */
        nng_ctx_recv(a->ctx, a->aio);
        return;
    }
    vt_errinfo ei = {0};
    ms_rep rep;
    memset(&rep, 0, sizeof rep);
    int rv;
    if (nrv != 0) {
        if (!a->receiving)
            nng_msg_free(nng_aio_get_msg(a->aio)); /* unsent: still ours */
        pthread_mutex_lock(&c->mu);
        bool closing = c->closing;
        pthread_mutex_unlock(&c->mu);
        rv = vt_fail(&ei, closing ? VT_ERR_CLOSED : nng_to_vt(nrv), "memsync: %s",
                     closing ? "handle closed" : nng_strerror(nrv));
    } else {
        nng_msg *m = nng_aio_get_msg(a->aio);
        rv = ms_rep_decode(nng_msg_body(m), nng_msg_len(m), &rep, &ei);
        nng_msg_free(m);
    }
    vt_memsync_add_done done = a->done;
    void *darg = a->arg;
    /* From here on the slot belongs to the next request (which may start
     * before `done` returns): only locals are used. */
    pthread_mutex_lock(&c->mu);
    if (nrv == 0) {
        a->next = c->afree;
        c->afree = a;
    } else {
        a->in_cb = true; /* parked slots are never handed out: still ours */
        a->next = c->aparked;
        c->aparked = a;
    }
    if (--c->ainflight == 0 && c->closing)
        pthread_cond_signal(&c->drained);
    pthread_mutex_unlock(&c->mu);
    done(darg, rv, rv == 0 ? rep.id : 0, rv == 0 ? &rep.head : NULL, &ei);
    if (rv == 0)
        ms_rep_clear(&rep);
    if (nrv != 0) {
        pthread_mutex_lock(&c->mu);
        a->in_cb = false; /* from now on a sweep may free it */
        pthread_mutex_unlock(&c->mu);
    }
}

/* Take the parked slots whose callbacks are over (c->mu held); the caller
 * frees them after unlocking (nng_aio_stop waits for the last instructions
 * of their callbacks). Never the slot of a callback still running: a
 * callback's `done` may itself start the next add. */
static async_slot *async_take_sweepable(vt_memsync *c)
{
    async_slot *out = NULL, **pp = &c->aparked;
    while (*pp) {
        async_slot *a = *pp;
        if (a->in_cb) {
            pp = &a->next;
            continue;
        }
        *pp = a->next;
        a->next = out;
        out = a;
    }
    return out;
}

static int async_slot_get(vt_memsync *c, async_slot **out, vt_errinfo *ei)
{
    pthread_mutex_lock(&c->mu);
    if (c->closing) {
        pthread_mutex_unlock(&c->mu);
        return vt_fail(ei, VT_ERR_CLOSED, "memsync handle is closing");
    }
    if (c->ainflight >= MS_CLIENT_MAX_ASYNC) {
        pthread_mutex_unlock(&c->mu);
        return vt_fail(ei, VT_ERR_OVERLOADED, "more than %d asynchronous requests in flight",
                       MS_CLIENT_MAX_ASYNC);
    }
    int orv = sock_open(c, ei);
    if (orv) {
        pthread_mutex_unlock(&c->mu);
        return orv;
    }
    async_slot *a = c->afree;
    if (a)
        c->afree = a->next;
    c->ainflight++;
    async_slot *dead = c->aparked ? async_take_sweepable(c) : NULL;
    pthread_mutex_unlock(&c->mu);
    async_free_list(dead);
    int nrv = 0;
    if (!a) {
        if (!(a = calloc(1, sizeof *a))) {
            nrv = NNG_ENOMEM;
        } else {
            a->c = c;
            if ((nrv = nng_ctx_open(&a->ctx, c->sock)) == 0 &&
                (nrv = nng_aio_alloc(&a->aio, async_cb, a)) != 0)
                nng_ctx_close(a->ctx);
            if (nrv) {
                free(a);
                a = NULL;
            }
        }
    }
    if (!a) {
        pthread_mutex_lock(&c->mu);
        if (--c->ainflight == 0 && c->closing)
            pthread_cond_signal(&c->drained);
        pthread_mutex_unlock(&c->mu);
        return vt_fail(ei, nrv == NNG_ENOMEM ? VT_ERR_NOMEM : nng_to_vt(nrv), "memsync: %s",
                       nng_strerror(nrv));
    }
    *out = a;
    return 0;
}

int vt_memsync_add_async(vt_memsync *c, const vt_mem_cred *cred, const vt_mem_item *item,
                         vt_memsync_add_done done, void *arg, vt_errinfo *ei)
{
    if (!done)
        return vt_fail(ei, VT_ERR_INVAL, "no completion callback");
    ms_req rq = {.op = MS_REQ_ADD};
    borrow_item(&rq, item);
    vt_buf b;
    vt_buf_init(&b, VT_PROTO_MAX_MSG_DEFAULT);
    int rv = fill_cred(&rq, cred, ei);
    if (rv == 0)
        rv = ms_req_encode(&b, &rq, ei);
    unborrow(&rq);
    nng_msg *m = NULL;
    if (rv == 0) {
        int nrv = nng_msg_alloc(&m, 0);
        if (nrv == 0 && (nrv = nng_msg_append(m, b.data, b.len)) != 0)
            nng_msg_free(m);
        if (nrv)
            rv = vt_fail(ei, VT_ERR_NOMEM, "memsync: %s", nng_strerror(nrv));
    }
    vt_buf_free(&b);
    async_slot *a = NULL;
    if (rv == 0 && (rv = async_slot_get(c, &a, ei)) != 0)
        nng_msg_free(m);
    if (rv != 0)
        return rv;
    a->done = done;
    a->arg = arg;
    a->receiving = false;
    nng_aio_set_timeout(a->aio, c->timeout_ms);
    nng_aio_set_msg(a->aio, m);
    nng_ctx_send(a->ctx, a->aio); /* failures arrive in async_cb */
    return 0;
}

int vt_memsync_get(vt_memsync *c, const vt_mem_cred *cred, uint64_t id, vt_mem_item *out,
                   vt_mem_head *head, vt_errinfo *ei)
{
    ms_req rq = {.op = MS_REQ_GET, .id = id};
    ms_rep rep;
    int rv = simple(c, cred, &rq, &rep, ei);
    if (rv == 0) {
        if (!rep.has_item) {
            ms_rep_clear(&rep);
            return vt_fail(ei, VT_ERR_PROTO, "answer without an item");
        }
        *out = rep.item;
        memset(&rep.item, 0, sizeof rep.item);
        if (head)
            *head = rep.head;
        ms_rep_clear(&rep);
    }
    return rv;
}

int vt_memsync_update(vt_memsync *c, const vt_mem_cred *cred, const vt_mem_item *item,
                      vt_mem_head *head, vt_errinfo *ei)
{
    ms_req rq = {.op = MS_REQ_UPDATE, .id = item->id};
    borrow_item(&rq, item);
    return simple_head(c, cred, &rq, head, ei);
}

int vt_memsync_delete(vt_memsync *c, const vt_mem_cred *cred, uint64_t id, vt_mem_head *head,
                      vt_errinfo *ei)
{
    ms_req rq = {.op = MS_REQ_DELETE, .id = id};
    return simple_head(c, cred, &rq, head, ei);
}

int vt_memsync_list(vt_memsync *c, const vt_mem_cred *cred, const vt_mem_filter *f,
                    uint64_t after, uint32_t limit, vt_mem_list *out, vt_errinfo *ei)
{
    ms_req rq = {.op = MS_REQ_LIST, .after = after, .limit = limit};
    ms_rep rep;
    if (f)
        rq.filter = *f;
    int rv = simple(c, cred, &rq, &rep, ei);
    if (rv == 0) {
        *out = rep.list;
        memset(&rep.list, 0, sizeof rep.list);
        ms_rep_clear(&rep);
    }
    return rv;
}

int vt_memsync_search(vt_memsync *c, const vt_mem_cred *cred, const vt_mem_query *q,
                      vt_mem_hits *out, vt_errinfo *ei)
{
    ms_req rq = {.op = MS_REQ_SEARCH, .k = q->k, .filter = q->filter};
    ms_rep rep;
    rq.text = (char *)q->text;
    rq.vector = (float *)q->vector;
    rq.dim = q->vector ? q->dim : 0;
    int rv = simple(c, cred, &rq, &rep, ei);
    if (rv == 0) {
        *out = rep.hits;
        memset(&rep.hits, 0, sizeof rep.hits);
        ms_rep_clear(&rep);
    }
    return rv;
}

int vt_memsync_profile_set(vt_memsync *c, const vt_mem_cred *cred, const char *key,
                           const char *value, vt_mem_head *head, vt_errinfo *ei)
{
    ms_req rq = {.op = MS_REQ_PROFILE_SET};
    rq.pkey = (char *)key;
    rq.pvalue = (char *)value;
    return simple_head(c, cred, &rq, head, ei);
}

int vt_memsync_profile_del(vt_memsync *c, const vt_mem_cred *cred, const char *key,
                           vt_mem_head *head, vt_errinfo *ei)
{
    ms_req rq = {.op = MS_REQ_PROFILE_DEL};
    rq.pkey = (char *)key;
    return simple_head(c, cred, &rq, head, ei);
}

int vt_memsync_profile_get(vt_memsync *c, const vt_mem_cred *cred, vt_mem_profile *out,
                           vt_errinfo *ei)
{
    ms_req rq = {.op = MS_REQ_PROFILE_GET};
    ms_rep rep;
    int rv = simple(c, cred, &rq, &rep, ei);
    if (rv == 0) {
        *out = rep.profile;
        memset(&rep.profile, 0, sizeof rep.profile);
        ms_rep_clear(&rep);
    }
    return rv;
}

int vt_memsync_verify(vt_memsync *c, const vt_mem_cred *cred, vt_mem_verify *out, vt_errinfo *ei)
{
    ms_req rq = {.op = MS_REQ_VERIFY};
    ms_rep rep;
    int rv = simple(c, cred, &rq, &rep, ei);
    if (rv == 0) {
        *out = rep.verify;
        ms_rep_clear(&rep);
    }
    return rv;
}
