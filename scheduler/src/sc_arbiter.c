/* sc_arbiter.c - verification policy, verifier choice, disputes, audits and
 * quarantine: the scheduler side of vt_arbiter (arbiter/README.md,
 * "Scheduler hooks"). The library decides; this file carries the decisions
 * out on the job table (core lock held unless said otherwise).
 *
 *   result accepted   sampling coin (after the result, never before), a
 *                     fresh tally, verifiers picked at random; only those
 *                     may lease the task
 *   verdict           tally, vt_arb_decide: more verifiers, deliver, or
 *                     re-execute and quarantine the side that lost
 *   vfetch            audit copies of verified tasks ride along with real
 *                     tasks at --audit-rate; a wrong answer quarantines
 *   quarantine        the node's session ends (hello answers quarantined),
 *                     its unverified results are re-executed
 *
 * Redis (reputation counters, quarantine set, recent-jobs windows) is
 * written by the arbiter thread on its own connection, in pipelined
 * batches; it also polls the quarantine epoch (so `verity release` takes
 * effect) and renders the reputation metrics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"
#include "vt_clock.h"

#define SC_ARB_POLL_MS 1000    /* quarantine epoch poll */
#define SC_PERSIST_POLL_MS 2000 /* Redis persistence settings poll */
#define SC_ARB_METRICS_MS 2000 /* reputation counters for /metrics */
#define SC_ARB_FLUSH_MS 10     /* reputation/quarantine writes at most this often (Redis fsyncs) */

enum sc_arb_kind { OP_RESULT = 1, OP_DECISION, OP_AUDIT, OP_RECENT, OP_QUARANTINE };

struct sc_arb_op {
    int kind;
    uint8_t pk[VT_PUBKEY_BYTES];    /* worker (RESULT, DECISION, RECENT) or verifier (AUDIT) */
    char job_id[VT_JOB_ID_MAX + 1];
    vt_arb_tally tally;             /* DECISION */
    vt_arb_decision d;              /* DECISION */
    bool expected_pass;             /* AUDIT */
    vt_arb_audit_result res;        /* AUDIT */
    char reason[64];                /* QUARANTINE */
    int64_t now_ms;
    sc_arb_op *next;
};

static void op_push(sched *s, sc_arb_op *op)
{
    op->now_ms = vt_wall_ms();
    pthread_mutex_lock(&s->arb.mu);
    if (s->arb.tail)
        s->arb.tail->next = op;
    else
        s->arb.head = op;
    s->arb.tail = op;
    /* Two ops per verified job: waking an already busy thread for each
     * would cost a futex call per op; it takes the whole list next turn. */
    if (s->arb.waiting)
        pthread_cond_signal(&s->arb.cv);
    pthread_mutex_unlock(&s->arb.mu);
}

static sc_arb_op *op_new(int kind, const uint8_t pk[VT_PUBKEY_BYTES], uint64_t job_id)
{
    sc_arb_op *op = calloc(1, sizeof *op);
    if (!op)
        return NULL; /* a lost counter, never a lost decision: those act in memory */
    op->kind = kind;
    memcpy(op->pk, pk, VT_PUBKEY_BYTES);
    sc_job_id_format(job_id, op->job_id);
    return op;
}

bool sc_arb_quarantined(const sched *s, const uint8_t pk[VT_PUBKEY_BYTES])
{
    return vt_arb_qset_has(&s->arb.qset, pk);
}

/* ------------------------------------------------------------ quarantine */

static void drop_pick(sc_job *j, const uint8_t pk[VT_PUBKEY_BYTES])
{
    for (unsigned i = 0; i < j->n_vpick; i++)
        if (memcmp(j->vpick[i], pk, VT_PUBKEY_BYTES) == 0) {
            memmove(j->vpick[i], j->vpick[i + 1], (size_t)(j->n_vpick - i - 1) * VT_PUBKEY_BYTES);
            j->n_vpick--;
            return;
        }
}

static void exclude_worker(sc_job *j, const uint8_t pk[VT_PUBKEY_BYTES])
{
    for (unsigned i = 0; i < j->n_excl && i < SC_EXCL_MAX; i++)
        if (memcmp(j->excl[i], pk, VT_PUBKEY_BYTES) == 0)
            return;
    if (j->n_excl < SC_EXCL_MAX)
        memcpy(j->excl[j->n_excl++], pk, VT_PUBKEY_BYTES);
}

/* The node is in the quarantine set now: end its session (parked fetches
 * are told to hello again, which answers quarantined), re-execute results
 * of it that are not delivered yet, and forget it as a picked verifier.
 * Rare, so the scans are fine. */
static void kick(sched *s, const uint8_t pk[VT_PUBKEY_BYTES])
{
    for (uint32_t i = 0; i < s->n_nodes; i++)
        if (s->nodes[i].used && s->nodes[i].alive &&
            memcmp(s->nodes[i].pk, pk, VT_PUBKEY_BYTES) == 0)
            sc_core_node_dead(s, i, "quarantined");
    for (uint32_t sl = 0; sl < s->n_slots; sl++) {
        sc_job *j = sc_job_at(s, sl);
        if (!j->id || j->phase != SC_PH_LIVE)
            continue;
        drop_pick(j, pk);
        if (j->result && memcmp(j->result->worker, pk, VT_PUBKEY_BYTES) == 0 &&
            (j->state == VT_JOB_COMPUTED || j->state == VT_JOB_VERIFYING)) {
            exclude_worker(j, pk);
            sc_lane_remove(s, sl); /* a COMPUTED job sits in the verify lane */
            sc_core_requeue(s, sl, "worker quarantined");
        }
    }
}

static void quarantine(sched *s, const uint8_t pk[VT_PUBKEY_BYTES], const char *job_id,
                       const char *why)
{
    if (vt_arb_qset_has(&s->arb.qset, pk))
        return;
    if (vt_arb_qset_add(&s->arb.qset, pk) != 0)
        vt_log_error(s->log, "node.quarantine_failed", "out of memory");
    char id[VT_NODE_ID_SHORT + 1];
    vt_node_id_short(pk, id);
    vt_log_warn(s->log, "node.quarantined", "node=%s job=%s why=%s", id, job_id, why);
    kick(s, pk);
}

