/* cmd_receipt.c - `verity receipt verify|show`: check a receipt offline,
 * with nothing but the file, the keys the caller trusts and, optionally, the
 * model file to replay the job on this machine (docs/verification.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vt_engine.h"
#include "vt_receipt.h"
#include "vt_verifier.h"

/* KEYFILE: one "scheduler <64 hex>" line (others, "#" comments and blank
 * lines are allowed and ignored). */
static int read_scheduler_key(const char *prog, const char *path, uint8_t pk[VT_PUBKEY_BYTES])
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        fprintf(stderr, "%s: %s: cannot open\n", prog, path);
        return VT_EXIT_FAIL;
    }
    char line[256];
    int found = 0;
    while (fgets(line, sizeof line, fp)) {
        char role[32], hex[128];
        if (line[0] == '#' || sscanf(line, "%31s %127s", role, hex) != 2)
            continue;
        if (strcmp(role, "scheduler") == 0 && vt_node_id_parse(hex, pk) == 0) {
            found = 1;
            break;
        }
    }
    fclose(fp);
    if (!found) {
        fprintf(stderr, "%s: %s: no line 'scheduler <64 hex chars>'\n", prog, path);
        return VT_EXIT_FAIL;
    }
    return 0;
}

/* Replay the job on this machine: the same checker verifiers run. */
static int replay(const char *prog, const vt_receipt *r, const char *model_path, int threads)
{
    vt_model *m = NULL;
    vt_checker *ck = NULL;
    vt_errinfo ei = {0};
    int ex = VT_EXIT_FAIL, rv;
    if ((rv = vt_model_load(model_path, &m, &ei)) != 0)
        return vt_cli_fail(prog, model_path, rv, &ei);
    if (memcmp(vt_model_get_info(m)->sha256, r->model_sha256, VT_SHA256_BYTES) != 0) {
        fprintf(stderr, "%s: replay: %s is not the model the receipt names\n", prog, model_path);
        goto out;
    }
    if (r->result.n_tokens == 0) {
        fprintf(stderr, "%s: replay: the job produced no tokens; nothing to replay\n", prog);
        goto out;
    }
    vt_checker_params cp;
    vt_checker_params_default(&cp);
    cp.batch = 1;
    cp.n_threads = threads;
    if ((rv = vt_checker_create(m, &cp, &ck, &ei)) != 0) {
        ex = vt_cli_fail(prog, "replay", rv, &ei);
        goto out;
    }
    vt_trace tr;
    memset(&tr, 0, sizeof tr);
    memcpy(tr.final_digest, r->result.trace_digest, VT_DIGEST_BYTES);
    tr.n_layers = r->result.n_layers;
    for (uint32_t l = 0; l < tr.n_layers && l < VT_MAX_LAYERS; l++)
        memcpy(tr.layer_digest[l], r->result.layer_digests + (size_t)l * VT_DIGEST_BYTES,
               VT_DIGEST_BYTES);
    tr.n_positions = r->n_prompt + r->result.n_tokens - 1;
    vt_replay_task t = {.prompt = r->prompt,
                        .n_prompt = r->n_prompt,
                        .output = r->result.tokens,
                        .n_output = r->result.n_tokens,
                        .stop_reason = r->result.stop_reason,
                        .trace = &tr};
    t.gp.sampling = r->sampling;
    t.gp.max_tokens = r->max_tokens;
    t.gp.stop = r->stop;
    t.gp.n_stop = (int)r->n_stop;
    t.gp.stop_at_eos = 1;
    vt_replay_verdict v;
    if ((rv = vt_checker_run(ck, &t, 1, &v, &ei)) != 0) {
        ex = vt_cli_fail(prog, "replay", rv, &ei);
        goto out;
    }
    if (v.fault == VT_FAULT_NONE && !v.unverifiable) {
        printf("replay: ok (%u prompt + %u output tokens reproduced bit for bit on %s)\n",
               r->n_prompt, r->result.n_tokens, vt_checker_describe(ck));
        ex = VT_EXIT_OK;
    } else {
        printf("replay: FAILED: %s at position %lld: %s\n", vt_fault_name((vt_fault)v.fault),
               (long long)v.position, v.detail);
    }
out:
    vt_checker_free(ck);
    vt_model_free(m);
    return ex;
}

