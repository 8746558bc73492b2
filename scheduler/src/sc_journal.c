/* sc_journal.c - the Redis journal thread: group commit and recovery.
 *
 * One thread, one Redis connection. Producers (agent callbacks, the core)
 * append items to a list and signal. Each turn the thread takes EVERY item
 * queued so far, pipelines all their commands, waits for all replies, and
 * then completes them together under the core lock: submitters get their
 * job ids, finished jobs become answerable. While one turn is on the wire
 * the next one accumulates, so the batch grows with the load and Redis sees
 * a few large pipelines instead of many round trips (and with
 * appendfsync always, one fsync per turn rather than per job).
 *
 * Keys (prefix verity:sched:):
 *   job:<16 hex>   the job record (sc_record.c); EX --result-ttl-s once final
 *   pending        SET of the 16-hex ids of jobs not yet final
 *   tok:<agent>:<32 hex token>  job id for submit idempotency (EX ttl)
 *   epoch          INCR'd on every (re)connect: the high 32 bits of new ids
 *
 * Finished jobs carry a receipt: the thread builds a Merkle tree over the
 * canonical records finished in this turn and signs its root once.
 *
 * A job in SC_PH_FINAL does not change (only its waiter list) until the
 * journal marks it SC_PH_DONE, and its slot is not reused before that, so
 * the record encoded for it stays true while the write is in flight.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "sched.h"
#include "vt_clock.h"

#define K_PENDING SC_JOURNAL_KEYPREFIX "pending"
#define K_EPOCH SC_JOURNAL_KEYPREFIX "epoch"
#define SC_JR_SCRATCH_KEEP 256 /* final records per turn whose buffers are kept */

#define SC_JR_ORPHANS_MAX 4096 /* dropped duplicates awaiting cleanup (recovery cleans the rest) */

/* Absolute CLOCK_REALTIME time ms from now, for pthread_cond_timedwait. */
static struct timespec abs_in_ms(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    return ts;
}

/* "verity:sched:job:<16 hex>" (SC_JOB_KEY_LEN chars and a NUL): written
 * directly, several times per job and turn, rather than by snprintf. */
#define SC_JOB_KEY_LEN (sizeof SC_JOURNAL_KEYPREFIX "job:" - 1 + 16)
static void sc_job_key(uint64_t id, char out[SC_JOB_KEY_LEN + 1])
{
    memcpy(out, SC_JOURNAL_KEYPREFIX "job:", SC_JOB_KEY_LEN - 16);
    sc_hex16(id, out + SC_JOB_KEY_LEN - 16);
}

void sc_journal_push(sched *s, sc_jr_item *it)
{
    it->next = NULL;
    pthread_mutex_lock(&s->jr.mu);
    if (s->jr.tail)
        s->jr.tail->next = it;
    else
        s->jr.head = it;
    s->jr.tail = it;
    s->jr.n_pending++;
    s->jr.idle = false;
    if (s->jr.waiting) /* a busy journal picks this up on its next turn anyway */
        pthread_cond_signal(&s->jr.cv);
    pthread_mutex_unlock(&s->jr.mu);
}

/* Put items back at the front (a failed turn of final records). */
static void push_front(sched *s, sc_jr_item *list)
{
    if (!list)
        return;
    sc_jr_item *last = list;
    size_t n = 1;
    while (last->next) {
        last = last->next;
        n++;
    }
    pthread_mutex_lock(&s->jr.mu);
    last->next = s->jr.head;
    s->jr.head = list;
    if (!s->jr.tail)
        s->jr.tail = last;
    s->jr.n_pending += n;
    pthread_mutex_unlock(&s->jr.mu);
}

static void item_free(sc_jr_item *it)
{
    free(it->bytes);
    free(it->reply);
    free(it);
}

/* Journal thread only. While down, a new reason is said too (Redis back
 * but refusing, or holding a log that fails its check), once each. */
static void set_redis_ok(sched *s, bool ok, const char *why)
{
    bool was = atomic_exchange(&s->jr.redis_ok, ok);
    vt_gauge_set(s->m.redis_up, ok ? 1 : 0);
    if (!ok && (was || strcmp(s->jr.down_why, why) != 0))
        vt_log_error(s->log, "redis.down",
                     "journal cannot use Redis (%s): refusing new jobs until it can", why);
    else if (!was && ok)
        vt_log_info(s->log, "redis.up", "journal connected to Redis");
    snprintf(s->jr.down_why, sizeof s->jr.down_why, "%s", ok ? "" : why);
}

/* What Redis promises for acknowledged jobs: its AOF settings live in
 * Redis, not in our flags, and may change across its restarts or by CONFIG
 * SET, so they are read and said plainly at every connect (always) and
 * every few seconds by the arbiter (when they changed). Fails only when
 * Redis cannot be reached (a connect is then retried). */
static int persistence_say(sched *s, vt_redis *r, bool always, vt_errinfo *ei)
{
    int durable;
    pthread_mutex_lock(&s->jr.persist_mu);
    if (always)
        s->jr.persist_seen.any = false;
    int rv = vt_redis_persistence_log(r, s->log, "acknowledged jobs", true, &s->jr.persist_seen,
                                      &durable, ei);
    pthread_mutex_unlock(&s->jr.persist_mu);
    if (rv == 0)
        vt_gauge_set(s->m.redis_fsync_always, durable);
    return rv;
}

void sc_journal_persistence_poll(sched *s, vt_redis *r)
{
    persistence_say(s, r, false, NULL);
}

/* ------------------------------------------------------------- recovery */

/* Whether a pending submit lost its request token to another job: a
 * duplicate written in the same transaction as its failed token claim,
 * whose deletion (the next turn's) did not happen before a crash. Never
 * acknowledged, so it is dropped. A token key that is gone (expired)
 * cannot tell: the job is recovered. */
static bool token_lost(sched *s, const sc_final_view *v, const vt_job_spec *sp)
{
    bool any = false;
    for (int i = 0; i < VT_REQUEST_TOKEN_BYTES; i++)
        any |= sp->request_token[i] != 0;
    if (!any)
        return false;
    char key[96], idh[17];
    sc_token_rkey(v->agent, sp->request_token, key);
    sc_hex16(v->id, idh);
    redisReply *rep = NULL;
    if (vt_redis_command(s->jr.r, &rep, NULL, "GET %s", key) != 0)
        return false;
    bool lost = rep->type == REDIS_REPLY_STRING && (rep->len != 16 || memcmp(rep->str, idh, 16) != 0);
    freeReplyObject(rep);
    return lost;
}

/* Re-create one pending job from its submit record (core lock NOT held).
 * false: not a job (an orphaned duplicate): drop it from Redis. */
