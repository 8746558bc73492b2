/* model.c - load and validate a llama GGUF model (vt_model_load).
 *
 * Every tensor's presence, type and shape is checked against the metadata
 * before the forward pass may touch it; errors name the tensor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "model.h"
#include "tokenizer.h"

void vt_hex(const uint8_t *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

static int get_u32(const vt_gguf *g, const char *key, uint32_t *out, uint32_t dflt,
                   int required, vt_errinfo *ei)
{
    int rv = vt_gguf_get_u32(g, key, out);
    if (rv == VT_ERR_NOTFOUND && !required) {
        *out = dflt;
        return 0;
    }
    if (rv == VT_ERR_NOTFOUND)
        return vt_fail(ei, VT_ERR_FORMAT, "missing metadata key '%s'", key);
    if (rv < 0)
        return vt_fail(ei, VT_ERR_FORMAT, "metadata key '%s' is not a 32-bit integer", key);
    return 0;
}

static int get_f32(const vt_gguf *g, const char *key, float *out, float dflt, vt_errinfo *ei)
{
    int rv = vt_gguf_get_f32(g, key, out);
    if (rv == VT_ERR_NOTFOUND) {
        *out = dflt;
        return 0;
    }
    if (rv < 0)
        return vt_fail(ei, VT_ERR_FORMAT, "metadata key '%s' is not a float", key);
    return 0;
}

/* Find a tensor and check it is a matrix [rows][cols] (ne[0] = cols) of a
 * supported weight type. */
static int bind_mat(const vt_model *m, const char *name, uint32_t rows, uint32_t cols,
                    vt_mat *out, vt_errinfo *ei)
{
    const vt_gguf_tensor *t = vt_gguf_find_tensor(m->gguf, name);
    if (!t)
        return vt_fail(ei, VT_ERR_FORMAT, "tensor '%s' is missing", name);
    if (t->type != VT_DTYPE_F32 && t->type != VT_DTYPE_F16 && t->type != VT_DTYPE_Q8_0)
        return vt_fail(ei, VT_ERR_UNSUPPORTED,
                       "tensor '%s' has type %s (%u); supported: F32, F16, Q8_0", name,
                       vt_dtype_name(t->type), t->type);
    if (t->n_dims != 2 || t->ne[0] != cols || t->ne[1] != rows)
        return vt_fail(ei, VT_ERR_FORMAT,
                       "tensor '%s' has shape [%llu, %llu] (%u dims); expected [%u, %u]", name,
                       (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], t->n_dims,
                       cols, rows);
    if (t->type == VT_DTYPE_Q8_0 && cols % VT_QK != 0)
        return vt_fail(ei, VT_ERR_FORMAT, "tensor '%s': Q8_0 rows of %u not a multiple of 32",
                       name, cols);
    uint64_t need = 0;
    int rv = vt_dtype_nbytes(t->type, t->ne, t->n_dims, &need);
    if (rv < 0 || need > t->nbytes)
        return vt_fail(ei, VT_ERR_FORMAT, "tensor '%s': data size does not match its shape", name);
    if (((uintptr_t)t->data & 3u) != 0)
        return vt_fail(ei, VT_ERR_FORMAT, "tensor '%s': data not 4-byte aligned", name);
    out->type = t->type;
    out->rows = rows;
    out->cols = cols;
    out->data = t->data;
    out->packed = NULL;
    return 0;
}

/* Norm weights: F32 vectors of n. */
static int bind_vec(const vt_model *m, const char *name, uint32_t n, const float **out,
                    vt_errinfo *ei)
{
    const vt_gguf_tensor *t = vt_gguf_find_tensor(m->gguf, name);
    if (!t)
        return vt_fail(ei, VT_ERR_FORMAT, "tensor '%s' is missing", name);
    if (t->type != VT_DTYPE_F32)
        return vt_fail(ei, VT_ERR_UNSUPPORTED, "tensor '%s' has type %s; norm weights must be F32",
                       name, vt_dtype_name(t->type));
    if (t->n_dims != 1 || t->ne[0] != n || t->nbytes < (uint64_t)n * 4)
        return vt_fail(ei, VT_ERR_FORMAT, "tensor '%s' has shape [%llu] (%u dims); expected [%u]",
                       name, (unsigned long long)t->ne[0], t->n_dims, n);
    if (((uintptr_t)t->data & 3u) != 0)
        return vt_fail(ei, VT_ERR_FORMAT, "tensor '%s': data not 4-byte aligned", name);
    *out = t->data;
    return 0;
}

