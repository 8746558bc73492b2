/* main.c - verity-worker: flags, models, key, threads, shutdown.
 *
 * Start-up order: parse options (bad values: one line, exit 2), load and
 * hash-check every model (mismatch: exit 2), load the key, create one
 * runner per model, start HTTP, then the network threads; the main thread
 * runs the engine loop until SIGTERM has been drained.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_clock.h"
#include "wk.h"

static const char *const device_choices[] = {"auto", "cpu", "cuda", NULL};

static bool ready_fn(void *arg, char *why, size_t whysz)
{
    wk *w = arg;
    if (atomic_load(&w->ns.stopping)) {
        snprintf(why, whysz, "shutting down");
        return false;
    }
    if (!atomic_load(&w->ns.registered)) {
        snprintf(why, whysz, "not registered with the scheduler");
        return false;
    }
    if (atomic_load(&w->ns.need_hello)) {
        snprintf(why, whysz, "the scheduler forgot our session; registering again");
        return false;
    }
    return true;
}

static int setup_metrics(wk *w, vt_errinfo *ei)
{
    static const double tok_b[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
    static const double job_b[] = {0, 1, 2, 4, 8, 16, 32, 64, 128, 256};
    vt_metrics *m = NULL;
    int rv = vt_metrics_new(&m);
    if (rv)
        return rv;
    w->metrics = m;
    const char *jt = "verity_worker_jobs_total", *jh = "jobs finished by this worker";
    const char *et = "verity_worker_errors_total", *eh = "failed calls to the scheduler";
    if ((rv = vt_metrics_counter(m, jt, jh, "status=\"ok\"", &w->m_jobs_ok, ei)) ||
        (rv = vt_metrics_counter(m, jt, jh, "status=\"error\"", &w->m_jobs_err, ei)) ||
        (rv = vt_metrics_counter(m, jt, jh, "status=\"cancelled\"", &w->m_jobs_cancel, ei)) ||
        (rv = vt_metrics_counter(m, "verity_worker_tokens_total", "output tokens generated", NULL,
                                 &w->m_tokens, ei)) ||
        (rv = vt_metrics_counter(m, "verity_worker_prompt_tokens_total", "prompt tokens prefilled",
                                 NULL, &w->m_prompt_tokens, ei)) ||
        (rv = vt_metrics_counter(m, et, eh, "call=\"fetch\"", &w->m_err_fetch, ei)) ||
        (rv = vt_metrics_counter(m, et, eh, "call=\"results\"", &w->m_err_results, ei)) ||
        (rv = vt_metrics_counter(m, et, eh, "call=\"heartbeat\"", &w->m_err_heartbeat, ei)) ||
        (rv = vt_metrics_counter(m, "verity_worker_result_batches_total",
                                 "signed result batches acked by the scheduler", NULL,
                                 &w->m_batches, ei)) ||
        (rv = vt_metrics_gauge(m, "verity_worker_slots_busy", "sequences running now", NULL,
                               &w->m_busy, ei)) ||
        (rv = vt_metrics_gauge(m, "verity_worker_slots", "configured slots", NULL, &w->m_slots,
                               ei)) ||
        (rv = vt_metrics_gauge(m, "verity_worker_tokens_per_second",
                               "tokens processed per second (last second)", NULL, &w->m_tps, ei)) ||
        (rv = vt_metrics_histogram(m, "verity_worker_batch_tokens", "tokens per forward pass",
                                   NULL, tok_b, sizeof tok_b / sizeof *tok_b, &w->m_batch_tokens,
                                   ei)) ||
        (rv = vt_metrics_histogram(m, "verity_worker_batch_jobs", "jobs per forward pass", NULL,
                                   job_b, sizeof job_b / sizeof *job_b, &w->m_batch_jobs, ei)) ||
        (rv = vt_metrics_histogram(m, "verity_worker_embed_batch_jobs",
                                   "embed jobs per shared embedding run", NULL, job_b,
                                   sizeof job_b / sizeof *job_b, &w->m_embed_batch, ei)))
        return rv;
    vt_gauge_set(w->m_slots, w->slots);
    return 0;
}

static void die(vt_log *log, const char *event, const char *fmt, const char *detail)
{
    fprintf(stderr, "verity-worker: ");
    fprintf(stderr, fmt, detail);
    fprintf(stderr, "\n");
    vt_log_error(log, event, "detail=\"%s\"", detail);
    exit(2);
}

/* Resolve --device: with auto and no GPU, say so once and use the CPU. */
static vt_backend pick_backend(wk *w)
{
    int ndev = vt_cuda_compiled() ? vt_cuda_device_count() : 0;
    if (w->device == WK_DEV_CPU)
        return VT_BACKEND_CPU;
    if (w->device == WK_DEV_CUDA) {
        if (ndev <= 0)
            die(w->log, "worker.no_cuda", "%s",
                vt_cuda_compiled() ? "--device cuda: no CUDA device found"
                                   : "--device cuda: this build has no CUDA backend");
        return VT_BACKEND_CUDA;
    }
    if (ndev <= 0) {
        vt_log_info(w->log, "worker.device",
                    "no CUDA device found, using the CPU backend");
        return VT_BACKEND_CPU;
    }
    return VT_BACKEND_CUDA;
}

