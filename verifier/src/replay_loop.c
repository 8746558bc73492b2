/* replay_loop.c - the verifier's main thread: held tasks in, verdicts out.
 *
 * Each turn takes up to --batch untaken tasks of ONE model (the model with
 * the oldest waiting task) and checks them in one vt_checker_run: their
 * replays share every vt_forward call. Identity tasks need no engine and are
 * checked in bulk. A task naming a model this verifier does not have gets
 * the fault wrong_model: the scheduler only hands a verifier tasks for the
 * models its hello listed, so such a task means the result claims a model
 * the job did not name (docs/worker.md).
 *
 * On SIGTERM the fetcher stops; tasks already held are still checked (they
 * are cheap next to a generation) and their verdicts sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_clock.h"
#include "vf.h"

#define VF_FETCH_CUT_MS 3000 /* > the vfetch long poll */

void vf_task_free(vf_task *t)
{
    if (!t)
        return;
    free(t->prompt);
    free(t->output);
    free(t->embedding);
    if (t->stop) {
        for (int i = 0; i < t->gp.n_stop; i++)
            free(t->stop[i]);
        free(t->stop);
    }
    free(t);
}

void vf_out_free(vf_out *o)
{
    if (!o)
        return;
    free(o->layers);
    free(o);
}

/* Build the wire verdict for task t from the checker's verdict. */
static vf_out *make_out(vf *v, const vf_task *t, const vt_replay_verdict *rv, uint64_t replay_us)
{
    vf_out *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    vt_wire_verdict *w = &o->v;
    w->task_id = t->task_id;
    w->lease_id = t->lease_id;
    memcpy(w->job_id, t->job_id, sizeof w->job_id);
    w->pass = rv->fault == VT_FAULT_NONE;
    w->fault = (vt_fault)rv->fault;
    w->first_divergence = rv->position >= 0 ? (uint32_t)rv->position : VT_POS_NONE;
    if (rv->have_replay_digest)
        memcpy(w->replay_trace_digest, rv->replay_digest, VT_DIGEST_BYTES);
    w->replay_us = replay_us;
#ifdef VT_TEST_FAULTS
    if (v->fault == VF_FAULT_ALWAYS_PASS) {
        w->pass = true;
        w->fault = VT_FAULT_NONE;
        w->first_divergence = VT_POS_NONE;
    } else if (v->fault == VF_FAULT_ALWAYS_FAIL) {
        w->pass = false;
        w->fault = VT_FAULT_WRONG_TOKEN;
        w->first_divergence = t->n_prompt ? t->n_prompt - 1 : 0;
    }
#else
    (void)v;
#endif
    if (!w->pass && rv->n_layers > 0) {
        memcpy(w->final_at_div, rv->final_digest, VT_DIGEST_BYTES);
        o->layers = malloc((size_t)rv->n_layers * VT_DIGEST_BYTES);
        if (o->layers) {
            memcpy(o->layers, rv->layer_digest, (size_t)rv->n_layers * VT_DIGEST_BYTES);
            w->n_layers = rv->n_layers;
            w->layers_at_div = o->layers;
        }
    }
    return o;
}

/* Count and log verdicts, then hand them to the sender and forget their
 * tasks. After the unlock the sender owns (and may free) the verdicts. */
static void publish(vf *v, vf_task **ts, vf_out **os, int n)
{
    for (int k = 0; k < n; k++) {
        const vt_wire_verdict *w = os[k] ? &os[k]->v : NULL;
        if (w && w->pass) {
            vt_counter_inc(v->m_pass);
        } else if (w) {
            vt_counter_inc(v->m_fail);
            if ((int)w->fault >= 0 && (int)w->fault < 5)
                vt_counter_inc(v->m_fault[w->fault]);
            vt_log_warn(v->log, "verdict.fail", "job=%s task=%llu fault=%s position=%u",
                        w->job_id, (unsigned long long)w->task_id, vt_fault_name(w->fault),
                        w->first_divergence);
        }
    }
    pthread_mutex_lock(&v->mu);
    for (int k = 0; k < n; k++) {
        for (int i = 0; i < v->n_tasks; i++)
            if (v->tasks[i] == ts[k]) {
                v->tasks[i] = v->tasks[--v->n_tasks];
                break;
            }
        if (!os[k])
            continue;
        if (v->n_out == v->cap_out) {
            int cap = v->cap_out ? v->cap_out * 2 : 64;
            vf_out **a = realloc(v->out, (size_t)cap * sizeof *a);
            if (!a) {
                vf_out_free(os[k]);
                continue;
            }
            v->out = a;
            v->cap_out = cap;
        }
        v->out[v->n_out++] = os[k];
    }
    pthread_cond_signal(&v->cv_send);
    pthread_cond_signal(&v->cv_fetch);
    pthread_mutex_unlock(&v->mu);
    for (int k = 0; k < n; k++)
        vf_task_free(ts[k]);
}

static void task_to_replay(const vf_task *t, vt_replay_task *r)
{
    *r = (vt_replay_task){.prompt = t->prompt,
                          .n_prompt = t->n_prompt,
                          .output = t->output,
                          .n_output = t->n_output,
                          .gp = t->gp,
                          .stop_reason = t->stop_reason,
                          .trace = &t->trace};
}

