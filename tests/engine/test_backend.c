/* test_backend.c - backend selection, and CPU == CUDA bit for bit.
 *   Always: vt_cuda_device_count() never fails; AUTO resolves to CPU when
 *   there is no device; CUDA without a device is VT_ERR_CUDA with a detail;
 *   the CUDA backend's forward pass run as CPU loops (VT_BACKEND_CUDA_EMU:
 *   same phase code, same element functions) equals the CPU backend's logits
 *   and trace digests for F32/F16/Q8_0, prefill and decode.
 *   With a device (never on our CI machines: no GPU): the real CUDA backend
 *   must match the CPU the same way. */
#include "engine_testutil.h"

#define NTOK 13

static int make(const vt_model *m, vt_backend be, vt_ctx **c, vt_errinfo *ei)
{
    vt_ctx_params p;
    vt_ctx_params_default(&p);
    p.backend = be;
    p.max_ctx = 32;
    p.max_seqs = 2;
    return vt_ctx_create(m, &p, c, ei);
}

/* slot 0: one prefill; slot 1: token by token. Returns logits [2][NTOK][V]. */
static float *run(vt_ctx *c, const int32_t *toks, uint32_t vocab, vt_trace tr[2])
{
    float *lg = malloc((size_t)2 * NTOK * vocab * sizeof(float));
    vt_batch_item it = {0, toks, NTOK, NTOK, lg};
    CHECK_OK(vt_forward(c, &it, 1, NULL));
    for (int t = 0; t < NTOK; t++) {
        vt_batch_item d = {1, toks + t, 1, 1, lg + (size_t)(NTOK + t) * vocab};
        CHECK_OK(vt_forward(c, &d, 1, NULL));
    }
    CHECK_OK(vt_seq_trace(c, 0, &tr[0]));
    CHECK_OK(vt_seq_trace(c, 1, &tr[1]));
    return lg;
}

/* Backends a and b agree bit for bit on the tiny preset in every dtype,
 * and the prefill and decode slots agree with each other. */
static void compare(vt_backend ba, vt_backend bb, const char *what)
{
    static const uint32_t types[] = {VT_DTYPE_F32, VT_DTYPE_F16, VT_DTYPE_Q8_0};
    vt_errinfo ei = {0};
    for (int i = 0; i < 3; i++) {
        vt_model *m = tu_preset("tiny", types[i], 11);
        uint32_t vocab = vt_model_get_info(m)->vocab;
        int32_t toks[NTOK];
        uint64_t s = 5;
        for (int t = 0; t < NTOK; t++)
            toks[t] = (int32_t)(tu_rand(&s) % vocab);
        vt_ctx *ca = NULL, *cb = NULL;
        CHECK_OK(make(m, ba, &ca, &ei));
        CHECK_OK(make(m, bb, &cb, &ei));
        vt_trace ta[2], tb[2];
        float *a = run(ca, toks, vocab, ta), *b = run(cb, toks, vocab, tb);
        CHECK(memcmp(a, b, (size_t)2 * NTOK * vocab * sizeof(float)) == 0);
        CHECK(memcmp(ta, tb, sizeof ta) == 0);
        CHECK(memcmp(a, a + (size_t)NTOK * vocab, (size_t)NTOK * vocab * sizeof(float)) == 0);
        printf("dtype %u: %s\n", types[i], what);
        free(a);
        free(b);
        vt_ctx_free(ca);
        vt_ctx_free(cb);
        vt_model_free(m);
    }
}

int main(void)
{
    int n = vt_cuda_device_count();
    CHECK(n >= 0);
    printf("CUDA compiled: %d, devices: %d\n", vt_cuda_compiled(), n);
    if (!vt_cuda_compiled())
        CHECK(n == 0);
    vt_model *m = tu_preset("tiny", VT_DTYPE_F32, 1);
    vt_ctx *c = NULL;
    vt_errinfo ei = {0};
    CHECK_OK(make(m, VT_BACKEND_AUTO, &c, &ei));
    CHECK(vt_ctx_backend(c) == (n > 0 ? VT_BACKEND_CUDA : VT_BACKEND_CPU));
    printf("AUTO -> %s\n", vt_ctx_describe(c));
    vt_ctx_free(c);
    if (n == 0) {
        int rv = make(m, VT_BACKEND_CUDA, &c, &ei);
        CHECK(rv == VT_ERR_CUDA && c == NULL);
        CHECK(strlen(ei.detail) > 0);
        printf("CUDA without a device: %s\n", ei.detail);
    }
    vt_model_free(m);
    compare(VT_BACKEND_CPU, VT_BACKEND_CUDA_EMU, "CPU == CUDA code path emulated on the CPU");
    if (n > 0)
        compare(VT_BACKEND_CPU, VT_BACKEND_CUDA, "CPU == CUDA");
    else
        printf("no CUDA device: the real CPU == CUDA comparison did not run\n");
    return 0;
}
