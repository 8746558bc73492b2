/* load_spawn.h - `verity-bench load --spawn`: a whole local cluster for one
 * measurement, in a private temp dir, loopback only:
 *   redis-server  (unix socket, AOF on, appendfsync always)
 *   verity-scheduler  (agent/worker/verifier sockets on ipc:// in the dir)
 *   K verity-worker, M verity-verifier  (fresh keys on the allow-list)
 *   agents registered in the registry (their API keys kept in memory)
 * Children are started with fork+exec and PR_SET_PDEATHSIG=SIGKILL, so a
 * crashed bench leaves nothing running; ls_stop() ends them with SIGTERM
 * (SIGKILL after a grace period) and removes the dir.
 */
#ifndef VT_LOAD_SPAWN_H
#define VT_LOAD_SPAWN_H

#include <sys/types.h>

#include "load_driver.h"
#include "vt_err.h"

#define LS_MAX_PROCS 40
#define LS_REDIS_CONFIG_MAX 16 /* --redis-config NAME=VALUE pairs */

typedef struct ls_params {
    const char *bin_dir;   /* where verity-scheduler etc. live */
    int workers, verifiers;
    int identity;          /* workers/verifiers serve the identity model */
    const char *model;     /* else: GGUF path served by all of them */
    int worker_slots;      /* 0 = daemon default */
    int worker_threads, verifier_threads; /* 0 = daemon default */
    int verifier_batch;    /* 0 = daemon default */
    int agents;            /* API keys to register */
    int keep;              /* keep the dir (logs) */
    const char *log_level; /* daemons' --log-level; NULL = warn */
    int result_ttl_s;      /* scheduler's --result-ttl-s; 0 = its default */
    /* redis-server settings after the journal's own (ls_redis_journal_args):
     * "name value" pairs, e.g. {"auto-aof-rewrite-percentage", "0"} */
    const char *redis_config[LS_REDIS_CONFIG_MAX][2];
    int n_redis_config;
} ls_params;

typedef struct ls_proc {
    pid_t pid;
    char name[32];
    char http[32];         /* host:port of /readyz, "" for redis */
    double cpu0;           /* CPU seconds at the last ls_cpu_mark */
} ls_proc;

typedef struct ls_cluster {
    char dir[256];
    char agent_url[320];
    char redis_url[320];
    char model[72];        /* what agents name: hex sha256 */
    char keys[LD_MAX_KEYS][160];
    int n_keys;
    ls_proc procs[LS_MAX_PROCS]; /* [0] redis, [1] scheduler, then nodes */
    int n_procs;
    int keep;
} ls_cluster;

/* Start everything and wait until each daemon's /readyz answers 200.
 * On failure everything started so far is stopped again and the detail
 * names the process and its log file. */
int ls_start(ls_cluster *c, const ls_params *p, vt_errinfo *ei);
void ls_stop(ls_cluster *c);

/* Per-process CPU accounting over a measurement: ls_cpu_mark() at its
 * start, ls_cpu_since() per process at its end (CPU seconds, all threads). */
void ls_cpu_mark(ls_cluster *c);
double ls_cpu_since(const ls_cluster *c, int i);

/* The directory of this executable (where the daemons are built). */
int ls_self_dir(char *out, size_t cap);

#endif
