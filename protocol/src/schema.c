/* schema.c - field tables for every message (docs/protocol.md mirrors
 * these one to one) and the cross-field checks that a table cannot say. */
#include <math.h>
#include <string.h>

#include "wire.h"

_Static_assert(sizeof(vt_job_state) == sizeof(int), "enums travel through int");
_Static_assert(sizeof(vt_job_kind) == sizeof(int), "enums travel through int");
_Static_assert(sizeof(vt_hello_role) == sizeof(int), "enums travel through int");
_Static_assert(sizeof(vt_fault) == sizeof(int), "enums travel through int");
_Static_assert(sizeof(vt_ack) == sizeof(int), "enums travel through int");

#define FLD(st, nm, k, fl, mem, ...) \
    {.name = nm, .kind = k, .flags = fl, .off = offsetof(st, mem), __VA_ARGS__}
#define CNT(st, mem) .off2 = offsetof(st, mem)
#define NAMES(tbl, n) .sub = tbl, .n_names = n
#define SCHEMA(nm, st, tbl, chk) \
    {nm, tbl, sizeof(tbl) / sizeof(tbl[0]), sizeof(st), chk}

/* ------------------------------------------------------------- checks */

static int check_sampling(const void *obj, vt_errinfo *ei)
{
    const vt_sampling *s = obj;
    if (!isfinite(s->temperature) || s->temperature < 0.0f || s->temperature > 100.0f)
        return vt_fail(ei, VT_ERR_PROTO, "field 'temp': must be in [0, 100]");
    if (!isfinite(s->top_p) || s->top_p < 0.0f || s->top_p > 1.0f)
        return vt_fail(ei, VT_ERR_PROTO, "field 'top_p': must be in [0, 1]");
    return 0;
}

static int check_submit(const void *obj, vt_errinfo *ei)
{
    const vt_msg_submit *m = obj;
    const vt_job_spec *j = &m->job;
    if (!m->api_key || !m->api_key[0])
        return vt_fail(ei, VT_ERR_PROTO, "field 'key': empty");
    if (!j->model || !j->model[0])
        return vt_fail(ei, VT_ERR_PROTO, "field 'model': empty");
    bool text = j->prompt != NULL, toks = j->prompt_tokens != NULL;
    if (text == toks)
        return vt_fail(ei, VT_ERR_PROTO,
                       "field 'prompt': give exactly one of 'prompt' and 'prompt_tokens'");
    if (toks && j->n_prompt_tokens == 0)
        return vt_fail(ei, VT_ERR_PROTO, "field 'prompt_tokens': empty");
    if (j->kind != VT_KIND_EMBED && j->max_tokens == 0)
        return vt_fail(ei, VT_ERR_PROTO, "field 'max_tokens': must be >= 1");
    if (j->max_tokens > VT_PROTO_MAX_OUTPUT_TOKENS)
        return vt_fail(ei, VT_ERR_TOOBIG, "field 'max_tokens': %u > %u",
                       (unsigned)j->max_tokens, VT_PROTO_MAX_OUTPUT_TOKENS);
    if (j->verify) {
        vt_verify_policy p;
        vt_errinfo sub = {0};
        if (vt_verify_policy_parse(j->verify, &p, &sub))
            return vt_fail(ei, VT_ERR_PROTO, "field 'verify': %s", sub.detail);
    }
    if (j->delivery && strcmp(j->delivery, "verified") && strcmp(j->delivery, "optimistic"))
        return vt_fail(ei, VT_ERR_PROTO,
                       "field 'delivery': expected \"verified\" or \"optimistic\"");
    if (j->memory_k > VT_PROTO_MAX_MEMORY_K)
        return vt_fail(ei, VT_ERR_TOOBIG, "field 'memory_k': %u > %u",
                       (unsigned)j->memory_k, VT_PROTO_MAX_MEMORY_K);
    return check_sampling(&j->sampling, ei);
}

static int check_error(const void *obj, vt_errinfo *ei)
{
    const vt_msg_error *m = obj;
    if (m->code >= 0)
        return vt_fail(ei, VT_ERR_PROTO, "field 'code': must be a negative vt_err code");
    return 0;
}

