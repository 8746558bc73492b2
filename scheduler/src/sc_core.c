/* sc_core.c - the job lifecycle: accept, lease, dispatch, requeue, finish,
 * and the time-driven work of the ticker. Core lock held throughout.
 *
 *   queued --lease--> leased --result--> computed --vlease--> verifying
 *      ^                 |                                      |
 *      +--(lease expiry, release, node death, failed verdict)---+
 *   any non-done state --> verified | failed | cancelled | expired
 */
#include <stdlib.h>
#include <string.h>

#include "sched.h"
#include "vt_clock.h"

static double secs(uint64_t from_us, uint64_t to_us)
{
    return to_us > from_us ? (double)(to_us - from_us) / 1e6 : 0.0;
}

/* State counts feed the jobs{state} gauges at once (two atomic stores), so
 * a scrape never misses a short-lived state. */
static void set_state(sched *s, sc_job *j, int state)
{
    if (j->phase != SC_PH_JOURNAL && s->n_state[j->state] > 0) {
        s->n_state[j->state]--;
        vt_gauge_set(s->m.jobs_state[j->state], (double)s->n_state[j->state]);
    }
    j->state = (uint8_t)state;
    s->n_state[state]++;
    vt_gauge_set(s->m.jobs_state[state], (double)s->n_state[state]);
}

/* A submit enters the queue: once journaled, or (sc_agent_release_submits)
 * while its journal write is on the wire. */
void sc_core_enqueue(sched *s, uint32_t slot)
{
    sc_job *j = sc_job_at(s, slot);
    j->phase = SC_PH_LIVE;
    if (s->n_queued > 0)
        s->n_queued--; /* counted as queued while journal-pending */
    j->state = VT_JOB_QUEUED;
    s->n_state[VT_JOB_QUEUED]++;
    vt_gauge_set(s->m.jobs_state[VT_JOB_QUEUED], (double)s->n_state[VT_JOB_QUEUED]);
    if (j->deadline_ms)
        sc_th_push(&s->deadlines, j->deadline_ms, slot, j->gen);
    sc_lane_push(s, slot, SC_LANE_COMPUTE);
}

/* A journaled submit enters the queue. */
void sc_core_accept(sched *s, uint32_t slot)
{
    vt_counter_inc(s->m.submitted);
    sc_core_enqueue(s, slot);
}

/* Drop a job whose submit was never acknowledged (its journal write failed,
 * or its request token belongs to a stored job): wherever the early release
 * took it, it leaves every lane, its lease is void (the node's result or
 * verdict is answered stale: no such job), and its slot is freed. Nobody
 * waits on it: the agent has no id, and an unacknowledged job is invisible
 * to status/result/cancel. */
void sc_core_forget(sched *s, uint32_t slot)
{
    sc_job *j = sc_job_at(s, slot);
    if (j->phase == SC_PH_JOURNAL) {
        if (s->n_queued > 0)
            s->n_queued--; /* counted as queued while journal-pending */
    } else {
        sc_lane_remove(s, slot);
        sc_core_void_lease(s, j);
        if (s->n_state[j->state] > 0) {
            s->n_state[j->state]--;
            vt_gauge_set(s->m.jobs_state[j->state], (double)s->n_state[j->state]);
        }
    }
    if (j->phase != SC_PH_FINAL && s->n_active > 0)
        s->n_active--; /* a finished job left the active count already */
    sc_job_release(s, slot);
}

void sc_core_void_lease(sched *s, sc_job *j)
{
    if (!j->lease_id)
        return;
    uint32_t v;
    if (sc_map_get(&s->by_lease, j->lease_id, &v))
        sc_map_del(&s->by_lease, j->lease_id);
    if (j->lease_node != SC_NONE) {
        sc_node *n = &s->nodes[j->lease_node];
        if (n->gen == j->lease_gen && n->leased > 0)
            n->leased--;
    }
    j->lease_id = 0;
    j->lease_node = SC_NONE;
}

