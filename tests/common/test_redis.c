/* test_redis.c - URL parsing (unit part) and a real redis-server:
 * commands, typed replies, pipelining, reconnect after a restart. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "vt_redis.h"
#include "vt_test.h"
#include "vt_testsupport.h"

static void bad_url(const char *url, const char *want)
{
    vt_redis_url u;
    vt_errinfo ei = {0, ""};
    VT_CHECK_ERR(vt_redis_url_parse(url, &u, &ei), VT_ERR_INVAL);
    VT_CHECK(strstr(ei.detail, want) != NULL, "'%s': detail '%s' lacks '%s'", url, ei.detail, want);
}

static void test_urls(void)
{
    vt_redis_url u;
    vt_errinfo ei = {0, ""};
    VT_CHECK_OK(vt_redis_url_parse("redis://127.0.0.1:6379", &u, &ei));
    VT_CHECK_EQ_INT(u.kind, VT_REDIS_TCP);
    VT_CHECK_EQ_STR(u.host, "127.0.0.1");
    VT_CHECK_EQ_INT(u.port, 6379);
    VT_CHECK_EQ_INT(u.db, 0);
    VT_CHECK_OK(vt_redis_url_parse("redis://redis.verity.svc:7000/3", &u, &ei));
    VT_CHECK_EQ_STR(u.host, "redis.verity.svc");
    VT_CHECK_EQ_INT(u.port, 7000);
    VT_CHECK_EQ_INT(u.db, 3);
    VT_CHECK_OK(vt_redis_url_parse("redis://localhost", &u, &ei));
    VT_CHECK_EQ_INT(u.port, 6379);
    VT_CHECK_OK(vt_redis_url_parse("redis://localhost/2", &u, &ei));
    VT_CHECK_EQ_INT(u.db, 2);
    VT_CHECK_OK(vt_redis_url_parse("redis://[::1]:6380", &u, &ei));
    VT_CHECK_EQ_STR(u.host, "::1");
    VT_CHECK_EQ_INT(u.port, 6380);
    VT_CHECK_OK(vt_redis_url_parse("redis://:s3cret@h:1/0", &u, &ei));
    VT_CHECK_EQ_STR(u.password, "s3cret");
    VT_CHECK_EQ_STR(u.host, "h");
    VT_CHECK_OK(vt_redis_url_parse("unix:///run/redis/redis.sock", &u, &ei));
    VT_CHECK_EQ_INT(u.kind, VT_REDIS_UNIX);
    VT_CHECK_EQ_STR(u.path, "/run/redis/redis.sock");
    VT_CHECK_OK(vt_redis_url_parse("unix:///tmp/r.sock?db=5", &u, &ei));
    VT_CHECK_EQ_INT(u.db, 5);

    bad_url("http://127.0.0.1:6379", "must start with redis:// or unix://");
    bad_url("127.0.0.1:6379", "must start with redis:// or unix://");
    bad_url("redis://", "missing or too long host");
    bad_url("redis://h:0", "port must be 1..65535");
    bad_url("redis://h:99999", "port");
    bad_url("redis://h:abc", "port");
    bad_url("redis://h:1/16", "database must be 0..15");
    bad_url("redis://h:1/x", "database must be 0..15");
    bad_url("unix://relative.sock", "absolute path");
    bad_url("unix:///tmp/r.sock?foo=1", "only ?db=N");
    bad_url("redis://user:pw@h:1", "credentials");
    /* A password is never echoed. */
    vt_redis_url_parse("redis://:hunter2@h:99999", &u, &ei);
    VT_CHECK(strstr(ei.detail, "hunter2") == NULL, "password leaked: %s", ei.detail);
    VT_CHECK_OK(vt_redis_url_check("redis://a:1", &ei));
}

