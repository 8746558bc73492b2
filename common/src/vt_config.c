/* vt_config.c - option tables: argv + environment + defaults (see
 * vt_config.h for the syntax, precedence and --help format). */
#include "vt_config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nng/nng.h>

const char *const vt_log_format_choices[] = {"text", "json", NULL};
const char *const vt_log_level_choices[] = {"debug", "info", "warn", "error", NULL};

/* ---- strlist ----------------------------------------------------------- */

int vt_strlist_push(vt_strlist *l, const char *s)
{
    char *copy = strdup(s);
    if (!copy)
        return VT_ERR_NOMEM;
    char **items = realloc(l->items, (l->n + 1) * sizeof(*items));
    if (!items) {
        free(copy);
        return VT_ERR_NOMEM;
    }
    items[l->n++] = copy;
    l->items = items;
    return 0;
}

void vt_strlist_free(vt_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* ---- value parsers ------------------------------------------------------ */

int vt_parse_int64(const char *s, int64_t *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return VT_ERR_INVAL;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return VT_ERR_INVAL;
    *out = (int64_t)v;
    return 0;
}

int vt_parse_duration_ms(const char *s, int64_t *out)
{
    if (!s || !*s || !isdigit((unsigned char)*s))
        return VT_ERR_INVAL;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno)
        return VT_ERR_INVAL;
    long long mul;
    if (*end == '\0' || strcmp(end, "ms") == 0)
        mul = 1;
    else if (strcmp(end, "s") == 0)
        mul = 1000;
    else if (strcmp(end, "m") == 0)
        mul = 60000;
    else if (strcmp(end, "h") == 0)
        mul = 3600000;
    else
        return VT_ERR_INVAL;
    if (v > LLONG_MAX / mul)
        return VT_ERR_INVAL;
    *out = (int64_t)(v * mul);
    return 0;
}

int vt_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; s && i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return VT_ERR_INVAL;
}

static bool valid_hostname(const char *h, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        if (!isalnum(c) && c != '.' && c != '-' && c != '_')
            return false;
    }
    return true;
}

int vt_parse_hostport(const char *s, char *host, size_t hostsz, int *port)
{
    if (!s)
        return VT_ERR_INVAL;
    const char *colon = strrchr(s, ':');
    if (!colon || colon[1] == '\0')
        return VT_ERR_INVAL;
    const char *h = s;
    size_t hl = (size_t)(colon - s);
    if (hl >= 2 && h[0] == '[') { /* [IPv6]:port */
        if (h[hl - 1] != ']')
            return VT_ERR_INVAL;
        h++;
        hl -= 2;
        if (hl == 0)
            return VT_ERR_INVAL;
        for (size_t i = 0; i < hl; i++)
            if (!isxdigit((unsigned char)h[i]) && h[i] != ':' && h[i] != '.')
                return VT_ERR_INVAL;
    } else if (!valid_hostname(h, hl)) {
        return VT_ERR_INVAL;
    }
    int64_t p;
    if (vt_parse_int64(colon + 1, &p) != 0 || p < 0 || p > 65535 ||
        !isdigit((unsigned char)colon[1]))
        return VT_ERR_INVAL;
    if (host) {
        if (hl >= hostsz)
            return VT_ERR_INVAL;
        memcpy(host, h, hl);
        host[hl] = '\0';
    }
    if (port)
        *port = (int)p;
    return 0;
}

/* An NNG address we can listen on or dial. */
static int check_nng_url(const char *s)
{
    nng_url *u;
    if (nng_url_parse(&u, s) != 0)
        return VT_ERR_INVAL;
    int rv = 0;
    const char *sc = u->u_scheme;
    if (strcmp(sc, "tcp") == 0 || strcmp(sc, "tcp4") == 0 ||
        strcmp(sc, "tcp6") == 0 || strcmp(sc, "tls+tcp") == 0 ||
        strcmp(sc, "tls+tcp4") == 0 || strcmp(sc, "tls+tcp6") == 0) {
        int64_t p;
        if (u->u_port[0] == '\0' || vt_parse_int64(u->u_port, &p) != 0 ||
            p < 0 || p > 65535 || (u->u_path[0] && strcmp(u->u_path, "/") != 0))
            rv = VT_ERR_INVAL;
    } else if (strcmp(sc, "ipc") == 0 || strcmp(sc, "inproc") == 0 ||
               strcmp(sc, "abstract") == 0) {
        if (strlen(s) <= strlen(sc) + 3)
            rv = VT_ERR_INVAL;
    } else {
        rv = VT_ERR_INVAL;
    }
    nng_url_free(u);
    return rv;
}