/* A node proved faulty outside any verdict: a results or verdicts batch on
 * its session whose signature does not verify under its key (a worker that
 * signs with another key, or a corrupted node). Its batch is dropped by the
 * caller; here it is quarantined like a convicted worker, so its leases go
 * back to the queue and its undelivered results are re-executed. Core lock
 * held. */
void sc_arb_quarantine_node(sched *s, const uint8_t pk[VT_PUBKEY_BYTES], const char *why)
{
    if (vt_arb_qset_has(&s->arb.qset, pk))
        return;
    sc_arb_op *op = op_new(OP_QUARANTINE, pk, 0);
    if (op) {
        snprintf(op->reason, sizeof op->reason, "%s", why);
        op_push(s, op);
    }
    quarantine(s, pk, "-", why);
}

/* ------------------------------------------------------- verifier choice */

static const char *worker_operator(const sched *s, const uint8_t pk[VT_PUBKEY_BYTES])
{
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        const sc_node *n = &s->nodes[i];
        if (n->used && n->role == SC_LANE_COMPUTE && memcmp(n->pk, pk, VT_PUBKEY_BYTES) == 0)
            return n->operator_name;
    }
    return NULL; /* gone: only the key check applies */
}

bool sc_arb_picked(const sc_job *j, const uint8_t pk[VT_PUBKEY_BYTES])
{
    for (unsigned i = 0; i < j->n_vpick; i++)
        if (memcmp(j->vpick[i], pk, VT_PUBKEY_BYTES) == 0)
            return true;
    return false;
}

/* Keep picks that can still answer; pick more until vneed are picked.
 * Returns true when a pick was added. */
static bool pick(sched *s, sc_job *j)
{
    if (!j->result || !j->tally)
        return false;
    for (unsigned i = 0; i < j->n_vpick;) {
        bool ok = false;
        for (uint32_t k = 0; k < s->n_nodes && !ok; k++) {
            const sc_node *n = &s->nodes[k];
            ok = n->used && n->alive && n->role == SC_LANE_VERIFY &&
                 memcmp(n->pk, j->vpick[i], VT_PUBKEY_BYTES) == 0 &&
                 !vt_arb_qset_has(&s->arb.qset, n->pk);
        }
        if (ok)
            i++;
        else
            drop_pick(j, j->vpick[i]);
    }
    uint32_t want = j->vneed < SC_EXCL_MAX ? j->vneed : SC_EXCL_MAX;
    if (j->n_vpick >= want)
        return false;
    vt_arb_candidate *cand = calloc(s->n_nodes ? s->n_nodes : 1, sizeof *cand);
    uint32_t *idx = calloc(s->n_nodes ? s->n_nodes : 1, sizeof *idx);
    uint32_t *map = calloc(s->n_nodes ? s->n_nodes : 1, sizeof *map);
    uint8_t(*excl)[VT_PUBKEY_BYTES] = calloc(VT_ARB_MAX_PANEL + SC_EXCL_MAX, VT_PUBKEY_BYTES);
    bool added = false;
    if (!cand || !idx || !map || !excl)
        goto out;
    size_t nc = 0;
    for (uint32_t k = 0; k < s->n_nodes; k++) {
        const sc_node *n = &s->nodes[k];
        if (!n->used || n->role != SC_LANE_VERIFY || !sc_node_serves(n, j->model))
            continue;
        memcpy(cand[nc].pk, n->pk, VT_PUBKEY_BYTES);
        cand[nc].operator_name = n->operator_name;
        cand[nc].live = n->alive;
        cand[nc].quarantined = vt_arb_qset_has(&s->arb.qset, n->pk);
        map[nc++] = k;
    }
    vt_arb_tally_voters(j->tally, excl);
    size_t ne = j->tally->n;
    for (unsigned i = 0; i < j->n_vpick; i++)
        memcpy(excl[ne++], j->vpick[i], VT_PUBKEY_BYTES);
    uint32_t got = 0;
    const char *wop = s->cfg.verify_same_operator ? NULL : worker_operator(s, j->result->worker);
    if (vt_arb_pick_verifiers(cand, nc, j->result->worker, wop,
                              want - j->n_vpick, (const uint8_t(*)[VT_PUBKEY_BYTES])excl, ne,
                              &s->arb.rng, idx, &got) != 0)
        goto out;
    for (uint32_t i = 0; i < got; i++)
        memcpy(j->vpick[j->n_vpick++], cand[idx[i]].pk, VT_PUBKEY_BYTES);
    added = got > 0;
out:
    free(cand);
    free(idx);
    free(map);
    free(excl);
    return added;
}

void sc_arb_repick(sched *s, sc_job *j)
{
    pick(s, j);
}

/* ------------------------------------------------------- result accepted */

bool sc_arb_computed(sched *s, uint32_t slot)
{
    sc_job *j = sc_job_at(s, slot);
    sc_arb_op *op = op_new(OP_RESULT, j->result->worker, j->id);
    if (op)
        op_push(s, op);
    const vt_job_spec *sp = &j->spec_msg.u.submit.job;
    vt_arb_policy pol;
    vt_errinfo ei = {0};
    if (j->verify_k == 0)
        return false;
    if (vt_arb_policy_resolve(sp->verify, sp->delivery, SC_EXCL_MAX, &pol, &ei) != 0) {
        pol.verify.mode = VT_VERIFY_FULL; /* checked at submit; never verify less */
        pol.verify.k = j->verify_k;
    }
    /* The coin is thrown now, after the result is in: the worker could not
     * know while computing whether this job would be checked. */
    if (!vt_arb_should_verify(&pol.verify, &s->arb.rng)) {
        j->verify_k = 0; /* the summary and receipt say: not verified (sampled) */
        return false;
    }
    j->tally = calloc(1, sizeof *j->tally);
    if (!j->tally) {
        j->verify_k = 0;
        return false;
    }
    vt_arb_tally_init(j->tally);
    j->vneed = j->verify_k;
    j->n_vpick = 0;
    pick(s, j);
    return true;
}

