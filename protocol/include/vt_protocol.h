/* vt_protocol.h - Verity's wire contract (public API of the protocol module).
 *
 * Everything that crosses a socket is described here:
 *
 *   1. A bounded msgpack reader and a small msgpack writer (vt_mp_*). The
 *      reader never trusts a count: every array/map/str/bin length is checked
 *      against the bytes left before anything is allocated. memsync reuses
 *      these for its own messages.
 *   2. Versioned messages (vt_msg): one C struct per message type, one
 *      encoder and one decoder for all of them. Every message is a msgpack
 *      map {"v":1, "vm":minor, "t":"<type>", ...fields}. Unknown fields are
 *      ignored; a missing or mistyped required field is VT_ERR_PROTO with a
 *      detail naming the field; an unknown major version is VT_ERR_VERSION.
 *   3. Crypto: Ed25519 node keys, canonical bytes of signed leaves, Merkle
 *      batches (BLAKE2b-256) and batch signatures, hash helpers.
 *
 * The field-by-field specification lives in docs/protocol.md; the identity
 * model in docs/security.md.
 *
 * All functions return 0 or a negative vt_err code and fill an optional
 * vt_errinfo. Nothing here keeps global state except libsodium's one-time
 * initialisation (vt_protocol_init, idempotent and thread-safe).
 */
#ifndef VT_PROTOCOL_H
#define VT_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vt_err.h"
#include "vt_types.h"
#include "vt_engine.h" /* vt_sampling, VT_DIGEST_BYTES, VT_STOP_* */
#include "vt_types.h"  /* vt_node_role, vt_hex_encode / vt_hex_decode */

#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================ versions */

#define VT_PROTO_MAJOR 1 /* incompatible changes bump this */
#define VT_PROTO_MINOR 0 /* added optional fields bump this */

/* ================================================================== limits
 * Both encoder and decoder enforce these, so we never send what a peer
 * would reject. Exceeding one is VT_ERR_TOOBIG (detail names the field). */

#define VT_PROTO_MAX_MSG_DEFAULT (4u * 1024u * 1024u) /* NNG_OPT_RECVMAXSZ default */
#define VT_MP_MAX_DEPTH 16            /* nesting accepted by vt_mp_skip */
#define VT_PROTO_MAX_PROMPT_TOKENS 32768u
#define VT_PROTO_MAX_PROMPT_BYTES (256u * 1024u) /* prompt given as text */
#define VT_PROTO_MAX_OUTPUT_TOKENS 16384u
#define VT_PROTO_MAX_TEXT_BYTES (1024u * 1024u)  /* generated text, error messages */
#define VT_PROTO_MAX_EMBEDDING 16384u            /* floats in an embedding */
#define VT_PROTO_MAX_STOP 8u                     /* stop strings per job */
#define VT_PROTO_MAX_STOP_LEN 64u                /* bytes per stop string */
#define VT_PROTO_MAX_BATCH 256u     /* jobs per fetch_ok, results per results, tasks, verdicts */
#define VT_PROTO_MAX_MODELS 64u     /* models in a hello */
#define VT_PROTO_MAX_LEASES 4096u   /* lease ids in heartbeat/release/cancel lists */
#define VT_PROTO_MAX_VERDICTS 16u   /* verifier verdicts reported per job */
#define VT_PROTO_MAX_RECEIPT (64u * 1024u)   /* opaque receipt bytes */
#define VT_PROTO_MAX_MEMORY_K 64u   /* memory items recalled per job */
#define VT_PROTO_MAX_LAYERS VT_MAX_LAYERS
#define VT_MERKLE_MAX_DEPTH 32u     /* path length: batches up to 2^32 leaves */

/* String fields. *_MAX is the byte length without the NUL; inline char
 * arrays are *_MAX + 1. Identifiers (job ids, sessions) use [A-Za-z0-9_.:-]. */
#define VT_JOB_ID_MAX 64u
#define VT_SESSION_MAX 64u
#define VT_API_KEY_MAX 128u
#define VT_MODEL_NAME_MAX 128u  /* a name, or 64 hex chars of a sha256 */
#define VT_SHORT_STR_MAX 128u   /* device, version, policy strings, error names */
#define VT_ERRMSG_MAX 512u      /* "msg" of an error reply */
#define VT_MEMORY_QUERY_MAX 4096u

#define VT_REQUEST_TOKEN_BYTES 16
#define VT_NONCE_BYTES 16
#define VT_HASH_BYTES 32    /* BLAKE2b-256 */
#define VT_SHA256_BYTES 32
#define VT_PUBKEY_BYTES 32  /* Ed25519 */
#define VT_SECKEY_BYTES 64  /* Ed25519 (libsodium form: seed || public key) */
#define VT_SIG_BYTES 64
#define VT_NODE_ID_HEX (2 * VT_PUBKEY_BYTES) /* node id = hex of its public key */
#define VT_NODE_ID_SHORT 16                  /* display prefix of the node id */
#define VT_POS_NONE UINT32_MAX               /* "no divergent position" */

/* =================================================== library initialisation */

/* Initialise libsodium once. Idempotent and thread-safe (pthread_once); every
 * crypto function below calls it, so explicit calls are only an early check.
 * VT_ERR_INTERNAL if libsodium cannot start. */
