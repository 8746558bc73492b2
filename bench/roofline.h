/* roofline.h - the machine's limits for `verity-bench engine`: streaming
 * read bandwidth and the peak multiply-accumulate rate of each weight
 * type's inner kernel, both with a given number of threads. */
#ifndef VT_ROOFLINE_H
#define VT_ROOFLINE_H

#include <stddef.h>
#include <stdint.h>

/* 1 when the AVX2 kernels run on this CPU (else scalar loops are measured). */
int vt_roof_avx2(void);

/* Bytes per second reading a `bytes` buffer split over `threads` threads
 * (best of `passes` passes after one untimed pass that faults pages in).
 * Returns <= 0 on allocation failure. */
double vt_roof_read_bw(size_t bytes, int threads, int passes);

/* Peak MAC/s of the inner loop for VT_DTYPE_F32 (8-wide fmadd) or
 * VT_DTYPE_Q8_0 (the engine's 8-row sign/maddubs/madd group + hadd + fmadd),
 * registers only, `threads` threads, each running about `seconds`. */
double vt_roof_peak_macs(uint32_t dtype, int threads, double seconds);

/* Kernels (roofline_avx2.c, only when compiled for x86-64). */
uint64_t vt_roof_sum_avx2(const uint8_t *p, size_t n);
float vt_roof_f32_avx2(uint64_t iters);  /* 80 MACs per iteration */
float vt_roof_q8_avx2(uint64_t iters);   /* 256 MACs per iteration */

#endif
