/* sc_node.c - the worker and verifier sockets.
 *
 *   hello      signed by a key on the allow-list with the socket's role;
 *              answered with a session id (the bearer credential for every
 *              later request of that node)
 *   fetch      long poll naming free slots: parked until work exists
 *   vfetch     the same for verification tasks
 *   results    a batch of results under one Merkle-root signature (checked
 *              once per message), acked per item
 *   verdicts   the same for verdicts
 *   heartbeat  extends the leases the node names; answers leases to abort
 *   release    hands leases back (node shutting down)
 *
 * A node's session lives as long as the pipe its hello came on: if that
 * connection closes, its leases go back to the queue at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sched.h"
#include "vt_clock.h"

#define SC_HELLO_SKEW_MS (5 * 60 * 1000)


static int sock_lane(const sc_conn *c)
{
    return c->sock == SC_SOCK_WORKER ? SC_LANE_COMPUTE : SC_LANE_VERIFY;
}

/* Session -> live node of the socket's role (core lock held). */
static sc_node *by_session(sched *s, const char *session, int lane, uint32_t *idx)
{
    if (session[0] != 's')
        return NULL;
    char *end;
    unsigned long i = strtoul(session + 1, &end, 10);
    if (*end != '.' || i >= s->n_nodes)
        return NULL;
    sc_node *n = &s->nodes[i];
    if (!n->used || !n->alive || n->role != lane || strcmp(n->session, session) != 0)
        return NULL;
    *idx = (uint32_t)i;
    n->last_seen_ms = vt_mono_ms();
    return n;
}

static void no_session(sched *s, sc_conn *c)
{
    (void)s;
    sc_conn_reply_error(c, VT_ERR_AUTH, "unknown or ended session; send hello", 0);
}

static void refuse_node(sched *s, sc_conn *c, const uint8_t pk[32], int code, const char *why)
{
    char id[VT_NODE_ID_SHORT + 1];
    vt_node_id_short(pk, id);
    vt_counter_inc(s->m.nodes_refused);
    uint64_t suppressed = 0;
    if (vt_ratelimit_allow(&s->bad_rl, &suppressed))
        vt_log_warn(s->log, "node.refused", "sock=%s node=%s err=%s why=%s suppressed=%llu",
                    c->sock == SC_SOCK_WORKER ? "worker" : "verifier", id, vt_errname(code), why,
                    (unsigned long long)suppressed);
    sc_conn_reply_error(c, code, code == VT_ERR_AUTH ? "node not allowed" : why, 0);
}

