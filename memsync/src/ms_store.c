/* ms_store.c - memsync's Redis data model: requests' first round trip,
 * reads, compare-and-set writes, index loading and catch-up (verify lives
 * in ms_verify.c). Key layout and the write protocol: ms_store.h. */
#include "ms_store.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms_chain.h"
#include "ms_store_int.h"
#include "ms_tokenize.h"
#include "vt_clock.h"
#include "vt_protocol.h"

/* The write script. KEYS: head, log, items, rate-limit counter. ARGV:
 * expected head ("" for an empty memory), new head, op bytes, max items
 * (0 = no limit), "1" if the op adds an item, requests/s allowed (0 = do
 * not count this request here), then mutations as (name, argc, args...).
 * Every mutation is checked before the first write, so a bad list changes
 * nothing. UNPOST key field set member: HDEL, and SREM the term from the
 * term set when its postings hash became empty. POST prefix id set terms:
 * for each "term:tf" in terms (separated by spaces; terms never contain
 * either), HSET prefix..term id tf, and SADD the terms to the term set -
 * one argument instead of five per term, which Redis would otherwise parse
 * and hand to Lua one by one. SETOP key: SET key to the
 * op's payload, ARGV[3] from byte 22 on (after "VMO1", seq, kind, ts: 21
 * bytes) - for add/update that payload is the item record, so the record
 * crosses the wire and is encoded once, not twice.
 * Returns {1, new head}, {0, current head} on a lost compare-and-set,
 * {2, current head} when the agent is at max items, {3, ""} when over the
 * rate limit. */
static const char APPLY_LUA[] =
    "#!lua\n"
    "local rl = tonumber(ARGV[6])\n"
    "if rl > 0 then\n"
    "  local c = redis.call('INCR', KEYS[4])\n"
    "  if c == 1 then redis.call('EXPIRE', KEYS[4], 2) end\n"
    "  if c > rl then return {3, ''} end\n"
    "end\n"
    "local cur = redis.call('GET', KEYS[1]) or ''\n"
    "if cur ~= ARGV[1] then return {0, cur} end\n"
    "local maxn = tonumber(ARGV[4])\n"
    /* ops before this one: each added at most one item, so below maxn of
     * them the agent cannot be full and the ZCARD is not needed */
    "local before = tonumber(string.match(ARGV[2], '^(%d+):')) - 1\n"
    "if ARGV[5] == '1' and maxn > 0 and before >= maxn and\n"
    "   redis.call('ZCARD', KEYS[3]) >= maxn then\n"
    "  return {2, cur}\n"
    "end\n"
    "local ok = {SET=1, DEL=1, ZADD=1, ZREM=1, HSET=1, HDEL=1, SADD=1, UNPOST=1, SETOP=1, POST=1}\n"
    "local n = #ARGV\n"
    "local i = 7\n"
    "while i <= n do\n"
    "  local c = tonumber(ARGV[i + 1])\n"
    "  if not ok[ARGV[i]] or not c or i + 1 + c > n then\n"
    "    return redis.error_reply('ERR memsync: bad mutation list')\n"
    "  end\n"
    "  i = i + 2 + c\n"
    "end\n"
    "i = 7\n"
    "while i <= n do\n"
    "  local name, c = ARGV[i], tonumber(ARGV[i + 1])\n"
    "  if name == 'UNPOST' then\n"
    "    redis.call('HDEL', ARGV[i + 2], ARGV[i + 3])\n"
    "    if redis.call('EXISTS', ARGV[i + 2]) == 0 then\n"
    "      redis.call('SREM', ARGV[i + 4], ARGV[i + 5])\n"
    "    end\n"
    "  elseif name == 'POST' then\n"
    "    local pre, id, terms = ARGV[i + 2], ARGV[i + 3], {}\n"
    "    for t, tf in string.gmatch(ARGV[i + 5], '([^ ]+):(%d+)') do\n"
    "      redis.call('HSET', pre .. t, id, tf)\n"
    "      terms[#terms + 1] = t\n"
    "      if #terms == 200 then\n" /* unpack's stack limit */
    "        redis.call('SADD', ARGV[i + 4], unpack(terms))\n"
    "        terms = {}\n"
    "      end\n"
    "    end\n"
    "    if #terms > 0 then redis.call('SADD', ARGV[i + 4], unpack(terms)) end\n"
    "  elseif name == 'SETOP' then\n"
    "    redis.call('SET', ARGV[i + 2], string.sub(ARGV[3], 22))\n"
    "  else\n"
    "    redis.call(name, unpack(ARGV, i + 2, i + 1 + c))\n"
    "  end\n"
    "  i = i + 2 + c\n"
    "end\n"
    "redis.call('RPUSH', KEYS[2], ARGV[3])\n"
    "redis.call('SET', KEYS[1], ARGV[2])\n"
    "return {1, ARGV[2]}\n";

/* Max attempts of a write whose compare-and-set keeps losing to writes
 * from other replicas (writes from this process are serialized before). */
#define MS_WRITE_ATTEMPTS 8
#define MS_CHUNK 256 /* commands per pipeline when loading */

bool ms_agent_id_valid(const char *s)
{
    if (!s || strncmp(s, "ag_", 3) != 0 || strlen(s) != 15)
        return false;
    for (int i = 3; i < 15; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '2' && s[i] <= '7')))
            return false;
    return true;
}

void ms_key(char *buf, size_t n, const char *agent, const char *suffix)
{
    snprintf(buf, n, "verity:mem:{%s}:%s", agent, suffix);
}

/* ---- argument vectors ------------------------------------------------- */

void ms_args_add(ms_args *a, const void *p, size_t n)
{
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 32;
        size_t *o = realloc(a->off, nc * sizeof *o), *l;
        if (!o) {
            a->data.oom = 1;
            return;
        }
        a->off = o;
        if (!(l = realloc(a->len, nc * sizeof *l))) {
            a->data.oom = 1;
            return;
        }
        a->len = l;
        a->cap = nc;
    }
    a->off[a->n] = a->data.len;
    a->len[a->n] = n;
    a->n++;
    ms_buf_put(&a->data, p, n);
}

void ms_args_addf(ms_args *a, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        a->data.oom = 1;
        return;
    }
    ms_args_add(a, tmp, (size_t)n);
}

