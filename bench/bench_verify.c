/* bench_verify.c - `verity-bench verify`: the honest cost of verification.
 *
 * For each model (vt_synth presets, cached in --dir like the engine bench),
 * with P prompt and O output tokens (default 32 and 128), in CPU seconds
 * (CLOCK_PROCESS_CPUTIME_ID: every engine thread counted) and wall time:
 *
 *   (a) worker, one job at a time: vt_runner with 1 slot (prefill P, decode
 *       O tokens), against the verifier's replay of that job: vt_checker
 *       with batch 1, one prefill over P + O - 1 positions.
 *   (b) worker batching B jobs (vt_runner, B slots: one vt_forward per step
 *       over all of them) against the verifier replaying B jobs in one
 *       batched prefill (vt_checker, batch B).
 *   (c) total overhead under verify=sampled:p: p x (b) + the per-job costs
 *       that exist only because of verification and are not in (b)'s
 *       replay: the verdict batch signature and its check (per job: one
 *       Ed25519 sign + verify / B), and the trace digests the worker hashes
 *       on every job, sampled or not (BLAKE2b over (layers + 1) x dim floats
 *       per position; it is inside both the worker and verifier figures
 *       above, and is also reported alone, as an estimate).
 *
 * Every replay must pass (fault none): a bench that measured a failing check
 * would be measuring the wrong thing, so that is an error.
 *
 * Also: the probability that a worker cheating on every job is caught within
 * N jobs under sampled:p (1 - (1 - p)^N, and a simulation with the engine's
 * seeded counter-based uniform draw vt_rng_uniform), and whether the
 * end-to-end latency verified delivery adds over optimistic is measurable.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bench_models.h"
#include "bench_util.h"
#include "cli_util.h"
#include "load_driver.h"
#include "load_spawn.h"
#include "vt_arbiter.h"
#include "vt_engine.h"
#include "vt_protocol.h"
#include "vt_synth.h"
#include "vt_verifier.h"
#include "vt_worker.h"

static const char *prog = "verity-bench verify";

#define MAX_LIST VT_BENCH_MAX_LIST
#define MAX_BATCH 64
#define TARGET_A 0.3
#define TARGET_B 1.0
#define TARGET_C 0.12

typedef struct vopts {
    vt_bench_sel sel; /* --quick --json --dir --models --types */
    uint32_t prompt, output;
    int batch, threads, reps;
    double sample_p;
    int catch_jobs;
    long trials;
    int e2e;           /* also measure verified vs optimistic delivery on a cluster */
    double e2e_rate, e2e_duration_s;
    const char *bin_dir;
} vopts;

typedef struct cost {
    double cpu_s, wall_s; /* per job */
} cost;

typedef struct vres {
    const char *model;
    uint32_t type;
    char file[512];
    vt_model_info info;
    cost w1, v1, wb, vb;
    double sig_per_job_s;    /* Ed25519 sign + verify of a verdict batch, per job */
    double digest_per_job_s; /* estimated BLAKE2b trace hashing of one job */
    char error[300];
} vres;

static void usage(void)
{
    printf("usage: verity-bench verify [--quick] [--json FILE] [--dir DIR]\n"
           "       [--models 15m,110m] [--types q8_0] [--prompt 32] [--output 128]\n"
           "       [--batch 8] [--threads 1] [--reps 1] [--sample 0.1] [--catch-jobs 30]\n"
           "  --quick    tiny model, 8 + 16 tokens, batch 4: a smoke test (no timing checks)\n"
           "  --threads  engine threads for both worker and verifier (CPU seconds count all)\n"
           "  --reps     repeat each measurement, keep the lowest CPU time\n"
           "  --e2e      also: end-to-end latency of delivery=verified vs optimistic on a\n"
           "             spawned cluster (redis, scheduler, 1 worker, 1 verifier of another\n"
           "             operator; first model and type), open loop at --e2e-rate jobs/s (2)\n"
           "             for --e2e-seconds (10) each; --bin-dir DIR: the daemons' directory\n");
}

