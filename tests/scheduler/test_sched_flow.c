/* test_sched_flow.c - a job's whole life through the real scheduler:
 * access control (API keys, ownership, node allow-list), lease -> result ->
 * verification -> verified delivery, duplicate results, a failed
 * verification that re-executes elsewhere, verify=none, idempotent submit,
 * a batch of jobs through a worker/verifier loop, revocation of a live
 * node, and what the scheduler says about Redis's persistence settings. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched_harness.h"
#include "vt_arbiter.h"
#include "vt_clock.h"
#include "vt_test.h"

static int submit(vt_client *c, vt_job_spec *s, char id[VT_JOB_ID_MAX + 1])
{
    vt_errinfo ei = {0};
    return vt_client_submit(c, s, id, NULL, &ei);
}

static void test_access(sh_env *e)
{
    int32_t toks[4];
    vt_job_spec s;
    sh_spec(&s, toks, 4);
    char id[VT_JOB_ID_MAX + 1];
    vt_client *bad = sh_agent(e, "vtk_ag_aaaaaaaaaaaa_0000000000000000000000000000000000000000000000000000000000000000");
    VT_CHECK_ERR(submit(bad, &s, id), VT_ERR_AUTH);
    vt_client_close(bad);
    vt_client *rev = sh_agent(e, e->key_revoked);
    VT_CHECK_ERR(submit(rev, &s, id), VT_ERR_AUTH);
    vt_client_close(rev);

    sh_node n;
    VT_CHECK_ERR(sh_node_open(&n, e->worker_url, &e->rogue_kp, false, e->model), VT_ERR_AUTH);
    sh_node_close(&n);
    /* A verifier's key is not a worker's. */
    VT_CHECK_ERR(sh_node_open(&n, e->worker_url, &e->verifier_kp, false, e->model), VT_ERR_AUTH);
    sh_node_close(&n);
    /* A made-up session gets nothing. */
    VT_REQUIRE_OK(sh_node_open(&n, e->worker_url, &e->worker_kp, false, e->model));
    strcpy(n.session, "s0.1.0000000000000000");
    vt_msg rep;
    VT_CHECK_ERR(sh_fetch(&n, 1, 0, &rep), VT_ERR_AUTH);
    sh_node_close(&n);
    VT_CHECK(sh_log_has(e, "node.refused"), "refused hello is logged");

    /* A recorded hello, replayed inside its clock window on another
     * connection, is refused (its nonce was used), and the node whose hello
     * it was keeps its session; the node's next hello has a fresh nonce. */
    sh_node w, thief;
    VT_REQUIRE_OK(sh_node_open(&w, e->worker_url, &e->worker_kp, false, e->model));
    VT_REQUIRE_OK(sh_node_dial(&thief, e->worker_url, &e->rogue_kp, false));
    VT_CHECK_ERR(sh_node_call_raw(&thief, w.hello, w.hello_len, VT_MSG_HELLO_OK, &rep, 5000),
                 VT_ERR_AUTH);
    VT_CHECK(sh_log_has(e, "hello replayed"), "replay logged");
    VT_CHECK_OK(sh_fetch(&w, 1, 0, &rep));
    vt_msg_free(&rep);
    /* The nonce is kept in Redis (a restarted scheduler still knows it)
     * while the hello's clock is in the 5-minute window, and no longer. */
    vt_msg hm;
    vt_errinfo ei = {0};
    VT_REQUIRE_OK(vt_msg_decode(w.hello, w.hello_len, &hm, &ei));
    char pk[65], nonce[2 * VT_NONCE_BYTES + 1], key[200];
    vt_hex_encode(hm.u.hello.node_pk, 32, pk);
    vt_hex_encode(hm.u.hello.nonce, VT_NONCE_BYTES, nonce);
    snprintf(key, sizeof key, "verity:hello:{%s}:%s", pk, nonce);
    vt_msg_free(&hm);
    long long ttl = sh_redis_int(e, "PTTL", key);
    VT_CHECK(ttl > 280000 && ttl <= 301000, "nonce kept for the clock window (PTTL %lld ms)", ttl);
    VT_CHECK_OK(sh_node_hello(&w, e->model));
    sh_node_close(&thief);
    sh_node_close(&w);
}