int vt_protocol_init(void);

/* ================================================================ buffers */

/* A growable byte buffer with a hard size cap (the writer's output). */
typedef struct vt_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max; /* writes past max fail with VT_ERR_TOOBIG; 0 = VT_PROTO_MAX_MSG_DEFAULT */
} vt_buf;

void vt_buf_init(vt_buf *b, size_t max);
void vt_buf_reset(vt_buf *b); /* len = 0, keeps memory */
void vt_buf_free(vt_buf *b);
int vt_buf_append(vt_buf *b, const void *p, size_t n);

/* ========================================================= msgpack reader
 *
 * A cursor over one complete message. Every read checks the bytes left; a
 * container count is refused when it cannot possibly fit (each array element
 * needs >= 1 byte, each map entry >= 2). STR and BIN come back as views into
 * the buffer: (ptr, len), NOT NUL-terminated, valid while the buffer lives.
 * Errors: VT_ERR_TRUNCATED (ends early or count cannot fit), VT_ERR_PROTO
 * (wrong type, reserved byte 0xc1, bad value), VT_ERR_RANGE (integer does
 * not fit the requested type). On error the cursor does not advance. */

typedef enum vt_mp_type {
    VT_MP_NONE = 0, /* end of buffer */
    VT_MP_NIL,
    VT_MP_BOOL,
    VT_MP_UINT,  /* non-negative integer */
    VT_MP_INT,   /* negative integer */
    VT_MP_FLOAT, /* float32 or float64 */
    VT_MP_STR,
    VT_MP_BIN,
    VT_MP_ARRAY,
    VT_MP_MAP,
    VT_MP_EXT,
    VT_MP_INVALID /* 0xc1 */
} vt_mp_type;

typedef struct vt_mp_reader {
    const uint8_t *start;
    const uint8_t *p;
    const uint8_t *end;
} vt_mp_reader;

void vt_mp_reader_init(vt_mp_reader *r, const void *buf, size_t len);
size_t vt_mp_left(const vt_mp_reader *r);
size_t vt_mp_offset(const vt_mp_reader *r);
vt_mp_type vt_mp_peek(const vt_mp_reader *r);

int vt_mp_read_map(vt_mp_reader *r, uint32_t *n);
int vt_mp_read_array(vt_mp_reader *r, uint32_t *n);
int vt_mp_read_str(vt_mp_reader *r, const char **s, uint32_t *len);
int vt_mp_read_bin(vt_mp_reader *r, const uint8_t **b, uint32_t *len);
int vt_mp_read_uint(vt_mp_reader *r, uint64_t *v); /* negative ints: VT_ERR_RANGE */
int vt_mp_read_int(vt_mp_reader *r, int64_t *v);   /* > INT64_MAX: VT_ERR_RANGE */
int vt_mp_read_float(vt_mp_reader *r, double *v);  /* float32, float64 or integer */
int vt_mp_read_bool(vt_mp_reader *r, bool *v);
int vt_mp_read_nil(vt_mp_reader *r);
/* Skip one value of any type, nested at most VT_MP_MAX_DEPTH deep
 * (deeper: VT_ERR_PROTO). */
int vt_mp_skip(vt_mp_reader *r);
/* Convenience: read a str and compare it with a C string. 1 = equal. */
int vt_mp_str_eq(const char *s, uint32_t len, const char *cstr);

/* ========================================================= msgpack writer
 *
 * Appends to a vt_buf. The plain writers pick the shortest encoding; the
 * *_fixed writers always use one width (canonical bytes for signatures:
 * uint8 0xcc, uint32 0xce, uint64 0xcf, int32 0xd2, str32 0xdb, bin32 0xc6,
 * array32 0xdd). Each returns 0 or VT_ERR_TOOBIG / VT_ERR_NOMEM. */

int vt_mp_write_map(vt_buf *w, uint32_t n);
int vt_mp_write_array(vt_buf *w, uint32_t n);
int vt_mp_write_str(vt_buf *w, const char *s, size_t len);
int vt_mp_write_cstr(vt_buf *w, const char *s); /* NULL writes "" */
int vt_mp_write_bin(vt_buf *w, const void *b, size_t len);
int vt_mp_write_uint(vt_buf *w, uint64_t v);
int vt_mp_write_int(vt_buf *w, int64_t v);
int vt_mp_write_f32(vt_buf *w, float v);
int vt_mp_write_f64(vt_buf *w, double v);
int vt_mp_write_bool(vt_buf *w, bool v);
int vt_mp_write_nil(vt_buf *w);

int vt_mp_write_u8_fixed(vt_buf *w, uint8_t v);
int vt_mp_write_u32_fixed(vt_buf *w, uint32_t v);
int vt_mp_write_u64_fixed(vt_buf *w, uint64_t v);
int vt_mp_write_i32_fixed(vt_buf *w, int32_t v);
int vt_mp_write_str_fixed(vt_buf *w, const char *s, size_t len);
int vt_mp_write_bin_fixed(vt_buf *w, const void *b, size_t len);
int vt_mp_write_array_fixed(vt_buf *w, uint32_t n);

