/* test_model_load.c - vt_model_load validates everything before use, and
 * vt_forward refuses bad batches without touching state:
 *   - a good model: every info field, SHA-256 identity of the file bytes
 *   - BF16 weights, F16 norm weights, another architecture: VT_ERR_UNSUPPORTED
 *   - a wrong shape, a missing tensor, missing metadata: VT_ERR_FORMAT
 *   - Q8_0 value -128: VT_ERR_UNSUPPORTED (AVX2 sign trick cannot hold it)
 *   each with a detail naming the tensor or key;
 *   - forward: past the context (VT_ERR_RANGE), bad token, repeated slot,
 *     bad n_logits (VT_ERR_INVAL); the slot's position is unchanged after. */
#include <sodium.h>

#include "engine_testutil.h"
#include "vt_gguf.h"

/* A mutation applied while copying a GGUF. */
typedef struct mutation {
    const char *drop_key;      /* metadata key to leave out */
    const char *arch;          /* replace general.architecture */
    const char *drop_tensor;   /* tensor to leave out */
    const char *tensor;        /* tensor to change: */
    int new_type;              /* -1 = keep; else retype (data resized) */
    int64_t add_rows;          /* added to ne[1] (data resized) */
    int poke_q8_m128;          /* write -128 into its first Q8_0 block */
} mutation;

static char *zstr(vt_gguf_str s)
{
    char *z = malloc(s.len + 1);
    memcpy(z, s.ptr, s.len);
    z[s.len] = 0;
    return z;
}

static void copy_kv(const vt_gguf *g, vt_gguf_writer *w, const mutation *mu)
{
    for (uint64_t i = 0; i < vt_gguf_n_kv(g); i++) {
        vt_gguf_str key;
        uint32_t type;
        CHECK_OK(vt_gguf_kv_at(g, i, &key, &type));
        char *k = zstr(key);
        if (mu->drop_key && strcmp(k, mu->drop_key) == 0) {
            free(k);
            continue;
        }
        if (type == VT_GGUF_STRING) {
            vt_gguf_str v;
            CHECK_OK(vt_gguf_get_str(g, k, &v));
            char *z = zstr(v);
            CHECK_OK(vt_gguf_w_str(w, k, mu->arch && strcmp(k, "general.architecture") == 0
                                             ? mu->arch
                                             : z));
            free(z);
        } else if (type == VT_GGUF_F32) {
            float f;
            CHECK_OK(vt_gguf_get_f32(g, k, &f));
            CHECK_OK(vt_gguf_w_f32(w, k, f));
        } else if (type == VT_GGUF_ARRAY) {
            uint32_t et;
            uint64_t n;
            CHECK_OK(vt_gguf_get_arr(g, k, &et, &n));
            if (et == VT_GGUF_STRING) {
                char **v = malloc(n * sizeof *v);
                for (uint64_t j = 0; j < n; j++) {
                    vt_gguf_str s;
                    CHECK_OK(vt_gguf_arr_str(g, k, j, &s));
                    v[j] = zstr(s);
                }
                CHECK_OK(vt_gguf_w_arr_str(w, k, (const char *const *)v, n));
                for (uint64_t j = 0; j < n; j++)
                    free(v[j]);
                free(v);
            } else if (et == VT_GGUF_F32) {
                float *v = malloc(n * sizeof *v);
                for (uint64_t j = 0; j < n; j++)
                    CHECK_OK(vt_gguf_arr_f32(g, k, j, &v[j]));
                CHECK_OK(vt_gguf_w_arr_f32(w, k, v, n));
                free(v);
            } else {
                int32_t *v = malloc(n * sizeof *v);
                for (uint64_t j = 0; j < n; j++)
                    CHECK_OK(vt_gguf_arr_i32(g, k, j, &v[j]));
                CHECK_OK(vt_gguf_w_arr_i32(w, k, v, n));
                free(v);
            }
        } else {
            uint32_t u;
            CHECK_OK(vt_gguf_get_u32(g, k, &u));
            CHECK_OK(vt_gguf_w_u32(w, k, u));
        }
        free(k);
    }
}

