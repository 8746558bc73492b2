/* test_tlog.c - the transparency log against an independent, naive
 * RFC 6962 implementation written here, plus the RFC test vectors used by
 * Certificate Transparency implementations. */
#include "vt_tlog.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_test.h"


/* Naive MTH straight from the RFC text, over an array of leaf hashes. */
static void ref_mth(uint8_t (*leaves)[32], uint64_t n, uint8_t out[32])
{
    if (n == 0) {
        crypto_hash_sha256(out, (const unsigned char *)"", 0);
        return;
    }
    if (n == 1) {
        memcpy(out, leaves[0], 32);
        return;
    }
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    uint8_t l[32], r[32], buf[65];
    ref_mth(leaves, k, l);
    ref_mth(leaves + k, n - k, r);
    buf[0] = 1;
    memcpy(buf + 1, l, 32);
    memcpy(buf + 33, r, 32);
    crypto_hash_sha256(out, buf, 65);
}

static void hex(const uint8_t *b, char *out)
{
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static void test_vectors(void)
{
    /* The eight leaves of the CT reference tests and the expected roots of
     * the first 1..8 leaves. */
    static const char *const data[8] = {
        "", "\x00", "\x10", "\x20\x21", "\x30\x31", "\x40\x41\x42\x43",
        "\x50\x51\x52\x53\x54\x55\x56\x57",
        "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f"};
    static const size_t len[8] = {0, 1, 1, 2, 2, 4, 8, 16};
    static const char *const roots[8] = {
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};
    vt_tlog *t;
    VT_CHECK(vt_tlog_new(&t) == 0, "new");
    for (int i = 0; i < 8; i++) {
        uint8_t lh[32], root[32];
        char h[65];
        vt_tlog_leaf_hash(data[i], len[i], lh);
        VT_CHECK(vt_tlog_append(t, lh, NULL, NULL, NULL) == 0, "append %d", i);
        VT_CHECK(vt_tlog_root(t, (uint64_t)i + 1, root) == 0, "root");
        hex(root, h);
        VT_CHECK(strcmp(h, roots[i]) == 0, "root of %d leaves: %s", i + 1, h);
    }
    vt_tlog_free(t);
}

static void test_against_reference(void)
{
    enum { N = 70 };
    uint8_t leaves[N][32];
    vt_tlog *t;
    VT_CHECK(vt_tlog_new(&t) == 0, "new");
    uint8_t empty[32], ref[32], got[32];
    VT_CHECK(vt_tlog_root(t, 0, got) == 0, "empty root");
    ref_mth(leaves, 0, empty);
    VT_CHECK(memcmp(got, empty, 32) == 0, "empty root is SHA-256 of nothing");

    for (uint64_t i = 0; i < N; i++) {
        uint8_t leaf[8];
        for (int b = 0; b < 8; b++)
            leaf[b] = (uint8_t)(i * 31 + (uint64_t)b);
        vt_tlog_leaf_hash(leaf, sizeof leaf, leaves[i]);
        vt_tlog_node nodes[64];
        uint32_t n_new = 0;
        uint64_t idx = 99;
        VT_CHECK(vt_tlog_append(t, leaves[i], &idx, nodes, &n_new) == 0, "append");
        VT_CHECK(idx == i, "index %llu", (unsigned long long)idx);
        /* one leaf plus one node per trailing one bit of i */
        uint32_t expect = 1;
        for (uint64_t x = i; x & 1; x >>= 1)
            expect++;
        VT_CHECK(n_new == expect, "append %llu completed %u nodes, want %u",
              (unsigned long long)i, n_new, expect);
    }
    for (uint64_t size = 1; size <= N; size++) {
        VT_CHECK(vt_tlog_root(t, size, got) == 0, "root");
        ref_mth(leaves, size, ref);
        VT_CHECK(memcmp(got, ref, 32) == 0, "root of size %llu", (unsigned long long)size);
        for (uint64_t m = 0; m < size; m++) {
            vt_tlog_proof p;
            VT_CHECK(vt_tlog_prove_inclusion(t, m, size, &p) == 0, "prove");
            int ok = vt_tlog_verify_inclusion(leaves[m], m, size, &p, ref);
            VT_CHECK(ok == 0, "inclusion of %llu in %llu", (unsigned long long)m,
                  (unsigned long long)size);
            /* The same proof must not verify another leaf, index or size. */
            VT_CHECK(vt_tlog_verify_inclusion(leaves[(m + 1) % N], m, size, &p, ref) != 0,
                  "wrong leaf accepted");
            if (size > 1)
                VT_CHECK(vt_tlog_verify_inclusion(leaves[m], (m + 1) % size, size, &p, ref) != 0,
                      "wrong index accepted m=%llu size=%llu", (unsigned long long)m,
                      (unsigned long long)size);
            if (p.n > 0) {
                p.hash[p.n / 2][7] ^= 0x40;
                VT_CHECK(vt_tlog_verify_inclusion(leaves[m], m, size, &p, ref) != 0,
                      "tampered path accepted");
            }
        }
    }
    for (uint64_t s1 = 0; s1 <= 40; s1++) {
        for (uint64_t s2 = s1; s2 <= 40; s2++) {
            uint8_t r1[32], r2[32];
            vt_tlog_proof p;
            ref_mth(leaves, s1, r1);
            ref_mth(leaves, s2, r2);
            VT_CHECK(vt_tlog_prove_consistency(t, s1, s2, &p) == 0, "prove consistency");
            VT_CHECK(vt_tlog_verify_consistency(s1, r1, s2, r2, &p) == 0,
                  "consistency %llu -> %llu", (unsigned long long)s1, (unsigned long long)s2);
            if (s1 > 0 && s1 < s2) {
                uint8_t bad[32];
                memcpy(bad, r1, 32);
                bad[0] ^= 1;
                VT_CHECK(vt_tlog_verify_consistency(s1, bad, s2, r2, &p) != 0,
                      "forged old root accepted %llu->%llu", (unsigned long long)s1,
                      (unsigned long long)s2);
                memcpy(bad, r2, 32);
                bad[31] ^= 1;
                VT_CHECK(vt_tlog_verify_consistency(s1, r1, s2, bad, &p) != 0,
                      "forged new root accepted");
            }
        }
    }
    /* Out-of-range requests are errors, not crashes. */
    vt_tlog_proof p;
    VT_CHECK(vt_tlog_prove_inclusion(t, N, N, &p) != 0, "index == size");
    VT_CHECK(vt_tlog_prove_consistency(t, 5, N + 1, &p) != 0, "size beyond tree");
    VT_CHECK(vt_tlog_root(t, N + 1, got) != 0, "root beyond tree");

    /* Restore from the stored nodes in reverse order gives the same tree;
     * a tampered inner node is detected. */
    for (int tamper = 0; tamper < 2; tamper++) {
        vt_tlog *r;
        VT_CHECK(vt_tlog_new(&r) == 0, "new");
        vt_tlog *src;
        VT_CHECK(vt_tlog_new(&src) == 0, "new");
        vt_tlog_node all[N * 2];
        uint32_t total = 0;
        for (int i = 0; i < N; i++) {
            uint32_t k;
            VT_CHECK(vt_tlog_append(src, leaves[i], NULL, all + total, &k) == 0, "append");
            total += k;
        }
        if (tamper)
            all[total - 2].hash[3] ^= 1; /* an inner node (or leaf) */
        for (uint32_t i = total; i-- > 0;)
            VT_CHECK(vt_tlog_restore_node(r, &all[i]) == 0, "restore");
        int rv = vt_tlog_restore_finish(r);
        if (tamper) {
            VT_CHECK(rv == VT_ERR_FORMAT, "tampered store accepted: %d", rv);
        } else {
            VT_CHECK(rv == 0, "restore finish %d", rv);
            VT_CHECK(vt_tlog_size(r) == N, "restored size");
            ref_mth(leaves, N, ref);
            VT_CHECK(vt_tlog_root(r, N, got) == 0 && memcmp(got, ref, 32) == 0, "restored root");
        }
        vt_tlog_free(r);
        vt_tlog_free(src);
    }
    vt_tlog_free(t);
}

static void test_tree_head(void)
{
    uint8_t pk[32], sk[64];
    crypto_sign_keypair(pk, sk);
    vt_tree_head th = {.size = 42, .time_ms = 1700000000000ull};
    memset(th.root, 0xab, 32);
    VT_CHECK(vt_tree_head_sign(&th, sk) == 0, "sign");
    VT_CHECK(vt_tree_head_verify(&th, pk) == 0, "verify");
    th.size = 43;
    VT_CHECK(vt_tree_head_verify(&th, pk) == VT_ERR_BADSIG, "changed size accepted");
    th.size = 42;
    th.root[0] ^= 1;
    VT_CHECK(vt_tree_head_verify(&th, pk) == VT_ERR_BADSIG, "changed root accepted");
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    test_vectors();
    test_against_reference();
    test_tree_head();
    return vt_test_done();
}
