/* vt_worker.h - job execution for verity-worker (library vt_worker).
 *
 * Three pieces, shared by the worker daemon, the verifier (which must apply
 * the very same stop rules and identity digest) and the tests:
 *
 *   vt_stopscan   the stop rules of one generation: EOS, stop strings found
 *                 in the streamed text, max_tokens. The worker's runner and
 *                 the verifier's replay checker both feed tokens through it,
 *                 so "why did this job stop here" has one definition.
 *   vt_runner     continuous batching over one vt_ctx: many jobs share each
 *                 vt_forward call (prefill chunks of new jobs + one decode
 *                 token per running job). Because the engine's logits do not
 *                 depend on batch neighbours or chunking, every job gets the
 *                 exact tokens and trace vt_generate would give it alone.
 *   identity      the built-in benchmark model: output = prompt tokens.
 *
 * All functions return 0 or a negative vt_err code.
 */
#ifndef VT_WORKER_H
#define VT_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vt_engine.h"
#include "vt_err.h"
#include "vt_log.h"
#include "vt_metrics.h"
#include "vt_protocol.h"
#include "vt_signal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Stop reasons are the protocol's: the engine's VT_STOP_MAX/EOS/STRING plus
 * VT_STOP_CANCEL, which ends a job early for a reason outside the model (a
 * cancel from the scheduler, or the job's deadline: then the result's status
 * is VT_ERR_EXPIRED). vt_stop_name() comes from vt_protocol.h. */

/* ------------------------------------------------------------- stop rules */

typedef struct vt_stopscan {
    const vt_tokenizer *tok;
    vt_detok detok;
    const char *const *stop; /* borrowed; must outlive the scanner */
    int n_stop;
    int stop_at_eos;
    int32_t eos;
    uint32_t max_tokens;
    uint32_t n_prompt;
    uint32_t ctx_len;   /* slot capacity; 0 = unlimited */
    uint32_t n_tokens;  /* tokens pushed so far */
    char *text;         /* streamed text so far (NUL-terminated) */
    size_t len, cap;
    size_t text_end;    /* visible text length: cut before a matched stop string */
    int done;           /* a stop reason has been reached */
    int reason;         /* VT_STOP_* once done */
} vt_stopscan;

/* n_prompt and ctx_len give the context rule of vt_generate: a generation
 * also stops (VT_STOP_MAX) once the token just sampled has no position left
 * to run at, i.e. n_prompt + n_tokens - 1 >= ctx_len (ctx_len 0: no limit). */
int vt_stopscan_init(vt_stopscan *s, const vt_tokenizer *tok, const vt_gen_params *gp,
                     uint32_t n_prompt, uint32_t ctx_len);
void vt_stopscan_free(vt_stopscan *s);
/* Feed the next output token. Sets *stopped to 1 and s->reason when this
 * token ends the generation (in this order: EOS if requested, a stop string
 * completed by the text so far, max_tokens reached or the context full), else
 * 0. These are exactly vt_generate's rules. Pushing after done is
 * VT_ERR_INVAL. */
int vt_stopscan_push(vt_stopscan *s, int32_t token, int *stopped);
/* Flush pending UTF-8 bytes into the text (call once at the end). */
int vt_stopscan_finish(vt_stopscan *s);

/* ----------------------------------------------------------------- runner */

typedef struct vt_runner vt_runner;

typedef struct vt_runner_params {
    int slots;          /* concurrent jobs (vt_ctx max_seqs) */
    int max_ctx;        /* per-slot KV tokens; 0 = model ctx_len */
    int n_threads;
    vt_isa isa;
    vt_backend backend;
    int prefill_chunk;  /* max prompt tokens fed per step over all jobs; 0 = 256 */
} vt_runner_params;

void vt_runner_params_default(vt_runner_params *p);

/* One finished job. Owned by the caller after vt_runner_take(); release with
 * vt_run_result_free(). */
typedef struct vt_run_result {
    uint64_t tag;        /* the caller's id from vt_runner_submit */
    int status;          /* 0, or the vt_err that failed this job (VT_ERR_EXPIRED:
                            deadline; VT_ERR_CANCELLED: cancel); the tokens so
                            far are still there */
    int32_t *tokens;
    uint32_t n_tokens;
    char *text;          /* NUL-terminated UTF-8 */
    size_t text_len;
    int stop_reason;     /* VT_STOP_* */
    vt_trace trace;
    uint32_t n_prompt;
    double queue_s, prefill_s, decode_s; /* seconds waiting, prefilling, decoding */
} vt_run_result;

