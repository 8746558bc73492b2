/* verity_memory.c - `verity memory add|search|get|update|delete|list|
 * profile|verify`: an agent's long-term memory through the client library
 * (vt_memsync.h). The `verity` command dispatches "memory" here:
 *   int vt_cli_memory(int argc, char **argv)   argv[0] = "memory"
 * Exit codes: 0 ok, 1 the request failed, 2 usage error. --json prints one
 * JSON document; the text form prints one line per item. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vt_config.h"
#include "vt_memsync.h"
#include "vt_strbuf.h"

enum { EX_OK = 0, EX_FAIL = 1, EX_USAGE = 2 };

typedef struct mem_opts {
    const char *url, *api_key, *agent, *type, *source, *vector, *category_filter;
    vt_strlist categories;
    int64_t k, limit, after, since, until, timeout_ms;
    const char *importance;
    bool json;
} mem_opts;


/* Options every sub-command understands, then the item/filter ones. */
#define COMMON_OPTS(o)                                                                        \
    {.flag = "memsync", .env = "VERITY_MEMSYNC_URL", .type = VT_OPT_URL, .metavar = "URL",    \
     .def = "tcp://127.0.0.1:7410", .help = "verity-memsync's socket", .dest = &(o)->url},    \
    {.flag = "api-key", .env = "VERITY_API_KEY", .type = VT_OPT_STRING, .metavar = "KEY",     \
     .flags = VT_OPT_REQUIRED, .help = "this agent's API key", .dest = &(o)->api_key},       \
    {.flag = "agent", .env = "VERITY_AGENT", .type = VT_OPT_STRING, .metavar = "ID",          \
     .help = "agent id (checked against the key)", .dest = &(o)->agent},                     \
    {.flag = "timeout-ms", .type = VT_OPT_INT, .metavar = "MS", .def = "10000", .min = 1,     \
     .max = 600000, .help = "request timeout", .dest = &(o)->timeout_ms},                    \
    {.flag = "json", .type = VT_OPT_BOOL, .def = "false", .help = "print JSON", .dest = &(o)->json}

static int usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "verity memory: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'verity memory --help'.\n");
    return EX_USAGE;
}

static int fail(const char *what, int rv, const vt_errinfo *ei)
{
    fprintf(stderr, "verity memory: %s: %s (%s)\n", what,
            ei && ei->detail[0] ? ei->detail : vt_strerror(rv), vt_errname(rv));
    return EX_FAIL;
}

static void iso(int64_t ms, char buf[32])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&s, &tm) || !strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, 32, "%lld", (long long)ms);
}

/* "0.1,0.2,-3" -> floats (malloc'ed). */
static int parse_vector(const char *s, float **out, uint32_t *dim)
{
    size_t n = 1;
    for (const char *p = s; *p; p++)
        n += *p == ',';
    if (n > VT_MEM_MAX_DIM)
        return VT_ERR_TOOBIG;
    float *v = malloc(n * sizeof *v);
    if (!v)
        return VT_ERR_NOMEM;
    const char *p = s;
    for (size_t i = 0; i < n; i++) {
        char *end;
        errno = 0;
        double d = strtod(p, &end);
        if (errno || end == p || (*end != ',' && *end) || d != d) {
            free(v);
            return VT_ERR_INVAL;
        }
        v[i] = (float)d;
        p = *end ? end + 1 : end;
    }
    *out = v;
    *dim = (uint32_t)n;
    return 0;
}

static int parse_id(const char *s, uint64_t *id)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v == 0)
        return VT_ERR_INVAL;
    *id = v;
    return 0;
}

static void head_line(const vt_mem_head *h)
{
    char hs[VT_MEM_HEAD_STRSZ];
    printf("head %s\n", vt_mem_head_format(h, hs));
}

