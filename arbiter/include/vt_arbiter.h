/* vt_arbiter.h - verification policy, disputes, audits, quarantine and
 * reputation (library vt_arbiter). arbiter/README.md explains
 * the rules and the scheduler hooks; this header is the API.
 *
 * The scheduler owns every decision's CONSEQUENCES (leases, requeues,
 * delivery); this library owns the DECISIONS, so that they are small pure
 * functions that tests can drive exhaustively:
 *
 *   rng        a CSPRNG stream owned by its caller (no global state)
 *   policy     full:K | sampled:P | none, delivery verified | optimistic;
 *              should this job be verified; which verifiers may / do replay
 *   dispute    a per-job tally of verdicts and the decision rule
 *   audit      corrupted (or untouched) copies of real tasks that catch
 *              verifiers which never replay
 *   store      reputation counters, quarantine, recent jobs in Redis
 *
 * Nothing here locks: a vt_arb_rng, vt_arb_tally or vt_arb_qset belongs to
 * one thread or to data guarded by the caller's lock (the scheduler's
 * core.mu). Store functions take the caller's vt_redis (one per thread).
 * Functions return 0 or a negative vt_err code unless said otherwise.
 */
#ifndef VT_ARBITER_H
#define VT_ARBITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vt_err.h"
#include "vt_protocol.h"
#include "vt_redis.h"
#include "vt_strbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ===================================================================== rng
 * Production: bytes come from libsodium's randombytes_buf (the OS CSPRNG),
 * so no one outside the process can predict which job is sampled, which
 * verifier is picked or which task is an audit.
 *
 * Test builds (VT_TEST_FAULTS): vt_arb_rng_seed makes the stream
 * repeatable. The seeded stream is exactly the output of
 * randombytes_buf_deterministic(buf, size, seed) (ChaCha20-IETF keyed by the
 * seed), continued block by block, so a run can be reproduced from the
 * seed printed in its log. In release builds seeding is refused. */

typedef struct vt_arb_rng {
    bool seeded;
    uint8_t key[32];    /* seeded: ChaCha20 key */
    uint32_t block;     /* seeded: next ChaCha20 block counter */
    uint8_t buf[64];    /* unread bytes: buf[pos..64) */
    uint32_t pos;
} vt_arb_rng;

/* Unpredictable stream (randombytes_buf). VT_ERR_INTERNAL if libsodium
 * cannot start. */
int vt_arb_rng_init(vt_arb_rng *rng);
/* Repeatable stream from a 32-byte seed: VT_ERR_UNSUPPORTED unless built
 * with VT_TEST_FAULTS. */
int vt_arb_rng_seed(vt_arb_rng *rng, const uint8_t seed[32]);
/* Same from 64 hex characters (a --verify-seed flag); VT_ERR_INVAL if not. */
int vt_arb_rng_seed_hex(vt_arb_rng *rng, const char *hex, vt_errinfo *ei);
/* Forget the key material. */
void vt_arb_rng_wipe(vt_arb_rng *rng);

void vt_arb_rng_bytes(vt_arb_rng *rng, void *out, size_t n);
uint64_t vt_arb_rng_u64(vt_arb_rng *rng);
/* Uniform in [0, n) without modulo bias; n == 0 returns 0. */
uint32_t vt_arb_rng_below(vt_arb_rng *rng, uint32_t n);
/* Uniform in [0, 1) with 53 random bits. */
double vt_arb_rng_unit(vt_arb_rng *rng);
/* true with probability p (p <= 0: never, p >= 1: always). */
bool vt_arb_rng_chance(vt_arb_rng *rng, double p);

/* ================================================================== policy */

typedef enum vt_arb_delivery {
    VT_ARB_DELIVER_VERIFIED = 0,  /* result released only after the decision */
    VT_ARB_DELIVER_OPTIMISTIC = 1 /* released at once; verdicts follow */
} vt_arb_delivery;