/* Copy the synthetic model `preset` with one mutation into a file; load it. */
static int load_mutated(const char *preset, uint32_t dtype, const mutation *mu, vt_model **m,
                        vt_errinfo *ei, uint8_t sha_out[32])
{
    uint8_t *buf;
    size_t len;
    CHECK_OK(vt_synth_mem(preset, dtype, 3, &buf, &len, NULL));
    vt_gguf *g;
    CHECK_OK(vt_gguf_open_mem(buf, len, &g, NULL));
    vt_gguf_writer *w;
    CHECK_OK(vt_gguf_writer_new(&w));
    copy_kv(g, w, mu);
    for (uint64_t i = 0; i < vt_gguf_n_tensors(g); i++) {
        const vt_gguf_tensor *t = vt_gguf_tensor_at(g, i);
        char *name = zstr(t->name);
        if (mu->drop_tensor && strcmp(name, mu->drop_tensor) == 0) {
            free(name);
            continue;
        }
        uint64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        uint32_t type = t->type;
        uint8_t *data = malloc(t->nbytes + 1);
        memcpy(data, t->data, t->nbytes);
        uint64_t nbytes = t->nbytes;
        if (mu->tensor && strcmp(name, mu->tensor) == 0) {
            if (mu->new_type >= 0)
                type = (uint32_t)mu->new_type;
            ne[1] = (uint64_t)((int64_t)ne[1] + mu->add_rows);
            CHECK_OK(vt_dtype_nbytes(type, ne, t->n_dims, &nbytes));
            free(data);
            data = calloc(1, nbytes + 1);
            memcpy(data, t->data, nbytes < t->nbytes ? nbytes : t->nbytes);
            if (mu->poke_q8_m128)
                data[2 + 5] = 0x80; /* block 0, value 5 = -128 */
        }
        CHECK_OK(vt_gguf_w_tensor(w, name, type, ne, t->n_dims, data, nbytes));
        free(data);
        free(name);
    }
    uint8_t *out;
    size_t out_len;
    CHECK_OK(vt_gguf_w_to_mem(w, &out, &out_len));
    if (sha_out)
        crypto_hash_sha256(sha_out, out, out_len);
    int rv = tu_load_bytes(out, out_len, m, ei);
    free(out);
    vt_gguf_writer_free(w);
    vt_gguf_close(g);
    free(buf);
    return rv;
}

static void expect_fail(const char *label, uint32_t dtype, const mutation *mu, int code,
                        const char *must_mention)
{
    vt_model *m = NULL;
    vt_errinfo ei = {0};
    int rv = load_mutated("tiny", dtype, mu, &m, &ei, NULL);
    printf("%s: %d %s\n", label, rv, ei.detail);
    CHECK(rv == code && m == NULL);
    CHECK(strstr(ei.detail, must_mention) != NULL);
}