static void item_json(vt_strbuf *b, const vt_mem_item *it)
{
    vt_strbuf_printf(b, "{\"id\":%llu,\"type\":\"%s\",\"importance\":%.9g,\"created_ms\":%lld,"
                        "\"updated_ms\":%lld,\"seq\":%llu,\"source\":",
                     (unsigned long long)it->id, vt_mem_type_name(it->type), (double)it->importance,
                     (long long)it->created_ms, (long long)it->updated_ms,
                     (unsigned long long)it->seq);
    vt_strbuf_json_str(b, it->source ? it->source : "", it->source ? strlen(it->source) : 0);
    vt_strbuf_puts(b, ",\"categories\":[");
    for (size_t i = 0; i < it->ncategories; i++) {
        if (i)
            vt_strbuf_putc(b, ',');
        vt_strbuf_json_str(b, it->categories[i], strlen(it->categories[i]));
    }
    vt_strbuf_puts(b, "],\"text\":");
    vt_strbuf_json_str(b, it->text, strlen(it->text));
    vt_strbuf_printf(b, ",\"dim\":%u}", it->dim);
}

static void item_text(const vt_mem_item *it)
{
    char ts[32];
    iso(it->created_ms, ts);
    printf("%llu\t%s\t%.2f\t%s\t", (unsigned long long)it->id, vt_mem_type_name(it->type),
           (double)it->importance, ts);
    for (size_t i = 0; i < it->ncategories; i++)
        printf("%s%s", i ? "," : "", it->categories[i]);
    printf("\t");
    for (const char *p = it->text; *p; p++)
        putchar(*p == '\n' || *p == '\t' ? ' ' : *p);
    putchar('\n');
}

static void print_json(vt_strbuf *b)
{
    puts(vt_strbuf_cstr(b));
    vt_strbuf_free(b);
}

static void head_json(vt_strbuf *b, const vt_mem_head *h)
{
    char hs[VT_MEM_HEAD_STRSZ];
    vt_strbuf_printf(b, "\"head\":\"%s\"", vt_mem_head_format(h, hs));
}

/* Fill an item from the flags and the text argument. */
static int build_item(mem_opts *o, const char *text, vt_mem_item *it, float **vec)
{
    memset(it, 0, sizeof *it);
    it->type = VT_MEM_SEMANTIC;
    if (o->type && strcmp(o->type, "any") != 0 && vt_mem_type_parse(o->type, &it->type) != 0)
        return usage("--type: '%s' is not semantic or episodic", o->type);
    it->importance = 0.5f;
    if (o->importance) {
        char *end;
        double d = strtod(o->importance, &end);
        if (end == o->importance || *end || !(d >= 0 && d <= 1))
            return usage("--importance: '%s' is not a number in [0, 1]", o->importance);
        it->importance = (float)d;
    }
    it->text = (char *)text;
    it->source = (char *)(o->source ? o->source : "cli");
    it->categories = o->categories.items;
    it->ncategories = o->categories.n;
    if (o->vector) {
        int rv = parse_vector(o->vector, vec, &it->dim);
        if (rv)
            return usage("--vector: '%s' is not a comma-separated list of numbers", o->vector);
        it->embedding = *vec;
    }
    return EX_OK;
}

static vt_mem_filter make_filter(const mem_opts *o)
{
    vt_mem_filter f = {0};
    vt_mem_type t;
    if (o->type && vt_mem_type_parse(o->type, &t) == 0)
        f.type = (int)t;
    f.category = o->category_filter;
    f.since_ms = o->since;
    f.until_ms = o->until;
    return f;
}