static void hello(sched *s, sc_conn *c, const vt_msg *m, uint32_t pipe)
{
    const vt_msg_hello *h = &m->u.hello;
    int want_role = c->sock == SC_SOCK_WORKER ? VT_HELLO_WORKER : VT_HELLO_VERIFIER;
    vt_errinfo ei = {0};
    if ((int)h->role != want_role) {
        refuse_node(s, c, h->node_pk, VT_ERR_AUTH, "role does not match this socket");
        return;
    }
    if (vt_hello_verify(h, &ei) != 0) {
        refuse_node(s, c, h->node_pk, VT_ERR_AUTH, "bad hello signature");
        return;
    }
    int64_t skew = (int64_t)h->time_ms - vt_wall_ms();
    if (skew > SC_HELLO_SKEW_MS || skew < -SC_HELLO_SKEW_MS) {
        refuse_node(s, c, h->node_pk, VT_ERR_AUTH, "hello clock differs by more than 5 minutes");
        return;
    }
    if (h->n_models == 0) {
        refuse_node(s, c, h->node_pk, VT_ERR_INVAL, "hello names no model");
        return;
    }
    /* A recorded hello stays acceptable until its clock leaves the window:
     * its nonce is remembered that long (plus a second), so it can be used
     * once. */
    uint32_t nonce_ttl_ms = (uint32_t)(SC_HELLO_SKEW_MS + skew + 1000);
    char op[VT_NAME_MAX + 1] = "";
    int rv = sc_auth_node(s, h, want_role, nonce_ttl_ms, op, &ei);
    if (rv != 0) {
        /* Only an identity failure is the node's; anything else (Redis
         * down, a Redis error) is ours, and the node should retry. */
        refuse_node(s, c, h->node_pk, rv == VT_ERR_AUTH ? VT_ERR_AUTH : VT_ERR_UNAVAILABLE,
                    vt_errinfo_msg(&ei));
        return;
    }
    int lane = sock_lane(c);
    sc_lock(s);
    if (sc_arb_quarantined(s, h->node_pk)) {
        sc_unlock(s);
        refuse_node(s, c, h->node_pk, VT_ERR_QUARANTINED,
                    "node is quarantined (an operator lifts it with `verity release`)");
        return;
    }
    uint32_t idx = SC_NONE, spare = SC_NONE;
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        sc_node *n = &s->nodes[i];
        if (n->used && n->role == lane && memcmp(n->pk, h->node_pk, 32) == 0) {
            idx = i;
            break;
        }
        if (spare == SC_NONE && (!n->used || !n->alive))
            spare = i;
    }
    if (idx == SC_NONE) {
        if (spare == SC_NONE && s->n_nodes < SC_MAX_NODES)
            spare = s->n_nodes++;
        idx = spare;
    }
    if (idx == SC_NONE) {
        sc_unlock(s);
        refuse_node(s, c, h->node_pk, VT_ERR_OVERLOADED, "too many nodes");
        return;
    }
    sc_node *n = &s->nodes[idx];
    if (n->used && n->alive)
        sc_core_node_dead(s, idx, "new hello from the same key");
    if (n->used)
        for (uint32_t i = 0; i < n->n_models; i++)
            if (s->models[n->models[i]].refs > 0)
                s->models[n->models[i]].refs--;
    uint32_t gen = n->gen + 1;
    memset(n, 0, sizeof *n);
    n->gen = gen;
    n->used = true;
    n->role = (uint8_t)lane;
    memcpy(n->pk, h->node_pk, 32);
    vt_node_id_short(n->pk, n->idshort);
    snprintf(n->operator_name, sizeof n->operator_name, "%s", op);
    n->pipe = pipe;
    n->slots = h->slots;
    for (uint32_t i = 0; i < h->n_models && i < VT_PROTO_MAX_MODELS; i++) {
        uint32_t mi;
        if (sc_model_intern(s, h->models[i].sha256, &mi) != 0)
            continue;
        if (sc_node_serves(n, mi))
            continue;
        s->models[mi].refs++;
        n->models[n->n_models++] = mi;
        s->models[mi].lane[lane].n_live++;
    }
    uint8_t rnd[8];
    randombytes_buf(rnd, sizeof rnd);
    char rh[17];
    vt_hex_encode(rnd, 8, rh);
    snprintf(n->session, sizeof n->session, "s%u.%u.%s", idx, gen, rh);
    n->alive = true;
    n->last_seen_ms = vt_mono_ms();
    vt_msg ok;
    vt_msg_init(&ok, VT_MSG_HELLO_OK);
    memcpy(ok.u.hello_ok.session, n->session, sizeof n->session);
    ok.u.hello_ok.lease_ms = (uint32_t)s->cfg.lease_ms;
    ok.u.hello_ok.heartbeat_ms = SC_HEARTBEAT_HINT_MS;
    memcpy(ok.u.hello_ok.scheduler_pk, s->key.pk, 32);
    vt_log_info(s->log, "node.hello", "node=%s role=%s operator=%s models=%u slots=%u device=%s pipe=%u",
                n->idshort, lane == SC_LANE_COMPUTE ? "worker" : "verifier", n->operator_name,
                n->n_models, n->slots, h->device ? h->device : "", pipe);
    sc_unlock(s);
    sc_conn_reply_msg(c, &ok);
}

