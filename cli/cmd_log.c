/* cmd_log.c - `verity log head|prove|consistency`: read the transparency log
 * through the scheduler and check every answer locally. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vt_client.h"
#include "vt_receipt.h"

typedef struct log_opts {
    const char *url, *api_key, *out;
    bool json;
} log_opts;

static int open_log_client(const char *prog, const log_opts *o, vt_client **c)
{
    vt_errinfo ei = {0};
    int rv = vt_protocol_init();
    if (!rv)
        rv = vt_client_open(o->url, o->api_key ? o->api_key : "-", NULL, c, &ei);
    return rv ? vt_cli_fail(prog, o->url, rv, &ei) : 0;
}

/* Parse the shared options; fills positional args. -1: go on. */
static int parse(const char *prog, const char *summary, int argc, char **argv, log_opts *o,
                 vt_strlist *pos)
{
    vt_opt opts[] = {
        {.flag = "url", .env = "VERITY_URL", .type = VT_OPT_URL, .def = "tcp://127.0.0.1:7400",
         .help = "scheduler's agent socket", .dest = &o->url},
        {.flag = "api-key", .env = "VERITY_API_KEY", .type = VT_OPT_STRING,
         .help = "not needed: the log is public", .dest = &o->api_key},
        {.flag = "out", .type = VT_OPT_STRING, .metavar = "FILE",
         .help = "prove: write the receipt with its proof attached here", .dest = &o->out},
        {.flag = "json", .type = VT_OPT_BOOL, .def = "false", .help = "print JSON", .dest = &o->json},
        VT_OPT_END};
    return vt_cli_parse(prog, summary, opts, argc, argv, pos);
}

static void hex32(const uint8_t *b, char out[65])
{
    vt_hex_encode(b, 32, out);
}

static int log_head(const char *prog, int argc, char **argv)
{
    log_opts o = {0};
    vt_strlist pos = {0};
    vt_client *c = NULL;
    int ex = parse(prog, "print the latest signed tree head", argc, argv, &o, &pos);
    if (ex >= 0 || (ex = open_log_client(prog, &o, &c)) != 0)
        goto out;
    vt_tree_head th;
    uint8_t pk[32];
    vt_errinfo ei = {0};
    int rv = vt_log_get_head(c, &th, pk, &ei);
    if (rv) {
        ex = vt_cli_fail(prog, "log head", rv, &ei);
        goto out;
    }
    bool ok = vt_tree_head_verify(&th, pk) == 0;
    char root[65], key[65];
    hex32(th.root, root);
    hex32(pk, key);
    if (o.json)
        printf("{\"size\":%llu,\"time_ms\":%llu,\"root\":\"%s\",\"scheduler\":\"%s\","
               "\"signature_ok\":%s}\n",
               (unsigned long long)th.size, (unsigned long long)th.time_ms, root, key,
               ok ? "true" : "false");
    else
        printf("size %llu\nroot %s\ntime_ms %llu\nscheduler %s\nsignature %s\n",
               (unsigned long long)th.size, root, (unsigned long long)th.time_ms, key,
               ok ? "ok" : "BAD");
    ex = ok ? VT_EXIT_OK : VT_EXIT_FAIL;
out:
    vt_client_close(c);
    vt_strlist_free(&pos);
    return ex;
}

