/* bench_util.h - helpers shared by the verity-bench subcommands: a clock,
 * and a small JSON writer (strings escaped, numbers finite). */
#ifndef VT_BENCH_UTIL_H
#define VT_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>

double vt_bench_now(void); /* CLOCK_MONOTONIC seconds */

/* The CPU model name (/proc/cpuinfo, "unknown" if none) and the 1-minute load
 * average (-1 if unknown): results from a shared machine need both. */
void vt_bench_machine(char *cpu, size_t cap, double *load1);

/* CPU seconds (user + system, all threads) process pid has used so far, from
 * /proc/PID/stat; 0 if unknown. */
double vt_bench_proc_cpu(int pid);
/* The same plus the CPU of its children it has waited for: a forked helper
 * (Redis's AOF rewrite) counts once it has exited. */
double vt_bench_proc_tree_cpu(int pid);

/* A numeric field of Redis's INFO (e.g. "aof_rewrites"); -1 if it cannot
 * be read. */
struct vt_redis;
double vt_bench_redis_info(struct vt_redis *r, const char *field);

/* GET path from 127.0.0.1:port (HTTP/1.0, 2 s send/receive timeouts): the
 * response, headers included, NUL-terminated in buf (cut at cap - 1 bytes).
 * Returns the HTTP status, or -1 if there was no well-formed answer. The
 * daemons' /readyz and /metrics are what the benches ask for. */
int vt_bench_http_get(int port, const char *path, char *buf, size_t cap);

/* Streaming JSON writer. Commas are inserted automatically. */
typedef struct vt_json {
    FILE *f;
    int depth;
    int need_comma[32];
} vt_json;

void vt_json_init(vt_json *j, FILE *f);
void vt_json_obj_begin(vt_json *j, const char *key); /* key NULL inside arrays / at top */
void vt_json_obj_end(vt_json *j);
void vt_json_arr_begin(vt_json *j, const char *key);
void vt_json_arr_end(vt_json *j);
void vt_json_str(vt_json *j, const char *key, const char *v);
void vt_json_num(vt_json *j, const char *key, double v); /* non-finite -> null */
void vt_json_int(vt_json *j, const char *key, int64_t v);
void vt_json_bool(vt_json *j, const char *key, int v);

#endif
