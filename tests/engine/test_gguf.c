/* test_gguf.c - GGUF writer -> reader round trips, and the synthetic models.
 *
 * Checks that what the writer puts in is what the reader gives back (values,
 * shapes, types, data bytes, alignment), that getters convert integer types
 * only when the value fits, and that vt_synth models carry the metadata and
 * tensors llama.cpp's loader expects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_engine.h"
#include "vt_gguf.h"
#include "vt_synth.h"
#include "engine_testutil.h"


static int str_eq(vt_gguf_str s, const char *z)
{
    return s.len == strlen(z) && memcmp(s.ptr, z, s.len) == 0;
}

static void test_roundtrip(void)
{
    vt_gguf_writer *w;
    CHECK(vt_gguf_writer_new(&w) == 0);
    CHECK(vt_gguf_w_str(w, "general.architecture", "llama") == 0);
    CHECK(vt_gguf_w_u32(w, "general.alignment", 64) == 0);
    CHECK(vt_gguf_w_u32(w, "big", 4000000000u) == 0);
    CHECK(vt_gguf_w_f32(w, "eps", 1e-5f) == 0);
    const char *strs[] = {"a", "", "\xe2\x96\x81hello"};
    CHECK(vt_gguf_w_arr_str(w, "strs", strs, 3) == 0);
    float fs[] = {1.5f, -2.0f};
    CHECK(vt_gguf_w_arr_f32(w, "fs", fs, 2) == 0);
    int32_t is[] = {-7, 2147483647, 0};
    CHECK(vt_gguf_w_arr_i32(w, "is", is, 3) == 0);
    float a[6] = {1, 2, 3, 4, 5, 6};
    uint64_t ne_a[2] = {3, 2};
    CHECK(vt_gguf_w_tensor(w, "a", VT_DTYPE_F32, ne_a, 2, a, sizeof a) == 0);
    uint16_t h[5] = {0x3c00, 0x4000, 0xc000, 0, 0x7bff};
    uint64_t ne_h[1] = {5};
    CHECK(vt_gguf_w_tensor(w, "h", VT_DTYPE_F16, ne_h, 1, h, sizeof h) == 0);
    uint8_t *buf;
    size_t len;
    CHECK(vt_gguf_w_to_mem(w, &buf, &len) == 0);
    vt_gguf_writer_free(w);
    CHECK(len % 64 == 0);

    vt_gguf *g;
    vt_errinfo ei = {0};
    int rv = vt_gguf_open_mem(buf, len, &g, &ei);
    CHECK(rv == 0);
    if (rv) {
        fprintf(stderr, "open: %s\n", vt_errinfo_msg(&ei));
        free(buf);
        return;
    }
    CHECK(vt_gguf_version(g) == 3);
    CHECK(vt_gguf_n_kv(g) == 7);
    vt_gguf_str s;
    CHECK(vt_gguf_get_str(g, "general.architecture", &s) == 0 && str_eq(s, "llama"));
    uint32_t u;
    uint64_t u64;
    float f;
    CHECK(vt_gguf_get_u32(g, "big", &u) == 0 && u == 4000000000u);
    CHECK(vt_gguf_get_u64(g, "big", &u64) == 0 && u64 == 4000000000u);
    CHECK(vt_gguf_get_f32(g, "eps", &f) == 0 && f == 1e-5f);
    CHECK(vt_gguf_get_u32(g, "eps", &u) == VT_ERR_FORMAT);        /* float is no integer */
    CHECK(vt_gguf_get_u32(g, "nope", &u) == VT_ERR_NOTFOUND);
    CHECK(vt_gguf_get_str(g, "big", &s) == VT_ERR_FORMAT);
    uint32_t et;
    uint64_t cnt;
    CHECK(vt_gguf_get_arr(g, "strs", &et, &cnt) == 0 && et == VT_GGUF_STRING && cnt == 3);
    CHECK(vt_gguf_arr_str(g, "strs", 2, &s) == 0 && str_eq(s, "\xe2\x96\x81hello"));
    CHECK(vt_gguf_arr_str(g, "strs", 1, &s) == 0 && s.len == 0);
    CHECK(vt_gguf_arr_str(g, "strs", 3, &s) == VT_ERR_RANGE);
    CHECK(vt_gguf_arr_f32(g, "fs", 1, &f) == 0 && f == -2.0f);
    CHECK(vt_gguf_arr_f32(g, "strs", 0, &f) == VT_ERR_FORMAT);
    int32_t i32;
    CHECK(vt_gguf_arr_i32(g, "is", 0, &i32) == 0 && i32 == -7);
    CHECK(vt_gguf_arr_i32(g, "is", 1, &i32) == 0 && i32 == 2147483647);
    CHECK(vt_gguf_n_tensors(g) == 2);
    const vt_gguf_tensor *t = vt_gguf_find_tensor(g, "a");
    CHECK(t && t->n_dims == 2 && t->ne[0] == 3 && t->ne[1] == 2 && t->ne[2] == 1);
    CHECK(t && t->type == VT_DTYPE_F32 && t->nbytes == sizeof a);
    CHECK(t && memcmp(t->data, a, sizeof a) == 0);
    CHECK(t && ((const uint8_t *)t->data - buf) % 64 == 0);
    t = vt_gguf_find_tensor(g, "h");
    CHECK(t && t->nbytes == 10 && t->offset % 64 == 0 && memcmp(t->data, h, 10) == 0);
    CHECK(vt_gguf_find_tensor(g, "zz") == NULL);
    CHECK(vt_gguf_tensor_at(g, 0) == vt_gguf_find_tensor(g, "a"));
    vt_gguf_str k;
    uint32_t vt;
    CHECK(vt_gguf_kv_at(g, 3, &k, &vt) == 0 && str_eq(k, "eps") && vt == VT_GGUF_F32);
    vt_gguf_close(g);
    free(buf);
}

