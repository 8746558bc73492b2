/* test_config.c - option tables: precedence, validation, --help format. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_config.h"
#include "vt_redis.h"
#include "vt_test.h"
#include "vt_testsupport.h"

typedef struct cfg {
    vt_common_opts common;
    int64_t queue_max;
    int64_t lease_ms;
    const char *redis;
    const char *listen;
    const char *key;
    bool identity;
    int device;
    vt_strlist models;
    int64_t threads;
} cfg;

static const char *const devices[] = {"auto", "cpu", "cuda", NULL};

/* The table under test, filled into `o` (must hold 14 entries). */
static void table(cfg *c, vt_opt *o, unsigned key_flags)
{
    vt_opt t[] = {
        VT_COMMON_OPTS(&c->common, "127.0.0.1:9400"),
        {.flag = "queue-max", .env = "VERITY_QUEUE_MAX", .type = VT_OPT_INT, .metavar = "N",
         .def = "10000", .min = 1, .max = 1000000, .help = "queued jobs", .dest = VT_DEST_I64(&c->queue_max)},
        {.flag = "lease-ms", .env = "VERITY_LEASE_MS", .type = VT_OPT_DURATION_MS, .metavar = "MS",
         .def = "30000", .min = 100, .max = 3600000, .help = "lease length", .dest = &c->lease_ms},
        {.flag = "redis", .env = "VERITY_REDIS", .type = VT_OPT_STRING, .metavar = "URL",
         .def = "redis://127.0.0.1:6379", .help = "redis", .dest = &c->redis,
         .check = vt_redis_url_check},
        {.flag = "agent-listen", .env = "VERITY_AGENT_LISTEN", .type = VT_OPT_URL,
         .def = "tcp://127.0.0.1:7400", .help = "agents' socket", .dest = &c->listen},
        {.flag = "key", .env = "VERITY_KEY_FILE", .type = VT_OPT_FILE, .help = "secret key",
         .dest = &c->key, .flags = key_flags},
        {.flag = "identity", .env = "VERITY_IDENTITY", .type = VT_OPT_BOOL, .help = "identity model",
         .dest = VT_DEST_BOOL(&c->identity)},
        {.flag = "device", .env = "VERITY_DEVICE", .type = VT_OPT_ENUM, .def = "auto",
         .choices = devices, .help = "compute device", .dest = &c->device},
        {.flag = "model", .env = "VERITY_MODELS", .type = VT_OPT_LIST, .metavar = "PATH[@SHA256]",
         .help = "GGUF to serve (repeatable)", .dest = VT_DEST_LIST(&c->models)},
        {.flag = "threads", .env = "VERITY_THREADS", .type = VT_OPT_INT, .def_help = "number of CPUs",
         .min = 1, .max = 1024, .help = "engine threads", .dest = &c->threads},
        VT_OPT_END};
    memcpy(o, t, sizeof(t));
}

static const char *const all_env[] = {
    "VERITY_HTTP", "VERITY_LOG_FORMAT", "VERITY_LOG_LEVEL", "VERITY_RECV_MAX",
    "VERITY_QUEUE_MAX", "VERITY_LEASE_MS", "VERITY_REDIS", "VERITY_AGENT_LISTEN",
    "VERITY_KEY_FILE", "VERITY_IDENTITY", "VERITY_DEVICE", "VERITY_MODELS", "VERITY_THREADS"};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof(all_env) / sizeof(all_env[0]); i++)
        unsetenv(all_env[i]);
}

/* Parse argv (a NULL-terminated list without argv[0]) into a fresh cfg. */
static int parse(cfg *c, vt_opt *o, const char *const *args, vt_errinfo *ei, bool *help)
{
    memset(c, 0, sizeof(*c));
    c->threads = -1;
    table(c, o, 0);
    char *argv[32] = {"prog"};
    int argc = 1;
    while (args && args[argc - 1])
        argv[argc] = (char *)args[argc - 1], argc++;
    memset(ei, 0, sizeof(*ei));
    return vt_config_parse(o, argc, argv, NULL, help, ei);
}