static void test_lifecycle(sh_env *e)
{
    vt_client *a = sh_agent(e, e->key_a), *b = sh_agent(e, e->key_b);
    sh_node w, v;
    VT_REQUIRE_OK(sh_node_open(&w, e->worker_url, &e->worker_kp, false, e->model));
    VT_REQUIRE_OK(sh_node_open(&v, e->verifier_url, &e->verifier_kp, true, e->model));
    int32_t toks[5];
    vt_job_spec s;
    sh_spec(&s, toks, 5);
    char id[VT_JOB_ID_MAX + 1], id2[VT_JOB_ID_MAX + 1];
    VT_REQUIRE_OK(submit(a, &s, id));
    vt_errinfo ei = {0};
    vt_job_status st;
    VT_CHECK_OK(vt_client_status(a, id, &st, &ei));
    VT_CHECK_EQ_INT(st.state, VT_JOB_QUEUED);
    /* Same request token: same job. */
    VT_CHECK_OK(submit(a, &s, id2));
    VT_CHECK_EQ_STR(id, id2);

    /* Agent B cannot see, wait on or cancel A's job. */
    VT_CHECK_ERR(vt_client_status(b, id, &st, &ei), VT_ERR_NOTFOUND);
    vt_job_state cs;
    VT_CHECK_ERR(vt_client_cancel(b, id, &cs, &ei), VT_ERR_NOTFOUND);
    vt_job_result res;
    VT_CHECK_ERR(vt_client_wait(b, id, 100, &res, &ei), VT_ERR_NOTFOUND);
    vt_job_result_free(&res);
    VT_CHECK_ERR(vt_client_status(b, "j-00000000deadbeef", &st, &ei), VT_ERR_NOTFOUND);

    vt_msg f;
    VT_REQUIRE_OK(sh_fetch(&w, 4, 2000, &f));
    VT_REQUIRE(f.u.fetch_ok.n_jobs == 1, "one job leased, got %u", f.u.fetch_ok.n_jobs);
    VT_CHECK_EQ_STR(f.u.fetch_ok.jobs[0].job_id, id);
    VT_CHECK(memcmp(f.u.fetch_ok.jobs[0].model_sha256, e->model, 32) == 0, "alias resolved");
    VT_CHECK_OK(vt_client_status(a, id, &st, &ei));
    VT_CHECK_EQ_INT(st.state, VT_JOB_LEASED);
    vt_ack ack[1];
    VT_CHECK_OK(sh_results(&w, f.u.fetch_ok.jobs, 1, ack));
    VT_CHECK_EQ_INT(ack[0], VT_ACK_ACCEPTED);
    /* Resent result: recorded once, acked as duplicate. */
    VT_CHECK_OK(sh_results(&w, f.u.fetch_ok.jobs, 1, ack));
    VT_CHECK_EQ_INT(ack[0], VT_ACK_DUPLICATE);
    vt_msg_free(&f);
    VT_CHECK_OK(vt_client_status(a, id, &st, &ei));
    VT_CHECK(st.state == VT_JOB_COMPUTED, "computed, got %s", vt_job_state_name(st.state));

    /* Not delivered before verification. */
    VT_CHECK_ERR(vt_client_wait(a, id, 200, &res, &ei), VT_ERR_TIMEOUT);
    vt_job_result_free(&res);

    vt_msg t;
    VT_REQUIRE_OK(sh_fetch(&v, 4, 2000, &t));
    VT_REQUIRE(t.u.vfetch_ok.n_tasks == 1, "one task");
    VT_CHECK(memcmp(t.u.vfetch_ok.tasks[0].worker, e->worker_kp.pk, 32) == 0, "task names worker");
    VT_CHECK_EQ_INT(t.u.vfetch_ok.tasks[0].n_output, 5);
    VT_CHECK_OK(sh_verdicts(&v, t.u.vfetch_ok.tasks, 1, true, ack));
    VT_CHECK_EQ_INT(ack[0], VT_ACK_ACCEPTED);
    vt_msg_free(&t);

    VT_REQUIRE_OK(vt_client_wait(a, id, 5000, &res, &ei));
    VT_CHECK_EQ_INT(res.r.state, VT_JOB_VERIFIED);
    VT_CHECK_EQ_INT(res.r.n_tokens, 5);
    VT_CHECK(res.r.n_tokens == 5 && memcmp(res.r.tokens, toks, sizeof toks) == 0, "identity output");
    VT_CHECK_EQ_INT(res.r.verify.passed, 1);
    VT_CHECK_EQ_INT(res.r.n_verdicts, 1);
    VT_CHECK(res.r.receipt_len > 64, "scheduler receipt attached (%u bytes)", res.r.receipt_len);
    {
        /* The receipt checks offline against the scheduler's key: worker
         * signature, the verdict, and the transparency-log inclusion. */
        vt_receipt_file rf;
        vt_receipt_report rep;
        VT_REQUIRE_OK(vt_receipt_decode(res.r.receipt, res.r.receipt_len, &rf, &ei));
        VT_CHECK_OK(vt_receipt_verify(&rf, e->sched_pk, &rep, &ei));
        VT_CHECK(rep.scheduler_sig_ok && rep.scheduler_trusted && rep.worker_sig_ok && rep.consistent,
                 "receipt checks");
        VT_CHECK(rep.log_checked && rep.log_ok, "receipt is in the transparency log");
        VT_CHECK_EQ_INT(rep.verdicts_pass, 1);
        VT_CHECK_EQ_STR(rf.r.job_id, id);
        vt_receipt_file_free(&rf);
    }
    VT_CHECK(memcmp(res.r.worker, e->worker_kp.pk, 32) == 0, "worker reported");
    vt_job_result_free(&res);
    /* Asking again gives the same stored result. */
    sh_expect_verified(a, id, 1000);

    /* verify=none: done as soon as the worker answers. */
    vt_job_spec_new_token(&s);
    s.verify = "none";
    VT_REQUIRE_OK(submit(a, &s, id));
    VT_REQUIRE_OK(sh_fetch(&w, 4, 2000, &f));
    VT_REQUIRE(f.u.fetch_ok.n_jobs == 1, "verify=none job leased");
    VT_CHECK_OK(sh_results(&w, f.u.fetch_ok.jobs, 1, ack));
    vt_msg_free(&f);
    VT_REQUIRE_OK(vt_client_wait(a, id, 5000, &res, &ei));
    VT_CHECK_EQ_INT(res.r.state, VT_JOB_VERIFIED);
    VT_CHECK_EQ_INT(res.r.verify.required, 0);
    vt_job_result_free(&res);
    /* verify=full:K beyond --max-verifiers is refused at submit. */
    vt_job_spec_new_token(&s);
    s.verify = "full:4";
    VT_CHECK_ERR(submit(a, &s, id), VT_ERR_INVAL);

    sh_node_close(&w);
    sh_node_close(&v);
    vt_client_close(a);
    vt_client_close(b);
}