/* Answer every agent parked on the job with what it has now (the final
 * result, or delivery=optimistic's early one). */
void sc_job_wake_waiters(sched *s, sc_job *j)
{
    while (j->waiters) {
        sc_conn *c = j->waiters;
        j->waiters = c->next_waiter;
        c->next_waiter = NULL;
        sc_conn_unpark(s, c);
        sc_agent_reply_job(s, c, j, VT_MSG_RESULT);
    }
}

/* ----------------------------------------------------------------- audits */

/* Fill a with an owned copy of task t (its arrays and strings in one
 * block); a's previous copy is freed. false on NOMEM (a left empty). */
static bool src_fill(sc_audit_src *a, const vt_wire_task *t)
{
    size_t strs = 0;
    for (uint32_t i = 0; i < t->n_stop; i++)
        strs += strlen(t->stop[i]) + 1;
    size_t size = (size_t)t->n_prompt * 4 + (size_t)t->n_output * 4 +
                  (size_t)t->n_layers * VT_DIGEST_BYTES + t->n_stop * sizeof(char *) + strs;
    free(a->blob);
    memset(a, 0, sizeof *a);
    uint8_t *blob = malloc(size ? size : 1);
    if (!blob)
        return false;
    a->blob = blob;
    a->task = *t;
    /* pointer arrays first: they need the strictest alignment */
    char **stop = (char **)blob;
    uint8_t *p = blob + t->n_stop * sizeof(char *);
    if (t->n_prompt)
        memcpy(p, t->prompt, (size_t)t->n_prompt * 4);
    a->task.prompt = (const int32_t *)p;
    p += (size_t)t->n_prompt * 4;
    if (t->n_output)
        memcpy(p, t->output, (size_t)t->n_output * 4);
    a->task.output = (const int32_t *)p;
    p += (size_t)t->n_output * 4;
    if (t->n_layers)
        memcpy(p, t->layer_digests, (size_t)t->n_layers * VT_DIGEST_BYTES);
    a->task.layer_digests = p;
    p += (size_t)t->n_layers * VT_DIGEST_BYTES;
    for (uint32_t i = 0; i < t->n_stop; i++) {
        size_t l = strlen(t->stop[i]) + 1;
        memcpy(p, t->stop[i], l);
        stop[i] = (char *)p;
        p += l;
    }
    a->task.stop = (const char *const *)stop;
    a->task.embedding = NULL;
    a->task.n_embedding = 0;
    memcpy(a->seen[a->n_seen++], t->worker, VT_PUBKEY_BYTES);
    return true;
}

/* Keep an owned copy of a task that just ended verified: audits copy it. */
static void add_source(sched *s, const sc_job *j)
{
    const sc_result *r = j->result;
    const vt_job_spec *sp = &j->spec_msg.u.submit.job;
    if (!r || s->cfg.audit_rate <= 0 || sp->kind == VT_KIND_EMBED) /* audits are generate tasks */
        return;
    vt_wire_task t;
    memset(&t, 0, sizeof t);
    sc_job_id_format(j->id, t.job_id);
    memcpy(t.model_sha256, s->models[j->model].sha256, VT_SHA256_BYTES);
    t.prompt = sp->prompt_tokens;
    t.n_prompt = sp->n_prompt_tokens;
    t.output = r->tokens;
    t.n_output = r->n_tokens;
    t.sampling = sp->sampling;
    t.max_tokens = sp->max_tokens;
    t.stop = sp->stop;
    t.n_stop = sp->n_stop;
    t.stop_reason = r->stop_reason;
    memcpy(t.trace_digest, r->trace_digest, VT_DIGEST_BYTES);
    t.n_layers = r->n_layers;
    t.layer_digests = r->layer_digests;
    memcpy(t.worker, r->worker, VT_PUBKEY_BYTES);
    sc_audit_src *a = &s->arb.src[s->arb.src_next];
    s->arb.src_next = (s->arb.src_next + 1) % SC_AUDIT_SRC;
    if (!src_fill(a, &t))
        return;
    for (uint32_t i = 0; j->tally && i < j->tally->n && a->n_seen <= SC_MAX_VERDICTS; i++)
        memcpy(a->seen[a->n_seen++], j->tally->votes[i].verifier, VT_PUBKEY_BYTES);
    a->used = true;
}

static bool saw(const sc_audit_src *a, const uint8_t pk[VT_PUBKEY_BYTES])
{
    for (uint32_t i = 0; i < a->n_seen; i++)
        if (memcmp(a->seen[i], pk, VT_PUBKEY_BYTES) == 0)
            return true;
    return false;
}

static bool node_serves_sha(const sched *s, const sc_node *node, const uint8_t sha[VT_SHA256_BYTES])
{
    for (uint32_t i = 0; i < node->n_models; i++)
        if (memcmp(s->models[node->models[i]].sha256, sha, VT_SHA256_BYTES) == 0)
            return true;
    return false;
}

/* Drop the re-checks handed out by the previous call: their tasks were
 * encoded into that reply already. */
static void recheck_compact(sched *s)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < s->arb.n_recheck; i++) {
        if (!s->arb.recheck[i].used) {
            free(s->arb.recheck[i].blob);
            continue;
        }
        if (k != i)
            s->arb.recheck[k] = s->arb.recheck[i];
        k++;
    }
    for (uint32_t i = k; i < s->arb.n_recheck; i++)
        memset(&s->arb.recheck[i], 0, sizeof s->arb.recheck[i]);
    s->arb.n_recheck = k;
}

/* A pending re-check this verifier may take (it did not compute or judge
 * the job), or NULL. */
