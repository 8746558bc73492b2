/* netloops.c - the worker's fetch and results threads, one REQ socket each
 * (the session and heartbeats are vt_node_keeper_main's, on a third).
 *
 *   fetcher    asks for as many jobs as there is free capacity (slots minus
 *              leases held), parking at the scheduler up to FETCH_WAIT_MS.
 *   sender     sends finished results in batches (up to VT_PROTO_MAX_BATCH,
 *              one Ed25519 signature over the Merkle root per batch); a batch
 *              leaves the outbox only once the scheduler acked it, and is
 *              resent as is on failure (idempotent by job and lease id).
 * Also the keeper's hooks: the leases held (running, queued and
 * finished-but-unacked, so none expires while its result waits) and the
 * cancels its heartbeat replies bring.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_clock.h"
#include "wk.h"

#define FETCH_WAIT_MS 1000
#define CALL_TIMEOUT_MS 10000
#define BACKOFF_MAX_MS 2000

/* A fetched wire job becomes a wk_job (copies everything it needs). */
static wk_job *job_from_wire(wk *w, const vt_wire_job *wj)
{
    wk_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    memcpy(j->job_id, wj->job_id, sizeof j->job_id);
    j->lease_id = wj->lease_id;
    j->model = -1;
    for (int i = 0; i < w->n_models; i++)
        if (memcmp(w->models[i].sha256, wj->model_sha256, 32) == 0)
            j->model = i;
    j->embed = wj->kind == VT_KIND_EMBED;
    j->unsupported = wj->kind != VT_KIND_GENERATE && !j->embed;
    j->n_prompt = wj->n_prompt;
    j->prompt = malloc((wj->n_prompt ? wj->n_prompt : 1) * sizeof(int32_t));
    if (!j->prompt) {
        free(j);
        return NULL;
    }
    memcpy(j->prompt, wj->prompt, wj->n_prompt * sizeof(int32_t));
    j->gp.sampling = wj->sampling;
    j->gp.max_tokens = wj->max_tokens;
    j->gp.stop_at_eos = 1; /* the wire has no switch: always stop at EOS */
#ifdef VT_TEST_FAULTS
    vt_worker_fault_params(w->fault, &j->gp);
#endif
    if (wj->n_stop) {
        j->stop = calloc(wj->n_stop, sizeof(char *));
        for (uint32_t i = 0; j->stop && i < wj->n_stop; i++) {
            j->stop[i] = strdup(wj->stop[i]);
            if (j->stop[i])
                j->gp.n_stop++;
        }
        j->gp.stop = (const char *const *)j->stop;
    }
    vt_hash_tokens(wj->prompt, wj->n_prompt, j->prompt_digest);
    j->deadline_ms = wj->deadline_ms ? (int64_t)vt_mono_ms() + wj->deadline_ms : 0;
    j->fetched_us = vt_mono_us();
    j->state = WK_QUEUED;
    return j;
}

static int jobs_push_locked(wk *w, wk_job *j)
{
    if (w->n_jobs == w->cap_jobs) {
        int cap = w->cap_jobs ? w->cap_jobs * 2 : 64;
        wk_job **a = realloc(w->jobs, (size_t)cap * sizeof *a);
        if (!a)
            return VT_ERR_NOMEM;
        w->jobs = a;
        w->cap_jobs = cap;
    }
    w->jobs[w->n_jobs++] = j;
    return 0;
}

