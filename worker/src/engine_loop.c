/* engine_loop.c - the worker's main thread: fetched jobs in, results out.
 *
 * Each turn: admit queued jobs into their model's runner (identity jobs are
 * answered on the spot), apply cancels from heartbeats, run ONE step of every
 * runner that has work (one vt_forward each: continuous batching), and move
 * finished jobs to the outbox. Wire jobs carry no "stop at EOS" switch: a
 * generation always stops at EOS (docs/worker.md), and the verifier applies
 * the same rule.
 *
 * On SIGTERM: stop fetching (a parked fetch may still bring jobs: they are
 * released at once), keep stepping running jobs for up to WK_DRAIN_MS, then
 * cancel what is left and hand those leases back (release) so the scheduler
 * re-queues them at once instead of waiting for expiry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_clock.h"
#include "wk.h"

#define WK_DRAIN_MS 15000
#define WK_FETCH_CUT_MS 3000 /* > the fetch long poll */

void wk_job_free(wk_job *j)
{
    if (!j)
        return;
    free(j->prompt);
    if (j->stop) {
        for (int i = 0; i < j->gp.n_stop; i++)
            free(j->stop[i]);
        free(j->stop);
    }
    free(j);
}

void wk_res_free(wk_res *r)
{
    if (!r)
        return;
    free(r->tokens);
    free(r->text);
    free(r->layers);
    free(r->embedding);
    free(r);
}

/* Remove job j from the lease table (under mu). */
static void jobs_remove_locked(wk *w, wk_job *j)
{
    for (int i = 0; i < w->n_jobs; i++)
        if (w->jobs[i] == j) {
            w->jobs[i] = w->jobs[--w->n_jobs];
            break;
        }
    pthread_cond_signal(&w->cv_fetch);
}

static void outbox_push_locked(wk *w, wk_res *r)
{
    if (w->n_out == w->cap_out) {
        int cap = w->cap_out ? w->cap_out * 2 : 64;
        wk_res **o = realloc(w->out, (size_t)cap * sizeof *o);
        if (!o) {
            vt_log_error(w->log, "result.dropped", "job=%s reason=out_of_memory", r->r.job_id);
            wk_res_free(r);
            return;
        }
        w->out = o;
        w->cap_out = cap;
    }
    w->out[w->n_out++] = r;
    pthread_cond_signal(&w->cv_send);
}

static wk_res *res_new(const wk_job *j, const wk_model *m)
{
    wk_res *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    memcpy(r->r.job_id, j->job_id, sizeof r->r.job_id);
    r->r.lease_id = j->lease_id;
    if (m)
        memcpy(r->r.model_sha256, m->sha256, 32);
    memcpy(r->r.prompt_digest, j->prompt_digest, 32);
    return r;
}

/* A job that could not run: a result carrying only its error. */
static void fail_job(wk *w, wk_job *j, int status)
{
    wk_res *r = res_new(j, j->model >= 0 ? &w->models[j->model] : NULL);
    if (r) {
        r->r.status = status;
        r->r.stop_reason = VT_STOP_CANCEL;
    }
    vt_counter_inc(w->m_jobs_err);
    vt_log_warn(w->log, "job.failed", "job=%s lease=%llu err=%s", j->job_id,
                (unsigned long long)j->lease_id, vt_errname(status));
    pthread_mutex_lock(&w->mu);
    jobs_remove_locked(w, j);
    if (r)
        outbox_push_locked(w, r);
    pthread_mutex_unlock(&w->mu);
    wk_job_free(j);
}