void vt_run_result_free(vt_run_result *r);

int vt_runner_create(const vt_model *m, const vt_runner_params *p, vt_runner **out,
                     vt_errinfo *ei);
void vt_runner_free(vt_runner *r);
const char *vt_runner_describe(const vt_runner *r);
vt_backend vt_runner_backend(const vt_runner *r);

/* Queue a job (copies prompt, params and stop strings). deadline_ms is a
 * CLOCK_MONOTONIC deadline in ms (0 = none). VT_ERR_OVERLOADED when every
 * slot is taken; VT_ERR_RANGE when the prompt alone exceeds a slot or has a
 * token out of vocab; VT_ERR_INVAL for an empty prompt or max_tokens 0. Like
 * vt_generate, a job whose output would overflow the slot stops there
 * (VT_STOP_MAX). */
int vt_runner_submit(vt_runner *r, uint64_t tag, const int32_t *prompt, uint32_t n_prompt,
                     const vt_gen_params *gp, int64_t deadline_ms, vt_errinfo *ei);
/* Ends the job at its next step with VT_STOP_CANCEL (status VT_ERR_CANCELLED); VT_ERR_NOTFOUND if no
 * such job is running. */
int vt_runner_cancel(vt_runner *r, uint64_t tag);
int vt_runner_free_slots(const vt_runner *r);
int vt_runner_active(const vt_runner *r);
/* One vt_forward over every running job (no-op when none). Returns the number
 * of tokens processed in *n_tokens (may be NULL). A forward failure fails all
 * jobs in the step (status set) rather than the runner. */
int vt_runner_step(vt_runner *r, int *n_tokens, vt_errinfo *ei);
/* Pop one finished job: 1 when *out was filled, 0 when none is waiting. */
int vt_runner_take(vt_runner *r, vt_run_result *out);

/* --------------------------------------------------------------- identity */

/* The identity model's registration: name "identity", hash = SHA-256 of the
 * ASCII string "verity-identity-v1". */
#define VT_IDENTITY_NAME "identity"
#define VT_IDENTITY_TAG "verity-identity-v1"
void vt_identity_hash(uint8_t out[32]);
int vt_identity_is(const uint8_t hash[32]);

/* Output = the first min(n_prompt, max_tokens) prompt tokens; stop reason
 * VT_STOP_MAX. Trace: n_layers 0, n_positions = n_out, final_digest =
 * BLAKE2b-256(key none)("verity-identity-v1" || u32le n_prompt || u32le
 * prompt tokens... || u32le n_out). Writes n_out tokens into out (cap). */
int vt_identity_run(const int32_t *prompt, uint32_t n_prompt, uint32_t max_tokens,
                    int32_t *out, uint32_t cap, uint32_t *n_out, vt_trace *trace);
void vt_identity_digest(const int32_t *prompt, uint32_t n_prompt, uint32_t n_out,
                        uint8_t digest[VT_DIGEST_BYTES]);

/* ------------------------------------------------------------- embeddings
 * (embedder.c) Embeddings of several prompts for one model, as workers
 * compute `embed` jobs and verifiers replay them: prompts of at most
 * VT_EMBEDDER_SHORT tokens go VT_EMBEDDER_BATCH at a time through shared
 * forward calls (vt_embed_batch) on a context of that many short slots,
 * the rest one at a time (vt_seq_embed) on a one-slot context of the
 * model's length; each context is created on first use. A batch the
 * engine refuses (one prompt's bad token) runs again one prompt at a time,
 * so a bad prompt fails alone. Batch invariance makes every embedding and
 * trace the same bits either way. One thread at a time. */
#define VT_EMBEDDER_BATCH 8
#define VT_EMBEDDER_SHORT 128

typedef struct vt_embedder {
    const vt_model *model;
    vt_ctx_params params; /* threads, ISA and backend of both contexts */
    vt_histogram *runs;   /* prompts per run (a batch, or 1); NULL = not counted */
    vt_ctx *one, *batch;
} vt_embedder;

/* Called once per item: rc 0 with items[k].out written and the prompt's
 * trace readable at (c, seq) until it returns; else the error and why. */
typedef void (*vt_embedder_done)(void *arg, int k, int rc, vt_ctx *c, int seq,
                                 const vt_errinfo *ei);