static int check_fetch(const void *obj, vt_errinfo *ei)
{
    const vt_msg_fetch *m = obj;
    if (m->max_jobs == 0 || m->max_jobs > VT_PROTO_MAX_BATCH)
        return vt_fail(ei, VT_ERR_PROTO, "field 'max_jobs': must be 1..%u", VT_PROTO_MAX_BATCH);
    return 0;
}

static int check_wire_job(const void *obj, vt_errinfo *ei)
{
    const vt_wire_job *j = obj;
    if (j->kind != VT_KIND_EMBED && j->max_tokens == 0)
        return vt_fail(ei, VT_ERR_PROTO, "field 'max_tokens': must be >= 1");
    if (j->n_prompt == 0)
        return vt_fail(ei, VT_ERR_PROTO, "field 'prompt': empty");
    return check_sampling(&j->sampling, ei);
}

static int check_proof(const void *obj, vt_errinfo *ei)
{
    const vt_merkle_proof *p = obj;
    if (p->n == 0 || p->index >= p->n)
        return vt_fail(ei, VT_ERR_PROTO, "field 'i': leaf %u outside a batch of %u",
                       (unsigned)p->index, (unsigned)p->n);
    return 0;
}

static int check_task(const void *obj, vt_errinfo *ei)
{
    const vt_wire_task *t = obj;
    if (t->n_prompt == 0)
        return vt_fail(ei, VT_ERR_PROTO, "field 'prompt': empty");
    return check_sampling(&t->sampling, ei);
}

static int check_batch_count(uint32_t n, vt_errinfo *ei)
{
    if (n == 0)
        return vt_fail(ei, VT_ERR_PROTO, "batch is empty");
    return 0;
}
static int check_results(const void *obj, vt_errinfo *ei)
{
    return check_batch_count(((const vt_msg_results *)obj)->n_results, ei);
}
static int check_verdicts(const void *obj, vt_errinfo *ei)
{
    return check_batch_count(((const vt_msg_verdicts *)obj)->n_verdicts, ei);
}

/* ------------------------------------------------------------- tables */

static const vt_field f_sampling[] = {
    FLD(vt_sampling, "temp", FK_F32, 0, temperature),
    FLD(vt_sampling, "top_k", FK_U32, 0, top_k),
    FLD(vt_sampling, "top_p", FK_F32, 0, top_p),
    FLD(vt_sampling, "seed", FK_U64, 0, seed),
};
static const vt_schema s_sampling = SCHEMA("sampling", vt_sampling, f_sampling, check_sampling);

static const vt_field f_summary[] = {
    FLD(vt_verify_summary, "required", FK_U32, 0, required),
    FLD(vt_verify_summary, "passed", FK_U32, 0, passed),
    FLD(vt_verify_summary, "failed", FK_U32, 0, failed),
    FLD(vt_verify_summary, "pending", FK_U32, 0, pending),
};
static const vt_schema s_summary = SCHEMA("verify", vt_verify_summary, f_summary, NULL);

static const vt_field f_proof[] = {
    FLD(vt_merkle_proof, "i", FK_U32, FF_REQ, index),
    FLD(vt_merkle_proof, "n", FK_U32, FF_REQ, n),
    FLD(vt_merkle_proof, "path", FK_PATH, FF_REQ, path, CNT(vt_merkle_proof, path_len),
        .max = VT_MERKLE_MAX_DEPTH),
};
static const vt_schema s_proof = SCHEMA("proof", vt_merkle_proof, f_proof, check_proof);

static const vt_field f_error[] = {
    FLD(vt_msg_error, "code", FK_I32, FF_REQ, code),
    FLD(vt_msg_error, "name", FK_CSTR, 0, name, .max = VT_SHORT_STR_MAX),
    FLD(vt_msg_error, "msg", FK_CSTR, 0, msg, .max = VT_ERRMSG_MAX),
    FLD(vt_msg_error, "retry_ms", FK_U32, 0, retry_ms),
};

