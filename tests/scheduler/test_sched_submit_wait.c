/* test_sched_submit_wait.c - submit with wait_ms: one round trip per job.
 *
 * A submit carrying wait_ms is answered with the job's result_ok (the
 * same bytes a `result` long poll gets) once the job is done, or with
 * result_ok naming the job and its current state when the wait ends first;
 * a resent submit (same request token) still gets submit_ok duplicate.
 * The wait is not part of the job: the journal record does not carry it.
 * Such a job's record is deferred: none while it runs, its final record
 * only (token claimed with it), an ordinary submit record if the wait ends
 * first or the scheduler drains; a resent submit waits along.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "sched_harness.h"
#include "vt_clock.h"
#include "vt_test.h"

/* Send a submit (with the agent's key and wait_ms) as raw bytes and decode
 * whatever comes back into *rep (any type). */
static int call_submit(const sh_env *e, vt_client *a, const vt_job_spec *s, uint32_t wait_ms,
                       vt_msg *rep)
{
    vt_msg m;
    vt_msg_init(&m, VT_MSG_SUBMIT);
    m.u.submit.api_key = e->key_a;
    m.u.submit.job = *s;
    m.u.submit.wait_ms = wait_ms;
    vt_buf b;
    vt_buf_init(&b, 0);
    vt_errinfo ei = {0};
    uint8_t *r = NULL;
    size_t rl = 0;
    int rv = vt_msg_encode(&m, &b, &ei);
    if (rv == 0)
        rv = vt_client_call(a, &b, wait_ms + 10000, &r, &rl, &ei);
    vt_buf_free(&b);
    vt_msg_init(rep, VT_MSG_NONE);
    if (rv == 0)
        rv = vt_msg_decode(r, rl, rep, &ei);
    free(r);
    if (rv == 0 && rep->type == VT_MSG_ERROR)
        rv = rep->u.error.code;
    return rv;
}

/* Done within the wait: the reply is the verified result itself. */
static void test_done_within_wait(sh_env *e, vt_client *a)
{
    sh_runner *run = sh_runner_start(e, &e->worker_kp, &e->verifier_kp);
    int32_t toks[6];
    vt_job_spec s;
    sh_spec(&s, toks, 6);
    for (int i = 0; i < 20; i++) {
        vt_job_spec_new_token(&s);
        vt_msg rep;
        VT_CHECK_OK(call_submit(e, a, &s, 10000, &rep));
        VT_CHECK_EQ_INT(rep.type, VT_MSG_RESULT_OK);
        if (rep.type == VT_MSG_RESULT_OK) {
            const vt_msg_result_ok *r = &rep.u.result_ok;
            VT_CHECK_EQ_INT(r->state, VT_JOB_VERIFIED);
            VT_CHECK(r->job_id[0] == 'j', "job id %s", r->job_id);
            VT_CHECK_EQ_INT(r->n_tokens, 6);
            VT_CHECK(r->n_tokens == 6 && memcmp(r->tokens, toks, sizeof toks) == 0,
                     "identity output");
            VT_CHECK(r->receipt && r->receipt_len > 0, "receipt comes with it");
            /* The same bytes a result request gets afterwards. */
            vt_job_result res;
            vt_errinfo ei = {0};
            VT_CHECK_OK(vt_client_wait(a, r->job_id, 1000, &res, &ei));
            VT_CHECK(res.r.receipt_len == r->receipt_len &&
                         memcmp(res.r.receipt, r->receipt, r->receipt_len) == 0,
                     "result gives the same receipt");
            vt_job_result_free(&res);
        }
        vt_msg_free(&rep);
    }
    /* A resent submit (same token) is a duplicate, answered submit_ok. */
    vt_msg rep;
    VT_CHECK_OK(call_submit(e, a, &s, 10000, &rep));
    VT_CHECK_EQ_INT(rep.type, VT_MSG_SUBMIT_OK);
    VT_CHECK(rep.type == VT_MSG_SUBMIT_OK && rep.u.submit_ok.duplicate, "duplicate");
    vt_msg_free(&rep);
    sh_runner_stop(run);
}

