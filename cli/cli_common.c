/* cli_common.c - dispatch, parsing and error reporting for `verity`. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_redis.h"

int vt_cli_dispatch(const char *prog, const vt_cli_cmd *cmds, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        FILE *fp = argc < 2 ? stderr : stdout;
        fprintf(fp, "usage: %s COMMAND [options]   (COMMAND --help for its options)\n\n", prog);
        for (const vt_cli_cmd *c = cmds; c->name; c++)
            fprintf(fp, "  %-12s %s\n", c->name, c->summary);
        return argc < 2 ? VT_EXIT_USAGE : VT_EXIT_OK;
    }
    for (const vt_cli_cmd *c = cmds; c->name; c++) {
        if (strcmp(argv[1], c->name) == 0) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s %s", prog, c->name);
            return c->run(sub, argc - 1, argv + 1);
        }
    }
    return vt_cli_usage(prog, "unknown command '%s' (try --help)", argv[1]);
}

int vt_cli_parse(const char *prog, const char *summary, const vt_opt *opts, int argc,
                 char **argv, vt_strlist *pos)
{
    /* The documented spellings use -n and -o; vt_config only knows
     * long flags, so translate those two here. */
    char **args = calloc((size_t)argc + 1, sizeof(char *));
    if (!args)
        return vt_cli_usage(prog, "out of memory");
    for (int i = 0; i < argc; i++) {
        if (i > 0 && strcmp(argv[i], "-n") == 0)
            args[i] = "--max-tokens";
        else if (i > 0 && strcmp(argv[i], "-o") == 0)
            args[i] = "--out";
        else
            args[i] = argv[i];
    }
    vt_errinfo ei = {0};
    bool help = false;
    int rv = vt_config_parse(opts, argc, args, pos, &help, &ei);
    free(args);
    if (help) {
        vt_config_help(stdout, prog, summary, opts);
        return VT_EXIT_OK;
    }
    if (rv)
        return vt_cli_usage(prog, "%s", vt_errinfo_msg(&ei));
    return -1;
}

int vt_cli_fail(const char *prog, const char *what, int rv, const vt_errinfo *ei)
{
    const char *detail = (ei && ei->detail[0]) ? ei->detail : vt_strerror(rv);
    fprintf(stderr, "%s: %s: %s\n", prog, what, detail);
    return VT_EXIT_FAIL;
}

int vt_cli_usage(const char *prog, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return VT_EXIT_USAGE;
}

int vt_cli_redis(const char *prog, const char *url, vt_redis **out)
{
    vt_errinfo ei = {0};
    int rv = vt_redis_connect(out, url, 2000, 5000, &ei);
    if (rv)
        return vt_cli_fail(prog, "cannot reach Redis", rv, &ei);
    return 0;
}

/* The whole file, refusing one larger than max (it is someone's input). */
int vt_cli_read_file(const char *prog, const char *path, size_t max, uint8_t **buf, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "%s: %s: cannot open\n", prog, path);
        return VT_EXIT_FAIL;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    while (b) {
        size_t k = fread(b + n, 1, cap - n, fp);
        n += k;
        if (k == 0)
            break;
        if (n == cap) {
            if (cap >= max) {
                fclose(fp);
                free(b);
                fprintf(stderr, "%s: %s: larger than %zu bytes\n", prog, path, max);
                return VT_EXIT_FAIL;
            }
            uint8_t *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
    }
    fclose(fp);
    if (!b) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return VT_EXIT_FAIL;
    }
    *buf = b;
    *len = n;
    return 0;
}
