/* test_receipt.c - receipts built from real batch signatures, sealed,
 * decoded and checked offline; every kind of tampering must be caught. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_test.h"

#include "vt_receipt.h"


static const int32_t prompt[] = {1, 345, 678, 90};
static const int32_t output[] = {12, 13, 14, 2};
static uint8_t layer_digests[4 * 32];

static vt_keypair worker, verifier, verifier2, scheduler;

static void make_result(vt_wire_result *r, const char *job, const uint8_t model[32])
{
    memset(r, 0, sizeof *r);
    snprintf(r->job_id, sizeof r->job_id, "%s", job);
    r->lease_id = 7;
    memcpy(r->model_sha256, model, 32);
    vt_hash_tokens(prompt, 4, r->prompt_digest);
    r->tokens = output;
    r->n_tokens = 4;
    r->text = "hello";
    r->text_len = 5;
    r->stop_reason = VT_STOP_EOS;
    memset(r->trace_digest, 0x5a, 32);
    r->n_layers = 4;
    r->layer_digests = layer_digests;
}

/* Builds a receipt for job "job-1" whose result sits at index 1 of a
 * three-result batch, with verdicts by `verdict_keys`. Returns the sealed
 * file bytes in out. */
/* direct: attest by a direct scheduler signature instead of the log. */
static void build(vt_buf *out, const vt_keypair *const *verdict_keys, uint32_t n_verdicts,
                  const bool *pass, uint64_t log_index, bool direct)
{
    uint8_t model[32];
    memset(model, 0x11, 32);
    vt_wire_result res[3];
    make_result(&res[0], "job-0", model);
    make_result(&res[1], "job-1", model);
    make_result(&res[2], "job-2", model);
    vt_msg_results m = {.results = res, .n_results = 3};
    VT_CHECK(vt_results_sign(&m, &worker, NULL) == 0, "results sign");

    vt_receipt r = {0};
    snprintf(r.job_id, sizeof r.job_id, "job-1");
    snprintf(r.agent_id, sizeof r.agent_id, "ag_test");
    memcpy(r.model_sha256, model, 32);
    r.prompt = prompt;
    r.n_prompt = 4;
    r.sampling.temperature = 0.7f;
    r.sampling.top_k = 40;
    r.sampling.top_p = 0.9f;
    r.sampling.seed = 42;
    r.max_tokens = 16;
    snprintf(r.policy, sizeof r.policy, "full:%u", n_verdicts);
    r.result = res[1];
    memcpy(r.worker.node_pk, worker.pk, 32);
    memcpy(r.worker.batch_root, m.root, 32);
    memcpy(r.worker.batch_sig, m.sig, 64);
    r.worker.proof = res[1].proof;

    vt_receipt_verdict rv[4];
    for (uint32_t i = 0; i < n_verdicts; i++) {
        vt_wire_verdict v[2];
        memset(v, 0, sizeof v);
        for (int j = 0; j < 2; j++) {
            v[j].task_id = 100 + (uint64_t)j;
            v[j].lease_id = 9;
            snprintf(v[j].job_id, sizeof v[j].job_id, j ? "job-1" : "job-0");
            v[j].pass = pass[i];
            v[j].fault = pass[i] ? VT_FAULT_NONE : VT_FAULT_WRONG_TOKEN;
            v[j].first_divergence = pass[i] ? VT_POS_NONE : 5;
        }
        vt_msg_verdicts vm = {.verdicts = v, .n_verdicts = 2};
        VT_CHECK(vt_verdicts_sign(&vm, verdict_keys[i], NULL) == 0, "verdicts sign");
        rv[i].v = v[1];
        memcpy(rv[i].att.node_pk, verdict_keys[i]->pk, 32);
        memcpy(rv[i].att.batch_root, vm.root, 32);
        memcpy(rv[i].att.batch_sig, vm.sig, 64);
        rv[i].att.proof = v[1].proof;
    }
    r.verdicts = rv;
    r.n_verdicts = n_verdicts;
    r.submitted_ms = 1000;
    r.computed_ms = 2000;
    r.finished_ms = 3000;
    r.has_memory = true;
    memset(r.memory_head, 0x77, 32);
    r.memory_text = "- the user likes tea\n";
    r.memory_text_len = strlen(r.memory_text);

    vt_buf body;
    vt_buf_init(&body, VT_RECEIPT_MAX_BYTES);
    vt_errinfo ei = {0};
    VT_CHECK(vt_receipt_body(&r, &body, &ei) == 0, "body: %s", ei.detail);
    if (direct) {
        VT_CHECK(vt_receipt_sign(body.data, body.len, log_index, &scheduler, out, &ei) == 0,
              "sign: %s", ei.detail);
    } else {
        /* The scheduler's way: the receipt hash goes into the log at
         * log_index among other receipts, one signed head covers them all. */
        uint8_t h[32];
        vt_receipt_hash(body.data, body.len, h);
        vt_tlog *t;
        VT_CHECK(vt_tlog_new(&t) == 0, "tlog");
        for (uint64_t i = 0; i < log_index + 4; i++) {
            uint8_t other[32], lh[32];
            memset(other, (int)(i + 1), 32);
            vt_tlog_leaf_hash(i == log_index ? h : other, 32, lh);
            VT_CHECK(vt_tlog_append(t, lh, NULL, NULL, NULL) == 0, "append");
        }
        vt_tree_head th = {.size = log_index + 4, .time_ms = 777};
        vt_tlog_proof incl;
        VT_CHECK(vt_tlog_root(t, th.size, th.root) == 0 && vt_tree_head_sign(&th, scheduler.sk) == 0 &&
                  vt_tlog_prove_inclusion(t, log_index, th.size, &incl) == 0,
              "head");
        VT_CHECK(vt_receipt_seal(body.data, body.len, log_index, scheduler.pk, &th, &incl, out,
                              &ei) == 0,
              "seal: %s", ei.detail);
        vt_tlog_free(t);
    }
    vt_buf_free(&body);
}

