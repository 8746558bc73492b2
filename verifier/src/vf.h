/* vf.h - internal state of verity-verifier.
 *
 * Threads (each network one with its own REQ socket):
 *   main       the replay loop (replay_loop.c): groups held tasks by model,
 *              replays up to --batch of them per vt_checker_run (one
 *              vt_forward per step for the whole group), writes verdicts.
 *   fetcher    long-poll vfetch while fewer than 2 x batch tasks are held.
 *   sender     verdict batches, one signature over the Merkle root each.
 *   keeper     vt_node_keeper_main: says hello (the session lives on its
 *              socket, closed last) and extends the leases of held tasks.
 * Shared under vf.mu: the task table and the verdict outbox.
 */
#ifndef VF_H
#define VF_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "vt_config.h"
#include "vt_http.h"
#include "vt_log.h"
#include "vt_metrics.h"
#include "vt_protocol.h"
#include "vt_signal.h"
#include "vt_verifier.h"

#ifdef VT_TEST_FAULTS
enum { VF_FAULT_NONE = 0, VF_FAULT_ALWAYS_PASS = 1, VF_FAULT_ALWAYS_FAIL = 2 };
#endif

typedef struct vf_model {
    vt_model *model;
    vt_checker *checker;
    uint8_t sha256[32];
    char name[64];
    int identity;
    vt_embedder embedder;   /* embed replays (embed_check.c); .model NULL until the first */
} vf_model;

/* A held verification task; owns copies of everything replay needs. */
typedef struct vf_task {
    uint64_t task_id, lease_id;
    char job_id[VT_JOB_ID_MAX + 1];
    int model;              /* index in vf.models, -1: not ours */
    int32_t *prompt, *output;
    uint32_t n_prompt, n_output;
    vt_gen_params gp;
    char **stop;
    int stop_reason;
    vt_trace trace;
    int taken;              /* the replay loop is working on it */
    int embed;              /* kind "embed": embedding[n_embedding] is the claim */
    float *embedding;
    uint32_t n_embedding;
    uint64_t fetched_us;
} vf_task;

typedef struct vf_out {
    vt_wire_verdict v;
    uint8_t *layers;
} vf_out;

typedef struct vf {
    int batch, threads, isa;
    int64_t heartbeat_ms;
    size_t recv_max;
    vt_keypair kp;
    vt_log *log;
    vt_signals *sig;
    vf_model *models;
    int n_models;
    char device_desc[128];
#ifdef VT_TEST_FAULTS
    int fault;
#endif

    pthread_mutex_t mu;
    pthread_cond_t cv_main, cv_fetch, cv_send;
    vf_task **tasks;
    int n_tasks, cap_tasks;
    vf_out **out;
    int n_out, cap_out;
    vt_node_conn *fetch_conn;   /* so shutdown can cut a vfetch stuck on a dead scheduler */

    vt_node_session ns; /* session, hello/heartbeat thread, shared flags */
    vt_model_ref refs[VT_PROTO_MAX_MODELS];
    atomic_bool fetcher_done;

    vt_metrics *metrics;
    vt_counter *m_pass, *m_fail, *m_err_fetch, *m_err_send, *m_err_hb, *m_batches, *m_tokens;
    vt_counter *m_fault[5];
    vt_histogram *m_batch, *m_embed_batch, *m_replay_s;
} vf;

/* loops.c */
void *vf_fetcher_main(void *arg);
void *vf_sender_main(void *arg);
/* vt_node_session hooks (mu held). */
uint32_t vf_collect_leases(void *arg, uint64_t *ids, uint32_t cap, uint32_t *busy,
                           uint32_t *free_slots);
void vf_cancel_leases(void *arg, const uint64_t *ids, uint32_t n);

/* replay_loop.c */
void vf_replay_loop(vf *v);
void vf_task_free(vf_task *t);
void vf_out_free(vf_out *o);

/* embed_check.c (replay loop thread) */
/* Verdicts vd[k] for the embed tasks of one model (short prompts replay
 * in shared forward calls: vt_embedder). */
void vf_check_embeds(vf *v, vf_model *m, vf_task *const *tasks, int n, vt_replay_verdict *vd);
void vf_embed_free(vf *v);

#endif
