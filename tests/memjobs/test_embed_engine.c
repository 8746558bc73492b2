/* test_embed_engine.c - engine-computed embeddings (vt_seq_embed,
 * vt_forward_hidden) are deterministic, bit for bit:
 *   - vt_seq_embed == the documented mean (sequential sum over positions in
 *     float32, one division) of the rows vt_forward_hidden returns;
 *   - the hidden rows of a sequence are the same alone, chunked, and inside
 *     a batch with a neighbour (prefill and decode mixed);
 *   - the embedding is the same for 1 or 2 threads, scalar or native
 *     kernels, the CPU backend and the CUDA backend's code run on the CPU
 *     (VT_BACKEND_CUDA_EMU) and, where a GPU exists, CUDA itself, a fresh or
 *     a reused slot, and for a prompt
 *     longer than one engine chunk (256 tokens);
 *   - the slot's trace after vt_seq_embed equals the trace of a plain
 *     vt_forward of the same tokens (what a verifier replays);
 *   - vt_embed_batch (several prompts sharing forward calls) gives each
 *     prompt's embedding and trace bit for bit as it alone;
 *   - bad arguments are refused.
 * F32, F16 and Q8_0 tiny models. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_engine.h"
#include "vt_synth.h"
#include "vt_test.h"
#include "vt_testsupport.h"

static vt_model *model(uint32_t dtype, uint32_t ctx_len)
{
    char path[512], name[64];
    snprintf(name, sizeof name, "tiny_%u.gguf", dtype);
    vt_ts_path(name, path, sizeof path);
    vt_synth_config cfg;
    VT_REQUIRE_OK(vt_synth_preset("tiny", &cfg));
    cfg.ctx_len = ctx_len;
    vt_errinfo ei = {0};
    VT_REQUIRE(vt_synth_write_cfg(&cfg, dtype, 11, path, &ei) == 0, "synth: %s", vt_errinfo_msg(&ei));
    vt_model *m = NULL;
    VT_REQUIRE_OK(vt_model_load(path, &m, &ei));
    return m;
}

static vt_ctx *ctx(const vt_model *m, int threads, vt_isa isa, vt_backend be, int seqs)
{
    vt_ctx_params p;
    vt_ctx_params_default(&p);
    p.max_seqs = seqs;
    p.n_threads = threads;
    p.isa = isa;
    p.backend = be;
    vt_ctx *c = NULL;
    vt_errinfo ei = {0};
    VT_REQUIRE(vt_ctx_create(m, &p, &c, &ei) == 0, "ctx: %s", vt_errinfo_msg(&ei));
    return c;
}

static void check_model(uint32_t dtype)
{
    enum { N = 300, M = 40 };
    vt_model *m = model(dtype, 512);
    const vt_model_info *mi = vt_model_get_info(m);
    uint32_t dim = mi->dim, vocab = mi->vocab;
    int32_t bad_token = (int32_t)vocab;
    int32_t toks[N], other[M];
    uint64_t x = 0x1234567 + dtype;
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        toks[i] = (int32_t)(3 + (x >> 33) % (vocab - 3));
    }
    for (int i = 0; i < M; i++)
        other[i] = toks[(i * 7) % N];

    /* reference: rows of the whole sequence alone, mean by the documented rule */
    float *h = malloc((size_t)N * dim * sizeof(float));
    float *ref = malloc(dim * sizeof(float)), *e = malloc(dim * sizeof(float));
    VT_REQUIRE(h && ref && e, "memory");
    vt_ctx *c1 = ctx(m, 1, VT_ISA_NATIVE, VT_BACKEND_CPU, 2);
    float *hp[2] = {h, NULL};
    vt_batch_item one = {0, toks, N, 0, NULL};
    VT_REQUIRE_OK(vt_forward_hidden(c1, &one, 1, hp, NULL));
    vt_trace t_plain;
    VT_REQUIRE_OK(vt_seq_trace(c1, 0, &t_plain));
    for (uint32_t d = 0; d < dim; d++) {
        float s = h[d];
        for (int p = 1; p < N; p++)
            s = s + h[(size_t)p * dim + d];
        ref[d] = s / (float)N;
    }

    /* rows in a batch with a neighbour, chunked 100 + 200, decode mixed in */
    float *h2 = malloc((size_t)N * dim * sizeof(float));
    float *ho = malloc((size_t)M * dim * sizeof(float));
    vt_ctx *c2 = ctx(m, 2, VT_ISA_NATIVE, VT_BACKEND_CPU, 2);
    vt_batch_item b1[2] = {{1, other, M, 0, NULL}, {0, toks, 100, 0, NULL}};
    float *hp1[2] = {ho, h2};
    VT_REQUIRE_OK(vt_forward_hidden(c2, b1, 2, hp1, NULL));
    float lg[512];
    vt_batch_item b2[2] = {{1, other, 1, 1, lg}, {0, toks + 100, N - 100, 0, NULL}};
    float *hp2[2] = {NULL, h2 + (size_t)100 * dim};
    VT_REQUIRE_OK(vt_forward_hidden(c2, b2, 2, hp2, NULL));
    VT_CHECK(memcmp(h, h2, (size_t)N * dim * sizeof(float)) == 0,
             "dtype %u: hidden rows differ in a batch / chunked", dtype);

    /* vt_seq_embed on every configuration == the reference mean */
    struct {
        int threads;
        vt_isa isa;
        vt_backend be;
        const char *name;
    } cfgs[] = {{1, VT_ISA_NATIVE, VT_BACKEND_CPU, "cpu native 1t"},
                {2, VT_ISA_NATIVE, VT_BACKEND_CPU, "cpu native 2t"},
                {2, VT_ISA_SCALAR, VT_BACKEND_CPU, "cpu scalar 2t"},
                {1, VT_ISA_NATIVE, VT_BACKEND_CUDA_EMU, "cuda emulation"},
                {1, VT_ISA_NATIVE, VT_BACKEND_CUDA, "cuda"}};
    size_t n_cfgs = sizeof cfgs / sizeof cfgs[0];
    if (!vt_cuda_compiled() || vt_cuda_device_count() == 0)
        n_cfgs--; /* the real GPU only where there is one */
    for (size_t k = 0; k < n_cfgs; k++) {
        vt_ctx *c = ctx(m, cfgs[k].threads, cfgs[k].isa, cfgs[k].be, 2);
        for (int round = 0; round < 2; round++) { /* fresh slot, then the same slot reused */
            memset(e, 0xff, dim * sizeof(float));
            vt_errinfo ei = {0};
            int rv = vt_seq_embed(c, 1, toks, N, e, &ei);
            VT_CHECK(rv == 0, "%s: %s", cfgs[k].name, vt_errinfo_msg(&ei));
            VT_CHECK(memcmp(e, ref, dim * sizeof(float)) == 0,
                     "dtype %u %s round %d: embedding differs from the documented mean", dtype,
                     cfgs[k].name, round);
            vt_trace t;
            VT_REQUIRE_OK(vt_seq_trace(c, 1, &t));
            VT_CHECK(t.n_positions == N &&
                         memcmp(t.final_digest, t_plain.final_digest, VT_DIGEST_BYTES) == 0 &&
                         memcmp(t.layer_digest, t_plain.layer_digest,
                                (size_t)t.n_layers * VT_DIGEST_BYTES) == 0,
                     "dtype %u %s: trace after vt_seq_embed != plain forward", dtype,
                     cfgs[k].name);
        }
        vt_ctx_free(c);
    }
    /* a short prompt: mean of 1 row is that row */
    VT_REQUIRE_OK(vt_seq_embed(c1, 0, toks, 1, e, NULL));
    VT_CHECK(memcmp(e, h, dim * sizeof(float)) == 0, "one position: embedding == its row");
    /* vt_embed_batch: four prompts (300 tokens, taking two rounds, and 40,
     * 1 and 7) sharing forward calls == each alone, embedding and trace */
    enum { NB = 4 };
    vt_ctx *cb = ctx(m, 2, VT_ISA_NATIVE, VT_BACKEND_CPU, NB);
    float *eb = malloc((size_t)NB * dim * sizeof(float)), *e1 = malloc(dim * sizeof(float));
    VT_REQUIRE(eb && e1, "memory");
    vt_embed_item items[NB] = {{2, toks, N, eb},
                               {0, other, M, eb + dim},
                               {3, toks + 5, 1, eb + 2 * (size_t)dim},
                               {1, other + 3, 7, eb + 3 * (size_t)dim}};
    VT_REQUIRE_OK(vt_embed_batch(cb, items, NB, NULL));
    for (int i = 0; i < NB; i++) {
        VT_REQUIRE_OK(vt_seq_embed(c1, 0, items[i].tokens, items[i].n_tokens, e1, NULL));
        VT_CHECK(memcmp(items[i].out, e1, dim * sizeof(float)) == 0,
                 "dtype %u: batched embedding %d differs from it alone", dtype, i);
        vt_trace ta, tb;
        VT_REQUIRE_OK(vt_seq_trace(c1, 0, &ta));
        VT_REQUIRE_OK(vt_seq_trace(cb, items[i].seq, &tb));
        VT_CHECK(tb.n_positions == (uint32_t)items[i].n_tokens &&
                     memcmp(ta.final_digest, tb.final_digest, VT_DIGEST_BYTES) == 0,
                 "dtype %u: batched trace %d differs from it alone", dtype, i);
    }
    VT_CHECK(memcmp(items[0].out, ref, dim * sizeof(float)) == 0, "batched == documented mean");
    /* refused whole: two items on one slot, no items, too many, a bad token */
    memset(eb, 0x7f, (size_t)NB * dim * sizeof(float));
    vt_embed_item dup[2] = {{0, toks, 3, eb}, {0, other, 3, eb + dim}};
    VT_CHECK_ERR(vt_embed_batch(cb, dup, 2, NULL), VT_ERR_INVAL);
    VT_CHECK(eb[0] == eb[(size_t)NB * dim - 1] && eb[dim] == eb[0], "no output on refusal");
    VT_CHECK_ERR(vt_embed_batch(cb, items, 0, NULL), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_embed_batch(cb, items, VT_EMBED_MAX + 1, NULL), VT_ERR_INVAL);
    vt_embed_item badtok = {1, &bad_token, 1, eb};
    VT_CHECK_ERR(vt_embed_batch(cb, &badtok, 1, NULL), VT_ERR_INVAL);
    vt_ctx_free(cb);
    free(eb);
    free(e1);

    /* not all zeros, finite */
    int nonzero = 0, finite = 1;
    for (uint32_t d = 0; d < dim; d++) {
        nonzero += ref[d] != 0.0f;
        finite &= ref[d] == ref[d] && ref[d] < 1e30f && ref[d] > -1e30f;
    }
    VT_CHECK(nonzero > 0 && finite, "embedding is degenerate");
    /* bad arguments */
    VT_CHECK_ERR(vt_seq_embed(c1, 0, toks, 0, e, NULL), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_seq_embed(c1, 0, toks, N, NULL, NULL), VT_ERR_INVAL);
    VT_CHECK(vt_seq_embed(c1, 5, toks, N, e, NULL) != 0, "bad slot refused");
    VT_CHECK_ERR(vt_seq_embed(c1, 0, &bad_token, 1, e, NULL), VT_ERR_INVAL);
    vt_ctx_free(c1);
    vt_ctx_free(c2);
    free(h);
    free(h2);
    free(ho);
    free(ref);
    free(e);
    vt_model_free(m);
}

int main(void)
{
    check_model(VT_DTYPE_F32);
    check_model(VT_DTYPE_F16);
    check_model(VT_DTYPE_Q8_0);
    return vt_test_done();
}