void ms_args_free(ms_args *a)
{
    ms_buf_free(&a->data);
    free(a->off);
    free(a->len);
    free(a->argv);
    memset(a, 0, sizeof *a);
}

int ms_args_finish(ms_args *a)
{
    if (a->data.oom)
        return VT_ERR_NOMEM;
    free(a->argv);
    a->argv = malloc((a->n ? a->n : 1) * sizeof *a->argv);
    if (!a->argv)
        return VT_ERR_NOMEM;
    for (size_t i = 0; i < a->n; i++)
        a->argv[i] = (const char *)a->data.p + a->off[i];
    return 0;
}

/* ---- connection -------------------------------------------------------- */

int ms_store_open(ms_store *st, const char *url, const ms_limits *lim, vt_errinfo *ei)
{
    memset(st, 0, sizeof *st);
    st->lim = lim;
    int rv = vt_redis_connect(&st->r, url, 2000, 5000, ei);
    if (rv == VT_ERR_UNAVAILABLE)
        return 0; /* a broken handle reconnects on the next command */
    return rv;
}

void ms_store_close(ms_store *st)
{
    vt_redis_close(st->r);
    memset(st, 0, sizeof *st);
}

void ms_store_refresh(ms_store *st)
{
    redisContext *c = vt_redis_ctx(st->r);
    if (!c || vt_redis_pending(st->r) > 0)
        return;
    /* Redis never speaks unasked on a plain connection: anything to read
     * (EOF, above all) means the server closed it, e.g. it restarted. */
    struct pollfd p = {.fd = c->fd, .events = POLLIN}; /* EOF reads as POLLIN */
    if (poll(&p, 1, 0) > 0)
        vt_redis_reconnect(st->r, NULL); /* failure: the next command retries */
}

static int load_script(ms_store *st, vt_errinfo *ei)
{
    redisReply *rep = NULL;
    int rv = vt_redis_command(st->r, &rep, ei, "SCRIPT LOAD %s", APPLY_LUA);
    if (rv == 0) {
        rv = vt_redis_reply_strcpy(rep, st->sha, sizeof st->sha, ei);
        freeReplyObject(rep);
    }
    return rv;
}

/* Map an error reply to a code: Redis not able to serve (loading, OOM,
 * read-only replica, busy script) is UNAVAILABLE; anything else is ours. */
int ms_reply_error(const redisReply *r, vt_errinfo *ei)
{
    static const char *const transient[] = {"LOADING", "OOM", "READONLY", "BUSY",
                                            "MASTERDOWN", "TRYAGAIN", NULL};
    for (int i = 0; transient[i]; i++)
        if (strncmp(r->str, transient[i], strlen(transient[i])) == 0)
            return vt_fail(ei, VT_ERR_UNAVAILABLE, "redis: %.200s", r->str);
    return vt_fail(ei, VT_ERR_INTERNAL, "redis: %.200s", r->str);
}

/* Send MULTI, the queued commands (already appended by the caller, `n` of
 * them) and EXEC; return EXEC's array in *exec (free with freeReplyObject)
 * after checking it has n elements. */
int ms_exec(ms_store *st, size_t n, redisReply **exec, vt_errinfo *ei)
{
    size_t total = n + 2;
    redisReply **rs = calloc(total, sizeof *rs);
    if (!rs)
        return VT_ERR_NOMEM;
    int rv = vt_redis_read_replies(st->r, rs, total, ei);
    if (rv == 0) {
        redisReply *e = rs[total - 1];
        for (size_t i = 0; i + 1 < total && rv == 0; i++)
            if (rs[i]->type == REDIS_REPLY_ERROR)
                rv = ms_reply_error(rs[i], ei);
        if (rv == 0 && e->type == REDIS_REPLY_ERROR)
            rv = ms_reply_error(e, ei);
        if (rv == 0 && (e->type != REDIS_REPLY_ARRAY || e->elements != n))
            rv = vt_fail(ei, VT_ERR_UNAVAILABLE, "redis: transaction aborted");
        for (size_t i = 0; rv == 0 && i < n; i++)
            if (e->element[i]->type == REDIS_REPLY_ERROR)
                rv = ms_reply_error(e->element[i], ei);
        if (rv == 0) {
            *exec = e;
            rs[total - 1] = NULL;
        }
    }
    vt_redis_free_replies(rs, total);
    free(rs);
    return rv;
}

int ms_head_from_reply(const redisReply *r, vt_mem_head *h, vt_errinfo *ei)
{
    memset(h, 0, sizeof *h);
    if (r->type == REDIS_REPLY_NIL)
        return 0;
    /* An error reply is Redis refusing the read (e.g. LOADING right after a
     * restart), not a bad head: say unavailable, not inconsistent. */
    if (r->type == REDIS_REPLY_ERROR)
        return ms_reply_error(r, ei);
    if (r->type != REDIS_REPLY_STRING || vt_mem_head_parse(r->str, r->len, h) != 0)
        return vt_fail(ei, VT_ERR_MISMATCH, "stored head is malformed");
    return 0;
}

/* This second's request counter of an agent. */
static void rate_key(char *buf, size_t n, const char *agent)
{
    char suffix[48];
    snprintf(suffix, sizeof suffix, "rl:%lld", (long long)(vt_wall_ms() / 1000));
    ms_key(buf, n, agent, suffix);
}

static int rate_error(const ms_store *st, vt_errinfo *ei)
{
    return vt_fail(ei, VT_ERR_RATELIMIT, "more than %llu requests/s for this agent",
                   (unsigned long long)st->lim->rate_limit);
}