static int verify_bytes(const uint8_t *b, size_t n, const uint8_t *trusted, vt_receipt_report *rep)
{
    vt_receipt_file f;
    vt_errinfo ei = {0};
    int rv = vt_receipt_decode(b, n, &f, &ei);
    if (rv)
        return rv;
    rv = vt_receipt_verify(&f, trusted, rep, &ei);
    vt_receipt_file_free(&f);
    return rv;
}

static void test_honest(void)
{
    const vt_keypair *keys[] = {&verifier, &verifier2};
    const bool pass[] = {true, true};
    vt_buf out;
    vt_buf_init(&out, VT_RECEIPT_MAX_BYTES);
    build(&out, keys, 2, pass, 3, false);
    vt_receipt_report rep;
    VT_CHECK(verify_bytes(out.data, out.len, scheduler.pk, &rep) == 0, "honest receipt verifies");
    VT_CHECK(rep.worker_sig_ok && rep.scheduler_sig_ok && rep.consistent && rep.log_checked &&
              rep.log_ok,
          "report flags");
    vt_buf direct;
    vt_buf_init(&direct, VT_RECEIPT_MAX_BYTES);
    build(&direct, keys, 2, pass, 5, true);
    VT_CHECK(verify_bytes(direct.data, direct.len, scheduler.pk, &rep) == 0 && rep.scheduler_sig_ok &&
              !rep.log_checked,
          "directly signed receipt verifies");
    vt_buf_free(&direct);
    VT_CHECK(rep.verdicts_ok == 2 && rep.verdicts_pass == 2, "verdicts %u %u", rep.verdicts_ok,
          rep.verdicts_pass);
    VT_CHECK(verify_bytes(out.data, out.len, worker.pk, &rep) == VT_ERR_DENIED,
          "untrusted scheduler key must not pass");

    /* Decoded fields come back exactly. */
    vt_receipt_file f;
    VT_CHECK(vt_receipt_decode(out.data, out.len, &f, NULL) == 0, "decode");
    VT_CHECK(strcmp(f.r.job_id, "job-1") == 0 && f.r.n_prompt == 4 && f.r.result.n_tokens == 4 &&
              f.r.result.tokens[3] == 2 && f.r.sampling.seed == 42 && f.log_index == 3 &&
              f.r.has_memory && f.r.memory_text_len == strlen("- the user likes tea\n"),
          "fields");
    vt_buf js;
    vt_buf_init(&js, VT_RECEIPT_MAX_BYTES);
    VT_CHECK(vt_receipt_json(&f, &js) == 0, "json");
    VT_CHECK(strstr((char *)js.data, "\"job_id\":\"job-1\"") != NULL, "json job id");
    VT_CHECK(strstr((char *)js.data, "\"output_tokens\":[12,13,14,2]") != NULL, "json tokens");
    VT_CHECK(strchr((char *)js.data, ' ') == NULL || strstr((char *)js.data, "likes tea"),
          "no whitespace outside strings");

    /* Attach a log proof: the receipt hash at index 3 of a 9-leaf log. */
    vt_tlog *t;
    VT_CHECK(vt_tlog_new(&t) == 0, "tlog");
    for (uint64_t i = 0; i < 9; i++) {
        uint8_t lh[32], other[32];
        memset(other, (int)i, 32);
        vt_tlog_leaf_hash(i == 3 ? f.hash : other, 32, lh);
        VT_CHECK(vt_tlog_append(t, lh, NULL, NULL, NULL) == 0, "append");
    }
    vt_tree_head th = {.size = 9, .time_ms = 5000};
    VT_CHECK(vt_tlog_root(t, 9, th.root) == 0, "root");
    VT_CHECK(vt_tree_head_sign(&th, scheduler.sk) == 0, "sign head");
    vt_tlog_proof incl;
    VT_CHECK(vt_tlog_prove_inclusion(t, 3, 9, &incl) == 0, "prove");
    vt_buf with;
    vt_buf_init(&with, VT_RECEIPT_MAX_BYTES);
    VT_CHECK(vt_receipt_attach_proof(&f, &th, &incl, &with, NULL) == 0, "attach");
    VT_CHECK(verify_bytes(with.data, with.len, scheduler.pk, &rep) == 0 && rep.log_checked &&
              rep.log_ok,
          "log inclusion verifies");
    incl.hash[1][0] ^= 1;
    vt_buf bad;
    vt_buf_init(&bad, VT_RECEIPT_MAX_BYTES);
    VT_CHECK(vt_receipt_attach_proof(&f, &th, &incl, &bad, NULL) == 0, "attach");
    VT_CHECK(verify_bytes(bad.data, bad.len, scheduler.pk, &rep) == VT_ERR_BADSIG && !rep.log_ok,
          "tampered inclusion proof rejected");
    vt_buf_free(&bad);
    vt_buf_free(&with);
    vt_tlog_free(t);
    vt_buf_free(&js);
    vt_receipt_file_free(&f);

    /* Flip every byte of the file in turn: decoding may fail, but a receipt
     * that still decodes must never verify. */
    int accepted = 0;
    for (size_t i = 0; i < out.len; i++) {
        out.data[i] ^= 0x01;
        if (verify_bytes(out.data, out.len, scheduler.pk, &rep) == 0)
            accepted++;
        out.data[i] ^= 0x01;
    }
    VT_CHECK(accepted == 0, "%d single-bit tamperings accepted", accepted);
    /* Every truncation is a clean error. */
    int truncated_ok = 0;
    for (size_t n = 0; n < out.len; n++)
        truncated_ok += verify_bytes(out.data, n, scheduler.pk, &rep) != 0;
    VT_CHECK(truncated_ok == (int)out.len, "truncations rejected");
    vt_buf_free(&out);
}

static void test_self_verified_and_failed(void)
{
    /* A "verdict" signed by the worker itself never counts as a pass, and a
     * failing verdict is reported as such. */
    const vt_keypair *keys[] = {&worker, &verifier};
    const bool pass[] = {true, false};
    vt_buf out;
    vt_buf_init(&out, VT_RECEIPT_MAX_BYTES);
    build(&out, keys, 2, pass, 0, false);
    vt_receipt_report rep;
    VT_CHECK(verify_bytes(out.data, out.len, scheduler.pk, &rep) == 0, "signatures verify");
    VT_CHECK(rep.verdicts_ok == 2 && rep.verdicts_pass == 0, "self-verification counted: %u",
          rep.verdicts_pass);
    vt_buf_free(&out);
}

int main(void)
{
    if (vt_protocol_init() != 0)
        return 1;
    for (size_t i = 0; i < sizeof layer_digests; i++)
        layer_digests[i] = (uint8_t)i;
    vt_key_generate(&worker);
    vt_key_generate(&verifier);
    vt_key_generate(&verifier2);
    vt_key_generate(&scheduler);
    test_honest();
    test_self_verified_and_failed();
    return vt_test_done();
}