static int read_info(vt_model *m, vt_errinfo *ei)
{
    vt_model_info *in = &m->info;
    const vt_gguf *g = m->gguf;
    vt_gguf_str s;
    int rv = vt_gguf_get_str(g, "general.architecture", &s);
    if (rv < 0)
        return vt_fail(ei, VT_ERR_FORMAT, "missing metadata key 'general.architecture'");
    if (s.len != 5 || memcmp(s.ptr, "llama", 5) != 0)
        return vt_fail(ei, VT_ERR_UNSUPPORTED, "architecture '%.*s' is not supported (only llama)",
                       (int)(s.len > 32 ? 32 : s.len), s.ptr);
    memcpy(in->arch, "llama", 6);
    if (vt_gguf_get_str(g, "general.name", &s) == 0) {
        size_t n = s.len < sizeof in->name - 1 ? (size_t)s.len : sizeof in->name - 1;
        memcpy(in->name, s.ptr, n);
        in->name[n] = '\0';
    }
    if ((rv = get_u32(g, "llama.embedding_length", &in->dim, 0, 1, ei)) < 0 ||
        (rv = get_u32(g, "llama.block_count", &in->n_layers, 0, 1, ei)) < 0 ||
        (rv = get_u32(g, "llama.attention.head_count", &in->n_heads, 0, 1, ei)) < 0 ||
        (rv = get_u32(g, "llama.feed_forward_length", &in->hidden_dim, 0, 1, ei)) < 0 ||
        (rv = get_u32(g, "llama.context_length", &in->ctx_len, 0, 1, ei)) < 0 ||
        (rv = get_u32(g, "llama.attention.head_count_kv", &in->n_kv_heads, in->n_heads, 0, ei)) < 0)
        return rv;
    if (in->dim == 0 || in->n_layers == 0 || in->n_heads == 0 || in->hidden_dim == 0 ||
        in->ctx_len == 0 || in->n_kv_heads == 0)
        return vt_fail(ei, VT_ERR_FORMAT, "model dimensions must be positive");
    if (in->n_layers > VT_MAX_LAYERS)
        return vt_fail(ei, VT_ERR_UNSUPPORTED, "%u layers; at most %d supported", in->n_layers,
                       VT_MAX_LAYERS);
    if (in->dim > 65536 || in->hidden_dim > 262144 || in->ctx_len > (1u << 20))
        return vt_fail(ei, VT_ERR_UNSUPPORTED, "model dimensions too large");
    if (in->dim % in->n_heads != 0)
        return vt_fail(ei, VT_ERR_FORMAT, "embedding_length %u not divisible by head_count %u",
                       in->dim, in->n_heads);
    if (in->n_kv_heads > in->n_heads || in->n_heads % in->n_kv_heads != 0)
        return vt_fail(ei, VT_ERR_FORMAT, "head_count %u not a multiple of head_count_kv %u",
                       in->n_heads, in->n_kv_heads);
    in->head_dim = in->dim / in->n_heads;
    if ((rv = get_u32(g, "llama.rope.dimension_count", &in->rope_dim, in->head_dim, 0, ei)) < 0)
        return rv;
    if (in->rope_dim == 0 || in->rope_dim > in->head_dim || in->rope_dim % 2 != 0)
        return vt_fail(ei, VT_ERR_FORMAT, "rope.dimension_count %u invalid for head_dim %u",
                       in->rope_dim, in->head_dim);
    if ((rv = get_f32(g, "llama.rope.freq_base", &in->rope_base, 10000.0f, ei)) < 0 ||
        (rv = get_f32(g, "llama.attention.layer_norm_rms_epsilon", &in->rms_eps, 1e-5f, ei)) < 0)
        return rv;
    if (!(in->rope_base > 1.0f && in->rope_base < 1e30f))
        return vt_fail(ei, VT_ERR_FORMAT, "rope.freq_base %g out of range", (double)in->rope_base);
    if (!(in->rms_eps >= 0.0f && in->rms_eps < 1.0f))
        return vt_fail(ei, VT_ERR_FORMAT, "layer_norm_rms_epsilon %g out of range",
                       (double)in->rms_eps);
    m->kv_dim = in->n_kv_heads * in->head_dim;
    return 0;
}

