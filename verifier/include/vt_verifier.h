/* vt_verifier.h - the replay checker of verity-verifier (library vt_verifier).
 *
 * A verifier re-runs a worker's job with the same model, in one prefill over
 * prompt + output[0..O-2] (logits for positions P-1 .. P+O-2), and checks:
 *   - every output token j equals vt_sample(logits of position P-1+j,
 *     the job's sampling, P-1+j)                         else wrong_token;
 *   - the generation stopped where the job's stop rules (vt_stopscan: EOS,
 *     stop strings, max_tokens) say, and not earlier       else malformed;
 *   - the trace (vt_seq_trace over positions 0..P+O-2) is the worker's, bit
 *     for bit                                              else wrong_digest.
 * Several replays share each vt_forward call (they are independent slots).
 * Checks run in position order, so the verdict names the FIRST divergence.
 */
#ifndef VT_VERIFIER_H
#define VT_VERIFIER_H

#include <stdint.h>

#include "vt_engine.h"
#include "vt_protocol.h"
#include "vt_worker.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fault kinds are the protocol's vt_fault (VT_FAULT_NONE, _WRONG_TOKEN,
 * _WRONG_DIGEST, _WRONG_MODEL, _MALFORMED) and vt_fault_name(). */

/* One result to check. Everything is borrowed for the call. */
typedef struct vt_replay_task {
    const int32_t *prompt;
    uint32_t n_prompt;
    const int32_t *output;
    uint32_t n_output;
    vt_gen_params gp;     /* sampling, max_tokens, stop strings, stop_at_eos */
    int stop_reason;      /* the worker's claim, VT_STOP_* */
    const vt_trace *trace;/* the worker's trace (n_positions is not on the wire:
                             set it to n_prompt + n_output - 1) */
} vt_replay_task;

typedef struct vt_replay_verdict {
    int fault;                /* vt_fault */
    int unverifiable;         /* 1: this verifier could not check the result
                                 (engine error); not a verdict on the worker */
    int64_t position;         /* first divergent position (of the logits that
                                 chose the token), -1 when not positional */
    int32_t expected_token;   /* wrong_token: what the replay samples there */
    int32_t first_bad_layer;  /* wrong_digest: first layer whose digest differs,
                                 n_layers = only the final digest, -1 none */
    /* wrong_token/malformed at a replayed position: this replay's digests of
     * that position alone; wrong_digest: the replay's whole trace. */
    int have_replay_digest;   /* the replay ran to the end: */
    uint8_t replay_digest[VT_DIGEST_BYTES]; /* its whole-trace final digest */
    uint32_t n_layers;
    uint8_t final_digest[VT_DIGEST_BYTES];
    uint8_t layer_digest[VT_MAX_LAYERS][VT_DIGEST_BYTES];
    char detail[160];
} vt_replay_verdict;

typedef struct vt_checker vt_checker;

typedef struct vt_checker_params {
    int batch;          /* replays per vt_forward (ctx slots) */
    int max_ctx;        /* 0 = model ctx_len */
    int n_threads;
    vt_isa isa;
    vt_backend backend;
    int logit_rows;     /* logits rows per step over the batch; 0 = as many
                           as fit in 8 MB (65 for a 32k vocabulary), at least
                           one per replay, at most 1024.
                           Bounds memory: a replay longer than its share is
                           fed in chunks (bit-exact, so chunking is free). */
} vt_checker_params;

void vt_checker_params_default(vt_checker_params *p);
int vt_checker_create(const vt_model *m, const vt_checker_params *p, vt_checker **out,
                      vt_errinfo *ei);
void vt_checker_free(vt_checker *c);
const char *vt_checker_describe(const vt_checker *c);
int vt_checker_batch(const vt_checker *c);

/* Check n (1..batch) results. Each verdict is filled; the return value is
 * nonzero only when the engine itself failed (then no verdict is valid). */
int vt_checker_run(vt_checker *c, const vt_replay_task *tasks, int n, vt_replay_verdict *out,
                   vt_errinfo *ei);

/* Identity-model results: no engine, a digest over the tokens. */
void vt_check_identity(const vt_replay_task *t, vt_replay_verdict *v);

#ifdef __cplusplus
}
#endif
#endif
