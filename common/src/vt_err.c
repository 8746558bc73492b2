/* vt_err.c - the one place where error codes become words. */
#include "vt_err.h"

#include <stdarg.h>
#include <stdio.h>

struct err_text {
    const char *name;
    const char *text;
};

/* Indexed by -code. */
static const struct err_text err_table[] = {
    {"ok", "success"},
    {"nomem", "out of memory"},
    {"inval", "invalid argument"},
    {"io", "input/output error"},
    {"format", "malformed data"},
    {"unsupported", "not supported"},
    {"range", "value out of range"},
    {"truncated", "input is truncated"},
    {"proto", "malformed protocol message"},
    {"version", "unsupported protocol or file version"},
    {"auth", "authentication failed"},
    {"denied", "permission denied"},
    {"notfound", "not found"},
    {"overloaded", "overloaded, retry later"},
    {"timeout", "timed out"},
    {"cancelled", "cancelled"},
    {"expired", "deadline expired"},
    {"unavailable", "service unavailable"},
    {"nomodel", "no live worker serves this model"},
    {"closed", "closed"},
    {"badsig", "signature does not verify"},
    {"mismatch", "mismatch"},
    {"ratelimit", "rate limit exceeded"},
    {"exists", "already exists"},
    {"internal", "internal error"},
    {"transport", "transport error"},
    {"cuda", "CUDA error"},
    {"quarantined", "node is quarantined"},
    {"conflict", "concurrent update conflict"},
    {"toobig", "too large"},
};

_Static_assert(sizeof(err_table) / sizeof(err_table[0]) == 1 - VT_ERR__LAST,
               "err_table must cover every vt_err code");

static const struct err_text *lookup(int err)
{
    if (err > 0 || err < VT_ERR__LAST)
        return NULL;
    return &err_table[-err];
}

const char *vt_strerror(int err)
{
    const struct err_text *t = lookup(err);
    return t ? t->text : "unknown error";
}

const char *vt_errname(int err)
{
    const struct err_text *t = lookup(err);
    return t ? t->name : "unknown";
}

int vt_fail(vt_errinfo *ei, int code, const char *fmt, ...)
{
    if (ei) {
        va_list ap;
        ei->code = code;
        va_start(ap, fmt);
        vsnprintf(ei->detail, sizeof(ei->detail), fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *vt_errinfo_msg(const vt_errinfo *ei)
{
    if (!ei)
        return "unknown error";
    if (ei->detail[0])
        return ei->detail;
    return vt_strerror(ei->code);
}