/* The client library's submit-and-wait: one call, the verified result. */
static void test_client_run(sh_env *e, vt_client *a)
{
    sh_runner *run = sh_runner_start(e, &e->worker_kp, &e->verifier_kp);
    int32_t toks[4];
    vt_job_spec s;
    sh_spec(&s, toks, 4);
    for (int i = 0; i < 5; i++) {
        vt_job_spec_new_token(&s);
        char id[VT_JOB_ID_MAX + 1];
        vt_job_result res;
        vt_errinfo ei = {0};
        VT_CHECK_OK(vt_client_run(a, &s, 20000, id, &res, &ei));
        VT_CHECK_EQ_INT(res.r.state, VT_JOB_VERIFIED);
        VT_CHECK_EQ_STR(id, res.r.job_id);
        VT_CHECK(res.r.n_tokens == 4 && memcmp(res.r.tokens, toks, sizeof toks) == 0,
                 "identity output");
        vt_job_result_free(&res);
    }
    /* A refused submit: its error, no id. */
    s.model = "no-such-model";
    vt_job_spec_new_token(&s);
    char id[VT_JOB_ID_MAX + 1];
    vt_job_result res;
    vt_errinfo ei = {0};
    VT_CHECK(vt_client_run(a, &s, 2000, id, &res, &ei) != 0 && id[0] == 0, "refused");
    vt_job_result_free(&res);
    sh_runner_stop(run);
}

/* Nobody computes: the wait ends with the job's id and state, and the job
 * goes on normally (a later result request gets it verified). */
static void test_wait_ends_first(sh_env *e, vt_client *a)
{
    int32_t toks[3];
    vt_job_spec s;
    sh_spec(&s, toks, 3);
    vt_job_spec_new_token(&s);
    vt_msg rep;
    VT_REQUIRE_OK(call_submit(e, a, &s, 300, &rep));
    VT_REQUIRE(rep.type == VT_MSG_RESULT_OK, "result_ok, got type %d", (int)rep.type);
    VT_CHECK_EQ_INT(rep.u.result_ok.state, VT_JOB_QUEUED);
    VT_CHECK_EQ_INT(rep.u.result_ok.n_tokens, 0);
    char id[VT_JOB_ID_MAX + 1];
    memcpy(id, rep.u.result_ok.job_id, sizeof id);
    vt_msg_free(&rep);

    /* Another agent cannot see it; the owner can. */
    vt_client *b = sh_agent(e, e->key_b);
    vt_job_status st;
    vt_errinfo ei = {0};
    VT_CHECK_ERR(vt_client_status(b, id, &st, &ei), VT_ERR_NOTFOUND);
    vt_client_close(b);
    VT_CHECK_OK(vt_client_status(a, id, &st, &ei));
    VT_CHECK_EQ_INT(st.state, VT_JOB_QUEUED);

    sh_runner *run = sh_runner_start(e, &e->worker_kp, &e->verifier_kp);
    sh_expect_verified(a, id, 20000);
    sh_runner_stop(run);
}

/* A submit with a wait, in a thread (the test looks at Redis meanwhile). */
typedef struct waiter {
    const sh_env *e;
    vt_job_spec spec;
    uint32_t wait_ms;
    pthread_t th;
    int rv;
    vt_msg rep;
} waiter;

static void *waiter_main(void *arg)
{
    waiter *w = arg;
    vt_client *c = sh_agent(w->e, w->e->key_a);
    w->rv = call_submit(w->e, c, &w->spec, w->wait_ms, &w->rep);
    vt_client_close(c);
    return NULL;
}

static void waiter_start(waiter *w, const sh_env *e, const vt_job_spec *s, uint32_t wait_ms)
{
    memset(w, 0, sizeof *w);
    w->e = e;
    w->spec = *s;
    w->wait_ms = wait_ms;
    pthread_create(&w->th, NULL, waiter_main, w);
}

static long long job_keys(const sh_env *e)
{
    return sh_redis_int(e, "KEYS", "verity:sched:job:*");
}

static long long pending(const sh_env *e)
{
    return sh_redis_int(e, "SCARD", "verity:sched:pending");
}

/* Wait (up to 10 s) until the scheduler holds n queued jobs: a deferred
 * job has no record in Redis to look for. */