/* Turn a runner result into a wire result in the outbox. */
static void finish_job(wk *w, wk_job *j, vt_run_result *rr, void *fault_ctx)
{
    (void)fault_ctx;
    const wk_model *m = &w->models[j->model];
    if (rr->status == VT_ERR_CANCELLED) {
        /* the scheduler asked for it: nobody wants the result */
        vt_counter_inc(w->m_jobs_cancel);
        pthread_mutex_lock(&w->mu);
        jobs_remove_locked(w, j);
        pthread_mutex_unlock(&w->mu);
        vt_log_info(w->log, "job.cancelled", "job=%s tokens=%u", j->job_id, rr->n_tokens);
        wk_job_free(j);
        vt_run_result_free(rr);
        return;
    }
    wk_res *r = res_new(j, m);
    if (!r) {
        fail_job(w, j, VT_ERR_NOMEM);
        vt_run_result_free(rr);
        return;
    }
    r->tokens = rr->tokens;
    r->text = rr->text;
    rr->tokens = NULL;
    rr->text = NULL;
    r->r.status = rr->status;
    r->r.tokens = r->tokens;
    r->r.n_tokens = rr->n_tokens;
    r->r.text = r->text;
    r->r.text_len = rr->text_len;
    r->r.stop_reason = rr->stop_reason;
    memcpy(r->r.trace_digest, rr->trace.final_digest, 32);
    r->r.n_layers = rr->trace.n_layers;
    if (rr->trace.n_layers) {
        r->layers = malloc((size_t)rr->trace.n_layers * 32);
        if (r->layers)
            memcpy(r->layers, rr->trace.layer_digest, (size_t)rr->trace.n_layers * 32);
        else
            r->r.n_layers = 0;
    }
    r->r.layer_digests = r->layers;
    r->r.prefill_us = (uint64_t)(rr->prefill_s * 1e6);
    r->r.decode_us = (uint64_t)(rr->decode_s * 1e6);
    uint64_t total_us = vt_mono_us() - j->fetched_us;
    uint64_t work_us = r->r.prefill_us + r->r.decode_us;
    r->r.queue_us = total_us > work_us ? total_us - work_us : 0;
#ifdef VT_TEST_FAULTS
    if (w->fault && fault_ctx) /* r->tokens is ours: the wire result only points at it */
        vt_worker_fault_result(w->fault, fault_ctx, r->tokens, &r->r.n_tokens,
                               r->r.trace_digest, m->vocab);
#endif
    if (rr->status == 0)
        vt_counter_inc(w->m_jobs_ok);
    else
        vt_counter_inc(w->m_jobs_err);
    vt_counter_add(w->m_tokens, rr->n_tokens);
    vt_log_debug(w->log, "job.done", "job=%s tokens=%u stop=%s status=%s", j->job_id,
                 rr->n_tokens, vt_stop_name(rr->stop_reason), vt_errname(rr->status));
    pthread_mutex_lock(&w->mu);
    jobs_remove_locked(w, j);
    outbox_push_locked(w, r);
    pthread_mutex_unlock(&w->mu);
    wk_job_free(j);
    vt_run_result_free(rr);
}

static void run_identity(wk *w, wk_job *j)
{
    wk_res *r = res_new(j, &w->models[j->model]);
    uint32_t cap = j->gp.max_tokens < j->n_prompt ? j->gp.max_tokens : j->n_prompt;
    int32_t *toks = r ? malloc((cap ? cap : 1) * sizeof(int32_t)) : NULL;
    vt_trace tr;
    uint32_t n = 0;
    if (!toks || vt_identity_run(j->prompt, j->n_prompt, j->gp.max_tokens, toks, cap, &n, &tr)) {
        free(toks);
        wk_res_free(r);
        fail_job(w, j, VT_ERR_NOMEM);
        return;
    }
    r->tokens = toks;
    r->r.tokens = toks;
    r->r.n_tokens = n;
    r->text = calloc(1, 1); /* identity produces ids, no text */
    r->r.text = r->text;
    r->r.stop_reason = VT_STOP_MAX;
    memcpy(r->r.trace_digest, tr.final_digest, 32);
    r->r.queue_us = vt_mono_us() - j->fetched_us;
    vt_counter_inc(w->m_jobs_ok);
    vt_counter_add(w->m_tokens, n);
    pthread_mutex_lock(&w->mu);
    jobs_remove_locked(w, j);
    outbox_push_locked(w, r);
    pthread_mutex_unlock(&w->mu);
    wk_job_free(j);
}

/* kind "embed": computed on the spot (embed_job.c), like identity jobs;
 * jobs holds up to WK_EMBED_MAX of them, all for model m. */
static void run_embeds(wk *w, wk_model *m, wk_job **jobs, int n)
{
    wk_res *res[WK_EMBED_MAX];
    int rc[WK_EMBED_MAX];
    vt_errinfo ei[WK_EMBED_MAX];
    memset(ei, 0, sizeof ei);
    for (int k = 0; k < n; k++)
        res[k] = res_new(jobs[k], m);
    uint64_t t0 = vt_mono_us();
    wk_embed_jobs(w, m, jobs, res, n, rc, ei);
    uint64_t t1 = vt_mono_us();
    for (int k = 0; k < n; k++) {
        wk_job *j = jobs[k];
        wk_res *r = res[k];
        if (rc[k]) {
            vt_log_warn(w->log, "job.embed_failed", "job=%s err=%s detail=\"%s\"", j->job_id,
                        vt_errname(rc[k]), vt_errinfo_msg(&ei[k]));
            wk_res_free(r);
            fail_job(w, j, rc[k]);
            continue;
        }
        r->r.prefill_us = t1 - t0; /* the whole batch's time */
#ifdef VT_TEST_FAULTS
        vt_worker_fault_embed(w->fault, r->embedding, r->r.n_embedding, r->r.trace_digest);
#endif
        r->r.queue_us = t0 - j->fetched_us;
        vt_counter_inc(w->m_jobs_ok);
        vt_counter_add(w->m_prompt_tokens, j->n_prompt);
        pthread_mutex_lock(&w->mu);
        jobs_remove_locked(w, j);
        outbox_push_locked(w, r);
        pthread_mutex_unlock(&w->mu);
        wk_job_free(j);
    }
}