static void parse(int argc, char **argv, vopts *o)
{
    const char *v;
    memset(o, 0, sizeof *o);
    vt_bench_sel_init(&o->sel);
    o->prompt = 32;
    o->output = 128;
    o->batch = 8;
    o->threads = 1;
    o->reps = 1;
    o->sample_p = 0.1;
    o->catch_jobs = 30;
    o->trials = 200000;
    o->e2e_rate = 2;
    o->e2e_duration_s = 10;
    int set_p = 0, set_o = 0, set_b = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            exit(0);
        } else if (vt_bench_sel_flag(prog, argc, argv, &i, &o->sel))
            continue;
        else if (vt_cli_flag(prog, argc, argv, &i, "--prompt", &v)) {
            o->prompt = (uint32_t)vt_cli_u64(prog, "--prompt", v, 1, 4096);
            set_p = 1;
        } else if (vt_cli_flag(prog, argc, argv, &i, "--output", &v)) {
            o->output = (uint32_t)vt_cli_u64(prog, "--output", v, 1, 4096);
            set_o = 1;
        } else if (vt_cli_flag(prog, argc, argv, &i, "--batch", &v)) {
            o->batch = (int)vt_cli_u64(prog, "--batch", v, 1, MAX_BATCH);
            set_b = 1;
        } else if (vt_cli_flag(prog, argc, argv, &i, "--threads", &v))
            o->threads = (int)vt_cli_u64(prog, "--threads", v, 1, 64);
        else if (vt_cli_flag(prog, argc, argv, &i, "--reps", &v))
            o->reps = (int)vt_cli_u64(prog, "--reps", v, 1, 20);
        else if (vt_cli_flag(prog, argc, argv, &i, "--sample", &v))
            o->sample_p = vt_cli_f32(prog, "--sample", v, 1e-6f, 1.0f);
        else if (!strcmp(argv[i], "--e2e"))
            o->e2e = 1;
        else if (vt_cli_flag(prog, argc, argv, &i, "--e2e-rate", &v))
            o->e2e_rate = vt_cli_f32(prog, "--e2e-rate", v, 0.1f, 1000.0f);
        else if (vt_cli_flag(prog, argc, argv, &i, "--e2e-seconds", &v))
            o->e2e_duration_s = (double)vt_cli_u64(prog, "--e2e-seconds", v, 1, 600);
        else if (vt_cli_flag(prog, argc, argv, &i, "--bin-dir", &v))
            o->bin_dir = v;
        else if (vt_cli_flag(prog, argc, argv, &i, "--catch-jobs", &v))
            o->catch_jobs = (int)vt_cli_u64(prog, "--catch-jobs", v, 1, 100000);
        else
            vt_cli_usage_error(prog, "unknown argument '%s'", argv[i]);
    }
    if (o->sel.quick) {
        if (!set_p)
            o->prompt = 8;
        if (!set_o)
            o->output = 16;
        if (!set_b)
            o->batch = 4;
        o->trials = 20000;
    }
    vt_bench_sel_finish(prog, &o->sel, "15m,110m", "q8_0");
}

/* ----------------------------------------------------------------- timing */

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct stopwatch {
    double cpu0, wall0;
} stopwatch;

static stopwatch sw_start(void) { return (stopwatch){cpu_now(), vt_bench_now()}; }

/* Keep the lowest CPU time over the repetitions (contention only adds). */
static void sw_keep(const stopwatch *s, int n_jobs, cost *best, int first)
{
    cost c = {(cpu_now() - s->cpu0) / n_jobs, (vt_bench_now() - s->wall0) / n_jobs};
    if (first || c.cpu_s < best->cpu_s)
        *best = c;
}

/* ------------------------------------------------------------------ jobs */

typedef struct jobset {
    int n;
    uint32_t n_prompt;
    int32_t *prompts;          /* n x n_prompt */
    vt_run_result res[MAX_BATCH];
    int have[MAX_BATCH];
} jobset;

static void jobset_free(jobset *js)
{
    for (int i = 0; i < js->n; i++)
        if (js->have[i])
            vt_run_result_free(&js->res[i]);
    memset(js->have, 0, sizeof js->have);
}

static void gen_params(const vopts *o, vt_gen_params *gp)
{
    memset(gp, 0, sizeof *gp);
    vt_sampling_default(&gp->sampling);
    gp->max_tokens = o->output;
    gp->stop_at_eos = 0; /* always O tokens: the cost we mean to measure */
}

/* The worker: n jobs through a runner with `slots` slots, stepped until all
 * are done (exactly what verity-worker's engine loop does per model). */
