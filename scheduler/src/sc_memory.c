/* sc_memory.c - memory-augmented jobs (--memsync; docs/memsync.md,
 * "Memory-augmented jobs").
 *
 * A submit that asks for memory (memory_k > 0 or remember) keeps its TEXT
 * prompt through the journal write. Only then may MemSync be asked: it
 * authorizes the scheduler's service key together with a job id whose
 * journal record (verity:sched:job:<hex>, field "agent") names the agent,
 * and that record exists once the submit is journaled. So between
 * "journaled" and "queued" a job passes the MEMORY STAGE (phase
 * SC_PH_MEMORY): a small pool of threads of its own, so that no NNG
 * callback and not the journal thread ever waits on a MemSync round trip.
 * For each job a stage thread:
 *   1. searches the agent's memory (top memory_k, query = memory_query or
 *      the prompt, cut to 4096 bytes at a UTF-8 boundary);
 *   2. renders the prompt with vt_mem_prompt_render (the documented
 *      template) and tokenizes the rendered text with the model's tokenizer
 *      (sc_submit_tokenize), so the tokens, the prompt digest, the worker's
 *      input and the verifiers' replay all are the rendered prompt;
 *   3. under the core lock swaps the job's submit for the tokenized one,
 *      keeps the memory head and the exact memory block (the rendered text
 *      minus the original prompt) for the receipt, and queues the job.
 * MemSync unreachable (or any other MemSync error) fails the job at once
 * with VT_ERR_UNAVAILABLE (or MemSync's code) and a message naming MemSync;
 * every request is bounded by --memsync-timeout-ms. There is no retry
 * loop: the agent decides whether to resubmit. After a transport failure
 * the retrievals of the next SC_MEM_DOWN_HOLD_MS fail at once, so a queue
 * of jobs behind a dead MemSync does not wait one timeout per job.
 *
 * remember:true: once the final record of a VERIFIED job is journaled, a
 * stage thread stores vt_mem_episode_text(prompt, output) as an episodic
 * memory with source = job id, with the same service credentials. This is
 * asynchronous: the result is delivered first, the episode lands moments
 * later (a failure is logged and counted, the job's result stands).
 *
 * Memory needs a text prompt (the template is text, and MemSync's lexical
 * search needs the words): a memory job given as tokens is refused with
 * VT_ERR_INVAL. A job recovered after a restart that is still in the
 * memory stage (its record holds the text prompt) goes through the stage
 * again; its receipt names the memory head that retrieval saw.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"
#include "vt_clock.h"

#ifdef SC_WITH_MEMSYNC
#include "vt_memsync.h"
#endif

#define SC_MEM_THREADS 4
#define SC_MEM_DOWN_HOLD_MS 1000  /* after a transport failure, fail at once this long */
#define SC_MEM_QUERY_MAX 4096     /* memsync's `text` limit */
#define SC_MEM_EPISODE_MAX 16384  /* memsync's default --max-item-bytes */

/* What a job keeps of its memory stage (owned by the job). */
struct sc_jobmem {
    bool has_memory;          /* retrieval ran (memory_k > 0) */
    uint8_t head_hash[VT_HASH_BYTES];
    char head[96];            /* "SEQ:HASH" */
    char *block;              /* exact memory text put before the prompt ("" if no hits) */
    size_t block_len;
    bool remember;
    char *prompt;             /* the agent's own prompt text (for remember) */
    size_t prompt_len;
};

bool sc_mem_wanted(const vt_job_spec *sp)
{
    return sp->memory_k > 0 || sp->remember;
}

void sc_jobmem_free(sc_jobmem *m)
{
    if (!m)
        return;
    free(m->block);
    free(m->prompt);
    free(m);
}

void sc_mem_receipt(const sc_job *j, vt_receipt *r)
{
    if (!j->mem || !j->mem->has_memory)
        return;
    r->has_memory = true;
    memcpy(r->memory_head, j->mem->head_hash, VT_HASH_BYTES);
    r->memory_text = j->mem->block;
    r->memory_text_len = j->mem->block_len;
}