/* ---- table handling ---------------------------------------------------- */

/* Where a value came from, for error messages: "--queue-max" or
 * "VERITY_QUEUE_MAX" or "default of --queue-max". */
typedef struct origin {
    char text[96];
    bool is_default;
} origin;

void vt_printable(const char *v, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; v && v[i] && o + 8 < outsz; i++) {
        unsigned char c = (unsigned char)v[i];
        if (i >= 80) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c == 0x7F)
            o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
}

static size_t count_opts(const vt_opt *opts)
{
    size_t n = 0;
    while (opts[n].flag)
        n++;
    return n;
}

static const char *metavar_of(const vt_opt *o, char *buf, size_t bufsz)
{
    if (o->metavar)
        return o->metavar;
    switch (o->type) {
    case VT_OPT_INT: return "N";
    case VT_OPT_DURATION_MS: return "MS";
    case VT_OPT_HOSTPORT: return "ADDR";
    case VT_OPT_URL: return "URL";
    case VT_OPT_FILE: return "FILE";
    case VT_OPT_ENUM: {
        size_t k = 0;
        buf[0] = '\0';
        for (size_t i = 0; o->choices && o->choices[i]; i++)
            k += (size_t)snprintf(buf + k, k < bufsz ? bufsz - k : 0, "%s%s",
                                  i ? "|" : "", o->choices[i]);
        return buf;
    }
    default: return "VALUE";
    }
}

static int bad(vt_errinfo *ei, const origin *org, const char *value,
               const char *problem)
{
    char q[128];
    vt_printable(value, q, sizeof(q));
    if (org->is_default)
        return vt_fail(ei, VT_ERR_INTERNAL, "%s: '%s' %s", org->text, q, problem);
    return vt_fail(ei, VT_ERR_INVAL, "%s: '%s' %s", org->text, q, problem);
}

/* Parse one scalar value for o (not LIST) and store it. */
static int apply_scalar(const vt_opt *o, const char *v, const origin *org,
                        vt_errinfo *ei)
{
    char tmp[128];
    switch (o->type) {
    case VT_OPT_INT:
    case VT_OPT_DURATION_MS: {
        int64_t x;
        int rv = o->type == VT_OPT_INT ? vt_parse_int64(v, &x)
                                       : vt_parse_duration_ms(v, &x);
        if (rv != 0)
            return bad(ei, org, v,
                       o->type == VT_OPT_INT
                           ? "is not an integer"
                           : "is not a duration (e.g. 500, 500ms, 2s, 1m)");
        if ((o->min || o->max) && (x < o->min || x > o->max)) {
            snprintf(tmp, sizeof(tmp), "must be between %lld and %lld",
                     (long long)o->min, (long long)o->max);
            return bad(ei, org, v, tmp);
        }
        *(int64_t *)o->dest = x;
        return 0;
    }
    case VT_OPT_BOOL: {
        bool b;
        if (vt_parse_bool(v, &b) != 0)
            return bad(ei, org, v, "is not a boolean (true/false, 1/0, yes/no, on/off)");
        *(bool *)o->dest = b;
        return 0;
    }
    case VT_OPT_ENUM:
        for (int i = 0; o->choices && o->choices[i]; i++) {
            if (strcmp(v, o->choices[i]) == 0) {
                *(int *)o->dest = i;
                return 0;
            }
        }
        {
            char mv[96];
            snprintf(tmp, sizeof(tmp), "is not one of %s", metavar_of(o, mv, sizeof(mv)));
        }
        return bad(ei, org, v, tmp);
    case VT_OPT_HOSTPORT:
        if (strcmp(v, "off") != 0 && vt_parse_hostport(v, NULL, 0, NULL) != 0)
            return bad(ei, org, v, "is not host:port (port 0-65535) or off");
        break;
    case VT_OPT_URL:
        if (check_nng_url(v) != 0)
            return bad(ei, org, v,
                       "is not an address (tcp://host:port, ipc:///path, "
                       "tls+tcp://host:port, inproc://name)");
        break;
    case VT_OPT_FILE: {
        struct stat st;
        if (stat(v, &st) != 0 || access(v, R_OK) != 0) {
            snprintf(tmp, sizeof(tmp), "cannot be read: %s", strerror(errno));
            return bad(ei, org, v, tmp);
        }
        if (!S_ISREG(st.st_mode))
            return bad(ei, org, v, "is not a regular file");
        break;
    }
    case VT_OPT_STRING:
        if (!v[0] && !(o->flags & VT_OPT_ALLOW_EMPTY))
            return bad(ei, org, v, "must not be empty");
        break;
    default:
        return vt_fail(ei, VT_ERR_INTERNAL, "--%s: bad option type", o->flag);
    }
    if (o->check) {
        vt_errinfo sub = {0, ""};
        int rv = o->check(v, &sub);
        if (rv != 0)
            return bad(ei, org, v, sub.detail[0] ? sub.detail : vt_strerror(rv));
    }
    *(const char **)o->dest = v;
    return 0;
}

