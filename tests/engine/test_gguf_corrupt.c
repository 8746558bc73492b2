/* test_gguf_corrupt.c - the GGUF reader against broken and hostile files.
 *
 * Every case starts from a valid file made by the writer and breaks one
 * field. Each must give the expected error code with a detail naming the
 * problem, never a crash and never an allocation sized by the bad field (the
 * sanitizer build turns an absurd malloc into a failure).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vt_engine.h"
#include "vt_gguf.h"
#include "vt_synth.h"
#include "engine_testutil.h"


/* A small valid file: scalars, a string array, an f32 array, three tensors. */
static void make_file(uint8_t **buf, size_t *len, int dup_key, uint32_t alignment)
{
    vt_gguf_writer *w;
    vt_gguf_writer_new(&w);
    vt_gguf_w_str(w, "general.architecture", "llama");
    vt_gguf_w_u32(w, "general.alignment", alignment);
    const char *toks[] = {"<unk>", "<s>", "hello"};
    vt_gguf_w_arr_str(w, "tokenizer.ggml.tokens", toks, 3);
    float sc[] = {0, 0, -1};
    vt_gguf_w_arr_f32(w, "tokenizer.ggml.scores", sc, 3);
    if (dup_key)
        vt_gguf_w_u32(w, "general.alignment", alignment);
    float a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint64_t ne_a[2] = {4, 2};
    vt_gguf_w_tensor(w, "tensor_a", VT_DTYPE_F32, ne_a, 2, a, sizeof a);
    uint8_t q[34] = {0};
    uint64_t ne_q[1] = {32};
    vt_gguf_w_tensor(w, "tensor_q", VT_DTYPE_Q8_0, ne_q, 1, q, sizeof q);
    uint64_t ne_b[1] = {3};
    vt_gguf_w_tensor(w, "tensor_b", VT_DTYPE_F32, ne_b, 1, a, 12);
    vt_gguf_w_to_mem(w, buf, len);
    vt_gguf_writer_free(w);
}

static size_t find(const uint8_t *buf, size_t len, const char *pat)
{
    size_t n = strlen(pat);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(buf + i, pat, n) == 0)
            return i;
    fprintf(stderr, "pattern %s not found\n", pat);
    abort();
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Opens a copy (so ASan sees reads past the given length) and returns the code. */
static int open_copy(const uint8_t *buf, size_t len, vt_errinfo *ei)
{
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, buf, len);
    vt_gguf *g = NULL;
    memset(ei, 0, sizeof *ei);
    int rv = vt_gguf_open_mem(copy, len, &g, ei);
    if (rv == 0) {
        /* Touch everything the accessors expose. */
        for (uint64_t i = 0; i < vt_gguf_n_tensors(g); i++) {
            const vt_gguf_tensor *t = vt_gguf_tensor_at(g, i);
            volatile uint8_t sink = 0;
            for (uint64_t b = 0; b < t->nbytes; b++)
                sink ^= ((const uint8_t *)t->data)[b];
            (void)sink;
        }
        uint64_t n;
        uint32_t et;
        if (vt_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) == 0 && et == VT_GGUF_STRING)
            for (uint64_t i = 0; i < n; i++) {
                vt_gguf_str s;
                CHECK(vt_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &s) == 0);
            }
        vt_gguf_close(g);
    } else {
        CHECK(g == NULL);
        CHECK(ei->detail[0] != 0); /* every failure explains itself */
    }
    free(copy);
    return rv;
}

/* Offset of the u64 'offset' field of a tensor info, found by its name. */
static size_t tensor_field(const uint8_t *buf, size_t len, const char *name, uint32_t n_dims,
                           int which /* 0 n_dims, 1 ne0, 2 type, 3 offset */)
{
    size_t p = find(buf, len, name) + strlen(name);
    if (which == 0)
        return p;
    if (which == 1)
        return p + 4;
    if (which == 2)
        return p + 4 + 8 * n_dims;
    return p + 4 + 8 * n_dims + 4;
}

