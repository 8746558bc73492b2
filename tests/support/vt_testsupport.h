/* vt_testsupport.h - helpers for tests that start real processes
 * (library vt_testsupport; link it and include this and vt_test.h).
 *
 * CONVENTIONS
 * - Binaries: CMake gives every target linking vt_testsupport the compile
 *   definitions VT_BIN_DIR="<build>/bin" and VT_SOURCE_DIR="<repo root>".
 *   vt_ts_bin("verity-scheduler", buf, sz) builds the path; the environment
 *   variable VT_BIN_DIR, when set, overrides the compiled-in directory (to
 *   test installed binaries). vt_ts_src("tests/data/x", ...) likewise.
 * - Temp dir: vt_ts_tmpdir() creates one directory per test process
 *   ($TMPDIR or /tmp, "vt-test-XXXXXX") on first use and removes it
 *   recursively at exit, unless VT_KEEP_TMP=1 (then its path is printed).
 *   Daemon logs, redis data, key files: put everything there.
 * - Processes: vt_proc_spawn() forks+execs a binary with extra environment,
 *   stdout+stderr going to <tmpdir>/<name>.log. Children get
 *   PR_SET_PDEATHSIG=SIGKILL, and every process still running at exit is
 *   SIGKILLed, so a crashing test leaves no daemons behind. (PDEATHSIG
 *   fires when the spawning THREAD ends: spawn from main or from a thread
 *   that outlives the child.) A vt_proc is for one thread at a time.
 *   Children start with an empty signal mask and SIGPIPE at default.
 * - Ports: vt_ts_free_port() returns an unused loopback port below the
 *   kernel's ephemeral range, so no outgoing connection can take it while
 *   a test restarts the daemon that listens on it; two tests picking the
 *   same port at once is the remaining (tiny) race.
 * - Nothing here asserts: functions return 0 / vt_err codes or bools, the
 *   test decides (VT_REQUIRE_OK(vt_ts_redis_start(&rs)) ...).
 *
 * Typical integration test:
 *   vt_ts_redis rs;
 *   VT_REQUIRE_OK(vt_ts_redis_start(&rs));             // rs.url = "redis://127.0.0.1:P"
 *   char bin[512], http[64];
 *   snprintf(http, sizeof http, "127.0.0.1:%d", vt_ts_free_port());
 *   const char *argv[] = {"--http", http, "--redis", rs.url, NULL};
 *   const char *env[] = {"VERITY_LOG_LEVEL=debug", NULL};
 *   vt_proc *p = vt_proc_spawn("scheduler", vt_ts_bin("verity-scheduler", bin, sizeof bin), argv, env);
 *   VT_REQUIRE(p && vt_ts_wait_ready(http, 10000) == 0, "scheduler not ready");
 *   ...
 *   VT_CHECK_EQ_INT(vt_proc_stop(p, 5000), 0);        // SIGTERM, exit status 0
 *   vt_proc_free(p);
 *   vt_ts_redis_stop(&rs);
 *   return vt_test_done();
 */
#ifndef VT_TESTSUPPORT_H
#define VT_TESTSUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vt_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- paths ------------------------------------------------------------- */

/* Per-process temp dir (created on first call; aborts the test if it
 * cannot be created). */
const char *vt_ts_tmpdir(void);
/* "<tmpdir>/<name>" into buf; returns buf. */
char *vt_ts_path(const char *name, char *buf, size_t bufsz);
/* "<bin dir>/<name>" into buf; returns buf. */
char *vt_ts_bin(const char *name, char *buf, size_t bufsz);
/* "<source dir>/<rel>" into buf; returns buf. */
char *vt_ts_src(const char *rel, char *buf, size_t bufsz);
/* Write a whole file (0 or VT_ERR_IO); mode e.g. 0600. */
int vt_ts_write_file(const char *path, const void *data, size_t n, int mode);
/* Read a whole file (NUL-terminated, malloc'd, free() it), NULL on error. */
char *vt_ts_read_file(const char *path, size_t *n);

/* ---- ports, time ------------------------------------------------------- */

int vt_ts_free_port(void);          /* > 0, or aborts the test */
/* Poll pred(arg) every 10 ms (first call immediately) until it returns true
 * (-> true) or timeout_ms passes (-> false). */
bool vt_ts_wait_until(int timeout_ms, bool (*pred)(void *arg), void *arg);
/* True once a TCP connect to 127.0.0.1:port succeeds within timeout_ms. */
bool vt_ts_wait_port(int port, int timeout_ms);
/* One vt_sp_req_call (vt_sp.h) whose reply is copied into out as a string
 * (truncated to cap - 1; "" on failure). Returns the call's result. */
struct vt_sp_req;
int vt_ts_sp_call(struct vt_sp_req *r, const void *body, size_t len, int timeout_ms, char *out,
                  size_t cap);
/* A raw blocking connection to an ipc:// or tcp:// address (5 s receive
 * timeout), to speak or garble the SP wire by hand; -1 on failure. */
int vt_ts_sp_connect(const char *url);

/* ---- processes --------------------------------------------------------- */