int ms_store_begin(ms_store *st, const char *agent, vt_mem_head *head, vt_errinfo *ei)
{
    char hk[96], rk[96];
    redisReply *e = NULL;
    size_t n = 0;
    int rv = 0;
    ms_key(hk, sizeof hk, agent, "head");
    if (!st->lim->rate_limit) {
        /* nothing to count: a plain GET, not a three-command transaction */
        redisReply *rep = NULL;
        if ((rv = vt_redis_command(st->r, &rep, ei, "GET %s", hk)) != 0)
            return rv;
        rv = ms_head_from_reply(rep, head, ei); /* never an error reply */
        freeReplyObject(rep);
        return rv;
    }
    rate_key(rk, sizeof rk, agent);
    rv = vt_redis_append(st->r, ei, "MULTI");
    if (st->lim->rate_limit) {
        if (rv == 0) rv = vt_redis_append(st->r, ei, "INCR %s", rk);
        if (rv == 0) rv = vt_redis_append(st->r, ei, "EXPIRE %s 2", rk);
        n += 2;
    }
    if (rv == 0) rv = vt_redis_append(st->r, ei, "GET %s", hk);
    if (rv == 0) rv = vt_redis_append(st->r, ei, "EXEC");
    n += 1;
    if (rv == 0) rv = ms_exec(st, n, &e, ei);
    if (rv != 0)
        return rv;
    if (st->lim->rate_limit && e->element[0]->type == REDIS_REPLY_INTEGER &&
        (uint64_t)e->element[0]->integer > st->lim->rate_limit)
        rv = rate_error(st, ei);
    if (rv == 0)
        rv = ms_head_from_reply(e->element[n - 1], head, ei);
    freeReplyObject(e);
    return rv;
}

static int decode_item_reply(const redisReply *r, vt_mem_item *out, vt_errinfo *ei)
{
    if (r->type == REDIS_REPLY_NIL)
        return vt_fail(ei, VT_ERR_NOTFOUND, "no such memory item");
    if (r->type != REDIS_REPLY_STRING)
        return vt_fail(ei, VT_ERR_MISMATCH, "stored item has the wrong type");
    int rv = ms_item_decode((const uint8_t *)r->str, r->len, out);
    if (rv != 0)
        return vt_fail(ei, rv == VT_ERR_NOMEM ? rv : VT_ERR_MISMATCH,
                       "stored item record is malformed (tampered?)");
    return 0;
}

int ms_store_get(ms_store *st, const char *agent, uint64_t id, vt_mem_item *out,
                 vt_mem_head *head, vt_errinfo *ei)
{
    char hk[96], ik[96], suffix[40];
    redisReply *e = NULL;
    ms_key(hk, sizeof hk, agent, "head");
    snprintf(suffix, sizeof suffix, "item:%llu", (unsigned long long)id);
    ms_key(ik, sizeof ik, agent, suffix);
    int rv = vt_redis_append(st->r, ei, "MULTI");
    if (rv == 0) rv = vt_redis_append(st->r, ei, "GET %s", hk);
    if (rv == 0) rv = vt_redis_append(st->r, ei, "GET %s", ik);
    if (rv == 0) rv = vt_redis_append(st->r, ei, "EXEC");
    if (rv == 0) rv = ms_exec(st, 2, &e, ei);
    if (rv != 0)
        return rv;
    rv = ms_head_from_reply(e->element[0], head, ei);
    if (rv == 0)
        rv = decode_item_reply(e->element[1], out, ei);
    if (rv == 0 && out->id != id) {
        vt_mem_item_clear(out);
        rv = vt_fail(ei, VT_ERR_MISMATCH, "stored item %llu names id %llu (tampered?)",
                     (unsigned long long)id, (unsigned long long)out->id);
    }
    freeReplyObject(e);
    return rv;
}

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

int ms_store_profile_get(ms_store *st, const char *agent, vt_mem_profile *out, vt_errinfo *ei)
{
    char hk[96], pk[96];
    redisReply *e = NULL;
    memset(out, 0, sizeof *out);
    ms_key(hk, sizeof hk, agent, "head");
    ms_key(pk, sizeof pk, agent, "profile");
    int rv = vt_redis_append(st->r, ei, "MULTI");
    if (rv == 0) rv = vt_redis_append(st->r, ei, "GET %s", hk);
    if (rv == 0) rv = vt_redis_append(st->r, ei, "HGETALL %s", pk);
    if (rv == 0) rv = vt_redis_append(st->r, ei, "EXEC");
    if (rv == 0) rv = ms_exec(st, 2, &e, ei);
    if (rv != 0)
        return rv;
    rv = ms_head_from_reply(e->element[0], &out->head, ei);
    size_t n = 0;
    if (rv == 0)
        rv = vt_redis_reply_array(e->element[1], 2 * VT_MEM_MAX_PROFILE_KEYS, &n, ei);
    if (rv == 0 && n > 0) {
        out->keys = calloc(n / 2, sizeof(char *));
        out->values = calloc(n / 2, sizeof(char *));
        if (!out->keys || !out->values)
            rv = VT_ERR_NOMEM;
        for (size_t i = 0; rv == 0 && i + 1 < n; i += 2) {
            const redisReply *k = e->element[1]->element[i], *v = e->element[1]->element[i + 1];
            if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
                rv = vt_fail(ei, VT_ERR_MISMATCH, "profile entry has the wrong type");
                break;
            }
            out->keys[out->n] = dupn(k->str, k->len);
            out->values[out->n] = dupn(v->str, v->len);
            out->n++;
            if (!out->keys[out->n - 1] || !out->values[out->n - 1])
                rv = VT_ERR_NOMEM;
        }
    }
    if (rv != 0)
        vt_mem_profile_clear(out);
    freeReplyObject(e);
    return rv;
}

/* Job ids are the scheduler's "j-" + 16 lowercase hex digits. */
static bool job_id_hex(const char *job_id)
{
    if (strncmp(job_id, "j-", 2) != 0 || strlen(job_id) != 18)
        return false;
    for (int i = 2; i < 18; i++)
        if (!((job_id[i] >= '0' && job_id[i] <= '9') || (job_id[i] >= 'a' && job_id[i] <= 'f')))
            return false;
    return true;
}

