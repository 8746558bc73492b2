/* sc_heap.c - see sc_heap.h. */
#include "sc_heap.h"

#include <stdlib.h>

#include "vt_err.h"

/* ------------------------------------------------------------ sc_pq */

static int pq_less(const sc_pq_item *x, const sc_pq_item *y)
{
    if (x->prio != y->prio)
        return x->prio < y->prio;
    return x->seq < y->seq;
}

static void pq_set(sc_pq *q, size_t i, sc_pq_item it)
{
    q->a[i] = it;
    *q->posfn(q->ctx, it.slot) = (int32_t)i;
}

static void pq_up(sc_pq *q, size_t i)
{
    sc_pq_item it = q->a[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!pq_less(&it, &q->a[p]))
            break;
        pq_set(q, i, q->a[p]);
        i = p;
    }
    pq_set(q, i, it);
}

static void pq_down(sc_pq *q, size_t i)
{
    sc_pq_item it = q->a[i];
    for (;;) {
        size_t l = 2 * i + 1, best = i;
        const sc_pq_item *bi = &it;
        if (l < q->n && pq_less(&q->a[l], bi)) {
            best = l;
            bi = &q->a[l];
        }
        if (l + 1 < q->n && pq_less(&q->a[l + 1], bi))
            best = l + 1;
        if (best == i)
            break;
        pq_set(q, i, q->a[best]);
        i = best;
    }
    pq_set(q, i, it);
}

void sc_pq_init(sc_pq *q, int32_t *(*posfn)(void *ctx, uint32_t slot), void *ctx)
{
    q->a = NULL;
    q->n = q->cap = 0;
    q->posfn = posfn;
    q->ctx = ctx;
}

void sc_pq_free(sc_pq *q)
{
    free(q->a);
    q->a = NULL;
    q->n = q->cap = 0;
}

int sc_pq_push(sc_pq *q, int64_t prio, uint64_t seq, uint32_t slot)
{
    if (q->n == q->cap) {
        size_t nc = q->cap ? q->cap * 2 : 64;
        sc_pq_item *na = realloc(q->a, nc * sizeof(*na));
        if (!na)
            return VT_ERR_NOMEM;
        q->a = na;
        q->cap = nc;
    }
    q->a[q->n] = (sc_pq_item){prio, seq, slot};
    q->n++;
    pq_up(q, q->n - 1);
    return 0;
}

int sc_pq_peek(const sc_pq *q, sc_pq_item *out)
{
    if (q->n == 0)
        return 0;
    *out = q->a[0];
    return 1;
}

void sc_pq_remove_at(sc_pq *q, int32_t i)
{
    if (i < 0 || (size_t)i >= q->n)
        return;
    *q->posfn(q->ctx, q->a[i].slot) = -1;
    q->n--;
    if ((size_t)i == q->n)
        return;
    q->a[i] = q->a[q->n];
    /* The moved element may need to go either way. */
    if (i > 0 && pq_less(&q->a[i], &q->a[(i - 1) / 2]))
        pq_up(q, (size_t)i);
    else
        pq_down(q, (size_t)i);
}

int sc_pq_pop(sc_pq *q, sc_pq_item *out)
{
    if (q->n == 0)
        return 0;
    *out = q->a[0];
    sc_pq_remove_at(q, 0);
    return 1;
}

/* ------------------------------------------------------------ sc_th */

void sc_th_init(sc_th *t)
{
    t->a = NULL;
    t->n = t->cap = 0;
}

void sc_th_free(sc_th *t)
{
    free(t->a);
    t->a = NULL;
    t->n = t->cap = 0;
}

int sc_th_push(sc_th *t, uint64_t when, uint32_t slot, uint32_t gen)
{
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 64;
        sc_th_item *na = realloc(t->a, nc * sizeof(*na));
        if (!na)
            return VT_ERR_NOMEM;
        t->a = na;
        t->cap = nc;
    }
    size_t i = t->n++;
    sc_th_item it = {when, slot, gen};
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (t->a[p].when <= when)
            break;
        t->a[i] = t->a[p];
        i = p;
    }
    t->a[i] = it;
    return 0;
}

int sc_th_pop_due(sc_th *t, uint64_t now, sc_th_item *out)
{
    if (t->n == 0 || t->a[0].when > now)
        return 0;
    *out = t->a[0];
    sc_th_item last = t->a[--t->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, best = l;
        if (l >= t->n)
            break;
        if (l + 1 < t->n && t->a[l + 1].when < t->a[l].when)
            best = l + 1;
        if (t->a[best].when >= last.when)
            break;
        t->a[i] = t->a[best];
        i = best;
    }
    if (t->n)
        t->a[i] = last;
    return 1;
}
