/* ts_proc.c - spawning, signalling and reaping child processes. fork+exec
 * rather than posix_spawn so that the child can ask for PR_SET_PDEATHSIG:
 * a test that crashes must not leave daemons running on the CI machine. */
#include "vt_testsupport.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ts_internal.h"
#include "vt_spawn.h"
#include "vt_clock.h"

extern char **environ;

struct vt_proc {
    struct vt_proc *next; /* all live procs, for the exit-time cleanup */
    pid_t pid;
    bool exited;
    int code;
    char name[64];
    char log[600];
};

static pthread_mutex_t procs_mu = PTHREAD_MUTEX_INITIALIZER;
static struct vt_proc *procs;

static void track(struct vt_proc *p)
{
    pthread_mutex_lock(&procs_mu);
    p->next = procs;
    procs = p;
    pthread_mutex_unlock(&procs_mu);
}

static void untrack(struct vt_proc *p)
{
    pthread_mutex_lock(&procs_mu);
    for (struct vt_proc **pp = &procs; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    pthread_mutex_unlock(&procs_mu);
}

void ts_kill_all(void)
{
    pthread_mutex_lock(&procs_mu);
    for (struct vt_proc *p = procs; p; p = p->next)
        if (!p->exited) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
            p->exited = true;
        }
    pthread_mutex_unlock(&procs_mu);
}

/* environ + overrides, as a malloc'd NULL-terminated array (strings not
 * copied: they outlive the fork/exec). */
static char **build_env(const char *const env[])
{
    size_t n = 0, m = 0;
    while (environ[n])
        n++;
    while (env && env[m])
        m++;
    char **out = calloc(n + m + 1, sizeof(char *));
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool overridden = false;
        for (size_t j = 0; j < m && !overridden; j++) {
            const char *eq = strchr(env[j], '=');
            size_t kl = eq ? (size_t)(eq - env[j]) : strlen(env[j]);
            overridden = strncmp(environ[i], env[j], kl) == 0 && environ[i][kl] == '=';
        }
        if (!overridden)
            out[k++] = environ[i];
    }
    for (size_t j = 0; j < m; j++)
        out[k++] = (char *)env[j];
    out[k] = NULL;
    return out;
}

static void arm_from_env(void);

vt_proc *vt_proc_spawn(const char *name, const char *path,
                       const char *const argv[], const char *const env[])
{
    static pthread_once_t armed = PTHREAD_ONCE_INIT;
    pthread_once(&armed, arm_from_env);
    struct vt_proc *p = calloc(1, sizeof(*p));
    size_t argc = 0;
    while (argv && argv[argc])
        argc++;
    char **args = calloc(argc + 2, sizeof(char *));
    char **envp = build_env(env);
    if (!p || !args || !envp) {
        fprintf(stderr, "vt_proc_spawn(%s): out of memory\n", name);
        goto fail;
    }
    snprintf(p->name, sizeof(p->name), "%s", name);
    snprintf(p->log, sizeof(p->log), "%s/%s.log", vt_ts_tmpdir(), name);
    args[0] = (char *)path;
    for (size_t i = 0; i < argc; i++)
        args[i + 1] = (char *)argv[i];

    pid_t pid;
    vt_errinfo ei = {0};
    if (vt_spawn_logged(path, args, envp, p->log, 0, &pid, &ei) != 0) {
        fprintf(stderr, "vt_proc_spawn(%s): %s\n", name, vt_errinfo_msg(&ei));
        goto fail;
    }
    p->pid = pid;
    free(args);
    free(envp);
    track(p);
    return p;
fail:
    free(args);
    free(envp);
    free(p);
    return NULL;
}

int vt_proc_pid(const vt_proc *p)
{
    return p ? (int)p->pid : -1;
}

const char *vt_proc_log(const vt_proc *p)
{
    return p ? p->log : "";
}

int vt_proc_log_count(const vt_proc *p, const char *s)
{
    char *log = vt_ts_read_file(vt_proc_log(p), NULL);
    int k = 0;
    for (const char *q = log; q && (q = strstr(q, s)) != NULL; q += strlen(s))
        k++;
    free(log);
    return k;
}

/* Reap if it has exited; true if it has. */
static bool reap(vt_proc *p, bool block)
{
    if (p->exited)
        return true;
    int st;
    pid_t r;
    do
        r = waitpid(p->pid, &st, block ? 0 : WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r != p->pid)
        return false;
    p->exited = true;
    p->code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255;
    return true;
}

bool vt_proc_alive(vt_proc *p)
{
    return p && !reap(p, false);
}

int vt_proc_kill(vt_proc *p, int sig)
{
    if (!vt_proc_alive(p))
        return VT_ERR_INVAL;
    return kill(p->pid, sig) == 0 ? 0 : VT_ERR_INVAL;
}

int vt_proc_wait(vt_proc *p, int timeout_ms, int *exit_code)
{
    if (!p)
        return VT_ERR_INVAL;
    if (timeout_ms < 0) {
        reap(p, true);
    } else {
        uint64_t deadline = vt_mono_ms() + (uint64_t)timeout_ms;
        while (!reap(p, false)) {
            if (vt_mono_ms() >= deadline)
                return VT_ERR_TIMEOUT;
            vt_sleep_ms(5);
        }
    }
    if (exit_code)
        *exit_code = p->code;
    return 0;
}