static void wait_queued(const sh_env *e, double n)
{
    uint64_t t0 = vt_mono_ms();
    while (sh_metric(e, "verity_scheduler_jobs{state=\"queued\"}") < n &&
           vt_mono_ms() < t0 + 10000)
        vt_sleep_ms(20);
    VT_CHECK(sh_metric(e, "verity_scheduler_jobs{state=\"queued\"}") >= n, "%g job(s) queued", n);
}

/* The job of a submit that waits has no record in Redis, and is not
 * pending there, until its wait ends (then it gets its submit record) or
 * it ends (its final record is its only one). */
static void test_record_deferred(sh_env *e, vt_client *a)
{
    int32_t toks[3];
    vt_job_spec s;
    sh_spec(&s, toks, 3);
    vt_job_spec_new_token(&s);
    long long keys0 = job_keys(e), pend0 = pending(e);
    long long toks0 = sh_redis_int(e, "KEYS", "verity:sched:tok:*");
    waiter w;
    waiter_start(&w, e, &s, 1500);
    wait_queued(e, 1); /* no worker */
    VT_CHECK_EQ_INT(job_keys(e), keys0);
    VT_CHECK_EQ_INT(pending(e), pend0);
    VT_CHECK_EQ_INT(sh_redis_int(e, "KEYS", "verity:sched:tok:*"), toks0);
    pthread_join(w.th, NULL);
    VT_REQUIRE_OK(w.rv);
    VT_REQUIRE(w.rep.type == VT_MSG_RESULT_OK, "result_ok, got type %d", (int)w.rep.type);
    VT_CHECK_EQ_INT(w.rep.u.result_ok.state, VT_JOB_QUEUED);
    /* The wait ended first: an ordinary submit record now, then the id. */
    VT_CHECK_EQ_INT(job_keys(e), keys0 + 1);
    VT_CHECK_EQ_INT(pending(e), pend0 + 1);
    VT_CHECK_EQ_INT(sh_redis_int(e, "KEYS", "verity:sched:tok:*"), toks0 + 1);
    char id[VT_JOB_ID_MAX + 1];
    memcpy(id, w.rep.u.result_ok.job_id, sizeof id);
    vt_msg_free(&w.rep);
    sh_runner *run = sh_runner_start(e, &e->worker_kp, &e->verifier_kp);
    sh_expect_verified(a, id, 20000);
    /* Done within its wait: one record (the final one), never pending, and
     * its request token is claimed. */
    keys0 = job_keys(e);
    pend0 = pending(e);
    toks0 = sh_redis_int(e, "KEYS", "verity:sched:tok:*");
    vt_job_spec_new_token(&s);
    vt_msg rep;
    VT_REQUIRE_OK(call_submit(e, a, &s, 10000, &rep));
    VT_CHECK(rep.type == VT_MSG_RESULT_OK && rep.u.result_ok.state == VT_JOB_VERIFIED,
             "verified within the wait");
    VT_CHECK_EQ_INT(job_keys(e), keys0 + 1);
    VT_CHECK_EQ_INT(pending(e), pend0);
    VT_CHECK_EQ_INT(sh_redis_int(e, "KEYS", "verity:sched:tok:*"), toks0 + 1);
    /* Resent: the stored job's id. */
    vt_msg again;
    VT_CHECK_OK(call_submit(e, a, &s, 10000, &again));
    VT_CHECK(again.type == VT_MSG_SUBMIT_OK && again.u.submit_ok.duplicate &&
                 rep.type == VT_MSG_RESULT_OK &&
                 strcmp(again.u.submit_ok.job_id, rep.u.result_ok.job_id) == 0,
             "a resent submit names the job");
    vt_msg_free(&again);
    vt_msg_free(&rep);
    sh_runner_stop(run);
}

/* A resent submit (same request token) while the first still waits for
 * its deferred job: with a wait it waits along, and both get the same
 * result; without, the job's record is written and it gets the id. */