/* A failed verification never delivers the result: a second verifier
 * breaks the tie (vt_arb_decide: no single verifier convicts), the worker
 * both failed is quarantined, the job runs again on another worker, and
 * only a passing verdict finishes it. */
/* The arbiter picks verifiers at random: fetch from whichever got the task. */
static sh_node *vfetch_either(sh_node *v1, sh_node *v2, vt_msg *t)
{
    for (int round = 0; round < 10; round++) {
        sh_node *vs[2] = {v1, v2};
        for (int i = 0; i < 2; i++) {
            if (sh_fetch(vs[i], 1, 100, t) != 0)
                continue;
            if (t->u.vfetch_ok.n_tasks > 0)
                return vs[i];
            vt_msg_free(t);
        }
    }
    vt_msg_init(t, VT_MSG_VFETCH_OK);
    return NULL;
}

static void test_failed_verification(sh_env *e)
{
    vt_client *a = sh_agent(e, e->key_a);
    sh_node w1, w2, v, v2;
    VT_REQUIRE_OK(sh_node_open(&w1, e->worker_url, &e->worker_kp, false, e->model));
    VT_REQUIRE_OK(sh_node_open(&w2, e->worker_url, &e->worker2_kp, false, e->model));
    VT_REQUIRE_OK(sh_node_open(&v, e->verifier_url, &e->verifier_kp, true, e->model));
    VT_REQUIRE_OK(sh_node_open(&v2, e->verifier_url, &e->verifier2_kp, true, e->model));
    int32_t toks[3];
    vt_job_spec s;
    sh_spec(&s, toks, 3);
    char id[VT_JOB_ID_MAX + 1];
    VT_REQUIRE_OK(submit(a, &s, id));
    vt_msg f, t;
    VT_REQUIRE_OK(sh_fetch(&w1, 1, 2000, &f));
    VT_REQUIRE(f.u.fetch_ok.n_jobs == 1, "w1 leased");
    VT_CHECK_OK(sh_results(&w1, f.u.fetch_ok.jobs, 1, NULL));
    vt_msg_free(&f);
    sh_node *first = vfetch_either(&v, &v2, &t);
    VT_REQUIRE(first && t.u.vfetch_ok.n_tasks == 1, "task");
    sh_node *other = first == &v ? &v2 : &v;
    vt_ack ack[1];
    VT_CHECK_OK(sh_verdicts(first, t.u.vfetch_ok.tasks, 1, false, ack));
    VT_CHECK_EQ_INT(ack[0], VT_ACK_ACCEPTED);
    vt_msg_free(&t);
    /* One fail is a dispute: the tie-break goes to the other verifier only. */
    VT_REQUIRE_OK(sh_fetch(first, 1, 300, &t));
    VT_CHECK_EQ_INT(t.u.vfetch_ok.n_tasks, 0);
    vt_msg_free(&t);
    VT_REQUIRE_OK(sh_fetch(other, 1, 2000, &t));
    VT_REQUIRE(t.u.vfetch_ok.n_tasks == 1, "tie-break task");
    VT_CHECK_OK(sh_verdicts(other, t.u.vfetch_ok.tasks, 1, false, ack));
    VT_CHECK_EQ_INT(ack[0], VT_ACK_ACCEPTED);
    vt_msg_free(&t);
    /* w1 is quarantined: its session ended and a new hello is refused... */
    VT_CHECK_ERR(sh_fetch(&w1, 1, 300, &f), VT_ERR_AUTH);
    vt_msg_free(&f);
    VT_CHECK_ERR(sh_node_hello(&w1, e->model), VT_ERR_QUARANTINED);
    /* ...w2 gets the job. */
    VT_REQUIRE_OK(sh_fetch(&w2, 1, 2000, &f));
    VT_REQUIRE(f.u.fetch_ok.n_jobs == 1, "w2 leased the re-execution");
    VT_CHECK_OK(sh_results(&w2, f.u.fetch_ok.jobs, 1, NULL));
    vt_msg_free(&f);
    vt_errinfo ei = {0};
    vt_job_result res;
    VT_CHECK_ERR(vt_client_wait(a, id, 200, &res, &ei), VT_ERR_TIMEOUT);
    vt_job_result_free(&res);
    /* A fresh tally for w2's result: either verifier may be picked. */
    sh_node *picked = vfetch_either(&v, &v2, &t);
    VT_REQUIRE(picked && t.u.vfetch_ok.n_tasks == 1, "second task");
    VT_CHECK(memcmp(t.u.vfetch_ok.tasks[0].worker, e->worker2_kp.pk, 32) == 0, "task is w2's result");
    VT_CHECK_OK(sh_verdicts(picked, t.u.vfetch_ok.tasks, 1, true, NULL));
    vt_msg_free(&t);
    VT_REQUIRE_OK(vt_client_wait(a, id, 5000, &res, &ei));
    VT_CHECK_EQ_INT(res.r.state, VT_JOB_VERIFIED);
    VT_CHECK_EQ_INT(res.r.verify.failed, 2);
    VT_CHECK(memcmp(res.r.worker, e->worker2_kp.pk, 32) == 0, "delivered result is w2's");
    vt_job_result_free(&res);
    VT_CHECK(sh_metric(e, "verity_scheduler_verification_failures_total") >= 1, "metric counts it");
    /* reputation metrics are refreshed from Redis every 2 s */
    double qn = 0;
    for (int i = 0; i < 60 && qn < 1; i++) {
        qn = sh_metric(e, "verity_quarantined_nodes");
        if (qn < 1)
            vt_sleep_ms(100);
    }
    VT_CHECK(qn >= 1, "metric shows the quarantine");
    /* The operator lifts it (`verity release`); the scheduler polls the
     * epoch, so the next tests can use the worker key again. */
    vt_redis *r = NULL;
    VT_REQUIRE_OK(vt_redis_connect(&r, e->rs.url, 2000, 2000, &ei));
    VT_CHECK_OK(vt_arb_store_release(r, e->worker_kp.pk, "test over", vt_wall_ms(), &ei));
    vt_redis_close(r);
    int rv = VT_ERR_QUARANTINED;
    for (int i = 0; i < 100 && rv == VT_ERR_QUARANTINED; i++) {
        vt_sleep_ms(50);
        rv = sh_node_hello(&w1, e->model);
    }
    VT_CHECK_OK(rv);
    sh_node_close(&w1);
    sh_node_close(&w2);
    sh_node_close(&v);
    sh_node_close(&v2);
    vt_client_close(a);
}

