/* kernels.h - the per-ISA kernel table of the CPU backend (internal).
 *
 * Two tables exist: vt_ops_scalar (kernels_scalar.c, plain C over
 * vt_kernels.h, the very functions the CUDA kernels run) and vt_ops_avx2
 * (kernels_avx2.c: AVX2/FMA/F16C with the same operation order). They must
 * give identical bits; tests/engine/test_kernels.c checks that.
 */
#ifndef VT_KERNELS_TABLE_H
#define VT_KERNELS_TABLE_H

#include "model.h"

/* A matmul input: T rows of n floats, plus (when the weight is Q8_0) the
 * rows quantised once: q [T][n] int8 and d [T][n/32] block scales. */
typedef struct vt_xin {
    const float *x;
    const int8_t *q;
    const float *d;
    int T, n;
} vt_xin;

#define VT_ROW_GROUP 8 /* rows per matmul work unit (the AVX2 Q8 tile) */

typedef struct vt_ops {
    const char *name;
    /* y[t][r] = dot(W row r, x[t]) for rows of groups [g0, g1) (8 rows each),
     * all t < T. y has ldy floats per token row. */
    void (*matmul)(const vt_mat *w, int g0, int g1, const vt_xin *in, float *y, int ldy);
    /* x[n] (n % 32 == 0) -> q[n], d[n/32] */
    void (*quant_q8)(const float *x, int n, int8_t *q, float *d);
    void (*rmsnorm)(const float *x, const float *w, int n, float eps, float *out);
    /* out[i] = swiglu(g[i], u[i]) */
    void (*swiglu)(const float *g, const float *u, int n, float *out);
    /* rotate each of n_heads heads of hd floats; cs/sn: rope_dim/2 values */
    void (*rope)(float *x, int n_heads, int hd, int rope_dim, const float *cs, const float *sn);
    void (*attn_head)(const float *q, const float *k, const float *v, int stride, int n_ctx,
                      int hd, float scale, float *scores, float *out);
} vt_ops;

extern const vt_ops vt_ops_scalar;
#ifdef VT_ENGINE_X86
extern const vt_ops vt_ops_avx2;
#endif

/* 1 when this CPU runs the AVX2 table (AVX2 + FMA + F16C). */
int vt_cpu_has_avx2(void);
/* The table for an ISA request (VT_ISA_NATIVE resolves at run time). */
const vt_ops *vt_ops_for(int isa);

/* Packed Q8_0 layout used by the AVX2 kernel: per group of 8 rows, per
 * block b: 8 f16 scales (16 bytes) then the 8 rows' 32 int8 (256 bytes).
 * Rows past the end are zero. */
#define VT_PACK_BLOCK_BYTES (16 + 8 * 32)

#endif
