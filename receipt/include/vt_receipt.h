/* vt_receipt.h - the signed receipt an agent gets for each completed job,
 * and the offline check of it (docs/verification.md, "Receipts").
 *
 * A receipt says exactly what ran: the job and agent ids, the model (sha256),
 * the input tokens, the sampling parameters and seed, the worker's signed
 * result (output tokens, text, trace digest, per-layer digests), every
 * verifier's signed verdict, the Merkle paths tying each of those leaves to
 * the batch root its node signed, timestamps, any memory that went into the
 * prompt, and the receipt's index in the transparency log, all signed by
 * the scheduler.
 *
 * Layout of a receipt file (msgpack map):
 *   {"v":1, "t":"receipt",
 *    "body": BIN   canonical body bytes (below), hashed exactly as stored
 *    "log_index": u64, "scheduler": BIN(32),
 *    "head": [size, time_ms, root, sig]   a tree head signed by the scheduler
 *    "inclusion": [BIN(32)...]            the receipt's inclusion proof in it
 *    "sig": BIN(64)}                      optional direct signature (below)
 *
 * receipt hash = BLAKE2b-256("verity/receipt/v1" || body)
 * log leaf     = the receipt hash (the log holds only receipt hashes; the
 *                receipt itself stays private to its agent)
 *
 * The scheduler attests a receipt by putting its hash in the transparency
 * log and signing the tree head: the signed head plus the inclusion proof
 * IS the scheduler's signature over the receipt. One Ed25519 signature per
 * journal turn thus covers every receipt finished in it (signing each
 * receipt would cost ~24 us apiece on the scheduler's hot path). A direct
 * signature, Ed25519("verity/receipt-sig/v1" || hash || log_index u64 BE),
 * is also accepted (vt_receipt_sign), for receipts issued outside a log.
 *
 * The body is a fixed-length msgpack array written with fixed-width integers
 * (docs/verification.md lists it field by field), so a receipt has exactly
 * one encoding and its hash never depends on how a map was re-encoded.
 */
#ifndef VT_RECEIPT_H
#define VT_RECEIPT_H

#include <stdbool.h>
#include <stdint.h>

#include "vt_protocol.h"
#include "vt_tlog.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VT_RECEIPT_VERSION 1
#define VT_RECEIPT_MAX_BYTES (8u * 1024u * 1024u)

/* A node's attestation of one leaf: the batch root it signed, the signature,
 * and the leaf's path to that root. */
typedef struct vt_receipt_attest {
    uint8_t node_pk[VT_PUBKEY_BYTES];
    uint8_t batch_root[VT_HASH_BYTES];
    uint8_t batch_sig[VT_SIG_BYTES];
    vt_merkle_proof proof;
} vt_receipt_attest;

typedef struct vt_receipt_verdict {
    vt_wire_verdict v;      /* signed fields; v.proof is unused (see att) */
    vt_receipt_attest att;
} vt_receipt_verdict;

typedef struct vt_receipt {
    char job_id[VT_JOB_ID_MAX + 1];
    char agent_id[VT_JOB_ID_MAX + 1];
    uint8_t model_sha256[VT_SHA256_BYTES];
    const int32_t *prompt;          /* input tokens */
    uint32_t n_prompt;
    vt_sampling sampling;
    uint32_t max_tokens;
    const char *const *stop;
    uint32_t n_stop;
    char policy[32];                /* "full:1", "sampled:0.1", "none" */
    vt_wire_result result;          /* the worker's signed result (proof unused: see worker) */
    vt_receipt_attest worker;
    const vt_receipt_verdict *verdicts;
    uint32_t n_verdicts;
    uint64_t submitted_ms, computed_ms, finished_ms;
    bool has_memory;
    uint8_t memory_head[VT_HASH_BYTES];
    const char *memory_text;        /* the exact memory text put into the prompt */
    size_t memory_text_len;
} vt_receipt;

/* Canonical body bytes of r (appended to out). */
int vt_receipt_body(const vt_receipt *r, vt_buf *out, vt_errinfo *ei);
void vt_receipt_hash(const uint8_t *body, size_t len, uint8_t out[VT_HASH_BYTES]);

/* Scheduler side: write the receipt file attested by a signed tree head and
 * the receipt's inclusion proof in it (the usual way). */
int vt_receipt_seal(const uint8_t *body, size_t body_len, uint64_t log_index,
                    const uint8_t scheduler_pk[VT_PUBKEY_BYTES], const vt_tree_head *head,
                    const vt_tlog_proof *inclusion, vt_buf *out, vt_errinfo *ei);
