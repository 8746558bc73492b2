/* cmd_nodes.c - `verity workers` and `verity release`: the nodes' standing
 * (allow-list, reputation counters, quarantine) and the operator's way to
 * lift a quarantine. Both talk to Redis directly, as the operator
 * (arbiter/include/vt_arbiter.h has the key schema). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#include "vt_arbiter.h"
#include "vt_clock.h"
#include "vt_protocol.h"
#include "vt_redis.h"
#include "vt_registry.h"
#include "vt_strbuf.h"

#define REDIS_OPT(d)                                                                  \
    {.flag = "redis", .env = "VERITY_REDIS", .type = VT_OPT_STRING,                      \
     .def = "redis://127.0.0.1:6379", .help = "the registry's Redis",                   \
     .dest = (d), .check = vt_redis_url_check}

/* One row of `verity workers`: an allow-listed node, or a quarantined key
 * that is not (or no longer) in the allow-list. */
typedef struct node_row {
    uint8_t pk[VT_PUBKEY_BYTES];
    const vt_node_info *info;   /* NULL: not registered */
    const vt_arb_qinfo *q;      /* NULL: not quarantined */
    vt_arb_rep rep;
} node_row;

static const vt_arb_qinfo *find_q(const vt_arb_qinfo *q, size_t nq, const uint8_t pk[VT_PUBKEY_BYTES])
{
    for (size_t i = 0; i < nq; i++)
        if (memcmp(q[i].pk, pk, VT_PUBKEY_BYTES) == 0)
            return &q[i];
    return NULL;
}

static void json_row(vt_strbuf *sb, const node_row *r)
{
    char hex[VT_NODE_ID_HEX + 1];
    vt_node_id(r->pk, hex);
    vt_strbuf_printf(sb, "{\"node\":\"%s\",\"registered\":%s", hex, r->info ? "true" : "false");
    if (r->info) {
        vt_strbuf_printf(sb, ",\"role\":\"%s\",\"operator\":", vt_node_role_name(r->info->role));
        vt_strbuf_json_str(sb, r->info->operator_name, strlen(r->info->operator_name));
        vt_strbuf_printf(sb, ",\"revoked\":%s", r->info->revoked ? "true" : "false");
    }
    vt_strbuf_printf(sb, ",\"quarantined\":%s", r->q ? "true" : "false");
    if (r->q) {
        vt_strbuf_printf(sb, ",\"quarantined_ms\":%lld,\"quarantine_reason\":",
                         (long long)r->q->since_ms);
        vt_strbuf_json_str(sb, r->q->reason, strlen(r->q->reason));
    }
    vt_strbuf_puts(sb, ",\"counters\":{");
    for (int c = 0; c < VT_ARB_C__COUNT; c++)
        vt_strbuf_printf(sb, "%s\"%s\":%lld", c ? "," : "", vt_arb_counter_name((vt_arb_counter)c),
                         (long long)r->rep.c[c]);
    vt_strbuf_puts(sb, "}}");
}

static void text_row(const node_row *r)
{
    char hex[VT_NODE_ID_HEX + 1];
    vt_node_id(r->pk, hex);
    const char *status = r->q ? "quarantined" : r->info && r->info->revoked ? "revoked" : "ok";
    printf("%s %-8s %-16.16s %-11s", hex, r->info ? vt_node_role_name(r->info->role) : "-",
           r->info ? r->info->operator_name : "(unregistered)", status);
    for (int c = 0; c < VT_ARB_C__COUNT; c++)
        printf(" %8lld", (long long)r->rep.c[c]);
    printf("\n");
    if (r->q) {
        char t[VT_TIME_BUFSZ];
        printf("    quarantined %s: %s\n", r->q->since_ms ? vt_wall_format(r->q->since_ms, t) : "-",
               r->q->reason);
    }
}