static void test_f16(void)
{
    /* Exact for every f16 value; f32->f16 rounds to nearest even. */
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
            continue; /* NaNs: compared below */
        float f = vt_f16_to_f32((uint16_t)h);
        CHECK(vt_f32_to_f16(f) == h);
    }
    float nan = vt_f16_to_f32(0x7e00);
    CHECK(nan != nan);
    CHECK((vt_f32_to_f16(nan) & 0x7c00) == 0x7c00 && (vt_f32_to_f16(nan) & 0x3ff));
    CHECK(vt_f16_to_f32(0x3c00) == 1.0f);
    CHECK(vt_f16_to_f32(0x0001) == 5.9604644775390625e-08f);
    CHECK(vt_f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00);       /* tie -> even (down) */
    CHECK(vt_f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02);       /* tie -> even (up) */
    CHECK(vt_f32_to_f16(65520.0f) == 0x7c00);                  /* rounds to inf */
    CHECK(vt_f32_to_f16(65519.0f) == 0x7bff);
    CHECK(vt_f32_to_f16(2.9802322e-08f) == 0x0000);            /* half the min subnormal: even */
    CHECK(vt_f32_to_f16(2.9802326e-08f) == 0x0001);
}

static void test_dtype(void)
{
    uint64_t ne[4] = {64, 3, 1, 1}, n;
    CHECK(vt_dtype_nbytes(VT_DTYPE_Q8_0, ne, 2, &n) == 0 && n == 2 * 34 * 3);
    CHECK(vt_dtype_nbytes(VT_DTYPE_F16, ne, 2, &n) == 0 && n == 64 * 3 * 2);
    ne[0] = 33;
    CHECK(vt_dtype_nbytes(VT_DTYPE_Q8_0, ne, 2, &n) == VT_ERR_RANGE);
    CHECK(vt_dtype_nbytes(99, ne, 2, &n) == VT_ERR_UNSUPPORTED);
    uint64_t big[4] = {1ull << 40, 1ull << 40, 1, 1};
    CHECK(vt_dtype_nbytes(VT_DTYPE_F32, big, 2, &n) == VT_ERR_RANGE);
    CHECK(strcmp(vt_dtype_name(VT_DTYPE_Q8_0), "Q8_0") == 0);
}