/* prove RECEIPT_FILE | prove INDEX */
static int log_prove(const char *prog, int argc, char **argv)
{
    log_opts o = {0};
    vt_strlist pos = {0};
    vt_client *c = NULL;
    uint8_t *buf = NULL;
    vt_receipt_file f;
    memset(&f, 0, sizeof f);
    int ex = parse(prog, "inclusion proof for a receipt file (or a log index) against the "
                         "latest signed head: prove RECEIPT|INDEX",
                   argc, argv, &o, &pos);
    if (ex >= 0)
        goto out;
    if (pos.n != 1) {
        ex = vt_cli_usage(prog, "expected a receipt file or a log index");
        goto out;
    }
    vt_errinfo ei = {0};
    uint64_t index;
    bool have_receipt = false;
    char *end;
    unsigned long long iv = strtoull(pos.items[0], &end, 10);
    size_t len = 0;
    if (*pos.items[0] && !*end) {
        index = iv;
    } else {
        if (vt_cli_read_file(prog, pos.items[0], VT_RECEIPT_MAX_BYTES, &buf, &len) != 0) {
            ex = VT_EXIT_FAIL;
            goto out;
        }
        int rv = vt_protocol_init();
        if (!rv)
            rv = vt_receipt_decode(buf, len, &f, &ei);
        if (rv) {
            ex = vt_cli_fail(prog, pos.items[0], rv, &ei);
            goto out;
        }
        index = f.log_index;
        have_receipt = true;
    }
    if ((ex = open_log_client(prog, &o, &c)) != 0)
        goto out;
    vt_tree_head th;
    uint8_t pk[32], leaf[32];
    vt_tlog_proof p;
    uint64_t size;
    int rv = vt_log_get_head(c, &th, pk, &ei);
    if (!rv)
        rv = vt_log_get_inclusion(c, index, th.size, leaf, &p, &size, &ei);
    if (rv) {
        ex = vt_cli_fail(prog, "log prove", rv, &ei);
        goto out;
    }
    /* Check locally: the head is signed, the leaf is this receipt's hash,
     * and the path leads from it to the signed root. */
    bool head_ok = vt_tree_head_verify(&th, pk) == 0 && size == th.size;
    bool leaf_ok = true;
    if (have_receipt) {
        uint8_t want[32];
        vt_tlog_leaf_hash(f.hash, VT_HASH_BYTES, want);
        leaf_ok = memcmp(want, leaf, 32) == 0 && memcmp(f.scheduler_pk, pk, 32) == 0;
    }
    bool path_ok = vt_tlog_verify_inclusion(leaf, index, size, &p, th.root) == 0;
    printf("index %llu in tree of size %llu: head signature %s, leaf %s, path %s\n",
           (unsigned long long)index, (unsigned long long)size, head_ok ? "ok" : "BAD",
           have_receipt ? (leaf_ok ? "is this receipt" : "is NOT this receipt") : "-",
           path_ok ? "ok" : "BAD");
    ex = head_ok && leaf_ok && path_ok ? VT_EXIT_OK : VT_EXIT_FAIL;
    if (ex == VT_EXIT_OK && have_receipt && o.out) {
        vt_buf w;
        vt_buf_init(&w, VT_RECEIPT_MAX_BYTES);
        FILE *fp = NULL;
        if (vt_receipt_attach_proof(&f, &th, &p, &w, &ei) != 0 || !(fp = fopen(o.out, "wb")) ||
            fwrite(w.data, 1, w.len, fp) != w.len) {
            ex = vt_cli_fail(prog, o.out, VT_ERR_IO, NULL);
        } else {
            printf("receipt with proof written to %s\n", o.out);
        }
        if (fp)
            fclose(fp);
        vt_buf_free(&w);
    }
out:
    vt_receipt_file_free(&f);
    free(buf);
    vt_client_close(c);
    vt_strlist_free(&pos);
    return ex;
}

static int log_consistency(const char *prog, int argc, char **argv)
{
    log_opts o = {0};
    vt_strlist pos = {0};
    vt_client *c = NULL;
    int ex = parse(prog, "prove that the log at size NEW extends the log at size OLD: "
                         "consistency OLD NEW (NEW 0 = latest signed head)",
                   argc, argv, &o, &pos);
    if (ex >= 0)
        goto out;
    char *e1, *e2;
    unsigned long long old_sz = pos.n == 2 ? strtoull(pos.items[0], &e1, 10) : 0;
    unsigned long long new_sz = pos.n == 2 ? strtoull(pos.items[1], &e2, 10) : 0;
    if (pos.n != 2 || *e1 || *e2 || !*pos.items[0] || !*pos.items[1]) {
        ex = vt_cli_usage(prog, "expected two tree sizes: OLD NEW");
        goto out;
    }
    if ((ex = open_log_client(prog, &o, &c)) != 0)
        goto out;
    vt_errinfo ei = {0};
    vt_tree_head th;
    uint8_t pk[32], r_old[32], r_new[32];
    vt_tlog_proof p;
    uint64_t nsz;
    int rv = vt_log_get_head(c, &th, pk, &ei);
    if (!rv)
        rv = vt_log_get_consistency(c, old_sz, new_sz, r_old, r_new, &p, &nsz, &ei);
    if (rv) {
        ex = vt_cli_fail(prog, "log consistency", rv, &ei);
        goto out;
    }
    bool ok = vt_tlog_verify_consistency(old_sz, r_old, nsz, r_new, &p) == 0;
    /* When NEW is the signed head, its root must be the signed root. */
    bool signed_ok = nsz != th.size ||
                     (vt_tree_head_verify(&th, pk) == 0 && memcmp(th.root, r_new, 32) == 0);
    char ho[65], hn[65];
    hex32(r_old, ho);
    hex32(r_new, hn);
    printf("old %llu root %s\nnew %llu root %s%s\nconsistency %s\n", old_sz, ho,
           (unsigned long long)nsz, hn, nsz == th.size ? " (signed head)" : "",
           ok && signed_ok ? "ok" : "BAD");
    printf("compare the old root with one you saved earlier: a different root means the log was rewritten\n");
    ex = ok && signed_ok ? VT_EXIT_OK : VT_EXIT_FAIL;
out:
    vt_client_close(c);
    vt_strlist_free(&pos);
    return ex;
}

int vt_cmd_log(const char *prog, int argc, char **argv)
{
    static const vt_cli_cmd sub[] = {
        {"head", log_head, "the latest signed tree head"},
        {"prove", log_prove, "inclusion proof of a receipt (or index)"},
        {"consistency", log_consistency, "consistency proof between two tree sizes"},
        {NULL, NULL, NULL}};
    return vt_cli_dispatch(prog, sub, argc, argv);
}
