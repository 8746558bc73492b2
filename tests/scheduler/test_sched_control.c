/* test_sched_control.c - job control through the real scheduler: full
 * queue -> overloaded with a retry hint, cancel, deadlines (queued and
 * leased), unknown models (immediately for a bad alias, after
 * --nomodel-wait-ms for a hash nobody serves), priorities, lease expiry
 * re-dispatch with the late result ignored, heartbeats extending a lease,
 * and released leases; finished jobs' replies served the same from Redis
 * after a restart. Short leases (400 ms) make the timeouts quick. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched_harness.h"
#include "vt_redis.h"
#include "vt_clock.h"
#include "vt_test.h"

#define QMAX 20

static int submit(vt_client *c, vt_job_spec *s, char id[VT_JOB_ID_MAX + 1], uint32_t *retry)
{
    vt_errinfo ei = {0};
    vt_job_spec_new_token(s);
    return vt_client_submit(c, s, id, retry, &ei);
}

static vt_job_state wait_state(vt_client *a, const char *id, int32_t *err, char *msg, size_t msgsz)
{
    vt_job_result res;
    vt_errinfo ei = {0};
    int rv = vt_client_wait(a, id, 10000, &res, &ei);
    vt_job_state st = rv == 0 ? res.r.state : VT_JOB_STATE__COUNT;
    if (err)
        *err = res.r.error;
    if (msg && msgsz) {
        msg[0] = 0;
        if (rv == 0 && res.r.error_msg)
            snprintf(msg, msgsz, "%s", res.r.error_msg);
    }
    vt_job_result_free(&res);
    return st;
}

/* Replies taken from memory as jobs finish, compared byte for byte with
 * the ones a restarted scheduler serves from their final records in Redis
 * (a verified job's and a failed one's rebuilt from the stored receipt, a
 * cancelled one's stored whole: sc_record.c). */
typedef struct kept {
    char ids[4][VT_JOB_ID_MAX + 1];
    vt_buf replies[4];
    int n;
} kept;

static int reply_bytes(vt_client *a, const char *id, vt_buf *out)
{
    vt_job_result res;
    vt_errinfo ei = {0};
    int rv = vt_client_wait(a, id, 10000, &res, &ei);
    if (rv == 0) {
        vt_msg m;
        vt_msg_init(&m, VT_MSG_RESULT_OK);
        m.u.result_ok = res.r;
        rv = vt_msg_encode(&m, out, &ei);
    }
    vt_job_result_free(&res);
    return rv;
}

static void keep(kept *k, vt_client *a, const char *id)
{
    VT_REQUIRE(k->n < 4, "room to keep a reply");
    snprintf(k->ids[k->n], sizeof k->ids[k->n], "%s", id);
    vt_buf_init(&k->replies[k->n], 0);
    VT_CHECK_OK(reply_bytes(a, id, &k->replies[k->n]));
    k->n++;
}