int sc_mem_check_submit(sched *s, const vt_job_spec *sp, vt_errinfo *ei)
{
    if (!s->memst)
        return vt_fail(ei, VT_ERR_UNSUPPORTED,
                       "this scheduler has no memory service: start it with --memsync URL to "
                       "use memory_k or remember");
    if (sp->prompt_tokens || !sp->prompt || sp->prompt_len == 0)
        return vt_fail(ei, VT_ERR_INVAL,
                       "memory_k/remember need a text prompt (the memory template is text): "
                       "send prompt, not prompt_tokens");
    if (sp->kind != VT_KIND_GENERATE)
        return vt_fail(ei, VT_ERR_INVAL, "memory_k/remember apply to generate jobs only");
    if (sc_tokenizers_count(s) == 0)
        return vt_fail(ei, VT_ERR_UNSUPPORTED,
                       "this scheduler has no tokenizer for text prompts: start it with "
                       "--tokenizer <model GGUF>");
    return 0;
}

/* Journaled job whose prompt may still be text (core lock). */
static bool needs_stage(const sc_job *j)
{
    const vt_job_spec *sp = &j->spec_msg.u.submit.job;
    return sc_mem_wanted(sp) && !sp->prompt_tokens && sp->prompt;
}

#ifdef SC_WITH_MEMSYNC

enum { OP_RETRIEVE = 1, OP_REMEMBER = 2 };

typedef struct sc_mem_op {
    int kind;
    uint32_t slot, gen;
    char job_id[VT_JOB_ID_MAX + 1];
    char agent[VT_AGENT_ID_BUFSZ];
    uint8_t *submit;          /* RETRIEVE: the job's submit, encoded (own copy) */
    size_t submit_len;
    char *prompt, *output;    /* REMEMBER */
    struct sc_mem_op *next;
} sc_mem_op;

struct sc_memstage {
    vt_memsync *c;
    char key[VT_MEM_SERVICE_KEY_BUFSZ];
    /* Monotonic ms of the last transport failure (0: none since the last
     * success). Jobs queued behind a dead MemSync fail at once instead of
     * each waiting --memsync-timeout-ms in turn. */
    atomic_uint_fast64_t down_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sc_mem_op *head, *tail;
    bool stop;
    int n_threads;
    pthread_t threads[SC_MEM_THREADS];
    vt_counter *n_retrieved, *n_failed, *n_remembered, *n_remember_failed;
};

static void op_free(sc_mem_op *op)
{
    if (!op)
        return;
    free(op->submit);
    free(op->prompt);
    free(op->output);
    free(op);
}