static sc_audit_src *take_recheck(sched *s, const sc_node *node)
{
    for (uint32_t i = 0; i < s->arb.n_recheck; i++) {
        sc_audit_src *a = &s->arb.recheck[i];
        if (a->used && !saw(a, node->pk) && node_serves_sha(s, node, a->task.model_sha256))
            return a;
    }
    return NULL;
}

/* For each real task in the batch append at most one extra task: a pending
 * re-check of a quarantined worker's delivered job if there is one this
 * verifier may take and it asked for more tasks than it got, else, with
 * probability --audit-rate, an audit copy of
 * a verified task this verifier had nothing to do with: half untouched
 * (must pass), half corrupted (must fail). Fresh task and lease ids, so
 * either looks like any task. Returns the new task count; the audits'
 * owned buffers are in audits[0..*n_audits) (free after sending). */
uint32_t sc_arb_add_audits(sched *s, const sc_conn *c, vt_wire_task *tasks, uint32_t n,
                           uint32_t cap, vt_arb_audit *audits, uint32_t *n_audits)
{
    *n_audits = 0;
    const sc_node *node = &s->nodes[c->node];
    uint32_t real = n;
    recheck_compact(s);
    for (uint32_t i = 0; i < real && n < cap; i++) {
        sc_audit_out *o = NULL;
        for (uint32_t k = 0; k < SC_AUDIT_OUT && !o; k++)
            if (!s->arb.out[k].lease_id)
                o = &s->arb.out[k];
        if (!o)
            break;
        /* re-checks only fill room the verifier asked for; audits must not
         * depend on load, so they ride along regardless */
        sc_audit_src *src = n < c->want ? take_recheck(s, node) : NULL;
        bool recheck = src != NULL;
        if (!src) {
            if (s->cfg.audit_rate <= 0 || !vt_arb_audit_due(s->cfg.audit_rate, &s->arb.rng))
                continue;
            uint32_t start = vt_arb_rng_below(&s->arb.rng, SC_AUDIT_SRC);
            for (uint32_t k = 0; k < SC_AUDIT_SRC && !src; k++) {
                sc_audit_src *a = &s->arb.src[(start + k) % SC_AUDIT_SRC];
                if (a->used && !saw(a, node->pk) &&
                    node_serves_sha(s, node, a->task.model_sha256))
                    src = a;
            }
            if (!src)
                continue;
        }
        bool corrupt = !recheck && vt_arb_rng_chance(&s->arb.rng, 0.5);
        vt_arb_audit *a = &audits[*n_audits];
        if (vt_arb_audit_make(&src->task, corrupt, 0, &s->arb.rng, a) != 0)
            continue;
        (*n_audits)++;
        if (recheck)
            src->used = false; /* handed out; its copy is freed on the next call */
        a->task.lease_id = ++s->next_lease;
        a->task.task_id = a->task.lease_id;
        a->task.lease_ms = (uint32_t)s->cfg.lease_ms;
        o->lease_id = a->task.lease_id;
        o->task_id = a->task.task_id;
        o->deadline_ms = vt_mono_ms() + 2 * (uint64_t)s->cfg.lease_ms;
        o->node = c->node;
        o->node_gen = node->gen;
        o->expected_pass = a->expected_pass;
        o->recheck = recheck;
        memcpy(o->job_id, src->task.job_id, sizeof o->job_id);
        tasks[n++] = a->task;
    }
    return n;
}

static sc_audit_out *audit_find(sched *s, uint64_t lease_id, uint32_t node)
{
    if (!lease_id)
        return NULL;
    for (uint32_t k = 0; k < SC_AUDIT_OUT; k++) {
        sc_audit_out *o = &s->arb.out[k];
        if (o->lease_id == lease_id && o->node == node && s->nodes[node].gen == o->node_gen)
            return o;
    }
    return NULL;
}

bool sc_arb_audit_lease(sched *s, uint64_t lease_id, uint32_t node)
{
    sc_audit_out *o = audit_find(s, lease_id, node);
    if (o)
        o->deadline_ms = vt_mono_ms() + 2 * (uint64_t)s->cfg.lease_ms;
    return o != NULL;
}

bool sc_arb_audit_verdict(sched *s, uint32_t node, const uint8_t pk[VT_PUBKEY_BYTES],
                          const vt_wire_verdict *v)
{
    sc_audit_out *o = audit_find(s, v->lease_id, node);
    if (!o || o->task_id != v->task_id)
        return false;
    if (o->recheck) {
        /* The job was delivered long ago: nothing to undo, but the
         * operator learns whether the quarantined worker's result holds. */
        char vid[VT_NODE_ID_SHORT + 1];
        vt_node_id_short(pk, vid);
        vt_log_event(s->log, v->pass ? VT_LOG_INFO : VT_LOG_WARN, "job.recheck",
                     "job=%s verifier=%s result=%s fault=%s pos=%u", o->job_id, vid,
                     v->pass ? "pass" : "fail", vt_fault_name(v->fault), v->first_divergence);
        memset(o, 0, sizeof *o);
        return true;
    }
    vt_arb_audit_result res = vt_arb_audit_judge(o->expected_pass, v->pass);
    sc_arb_op *op = calloc(1, sizeof *op);
    if (op) {
        op->kind = OP_AUDIT;
        memcpy(op->pk, pk, VT_PUBKEY_BYTES);
        memcpy(op->job_id, o->job_id, sizeof op->job_id);
        op->expected_pass = o->expected_pass;
        op->res = res;
        op_push(s, op);
    }
    char id[VT_NODE_ID_SHORT + 1];
    vt_node_id_short(pk, id);
    vt_log_event(s->log, res == VT_ARB_AUDIT_OK ? VT_LOG_DEBUG : VT_LOG_WARN, "audit.judged",
                 "verifier=%s job=%s expected=%s got=%s result=%s", id, o->job_id,
                 o->expected_pass ? "pass" : "fail", v->pass ? "pass" : "fail",
                 res == VT_ARB_AUDIT_OK ? "ok" : "lies");
    char job[VT_JOB_ID_MAX + 1];
    memcpy(job, o->job_id, sizeof job);
    memset(o, 0, sizeof *o);
    if (res == VT_ARB_VERIFIER_LIES)
        quarantine(s, pk, job,
                   v->pass ? "audit: passed a corrupted task" : "audit: failed an honest task");
    return true;
}

