/* sched.h - verity-scheduler's internal state (one process, one instance).
 *
 * THREADS (docs/architecture.md, "Scheduler threading"):
 *   - NNG aio callbacks (NNG's task threads) receive requests on the agent,
 *     worker and verifier sockets. They decode and authenticate OUTSIDE the
 *     core lock (msgpack decode, API-key MAC, batch signature check), then
 *     take `core.mu` briefly to apply the request, and send replies.
 *   - The journal thread owns its own Redis connection and does group
 *     commit: it takes every pending write at once, pipelines them, waits
 *     for all replies, then (under core.mu) completes all of them together.
 *   - The ticker thread wakes every SC_TICK_MS for time-driven work: lease
 *     expiry, job deadlines, long-poll timeouts, no-model waits, dead nodes,
 *     eviction of finished jobs, gauges.
 *   - main() waits for signals and drives the graceful drain.
 * Lock order: core.mu, then jr.mu (never the other way). The auth pool's
 * locks are never held together with core.mu.
 */
#ifndef SCHED_H
#define SCHED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <nng/nng.h>

#include "sc_heap.h"
#include "sc_map.h"
#include "vt_arbiter.h"
#include "vt_config.h"
#include "vt_err.h"
#include "vt_log.h"
#include "vt_metrics.h"
#include "vt_protocol.h"
#include "vt_receipt.h"
#include "vt_redis.h"
#include "vt_registry.h"
#include "vt_sp.h"
#include "vt_tlog.h"

#define SC_TICK_MS 5
#define SC_AGENT_CTXS 1024       /* concurrent agent requests (parked result waits included) */
#define SC_NODE_CTXS 256         /* per node socket */
#define SC_MAX_NODES 1024
#define SC_MAX_MODELS 4096
#define SC_MAX_ATTEMPTS 5        /* compute leases (expiry, failed verification) before failing */
#define SC_DONE_RETAIN_MS 5000   /* finished jobs stay in memory this long, then Redis serves them */
#define SC_NODE_TIMEOUT_MS 10000 /* a node silent this long (and not parked) is dead */
#define SC_PARK_MAX_MS 5000      /* longest long poll we honour */
#define SC_HEARTBEAT_HINT_MS 2000
#define SC_MAX_VERDICTS VT_PROTO_MAX_VERDICTS
#define SC_EXCL_MAX 4
#define SC_JOURNAL_KEYPREFIX "verity:sched:"

/* ---------------------------------------------------------------- jobs */

enum sc_phase {
    SC_PH_FREE = 0,
    SC_PH_JOURNAL,   /* submitted, journal write in flight, not dispatchable yet; agent waits */
    SC_PH_LIVE,      /* in the lifecycle (journaled, or released early: see sc_job.unacked) */
    SC_PH_FINAL,     /* done, final record write in flight */
    SC_PH_DONE,      /* final record journaled; kept SC_DONE_RETAIN_MS */
    SC_PH_MEMORY     /* journaled, in the memory stage (sc_memory.c), then LIVE */
};

/* A worker's accepted result: one allocation, immutable once attached.
 * Keeps every signed field and the worker's batch attestation (root,
 * signature, Merkle path) so the receipt can carry them. */
typedef struct sc_result {
    uint64_t lease_id;
    uint8_t prompt_digest[VT_HASH_BYTES];
    uint8_t batch_root[VT_HASH_BYTES];
    uint8_t batch_sig[VT_SIG_BYTES];
    vt_merkle_proof proof;
    int32_t status;
    int stop_reason;
    uint8_t model_sha256[VT_SHA256_BYTES];
    uint8_t trace_digest[VT_DIGEST_BYTES];
    uint8_t worker[VT_PUBKEY_BYTES];
    uint32_t n_tokens;
    int32_t *tokens;
    size_t text_len;
    char *text;
    uint32_t n_embedding;
    float *embedding;
    uint32_t n_layers;
    uint8_t *layer_digests;
    char *error_msg; /* NULL unless status != 0 */
} sc_result;

/* A verdict on the job's current result with its verifier's attestation
 * (for the receipt); layers_at_div points into the same allocation. */
typedef struct sc_vrec {
    vt_wire_verdict v;
    uint8_t node_pk[VT_PUBKEY_BYTES];
    uint8_t batch_root[VT_HASH_BYTES];
    uint8_t batch_sig[VT_SIG_BYTES];
} sc_vrec;

typedef struct sc_conn sc_conn;

