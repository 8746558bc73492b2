/* sc_record.c - what the scheduler stores in Redis and what it attests.
 *
 * Redis key verity:sched:job:<job id> holds one msgpack map:
 *   while pending  {"kind":"submit", "id":u64, "agent":str, "submitted_ms":u64,
 *                   "deadline_ms":u64 (wall clock, 0 = none),
 *                   "submit":bin (the submit message, API key replaced)}
 *   once done      {"kind":"final", "agent":str, "state":u, "submitted_ms",
 *                   "leased_ms", "computed_ms", "finished_ms", "attempts",
 *                   "required", "passed", "failed", "worker":bin32 (optional),
 *                   then, for a job with a worker result (a vt_receipt):
 *                   "error":int, "error_msg":str (optional),
 *                   "verdicts":[[verifier bin32, pass, fault, first_div] ...],
 *                   "receipt":bin
 *                   or, for one without (cancelled, expired, no model), and
 *                   in records written before the receipt form:
 *                   "result":bin (the exact result_ok reply)}
 * (docs/architecture.md, "Journal").
 *
 * Why the receipt form: the receipt already holds the job's outputs, model,
 * worker and trace digest, so storing the result_ok reply as well stored them
 * twice (~380 B of an identity job's ~2.0 KB record; for a real job its
 * tokens, text or embedding a second time). The reply is rebuilt from the
 * record on read (sc_record_reply), byte for byte the one the scheduler sent
 * from memory.
 *
 * The receipt inside result_ok is the scheduler's attestation: canonical
 * job-record bytes (a fixed-width msgpack array, below), their place in a
 * Merkle batch of the records finished together, and one Ed25519 signature
 * over "verity/job-batch/v1" || root per batch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"

#define RECORD_TAG "verity/job-record/v1"
#define BATCH_TAG "verity/job-batch/v1"

int sc_journal_encode_submit(sched *s, const sc_job *j, vt_buf *out)
{
    vt_buf sub;
    vt_buf_init(&sub, (size_t)s->cfg.recv_max + 1024);
    vt_errinfo ei = {0};
    int rv = vt_msg_encode(&j->spec_msg, &sub, &ei);
    if (rv == 0) {
        uint64_t deadline = 0;
        if (j->deadline_ms)
            deadline = (uint64_t)j->wall_submit_ms + (j->deadline_ms - j->t_submit_us / 1000);
        rv = vt_mp_write_map(out, 6);
        rv = rv ? rv : vt_mp_write_cstr(out, "kind");
        rv = rv ? rv : vt_mp_write_cstr(out, "submit");
        rv = rv ? rv : vt_mp_write_cstr(out, "id");
        rv = rv ? rv : vt_mp_write_uint(out, j->id);
        rv = rv ? rv : vt_mp_write_cstr(out, "agent");
        rv = rv ? rv : vt_mp_write_cstr(out, s->agents[j->agent].id);
        rv = rv ? rv : vt_mp_write_cstr(out, "submitted_ms");
        rv = rv ? rv : vt_mp_write_uint(out, (uint64_t)j->wall_submit_ms);
        rv = rv ? rv : vt_mp_write_cstr(out, "deadline_ms");
        rv = rv ? rv : vt_mp_write_uint(out, deadline);
        rv = rv ? rv : vt_mp_write_cstr(out, "submit");
        rv = rv ? rv : vt_mp_write_bin(out, sub.data, sub.len);
    }
    vt_buf_free(&sub);
    return rv;
}

/* Fixed-width canonical bytes of a finished job (what the receipt signs). */
int sc_record_leaf(const sc_job *j, const char *job_id, const char *agent, vt_buf *w)
{
    uint8_t h_tok[VT_HASH_BYTES], h_text[VT_HASH_BYTES], zero[32] = {0};
    const sc_result *r = j->result;
    vt_hash_tokens(r ? r->tokens : NULL, r ? r->n_tokens : 0, h_tok);
    vt_hash_text(r ? r->text : NULL, r ? r->text_len : 0, h_text);
    const uint8_t *model = r ? r->model_sha256 : zero;
    int rv = vt_mp_write_array_fixed(w, 16);
    rv = rv ? rv : vt_mp_write_str_fixed(w, RECORD_TAG, strlen(RECORD_TAG));
    rv = rv ? rv : vt_mp_write_str_fixed(w, job_id, strlen(job_id));
    rv = rv ? rv : vt_mp_write_str_fixed(w, agent, strlen(agent));
    rv = rv ? rv : vt_mp_write_u8_fixed(w, j->state);
    rv = rv ? rv : vt_mp_write_i32_fixed(w, j->error);
    rv = rv ? rv : vt_mp_write_bin_fixed(w, model, 32);
    rv = rv ? rv : vt_mp_write_bin_fixed(w, j->prompt_digest, 32);
    rv = rv ? rv : vt_mp_write_bin_fixed(w, h_tok, 32);
    rv = rv ? rv : vt_mp_write_bin_fixed(w, h_text, 32);
    rv = rv ? rv : vt_mp_write_bin_fixed(w, r ? r->trace_digest : zero, 32);
    rv = rv ? rv : vt_mp_write_bin_fixed(w, r ? r->worker : zero, 32);
    rv = rv ? rv : vt_mp_write_u32_fixed(w, j->verify_k);
    rv = rv ? rv : vt_mp_write_u32_fixed(w, j->n_pass);
    rv = rv ? rv : vt_mp_write_u32_fixed(w, j->n_fail);
    rv = rv ? rv : vt_mp_write_u64_fixed(w, (uint64_t)j->wall_submit_ms);
    rv = rv ? rv : vt_mp_write_u64_fixed(w, (uint64_t)j->wall_done_ms);
    return rv;
}