static int run_worker(const vt_model *m, const vopts *o, int slots, jobset *js, cost *c,
                      int first, vt_errinfo *ei)
{
    vt_runner_params rp;
    vt_runner_params_default(&rp);
    rp.slots = slots;
    rp.max_ctx = (int)(o->prompt + o->output);
    rp.n_threads = o->threads;
    rp.backend = VT_BACKEND_CPU;
    vt_runner *r = NULL;
    int rv = vt_runner_create(m, &rp, &r, ei);
    if (rv)
        return rv;
    vt_gen_params gp;
    gen_params(o, &gp);
    jobset_free(js);
    stopwatch sw = sw_start();
    for (int k = 0; k < js->n && !rv; k++)
        rv = vt_runner_submit(r, (uint64_t)k, js->prompts + (size_t)k * js->n_prompt, js->n_prompt,
                              &gp, 0, ei);
    int done = 0;
    while (!rv && done < js->n) {
        rv = vt_runner_step(r, NULL, ei);
        vt_run_result res;
        while (!rv && vt_runner_take(r, &res) == 1) {
            if (res.status != 0) {
                rv = vt_fail(ei, res.status, "job %llu failed in the runner",
                             (unsigned long long)res.tag);
                vt_run_result_free(&res);
                break;
            }
            js->res[res.tag] = res;
            js->have[res.tag] = 1;
            done++;
        }
    }
    if (!rv)
        sw_keep(&sw, js->n, c, first);
    vt_runner_free(r);
    return rv;
}

/* The verifier: replay the jobs of js in one checker run (batch = js->n). */
static int run_verifier(const vt_model *m, const vopts *o, int batch, const jobset *js, cost *c,
                        int first, vt_errinfo *ei)
{
    vt_checker_params cp;
    vt_checker_params_default(&cp);
    cp.batch = batch;
    cp.max_ctx = (int)(o->prompt + o->output);
    cp.n_threads = o->threads;
    cp.backend = VT_BACKEND_CPU;
    vt_checker *ck = NULL;
    int rv = vt_checker_create(m, &cp, &ck, ei);
    if (rv)
        return rv;
    vt_replay_task tasks[MAX_BATCH];
    vt_trace traces[MAX_BATCH];
    static vt_replay_verdict verdicts[MAX_BATCH];
    for (int k = 0; k < js->n; k++) {
        const vt_run_result *r = &js->res[k];
        traces[k] = r->trace;
        traces[k].n_positions = js->n_prompt + r->n_tokens - 1;
        memset(&tasks[k], 0, sizeof tasks[k]);
        tasks[k].prompt = js->prompts + (size_t)k * js->n_prompt;
        tasks[k].n_prompt = js->n_prompt;
        tasks[k].output = r->tokens;
        tasks[k].n_output = r->n_tokens;
        gen_params(o, &tasks[k].gp);
        tasks[k].stop_reason = r->stop_reason;
        tasks[k].trace = &traces[k];
    }
    stopwatch sw = sw_start();
    rv = vt_checker_run(ck, tasks, js->n, verdicts, ei);
    if (!rv)
        sw_keep(&sw, js->n, c, first);
    for (int k = 0; !rv && k < js->n; k++)
        if (verdicts[k].fault != VT_FAULT_NONE || verdicts[k].unverifiable)
            rv = vt_fail(ei, VT_ERR_MISMATCH, "replay of job %d did not pass: %s (%s)", k,
                         vt_fault_name((vt_fault)verdicts[k].fault), verdicts[k].detail);
    vt_checker_free(ck);
    return rv;
}

/* Ed25519 sign + verify of one signed verdict batch of `batch` verdicts
 * (what a verifier and the scheduler pay per batch), per verdict. */
static double signature_cost(int batch)
{
    vt_keypair kp;
    vt_key_generate(&kp);
    vt_wire_verdict v[MAX_BATCH];
    memset(v, 0, sizeof v);
    for (int i = 0; i < batch; i++) {
        v[i].task_id = (uint64_t)i + 1;
        v[i].lease_id = (uint64_t)i + 100;
        snprintf(v[i].job_id, sizeof v[i].job_id, "j-%d", i);
        v[i].pass = true;
        v[i].first_divergence = VT_POS_NONE;
    }
    vt_msg_verdicts m = {.verdicts = v, .n_verdicts = (uint32_t)batch};
    snprintf(m.session, sizeof m.session, "bench");
    int reps = 200;
    double c0 = cpu_now();
    for (int r = 0; r < reps; r++) {
        if (vt_verdicts_sign(&m, &kp, NULL) != 0 || vt_verdicts_verify(&m, kp.pk, NULL) != 0)
            return NAN;
    }
    double per = (cpu_now() - c0) / reps / batch;
    vt_key_wipe(&kp);
    return per;
}

