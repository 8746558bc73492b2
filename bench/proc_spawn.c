/* proc_spawn.c - see proc_spawn.h. */
#include "proc_spawn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

int vt_bench_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int vt_bench_spawn(const char *path, char *const argv[], const char *logpath, pid_t *pid,
                   vt_errinfo *ei)
{
    int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return vt_fail(ei, VT_ERR_IO, "%s: %s", logpath, strerror(errno));
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0) {
        close(fd);
        return vt_fail(ei, VT_ERR_IO, "fork: %s", strerror(errno));
    }
    if (child == 0) {
        /* The child: nothing that takes a lock until exec. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) /* the parent died before prctl */
            _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_IGN);
        dup2(fd, 1);
        dup2(fd, 2);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        if (strchr(path, '/'))
            execv(path, argv);
        else
            execvp(path, argv);
        /* write(2) only: the parent may have threads, so no stdio here */
        const char *why = strerror(errno);
        ssize_t ignored = write(2, "exec ", 5);
        ignored = write(2, path, strlen(path));
        ignored = write(2, ": ", 2);
        ignored = write(2, why, strlen(why));
        ignored = write(2, "\n", 1);
        (void)ignored;
        _exit(127);
    }
    close(fd);
    *pid = child;
    return 0;
}
