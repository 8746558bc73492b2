/* test_arb_dispute.c - the dispute rule (vt_arbiter.h, "dispute"), table
 * by table, then every vote sequence of small panels against invariants. */
#include <stdio.h>
#include <string.h>

#include "vt_arbiter.h"
#include "vt_test.h"

/* votes: one char per verdict in arrival order, 'P' pass, 'F' fail, from
 * verifiers 1, 2, 3...; overruled: 'X' under each vote the decision
 * overrules (and the scheduler quarantines). */
typedef struct row {
    uint32_t k, max_panel;
    const char *votes;
    vt_arb_outcome outcome;
    uint32_t need;
    bool q_worker, capped;
    const char *overruled;
    const char *why;
} row;

#define P VT_ARB_PENDING
#define V VT_ARB_VERIFIED
#define W VT_ARB_WORKER_FAULTY
#define T VT_ARB_NEED_TIEBREAK

static const row ROWS[] = {
    /* K = 1: panel of 3 once disputed, majority 2. */
    {1, 0, "", P, 1, false, false, "", "nothing yet: one pass needed"},
    {1, 0, "P", V, 0, false, false, ".", "K passes, no dissent"},
    {1, 0, "F", T, 1, false, false, ".", "a lone fail convicts nobody: one more fail would"},
    {1, 0, "FF", W, 0, true, false, "..", "2 of 3 fail: majority, worker quarantined"},
    {1, 0, "FP", T, 1, false, false, "..", "1-1: the third verdict decides"},
    {1, 0, "FPP", V, 0, false, false, "X..", "2 of 3 pass: the failing verifier lied"},
    {1, 0, "FPF", W, 0, true, false, ".X.", "2 of 3 fail: worker and the passing verifier"},
    {1, 0, "PF", T, 1, false, false, "..", "a late fail reopens a pass (in-flight verdicts)"},
    /* K = 2: panel 3, majority 2 = K. */
    {2, 0, "P", P, 1, false, false, ".", "one of two passes"},
    {2, 0, "PP", V, 0, false, false, "..", "K passes"},
    {2, 0, "PF", T, 1, false, false, "..", "1-1: one more decides"},
    {2, 0, "PFP", V, 0, false, false, ".X.", "2 of 3 pass"},
    {2, 0, "PFF", W, 0, true, false, "X..", "2 of 3 fail"},
    {2, 0, "FF", W, 0, true, false, "..", "2 fails are already a majority of 3"},
    /* K = 3: panel 5, majority 3 = K. */
    {3, 0, "PPP", V, 0, false, false, "...", "K passes"},
    {3, 0, "PPF", T, 1, false, false, "...", "2-1 is not K passes: one more pass would do"},
    {3, 0, "PPFP", V, 0, false, false, "..X.", "3 of 5 pass"},
    {3, 0, "PPFF", T, 1, false, false, "....", "2-2: the fifth decides"},
    {3, 0, "PPFFF", W, 0, true, false, "XX...", "3 of 5 fail: worker and both passers"},
    {3, 0, "PPFFP", V, 0, false, false, "..XX.", "3 of 5 pass: both failers"},
    {3, 0, "FFF", W, 0, true, false, "...", "3 fails are a majority of 5"},
    {3, 0, "F", T, 2, false, false, ".", "fail side needs 2 more, pass side 3"},
    /* Caps. */
    {1, 1, "F", W, 0, true, false, ".", "max_panel 1: tie-breaks off, one fail convicts"},
    {1, 2, "F", T, 1, false, false, ".", "panel 2, majority 2"},
    {1, 2, "FP", W, 0, false, true, "..", "cap reached 1-1: re-execute, blame nobody"},
    {1, 2, "FF", W, 0, true, false, "..", "2 of 2 fail"},
    {9, 0, "PPPPPPPPF", T, 1, false, false, ".........",
     "K 9: panel capped at 16, majority 9: one more pass"},
    {16, 0, "PPPPPPPPPPPPPPPF", W, 0, false, true, "................",
     "K 16 cannot get 16 passes after a fail and the fails cannot reach 9: capped"},
    {16, 0, "PPPPPPPPPPPPPPP", P, 1, false, false, "...............", "K 16 undisputed: one more"},
};

static void build(vt_arb_tally *t, const char *votes)
{
    vt_arb_tally_init(t);
    for (size_t i = 0; votes[i]; i++) {
        uint8_t pk[VT_PUBKEY_BYTES] = {0};
        pk[0] = (uint8_t)(i + 1);
        VT_REQUIRE_OK(vt_arb_tally_add(t, pk, votes[i] == 'P', votes[i] == 'P' ? VT_FAULT_NONE : VT_FAULT_WRONG_TOKEN));
    }
}

