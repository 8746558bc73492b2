/* sc_agent.c - the agent socket: submit, status, result (long poll), cancel.
 *
 * Every request carries an API key, checked against the registry cache
 * (one keyed MAC per request). A job is visible only to the agent that
 * submitted it: anyone else gets VT_ERR_NOTFOUND, exactly as for an id that
 * never existed. A submit is answered only after its journal record is in
 * Redis (group commit, sc_journal.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"
#include "vt_clock.h"

#define SC_RESULT_WAIT_MAX_MS 120000 /* stays well under REQ's 60 s resend when clients keep the default */
#define SC_RECORD_WAIT_MS 50 /* a wait that ended while the job's record is being written */
#define MSG_NOT_YET "job journal (Redis) unreachable; the job is not accepted yet"
#define MSG_UNRECORDED "scheduler out of memory: the job was not stored; resubmit"


static bool token_present(const uint8_t t[VT_REQUEST_TOKEN_BYTES])
{
    for (int i = 0; i < VT_REQUEST_TOKEN_BYTES; i++)
        if (t[i])
            return true;
    return false;
}

static void reply_submit_ok(sc_conn *c, uint64_t id, bool dup)
{
    vt_msg m;
    vt_msg_init(&m, VT_MSG_SUBMIT_OK);
    sc_job_id_format(id, m.u.submit_ok.job_id);
    m.u.submit_ok.duplicate = dup;
    sc_conn_reply_msg(c, &m);
}

/* Park an agent request on a job until its result is final (or, with
 * delivery=optimistic, computed) or wait_ms passes (0: 5 s). Core lock
 * held. Used by `result` and by `submit` with wait_ms. */
static void park_for_result(sched *s, sc_conn *c, uint32_t slot, sc_job *j, uint32_t wait_ms)
{
    uint32_t wait = wait_ms ? wait_ms : 5000;
    if (wait > SC_RESULT_WAIT_MAX_MS)
        wait = SC_RESULT_WAIT_MAX_MS;
    c->job_slot = slot;
    c->job_gen = j->gen;
    c->next_waiter = j->waiters;
    j->waiters = c;
    sc_conn_park(s, c, vt_mono_ms() + wait);
}

/* Whether a result request is answered now rather than parked: the final
 * record is stored, or delivery=optimistic and the outputs are in. */
static bool result_ready(const sc_job *j)
{
    if (j->phase == SC_PH_DONE)
        return true;
    return j->optimistic && j->phase == SC_PH_LIVE && j->result &&
           (j->state == VT_JOB_COMPUTED || j->state == VT_JOB_VERIFYING);
}

/* Authenticate; on failure answer and return false. */
static bool auth(sched *s, sc_conn *c, const char *key, char id[VT_AGENT_ID_BUFSZ], bool submit)
{
    vt_errinfo ei = {0};
    int rv = sc_auth_agent(s, key ? key : "", id, &ei);
    if (rv == 0)
        return true;
    if (submit)
        vt_counter_inc(rv == VT_ERR_AUTH ? s->m.rej_auth : s->m.rej_unavailable);
    uint64_t suppressed = 0;
    if (vt_ratelimit_allow(&s->bad_rl, &suppressed))
        vt_log_warn(s->log, "agent.auth_refused", "err=%s detail=%s suppressed=%llu", vt_errname(rv),
                    vt_errinfo_msg(&ei), (unsigned long long)suppressed);
    /* Never say which part of the key was wrong. */
    sc_conn_reply_error(c, rv, rv == VT_ERR_AUTH ? "unknown or revoked API key" : vt_errinfo_msg(&ei), rv == VT_ERR_UNAVAILABLE ? 1000 : 0);
    return false;
}

static void reject(sched *s, sc_conn *c, vt_counter *ctr, int code, const char *msg, uint32_t retry)
{
    if (ctr)
        vt_counter_inc(ctr);
    sc_conn_reply_error(c, code, msg, retry);
    (void)s;
}

