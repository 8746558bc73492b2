/* log_proto.c - transparency-log queries on the agent socket: the
 * scheduler's handler and the client's calls (messages in vt_receipt.h). */
#include <stdlib.h>
#include <string.h>

#include "vt_client.h"
#include "vt_receipt.h"

#define LOG_TIMEOUT_MS 10000

/* Read the u64 fields named in `names` from a request map; others ignored. */
static int read_u64_fields(const void *req, size_t len, const char *const *names, uint64_t *vals,
                           int n_names)
{
    vt_mp_reader r;
    vt_mp_reader_init(&r, req, len);
    uint32_t n;
    int rv = vt_mp_read_map(&r, &n);
    for (uint32_t i = 0; !rv && i < n; i++) {
        const char *k;
        uint32_t kl;
        if ((rv = vt_mp_read_str(&r, &k, &kl)) != 0)
            break;
        int which = -1;
        for (int j = 0; j < n_names; j++)
            if (vt_mp_str_eq(k, kl, names[j]))
                which = j;
        rv = which >= 0 ? vt_mp_read_uint(&r, &vals[which]) : vt_mp_skip(&r);
    }
    return rv ? VT_ERR_PROTO : 0;
}

static int write_path(vt_buf *w, const vt_tlog_proof *p)
{
    int rv = vt_mp_write_array(w, p->n);
    for (uint32_t i = 0; !rv && i < p->n; i++)
        rv = vt_mp_write_bin(w, p->hash[i], VT_TLOG_HASH);
    return rv;
}

static int kv_u64(vt_buf *w, const char *k, uint64_t v)
{
    int rv = vt_mp_write_cstr(w, k);
    return rv ? rv : vt_mp_write_uint(w, v);
}

static int kv_bin(vt_buf *w, const char *k, const void *b, size_t n)
{
    int rv = vt_mp_write_cstr(w, k);
    return rv ? rv : vt_mp_write_bin(w, b, n);
}

int vt_log_handle(const vt_tlog *t, const vt_tree_head *head, const uint8_t scheduler_pk[32],
                  const char *type, uint32_t type_len, const void *req, size_t len, vt_buf *out)
{
    bool is_head = vt_mp_str_eq(type, type_len, "log_head");
    bool is_prove = vt_mp_str_eq(type, type_len, "log_prove");
    bool is_cons = vt_mp_str_eq(type, type_len, "log_consistency");
    if (!is_head && !is_prove && !is_cons)
        return VT_ERR_NOTFOUND;
    if (!head || head->size == 0)
        return vt_msg_encode_error(out, VT_ERR_NOTFOUND, "the log has no signed head yet", 1000);
    int rv = 0;
    if (is_head) {
        rv = vt_mp_write_envelope(out, "log_head_ok", 5);
        rv = rv ? rv : kv_u64(out, "size", head->size);
        rv = rv ? rv : kv_u64(out, "time_ms", head->time_ms);
        rv = rv ? rv : kv_bin(out, "root", head->root, VT_TLOG_HASH);
        rv = rv ? rv : kv_bin(out, "sig", head->sig, 64);
        rv = rv ? rv : kv_bin(out, "scheduler", scheduler_pk, 32);
        return rv;
    }
    static const char *const prove_names[] = {"index", "size"};
    static const char *const cons_names[] = {"old", "new"};
    uint64_t v[2] = {0, 0};
    if (read_u64_fields(req, len, is_prove ? prove_names : cons_names, v, 2) != 0)
        return vt_msg_encode_error(out, VT_ERR_PROTO, "malformed log request", 0);
    if (v[1] == 0)
        v[1] = head->size;
    vt_tlog_proof p;
    if (is_prove) {
        uint8_t leaf[VT_TLOG_HASH];
        if (vt_tlog_prove_inclusion(t, v[0], v[1], &p) != 0 || vt_tlog_leaf_at(t, v[0], leaf) != 0)
            return vt_msg_encode_error(out, VT_ERR_RANGE, "index or size beyond the log", 0);
        rv = vt_mp_write_envelope(out, "log_prove_ok", 4);
        rv = rv ? rv : kv_u64(out, "index", v[0]);
        rv = rv ? rv : kv_u64(out, "size", v[1]);
        rv = rv ? rv : kv_bin(out, "leaf", leaf, VT_TLOG_HASH);
        rv = rv ? rv : vt_mp_write_cstr(out, "path");
        return rv ? rv : write_path(out, &p);
    }
    uint8_t r_old[VT_TLOG_HASH], r_new[VT_TLOG_HASH];
    if (v[0] > v[1] || vt_tlog_prove_consistency(t, v[0], v[1], &p) != 0 ||
        vt_tlog_root(t, v[0], r_old) != 0 || vt_tlog_root(t, v[1], r_new) != 0)
        return vt_msg_encode_error(out, VT_ERR_RANGE, "sizes out of order or beyond the log", 0);
    rv = vt_mp_write_envelope(out, "log_consistency_ok", 5);
    rv = rv ? rv : kv_u64(out, "old", v[0]);
    rv = rv ? rv : kv_u64(out, "new", v[1]);
    rv = rv ? rv : kv_bin(out, "old_root", r_old, VT_TLOG_HASH);
    rv = rv ? rv : kv_bin(out, "new_root", r_new, VT_TLOG_HASH);
    rv = rv ? rv : vt_mp_write_cstr(out, "path");
    return rv ? rv : write_path(out, &p);
}

