/* tokenizer.c - SentencePiece-style BPE ("llama" tokenizer) from GGUF.
 *
 * Encoding, as llama.cpp's llm_tokenizer_spm and llama2.c do it:
 *   1. text -> "▁" + text with every ' ' replaced by "▁" (U+2581; the
 *      dummy prefix is only added to non-empty text);
 *   2. split into symbols: one per UTF-8 character (a byte that does not
 *      start a valid sequence is a symbol of its own);
 *   3. repeatedly merge the adjacent pair whose concatenation is a vocab
 *      piece with the highest score; ties go to the leftmost pair;
 *   4. each final symbol becomes its piece's id, or, when the symbol is not
 *      a piece (only possible for single characters), one <0xNN> byte token
 *      per byte (<unk> when the vocab lacks that byte token).
 * Step 3 uses a max-heap of candidate pairs with lazy invalidation: a pair
 * popped after one of its sides changed is skipped. O(n log n) in the text
 * length, so a 4k-token prompt costs microseconds, not a quadratic scan.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

/* ------------------------------------------------------------ hashing */

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

int32_t vt_tok_lookup(const vt_tokenizer *t, const char *p, size_t n)
{
    for (uint64_t i = hash_bytes(p, n) & t->ht_mask;; i = (i + 1) & t->ht_mask) {
        uint32_t s = t->ht[i];
        if (!s)
            return -1;
        uint32_t id = s - 1;
        if (t->piece_len[id] == n && memcmp(t->arena + t->piece_off[id], p, n) == 0)
            return (int32_t)id;
    }
}

/* Later duplicates replace earlier ones (llama.cpp's token_to_id does the same). */
static void ht_insert(vt_tokenizer *t, uint32_t id)
{
    const char *p = t->arena + t->piece_off[id];
    size_t n = t->piece_len[id];
    for (uint64_t i = hash_bytes(p, n) & t->ht_mask;; i = (i + 1) & t->ht_mask) {
        uint32_t s = t->ht[i];
        if (!s || (t->piece_len[s - 1] == n && memcmp(t->arena + t->piece_off[s - 1], p, n) == 0)) {
            t->ht[i] = id + 1;
            return;
        }
    }
}

/* --------------------------------------------------------------- load */