/* Validate a job spec (no lock needed): model, prompt, policy. */
int sc_spec_check(sched *s, const vt_job_spec *sp, sc_spec_info *si, vt_errinfo *ei)
{
    memset(si, 0, sizeof *si);
    int rv = sc_model_resolve(s, sp->model, si->sha, ei);
    if (rv)
        return rv;
    if (sc_mem_wanted(sp) && !sp->prompt_tokens && sp->prompt && sp->prompt_len) {
        /* memory job: text until the memory stage renders and tokenizes it */
    } else if (!sp->prompt_tokens || sp->n_prompt_tokens == 0) {
        if (sp->prompt && sp->prompt_len)
            return vt_fail(ei, VT_ERR_UNSUPPORTED,
                           "text prompts are not accepted by this scheduler: send prompt_tokens");
        return vt_fail(ei, VT_ERR_INVAL, "job has no prompt tokens");
    }
    if (sp->kind != VT_KIND_EMBED && /* embed: no output tokens, max_tokens unused */
        (sp->max_tokens == 0 || sp->max_tokens > VT_PROTO_MAX_OUTPUT_TOKENS))
        return vt_fail(ei, VT_ERR_INVAL, "max_tokens must be 1..%u", VT_PROTO_MAX_OUTPUT_TOKENS);
    /* The policy (vt_arbiter): full:K above --max-verifiers is refused, never
     * lowered. sampled:P keeps K = 1; its coin is thrown when the result is
     * in (sc_arb_computed). */
    vt_arb_policy pol;
    if ((rv = vt_arb_policy_resolve(sp->verify, sp->delivery, (uint32_t)s->cfg.max_verifiers, &pol,
                                    ei)) != 0)
        return rv;
    si->verify_mode = (int)pol.verify.mode;
    si->verify_k = (int)vt_arb_policy_k(&pol.verify);
    si->optimistic = pol.delivery == VT_ARB_DELIVER_OPTIMISTIC;
    vt_hash_tokens(sp->prompt_tokens, sp->n_prompt_tokens, si->digest);
    return 0;
}

/* Create a job (phase JOURNAL) from a checked spec; takes ownership of *m
 * on success. Core lock held. */
int sc_job_setup(sched *s, uint64_t id, uint32_t agent, const sc_spec_info *si, vt_msg *m,
                 uint32_t *slot_out)
{
    const vt_job_spec *sp = &m->u.submit.job;
    uint32_t model, slot;
    int rv;
    if ((rv = sc_model_intern(s, si->sha, &model)) != 0)
        return rv;
    if ((rv = sc_job_alloc(s, &slot)) != 0)
        return rv;
    sc_job *j = sc_job_at(s, slot);
    j->id = id;
    s->models[model].refs++;
    j->model = model;
    j->agent = agent;
    j->phase = SC_PH_JOURNAL;
    j->prio = sp->priority;
    j->verify_k = (uint8_t)si->verify_k;
    j->verify_mode = (uint8_t)si->verify_mode;
    j->optimistic = si->optimistic;
    j->has_token = token_present(sp->request_token);
    memcpy(j->token, sp->request_token, VT_REQUEST_TOKEN_BYTES);
    j->token_key = j->has_token ? sc_token_key(s, agent, sp->request_token) : 0;
    memcpy(j->prompt_digest, si->digest, VT_HASH_BYTES);
    j->t_submit_us = vt_mono_us();
    j->wall_submit_ms = vt_wall_ms();
    if (sp->deadline_ms)
        j->deadline_ms = j->t_submit_us / 1000 + sp->deadline_ms;
    m->u.submit.api_key = "journal"; /* never store the key itself */
    m->u.submit.wait_ms = 0;         /* a property of the request, not of the job */
    j->spec_msg = *m;
    memset(m, 0, sizeof *m); /* ownership moved to the job */
    sc_map_put(&s->by_id, j->id, slot);
    if (j->has_token)
        sc_map_put(&s->by_token, j->token_key, slot);
    s->n_queued++;
    s->n_active++;
    *slot_out = slot;
    return 0;
}

static uint32_t retry_hint(sched *s)
{
    /* Time for the queue to drain by a tenth at the recent dispatch rate. */
    double rate = s->dispatch_rate > 1.0 ? s->dispatch_rate : 1.0;
    double ms = (double)s->n_queued / 10.0 / rate * 1000.0;
    if (ms < 50)
        ms = 50;
    if (ms > 5000)
        ms = 5000;
    return (uint32_t)ms;
}

static void journal_deferred(sched *s, uint32_t slot, sc_conn *c, bool as_dup);

/* A journal item for a job's submit: with its record (and its request
 * token's claim, if any) or, for a deferred job, without. NULL on NOMEM or
 * when the record cannot be encoded. Core lock held. */
