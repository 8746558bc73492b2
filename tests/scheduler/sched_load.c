/* sched_load.c - manual load driver for the scheduler alone (NOT a ctest
 * test: no timing is asserted anywhere; `verity-bench load` is the
 * benchmark of record). Starts redis, verity-scheduler, W real
 * `verity-worker --identity` and V `verity-verifier --identity`, then T
 * agent threads each keep one job in flight (submit, wait) for S seconds
 * and print jobs/s and latency percentiles.
 *
 *   sched_load [threads=64] [seconds=5] [workers=2] [verifiers=1] [verify=full:1]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "sched_harness.h"
#include "vt_clock.h"
#include "vt_test.h"

#define IDENTITY_HEX "5a4b1cfe4e0d0d6ac5855717cc23c738cf1d3c9812a5e9bdc52c8baa7c77d14c"
#define MAXLAT 4000000

typedef struct load {
    sh_env *e;
    atomic_bool stop;
    atomic_uint_fast64_t done, failed;
    uint32_t *lat_us;
    atomic_uint_fast64_t n_lat;
    const char *verify;
} load;

static void *agent_main(void *arg)
{
    load *L = arg;
    vt_client *a = sh_agent(L->e, L->e->key_a);
    int32_t toks[16];
    vt_job_spec s;
    sh_spec(&s, toks, 16);
    s.model = IDENTITY_HEX;
    s.verify = L->verify;
    while (!atomic_load(&L->stop)) {
        vt_job_spec_new_token(&s);
        char id[VT_JOB_ID_MAX + 1];
        vt_errinfo ei = {0};
        uint64_t t0 = vt_mono_us();
        uint32_t retry = 0;
        int rv = vt_client_submit(a, &s, id, &retry, &ei);
        if (rv) {
            atomic_fetch_add(&L->failed, 1);
            vt_sleep_ms(retry ? retry : 10);
            continue;
        }
        vt_job_result res;
        rv = vt_client_wait(a, id, 30000, &res, &ei);
        if (rv == 0 && res.r.state == VT_JOB_VERIFIED) {
            atomic_fetch_add(&L->done, 1);
            uint64_t k = atomic_fetch_add(&L->n_lat, 1);
            if (k < MAXLAT)
                L->lat_us[k] = (uint32_t)(vt_mono_us() - t0);
        } else {
            atomic_fetch_add(&L->failed, 1);
        }
        vt_job_result_free(&res);
    }
    vt_client_close(a);
    return NULL;
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 64;
    int seconds = argc > 2 ? atoi(argv[2]) : 5;
    int workers = argc > 3 ? atoi(argv[3]) : 2;
    int verifiers = argc > 4 ? atoi(argv[4]) : 1;
    static const char *const args[] = {"--log-level", "warn", "--queue-max", "100000", NULL};
    sh_env e;
    sh_setup(&e, args);
    memset(e.model, 0, sizeof e.model); /* in-test verifiers serve the identity model */
    vt_hex_decode(IDENTITY_HEX, 64, e.model, 32);
    char bin[512], http[16][64];
    vt_proc *nodes[16];
    int nn = 0;
    for (int i = 0; i < workers + (verifiers > 0 ? verifiers : 0) && nn < 16; i++, nn++) {
        bool ver = i >= workers;
        snprintf(http[nn], sizeof http[nn], "127.0.0.1:%d", vt_ts_free_port());
        const char *wargv[] = {"--identity", "--scheduler", ver ? e.verifier_url : e.worker_url,
                               "--key", ver ? e.verifier_key_path : e.worker_key_path, "--http",
                               http[nn], "--slots", "64", "--batch", "64", "--log-level", "warn",
                               NULL};
        if (!ver) { /* the worker has no --batch */
            wargv[9] = NULL;
        } else {
            wargv[7] = "--batch"; wargv[8] = "64"; wargv[9] = NULL;
        }
        char name[32];
        snprintf(name, sizeof name, "%s%d", ver ? "verifier" : "worker", i);
        nodes[nn] = vt_proc_spawn(name, vt_ts_bin(ver ? "verity-verifier" : "verity-worker", bin,
                                                  sizeof bin), wargv, NULL);
        VT_REQUIRE(nodes[nn] && vt_ts_wait_ready(http[nn], 15000) == 0, "%s ready", name);
    }
    /* verifiers < 0: |verifiers| in-test verifiers (pass everything) instead
     * of verity-verifier processes. */
    sh_runner *fakev[8] = {0};
    for (int i = 0; i < -verifiers && i < 8; i++)
        fakev[i] = sh_runner_start(&e, NULL, i ? &e.verifier2_kp : &e.verifier_kp);
    load L = {.e = &e, .verify = argc > 5 ? argv[5] : NULL};
    L.lat_us = calloc(MAXLAT, sizeof(uint32_t));
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, agent_main, &L);
    vt_sleep_ms(1000); /* warm-up */
    uint64_t d0 = atomic_load(&L.done);
    atomic_store(&L.n_lat, 0);
    uint64_t t0 = vt_mono_us();
    /* CPU seconds used by the scheduler and redis-server */
    int spid = vt_proc_pid(e.sched), rpid = vt_proc_pid(e.rs.proc);
    double c0 = vt_bench_proc_cpu(spid), r0 = vt_bench_proc_cpu(rpid);
    vt_sleep_ms((uint64_t)seconds * 1000);
    double c1 = vt_bench_proc_cpu(spid), r1 = vt_bench_proc_cpu(rpid);
    uint64_t d1 = atomic_load(&L.done);
    uint64_t nlat = atomic_load(&L.n_lat);
    double dt = (double)(vt_mono_us() - t0) / 1e6;
    atomic_store(&L.stop, true);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    if (nlat > MAXLAT)
        nlat = MAXLAT;
    qsort(L.lat_us, nlat, sizeof(uint32_t), cmp_u32);
    printf("threads=%d workers=%d verifiers=%d verify=%s: %.0f jobs/s verified, failed=%llu, "
           "latency p50=%.2fms p99=%.2fms max=%.2fms\n",
           threads, workers, verifiers, L.verify ? L.verify : "full:1", (double)(d1 - d0) / dt,
           (unsigned long long)atomic_load(&L.failed),
           nlat ? L.lat_us[nlat / 2] / 1000.0 : 0, nlat ? L.lat_us[nlat * 99 / 100] / 1000.0 : 0,
           nlat ? L.lat_us[nlat - 1] / 1000.0 : 0);
    if (d1 > d0)
        printf("cpu per job: scheduler %.1f us, redis %.1f us\n", (c1 - c0) * 1e6 / (double)(d1 - d0),
               (r1 - r0) * 1e6 / (double)(d1 - d0));
    double bs = sh_metric(&e, "verity_scheduler_journal_batch_items_sum");
    double bc = sh_metric(&e, "verity_scheduler_journal_batch_items_count");
    if (bc > 0)
        printf("journal: %.0f turns, %.1f items per turn\n", bc, bs / bc);
    for (int i = 0; i < 8; i++)
        sh_runner_stop(fakev[i]);
    for (int i = 0; i < nn; i++) {
        vt_proc_stop(nodes[i], 10000);
        vt_proc_free(nodes[i]);
    }
    sh_teardown(&e);
    free(th);
    free(L.lat_us);
    return 0;
}
