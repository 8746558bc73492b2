/* registry_common.c - Redis key schema and atomic create/revoke scripts
 * shared by agents and nodes (see vt_registry.h for the schema). */
#include "registry_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_clock.h"

/* KEYS[1] hash, KEYS[2] index set; ARGV[1] set member, ARGV[2..] fields.
 * Refusing an existing hash makes ids and node keys unique and never
 * reused (records are revoked, never deleted). */
static const char create_lua[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end "
    "redis.call('HSET', KEYS[1], unpack(ARGV, 2)) "
    "redis.call('SADD', KEYS[2], ARGV[1]) "
    "return 1";

/* KEYS[1] hash; ARGV[1] now_ms. Revoking twice keeps the first time. */
static const char revoke_lua[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end "
    "if redis.call('HGET', KEYS[1], 'revoked') ~= '1' then "
    "  redis.call('HSET', KEYS[1], 'revoked', '1', 'revoked_ms', ARGV[1]) "
    "end "
    "return 1";

/* Run a command whose reply must be an integer (our scripts' 0/1). */
static int command_int(vt_redis *r, int argc, const char **argv, long long *out,
                       vt_errinfo *ei)
{
    redisReply *rep;
    int rv = vt_redis_commandv(r, &rep, ei, argc, argv, NULL);
    if (rv != 0)
        return rv;
    rv = vt_redis_reply_int(rep, out, ei);
    freeReplyObject(rep);
    return rv;
}

void reg_agent_key(const char *id, char *buf, size_t n)
{
    snprintf(buf, n, "verity:agent:{%s}", id);
}

void reg_node_key(const char *pubhex, char *buf, size_t n)
{
    snprintf(buf, n, "verity:node:{%s}", pubhex);
}

bool reg_valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > VT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E)
            return false;
    return true;
}

int reg_create(vt_redis *r, const char *key, const char *set,
               const char *member, int nfields, const char *const *fv,
               vt_errinfo *ei)
{
    enum { MAXF = 8 };
    if (nfields > MAXF)
        return vt_fail(ei, VT_ERR_INTERNAL, "registry: too many fields");
    const char *argv[6 + 2 * MAXF];
    int argc = 0;
    argv[argc++] = "EVAL";
    argv[argc++] = create_lua;
    argv[argc++] = "2";
    argv[argc++] = key;
    argv[argc++] = set;
    argv[argc++] = member;
    for (int i = 0; i < 2 * nfields; i++)
        argv[argc++] = fv[i];
    long long created = 0;
    int rv = command_int(r, argc, argv, &created, ei);
    if (rv != 0)
        return rv;
    return created ? 0 : vt_fail(ei, VT_ERR_EXISTS, "registry: %s already exists", key);
}

int reg_revoke(vt_redis *r, const char *key, vt_errinfo *ei)
{
    char now[32];
    snprintf(now, sizeof(now), "%lld", (long long)vt_wall_ms());
    const char *argv[] = {"EVAL", revoke_lua, "1", key, now};
    long long found = 0;
    int rv = command_int(r, 5, argv, &found, ei);
    if (rv != 0)
        return rv;
    return found ? 0 : vt_fail(ei, VT_ERR_NOTFOUND, "registry: %s not found", key);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void reg_free_members(char **m, size_t n)
{
    for (size_t i = 0; m && i < n; i++)
        free(m[i]);
    free(m);
}

int reg_members(vt_redis *r, const char *set, bool (*valid)(const char *),
                char ***out, size_t *n, vt_errinfo *ei)
{
    *out = NULL;
    *n = 0;
    redisReply *rep;
    int rv = vt_redis_command(r, &rep, ei, "SMEMBERS %s", set);
    if (rv != 0)
        return rv;
    size_t count;
    rv = vt_redis_reply_array(rep, 10000000, &count, ei);
    char **m = NULL;
    size_t k = 0;
    if (rv == 0 && count > 0 && !(m = calloc(count, sizeof(*m))))
        rv = vt_fail(ei, VT_ERR_NOMEM, "registry: out of memory");
    for (size_t i = 0; rv == 0 && i < count; i++) {
        char buf[128];
        /* Skip junk a person may have added by hand rather than fail. */
        if (vt_redis_reply_strcpy(rep->element[i], buf, sizeof(buf), NULL) != 0 || !valid(buf))
            continue;
        if (!(m[k] = strdup(buf)))
            rv = vt_fail(ei, VT_ERR_NOMEM, "registry: out of memory");
        else
            k++;
    }
    freeReplyObject(rep);
    if (rv != 0) {
        reg_free_members(m, k);
        return rv;
    }
    if (k > 1)
        qsort(m, k, sizeof(*m), cmp_str);
    *out = m;
    *n = k;
    return 0;
}

int reg_list(vt_redis *r, const char *set, bool (*valid)(const char *),
             size_t elem_size, reg_get_fn get, void **out, size_t *n,
             vt_errinfo *ei)
{
    *out = NULL;
    *n = 0;
    char **members;
    size_t count;
    int rv = reg_members(r, set, valid, &members, &count, ei);
    if (rv != 0)
        return rv;
    char *list = count ? calloc(count, elem_size) : NULL;
    if (count && !list) {
        reg_free_members(members, count);
        return vt_fail(ei, VT_ERR_NOMEM, "registry: out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < count && rv == 0; i++) {
        int grv = get(r, members[i], list + k * elem_size, ei);
        if (grv == 0)
            k++;
        else if (grv != VT_ERR_NOTFOUND && grv != VT_ERR_FORMAT)
            rv = grv; /* Redis trouble: report; malformed records are skipped */
    }
    reg_free_members(members, count);
    if (rv != 0) {
        free(list);
        return rv;
    }
    *out = list;
    *n = k;
    return 0;
}