static sc_jr_item *submit_item(sched *s, uint32_t slot, bool record)
{
    sc_job *j = sc_job_at(s, slot);
    sc_jr_item *it = calloc(1, sizeof *it);
    vt_buf rec;
    vt_buf_init(&rec, 0);
    if (!it || (record && sc_journal_encode_submit(s, j, &rec) != 0)) {
        free(it);
        vt_buf_free(&rec);
        return NULL;
    }
    it->kind = SC_JR_SUBMIT;
    it->slot = slot;
    it->gen = j->gen;
    it->job_id = j->id;
    it->bytes = rec.data;
    it->len = rec.len;
    if (record && j->has_token)
        sc_token_rkey(s->agents[j->agent].id, j->token, it->tokkey);
    return it;
}

static void submit(sched *s, sc_conn *c, vt_msg *m)
{
    const vt_job_spec *sp = &m->u.submit.job;
    const uint32_t wait_ms = m->u.submit.wait_ms; /* the job (journaled) does not keep it */
    char agent_id[VT_AGENT_ID_BUFSZ];
    if (!auth(s, c, m->u.submit.api_key, agent_id, true))
        goto out;
    if (atomic_load(&s->draining)) {
        reject(s, c, s->m.rej_closed, VT_ERR_CLOSED, "scheduler is shutting down", 1000);
        goto out;
    }
    if (!atomic_load(&s->jr.redis_ok)) {
        reject(s, c, s->m.rej_unavailable, VT_ERR_UNAVAILABLE,
               "job journal (Redis) is unreachable; not accepting work", 1000);
        goto out;
    }
    sc_spec_info si;
    vt_errinfo ei = {0};
    /* After authentication (tokenizing costs CPU), before the checks: a text
     * prompt becomes tokens here, and the submit is re-decoded. */
    /* A memory job keeps its text: it is tokenized after retrieval, with
     * the memory in front of it (sc_memory.c). */
    int rv = sc_mem_wanted(&m->u.submit.job) ? sc_mem_check_submit(s, &m->u.submit.job, &ei)
                                             : sc_submit_tokenize(s, m, &ei);
    if (rv) {
        reject(s, c, rv == VT_ERR_NOMODEL ? s->m.rej_nomodel : s->m.rej_invalid, rv,
               vt_errinfo_msg(&ei), 0);
        goto out;
    }
    sp = &m->u.submit.job;
    rv = sc_spec_check(s, sp, &si, &ei);
    if (rv) {
        reject(s, c, rv == VT_ERR_NOMODEL ? s->m.rej_nomodel : s->m.rej_invalid, rv,
               vt_errinfo_msg(&ei), 0);
        goto out;
    }

    sc_lock(s);
    uint32_t agent = sc_agent_intern(s, agent_id);
    if (agent == SC_NONE) {
        sc_unlock(s);
        reject(s, c, s->m.rej_overloaded, VT_ERR_NOMEM, "out of memory", 1000);
        goto out;
    }
    uint32_t slot;
    if (token_present(sp->request_token) &&
        sc_map_get(&s->by_token, sc_token_key(s, agent, sp->request_token), &slot)) {
        sc_job *d = sc_job_at(s, slot);
        if (d->agent == agent && memcmp(d->token, sp->request_token, VT_REQUEST_TOKEN_BYTES) == 0) {
            uint64_t id = d->id;
            bool pending = d->unacked;
            if (pending && d->deferred && wait_ms && d->phase != SC_PH_JOURNAL) {
                /* A resend of a submit that waits: wait with it. */
                park_for_result(s, c, slot, d, wait_ms);
                sc_unlock(s);
                goto out;
            }
            if (pending && d->deferred && d->phase == SC_PH_LIVE) {
                /* A resend that does not wait: the id, once recorded. */
                journal_deferred(s, slot, c, true);
                sc_unlock(s);
                goto out;
            }
            sc_unlock(s);
            if (pending)
                sc_conn_reply_error(c, VT_ERR_CONFLICT,
                                    "the first submit with this request token is still being "
                                    "journaled; retry",
                                    10);
            else
                reply_submit_ok(c, id, true);
            goto out;
        }
    }
    if (s->n_queued >= (uint64_t)s->cfg.queue_max) {
        uint32_t hint = retry_hint(s);
        sc_unlock(s);
        char msg[128];
        snprintf(msg, sizeof msg, "queue full (%lld jobs); retry later", (long long)s->cfg.queue_max);
        reject(s, c, s->m.rej_overloaded, VT_ERR_OVERLOADED, msg, hint);
        goto out;
    }
    uint64_t epoch = atomic_load(&s->jr.epoch);
    if (epoch == 0) {
        sc_unlock(s);
        reject(s, c, s->m.rej_unavailable, VT_ERR_UNAVAILABLE, "job journal not ready", 1000);
        goto out;
    }
    uint64_t id = (epoch << 32) | (uint64_t)(++s->job_seq);
    if ((rv = sc_job_setup(s, id, agent, &si, m, &slot)) != 0) {
        sc_unlock(s);
        reject(s, c, s->m.rej_overloaded, VT_ERR_OVERLOADED,
               rv == VT_ERR_OVERLOADED ? "too many distinct models queued" : "out of memory", 1000);
        goto out;
    }
    sc_job *j = sc_job_at(s, slot);
    j->unacked = 1;
    /* Submit and wait: the agent learns the id only with the result, so
     * the job needs no record until then; its final record is its only
     * one, unless the wait ends first (sc_agent_wait_timeout). Not for
     * jobs whose agent hears of them earlier (delivery=optimistic) or that
     * must be stored first (the memory stage). */
    j->deferred = wait_ms && !si.optimistic && !sc_mem_wanted(&j->spec_msg.u.submit.job);
    sc_jr_item *it = submit_item(s, slot, !j->deferred);
    if (!it) {
        s->n_queued--;
        s->n_active--;
        sc_job_release(s, slot);
        sc_unlock(s);
        reject(s, c, s->m.rej_invalid, VT_ERR_INTERNAL, "cannot encode the job record", 0);
        goto out;
    }
    it->defer = j->deferred;
    it->conn = c;
    c->submit_wait_ms = wait_ms;
    sc_journal_push(s, it);
    sc_unlock(s);
out:
    vt_msg_free(m);
}

