/* test_core.c - memsync's pure parts: tokenizer, BM25, cosine, RRF, top-k,
 * canonical records, hash chain, head strings, prompt template. Expected
 * numbers come from hand formulas or an independent implementation
 * (Python hashlib.blake2b), never from this code. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms_chain.h"
#include "ms_rank.h"
#include "ms_record.h"
#include "ms_tokenize.h"
#include "vt_test.h"

static void test_tokenize(void)
{
    ms_terms t;
    const char *s = "The cat, the CAT and the dog-42! caf\xc3\xa9";
    VT_REQUIRE_OK(ms_tokenize(s, strlen(s), &t));
    /* tokens: the cat the cat and the dog 42 café = 9 tokens, distinct
     * sorted by bytes ('f' 0x66 < 't' 0x74): 42 and café cat dog the */
    VT_CHECK_EQ_INT(t.total, 9);
    VT_CHECK_EQ_INT(t.n, 6);
    if (t.n == 6) {
        VT_CHECK_EQ_STR(t.v[0].s, "42");
        VT_CHECK_EQ_STR(t.v[1].s, "and");
        VT_CHECK_EQ_STR(t.v[2].s, "caf\xc3\xa9");
        VT_CHECK_EQ_STR(t.v[3].s, "cat");
        VT_CHECK_EQ_INT(t.v[3].tf, 2);
        VT_CHECK_EQ_STR(t.v[5].s, "the");
        VT_CHECK_EQ_INT(t.v[5].tf, 3);
    }
    ms_terms_free(&t);

    VT_REQUIRE_OK(ms_tokenize("  ,;  ", 6, &t));
    VT_CHECK_EQ_INT(t.n, 0);
    VT_CHECK_EQ_INT(t.total, 0);
    ms_terms_free(&t);

    /* A 100-byte word is cut to MS_TERM_MAX bytes; a 2-byte UTF-8 letter
     * straddling the cut is not split. */
    char longw[101];
    memset(longw, 'a', 100);
    longw[100] = 0;
    VT_REQUIRE_OK(ms_tokenize(longw, 100, &t));
    VT_CHECK_EQ_INT(t.n, 1);
    VT_CHECK_EQ_INT(t.v[0].len, MS_TERM_MAX);
    ms_terms_free(&t);
    char u[80];
    memset(u, 'b', 63);
    u[63] = (char)0xc3;
    u[64] = (char)0xa9;
    memset(u + 65, 'c', 5);
    VT_REQUIRE_OK(ms_tokenize(u, 70, &t));
    VT_CHECK_EQ_INT(t.v[0].len, 63);
    ms_terms_free(&t);
}

static void test_bm25(void)
{
    /* Values from the formula evaluated in Python:
     * N=3, df=1: idf = ln(1 + 2.5/1.5) = 0.9808292530117263
     * tf=2, |D|=4, avgdl=5: idf*2*2.2/(2+1.2*(0.25+0.75*0.8)) = 1.4290227527323165 */
    double idf = ms_bm25_idf(3, 1);
    VT_CHECK(fabs(idf - 0.9808292530117263) < 1e-12, "idf %.17g", idf);
    double s = ms_bm25_term(idf, 2, 4, 5.0);
    VT_CHECK(fabs(s - 1.4290227527323165) < 1e-12, "term %.17g", s);
    VT_CHECK(ms_bm25_term(idf, 0, 4, 5.0) == 0.0, "tf 0 scores 0");
    /* a term in every document still scores > 0 (Lucene idf) */
    VT_CHECK(ms_bm25_idf(10, 10) > 0.0, "idf positive");
    /* more occurrences score higher; longer documents lower */
    VT_CHECK(ms_bm25_term(1.0, 3, 5, 5.0) > ms_bm25_term(1.0, 1, 5, 5.0), "tf monotone");
    VT_CHECK(ms_bm25_term(1.0, 1, 50, 5.0) < ms_bm25_term(1.0, 1, 5, 5.0), "length norm");
}