static bool recover_one(sched *s, const sc_final_view *v)
{
    vt_msg m;
    vt_errinfo ei = {0};
    if (vt_msg_decode(v->submit, v->submit_len, &m, &ei) != 0 || m.type != VT_MSG_SUBMIT) {
        vt_log_error(s->log, "recover.bad_record", "job=%016llx: %s", (unsigned long long)v->id,
                     vt_errinfo_msg(&ei));
        vt_msg_free(&m);
        return true;
    }
    if (token_lost(s, v, &m.u.submit.job)) {
        vt_msg_free(&m);
        return false;
    }
    sc_spec_info si;
    int check = sc_spec_check(s, &m.u.submit.job, &si, &ei);
    sc_lock(s);
    uint32_t slot;
    if (sc_map_get(&s->by_id, v->id, &slot)) {
        sc_unlock(s);
        vt_msg_free(&m);
        return true; /* already in memory (a reconnect, not a restart) */
    }
    uint32_t agent = sc_agent_intern(s, v->agent);
    if (check != 0)
        memset(si.sha, 0, sizeof si.sha);
    if (agent == SC_NONE || sc_job_setup(s, v->id, agent, &si, &m, &slot) != 0) {
        sc_unlock(s);
        vt_msg_free(&m);
        return true;
    }
    sc_job *j = sc_job_at(s, slot);
    j->wall_submit_ms = (int64_t)v->submitted_ms;
    if (v->deadline_ms) {
        int64_t left = (int64_t)v->deadline_ms - vt_wall_ms();
        j->deadline_ms = vt_mono_ms() + (uint64_t)(left > 0 ? left : 0);
    }
    if (check == 0) {
        sc_mem_accept(s, slot); /* a memory job still in text goes through retrieval again */
    } else {
        sc_core_accept(s, slot);
        sc_core_finish(s, slot, VT_JOB_FAILED, check, vt_errinfo_msg(&ei));
    }
    sc_unlock(s);
    return true;
}

/* Load every pending job that is not in memory. Runs on each (re)connect:
 * after a restart that is all of them; after a Redis outage it picks up
 * writes whose replies were lost. */
static int recover(sched *s, vt_errinfo *ei)
{
    redisReply *ids = NULL;
    int rv = vt_redis_command(s->jr.r, &ids, ei, "SMEMBERS %s", K_PENDING);
    if (rv)
        return rv;
    size_t n = 0;
    if ((rv = vt_redis_reply_array(ids, 10000000, &n, ei)) != 0) {
        freeReplyObject(ids);
        return rv;
    }
    size_t loaded = 0, gone = 0;
    for (size_t base = 0; base < n && rv == 0; base += 256) {
        size_t cnt = n - base < 256 ? n - base : 256;
        for (size_t i = 0; i < cnt; i++) {
            const redisReply *e = ids->element[base + i];
            if (e->type != REDIS_REPLY_STRING || e->len != 16) {
                vt_redis_append(s->jr.r, ei, "PING");
                continue;
            }
            vt_redis_append(s->jr.r, ei, "GET " SC_JOURNAL_KEYPREFIX "job:%b", e->str, (size_t)e->len);
        }
        redisReply *reps[256];
        if ((rv = vt_redis_read_replies(s->jr.r, reps, cnt, ei)) != 0)
            break;
        for (size_t i = 0; i < cnt; i++) {
            const redisReply *e = ids->element[base + i];
            sc_final_view v;
            if (reps[i]->type == REDIS_REPLY_STRING &&
                sc_record_decode((const uint8_t *)reps[i]->str, reps[i]->len, &v) == 0) {
                if (!v.is_final && recover_one(s, &v)) {
                    loaded++;
                    continue;
                }
                if (!v.is_final) { /* an orphaned duplicate */
                    redisReply *x = NULL;
                    if (vt_redis_command(s->jr.r, &x, NULL, "DEL " SC_JOURNAL_KEYPREFIX "job:%b",
                                         e->str, (size_t)e->len) == 0)
                        freeReplyObject(x);
                }
            }
            /* Final already, missing, unreadable or orphaned: not pending. */
            if (e->type == REDIS_REPLY_STRING) {
                redisReply *x = NULL;
                if (vt_redis_command(s->jr.r, &x, NULL, "SREM %s %b", K_PENDING, e->str,
                                     (size_t)e->len) == 0)
                    freeReplyObject(x);
                gone++;
            }
        }
        vt_redis_free_replies(reps, cnt);
    }
    freeReplyObject(ids);
    /* Logged on every connect, also when nothing was pending: an operator
     * (and test_sched_recovery) can tell a recovery that found no work
     * from one that did not run. */
    if (rv == 0)
        vt_log_info(s->log, "recover", "pending=%zu recovered=%zu dropped=%zu", n, loaded, gone);
    return rv;
}

/* (Re)load the transparency log from Redis: the durable copy is the truth
 * (after a failed turn the memory copy may be ahead of it). */
static int load_log(sched *s, vt_errinfo *ei)
{
    vt_tlog *t = NULL;
    if (vt_tlog_new(&t) != 0)
        return vt_fail(ei, VT_ERR_NOMEM, "transparency log");
    uint64_t t0 = vt_mono_ms();
    bool converted = false;
    int rv = vt_tlog_store_load(s->jr.r, t, &converted, ei);
    if (rv == 0 && converted)
        vt_log_info(s->log, "tlog.converted",
                    "transparency log of %llu entries moved to tiles (verity:tlog:tile:*)",
                    (unsigned long long)vt_tlog_size(t));
    vt_tree_head th;
    memset(&th, 0, sizeof th);
    if (rv == 0) {
        rv = vt_tlog_store_load_head(s->jr.r, &th, ei);
        if (rv == VT_ERR_NOTFOUND) {
            memset(&th, 0, sizeof th);
            rv = 0;
        }
    }
    /* The signed head is written in the same transaction as the nodes, so
     * they agree; the tiles keep only every 8th level, and a changed leaf
     * under the last, partial, tiles (or a stray tile the log grew into)
     * shows only against the head. */
    uint8_t root[VT_TLOG_HASH];
    if (rv == 0 && (th.size != vt_tlog_size(t) ||
                    (th.size && (vt_tlog_root(t, th.size, root) != 0 ||
                                 sodium_memcmp(root, th.root, sizeof root) != 0))))
        rv = vt_fail(ei, VT_ERR_FORMAT,
                     "transparency log in Redis does not match its signed head (%llu entries, "
                     "head of %llu): changed or corrupt",
                     (unsigned long long)vt_tlog_size(t), (unsigned long long)th.size);
    if (rv) {
        vt_tlog_free(t);
        return rv;
    }
    pthread_mutex_lock(&s->jr.tlog_mu);
    vt_tlog_free(s->jr.tlog);
    s->jr.tlog = t;
    s->jr.th = th;
    pthread_mutex_unlock(&s->jr.tlog_mu);
    size_t bytes = vt_tlog_bytes(t); /* t is the journal thread's: no lock to read it */
    vt_gauge_set(s->m.tlog_entries, (double)th.size);
    vt_gauge_set(s->m.tlog_memory, (double)bytes);
    /* The whole log is read and held at every (re)connect (docs/operations.md,
     * sizing): say what that cost, so its growth is seen before it hurts. */
    vt_log_info(s->log, "tlog.loaded", "entries=%llu ms=%llu memory_mb=%.1f",
                (unsigned long long)th.size, (unsigned long long)(vt_mono_ms() - t0),
                (double)bytes / (1024.0 * 1024.0));
    return 0;
}

