/* test_daemon_cli.c - start-up contract of verity-worker and
 * verity-verifier without a scheduler: bad input exits 2 with one clear
 * line; a good configuration serves /healthz, is not ready (not
 * registered), says once that it falls back to the CPU when there is no
 * GPU, and exits 0 on SIGTERM even while it cannot reach the scheduler. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_protocol.h"
#include "vt_testsupport.h"
#include "fixture.h"
#include "vt_clock.h"
#include "vt_engine.h"
#include "vt_test.h"

/* Run bin to completion; its exit code. Its output must mention want. */
static int run_exit(const char *bin, const char *const *argv, const char *want)
{
    char *log;
    int code = vt_proc_run(bin, argv, NULL, 20000, &log);
    VT_CHECK(strstr(log, want) != NULL, "%s: output lacks \"%s\": %s", bin, want, log);
    free(log);
    return code;
}

static int count_lines(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

int main(void)
{
    VT_REQUIRE_OK(vt_protocol_init());
    char mpath[512], key[512], spec[700];
    vt_model *m = fx_tiny_model("tiny.gguf", VT_DTYPE_F32, 3, mpath, sizeof mpath);
    char hex[65];
    vt_hex(vt_model_get_info(m)->sha256, 32, hex);
    vt_model_free(m);
    vt_keypair kp;
    vt_errinfo ei = {0};
    VT_REQUIRE_OK(vt_key_generate(&kp));
    vt_ts_path("node.key", key, sizeof key);
    VT_REQUIRE_OK(vt_key_save(key, &kp, true, &ei));
    char nowhere[64];
    snprintf(nowhere, sizeof nowhere, "tcp://127.0.0.1:%d", vt_ts_free_port());
    const char *bins[2] = {"verity-worker", "verity-verifier"};

    for (int b = 0; b < 2; b++) {
        char name[64];
        /* a pinned hash that does not match */
        snprintf(spec, sizeof spec, "%s@%064d", mpath, 0);
        const char *a1[] = {"--model", spec, "--key", key, "--http", "off", "--scheduler",
                            nowhere, NULL};
        VT_CHECK_EQ_INT(run_exit(bins[b], a1, hex), 2);
        /* nothing to serve */
        const char *a2[] = {"--key", key, "--http", "off", NULL};
        VT_CHECK_EQ_INT(run_exit(bins[b], a2, "--identity"), 2);
        /* not a key file */
        const char *a3[] = {"--model", mpath, "--key", mpath, "--http", "off", NULL};
        VT_CHECK_EQ_INT(run_exit(bins[b], a3, "--key"), 2);
        /* an unknown flag value */
        const char *a4[] = {"--model", mpath, "--key", key, "--threads", "zero", NULL};
        VT_CHECK_EQ_INT(run_exit(bins[b], a4, "--threads"), 2);

        /* a good configuration, no scheduler */
        snprintf(spec, sizeof spec, "%s@%s", mpath, hex);
        char http[64];
        snprintf(http, sizeof http, "127.0.0.1:%d", vt_ts_free_port());
        const char *a5[] = {"--model", spec, "--key", key, "--http", http, "--scheduler", nowhere,
                            "--threads", "1", NULL};
        char path[512];
        snprintf(name, sizeof name, "%s-serving", bins[b]);
        vt_proc *p = vt_proc_spawn(name, vt_ts_bin(bins[b], path, sizeof path), a5, NULL);
        VT_REQUIRE(p != NULL, "spawn");
        VT_CHECK(vt_ts_wait_port(atoi(strchr(http, ':') + 1), 10000), "%s: no HTTP", bins[b]);
        int status = 0;
        VT_CHECK_OK(vt_ts_http_get(http, "/healthz", 3000, &status, NULL));
        VT_CHECK_EQ_INT(status, 200);
        VT_CHECK_OK(vt_ts_http_get(http, "/readyz", 3000, &status, NULL));
        VT_CHECK_EQ_INT(status, 503);
        char *body = NULL;
        VT_CHECK_OK(vt_ts_http_get(http, "/metrics", 3000, &status, &body));
        VT_CHECK(body && strstr(body, b == 0 ? "verity_worker_slots_busy" : "verity_verifier_verdicts_total"),
                 "%s metrics", bins[b]);
        free(body);
        vt_sleep_ms(300); /* let it try the scheduler a few times */
        uint64_t t0 = vt_mono_ms();
        int code = vt_proc_stop(p, 10000);
        VT_CHECK_EQ_INT(code, 0);
        VT_CHECK(vt_mono_ms() - t0 < 5000, "%s took %llu ms to stop", bins[b],
                 (unsigned long long)(vt_mono_ms() - t0));
        char *log = vt_ts_read_file(vt_proc_log(p), NULL);
        if (b == 0 && vt_cuda_device_count() == 0)
            VT_CHECK(log && count_lines(log, "no CUDA device found") == 1,
                     "worker must say once that it uses the CPU: %s", log ? log : "");
        free(log);
        vt_proc_free(p);
    }
    return vt_test_done();
}
