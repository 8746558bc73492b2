/* runner.c - continuous batching over one vt_ctx.
 *
 * Each step is ONE vt_forward call holding, in this order:
 *   - one decode token for every job that is generating (the token it
 *     sampled last step), with one row of logits;
 *   - prompt chunks of jobs still in prefill, oldest admission first, until
 *     prefill_chunk prompt tokens are used. A chunk that ends its prompt asks
 *     for one row of logits (position P-1: the first output token).
 * Bounding the prefill tokens per step bounds how long running jobs wait for
 * their next token when a long prompt arrives. The engine guarantees the
 * logits of a position do not depend on the batch or the chunking, so every
 * job gets exactly what vt_generate would give it alone.
 *
 * Output token j of a job with P prompt tokens comes from the logits of
 * position P-1+j and is sampled with vt_sample(..., pos = P-1+j): the same
 * rule vt_generate and the verifier use. The last sampled token is never fed,
 * so a finished slot has processed positions 0..P+O-2 and its vt_seq_trace is
 * the job's trace.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vt_worker.h"

typedef struct job {
    int used;
    uint64_t tag;
    uint64_t admit_no;      /* admission order, for fair prefill */
    int32_t *prompt;
    uint32_t n_prompt, n_fed;
    int32_t *out;
    uint32_t n_out;
    vt_gen_params gp;
    char **stop;            /* owned copies of the stop strings */
    vt_stopscan scan;
    int64_t deadline_ms;
    int cancel;
    int status;
    double t_submit, t_first_step, t_first_token;
} job;