static int connect_and_recover(sched *s)
{
    vt_errinfo ei = {0};
    int rv = vt_redis_broken(s->jr.r) ? vt_redis_reconnect(s->jr.r, &ei) : 0;
    redisReply *rep = NULL;
    long long epoch = 0;
    if (rv == 0)
        rv = vt_redis_command(s->jr.r, &rep, &ei, "INCR %s", K_EPOCH);
    if (rv == 0) {
        rv = vt_redis_reply_int(rep, &epoch, &ei);
        freeReplyObject(rep);
    }
    if (rv == 0 && (epoch <= 0 || epoch > 0xffffffffLL))
        rv = vt_fail(&ei, VT_ERR_RANGE, "epoch counter out of range");
    if (rv == 0) {
        sc_lock(s);
        atomic_store(&s->jr.epoch, (uint64_t)epoch);
        s->job_seq = 0;
        if (s->next_lease < ((uint64_t)epoch << 32))
            s->next_lease = (uint64_t)epoch << 32; /* lease ids never repeat across restarts */
        sc_unlock(s);
        rv = load_log(s, &ei);
    }
    if (rv == 0)
        rv = recover(s, &ei);
    if (rv == 0)
        rv = persistence_say(s, s->jr.r, true, &ei);
    if (rv) {
        vt_counter_inc(s->m.redis_errors);
        set_redis_ok(s, false, vt_errinfo_msg(&ei));
        return rv;
    }
    s->jr.relog = false;
    set_redis_ok(s, true, NULL);
    /* Jobs recovered here were queued: hand them out. */
    sc_lock(s);
    sc_core_dispatch(s, SC_LANE_COMPUTE);
    sc_unlock(s);
    return 0;
}

/* ---------------------------------------------------------- final records */

/* log_receipts' per-receipt arrays for n receipts (sched.h, lr_*), kept
 * from turn to turn: calloc'd per turn they were ~90 KB for a turn of 17
 * receipts, zeroed every time. false on NOMEM. */
static bool lr_reserve(sc_journal *jr, size_t n)
{
    if (n <= jr->lr_cap)
        return true;
    uint64_t *ix = realloc(jr->lr_index, n * sizeof *ix);
    if (ix)
        jr->lr_index = ix;
    vt_tlog_proof *in = realloc(jr->lr_incl, n * sizeof *in);
    if (in)
        jr->lr_incl = in;
    /* an append completes at most 64 nodes */
    vt_tlog_node *nd = realloc(jr->lr_nodes, n * 64 * sizeof *nd);
    if (nd)
        jr->lr_nodes = nd;
    if (!ix || !in || !nd)
        return false;
    jr->lr_cap = n;
    return true;
}

static void lr_free(sc_journal *jr)
{
    free(jr->lr_index);
    free(jr->lr_incl);
    free(jr->lr_nodes);
    jr->lr_index = NULL;
    jr->lr_incl = NULL;
    jr->lr_nodes = NULL;
    jr->lr_cap = 0;
}

/* Append this turn's receipts to the transparency log, queue the new log
 * nodes and the signed head on the journal connection (their replies come
 * first in the turn), and seal each receipt with the head and its
 * inclusion proof. One Ed25519 signature (the head) per turn. Returns the
 * number of Redis commands queued, or < 0 if the log could not be used
 * (receipts[i] then stays empty). */
static int log_receipts(sched *s, vt_buf *bodies, bool *has, size_t n, vt_buf *receipts)
{
    int queued = 0, rv = 0;
    vt_tree_head th;
    vt_errinfo ei = {0};
    if (!lr_reserve(&s->jr, n)) {
        vt_log_error(s->log, "journal.tlog", "receipts not logged: %s", vt_errname(VT_ERR_NOMEM));
        return -1;
    }
    uint64_t *index = s->jr.lr_index;
    vt_tlog_proof *incl = s->jr.lr_incl;
    vt_tlog_node *nodes = s->jr.lr_nodes;
    pthread_mutex_lock(&s->jr.tlog_mu);
    if (!s->jr.tlog) {
        pthread_mutex_unlock(&s->jr.tlog_mu);
        rv = VT_ERR_UNAVAILABLE;
        goto out;
    }
    /* Every node this turn completes goes into one HSET: as atomic as one
     * append's, and one command per turn instead of one per receipt. */
    uint32_t nn = 0;
    for (size_t i = 0; i < n && rv == 0; i++) {
        if (!has[i])
            continue;
        uint8_t h[VT_HASH_BYTES], leaf[VT_TLOG_HASH];
        vt_receipt_hash(bodies[i].data, bodies[i].len, h);
        vt_tlog_leaf_hash(h, sizeof h, leaf);
        uint32_t k = 0;
        rv = vt_tlog_append(s->jr.tlog, leaf, &index[i], nodes + nn, &k);
        nn += k;
    }
    if (rv == 0 && nn) {
        int q = vt_tlog_store_queue(s->jr.r, nodes, nn, &ei);
        if (q < 0)
            rv = VT_ERR_UNAVAILABLE;
        else
            queued += q;
    }
    if (rv == 0) {
        th.size = vt_tlog_size(s->jr.tlog);
        th.time_ms = (uint64_t)vt_wall_ms();
        rv = vt_tlog_root(s->jr.tlog, th.size, th.root);
        rv = rv ? rv : vt_tree_head_sign(&th, s->key.sk);
        int q = rv ? -1 : vt_tlog_store_queue_head(s->jr.r, &th, &ei);
        if (q < 0)
            rv = rv ? rv : VT_ERR_UNAVAILABLE;
        else
            queued += q;
    }
    for (size_t i = 0; i < n && rv == 0; i++)
        if (has[i])
            rv = vt_tlog_prove_inclusion(s->jr.tlog, index[i], th.size, &incl[i]);
    if (rv == 0)
        s->jr.th = th;
    size_t tlog_bytes = vt_tlog_bytes(s->jr.tlog);
    pthread_mutex_unlock(&s->jr.tlog_mu);
    if (rv == 0) {
        vt_gauge_set(s->m.tlog_entries, (double)th.size);
        vt_gauge_set(s->m.tlog_memory, (double)tlog_bytes);
    }
    for (size_t i = 0; i < n && rv == 0; i++)
        if (has[i] && vt_receipt_seal(bodies[i].data, bodies[i].len, index[i], s->key.pk, &th,
                                      &incl[i], &receipts[i], &ei) != 0)
            vt_buf_reset(&receipts[i]);
out:
    if (rv)
        vt_log_error(s->log, "journal.tlog", "receipts not logged: %s", vt_errname(rv));
    /* On failure the in-memory log may be ahead of Redis: the connection is
     * treated as broken, and the log is reloaded from Redis on reconnect. */
    return rv ? -1 : queued;
}