int ms_store_job_owner(ms_store *st, const char *job_id, char *owner, size_t ownersz,
                       vt_errinfo *ei)
{
    if (!job_id_hex(job_id))
        return vt_fail(ei, VT_ERR_NOTFOUND, "no such job");
    redisReply *rep = NULL;
    int rv = vt_redis_command(st->r, &rep, ei, "GET " MS_JOB_KEY_FMT, job_id + 2);
    if (rv != 0)
        return rv;
    const char *rec;
    size_t len;
    rv = vt_redis_reply_str(rep, 1u << 24, &rec, &len, ei);
    if (rv == 0) {
        /* the scheduler's record: a msgpack map with "agent" (str) */
        vt_mp_reader r;
        uint32_t n;
        vt_mp_reader_init(&r, rec, len);
        rv = VT_ERR_NOTFOUND;
        if (vt_mp_read_map(&r, &n) != 0)
            n = 0;
        for (uint32_t i = 0; i < n && rv == VT_ERR_NOTFOUND; i++) {
            const char *k, *v;
            uint32_t kl, vl;
            if (vt_mp_read_str(&r, &k, &kl) != 0)
                break;
            if (vt_mp_str_eq(k, kl, MS_JOB_OWNER_FIELD)) {
                if (vt_mp_read_str(&r, &v, &vl) == 0 && vl < ownersz && !memchr(v, 0, vl)) {
                    memcpy(owner, v, vl);
                    owner[vl] = '\0';
                    rv = 0;
                }
                break;
            }
            if (vt_mp_skip(&r) != 0)
                break;
        }
    }
    freeReplyObject(rep);
    if (rv == VT_ERR_NOTFOUND || rv == VT_ERR_TOOBIG)
        return vt_fail(ei, VT_ERR_NOTFOUND, "no such job (or its record names no agent)");
    return rv;
}

/* ---- writes ------------------------------------------------------------ */

/* Snapshot a write needs: head, and the item or profile entry it touches. */
static int write_read(ms_store *st, const char *agent, const ms_write *w, vt_mem_head *head,
                      vt_mem_item *old, bool *profile_has, long long *profile_len,
                      vt_errinfo *ei)
{
    char hk[96], k2[96], suffix[40];
    redisReply *e = NULL;
    size_t n = 1;
    ms_key(hk, sizeof hk, agent, "head");
    int rv = vt_redis_append(st->r, ei, "MULTI");
    if (rv == 0) rv = vt_redis_append(st->r, ei, "GET %s", hk);
    if (w->kind == MS_OP_UPDATE || w->kind == MS_OP_DELETE) {
        snprintf(suffix, sizeof suffix, "item:%llu", (unsigned long long)w->id);
        ms_key(k2, sizeof k2, agent, suffix);
        if (rv == 0) rv = vt_redis_append(st->r, ei, "GET %s", k2);
        n++;
    } else if (w->kind == MS_OP_PROFILE_SET || w->kind == MS_OP_PROFILE_DEL) {
        ms_key(k2, sizeof k2, agent, "profile");
        if (rv == 0) rv = vt_redis_append(st->r, ei, "HEXISTS %s %s", k2, w->key);
        if (rv == 0) rv = vt_redis_append(st->r, ei, "HLEN %s", k2);
        n += 2;
    }
    if (rv == 0) rv = vt_redis_append(st->r, ei, "EXEC");
    if (rv == 0) rv = ms_exec(st, n, &e, ei);
    if (rv != 0)
        return rv;
    rv = ms_head_from_reply(e->element[0], head, ei);
    if (rv == 0 && (w->kind == MS_OP_UPDATE || w->kind == MS_OP_DELETE)) {
        rv = decode_item_reply(e->element[1], old, ei);
        if (rv == 0 && old->id != w->id) {
            vt_mem_item_clear(old);
            rv = vt_fail(ei, VT_ERR_MISMATCH, "stored item names another id (tampered?)");
        }
    } else if (rv == 0 && n == 3) {
        long long has = 0;
        rv = vt_redis_reply_int(e->element[1], &has, ei);
        if (rv == 0)
            rv = vt_redis_reply_int(e->element[2], profile_len, ei);
        *profile_has = has != 0;
    }
    freeReplyObject(e);
    return rv;
}

/* Mutations that put (keep == NULL) or take an item's postings. */
static void add_postings(ms_args *a, const char *agent, uint64_t id, const ms_terms *t,
                         const ms_terms *keep)
{
    char key[MS_TERM_MAX + 96], tk[96], base[96];
    ms_key(tk, sizeof tk, agent, "terms");
    ms_key(base, sizeof base, agent, "ix:");
    if (!keep) {
        if (t->n == 0)
            return;
        ms_buf packed = {0};
        for (size_t i = 0; i < t->n; i++) {
            char tf[16];
            int n = snprintf(tf, sizeof tf, ":%u", t->v[i].tf);
            if (i)
                ms_buf_put(&packed, " ", 1);
            ms_buf_put(&packed, t->v[i].s, t->v[i].len);
            ms_buf_put(&packed, tf, (size_t)n);
        }
        ms_args_add(a, "POST", 4);
        ms_args_add(a, "4", 1);
        ms_args_add(a, base, strlen(base));
        ms_args_addf(a, "%llu", (unsigned long long)id);
        ms_args_add(a, tk, strlen(tk));
        ms_args_add(a, packed.p, packed.len);
        if (packed.oom)
            a->data.oom = 1;
        ms_buf_free(&packed);
        return;
    }
    for (size_t i = 0; i < t->n; i++) {
        /* removing: skip terms the new text still has (HSET overwrites) */
        bool kept = false;
        for (size_t j = 0; j < keep->n && !kept; j++)
            kept = keep->v[j].len == t->v[i].len && strcmp(keep->v[j].s, t->v[i].s) == 0;
        if (kept)
            continue;
        snprintf(key, sizeof key, "%s%s", base, t->v[i].s);
        ms_args_add(a, "UNPOST", 6);
        ms_args_add(a, "4", 1);
        ms_args_add(a, key, strlen(key));
        ms_args_addf(a, "%llu", (unsigned long long)id);
        ms_args_add(a, tk, strlen(tk));
        ms_args_add(a, t->v[i].s, t->v[i].len);
    }
}

