/* load_driver.h - the agent side of `verity-bench load`: many concurrent
 * agents submitting jobs to a scheduler's agent socket and waiting for their
 * results, all driven from the calling thread by one epoll loop that
 * speaks NNG's REQ wire protocol (sp_req.h; no thread per agent).
 *
 * One job = submit (-> submit_ok) then result long polls (-> result_ok)
 * until the job is verified (with delivery=optimistic: until its outputs
 * arrive, verdicts pending); its latency runs from the submit (closed loop) or
 * from its scheduled arrival time (open loop, so a slow server cannot hide
 * queueing delay: no coordinated omission) to the final result_ok.
 *
 * Closed loop: `concurrency` agents, each starts its next job as soon as the
 * previous one ends. Open loop: jobs arrive at `rate` per second with
 * exponential (Poisson) inter-arrival times; at most `concurrency` are in
 * flight, later arrivals wait in a bounded backlog (their wait counts in
 * their latency) and arrivals past the backlog are dropped (counted).
 *
 * Each agent has at most one request out; agents are spread over
 * `connections` connections (requests told apart by request id, as NNG's
 * REQ contexts do). Both the duration and the count bound every run.
 */
#ifndef VT_LOAD_DRIVER_H
#define VT_LOAD_DRIVER_H

#include <signal.h>
#include <stdint.h>

#include "load_hist.h"
#include "vt_err.h"

#define LD_MAX_AGENTS 4096
#define LD_MAX_KEYS 64

typedef enum ld_mode { LD_CLOSED = 0, LD_OPEN = 1 } ld_mode;

/* What the agents submit, and where. */
typedef struct ld_target {
    const char *url;                /* loopback tcp:// or ipc:// (checked by the caller) */
    const char *api_keys[LD_MAX_KEYS];
    int n_keys;                     /* agent i uses api_keys[i % n_keys] */
    const char *model;              /* alias or 64 hex chars */
    uint32_t prompt_tokens;         /* per job, token ids 259.. (valid in any preset) */
    uint32_t max_tokens;
    const char *verify;             /* NULL = scheduler default */
    const char *delivery;           /* NULL = verified */
    int submit_wait;                /* 1: submit with wait_ms (one round trip per job) */
} ld_target;

typedef struct ld_params {
    ld_mode mode;
    int concurrency;     /* closed: agents; open: most jobs in flight */
    int connections;     /* REQ sockets; 0 = one per agent */
    double rate;         /* open loop: arrivals per second */
    double warmup_s;     /* jobs finishing before this are not counted */
    double duration_s;   /* measured window after the warmup */
    uint64_t count;      /* stop once this many jobs completed in the window */
    double job_timeout_s;
    double drain_s;      /* after the window, wait this long for jobs in flight */
    const char *label;   /* progress line prefix */
    int progress;        /* 1: a progress line on stderr every second */
    /* Called (from the calling thread) when the measured window opens
     * (end 0) and closes (end 1): per-process CPU accounting. May be NULL. */
    void (*mark)(void *arg, int end);
    void *mark_arg;
    int stages_every;    /* every Nth verified job: a status call for its stage times; 0 = off */
} ld_params;

/* Where a job's time went (status timestamps, wall clock, ms resolution):
 * agent send -> scheduler receipt -> leased -> computed -> finished (verified
 * and journaled) -> agent receipt. */
enum { LD_ST_TO_SCHED = 0, LD_ST_QUEUED, LD_ST_COMPUTING, LD_ST_VERIFYING, LD_ST_TO_AGENT, LD_ST__COUNT };
const char *ld_stage_name(int s);

/* Error kinds: where it happened x vt_err code. */
enum { LD_AT_SUBMIT = 0, LD_AT_RESULT = 1, LD_AT_JOB = 2, LD_AT__COUNT };
#define LD_CODES 64 /* -code, 0..63 */

typedef struct ld_result {
    load_hist hist;          /* latency of jobs completed in the window, us */
    load_hist stage[LD_ST__COUNT]; /* stage times of sampled jobs, us (ms resolution) */
    uint64_t completed;      /* jobs verified (or done, for verify none) in the window */
    uint64_t started;        /* jobs submitted (whole run) */
    uint64_t errors;         /* all kinds, whole run */
    uint64_t err[LD_AT__COUNT][LD_CODES];
    uint64_t dropped;        /* open loop: arrivals lost to a full backlog */
    uint64_t backlog_max;    /* open loop: most arrivals waiting at once */
    uint64_t unfinished;     /* jobs still in flight when the drain time ran out */
    double window_s;         /* measured window actually run */
    double throughput;       /* completed / window_s */
    double cpu_s;            /* this process's CPU seconds during the window */
} ld_result;

/* "submit", "result" or "job". */
const char *ld_at_name(int at);

/* Run one measurement. *stop (may be NULL) ends it early (SIGINT). out is
 * large (the histogram): allocate it. Returns 0, or a vt_err for set-up
 * failures (sockets); per-job failures are counted in out, not returned. */
int ld_run(const ld_target *t, const ld_params *p, volatile sig_atomic_t *stop, ld_result *out,
           vt_errinfo *ei);

#endif