static void test_defaults(void)
{
    cfg c;
    vt_opt o[16];
    vt_errinfo ei;
    clear_env();
    VT_CHECK_OK(parse(&c, o, NULL, &ei, NULL));
    VT_CHECK_EQ_STR(c.common.http, "127.0.0.1:9400");
    VT_CHECK_EQ_INT(c.common.log_format, VT_LOG_TEXT);
    VT_CHECK_EQ_INT(c.common.log_level, VT_LOG_INFO);
    VT_CHECK_EQ_INT(c.common.recv_max, 4194304);
    VT_CHECK_EQ_INT(c.queue_max, 10000);
    VT_CHECK_EQ_INT(c.lease_ms, 30000);
    VT_CHECK_EQ_STR(c.redis, "redis://127.0.0.1:6379");
    VT_CHECK(c.key == NULL, "no default key");
    VT_CHECK(!c.identity, "identity defaults off");
    VT_CHECK_EQ_INT(c.device, 0);
    VT_CHECK_EQ_INT(c.models.n, 0);
    VT_CHECK_EQ_INT(c.threads, -1); /* no def: left as initialised */
    vt_config_free(o);
}

static void test_precedence(void)
{
    cfg c;
    vt_opt o[16];
    vt_errinfo ei;
    clear_env();
    setenv("VERITY_QUEUE_MAX", "50", 1);
    setenv("VERITY_LOG_FORMAT", "json", 1);
    setenv("VERITY_MODELS", "a.gguf,b.gguf@abc", 1);
    setenv("VERITY_IDENTITY", "1", 1);
    setenv("VERITY_LEASE_MS", "2s", 1);
    setenv("VERITY_HTTP", "", 1); /* empty = unset */

    const char *args1[] = {NULL};
    VT_CHECK_OK(parse(&c, o, args1, &ei, NULL));
    VT_CHECK_EQ_INT(c.queue_max, 50);
    VT_CHECK_EQ_INT(c.common.log_format, VT_LOG_JSON);
    VT_CHECK_EQ_INT(c.lease_ms, 2000);
    VT_CHECK(c.identity, "env bool");
    VT_CHECK_EQ_STR(c.common.http, "127.0.0.1:9400");
    VT_CHECK_EQ_INT(c.models.n, 2);
    if (c.models.n == 2) {
        VT_CHECK_EQ_STR(c.models.items[0], "a.gguf");
        VT_CHECK_EQ_STR(c.models.items[1], "b.gguf@abc");
    }
    vt_config_free(o);

    /* Flags win; "--x=v" and "--x v" forms; LIST flags replace the env. */
    const char *args2[] = {"--queue-max", "70", "--log-format=text", "--identity=false",
                           "--model", "c.gguf", "--model=d.gguf", "--queue-max=80",
                           "--lease-ms", "250ms", "--http", "off", NULL};
    VT_CHECK_OK(parse(&c, o, args2, &ei, NULL));
    VT_CHECK_EQ_INT(c.queue_max, 80); /* last one wins */
    VT_CHECK_EQ_INT(c.common.log_format, VT_LOG_TEXT);
    VT_CHECK(!c.identity, "flag bool beats env");
    VT_CHECK_EQ_INT(c.lease_ms, 250);
    VT_CHECK_EQ_STR(c.common.http, "off");
    VT_CHECK_EQ_INT(c.models.n, 2);
    if (c.models.n == 2) {
        VT_CHECK_EQ_STR(c.models.items[0], "c.gguf");
        VT_CHECK_EQ_STR(c.models.items[1], "d.gguf");
    }
    vt_config_free(o);
    VT_CHECK(c.models.n == 0 && c.models.items == NULL, "vt_config_free empties lists");
    clear_env();
}

