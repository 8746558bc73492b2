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

/* Level 0 holds the leaves; level k+1 the pairs of level k, an odd last
 * node promoted unchanged. Each level has ceil(half) of the one below, so
 * the tree has fewer than 2n + (levels) nodes. */
int vt_merkle_tree_build(const uint8_t (*leaves)[VT_HASH_BYTES], uint32_t n, vt_merkle_tree *t)
{
    memset(t, 0, sizeof *t);
    if (!leaves || n == 0)
        return VT_ERR_INVAL;
    int rv = vt_protocol_init();
    if (rv)
        return rv;
    t->nodes = malloc(((size_t)2 * n + VT_MERKLE_MAX_DEPTH + 1) * VT_HASH_BYTES);
    if (!t->nodes)
        return VT_ERR_NOMEM;
    memcpy(t->nodes, leaves, (size_t)n * VT_HASH_BYTES);
    t->n = n;
    uint32_t off = 0, m = n, lv = 0;
    t->level_off[0] = 0;
    t->level_len[0] = n;
    while (m > 1) {
        if (lv + 1 > VT_MERKLE_MAX_DEPTH) {
            vt_merkle_tree_free(t);
            return VT_ERR_RANGE;
        }
        uint8_t(*in)[VT_HASH_BYTES] = t->nodes + off;
        uint8_t(*out)[VT_HASH_BYTES] = t->nodes + off + m;
        uint32_t half = 0;
        for (uint32_t i = 0; i + 1 < m; i += 2)
            node_hash(in[i], in[i + 1], out[half++]);
        if (m & 1)
            memcpy(out[half++], in[m - 1], VT_HASH_BYTES);
        off += m;
        m = half;
        lv++;
        t->level_off[lv] = off;
        t->level_len[lv] = m;
    }
    t->n_levels = lv + 1;
    return 0;
}

void vt_merkle_tree_root(const vt_merkle_tree *t, uint8_t root[VT_HASH_BYTES])
{
    memcpy(root, t->nodes[t->level_off[t->n_levels - 1]], VT_HASH_BYTES);
}

int vt_merkle_tree_path(const vt_merkle_tree *t, uint32_t index, vt_merkle_proof *proof)
{
    if (!t->nodes || index >= t->n)
        return VT_ERR_INVAL;
    uint32_t idx = index, k = 0;
    for (uint32_t lv = 0; lv + 1 < t->n_levels; lv++) {
        uint32_t sib = idx ^ 1u;
        if (sib < t->level_len[lv]) /* no sibling: promoted */
            memcpy(proof->path[k++], t->nodes[t->level_off[lv] + sib], VT_HASH_BYTES);
        idx /= 2;
    }
    proof->index = index;
    proof->n = t->n;
    proof->path_len = k;
    return 0;
}

void vt_merkle_tree_free(vt_merkle_tree *t)
{
    free(t->nodes);
    memset(t, 0, sizeof *t);
}

int vt_merkle_root(const uint8_t (*leaves)[VT_HASH_BYTES], uint32_t n,
                   uint8_t root[VT_HASH_BYTES])
{
    vt_merkle_tree t;
    int rv = vt_merkle_tree_build(leaves, n, &t);
    if (rv)
        return rv;
    vt_merkle_tree_root(&t, root);
    vt_merkle_tree_free(&t);
    return 0;
}

int vt_merkle_path(const uint8_t (*leaves)[VT_HASH_BYTES], uint32_t n, uint32_t index,
                   vt_merkle_proof *proof)
{
    if (index >= n)
        return VT_ERR_INVAL;
    vt_merkle_tree t;
    int rv = vt_merkle_tree_build(leaves, n, &t);
    if (rv)
        return rv;
    rv = vt_merkle_tree_path(&t, index, proof);
    vt_merkle_tree_free(&t);
    return rv;
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