/* Or attested by a direct Ed25519 signature (no log). */
int vt_receipt_sign(const uint8_t *body, size_t body_len, uint64_t log_index,
                    const vt_keypair *scheduler, vt_buf *out, vt_errinfo *ei);

/* A decoded receipt file. Pointers in r point into memory owned by it. */
typedef struct vt_receipt_file {
    vt_receipt r;
    const uint8_t *body;
    size_t body_len;
    uint8_t hash[VT_HASH_BYTES];
    uint64_t log_index;
    uint8_t scheduler_pk[VT_PUBKEY_BYTES];
    bool has_sig;
    uint8_t sig[VT_SIG_BYTES];
    bool has_head;
    vt_tree_head head;
    bool has_inclusion;
    vt_tlog_proof inclusion;
    void *mem_; /* private */
} vt_receipt_file;

/* Bounded decode (hostile input is fine). VT_ERR_FORMAT/VT_ERR_PROTO with a
 * detail naming the field. */
int vt_receipt_decode(const uint8_t *buf, size_t len, vt_receipt_file *out, vt_errinfo *ei);
void vt_receipt_file_free(vt_receipt_file *f);

/* Re-encode f with a (newer) tree head and inclusion proof (the agent can
 * fetch them from `verity log prove`). */
int vt_receipt_attach_proof(const vt_receipt_file *f, const vt_tree_head *head,
                            const vt_tlog_proof *inclusion, vt_buf *out, vt_errinfo *ei);

/* What the offline check found. */
typedef struct vt_receipt_report {
    bool scheduler_sig_ok;    /* direct signature, or signed head + inclusion */
    bool scheduler_trusted;   /* scheduler key equals the one the caller trusts */
    bool worker_sig_ok;
    bool consistent;          /* result matches the job: model, input, job id */
    uint32_t verdicts_ok;     /* verdicts whose signature and path check */
    uint32_t verdicts_pass;   /* of those, passes from nodes other than the worker */
    bool log_checked;         /* a signed head and inclusion proof were present */
    bool log_ok;
} vt_receipt_report;

/* Check every hash and signature in f. trusted_scheduler may be NULL (then
 * scheduler_trusted stays false and the result is at best VT_ERR_DENIED).
 * Returns 0 when everything checks, VT_ERR_BADSIG / VT_ERR_MISMATCH with
 * the first failure in ei otherwise. */
int vt_receipt_verify(const vt_receipt_file *f, const uint8_t *trusted_scheduler,
                      vt_receipt_report *rep, vt_errinfo *ei);

/* Canonical JSON rendering: keys in a fixed order, no whitespace, bytes as
 * lowercase hex, integers as numbers. Appended to out (NUL-terminated). */
int vt_receipt_json(const vt_receipt_file *f, vt_buf *out);


/* ------------------------------------------- transparency log over the wire
 * Agent-socket messages (docs/protocol.md, "Transparency log"); public, no
 * API key needed beyond opening the socket:
 *   log_head                         -> log_head_ok {size, time_ms, root, sig, scheduler}
 *   log_prove {index, size}          -> log_prove_ok {index, size, leaf, path}
 *   log_consistency {old, new}       -> log_consistency_ok {old, new, old_root, new_root, path}
 * size/new 0 means "the latest signed head". */

/* Scheduler side. type/type_len come from vt_mp_read_envelope. Returns
 * VT_ERR_NOTFOUND (nothing written) when type is not a log message, else 0
 * with a reply (possibly an error reply) in out. The caller serialises
 * access to t and head. */
int vt_log_handle(const vt_tlog *t, const vt_tree_head *head, const uint8_t scheduler_pk[32],
                  const char *type, uint32_t type_len, const void *req, size_t len,
                  vt_buf *out);

struct vt_client;
/* Client side (the `verity log` commands). */
int vt_log_get_head(struct vt_client *c, vt_tree_head *th, uint8_t scheduler_pk[32],
                    vt_errinfo *ei);
int vt_log_get_inclusion(struct vt_client *c, uint64_t index, uint64_t size,
                         uint8_t leaf[VT_TLOG_HASH], vt_tlog_proof *proof, uint64_t *size_out,
                         vt_errinfo *ei);
int vt_log_get_consistency(struct vt_client *c, uint64_t old_size, uint64_t new_size,
                           uint8_t old_root[VT_TLOG_HASH], uint8_t new_root[VT_TLOG_HASH],
                           vt_tlog_proof *proof, uint64_t *new_size_out, vt_errinfo *ei);

#ifdef __cplusplus
}
#endif
#endif