int main(int argc, char **argv)
{
    static wk W;
    wk *w = &W;
    vt_common_opts common;
    const char *sched = NULL, *key = NULL;
    vt_strlist models = {0};
    bool identity = false;
    int64_t slots = 8, threads = 0, heartbeat = 2000;
    int device = 0;
#ifdef VT_TEST_FAULTS
    int fault = 0;
    const char *fault_model = NULL;
#endif
    vt_opt opts[] = {
        {.flag = "scheduler", .env = "VERITY_SCHEDULER", .type = VT_OPT_URL,
         .def = "tcp://127.0.0.1:7401", .help = "scheduler's worker socket", .dest = &sched},
        {.flag = "model", .env = "VERITY_MODELS", .type = VT_OPT_LIST, .metavar = "PATH[@SHA256]",
         .help = "GGUF to serve; with @SHA256 the file must hash to it (repeatable)",
         .dest = &models},
        {.flag = "identity", .env = "VERITY_IDENTITY", .type = VT_OPT_BOOL,
         .help = "serve the built-in identity model (benchmark mode)", .dest = &identity},
        {.flag = "slots", .env = "VERITY_SLOTS", .type = VT_OPT_INT, .metavar = "N", .def = "8",
         .min = 1, .max = 4096, .help = "concurrent sequences (continuous batching)",
         .dest = &slots},
        {.flag = "threads", .env = "VERITY_THREADS", .type = VT_OPT_INT, .metavar = "N",
         .def_help = "number of CPUs", .min = 1, .max = 1024, .help = "engine threads",
         .dest = &threads},
        {.flag = "device", .env = "VERITY_DEVICE", .type = VT_OPT_ENUM, .def = "auto",
         .choices = device_choices, .help = "engine backend", .dest = &device},
        {.flag = "key", .env = "VERITY_KEY_FILE", .type = VT_OPT_FILE, .metavar = "FILE",
         .flags = VT_OPT_REQUIRED, .help = "node Ed25519 secret key", .dest = &key},
        VT_COMMON_OPTS(&common, "127.0.0.1:9401"),
        {.flag = "heartbeat-ms", .env = "VERITY_HEARTBEAT_MS", .type = VT_OPT_DURATION_MS,
         .metavar = "MS", .def = "2000", .min = 50, .max = 600000,
         .help = "interval of lease-extending heartbeats", .dest = &heartbeat},
#ifdef VT_TEST_FAULTS
        {.flag = "fault", .type = VT_OPT_ENUM, .def = "none", .choices = vt_worker_fault_names,
         .help = "TEST BUILDS ONLY: misbehave on purpose", .dest = &fault},
        {.flag = "fault-model", .type = VT_OPT_FILE, .metavar = "PATH",
         .help = "TEST BUILDS ONLY: weights computed with by wrong_model/q8_for_f32",
         .dest = &fault_model},
#endif
        VT_OPT_END};
    vt_config_or_exit(opts, argc, argv, "verity-worker",
                      "Verity worker: leases jobs from the scheduler and runs them");
    if (models.n == 0 && !identity) {
        fprintf(stderr, "verity-worker: no model to serve: give --model PATH[@SHA256] "
                        "(VERITY_MODELS) or --identity\n");
        return 2;
    }
#ifdef VT_TEST_FAULTS
    if (vt_worker_fault_needs_model(fault) && !fault_model) {
        fprintf(stderr, "verity-worker: --fault %s needs --fault-model PATH\n",
                vt_worker_fault_names[fault]);
        return 2;
    }
    w->fault = fault;
#endif
    vt_errinfo ei = {0};
    if (vt_common_log_open(&common, "worker", &w->log) != 0) {
        fprintf(stderr, "verity-worker: cannot open the log\n");
        return 2;
    }
    w->ns.url = sched;
    w->slots = (int)slots;
    w->threads = threads > 0 ? (int)threads : vt_node_cpus();
    w->device = device;
    w->heartbeat_ms = heartbeat;
    w->recv_max = (size_t)common.recv_max;
    if (vt_protocol_init() != 0)
        die(w->log, "worker.crypto", "%s", "libsodium did not start");
    if (vt_key_load(key, &w->kp, &ei) != 0)
        die(w->log, "worker.bad_key", "--key: %s", vt_errinfo_msg(&ei));
#ifdef VT_TEST_FAULTS
    if (w->fault == VT_WORKER_FAULT_BAD_SIGNATURE)
        vt_key_generate(&w->fault_kp);
    if (w->fault)
        vt_log_warn(w->log, "worker.fault_mode", "fault=%s (test build)",
                    vt_worker_fault_names[fault]);
#endif
    /* signals first: every thread created below inherits the mask */
    if (vt_signals_start(&w->sig, &ei) != 0)
        die(w->log, "worker.signals", "%s", vt_errinfo_msg(&ei));

    w->n_models = (int)models.n + (identity ? 1 : 0);
    w->models = calloc((size_t)w->n_models, sizeof *w->models);
    if (!w->models)
        die(w->log, "worker.oom", "%s", "out of memory");
    vt_backend backend = models.n ? pick_backend(w) : VT_BACKEND_CPU;
    for (size_t i = 0; i < models.n; i++) {
        wk_model *m = &w->models[i];
        int rv = vt_model_spec_load(models.items[i], &m->claimed, &ei);
        if (rv)
            die(w->log, "worker.model", "--model: %s", vt_errinfo_msg(&ei));
        const vt_model_info *mi = vt_model_get_info(m->claimed);
        m->model = m->claimed;
#ifdef VT_TEST_FAULTS
        if (fault_model && vt_worker_fault_needs_model(w->fault)) {
            if (vt_model_spec_load(fault_model, &m->model, &ei) != 0)
                die(w->log, "worker.model", "--fault-model: %s", vt_errinfo_msg(&ei));
            const vt_model_info *fi = vt_model_get_info(m->model);
            if (fi->vocab != mi->vocab || fi->dim != mi->dim || fi->n_layers != mi->n_layers)
                die(w->log, "worker.model", "%s", "--fault-model must have the same shape");
        }
#endif
        memcpy(m->sha256, mi->sha256, 32);
        snprintf(m->name, sizeof m->name, "%s", mi->name[0] ? mi->name : "model");
        m->vocab = mi->vocab;
        vt_runner_params rp;
        vt_runner_params_default(&rp);
        rp.slots = w->slots;
        rp.n_threads = w->threads;
        rp.backend = backend;
        rv = vt_runner_create(m->model, &rp, &m->runner, &ei);
        if (rv)
            die(w->log, "worker.engine", "engine: %s", vt_errinfo_msg(&ei));
        char hex[65];
        vt_hex(m->sha256, 32, hex);
        vt_log_info(w->log, "worker.model", "name=%s sha256=%s params=%llu engine=\"%s\"", m->name,
                    hex, (unsigned long long)mi->n_params, vt_runner_describe(m->runner));
        if (i == 0)
            snprintf(w->device_desc, sizeof w->device_desc, "%s", vt_runner_describe(m->runner));
    }
    if (identity) {
        wk_model *m = &w->models[w->n_models - 1];
        m->identity = 1;
        vt_identity_hash(m->sha256);
        snprintf(m->name, sizeof m->name, "%s", VT_IDENTITY_NAME);
        if (!models.n)
            snprintf(w->device_desc, sizeof w->device_desc, "identity");
        char hex[65];
        vt_hex(m->sha256, 32, hex);
        vt_log_info(w->log, "worker.model", "name=identity sha256=%s (benchmark mode)", hex);
    }

    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv_main, NULL);
    pthread_cond_init(&w->cv_fetch, NULL);
    pthread_cond_init(&w->cv_send, NULL);
    if (setup_metrics(w, &ei) != 0)
        die(w->log, "worker.metrics", "%s", vt_errinfo_msg(&ei));
    vt_http *http = NULL;
    vt_http_config hc = {.addr = common.http, .metrics = w->metrics, .ready = ready_fn,
                         .ready_arg = w, .log = w->log};
    if (vt_http_start(&http, &hc, &ei) != 0)
        die(w->log, "worker.http", "--http: %s", vt_errinfo_msg(&ei));

    vt_node_session *ns = &w->ns;
    ns->url = sched;
    ns->recv_max = w->recv_max;
    ns->kp = &w->kp;
    ns->role = VT_HELLO_WORKER;
    for (int i = 0; i < w->n_models && i < (int)VT_PROTO_MAX_MODELS; i++) {
        memcpy(w->refs[i].sha256, w->models[i].sha256, 32);
        w->refs[i].name = w->models[i].name;
        ns->n_models++;
    }
    ns->models = w->refs;
    ns->device = w->device_desc;
    ns->slots = (uint32_t)w->slots;
    ns->heartbeat_ms = w->heartbeat_ms;
    ns->log = w->log;
    ns->sig = w->sig;
    ns->err_heartbeat = w->m_err_heartbeat;
    ns->mu = &w->mu;
    ns->collect = wk_collect_leases;
    ns->cancel = wk_cancel_leases;
    ns->arg = w;
    pthread_t th_fetch, th_send, th_hb;
    pthread_create(&th_send, NULL, wk_sender_main, w);
    pthread_create(&th_hb, NULL, vt_node_keeper_main, ns);
    pthread_create(&th_fetch, NULL, wk_fetcher_main, w);
    vt_log_info(w->log, "worker.started", "scheduler=%s slots=%d threads=%d models=%d", sched,
                w->slots, w->threads, w->n_models);

    wk_engine_loop(w);

    /* the engine is drained: stop fetching, flush results, stop the rest */
    atomic_store(&w->ns.stopping, true);
    pthread_join(th_fetch, NULL);
    uint64_t flush_until = vt_mono_ms() + 5000;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        int left = w->n_out;
        pthread_mutex_unlock(&w->mu);
        if (left == 0 || vt_mono_ms() >= flush_until)
            break;
        vt_sleep_ms(20);
    }
    atomic_store(&w->ns.quit, true);
    pthread_cond_broadcast(&w->cv_send);
    pthread_join(th_send, NULL);
    vt_node_session_abort(&w->ns); /* a hello stuck on a dead scheduler */
    pthread_join(th_hb, NULL);
    vt_http_stop(http);
    vt_log_info(w->log, "worker.stopped", "unsent=%d", w->n_out);

    for (int i = 0; i < w->n_jobs; i++)
        wk_job_free(w->jobs[i]);
    free(w->jobs);
    for (int i = 0; i < w->n_out; i++)
        wk_res_free(w->out[i]);
    free(w->out);
    for (int i = 0; i < w->n_models; i++) {
        vt_runner_free(w->models[i].runner);
        if (w->models[i].model != w->models[i].claimed)
            vt_model_free(w->models[i].model);
        vt_model_free(w->models[i].claimed);
    }
    free(w->models);
    vt_metrics_free(w->metrics);
    vt_key_wipe(&w->kp);
    vt_config_free(opts);
    vt_signals_stop(w->sig);
    vt_log_close(w->log);
    return 0;
}