void *wk_fetcher_main(void *arg)
{
    wk *w = arg;
    vt_node_conn *c = NULL;
    vt_errinfo ei = {0};
    if (vt_node_conn_open(w->ns.url, w->recv_max, &c, &ei) != 0) {
        vt_log_error(w->log, "fetch.socket", "detail=\"%s\"", vt_errinfo_msg(&ei));
        vt_signals_raise(w->sig, 15);
        atomic_store(&w->fetcher_done, true);
        return NULL;
    }
    pthread_mutex_lock(&w->mu);
    w->fetch_conn = c;
    pthread_mutex_unlock(&w->mu);
    uint64_t backoff = 100;
    while (!atomic_load(&w->ns.quit) && !atomic_load(&w->ns.stopping)) {
        if (!atomic_load(&w->ns.registered) || atomic_load(&w->ns.need_hello)) {
            vt_node_sleep(&w->ns.stopping, 50); /* the heartbeat thread says hello */
            continue;
        }
        vt_msg m;
        vt_msg_init(&m, VT_MSG_FETCH);
        pthread_mutex_lock(&w->mu);
        int cap = w->slots - w->n_jobs;
        if (cap <= 0) {
            vt_node_cond_wait_ms(&w->cv_fetch, &w->mu, 200);
            pthread_mutex_unlock(&w->mu);
            continue;
        }
        memcpy(m.u.fetch.session, w->ns.session, sizeof m.u.fetch.session);
        pthread_mutex_unlock(&w->mu);
        m.u.fetch.free_slots = (uint32_t)cap;
        m.u.fetch.max_jobs = cap < (int)VT_PROTO_MAX_BATCH ? (uint32_t)cap : VT_PROTO_MAX_BATCH;
        m.u.fetch.wait_ms = FETCH_WAIT_MS;
        vt_msg reply;
        int rv = vt_node_call(c, &m, VT_MSG_FETCH_OK, FETCH_WAIT_MS + CALL_TIMEOUT_MS, &reply, &ei);
        if (rv) {
            vt_msg_free(&reply);
            if (atomic_load(&w->ns.stopping))
                break; /* aborted by shutdown */
            vt_node_call_failed(&w->ns, "fetch", rv, &ei, w->m_err_fetch);
            vt_node_sleep(&w->ns.stopping, backoff);
            vt_node_backoff(&backoff, BACKOFF_MAX_MS);
            continue;
        }
        backoff = 100;
        const vt_msg_fetch_ok *fo = &reply.u.fetch_ok;
        pthread_mutex_lock(&w->mu);
        for (uint32_t i = 0; i < fo->n_jobs; i++) {
            wk_job *j = job_from_wire(w, &fo->jobs[i]);
            if (!j || jobs_push_locked(w, j) != 0) {
                /* cannot hold it: its lease expires and it goes to someone else */
                wk_job_free(j);
                vt_log_error(w->log, "job.dropped", "job=%s reason=out_of_memory",
                             fo->jobs[i].job_id);
            }
        }
        if (fo->n_jobs)
            pthread_cond_signal(&w->cv_main);
        pthread_mutex_unlock(&w->mu);
        if (fo->n_jobs)
            vt_log_debug(w->log, "fetch.jobs", "n=%u", fo->n_jobs);
        vt_msg_free(&reply);
    }
    pthread_mutex_lock(&w->mu);
    w->fetch_conn = NULL;
    pthread_mutex_unlock(&w->mu);
    vt_node_conn_close(c);
    atomic_store(&w->fetcher_done, true);
    return NULL;
}

