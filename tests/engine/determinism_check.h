/* determinism_check.h - the bit-exactness battery shared by
 * test_determinism.c (tiny models) and test_slow_determinism.c (15m):
 * check_model() runs one sequence every way the contract covers and
 * memcmps logits and digests. */
#ifndef DETERMINISM_CHECK_H
#define DETERMINISM_CHECK_H

#include "engine_testutil.h"
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#define NTOK 19

typedef struct run {
    float *logits; /* [NTOK][vocab] */
    vt_trace trace;
    uint8_t perpos[NTOK][VT_DIGEST_BYTES];
} run;

static vt_ctx *mkctx(const vt_model *m, int threads, vt_isa isa, int max_seqs)
{
    vt_ctx_params p;
    vt_ctx_params_default(&p);
    p.n_threads = threads;
    p.isa = isa;
    p.max_seqs = max_seqs;
    p.max_ctx = 64;
    p.backend = VT_BACKEND_CPU;
    p.trace_per_pos = 1;
    vt_ctx *c = NULL;
    vt_errinfo ei = {0};
    if (vt_ctx_create(m, &p, &c, &ei) < 0) {
        fprintf(stderr, "ctx: %s\n", vt_errinfo_msg(&ei));
        exit(1);
    }
    return c;
}

static void finish(vt_ctx *c, int seq, run *r)
{
    CHECK_OK(vt_seq_trace(c, seq, &r->trace));
    CHECK(r->trace.n_positions == NTOK);
    for (int p = 0; p < NTOK; p++)
        CHECK_OK(vt_seq_pos_digest(c, seq, p, r->perpos[p], NULL, 0));
}

/* The sequence alone in slot 0, fed in chunks of `chunk` tokens. */
static void run_chunked(const vt_model *m, const int32_t *toks, int chunk, int threads,
                        vt_isa isa, run *r)
{
    uint32_t vocab = vt_model_get_info(m)->vocab;
    vt_ctx *c = mkctx(m, threads, isa, 1);
    for (int i = 0; i < NTOK; i += chunk) {
        int n = NTOK - i < chunk ? NTOK - i : chunk;
        vt_batch_item it = {0, toks + i, n, n, r->logits + (size_t)i * vocab};
        CHECK_OK(vt_forward(c, &it, 1, NULL));
    }
    finish(c, 0, r);
    vt_ctx_free(c);
}

/* The sequence in slot `me` of a batch with nb-1 neighbours of other
 * lengths; every step feeds each live sequence 1..5 tokens. */
static void run_batched(const vt_model *m, const int32_t *toks, int nb, int threads, run *r,
                        uint64_t seed)
{
    uint32_t vocab = vt_model_get_info(m)->vocab;
    vt_ctx *c = mkctx(m, threads, VT_ISA_NATIVE, 8);
    int me = nb / 2, done[8] = {0}, len[8];
    int32_t other[8][40];
    float *scratch = malloc((size_t)5 * vocab * sizeof(float));
    for (int s = 0; s < nb; s++) {
        len[s] = s == me ? NTOK : 3 + (int)(tu_rand(&seed) % 30);
        for (int t = 0; t < len[s]; t++)
            other[s][t] = (int32_t)(tu_rand(&seed) % vocab);
    }
    for (;;) {
        vt_batch_item items[8];
        int n = 0;
        for (int s = 0; s < nb; s++) {
            if (done[s] == len[s])
                continue;
            int k = 1 + (int)(tu_rand(&seed) % 5);
            if (k > len[s] - done[s])
                k = len[s] - done[s];
            items[n].seq = s;
            items[n].tokens = s == me ? toks + done[s] : other[s] + done[s];
            items[n].n_tokens = k;
            items[n].n_logits = s == me ? k : (int)(tu_rand(&seed) % (unsigned)(k + 1));
            items[n].logits = s == me ? r->logits + (size_t)done[s] * vocab : scratch;
            done[s] += k;
            n++;
        }
        if (n == 0)
            break;
        /* shuffle item order: must not matter either */
        for (int i = n - 1; i > 0; i--) {
            int j = (int)(tu_rand(&seed) % (unsigned)(i + 1));
            vt_batch_item t = items[i];
            items[i] = items[j];
            items[j] = t;
        }
        CHECK_OK(vt_forward(c, items, n, NULL));
    }
    finish(c, me, r);
    free(scratch);
    vt_ctx_free(c);
}