static void test_truncation(void)
{
    uint8_t *buf;
    size_t len;
    make_file(&buf, &len, 0, 32);
    vt_errinfo ei;
    CHECK(open_copy(buf, len, &ei) == 0);
    /* The file must hold through the end of the last tensor's data; the
     * writer's final padding is optional. */
    vt_gguf *g;
    vt_gguf_open_mem(buf, len, &g, &ei);
    size_t need = 0;
    for (uint64_t i = 0; i < vt_gguf_n_tensors(g); i++) {
        const vt_gguf_tensor *t = vt_gguf_tensor_at(g, i);
        size_t end = (size_t)((const uint8_t *)t->data - buf) + (size_t)t->nbytes;
        if (end > need)
            need = end;
    }
    vt_gguf_close(g);
    for (size_t k = 0; k < len; k++) {
        int rv = open_copy(buf, k, &ei);
        if (k < need) {
            if (rv == 0)
                fprintf(stderr, "truncated at %zu of %zu opened\n", k, len);
            CHECK(rv == VT_ERR_TRUNCATED || rv == VT_ERR_FORMAT);
        } else {
            CHECK(rv == 0);
        }
    }
    free(buf);
}

/* The same on a real model file: every offset through the end of the tensor
 * infos (the 512-token vocab makes that ~10 kB), then samples in the data. */
static void test_truncation_model(void)
{
    uint8_t *buf;
    size_t len;
    vt_errinfo ei;
    CHECK(vt_synth_mem("tiny", VT_DTYPE_Q8_0, 9, &buf, &len, &ei) == 0);
    vt_gguf *g;
    CHECK(vt_gguf_open_mem(buf, len, &g, &ei) == 0);
    size_t data_start = (size_t)((const uint8_t *)vt_gguf_tensor_at(g, 0)->data - buf);
    size_t need = 0;
    for (uint64_t i = 0; i < vt_gguf_n_tensors(g); i++) {
        const vt_gguf_tensor *t = vt_gguf_tensor_at(g, i);
        size_t end = (size_t)((const uint8_t *)t->data - buf) + (size_t)t->nbytes;
        need = end > need ? end : need;
    }
    vt_gguf_close(g);
    for (size_t k = 0; k < len; k += k < data_start ? 1 : 997) {
        int rv = open_copy(buf, k, &ei);
        CHECK(k < need ? rv == VT_ERR_TRUNCATED || rv == VT_ERR_FORMAT : rv == 0);
    }
    CHECK(open_copy(buf, need - 1, &ei) == VT_ERR_TRUNCATED);
    CHECK(open_copy(buf, need, &ei) == 0);
    free(buf);
}

static void test_header(void)
{
    uint8_t *buf;
    size_t len;
    vt_errinfo ei;
    make_file(&buf, &len, 0, 32);

    buf[0] = 'X';
    CHECK(open_copy(buf, len, &ei) == VT_ERR_FORMAT && strstr(ei.detail, "magic"));
    buf[0] = 'G';
    for (uint32_t v = 1; v <= 2; v++) {
        put_u32(buf + 4, v);
        CHECK(open_copy(buf, len, &ei) == VT_ERR_VERSION && strstr(ei.detail, "v3"));
    }
    put_u32(buf + 4, 4);
    CHECK(open_copy(buf, len, &ei) == VT_ERR_VERSION);
    put_u32(buf + 4, 0x03000000u); /* a big-endian v3 file */
    CHECK(open_copy(buf, len, &ei) == VT_ERR_VERSION && strstr(ei.detail, "big-endian"));
    put_u32(buf + 4, 3);

    put_u64(buf + 8, 1ull << 60); /* n_tensors */
    CHECK(open_copy(buf, len, &ei) == VT_ERR_FORMAT && strstr(ei.detail, "tensor count"));
    put_u64(buf + 8, 3);
    put_u64(buf + 16, 1ull << 60); /* n_kv */
    CHECK(open_copy(buf, len, &ei) == VT_ERR_FORMAT && strstr(ei.detail, "kv count"));
    put_u64(buf + 16, UINT64_MAX);
    CHECK(open_copy(buf, len, &ei) == VT_ERR_FORMAT);
    put_u64(buf + 16, 4);
    CHECK(open_copy(buf, len, &ei) == 0);

    /* Huge length of the first key (it starts right after the header). */
    put_u64(buf + 24, 1ull << 62);
    CHECK(open_copy(buf, len, &ei) == VT_ERR_TRUNCATED && strstr(ei.detail, "string length"));
    put_u64(buf + 24, 0);
    CHECK(open_copy(buf, len, &ei) == VT_ERR_FORMAT);
    put_u64(buf + 24, strlen("general.architecture"));

    /* Value type of the first key: unknown. */
    size_t vt = 24 + 8 + strlen("general.architecture");
    put_u32(buf + vt, 77);
    CHECK(open_copy(buf, len, &ei) == VT_ERR_FORMAT && strstr(ei.detail, "general.architecture"));
    put_u32(buf + vt, VT_GGUF_STRING);
    CHECK(open_copy(buf, len, &ei) == 0);
    free(buf);
}

