/* ms_index.c - in-process index of one agent's memory (see ms_index.h). */
#include "ms_index.h"

#include <stdlib.h>
#include <string.h>

#include "ms_rank.h"
#include "ms_tokenize.h"

void ms_index_init(ms_index *ix)
{
    memset(ix, 0, sizeof *ix);
}

void ms_index_free(ms_index *ix)
{
    for (uint32_t i = 0; i < ix->ndocs; i++)
        vt_mem_item_clear(&ix->docs[i].item);
    free(ix->docs);
    for (uint32_t i = 0; i < ix->nterms; i++) {
        free(ix->terms[i].term);
        free(ix->terms[i].v);
    }
    free(ix->terms);
    free(ix->slots);
    memset(ix, 0, sizeof *ix);
}

static uint64_t term_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static ms_plist *term_find(const ms_index *ix, const char *s, size_t n)
{
    if (ix->nslots == 0)
        return NULL;
    uint32_t mask = ix->nslots - 1;
    for (uint32_t i = (uint32_t)term_hash(s, n) & mask;; i = (i + 1) & mask) {
        uint32_t t = ix->slots[i];
        if (t == 0)
            return NULL;
        ms_plist *p = &ix->terms[t - 1];
        if (p->len == n && memcmp(p->term, s, n) == 0)
            return p;
    }
}

static int slots_grow(ms_index *ix)
{
    uint32_t ns = ix->nslots ? ix->nslots * 2 : 64;
    uint32_t *sl = calloc(ns, sizeof *sl);
    if (!sl)
        return VT_ERR_NOMEM;
    for (uint32_t t = 0; t < ix->nterms; t++) {
        uint32_t i = (uint32_t)term_hash(ix->terms[t].term, ix->terms[t].len) & (ns - 1);
        while (sl[i])
            i = (i + 1) & (ns - 1);
        sl[i] = t + 1;
    }
    free(ix->slots);
    ix->slots = sl;
    ix->bytes += (size_t)(ns - ix->nslots) * sizeof *sl;
    ix->nslots = ns;
    return 0;
}

static int term_get(ms_index *ix, const char *s, size_t n, ms_plist **out)
{
    ms_plist *p = term_find(ix, s, n);
    if (p) {
        *out = p;
        return 0;
    }
    /* keep the table at most 70% full */
    if ((uint64_t)(ix->nterms + 1) * 10 > (uint64_t)ix->nslots * 7) {
        int rv = slots_grow(ix);
        if (rv)
            return rv;
    }
    if (ix->nterms == ix->terms_cap) {
        uint32_t nc = ix->terms_cap ? ix->terms_cap * 2 : 64;
        ms_plist *t = realloc(ix->terms, nc * sizeof *t);
        if (!t)
            return VT_ERR_NOMEM;
        ix->terms = t;
        ix->terms_cap = nc;
    }
    char *copy = malloc(n + 1);
    if (!copy)
        return VT_ERR_NOMEM;
    memcpy(copy, s, n);
    copy[n] = '\0';
    p = &ix->terms[ix->nterms];
    memset(p, 0, sizeof *p);
    p->term = copy;
    p->len = (uint32_t)n;
    uint32_t mask = ix->nslots - 1;
    uint32_t i = (uint32_t)term_hash(s, n) & mask;
    while (ix->slots[i])
        i = (i + 1) & mask;
    ix->slots[i] = ++ix->nterms;
    ix->bytes += sizeof *p + n + 1;
    *out = p;
    return 0;
}