void *wk_sender_main(void *arg)
{
    wk *w = arg;
    vt_node_conn *c = NULL;
    vt_errinfo ei = {0};
    if (vt_node_conn_open(w->ns.url, w->recv_max, &c, &ei) != 0) {
        vt_log_error(w->log, "results.socket", "detail=\"%s\"", vt_errinfo_msg(&ei));
        vt_signals_raise(w->sig, 15);
        return NULL;
    }
    vt_wire_result *batch = calloc(VT_PROTO_MAX_BATCH, sizeof *batch);
    uint64_t backoff = 100;
    int failures_after_quit = 0;
    while (batch) {
        pthread_mutex_lock(&w->mu);
        while (w->n_out == 0 && !atomic_load(&w->ns.quit)) {
            vt_node_cond_wait_ms(&w->cv_send, &w->mu, 200);
        }
        if (w->n_out == 0) { /* quit and nothing left */
            pthread_mutex_unlock(&w->mu);
            break;
        }
        uint32_t n = w->n_out < (int)VT_PROTO_MAX_BATCH ? (uint32_t)w->n_out : VT_PROTO_MAX_BATCH;
        for (uint32_t i = 0; i < n; i++)
            batch[i] = w->out[i]->r;
        vt_msg m;
        vt_msg_init(&m, VT_MSG_RESULTS);
        memcpy(m.u.results.session, w->ns.session, sizeof m.u.results.session);
        pthread_mutex_unlock(&w->mu);
        m.u.results.results = batch;
        m.u.results.n_results = n;
        const vt_keypair *kp = &w->kp;
#ifdef VT_TEST_FAULTS
        if (w->fault == VT_WORKER_FAULT_BAD_SIGNATURE)
            kp = &w->fault_kp;
#endif
        int rv = vt_results_sign(&m.u.results, kp, &ei);
        vt_msg reply;
        vt_msg_init(&reply, VT_MSG_NONE);
        if (!rv)
            rv = vt_node_call(c, &m, VT_MSG_RESULTS_OK, CALL_TIMEOUT_MS, &reply, &ei);
        if (rv) {
            vt_msg_free(&reply);
            vt_node_call_failed(&w->ns, "results", rv, &ei, w->m_err_results);
            if (atomic_load(&w->ns.quit) && ++failures_after_quit >= 3) {
                vt_log_error(w->log, "results.lost", "n=%u reason=shutdown", n);
                break;
            }
            if (rv == VT_ERR_PROTO || rv == VT_ERR_INVAL || rv == VT_ERR_TOOBIG ||
                rv == VT_ERR_BADSIG) {
                /* the scheduler will never take this batch: drop it */
                vt_log_error(w->log, "results.dropped", "n=%u err=%s", n, vt_errname(rv));
            } else {
                vt_node_sleep(&w->ns.quit, backoff);
                vt_node_backoff(&backoff, BACKOFF_MAX_MS);
                continue;
            }
        } else {
            backoff = 100;
            vt_counter_inc(w->m_batches);
            const vt_msg_acks *a = &reply.u.acks;
            for (uint32_t i = 0; i < a->n_acks && i < n; i++)
                if (a->acks[i] == VT_ACK_REJECTED || a->acks[i] == VT_ACK_STALE)
                    vt_log_info(w->log, "result.not_accepted", "job=%s ack=%s", batch[i].job_id,
                                vt_ack_name(a->acks[i]));
            vt_msg_free(&reply);
        }
        pthread_mutex_lock(&w->mu);
        for (uint32_t i = 0; i < n; i++)
            wk_res_free(w->out[i]);
        memmove(w->out, w->out + n, (size_t)(w->n_out - (int)n) * sizeof *w->out);
        w->n_out -= (int)n;
        pthread_mutex_unlock(&w->mu);
    }
    free(batch);
    vt_node_conn_close(c);
    return NULL;
}

uint32_t wk_collect_leases(void *arg, uint64_t *ids, uint32_t cap, uint32_t *busy,
                           uint32_t *free_slots)
{
    wk *w = arg;
    uint32_t n = 0;
    *busy = 0;
    for (int i = 0; i < w->n_jobs && n < cap; i++) {
        ids[n++] = w->jobs[i]->lease_id;
        *busy += w->jobs[i]->state == WK_RUNNING;
    }
    for (int i = 0; i < w->n_out && n < cap; i++)
        ids[n++] = w->out[i]->r.lease_id;
    *free_slots = w->slots > w->n_jobs ? (uint32_t)(w->slots - w->n_jobs) : 0;
    return n;
}

void wk_cancel_leases(void *arg, const uint64_t *ids, uint32_t n)
{
    wk *w = arg;
    for (uint32_t k = 0; k < n; k++)
        for (int i = 0; i < w->n_jobs; i++)
            if (w->jobs[i]->lease_id == ids[k])
                w->jobs[i]->cancel = 1;
    pthread_cond_signal(&w->cv_main);
}

void wk_release(wk *w, const uint64_t *leases, uint32_t n)
{
    if (n == 0 || !atomic_load(&w->ns.registered))
        return;
    vt_node_conn *c = NULL;
    vt_errinfo ei = {0};
    if (vt_node_conn_open(w->ns.url, w->recv_max, &c, &ei) != 0)
        return;
    vt_msg m;
    vt_msg_init(&m, VT_MSG_RELEASE);
    vt_node_session_id(&w->ns, m.u.release.session);
    m.u.release.lease_ids = leases;
    m.u.release.n_lease_ids = n;
    vt_msg reply;
    int rv = vt_node_call(c, &m, VT_MSG_RELEASE_OK, 3000, &reply, &ei);
    vt_msg_free(&reply);
    if (rv)
        vt_log_warn(w->log, "lease.release_failed", "n=%u err=%s", n, vt_errname(rv));
    else
        vt_log_info(w->log, "lease.released", "n=%u", n);
    vt_node_conn_close(c);
}
