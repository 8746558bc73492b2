/* test_runner.c - continuous batching gives every job exactly what
 * vt_generate gives it alone: same tokens, stop reason and trace digests,
 * whatever the slot count, the prefill chunking or the admission order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fixture.h"
#include "vt_test.h"
#include "vt_testsupport.h"
#include "vt_worker.h"

#define NJOBS 12

static int same_trace(const vt_trace *a, const vt_trace *b)
{
    if (a->n_layers != b->n_layers || a->n_positions != b->n_positions ||
        memcmp(a->final_digest, b->final_digest, VT_DIGEST_BYTES) != 0)
        return 0;
    return memcmp(a->layer_digest, b->layer_digest, (size_t)a->n_layers * VT_DIGEST_BYTES) == 0;
}

/* Run all jobs through a runner with `slots` slots, submitting as slots
 * free up, and compare each with its reference. */
static void run_all(const vt_model *m, fx_job *jobs, int slots, int chunk, vt_isa isa)
{
    vt_runner_params rp;
    vt_runner_params_default(&rp);
    rp.slots = slots;
    rp.prefill_chunk = chunk;
    rp.isa = isa;
    rp.backend = VT_BACKEND_CPU;
    vt_runner *r = NULL;
    vt_errinfo ei = {0};
    VT_REQUIRE(vt_runner_create(m, &rp, &r, &ei) == 0, "runner: %s", vt_errinfo_msg(&ei));
    int next = 0, done = 0, steps = 0;
    int seen[NJOBS] = {0};
    while (done < NJOBS && steps < 10000) {
        while (next < NJOBS && vt_runner_free_slots(r) > 0) {
            fx_job *j = &jobs[next];
            VT_CHECK_OK(vt_runner_submit(r, 100 + (uint64_t)next, j->prompt, j->n_prompt,
                                         &j->gp, 0, &ei));
            next++;
        }
        VT_REQUIRE_OK(vt_runner_step(r, NULL, &ei));
        steps++;
        vt_run_result res;
        while (vt_runner_take(r, &res)) {
            int k = (int)res.tag - 100;
            VT_REQUIRE(k >= 0 && k < NJOBS && !seen[k], "bad tag %llu",
                       (unsigned long long)res.tag);
            seen[k] = 1;
            done++;
            const vt_gen_result *ref = &jobs[k].ref;
            VT_CHECK_EQ_INT(res.status, 0);
            VT_CHECK(res.n_tokens == ref->n_tokens &&
                         memcmp(res.tokens, ref->tokens, res.n_tokens * sizeof(int32_t)) == 0,
                     "slots %d chunk %d job %d: %u tokens vs %u from vt_generate", slots, chunk,
                     k, res.n_tokens, ref->n_tokens);
            VT_CHECK(res.stop_reason == ref->stop_reason, "job %d stop %d vs %d", k,
                     res.stop_reason, ref->stop_reason);
            VT_CHECK(same_trace(&res.trace, &ref->trace), "slots %d job %d: trace differs", slots,
                     k);
            VT_CHECK(res.text != NULL && strlen(res.text) == res.text_len, "job %d text", k);
            vt_run_result_free(&res);
        }
    }
    VT_CHECK_EQ_INT(done, NJOBS);
    VT_CHECK_EQ_INT(vt_runner_active(r), 0);
    vt_runner_free(r);
}