/* Envelope helpers for modules with their own message sets (memsync):
 * writes a map header of n_fields + 3 entries and "v", "vm", "t". */
int vt_mp_write_envelope(vt_buf *w, const char *type, uint32_t n_fields);
/* Reads "v", "vm" and "t" from a message's top-level map without decoding
 * the rest. *type is a view (not NUL-terminated). VT_ERR_VERSION when
 * "v" != VT_PROTO_MAJOR, VT_ERR_PROTO when the envelope is malformed. */
int vt_mp_read_envelope(const void *buf, size_t len, uint32_t *minor, const char **type,
                        uint32_t *type_len, vt_errinfo *ei);

/* ======================================================= enums on the wire
 * Each is sent as its lowercase name (the *_name functions); the decoder
 * refuses unknown names with VT_ERR_PROTO. */

typedef enum vt_job_state {
    VT_JOB_QUEUED = 0,  /* accepted, waiting for a worker */
    VT_JOB_LEASED,      /* a worker holds a lease on it */
    VT_JOB_COMPUTED,    /* worker result accepted, verification not started */
    VT_JOB_VERIFYING,   /* verifiers replaying */
    VT_JOB_VERIFIED,    /* done: output delivered with verdicts */
    VT_JOB_FAILED,      /* done: error (see error code) or verification failed */
    VT_JOB_CANCELLED,   /* done: cancelled by the agent */
    VT_JOB_EXPIRED,     /* done: passed its deadline */
    VT_JOB_STATE__COUNT
} vt_job_state;

const char *vt_job_state_name(vt_job_state s); /* "queued", ...; "?" if invalid */
int vt_job_state_parse(const char *s, size_t len, vt_job_state *out);
bool vt_job_state_done(vt_job_state s); /* verified, failed, cancelled, expired */

typedef enum vt_job_kind { VT_KIND_GENERATE = 0, VT_KIND_EMBED = 1 } vt_job_kind;
const char *vt_job_kind_name(vt_job_kind k); /* "generate" | "embed" */

/* A node's role in its hello is common's vt_node_role (vt_types.h), sent as
 * vt_node_role_name(): "worker" | "verifier". The VT_HELLO_* names are
 * aliases kept for code written against the first version of this header. */
typedef vt_node_role vt_hello_role;
#define VT_HELLO_WORKER VT_ROLE_WORKER
#define VT_HELLO_VERIFIER VT_ROLE_VERIFIER

typedef enum vt_fault {
    VT_FAULT_NONE = 0,
    VT_FAULT_WRONG_TOKEN = 1,  /* replay chose a different token */
    VT_FAULT_WRONG_DIGEST = 2, /* same tokens, different trace digests */
    VT_FAULT_WRONG_MODEL = 3,  /* result claims a model the job did not name */
    VT_FAULT_MALFORMED = 4     /* result unusable (bad lengths, tokens out of vocab) */
} vt_fault;
const char *vt_fault_name(vt_fault f); /* "none", "wrong_token", ... */

typedef enum vt_ack {
    VT_ACK_ACCEPTED = 0,  /* recorded */
    VT_ACK_DUPLICATE = 1, /* same (job_id, lease_id) already recorded: harmless */
    VT_ACK_STALE = 2,     /* lease expired or job finished/cancelled: ignored */
    VT_ACK_REJECTED = 3   /* invalid for this job (model/prompt mismatch) */
} vt_ack;
const char *vt_ack_name(vt_ack a);

/* stop reasons are the engine's VT_STOP_MAX/EOS/STRING, sent as
 * "max" | "eos" | "string"; VT_STOP_CANCEL is protocol-only. */
enum { VT_STOP_CANCEL = 3 };
const char *vt_stop_name(int stop_reason);

/* Verification policy, sent as a string: "full:K" (K verifiers replay every
 * job, 1 <= K <= 16), "sampled:P" (a verifier replays with probability P,
 * 0 < P <= 1), "none". Delivery: "verified" (result released only after
 * verdicts) or "optimistic" (released at once, verdicts follow). */
typedef enum vt_verify_mode { VT_VERIFY_FULL = 0, VT_VERIFY_SAMPLED, VT_VERIFY_NONE } vt_verify_mode;
typedef struct vt_verify_policy {
    vt_verify_mode mode;
    uint32_t k;  /* FULL */
    double p;    /* SAMPLED */
} vt_verify_policy;
int vt_verify_policy_parse(const char *s, vt_verify_policy *out, vt_errinfo *ei);
/* "full:2", "sampled:0.25", "none" into out[cap]. */
int vt_verify_policy_format(const vt_verify_policy *p, char *out, size_t cap);

/* =============================================================== messages
 * Pointers inside a decoded vt_msg point into memory owned by that vt_msg
 * (freed by vt_msg_free). For encoding, the caller fills the structs with
 * its own pointers; optional pointer fields may be NULL (then omitted).
 * Strings given as (const char *, size_t len) may hold any bytes (UTF-8
 * expected, not checked); the decoder adds a NUL after them for
 * convenience. Plain `const char *` strings have no embedded NUL. */

