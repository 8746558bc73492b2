/* vt_engine.h - Verity's deterministic inference engine (public API).
 *
 * The contract (docs/determinism.md): the bits of the logits at position i
 * depend only on the model file and tokens 0..i. Not on batch size or
 * neighbours, thread count, ISA path, prefill vs. decode, chunk split, or
 * CPU vs. CUDA. Workers generate with it; verifiers replay with it.
 *
 * Objects:
 *   vt_model      an mmapped GGUF file, validated, with its tokenizer. Immutable
 *                 after load; share it between threads and contexts freely.
 *   vt_ctx        KV caches and scratch for up to max_seqs sequences ("slots"),
 *                 plus the trace digest state of each slot. One thread drives a
 *                 ctx at a time; the ctx owns its worker thread pool.
 *   vt_tokenizer  owned by the model.
 *
 * All functions return 0 or a negative vt_err code (vt_err.h) and fill an
 * optional vt_errinfo with a detail line.
 */
#ifndef VT_ENGINE_H
#define VT_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "vt_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ model */

/* GGML tensor type ids, as in the GGUF spec. */
enum vt_dtype {
    VT_DTYPE_F32 = 0,
    VT_DTYPE_F16 = 1,
    VT_DTYPE_Q8_0 = 8,
    VT_DTYPE_BF16 = 30 /* recognised, not yet supported */
};

typedef struct vt_model vt_model;

typedef struct vt_model_info {
    char arch[32];          /* "llama" */
    char name[64];          /* general.name, may be empty */
    uint32_t dim;           /* llama.embedding_length */
    uint32_t n_layers;      /* llama.block_count */
    uint32_t n_heads;       /* llama.attention.head_count */
    uint32_t n_kv_heads;    /* llama.attention.head_count_kv */
    uint32_t head_dim;      /* dim / n_heads */
    uint32_t hidden_dim;    /* llama.feed_forward_length */
    uint32_t vocab;         /* rows of token_embd */
    uint32_t ctx_len;       /* llama.context_length */
    uint32_t rope_dim;      /* llama.rope.dimension_count (default head_dim) */
    float rope_base;        /* llama.rope.freq_base (default 10000) */
    float rms_eps;          /* llama.attention.layer_norm_rms_epsilon */
    uint32_t wtype;         /* vt_dtype of the layer weight matrices */
    int tied_output;        /* 1 when output.weight is absent */
    uint64_t n_params;
    uint64_t weight_bytes;  /* bytes of all tensors as stored */
    uint64_t file_bytes;
    uint8_t sha256[32];     /* the model's identity */
} vt_model_info;

/* Open and validate a GGUF file (mmap). Computes the SHA-256 of the file. */
int vt_model_load(const char *path, vt_model **out, vt_errinfo *ei);
void vt_model_free(vt_model *m);
const vt_model_info *vt_model_get_info(const vt_model *m);

/* Lowercase hex of the SHA-256: 64 chars + NUL. */
void vt_hex(const uint8_t *bytes, size_t n, char *out /* 2n+1 */);

/* -------------------------------------------------------------- tokenizer */

typedef struct vt_tokenizer vt_tokenizer;

const vt_tokenizer *vt_model_tokenizer(const vt_model *m);

/* A tokenizer on its own, for a process that never runs the model (the
 * scheduler turns text prompts into tokens). Reads the GGUF metadata and
 * hashes the file (sha256 = the model's identity), then unmaps it: only the
 * vocabulary stays in memory, none of the weights. */
int vt_tokenizer_open(const char *path, vt_tokenizer **out, uint8_t sha256[32], vt_errinfo *ei);
void vt_tokenizer_close(vt_tokenizer *t);
uint32_t vt_tok_vocab(const vt_tokenizer *t);
int32_t vt_tok_bos(const vt_tokenizer *t);
int32_t vt_tok_eos(const vt_tokenizer *t);

/* Encode UTF-8 text (len bytes, need not be NUL-terminated). Writes at most
 * cap ids to out and the count to *n_out. add_bos prepends BOS.
 * VT_ERR_RANGE when cap is too small (*n_out then holds the needed count). */
int vt_tok_encode(const vt_tokenizer *t, const char *text, size_t len, int add_bos,
                  int32_t *out, size_t cap, size_t *n_out);

/* The raw bytes of one token's piece (byte-fallback tokens give their byte,
 * the SentencePiece space marker U+2581 becomes ' '). Not NUL-terminated. */
int vt_tok_piece(const vt_tokenizer *t, int32_t id, const char **bytes, size_t *len);

/* Streaming, UTF-8-safe decoder: feed ids one by one, get only complete UTF-8
 * sequences out; incomplete trailing bytes are held until the next id (or
 * emitted as U+FFFD by vt_detok_flush). */
typedef struct vt_detok {
    const vt_tokenizer *tok;
    uint8_t pending[4];
    int n_pending;
    int at_start; /* strip the leading space SentencePiece adds after BOS */
} vt_detok;