/* ---------------------------------------------------------------- verdicts */

static void queue_decision(sched *s, const sc_job *j, const vt_arb_decision *d)
{
    sc_arb_op *op = op_new(OP_DECISION, j->result->worker, j->id);
    if (!op)
        return;
    op->tally = *j->tally;
    op->d = *d;
    op_push(s, op);
}

void sc_arb_verdict(sched *s, uint32_t slot, uint32_t node, const vt_wire_verdict *v)
{
    sc_job *j = sc_job_at(s, slot);
    const sc_node *n = &s->nodes[node];
    char id[VT_JOB_ID_MAX + 1];
    sc_job_id_format(j->id, id);
    drop_pick(j, n->pk);
    if (!j->tally || !j->result) {
        sc_core_requeue(s, slot, "verification state lost");
        return;
    }
    if (vt_arb_tally_add(j->tally, n->pk, v->pass, v->fault) != 0) {
        /* a second vote of one key, or a full tally: not counted */
        sc_core_requeue_verify(s, slot);
        return;
    }
    if (v->pass)
        j->n_pass++;
    else
        j->n_fail++;
    vt_arb_decision d;
    uint32_t k = j->verify_k ? j->verify_k : 1;
    if (vt_arb_decide(j->tally, k, (uint32_t)s->cfg.max_panel, &d) != 0 &&
        vt_arb_decide(j->tally, k, 0, &d) != 0) {
        sc_core_finish(s, slot, VT_JOB_FAILED, VT_ERR_INTERNAL, "verification decision failed");
        return;
    }
    char wid[VT_NODE_ID_SHORT + 1];
    vt_node_id_short(j->result->worker, wid);
    if (!v->pass)
        vt_log_warn(s->log, "job.verify_failed",
                    "job=%s worker=%s verifier=%s fault=%s pos=%u outcome=%s need=%u", id, wid,
                    n->idshort, vt_fault_name(v->fault), v->first_divergence,
                    vt_arb_outcome_name(d.outcome), d.need);
    switch (d.outcome) {
    case VT_ARB_PENDING:
    case VT_ARB_NEED_TIEBREAK:
        j->vneed = (uint8_t)(d.need < 255 ? d.need : 255);
        pick(s, j);
        sc_core_requeue_verify(s, slot);
        return;
    case VT_ARB_VERIFIED: {
        queue_decision(s, j, &d);
        uint8_t losers[VT_ARB_MAX_PANEL][VT_PUBKEY_BYTES];
        uint32_t nl = 0;
        for (uint32_t i = 0; i < d.n_overruled; i++)
            memcpy(losers[nl++], j->tally->votes[d.overruled[i]].verifier, VT_PUBKEY_BYTES);
        add_source(s, j);
        sc_core_finish(s, slot, VT_JOB_VERIFIED, 0, NULL);
        for (uint32_t i = 0; i < nl; i++)
            quarantine(s, losers[i], id, "failed a result the panel verified");
        return;
    }
    case VT_ARB_WORKER_FAULTY: {
        queue_decision(s, j, &d);
        vt_counter_inc(s->m.verify_failures);
        uint8_t worker[VT_PUBKEY_BYTES], losers[VT_ARB_MAX_PANEL][VT_PUBKEY_BYTES];
        memcpy(worker, j->result->worker, VT_PUBKEY_BYTES);
        uint32_t nl = 0;
        for (uint32_t i = 0; i < d.n_overruled; i++)
            memcpy(losers[nl++], j->tally->votes[d.overruled[i]].verifier, VT_PUBKEY_BYTES);
        for (uint32_t i = 0; i < s->n_nodes; i++)
            if (s->nodes[i].used && memcmp(s->nodes[i].pk, worker, VT_PUBKEY_BYTES) == 0)
                s->nodes[i].verify_failed++;
        vt_log_warn(s->log, "job.worker_faulty", "job=%s worker=%s capped=%s panel=%u", id, wid,
                    d.capped ? "yes" : "no", d.panel);
        /* Never deliver this result: re-execute elsewhere, fresh tally. */
        exclude_worker(j, worker);
        sc_core_requeue(s, slot, "verification failed");
        if (d.quarantine_worker && !d.capped) {
            quarantine(s, worker, id, "result failed by the verification panel");
            sc_arb_op *op = op_new(OP_RECENT, worker, j->id);
            if (op)
                op_push(s, op);
        }
        for (uint32_t i = 0; i < nl && !d.capped; i++)
            quarantine(s, losers[i], id, "passed a result the panel failed");
        return;
    }
    }
}

/* No verifier came to decide an open dispute within --nomodel-wait-ms: it
 * counts as capped (arbiter/README.md): the result is contested, so it is
 * not delivered but re-executed elsewhere, and nobody is quarantined.
 * Returns false when there is no dispute (the caller fails the job). */
bool sc_arb_undecided(sched *s, uint32_t slot)
{
    sc_job *j = sc_job_at(s, slot);
    if (!j->tally || j->tally->n_fail == 0 || !j->result)
        return false;
    char id[VT_JOB_ID_MAX + 1], wid[VT_NODE_ID_SHORT + 1];
    sc_job_id_format(j->id, id);
    vt_node_id_short(j->result->worker, wid);
    vt_log_warn(s->log, "job.dispute_undecided",
                "job=%s worker=%s passes=%u fails=%u why=no verifier left to break the tie; "
                "re-executing, nobody quarantined",
                id, wid, j->tally->n_pass, j->tally->n_fail);
    exclude_worker(j, j->result->worker);
    sc_lane_remove(s, slot);
    sc_core_requeue(s, slot, "dispute undecided");
    return true;
}

/* ------------------------------------------------------------------ ticker */

