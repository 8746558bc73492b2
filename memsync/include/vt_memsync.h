/* vt_memsync.h - Verity MemSync: agents' long-term memory.
 *
 * MemSync stores, per agent, memory items (text + metadata + optional
 * embedding) and a profile of key/value facts in Redis, searches them by
 * BM25 and cosine similarity fused with reciprocal rank fusion, and commits
 * every change to an append-only op log with a BLAKE2b hash chain. Every
 * answer carries the head (seq, hash) the memory was at. docs/memsync.md
 * explains the model, the wire format and the canonical bytes.
 *
 * This header is the client side (linked into vt_client): a connection to
 * verity-memsync, the request functions, the prompt template the scheduler
 * uses for memory-augmented jobs, and the `verity memory` CLI entry point.
 * Every function returns 0 or a negative vt_err code; ei (may be NULL) gets
 * the server's or the library's one-line detail.
 */
#ifndef VT_MEMSYNC_H
#define VT_MEMSYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vt_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Hard format limits (independent of the daemon's configured limits). */
#define VT_MEM_MAX_CATEGORIES 16   /* categories/tags per item */
#define VT_MEM_MAX_CATEGORY 64     /* bytes per category */
#define VT_MEM_MAX_SOURCE 128      /* bytes of `source` */
#define VT_MEM_MAX_DIM 4096        /* embedding dimension */
#define VT_MEM_MAX_TEXT (1u << 20) /* absolute text cap; the daemon's
                                      --max-item-bytes is usually lower */
#define VT_MEM_MAX_AGENT 128       /* bytes of an agent id */
#define VT_MEM_MAX_PROFILE_KEY 128
#define VT_MEM_MAX_PROFILE_VALUE 4096
#define VT_MEM_MAX_PROFILE_KEYS 1024 /* keys per agent profile */
#define VT_MEM_MAX_K 1000          /* results per search / items per list page */

/* Reciprocal rank fusion constant: fused = sum over rankings of 1/(k + rank)
 * with rank starting at 1 (Cormack et al. 2009 use k = 60). */
#define VT_MEM_RRF_K 60

typedef enum vt_mem_type {
    VT_MEM_SEMANTIC = 1, /* facts, knowledge */
    VT_MEM_EPISODIC = 2  /* events, exchanges (remember:true) */
} vt_mem_type;

/* "semantic"/"episodic" <-> enum; parse returns 0 or VT_ERR_INVAL. */
const char *vt_mem_type_name(vt_mem_type t);
int vt_mem_type_parse(const char *s, vt_mem_type *out);

/* One memory item. Strings are NUL-terminated, UTF-8, without NUL bytes.
 * Items filled by this library own their strings: vt_mem_item_clear. */
typedef struct vt_mem_item {
    uint64_t id;          /* assigned by memsync on add (= seq of the add) */
    vt_mem_type type;
    float importance;     /* 0..1 */
    int64_t created_ms;   /* wall clock, ms since 1970, set by memsync */
    int64_t updated_ms;
    uint64_t seq;         /* op-log seq of the last write to this item */
    char *source;         /* job id or client name ("" if none) */
    char **categories;
    size_t ncategories;
    char *text;
    float *embedding;     /* NULL when dim == 0 */
    uint32_t dim;
} vt_mem_item;

void vt_mem_item_clear(vt_mem_item *it);

/* The point in an agent's op log an answer was computed at: after op `seq`
 * the chain value is `hash` (all zero bytes and seq 0 for an empty memory). */
typedef struct vt_mem_head {
    uint64_t seq;
    uint8_t hash[32];
} vt_mem_head;

/* "<seq>:<64 hex>" (VT_MEM_HEAD_STRSZ bytes with the NUL) and back. */
#define VT_MEM_HEAD_STRSZ 86
char *vt_mem_head_format(const vt_mem_head *h, char buf[VT_MEM_HEAD_STRSZ]);
int vt_mem_head_parse(const char *s, size_t n, vt_mem_head *out);

/* ---- client ----------------------------------------------------------- */

