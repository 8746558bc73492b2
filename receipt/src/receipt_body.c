/* receipt_body.c - the canonical receipt body: a fixed-length msgpack array
 * with fixed-width integers (field list in docs/verification.md). Encoding
 * is from the C struct; decoding is bounded and refuses anything that is not
 * exactly in canonical form, so one receipt has one hash. */
#include <stdlib.h>
#include <string.h>

#include "receipt_internal.h"

#define TRY(x)                                                                             \
    do {                                                                                   \
        int rv_ = (x);                                                                     \
        if (rv_)                                                                           \
            return rv_;                                                                    \
    } while (0)

static int put_tokens(vt_buf *b, const int32_t *t, uint32_t n)
{
    TRY(vt_mp_write_array_fixed(b, n));
    for (uint32_t i = 0; i < n; i++)
        TRY(vt_mp_write_i32_fixed(b, t[i]));
    return 0;
}

static int put_attest(vt_buf *b, const vt_receipt_attest *a)
{
    TRY(vt_mp_write_array_fixed(b, 5));
    TRY(vt_mp_write_bin_fixed(b, a->batch_root, VT_HASH_BYTES));
    TRY(vt_mp_write_bin_fixed(b, a->batch_sig, VT_SIG_BYTES));
    TRY(vt_mp_write_u32_fixed(b, a->proof.index));
    TRY(vt_mp_write_u32_fixed(b, a->proof.n));
    TRY(vt_mp_write_array_fixed(b, a->proof.path_len));
    for (uint32_t i = 0; i < a->proof.path_len; i++)
        TRY(vt_mp_write_bin_fixed(b, a->proof.path[i], VT_HASH_BYTES));
    return 0;
}