static int apply_list_item(const vt_opt *o, const char *v, size_t n,
                           const origin *org, vt_errinfo *ei)
{
    char *item = strndup(v, n);
    if (!item)
        return VT_ERR_NOMEM;
    int rv = 0;
    if (!item[0]) {
        rv = bad(ei, org, item, "has an empty item");
    } else if (o->check) {
        vt_errinfo sub = {0, ""};
        int crv = o->check(item, &sub);
        if (crv != 0)
            rv = bad(ei, org, item, sub.detail[0] ? sub.detail : vt_strerror(crv));
    }
    if (rv == 0)
        rv = vt_strlist_push((vt_strlist *)o->dest, item);
    free(item);
    return rv;
}

/* Comma-separated value (environment or default) into a LIST. */
static int apply_list_csv(const vt_opt *o, const char *v, const origin *org,
                          vt_errinfo *ei)
{
    const char *p = v;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        int rv = apply_list_item(o, p, n, org, ei);
        if (rv != 0)
            return rv;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

static int check_table(const vt_opt *opts, vt_errinfo *ei)
{
    for (size_t i = 0; opts[i].flag; i++) {
        const vt_opt *o = &opts[i];
        if (!o->dest || o->type < VT_OPT_STRING || o->type > VT_OPT_FILE ||
            (o->type == VT_OPT_ENUM && !o->choices) || !o->flag[0] ||
            strcmp(o->flag, "help") == 0)
            return vt_fail(ei, VT_ERR_INTERNAL, "option table entry '--%s' is invalid", o->flag);
        for (size_t j = 0; j < i; j++)
            if (strcmp(opts[j].flag, o->flag) == 0)
                return vt_fail(ei, VT_ERR_INTERNAL, "option '--%s' listed twice", o->flag);
    }
    return 0;
}

int vt_config_parse(const vt_opt *opts, int argc, char *const argv[],
                    vt_strlist *positional, bool *help, vt_errinfo *ei)
{
    if (help)
        *help = false;
    int rv = check_table(opts, ei);
    if (rv != 0)
        return rv;
    size_t n = count_opts(opts);
    bool *set = calloc(n + 1, sizeof(bool)); /* given by a flag */
    if (!set)
        return VT_ERR_NOMEM;

    bool options_done = false;
    for (int i = 1; i < argc && rv == 0; i++) {
        const char *a = argv[i];
        if (options_done || a[0] != '-' || a[1] == '\0') {
            if (!positional) {
                char q[128];
                vt_printable(a, q, sizeof(q));
                rv = vt_fail(ei, VT_ERR_INVAL, "unexpected argument '%s'", q);
            } else {
                rv = vt_strlist_push(positional, a);
            }
            continue;
        }
        if (strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            if (help)
                *help = true;
            continue;
        }
        const char *name = a[1] == '-' ? a + 2 : NULL;
        const char *eq = name ? strchr(name, '=') : NULL;
        size_t nl = name ? (eq ? (size_t)(eq - name) : strlen(name)) : 0;
        size_t k = n;
        for (size_t j = 0; name && j < n; j++)
            if (strlen(opts[j].flag) == nl && strncmp(opts[j].flag, name, nl) == 0)
                k = j;
        if (k == n) {
            char q[128];
            vt_printable(a, q, sizeof(q));
            if (eq && (size_t)(eq - a) < sizeof(q))
                q[eq - a] = '\0';
            rv = vt_fail(ei, VT_ERR_INVAL, "unknown option '%s' (see --help)", q);
            continue;
        }
        const vt_opt *o = &opts[k];
        origin org = {"", false};
        snprintf(org.text, sizeof(org.text), "--%s", o->flag);
        const char *v;
        if (eq)
            v = eq + 1;
        else if (o->type == VT_OPT_BOOL)
            v = "true";
        else if (i + 1 < argc)
            v = argv[++i];
        else {
            rv = vt_fail(ei, VT_ERR_INVAL, "--%s: missing value", o->flag);
            continue;
        }
        if (o->type == VT_OPT_LIST)
            rv = apply_list_item(o, v, strlen(v), &org, ei);
        else
            rv = apply_scalar(o, v, &org, ei);
        set[k] = true;
    }
    if (rv != 0 || (help && *help)) {
        free(set);
        return rv;
    }

    for (size_t k = 0; k < n && rv == 0; k++) {
        const vt_opt *o = &opts[k];
        if (set[k])
            continue;
        const char *env = o->env ? getenv(o->env) : NULL;
        origin org = {"", false};
        /* An empty variable counts as unset: charts often template
         * optional values as "". */
        if (env && env[0]) {
            snprintf(org.text, sizeof(org.text), "%s", o->env);
            rv = o->type == VT_OPT_LIST ? apply_list_csv(o, env, &org, ei)
                                        : apply_scalar(o, env, &org, ei);
        } else if (o->flags & VT_OPT_REQUIRED) {
            if (o->env)
                rv = vt_fail(ei, VT_ERR_INVAL, "--%s (%s) is required", o->flag, o->env);
            else
                rv = vt_fail(ei, VT_ERR_INVAL, "--%s is required", o->flag);
        } else if (o->def) {
            snprintf(org.text, sizeof(org.text), "default of --%s", o->flag);
            org.is_default = true;
            rv = o->type == VT_OPT_LIST ? apply_list_csv(o, o->def, &org, ei)
                                        : apply_scalar(o, o->def, &org, ei);
        }
    }
    free(set);
    return rv;
}

void vt_config_help(FILE *fp, const char *prog, const char *summary,
                    const vt_opt *opts)
{
    fprintf(fp, "Usage: %s [options]\n", prog ? prog : "verity");
    if (summary)
        fprintf(fp, "%s\n", summary);
    fprintf(fp, "\nOptions:\n");
    for (size_t i = 0; opts[i].flag; i++) {
        const vt_opt *o = &opts[i];
        char mv[128];
        fprintf(fp, "  --%s", o->flag);
        if (o->type != VT_OPT_BOOL)
            fprintf(fp, " %s", metavar_of(o, mv, sizeof(mv)));
        fprintf(fp, "  (%s, ", o->env ? o->env : "-");
        if (o->flags & VT_OPT_REQUIRED)
            fprintf(fp, "required");
        else if (o->def_help)
            fprintf(fp, "default %s", o->def_help);
        else if (o->def)
            fprintf(fp, "default %s", o->def);
        else if (o->type == VT_OPT_BOOL)
            fprintf(fp, "default off");
        else
            fprintf(fp, "no default");
        fprintf(fp, ")  %s\n", o->help ? o->help : "");
    }
    fprintf(fp, "  --help  (-, no default)  show this help and exit\n");
}

void vt_config_or_exit(const vt_opt *opts, int argc, char *const argv[],
                       const char *prog, const char *summary)
{
    bool help = false;
    vt_errinfo ei = {0, ""};
    int rv = vt_config_parse(opts, argc, argv, NULL, &help, &ei);
    if (rv == 0 && help) {
        vt_config_help(stdout, prog, summary, opts);
        fflush(stdout);
        vt_config_free(opts);
        exit(0);
    }
    if (rv != 0) {
        fprintf(stderr, "%s: %s\n", prog ? prog : "verity", vt_errinfo_msg(&ei));
        vt_config_free(opts);
        exit(2);
    }
}

void vt_config_free(const vt_opt *opts)
{
    for (size_t i = 0; opts[i].flag; i++)
        if (opts[i].type == VT_OPT_LIST && opts[i].dest)
            vt_strlist_free((vt_strlist *)opts[i].dest);
}

int vt_common_log_open(const vt_common_opts *c, const char *component,
                       vt_log **out)
{
    return vt_log_open(out, component, (vt_log_level)c->log_level,
                       (vt_log_format)c->log_format, stderr);
}
