/* tokenizer_detok.c - token ids back to text.
 *
 * vt_tok_piece gives a token's bytes. The streaming decoder runs those bytes
 * through a UTF-8 validator so that a character spread over several byte
 * tokens (<0xE4><0xBD><0xA0> = "你") is printed once it is complete, and
 * bytes that can never form a character become U+FFFD, one per maximal
 * invalid subsequence (the WHATWG / Unicode "substitution of maximal
 * subparts" rule). The first piece of a sequence drops the leading space
 * that SentencePiece's dummy prefix put there.
 */
#include <string.h>

#include "tokenizer_internal.h"

int vt_tok_piece(const vt_tokenizer *t, int32_t id, const char **bytes, size_t *len)
{
    if (!t || !bytes || !len)
        return VT_ERR_INVAL;
    if (id < 0 || (uint32_t)id >= t->n_vocab)
        return VT_ERR_RANGE;
    *bytes = t->arena + t->dec_off[id];
    *len = t->dec_len[id];
    return 0;
}

void vt_detok_init(vt_detok *d, const vt_tokenizer *t)
{
    memset(d, 0, sizeof *d);
    d->tok = t;
    d->at_start = 1;
}

typedef struct sink {
    char *out;
    size_t cap, n; /* n counts every byte, even those that did not fit */
} sink;

static void put(sink *k, const void *p, size_t n)
{
    if (k->n + n <= k->cap)
        memcpy(k->out + k->n, p, n);
    k->n += n;
}

static void put_fffd(sink *k)
{
    put(k, "\xef\xbf\xbd", 3);
}

/* Bytes a sequence starting with lead byte c has; 0 if c cannot start one. */
static int seq_len(uint8_t c)
{
    return c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
           : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
}

/* May b follow the n_pending bytes in pending? (Second-byte ranges exclude
 * overlongs, surrogates and code points above U+10FFFF.) */
static int continues(const uint8_t *pending, int n_pending, uint8_t b)
{
    if ((b & 0xc0) != 0x80)
        return 0;
    if (n_pending == 1) {
        uint8_t c = pending[0];
        if (c == 0xe0) return b >= 0xa0;
        if (c == 0xed) return b <= 0x9f;
        if (c == 0xf0) return b >= 0x90;
        if (c == 0xf4) return b <= 0x8f;
    }
    return 1;
}

static void feed(vt_detok *d, uint8_t b, sink *k)
{
    if (d->n_pending) {
        if (continues(d->pending, d->n_pending, b)) {
            d->pending[d->n_pending++] = b;
            if (d->n_pending == seq_len(d->pending[0])) {
                put(k, d->pending, (size_t)d->n_pending);
                d->n_pending = 0;
            }
            return;
        }
        put_fffd(k); /* the incomplete sequence, then b starts afresh */
        d->n_pending = 0;
    }
    int n = seq_len(b);
    if (n == 1)
        put(k, &b, 1);
    else if (n == 0)
        put_fffd(k);
    else
        d->pending[d->n_pending++] = b;
}

int vt_detok_push(vt_detok *d, int32_t id, char *out, size_t cap, size_t *n_out)
{
    if (!d || !d->tok || (!out && cap) || !n_out)
        return VT_ERR_INVAL;
    const char *p;
    size_t n;
    int rv = vt_tok_piece(d->tok, id, &p, &n);
    if (rv)
        return rv;
    /* Run on a copy: when out is too small, nothing changes and the caller
     * learns the size it needs from *n_out. */
    vt_detok next = *d;
    sink k = {out, cap, 0};
    if (n && next.at_start) {
        if (d->tok->types[id] == VT_TOKTYPE_NORMAL && p[0] == ' ') {
            p++;
            n--;
        }
        next.at_start = 0;
    }
    for (size_t i = 0; i < n; i++)
        feed(&next, (uint8_t)p[i], &k);
    *n_out = k.n;
    if (k.n > cap)
        return VT_ERR_RANGE;
    *d = next;
    return 0;
}

int vt_detok_flush(vt_detok *d, char *out, size_t cap, size_t *n_out)
{
    if (!d || (!out && cap) || !n_out)
        return VT_ERR_INVAL;
    sink k = {out, cap, 0};
    if (d->n_pending)
        put_fffd(&k);
    *n_out = k.n;
    if (k.n > cap)
        return VT_ERR_RANGE;
    d->n_pending = 0;
    return 0;
}