static int put_body(const vt_receipt *r, vt_buf *b)
{
    const vt_wire_result *res = &r->result;
    TRY(vt_mp_write_array_fixed(b, RECEIPT_BODY_FIELDS));
    TRY(vt_mp_write_str_fixed(b, RECEIPT_DOMAIN, sizeof RECEIPT_DOMAIN - 1));
    TRY(vt_mp_write_str_fixed(b, r->job_id, strlen(r->job_id)));
    TRY(vt_mp_write_str_fixed(b, r->agent_id, strlen(r->agent_id)));
    TRY(vt_mp_write_bin_fixed(b, r->model_sha256, VT_SHA256_BYTES));
    TRY(put_tokens(b, r->prompt, r->n_prompt));
    TRY(vt_mp_write_array_fixed(b, 4));
    TRY(vt_mp_write_f32(b, r->sampling.temperature));
    TRY(vt_mp_write_u32_fixed(b, r->sampling.top_k));
    TRY(vt_mp_write_f32(b, r->sampling.top_p));
    TRY(vt_mp_write_u64_fixed(b, r->sampling.seed));
    TRY(vt_mp_write_u32_fixed(b, r->max_tokens));
    TRY(vt_mp_write_array_fixed(b, r->n_stop));
    for (uint32_t i = 0; i < r->n_stop; i++)
        TRY(vt_mp_write_str_fixed(b, r->stop[i], strlen(r->stop[i])));
    TRY(vt_mp_write_str_fixed(b, r->policy, strlen(r->policy)));

    TRY(vt_mp_write_array_fixed(b, 11));
    TRY(vt_mp_write_bin_fixed(b, r->worker.node_pk, VT_PUBKEY_BYTES));
    TRY(vt_mp_write_u64_fixed(b, res->lease_id));
    TRY(vt_mp_write_i32_fixed(b, res->status));
    TRY(vt_mp_write_u8_fixed(b, (uint8_t)res->stop_reason));
    TRY(put_tokens(b, res->tokens, res->n_tokens));
    TRY(vt_mp_write_str_fixed(b, res->text ? res->text : "", res->text ? res->text_len : 0));
    TRY(vt_mp_write_bin_fixed(b, res->trace_digest, VT_DIGEST_BYTES));
    TRY(vt_mp_write_u32_fixed(b, res->n_layers));
    TRY(vt_mp_write_bin_fixed(b, res->layer_digests, (size_t)res->n_layers * VT_DIGEST_BYTES));
    /* The embedding as little-endian float32 bytes. */
    TRY(vt_mp_write_array_fixed(b, res->n_embedding));
    for (uint32_t i = 0; i < res->n_embedding; i++)
        TRY(vt_mp_write_f32(b, res->embedding[i]));
    TRY(vt_mp_write_bin_fixed(b, res->prompt_digest, VT_HASH_BYTES));
    TRY(put_attest(b, &r->worker));

    TRY(vt_mp_write_array_fixed(b, r->n_verdicts));
    for (uint32_t i = 0; i < r->n_verdicts; i++) {
        const vt_receipt_verdict *rv = &r->verdicts[i];
        const vt_wire_verdict *v = &rv->v;
        TRY(vt_mp_write_array_fixed(b, 10));
        TRY(vt_mp_write_bin_fixed(b, rv->att.node_pk, VT_PUBKEY_BYTES));
        TRY(vt_mp_write_u64_fixed(b, v->task_id));
        TRY(vt_mp_write_u64_fixed(b, v->lease_id));
        TRY(vt_mp_write_bool(b, v->pass));
        TRY(vt_mp_write_u8_fixed(b, (uint8_t)v->fault));
        TRY(vt_mp_write_u32_fixed(b, v->first_divergence));
        TRY(vt_mp_write_bin_fixed(b, v->replay_trace_digest, VT_DIGEST_BYTES));
        TRY(vt_mp_write_bin_fixed(b, v->final_at_div, VT_DIGEST_BYTES));
        TRY(vt_mp_write_bin_fixed(b, v->layers_at_div, (size_t)v->n_layers * VT_DIGEST_BYTES));
        TRY(put_attest(b, &rv->att));
    }
    TRY(vt_mp_write_array_fixed(b, 3));
    TRY(vt_mp_write_u64_fixed(b, r->submitted_ms));
    TRY(vt_mp_write_u64_fixed(b, r->computed_ms));
    TRY(vt_mp_write_u64_fixed(b, r->finished_ms));
    if (!r->has_memory)
        return vt_mp_write_nil(b);
    TRY(vt_mp_write_array_fixed(b, 2));
    TRY(vt_mp_write_bin_fixed(b, r->memory_head, VT_HASH_BYTES));
    return vt_mp_write_str_fixed(b, r->memory_text ? r->memory_text : "",
                                 r->memory_text ? r->memory_text_len : 0);
}

int vt_receipt_body(const vt_receipt *r, vt_buf *out, vt_errinfo *ei)
{
    if (!r || !out || (r->n_prompt && !r->prompt) || r->n_verdicts > VT_PROTO_MAX_VERDICTS ||
        (r->n_verdicts && !r->verdicts) || (r->n_stop && !r->stop) ||
        (r->result.n_tokens && !r->result.tokens) ||
        (r->result.n_layers && !r->result.layer_digests))
        return vt_fail(ei, VT_ERR_INVAL, "receipt: incomplete fields");
    int rv = put_body(r, out);
    return rv ? vt_fail(ei, rv, "receipt body: %s", vt_strerror(rv)) : 0;
}

/* ------------------------------------------------------------- decoding */

typedef struct rd {
    vt_mp_reader r;
    vt_errinfo *ei;
    const char *field;
} rd;

static int bad(rd *d, int rv)
{
    return vt_fail(d->ei, rv == VT_ERR_NOMEM ? rv : VT_ERR_FORMAT,
                   "receipt body: field '%s' at offset %zu: %s", d->field, vt_mp_offset(&d->r),
                   vt_strerror(rv));
}

#define F(d, name) ((d)->field = (name))
#define RD(d, x)                                                                           \
    do {                                                                                   \
        int rv_ = (x);                                                                     \
        if (rv_)                                                                           \
            return bad((d), rv_);                                                          \
    } while (0)

static int get_array(rd *d, uint32_t want)
{
    uint32_t n;
    RD(d, vt_mp_read_array(&d->r, &n));
    if (n != want)
        return bad(d, VT_ERR_FORMAT);
    return 0;
}