/* Expect parse failure with a message containing `want`. */
static void expect_bad(const char *const *args, const char *env_k, const char *env_v,
                       int code, const char *want)
{
    cfg c;
    vt_opt o[16];
    vt_errinfo ei;
    clear_env();
    if (env_k)
        setenv(env_k, env_v, 1);
    int rv = parse(&c, o, args, &ei, NULL);
    VT_CHECK_ERR(rv, code);
    VT_CHECK(strstr(ei.detail, want) != NULL, "detail '%s' lacks '%s'", ei.detail, want);
    VT_CHECK(strchr(ei.detail, '\n') == NULL, "one line: '%s'", ei.detail);
    vt_config_free(o);
    clear_env();
}

static void test_bad_values(void)
{
    const char *a1[] = {"--queue-max", "abc", NULL};
    expect_bad(a1, NULL, NULL, VT_ERR_INVAL, "--queue-max: 'abc' is not an integer");
    expect_bad(NULL, "VERITY_QUEUE_MAX", "-5", VT_ERR_INVAL, "VERITY_QUEUE_MAX: '-5' must be between 1 and 1000000");
    const char *a2[] = {"--queue-max", "12x", NULL};
    expect_bad(a2, NULL, NULL, VT_ERR_INVAL, "'12x' is not an integer");
    const char *a3[] = {"--log-format", "xml", NULL};
    expect_bad(a3, NULL, NULL, VT_ERR_INVAL, "--log-format: 'xml' is not one of text|json");
    expect_bad(NULL, "VERITY_LOG_LEVEL", "loud", VT_ERR_INVAL, "VERITY_LOG_LEVEL: 'loud' is not one of debug|info|warn|error");
    const char *a4[] = {"--qeue-max", "5", NULL};
    expect_bad(a4, NULL, NULL, VT_ERR_INVAL, "unknown option '--qeue-max'");
    const char *a5[] = {"--queue-max", NULL};
    expect_bad(a5, NULL, NULL, VT_ERR_INVAL, "--queue-max: missing value");
    const char *a6[] = {"--http", "localhost", NULL};
    expect_bad(a6, NULL, NULL, VT_ERR_INVAL, "--http: 'localhost' is not host:port");
    const char *a7[] = {"--http", "127.0.0.1:70000", NULL};
    expect_bad(a7, NULL, NULL, VT_ERR_INVAL, "--http");
    const char *a8[] = {"--agent-listen", "http://x:1", NULL};
    expect_bad(a8, NULL, NULL, VT_ERR_INVAL, "--agent-listen: 'http://x:1' is not an address");
    expect_bad(NULL, "VERITY_AGENT_LISTEN", "tcp://127.0.0.1", VT_ERR_INVAL, "VERITY_AGENT_LISTEN");
    const char *a9[] = {"--redis", "http://x", NULL};
    expect_bad(a9, NULL, NULL, VT_ERR_INVAL, "--redis: 'http://x' redis URL");
    const char *a10[] = {"--key", "/nonexistent/key", NULL};
    expect_bad(a10, NULL, NULL, VT_ERR_INVAL, "--key: '/nonexistent/key' cannot be read");
    const char *a11[] = {"--key", "/tmp", NULL};
    expect_bad(a11, NULL, NULL, VT_ERR_INVAL, "is not a regular file");
    expect_bad(NULL, "VERITY_IDENTITY", "maybe", VT_ERR_INVAL, "VERITY_IDENTITY: 'maybe' is not a boolean");
    expect_bad(NULL, "VERITY_MODELS", "a,,b", VT_ERR_INVAL, "VERITY_MODELS");
    const char *a12[] = {"--lease-ms", "5 s", NULL};
    expect_bad(a12, NULL, NULL, VT_ERR_INVAL, "is not a duration");
    const char *a13[] = {"--lease-ms", "10", NULL};
    expect_bad(a13, NULL, NULL, VT_ERR_INVAL, "must be between 100 and 3600000");
    const char *a14[] = {"stray", NULL};
    expect_bad(a14, NULL, NULL, VT_ERR_INVAL, "unexpected argument 'stray'");
    const char *a15[] = {"--recv-max", "99999999999999999999", NULL};
    expect_bad(a15, NULL, NULL, VT_ERR_INVAL, "is not an integer");
    /* Control characters in a bad value are escaped, keeping one line. */
    const char *a16[] = {"--queue-max", "1\n2", NULL};
    expect_bad(a16, NULL, NULL, VT_ERR_INVAL, "'1\\x0a2'");
}

