/* fixture.c - see fixture.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "vt_synth.h"
#include "vt_test.h"
#include "vt_testsupport.h"
#include "vt_worker.h"

vt_model *fx_tiny_model(const char *name, uint32_t dtype, uint64_t seed, char *path,
                        size_t path_sz)
{
    vt_errinfo ei = {0};
    vt_ts_path(name, path, path_sz);
    int rv = vt_synth_write("tiny", dtype, seed, path, &ei);
    VT_REQUIRE(rv == 0, "vt_synth_write: %s", vt_errinfo_msg(&ei));
    vt_model *m = NULL;
    rv = vt_model_load(path, &m, &ei);
    VT_REQUIRE(rv == 0, "vt_model_load: %s", vt_errinfo_msg(&ei));
    return m;
}

static const char *texts[] = {
    "the quick brown fox", "once upon a time there was", "hello world",
    "in the beginning", "a", "to be or not to be that is the question",
};

static void ref_run(const vt_model *m, fx_job *j)
{
    vt_ctx_params cp;
    vt_ctx_params_default(&cp);
    cp.max_seqs = 1;
    cp.n_threads = 1;
    vt_ctx *c = NULL;
    vt_errinfo ei = {0};
    VT_REQUIRE(vt_ctx_create(m, &cp, &c, &ei) == 0, "ctx: %s", vt_errinfo_msg(&ei));
    memset(&j->ref, 0, sizeof j->ref);
    VT_REQUIRE(vt_generate(c, 0, j->prompt, j->n_prompt, &j->gp, &j->ref, &ei) == 0,
               "vt_generate: %s", vt_errinfo_msg(&ei));
    vt_ctx_free(c);
}

/* Text of the reference output, through the same stop rules (none set). */
static char *ref_text(const vt_model *m, const fx_job *j)
{
    vt_gen_params gp = j->gp;
    gp.n_stop = 0;
    gp.stop = NULL;
    gp.stop_at_eos = 0;
    gp.max_tokens = j->ref.n_tokens + 1;
    vt_stopscan s;
    VT_REQUIRE_OK(vt_stopscan_init(&s, vt_model_tokenizer(m), &gp, j->n_prompt, 0));
    for (uint32_t i = 0; i < j->ref.n_tokens; i++) {
        int stopped;
        VT_REQUIRE_OK(vt_stopscan_push(&s, j->ref.tokens[i], &stopped));
    }
    char *t = strdup(s.text);
    vt_stopscan_free(&s);
    return t;
}

void fx_jobs(const vt_model *m, fx_job *jobs, int n, int eos)
{
    const vt_tokenizer *tok = vt_model_tokenizer(m);
    uint32_t vocab = vt_model_get_info(m)->vocab;
    for (int i = 0; i < n; i++) {
        fx_job *j = &jobs[i];
        memset(j, 0, sizeof *j);
        if (i % 5 == 4) { /* raw ids, not text */
            j->n_prompt = 3 + (uint32_t)(i * 7) % 40;
            for (uint32_t k = 0; k < j->n_prompt; k++)
                j->prompt[k] = (int32_t)(3 + (k * 131u + (uint32_t)i * 17u) % (vocab - 3));
        } else {
            const char *t = texts[i % (int)(sizeof texts / sizeof *texts)];
            size_t np = 0;
            VT_REQUIRE_OK(vt_tok_encode(tok, t, strlen(t), 1, j->prompt, 256, &np));
            j->n_prompt = (uint32_t)np;
        }
        vt_sampling_default(&j->gp.sampling);
        switch (i % 3) {
        case 1:
            j->gp.sampling.temperature = 0.8f;
            j->gp.sampling.top_k = 40;
            break;
        case 2:
            j->gp.sampling.temperature = 1.1f;
            j->gp.sampling.top_p = 0.9f;
            break;
        }
        j->gp.sampling.seed = 1000u + (uint64_t)i;
        j->gp.max_tokens = 6 + (uint32_t)(i * 11) % 40;
        j->gp.stop_at_eos = eos < 0 ? i % 2 : eos;
        if (i == n - 1) { /* fills the context: stops before max_tokens */
            uint32_t ctx = vt_model_get_info(m)->ctx_len;
            j->n_prompt = ctx - 6 < 256 ? ctx - 6 : 250;
            for (uint32_t k = 0; k < j->n_prompt; k++)
                j->prompt[k] = (int32_t)(3 + (k * 37u) % (vocab - 3));
            j->gp.max_tokens = 40;
            j->gp.stop_at_eos = eos < 0 ? 0 : eos;
        }
        ref_run(m, j);
        if (i % 4 == 3 && j->ref.n_tokens >= 4) {
            /* a stop string from the middle of what this job writes */
            char *t = ref_text(m, j);
            size_t len = strlen(t);
            if (len >= 6) {
                size_t at = len / 2, sl = 3;
                memcpy(j->stop_buf[0], t + at, sl);
                j->stop_buf[0][sl] = '\0';
                strcpy(j->stop_buf[1], "\xff never");
                j->stop[0] = j->stop_buf[0];
                j->stop[1] = j->stop_buf[1];
                j->gp.stop = j->stop;
                j->gp.n_stop = 2;
                free(j->ref.tokens);
                ref_run(m, j);
            }
            free(t);
        }
    }
}

void fx_job_reference(const vt_model *m, fx_job *j)
{
    ref_run(m, j);
}

void fx_jobs_free(fx_job *jobs, int n)
{
    for (int i = 0; i < n; i++)
        free(jobs[i].ref.tokens);
}

vt_checker *fx_checker(const vt_model *m, int batch, int threads, vt_isa isa, int rows)
{
    vt_checker_params p;
    vt_checker_params_default(&p);
    p.batch = batch;
    p.n_threads = threads;
    p.isa = isa;
    p.backend = VT_BACKEND_CPU;
    p.logit_rows = rows;
    vt_checker *c = NULL;
    vt_errinfo ei = {0};
    VT_REQUIRE(vt_checker_create(m, &p, &c, &ei) == 0, "checker: %s", vt_errinfo_msg(&ei));
    return c;
}