typedef struct vt_arb_policy {
    vt_verify_policy verify; /* protocol's parsed form; FULL always has k >= 1 */
    vt_arb_delivery delivery;
} vt_arb_policy;

/* A job's policy from its submit fields. verify NULL = "full:1"; "full"
 * without K = "full:1"; full:K with K > max_verifiers is refused
 * (VT_ERR_INVAL naming the limit: asking for more checking than the
 * network gives must not silently become less). delivery NULL = verified. */
int vt_arb_policy_resolve(const char *verify, const char *delivery, uint32_t max_verifiers,
                          vt_arb_policy *out, vt_errinfo *ei);
const char *vt_arb_delivery_name(vt_arb_delivery d); /* "verified" | "optimistic" */

/* Passing verdicts needed when the job is verified: FULL k, SAMPLED 1,
 * NONE 0. */
uint32_t vt_arb_policy_k(const vt_verify_policy *p);

/* Call AFTER the worker's result is accepted (never before: a worker that
 * could learn the choice before answering would cheat only when unwatched).
 * FULL: true; NONE: false; SAMPLED: true with probability p. */
bool vt_arb_should_verify(const vt_verify_policy *p, vt_arb_rng *rng);

/* A node the scheduler could hand a verification task to. */
typedef struct vt_arb_candidate {
    uint8_t pk[VT_PUBKEY_BYTES];
    const char *operator_name; /* NULL or "" = unknown (only the key check applies) */
    bool live;
    bool quarantined;
} vt_arb_candidate;

/* May candidate c replay a job computed by worker_pk (of worker_operator)?
 * Not when: dead, quarantined, the worker itself, run by the worker's
 * operator (one organisation must not check its own work), or already
 * used for this job (exclude[n_exclude]: verifiers that gave a verdict
 * or hold a lease for the job). worker_operator NULL or "" = unknown. */
bool vt_arb_verifier_eligible(const vt_arb_candidate *c, const uint8_t worker_pk[VT_PUBKEY_BYTES],
                              const char *worker_operator,
                              const uint8_t (*exclude)[VT_PUBKEY_BYTES], size_t n_exclude);

/* Pick up to k distinct eligible candidates uniformly at random; their
 * indices go to out_idx[0..*n_out) (out_idx holds k). Fewer than k (even 0)
 * when not enough are eligible: the caller waits for more verifiers.
 * Selection is deliberately blind to load: a load-aware choice would let a
 * worker that can observe or inflate verifier load steer its job to a
 * colluding verifier. VT_ERR_INVAL for bad arguments. */
int vt_arb_pick_verifiers(const vt_arb_candidate *cand, size_t n,
                          const uint8_t worker_pk[VT_PUBKEY_BYTES], const char *worker_operator,
                          uint32_t k, const uint8_t (*exclude)[VT_PUBKEY_BYTES], size_t n_exclude,
                          vt_arb_rng *rng, uint32_t *out_idx, uint32_t *n_out);

/* ================================================================= dispute
 * THE RULE (arbiter/README.md has a worked table):
 *  - No failing verdict: K passes => VERIFIED; fewer => PENDING (need the
 *    rest).
 *  - Any failing verdict starts a dispute, decided by majority over a panel
 *    of N = max(3, 2K-1) verifiers (capped at max_panel). N is odd and its
 *    strict majority is M = max(2, K): the result is VERIFIED once M
 *    verifiers passed it (so also the K passes the policy asked for), the
 *    worker is FAULTY once M failed it; later verdicts cannot change that.
 *    Until then NEED_TIEBREAK asks for the fewest extra verdicts that could
 *    end it. N >= 3 means no single verifier can get a worker quarantined,
 *    nor clear a result another verifier failed.
 *  - Pass majority => VERIFIED; the verifiers that failed are overruled
 *    (quarantined). Fail majority => WORKER_FAULTY; the worker and the
 *    verifiers that passed are quarantined.
 *  - Cap reached without a majority (only when max_panel < N, e.g. K > 8
 *    with the 16 verdicts a job carries) => WORKER_FAULTY with `capped` set
 *    and NOBODY quarantined: the result is contested, so it is never
 *    delivered (re-execution costs compute; delivering a wrong result costs
 *    the agent's trust), and blame cannot be attributed. With the cap
 *    under N, a pass still needs K votes and a majority of the capped
 *    panel; a fail needs a majority of it. max_panel < 3 turns tie-breaks
 *    off (one failing verdict convicts when max_panel is 1).
 * After WORKER_FAULTY the scheduler re-executes on another worker and runs a
 * fresh tally for the new result. */