/* At least 3n scratch buffers (lengths reset): a turn's records, receipt
 * bodies and receipts grow to a few KiB each; kept from turn to turn they
 * cost no malloc/realloc chain per job. NULL on NOMEM. */
static vt_buf *scratch_get(sched *s, size_t n)
{
    sc_journal *jr = &s->jr;
    if (3 * n > jr->n_scratch) {
        vt_buf *b = realloc(jr->scratch, 3 * n * sizeof *b);
        if (!b)
            return NULL;
        for (size_t i = jr->n_scratch; i < 3 * n; i++)
            vt_buf_init(&b[i], 0);
        jr->scratch = b;
        jr->n_scratch = 3 * n;
    }
    for (size_t i = 0; i < 3 * n; i++)
        vt_buf_reset(&jr->scratch[i]);
    return jr->scratch;
}

static void scratch_free(sched *s)
{
    lr_free(&s->jr);
    for (size_t i = 0; i < s->jr.n_scratch; i++)
        vt_buf_free(&s->jr.scratch[i]);
    free(s->jr.scratch);
    s->jr.scratch = NULL;
    s->jr.n_scratch = 0;
}

/* Encode this turn's final records. A job with a worker result gets a
 * transparency-logged receipt (vt_receipt); one without (cancelled,
 * expired, no model) gets the scheduler's signed record (sc_record.c).
 * Only job pointers and agent ids are read under the core lock: a job in
 * SC_PH_FINAL does not change and its slot is not reused until the journal
 * marks it done, and job chunks and the model table never move. Returns
 * the number of Redis commands queued ahead of the items', or < 0. */
static int prepare_finals(sched *s, sc_jr_item **finals, size_t n)
{
    int queued = 0;
    if (n == 0)
        return 0;
    uint8_t (*leaves)[VT_HASH_BYTES] = calloc(n, VT_HASH_BYTES);
    vt_buf *scratch = scratch_get(s, n);
    vt_buf *canon = scratch, *bodies = scratch ? scratch + n : NULL,
           *receipts = scratch ? scratch + 2 * n : NULL;
    bool *has = calloc(n, sizeof *has);
    const sc_job **jobs = calloc(n, sizeof *jobs);
    char (*agents)[VT_AGENT_ID_BUFSZ] = calloc(n, VT_AGENT_ID_BUFSZ);
    if (!leaves || !canon || !bodies || !receipts || !has || !jobs || !agents)
        goto out; /* items without bytes are retried next turn */
    sc_lock(s);
    for (size_t i = 0; i < n; i++) {
        jobs[i] = sc_job_at(s, finals[i]->slot);
        memcpy(agents[i], s->agents[jobs[i]->agent].id, VT_AGENT_ID_BUFSZ);
    }
    sc_unlock(s);
    size_t n_rec = 0, n_body = 0;
    for (size_t i = 0; i < n; i++) {
        canon[i].max = 0;
        bodies[i].max = VT_RECEIPT_MAX_BYTES;
        receipts[i].max = VT_RECEIPT_MAX_BYTES;
        if (jobs[i]->result && sc_receipt_body(s, jobs[i], agents[i], &bodies[i]) == 0) {
            has[i] = true;
            n_body++;
            continue;
        }
        char id[VT_JOB_ID_MAX + 1];
        sc_job_id_format(jobs[i]->id, id);
        sc_record_leaf(jobs[i], id, agents[i], &canon[i]);
        vt_merkle_leaf(canon[i].data, canon[i].len, leaves[n_rec++]);
    }
    if (n_body) {
        queued = log_receipts(s, bodies, has, n, receipts);
        if (queued < 0)
            goto out;
    }
    uint8_t root[VT_HASH_BYTES], sig[VT_SIG_BYTES];
    vt_merkle_tree tree = {0};
    if (n_rec && vt_merkle_tree_build((const uint8_t(*)[VT_HASH_BYTES])leaves, (uint32_t)n_rec,
                                      &tree) == 0) {
        vt_merkle_tree_root(&tree, root);
        sc_record_batch_sign(&s->key, root, sig);
    }
    for (size_t i = 0, k = 0; i < n; i++) {
        const sc_job *j = jobs[i];
        vt_buf rec, res, wrap;
        vt_buf_init(&rec, 0);
        vt_buf_init(&res, (size_t)s->cfg.recv_max);
        vt_buf_init(&wrap, 0);
        int rv = 0;
        const vt_buf *receipt = &receipts[i];
        if (!has[i]) {
            vt_merkle_proof proof;
            rv = vt_merkle_tree_path(&tree, (uint32_t)k++, &proof);
            rv = rv ? rv : sc_record_receipt(&canon[i], &proof, root, sig, s->key.pk, &rec);
            receipt = &rec;
        }
        rv = rv ? rv : sc_record_result_ok(s, j, receipt->data, receipt->len, &res);
        rv = rv ? rv : sc_record_encode_final(j, agents[i], &res, has[i] ? receipt : NULL, &wrap);
        if (rv == 0) {
            finals[i]->bytes = wrap.data;
            finals[i]->len = wrap.len;
            finals[i]->reply = res.data;
            finals[i]->reply_len = res.len;
        } else {
            vt_buf_free(&wrap);
            vt_buf_free(&res);
        }
        vt_buf_free(&rec);
    }
    vt_merkle_tree_free(&tree);
out:
    if (s->jr.n_scratch > 3 * SC_JR_SCRATCH_KEEP)
        scratch_free(s); /* after a burst: do not keep its buffers */
    free(agents);
    free(jobs);
    free(has);
    free(leaves);
    return queued;
}

/* ------------------------------------------------------------- one turn */

/* Whether an item's job enters (submit) or leaves (final) the pending set
 * in its turn: a deferred job is never in it. */
static bool in_pending_set(const sc_jr_item *it)
{
    return it->bytes && !it->defer && !it->fresh;
}

