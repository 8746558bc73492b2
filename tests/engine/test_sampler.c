/* test_sampler.c - the sampler is a pure function of (logits, params, pos).
 *
 * Seeds and positions reproduce, different seeds diverge, each position can
 * be sampled alone, greedy ties go to the lowest id, top-k and top-p limit
 * the support to the expected sets, and a vanishing temperature becomes
 * greedy. The draw frequencies follow the softmax (a loose statistical
 * check with a fixed seed range, so it is deterministic).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_engine.h"
#include "engine_testutil.h"


#define V 1000

static float logits[V];

static void fill(uint64_t seed)
{
    uint64_t s = seed;
    for (int i = 0; i < V; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        logits[i] = (float)((int)(s >> 40) % 2000 - 1000) / 250.0f; /* -4 .. 4, with ties */
    }
}

static void test_rng(void)
{
    CHECK(vt_rng_uniform(1, 5) == vt_rng_uniform(1, 5));
    int diff_seed = 0, diff_pos = 0;
    double sum = 0;
    for (uint32_t p = 0; p < 10000; p++) {
        float u = vt_rng_uniform(7, p);
        CHECK(u >= 0.0f && u < 1.0f);
        sum += u;
        diff_seed += vt_rng_uniform(7, p) != vt_rng_uniform(8, p);
        diff_pos += vt_rng_uniform(7, p) != vt_rng_uniform(7, p + 1);
    }
    CHECK(diff_seed > 9990 && diff_pos > 9990);
    CHECK(sum / 10000 > 0.48 && sum / 10000 < 0.52);
}

static void test_greedy(void)
{
    float x[6] = {1, 3, -2, 3, 0, 3};
    vt_sampling s;
    vt_sampling_default(&s);
    CHECK(s.temperature == 0.0f && s.top_k == 0 && s.top_p == 1.0f);
    CHECK(vt_sample(x, 6, &s, 0) == 1); /* three-way tie at 3 -> lowest id */
    CHECK(vt_sample(x, 6, NULL, 0) == 1);
    s.temperature = 0.8f;
    s.top_k = 1; /* top_k 1 is greedy whatever the temperature */
    CHECK(vt_sample(x, 6, &s, 3) == 1);
    float nanv = 0.0f / 0.0f;
    float y[3] = {nanv, -5, nanv};
    vt_sampling_default(&s);
    CHECK(vt_sample(y, 3, &s, 0) == 1); /* NaN never wins over a number */
    CHECK(vt_sample(y, 0, &s, 0) < 0);
    CHECK(vt_sample(NULL, 3, &s, 0) < 0);
}

/* Greedy against the rank order written out (value desc, NaN last, ties
 * to the lowest id) on arrays full of ties, NaNs, infinities and signed
 * zeros, at lengths around the sampler's 8-wide passes. */
static int32_t ref_first_ranked(const float *x, uint32_t n)
{
    int32_t best = 0;
    for (uint32_t i = 1; i < n; i++) {
        float a = x[i], b = x[best];
        int na = a != a, nb = b != b;
        if ((na != nb && nb) || (!na && !nb && a > b))
            best = (int32_t)i;
    }
    return best;
}

static void test_greedy_random(void)
{
    const float pool[] = {0.0f, -0.0f, 1.0f, -1.0f, 2.5f, 1.0f / 0.0f, -1.0f / 0.0f,
                          0.0f / 0.0f, 3.0e38f, -3.0e38f, 1e-45f};
    const uint32_t npool = sizeof pool / sizeof pool[0];
    float x[67];
    vt_sampling s;
    vt_sampling_default(&s);
    uint64_t r = 12345;
    int mismatches = 0;
    for (int trial = 0; trial < 20000; trial++) {
        uint32_t n = 1 + (uint32_t)(trial % 67);
        for (uint32_t i = 0; i < n; i++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            uint32_t pick = (uint32_t)(r >> 33);
            /* mostly a few values (ties), sometimes every kind of special */
            x[i] = trial % 3 == 0 ? pool[pick % npool] : (float)(pick % 5) - 2.0f;
        }
        mismatches += vt_sample(x, n, &s, 0) != ref_first_ranked(x, n);
    }
    CHECK(mismatches == 0);
    float allnan[9];
    for (int i = 0; i < 9; i++)
        allnan[i] = 0.0f / 0.0f;
    CHECK(vt_sample(allnan, 9, &s, 0) == 0);
    float z[3] = {-0.0f, 0.0f, -1.0f};
    CHECK(vt_sample(z, 3, &s, 0) == 0); /* -0 and +0 tie: the lower id */
}

static void test_determinism(void)
{
    fill(1);
    vt_sampling s = {1.0f, 0, 1.0f, 42};
    int32_t seq[200];
    for (uint32_t p = 0; p < 200; p++)
        seq[p] = vt_sample(logits, V, &s, p);
    /* Same seed: same tokens, and any position alone (in any order) equals
     * its value in the sequence. */
    for (uint32_t p = 200; p-- > 0;)
        CHECK(vt_sample(logits, V, &s, p) == seq[p]);
    /* A different seed gives a different sequence (positions differ often). */
    s.seed = 43;
    int differ = 0;
    for (uint32_t p = 0; p < 200; p++)
        differ += vt_sample(logits, V, &s, p) != seq[p];
    CHECK(differ > 100);
    /* Results are valid ids. */
    for (uint32_t p = 0; p < 200; p++)
        CHECK(seq[p] >= 0 && seq[p] < V);
}