/* The trace hashing of one job as the engine does it (libsodium BLAKE2b
 * over the final-norm output and every layer's residual, dim floats each,
 * at every position 0..P+O-2): an estimate of that part alone. */
static double digest_cost(const vt_model_info *mi, uint32_t positions)
{
    size_t bytes = (size_t)mi->dim * sizeof(float);
    float *row = calloc(mi->dim, sizeof *row);
    if (!row)
        return NAN;
    for (uint32_t i = 0; i < mi->dim; i++)
        row[i] = (float)i * 0.25f;
    uint32_t streams = mi->n_layers + 1;
    crypto_generichash_state *st = malloc(streams * sizeof *st);
    if (!st) {
        free(row);
        return NAN;
    }
    for (uint32_t s = 0; s < streams; s++)
        crypto_generichash_init(&st[s], NULL, 0, VT_DIGEST_BYTES);
    double c0 = cpu_now();
    for (uint32_t p = 0; p < positions; p++)
        for (uint32_t s = 0; s < streams; s++)
            crypto_generichash_update(&st[s], (const unsigned char *)row, bytes);
    double t = cpu_now() - c0;
    unsigned char out[VT_DIGEST_BYTES];
    for (uint32_t s = 0; s < streams; s++)
        crypto_generichash_final(&st[s], out, sizeof out);
    free(st);
    free(row);
    return t;
}

static int run_model(const vopts *o, vres *r)
{
    vt_errinfo ei = {0};
    vt_model *m = NULL;
    int rv = vt_model_load(r->file, &m, &ei);
    if (rv)
        goto out;
    r->info = *vt_model_get_info(m);
    int B = o->batch;
    jobset js = {0};
    js.n_prompt = o->prompt;
    js.prompts = malloc((size_t)B * o->prompt * sizeof *js.prompts);
    if (!js.prompts) {
        rv = vt_fail(&ei, VT_ERR_NOMEM, "out of memory");
        goto out;
    }
    uint32_t span = r->info.vocab > 259 ? r->info.vocab - 259 : 1;
    for (int k = 0; k < B; k++)
        for (uint32_t i = 0; i < o->prompt; i++)
            js.prompts[(size_t)k * o->prompt + i] =
                (int32_t)(259 + (((uint64_t)k * o->prompt + i) * 7919u) % span);
    /* Untimed: page the weights in, start the threads. */
    js.n = 1;
    cost scratch;
    if ((rv = run_worker(m, o, 1, &js, &scratch, 1, &ei)) != 0)
        goto out_js;
    for (int rep = 0; rep < o->reps && !rv; rep++) {
        int first = rep == 0;
        fprintf(stderr, "%s %s: rep %d/%d: one job, worker then verifier ...\n", r->model,
                vt_bench_type_name(r->type), rep + 1, o->reps);
        js.n = 1;
        if ((rv = run_worker(m, o, 1, &js, &r->w1, first, &ei)) != 0 ||
            (rv = run_verifier(m, o, 1, &js, &r->v1, first, &ei)) != 0)
            break;
        fprintf(stderr, "%s %s: rep %d/%d: %d jobs batched, worker then verifier ...\n", r->model,
                vt_bench_type_name(r->type), rep + 1, o->reps, B);
        js.n = B;
        if ((rv = run_worker(m, o, B, &js, &r->wb, first, &ei)) != 0 ||
            (rv = run_verifier(m, o, B, &js, &r->vb, first, &ei)) != 0)
            break;
    }
    if (!rv) {
        r->sig_per_job_s = signature_cost(B);
        r->digest_per_job_s = digest_cost(&r->info, o->prompt + o->output - 1);
    }
out_js:
    jobset_free(&js);
    free(js.prompts);
out:
    if (rv)
        snprintf(r->error, sizeof r->error, "%s", vt_errinfo_msg(&ei));
    vt_model_free(m);
    return rv;
}

/* ---------------------------------------------------------------- figures */

typedef struct figures {
    double a, b, c, c_replay, c_sig, c_digest, batched_vs_single;
} figures;

