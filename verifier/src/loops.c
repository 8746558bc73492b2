/* loops.c - the verifier's vfetch and verdict threads (one REQ socket
 * each) and its hooks for the session keeper (vt_node_keeper_main, which
 * says hello and heartbeats on a third socket, closed last). Same shape as
 * the worker's (worker/src/netloops.c); the plumbing they share lives in
 * vt_worker (vt_node_*). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_clock.h"
#include "vf.h"

#define FETCH_WAIT_MS 1000
#define CALL_TIMEOUT_MS 10000
#define BACKOFF_MAX_MS 2000

static vf_task *task_from_wire(vf *v, const vt_wire_task *wt)
{
    vf_task *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->task_id = wt->task_id;
    t->lease_id = wt->lease_id;
    memcpy(t->job_id, wt->job_id, sizeof t->job_id);
    t->model = -1;
    for (int i = 0; i < v->n_models; i++)
        if (memcmp(v->models[i].sha256, wt->model_sha256, 32) == 0)
            t->model = i;
    t->n_prompt = wt->n_prompt;
    t->n_output = wt->n_output;
    t->prompt = malloc((wt->n_prompt ? wt->n_prompt : 1) * sizeof(int32_t));
    t->output = malloc((wt->n_output ? wt->n_output : 1) * sizeof(int32_t));
    if (!t->prompt || !t->output) {
        vf_task_free(t);
        return NULL;
    }
    memcpy(t->prompt, wt->prompt, wt->n_prompt * sizeof(int32_t));
    memcpy(t->output, wt->output, wt->n_output * sizeof(int32_t));
    t->gp.sampling = wt->sampling;
    t->gp.max_tokens = wt->max_tokens;
    t->gp.stop_at_eos = 1; /* as the worker: the wire always stops at EOS */
    if (wt->n_stop) {
        t->stop = calloc(wt->n_stop, sizeof(char *));
        for (uint32_t i = 0; t->stop && i < wt->n_stop; i++)
            if ((t->stop[i] = strdup(wt->stop[i])) != NULL)
                t->gp.n_stop++;
        t->gp.stop = (const char *const *)t->stop;
    }
    t->stop_reason = wt->stop_reason;
    memcpy(t->trace.final_digest, wt->trace_digest, VT_DIGEST_BYTES);
    t->trace.n_layers = wt->n_layers <= VT_MAX_LAYERS ? wt->n_layers : VT_MAX_LAYERS;
    if (wt->layer_digests)
        memcpy(t->trace.layer_digest, wt->layer_digests, (size_t)t->trace.n_layers * 32);
    /* positions 0..P+O-2, as every honest trace covers */
    t->trace.n_positions = wt->n_prompt + wt->n_output - (wt->n_output ? 1 : 0);
    t->embed = wt->kind == VT_KIND_EMBED; /* trace: positions 0..P-1 (embed_check.c) */
    if (wt->n_embedding) {
        t->embedding = malloc((size_t)wt->n_embedding * sizeof(float));
        if (!t->embedding) {
            vf_task_free(t);
            return NULL;
        }
        memcpy(t->embedding, wt->embedding, (size_t)wt->n_embedding * sizeof(float));
        t->n_embedding = wt->n_embedding;
    }
    t->fetched_us = vt_mono_us();
    return t;
}

void *vf_fetcher_main(void *arg)
{
    vf *v = arg;
    vt_node_conn *c = NULL;
    vt_errinfo ei = {0};
    if (vt_node_conn_open(v->ns.url, v->recv_max, &c, &ei) != 0) {
        vt_log_error(v->log, "fetch.socket", "detail=\"%s\"", vt_errinfo_msg(&ei));
        vt_signals_raise(v->sig, 15);
        atomic_store(&v->fetcher_done, true);
        return NULL;
    }
    pthread_mutex_lock(&v->mu);
    v->fetch_conn = c;
    pthread_mutex_unlock(&v->mu);
    uint64_t backoff = 100;
    int want_held = 2 * v->batch; /* one group replaying, one waiting */
    while (!atomic_load(&v->ns.quit) && !atomic_load(&v->ns.stopping)) {
        if (!atomic_load(&v->ns.registered) || atomic_load(&v->ns.need_hello)) {
            vt_node_sleep(&v->ns.stopping, 50); /* the heartbeat thread says hello */
            continue;
        }
        vt_msg m;
        vt_msg_init(&m, VT_MSG_VFETCH);
        pthread_mutex_lock(&v->mu);
        int cap = want_held - v->n_tasks;
        if (cap <= 0) {
            vt_node_cond_wait_ms(&v->cv_fetch, &v->mu, 200);
            pthread_mutex_unlock(&v->mu);
            continue;
        }
        memcpy(m.u.fetch.session, v->ns.session, sizeof m.u.fetch.session);
        pthread_mutex_unlock(&v->mu);
        if (cap > (int)VT_PROTO_MAX_BATCH)
            cap = (int)VT_PROTO_MAX_BATCH;
        m.u.fetch.free_slots = (uint32_t)cap;
        m.u.fetch.max_jobs = (uint32_t)cap;
        m.u.fetch.wait_ms = FETCH_WAIT_MS;
        vt_msg reply;
        int rv = vt_node_call(c, &m, VT_MSG_VFETCH_OK, FETCH_WAIT_MS + CALL_TIMEOUT_MS, &reply,
                              &ei);
        if (rv) {
            vt_msg_free(&reply);
            if (atomic_load(&v->ns.stopping))
                break; /* aborted by shutdown */
            vt_node_call_failed(&v->ns, "vfetch", rv, &ei, v->m_err_fetch);
            vt_node_sleep(&v->ns.stopping, backoff);
            vt_node_backoff(&backoff, BACKOFF_MAX_MS);
            continue;
        }
        backoff = 100;
        const vt_msg_vfetch_ok *fo = &reply.u.vfetch_ok;
        pthread_mutex_lock(&v->mu);
        for (uint32_t i = 0; i < fo->n_tasks; i++) {
            vf_task *t = task_from_wire(v, &fo->tasks[i]);
            if (t && v->n_tasks == v->cap_tasks) {
                int ncap = v->cap_tasks ? v->cap_tasks * 2 : 64;
                vf_task **a = realloc(v->tasks, (size_t)ncap * sizeof *a);
                if (a) {
                    v->tasks = a;
                    v->cap_tasks = ncap;
                }
            }
            if (t && v->n_tasks < v->cap_tasks)
                v->tasks[v->n_tasks++] = t;
            else
                vf_task_free(t); /* its lease expires; another verifier gets it */
        }
        if (fo->n_tasks)
            pthread_cond_signal(&v->cv_main);
        pthread_mutex_unlock(&v->mu);
        vt_msg_free(&reply);
    }
    pthread_mutex_lock(&v->mu);
    v->fetch_conn = NULL;
    pthread_mutex_unlock(&v->mu);
    vt_node_conn_close(c);
    atomic_store(&v->fetcher_done, true);
    return NULL;
}