void sc_arb_tick(sched *s, uint64_t now_ms)
{
    for (uint32_t k = 0; k < SC_AUDIT_OUT; k++)
        if (s->arb.out[k].lease_id && s->arb.out[k].deadline_ms < now_ms)
            memset(&s->arb.out[k], 0, sizeof s->arb.out[k]); /* unanswered: no verdict */
    /* Jobs waiting in a verify lane whose picks went away (death,
     * quarantine) or that found too few verifiers: pick again. The oldest
     * few per model, a few times a second (each check scans the node
     * table under the core lock), so the pass stays bounded. */
    if (now_ms < s->arb.next_repick_ms)
        return;
    s->arb.next_repick_ms = now_ms + 200;
    bool added = false;
    for (uint32_t m = 0; m < s->n_models; m++) {
        if (!s->models[m].used)
            continue;
        sc_lane *l = &s->models[m].lane[SC_LANE_VERIFY];
        uint32_t sl = l->fifo_head;
        for (int i = 0; i < 32 && sl != SC_NONE; i++) {
            sc_job *j = sc_job_at(s, sl);
            if (j->tally)
                added |= pick(s, j); /* drops dead or quarantined picks, adds new ones */
            sl = j->fifo_next;
        }
    }
    if (added)
        sc_core_dispatch(s, SC_LANE_VERIFY);
}

/* ----------------------------------------------------------- arbiter thread */

static int reload_quarantine(sched *s, vt_errinfo *ei)
{
    vt_arb_qinfo *q = NULL;
    size_t n = 0;
    int rv = vt_arb_store_load_quarantined(s->arb.r, &q, &n, ei);
    if (rv)
        return rv;
    sc_lock(s);
    rv = vt_arb_qset_assign(&s->arb.qset, q, n);
    for (size_t i = 0; rv == 0 && i < n; i++)
        for (uint32_t k = 0; k < s->n_nodes; k++)
            if (s->nodes[k].used && s->nodes[k].alive &&
                memcmp(s->nodes[k].pk, q[i].pk, VT_PUBKEY_BYTES) == 0) {
                kick(s, q[i].pk);
                break;
            }
    sc_unlock(s);
    free(q);
    return rv;
}

/* One flush: the ops' counters and recent-job ids gathered (one HINCRBY
 * per node and counter, one LPUSH + LTRIM per list, instead of five
 * commands per verified job: vt_arbiter.h, "gathering"), quarantines as
 * they come, all in one pipeline. g is the arbiter thread's, empty
 * between flushes. */
static int write_ops(sched *s, vt_arb_gather *g, sc_arb_op *ops, vt_errinfo *ei)
{
    size_t nq = 0;
    int rv = 0;
    uint32_t window = (uint32_t)s->cfg.recent_window;
    vt_redis *r = s->arb.r;
    for (sc_arb_op *op = ops; op && rv == 0; op = op->next) {
        switch (op->kind) {
        case OP_RESULT:
            rv = vt_arb_gather_result(g, op->pk, op->job_id, window, ei);
            break;
        case OP_DECISION:
            rv = vt_arb_gather_decision(g, r, op->pk, op->job_id, &op->tally, &op->d, op->now_ms,
                                        &nq, ei);
            break;
        case OP_AUDIT:
            rv = vt_arb_gather_audit(g, r, op->pk, op->job_id, op->expected_pass, op->res,
                                     op->now_ms, &nq, ei);
            break;
        case OP_QUARANTINE:
            rv = vt_arb_store_queue_quarantine(r, op->pk, op->reason, op->now_ms, &nq, ei);
            break;
        default:
            break;
        }
    }
    /* What was gathered before an error is written, as the per-op
     * commands queued before it were. */
    int qv = vt_arb_gather_queue(g, r, &nq, rv ? NULL : ei);
    rv = rv ? rv : qv;
    if (nq) {
        vt_errinfo fei = {0};
        int frv = vt_arb_store_flush(r, nq, &fei);
        if (frv && rv == 0) {
            rv = frv;
            *ei = fei;
        }
    }
    return rv;
}

/* A delivered job's verification task, rebuilt from the receipt in its
 * final record (arbiter thread, its own connection). Generate jobs only. */
static bool recheck_load(sched *s, const char *job_id, sc_audit_src *a)
{
    uint64_t id;
    if (sc_job_id_parse(job_id, &id) != 0)
        return false;
    char key[64];
    snprintf(key, sizeof key, SC_JOURNAL_KEYPREFIX "job:%016llx", (unsigned long long)id);
    redisReply *rep = NULL;
    vt_errinfo ei = {0};
    if (vt_redis_command(s->arb.r, &rep, &ei, "GET %s", key) != 0)
        return false;
    bool ok = false, have_rf = false;
    sc_final_view v;
    vt_msg m;
    vt_msg_init(&m, VT_MSG_RESULT_OK);
    vt_receipt_file rf;
    const uint8_t *rc;
    size_t rc_len;
    if (rep && rep->type == REDIS_REPLY_STRING &&
        sc_record_decode_final((const uint8_t *)rep->str, (size_t)rep->len, &v) == 0 &&
        sc_record_receipt_of(&v, &rc, &rc_len, &m) == 0 &&
        vt_receipt_decode(rc, rc_len, &rf, &ei) == 0) {
        have_rf = true;
        const vt_receipt *r = &rf.r;
        if (r->result.n_embedding == 0 && r->result.status == 0) {
            vt_wire_task t;
            memset(&t, 0, sizeof t);
            snprintf(t.job_id, sizeof t.job_id, "%s", job_id);
            memcpy(t.model_sha256, r->model_sha256, VT_SHA256_BYTES);
            t.prompt = r->prompt;
            t.n_prompt = r->n_prompt;
            t.output = r->result.tokens;
            t.n_output = r->result.n_tokens;
            t.sampling = r->sampling;
            t.max_tokens = r->max_tokens;
            t.stop = r->stop;
            t.n_stop = r->n_stop;
            t.stop_reason = r->result.stop_reason;
            memcpy(t.trace_digest, r->result.trace_digest, VT_DIGEST_BYTES);
            t.n_layers = r->result.n_layers;
            t.layer_digests = r->result.layer_digests;
            memcpy(t.worker, r->worker.node_pk, VT_PUBKEY_BYTES);
            ok = src_fill(a, &t);
            for (uint32_t i = 0; ok && i < r->n_verdicts && a->n_seen <= SC_MAX_VERDICTS; i++)
                memcpy(a->seen[a->n_seen++], r->verdicts[i].att.node_pk, VT_PUBKEY_BYTES);
            a->used = ok;
        }
    }
    if (have_rf)
        vt_receipt_file_free(&rf);
    vt_msg_free(&m);
    freeReplyObject(rep);
    return ok;
}