#define VT_ARB_MAX_PANEL VT_PROTO_MAX_VERDICTS /* verdicts a job can carry */

typedef struct vt_arb_vote {
    uint8_t verifier[VT_PUBKEY_BYTES];
    bool pass;
    vt_fault fault;
} vt_arb_vote;

typedef struct vt_arb_tally {
    uint32_t n, n_pass, n_fail;
    vt_arb_vote votes[VT_ARB_MAX_PANEL];
} vt_arb_tally;

void vt_arb_tally_init(vt_arb_tally *t);
/* Count one verdict. VT_ERR_EXISTS if this verifier already voted (one
 * vote per key, as in receipts), VT_ERR_RANGE when the tally is full. */
int vt_arb_tally_add(vt_arb_tally *t, const uint8_t verifier[VT_PUBKEY_BYTES], bool pass,
                     vt_fault fault);
/* The voters so far, as an exclude list for vt_arb_pick_verifiers. */
void vt_arb_tally_voters(const vt_arb_tally *t, uint8_t (*out)[VT_PUBKEY_BYTES]);

typedef enum vt_arb_outcome {
    VT_ARB_PENDING = 0,     /* no dispute, fewer than K passes: need more */
    VT_ARB_VERIFIED,        /* deliver */
    VT_ARB_WORKER_FAULTY,   /* never deliver; re-execute elsewhere */
    VT_ARB_NEED_TIEBREAK    /* dispute open: ask `need` more verifiers */
} vt_arb_outcome;
const char *vt_arb_outcome_name(vt_arb_outcome o); /* "pending", "verified", ... */

typedef struct vt_arb_decision {
    vt_arb_outcome outcome;
    uint32_t need;              /* PENDING / NEED_TIEBREAK: verdicts still to request
                                 * (minus any the caller has in flight) */
    uint32_t panel;             /* dispute panel size N (K when undisputed) */
    bool disputed;              /* at least one failing verdict */
    bool capped;                /* WORKER_FAULTY only because max_panel was reached */
    bool quarantine_worker;
    uint32_t n_overruled;       /* verifiers that contradicted the majority */
    uint32_t overruled[VT_ARB_MAX_PANEL]; /* indices into tally->votes */
} vt_arb_decision;

/* k: 1..VT_ARB_MAX_PANEL. max_panel: 0 = min(2K+1, VT_ARB_MAX_PANEL); else
 * k..VT_ARB_MAX_PANEL. VT_ERR_INVAL otherwise. */
int vt_arb_decide(const vt_arb_tally *t, uint32_t k, uint32_t max_panel, vt_arb_decision *out);

/* =================================================================== audit
 * An audit task is a copy of a real, already VERIFIED task handed to a
 * verifier that had nothing to do with that job. Corrupted copies must
 * fail, untouched ones must pass; a verifier that answers otherwise is
 * lying (or broken) and is quarantined. Hand audits only to verifiers that
 * did not see the original job (else two tasks for one job id tell it
 * apart), with fresh task and lease ids like any task. */

