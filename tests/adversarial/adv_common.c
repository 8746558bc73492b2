/* adv_common.c - see adv_common.h. */
#include <stdio.h>
#include <string.h>

#include "adv_common.h"
#include "vt_arbiter.h"
#include "vt_clock.h"
#include "vt_receipt.h"
#include "vt_synth.h"
#include "vt_test.h"
#include "vt_tlog.h"

void adv_start(adv_env *e, const char *const *sargs, fx_job *jobs, int njobs)
{
    VT_REQUIRE_OK(vt_protocol_init());
    e->m = fx_tiny_model("tiny.gguf", VT_DTYPE_F32, 5, e->mpath, sizeof e->mpath);
    if (jobs)
        fx_jobs(e->m, jobs, njobs, 1);
    cl_start(&e->c, e->mpath, sargs);
    adv_sched_pk(&e->c, e->spk);
    vt_errinfo ei = {0};
    VT_REQUIRE(vt_client_open(e->c.agent_url, e->c.agent_key[0], NULL, &e->cl, &ei) == 0,
               "client: %s", vt_errinfo_msg(&ei));
}

void adv_finish(adv_env *e, fx_job *jobs, int njobs)
{
    vt_client_close(e->cl);
    cl_stop(&e->c);
    if (jobs)
        fx_jobs_free(jobs, njobs);
    vt_model_free(e->m);
}

void adv_node_pk(const cl_node *n, uint8_t pk[VT_PUBKEY_BYTES])
{
    vt_keypair kp;
    vt_errinfo ei = {0};
    VT_REQUIRE(vt_key_load(n->key_path, &kp, &ei) == 0, "key %s: %s", n->key_path,
               vt_errinfo_msg(&ei));
    memcpy(pk, kp.pk, VT_PUBKEY_BYTES);
    vt_key_wipe(&kp);
}

void adv_sched_pk(const cl_cluster *c, uint8_t pk[VT_PUBKEY_BYTES])
{
    vt_keypair kp;
    vt_errinfo ei = {0};
    VT_REQUIRE(vt_key_load(c->key_path, &kp, &ei) == 0, "scheduler key: %s", vt_errinfo_msg(&ei));
    memcpy(pk, kp.pk, VT_PUBKEY_BYTES);
    vt_key_wipe(&kp);
}

bool adv_quarantined(const cl_cluster *c, const uint8_t pk[VT_PUBKEY_BYTES])
{
    vt_redis *r = NULL;
    vt_errinfo ei = {0};
    bool q = false;
    if (vt_redis_connect(&r, c->rs.url, 2000, 2000, &ei) == 0)
        VT_CHECK_OK(vt_arb_store_is_quarantined(r, pk, &q, &ei));
    vt_redis_close(r);
    return q;
}

bool adv_wait_quarantined(const cl_cluster *c, const uint8_t pk[VT_PUBKEY_BYTES], int timeout_ms)
{
    uint64_t end = vt_mono_ms() + (uint64_t)timeout_ms;
    while (!adv_quarantined(c, pk)) {
        if (vt_mono_ms() >= end)
            return false;
        vt_sleep_ms(50);
    }
    return true;
}

void adv_release(const cl_cluster *c, const uint8_t pk[VT_PUBKEY_BYTES])
{
    vt_redis *r = NULL;
    vt_errinfo ei = {0};
    VT_REQUIRE(vt_redis_connect(&r, c->rs.url, 2000, 2000, &ei) == 0, "redis");
    VT_CHECK_OK(vt_arb_store_release(r, pk, "adversarial test", vt_wall_ms(), &ei));
    vt_redis_close(r);
}

bool adv_is_reference(const vt_msg_result_ok *r, const fx_job *j)
{
    return r->n_tokens == j->ref.n_tokens &&
           memcmp(r->tokens, j->ref.tokens, (size_t)j->ref.n_tokens * 4) == 0 &&
           memcmp(r->trace_digest, j->ref.trace.final_digest, VT_DIGEST_BYTES) == 0;
}

int adv_check_receipt(vt_client *cl, const vt_msg_result_ok *r, const uint8_t sched_pk[32],
                      char *why, size_t whysz)
{
    vt_receipt_file rf;
    vt_receipt_report rep;
    vt_errinfo ei = {0};
    int rv = vt_receipt_decode(r->receipt, r->receipt_len, &rf, &ei);
    if (rv) {
        snprintf(why, whysz, "decode: %s", vt_errinfo_msg(&ei));
        return rv;
    }
    rv = vt_receipt_verify(&rf, sched_pk, &rep, &ei);
    if (rv == 0 && !(rep.scheduler_trusted && rep.log_checked && rep.log_ok && rep.worker_sig_ok &&
                     rep.consistent && memcmp(rf.r.worker.node_pk, r->worker, 32) == 0)) {
        rv = VT_ERR_MISMATCH;
        snprintf(ei.detail, sizeof ei.detail, "report: trusted=%d log=%d/%d worker=%d consistent=%d",
                 rep.scheduler_trusted, rep.log_checked, rep.log_ok, rep.worker_sig_ok,
                 rep.consistent);
    }
    /* The same receipt hash is in the log under the scheduler's latest
     * signed head. */
    vt_tree_head th;
    uint8_t pk[32], leaf[VT_TLOG_HASH], mine[VT_TLOG_HASH];
    vt_tlog_proof proof;
    uint64_t size = 0;
    if (rv == 0 && (rv = vt_log_get_head(cl, &th, pk, &ei)) == 0 &&
        (rv = vt_tree_head_verify(&th, sched_pk)) == 0 &&
        (rv = vt_log_get_inclusion(cl, rf.log_index, th.size, leaf, &proof, &size, &ei)) == 0) {
        vt_tlog_leaf_hash(rf.hash, sizeof rf.hash, mine);
        if (memcmp(leaf, mine, sizeof mine) != 0 ||
            vt_tlog_verify_inclusion(leaf, rf.log_index, size, &proof, th.root) != 0) {
            rv = VT_ERR_MISMATCH;
            snprintf(ei.detail, sizeof ei.detail, "inclusion in the latest head does not check");
        }
    }
    if (rv)
        snprintf(why, whysz, "%s: %s", vt_errname(rv), vt_errinfo_msg(&ei));
    vt_receipt_file_free(&rf);
    return rv;
}

void adv_submit(vt_client *cl, const fx_job *j, const char *verify, const char *delivery,
                char id[VT_JOB_ID_MAX + 1])
{
    vt_job_spec s;
    vt_job_spec_default(&s);
    s.model = "tiny";
    s.prompt_tokens = j->prompt;
    s.n_prompt_tokens = j->n_prompt;
    s.max_tokens = j->gp.max_tokens;
    s.sampling = j->gp.sampling;
    s.stop = j->gp.stop;
    s.n_stop = (uint32_t)j->gp.n_stop;
    s.verify = verify;
    s.delivery = delivery;
    vt_errinfo ei = {0};
    int rv = vt_client_submit(cl, &s, id, NULL, &ei);
    VT_REQUIRE(rv == 0, "submit: %s", vt_errinfo_msg(&ei));
}
