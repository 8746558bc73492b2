/* ms_wire.h - memsync's messages on the wire (docs/memsync.md, "Wire
 * format"). msgpack maps in Verity's envelope {"v":1,"vm":0,"t":TYPE,...},
 * written and read with vt_protocol's bounded msgpack reader/writer; a
 * peer's counts and lengths are never trusted. Errors are the protocol's
 * "error" message {code, name, msg}. */
#ifndef MS_WIRE_H
#define MS_WIRE_H

#include <stdbool.h>
#include <stdint.h>

#include "vt_memsync.h"
#include "vt_protocol.h"

enum ms_req_op {
    MS_REQ_NONE = 0,
    MS_REQ_ADD,
    MS_REQ_GET,
    MS_REQ_UPDATE,
    MS_REQ_DELETE,
    MS_REQ_LIST,
    MS_REQ_SEARCH,
    MS_REQ_PROFILE_GET,
    MS_REQ_PROFILE_SET,
    MS_REQ_PROFILE_DEL,
    MS_REQ_VERIFY,
    MS_REQ__COUNT
};

/* "mem_add", ... ; NULL for an invalid op. */
const char *ms_req_name(int op);

#define MS_KEY_MAX 128 /* bytes of an API or service key on the wire */

typedef struct ms_req {
    int op;
    char agent[VT_MEM_MAX_AGENT + 1];
    char key[MS_KEY_MAX + 1];
    char job[VT_JOB_ID_MAX + 1];      /* "" unless a service key is used */
    vt_mem_item item;                 /* add, update (owned) */
    bool has_item;
    uint64_t id;                      /* get, update, delete */
    uint64_t after;                   /* list */
    uint32_t limit;                   /* list */
    uint32_t k;                       /* search */
    char *text;                       /* search query (owned) */
    float *vector;                    /* search (owned) */
    uint32_t dim;
    vt_mem_filter filter;             /* filter.category points at category */
    char *category;                   /* (owned) */
    char *pkey, *pvalue;              /* profile set/del (owned) */
} ms_req;

void ms_req_clear(ms_req *r);
int ms_req_encode(vt_buf *w, const ms_req *r, vt_errinfo *ei);
/* Decode and shape-check (required fields per op, bounds). The values are
 * not yet validated against the daemon's limits. */
int ms_req_decode(const void *buf, size_t len, ms_req *r, vt_errinfo *ei);

/* A successful answer: "mem_ok". Which parts are present depends on the
 * op; the head always is. */
typedef struct ms_rep {
    vt_mem_head head;
    uint64_t id;                      /* add */
    vt_mem_item item;                 /* get */
    bool has_item;
    vt_mem_list list;                 /* list */
    bool has_list;
    vt_mem_hits hits;                 /* search */
    bool has_hits;
    vt_mem_profile profile;           /* profile get */
    bool has_profile;
    vt_mem_verify verify;             /* verify */
    bool has_verify;
} ms_rep;

void ms_rep_clear(ms_rep *r);
int ms_rep_encode(vt_buf *w, const ms_rep *r, vt_errinfo *ei);
/* Decode "mem_ok" into r, or an "error" message into its code (returned)
 * with the server's text in ei. */
int ms_rep_decode(const void *buf, size_t len, ms_rep *r, vt_errinfo *ei);

#endif