/* Queue "<cmd> <key> <id>..." (SADD or SREM of the pending set) for the
 * turn's items of one kind; returns commands queued (0 when none). */
static size_t append_pending(sched *s, const char *cmd, sc_jr_item *list, int kind, size_t n,
                             vt_errinfo *ei)
{
    if (n == 0)
        return 0;
    const char **argv = malloc((2 + n) * sizeof *argv);
    size_t *lens = malloc((2 + n) * sizeof *lens);
    char(*ids)[17] = malloc(n * sizeof *ids);
    size_t a = 0;
    if (argv && lens && ids) {
        argv[a] = cmd, lens[a++] = strlen(cmd);
        argv[a] = K_PENDING, lens[a++] = sizeof K_PENDING - 1;
        for (sc_jr_item *it = list; it && a < 2 + n; it = it->next)
            if (it->kind == kind && in_pending_set(it)) {
                sc_hex16(it->job_id, ids[a - 2]);
                argv[a] = ids[a - 2], lens[a] = 16;
                a++;
            }
        vt_redis_appendv(s->jr.r, ei, (int)a, argv, lens);
    } else {
        /* No memory for the vector. Without SADD the turn's submits must
         * not be acknowledged: an error reply fails them. Without SREM the
         * ids stay pending, which recovery cleans (a final record is not
         * pending). */
        vt_redis_append(s->jr.r, ei, kind == SC_JR_SUBMIT ? "SADD" : "PING");
    }
    free(argv);
    free(lens);
    free(ids);
    return 1;
}

/* A submit that lost its request token to a stored job was written anyway
 * (record and pending entry, in the same transaction as the token check):
 * remember it, so that the next turn deletes it. */
static void orphan_add(sched *s, uint64_t id)
{
    sc_journal *jr = &s->jr;
    if (jr->n_orphans == SC_JR_ORPHANS_MAX)
        return; /* recovery drops it (its token names another job) */
    if (jr->n_orphans == jr->cap_orphans) {
        size_t cap = jr->cap_orphans ? 2 * jr->cap_orphans : 16;
        uint64_t *o = realloc(jr->orphans, cap * sizeof *o);
        if (!o)
            return;
        jr->orphans = o;
        jr->cap_orphans = cap;
    }
    jr->orphans[jr->n_orphans++] = id;
}

/* DEL their records and SREM them from the pending set (2 commands), or
 * nothing when there are none. */
static size_t append_orphans(sched *s, const uint64_t *ids, size_t n, vt_errinfo *ei)
{
    if (n == 0)
        return 0;
    const char **argv = malloc((2 + n) * sizeof *argv);
    size_t *lens = malloc((2 + n) * sizeof *lens);
    char(*keys)[SC_JOB_KEY_LEN + 1] = malloc(n * sizeof *keys);
    if (!argv || !lens || !keys) {
        vt_redis_append(s->jr.r, ei, "PING");
        vt_redis_append(s->jr.r, ei, "PING");
    } else {
        argv[0] = "DEL", lens[0] = 3;
        for (size_t i = 0; i < n; i++) {
            sc_job_key(ids[i], keys[i]);
            argv[1 + i] = keys[i], lens[1 + i] = SC_JOB_KEY_LEN;
        }
        vt_redis_appendv(s->jr.r, ei, (int)(1 + n), argv, lens);
        argv[0] = "SREM", lens[0] = 4;
        argv[1] = K_PENDING, lens[1] = sizeof K_PENDING - 1;
        for (size_t i = 0; i < n; i++)
            argv[2 + i] = keys[i] + SC_JOB_KEY_LEN - 16, lens[2 + i] = 16;
        vt_redis_appendv(s->jr.r, ei, (int)(2 + n), argv, lens);
    }
    free(argv);
    free(lens);
    free(keys);
    return 2;
}

/* SET NX GET of the item's request token (if it has one), naming its job. */
static void append_claim(sched *s, const sc_jr_item *it, const char *ttl, vt_errinfo *ei,
                         size_t *ncmd)
{
    if (!it->tokkey[0])
        return;
    char idh[17];
    sc_hex16(it->job_id, idh);
    const char *claim[] = {"SET", it->tokkey, idh, "NX", "EX", ttl, "GET"};
    const size_t claim_len[] = {3, strlen(it->tokkey), 16, 2, 2, strlen(ttl), 3};
    vt_redis_appendv(s->jr.r, ei, 7, claim, claim_len);
    *ncmd += 1;
}

/* The job id a token claim's reply names: 0 when the token was free. */
static uint64_t claim_owner(const redisReply *claim)
{
    if (!claim || claim->type != REDIS_REPLY_STRING || claim->len != 16)
        return 0;
    char buf[17];
    memcpy(buf, claim->str, 16);
    buf[16] = 0;
    return strtoull(buf, NULL, 16);
}

/* The commands of one item. A submit with a request token claims the
 * token with SET NX GET and writes its record in the same transaction;
 * the reply of the SET says whether the token was free (nil) or names the
 * job that has it (then this record is an orphan, deleted next turn).
 * Plain commands rather than a script: the Lua call cost Redis ~10 us per
 * submit on top of the two SETs. */
static void append_item(sched *s, sc_jr_item *it, const char *ttl, vt_errinfo *ei, size_t *ncmd)
{
    char key[40];
    sc_job_key(it->job_id, key);
    switch (it->kind) {
    case SC_JR_SUBMIT: {
        if (it->defer)
            break; /* written with its final record */
        append_claim(s, it, ttl, ei, ncmd);
        const char *set[] = {"SET", key, (const char *)it->bytes};
        const size_t set_len[] = {3, SC_JOB_KEY_LEN, it->len};
        vt_redis_appendv(s->jr.r, ei, 3, set, set_len);
        *ncmd += 1;
        break;
    }
    case SC_JR_FINAL: {
        /* argv, not a format string: hiredis formats a format string
         * piece by piece (an allocation per piece), argv in one go. The
         * ids leave the pending set in one SREM per turn. */
        if (it->fresh)
            append_claim(s, it, ttl, ei, ncmd);
        const char *set[] = {"SET", key, (const char *)it->bytes, "EX", ttl};
        const size_t set_len[] = {3, SC_JOB_KEY_LEN, it->len, 2, strlen(ttl)};
        vt_redis_appendv(s->jr.r, ei, 5, set, set_len);
        *ncmd += 1;
        break;
    }
    default: {
        const char *get[] = {"GET", key};
        const size_t get_len[] = {3, SC_JOB_KEY_LEN};
        vt_redis_appendv(s->jr.r, ei, 2, get, get_len);
        *ncmd += 1;
        break;
    }
    }
}

