/* test_group.c - adds committed in groups (docs/memsync.md, "Adds: group
 * commit") through the asynchronous client (vt_memsync_add_async).
 *
 * Many adds in flight at once, several of the same agent among them, land
 * in the daemon's groups together; each must still be checked,
 * authenticated and chained on its own:
 *   1. bursts over three agents, many per agent in flight: every add
 *      acknowledged once, ids per agent exactly 1..N, each id holds the
 *      text its add sent, the last head acknowledged is the agent's head,
 *      verify finds the chain and the stored state consistent;
 *   2. bad adds mixed into a burst (wrong key, empty text, another agent's
 *      id with my key) fail alone with their own error; the good ones of
 *      the same burst commit;
 *   3. --max-items 10 with 25 adds of one agent in flight: exactly 10
 *      commit, the rest get VT_ERR_RANGE, and the refused ones in the
 *      middle of a chain leave no trace (verify ok, 10 items);
 *   4. --rate-limit 5 with 20 adds in flight: the refused get
 *      VT_ERR_RATELIMIT, at most two seconds' worth commit, verify ok;
 *   5. two daemons on one Redis adding to the same agent at once: their
 *      groups lose compare-and-sets to each other and redo those adds one
 *      at a time; every acknowledged add is there exactly once, verify ok;
 *   6. closing the client with adds in flight: each callback runs once
 *      (success or VT_ERR_CLOSED);
 *   7. adds that time out (nobody listens), each started from the previous
 *      one's callback: VT_ERR_TIMEOUT each, and the failed requests'
 *      parked contexts are freed on the way (the ASan build checks).
 * Bounded: a few hundred adds, every wait at most 30 s. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms_testutil.h"
#include "vt_clock.h"
#include "vt_test.h"

#define WAIT_MS 30000

static ms_env env;

/* One asynchronous add and what came back. */
typedef struct pending {
    struct batch *b;
    int agent;                /* index into the test's agents */
    char text[64];
    int rv;
    uint64_t id;
    vt_mem_head head;
    bool done;
} pending;

typedef struct batch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int outstanding, calls;
    pending *p;
    int n;
} batch;

