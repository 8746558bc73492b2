/* test_work_claim.c - work_claim.h: every unit of a job is handed out
 * exactly once, whatever the thread count, unit count and speed of each
 * thread; a thread's own units come front to back; a slow thread's units
 * are taken by the others from the back of its segment. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "engine_testutil.h"
#include "work_claim.h"

enum { MAX_UNITS = 5000 };

typedef struct ctx {
    vt_claims cl;
    int nt, n_units, slow; /* thread `slow` sleeps after each unit */
    _Atomic int taken[MAX_UNITS];
    int owner[MAX_UNITS];
    int ordered[8]; /* own units came in increasing order */
} ctx;

typedef struct arg {
    ctx *c;
    int i;
} arg;

static void *worker(void *p)
{
    arg *a = p;
    ctx *c = a->c;
    int u, last_own = -1, lo = (int)((long)c->n_units * a->i / c->nt);
    int hi = (int)((long)c->n_units * (a->i + 1) / c->nt);
    c->ordered[a->i] = 1;
    while (vt_claim(&c->cl, a->i, c->nt, &u)) {
        atomic_fetch_add(&c->taken[u], 1);
        c->owner[u] = a->i;
        if (u >= lo && u < hi) {
            if (u <= last_own)
                c->ordered[a->i] = 0;
            last_own = u;
        }
        if (a->i == c->slow) {
            struct timespec ts = {0, 200000}; /* 0.2 ms */
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

static void run(int nt, int n_units, int slow)
{
    static ctx c;
    memset(&c, 0, sizeof c);
    c.nt = nt;
    c.n_units = n_units;
    c.slow = slow;
    CHECK(vt_claims_init(&c.cl, n_units, nt) == 1);
    pthread_t th[8];
    arg a[8];
    for (int i = 0; i < nt; i++) {
        a[i] = (arg){&c, i};
        CHECK(pthread_create(&th[i], NULL, worker, &a[i]) == 0);
    }
    for (int i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    int stolen = 0;
    for (int u = 0; u < n_units; u++) {
        CHECK(atomic_load(&c.taken[u]) == 1);
        int home = 0;
        while ((long)n_units * (home + 1) / nt <= u)
            home++;
        stolen += c.owner[u] != home;
    }
    for (int i = 0; i < nt; i++)
        CHECK(c.ordered[i]);
    if (slow >= 0 && nt > 1 && n_units >= 8 * nt) /* the slow thread's tail went elsewhere */
        CHECK(stolen > 0);
    printf("ok threads %d units %d slow %d: %d stolen\n", nt, n_units, slow, stolen);
}

int main(void)
{
    vt_claims cl;
    CHECK(vt_claims_init(&cl, 10, VT_CLAIM_MAX_THREADS + 1) == 0); /* caller splits statically */
    int u;
    CHECK(vt_claims_init(&cl, 0, 2) == 1 && !vt_claim(&cl, 0, 2, &u) && !vt_claim(&cl, 1, 2, &u));
    run(1, 7, -1);
    run(2, 1, -1);
    run(3, 2, -1);
    run(2, 97, 1);
    run(4, 1000, 0);
    run(8, MAX_UNITS, 3);
    return 0;
}
