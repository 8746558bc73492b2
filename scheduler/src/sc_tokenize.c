/* sc_tokenize.c - text prompts: the scheduler turns them into token ids with
 * the tokenizer of the job's model, before anything is journaled.
 *
 * Why here and not on the worker: the prompt's tokens are part of the job's
 * definition (the receipt's input hash, the verifier's replay), so they are
 * fixed by the party that accepts the job, once. A worker that tokenized
 * could choose a different tokenization, and every verifier would then
 * need the text and the tokenizer to check it.
 *
 * The scheduler reads each --tokenizer GGUF file once (vt_tokenizer_open:
 * metadata and the file's SHA-256, the model's identity) and keeps only the
 * vocabulary; no weights stay in memory. A
 * text prompt for a model without a loaded tokenizer is refused with a
 * message that says what to do. The submit is re-encoded with tokens in
 * place of the text, so the journal, recovery and dispatch see one form.
 */
#include <stdlib.h>
#include <string.h>

#include "sched.h"
#include "vt_engine.h"

struct sc_tokenizers {
    size_t n;
    vt_tokenizer **toks;
    uint8_t (*sha)[VT_SHA256_BYTES];
};

int sc_tokenizers_load(sched *s, const vt_strlist *paths, vt_errinfo *ei)
{
    sc_tokenizers *t = calloc(1, sizeof *t);
    if (!t || (paths->n && (!(t->toks = calloc(paths->n, sizeof(vt_tokenizer *))) ||
                            !(t->sha = calloc(paths->n, VT_SHA256_BYTES))))) {
        if (t) {
            free(t->toks);
            free(t->sha);
        }
        free(t);
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    }
    s->toks = t;
    for (size_t i = 0; i < paths->n; i++) {
        vt_errinfo mei = {0};
        int rv = vt_tokenizer_open(paths->items[i], &t->toks[i], t->sha[i], &mei);
        if (rv)
            return vt_fail(ei, rv, "--tokenizer %s: %s", paths->items[i], vt_errinfo_msg(&mei));
        t->n = i + 1;
    }
    return 0;
}

void sc_tokenizers_free(sched *s)
{
    if (!s->toks)
        return;
    for (size_t i = 0; i < s->toks->n; i++)
        vt_tokenizer_close(s->toks->toks[i]);
    free(s->toks->toks);
    free(s->toks->sha);
    free(s->toks);
    s->toks = NULL;
}

size_t sc_tokenizers_count(const sched *s)
{
    return s->toks ? s->toks->n : 0;
}

int sc_submit_tokenize(sched *s, vt_msg *m, vt_errinfo *ei)
{
    vt_job_spec *sp = &m->u.submit.job;
    if (sp->prompt_tokens || !sp->prompt)
        return 0;
    uint8_t sha[VT_SHA256_BYTES];
    int rv = sc_model_resolve(s, sp->model, sha, ei);
    if (rv)
        return rv;
    const vt_tokenizer *tk = NULL;
    for (size_t i = 0; s->toks && i < s->toks->n; i++)
        if (memcmp(s->toks->sha[i], sha, VT_SHA256_BYTES) == 0)
            tk = s->toks->toks[i];
    if (!tk)
        return vt_fail(ei, VT_ERR_UNSUPPORTED,
                       "this scheduler has no tokenizer for model '%.64s': send prompt_tokens, "
                       "or start the scheduler with --tokenizer <its GGUF file>",
                       sp->model);
    /* SentencePiece needs at most one token per byte, plus BOS. */
    size_t cap = sp->prompt_len + 1, n = 0;
    if (cap > VT_PROTO_MAX_PROMPT_TOKENS)
        cap = VT_PROTO_MAX_PROMPT_TOKENS;
    int32_t *tok = malloc(cap * sizeof *tok);
    if (!tok)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    rv = vt_tok_encode(tk, sp->prompt, sp->prompt_len, 1, tok, cap, &n);
    if (rv) {
        free(tok);
        return vt_fail(ei, rv == VT_ERR_RANGE ? VT_ERR_TOOBIG : rv,
                       "prompt does not tokenize within %u tokens", VT_PROTO_MAX_PROMPT_TOKENS);
    }
    /* Re-encode with tokens instead of text; the new message owns them. */
    vt_msg_submit sub = m->u.submit;
    sub.job.prompt = NULL;
    sub.job.prompt_len = 0;
    sub.job.prompt_tokens = tok;
    sub.job.n_prompt_tokens = (uint32_t)n;
    vt_msg nm;
    vt_msg_init(&nm, VT_MSG_SUBMIT);
    nm.u.submit = sub;
    vt_buf b;
    vt_buf_init(&b, (size_t)s->cfg.recv_max + VT_PROTO_MAX_PROMPT_TOKENS * 5u);
    vt_msg decoded;
    rv = vt_msg_encode(&nm, &b, ei);
    if (!rv)
        rv = vt_msg_decode(b.data, b.len, &decoded, ei);
    vt_buf_free(&b);
    free(tok);
    if (rv)
        return rv;
    vt_msg_free(m);
    *m = decoded;
    return 0;
}