#define J(mem) job.mem
static const vt_field f_submit[] = {
    FLD(vt_msg_submit, "key", FK_PSTR, FF_REQ, api_key, .max = VT_API_KEY_MAX),
    FLD(vt_msg_submit, "model", FK_PSTR, FF_REQ, J(model), .max = VT_MODEL_NAME_MAX),
    FLD(vt_msg_submit, "prompt", FK_TEXT, 0, J(prompt), CNT(vt_msg_submit, J(prompt_len)),
        .max = VT_PROTO_MAX_PROMPT_BYTES),
    FLD(vt_msg_submit, "prompt_tokens", FK_TOKENS, 0, J(prompt_tokens),
        CNT(vt_msg_submit, J(n_prompt_tokens)), .max = VT_PROTO_MAX_PROMPT_TOKENS),
    FLD(vt_msg_submit, "max_tokens", FK_U32, FF_REQ, J(max_tokens)),
    FLD(vt_msg_submit, "sampling", FK_OBJ, 0, J(sampling), .sub = &s_sampling),
    FLD(vt_msg_submit, "stop", FK_STRLIST, 0, J(stop), CNT(vt_msg_submit, J(n_stop)),
        .max = VT_PROTO_MAX_STOP, .max2 = VT_PROTO_MAX_STOP_LEN),
    FLD(vt_msg_submit, "priority", FK_I32, 0, J(priority)),
    FLD(vt_msg_submit, "deadline_ms", FK_U32, 0, J(deadline_ms)),
    FLD(vt_msg_submit, "verify", FK_PSTR, 0, J(verify), .max = VT_SHORT_STR_MAX),
    FLD(vt_msg_submit, "delivery", FK_PSTR, 0, J(delivery), .max = VT_SHORT_STR_MAX),
    FLD(vt_msg_submit, "kind", FK_ENUM, 0, J(kind), NAMES(vt_job_kind_names, 2)),
    FLD(vt_msg_submit, "memory_k", FK_U32, 0, J(memory_k)),
    FLD(vt_msg_submit, "memory_query", FK_PSTR, 0, J(memory_query), .max = VT_MEMORY_QUERY_MAX),
    FLD(vt_msg_submit, "remember", FK_BOOL, 0, J(remember)),
    FLD(vt_msg_submit, "req_token", FK_FIXBIN, FF_REQ, J(request_token),
        .max = VT_REQUEST_TOKEN_BYTES),
    FLD(vt_msg_submit, "wait_ms", FK_U32, 0, wait_ms),
};
#undef J

static const vt_field f_submit_ok[] = {
    FLD(vt_msg_submit_ok, "job_id", FK_ID, FF_REQ, job_id, .max = VT_JOB_ID_MAX),
    FLD(vt_msg_submit_ok, "duplicate", FK_BOOL, 0, duplicate),
};

static const vt_field f_job_ref[] = {
    FLD(vt_msg_job_ref, "key", FK_PSTR, FF_REQ, api_key, .max = VT_API_KEY_MAX),
    FLD(vt_msg_job_ref, "job_id", FK_ID, FF_REQ, job_id, .max = VT_JOB_ID_MAX),
    FLD(vt_msg_job_ref, "wait_ms", FK_U32, 0, wait_ms),
};

static const vt_field f_status_ok[] = {
    FLD(vt_msg_status_ok, "job_id", FK_ID, FF_REQ, job_id, .max = VT_JOB_ID_MAX),
    FLD(vt_msg_status_ok, "state", FK_ENUM, FF_REQ, state,
        NAMES(vt_job_state_names, VT_JOB_STATE__COUNT)),
    FLD(vt_msg_status_ok, "submitted_ms", FK_U64, 0, submitted_ms),
    FLD(vt_msg_status_ok, "leased_ms", FK_U64, 0, leased_ms),
    FLD(vt_msg_status_ok, "computed_ms", FK_U64, 0, computed_ms),
    FLD(vt_msg_status_ok, "finished_ms", FK_U64, 0, finished_ms),
    FLD(vt_msg_status_ok, "worker", FK_CSTR, 0, worker, .max = VT_NODE_ID_HEX),
    FLD(vt_msg_status_ok, "attempts", FK_U32, 0, attempts),
    FLD(vt_msg_status_ok, "verify", FK_OBJ, 0, verify, .sub = &s_summary),
};

