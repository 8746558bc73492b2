/* test_search.c - ranking on a small hand-made corpus, through the daemon.
 *
 * Corpus (ids are the add order 1..5; texts tokenized to lower-case words,
 * no stemming, so "cats" is not "cat"):
 *   1 "the cat sat on the mat"                       6 tokens  v=[1,0,0,0]
 *   2 "dogs chase cats in the park"        episodic  6 tokens  v=[.7,0,.7,0]
 *   3 "the quick brown fox jumps over the lazy dog" episodic 9 v=[.6,0,.8,0]
 *   4 "cat food and cat toys for every cat" [food]   8 tokens  v=[.6,0,0,.8]
 *   5 "stock market news today"                      4 tokens  v=[0,1,0,0]
 * Vector axes: animals, finance, outdoors, food.
 *
 * Expected, and why:
 *  - "cat" lexically: only 1 and 4 contain the term; 4 has it 3 times, so
 *    BM25 puts 4 (1.3159219530412658) above 1 (0.9092851263504025): values
 *    from the BM25 formula in Python with N=5, df=2, avgdl=33/5.
 *  - vector q=[1,0,.1,0]: cosine order 1 (.995), 2 (.774), 3 (.677),
 *    4 (.597), 5 (0).
 *  - both: RRF with k=60: 1 gets 1/62+1/61, 4 gets 1/61+1/64, then 2
 *    (1/62), 3 (1/63), 5 (1/65): order 1,4,2,3,5 - item 1 wins because it
 *    is high in both lists although 4 leads the lexical one.
 *  - filters: episodic -> 2,3; category food -> 4; since created(3) -> 3,4,5.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ms_testutil.h"
#include "vt_test.h"

static ms_env env;
static ms_agent ag;
static uint64_t ids[6];
static int64_t created[6];

static void sleep_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void load_corpus(void)
{
    static float v[6][4] = {{0}, {1, 0, 0, 0}, {.7f, 0, .7f, 0}, {.6f, 0, .8f, 0},
                            {.6f, 0, 0, .8f}, {0, 1, 0, 0}};
    static const char *texts[6] = {NULL, "the cat sat on the mat", "dogs chase cats in the park",
                                   "the quick brown fox jumps over the lazy dog",
                                   "cat food and cat toys for every cat", "stock market news today"};
    char *food[1] = {"food"};
    for (int i = 1; i <= 5; i++) {
        vt_mem_item it = ms_item(texts[i], v[i], 4);
        if (i == 2 || i == 3)
            it.type = VT_MEM_EPISODIC;
        if (i == 4) {
            it.categories = food;
            it.ncategories = 1;
        }
        VT_REQUIRE_OK(vt_memsync_add(env.client, &ag.cred, &it, &ids[i], NULL, NULL));
        vt_mem_item got;
        VT_REQUIRE_OK(vt_memsync_get(env.client, &ag.cred, ids[i], &got, NULL, NULL));
        created[i] = got.created_ms;
        vt_mem_item_clear(&got);
        sleep_ms(3); /* distinct created_ms for the time filter */
    }
}

/* Search and compare the order of ids with want[0..n). */
static void expect(const char *what, const vt_mem_query *q, const int *want, size_t n,
                   vt_mem_hits *keep)
{
    vt_mem_hits h;
    vt_errinfo ei = {0};
    VT_REQUIRE_OK(vt_memsync_search(env.client, &ag.cred, q, &h, &ei));
    bool ok = h.n == n;
    for (size_t i = 0; ok && i < n; i++)
        ok = h.v[i].item.id == ids[want[i]];
    char got[128] = "";
    for (size_t i = 0; i < h.n && strlen(got) < 100; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%llu ",
                 (unsigned long long)h.v[i].item.id);
    VT_CHECK(ok, "%s: got ids [%s]", what, got);
    if (keep)
        *keep = h;
    else
        vt_mem_hits_clear(&h);
}

