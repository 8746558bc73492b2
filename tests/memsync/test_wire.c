/* test_wire.c - memsync's wire codec: every request and answer type round
 * trips, and mutated messages (bit flips, truncations, random bytes, lying
 * counts) are refused or decoded into something that can be freed - never
 * a crash or a leak (run under ASan in CI). The mutations come from a
 * fixed-seed generator, so a failure reproduces. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms_wire.h"
#include "vt_test.h"

static uint64_t seed = 0x243f6a8885a308d3ull;

static uint64_t rnd(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
}

static void sample_requests(vt_buf *out, int *n)
{
    static float v[3] = {0.5f, -1, 2};
    static char *cats[2] = {"a", "bb"};
    vt_mem_item it = {.type = VT_MEM_EPISODIC, .importance = 0.25f, .text = "hello world",
                      .source = "job", .categories = cats, .ncategories = 2, .embedding = v,
                      .dim = 3};
    *n = 0;
    for (int op = 1; op < MS_REQ__COUNT; op++) {
        ms_req r;
        memset(&r, 0, sizeof r);
        r.op = op;
        strcpy(r.agent, "ag_aaaaaaaaaaaa");
        strcpy(r.key, "vtk_x");
        if (op == MS_REQ_GET)
            strcpy(r.job, "j-0000000000000001");
        r.item = it;
        r.has_item = true;
        r.id = 7;
        r.after = 3;
        r.limit = 9;
        r.k = 5;
        r.text = "query text";
        r.vector = v;
        r.dim = 3;
        r.filter.type = VT_MEM_SEMANTIC;
        r.filter.category = "a";
        r.filter.since_ms = 10;
        r.filter.until_ms = 20;
        r.pkey = "k";
        r.pvalue = "v";
        vt_buf_init(&out[*n], 0);
        VT_CHECK_OK(ms_req_encode(&out[*n], &r, NULL));
        (*n)++;
    }
}

static void test_roundtrip(vt_buf *reqs, int n)
{
    for (int i = 0; i < n; i++) {
        ms_req r;
        vt_errinfo ei = {0};
        VT_REQUIRE_OK(ms_req_decode(reqs[i].data, reqs[i].len, &r, &ei));
        VT_CHECK_EQ_INT(r.op, i + 1);
        VT_CHECK_EQ_STR(r.agent, "ag_aaaaaaaaaaaa");
        if (r.op == MS_REQ_ADD || r.op == MS_REQ_UPDATE) {
            VT_CHECK_EQ_STR(r.item.text, "hello world");
            VT_CHECK(r.item.dim == 3 && r.item.embedding[1] == -1.0f, "embedding");
            VT_CHECK(r.item.ncategories == 2 && strcmp(r.item.categories[1], "bb") == 0, "cats");
            VT_CHECK_EQ_INT(r.item.type, VT_MEM_EPISODIC);
        }
        if (r.op == MS_REQ_SEARCH) {
            VT_CHECK_EQ_STR(r.text, "query text");
            VT_CHECK(r.dim == 3 && r.vector[2] == 2.0f, "vector");
            VT_CHECK_EQ_INT(r.k, 5);
            VT_CHECK_EQ_STR(r.filter.category, "a");
            VT_CHECK_EQ_INT(r.filter.until_ms, 20);
        }
        if (r.op == MS_REQ_GET)
            VT_CHECK_EQ_STR(r.job, "j-0000000000000001");
        ms_req_clear(&r);
    }

    /* an answer with every part */
    ms_rep a;
    memset(&a, 0, sizeof a);
    a.head.seq = 42;
    a.head.hash[0] = 0xab;
    a.id = 9;
    vt_mem_item it = {.id = 9, .type = VT_MEM_SEMANTIC, .text = "x", .source = ""};
    vt_mem_hit hit = {.item = it, .bm25 = 1.5, .cosine = -0.25, .fused = 1.0 / 61,
                      .rank_bm25 = 1, .rank_cosine = 2};
    vt_mem_item items[1] = {it};
    char *keys[1] = {"k"}, *vals[1] = {"v"};
    a.item = it;
    a.has_item = true;
    a.list.v = items;
    a.list.n = 1;
    a.list.next_after = 9;
    a.has_list = true;
    a.hits.v = &hit;
    a.hits.n = 1;
    a.has_hits = true;
    a.profile.keys = keys;
    a.profile.values = vals;
    a.profile.n = 1;
    a.has_profile = true;
    a.verify.ok = false;
    strcpy(a.verify.problem, "item 3 differs");
    a.has_verify = true;
    vt_buf b;
    vt_buf_init(&b, 0);
    VT_REQUIRE_OK(ms_rep_encode(&b, &a, NULL));
    ms_rep d;
    VT_REQUIRE_OK(ms_rep_decode(b.data, b.len, &d, NULL));
    VT_CHECK_EQ_U64(d.head.seq, 42);
    VT_CHECK_EQ_INT(d.head.hash[0], 0xab);
    VT_CHECK(d.has_hits && d.hits.n == 1 && d.hits.v[0].bm25 == 1.5 &&
                 d.hits.v[0].cosine == -0.25 && d.hits.v[0].rank_cosine == 2,
             "hits");
    VT_CHECK_EQ_U64(d.hits.head.seq, 42);
    VT_CHECK(d.has_list && d.list.n == 1 && d.list.next_after == 9, "list");
    VT_CHECK(d.has_profile && d.profile.n == 1 && !strcmp(d.profile.values[0], "v"), "profile");
    VT_CHECK(d.has_verify && !d.verify.ok && !strcmp(d.verify.problem, "item 3 differs"),
             "verify");
    ms_rep_clear(&d);

    /* mutate the answer too: the client decodes what a server sends */
    for (int i = 0; i < 20000; i++) {
        uint8_t *m = malloc(b.len);
        memcpy(m, b.data, b.len);
        size_t len = b.len;
        int flips = 1 + (int)(rnd() % 4);
        for (int f = 0; f < flips; f++)
            m[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
        if (rnd() % 4 == 0)
            len = rnd() % len;
        if (ms_rep_decode(m, len, &d, NULL) == 0)
            ms_rep_clear(&d);
        free(m);
    }
    vt_buf_free(&b);

    /* an error answer decodes to its code */
    vt_buf_init(&b, 0);
    VT_REQUIRE_OK(vt_msg_encode_error(&b, VT_ERR_RATELIMIT, "slow down", 1000));
    vt_errinfo ei = {0};
    VT_CHECK_ERR(ms_rep_decode(b.data, b.len, &d, &ei), VT_ERR_RATELIMIT);
    VT_CHECK_EQ_STR(ei.detail, "slow down");
    vt_buf_free(&b);
}

