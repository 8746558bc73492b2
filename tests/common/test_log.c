/* test_log.c - text and JSON log lines: format, escaping, levels, rate
 * limit. The JSON lines are checked with a small strict parser below. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_log.h"
#include "vt_strbuf.h"
#include "vt_test.h"
#include "vt_testsupport.h"

/* ---- minimal strict JSON (object of string values) -------------------- */

static const char *parse_string(const char *p, vt_strbuf *out)
{
    if (*p++ != '"')
        return NULL;
    while (*p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0)
            return NULL; /* raw control characters are invalid JSON */
        if (c == '\\') {
            p++;
            switch (*p) {
            case '"': vt_strbuf_putc(out, '"'); break;
            case '\\': vt_strbuf_putc(out, '\\'); break;
            case '/': vt_strbuf_putc(out, '/'); break;
            case 'n': vt_strbuf_putc(out, '\n'); break;
            case 'r': vt_strbuf_putc(out, '\r'); break;
            case 't': vt_strbuf_putc(out, '\t'); break;
            case 'b': vt_strbuf_putc(out, '\b'); break;
            case 'f': vt_strbuf_putc(out, '\f'); break;
            case 'u': {
                unsigned v = 0;
                for (int i = 1; i <= 4; i++) {
                    char h = p[i];
                    v <<= 4;
                    if (h >= '0' && h <= '9') v |= (unsigned)(h - '0');
                    else if (h >= 'a' && h <= 'f') v |= (unsigned)(h - 'a' + 10);
                    else if (h >= 'A' && h <= 'F') v |= (unsigned)(h - 'A' + 10);
                    else return NULL;
                }
                p += 4;
                if (v < 0x80) {
                    vt_strbuf_putc(out, (char)v);
                } else if (v < 0x800) {
                    vt_strbuf_putc(out, (char)(0xC0 | (v >> 6)));
                    vt_strbuf_putc(out, (char)(0x80 | (v & 0x3F)));
                } else {
                    vt_strbuf_putc(out, (char)(0xE0 | (v >> 12)));
                    vt_strbuf_putc(out, (char)(0x80 | ((v >> 6) & 0x3F)));
                    vt_strbuf_putc(out, (char)(0x80 | (v & 0x3F)));
                }
                break;
            }
            default: return NULL;
            }
            p++;
        } else {
            vt_strbuf_putc(out, (char)c);
            p++;
        }
    }
    return p + 1;
}

/* Parse {"k":"v",...}\n; store up to 8 pairs. Returns pair count or -1. */
static int parse_line(const char *line, vt_strbuf keys[8], vt_strbuf vals[8])
{
    const char *p = line;
    if (*p++ != '{')
        return -1;
    int n = 0;
    for (;;) {
        if (n == 8)
            return -1;
        if (!(p = parse_string(p, &keys[n])) || *p++ != ':' || !(p = parse_string(p, &vals[n])))
            return -1;
        n++;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p++ != '}')
            return -1;
        return strcmp(p, "\n") == 0 ? n : -1;
    }
}

static char *log_one(vt_log_format fmt, vt_log_level lvl, const char *event, const char *msg)
{
    static int seq;
    char path[600], name[32];
    snprintf(name, sizeof(name), "log%d.txt", seq++);
    vt_ts_path(name, path, sizeof(path));
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    vt_log *log;
    if (vt_log_open(&log, "scheduler", VT_LOG_DEBUG, fmt, f) != 0) {
        fclose(f);
        return NULL;
    }
    vt_log_event(log, lvl, event, msg ? "%s" : NULL, msg);
    vt_log_close(log);
    fclose(f);
    return vt_ts_read_file(path, NULL);
}