static int build_mutations(ms_args *a, const char *agent, const ms_op *op,
                           const vt_mem_item *old)
{
    char ik[96], zk[96], pk[96], suffix[40];
    uint64_t id = op->kind == MS_OP_DELETE ? op->id : op->item.id;
    snprintf(suffix, sizeof suffix, "item:%llu", (unsigned long long)id);
    ms_key(ik, sizeof ik, agent, suffix);
    ms_key(zk, sizeof zk, agent, "items");
    ms_key(pk, sizeof pk, agent, "profile");
    ms_terms tn = {0}, to = {0};
    int rv = 0;
    if (op->kind == MS_OP_ADD || op->kind == MS_OP_UPDATE)
        rv = ms_tokenize(op->item.text, strlen(op->item.text), &tn);
    if (rv == 0 && old)
        rv = ms_tokenize(old->text, strlen(old->text), &to);
    if (rv != 0)
        goto out;
    switch (op->kind) {
    case MS_OP_ADD:
    case MS_OP_UPDATE: {
        /* the item record is the op's payload: the script cuts it out */
        ms_args_add(a, "SETOP", 5);
        ms_args_add(a, "1", 1);
        ms_args_add(a, ik, strlen(ik));
        if (op->kind == MS_OP_ADD) {
            ms_args_add(a, "ZADD", 4);
            ms_args_add(a, "3", 1);
            ms_args_add(a, zk, strlen(zk));
            ms_args_addf(a, "%llu", (unsigned long long)id);
            ms_args_addf(a, "%llu", (unsigned long long)id);
        } else {
            add_postings(a, agent, id, &to, &tn);
        }
        add_postings(a, agent, id, &tn, NULL);
        break;
    }
    case MS_OP_DELETE:
        add_postings(a, agent, id, &to, &tn /* empty: remove all */);
        ms_args_add(a, "DEL", 3);
        ms_args_add(a, "1", 1);
        ms_args_add(a, ik, strlen(ik));
        ms_args_add(a, "ZREM", 4);
        ms_args_add(a, "2", 1);
        ms_args_add(a, zk, strlen(zk));
        ms_args_addf(a, "%llu", (unsigned long long)id);
        break;
    case MS_OP_PROFILE_SET:
        ms_args_add(a, "HSET", 4);
        ms_args_add(a, "3", 1);
        ms_args_add(a, pk, strlen(pk));
        ms_args_add(a, op->key, strlen(op->key));
        ms_args_add(a, op->value, strlen(op->value));
        break;
    case MS_OP_PROFILE_DEL:
        ms_args_add(a, "HDEL", 4);
        ms_args_add(a, "2", 1);
        ms_args_add(a, pk, strlen(pk));
        ms_args_add(a, op->key, strlen(op->key));
        break;
    }
out:
    ms_terms_free(&tn);
    ms_terms_free(&to);
    return rv;
}

/* Build the op for a write request from the snapshot it was read at. */
static int build_op(const ms_write *w, const vt_mem_head *head, const vt_mem_item *old,
                    ms_op *op)
{
    memset(op, 0, sizeof *op);
    op->seq = head->seq + 1;
    op->kind = w->kind;
    op->ts_ms = vt_wall_ms();
    int rv = 0;
    switch (w->kind) {
    case MS_OP_ADD:
    case MS_OP_UPDATE:
        if ((rv = ms_item_copy(&op->item, w->item)) != 0)
            return rv;
        op->item.id = w->kind == MS_OP_ADD ? op->seq : w->id;
        op->item.created_ms = w->kind == MS_OP_ADD ? op->ts_ms : old->created_ms;
        op->item.updated_ms = op->ts_ms;
        op->item.seq = op->seq;
        if (!op->item.source && !(op->item.source = strdup(""))) {
            ms_op_clear(op);
            return VT_ERR_NOMEM;
        }
        op->id = op->item.id;
        break;
    case MS_OP_DELETE:
        op->id = w->id;
        break;
    case MS_OP_PROFILE_SET:
        op->key = strdup(w->key);
        op->value = strdup(w->value);
        if (!op->key || !op->value)
            rv = VT_ERR_NOMEM;
        break;
    case MS_OP_PROFILE_DEL:
        if (!(op->key = strdup(w->key)))
            rv = VT_ERR_NOMEM;
        break;
    default:
        rv = VT_ERR_INVAL;
    }
    if (rv)
        ms_op_clear(op);
    return rv;
}

/* Run the apply script; 1 = committed, 0 = lost the compare-and-set,
 * 2 = agent full, <0 error. */
static int run_apply(ms_store *st, ms_args *a, vt_errinfo *ei)
{
    for (int tries = 0; tries < 2; tries++) {
        if (!st->sha[0]) {
            int rv = load_script(st, ei);
            if (rv)
                return rv;
        }
        memcpy(a->data.p + a->off[1], st->sha, 40); /* slot reserved by the caller */
        int rv = ms_args_finish(a);
        if (rv)
            return rv;
        redisReply *rep = NULL;
        rv = vt_redis_appendv(st->r, ei, (int)a->n, a->argv, a->len);
        if (rv == 0)
            rv = vt_redis_read_replies(st->r, &rep, 1, ei);
        if (rv)
            return rv;
        if (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
            /* Redis restarted (scripts are not persisted): load again */
            freeReplyObject(rep);
            st->sha[0] = '\0';
            continue;
        }
        if (rep->type == REDIS_REPLY_ERROR) {
            rv = ms_reply_error(rep, ei);
        } else if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
                   rep->element[0]->type != REDIS_REPLY_INTEGER) {
            rv = vt_fail(ei, VT_ERR_INTERNAL, "apply script: unexpected reply");
        } else {
            rv = (int)rep->element[0]->integer;
        }
        freeReplyObject(rep);
        return rv;
    }
    return vt_fail(ei, VT_ERR_UNAVAILABLE, "redis keeps losing the apply script");
}

/* Build op (from the snapshot cur/old) and the full EVALSHA argument vector
 * of the write script for it into *a (the SHA slot is filled by the
 * caller); *next = the head after op. count: count the request against the
 * rate limit inside the script. On failure nothing is left to free. */
