/* test_sched_early.c - jobs are dispatched while their submit record is
 * still being written to Redis (the journal turn that writes it also
 * releases it to the workers), and nothing acknowledged is ever lost.
 *
 * Redis is made to hold the journal's writes with CLIENT PAUSE ... WRITE
 * (reads and PING still answer; the pause stays under the journal's 2 s
 * command timeout), so a submit is provably not acknowledged while a
 * worker already holds its lease:
 *  1. finished while unacknowledged: the worker's result and the
 *     verifier's verdict are accepted before the submit is durable; the
 *     final record waits for the submit's, and the agent gets the verified
 *     result with a receipt that verifies;
 *  2. the write fails (Redis killed under the paused turn): the agent gets
 *     `unavailable`, the job is forgotten (the worker's result for it is
 *     stale, status says not found), acknowledged jobs survive the restart
 *     of Redis and complete;
 *  3. the scheduler is killed (-9) while the worker holds such a lease:
 *     the job was never acknowledged, so it may vanish; if its write landed
 *     it completes like any recovered job; the pre-crash lease is void; an
 *     acknowledged job completes after the restart. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "sched_harness.h"
#include "vt_clock.h"
#include "vt_redis.h"
#include "vt_test.h"

#define PAUSE_MS 1500 /* under the journal connection's 2 s command timeout */

/* One submit in a thread: the main thread plays the worker meanwhile. */
typedef struct bg_submit {
    const sh_env *e;
    vt_job_spec spec;
    int32_t toks[5];
    pthread_t th;
    atomic_bool done;
    int rv;
    char id[VT_JOB_ID_MAX + 1];
} bg_submit;

static void *bg_main(void *arg)
{
    bg_submit *b = arg;
    vt_client *a = sh_agent(b->e, b->e->key_a);
    vt_errinfo ei = {0};
    b->rv = vt_client_submit(a, &b->spec, b->id, NULL, &ei);
    atomic_store(&b->done, true);
    vt_client_close(a);
    return NULL;
}

static void bg_start(bg_submit *b, const sh_env *e)
{
    memset(b, 0, sizeof *b);
    b->e = e;
    sh_spec(&b->spec, b->toks, 5);
    vt_job_spec_new_token(&b->spec);
    atomic_store(&b->done, false);
    pthread_create(&b->th, NULL, bg_main, b);
}

/* CLIENT PAUSE <ms> WRITE (pause_ms > 0) or CLIENT UNPAUSE. */
static void client_pause(const sh_env *e, int pause_ms)
{
    vt_redis *rd = NULL;
    vt_errinfo ei = {0};
    VT_REQUIRE_OK(vt_redis_connect(&rd, e->rs.url, 2000, 2000, &ei));
    redisReply *rep = NULL;
    if (pause_ms > 0)
        VT_CHECK_OK(vt_redis_command(rd, &rep, &ei, "CLIENT PAUSE %d WRITE", pause_ms));
    else
        VT_CHECK_OK(vt_redis_command(rd, &rep, &ei, "CLIENT UNPAUSE"));
    if (rep)
        freeReplyObject(rep);
    vt_redis_close(rd);
}

static void pause_writes(const sh_env *e)
{
    client_pause(e, PAUSE_MS);
}

/* A new session after a restart (the allow-list look-up may need Redis's
 * connection back first). */
static int hello_again(sh_node *w, const sh_env *e)
{
    int rv;
    uint64_t t0 = vt_mono_ms();
    while ((rv = sh_node_hello(w, e->model)) == VT_ERR_UNAVAILABLE && vt_mono_ms() < t0 + 10000)
        vt_sleep_ms(100);
    return rv;
}

/* Submit and wait for an acknowledged id (the job then sits queued). */
static void submit_acked(vt_client *a, char id[VT_JOB_ID_MAX + 1])
{
    int32_t toks[3];
    vt_job_spec s;
    sh_spec(&s, toks, 3);
    vt_job_spec_new_token(&s);
    vt_errinfo ei = {0};
    VT_REQUIRE_OK(vt_client_submit(a, &s, id, NULL, &ei));
}

/* Fetch until the job of the background submit is leased to w (other
 * queued jobs may come first; their leases are simply kept). */