static void test_replies_from_redis(sh_env *e, kept *k)
{
    VT_REQUIRE(k->n == 3, "three replies kept (%d)", k->n);
    sh_restart_sched(e, SIGTERM);
    vt_client *a = sh_agent(e, e->key_a);
    for (int i = 0; i < k->n; i++) {
        vt_buf b;
        vt_buf_init(&b, 0);
        VT_CHECK_OK(reply_bytes(a, k->ids[i], &b));
        VT_CHECK(b.len == k->replies[i].len &&
                     memcmp(b.data, k->replies[i].data, b.len) == 0,
                 "job %s: reply from Redis (%zu B) is the one served from memory (%zu B)",
                 k->ids[i], b.len, k->replies[i].len);
        vt_buf_free(&b);
        vt_buf_free(&k->replies[i]);
    }
    /* A record whose receipt no longer decodes (Redis edited behind the
     * scheduler's back): a clear error and a log line, and the scheduler
     * keeps serving. */
    char key[64];
    snprintf(key, sizeof key, "verity:sched:job:%s", k->ids[1] + 2);
    vt_redis *r = NULL;
    redisReply *rep = NULL;
    VT_REQUIRE_OK(vt_redis_connect(&r, e->rs.url, 2000, 2000, NULL));
    VT_REQUIRE_OK(vt_redis_command(r, &rep, NULL, "GET %s", key));
    VT_REQUIRE(rep->type == REDIS_REPLY_STRING, "record of %s in Redis", k->ids[1]);
    size_t at = 0;
    for (size_t i = 0; !at && i + 8 < rep->len; i++)
        if (memcmp(rep->str + i, "\xa7receipt", 8) == 0)
            at = i + 8;
    VT_REQUIRE(at != 0, "%s stored in the receipt form", k->ids[1]);
    at += (uint8_t)rep->str[at] == 0xc4 ? 2 : (uint8_t)rep->str[at] == 0xc5 ? 3 : 5;
    freeReplyObject(rep);
    char off[24];
    snprintf(off, sizeof off, "%zu", at);
    VT_REQUIRE_OK(vt_redis_command(r, &rep, NULL, "SETRANGE %s %s %b", key, off, "\xc1", (size_t)1));
    freeReplyObject(rep);
    vt_redis_close(r);
    vt_job_result res;
    vt_errinfo ei = {0};
    VT_CHECK_ERR(vt_client_wait(a, k->ids[1], 2000, &res, &ei), VT_ERR_INTERNAL);
    VT_CHECK(strstr(vt_errinfo_msg(&ei), "unreadable") != NULL, "clear message: %s",
             vt_errinfo_msg(&ei));
    vt_job_result_free(&res);
    VT_CHECK(sh_log_has(e, "final record unreadable"), "unreadable record logged");
    vt_job_status st;
    VT_CHECK_OK(vt_client_status(a, k->ids[2], &st, &ei));
    VT_CHECK_EQ_INT(st.state, VT_JOB_FAILED);
    vt_client_close(a);
}

static void test_overload_and_cancel(sh_env *e, vt_client *a, kept *k)
{
    int32_t toks[2];
    vt_job_spec s;
    sh_spec(&s, toks, 2);
    static char ids[QMAX][VT_JOB_ID_MAX + 1];
    for (int i = 0; i < QMAX; i++)
        VT_CHECK_OK(submit(a, &s, ids[i], NULL));
    char id[VT_JOB_ID_MAX + 1];
    uint32_t retry = 0;
    VT_CHECK_ERR(submit(a, &s, id, &retry), VT_ERR_OVERLOADED);
    VT_CHECK(retry > 0, "retry hint given (%u ms)", retry);
    VT_CHECK(sh_metric(e, "verity_scheduler_submit_rejected_total{reason=\"overloaded\"}") >= 1,
             "rejection counted");
    for (int i = 0; i < QMAX; i++) {
        vt_job_state st;
        vt_errinfo ei = {0};
        VT_CHECK_OK(vt_client_cancel(a, ids[i], &st, &ei));
        VT_CHECK_EQ_INT(st, VT_JOB_CANCELLED);
    }
    int32_t err = 0;
    VT_CHECK_EQ_INT(wait_state(a, ids[0], &err, NULL, 0), VT_JOB_CANCELLED);
    VT_CHECK_EQ_INT(err, VT_ERR_CANCELLED);
    keep(k, a, ids[0]);
    /* Room again. */
    VT_CHECK_OK(submit(a, &s, id, NULL));
    vt_job_state st;
    vt_errinfo ei = {0};
    VT_CHECK_OK(vt_client_cancel(a, id, &st, &ei));
}

