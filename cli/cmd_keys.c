/* cmd_keys.c - `verity keygen|pubkey|agent|node`: keys and the identity
 * registry (docs/security.md). These talk to Redis directly, as the operator. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include <sodium.h>

#include "vt_clock.h"
#include "vt_protocol.h"
#include "vt_redis.h"
#include "vt_registry.h"
#include "vt_strbuf.h"

#define REDIS_OPT(d)                                                                  \
    {.flag = "redis", .env = "VERITY_REDIS", .type = VT_OPT_STRING,                      \
     .def = "redis://127.0.0.1:6379", .help = "the registry's Redis",                   \
     .dest = (d), .check = vt_redis_url_check}

int vt_cmd_keygen(const char *prog, int argc, char **argv)
{
    const char *out = NULL;
    bool secret = false, force = false;
    vt_opt opts[] = {
        {.flag = "out", .type = VT_OPT_STRING, .metavar = "FILE", .flags = VT_OPT_REQUIRED,
         .help = "file to create (mode 0600); -o for short", .dest = &out},
        {.flag = "secret", .type = VT_OPT_BOOL, .def = "false",
         .help = "make the 32-byte auth secret that keys API-key MACs instead of a node key",
         .dest = &secret},
        {.flag = "force", .type = VT_OPT_BOOL, .def = "false",
         .help = "overwrite an existing node key file", .dest = &force},
        VT_OPT_END};
    int ex = vt_cli_parse(prog, "generate an Ed25519 node key (prints its public key) or an auth secret",
                          opts, argc, argv, NULL);
    if (ex >= 0)
        return ex;
    vt_errinfo ei = {0};
    int rv;
    if (secret) {
        rv = vt_auth_secret_generate(out, &ei);
        if (rv)
            ex = vt_cli_fail(prog, out, rv, &ei);
        else
            printf("auth secret written to %s\n", out);
    } else {
        vt_keypair kp;
        if ((rv = vt_protocol_init()) != 0 || (rv = vt_key_generate(&kp)) != 0 ||
            (rv = vt_key_save(out, &kp, force, &ei)) != 0) {
            ex = vt_cli_fail(prog, out, rv, &ei);
        } else {
            char id[VT_NODE_ID_HEX + 1];
            vt_node_id(kp.pk, id);
            printf("%s\n", id);
            ex = VT_EXIT_OK;
        }
        vt_key_wipe(&kp);
    }
    vt_config_free(opts);
    return ex < 0 ? VT_EXIT_OK : ex;
}

int vt_cmd_pubkey(const char *prog, int argc, char **argv)
{
    vt_opt opts[] = {VT_OPT_END};
    vt_strlist pos = {0};
    int ex = vt_cli_parse(prog, "print the public key (node id) of a key file: pubkey FILE", opts,
                          argc, argv, &pos);
    if (ex >= 0)
        goto out;
    if (pos.n != 1) {
        ex = vt_cli_usage(prog, "expected one key file");
        goto out;
    }
    vt_keypair kp;
    vt_errinfo ei = {0};
    int rv = vt_protocol_init();
    if (!rv)
        rv = vt_key_load(pos.items[0], &kp, &ei);
    if (rv) {
        ex = vt_cli_fail(prog, pos.items[0], rv, &ei);
        goto out;
    }
    char id[VT_NODE_ID_HEX + 1];
    vt_node_id(kp.pk, id);
    vt_key_wipe(&kp);
    printf("%s\n", id);
    ex = VT_EXIT_OK;
out:
    vt_strlist_free(&pos);
    return ex;
}

static void print_time(int64_t ms)
{
    char buf[VT_TIME_BUFSZ];
    fputs(ms ? vt_wall_format(ms, buf) : "-", stdout);
}

/* add ARG | list | revoke ARG: the shape of `agent` and `node`. */
typedef enum { VERB_BAD = 0, VERB_ADD, VERB_LIST, VERB_REVOKE } reg_verb;

static reg_verb parse_verb(const vt_strlist *pos)
{
    const char *v = pos->n ? pos->items[0] : "";
    if (strcmp(v, "list") == 0)
        return pos->n == 1 ? VERB_LIST : VERB_BAD;
    if (strcmp(v, "add") == 0)
        return pos->n == 2 ? VERB_ADD : VERB_BAD;
    if (strcmp(v, "revoke") == 0)
        return pos->n == 2 ? VERB_REVOKE : VERB_BAD;
    return VERB_BAD;
}