void vt_tokenizer_free(vt_tokenizer *t)
{
    if (!t)
        return;
    free(t->arena);
    free(t->piece_off);
    free(t->piece_len);
    free(t->dec_off);
    free(t->dec_len);
    free(t->scores);
    free(t->types);
    free(t->ht);
    free(t);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "<0xNN>" -> NN, else -1. */
static int byte_piece(const char *p, size_t n)
{
    if (n != 6 || memcmp(p, "<0x", 3) != 0 || p[5] != '>')
        return -1;
    int hi = hexval(p[3]), lo = hexval(p[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* What a token prints as: byte tokens their byte, control tokens nothing,
 * <unk> U+2047, everything else its piece with "▁" -> ' '. Writes at most
 * piece length bytes (every rewrite shrinks or keeps the length). */
static uint32_t decode_piece(const vt_tokenizer *t, uint32_t id, char *out)
{
    const char *p = t->arena + t->piece_off[id];
    uint32_t n = t->piece_len[id];
    int32_t type = t->types[id];
    if (type == VT_TOKTYPE_BYTE && byte_piece(p, n) >= 0) {
        out[0] = (char)byte_piece(p, n);
        return 1;
    }
    if (type == VT_TOKTYPE_CONTROL || type == VT_TOKTYPE_UNUSED)
        return 0;
    if (type == VT_TOKTYPE_UNKNOWN) {
        if (n < 3) /* keep the no-growth rule; "<unk>" always has room */
            return 0;
        memcpy(out, "\xe2\x81\x87", 3);
        return 3;
    }
    uint32_t m = 0;
    for (uint32_t i = 0; i < n;) {
        if (i + 3 <= n && memcmp(p + i, "\xe2\x96\x81", 3) == 0) {
            out[m++] = ' ';
            i += 3;
        } else {
            out[m++] = p[i++];
        }
    }
    return m;
}

static int opt_id(const vt_gguf *g, const char *key, int32_t dflt, uint32_t n, int32_t *out,
                  vt_errinfo *ei)
{
    uint32_t v;
    int rv = vt_gguf_get_u32(g, key, &v);
    if (rv == VT_ERR_NOTFOUND) {
        *out = dflt < (int32_t)n ? dflt : -1;
        return 0;
    }
    if (rv || v >= n)
        return vt_fail(ei, VT_ERR_FORMAT, "tokenizer: %s is not a token id below %u", key, n);
    *out = (int32_t)v;
    return 0;
}

#define MAX_VOCAB (1u << 24)

int vt_tokenizer_load(const vt_gguf *g, vt_tokenizer **out, vt_errinfo *ei)
{
    vt_gguf_str model;
    int rv = vt_gguf_get_str(g, "tokenizer.ggml.model", &model);
    if (rv)
        return vt_fail(ei, VT_ERR_FORMAT, "tokenizer: tokenizer.ggml.model %s",
                       rv == VT_ERR_NOTFOUND ? "missing" : "is not a string");
    if (model.len != 5 || memcmp(model.ptr, "llama", 5) != 0)
        return vt_fail(ei, VT_ERR_UNSUPPORTED, "tokenizer model '%.*s' not supported yet (only 'llama')",
                       (int)(model.len < 32 ? model.len : 32), model.ptr);
    uint32_t et;
    uint64_t n64;
    if (vt_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n64) != 0 || et != VT_GGUF_STRING)
        return vt_fail(ei, VT_ERR_FORMAT, "tokenizer: tokenizer.ggml.tokens missing or not strings");
    if (n64 < 1 || n64 > MAX_VOCAB)
        return vt_fail(ei, VT_ERR_FORMAT, "tokenizer: vocab of %llu tokens (want 1..%u)",
                       (unsigned long long)n64, MAX_VOCAB);
    uint32_t n = (uint32_t)n64;
    uint64_t cnt;
    int have_scores = vt_gguf_get_arr(g, "tokenizer.ggml.scores", &et, &cnt) == 0;
    if (have_scores && (et != VT_GGUF_F32 || cnt != n))
        return vt_fail(ei, VT_ERR_FORMAT, "tokenizer: tokenizer.ggml.scores must be %u f32", n);
    int have_types = vt_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &cnt) == 0;
    if (have_types && cnt != n)
        return vt_fail(ei, VT_ERR_FORMAT, "tokenizer: tokenizer.ggml.token_type must have %u entries", n);

    vt_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return vt_fail(ei, VT_ERR_NOMEM, "tokenizer: out of memory");
    t->n_vocab = n;
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        vt_gguf_str s;
        vt_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &s);
        if (s.len > UINT32_MAX / 2) {
            vt_tokenizer_free(t);
            return vt_fail(ei, VT_ERR_FORMAT, "tokenizer: token %u is %llu bytes long", i,
                           (unsigned long long)s.len);
        }
        total += s.len; /* bounded by the file size */
    }
    uint64_t ht_size = 1;
    while (ht_size < 2 * (uint64_t)n)
        ht_size *= 2;
    t->arena = malloc((size_t)(2 * total + 1));
    t->piece_off = malloc(n * sizeof *t->piece_off);
    t->piece_len = malloc(n * sizeof *t->piece_len);
    t->dec_off = malloc(n * sizeof *t->dec_off);
    t->dec_len = malloc(n * sizeof *t->dec_len);
    t->scores = malloc(n * sizeof *t->scores);
    t->types = malloc(n * sizeof *t->types);
    t->ht = calloc((size_t)ht_size, sizeof *t->ht);
    t->ht_mask = ht_size - 1;
    if (!t->arena || !t->piece_off || !t->piece_len || !t->dec_off || !t->dec_len || !t->scores ||
        !t->types || !t->ht) {
        vt_tokenizer_free(t);
        return vt_fail(ei, VT_ERR_NOMEM, "tokenizer: out of memory for %u tokens", n);
    }
    uint64_t pos = 0;
    for (uint32_t i = 0; i < n; i++) {
        vt_gguf_str s;
        vt_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &s);
        if (s.len)
            memcpy(t->arena + pos, s.ptr, (size_t)s.len);
        t->piece_off[i] = pos;
        t->piece_len[i] = (uint32_t)s.len;
        pos += s.len;
        t->scores[i] = 0.0f;
        if (have_scores && vt_gguf_arr_f32(g, "tokenizer.ggml.scores", i, &t->scores[i]) != 0)
            have_scores = 0;
        t->types[i] = VT_TOKTYPE_NORMAL;
        if (have_types && vt_gguf_arr_i32(g, "tokenizer.ggml.token_type", i, &t->types[i]) != 0) {
            vt_tokenizer_free(t);
            return vt_fail(ei, VT_ERR_FORMAT, "tokenizer: token_type %u is not an integer", i);
        }
        if (t->scores[i] != t->scores[i]) {
            vt_tokenizer_free(t);
            return vt_fail(ei, VT_ERR_FORMAT, "tokenizer: score of token %u is NaN", i);
        }
    }
    for (int b = 0; b < 256; b++)
        t->byte_tok[b] = -1;
    for (uint32_t i = 0; i < n; i++) {
        const char *p = t->arena + t->piece_off[i];
        int b = byte_piece(p, t->piece_len[i]);
        if (b >= 0 && (t->types[i] == VT_TOKTYPE_BYTE || !have_types) && t->byte_tok[b] < 0) {
            t->byte_tok[b] = (int32_t)i;
            t->types[i] = VT_TOKTYPE_BYTE;
        }
        if (t->types[i] == VT_TOKTYPE_NORMAL || t->types[i] == VT_TOKTYPE_USER)
            ht_insert(t, i);
    }
    for (uint32_t i = 0; i < n; i++) {
        t->dec_off[i] = pos;
        t->dec_len[i] = decode_piece(t, i, t->arena + pos);
        pos += t->dec_len[i];
    }
    if ((rv = opt_id(g, "tokenizer.ggml.bos_token_id", 1, n, &t->bos, ei)) != 0 ||
        (rv = opt_id(g, "tokenizer.ggml.eos_token_id", 2, n, &t->eos, ei)) != 0 ||
        (rv = opt_id(g, "tokenizer.ggml.unknown_token_id", 0, n, &t->unk, ei)) != 0) {
        vt_tokenizer_free(t);
        return rv;
    }
    *out = t;
    return 0;
}