static void lease(sched *s, uint32_t slot, sc_job *j, uint32_t node, int lane)
{
    uint64_t now_us = vt_mono_us();
    sc_lane_remove(s, slot);
    j->lease_id = ++s->next_lease;
    j->lease_node = node;
    j->lease_gen = s->nodes[node].gen;
    j->lease_deadline_ms = now_us / 1000 + (uint64_t)s->cfg.lease_ms;
    sc_map_put(&s->by_lease, j->lease_id, slot);
    sc_th_push(&s->leases, j->lease_deadline_ms, slot, (uint32_t)j->lease_id);
    s->nodes[node].leased++;
    if (lane == SC_LANE_COMPUTE) {
        if (j->vtag > s->vtime)
            s->vtime = j->vtag; /* fair share's virtual time (sc_model.c) */
        j->attempts++;
        j->t_leased_us = now_us;
        j->wall_leased_ms = vt_wall_ms();
        vt_histogram_observe(s->m.h_queue, secs(j->t_enqueue_us, now_us));
        set_state(s, j, VT_JOB_LEASED);
        s->dispatched_since_tick++;
    } else {
        if (!j->t_vstart_us)
            j->t_vstart_us = now_us;
        j->task_id = j->task_id ? j->task_id : j->lease_id;
        set_state(s, j, VT_JOB_VERIFYING);
    }
}

/* Back to the compute queue (lease expired, released, node died, failed
 * verification). Bounded: a job that keeps failing ends failed. */
void sc_core_requeue(sched *s, uint32_t slot, const char *why)
{
    sc_job *j = sc_job_at(s, slot);
    sc_core_void_lease(s, j);
    if (j->attempts >= SC_MAX_ATTEMPTS) {
        char id[VT_JOB_ID_MAX + 1];
        sc_job_id_format(j->id, id);
        vt_log_warn(s->log, "job.gave_up", "job=%s attempts=%u last=%s", id, j->attempts, why);
        sc_core_finish(s, slot, VT_JOB_FAILED, VT_ERR_TIMEOUT,
                       "job did not complete after the maximum number of attempts");
        return;
    }
    if (j->result) {
        free(j->result->error_msg);
        free(j->result);
        j->result = NULL;
    }
    sc_job_clear_vrecs(j); /* they were about the result just dropped */
    j->n_pass = 0;
    j->task_id = 0;
    j->t_vstart_us = 0;
    set_state(s, j, VT_JOB_QUEUED);
    sc_lane_push(s, slot, SC_LANE_COMPUTE);
}

/* Verification lease lost: back to the verify lane (result kept). */
void sc_core_requeue_verify(sched *s, uint32_t slot)
{
    sc_job *j = sc_job_at(s, slot);
    sc_core_void_lease(s, j);
    sc_arb_repick(s, j);
    set_state(s, j, VT_JOB_COMPUTED);
    sc_lane_push(s, slot, SC_LANE_VERIFY);
}

/* The job is done: record it, and hand the final record to the journal;
 * waiters are answered once that write is durable. */
