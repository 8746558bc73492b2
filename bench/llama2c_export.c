/* llama2c_export.c - write an F32 GGUF llama model in llama2.c's checkpoint
 * format (and its tokenizer.bin), so `verity-bench engine --llama2c` can run
 * Karpathy's run.c on the same weights. Layout (run.c, read_checkpoint):
 *   int32 dim, hidden, n_layers, n_heads, n_kv_heads, vocab (negative when
 *   the classifier is separate), seq_len; then float32 arrays:
 *   token_embd[vocab][dim], rms_att[L][dim], wq[L][dim][dim],
 *   wk[L][kv][dim], wv[L][kv][dim], wo[L][dim][dim], rms_ffn[L][dim],
 *   w1[L][hidden][dim], w2[L][dim][hidden], w3[L][hidden][dim],
 *   rms_final[dim], 2 x seq_len*head_size/2 unused RoPE floats, [wcls].
 * GGUF stores each matrix [out][in] row-major too (ne0 = in): raw copies.
 * tokenizer.bin: int32 max_token_length, then per token float score,
 * int32 length, bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_engine.h"
#include "vt_gguf.h"

/* llama2.c sizes its KV cache and RoPE by seq_len; give room for the bench. */
#define EXPORT_SEQ_LEN 2048

static int put_tensor(FILE *f, const vt_gguf *g, const char *name, char *err, size_t cap)
{
    const vt_gguf_tensor *t = vt_gguf_find_tensor(g, name);
    if (!t || t->type != VT_DTYPE_F32) {
        snprintf(err, cap, "tensor %s missing or not F32", name);
        return -1;
    }
    return fwrite(t->data, 1, (size_t)t->nbytes, f) == t->nbytes ? 0 : -1;
}

static int put_layers(FILE *f, const vt_gguf *g, uint32_t n_layers, const char *part, char *err,
                      size_t cap)
{
    for (uint32_t l = 0; l < n_layers; l++) {
        char name[96];
        snprintf(name, sizeof name, "blk.%u.%s.weight", l, part);
        if (put_tensor(f, g, name, err, cap) != 0)
            return -1;
    }
    return 0;
}

static int export_tokenizer(const vt_gguf *g, const char *path, char *err, size_t cap)
{
    uint32_t et;
    uint64_t n;
    if (vt_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) != 0 || et != VT_GGUF_STRING) {
        snprintf(err, cap, "no tokenizer.ggml.tokens");
        return -1;
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, cap, "cannot write %s", path);
        return -1;
    }
    int32_t maxlen = 0;
    for (uint64_t i = 0; i < n; i++) {
        vt_gguf_str s;
        vt_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &s);
        if ((int32_t)s.len > maxlen)
            maxlen = (int32_t)s.len;
    }
    fwrite(&maxlen, 4, 1, f);
    for (uint64_t i = 0; i < n; i++) {
        vt_gguf_str s;
        float score = 0;
        vt_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &s);
        vt_gguf_arr_f32(g, "tokenizer.ggml.scores", i, &score);
        /* llama2.c prints pieces as-is: turn the ▁ marker into a space. */
        char buf[512];
        int32_t len = 0;
        for (uint64_t k = 0; k < s.len && len < (int32_t)sizeof buf;) {
            if (k + 3 <= s.len && memcmp(s.ptr + k, "\xe2\x96\x81", 3) == 0) {
                buf[len++] = ' ';
                k += 3;
            } else {
                buf[len++] = s.ptr[k++];
            }
        }
        fwrite(&score, 4, 1, f);
        fwrite(&len, 4, 1, f);
        fwrite(buf, 1, (size_t)len, f);
    }
    return fclose(f) == 0 ? 0 : -1;
}

int vt_bench_llama2c_export(const char *gguf, const char *bin, const char *tok, char *err,
                            size_t cap);

int vt_bench_llama2c_export(const char *gguf, const char *bin, const char *tok, char *err,
                            size_t cap)
{
    vt_gguf *g;
    vt_errinfo ei = {0};
    if (vt_gguf_open(gguf, &g, &ei) != 0) {
        snprintf(err, cap, "%s", vt_errinfo_msg(&ei));
        return -1;
    }
    uint32_t dim = 0, hidden = 0, L = 0, heads = 0, kv = 0;
    vt_gguf_get_u32(g, "llama.embedding_length", &dim);
    vt_gguf_get_u32(g, "llama.feed_forward_length", &hidden);
    vt_gguf_get_u32(g, "llama.block_count", &L);
    vt_gguf_get_u32(g, "llama.attention.head_count", &heads);
    kv = heads;
    vt_gguf_get_u32(g, "llama.attention.head_count_kv", &kv);
    const vt_gguf_tensor *emb = vt_gguf_find_tensor(g, "token_embd.weight");
    int tied = vt_gguf_find_tensor(g, "output.weight") == NULL;
    int rv = -1;
    if (!emb || !dim || !heads) {
        snprintf(err, cap, "not a llama model");
        goto out;
    }
    FILE *f = fopen(bin, "wb");
    if (!f) {
        snprintf(err, cap, "cannot write %s", bin);
        goto out;
    }
    int32_t hdr[7] = {(int32_t)dim, (int32_t)hidden, (int32_t)L, (int32_t)heads, (int32_t)kv,
                      (int32_t)emb->ne[1] * (tied ? 1 : -1), EXPORT_SEQ_LEN};
    fwrite(hdr, 4, 7, f);
    rv = put_tensor(f, g, "token_embd.weight", err, cap);
    static const char *const parts[] = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                                        "ffn_norm", "ffn_gate", "ffn_down", "ffn_up"};
    for (size_t p = 0; p < sizeof parts / sizeof parts[0] && !rv; p++)
        rv = put_layers(f, g, L, parts[p], err, cap);
    if (!rv)
        rv = put_tensor(f, g, "output_norm.weight", err, cap);
    size_t rope = (size_t)EXPORT_SEQ_LEN * (dim / heads) / 2 * 2;
    float *zeros = calloc(rope ? rope : 1, sizeof(float));
    if (!rv && zeros)
        rv = fwrite(zeros, sizeof(float), rope, f) == rope ? 0 : -1;
    free(zeros);
    if (!rv && !tied)
        rv = put_tensor(f, g, "output.weight", err, cap);
    if (fclose(f) != 0)
        rv = -1;
    if (!rv)
        rv = export_tokenizer(g, tok, err, cap);
    if (rv) {
        if (!err[0])
            snprintf(err, cap, "write failed");
        remove(bin);
    }
out:
    vt_gguf_close(g);
    return rv;
}