static const vt_field f_job_verdict[] = {
    FLD(vt_job_verdict, "verifier", FK_FIXBIN, FF_REQ, verifier, .max = VT_PUBKEY_BYTES),
    FLD(vt_job_verdict, "pass", FK_BOOL, FF_REQ, pass),
    FLD(vt_job_verdict, "fault", FK_ENUM, FF_REQ, fault, NAMES(vt_fault_names, 5)),
    FLD(vt_job_verdict, "first_div", FK_U32, FF_REQ, first_divergence),
};
static const vt_schema s_job_verdict = SCHEMA("verdict", vt_job_verdict, f_job_verdict, NULL);

static const vt_field f_result_ok[] = {
    FLD(vt_msg_result_ok, "job_id", FK_ID, FF_REQ, job_id, .max = VT_JOB_ID_MAX),
    FLD(vt_msg_result_ok, "state", FK_ENUM, FF_REQ, state,
        NAMES(vt_job_state_names, VT_JOB_STATE__COUNT)),
    FLD(vt_msg_result_ok, "error", FK_I32, 0, error),
    FLD(vt_msg_result_ok, "error_msg", FK_PSTR, 0, error_msg, .max = VT_ERRMSG_MAX),
    FLD(vt_msg_result_ok, "tokens", FK_TOKENS, 0, tokens, CNT(vt_msg_result_ok, n_tokens),
        .max = VT_PROTO_MAX_OUTPUT_TOKENS),
    FLD(vt_msg_result_ok, "text", FK_TEXT, 0, text, CNT(vt_msg_result_ok, text_len),
        .max = VT_PROTO_MAX_TEXT_BYTES),
    FLD(vt_msg_result_ok, "embedding", FK_FLOATS, 0, embedding,
        CNT(vt_msg_result_ok, n_embedding), .max = VT_PROTO_MAX_EMBEDDING),
    FLD(vt_msg_result_ok, "stop", FK_ENUM, 0, stop_reason, NAMES(vt_stop_names, 4)),
    FLD(vt_msg_result_ok, "model", FK_FIXBIN, 0, model_sha256, .max = VT_SHA256_BYTES),
    FLD(vt_msg_result_ok, "trace", FK_FIXBIN, 0, trace_digest, .max = VT_DIGEST_BYTES),
    FLD(vt_msg_result_ok, "worker", FK_FIXBIN, 0, worker, .max = VT_PUBKEY_BYTES),
    FLD(vt_msg_result_ok, "verify", FK_OBJ, 0, verify, .sub = &s_summary),
    FLD(vt_msg_result_ok, "verdicts", FK_OBJS, 0, verdicts, CNT(vt_msg_result_ok, n_verdicts),
        .max = VT_PROTO_MAX_VERDICTS, .sub = &s_job_verdict),
    FLD(vt_msg_result_ok, "receipt", FK_VBIN, 0, receipt, CNT(vt_msg_result_ok, receipt_len),
        .max = VT_PROTO_MAX_RECEIPT),
    FLD(vt_msg_result_ok, "submitted_ms", FK_U64, 0, submitted_ms),
    FLD(vt_msg_result_ok, "finished_ms", FK_U64, 0, finished_ms),
};

static const vt_field f_cancel_ok[] = {
    FLD(vt_msg_cancel_ok, "job_id", FK_ID, FF_REQ, job_id, .max = VT_JOB_ID_MAX),
    FLD(vt_msg_cancel_ok, "state", FK_ENUM, FF_REQ, state,
        NAMES(vt_job_state_names, VT_JOB_STATE__COUNT)),
};

static const vt_field f_model_ref[] = {
    FLD(vt_model_ref, "sha256", FK_FIXBIN, FF_REQ, sha256, .max = VT_SHA256_BYTES),
    FLD(vt_model_ref, "name", FK_PSTR, 0, name, .max = VT_MODEL_NAME_MAX),
};
static const vt_schema s_model_ref = SCHEMA("model", vt_model_ref, f_model_ref, NULL);