static void push(sc_memstage *m, sc_mem_op *op)
{
    op->next = NULL;
    pthread_mutex_lock(&m->mu);
    if (m->tail)
        m->tail->next = op;
    else
        m->head = op;
    m->tail = op;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

void sc_mem_end(sched *s, uint32_t slot, int state, int code, const char *msg)
{
    sc_core_accept(s, slot);
    sc_core_finish(s, slot, state, code, msg);
}

void sc_mem_accept(sched *s, uint32_t slot)
{
    sc_job *j = sc_job_at(s, slot);
    if (!needs_stage(j)) {
        sc_core_accept(s, slot);
        return;
    }
    char id[VT_JOB_ID_MAX + 1];
    sc_job_id_format(j->id, id);
    if (!s->memst) { /* recovered after a restart without --memsync */
        sc_mem_end(s, slot, VT_JOB_FAILED, VT_ERR_UNSUPPORTED,
                 "memory job, but this scheduler has no --memsync memory service");
        return;
    }
    sc_mem_op *op = calloc(1, sizeof *op);
    vt_buf b;
    vt_buf_init(&b, (size_t)s->cfg.recv_max + 1024);
    vt_errinfo ei = {0};
    if (!op || vt_msg_encode(&j->spec_msg, &b, &ei) != 0) {
        free(op);
        vt_buf_free(&b);
        sc_mem_end(s, slot, VT_JOB_FAILED, VT_ERR_INTERNAL, "memory stage: cannot copy the job");
        return;
    }
    op->kind = OP_RETRIEVE;
    op->slot = slot;
    op->gen = j->gen;
    memcpy(op->job_id, id, sizeof id);
    snprintf(op->agent, sizeof op->agent, "%s", s->agents[j->agent].id);
    op->submit = b.data;
    op->submit_len = b.len;
    j->phase = SC_PH_MEMORY;
    push(s->memst, op);
}

void sc_mem_job_done(sched *s, sc_job *j)
{
    if (!j->mem || !j->mem->remember || !s->memst || j->state != VT_JOB_VERIFIED || !j->result ||
        j->result->status != 0)
        return;
    sc_mem_op *op = calloc(1, sizeof *op);
    if (op) {
        op->prompt = malloc(j->mem->prompt_len + 1);
        op->output = malloc(j->result->text_len + 1);
    }
    if (!op || !op->prompt || !op->output) {
        op_free(op);
        vt_counter_inc(s->memst->n_remember_failed);
        vt_log_error(s->log, "memory.remember", "out of memory");
        return;
    }
    op->kind = OP_REMEMBER;
    sc_job_id_format(j->id, op->job_id);
    snprintf(op->agent, sizeof op->agent, "%s", s->agents[j->agent].id);
    memcpy(op->prompt, j->mem->prompt, j->mem->prompt_len);
    op->prompt[j->mem->prompt_len] = 0;
    if (j->result->text_len)
        memcpy(op->output, j->result->text, j->result->text_len);
    op->output[j->result->text_len] = 0;
    push(s->memst, op);
}

/* Cut s to at most max bytes at a UTF-8 boundary. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

/* MemSync's error as the job's: transport trouble is "unavailable". */
static int job_code(int rv)
{
    switch (rv) {
    case VT_ERR_TIMEOUT:
    case VT_ERR_IO:
    case VT_ERR_CLOSED:
    case VT_ERR_UNAVAILABLE:
        return VT_ERR_UNAVAILABLE;
    default:
        return rv;
    }
}

static void retrieve(sched *s, sc_memstage *ms, sc_mem_op *op)
{
    vt_msg m;
    vt_errinfo ei = {0};
    char msg[VT_ERRMSG_MAX];
    int code = 0;
    char *rendered = NULL, *prompt = NULL;
    size_t rlen = 0, plen = 0;
    sc_jobmem *jm = calloc(1, sizeof *jm);
    vt_mem_hits hits;
    memset(&hits, 0, sizeof hits);
    int rv = vt_msg_decode(op->submit, op->submit_len, &m, &ei);
    if (rv || !jm) {
        code = rv ? rv : VT_ERR_NOMEM;
        snprintf(msg, sizeof msg, "memory stage: cannot read the job: %s", vt_errinfo_msg(&ei));
        goto fail;
    }
    const vt_job_spec *sp = &m.u.submit.job;
    plen = sp->prompt_len;
    prompt = malloc(plen + 1);
    if (!prompt) {
        code = VT_ERR_NOMEM;
        snprintf(msg, sizeof msg, "memory stage: out of memory");
        goto fail;
    }
    memcpy(prompt, sp->prompt, plen);
    prompt[plen] = 0;
    jm->remember = sp->remember;
    if (sp->memory_k > 0) {
        const char *q = sp->memory_query && sp->memory_query[0] ? sp->memory_query : prompt;
        size_t ql = utf8_cut(q, strlen(q), SC_MEM_QUERY_MAX);
        char *query = malloc(ql + 1);
        if (!query) {
            code = VT_ERR_NOMEM;
            snprintf(msg, sizeof msg, "memory stage: out of memory");
            goto fail;
        }
        memcpy(query, q, ql);
        query[ql] = 0;
        vt_mem_cred cred = {.agent = op->agent, .key = ms->key, .job = op->job_id};
        vt_mem_query mq;
        memset(&mq, 0, sizeof mq);
        mq.text = query;
        mq.k = sp->memory_k;
        uint64_t down = atomic_load(&ms->down_ms), now = vt_mono_ms();
        if (down && now < down + SC_MEM_DOWN_HOLD_MS)
            rv = vt_fail(&ei, VT_ERR_UNAVAILABLE, "it did not answer %llu ms ago",
                         (unsigned long long)(now - down));
        else
            rv = vt_memsync_search(ms->c, &cred, &mq, &hits, &ei);
        free(query);
        if (rv && job_code(rv) == VT_ERR_UNAVAILABLE && !(down && now < down + SC_MEM_DOWN_HOLD_MS))
            atomic_store(&ms->down_ms, vt_mono_ms());
        else if (rv == 0)
            atomic_store(&ms->down_ms, 0);
        if (rv) {
            code = job_code(rv);
            snprintf(msg, sizeof msg, "memory service (memsync) %s: %s",
                     code == VT_ERR_UNAVAILABLE ? "unreachable" : "refused the search",
                     vt_errinfo_msg(&ei));
            goto fail;
        }
        if ((rv = vt_mem_prompt_render(&hits, prompt, &rendered, &rlen)) != 0 || rlen < plen) {
            code = rv ? rv : VT_ERR_INTERNAL;
            snprintf(msg, sizeof msg, "memory stage: cannot render the prompt");
            goto fail;
        }
        /* rendered = block || prompt: the block is what the receipt records */
        jm->has_memory = true;
        memcpy(jm->head_hash, hits.head.hash, VT_HASH_BYTES);
        vt_mem_head_format(&hits.head, jm->head);
        jm->block_len = rlen - plen;
        jm->block = malloc(jm->block_len + 1);
        if (!jm->block) {
            code = VT_ERR_NOMEM;
            snprintf(msg, sizeof msg, "memory stage: out of memory");
            goto fail;
        }
        memcpy(jm->block, rendered, jm->block_len);
        jm->block[jm->block_len] = 0;
    }
    /* Tokenize the rendered prompt (or the plain one for remember only). */
    m.u.submit.job.prompt = rendered ? rendered : prompt;
    m.u.submit.job.prompt_len = rendered ? rlen : plen;
    rv = sc_submit_tokenize(s, &m, &ei);
    sc_spec_info si;
    if (rv == 0)
        rv = sc_spec_check(s, &m.u.submit.job, &si, &ei);
    if (rv) {
        code = rv;
        snprintf(msg, sizeof msg, "memory stage: %s", vt_errinfo_msg(&ei));
        goto fail;
    }
    jm->prompt = prompt;
    jm->prompt_len = plen;
    prompt = NULL;
    sc_lock(s);
    sc_job *j = sc_job_at(s, op->slot);
    if (j->gen == op->gen && j->phase == SC_PH_MEMORY) {
        vt_msg_free(&j->spec_msg);
        j->spec_msg = m;
        memset(&m, 0, sizeof m);
        memcpy(j->prompt_digest, si.digest, VT_HASH_BYTES);
        sc_jobmem_free(j->mem);
        j->mem = jm;
        jm = NULL;
        sc_core_accept(s, op->slot);
        sc_core_dispatch(s, SC_LANE_COMPUTE);
        vt_log_debug(s->log, "memory.retrieved", "job=%s agent=%s hits=%zu head=%s",
                     op->job_id, op->agent, hits.n, j->mem->head);
    }
    sc_unlock(s);
    vt_counter_inc(ms->n_retrieved);
    goto out;
fail:
    vt_counter_inc(ms->n_failed);
    vt_log_warn(s->log, "memory.failed", "job=%s agent=%s err=%s %s", op->job_id, op->agent,
                vt_errname(code), msg);
    sc_lock(s);
    {
        sc_job *fj = sc_job_at(s, op->slot);
        if (fj->gen == op->gen && fj->phase == SC_PH_MEMORY)
            sc_mem_end(s, op->slot, VT_JOB_FAILED, code, msg);
    }
    sc_unlock(s);
out:
    vt_mem_hits_clear(&hits);
    vt_msg_free(&m);
    free(rendered);
    free(prompt);
    sc_jobmem_free(jm);
}

static void remember(sched *s, sc_memstage *ms, sc_mem_op *op)
{
    char *text = NULL;
    vt_errinfo ei = {0};
    int rv = vt_mem_episode_text(op->prompt, op->output, SC_MEM_EPISODE_MAX, &text);
    if (rv == 0) {
        vt_mem_item it;
        memset(&it, 0, sizeof it);
        it.type = VT_MEM_EPISODIC;
        it.importance = 0.5f;
        it.source = op->job_id;
        it.text = text;
        vt_mem_cred cred = {.agent = op->agent, .key = ms->key, .job = op->job_id};
        uint64_t id = 0;
        rv = vt_memsync_add(ms->c, &cred, &it, &id, NULL, &ei);
        if (rv == 0)
            vt_log_debug(s->log, "memory.remembered", "job=%s agent=%s id=%llu", op->job_id,
                         op->agent, (unsigned long long)id);
    }
    free(text);
    if (rv) {
        vt_counter_inc(ms->n_remember_failed);
        vt_log_warn(s->log, "memory.remember_failed", "job=%s agent=%s err=%s %s", op->job_id,
                    op->agent, vt_errname(rv), vt_errinfo_msg(&ei));
    } else {
        vt_counter_inc(ms->n_remembered);
    }
}

static void *stage_main(void *arg)
{
    sched *s = arg;
    vt_thread_name("sc-memory");
    sc_memstage *ms = s->memst;
    for (;;) {
        pthread_mutex_lock(&ms->mu);
        while (!ms->head && !ms->stop)
            pthread_cond_wait(&ms->cv, &ms->mu);
        if (ms->stop) {
            pthread_mutex_unlock(&ms->mu);
            break;
        }
        sc_mem_op *op = ms->head;
        ms->head = op->next;
        if (!ms->head)
            ms->tail = NULL;
        pthread_mutex_unlock(&ms->mu);
        if (op->kind == OP_RETRIEVE)
            retrieve(s, ms, op);
        else
            remember(s, ms, op);
        op_free(op);
    }
    return NULL;
}

int sc_mem_start(sched *s, vt_errinfo *ei)
{
    if (!s->cfg.memsync_url || !s->cfg.memsync_url[0])
        return 0;
    sc_memstage *ms = calloc(1, sizeof *ms);
    if (!ms)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    int rv = vt_memsync_open(&ms->c, s->cfg.memsync_url, (int)s->cfg.memsync_timeout_ms, ei);
    if (rv) {
        free(ms);
        return rv;
    }
    vt_mem_service_key(s->auth_secret, ms->key);
    const char *name = "verity_scheduler_memory_total",
               *help = "memory-stage requests to memsync by op and result";
    rv = vt_metrics_counter(s->m.reg, name, help, "op=\"retrieve\",result=\"ok\"",
                            &ms->n_retrieved, ei);
    rv = rv ? rv : vt_metrics_counter(s->m.reg, name, help, "op=\"retrieve\",result=\"error\"",
                                      &ms->n_failed, ei);
    rv = rv ? rv : vt_metrics_counter(s->m.reg, name, help, "op=\"remember\",result=\"ok\"",
                                      &ms->n_remembered, ei);
    rv = rv ? rv : vt_metrics_counter(s->m.reg, name, help, "op=\"remember\",result=\"error\"",
                                      &ms->n_remember_failed, ei);
    if (rv) {
        vt_memsync_close(ms->c);
        free(ms);
        return rv;
    }
    pthread_mutex_init(&ms->mu, NULL);
    pthread_cond_init(&ms->cv, NULL);
    s->memst = ms;
    for (int i = 0; i < SC_MEM_THREADS; i++) {
        if (pthread_create(&ms->threads[i], NULL, stage_main, s) != 0)
            return vt_fail(ei, VT_ERR_INTERNAL, "cannot start the memory stage threads");
        ms->n_threads++;
    }
    return 0;
}

void sc_mem_stop(sched *s)
{
    sc_memstage *ms = s->memst;
    if (!ms)
        return;
    pthread_mutex_lock(&ms->mu);
    ms->stop = true;
    pthread_cond_broadcast(&ms->cv);
    pthread_mutex_unlock(&ms->mu);
    for (int i = 0; i < ms->n_threads; i++)
        pthread_join(ms->threads[i], NULL);
    /* Jobs still waiting for retrieval stay pending in Redis (recovered on
     * the next start); episodes not yet stored are dropped (logged). */
    for (sc_mem_op *op = ms->head, *next; op; op = next) {
        next = op->next;
        if (op->kind == OP_REMEMBER)
            vt_log_warn(s->log, "memory.remember_dropped", "job=%s: shutting down", op->job_id);
        op_free(op);
    }
    vt_memsync_close(ms->c);
    pthread_mutex_destroy(&ms->mu);
    pthread_cond_destroy(&ms->cv);
    free(ms);
    s->memst = NULL;
}

#else /* built without the memsync module: --memsync is refused at start */

struct sc_memstage {
    int unused;
};

void sc_mem_accept(sched *s, uint32_t slot)
{
    sc_core_accept(s, slot);
    if (needs_stage(sc_job_at(s, slot)))
        sc_core_finish(s, slot, VT_JOB_FAILED, VT_ERR_UNSUPPORTED,
                       "memory job, but this scheduler was built without memsync");
}

void sc_mem_job_done(sched *s, sc_job *j)
{
    (void)s;
    (void)j;
}

int sc_mem_start(sched *s, vt_errinfo *ei)
{
    if (s->cfg.memsync_url && s->cfg.memsync_url[0])
        return vt_fail(ei, VT_ERR_UNSUPPORTED, "--memsync: this build has no memsync client");
    return 0;
}

void sc_mem_stop(sched *s)
{
    (void)s;
}

#endif