static void test_priority(sh_env *e, vt_client *a)
{
    sh_node w;
    VT_REQUIRE_OK(sh_node_open(&w, e->worker_url, &e->worker_kp, false, e->model));
    int32_t toks[2];
    vt_job_spec s;
    sh_spec(&s, toks, 2);
    s.verify = "none";
    const int prio[] = {5, 1, 3, 1};
    const int order[] = {1, 3, 2, 0}; /* expected lease order (index into prio) */
    char ids[4][VT_JOB_ID_MAX + 1];
    for (int i = 0; i < 4; i++) {
        s.priority = prio[i];
        VT_REQUIRE_OK(submit(a, &s, ids[i], NULL));
    }
    for (int i = 0; i < 4; i++) {
        vt_msg f;
        VT_REQUIRE_OK(sh_fetch(&w, 1, 2000, &f));
        VT_REQUIRE(f.u.fetch_ok.n_jobs == 1, "one job");
        VT_CHECK(strcmp(f.u.fetch_ok.jobs[0].job_id, ids[order[i]]) == 0,
                 "lease %d: got %s want %s", i, f.u.fetch_ok.jobs[0].job_id, ids[order[i]]);
        sh_results(&w, f.u.fetch_ok.jobs, 1, NULL);
        vt_msg_free(&f);
    }
    sh_node_close(&w);
}

/* Fair share: agent A queues ten jobs, then agent B two, all at one
 * priority; a worker taking one job at a time gets B's jobs second and
 * fourth (the agents alternate), not after all of A's. */
static void test_fair_share(sh_env *e, vt_client *a)
{
    vt_client *b = sh_agent(e, e->key_b);
    sh_node w;
    VT_REQUIRE_OK(sh_node_open(&w, e->worker_url, &e->worker_kp, false, e->model));
    int32_t toks[2];
    vt_job_spec s;
    sh_spec(&s, toks, 2);
    s.verify = "none";
    enum { NA = 10, NB = 2 };
    char ids[NA + NB][VT_JOB_ID_MAX + 1];
    for (int i = 0; i < NA + NB; i++) {
        vt_job_spec_new_token(&s);
        VT_REQUIRE_OK(submit(i < NA ? a : b, &s, ids[i], NULL));
    }
    int b_at[NB], nb = 0;
    for (int i = 0; i < NA + NB; i++) {
        vt_msg f;
        VT_REQUIRE_OK(sh_fetch(&w, 1, 2000, &f));
        VT_REQUIRE(f.u.fetch_ok.n_jobs == 1, "one job");
        for (int k = NA; k < NA + NB; k++)
            if (strcmp(f.u.fetch_ok.jobs[0].job_id, ids[k]) == 0 && nb < NB)
                b_at[nb++] = i;
        sh_results(&w, f.u.fetch_ok.jobs, 1, NULL);
        vt_msg_free(&f);
    }
    VT_REQUIRE(nb == NB, "B's jobs were leased (%d)", nb);
    VT_CHECK(b_at[0] == 1 && b_at[1] == 3, "B's jobs leased at %d and %d, want 1 and 3", b_at[0],
             b_at[1]);

    /* An agent's own jobs stay in arrival order, also after it cancelled
     * some: A queues three, cancels the first two, queues a fourth. */
    char q[4][VT_JOB_ID_MAX + 1];
    for (int i = 0; i < 4; i++) {
        if (i == 3)
            for (int k = 0; k < 2; k++) {
                vt_job_state st;
                vt_errinfo ei = {0};
                VT_CHECK_OK(vt_client_cancel(a, q[k], &st, &ei));
            }
        vt_job_spec_new_token(&s);
        VT_REQUIRE_OK(submit(a, &s, q[i], NULL));
    }
    for (int i = 2; i < 4; i++) {
        vt_msg f;
        VT_REQUIRE_OK(sh_fetch(&w, 1, 2000, &f));
        VT_REQUIRE(f.u.fetch_ok.n_jobs == 1, "one job");
        VT_CHECK(strcmp(f.u.fetch_ok.jobs[0].job_id, q[i]) == 0, "lease %d: got %s want %s", i,
                 f.u.fetch_ok.jobs[0].job_id, q[i]);
        sh_results(&w, f.u.fetch_ok.jobs, 1, NULL);
        vt_msg_free(&f);
    }
    sh_node_close(&w);
    vt_client_close(b);
}

