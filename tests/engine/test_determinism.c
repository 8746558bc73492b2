/* test_determinism.c - the engine's contract, bit for bit: the logits (all
 * vocab floats, memcmp) and trace digests of a sequence are the same for
 *   one prefill == token-by-token decode == chunked prefill (sizes 2, 3, 7)
 *   == inside batches of 1..8 mixed-length neighbours (prefill and decode mix)
 *   == 1 or 2 threads == scalar or native (AVX2) kernels
 *   == called with flush-to-zero, denormals-are-zero and round-toward-zero
 *      set in the caller's MXCSR (restored afterwards),
 * for F32, F16 and Q8_0 on the tiny preset, an odd-shaped model
 * (head_dim 24, 4 query heads on 1 KV head, vocab 517) and one whose decode
 * steps take the fused phases (head_dim 32, 3 KV heads). The battery itself
 * is in determinism_check.h. */
#include "determinism_check.h"

/* Longer than one internal chunk (256 tokens): one call of 300 tokens ==
 * 3 calls of 100 == the same 300 in one call together with a 200-token
 * neighbour (the chunk cut then falls inside the items). */
static void check_long(void)
{
    enum { N = 300, M = 200 };
    vt_model *m = tu_preset("tiny", VT_DTYPE_Q8_0, 8);
    uint32_t vocab = vt_model_get_info(m)->vocab;
    int32_t toks[N], other[M];
    uint64_t seed = 99;
    for (int i = 0; i < N; i++)
        toks[i] = (int32_t)(tu_rand(&seed) % vocab);
    for (int i = 0; i < M; i++)
        other[i] = (int32_t)(tu_rand(&seed) % vocab);
    float *a = malloc((size_t)N * vocab * 4), *b = malloc((size_t)N * vocab * 4);
    float *o = malloc((size_t)M * vocab * 4);
    vt_ctx_params p;
    vt_ctx_params_default(&p);
    p.max_ctx = 320; /* beyond the model's 256: allowed, the RoPE table follows */
    p.max_seqs = 2;
    p.n_threads = 2;
    p.backend = VT_BACKEND_CPU;
    vt_ctx *c;
    CHECK_OK(vt_ctx_create(m, &p, &c, NULL));
    vt_batch_item one = {0, toks, N, N, a};
    CHECK_OK(vt_forward(c, &one, 1, NULL));
    vt_trace ta, tb;
    CHECK_OK(vt_seq_trace(c, 0, &ta));
    for (int k = 0; k < 2; k++) {
        CHECK_OK(vt_seq_reset(c, 0));
        if (k == 0) {
            for (int i = 0; i < N; i += 100) {
                vt_batch_item it = {0, toks + i, 100, 100, b + (size_t)i * vocab};
                CHECK_OK(vt_forward(c, &it, 1, NULL));
            }
        } else {
            CHECK_OK(vt_seq_reset(c, 1));
            vt_batch_item two[2] = {{1, other, M, M, o}, {0, toks, N, N, b}};
            CHECK_OK(vt_forward(c, two, 2, NULL));
        }
        CHECK_OK(vt_seq_trace(c, 0, &tb));
        CHECK(memcmp(a, b, (size_t)N * vocab * 4) == 0);
        CHECK(memcmp(&ta, &tb, sizeof ta) == 0 && ta.n_positions == N);
    }
    free(a), free(b), free(o);
    vt_ctx_free(c);
    vt_model_free(m);
    printf("ok long sequences across chunk boundaries\n");
}

int main(void)
{
    check_long();
    static const uint32_t types[] = {VT_DTYPE_F32, VT_DTYPE_F16, VT_DTYPE_Q8_0};
    static const char *const names[] = {"f32", "f16", "q8_0"};
    /* odd: head_dim 24 (not a multiple of 32: padded dot lanes), 4 heads on
     * 1 kv head, hidden 3x dim, vocab 517 (last row group partial). */
    vt_synth_config odd = {96, 3, 4, 1, 288, 517, 64, 0, "odd"};
    /* hd32: head_dim 32 and hidden a multiple of 32, so decode steps take
     * the fused path of forward.c (QKV + attention per KV head; gate/up +
     * SwiGLU per 32-row unit); 3 KV heads and 11 hidden units split
     * unevenly over 2 threads, 2 query heads per KV head. Prefill (the
     * reference) takes the unfused phases. */
    vt_synth_config hd32 = {192, 2, 6, 3, 352, 600, 64, 0, "hd32"};
    for (int i = 0; i < 3; i++) {
        char label[64];
        vt_model *m = tu_preset("tiny", types[i], 7);
        snprintf(label, sizeof label, "tiny %s", names[i]);
        check_model(m, label);
        vt_model_free(m);
        m = tu_model(&odd, types[i], 9);
        snprintf(label, sizeof label, "odd %s", names[i]);
        check_model(m, label);
        vt_model_free(m);
        m = tu_model(&hd32, types[i], 11);
        snprintf(label, sizeof label, "hd32 %s", names[i]);
        check_model(m, label);
        vt_model_free(m);
    }
    return 0;
}