/* Answer a fetch/vfetch with its batch (possibly empty). Core lock held. */
void sc_node_fetch_reply(sched *s, sc_conn *c)
{
    sc_conn_unpark(s, c);
    vt_msg m;
    uint32_t n = c->n_batch;
    uint64_t now = vt_mono_ms();
    if (c->sock == SC_SOCK_WORKER) {
        vt_wire_job *jobs = n ? calloc(n, sizeof *jobs) : NULL;
        if (n && !jobs)
            n = 0; /* the leases expire and the jobs go elsewhere */
        for (uint32_t i = 0; i < n; i++) {
            sc_job *j = sc_job_at(s, c->batch[i]);
            const vt_job_spec *sp = &j->spec_msg.u.submit.job;
            vt_wire_job *w = &jobs[i];
            sc_job_id_format(j->id, w->job_id);
            w->lease_id = j->lease_id;
            w->kind = sp->kind;
            memcpy(w->model_sha256, s->models[j->model].sha256, 32);
            w->prompt = sp->prompt_tokens;
            w->n_prompt = sp->n_prompt_tokens;
            w->max_tokens = sp->max_tokens;
            w->sampling = sp->sampling;
            w->stop = sp->stop;
            w->n_stop = sp->n_stop;
            w->lease_ms = (uint32_t)s->cfg.lease_ms;
            w->deadline_ms = j->deadline_ms ? (j->deadline_ms > now ? (uint32_t)(j->deadline_ms - now) : 1) : 0;
        }
        vt_msg_init(&m, VT_MSG_FETCH_OK);
        m.u.fetch_ok.jobs = jobs;
        m.u.fetch_ok.n_jobs = n;
        sc_conn_reply_msg(c, &m);
        free(jobs);
    } else {
        /* room for audit copies riding along (sc_arbiter.c) */
        uint32_t cap = n ? 2 * n : 0;
        vt_wire_task *tasks = n ? calloc(cap, sizeof *tasks) : NULL;
        vt_arb_audit *audits = n ? calloc(n, sizeof *audits) : NULL;
        uint32_t n_audits = 0;
        if (n && (!tasks || !audits))
            n = 0;
        for (uint32_t i = 0; i < n; i++) {
            sc_job *j = sc_job_at(s, c->batch[i]);
            const vt_job_spec *sp = &j->spec_msg.u.submit.job;
            const sc_result *r = j->result;
            vt_wire_task *t = &tasks[i];
            t->task_id = j->task_id;
            t->lease_id = j->lease_id;
            sc_job_id_format(j->id, t->job_id);
            memcpy(t->model_sha256, s->models[j->model].sha256, 32);
            t->prompt = sp->prompt_tokens;
            t->n_prompt = sp->n_prompt_tokens;
            t->output = r->tokens;
            t->n_output = r->n_tokens;
            t->sampling = sp->sampling;
            t->max_tokens = sp->max_tokens;
            t->stop = sp->stop;
            t->n_stop = sp->n_stop;
            t->stop_reason = r->stop_reason;
            memcpy(t->trace_digest, r->trace_digest, VT_DIGEST_BYTES);
            t->n_layers = r->n_layers;
            t->layer_digests = r->layer_digests;
            memcpy(t->worker, r->worker, 32);
            t->lease_ms = (uint32_t)s->cfg.lease_ms;
            t->kind = sp->kind; /* embed: the verifier compares the embedding */
            t->embedding = r->embedding;
            t->n_embedding = r->n_embedding;
        }
        if (n)
            n = sc_arb_add_audits(s, c, tasks, n, cap, audits, &n_audits);
        vt_msg_init(&m, VT_MSG_VFETCH_OK);
        m.u.vfetch_ok.tasks = tasks;
        m.u.vfetch_ok.n_tasks = n;
        sc_conn_reply_msg(c, &m);
        for (uint32_t i = 0; i < n_audits; i++)
            vt_arb_audit_free(&audits[i]);
        free(audits);
        free(tasks);
    }
    c->n_batch = 0;
}

