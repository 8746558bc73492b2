/* test_tokenizer.c - SentencePiece BPE encoding and streaming decoding.
 *
 * Part 1 builds a tiny vocab by hand, where the expected ids of each text
 * follow from the merge rule (highest score first, ties leftmost), worked
 * out in the comments. Part 2 round-trips UTF-8 text through the synthetic
 * model vocabularies. Part 3 is the streaming decoder.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"
#include "vt_engine.h"
#include "vt_gguf.h"
#include "vt_synth.h"
#include "engine_testutil.h"


#define SP "\xe2\x96\x81" /* U+2581 */
#define BYTE(b) (3 + (b))  /* <0xNN> ids in these vocabs */

/* Hand vocab: 0 <unk>, 1 <s>, 2 </s>, 3..258 bytes, then: */
enum { T_SP = 259, T_A, T_B, T_C, T_AB, T_BC, T_SPA, T_AA, T_SPB, T_SPABC, N_HAND };

static vt_tokenizer *load_vocab(const char *model, char **pieces, float *scores, int32_t *types,
                                uint32_t n, vt_errinfo *ei, int *rv_out)
{
    vt_gguf_writer *w;
    vt_gguf_writer_new(&w);
    vt_gguf_w_str(w, "tokenizer.ggml.model", model);
    vt_gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)pieces, n);
    vt_gguf_w_arr_f32(w, "tokenizer.ggml.scores", scores, n);
    vt_gguf_w_arr_i32(w, "tokenizer.ggml.token_type", types, n);
    vt_gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 1);
    vt_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 2);
    uint8_t *buf;
    size_t len;
    vt_gguf_w_to_mem(w, &buf, &len);
    vt_gguf_writer_free(w);
    vt_gguf *g;
    vt_tokenizer *t = NULL;
    *rv_out = vt_gguf_open_mem(buf, len, &g, ei);
    if (*rv_out == 0) {
        *rv_out = vt_tokenizer_load(g, &t, ei);
        vt_gguf_close(g); /* the tokenizer must not keep pointers into it */
    }
    memset(buf, 0xAA, len);
    free(buf);
    return t;
}

static vt_tokenizer *hand_vocab(const char *model, int *rv)
{
    static char names[256][8];
    char *pieces[N_HAND];
    float scores[N_HAND];
    int32_t types[N_HAND];
    pieces[0] = "<unk>", types[0] = 2;
    pieces[1] = "<s>", types[1] = 3;
    pieces[2] = "</s>", types[2] = 3;
    for (int b = 0; b < 256; b++) {
        snprintf(names[b], sizeof names[b], "<0x%02X>", b);
        pieces[3 + b] = names[b];
        types[3 + b] = 6;
    }
    struct {
        const char *p;
        float s;
    } rest[] = {
        {SP, -1}, {"a", -2}, {"b", -3}, {"c", -4}, {"ab", -5}, {"bc", -0.5f}, {SP "a", -6},
        {"aa", -3.5f}, {SP "b", -7}, {SP "abc", -0.1f},
    };
    for (int i = 0; i < N_HAND; i++)
        scores[i] = 0;
    for (int i = 0; i < N_HAND - T_SP; i++) {
        pieces[T_SP + i] = (char *)rest[i].p;
        scores[T_SP + i] = rest[i].s;
        types[T_SP + i] = 1;
    }
    vt_errinfo ei = {0};
    return load_vocab(model, pieces, scores, types, N_HAND, &ei, rv);
}

static int enc_is(const vt_tokenizer *t, const char *text, int bos, const int32_t *want, size_t n)
{
    int32_t got[64];
    size_t n_got = 0;
    int rv = vt_tok_encode(t, text, strlen(text), bos, got, 64, &n_got);
    int ok = rv == 0 && n_got == n && memcmp(got, want, n * sizeof *want) == 0;
    if (!ok) {
        fprintf(stderr, "encode '%s': rv %d, got", text, rv);
        for (size_t i = 0; i < n_got && i < 64; i++)
            fprintf(stderr, " %d", got[i]);
        fprintf(stderr, "\n");
    }
    return ok;
}

