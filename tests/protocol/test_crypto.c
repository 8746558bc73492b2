/* test_crypto.c - signatures, key files, hashes, Merkle batches, signed
 * result/verdict batches and hello proofs. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "samples.h"

static char tmpdir[] = "/tmp/vt_proto_test_XXXXXX";

static void test_sign_verify(void)
{
    vt_keypair kp, other;
    CHECK(vt_protocol_init() == 0 && vt_protocol_init() == 0); /* idempotent */
    CHECK(vt_key_generate(&kp) == 0 && vt_key_generate(&other) == 0);
    CHECK(memcmp(kp.pk, other.pk, 32) != 0);
    uint8_t msg[100], sig[VT_SIG_BYTES];
    for (int i = 0; i < 100; i++)
        msg[i] = (uint8_t)i;
    CHECK(vt_sign(&kp, msg, sizeof msg, sig) == 0);
    CHECK(vt_verify(kp.pk, msg, sizeof msg, sig) == 0);
    CHECK(vt_verify(other.pk, msg, sizeof msg, sig) == VT_ERR_BADSIG);
    for (size_t i = 0; i < sizeof msg; i += 7) { /* any tampered byte fails */
        msg[i] ^= 1;
        CHECK(vt_verify(kp.pk, msg, sizeof msg, sig) == VT_ERR_BADSIG);
        msg[i] ^= 1;
    }
    for (size_t i = 0; i < VT_SIG_BYTES; i += 5) {
        sig[i] ^= 0x80;
        CHECK(vt_verify(kp.pk, msg, sizeof msg, sig) == VT_ERR_BADSIG);
        sig[i] ^= 0x80;
    }
    /* seeds are deterministic */
    uint8_t seed[32] = {1, 2, 3};
    vt_keypair a, b;
    CHECK(vt_key_from_seed(&a, seed) == 0 && vt_key_from_seed(&b, seed) == 0);
    CHECK(memcmp(a.pk, b.pk, 32) == 0 && memcmp(a.sk, b.sk, 64) == 0);

    char id[VT_NODE_ID_HEX + 1], shortid[VT_NODE_ID_SHORT + 1];
    uint8_t back[32];
    vt_node_id(kp.pk, id);
    vt_node_id_short(kp.pk, shortid);
    CHECK(strlen(id) == 64 && strncmp(id, shortid, 16) == 0 && strlen(shortid) == 16);
    CHECK(vt_node_id_parse(id, back) == 0 && memcmp(back, kp.pk, 32) == 0);
    id[5] = 'g';
    CHECK(vt_node_id_parse(id, back) == VT_ERR_FORMAT);
    CHECK(vt_node_id_parse("abcd", back) == VT_ERR_FORMAT);
}

