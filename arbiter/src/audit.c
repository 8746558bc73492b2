/* audit.c - audit tasks that catch verifiers which never replay
 * (vt_arbiter.h, "audit"). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vt_arbiter.h"

bool vt_arb_audit_due(double rate, vt_arb_rng *rng)
{
    return vt_arb_rng_chance(rng, rate);
}

/* A token id other than `avoid`, valid for the model: below n_vocab when it
 * is known, else one that already occurs in the task (the engine accepted
 * it, so the verifier's vocabulary has it). false when there is none. */
static bool other_token(const vt_wire_task *t, int32_t avoid, uint32_t n_vocab, vt_arb_rng *rng,
                        int32_t *out)
{
    if (n_vocab >= 2) {
        /* Uniform over the n_vocab - 1 other ids. */
        uint32_t r = vt_arb_rng_below(rng, n_vocab - 1);
        int32_t id = (int32_t)r;
        if (avoid >= 0 && id >= avoid)
            id++;
        *out = id;
        return true;
    }
    uint32_t total = t->n_prompt + t->n_output;
    uint32_t others = 0;
    for (uint32_t i = 0; i < total; i++) {
        int32_t v = i < t->n_prompt ? t->prompt[i] : t->output[i - t->n_prompt];
        others += v != avoid;
    }
    if (others == 0)
        return false;
    uint32_t pick = vt_arb_rng_below(rng, others);
    for (uint32_t i = 0; i < total; i++) {
        int32_t v = i < t->n_prompt ? t->prompt[i] : t->output[i - t->n_prompt];
        if (v != avoid && pick-- == 0) {
            *out = v;
            return true;
        }
    }
    return false; /* not reached */
}

static int corrupt_token(vt_arb_audit *a, const vt_wire_task *h, uint32_t n_vocab, vt_arb_rng *rng)
{
    uint32_t pos = vt_arb_rng_below(rng, h->n_output);
    int32_t id;
    if (!other_token(h, h->output[pos], n_vocab, rng, &id))
        return VT_ERR_NOTFOUND;
    a->output = malloc((size_t)h->n_output * sizeof *a->output);
    if (!a->output)
        return VT_ERR_NOMEM;
    memcpy(a->output, h->output, (size_t)h->n_output * sizeof *a->output);
    a->output[pos] = id;
    a->task.output = a->output;
    a->how = VT_ARB_CORRUPT_TOKEN;
    a->position = pos;
    return 0;
}

static void corrupt_digest(vt_arb_audit *a, vt_arb_rng *rng)
{
    /* XOR a random non-zero mask into one random byte: always a change. */
    uint32_t byte = vt_arb_rng_below(rng, VT_DIGEST_BYTES);
    uint8_t mask = (uint8_t)(1 + vt_arb_rng_below(rng, 255));
    a->task.trace_digest[byte] ^= mask;
    a->how = VT_ARB_CORRUPT_DIGEST;
}

int vt_arb_audit_make(const vt_wire_task *honest, bool corrupt, uint32_t n_vocab,
                      vt_arb_rng *rng, vt_arb_audit *out)
{
    memset(out, 0, sizeof *out);
    if (!honest || !rng || (honest->n_output && !honest->output) ||
        (honest->n_prompt && !honest->prompt))
        return VT_ERR_INVAL;
    out->task = *honest;
    out->expected_pass = !corrupt;
    if (!corrupt)
        return 0;
    bool token = honest->n_output > 0 && vt_arb_rng_below(rng, 2) == 0;
    if (token) {
        int rv = corrupt_token(out, honest, n_vocab, rng);
        if (rv == VT_ERR_NOMEM)
            return rv;
        if (rv == 0)
            return 0;
        /* No other valid id to use: fall back to the digest. */
    }
    corrupt_digest(out, rng);
    return 0;
}

int vt_arb_audit_corrupt(const vt_wire_task *honest, uint32_t n_vocab, vt_arb_rng *rng,
                         vt_arb_audit *out)
{
    return vt_arb_audit_make(honest, true, n_vocab, rng, out);
}

void vt_arb_audit_free(vt_arb_audit *a)
{
    if (!a)
        return;
    free(a->output);
    a->output = NULL;
    a->task.output = NULL;
}

vt_arb_audit_result vt_arb_audit_judge(bool expected_pass, bool verdict_pass)
{
    return expected_pass == verdict_pass ? VT_ARB_AUDIT_OK : VT_ARB_VERIFIER_LIES;
}

uint64_t vt_arb_audit_tasks_to_catch(double rate, double confidence)
{
    if (!(rate > 0.0) || !(confidence > 0.0 && confidence < 1.0))
        return 0;
    if (rate >= 1.0)
        return 1;
    /* n = ceil(log(1-c) / log(1-a)); log1p keeps small rates exact. Then
     * correct for rounding so the result is the smallest such n. */
    double est = ceil(log1p(-confidence) / log1p(-rate));
    if (!(est >= 1.0))
        est = 1.0;
    if (est > 1e18)
        return 0; /* not representable: treat as never */
    uint64_t n = (uint64_t)est;
    while (n > 1 && 1.0 - pow(1.0 - rate, (double)(n - 1)) >= confidence)
        n--;
    while (1.0 - pow(1.0 - rate, (double)n) < confidence)
        n++;
    return n;
}
