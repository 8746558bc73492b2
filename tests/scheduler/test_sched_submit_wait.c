/* test_sched_submit_wait.c - submit with wait_ms: one round trip per job.
 *
 * A submit carrying wait_ms is answered with the job's result_ok (the
 * same bytes a `result` long poll gets) once the job is done, or with
 * result_ok naming the job and its current state when the wait ends first;
 * a resent submit (same request token) still gets submit_ok duplicate.
 * The wait is not part of the job: the journal record does not carry it.
 */
#include <stdlib.h>
#include <string.h>

#include "sched_harness.h"
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

int main(void)
{
    sh_env e;
    sh_setup(&e, NULL);
    vt_client *a = sh_agent(&e, e.key_a);
    test_done_within_wait(&e, a);
    test_client_run(&e, a);
    test_wait_ends_first(&e, a);
    test_refused(&e, a);
    vt_client_close(a);
    sh_teardown(&e);
    return vt_test_done();
}
