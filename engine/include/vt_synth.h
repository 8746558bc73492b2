/* vt_synth.h - synthetic llama-architecture GGUF models.
 *
 * Deterministic random weights (same preset, dtype and seed give the same
 * bytes on every machine) with the metadata and tensor layout llama.cpp
 * writes, and a real SentencePiece-style vocabulary: <unk> <s> </s>, the 256
 * byte tokens <0x00>..<0xFF> (ids 3..258), a few hundred English pieces whose
 * every prefix is also a piece (so BPE can build each one), then unique
 * syllable filler pieces up to the vocab size.
 *
 * Presets (head_dim = dim / n_heads):
 *   tiny  dim 64,  2 layers,  4 heads, 2 kv heads, hidden 192,  vocab 512,   ctx 256,  untied output
 *   15m   dim 288, 6 layers,  6 heads, 6 kv heads, hidden 768,  vocab 32000, ctx 256,  tied output
 *   110m  dim 768, 12 layers, 12 heads, 12 kv heads, hidden 2048, vocab 32000, ctx 1024, tied output
 * Weight matrices and token_embd take dtype (VT_DTYPE_F32, _F16 or _Q8_0);
 * norm weights are always F32.
 */
#ifndef VT_SYNTH_H
#define VT_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "vt_err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_synth_config {
    uint32_t dim, n_layers, n_heads, n_kv_heads, hidden, vocab, ctx_len;
    int tied_output;  /* 1: no output.weight (logits use token_embd) */
    const char *name; /* general.name; NULL = "verity-synth" */
} vt_synth_config;

/* Fill cfg from a preset name ("tiny", "15m", "110m"); VT_ERR_NOTFOUND else. */
int vt_synth_preset(const char *preset, vt_synth_config *cfg);

/* VT_ERR_INVAL with a detail when the shape cannot make a valid model for
 * dtype (divisibility, Q8_0 rows of 32, vocab too small for the base pieces). */
int vt_synth_check(const vt_synth_config *cfg, uint32_t dtype, vt_errinfo *ei);

int vt_synth_write(const char *preset, uint32_t dtype, uint64_t seed, const char *path,
                   vt_errinfo *ei);
int vt_synth_mem(const char *preset, uint32_t dtype, uint64_t seed, uint8_t **buf,
                 size_t *len, vt_errinfo *ei);
/* Same with an explicit shape. *buf is malloc'd; the caller frees it. */
int vt_synth_write_cfg(const vt_synth_config *cfg, uint32_t dtype, uint64_t seed,
                       const char *path, vt_errinfo *ei);
int vt_synth_mem_cfg(const vt_synth_config *cfg, uint32_t dtype, uint64_t seed, uint8_t **buf,
                     size_t *len, vt_errinfo *ei);

#ifdef __cplusplus
}
#endif
#endif