static void test_good(void)
{
    vt_model *m;
    vt_errinfo ei = {0};
    uint8_t sha[32];
    mutation none = {.new_type = -1};
    CHECK_OK(load_mutated("tiny", VT_DTYPE_Q8_0, &none, &m, &ei, sha));
    const vt_model_info *in = vt_model_get_info(m);
    CHECK(strcmp(in->arch, "llama") == 0);
    CHECK(in->dim == 64 && in->n_layers == 2 && in->n_heads == 4 && in->n_kv_heads == 2);
    CHECK(in->head_dim == 16 && in->hidden_dim == 192 && in->vocab == 512 && in->ctx_len == 256);
    CHECK(in->rope_dim == 16 && in->rope_base == 10000.0f && in->rms_eps == 1e-5f);
    CHECK(in->wtype == VT_DTYPE_Q8_0 && in->tied_output == 0 && in->n_params > 0);
    CHECK(memcmp(in->sha256, sha, 32) == 0);
    char hex[65];
    vt_hex(in->sha256, 32, hex);
    CHECK(strlen(hex) == 64);
    uint8_t b[2] = {0x0f, 0xa0};
    char h2[5];
    vt_hex(b, 2, h2);
    CHECK(strcmp(h2, "0fa0") == 0);
    CHECK(vt_model_tokenizer(m) != NULL);

    /* forward errors leave state alone */
    vt_ctx_params p;
    vt_ctx_params_default(&p);
    p.max_ctx = 8;
    p.max_seqs = 2;
    p.backend = VT_BACKEND_CPU;
    vt_ctx *c;
    CHECK_OK(vt_ctx_create(m, &p, &c, &ei));
    int32_t toks[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    float lg[512 * 2];
    vt_batch_item it = {0, toks, 5, 1, lg};
    CHECK_OK(vt_forward(c, &it, 1, &ei));
    CHECK(vt_seq_pos(c, 0) == 5);
    vt_batch_item big = {0, toks, 4, 0, NULL};
    CHECK(vt_forward(c, &big, 1, &ei) == VT_ERR_RANGE);
    printf("range: %s\n", ei.detail);
    int32_t bad = 512;
    vt_batch_item badtok = {0, &bad, 1, 1, lg};
    CHECK(vt_forward(c, &badtok, 1, &ei) == VT_ERR_INVAL);
    vt_batch_item twice[2] = {{0, toks, 1, 0, NULL}, {0, toks, 1, 0, NULL}};
    CHECK(vt_forward(c, twice, 2, &ei) == VT_ERR_INVAL);
    vt_batch_item badl = {1, toks, 1, 2, lg};
    CHECK(vt_forward(c, &badl, 1, &ei) == VT_ERR_INVAL);
    vt_batch_item badseq = {2, toks, 1, 0, NULL};
    CHECK(vt_forward(c, &badseq, 1, &ei) == VT_ERR_INVAL);
    CHECK(vt_seq_pos(c, 0) == 5 && vt_seq_pos(c, 1) == 0);
    vt_batch_item fit = {0, toks, 3, 2, lg};
    CHECK_OK(vt_forward(c, &fit, 1, &ei));
    CHECK(vt_seq_pos(c, 0) == 8);
    CHECK_OK(vt_seq_reset(c, 0));
    CHECK(vt_seq_pos(c, 0) == 0);
    vt_trace tr;
    CHECK_OK(vt_seq_trace(c, 0, &tr));
    CHECK(tr.n_positions == 0 && tr.n_layers == 2);
    uint8_t fd[32];
    CHECK(vt_seq_pos_digest(c, 0, 0, fd, NULL, 0) == VT_ERR_UNSUPPORTED);
    vt_ctx_free(c);
    p.n_threads = 0;
    CHECK(vt_ctx_create(m, &p, &c, &ei) == VT_ERR_INVAL);
    vt_model_free(m);
}

int main(void)
{
    test_good();
    mutation mu;
    mu = (mutation){.tensor = "blk.1.ffn_up.weight", .new_type = VT_DTYPE_BF16};
    expect_fail("bf16", VT_DTYPE_F16, &mu, VT_ERR_UNSUPPORTED, "blk.1.ffn_up.weight");
    mu = (mutation){.tensor = "blk.0.ffn_norm.weight", .new_type = VT_DTYPE_F16};
    expect_fail("f16 norm", VT_DTYPE_F32, &mu, VT_ERR_UNSUPPORTED, "blk.0.ffn_norm.weight");
    mu = (mutation){.tensor = "blk.0.attn_k.weight", .new_type = -1, .add_rows = 2};
    expect_fail("shape", VT_DTYPE_F32, &mu, VT_ERR_FORMAT, "blk.0.attn_k.weight");
    mu = (mutation){.drop_tensor = "blk.1.ffn_down.weight", .new_type = -1};
    expect_fail("missing tensor", VT_DTYPE_F32, &mu, VT_ERR_FORMAT, "blk.1.ffn_down.weight");
    mu = (mutation){.drop_key = "llama.embedding_length", .new_type = -1};
    expect_fail("missing key", VT_DTYPE_F32, &mu, VT_ERR_FORMAT, "llama.embedding_length");
    mu = (mutation){.arch = "gpt2", .new_type = -1};
    expect_fail("arch", VT_DTYPE_F32, &mu, VT_ERR_UNSUPPORTED, "gpt2");
    mu = (mutation){.tensor = "blk.1.attn_v.weight", .new_type = -1, .poke_q8_m128 = 1};
    expect_fail("q8 -128", VT_DTYPE_Q8_0, &mu, VT_ERR_UNSUPPORTED, "blk.1.attn_v.weight");
    return 0;
}