static void fetch(sched *s, sc_conn *c, const vt_msg *m)
{
    const vt_msg_fetch *f = &m->u.fetch;
    int lane = sock_lane(c);
    sc_lock(s);
    uint32_t idx;
    sc_node *n = by_session(s, f->session, lane, &idx);
    if (!n) {
        sc_unlock(s);
        no_session(s, c);
        return;
    }
    if (sc_arb_quarantined(s, n->pk)) {
        uint8_t pk[VT_PUBKEY_BYTES];
        memcpy(pk, n->pk, sizeof pk);
        sc_unlock(s);
        refuse_node(s, c, pk, VT_ERR_QUARANTINED, "node is quarantined");
        return;
    }
    uint32_t want = f->free_slots;
    if (f->max_jobs && f->max_jobs < want)
        want = f->max_jobs;
    if (want > VT_PROTO_MAX_BATCH)
        want = VT_PROTO_MAX_BATCH;
    uint32_t wait = f->wait_ms < SC_PARK_MAX_MS ? f->wait_ms : SC_PARK_MAX_MS;
    c->node = idx;
    c->want = want;
    c->n_batch = 0;
    sc_conn_park(s, c, vt_mono_ms() + wait);
    sc_core_dispatch(s, lane);
    if (c->parked && wait == 0)
        sc_node_fetch_reply(s, c); /* no long poll asked: answer empty now */
    sc_unlock(s);
}

/* Copy an accepted result into one allocation the job owns. */
static sc_result *result_copy(const vt_wire_result *w, const uint8_t worker[32],
                              const vt_msg_results *batch)
{
    size_t tok = (size_t)w->n_tokens * sizeof(int32_t);
    size_t emb = (size_t)w->n_embedding * sizeof(float);
    size_t lay = (size_t)w->n_layers * VT_DIGEST_BYTES;
    size_t total = sizeof(sc_result) + tok + emb + lay + w->text_len + 1;
    sc_result *r = calloc(1, total);
    if (!r)
        return NULL;
    uint8_t *p = (uint8_t *)(r + 1);
    r->lease_id = w->lease_id;
    memcpy(r->prompt_digest, w->prompt_digest, VT_HASH_BYTES);
    memcpy(r->batch_root, batch->root, VT_HASH_BYTES);
    memcpy(r->batch_sig, batch->sig, VT_SIG_BYTES);
    r->proof = w->proof;
    r->status = w->status;
    r->stop_reason = w->stop_reason;
    memcpy(r->model_sha256, w->model_sha256, 32);
    memcpy(r->trace_digest, w->trace_digest, VT_DIGEST_BYTES);
    memcpy(r->worker, worker, 32);
    r->n_tokens = w->n_tokens;
    r->tokens = (int32_t *)p;
    if (tok)
        memcpy(p, w->tokens, tok);
    p += tok;
    r->n_embedding = w->n_embedding;
    r->embedding = (float *)p;
    if (emb)
        memcpy(p, w->embedding, emb);
    p += emb;
    r->n_layers = w->n_layers;
    r->layer_digests = p;
    if (lay)
        memcpy(p, w->layer_digests, lay);
    p += lay;
    r->text = (char *)p;
    r->text_len = w->text_len;
    if (w->text_len)
        memcpy(p, w->text, w->text_len);
    return r;
}

/* Look up the node and copy its key (core lock taken and released). */
static bool session_pk(sched *s, sc_conn *c, const char *session, uint32_t *idx, uint32_t *gen,
                       uint8_t pk[32])
{
    sc_lock(s);
    sc_node *n = by_session(s, session, sock_lane(c), idx);
    if (n) {
        memcpy(pk, n->pk, 32);
        *gen = n->gen;
    }
    sc_unlock(s);
    if (!n)
        no_session(s, c);
    return n != NULL;
}

static void reply_acks(sc_conn *c, int type, const vt_ack *acks, uint32_t n)
{
    vt_msg ok;
    vt_msg_init(&ok, type);
    ok.u.acks.acks = acks;
    ok.u.acks.n_acks = n;
    sc_conn_reply_msg(c, &ok);
}