void vt_embedder_init(vt_embedder *e, const vt_model *m, const vt_ctx_params *p,
                      vt_histogram *runs);
/* items[k].seq is ignored (the embedder picks slots). */
void vt_embedder_run(vt_embedder *e, const vt_embed_item *items, int n, vt_embedder_done done,
                     void *arg);
void vt_embedder_free(vt_embedder *e); /* the contexts; e may be re-initialised */

/* ------------------------------------------- fault modes (test builds only)
 * How `verity-worker --fault MODE` cheats, in one place so that the daemon
 * and the adversarial tests (tests/adversarial/test_detection_rate.c) run
 * the same corruption. Compiled only with VT_TEST_FAULTS (never in a
 * release build). The enum order is the --fault flag's choice order. */
#ifdef VT_TEST_FAULTS
enum {
    VT_WORKER_FAULT_NONE = 0,
    VT_WORKER_FAULT_FLIP_TOKEN,    /* output token n/2 becomes the next id */
    VT_WORKER_FAULT_RANDOM_TOKENS, /* every output token random (digest kept) */
    VT_WORKER_FAULT_WRONG_MODEL,   /* computes with --fault-model (other weights) */
    VT_WORKER_FAULT_Q8_FOR_F32,    /* computes with --fault-model (Q8_0 weights) */
    VT_WORKER_FAULT_TRUNCATE,      /* drops the last output token */
    VT_WORKER_FAULT_REPLAY_OTHER,  /* answers with the previous job's tokens and digest */
    VT_WORKER_FAULT_WRONG_DIGEST,  /* right tokens, one digest bit flipped */
    VT_WORKER_FAULT_BAD_SIGNATURE, /* signs its results batches with an unknown key */
    VT_WORKER_FAULT_SKIP_SAMPLER,  /* greedy whatever temperature the job asked for */
    VT_WORKER_FAULT_SLOW           /* honest, 10 ms extra per engine step (lease/drain tests) */
};
/* The modes' flag names, indexed by mode, NULL-terminated. */
extern const char *const vt_worker_fault_names[];

/* What a cheating worker remembers between jobs (replay_other's previous
 * result, random_tokens' generator). One per worker; NULL on no memory. */
typedef struct vt_fault_state vt_fault_state;
vt_fault_state *vt_fault_state_new(void);
void vt_fault_state_free(vt_fault_state *fs);

/* 1 when the mode computes with another model file (--fault-model) of the
 * claimed model's shape: wrong_model, q8_for_f32. */
int vt_worker_fault_needs_model(int mode);
/* Before the job runs: the parameters the cheat really uses (skip_sampler:
 * temperature 0). The result still claims the job's own parameters. */
void vt_worker_fault_params(int mode, vt_gen_params *gp);
/* After the job ran: corrupt its tokens (n_tokens may shrink) and trace
 * digest in place, as the mode says. vocab > 3. Modes without a result
 * corruption leave everything as is. */
void vt_worker_fault_result(int mode, vt_fault_state *fs, int32_t *tokens, uint32_t *n_tokens,
                            uint8_t digest[VT_DIGEST_BYTES], uint32_t vocab);
/* The same for an embed result: flip_token flips the lowest bit of the
 * first component, wrong_digest one digest bit. */
void vt_worker_fault_embed(int mode, float *embedding, uint32_t n,
                           uint8_t digest[VT_DIGEST_BYTES]);
#endif

/* ---------------------------------------------------- node plumbing
 * Shared by verity-worker and verity-verifier. */

/* Load "PATH" or "PATH@SHA256" (64 hex chars). With a hash, a file that
 * hashes differently is VT_ERR_MISMATCH with both hashes in the detail. */
int vt_model_spec_load(const char *spec, vt_model **out, vt_errinfo *ei);

/* One REQ connection to the scheduler, for ONE thread (each thread that talks
 * to the scheduler opens its own, so a long-poll fetch never delays a
 * heartbeat). Over ipc:// and tcp:// the SP wire is spoken directly on a
 * blocking socket (vt_sp.h: NNG 1.5.2's REQ socket would cost four or more
 * thread hand-offs per call); other schemes use an NNG REQ socket. Requests
 * are never resent: one that gets no reply in time is reported as
 * VT_ERR_TIMEOUT, a lost connection as VT_ERR_TRANSPORT, and the caller
 * decides (every request we send is safe to repeat: fetch hands out leases
 * that simply expire, results and verdicts are idempotent by lease). A call
 * (re)connects as needed, retrying until its timeout. */