static void check_json(const char *msg, const char *want_msg)
{
    char *line = log_one(VT_LOG_JSON, VT_LOG_WARN, "peer.bad_message", msg);
    VT_REQUIRE(line != NULL, "log written");
    vt_strbuf k[8], v[8];
    memset(k, 0, sizeof(k));
    memset(v, 0, sizeof(v));
    int n = parse_line(line, k, v);
    VT_CHECK_EQ_INT(n, 5);
    if (n == 5) {
        VT_CHECK_EQ_STR(vt_strbuf_cstr(&k[0]), "ts");
        VT_CHECK(strlen(vt_strbuf_cstr(&v[0])) == 24 && vt_strbuf_cstr(&v[0])[23] == 'Z',
                 "ts %s", vt_strbuf_cstr(&v[0]));
        VT_CHECK_EQ_STR(vt_strbuf_cstr(&k[1]), "level");
        VT_CHECK_EQ_STR(vt_strbuf_cstr(&v[1]), "warn");
        VT_CHECK_EQ_STR(vt_strbuf_cstr(&v[2]), "scheduler");
        VT_CHECK_EQ_STR(vt_strbuf_cstr(&k[3]), "event");
        VT_CHECK_EQ_STR(vt_strbuf_cstr(&v[3]), "peer.bad_message");
        VT_CHECK_EQ_STR(vt_strbuf_cstr(&k[4]), "msg");
        VT_CHECK(strcmp(vt_strbuf_cstr(&v[4]), want_msg) == 0, "msg round trip: got '%s'",
                 vt_strbuf_cstr(&v[4]));
    } else {
        VT_CHECK(0, "invalid JSON line: %s", line);
    }
    for (int i = 0; i < 8; i++) {
        vt_strbuf_free(&k[i]);
        vt_strbuf_free(&v[i]);
    }
    free(line);
}

static void test_json(void)
{
    check_json("id=j1 agent=ag_x", "id=j1 agent=ag_x");
    check_json("quote\" backslash\\ nl\n cr\r tab\t bell\a del\x7f",
               "quote\" backslash\\ nl\n cr\r tab\t bell\a del\x7f");
    check_json("utf8 \xc3\xa9\xe2\x82\xac ok", "utf8 \xc3\xa9\xe2\x82\xac ok");
    /* Invalid UTF-8 (lone continuation, truncated sequence, overlong) ->
     * U+FFFD each, never raw bytes. */
    check_json("bad \x80 \xc3 \xc0\xaf end", "bad \xef\xbf\xbd \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd end");
    check_json("", "");
}