static void test_cosine_rank(void)
{
    float a[3] = {1, 0, 0}, b[3] = {1, 1, 0}, z[3] = {0, 0, 0}, c[3] = {-2, 0, 0};
    VT_CHECK(fabs(ms_cosine(a, a, 3) - 1.0) < 1e-12, "self");
    VT_CHECK(fabs(ms_cosine(a, b, 3) - 1.0 / sqrt(2.0)) < 1e-7, "45 degrees");
    VT_CHECK(ms_cosine(a, z, 3) == 0.0, "zero vector");
    VT_CHECK(fabs(ms_cosine(a, c, 3) + 1.0) < 1e-12, "opposite");

    ms_scored v[6] = {{0, 10, 0.5}, {1, 11, 0.9}, {2, 12, 0.5}, {3, 9, 0.5}, {4, 13, 0.1}, {5, 14, 0.7}};
    size_t n = ms_rank_top(v, 6, 4);
    VT_CHECK_EQ_INT(n, 4);
    /* 0.9 (11), 0.7 (14), then the 0.5 tie broken by id: 9, 10 */
    VT_CHECK_EQ_U64(v[0].id, 11);
    VT_CHECK_EQ_U64(v[1].id, 14);
    VT_CHECK_EQ_U64(v[2].id, 9);
    VT_CHECK_EQ_U64(v[3].id, 10);
    VT_CHECK(fabs(ms_rrf_term(1, 60) - 1.0 / 61.0) < 1e-15, "rrf");
}

/* The documented dot product (ms_rank.h): lane i % 8 sums a[i]*b[i] in
 * index order, lanes combined as ((s0+s4)+(s1+s5))+((s2+s6)+(s3+s7)).
 * ms_dot and the four-row ms_dot4 must give exactly these bits. */