void sc_core_finish(sched *s, uint32_t slot, int state, int err, const char *msg)
{
    sc_job *j = sc_job_at(s, slot);
    if (j->phase != SC_PH_LIVE)
        return;
    sc_lane_remove(s, slot);
    sc_core_void_lease(s, j);
    uint64_t now_us = vt_mono_us();
    set_state(s, j, state);
    j->error = err;
    if (msg && !j->error_msg)
        j->error_msg = strdup(msg);
    j->t_done_us = now_us;
    j->wall_done_ms = vt_wall_ms();
    j->phase = SC_PH_FINAL;
    if (s->n_active > 0)
        s->n_active--;
    vt_counter_inc(s->m.finished[state]);
    vt_histogram_observe(s->m.h_e2e, secs(j->t_submit_us, now_us));
    if (state == VT_JOB_VERIFIED && j->t_vstart_us)
        vt_histogram_observe(s->m.h_verify, secs(j->t_computed_us, now_us));
    char id[VT_JOB_ID_MAX + 1];
    sc_job_id_format(j->id, id);
    if (state != VT_JOB_VERIFIED || vt_log_enabled(s->log, VT_LOG_DEBUG))
        vt_log_event(s->log, state == VT_JOB_VERIFIED ? VT_LOG_DEBUG : VT_LOG_INFO, "job.done",
                     "job=%s state=%s err=%s attempts=%u%s%s", id, vt_job_state_name(state),
                     err ? vt_errname(err) : "none", j->attempts, msg ? " msg=" : "",
                     msg ? msg : "");
    if (j->unacked && !j->deferred) {
        /* Its submit record is still on the wire: the final must not reach
         * Redis first (the submit record's SET would overwrite it), nor at all if
         * the submit fails. sc_agent_submit_done pushes it. */
        j->final_deferred = 1;
        return;
    }
    sc_core_push_final(s, slot); /* a deferred job's is its only record */
}

/* Hand a finished job's final record to the journal. */
void sc_core_push_final(sched *s, uint32_t slot)
{
    sc_job *j = sc_job_at(s, slot);
    j->final_deferred = 0;
    sc_jr_item *it = calloc(1, sizeof *it);
#ifdef VT_TEST_FAULTS
    if (it && s->cfg.fault_final_alloc > 0) {
        s->cfg.fault_final_alloc--;
        free(it);
        it = NULL;
    }
#endif
    if (!it && j->deferred) {
        /* No record, and its agents were never given its id: no id now. */
        sc_agent_deferred_unrecorded(s, slot);
        return;
    }
    if (!it) {
        /* Cannot journal an acknowledged job: keep it answerable from
         * memory at least (its submit record stays pending, so a restart
         * runs it again). */
        sc_core_final_journaled(s, slot);
        return;
    }
    it->kind = SC_JR_FINAL;
    it->slot = slot;
    it->gen = j->gen;
    it->job_id = j->id;
    it->fresh = j->deferred;
    if (it->fresh && j->has_token)
        sc_token_rkey(s->agents[j->agent].id, j->token, it->tokkey);
    sc_journal_push(s, it);
}

/* A worker result was accepted for the job's current lease. */
void sc_core_computed(sched *s, uint32_t slot, sc_result *r)
{
    sc_job *j = sc_job_at(s, slot);
    uint64_t now_us = vt_mono_us();
    j->last_result_lease = j->lease_id;
    sc_core_void_lease(s, j);
    if (j->result) {
        free(j->result->error_msg);
        free(j->result);
    }
    j->result = r;
    sc_job_clear_vrecs(j);
    j->t_computed_us = now_us;
    j->wall_computed_ms = vt_wall_ms();
    vt_histogram_observe(s->m.h_compute, secs(j->t_leased_us, now_us));
    if (r->status != 0) {
        sc_core_finish(s, slot, VT_JOB_FAILED, r->status,
                       r->error_msg ? r->error_msg : "the worker reported an error");
        return;
    }
    /* The arbiter decides now whether this result is replayed (verify=none,
     * or sampled:P's coin), and picks the verifiers (sc_arbiter.c). */
    j->n_pass = 0;
    if (!sc_arb_computed(s, slot)) {
        sc_core_finish(s, slot, VT_JOB_VERIFIED, 0, NULL);
        return;
    }
    set_state(s, j, VT_JOB_COMPUTED);
    sc_lane_push(s, slot, SC_LANE_VERIFY);
    if (j->optimistic)
        sc_job_wake_waiters(s, j); /* delivery=optimistic: the result now, the receipt later */
}