static void test_batch(sh_env *e)
{
    enum { N = 300 };
    sh_runner *r = sh_runner_start(e, &e->worker_kp, &e->verifier_kp);
    vt_client *a = sh_agent(e, e->key_a);
    static char ids[N][VT_JOB_ID_MAX + 1];
    int32_t toks[8];
    vt_job_spec s;
    sh_spec(&s, toks, 8);
    int ok = 0;
    for (int i = 0; i < N; i++) {
        vt_job_spec_new_token(&s);
        s.priority = i % 3;
        if (submit(a, &s, ids[i]) == 0)
            ok++;
    }
    VT_CHECK_EQ_INT(ok, N);
    int verified = 0;
    for (int i = 0; i < N; i++) {
        vt_job_result res;
        vt_errinfo ei = {0};
        if (vt_client_wait(a, ids[i], 20000, &res, &ei) == 0 && res.r.state == VT_JOB_VERIFIED &&
            res.r.n_tokens == 8)
            verified++;
        vt_job_result_free(&res);
    }
    VT_CHECK_EQ_INT(verified, N);
    VT_CHECK(sh_metric(e, "verity_scheduler_jobs_finished_total{state=\"verified\"}") >= N,
             "finished metric");
    VT_CHECK(sh_metric(e, "verity_scheduler_e2e_seconds_count") >= N, "latency histogram");

    /* The transparency log grew with every receipt; its head is signed by
     * the scheduler and later heads are consistent with earlier ones. */
    vt_tree_head th;
    uint8_t pk[32];
    vt_errinfo ei = {0};
    VT_REQUIRE_OK(vt_log_get_head(a, &th, pk, &ei));
    VT_CHECK(th.size >= N, "log size %llu", (unsigned long long)th.size);
    VT_CHECK(memcmp(pk, e->sched_pk, 32) == 0, "log names the scheduler key");
    VT_CHECK_OK(vt_tree_head_verify(&th, e->sched_pk));
    uint8_t leaf[VT_TLOG_HASH], old_root[VT_TLOG_HASH], new_root[VT_TLOG_HASH];
    vt_tlog_proof proof;
    uint64_t size = 0;
    VT_CHECK_OK(vt_log_get_inclusion(a, 0, th.size, leaf, &proof, &size, &ei));
    VT_CHECK_OK(vt_tlog_verify_inclusion(leaf, 0, size, &proof, th.root));
    VT_CHECK_OK(vt_log_get_consistency(a, 2, th.size, old_root, new_root, &proof, &size, &ei));
    VT_CHECK_OK(vt_tlog_verify_consistency(2, old_root, size, new_root, &proof));
    sh_runner_stop(r);
    vt_client_close(a);
}