static const vt_field f_hello[] = {
    FLD(vt_msg_hello, "node", FK_FIXBIN, FF_REQ, node_pk, .max = VT_PUBKEY_BYTES),
    FLD(vt_msg_hello, "role", FK_ENUM, FF_REQ, role, NAMES(vt_hello_role_names, 3)),
    FLD(vt_msg_hello, "models", FK_OBJS, FF_REQ, models, CNT(vt_msg_hello, n_models),
        .max = VT_PROTO_MAX_MODELS, .sub = &s_model_ref),
    FLD(vt_msg_hello, "device", FK_PSTR, 0, device, .max = VT_SHORT_STR_MAX),
    FLD(vt_msg_hello, "slots", FK_U32, FF_REQ, slots),
    FLD(vt_msg_hello, "version", FK_PSTR, 0, version, .max = VT_SHORT_STR_MAX),
    FLD(vt_msg_hello, "time_ms", FK_U64, FF_REQ, time_ms),
    FLD(vt_msg_hello, "nonce", FK_FIXBIN, FF_REQ, nonce, .max = VT_NONCE_BYTES),
    FLD(vt_msg_hello, "sig", FK_FIXBIN, FF_REQ, sig, .max = VT_SIG_BYTES),
};

static const vt_field f_hello_ok[] = {
    FLD(vt_msg_hello_ok, "session", FK_ID, FF_REQ, session, .max = VT_SESSION_MAX),
    FLD(vt_msg_hello_ok, "lease_ms", FK_U32, FF_REQ, lease_ms),
    FLD(vt_msg_hello_ok, "heartbeat_ms", FK_U32, FF_REQ, heartbeat_ms),
    FLD(vt_msg_hello_ok, "scheduler", FK_FIXBIN, FF_REQ, scheduler_pk, .max = VT_PUBKEY_BYTES),
};

static const vt_field f_fetch[] = {
    FLD(vt_msg_fetch, "session", FK_ID, FF_REQ, session, .max = VT_SESSION_MAX),
    FLD(vt_msg_fetch, "free_slots", FK_U32, FF_REQ, free_slots),
    FLD(vt_msg_fetch, "max_jobs", FK_U32, FF_REQ, max_jobs),
    FLD(vt_msg_fetch, "wait_ms", FK_U32, 0, wait_ms),
};

static const vt_field f_wire_job[] = {
    FLD(vt_wire_job, "job_id", FK_ID, FF_REQ, job_id, .max = VT_JOB_ID_MAX),
    FLD(vt_wire_job, "lease_id", FK_U64, FF_REQ, lease_id),
    FLD(vt_wire_job, "kind", FK_ENUM, 0, kind, NAMES(vt_job_kind_names, 2)),
    FLD(vt_wire_job, "model", FK_FIXBIN, FF_REQ, model_sha256, .max = VT_SHA256_BYTES),
    FLD(vt_wire_job, "prompt", FK_TOKENS, FF_REQ, prompt, CNT(vt_wire_job, n_prompt),
        .max = VT_PROTO_MAX_PROMPT_TOKENS),
    FLD(vt_wire_job, "max_tokens", FK_U32, FF_REQ, max_tokens, .max = VT_PROTO_MAX_OUTPUT_TOKENS),
    FLD(vt_wire_job, "sampling", FK_OBJ, 0, sampling, .sub = &s_sampling),
    FLD(vt_wire_job, "stop", FK_STRLIST, 0, stop, CNT(vt_wire_job, n_stop),
        .max = VT_PROTO_MAX_STOP, .max2 = VT_PROTO_MAX_STOP_LEN),
    FLD(vt_wire_job, "lease_ms", FK_U32, FF_REQ, lease_ms),
    FLD(vt_wire_job, "deadline_ms", FK_U32, 0, deadline_ms),
};
static const vt_schema s_wire_job = SCHEMA("job", vt_wire_job, f_wire_job, check_wire_job);

static const vt_field f_fetch_ok[] = {
    FLD(vt_msg_fetch_ok, "jobs", FK_OBJS, FF_REQ, jobs, CNT(vt_msg_fetch_ok, n_jobs),
        .max = VT_PROTO_MAX_BATCH, .sub = &s_wire_job),
};

