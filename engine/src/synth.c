/* synth.c - synthetic llama models as GGUF (see vt_synth.h).
 *
 * Weights: each tensor has its own SplitMix64 stream seeded from (seed,
 * tensor index), so the bytes depend only on (shape, dtype, seed). Values are
 * an Irwin-Hall(4) approximation of N(0, 0.02^2) for matrices and
 * 1 + U(-0.05, 0.05) for norm weights; all float ops are plain IEEE
 * + - *, no libm, so every machine writes the same file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synth_internal.h"
#include "vt_engine.h"
#include "vt_gguf.h"
#include "vt_synth.h"

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform [0,1) with 24 random bits: exact in float. */
static float unif(uint64_t *s)
{
    return (float)(splitmix64(s) >> 40) * (1.0f / 16777216.0f);
}

int vt_synth_preset(const char *preset, vt_synth_config *cfg)
{
    static const struct {
        const char *name;
        vt_synth_config c;
    } presets[] = {
        {"tiny", {64, 2, 4, 2, 192, 512, 256, 0, "verity-synth-tiny"}},
        {"15m", {288, 6, 6, 6, 768, 32000, 256, 1, "verity-synth-15m"}},
        {"110m", {768, 12, 12, 12, 2048, 32000, 1024, 1, "verity-synth-110m"}},
    };
    for (size_t i = 0; preset && i < sizeof presets / sizeof presets[0]; i++) {
        if (strcmp(preset, presets[i].name) == 0) {
            *cfg = presets[i].c;
            return 0;
        }
    }
    return VT_ERR_NOTFOUND;
}

int vt_synth_check(const vt_synth_config *c, uint32_t dtype, vt_errinfo *ei)
{
    if (!c)
        return vt_fail(ei, VT_ERR_INVAL, "synth: no config");
    if (dtype != VT_DTYPE_F32 && dtype != VT_DTYPE_F16 && dtype != VT_DTYPE_Q8_0)
        return vt_fail(ei, VT_ERR_INVAL, "synth: type %u not one of f32, f16, q8_0", dtype);
    if (!c->dim || !c->n_layers || !c->n_heads || !c->n_kv_heads || !c->hidden || !c->ctx_len)
        return vt_fail(ei, VT_ERR_INVAL, "synth: every dimension must be > 0");
    if (c->n_layers > VT_MAX_LAYERS)
        return vt_fail(ei, VT_ERR_INVAL, "synth: n_layers %u > %d", c->n_layers, VT_MAX_LAYERS);
    if (c->dim % c->n_heads || (c->dim / c->n_heads) % 2)
        return vt_fail(ei, VT_ERR_INVAL, "synth: dim %u must be n_heads %u times an even head_dim",
                       c->dim, c->n_heads);
    if (c->n_heads % c->n_kv_heads)
        return vt_fail(ei, VT_ERR_INVAL, "synth: n_heads %u not a multiple of n_kv_heads %u",
                       c->n_heads, c->n_kv_heads);
    if (dtype == VT_DTYPE_Q8_0 && (c->dim % 32 || c->hidden % 32))
        return vt_fail(ei, VT_ERR_INVAL, "synth: q8_0 needs dim (%u) and hidden (%u) multiples of 32",
                       c->dim, c->hidden);
    if (c->vocab < synth_vocab_min())
        return vt_fail(ei, VT_ERR_INVAL, "synth: vocab %u < minimum %u", c->vocab,
                       synth_vocab_min());
    return 0;
}

/* Q8_0 as ggml lays it out: blocks of 32 = f16 scale d, then 32 int8 q with
 * x ~ d*q, d = max|x| / 127, q = round-half-away(x / d). */
static void quantize_q8_0(const float *x, uint64_t n, uint8_t *out)
{
    for (uint64_t b = 0; b < n / 32; b++) {
        const float *xb = x + b * 32;
        float amax = 0.0f;
        for (int i = 0; i < 32; i++) {
            float a = xb[i] < 0 ? -xb[i] : xb[i];
            if (a > amax)
                amax = a;
        }
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint8_t *ob = out + b * 34;
        uint16_t h = vt_f32_to_f16(d);
        ob[0] = (uint8_t)h;
        ob[1] = (uint8_t)(h >> 8);
        for (int i = 0; i < 32; i++) {
            float v = xb[i] * id;
            int q = (int)(v < 0 ? v - 0.5f : v + 0.5f);
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            ob[2 + i] = (uint8_t)(int8_t)q;
        }
    }
}