static int get_bin(rd *d, uint8_t *out, uint32_t want)
{
    const uint8_t *b;
    uint32_t n;
    RD(d, vt_mp_read_bin(&d->r, &b, &n));
    if (n != want)
        return bad(d, VT_ERR_FORMAT);
    memcpy(out, b, n);
    return 0;
}

static int get_bin_view(rd *d, const uint8_t **out, uint32_t want)
{
    uint32_t n;
    RD(d, vt_mp_read_bin(&d->r, out, &n));
    if (n != want)
        return bad(d, VT_ERR_FORMAT);
    return 0;
}

static int get_u64(rd *d, uint64_t *v)
{
    RD(d, vt_mp_read_uint(&d->r, v));
    return 0;
}

static int get_u32(rd *d, uint32_t *v)
{
    uint64_t x;
    RD(d, vt_mp_read_uint(&d->r, &x));
    if (x > UINT32_MAX)
        return bad(d, VT_ERR_RANGE);
    *v = (uint32_t)x;
    return 0;
}

static int get_f32(rd *d, float *v)
{
    double x;
    RD(d, vt_mp_read_float(&d->r, &x));
    *v = (float)x;
    return 0;
}

static int get_id(rd *d, char *out, size_t cap)
{
    const char *s;
    uint32_t n;
    RD(d, vt_mp_read_str(&d->r, &s, &n));
    if (n >= cap || memchr(s, 0, n))
        return bad(d, VT_ERR_RANGE);
    memcpy(out, s, n);
    out[n] = 0;
    return 0;
}

static int get_tokens(rd *d, int32_t **out, uint32_t *n, uint32_t max)
{
    RD(d, vt_mp_read_array(&d->r, n));
    if (*n > max)
        return bad(d, VT_ERR_RANGE);
    *out = malloc(((size_t)*n + 1) * sizeof(int32_t));
    if (!*out)
        return bad(d, VT_ERR_NOMEM);
    for (uint32_t i = 0; i < *n; i++) {
        int64_t v;
        RD(d, vt_mp_read_int(&d->r, &v));
        if (v < INT32_MIN || v > INT32_MAX)
            return bad(d, VT_ERR_RANGE);
        (*out)[i] = (int32_t)v;
    }
    return 0;
}

static int get_attest(rd *d, vt_receipt_attest *a)
{
    uint32_t n;
    RD(d, get_array(d, 5));
    RD(d, get_bin(d, a->batch_root, VT_HASH_BYTES));
    RD(d, get_bin(d, a->batch_sig, VT_SIG_BYTES));
    RD(d, get_u32(d, &a->proof.index));
    RD(d, get_u32(d, &a->proof.n));
    RD(d, vt_mp_read_array(&d->r, &n));
    if (n > VT_MERKLE_MAX_DEPTH)
        return bad(d, VT_ERR_RANGE);
    a->proof.path_len = n;
    for (uint32_t i = 0; i < n; i++)
        RD(d, get_bin(d, a->proof.path[i], VT_HASH_BYTES));
    return 0;
}

void receipt_mem_free(receipt_mem *m)
{
    if (!m)
        return;
    free(m->file);
    free(m->prompt);
    free(m->tokens);
    for (uint32_t i = 0; m->stop && i < m->n_stop; i++)
        free(m->stop[i]);
    free(m->stop);
    free(m->embedding);
    free(m->verdicts);
    memset(m, 0, sizeof *m);
}