typedef struct sc_job {
    uint64_t id;               /* 0: free slot */
    uint32_t gen;              /* bumped on every reuse of the slot */
    uint8_t state;             /* vt_job_state */
    uint8_t phase;             /* enum sc_phase */
    uint8_t lane;              /* which lane's heap holds it (when heap_pos >= 0) */
    uint8_t verify_k;          /* verdicts required; 0 = policy none */
    uint8_t optimistic;        /* delivery=optimistic (carried; see architecture.md) */
    uint8_t verify_mode;       /* vt_verify_mode as requested */
    uint8_t n_pass, n_fail;
    uint8_t attempts;          /* compute leases handed out */
    uint8_t n_excl;            /* workers excluded after a failed verification */
    uint8_t n_verdicts;
    uint8_t has_token;
    uint8_t unacked;           /* submitted, its record not yet durable: the agent has no id yet */
    uint8_t final_deferred;    /* finished while unacked: the final record waits for the submit's */
    uint8_t deferred;          /* submit and wait: no record until its final one (or until the
                                * wait ends first, a drain starts: then an ordinary submit record);
                                * unacked throughout (architecture.md 2.4) */
    int32_t prio;
    int32_t heap_pos;
    uint32_t model;            /* model table index */
    uint32_t agent;            /* agent table index */
    uint32_t fifo_prev, fifo_next; /* lane FIFO (arrival order) for no-model waits; UINT32_MAX = none */
    uint64_t seq;              /* order within a priority: its lane's heap key (sc_model.c) */
    uint64_t vtag;             /* compute lane: the agent's fair-share tag; 0 = none yet */
    uint64_t t_submit_us, t_enqueue_us, t_leased_us, t_computed_us, t_vstart_us, t_done_us;
    int64_t wall_submit_ms, wall_leased_ms, wall_computed_ms, wall_done_ms;
    uint64_t deadline_ms;      /* monotonic ms; 0 = none */
    uint64_t lease_id;         /* current lease (compute or verify); 0 none */
    uint64_t task_id;          /* verification task id (per round) */
    uint64_t lease_deadline_ms;
    uint32_t lease_node;       /* node index holding the lease */
    uint32_t lease_gen;        /* node generation when leased */
    uint64_t last_result_lease;/* lease whose result was accepted (duplicate detection) */
    uint64_t last_verdict_lease;
    int32_t error;             /* final error code (0 ok) */
    char *error_msg;           /* final error detail or NULL */
    uint8_t token[VT_REQUEST_TOKEN_BYTES];
    uint64_t token_key;        /* sc_map key of (agent, token) */
    uint8_t prompt_digest[VT_HASH_BYTES];
    uint8_t excl[SC_EXCL_MAX][VT_PUBKEY_BYTES];   /* workers not to use again */
    uint8_t vused[SC_EXCL_MAX][VT_PUBKEY_BYTES];  /* verifiers that passed this round */
    vt_job_verdict verdicts[SC_MAX_VERDICTS];
    sc_vrec *vrec[SC_MAX_VERDICTS]; /* verdicts on the current result (receipt) */
    uint8_t n_vrec;
    vt_msg spec_msg;           /* decoded submit (owns prompt, stop strings) */
    sc_result *result;
    uint8_t *final_bytes;      /* encoded result_ok (with receipt), once journaled */
    size_t final_len;
    sc_conn *waiters;          /* agent contexts parked on this job */
    /* Verification of the current result (sc_arbiter.c; reset with the vrecs). */
    vt_arb_tally *tally;       /* verdicts so far; NULL until verification starts */
    uint8_t vneed;             /* verdicts still wanted (vt_arb_decide's need) */
    uint8_t n_vpick;           /* verifiers picked and not yet answered */
    uint8_t vpick[SC_EXCL_MAX][VT_PUBKEY_BYTES]; /* only these may lease the task */
    uint32_t done_next;        /* eviction FIFO */
    struct sc_jobmem *mem;     /* memory job: head, memory text, own prompt (sc_memory.c) */
} sc_job;

#define SC_NONE UINT32_MAX

/* ---------------------------------------------------------------- lanes */

enum { SC_LANE_COMPUTE = 0, SC_LANE_VERIFY = 1, SC_LANES = 2 };

typedef struct sc_lane {
    sc_pq heap;                /* ready jobs by (priority, seq) */
    uint32_t fifo_head, fifo_tail; /* same jobs in arrival order */
    uint32_t n_live;           /* live nodes (of the lane's role) serving the model */
    uint64_t no_node_since_ms; /* when n_live last became 0 (or the model appeared) */
} sc_lane;

typedef struct sc_model {
    uint8_t sha256[VT_SHA256_BYTES];
    bool used;
    uint32_t refs;             /* jobs in memory + node entries naming it; 0 = recyclable */
    sc_lane lane[SC_LANES];
} sc_model;

/* ---------------------------------------------------------------- nodes */