uint32_t vt_tok_vocab(const vt_tokenizer *t)
{
    return t->n_vocab;
}

int32_t vt_tok_bos(const vt_tokenizer *t)
{
    return t->bos;
}

int32_t vt_tok_eos(const vt_tokenizer *t)
{
    return t->eos;
}

/* ------------------------------------------------------------- encode */

typedef struct sym {
    uint32_t start, n; /* bytes in the normalized text; n = 0 once merged away */
    int32_t prev, next;
} sym;

typedef struct pair {
    float score;
    uint32_t left; /* index of the left symbol */
    uint32_t n;    /* byte length of the merged piece when pushed */
} pair;

/* Heap order: higher score first, then the leftmost pair. */
static int pair_before(const pair *a, const pair *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

typedef struct heap {
    pair *a;
    size_t n;
} heap;

static void heap_push(heap *h, pair p)
{
    size_t i = h->n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!pair_before(&p, &h->a[up]))
            break;
        h->a[i] = h->a[up];
        i = up;
    }
    h->a[i] = p;
}

static pair heap_pop(heap *h)
{
    pair top = h->a[0], last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && pair_before(&h->a[c + 1], &h->a[c]))
            c++;
        if (!pair_before(&h->a[c], &last))
            break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n)
        h->a[i] = last;
    return top;
}

/* Length of the valid UTF-8 sequence at p (n bytes left), or 1 for a byte
 * that does not start one (it then becomes a byte token). */