static float lane_dot(const float *a, const float *b, uint32_t dim)
{
    float s[8] = {0};
    for (uint32_t i = 0; i < dim; i++)
        s[i & 7] += a[i] * b[i];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

static void test_dot(void)
{
    static const uint32_t dims[] = {1, 7, 8, 9, 17, 384, 389};
    enum { MAXD = 389 };
    static float rows[4][MAXD], q[MAXD];
    uint32_t seed = 12345;
    for (int r = 0; r < 4; r++)
        for (int i = 0; i < MAXD; i++) {
            seed = seed * 1664525u + 1013904223u;
            rows[r][i] = (float)((int32_t)(seed >> 8) - (1 << 23)) / (float)(1 << 20);
        }
    for (int i = 0; i < MAXD; i++) {
        seed = seed * 1664525u + 1013904223u;
        q[i] = (float)((int32_t)(seed >> 8) - (1 << 23)) / (float)(1 << 22);
    }
    for (size_t k = 0; k < sizeof dims / sizeof dims[0]; k++) {
        uint32_t d = dims[k];
        const float *a[4] = {rows[0], rows[1], rows[2], rows[3]};
        float four[4];
        ms_dot4(a, q, d, four);
        for (int r = 0; r < 4; r++) {
            float want = lane_dot(rows[r], q, d), one = ms_dot(rows[r], q, d);
            VT_CHECK(memcmp(&one, &want, sizeof want) == 0, "ms_dot dim %u row %d", d, r);
            VT_CHECK(memcmp(&four[r], &want, sizeof want) == 0, "ms_dot4 dim %u row %d", d, r);
        }
    }
}

static void sample_item(vt_mem_item *it, float *emb, char **cats)
{
    memset(it, 0, sizeof *it);
    it->id = 7;
    it->type = VT_MEM_EPISODIC;
    it->importance = 0.25f;
    it->created_ms = 1700000000123;
    it->updated_ms = 1700000000999;
    it->seq = 9;
    it->source = "job-1";
    cats[0] = "work";
    cats[1] = "travel";
    it->categories = cats;
    it->ncategories = 2;
    it->text = "met Bob in Paris";
    emb[0] = 0.5f;
    emb[1] = -1.25f;
    it->embedding = emb;
    it->dim = 2;
}

static void test_records(void)
{
    vt_mem_item it, back;
    float emb[2];
    char *cats[2];
    sample_item(&it, emb, cats);
    VT_CHECK_OK(ms_item_check(&it, 100, NULL));
    VT_CHECK_ERR(ms_item_check(&it, 5, NULL), VT_ERR_TOOBIG);

    ms_buf b = {0};
    ms_item_encode(&b, &it);
    /* 4 magic + 8 id + 1 type + 4 imp + 8 + 8 + 8 seq + (4+5) source + 2 +
     * (4+4) + (4+6) + (4+16) text + 4 dim + 8 = 102 bytes */
    VT_CHECK_EQ_INT(b.len, 102);
    VT_REQUIRE_OK(ms_item_decode(b.p, b.len, &back));
    VT_CHECK_EQ_U64(back.id, 7);
    VT_CHECK_EQ_INT(back.type, VT_MEM_EPISODIC);
    VT_CHECK(back.importance == 0.25f, "importance");
    VT_CHECK_EQ_INT(back.created_ms, 1700000000123);
    VT_CHECK_EQ_STR(back.source, "job-1");
    VT_CHECK_EQ_INT(back.ncategories, 2);
    VT_CHECK_EQ_STR(back.categories[1], "travel");
    VT_CHECK_EQ_STR(back.text, "met Bob in Paris");
    VT_CHECK(back.dim == 2 && back.embedding[1] == -1.25f, "embedding");
    vt_mem_item_clear(&back);

    /* every truncation and every extension is refused, never crashes */
    for (size_t n = 0; n < b.len; n++)
        VT_CHECK(ms_item_decode(b.p, n, &back) != 0, "prefix %zu accepted", n);
    uint8_t *longer = malloc(b.len + 1);
    memcpy(longer, b.p, b.len);
    longer[b.len] = 0;
    VT_CHECK_ERR(ms_item_decode(longer, b.len + 1, &back), VT_ERR_FORMAT);
    free(longer);
    /* bit flips: either refused or decoded into something valid to free */
    for (size_t i = 0; i < b.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b.p[i] ^= (uint8_t)(1u << bit);
            if (ms_item_decode(b.p, b.len, &back) == 0)
                vt_mem_item_clear(&back);
            b.p[i] ^= (uint8_t)(1u << bit);
        }
    }
    ms_buf_free(&b);

    ms_op op = {0}, op2;
    op.seq = 9;
    op.kind = MS_OP_ADD;
    op.ts_ms = 5;
    op.item = it;
    ms_op_encode(&b, &op);
    VT_REQUIRE_OK(ms_op_decode(b.p, b.len, &op2));
    VT_CHECK_EQ_U64(op2.seq, 9);
    VT_CHECK_EQ_INT(op2.kind, MS_OP_ADD);
    VT_CHECK_EQ_STR(op2.item.text, "met Bob in Paris");
    VT_CHECK_EQ_U64(op2.id, 7);
    ms_op_clear(&op2);
    for (size_t n = 0; n < b.len; n++)
        VT_CHECK(ms_op_decode(b.p, n, &op2) != 0, "op prefix %zu accepted", n);
    ms_buf_free(&b);

    ms_op ps = {.seq = 10, .kind = MS_OP_PROFILE_SET, .ts_ms = 6, .key = "city", .value = "Paris"};
    ms_op_encode(&b, &ps);
    VT_REQUIRE_OK(ms_op_decode(b.p, b.len, &op2));
    VT_CHECK_EQ_STR(op2.key, "city");
    VT_CHECK_EQ_STR(op2.value, "Paris");
    ms_op_clear(&op2);
    ms_buf_free(&b);

    /* invalid items */
    vt_mem_item bad;
    sample_item(&bad, emb, cats);
    bad.type = 3;
    VT_CHECK_ERR(ms_item_check(&bad, 100, NULL), VT_ERR_INVAL);
    sample_item(&bad, emb, cats);
    bad.importance = 2.0f;
    VT_CHECK_ERR(ms_item_check(&bad, 100, NULL), VT_ERR_RANGE);
    sample_item(&bad, emb, cats);
    emb[0] = NAN;
    VT_CHECK_ERR(ms_item_check(&bad, 100, NULL), VT_ERR_INVAL);
}