static void results(sched *s, sc_conn *c, vt_msg *m)
{
    vt_msg_results *rs = &m->u.results;
    uint32_t idx, gen;
    uint8_t pk[32];
    if (!session_pk(s, c, rs->session, &idx, &gen, pk))
        return;
    vt_errinfo ei = {0};
    if (vt_results_verify(rs, pk, &ei) != 0) {
        char id[VT_NODE_ID_SHORT + 1];
        vt_node_id_short(pk, id);
        vt_log_warn(s->log, "results.bad_signature", "node=%s detail=%s", id, vt_errinfo_msg(&ei));
        sc_lock(s);
        sc_arb_quarantine_node(s, pk, "results batch signature does not verify");
        sc_unlock(s);
        sc_bad_message(s, c, VT_ERR_BADSIG, vt_errinfo_msg(&ei));
        return;
    }
    vt_ack *acks = calloc(rs->n_results ? rs->n_results : 1, sizeof *acks);
    if (!acks) {
        sc_conn_reply_error(c, VT_ERR_NOMEM, NULL, 100);
        return;
    }
    bool requeued = false, computed = false;
    sc_lock(s);
    sc_node *n = &s->nodes[idx];
    for (uint32_t i = 0; i < rs->n_results; i++) {
        const vt_wire_result *w = &rs->results[i];
        uint32_t slot;
        sc_job *j = sc_job_find(s, w->job_id, &slot);
        if (j && w->lease_id && j->last_result_lease == w->lease_id) {
            acks[i] = VT_ACK_DUPLICATE; /* recorded already, even if the job moved on */
            vt_counter_inc(s->m.results_dup);
        } else if (!j || j->phase != SC_PH_LIVE) {
            acks[i] = VT_ACK_STALE;
            vt_counter_inc(s->m.results_stale);
        } else if (j->state == VT_JOB_LEASED && j->lease_id == w->lease_id && j->lease_node == idx &&
                   j->lease_gen == gen) {
            const vt_job_spec *sp = &j->spec_msg.u.submit.job;
            bool ok = w->status != 0 ||
                      (memcmp(w->model_sha256, s->models[j->model].sha256, 32) == 0 &&
                       memcmp(w->prompt_digest, j->prompt_digest, VT_HASH_BYTES) == 0 &&
                       w->n_tokens <= sp->max_tokens);
            sc_result *r = ok ? result_copy(w, pk, rs) : NULL;
            if (!r) {
                acks[i] = VT_ACK_REJECTED;
                n->rejected++;
                if (j->n_excl < SC_EXCL_MAX)
                    memcpy(j->excl[j->n_excl++], pk, 32);
                vt_log_warn(s->log, "results.rejected", "job=%s node=%s why=model/prompt/length mismatch",
                            w->job_id, n->idshort);
                sc_core_requeue(s, slot, "result rejected");
                requeued = true;
            } else {
                acks[i] = VT_ACK_ACCEPTED;
                n->accepted++;
                sc_core_computed(s, slot, r);
                computed = true;
            }
        } else {
            acks[i] = VT_ACK_STALE;
            vt_counter_inc(s->m.results_stale);
        }
        if (acks[i] == VT_ACK_STALE && vt_log_enabled(s->log, VT_LOG_DEBUG))
            vt_log_debug(s->log, "results.stale", "job=%s lease=%llu node=%s", w->job_id,
                         (unsigned long long)w->lease_id, n->idshort);
    }
    if (computed)
        sc_core_dispatch(s, SC_LANE_VERIFY);
    if (requeued)
        sc_core_dispatch(s, SC_LANE_COMPUTE);
    sc_unlock(s);
    reply_acks(c, VT_MSG_RESULTS_OK, acks, rs->n_results);
    free(acks);
}

/* Keep a verdict with its attestation (NULL on NOMEM: the verdict still
 * counts, the receipt just lacks it). */