static void test_required_and_file(void)
{
    cfg c;
    vt_opt o[16];
    vt_errinfo ei = {0, ""};
    clear_env();
    memset(&c, 0, sizeof(c));
    table(&c, o, VT_OPT_REQUIRED);
    char *argv1[] = {"prog"};
    VT_CHECK_ERR(vt_config_parse(o, 1, argv1, NULL, NULL, &ei), VT_ERR_INVAL);
    VT_CHECK_EQ_STR(ei.detail, "--key (VERITY_KEY_FILE) is required");

    char path[600];
    vt_ts_path("key.hex", path, sizeof(path));
    VT_REQUIRE_OK(vt_ts_write_file(path, "00\n", 3, 0600));
    setenv("VERITY_KEY_FILE", path, 1);
    VT_CHECK_OK(vt_config_parse(o, 1, argv1, NULL, NULL, &ei));
    VT_CHECK_EQ_STR(c.key, path);
    vt_config_free(o);
    clear_env();
}

static void test_positional_and_help(void)
{
    cfg c;
    vt_opt o[16];
    vt_errinfo ei = {0, ""};
    clear_env();
    memset(&c, 0, sizeof(c));
    table(&c, o, VT_OPT_REQUIRED);
    vt_strlist pos = {0};
    char *argv[] = {"prog", "add", "--queue-max", "3", "--", "--not-a-flag"};
    /* --key is required, so this fails; then give it and retry */
    VT_CHECK_ERR(vt_config_parse(o, 6, argv, &pos, NULL, &ei), VT_ERR_INVAL);
    setenv("VERITY_KEY_FILE", "/etc/hostname", 1);
    vt_strlist_free(&pos);
    VT_CHECK_OK(vt_config_parse(o, 6, argv, &pos, NULL, &ei));
    VT_CHECK_EQ_INT(pos.n, 2);
    if (pos.n == 2) {
        VT_CHECK_EQ_STR(pos.items[0], "add");
        VT_CHECK_EQ_STR(pos.items[1], "--not-a-flag");
    }
    VT_CHECK_EQ_INT(c.queue_max, 3);
    vt_strlist_free(&pos);
    unsetenv("VERITY_KEY_FILE");

    /* --help succeeds even though --key is missing. */
    bool help = false;
    char *argv2[] = {"prog", "--help"};
    VT_CHECK_OK(vt_config_parse(o, 2, argv2, NULL, &help, &ei));
    VT_CHECK(help, "help flag set");

    char path[600];
    vt_ts_path("help.txt", path, sizeof(path));
    FILE *f = fopen(path, "w");
    VT_REQUIRE(f != NULL, "open %s", path);
    vt_config_help(f, "verity-test", "A test daemon.", o);
    fclose(f);
    char *text = vt_ts_read_file(path, NULL);
    VT_REQUIRE(text != NULL, "read help");
    VT_CHECK(strncmp(text, "Usage: verity-test [options]\nA test daemon.\n\nOptions:\n", 52) == 0,
             "help header: %.60s", text);
    VT_CHECK(strstr(text, "\n  --queue-max N  (VERITY_QUEUE_MAX, default 10000)  queued jobs\n") != NULL, "queue-max line");
    VT_CHECK(strstr(text, "\n  --http ADDR  (VERITY_HTTP, default 127.0.0.1:9400)  host:port serving") != NULL, "http line");
    VT_CHECK(strstr(text, "\n  --log-format text|json  (VERITY_LOG_FORMAT, default text)  ") != NULL, "enum metavar");
    VT_CHECK(strstr(text, "\n  --key FILE  (VERITY_KEY_FILE, required)  secret key\n") != NULL, "required line");
    VT_CHECK(strstr(text, "\n  --identity  (VERITY_IDENTITY, default off)  identity model\n") != NULL, "bool line");
    VT_CHECK(strstr(text, "\n  --threads N  (VERITY_THREADS, default number of CPUs)  engine threads\n") != NULL, "def_help line");
    VT_CHECK(strstr(text, "\n  --model PATH[@SHA256]  (VERITY_MODELS, no default)  ") != NULL, "list line");
    VT_CHECK(strstr(text, "\n  --help  (-, no default)  show this help and exit\n") != NULL, "help line");
    /* Every option line has the documented shape: count them. */
    int lines = 0;
    for (char *p = strstr(text, "\n  --"); p; p = strstr(p + 1, "\n  --"))
        lines++;
    VT_CHECK_EQ_INT(lines, 14); /* 13 table options + --help */
    free(text);
    vt_config_free(o);
}