static void test_arrays(void)
{
    uint8_t *buf;
    size_t len;
    vt_errinfo ei;
    make_file(&buf, &len, 0, 32);
    /* tokens: key, u32 type (9), u32 elem type (8), u64 count */
    size_t et = find(buf, len, "tokenizer.ggml.tokens") + strlen("tokenizer.ggml.tokens") + 4;
    put_u64(buf + et + 4, 1ull << 61);
    CHECK(open_copy(buf, len, &ei) == VT_ERR_TRUNCATED && strstr(ei.detail, "tokens"));
    put_u64(buf + et + 4, 40); /* plausible but more than are there */
    CHECK(open_copy(buf, len, &ei) != 0);
    put_u64(buf + et + 4, 3);
    /* First element's length absurd. */
    put_u64(buf + et + 12, 1ull << 62);
    CHECK(open_copy(buf, len, &ei) == VT_ERR_TRUNCATED);
    put_u64(buf + et + 12, 5);
    put_u32(buf + et, VT_GGUF_ARRAY);
    CHECK(open_copy(buf, len, &ei) == VT_ERR_UNSUPPORTED && strstr(ei.detail, "nested"));
    put_u32(buf + et, 99);
    CHECK(open_copy(buf, len, &ei) == VT_ERR_FORMAT);
    put_u32(buf + et, VT_GGUF_STRING);
    size_t sc = find(buf, len, "tokenizer.ggml.scores") + strlen("tokenizer.ggml.scores") + 4;
    put_u64(buf + sc + 4, (1ull << 62) + 1); /* count * 4 overflows 64 bits */
    CHECK(open_copy(buf, len, &ei) == VT_ERR_TRUNCATED && strstr(ei.detail, "scores"));
    put_u64(buf + sc + 4, 3);
    CHECK(open_copy(buf, len, &ei) == 0);
    free(buf);
}

static void test_tensors(void)
{
    uint8_t *buf;
    size_t len;
    vt_errinfo ei;
    make_file(&buf, &len, 0, 32);
    size_t off = tensor_field(buf, len, "tensor_b", 1, 3);
    uint8_t saved[8];
    memcpy(saved, buf + off, 8);
    put_u64(buf + off, 1u << 20);
    CHECK(open_copy(buf, len, &ei) == VT_ERR_TRUNCATED && strstr(ei.detail, "tensor_b"));
    put_u64(buf + off, UINT64_MAX - 31);
    CHECK(open_copy(buf, len, &ei) != 0 && strstr(ei.detail, "tensor_b"));
    put_u64(buf + off, 8); /* inside but misaligned */
    CHECK(open_copy(buf, len, &ei) == VT_ERR_FORMAT && strstr(ei.detail, "alignment"));
    memcpy(buf + off, saved, 8);

    size_t ty = tensor_field(buf, len, "tensor_a", 2, 2);
    put_u32(buf + ty, 99);
    CHECK(open_copy(buf, len, &ei) == VT_ERR_UNSUPPORTED && strstr(ei.detail, "tensor_a"));
    put_u32(buf + ty, VT_DTYPE_Q8_0); /* ne0 = 4 is no whole Q8_0 block */
    CHECK(open_copy(buf, len, &ei) == VT_ERR_FORMAT && strstr(ei.detail, "tensor_a"));
    put_u32(buf + ty, VT_DTYPE_F32);

    size_t nd = tensor_field(buf, len, "tensor_a", 2, 0);
    put_u32(buf + nd, 5);
    CHECK(open_copy(buf, len, &ei) == VT_ERR_FORMAT && strstr(ei.detail, "n_dims"));
    put_u32(buf + nd, 0);
    CHECK(open_copy(buf, len, &ei) == VT_ERR_FORMAT);
    put_u32(buf + nd, 2);

    size_t ne0 = tensor_field(buf, len, "tensor_a", 2, 1);
    put_u64(buf + ne0, 0);
    CHECK(open_copy(buf, len, &ei) == VT_ERR_FORMAT);
    put_u64(buf + ne0, 1ull << 62); /* x ne1 = 2 and x 4 bytes overflow */
    CHECK(open_copy(buf, len, &ei) == VT_ERR_FORMAT && strstr(ei.detail, "tensor_a"));
    put_u64(buf + ne0, 1ull << 40); /* fits in 64 bits, not in the file */
    CHECK(open_copy(buf, len, &ei) == VT_ERR_TRUNCATED);
    put_u64(buf + ne0, 4);

    /* Duplicate tensor name: rename tensor_b to tensor_a. */
    size_t nb = find(buf, len, "tensor_b");
    buf[nb + 7] = 'a';
    CHECK(open_copy(buf, len, &ei) == VT_ERR_FORMAT && strstr(ei.detail, "duplicate"));
    buf[nb + 7] = 'b';
    CHECK(open_copy(buf, len, &ei) == 0);
    free(buf);
}