/* A journal turn is about to write these submits (core lock NOT held):
 * queue them now, so workers compute while Redis writes and fsyncs the
 * turn, instead of one turn later. The agent's reply still waits for the
 * write (sc_agent_submit_done); a job whose write fails is forgotten
 * (sc_core_forget) and a worker's result for it is answered stale. Memory
 * jobs still wait: their stage starts once they are journaled.
 * Dispatching once per turn keeps the node batches as large as before. */
void sc_agent_release_submits(sched *s, sc_jr_item *list)
{
    bool any = false;
    for (sc_jr_item *it = list; it && !any; it = it->next)
        any = it->kind == SC_JR_SUBMIT;
    if (!any)
        return;
    sc_lock(s);
    bool queued = false;
    for (sc_jr_item *it = list; it; it = it->next) {
        if (it->kind != SC_JR_SUBMIT)
            continue;
        sc_job *j = sc_job_at(s, it->slot);
        if (j->gen != it->gen || !j->unacked || j->phase != SC_PH_JOURNAL ||
            sc_mem_wanted(&j->spec_msg.u.submit.job))
            continue;
        sc_core_enqueue(s, it->slot);
        queued = true;
    }
    if (queued)
        sc_core_dispatch(s, SC_LANE_COMPUTE);
    sc_unlock(s);
}

/* Write an ordinary submit record for a deferred job that is still live:
 * its wait ended (c is answered with its state once the record is in), a
 * resend without a wait asks for its id (c gets submit_ok duplicate), or
 * the scheduler drains (c NULL) and the job may outlive this process. */
static void journal_deferred(sched *s, uint32_t slot, sc_conn *c, bool as_dup)
{
    sc_jr_item *it = submit_item(s, slot, true);
    if (!it) {
        if (c)
            sc_conn_reply_error(c, VT_ERR_INTERNAL, "cannot encode the job record", 1000);
        return;
    }
    sc_job_at(s, slot)->deferred = 0;
    it->early = 1;
    it->as_dup = as_dup;
    it->conn = c;
    sc_journal_push(s, it);
}

/* The next agent waiting on the job, taken off its wait; NULL when none. */
static sc_conn *pop_waiter(sched *s, sc_job *j)
{
    sc_conn *c = j->waiters;
    if (c) {
        j->waiters = c->next_waiter;
        c->next_waiter = NULL;
        sc_conn_unpark(s, c);
    }
    return c;
}

/* A deferred job's request token names a job stored before it (a resend
 * after a restart): everyone waiting on it gets that job's id, as for any
 * resent submit, and it is forgotten (its record, if written, is an orphan
 * that the journal deletes). */