static void test_text(void)
{
    char *line = log_one(VT_LOG_TEXT, VT_LOG_INFO, "job.accepted", "id=j1 agent=ag_x");
    VT_REQUIRE(line != NULL, "log written");
    /* 2026-11-24T02:10:00.123Z INFO scheduler job.accepted id=j1 agent=ag_x */
    VT_CHECK(strlen(line) > 25 && line[4] == '-' && line[10] == 'T' && line[19] == '.' &&
                 line[23] == 'Z' && line[24] == ' ',
             "timestamp shape: %s", line);
    VT_CHECK_EQ_STR(line + 25, "INFO scheduler job.accepted id=j1 agent=ag_x\n");
    free(line);

    line = log_one(VT_LOG_TEXT, VT_LOG_ERROR, "peer.bad", "a\nFAKE 2026 line\x1b[31m");
    VT_REQUIRE(line != NULL, "log written");
    VT_CHECK_EQ_STR(line + 25, "ERROR scheduler peer.bad a\\nFAKE 2026 line\\x1b[31m\n");
    free(line);

    line = log_one(VT_LOG_TEXT, VT_LOG_DEBUG, "x.y", NULL);
    VT_REQUIRE(line != NULL, "log written");
    VT_CHECK_EQ_STR(line + 25, "DEBUG scheduler x.y\n");
    free(line);

    /* Long messages are cut with "...". */
    char big[5000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    line = log_one(VT_LOG_TEXT, VT_LOG_INFO, "big", big);
    VT_REQUIRE(line != NULL, "log written");
    size_t len = strlen(line);
    VT_CHECK(len < 2200 && strcmp(line + len - 4, "...\n") == 0, "truncated to %zu", len);
    free(line);
}

static void test_levels(void)
{
    char path[600];
    vt_ts_path("levels.txt", path, sizeof(path));
    FILE *f = fopen(path, "w");
    VT_REQUIRE(f != NULL, "open");
    vt_log *log;
    VT_REQUIRE_OK(vt_log_open(&log, "worker", VT_LOG_WARN, VT_LOG_TEXT, f));
    VT_CHECK(!vt_log_enabled(log, VT_LOG_INFO), "info below warn");
    VT_CHECK(vt_log_enabled(log, VT_LOG_ERROR), "error above warn");
    vt_log_info(log, "hidden", "x=1");
    vt_log_warn(log, "shown", "x=2");
    vt_log_set_level(log, VT_LOG_DEBUG);
    vt_log_debug(log, "now.shown", "x=3");
    vt_log_set_level(log, VT_LOG_OFF);
    vt_log_error(log, "off", "x=4");
    vt_log_close(log);
    fclose(f);
    char *text = vt_ts_read_file(path, NULL);
    VT_REQUIRE(text != NULL, "read");
    VT_CHECK(strstr(text, "hidden") == NULL, "info filtered");
    VT_CHECK(strstr(text, "WARN worker shown x=2\n") != NULL, "warn kept: %s", text);
    VT_CHECK(strstr(text, "DEBUG worker now.shown x=3\n") != NULL, "level raised at run time");
    VT_CHECK(strstr(text, "x=4") == NULL, "off logs nothing");
    free(text);

    vt_log *bad;
    VT_CHECK_ERR(vt_log_open(&bad, "has space", VT_LOG_INFO, VT_LOG_TEXT, NULL), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_log_open(&bad, "", VT_LOG_INFO, VT_LOG_TEXT, NULL), VT_ERR_INVAL);
    vt_log_level l;
    vt_log_format fm;
    VT_CHECK_OK(vt_log_level_parse("warn", &l));
    VT_CHECK_EQ_INT(l, VT_LOG_WARN);
    VT_CHECK_ERR(vt_log_level_parse("WARN", &l), VT_ERR_INVAL);
    VT_CHECK_OK(vt_log_format_parse("json", &fm));
    VT_CHECK_EQ_INT(fm, VT_LOG_JSON);
    VT_CHECK(!vt_log_enabled(NULL, VT_LOG_ERROR), "NULL logger disabled");
    vt_log_event(NULL, VT_LOG_ERROR, "x", "no crash");
}

static void test_ratelimit(void)
{
    vt_ratelimit rl;
    /* A window of an hour: the test never crosses it, so counts are exact. */
    vt_ratelimit_init(&rl, 3, 3600000);
    uint64_t dropped = 99;
    int allowed = 0;
    for (int i = 0; i < 10; i++)
        allowed += vt_ratelimit_allow(&rl, &dropped);
    VT_CHECK_EQ_INT(allowed, 3);
    VT_CHECK_EQ_U64(dropped, 0);
    VT_CHECK_EQ_U64(rl.suppressed, 7);
    /* Force the window over: the next allowed event reports the 7. */
    rl.window_start -= 3600000;
    VT_CHECK(vt_ratelimit_allow(&rl, &dropped), "new window");
    VT_CHECK_EQ_U64(dropped, 7);
    vt_ratelimit_destroy(&rl);
}

static void *log_many(void *arg)
{
    vt_log *log = arg;
    for (int i = 0; i < 300; i++)
        vt_log_info(log, "t.line", "i=%d pad=%0200d", i, 0);
    return NULL;
}

/* Lines from several threads never interleave: every line parses. */
static void test_threads(void)
{
    char path[600];
    vt_ts_path("threads.txt", path, sizeof(path));
    FILE *f = fopen(path, "w");
    VT_REQUIRE(f != NULL, "open");
    vt_log *log;
    VT_REQUIRE_OK(vt_log_open(&log, "t", VT_LOG_INFO, VT_LOG_JSON, f));
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, log_many, log);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    vt_log_close(log);
    fclose(f);
    char *text = vt_ts_read_file(path, NULL);
    VT_REQUIRE(text != NULL, "read");
    int lines = 0, good = 0;
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        char save = nl[1];
        nl[1] = '\0';
        vt_strbuf k[8], v[8];
        memset(k, 0, sizeof(k));
        memset(v, 0, sizeof(v));
        good += parse_line(p, k, v) == 5;
        for (int i = 0; i < 8; i++) {
            vt_strbuf_free(&k[i]);
            vt_strbuf_free(&v[i]);
        }
        nl[1] = save;
        lines++;
        p = nl + 1;
    }
    VT_CHECK_EQ_INT(lines, 1200);
    VT_CHECK_EQ_INT(good, 1200);
    free(text);
}

int main(void)
{
    test_threads();
    test_json();
    test_text();
    test_levels();
    test_ratelimit();
    return vt_test_done();
}