static void write_file(const char *path, const char *content, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    CHECK(fd >= 0);
    CHECK(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
    close(fd);
    CHECK(chmod(path, mode) == 0);
}

static void test_key_files(void)
{
    char path[256], bad[256];
    snprintf(path, sizeof path, "%s/node.key", tmpdir);
    snprintf(bad, sizeof bad, "%s/bad.key", tmpdir);
    vt_keypair kp, back;
    vt_errinfo ei = {0};
    CHECK(vt_key_generate(&kp) == 0);
    CHECK(vt_key_save(path, &kp, false, &ei) == 0);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(vt_key_load(path, &back, &ei) == 0);
    CHECK(memcmp(kp.pk, back.pk, 32) == 0 && memcmp(kp.sk, back.sk, 64) == 0);
    CHECK(vt_key_save(path, &kp, false, &ei) == VT_ERR_EXISTS);
    CHECK(vt_key_save(path, &kp, true, &ei) == 0);

    /* the file format is one documented line */
    FILE *f = fopen(path, "r");
    char line[200] = {0};
    CHECK(f && fgets(line, sizeof line, f));
    fclose(f);
    CHECK(strncmp(line, "verity-ed25519-secret-v1 ", 25) == 0 && strlen(line) == 25 + 64 + 1);

    /* corrupt files: each gives a clear error, never a key */
    struct {
        const char *content;
        int want;
    } cases[] = {
        {"", VT_ERR_FORMAT},
        {"verity-ed25519-secret-v1 ", VT_ERR_FORMAT},
        {"verity-ed25519-secret-v2 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
         VT_ERR_FORMAT},
        {"verity-ed25519-secret-v1 00112233445566778899aabbccddeeff00112233445566778899aabbccddeef\n",
         VT_ERR_FORMAT}, /* 63 hex */
        {"verity-ed25519-secret-v1 00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg\n",
         VT_ERR_FORMAT}, /* non-hex */
        {"verity-ed25519-secret-v1 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\nX",
         VT_ERR_FORMAT}, /* trailing garbage */
        {"-----BEGIN OPENSSH PRIVATE KEY-----\n", VT_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(bad, cases[i].content, 0600);
        memset(&ei, 0, sizeof ei);
        int rv = vt_key_load(bad, &back, &ei);
        if (rv != cases[i].want)
            fprintf(stderr, "case %zu: %d %s\n", i, rv, ei.detail);
        CHECK(rv == cases[i].want && strstr(ei.detail, bad));
    }
    write_file(bad, line, 0600); /* a good line, CRLF-free: loads */
    CHECK(vt_key_load(bad, &back, &ei) == 0);
    write_file(bad, line, 0644); /* world-readable secret: refused */
    CHECK(vt_key_load(bad, &back, &ei) == VT_ERR_DENIED && strstr(ei.detail, "chmod 600"));
    write_file(bad, line, 0640); /* group (Kubernetes fsGroup) is fine */
    CHECK(vt_key_load(bad, &back, &ei) == 0);
    char missing[256];
    snprintf(missing, sizeof missing, "%s/none.key", tmpdir);
    CHECK(vt_key_load(missing, &back, &ei) == VT_ERR_IO);
    CHECK(vt_key_load(tmpdir, &back, &ei) == VT_ERR_FORMAT || vt_key_load(tmpdir, &back, &ei) == VT_ERR_IO);
    unlink(path);
    unlink(bad);
}

static void test_hashes(void)
{
    int32_t t1[] = {1, 2, 3}, t2[] = {1, 2, 4};
    uint8_t a[32], b[32], c[32];
    vt_hash_tokens(t1, 3, a);
    vt_hash_tokens(t1, 3, b);
    vt_hash_tokens(t2, 3, c);
    CHECK(memcmp(a, b, 32) == 0 && memcmp(a, c, 32) != 0);
    vt_hash_tokens(t1, 2, c);
    CHECK(memcmp(a, c, 32) != 0);
    /* domain separation: the same bytes hashed as text differ */
    vt_hash_text("\1\0\0\0\2\0\0\0\3\0\0\0", 12, c);
    CHECK(memcmp(a, c, 32) != 0);
    vt_hash_text("", 0, b);
    vt_hash_text(NULL, 0, c);
    CHECK(memcmp(b, c, 32) == 0);
}

static void make_leaves(uint8_t (*leaves)[32], uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        char s[32];
        int len = snprintf(s, sizeof s, "leaf %u", (unsigned)i);
        vt_merkle_leaf(s, (size_t)len, leaves[i]);
    }
}

static void test_merkle(void)
{
    uint8_t leaves[33][32], root[32];
    make_leaves(leaves, 33);
    /* n = 1: the root is the leaf itself, path empty */
    CHECK(vt_merkle_root((const uint8_t(*)[32])leaves, 1, root) == 0 && memcmp(root, leaves[0], 32) == 0);
    for (uint32_t n = 1; n <= 33; n++) {
        CHECK(vt_merkle_root((const uint8_t(*)[32])leaves, n, root) == 0);
        for (uint32_t i = 0; i < n; i++) {
            vt_merkle_proof p;
            CHECK(vt_merkle_path((const uint8_t(*)[32])leaves, n, i, &p) == 0);
            CHECK(p.index == i && p.n == n && p.path_len <= 6);
            CHECK(vt_merkle_verify(leaves[i], &p, root) == 0);
            /* wrong leaf, wrong index, tampered path, wrong n, short path */
            CHECK(n == 1 || vt_merkle_verify(leaves[(i + 1) % n], &p, root) == VT_ERR_BADSIG);
            vt_merkle_proof q = p;
            if (n > 1) {
                q.index = (i + 1) % n;
                CHECK(vt_merkle_verify(leaves[i], &q, root) == VT_ERR_BADSIG);
                q = p;
                q.path[0][7] ^= 1;
                CHECK(vt_merkle_verify(leaves[i], &q, root) == VT_ERR_BADSIG);
                q = p;
                q.path_len--;
                CHECK(vt_merkle_verify(leaves[i], &q, root) == VT_ERR_BADSIG);
            }
            uint8_t bad[32];
            memcpy(bad, root, 32);
            bad[31] ^= 1;
            CHECK(vt_merkle_verify(leaves[i], &p, bad) == VT_ERR_BADSIG);
        }
    }
    /* the documented shape for n = 3: root = H(1 || H(1||L0||L1) || L2) */
    vt_merkle_proof p2;
    CHECK(vt_merkle_path((const uint8_t(*)[32])leaves, 3, 2, &p2) == 0);
    CHECK(p2.path_len == 1);
    CHECK(vt_merkle_root(NULL, 0, root) == VT_ERR_INVAL);
    CHECK(vt_merkle_path((const uint8_t(*)[32])leaves, 3, 3, &p2) == VT_ERR_INVAL);
}

/* H(0x01 || l || r) computed here, independently of merkle.c. */
static void node(const uint8_t *l, const uint8_t *r, uint8_t *out)
{
    uint8_t in[65];
    in[0] = 0x01;
    memcpy(in + 1, l, 32);
    memcpy(in + 33, r, 32);
    crypto_generichash(out, 32, in, sizeof in, NULL, 0);
}

/* vt_merkle_tree (one build, every path) gives the roots and paths of the
 * documented shape; for n = 5 and 6 the roots are computed by hand. */
static void test_merkle_tree(void)
{
    uint8_t leaves[70][32], root[32], h01[32], h23[32], h45[32], h0123[32], want[32];
    make_leaves(leaves, 70);
    node(leaves[0], leaves[1], h01);
    node(leaves[2], leaves[3], h23);
    node(leaves[4], leaves[5], h45);
    node(h01, h23, h0123);
    node(h0123, leaves[4], want); /* n = 5: L4 promoted twice */
    CHECK(vt_merkle_root((const uint8_t(*)[32])leaves, 5, root) == 0 && memcmp(root, want, 32) == 0);
    node(h0123, h45, want); /* n = 6: H45 promoted once */
    CHECK(vt_merkle_root((const uint8_t(*)[32])leaves, 6, root) == 0 && memcmp(root, want, 32) == 0);
    for (uint32_t n = 1; n <= 70; n++) {
        vt_merkle_tree t;
        CHECK(vt_merkle_tree_build((const uint8_t(*)[32])leaves, n, &t) == 0);
        uint8_t troot[32];
        vt_merkle_tree_root(&t, troot);
        CHECK(vt_merkle_root((const uint8_t(*)[32])leaves, n, root) == 0 &&
              memcmp(root, troot, 32) == 0);
        for (uint32_t i = 0; i < n; i++) {
            vt_merkle_proof p;
            CHECK(vt_merkle_tree_path(&t, i, &p) == 0);
            CHECK(p.index == i && p.n == n);
            CHECK(vt_merkle_verify(leaves[i], &p, troot) == 0);
        }
        vt_merkle_proof p;
        CHECK(vt_merkle_tree_path(&t, n, &p) == VT_ERR_INVAL);
        vt_merkle_tree_free(&t);
    }
    vt_merkle_tree t;
    CHECK(vt_merkle_tree_build(NULL, 3, &t) == VT_ERR_INVAL);
    CHECK(vt_merkle_tree_build((const uint8_t(*)[32])leaves, 0, &t) == VT_ERR_INVAL);
}

static void test_batches(void)
{
    vt_keypair kp, other;
    vt_errinfo ei = {0};
    CHECK(vt_key_generate(&kp) == 0 && vt_key_generate(&other) == 0);

    vt_msg m;
    sample_msg(VT_MSG_RESULTS, &m);
    CHECK(vt_results_sign(&m.u.results, &kp, &ei) == 0);
    CHECK(vt_results_verify(&m.u.results, kp.pk, &ei) == 0);
    CHECK(vt_results_verify(&m.u.results, other.pk, &ei) == VT_ERR_BADSIG);

    /* through the wire: encode, decode, verify */
    vt_buf b;
    vt_buf_init(&b, 0);
    CHECK(vt_msg_encode(&m, &b, &ei) == 0);
    vt_msg d;
    CHECK(vt_msg_decode(b.data, b.len, &d, &ei) == 0);
    CHECK(vt_results_verify(&d.u.results, kp.pk, &ei) == 0);
    /* every signed field matters; unsigned timings do not */
    vt_wire_result *r = &d.u.results.results[1];
    r->decode_us++;
    CHECK(vt_results_verify(&d.u.results, kp.pk, &ei) == 0);
    r->lease_id++;
    CHECK(vt_results_verify(&d.u.results, kp.pk, &ei) == VT_ERR_BADSIG && strstr(ei.detail, "item 1"));
    r->lease_id--;
    ((int32_t *)r->tokens)[0] ^= 1;
    CHECK(vt_results_verify(&d.u.results, kp.pk, &ei) == VT_ERR_BADSIG);
    ((int32_t *)r->tokens)[0] ^= 1;
    ((uint8_t *)r->layer_digests)[40] ^= 1;
    CHECK(vt_results_verify(&d.u.results, kp.pk, &ei) == VT_ERR_BADSIG);
    ((uint8_t *)r->layer_digests)[40] ^= 1;
    r->stop_reason = VT_STOP_MAX;
    CHECK(vt_results_verify(&d.u.results, kp.pk, &ei) == VT_ERR_BADSIG);
    r->stop_reason = VT_STOP_STRING;
    d.u.results.root[0] ^= 1;
    CHECK(vt_results_verify(&d.u.results, kp.pk, &ei) == VT_ERR_BADSIG);
    d.u.results.root[0] ^= 1;
    CHECK(vt_results_verify(&d.u.results, kp.pk, &ei) == 0);
    /* reordering results breaks their proofs */
    vt_wire_result tmp = d.u.results.results[0];
    d.u.results.results[0] = d.u.results.results[1];
    d.u.results.results[1] = tmp;
    CHECK(vt_results_verify(&d.u.results, kp.pk, &ei) == VT_ERR_BADSIG);
    vt_msg_free(&d);
    vt_buf_free(&b);

    /* one result alone (a receipt) verifies with its leaf, proof, root, sig */
    uint8_t leaf[32];
    CHECK(vt_result_leaf(&m.u.results.results[2], kp.pk, leaf) == 0);
    CHECK(vt_merkle_verify(leaf, &m.u.results.results[2].proof, m.u.results.root) == 0);
    CHECK(vt_batch_verify(kp.pk, VT_BATCH_RESULTS, m.u.results.root, m.u.results.sig) == 0);
    /* domain separation: a results signature is not a verdicts signature */
    CHECK(vt_batch_verify(kp.pk, VT_BATCH_VERDICTS, m.u.results.root, m.u.results.sig) == VT_ERR_BADSIG);
    /* the leaf binds the signer */
    uint8_t leaf2[32];
    CHECK(vt_result_leaf(&m.u.results.results[2], other.pk, leaf2) == 0 && memcmp(leaf, leaf2, 32));

    sample_msg(VT_MSG_VERDICTS, &m);
    CHECK(vt_verdicts_sign(&m.u.verdicts, &kp, &ei) == 0);
    CHECK(vt_verdicts_verify(&m.u.verdicts, kp.pk, &ei) == 0);
    m.u.verdicts.verdicts[0].pass = false;
    CHECK(vt_verdicts_verify(&m.u.verdicts, kp.pk, &ei) == VT_ERR_BADSIG);
    m.u.verdicts.verdicts[0].pass = true;
    m.u.verdicts.verdicts[1].first_divergence++;
    CHECK(vt_verdicts_verify(&m.u.verdicts, kp.pk, &ei) == VT_ERR_BADSIG);

    sample_msg(VT_MSG_RESULTS, &m);
    m.u.results.n_results = 0;
    CHECK(vt_results_sign(&m.u.results, &kp, &ei) == VT_ERR_INVAL);
}

static void test_canonical_layout(void)
{
    /* The canonical result is a fixed-length array32 of 14, opening with
     * its domain tag as str32: checks the documented layout byte for byte. */
    vt_msg m;
    vt_buf b;
    uint8_t pk[32] = {0};
    sample_msg(VT_MSG_RESULTS, &m);
    vt_buf_init(&b, 0);
    CHECK(vt_result_canonical(&m.u.results.results[0], pk, &b) == 0);
    static const uint8_t head[] = {0xdd, 0, 0, 0, 14, 0xdb, 0, 0, 0, 16};
    CHECK(b.len > sizeof head && memcmp(b.data, head, sizeof head) == 0);
    CHECK(memcmp(b.data + sizeof head, "verity/result/v1", 16) == 0);
    /* 5 + (5+16) + (5+32) + (5+3 "j_0") + 9 + 5 + (5+32)*4 + 2 + (5+32) + 5 + (5+32)*2 */
    CHECK(b.len == 5 + 21 + 37 + 8 + 9 + 5 + 37 * 4 + 2 + 37 + 5 + 37 * 2);
    size_t len0 = b.len;
    /* integer values do not change the length: fixed widths */
    m.u.results.results[0].lease_id = 0xffffffffffffffffull;
    m.u.results.results[0].status = -1;
    vt_buf_reset(&b);
    CHECK(vt_result_canonical(&m.u.results.results[0], pk, &b) == 0 && b.len == len0);
    vt_buf_free(&b);

    /* hello: sign and verify; any field change breaks it */
    vt_keypair kp;
    vt_errinfo ei = {0};
    CHECK(vt_key_generate(&kp) == 0);
    sample_msg(VT_MSG_HELLO, &m);
    CHECK(vt_hello_sign(&m.u.hello, &kp, &ei) == VT_ERR_INVAL); /* node_pk != kp */
    memcpy(m.u.hello.node_pk, kp.pk, 32);
    CHECK(vt_hello_sign(&m.u.hello, &kp, &ei) == 0);
    CHECK(vt_hello_verify(&m.u.hello, &ei) == 0);
    m.u.hello.slots++;
    CHECK(vt_hello_verify(&m.u.hello, &ei) == VT_ERR_BADSIG);
    m.u.hello.slots--;
    m.u.hello.nonce[3] ^= 1;
    CHECK(vt_hello_verify(&m.u.hello, &ei) == VT_ERR_BADSIG);
    m.u.hello.nonce[3] ^= 1;
    m.u.hello.role = VT_HELLO_VERIFIER;
    CHECK(vt_hello_verify(&m.u.hello, &ei) == VT_ERR_BADSIG);
}

int main(void)
{
    CHECK(mkdtemp(tmpdir) != NULL);
    test_sign_verify();
    test_key_files();
    test_hashes();
    test_merkle();
    test_merkle_tree();
    test_batches();
    test_canonical_layout();
    rmdir(tmpdir);
    printf("test_crypto: ok\n");
    return 0;
}