/* Pick the next group: untaken tasks of the model of the oldest one. */
static int take_group(vf *v, vf_task **grp, int cap)
{
    int n = 0;
    pthread_mutex_lock(&v->mu);
    vf_task *oldest = NULL;
    for (int i = 0; i < v->n_tasks; i++)
        if (!v->tasks[i]->taken && (!oldest || v->tasks[i]->fetched_us < oldest->fetched_us))
            oldest = v->tasks[i];
    if (oldest) {
        int model = oldest->model;
        int limit = cap;
        if (model >= 0 && !v->models[model].identity)
            limit = v->batch < cap ? v->batch : cap;
        for (int i = 0; i < v->n_tasks && n < limit; i++)
            if (!v->tasks[i]->taken && v->tasks[i]->model == model &&
                v->tasks[i]->embed == oldest->embed) { /* embed tasks replay apart */
                v->tasks[i]->taken = 1;
                grp[n++] = v->tasks[i];
            }
    }
    pthread_mutex_unlock(&v->mu);
    return n;
}

static void check_group(vf *v, vf_task **grp, int n)
{
    vf_out *os[VT_PROTO_MAX_BATCH];
    vt_replay_task rt[VT_PROTO_MAX_BATCH];
    static vt_replay_verdict vd[VT_PROTO_MAX_BATCH]; /* main thread only */
    uint64_t t0 = vt_mono_us();
    int model = grp[0]->model;
    for (int k = 0; k < n; k++)
        task_to_replay(grp[k], &rt[k]);
    if (model < 0) {
        for (int k = 0; k < n; k++) {
            memset(&vd[k], 0, sizeof vd[k]);
            vd[k].fault = VT_FAULT_WRONG_MODEL;
            vd[k].position = -1;
        }
    } else if (grp[0]->embed) {
        vf_check_embeds(v, &v->models[model], grp, n, vd);
    } else if (v->models[model].identity) {
        for (int k = 0; k < n; k++)
            vt_check_identity(&rt[k], &vd[k]);
    } else {
        vt_errinfo ei = {0};
        int rv = vt_checker_run(v->models[model].checker, rt, n, vd, &ei);
        if (rv) {
            /* our engine failed, not the worker: no verdict, the leases
             * expire and the tasks go to another verifier */
            vt_log_error(v->log, "replay.failed", "n=%d err=%s detail=\"%s\"", n, vt_errname(rv),
                         vt_errinfo_msg(&ei));
            for (int k = 0; k < n; k++)
                os[k] = NULL;
            publish(v, grp, os, n);
            return;
        }
        vt_histogram_observe(v->m_batch, n);
    }
    uint64_t dt = vt_mono_us() - t0;
    vt_histogram_observe(v->m_replay_s, (double)dt * 1e-6);
    for (int k = 0; k < n; k++) {
        vt_counter_add(v->m_tokens, grp[k]->n_prompt + grp[k]->n_output);
        if (vd[k].unverifiable) {
            vt_log_error(v->log, "replay.unverifiable", "job=%s detail=\"%s\"", grp[k]->job_id,
                         vd[k].detail);
            os[k] = NULL;
            continue;
        }
        os[k] = make_out(v, grp[k], &vd[k], dt / (uint64_t)n);
        if (vd[k].fault != VT_FAULT_NONE)
            vt_log_info(v->log, "replay.fault", "job=%s detail=\"%s\"", grp[k]->job_id,
                        vd[k].detail);
    }
    publish(v, grp, os, n);
}

void vf_replay_loop(vf *v)
{
    vf_task *grp[VT_PROTO_MAX_BATCH];
    uint64_t stop_at = 0;
    for (;;) {
        if (vt_signals_stop_requested(v->sig) && !stop_at) {
            stop_at = vt_mono_ms();
            atomic_store(&v->ns.stopping, true);
            pthread_cond_broadcast(&v->cv_fetch);
            vt_log_info(v->log, "verifier.draining", "held=%d", v->n_tasks);
        }
        /* read before looking for tasks: once it is set, every task the
         * fetcher brought is already in the table */
        bool fetch_done = atomic_load(&v->fetcher_done);
        int n = take_group(v, grp, (int)VT_PROTO_MAX_BATCH);
        if (n > 0) {
            check_group(v, grp, n);
            continue;
        }
        if (stop_at) {
            /* a vfetch still parked may bring tasks: wait for it, and cut
             * it if the scheduler does not answer */
            if (fetch_done)
                break;
            if (vt_mono_ms() >= stop_at + VF_FETCH_CUT_MS) {
                pthread_mutex_lock(&v->mu);
                vt_node_conn_abort(v->fetch_conn);
                pthread_mutex_unlock(&v->mu);
            }
        }
        pthread_mutex_lock(&v->mu);
        vt_node_cond_wait_ms(&v->cv_main, &v->mu, 50);
        pthread_mutex_unlock(&v->mu);
    }
    vf_embed_free(v); /* the embed contexts belong to this thread */
}
