/* roofline.c - thread driver and scalar fallbacks for the machine limits
 * (see roofline.h). Each measurement starts all threads together and
 * times them from the first start to the last finish. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "roofline.h"
#include "vt_hugemem.h"
#include "vt_engine.h"

int vt_roof_avx2(void)
{
#if defined(VT_BENCH_X86)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

typedef struct roof_job {
    int kind; /* 0 read, 1 f32, 2 q8 */
    const uint8_t *p;
    size_t n;
    uint64_t iters;
    volatile uint64_t sink;
    pthread_barrier_t *start;
} roof_job;

static uint64_t sum_scalar(const uint8_t *p, size_t n)
{
    const uint64_t *q = (const uint64_t *)p;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i < n / 8; i += 4) {
        a += q[i];
        b += q[i + 1];
        c += q[i + 2];
        d += q[i + 3];
    }
    return a + b + c + d;
}

/* Scalar stand-ins: 8 independent float chains (8 MACs per iteration) and
 * an int8 dot of 32 (32 MACs). */
static float f32_scalar(uint64_t iters)
{
    volatile float vx = 1e-3f;
    float x = vx, c[8] = {0};
    for (uint64_t i = 0; i < iters; i++)
        for (int k = 0; k < 8; k++)
            c[k] = c[k] + x * 0.999f;
    return c[0] + c[7];
}

static float q8_scalar(uint64_t iters)
{
    volatile int8_t vx = 3;
    int8_t x[32], y[32];
    for (int k = 0; k < 32; k++) {
        x[k] = (int8_t)(vx + k);
        y[k] = (int8_t)(11 - k);
    }
    float acc = 0;
    for (uint64_t i = 0; i < iters; i++) {
        int32_t s = 0;
        for (int k = 0; k < 32; k++)
            s += x[k] * y[k];
        acc = acc + (float)s * 1e-6f;
        x[i & 31] ^= 1;
    }
    return acc;
}

static void *roof_thread(void *arg)
{
    roof_job *j = arg;
    pthread_barrier_wait(j->start);
    int avx2 = vt_roof_avx2();
    uint64_t s = 0;
#if defined(VT_BENCH_X86)
    if (avx2) {
        if (j->kind == 0)
            s = vt_roof_sum_avx2(j->p, j->n);
        else if (j->kind == 1)
            s = (uint64_t)vt_roof_f32_avx2(j->iters);
        else
            s = (uint64_t)vt_roof_q8_avx2(j->iters);
    }
#endif
    if (!avx2) {
        if (j->kind == 0)
            s = sum_scalar(j->p, j->n);
        else if (j->kind == 1)
            s = (uint64_t)f32_scalar(j->iters);
        else
            s = (uint64_t)q8_scalar(j->iters);
    }
    j->sink = s;
    return NULL;
}

/* Runs the jobs on `threads` threads (the caller is one of them); seconds. */
static double run_jobs(roof_job *jobs, int threads)
{
    pthread_t tid[64];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int i = 0; i < threads; i++)
        jobs[i].start = &start;
    int started = 1;
    for (int i = 1; i < threads; i++)
        if (pthread_create(&tid[i], NULL, roof_thread, &jobs[i]) == 0)
            started++;
    if (started != threads) { /* could not start them all: no measurement */
        pthread_barrier_destroy(&start);
        return -1;
    }
    double t0 = vt_bench_now();
    roof_thread(&jobs[0]);
    for (int i = 1; i < threads; i++)
        pthread_join(tid[i], NULL);
    double t = vt_bench_now() - t0;
    pthread_barrier_destroy(&start);
    return t;
}

double vt_roof_read_bw(size_t bytes, int threads, int passes)
{
    if (threads < 1 || threads > 64)
        return -1;
    size_t per = bytes / (size_t)threads / 128 * 128;
    if (per == 0)
        return -1;
    /* In 2 MiB huge pages where the kernel grants them, as the engine
     * keeps its weights (engine/src/matmul.c): the bound must not come from
     * a slower way of reading memory than the engine's. (On this VM the two
     * gave about the same: 20-21 against ~22 GB/s at 1 thread.) */
    vt_hugemem mem;
    uint8_t *buf = vt_hugemem_alloc(&mem, per * (size_t)threads);
    if (!buf)
        return -1;
    memset(buf, 1, per * (size_t)threads); /* fault every page in */
    roof_job jobs[64];
    memset(jobs, 0, sizeof jobs);
    for (int i = 0; i < threads; i++) {
        jobs[i].kind = 0;
        jobs[i].p = buf + per * (size_t)i;
        jobs[i].n = per;
    }
    double best = -1;
    for (int pass = 0; pass <= passes; pass++) {
        double t = run_jobs(jobs, threads);
        if (pass > 0 && t > 0 && (best < 0 || t < best))
            best = t;
    }
    vt_hugemem_free(&mem);
    return best > 0 ? (double)(per * (size_t)threads) / best : -1;
}

double vt_roof_peak_macs(uint32_t dtype, int threads, double seconds)
{
    if (threads < 1 || threads > 64)
        return -1;
    int avx2 = vt_roof_avx2();
    int kind = dtype == VT_DTYPE_Q8_0 ? 2 : 1;
    double macs_per_iter = kind == 1 ? (avx2 ? 80 : 8) : (avx2 ? 256 : 32);
    roof_job jobs[64];
    memset(jobs, 0, sizeof jobs);
    /* Calibrate on one thread, then size the real run to `seconds`. */
    uint64_t iters = 1u << 16;
    double t;
    for (;;) {
        jobs[0].kind = kind;
        jobs[0].iters = iters;
        t = run_jobs(jobs, 1);
        if (t < 0)
            return -1;
        if (t > seconds / 8 || iters > (1ull << 40))
            break;
        iters *= 4;
    }
    iters = (uint64_t)((double)iters * seconds / (t > 0 ? t : 1e-9)) + 1;
    for (int i = 0; i < threads; i++) {
        jobs[i].kind = kind;
        jobs[i].iters = iters;
    }
    t = run_jobs(jobs, threads);
    return t > 0 ? macs_per_iter * (double)iters * threads / t : -1;
}
