/* cli_util.c - strict flag parsing (see cli_util.h). */
#include "cli_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vt_cli_usage_error(const char *prog, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help'.\n", prog);
    exit(2);
}

int vt_cli_flag(const char *prog, int argc, char **argv, int *i, const char *name,
                const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != 0)
        return 0;
    if (*i + 1 >= argc)
        vt_cli_usage_error(prog, "%s needs a value", name);
    *value = argv[++*i];
    return 1;
}

uint64_t vt_cli_u64(const char *prog, const char *flag, const char *s, uint64_t lo, uint64_t hi)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        vt_cli_usage_error(prog, "%s: '%s' is not a non-negative integer", flag, s ? s : "");
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end)
        vt_cli_usage_error(prog, "%s: '%s' is not a non-negative integer", flag, s);
    if (v < lo || v > hi)
        vt_cli_usage_error(prog, "%s: %llu is outside %llu..%llu", flag, v,
                           (unsigned long long)lo, (unsigned long long)hi);
    return v;
}

float vt_cli_f32(const char *prog, const char *flag, const char *s, float lo, float hi)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == ' ')
        vt_cli_usage_error(prog, "%s: '%s' is not a number", flag, s ? s : "");
    float v = strtof(s, &end);
    if (errno || *end || v != v)
        vt_cli_usage_error(prog, "%s: '%s' is not a number", flag, s);
    if (!(v >= lo && v <= hi))
        vt_cli_usage_error(prog, "%s: %s is outside %g..%g", flag, s, (double)lo, (double)hi);
    return v;
}

int vt_cli_choice(const char *prog, const char *flag, const char *s, const char *const *choices)
{
    char list[256] = "";
    for (int i = 0; choices[i]; i++) {
        if (strcmp(s, choices[i]) == 0)
            return i;
        if (strlen(list) + strlen(choices[i]) + 2 < sizeof list) {
            if (i)
                strcat(list, ", ");
            strcat(list, choices[i]);
        }
    }
    vt_cli_usage_error(prog, "%s: '%s' is not one of %s", flag, s, list);
}