static void test_resent_waits_along(sh_env *e, vt_client *a)
{
    int32_t toks[4];
    vt_job_spec s;
    sh_spec(&s, toks, 4);
    vt_job_spec_new_token(&s);
    waiter w1, w2;
    long long pend0 = pending(e);
    waiter_start(&w1, e, &s, 8000);
    wait_queued(e, 1);
    waiter_start(&w2, e, &s, 8000);
    vt_sleep_ms(500); /* its resend parks on the job */
    VT_CHECK_EQ_INT(pending(e), pend0);
    vt_msg dup;
    VT_CHECK_OK(call_submit(e, a, &s, 0, &dup));
    VT_CHECK(dup.type == VT_MSG_SUBMIT_OK && dup.u.submit_ok.duplicate, "resend: duplicate");
    VT_CHECK_EQ_INT(pending(e), pend0 + 1);
    sh_runner *run = sh_runner_start(e, &e->worker_kp, &e->verifier_kp);
    pthread_join(w1.th, NULL);
    pthread_join(w2.th, NULL);
    VT_CHECK_OK(w1.rv);
    VT_CHECK_OK(w2.rv);
    VT_CHECK(w1.rep.type == VT_MSG_RESULT_OK && w1.rep.u.result_ok.state == VT_JOB_VERIFIED,
             "first: verified");
    VT_CHECK(w2.rep.type == VT_MSG_RESULT_OK && w2.rep.u.result_ok.state == VT_JOB_VERIFIED,
             "resent: verified");
    VT_CHECK(w1.rep.type == VT_MSG_RESULT_OK && w2.rep.type == VT_MSG_RESULT_OK &&
                 dup.type == VT_MSG_SUBMIT_OK &&
                 strcmp(w1.rep.u.result_ok.job_id, w2.rep.u.result_ok.job_id) == 0 &&
                 strcmp(w1.rep.u.result_ok.job_id, dup.u.submit_ok.job_id) == 0,
             "one job");
    vt_msg_free(&dup);
    vt_msg_free(&w1.rep);
    vt_msg_free(&w2.rep);
    sh_runner_stop(run);
}

/* SIGTERM while a deferred job is queued: the drain writes its submit
 * record, so the restarted scheduler recovers it and it completes. */
static void test_drain_keeps_deferred(sh_env *e, vt_client *a)
{
    int32_t toks[2];
    vt_job_spec s;
    sh_spec(&s, toks, 2);
    vt_job_spec_new_token(&s);
    long long pend0 = pending(e);
    waiter w;
    waiter_start(&w, e, &s, 20000);
    wait_queued(e, 1);
    VT_CHECK_EQ_INT(pending(e), pend0);
    VT_REQUIRE_OK(vt_proc_kill(e->sched, SIGTERM));
    int code = 0;
    vt_proc_wait(e->sched, 15000, &code);
    vt_proc_free(e->sched);
    e->sched = NULL;
    VT_CHECK_EQ_INT(pending(e), pend0 + 1);
    sh_start_sched(e, e->extra);
    VT_REQUIRE_OK(vt_ts_wait_ready(e->http, 20000));
    /* The agent's request may have gone to the new scheduler (NNG resends
     * it): then it is answered as a resent submit. Either way the job's
     * id is the one in Redis. */
    sh_runner *run = sh_runner_start(e, &e->worker_kp, &e->verifier_kp);
    pthread_join(w.th, NULL);
    vt_msg_free(&w.rep); /* an error reply is decoded too */
    vt_client *b = sh_agent(e, e->key_a);
    vt_msg rep;
    VT_CHECK_OK(call_submit(e, b, &s, 10000, &rep));
    VT_CHECK(rep.type == VT_MSG_SUBMIT_OK && rep.u.submit_ok.duplicate, "the job is stored");
    if (rep.type == VT_MSG_SUBMIT_OK)
        sh_expect_verified(b, rep.u.submit_ok.job_id, 20000);
    vt_msg_free(&rep);
    vt_client_close(b);
    sh_runner_stop(run);
    (void)a;
}

static void restart_sched(sh_env *e)
{
    sh_restart_sched(e, SIGTERM);
    VT_REQUIRE_OK(vt_ts_wait_ready(e->http, 20000));
}

/* A submit that waits, resent after a restart with the token of a job
 * stored before: that job's id (duplicate), and the deferred job's
 * orphaned record is deleted by the next turn. */