/* A result lookup's reply, built here on the journal thread rather than
 * under the core lock (sc_agent_lookup_done): from a record in the receipt
 * form it is rebuilt by decoding the receipt. Left NULL when the record
 * cannot give one. */
static void lookup_result(sc_jr_item *it)
{
    sc_final_view v;
    vt_buf b;
    vt_buf_init(&b, 0);
    free(it->bytes); /* a turn redone reads the record again */
    it->bytes = NULL;
    if (sc_record_decode_final(it->reply, it->reply_len, &v) == 0 &&
        sc_record_reply(&v, it->job_id, &b) == 0) {
        it->bytes = b.data;
        it->len = b.len;
        return;
    }
    vt_buf_free(&b);
}

/* Interpret replies[...] for one item; advances *k. `added` is the
 * turn's SADD reply (submits), `removed` its SREM reply (finals). */
static void read_item(sched *s, sc_jr_item *it, redisReply **reps, size_t *k,
                      const redisReply *added, const redisReply *removed)
{
    switch (it->kind) {
    case SC_JR_SUBMIT: {
        if (it->defer) {
            it->rc = 0; /* nothing written */
            break;
        }
        const redisReply *claim = it->tokkey[0] ? reps[(*k)++] : NULL;
        const redisReply *rec = reps[(*k)++];
        it->rc = rec->type == REDIS_REPLY_ERROR || !added || added->type == REDIS_REPLY_ERROR
                     ? VT_ERR_INTERNAL
                     : 0;
        if (it->rc || !claim || claim->type == REDIS_REPLY_NIL)
            break; /* no token, or the token was free: this job owns it */
        it->dup_of = claim_owner(claim);
        if (it->dup_of == 0 || it->dup_of == it->job_id) {
            it->dup_of = 0;
            it->rc = VT_ERR_INTERNAL;
        }
        orphan_add(s, it->job_id); /* written, but not the token's job */
        break;
    }
    case SC_JR_FINAL: {
        const redisReply *claim = it->fresh && it->tokkey[0] ? reps[(*k)++] : NULL;
        redisReply *a = reps[(*k)++];
        it->rc = a->type == REDIS_REPLY_ERROR ? VT_ERR_INTERNAL : 0;
        if (it->rc == 0 && !it->fresh && removed && removed->type == REDIS_REPLY_ERROR)
            it->rc = VT_ERR_INTERNAL; /* still pending in Redis: written again next turn */
        if (it->rc == 0 && claim && claim->type == REDIS_REPLY_ERROR)
            it->rc = VT_ERR_INTERNAL; /* the token is unclaimed: written again next turn */
        /* Its own id: an earlier try of this record landed. Another: the
         * token's job was stored before (a retry after a restart), and
         * this record is an orphan that the next turn deletes. */
        uint64_t owner = claim_owner(claim);
        if (it->rc == 0 && owner && owner != it->job_id) {
            it->dup_of = owner;
            orphan_add(s, it->job_id);
        }
        break;
    }
    default: {
        redisReply *r = reps[(*k)++];
        if (r->type == REDIS_REPLY_STRING) {
            free(it->reply);
            it->reply = malloc(r->len ? r->len : 1);
            if (it->reply) {
                memcpy(it->reply, r->str, r->len);
                it->reply_len = r->len;
                it->rc = 0;
                if (it->lookup_type == VT_MSG_RESULT)
                    lookup_result(it);
            } else {
                it->rc = VT_ERR_NOMEM;
            }
        } else {
            it->rc = r->type == REDIS_REPLY_NIL ? VT_ERR_NOTFOUND : VT_ERR_INTERNAL;
        }
        break;
    }
    }
}

/* Complete a turn under the core lock. Finals that failed go back to the
 * queue. */
static void complete(sched *s, sc_jr_item *list)
{
    sc_jr_item *retry = NULL, **rtail = &retry;
    sc_lock(s);
    for (sc_jr_item *it = list, *next; it; it = next) {
        next = it->next;
        if (it->kind == SC_JR_SUBMIT) {
            sc_agent_submit_done(s, it);
        } else if (it->kind == SC_JR_LOOKUP) {
            sc_agent_lookup_done(s, it);
        } else {
            sc_job *j = sc_job_at(s, it->slot);
            if (it->rc != 0 || !it->reply) {
                it->next = NULL;
                *rtail = it;
                rtail = &it->next;
                continue;
            }
            if (j->gen == it->gen && j->phase == SC_PH_FINAL) {
                if (it->fresh)
                    sc_agent_fresh_done(s, it); /* accepted; or a duplicate, then gone */
                if (!it->dup_of) {
                    j->final_bytes = it->reply;
                    j->final_len = it->reply_len;
                    it->reply = NULL;
                    sc_core_final_journaled(s, it->slot);
                }
            }
        }
        item_free(it);
    }
    sc_core_dispatch(s, SC_LANE_COMPUTE);
    sc_unlock(s);
    push_front(s, retry);
}

static void fail_turn(sched *s, sc_jr_item *list, int rc)
{
    for (sc_jr_item *it = list; it; it = it->next) {
        it->rc = rc;
        if (it->kind == SC_JR_FINAL) {
            free(it->bytes);
            free(it->reply);
            it->bytes = it->reply = NULL;
        }
    }
    complete(s, list);
}

/* A turn on the wire: its items and what reading its replies needs. */
typedef struct sc_turn {
    sc_jr_item *list;          /* NULL: no turn */
    size_t nsub, nfinal, ncmd;
    size_t extra;              /* the transparency log's commands, first */
    uint64_t *orphans;         /* taken from the journal: deleted by this turn */
    size_t n_orphans;
} sc_turn;

enum { TURN_OK = 0, TURN_PREP_FAILED = -1, TURN_IO_FAILED = -2, TURN_RESET = -3 };

/* Encode a turn and queue its commands, in reply order, inside one
 * MULTI/EXEC: the transparency log's (from prepare_finals), the cleanup of
 * earlier turns' orphans (DEL, SREM), then per item (submit: SET NX GET of
 * its request token if it has one, SET of its record; final: SET EX;
 * lookup: GET), then one SADD of every submit id and one SREM of every
 * final id. The transaction makes Redis apply (and, with appendfsync
 * always, fsync) the turn in one event-loop iteration: a plain pipeline of
 * a few tens of KiB is read 16 KiB at a time, and every iteration that
 * wrote pays its own fsync (~0.5 ms here). It also makes a turn all or
 * nothing (a command Redis refuses to queue aborts the EXEC). On
 * TURN_PREP_FAILED the connection may hold a partial turn: the caller
 * reconnects and fails this one. */