static int bind_tensors(vt_model *m, vt_errinfo *ei)
{
    vt_model_info *in = &m->info;
    const vt_gguf_tensor *te = vt_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (!te)
        return vt_fail(ei, VT_ERR_FORMAT, "tensor 'token_embd.weight' is missing");
    if (te->n_dims != 2 || te->ne[1] == 0 || te->ne[1] > (1u << 24))
        return vt_fail(ei, VT_ERR_FORMAT, "tensor 'token_embd.weight': bad shape");
    in->vocab = (uint32_t)te->ne[1];
    int rv = bind_mat(m, "token_embd.weight", in->vocab, in->dim, &m->embd, ei);
    if (rv < 0)
        return rv;
    if (vt_gguf_find_tensor(m->gguf, "output.weight")) {
        if ((rv = bind_mat(m, "output.weight", in->vocab, in->dim, &m->output, ei)) < 0)
            return rv;
        in->tied_output = 0;
    } else {
        m->output = m->embd;
        in->tied_output = 1;
    }
    if ((rv = bind_vec(m, "output_norm.weight", in->dim, &m->output_norm, ei)) < 0)
        return rv;
    m->layers = calloc(in->n_layers, sizeof *m->layers);
    if (!m->layers)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    char name[96];
    uint32_t dim = in->dim, kv = m->kv_dim, hid = in->hidden_dim;
    for (uint32_t l = 0; l < in->n_layers; l++) {
        vt_layer *L = &m->layers[l];
        struct {
            const char *suffix;
            uint32_t rows, cols;
            vt_mat *dst;
        } mats[] = {
            {"attn_q", dim, dim, &L->wq},    {"attn_k", kv, dim, &L->wk},
            {"attn_v", kv, dim, &L->wv},     {"attn_output", dim, dim, &L->wo},
            {"ffn_gate", hid, dim, &L->gate}, {"ffn_up", hid, dim, &L->up},
            {"ffn_down", dim, hid, &L->down},
        };
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
            snprintf(name, sizeof name, "blk.%u.%s.weight", l, mats[i].suffix);
            if ((rv = bind_mat(m, name, mats[i].rows, mats[i].cols, mats[i].dst, ei)) < 0)
                return rv;
        }
        snprintf(name, sizeof name, "blk.%u.attn_norm.weight", l);
        if ((rv = bind_vec(m, name, dim, &L->attn_norm, ei)) < 0)
            return rv;
        snprintf(name, sizeof name, "blk.%u.ffn_norm.weight", l);
        if ((rv = bind_vec(m, name, dim, &L->ffn_norm, ei)) < 0)
            return rv;
    }
    in->wtype = m->layers[0].wq.type;
    uint64_t np = 0, nb = 0;
    for (uint64_t i = 0; i < vt_gguf_n_tensors(m->gguf); i++) {
        const vt_gguf_tensor *t = vt_gguf_tensor_at(m->gguf, i);
        uint64_t c = 1;
        for (uint32_t d = 0; d < t->n_dims; d++)
            c *= t->ne[d];
        np += c;
        nb += t->nbytes;
    }
    in->n_params = np;
    in->weight_bytes = nb;
    return 0;
}

static void hash_file(vt_model *m)
{
    m->info.file_bytes = vt_gguf_sha256(m->gguf, m->info.sha256);
}

int vt_model_load(const char *path, vt_model **out, vt_errinfo *ei)
{
    *out = NULL;
    if (sodium_init() < 0)
        return vt_fail(ei, VT_ERR_INTERNAL, "libsodium failed to initialise");
    vt_model *m = calloc(1, sizeof *m);
    if (!m)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    int rv = vt_gguf_open(path, &m->gguf, ei);
    if (rv < 0)
        goto fail;
    if ((rv = read_info(m, ei)) < 0 || (rv = bind_tensors(m, ei)) < 0)
        goto fail;
    if ((rv = vt_tokenizer_load(m->gguf, &m->tok, ei)) < 0)
        goto fail;
    if (vt_tok_vocab(m->tok) != m->info.vocab) {
        rv = vt_fail(ei, VT_ERR_FORMAT, "tokenizer has %u tokens but token_embd has %u rows",
                     vt_tok_vocab(m->tok), m->info.vocab);
        goto fail;
    }
    if ((rv = vt_model_pack(m, ei)) < 0)
        goto fail;
    hash_file(m);
    *out = m;
    return 0;
fail:
    vt_model_free(m);
    return rv;
}

void vt_model_free(vt_model *m)
{
    if (!m)
        return;
    vt_model_unpack(m);
    if (m->tok)
        vt_tokenizer_free(m->tok);
    free(m->layers);
    if (m->gguf)
        vt_gguf_close(m->gguf);
    free(m);
}

const vt_model_info *vt_model_get_info(const vt_model *m)
{
    return &m->info;
}

const vt_tokenizer *vt_model_tokenizer(const vt_model *m)
{
    return m->tok;
}