static figures compute(const vopts *o, const vres *r)
{
    figures f;
    f.a = r->v1.cpu_s / r->w1.cpu_s;
    f.b = r->vb.cpu_s / r->wb.cpu_s;
    f.c_replay = o->sample_p * f.b;
    f.c_sig = o->sample_p * r->sig_per_job_s / r->wb.cpu_s;
    f.c_digest = r->digest_per_job_s / r->wb.cpu_s; /* every job, sampled or not */
    f.c = f.c_replay + f.c_sig + f.c_digest;
    f.batched_vs_single = r->vb.cpu_s / r->w1.cpu_s;
    return f;
}

typedef struct detection {
    double analytic, simulated, mean_jobs;
    int jobs_for_95;
    const char *sampler; /* what drew the decisions */
} detection;

/* A worker that cheats on every job is caught at the first job the sampler
 * picks. Each trial is one worker; its jobs 0, 1, ... are decided by the
 * scheduler's own coin, vt_arb_should_verify (arbiter), on a seeded stream
 * where the build allows seeding (test builds), else on the OS CSPRNG as in
 * production. */
static detection detect(const vopts *o)
{
    detection d;
    d.analytic = 1.0 - pow(1.0 - o->sample_p, o->catch_jobs);
    d.jobs_for_95 = (int)ceil(log(0.05) / log(1.0 - o->sample_p));
    vt_verify_policy pol = {VT_VERIFY_SAMPLED, 0, o->sample_p};
    vt_arb_rng rng;
    static const uint8_t seed[32] = "verity-bench verify detection";
    if (vt_arb_rng_seed(&rng, seed) == 0) {
        d.sampler = "vt_arb_should_verify on a seeded stream (repeatable)";
    } else {
        vt_arb_rng_init(&rng);
        d.sampler = "vt_arb_should_verify on the OS CSPRNG (release build: no seeding)";
    }
    long caught = 0;
    double total_jobs = 0;
    for (long t = 0; t < o->trials; t++) {
        uint32_t j = 0;
        while (j < 100000 && !vt_arb_should_verify(&pol, &rng))
            j++;
        total_jobs += j + 1;
        if ((int)j < o->catch_jobs)
            caught++;
    }
    d.simulated = (double)caught / (double)o->trials;
    d.mean_jobs = total_jobs / (double)o->trials;
    vt_arb_rng_wipe(&rng);
    return d;
}

static const char *verdict(double v, double target)
{
    return v <= target ? "met" : "MISSED";
}

static void print_result(const vopts *o, const vres *r)
{
    printf("\n%s %s (%u layers, dim %u, vocab %u), P=%u O=%u, %d thread%s:\n", r->model,
           vt_bench_type_name(r->type), r->info.n_layers, r->info.dim, r->info.vocab, o->prompt,
           o->output, o->threads, o->threads == 1 ? "" : "s");
    if (r->error[0]) {
        printf("  error: %s\n", r->error);
        return;
    }
    figures f = compute(o, r);
    printf("  per job                       CPU s      wall s\n");
    printf("  worker,   1 job at a time  %9.4f   %9.4f\n", r->w1.cpu_s, r->w1.wall_s);
    printf("  verifier, 1 replay         %9.4f   %9.4f\n", r->v1.cpu_s, r->v1.wall_s);
    printf("  worker,   %2d jobs batched  %9.4f   %9.4f\n", o->batch, r->wb.cpu_s, r->wb.wall_s);
    printf("  verifier, %2d replays       %9.4f   %9.4f\n", o->batch, r->vb.cpu_s, r->vb.wall_s);
    printf("  (a) verifier/worker CPU, unbatched:      %.3f  (target <= %.2f: %s)\n", f.a,
           TARGET_A, verdict(f.a, TARGET_A));
    printf("  (b) verifier/worker CPU, both batched %d: %.3f  (target <= %.2f: %s)\n", o->batch,
           f.b, TARGET_B, verdict(f.b, TARGET_B));
    printf("  (c) total overhead, sampled:%g:         %.4f  (target <= %.2f: %s)\n", o->sample_p,
           f.c, TARGET_C, verdict(f.c, TARGET_C));
    printf("      = %g x (b) %.4f + signatures %.6f + trace digests %.4f (est., every job)\n",
           o->sample_p, f.c_replay, f.c_sig, f.c_digest);
    printf("  batched replay vs unbatched worker (a verifier batching while workers don't): %.3f\n",
           f.batched_vs_single);
}

/* ------------------------------------------------ verified vs optimistic */