int sc_record_batch_sign(const vt_keypair *kp, const uint8_t root[VT_HASH_BYTES],
                         uint8_t sig[VT_SIG_BYTES])
{
    uint8_t msg[sizeof BATCH_TAG - 1 + VT_HASH_BYTES];
    memcpy(msg, BATCH_TAG, sizeof BATCH_TAG - 1);
    memcpy(msg + sizeof BATCH_TAG - 1, root, VT_HASH_BYTES);
    return vt_sign(kp, msg, sizeof msg, sig);
}

int sc_record_receipt(const vt_buf *leaf_bytes, const vt_merkle_proof *p,
                      const uint8_t root[VT_HASH_BYTES], const uint8_t sig[VT_SIG_BYTES],
                      const uint8_t pk[VT_PUBKEY_BYTES], vt_buf *w)
{
    int rv = vt_mp_write_map(w, 8);
    rv = rv ? rv : vt_mp_write_cstr(w, "kind");
    rv = rv ? rv : vt_mp_write_cstr(w, "verity/sched-receipt/v1");
    rv = rv ? rv : vt_mp_write_cstr(w, "record");
    rv = rv ? rv : vt_mp_write_bin(w, leaf_bytes->data, leaf_bytes->len);
    rv = rv ? rv : vt_mp_write_cstr(w, "index");
    rv = rv ? rv : vt_mp_write_uint(w, p->index);
    rv = rv ? rv : vt_mp_write_cstr(w, "n");
    rv = rv ? rv : vt_mp_write_uint(w, p->n);
    rv = rv ? rv : vt_mp_write_cstr(w, "path");
    rv = rv ? rv : vt_mp_write_array(w, p->path_len);
    for (uint32_t i = 0; i < p->path_len && !rv; i++)
        rv = vt_mp_write_bin(w, p->path[i], VT_HASH_BYTES);
    rv = rv ? rv : vt_mp_write_cstr(w, "root");
    rv = rv ? rv : vt_mp_write_bin(w, root, VT_HASH_BYTES);
    rv = rv ? rv : vt_mp_write_cstr(w, "sig");
    rv = rv ? rv : vt_mp_write_bin(w, sig, VT_SIG_BYTES);
    rv = rv ? rv : vt_mp_write_cstr(w, "pk");
    rv = rv ? rv : vt_mp_write_bin(w, pk, VT_PUBKEY_BYTES);
    return rv;
}

