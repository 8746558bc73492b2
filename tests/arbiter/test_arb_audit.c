/* test_arb_audit.c - audit tasks (vt_arbiter.h, "audit"): corrupted copies
 * really differ from the honest task in exactly one place, stay valid in
 * form, carry the right expected verdict, and the detection bound holds. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vt_arbiter.h"
#include "vt_test.h"

static vt_arb_rng RNG;

static void init_rng(void)
{
    uint8_t seed[32];
    memset(seed, 0xa5, sizeof seed);
    if (vt_arb_rng_seed(&RNG, seed) != 0)
        VT_REQUIRE_OK(vt_arb_rng_init(&RNG));
}

static const int32_t PROMPT[] = {5, 17, 17, 42, 9};
static const int32_t OUTPUT[] = {42, 7, 7, 100, 3, 61};
static const uint8_t LAYERS[2 * VT_DIGEST_BYTES] = {1, 2, 3};

static vt_wire_task honest_task(void)
{
    vt_wire_task t;
    memset(&t, 0, sizeof t);
    t.task_id = 11;
    t.lease_id = 12;
    snprintf(t.job_id, sizeof t.job_id, "j-audit-1");
    t.prompt = PROMPT;
    t.n_prompt = 5;
    t.output = OUTPUT;
    t.n_output = 6;
    t.max_tokens = 16;
    t.stop_reason = VT_STOP_MAX;
    for (int i = 0; i < VT_DIGEST_BYTES; i++)
        t.trace_digest[i] = (uint8_t)(i * 3);
    t.n_layers = 2;
    t.layer_digests = LAYERS;
    t.worker[0] = 0x99;
    return t;
}

static bool in_task(const vt_wire_task *t, int32_t id)
{
    for (uint32_t i = 0; i < t->n_prompt; i++)
        if (t->prompt[i] == id)
            return true;
    for (uint32_t i = 0; i < t->n_output; i++)
        if (t->output[i] == id)
            return true;
    return false;
}

/* Exactly one difference, of the kind claimed; everything else equal. */
static bool check_one_change(const vt_wire_task *h, const vt_arb_audit *a, uint32_t n_vocab)
{
    uint32_t tok_diff = 0, dig_diff = 0;
    for (uint32_t i = 0; i < h->n_output; i++)
        tok_diff += a->task.output[i] != h->output[i];
    for (int i = 0; i < VT_DIGEST_BYTES; i++)
        dig_diff += a->task.trace_digest[i] != h->trace_digest[i];
    bool same_rest = a->task.n_output == h->n_output && a->task.prompt == h->prompt &&
                     a->task.n_prompt == h->n_prompt && a->task.layer_digests == h->layer_digests &&
                     a->task.n_layers == h->n_layers && a->task.task_id == h->task_id &&
                     strcmp(a->task.job_id, h->job_id) == 0 &&
                     memcmp(a->task.worker, h->worker, VT_PUBKEY_BYTES) == 0;
    if (!same_rest || a->expected_pass)
        return false;
    if (a->how == VT_ARB_CORRUPT_TOKEN) {
        int32_t id = a->task.output[a->position];
        bool valid = n_vocab ? (id >= 0 && (uint32_t)id < n_vocab) : in_task(h, id);
        return tok_diff == 1 && dig_diff == 0 && id != h->output[a->position] && valid &&
               a->task.output != h->output;
    }
    if (a->how == VT_ARB_CORRUPT_DIGEST)
        return tok_diff == 0 && dig_diff == 1;
    return false;
}

static void test_corrupt(void)
{
    vt_wire_task h = honest_task();
    vt_wire_task before = h;
    int32_t out_before[6];
    memcpy(out_before, OUTPUT, sizeof out_before);
    unsigned kinds[3] = {0}, ok = 0, positions = 0;
    const int N = 600;
    for (int i = 0; i < N; i++) {
        uint32_t n_vocab = i % 2 ? 0 : 128;
        vt_arb_audit a;
        VT_REQUIRE_OK(vt_arb_audit_corrupt(&h, n_vocab, &RNG, &a));
        ok += check_one_change(&h, &a, n_vocab);
        kinds[a.how]++;
        if (a.how == VT_ARB_CORRUPT_TOKEN)
            positions |= 1u << a.position;
        vt_arb_audit_free(&a);
    }
    VT_CHECK_EQ_INT(ok, N);
    /* Both kinds, at random: each is Binomial(600, 1/2); below 200 has
     * probability < 1e-15. Every output position gets hit. */
    VT_CHECK(kinds[VT_ARB_CORRUPT_TOKEN] > 200 && kinds[VT_ARB_CORRUPT_DIGEST] > 200 &&
                 kinds[VT_ARB_CORRUPT_NONE] == 0,
             "kinds token %u digest %u none %u", kinds[1], kinds[2], kinds[0]);
    VT_CHECK_EQ_INT(positions, 0x3f);
    /* The honest task was not touched. */
    VT_CHECK(memcmp(&h, &before, sizeof h) == 0 && memcmp(OUTPUT, out_before, sizeof out_before) == 0,
             "honest task modified");

    /* Untouched copy: identical, expected PASS. */
    vt_arb_audit a;
    VT_REQUIRE_OK(vt_arb_audit_make(&h, false, 0, &RNG, &a));
    VT_CHECK(a.expected_pass && a.how == VT_ARB_CORRUPT_NONE && memcmp(&a.task, &h, sizeof h) == 0,
             "untouched copy differs");
    vt_arb_audit_free(&a);

    /* No output: the digest is the only thing to alter. */
    vt_wire_task e = h;
    e.n_output = 0;
    e.output = NULL;
    for (int i = 0; i < 20; i++) {
        VT_REQUIRE_OK(vt_arb_audit_corrupt(&e, 0, &RNG, &a));
        VT_CHECK(a.how == VT_ARB_CORRUPT_DIGEST && memcmp(a.task.trace_digest, e.trace_digest, VT_DIGEST_BYTES) != 0,
                 "empty output not corrupted through the digest");
        vt_arb_audit_free(&a);
    }
    /* Only one distinct id in the task and no vocabulary size: no other
     * valid id exists, so the digest is used. */
    static const int32_t same[] = {8, 8, 8};
    vt_wire_task s = h;
    s.prompt = same;
    s.n_prompt = 3;
    s.output = same;
    s.n_output = 3;
    for (int i = 0; i < 20; i++) {
        VT_REQUIRE_OK(vt_arb_audit_corrupt(&s, 0, &RNG, &a));
        VT_CHECK(a.how == VT_ARB_CORRUPT_DIGEST && !a.expected_pass, "fallback to digest");
        vt_arb_audit_free(&a);
    }
    vt_wire_task bad = h;
    bad.output = NULL;
    VT_CHECK_ERR(vt_arb_audit_corrupt(&bad, 0, &RNG, &a), VT_ERR_INVAL);
}