typedef struct vt_proc vt_proc;

/* Start path with argv (NULL-terminated, WITHOUT argv[0]; may be NULL) and
 * env (NULL-terminated "K=V" entries added to / overriding this process's
 * environment; may be NULL). name: used for the log file <tmpdir>/<name>.log
 * (appended to if it exists, e.g. after a restart) and in messages.
 * Returns NULL (with a message on stderr) if fork/exec set-up failed; an
 * exec failure shows up as exit status 127 with the reason in the log. */
vt_proc *vt_proc_spawn(const char *name, const char *path,
                       const char *const argv[], const char *const env[]);
int vt_proc_pid(const vt_proc *p);
const char *vt_proc_log(const vt_proc *p); /* log file path */
int vt_proc_log_count(const vt_proc *p, const char *s); /* occurrences of s in its log */
bool vt_proc_alive(vt_proc *p);            /* reaps if it exited */
int vt_proc_kill(vt_proc *p, int sig);     /* 0 or VT_ERR_INVAL (not running) */
/* Wait for exit up to timeout_ms (negative: forever). Returns 0 and sets
 * *exit_code (may be NULL): the exit status, or 128+signal if killed.
 * VT_ERR_TIMEOUT if still running. */
int vt_proc_wait(vt_proc *p, int timeout_ms, int *exit_code);
/* SIGTERM, wait up to timeout_ms, then SIGKILL. Returns the exit code as in
 * vt_proc_wait, or -1 if SIGKILL was needed. Prints the log tail to stderr
 * if the exit code is not 0. */
int vt_proc_stop(vt_proc *p, int timeout_ms);
/* Print the last `lines` lines of the log to stderr (call on failure). */
void vt_proc_tail(const vt_proc *p, int lines);
/* SIGKILL if still running, reap, free. NULL is fine. */
void vt_proc_free(vt_proc *p);
/* Run the program `bin` (found as vt_ts_bin does) with argv and env (as
 * vt_proc_spawn) to completion, up to timeout_ms. Returns its exit code,
 * or -1 if it could not start or did not exit in time (then killed, its
 * log tail printed). *out gets everything it printed (malloc'd, never
 * NULL). Each run logs to its own file, <bin>-<n>.log. */
int vt_proc_run(const char *bin, const char *const argv[], const char *const env[],
                int timeout_ms, char **out);

/* A test that hangs is killed by ctest without a word. vt_ts_watchdog(s)
 * starts a thread that, if the test is still running after s seconds,
 * prints what every thread of the test and of each live vt_proc is
 * waiting in (/proc/<pid>/task/<tid>/{comm,wchan,stat}), their stacks when
 * gdb is installed and may attach, and each daemon's log tail, then kills
 * the daemons and exits 1. Under ctest it arms itself at the first
 * vt_proc_spawn, shortly before the test's TIMEOUT (vt_add_c_test passes
 * it as VT_TEST_TIMEOUT_S); call it for a shorter limit. */
void vt_ts_watchdog(int seconds);

/* ---- redis-server ------------------------------------------------------ */

typedef struct vt_ts_redis {
    vt_proc *proc;
    int port;
    char dir[512];  /* data dir (AOF), kept across restarts */
    char url[64];   /* "redis://127.0.0.1:<port>" */
    char name[32];  /* process/log name */
} vt_ts_redis;

/* Start `redis-server --port P --bind 127.0.0.1 --save '' --appendonly yes
 * --appendfsync always --dir <tmpdir>/redis-N --daemonize no` on a free
 * port and wait (up to 10 s) until it answers PING. redis-server is looked
 * up on PATH (override with env VT_REDIS_SERVER). VT_ERR_UNSUPPORTED if it
 * is not installed (tests may then vt_test_skip). */
int vt_ts_redis_start(vt_ts_redis *r);
/* Kill with sig (SIGKILL: crash; SIGTERM: clean shutdown) and reap. */
int vt_ts_redis_kill(vt_ts_redis *r, int sig);
/* Start again on the same port and dir (after kill); waits for PING. */
int vt_ts_redis_restart(vt_ts_redis *r);
/* SIGTERM, reap, free the process (the dir goes with the tmpdir). */
void vt_ts_redis_stop(vt_ts_redis *r);
/* True if PING on 127.0.0.1:port gets +PONG within timeout_ms. */
bool vt_ts_redis_ping(int port, int timeout_ms);

/* ---- HTTP -------------------------------------------------------------- */

/* GET http://<hostport><path> (HTTP/1.1, Connection: close) with a deadline.
 * Returns 0 with *status and *body (malloc'd, NUL-terminated; free() it;
 * body may be NULL to discard), VT_ERR_UNAVAILABLE (connect failed),
 * VT_ERR_TIMEOUT, VT_ERR_PROTO (not an HTTP response). */
int vt_ts_http_get(const char *hostport, const char *path, int timeout_ms,
                   int *status, char **body);
/* Poll GET /readyz until 200. 0 or VT_ERR_TIMEOUT. */
int vt_ts_wait_ready(const char *hostport, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