static void test_table(void)
{
    for (size_t r = 0; r < sizeof ROWS / sizeof ROWS[0]; r++) {
        const row *w = &ROWS[r];
        vt_arb_tally t;
        build(&t, w->votes);
        vt_arb_decision d;
        VT_CHECK_OK(vt_arb_decide(&t, w->k, w->max_panel, &d));
        char got[VT_ARB_MAX_PANEL + 1];
        memset(got, '.', t.n);
        got[t.n] = '\0';
        for (uint32_t i = 0; i < d.n_overruled; i++)
            got[d.overruled[i]] = 'X';
        bool ok = d.outcome == w->outcome && d.need == w->need && d.quarantine_worker == w->q_worker &&
                  d.capped == w->capped && strcmp(got, w->overruled) == 0;
        VT_CHECK(ok, "K=%u cap=%u votes '%s' (%s): got %s need %u qw %d capped %d overruled '%s'",
                 w->k, w->max_panel, w->votes, w->why, vt_arb_outcome_name(d.outcome), d.need,
                 d.quarantine_worker, d.capped, got);
    }
}

static void test_errors(void)
{
    vt_arb_tally t;
    build(&t, "PF");
    vt_arb_decision d;
    VT_CHECK_ERR(vt_arb_decide(&t, 0, 0, &d), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_arb_decide(&t, 17, 0, &d), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_arb_decide(&t, 3, 2, &d), VT_ERR_INVAL);  /* cap below K */
    VT_CHECK_ERR(vt_arb_decide(&t, 1, 17, &d), VT_ERR_INVAL);
    /* One vote per verifier key; at most VT_ARB_MAX_PANEL votes. */
    uint8_t pk[VT_PUBKEY_BYTES] = {1};
    VT_CHECK_ERR(vt_arb_tally_add(&t, pk, true, VT_FAULT_NONE), VT_ERR_EXISTS);
    VT_CHECK_EQ_INT(t.n, 2);
    build(&t, "PPPPPPPPPPPPPPPP");
    pk[0] = 0x77;
    VT_CHECK_ERR(vt_arb_tally_add(&t, pk, true, VT_FAULT_NONE), VT_ERR_RANGE);
    uint8_t voters[VT_ARB_MAX_PANEL][VT_PUBKEY_BYTES];
    vt_arb_tally_voters(&t, voters);
    VT_CHECK(voters[15][0] == 16, "voters list");
    VT_CHECK_EQ_STR(vt_arb_outcome_name(VT_ARB_NEED_TIEBREAK), "need_tiebreak");
}

/* Feed every vote sequence, one verdict at a time, as a scheduler asking
 * for verdicts until decided. Invariants for K = 1..5 and every sequence
 * of up to 2K+1 votes:
 *  - the process ends within min(2K+1, 16) verdicts, never capped (the
 *    default cap is above the panel for K <= 8);
 *  - VERIFIED has >= K passes and more passes than fails;
 *  - WORKER_FAULTY has more fails than passes and, with a dispute panel of
 *    at least 3, at least 2 fails (no lone verifier convicts);
 *  - overruled = exactly the losing side; need >= 1 while undecided. */
static void test_exhaustive(void)
{
    unsigned bad = 0, runs = 0;
    for (uint32_t k = 1; k <= 5; k++) {
        uint32_t len = 2 * k + 1;
        for (uint32_t bits = 0; bits < (1u << len); bits++) {
            vt_arb_tally t;
            vt_arb_tally_init(&t);
            vt_arb_decision d;
            uint32_t i = 0;
            for (;;) {
                if (vt_arb_decide(&t, k, 0, &d) != 0) {
                    bad++;
                    break;
                }
                if (d.outcome == VT_ARB_VERIFIED || d.outcome == VT_ARB_WORKER_FAULTY)
                    break;
                if (d.need < 1 || i >= len) {
                    bad++;
                    break;
                }
                uint8_t pk[VT_PUBKEY_BYTES] = {0};
                pk[0] = (uint8_t)(i + 1);
                vt_arb_tally_add(&t, pk, !((bits >> i) & 1), VT_FAULT_WRONG_TOKEN);
                i++;
            }
            runs++;
            if (d.capped)
                bad++;
            if (d.outcome == VT_ARB_VERIFIED && !(t.n_pass >= k && t.n_pass > t.n_fail))
                bad++;
            if (d.outcome == VT_ARB_WORKER_FAULTY && !(t.n_fail > t.n_pass && t.n_fail >= 2))
                bad++;
            uint32_t losers = d.outcome == VT_ARB_VERIFIED ? t.n_fail : t.n_pass;
            if (d.n_overruled != losers)
                bad++;
            for (uint32_t o = 0; o < d.n_overruled; o++)
                if (t.votes[d.overruled[o]].pass != (d.outcome == VT_ARB_WORKER_FAULTY))
                    bad++;
        }
    }
    VT_CHECK(bad == 0, "%u invariant violations over %u vote sequences", bad, runs);
}

int main(void)
{
    test_table();
    test_errors();
    test_exhaustive();
    return vt_test_done();
}
