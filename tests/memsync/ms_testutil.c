/* ms_testutil.c - see ms_testutil.h. */
#include "ms_testutil.h"

#include <stdio.h>
#include <string.h>

#include "vt_test.h"

void ms_env_start_daemon(ms_env *e, const char *const *extra)
{
    char bin[512];
    const char *argv[32] = {"--listen", e->listen, "--http", e->http, "--redis", e->redis.url,
                            "--auth-secret", e->secret_path, "--workers", "4"};
    int n = 10;
    for (int i = 0; extra && extra[i] && n < 30; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    const char *env[] = {"VERITY_LOG_LEVEL=debug", NULL};
    e->daemon = vt_proc_spawn("memsync", vt_ts_bin("verity-memsync", bin, sizeof bin), argv, env);
    VT_REQUIRE(e->daemon != NULL, "spawn verity-memsync");
    if (vt_ts_wait_ready(e->http, 60000) != 0) {
        vt_proc_tail(e->daemon, 30);
        VT_REQUIRE(0, "verity-memsync not ready");
    }
}

void ms_env_start(ms_env *e, const char *const *extra)
{
    memset(e, 0, sizeof *e);
    int rv = vt_ts_redis_start(&e->redis);
    if (rv == VT_ERR_UNSUPPORTED)
        vt_test_skip("redis-server not installed");
    VT_REQUIRE_OK(rv);
    vt_ts_path("auth.secret", e->secret_path, sizeof e->secret_path);
    VT_REQUIRE_OK(vt_auth_secret_generate(e->secret_path, NULL));
    VT_REQUIRE_OK(vt_auth_secret_load(e->secret_path, e->secret, NULL));
    char sock[512];
    snprintf(e->listen, sizeof e->listen, "ipc://%s", vt_ts_path("memsync.ipc", sock, sizeof sock));
    snprintf(e->http, sizeof e->http, "127.0.0.1:%d", vt_ts_free_port());
    VT_REQUIRE_OK(vt_redis_connect(&e->r, e->redis.url, 2000, 5000, NULL));
    ms_env_start_daemon(e, extra);
    VT_REQUIRE_OK(vt_memsync_open(&e->client, e->listen, 10000, NULL));
}

void ms_env_stop(ms_env *e)
{
    vt_memsync_close(e->client);
    if (e->daemon) {
        VT_CHECK_EQ_INT(vt_proc_stop(e->daemon, 10000), 0);
        vt_proc_free(e->daemon);
    }
    vt_redis_close(e->r);
    vt_ts_redis_stop(&e->redis);
}

void ms_agent_new(ms_env *e, const char *name, ms_agent *a)
{
    memset(a, 0, sizeof *a);
    VT_REQUIRE_OK(vt_registry_agent_add(e->r, e->secret, name, a->id, a->key, NULL));
    a->cred.agent = a->id;
    a->cred.key = a->key;
}

vt_mem_item ms_item(const char *text, float *vec, uint32_t dim)
{
    vt_mem_item it;
    memset(&it, 0, sizeof it);
    it.type = VT_MEM_SEMANTIC;
    it.importance = 0.5f;
    it.text = (char *)text;
    it.embedding = vec;
    it.dim = vec ? dim : 0;
    it.source = (char *)"test";
    return it;
}