void *vf_sender_main(void *arg)
{
    vf *v = arg;
    vt_node_conn *c = NULL;
    vt_errinfo ei = {0};
    if (vt_node_conn_open(v->ns.url, v->recv_max, &c, &ei) != 0) {
        vt_log_error(v->log, "verdicts.socket", "detail=\"%s\"", vt_errinfo_msg(&ei));
        vt_signals_raise(v->sig, 15);
        return NULL;
    }
    vt_wire_verdict *batch = calloc(VT_PROTO_MAX_BATCH, sizeof *batch);
    uint64_t backoff = 100;
    int failures_after_quit = 0;
    while (batch) {
        pthread_mutex_lock(&v->mu);
        while (v->n_out == 0 && !atomic_load(&v->ns.quit))
            vt_node_cond_wait_ms(&v->cv_send, &v->mu, 200);
        if (v->n_out == 0) {
            pthread_mutex_unlock(&v->mu);
            break;
        }
        uint32_t n = v->n_out < (int)VT_PROTO_MAX_BATCH ? (uint32_t)v->n_out : VT_PROTO_MAX_BATCH;
        for (uint32_t i = 0; i < n; i++)
            batch[i] = v->out[i]->v;
        vt_msg m;
        vt_msg_init(&m, VT_MSG_VERDICTS);
        memcpy(m.u.verdicts.session, v->ns.session, sizeof m.u.verdicts.session);
        pthread_mutex_unlock(&v->mu);
        m.u.verdicts.verdicts = batch;
        m.u.verdicts.n_verdicts = n;
        int rv = vt_verdicts_sign(&m.u.verdicts, &v->kp, &ei);
        vt_msg reply;
        vt_msg_init(&reply, VT_MSG_NONE);
        if (!rv)
            rv = vt_node_call(c, &m, VT_MSG_VERDICTS_OK, CALL_TIMEOUT_MS, &reply, &ei);
        if (rv) {
            vt_msg_free(&reply);
            vt_node_call_failed(&v->ns, "verdicts", rv, &ei, v->m_err_send);
            if (atomic_load(&v->ns.quit) && ++failures_after_quit >= 3)
                break;
            if (rv != VT_ERR_PROTO && rv != VT_ERR_INVAL && rv != VT_ERR_TOOBIG &&
                rv != VT_ERR_BADSIG) {
                vt_node_sleep(&v->ns.quit, backoff);
                vt_node_backoff(&backoff, BACKOFF_MAX_MS);
                continue;
            }
            vt_log_error(v->log, "verdicts.dropped", "n=%u err=%s", n, vt_errname(rv));
        } else {
            backoff = 100;
            vt_counter_inc(v->m_batches);
            vt_msg_free(&reply);
        }
        pthread_mutex_lock(&v->mu);
        for (uint32_t i = 0; i < n; i++)
            vf_out_free(v->out[i]);
        memmove(v->out, v->out + n, (size_t)(v->n_out - (int)n) * sizeof *v->out);
        v->n_out -= (int)n;
        pthread_mutex_unlock(&v->mu);
    }
    free(batch);
    vt_node_conn_close(c);
    return NULL;
}

uint32_t vf_collect_leases(void *arg, uint64_t *ids, uint32_t cap, uint32_t *busy,
                           uint32_t *free_slots)
{
    vf *v = arg;
    uint32_t n = 0;
    *busy = 0;
    for (int i = 0; i < v->n_tasks && n < cap; i++) {
        ids[n++] = v->tasks[i]->lease_id;
        *busy += (uint32_t)v->tasks[i]->taken;
    }
    for (int i = 0; i < v->n_out && n < cap; i++)
        ids[n++] = v->out[i]->v.lease_id;
    *free_slots = 2 * v->batch > v->n_tasks ? (uint32_t)(2 * v->batch - v->n_tasks) : 0;
    return n;
}

void vf_cancel_leases(void *arg, const uint64_t *ids, uint32_t n)
{
    /* a cancelled task is cheap to finish; its verdict is simply stale */
    (void)arg;
    (void)ids;
    (void)n;
}
