/* fixture.h - shared set-up of the cluster tests: a tiny synthetic model on
 * disk and a varied set of generation jobs with their vt_generate results. */
#ifndef CLUSTER_FIXTURE_H
#define CLUSTER_FIXTURE_H

#include <stdint.h>

#include "vt_engine.h"
#include "vt_verifier.h"

/* Write the "tiny" synthetic model (dtype, seed) into the test's temp dir
 * under `name` and load it. Exits the test on failure. */
vt_model *fx_tiny_model(const char *name, uint32_t dtype, uint64_t seed, char *path,
                        size_t path_sz);

#define FX_MAX_STOP 2
typedef struct fx_job {
    int32_t prompt[256];
    uint32_t n_prompt;
    vt_gen_params gp;
    const char *stop[FX_MAX_STOP];
    char stop_buf[FX_MAX_STOP][16];
    vt_gen_result ref;  /* vt_generate alone, on a fresh one-slot ctx */
} fx_job;

/* n varied jobs (greedy, temperature + top_k/top_p, EOS on/off, stop strings
 * taken from the text a stop-less run produces, so they do trigger; the last
 * one runs into the end of the context), each
 * with its reference result. Exits the test on failure. */
/* eos: -1 = varies per job, 0/1 = stop_at_eos for every job (the wire
 * protocol always stops at EOS: the cluster tests pass 1). */
void fx_jobs(const vt_model *m, fx_job *jobs, int n, int eos);
void fx_jobs_free(fx_job *jobs, int n);
/* j->ref for a job the caller filled in itself (prompt, gp): vt_generate
 * alone, on a fresh one-slot ctx, as fx_jobs does. Exits on failure. */
void fx_job_reference(const vt_model *m, fx_job *j);

/* A CPU checker of `batch` replays on `threads` threads with the ISA path
 * `isa` and `rows` logit rows per step (0: the default). Exits on failure. */
vt_checker *fx_checker(const vt_model *m, int batch, int threads, vt_isa isa, int rows);

#endif