static int build_apply(ms_store *st, const char *agent, const ms_write *w,
                       const vt_mem_head *cur, const vt_mem_item *old, bool count, ms_op *op,
                       vt_mem_head *next, ms_args *a)
{
    char hk[96], lk[96], zk[96], rk[96];
    ms_key(hk, sizeof hk, agent, "head");
    ms_key(lk, sizeof lk, agent, "log");
    ms_key(zk, sizeof zk, agent, "items");
    rate_key(rk, sizeof rk, agent);
    int rv = build_op(w, cur, old, op);
    if (rv != 0)
        return rv;
    ms_buf ob = {0};
    ms_op_encode(&ob, op);
    *next = *cur;
    ms_chain_advance(next, ob.p, ob.len);
    char cs[VT_MEM_HEAD_STRSZ], ns[VT_MEM_HEAD_STRSZ];
    vt_mem_head_format(cur, cs);
    vt_mem_head_format(next, ns);
    memset(a, 0, sizeof *a);
    ms_args_add(a, "EVALSHA", 7);
    ms_args_add(a, "0000000000000000000000000000000000000000", 40);
    ms_args_add(a, "4", 1);
    ms_args_add(a, hk, strlen(hk));
    ms_args_add(a, lk, strlen(lk));
    ms_args_add(a, zk, strlen(zk));
    ms_args_add(a, rk, strlen(rk));
    ms_args_add(a, cur->seq ? cs : "", cur->seq ? strlen(cs) : 0);
    ms_args_add(a, ns, strlen(ns));
    ms_args_add(a, ob.p, ob.len);
    ms_args_addf(a, "%llu", (unsigned long long)st->lim->max_items);
    ms_args_add(a, w->kind == MS_OP_ADD ? "1" : "0", 1);
    ms_args_addf(a, "%llu", count ? (unsigned long long)st->lim->rate_limit : 0ull);
    if (ob.oom)
        rv = VT_ERR_NOMEM;
    ms_buf_free(&ob);
    if (rv == 0)
        rv = build_mutations(a, agent, op, w->kind == MS_OP_UPDATE || w->kind == MS_OP_DELETE ? old : NULL);
    if (rv != 0) {
        ms_args_free(a);
        ms_op_clear(op);
    }
    return rv;
}

/* The outcome codes of the write script (APPLY_LUA) other than "committed". */
static int apply_refused(const ms_store *st, int code, vt_errinfo *ei)
{
    if (code == 2)
        return vt_fail(ei, VT_ERR_RANGE, "agent holds %llu items, the limit",
                       (unsigned long long)st->lim->max_items);
    return rate_error(st, ei);
}

int ms_store_write(ms_store *st, const char *agent, const ms_write *w, const vt_mem_head *known,
                   ms_op *op, vt_mem_head *head, vt_errinfo *ei)
{
    bool count = w->count_rate && st->lim->rate_limit > 0;
    bool need_read = !known || (w->kind != MS_OP_ADD);
    vt_mem_head cur = known ? *known : (vt_mem_head){0};
    for (int attempt = 0; attempt < MS_WRITE_ATTEMPTS; attempt++) {
        vt_mem_item old = {0};
        bool has = false;
        long long plen = 0;
        int rv = 0;
        if (need_read && (rv = write_read(st, agent, w, &cur, &old, &has, &plen, ei)) != 0)
            return rv;
        if (w->kind == MS_OP_PROFILE_DEL && !has)
            return vt_fail(ei, VT_ERR_NOTFOUND, "no such profile key");
        if (w->kind == MS_OP_PROFILE_SET && !has && plen >= VT_MEM_MAX_PROFILE_KEYS)
            return vt_fail(ei, VT_ERR_RANGE, "profile has %d keys, the limit",
                           VT_MEM_MAX_PROFILE_KEYS);
        vt_mem_head next;
        ms_args a;
        rv = build_apply(st, agent, w, &cur, need_read ? &old : NULL, count, op, &next, &a);
        vt_mem_item_clear(&old);
        if (rv != 0)
            return rv;
        count = false; /* a retry is the same request: count it once */
        rv = run_apply(st, &a, ei);
        ms_args_free(&a);
        if (rv == 1) {
            *head = next;
            return 0;
        }
        ms_op_clear(op);
        if (rv == 2 || rv == 3)
            return apply_refused(st, rv, ei);
        if (rv < 0)
            return rv;
        need_read = true; /* lost the compare-and-set: read again */
    }
    return vt_fail(ei, VT_ERR_CONFLICT, "memory kept changing under this write; retry");
}