int vt_receipt_body_decode(const uint8_t *body, size_t len, vt_receipt *r, receipt_mem *mem,
                           vt_errinfo *ei)
{
    rd d = {.ei = ei, .field = "body"};
    vt_mp_reader_init(&d.r, body, len);
    memset(r, 0, sizeof *r);
    const char *s;
    uint32_t n;

    RD(&d, get_array(&d, RECEIPT_BODY_FIELDS));
    F(&d, "domain");
    RD(&d, vt_mp_read_str(&d.r, &s, &n));
    if (!vt_mp_str_eq(s, n, RECEIPT_DOMAIN))
        return vt_fail(ei, VT_ERR_VERSION, "receipt body: not a %s receipt", RECEIPT_DOMAIN);
    F(&d, "job_id");
    RD(&d, get_id(&d, r->job_id, sizeof r->job_id));
    F(&d, "agent_id");
    RD(&d, get_id(&d, r->agent_id, sizeof r->agent_id));
    F(&d, "model");
    RD(&d, get_bin(&d, r->model_sha256, VT_SHA256_BYTES));
    F(&d, "prompt");
    RD(&d, get_tokens(&d, &mem->prompt, &r->n_prompt, VT_PROTO_MAX_PROMPT_TOKENS));
    r->prompt = mem->prompt;
    F(&d, "sampling");
    RD(&d, get_array(&d, 4));
    RD(&d, get_f32(&d, &r->sampling.temperature));
    RD(&d, get_u32(&d, &r->sampling.top_k));
    RD(&d, get_f32(&d, &r->sampling.top_p));
    RD(&d, get_u64(&d, &r->sampling.seed));
    F(&d, "max_tokens");
    RD(&d, get_u32(&d, &r->max_tokens));
    F(&d, "stop");
    RD(&d, vt_mp_read_array(&d.r, &n));
    if (n > VT_PROTO_MAX_STOP)
        return bad(&d, VT_ERR_RANGE);
    mem->stop = calloc((size_t)n + 1, sizeof(char *));
    if (!mem->stop)
        return bad(&d, VT_ERR_NOMEM);
    for (uint32_t i = 0; i < n; i++) {
        char tmp[VT_PROTO_MAX_STOP_LEN + 1];
        RD(&d, get_id(&d, tmp, sizeof tmp));
        if (!(mem->stop[i] = strdup(tmp)))
            return bad(&d, VT_ERR_NOMEM);
        mem->n_stop = i + 1;
    }
    r->stop = (const char *const *)mem->stop;
    r->n_stop = n;
    F(&d, "policy");
    RD(&d, get_id(&d, r->policy, sizeof r->policy));

    vt_wire_result *res = &r->result;
    memcpy(res->job_id, r->job_id, sizeof res->job_id);
    F(&d, "result");
    RD(&d, get_array(&d, 11));
    RD(&d, get_bin(&d, r->worker.node_pk, VT_PUBKEY_BYTES));
    RD(&d, get_u64(&d, &res->lease_id));
    int64_t st;
    F(&d, "result.status");
    RD(&d, vt_mp_read_int(&d.r, &st));
    if (st < INT32_MIN || st > 0)
        return bad(&d, VT_ERR_RANGE);
    res->status = (int32_t)st;
    uint32_t stop_reason;
    F(&d, "result.stop_reason");
    RD(&d, get_u32(&d, &stop_reason));
    if (stop_reason > 255)
        return bad(&d, VT_ERR_RANGE);
    res->stop_reason = (int)stop_reason;
    F(&d, "result.tokens");
    RD(&d, get_tokens(&d, &mem->tokens, &res->n_tokens, VT_PROTO_MAX_OUTPUT_TOKENS));
    res->tokens = mem->tokens;
    F(&d, "result.text");
    RD(&d, vt_mp_read_str(&d.r, &res->text, &n));
    res->text_len = n;
    F(&d, "result.trace_digest");
    RD(&d, get_bin(&d, res->trace_digest, VT_DIGEST_BYTES));
    F(&d, "result.n_layers");
    RD(&d, get_u32(&d, &res->n_layers));
    if (res->n_layers > VT_PROTO_MAX_LAYERS)
        return bad(&d, VT_ERR_RANGE);
    F(&d, "result.layer_digests");
    RD(&d, get_bin_view(&d, &res->layer_digests, res->n_layers * VT_DIGEST_BYTES));
    F(&d, "result.embedding");
    RD(&d, vt_mp_read_array(&d.r, &n));
    if (n > VT_PROTO_MAX_EMBEDDING)
        return bad(&d, VT_ERR_RANGE);
    mem->embedding = malloc(((size_t)n + 1) * sizeof(float));
    if (!mem->embedding)
        return bad(&d, VT_ERR_NOMEM);
    for (uint32_t i = 0; i < n; i++)
        RD(&d, get_f32(&d, &mem->embedding[i]));
    res->embedding = mem->embedding;
    res->n_embedding = n;
    F(&d, "result.prompt_digest");
    RD(&d, get_bin(&d, res->prompt_digest, VT_HASH_BYTES));
    memcpy(res->model_sha256, r->model_sha256, VT_SHA256_BYTES);
    F(&d, "worker.attest");
    RD(&d, get_attest(&d, &r->worker));

    F(&d, "verdicts");
    RD(&d, vt_mp_read_array(&d.r, &n));
    if (n > VT_PROTO_MAX_VERDICTS)
        return bad(&d, VT_ERR_RANGE);
    mem->verdicts = calloc((size_t)n + 1, sizeof(vt_receipt_verdict));
    if (!mem->verdicts)
        return bad(&d, VT_ERR_NOMEM);
    for (uint32_t i = 0; i < n; i++) {
        vt_receipt_verdict *rv = &mem->verdicts[i];
        vt_wire_verdict *v = &rv->v;
        uint32_t u;
        memcpy(v->job_id, r->job_id, sizeof v->job_id);
        RD(&d, get_array(&d, 10));
        RD(&d, get_bin(&d, rv->att.node_pk, VT_PUBKEY_BYTES));
        RD(&d, get_u64(&d, &v->task_id));
        RD(&d, get_u64(&d, &v->lease_id));
        RD(&d, vt_mp_read_bool(&d.r, &v->pass));
        RD(&d, get_u32(&d, &u));
        if (u > VT_FAULT_MALFORMED)
            return bad(&d, VT_ERR_RANGE);
        v->fault = (vt_fault)u;
        RD(&d, get_u32(&d, &v->first_divergence));
        RD(&d, get_bin(&d, v->replay_trace_digest, VT_DIGEST_BYTES));
        RD(&d, get_bin(&d, v->final_at_div, VT_DIGEST_BYTES));
        const uint8_t *layers;
        uint32_t ln;
        RD(&d, vt_mp_read_bin(&d.r, &layers, &ln));
        if (ln % VT_DIGEST_BYTES || ln / VT_DIGEST_BYTES > VT_PROTO_MAX_LAYERS)
            return bad(&d, VT_ERR_RANGE);
        v->layers_at_div = layers;
        v->n_layers = ln / VT_DIGEST_BYTES;
        RD(&d, get_attest(&d, &rv->att));
    }
    r->verdicts = mem->verdicts;
    r->n_verdicts = n;
    F(&d, "timestamps");
    RD(&d, get_array(&d, 3));
    RD(&d, get_u64(&d, &r->submitted_ms));
    RD(&d, get_u64(&d, &r->computed_ms));
    RD(&d, get_u64(&d, &r->finished_ms));
    F(&d, "memory");
    if (vt_mp_peek(&d.r) == VT_MP_NIL) {
        RD(&d, vt_mp_read_nil(&d.r));
    } else {
        r->has_memory = true;
        RD(&d, get_array(&d, 2));
        RD(&d, get_bin(&d, r->memory_head, VT_HASH_BYTES));
        RD(&d, vt_mp_read_str(&d.r, &r->memory_text, &n));
        r->memory_text_len = n;
    }
    if (vt_mp_left(&d.r) != 0)
        return vt_fail(ei, VT_ERR_FORMAT, "receipt body: %zu trailing bytes", vt_mp_left(&d.r));

    /* Canonical form: re-encoding must give the very same bytes, else two
     * byte strings would describe one receipt. */
    vt_buf again;
    vt_buf_init(&again, VT_RECEIPT_MAX_BYTES);
    int rv = put_body(r, &again);
    bool same = rv == 0 && again.len == len && memcmp(again.data, body, len) == 0;
    vt_buf_free(&again);
    if (!same)
        return vt_fail(ei, VT_ERR_FORMAT, "receipt body is not in canonical form");
    return 0;
}