typedef enum vt_msg_type {
    VT_MSG_NONE = 0,
    VT_MSG_ERROR,        /* any reply */
    /* agent <-> scheduler (agent socket) */
    VT_MSG_SUBMIT,
    VT_MSG_SUBMIT_OK,
    VT_MSG_STATUS,
    VT_MSG_STATUS_OK,
    VT_MSG_RESULT,
    VT_MSG_RESULT_OK,
    VT_MSG_CANCEL,
    VT_MSG_CANCEL_OK,
    /* worker/verifier <-> scheduler */
    VT_MSG_HELLO,
    VT_MSG_HELLO_OK,
    VT_MSG_FETCH,
    VT_MSG_FETCH_OK,
    VT_MSG_RESULTS,
    VT_MSG_RESULTS_OK,
    VT_MSG_HEARTBEAT,
    VT_MSG_HEARTBEAT_OK,
    VT_MSG_RELEASE,
    VT_MSG_RELEASE_OK,
    VT_MSG_VFETCH,
    VT_MSG_VFETCH_OK,
    VT_MSG_VERDICTS,
    VT_MSG_VERDICTS_OK,
    VT_MSG__COUNT
} vt_msg_type;

/* "submit", "submit_ok", ...; NULL for an invalid type. */
const char *vt_msg_type_name(vt_msg_type t);
vt_msg_type vt_msg_type_parse(const char *s, size_t len); /* VT_MSG_NONE if unknown */

/* ---- error reply: {"t":"error","code":-13,"name":"overloaded","msg":"...","retry_ms":500} */
typedef struct vt_msg_error {
    int32_t code;                       /* a vt_err code (negative) */
    char name[VT_SHORT_STR_MAX + 1];    /* vt_errname(code); filled by the encoder if empty */
    char msg[VT_ERRMSG_MAX + 1];        /* detail for people */
    uint32_t retry_ms;                  /* 0 = no hint */
} vt_msg_error;

/* ---- agent socket ---------------------------------------------------- */

/* What an agent asks for. Used by submit and by the client library. */
typedef struct vt_job_spec {
    const char *model;           /* model alias or 64 lowercase hex chars of its sha256 */
    /* exactly one of: prompt text, or prompt tokens */
    const char *prompt;          /* UTF-8 text, prompt_len bytes */
    size_t prompt_len;
    const int32_t *prompt_tokens;
    uint32_t n_prompt_tokens;
    uint32_t max_tokens;         /* 1..VT_PROTO_MAX_OUTPUT_TOKENS */
    vt_sampling sampling;        /* temperature 0 = greedy */
    const char *const *stop;     /* n_stop stop strings (no NUL inside) */
    uint32_t n_stop;
    int32_t priority;            /* lower runs first; 0 = normal */
    uint32_t deadline_ms;        /* relative to receipt by the scheduler; 0 = none */
    const char *verify;          /* "full:K" | "sampled:P" | "none"; NULL = scheduler default */
    const char *delivery;        /* "verified" | "optimistic"; NULL = "verified" */
    vt_job_kind kind;
    uint32_t memory_k;           /* recall this many memory items (0 = no memory) */
    const char *memory_query;    /* NULL = use the prompt */
    bool remember;               /* store prompt/output in agent memory */
    /* Client-chosen random token: a resent submit with the same api key and
     * token returns the original job id (submit_ok.duplicate = true). */
    uint8_t request_token[VT_REQUEST_TOKEN_BYTES];
} vt_job_spec;

typedef struct vt_msg_submit {
    const char *api_key;
    vt_job_spec job;
    /* Submit and wait in one round trip: > 0 asks the scheduler to answer
     * with the job's result_ok (as `result` with this wait_ms would) instead
     * of submit_ok. 0 = submit_ok at once. Not part of the job: never
     * journaled. A scheduler that predates it ignores it and answers
     * submit_ok, so a client that sets it accepts either reply. */
    uint32_t wait_ms;
} vt_msg_submit;

typedef struct vt_msg_submit_ok {
    char job_id[VT_JOB_ID_MAX + 1];
    bool duplicate; /* this request token was seen before; job_id is the original */
} vt_msg_submit_ok;

/* status, result and cancel share this shape ("wait_ms" is result-only). */
typedef struct vt_msg_job_ref {
    const char *api_key;
    char job_id[VT_JOB_ID_MAX + 1];
    uint32_t wait_ms; /* result: long-poll up to this long for a done state */
} vt_msg_job_ref;

typedef struct vt_verify_summary {
    uint32_t required; /* verdicts the policy asks for */
    uint32_t passed;
    uint32_t failed;
    uint32_t pending;
} vt_verify_summary;

typedef struct vt_msg_status_ok {
    char job_id[VT_JOB_ID_MAX + 1];
    vt_job_state state;
    uint64_t submitted_ms;   /* unix ms; 0 = not yet */
    uint64_t leased_ms;
    uint64_t computed_ms;
    uint64_t finished_ms;
    char worker[VT_NODE_ID_HEX + 1]; /* node id of the worker; "" if none yet */
    uint32_t attempts;               /* leases handed out so far */
    vt_verify_summary verify;
} vt_msg_status_ok;

/* One verifier's verdict as reported to the agent. */
typedef struct vt_job_verdict {
    uint8_t verifier[VT_PUBKEY_BYTES];
    bool pass;
    vt_fault fault;
    uint32_t first_divergence; /* token position; VT_POS_NONE */
} vt_job_verdict;

