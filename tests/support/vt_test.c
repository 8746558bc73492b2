/* vt_test.c - check counters and reporting for vt_test.h. */
#include "vt_test.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* Process-wide by design: one test executable = one tally. */
static atomic_uint passed;
static atomic_uint failed;

bool vt_test_check(bool ok, const char *file, int line, const char *expr,
                   const char *fmt, ...)
{
    if (ok) {
        atomic_fetch_add(&passed, 1);
        const char *v = getenv("VT_TEST_VERBOSE");
        if (v && v[0] == '1')
            fprintf(stderr, "ok %s:%d: %s\n", file, line, expr);
        return true;
    }
    atomic_fetch_add(&failed, 1);
    char detail[512] = "";
    if (fmt && fmt[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
    }
    fprintf(stderr, "FAIL %s:%d: %s%s%s\n", file, line, expr, detail[0] ? ": " : "", detail);
    fflush(stderr);
    return false;
}

unsigned vt_test_failures(void)
{
    return atomic_load(&failed);
}

int vt_test_done(void)
{
    unsigned p = atomic_load(&passed), f = atomic_load(&failed);
    printf("%u passed, %u failed\n", p, f);
    fflush(stdout);
    if (f == 0 && p == 0) {
        fprintf(stderr, "FAIL: no checks ran\n");
        return 1;
    }
    return f ? 1 : 0;
}

void vt_test_skip(const char *why)
{
    printf("SKIP %s\n", why ? why : "");
    fflush(stdout);
    exit(77);
}