static void test_top_k(void)
{
    fill(2);
    /* The 5 best by (value desc, id asc), found by brute force. */
    int best[5], taken[V] = {0};
    for (int r = 0; r < 5; r++) {
        int b = -1;
        for (int i = 0; i < V; i++)
            if (!taken[i] && (b < 0 || logits[i] > logits[b]))
                b = i;
        best[r] = b;
        taken[b] = 1;
    }
    vt_sampling s = {5.0f, 5, 1.0f, 9}; /* hot: all 5 get real mass */
    int seen[5] = {0};
    for (uint32_t p = 0; p < 2000; p++) {
        int32_t t = vt_sample(logits, V, &s, p);
        int in = 0;
        for (int r = 0; r < 5; r++)
            if (t == best[r]) {
                in = 1;
                seen[r]++;
            }
        CHECK(in);
    }
    for (int r = 0; r < 5; r++)
        CHECK(seen[r] > 0);

    /* Ties at the cut are broken by id: values 2,2,2,1; top_k 2 keeps ids 0,1. */
    float x[4] = {2, 2, 2, 1};
    vt_sampling s2 = {100.0f, 2, 1.0f, 1};
    int hit[4] = {0};
    for (uint32_t p = 0; p < 500; p++)
        hit[vt_sample(x, 4, &s2, p)]++;
    CHECK(hit[0] > 0 && hit[1] > 0 && hit[2] == 0 && hit[3] == 0);
}

static void test_top_p(void)
{
    /* Softmax at T=1 of ln(8), ln(4), ln(2), ln(1), ln(1): masses 8,4,2,1,1 / 16.
     * top_p 0.7: cumulative 0.5, 0.75 -> keep {0, 1}. top_p 0.5: exactly
     * 0.5 is reached by token 0 alone (>= p). */
    float x[5] = {2.0794415f, 1.3862944f, 0.6931472f, 0.0f, 0.0f};
    vt_sampling s = {1.0f, 0, 0.7f, 3};
    int hit[5] = {0};
    for (uint32_t p = 0; p < 3000; p++)
        hit[vt_sample(x, 5, &s, p)]++;
    CHECK(hit[0] > 0 && hit[1] > 0 && hit[2] == 0 && hit[3] == 0 && hit[4] == 0);
    /* Kept mass is renormalized: token 0 has 8/12 of it. */
    CHECK(hit[0] > 1800 && hit[0] < 2200);
    s.top_p = 0.5f;
    for (uint32_t p = 0; p < 300; p++)
        CHECK(vt_sample(x, 5, &s, p) == 0);
    s.top_p = 1.0f; /* off: every token reachable */
    memset(hit, 0, sizeof hit);
    for (uint32_t p = 0; p < 5000; p++)
        hit[vt_sample(x, 5, &s, p)]++;
    for (int i = 0; i < 5; i++)
        CHECK(hit[i] > 0);
    /* Frequencies follow 8:4:2:1:1 (loose bounds, deterministic seed). */
    CHECK(hit[0] > 2250 && hit[0] < 2750);
    CHECK(hit[1] > 1050 && hit[1] < 1450);
    CHECK(hit[3] > 200 && hit[3] < 430);
}

static void test_temperature(void)
{
    fill(3);
    vt_sampling g;
    vt_sampling_default(&g);
    int32_t am = vt_sample(logits, V, &g, 0);
    logits[am] += 0.01f; /* a unique maximum (fill() makes ties) */
    /* T -> 0: every other weight underflows, the argmax always wins. */
    vt_sampling s = {1e-4f, 0, 1.0f, 5};
    for (uint32_t p = 0; p < 200; p++)
        CHECK(vt_sample(logits, V, &s, p) == am);
    s.top_k = 40;
    s.top_p = 0.9f;
    for (uint32_t p = 0; p < 200; p++)
        CHECK(vt_sample(logits, V, &s, p) == am);
    /* Negative or NaN temperature is greedy. */
    s.temperature = -1.0f;
    CHECK(vt_sample(logits, V, &s, 17) == am);
    /* Huge temperature: close to uniform, many distinct tokens. */
    s.temperature = 1e6f;
    s.top_k = 0;
    s.top_p = 1.0f;
    int seen[V] = {0}, distinct = 0;
    for (uint32_t p = 0; p < 2000; p++) {
        int32_t t = vt_sample(logits, V, &s, p);
        distinct += !seen[t];
        seen[t] = 1;
    }
    CHECK(distinct > 700);
    /* +inf logits take all the mass. */
    float x[4] = {0, 1.0f / 0.0f, 5, 1.0f / 0.0f};
    s.temperature = 1.0f;
    for (uint32_t p = 0; p < 100; p++) {
        int32_t t = vt_sample(x, 4, &s, p);
        CHECK(t == 1 || t == 3);
    }
}

int main(void)
{
    test_rng();
    test_greedy();
    test_greedy_random();
    test_determinism();
    test_top_k();
    test_top_p();
    test_temperature();
    printf("ok\n");
    return 0;
}