typedef struct vt_msg_result_ok {
    char job_id[VT_JOB_ID_MAX + 1];
    vt_job_state state;       /* not done: wait_ms passed first, outputs empty */
    int32_t error;            /* 0, or the vt_err of a failed job */
    const char *error_msg;    /* NULL when none */
    const int32_t *tokens;    /* output tokens */
    uint32_t n_tokens;
    const char *text;         /* detokenised output, text_len bytes */
    size_t text_len;
    const float *embedding;   /* kind "embed" */
    uint32_t n_embedding;
    int stop_reason;          /* VT_STOP_* */
    uint8_t model_sha256[VT_SHA256_BYTES];
    uint8_t trace_digest[VT_DIGEST_BYTES];
    uint8_t worker[VT_PUBKEY_BYTES];
    vt_verify_summary verify;
    const vt_job_verdict *verdicts;
    uint32_t n_verdicts;
    const uint8_t *receipt;   /* opaque until the receipt format lands */
    uint32_t receipt_len;
    uint64_t submitted_ms, finished_ms;
} vt_msg_result_ok;

typedef struct vt_msg_cancel_ok {
    char job_id[VT_JOB_ID_MAX + 1];
    vt_job_state state; /* state after the cancel (a done job stays as it was) */
} vt_msg_cancel_ok;

/* ---- node sockets (worker, verifier) --------------------------------- */

typedef struct vt_model_ref {
    uint8_t sha256[VT_SHA256_BYTES];
    const char *name; /* display name, may be "" */
} vt_model_ref;

/* hello: the node proves it holds its key by signing the canonical hello
 * bytes (docs/protocol.md) that include a fresh random nonce and its clock. */
typedef struct vt_msg_hello {
    uint8_t node_pk[VT_PUBKEY_BYTES];
    vt_hello_role role;
    const vt_model_ref *models;
    uint32_t n_models;
    const char *device;    /* "cpu avx2 16 threads", "cuda H100" */
    uint32_t slots;
    const char *version;   /* software version */
    uint64_t time_ms;      /* node's unix time in ms */
    uint8_t nonce[VT_NONCE_BYTES];
    uint8_t sig[VT_SIG_BYTES];
} vt_msg_hello;

typedef struct vt_msg_hello_ok {
    char session[VT_SESSION_MAX + 1];
    uint32_t lease_ms;
    uint32_t heartbeat_ms;
    uint8_t scheduler_pk[VT_PUBKEY_BYTES];
} vt_msg_hello_ok;

/* fetch (worker) and vfetch (verifier) */
typedef struct vt_msg_fetch {
    char session[VT_SESSION_MAX + 1];
    uint32_t free_slots;
    uint32_t max_jobs;   /* <= VT_PROTO_MAX_BATCH */
    uint32_t wait_ms;    /* long poll: scheduler parks the request up to this long */
} vt_msg_fetch;

/* A leased job as a worker sees it. */
typedef struct vt_wire_job {
    char job_id[VT_JOB_ID_MAX + 1];
    uint64_t lease_id;
    vt_job_kind kind;
    uint8_t model_sha256[VT_SHA256_BYTES];
    const int32_t *prompt;
    uint32_t n_prompt;
    uint32_t max_tokens;
    vt_sampling sampling;
    const char *const *stop;
    uint32_t n_stop;
    uint32_t lease_ms;    /* lease expires this long after the reply was sent */
    uint32_t deadline_ms; /* job deadline from now; 0 = none */
} vt_wire_job;

typedef struct vt_msg_fetch_ok {
    const vt_wire_job *jobs;
    uint32_t n_jobs; /* 0 = long poll timed out */
} vt_msg_fetch_ok;

/* Where one leaf sits in a signed batch. */
typedef struct vt_merkle_proof {
    uint32_t index;   /* leaf index in the batch */
    uint32_t n;       /* leaves in the batch */
    uint32_t path_len;
    uint8_t path[VT_MERKLE_MAX_DEPTH][VT_HASH_BYTES];
} vt_merkle_proof;

/* One worker result. Signed fields: see vt_result_canonical. */
typedef struct vt_wire_result {
    char job_id[VT_JOB_ID_MAX + 1];
    uint64_t lease_id;
    int32_t status;      /* 0 = ok, else the vt_err the job failed with */
    uint8_t model_sha256[VT_SHA256_BYTES];
    uint8_t prompt_digest[VT_HASH_BYTES]; /* vt_hash_tokens(prompt) */
    const int32_t *tokens;
    uint32_t n_tokens;
    const char *text;
    size_t text_len;
    const float *embedding;
    uint32_t n_embedding;
    int stop_reason;     /* VT_STOP_* */
    uint8_t trace_digest[VT_DIGEST_BYTES];
    uint32_t n_layers;
    const uint8_t *layer_digests; /* n_layers * VT_DIGEST_BYTES */
    uint64_t queue_us, prefill_us, decode_us; /* not signed */
    vt_merkle_proof proof;
} vt_wire_result;

