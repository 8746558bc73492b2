/* test_sampler_generate.c - vt_generate against the primitives it is made of.
 *
 * The loop must give exactly the tokens that a verifier computes on its own:
 * run prompt + output in one prefill, take the logits at each position, and
 * sample each position alone with vt_sample. Also: stop strings end the
 * generation at the token that completes them, max_tokens and context
 * limits hold, the trace covers positions 0 .. P+O-2, and bad prompts are
 * rejected.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vt_engine.h"
#include "vt_synth.h"
#include "engine_testutil.h"


static vt_model *model;
static vt_ctx *ctx;
static uint32_t vocab;

/* Replay: logits of every position of prompt+out, then vt_sample at each
 * position from n_prompt-1 on must reproduce out. */
static void check_replay(const int32_t *prompt, uint32_t np, const vt_gen_result *r,
                         const vt_sampling *s)
{
    uint32_t n = np + r->n_tokens - 1; /* the last output token is never run */
    int32_t *all = malloc(n * sizeof *all);
    float *lg = malloc((size_t)n * vocab * sizeof *lg);
    memcpy(all, prompt, np * sizeof *all);
    memcpy(all + np, r->tokens, (r->n_tokens - 1) * sizeof *all);
    vt_errinfo ei = {0};
    CHECK(vt_seq_reset(ctx, 1) == 0);
    vt_batch_item it = {1, all, (int)n, (int)n, lg};
    CHECK(vt_forward(ctx, &it, 1, &ei) == 0);
    for (uint32_t i = 0; i < r->n_tokens; i++) {
        uint32_t pos = np - 1 + i;
        CHECK(vt_sample(lg + (size_t)pos * vocab, vocab, s, pos) == r->tokens[i]);
    }
    vt_trace tr;
    CHECK(vt_seq_trace(ctx, 1, &tr) == 0);
    CHECK(tr.n_positions == n && r->trace.n_positions == n);
    CHECK(memcmp(tr.final_digest, r->trace.final_digest, VT_DIGEST_BYTES) == 0);
    free(all);
    free(lg);
}

static void test_loop(void)
{
    int32_t prompt[5] = {1, 300, 301, 400, 302};
    vt_gen_params gp;
    memset(&gp, 0, sizeof gp);
    vt_sampling_default(&gp.sampling);
    gp.max_tokens = 12;
    vt_gen_result r;
    vt_errinfo ei = {0};
    int rv = vt_generate(ctx, 0, prompt, 5, &gp, &r, &ei);
    CHECK(rv == 0);
    if (rv) {
        fprintf(stderr, "generate: %s\n", vt_errinfo_msg(&ei));
        return;
    }
    CHECK(r.n_tokens == 12 && r.stop_reason == VT_STOP_MAX);
    CHECK(vt_seq_pos(ctx, 0) == 5 + 12 - 1);
    check_replay(prompt, 5, &r, &gp.sampling);
    free(r.tokens);

    gp.sampling.temperature = 1.5f;
    gp.sampling.top_k = 50;
    gp.sampling.top_p = 0.95f;
    gp.sampling.seed = 77;
    gp.max_tokens = 20;
    CHECK(vt_generate(ctx, 0, prompt, 5, &gp, &r, &ei) == 0);
    CHECK(r.n_tokens == 20);
    check_replay(prompt, 5, &r, &gp.sampling);
    /* Same seed again: same tokens (the slot was reset by vt_generate). */
    vt_gen_result r2;
    CHECK(vt_generate(ctx, 0, prompt, 5, &gp, &r2, &ei) == 0);
    CHECK(r2.n_tokens == r.n_tokens && memcmp(r.tokens, r2.tokens, r.n_tokens * 4) == 0);
    free(r2.tokens);

    /* Stop string: take the text the 8th token completes and ask to stop on
     * it; generation must end at the first token whose text contains it. */
    vt_detok d;
    vt_detok_init(&d, vt_model_tokenizer(model));
    d.at_start = 0; /* output text continues the prompt, as vt_generate decodes it */
    char text[4096];
    size_t len = 0, ends[20] = {0};
    for (uint32_t i = 0; i < r.n_tokens; i++) {
        size_t k;
        CHECK(vt_detok_push(&d, r.tokens[i], text + len, sizeof text - len, &k) == 0);
        len += k;
        ends[i] = len;
    }
    if (ends[7] >= 2) {
        char stop[3] = {text[ends[7] - 2], text[ends[7] - 1], 0};
        /* First token index whose end reaches the first occurrence. */
        char *hit = NULL;
        for (size_t at = 0; at + 2 <= len && !hit; at++)
            if (memcmp(text + at, stop, 2) == 0)
                hit = text + at;
        size_t want = 0;
        while (ends[want] < (size_t)(hit - text) + 2)
            want++;
        const char *stops[] = {"never-appears-xyz", stop};
        gp.stop = stops;
        gp.n_stop = 2;
        CHECK(vt_generate(ctx, 0, prompt, 5, &gp, &r2, &ei) == 0);
        CHECK(r2.stop_reason == VT_STOP_STRING && r2.n_tokens == want + 1);
        CHECK(memcmp(r2.tokens, r.tokens, r2.n_tokens * 4) == 0);
        free(r2.tokens);
        gp.stop = NULL;
        gp.n_stop = 0;
    }
    /* EOS: with stop_at_eos the output ends at the first EOS (kept). */
    gp.stop_at_eos = 1;
    gp.max_tokens = 40;
    CHECK(vt_generate(ctx, 0, prompt, 5, &gp, &r2, &ei) == 0);
    for (uint32_t i = 0; i + 1 < r2.n_tokens; i++)
        CHECK(r2.tokens[i] != vt_tok_eos(vt_model_tokenizer(model)));
    CHECK(r2.stop_reason == (r2.tokens[r2.n_tokens - 1] == vt_tok_eos(vt_model_tokenizer(model))
                                 ? VT_STOP_EOS : VT_STOP_MAX));
    free(r2.tokens);
    free(r.tokens);
}