void vt_detok_init(vt_detok *d, const vt_tokenizer *t);
/* Appends to out (cap bytes); *n_out is the bytes written. */
int vt_detok_push(vt_detok *d, int32_t id, char *out, size_t cap, size_t *n_out);
int vt_detok_flush(vt_detok *d, char *out, size_t cap, size_t *n_out);

/* ------------------------------------------------------------ thread pool */

typedef struct vt_pool vt_pool;

/* n_threads >= 1; the calling thread counts as one of them. */
int vt_pool_create(int n_threads, vt_pool **out);
void vt_pool_destroy(vt_pool *p);
int vt_pool_size(const vt_pool *p);
/* Run fn(arg, i, n) for i in 0..n-1 across the pool; returns when all done. */
void vt_pool_run(vt_pool *p, void (*fn)(void *arg, int i, int n), void *arg);

/* ------------------------------------------------------------- contexts */

typedef enum vt_isa {
    VT_ISA_NATIVE = 0, /* best available at run time (AVX2+FMA+F16C, else scalar) */
    VT_ISA_SCALAR = 1  /* portable C path: bit-identical results, slower */
} vt_isa;

typedef enum vt_backend {
    VT_BACKEND_AUTO = 0, /* CUDA when built and a device exists, else CPU */
    VT_BACKEND_CPU = 1,
    VT_BACKEND_CUDA = 2,
    /* The CUDA backend's forward pass with every kernel run as a CPU loop:
     * same code path and arithmetic as CUDA, no GPU needed. Very slow; it
     * exists so tests can check the CUDA backend's logic bit for bit
     * against the CPU backend on machines without a GPU. */
    VT_BACKEND_CUDA_EMU = 3
} vt_backend;

typedef struct vt_ctx_params {
    int max_seqs;       /* slots (sequences) this ctx can hold; >= 1 */
    int max_ctx;        /* per-slot KV capacity in tokens; 0 = model ctx_len.
                         * KV memory: max_seqs * n_layers * max_ctx * 2 * kv_dim floats */
    int n_threads;      /* CPU threads; >= 1 */
    vt_isa isa;
    vt_backend backend;
    int trace_per_pos;  /* keep per-position digests (final + per layer) */
} vt_ctx_params;

void vt_ctx_params_default(vt_ctx_params *p);

typedef struct vt_ctx vt_ctx;

int vt_ctx_create(const vt_model *m, const vt_ctx_params *p, vt_ctx **out, vt_errinfo *ei);
void vt_ctx_free(vt_ctx *c);
/* The backend actually in use (AUTO resolved) and a one-line description. */
vt_backend vt_ctx_backend(const vt_ctx *c);
const char *vt_ctx_describe(const vt_ctx *c); /* "cpu avx2 2 threads" */

/* Empty slot `seq`: position back to 0, trace digests restarted. */
int vt_seq_reset(vt_ctx *c, int seq);
/* Number of tokens already in slot `seq` (its next position). */
int vt_seq_pos(const vt_ctx *c, int seq);

/* One sequence's part of a batched forward step: append n_tokens tokens to
 * slot `seq` at positions pos..pos+n_tokens-1 (pos = vt_seq_pos). */
typedef struct vt_batch_item {
    int seq;
    const int32_t *tokens;
    int n_tokens;
    /* Logits are computed for the LAST n_logits of these tokens only
     * (0 <= n_logits <= n_tokens) and written to logits[n_logits][vocab]. */
    int n_logits;
    float *logits;
} vt_batch_item;

/* Advance every item's sequence in one call (prefill, decode, or a mix:
 * continuous batching). Items must name distinct slots. The logits of each
 * item are bit-identical to running it alone, in any chunking.
 * The whole batch is validated first: a bad slot, token id or n_logits is
 * VT_ERR_INVAL, a sequence that would pass max_ctx is VT_ERR_RANGE, and in
 * both cases no slot changes. A backend failure (VT_ERR_CUDA) empties the
 * slots of the batch (vt_seq_reset). */
int vt_forward(vt_ctx *c, const vt_batch_item *items, int n_items, vt_errinfo *ei);
/* vt_forward that also writes, for each item i with hidden[i] != NULL, the
 * final-norm hidden states of ALL its n_tokens tokens (the rows the trace
 * digests) to hidden[i][n_tokens][dim]. hidden may be NULL (= vt_forward).
 * Bit-identical to running the item alone, like the logits. */
int vt_forward_hidden(vt_ctx *c, const vt_batch_item *items, int n_items, float *const *hidden,
                      vt_errinfo *ei);

/* Embed jobs: empty slot `seq`, feed tokens[0..n-1] (VT_CHUNK-sized steps),
 * and write the mean of the final-norm hidden states over the n positions
 * to out[dim]. Summation order (docs/determinism.md): for each component d,
 * s = h[0][d], then s = s + h[p][d] for p = 1..n-1 in position order, in
 * float32, then out[d] = s / (float)n - one division. The slot's trace then
 * covers positions 0..n-1 (vt_seq_trace). 1 <= n <= max_ctx. */