static void end_as_duplicate(sched *s, uint32_t slot, uint64_t dup_of)
{
    sc_job *j = sc_job_at(s, slot);
    for (sc_conn *c; (c = pop_waiter(s, j)) != NULL;)
        reply_submit_ok(c, dup_of, true);
    sc_core_forget(s, slot);
}

static void reply_unrecorded(sched *s, sc_conn *c)
{
    vt_counter_inc(s->m.rej_unavailable);
    sc_conn_reply_error(c, VT_ERR_UNAVAILABLE, MSG_UNRECORDED, 1000);
}

void sc_agent_deferred_unrecorded(sched *s, uint32_t slot)
{
    sc_job *j = sc_job_at(s, slot);
    for (sc_conn *c; (c = pop_waiter(s, j)) != NULL;)
        reply_unrecorded(s, c);
    sc_core_forget(s, slot);
}

/* A deferred job's turn ended and released it to the workers (it wrote
 * nothing): its agent now waits for the final record like a `result` long
 * poll. */
static void deferred_released(sched *s, sc_jr_item *it)
{
    sc_job *j = sc_job_at(s, it->slot);
    sc_conn *c = it->conn;
    if (c && result_ready(j))
        sc_agent_reply_job(s, c, j, VT_MSG_RESULT);
    else if (c)
        park_for_result(s, c, it->slot, j, c->submit_wait_ms);
    if (atomic_load(&s->draining) && j->deferred && j->phase == SC_PH_LIVE)
        journal_deferred(s, it->slot, NULL, false); /* released after the drain began */
}

/* Journal write finished (core lock held). */
void sc_agent_submit_done(sched *s, sc_jr_item *it)
{
    sc_job *j = sc_job_at(s, it->slot);
    sc_conn *c = it->conn;
    if (j->gen != it->gen || !j->unacked) {
        /* A deferred job may finish while its submit's turn is still on
         * the wire; it is gone by now only if its final record could not
         * be made (sc_agent_deferred_unrecorded), and its submitter, not a
         * waiter yet, hears the same. Anything else cannot happen; never
         * leave a context without a reply. */
        if (c && it->defer)
            reply_unrecorded(s, c);
        else if (c)
            sc_conn_reply_error(c, VT_ERR_INTERNAL, "job vanished while journaling", 0);
        return;
    }
    if (it->defer && j->phase != SC_PH_JOURNAL) {
        deferred_released(s, it);
        return;
    }
    if (it->defer && it->rc == 0)
        it->rc = VT_ERR_UNAVAILABLE; /* never released: its turn did not go out */
    if (it->rc == 0 && it->early && it->dup_of) {
        if (c)
            reply_submit_ok(c, it->dup_of, true);
        end_as_duplicate(s, it->slot, it->dup_of);
        return;
    }
    if (it->rc != 0 && it->early) {
        /* The record of a deferred job failed: it stays deferred (its
         * final record still claims it), and this agent hears no id. */
        j->deferred = 1;
        if (j->final_deferred)
            sc_core_push_final(s, it->slot);
        if (c)
            sc_conn_reply_error(c, VT_ERR_UNAVAILABLE, MSG_NOT_YET, 1000);
        return;
    }
    if (it->rc == 0 && it->dup_of == 0) {
        uint64_t id = j->id;
        j->unacked = 0;
        if (j->phase == SC_PH_JOURNAL) {
            sc_mem_accept(s, it->slot); /* memory jobs pass the memory stage first */
        } else {
            vt_counter_inc(s->m.submitted); /* queued early (sc_agent_release_submits) */
            if (j->final_deferred)
                sc_core_push_final(s, it->slot); /* finished while its submit was on the wire */
        }
        /* Submit and wait (wait_ms): one round trip instead of submit +
         * result. Its final record, if any, is only now handed to the
         * journal, so the conn normally joins the job's waiters. */
        if (c && it->as_dup)
            reply_submit_ok(c, id, true);
        else if (c && (it->early || (c->submit_wait_ms && result_ready(j))))
            sc_agent_reply_job(s, c, j, VT_MSG_RESULT);
        else if (c && c->submit_wait_ms)
            park_for_result(s, c, it->slot, j, c->submit_wait_ms);
        else if (c)
            reply_submit_ok(c, id, false);
        return;
    }
    sc_core_forget(s, it->slot);
    if (!c)
        return;
    if (it->rc == 0) {
        reply_submit_ok(c, it->dup_of, true);
    } else {
        vt_counter_inc(s->m.rej_unavailable);
        sc_conn_reply_error(c, VT_ERR_UNAVAILABLE,
                            "job journal (Redis) write failed; the job was not accepted", 1000);
    }
}