static int run(const char *sub, mem_opts *o, vt_strlist *pos)
{
    vt_errinfo ei = {0};
    vt_memsync *c = NULL;
    vt_mem_cred cred = {.agent = o->agent, .key = o->api_key};
    int rv = 0;
    int ex = EX_OK;
/* Connect only once the arguments are known to be good: a usage error
 * then touches no socket. */
#define CONNECT()                                                          \
    do {                                                                   \
        if ((rv = vt_memsync_open(&c, o->url, (int)o->timeout_ms, &ei))) { \
            ex = fail(o->url, rv, &ei);                                    \
            goto out;                                                      \
        }                                                                  \
    } while (0)
    vt_strbuf b = VT_STRBUF_INIT;
    vt_mem_head head;
    float *vec = NULL;
    uint64_t id = 0;
    if (!strcmp(sub, "add") || !strcmp(sub, "update")) {
        bool upd = sub[0] == 'u';
        if (pos->n != (upd ? 2u : 1u) || (upd && parse_id(pos->items[0], &id) != 0)) {
            ex = usage(upd ? "usage: update ID TEXT%s" : "usage: add TEXT%s", "");
            goto out;
        }
        vt_mem_item it;
        if ((ex = build_item(o, pos->items[upd ? 1 : 0], &it, &vec)) != EX_OK)
            goto out;
        it.id = id;
        CONNECT();
        rv = upd ? vt_memsync_update(c, &cred, &it, &head, &ei)
                 : vt_memsync_add(c, &cred, &it, &id, &head, &ei);
        if (rv) {
            ex = fail(sub, rv, &ei);
            goto out;
        }
        if (o->json) {
            vt_strbuf_printf(&b, "{\"id\":%llu,", (unsigned long long)id);
            head_json(&b, &head);
            vt_strbuf_putc(&b, '}');
            print_json(&b);
        } else {
            printf("id %llu\n", (unsigned long long)id);
            head_line(&head);
        }
    } else if (!strcmp(sub, "get") || !strcmp(sub, "delete")) {
        if (pos->n != 1 || parse_id(pos->items[0], &id) != 0) {
            ex = usage("usage: %s ID (a positive integer)", sub);
            goto out;
        }
        vt_mem_item it;
        CONNECT();
        rv = sub[0] == 'g' ? vt_memsync_get(c, &cred, id, &it, &head, &ei)
                           : vt_memsync_delete(c, &cred, id, &head, &ei);
        if (rv) {
            ex = fail(sub, rv, &ei);
            goto out;
        }
        if (o->json) {
            vt_strbuf_puts(&b, "{");
            if (sub[0] == 'g') {
                vt_strbuf_puts(&b, "\"item\":");
                item_json(&b, &it);
                vt_strbuf_putc(&b, ',');
            }
            head_json(&b, &head);
            vt_strbuf_putc(&b, '}');
            print_json(&b);
        } else {
            if (sub[0] == 'g')
                item_text(&it);
            head_line(&head);
        }
        if (sub[0] == 'g')
            vt_mem_item_clear(&it);
    } else if (!strcmp(sub, "search")) {
        if (pos->n != 1 && !o->vector) {
            ex = usage("usage: search [--vector V] QUERY%s", "");
            goto out;
        }
        vt_mem_query q = {.text = pos->n ? pos->items[0] : NULL, .k = (uint32_t)o->k,
                          .filter = make_filter(o)};
        if (o->vector && parse_vector(o->vector, &vec, &q.dim) != 0) {
            ex = usage("--vector: '%s' is not a comma-separated list of numbers", o->vector);
            goto out;
        }
        q.vector = vec;
        vt_mem_hits h;
        CONNECT();
        if ((rv = vt_memsync_search(c, &cred, &q, &h, &ei)) != 0) {
            ex = fail(sub, rv, &ei);
            goto out;
        }
        if (o->json) {
            vt_strbuf_puts(&b, "{\"hits\":[");
            for (size_t i = 0; i < h.n; i++) {
                vt_strbuf_printf(&b, "%s{\"bm25\":%.9g,\"cosine\":%.9g,\"fused\":%.9g,"
                                     "\"rank_bm25\":%u,\"rank_cosine\":%u,\"item\":",
                                 i ? "," : "", h.v[i].bm25, h.v[i].cosine, h.v[i].fused,
                                 h.v[i].rank_bm25, h.v[i].rank_cosine);
                item_json(&b, &h.v[i].item);
                vt_strbuf_putc(&b, '}');
            }
            vt_strbuf_puts(&b, "],");
            head_json(&b, &h.head);
            vt_strbuf_putc(&b, '}');
            print_json(&b);
        } else {
            for (size_t i = 0; i < h.n; i++) {
                printf("fused=%.5f bm25=%.4f cosine=%.4f\t", h.v[i].fused, h.v[i].bm25,
                       h.v[i].cosine);
                item_text(&h.v[i].item);
            }
            head_line(&h.head);
        }
        vt_mem_hits_clear(&h);
    } else if (!strcmp(sub, "list")) {
        if (pos->n) {
            ex = usage("usage: list [--after ID] [--limit N]%s", "");
            goto out;
        }
        vt_mem_filter f = make_filter(o);
        vt_mem_list l;
        CONNECT();
        if ((rv = vt_memsync_list(c, &cred, &f, (uint64_t)o->after, (uint32_t)o->limit, &l,
                                  &ei)) != 0) {
            ex = fail(sub, rv, &ei);
            goto out;
        }
        if (o->json) {
            vt_strbuf_puts(&b, "{\"items\":[");
            for (size_t i = 0; i < l.n; i++) {
                if (i)
                    vt_strbuf_putc(&b, ',');
                item_json(&b, &l.v[i]);
            }
            vt_strbuf_printf(&b, "],\"next_after\":%llu,", (unsigned long long)l.next_after);
            head_json(&b, &l.head);
            vt_strbuf_putc(&b, '}');
            print_json(&b);
        } else {
            for (size_t i = 0; i < l.n; i++)
                item_text(&l.v[i]);
            if (l.next_after)
                printf("more: --after %llu\n", (unsigned long long)l.next_after);
            head_line(&l.head);
        }
        vt_mem_list_clear(&l);
    } else if (!strcmp(sub, "profile")) {
        const char *op = pos->n ? pos->items[0] : "get";
        if (!strcmp(op, "get") && pos->n <= 1) {
            vt_mem_profile p;
            CONNECT();
            if ((rv = vt_memsync_profile_get(c, &cred, &p, &ei)) != 0) {
                ex = fail("profile get", rv, &ei);
                goto out;
            }
            if (o->json) {
                vt_strbuf_puts(&b, "{\"profile\":{");
                for (size_t i = 0; i < p.n; i++) {
                    if (i)
                        vt_strbuf_putc(&b, ',');
                    vt_strbuf_json_str(&b, p.keys[i], strlen(p.keys[i]));
                    vt_strbuf_putc(&b, ':');
                    vt_strbuf_json_str(&b, p.values[i], strlen(p.values[i]));
                }
                vt_strbuf_puts(&b, "},");
                head_json(&b, &p.head);
                vt_strbuf_putc(&b, '}');
                print_json(&b);
            } else {
                for (size_t i = 0; i < p.n; i++)
                    printf("%s=%s\n", p.keys[i], p.values[i]);
                head_line(&p.head);
            }
            vt_mem_profile_clear(&p);
        } else if ((!strcmp(op, "set") && pos->n == 3) || (!strcmp(op, "del") && pos->n == 2)) {
            CONNECT();
            rv = op[0] == 's' ? vt_memsync_profile_set(c, &cred, pos->items[1], pos->items[2],
                                                       &head, &ei)
                              : vt_memsync_profile_del(c, &cred, pos->items[1], &head, &ei);
            if (rv) {
                ex = fail("profile", rv, &ei);
                goto out;
            }
            if (o->json) {
                vt_strbuf_putc(&b, '{');
                head_json(&b, &head);
                vt_strbuf_putc(&b, '}');
                print_json(&b);
            } else {
                head_line(&head);
            }
        } else {
            ex = usage("usage: profile [get | set KEY VALUE | del KEY]%s", "");
        }
    } else if (!strcmp(sub, "verify")) {
        vt_mem_verify vr;
        CONNECT();
        if ((rv = vt_memsync_verify(c, &cred, &vr, &ei)) != 0) {
            ex = fail(sub, rv, &ei);
            goto out;
        }
        if (o->json) {
            vt_strbuf_printf(&b, "{\"ok\":%s,\"ops\":%llu,\"items\":%llu,\"problem\":",
                             vr.ok ? "true" : "false", (unsigned long long)vr.ops,
                             (unsigned long long)vr.items);
            vt_strbuf_json_str(&b, vr.problem, strlen(vr.problem));
            vt_strbuf_putc(&b, ',');
            head_json(&b, &vr.head);
            vt_strbuf_putc(&b, '}');
            print_json(&b);
        } else {
            printf("%s: %llu ops, %llu items checked%s%s\n", vr.ok ? "ok" : "TAMPERED",
                   (unsigned long long)vr.ops, (unsigned long long)vr.items,
                   vr.ok ? "" : ": ", vr.problem);
            head_line(&vr.head);
        }
        if (!vr.ok)
            ex = EX_FAIL;
    }
#undef CONNECT
out:
    vt_strbuf_free(&b);
    free(vec);
    vt_memsync_close(c);
    return ex;
}

