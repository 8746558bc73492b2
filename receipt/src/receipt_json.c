/* receipt_json.c - the canonical JSON rendering of a receipt: fixed key
 * order, no whitespace, bytes in lowercase hex. Same receipt, same text. */
#include <stdio.h>
#include <string.h>

#include "receipt_internal.h"
#include "vt_strbuf.h"

static void hex(vt_strbuf *b, const char *key, const uint8_t *p, size_t n)
{
    char h[2 * 64 * 32 + 1];
    vt_strbuf_printf(b, "\"%s\":\"", key);
    while (n) {
        size_t k = n > 64 * 32 ? 64 * 32 : n;
        vt_hex_encode(p, k, h);
        vt_strbuf_puts(b, h);
        p += k;
        n -= k;
    }
    vt_strbuf_puts(b, "\"");
}

static void tokens(vt_strbuf *b, const char *key, const int32_t *t, uint32_t n)
{
    vt_strbuf_printf(b, "\"%s\":[", key);
    for (uint32_t i = 0; i < n; i++)
        vt_strbuf_printf(b, "%s%d", i ? "," : "", t[i]);
    vt_strbuf_puts(b, "]");
}

static void str(vt_strbuf *b, const char *key, const char *s, size_t n)
{
    vt_strbuf_printf(b, "\"%s\":", key);
    vt_strbuf_json_str(b, s ? s : "", s ? n : 0);
}

static void attest(vt_strbuf *b, const vt_receipt_attest *a)
{
    vt_strbuf_puts(b, "\"attest\":{");
    hex(b, "node", a->node_pk, VT_PUBKEY_BYTES);
    vt_strbuf_puts(b, ",");
    hex(b, "batch_root", a->batch_root, VT_HASH_BYTES);
    vt_strbuf_puts(b, ",");
    hex(b, "batch_sig", a->batch_sig, VT_SIG_BYTES);
    vt_strbuf_printf(b, ",\"index\":%u,\"leaves\":%u,\"path\":[", a->proof.index, a->proof.n);
    for (uint32_t i = 0; i < a->proof.path_len; i++) {
        char h[65];
        vt_hex_encode(a->proof.path[i], VT_HASH_BYTES, h);
        vt_strbuf_printf(b, "%s\"%s\"", i ? "," : "", h);
    }
    vt_strbuf_puts(b, "]}");
}

/* %.9g round-trips every float32 exactly. */
static void f32(vt_strbuf *b, const char *key, float v)
{
    vt_strbuf_printf(b, "\"%s\":%.9g", key, (double)v);
}