static const vt_field f_wire_result[] = {
    FLD(vt_wire_result, "job_id", FK_ID, FF_REQ, job_id, .max = VT_JOB_ID_MAX),
    FLD(vt_wire_result, "lease_id", FK_U64, FF_REQ, lease_id),
    FLD(vt_wire_result, "status", FK_I32, FF_REQ, status),
    FLD(vt_wire_result, "model", FK_FIXBIN, FF_REQ, model_sha256, .max = VT_SHA256_BYTES),
    FLD(vt_wire_result, "prompt_digest", FK_FIXBIN, FF_REQ, prompt_digest, .max = VT_HASH_BYTES),
    FLD(vt_wire_result, "tokens", FK_TOKENS, FF_REQ, tokens, CNT(vt_wire_result, n_tokens),
        .max = VT_PROTO_MAX_OUTPUT_TOKENS),
    FLD(vt_wire_result, "text", FK_TEXT, 0, text, CNT(vt_wire_result, text_len),
        .max = VT_PROTO_MAX_TEXT_BYTES),
    FLD(vt_wire_result, "embedding", FK_FLOATS, 0, embedding, CNT(vt_wire_result, n_embedding),
        .max = VT_PROTO_MAX_EMBEDDING),
    FLD(vt_wire_result, "stop", FK_ENUM, FF_REQ, stop_reason, NAMES(vt_stop_names, 4)),
    FLD(vt_wire_result, "trace", FK_FIXBIN, FF_REQ, trace_digest, .max = VT_DIGEST_BYTES),
    FLD(vt_wire_result, "layers", FK_DIGESTS, 0, layer_digests, CNT(vt_wire_result, n_layers),
        .max = VT_PROTO_MAX_LAYERS),
    FLD(vt_wire_result, "queue_us", FK_U64, 0, queue_us),
    FLD(vt_wire_result, "prefill_us", FK_U64, 0, prefill_us),
    FLD(vt_wire_result, "decode_us", FK_U64, 0, decode_us),
    FLD(vt_wire_result, "proof", FK_OBJ, FF_REQ, proof, .sub = &s_proof),
};
static const vt_schema s_wire_result = SCHEMA("result", vt_wire_result, f_wire_result, NULL);

static const vt_field f_results[] = {
    FLD(vt_msg_results, "session", FK_ID, FF_REQ, session, .max = VT_SESSION_MAX),
    FLD(vt_msg_results, "results", FK_OBJS, FF_REQ, results, CNT(vt_msg_results, n_results),
        .max = VT_PROTO_MAX_BATCH, .sub = &s_wire_result),
    FLD(vt_msg_results, "root", FK_FIXBIN, FF_REQ, root, .max = VT_HASH_BYTES),
    FLD(vt_msg_results, "sig", FK_FIXBIN, FF_REQ, sig, .max = VT_SIG_BYTES),
};

static const vt_field f_acks[] = {
    FLD(vt_msg_acks, "acks", FK_ENUMLIST, FF_REQ, acks, CNT(vt_msg_acks, n_acks),
        .max = VT_PROTO_MAX_BATCH, NAMES(vt_ack_names, 4)),
};

static const vt_field f_heartbeat[] = {
    FLD(vt_msg_heartbeat, "session", FK_ID, FF_REQ, session, .max = VT_SESSION_MAX),
    FLD(vt_msg_heartbeat, "leases", FK_U64LIST, 0, lease_ids, CNT(vt_msg_heartbeat, n_lease_ids),
        .max = VT_PROTO_MAX_LEASES),
    FLD(vt_msg_heartbeat, "busy_slots", FK_U32, 0, busy_slots),
    FLD(vt_msg_heartbeat, "free_slots", FK_U32, 0, free_slots),
};

static const vt_field f_heartbeat_ok[] = {
    FLD(vt_msg_heartbeat_ok, "cancel", FK_U64LIST, 0, cancel, CNT(vt_msg_heartbeat_ok, n_cancel),
        .max = VT_PROTO_MAX_LEASES),
    FLD(vt_msg_heartbeat_ok, "lease_ms", FK_U32, 0, lease_ms),
};

static const vt_field f_release[] = {
    FLD(vt_msg_release, "session", FK_ID, FF_REQ, session, .max = VT_SESSION_MAX),
    FLD(vt_msg_release, "leases", FK_U64LIST, FF_REQ, lease_ids, CNT(vt_msg_release, n_lease_ids),
        .max = VT_PROTO_MAX_LEASES),
};