/* results: one batch signature over the Merkle root of the leaves. */
typedef struct vt_msg_results {
    char session[VT_SESSION_MAX + 1];
    vt_wire_result *results;
    uint32_t n_results; /* 1..VT_PROTO_MAX_BATCH */
    uint8_t root[VT_HASH_BYTES];
    uint8_t sig[VT_SIG_BYTES];
} vt_msg_results;

/* results_ok / verdicts_ok: one ack per item, in order. */
typedef struct vt_msg_acks {
    const vt_ack *acks;
    uint32_t n_acks;
} vt_msg_acks;

typedef struct vt_msg_heartbeat {
    char session[VT_SESSION_MAX + 1];
    const uint64_t *lease_ids; /* leases the node is still working on */
    uint32_t n_lease_ids;
    uint32_t busy_slots;
    uint32_t free_slots;
} vt_msg_heartbeat;

typedef struct vt_msg_heartbeat_ok {
    const uint64_t *cancel;   /* lease ids to abort now */
    uint32_t n_cancel;
    uint32_t lease_ms;        /* held leases now expire this long from now */
} vt_msg_heartbeat_ok;

/* release: leases handed back (shutdown); release_ok has no fields. */
typedef struct vt_msg_release {
    char session[VT_SESSION_MAX + 1];
    const uint64_t *lease_ids;
    uint32_t n_lease_ids;
} vt_msg_release;

/* A verification task (vfetch_ok). */
typedef struct vt_wire_task {
    uint64_t task_id;
    uint64_t lease_id;
    char job_id[VT_JOB_ID_MAX + 1];
    uint8_t model_sha256[VT_SHA256_BYTES];
    const int32_t *prompt;
    uint32_t n_prompt;
    const int32_t *output;
    uint32_t n_output;
    vt_sampling sampling;
    uint32_t max_tokens;
    const char *const *stop;
    uint32_t n_stop;
    int stop_reason;      /* the worker's */
    uint8_t trace_digest[VT_DIGEST_BYTES];
    uint32_t n_layers;
    const uint8_t *layer_digests; /* n_layers * 32 */
    uint8_t worker[VT_PUBKEY_BYTES];
    uint32_t lease_ms;
    /* kind "embed": no output tokens; the verifier replays the prompt with
     * vt_seq_embed and compares the worker's embedding bit for bit. */
    vt_job_kind kind;
    const float *embedding;
    uint32_t n_embedding;
} vt_wire_task;

typedef struct vt_msg_vfetch_ok {
    const vt_wire_task *tasks;
    uint32_t n_tasks;
} vt_msg_vfetch_ok;

typedef struct vt_wire_verdict {
    uint64_t task_id;
    uint64_t lease_id;
    char job_id[VT_JOB_ID_MAX + 1];
    bool pass;
    vt_fault fault;
    uint32_t first_divergence;            /* VT_POS_NONE when pass */
    uint8_t replay_trace_digest[VT_DIGEST_BYTES]; /* replayer's whole-trace digest */
    uint8_t final_at_div[VT_DIGEST_BYTES];  /* replayer's digests at first_divergence */
    uint32_t n_layers;                       /* 0 when pass */
    const uint8_t *layers_at_div;            /* n_layers * 32 */
    uint64_t replay_us;                      /* not signed */
    vt_merkle_proof proof;
} vt_wire_verdict;

typedef struct vt_msg_verdicts {
    char session[VT_SESSION_MAX + 1];
    vt_wire_verdict *verdicts;
    uint32_t n_verdicts;
    uint8_t root[VT_HASH_BYTES];
    uint8_t sig[VT_SIG_BYTES];
} vt_msg_verdicts;

struct vt_arena; /* private: owns the memory of a decoded message */

typedef struct vt_msg {
    vt_msg_type type;
    uint32_t minor; /* peer's "vm" (decoder); the encoder always sends VT_PROTO_MINOR */
    union {
        vt_msg_error error;
        vt_msg_submit submit;
        vt_msg_submit_ok submit_ok;
        vt_msg_job_ref status;    /* VT_MSG_STATUS */
        vt_msg_status_ok status_ok;
        vt_msg_job_ref result;    /* VT_MSG_RESULT */
        vt_msg_result_ok result_ok;
        vt_msg_job_ref cancel;    /* VT_MSG_CANCEL */
        vt_msg_cancel_ok cancel_ok;
        vt_msg_hello hello;
        vt_msg_hello_ok hello_ok;
        vt_msg_fetch fetch;       /* VT_MSG_FETCH and VT_MSG_VFETCH */
        vt_msg_fetch_ok fetch_ok;
        vt_msg_results results;
        vt_msg_acks acks;         /* VT_MSG_RESULTS_OK and VT_MSG_VERDICTS_OK */
        vt_msg_heartbeat heartbeat;
        vt_msg_heartbeat_ok heartbeat_ok;
        vt_msg_release release;   /* release_ok has no fields */
        vt_msg_vfetch_ok vfetch_ok;
        vt_msg_verdicts verdicts;
    } u;
    struct vt_arena *arena_; /* private; NULL for caller-built messages */
} vt_msg;

/* Zero m and set its type. */
void vt_msg_init(vt_msg *m, vt_msg_type type);

/* Encode m into out (appended; out->max caps the size). Validates limits and
 * required fields first: VT_ERR_INVAL / VT_ERR_TOOBIG with the field named. */
