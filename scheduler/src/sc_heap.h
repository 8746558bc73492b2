/* sc_heap.h - the two heaps the scheduler core runs on.
 *
 * sc_pq: an indexed binary min-heap of job slots ordered by (priority, seq):
 *   lower priority value first, FIFO (seq) within a priority. Each element
 *   records its position through a caller-supplied int32 array, so removing
 *   an arbitrary job (cancel, expiry) is O(log n) too.
 *
 * sc_th: a timer heap of (when, slot, gen) entries with lazy deletion: an
 *   entry whose job has moved on (generation or state changed, deadline
 *   extended) is simply skipped or re-armed by the caller when it surfaces.
 *   Extending a lease (heartbeat) therefore costs nothing here.
 *
 * Neither is thread-safe; the core lock guards both.
 */
#ifndef SC_HEAP_H
#define SC_HEAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct sc_pq_item {
    int64_t prio;  /* lower first */
    uint64_t seq;  /* FIFO tie-break */
    uint32_t slot;
} sc_pq_item;

typedef struct sc_pq {
    sc_pq_item *a;
    size_t n, cap;
    int32_t *(*posfn)(void *ctx, uint32_t slot); /* where slot's heap index lives */
    void *ctx;
} sc_pq;

void sc_pq_init(sc_pq *q, int32_t *(*posfn)(void *ctx, uint32_t slot), void *ctx);
void sc_pq_free(sc_pq *q);
int sc_pq_push(sc_pq *q, int64_t prio, uint64_t seq, uint32_t slot); /* 0 / VT_ERR_NOMEM */
/* Smallest element without removing it; 0 when empty. */
int sc_pq_peek(const sc_pq *q, sc_pq_item *out);
int sc_pq_pop(sc_pq *q, sc_pq_item *out);
/* Remove the element at heap index i (as stored through posfn). */
void sc_pq_remove_at(sc_pq *q, int32_t i);
static inline size_t sc_pq_len(const sc_pq *q) { return q->n; }

typedef struct sc_th_item {
    uint64_t when; /* monotonic ms */
    uint32_t slot;
    uint32_t gen;
} sc_th_item;

typedef struct sc_th {
    sc_th_item *a;
    size_t n, cap;
} sc_th;

void sc_th_init(sc_th *t);
void sc_th_free(sc_th *t);
int sc_th_push(sc_th *t, uint64_t when, uint32_t slot, uint32_t gen);
/* Pop the earliest entry if it is due (when <= now); 1 when popped. */
int sc_th_pop_due(sc_th *t, uint64_t now, sc_th_item *out);
static inline size_t sc_th_len(const sc_th *t) { return t->n; }

#endif
