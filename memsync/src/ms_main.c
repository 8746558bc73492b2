/* ms_main.c - verity-memsync: flags (docs/configuration.md), health/metrics
 * HTTP, the request server, signal-driven shutdown. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms_server.h"
#include "vt_config.h"
#include "vt_http.h"
#include "vt_log.h"
#include "vt_metrics.h"
#include "vt_redis.h"
#include "vt_registry.h"
#include "vt_signal.h"

#define MS_WORKERS_DEFAULT "8"
#define MS_CACHE_AGENTS_DEFAULT "256"

int main(int argc, char **argv)
{
    static vt_common_opts common;
    static const char *listen, *redis_url, *secret_file;
    static int64_t max_item_bytes, max_items, rate_limit, workers, cache_agents, cache_mb;
    vt_opt opts[] = {
        VT_COMMON_OPTS(&common, "127.0.0.1:9410"),
        {.flag = "listen", .env = "VERITY_MEMSYNC_LISTEN", .type = VT_OPT_URL, .metavar = "URL",
         .def = "tcp://127.0.0.1:7410", .help = "REP socket", .dest = &listen},
        {.flag = "redis", .env = "VERITY_REDIS", .type = VT_OPT_STRING, .metavar = "URL",
         .def = "redis://127.0.0.1:6379", .check = vt_redis_url_check,
         .help = "redis://host:port[/db] or unix:///path/redis.sock", .dest = &redis_url},
        {.flag = "auth-secret", .env = "VERITY_AUTH_SECRET_FILE", .type = VT_OPT_FILE,
         .metavar = "FILE", .flags = VT_OPT_REQUIRED,
         .help = "same secret as the scheduler (API-key MACs, service key)", .dest = &secret_file},
        {.flag = "max-item-bytes", .env = "VERITY_MAX_ITEM_BYTES", .type = VT_OPT_INT,
         .metavar = "N", .def = "16384", .min = 1, .max = VT_MEM_MAX_TEXT,
         .help = "largest memory text in bytes", .dest = &max_item_bytes},
        {.flag = "max-items", .env = "VERITY_MAX_ITEMS", .type = VT_OPT_INT, .metavar = "N",
         .def = "100000", .min = 1, .max = 10000000, .help = "items per agent",
         .dest = &max_items},
        {.flag = "rate-limit", .env = "VERITY_RATE_LIMIT", .type = VT_OPT_INT, .metavar = "N",
         .def = "2000", .min = 0, .max = 100000000,
         .help = "requests per second per agent (0: unlimited)", .dest = &rate_limit},
        {.flag = "workers", .env = "VERITY_MEMSYNC_WORKERS", .type = VT_OPT_INT, .metavar = "N",
         .def = MS_WORKERS_DEFAULT, .min = 1, .max = 256,
         .help = "threads for requests other than adds (each has its own Redis connection)",
         .dest = &workers},
        {.flag = "cache-agents", .env = "VERITY_MEMSYNC_CACHE_AGENTS", .type = VT_OPT_INT,
         .metavar = "N", .def = MS_CACHE_AGENTS_DEFAULT, .min = 1, .max = 1000000,
         .help = "agents whose search index is kept in memory", .dest = &cache_agents},
        {.flag = "cache-mb", .env = "VERITY_MEMSYNC_CACHE_MB", .type = VT_OPT_INT,
         .metavar = "MB", .def = "1024", .min = 0, .max = 1048576,
         .help = "memory for cached indexes (0: no limit besides --cache-agents)",
         .dest = &cache_mb},
        VT_OPT_END};
    vt_config_or_exit(opts, argc, argv, "verity-memsync", "Verity MemSync: agents' long-term memory");

    vt_errinfo ei = {0};
    ms_server_cfg cfg = {0};
    if (vt_auth_secret_load(secret_file, cfg.secret, &ei) != 0) {
        fprintf(stderr, "verity-memsync: --auth-secret: %s\n", vt_errinfo_msg(&ei));
        return 2;
    }
    vt_signals *sig = NULL;
    if (vt_signals_start(&sig, &ei) != 0) {
        fprintf(stderr, "verity-memsync: %s\n", vt_errinfo_msg(&ei));
        return 1;
    }
    vt_log *log = NULL;
    if (vt_common_log_open(&common, "memsync", &log) != 0) {
        fprintf(stderr, "verity-memsync: cannot open the log\n");
        return 1;
    }
    vt_metrics *metrics = NULL;
    if (vt_metrics_new(&metrics) != 0) {
        vt_log_error(log, "start.failed", "out of memory");
        return 1;
    }
    cfg.listen = listen;
    cfg.redis_url = redis_url;
    cfg.limits.max_text = (size_t)max_item_bytes;
    cfg.limits.max_items = (uint64_t)max_items;
    cfg.limits.rate_limit = (uint64_t)rate_limit;
    cfg.recv_max = (size_t)common.recv_max;
    cfg.workers = (int)workers;
    cfg.cache_agents = (size_t)cache_agents;
    cfg.cache_bytes = (size_t)cache_mb << 20;
    cfg.log = log;
    cfg.metrics = metrics;

    ms_server *srv = NULL;
    int rv = ms_server_start(&srv, &cfg, &ei);
    memset(cfg.secret, 0, sizeof cfg.secret);
    if (rv != 0) {
        vt_log_error(log, "start.failed", "err=%s detail=\"%s\"", vt_errname(rv), vt_errinfo_msg(&ei));
        return rv == VT_ERR_TRANSPORT || rv == VT_ERR_INVAL ? 2 : 1;
    }
    vt_http *http = NULL;
    vt_http_config hc = {.addr = common.http, .metrics = metrics, .ready = ms_server_ready,
                         .ready_arg = srv, .log = log};
    if ((rv = vt_http_start(&http, &hc, &ei)) != 0) {
        vt_log_error(log, "start.failed", "http %s: %s", common.http, vt_errinfo_msg(&ei));
        ms_server_stop(srv);
        return 2;
    }
    vt_log_info(log, "memsync.started", "listen=%s http=%s redis=%s workers=%lld", listen,
                common.http, redis_url, (long long)workers);
    while (!vt_signals_stop_requested(sig)) {
        vt_signals_wait(sig, 1000);
        ms_server_tick(srv);
    }
    vt_log_info(log, "memsync.stopping", NULL);
    vt_http_stop(http);
    ms_server_stop(srv);
    vt_metrics_free(metrics);
    vt_log_info(log, "memsync.stopped", NULL);
    vt_log_close(log);
    vt_signals_stop(sig);
    return 0;
}