static void text_header(void)
{
    /* Counter columns in vt_arb_counter order, 8 wide. */
    static const char *const short_names[VT_ARB_C__COUNT] = {
        "jobs", "verified", "failed", "verdicts", "overrul", "aud_ok", "aud_bad", "quarant"};
    printf("%-64s %-8s %-16s %-11s", "NODE", "ROLE", "OPERATOR", "STATUS");
    for (int c = 0; c < VT_ARB_C__COUNT; c++)
        printf(" %8s", short_names[c]);
    printf("\n");
}

static void print_history(const vt_arb_history *h, size_t n, bool json, vt_strbuf *sb)
{
    for (size_t i = 0; i < n; i++) {
        char hex[VT_NODE_ID_HEX + 1], t[VT_TIME_BUFSZ];
        vt_node_id(h[i].pk, hex);
        if (json) {
            vt_strbuf_printf(sb, "%s{\"ms\":%lld,\"action\":\"%s\",\"node\":\"%s\",\"reason\":",
                             i ? "," : "", (long long)h[i].ms, h[i].release ? "release" : "quarantine",
                             hex);
            vt_strbuf_json_str(sb, h[i].reason, strlen(h[i].reason));
            vt_strbuf_putc(sb, '}');
        } else {
            printf("%s %-10s %s %s\n", vt_wall_format(h[i].ms, t),
                   h[i].release ? "release" : "quarantine", hex, h[i].reason);
        }
    }
}

int vt_cmd_workers(const char *prog, int argc, char **argv)
{
    const char *redis_url = NULL;
    bool json = false;
    int64_t history = 0;
    vt_opt opts[] = {
        REDIS_OPT(&redis_url),
        {.flag = "json", .type = VT_OPT_BOOL, .def = "false", .help = "JSON output",
         .dest = &json},
        {.flag = "history", .type = VT_OPT_INT, .metavar = "N", .def = "0", .min = 0,
         .max = VT_ARB_HISTORY_MAX, .help = "also show the last N quarantine/release events (with --json the output becomes "
                 "{\"nodes\":[...],\"history\":[...]})",
         .dest = &history},
        VT_OPT_END};
    int ex = vt_cli_parse(prog,
                          "list workers and verifiers: role, operator, reputation counters, "
                          "quarantine",
                          opts, argc, argv, NULL);
    if (ex >= 0)
        return ex;
    vt_redis *r = NULL;
    vt_node_info *nodes = NULL;
    vt_arb_qinfo *q = NULL;
    vt_arb_history *h = NULL;
    node_row *rows = NULL;
    uint8_t(*pks)[VT_PUBKEY_BYTES] = NULL;
    vt_arb_rep *reps = NULL;
    size_t nn = 0, nq = 0, nh = 0, nr = 0;
    vt_errinfo ei = {0};
    int rv;
    if ((ex = vt_cli_redis(prog, redis_url, &r)) != 0)
        goto out;
    ex = VT_EXIT_FAIL;
    if ((rv = vt_registry_node_list(r, &nodes, &nn, &ei)) != 0) {
        vt_cli_fail(prog, "node list", rv, &ei);
        goto out;
    }
    if ((rv = vt_arb_store_load_quarantined(r, &q, &nq, &ei)) != 0) {
        vt_cli_fail(prog, "quarantine list", rv, &ei);
        goto out;
    }
    if (history > 0 && (rv = vt_arb_store_history(r, (uint32_t)history, &h, &nh, &ei)) != 0) {
        vt_cli_fail(prog, "quarantine history", rv, &ei);
        goto out;
    }
    rows = calloc(nn + nq + 1, sizeof *rows);
    pks = calloc(nn + nq + 1, sizeof *pks);
    reps = calloc(nn + nq + 1, sizeof *reps);
    if (!rows || !pks || !reps) {
        vt_cli_fail(prog, "workers", VT_ERR_NOMEM, NULL);
        goto out;
    }
    for (size_t i = 0; i < nn; i++) {
        if (vt_node_id_parse(nodes[i].pubhex, rows[nr].pk) != 0)
            continue;
        rows[nr].info = &nodes[i];
        rows[nr].q = find_q(q, nq, rows[nr].pk);
        nr++;
    }
    /* Quarantined keys that are not in the allow-list still deserve a line. */
    for (size_t i = 0; i < nq; i++) {
        bool listed = false;
        for (size_t j = 0; j < nr && !listed; j++)
            listed = rows[j].q == &q[i];
        if (!listed) {
            memcpy(rows[nr].pk, q[i].pk, VT_PUBKEY_BYTES);
            rows[nr].q = &q[i];
            nr++;
        }
    }
    for (size_t i = 0; i < nr; i++)
        memcpy(pks[i], rows[i].pk, VT_PUBKEY_BYTES);
    if ((rv = vt_arb_store_get_reps(r, (const uint8_t(*)[VT_PUBKEY_BYTES])pks, nr, reps, &ei)) != 0) {
        vt_cli_fail(prog, "reputation", rv, &ei);
        goto out;
    }
    for (size_t i = 0; i < nr; i++)
        rows[i].rep = reps[i];
    if (json) {
        vt_strbuf sb = VT_STRBUF_INIT;
        vt_strbuf_puts(&sb, history > 0 ? "{\"nodes\":[" : "[");
        for (size_t i = 0; i < nr; i++) {
            if (i)
                vt_strbuf_putc(&sb, ',');
            json_row(&sb, &rows[i]);
        }
        vt_strbuf_puts(&sb, "]");
        if (history > 0) {
            vt_strbuf_puts(&sb, ",\"history\":[");
            print_history(h, nh, true, &sb);
            vt_strbuf_puts(&sb, "]}");
        }
        if (vt_strbuf_error(&sb)) {
            vt_strbuf_free(&sb);
            vt_cli_fail(prog, "workers", VT_ERR_NOMEM, NULL);
            goto out;
        }
        printf("%s\n", vt_strbuf_cstr(&sb));
        vt_strbuf_free(&sb);
    } else {
        text_header();
        for (size_t i = 0; i < nr; i++)
            text_row(&rows[i]);
        if (history > 0) {
            printf("\nquarantine history (newest first):\n");
            print_history(h, nh, false, NULL);
        }
    }
    ex = VT_EXIT_OK;
out:
    free(rows);
    free(pks);
    free(reps);
    free(nodes);
    free(q);
    free(h);
    vt_redis_close(r);
    vt_config_free(opts);
    return ex;
}