static void test_server(void)
{
    vt_ts_redis rs;
    int rv = vt_ts_redis_start(&rs);
    if (rv == VT_ERR_UNSUPPORTED)
        vt_test_skip("redis-server not installed");
    VT_REQUIRE_OK(rv);

    vt_redis *r;
    vt_errinfo ei = {0, ""};
    VT_REQUIRE_OK(vt_redis_connect(&r, rs.url, 1000, 1000, &ei));
    VT_CHECK_OK(vt_redis_ping(r, &ei));

    redisReply *rep;
    VT_CHECK_OK(vt_redis_command(r, &rep, &ei, "SET %s %b", "k", "v\0w", (size_t)3));
    VT_CHECK_OK(vt_redis_reply_ok(rep, &ei));
    freeReplyObject(rep);
    VT_CHECK_OK(vt_redis_command(r, &rep, &ei, "GET k"));
    const char *s;
    size_t n;
    VT_CHECK_OK(vt_redis_reply_str(rep, 16, &s, &n, &ei));
    VT_CHECK(n == 3 && memcmp(s, "v\0w", 3) == 0, "binary-safe value");
    VT_CHECK_ERR(vt_redis_reply_str(rep, 2, &s, &n, &ei), VT_ERR_TOOBIG);
    VT_CHECK_ERR(vt_redis_reply_int(rep, &(long long){0}, &ei), VT_ERR_PROTO);
    freeReplyObject(rep);
    VT_CHECK_OK(vt_redis_command(r, &rep, &ei, "GET missing"));
    char buf[8];
    VT_CHECK_ERR(vt_redis_reply_strcpy(rep, buf, sizeof(buf), &ei), VT_ERR_NOTFOUND);
    freeReplyObject(rep);

    /* An error reply from our own mistake is INTERNAL, with the message. */
    VT_CHECK_ERR(vt_redis_command(r, &rep, &ei, "INCR k"), VT_ERR_INTERNAL);
    VT_CHECK(strstr(ei.detail, "not an integer") != NULL, "%s", ei.detail);

    /* Pipelining: N appends, N replies, error replies returned in place. */
    VT_CHECK_OK(vt_redis_append(r, &ei, "RPUSH l a b c"));
    VT_CHECK_OK(vt_redis_append(r, &ei, "INCR k"));
    VT_CHECK_OK(vt_redis_append(r, &ei, "LRANGE l 0 -1"));
    VT_CHECK_EQ_INT(vt_redis_pending(r), 3);
    VT_CHECK_ERR(vt_redis_command(r, &rep, &ei, "PING"), VT_ERR_INTERNAL); /* replies unread */
    redisReply *reps[3];
    VT_CHECK_OK(vt_redis_read_replies(r, reps, 3, &ei));
    long long len = 0;
    VT_CHECK_OK(vt_redis_reply_int(reps[0], &len, &ei));
    VT_CHECK_EQ_INT(len, 3);
    VT_CHECK(reps[1] && reps[1]->type == REDIS_REPLY_ERROR, "error reply kept in pipeline");
    VT_CHECK_OK(vt_redis_reply_array(reps[2], 3, &n, &ei));
    VT_CHECK_ERR(vt_redis_reply_array(reps[2], 2, &n, &ei), VT_ERR_TOOBIG);
    vt_redis_free_replies(reps, 3);
    VT_CHECK_EQ_INT(vt_redis_pending(r), 0);

    /* Server crash: the next command fails UNAVAILABLE; after restart the
     * connection comes back by itself and the AOF kept our data. */
    VT_CHECK_OK(vt_ts_redis_kill(&rs, SIGKILL));
    VT_CHECK_ERR(vt_redis_command(r, &rep, &ei, "GET k"), VT_ERR_UNAVAILABLE);
    VT_CHECK(vt_redis_broken(r), "broken after failure");
    VT_CHECK_ERR(vt_redis_ping(r, &ei), VT_ERR_UNAVAILABLE); /* reconnect fails while down */
    VT_REQUIRE_OK(vt_ts_redis_restart(&rs));
    VT_CHECK_OK(vt_redis_command(r, &rep, &ei, "LLEN l"));
    VT_CHECK_OK(vt_redis_reply_int(rep, &len, &ei));
    VT_CHECK_EQ_INT(len, 3);
    freeReplyObject(rep);
    vt_redis_close(r);

    /* db selection and a connect failure. */
    char url[96];
    snprintf(url, sizeof(url), "%s/2", rs.url);
    VT_REQUIRE_OK(vt_redis_connect(&r, url, 1000, 1000, &ei));
    VT_CHECK_OK(vt_redis_command(r, &rep, &ei, "EXISTS l"));
    VT_CHECK_OK(vt_redis_reply_int(rep, &len, &ei));
    VT_CHECK_EQ_INT(len, 0); /* other database */
    freeReplyObject(rep);
    vt_redis_close(r);

    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", vt_ts_free_port());
    VT_CHECK_ERR(vt_redis_connect(&r, url, 500, 500, &ei), VT_ERR_UNAVAILABLE);
    VT_CHECK(r != NULL && vt_redis_broken(r), "broken handle returned");
    vt_redis_close(r);
    VT_CHECK_ERR(vt_redis_connect(&r, "bogus://x", 500, 500, &ei), VT_ERR_INVAL);
    vt_ts_redis_stop(&rs);
}

int main(void)
{
    test_urls();
    test_server();
    return vt_test_done();
}
