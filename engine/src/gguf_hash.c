/* gguf_hash.c - a model's identity: the SHA-256 of its file's bytes. */
#include <sodium.h>

#include "vt_gguf.h"

/* Streamed in 1 MiB steps over the mapping, so the pages can be dropped
 * behind us by the kernel under memory pressure. */
size_t vt_gguf_sha256(const vt_gguf *g, uint8_t out[32])
{
    size_t len = 0;
    const uint8_t *p = vt_gguf_bytes(g, &len);
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    for (size_t off = 0; off < len;) {
        size_t n = len - off < (1u << 20) ? len - off : (1u << 20);
        crypto_hash_sha256_update(&st, p + off, n);
        off += n;
    }
    crypto_hash_sha256_final(&st, out);
    return len;
}
