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
    vt_embed_item it = {.seq = seq, .tokens = tokens, .n_tokens = n, .out = out};
    return vt_embed_batch(c, &it, 1, ei);
}

/* One round: every unfinished item's next tokens (at most VT_EMBED_STEP)
 * through one forward call, their rows added to the item's running sum in
 * position order. done[i]: tokens of item i already fed. */
static int embed_round(vt_ctx *c, const vt_embed_item *items, int n_items, int *done,
                       float *const *rows, float *const *sums, vt_batch_item *bi,
                       float **bh, vt_errinfo *ei)
{
    size_t dim = c->m->info.dim;
    int nb = 0, at[VT_EMBED_MAX];
    for (int i = 0; i < n_items; i++) {
        int left = items[i].n_tokens - done[i];
        if (left <= 0)
            continue;
        int k = left < VT_EMBED_STEP ? left : VT_EMBED_STEP;
        bi[nb] = (vt_batch_item){.seq = items[i].seq, .tokens = items[i].tokens + done[i],
                                 .n_tokens = k};
        bh[nb] = rows[i];
        at[nb++] = i;
    }
    int rv = vt_forward_hidden(c, bi, nb, bh, ei);
    for (int b = 0; b < nb && rv == 0; b++) {
        int i = at[b], p0 = done[i];
        const float *h = rows[i]; /* [k][dim] */
        float *sum = sums[i];     /* [dim] */
        for (int p = 0; p < bi[b].n_tokens; p++)
            for (size_t d = 0; d < dim; d++)
                sum[d] = p0 + p == 0 ? h[d] : sum[d] + h[(size_t)p * dim + d];
        done[i] += bi[b].n_tokens;
    }
    return rv;
}

int vt_embed_batch(vt_ctx *c, const vt_embed_item *items, int n_items, vt_errinfo *ei)
{
    if (!c || !items || n_items < 1 || n_items > VT_EMBED_MAX)
        return vt_fail(ei, VT_ERR_INVAL, "vt_embed_batch: 1..%d items", VT_EMBED_MAX);
    for (int i = 0; i < n_items; i++)
        if (!items[i].out || !items[i].tokens || items[i].n_tokens < 1)
            return vt_fail(ei, VT_ERR_INVAL, "vt_embed: need 1 or more tokens and an output");
    int rv = 0;
    for (int i = 0; i < n_items && rv == 0; i++)
        if ((rv = vt_seq_reset(c, items[i].seq)) < 0)
            rv = vt_fail(ei, rv, "vt_embed: slot %d", items[i].seq);
    if (rv)
        return rv;
    size_t dim = c->m->info.dim;
    /* rows[i]: [min(n_tokens, VT_EMBED_STEP)][dim]; sums[i]: [dim] */
    float *rows[VT_EMBED_MAX] = {0}, *sums[VT_EMBED_MAX] = {0}, *bh[VT_EMBED_MAX];
    vt_batch_item bi[VT_EMBED_MAX];
    int done[VT_EMBED_MAX] = {0}, rounds = 0;
    for (int i = 0; i < n_items; i++) {
        int step = items[i].n_tokens < VT_EMBED_STEP ? items[i].n_tokens : VT_EMBED_STEP;
        rows[i] = malloc((size_t)step * dim * sizeof(float));
        sums[i] = calloc(dim, sizeof(float));
        if (!rows[i] || !sums[i])
            rv = vt_fail(ei, VT_ERR_NOMEM, "vt_embed: out of memory");
        int r = (items[i].n_tokens + VT_EMBED_STEP - 1) / VT_EMBED_STEP;
        rounds = r > rounds ? r : rounds;
    }
    for (int r = 0; r < rounds && rv == 0; r++)
        rv = embed_round(c, items, n_items, done, rows, sums, bi, bh, ei);
    for (int i = 0; i < n_items; i++) {
        if (rv == 0)
            for (size_t d = 0; d < dim; d++)
                items[i].out[d] = sums[i][d] / (float)items[i].n_tokens;
        else
            vt_seq_reset(c, items[i].seq);
        free(rows[i]);
        free(sums[i]);
    }
    return rv;
}