static void test_resend_after_restart(sh_env *e)
{
    int32_t toks[3];
    vt_job_spec s;
    sh_spec(&s, toks, 3);
    vt_job_spec_new_token(&s);
    sh_runner *run = sh_runner_start(e, &e->worker_kp, &e->verifier_kp);
    vt_client *a = sh_agent(e, e->key_a);
    vt_msg first;
    VT_REQUIRE_OK(call_submit(e, a, &s, 0, &first));
    VT_REQUIRE(first.type == VT_MSG_SUBMIT_OK, "submit_ok, got type %d", (int)first.type);
    sh_expect_verified(a, first.u.submit_ok.job_id, 20000);
    vt_client_close(a);
    sh_runner_stop(run);
    long long keys0 = job_keys(e);

    restart_sched(e);
    run = sh_runner_start(e, &e->worker_kp, &e->verifier_kp);
    a = sh_agent(e, e->key_a);
    vt_msg again;
    VT_CHECK_OK(call_submit(e, a, &s, 10000, &again));
    VT_CHECK(again.type == VT_MSG_SUBMIT_OK && again.u.submit_ok.duplicate &&
                 strcmp(again.u.submit_ok.job_id, first.u.submit_ok.job_id) == 0,
             "the stored job's id");
    vt_msg_free(&again);
    /* Another job makes another turn, which deletes the orphan. */
    vt_job_spec_new_token(&s);
    vt_msg other;
    VT_CHECK_OK(call_submit(e, a, &s, 10000, &other));
    VT_CHECK(other.type == VT_MSG_RESULT_OK && other.u.result_ok.state == VT_JOB_VERIFIED,
             "a new job");
    vt_msg_free(&other);
    uint64_t t0 = vt_mono_ms();
    while (job_keys(e) != keys0 + 1 && vt_mono_ms() < t0 + 5000)
        vt_sleep_ms(20);
    VT_CHECK_EQ_INT(job_keys(e), keys0 + 1);
    vt_msg_free(&first);
    vt_client_close(a);
    sh_runner_stop(run);
}

/* Redis goes down while a deferred job waits: when the wait ends its
 * record cannot be written, so the agent hears `unavailable` and no id;
 * the job lives on in memory, and the agent's resend (same token) once
 * Redis is back waits along with it and gets its result (or, if the job
 * was done first, its id). */
static void test_deferred_redis_down(sh_env *e)
{
    int32_t toks[5];
    vt_job_spec s;
    sh_spec(&s, toks, 5);
    vt_job_spec_new_token(&s);
    waiter w;
    waiter_start(&w, e, &s, 1500);
    wait_queued(e, 1);
    VT_REQUIRE_OK(vt_ts_redis_kill(&e->rs, SIGKILL));
    pthread_join(w.th, NULL);
    VT_CHECK_ERR(w.rv, VT_ERR_UNAVAILABLE);
    vt_msg_free(&w.rep); /* an error reply is decoded too */
    VT_REQUIRE_OK(vt_ts_redis_restart(&e->rs));
    VT_CHECK_OK(vt_ts_wait_ready(e->http, 60000));
    long long pend0 = pending(e), keys0 = job_keys(e);
    sh_runner *run = sh_runner_start(e, &e->worker_kp, &e->verifier_kp);
    vt_client *a = sh_agent(e, e->key_a);
    vt_msg rep;
    int rv;
    uint64_t t0 = vt_mono_ms();
    while ((rv = call_submit(e, a, &s, 10000, &rep)) == VT_ERR_UNAVAILABLE &&
           vt_mono_ms() < t0 + 5000) {
        vt_msg_free(&rep);
        vt_sleep_ms(100); /* the API-key cache may need one refresh */
    }
    VT_CHECK_OK(rv);
    /* The runner may finish the job before the resend arrives: then the
     * resend is answered like any resend of a stored job. */
    if (rv == 0 && rep.type == VT_MSG_SUBMIT_OK) {
        VT_CHECK(rep.u.submit_ok.duplicate, "a resend");
        sh_expect_verified(a, rep.u.submit_ok.job_id, 10000);
    } else {
        VT_CHECK(rep.type == VT_MSG_RESULT_OK && rep.u.result_ok.state == VT_JOB_VERIFIED,
                 "the job, verified (type %d)", (int)rep.type);
    }
    /* One job, stored once (a second job would add a record too). */
    vt_sleep_ms(500);
    VT_CHECK_EQ_INT(job_keys(e), keys0 + 1);
    VT_CHECK_EQ_INT(pending(e), pend0);
    vt_msg_free(&rep);
    vt_client_close(a);
    sh_runner_stop(run);
}

