/* faults.c - how a dishonest worker corrupts its work (test builds only).
 *
 * verity-worker --fault MODE runs these on every job, and
 * tests/adversarial/test_detection_rate.c runs the very same functions on
 * its own runner's results, so the detection rate it measures is the rate
 * against the daemon's cheating, not against a copy of it. Compiled only
 * with VT_TEST_FAULTS: a release build has no way to misbehave on purpose.
 */
#ifdef VT_TEST_FAULTS

#include <stdlib.h>
#include <string.h>

#include "vt_worker.h"

const char *const vt_worker_fault_names[] = {
    "none",     "flip_token",  "random_tokens", "wrong_model",   "q8_for_f32",
    "truncate", "replay_other", "wrong_digest", "bad_signature", "skip_sampler", "slow", NULL};

/* replay_other keeps the previous result (at most this many tokens). */
#define KEEP_MAX 4096

struct vt_fault_state {
    int32_t tokens[KEEP_MAX]; /* replay_other: the previous honest result */
    uint32_t n;
    uint8_t digest[VT_DIGEST_BYTES];
    int have;
    uint64_t rng;             /* random_tokens: a 64-bit LCG */
};

vt_fault_state *vt_fault_state_new(void)
{
    vt_fault_state *fs = calloc(1, sizeof *fs);
    if (fs)
        fs->rng = 0x9e3779b97f4a7c15ull;
    return fs;
}

void vt_fault_state_free(vt_fault_state *fs)
{
    free(fs);
}

static uint32_t fault_rand(vt_fault_state *fs)
{
    fs->rng = fs->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(fs->rng >> 33);
}

int vt_worker_fault_needs_model(int mode)
{
    return mode == VT_WORKER_FAULT_WRONG_MODEL || mode == VT_WORKER_FAULT_Q8_FOR_F32;
}

void vt_worker_fault_params(int mode, vt_gen_params *gp)
{
    if (mode == VT_WORKER_FAULT_SKIP_SAMPLER)
        gp->sampling.temperature = 0.0f; /* greedy, whatever the job asked */
}

void vt_worker_fault_result(int mode, vt_fault_state *fs, int32_t *tokens, uint32_t *n_tokens,
                            uint8_t digest[VT_DIGEST_BYTES], uint32_t vocab)
{
    uint32_t n = *n_tokens;
    switch (mode) {
    case VT_WORKER_FAULT_FLIP_TOKEN:
        if (n > 0)
            tokens[n / 2] = (int32_t)(((uint32_t)tokens[n / 2] + 1) % vocab);
        break;
    case VT_WORKER_FAULT_RANDOM_TOKENS:
        for (uint32_t i = 0; i < n; i++)
            tokens[i] = (int32_t)(3 + fault_rand(fs) % (vocab - 3));
        break;
    case VT_WORKER_FAULT_TRUNCATE:
        if (n > 1)
            *n_tokens = n - 1;
        break;
    case VT_WORKER_FAULT_WRONG_DIGEST:
        digest[0] ^= 0x01;
        break;
    case VT_WORKER_FAULT_REPLAY_OTHER: {
        /* return the previous job's output and digest as this one's (the
         * first job has nothing to replay and goes out honest) */
        int32_t keep[KEEP_MAX];
        uint32_t kn = n < KEEP_MAX ? n : KEEP_MAX;
        uint8_t kd[VT_DIGEST_BYTES];
        memcpy(keep, tokens, kn * sizeof(int32_t));
        memcpy(kd, digest, VT_DIGEST_BYTES);
        if (fs->have) {
            uint32_t m = fs->n < n ? fs->n : n;
            memcpy(tokens, fs->tokens, m * sizeof(int32_t));
            *n_tokens = m;
            memcpy(digest, fs->digest, VT_DIGEST_BYTES);
        }
        memcpy(fs->tokens, keep, kn * sizeof(int32_t));
        fs->n = kn;
        memcpy(fs->digest, kd, VT_DIGEST_BYTES);
        fs->have = 1;
        break;
    }
    default:
        break;
    }
}

void vt_worker_fault_embed(int mode, float *embedding, uint32_t n,
                           uint8_t digest[VT_DIGEST_BYTES])
{
    if (mode == VT_WORKER_FAULT_FLIP_TOKEN && n > 0) { /* the lowest bit of one component */
        uint32_t bits;
        memcpy(&bits, &embedding[0], 4);
        bits ^= 1u;
        memcpy(&embedding[0], &bits, 4);
    } else if (mode == VT_WORKER_FAULT_WRONG_DIGEST) {
        digest[0] ^= 0x01;
    }
}

#else
/* ISO C forbids an empty translation unit. */
typedef int vt_worker_faults_not_built;
#endif