/* Revoking a node's key ends its live session within a poll of the
 * registry's revocation counter (about a second): its lease goes back to
 * the queue, another worker gets the job, and the node's next hello is
 * refused. */
static void test_revoke(sh_env *e)
{
    vt_client *a = sh_agent(e, e->key_a);
    sh_node w, w2;
    VT_REQUIRE_OK(sh_node_open(&w2, e->worker_url, &e->worker2_kp, false, e->model));
    int32_t toks[3];
    vt_job_spec s;
    sh_spec(&s, toks, 3);
    char id[VT_JOB_ID_MAX + 1];
    VT_REQUIRE_OK(submit(a, &s, id));
    vt_msg f;
    VT_REQUIRE_OK(sh_fetch(&w2, 1, 2000, &f));
    VT_REQUIRE(f.u.fetch_ok.n_jobs == 1, "w2 leased the job");
    vt_msg_free(&f);

    vt_redis *r = NULL;
    vt_errinfo ei = {0};
    char hex[65];
    vt_hex_encode(e->worker2_kp.pk, 32, hex);
    VT_REQUIRE_OK(vt_redis_connect(&r, e->rs.url, 2000, 2000, &ei));
    VT_CHECK_OK(vt_registry_node_revoke(r, hex, &ei));
    long long revocations = 0;
    VT_CHECK(vt_registry_node_revocations(r, &revocations, &ei) == 0 && revocations == 1,
             "revocation counted (%lld)", revocations);
    vt_redis_close(r);

    int rv = 0;
    uint64_t t0 = vt_mono_ms();
    while ((rv = sh_fetch(&w2, 1, 0, &f)) == 0 && vt_mono_ms() < t0 + 10000) {
        vt_msg_free(&f);
        vt_sleep_ms(50);
    }
    VT_CHECK_ERR(rv, VT_ERR_AUTH); /* session ended */
    VT_CHECK(sh_log_has(e, "node.revoked"), "revocation logged");
    VT_CHECK_ERR(sh_node_hello(&w2, e->model), VT_ERR_AUTH);

    VT_REQUIRE_OK(sh_node_open(&w, e->worker_url, &e->worker_kp, false, e->model));
    VT_REQUIRE_OK(sh_fetch(&w, 1, 3000, &f));
    VT_CHECK(f.u.fetch_ok.n_jobs == 1 && strcmp(f.u.fetch_ok.jobs[0].job_id, id) == 0,
             "the revoked node's job went to another worker");
    vt_msg_free(&f);
    vt_job_state st;
    VT_CHECK_OK(vt_client_cancel(a, id, &st, &ei));
    sh_node_close(&w);
    sh_node_close(&w2);
    vt_client_close(a);
}

