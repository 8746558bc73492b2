/* test_cli.c - `verity memory ...` (vt_cli_memory) against a real daemon:
 * every sub-command's exit code and output, JSON included, and usage
 * errors. stdout is captured into a file per call. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>

#include "ms_testutil.h"
#include "vt_test.h"

static ms_env env;
static ms_agent ag;
static char out[65536];

/* Run `verity memory ARGS...` with --memsync and --api-key added; the
 * captured stdout lands in out[]. Returns the exit code. */
static int cli(const char *a0, ...)
{
    char *argv[40];
    int n = 0;
    argv[n++] = "memory";
    va_list ap;
    va_start(ap, a0);
    for (const char *a = a0; a && n < 34; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n++] = "--memsync";
    argv[n++] = env.listen;
    argv[n++] = "--api-key";
    argv[n++] = ag.key;
    argv[n] = NULL;
    char path[512];
    vt_ts_path("cli.out", path, sizeof path);
    fflush(stdout);
    int saved = dup(1);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    close(fd);
    int ex = vt_cli_memory(n, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    size_t len = 0;
    char *s = vt_ts_read_file(path, &len);
    snprintf(out, sizeof out, "%s", s ? s : "");
    free(s);
    return ex;
}

#define HAS(s) VT_CHECK(strstr(out, (s)) != NULL, "output lacks \"%s\": %s", (s), out)

int main(void)
{
    ms_env_start(&env, NULL);
    ms_agent_new(&env, "cli", &ag);

    VT_CHECK_EQ_INT(cli("add", "--type", "episodic", "--category", "trip", "--category", "2026",
                        "--vector", "1,0,0", "flew to Lisbon in May", NULL), 0);
    HAS("id 1\n");
    HAS("head 1:");
    VT_CHECK_EQ_INT(cli("add", "--json", "likes green tea", NULL), 0);
    HAS("{\"id\":2,\"head\":\"2:");
    VT_CHECK_EQ_INT(cli("search", "lisbon", NULL), 0);
    HAS("flew to Lisbon in May");
    HAS("episodic");
    VT_CHECK(strstr(out, "green tea") == NULL, "search returned a non-matching item");
    VT_CHECK_EQ_INT(cli("search", "--json", "--vector", "1,0.1,0", "tea", NULL), 0);
    HAS("\"hits\":[");
    HAS("\"rank_cosine\":1");
    VT_CHECK_EQ_INT(cli("search", "--in-category", "trip", "tea", NULL), 0);
    VT_CHECK(strstr(out, "green tea") == NULL, "category filter ignored");
    VT_CHECK_EQ_INT(cli("get", "1", "--json", NULL), 0);
    HAS("\"categories\":[\"trip\",\"2026\"]");
    HAS("\"dim\":3");
    VT_CHECK_EQ_INT(cli("update", "2", "--importance", "0.9", "likes oolong tea", NULL), 0);
    VT_CHECK_EQ_INT(cli("get", "2", NULL), 0);
    HAS("oolong");
    HAS("0.90");
    VT_CHECK_EQ_INT(cli("list", "--limit", "1", NULL), 0);
    HAS("more: --after 1");
    VT_CHECK_EQ_INT(cli("list", "--type", "semantic", NULL), 0);
    VT_CHECK(strstr(out, "Lisbon") == NULL, "type filter ignored");
    HAS("oolong");
    VT_CHECK_EQ_INT(cli("profile", "set", "home", "Porto", NULL), 0);
    VT_CHECK_EQ_INT(cli("profile", NULL), 0);
    HAS("home=Porto");
    VT_CHECK_EQ_INT(cli("profile", "del", "home", NULL), 0);
    VT_CHECK_EQ_INT(cli("profile", "get", "--json", NULL), 0);
    HAS("\"profile\":{}");
    VT_CHECK_EQ_INT(cli("delete", "1", NULL), 0);
    VT_CHECK_EQ_INT(cli("get", "1", NULL), 1);
    VT_CHECK_EQ_INT(cli("verify", NULL), 0);
    HAS("ok: 6 ops"); /* add, add, update, profile set, profile del, delete */

    /* usage errors: exit 2 */
    VT_CHECK_EQ_INT(cli("get", "abc", NULL), 2);
    VT_CHECK_EQ_INT(cli("get", NULL), 2);
    VT_CHECK_EQ_INT(cli("frobnicate", NULL), 2);
    VT_CHECK_EQ_INT(cli("add", "--importance", "3", "x", NULL), 2);
    VT_CHECK_EQ_INT(cli("add", "--vector", "1,zz", "x", NULL), 2);
    VT_CHECK_EQ_INT(cli("search", "--k", "0", "x", NULL), 2);
    VT_CHECK_EQ_INT(cli("add", "--type", "dream", "x", NULL), 2);
    VT_CHECK_EQ_INT(cli("profile", "set", "k", NULL), 2);

    ms_env_stop(&env);
    /* every cli() call opened and closed a socket; NNG reaps closed sockets
     * on its own thread, so let it finish before LeakSanitizer looks */
    nng_fini();
    return vt_test_done();
}
