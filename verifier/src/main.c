/* main.c - verity-verifier: flags, models, key, threads, shutdown. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_clock.h"
#include "vf.h"

static const char *const isa_choices[] = {"native", "scalar", NULL};
#ifdef VT_TEST_FAULTS
static const char *const fault_choices[] = {"none", "always_pass", "always_fail", NULL};
#endif

static bool ready_fn(void *arg, char *why, size_t whysz)
{
    vf *v = arg;
    if (atomic_load(&v->ns.stopping)) {
        snprintf(why, whysz, "shutting down");
        return false;
    }
    if (!atomic_load(&v->ns.registered)) {
        snprintf(why, whysz, "not registered with the scheduler");
        return false;
    }
    if (atomic_load(&v->ns.need_hello)) {
        snprintf(why, whysz, "the scheduler forgot our session; registering again");
        return false;
    }
    return true;
}

static int setup_metrics(vf *v, vt_errinfo *ei)
{
    static const double batch_b[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
    static const double sec_b[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60};
    int rv = vt_metrics_new(&v->metrics);
    if (rv)
        return rv;
    vt_metrics *m = v->metrics;
    const char *vt = "verity_verifier_verdicts_total", *vh = "verdicts produced";
    const char *et = "verity_verifier_errors_total", *eh = "failed calls to the scheduler";
    const char *ft = "verity_verifier_faults_total", *fh = "failed verdicts by fault";
    if ((rv = vt_metrics_counter(m, vt, vh, "result=\"pass\"", &v->m_pass, ei)) ||
        (rv = vt_metrics_counter(m, vt, vh, "result=\"fail\"", &v->m_fail, ei)) ||
        (rv = vt_metrics_counter(m, et, eh, "call=\"vfetch\"", &v->m_err_fetch, ei)) ||
        (rv = vt_metrics_counter(m, et, eh, "call=\"verdicts\"", &v->m_err_send, ei)) ||
        (rv = vt_metrics_counter(m, et, eh, "call=\"heartbeat\"", &v->m_err_hb, ei)) ||
        (rv = vt_metrics_counter(m, "verity_verifier_verdict_batches_total",
                                 "signed verdict batches acked", NULL, &v->m_batches, ei)) ||
        (rv = vt_metrics_counter(m, "verity_verifier_tokens_total", "tokens replayed", NULL,
                                 &v->m_tokens, ei)) ||
        (rv = vt_metrics_histogram(m, "verity_verifier_batch_size", "replays per checker run",
                                   NULL, batch_b, sizeof batch_b / sizeof *batch_b, &v->m_batch,
                                   ei)) ||
        (rv = vt_metrics_histogram(m, "verity_verifier_embed_batch_size",
                                   "embed replays per shared embedding run", NULL, batch_b,
                                   sizeof batch_b / sizeof *batch_b, &v->m_embed_batch, ei)) ||
        (rv = vt_metrics_histogram(m, "verity_verifier_replay_seconds", "seconds per group",
                                   NULL, sec_b, sizeof sec_b / sizeof *sec_b, &v->m_replay_s, ei)))
        return rv;
    for (int f = 0; f < 5; f++) {
        char lab[64];
        snprintf(lab, sizeof lab, "fault=\"%s\"", vt_fault_name((vt_fault)f));
        if ((rv = vt_metrics_counter(m, ft, fh, lab, &v->m_fault[f], ei)) != 0)
            return rv;
    }
    return 0;
}

static void die(vt_log *log, const char *event, const char *fmt, const char *detail)
{
    fprintf(stderr, "verity-verifier: ");
    fprintf(stderr, fmt, detail);
    fprintf(stderr, "\n");
    vt_log_error(log, event, "detail=\"%s\"", detail);
    exit(2);
}

int main(int argc, char **argv)
{
    static vf V;
    vf *v = &V;
    vt_common_opts common;
    const char *sched = NULL, *key = NULL;
    vt_strlist models = {0};
    bool identity = false;
    int64_t threads = 0, batch = 8, heartbeat = 2000;
    int isa = 0;
#ifdef VT_TEST_FAULTS
    int fault = 0;
#endif
    vt_opt opts[] = {
        {.flag = "scheduler", .env = "VERITY_SCHEDULER", .type = VT_OPT_URL,
         .def = "tcp://127.0.0.1:7402", .help = "scheduler's verifier socket", .dest = &sched},
        {.flag = "model", .env = "VERITY_MODELS", .type = VT_OPT_LIST, .metavar = "PATH[@SHA256]",
         .help = "models it can replay (repeatable)", .dest = &models},
        {.flag = "identity", .env = "VERITY_IDENTITY", .type = VT_OPT_BOOL,
         .help = "also check results of the built-in identity model (benchmark mode)",
         .dest = &identity},
        {.flag = "threads", .env = "VERITY_THREADS", .type = VT_OPT_INT, .metavar = "N",
         .def_help = "number of CPUs", .min = 1, .max = 1024, .help = "engine threads",
         .dest = &threads},
        {.flag = "isa", .env = "VERITY_ISA", .type = VT_OPT_ENUM, .def = "native",
         .choices = isa_choices, .help = "kernel path (scalar gives identical verdicts)",
         .dest = &isa},
        {.flag = "batch", .env = "VERITY_BATCH", .type = VT_OPT_INT, .metavar = "N", .def = "8",
         .min = 1, .max = 256, .help = "replays per prefill batch", .dest = &batch},
        {.flag = "key", .env = "VERITY_KEY_FILE", .type = VT_OPT_FILE, .metavar = "FILE",
         .flags = VT_OPT_REQUIRED, .help = "node Ed25519 secret key", .dest = &key},
        VT_COMMON_OPTS(&common, "127.0.0.1:9402"),
        {.flag = "heartbeat-ms", .env = "VERITY_HEARTBEAT_MS", .type = VT_OPT_DURATION_MS,
         .metavar = "MS", .def = "2000", .min = 50, .max = 600000,
         .help = "interval of lease-extending heartbeats", .dest = &heartbeat},
#ifdef VT_TEST_FAULTS
        {.flag = "fault", .type = VT_OPT_ENUM, .def = "none", .choices = fault_choices,
         .help = "TEST BUILDS ONLY: give wrong verdicts on purpose", .dest = &fault},
#endif
        VT_OPT_END};
    vt_config_or_exit(opts, argc, argv, "verity-verifier",
                      "Verity verifier: replays workers' results bit-exactly and signs verdicts");
    if (models.n == 0 && !identity) {
        fprintf(stderr, "verity-verifier: no model to replay: give --model PATH[@SHA256] "
                        "(VERITY_MODELS) or --identity\n");
        return 2;
    }
    vt_errinfo ei = {0};
    if (vt_common_log_open(&common, "verifier", &v->log) != 0) {
        fprintf(stderr, "verity-verifier: cannot open the log\n");
        return 2;
    }
    v->batch = (int)batch;
    v->threads = threads > 0 ? (int)threads : vt_node_cpus();
    v->isa = isa;
    v->heartbeat_ms = heartbeat;
    v->recv_max = (size_t)common.recv_max;
#ifdef VT_TEST_FAULTS
    v->fault = fault;
    if (fault)
        vt_log_warn(v->log, "verifier.fault_mode", "fault=%s (test build)", fault_choices[fault]);
#endif
    if (vt_protocol_init() != 0)
        die(v->log, "verifier.crypto", "%s", "libsodium did not start");
    if (vt_key_load(key, &v->kp, &ei) != 0)
        die(v->log, "verifier.bad_key", "--key: %s", vt_errinfo_msg(&ei));
    if (vt_signals_start(&v->sig, &ei) != 0)
        die(v->log, "verifier.signals", "%s", vt_errinfo_msg(&ei));

    v->n_models = (int)models.n + (identity ? 1 : 0);
    v->models = calloc((size_t)v->n_models, sizeof *v->models);
    if (!v->models)
        die(v->log, "verifier.oom", "%s", "out of memory");
    snprintf(v->device_desc, sizeof v->device_desc, "identity");
    for (size_t i = 0; i < models.n; i++) {
        vf_model *m = &v->models[i];
        if (vt_model_spec_load(models.items[i], &m->model, &ei) != 0)
            die(v->log, "verifier.model", "--model: %s", vt_errinfo_msg(&ei));
        const vt_model_info *mi = vt_model_get_info(m->model);
        memcpy(m->sha256, mi->sha256, 32);
        snprintf(m->name, sizeof m->name, "%s", mi->name[0] ? mi->name : "model");
        vt_checker_params cp;
        vt_checker_params_default(&cp);
        cp.batch = v->batch;
        cp.n_threads = v->threads;
        cp.isa = isa == 1 ? VT_ISA_SCALAR : VT_ISA_NATIVE;
        /* replays run on the CPU: bit-identical to CUDA by the engine's
         * contract, and a verifier needs no GPU */
        cp.backend = VT_BACKEND_CPU;
        if (vt_checker_create(m->model, &cp, &m->checker, &ei) != 0)
            die(v->log, "verifier.engine", "engine: %s", vt_errinfo_msg(&ei));
        char hex[65];
        vt_hex(m->sha256, 32, hex);
        vt_log_info(v->log, "verifier.model", "name=%s sha256=%s engine=\"%s\"", m->name, hex,
                    vt_checker_describe(m->checker));
        if (i == 0)
            snprintf(v->device_desc, sizeof v->device_desc, "%s", vt_checker_describe(m->checker));
    }
    if (identity) {
        vf_model *m = &v->models[v->n_models - 1];
        m->identity = 1;
        vt_identity_hash(m->sha256);
        snprintf(m->name, sizeof m->name, "%s", VT_IDENTITY_NAME);
    }

    pthread_mutex_init(&v->mu, NULL);
    pthread_cond_init(&v->cv_main, NULL);
    pthread_cond_init(&v->cv_fetch, NULL);
    pthread_cond_init(&v->cv_send, NULL);
    if (setup_metrics(v, &ei) != 0)
        die(v->log, "verifier.metrics", "%s", vt_errinfo_msg(&ei));
    vt_http *http = NULL;
    vt_http_config hc = {.addr = common.http, .metrics = v->metrics, .ready = ready_fn,
                         .ready_arg = v, .log = v->log};
    if (vt_http_start(&http, &hc, &ei) != 0)
        die(v->log, "verifier.http", "--http: %s", vt_errinfo_msg(&ei));

    vt_node_session *ns = &v->ns;
    ns->url = sched;
    ns->recv_max = v->recv_max;
    ns->kp = &v->kp;
    ns->role = VT_HELLO_VERIFIER;
    for (int i = 0; i < v->n_models && i < (int)VT_PROTO_MAX_MODELS; i++) {
        memcpy(v->refs[i].sha256, v->models[i].sha256, 32);
        v->refs[i].name = v->models[i].name;
        ns->n_models++;
    }
    ns->models = v->refs;
    ns->device = v->device_desc;
    ns->slots = (uint32_t)v->batch;
    ns->heartbeat_ms = v->heartbeat_ms;
    ns->log = v->log;
    ns->sig = v->sig;
    ns->err_heartbeat = v->m_err_hb;
    ns->mu = &v->mu;
    ns->collect = vf_collect_leases;
    ns->cancel = vf_cancel_leases;
    ns->arg = v;
    pthread_t th_fetch, th_send, th_hb;
    pthread_create(&th_send, NULL, vf_sender_main, v);
    pthread_create(&th_hb, NULL, vt_node_keeper_main, ns);
    pthread_create(&th_fetch, NULL, vf_fetcher_main, v);
    vt_log_info(v->log, "verifier.started", "scheduler=%s batch=%d threads=%d isa=%s", sched,
                v->batch, v->threads, isa_choices[isa]);

    vf_replay_loop(v); /* returns once the fetcher is done and every task checked */
    pthread_join(th_fetch, NULL);
    uint64_t until = vt_mono_ms() + 5000;
    for (;;) {
        pthread_mutex_lock(&v->mu);
        int left = v->n_out;
        pthread_mutex_unlock(&v->mu);
        if (left == 0 || vt_mono_ms() >= until)
            break;
        vt_sleep_ms(20);
    }
    atomic_store(&v->ns.quit, true);
    pthread_cond_broadcast(&v->cv_send);
    pthread_join(th_send, NULL);
    vt_node_session_abort(&v->ns); /* a hello stuck on a dead scheduler */
    pthread_join(th_hb, NULL);
    vt_http_stop(http);
    vt_log_info(v->log, "verifier.stopped", "unsent=%d", v->n_out);

    for (int i = 0; i < v->n_tasks; i++)
        vf_task_free(v->tasks[i]);
    free(v->tasks);
    for (int i = 0; i < v->n_out; i++)
        vf_out_free(v->out[i]);
    free(v->out);
    for (int i = 0; i < v->n_models; i++) {
        vt_checker_free(v->models[i].checker);
        vt_model_free(v->models[i].model);
    }
    free(v->models);
    vt_metrics_free(v->metrics);
    vt_key_wipe(&v->kp);
    vt_config_free(opts);
    vt_signals_stop(v->sig);
    vt_log_close(v->log);
    return 0;
}