static void test_hand(void)
{
    int rv;
    vt_tokenizer *t = hand_vocab("llama", &rv);
    CHECK(rv == 0 && t);
    if (!t)
        return;
    CHECK(vt_tok_vocab(t) == N_HAND && vt_tok_bos(t) == 1 && vt_tok_eos(t) == 2);

    /* "abc" -> ▁ a b c. Candidates: ▁a (-6), ab (-5), bc (-0.5): bc wins even
     * though ab is further left (with ab first we would end at ▁ ab c, since
     * "▁ab" and "abc" are no pieces). Then ▁ a bc: "abc" is no piece, ▁a (-6)
     * merges -> ▁a bc, and "▁abc" is a piece: one token. */
    int32_t e1[] = {T_SPABC};
    CHECK(enc_is(t, "abc", 0, e1, 1));
    int32_t e1b[] = {1, T_SPABC};
    CHECK(enc_is(t, "abc", 1, e1b, 2));
    /* "cab" -> ▁ c a b: only ab (-5) is a candidate ("▁c", "ca" are not).
     * Then ▁ c ab: nothing more. */
    int32_t e1c[] = {T_SP, T_C, T_AB};
    CHECK(enc_is(t, "cab", 0, e1c, 3));

    /* "aaa" -> ▁ a a a. aa (-3.5) ties at positions 1 and 2: the leftmost
     * merges -> ▁ aa a. Then "▁aa" and "aaa" are no pieces, and the stale
     * pairs (▁,a) and (a,a)@2 are dropped. Rightmost-first would have given
     * ▁a aa instead. */
    int32_t e2[] = {T_SP, T_AA, T_A};
    CHECK(enc_is(t, "aaa", 0, e2, 3));

    /* "é" (C3 A9) has no piece: ▁ then its two bytes. */
    int32_t e3[] = {T_SP, BYTE(0xc3), BYTE(0xa9)};
    CHECK(enc_is(t, "\xc3\xa9", 0, e3, 3));

    /* Spaces become ▁: "a b" -> ▁ a ▁ b -> ▁a (-6) before ▁b (-7). */
    int32_t e4[] = {T_SPA, T_SPB};
    CHECK(enc_is(t, "a b", 0, e4, 2));

    /* Invalid UTF-8: FF is a symbol alone and falls back to its byte; C3
     * followed by 'b' is no sequence, so C3 is a byte and b a char. */
    int32_t e5[] = {T_SP, BYTE(0xff), BYTE(0xc3), T_B};
    CHECK(enc_is(t, "\xff\xc3" "b", 0, e5, 4));

    /* "d" has no piece: byte fallback for the letter itself. */
    int32_t e6[] = {T_SP, BYTE('d')};
    CHECK(enc_is(t, "d", 0, e6, 2));

    /* Empty text: no dummy prefix. */
    int32_t e7[] = {1};
    CHECK(enc_is(t, "", 1, e7, 1));
    CHECK(enc_is(t, "", 0, e7, 0));

    /* Too small a buffer: RANGE, and the needed count. */
    int32_t small[1];
    size_t need = 0;
    CHECK(vt_tok_encode(t, "a b", 3, 1, small, 1, &need) == VT_ERR_RANGE && need == 3);

    /* Pieces print with ▁ as space, bytes as themselves, controls as nothing. */
    const char *p;
    size_t n;
    CHECK(vt_tok_piece(t, T_SPA, &p, &n) == 0 && n == 2 && memcmp(p, " a", 2) == 0);
    CHECK(vt_tok_piece(t, BYTE(0x41), &p, &n) == 0 && n == 1 && p[0] == 'A');
    CHECK(vt_tok_piece(t, 1, &p, &n) == 0 && n == 0);
    CHECK(vt_tok_piece(t, N_HAND, &p, &n) == VT_ERR_RANGE);
    CHECK(vt_tok_piece(t, -1, &p, &n) == VT_ERR_RANGE);
    vt_tokenizer_free(t);

    t = hand_vocab("gpt2", &rv);
    CHECK(rv == VT_ERR_UNSUPPORTED && t == NULL);
}

/* Decode ids with a fresh streaming decoder into out; returns the length. */
static size_t decode_all(const vt_tokenizer *t, const int32_t *ids, size_t n, char *out, size_t cap)
{
    vt_detok d;
    vt_detok_init(&d, t);
    size_t len = 0, k;
    for (size_t i = 0; i < n; i++) {
        CHECK(vt_detok_push(&d, ids[i], out + len, cap - len, &k) == 0);
        len += k;
    }
    CHECK(vt_detok_flush(&d, out + len, cap - len, &k) == 0);
    return len + k;
}