int64_t ms_index_find(const ms_index *ix, uint64_t id)
{
    uint32_t lo = 0, hi = ix->ndocs;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint64_t mid_id = ix->docs[mid].item.id;
        if (mid_id == id)
            return ix->docs[mid].item.text ? (int64_t)mid : -1;
        if (mid_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static size_t item_bytes(const vt_mem_item *it)
{
    size_t n = sizeof(ms_doc) + strlen(it->text) + (it->source ? strlen(it->source) : 0) +
               (size_t)it->dim * sizeof(float);
    for (size_t i = 0; i < it->ncategories; i++)
        n += strlen(it->categories[i]) + sizeof(char *);
    return n;
}

int ms_index_add_item(ms_index *ix, vt_mem_item *it, uint32_t len)
{
    if (ix->ndocs > 0 && ix->docs[ix->ndocs - 1].item.id >= it->id)
        return VT_ERR_INVAL;
    if (ix->ndocs == ix->cap) {
        uint32_t nc = ix->cap ? ix->cap * 2 : 64;
        ms_doc *d = realloc(ix->docs, nc * sizeof *d);
        if (!d)
            return VT_ERR_NOMEM;
        ix->docs = d;
        ix->cap = nc;
    }
    ms_doc *d = &ix->docs[ix->ndocs++];
    d->item = *it;
    memset(it, 0, sizeof *it);
    d->len = len;
    d->inv_norm = d->item.dim ? ms_inv_norm(d->item.embedding, d->item.dim) : 0.0f;
    ix->n_alive++;
    ix->total_len += len;
    ix->bytes += item_bytes(&d->item);
    return 0;
}

int ms_index_post(ms_index *ix, const char *term, size_t tlen, uint64_t id, uint32_t tf)
{
    int64_t doc = ms_index_find(ix, id);
    if (doc < 0)
        return VT_ERR_NOTFOUND;
    ms_plist *p;
    int rv = term_get(ix, term, tlen, &p);
    if (rv)
        return rv;
    if (p->n == p->cap) {
        uint32_t nc = p->cap ? p->cap * 2 : 4;
        ms_post *v = realloc(p->v, nc * sizeof *v);
        if (!v)
            return VT_ERR_NOMEM;
        ix->bytes += (size_t)(nc - p->cap) * sizeof *v;
        p->v = v;
        p->cap = nc;
    }
    p->v[p->n++] = (ms_post){(uint32_t)doc, tf};
    return 0;
}

/* Tokenize a doc's text and add or remove its postings. */
static int doc_terms(ms_index *ix, uint32_t doc, bool add, uint32_t *len)
{
    ms_terms t;
    const char *text = ix->docs[doc].item.text;
    int rv = ms_tokenize(text, strlen(text), &t);
    if (rv)
        return rv;
    for (size_t i = 0; i < t.n && rv == 0; i++) {
        if (add) {
            rv = ms_index_post(ix, t.v[i].s, t.v[i].len, ix->docs[doc].item.id, t.v[i].tf);
        } else {
            ms_plist *p = term_find(ix, t.v[i].s, t.v[i].len);
            for (uint32_t j = 0; p && j < p->n; j++) {
                if (p->v[j].doc == doc) {
                    p->v[j] = p->v[--p->n]; /* order inside a list is irrelevant */
                    break;
                }
            }
        }
    }
    if (len)
        *len = t.total;
    ms_terms_free(&t);
    return rv;
}

static int index_add_copy(ms_index *ix, const vt_mem_item *src)
{
    vt_mem_item it;
    int rv = ms_item_copy(&it, src);
    if (rv)
        return rv;
    ms_terms t;
    if ((rv = ms_tokenize(it.text, strlen(it.text), &t)) != 0) {
        vt_mem_item_clear(&it);
        return rv;
    }
    uint32_t len = t.total;
    ms_terms_free(&t);
    if ((rv = ms_index_add_item(ix, &it, len)) != 0) {
        vt_mem_item_clear(&it);
        return rv;
    }
    return doc_terms(ix, ix->ndocs - 1, true, NULL);
}

static void doc_drop(ms_index *ix, uint32_t doc)
{
    ms_doc *d = &ix->docs[doc];
    doc_terms(ix, doc, false, NULL);
    ix->n_alive--;
    ix->total_len -= d->len;
    ix->bytes -= item_bytes(&d->item) - sizeof(ms_doc);
    uint64_t id = d->item.id;
    vt_mem_item_clear(&d->item);
    d->item.id = id; /* keep the slot ordered for binary search */
}

int ms_index_apply(ms_index *ix, const ms_op *op)
{
    int64_t doc;
    int rv;
    switch (op->kind) {
    case MS_OP_ADD:
        return index_add_copy(ix, &op->item);
    case MS_OP_UPDATE: {
        if ((doc = ms_index_find(ix, op->item.id)) < 0)
            return VT_ERR_NOTFOUND;
        vt_mem_item it;
        if ((rv = ms_item_copy(&it, &op->item)) != 0)
            return rv;
        doc_drop(ix, (uint32_t)doc);
        ms_doc *d = &ix->docs[doc];
        d->item = it;
        d->inv_norm = it.dim ? ms_inv_norm(it.embedding, it.dim) : 0.0f;
        ix->bytes += item_bytes(&it) - sizeof(ms_doc);
        rv = doc_terms(ix, (uint32_t)doc, true, &d->len);
        ix->n_alive++;
        ix->total_len += d->len;
        return rv;
    }
    case MS_OP_DELETE:
        if ((doc = ms_index_find(ix, op->id)) < 0)
            return VT_ERR_NOTFOUND;
        doc_drop(ix, (uint32_t)doc);
        return 0;
    default:
        return 0;
    }
}

bool ms_filter_match(const vt_mem_filter *f, const vt_mem_item *it)
{
    if (!f)
        return true;
    if (f->type && (int)it->type != f->type)
        return false;
    if (f->since_ms && it->created_ms < f->since_ms)
        return false;
    if (f->until_ms && it->created_ms >= f->until_ms)
        return false;
    if (f->category && f->category[0]) {
        for (size_t i = 0; i < it->ncategories; i++)
            if (strcmp(it->categories[i], f->category) == 0)
                return true;
        return false;
    }
    return true;
}

static bool doc_ok(const ms_index *ix, uint32_t doc, const vt_mem_filter *f)
{
    return ix->docs[doc].item.text && ms_filter_match(f, &ix->docs[doc].item);
}

/* Cosine of n <= 4 rows (whose candidates are l[0..n)) with the query:
 * dot * 1/|row| * 1/|query| in float, as the one-row form always did. */
static void score_rows(const ms_index *ix, const float *rows[4], size_t n, const float *qv,
                       uint32_t dim, float qinv, double *cs, ms_scored *l)
{
    float dot[4];
    if (n == 4) {
        ms_dot4(rows, qv, dim, dot);
    } else {
        for (size_t r = 0; r < n; r++)
            dot[r] = ms_dot(rows[r], qv, dim);
    }
    for (size_t r = 0; r < n; r++) {
        uint32_t d = l[r].doc;
        cs[d] = (double)(dot[r] * ix->docs[d].inv_norm * qinv);
        l[r].score = cs[d];
    }
}

int ms_index_search(const ms_index *ix, const vt_mem_query *q, vt_mem_hits *out)
{
    int rv = 0;
    memset(out, 0, sizeof *out);
    out->head = ix->head;
    uint32_t nd = ix->ndocs;
    if (nd == 0)
        return 0;
    double *bm = calloc(nd, sizeof *bm);
    double *cs = calloc(nd, sizeof *cs);
    uint32_t *rank_b = calloc(nd, sizeof *rank_b), *rank_c = calloc(nd, sizeof *rank_c);
    ms_scored *lb = malloc(nd * sizeof *lb), *lc = malloc(nd * sizeof *lc);
    ms_scored *fu = NULL; /* sized once both lists are cut to their windows */
    size_t nb = 0, nc = 0, nf = 0;
    ms_terms qt = {0};
    if (!bm || !cs || !rank_b || !rank_c || !lb || !lc) {
        rv = VT_ERR_NOMEM;
        goto done;
    }
    /* Lexical list: BM25 over the query's distinct terms (each term counts
     * once, whatever its count in the query). */
    if (q->text && q->text[0]) {
        if ((rv = ms_tokenize(q->text, strlen(q->text), &qt)) != 0)
            goto done;
        double avg = ix->n_alive ? (double)ix->total_len / (double)ix->n_alive : 0.0;
        for (size_t t = 0; t < qt.n; t++) {
            const ms_plist *p = term_find(ix, qt.v[t].s, qt.v[t].len);
            if (!p || p->n == 0)
                continue;
            double idf = ms_bm25_idf(ix->n_alive, p->n);
            for (uint32_t j = 0; j < p->n; j++) {
                uint32_t d = p->v[j].doc;
                if (!doc_ok(ix, d, &q->filter))
                    continue;
                if (bm[d] == 0.0)
                    lb[nb++] = (ms_scored){d, ix->docs[d].item.id, 0.0};
                bm[d] += ms_bm25_term(idf, p->v[j].tf, ix->docs[d].len, avg);
            }
        }
        for (size_t i = 0; i < nb; i++)
            lb[i].score = bm[lb[i].doc];
        nb = ms_rank_top(lb, nb, MS_RRF_WINDOW(q->k));
        for (size_t i = 0; i < nb; i++)
            rank_b[lb[i].doc] = (uint32_t)i + 1;
    }
    /* Vector list: every item whose embedding has the query's dimension. */
    if (q->vector && q->dim > 0) {
        float qinv = ms_inv_norm(q->vector, q->dim);
        /* Rows go through ms_dot4 four at a time (same bits as ms_dot, but
         * four independent sum chains); lc[nc - pend ..] wait for scores. */
        const float *rows[4];
        size_t pend = 0;
        for (uint32_t d = 0; d < nd; d++) {
            const ms_doc *doc = &ix->docs[d];
            /* the rows are separate allocations: ask for the one 8 rows
             * ahead so it is in cache when ms_dot4 gets there */
            if (d + 8 < nd && ix->docs[d + 8].item.embedding) {
                const char *pf = (const char *)ix->docs[d + 8].item.embedding;
                for (size_t o = 0; o < (size_t)ix->docs[d + 8].item.dim * sizeof(float); o += 64)
                    __builtin_prefetch(pf + o);
            }
            if (doc->item.dim != q->dim || !doc_ok(ix, d, &q->filter))
                continue;
            rows[pend++] = doc->item.embedding;
            lc[nc++] = (ms_scored){d, doc->item.id, 0.0};
            if (pend == 4) {
                score_rows(ix, rows, 4, q->vector, q->dim, qinv, cs, lc + nc - 4);
                pend = 0;
            }
        }
        score_rows(ix, rows, pend, q->vector, q->dim, qinv, cs, lc + nc - pend);
        nc = ms_rank_top(lc, nc, MS_RRF_WINDOW(q->k));
        for (size_t i = 0; i < nc; i++)
            rank_c[lc[i].doc] = (uint32_t)i + 1;
    }
    /* Fusion over the union of both lists. */
    if (!(fu = malloc((nb + nc + 1) * sizeof *fu))) {
        rv = VT_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < nb; i++) {
        uint32_t d = lb[i].doc;
        double s = ms_rrf_term(rank_b[d], VT_MEM_RRF_K);
        if (rank_c[d])
            s += ms_rrf_term(rank_c[d], VT_MEM_RRF_K);
        fu[nf++] = (ms_scored){d, ix->docs[d].item.id, s};
    }
    for (size_t i = 0; i < nc; i++) {
        uint32_t d = lc[i].doc;
        if (rank_b[d])
            continue; /* already counted above */
        fu[nf++] = (ms_scored){d, ix->docs[d].item.id, ms_rrf_term(rank_c[d], VT_MEM_RRF_K)};
    }
    nf = ms_rank_top(fu, nf, q->k);
    if (nf > 0) {
        out->v = calloc(nf, sizeof *out->v);
        if (!out->v) {
            rv = VT_ERR_NOMEM;
            goto done;
        }
    }
    for (size_t i = 0; i < nf; i++) {
        uint32_t d = fu[i].doc;
        vt_mem_hit *h = &out->v[i];
        if ((rv = ms_item_copy(&h->item, &ix->docs[d].item)) != 0)
            goto done;
        out->n++;
        h->bm25 = bm[d];
        h->cosine = cs[d];
        h->fused = fu[i].score;
        h->rank_bm25 = rank_b[d];
        h->rank_cosine = rank_c[d];
    }
done:
    if (rv)
        vt_mem_hits_clear(out);
    ms_terms_free(&qt);
    free(bm);
    free(cs);
    free(rank_b);
    free(rank_c);
    free(lb);
    free(lc);
    free(fu);
    return rv;
}

int ms_index_list(const ms_index *ix, const vt_mem_filter *f, uint64_t after, uint32_t limit,
                  vt_mem_list *out)
{
    memset(out, 0, sizeof *out);
    out->head = ix->head;
    if (limit == 0)
        return 0;
    out->v = calloc(limit, sizeof *out->v);
    if (!out->v)
        return VT_ERR_NOMEM;
    for (uint32_t d = 0; d < ix->ndocs; d++) {
        const vt_mem_item *it = &ix->docs[d].item;
        if (it->id <= after || !it->text || !ms_filter_match(f, it))
            continue;
        if (out->n == limit) {
            out->next_after = out->v[out->n - 1].id;
            break;
        }
        int rv = ms_item_copy(&out->v[out->n], it);
        if (rv) {
            vt_mem_list_clear(out);
            return rv;
        }
        out->n++;
    }
    return 0;
}