static void test_keys(void)
{
    uint8_t *buf;
    size_t len;
    vt_errinfo ei;
    make_file(&buf, &len, 1, 32);
    CHECK(open_copy(buf, len, &ei) == VT_ERR_FORMAT && strstr(ei.detail, "duplicate") &&
          strstr(ei.detail, "general.alignment"));
    free(buf);
    make_file(&buf, &len, 0, 48); /* not a power of two */
    CHECK(open_copy(buf, len, &ei) == VT_ERR_FORMAT && strstr(ei.detail, "alignment"));
    free(buf);
    make_file(&buf, &len, 0, 256);
    CHECK(open_copy(buf, len, &ei) == 0);
    free(buf);
}

static void test_files(void)
{
    vt_gguf *g;
    vt_errinfo ei = {0};
    CHECK(vt_gguf_open("/nonexistent/dir/model.gguf", &g, &ei) == VT_ERR_IO &&
          strstr(ei.detail, "model.gguf"));
    char path[] = "/tmp/vt_gguf_corrupt_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK(vt_gguf_open(path, &g, &ei) == VT_ERR_TRUNCATED); /* empty file */
    uint8_t *buf;
    size_t len;
    make_file(&buf, &len, 0, 32);
    FILE *f = fopen(path, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
    CHECK(vt_gguf_open(path, &g, &ei) == 0);
    if (g) {
        const vt_gguf_tensor *t = vt_gguf_find_tensor(g, "tensor_q");
        CHECK(t && ((uintptr_t)t->data % 32) == 0); /* mmap is page aligned */
        vt_gguf_close(g);
    }
    CHECK(vt_gguf_open("/tmp", &g, &ei) == VT_ERR_IO);
    free(buf);
    unlink(path);
}

/* Random byte corruption of the metadata and tensor info region: any
 * outcome is fine except a crash or a sanitizer report. */
static void test_fuzz(void)
{
    uint8_t *buf;
    size_t len;
    make_file(&buf, &len, 0, 32);
    size_t head = find(buf, len, "tensor_b") + 40;
    uint64_t s = 12345;
    uint8_t *m = malloc(len);
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(m, buf, len);
        int flips = 1 + iter % 4;
        for (int k = 0; k < flips; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)((s >> 33) % head);
            uint8_t v = (uint8_t)(s >> 20);
            /* Favour the bytes that make lengths and counts huge. */
            m[at] = (iter & 1) ? v : (uint8_t)(m[at] ^ (1u << (v & 7)));
        }
        vt_errinfo ei;
        (void)open_copy(m, len, &ei);
    }
    free(m);
    free(buf);
}

int main(void)
{
    test_truncation();
    test_truncation_model();
    test_header();
    test_arrays();
    test_tensors();
    test_keys();
    test_files();
    test_fuzz();
    printf("ok\n");
    return 0;
}
