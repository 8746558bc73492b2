/* vt_spawn.c - see vt_spawn.h. */
#define _GNU_SOURCE /* execvpe */
#include "vt_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

extern char **environ;

/* In the child after fork: write(2) only. */
static void say(const char *s)
{
    ssize_t ignored = write(2, s, strlen(s));
    (void)ignored;
}

int vt_spawn_logged(const char *path, char *const argv[], char *const envp[], const char *logpath,
                    int flags, pid_t *pid, vt_errinfo *ei)
{
    int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0)
        return vt_fail(ei, VT_ERR_IO, "%s: %s", logpath, strerror(errno));
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nullfd < 0) {
        close(logfd);
        return vt_fail(ei, VT_ERR_IO, "/dev/null: %s", strerror(errno));
    }
    pid_t parent = getpid();
    pid_t child = fork();
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) /* the parent died before prctl */
            _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        if (flags & VT_SPAWN_IGNORE_SIGINT)
            signal(SIGINT, SIG_IGN);
        dup2(nullfd, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        execvpe(path, argv, envp ? envp : environ);
        const char *why = strerror(errno);
        say("exec failed: ");
        say(path);
        say(": ");
        say(why);
        say("\n");
        _exit(127);
    }
    int err = errno;
    close(logfd);
    close(nullfd);
    if (child < 0)
        return vt_fail(ei, VT_ERR_IO, "fork: %s", strerror(err));
    *pid = child;
    return 0;
}
