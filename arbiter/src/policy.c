/* policy.c - verification policy per job and the choice of verifiers
 * (vt_arbiter.h, "policy"). */
#include <stdlib.h>
#include <string.h>

#include "vt_arbiter.h"

int vt_arb_policy_resolve(const char *verify, const char *delivery, uint32_t max_verifiers,
                          vt_arb_policy *out, vt_errinfo *ei)
{
    memset(out, 0, sizeof *out);
    out->verify = (vt_verify_policy){.mode = VT_VERIFY_FULL, .k = 1};
    /* "full" alone means the default K = 1; the wire parser wants full:K. */
    if (verify && strcmp(verify, "full") != 0) {
        int rv = vt_verify_policy_parse(verify, &out->verify, ei);
        if (rv)
            return rv;
    }
    if (out->verify.mode == VT_VERIFY_FULL && out->verify.k > max_verifiers)
        return vt_fail(ei, VT_ERR_INVAL, "verify=full:%u exceeds the scheduler's --max-verifiers %u",
                       out->verify.k, max_verifiers);
    if (!delivery || strcmp(delivery, "verified") == 0)
        out->delivery = VT_ARB_DELIVER_VERIFIED;
    else if (strcmp(delivery, "optimistic") == 0)
        out->delivery = VT_ARB_DELIVER_OPTIMISTIC;
    else
        return vt_fail(ei, VT_ERR_INVAL, "delivery must be verified or optimistic");
    return 0;
}

const char *vt_arb_delivery_name(vt_arb_delivery d)
{
    return d == VT_ARB_DELIVER_OPTIMISTIC ? "optimistic" : "verified";
}

uint32_t vt_arb_policy_k(const vt_verify_policy *p)
{
    switch (p->mode) {
    case VT_VERIFY_FULL: return p->k;
    case VT_VERIFY_SAMPLED: return 1;
    default: return 0;
    }
}

bool vt_arb_should_verify(const vt_verify_policy *p, vt_arb_rng *rng)
{
    switch (p->mode) {
    case VT_VERIFY_FULL: return true;
    case VT_VERIFY_SAMPLED: return vt_arb_rng_chance(rng, p->p);
    default: return false;
    }
}

static bool same_operator(const char *a, const char *b)
{
    return a && b && a[0] && b[0] && strcmp(a, b) == 0;
}

bool vt_arb_verifier_eligible(const vt_arb_candidate *c, const uint8_t worker_pk[VT_PUBKEY_BYTES],
                              const char *worker_operator,
                              const uint8_t (*exclude)[VT_PUBKEY_BYTES], size_t n_exclude)
{
    if (!c->live || c->quarantined)
        return false;
    if (memcmp(c->pk, worker_pk, VT_PUBKEY_BYTES) == 0)
        return false;
    if (same_operator(c->operator_name, worker_operator))
        return false;
    for (size_t i = 0; i < n_exclude; i++)
        if (memcmp(c->pk, exclude[i], VT_PUBKEY_BYTES) == 0)
            return false;
    return true;
}

int vt_arb_pick_verifiers(const vt_arb_candidate *cand, size_t n,
                          const uint8_t worker_pk[VT_PUBKEY_BYTES], const char *worker_operator,
                          uint32_t k, const uint8_t (*exclude)[VT_PUBKEY_BYTES], size_t n_exclude,
                          vt_arb_rng *rng, uint32_t *out_idx, uint32_t *n_out)
{
    *n_out = 0;
    if ((n && !cand) || !worker_pk || (n_exclude && !exclude) || !rng || (k && !out_idx) ||
        n > UINT32_MAX)
        return VT_ERR_INVAL;
    if (k == 0 || n == 0)
        return 0;
    uint32_t *pool = malloc(n * sizeof *pool);
    if (!pool)
        return VT_ERR_NOMEM;
    uint32_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (vt_arb_verifier_eligible(&cand[i], worker_pk, worker_operator, exclude, n_exclude))
            pool[m++] = (uint32_t)i;
    /* Partial Fisher-Yates: the first `take` slots become a uniform random
     * k-subset in random order. */
    uint32_t take = k < m ? k : m;
    for (uint32_t i = 0; i < take; i++) {
        uint32_t j = i + vt_arb_rng_below(rng, m - i);
        uint32_t t = pool[i];
        pool[i] = pool[j];
        pool[j] = t;
        out_idx[i] = pool[i];
    }
    *n_out = take;
    free(pool);
    return 0;
}