/* Who a request acts as. An agent uses its own id and API key (job NULL).
 * The scheduler uses its service key with the id of a job that belongs to
 * `agent`; memsync checks the job's owner in the scheduler's Redis state. */
typedef struct vt_mem_cred {
    const char *agent;
    const char *key;
    const char *job; /* NULL unless key is the scheduler's service key */
} vt_mem_cred;

typedef struct vt_memsync vt_memsync;

/* A handle on a verity-memsync listen URL; nothing is connected until the
 * first call (the daemon may start later). timeout_ms bounds every request
 * (0: 10 s). Thread-safe: each call in flight has its own connection
 * (ipc://, tcp://: vt_sp_req, vt_sp.h) or libnng REQ context (other schemes,
 * and vt_memsync_add_async). VT_ERR_INVAL for a malformed URL. */
int vt_memsync_open(vt_memsync **out, const char *url, int timeout_ms,
                    vt_errinfo *ei);
void vt_memsync_close(vt_memsync *c);

/* Filters for search and list. Zero values mean "no filter". */
typedef struct vt_mem_filter {
    int type;                /* 0 any, else vt_mem_type */
    const char *category;    /* item must carry this category */
    int64_t since_ms;        /* created_ms >= since_ms (0: unbounded) */
    int64_t until_ms;        /* created_ms <  until_ms (0: unbounded) */
} vt_mem_filter;

typedef struct vt_mem_query {
    const char *text;        /* lexical query (may be NULL/"" if vector set) */
    const float *vector;     /* query embedding (may be NULL) */
    uint32_t dim;
    uint32_t k;              /* results wanted, 1..VT_MEM_MAX_K */
    vt_mem_filter filter;
} vt_mem_query;

typedef struct vt_mem_hit {
    vt_mem_item item;
    double bm25;             /* 0 when no query term matched */
    double cosine;           /* 0 when no vector / no embedding */
    double fused;            /* reciprocal rank fusion score */
    uint32_t rank_bm25;      /* 1-based rank in the lexical list, 0 = absent */
    uint32_t rank_cosine;    /* 1-based rank in the vector list, 0 = absent */
} vt_mem_hit;

typedef struct vt_mem_hits {
    vt_mem_hit *v;
    size_t n;
    vt_mem_head head;
} vt_mem_hits;
void vt_mem_hits_clear(vt_mem_hits *h);

typedef struct vt_mem_list {
    vt_mem_item *v;
    size_t n;
    uint64_t next_after;     /* pass as `after` for the next page; 0 = done */
    vt_mem_head head;
} vt_mem_list;
void vt_mem_list_clear(vt_mem_list *l);

typedef struct vt_mem_profile {
    char **keys, **values;
    size_t n;
    vt_mem_head head;
} vt_mem_profile;
void vt_mem_profile_clear(vt_mem_profile *p);

typedef struct vt_mem_verify {
    bool ok;
    uint64_t ops;            /* op-log entries checked */
    uint64_t items;          /* items compared */
    char problem[256];       /* first discrepancy found, "" when ok */
    vt_mem_head head;        /* head recomputed from the log */
} vt_mem_verify;

/* item->id and seq/created/updated are ignored on add; *id gets the new id.
 * head (may be NULL) receives the head after the write. */
int vt_memsync_add(vt_memsync *c, const vt_mem_cred *cred,
                   const vt_mem_item *item, uint64_t *id, vt_mem_head *head,
                   vt_errinfo *ei);
/* Asynchronous add, for callers with many adds in flight (one thread can
 * keep hundreds going; a blocking call costs a thread wake-up per answer).
 * The item is encoded before the call returns (it may then be freed). On
 * 0, done(arg, rv, id, head, ei) is called exactly once, on one of NNG's
 * threads, with the same outcomes as vt_memsync_add (head NULL unless rv
 * is 0; head and ei live only during the call). It may start further
 * async adds, but must not block, call the blocking functions or close
 * the handle. On an error return done is never called. At most 1024 adds
 * in flight per handle (VT_ERR_OVERLOADED beyond). vt_memsync_close ends
 * the ones still in flight with VT_ERR_CLOSED. */
