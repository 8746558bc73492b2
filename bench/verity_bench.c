/* verity-bench - Verity's benchmark suite: `verity-bench <subcommand> ...`.
 * The subcommands are listed in bench_cmds.h (one line each). */
#include <stdio.h>
#include <string.h>

/* A subcommand whose bench_<name>.c was not compiled (its libraries were
 * skipped) resolves to NULL through the weak declaration. */
#define BENCH_CMD(name, help) int vt_bench_##name(int argc, char **argv) __attribute__((weak));
#include "bench_cmds.h"
#undef BENCH_CMD

typedef struct bench_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} bench_cmd;

#define BENCH_CMD(name, help) {#name, vt_bench_##name, help},
static const bench_cmd cmds[] = {
#include "bench_cmds.h"
};
#undef BENCH_CMD

static void usage(FILE *f)
{
    fprintf(f, "usage: verity-bench <subcommand> [flags]   (verity-bench <subcommand> --help)\n\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  %-10s %s%s\n", cmds[i].name, cmds[i].help,
                cmds[i].fn ? "" : " (not built)");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(argv[1], cmds[i].name) != 0)
            continue;
        if (!cmds[i].fn) {
            fprintf(stderr, "verity-bench: '%s' was not built (its module was skipped)\n",
                    cmds[i].name);
            return 2;
        }
        return cmds[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "verity-bench: unknown subcommand '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