static int receipt_verify(const char *prog, int argc, char **argv)
{
    const char *keys = NULL, *model = NULL;
    bool json = false;
    int64_t threads = 1;
    vt_opt opts[] = {
        {.flag = "keys", .type = VT_OPT_FILE, .metavar = "KEYFILE",
         .help = "trusted keys: a line 'scheduler <pubkey hex>'", .dest = &keys},
        {.flag = "model", .type = VT_OPT_FILE, .metavar = "GGUF",
         .help = "also replay the job on this machine with this model file", .dest = &model},
        {.flag = "threads", .type = VT_OPT_INT, .def = "1", .min = 1, .max = 256,
         .help = "threads for the replay", .dest = &threads},
        {.flag = "json", .type = VT_OPT_BOOL, .def = "false",
         .help = "print the receipt's canonical JSON", .dest = &json},
        VT_OPT_END};
    vt_strlist pos = {0};
    uint8_t *buf = NULL;
    vt_receipt_file f;
    memset(&f, 0, sizeof f);
    int ex = vt_cli_parse(prog, "check every hash and signature of a receipt: receipt verify FILE",
                          opts, argc, argv, &pos);
    if (ex >= 0)
        goto out;
    if (pos.n != 1) {
        ex = vt_cli_usage(prog, "expected one receipt file");
        goto out;
    }
    size_t len;
    uint8_t trusted[VT_PUBKEY_BYTES];
    if ((ex = vt_cli_read_file(prog, pos.items[0], VT_RECEIPT_MAX_BYTES, &buf, &len)) != 0 ||
        (keys && (ex = read_scheduler_key(prog, keys, trusted)) != 0))
        goto out;
    vt_errinfo ei = {0};
    int rv = vt_protocol_init();
    if (!rv)
        rv = vt_receipt_decode(buf, len, &f, &ei);
    if (rv) {
        ex = vt_cli_fail(prog, pos.items[0], rv, &ei);
        goto out;
    }
    if (json) {
        vt_buf js;
        vt_buf_init(&js, VT_RECEIPT_MAX_BYTES * 4);
        if (vt_receipt_json(&f, &js) == 0)
            printf("%s\n", (const char *)js.data);
        vt_buf_free(&js);
    }
    vt_receipt_report rep;
    rv = vt_receipt_verify(&f, keys ? trusted : NULL, &rep, &ei);
    printf("receipt %s job %s (log index %llu)\n", pos.items[0], f.r.job_id,
           (unsigned long long)f.log_index);
    printf("  scheduler signature: %s%s\n", rep.scheduler_sig_ok ? "ok" : "BAD",
           rep.scheduler_trusted ? " (trusted key)" : keys ? " (NOT the trusted key)" : " (no --keys given)");
    printf("  worker signature:    %s\n", rep.worker_sig_ok ? "ok" : "BAD");
    printf("  result matches job:  %s\n", rep.consistent ? "ok" : "NO");
    printf("  verdicts:            %u signed, %u passes by other nodes, policy %s\n",
           rep.verdicts_ok, rep.verdicts_pass, f.r.policy);
    printf("  transparency log:    %s\n",
           !rep.log_checked ? "not checked (no tree head in the file)" : rep.log_ok ? "ok" : "BAD");
    if (rv && !(rv == VT_ERR_DENIED && !keys)) {
        ex = vt_cli_fail(prog, "receipt does not verify", rv, &ei);
        goto out;
    }
    ex = VT_EXIT_OK;
    if (model)
        ex = replay(prog, &f.r, model, (int)threads);
    if (ex == VT_EXIT_OK && !keys)
        fprintf(stderr, "%s: note: signatures are consistent, but without --keys nothing ties "
                        "them to a scheduler you trust\n", prog);
out:
    vt_receipt_file_free(&f);
    free(buf);
    vt_strlist_free(&pos);
    return ex;
}

int vt_cmd_receipt(const char *prog, int argc, char **argv)
{
    static const vt_cli_cmd sub[] = {
        {"verify", receipt_verify, "check a receipt's hashes and signatures (and replay it)"},
        {NULL, NULL, NULL}};
    return vt_cli_dispatch(prog, sub, argc, argv);
}