static void check_edges(const vt_model *m, const fx_job *j)
{
    vt_runner_params rp;
    vt_runner_params_default(&rp);
    rp.slots = 2;
    rp.backend = VT_BACKEND_CPU;
    vt_runner *r = NULL;
    vt_errinfo ei = {0};
    VT_REQUIRE_OK(vt_runner_create(m, &rp, &r, &ei));
    vt_gen_params gp = j->gp;
    gp.max_tokens = 0;
    VT_CHECK_ERR(vt_runner_submit(r, 1, j->prompt, j->n_prompt, &gp, 0, &ei), VT_ERR_INVAL);
    int32_t bad = (int32_t)vt_model_get_info(m)->vocab;
    VT_CHECK_ERR(vt_runner_submit(r, 1, &bad, 1, &j->gp, 0, &ei), VT_ERR_RANGE);
    uint32_t ctx = vt_model_get_info(m)->ctx_len;
    int32_t *big = calloc(ctx + 1, sizeof *big);
    VT_REQUIRE(big != NULL, "oom");
    for (uint32_t i = 0; i <= ctx; i++)
        big[i] = 3 + (int32_t)(i % 200);
    VT_CHECK_ERR(vt_runner_submit(r, 1, big, ctx + 1, &j->gp, 0, &ei), VT_ERR_RANGE);
    free(big);

    /* cancel and deadline end jobs early, keeping what they produced */
    gp = j->gp;
    gp.max_tokens = 50;
    gp.stop_at_eos = 0;
    gp.n_stop = 0;
    VT_CHECK_OK(vt_runner_submit(r, 7, j->prompt, j->n_prompt, &gp, 0, &ei));
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t past = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - 1;
    VT_CHECK_OK(vt_runner_submit(r, 8, j->prompt, j->n_prompt, &gp, past, &ei));
    VT_CHECK_ERR(vt_runner_submit(r, 9, j->prompt, j->n_prompt, &gp, 0, &ei), VT_ERR_OVERLOADED);
    VT_CHECK_OK(vt_runner_step(r, NULL, &ei));
    VT_CHECK_OK(vt_runner_step(r, NULL, &ei));
    VT_CHECK_OK(vt_runner_cancel(r, 7));
    VT_CHECK_ERR(vt_runner_cancel(r, 12345), VT_ERR_NOTFOUND);
    VT_CHECK_OK(vt_runner_step(r, NULL, &ei));
    vt_run_result res;
    int got = 0;
    while (vt_runner_take(r, &res)) {
        got++;
        VT_CHECK_EQ_INT(res.stop_reason, VT_STOP_CANCEL);
        if (res.tag == 7) {
            VT_CHECK_EQ_INT(res.status, VT_ERR_CANCELLED);
            VT_CHECK_EQ_INT(res.n_tokens, 2);
            VT_CHECK_EQ_INT(res.trace.n_positions, j->n_prompt + 1);
        } else {
            VT_CHECK_EQ_INT(res.tag, 8);
            VT_CHECK_EQ_INT(res.status, VT_ERR_EXPIRED);
            VT_CHECK_EQ_INT(res.n_tokens, 0);
        }
        vt_run_result_free(&res);
    }
    VT_CHECK_EQ_INT(got, 2);
    VT_CHECK_EQ_INT(vt_runner_free_slots(r), 2);
    vt_runner_free(r);
}

int main(void)
{
    char path[512];
    vt_model *m = fx_tiny_model("tiny-f32.gguf", VT_DTYPE_F32, 7, path, sizeof path);
    static fx_job jobs[NJOBS];
    fx_jobs(m, jobs, NJOBS, -1);
    int n_stop = 0, n_sampled = 0;
    for (int i = 0; i < NJOBS; i++) {
        n_stop += jobs[i].ref.stop_reason == VT_STOP_STRING;
        n_sampled += jobs[i].gp.sampling.temperature > 0;
    }
    /* the fixture must really exercise stop strings and sampling */
    VT_CHECK(n_stop >= 1, "no job stopped on a stop string");
    VT_CHECK(n_sampled >= 4, "too few sampled jobs");

    run_all(m, jobs, 1, 0, VT_ISA_NATIVE);
    run_all(m, jobs, 3, 5, VT_ISA_NATIVE);  /* small chunks: prompts split over steps */
    run_all(m, jobs, 8, 0, VT_ISA_NATIVE);
    run_all(m, jobs, 5, 3, VT_ISA_SCALAR);
    check_edges(m, &jobs[0]);

    fx_jobs_free(jobs, NJOBS);
    vt_model_free(m);
    return vt_test_done();
}