/* The embed jobs admitted together, by model, in batches. A job leaves
 * jobs[] (NULL) as it joins a batch: run_embeds frees it. */
static void run_embeds_by_model(wk *w, wk_job **jobs, int n)
{
    for (int k = 0; k < n; k++) {
        if (!jobs[k])
            continue;
        int mi = jobs[k]->model;
        wk_job *group[WK_EMBED_MAX];
        int g = 0;
        for (int i = k; i < n && g < WK_EMBED_MAX; i++)
            if (jobs[i] && jobs[i]->model == mi) {
                group[g++] = jobs[i];
                jobs[i] = NULL;
            }
        run_embeds(w, &w->models[mi], group, g);
    }
}

/* Find the job with runner tag `tag` (under mu). */
static wk_job *job_by_tag_locked(wk *w, uint64_t tag)
{
    for (int i = 0; i < w->n_jobs; i++)
        if (w->jobs[i]->state == WK_RUNNING && w->jobs[i]->tag == tag)
            return w->jobs[i];
    return NULL;
}

/* Start queued jobs, act on cancels. Returns how many jobs are running. */
static int admit(wk *w, int drain)
{
    wk_job *start[512];
    int n_start = 0, running = 0;
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < w->n_jobs; i++) {
        wk_job *j = w->jobs[i];
        if (j->state == WK_QUEUED && j->cancel) {
            w->jobs[i--] = w->jobs[--w->n_jobs];
            wk_job_free(j);
            vt_counter_inc(w->m_jobs_cancel);
            pthread_cond_signal(&w->cv_fetch);
        } else if (j->state == WK_QUEUED && !drain && n_start < 512) {
            j->state = WK_RUNNING;
            j->tag = ++w->next_tag;
            start[n_start++] = j;
        } else if (j->state == WK_RUNNING) {
            if (j->cancel && j->model >= 0 && w->models[j->model].runner)
                vt_runner_cancel(w->models[j->model].runner, j->tag);
            running++;
        }
    }
    pthread_mutex_unlock(&w->mu);

    wk_job *embeds[512];
    int n_embeds = 0;
    for (int k = 0; k < n_start; k++) {
        wk_job *j = start[k];
        if (j->model < 0) {
            fail_job(w, j, VT_ERR_NOMODEL);
            continue;
        }
        if (j->unsupported) {
            fail_job(w, j, VT_ERR_UNSUPPORTED);
            continue;
        }
        wk_model *m = &w->models[j->model];
        if (j->embed && !m->identity) {
            embeds[n_embeds++] = j;
            continue;
        }
        if (m->identity) {
            if (j->embed) {
                fail_job(w, j, VT_ERR_UNSUPPORTED);
                continue;
            }
            run_identity(w, j);
            continue;
        }
        vt_errinfo ei = {0};
        int rv = vt_runner_submit(m->runner, j->tag, j->prompt, j->n_prompt, &j->gp,
                                  j->deadline_ms, &ei);
        if (rv) {
            vt_log_warn(w->log, "job.rejected", "job=%s err=%s detail=\"%s\"", j->job_id,
                        vt_errname(rv), vt_errinfo_msg(&ei));
            fail_job(w, j, rv);
            continue;
        }
        vt_counter_add(w->m_prompt_tokens, j->n_prompt);
        running++;
    }
    run_embeds_by_model(w, embeds, n_embeds);
    return running;
}

/* One step of every runner with work; collect finished jobs. */
static int step_all(wk *w, void *fault_ctx, uint64_t *tokens)
{
    int stepped = 0;
    for (int mi = 0; mi < w->n_models; mi++) {
        wk_model *m = &w->models[mi];
        if (!m->runner || vt_runner_active(m->runner) == 0)
            continue;
        int before = vt_runner_active(m->runner);
        int nt = 0;
        vt_errinfo ei = {0};
        int rv = vt_runner_step(m->runner, &nt, &ei);
        if (rv)
            vt_log_error(w->log, "engine.step_failed", "model=%s err=%s detail=\"%s\"", m->name,
                         vt_errname(rv), vt_errinfo_msg(&ei));
        stepped++;
        *tokens += (uint64_t)nt;
        vt_histogram_observe(w->m_batch_tokens, nt);
        vt_histogram_observe(w->m_batch_jobs, before);
        vt_run_result rr;
        while (vt_runner_take(m->runner, &rr)) {
            pthread_mutex_lock(&w->mu);
            wk_job *j = job_by_tag_locked(w, rr.tag);
            pthread_mutex_unlock(&w->mu);
            if (!j) {
                vt_run_result_free(&rr);
                continue;
            }
            finish_job(w, j, &rr, fault_ctx);
        }
    }
    return stepped;
}

