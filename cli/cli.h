/* cli.h - shared plumbing of the `verity` command: sub-command table,
 * option parsing with the daemons' vt_config tables, and the one place that
 * turns errors into exit codes.
 *
 * Exit codes: 0 success, 1 the operation failed (the message says why),
 * 2 usage error (bad flag or argument). */
#ifndef VT_CLI_H
#define VT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vt_config.h"
#include "vt_err.h"

typedef struct vt_redis vt_redis;

enum { VT_EXIT_OK = 0, VT_EXIT_FAIL = 1, VT_EXIT_USAGE = 2 };

typedef struct vt_cli_cmd {
    const char *name;
    int (*run)(const char *prog, int argc, char **argv);
    const char *summary;
} vt_cli_cmd;

/* Dispatch argv[1] among cmds ("verity agent add": prog "verity agent"). */
int vt_cli_dispatch(const char *prog, const vt_cli_cmd *cmds, int argc, char **argv);

/* Parse options for a (sub)command. argv[0] is the sub-command's name.
 * Short flags -n and -o are accepted as --max-tokens and --out. Returns -1
 * when the caller should go on, else the exit code to return (help printed:
 * 0, usage error: 2). pos may be NULL (then positionals are errors). */
int vt_cli_parse(const char *prog, const char *summary, const vt_opt *opts, int argc,
                 char **argv, vt_strlist *pos);

/* Print "prog: what: detail" to stderr; returns VT_EXIT_FAIL. */
int vt_cli_fail(const char *prog, const char *what, int rv, const vt_errinfo *ei);
/* Print "prog: message" to stderr; returns VT_EXIT_USAGE. */
int vt_cli_usage(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Read a whole file of at most max bytes into a malloc'd buffer; prints
 * the error itself and returns VT_EXIT_FAIL, or 0. */
int vt_cli_read_file(const char *prog, const char *path, size_t max, uint8_t **buf, size_t *len);

/* Connect to the registry's Redis; prints the error itself. */
int vt_cli_redis(const char *prog, const char *url, vt_redis **out);

/* Sub-command groups (cmd_*.c). */
int vt_cmd_keygen(const char *prog, int argc, char **argv);
int vt_cmd_pubkey(const char *prog, int argc, char **argv);
int vt_cmd_agent(const char *prog, int argc, char **argv);
int vt_cmd_node(const char *prog, int argc, char **argv);
int vt_cmd_submit(const char *prog, int argc, char **argv);
int vt_cmd_status(const char *prog, int argc, char **argv);
int vt_cmd_result(const char *prog, int argc, char **argv);
int vt_cmd_cancel(const char *prog, int argc, char **argv);
int vt_cmd_receipt(const char *prog, int argc, char **argv);
int vt_cmd_log(const char *prog, int argc, char **argv);
int vt_cmd_workers(const char *prog, int argc, char **argv);
int vt_cmd_release(const char *prog, int argc, char **argv);

#endif