/* A finished job's reply carries its outputs only when they were verified
 * (a job that failed verification reports the failure, not the output). */
static bool reply_has_outputs(int state) { return state == VT_JOB_VERIFIED; }

/* A result's outputs and trace digest into a result_ok (pointers into
 * res, which must outlive the encoding): the final reply's, and the early
 * one of delivery=optimistic. */
void sc_result_outputs(const sc_result *res, vt_msg_result_ok *r)
{
    r->tokens = res->tokens;
    r->n_tokens = res->n_tokens;
    r->text = res->text;
    r->text_len = res->text_len;
    r->embedding = res->embedding;
    r->n_embedding = res->n_embedding;
    r->stop_reason = res->stop_reason;
    memcpy(r->trace_digest, res->trace_digest, VT_DIGEST_BYTES);
}

/* The result_ok reply of a finished job, receipt included. */
int sc_record_result_ok(sched *s, const sc_job *j, const uint8_t *receipt, size_t receipt_len,
                        vt_buf *out)
{
    vt_msg m;
    vt_msg_init(&m, VT_MSG_RESULT_OK);
    vt_msg_result_ok *r = &m.u.result_ok;
    sc_job_id_format(j->id, r->job_id);
    r->state = (vt_job_state)j->state;
    r->error = j->error;
    r->error_msg = j->error_msg;
    const sc_result *res = j->result;
    if (res && reply_has_outputs(j->state))
        sc_result_outputs(res, r);
    /* The job's model, as its receipt names it (a worker's own claim differs
     * only in an error result, which is not the job's output). */
    memcpy(r->model_sha256, s->models[j->model].sha256, 32);
    if (res)
        memcpy(r->worker, res->worker, 32);
    r->verify.required = j->verify_k;
    r->verify.passed = j->n_pass;
    r->verify.failed = j->n_fail;
    r->verdicts = j->verdicts;
    r->n_verdicts = j->n_verdicts;
    r->receipt = receipt;
    r->receipt_len = (uint32_t)receipt_len;
    r->submitted_ms = (uint64_t)j->wall_submit_ms;
    r->finished_ms = (uint64_t)j->wall_done_ms;
    vt_errinfo ei = {0};
    int rv = vt_msg_encode(&m, out, &ei);
    if (rv)
        vt_log_error(s->log, "journal.encode", "result_ok: %s", vt_errinfo_msg(&ei));
    return rv;
}

/* The final record. receipt: the job's vt_receipt (it has a worker
 * result), stored with what the reply has beyond it; NULL: the whole
 * result_ok reply is stored. */