static uint32_t utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    uint32_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                   : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len <= 1 || len > n)
        return 1;
    uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
    if (p[1] < lo || p[1] > hi)
        return 1;
    for (uint32_t i = 2; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 1;
    return len;
}

static void try_pair(const vt_tokenizer *t, const char *text, const sym *s, int32_t l, heap *h)
{
    if (l < 0 || s[l].next < 0)
        return;
    uint32_t n = s[l].n + s[s[l].next].n;
    int32_t id = vt_tok_lookup(t, text + s[l].start, n);
    if (id < 0)
        return;
    pair p = {t->scores[id], (uint32_t)l, n};
    heap_push(h, p);
}

int vt_tok_encode(const vt_tokenizer *t, const char *text, size_t len, int add_bos,
                  int32_t *out, size_t cap, size_t *n_out)
{
    if (!t || (!text && len) || (!out && cap) || !n_out)
        return VT_ERR_INVAL;
    if (len > (size_t)INT32_MAX / 4)
        return VT_ERR_RANGE;
    /* Normalize: dummy prefix, spaces to U+2581 (3 bytes each). */
    size_t cap_norm = 3 * len + 3 + 1;
    char *norm = malloc(cap_norm);
    sym *s = malloc((len + 1) * sizeof *s);
    heap h = {malloc(3 * (len + 1) * sizeof(pair)), 0};
    int32_t *ids = malloc((3 * len + 4) * sizeof *ids); /* BOS + at most 1 per byte */
    if (!norm || !s || !h.a || !ids) {
        free(norm);
        free(s);
        free(h.a);
        free(ids);
        return VT_ERR_NOMEM;
    }
    size_t m = 0;
    if (len) {
        memcpy(norm, "\xe2\x96\x81", 3);
        m = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(norm + m, "\xe2\x96\x81", 3);
            m += 3;
        } else {
            norm[m++] = text[i];
        }
    }
    int32_t n_sym = 0;
    for (size_t i = 0; i < m;) {
        uint32_t k = utf8_seq((const uint8_t *)norm + i, m - i);
        s[n_sym].start = (uint32_t)i;
        s[n_sym].n = k;
        s[n_sym].prev = n_sym - 1;
        s[n_sym].next = i + k < m ? n_sym + 1 : -1;
        n_sym++;
        i += k;
    }
    for (int32_t i = 0; i + 1 < n_sym; i++)
        try_pair(t, norm, s, i, &h);
    while (h.n) {
        pair p = heap_pop(&h);
        sym *l = &s[p.left];
        /* Stale: the left side was merged away, or either side grew since. */
        if (l->n == 0 || l->next < 0 || l->n + s[l->next].n != p.n)
            continue;
        sym *r = &s[l->next];
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (l->next >= 0)
            s[l->next].prev = (int32_t)p.left;
        try_pair(t, norm, s, l->prev, &h);
        try_pair(t, norm, s, (int32_t)p.left, &h);
    }
    size_t n_ids = 0;
    if (add_bos && t->bos >= 0)
        ids[n_ids++] = t->bos;
    for (int32_t i = n_sym ? 0 : -1; i >= 0; i = s[i].next) {
        int32_t id = vt_tok_lookup(t, norm + s[i].start, s[i].n);
        if (id >= 0) {
            ids[n_ids++] = id;
            continue;
        }
        for (uint32_t b = 0; b < s[i].n; b++) {
            int32_t bt = t->byte_tok[(uint8_t)norm[s[i].start + b]];
            if (bt < 0)
                bt = t->unk; /* a vocab without byte fallback */
            if (bt >= 0)
                ids[n_ids++] = bt;
        }
    }
    free(norm);
    free(s);
    free(h.a);
    *n_out = n_ids;
    int rv = 0;
    if (n_ids > cap)
        rv = VT_ERR_RANGE;
    else if (n_ids)
        memcpy(out, ids, n_ids * sizeof *ids);
    free(ids);
    return rv;
}
