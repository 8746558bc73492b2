/* ms_tokenize.c - see ms_tokenize.h for the rules. */
#include "ms_tokenize.h"

#include <stdlib.h>
#include <string.h>

#include "vt_err.h"

static int is_term_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c >= 0x80;
}

static int term_cmp(const void *a, const void *b)
{
    const ms_term *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c != 0)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

void ms_terms_free(ms_terms *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].s);
    free(t->v);
    memset(t, 0, sizeof *t);
}

int ms_tokenize(const char *text, size_t n, ms_terms *out)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    size_t i = 0;
    /* Collect every token, then sort and merge duplicates (texts are small:
     * at most --max-item-bytes). */
    while (i < n) {
        while (i < n && !is_term_byte((unsigned char)text[i]))
            i++;
        size_t start = i;
        while (i < n && is_term_byte((unsigned char)text[i]))
            i++;
        if (i == start)
            break;
        size_t len = i - start;
        if (len > MS_TERM_MAX) {
            len = MS_TERM_MAX;
            /* Do not cut a UTF-8 sequence in half: back up over
             * continuation bytes (10xxxxxx) to a lead byte. */
            while (len > 0 && ((unsigned char)text[start + len] & 0xC0) == 0x80)
                len--;
            if (len == 0)
                len = MS_TERM_MAX;
        }
        if (out->n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            ms_term *v = realloc(out->v, nc * sizeof *v);
            if (!v)
                goto oom;
            out->v = v;
            cap = nc;
        }
        char *s = malloc(len + 1);
        if (!s)
            goto oom;
        for (size_t k = 0; k < len; k++) {
            unsigned char c = (unsigned char)text[start + k];
            s[k] = (char)((c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
        }
        s[len] = '\0';
        out->v[out->n++] = (ms_term){s, (uint32_t)len, 1};
        out->total++;
    }
    if (out->n > 1) {
        qsort(out->v, out->n, sizeof *out->v, term_cmp);
        size_t w = 0;
        for (size_t r = 1; r < out->n; r++) {
            if (term_cmp(&out->v[w], &out->v[r]) == 0) {
                out->v[w].tf++;
                free(out->v[r].s);
            } else {
                out->v[++w] = out->v[r];
            }
        }
        out->n = w + 1;
    }
    return 0;
oom:
    ms_terms_free(out);
    return VT_ERR_NOMEM;
}