/* Group commit of adds: see ms_store.h. */
void ms_store_add_batch(ms_store *st, ms_add_job *jobs, size_t n)
{
    /* per job: not sent yet, in the pipeline, to redo alone (counted or not
     * yet counted against the rate limit), finished (rv set) */
    enum { FRESH, SENT, REDO_COUNT, REDO_COUNTED, DONE };
    if (n == 0)
        return;
    unsigned char *state = calloc(n, 1);
    redisReply **reps = calloc(n, sizeof *reps);
    vt_errinfo ei = {0};
    if (!state || !reps) {
        for (size_t i = 0; i < n; i++)
            jobs[i].rv = vt_fail(&jobs[i].ei, VT_ERR_NOMEM, "out of memory");
        free(state);
        free(reps);
        return;
    }
    int rv = 0;
    if (!st->sha[0])
        rv = load_script(st, &ei);
    /* Heads to build on: the previous add of the same agent in this batch,
     * else the caller's hint, else read from Redis (one pipelined GET per
     * such agent; normally there is none). */
    size_t nread = 0;
    for (size_t i = 0; rv == 0 && i < n; i++) {
        jobs[i].prev = SIZE_MAX;
        for (size_t j = i; j-- > 0;)
            if (strcmp(jobs[j].agent, jobs[i].agent) == 0) {
                jobs[i].prev = j;
                break;
            }
        if (jobs[i].prev == SIZE_MAX && !jobs[i].has_known) {
            char hk[96];
            ms_key(hk, sizeof hk, jobs[i].agent, "head");
            if ((rv = vt_redis_append(st->r, &ei, "GET %s", hk)) == 0)
                nread++;
        }
    }
    if (nread)
        rv = vt_redis_read_replies(st->r, reps, nread, &ei);
    for (size_t i = 0, k = 0; rv == 0 && nread && i < n; i++)
        if (jobs[i].prev == SIZE_MAX && !jobs[i].has_known) {
            jobs[i].has_known = true;
            if ((jobs[i].rv = ms_head_from_reply(reps[k++], &jobs[i].known, &jobs[i].ei)) != 0)
                state[i] = DONE;
        }
    if (nread)
        vt_redis_free_replies(reps, nread);
    /* one write script per add, all in one pipeline (sent by the read) */
    size_t nsent = 0;
    bool stop = rv != 0;
    for (size_t i = 0; !stop && i < n; i++) {
        ms_add_job *j = &jobs[i];
        if (state[i] == DONE)
            continue;
        const vt_mem_head *cur = &j->known;
        if (j->prev != SIZE_MAX) {
            if (state[j->prev] != SENT) {
                state[i] = REDO_COUNT; /* what it builds on failed early */
                continue;
            }
            cur = &jobs[j->prev].head;
        }
        ms_write w = {.kind = MS_OP_ADD, .item = j->item};
        ms_args a;
        j->rv = build_apply(st, j->agent, &w, cur, NULL, st->lim->rate_limit > 0, &j->op,
                            &j->head, &a);
        if (j->rv != 0) {
            state[i] = DONE;
            continue;
        }
        memcpy(a.data.p + a.off[1], st->sha, 40);
        if ((j->rv = ms_args_finish(&a)) == 0)
            j->rv = vt_redis_appendv(st->r, &j->ei, (int)a.n, a.argv, a.len);
        ms_args_free(&a);
        if (j->rv == 0) {
            state[i] = SENT;
            nsent++;
        } else {
            ms_op_clear(&j->op);
            state[i] = DONE;
            stop = true; /* the ones queued so far still go out */
        }
    }
    int rrv = nsent ? vt_redis_read_replies(st->r, reps, nsent, &ei) : 0;
    for (size_t i = 0, k = 0; i < n; i++) {
        ms_add_job *j = &jobs[i];
        if (state[i] != SENT)
            continue;
        const redisReply *r = rrv == 0 ? reps[k++] : NULL;
        state[i] = DONE;
        if (!r) {
            /* the answer is lost: the add may or may not have happened */
            j->rv = vt_fail(&j->ei, rrv, "%s", vt_errinfo_msg(&ei));
        } else if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
            st->sha[0] = '\0'; /* Redis restarted: the script did not run */
            state[i] = REDO_COUNT;
        } else if (r->type == REDIS_REPLY_ERROR) {
            j->rv = ms_reply_error(r, &j->ei);
        } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
                   r->element[0]->type != REDIS_REPLY_INTEGER) {
            j->rv = vt_fail(&j->ei, VT_ERR_INTERNAL, "apply script: unexpected reply");
        } else if (r->element[0]->integer == 1) {
            j->rv = 0;
            continue; /* committed: op and head stay */
        } else if (r->element[0]->integer == 0) {
            state[i] = REDO_COUNTED; /* lost the compare-and-set */
        } else {
            j->rv = apply_refused(st, (int)r->element[0]->integer, &j->ei);
        }
        ms_op_clear(&j->op);
    }
    if (rrv == 0)
        vt_redis_free_replies(reps, nsent);
    /* The rare rest (another replica wrote first, Redis lost the script, a
     * batch-mate of the same agent was refused): one at a time, in order,
     * with a fresh read, exactly like a single write. */
    for (size_t i = 0; i < n; i++) {
        ms_add_job *j = &jobs[i];
        if (state[i] == REDO_COUNT || state[i] == REDO_COUNTED) {
            ms_write w = {.kind = MS_OP_ADD, .item = j->item, .count_rate = state[i] == REDO_COUNT};
            j->rv = ms_store_write(st, j->agent, &w, NULL, &j->op, &j->head, &j->ei);
            j->redone = true;
        } else if (state[i] == FRESH) {
            /* never sent: failed before the pipeline (or after a failed queueing) */
            j->rv = vt_fail(&j->ei, rv ? rv : VT_ERR_NOMEM, "%s", vt_errinfo_msg(&ei));
        }
    }
    free(state);
    free(reps);
}

/* ---- loading the index ------------------------------------------------- */