static void on_done(void *arg, int rv, uint64_t id, const vt_mem_head *head, const vt_errinfo *ei)
{
    (void)ei;
    pending *p = arg;
    batch *b = p->b;
    pthread_mutex_lock(&b->mu);
    VT_CHECK(!p->done, "callback of '%s' called twice", p->text);
    VT_CHECK((rv == 0) == (head != NULL), "head given iff the add succeeded");
    p->rv = rv;
    p->id = id;
    if (head)
        p->head = *head;
    p->done = true;
    b->calls++;
    if (--b->outstanding == 0)
        pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void batch_init(batch *b, int n)
{
    memset(b, 0, sizeof *b);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    b->p = calloc((size_t)n, sizeof *b->p);
    b->n = n;
}

static void batch_free(batch *b)
{
    free(b->p);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
}

/* Start add i of the batch (text already set) with cred, `done` called when
 * it ends; on a synchronous refusal record it as done and return the code. */
static int start_with(vt_memsync *c, batch *b, int i, const vt_mem_cred *cred,
                      vt_memsync_add_done done)
{
    pending *p = &b->p[i];
    p->b = b;
    vt_mem_item it = ms_item(p->text, NULL, 0);
    pthread_mutex_lock(&b->mu);
    b->outstanding++;
    pthread_mutex_unlock(&b->mu);
    int rv = vt_memsync_add_async(c, cred, &it, done, p, NULL);
    if (rv != 0) {
        pthread_mutex_lock(&b->mu);
        p->rv = rv;
        p->done = true;
        b->outstanding--;
        pthread_mutex_unlock(&b->mu);
    }
    return rv;
}

static void start(vt_memsync *c, batch *b, int i, const vt_mem_cred *cred)
{
    (void)start_with(c, b, i, cred, on_done);
}

static void wait_all(batch *b)
{
    uint64_t t0 = vt_mono_ms();
    pthread_mutex_lock(&b->mu);
    while (b->outstanding > 0 && vt_mono_ms() - t0 < WAIT_MS) {
        pthread_mutex_unlock(&b->mu);
        vt_sleep_ms(5);
        pthread_mutex_lock(&b->mu);
    }
    int left = b->outstanding;
    pthread_mutex_unlock(&b->mu);
    VT_REQUIRE(left == 0, "%d adds still unanswered after %d ms", left, WAIT_MS);
}

/* The agent's memory holds `before` items plus exactly the acknowledged
 * adds of `agent` in b (when `dense`, with ids 1..n: nothing before and
 * no id skipped), with their texts, and verifies. */
static void check_agent(vt_memsync *c, const ms_agent *a, const batch *b, int agent, bool dense,
                        int before, const char *what)
{
    int n = 0;
    uint64_t max_id = 0;
    vt_mem_head last = {0};
    for (int i = 0; i < b->n; i++) {
        const pending *p = &b->p[i];
        if (p->agent != agent || p->rv != 0)
            continue;
        n++;
        vt_mem_item got;
        int rv = vt_memsync_get(c, &a->cred, p->id, &got, NULL, NULL);
        VT_CHECK(rv == 0, "%s: id %llu of '%s' not found (%s)", what, (unsigned long long)p->id,
                 p->text, vt_errname(rv));
        if (rv == 0) {
            VT_CHECK_EQ_STR(got.text, p->text);
            vt_mem_item_clear(&got);
        }
        for (int j = 0; j < i; j++)
            VT_CHECK(b->p[j].agent != agent || b->p[j].rv != 0 || b->p[j].id != p->id,
                     "%s: id %llu acknowledged twice", what, (unsigned long long)p->id);
        if (p->head.seq > last.seq)
            last = p->head;
        if (p->id > max_id)
            max_id = p->id;
    }
    if (dense)
        VT_CHECK_EQ_U64(max_id, (uint64_t)n); /* distinct ids 1..n */
    vt_mem_list l;
    VT_REQUIRE_OK(vt_memsync_list(c, &a->cred, NULL, 0, VT_MEM_MAX_K, &l, NULL));
    VT_CHECK(l.n == (size_t)(before + n), "%s: %zu items listed, %d + %d acknowledged", what,
             l.n, before, n);
    if (dense) {
        VT_CHECK_EQ_U64(l.head.seq, last.seq);
        VT_CHECK(memcmp(l.head.hash, last.hash, 32) == 0, "%s: head is the last one acknowledged",
                 what);
    }
    vt_mem_list_clear(&l);
    vt_mem_verify vr;
    VT_REQUIRE_OK(vt_memsync_verify(c, &a->cred, &vr, NULL));
    VT_CHECK(vr.ok, "%s: verify: %s", what, vr.problem);
    printf("%s: %d acknowledged, %llu ops, verify %s\n", what, n, (unsigned long long)vr.ops,
           vr.ok ? "ok" : "FAILED");
}

static int count_rv(const batch *b, int rv)
{
    int n = 0;
    for (int i = 0; i < b->n; i++)
        n += b->p[i].rv == rv;
    return n;
}

/* n adds of one agent, all in flight at once; texts "<what> <i>". */
static void burst(batch *b, int n, const ms_agent *a, const char *what)
{
    batch_init(b, n);
    for (int i = 0; i < n; i++) {
        b->p[i].agent = 0;
        snprintf(b->p[i].text, sizeof b->p[i].text, "%s %d", what, i);
        start(env.client, b, i, &a->cred);
    }
    wait_all(b);
}

/* Part 7: each add's callback starts the next one (of 5). */
typedef struct chain_ctx {
    batch b;
    vt_memsync *c;
    const vt_mem_cred *cred;
} chain_ctx;

static void start_chained(vt_memsync *c, batch *b, int i, const vt_mem_cred *cred);

static void on_chained(void *arg, int rv, uint64_t id, const vt_mem_head *head,
                       const vt_errinfo *ei)
{
    pending *p = arg;
    chain_ctx *cc = (chain_ctx *)p->b; /* b is chain_ctx's first member */
    int next = (int)(p - cc->b.p) + 1;
    if (next < cc->b.n) {
        snprintf(cc->b.p[next].text, sizeof cc->b.p[next].text, "timeout %d", next);
        start_chained(cc->c, &cc->b, next, cc->cred);
    }
    on_done(arg, rv, id, head, ei);
}

static void start_chained(vt_memsync *c, batch *b, int i, const vt_mem_cred *cred)
{
    int rv = start_with(c, b, i, cred, on_chained);
    VT_CHECK(rv == 0, "chained add %d not started: %s", i, vt_errname(rv));
}

static void restart_daemon(const char *const *extra)
{
    VT_CHECK_EQ_INT(vt_proc_stop(env.daemon, 10000), 0);
    vt_proc_free(env.daemon);
    ms_env_start_daemon(&env, extra);
}

int main(void)
{
    ms_env_start(&env, NULL);
    ms_agent ag[3];
    ms_agent_new(&env, "group-a", &ag[0]);
    ms_agent_new(&env, "group-b", &ag[1]);
    ms_agent_new(&env, "group-c", &ag[2]);

    /* 1. 3 agents x 60 adds, all in flight at once, in two rounds */
    enum { PER = 60 };
    batch b;
    batch_init(&b, 3 * PER);
    for (int round = 0; round < 2; round++) {
        for (int i = round * 3 * PER / 2; i < (round + 1) * 3 * PER / 2; i++) {
            b.p[i].agent = i % 3;
            snprintf(b.p[i].text, sizeof b.p[i].text, "note %d of agent %d: caf\xc3\xa9 na\xc3\xafve", i, i % 3);
            start(env.client, &b, i, &ag[i % 3].cred);
        }
        wait_all(&b);
    }
    VT_CHECK_EQ_INT(b.calls, 3 * PER);
    VT_CHECK_EQ_INT(count_rv(&b, 0), 3 * PER);
    for (int a = 0; a < 3; a++)
        check_agent(env.client, &ag[a], &b, a, true, 0, a == 0 ? "burst a" : a == 1 ? "burst b" : "burst c");
    batch_free(&b);

    /* 2. bad adds inside a burst fail alone */
    ms_agent bad[3];
    batch_init(&b, 40);
    for (int i = 0; i < 40; i++) {
        b.p[i].agent = 1;
        snprintf(b.p[i].text, sizeof b.p[i].text, "mixed %d", i);
    }
    for (int i = 0; i < 40; i++) {
        const vt_mem_cred *cr = &ag[1].cred;
        if (i % 10 == 3) { /* forged key */
            bad[0] = ag[1];
            bad[0].key[strlen(bad[0].key) - 1] ^= 1;
            bad[0].cred.key = bad[0].key;
            cr = &bad[0].cred;
            b.p[i].agent = -1;
        } else if (i % 10 == 5) { /* my key, another agent's id */
            bad[1] = ag[1];
            bad[1].cred.agent = ag[2].id;
            cr = &bad[1].cred;
            b.p[i].agent = -1;
        } else if (i % 10 == 7) { /* empty text */
            b.p[i].text[0] = '\0';
            b.p[i].agent = -1;
        }
        start(env.client, &b, i, cr);
    }
    wait_all(&b);
    for (int i = 0; i < 40; i++) {
        int want = i % 10 == 3 ? VT_ERR_AUTH : i % 10 == 5 ? VT_ERR_DENIED : i % 10 == 7 ? VT_ERR_INVAL : 0;
        VT_CHECK(b.p[i].rv == want, "mixed add %d: got %s, want %s", i, vt_errname(b.p[i].rv),
                 vt_errname(want));
    }
    VT_CHECK_EQ_INT(count_rv(&b, 0), 28);
    vt_mem_list lc;
    VT_REQUIRE_OK(vt_memsync_list(env.client, &ag[2].cred, NULL, 0, VT_MEM_MAX_K, &lc, NULL));
    VT_CHECK_EQ_U64(lc.n, (uint64_t)PER); /* nothing landed in agent c */
    vt_mem_list_clear(&lc);
    check_agent(env.client, &ag[1], &b, 1, false, PER, "mixed burst");
    batch_free(&b);

    /* 3. --max-items 10: refusals in the middle of one agent's chain */
    const char *const maxf[] = {"--max-items", "10", NULL};
    restart_daemon(maxf);
    ms_agent full;
    ms_agent_new(&env, "group-full", &full);
    burst(&b, 25, &full, "fill");
    VT_CHECK_EQ_INT(count_rv(&b, 0), 10);
    VT_CHECK_EQ_INT(count_rv(&b, VT_ERR_RANGE), 15);
    check_agent(env.client, &full, &b, 0, true, 0, "max items");
    batch_free(&b);

    /* 4. --rate-limit 5 (per agent and second) */
    const char *const ratef[] = {"--rate-limit", "5", NULL};
    restart_daemon(ratef);
    ms_agent rl;
    ms_agent_new(&env, "group-rl", &rl);
    uint64_t rl0 = vt_mono_ms();
    burst(&b, 20, &rl, "limited");
    /* the counter is per wall-clock second: a burst spread over s seconds
     * touches at most s + 1 of them (a slow machine may take more than 1) */
    uint64_t windows = (vt_mono_ms() - rl0) / 1000 + 2;
    int ok = count_rv(&b, 0), limited = count_rv(&b, VT_ERR_RATELIMIT);
    printf("rate limit 5/s: %d committed, %d refused\n", ok, limited);
    VT_CHECK(ok >= 1 && (uint64_t)ok <= 5 * windows, "%d adds committed under 5/s in %llu s",
             ok, (unsigned long long)windows - 1);
    VT_CHECK_EQ_INT(ok + limited, 20);
    restart_daemon(NULL); /* the checks' own requests would count too */
    check_agent(env.client, &rl, &b, 0, true, 0, "rate limit");
    batch_free(&b);

    /* 5. two daemons (replicas) on one Redis, one agent, at once */
    ms_env env2 = env;
    char sock[512];
    snprintf(env2.listen, sizeof env2.listen, "ipc://%s",
             vt_ts_path("memsync2.ipc", sock, sizeof sock));
    snprintf(env2.http, sizeof env2.http, "127.0.0.1:%d", vt_ts_free_port());
    ms_env_start_daemon(&env2, NULL);
    VT_REQUIRE_OK(vt_memsync_open(&env2.client, env2.listen, 10000, NULL));
    ms_agent shared;
    ms_agent_new(&env, "group-shared", &shared);
    enum { TWO = 120 };
    batch_init(&b, TWO);
    for (int round = 0; round < 3; round++) {
        for (int i = round * TWO / 3; i < (round + 1) * TWO / 3; i++) {
            b.p[i].agent = 0;
            snprintf(b.p[i].text, sizeof b.p[i].text, "replica %d note %d", i % 2, i);
            start(i % 2 ? env2.client : env.client, &b, i, &shared.cred);
        }
        wait_all(&b);
    }
    /* and deterministically: the first daemon's hint made stale by the
     * second, so its next group loses the compare-and-set and redoes */
    vt_mem_item one = ms_item("replica 0 single", NULL, 0), two = ms_item("replica 1 single", NULL, 0);
    VT_REQUIRE_OK(vt_memsync_add(env.client, &shared.cred, &one, NULL, NULL, NULL));
    VT_REQUIRE_OK(vt_memsync_add(env2.client, &shared.cred, &two, NULL, NULL, NULL));
    batch b2;
    batch_init(&b2, 10);
    for (int i = 0; i < 10; i++) {
        snprintf(b2.p[i].text, sizeof b2.p[i].text, "after a stale hint %d", i);
        start(env.client, &b2, i, &shared.cred);
    }
    wait_all(&b2);
    VT_CHECK_EQ_INT(count_rv(&b2, 0), 10);
    batch_free(&b2);
    int status = 0;
    char *metrics = NULL;
    VT_REQUIRE_OK(vt_ts_http_get(env.http, "/metrics", 10000, &status, &metrics));
    const char *m = metrics ? strstr(metrics, "\nverity_memsync_add_redos_total ") : NULL;
    VT_CHECK(m && strtod(m + 32, NULL) >= 1, "the stale hint made adds redo (metrics: %s)",
             m ? m + 1 : "no redo counter");
    if (m)
        printf("stale hint: %.40s\n", m + 1);
    free(metrics);
    int conflicts = count_rv(&b, VT_ERR_CONFLICT);
    VT_CHECK_EQ_INT(count_rv(&b, 0) + conflicts, TWO); /* CONFLICT: gave up after 8 tries */
    printf("two replicas: %d committed, %d conflicts\n", TWO - conflicts, conflicts);
    check_agent(env.client, &shared, &b, 0, false, 12, "two replicas");
    check_agent(env2.client, &shared, &b, 0, false, 12, "two replicas, seen by the other");
    batch_free(&b);
    vt_memsync_close(env2.client);
    VT_CHECK_EQ_INT(vt_proc_stop(env2.daemon, 10000), 0);
    vt_proc_free(env2.daemon);

    /* 6. close with adds in flight: every callback exactly once */
    vt_memsync *c3;
    VT_REQUIRE_OK(vt_memsync_open(&c3, env.listen, 10000, NULL));
    batch_init(&b, 50);
    for (int i = 0; i < 50; i++) {
        b.p[i].agent = i % 3;
        snprintf(b.p[i].text, sizeof b.p[i].text, "closing %d", i);
        start(c3, &b, i, &ag[i % 3].cred);
    }
    vt_memsync_close(c3);
    VT_CHECK_EQ_INT(b.outstanding, 0);
    for (int i = 0; i < 50; i++)
        VT_CHECK(b.p[i].rv == 0 || b.p[i].rv == VT_ERR_CLOSED, "add in flight at close: %s",
                 vt_errname(b.p[i].rv));
    printf("closed with 50 in flight: %d had committed\n", count_rv(&b, 0));
    batch_free(&b);
    for (int a = 0; a < 3; a++) {
        vt_mem_verify vr;
        VT_REQUIRE_OK(vt_memsync_verify(env.client, &ag[a].cred, &vr, NULL));
        VT_CHECK(vr.ok, "after close: verify: %s", vr.problem);
    }

    /* 7. timeouts, chained from the callbacks */
    vt_memsync *dead;
    char url[600], path[512];
    snprintf(url, sizeof url, "ipc://%s", vt_ts_path("nobody.ipc", path, sizeof path));
    VT_REQUIRE_OK(vt_memsync_open(&dead, url, 100, NULL));
    chain_ctx cc = {.c = dead, .cred = &ag[0].cred};
    batch_init(&cc.b, 5);
    snprintf(cc.b.p[0].text, sizeof cc.b.p[0].text, "timeout 0");
    start_chained(dead, &cc.b, 0, cc.cred);
    uint64_t t0 = vt_mono_ms();
    while (vt_mono_ms() - t0 < WAIT_MS) {
        pthread_mutex_lock(&cc.b.mu);
        int calls = cc.b.calls;
        pthread_mutex_unlock(&cc.b.mu);
        if (calls == 5)
            break;
        vt_sleep_ms(10);
    }
    VT_CHECK_EQ_INT(cc.b.calls, 5);
    VT_CHECK_EQ_INT(count_rv(&cc.b, VT_ERR_TIMEOUT), 5);
    vt_memsync_close(dead);
    batch_free(&cc.b);

    ms_env_stop(&env);
    return vt_test_done();
}