static void test_deadline_and_nomodel(sh_env *e, vt_client *a)
{
    /* A live worker (hello, no fetch) so the job waits for capacity, not
     * for a model. */
    sh_node w;
    VT_REQUIRE_OK(sh_node_open(&w, e->worker_url, &e->worker_kp, false, e->model));
    int32_t toks[2];
    vt_job_spec s;
    sh_spec(&s, toks, 2);
    s.deadline_ms = 150;
    char id[VT_JOB_ID_MAX + 1];
    VT_REQUIRE_OK(submit(a, &s, id, NULL));
    int32_t err = 0;
    VT_CHECK_EQ_INT(wait_state(a, id, &err, NULL, 0), VT_JOB_EXPIRED);
    VT_CHECK_EQ_INT(err, VT_ERR_EXPIRED);

    /* Expiry while leased: the worker learns through its heartbeat. */
    s.deadline_ms = 250;
    VT_REQUIRE_OK(submit(a, &s, id, NULL));
    vt_msg f;
    VT_REQUIRE_OK(sh_fetch(&w, 1, 2000, &f));
    VT_REQUIRE(f.u.fetch_ok.n_jobs == 1, "leased");
    VT_CHECK(f.u.fetch_ok.jobs[0].deadline_ms > 0, "deadline passed to the worker");
    uint64_t lease = f.u.fetch_ok.jobs[0].lease_id;
    VT_CHECK_EQ_INT(wait_state(a, id, &err, NULL, 0), VT_JOB_EXPIRED);
    uint64_t cancel[4];
    uint32_t nc = 0;
    VT_CHECK_OK(sh_heartbeat(&w, &lease, 1, cancel, &nc));
    VT_CHECK(nc == 1 && cancel[0] == lease, "expired lease is cancelled via heartbeat");
    vt_ack ack[1];
    VT_CHECK_OK(sh_results(&w, f.u.fetch_ok.jobs, 1, ack));
    VT_CHECK_EQ_INT(ack[0], VT_ACK_STALE);
    vt_msg_free(&f);
    sh_node_close(&w);

    /* A name that is no alias: refused at once. */
    s.deadline_ms = 0;
    s.model = "no-such-model";
    VT_CHECK_ERR(submit(a, &s, id, NULL), VT_ERR_NOMODEL);
    /* A hash nobody serves: waits --nomodel-wait-ms, then fails clearly. */
    s.model = "1111111111111111111111111111111111111111111111111111111111111111";
    VT_REQUIRE_OK(submit(a, &s, id, NULL));
    char msg[256];
    VT_CHECK_EQ_INT(wait_state(a, id, &err, msg, sizeof msg), VT_JOB_FAILED);
    VT_CHECK_EQ_INT(err, VT_ERR_NOMODEL);
    VT_CHECK(strstr(msg, "no live worker serves model") != NULL, "clear message: '%s'", msg);
}