/* ------------------------------------------------------------ client */

typedef struct reply_fields {
    uint64_t u[4];           /* size/index/old/new/time_ms as asked */
    uint8_t b[4][64];        /* fixed-size binaries as asked */
    uint32_t blen[4];
    vt_tlog_proof path;
    bool has_path;
} reply_fields;

/* One request/reply; decode the reply's map into f by name tables. */
static int call(vt_client *c, const char *type, const char *const *req_names,
                const uint64_t *req_vals, int n_req, const char *want_type,
                const char *const *u_names, int n_u, const char *const *b_names,
                const uint32_t *b_sizes, int n_b, reply_fields *f, vt_errinfo *ei)
{
    vt_buf req;
    vt_buf_init(&req, 4096);
    int rv = vt_mp_write_envelope(&req, type, (uint32_t)n_req);
    for (int i = 0; !rv && i < n_req; i++)
        rv = kv_u64(&req, req_names[i], req_vals[i]);
    uint8_t *rep = NULL;
    size_t rep_len = 0;
    if (!rv)
        rv = vt_client_call(c, &req, LOG_TIMEOUT_MS, &rep, &rep_len, ei);
    vt_buf_free(&req);
    if (rv)
        return rv;
    const char *t;
    uint32_t tl, minor;
    rv = vt_mp_read_envelope(rep, rep_len, &minor, &t, &tl, ei);
    if (!rv && vt_mp_str_eq(t, tl, "error")) {
        vt_msg m;
        rv = vt_msg_decode(rep, rep_len, &m, ei);
        if (!rv) {
            rv = vt_fail(ei, m.u.error.code, "%s", m.u.error.msg);
            vt_msg_free(&m);
        }
        free(rep);
        return rv ? rv : VT_ERR_PROTO;
    }
    if (!rv && !vt_mp_str_eq(t, tl, want_type))
        rv = vt_fail(ei, VT_ERR_PROTO, "unexpected reply to %s", type);
    vt_mp_reader r;
    vt_mp_reader_init(&r, rep, rep_len);
    uint32_t n = 0;
    if (!rv)
        rv = vt_mp_read_map(&r, &n);
    memset(f, 0, sizeof *f);
    for (uint32_t i = 0; !rv && i < n; i++) {
        const char *k;
        uint32_t kl;
        if ((rv = vt_mp_read_str(&r, &k, &kl)) != 0)
            break;
        int done = 0;
        for (int j = 0; !done && j < n_u; j++)
            if (vt_mp_str_eq(k, kl, u_names[j])) {
                rv = vt_mp_read_uint(&r, &f->u[j]);
                done = 1;
            }
        for (int j = 0; !done && j < n_b; j++)
            if (vt_mp_str_eq(k, kl, b_names[j])) {
                const uint8_t *b;
                rv = vt_mp_read_bin(&r, &b, &f->blen[j]);
                if (!rv && f->blen[j] != b_sizes[j])
                    rv = VT_ERR_PROTO;
                if (!rv)
                    memcpy(f->b[j], b, f->blen[j]);
                done = 1;
            }
        if (!done && vt_mp_str_eq(k, kl, "path")) {
            uint32_t pn;
            rv = vt_mp_read_array(&r, &pn);
            if (!rv && pn > VT_TLOG_MAX_PROOF)
                rv = VT_ERR_PROTO;
            for (uint32_t j = 0; !rv && j < pn; j++) {
                const uint8_t *b;
                uint32_t bl;
                rv = vt_mp_read_bin(&r, &b, &bl);
                if (!rv && bl != VT_TLOG_HASH)
                    rv = VT_ERR_PROTO;
                if (!rv)
                    memcpy(f->path.hash[j], b, VT_TLOG_HASH);
            }
            f->path.n = pn;
            f->has_path = rv == 0;
            done = 1;
        }
        if (!done)
            rv = vt_mp_skip(&r);
    }
    free(rep);
    for (int j = 0; !rv && j < n_b; j++)
        if (f->blen[j] != b_sizes[j])
            rv = VT_ERR_PROTO;
    if (rv && ei && !ei->detail[0])
        vt_fail(ei, VT_ERR_PROTO, "malformed %s reply", want_type);
    return rv ? VT_ERR_PROTO : 0;
}

