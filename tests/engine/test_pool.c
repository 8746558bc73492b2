/* test_pool.c - vt_pool: every run calls fn(arg, i, n) exactly once for each
 * i in 0..n-1 (the caller being i = 0) and returns only when all are done;
 * thousands of back-to-back runs (the decode pattern) lose nothing; bad
 * sizes are refused. */
#include <stdatomic.h>

#include "engine_testutil.h"

typedef struct counts {
    atomic_int hits[8];
    atomic_int total;
    atomic_int n_seen;
} counts;

static void task(void *arg, int i, int n)
{
    counts *c = arg;
    atomic_fetch_add(&c->hits[i], 1);
    atomic_fetch_add(&c->total, 1);
    atomic_store(&c->n_seen, n); /* same value from every thread */
}

int main(void)
{
    vt_pool *p = NULL;
    CHECK(vt_pool_create(0, &p) == VT_ERR_INVAL && p == NULL);
    CHECK(vt_pool_create(-3, &p) == VT_ERR_INVAL);
    for (int n = 1; n <= 4; n++) {
        CHECK_OK(vt_pool_create(n, &p));
        CHECK(vt_pool_size(p) == n);
        counts c;
        memset(&c, 0, sizeof c);
        const int runs = 3000;
        for (int r = 0; r < runs; r++) {
            vt_pool_run(p, task, &c);
            /* everything of this run is done when vt_pool_run returns */
            CHECK(atomic_load(&c.total) == (r + 1) * n);
        }
        for (int i = 0; i < n; i++)
            CHECK(atomic_load(&c.hits[i]) == runs);
        CHECK(atomic_load(&c.n_seen) == n);
        vt_pool_destroy(p);
        printf("pool of %d: %d runs ok\n", n, runs);
    }
    vt_pool_destroy(NULL);
    return 0;
}