static void test_limits(void)
{
    vt_gen_params gp;
    memset(&gp, 0, sizeof gp);
    vt_sampling_default(&gp.sampling);
    gp.max_tokens = 1000; /* more than the 64-token context holds */
    int32_t prompt[3] = {1, 5, 6};
    vt_gen_result r;
    vt_errinfo ei = {0};
    CHECK(vt_generate(ctx, 0, prompt, 3, &gp, &r, &ei) == 0);
    CHECK(r.stop_reason == VT_STOP_MAX && r.n_tokens == 64 - 3 + 1);
    free(r.tokens);
    gp.max_tokens = 0;
    CHECK(vt_generate(ctx, 0, prompt, 3, &gp, &r, &ei) == 0 && r.n_tokens == 0);
    free(r.tokens);
    int32_t bad[2] = {1, (int32_t)vocab};
    gp.max_tokens = 4;
    CHECK(vt_generate(ctx, 0, bad, 2, &gp, &r, &ei) == VT_ERR_RANGE);
    bad[1] = -3;
    CHECK(vt_generate(ctx, 0, bad, 2, &gp, &r, &ei) == VT_ERR_RANGE);
    CHECK(vt_generate(ctx, 0, bad, 0, &gp, &r, &ei) == VT_ERR_INVAL);
}

int main(void)
{
    vt_synth_config c = {64, 2, 4, 2, 128, 512, 64, 0, "gen-test"};
    model = tu_model(&c, VT_DTYPE_F32, 11);
    vt_errinfo ei = {0};
    vocab = vt_model_get_info(model)->vocab;
    vt_ctx_params p;
    vt_ctx_params_default(&p);
    p.max_seqs = 2;
    p.backend = VT_BACKEND_CPU;
    if (vt_ctx_create(model, &p, &ctx, &ei) != 0) {
        fprintf(stderr, "ctx: %s\n", vt_errinfo_msg(&ei));
        return 1;
    }
    test_loop();
    test_limits();
    vt_ctx_free(ctx);
    vt_model_free(model);
    printf("ok\n");
    return 0;
}
