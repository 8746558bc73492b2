/* canonical.c - the exact bytes that get signed, and batch signing.
 *
 * A signature must cover one byte string that both sides derive from the
 * same values. Re-encoding a decoded map would depend on key order and
 * integer widths, so each signed item has a canonical form instead: a
 * msgpack array32 of fixed length, fields in a fixed order, integers in
 * fixed widths, str32/bin32 headers, big payloads replaced by their
 * domain-separated hashes. docs/protocol.md lists them field by field.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "wire.h"

/* H("verity/floats/v1" || n u32le || each float32's bits u32le). */
static void hash_floats(const float *v, uint32_t n, uint8_t out[VT_HASH_BYTES])
{
    crypto_generichash_state st;
    static const char tag[] = "verity/floats/v1";
    uint8_t b[4];
    vt_protocol_init();
    crypto_generichash_init(&st, NULL, 0, VT_HASH_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)tag, sizeof tag - 1);
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(n >> (8 * i));
    crypto_generichash_update(&st, b, 4);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t bits;
        memcpy(&bits, &v[k], 4);
        for (int i = 0; i < 4; i++)
            b[i] = (uint8_t)(bits >> (8 * i));
        crypto_generichash_update(&st, b, 4);
    }
    crypto_generichash_final(&st, out, VT_HASH_BYTES);
}

#define TRY(x) do { if ((rv = (x)) != 0) return rv; } while (0)

static int put_tag(vt_buf *w, const char *tag) { return vt_mp_write_str_fixed(w, tag, strlen(tag)); }
static int put_h(vt_buf *w, const uint8_t h[VT_HASH_BYTES]) { return vt_mp_write_bin_fixed(w, h, VT_HASH_BYTES); }

int vt_result_canonical(const vt_wire_result *r, const uint8_t node_pk[VT_PUBKEY_BYTES],
                        vt_buf *out)
{
    int rv;
    uint8_t h[VT_HASH_BYTES];
    if (r->n_layers > VT_PROTO_MAX_LAYERS || (r->n_layers && !r->layer_digests) ||
        (r->n_tokens && !r->tokens) || (r->n_embedding && !r->embedding))
        return VT_ERR_INVAL;
    TRY(vt_mp_write_array_fixed(out, 14));
    TRY(put_tag(out, "verity/result/v1"));
    TRY(vt_mp_write_bin_fixed(out, node_pk, VT_PUBKEY_BYTES));
    TRY(vt_mp_write_str_fixed(out, r->job_id, strnlen(r->job_id, VT_JOB_ID_MAX)));
    TRY(vt_mp_write_u64_fixed(out, r->lease_id));
    TRY(vt_mp_write_i32_fixed(out, r->status));
    TRY(vt_mp_write_bin_fixed(out, r->model_sha256, VT_SHA256_BYTES));
    TRY(put_h(out, r->prompt_digest));
    vt_hash_tokens(r->tokens, r->n_tokens, h);
    TRY(put_h(out, h));
    vt_hash_text(r->text, r->text ? r->text_len : 0, h);
    TRY(put_h(out, h));
    TRY(vt_mp_write_u8_fixed(out, (uint8_t)r->stop_reason));
    TRY(put_h(out, r->trace_digest));
    TRY(vt_mp_write_u32_fixed(out, r->n_layers));
    vt_hash_layers(r->layer_digests, r->n_layers, h);
    TRY(put_h(out, h));
    hash_floats(r->embedding, r->n_embedding, h);
    return put_h(out, h);
}

int vt_verdict_canonical(const vt_wire_verdict *v, const uint8_t node_pk[VT_PUBKEY_BYTES],
                         vt_buf *out)
{
    int rv;
    uint8_t h[VT_HASH_BYTES];
    if (v->n_layers > VT_PROTO_MAX_LAYERS || (v->n_layers && !v->layers_at_div))
        return VT_ERR_INVAL;
    TRY(vt_mp_write_array_fixed(out, 12));
    TRY(put_tag(out, "verity/verdict/v1"));
    TRY(vt_mp_write_bin_fixed(out, node_pk, VT_PUBKEY_BYTES));
    TRY(vt_mp_write_u64_fixed(out, v->task_id));
    TRY(vt_mp_write_u64_fixed(out, v->lease_id));
    TRY(vt_mp_write_str_fixed(out, v->job_id, strnlen(v->job_id, VT_JOB_ID_MAX)));
    TRY(vt_mp_write_bool(out, v->pass));
    TRY(vt_mp_write_u8_fixed(out, (uint8_t)v->fault));
    TRY(vt_mp_write_u32_fixed(out, v->first_divergence));
    TRY(put_h(out, v->replay_trace_digest));
    TRY(put_h(out, v->final_at_div));
    TRY(vt_mp_write_u32_fixed(out, v->n_layers));
    vt_hash_layers(v->layers_at_div, v->n_layers, h);
    return put_h(out, h);
}

static int put_opt_str(vt_buf *w, const char *s)
{
    return vt_mp_write_str_fixed(w, s ? s : "", s ? strlen(s) : 0);
}