typedef struct e2e_res {
    int ran;
    char error[300];
    double rate;
    struct {
        const char *delivery;
        uint64_t completed, errors;
        double p50, p90, p99, verifying_p50, computing_p50;
    } d[2];
} e2e_res;

/* The same open-loop load twice on one spawned cluster (a real worker and a
 * verifier running the model): delivery=verified, then optimistic. Low rate,
 * so the difference is what verification adds to a job, not queueing. */
static void run_e2e(const vopts *o, const char *model_path, e2e_res *e)
{
    memset(e, 0, sizeof *e);
    e->ran = 1;
    e->rate = o->e2e_rate;
    char bindir[512];
    if (!o->bin_dir && ls_self_dir(bindir, sizeof bindir) != 0) {
        snprintf(e->error, sizeof e->error, "cannot find my own directory: give --bin-dir");
        return;
    }
    ls_params sp = {0};
    sp.bin_dir = o->bin_dir ? o->bin_dir : bindir;
    sp.workers = 1;
    sp.verifiers = 1;
    sp.model = model_path;
    sp.worker_threads = o->threads;
    sp.verifier_threads = o->threads;
    sp.agents = 1;
    static ls_cluster cl;
    vt_errinfo ei = {0};
    fprintf(stderr, "e2e: starting redis, scheduler, a worker and a verifier on %s ...\n",
            model_path);
    if (ls_start(&cl, &sp, &ei) != 0) {
        snprintf(e->error, sizeof e->error, "cluster: %s", vt_errinfo_msg(&ei));
        return;
    }
    ld_result *r = calloc(1, sizeof *r);
    static const char *const modes[2] = {"verified", "optimistic"};
    for (int i = 0; r && i < 2 && !e->error[0]; i++) {
        ld_target t = {0};
        t.url = cl.agent_url;
        t.api_keys[0] = cl.keys[0];
        t.n_keys = 1;
        t.model = cl.model;
        t.prompt_tokens = o->prompt;
        t.max_tokens = o->output;
        t.verify = "full:1";
        t.delivery = modes[i];
        ld_params p = {0};
        p.mode = LD_OPEN;
        p.rate = o->e2e_rate;
        p.concurrency = 256;
        p.warmup_s = 1;
        p.duration_s = o->e2e_duration_s;
        p.count = 1000000;
        p.job_timeout_s = 120;
        p.drain_s = 60;
        p.stages_every = 1;
        p.label = modes[i];
        p.progress = 1;
        if (ld_run(&t, &p, NULL, r, &ei) != 0) {
            snprintf(e->error, sizeof e->error, "%s: %s", modes[i], vt_errinfo_msg(&ei));
            break;
        }
        e->d[i].delivery = modes[i];
        e->d[i].completed = r->completed;
        e->d[i].errors = r->errors;
        e->d[i].p50 = load_hist_percentile(&r->hist, 50) / 1e3;
        e->d[i].p90 = load_hist_percentile(&r->hist, 90) / 1e3;
        e->d[i].p99 = load_hist_percentile(&r->hist, 99) / 1e3;
        e->d[i].computing_p50 = load_hist_percentile(&r->stage[LD_ST_COMPUTING], 50) / 1e3;
        e->d[i].verifying_p50 = load_hist_percentile(&r->stage[LD_ST_VERIFYING], 50) / 1e3;
    }
    if (!r)
        snprintf(e->error, sizeof e->error, "out of memory");
    free(r);
    ls_stop(&cl);
}

static void print_e2e(const vopts *o, const e2e_res *e)
{
    printf("\nend-to-end latency, delivery=verified vs optimistic (%s %s, P=%u O=%u, verify=full:1,\n"
           "open loop at %g jobs/s for %g s each, 1 worker + 1 verifier, %d thread%s each):\n",
           o->sel.models[0], vt_bench_type_name(o->sel.types[0]), o->prompt, o->output, e->rate,
           o->e2e_duration_s, o->threads, o->threads == 1 ? "" : "s");
    if (e->error[0]) {
        printf("  error: %s\n", e->error);
        return;
    }
    for (int i = 0; i < 2; i++)
        printf("  %-10s %4llu jobs, %llu errors: latency ms p50 %.1f  p90 %.1f  p99 %.1f\n",
               e->d[i].delivery, (unsigned long long)e->d[i].completed,
               (unsigned long long)e->d[i].errors, e->d[i].p50, e->d[i].p90, e->d[i].p99);
    printf("  verified delivery adds %.1f ms at p50 (%.0f%%); its verifying stage p50 %.1f ms, "
           "computing %.1f ms\n",
           e->d[0].p50 - e->d[1].p50, e->d[1].p50 > 0 ? 100.0 * (e->d[0].p50 / e->d[1].p50 - 1) : 0,
           e->d[0].verifying_p50, e->d[0].computing_p50);
}