static int send_turn(sched *s, sc_jr_item *list, sc_turn *t)
{
    size_t n = 0, nf = 0;
    memset(t, 0, sizeof *t);
    t->list = list;
    for (sc_jr_item *it = list; it; it = it->next) {
        n++;
        if (it->kind == SC_JR_FINAL && !it->bytes)
            nf++;
    }
    vt_histogram_observe(s->m.h_jr_batch, (double)n);
    vt_errinfo ei = {0};
    sc_jr_item **finals = nf ? calloc(nf, sizeof *finals) : NULL;
    size_t k = 0;
    for (sc_jr_item *it = list; it && finals; it = it->next)
        if (it->kind == SC_JR_FINAL && !it->bytes)
            finals[k++] = it;
    vt_redis_append(s->jr.r, &ei, "MULTI");
    int extra = prepare_finals(s, finals, k);
    free(finals);
    if (extra < 0)
        return TURN_PREP_FAILED;
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%lld", (long long)s->cfg.result_ttl_s);
    t->extra = (size_t)extra;
    t->ncmd = t->extra;
    t->orphans = s->jr.orphans;
    t->n_orphans = s->jr.n_orphans;
    s->jr.orphans = NULL;
    s->jr.n_orphans = s->jr.cap_orphans = 0;
    t->ncmd += append_orphans(s, t->orphans, t->n_orphans, &ei);
    for (sc_jr_item *it = list; it; it = it->next)
        if (it->kind != SC_JR_FINAL || it->bytes) {
            append_item(s, it, ttl, &ei, &t->ncmd);
            t->nsub += it->kind == SC_JR_SUBMIT && in_pending_set(it);
            t->nfinal += it->kind == SC_JR_FINAL && in_pending_set(it);
        }
    t->ncmd += append_pending(s, "SADD", list, SC_JR_SUBMIT, t->nsub, &ei);
    t->ncmd += append_pending(s, "SREM", list, SC_JR_FINAL, t->nfinal, &ei);
    vt_redis_append(s->jr.r, &ei, "EXEC");
    return TURN_OK; /* hiredis writes the commands when finish_turn reads */
}

/* Write a queued turn to Redis now (hiredis would write it only when the
 * first reply is read), so Redis works on it while this thread releases
 * the turn's submits to the workers. */
static int flush_out(sched *s, vt_errinfo *ei)
{
    redisContext *c = vt_redis_ctx(s->jr.r);
    int done = 0;
    while (c && !done)
        if (redisBufferWrite(c, &done) != REDIS_OK)
            return vt_fail(ei, VT_ERR_UNAVAILABLE, "redis write: %s", c->errstr);
    return c ? 0 : vt_fail(ei, VT_ERR_UNAVAILABLE, "redis: not connected");
}

static void turn_fail(sched *s, sc_turn *t)
{
    /* Orphans not deleted: the next turn tries again (recovery drops any
     * that remain after a restart). */
    for (size_t i = 0; i < t->n_orphans; i++)
        orphan_add(s, t->orphans[i]);
    free(t->orphans);
    if (t->list)
        fail_turn(s, t->list, VT_ERR_UNAVAILABLE);
    memset(t, 0, sizeof *t);
}

/* The turn was not (or not wholly) stored: drop its replies, fail it, and
 * start over on a fresh connection that reloads the transparency log. */
static int turn_reset(sched *s, sc_turn *t, redisReply **raw, size_t nraw)
{
    vt_errinfo ei = {0};
    vt_redis_free_replies(raw, nraw);
    free(raw);
    vt_redis_reconnect(s->jr.r, &ei);
    vt_counter_inc(s->m.redis_errors);
    turn_fail(s, t);
    return TURN_RESET;
}

/* Read a turn's replies and complete its items. TURN_IO_FAILED: the
 * connection broke; TURN_RESET: a log write was refused (or the replies
 * could not be read) and the connection was reset: the log must be
 * reloaded. Either way this turn was failed. */
static int finish_turn(sched *s, sc_turn *t)
{
    vt_errinfo ei = {0};
    /* MULTI's +OK, a +QUEUED per command, then EXEC's array of the
     * commands' own replies. */
    const size_t nraw = t->ncmd + 2;
    redisReply **raw = calloc(nraw, sizeof *raw);
    int rv = !raw ? VT_ERR_NOMEM : 0;
    if (rv == 0)
        rv = vt_redis_read_replies(s->jr.r, raw, nraw, &ei);
    if (rv != 0) {
        free(raw);
        vt_counter_inc(s->m.redis_errors);
        turn_fail(s, t);
        if (!vt_redis_broken(s->jr.r)) {
            /* Out of memory for the reply vector: the replies still
             * queued can never be matched; start over on a fresh
             * connection (recovery picks up writes that landed). */
            vt_redis_reconnect(s->jr.r, &ei);
            return TURN_RESET;
        }
        set_redis_ok(s, false, vt_errinfo_msg(&ei));
        return TURN_IO_FAILED;
    }
    const redisReply *exec = raw[nraw - 1];
    if (exec->type != REDIS_REPLY_ARRAY || exec->elements != t->ncmd) {
        /* EXECABORT (a command refused while queued) or a reply we do not
         * understand: nothing of this turn was applied. Like a refused log
         * write: start over on a fresh connection with the log reloaded. */
        vt_log_error(s->log, "journal.exec", "Redis did not apply the turn: %.*s",
                     exec->type == REDIS_REPLY_ERROR ? (int)exec->len : 0,
                     exec->type == REDIS_REPLY_ERROR ? exec->str : "");
        return turn_reset(s, t, raw, nraw);
    }
    redisReply **reps = exec->element;
    size_t k = t->extra;
    for (size_t i = 0; i < k; i++)
        if (reps[i]->type == REDIS_REPLY_ERROR) {
            /* A log write was refused: the receipts of this turn are not
             * durable. Reload the log from Redis and redo the finals. */
            vt_log_error(s->log, "journal.tlog", "Redis refused a log write: %.*s",
                         (int)reps[i]->len, reps[i]->str);
            return turn_reset(s, t, raw, nraw);
        }
    if (t->n_orphans) {
        if (reps[k]->type == REDIS_REPLY_ERROR || reps[k + 1]->type == REDIS_REPLY_ERROR)
            for (size_t i = 0; i < t->n_orphans; i++)
                orphan_add(s, t->orphans[i]);
        k += 2;
    }
    const redisReply *srem = t->nfinal ? reps[t->ncmd - 1] : NULL;
    const redisReply *sadd = t->nsub ? reps[t->ncmd - 1 - (t->nfinal ? 1 : 0)] : NULL;
    for (sc_jr_item *it = t->list; it; it = it->next) {
        if (it->kind == SC_JR_FINAL && !it->bytes) {
            it->rc = VT_ERR_NOMEM;
            continue;
        }
        read_item(s, it, reps, &k, sadd, srem);
        if (it->rc == VT_ERR_INTERNAL) {
            vt_counter_inc(s->m.redis_errors);
            vt_log_error(s->log, "journal.error", "job=%016llx kind=%d: Redis refused a write",
                         (unsigned long long)it->job_id, it->kind);
        }
    }
    vt_redis_free_replies(raw, nraw);
    free(raw);
    free(t->orphans);
    complete(s, t->list);
    memset(t, 0, sizeof *t);
    return TURN_OK;
}

