/* ms_index.h - one agent's memory held in process: items plus an inverted
 * index (term -> postings) and per-item lengths and vector norms, and the
 * search over it (BM25 + cosine fused by RRF).
 *
 * An ms_index is a cache of what Redis holds at `head`. It is filled from
 * Redis (ms_store_load) or advanced op by op (ms_index_apply) and is never
 * the source of truth. Not thread-safe by itself: ms_cache wraps each
 * index in a rwlock.
 *
 * Docs are kept in a slot array in ascending id order (ids are op seqs, so
 * adds always append); a delete leaves an empty slot, so lookups by id are
 * a binary search. */
#ifndef MS_INDEX_H
#define MS_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ms_record.h"
#include "vt_memsync.h"

typedef struct ms_doc {
    vt_mem_item item;   /* item.text == NULL: deleted slot */
    uint32_t len;       /* tokens in item.text */
    float inv_norm;     /* 1/|embedding|, 0 when none or zero */
} ms_doc;

typedef struct ms_post {
    uint32_t doc;       /* slot in docs[] */
    uint32_t tf;
} ms_post;

typedef struct ms_plist {
    char *term;
    uint32_t len;
    ms_post *v;
    uint32_t n, cap;
} ms_plist;

typedef struct ms_index {
    vt_mem_head head;
    ms_doc *docs;
    uint32_t ndocs, cap;
    uint64_t n_alive, total_len;
    ms_plist *terms;    /* term lists, in insertion order */
    uint32_t nterms, terms_cap;
    uint32_t *slots;    /* open addressing: index into terms + 1, 0 empty */
    uint32_t nslots;    /* power of two */
    size_t bytes;       /* approximate memory used (for the cache budget) */
} ms_index;

void ms_index_init(ms_index *ix);
void ms_index_free(ms_index *ix);

/* Append a loaded item (id above every id held; ownership moves into the
 * index, *it is zeroed). len: its token count. VT_ERR_INVAL if out of
 * order. Postings are added separately (ms_index_post) so they can come
 * from the Redis index; ms_index_add_text tokenizes instead. */
int ms_index_add_item(ms_index *ix, vt_mem_item *it, uint32_t len);
int ms_index_post(ms_index *ix, const char *term, size_t tlen, uint64_t id, uint32_t tf);
/* Find a live item's slot; -1 if absent. */
int64_t ms_index_find(const ms_index *ix, uint64_t id);

/* Apply one op of the log (the op's item is copied). Profile ops change
 * nothing here. Returns 0, VT_ERR_NOTFOUND (update/delete of an id not
 * held) or VT_ERR_INVAL (add out of order): the caller then reloads. */
int ms_index_apply(ms_index *ix, const ms_op *op);

/* Does an item pass the filter? */
bool ms_filter_match(const vt_mem_filter *f, const vt_mem_item *it);

/* Rank window of reciprocal rank fusion: each list (BM25, cosine) takes
 * part with its best W = MS_RRF_WINDOW(k) items only, as Elasticsearch's
 * rank_window_size does; this spares sorting every candidate (a 10k-item
 * search went from ~5 to ~1.6 ms). W >= 2k+60 keeps among the candidates
 * every item that could reach the top k under full-list RRF (outside both
 * windows fused <= 2/(61+W) < 1/(60+k), what the k-th item of one list
 * alone has); an item beyond W in one list loses that list's share
 * (< 1/(60+W)), which can reorder near-ties compared with full-list RRF. */
#define MS_RRF_WINDOW(k) ((size_t)(2 * (k) + 60 > 100 ? 2 * (k) + 60 : 100))

/* Search. q->k results at most (caller validated 1..VT_MEM_MAX_K). Items
 * are deep copies; out->head = ix->head. */
int ms_index_search(const ms_index *ix, const vt_mem_query *q, vt_mem_hits *out);

/* Items with id > after passing f, ascending, at most limit; next_after is
 * the last id returned when more remain. Deep copies. */
int ms_index_list(const ms_index *ix, const vt_mem_filter *f, uint64_t after,
                  uint32_t limit, vt_mem_list *out);

#endif