static void roundtrip(const vt_tokenizer *t, const char *text, size_t len, const char *want)
{
    size_t n = 0;
    vt_tok_encode(t, text, len, 1, NULL, 0, &n);
    int32_t *ids = malloc((n + 1) * sizeof *ids);
    CHECK(vt_tok_encode(t, text, len, 1, ids, n, &n) == 0);
    for (size_t i = 0; i < n; i++)
        CHECK(ids[i] >= 0 && (uint32_t)ids[i] < vt_tok_vocab(t));
    size_t cap = 3 * len + 16;
    char *out = malloc(cap);
    size_t m = decode_all(t, ids, n, out, cap);
    size_t wl = want ? strlen(want) : len;
    if (m != wl || memcmp(out, want ? want : text, wl) != 0) {
        fprintf(stderr, "round trip of '%.*s' gave '%.*s'\n", (int)len, text, (int)m, out);
        CHECK(!"see the line above");
    }
    free(out);
    free(ids);
}

static vt_tokenizer *synth_tok(uint32_t vocab)
{
    vt_synth_config c = {32, 1, 2, 2, 64, vocab, 64, 1, "tok"};
    uint8_t *buf;
    size_t len;
    vt_errinfo ei = {0};
    if (vt_synth_mem_cfg(&c, VT_DTYPE_F32, 7, &buf, &len, &ei) != 0)
        return NULL;
    vt_gguf *g;
    vt_tokenizer *t = NULL;
    if (vt_gguf_open_mem(buf, len, &g, &ei) == 0) {
        if (vt_tokenizer_load(g, &t, &ei) != 0)
            fprintf(stderr, "load: %s\n", vt_errinfo_msg(&ei));
        vt_gguf_close(g);
    }
    free(buf);
    return t;
}

static void test_roundtrips(uint32_t vocab)
{
    vt_tokenizer *t = synth_tok(vocab);
    CHECK(t != NULL);
    if (!t)
        return;
    static const char *texts[] = {
        "Once upon a time there was a little girl named Lily.",
        "  leading spaces, trailing  ",
        "tabs\tand\nnewlines\r\n",
        "emoji \xf0\x9f\x98\x80 and \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",
        "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c", /* 你好世界 */
        "caf\xc3\xa9 na\xc3\xafve \xce\xb1\xce\xb2\xce\xb3",
        "control \x01\x02\x1f\x7f bytes",
        "The king's dragon said \"no\" 100 times.",
        " ",
        "x",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        roundtrip(t, texts[i], strlen(texts[i]), NULL);
    /* A NUL byte inside the text is a byte like any other. */
    roundtrip(t, "a\0b", 3, NULL);
    /* Invalid input comes back with U+FFFD per maximal invalid subpart:
     * FF -> FFFD; E4 BD then 'x' -> FFFD x; lone continuation 80 -> FFFD;
     * ED A0 80 (a surrogate) -> FFFD FFFD FFFD (ED cannot take A0). */
    roundtrip(t, "a\xff" "b\xe4\xbdx\x80 \xed\xa0\x80", 11,
              "a\xef\xbf\xbd" "b\xef\xbf\xbdx\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    /* A truncated sequence at the very end is flushed as one FFFD. */
    roundtrip(t, "end\xf0\x9f\x98", 6, "end\xef\xbf\xbd");

    /* Common words become single pieces (the vocab makes them reachable). */
    int32_t ids[16];
    size_t n;
    CHECK(vt_tok_encode(t, "the", 3, 0, ids, 16, &n) == 0 && n == 1);
    const char *p;
    size_t pl;
    CHECK(n == 1 && vt_tok_piece(t, ids[0], &p, &pl) == 0 && pl == 4 && memcmp(p, " the", 4) == 0);

    /* Long input: the heap keeps this near-linear (a quadratic merge loop
     * would take minutes on 200 kB). */
    size_t big = 200000;
    char *text = malloc(big);
    static const char words[] = "the little dog ran to the park and played with a ball ";
    for (size_t i = 0; i < big; i++)
        text[i] = words[i % (sizeof words - 1)];
    roundtrip(t, text, big, NULL);
    free(text);
    vt_tokenizer_free(t);
}

static void test_stream(void)
{
    vt_tokenizer *t = synth_tok(512);
    if (!t)
        return;
    char out[64];
    size_t n;
    vt_detok d;
    vt_detok_init(&d, t);
    /* 你 = E4 BD A0 as three byte tokens: nothing until the last one. */
    CHECK(vt_detok_push(&d, BYTE(0xe4), out, sizeof out, &n) == 0 && n == 0);
    CHECK(vt_detok_push(&d, BYTE(0xbd), out, sizeof out, &n) == 0 && n == 0);
    CHECK(d.n_pending == 2);
    CHECK(vt_detok_push(&d, BYTE(0xa0), out, sizeof out, &n) == 0 && n == 3 &&
          memcmp(out, "\xe4\xbd\xa0", 3) == 0);
    /* Incomplete then flush: one FFFD. */
    CHECK(vt_detok_push(&d, BYTE(0xf0), out, sizeof out, &n) == 0 && n == 0);
    CHECK(vt_detok_flush(&d, out, sizeof out, &n) == 0 && n == 3 &&
          memcmp(out, "\xef\xbf\xbd", 3) == 0);
    CHECK(vt_detok_flush(&d, out, sizeof out, &n) == 0 && n == 0);
    /* Incomplete, then a normal piece: FFFD and the piece. */
    int32_t the;
    CHECK(vt_tok_encode(t, "the", 3, 0, &the, 1, &n) == 0 && n == 1);
    CHECK(vt_detok_push(&d, BYTE(0xc3), out, sizeof out, &n) == 0 && n == 0);
    CHECK(vt_detok_push(&d, the, out, sizeof out, &n) == 0 && n == 7 &&
          memcmp(out, "\xef\xbf\xbd the", 7) == 0);
    /* Output too small: RANGE, needed size, and the state is unchanged. */
    CHECK(vt_detok_push(&d, BYTE(0xe4), out, sizeof out, &n) == 0 && n == 0);
    CHECK(vt_detok_push(&d, the, out, 2, &n) == VT_ERR_RANGE && n == 7 && d.n_pending == 1);
    CHECK(vt_detok_push(&d, the, out, sizeof out, &n) == 0 && n == 7);
    CHECK(vt_detok_push(&d, (int32_t)vt_tok_vocab(t), out, sizeof out, &n) == VT_ERR_RANGE);

    /* Leading space: dropped only on the first printing piece, BOS or not. */
    vt_detok_init(&d, t);
    CHECK(vt_detok_push(&d, vt_tok_bos(t), out, sizeof out, &n) == 0 && n == 0);
    CHECK(vt_detok_push(&d, the, out, sizeof out, &n) == 0 && n == 3 && memcmp(out, "the", 3) == 0);
    CHECK(vt_detok_push(&d, the, out, sizeof out, &n) == 0 && n == 4 && memcmp(out, " the", 4) == 0);
    CHECK(vt_detok_push(&d, vt_tok_eos(t), out, sizeof out, &n) == 0 && n == 0);
    vt_tokenizer_free(t);
}

/* Is s[0..n) valid UTF-8 (no overlongs, surrogates or > U+10FFFF)? */
static int valid_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t k = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                   : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (k == 0 || i + k > n)
            return 0;
        uint32_t cp = k == 1 ? c : c & (0x7f >> k);
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        i += k;
    }
    return 1;
}

