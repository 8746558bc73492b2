/* ts_redis.c - a private redis-server per test, on a free loopback port,
 * with its AOF in the test's temp dir. */
#include "vt_testsupport.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ts_internal.h"
#include "vt_clock.h"

static atomic_int redis_seq;

bool vt_ts_redis_ping(int port, int timeout_ms)
{
    int fd = ts_connect(port, timeout_ms);
    if (fd < 0)
        return false;
    bool ok = false;
    if (write(fd, "PING\r\n", 6) == 6) {
        char buf[64];
        size_t len = 0;
        uint64_t deadline = vt_mono_ms() + (uint64_t)timeout_ms;
        while (len < sizeof(buf) - 1 && !memchr(buf, '\n', len)) {
            uint64_t now = vt_mono_ms();
            struct pollfd pfd = {fd, POLLIN, 0};
            if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) != 1)
                break;
            ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);
            if (r <= 0)
                break;
            len += (size_t)r;
        }
        ok = len >= 5 && memcmp(buf, "+PONG", 5) == 0; /* "-LOADING" while replaying the AOF */
    }
    close(fd);
    return ok;
}

/* redis-server on PATH (or $VT_REDIS_SERVER) into buf. */
static bool find_redis(char *buf, size_t n)
{
    const char *env = getenv("VT_REDIS_SERVER");
    if (env && env[0]) {
        snprintf(buf, n, "%s", env);
        return access(buf, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof(dirs), "%s", path && path[0] ? path : "/usr/bin:/bin");
    dirs[sizeof(dirs) - 1] = '\0';
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(buf, n, "%s/redis-server", d);
        if (access(buf, X_OK) == 0)
            return true;
    }
    for (const char *d = "/usr/bin/redis-server"; d; d = NULL) {
        snprintf(buf, n, "%s", d);
        if (access(buf, X_OK) == 0)
            return true;
    }
    return false;
}

static int launch(vt_ts_redis *r)
{
    char exe[512], port[16];
    if (!find_redis(exe, sizeof(exe)))
        return VT_ERR_UNSUPPORTED;
    snprintf(port, sizeof(port), "%d", r->port);
    const char *argv[] = {"--port", port, "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "yes", "--appendfsync", "always",
                          "--dir", r->dir, "--daemonize", "no", NULL};
    r->proc = vt_proc_spawn(r->name, exe, argv, NULL);
    if (!r->proc)
        return VT_ERR_IO;
    uint64_t deadline = vt_mono_ms() + 10000;
    while (vt_mono_ms() < deadline) {
        if (!vt_proc_alive(r->proc)) {
            fprintf(stderr, "redis-server on port %d exited at start\n", r->port);
            vt_proc_tail(r->proc, 20);
            vt_proc_free(r->proc);
            r->proc = NULL;
            return VT_ERR_UNAVAILABLE;
        }
        if (vt_ts_redis_ping(r->port, 500))
            return 0;
        vt_sleep_ms(10);
    }
    fprintf(stderr, "redis-server on port %d: no PONG within 10 s\n", r->port);
    vt_proc_tail(r->proc, 20);
    vt_proc_free(r->proc);
    r->proc = NULL;
    return VT_ERR_TIMEOUT;
}

int vt_ts_redis_start(vt_ts_redis *r)
{
    memset(r, 0, sizeof(*r));
    int seq = atomic_fetch_add(&redis_seq, 1);
    snprintf(r->name, sizeof(r->name), "redis-%d", seq);
    snprintf(r->dir, sizeof(r->dir), "%s/%s", vt_ts_tmpdir(), r->name);
    if (mkdir(r->dir, 0700) != 0 && errno != EEXIST)
        return VT_ERR_IO;
    int rv = VT_ERR_UNAVAILABLE;
    /* A port picked free can be taken by another test before redis binds
     * it: try a few. */
    for (int attempt = 0; attempt < 3 && rv == VT_ERR_UNAVAILABLE; attempt++) {
        r->port = vt_ts_free_port();
        rv = launch(r);
    }
    if (rv == 0)
        snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%d", r->port);
    return rv;
}

int vt_ts_redis_kill(vt_ts_redis *r, int sig)
{
    if (!r->proc)
        return VT_ERR_INVAL;
    vt_proc_kill(r->proc, sig);
    int rv = vt_proc_wait(r->proc, 10000, NULL);
    if (rv != 0) {
        vt_proc_kill(r->proc, SIGKILL);
        vt_proc_wait(r->proc, -1, NULL);
    }
    vt_proc_free(r->proc);
    r->proc = NULL;
    return rv;
}

int vt_ts_redis_restart(vt_ts_redis *r)
{
    if (r->proc)
        vt_ts_redis_kill(r, SIGKILL);
    return launch(r);
}

void vt_ts_redis_stop(vt_ts_redis *r)
{
    if (r->proc)
        vt_ts_redis_kill(r, SIGTERM);
}