static const vt_field f_wire_task[] = {
    FLD(vt_wire_task, "task_id", FK_U64, FF_REQ, task_id),
    FLD(vt_wire_task, "lease_id", FK_U64, FF_REQ, lease_id),
    FLD(vt_wire_task, "job_id", FK_ID, FF_REQ, job_id, .max = VT_JOB_ID_MAX),
    FLD(vt_wire_task, "model", FK_FIXBIN, FF_REQ, model_sha256, .max = VT_SHA256_BYTES),
    FLD(vt_wire_task, "prompt", FK_TOKENS, FF_REQ, prompt, CNT(vt_wire_task, n_prompt),
        .max = VT_PROTO_MAX_PROMPT_TOKENS),
    FLD(vt_wire_task, "output", FK_TOKENS, FF_REQ, output, CNT(vt_wire_task, n_output),
        .max = VT_PROTO_MAX_OUTPUT_TOKENS),
    FLD(vt_wire_task, "sampling", FK_OBJ, 0, sampling, .sub = &s_sampling),
    FLD(vt_wire_task, "max_tokens", FK_U32, FF_REQ, max_tokens, .max = VT_PROTO_MAX_OUTPUT_TOKENS),
    FLD(vt_wire_task, "stop", FK_STRLIST, 0, stop, CNT(vt_wire_task, n_stop),
        .max = VT_PROTO_MAX_STOP, .max2 = VT_PROTO_MAX_STOP_LEN),
    FLD(vt_wire_task, "stop_reason", FK_ENUM, FF_REQ, stop_reason, NAMES(vt_stop_names, 4)),
    FLD(vt_wire_task, "trace", FK_FIXBIN, FF_REQ, trace_digest, .max = VT_DIGEST_BYTES),
    FLD(vt_wire_task, "layers", FK_DIGESTS, 0, layer_digests, CNT(vt_wire_task, n_layers),
        .max = VT_PROTO_MAX_LAYERS),
    FLD(vt_wire_task, "worker", FK_FIXBIN, FF_REQ, worker, .max = VT_PUBKEY_BYTES),
    FLD(vt_wire_task, "lease_ms", FK_U32, FF_REQ, lease_ms),
    FLD(vt_wire_task, "kind", FK_ENUM, 0, kind, NAMES(vt_job_kind_names, 2)),
    FLD(vt_wire_task, "embedding", FK_FLOATS, 0, embedding, CNT(vt_wire_task, n_embedding),
        .max = VT_PROTO_MAX_EMBEDDING),
};
static const vt_schema s_wire_task = SCHEMA("task", vt_wire_task, f_wire_task, check_task);

static const vt_field f_vfetch_ok[] = {
    FLD(vt_msg_vfetch_ok, "tasks", FK_OBJS, FF_REQ, tasks, CNT(vt_msg_vfetch_ok, n_tasks),
        .max = VT_PROTO_MAX_BATCH, .sub = &s_wire_task),
};

static const vt_field f_wire_verdict[] = {
    FLD(vt_wire_verdict, "task_id", FK_U64, FF_REQ, task_id),
    FLD(vt_wire_verdict, "lease_id", FK_U64, FF_REQ, lease_id),
    FLD(vt_wire_verdict, "job_id", FK_ID, FF_REQ, job_id, .max = VT_JOB_ID_MAX),
    FLD(vt_wire_verdict, "pass", FK_BOOL, FF_REQ, pass),
    FLD(vt_wire_verdict, "fault", FK_ENUM, FF_REQ, fault, NAMES(vt_fault_names, 5)),
    FLD(vt_wire_verdict, "first_div", FK_U32, FF_REQ, first_divergence),
    FLD(vt_wire_verdict, "replay_trace", FK_FIXBIN, FF_REQ, replay_trace_digest,
        .max = VT_DIGEST_BYTES),
    FLD(vt_wire_verdict, "final_at_div", FK_FIXBIN, 0, final_at_div, .max = VT_DIGEST_BYTES),
    FLD(vt_wire_verdict, "layers_at_div", FK_DIGESTS, 0, layers_at_div,
        CNT(vt_wire_verdict, n_layers), .max = VT_PROTO_MAX_LAYERS),
    FLD(vt_wire_verdict, "replay_us", FK_U64, 0, replay_us),
    FLD(vt_wire_verdict, "proof", FK_OBJ, FF_REQ, proof, .sub = &s_proof),
};
static const vt_schema s_wire_verdict =
    SCHEMA("verdict", vt_wire_verdict, f_wire_verdict, NULL);