/* "<cmd> <sub> <a> <b>" against the test's Redis, expecting success. */
static void redis_do(const sh_env *e, const char *cmd, const char *sub, const char *a,
                     const char *b)
{
    vt_redis *r = NULL;
    vt_errinfo ei = {0};
    redisReply *rep = NULL;
    VT_REQUIRE_OK(vt_redis_connect(&r, e->rs.url, 2000, 2000, &ei));
    VT_CHECK_OK(vt_redis_command(r, &rep, &ei, "%s %s %s %s", cmd, sub, a, b));
    if (rep)
        freeReplyObject(rep);
    vt_redis_close(r);
}

/* SIGTERM drains: the old scheduler exits 0. */
static void restart_sched(sh_env *e)
{
    VT_CHECK_EQ_INT(sh_restart_sched(e, SIGTERM), 0);
}

/* The scheduler reads Redis's AOF settings at each connect and says what
 * they promise: with appendfsync always the gauge is 1 and nothing is
 * said; everysec or no AOF at all set it to 0 with a warning that names
 * the loss. The test's Redis runs Redis's default hz 10: a hint. */
typedef struct metric_want {
    sh_env *e;
    const char *name;
    double value;
} metric_want;

static bool metric_is(void *arg)
{
    metric_want *w = arg;
    return sh_metric(w->e, w->name) == w->value;
}