int vt_msg_encode(const vt_msg *m, vt_buf *out, vt_errinfo *ei);

/* Decode one complete message of len bytes (its size was already capped by
 * the socket's NNG_OPT_RECVMAXSZ; fields have their own limits). On success
 * *out owns its memory: call vt_msg_free. On failure *out is left empty
 * (safe to vt_msg_free) and the code is one of:
 *   VT_ERR_PROTO    malformed: not a map, bad type, missing/mistyped field,
 *                   count larger than the bytes left, nesting too deep,
 *                   unknown message type, invalid enum name or identifier
 *   VT_ERR_VERSION  "v" is not VT_PROTO_MAJOR
 *   VT_ERR_TOOBIG   a field exceeds its limit (prompt, stop strings, batch)
 *   VT_ERR_NOMEM    allocation failed
 * Memory used is bounded by a small multiple of len plus the fixed-size
 * structs of at most VT_PROTO_MAX_BATCH items (well under 1 MiB). */
int vt_msg_decode(const void *buf, size_t len, vt_msg *out, vt_errinfo *ei);

/* Decode and require `expect`. If the peer answered with an error message
 * instead, returns that message's code (with its msg as detail), and *out
 * holds the error (retry_ms available in out->u.error). Other types:
 * VT_ERR_PROTO. */
int vt_msg_decode_expect(const void *buf, size_t len, vt_msg_type expect, vt_msg *out,
                         vt_errinfo *ei);

void vt_msg_free(vt_msg *m);

/* Shorthand for an error reply. msg may be NULL (vt_strerror(code) is used). */
int vt_msg_encode_error(vt_buf *out, int code, const char *msg, uint32_t retry_ms);

/* Identifier check used for job ids and sessions: 1..max bytes of
 * [A-Za-z0-9_.:-]. 1 = valid. */
int vt_ident_valid(const char *s, size_t len, size_t max);

/* ================================================================ crypto */

typedef struct vt_keypair {
    uint8_t pk[VT_PUBKEY_BYTES];
    uint8_t sk[VT_SECKEY_BYTES];
} vt_keypair;

int vt_key_generate(vt_keypair *kp);
/* Derive a key pair from a 32-byte seed (tests, deterministic fixtures). */
int vt_key_from_seed(vt_keypair *kp, const uint8_t seed[32]);
/* Write the secret key file: one line
 *   "verity-ed25519-secret-v1 <64 hex chars of the 32-byte seed>\n"
 * created with mode 0600. An existing file is refused (VT_ERR_EXISTS) unless
 * overwrite. */
int vt_key_save(const char *path, const vt_keypair *kp, bool overwrite, vt_errinfo *ei);
/* Read and validate a key file. VT_ERR_IO (unreadable), VT_ERR_FORMAT (not a
 * key file: wrong header, bad hex, wrong length, trailing garbage),
 * VT_ERR_DENIED (readable or writable by "other": chmod 600). */
int vt_key_load(const char *path, vt_keypair *kp, vt_errinfo *ei);
void vt_key_wipe(vt_keypair *kp); /* zero the secret */

/* Node id: the 64 hex chars of the public key; short form: its first 16. */
void vt_node_id(const uint8_t pk[VT_PUBKEY_BYTES], char out[VT_NODE_ID_HEX + 1]);
void vt_node_id_short(const uint8_t pk[VT_PUBKEY_BYTES], char out[VT_NODE_ID_SHORT + 1]);
int vt_node_id_parse(const char *hex, uint8_t pk[VT_PUBKEY_BYTES]); /* 64 hex chars */

/* Ed25519 detached signatures. vt_verify: 0 or VT_ERR_BADSIG. */
int vt_sign(const vt_keypair *kp, const void *msg, size_t len, uint8_t sig[VT_SIG_BYTES]);
int vt_verify(const uint8_t pk[VT_PUBKEY_BYTES], const void *msg, size_t len,
              const uint8_t sig[VT_SIG_BYTES]);

/* Hash helpers, BLAKE2b-256, each domain-separated by a tag prefix:
 *   tokens: H("verity/tokens/v1" || n as u32le || each token as int32 le)
 *   text:   H("verity/text/v1"   || len as u64le || bytes)
 *   layers: H("verity/layers/v1" || n as u32le || n * 32 digest bytes) */
void vt_hash_tokens(const int32_t *tokens, size_t n, uint8_t out[VT_HASH_BYTES]);
void vt_hash_text(const char *text, size_t len, uint8_t out[VT_HASH_BYTES]);
void vt_hash_layers(const uint8_t *digests, uint32_t n_layers, uint8_t out[VT_HASH_BYTES]);

/* ---- canonical bytes (docs/protocol.md, "Canonical encodings") ----
 * Fixed-length msgpack arrays with fixed-width integers, built from the C
 * struct, never from a re-encoded map. */

/* ["verity/result/v1", node_pk, job_id, lease_id, status, model_sha256,
 *  prompt_digest, H(tokens), H(text), stop_reason, trace_digest,
 *  n_layers, H(layer_digests), H(embedding bytes)] */
int vt_result_canonical(const vt_wire_result *r, const uint8_t node_pk[VT_PUBKEY_BYTES],
                        vt_buf *out);