static const char *const subs[] = {"add", "search", "get", "update", "delete",
                                   "list", "profile", "verify", NULL};

static void help(FILE *f, const vt_opt *opts)
{
    fprintf(f, "usage: verity memory <command> [options] [args]\n"
               "  add TEXT              store a memory (--type, --importance, --category...,\n"
               "                        --source, --vector 0.1,0.2,...)\n"
               "  search QUERY          BM25 + vector search fused by RRF (--k, --vector,\n"
               "                        --type, --in-category, --since, --until)\n"
               "  get ID | delete ID    one memory\n"
               "  update ID TEXT        replace a memory (same flags as add)\n"
               "  list                  oldest first (--after ID, --limit N, filters)\n"
               "  profile [get | set KEY VALUE | del KEY]\n"
               "  verify                recompute the hash chain and check every stored item\n\n");
    vt_config_help(f, "verity memory <command>", "Options:", opts);
}

int vt_cli_memory(int argc, char **argv)
{
    mem_opts o;
    memset(&o, 0, sizeof o);
    vt_opt opts[] = {
        COMMON_OPTS(&o),
        {.flag = "type", .type = VT_OPT_STRING, .metavar = "semantic|episodic",
         .help = "item type (add/update) or type filter (search/list)", .dest = &o.type},
        {.flag = "importance", .type = VT_OPT_STRING, .metavar = "F",
         .help = "0..1 (add/update; default 0.5)", .dest = &o.importance},
        {.flag = "category", .type = VT_OPT_LIST, .metavar = "C",
         .help = "category/tag of the item (repeatable)", .dest = &o.categories},
        {.flag = "in-category", .type = VT_OPT_STRING, .metavar = "C",
         .help = "filter: items carrying this category", .dest = &o.category_filter},
        {.flag = "source", .type = VT_OPT_STRING, .metavar = "S", .help = "where it came from",
         .dest = &o.source},
        {.flag = "vector", .type = VT_OPT_STRING, .metavar = "F,F,...",
         .help = "embedding (add/update) or query vector (search)", .dest = &o.vector},
        {.flag = "k", .type = VT_OPT_INT, .metavar = "N", .def = "10", .min = 1,
         .max = VT_MEM_MAX_K, .help = "results (search)", .dest = &o.k},
        {.flag = "limit", .type = VT_OPT_INT, .metavar = "N", .def = "100", .min = 1,
         .max = VT_MEM_MAX_K, .help = "items per page (list)", .dest = &o.limit},
        {.flag = "after", .type = VT_OPT_INT, .metavar = "ID", .def = "0", .min = 0,
         .max = INT64_MAX, .help = "list items with a larger id", .dest = &o.after},
        {.flag = "since", .type = VT_OPT_INT, .metavar = "MS", .def = "0", .min = 0,
         .max = INT64_MAX, .help = "filter: created at or after (unix ms)", .dest = &o.since},
        {.flag = "until", .type = VT_OPT_INT, .metavar = "MS", .def = "0", .min = 0,
         .max = INT64_MAX, .help = "filter: created before (unix ms)", .dest = &o.until},
        VT_OPT_END};
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        help(argc < 2 ? stderr : stdout, opts);
        return argc < 2 ? EX_USAGE : EX_OK;
    }
    const char *sub = argv[1];
    bool known = false;
    for (int i = 0; subs[i]; i++)
        known |= strcmp(sub, subs[i]) == 0;
    if (!known)
        return usage("unknown command '%s'", sub);
    vt_strlist pos = {0};
    bool want_help = false;
    vt_errinfo ei = {0};
    int rv = vt_config_parse(opts, argc - 1, argv + 1, &pos, &want_help, &ei);
    int ex;
    if (want_help) {
        help(stdout, opts);
        ex = EX_OK;
    } else if (rv) {
        ex = usage("%s", vt_errinfo_msg(&ei));
    } else if (o.type && strcmp(o.type, "semantic") && strcmp(o.type, "episodic") &&
               strcmp(o.type, "any")) {
        ex = usage("--type: '%s' is not semantic or episodic", o.type);
    } else {
        ex = run(sub, &o, &pos);
    }
    vt_strlist_free(&pos);
    vt_config_free(opts);
    return ex;
}
