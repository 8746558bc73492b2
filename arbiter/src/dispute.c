/* dispute.c - per-job verdict tally and the decision rule (vt_arbiter.h,
 * "dispute"; the rule is stated there and in arbiter/README.md). */
#include <string.h>

#include "vt_arbiter.h"

void vt_arb_tally_init(vt_arb_tally *t)
{
    memset(t, 0, sizeof *t);
}

int vt_arb_tally_add(vt_arb_tally *t, const uint8_t verifier[VT_PUBKEY_BYTES], bool pass,
                     vt_fault fault)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (memcmp(t->votes[i].verifier, verifier, VT_PUBKEY_BYTES) == 0)
            return VT_ERR_EXISTS;
    if (t->n >= VT_ARB_MAX_PANEL)
        return VT_ERR_RANGE;
    vt_arb_vote *v = &t->votes[t->n++];
    memcpy(v->verifier, verifier, VT_PUBKEY_BYTES);
    v->pass = pass;
    v->fault = pass ? VT_FAULT_NONE : fault;
    if (pass)
        t->n_pass++;
    else
        t->n_fail++;
    return 0;
}

void vt_arb_tally_voters(const vt_arb_tally *t, uint8_t (*out)[VT_PUBKEY_BYTES])
{
    for (uint32_t i = 0; i < t->n; i++)
        memcpy(out[i], t->votes[i].verifier, VT_PUBKEY_BYTES);
}

const char *vt_arb_outcome_name(vt_arb_outcome o)
{
    switch (o) {
    case VT_ARB_PENDING: return "pending";
    case VT_ARB_VERIFIED: return "verified";
    case VT_ARB_WORKER_FAULTY: return "worker_faulty";
    case VT_ARB_NEED_TIEBREAK: return "need_tiebreak";
    }
    return "?";
}

/* Every voter on the losing side is overruled. */
static void overrule(const vt_arb_tally *t, bool losing_pass, vt_arb_decision *d)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (t->votes[i].pass == losing_pass)
            d->overruled[d->n_overruled++] = i;
}

int vt_arb_decide(const vt_arb_tally *t, uint32_t k, uint32_t max_panel, vt_arb_decision *out)
{
    memset(out, 0, sizeof *out);
    if (k < 1 || k > VT_ARB_MAX_PANEL)
        return VT_ERR_INVAL;
    uint32_t cap = max_panel;
    if (cap == 0)
        cap = 2 * k + 1 < VT_ARB_MAX_PANEL ? 2 * k + 1 : VT_ARB_MAX_PANEL;
    if (cap < k || cap > VT_ARB_MAX_PANEL || t->n != t->n_pass + t->n_fail || t->n > VT_ARB_MAX_PANEL)
        return VT_ERR_INVAL;

    if (t->n_fail == 0) {
        out->panel = k;
        if (t->n_pass >= k) {
            out->outcome = VT_ARB_VERIFIED;
        } else {
            out->outcome = VT_ARB_PENDING;
            out->need = k - t->n_pass;
        }
        return 0;
    }

    /* Dispute. Panel max(3, 2K-1): odd, and its strict majority is
     * max(2, K), so a pass majority is also the K passes the policy asked
     * for. The cap may shrink it (even, or too small for K passes). */
    out->disputed = true;
    uint32_t panel = 2 * k - 1 > 3 ? 2 * k - 1 : 3;
    if (panel > cap)
        panel = cap;
    out->panel = panel;
    uint32_t majority = panel / 2 + 1;
    uint32_t need_pass = majority > k ? majority : k;
    uint32_t need_fail = majority;
    if (t->n_pass >= need_pass) {
        out->outcome = VT_ARB_VERIFIED;
        overrule(t, false, out);
        return 0;
    }
    if (t->n_fail >= need_fail) {
        out->outcome = VT_ARB_WORKER_FAULTY;
        out->quarantine_worker = true;
        overrule(t, true, out);
        return 0;
    }
    uint32_t left = panel > t->n ? panel - t->n : 0;
    uint32_t to_pass = need_pass - t->n_pass, to_fail = need_fail - t->n_fail;
    bool pass_possible = to_pass <= left, fail_possible = to_fail <= left;
    if (!pass_possible && !fail_possible) {
        /* Cap reached without a majority: contested, so never delivered,
         * and nobody can be blamed. */
        out->outcome = VT_ARB_WORKER_FAULTY;
        out->capped = true;
        return 0;
    }
    out->outcome = VT_ARB_NEED_TIEBREAK;
    if (pass_possible && fail_possible)
        out->need = to_pass < to_fail ? to_pass : to_fail;
    else
        out->need = pass_possible ? to_pass : to_fail;
    return 0;
}
