/* vt_tlog.h - Verity's transparency log: an append-only Merkle tree over
 * receipt hashes, hashed exactly as RFC 6962 (Certificate Transparency) and
 * RFC 9162 section 2.1:
 *
 *   leaf hash  = SHA-256(0x00 || leaf bytes)
 *   node hash  = SHA-256(0x01 || left || right)
 *   MTH({})    = SHA-256("")
 *   MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])), k = largest power of 2 < n
 *
 * The 0x00/0x01 prefixes separate leaves from nodes, so no leaf can be passed
 * off as an inner node (second-preimage resistance). SHA-256 rather than our
 * usual BLAKE2b so that any CT tool can check a Verity log.
 *
 * The tree is stored as its complete, aligned subtrees: node (level l, index
 * i) = MTH(D[i*2^l : (i+1)*2^l]), present once (i+1)*2^l <= size. An append
 * adds one leaf and at most log2(n) nodes; every root, inclusion proof and
 * consistency proof for any earlier size is computed from those nodes, so
 * nothing is ever rewritten (append-only by construction).
 *
 * Proof checking (vt_tlog_verify_*) is pure and needs no server: agents link
 * it through the client library to check receipts offline.
 */
#ifndef VT_TLOG_H
#define VT_TLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vt_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VT_TLOG_HASH 32
#define VT_TLOG_MAX_PROOF 64 /* hashes in a proof: 2*log2(2^32) is plenty */

typedef struct vt_tlog_proof {
    uint32_t n;
    uint8_t hash[VT_TLOG_MAX_PROOF][VT_TLOG_HASH];
} vt_tlog_proof;

/* SHA-256(0x00 || data) and SHA-256(0x01 || l || r). */
void vt_tlog_leaf_hash(const void *data, size_t len, uint8_t out[VT_TLOG_HASH]);
void vt_tlog_node_hash(const uint8_t l[VT_TLOG_HASH], const uint8_t r[VT_TLOG_HASH],
                       uint8_t out[VT_TLOG_HASH]);

/* RFC 9162 2.1.3.2: does leaf_hash sit at index in the tree of tree_size
 * whose root is root? 0 or VT_ERR_BADSIG / VT_ERR_INVAL. */
int vt_tlog_verify_inclusion(const uint8_t leaf_hash[VT_TLOG_HASH], uint64_t index,
                             uint64_t tree_size, const vt_tlog_proof *proof,
                             const uint8_t root[VT_TLOG_HASH]);

/* RFC 9162 2.1.4.2: is the tree (size2, root2) an append-only extension of
 * (size1, root1)? */
int vt_tlog_verify_consistency(uint64_t size1, const uint8_t root1[VT_TLOG_HASH],
                               uint64_t size2, const uint8_t root2[VT_TLOG_HASH],
                               const vt_tlog_proof *proof);

/* ------------------------------------------------------------ in memory */

/* The log's nodes held in memory (the scheduler's working copy; Redis holds
 * the durable one). Not thread-safe: one owner, or a lock around it. */
typedef struct vt_tlog vt_tlog;

int vt_tlog_new(vt_tlog **out);
void vt_tlog_free(vt_tlog *t);
uint64_t vt_tlog_size(const vt_tlog *t);
/* Memory it holds: ~66 bytes a leaf, up to twice that just after its
 * arrays doubled. */
size_t vt_tlog_bytes(const vt_tlog *t);

/* Append a leaf hash; *index_out is its position. If new_nodes is non-NULL
 * it receives the (level, index, hash) of every node this append completed,
 * leaf included (at most 64), so the caller can persist exactly those. */
typedef struct vt_tlog_node {
    uint32_t level;
    uint64_t index;
    uint8_t hash[VT_TLOG_HASH];
} vt_tlog_node;

int vt_tlog_append(vt_tlog *t, const uint8_t leaf_hash[VT_TLOG_HASH], uint64_t *index_out,
                   vt_tlog_node *new_nodes, uint32_t *n_new);

/* Restore a node read back from storage (any order); sizes are implied by
 * the level-0 nodes, which must then be contiguous from 0. */
int vt_tlog_restore_node(vt_tlog *t, const vt_tlog_node *node);
/* After restoring: fix the size; check every inner node of a level that was
 * restored (it must hold exactly its complete subtrees) against its
 * children, and compute the levels that were not. VT_ERR_FORMAT when the
 * stored tree is inconsistent. */