static void test_mutations(vt_buf *reqs, int n)
{
    int accepted = 0;
    for (int i = 0; i < 60000; i++) {
        const vt_buf *src = &reqs[rnd() % (uint64_t)n];
        size_t len = src->len;
        uint8_t *m = malloc(len + 8);
        memcpy(m, src->data, len);
        switch (rnd() % 4) {
        case 0: /* bit flips */
            for (int f = 0; f < 1 + (int)(rnd() % 4); f++)
                m[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
            break;
        case 1: /* truncation */
            len = rnd() % len;
            break;
        case 2: /* a byte replaced by a container/str header claiming 2^32-1 */
        {
            static const uint8_t heads[] = {0xdd, 0xdf, 0xdb, 0xc6};
            size_t at = rnd() % len;
            m[at] = heads[rnd() % 4];
            if (at + 4 < len)
                memset(m + at + 1, 0xff, 4);
            break;
        }
        default: /* random bytes */
            for (size_t j = 0; j < len; j++)
                m[j] = (uint8_t)rnd();
        }
        ms_req r;
        if (ms_req_decode(m, len, &r, NULL) == 0) {
            accepted++;
            ms_req_clear(&r);
        }
        free(m);
    }
    printf("%d of 60000 mutated requests still decoded (and were freed)\n", accepted);
}

int main(void)
{
    vt_buf reqs[MS_REQ__COUNT];
    int n;
    sample_requests(reqs, &n);
    test_roundtrip(reqs, n);
    test_mutations(reqs, n);
    for (int i = 0; i < n; i++)
        vt_buf_free(&reqs[i]);
    return vt_test_done();
}
