/* verity_main.c - the `verity` command: agents' and operators' tool. */
#include "cli.h"
#include "vt_memsync.h"

/* memsync's sub-command takes argv[0] = "memory", as every group here. */
static int cmd_memory(const char *prog, int argc, char **argv)
{
    (void)prog;
    return vt_cli_memory(argc, argv);
}

static const vt_cli_cmd commands[] = {
    {"submit", vt_cmd_submit, "submit a job; print its output and verification status"},
    {"status", vt_cmd_status, "show where a job is"},
    {"result", vt_cmd_result, "print a job's result"},
    {"cancel", vt_cmd_cancel, "cancel a job"},
    {"receipt", vt_cmd_receipt, "verify a receipt offline (and replay the job)"},
    {"log", vt_cmd_log, "transparency log: head, inclusion and consistency proofs"},
    {"memory", cmd_memory, "an agent's long-term memory: add, search, get, update, delete, list, profile"},
    {"keygen", vt_cmd_keygen, "create a node key (or, with --secret, the auth secret)"},
    {"pubkey", vt_cmd_pubkey, "print the public key of a key file"},
    {"agent", vt_cmd_agent, "add, list or revoke agents (API keys)"},
    {"node", vt_cmd_node, "add, list or revoke workers and verifiers"},
    {"workers", vt_cmd_workers, "list nodes with reputation counters and quarantine status"},
    {"release", vt_cmd_release, "lift a node's quarantine"},
    {NULL, NULL, NULL}};

int main(int argc, char **argv)
{
    return vt_cli_dispatch("verity", commands, argc, argv);
}