typedef void (*vt_memsync_add_done)(void *arg, int rv, uint64_t id,
                                    const vt_mem_head *head,
                                    const vt_errinfo *ei);
int vt_memsync_add_async(vt_memsync *c, const vt_mem_cred *cred,
                         const vt_mem_item *item, vt_memsync_add_done done,
                         void *arg, vt_errinfo *ei);
int vt_memsync_get(vt_memsync *c, const vt_mem_cred *cred, uint64_t id,
                   vt_mem_item *out, vt_mem_head *head, vt_errinfo *ei);
/* Replaces text, type, importance, categories, source and embedding of
 * item->id (created_ms is kept). */
int vt_memsync_update(vt_memsync *c, const vt_mem_cred *cred,
                      const vt_mem_item *item, vt_mem_head *head,
                      vt_errinfo *ei);
int vt_memsync_delete(vt_memsync *c, const vt_mem_cred *cred, uint64_t id,
                      vt_mem_head *head, vt_errinfo *ei);
/* Items with id > after, oldest first, at most limit (1..VT_MEM_MAX_K). */
int vt_memsync_list(vt_memsync *c, const vt_mem_cred *cred,
                    const vt_mem_filter *f, uint64_t after, uint32_t limit,
                    vt_mem_list *out, vt_errinfo *ei);
int vt_memsync_search(vt_memsync *c, const vt_mem_cred *cred,
                      const vt_mem_query *q, vt_mem_hits *out,
                      vt_errinfo *ei);
int vt_memsync_profile_set(vt_memsync *c, const vt_mem_cred *cred,
                           const char *key, const char *value,
                           vt_mem_head *head, vt_errinfo *ei);
int vt_memsync_profile_del(vt_memsync *c, const vt_mem_cred *cred,
                           const char *key, vt_mem_head *head,
                           vt_errinfo *ei);
int vt_memsync_profile_get(vt_memsync *c, const vt_mem_cred *cred,
                           vt_mem_profile *out, vt_errinfo *ei);
/* Recompute the hash chain from the op log, replay it, and compare with
 * the stored items and profile. Returns 0 with out->ok false and a
 * problem text when tampering is found. */
int vt_memsync_verify(vt_memsync *c, const vt_mem_cred *cred,
                      vt_mem_verify *out, vt_errinfo *ei);

/* ---- memory-augmented jobs (used by the scheduler) ---------------------- */

/* The scheduler's service key, derived from the shared auth secret (the
 * one in VERITY_AUTH_SECRET_FILE) so that no extra key file exists:
 *   "vts_" + hex(BLAKE2b-256(key = secret, msg = "verity-memsync-service-v1"))
 * memsync accepts it only with a job id whose owner (in the scheduler's
 * Redis state) is the agent named in the request. */
#define VT_MEM_SERVICE_KEY_LEN 68
#define VT_MEM_SERVICE_KEY_BUFSZ 69
void vt_mem_service_key(const uint8_t secret[32], char out[VT_MEM_SERVICE_KEY_BUFSZ]);

/* The documented prompt template (docs/memsync.md, "Prompt template"):
 *
 *   <memory head="SEQ:HASH">\n
 *   [1] (TYPE, CREATED_ISO) TEXT\n
 *   ...
 *   </memory>\n
 *   PROMPT
 *
 * Newlines inside memory text are written as a space so one memory is one
 * line; the exact bytes returned are what the receipt records. With n == 0
 * the result is the prompt unchanged. *out is malloc'ed and NUL-terminated. */
int vt_mem_prompt_render(const vt_mem_hits *hits, const char *prompt,
                         char **out, size_t *outlen);

/* Text stored for remember:true (an episodic memory):
 *   "user: PROMPT\nassistant: OUTPUT" truncated to max_bytes at a UTF-8
 * boundary. *out is malloc'ed. */
int vt_mem_episode_text(const char *prompt, const char *output,
                        size_t max_bytes, char **out);

/* ---- CLI -------------------------------------------------------------- */

/* `verity memory add|search|get|update|delete|list|profile|verify ...`;
 * argv[0] is "memory". Returns a process exit status (0 ok, 1 request
 * failed, 2 usage error). */
int vt_cli_memory(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