/* A verdict for the job's current verification lease. */
void sc_core_verdict(sched *s, uint32_t slot, uint32_t node, const vt_wire_verdict *v,
                     sc_vrec *rec)
{
    sc_job *j = sc_job_at(s, slot);
    sc_node *n = &s->nodes[node];
    if (rec && j->n_vrec < SC_MAX_VERDICTS)
        j->vrec[j->n_vrec++] = rec;
    else
        free(rec);
    j->last_verdict_lease = j->lease_id;
    sc_core_void_lease(s, j);
    if (j->n_verdicts < SC_MAX_VERDICTS) {
        vt_job_verdict *jv = &j->verdicts[j->n_verdicts++];
        memcpy(jv->verifier, n->pk, VT_PUBKEY_BYTES);
        jv->pass = v->pass;
        jv->fault = v->fault;
        jv->first_divergence = v->first_divergence;
    }
    /* Tally, decide, and act on it: more verifiers, deliver, or re-execute
     * and quarantine (sc_arbiter.c, vt_arb_decide). */
    sc_arb_verdict(s, slot, node, v);
}

/* The final record is in Redis: answer everyone waiting, start retention. */
void sc_core_final_journaled(sched *s, uint32_t slot)
{
    sc_job *j = sc_job_at(s, slot);
    j->phase = SC_PH_DONE;
    sc_mem_job_done(s, j); /* remember:true stores the exchange (sc_memory.c) */
    sc_job_wake_waiters(s, j);
    j->done_next = SC_NONE;
    if (s->done_tail != SC_NONE)
        sc_job_at(s, s->done_tail)->done_next = slot;
    else
        s->done_head = slot;
    s->done_tail = slot;
}

/* ------------------------------------------------------------- dispatch */

static bool eligible(const sc_job *j, const sc_node *n, int lane)
{
    if (lane == SC_LANE_COMPUTE) {
        for (unsigned i = 0; i < j->n_excl && i < SC_EXCL_MAX; i++)
            if (memcmp(j->excl[i], n->pk, VT_PUBKEY_BYTES) == 0)
                return false;
        return true;
    }
    /* Only the verifiers the arbiter picked for this result (never the
     * worker, its operator or an earlier voter): an eager poller must not
     * grab its partner's tasks. */
    return sc_arb_picked(j, n->pk);
}

/* Match ready jobs to parked fetches of one lane and answer every fetch
 * that got work with one batch. Among the nodes that serve a job's model,
 * pick the one with the most free capacity left in this round, then the
 * one holding the fewest leases, and fill it up to its free slots before
 * picking the next. */
void sc_core_dispatch(sched *s, int lane)
{
    if (!s->parked[lane])
        return;
    if (lane == SC_LANE_COMPUTE && atomic_load(&s->draining))
        return;
    sc_conn *cand[SC_NODE_CTXS];
    int nc = 0;
    for (sc_conn *c = s->parked[lane]; c && nc < SC_NODE_CTXS; c = c->park_next)
        if (c->want > c->n_batch && s->nodes[c->node].alive)
            cand[nc++] = c;
    if (nc == 0)
        return;
    for (uint32_t m = 0; m < s->n_models; m++) {
        sc_lane *l = &s->models[m].lane[lane];
        if (!s->models[m].used || sc_pq_len(&l->heap) == 0 || l->n_live == 0)
            continue;
        sc_pq_item skipped[32];
        int nskip = 0;
        sc_pq_item top;
        sc_conn *cur = NULL; /* the fetch this round is filling */
        while (sc_pq_peek(&l->heap, &top)) {
            sc_job *j = sc_job_at(s, top.slot);
            /* Fill one fetch up to its free slots before starting the next:
             * fewer, larger batches (one results message, one signature
             * check, one round trip per batch) rather than a turn's jobs
             * dealt out one by one over every parked node. */
            if (cur && cur->n_batch < cur->want && eligible(j, &s->nodes[cur->node], lane)) {
                lease(s, top.slot, j, cur->node, lane);
                cur->batch[cur->n_batch++] = top.slot;
                continue;
            }
            sc_conn *best = NULL;
            bool any = false;
            for (int i = 0; i < nc; i++) {
                sc_conn *c = cand[i];
                if (c->n_batch >= c->want)
                    continue;
                sc_node *n = &s->nodes[c->node];
                if (!sc_node_serves(n, m))
                    continue;
                any = true;
                if (!eligible(j, n, lane))
                    continue;
                if (!best) {
                    best = c;
                    continue;
                }
                uint32_t fr = c->want - c->n_batch, fb = best->want - best->n_batch;
                if (fr > fb || (fr == fb && n->leased < s->nodes[best->node].leased))
                    best = c;
            }
            if (!any)
                break;
            if (!best) {
                /* This job may not go to any parked node (exclusions); look
                 * behind it a little so it does not block the model. */
                sc_pq_pop(&l->heap, &skipped[nskip]);
                sc_job_at(s, top.slot)->heap_pos = -1;
                if (++nskip == 32)
                    break;
                continue;
            }
            lease(s, top.slot, j, best->node, lane);
            best->batch[best->n_batch++] = top.slot;
            cur = best;
        }
        for (int i = 0; i < nskip; i++)
            sc_pq_push(&l->heap, skipped[i].prio, skipped[i].seq, skipped[i].slot);
    }
    for (int i = 0; i < nc; i++)
        if (cand[i]->n_batch > 0)
            sc_node_fetch_reply(s, cand[i]);
}

