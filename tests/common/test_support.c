/* test_support.c - the test-support library itself: processes, logs,
 * exit codes, temp files, redis restart with AOF, HTTP errors. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vt_clock.h"
#include "vt_test.h"
#include "vt_testsupport.h"

int main(void)
{
    const char *tmp = vt_ts_tmpdir();
    VT_CHECK(tmp && strstr(tmp, "vt-test-") != NULL, "tmpdir %s", tmp ? tmp : "(null)");
    VT_CHECK(access(tmp, W_OK) == 0, "tmpdir writable");
    char bin[600];
    vt_ts_bin("verity-x", bin, sizeof(bin));
    VT_CHECK(strstr(bin, "/bin/verity-x") != NULL, "bin path %s", bin);

    /* A child writes to its log, sees our extra env, exits with a code. */
    const char *argv[] = {"-c", "echo out-$VT_X; echo err >&2; exit 3", NULL};
    const char *env[] = {"VT_X=42", NULL};
    vt_proc *p = vt_proc_spawn("sh1", "/bin/sh", argv, env);
    VT_REQUIRE(p != NULL, "spawn");
    int code = -1;
    VT_CHECK_OK(vt_proc_wait(p, 10000, &code));
    VT_CHECK_EQ_INT(code, 3);
    char *log = vt_ts_read_file(vt_proc_log(p), NULL);
    VT_CHECK(log && strstr(log, "out-42\n") && strstr(log, "err\n"), "log: %s", log ? log : "(none)");
    free(log);
    vt_proc_free(p);

    /* SIGTERM handling and the timeout path. */
    const char *sleeper[] = {"-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done", NULL};
    p = vt_proc_spawn("sh2", "/bin/sh", sleeper, NULL);
    VT_REQUIRE(p != NULL, "spawn");
    VT_CHECK(vt_proc_alive(p), "alive");
    VT_CHECK_ERR(vt_proc_wait(p, 50, &code), VT_ERR_TIMEOUT);
    vt_sleep_ms(100); /* let the shell install its trap */
    VT_CHECK_EQ_INT(vt_proc_stop(p, 5000), 0);
    VT_CHECK(!vt_proc_alive(p), "gone");
    VT_CHECK_ERR(vt_proc_kill(p, SIGTERM), VT_ERR_INVAL);
    vt_proc_free(p);

    p = vt_proc_spawn("sh3", "/bin/sh", (const char *[]){"-c", "sleep 30", NULL}, NULL);
    VT_REQUIRE(p != NULL, "spawn");
    VT_CHECK_OK(vt_proc_kill(p, SIGKILL));
    VT_CHECK_OK(vt_proc_wait(p, 5000, &code));
    VT_CHECK_EQ_INT(code, 128 + SIGKILL);
    vt_proc_free(p);

    /* exec failure shows as 127 with the reason in the log. */
    p = vt_proc_spawn("nope", "/nonexistent/binary", NULL, NULL);
    VT_REQUIRE(p != NULL, "spawn");
    VT_CHECK_OK(vt_proc_wait(p, 5000, &code));
    VT_CHECK_EQ_INT(code, 127);
    log = vt_ts_read_file(vt_proc_log(p), NULL);
    VT_CHECK(log && strstr(log, "exec failed"), "exec failure logged");
    free(log);
    vt_proc_free(p);

    /* HTTP to a closed port. */
    char addr[64];
    int port = vt_ts_free_port();
    VT_CHECK(port > 0 && port < 65536, "port %d", port);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    int status;
    VT_CHECK_ERR(vt_ts_http_get(addr, "/healthz", 500, &status, NULL), VT_ERR_UNAVAILABLE);
    VT_CHECK_ERR(vt_ts_wait_ready(addr, 100), VT_ERR_TIMEOUT);
    VT_CHECK(!vt_ts_wait_port(port, 50), "nothing listens");

    /* redis-server: data survives kill -9 thanks to appendfsync always. */
    vt_ts_redis rs;
    int rv = vt_ts_redis_start(&rs);
    if (rv == VT_ERR_UNSUPPORTED) {
        printf("redis-server not installed: redis part skipped\n");
        return vt_test_done();
    }
    VT_REQUIRE_OK(rv);
    VT_CHECK(vt_ts_redis_ping(rs.port, 1000), "ping");
    VT_CHECK(strncmp(rs.url, "redis://127.0.0.1:", 18) == 0, "url %s", rs.url);
    /* Write through a raw socket: support must not need hiredis. */
    p = vt_proc_spawn("redis-cli", "/usr/bin/redis-cli",
                      (const char *[]){"-p", strchr(rs.url + 8, ':') + 1, "SET", "persist", "yes", NULL}, NULL);
    if (p && vt_proc_wait(p, 5000, &code) == 0 && code == 0) {
        VT_CHECK_OK(vt_ts_redis_kill(&rs, SIGKILL));
        VT_CHECK(!vt_ts_redis_ping(rs.port, 200), "down after kill");
        VT_REQUIRE_OK(vt_ts_redis_restart(&rs));
        vt_proc_free(p);
        char portstr[16];
        snprintf(portstr, sizeof(portstr), "%d", rs.port);
        p = vt_proc_spawn("redis-cli2", "/usr/bin/redis-cli",
                          (const char *[]){"-p", portstr, "GET", "persist", NULL}, NULL);
        VT_REQUIRE(p != NULL, "spawn");
        VT_CHECK_OK(vt_proc_wait(p, 5000, &code));
        log = vt_ts_read_file(vt_proc_log(p), NULL);
        VT_CHECK(log && strstr(log, "yes"), "value survived kill -9: %s", log ? log : "");
        free(log);
    } else {
        printf("redis-cli not usable: persistence part skipped\n");
    }
    vt_proc_free(p);
    vt_ts_redis_stop(&rs);
    VT_CHECK(!vt_ts_redis_ping(rs.port, 200), "stopped");
    return vt_test_done();
}