static void json_e2e(vt_json *j, const e2e_res *e)
{
    vt_json_obj_begin(j, "optimistic_delivery");
    vt_json_bool(j, "measured", e->ran && !e->error[0]);
    if (!e->ran) {
        vt_json_str(j, "why", "not asked for: run with --e2e");
    } else if (e->error[0]) {
        vt_json_str(j, "error", e->error);
    } else {
        vt_json_num(j, "rate_jobs_s", e->rate);
        for (int i = 0; i < 2; i++) {
            vt_json_obj_begin(j, e->d[i].delivery);
            vt_json_int(j, "completed", (int64_t)e->d[i].completed);
            vt_json_int(j, "errors", (int64_t)e->d[i].errors);
            vt_json_num(j, "p50_ms", e->d[i].p50);
            vt_json_num(j, "p90_ms", e->d[i].p90);
            vt_json_num(j, "p99_ms", e->d[i].p99);
            vt_json_num(j, "computing_p50_ms", e->d[i].computing_p50);
            vt_json_num(j, "verifying_p50_ms", e->d[i].verifying_p50);
            vt_json_obj_end(j);
        }
        vt_json_num(j, "verified_adds_p50_ms", e->d[0].p50 - e->d[1].p50);
    }
    vt_json_obj_end(j);
}

static void write_json(const vopts *o, FILE *fp, const vres *rs, int n, const detection *d,
                       const e2e_res *e, const char *cpu, double load_start, double load_end)
{
    vt_json j;
    vt_json_init(&j, fp);
    vt_json_obj_begin(&j, NULL);
    vt_json_str(&j, "bench", "verify");
    vt_json_obj_begin(&j, "machine");
    vt_json_str(&j, "cpu", cpu);
    vt_json_int(&j, "cpus", sysconf(_SC_NPROCESSORS_ONLN));
    vt_json_num(&j, "loadavg_1m_start", load_start);
    vt_json_num(&j, "loadavg_1m_end", load_end);
    vt_json_obj_end(&j);
    vt_json_bool(&j, "quick", o->sel.quick);
    vt_json_int(&j, "prompt_tokens", o->prompt);
    vt_json_int(&j, "output_tokens", o->output);
    vt_json_int(&j, "batch", o->batch);
    vt_json_int(&j, "threads", o->threads);
    vt_json_int(&j, "reps", o->reps);
    vt_json_obj_begin(&j, "targets");
    vt_json_num(&j, "a", TARGET_A);
    vt_json_num(&j, "b", TARGET_B);
    vt_json_num(&j, "c", TARGET_C);
    vt_json_obj_end(&j);
    vt_json_arr_begin(&j, "results");
    for (int i = 0; i < n; i++) {
        const vres *r = &rs[i];
        vt_json_obj_begin(&j, NULL);
        vt_json_str(&j, "model", r->model);
        vt_json_str(&j, "type", vt_bench_type_name(r->type));
        vt_json_str(&j, "file", r->file);
        if (r->error[0]) {
            vt_json_str(&j, "error", r->error);
            vt_json_obj_end(&j);
            continue;
        }
        figures f = compute(o, r);
        const struct {
            const char *name;
            const cost *c;
        } costs[] = {{"worker_single", &r->w1}, {"verifier_single", &r->v1},
                     {"worker_batched", &r->wb}, {"verifier_batched", &r->vb}};
        for (size_t k = 0; k < sizeof costs / sizeof costs[0]; k++) {
            vt_json_obj_begin(&j, costs[k].name);
            vt_json_num(&j, "cpu_s_per_job", costs[k].c->cpu_s);
            vt_json_num(&j, "wall_s_per_job", costs[k].c->wall_s);
            vt_json_obj_end(&j);
        }
        vt_json_num(&j, "ratio_a", f.a);
        vt_json_num(&j, "ratio_b", f.b);
        vt_json_num(&j, "overhead_c", f.c);
        vt_json_obj_begin(&j, "overhead_c_parts");
        vt_json_num(&j, "replay", f.c_replay);
        vt_json_num(&j, "signatures", f.c_sig);
        vt_json_num(&j, "trace_digests_estimate", f.c_digest);
        vt_json_obj_end(&j);
        vt_json_num(&j, "signature_cpu_s_per_job", r->sig_per_job_s);
        vt_json_num(&j, "digest_cpu_s_per_job_estimate", r->digest_per_job_s);
        vt_json_num(&j, "batched_replay_over_single_worker", f.batched_vs_single);
        vt_json_obj_begin(&j, "met");
        vt_json_bool(&j, "a", f.a <= TARGET_A);
        vt_json_bool(&j, "b", f.b <= TARGET_B);
        vt_json_bool(&j, "c", f.c <= TARGET_C);
        vt_json_obj_end(&j);
        vt_json_obj_end(&j);
    }
    vt_json_arr_end(&j);
    vt_json_obj_begin(&j, "detection");
    vt_json_num(&j, "sample_p", o->sample_p);
    vt_json_int(&j, "jobs", o->catch_jobs);
    vt_json_num(&j, "analytic", d->analytic);
    vt_json_num(&j, "simulated", d->simulated);
    vt_json_int(&j, "trials", o->trials);
    vt_json_num(&j, "mean_jobs_to_catch", d->mean_jobs);
    vt_json_str(&j, "sampler", d->sampler);
    vt_json_int(&j, "jobs_for_95_percent", d->jobs_for_95);
    vt_json_obj_end(&j);
    json_e2e(&j, e);
    vt_json_obj_end(&j);
}

