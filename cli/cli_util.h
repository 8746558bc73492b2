/* cli_util.h - strict flag parsing shared by the command-line programs.
 *
 * Flags are "--name VALUE" or "--name=VALUE". A bad value is a usage error:
 * the programs print one line and exit 2 (see docs/configuration.md).
 */
#ifndef VT_CLI_UTIL_H
#define VT_CLI_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Print "prog: message" and "Try 'prog --help'." to stderr, exit(2). */
void vt_cli_usage_error(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* If argv[*i] is flag `name` ("--x"), store its value (the next argument
 * or the part after '='), advance *i past it and return 1; a missing value
 * is a usage error. Otherwise return 0. */
int vt_cli_flag(const char *prog, int argc, char **argv, int *i, const char *name,
                const char **value);

/* Strict decimal/hex integer in [lo, hi]; anything else is a usage error
 * naming the flag. */
uint64_t vt_cli_u64(const char *prog, const char *flag, const char *s, uint64_t lo, uint64_t hi);
/* Finite float in [lo, hi]. */
float vt_cli_f32(const char *prog, const char *flag, const char *s, float lo, float hi);
/* One of the NULL-terminated choices; returns its index. */
int vt_cli_choice(const char *prog, const char *flag, const char *s, const char *const *choices);

#endif
