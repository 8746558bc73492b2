/* ms_chain.c - BLAKE2b hash chain (see ms_chain.h). */
#include "ms_chain.h"

#include <string.h>

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

void vt_mem_service_key(const uint8_t secret[32], char out[VT_MEM_SERVICE_KEY_BUFSZ])
{
    static const char label[] = "verity-memsync-service-v1";
    static const char hex[] = "0123456789abcdef";
    uint8_t mac[32];
    crypto_generichash(mac, sizeof mac, (const unsigned char *)label, sizeof label - 1, secret, 32);
    memcpy(out, "vts_", 4);
    for (int i = 0; i < 32; i++) {
        out[4 + 2 * i] = hex[mac[i] >> 4];
        out[5 + 2 * i] = hex[mac[i] & 15];
    }
    out[VT_MEM_SERVICE_KEY_LEN] = '\0';
    sodium_memzero(mac, sizeof mac);
}
