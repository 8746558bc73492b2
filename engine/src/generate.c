/* generate.c - the single-sequence generation loop (vt_generate).
 *
 *   reset slot; prefill the prompt in one vt_forward (logits of the last
 *   prompt token only); then repeat: sample the token at position pos (the
 *   position whose logits we hold), append it, stop if a stop rule fires,
 *   else run that one token to get the next logits.
 * The last sampled token is never run through the model, so the slot's
 * trace covers positions 0 .. n_prompt + n_out - 2, as vt_engine.h defines.
 *
 * Stops: max_tokens, the context filling up (also VT_STOP_MAX), EOS when
 * stop_at_eos (EOS stays in the tokens), or a stop string appearing in the
 * detokenized output (decoded as a continuation of the prompt, so a
 * leading space is kept). The tokens are kept exactly as generated, including
 * the one that completed the stop string; it is the caller's choice to cut
 * the text at the stop string (the CLI and workers do, like vLLM).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctx.h"
#include "generate.h"
#include "vt_engine.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Detokenized output so far, for stop-string matching. */
typedef struct text_buf {
    char *p;
    size_t len, cap;
} text_buf;

static int text_push(text_buf *b, vt_detok *d, int32_t id)
{
    for (;;) {
        size_t n = 0;
        int rv = vt_detok_push(d, id, b->p + b->len, b->cap - b->len, &n);
        if (rv == 0) {
            b->len += n;
            return 0;
        }
        if (rv != VT_ERR_RANGE)
            return rv;
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return VT_ERR_NOMEM;
        b->p = p;
        b->cap = cap;
    }
}

/* Does a stop string end inside the bytes appended since `before`? */
static int hits_stop(const text_buf *b, size_t before, const vt_gen_params *gp)
{
    for (int i = 0; i < gp->n_stop; i++) {
        const char *s = gp->stop[i];
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > b->len)
            continue;
        /* Only windows that end in the new bytes: the old ones were checked. */
        size_t first = before >= n - 1 ? before - (n - 1) : 0;
        for (size_t at = first; at + n <= b->len; at++)
            if (memcmp(b->p + at, s, n) == 0)
                return 1;
    }
    return 0;
}

int vt_generate(vt_ctx *c, int seq, const int32_t *prompt, uint32_t n_prompt,
                const vt_gen_params *gp, vt_gen_result *out, vt_errinfo *ei)
{
    return vt_generate_stream(c, seq, prompt, n_prompt, gp, NULL, NULL, out, ei);
}

int vt_generate_stream(vt_ctx *c, int seq, const int32_t *prompt, uint32_t n_prompt,
                       const vt_gen_params *gp, vt_gen_token_fn on_token, void *arg,
                       vt_gen_result *out, vt_errinfo *ei)
{
    if (!c || !prompt || !gp || !out || n_prompt == 0)
        return vt_fail(ei, VT_ERR_INVAL, "vt_generate: need a context, a prompt of >= 1 token, "
                                         "params and a result");
    if (gp->n_stop < 0 || (gp->n_stop > 0 && !gp->stop))
        return vt_fail(ei, VT_ERR_INVAL, "vt_generate: bad stop list");
    memset(out, 0, sizeof *out);
    const vt_model_info *info = vt_model_get_info(c->m);
    const vt_tokenizer *tok = vt_model_tokenizer(c->m);
    uint32_t vocab = info->vocab;
    for (uint32_t i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || (uint32_t)prompt[i] >= vocab)
            return vt_fail(ei, VT_ERR_RANGE, "prompt token %u is id %d, vocab is %u", i, prompt[i],
                           vocab);
    if (n_prompt > (uint32_t)c->p.max_ctx)
        return vt_fail(ei, VT_ERR_RANGE, "prompt of %u tokens exceeds the context (%d)", n_prompt,
                       c->p.max_ctx);
    int rv = vt_seq_reset(c, seq);
    if (rv)
        return vt_fail(ei, rv, "vt_generate: cannot reset slot %d", seq);

    float *logits = malloc((size_t)vocab * sizeof *logits);
    int32_t *toks = malloc(((size_t)gp->max_tokens + 1) * sizeof *toks);
    text_buf text = {0};
    if (!logits || !toks) {
        rv = vt_fail(ei, VT_ERR_NOMEM, "vt_generate: out of memory");
        goto done;
    }
    vt_detok d;
    vt_detok_init(&d, tok);
    d.at_start = 0; /* the output continues the prompt: keep its leading space */
    int32_t eos = tok ? vt_tok_eos(tok) : -1;
    out->stop_reason = VT_STOP_MAX;

    double t0 = now_s();
    if (gp->max_tokens > 0) {
        vt_batch_item it = {seq, prompt, (int)n_prompt, 1, logits};
        if ((rv = vt_forward(c, &it, 1, ei)) != 0)
            goto done;
    }
    double t1 = now_s();
    out->prefill_s = t1 - t0;
    uint32_t pos = n_prompt - 1, n = 0;
    while (n < gp->max_tokens) {
        int32_t t = vt_sample(logits, vocab, &gp->sampling, pos);
        if (t < 0) {
            rv = vt_fail(ei, t, "vt_generate: sampling failed at position %u", pos);
            goto done;
        }
        toks[n++] = t;
        if (on_token && (rv = on_token(arg, t)) != 0) {
            rv = vt_fail(ei, rv, "vt_generate: stopped by the caller at token %u", n);
            goto done;
        }
        if (gp->stop_at_eos && t == eos) {
            out->stop_reason = VT_STOP_EOS;
            break;
        }
        if (gp->n_stop > 0 && tok) {
            size_t before = text.len;
            if ((rv = text_push(&text, &d, t)) != 0) {
                rv = vt_fail(ei, rv, "vt_generate: out of memory");
                goto done;
            }
            if (hits_stop(&text, before, gp)) {
                out->stop_reason = VT_STOP_STRING;
                break;
            }
        }
        if (n == gp->max_tokens || pos + 1 >= (uint32_t)c->p.max_ctx)
            break; /* done, or no room to run this token: VT_STOP_MAX */
        vt_batch_item it = {seq, &toks[n - 1], 1, 1, logits};
        if ((rv = vt_forward(c, &it, 1, ei)) != 0)
            goto done;
        pos++;
    }
    out->decode_s = now_s() - t1;
    if ((rv = vt_seq_trace(c, seq, &out->trace)) != 0) {
        rv = vt_fail(ei, rv, "vt_generate: trace of slot %d unavailable", seq);
        goto done;
    }
    out->tokens = toks;
    out->n_tokens = n;
    toks = NULL;
done:
    free(logits);
    free(toks);
    free(text.p);
    return rv;
}
