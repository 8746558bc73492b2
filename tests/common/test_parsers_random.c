/* test_parsers_random.c - hostile input to every parser in common: random
 * and mutated strings must be accepted or refused cleanly (run under ASan
 * in CI), and accepted values must respect their documented bounds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_config.h"
#include "vt_metrics.h"
#include "vt_redis.h"
#include "vt_registry.h"
#include "vt_strbuf.h"
#include "vt_test.h"

/* xorshift64*: deterministic, so a failure reproduces. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static const char *const seeds[] = {
    "redis://127.0.0.1:6379/3", "unix:///tmp/r.sock?db=2", "redis://:pw@[::1]:6380/1",
    "127.0.0.1:9400", "[::1]:0", "state=\"verified\",model=\"a\\\"b\"",
    "vtk_ag_abcdefghijkl_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "tcp://127.0.0.1:7400", "ipc:///tmp/x.ipc", "250ms", "1h", "true",
};
static const char alphabet[] = "redis:/unix?db=[]@:0123456789abcdefvtk_ag\"\\,.=-+ \n\x01\xff";

/* A random mutation of a seed, or random bytes. */
static void make_input(char *buf, size_t cap)
{
    size_t n;
    if (rnd() % 4 == 0) {
        n = rnd() % (cap - 1);
        for (size_t i = 0; i < n; i++)
            buf[i] = alphabet[rnd() % (sizeof(alphabet) - 1)];
    } else {
        const char *s = seeds[rnd() % (sizeof(seeds) / sizeof(seeds[0]))];
        n = strlen(s);
        memcpy(buf, s, n);
        int edits = 1 + (int)(rnd() % 4);
        for (int e = 0; e < edits && n > 0; e++) {
            size_t at = rnd() % n;
            switch (rnd() % 3) {
            case 0: buf[at] = alphabet[rnd() % (sizeof(alphabet) - 1)]; break;
            case 1: n = at; break; /* truncate */
            default:
                if (n + 1 < cap) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = alphabet[rnd() % (sizeof(alphabet) - 1)];
                    n++;
                }
            }
        }
    }
    buf[n] = '\0';
}

int main(void)
{
    char in[160];
    unsigned accepted_urls = 0, bad = 0;
    for (int iter = 0; iter < 20000; iter++) {
        make_input(in, sizeof(in));
        vt_errinfo ei = {0, ""};

        vt_redis_url u;
        if (vt_redis_url_parse(in, &u, &ei) == 0) {
            accepted_urls++;
            if (!((u.kind == VT_REDIS_TCP && u.port >= 1 && u.port <= 65535 && u.host[0]) ||
                  (u.kind == VT_REDIS_UNIX && u.path[0] == '/')) || u.db < 0 || u.db > 15)
                bad += !VT_CHECK(0, "accepted bad redis URL '%s'", in);
        } else if (!ei.detail[0] || strchr(ei.detail, '\n')) {
            bad += !VT_CHECK(0, "redis URL error not one line for '%s'", in);
        }

        char host[64];
        int port = -1;
        if (vt_parse_hostport(in, host, sizeof(host), &port) == 0 && (port < 0 || port > 65535 || !host[0]))
            bad += !VT_CHECK(0, "hostport '%s' -> port %d", in, port);

        int64_t d;
        if (vt_parse_duration_ms(in, &d) == 0 && d < 0)
            bad += !VT_CHECK(0, "negative duration from '%s'", in);

        vt_metrics_check_labels(in);
        vt_metrics_check_name(in);

        char id[VT_AGENT_ID_BUFSZ];
        if (vt_api_key_parse(in, strlen(in), id, &ei) == 0 &&
            (strlen(in) != VT_API_KEY_LEN || strncmp(id, "ag_", 3) != 0))
            bad += !VT_CHECK(0, "accepted bad API key '%s'", in);

        /* JSON strings never carry raw control bytes or bare quotes. */
        vt_strbuf b = VT_STRBUF_INIT;
        vt_strbuf_json_str(&b, in, strlen(in));
        const char *j = vt_strbuf_cstr(&b);
        for (size_t i = 1; i + 1 < b.len; i++) {
            if ((unsigned char)j[i] < 0x20 || (j[i] == '"' && j[i - 1] != '\\')) {
                bad += !VT_CHECK(0, "json escape of '%s' -> %s", in, j);
                break;
            }
        }
        vt_strbuf_free(&b);

        /* Option parsing of a hostile value for every type. */
        int64_t iv;
        bool bv;
        const char *sv;
        int ev;
        static const char *const ch[] = {"a", "b", NULL};
        vt_opt opts[] = {
            {.flag = "i", .type = VT_OPT_INT, .min = 1, .max = 10, .dest = &iv},
            {.flag = "b", .type = VT_OPT_BOOL, .dest = &bv},
            {.flag = "h", .type = VT_OPT_HOSTPORT, .dest = &sv},
            {.flag = "u", .type = VT_OPT_URL, .dest = &sv},
            {.flag = "e", .type = VT_OPT_ENUM, .choices = ch, .dest = &ev},
            VT_OPT_END};
        static const char *const flags[] = {"--i", "--b", "--h", "--u", "--e"};
        char *argv[] = {"prog", (char *)flags[rnd() % 5], in};
        iv = 5;
        if (vt_config_parse(opts, 3, argv, NULL, NULL, &ei) == 0 && (iv < 1 || iv > 10))
            bad += !VT_CHECK(0, "int out of range accepted from '%s'", in);
    }
    VT_CHECK(accepted_urls > 100, "mutations still produce valid URLs (%u)", accepted_urls);
    VT_CHECK_EQ_INT(bad, 0);
    return vt_test_done();
}
