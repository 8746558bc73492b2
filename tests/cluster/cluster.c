/* cluster.c - see cluster.h. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "vt_engine.h"
#include "vt_test.h"

static void make_key(const char *path, vt_keypair *kp)
{
    vt_errinfo ei = {0};
    VT_REQUIRE_OK(vt_key_generate(kp));
    VT_REQUIRE(vt_key_save(path, kp, true, &ei) == 0, "key %s: %s", path, vt_errinfo_msg(&ei));
}

static void url(char *out, size_t n)
{
    snprintf(out, n, "tcp://127.0.0.1:%d", vt_ts_free_port());
}

static void spawn_sched(cl_cluster *c)
{
    const char *argv[25];
    for (int i = 0; i < c->n_sched_args; i++)
        argv[i] = c->sched_args[i];
    argv[c->n_sched_args] = NULL;
    char bin[512];
    c->sched = vt_proc_spawn("scheduler", vt_ts_bin("verity-scheduler", bin, sizeof bin), argv,
                             NULL);
    VT_REQUIRE(c->sched != NULL, "spawn scheduler");
    if (vt_ts_wait_ready(c->http, 60000) != 0) {
        vt_proc_tail(c->sched, 30);
        VT_REQUIRE(0, "scheduler not ready");
    }
}

void cl_agent_add(cl_cluster *c, const char *name, char key[VT_API_KEY_BUFSZ])
{
    vt_errinfo ei = {0};
    uint8_t secret[VT_AUTH_SECRET_BYTES];
    VT_REQUIRE_OK(vt_auth_secret_load(c->secret_path, secret, &ei));
    vt_redis *r = NULL;
    VT_REQUIRE(vt_redis_connect(&r, c->rs.url, 2000, 2000, &ei) == 0, "redis: %s",
               vt_errinfo_msg(&ei));
    VT_REQUIRE(vt_registry_agent_add(r, secret, name, NULL, key, &ei) == 0, "agent %s: %s", name,
               vt_errinfo_msg(&ei));
    vt_redis_close(r);
}

void cl_start(cl_cluster *c, const char *model_path, const char *const *sched_args)
{
    memset(c, 0, sizeof *c);
    vt_errinfo ei = {0};
    int rv = vt_ts_redis_start(&c->rs);
    if (rv == VT_ERR_UNSUPPORTED)
        vt_test_skip("redis-server not installed");
    VT_REQUIRE(rv == 0, "redis: %s", vt_errname(rv));

    snprintf(c->model_path, sizeof c->model_path, "%s", model_path);
    vt_model *m = NULL;
    VT_REQUIRE(vt_model_load(model_path, &m, &ei) == 0, "model: %s", vt_errinfo_msg(&ei));
    vt_hex(vt_model_get_info(m)->sha256, 32, c->model_hex);
    vt_model_free(m);

    vt_ts_path("auth.secret", c->secret_path, sizeof c->secret_path);
    VT_REQUIRE_OK(vt_auth_secret_generate(c->secret_path, &ei));
    for (int i = 0; i < 2; i++) {
        char name[16];
        snprintf(name, sizeof name, "agent%d", i);
        cl_agent_add(c, name, c->agent_key[i]);
    }

    vt_keypair kp;
    vt_ts_path("scheduler.key", c->key_path, sizeof c->key_path);
    make_key(c->key_path, &kp);
    url(c->agent_url, sizeof c->agent_url);
    url(c->worker_url, sizeof c->worker_url);
    url(c->verifier_url, sizeof c->verifier_url);
    snprintf(c->http, sizeof c->http, "127.0.0.1:%d", vt_ts_free_port());
    char alias[128];
    snprintf(alias, sizeof alias, "tiny=%s", c->model_hex);
    const char *argv[32] = {"--agent-listen", c->agent_url, "--worker-listen", c->worker_url,
                            "--verifier-listen", c->verifier_url, "--http", c->http,
                            "--redis", c->rs.url, "--key", c->key_path,
                            "--auth-secret", c->secret_path, "--model-alias", alias};
    int n = 16;
    for (int i = 0; sched_args && sched_args[i] && n < 31; i++)
        argv[n++] = sched_args[i];
    argv[n] = NULL;
    for (int i = 0; i < n && i < 24; i++)
        snprintf(c->sched_args[i], sizeof c->sched_args[i], "%s", argv[i]);
    c->n_sched_args = n < 24 ? n : 24;
    spawn_sched(c);
}

void cl_sched_restart(cl_cluster *c, int crash)
{
    if (crash) {
        vt_proc_kill(c->sched, SIGKILL);
        vt_proc_wait(c->sched, 5000, NULL);
    } else {
        VT_CHECK(vt_proc_stop(c->sched, 10000) == 0, "scheduler did not exit 0");
    }
    vt_proc_free(c->sched);
    spawn_sched(c);
}

cl_node *cl_node_start(cl_cluster *c, int verifier, const char *const *args)
{
    VT_REQUIRE(c->n_nodes < CL_MAX_NODES, "too many nodes");
    cl_node *nd = &c->nodes[c->n_nodes];
    snprintf(nd->name, sizeof nd->name, "%s%d", verifier ? "verifier" : "worker", c->n_nodes);
    char kname[64];
    snprintf(kname, sizeof kname, "%s.key", nd->name);
    vt_ts_path(kname, nd->key_path, sizeof nd->key_path);
    vt_keypair kp;
    make_key(nd->key_path, &kp);
    char hex[65];
    vt_node_id(kp.pk, hex);
    vt_errinfo ei = {0};
    vt_redis *r = NULL;
    VT_REQUIRE(vt_redis_connect(&r, c->rs.url, 2000, 2000, &ei) == 0, "redis");
    /* one operator per node: the scheduler never lets a verifier check a
     * worker of its own operator */
    VT_REQUIRE_OK(vt_registry_node_add(r, hex, verifier ? VT_ROLE_VERIFIER : VT_ROLE_WORKER,
                                       nd->name, &ei));
    vt_redis_close(r);

    snprintf(nd->http, sizeof nd->http, "127.0.0.1:%d", vt_ts_free_port());
    const char *argv[40] = {"--scheduler", verifier ? c->verifier_url : c->worker_url,
                            "--key", nd->key_path, "--http", nd->http, "--threads", "1"};
    int n = 8;
    for (int i = 0; args && args[i] && n < 39; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char bin[512];
    nd->proc = vt_proc_spawn(nd->name,
                             vt_ts_bin(verifier ? "verity-verifier" : "verity-worker", bin,
                                       sizeof bin),
                             argv, NULL);
    VT_REQUIRE(nd->proc != NULL, "spawn %s", nd->name);
    if (vt_ts_wait_ready(nd->http, 60000) != 0) {
        vt_proc_tail(nd->proc, 30);
        vt_proc_tail(c->sched, 30);
        VT_REQUIRE(0, "%s not ready", nd->name);
    }
    c->n_nodes++;
    return nd;
}