int vt_tlog_restore_finish(vt_tlog *t);

int vt_tlog_leaf_at(const vt_tlog *t, uint64_t index, uint8_t out[VT_TLOG_HASH]);
/* The complete subtree (level, index): MTH of leaves [index*2^level,
 * (index+1)*2^level). VT_ERR_RANGE when it is not complete yet. */
int vt_tlog_node_at(const vt_tlog *t, uint32_t level, uint64_t index, uint8_t out[VT_TLOG_HASH]);
/* Root of the first `size` leaves (size <= current size). */
int vt_tlog_root(const vt_tlog *t, uint64_t size, uint8_t out[VT_TLOG_HASH]);
int vt_tlog_prove_inclusion(const vt_tlog *t, uint64_t index, uint64_t size,
                            vt_tlog_proof *out);
int vt_tlog_prove_consistency(const vt_tlog *t, uint64_t size1, uint64_t size2,
                              vt_tlog_proof *out);

/* ------------------------------------------------------- signed tree heads */

/* A tree head signed by the scheduler (Ed25519). The signed bytes are
 * "verity/tree-head/v1" || size (u64 BE) || time_ms (u64 BE) || root. */
typedef struct vt_tree_head {
    uint64_t size;
    uint64_t time_ms;
    uint8_t root[VT_TLOG_HASH];
    uint8_t sig[64];
} vt_tree_head;

/* sk: libsodium Ed25519 secret key (64 bytes). */
int vt_tree_head_sign(vt_tree_head *th, const uint8_t sk[64]);
int vt_tree_head_verify(const vt_tree_head *th, const uint8_t pk[32]);


/* ------------------------------------------------------- Redis storage
 * (library vt_tlog_store). Layout:
 *   verity:tlog:tile:<t>:<k>  STRING  the nodes of tree level 8t with
 *                             indices 256k .. 256k+255 that are complete,
 *                             32 bytes each in index order (8 KiB when
 *                             full), as C2SP tlog-tiles lays a log out.
 *                             The levels in between are recomputed on load.
 *   verity:tlog:heads  LIST    recent signed heads, newest first (capped; the
 *                             first is the latest: vt_tree_head_encode)
 *   verity:tlog:nodes  HASH    "<level>:<index>" -> node: the layout before
 *                             tiles (every node, ~190 B of Redis memory per
 *                             entry against ~35-60), with verity:tlog:head, a
 *                             copy of the latest head; converted by the first
 *                             load that finds it, then both deleted.
 * An append's nodes are written with SETRANGE at their own offsets, so a
 * write repeated after a lost reply changes nothing; nodes are only ever
 * added, never changed. */
struct vt_redis;

/* Queue (vt_redis_appendv: pipelined, replies read by the caller) the
 * writes of these nodes (what vt_tlog_append returned, any number of
 * appends in order): one SETRANGE per run of consecutive nodes of a tile.
 * Returns the number of commands queued (>= 1) or < 0. */
int vt_tlog_store_queue(struct vt_redis *r, const vt_tlog_node *nodes, uint32_t n,
                        vt_errinfo *ei);
/* Queue LPUSH+LTRIM of the head onto the head history. Returns the number
 * of commands queued (2) or < 0. */
int vt_tlog_store_queue_head(struct vt_redis *r, const vt_tree_head *th, vt_errinfo *ei);
/* Load the log into t (fresh) and check the tree (restore_finish). A log
 * still in the old hash layout is read from it and converted to tiles
 * (*converted set; may be NULL). */
int vt_tlog_store_load(struct vt_redis *r, vt_tlog *t, bool *converted, vt_errinfo *ei);
/* Latest stored head; VT_ERR_NOTFOUND when none yet. */
int vt_tlog_store_load_head(struct vt_redis *r, vt_tree_head *out, vt_errinfo *ei);

/* Fixed 120-byte encoding of a signed head: size, time_ms (u64 BE), root, sig. */
#define VT_TREE_HEAD_BYTES (8 + 8 + VT_TLOG_HASH + 64)
void vt_tree_head_encode(const vt_tree_head *th, uint8_t out[VT_TREE_HEAD_BYTES]);
void vt_tree_head_decode(const uint8_t in[VT_TREE_HEAD_BYTES], vt_tree_head *th);

#ifdef __cplusplus
}
#endif
#endif
