/* synth_vocab.c - the vocabulary of synthetic models.
 *
 * Mirrors the shape of llama's SentencePiece vocab so the tokenizer is tested
 * on something realistic:
 *   0 <unk> (type 2 unknown), 1 <s>, 2 </s> (type 3 control),
 *   3..258 <0x00>..<0xFF> (type 6 byte),
 *   then "▁" and the 94 printable ASCII characters,
 *   then English words and subwords in rough frequency order, each preceded
 *   by whichever of its prefixes are not yet pieces (so BPE, which only ever
 *   merges two adjacent pieces into a piece, can build every word),
 *   then unique syllable fillers ("▁bada", "▁kemo", ...) up to n.
 * Scores: 0 for special and byte tokens, -(rank) for the rest, so earlier
 * (more common) pieces win merges, as in a trained model.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synth_internal.h"
#include "vt_err.h"

#define SPACE_MARK "\xe2\x96\x81" /* U+2581, SentencePiece's space */

/* "_" stands for the space marker. */
static const char *const words[] = {
    "_the", "_a", "_and", "_to", "_of", "_in", "_was", "_he", "_she", "_it", "_is", "_that",
    "_with", "_for", "_on", "_they", "_you", "_his", "_her", "_at", "_be", "_I", "_had",
    "_said", "_one", "_day", "_little", "_big", "_happy", "_Once", "_upon", "_time",
    "_there", "_girl", "_boy", "_named", "_Lily", "_Tim", "_Ben", "_Sue", "_friend",
    "_friends", "_play", "_played", "_park", "_ball", "_tree", "_dog", "_cat", "_bird",
    "_mom", "_dad", "_we", "_not", "_but", "_so", "_very", "_were", "_all", "_can", "_saw",
    "_went", "_wanted", "_loved", "_liked", "_help", "_helped", "_home", "_sun", "_water",
    "_toy", "_box", "_red", "_blue", "_green", "_fun", "_good", "_new", "_old", "_up",
    "_down", "_out", "_from", "_this", "_what", "_when", "_them", "_their", "_have", "_do",
    "_did", "_like", "_him", "_an", "_are", "_my", "_me", "_your", "_no", "_yes", "_too",
    "_then", "_after", "_because", "_could", "_would", "_see", "_look", "_looked", "_found",
    "_find", "_made", "_make", "_how", "_who", "_where", "_why", "_go", "_come", "_came",
    "_together", "_sad", "_smiled", "_felt", "_thought", "_know", "_knew", "_way", "_into",
    "_about", "_some", "_more", "_many", "_other", "_people", "_world", "_year", "_years",
    "_first", "_last", "_long", "_great", "_small", "_right", "_left", "_hand", "_house",
    "_school", "_book", "_food", "_eat", "_ate", "_run", "_ran", "_walk", "_walked", "_talk",
    "_talked", "_say", "_asked", "_answer", "_again", "_always", "_never", "_every", "_each",
    "_only", "_just", "_also", "_than", "_now", "_here", "_over", "_under", "_before",
    "_under", "_night", "_morning", "_sky", "_star", "_moon", "_rain", "_snow", "_flower",
    "_garden", "_car", "_road", "_city", "_town", "_king", "_queen", "_dragon", "_magic",
    "_story", "_end", "_learn", "_learned", "_lesson", "_kind", "_nice", "_care", "_careful",
    "_share", "_shared", "_sorry", "_thank", "_please", "_love", "_heart", "_light",
    "_dark", "_fast", "_slow", "_hot", "_cold", "_warm", "_soft", "_hard", "_open", "_close",
    "_door", "_window", "_room", "_bed", "_sleep", "_dream", "_wake", "_woke", "_Yes", "_No",
    "_The", "_She", "_He", "_They", "_It", "_One", "_But", "_And", "_When", "_Then",
    "_What", "_You", "_We", "_verify", "_model", "_token", "_number", "_data",
    "ing", "ed", "er", "ly", "es", "s", "tion", "ment", "ness", "est", "ful", "less",
    "able", "ous", "al", "ic", "ive", "en", "re", "un", "pre", "dis", "ity", "ist",
    "_1", "_2", "_3", "_10", "_100", "00", "_,", "_.", "'s", "n't", "_\"", ".\"", ",\"",
};

static char *expand(const char *w)
{
    size_t n = strlen(w), m = 0;
    char *s = malloc(3 * n + 1);
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (w[i] == '_') {
            memcpy(s + m, SPACE_MARK, 3);
            m += 3;
        } else {
            s[m++] = w[i];
        }
    }
    s[m] = 0;
    return s;
}

typedef struct builder {
    synth_vocab *v;
    uint32_t len;
} builder;