static void test_synth(uint32_t dtype)
{
    uint8_t *buf, *buf2;
    size_t len, len2;
    vt_errinfo ei = {0};
    CHECK(vt_synth_mem("tiny", dtype, 42, &buf, &len, &ei) == 0);
    CHECK(vt_synth_mem("tiny", dtype, 42, &buf2, &len2, &ei) == 0);
    CHECK(len == len2 && memcmp(buf, buf2, len) == 0); /* deterministic */
    free(buf2);
    CHECK(vt_synth_mem("tiny", dtype, 43, &buf2, &len2, &ei) == 0);
    CHECK(len == len2 && memcmp(buf, buf2, len) != 0); /* seed matters */
    free(buf2);
    vt_gguf *g;
    int rv = vt_gguf_open_mem(buf, len, &g, &ei);
    CHECK(rv == 0);
    if (rv) {
        fprintf(stderr, "synth open: %s\n", vt_errinfo_msg(&ei));
        free(buf);
        return;
    }
    vt_synth_config c;
    CHECK(vt_synth_preset("tiny", &c) == 0);
    uint32_t u = 0;
    vt_gguf_str s;
    CHECK(vt_gguf_get_str(g, "general.architecture", &s) == 0 && str_eq(s, "llama"));
    CHECK(vt_gguf_get_str(g, "tokenizer.ggml.model", &s) == 0 && str_eq(s, "llama"));
    CHECK(vt_gguf_get_u32(g, "llama.embedding_length", &u) == 0 && u == c.dim);
    CHECK(vt_gguf_get_u32(g, "llama.block_count", &u) == 0 && u == c.n_layers);
    CHECK(vt_gguf_get_u32(g, "llama.attention.head_count_kv", &u) == 0 && u == c.n_kv_heads);
    CHECK(vt_gguf_get_u32(g, "llama.rope.dimension_count", &u) == 0 && u == c.dim / c.n_heads);
    CHECK(vt_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &u) == 0 && u == 2);
    uint32_t et;
    uint64_t cnt;
    CHECK(vt_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &cnt) == 0 && cnt == c.vocab);
    CHECK(vt_gguf_arr_str(g, "tokenizer.ggml.tokens", 3 + 0x41, &s) == 0 && str_eq(s, "<0x41>"));
    int32_t ty;
    CHECK(vt_gguf_arr_i32(g, "tokenizer.ggml.token_type", 3, &ty) == 0 && ty == 6);
    CHECK(vt_gguf_arr_i32(g, "tokenizer.ggml.token_type", 1, &ty) == 0 && ty == 3);
    CHECK(vt_gguf_arr_i32(g, "tokenizer.ggml.token_type", 300, &ty) == 0 && ty == 1);
    /* Every piece unique (the reader already rejects duplicate keys, not pieces). */
    for (uint64_t i = 1; i < cnt; i++) {
        vt_gguf_str a;
        vt_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &a);
        for (uint64_t j = 0; j < i; j++) {
            vt_gguf_str b;
            vt_gguf_arr_str(g, "tokenizer.ggml.tokens", j, &b);
            if (a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0) {
                fprintf(stderr, "duplicate piece %llu/%llu\n", (unsigned long long)i,
                        (unsigned long long)j);
                CHECK(!"see the line above");
            }
        }
    }
    const vt_gguf_tensor *t = vt_gguf_find_tensor(g, "token_embd.weight");
    CHECK(t && t->ne[0] == c.dim && t->ne[1] == c.vocab && t->type == dtype);
    t = vt_gguf_find_tensor(g, "blk.1.attn_k.weight");
    CHECK(t && t->ne[0] == c.dim && t->ne[1] == c.dim / c.n_heads * c.n_kv_heads);
    t = vt_gguf_find_tensor(g, "blk.0.ffn_down.weight");
    CHECK(t && t->ne[0] == c.hidden && t->ne[1] == c.dim && t->type == dtype);
    t = vt_gguf_find_tensor(g, "blk.0.ffn_norm.weight");
    CHECK(t && t->n_dims == 1 && t->type == VT_DTYPE_F32);
    if (t) {
        const float *x = t->data;
        for (uint64_t i = 0; i < t->ne[0]; i++)
            CHECK(x[i] > 0.94f && x[i] < 1.06f);
    }
    CHECK(vt_gguf_find_tensor(g, "output.weight") != NULL); /* tiny is untied */
    CHECK(vt_gguf_n_tensors(g) == 3 + 9 * (uint64_t)c.n_layers);
    vt_gguf_close(g);
    free(buf);
}

static void test_synth_cfg(void)
{
    vt_synth_config c = {32, 1, 2, 1, 64, 400, 64, 1, "x"};
    uint8_t *buf;
    size_t len;
    vt_errinfo ei = {0};
    CHECK(vt_synth_mem_cfg(&c, VT_DTYPE_Q8_0, 1, &buf, &len, &ei) == 0);
    vt_gguf *g;
    CHECK(vt_gguf_open_mem(buf, len, &g, &ei) == 0);
    CHECK(vt_gguf_find_tensor(g, "output.weight") == NULL); /* tied */
    vt_gguf_close(g);
    free(buf);
    c.dim = 48; /* not a multiple of 32 */
    CHECK(vt_synth_mem_cfg(&c, VT_DTYPE_Q8_0, 1, &buf, &len, &ei) == VT_ERR_INVAL);
    c.dim = 32;
    c.vocab = 100;
    CHECK(vt_synth_mem_cfg(&c, VT_DTYPE_F32, 1, &buf, &len, &ei) == VT_ERR_INVAL);
    CHECK(vt_synth_mem("huge", VT_DTYPE_F32, 1, &buf, &len, &ei) == VT_ERR_NOTFOUND);
    CHECK(strstr(ei.detail, "huge") != NULL);
}

int main(void)
{
    test_roundtrip();
    test_f16();
    test_dtype();
    test_synth(VT_DTYPE_F32);
    test_synth(VT_DTYPE_F16);
    test_synth(VT_DTYPE_Q8_0);
    test_synth_cfg();
    printf("ok\n");
    return 0;
}
