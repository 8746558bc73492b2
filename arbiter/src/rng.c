/* rng.c - the arbiter's CSPRNG stream (vt_arbiter.h, "rng").
 *
 * Both modes fill a 64-byte buffer and hand it out in order. Production
 * refills from randombytes_buf; the seeded mode computes ChaCha20-IETF
 * block by block with the nonce libsodium's randombytes_buf_deterministic
 * uses, so the seeded stream IS randombytes_buf_deterministic(seed) of any
 * length (tests check that). */
#include <string.h>

#include <sodium.h>

#include "vt_arbiter.h"

/* randombytes_buf_deterministic's fixed nonce (libsodium randombytes.c). */
static const uint8_t DRG_NONCE[crypto_stream_chacha20_ietf_NONCEBYTES] = {
    'L', 'i', 'b', 's', 'o', 'd', 'i', 'u', 'm', 'D', 'R', 'G'};

int vt_arb_rng_init(vt_arb_rng *rng)
{
    memset(rng, 0, sizeof *rng);
    rng->pos = sizeof rng->buf; /* empty: refill on first use */
    return vt_protocol_init();
}

int vt_arb_rng_seed(vt_arb_rng *rng, const uint8_t seed[32])
{
#ifdef VT_TEST_FAULTS
    int rv = vt_arb_rng_init(rng);
    if (rv)
        return rv;
    rng->seeded = true;
    memcpy(rng->key, seed, sizeof rng->key);
    return 0;
#else
    (void)seed;
    vt_arb_rng_init(rng);
    return VT_ERR_UNSUPPORTED; /* release builds are never predictable */
#endif
}

int vt_arb_rng_seed_hex(vt_arb_rng *rng, const char *hex, vt_errinfo *ei)
{
    uint8_t seed[32];
    if (!hex || strlen(hex) != 64 || vt_hex_decode(hex, 64, seed, sizeof seed) != 0)
        return vt_fail(ei, VT_ERR_INVAL, "seed must be 64 hex characters");
    int rv = vt_arb_rng_seed(rng, seed);
    sodium_memzero(seed, sizeof seed);
    if (rv == VT_ERR_UNSUPPORTED)
        return vt_fail(ei, rv, "a seeded verification stream needs a VT_TEST_FAULTS build");
    return rv;
}

void vt_arb_rng_wipe(vt_arb_rng *rng)
{
    sodium_memzero(rng, sizeof *rng);
    rng->pos = sizeof rng->buf;
}

static void refill(vt_arb_rng *rng)
{
    if (!rng->seeded) {
        randombytes_buf(rng->buf, sizeof rng->buf);
    } else {
        static const uint8_t zero[64];
        crypto_stream_chacha20_ietf_xor_ic(rng->buf, zero, sizeof rng->buf, DRG_NONCE,
                                           rng->block, rng->key);
        /* 2^32 blocks (256 GiB) exhaust the counter: continue under a
         * derived key rather than repeat the stream. */
        if (++rng->block == 0)
            crypto_generichash(rng->key, sizeof rng->key, rng->key, sizeof rng->key, NULL, 0);
    }
    rng->pos = 0;
}

void vt_arb_rng_bytes(vt_arb_rng *rng, void *out, size_t n)
{
    uint8_t *o = out;
    while (n > 0) {
        if (rng->pos >= sizeof rng->buf)
            refill(rng);
        size_t take = sizeof rng->buf - rng->pos;
        if (take > n)
            take = n;
        memcpy(o, rng->buf + rng->pos, take);
        /* Handed-out bytes are not kept around. */
        sodium_memzero(rng->buf + rng->pos, take);
        rng->pos += (uint32_t)take;
        o += take;
        n -= take;
    }
}

uint64_t vt_arb_rng_u64(vt_arb_rng *rng)
{
    uint8_t b[8];
    vt_arb_rng_bytes(rng, b, sizeof b);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i); /* little-endian: same on every host */
    return v;
}

uint32_t vt_arb_rng_below(vt_arb_rng *rng, uint32_t n)
{
    if (n <= 1)
        return 0;
    /* Rejection sampling: drop the top partial copy of [0, n) so every
     * residue is equally likely. */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
    uint64_t v;
    do
        v = vt_arb_rng_u64(rng);
    while (v >= limit);
    return (uint32_t)(v % n);
}

double vt_arb_rng_unit(vt_arb_rng *rng)
{
    return (double)(vt_arb_rng_u64(rng) >> 11) * (1.0 / 9007199254740992.0); /* / 2^53 */
}

bool vt_arb_rng_chance(vt_arb_rng *rng, double p)
{
    if (!(p > 0.0))
        return false;
    if (p >= 1.0)
        return true;
    return vt_arb_rng_unit(rng) < p;
}