typedef enum vt_arb_corruption {
    VT_ARB_CORRUPT_NONE = 0,   /* untouched: expected PASS */
    VT_ARB_CORRUPT_TOKEN = 1,  /* one output token replaced by another valid id */
    VT_ARB_CORRUPT_DIGEST = 2  /* trace digest altered */
} vt_arb_corruption;

typedef struct vt_arb_audit {
    vt_wire_task task;          /* what to send; pointers into the honest task or `output` */
    int32_t *output;            /* owned copy of the output tokens (TOKEN), else NULL */
    vt_arb_corruption how;
    uint32_t position;          /* TOKEN: index into the output that was replaced */
    bool expected_pass;
} vt_arb_audit;

/* true with probability rate: should this verification lease be an audit? */
bool vt_arb_audit_due(double rate, vt_arb_rng *rng);

/* Make an audit copy of honest (which must outlive *out). corrupt=false:
 * untouched (expected PASS). corrupt=true: pick at random between replacing
 * the token at a random output position (with another id below n_vocab, or
 * when n_vocab is 0, another id that occurs in the task's prompt or output,
 * so it is valid for the model) and altering the trace digest (always used
 * when there is no output or no other id). Expected FAIL. */
int vt_arb_audit_make(const vt_wire_task *honest, bool corrupt, uint32_t n_vocab,
                      vt_arb_rng *rng, vt_arb_audit *out);
/* vt_arb_audit_make(honest, true, ...). */
int vt_arb_audit_corrupt(const vt_wire_task *honest, uint32_t n_vocab, vt_arb_rng *rng,
                         vt_arb_audit *out);
void vt_arb_audit_free(vt_arb_audit *a);

typedef enum vt_arb_audit_result { VT_ARB_AUDIT_OK = 0, VT_ARB_VERIFIER_LIES = 1 } vt_arb_audit_result;
vt_arb_audit_result vt_arb_audit_judge(bool expected_pass, bool verdict_pass);

/* Detection bound. With audit rate a, a verifier that always answers pass
 * survives n audited-eligible tasks with probability (1-a)^n; this returns
 * the smallest n with 1 - (1-a)^n >= confidence (e.g. 0.999), or 0 for
 * rate <= 0 or confidence outside (0, 1) (never certain). rate >= 1: 1. */
uint64_t vt_arb_audit_tasks_to_catch(double rate, double confidence);

/* =================================================================== store
 * Redis keys (the {hash tag} keeps one node's keys in one slot):
 *   verity:rep:{<pubhex>}         HASH  reputation counters (field names
 *                                       below), only ever HINCRBY
 *   verity:quarantine             SET   pubhex of quarantined nodes
 *   verity:quarantine:{<pubhex>}  HASH  reason, since_ms (while quarantined)
 *   verity:quarantine:epoch       STRING counter bumped on every quarantine
 *                                       or release (cheap change polling)
 *   verity:quarantine:history     LIST  newest first, "ms<TAB>action<TAB>
 *                                       pubhex<TAB>reason", capped at
 *                                       VT_ARB_HISTORY_MAX
 *   verity:recent:{<pubhex>}      LIST  newest first: job ids the node
 *                                       computed (workers) or passed
 *                                       (verifiers), capped to a window
 * Quarantine and release are Lua scripts: atomic, and idempotent when a
 * failed command is retried.
 *
 * "queue" variants only append commands to r's pipeline (vt_redis_append)
 * and add how many to *n_queued, so the scheduler's journal thread can
 * batch them with its own writes; read the replies with
 * vt_arb_store_flush (or vt_redis_read_replies). The plain variants are
 * queue + flush. */

#define VT_ARB_HISTORY_MAX 1000
#define VT_ARB_REASON_MAX 200      /* bytes kept of a reason (printable ASCII) */
#define VT_ARB_RECENT_MAX 10000    /* largest recent-jobs window */

