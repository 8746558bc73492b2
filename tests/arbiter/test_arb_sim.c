/* test_arb_sim.c - the arbiter driven the way the scheduler drives it
 * (arbiter/README.md, "Scheduler hooks"), over a small network with one
 * faulty worker, one always-pass verifier and one always-fail verifier.
 *
 * What must hold, whatever the random draws:
 *  - an honest node is never quarantined (each liar can sway at most one
 *    vote of a panel, and a dispute panel needs two);
 *  - the faulty worker and both lying verifiers end up quarantined;
 *  - a wrong result is delivered as verified only when the always-pass
 *    verifier was its sole judge (so never once it is quarantined);
 *  - every job ends (verified or given up after bounded attempts).
 * The liars being caught at all is probabilistic: the always-pass verifier
 * gets ~1/5 of ~3000 replays with 2.5 % corrupted audits each, so it
 * escapes with probability < 0.975^400 ~ 4e-5 per network (and disputes
 * catch it too): < 4e-4 for the 8 networks on an unseeded (release-build)
 * stream; test builds use fixed seeds. */
#include <stdio.h>
#include <string.h>

#include "vt_arbiter.h"
#include "vt_test.h"

enum { NW = 6, NV = 6, JOBS = 3000, MAX_ATTEMPTS = 5 };
enum { HONEST = 0, FAULTY, ALWAYS_PASS, ALWAYS_FAIL };

typedef struct node {
    uint8_t pk[VT_PUBKEY_BYTES];
    const char *op;
    int kind;
} node;

static node W[NW], V[NV];
static vt_arb_qset Q;
static vt_arb_rng RNG;
static const double AUDIT_RATE = 0.05;

static bool answer(const node *v, bool result_correct)
{
    switch (v->kind) {
    case ALWAYS_PASS: return true;
    case ALWAYS_FAIL: return false;
    default: return result_correct;
    }
}

static void quarantine(const uint8_t pk[VT_PUBKEY_BYTES])
{
    VT_REQUIRE_OK(vt_arb_qset_add(&Q, pk));
}

/* An audit before a real task, as the vfetch hook would add one. */
static void maybe_audit(const node *v)
{
    if (!vt_arb_audit_due(AUDIT_RATE, &RNG))
        return;
    static const int32_t prompt[] = {1, 2, 3}, output[] = {4, 5, 6, 7};
    vt_wire_task honest;
    memset(&honest, 0, sizeof honest);
    honest.prompt = prompt;
    honest.n_prompt = 3;
    honest.output = output;
    honest.n_output = 4;
    vt_arb_audit a;
    VT_REQUIRE_OK(vt_arb_audit_make(&honest, vt_arb_rng_chance(&RNG, 0.5), 0, &RNG, &a));
    /* An honest verifier's replay fails exactly the altered copies. */
    bool altered = a.how != VT_ARB_CORRUPT_NONE;
    bool verdict = answer(v, !altered);
    if (vt_arb_audit_judge(a.expected_pass, verdict) == VT_ARB_VERIFIER_LIES)
        quarantine(v->pk);
    vt_arb_audit_free(&a);
}