typedef struct sc_node {
    bool used, alive;
    uint8_t role;              /* SC_LANE_COMPUTE for workers, SC_LANE_VERIFY for verifiers */
    uint8_t pk[VT_PUBKEY_BYTES];
    char idshort[VT_NODE_ID_SHORT + 1];
    char operator_name[VT_NAME_MAX + 1];
    char session[VT_SESSION_MAX + 1];
    uint32_t gen;
    uint32_t pipe;             /* nng_pipe id the hello came on */
    uint32_t slots;
    uint32_t n_models;
    uint32_t models[VT_PROTO_MAX_MODELS];
    uint32_t leased;           /* leases held now */
    uint32_t n_parked;
    uint64_t last_seen_ms;
    uint64_t accepted, rejected, verify_failed;
} sc_node;

/* ----------------------------------------------------------- connections */

enum sc_sock { SC_SOCK_AGENT = 0, SC_SOCK_WORKER = 1, SC_SOCK_VERIFIER = 2, SC_SOCKS = 3 };

enum sc_conn_state {
    SC_CONN_RECV = 0, /* waiting for a request */
    SC_CONN_BUSY,     /* handling it (decode, journal, park) */
    SC_CONN_SEND      /* reply being sent */
};

/* One request at a time: on a socket spoken directly (ipc://, tcp://) a
 * request taken from the socket's free list, holding the request's
 * reference (rq); on an NNG socket an NNG context with its aio. */
struct sc_conn {
    struct sched *s;
    int sock;                  /* enum sc_sock */
    uint32_t index;
    vt_sp_rep_req rq;          /* direct: the request being answered */
    sc_conn *free_next;        /* direct: the socket's free list */
    vt_buf out_defer;          /* direct: reply made under the core lock, sent at unlock */
    nng_ctx ctx;               /* NNG */
    nng_aio *aio;              /* NNG */
    int state;                 /* NNG: enum sc_conn_state */
    uint32_t gen;              /* bumped per park: timer heap entries check it */
    uint32_t pipe;             /* pipe of the request being handled */
    /* parked long poll (fetch/vfetch) or result wait */
    bool parked;
    uint64_t park_until_ms;
    uint32_t node;             /* fetch: the node */
    uint32_t want;             /* fetch: jobs it can take */
    uint32_t job_slot;         /* result wait: the job */
    uint32_t job_gen;
    sc_conn *next_waiter;      /* job's waiter list */
    sc_conn *out_next;         /* core outbox: reply queued while the core lock is held */
    nng_msg *out_msg;
    sc_conn *park_prev, *park_next; /* role's parked fetch list */
    /* dispatch scratch */
    uint32_t n_batch;
    uint32_t *batch;           /* job slots, VT_PROTO_MAX_BATCH */
    vt_buf out_buf;            /* reply encoding, kept across requests (no malloc/realloc per reply) */
    /* submit awaiting its journal write */
    uint32_t submit_slot;
    bool submit_dup;
    uint32_t submit_wait_ms;   /* submit with wait_ms: park for the result once journaled */
};

/* Argument of a socket's pipe-event and request callbacks. */
typedef struct sc_pipe_arg {
    struct sched *s;
    int sock;
} sc_pipe_arg;

/* A socket spoken directly (vt_sp.h): its server and free requests. */
typedef struct sc_direct {
    bool on;                   /* set at start: this socket is not NNG's */
    pthread_mutex_t mu;        /* guards the fields below */
    vt_sp_rep *srv;            /* NULL once stopping */
    sc_conn *free;
    bool stalled;              /* the server was refused a request: resume it */
} sc_direct;

/* ------------------------------------------------------------- journal */

enum sc_jr_kind { SC_JR_SUBMIT = 1, SC_JR_FINAL = 2, SC_JR_LOOKUP = 3 };

typedef struct sc_jr_item {
    int kind;
    uint32_t slot, gen;        /* SUBMIT/FINAL: job */
    uint64_t job_id;
    uint8_t *bytes;            /* SUBMIT: journal record; LOOKUP of a result: the reply (owned) */
    size_t len;
    char tokkey[96];           /* SUBMIT, fresh FINAL with token: Redis key */
    uint8_t defer;             /* SUBMIT of a deferred job: writes nothing, releases the job */
    uint8_t fresh;             /* FINAL of a deferred job: claims its token, never pending */
    uint8_t early;             /* SUBMIT: a deferred job's record, written before its end: conn is
                                * answered with the job's state, */
    uint8_t as_dup;            /* or with submit_ok duplicate (a resend without a wait) */
    sc_conn *conn;             /* LOOKUP: the agent request waiting; SUBMIT: the submitter */
    int lookup_type;           /* LOOKUP: VT_MSG_STATUS / VT_MSG_RESULT */
    uint32_t agent;            /* LOOKUP: who asks */
    struct sc_jr_item *next;
    /* filled by the journal thread */
    int rc;
    uint64_t dup_of;           /* SUBMIT: token already used by this job id */
    uint8_t *reply;            /* LOOKUP: stored record */
    size_t reply_len;
} sc_jr_item;