struct vt_runner {
    const vt_model *model;
    vt_ctx *ctx;
    uint32_t vocab;
    int slots, max_ctx, prefill_chunk;
    uint64_t next_admit;
    job *jobs;              /* [slots]; index = ctx slot */
    vt_batch_item *items;   /* [slots] */
    int *item_job;          /* [slots] */
    float *logits;          /* [slots][vocab] */
    vt_run_result *done;    /* finished, waiting for vt_runner_take */
    int n_done, cap_done;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void vt_runner_params_default(vt_runner_params *p)
{
    memset(p, 0, sizeof *p);
    p->slots = 8;
    p->n_threads = 1;
    p->isa = VT_ISA_NATIVE;
    p->backend = VT_BACKEND_AUTO;
    p->prefill_chunk = 256;
}

void vt_run_result_free(vt_run_result *r)
{
    if (!r)
        return;
    free(r->tokens);
    free(r->text);
    r->tokens = NULL;
    r->text = NULL;
}

int vt_runner_create(const vt_model *m, const vt_runner_params *p, vt_runner **out,
                     vt_errinfo *ei)
{
    *out = NULL;
    if (!m || !p || p->slots < 1 || p->slots > 4096 || p->n_threads < 1)
        return vt_fail(ei, VT_ERR_INVAL, "runner: slots must be 1..4096 and threads >= 1");
    vt_runner *r = calloc(1, sizeof *r);
    if (!r)
        return VT_ERR_NOMEM;
    r->model = m;
    r->vocab = vt_model_get_info(m)->vocab;
    r->slots = p->slots;
    r->prefill_chunk = p->prefill_chunk > 0 ? p->prefill_chunk : 256;
    vt_ctx_params cp;
    vt_ctx_params_default(&cp);
    cp.max_seqs = p->slots;
    cp.max_ctx = p->max_ctx;
    cp.n_threads = p->n_threads;
    cp.isa = p->isa;
    cp.backend = p->backend;
    cp.trace_per_pos = 0;
    int rv = vt_ctx_create(m, &cp, &r->ctx, ei);
    if (rv) {
        free(r);
        return rv;
    }
    r->max_ctx = p->max_ctx > 0 ? p->max_ctx : (int)vt_model_get_info(m)->ctx_len;
    r->jobs = calloc((size_t)r->slots, sizeof *r->jobs);
    r->items = calloc((size_t)r->slots, sizeof *r->items);
    r->item_job = calloc((size_t)r->slots, sizeof *r->item_job);
    r->logits = malloc((size_t)r->slots * r->vocab * sizeof(float));
    if (!r->jobs || !r->items || !r->item_job || !r->logits) {
        vt_runner_free(r);
        return VT_ERR_NOMEM;
    }
    *out = r;
    return 0;
}

static void job_clear(job *j)
{
    free(j->prompt);
    free(j->out);
    if (j->stop) {
        for (int i = 0; i < j->gp.n_stop; i++)
            free(j->stop[i]);
        free(j->stop);
    }
    vt_stopscan_free(&j->scan);
    memset(j, 0, sizeof *j);
}

void vt_runner_free(vt_runner *r)
{
    if (!r)
        return;
    for (int i = 0; r->jobs && i < r->slots; i++)
        if (r->jobs[i].used)
            job_clear(&r->jobs[i]);
    for (int i = 0; i < r->n_done; i++)
        vt_run_result_free(&r->done[i]);
    free(r->done);
    free(r->jobs);
    free(r->items);
    free(r->item_job);
    free(r->logits);
    vt_ctx_free(r->ctx);
    free(r);
}

const char *vt_runner_describe(const vt_runner *r) { return vt_ctx_describe(r->ctx); }
vt_backend vt_runner_backend(const vt_runner *r) { return vt_ctx_backend(r->ctx); }

int vt_runner_active(const vt_runner *r)
{
    int n = 0;
    for (int i = 0; i < r->slots; i++)
        n += r->jobs[i].used;
    return n;
}

int vt_runner_free_slots(const vt_runner *r) { return r->slots - vt_runner_active(r); }

int vt_runner_submit(vt_runner *r, uint64_t tag, const int32_t *prompt, uint32_t n_prompt,
                     const vt_gen_params *gp, int64_t deadline_ms, vt_errinfo *ei)
{
    if (!prompt || n_prompt == 0 || !gp || gp->max_tokens == 0)
        return vt_fail(ei, VT_ERR_INVAL, "job needs a prompt and max_tokens >= 1");
    if (gp->n_stop < 0 || gp->n_stop > 64 || (gp->n_stop > 0 && !gp->stop))
        return vt_fail(ei, VT_ERR_INVAL, "bad stop strings");
    /* the output stops when the slot is full (vt_stopscan), the prompt
     * itself must fit */
    if (n_prompt > (uint32_t)r->max_ctx)
        return vt_fail(ei, VT_ERR_RANGE, "prompt of %u tokens exceeds the context (%d)",
                       n_prompt, r->max_ctx);
    for (uint32_t i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || (uint32_t)prompt[i] >= r->vocab)
            return vt_fail(ei, VT_ERR_RANGE, "prompt token %u: id %d out of vocab %u", i,
                           prompt[i], r->vocab);
    int slot = -1;
    for (int i = 0; i < r->slots && slot < 0; i++)
        if (!r->jobs[i].used)
            slot = i;
    if (slot < 0)
        return vt_fail(ei, VT_ERR_OVERLOADED, "all %d slots busy", r->slots);

    job *j = &r->jobs[slot];
    memset(j, 0, sizeof *j);
    j->tag = tag;
    j->admit_no = r->next_admit++;
    j->n_prompt = n_prompt;
    j->gp = *gp;
    j->deadline_ms = deadline_ms;
    j->t_submit = now_s();
    j->prompt = malloc(n_prompt * sizeof(int32_t));
    j->out = malloc((size_t)gp->max_tokens * sizeof(int32_t));
    int rv = (j->prompt && j->out) ? 0 : VT_ERR_NOMEM;
    if (!rv && gp->n_stop > 0) {
        j->stop = calloc((size_t)gp->n_stop, sizeof(char *));
        if (!j->stop)
            rv = VT_ERR_NOMEM;
        for (int i = 0; !rv && i < gp->n_stop; i++)
            if (!(j->stop[i] = strdup(gp->stop[i] ? gp->stop[i] : "")))
                rv = VT_ERR_NOMEM;
    }
    j->gp.stop = (const char *const *)j->stop;
    if (!rv)
        rv = vt_stopscan_init(&j->scan, vt_model_tokenizer(r->model), &j->gp, n_prompt,
                              (uint32_t)r->max_ctx);
    if (!rv)
        rv = vt_seq_reset(r->ctx, slot);
    if (rv) {
        job_clear(j);
        return vt_fail(ei, rv, "cannot admit job: %s", vt_strerror(rv));
    }
    memcpy(j->prompt, prompt, n_prompt * sizeof(int32_t));
    j->used = 1;
    return 0;
}

int vt_runner_cancel(vt_runner *r, uint64_t tag)
{
    for (int i = 0; i < r->slots; i++)
        if (r->jobs[i].used && r->jobs[i].tag == tag) {
            r->jobs[i].cancel = 1;
            return 0;
        }
    return VT_ERR_NOTFOUND;
}

/* Move slot `s` to the done list and free the slot. */
static void finish(vt_runner *r, int s, int reason, int status)
{
    job *j = &r->jobs[s];
    if (r->n_done == r->cap_done) {
        int cap = r->cap_done ? r->cap_done * 2 : 16;
        vt_run_result *d = realloc(r->done, (size_t)cap * sizeof *d);
        if (!d) {
            /* cannot report it: drop the job rather than crash; the lease
             * expires and the scheduler hands it out again */
            job_clear(j);
            vt_seq_reset(r->ctx, s);
            return;
        }
        r->done = d;
        r->cap_done = cap;
    }
    vt_run_result *res = &r->done[r->n_done++];
    memset(res, 0, sizeof *res);
    if (!j->scan.done)
        j->scan.reason = reason;
    /* a job ended early (cancel, deadline) still reports what it computed */
    int rv = vt_stopscan_finish(&j->scan);
    if (!rv)
        rv = vt_seq_trace(r->ctx, s, &res->trace);
    if (!status)
        status = rv;
    double t = now_s();
    res->tag = j->tag;
    res->status = status;
    res->stop_reason = j->scan.done ? j->scan.reason : reason;
    res->n_prompt = j->n_prompt;
    res->tokens = j->out;
    res->n_tokens = j->n_out;
    res->text = j->scan.text;
    res->text_len = j->scan.len;
    j->out = NULL;
    j->scan.text = NULL;
    double t0 = j->t_first_step > 0 ? j->t_first_step : t;
    double t1 = j->t_first_token > 0 ? j->t_first_token : t;
    res->queue_s = t0 - j->t_submit;
    res->prefill_s = t1 - t0;
    res->decode_s = t - t1;
    if (!res->text) { /* keep the invariant: text is never NULL */
        res->text = calloc(1, 1);
        res->text_len = 0;
    }
    job_clear(j);
    vt_seq_reset(r->ctx, s);
}

int vt_runner_step(vt_runner *r, int *n_tokens, vt_errinfo *ei)
{
    if (n_tokens)
        *n_tokens = 0;
    int64_t now = now_ms();
    for (int s = 0; s < r->slots; s++) {
        job *j = &r->jobs[s];
        if (!j->used)
            continue;
        if (j->cancel)
            finish(r, s, VT_STOP_CANCEL, VT_ERR_CANCELLED);
        else if (j->deadline_ms > 0 && now >= j->deadline_ms)
            finish(r, s, VT_STOP_CANCEL, VT_ERR_EXPIRED);
    }

    int n = 0, total = 0;
    /* decode tokens first: they are what bounded latency protects */
    for (int s = 0; s < r->slots; s++) {
        job *j = &r->jobs[s];
        if (!j->used || j->n_fed < j->n_prompt)
            continue;
        r->items[n] = (vt_batch_item){.seq = s,
                                      .tokens = &j->out[j->n_out - 1],
                                      .n_tokens = 1,
                                      .n_logits = 1,
                                      .logits = r->logits + (size_t)n * r->vocab};
        r->item_job[n++] = s;
        total++;
    }
    /* then prompt chunks, oldest job first */
    int budget = r->prefill_chunk;
    while (budget > 0) {
        int best = -1;
        for (int s = 0; s < r->slots; s++) {
            job *j = &r->jobs[s];
            if (!j->used || j->n_fed >= j->n_prompt)
                continue;
            int listed = 0;
            for (int k = 0; k < n && !listed; k++)
                listed = r->item_job[k] == s;
            if (!listed && (best < 0 || j->admit_no < r->jobs[best].admit_no))
                best = s;
        }
        if (best < 0)
            break;
        job *j = &r->jobs[best];
        uint32_t left = j->n_prompt - j->n_fed;
        uint32_t chunk = left < (uint32_t)budget ? left : (uint32_t)budget;
        int ends = chunk == left;
        r->items[n] = (vt_batch_item){.seq = best,
                                      .tokens = j->prompt + j->n_fed,
                                      .n_tokens = (int)chunk,
                                      .n_logits = ends ? 1 : 0,
                                      .logits = r->logits + (size_t)n * r->vocab};
        r->item_job[n++] = best;
        if (j->t_first_step == 0)
            j->t_first_step = now_s();
        budget -= (int)chunk;
        total += (int)chunk;
    }
    if (n == 0)
        return 0;

    vt_errinfo fe = {0};
    int rv = vt_forward(r->ctx, r->items, n, &fe);
    if (rv) {
        for (int k = 0; k < n; k++)
            finish(r, r->item_job[k], VT_STOP_MAX, rv);
        return vt_fail(ei, rv, "forward failed, %d jobs failed: %s", n, vt_errinfo_msg(&fe));
    }
    if (n_tokens)
        *n_tokens = total;

    for (int k = 0; k < n; k++) {
        int s = r->item_job[k];
        job *j = &r->jobs[s];
        if (j->n_fed < j->n_prompt)
            j->n_fed += (uint32_t)r->items[k].n_tokens;
        if (r->items[k].n_logits == 0)
            continue;
        /* the logits are those of position P-1+n_out */
        uint32_t pos = j->n_prompt - 1 + j->n_out;
        int32_t tok = vt_sample(r->items[k].logits, r->vocab, &j->gp.sampling, pos);
        if (j->n_out == 0)
            j->t_first_token = now_s();
        j->out[j->n_out++] = tok;
        int stopped = 0;
        int srv = vt_stopscan_push(&j->scan, tok, &stopped);
        if (srv)
            finish(r, s, VT_STOP_MAX, srv);
        else if (stopped)
            finish(r, s, j->scan.reason, 0);
    }
    return 0;
}

int vt_runner_take(vt_runner *r, vt_run_result *out)
{
    if (r->n_done == 0)
        return 0;
    *out = r->done[0];
    memmove(r->done, r->done + 1, (size_t)(r->n_done - 1) * sizeof *r->done);
    r->n_done--;
    return 1;
}