int sc_record_encode_final(const sc_job *j, const char *agent, const vt_buf *result_ok,
                           const vt_buf *receipt, vt_buf *w)
{
    const sc_result *r = j->result;
    uint32_t n = 12 + (r ? 1 : 0) + (receipt ? 2 + (j->error_msg ? 1 : 0) : 0);
    int rv = vt_mp_write_map(w, n);
    rv = rv ? rv : vt_mp_write_cstr(w, "kind");
    rv = rv ? rv : vt_mp_write_cstr(w, "final");
    rv = rv ? rv : vt_mp_write_cstr(w, "agent");
    rv = rv ? rv : vt_mp_write_cstr(w, agent);
    rv = rv ? rv : vt_mp_write_cstr(w, "state");
    rv = rv ? rv : vt_mp_write_uint(w, j->state);
    rv = rv ? rv : vt_mp_write_cstr(w, "submitted_ms");
    rv = rv ? rv : vt_mp_write_uint(w, (uint64_t)j->wall_submit_ms);
    rv = rv ? rv : vt_mp_write_cstr(w, "leased_ms");
    rv = rv ? rv : vt_mp_write_uint(w, (uint64_t)j->wall_leased_ms);
    rv = rv ? rv : vt_mp_write_cstr(w, "computed_ms");
    rv = rv ? rv : vt_mp_write_uint(w, (uint64_t)j->wall_computed_ms);
    rv = rv ? rv : vt_mp_write_cstr(w, "finished_ms");
    rv = rv ? rv : vt_mp_write_uint(w, (uint64_t)j->wall_done_ms);
    rv = rv ? rv : vt_mp_write_cstr(w, "attempts");
    rv = rv ? rv : vt_mp_write_uint(w, j->attempts);
    rv = rv ? rv : vt_mp_write_cstr(w, "required");
    rv = rv ? rv : vt_mp_write_uint(w, j->verify_k);
    rv = rv ? rv : vt_mp_write_cstr(w, "passed");
    rv = rv ? rv : vt_mp_write_uint(w, j->n_pass);
    rv = rv ? rv : vt_mp_write_cstr(w, "failed");
    rv = rv ? rv : vt_mp_write_uint(w, j->n_fail);
    if (r) {
        rv = rv ? rv : vt_mp_write_cstr(w, "worker");
        rv = rv ? rv : vt_mp_write_bin(w, r->worker, 32);
    }
    if (!receipt) {
        rv = rv ? rv : vt_mp_write_cstr(w, "result");
        return rv ? rv : vt_mp_write_bin(w, result_ok->data, result_ok->len);
    }
    rv = rv ? rv : vt_mp_write_cstr(w, "error");
    rv = rv ? rv : vt_mp_write_int(w, j->error);
    if (j->error_msg) {
        rv = rv ? rv : vt_mp_write_cstr(w, "error_msg");
        rv = rv ? rv : vt_mp_write_cstr(w, j->error_msg);
    }
    rv = rv ? rv : vt_mp_write_cstr(w, "verdicts");
    rv = rv ? rv : vt_mp_write_array(w, j->n_verdicts);
    for (unsigned i = 0; i < j->n_verdicts && !rv; i++) {
        const vt_job_verdict *v = &j->verdicts[i];
        rv = vt_mp_write_array(w, 4);
        rv = rv ? rv : vt_mp_write_bin(w, v->verifier, VT_PUBKEY_BYTES);
        rv = rv ? rv : vt_mp_write_bool(w, v->pass);
        rv = rv ? rv : vt_mp_write_uint(w, (uint64_t)v->fault);
        rv = rv ? rv : vt_mp_write_uint(w, v->first_divergence);
    }
    rv = rv ? rv : vt_mp_write_cstr(w, "receipt");
    return rv ? rv : vt_mp_write_bin(w, receipt->data, receipt->len);
}

static int decode_verdicts(vt_mp_reader *r, sc_final_view *v)
{
    uint32_t n, four;
    if (vt_mp_read_array(r, &n) != 0 || n > SC_MAX_VERDICTS)
        return VT_ERR_FORMAT;
    for (uint32_t i = 0; i < n; i++) {
        vt_job_verdict *jv = &v->verdicts[i];
        const uint8_t *pk;
        uint32_t pkl;
        uint64_t fault, div;
        if (vt_mp_read_array(r, &four) != 0 || four != 4 ||
            vt_mp_read_bin(r, &pk, &pkl) != 0 || pkl != VT_PUBKEY_BYTES ||
            vt_mp_read_bool(r, &jv->pass) != 0 || vt_mp_read_uint(r, &fault) != 0 ||
            fault > VT_FAULT_MALFORMED || vt_mp_read_uint(r, &div) != 0 || div > UINT32_MAX)
            return VT_ERR_FORMAT;
        memcpy(jv->verifier, pk, VT_PUBKEY_BYTES);
        jv->fault = (vt_fault)fault;
        jv->first_divergence = (uint32_t)div;
    }
    v->n_verdicts = n;
    return 0;
}

