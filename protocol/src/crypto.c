/* crypto.c - libsodium start-up, Ed25519 signatures, domain-separated
 * BLAKE2b hashes and hex helpers. */
#include <pthread.h>
#include <string.h>

#include <sodium.h>

#include "wire.h"

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_status; /* written once inside pthread_once */

static void sodium_start(void) { sodium_status = sodium_init() < 0 ? VT_ERR_INTERNAL : 0; }

int vt_protocol_init(void)
{
    pthread_once(&sodium_once, sodium_start);
    return sodium_status;
}

int vt_key_generate(vt_keypair *kp)
{
    int rv = vt_protocol_init();
    if (rv)
        return rv;
    return crypto_sign_keypair(kp->pk, kp->sk) ? VT_ERR_INTERNAL : 0;
}

int vt_key_from_seed(vt_keypair *kp, const uint8_t seed[32])
{
    int rv = vt_protocol_init();
    if (rv)
        return rv;
    return crypto_sign_seed_keypair(kp->pk, kp->sk, seed) ? VT_ERR_INTERNAL : 0;
}

void vt_key_wipe(vt_keypair *kp) { sodium_memzero(kp->sk, sizeof kp->sk); }

int vt_sign(const vt_keypair *kp, const void *msg, size_t len, uint8_t sig[VT_SIG_BYTES])
{
    int rv = vt_protocol_init();
    if (rv)
        return rv;
    return crypto_sign_detached(sig, NULL, msg, len, kp->sk) ? VT_ERR_INTERNAL : 0;
}

int vt_verify(const uint8_t pk[VT_PUBKEY_BYTES], const void *msg, size_t len,
              const uint8_t sig[VT_SIG_BYTES])
{
    int rv = vt_protocol_init();
    if (rv)
        return rv;
    return crypto_sign_verify_detached(sig, msg, len, pk) ? VT_ERR_BADSIG : 0;
}

/* ---------------------------------------------------------------- hashes */

static void put_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void hash_begin(crypto_generichash_state *st, const char *tag)
{
    vt_protocol_init();
    crypto_generichash_init(st, NULL, 0, VT_HASH_BYTES);
    crypto_generichash_update(st, (const uint8_t *)tag, strlen(tag));
}

void vt_hash_tokens(const int32_t *tokens, size_t n, uint8_t out[VT_HASH_BYTES])
{
    crypto_generichash_state st;
    uint8_t buf[1024];
    hash_begin(&st, "verity/tokens/v1");
    put_u32le(buf, (uint32_t)n);
    crypto_generichash_update(&st, buf, 4);
    for (size_t i = 0; i < n;) {
        size_t m = 0;
        for (; m < sizeof buf / 4 && i < n; m++, i++)
            put_u32le(buf + 4 * m, (uint32_t)tokens[i]);
        crypto_generichash_update(&st, buf, 4 * m);
    }
    crypto_generichash_final(&st, out, VT_HASH_BYTES);
}

void vt_hash_text(const char *text, size_t len, uint8_t out[VT_HASH_BYTES])
{
    crypto_generichash_state st;
    uint8_t n[8];
    hash_begin(&st, "verity/text/v1");
    for (int i = 0; i < 8; i++)
        n[i] = (uint8_t)((uint64_t)len >> (8 * i));
    crypto_generichash_update(&st, n, 8);
    if (len)
        crypto_generichash_update(&st, (const uint8_t *)text, len);
    crypto_generichash_final(&st, out, VT_HASH_BYTES);
}

void vt_hash_layers(const uint8_t *digests, uint32_t n_layers, uint8_t out[VT_HASH_BYTES])
{
    crypto_generichash_state st;
    uint8_t n[4];
    hash_begin(&st, "verity/layers/v1");
    put_u32le(n, n_layers);
    crypto_generichash_update(&st, n, 4);
    if (n_layers)
        crypto_generichash_update(&st, digests, (size_t)n_layers * VT_DIGEST_BYTES);
    crypto_generichash_final(&st, out, VT_HASH_BYTES);
}

/* -------------------------------------------------------------- node ids */

void vt_node_id(const uint8_t pk[VT_PUBKEY_BYTES], char out[VT_NODE_ID_HEX + 1])
{
    vt_hex_encode(pk, VT_PUBKEY_BYTES, out);
}

void vt_node_id_short(const uint8_t pk[VT_PUBKEY_BYTES], char out[VT_NODE_ID_SHORT + 1])
{
    vt_hex_encode(pk, VT_NODE_ID_SHORT / 2, out);
}

int vt_node_id_parse(const char *hex, uint8_t pk[VT_PUBKEY_BYTES])
{
    if (!hex)
        return VT_ERR_INVAL;
    return vt_hex_decode(hex, strlen(hex), pk, VT_PUBKEY_BYTES) ? VT_ERR_FORMAT : 0;
}