/* ------------------------------------------------------------ job replies */

static void fill_verify(const sc_job *j, vt_verify_summary *v)
{
    v->required = j->verify_k;
    v->passed = j->n_pass;
    v->failed = j->n_fail;
    v->pending = (!vt_job_state_done(j->state) && j->n_pass < j->verify_k) ? j->verify_k - j->n_pass : 0;
}

void sc_agent_reply_job(sched *s, sc_conn *c, sc_job *j, int type)
{
    vt_msg m;
    char id[VT_JOB_ID_MAX + 1];
    sc_job_id_format(j->id, id);
    if (type == VT_MSG_RESULT && j->phase == SC_PH_DONE && j->final_bytes) {
        vt_buf b = {j->final_bytes, j->final_len, j->final_len, 0};
        sc_conn_reply(c, &b);
        return;
    }
    if (type == VT_MSG_STATUS) {
        vt_msg_init(&m, VT_MSG_STATUS_OK);
        vt_msg_status_ok *st = &m.u.status_ok;
        memcpy(st->job_id, id, sizeof id);
        st->state = (vt_job_state)j->state;
        st->submitted_ms = (uint64_t)j->wall_submit_ms;
        st->leased_ms = (uint64_t)j->wall_leased_ms;
        st->computed_ms = (uint64_t)j->wall_computed_ms;
        st->finished_ms = (uint64_t)j->wall_done_ms;
        if (j->result)
            vt_node_id(j->result->worker, st->worker);
        else if (j->state == VT_JOB_LEASED && j->lease_node != SC_NONE)
            vt_node_id(s->nodes[j->lease_node].pk, st->worker);
        st->attempts = j->attempts;
        fill_verify(j, &st->verify);
    } else if (type == VT_MSG_CANCEL) {
        vt_msg_init(&m, VT_MSG_CANCEL_OK);
        memcpy(m.u.cancel_ok.job_id, id, sizeof id);
        m.u.cancel_ok.state = (vt_job_state)j->state;
    } else {
        /* Not done yet (the wait ended first): state only, no outputs. */
        vt_msg_init(&m, VT_MSG_RESULT_OK);
        vt_msg_result_ok *r = &m.u.result_ok;
        memcpy(r->job_id, id, sizeof id);
        r->state = (vt_job_state)(j->phase == SC_PH_FINAL ? VT_JOB_VERIFYING : j->state);
        if (j->phase == SC_PH_FINAL && j->state != VT_JOB_VERIFIED)
            r->state = (vt_job_state)j->state;
        fill_verify(j, &r->verify);
        r->submitted_ms = (uint64_t)j->wall_submit_ms;
        const sc_result *res = j->result;
        if (j->optimistic && j->phase == SC_PH_LIVE && res && res->status == 0 &&
            (j->state == VT_JOB_COMPUTED || j->state == VT_JOB_VERIFYING)) {
            /* delivery=optimistic: the outputs now, unverified (state and
             * verify.pending say so); the receipt comes with the final result. */
            sc_result_outputs(res, r);
            memcpy(r->model_sha256, res->model_sha256, VT_SHA256_BYTES);
            memcpy(r->worker, res->worker, VT_PUBKEY_BYTES);
        }
    }
    sc_conn_reply_msg(c, &m);
}

/* The final record of a deferred job is stored (core lock held): the job
 * is accepted. Or its request token turned out to name a job stored
 * before (a retry after a restart): its agents get that job's id, as for
 * any repeated submit, and this one is forgotten (the journal deletes its
 * record). */
void sc_agent_fresh_done(sched *s, sc_jr_item *it)
{
    sc_job *j = sc_job_at(s, it->slot);
    if (!it->dup_of) {
        j->unacked = 0;
        j->deferred = 0;
        vt_counter_inc(s->m.submitted);
        return;
    }
    end_as_duplicate(s, it->slot, it->dup_of);
}

void sc_agent_journal_deferred(sched *s)
{
    sc_lock(s);
    for (uint32_t slot = 0; slot < s->n_slots; slot++) {
        sc_job *j = sc_job_at(s, slot);
        if (j->id && j->deferred && j->phase == SC_PH_LIVE)
            journal_deferred(s, slot, NULL, false);
    }
    sc_unlock(s);
}

