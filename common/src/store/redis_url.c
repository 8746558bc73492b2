/* redis_url.c - parse redis:// and unix:// URLs (see vt_redis.h). */
#include "vt_redis.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_config.h"

/* The URL as shown in errors: printable, bounded, and never a password.
 * One static-free buffer per call site via a compound literal. */
static const char *shown_in(const char *url, char *buf, size_t n)
{
    if (strchr(url, '@'))
        return "(with password)";
    vt_printable(url, buf, n);
    return buf;
}
#define shown(url) shown_in((url), (char[128]){0}, 128)

static int parse_db(const char *s, const char *url, int *db, vt_errinfo *ei)
{
    int64_t v;
    if (vt_parse_int64(s, &v) != 0 || !isdigit((unsigned char)s[0]) || v < 0 || v > 15)
        return vt_fail(ei, VT_ERR_INVAL, "redis URL '%s': database must be 0..15", shown(url));
    *db = (int)v;
    return 0;
}

static int parse_unix(const char *url, const char *rest, vt_redis_url *out,
                      vt_errinfo *ei)
{
    if (rest[0] != '/')
        return vt_fail(ei, VT_ERR_INVAL, "redis URL '%s': unix:// needs an absolute path (unix:///path/redis.sock)", shown(url));
    const char *q = strchr(rest, '?');
    size_t plen = q ? (size_t)(q - rest) : strlen(rest);
    if (plen >= sizeof(out->path) || plen < 2)
        return vt_fail(ei, VT_ERR_INVAL, "redis URL '%s': socket path must be 2..%zu bytes", url, sizeof(out->path) - 1);
    memcpy(out->path, rest, plen);
    out->path[plen] = '\0';
    if (q) {
        if (strncmp(q, "?db=", 4) != 0)
            return vt_fail(ei, VT_ERR_INVAL, "redis URL '%s': only ?db=N is understood", shown(url));
        return parse_db(q + 4, url, &out->db, ei);
    }
    return 0;
}

static int parse_tcp(const char *url, const char *rest, vt_redis_url *out,
                     vt_errinfo *ei)
{
    const char *at = strrchr(rest, '@');
    if (at) {
        if (rest[0] != ':' || at == rest + 1)
            return vt_fail(ei, VT_ERR_INVAL, "redis URL: credentials must be ':password@'");
        size_t pl = (size_t)(at - rest - 1);
        if (pl >= sizeof(out->password))
            return vt_fail(ei, VT_ERR_INVAL, "redis URL: password too long");
        memcpy(out->password, rest + 1, pl);
        out->password[pl] = '\0';
        rest = at + 1;
    }
    const char *slash = strchr(rest, '/');
    size_t hp = slash ? (size_t)(slash - rest) : strlen(rest);
    char hostport[300];
    if (hp == 0 || hp >= sizeof(hostport))
        return vt_fail(ei, VT_ERR_INVAL, "redis URL '%s': missing or too long host", shown(url));
    memcpy(hostport, rest, hp);
    hostport[hp] = '\0';

    /* A port is optional: "host" alone, "[v6]" alone, or host:port. */
    const char *lastc = strrchr(hostport, ':');
    bool has_port = lastc && (hostport[0] != '[' || lastc > strchr(hostport, ']'));
    if (!has_port) {
        char tmp[310];
        snprintf(tmp, sizeof(tmp), "%s:6379", hostport);
        if (vt_parse_hostport(tmp, out->host, sizeof(out->host), &out->port) != 0)
            return vt_fail(ei, VT_ERR_INVAL, "redis URL '%s': bad host", shown(url));
    } else if (vt_parse_hostport(hostport, out->host, sizeof(out->host), &out->port) != 0) {
        return vt_fail(ei, VT_ERR_INVAL, "redis URL '%s': expected host:port with port 1..65535", shown(url));
    }
    if (out->port < 1)
        return vt_fail(ei, VT_ERR_INVAL, "redis URL '%s': port must be 1..65535", shown(url));
    if (slash && slash[1])
        return parse_db(slash + 1, url, &out->db, ei);
    return 0;
}

int vt_redis_url_parse(const char *url, vt_redis_url *out, vt_errinfo *ei)
{
    if (!url || !out)
        return vt_fail(ei, VT_ERR_INVAL, "redis URL missing");
    memset(out, 0, sizeof(*out));
    if (strncmp(url, "redis://", 8) == 0) {
        out->kind = VT_REDIS_TCP;
        return parse_tcp(url, url + 8, out, ei);
    }
    if (strncmp(url, "unix://", 7) == 0) {
        out->kind = VT_REDIS_UNIX;
        return parse_unix(url, url + 7, out, ei);
    }
    return vt_fail(ei, VT_ERR_INVAL,
                   "redis URL '%s': must start with redis:// or unix://", shown(url));
}

int vt_redis_url_check(const char *url, vt_errinfo *ei)
{
    vt_redis_url u;
    return vt_redis_url_parse(url, &u, ei);
}