static sc_vrec *vrec_copy(const vt_wire_verdict *v, const uint8_t pk[32], const vt_msg_verdicts *batch)
{
    size_t lay = (size_t)v->n_layers * VT_DIGEST_BYTES;
    sc_vrec *r = calloc(1, sizeof *r + lay);
    if (!r)
        return NULL;
    r->v = *v;
    if (lay) {
        memcpy(r + 1, v->layers_at_div, lay);
        r->v.layers_at_div = (const uint8_t *)(r + 1);
    } else {
        r->v.layers_at_div = NULL;
    }
    memcpy(r->node_pk, pk, 32);
    memcpy(r->batch_root, batch->root, VT_HASH_BYTES);
    memcpy(r->batch_sig, batch->sig, VT_SIG_BYTES);
    return r;
}

static void verdicts(sched *s, sc_conn *c, vt_msg *m)
{
    vt_msg_verdicts *vs = &m->u.verdicts;
    uint32_t idx, gen;
    uint8_t pk[32];
    if (!session_pk(s, c, vs->session, &idx, &gen, pk))
        return;
    vt_errinfo ei = {0};
    if (vt_verdicts_verify(vs, pk, &ei) != 0) {
        char id[VT_NODE_ID_SHORT + 1];
        vt_node_id_short(pk, id);
        vt_log_warn(s->log, "verdicts.bad_signature", "node=%s detail=%s", id, vt_errinfo_msg(&ei));
        sc_lock(s);
        sc_arb_quarantine_node(s, pk, "verdicts batch signature does not verify");
        sc_unlock(s);
        sc_bad_message(s, c, VT_ERR_BADSIG, vt_errinfo_msg(&ei));
        return;
    }
    vt_ack *acks = calloc(vs->n_verdicts ? vs->n_verdicts : 1, sizeof *acks);
    if (!acks) {
        sc_conn_reply_error(c, VT_ERR_NOMEM, NULL, 100);
        return;
    }
    sc_lock(s);
    for (uint32_t i = 0; i < vs->n_verdicts; i++) {
        const vt_wire_verdict *v = &vs->verdicts[i];
        uint32_t slot;
        if (sc_arb_audit_verdict(s, idx, pk, v)) {
            acks[i] = VT_ACK_ACCEPTED; /* an audit: judged, never a job's verdict */
            continue;
        }
        sc_job *j = sc_job_find(s, v->job_id, &slot);
        if (j && v->lease_id && j->last_verdict_lease == v->lease_id) {
            acks[i] = VT_ACK_DUPLICATE;
            vt_counter_inc(s->m.results_dup);
        } else if (!j || j->phase != SC_PH_LIVE) {
            acks[i] = VT_ACK_STALE;
            vt_counter_inc(s->m.results_stale);
        } else if (j->state == VT_JOB_VERIFYING && j->lease_id == v->lease_id &&
                   j->task_id == v->task_id && j->lease_node == idx && j->lease_gen == gen) {
            acks[i] = VT_ACK_ACCEPTED;
            s->nodes[idx].accepted++;
            sc_core_verdict(s, slot, idx, v, vrec_copy(v, pk, vs));
        } else {
            acks[i] = VT_ACK_STALE;
            vt_counter_inc(s->m.results_stale);
        }
    }
    sc_core_dispatch(s, SC_LANE_COMPUTE);
    sc_core_dispatch(s, SC_LANE_VERIFY);
    sc_unlock(s);
    reply_acks(c, VT_MSG_VERDICTS_OK, acks, vs->n_verdicts);
    free(acks);
}