typedef enum vt_arb_counter {
    VT_ARB_C_JOBS = 0,         /* worker: results accepted */
    VT_ARB_C_VERIFIED,         /* worker: results that ended verified */
    VT_ARB_C_FAILED,           /* worker: results judged faulty */
    VT_ARB_C_VERDICTS,         /* verifier: verdicts given (audits excluded) */
    VT_ARB_C_OVERRULED,        /* verifier: verdicts against the majority */
    VT_ARB_C_AUDITS_PASSED,    /* verifier: audit tasks answered right */
    VT_ARB_C_AUDITS_FAILED,    /* verifier: audit tasks answered wrong */
    VT_ARB_C_QUARANTINES,      /* times quarantined (maintained by quarantine) */
    VT_ARB_C__COUNT
} vt_arb_counter;
/* Redis field / metric stem: "jobs", "verified", "failed", "verdicts",
 * "overruled", "audits_passed", "audits_failed", "quarantines". */
const char *vt_arb_counter_name(vt_arb_counter c);

typedef struct vt_arb_rep {
    int64_t c[VT_ARB_C__COUNT];
} vt_arb_rep;

/* Read the replies of n queued commands; VT_ERR_INTERNAL (with the server's
 * message) if any was an error reply, VT_ERR_UNAVAILABLE on I/O failure. */
int vt_arb_store_flush(vt_redis *r, size_t n, vt_errinfo *ei);

/* Add delta's non-zero counters (one HINCRBY each). */
int vt_arb_store_queue_rep(vt_redis *r, const uint8_t pk[VT_PUBKEY_BYTES], const vt_arb_rep *delta,
                           size_t *n_queued, vt_errinfo *ei);
int vt_arb_store_add_rep(vt_redis *r, const uint8_t pk[VT_PUBKEY_BYTES], const vt_arb_rep *delta,
                         vt_errinfo *ei);
/* Counters of n nodes in one round trip (missing = 0). */
int vt_arb_store_get_reps(vt_redis *r, const uint8_t (*pks)[VT_PUBKEY_BYTES], size_t n,
                          vt_arb_rep *out, vt_errinfo *ei);

/* Remember job_id (1..VT_JOB_ID_MAX chars of [A-Za-z0-9_.:-]) as the node's
 * newest recent job, keeping the newest `window` (1..VT_ARB_RECENT_MAX). */
int vt_arb_store_queue_recent(vt_redis *r, const uint8_t pk[VT_PUBKEY_BYTES], const char *job_id,
                              uint32_t window, size_t *n_queued, vt_errinfo *ei);
int vt_arb_store_add_recent(vt_redis *r, const uint8_t pk[VT_PUBKEY_BYTES], const char *job_id,
                            uint32_t window, vt_errinfo *ei);
/* Up to max newest recent job ids, newest first (malformed entries are
 * skipped). *ids is one malloc'd block (free(*ids)); NULL when *n == 0. */
int vt_arb_store_recent(vt_redis *r, const uint8_t pk[VT_PUBKEY_BYTES], uint32_t max,
                        char (**ids)[VT_JOB_ID_MAX + 1], size_t *n, vt_errinfo *ei);

/* Quarantine pk (reason: free text, cut to VT_ARB_REASON_MAX printable
 * bytes). Newly quarantined: records reason and time, bumps the epoch and
 * the node's quarantine counter, appends to the history. Already
 * quarantined: changes nothing. The plain variant reports which in
 * *newly (may be NULL). */
int vt_arb_store_queue_quarantine(vt_redis *r, const uint8_t pk[VT_PUBKEY_BYTES], const char *reason,
                                  int64_t now_ms, size_t *n_queued, vt_errinfo *ei);
int vt_arb_store_quarantine(vt_redis *r, const uint8_t pk[VT_PUBKEY_BYTES], const char *reason,
                            int64_t now_ms, bool *newly, vt_errinfo *ei);
/* Operator action: lift the quarantine, logging why in the history.
 * VT_ERR_NOTFOUND if pk is not quarantined. */
