/* checker.c - batched bit-exact replay of worker results.
 *
 * Each result is one slot. Its replay feeds S = prompt + output[0..O-2]
 * (L = P+O-1 tokens, positions 0..L-1) and needs the logits of the last O
 * positions, P-1..L-1: row j decides output token j. A replay is fed in
 * chunks of at most its share of logit rows (the prompt part, which needs no
 * logits, goes in with its first chunk), so memory stays bounded while a
 * typical batch is still a single vt_forward call. Checks run per position
 * in order: token first (wrong_token), then the stop rules (malformed), and
 * the trace digest once the whole replay is in (wrong_digest).
 *
 * The digests of the one position a verdict names are not kept while
 * replaying: hashing every position twice (the running trace and a
 * per-position copy) would cost every honest replay ~1-2% for the rare
 * faulty one. A verdict that needs them replays that one sequence again,
 * up to the bad position, in a second context that keeps per-position
 * digests (created on first use). Batch invariance makes those digests the
 * ones the batched replay saw (tests/cluster/test_checker.c checks this).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_verifier.h"

struct vt_checker {
    const vt_model *model;
    vt_ctx *ctx;
    vt_ctx *pos_ctx;        /* one slot, per-position digests; NULL until needed */
    vt_ctx_params pos_params;
    uint32_t vocab, n_layers;
    int batch, max_ctx, logit_rows;
    float *logits;          /* [max(logit_rows, batch)][vocab] */
    vt_batch_item *items;   /* [batch] */
    int *item_task;         /* [batch] */
};

typedef struct replay {
    const vt_replay_task *t;
    vt_replay_verdict *v;
    int32_t *seq;           /* S, L tokens */
    uint32_t L, fed;
    int done;
    int64_t digest_pos;     /* position whose digests the verdict needs; -1 none */
    vt_stopscan scan;
} replay;

void vt_checker_params_default(vt_checker_params *p)
{
    memset(p, 0, sizeof *p);
    p->batch = 8;
    p->n_threads = 1;
    p->isa = VT_ISA_NATIVE;
    p->backend = VT_BACKEND_AUTO;
    p->logit_rows = 0; /* from VT_CHECKER_LOGIT_BYTES */
}

/* The default logits buffer: every row the engine writes is read back by
 * the checks right after the vt_forward, so the rows should still be in
 * cache then. 1024 rows of a 32k vocabulary (131 MB) went to DRAM and back:
 * a batch of 8 15m replays cost 9% more CPU than with 48-64 rows (8 MB),
 * and the batched replay cost more than the batched worker (1.02-1.06 of
 * it, against 0.88-0.92 with 48 rows; 110m unchanged within noise). Fewer
 * rows means more, smaller vt_forward calls, which bit-exact chunking
 * makes free of any effect on the result. */
#define VT_CHECKER_LOGIT_BYTES ((size_t)8 << 20)

static int default_logit_rows(uint32_t vocab)
{
    size_t rows = VT_CHECKER_LOGIT_BYTES / ((size_t)vocab * sizeof(float));
    return rows < 1 ? 1 : rows > 1024 ? 1024 : (int)rows;
}

int vt_checker_create(const vt_model *m, const vt_checker_params *p, vt_checker **out,
                      vt_errinfo *ei)
{
    *out = NULL;
    if (!m || !p || p->batch < 1 || p->batch > 1024 || p->n_threads < 1)
        return vt_fail(ei, VT_ERR_INVAL, "checker: batch must be 1..1024 and threads >= 1");
    vt_checker *c = calloc(1, sizeof *c);
    if (!c)
        return VT_ERR_NOMEM;
    const vt_model_info *mi = vt_model_get_info(m);
    c->model = m;
    c->vocab = mi->vocab;
    c->n_layers = mi->n_layers;
    c->batch = p->batch;
    c->max_ctx = p->max_ctx > 0 ? p->max_ctx : (int)mi->ctx_len;
    c->logit_rows = p->logit_rows > 0 ? p->logit_rows : default_logit_rows(mi->vocab);
    vt_ctx_params cp;
    vt_ctx_params_default(&cp);
    cp.max_seqs = p->batch;
    cp.max_ctx = p->max_ctx;
    cp.n_threads = p->n_threads;
    cp.isa = p->isa;
    cp.backend = p->backend;
    c->pos_params = cp;
    c->pos_params.max_seqs = 1;
    c->pos_params.trace_per_pos = 1; /* only for the position a verdict names */
    int rv = vt_ctx_create(m, &cp, &c->ctx, ei);
    if (rv) {
        free(c);
        return rv;
    }
    size_t rows = (size_t)(c->logit_rows > c->batch ? c->logit_rows : c->batch);
    c->logits = malloc(rows * c->vocab * sizeof(float));
    c->items = calloc((size_t)c->batch, sizeof *c->items);
    c->item_task = calloc((size_t)c->batch, sizeof *c->item_task);
    if (!c->logits || !c->items || !c->item_task) {
        vt_checker_free(c);
        return VT_ERR_NOMEM;
    }
    /* Touch the logit rows now: otherwise the first replays pay the page
     * faults (with 1024 rows, ~9% of a 15m replay's CPU), as the engine
     * does for its K/V cache. */
    memset(c->logits, 0, rows * c->vocab * sizeof(float));
    *out = c;
    return 0;
}