int vt_log_get_head(vt_client *c, vt_tree_head *th, uint8_t scheduler_pk[32], vt_errinfo *ei)
{
    static const char *const u[] = {"size", "time_ms"};
    static const char *const b[] = {"root", "sig", "scheduler"};
    static const uint32_t bs[] = {VT_TLOG_HASH, 64, 32};
    reply_fields f;
    int rv = call(c, "log_head", NULL, NULL, 0, "log_head_ok", u, 2, b, bs, 3, &f, ei);
    if (rv)
        return rv;
    th->size = f.u[0];
    th->time_ms = f.u[1];
    memcpy(th->root, f.b[0], VT_TLOG_HASH);
    memcpy(th->sig, f.b[1], 64);
    memcpy(scheduler_pk, f.b[2], 32);
    return 0;
}

int vt_log_get_inclusion(vt_client *c, uint64_t index, uint64_t size, uint8_t leaf[VT_TLOG_HASH],
                         vt_tlog_proof *proof, uint64_t *size_out, vt_errinfo *ei)
{
    static const char *const rq[] = {"index", "size"};
    static const char *const u[] = {"index", "size"};
    static const char *const b[] = {"leaf"};
    static const uint32_t bs[] = {VT_TLOG_HASH};
    uint64_t vals[2] = {index, size};
    reply_fields f;
    int rv = call(c, "log_prove", rq, vals, 2, "log_prove_ok", u, 2, b, bs, 1, &f, ei);
    if (rv)
        return rv;
    if (!f.has_path || f.u[0] != index)
        return vt_fail(ei, VT_ERR_PROTO, "log_prove_ok for another index");
    memcpy(leaf, f.b[0], VT_TLOG_HASH);
    *proof = f.path;
    *size_out = f.u[1];
    return 0;
}

int vt_log_get_consistency(vt_client *c, uint64_t old_size, uint64_t new_size,
                           uint8_t old_root[VT_TLOG_HASH], uint8_t new_root[VT_TLOG_HASH],
                           vt_tlog_proof *proof, uint64_t *new_size_out, vt_errinfo *ei)
{
    static const char *const rq[] = {"old", "new"};
    static const char *const u[] = {"old", "new"};
    static const char *const b[] = {"old_root", "new_root"};
    static const uint32_t bs[] = {VT_TLOG_HASH, VT_TLOG_HASH};
    uint64_t vals[2] = {old_size, new_size};
    reply_fields f;
    int rv = call(c, "log_consistency", rq, vals, 2, "log_consistency_ok", u, 2, b, bs, 2, &f, ei);
    if (rv)
        return rv;
    if (!f.has_path || f.u[0] != old_size)
        return vt_fail(ei, VT_ERR_PROTO, "log_consistency_ok for other sizes");
    memcpy(old_root, f.b[0], VT_TLOG_HASH);
    memcpy(new_root, f.b[1], VT_TLOG_HASH);
    *proof = f.path;
    *new_size_out = f.u[1];
    return 0;
}