static int have(const builder *b, const char *p, size_t n)
{
    for (uint32_t i = 0; i < b->len; i++)
        if (strlen(b->v->pieces[i]) == n && memcmp(b->v->pieces[i], p, n) == 0)
            return 1;
    return 0;
}

static int add(builder *b, const char *p, size_t n, float score, int32_t type)
{
    char *s = malloc(n + 1);
    if (!s)
        return VT_ERR_NOMEM;
    memcpy(s, p, n);
    s[n] = 0;
    b->v->pieces[b->len] = s;
    b->v->scores[b->len] = score;
    b->v->types[b->len] = type;
    b->len++;
    return 0;
}

/* Length of the UTF-8 sequence that starts with byte c (1 for junk). */
static size_t u8len(unsigned char c)
{
    return c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
}

/* Adds the missing prefixes of piece p (at character boundaries) and p
 * itself, or nothing when they do not all fit in the vocab. */
static int add_with_prefixes(builder *b, const char *p)
{
    size_t n = strlen(p), ends[64], n_ends = 0;
    for (size_t i = 0; i < n && n_ends < 64;) {
        i += u8len((unsigned char)p[i]);
        if (i > n)
            i = n;
        if (!have(b, p, i))
            ends[n_ends++] = i;
    }
    if (b->len + n_ends > b->v->n)
        return 1; /* full */
    for (size_t k = 0; k < n_ends; k++) {
        int rv = add(b, p, ends[k], -(float)b->len, 1);
        if (rv)
            return rv;
    }
    return 0;
}

static const char consonants[] = "bdfghjklmnprstvwz";
static const char vowels[] = "aeiou";
#define N_SYL ((sizeof consonants - 1) * (sizeof vowels - 1))

/* Filler k: SPACE_MARK and the base-N_SYL digits of k + N_SYL as syllables
 * (always >= 2 syllables; distinct k give distinct strings). */
static void filler(uint64_t k, char *out)
{
    uint64_t m = k + N_SYL;
    char syl[32];
    int n = 0;
    while (m) {
        uint64_t d = m % N_SYL;
        syl[n++] = vowels[d % 5];
        syl[n++] = consonants[d / 5];
        m /= N_SYL;
    }
    memcpy(out, SPACE_MARK, 3);
    int o = 3;
    while (n)
        out[o++] = syl[--n];
    out[o] = 0;
}

uint32_t synth_vocab_min(void)
{
    return 3 + 256 + 1 + 94;
}

void synth_vocab_free(synth_vocab *v)
{
    if (!v || !v->pieces)
        return;
    for (uint32_t i = 0; i < v->n; i++)
        free(v->pieces[i]);
    free(v->pieces);
    free(v->scores);
    free(v->types);
    memset(v, 0, sizeof *v);
}

int synth_vocab_build(uint32_t n, synth_vocab *v)
{
    memset(v, 0, sizeof *v);
    if (n < synth_vocab_min())
        return VT_ERR_INVAL;
    v->n = n;
    v->pieces = calloc(n, sizeof *v->pieces);
    v->scores = calloc(n, sizeof *v->scores);
    v->types = calloc(n, sizeof *v->types);
    if (!v->pieces || !v->scores || !v->types) {
        synth_vocab_free(v);
        return VT_ERR_NOMEM;
    }
    builder b = {v, 0};
    int rv = add(&b, "<unk>", 5, 0.0f, 2);
    rv = rv ? rv : add(&b, "<s>", 3, 0.0f, 3);
    rv = rv ? rv : add(&b, "</s>", 4, 0.0f, 3);
    for (int c = 0; c < 256 && !rv; c++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", c);
        rv = add(&b, s, 6, 0.0f, 6);
    }
    rv = rv ? rv : add(&b, SPACE_MARK, 3, -(float)b.len, 1);
    for (char c = 0x21; c < 0x7f && !rv; c++)
        rv = add(&b, &c, 1, -(float)b.len, 1);
    uint32_t first_word = b.len;
    for (size_t i = 0; i < sizeof words / sizeof words[0] && !rv; i++) {
        char *p = expand(words[i]);
        if (!p) {
            rv = VT_ERR_NOMEM;
            break;
        }
        int full = 0;
        if (!have(&b, p, strlen(p)))
            full = add_with_prefixes(&b, p);
        free(p);
        if (full == 1)
            break;
        rv = full;
    }
    uint32_t n_real = b.len;
    for (uint64_t k = 0; b.len < n && !rv; k++) {
        char f[64];
        filler(k, f);
        /* Only the real pieces can collide with a filler ("▁time" = ti+me). */
        int dup = 0;
        for (uint32_t i = first_word; i < n_real && !dup; i++)
            dup = strcmp(v->pieces[i], f) == 0;
        if (!dup)
            rv = add(&b, f, strlen(f), -(float)b.len, 1);
    }
    if (rv)
        synth_vocab_free(v);
    return rv;
}