/* A deferred job that expires while its agent waits: the final record
 * (expired) is its only one, and the agent's reply says expired. */
static void test_deferred_expires(sh_env *e, vt_client *a)
{
    int32_t toks[2];
    vt_job_spec s;
    sh_spec(&s, toks, 2);
    vt_job_spec_new_token(&s);
    s.deadline_ms = 200; /* no worker: it cannot be computed in time */
    long long keys0 = job_keys(e), pend0 = pending(e);
    vt_msg rep;
    VT_REQUIRE_OK(call_submit(e, a, &s, 5000, &rep));
    VT_CHECK(rep.type == VT_MSG_RESULT_OK && rep.u.result_ok.state == VT_JOB_EXPIRED,
             "expired within the wait (type %d)", (int)rep.type);
    VT_CHECK_EQ_INT(job_keys(e), keys0 + 1);
    VT_CHECK_EQ_INT(pending(e), pend0);
    vt_msg_free(&rep);
}

/* Refusals are the usual error replies, wait or not. */
static void test_refused(sh_env *e, vt_client *a)
{
    int32_t toks[2];
    vt_job_spec s;
    sh_spec(&s, toks, 2);
    vt_job_spec_new_token(&s);
    s.model = "no-such-model"; /* an alias the scheduler does not know */
    vt_msg rep;
    int rv = call_submit(e, a, &s, 1000, &rep);
    VT_CHECK(rv != 0 && rv != VT_ERR_TIMEOUT, "refused at once, got %s", vt_errname(rv));
    VT_CHECK_EQ_INT(rep.type, VT_MSG_ERROR);
    vt_msg_free(&rep);
}

#ifdef VT_TEST_FAULTS
/* A deferred job whose final record cannot be allocated (the scheduler's
 * test-build --fault-final-alloc makes one fail as out of memory): nobody
 * was given its id, so its agent hears `unavailable` and no id, nothing
 * of it is stored, and the resend with the same token runs it again and
 * gets its verified result. */
static void test_final_unrecorded(sh_env *e)
{
    static const char *const args[] = {"--fault-final-alloc", "1", NULL};
    e->extra = args;
    restart_sched(e);
    long long keys0 = job_keys(e);
    sh_runner *run = sh_runner_start(e, &e->worker_kp, &e->verifier_kp);
    vt_client *a = sh_agent(e, e->key_a);
    int32_t toks[3];
    vt_job_spec s;
    sh_spec(&s, toks, 3);
    vt_job_spec_new_token(&s);
    vt_msg rep;
    VT_CHECK_ERR(call_submit(e, a, &s, 10000, &rep), VT_ERR_UNAVAILABLE);
    VT_CHECK_EQ_INT(rep.type, VT_MSG_ERROR);
    vt_msg_free(&rep);
    VT_CHECK_EQ_INT(job_keys(e), keys0);
    VT_CHECK_OK(call_submit(e, a, &s, 10000, &rep));
    VT_CHECK(rep.type == VT_MSG_RESULT_OK && rep.u.result_ok.state == VT_JOB_VERIFIED &&
                 !rep.u.result_ok.error,
             "the resend ran and was verified");
    vt_msg_free(&rep);
    VT_CHECK_EQ_INT(job_keys(e), keys0 + 1);
    vt_client_close(a);
    sh_runner_stop(run);
}
#endif

int main(void)
{
    sh_env e;
    sh_setup(&e, NULL);
    vt_client *a = sh_agent(&e, e.key_a);
    test_done_within_wait(&e, a);
    test_client_run(&e, a);
    test_wait_ends_first(&e, a);
    test_refused(&e, a);
    test_record_deferred(&e, a);
    test_deferred_expires(&e, a);
    test_resent_waits_along(&e, a);
    vt_client_close(a);
    test_deferred_redis_down(&e);
    test_drain_keeps_deferred(&e, NULL);
    test_resend_after_restart(&e);
#ifdef VT_TEST_FAULTS
    test_final_unrecorded(&e);
#endif
    sh_teardown(&e);
    return vt_test_done();
}