int vt_proc_stop(vt_proc *p, int timeout_ms)
{
    if (!p)
        return -1;
    int code;
    if (vt_proc_alive(p))
        kill(p->pid, SIGTERM);
    if (vt_proc_wait(p, timeout_ms, &code) != 0) {
        fprintf(stderr, "vt_proc_stop(%s): no exit %d ms after SIGTERM, killing\n", p->name, timeout_ms);
        kill(p->pid, SIGKILL);
        vt_proc_wait(p, -1, NULL);
        vt_proc_tail(p, 30);
        return -1;
    }
    if (code != 0) {
        fprintf(stderr, "vt_proc_stop(%s): exit code %d\n", p->name, code);
        vt_proc_tail(p, 30);
    }
    return code;
}

void vt_proc_tail(const vt_proc *p, int lines)
{
    if (!p)
        return;
    size_t n;
    char *text = vt_ts_read_file(p->log, &n);
    if (!text) {
        fprintf(stderr, "[%s] (no log at %s)\n", p->name, p->log);
        return;
    }
    size_t start = n;
    int seen = 0;
    while (start > 0) {
        if (text[start - 1] == '\n' && start != n && ++seen >= lines)
            break;
        start--;
    }
    fprintf(stderr, "---- last %d lines of %s ----\n", lines, p->log);
    char *line = text + start;
    while (*line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        fprintf(stderr, "[%s] %s\n", p->name, line);
        if (!nl)
            break;
        line = nl + 1;
    }
    free(text);
}

void vt_proc_free(vt_proc *p)
{
    if (!p)
        return;
    if (vt_proc_alive(p)) {
        kill(p->pid, SIGKILL);
        reap(p, true);
    }
    untrack(p);
    free(p);
}

int vt_proc_run(const char *bin, const char *const argv[], const char *const env[],
                int timeout_ms, char **out)
{
    static atomic_int runs;
    char path[512], name[96];
    snprintf(name, sizeof name, "%s-%d", bin, atomic_fetch_add(&runs, 1) + 1);
    vt_proc *p = vt_proc_spawn(name, vt_ts_bin(bin, path, sizeof path), argv, env);
    int code = -1;
    *out = NULL;
    if (p && vt_proc_wait(p, timeout_ms, &code) != 0) {
        vt_proc_tail(p, 20);
        code = -1;
    }
    if (p)
        *out = vt_ts_read_file(vt_proc_log(p), NULL);
    vt_proc_free(p);
    if (!*out)
        *out = calloc(1, 1);
    return code;
}

/* ---- watchdog ---------------------------------------------------------- */

/* The first line of a /proc file into buf ("?" when unreadable). */
static void read_line(const char *path, char *buf, size_t cap)
{
    FILE *fp = fopen(path, "r");
    if (!fp || !fgets(buf, (int)cap, fp))
        snprintf(buf, cap, "?");
    buf[strcspn(buf, "\n")] = 0;
    if (fp)
        fclose(fp);
}

/* Each thread of pid: name, state and the kernel function it sleeps in,
 * then its stacks if gdb can attach. */
static void dump_threads(pid_t pid, const char *who)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    fprintf(stderr, "--- %s (pid %d): threads\n", who, (int)pid);
    DIR *d = opendir(dir);
    for (struct dirent *de; d && (de = readdir(d)) != NULL;) {
        if (de->d_name[0] == '.')
            continue;
        char f[352], comm[64], wchan[96], stat[512];
        snprintf(f, sizeof f, "%s/%s/comm", dir, de->d_name);
        read_line(f, comm, sizeof comm);
        snprintf(f, sizeof f, "%s/%s/wchan", dir, de->d_name);
        read_line(f, wchan, sizeof wchan);
        snprintf(f, sizeof f, "%s/%s/stat", dir, de->d_name);
        read_line(f, stat, sizeof stat);
        const char *st = strrchr(stat, ')'); /* the state follows "(comm) " */
        fprintf(stderr, "  tid %s %-16s state %c wchan %s\n", de->d_name, comm,
                st && st[1] && st[2] ? st[2] : '?', wchan[0] ? wchan : "-");
    }
    if (d)
        closedir(d);
    char cmd[200];
    snprintf(cmd, sizeof cmd,
             "command -v gdb >/dev/null && timeout 20 gdb -batch -nx -p %d "
             "-ex 'thread apply all bt 30' 2>&1 | grep -E '^(Thread|#)' >&2",
             (int)pid);
    if (system(cmd) != 0)
        fprintf(stderr, "  (no gdb stacks)\n");
}

static void *watchdog_main(void *arg)
{
    int seconds = (int)(intptr_t)arg;
    vt_sleep_ms((uint64_t)seconds * 1000);
    fprintf(stderr, "\nvt_ts_watchdog: the test is still running after %d s; what it and its "
                    "processes wait in:\n", seconds);
    dump_threads(getpid(), "this test");
    pthread_mutex_lock(&procs_mu);
    for (struct vt_proc *p = procs; p; p = p->next)
        if (!p->exited) {
            dump_threads(p->pid, p->name);
            vt_proc_tail(p, 30);
        }
    pthread_mutex_unlock(&procs_mu);
    fprintf(stderr, "vt_ts_watchdog: logs kept in %s\n", vt_ts_tmpdir());
    fflush(stderr);
    ts_kill_all();
    _exit(1); /* not exit(): the temp dir with the logs stays */
    return NULL;
}

void vt_ts_watchdog(int seconds)
{
    pthread_t th;
    if (pthread_create(&th, NULL, watchdog_main, (void *)(intptr_t)seconds) == 0)
        pthread_detach(th);
}

/* ctest's TIMEOUT, passed by vt_add_c_test: wake up a little before it. */
static void arm_from_env(void)
{
    const char *v = getenv("VT_TEST_TIMEOUT_S");
    long t = v ? strtol(v, NULL, 10) : 0;
    if (t >= 20)
        vt_ts_watchdog((int)(t - (t / 10 > 5 ? t / 10 : 5)));
}
