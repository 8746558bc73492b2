/* bench_util.c - clock and JSON writer for verity-bench. */
#include "bench_util.h"

#include <stdbool.h>
#include <stdlib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vt_redis.h"

double vt_bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void vt_json_init(vt_json *j, FILE *f)
{
    j->f = f;
    j->depth = 0;
    j->need_comma[0] = 0;
}

static void put_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void item(vt_json *j, const char *key)
{
    if (j->need_comma[j->depth])
        fputc(',', j->f);
    j->need_comma[j->depth] = 1;
    if (key) {
        put_string(j->f, key);
        fputc(':', j->f);
    }
}

static void open_(vt_json *j, const char *key, char c)
{
    item(j, key);
    fputc(c, j->f);
    if (j->depth < 31)
        j->depth++;
    j->need_comma[j->depth] = 0;
}

void vt_json_obj_begin(vt_json *j, const char *key) { open_(j, key, '{'); }
void vt_json_arr_begin(vt_json *j, const char *key) { open_(j, key, '['); }

void vt_json_obj_end(vt_json *j)
{
    fputc('}', j->f);
    if (j->depth > 0)
        j->depth--;
    if (j->depth == 0)
        fputc('\n', j->f);
}

void vt_json_arr_end(vt_json *j)
{
    fputc(']', j->f);
    if (j->depth > 0)
        j->depth--;
}

void vt_json_str(vt_json *j, const char *key, const char *v)
{
    item(j, key);
    put_string(j->f, v ? v : "");
}

void vt_json_num(vt_json *j, const char *key, double v)
{
    item(j, key);
    if (v != v || v > 1e308 || v < -1e308)
        fputs("null", j->f);
    else
        fprintf(j->f, "%.6g", v);
}

void vt_json_int(vt_json *j, const char *key, int64_t v)
{
    item(j, key);
    fprintf(j->f, "%lld", (long long)v);
}

void vt_json_bool(vt_json *j, const char *key, int v)
{
    item(j, key);
    fputs(v ? "true" : "false", j->f);
}

void vt_bench_machine(char *cpu, size_t cap, double *load1)
{
    snprintf(cpu, cap, "unknown");
    *load1 = -1;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            char *c = strchr(line, ':');
            if (!strncmp(line, "model name", 10) && c) {
                c += c[1] == ' ' ? 2 : 1;
                c[strcspn(c, "\n")] = 0;
                snprintf(cpu, cap, "%s", c);
                break;
            }
        }
        fclose(f);
    }
    if ((f = fopen("/proc/loadavg", "r")) != NULL) {
        if (fscanf(f, "%lf", load1) != 1)
            *load1 = -1;
        fclose(f);
    }
}

/* utime + stime, and with children the CPU of its waited-for children too
 * (cutime + cstime), in seconds. */
static double proc_stat_cpu(int pid, bool children)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* Fields after the ")" that ends the command name: state is field 3,
     * utime 14, stime 15, cutime 16, cstime 17 (clock ticks). */
    char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    long long cut = 0, cst = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld", &ut,
                     &st, &cut, &cst) != 4)
        return 0;
    double ticks = (double)(ut + st) + (children && cut + cst > 0 ? (double)(cut + cst) : 0);
    return ticks / (double)sysconf(_SC_CLK_TCK);
}

double vt_bench_proc_cpu(int pid)
{
    return proc_stat_cpu(pid, false);
}

double vt_bench_proc_tree_cpu(int pid)
{
    return proc_stat_cpu(pid, true);
}

int vt_bench_http_get(int port, const char *path, char *buf, size_t cap)
{
    if (cap < 16)
        return -1;
    buf[0] = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    size_t n = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        char req[256];
        int k = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
        if (k > 0 && (size_t)k < sizeof req && write(fd, req, (size_t)k) == k) {
            ssize_t got;
            while (n < cap - 1 && (got = read(fd, buf + n, cap - 1 - n)) > 0)
                n += (size_t)got;
        }
    }
    close(fd);
    buf[n] = 0;
    int status = -1;
    if (n < 12 || sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    return status;
}

double vt_bench_redis_info(vt_redis *r, const char *field)
{
    redisReply *rep = NULL;
    double v = -1;
    if (!r || vt_redis_command(r, &rep, NULL, "INFO") != 0)
        return -1;
    if (rep->type == REDIS_REPLY_STRING) {
        char pat[96];
        snprintf(pat, sizeof pat, "\n%s:", field);
        const char *p = strstr(rep->str, pat);
        if (p)
            v = strtod(p + strlen(pat), NULL);
    }
    freeReplyObject(rep);
    return v;
}