static void test_leases(sh_env *e, vt_client *a, kept *k)
{
    sh_node w1, w2, v;
    VT_REQUIRE_OK(sh_node_open(&w1, e->worker_url, &e->worker_kp, false, e->model));
    VT_REQUIRE_OK(sh_node_open(&w2, e->worker_url, &e->worker2_kp, false, e->model));
    VT_REQUIRE_OK(sh_node_open(&v, e->verifier_url, &e->verifier_kp, true, e->model));
    int32_t toks[3];
    vt_job_spec s;
    sh_spec(&s, toks, 3);
    char id[VT_JOB_ID_MAX + 1];
    VT_REQUIRE_OK(submit(a, &s, id, NULL));

    /* w1 takes it and goes quiet: the lease runs out, w2 gets the job. */
    vt_msg f1, f2;
    VT_REQUIRE_OK(sh_fetch(&w1, 1, 2000, &f1));
    VT_REQUIRE(f1.u.fetch_ok.n_jobs == 1, "w1 leased");
    VT_REQUIRE_OK(sh_fetch(&w2, 1, 4000, &f2));
    VT_REQUIRE(f2.u.fetch_ok.n_jobs == 1, "w2 got the job after the lease expired");
    VT_CHECK_EQ_STR(f2.u.fetch_ok.jobs[0].job_id, id);
    VT_CHECK(f2.u.fetch_ok.jobs[0].lease_id != f1.u.fetch_ok.jobs[0].lease_id, "new lease");
    /* The late result of the expired lease is ignored. */
    vt_ack ack[1];
    VT_CHECK_OK(sh_results(&w1, f1.u.fetch_ok.jobs, 1, ack));
    VT_CHECK_EQ_INT(ack[0], VT_ACK_STALE);
    VT_CHECK_OK(sh_results(&w2, f2.u.fetch_ok.jobs, 1, ack));
    VT_CHECK_EQ_INT(ack[0], VT_ACK_ACCEPTED);
    vt_msg_free(&f1);
    vt_msg_free(&f2);
    vt_msg t;
    VT_REQUIRE_OK(sh_fetch(&v, 1, 2000, &t));
    VT_REQUIRE(t.u.vfetch_ok.n_tasks == 1, "task");
    VT_CHECK_OK(sh_verdicts(&v, t.u.vfetch_ok.tasks, 1, true, ack));
    /* A verdict resent is a duplicate. */
    VT_CHECK_OK(sh_verdicts(&v, t.u.vfetch_ok.tasks, 1, true, ack));
    VT_CHECK_EQ_INT(ack[0], VT_ACK_DUPLICATE);
    vt_msg_free(&t);
    vt_job_result res;
    vt_errinfo ei = {0};
    VT_REQUIRE_OK(vt_client_wait(a, id, 5000, &res, &ei));
    VT_CHECK_EQ_INT(res.r.state, VT_JOB_VERIFIED);
    VT_CHECK(memcmp(res.r.worker, e->worker2_kp.pk, 32) == 0, "w2's result delivered");
    vt_job_result_free(&res);
    VT_CHECK(sh_metric(e, "verity_scheduler_lease_expired_total") >= 1, "expiry counted");
    VT_CHECK(sh_log_has(e, "lease.expired"), "expiry logged");

    /* Heartbeats keep a lease alive past --lease-ms. */
    VT_REQUIRE_OK(submit(a, &s, id, NULL));
    VT_REQUIRE_OK(sh_fetch(&w1, 1, 2000, &f1));
    VT_REQUIRE(f1.u.fetch_ok.n_jobs == 1, "w1 leased");
    uint64_t lease = f1.u.fetch_ok.jobs[0].lease_id;
    uint64_t t0 = vt_mono_ms();
    while (vt_mono_ms() < t0 + 1200) {
        uint32_t nc = 9;
        VT_CHECK_OK(sh_heartbeat(&w1, &lease, 1, NULL, &nc));
        VT_CHECK_EQ_INT(nc, 0);
        vt_sleep_ms(100);
    }
    VT_CHECK_OK(sh_results(&w1, f1.u.fetch_ok.jobs, 1, ack));
    VT_CHECK_EQ_INT(ack[0], VT_ACK_ACCEPTED);
    vt_msg_free(&f1);
    VT_REQUIRE_OK(sh_fetch(&v, 1, 2000, &t));
    VT_CHECK_OK(sh_verdicts(&v, t.u.vfetch_ok.tasks, t.u.vfetch_ok.n_tasks, true, NULL));
    vt_msg_free(&t);
    VT_CHECK_EQ_INT(wait_state(a, id, NULL, NULL, 0), VT_JOB_VERIFIED);

    /* A released lease goes straight back to the queue. */
    VT_REQUIRE_OK(submit(a, &s, id, NULL));
    VT_REQUIRE_OK(sh_fetch(&w1, 1, 2000, &f1));
    VT_REQUIRE(f1.u.fetch_ok.n_jobs == 1, "w1 leased");
    vt_msg m, rep;
    vt_msg_init(&m, VT_MSG_RELEASE);
    memcpy(m.u.release.session, w1.session, sizeof w1.session);
    lease = f1.u.fetch_ok.jobs[0].lease_id;
    m.u.release.lease_ids = &lease;
    m.u.release.n_lease_ids = 1;
    VT_CHECK_OK(sh_node_call(&w1, &m, VT_MSG_RELEASE_OK, &rep, 3000));
    vt_msg_free(&rep);
    vt_msg_free(&f1);
    VT_REQUIRE_OK(sh_fetch(&w2, 1, 2000, &f2));
    VT_CHECK(f2.u.fetch_ok.n_jobs == 1 && strcmp(f2.u.fetch_ok.jobs[0].job_id, id) == 0,
             "released job re-leased");
    sh_results(&w2, f2.u.fetch_ok.jobs, f2.u.fetch_ok.n_jobs, NULL);
    vt_msg_free(&f2);
    VT_REQUIRE_OK(sh_fetch(&v, 1, 2000, &t));
    VT_CHECK_OK(sh_verdicts(&v, t.u.vfetch_ok.tasks, t.u.vfetch_ok.n_tasks, true, NULL));
    vt_msg_free(&t);
    VT_CHECK_EQ_INT(wait_state(a, id, NULL, NULL, 0), VT_JOB_VERIFIED);
    keep(k, a, id);

    sh_node_close(&w1);
    sh_node_close(&w2);
    sh_node_close(&v);
}