static void test_persistence(sh_env *e)
{
    const char *G = "verity_scheduler_redis_fsync_always";
    const char *always = "appendonly=yes appendfsync=always hz=10";
    VT_CHECK(sh_metric(e, G) == 1, "%s %g with appendfsync always", G, sh_metric(e, G));
    VT_CHECK(sh_log_has(e, always), "settings logged");
    VT_CHECK(!sh_log_has(e, "redis.durability"), "no durability warning with always");
    VT_CHECK(sh_log_has(e, "hz=10: expired keys are deleted in steps of up to 25 ms"),
             "hz hint logged");

    /* changed on the live Redis: the arbiter's poll notices, no reconnect */
    int said = sh_log_count(e, always);
    redis_do(e, "CONFIG", "SET", "appendfsync", "everysec");
    metric_want w = {e, G, 0};
    VT_CHECK(vt_ts_wait_until(10000, metric_is, &w), "%s %g after a live change to everysec", G,
             sh_metric(e, G));
    VT_CHECK(sh_log_has(e, "(appendfsync everysec): a machine crash can lose acknowledged jobs"),
             "everysec warned");
    redis_do(e, "CONFIG", "SET", "appendfsync", "always");
    w.value = 1;
    VT_CHECK(vt_ts_wait_until(10000, metric_is, &w), "%s %g after a live change back", G,
             sh_metric(e, G));
    VT_CHECK(sh_log_count(e, always) == said + 1, "the change back is said once");
    VT_CHECK(sh_log_count(e, "redis.durability") == 1, "one warning for one change");

    /* at a (re)connect they are said whatever they were; the log's size
     * (the earlier tests' receipts) is the one reloaded from Redis */
    const char *T = "verity_scheduler_tlog_entries";
    double entries = sh_metric(e, T);
    VT_CHECK(entries >= 1, "%s %g after the earlier tests' jobs", T, entries);
    redis_do(e, "CONFIG", "SET", "appendonly", "no");
    restart_sched(e);
    VT_CHECK(sh_metric(e, T) == entries, "%s %g after a restart, want %g", T, sh_metric(e, T),
             entries);
    /* the memory holding it: ~66 B an entry, up to twice that */
    double mem = sh_metric(e, "verity_scheduler_tlog_memory_bytes");
    VT_CHECK(mem >= 64 * entries && mem <= 4096 + 160 * entries + 64 * 33 * 64,
             "tlog memory %g B for %g entries", mem, entries);
    char loaded[64];
    snprintf(loaded, sizeof loaded, "tlog.loaded entries=%.0f ", entries);
    VT_CHECK(sh_log_has(e, loaded), "the load is logged with its size (%s)", loaded);
    VT_CHECK(sh_metric(e, G) == 0, "%s %g with appendonly no", G, sh_metric(e, G));
    VT_CHECK(sh_log_has(e, "Redis runs without its AOF (appendonly no)"), "no AOF warned");

    /* A Redis that refuses CONFIG (managed services often do): unknown. */
    redis_do(e, "ACL", "SETUSER", "default", "-config");
    restart_sched(e);
    VT_CHECK(sh_metric(e, G) == -1, "%s %g with CONFIG refused", G, sh_metric(e, G));
    VT_CHECK(sh_log_has(e, "cannot read Redis's persistence settings"), "unknown settings warned");
    redis_do(e, "ACL", "SETUSER", "default", "+config");
    redis_do(e, "CONFIG", "SET", "appendonly", "yes");
    w.value = 1;
    VT_CHECK(vt_ts_wait_until(10000, metric_is, &w), "%s %g once CONFIG answers again", G,
             sh_metric(e, G));
}

typedef struct log_want {
    sh_env *e;
    const char *s;
} log_want;

static bool log_has(void *arg)
{
    log_want *w = arg;
    return sh_log_has(w->e, w->s);
}

/* The transparency log changed in Redis: a leaf in the last, partial,
 * tile (which no stored inner node covers), or an extra entry appended to
 * it. The journal reloads the log at its next connect (forced here with
 * CLIENT KILL), checks it against the signed head, refuses work and says
 * why instead of extending a log that no longer matches what it signed;
 * put back, it serves again. */