typedef struct vt_node_conn vt_node_conn;

int vt_node_conn_open(const char *url, size_t recv_max, vt_node_conn **out, vt_errinfo *ei);
void vt_node_conn_close(vt_node_conn *c);
/* From another thread: make a call blocked on c return VT_ERR_CLOSED now
 * (closes the socket; the owner still calls vt_node_conn_close). */
void vt_node_conn_abort(vt_node_conn *c);
/* Encode req, send, wait up to timeout_ms for the reply and decode it as
 * `expect` (an error reply returns its code; *reply then holds it). On 0 the
 * caller owns *reply (vt_msg_free). VT_ERR_TIMEOUT, VT_ERR_TRANSPORT,
 * VT_ERR_CLOSED for transport trouble. */
int vt_node_call(vt_node_conn *c, const vt_msg *req, vt_msg_type expect, int timeout_ms,
                 vt_msg *reply, vt_errinfo *ei);

/* Build, sign and send a hello; fills *ok from hello_ok. */
int vt_node_hello(vt_node_conn *c, const vt_keypair *kp, vt_hello_role role,
                  const vt_model_ref *models, uint32_t n_models, const char *device,
                  uint32_t slots, int timeout_ms, vt_msg_hello_ok *ok, vt_errinfo *ei);

/* ---- the session a node keeps with the scheduler ----
 * The scheduler ties a session to the connection its hello came on, and
 * requeues the node's leases when that connection closes. So one thread, the
 * keeper, says hello and then heartbeats on its own socket, which the daemon
 * closes LAST at shutdown: the fetch socket can stop (or be cut) while
 * running work drains and its results are still accepted. A VT_ERR_AUTH
 * reply anywhere means the scheduler forgot the session (it restarted): the
 * keeper says hello again. */
typedef struct vt_node_session {
    /* set before the threads start */
    const char *url;
    size_t recv_max;
    const vt_keypair *kp;
    vt_hello_role role;
    const vt_model_ref *models;
    uint32_t n_models;
    const char *device;
    uint32_t slots;
    int64_t heartbeat_ms;
    vt_log *log;
    vt_signals *sig;
    vt_counter *err_heartbeat;
    pthread_mutex_t *mu; /* the daemon's lock: guards session and the hooks */
    /* Called with *mu held: the leases held now (into ids, at most cap) and
     * the slot counts for the heartbeat. */
    uint32_t (*collect)(void *arg, uint64_t *ids, uint32_t cap, uint32_t *busy,
                        uint32_t *free_slots);
    /* Called with *mu held: leases the scheduler says to abort. */
    void (*cancel)(void *arg, const uint64_t *ids, uint32_t n);
    void *arg;

    /* shared */
    char session[VT_SESSION_MAX + 1]; /* under *mu */
    vt_node_conn *conn;               /* the keeper's socket, under *mu */
    atomic_bool registered;           /* hello answered once: /readyz */
    atomic_bool need_hello;
    atomic_bool stopping;             /* SIGTERM: no new work */
    atomic_bool quit;                 /* the network threads end */
} vt_node_session;

/* The keeper thread: pthread_create(..., vt_node_keeper_main, session). */
void *vt_node_keeper_main(void *session);
/* Copy the current session id (takes *mu). */
void vt_node_session_id(vt_node_session *s, char out[VT_SESSION_MAX + 1]);
/* A call to the scheduler failed: count, log, and re-hello on VT_ERR_AUTH. */
void vt_node_call_failed(vt_node_session *s, const char *what, int rv, const vt_errinfo *ei,
                         vt_counter *errors);
/* Shutdown, after the results are flushed: cut a hello stuck on a dead
 * scheduler so the keeper can be joined. */
void vt_node_session_abort(vt_node_session *s);

/* Number of online CPUs (>= 1): the default of --threads. */
int vt_node_cpus(void);

/* pthread_cond_timedwait for ms milliseconds from now (mu held). */
void vt_node_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, int ms);
/* Sleep ms in small steps, returning early once *quit is set. */
void vt_node_sleep(const atomic_bool *quit, uint64_t ms);
/* Exponential backoff step: doubles *ms up to max_ms. */
void vt_node_backoff(uint64_t *ms, uint64_t max_ms);

#ifdef __cplusplus
}
#endif
#endif