int vt_hello_canonical(const vt_msg_hello *m, vt_buf *out)
{
    int rv;
    if (m->n_models > VT_PROTO_MAX_MODELS || (m->n_models && !m->models))
        return VT_ERR_INVAL;
    TRY(vt_mp_write_array_fixed(out, 9));
    TRY(put_tag(out, "verity/hello/v1"));
    TRY(vt_mp_write_bin_fixed(out, m->node_pk, VT_PUBKEY_BYTES));
    TRY(vt_mp_write_u8_fixed(out, (uint8_t)m->role));
    TRY(vt_mp_write_array_fixed(out, m->n_models));
    for (uint32_t i = 0; i < m->n_models; i++) {
        TRY(vt_mp_write_array_fixed(out, 2));
        TRY(vt_mp_write_bin_fixed(out, m->models[i].sha256, VT_SHA256_BYTES));
        TRY(put_opt_str(out, m->models[i].name));
    }
    TRY(put_opt_str(out, m->device));
    TRY(vt_mp_write_u32_fixed(out, m->slots));
    TRY(put_opt_str(out, m->version));
    TRY(vt_mp_write_u64_fixed(out, m->time_ms));
    return vt_mp_write_bin_fixed(out, m->nonce, VT_NONCE_BYTES);
}

int vt_hello_sign(vt_msg_hello *h, const vt_keypair *kp, vt_errinfo *ei)
{
    if (memcmp(h->node_pk, kp->pk, VT_PUBKEY_BYTES) != 0)
        return vt_fail(ei, VT_ERR_INVAL, "hello: node key is not the signing key");
    vt_buf b;
    vt_buf_init(&b, 0);
    int rv = vt_hello_canonical(h, &b);
    if (!rv)
        rv = vt_sign(kp, b.data, b.len, h->sig);
    vt_buf_free(&b);
    return rv ? vt_fail(ei, rv, "hello: cannot sign") : 0;
}

int vt_hello_verify(const vt_msg_hello *h, vt_errinfo *ei)
{
    vt_buf b;
    vt_buf_init(&b, 0);
    int rv = vt_hello_canonical(h, &b);
    if (!rv)
        rv = vt_verify(h->node_pk, b.data, b.len, h->sig);
    vt_buf_free(&b);
    if (rv == VT_ERR_BADSIG)
        return vt_fail(ei, rv, "hello: signature does not verify for this node key");
    return rv ? vt_fail(ei, rv, "hello: cannot check signature") : 0;
}

/* ------------------------------------------------------------- batches */

static const char *batch_tag(vt_batch_kind kind)
{
    return kind == VT_BATCH_RESULTS ? "verity/result-batch/v1" : "verity/verdict-batch/v1";
}

static void batch_message(vt_batch_kind kind, const uint8_t root[VT_HASH_BYTES],
                          uint8_t *msg, size_t *len)
{
    const char *tag = batch_tag(kind);
    size_t t = strlen(tag);
    memcpy(msg, tag, t);
    memcpy(msg + t, root, VT_HASH_BYTES);
    *len = t + VT_HASH_BYTES;
}

int vt_batch_sign(const vt_keypair *kp, vt_batch_kind kind, const uint8_t root[VT_HASH_BYTES],
                  uint8_t sig[VT_SIG_BYTES])
{
    uint8_t msg[64];
    size_t len;
    batch_message(kind, root, msg, &len);
    return vt_sign(kp, msg, len, sig);
}

int vt_batch_verify(const uint8_t pk[VT_PUBKEY_BYTES], vt_batch_kind kind,
                    const uint8_t root[VT_HASH_BYTES], const uint8_t sig[VT_SIG_BYTES])
{
    uint8_t msg[64];
    size_t len;
    batch_message(kind, root, msg, &len);
    return vt_verify(pk, msg, len, sig);
}

int vt_result_leaf(const vt_wire_result *r, const uint8_t node_pk[VT_PUBKEY_BYTES],
                   uint8_t leaf[VT_HASH_BYTES])
{
    vt_buf b;
    vt_buf_init(&b, 0);
    int rv = vt_result_canonical(r, node_pk, &b);
    if (!rv)
        vt_merkle_leaf(b.data, b.len, leaf);
    vt_buf_free(&b);
    return rv;
}

int vt_verdict_leaf(const vt_wire_verdict *v, const uint8_t node_pk[VT_PUBKEY_BYTES],
                    uint8_t leaf[VT_HASH_BYTES])
{
    vt_buf b;
    vt_buf_init(&b, 0);
    int rv = vt_verdict_canonical(v, node_pk, &b);
    if (!rv)
        vt_merkle_leaf(b.data, b.len, leaf);
    vt_buf_free(&b);
    return rv;
}

/* The two batch kinds differ only in item type; these adapters let one
 * signer and one verifier serve both. */
typedef struct batch_ops {
    vt_batch_kind kind;
    size_t item_size;
    size_t proof_off;
    int (*leaf)(const void *item, const uint8_t pk[VT_PUBKEY_BYTES], uint8_t leaf[VT_HASH_BYTES]);
} batch_ops;