static int check_never(const char *v, vt_errinfo *ei)
{
    (void)v;
    return vt_fail(ei, VT_ERR_INVAL, "rejected by check");
}

static void test_bad_table(void)
{
    int64_t x;
    vt_opt bad_default[] = {{.flag = "n", .type = VT_OPT_INT, .def = "zz", .dest = &x}, VT_OPT_END};
    char *argv[] = {"prog"};
    vt_errinfo ei = {0, ""};
    VT_CHECK_ERR(vt_config_parse(bad_default, 1, argv, NULL, NULL, &ei), VT_ERR_INTERNAL);
    VT_CHECK(strstr(ei.detail, "default of --n") != NULL, "%s", ei.detail);
    vt_opt dup[] = {{.flag = "n", .type = VT_OPT_INT, .dest = &x},
                    {.flag = "n", .type = VT_OPT_INT, .dest = &x}, VT_OPT_END};
    VT_CHECK_ERR(vt_config_parse(dup, 1, argv, NULL, NULL, &ei), VT_ERR_INTERNAL);
    const char *s = NULL;
    vt_opt chk[] = {{.flag = "s", .type = VT_OPT_STRING, .dest = &s, .check = check_never}, VT_OPT_END};
    char *argv2[] = {"prog", "--s", "v"};
    VT_CHECK_ERR(vt_config_parse(chk, 3, argv2, NULL, NULL, &ei), VT_ERR_INVAL);
    VT_CHECK_EQ_STR(ei.detail, "--s: 'v' rejected by check");
    VT_CHECK(s == NULL, "dest untouched on error");
}

static void test_value_parsers(void)
{
    int64_t v;
    bool b;
    char host[64];
    int port;
    VT_CHECK_OK(vt_parse_duration_ms("1h", &v));
    VT_CHECK_EQ_INT(v, 3600000);
    VT_CHECK_OK(vt_parse_duration_ms("5m", &v));
    VT_CHECK_EQ_INT(v, 300000);
    VT_CHECK_ERR(vt_parse_duration_ms("-5", &v), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_parse_duration_ms("5d", &v), VT_ERR_INVAL);
    VT_CHECK_OK(vt_parse_bool("ON", &b));
    VT_CHECK(b, "ON is true");
    VT_CHECK_ERR(vt_parse_bool("", &b), VT_ERR_INVAL);
    VT_CHECK_OK(vt_parse_hostport("[::1]:9400", host, sizeof(host), &port));
    VT_CHECK_EQ_STR(host, "::1");
    VT_CHECK_EQ_INT(port, 9400);
    VT_CHECK_OK(vt_parse_hostport("0.0.0.0:0", host, sizeof(host), &port));
    VT_CHECK_ERR(vt_parse_hostport(":80", host, sizeof(host), &port), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_parse_hostport("a b:80", host, sizeof(host), &port), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_parse_hostport("h:+80", host, sizeof(host), &port), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_parse_int64(" 5", &v), VT_ERR_INVAL);
}

int main(void)
{
    test_defaults();
    test_precedence();
    test_bad_values();
    test_required_and_file();
    test_positional_and_help();
    test_bad_table();
    test_value_parsers();
    return vt_test_done();
}