void vt_checker_free(vt_checker *c)
{
    if (!c)
        return;
    vt_ctx_free(c->ctx);
    vt_ctx_free(c->pos_ctx);
    free(c->logits);
    free(c->items);
    free(c->item_task);
    free(c);
}

const char *vt_checker_describe(const vt_checker *c) { return vt_ctx_describe(c->ctx); }
int vt_checker_batch(const vt_checker *c) { return c->batch; }

static void verdict_init(vt_replay_verdict *v)
{
    memset(v, 0, sizeof *v);
    v->fault = VT_FAULT_NONE;
    v->position = -1;
    v->expected_token = -1;
    v->first_bad_layer = -1;
}

#define VFAIL(v, f, pos, ...)                                          \
    do {                                                               \
        (v)->fault = (f);                                              \
        (v)->position = (pos);                                         \
        snprintf((v)->detail, sizeof (v)->detail, __VA_ARGS__);        \
    } while (0)

/* Checks that need no replay: sizes, ids, the claimed stop reason's range and
 * the trace's shape. Returns 1 when the verdict is already decided. */
static int precheck(const vt_checker *c, const vt_replay_task *t, vt_replay_verdict *v)
{
    uint32_t P = t->n_prompt, O = t->n_output;
    if (t->stop_reason < VT_STOP_MAX || t->stop_reason > VT_STOP_CANCEL) {
        VFAIL(v, VT_FAULT_MALFORMED, -1, "unknown stop reason %d", t->stop_reason);
        return 1;
    }
    if (P == 0 || !t->prompt) {
        VFAIL(v, VT_FAULT_MALFORMED, -1, "empty prompt");
        return 1;
    }
    if (O > t->gp.max_tokens) {
        VFAIL(v, VT_FAULT_MALFORMED, -1, "%u output tokens, max_tokens %u", O,
              t->gp.max_tokens);
        return 1;
    }
    for (uint32_t i = 0; i < P; i++)
        if (t->prompt[i] < 0 || (uint32_t)t->prompt[i] >= c->vocab) {
            VFAIL(v, VT_FAULT_MALFORMED, i, "prompt token %u id %d outside vocab", i,
                  t->prompt[i]);
            return 1;
        }
    for (uint32_t j = 0; j < O; j++)
        if (t->output[j] < 0 || (uint32_t)t->output[j] >= c->vocab) {
            VFAIL(v, VT_FAULT_MALFORMED, (int64_t)P - 1 + j, "output token %u id %d outside vocab",
                  j, t->output[j]);
            return 1;
        }
    if (O == 0) {
        /* only a job cut short before its first token may have no output;
         * there is nothing the model chose, so nothing to replay */
        if (t->stop_reason == VT_STOP_CANCEL) {
            snprintf(v->detail, sizeof v->detail, "no output (%s)", vt_stop_name(t->stop_reason));
            return 1;
        }
        VFAIL(v, VT_FAULT_MALFORMED, -1, "no output tokens but stop reason %s",
              vt_stop_name(t->stop_reason));
        return 1;
    }
    if ((uint64_t)P + O - 1 > (uint64_t)c->max_ctx) {
        VFAIL(v, VT_FAULT_MALFORMED, -1, "prompt %u + output %u exceed context %d", P, O,
              c->max_ctx);
        return 1;
    }
    if (!t->trace || t->trace->n_positions != P + O - 1 || t->trace->n_layers != c->n_layers) {
        VFAIL(v, VT_FAULT_MALFORMED, -1, "trace covers %u positions / %u layers, expected %u / %u",
              t->trace ? t->trace->n_positions : 0, t->trace ? t->trace->n_layers : 0,
              P + O - 1, c->n_layers);
        return 1;
    }
    return 0;
}

/* The digests of position r->digest_pos alone: tokens 0..pos of the replay
 * again, in the one-slot per-position context. n_layers stays 0 (no digests
 * in the verdict) if that context cannot be had; the verdict stands. */