int vt_bench_verify(int argc, char **argv)
{
    vopts o;
    parse(argc, argv, &o);
    if (vt_protocol_init() != 0) {
        fprintf(stderr, "%s: libsodium failed to start\n", prog);
        return 1;
    }
    FILE *jf = NULL;
    if (o.sel.json && !(jf = fopen(o.sel.json, "w"))) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, o.sel.json, strerror(errno));
        return 1;
    }
    vres *rs = calloc(MAX_LIST * MAX_LIST, sizeof *rs);
    if (!rs) {
        if (jf)
            fclose(jf);
        return 1;
    }
    int n = 0, failed = 0;
    char cpu[256];
    double load_start, load_end;
    vt_bench_machine(cpu, sizeof cpu, &load_start);
    printf("verity-bench verify: worker generation vs verifier replay, CPU seconds per job\n");
    printf("machine: %s, %ld CPUs, load average %.2f\n", cpu, sysconf(_SC_NPROCESSORS_ONLN),
           load_start);
    for (int mi = 0; mi < o.sel.n_models; mi++) {
        for (int ti = 0; ti < o.sel.n_types; ti++) {
            vres *r = &rs[n++];
            r->model = o.sel.models[mi];
            r->type = o.sel.types[ti];
            if (vt_bench_model_file(o.sel.dir, r->model, r->type, r->file, sizeof r->file, r->error,
                                    sizeof r->error) != 0 ||
                run_model(&o, r) != 0)
                failed = 1;
            print_result(&o, r);
            fflush(stdout);
        }
    }
    vt_bench_machine(cpu, sizeof cpu, &load_end);
    detection d = detect(&o);
    printf("\ncheating worker under sampled:%g (it cheats on every job):\n", o.sample_p);
    printf("  caught within %d jobs: 1 - (1 - %g)^%d = %.4f analytic, %.4f simulated "
           "(%ld workers)\n  sampler: %s\n",
           o.catch_jobs, o.sample_p, o.catch_jobs, d.analytic, d.simulated, o.trials, d.sampler);
    printf("  mean jobs until caught %.2f; 95%% are caught within %d jobs\n", d.mean_jobs,
           d.jobs_for_95);
    e2e_res e2e = {0};
    if (o.e2e && rs[0].file[0] && !rs[0].error[0]) {
        run_e2e(&o, rs[0].file, &e2e);
        print_e2e(&o, &e2e);
        if (e2e.error[0])
            failed = 1;
    } else {
        printf("\nend-to-end latency of delivery=verified vs optimistic: run with --e2e (it spawns a\n"
               "local cluster: redis, scheduler, a worker and a verifier)\n");
    }
    if (jf) {
        write_json(&o, jf, rs, n, &d, &e2e, cpu, load_start, load_end);
        if (fclose(jf) != 0) {
            fprintf(stderr, "%s: writing %s failed\n", prog, o.sel.json);
            failed = 1;
        }
    }
    free(rs);
    return failed ? 1 : 0;
}