int vt_cmd_agent(const char *prog, int argc, char **argv)
{
    const char *redis_url = NULL, *secret_file = NULL;
    bool json = false;
    vt_opt opts[] = {
        REDIS_OPT(&redis_url),
        {.flag = "auth-secret", .env = "VERITY_AUTH_SECRET_FILE", .type = VT_OPT_FILE,
         .help = "auth secret file (needed by add)", .dest = &secret_file},
        {.flag = "json", .type = VT_OPT_BOOL, .def = "false", .help = "JSON output (list)",
         .dest = &json},
        VT_OPT_END};
    vt_strlist pos = {0};
    int ex = vt_cli_parse(prog,
                          "manage agents: agent add NAME | agent list | agent revoke AGENT_ID",
                          opts, argc, argv, &pos);
    vt_redis *r = NULL;
    vt_errinfo ei = {0};
    int rv;
    if (ex >= 0)
        goto out;
    reg_verb verb = parse_verb(&pos);
    bool add = verb == VERB_ADD, revoke = verb == VERB_REVOKE;
    if (verb == VERB_BAD) {
        ex = vt_cli_usage(prog, "usage: agent add NAME | agent list | agent revoke AGENT_ID");
        goto out;
    }
    uint8_t secret[VT_AUTH_SECRET_BYTES];
    if (add) {
        if (!secret_file) {
            ex = vt_cli_usage(prog, "--auth-secret (VERITY_AUTH_SECRET_FILE) is required to add");
            goto out;
        }
        if ((rv = vt_auth_secret_load(secret_file, secret, &ei)) != 0) {
            ex = vt_cli_fail(prog, secret_file, rv, &ei);
            goto out;
        }
    }
    if ((ex = vt_cli_redis(prog, redis_url, &r)) != 0)
        goto out;
    ex = -1;
    if (add) {
        char id[VT_AGENT_ID_BUFSZ], key[VT_API_KEY_BUFSZ];
        rv = vt_registry_agent_add(r, secret, pos.items[1], id, key, &ei);
        sodium_memzero(secret, sizeof secret);
        if (rv) {
            ex = vt_cli_fail(prog, "agent add", rv, &ei);
            goto out;
        }
        /* The key is shown once; only its MAC is stored. */
        printf("%s\n", key);
        fprintf(stderr, "agent %s (%s) created; the API key above is not stored anywhere\n", id,
                pos.items[1]);
    } else if (revoke) {
        if ((rv = vt_registry_agent_revoke(r, pos.items[1], &ei)) != 0) {
            ex = vt_cli_fail(prog, "agent revoke", rv, &ei);
            goto out;
        }
        printf("agent %s revoked\n", pos.items[1]);
    } else {
        vt_agent_info *a = NULL;
        size_t n = 0;
        if ((rv = vt_registry_agent_list(r, &a, &n, &ei)) != 0) {
            ex = vt_cli_fail(prog, "agent list", rv, &ei);
            goto out;
        }
        if (json)
            printf("[");
        for (size_t i = 0; i < n; i++) {
            if (json) {
                printf("%s{\"id\":\"%s\",\"name\":", i ? "," : "", a[i].id);
                vt_strbuf sb = VT_STRBUF_INIT;
                vt_strbuf_json_str(&sb, a[i].name, strlen(a[i].name));
                printf("%s,\"created_ms\":%lld,\"revoked\":%s}", vt_strbuf_cstr(&sb),
                       (long long)a[i].created_ms, a[i].revoked ? "true" : "false");
                vt_strbuf_free(&sb);
            } else {
                printf("%-16s %-24s ", a[i].id, a[i].name);
                print_time(a[i].created_ms);
                printf("%s\n", a[i].revoked ? "  revoked" : "");
            }
        }
        if (json)
            printf("]\n");
        free(a);
    }
    ex = VT_EXIT_OK;
out:
    vt_redis_close(r);
    vt_strlist_free(&pos);
    vt_config_free(opts);
    return ex;
}

int vt_cmd_node(const char *prog, int argc, char **argv)
{
    const char *redis_url = NULL, *operator_name = NULL;
    static const char *const roles[] = {"worker", "verifier", NULL};
    int role_i = -1;
    vt_opt opts[] = {
        REDIS_OPT(&redis_url),
        {.flag = "role", .type = VT_OPT_ENUM, .choices = roles, .help = "node role (add)",
         .dest = &role_i},
        {.flag = "operator", .type = VT_OPT_STRING, .metavar = "ORG",
         .help = "operator (organisation) running the node (add)", .dest = &operator_name},
        VT_OPT_END};
    vt_strlist pos = {0};
    int ex = vt_cli_parse(prog,
                          "manage the node allow-list: node add --role worker|verifier "
                          "--operator ORG PUBKEY | node list | node revoke PUBKEY",
                          opts, argc, argv, &pos);
    vt_redis *r = NULL;
    vt_errinfo ei = {0};
    int rv;
    if (ex >= 0)
        goto out;
    reg_verb verb = parse_verb(&pos);
    bool add = verb == VERB_ADD, revoke = verb == VERB_REVOKE;
    if (verb == VERB_BAD) {
        ex = vt_cli_usage(prog, "usage: node add --role worker|verifier --operator ORG PUBKEY | "
                                "node list | node revoke PUBKEY");
        goto out;
    }
    if (add && (role_i < 0 || !operator_name || !*operator_name)) {
        ex = vt_cli_usage(prog, "node add needs --role and --operator");
        goto out;
    }
    if ((ex = vt_cli_redis(prog, redis_url, &r)) != 0)
        goto out;
    if (add) {
        vt_node_role role = role_i == 0 ? VT_ROLE_WORKER : VT_ROLE_VERIFIER;
        if ((rv = vt_registry_node_add(r, pos.items[1], role, operator_name, &ei)) != 0) {
            ex = vt_cli_fail(prog, "node add", rv, &ei);
            goto out;
        }
        printf("node %s added as %s of %s\n", pos.items[1], vt_node_role_name(role),
               operator_name);
    } else if (revoke) {
        if ((rv = vt_registry_node_revoke(r, pos.items[1], &ei)) != 0) {
            ex = vt_cli_fail(prog, "node revoke", rv, &ei);
            goto out;
        }
        printf("node %s revoked\n", pos.items[1]);
    } else {
        vt_node_info *nodes = NULL;
        size_t n = 0;
        if ((rv = vt_registry_node_list(r, &nodes, &n, &ei)) != 0) {
            ex = vt_cli_fail(prog, "node list", rv, &ei);
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            printf("%s %-8s %-20s ", nodes[i].pubhex, vt_node_role_name(nodes[i].role),
                   nodes[i].operator_name);
            print_time(nodes[i].added_ms);
            printf("%s\n", nodes[i].revoked ? "  revoked" : "");
        }
        free(nodes);
    }
    ex = VT_EXIT_OK;
out:
    vt_redis_close(r);
    vt_strlist_free(&pos);
    vt_config_free(opts);
    return ex;
}