void cl_stop(cl_cluster *c)
{
    for (int i = 0; i < c->n_nodes; i++) {
        if (c->nodes[i].proc && vt_proc_alive(c->nodes[i].proc))
            VT_CHECK(vt_proc_stop(c->nodes[i].proc, 20000) == 0, "%s did not exit 0 on SIGTERM",
                     c->nodes[i].name);
        vt_proc_free(c->nodes[i].proc);
        c->nodes[i].proc = NULL;
    }
    if (c->sched)
        VT_CHECK(vt_proc_stop(c->sched, 10000) == 0, "scheduler did not exit 0");
    vt_proc_free(c->sched);
    c->sched = NULL;
    vt_ts_redis_stop(&c->rs);
}

double cl_metric(const char *hostport, const char *name)
{
    int status = 0;
    char *body = NULL;
    if (vt_ts_http_get(hostport, "/metrics", 3000, &status, &body) != 0 || status != 200) {
        free(body);
        return -1;
    }
    size_t nl = strlen(name);
    double v = -1;
    for (char *line = body; line && *line;) {
        char *next = strchr(line, '\n');
        if (strncmp(line, name, nl) == 0 && line[nl] == ' ') {
            v = strtod(line + nl + 1, NULL);
            break;
        }
        line = next ? next + 1 : NULL;
    }
    free(body);
    return v;
}

void cl_job_spec(const fx_job *j, const char *verify, vt_job_spec *s)
{
    vt_job_spec_default(s);
    s->model = "tiny";
    s->prompt_tokens = j->prompt;
    s->n_prompt_tokens = j->n_prompt;
    s->max_tokens = j->gp.max_tokens;
    s->sampling = j->gp.sampling;
    s->stop = j->gp.stop;
    s->n_stop = (uint32_t)j->gp.n_stop;
    s->verify = verify;
}

void cl_submit(vt_client *cl, const fx_job *j, const char *verify, char id[VT_JOB_ID_MAX + 1])
{
    vt_job_spec s;
    cl_job_spec(j, verify, &s);
    vt_errinfo ei = {0};
    int rv = vt_client_submit(cl, &s, id, NULL, &ei);
    VT_REQUIRE(rv == 0, "submit: %s", vt_errinfo_msg(&ei));
}
