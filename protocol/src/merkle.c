/* merkle.c - Merkle trees over signed batches (BLAKE2b-256).
 *
 *   leaf = H(0x00 || canonical bytes)     node = H(0x01 || left || right)
 *
 * The prefixes keep a leaf from ever being read as an inner node. Levels
 * are built left to right in pairs; a level with an odd count promotes its
 * last node unchanged, and that level adds nothing to the path of the
 * promoted node. Example n = 3: root = H(1 || H(1||L0||L1) || L2).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "wire.h"

void vt_merkle_leaf(const void *canonical, size_t len, uint8_t out[VT_HASH_BYTES])
{
    crypto_generichash_state st;
    const uint8_t prefix = 0x00;
    vt_protocol_init();
    crypto_generichash_init(&st, NULL, 0, VT_HASH_BYTES);
    crypto_generichash_update(&st, &prefix, 1);
    crypto_generichash_update(&st, canonical, len);
    crypto_generichash_final(&st, out, VT_HASH_BYTES);
}

static void node_hash(const uint8_t l[VT_HASH_BYTES], const uint8_t r[VT_HASH_BYTES],
                      uint8_t out[VT_HASH_BYTES])
{
    crypto_generichash_state st;
    const uint8_t prefix = 0x01;
    crypto_generichash_init(&st, NULL, 0, VT_HASH_BYTES);
    crypto_generichash_update(&st, &prefix, 1);
    crypto_generichash_update(&st, l, VT_HASH_BYTES);
    crypto_generichash_update(&st, r, VT_HASH_BYTES);
    crypto_generichash_final(&st, out, VT_HASH_BYTES);
}

/* Root of n leaves; with proof != NULL also the path of leaf `index`. */
static int build(const uint8_t (*leaves)[VT_HASH_BYTES], uint32_t n, uint32_t index,
                 vt_merkle_proof *proof, uint8_t root[VT_HASH_BYTES])
{
    if (!leaves || n == 0 || index >= n)
        return VT_ERR_INVAL;
    int rv = vt_protocol_init();
    if (rv)
        return rv;
    uint8_t(*lvl)[VT_HASH_BYTES] = malloc((size_t)n * VT_HASH_BYTES);
    if (!lvl)
        return VT_ERR_NOMEM;
    memcpy(lvl, leaves, (size_t)n * VT_HASH_BYTES);
    uint32_t m = n, idx = index, k = 0;
    while (m > 1) {
        if (proof) {
            uint32_t sib = idx ^ 1u;
            if (sib < m) /* no sibling: promoted */
                memcpy(proof->path[k++], lvl[sib], VT_HASH_BYTES);
        }
        uint32_t half = 0;
        for (uint32_t i = 0; i + 1 < m; i += 2)
            node_hash(lvl[i], lvl[i + 1], lvl[half++]);
        if (m & 1)
            memmove(lvl[half++], lvl[m - 1], VT_HASH_BYTES);
        m = half;
        idx /= 2;
    }
    memcpy(root, lvl[0], VT_HASH_BYTES);
    free(lvl);
    if (proof) {
        proof->index = index;
        proof->n = n;
        proof->path_len = k;
    }
    return 0;
}

int vt_merkle_root(const uint8_t (*leaves)[VT_HASH_BYTES], uint32_t n,
                   uint8_t root[VT_HASH_BYTES])
{
    return build(leaves, n, 0, NULL, root);
}

int vt_merkle_path(const uint8_t (*leaves)[VT_HASH_BYTES], uint32_t n, uint32_t index,
                   vt_merkle_proof *proof)
{
    uint8_t root[VT_HASH_BYTES];
    return build(leaves, n, index, proof, root);
}

int vt_merkle_verify(const uint8_t leaf[VT_HASH_BYTES], const vt_merkle_proof *proof,
                     const uint8_t root[VT_HASH_BYTES])
{
    if (!proof || proof->n == 0 || proof->index >= proof->n ||
        proof->path_len > VT_MERKLE_MAX_DEPTH)
        return VT_ERR_BADSIG;
    vt_protocol_init();
    uint8_t h[VT_HASH_BYTES];
    memcpy(h, leaf, VT_HASH_BYTES);
    uint32_t m = proof->n, idx = proof->index, k = 0;
    while (m > 1) {
        uint32_t sib = idx ^ 1u;
        if (sib < m) {
            if (k >= proof->path_len)
                return VT_ERR_BADSIG;
            if (idx & 1)
                node_hash(proof->path[k], h, h);
            else
                node_hash(h, proof->path[k], h);
            k++;
        }
        m = (m + 1) / 2;
        idx /= 2;
    }
    if (k != proof->path_len || sodium_memcmp(h, root, VT_HASH_BYTES) != 0)
        return VT_ERR_BADSIG;
    return 0;
}