void sc_agent_wait_timeout(sched *s, sc_conn *c)
{
    uint32_t slot = c->job_slot, gen = c->job_gen;
    sc_conn_unpark(s, c);
    sc_job *j = slot != SC_NONE ? sc_job_at(s, slot) : NULL;
    if (j && j->gen == gen && j->unacked) {
        /* No id before a record is durable. A deferred job gets its submit
         * record now; one whose record is being written is waited for. */
        if (j->deferred && j->phase == SC_PH_LIVE)
            journal_deferred(s, slot, c, false);
        else if (atomic_load(&s->jr.redis_ok))
            park_for_result(s, c, slot, j, SC_RECORD_WAIT_MS);
        else
            sc_conn_reply_error(c, VT_ERR_UNAVAILABLE, MSG_NOT_YET, 1000);
    } else if (j && j->gen == gen) {
        sc_agent_reply_job(s, c, j, VT_MSG_RESULT);
    } else {
        sc_conn_reply_error(c, VT_ERR_NOTFOUND, "no such job", 0);
    }
}

/* status/result/cancel of a job no longer in memory: the journal thread read
 * its final record (core lock held). */
void sc_agent_lookup_done(sched *s, sc_jr_item *it)
{
    sc_conn *c = it->conn;
    if (it->rc != 0) {
        if (it->rc == VT_ERR_NOTFOUND)
            sc_conn_reply_error(c, VT_ERR_NOTFOUND, "no such job", 0);
        else
            sc_conn_reply_error(c, VT_ERR_UNAVAILABLE, "job store (Redis) unreachable", 1000);
        return;
    }
    sc_final_view v;
    if (sc_record_decode_final(it->reply, it->reply_len, &v) != 0 ||
        it->agent >= s->n_agents || strcmp(v.agent, s->agents[it->agent].id) != 0) {
        sc_conn_reply_error(c, VT_ERR_NOTFOUND, "no such job", 0);
        return;
    }
    vt_msg m;
    char id[VT_JOB_ID_MAX + 1];
    sc_job_id_format(it->job_id, id);
    switch (it->lookup_type) {
    case VT_MSG_RESULT:
        if (it->bytes) { /* rebuilt by the journal thread */
            vt_buf b = {it->bytes, it->len, it->len, 0};
            sc_conn_reply(c, &b);
        } else {
            vt_log_error(s->log, "journal.record", "job=%s: final record unreadable", id);
            sc_conn_reply_error(c, VT_ERR_INTERNAL, "job record unreadable", 0);
        }
        return;
    case VT_MSG_CANCEL:
        vt_msg_init(&m, VT_MSG_CANCEL_OK);
        memcpy(m.u.cancel_ok.job_id, id, sizeof id);
        m.u.cancel_ok.state = (vt_job_state)v.state;
        break;
    default:
        vt_msg_init(&m, VT_MSG_STATUS_OK);
        memcpy(m.u.status_ok.job_id, id, sizeof id);
        m.u.status_ok.state = (vt_job_state)v.state;
        m.u.status_ok.submitted_ms = v.submitted_ms;
        m.u.status_ok.leased_ms = v.leased_ms;
        m.u.status_ok.computed_ms = v.computed_ms;
        m.u.status_ok.finished_ms = v.finished_ms;
        m.u.status_ok.attempts = v.attempts;
        if (v.has_worker)
            vt_node_id(v.worker, m.u.status_ok.worker);
        m.u.status_ok.verify = v.verify;
        break;
    }
    sc_conn_reply_msg(c, &m);
}