/* Read a stored record (bounded reader; unknown keys skipped). kind is
 * "submit" or "final"; fields not present stay zero. */
int sc_record_decode(const uint8_t *buf, size_t len, sc_final_view *v)
{
    memset(v, 0, sizeof *v);
    vt_mp_reader r;
    vt_mp_reader_init(&r, buf, len);
    uint32_t n;
    if (vt_mp_read_map(&r, &n) != 0)
        return VT_ERR_FORMAT;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t kl;
        if (vt_mp_read_str(&r, &k, &kl) != 0)
            return VT_ERR_FORMAT;
        int rv = 0;
        uint64_t u = 0;
        const char *sv;
        uint32_t sl;
        const uint8_t *b;
        uint32_t bl;
#define KEY(name) vt_mp_str_eq(k, kl, name)
        if (KEY("kind")) {
            if ((rv = vt_mp_read_str(&r, &sv, &sl)) == 0)
                v->is_final = vt_mp_str_eq(sv, sl, "final");
        } else if (KEY("agent")) {
            if ((rv = vt_mp_read_str(&r, &sv, &sl)) == 0) {
                if (sl >= sizeof v->agent)
                    return VT_ERR_FORMAT;
                memcpy(v->agent, sv, sl);
                v->agent[sl] = 0;
            }
        } else if (KEY("id")) {
            rv = vt_mp_read_uint(&r, &v->id);
        } else if (KEY("state")) {
            if ((rv = vt_mp_read_uint(&r, &u)) == 0) {
                if (u >= VT_JOB_STATE__COUNT)
                    return VT_ERR_FORMAT;
                v->state = (int)u;
            }
        } else if (KEY("submitted_ms")) {
            rv = vt_mp_read_uint(&r, &v->submitted_ms);
        } else if (KEY("leased_ms")) {
            rv = vt_mp_read_uint(&r, &v->leased_ms);
        } else if (KEY("computed_ms")) {
            rv = vt_mp_read_uint(&r, &v->computed_ms);
        } else if (KEY("finished_ms")) {
            rv = vt_mp_read_uint(&r, &v->finished_ms);
        } else if (KEY("deadline_ms")) {
            rv = vt_mp_read_uint(&r, &v->deadline_ms);
        } else if (KEY("attempts")) {
            if ((rv = vt_mp_read_uint(&r, &u)) == 0)
                v->attempts = (uint32_t)(u > 255 ? 255 : u);
        } else if (KEY("required") || KEY("passed") || KEY("failed")) {
            if ((rv = vt_mp_read_uint(&r, &u)) == 0) {
                uint32_t x = (uint32_t)(u > 255 ? 255 : u);
                if (KEY("required"))
                    v->verify.required = x;
                else if (KEY("passed"))
                    v->verify.passed = x;
                else
                    v->verify.failed = x;
            }
        } else if (KEY("worker")) {
            if ((rv = vt_mp_read_bin(&r, &b, &bl)) == 0) {
                if (bl != 32)
                    return VT_ERR_FORMAT;
                memcpy(v->worker, b, 32);
                v->has_worker = true;
            }
        } else if (KEY("result")) {
            if ((rv = vt_mp_read_bin(&r, &b, &bl)) == 0) {
                v->result = b;
                v->result_len = bl;
            }
        } else if (KEY("submit")) {
            if ((rv = vt_mp_read_bin(&r, &b, &bl)) == 0) {
                v->submit = b;
                v->submit_len = bl;
            }
        } else if (KEY("receipt")) {
            if ((rv = vt_mp_read_bin(&r, &b, &bl)) == 0) {
                v->receipt = b;
                v->receipt_len = bl;
            }
        } else if (KEY("error")) {
            int64_t e;
            if ((rv = vt_mp_read_int(&r, &e)) == 0) {
                if (e < INT32_MIN || e > 0)
                    return VT_ERR_FORMAT;
                v->error = (int32_t)e;
            }
        } else if (KEY("error_msg")) {
            rv = vt_mp_read_str(&r, &v->error_msg, &v->error_msg_len);
        } else if (KEY("verdicts")) {
            rv = decode_verdicts(&r, v);
        } else {
            rv = vt_mp_skip(&r);
        }
#undef KEY
        if (rv)
            return VT_ERR_FORMAT;
    }
    if (!v->agent[0])
        return VT_ERR_FORMAT;
    if (v->is_final && !v->result && !v->receipt)
        return VT_ERR_FORMAT;
    if (!v->is_final && (!v->submit || !v->id))
        return VT_ERR_FORMAT;
    return 0;
}