typedef struct synth_job {
    vt_gguf_writer *w;
    uint64_t seed;
    uint32_t index; /* tensor counter: keys its random stream */
    float *tmp;     /* scratch for the largest tensor */
    uint8_t *qtmp;
} synth_job;

static int put_tensor(synth_job *j, const char *name, uint32_t dtype, uint64_t ne0, uint64_t ne1,
                      int is_norm)
{
    uint64_t s = j->seed ^ (0xd1b54a32d192ed03ull * (uint64_t)(++j->index));
    uint64_t n = ne0 * ne1;
    for (uint64_t i = 0; i < n; i++) {
        if (is_norm) {
            j->tmp[i] = 1.0f + 0.1f * (unif(&s) - 0.5f);
        } else {
            float sum = unif(&s) + unif(&s) + unif(&s) + unif(&s);
            j->tmp[i] = 0.02f * 1.7320508f * (sum - 2.0f);
        }
    }
    uint64_t ne[4] = {ne0, ne1, 1, 1};
    uint32_t nd = ne1 == 1 ? 1 : 2;
    uint64_t nbytes = 0;
    int rv = vt_dtype_nbytes(dtype, ne, nd, &nbytes);
    if (rv)
        return rv;
    const void *data = j->tmp;
    if (dtype == VT_DTYPE_F16) {
        uint16_t *h = (uint16_t *)j->qtmp;
        for (uint64_t i = 0; i < n; i++)
            h[i] = vt_f32_to_f16(j->tmp[i]); /* host is little endian */
        data = h;
    } else if (dtype == VT_DTYPE_Q8_0) {
        quantize_q8_0(j->tmp, n, j->qtmp);
        data = j->qtmp;
    }
    return vt_gguf_w_tensor(j->w, name, dtype, ne, nd, data, nbytes);
}

static uint32_t file_type_of(uint32_t dtype)
{
    /* llama_ftype: ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q8_0 = 7 */
    return dtype == VT_DTYPE_F16 ? 1 : dtype == VT_DTYPE_Q8_0 ? 7 : 0;
}

static int write_meta(vt_gguf_writer *w, const vt_synth_config *c, uint32_t dtype)
{
    int rv = 0;
    rv = rv ? rv : vt_gguf_w_str(w, "general.architecture", "llama");
    rv = rv ? rv : vt_gguf_w_str(w, "general.name", c->name ? c->name : "verity-synth");
    rv = rv ? rv : vt_gguf_w_u32(w, "general.alignment", 32);
    rv = rv ? rv : vt_gguf_w_u32(w, "llama.context_length", c->ctx_len);
    rv = rv ? rv : vt_gguf_w_u32(w, "llama.embedding_length", c->dim);
    rv = rv ? rv : vt_gguf_w_u32(w, "llama.block_count", c->n_layers);
    rv = rv ? rv : vt_gguf_w_u32(w, "llama.feed_forward_length", c->hidden);
    rv = rv ? rv : vt_gguf_w_u32(w, "llama.attention.head_count", c->n_heads);
    rv = rv ? rv : vt_gguf_w_u32(w, "llama.attention.head_count_kv", c->n_kv_heads);
    rv = rv ? rv : vt_gguf_w_u32(w, "llama.rope.dimension_count", c->dim / c->n_heads);
    rv = rv ? rv : vt_gguf_w_f32(w, "llama.rope.freq_base", 10000.0f);
    rv = rv ? rv : vt_gguf_w_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    rv = rv ? rv : vt_gguf_w_u32(w, "general.file_type", file_type_of(dtype));
    if (rv)
        return rv;
    synth_vocab v;
    rv = synth_vocab_build(c->vocab, &v);
    if (rv)
        return rv;
    rv = rv ? rv : vt_gguf_w_str(w, "tokenizer.ggml.model", "llama");
    rv = rv ? rv : vt_gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v.pieces, v.n);
    rv = rv ? rv : vt_gguf_w_arr_f32(w, "tokenizer.ggml.scores", v.scores, v.n);
    rv = rv ? rv : vt_gguf_w_arr_i32(w, "tokenizer.ggml.token_type", v.types, v.n);
    rv = rv ? rv : vt_gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 1);
    rv = rv ? rv : vt_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 2);
    rv = rv ? rv : vt_gguf_w_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    synth_vocab_free(&v);
    return rv;
}