static int busy_slots(wk *w)
{
    int n = 0;
    for (int mi = 0; mi < w->n_models; mi++)
        if (w->models[mi].runner)
            n += vt_runner_active(w->models[mi].runner);
    return n;
}

void wk_engine_loop(wk *w)
{
    void *fault_ctx = NULL;
#ifdef VT_TEST_FAULTS
    fault_ctx = vt_fault_state_new();
#endif
    uint64_t drain_until = 0, drain_started = 0, tps_t0 = vt_mono_ms(), tps_tokens = 0;
    for (;;) {
        bool stop = vt_signals_stop_requested(w->sig);
        if (stop && !drain_until) {
            atomic_store(&w->ns.stopping, true);
            drain_started = vt_mono_ms();
            drain_until = drain_started + WK_DRAIN_MS;
            vt_log_info(w->log, "worker.draining", "running=%d bound_ms=%d", busy_slots(w),
                        WK_DRAIN_MS);
            pthread_cond_broadcast(&w->cv_fetch);
        }
        /* read before admitting: once it is set, every job the fetcher
         * brought is already in the table */
        bool fetch_done = atomic_load(&w->fetcher_done);
        int running = admit(w, drain_until != 0);
        if (drain_until) {
            /* queued jobs were never started: hand them back now */
            uint64_t back[VT_PROTO_MAX_LEASES];
            uint32_t nb = 0;
            pthread_mutex_lock(&w->mu);
            for (int i = 0; i < w->n_jobs && nb < VT_PROTO_MAX_LEASES; i++)
                if (w->jobs[i]->state == WK_QUEUED) {
                    back[nb++] = w->jobs[i]->lease_id;
                    wk_job_free(w->jobs[i]);
                    w->jobs[i--] = w->jobs[--w->n_jobs];
                }
            pthread_mutex_unlock(&w->mu);
            if (nb)
                wk_release(w, back, nb);
            /* a fetch still parked may bring jobs: wait for it (cut it if
             * the scheduler does not answer) */
            bool fetching = !fetch_done;
            if (fetching && vt_mono_ms() >= drain_started + WK_FETCH_CUT_MS) {
                pthread_mutex_lock(&w->mu);
                vt_node_conn_abort(w->fetch_conn);
                pthread_mutex_unlock(&w->mu);
            }
            if (running == 0 && !fetching)
                break;
            if (vt_mono_ms() >= drain_until) {
                /* out of time: cancel the rest and release their leases */
                nb = 0;
                pthread_mutex_lock(&w->mu);
                for (int i = 0; i < w->n_jobs && nb < VT_PROTO_MAX_LEASES; i++) {
                    back[nb++] = w->jobs[i]->lease_id;
                    w->jobs[i]->cancel = 1;
                }
                pthread_mutex_unlock(&w->mu);
                vt_log_warn(w->log, "worker.drain_timeout", "released=%u", nb);
                wk_release(w, back, nb);
                admit(w, 1);
                uint64_t t = 0;
                step_all(w, fault_ctx, &t); /* lets the runners drop cancelled jobs */
                break;
            }
        }
#ifdef VT_TEST_FAULTS
        if (w->fault == VT_WORKER_FAULT_SLOW && busy_slots(w) > 0)
            vt_sleep_ms(10);
#endif
        uint64_t t = 0;
        int stepped = step_all(w, fault_ctx, &t);
        tps_tokens += t;
        uint64_t now = vt_mono_ms();
        if (now - tps_t0 >= 1000) {
            vt_gauge_set(w->m_tps, (double)tps_tokens * 1000.0 / (double)(now - tps_t0));
            tps_t0 = now;
            tps_tokens = 0;
        }
        vt_gauge_set(w->m_busy, busy_slots(w));
        if (!stepped) {
            /* idle: sleep until the fetcher or a heartbeat brings something */
            pthread_mutex_lock(&w->mu);
            bool work = false;
            for (int i = 0; i < w->n_jobs && !work; i++)
                work = w->jobs[i]->state == WK_QUEUED || w->jobs[i]->cancel;
            if (!work && !vt_signals_stop_requested(w->sig)) {
                vt_node_cond_wait_ms(&w->cv_main, &w->mu, 50);
            }
            pthread_mutex_unlock(&w->mu);
        }
    }
    vt_gauge_set(w->m_busy, 0);
    wk_embed_free(w); /* the embed contexts belong to this thread */
#ifdef VT_TEST_FAULTS
    vt_fault_state_free(fault_ctx);
#endif
}