/* One network, JOBS jobs; returns the number of disputes seen. */
static unsigned sim(uint8_t seed_byte)
{
    uint8_t seed[32] = {seed_byte};
    if (vt_arb_rng_seed(&RNG, seed) != 0)
        VT_REQUIRE_OK(vt_arb_rng_init(&RNG));
    vt_arb_qset_init(&Q);
    unsigned disputes = 0;
    static const char *const wops[] = {"w-org1", "w-org1", "w-org2", "w-org2", "shared", "w-org3"};
    static const char *const vops[] = {"v-org1", "v-org1", "v-org2", "shared", "v-org3", "v-org3"};
    for (int i = 0; i < NW; i++) {
        memset(W[i].pk, 0x10 + i, VT_PUBKEY_BYTES);
        W[i].op = wops[i];
        W[i].kind = i == 0 ? FAULTY : HONEST;
    }
    for (int i = 0; i < NV; i++) {
        memset(V[i].pk, 0x80 + i, VT_PUBKEY_BYTES);
        V[i].op = vops[i];
        V[i].kind = i == 0 ? ALWAYS_PASS : i == 1 ? ALWAYS_FAIL : HONEST;
    }
    const char *policies[] = {"full:1", "full:2", "sampled:0.5", "full:3"};
    unsigned wrong_verified = 0, unverified = 0, gave_up = 0,
             same_operator = 0, verified = 0;
    for (int job = 0; job < JOBS; job++) {
        vt_arb_policy pol;
        VT_REQUIRE_OK(vt_arb_policy_resolve(policies[job % 4], NULL, 3, &pol, NULL));
        uint8_t excl_workers[MAX_ATTEMPTS][VT_PUBKEY_BYTES];
        int n_excl = 0;
        bool done = false;
        for (int attempt = 0; attempt < MAX_ATTEMPTS && !done; attempt++) {
            /* Lease to a random worker that is not quarantined or excluded. */
            int cand[NW], nc = 0;
            for (int i = 0; i < NW; i++) {
                bool ok = !vt_arb_qset_has(&Q, W[i].pk);
                for (int e = 0; e < n_excl; e++)
                    ok &= memcmp(excl_workers[e], W[i].pk, VT_PUBKEY_BYTES) != 0;
                if (ok)
                    cand[nc++] = i;
            }
            VT_REQUIRE(nc > 0, "no worker left");
            const node *w = &W[cand[vt_arb_rng_below(&RNG, (uint32_t)nc)]];
            bool correct = w->kind == HONEST;
            /* Result accepted: sample after the fact. */
            if (!vt_arb_should_verify(&pol.verify, &RNG)) {
                unverified++;
                done = true;
                break;
            }
            uint32_t k = vt_arb_policy_k(&pol.verify);
            vt_arb_tally t;
            vt_arb_tally_init(&t);
            vt_arb_decision d;
            for (;;) {
                VT_REQUIRE_OK(vt_arb_decide(&t, k, 0, &d));
                if (d.outcome == VT_ARB_VERIFIED || d.outcome == VT_ARB_WORKER_FAULTY)
                    break;
                vt_arb_candidate c[NV];
                for (int i = 0; i < NV; i++) {
                    memcpy(c[i].pk, V[i].pk, VT_PUBKEY_BYTES);
                    c[i].operator_name = V[i].op;
                    c[i].live = true;
                    c[i].quarantined = vt_arb_qset_has(&Q, V[i].pk);
                }
                uint8_t voters[VT_ARB_MAX_PANEL][VT_PUBKEY_BYTES];
                vt_arb_tally_voters(&t, voters);
                uint32_t picked[VT_ARB_MAX_PANEL], np = 0;
                VT_REQUIRE_OK(vt_arb_pick_verifiers(c, NV, w->pk, w->op, d.need,
                                                    (const uint8_t(*)[VT_PUBKEY_BYTES])voters, t.n,
                                                    &RNG, picked, &np));
                if (np == 0) {
                    /* Nobody left to ask: an open dispute counts as capped. */
                    d.outcome = VT_ARB_WORKER_FAULTY;
                    d.capped = true;
                    d.quarantine_worker = false;
                    d.n_overruled = 0;
                    break;
                }
                for (uint32_t i = 0; i < np; i++) {
                    const node *v = &V[picked[i]];
                    same_operator += strcmp(v->op, w->op) == 0;
                    maybe_audit(v);
                    VT_REQUIRE_OK(vt_arb_tally_add(&t, v->pk, answer(v, correct), VT_FAULT_WRONG_TOKEN));
                }
            }
            disputes += d.disputed;
            if (d.quarantine_worker)
                quarantine(w->pk);
            for (uint32_t i = 0; i < d.n_overruled; i++)
                quarantine(t.votes[d.overruled[i]].verifier);
            if (d.outcome == VT_ARB_VERIFIED) {
                verified++;
                if (!correct) {
                    wrong_verified++;
                    bool liar_only = t.n_fail == 0 && t.n_pass == 1 &&
                                     memcmp(t.votes[0].verifier, V[0].pk, VT_PUBKEY_BYTES) == 0;
                    VT_CHECK(liar_only, "job %d: wrong result verified by %u passes", job, t.n_pass);
                }
                done = true;
            } else {
                memcpy(excl_workers[n_excl++], w->pk, VT_PUBKEY_BYTES);
            }
        }
        if (!done)
            gave_up++;
    }
    /* Honest nodes untouched; every bad node caught. */
    for (int i = 0; i < NW; i++)
        VT_CHECK(vt_arb_qset_has(&Q, W[i].pk) == (W[i].kind != HONEST), "worker %d quarantine %d", i,
                 vt_arb_qset_has(&Q, W[i].pk));
    for (int i = 0; i < NV; i++)
        VT_CHECK(vt_arb_qset_has(&Q, V[i].pk) == (V[i].kind != HONEST), "verifier %d quarantine %d",
                 i, vt_arb_qset_has(&Q, V[i].pk));
    VT_CHECK_EQ_INT(same_operator, 0);
    VT_CHECK_EQ_INT(gave_up, 0);
    fprintf(stderr, "sim %u: %u verified (%u wrong, each judged by the always-pass verifier alone), "
                    "%u sampled out, %u disputes\n",
            seed_byte, verified, wrong_verified, unverified, disputes);
    vt_arb_qset_free(&Q);
    return disputes;
}

int main(void)
{
    /* Several networks: the order in which liars meet work differs. */
    unsigned disputes = 0;
    for (uint8_t s = 1; s <= 8; s++)
        disputes += sim(s);
    VT_CHECK(disputes > 0, "no dispute was exercised");
    return vt_test_done();
}
