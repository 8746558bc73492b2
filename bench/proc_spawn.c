/* proc_spawn.c - see proc_spawn.h. */
#include "proc_spawn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vt_spawn.h"

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
    return vt_spawn_logged(path, argv, NULL, logpath, VT_SPAWN_IGNORE_SIGINT, pid, ei);
}
