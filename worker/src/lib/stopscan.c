/* stopscan.c - the stop rules of one generation, shared by the worker's
 * runner and the verifier's replay checker.
 *
 * Order of the checks for each token (the first that holds wins):
 *   1. EOS when stop_at_eos (the EOS token is kept in the output, its piece
 *      is not added to the text);
 *   2. a stop string that ends inside the text this token added (the text
 *      is the streamed vt_detok output, so a stop string is only seen once
 *      its UTF-8 is complete);
 *   3. max_tokens reached, or the context full: the token just sampled
 *      has no position left to run at (vt_generate's rule).
 */
#include <stdlib.h>
#include <string.h>

#include "vt_worker.h"

static int text_reserve(vt_stopscan *s, size_t extra)
{
    if (s->len + extra + 1 <= s->cap)
        return 0;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < s->len + extra + 1)
        cap *= 2;
    char *t = realloc(s->text, cap);
    if (!t)
        return VT_ERR_NOMEM;
    s->text = t;
    s->cap = cap;
    return 0;
}

int vt_stopscan_init(vt_stopscan *s, const vt_tokenizer *tok, const vt_gen_params *gp,
                     uint32_t n_prompt, uint32_t ctx_len)
{
    memset(s, 0, sizeof *s);
    if (!tok || !gp || (gp->n_stop > 0 && !gp->stop) || gp->n_stop < 0)
        return VT_ERR_INVAL;
    s->tok = tok;
    vt_detok_init(&s->detok, tok);
    s->stop = gp->stop;
    s->n_stop = gp->n_stop;
    s->stop_at_eos = gp->stop_at_eos;
    s->eos = vt_tok_eos(tok);
    s->max_tokens = gp->max_tokens;
    s->n_prompt = n_prompt;
    s->ctx_len = ctx_len;
    int rv = text_reserve(s, 0);
    if (rv)
        return rv;
    s->text[0] = '\0';
    return 0;
}

void vt_stopscan_free(vt_stopscan *s)
{
    free(s->text);
    s->text = NULL;
    s->len = s->cap = 0;
}

/* Does a stop string end in text[from..len)? Records where the visible text
 * ends (before the earliest such match). */
static int find_stop(vt_stopscan *s, size_t from)
{
    size_t best = (size_t)-1;
    for (int i = 0; i < s->n_stop; i++) {
        const char *st = s->stop[i];
        size_t sl = st ? strlen(st) : 0;
        if (sl == 0 || sl > s->len)
            continue;
        /* a match must end after `from`, so it starts after from - sl */
        size_t start = from + 1 > sl ? from + 1 - sl : 0;
        for (size_t p = start; p + sl <= s->len; p++) {
            if (memcmp(s->text + p, st, sl) == 0) {
                if (p < best)
                    best = p;
                break;
            }
        }
    }
    if (best == (size_t)-1)
        return 0;
    s->text_end = best;
    return 1;
}

int vt_stopscan_push(vt_stopscan *s, int32_t token, int *stopped)
{
    *stopped = 0;
    if (s->done)
        return VT_ERR_INVAL;
    s->n_tokens++;
    if (s->stop_at_eos && token == s->eos) {
        s->done = 1;
        s->reason = VT_STOP_EOS;
        s->text_end = s->len;
        *stopped = 1;
        return 0;
    }
    /* A piece is at most a few bytes, plus up to 4 held-back ones. */
    const char *piece;
    size_t plen = 0;
    int rv = vt_tok_piece(s->tok, token, &piece, &plen);
    if (rv)
        return rv;
    if ((rv = text_reserve(s, plen + 16)) != 0)
        return rv;
    size_t added = 0;
    rv = vt_detok_push(&s->detok, token, s->text + s->len, s->cap - s->len - 1, &added);
    if (rv)
        return rv;
    size_t from = s->len;
    s->len += added;
    s->text[s->len] = '\0';
    s->text_end = s->len;
    if (added > 0 && s->n_stop > 0 && find_stop(s, from)) {
        s->done = 1;
        s->reason = VT_STOP_STRING;
    } else if (s->n_tokens >= s->max_tokens ||
               (s->ctx_len && (uint64_t)s->n_prompt + s->n_tokens - 1 >= s->ctx_len)) {
        s->done = 1;
        s->reason = VT_STOP_MAX;
    }
    *stopped = s->done;
    return 0;
}

int vt_stopscan_finish(vt_stopscan *s)
{
    if (s->reason == VT_STOP_STRING) {
        /* the visible text ends before the stop string; what follows it,
         * pending bytes included, is not shown */
        s->len = s->text_end;
        s->text[s->len] = '\0';
        return 0;
    }
    int rv = text_reserve(s, 16);
    if (rv)
        return rv;
    size_t added = 0;
    rv = vt_detok_flush(&s->detok, s->text + s->len, s->cap - s->len - 1, &added);
    if (rv)
        return rv;
    s->len += added;
    s->text[s->len] = '\0';
    s->text_end = s->len;
    return 0;
}