int sc_record_decode_final(const uint8_t *buf, size_t len, sc_final_view *v)
{
    int rv = sc_record_decode(buf, len, v);
    if (rv == 0 && !v->is_final)
        return VT_ERR_NOTFOUND;
    return rv;
}

/* The result_ok reply of a final record: stored whole, or rebuilt from the
 * receipt as sc_record_result_ok built it from the job. */
int sc_record_reply(const sc_final_view *v, uint64_t job_id, vt_buf *out)
{
    if (v->result)
        return vt_buf_append(out, v->result, v->result_len);
    vt_errinfo ei = {0};
    vt_receipt_file rf;
    int rv = vt_receipt_decode(v->receipt, v->receipt_len, &rf, &ei);
    if (rv)
        return rv;
    char *msg = NULL;
    if (v->error_msg && !(msg = strndup(v->error_msg, v->error_msg_len))) {
        vt_receipt_file_free(&rf);
        return VT_ERR_NOMEM;
    }
    vt_msg m;
    vt_msg_init(&m, VT_MSG_RESULT_OK);
    vt_msg_result_ok *r = &m.u.result_ok;
    sc_job_id_format(job_id, r->job_id);
    r->state = (vt_job_state)v->state;
    r->error = v->error;
    r->error_msg = msg;
    const vt_wire_result *w = &rf.r.result;
    if (reply_has_outputs(v->state)) {
        r->tokens = w->tokens;
        r->n_tokens = w->n_tokens;
        r->text = w->text;
        r->text_len = w->text_len;
        r->embedding = w->embedding;
        r->n_embedding = w->n_embedding;
        r->stop_reason = w->stop_reason;
        memcpy(r->trace_digest, w->trace_digest, VT_DIGEST_BYTES);
    }
    memcpy(r->model_sha256, rf.r.model_sha256, VT_SHA256_BYTES);
    memcpy(r->worker, rf.r.worker.node_pk, VT_PUBKEY_BYTES);
    r->verify = v->verify;
    r->verdicts = v->verdicts;
    r->n_verdicts = v->n_verdicts;
    r->receipt = v->receipt;
    r->receipt_len = (uint32_t)v->receipt_len;
    r->submitted_ms = v->submitted_ms;
    r->finished_ms = v->finished_ms;
    rv = vt_msg_encode(&m, out, &ei);
    free(msg);
    vt_receipt_file_free(&rf);
    return rv;
}

/* The receipt a final record holds, in either form (scratch: decoded reply
 * of the older form, to vt_msg_free after use). */
int sc_record_receipt_of(const sc_final_view *v, const uint8_t **receipt, size_t *len,
                         vt_msg *scratch)
{
    vt_msg_init(scratch, VT_MSG_RESULT_OK);
    if (v->receipt) {
        *receipt = v->receipt;
        *len = v->receipt_len;
        return 0;
    }
    vt_errinfo ei = {0};
    if (vt_msg_decode(v->result, v->result_len, scratch, &ei) != 0 ||
        scratch->type != VT_MSG_RESULT_OK || scratch->u.result_ok.receipt_len == 0)
        return VT_ERR_NOTFOUND;
    *receipt = scratch->u.result_ok.receipt;
    *len = scratch->u.result_ok.receipt_len;
    return 0;
}

