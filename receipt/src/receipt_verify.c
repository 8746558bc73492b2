/* receipt_verify.c - the offline check: every hash and signature in a
 * receipt, with nothing but the receipt and the scheduler's public key.
 * This is what lets an agent take no one's word (docs/verification.md). */
#include <sodium.h>
#include <string.h>

#include "receipt_internal.h"

/* A leaf is attested when its path leads to the batch root and the node
 * signed that root. */
static int check_attest(const vt_receipt_attest *a, vt_batch_kind kind,
                        const uint8_t leaf[VT_HASH_BYTES])
{
    if (vt_merkle_verify(leaf, &a->proof, a->batch_root) != 0)
        return VT_ERR_BADSIG;
    return vt_batch_verify(a->node_pk, kind, a->batch_root, a->batch_sig);
}

int vt_receipt_verify(const vt_receipt_file *f, const uint8_t *trusted_scheduler,
                      vt_receipt_report *rep, vt_errinfo *ei)
{
    vt_receipt_report local;
    if (!rep)
        rep = &local;
    memset(rep, 0, sizeof *rep);
    if (!f)
        return vt_fail(ei, VT_ERR_INVAL, "receipt: nothing to verify");
    const vt_receipt *r = &f->r;
    int first = 0;
#define FAIL_ONCE(code, ...)                                                               \
    do {                                                                                   \
        if (!first)                                                                        \
            first = vt_fail(ei, (code), __VA_ARGS__);                                      \
    } while (0)

    /* 1. The scheduler attests this exact body at this log index: by a
     * signed tree head whose tree holds the receipt hash at log_index, or
     * by a direct signature. Whatever is present must verify. */
    bool direct_ok = false, log_ok = false;
    if (f->has_sig) {
        uint8_t msg[64];
        receipt_sig_message(f->hash, f->log_index, msg);
        direct_ok = vt_verify(f->scheduler_pk, msg, RECEIPT_SIG_MSG_LEN, f->sig) == 0;
        if (!direct_ok)
            FAIL_ONCE(VT_ERR_BADSIG, "scheduler signature does not verify");
    }
    if (f->has_head && f->has_inclusion) {
        rep->log_checked = true;
        uint8_t lh[VT_TLOG_HASH];
        vt_tlog_leaf_hash(f->hash, VT_HASH_BYTES, lh);
        log_ok = vt_tree_head_verify(&f->head, f->scheduler_pk) == 0 &&
                 vt_tlog_verify_inclusion(lh, f->log_index, f->head.size, &f->inclusion,
                                          f->head.root) == 0;
        rep->log_ok = log_ok;
        if (!log_ok)
            FAIL_ONCE(VT_ERR_BADSIG, "log inclusion proof or signed tree head does not verify");
    }
    rep->scheduler_sig_ok = (direct_ok || log_ok) && (!f->has_sig || direct_ok) &&
                            (!rep->log_checked || log_ok);
    if (!direct_ok && !log_ok)
        FAIL_ONCE(VT_ERR_BADSIG, "no valid scheduler attestation");
    rep->scheduler_trusted =
        trusted_scheduler && sodium_memcmp(trusted_scheduler, f->scheduler_pk, VT_PUBKEY_BYTES) == 0;

    /* 2. The result belongs to this job: same job, model and input. */
    uint8_t prompt_digest[VT_HASH_BYTES];
    vt_hash_tokens(r->prompt, r->n_prompt, prompt_digest);
    rep->consistent = strcmp(r->result.job_id, r->job_id) == 0 &&
                      memcmp(r->result.model_sha256, r->model_sha256, VT_SHA256_BYTES) == 0 &&
                      memcmp(r->result.prompt_digest, prompt_digest, VT_HASH_BYTES) == 0;
    if (!rep->consistent)
        FAIL_ONCE(VT_ERR_MISMATCH, "result does not match the job's model or input");

    /* 3. The worker signed the result (through its batch root). */
    uint8_t leaf[VT_HASH_BYTES];
    rep->worker_sig_ok = vt_result_leaf(&r->result, r->worker.node_pk, leaf) == 0 &&
                         check_attest(&r->worker, VT_BATCH_RESULTS, leaf) == 0;
    if (!rep->worker_sig_ok)
        FAIL_ONCE(VT_ERR_BADSIG, "worker signature or Merkle path does not verify");

    /* 4. Each verifier signed its verdict; a pass counts only from a node
     * other than the worker, and only once per verifier. */
    for (uint32_t i = 0; i < r->n_verdicts; i++) {
        const vt_receipt_verdict *v = &r->verdicts[i];
        if (vt_verdict_leaf(&v->v, v->att.node_pk, leaf) != 0 ||
            check_attest(&v->att, VT_BATCH_VERDICTS, leaf) != 0) {
            FAIL_ONCE(VT_ERR_BADSIG, "verdict %u: signature or Merkle path does not verify", i);
            continue;
        }
        rep->verdicts_ok++;
        bool dup = false;
        for (uint32_t j = 0; j < i; j++)
            dup |= memcmp(r->verdicts[j].att.node_pk, v->att.node_pk, VT_PUBKEY_BYTES) == 0;
        if (v->v.pass && !dup &&
            memcmp(v->att.node_pk, r->worker.node_pk, VT_PUBKEY_BYTES) != 0)
            rep->verdicts_pass++;
    }

    if (first)
        return first;
    if (!rep->scheduler_trusted)
        return vt_fail(ei, VT_ERR_DENIED,
                       "signatures verify, but the scheduler key is not one you trust (--keys)");
    return 0;
#undef FAIL_ONCE
}