static void test_judge(void)
{
    /* expected, verdict -> result */
    VT_CHECK_EQ_INT(vt_arb_audit_judge(false, false), VT_ARB_AUDIT_OK);     /* caught the corruption */
    VT_CHECK_EQ_INT(vt_arb_audit_judge(false, true), VT_ARB_VERIFIER_LIES); /* passed a corrupted result */
    VT_CHECK_EQ_INT(vt_arb_audit_judge(true, true), VT_ARB_AUDIT_OK);       /* passed an honest one */
    VT_CHECK_EQ_INT(vt_arb_audit_judge(true, false), VT_ARB_VERIFIER_LIES); /* failed an honest one */
    int due = 0;
    for (int i = 0; i < 1000; i++)
        due += vt_arb_audit_due(0.0, &RNG) + vt_arb_audit_due(-1.0, &RNG);
    VT_CHECK_EQ_INT(due, 0);
}

/* The bound: an always-pass verifier meets a corrupted audit on each task
 * with probability a (audit due AND corrupted: the caller's audit rate a is
 * the rate of corrupted audits). It survives n tasks with (1-a)^n. */
static void test_bound(void)
{
    uint64_t n = vt_arb_audit_tasks_to_catch(0.05, 0.999);
    VT_CHECK_EQ_U64(n, 135); /* ceil(ln 0.001 / ln 0.95) = ceil(134.67) */
    const double rates[] = {0.001, 0.01, 0.05, 0.2, 0.5};
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        uint64_t m = vt_arb_audit_tasks_to_catch(rates[i], 0.999);
        /* Smallest n: n catches with >= 99.9%, n - 1 does not. */
        VT_CHECK(1.0 - pow(1.0 - rates[i], (double)m) >= 0.999 &&
                     1.0 - pow(1.0 - rates[i], (double)(m - 1)) < 0.999,
                 "rate %g: n = %llu is not the smallest", rates[i], (unsigned long long)m);
    }
    VT_CHECK_EQ_U64(vt_arb_audit_tasks_to_catch(1.0, 0.999), 1);
    VT_CHECK_EQ_U64(vt_arb_audit_tasks_to_catch(0.0, 0.999), 0);
    VT_CHECK_EQ_U64(vt_arb_audit_tasks_to_catch(0.1, 1.0), 0);

    /* Simulate it: 2000 always-pass verifiers, each given n = 135 tasks at
     * audit rate 0.05, judged by vt_arb_audit_judge. Survivors are
     * Binomial(2000, 0.95^135 = 0.00098), mean 2; more than 12 has
     * probability < 1e-6. */
    vt_wire_task h = honest_task();
    unsigned survivors = 0;
    for (int v = 0; v < 2000; v++) {
        bool caught = false;
        for (uint64_t t = 0; t < n && !caught; t++) {
            if (!vt_arb_audit_due(0.05, &RNG))
                continue; /* a real task: the liar passes it, unnoticed */
            vt_arb_audit a;
            if (vt_arb_audit_corrupt(&h, 0, &RNG, &a) != 0)
                continue;
            caught = vt_arb_audit_judge(a.expected_pass, true) == VT_ARB_VERIFIER_LIES;
            vt_arb_audit_free(&a);
        }
        survivors += !caught;
    }
    VT_CHECK(survivors <= 12, "%u of 2000 always-pass verifiers survived %llu tasks", survivors,
             (unsigned long long)n);
}

int main(void)
{
    init_rng();
    test_corrupt();
    test_judge();
    test_bound();
    return vt_test_done();
}