/* The receipt body of a job that has a worker result (vt_receipt.h): the
 * worker's signed result with its batch attestation and every verdict on
 * that result with its verifier's. The job is in SC_PH_FINAL (immutable). */
int sc_receipt_body(const sched *s, const sc_job *j, const char *agent, vt_buf *out)
{
    const sc_result *res = j->result;
    const vt_job_spec *sp = &j->spec_msg.u.submit.job;
    if (!res)
        return VT_ERR_NOTFOUND;
    vt_receipt r;
    memset(&r, 0, sizeof r);
    sc_job_id_format(j->id, r.job_id);
    snprintf(r.agent_id, sizeof r.agent_id, "%s", agent);
    memcpy(r.model_sha256, s->models[j->model].sha256, VT_SHA256_BYTES);
    r.prompt = sp->prompt_tokens;
    r.n_prompt = sp->n_prompt_tokens;
    r.sampling = sp->sampling;
    r.max_tokens = sp->max_tokens;
    r.stop = sp->stop;
    r.n_stop = sp->n_stop;
    /* The policy as asked, in its canonical form ("full" -> "full:1"); a
     * sampled job the coin skipped says "sampled:P" and has no verdicts. */
    vt_verify_policy pol = {VT_VERIFY_FULL, 1, 0};
    vt_errinfo pei = {0};
    if (sp->verify && vt_verify_policy_parse(sp->verify, &pol, &pei) != 0)
        pol = (vt_verify_policy){VT_VERIFY_FULL, j->verify_k ? j->verify_k : 1, 0};
    if (vt_verify_policy_format(&pol, r.policy, sizeof r.policy) != 0)
        snprintf(r.policy, sizeof r.policy, "%s", sp->verify ? sp->verify : "full:1");
    vt_wire_result *w = &r.result;
    sc_job_id_format(j->id, w->job_id);
    w->lease_id = res->lease_id;
    w->status = res->status;
    memcpy(w->model_sha256, res->model_sha256, VT_SHA256_BYTES);
    memcpy(w->prompt_digest, res->prompt_digest, VT_HASH_BYTES);
    w->tokens = res->tokens;
    w->n_tokens = res->n_tokens;
    w->text = res->text;
    w->text_len = res->text_len;
    w->embedding = res->embedding;
    w->n_embedding = res->n_embedding;
    w->stop_reason = res->stop_reason;
    memcpy(w->trace_digest, res->trace_digest, VT_DIGEST_BYTES);
    w->n_layers = res->n_layers;
    w->layer_digests = res->layer_digests;
    w->proof = res->proof;
    memcpy(r.worker.node_pk, res->worker, VT_PUBKEY_BYTES);
    memcpy(r.worker.batch_root, res->batch_root, VT_HASH_BYTES);
    memcpy(r.worker.batch_sig, res->batch_sig, VT_SIG_BYTES);
    r.worker.proof = res->proof;
    vt_receipt_verdict vds[SC_MAX_VERDICTS];
    for (unsigned i = 0; i < j->n_vrec; i++) {
        const sc_vrec *vr = j->vrec[i];
        vds[i].v = vr->v;
        memcpy(vds[i].att.node_pk, vr->node_pk, VT_PUBKEY_BYTES);
        memcpy(vds[i].att.batch_root, vr->batch_root, VT_HASH_BYTES);
        memcpy(vds[i].att.batch_sig, vr->batch_sig, VT_SIG_BYTES);
        vds[i].att.proof = vr->v.proof;
    }
    r.verdicts = vds;
    r.n_verdicts = j->n_vrec;
    r.submitted_ms = (uint64_t)j->wall_submit_ms;
    r.computed_ms = (uint64_t)j->wall_computed_ms;
    r.finished_ms = (uint64_t)j->wall_done_ms;
    sc_mem_receipt(j, &r); /* the memory head and text a memory job's prompt had */
    vt_errinfo ei = {0};
    return vt_receipt_body(&r, out, &ei);
}