static bool fetch_bg_job(sh_node *w, vt_msg *held)
{
    for (int i = 0; i < 4; i++) {
        vt_msg f;
        if (sh_fetch(w, 1, 1000, &f) != 0)
            return false;
        if (f.u.fetch_ok.n_jobs == 1 && f.u.fetch_ok.jobs[0].n_prompt == 5) {
            *held = f;
            return true;
        }
        vt_msg_free(&f);
    }
    return false;
}

/* An acknowledged job sits queued (no worker yet); then, with Redis's
 * writes paused, a second submit's job is leased to w (worker2) while that
 * submit is still waiting for its journal write. */
static void lease_unacked(const sh_env *e, vt_client *a, char acked[VT_JOB_ID_MAX + 1], sh_node *w,
                          bg_submit *b, vt_msg *f)
{
    submit_acked(a, acked);
    VT_REQUIRE_OK(sh_node_open(w, e->worker_url, &e->worker2_kp, false, e->model));
    pause_writes(e);
    bg_start(b, e);
    VT_REQUIRE(fetch_bg_job(w, f), "the unacknowledged job was leased");
    VT_CHECK(!atomic_load(&b->done), "leased while its submit was not acknowledged");
}

static void test_finished_before_ack(sh_env *e)
{
    vt_client *a = sh_agent(e, e->key_a);
    sh_node w, v;
    VT_REQUIRE_OK(sh_node_open(&w, e->worker_url, &e->worker_kp, false, e->model));
    VT_REQUIRE_OK(sh_node_open(&v, e->verifier_url, &e->verifier_kp, true, e->model));
    pause_writes(e);
    bg_submit b;
    bg_start(&b, e);
    vt_msg f, t;
    VT_REQUIRE(fetch_bg_job(&w, &f), "the unacknowledged job was leased");
    VT_CHECK(!atomic_load(&b.done), "leased while its submit was not acknowledged");
    vt_ack ack[1] = {VT_ACK_STALE};
    VT_CHECK_OK(sh_results(&w, f.u.fetch_ok.jobs, 1, ack));
    VT_CHECK_EQ_INT(ack[0], VT_ACK_ACCEPTED);
    VT_REQUIRE_OK(sh_fetch(&v, 1, 1000, &t));
    VT_REQUIRE(t.u.vfetch_ok.n_tasks == 1, "verification task handed out");
    VT_CHECK_OK(sh_verdicts(&v, t.u.vfetch_ok.tasks, 1, true, ack));
    VT_CHECK_EQ_INT(ack[0], VT_ACK_ACCEPTED);
    VT_CHECK(!atomic_load(&b.done), "verified while its submit was not acknowledged");
    char job_id[VT_JOB_ID_MAX + 1];
    memcpy(job_id, f.u.fetch_ok.jobs[0].job_id, sizeof job_id);
    vt_msg_free(&t);
    vt_msg_free(&f);
    pthread_join(b.th, NULL);
    VT_REQUIRE_OK(b.rv);
    VT_CHECK_EQ_STR(b.id, job_id);
    vt_job_result res;
    vt_errinfo ei = {0};
    VT_REQUIRE_OK(vt_client_wait(a, b.id, 5000, &res, &ei));
    VT_CHECK_EQ_INT(res.r.state, VT_JOB_VERIFIED);
    VT_CHECK_EQ_INT(res.r.n_tokens, 5);
    vt_receipt_file rf;
    vt_receipt_report rep;
    VT_CHECK(res.r.receipt_len > 0, "receipt present");
    if (vt_receipt_decode(res.r.receipt, res.r.receipt_len, &rf, &ei) == 0) {
        VT_CHECK_OK(vt_receipt_verify(&rf, e->sched_pk, &rep, &ei));
        vt_receipt_file_free(&rf);
    } else {
        VT_CHECK(false, "receipt decodes: %s", vt_errinfo_msg(&ei));
    }
    vt_job_result_free(&res);
    /* The stored record is the final one: still served once evicted. */
    vt_job_status st;
    VT_CHECK_OK(vt_client_status(a, b.id, &st, &ei));
    VT_CHECK_EQ_INT(st.state, VT_JOB_VERIFIED);
    sh_node_close(&w);
    sh_node_close(&v);
    vt_client_close(a);
}