typedef struct sc_journal {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sc_jr_item *head, *tail;
    size_t n_pending;
    /* The transparency log: the journal appends receipt hashes and signs one
     * tree head per turn; agents' log_* requests read it. tlog_mu guards
     * tlog and th (never held with the core lock). */
    pthread_mutex_t tlog_mu;
    vt_tlog *tlog;
    vt_tree_head th;
    /* What Redis's persistence settings were last said to be: said at every
     * journal connect, and again by the arbiter's poll when they change on
     * a live Redis (CONFIG SET). persist_mu guards persist_seen. */
    pthread_mutex_t persist_mu;
    vt_redis_persistence_seen persist_seen;
    bool stop;
    bool waiting;              /* the thread sleeps on cv: producers signal only then */
    bool idle;                 /* nothing queued and nothing in flight */
    pthread_cond_t idle_cv;
    atomic_bool redis_ok;
    atomic_uint_fast64_t epoch;
    vt_redis *r;
    pthread_t thread;
    uint64_t *orphans;         /* journal thread: duplicate submits written, to delete next turn */
    size_t n_orphans, cap_orphans;
    bool relog;                /* journal thread: a log write failed; reload the log on reconnect */
    char down_why[256];        /* journal thread: why Redis was last said to be unusable */
    /* journal thread only: 3 per final record of a turn (canonical record,
     * receipt body, sealed receipt), kept across turns (sc_journal.c) */
    vt_buf *scratch;
    size_t n_scratch;
    /* journal thread only: log_receipts' per-receipt arrays (index,
     * inclusion proof of ~2 KB, up to 64 new log nodes), kept across turns
     * like scratch and never zeroed: each turn fills what it reads */
    uint64_t *lr_index;
    vt_tlog_proof *lr_incl;
    vt_tlog_node *lr_nodes;
    size_t lr_cap;             /* receipts they hold */
} sc_journal;

/* -------------------------------------------------------------- config */

typedef struct sc_alias {
    char name[VT_MODEL_NAME_MAX + 1];
    uint8_t sha256[VT_SHA256_BYTES];
} sc_alias;

typedef struct sc_config {
    const char *agent_listen, *worker_listen, *verifier_listen;
    const char *redis_url;
    const char *key_file, *auth_secret_file;
    const char *http;
    int64_t recv_max, queue_max, lease_ms, nomodel_wait_ms, result_ttl_s, max_verifiers;
    sc_alias *aliases;
    size_t n_aliases;
    const char *memsync_url;   /* --memsync (NULL: memory jobs refused) */
    int64_t memsync_timeout_ms;
    const char *verify_seed;   /* --verify-seed (VT_TEST_FAULTS builds only) or NULL */
    int64_t fault_final_alloc; /* --fault-final-alloc (VT_TEST_FAULTS builds only): so many
                                * final records fail to allocate (core lock; counts down) */
    const char *audit_rate_s;  /* --audit-rate as given */
    double audit_rate;
    int64_t recent_window, max_panel;
    bool verify_same_operator; /* single-organisation deployments: the operator rule is off */
} sc_config;

/* ------------------------------------------------------------- arbiter
 * Verification decisions come from vt_arbiter (arbiter/README.md, "Scheduler
 * hooks"); sc_arbiter.c carries them out. */
#define SC_AUDIT_SRC 32   /* recently verified tasks audits are copied from */
#define SC_AUDIT_OUT 64   /* audit tasks in flight */
#define SC_RECHECK_MAX 64 /* delivered jobs of quarantined workers waiting for a replay */

typedef struct sc_audit_src {
    bool used;
    vt_wire_task task;         /* pointers into blob */
    void *blob;
    uint32_t n_seen;           /* the worker and every voter: never audited with it */
    uint8_t seen[SC_MAX_VERDICTS + 1][VT_PUBKEY_BYTES];
} sc_audit_src;

typedef struct sc_audit_out {
    uint64_t lease_id;         /* 0: free */
    uint64_t task_id;
    uint64_t deadline_ms;
    uint32_t node, node_gen;
    bool expected_pass;
    bool recheck;              /* a re-check of a quarantined worker's delivered job */
    char job_id[VT_JOB_ID_MAX + 1];
} sc_audit_out;

typedef struct sc_arb_op sc_arb_op;

