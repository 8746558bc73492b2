/* ms_tokenize.h - the tokenizer behind BM25 (docs/memsync.md, "Search").
 *
 * A term is a maximal run of ASCII letters/digits or bytes >= 0x80 (so
 * UTF-8 words stay whole), ASCII letters folded to lower case, cut at
 * MS_TERM_MAX bytes. Everything else separates terms. No stemming and no
 * stop words: IDF already gives common words little weight, and the same
 * function must produce the same terms for the index and the query forever
 * (changing it changes every stored index). */
#ifndef MS_TOKENIZE_H
#define MS_TOKENIZE_H

#include <stddef.h>
#include <stdint.h>

#define MS_TERM_MAX 64

typedef struct ms_term {
    char *s;      /* NUL-terminated, owned by the ms_terms */
    uint32_t len;
    uint32_t tf;  /* occurrences in the text */
} ms_term;

typedef struct ms_terms {
    ms_term *v;   /* distinct terms, sorted by bytes */
    size_t n;
    uint32_t total; /* number of tokens (the document length for BM25) */
} ms_terms;

/* Tokenize text[0..n). Returns 0 or VT_ERR_NOMEM. */
int ms_tokenize(const char *text, size_t n, ms_terms *out);
void ms_terms_free(ms_terms *t);

#endif