/* A quarantined worker's recent jobs: those still undelivered were
 * re-executed in memory already (kick); delivered ones are named in the
 * log and queued for a re-check (a replay by a verifier that had nothing
 * to do with them; the verdict is logged as job.recheck). */
static void recent_jobs(sched *s, const sc_arb_op *op)
{
    char(*ids)[VT_JOB_ID_MAX + 1] = NULL;
    size_t n = 0;
    vt_errinfo ei = {0};
    if (vt_arb_store_recent(s->arb.r, op->pk, (uint32_t)s->cfg.recent_window, &ids, &n, &ei) != 0) {
        vt_log_warn(s->log, "arbiter.recent", "cannot read recent jobs: %s", vt_errinfo_msg(&ei));
        return;
    }
    char wid[VT_NODE_ID_SHORT + 1];
    vt_node_id_short(op->pk, wid);
    size_t queued = 0;
    for (size_t i = 0; i < n; i++) {
        vt_log_warn(s->log, "job.suspect", "job=%s worker=%s why=worker quarantined (job %s)",
                    ids[i], wid, op->job_id);
        sc_audit_src tmp;
        memset(&tmp, 0, sizeof tmp);
        if (!recheck_load(s, ids[i], &tmp))
            continue; /* not delivered (re-executed in memory), or not replayable */
        sc_lock(s);
        if (s->arb.n_recheck < SC_RECHECK_MAX) {
            s->arb.recheck[s->arb.n_recheck++] = tmp; /* the copy lives on the heap: moves fine */
            tmp.blob = NULL;
            queued++;
        }
        sc_unlock(s);
        free(tmp.blob);
    }
    if (n)
        vt_log_info(s->log, "job.recheck_queued", "worker=%s recent=%zu queued=%zu", wid, n, queued);
    free(ids);
}

static void render_metrics(sched *s)
{
    size_t cap = (size_t)s->n_nodes + 64;
    vt_arb_node_rep *nodes = NULL;
    uint8_t(*pks)[VT_PUBKEY_BYTES] = NULL;
    vt_arb_rep *reps = NULL;
    size_t n = 0, nq;
    sc_lock(s);
    cap = (size_t)s->n_nodes + s->arb.qset.n;
    nodes = calloc(cap ? cap : 1, sizeof *nodes);
    pks = calloc(cap ? cap : 1, VT_PUBKEY_BYTES);
    reps = calloc(cap ? cap : 1, sizeof *reps);
    if (nodes && pks && reps) {
        for (uint32_t i = 0; i < s->n_nodes; i++) {
            const sc_node *nd = &s->nodes[i];
            if (!nd->used)
                continue;
            memcpy(nodes[n].pk, nd->pk, VT_PUBKEY_BYTES);
            nodes[n].role = nd->role == SC_LANE_COMPUTE ? "worker" : "verifier";
            nodes[n].quarantined = vt_arb_qset_has(&s->arb.qset, nd->pk);
            n++;
        }
        for (size_t i = 0; i < s->arb.qset.n; i++) {
            bool known = false;
            for (size_t k = 0; k < n && !known; k++)
                known = memcmp(nodes[k].pk, s->arb.qset.pk[i], VT_PUBKEY_BYTES) == 0;
            if (!known) {
                memcpy(nodes[n].pk, s->arb.qset.pk[i], VT_PUBKEY_BYTES);
                nodes[n].role = NULL;
                nodes[n].quarantined = true;
                n++;
            }
        }
    }
    nq = s->arb.qset.n;
    sc_unlock(s);
    vt_errinfo ei = {0};
    if (nodes && pks && reps) {
        for (size_t i = 0; i < n; i++)
            memcpy(pks[i], nodes[i].pk, VT_PUBKEY_BYTES);
        if (n == 0 || vt_arb_store_get_reps(s->arb.r, (const uint8_t(*)[VT_PUBKEY_BYTES])pks, n,
                                            reps, &ei) == 0) {
            for (size_t i = 0; i < n; i++)
                nodes[i].rep = reps[i];
            vt_strbuf text = VT_STRBUF_INIT;
            vt_strbuf_printf(&text, "# HELP verity_quarantined_nodes nodes in quarantine\n"
                                    "# TYPE verity_quarantined_nodes gauge\n"
                                    "verity_quarantined_nodes %zu\n",
                             nq);
            vt_arb_render_metrics(&text, nodes, n);
            pthread_mutex_lock(&s->arb.mmu);
            vt_strbuf_free(&s->arb.metrics);
            s->arb.metrics = text;
            pthread_mutex_unlock(&s->arb.mmu);
        }
    }
    free(nodes);
    free(pks);
    free(reps);
}

void sc_arb_metrics(void *arg, vt_strbuf *out)
{
    sched *s = arg;
    pthread_mutex_lock(&s->arb.mmu);
    if (s->arb.metrics.len)
        vt_strbuf_append(out, vt_strbuf_cstr(&s->arb.metrics), s->arb.metrics.len);
    pthread_mutex_unlock(&s->arb.mmu);
}