static void tlog_tamper_case(sh_env *e, bool extra_entry)
{
    double entries = sh_metric(e, "verity_scheduler_tlog_entries");
    uint64_t last = (uint64_t)entries - 1;
    VT_REQUIRE(entries >= 1 && (uint64_t)entries % 256 != 0, "%g entries: a partial last tile",
               entries);
    char tile[64];
    snprintf(tile, sizeof tile, "verity:tlog:tile:0:%llu", (unsigned long long)(last / 256));
    vt_redis *r = NULL;
    redisReply *rep = NULL;
    VT_REQUIRE_OK(vt_redis_connect(&r, e->rs.url, 2000, 2000, NULL));
    VT_REQUIRE_OK(vt_redis_command(r, &rep, NULL, "GET %s", tile));
    VT_REQUIRE(rep->type == REDIS_REPLY_STRING && rep->len == (last % 256 + 1) * 32,
               "%s holds the last entries", tile);
    size_t n = rep->len;
    char *orig = malloc(n), *evil = malloc(n + 32);
    VT_REQUIRE(orig && evil, "memory");
    memcpy(orig, rep->str, n);
    memcpy(evil, orig, n);
    freeReplyObject(rep);
    size_t evil_len = n;
    char want[160];
    if (extra_entry) {
        memcpy(evil + n, orig, 32); /* a leaf the head never signed */
        evil_len = n + 32;
        snprintf(want, sizeof want, "(%llu entries, head of %llu)",
                 (unsigned long long)entries + 1, (unsigned long long)entries);
    } else {
        evil[n - 7] ^= 0x20;
        snprintf(want, sizeof want, "(%llu entries, head of %llu)", (unsigned long long)entries,
                 (unsigned long long)entries);
    }
    int said = sh_log_count(e, "transparency log in Redis does not match its signed head");
    VT_REQUIRE_OK(vt_redis_command(r, &rep, NULL, "SET %s %b", tile, evil, evil_len));
    freeReplyObject(rep);
    VT_REQUIRE_OK(vt_redis_command(r, &rep, NULL, "CLIENT KILL TYPE normal SKIPME yes"));
    freeReplyObject(rep);

    int32_t toks[4];
    vt_job_spec s;
    sh_spec(&s, toks, 4);
    char id[VT_JOB_ID_MAX + 1];
    vt_client *a = sh_agent(e, e->key_a);
    int rv = 0;
    for (int i = 0; i < 100 && (rv = submit(a, &s, id)) != VT_ERR_UNAVAILABLE; i++) {
        vt_job_spec_new_token(&s);
        vt_sleep_ms(100);
    }
    VT_CHECK_ERR(rv, VT_ERR_UNAVAILABLE);
    log_want w_log = {e, want};
    VT_CHECK(vt_ts_wait_until(10000, log_has, &w_log), "the mismatch %s is logged", want);
    VT_CHECK(sh_log_count(e, "transparency log in Redis does not match its signed head") > said,
             "named as a log that does not match its head");

    VT_REQUIRE_OK(vt_redis_command(r, &rep, NULL, "SET %s %b", tile, orig, n));
    freeReplyObject(rep);
    metric_want w = {e, "verity_scheduler_redis_up", 1};
    VT_CHECK(vt_ts_wait_until(15000, metric_is, &w), "journal back once the log is put back");
    vt_job_spec_new_token(&s);
    VT_CHECK_OK(submit(a, &s, id));
    sh_runner *runner = sh_runner_start(e, &e->worker_kp, &e->verifier_kp);
    sh_expect_verified(a, id, 10000); /* its receipt extends the restored log */
    sh_runner_stop(runner);
    VT_CHECK(sh_metric(e, "verity_scheduler_tlog_entries") > entries, "the log grew again");
    vt_client_close(a);
    vt_redis_close(r);
    free(orig);
    free(evil);
}

int main(void)
{
    sh_env e;
    sh_setup(&e, NULL);
    test_access(&e);
    test_lifecycle(&e);
    test_failed_verification(&e);
    test_batch(&e);
    test_revoke(&e);
    test_persistence(&e);
    tlog_tamper_case(&e, false);
    tlog_tamper_case(&e, true);
    sh_teardown(&e);
    return vt_test_done();
}
