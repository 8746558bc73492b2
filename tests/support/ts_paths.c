/* ts_paths.c - per-process temp dir, paths, files, ports, waiting. */
#include "vt_testsupport.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "ts_internal.h"
#include "vt_clock.h"

#ifndef VT_BIN_DIR
#define VT_BIN_DIR "bin"
#endif
#ifndef VT_SOURCE_DIR
#define VT_SOURCE_DIR "."
#endif

static char tmpdir[512];
static pthread_once_t tmp_once = PTHREAD_ONCE_INIT;
static pid_t owner_pid;

static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                char sub[1024];
                snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
                remove_tree(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void at_exit(void)
{
    if (getpid() != owner_pid)
        return; /* a forked child that failed to exec */
    ts_kill_all();
    const char *keep = getenv("VT_KEEP_TMP");
    if (keep && keep[0] == '1') {
        fprintf(stderr, "VT_KEEP_TMP: kept %s\n", tmpdir);
        return;
    }
    remove_tree(tmpdir);
}

static void make_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    if (!base || !base[0])
        base = "/tmp";
    snprintf(tmpdir, sizeof(tmpdir), "%s/vt-test-XXXXXX", base);
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "vt_ts_tmpdir: mkdtemp(%s): %s\n", tmpdir, strerror(errno));
        abort();
    }
    owner_pid = getpid();
    atexit(at_exit);
}

const char *vt_ts_tmpdir(void)
{
    pthread_once(&tmp_once, make_tmpdir);
    return tmpdir;
}

char *vt_ts_path(const char *name, char *buf, size_t bufsz)
{
    snprintf(buf, bufsz, "%s/%s", vt_ts_tmpdir(), name);
    return buf;
}

char *vt_ts_bin(const char *name, char *buf, size_t bufsz)
{
    const char *dir = getenv("VT_BIN_DIR");
    snprintf(buf, bufsz, "%s/%s", dir && dir[0] ? dir : VT_BIN_DIR, name);
    return buf;
}

char *vt_ts_src(const char *rel, char *buf, size_t bufsz)
{
    snprintf(buf, bufsz, "%s/%s", VT_SOURCE_DIR, rel);
    return buf;
}

int vt_ts_write_file(const char *path, const void *data, size_t n, int mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return VT_ERR_IO;
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return VT_ERR_IO;
        }
        p += w;
        n -= (size_t)w;
    }
    return close(fd) == 0 ? 0 : VT_ERR_IO;
}

char *vt_ts_read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + len, 1, cap - len - 1, f);
        len += r;
        if (r == 0)
            break;
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) {
        buf[len] = '\0';
        if (n)
            *n = len;
    }
    return buf;
}

/* The kernel's ephemeral range (outgoing connections' local ports and
 * bind(0) come from it), or 32768-60999 if unreadable. */
static void ephemeral_range(int *lo, int *hi)
{
    *lo = 32768;
    *hi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        int a, b;
        if (fscanf(f, "%d %d", &a, &b) == 2 && a > 0 && b >= a) {
            *lo = a;
            *hi = b;
        }
        fclose(f);
    }
}

static bool port_bindable(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* A port BELOW the ephemeral range: a daemon the test restarts on the same
 * port can lose it in the gap to any outgoing connection of a parallel test
 * if the port came from bind(0) (seen: "Address in use" on restart under
 * ctest -j2). Ports below the range are never handed out by the kernel, so
 * only another test's pick can collide: each process starts at a pseudo-
 * random offset (pid, clock) and walks on. Falls back to bind(0) when the
 * range leaves no room below it. */
int vt_ts_free_port(void)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static int next = -1; /* this test process's walk through the range */
    int lo, hi;
    ephemeral_range(&lo, &hi);
    const int base = 10000;
    if (lo - base >= 1000) {
        int span = lo - base, port = 0;
        pthread_mutex_lock(&mu);
        if (next < 0)
            next = (int)(((unsigned)getpid() * 2654435761u + (unsigned)vt_mono_ms()) % (unsigned)span);
        for (int tries = 0; tries < span && !port; tries++) {
            if (port_bindable(base + next))
                port = base + next;
            next = (next + 1) % span;
        }
        pthread_mutex_unlock(&mu);
        if (port)
            return port;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        fprintf(stderr, "vt_ts_free_port: %s\n", strerror(errno));
        abort();
    }
    close(fd);
    return ntohs(sa.sin_port);
}

bool vt_ts_wait_until(int timeout_ms, bool (*pred)(void *arg), void *arg)
{
    uint64_t deadline = vt_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        if (pred(arg))
            return true;
        if (vt_mono_ms() >= deadline)
            return false;
        vt_sleep_ms(10);
    }
}

bool vt_ts_wait_port(int port, int timeout_ms)
{
    uint64_t deadline = vt_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        int fd = ts_connect(port, 200);
        if (fd >= 0) {
            close(fd);
            return true;
        }
        if (vt_mono_ms() >= deadline)
            return false;
        vt_sleep_ms(10);
    }
}