int vt_arb_store_release(vt_redis *r, const uint8_t pk[VT_PUBKEY_BYTES], const char *reason,
                         int64_t now_ms, vt_errinfo *ei);
int vt_arb_store_is_quarantined(vt_redis *r, const uint8_t pk[VT_PUBKEY_BYTES], bool *out,
                                vt_errinfo *ei);
/* Changes whenever the quarantine set changes (0 if never). Poll it and
 * reload the set when it moved: releases come from the CLI. */
int vt_arb_store_quarantine_epoch(vt_redis *r, int64_t *out, vt_errinfo *ei);

typedef struct vt_arb_qinfo {
    uint8_t pk[VT_PUBKEY_BYTES];
    int64_t since_ms;
    char reason[VT_ARB_REASON_MAX + 1];
} vt_arb_qinfo;
/* Every quarantined node (scheduler start-up, CLI), sorted by key; *out
 * malloc'd (free it), NULL when *n == 0. */
int vt_arb_store_load_quarantined(vt_redis *r, vt_arb_qinfo **out, size_t *n, vt_errinfo *ei);

typedef struct vt_arb_history {
    int64_t ms;
    bool release;              /* false: quarantine */
    uint8_t pk[VT_PUBKEY_BYTES];
    char reason[VT_ARB_REASON_MAX + 1];
} vt_arb_history;
/* Newest first, at most max entries; *out malloc'd. */
int vt_arb_store_history(vt_redis *r, uint32_t max, vt_arb_history **out, size_t *n,
                         vt_errinfo *ei);

/* Everything a decision changes in Redis, queued: the worker's verified /
 * failed counter (not for a capped outcome), every voter's verdicts
 * counter, overruled counters, and the quarantines the decision calls for
 * (worker and overruled verifiers, reason naming job_id). Call once per
 * decided tally (VERIFIED or WORKER_FAULTY); other outcomes queue nothing. */
int vt_arb_store_queue_decision(vt_redis *r, const uint8_t worker_pk[VT_PUBKEY_BYTES],
                                const char *job_id, const vt_arb_tally *t,
                                const vt_arb_decision *d, int64_t now_ms, size_t *n_queued,
                                vt_errinfo *ei);

/* A worker result was accepted: jobs + 1 and job_id into the worker's
 * recent-jobs window (3 commands). */
int vt_arb_store_queue_result(vt_redis *r, const uint8_t worker_pk[VT_PUBKEY_BYTES],
                              const char *job_id, uint32_t window, size_t *n_queued,
                              vt_errinfo *ei);
/* An audit verdict was judged: audits_passed or audits_failed + 1 and, for
 * VT_ARB_VERIFIER_LIES, the verifier's quarantine (reason names job_id and
 * what it got wrong). */
int vt_arb_store_queue_audit(vt_redis *r, const uint8_t verifier_pk[VT_PUBKEY_BYTES],
                             const char *job_id, bool expected_pass, vt_arb_audit_result res,
                             int64_t now_ms, size_t *n_queued, vt_errinfo *ei);

/* -------------------------------------------------------------- gathering
 * Many events' writes as few commands: the counters of each node summed
 * (one HINCRBY per node and counter) and the job ids of each recent-jobs
 * list in order (one LPUSH of all of them and one LTRIM per list). Each
 * verified job otherwise costs five commands (three HINCRBY, LPUSH,
 * LTRIM), each an AOF entry in Redis. The counters and lists end up as
 * they would with the per-event commands (a list's LTRIM keeps the
 * smallest window gathered for it; callers use one window). Quarantines
 * (rare, Lua scripts) are not gathered: the vt_arb_gather_* calls that
 * may quarantine queue those on r at once and count them in *n_queued.
 *
 * A vt_arb_gather belongs to one thread; vt_arb_gather_queue empties it
 * and keeps its memory for the next round. */