/* Random text: valid strings round-trip exactly; any bytes at all give ids
 * in range and decode to valid UTF-8. */
static void test_fuzz(void)
{
    vt_tokenizer *t = synth_tok(600);
    CHECK(t != NULL);
    static const char *const atoms[] = {"a", "the", " ", "  ", "e", "\n", "\xc3\xa9",
                                        "\xe4\xbd\xa0", "\xf0\x9f\x98\x80", "ing",
                                        "\x01", "<0x41>", "<s>", "\xe2\x96\x81"};
    uint64_t s = 99;
    for (int iter = 0; iter < 2000; iter++) {
        uint8_t text[96];
        size_t len = 0;
        int raw = iter % 3 == 0; /* every third: arbitrary bytes */
        while (len < 60) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            if (raw) {
                text[len++] = (uint8_t)(s >> 56);
            } else {
                const char *a = atoms[(s >> 33) % (sizeof atoms / sizeof atoms[0])];
                memcpy(text + len, a, strlen(a));
                len += strlen(a);
            }
        }
        size_t n = 0;
        int32_t ids[300];
        CHECK(vt_tok_encode(t, (const char *)text, len, iter & 1, ids, 300, &n) == 0);
        for (size_t i = 0; i < n; i++)
            CHECK(ids[i] >= 0 && (uint32_t)ids[i] < vt_tok_vocab(t));
        char out[400];
        size_t m = decode_all(t, ids, n, out, sizeof out);
        CHECK(valid_utf8((const uint8_t *)out, m));
        /* U+2581 typed in the text comes back as a space: skip those. */
        int has_mark = 0;
        for (size_t i = 0; i + 3 <= len; i++)
            has_mark |= memcmp(text + i, "\xe2\x96\x81", 3) == 0;
        if (valid_utf8(text, len) && !has_mark)
            CHECK(m == len && memcmp(out, text, len) == 0);
    }
    vt_tokenizer_free(t);
}

int main(void)
{
    test_hand();
    test_roundtrips(512);
    test_roundtrips(32000);
    test_stream();
    test_fuzz();
    printf("ok\n");
    return 0;
}