static void test_write_fails(sh_env *e)
{
    vt_client *a = sh_agent(e, e->key_a);
    char acked[VT_JOB_ID_MAX + 1];
    sh_node w;
    bg_submit b;
    vt_msg f;
    lease_unacked(e, a, acked, &w, &b, &f);
    VT_REQUIRE_OK(vt_ts_redis_kill(&e->rs, SIGKILL));
    pthread_join(b.th, NULL);
    VT_CHECK_ERR(b.rv, VT_ERR_UNAVAILABLE);
    /* Forgotten: the lease is void, the job unknown. */
    VT_REQUIRE_OK(vt_ts_redis_restart(&e->rs));
    VT_CHECK_OK(vt_ts_wait_ready(e->http, 60000));
    VT_REQUIRE_OK(hello_again(&w, e));
    vt_ack ack[1] = {VT_ACK_ACCEPTED};
    VT_CHECK_OK(sh_results(&w, f.u.fetch_ok.jobs, 1, ack));
    VT_CHECK_EQ_INT(ack[0], VT_ACK_STALE);
    vt_job_status st;
    vt_errinfo ei = {0};
    int rv;
    uint64_t t0 = vt_mono_ms();
    while ((rv = vt_client_status(a, f.u.fetch_ok.jobs[0].job_id, &st, &ei)) ==
               VT_ERR_UNAVAILABLE &&
           vt_mono_ms() < t0 + 5000)
        vt_sleep_ms(100);
    VT_CHECK_ERR(rv, VT_ERR_NOTFOUND);
    vt_msg_free(&f);
    sh_node_close(&w);
    /* The acknowledged job survived Redis's kill -9 (AOF, fsync always). */
    sh_runner *r = sh_runner_start(e, &e->worker_kp, &e->verifier_kp);
    sh_expect_verified(a, acked, 10000);
    sh_runner_stop(r);
    vt_client_close(a);
}

static void test_sched_killed(sh_env *e)
{
    vt_client *a = sh_agent(e, e->key_a);
    char acked[VT_JOB_ID_MAX + 1];
    sh_node w;
    bg_submit b;
    vt_msg f;
    lease_unacked(e, a, acked, &w, &b, &f);
    VT_REQUIRE_OK(vt_proc_kill(e->sched, SIGKILL));
    int code = 0;
    vt_proc_wait(e->sched, 5000, &code);
    vt_proc_free(e->sched);
    e->sched = NULL;
    client_pause(e, 0);
    pthread_join(b.th, NULL);
    VT_CHECK(b.rv != 0, "the submit was never acknowledged (%s)", vt_errname(b.rv));
    sh_start_sched(e, NULL);
    VT_REQUIRE_OK(hello_again(&w, e));
    vt_ack ack[1] = {VT_ACK_ACCEPTED};
    VT_CHECK_OK(sh_results(&w, f.u.fetch_ok.jobs, 1, ack));
    VT_CHECK(ack[0] == VT_ACK_STALE, "pre-crash lease void (ack %d)", ack[0]);
    sh_node_close(&w);
    sh_runner *r = sh_runner_start(e, &e->worker_kp, &e->verifier_kp);
    vt_job_result res;
    vt_errinfo ei = {0};
    sh_expect_verified(a, acked, 10000);
    /* Never acknowledged: gone, or (its write landed) recovered and run. */
    int rv = vt_client_wait(a, f.u.fetch_ok.jobs[0].job_id, 10000, &res, &ei);
    VT_CHECK(rv == VT_ERR_NOTFOUND || (rv == 0 && res.r.state == VT_JOB_VERIFIED),
             "unacknowledged job: gone or completed (%s)", vt_errname(rv));
    if (rv == 0)
        vt_job_result_free(&res);
    vt_msg_free(&f);
    sh_runner_stop(r);
    vt_client_close(a);
}

int main(void)
{
    sh_env e;
    sh_setup(&e, NULL);
    test_finished_before_ack(&e);
    test_write_fails(&e);
    test_sched_killed(&e);
    sh_teardown(&e);
    return vt_test_done();
}