static void jobref(sched *s, sc_conn *c, vt_msg *m)
{
    const vt_msg_job_ref *ref = &m->u.status; /* same shape for all three */
    char agent_id[VT_AGENT_ID_BUFSZ];
    if (!auth(s, c, ref->api_key, agent_id, false))
        return;
    int type = m->type == VT_MSG_STATUS ? VT_MSG_STATUS
               : m->type == VT_MSG_RESULT ? VT_MSG_RESULT
                                          : VT_MSG_CANCEL;
    sc_lock(s);
    uint32_t agent = sc_agent_intern(s, agent_id);
    uint32_t slot;
    sc_job *j = sc_job_find(s, ref->job_id, &slot);
    if (!j || j->unacked || j->agent != agent) { /* unacked covers SC_PH_JOURNAL */
        uint64_t id;
        if (!j && agent != SC_NONE && sc_job_id_parse(ref->job_id, &id) == 0) {
            /* Maybe finished and evicted from memory: ask Redis. */
            sc_jr_item *it = calloc(1, sizeof *it);
            if (it) {
                it->kind = SC_JR_LOOKUP;
                it->job_id = id;
                it->conn = c;
                it->lookup_type = type;
                it->agent = agent;
                sc_journal_push(s, it);
                sc_unlock(s);
                return;
            }
        }
        sc_unlock(s);
        sc_conn_reply_error(c, VT_ERR_NOTFOUND, "no such job", 0);
        return;
    }
    if (type == VT_MSG_CANCEL) {
        if (j->phase == SC_PH_LIVE || j->phase == SC_PH_MEMORY) {
            char id[VT_JOB_ID_MAX + 1];
            sc_job_id_format(j->id, id);
            vt_log_info(s->log, "job.cancel", "job=%s agent=%s state=%s%s", id, agent_id,
                        vt_job_state_name(j->state),
                        j->phase == SC_PH_MEMORY ? " (memory stage)" : "");
            if (j->phase == SC_PH_MEMORY)
                sc_mem_end(s, slot, VT_JOB_CANCELLED, VT_ERR_CANCELLED, "cancelled by the agent");
            else
                sc_core_finish(s, slot, VT_JOB_CANCELLED, VT_ERR_CANCELLED,
                               "cancelled by the agent");
        }
        sc_agent_reply_job(s, c, j, VT_MSG_CANCEL);
    } else if (type == VT_MSG_STATUS) {
        sc_agent_reply_job(s, c, j, VT_MSG_STATUS);
    } else if (result_ready(j) || (ref->wait_ms == 0 && j->phase == SC_PH_LIVE)) {
        sc_agent_reply_job(s, c, j, VT_MSG_RESULT); /* done, optimistic outputs in, or no wait */
    } else {
        /* Long poll; a finished job whose record is still being written
         * waits for that write even when wait_ms is 0. */
        park_for_result(s, c, slot, j, ref->wait_ms);
    }
    sc_unlock(s);
}

/* Transparency-log queries (log_head, log_prove, log_consistency): public,
 * answered from the journal's log under its own lock. 1 when handled. */
static int log_request(sched *s, sc_conn *c, const void *body, size_t len)
{
    uint32_t minor, tl;
    const char *type;
    if (vt_mp_read_envelope(body, len, &minor, &type, &tl, NULL) != 0 || tl < 4 ||
        memcmp(type, "log_", 4) != 0)
        return 0;
    vt_buf out;
    vt_buf_init(&out, 0);
    pthread_mutex_lock(&s->jr.tlog_mu);
    int rv = s->jr.tlog ? vt_log_handle(s->jr.tlog, &s->jr.th, s->key.pk, type, tl, body, len, &out)
                        : VT_ERR_UNAVAILABLE;
    pthread_mutex_unlock(&s->jr.tlog_mu);
    if (rv == 0)
        sc_conn_reply(c, &out);
    else if (rv == VT_ERR_UNAVAILABLE)
        sc_conn_reply_error(c, rv, "transparency log not loaded yet", 1000);
    else
        sc_bad_message(s, c, VT_ERR_PROTO, "unknown log request");
    vt_buf_free(&out);
    return 1;
}

void sc_agent_handle(sc_conn *c, const uint8_t *body, size_t len)
{
    sched *s = c->s;
    vt_msg m;
    vt_errinfo ei = {0};
    int rv = vt_msg_decode(body, len, &m, &ei);
    if (rv != 0) {
        /* Log queries are no vt_msg type, so they land here. Asked only
         * after a failed decode: reading the envelope first walked every
         * submit and result request twice (~4k instructions each). */
        if (!log_request(s, c, body, len))
            sc_bad_message(s, c, rv, vt_errinfo_msg(&ei));
        vt_msg_free(&m);
        return;
    }
    switch (m.type) {
    case VT_MSG_SUBMIT:
        submit(s, c, &m); /* frees m */
        return;
    case VT_MSG_STATUS:
    case VT_MSG_RESULT:
    case VT_MSG_CANCEL:
        jobref(s, c, &m);
        break;
    default:
        sc_bad_message(s, c, VT_ERR_PROTO, "unexpected message type on the agent socket");
        break;
    }
    vt_msg_free(&m);
}