int vt_seq_embed(vt_ctx *c, int seq, const int32_t *tokens, int n, float *out, vt_errinfo *ei);

/* Several embeds sharing forward calls: each round feeds every unfinished
 * item up to VT_EMBED_STEP more tokens in one vt_forward_hidden, so short
 * prompts read the weights once between them instead of once each. Every
 * item's out[dim] and its slot's trace are bit-identical to vt_seq_embed
 * of that item alone (batch invariance; the same per-item sum). Items must
 * name distinct slots (1..VT_EMBED_MAX of them); each 1 <= n_tokens <=
 * max_ctx. On an error no out is written and the items' slots are left
 * empty. */
typedef struct vt_embed_item {
    int seq;
    const int32_t *tokens;
    int n_tokens;
    float *out; /* [dim] */
} vt_embed_item;
#define VT_EMBED_STEP 256 /* tokens per item per round */
#define VT_EMBED_MAX 64   /* items per call */
int vt_embed_batch(vt_ctx *c, const vt_embed_item *items, int n_items, vt_errinfo *ei);

/* ------------------------------------------------------------ trace digest */

/* The trace of a slot: BLAKE2b-256 over the exact bits (float32, little
 * endian) of the final-norm output at every position processed so far, and
 * one BLAKE2b-256 per layer over that layer's output residual at the same
 * positions. For a job of P prompt and O output tokens the slot processes
 * positions 0..P+O-2: exactly those whose logits chose a token. */
#define VT_DIGEST_BYTES 32
#define VT_MAX_LAYERS 128

typedef struct vt_trace {
    uint8_t final_digest[VT_DIGEST_BYTES];
    uint32_t n_layers;
    uint8_t layer_digest[VT_MAX_LAYERS][VT_DIGEST_BYTES];
    uint32_t n_positions;
} vt_trace;

int vt_seq_trace(const vt_ctx *c, int seq, vt_trace *out);

/* With trace_per_pos: digests of position `pos` alone: final[32] and
 * layers[n_layers][32] (either may be NULL). VT_ERR_UNSUPPORTED when the
 * ctx was created without trace_per_pos, VT_ERR_RANGE for a position not
 * processed yet or n_layers_cap < n_layers. */
int vt_seq_pos_digest(const vt_ctx *c, int seq, int pos, uint8_t final_out[VT_DIGEST_BYTES],
                      uint8_t (*layers_out)[VT_DIGEST_BYTES], uint32_t n_layers_cap);

/* ---------------------------------------------------------------- sampler */

typedef struct vt_sampling {
    float temperature; /* 0 = greedy */
    uint32_t top_k;    /* 0 = off */
    float top_p;       /* 1.0 (or 0) = off */
    uint64_t seed;
} vt_sampling;

void vt_sampling_default(vt_sampling *s); /* greedy */

/* Pick the token at position `pos` (the position whose logits these are)
 * from logits[vocab]. Pure: depends only on its arguments, never on earlier
 * calls, so a verifier can check any position alone. Ties go to the lowest id.
 * Randomness: counter-based generator keyed by (seed, pos). */
int32_t vt_sample(const float *logits, uint32_t vocab, const vt_sampling *s, uint32_t pos);

/* The uniform [0,1) draw used at (seed, pos); exposed for tests. */
float vt_rng_uniform(uint64_t seed, uint32_t pos);

/* ------------------------------------------------------------- generation */

/* Single-sequence convenience loop used by the CLI and the tests (workers
 * drive vt_forward themselves for continuous batching). */
typedef struct vt_gen_params {
    vt_sampling sampling;
    uint32_t max_tokens;
    const char *const *stop;  /* stop strings, may be NULL */
    int n_stop;
    int stop_at_eos;          /* 1 = stop when EOS is sampled (EOS is kept in output) */
} vt_gen_params;

typedef struct vt_gen_result {
    int32_t *tokens;   /* output tokens (caller frees with free()) */
    uint32_t n_tokens;
    int stop_reason;   /* VT_STOP_* */
    vt_trace trace;
    double prefill_s, decode_s;
} vt_gen_result;

enum { VT_STOP_MAX = 0, VT_STOP_EOS = 1, VT_STOP_STRING = 2 };

int vt_generate(vt_ctx *c, int seq, const int32_t *prompt, uint32_t n_prompt,
                const vt_gen_params *gp, vt_gen_result *out, vt_errinfo *ei);

/* ---------------------------------------------------------------- backends */

/* 1 when the CUDA backend was compiled in; vt_cuda_device_count() returns the
 * number of devices (0 on machines without a GPU, never an error). */
int vt_cuda_compiled(void);
int vt_cuda_device_count(void);

#ifdef __cplusplus
}
#endif
#endif
