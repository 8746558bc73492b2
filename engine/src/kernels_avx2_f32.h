/* kernels_avx2_f32.h - the AVX2 F32 / F16 matmul (kernels_avx2_f32.c), the
 * F32 / F16 branch of the AVX2 table's matmul (internal). */
#ifndef VT_KERNELS_AVX2_F32_H
#define VT_KERNELS_AVX2_F32_H

#include "kernels.h"

/* y[t*ldy + r] = dot(row r of m, token t of in->x) in vt_k_dot_f32's order,
 * for rows r0 <= r < r1 and every token; m is F32 or F16. */
void vt_avx2_matmul_f(const vt_mat *m, int r0, int r1, const vt_xin *in, float *y, int ldy);

#endif