typedef struct vt_arb_gnode {
    uint8_t pk[VT_PUBKEY_BYTES];
    vt_arb_rep delta;
    char (*recent)[VT_JOB_ID_MAX + 1]; /* oldest first */
    size_t n_recent, cap_recent;
    uint32_t window;                   /* 0: no recent ids gathered */
} vt_arb_gnode;

typedef struct vt_arb_gather {
    vt_arb_gnode *node;
    size_t n, cap;
} vt_arb_gather;

void vt_arb_gather_init(vt_arb_gather *g);
void vt_arb_gather_free(vt_arb_gather *g);
/* What vt_arb_store_queue_rep / _recent would queue (same validation). */
int vt_arb_gather_rep(vt_arb_gather *g, const uint8_t pk[VT_PUBKEY_BYTES], const vt_arb_rep *delta,
                      vt_errinfo *ei);
int vt_arb_gather_recent(vt_arb_gather *g, const uint8_t pk[VT_PUBKEY_BYTES], const char *job_id,
                         uint32_t window, vt_errinfo *ei);
/* What vt_arb_store_queue_result / _decision / _audit would queue. */
int vt_arb_gather_result(vt_arb_gather *g, const uint8_t worker_pk[VT_PUBKEY_BYTES],
                         const char *job_id, uint32_t window, vt_errinfo *ei);
int vt_arb_gather_decision(vt_arb_gather *g, vt_redis *r, const uint8_t worker_pk[VT_PUBKEY_BYTES],
                           const char *job_id, const vt_arb_tally *t, const vt_arb_decision *d,
                           int64_t now_ms, size_t *n_queued, vt_errinfo *ei);
int vt_arb_gather_audit(vt_arb_gather *g, vt_redis *r, const uint8_t verifier_pk[VT_PUBKEY_BYTES],
                        const char *job_id, bool expected_pass, vt_arb_audit_result res,
                        int64_t now_ms, size_t *n_queued, vt_errinfo *ei);
/* Queue the gathered writes on r (counted in *n_queued; read them with
 * vt_arb_store_flush) and empty g. */
int vt_arb_gather_queue(vt_arb_gather *g, vt_redis *r, size_t *n_queued, vt_errinfo *ei);

/* ============================================= in-memory quarantine set
 * The scheduler's copy (loaded at start, updated on its own decisions,
 * reloaded when the epoch moves). Sorted array; lookups O(log n). */
typedef struct vt_arb_qset {
    uint8_t (*pk)[VT_PUBKEY_BYTES];
    size_t n, cap;
} vt_arb_qset;

void vt_arb_qset_init(vt_arb_qset *s);
void vt_arb_qset_free(vt_arb_qset *s);
bool vt_arb_qset_has(const vt_arb_qset *s, const uint8_t pk[VT_PUBKEY_BYTES]);
int vt_arb_qset_add(vt_arb_qset *s, const uint8_t pk[VT_PUBKEY_BYTES]); /* VT_ERR_NOMEM */
void vt_arb_qset_remove(vt_arb_qset *s, const uint8_t pk[VT_PUBKEY_BYTES]);
/* Replace the contents with the n entries of q. */
int vt_arb_qset_assign(vt_arb_qset *s, const vt_arb_qinfo *q, size_t n);

/* ================================================================ metrics
 * Prometheus text for per-node reputation: for each counter
 * verity_node_<name>_total{node="<16 hex>",role="worker"} and the gauge
 * verity_node_quarantined{...} 0|1. role may be NULL entries ("?"). */
typedef struct vt_arb_node_rep {
    uint8_t pk[VT_PUBKEY_BYTES];
    const char *role;
    bool quarantined;
    vt_arb_rep rep;
} vt_arb_node_rep;
void vt_arb_render_metrics(vt_strbuf *out, const vt_arb_node_rep *nodes, size_t n);

#ifdef __cplusplus
}
#endif
#endif