static void pos_digests(vt_checker *c, replay *r)
{
    vt_replay_verdict *v = r->v;
    int pos = (int)r->digest_pos;
    vt_errinfo ei = {0};
    v->n_layers = 0;
    if (!c->pos_ctx && vt_ctx_create(c->model, &c->pos_params, &c->pos_ctx, &ei) != 0)
        return;
    vt_batch_item it = {.seq = 0, .tokens = r->seq, .n_tokens = pos + 1, .n_logits = 0};
    if (vt_seq_reset(c->pos_ctx, 0) != 0 || vt_forward(c->pos_ctx, &it, 1, &ei) != 0)
        return;
    if (vt_seq_pos_digest(c->pos_ctx, 0, pos, v->final_digest, v->layer_digest,
                          VT_MAX_LAYERS) == 0)
        v->n_layers = c->n_layers;
}

/* Token j (position pos) was decided by `logits`: check it, then the stop
 * rules. Marks the replay done on a fault. */
static void check_row(vt_checker *c, replay *r, uint32_t j, const float *logits)
{
    const vt_replay_task *t = r->t;
    uint32_t P = t->n_prompt, O = t->n_output;
    int64_t pos = (int64_t)P - 1 + j;
    int32_t want = vt_sample(logits, c->vocab, &t->gp.sampling, (uint32_t)pos);
    if (want != t->output[j]) {
        VFAIL(r->v, VT_FAULT_WRONG_TOKEN, pos, "output %u (position %lld): got %d, model samples %d",
              j, (long long)pos, t->output[j], want);
        r->v->expected_token = want;
        r->digest_pos = pos;
        r->done = 1;
        return;
    }
    int stopped = 0;
    int rv = vt_stopscan_push(&r->scan, t->output[j], &stopped);
    if (rv) {
        VFAIL(r->v, VT_FAULT_MALFORMED, pos, "output %u: cannot detokenize (%s)", j,
              vt_strerror(rv));
    } else if (stopped && j + 1 < O) {
        VFAIL(r->v, VT_FAULT_MALFORMED, pos,
              "generation should have stopped (%s) at output %u of %u", vt_stop_name(r->scan.reason),
              j, O);
    } else if (j + 1 == O && stopped && r->scan.reason != t->stop_reason) {
        VFAIL(r->v, VT_FAULT_MALFORMED, pos, "stopped by %s, result claims %s",
              vt_stop_name(r->scan.reason), vt_stop_name(t->stop_reason));
    } else if (j + 1 == O && !stopped && t->stop_reason != VT_STOP_CANCEL) {
        VFAIL(r->v, VT_FAULT_MALFORMED, pos, "output ends at %u tokens without a reason (claims %s)",
              O, vt_stop_name(t->stop_reason));
    } else {
        return;
    }
    r->digest_pos = pos;
    r->done = 1;
}

static void check_digest(vt_checker *c, replay *r, int seq)
{
    vt_trace tr;
    int rv = vt_seq_trace(c->ctx, seq, &tr);
    if (rv) {
        r->v->unverifiable = 1;
        snprintf(r->v->detail, sizeof r->v->detail, "no replay trace: %s", vt_strerror(rv));
        return;
    }
    r->v->have_replay_digest = 1;
    memcpy(r->v->replay_digest, tr.final_digest, VT_DIGEST_BYTES);
    const vt_trace *w = r->t->trace;
    int bad = -1;
    for (uint32_t l = 0; l < tr.n_layers && bad < 0; l++)
        if (memcmp(tr.layer_digest[l], w->layer_digest[l], VT_DIGEST_BYTES) != 0)
            bad = (int)l;
    if (bad < 0 && memcmp(tr.final_digest, w->final_digest, VT_DIGEST_BYTES) != 0)
        bad = (int)tr.n_layers;
    if (bad < 0 && tr.n_positions != w->n_positions)
        bad = (int)tr.n_layers;
    if (bad < 0)
        return;
    VFAIL(r->v, VT_FAULT_WRONG_DIGEST, -1, "trace digest differs (first at %s %d of %u)",
          bad < (int)tr.n_layers ? "layer" : "final", bad, tr.n_layers);
    r->v->first_bad_layer = bad;
    r->v->n_layers = tr.n_layers;
    memcpy(r->v->final_digest, tr.final_digest, VT_DIGEST_BYTES);
    memcpy(r->v->layer_digest, tr.layer_digest, (size_t)tr.n_layers * VT_DIGEST_BYTES);
}

