/* cuda_stub.c - the CUDA entry points of a build without nvcc: vt_cuda_*
 * still exist so callers need no #ifdef; they report "no CUDA". */
#ifndef VT_ENGINE_CUDA
#include "vt_cuda.h"

int vt_cuda_compiled(void)
{
    return 0;
}

int vt_cuda_device_count(void)
{
    return 0;
}

int vt_cuda_ctx_create(const vt_model *m, int max_seqs, int max_ctx, int max_tok,
                       const float *rope_cos, const float *rope_sin, vt_cuda_ctx **out,
                       vt_errinfo *ei)
{
    (void)m;
    (void)max_tok;
    (void)rope_cos;
    (void)rope_sin;
    (void)max_seqs;
    (void)max_ctx;
    *out = NULL;
    return vt_fail(ei, VT_ERR_CUDA, "this build of Verity has no CUDA backend (nvcc not found)");
}

void vt_cuda_ctx_free(vt_cuda_ctx *c)
{
    (void)c;
}

int vt_cuda_forward(vt_cuda_ctx *c, const vt_fwd_batch *b, vt_errinfo *ei)
{
    (void)c;
    (void)b;
    return vt_fail(ei, VT_ERR_CUDA, "no CUDA backend in this build");
}
#else
/* Built with CUDA: engine/cuda/ defines these. ISO C forbids an empty unit. */
typedef int vt_cuda_stub_unused;
#endif