static void *arb_main(void *arg)
{
    sched *s = arg;
    vt_thread_name("sc-arbiter");
    int64_t epoch = -1;
    long long revocations = -1;
    uint64_t next_poll = 0, next_metrics = 0, last_flush = 0;
    uint64_t next_persist = vt_mono_ms() + SC_PERSIST_POLL_MS; /* the journal says them first */
    vt_arb_gather g; /* the flushes' gatherer: its memory is reused */
    vt_arb_gather_init(&g);
    for (;;) {
        pthread_mutex_lock(&s->arb.mu);
        /* Idle: sleep until op_push signals (or 200 ms for the polls).
         * Ops queued: write them SC_ARB_FLUSH_MS after the last write at
         * the earliest. Every write is an fsync in Redis (appendfsync
         * always); gathered, a flush carries many jobs' counters instead
         * of one or two. Only stop wakes that wait early. */
        long wait_ms = 0;
        bool idle = !s->arb.head;
        if (!s->arb.stop) {
            uint64_t now = vt_mono_ms();
            if (idle)
                wait_ms = 200;
            else if (now < last_flush + SC_ARB_FLUSH_MS)
                wait_ms = (long)(last_flush + SC_ARB_FLUSH_MS - now);
        }
        if (wait_ms > 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += wait_ms * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            s->arb.waiting = idle;
            pthread_cond_timedwait(&s->arb.cv, &s->arb.mu, &ts);
            s->arb.waiting = false;
        }
        sc_arb_op *ops = s->arb.head;
        s->arb.head = s->arb.tail = NULL;
        bool stop = s->arb.stop;
        pthread_mutex_unlock(&s->arb.mu);
        vt_errinfo ei = {0};
        if (ops) {
            last_flush = vt_mono_ms();
            if (vt_redis_broken(s->arb.r))
                vt_redis_reconnect(s->arb.r, &ei);
            if (write_ops(s, &g, ops, &ei) != 0)
                vt_log_error(s->log, "arbiter.redis", "reputation/quarantine write failed: %s",
                             vt_errinfo_msg(&ei));
            for (sc_arb_op *op = ops; op; op = op->next)
                if (op->kind == OP_RECENT)
                    recent_jobs(s, op);
            while (ops) {
                sc_arb_op *next = ops->next;
                free(ops);
                ops = next;
            }
        }
        if (stop)
            break;
        uint64_t now = vt_mono_ms();
        if (now >= next_poll) {
            next_poll = now + SC_ARB_POLL_MS;
            int64_t e = 0;
            memset(&ei, 0, sizeof ei);
            if (vt_redis_broken(s->arb.r))
                vt_redis_reconnect(s->arb.r, &ei);
            if (vt_arb_store_quarantine_epoch(s->arb.r, &e, &ei) == 0 && e != epoch) {
                if (reload_quarantine(s, &ei) == 0) {
                    if (epoch >= 0)
                        vt_log_info(s->log, "quarantine.reloaded", "epoch=%lld nodes=%zu",
                                    (long long)e, s->arb.qset.n);
                    epoch = e;
                }
            }
            /* Node revocations (vt_registry_node_revoke counts them): a
             * revoked node's live session ends within a poll. */
            long long rc = 0;
            if (vt_registry_node_revocations(s->arb.r, &rc, &ei) == 0 && rc != revocations &&
                sc_auth_recheck_nodes(s, s->arb.r) == 0)
                revocations = rc;
        }
        if (now >= next_persist) {
            next_persist = now + SC_PERSIST_POLL_MS;
            sc_journal_persistence_poll(s, s->arb.r);
        }
        if (now >= next_metrics) {
            next_metrics = now + SC_ARB_METRICS_MS;
            render_metrics(s);
        }
    }
    vt_arb_gather_free(&g);
    return NULL;
}

int sc_arb_start(sched *s, vt_errinfo *ei)
{
    sc_arb *a = &s->arb;
    int rv = s->cfg.verify_seed ? vt_arb_rng_seed_hex(&a->rng, s->cfg.verify_seed, ei)
                                : vt_arb_rng_init(&a->rng);
    if (rv)
        return s->cfg.verify_seed ? rv : vt_fail(ei, rv, "random number generator");
    if (s->cfg.verify_seed)
        vt_log_warn(s->log, "arbiter.seeded", "verification choices are repeatable (--verify-seed): "
                                              "test use only");
    vt_arb_qset_init(&a->qset);
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->mmu, NULL);
    pthread_cond_init(&a->cv, NULL);
    a->metrics = (vt_strbuf)VT_STRBUF_INIT;
    rv = vt_redis_connect(&a->r, s->cfg.redis_url, 2000, 5000, ei);
    if (rv && rv != VT_ERR_UNAVAILABLE)
        return rv;
    /* Unreachable Redis is retried by the thread (the journal reports it
     * on /readyz); the quarantine set is loaded at its first poll. */
    if (rv == 0) {
        vt_errinfo qei = {0};
        if (reload_quarantine(s, &qei) != 0)
            vt_log_warn(s->log, "arbiter.quarantine", "not loaded yet: %s", vt_errinfo_msg(&qei));
    }
    if (pthread_create(&a->thread, NULL, arb_main, s) != 0)
        return vt_fail(ei, VT_ERR_INTERNAL, "arbiter thread");
    a->started = true;
    return 0;
}

void sc_arb_stop(sched *s)
{
    sc_arb *a = &s->arb;
    if (a->started) {
        pthread_mutex_lock(&a->mu);
        a->stop = true;
        pthread_cond_signal(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->thread, NULL);
        a->started = false;
    }
    vt_redis_close(a->r);
    a->r = NULL;
    for (uint32_t i = 0; i < SC_AUDIT_SRC; i++) {
        free(a->src[i].blob);
        a->src[i].blob = NULL;
    }
    for (uint32_t i = 0; i < a->n_recheck; i++)
        free(a->recheck[i].blob);
    a->n_recheck = 0;
    vt_arb_qset_free(&a->qset);
    vt_arb_rng_wipe(&a->rng);
    vt_strbuf_free(&a->metrics);
}