static void test_chain(void)
{
    /* Reference values: Python hashlib.blake2b(h_prev + op, digest_size=32). */
    static const char *h1 = "f400975a3959370e7684c1da5733751c2f9ee70f148d483556e372e4f5b7c02b";
    static const char *h2 = "83fd537401943f0ba47c39adbf12fe2642c4a690b30a1b38178a97b2236f336a";
    vt_mem_head h = {0};
    char s[VT_MEM_HEAD_STRSZ], want[VT_MEM_HEAD_STRSZ];
    ms_chain_advance(&h, (const uint8_t *)"VMO1hello", 9);
    snprintf(want, sizeof want, "1:%s", h1);
    VT_CHECK_EQ_STR(vt_mem_head_format(&h, s), want);
    ms_chain_advance(&h, (const uint8_t *)"x", 1);
    snprintf(want, sizeof want, "2:%s", h2);
    VT_CHECK_EQ_STR(vt_mem_head_format(&h, s), want);

    vt_mem_head p;
    VT_CHECK_OK(vt_mem_head_parse(s, strlen(s), &p));
    VT_CHECK(p.seq == 2 && memcmp(p.hash, h.hash, 32) == 0, "parse round trip");
    VT_CHECK_ERR(vt_mem_head_parse("2:abc", 5, &p), VT_ERR_FORMAT);
    VT_CHECK_ERR(vt_mem_head_parse(s, strlen(s) - 1, &p), VT_ERR_FORMAT);
    s[5] = 'G';
    VT_CHECK_ERR(vt_mem_head_parse(s, strlen(s), &p), VT_ERR_FORMAT);
}

static void test_prompt(void)
{
    vt_mem_hit hv[2];
    memset(hv, 0, sizeof hv);
    hv[0].item.type = VT_MEM_SEMANTIC;
    hv[0].item.created_ms = 0;
    hv[0].item.text = "likes tea\nand cake";
    hv[1].item.type = VT_MEM_EPISODIC;
    hv[1].item.created_ms = 86400000;
    hv[1].item.text = "asked about trains";
    vt_mem_hits hits = {hv, 2, {3, {0}}};
    char *out;
    size_t n;
    VT_REQUIRE_OK(vt_mem_prompt_render(&hits, "Where to?", &out, &n));
    const char *want =
        "<memory head=\"3:0000000000000000000000000000000000000000000000000000000000000000\">\n"
        "[1] (semantic, 1970-01-01T00:00:00Z) likes tea and cake\n"
        "[2] (episodic, 1970-01-02T00:00:00Z) asked about trains\n"
        "</memory>\n"
        "Where to?";
    VT_CHECK_EQ_STR(out, want);
    VT_CHECK_EQ_INT(n, strlen(want));
    free(out);
    hits.n = 0;
    VT_REQUIRE_OK(vt_mem_prompt_render(&hits, "plain", &out, NULL));
    VT_CHECK_EQ_STR(out, "plain");
    free(out);

    VT_REQUIRE_OK(vt_mem_episode_text("hi", "hello", 1000, &out));
    VT_CHECK_EQ_STR(out, "user: hi\nassistant: hello");
    free(out);
    /* cut at a UTF-8 boundary: "user: \xc3\xa9" is 8 bytes, a 7-byte cut
     * must not keep half of the letter */
    VT_REQUIRE_OK(vt_mem_episode_text("\xc3\xa9", "", 7, &out));
    VT_CHECK_EQ_STR(out, "user: ");
    free(out);
}

int main(void)
{
    test_tokenize();
    test_bm25();
    test_cosine_rank();
    test_dot();
    test_records();
    test_chain();
    test_prompt();
    return vt_test_done();
}
