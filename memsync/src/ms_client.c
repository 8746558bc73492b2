/* ms_client.c - the client side of vt_memsync.h (compiled into vt_client).
 * One REQ socket per handle; every request opens its own context, so one
 * handle serves many threads. REQ resend is off: an add is not idempotent
 * (each creates a new item), so a lost answer is reported as a timeout
 * rather than silently repeated. */
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "ms_record.h"
#include "ms_wire.h"
#include "vt_memsync.h"

#define MS_CLIENT_RECV_MAX (64u << 20)

struct vt_memsync {
    nng_socket sock;
    int timeout_ms;
};

int vt_memsync_open(vt_memsync **out, const char *url, int timeout_ms, vt_errinfo *ei)
{
    vt_memsync *c = calloc(1, sizeof *c);
    if (!c)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    int rv = nng_req0_open(&c->sock);
    if (rv == 0) {
        nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, MS_CLIENT_RECV_MAX);
        nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
        rv = nng_dial(c->sock, url, NULL, NNG_FLAG_NONBLOCK);
        if (rv)
            nng_close(c->sock);
    }
    if (rv) {
        free(c);
        return vt_fail(ei, rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP ? VT_ERR_INVAL : VT_ERR_TRANSPORT,
                       "memsync %s: %s", url, nng_strerror(rv));
    }
    *out = c;
    return 0;
}

void vt_memsync_close(vt_memsync *c)
{
    if (!c)
        return;
    nng_close(c->sock);
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

/* Send rq, wait for the answer, decode it into rep. */
static int call(vt_memsync *c, const ms_req *rq, ms_rep *rep, vt_errinfo *ei)
{
    vt_buf b;
    vt_buf_init(&b, VT_PROTO_MAX_MSG_DEFAULT);
    int rv = ms_req_encode(&b, rq, ei);
    nng_ctx ctx;
    nng_aio *aio = NULL;
    nng_msg *m = NULL;
    bool ctx_open = false;
    if (rv == 0) {
        int nrv = nng_ctx_open(&ctx, c->sock);
        if (nrv == 0) {
            ctx_open = true;
            nrv = nng_aio_alloc(&aio, NULL, NULL);
        }
        if (nrv == 0)
            nrv = nng_msg_alloc(&m, 0);
        if (nrv == 0)
            nrv = nng_msg_append(m, b.data, b.len);
        if (nrv == 0) {
            nng_aio_set_timeout(aio, c->timeout_ms);
            nng_aio_set_msg(aio, m);
            nng_ctx_send(ctx, aio);
            nng_aio_wait(aio);
            nrv = nng_aio_result(aio);
            if (nrv == 0) {
                m = NULL; /* owned by NNG now */
                nng_ctx_recv(ctx, aio);
                nng_aio_wait(aio);
                nrv = nng_aio_result(aio);
                if (nrv == 0) {
                    m = nng_aio_get_msg(aio);
                    rv = ms_rep_decode(nng_msg_body(m), nng_msg_len(m), rep, ei);
                }
            }
        }
        if (nrv)
            rv = vt_fail(ei, nng_to_vt(nrv), "memsync: %s", nng_strerror(nrv));
    }
    if (m)
        nng_msg_free(m);
    if (aio) {
        nng_aio_stop(aio);
        nng_aio_free(aio);
    }
    if (ctx_open)
        nng_ctx_close(ctx);
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