static const vt_field f_verdicts[] = {
    FLD(vt_msg_verdicts, "session", FK_ID, FF_REQ, session, .max = VT_SESSION_MAX),
    FLD(vt_msg_verdicts, "verdicts", FK_OBJS, FF_REQ, verdicts, CNT(vt_msg_verdicts, n_verdicts),
        .max = VT_PROTO_MAX_BATCH, .sub = &s_wire_verdict),
    FLD(vt_msg_verdicts, "root", FK_FIXBIN, FF_REQ, root, .max = VT_HASH_BYTES),
    FLD(vt_msg_verdicts, "sig", FK_FIXBIN, FF_REQ, sig, .max = VT_SIG_BYTES),
};

static const vt_schema s_msgs[VT_MSG__COUNT] = {
    [VT_MSG_ERROR] = SCHEMA("error", vt_msg_error, f_error, check_error),
    [VT_MSG_SUBMIT] = SCHEMA("submit", vt_msg_submit, f_submit, check_submit),
    [VT_MSG_SUBMIT_OK] = SCHEMA("submit_ok", vt_msg_submit_ok, f_submit_ok, NULL),
    [VT_MSG_STATUS] = SCHEMA("status", vt_msg_job_ref, f_job_ref, NULL),
    [VT_MSG_STATUS_OK] = SCHEMA("status_ok", vt_msg_status_ok, f_status_ok, NULL),
    [VT_MSG_RESULT] = SCHEMA("result", vt_msg_job_ref, f_job_ref, NULL),
    [VT_MSG_RESULT_OK] = SCHEMA("result_ok", vt_msg_result_ok, f_result_ok, NULL),
    [VT_MSG_CANCEL] = SCHEMA("cancel", vt_msg_job_ref, f_job_ref, NULL),
    [VT_MSG_CANCEL_OK] = SCHEMA("cancel_ok", vt_msg_cancel_ok, f_cancel_ok, NULL),
    [VT_MSG_HELLO] = SCHEMA("hello", vt_msg_hello, f_hello, NULL),
    [VT_MSG_HELLO_OK] = SCHEMA("hello_ok", vt_msg_hello_ok, f_hello_ok, NULL),
    [VT_MSG_FETCH] = SCHEMA("fetch", vt_msg_fetch, f_fetch, check_fetch),
    [VT_MSG_FETCH_OK] = SCHEMA("fetch_ok", vt_msg_fetch_ok, f_fetch_ok, NULL),
    [VT_MSG_RESULTS] = SCHEMA("results", vt_msg_results, f_results, check_results),
    [VT_MSG_RESULTS_OK] = SCHEMA("results_ok", vt_msg_acks, f_acks, NULL),
    [VT_MSG_HEARTBEAT] = SCHEMA("heartbeat", vt_msg_heartbeat, f_heartbeat, NULL),
    [VT_MSG_HEARTBEAT_OK] = SCHEMA("heartbeat_ok", vt_msg_heartbeat_ok, f_heartbeat_ok, NULL),
    [VT_MSG_RELEASE] = SCHEMA("release", vt_msg_release, f_release, NULL),
    [VT_MSG_RELEASE_OK] = {"release_ok", NULL, 0, 0, NULL},
    [VT_MSG_VFETCH] = SCHEMA("vfetch", vt_msg_fetch, f_fetch, check_fetch),
    [VT_MSG_VFETCH_OK] = SCHEMA("vfetch_ok", vt_msg_vfetch_ok, f_vfetch_ok, NULL),
    [VT_MSG_VERDICTS] = SCHEMA("verdicts", vt_msg_verdicts, f_verdicts, check_verdicts),
    [VT_MSG_VERDICTS_OK] = SCHEMA("verdicts_ok", vt_msg_acks, f_acks, NULL),
};

const vt_schema *vt_msg_schema(vt_msg_type t)
{
    return (t > VT_MSG_NONE && t < VT_MSG__COUNT) ? &s_msgs[t] : NULL;
}
