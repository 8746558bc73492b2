/* ts_net.c - loopback TCP helpers: connect with deadline, HTTP GET,
 * /readyz polling. */
#include "vt_testsupport.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "ts_internal.h"
#include "vt_clock.h"
#include "vt_sp.h"

static int connect_addr(const struct sockaddr_in *sa, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0) {
        if (errno != EINPROGRESS) {
            close(fd);
            return -1;
        }
        struct pollfd pfd = {fd, POLLOUT, 0};
        int err = 0;
        socklen_t len = sizeof(err);
        if (poll(&pfd, 1, timeout_ms) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            close(fd);
            return -1;
        }
    }
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    return fd;
}

int ts_connect(int port, int timeout_ms)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return connect_addr(&sa, timeout_ms);
}

int ts_connect_hostport(const char *hostport, int timeout_ms)
{
    char host[64];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof(host))
        return -1;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    if (strcmp(host, "localhost") == 0 || strcmp(host, "0.0.0.0") == 0)
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -1;
    return connect_addr(&sa, timeout_ms);
}

/* Wait until fd is readable or the deadline passes. */
static bool wait_readable(int fd, uint64_t deadline)
{
    uint64_t now = vt_mono_ms();
    if (now >= deadline)
        return false;
    struct pollfd pfd = {fd, POLLIN, 0};
    return poll(&pfd, 1, (int)(deadline - now)) == 1;
}

/* Case-insensitive search for a lowercase needle (HTTP header names). */
static const char *find_header(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == needle[i])
            i++;
        if (i == n)
            return hay;
    }
    return NULL;
}

int vt_ts_http_get(const char *hostport, const char *path, int timeout_ms,
                   int *status, char **body)
{
    if (body)
        *body = NULL;
    uint64_t deadline = vt_mono_ms() + (uint64_t)timeout_ms;
    int fd = ts_connect_hostport(hostport, timeout_ms);
    if (fd < 0)
        return VT_ERR_UNAVAILABLE;
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, hostport);
    if (n <= 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n) {
        close(fd);
        return VT_ERR_UNAVAILABLE;
    }
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    int rv = VT_ERR_TIMEOUT;
    while (buf) {
        /* Done when the headers and Content-Length bytes of body are in. */
        buf[len] = '\0';
        char *hdr_end = strstr(buf, "\r\n\r\n");
        if (hdr_end) {
            const char *cl = find_header(buf, "\r\ncontent-length:");
            if (cl && cl < hdr_end) {
                size_t want = (size_t)strtoul(cl + 17, NULL, 10);
                if (len >= (size_t)(hdr_end + 4 - buf) + want) {
                    rv = 0;
                    break;
                }
            }
        }
        if (!wait_readable(fd, deadline))
            break;
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) { /* closed: whatever arrived is the response */
            rv = len ? 0 : VT_ERR_PROTO;
            break;
        }
        len += (size_t)r;
    }
    close(fd);
    if (!buf)
        return VT_ERR_NOMEM;
    buf[len] = '\0';
    int code = 0;
    char *hdr_end = strstr(buf, "\r\n\r\n");
    if (rv == 0 && (sscanf(buf, "HTTP/1.%*d %d", &code) != 1 || !hdr_end))
        rv = VT_ERR_PROTO;
    if (rv == 0) {
        if (status)
            *status = code;
        if (body) {
            *body = strdup(hdr_end + 4);
            if (!*body)
                rv = VT_ERR_NOMEM;
        }
    }
    free(buf);
    return rv;
}

int vt_ts_wait_ready(const char *hostport, int timeout_ms)
{
    uint64_t deadline = vt_mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        int status = 0;
        if (vt_ts_http_get(hostport, "/readyz", 1000, &status, NULL) == 0 && status == 200)
            return 0;
        if (vt_mono_ms() >= deadline)
            return VT_ERR_TIMEOUT;
        vt_sleep_ms(20);
    }
}

int vt_ts_sp_call(struct vt_sp_req *r, const void *body, size_t len, int timeout_ms, char *out,
                  size_t cap)
{
    const uint8_t *rep = NULL;
    size_t n = 0;
    int rv = vt_sp_req_call(r, body, len, timeout_ms, &rep, &n, NULL);
    out[0] = '\0';
    if (rv == 0) {
        n = n < cap - 1 ? n : cap - 1;
        memcpy(out, rep, n);
        out[n] = '\0';
    }
    return rv;
}

int vt_ts_sp_connect(const char *url)
{
    vt_sp_addr a;
    if (vt_sp_addr_parse(url, &a, NULL) != 0)
        return -1;
    int fd = socket(a.sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a.sa, a.len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}