static int load_once(ms_store *st, const char *agent, ms_index *ix, vt_mem_head *start,
                     vt_errinfo *ei)
{
    char hk[96], zk[96], tk[96], key[MS_TERM_MAX + 96], base[96], ibase[96];
    redisReply *e = NULL;
    ms_key(hk, sizeof hk, agent, "head");
    ms_key(ibase, sizeof ibase, agent, "item:");
    ms_key(zk, sizeof zk, agent, "items");
    ms_key(tk, sizeof tk, agent, "terms");
    ms_key(base, sizeof base, agent, "ix:");
    int rv = vt_redis_append(st->r, ei, "MULTI");
    if (rv == 0) rv = vt_redis_append(st->r, ei, "GET %s", hk);
    if (rv == 0) rv = vt_redis_append(st->r, ei, "ZRANGE %s 0 -1", zk);
    if (rv == 0) rv = vt_redis_append(st->r, ei, "SMEMBERS %s", tk);
    if (rv == 0) rv = vt_redis_append(st->r, ei, "EXEC");
    if (rv == 0) rv = ms_exec(st, 3, &e, ei);
    if (rv != 0)
        return rv;
    size_t nids = 0, nterms = 0;
    rv = ms_head_from_reply(e->element[0], start, ei);
    if (rv == 0) rv = vt_redis_reply_array(e->element[1], st->lim->max_items + 16, &nids, ei);
    if (rv == 0) rv = vt_redis_reply_array(e->element[2], 16u << 20, &nterms, ei);
    redisReply **rs = calloc(MS_CHUNK, sizeof *rs);
    if (rv == 0 && !rs)
        rv = VT_ERR_NOMEM;
    /* items, in id order */
    for (size_t i = 0; rv == 0 && i < nids; i += MS_CHUNK) {
        size_t m = nids - i < MS_CHUNK ? nids - i : MS_CHUNK;
        for (size_t j = 0; rv == 0 && j < m; j++) {
            const redisReply *id = e->element[1]->element[i + j];
            if (id->type != REDIS_REPLY_STRING || id->len > 20)
                rv = vt_fail(ei, VT_ERR_MISMATCH, "item id list is malformed");
            else
                rv = vt_redis_append(st->r, ei, "GET %s%s", ibase, id->str);
        }
        if (rv == 0) rv = vt_redis_read_replies(st->r, rs, m, ei);
        for (size_t j = 0; rv == 0 && j < m; j++) {
            vt_mem_item it;
            if (rs[j]->type == REDIS_REPLY_NIL)
                continue; /* deleted between the two reads: head check below */
            rv = decode_item_reply(rs[j], &it, ei);
            if (rv == 0 && (rv = ms_index_add_item(ix, &it, 0)) != 0) {
                vt_mem_item_clear(&it);
                rv = vt_fail(ei, VT_ERR_MISMATCH, "stored items out of order (tampered?)");
            }
        }
        vt_redis_free_replies(rs, m);
    }
    /* postings, from the Redis inverted index */
    for (size_t i = 0; rv == 0 && i < nterms; i += MS_CHUNK) {
        size_t m = nterms - i < MS_CHUNK ? nterms - i : MS_CHUNK;
        const redisReply **tr = (const redisReply **)e->element[2]->element + i;
        for (size_t j = 0; rv == 0 && j < m; j++) {
            if (tr[j]->type != REDIS_REPLY_STRING || tr[j]->len > MS_TERM_MAX)
                rv = vt_fail(ei, VT_ERR_MISMATCH, "term set is malformed");
            else {
                snprintf(key, sizeof key, "%s", base);
                size_t bl = strlen(key);
                memcpy(key + bl, tr[j]->str, tr[j]->len);
                const char *argv[2] = {"HGETALL", key};
                size_t lens[2] = {7, bl + tr[j]->len};
                rv = vt_redis_appendv(st->r, ei, 2, argv, lens);
            }
        }
        if (rv == 0) rv = vt_redis_read_replies(st->r, rs, m, ei);
        for (size_t j = 0; rv == 0 && j < m; j++) {
            size_t np = 0;
            rv = vt_redis_reply_array(rs[j], 2 * (st->lim->max_items + 16), &np, ei);
            for (size_t k = 0; rv == 0 && k + 1 < np; k += 2) {
                long long id = 0, tf = 0;
                if (vt_redis_reply_ll(rs[j]->element[k], &id, NULL) != 0 ||
                    vt_redis_reply_ll(rs[j]->element[k + 1], &tf, NULL) != 0 || id <= 0 ||
                    tf <= 0 || tf > (long long)VT_MEM_MAX_TEXT) {
                    rv = vt_fail(ei, VT_ERR_MISMATCH, "postings are malformed (tampered?)");
                    break;
                }
                int prv = ms_index_post(ix, tr[j]->str, tr[j]->len, (uint64_t)id, (uint32_t)tf);
                if (prv == VT_ERR_NOMEM)
                    rv = prv;
                /* NOTFOUND: posting of an item deleted since; head check */
            }
        }
        vt_redis_free_replies(rs, m);
    }
    free(rs);
    freeReplyObject(e);
    if (rv == 0) {
        /* |D| = sum of the item's term frequencies */
        for (uint32_t t = 0; t < ix->nterms; t++)
            for (uint32_t j = 0; j < ix->terms[t].n; j++)
                ix->docs[ix->terms[t].v[j].doc].len += ix->terms[t].v[j].tf;
        ix->total_len = 0;
        for (uint32_t d = 0; d < ix->ndocs; d++)
            ix->total_len += ix->docs[d].len;
    }
    return rv;
}

int ms_store_load(ms_store *st, const char *agent, ms_index *ix, vt_errinfo *ei)
{
    for (int attempt = 0; attempt < 4; attempt++) {
        vt_mem_head start, end;
        ms_index_init(ix);
        int rv = load_once(st, agent, ix, &start, ei);
        if (rv == 0) {
            /* The reads above span several round trips; if the head did
             * not move (it only ever grows) they saw one state. */
            redisReply *rep = NULL;
            char hk[96];
            ms_key(hk, sizeof hk, agent, "head");
            rv = vt_redis_command(st->r, &rep, ei, "GET %s", hk);
            if (rv == 0) {
                rv = ms_head_from_reply(rep, &end, ei);
                freeReplyObject(rep);
            }
            if (rv == 0 && end.seq == start.seq && memcmp(end.hash, start.hash, 32) == 0) {
                ix->head = start;
                return 0;
            }
        }
        ms_index_free(ix);
        if (rv != 0)
            return rv;
    }
    return vt_fail(ei, VT_ERR_CONFLICT, "memory kept changing while loading; retry");
}

int ms_store_catch_up(ms_store *st, const char *agent, ms_index *ix, const vt_mem_head *to,
                      uint64_t max_ops, vt_errinfo *ei)
{
    if (to->seq < ix->head.seq)
        return vt_fail(ei, VT_ERR_MISMATCH, "head went backwards");
    uint64_t gap = to->seq - ix->head.seq;
    if (gap > max_ops)
        return VT_ERR_RANGE;
    char lk[96];
    ms_key(lk, sizeof lk, agent, "log");
    redisReply *rep = NULL;
    int rv = vt_redis_command(st->r, &rep, ei, "LRANGE %s %llu %llu", lk,
                              (unsigned long long)ix->head.seq,
                              (unsigned long long)(to->seq - 1));
    if (rv)
        return rv;
    size_t n = 0;
    rv = vt_redis_reply_array(rep, gap, &n, ei);
    if (rv == 0 && n != gap)
        rv = vt_fail(ei, VT_ERR_MISMATCH, "op log is shorter than the head");
    for (size_t i = 0; rv == 0 && i < n; i++) {
        const redisReply *r = rep->element[i];
        ms_op op;
        if (r->type != REDIS_REPLY_STRING ||
            ms_op_decode((const uint8_t *)r->str, r->len, &op) != 0) {
            rv = vt_fail(ei, VT_ERR_MISMATCH, "op log entry is malformed");
            break;
        }
        if (op.seq != ix->head.seq + 1)
            rv = vt_fail(ei, VT_ERR_MISMATCH, "op log out of sequence");
        if (rv == 0)
            rv = ms_index_apply(ix, &op);
        if (rv == 0)
            ms_chain_advance(&ix->head, (const uint8_t *)r->str, r->len);
        ms_op_clear(&op);
    }
    freeReplyObject(rep);
    if (rv == 0 && memcmp(ix->head.hash, to->hash, 32) != 0)
        rv = vt_fail(ei, VT_ERR_MISMATCH, "op log does not hash to the head");
    return rv;
}
