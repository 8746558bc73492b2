/* test_arb_policy.c - the arbiter's rng, policies, sampling and the choice
 * of verifiers. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "vt_arbiter.h"
#include "vt_test.h"

/* Seeded when the build allows it (VT_TEST_FAULTS), else the OS stream:
 * every statistical bound below holds for either. */
static bool rng_for(vt_arb_rng *rng, uint8_t tag)
{
    uint8_t seed[32];
    memset(seed, 0x5a, sizeof seed);
    seed[0] = tag;
    if (vt_arb_rng_seed(rng, seed) == 0)
        return true;
    VT_REQUIRE_OK(vt_arb_rng_init(rng));
    return false;
}

static void test_rng(void)
{
    uint8_t seed[32], a[1000], b[1000], want[1000];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(i * 7 + 1);
    vt_arb_rng r1, r2;
    if (vt_arb_rng_seed(&r1, seed) != 0) {
        fprintf(stderr, "note: release build, seeded rng refused (checked)\n");
        VT_CHECK_ERR(vt_arb_rng_seed(&r1, seed), VT_ERR_UNSUPPORTED);
    } else {
        /* The seeded stream is randombytes_buf_deterministic's, read in
         * uneven pieces across block boundaries. */
        randombytes_buf_deterministic(want, sizeof want, seed);
        size_t off = 0, step = 1;
        while (off < sizeof a) {
            size_t n = step < sizeof a - off ? step : sizeof a - off;
            vt_arb_rng_bytes(&r1, a + off, n);
            off += n;
            step = step * 3 % 97 + 1;
        }
        VT_CHECK(memcmp(a, want, sizeof a) == 0, "seeded stream != randombytes_buf_deterministic");
        /* Repeatable: same seed, same draws. */
        VT_REQUIRE_OK(vt_arb_rng_seed(&r1, seed));
        VT_REQUIRE_OK(vt_arb_rng_seed(&r2, seed));
        int same = 1;
        for (int i = 0; i < 500; i++)
            same &= vt_arb_rng_u64(&r1) == vt_arb_rng_u64(&r2);
        VT_CHECK(same, "same seed gave different streams");
        /* Two seeds differ. */
        seed[31] ^= 1;
        VT_REQUIRE_OK(vt_arb_rng_seed(&r2, seed));
        int differ = 0;
        for (int i = 0; i < 8; i++)
            differ |= vt_arb_rng_u64(&r1) != vt_arb_rng_u64(&r2);
        VT_CHECK(differ, "two seeds gave the same stream");
        /* Hex form (--verify-seed). */
        VT_CHECK_OK(vt_arb_rng_seed_hex(&r1, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", NULL));
        VT_CHECK_ERR(vt_arb_rng_seed_hex(&r1, "0011", NULL), VT_ERR_INVAL);
        VT_CHECK_ERR(vt_arb_rng_seed_hex(&r1, "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", NULL), VT_ERR_INVAL);
    }
    /* Production streams: two of them do not repeat each other. */
    VT_REQUIRE_OK(vt_arb_rng_init(&r1));
    VT_REQUIRE_OK(vt_arb_rng_init(&r2));
    vt_arb_rng_bytes(&r1, a, 64);
    vt_arb_rng_bytes(&r2, b, 64);
    VT_CHECK(memcmp(a, b, 64) != 0, "two OS streams gave the same 64 bytes");
    /* below(n) stays in range and reaches both ends; unit in [0,1). */
    bool lo = false, hi = false, in = true;
    for (int i = 0; i < 2000; i++) {
        uint32_t v = vt_arb_rng_below(&r1, 7);
        in &= v < 7;
        lo |= v == 0;
        hi |= v == 6;
        double u = vt_arb_rng_unit(&r1);
        in &= u >= 0.0 && u < 1.0;
    }
    VT_CHECK(in && lo && hi, "below/unit out of range or ends never drawn");
    VT_CHECK_EQ_INT(vt_arb_rng_below(&r1, 0), 0);
    VT_CHECK_EQ_INT(vt_arb_rng_below(&r1, 1), 0);
    VT_CHECK(!vt_arb_rng_chance(&r1, 0.0) && vt_arb_rng_chance(&r1, 1.0) &&
                 !vt_arb_rng_chance(&r1, NAN),
             "chance edge cases");
    vt_arb_rng_wipe(&r1);
}

static void test_policy(void)
{
    vt_arb_policy p;
    VT_CHECK_OK(vt_arb_policy_resolve(NULL, NULL, 3, &p, NULL));
    VT_CHECK(p.verify.mode == VT_VERIFY_FULL && p.verify.k == 1 && p.delivery == VT_ARB_DELIVER_VERIFIED,
             "default policy is full:1 verified");
    VT_CHECK_OK(vt_arb_policy_resolve("full", "optimistic", 3, &p, NULL));
    VT_CHECK(p.verify.k == 1 && p.delivery == VT_ARB_DELIVER_OPTIMISTIC, "full = full:1");
    VT_CHECK_OK(vt_arb_policy_resolve("full:3", "verified", 3, &p, NULL));
    VT_CHECK_EQ_INT(vt_arb_policy_k(&p.verify), 3);
    VT_CHECK_ERR(vt_arb_policy_resolve("full:4", NULL, 3, &p, NULL), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_arb_policy_resolve("full:0", NULL, 3, &p, NULL), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_arb_policy_resolve("sampled:0", NULL, 3, &p, NULL), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_arb_policy_resolve("none", "eventually", 3, &p, NULL), VT_ERR_INVAL);
    VT_CHECK_OK(vt_arb_policy_resolve("sampled:0.25", NULL, 3, &p, NULL));
    VT_CHECK_EQ_INT(vt_arb_policy_k(&p.verify), 1);
    VT_CHECK_OK(vt_arb_policy_resolve("none", NULL, 3, &p, NULL));
    VT_CHECK_EQ_INT(vt_arb_policy_k(&p.verify), 0);
    VT_CHECK_EQ_STR(vt_arb_delivery_name(VT_ARB_DELIVER_OPTIMISTIC), "optimistic");

    vt_arb_rng rng;
    rng_for(&rng, 1);
    vt_verify_policy full = {VT_VERIFY_FULL, 2, 0}, none = {VT_VERIFY_NONE, 0, 0};
    int f = 0, nn = 0;
    for (int i = 0; i < 100; i++) {
        f += vt_arb_should_verify(&full, &rng);
        nn += vt_arb_should_verify(&none, &rng);
    }
    VT_CHECK(f == 100 && nn == 0, "full always, none never (%d, %d)", f, nn);
}

/* sampled:P over n = 2000 jobs: Hoeffding gives
 *   P(|p_hat - P| > 0.05) <= 2 exp(-2 n 0.05^2) = 2 e^-10 ~= 9.1e-5
 * per P, so this test fails falsely with probability < 4e-4 even on an
 * unseeded stream (and never with the fixed seeds of a test build). */
static void test_sampling(void)
{
    const double ps[] = {0.05, 0.25, 0.5, 0.9};
    const int n = 2000;
    const double eps = 0.05;
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        vt_arb_rng rng;
        rng_for(&rng, (uint8_t)(10 + k));
        vt_verify_policy pol = {VT_VERIFY_SAMPLED, 0, ps[k]};
        int hits = 0;
        for (int i = 0; i < n; i++)
            hits += vt_arb_should_verify(&pol, &rng);
        double phat = (double)hits / n;
        VT_CHECK(fabs(phat - ps[k]) <= eps, "sampled:%.2f verified %.4f of %d jobs (bound %.2f)",
                 ps[k], phat, n, eps);
    }
    vt_arb_rng rng;
    rng_for(&rng, 20);
    vt_verify_policy one = {VT_VERIFY_SAMPLED, 0, 1.0};
    int all = 0;
    for (int i = 0; i < 200; i++)
        all += vt_arb_should_verify(&one, &rng);
    VT_CHECK_EQ_INT(all, 200);
}

#define NC 12
static const char *const OPS[] = {"opA", "opB", "opC", "opD", ""};

static void test_pick(void)
{
    vt_arb_rng rng;
    rng_for(&rng, 30);
    /* Fixed panorama: candidate 0 is the worker (opA), 1 and 2 share its
     * operator, 3 is dead, 4 quarantined, 5 already used; 6..11 eligible. */
    vt_arb_candidate c[NC];
    for (int i = 0; i < NC; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].pk[0] = (uint8_t)(i + 1);
        c[i].live = true;
        c[i].operator_name = OPS[1 + i % 3];
    }
    c[0].operator_name = c[1].operator_name = c[2].operator_name = "opA";
    c[3].live = false;
    c[4].quarantined = true;
    uint8_t excl[1][VT_PUBKEY_BYTES];
    memcpy(excl[0], c[5].pk, VT_PUBKEY_BYTES);
    unsigned chosen[NC] = {0};
    bool ok = true;
    for (int trial = 0; trial < 3000; trial++) {
        uint32_t k = 1 + (uint32_t)(trial % 8), out[8], n = 99;
        VT_REQUIRE_OK(vt_arb_pick_verifiers(c, NC, c[0].pk, "opA", k, excl, 1, &rng, out, &n));
        ok &= n == (k < 6 ? k : 6);
        for (uint32_t i = 0; i < n; i++) {
            ok &= out[i] >= 6 && out[i] < NC;
            for (uint32_t j = 0; j < i; j++)
                ok &= out[i] != out[j];
            chosen[out[i] < NC ? out[i] : 0]++;
        }
    }
    VT_CHECK(ok, "pick returned an ineligible, repeated or wrong number of verifiers");
    for (int i = 0; i < NC; i++)
        VT_CHECK(i >= 6 ? chosen[i] > 0 : chosen[i] == 0, "candidate %d chosen %u times", i,
                 chosen[i]);
    /* Single picks: every eligible one gets roughly its 1/6 share. With
     * 6000 picks each count is Binomial(6000, 1/6), mean 1000, sd 28.9; the
     * window [800, 1200] is 6.9 sd wide on each side (false failure ~1e-11). */
    memset(chosen, 0, sizeof chosen);
    for (int trial = 0; trial < 6000; trial++) {
        uint32_t out[1], n;
        vt_arb_pick_verifiers(c, NC, c[0].pk, "opA", 1, excl, 1, &rng, out, &n);
        if (n == 1)
            chosen[out[0]]++;
    }
    for (int i = 6; i < NC; i++)
        VT_CHECK(chosen[i] >= 800 && chosen[i] <= 1200, "candidate %d: %u of 6000 single picks",
                 i, chosen[i]);

    /* Random panoramas against the rule written out here. */
    ok = true;
    for (int trial = 0; trial < 3000; trial++) {
        vt_arb_candidate r[NC];
        for (int i = 0; i < NC; i++) {
            memset(&r[i], 0, sizeof r[i]);
            r[i].pk[0] = (uint8_t)vt_arb_rng_below(&rng, 16); /* collisions on purpose */
            r[i].pk[31] = 0xee;
            r[i].live = vt_arb_rng_below(&rng, 5) != 0;
            r[i].quarantined = vt_arb_rng_below(&rng, 5) == 0;
            r[i].operator_name = vt_arb_rng_below(&rng, 6) ? OPS[vt_arb_rng_below(&rng, 5)] : NULL;
        }
        uint8_t wpk[VT_PUBKEY_BYTES] = {0};
        wpk[0] = (uint8_t)vt_arb_rng_below(&rng, 16);
        wpk[31] = 0xee;
        const char *wop = vt_arb_rng_below(&rng, 4) ? OPS[vt_arb_rng_below(&rng, 4)] : NULL;
        uint8_t used[3][VT_PUBKEY_BYTES] = {{0}};
        size_t nused = vt_arb_rng_below(&rng, 4);
        for (size_t u = 0; u < nused; u++) {
            used[u][0] = (uint8_t)vt_arb_rng_below(&rng, 16);
            used[u][31] = 0xee;
        }
        uint32_t k = 1 + vt_arb_rng_below(&rng, 5), out[5], n;
        VT_REQUIRE_OK(vt_arb_pick_verifiers(r, NC, wpk, wop, k, used, nused, &rng, out, &n));
        uint32_t eligible = 0;
        for (int i = 0; i < NC; i++) {
            bool e = r[i].live && !r[i].quarantined && memcmp(r[i].pk, wpk, VT_PUBKEY_BYTES) != 0 &&
                     !(wop && wop[0] && r[i].operator_name && strcmp(r[i].operator_name, wop) == 0);
            for (size_t u = 0; u < nused; u++)
                e &= memcmp(r[i].pk, used[u], VT_PUBKEY_BYTES) != 0;
            eligible += e;
            bool picked = false;
            for (uint32_t j = 0; j < n; j++)
                picked |= out[j] == (uint32_t)i;
            ok &= !picked || e;
        }
        ok &= n == (k < eligible ? k : eligible);
    }
    VT_CHECK(ok, "random panoramas: a pick broke the eligibility rule or returned too few");

    uint32_t out[2], n;
    VT_CHECK_OK(vt_arb_pick_verifiers(c, NC, c[0].pk, "opA", 0, NULL, 0, &rng, out, &n));
    VT_CHECK_EQ_INT(n, 0);
    VT_CHECK_ERR(vt_arb_pick_verifiers(c, NC, c[0].pk, "opA", 2, NULL, 0, NULL, out, &n), VT_ERR_INVAL);
}

int main(void)
{
    test_rng();
    test_policy();
    test_sampling();
    test_pick();
    return vt_test_done();
}