typedef struct sc_arb {
    /* core lock */
    vt_arb_rng rng;
    vt_arb_qset qset;
    sc_audit_src src[SC_AUDIT_SRC];
    uint32_t src_next;
    sc_audit_out out[SC_AUDIT_OUT];
    sc_audit_src recheck[SC_RECHECK_MAX]; /* [0..n_recheck): pending re-checks */
    uint32_t n_recheck;
    uint64_t next_repick_ms;   /* sc_arb_tick's re-pick pass */
    /* Redis writes and polls: the arbiter thread's own connection; ops are
     * queued under mu (taken after the core lock, never before it) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sc_arb_op *head, *tail;
    bool stop, started;
    bool waiting;              /* the thread sleeps on cv: op_push signals only then */
    vt_redis *r;
    pthread_t thread;
    /* /metrics text, rendered by the arbiter thread */
    pthread_mutex_t mmu;
    vt_strbuf metrics;
} sc_arb;

/* ------------------------------------------------------------- metrics */

typedef struct sc_metrics {
    vt_metrics *reg;
    vt_gauge *queue_depth, *workers_live, *verifiers_live, *redis_up, *redis_fsync_always;
    vt_gauge *tlog_entries;
    vt_gauge *tlog_memory;
    vt_gauge *jobs_state[VT_JOB_STATE__COUNT];
    vt_counter *submitted, *finished[VT_JOB_STATE__COUNT];
    vt_counter *rej_overloaded, *rej_unavailable, *rej_auth, *rej_invalid, *rej_closed,
        *rej_nomodel;
    vt_counter *verify_failures, *lease_expired, *redis_errors, *bad_msgs[SC_SOCKS],
        *pipes_dropped, *nodes_refused, *results_stale, *results_dup;
    vt_histogram *h_queue, *h_compute, *h_verify, *h_e2e, *h_jr_batch;
} sc_metrics;

/* ---------------------------------------------------------------- agents */

typedef struct sc_agent {
    char id[VT_AGENT_ID_BUFSZ];
    uint32_t n_queued;         /* its jobs in compute lanes now (fair share, sc_model.c) */
    uint64_t last_tag;         /* fair-share tag of its latest queued job */
} sc_agent;

/* The auth pool: Redis connections for registry look-ups from NNG
 * callbacks (API-key cache misses, node allow-list), each behind a lock. */
#define SC_AUTH_CONNS 2
typedef struct sc_auth {
    vt_agent_cache *cache;
    pthread_mutex_t mu[SC_AUTH_CONNS];
    vt_redis *r[SC_AUTH_CONNS];
    atomic_uint next;
} sc_auth;

/* ----------------------------------------------------------- the state */

typedef struct sched {
    sc_config cfg;
    vt_log *log;
    vt_ratelimit bad_rl;       /* hostile input must not flood the log */
    vt_keypair key;
    uint8_t auth_secret[VT_AUTH_SECRET_BYTES];
    sc_metrics m;
    sc_auth auth;
    nng_socket sock[SC_SOCKS];
    sc_direct direct[SC_SOCKS];
    sc_conn *conns[SC_SOCKS];
    sc_pipe_arg pipe_args[SC_SOCKS];
    int n_conns[SC_SOCKS];
    sc_journal jr;
    sc_arb arb;
    pthread_t ticker;
    atomic_bool ticker_stop;
    atomic_bool draining;      /* SIGTERM: submits answer closed */
    atomic_bool closing;       /* sockets being closed: pipe events are ignored */
    struct sc_tokenizers *toks; /* --tokenizer files (read-only after start-up) */
    struct sc_memstage *memst;  /* --memsync: the memory stage (sc_memory.c), or NULL */

    /* ---- everything below is guarded by mu ---- */
    pthread_mutex_t mu;
    _Atomic(pthread_t) mu_owner; /* holder of mu (0 when free): replies made under mu are deferred */
    sc_conn *outbox;           /* replies to send once mu is released */
    sc_job **chunks;           /* jobs live in fixed chunks: slots never move */
    uint32_t n_chunks;
    uint32_t n_slots;
    uint32_t free_head;        /* free slot list through fifo_next */
    sc_map by_id;              /* job id -> slot */
    sc_map by_token;           /* (agent, token) digest -> slot */
    sc_map by_lease;           /* lease id -> slot */
    uint8_t token_key[16];     /* siphash key for by_token */
    uint32_t job_seq;          /* low bits of job ids in this epoch */
    uint64_t next_seq;
    uint64_t vtime;            /* fair share: the largest tag dispatched from a compute lane */
    uint64_t next_lease;
    sc_model *models;
    uint32_t n_models;
    sc_node *nodes;
    uint32_t n_nodes;
    sc_agent *agents;
    uint32_t n_agents, cap_agents;
    sc_map agent_by_hash;
    sc_conn *parked[SC_LANES]; /* parked fetch/vfetch list heads */
    sc_th deadlines;           /* job deadlines */
    sc_th leases;              /* lease deadlines (lazy: re-armed on pop if extended) */
    sc_th waits;               /* parked conns' long-poll ends (slot = conn index | sock<<24) */
    uint32_t done_head, done_tail; /* finished, journaled jobs in finish order */
    uint64_t n_queued;         /* jobs waiting for a compute lease, incl. journal-pending */
    uint64_t n_active;         /* jobs not done */
    uint64_t n_state[VT_JOB_STATE__COUNT];
    double dispatch_rate;      /* EWMA of compute leases per second (retry hints) */
    uint64_t dispatched_since_tick;
    uint64_t last_rate_ms;
    uint64_t last_node_check_ms;
} sched;

