/* adv_common.h - checks shared by the adversarial tests: quarantine state
 * in Redis, node keys, delivered outputs against vt_generate, receipts. */
#ifndef ADV_COMMON_H
#define ADV_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"
#include "fixture.h"

/* What every adversarial test starts with: the tiny model at mpath (seed 5,
 * F32) with njobs fx_jobs (jobs may be NULL), redis-server and the
 * scheduler (extra flags sargs), an agent client and the scheduler's key. */
typedef struct adv_env {
    cl_cluster c;
    char mpath[512];
    vt_model *m;
    vt_client *cl;
    uint8_t spk[VT_PUBKEY_BYTES];
} adv_env;
void adv_start(adv_env *e, const char *const *sargs, fx_job *jobs, int njobs);
void adv_finish(adv_env *e, fx_job *jobs, int njobs);

/* The node's public key (from its key file). */
void adv_node_pk(const cl_node *n, uint8_t pk[VT_PUBKEY_BYTES]);
/* The scheduler's public key. */
void adv_sched_pk(const cl_cluster *c, uint8_t pk[VT_PUBKEY_BYTES]);
/* Is pk in the quarantine set in Redis? */
bool adv_quarantined(const cl_cluster *c, const uint8_t pk[VT_PUBKEY_BYTES]);
/* Wait up to timeout_ms until pk is quarantined. */
bool adv_wait_quarantined(const cl_cluster *c, const uint8_t pk[VT_PUBKEY_BYTES], int timeout_ms);
/* Lift a quarantine as `verity release` does. */
void adv_release(const cl_cluster *c, const uint8_t pk[VT_PUBKEY_BYTES]);

/* Tokens and trace digest equal vt_generate's for the job. */
bool adv_is_reference(const vt_msg_result_ok *r, const fx_job *j);

/* The delivered receipt verifies offline against the scheduler's key, is in
 * the transparency log (inclusion in its own signed head), and its
 * inclusion proof also checks against the latest head the scheduler
 * signs (log_head / log_prove over the agent socket). 0 or a vt_err code. */
int adv_check_receipt(vt_client *cl, const vt_msg_result_ok *r, const uint8_t sched_pk[32],
                      char *why, size_t whysz);

/* Submit a job with a policy and delivery (NULL = defaults). */
void adv_submit(vt_client *cl, const fx_job *j, const char *verify, const char *delivery,
                char id[VT_JOB_ID_MAX + 1]);

#endif