/* ---------------------------------------------------------------- nodes */

void sc_core_node_dead(sched *s, uint32_t idx, const char *why)
{
    sc_node *n = &s->nodes[idx];
    if (!n->alive)
        return;
    n->alive = false;
    uint64_t now = vt_mono_ms();
    for (uint32_t i = 0; i < n->n_models; i++) {
        sc_lane *l = &s->models[n->models[i]].lane[n->role];
        if (l->n_live > 0 && --l->n_live == 0)
            l->no_node_since_ms = now;
    }
    vt_log_warn(s->log, "node.dead", "node=%s role=%s why=%s leases=%u", n->idshort,
                n->role == SC_LANE_COMPUTE ? "worker" : "verifier", why, n->leased);
    /* Parked requests of a dead session: tell the node to hello again. */
    for (sc_conn *c = s->parked[n->role], *next; c; c = next) {
        next = c->park_next;
        if (c->node == idx) {
            sc_conn_unpark(s, c);
            sc_conn_reply_error(c, VT_ERR_AUTH, "session ended; send hello", 0);
        }
    }
    /* Its leases are void: the work goes elsewhere. Rare, so a scan is fine. */
    if (n->leased > 0) {
        for (uint32_t sl = 0; sl < s->n_slots; sl++) {
            sc_job *j = sc_job_at(s, sl);
            if (j->phase != SC_PH_LIVE || !j->lease_id || j->lease_node != idx ||
                j->lease_gen != n->gen)
                continue;
            if (j->state == VT_JOB_LEASED)
                sc_core_requeue(s, sl, "node died");
            else if (j->state == VT_JOB_VERIFYING)
                sc_core_requeue_verify(s, sl);
        }
    }
    n->leased = 0;
    n->gen++;
}

/* --------------------------------------------------------------- ticker */

static void tick_deadlines(sched *s, uint64_t now, bool *moved)
{
    sc_th_item it;
    while (sc_th_pop_due(&s->deadlines, now, &it)) {
        if (it.slot >= s->n_slots)
            continue;
        sc_job *j = sc_job_at(s, it.slot);
        if (j->gen != it.gen || j->phase != SC_PH_LIVE)
            continue;
        sc_core_finish(s, it.slot, VT_JOB_EXPIRED, VT_ERR_EXPIRED, "job passed its deadline");
        *moved = true;
    }
}