/* ----------------------------------------------------------- functions */

/* sc_jobs.c: slots and lookups (core lock held) */
int sc_jobs_init(sched *s);
void sc_jobs_free(sched *s);
sc_job *sc_job_at(sched *s, uint32_t slot);
int sc_job_alloc(sched *s, uint32_t *slot);
void sc_job_release(sched *s, uint32_t slot);
sc_job *sc_job_find(sched *s, const char *job_id, uint32_t *slot);
void sc_job_id_format(uint64_t id, char out[VT_JOB_ID_MAX + 1]);
void sc_hex16(uint64_t v, char out[17]); /* 16 lower-case hex digits and a NUL */
/* Redis key of an agent's request token: verity:sched:tok:<agent>:<32 hex>. */
void sc_token_rkey(const char *agent_id, const uint8_t token[VT_REQUEST_TOKEN_BYTES], char out[96]);
int sc_job_id_parse(const char *s, uint64_t *id);
uint64_t sc_token_key(const sched *s, uint32_t agent, const uint8_t token[VT_REQUEST_TOKEN_BYTES]);
uint32_t sc_agent_intern(sched *s, const char *agent_id);
int32_t *sc_job_heap_pos(void *ctx, uint32_t slot);

/* sc_model.c: model table, lanes (core lock held) */
int sc_model_resolve(sched *s, const char *name, uint8_t sha[VT_SHA256_BYTES], vt_errinfo *ei);
int sc_model_intern(sched *s, const uint8_t sha[VT_SHA256_BYTES], uint32_t *idx);
void sc_lane_push(sched *s, uint32_t slot, int lane);
void sc_lane_remove(sched *s, uint32_t slot);
bool sc_node_serves(const sc_node *n, uint32_t model);

/* sc_core.c: lifecycle (core lock held) */
void sc_core_accept(sched *s, uint32_t slot);                /* journaled submit -> queued */
void sc_core_enqueue(sched *s, uint32_t slot);               /* sc_core_accept, not counted as submitted */
void sc_core_forget(sched *s, uint32_t slot);                /* a submit that was never acknowledged */
void sc_core_finish(sched *s, uint32_t slot, int state, int err, const char *msg);
void sc_core_push_final(sched *s, uint32_t slot);            /* final record -> journal */
void sc_core_requeue(sched *s, uint32_t slot, const char *why);
void sc_core_requeue_verify(sched *s, uint32_t slot);
void sc_core_computed(sched *s, uint32_t slot, sc_result *r);
void sc_core_verdict(sched *s, uint32_t slot, uint32_t node, const vt_wire_verdict *v,
                     sc_vrec *rec);
void sc_job_clear_vrecs(sc_job *j);
void sc_core_dispatch(sched *s, int lane);
void sc_core_tick(sched *s, uint64_t now_ms);
void sc_core_node_dead(sched *s, uint32_t node, const char *why);
void sc_core_void_lease(sched *s, sc_job *j);
void sc_core_final_journaled(sched *s, uint32_t slot);
void sc_core_update_gauges(sched *s);

/* sc_net.c: sockets and contexts */
int sc_net_start(sched *s, vt_errinfo *ei);
void sc_net_stop(sched *s);  /* no more requests; contexts stay allocated */
void sc_net_free(sched *s);  /* once no thread can reply any more */
void sc_conn_reply(sc_conn *c, const vt_buf *b);        /* send bytes, then recv again */
void sc_conn_reply_error(sc_conn *c, int code, const char *msg, uint32_t retry_ms);
void sc_conn_reply_msg(sc_conn *c, const vt_msg *m);
void sc_conn_park(sched *s, sc_conn *c, uint64_t until_ms); /* core lock held */
void sc_conn_unpark(sched *s, sc_conn *c);                  /* core lock held */
void sc_bad_message(sched *s, sc_conn *c, int code, const char *detail);

/* sc_agent.c: agent requests */
typedef struct sc_spec_info {
    uint8_t sha[VT_SHA256_BYTES];
    int verify_k, verify_mode;
    bool optimistic;
    uint8_t digest[VT_HASH_BYTES];
} sc_spec_info;
int sc_spec_check(sched *s, const vt_job_spec *sp, sc_spec_info *si, vt_errinfo *ei);
int sc_job_setup(sched *s, uint64_t id, uint32_t agent, const sc_spec_info *si, vt_msg *m,
                 uint32_t *slot_out);
