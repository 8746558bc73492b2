/* identity.c - the built-in benchmark model: its output is its input.
 *
 * It exists to measure the scheduler, the protocol and the verification
 * pipeline without the cost of a forward pass (like Triton's identity
 * models). Its "trace" is a BLAKE2b-256 over the job's tokens so a verifier
 * can check a result as cheaply as the worker produced it, and a worker
 * cannot return someone else's tokens without the digest giving it away.
 */
#include <string.h>

#include <sodium.h>

#include "vt_worker.h"

void vt_identity_hash(uint8_t out[32])
{
    crypto_hash_sha256(out, (const unsigned char *)VT_IDENTITY_TAG, strlen(VT_IDENTITY_TAG));
}

int vt_identity_is(const uint8_t hash[32])
{
    uint8_t h[32];
    vt_identity_hash(h);
    return memcmp(h, hash, 32) == 0;
}

static void put_u32(crypto_generichash_state *st, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    crypto_generichash_update(st, b, 4);
}

void vt_identity_digest(const int32_t *prompt, uint32_t n_prompt, uint32_t n_out,
                        uint8_t digest[VT_DIGEST_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, VT_DIGEST_BYTES);
    crypto_generichash_update(&st, (const unsigned char *)VT_IDENTITY_TAG,
                              strlen(VT_IDENTITY_TAG));
    put_u32(&st, n_prompt);
    for (uint32_t i = 0; i < n_prompt; i++)
        put_u32(&st, (uint32_t)prompt[i]);
    put_u32(&st, n_out);
    crypto_generichash_final(&st, digest, VT_DIGEST_BYTES);
}

int vt_identity_run(const int32_t *prompt, uint32_t n_prompt, uint32_t max_tokens,
                    int32_t *out, uint32_t cap, uint32_t *n_out, vt_trace *trace)
{
    if ((!prompt && n_prompt) || !n_out || !trace)
        return VT_ERR_INVAL;
    uint32_t n = n_prompt < max_tokens ? n_prompt : max_tokens;
    if (n > cap)
        return VT_ERR_RANGE;
    if (n)
        memcpy(out, prompt, n * sizeof(int32_t));
    *n_out = n;
    memset(trace, 0, sizeof *trace);
    trace->n_positions = n;
    vt_identity_digest(prompt, n_prompt, n, trace->final_digest);
    return 0;
}