int vt_cmd_release(const char *prog, int argc, char **argv)
{
    const char *redis_url = NULL, *reason = NULL;
    vt_opt opts[] = {
        REDIS_OPT(&redis_url),
        {.flag = "reason", .type = VT_OPT_STRING, .metavar = "TEXT", .def = "released by operator",
         .help = "why (kept in the quarantine history)", .dest = &reason},
        VT_OPT_END};
    vt_strlist pos = {0};
    int ex = vt_cli_parse(prog, "lift a node's quarantine: release NODE_PUBKEY", opts, argc, argv,
                          &pos);
    vt_redis *r = NULL;
    if (ex >= 0)
        goto out;
    uint8_t pk[VT_PUBKEY_BYTES];
    if (pos.n != 1 || strlen(pos.items[0]) != VT_NODE_ID_HEX ||
        vt_node_id_parse(pos.items[0], pk) != 0) {
        ex = vt_cli_usage(prog, "usage: release NODE_PUBKEY (64 hex characters)");
        goto out;
    }
    if ((ex = vt_cli_redis(prog, redis_url, &r)) != 0)
        goto out;
    vt_errinfo ei = {0};
    int rv = vt_arb_store_release(r, pk, reason, vt_wall_ms(), &ei);
    if (rv) {
        ex = vt_cli_fail(prog, "release", rv, &ei);
        goto out;
    }
    char hex[VT_NODE_ID_HEX + 1];
    vt_node_id(pk, hex);
    printf("node %s released from quarantine\n", hex);
    ex = VT_EXIT_OK;
out:
    vt_redis_close(r);
    vt_strlist_free(&pos);
    vt_config_free(opts);
    return ex;
}
