/* embed.c - embeddings for `kind: embed` jobs: the mean of the final-norm
 * hidden states over the prompt's positions.
 *
 * Workers compute it and verifiers replay it with this one function, so the
 * order of the sum is the same by construction: per component, sequential
 * over positions (0, 1, ..., n-1) in float32, then one division by n. The
 * rows come from vt_forward_hidden's output, which is bit-identical for
 * any batch, chunking, thread count, ISA or backend (they are the rows the
 * trace digests), so the embedding is too. No FMA, no pairwise or SIMD
 * reduction: a plain loop the compiler may not reassociate
 * (-ffp-contract=off, no -ffast-math).
 */
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "vt_engine.h"

int vt_seq_embed(vt_ctx *c, int seq, const int32_t *tokens, int n, float *out, vt_errinfo *ei)
{
    if (!c || !out || n < 1 || !tokens)
        return vt_fail(ei, VT_ERR_INVAL, "vt_seq_embed: need 1 or more tokens and an output");
    int rv = vt_seq_reset(c, seq);
    if (rv < 0)
        return vt_fail(ei, rv, "vt_seq_embed: slot %d", seq);
    size_t dim = c->m->info.dim;
    int step = n < VT_CHUNK ? n : VT_CHUNK;
    float *h = malloc((size_t)step * dim * sizeof(float)); /* [step][dim] */
    float *sum = calloc(dim, sizeof(float));               /* [dim] */
    if (!h || !sum) {
        free(h);
        free(sum);
        return vt_fail(ei, VT_ERR_NOMEM, "vt_seq_embed: out of memory");
    }
    for (int p0 = 0; p0 < n && rv == 0; p0 += step) {
        int k = n - p0 < step ? n - p0 : step;
        vt_batch_item it = {.seq = seq, .tokens = tokens + p0, .n_tokens = k};
        rv = vt_forward_hidden(c, &it, 1, &h, ei);
        for (int p = 0; p < k && rv == 0; p++)
            for (size_t d = 0; d < dim; d++)
                sum[d] = p0 + p == 0 ? h[d] : sum[d] + h[(size_t)p * dim + d];
    }
    if (rv == 0)
        for (size_t d = 0; d < dim; d++)
            out[d] = sum[d] / (float)n;
    free(h);
    free(sum);
    return rv;
}