void sc_agent_handle(sc_conn *c, const uint8_t *body, size_t len);
void sc_agent_reply_job(sched *s, sc_conn *c, sc_job *j, int type); /* core lock held */
void sc_agent_lookup_done(sched *s, sc_jr_item *it);                 /* core lock held */
void sc_agent_wait_timeout(sched *s, sc_conn *c);                    /* core lock held */
void sc_agent_submit_done(sched *s, sc_jr_item *it);                 /* core lock held */
void sc_agent_fresh_done(sched *s, sc_jr_item *it);                  /* core lock held */
/* A deferred job whose final record cannot be written (out of memory):
 * nobody was told its id, so its waiting agents hear `unavailable` (a
 * resend with the same token runs it again) and it is forgotten. */
void sc_agent_deferred_unrecorded(sched *s, uint32_t slot);
void sc_agent_journal_deferred(sched *s);                            /* drain starts */
void sc_agent_release_submits(sched *s, sc_jr_item *list);           /* journal turn starts */

/* sc_node.c: worker and verifier requests */
void sc_node_handle(sc_conn *c, const uint8_t *body, size_t len);
void sc_node_fetch_reply(sched *s, sc_conn *c);                      /* core lock held */

/* sc_journal.c */
int sc_journal_start(sched *s, vt_errinfo *ei);
/* Read Redis's persistence settings on r; say them (and set the gauge)
 * when they differ from what was said last. The arbiter's poll. */
void sc_journal_persistence_poll(sched *s, vt_redis *r);
void sc_journal_stop(sched *s);
void sc_journal_push(sched *s, sc_jr_item *it);
bool sc_journal_wait_idle(sched *s, uint64_t timeout_ms);
int sc_journal_encode_submit(sched *s, const sc_job *j, vt_buf *out);

/* sc_record.c: stored records, receipt */
typedef struct sc_final_view {
    bool is_final;
    char agent[VT_AGENT_ID_BUFSZ + 16];
    uint64_t id;
    int state;
    uint64_t submitted_ms, leased_ms, computed_ms, finished_ms, deadline_ms;
    uint32_t attempts;
    vt_verify_summary verify;
    bool has_worker;
    uint8_t worker[VT_PUBKEY_BYTES];
    /* A final record holds either the whole reply (`result`) or the receipt
     * and what the reply has beyond it (`receipt`, error, verdicts): see
     * sc_record_reply. Views into the decoded buffer. */
    const uint8_t *result, *submit, *receipt;
    size_t result_len, submit_len, receipt_len;
    int32_t error;
    const char *error_msg; /* not NUL-terminated: error_msg_len bytes; NULL = none */
    uint32_t error_msg_len;
    vt_job_verdict verdicts[SC_MAX_VERDICTS];
    uint32_t n_verdicts;
} sc_final_view;
int sc_record_leaf(const sc_job *j, const char *job_id, const char *agent, vt_buf *w);
int sc_record_batch_sign(const vt_keypair *kp, const uint8_t root[VT_HASH_BYTES],
                         uint8_t sig[VT_SIG_BYTES]);
int sc_record_receipt(const vt_buf *leaf_bytes, const vt_merkle_proof *p,
                      const uint8_t root[VT_HASH_BYTES], const uint8_t sig[VT_SIG_BYTES],
                      const uint8_t pk[VT_PUBKEY_BYTES], vt_buf *w);
void sc_result_outputs(const sc_result *res, vt_msg_result_ok *r);
int sc_record_result_ok(sched *s, const sc_job *j, const uint8_t *receipt, size_t receipt_len,
                        vt_buf *out);
int sc_record_encode_final(const sc_job *j, const char *agent, const vt_buf *result_ok,
                           const vt_buf *receipt, vt_buf *w);
int sc_record_decode(const uint8_t *buf, size_t len, sc_final_view *v);
int sc_record_reply(const sc_final_view *v, uint64_t job_id, vt_buf *out);
int sc_record_receipt_of(const sc_final_view *v, const uint8_t **receipt, size_t *len,
                         vt_msg *scratch);
int sc_receipt_body(const sched *s, const sc_job *j, const char *agent, vt_buf *out);
int sc_record_decode_final(const uint8_t *buf, size_t len, sc_final_view *v);

/* sc_tokenize.c: text prompts -> token ids with the model's tokenizer */
typedef struct sc_tokenizers sc_tokenizers;
int sc_tokenizers_load(sched *s, const vt_strlist *paths, vt_errinfo *ei);
void sc_tokenizers_free(sched *s);
size_t sc_tokenizers_count(const sched *s);
/* Replace a text prompt in a submit by its tokens (no-op when the submit
 * has tokens); *m is re-decoded, so pointers into it must be refreshed. */
int sc_submit_tokenize(sched *s, vt_msg *m, vt_errinfo *ei);