static int build(const vt_synth_config *c, uint32_t dtype, uint64_t seed, vt_gguf_writer **out,
                 vt_errinfo *ei)
{
    int rv = vt_synth_check(c, dtype, ei);
    if (rv)
        return rv;
    vt_gguf_writer *w = NULL;
    if ((rv = vt_gguf_writer_new(&w)) != 0)
        return vt_fail(ei, rv, "synth: out of memory");
    rv = write_meta(w, c, dtype);
    uint64_t kv_dim = (uint64_t)c->dim / c->n_heads * c->n_kv_heads;
    uint64_t biggest = (uint64_t)c->dim * (c->vocab > c->hidden ? c->vocab : c->hidden);
    synth_job j = {w, seed, 0, malloc(biggest * sizeof(float)), malloc(biggest * sizeof(float))};
    if (!rv && (!j.tmp || !j.qtmp))
        rv = VT_ERR_NOMEM;
    /* Order and shapes as llama.cpp's converter writes them; ne0 = row length. */
    if (!rv)
        rv = put_tensor(&j, "token_embd.weight", dtype, c->dim, c->vocab, 0);
    for (uint32_t l = 0; l < c->n_layers && !rv; l++) {
        static const struct {
            const char *suffix;
            int rows; /* 0 dim, 1 kv_dim, 2 hidden, 3 norm */
            int cols_hidden;
        } parts[] = {
            {"attn_norm", 3, 0}, {"attn_q", 0, 0},   {"attn_k", 1, 0},   {"attn_v", 1, 0},
            {"attn_output", 0, 0}, {"ffn_norm", 3, 0}, {"ffn_gate", 2, 0}, {"ffn_down", 0, 1},
            {"ffn_up", 2, 0},
        };
        for (size_t p = 0; p < sizeof parts / sizeof parts[0] && !rv; p++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%u.%s.weight", l, parts[p].suffix);
            uint64_t ne0 = parts[p].cols_hidden ? c->hidden : c->dim;
            uint64_t ne1 = parts[p].rows == 0 ? c->dim
                           : parts[p].rows == 1 ? kv_dim
                           : parts[p].rows == 2 ? c->hidden
                                                : 1;
            rv = put_tensor(&j, name, parts[p].rows == 3 ? VT_DTYPE_F32 : dtype, ne0, ne1,
                            parts[p].rows == 3);
        }
    }
    if (!rv)
        rv = put_tensor(&j, "output_norm.weight", VT_DTYPE_F32, c->dim, 1, 1);
    if (!rv && !c->tied_output)
        rv = put_tensor(&j, "output.weight", dtype, c->dim, c->vocab, 0);
    free(j.tmp);
    free(j.qtmp);
    if (rv) {
        vt_gguf_writer_free(w);
        return vt_fail(ei, rv, "synth: building the model failed (%s)", vt_strerror(rv));
    }
    *out = w;
    return 0;
}

static int preset_cfg(const char *preset, vt_synth_config *c, vt_errinfo *ei)
{
    if (vt_synth_preset(preset, c) != 0)
        return vt_fail(ei, VT_ERR_NOTFOUND, "unknown preset '%s' (tiny, 15m, 110m)",
                       preset ? preset : "(null)");
    return 0;
}

int vt_synth_write_cfg(const vt_synth_config *cfg, uint32_t dtype, uint64_t seed,
                       const char *path, vt_errinfo *ei)
{
    vt_gguf_writer *w;
    int rv = build(cfg, dtype, seed, &w, ei);
    if (rv)
        return rv;
    rv = vt_gguf_w_to_file(w, path, ei);
    vt_gguf_writer_free(w);
    return rv;
}

int vt_synth_mem_cfg(const vt_synth_config *cfg, uint32_t dtype, uint64_t seed, uint8_t **buf,
                     size_t *len, vt_errinfo *ei)
{
    vt_gguf_writer *w;
    int rv = build(cfg, dtype, seed, &w, ei);
    if (rv)
        return rv;
    rv = vt_gguf_w_to_mem(w, buf, len);
    vt_gguf_writer_free(w);
    return rv ? vt_fail(ei, rv, "synth: serializing failed") : 0;
}

int vt_synth_write(const char *preset, uint32_t dtype, uint64_t seed, const char *path,
                   vt_errinfo *ei)
{
    vt_synth_config c;
    int rv = preset_cfg(preset, &c, ei);
    return rv ? rv : vt_synth_write_cfg(&c, dtype, seed, path, ei);
}

int vt_synth_mem(const char *preset, uint32_t dtype, uint64_t seed, uint8_t **buf, size_t *len,
                 vt_errinfo *ei)
{
    vt_synth_config c;
    int rv = preset_cfg(preset, &c, ei);
    return rv ? rv : vt_synth_mem_cfg(&c, dtype, seed, buf, len, ei);
}