static int result_leaf_op(const void *it, const uint8_t pk[VT_PUBKEY_BYTES], uint8_t l[VT_HASH_BYTES])
{
    return vt_result_leaf(it, pk, l);
}
static int verdict_leaf_op(const void *it, const uint8_t pk[VT_PUBKEY_BYTES], uint8_t l[VT_HASH_BYTES])
{
    return vt_verdict_leaf(it, pk, l);
}
static const batch_ops result_ops = {VT_BATCH_RESULTS, sizeof(vt_wire_result),
                                     offsetof(vt_wire_result, proof), result_leaf_op};
static const batch_ops verdict_ops = {VT_BATCH_VERDICTS, sizeof(vt_wire_verdict),
                                      offsetof(vt_wire_verdict, proof), verdict_leaf_op};

static int batch_sign(const batch_ops *ops, void *items, uint32_t n, uint8_t root[VT_HASH_BYTES],
                      uint8_t sig[VT_SIG_BYTES], const vt_keypair *kp, vt_errinfo *ei)
{
    if (n == 0 || n > VT_PROTO_MAX_BATCH || !items)
        return vt_fail(ei, VT_ERR_INVAL, "batch of %u items (must be 1..%u)", (unsigned)n,
                       VT_PROTO_MAX_BATCH);
    uint8_t(*leaves)[VT_HASH_BYTES] = malloc((size_t)n * VT_HASH_BYTES);
    if (!leaves)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    int rv = 0;
    for (uint32_t i = 0; i < n && !rv; i++)
        if ((rv = ops->leaf((char *)items + i * ops->item_size, kp->pk, leaves[i])))
            vt_fail(ei, rv, "item %u: cannot build canonical bytes", (unsigned)i);
    /* One tree for the root and every path (a path per leaf from scratch
     * was n - 1 node hashes per leaf: 4,000 for a batch of 64) */
    vt_merkle_tree tree = {0};
    if (!rv && (rv = vt_merkle_tree_build((const uint8_t(*)[VT_HASH_BYTES])leaves, n, &tree)))
        vt_fail(ei, rv, "cannot build Merkle tree");
    if (!rv)
        vt_merkle_tree_root(&tree, root);
    for (uint32_t i = 0; i < n && !rv; i++) {
        vt_merkle_proof *p = (vt_merkle_proof *)((char *)items + i * ops->item_size + ops->proof_off);
        rv = vt_merkle_tree_path(&tree, i, p);
    }
    vt_merkle_tree_free(&tree);
    if (!rv && (rv = vt_batch_sign(kp, ops->kind, root, sig)))
        vt_fail(ei, rv, "cannot sign batch");
    free(leaves);
    return rv;
}

static int batch_verify(const batch_ops *ops, const void *items, uint32_t n,
                        const uint8_t root[VT_HASH_BYTES], const uint8_t sig[VT_SIG_BYTES],
                        const uint8_t pk[VT_PUBKEY_BYTES], vt_errinfo *ei)
{
    if (n == 0 || !items)
        return vt_fail(ei, VT_ERR_INVAL, "empty batch");
    /* One signature check per batch; then only hashing per item. */
    int rv = vt_batch_verify(pk, ops->kind, root, sig);
    if (rv)
        return vt_fail(ei, rv, "batch signature does not verify for this node key");
    for (uint32_t i = 0; i < n; i++) {
        const char *it = (const char *)items + i * ops->item_size;
        const vt_merkle_proof *p = (const vt_merkle_proof *)(it + ops->proof_off);
        uint8_t leaf[VT_HASH_BYTES];
        if (p->index != i || p->n != n)
            return vt_fail(ei, VT_ERR_BADSIG, "item %u: proof names leaf %u of %u", (unsigned)i,
                           (unsigned)p->index, (unsigned)p->n);
        if ((rv = ops->leaf(it, pk, leaf)))
            return vt_fail(ei, rv, "item %u: cannot build canonical bytes", (unsigned)i);
        if (vt_merkle_verify(leaf, p, root))
            return vt_fail(ei, VT_ERR_BADSIG, "item %u: Merkle path does not lead to the signed root",
                           (unsigned)i);
    }
    return 0;
}

int vt_results_sign(vt_msg_results *m, const vt_keypair *kp, vt_errinfo *ei)
{
    return batch_sign(&result_ops, m->results, m->n_results, m->root, m->sig, kp, ei);
}

int vt_verdicts_sign(vt_msg_verdicts *m, const vt_keypair *kp, vt_errinfo *ei)
{
    return batch_sign(&verdict_ops, m->verdicts, m->n_verdicts, m->root, m->sig, kp, ei);
}

int vt_results_verify(const vt_msg_results *m, const uint8_t node_pk[VT_PUBKEY_BYTES],
                      vt_errinfo *ei)
{
    return batch_verify(&result_ops, m->results, m->n_results, m->root, m->sig, node_pk, ei);
}

int vt_verdicts_verify(const vt_msg_verdicts *m, const uint8_t node_pk[VT_PUBKEY_BYTES],
                       vt_errinfo *ei)
{
    return batch_verify(&verdict_ops, m->verdicts, m->n_verdicts, m->root, m->sig, node_pk, ei);
}