/* verify=full:2 with a single verifier: after it passes, nobody may give
 * the second verdict, and the job fails clearly instead of waiting forever. */
static void test_too_few_verifiers(sh_env *e, vt_client *a, kept *k)
{
    sh_node w, v;
    VT_REQUIRE_OK(sh_node_open(&w, e->worker_url, &e->worker_kp, false, e->model));
    VT_REQUIRE_OK(sh_node_open(&v, e->verifier_url, &e->verifier_kp, true, e->model));
    int32_t toks[2];
    vt_job_spec s;
    sh_spec(&s, toks, 2);
    s.verify = "full:2";
    char id[VT_JOB_ID_MAX + 1];
    VT_REQUIRE_OK(submit(a, &s, id, NULL));
    vt_msg f, t;
    VT_REQUIRE_OK(sh_fetch(&w, 1, 2000, &f));
    VT_REQUIRE(f.u.fetch_ok.n_jobs == 1, "leased");
    VT_CHECK_OK(sh_results(&w, f.u.fetch_ok.jobs, 1, NULL));
    vt_msg_free(&f);
    VT_REQUIRE_OK(sh_fetch(&v, 1, 2000, &t));
    VT_REQUIRE(t.u.vfetch_ok.n_tasks == 1, "first verification");
    VT_CHECK_OK(sh_verdicts(&v, t.u.vfetch_ok.tasks, 1, true, NULL));
    vt_msg_free(&t);
    VT_REQUIRE_OK(sh_fetch(&v, 1, 300, &t));
    VT_CHECK_EQ_INT(t.u.vfetch_ok.n_tasks, 0); /* never the same verifier twice */
    vt_msg_free(&t);
    int32_t err = 0;
    char msg[256];
    VT_CHECK_EQ_INT(wait_state(a, id, &err, msg, sizeof msg), VT_JOB_FAILED);
    VT_CHECK_EQ_INT(err, VT_ERR_NOMODEL);
    VT_CHECK(strstr(msg, "eligible live verifiers") != NULL, "clear message: '%s'", msg);
    keep(k, a, id);
    sh_node_close(&w);
    sh_node_close(&v);
}

int main(void)
{
    static const char *const args[] = {"--lease-ms", "400", "--nomodel-wait-ms", "400",
                                       "--queue-max", "20", NULL};
    sh_env e;
    sh_setup(&e, args);
    vt_client *a = sh_agent(&e, e.key_a);
    kept k = {.n = 0};
    test_overload_and_cancel(&e, a, &k);
    test_priority(&e, a);
    test_fair_share(&e, a);
    test_deadline_and_nomodel(&e, a);
    test_leases(&e, a, &k);
    test_too_few_verifiers(&e, a, &k);
    vt_client_close(a);
    test_replies_from_redis(&e, &k);
    sh_teardown(&e);
    return vt_test_done();
}