int vt_receipt_json(const vt_receipt_file *f, vt_buf *out)
{
    const vt_receipt *r = &f->r;
    const vt_wire_result *res = &r->result;
    vt_strbuf b = VT_STRBUF_INIT;
    uint8_t h[VT_HASH_BYTES];

    vt_strbuf_printf(&b, "{\"version\":%d,", VT_RECEIPT_VERSION);
    hex(&b, "receipt_hash", f->hash, VT_HASH_BYTES);
    vt_strbuf_printf(&b, ",\"log_index\":%llu,", (unsigned long long)f->log_index);
    str(&b, "job_id", r->job_id, strlen(r->job_id));
    vt_strbuf_puts(&b, ",");
    str(&b, "agent_id", r->agent_id, strlen(r->agent_id));
    vt_strbuf_puts(&b, ",");
    hex(&b, "model_sha256", r->model_sha256, VT_SHA256_BYTES);
    vt_strbuf_puts(&b, ",");
    vt_hash_tokens(r->prompt, r->n_prompt, h);
    hex(&b, "input_hash", h, VT_HASH_BYTES);
    vt_strbuf_puts(&b, ",");
    tokens(&b, "input_tokens", r->prompt, r->n_prompt);
    vt_strbuf_puts(&b, ",\"sampling\":{");
    f32(&b, "temperature", r->sampling.temperature);
    vt_strbuf_printf(&b, ",\"top_k\":%u,", r->sampling.top_k);
    f32(&b, "top_p", r->sampling.top_p);
    vt_strbuf_printf(&b, ",\"seed\":%llu,\"max_tokens\":%u,\"stop\":[",
                     (unsigned long long)r->sampling.seed, r->max_tokens);
    for (uint32_t i = 0; i < r->n_stop; i++) {
        if (i)
            vt_strbuf_puts(&b, ",");
        vt_strbuf_json_str(&b, r->stop[i], strlen(r->stop[i]));
    }
    vt_strbuf_puts(&b, "]},");
    str(&b, "policy", r->policy, strlen(r->policy));
    vt_strbuf_puts(&b, ",\"worker\":{");
    hex(&b, "node", r->worker.node_pk, VT_PUBKEY_BYTES);
    vt_strbuf_printf(&b, ",\"lease_id\":%llu,\"status\":%d,\"stop\":\"%s\",",
                     (unsigned long long)res->lease_id, res->status, vt_stop_name(res->stop_reason));
    vt_hash_tokens(res->tokens, res->n_tokens, h);
    hex(&b, "output_hash", h, VT_HASH_BYTES);
    vt_strbuf_puts(&b, ",");
    tokens(&b, "output_tokens", res->tokens, res->n_tokens);
    vt_strbuf_puts(&b, ",");
    str(&b, "text", res->text, res->text_len);
    vt_strbuf_puts(&b, ",");
    hex(&b, "trace_digest", res->trace_digest, VT_DIGEST_BYTES);
    vt_strbuf_puts(&b, ",");
    hex(&b, "layer_digests", res->layer_digests, (size_t)res->n_layers * VT_DIGEST_BYTES);
    vt_strbuf_printf(&b, ",\"embedding_len\":%u,", res->n_embedding);
    attest(&b, &r->worker);
    vt_strbuf_puts(&b, "},\"verdicts\":[");
    for (uint32_t i = 0; i < r->n_verdicts; i++) {
        const vt_receipt_verdict *v = &r->verdicts[i];
        vt_strbuf_printf(&b, "%s{\"pass\":%s,\"fault\":\"%s\",\"task_id\":%llu,\"lease_id\":%llu,",
                         i ? "," : "", v->v.pass ? "true" : "false", vt_fault_name(v->v.fault),
                         (unsigned long long)v->v.task_id, (unsigned long long)v->v.lease_id);
        if (v->v.first_divergence != VT_POS_NONE)
            vt_strbuf_printf(&b, "\"first_divergence\":%u,", v->v.first_divergence);
        hex(&b, "replay_trace_digest", v->v.replay_trace_digest, VT_DIGEST_BYTES);
        vt_strbuf_puts(&b, ",");
        hex(&b, "layers_at_divergence", v->v.layers_at_div,
            (size_t)v->v.n_layers * VT_DIGEST_BYTES);
        vt_strbuf_puts(&b, ",");
        attest(&b, &v->att);
        vt_strbuf_puts(&b, "}");
    }
    vt_strbuf_printf(&b, "],\"submitted_ms\":%llu,\"computed_ms\":%llu,\"finished_ms\":%llu,",
                     (unsigned long long)r->submitted_ms, (unsigned long long)r->computed_ms,
                     (unsigned long long)r->finished_ms);
    if (r->has_memory) {
        vt_strbuf_puts(&b, "\"memory\":{");
        hex(&b, "head", r->memory_head, VT_HASH_BYTES);
        vt_strbuf_puts(&b, ",");
        str(&b, "text", r->memory_text, r->memory_text_len);
        vt_strbuf_puts(&b, "},");
    }
    hex(&b, "scheduler", f->scheduler_pk, VT_PUBKEY_BYTES);
    vt_strbuf_puts(&b, ",");
    hex(&b, "scheduler_sig", f->sig, VT_SIG_BYTES);
    if (f->has_head)
        vt_strbuf_printf(&b, ",\"tree_size\":%llu", (unsigned long long)f->head.size);
    vt_strbuf_puts(&b, "}");
    int rv = vt_strbuf_error(&b);
    if (!rv)
        rv = vt_buf_append(out, vt_strbuf_cstr(&b), strlen(vt_strbuf_cstr(&b)) + 1);
    vt_strbuf_free(&b);
    return rv;
}
