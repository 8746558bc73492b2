/* wk.h - internal state of verity-worker.
 *
 * Threads and what they own:
 *   main       the engine loop (engine_loop.c): admits fetched jobs into the
 *              runners, steps them, turns finished jobs into results. The
 *              only thread that touches the runners.
 *   fetcher    long-poll fetch on its own socket while there is free capacity.
 *   sender     results batches (one signature each) on its own socket.
 *   keeper     vt_node_keeper_main: says hello (the session lives on its
 *              socket, closed last), extends leases and brings back cancel
 *              lists, so a long forward pass never starves it.
 * They share the lease table and the outbox under wk.mu.
 */
#ifndef WK_H
#define WK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vt_config.h"
#include "vt_http.h"
#include "vt_log.h"
#include "vt_metrics.h"
#include "vt_protocol.h"
#include "vt_signal.h"
#include "vt_worker.h"

enum { WK_DEV_AUTO = 0, WK_DEV_CPU = 1, WK_DEV_CUDA = 2 };

/* One model served: its identity and its runner (NULL for identity). */
typedef struct wk_model {
    vt_model *model;         /* what the runner computes with */
    vt_model *claimed;       /* fault modes: the model whose hash we claim */
    vt_runner *runner;
    uint8_t sha256[32];
    char name[64];
    uint32_t vocab;
    int identity;
    vt_embedder embedder;    /* embed jobs (embed_job.c); .model NULL until the first */
} wk_model;

typedef enum wk_job_state { WK_QUEUED = 0, WK_RUNNING = 1 } wk_job_state;

/* A leased job held by this worker. */
typedef struct wk_job {
    char job_id[VT_JOB_ID_MAX + 1];
    uint64_t lease_id;
    uint64_t tag;            /* runner tag */
    int model;               /* index in wk.models, -1: not served */
    int unsupported;         /* job kind we cannot run */
    int embed;               /* kind "embed" (embed_job.c) */
    int32_t *prompt;
    uint32_t n_prompt;
    vt_gen_params gp;
    char **stop;
    uint8_t prompt_digest[32];
    int64_t deadline_ms;     /* monotonic, 0 = none */
    uint64_t fetched_us;
    wk_job_state state;
    int cancel;              /* heartbeat said abort */
} wk_job;

/* A finished result waiting for the sender. Owns its buffers. */
typedef struct wk_res {
    vt_wire_result r;
    int32_t *tokens;
    char *text;
    uint8_t *layers;
    float *embedding;        /* kind "embed" */
} wk_res;

typedef struct wk {
    /* configuration (read-only after start) */
    int slots, threads, device, isa;
    int64_t heartbeat_ms;
    size_t recv_max;
    vt_keypair kp;
    vt_log *log;
    vt_signals *sig;
    wk_model *models;
    int n_models;
    char device_desc[128];
#ifdef VT_TEST_FAULTS
    int fault;
    vt_keypair fault_kp;     /* bad_signature: a key the scheduler does not know */
#endif

    /* shared, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv_main;  /* new jobs or cancels for the engine loop */
    pthread_cond_t cv_fetch; /* capacity freed */
    pthread_cond_t cv_send;  /* results to send */
    wk_job **jobs;           /* every lease held (queued + running) */
    int n_jobs, cap_jobs;
    wk_res **out;
    int n_out, cap_out;
    int sending;             /* results taken by the sender, not yet acked */
    vt_node_conn *fetch_conn;   /* so shutdown can cut a fetch stuck on a dead scheduler */
    uint64_t next_tag;

    vt_node_session ns;      /* session, hello/heartbeat thread, shared flags */
    vt_model_ref refs[VT_PROTO_MAX_MODELS];
    atomic_bool fetcher_done;/* no fetch can bring more jobs */

    /* metrics */
    vt_metrics *metrics;
    vt_counter *m_jobs_ok, *m_jobs_err, *m_jobs_cancel, *m_tokens, *m_prompt_tokens;
    vt_counter *m_err_fetch, *m_err_results, *m_err_heartbeat, *m_batches;
    vt_gauge *m_busy, *m_slots, *m_tps;
    vt_histogram *m_batch_tokens, *m_batch_jobs, *m_embed_batch;
} wk;

/* netloops.c */
void *wk_fetcher_main(void *arg);
void *wk_sender_main(void *arg);
/* vt_node_session hooks (mu held). */
uint32_t wk_collect_leases(void *arg, uint64_t *ids, uint32_t cap, uint32_t *busy,
                           uint32_t *free_slots);
void wk_cancel_leases(void *arg, const uint64_t *ids, uint32_t n);
/* Hand leases back (shutdown). */
void wk_release(wk *w, const uint64_t *leases, uint32_t n);

/* engine_loop.c: runs until SIGTERM has been handled and drained. */
void wk_engine_loop(wk *w);
void wk_res_free(wk_res *r);
void wk_job_free(wk_job *j);

/* embed_job.c: run an embed job on the model's embed context (engine loop
 * thread), filling r's embedding, trace and layer digests. */
/* Embed jobs of one model (embed_job.c), at most WK_EMBED_MAX: res[k]
 * receives job k's result and rc[k] its status (ei[k] the detail); res[k]
 * NULL = out of memory. Short prompts share forward calls (vt_embedder). */
#define WK_EMBED_MAX 64
void wk_embed_jobs(wk *w, wk_model *m, wk_job *const *jobs, wk_res *const *res, int n, int *rc,
                   vt_errinfo *ei);
void wk_embed_free(wk *w);

#endif