/* One turn at a time: while it is on the wire the next one accumulates,
 * so turns (and Redis's fsyncs, dispatch rounds, node batches) grow with
 * the load. Keeping two turns in flight was tried: it halved the turns and
 * cost more CPU per job in every process than the overlap saved. */
static void *journal_main(void *arg)
{
    sched *s = arg;
    vt_thread_name("sc-journal");
    uint64_t last_ping = 0, next_connect = 0;
    bool connected = false;
    for (;;) {
        pthread_mutex_lock(&s->jr.mu);
        /* Sleep only when there is nothing to do: not while a (re)connect
         * is due, so start-up and recovery are not delayed. */
        if (!s->jr.head && !s->jr.stop && (connected || vt_mono_ms() < next_connect)) {
            s->jr.idle = true;
            pthread_cond_broadcast(&s->jr.idle_cv);
            struct timespec ts = abs_in_ms(200);
            s->jr.waiting = true;
            pthread_cond_timedwait(&s->jr.cv, &s->jr.mu, &ts);
            s->jr.waiting = false;
        }
        sc_jr_item *list = s->jr.head;
        s->jr.head = s->jr.tail = NULL;
        s->jr.n_pending = 0;
        bool stop = s->jr.stop;
        if (list)
            s->jr.idle = false;
        pthread_mutex_unlock(&s->jr.mu);
        if (stop && !list)
            break;

        uint64_t now = vt_mono_ms();
        if (connected && (vt_redis_broken(s->jr.r) || s->jr.relog))
            connected = false;
        if (!connected) {
            if (now >= next_connect) {
                connected = connect_and_recover(s) == 0;
                if (!connected)
                    next_connect = now + 200;
            }
            if (!connected) {
                if (list) {
                    /* Submits and look-ups fail now (the agent retries);
                     * final records wait for Redis to come back. */
                    fail_turn(s, list, VT_ERR_UNAVAILABLE);
                }
                if (stop)
                    break; /* cannot flush: the pending set in Redis still has every job */
                if (list)
                    vt_sleep_ms(50);
                continue;
            }
        }
        if (!list) {
            if (now >= last_ping + 500) {
                last_ping = now;
                if (vt_redis_ping(s->jr.r, NULL) != 0) {
                    vt_counter_inc(s->m.redis_errors);
                    set_redis_ok(s, false, "PING failed");
                    connected = false;
                }
            }
            continue;
        }
        sc_turn t;
        int rc = send_turn(s, list, &t);
        /* On the wire now: the workers may start on this turn's submits
         * while Redis writes and fsyncs it. (A failed write shows again
         * when the replies are read, which fails the turn.) */
        vt_errinfo fei = {0};
        if (rc == TURN_OK && flush_out(s, &fei) == 0)
            sc_agent_release_submits(s, list);
        if (rc == TURN_OK) {
            rc = finish_turn(s, &t);
        } else { /* TURN_PREP_FAILED */
            /* Start over on a fresh connection that reloads the log rather
             * than hand out receipts it does not hold. */
            vt_errinfo ei = {0};
            vt_redis_reconnect(s->jr.r, &ei);
            vt_counter_inc(s->m.redis_errors);
            s->jr.relog = true;
            turn_fail(s, &t);
        }
        if (rc == TURN_RESET)
            s->jr.relog = true;
        if (vt_redis_broken(s->jr.r) || s->jr.relog)
            connected = false;
    }
    pthread_mutex_lock(&s->jr.mu);
    s->jr.idle = true;
    pthread_cond_broadcast(&s->jr.idle_cv);
    pthread_mutex_unlock(&s->jr.mu);
    return NULL;
}

int sc_journal_start(sched *s, vt_errinfo *ei)
{
    pthread_mutex_init(&s->jr.mu, NULL);
    pthread_mutex_init(&s->jr.tlog_mu, NULL);
    pthread_cond_init(&s->jr.cv, NULL);
    pthread_cond_init(&s->jr.idle_cv, NULL);
    atomic_store(&s->jr.redis_ok, false);
    atomic_store(&s->jr.epoch, 0);
    int rv = vt_redis_connect(&s->jr.r, s->cfg.redis_url, 1000, 2000, ei);
    if (rv != 0 && rv != VT_ERR_UNAVAILABLE)
        return rv;
    if (rv == VT_ERR_UNAVAILABLE)
        vt_log_error(s->log, "redis.down", "cannot reach Redis at %s: %s (will keep trying)",
                     s->cfg.redis_url, vt_errinfo_msg(ei));
    if (pthread_create(&s->jr.thread, NULL, journal_main, s) != 0)
        return vt_fail(ei, VT_ERR_INTERNAL, "cannot start the journal thread");
    return 0;
}

/* Wait until nothing is queued or in flight (drain). */
bool sc_journal_wait_idle(sched *s, uint64_t timeout_ms)
{
    uint64_t end = vt_mono_ms() + timeout_ms;
    pthread_mutex_lock(&s->jr.mu);
    while (!(s->jr.idle && !s->jr.head)) {
        if (vt_mono_ms() >= end)
            break;
        struct timespec ts = abs_in_ms(20);
        pthread_cond_timedwait(&s->jr.idle_cv, &s->jr.mu, &ts);
    }
    bool ok = s->jr.idle && !s->jr.head;
    pthread_mutex_unlock(&s->jr.mu);
    return ok;
}

void sc_journal_stop(sched *s)
{
    pthread_mutex_lock(&s->jr.mu);
    s->jr.stop = true;
    pthread_cond_signal(&s->jr.cv);
    pthread_mutex_unlock(&s->jr.mu);
    pthread_join(s->jr.thread, NULL);
    for (sc_jr_item *it = s->jr.head, *next; it; it = next) {
        next = it->next;
        item_free(it);
    }
    s->jr.head = s->jr.tail = NULL;
    vt_redis_close(s->jr.r);
    s->jr.r = NULL;
    scratch_free(s);
    free(s->jr.orphans);
    s->jr.orphans = NULL;
    s->jr.n_orphans = s->jr.cap_orphans = 0;
    vt_tlog_free(s->jr.tlog);
    s->jr.tlog = NULL;
}
