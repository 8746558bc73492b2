/* ms_chain.c - BLAKE2b hash chain (see ms_chain.h). */
#include "ms_chain.h"

#include <sodium.h>

void ms_chain_next(const uint8_t prev[32], const uint8_t *op, size_t n, uint8_t out[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, prev, 32);
    crypto_generichash_update(&st, op, n);
    crypto_generichash_final(&st, out, 32);
}

void ms_chain_advance(vt_mem_head *head, const uint8_t *op, size_t n)
{
    uint8_t next[32];
    ms_chain_next(head->hash, op, n, next);
    for (int i = 0; i < 32; i++)
        head->hash[i] = next[i];
    head->seq++;
}