int vt_checker_run(vt_checker *c, const vt_replay_task *tasks, int n, vt_replay_verdict *out,
                   vt_errinfo *ei)
{
    if (n < 1 || n > c->batch)
        return vt_fail(ei, VT_ERR_INVAL, "checker: %d tasks, batch is %d", n, c->batch);
    replay *rs = calloc((size_t)n, sizeof *rs);
    if (!rs)
        return VT_ERR_NOMEM;
    int rv = 0;
    for (int i = 0; i < n && !rv; i++) {
        replay *r = &rs[i];
        r->t = &tasks[i];
        r->v = &out[i];
        r->digest_pos = -1;
        verdict_init(r->v);
        if (precheck(c, r->t, r->v)) {
            r->done = 1;
            continue;
        }
        r->L = r->t->n_prompt + r->t->n_output - 1;
        r->seq = malloc((size_t)r->L * sizeof(int32_t));
        if (!r->seq)
            rv = VT_ERR_NOMEM;
        else if ((rv = vt_stopscan_init(&r->scan, vt_model_tokenizer(c->model), &r->t->gp,
                                        r->t->n_prompt, (uint32_t)c->max_ctx)) == 0)
            rv = vt_seq_reset(c->ctx, i);
        if (rv)
            break;
        memcpy(r->seq, r->t->prompt, r->t->n_prompt * sizeof(int32_t));
        memcpy(r->seq + r->t->n_prompt, r->t->output, (r->t->n_output - 1) * sizeof(int32_t));
    }

    int share = c->logit_rows / n > 0 ? c->logit_rows / n : 1;
    while (!rv) {
        int k = 0;
        size_t row = 0;
        for (int i = 0; i < n; i++) {
            replay *r = &rs[i];
            if (r->done)
                continue;
            uint32_t first_logit = r->t->n_prompt - 1; /* position of output 0 */
            uint32_t from = r->fed > first_logit ? r->fed : first_logit;
            uint32_t to = from + (uint32_t)share;
            if (to > r->L)
                to = r->L;
            c->items[k] = (vt_batch_item){.seq = i,
                                          .tokens = r->seq + r->fed,
                                          .n_tokens = (int)(to - r->fed),
                                          .n_logits = (int)(to - from),
                                          .logits = c->logits + row * c->vocab};
            c->item_task[k++] = i;
            row += to - from;
        }
        if (k == 0)
            break;
        rv = vt_forward(c->ctx, c->items, k, ei);
        if (rv)
            break;
        for (int q = 0; q < k; q++) {
            int i = c->item_task[q];
            replay *r = &rs[i];
            const vt_batch_item *it = &c->items[q];
            uint32_t to = r->fed + (uint32_t)it->n_tokens;
            uint32_t from = to - (uint32_t)it->n_logits;
            for (uint32_t p = from; p < to && !r->done; p++)
                check_row(c, r, p - (r->t->n_prompt - 1), it->logits + (size_t)(p - from) * c->vocab);
            r->fed = to;
            if (!r->done && r->fed == r->L) {
                check_digest(c, r, i);
                r->done = 1;
            }
        }
    }
    for (int i = 0; i < n && !rv; i++)
        if (rs[i].digest_pos >= 0)
            pos_digests(c, &rs[i]);
    for (int i = 0; i < n; i++) {
        free(rs[i].seq);
        vt_stopscan_free(&rs[i].scan);
    }
    free(rs);
    return rv;
}

void vt_check_identity(const vt_replay_task *t, vt_replay_verdict *v)
{
    verdict_init(v);
    uint32_t want_n = t->n_prompt < t->gp.max_tokens ? t->n_prompt : t->gp.max_tokens;
    /* n_positions is not on the wire: the digest binds the length instead */
    if (t->n_output != want_n || t->stop_reason != VT_STOP_MAX || !t->trace ||
        t->trace->n_layers != 0) {
        VFAIL(v, VT_FAULT_MALFORMED, -1, "identity result has %u tokens (want %u), stop %s",
              t->n_output, want_n, vt_stop_name(t->stop_reason));
        return;
    }
    for (uint32_t j = 0; j < want_n; j++)
        if (t->output[j] != t->prompt[j]) {
            VFAIL(v, VT_FAULT_WRONG_TOKEN, j, "identity output %u is %d, prompt has %d", j,
                  t->output[j], t->prompt[j]);
            v->expected_token = t->prompt[j];
            return;
        }
    uint8_t d[VT_DIGEST_BYTES];
    vt_identity_digest(t->prompt, t->n_prompt, want_n, d);
    v->have_replay_digest = 1;
    memcpy(v->replay_digest, d, VT_DIGEST_BYTES);
    if (memcmp(d, t->trace->final_digest, VT_DIGEST_BYTES) != 0) {
        VFAIL(v, VT_FAULT_WRONG_DIGEST, -1, "identity digest differs");
        v->first_bad_layer = 0;
        memcpy(v->final_digest, d, VT_DIGEST_BYTES);
    }
}