static void heartbeat(sched *s, sc_conn *c, const vt_msg *m)
{
    const vt_msg_heartbeat *hb = &m->u.heartbeat;
    uint64_t *cancel = calloc(hb->n_lease_ids ? hb->n_lease_ids : 1, sizeof *cancel);
    if (!cancel) {
        sc_conn_reply_error(c, VT_ERR_NOMEM, NULL, 100);
        return;
    }
    uint32_t nc = 0;
    sc_lock(s);
    uint32_t idx;
    sc_node *n = by_session(s, hb->session, sock_lane(c), &idx);
    if (!n) {
        sc_unlock(s);
        free(cancel);
        no_session(s, c);
        return;
    }
    uint64_t until = vt_mono_ms() + (uint64_t)s->cfg.lease_ms;
    for (uint32_t i = 0; i < hb->n_lease_ids; i++) {
        uint32_t slot;
        sc_job *j = sc_map_get(&s->by_lease, hb->lease_ids[i], &slot) ? sc_job_at(s, slot) : NULL;
        if (j && j->phase == SC_PH_LIVE && j->lease_id == hb->lease_ids[i] && j->lease_node == idx &&
            j->lease_gen == n->gen)
            j->lease_deadline_ms = until; /* the lease heap re-arms lazily */
        else if (!sc_arb_audit_lease(s, hb->lease_ids[i], idx))
            cancel[nc++] = hb->lease_ids[i];
    }
    sc_unlock(s);
    vt_msg ok;
    vt_msg_init(&ok, VT_MSG_HEARTBEAT_OK);
    ok.u.heartbeat_ok.cancel = cancel;
    ok.u.heartbeat_ok.n_cancel = nc;
    ok.u.heartbeat_ok.lease_ms = (uint32_t)s->cfg.lease_ms;
    sc_conn_reply_msg(c, &ok);
    free(cancel);
}

static void release(sched *s, sc_conn *c, const vt_msg *m)
{
    const vt_msg_release *rl = &m->u.release;
    sc_lock(s);
    uint32_t idx;
    sc_node *n = by_session(s, rl->session, sock_lane(c), &idx);
    if (!n) {
        sc_unlock(s);
        no_session(s, c);
        return;
    }
    for (uint32_t i = 0; i < rl->n_lease_ids; i++) {
        uint32_t slot;
        if (!sc_map_get(&s->by_lease, rl->lease_ids[i], &slot))
            continue;
        sc_job *j = sc_job_at(s, slot);
        if (j->phase != SC_PH_LIVE || j->lease_node != idx || j->lease_gen != n->gen)
            continue;
        if (j->state == VT_JOB_LEASED)
            sc_core_requeue(s, slot, "released");
        else if (j->state == VT_JOB_VERIFYING)
            sc_core_requeue_verify(s, slot);
    }
    sc_core_dispatch(s, SC_LANE_COMPUTE);
    sc_core_dispatch(s, SC_LANE_VERIFY);
    sc_unlock(s);
    vt_msg ok;
    vt_msg_init(&ok, VT_MSG_RELEASE_OK);
    sc_conn_reply_msg(c, &ok);
}

void sc_node_handle(sc_conn *c, const uint8_t *body, size_t len)
{
    sched *s = c->s;
    vt_msg m;
    vt_errinfo ei = {0};
    uint32_t pipe = c->pipe;
    int rv = vt_msg_decode(body, len, &m, &ei);
    if (rv != 0) {
        sc_bad_message(s, c, rv, vt_errinfo_msg(&ei));
        vt_msg_free(&m);
        return;
    }
    bool worker = c->sock == SC_SOCK_WORKER;
    switch (m.type) {
    case VT_MSG_HELLO:
        hello(s, c, &m, pipe);
        break;
    case VT_MSG_FETCH:
        if (worker)
            fetch(s, c, &m);
        else
            sc_bad_message(s, c, VT_ERR_PROTO, "fetch on the verifier socket (use vfetch)");
        break;
    case VT_MSG_VFETCH:
        if (!worker)
            fetch(s, c, &m);
        else
            sc_bad_message(s, c, VT_ERR_PROTO, "vfetch on the worker socket (use fetch)");
        break;
    case VT_MSG_RESULTS:
        if (worker)
            results(s, c, &m);
        else
            sc_bad_message(s, c, VT_ERR_PROTO, "results on the verifier socket");
        break;
    case VT_MSG_VERDICTS:
        if (!worker)
            verdicts(s, c, &m);
        else
            sc_bad_message(s, c, VT_ERR_PROTO, "verdicts on the worker socket");
        break;
    case VT_MSG_HEARTBEAT:
        heartbeat(s, c, &m);
        break;
    case VT_MSG_RELEASE:
        release(s, c, &m);
        break;
    default:
        sc_bad_message(s, c, VT_ERR_PROTO, "unexpected message type on a node socket");
        break;
    }
    vt_msg_free(&m);
}
