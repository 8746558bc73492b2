/* trace.c - per-slot trace digests: BLAKE2b-256 (libsodium generichash) over
 * the exact float32 bits of each layer's output residual and of the
 * final-norm output, position by position. */
#include <stdlib.h>
#include <string.h>

#include "ctx.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "trace digests hash float bits as stored; a big-endian host must byte-swap first"
#endif

int vt_trace_init_slot(vt_ctx *c, vt_slot *s)
{
    uint32_t L = c->m->info.n_layers;
    s->layer_st = malloc(L * sizeof *s->layer_st);
    if (!s->layer_st)
        return VT_ERR_NOMEM;
    if (c->p.trace_per_pos) {
        s->perpos = calloc((size_t)c->p.max_ctx * (1 + L), VT_DIGEST_BYTES);
        if (!s->perpos)
            return VT_ERR_NOMEM;
    }
    vt_trace_reset_slot(c, s);
    return 0;
}

void vt_trace_reset_slot(vt_ctx *c, vt_slot *s)
{
    crypto_generichash_init(&s->final_st, NULL, 0, VT_DIGEST_BYTES);
    for (uint32_t l = 0; l < c->m->info.n_layers; l++)
        crypto_generichash_init(&s->layer_st[l], NULL, 0, VT_DIGEST_BYTES);
}

/* Digest slot j of position pos: 0 = final, 1 + l = layer l. */
static uint8_t *perpos_at(vt_ctx *c, vt_slot *s, int pos, uint32_t j)
{
    return s->perpos + ((size_t)pos * (1 + c->m->info.n_layers) + j) * VT_DIGEST_BYTES;
}

static void absorb(vt_ctx *c, uint32_t j, const float *rows)
{
    size_t bytes = (size_t)c->m->info.dim * sizeof(float);
    for (int t = 0; t < c->T; t++) {
        vt_slot *s = &c->slots[c->t_slot[t]];
        const unsigned char *p = (const unsigned char *)(rows + (size_t)t * c->m->info.dim);
        crypto_generichash_state *st = j == 0 ? &s->final_st : &s->layer_st[j - 1];
        crypto_generichash_update(st, p, bytes);
        if (s->perpos)
            crypto_generichash(perpos_at(c, s, c->t_pos[t], j), VT_DIGEST_BYTES, p, bytes, NULL, 0);
    }
}

void vt_trace_absorb_layer(vt_ctx *c, int l, const float *rows)
{
    absorb(c, 1 + (uint32_t)l, rows);
}

void vt_trace_absorb_final(vt_ctx *c, const float *rows)
{
    absorb(c, 0, rows);
}

int vt_seq_trace(const vt_ctx *c, int seq, vt_trace *out)
{
    if (!c || !out || seq < 0 || seq >= c->p.max_seqs)
        return VT_ERR_INVAL;
    const vt_slot *s = &c->slots[seq];
    memset(out, 0, sizeof *out);
    crypto_generichash_state st = s->final_st;
    crypto_generichash_final(&st, out->final_digest, VT_DIGEST_BYTES);
    out->n_layers = c->m->info.n_layers;
    for (uint32_t l = 0; l < out->n_layers; l++) {
        st = s->layer_st[l];
        crypto_generichash_final(&st, out->layer_digest[l], VT_DIGEST_BYTES);
    }
    out->n_positions = (uint32_t)s->pos;
    return 0;
}

int vt_seq_pos_digest(const vt_ctx *c, int seq, int pos, uint8_t final_out[VT_DIGEST_BYTES],
                      uint8_t (*layers_out)[VT_DIGEST_BYTES], uint32_t n_layers_cap)
{
    if (!c || seq < 0 || seq >= c->p.max_seqs)
        return VT_ERR_INVAL;
    const vt_slot *s = &c->slots[seq];
    if (!s->perpos)
        return VT_ERR_UNSUPPORTED; /* ctx created without trace_per_pos */
    if (pos < 0 || pos >= s->pos)
        return VT_ERR_RANGE;
    uint32_t L = c->m->info.n_layers;
    const uint8_t *base = s->perpos + (size_t)pos * (1 + L) * VT_DIGEST_BYTES;
    if (final_out)
        memcpy(final_out, base, VT_DIGEST_BYTES);
    if (layers_out) {
        if (n_layers_cap < L)
            return VT_ERR_RANGE;
        for (uint32_t l = 0; l < L; l++)
            memcpy(layers_out[l], base + (1 + l) * VT_DIGEST_BYTES, VT_DIGEST_BYTES);
    }
    return 0;
}
