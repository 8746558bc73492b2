/* tlog_hash.c - RFC 6962 hashing and the RFC 9162 proof checks. Pure
 * functions: no allocation, no state. */
#include "vt_tlog.h"

#include <sodium.h>
#include <string.h>

void vt_tlog_leaf_hash(const void *data, size_t len, uint8_t out[VT_TLOG_HASH])
{
    static const uint8_t prefix = 0x00;
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &prefix, 1);
    crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, out);
}

void vt_tlog_node_hash(const uint8_t l[VT_TLOG_HASH], const uint8_t r[VT_TLOG_HASH],
                       uint8_t out[VT_TLOG_HASH])
{
    uint8_t buf[1 + 2 * VT_TLOG_HASH];
    buf[0] = 0x01;
    memcpy(buf + 1, l, VT_TLOG_HASH);
    memcpy(buf + 1 + VT_TLOG_HASH, r, VT_TLOG_HASH);
    crypto_hash_sha256(out, buf, sizeof buf);
}

int vt_tlog_verify_inclusion(const uint8_t leaf_hash[VT_TLOG_HASH], uint64_t index,
                             uint64_t tree_size, const vt_tlog_proof *proof,
                             const uint8_t root[VT_TLOG_HASH])
{
    if (!leaf_hash || !proof || !root || index >= tree_size || proof->n > VT_TLOG_MAX_PROOF)
        return VT_ERR_INVAL;
    uint64_t fn = index, sn = tree_size - 1;
    uint8_t r[VT_TLOG_HASH];
    memcpy(r, leaf_hash, VT_TLOG_HASH);
    for (uint32_t i = 0; i < proof->n; i++) {
        const uint8_t *p = proof->hash[i];
        if (sn == 0)
            return VT_ERR_BADSIG; /* proof longer than the path */
        if ((fn & 1) || fn == sn) {
            vt_tlog_node_hash(p, r, r);
            /* Skip the levels where we are a lone right-edge node. */
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            vt_tlog_node_hash(r, p, r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || sodium_memcmp(r, root, VT_TLOG_HASH) != 0)
        return VT_ERR_BADSIG;
    return 0;
}

int vt_tlog_verify_consistency(uint64_t size1, const uint8_t root1[VT_TLOG_HASH],
                               uint64_t size2, const uint8_t root2[VT_TLOG_HASH],
                               const vt_tlog_proof *proof)
{
    if (!root1 || !root2 || !proof || size1 > size2 || proof->n > VT_TLOG_MAX_PROOF)
        return VT_ERR_INVAL;
    if (size1 == size2)
        return (proof->n == 0 && sodium_memcmp(root1, root2, VT_TLOG_HASH) == 0) ? 0
                                                                                : VT_ERR_BADSIG;
    if (size1 == 0)
        return proof->n == 0 ? 0 : VT_ERR_BADSIG; /* the empty tree precedes every tree */

    /* When size1 is a power of two the old root is itself a node of the new
     * tree and the proof omits it: put it back in front. */
    const uint8_t *c[VT_TLOG_MAX_PROOF + 1];
    uint32_t n = 0;
    if ((size1 & (size1 - 1)) == 0)
        c[n++] = root1;
    for (uint32_t i = 0; i < proof->n; i++)
        c[n++] = proof->hash[i];
    if (n == 0)
        return VT_ERR_BADSIG;

    uint64_t fn = size1 - 1, sn = size2 - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    uint8_t fr[VT_TLOG_HASH], sr[VT_TLOG_HASH];
    memcpy(fr, c[0], VT_TLOG_HASH);
    memcpy(sr, c[0], VT_TLOG_HASH);
    for (uint32_t i = 1; i < n; i++) {
        if (sn == 0)
            return VT_ERR_BADSIG;
        if ((fn & 1) || fn == sn) {
            vt_tlog_node_hash(c[i], fr, fr);
            vt_tlog_node_hash(c[i], sr, sr);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            vt_tlog_node_hash(sr, c[i], sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || sodium_memcmp(fr, root1, VT_TLOG_HASH) != 0 ||
        sodium_memcmp(sr, root2, VT_TLOG_HASH) != 0)
        return VT_ERR_BADSIG;
    return 0;
}

static void tree_head_message(const vt_tree_head *th, uint8_t *msg, size_t *len)
{
    static const char dom[] = "verity/tree-head/v1";
    size_t o = sizeof dom - 1;
    memcpy(msg, dom, o);
    for (int i = 7; i >= 0; i--)
        msg[o++] = (uint8_t)(th->size >> (8 * i));
    for (int i = 7; i >= 0; i--)
        msg[o++] = (uint8_t)(th->time_ms >> (8 * i));
    memcpy(msg + o, th->root, VT_TLOG_HASH);
    *len = o + VT_TLOG_HASH;
}

int vt_tree_head_sign(vt_tree_head *th, const uint8_t sk[64])
{
    uint8_t msg[64 + VT_TLOG_HASH];
    size_t len;
    if (!th || !sk)
        return VT_ERR_INVAL;
    tree_head_message(th, msg, &len);
    return crypto_sign_detached(th->sig, NULL, msg, len, sk) == 0 ? 0 : VT_ERR_INTERNAL;
}

int vt_tree_head_verify(const vt_tree_head *th, const uint8_t pk[32])
{
    uint8_t msg[64 + VT_TLOG_HASH];
    size_t len;
    if (!th || !pk)
        return VT_ERR_INVAL;
    tree_head_message(th, msg, &len);
    return crypto_sign_verify_detached(th->sig, msg, len, pk) == 0 ? 0 : VT_ERR_BADSIG;
}