static void tick_leases(sched *s, uint64_t now, bool *moved)
{
    sc_th_item it;
    while (sc_th_pop_due(&s->leases, now, &it)) {
        if (it.slot >= s->n_slots)
            continue;
        sc_job *j = sc_job_at(s, it.slot);
        if (j->phase != SC_PH_LIVE || !j->lease_id || (uint32_t)j->lease_id != it.gen)
            continue; /* that lease is gone */
        if (j->lease_deadline_ms > now) {
            /* Extended by a heartbeat since: re-arm. */
            sc_th_push(&s->leases, j->lease_deadline_ms, it.slot, it.gen);
            continue;
        }
        char id[VT_JOB_ID_MAX + 1];
        sc_job_id_format(j->id, id);
        const char *node = j->lease_node != SC_NONE ? s->nodes[j->lease_node].idshort : "?";
        vt_log_warn(s->log, "lease.expired", "job=%s node=%s state=%s", id, node,
                    vt_job_state_name(j->state));
        vt_counter_inc(s->m.lease_expired);
        if (j->state == VT_JOB_LEASED)
            sc_core_requeue(s, it.slot, "lease expired");
        else
            sc_core_requeue_verify(s, it.slot);
        *moved = true;
    }
}

static void tick_waits(sched *s, uint64_t now)
{
    sc_th_item it;
    while (sc_th_pop_due(&s->waits, now, &it)) {
        int sock = (int)(it.slot >> 24);
        uint32_t idx = it.slot & 0xffffff;
        if (sock >= SC_SOCKS || (int)idx >= s->n_conns[sock])
            continue;
        sc_conn *c = &s->conns[sock][idx];
        if (c->gen != it.gen || !c->parked)
            continue;
        if (c->park_until_ms > now) {
            sc_th_push(&s->waits, c->park_until_ms, it.slot, it.gen);
            continue;
        }
        if (sock == SC_SOCK_AGENT) {
            sc_agent_wait_timeout(s, c);
        } else {
            sc_conn_unpark(s, c);
            sc_node_fetch_reply(s, c); /* empty batch: long poll over */
        }
    }
}

static bool any_eligible(sched *s, const sc_job *j, int lane)
{
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        const sc_node *n = &s->nodes[i];
        if (n->used && n->alive && n->role == lane && sc_node_serves(n, j->model) &&
            eligible(j, n, lane))
            return true;
    }
    return false;
}

static void fail_nomodel(sched *s, uint32_t slot, int lane, bool none_live)
{
    sc_job *j = sc_job_at(s, slot);
    if (lane == SC_LANE_VERIFY && sc_arb_undecided(s, slot))
        return; /* an open dispute no verifier is left to decide: re-executed */
    char hex[65], msg[256];
    vt_hex_encode(s->models[j->model].sha256, 32, hex);
    const char *role = lane == SC_LANE_COMPUTE ? "worker" : "verifier";
    if (none_live)
        snprintf(msg, sizeof msg, "no live %s serves model %.16s... (waited %lld ms)", role, hex,
                 (long long)s->cfg.nomodel_wait_ms);
    else if (lane == SC_LANE_COMPUTE)
        snprintf(msg, sizeof msg,
                 "no live worker serves model %.16s... other than those whose results failed "
                 "verification (waited %lld ms)",
                 hex, (long long)s->cfg.nomodel_wait_ms);
    else
        snprintf(msg, sizeof msg,
                 "not enough eligible live verifiers for model %.16s... (verify needs %u; none "
                 "may be the worker, share its operator unless --verify-same-operator, or have "
                 "voted already; waited %lld ms)",
                 hex, j->verify_k, (long long)s->cfg.nomodel_wait_ms);
    sc_core_finish(s, slot, VT_JOB_FAILED, VT_ERR_NOMODEL, msg);
}

/* Jobs whose model no live node serves wait --nomodel-wait-ms, counted from
 * when they were queued or when the last such node went away. Jobs that no
 * live node may take (every worker excluded after failed verifications, or
 * fewer distinct verifiers than verify=full:K needs) get the same wait; the
 * oldest few of each lane are checked per pass, so the cost stays bounded. */