/* sc_memory.c: memory-augmented jobs (--memsync) */
typedef struct sc_jobmem sc_jobmem;
typedef struct sc_memstage sc_memstage;
int sc_mem_start(sched *s, vt_errinfo *ei);  /* no-op without --memsync */
void sc_mem_stop(sched *s);
bool sc_mem_wanted(const vt_job_spec *sp);   /* memory_k > 0 or remember */
/* Submit-time checks of a memory job (no lock): --memsync set, text prompt. */
int sc_mem_check_submit(sched *s, const vt_job_spec *sp, vt_errinfo *ei);
/* Journaled job: memory jobs enter the memory stage, others sc_core_accept
 * (core lock held). */
void sc_mem_accept(sched *s, uint32_t slot);
/* End a job that never left the memory stage (failed there, or cancelled):
 * it enters the lifecycle only to be finished; a retrieval still under way
 * then finds it gone and drops (core lock). */
void sc_mem_end(sched *s, uint32_t slot, int state, int code, const char *msg);
void sc_mem_job_done(sched *s, sc_job *j);   /* final record journaled: remember (core lock) */
void sc_mem_receipt(const sc_job *j, vt_receipt *r); /* has_memory, memory_head, memory_text */
void sc_jobmem_free(sc_jobmem *m);

/* sc_arbiter.c: policy, verifier choice, disputes, audits, quarantine */
int sc_arb_start(sched *s, vt_errinfo *ei);
void sc_arb_stop(sched *s);
void sc_arb_metrics(void *arg, vt_strbuf *out);               /* /metrics extra */
bool sc_arb_quarantined(const sched *s, const uint8_t pk[VT_PUBKEY_BYTES]); /* core lock */
void sc_arb_quarantine_node(sched *s, const uint8_t pk[VT_PUBKEY_BYTES], const char *why); /* core lock */
bool sc_arb_computed(sched *s, uint32_t slot);     /* result accepted: verify it? (core lock) */
void sc_arb_verdict(sched *s, uint32_t slot, uint32_t node, const vt_wire_verdict *v);
bool sc_arb_picked(const sc_job *j, const uint8_t pk[VT_PUBKEY_BYTES]);
void sc_arb_repick(sched *s, sc_job *j);            /* verify lease lost */
void sc_job_wake_waiters(sched *s, sc_job *j);      /* answer the agents parked on the job */
uint32_t sc_arb_add_audits(sched *s, const sc_conn *c, vt_wire_task *tasks, uint32_t n,
                           uint32_t cap, vt_arb_audit *audits, uint32_t *n_audits);
bool sc_arb_audit_lease(sched *s, uint64_t lease_id, uint32_t node); /* heartbeat */
bool sc_arb_audit_verdict(sched *s, uint32_t node, const uint8_t pk[VT_PUBKEY_BYTES],
                          const vt_wire_verdict *v);
void sc_arb_tick(sched *s, uint64_t now_ms);
bool sc_arb_undecided(sched *s, uint32_t slot); /* verify wait over: dispute counts as capped */

/* sc_metrics.c */
int sc_metrics_init(sched *s, vt_errinfo *ei);

/* sc_auth.c */
int sc_auth_init(sched *s, vt_errinfo *ei);
void sc_auth_free(sched *s);
int sc_auth_agent(sched *s, const char *key, char id_out[VT_AGENT_ID_BUFSZ], vt_errinfo *ei);
/* A hello whose signature and clock were checked: its key must be on the
 * allow-list with this role and its nonce unused for nonce_ttl_ms
 * (VT_ERR_AUTH otherwise; VT_ERR_UNAVAILABLE when Redis is down). */
int sc_auth_node(sched *s, const vt_msg_hello *h, int role, uint32_t nonce_ttl_ms,
                 char op_out[VT_NAME_MAX + 1], vt_errinfo *ei);
int sc_auth_recheck_nodes(sched *s, vt_redis *r); /* arbiter thread, no lock held */

/* The core lock is held for microseconds by many NNG callback threads:
 * trying a few times before sleeping saves a context switch on most
 * contended acquisitions. */
static inline void sc_lock(sched *s)
{
    int i;
    for (i = 0; i < 64; i++)
        if (pthread_mutex_trylock(&s->mu) == 0)
            break;
    if (i == 64)
        pthread_mutex_lock(&s->mu);
    atomic_store_explicit(&s->mu_owner, pthread_self(), memory_order_relaxed);
}
/* Release the core lock, then send the replies queued under it (NNG's send
 * path takes its own locks and may write to the socket: not under ours). */
void sc_unlock(sched *s);

static inline uint64_t sc_lane_for_role(int role) { return role == VT_HELLO_VERIFIER ? SC_LANE_VERIFY : SC_LANE_COMPUTE; }

#endif