int main(void)
{
    ms_env_start(&env, NULL);
    ms_agent_new(&env, "searcher", &ag);
    load_corpus();
    VT_CHECK(ids[1] == 1 && ids[5] == 5, "ids are 1..5");

    float qv[4] = {1, 0, .1f, 0};
    vt_mem_hits h;

    vt_mem_query lex = {.text = "cat", .k = 10};
    const int want_lex[] = {4, 1};
    expect("lexical 'cat'", &lex, want_lex, 2, &h);
    if (h.n == 2) {
        VT_CHECK(fabs(h.v[0].bm25 - 1.3159219530412658) < 1e-9, "bm25(4) %.17g", h.v[0].bm25);
        VT_CHECK(fabs(h.v[1].bm25 - 0.9092851263504025) < 1e-9, "bm25(1) %.17g", h.v[1].bm25);
        VT_CHECK(h.v[0].cosine == 0.0 && h.v[0].rank_cosine == 0, "no vector, no cosine");
        VT_CHECK(fabs(h.v[0].fused - 1.0 / 61.0) < 1e-12, "fused = 1/(60+1)");
    }
    vt_mem_hits_clear(&h);

    vt_mem_query vec = {.vector = qv, .dim = 4, .k = 10};
    const int want_vec[] = {1, 2, 3, 4, 5};
    expect("vector", &vec, want_vec, 5, &h);
    if (h.n == 5) {
        VT_CHECK(fabs(h.v[0].cosine - 1.0 / sqrt(1.01)) < 1e-6, "cos(1) %.9g", h.v[0].cosine);
        VT_CHECK(fabs(h.v[1].cosine - 0.77 / (sqrt(0.98) * sqrt(1.01))) < 1e-6, "cos(2)");
        VT_CHECK(fabs(h.v[4].cosine) < 1e-9, "cos(5) = 0");
    }
    vt_mem_hits_clear(&h);

    vt_mem_query both = {.text = "cat", .vector = qv, .dim = 4, .k = 10};
    const int want_both[] = {1, 4, 2, 3, 5};
    expect("hybrid", &both, want_both, 5, &h);
    if (h.n == 5) {
        VT_CHECK(fabs(h.v[0].fused - (1.0 / 62 + 1.0 / 61)) < 1e-12, "fused(1)");
        VT_CHECK(fabs(h.v[1].fused - (1.0 / 61 + 1.0 / 64)) < 1e-12, "fused(4)");
        VT_CHECK(h.v[0].rank_bm25 == 2 && h.v[0].rank_cosine == 1, "ranks of 1");
        VT_CHECK(h.v[1].rank_bm25 == 1 && h.v[1].rank_cosine == 4, "ranks of 4");
    }
    vt_mem_hits_clear(&h);

    both.k = 2;
    expect("hybrid k=2", &both, want_both, 2, NULL);
    both.k = 10;

    vt_mem_query epi = {.vector = qv, .dim = 4, .k = 10, .filter = {.type = VT_MEM_EPISODIC}};
    const int want_epi[] = {2, 3};
    expect("episodic filter", &epi, want_epi, 2, NULL);
    vt_mem_query cat = {.text = "cat", .vector = qv, .dim = 4, .k = 10,
                        .filter = {.category = "food"}};
    const int want_cat[] = {4};
    expect("category filter", &cat, want_cat, 1, NULL);
    vt_mem_query since = {.vector = qv, .dim = 4, .k = 10, .filter = {.since_ms = created[3]}};
    const int want_since[] = {3, 4, 5};
    expect("since filter", &since, want_since, 3, NULL);
    vt_mem_query until = {.vector = qv, .dim = 4, .k = 10, .filter = {.until_ms = created[3]}};
    const int want_until[] = {1, 2};
    expect("until filter", &until, want_until, 2, NULL);

    /* a vector of another dimension matches nothing; the text still does */
    float q3[3] = {1, 0, 0};
    vt_mem_query odd = {.text = "market", .vector = q3, .dim = 3, .k = 10};
    const int want_odd[] = {5};
    expect("dimension mismatch", &odd, want_odd, 1, NULL);

    /* the index follows updates and deletes: 5 becomes about cats */
    vt_mem_item up = ms_item("cat cat cat cat", NULL, 0);
    up.id = ids[5];
    VT_REQUIRE_OK(vt_memsync_update(env.client, &ag.cred, &up, NULL, NULL));
    const int want_up[] = {5, 4, 1};
    expect("after update", &lex, want_up, 3, NULL);
    VT_REQUIRE_OK(vt_memsync_delete(env.client, &ag.cred, ids[4], NULL, NULL));
    const int want_del[] = {5, 1};
    expect("after delete", &lex, want_del, 2, NULL);

    /* a second memsync on the same Redis answers the same (replicas are
     * interchangeable: the cache is checked against the head) */
    ms_env e2 = env;
    char sock[512];
    snprintf(e2.listen, sizeof e2.listen, "ipc://%s", vt_ts_path("memsync2.ipc", sock, sizeof sock));
    snprintf(e2.http, sizeof e2.http, "127.0.0.1:%d", vt_ts_free_port());
    /* one cached agent at most: every switch of agent evicts and reloads */
    const char *tiny_cache[] = {"--cache-agents", "1", "--cache-mb", "1", NULL};
    ms_env_start_daemon(&e2, tiny_cache);
    vt_memsync *c2;
    VT_REQUIRE_OK(vt_memsync_open(&c2, e2.listen, 10000, NULL));
    vt_mem_hits h2;
    VT_REQUIRE_OK(vt_memsync_search(c2, &ag.cred, &lex, &h2, NULL));
    VT_CHECK_EQ_INT(h2.n, 2);
    vt_mem_hits_clear(&h2);
    /* write through replica 2, read through replica 1 (whose cache is warm) */
    vt_mem_item more = ms_item("one more cat", NULL, 0);
    VT_REQUIRE_OK(vt_memsync_add(c2, &ag.cred, &more, NULL, NULL, NULL));
    VT_REQUIRE_OK(vt_memsync_search(env.client, &ag.cred, &lex, &h2, NULL));
    VT_CHECK_EQ_INT(h2.n, 3);
    vt_mem_hits_clear(&h2);
    /* a second agent through the one-entry cache, then the first again */
    ms_agent other;
    ms_agent_new(&env, "other", &other);
    vt_mem_item oc = ms_item("other agent's cat", NULL, 0);
    VT_REQUIRE_OK(vt_memsync_add(c2, &other.cred, &oc, NULL, NULL, NULL));
    for (int round = 0; round < 3; round++) {
        VT_REQUIRE_OK(vt_memsync_search(c2, &other.cred, &lex, &h2, NULL));
        VT_CHECK_EQ_INT(h2.n, 1);
        vt_mem_hits_clear(&h2);
        VT_REQUIRE_OK(vt_memsync_search(c2, &ag.cred, &lex, &h2, NULL));
        VT_CHECK_EQ_INT(h2.n, 3);
        vt_mem_hits_clear(&h2);
    }
    vt_memsync_close(c2);
    VT_CHECK_EQ_INT(vt_proc_stop(e2.daemon, 10000), 0);
    vt_proc_free(e2.daemon);

    ms_env_stop(&env);
    return vt_test_done();
}