static void tick_nomodel(sched *s, uint64_t now)
{
    uint64_t wait = (uint64_t)s->cfg.nomodel_wait_ms;
    for (uint32_t m = 0; m < s->n_models; m++) {
        if (!s->models[m].used)
            continue;
        for (int ln = 0; ln < SC_LANES; ln++) {
            sc_lane *l = &s->models[m].lane[ln];
            if (l->n_live == 0) {
                while (l->fifo_head != SC_NONE) {
                    sc_job *j = sc_job_at(s, l->fifo_head);
                    uint64_t since = j->t_enqueue_us / 1000;
                    if (l->no_node_since_ms > since)
                        since = l->no_node_since_ms;
                    if (since + wait > now)
                        break;
                    fail_nomodel(s, l->fifo_head, ln, true);
                }
                continue;
            }
            uint32_t sl = l->fifo_head;
            for (int k = 0; k < 32 && sl != SC_NONE; k++) {
                sc_job *j = sc_job_at(s, sl);
                uint32_t next = j->fifo_next;
                if (j->t_enqueue_us / 1000 + wait > now)
                    break;
                if (!any_eligible(s, j, ln))
                    fail_nomodel(s, sl, ln, false);
                sl = next;
            }
        }
    }
}

static void tick_nodes(sched *s, uint64_t now)
{
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        sc_node *n = &s->nodes[i];
        if (n->used && n->alive && n->n_parked == 0 && n->last_seen_ms + SC_NODE_TIMEOUT_MS < now)
            sc_core_node_dead(s, i, "silent");
    }
}

static void tick_evict(sched *s, uint64_t now_us)
{
    while (s->done_head != SC_NONE) {
        sc_job *j = sc_job_at(s, s->done_head);
        if (j->t_done_us + (uint64_t)SC_DONE_RETAIN_MS * 1000 > now_us || j->waiters)
            break;
        uint32_t sl = s->done_head;
        s->done_head = j->done_next;
        if (s->done_head == SC_NONE)
            s->done_tail = SC_NONE;
        if (s->n_state[j->state] > 0)
            s->n_state[j->state]--;
        sc_job_release(s, sl);
    }
}

void sc_core_update_gauges(sched *s)
{
    vt_gauge_set(s->m.queue_depth, (double)s->n_queued);
    for (int i = 0; i < VT_JOB_STATE__COUNT; i++)
        vt_gauge_set(s->m.jobs_state[i], (double)s->n_state[i]);
    uint32_t w = 0, v = 0;
    for (uint32_t i = 0; i < s->n_nodes; i++)
        if (s->nodes[i].used && s->nodes[i].alive) {
            if (s->nodes[i].role == SC_LANE_COMPUTE)
                w++;
            else
                v++;
        }
    vt_gauge_set(s->m.workers_live, w);
    vt_gauge_set(s->m.verifiers_live, v);
}

void sc_core_tick(sched *s, uint64_t now)
{
    bool moved = false;
    tick_deadlines(s, now, &moved);
    tick_leases(s, now, &moved);
    tick_waits(s, now);
    if (now >= s->last_node_check_ms + 50) {
        tick_nomodel(s, now);
        sc_arb_tick(s, now);
        tick_evict(s, now * 1000);
        if (now >= s->last_rate_ms + 500) {
            double dt = (double)(now - s->last_rate_ms) / 1000.0;
            double rate = (double)s->dispatched_since_tick / dt;
            s->dispatch_rate = s->dispatch_rate * 0.5 + rate * 0.5;
            s->dispatched_since_tick = 0;
            s->last_rate_ms = now;
            tick_nodes(s, now);
        }
        sc_core_update_gauges(s);
        s->last_node_check_ms = now;
    }
    if (moved) {
        sc_core_dispatch(s, SC_LANE_COMPUTE);
        sc_core_dispatch(s, SC_LANE_VERIFY);
    }
}