static void same(const run *a, const run *b, uint32_t vocab, const char *what)
{
    if (memcmp(a->logits, b->logits, (size_t)NTOK * vocab * sizeof(float)) != 0) {
        for (size_t i = 0; i < (size_t)NTOK * vocab; i++)
            if (memcmp(&a->logits[i], &b->logits[i], 4) != 0) {
                fprintf(stderr, "%s: logits differ at pos %zu tok %zu: %.9g vs %.9g\n", what,
                        i / vocab, i % vocab, (double)a->logits[i], (double)b->logits[i]);
                break;
            }
        exit(1);
    }
    if (memcmp(&a->trace, &b->trace, sizeof a->trace) != 0 ||
        memcmp(a->perpos, b->perpos, sizeof a->perpos) != 0) {
        fprintf(stderr, "%s: trace digests differ\n", what);
        exit(1);
    }
}

static void check_model(const vt_model *m, const char *label)
{
    uint32_t vocab = vt_model_get_info(m)->vocab;
    int32_t toks[NTOK];
    uint64_t seed = 42;
    for (int i = 0; i < NTOK; i++)
        toks[i] = (int32_t)(tu_rand(&seed) % vocab);
    run ref, r;
    ref.logits = malloc((size_t)NTOK * vocab * sizeof(float));
    r.logits = malloc((size_t)NTOK * vocab * sizeof(float));
    char what[128];

    run_chunked(m, toks, NTOK, 1, VT_ISA_NATIVE, &ref); /* one prefill */
    int chunks[] = {1, 2, 3, 7};
    for (int i = 0; i < 4; i++) {
        for (int th = 1; th <= 2; th++) {
            snprintf(what, sizeof what, "%s chunk %d threads %d", label, chunks[i], th);
            run_chunked(m, toks, chunks[i], th, VT_ISA_NATIVE, &r);
            same(&ref, &r, vocab, what);
        }
    }
    snprintf(what, sizeof what, "%s scalar prefill", label);
    run_chunked(m, toks, NTOK, 2, VT_ISA_SCALAR, &r);
    same(&ref, &r, vocab, what);
    snprintf(what, sizeof what, "%s scalar decode", label);
    run_chunked(m, toks, 1, 1, VT_ISA_SCALAR, &r);
    same(&ref, &r, vocab, what);
#if defined(__x86_64__)
    {
        unsigned int saved = _mm_getcsr(), hostile = 0x1f80u | 0x8040u | 0x6000u;
        _mm_setcsr(hostile);
        run_chunked(m, toks, 4, 2, VT_ISA_NATIVE, &r);
        CHECK(_mm_getcsr() == hostile);
        _mm_setcsr(saved);
        snprintf(what, sizeof what, "%s under FTZ/DAZ/round-to-zero", label);
        same(&ref, &r, vocab, what);
    }
#endif
    for (int nb = 1; nb <= 8; nb++) {
        snprintf(what, sizeof what, "%s batch of %d", label, nb);
        run_batched(m, toks, nb, 1 + nb % 2, &r, 1000 + (uint64_t)nb);
        same(&ref, &r, vocab, what);
    }
    /* and the logits must not be trivially equal: a different prompt differs */
    toks[0] = (toks[0] + 1) % (int32_t)vocab;
    run_chunked(m, toks, NTOK, 1, VT_ISA_NATIVE, &r);
    CHECK(memcmp(ref.logits, r.logits, (size_t)vocab * sizeof(float)) != 0);
    CHECK(memcmp(ref.trace.final_digest, r.trace.final_digest, VT_DIGEST_BYTES) != 0);
    free(ref.logits);
    free(r.logits);
    printf("ok %s\n", label);
}

#endif