/* ["verity/verdict/v1", node_pk, task_id, lease_id, job_id, pass, fault,
 *  first_divergence, replay_trace_digest, final_at_div, n_layers,
 *  H(layers_at_div)] */
int vt_verdict_canonical(const vt_wire_verdict *v, const uint8_t node_pk[VT_PUBKEY_BYTES],
                         vt_buf *out);
/* ["verity/hello/v1", node_pk, role, [[sha256, name]...], device, slots,
 *  version, time_ms, nonce] */
int vt_hello_canonical(const vt_msg_hello *h, vt_buf *out);

/* Fill h->sig (node_pk must equal kp->pk) / check it (VT_ERR_BADSIG). */
int vt_hello_sign(vt_msg_hello *h, const vt_keypair *kp, vt_errinfo *ei);
int vt_hello_verify(const vt_msg_hello *h, vt_errinfo *ei);

/* ---- Merkle batches ----
 * leaf = H(0x00 || canonical bytes), node = H(0x01 || left || right).
 * Level by level, pairs from the left; an odd last node is promoted
 * unchanged to the next level. Path = sibling hashes from the leaf up
 * (promoted levels contribute none). */
void vt_merkle_leaf(const void *canonical, size_t len, uint8_t out[VT_HASH_BYTES]);
int vt_merkle_root(const uint8_t (*leaves)[VT_HASH_BYTES], uint32_t n,
                   uint8_t root[VT_HASH_BYTES]);
/* Fills proof->path/path_len/index/n for leaf `index`. Builds the whole
 * tree: to prove every leaf of a batch use vt_merkle_tree (n - 1 node
 * hashes in all, not n - 1 per leaf). */
int vt_merkle_path(const uint8_t (*leaves)[VT_HASH_BYTES], uint32_t n, uint32_t index,
                   vt_merkle_proof *proof);
/* Every level of a tree over n leaves, built once: its root and any leaf's
 * path (the same as vt_merkle_root / vt_merkle_path). */
typedef struct vt_merkle_tree {
    uint32_t n, n_levels;
    uint8_t (*nodes)[VT_HASH_BYTES]; /* level 0 (the leaves), then each level up */
    uint32_t level_off[VT_MERKLE_MAX_DEPTH + 1], level_len[VT_MERKLE_MAX_DEPTH + 1];
} vt_merkle_tree;
int vt_merkle_tree_build(const uint8_t (*leaves)[VT_HASH_BYTES], uint32_t n, vt_merkle_tree *t);
void vt_merkle_tree_root(const vt_merkle_tree *t, uint8_t root[VT_HASH_BYTES]);
int vt_merkle_tree_path(const vt_merkle_tree *t, uint32_t index, vt_merkle_proof *proof);
void vt_merkle_tree_free(vt_merkle_tree *t);
/* 0 when leaf at proof->index of proof->n leads to root; else VT_ERR_BADSIG. */
int vt_merkle_verify(const uint8_t leaf[VT_HASH_BYTES], const vt_merkle_proof *proof,
                     const uint8_t root[VT_HASH_BYTES]);

/* Batch signature: Ed25519 over "verity/result-batch/v1" || root (results)
 * or "verity/verdict-batch/v1" || root (verdicts). */
typedef enum vt_batch_kind { VT_BATCH_RESULTS = 0, VT_BATCH_VERDICTS = 1 } vt_batch_kind;
int vt_batch_sign(const vt_keypair *kp, vt_batch_kind kind, const uint8_t root[VT_HASH_BYTES],
                  uint8_t sig[VT_SIG_BYTES]);
int vt_batch_verify(const uint8_t pk[VT_PUBKEY_BYTES], vt_batch_kind kind,
                    const uint8_t root[VT_HASH_BYTES], const uint8_t sig[VT_SIG_BYTES]);

/* Leaf hash of one result / verdict (canonical bytes, then vt_merkle_leaf). */
int vt_result_leaf(const vt_wire_result *r, const uint8_t node_pk[VT_PUBKEY_BYTES],
                   uint8_t leaf[VT_HASH_BYTES]);
int vt_verdict_leaf(const vt_wire_verdict *v, const uint8_t node_pk[VT_PUBKEY_BYTES],
                    uint8_t leaf[VT_HASH_BYTES]);

/* Sender side: compute every leaf, the root, each item's proof, and the
 * batch signature (one Ed25519 sign per message). */
int vt_results_sign(vt_msg_results *m, const vt_keypair *kp, vt_errinfo *ei);
int vt_verdicts_sign(vt_msg_verdicts *m, const vt_keypair *kp, vt_errinfo *ei);

/* Receiver side: check the batch signature over m->root once, then every
 * item's leaf + proof against it (proof.n must equal the item count).
 * VT_ERR_BADSIG names the first item that fails. */
int vt_results_verify(const vt_msg_results *m, const uint8_t node_pk[VT_PUBKEY_BYTES],
                      vt_errinfo *ei);
int vt_verdicts_verify(const vt_msg_verdicts *m, const uint8_t node_pk[VT_PUBKEY_BYTES],
                       vt_errinfo *ei);

#ifdef __cplusplus
}
#endif
#endif
