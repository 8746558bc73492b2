/* kernels_rows.h - row-level loops over vt_kernels.h shared by the scalar
 * and the AVX2 kernel files (included by both; the AVX2 unit is compiled
 * with -mfma, so fmaf() there becomes one instruction with the same
 * correctly rounded result). */
#ifndef VT_KERNELS_ROWS_H
#define VT_KERNELS_ROWS_H

#include "kernels.h"

static inline void rows_swiglu(const float *g, const float *u, int n, float *out)
{
    for (int i = 0; i < n; i++)
        out[i] = vt_k_swiglu(g[i], u[i]);
}

static inline void rows_quant_q8(const float *x, int n, int8_t *q, float *d)
{
    for (int b = 0; b < n / VT_QK; b++)
        vt_k_quant_q8(x + b * VT_QK, q + b * VT_QK, &d[b]);
}

#endif
