/* vt_http.c - /healthz, /readyz, /metrics on NNG's HTTP server (see
 * vt_http.h). Handlers run on NNG's threads and only read shared state
 * through the callbacks and the metrics registry (which locks itself). */
#include "vt_http.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "vt_config.h"

struct vt_http {
    vt_http_config cfg;
    nng_http_server *server;
    int port;
};

/* Reply with status, content type and body; completes the aio. */
static void reply(nng_aio *aio, uint16_t status, const char *ctype,
                  const char *body, size_t len)
{
    nng_http_res *res = NULL;
    int rv = nng_http_res_alloc(&res);
    if (rv == 0)
        rv = nng_http_res_set_status(res, status);
    if (rv == 0)
        rv = nng_http_res_set_header(res, "Content-Type", ctype);
    if (rv == 0 && len > 0) /* NNG 1.5.2 fails to copy 0 bytes */
        rv = nng_http_res_copy_data(res, body, len);
    if (rv != 0) {
        if (res)
            nng_http_res_free(res);
        nng_aio_finish(aio, rv); /* NNG answers 500 and closes */
        return;
    }
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}

static vt_http *server_of(nng_aio *aio)
{
    nng_http_handler *h = nng_aio_get_input(aio, 1);
    return nng_http_handler_get_data(h);
}

static void on_healthz(nng_aio *aio)
{
    reply(aio, 200, "text/plain; charset=utf-8", "ok\n", 3);
}

static void on_readyz(nng_aio *aio)
{
    vt_http *h = server_of(aio);
    char why[200] = "";
    bool ready = !h->cfg.ready || h->cfg.ready(h->cfg.ready_arg, why, sizeof(why));
    if (ready) {
        reply(aio, 200, "text/plain; charset=utf-8", "ready\n", 6);
        return;
    }
    why[sizeof(why) - 1] = '\0';
    char body[256];
    int n = snprintf(body, sizeof(body), "not ready: %s\n", why[0] ? why : "unspecified");
    if (n < 0 || (size_t)n >= sizeof(body))
        n = (int)strlen(body);
    reply(aio, 503, "text/plain; charset=utf-8", body, (size_t)n);
}

static void on_metrics(nng_aio *aio)
{
    vt_http *h = server_of(aio);
    vt_strbuf out = VT_STRBUF_INIT;
    if (h->cfg.metrics)
        vt_metrics_render(h->cfg.metrics, &out);
    if (h->cfg.extra_metrics)
        h->cfg.extra_metrics(h->cfg.extra_arg, &out);
    if (vt_strbuf_error(&out)) {
        vt_strbuf_free(&out);
        reply(aio, 500, "text/plain; charset=utf-8", "out of memory\n", 14);
        return;
    }
    reply(aio, 200, "text/plain; version=0.0.4; charset=utf-8", vt_strbuf_cstr(&out), out.len);
    vt_strbuf_free(&out);
}

static int add_handler(vt_http *h, const char *path, void (*fn)(nng_aio *))
{
    nng_http_handler *hd;
    int rv = nng_http_handler_alloc(&hd, path, fn);
    if (rv != 0)
        return rv;
    if ((rv = nng_http_handler_set_method(hd, "GET")) != 0 ||
        (rv = nng_http_handler_set_data(hd, h, NULL)) != 0 ||
        (rv = nng_http_server_add_handler(h->server, hd)) != 0) {
        nng_http_handler_free(hd);
        return rv;
    }
    return 0;
}

int vt_http_start(vt_http **out, const vt_http_config *cfg, vt_errinfo *ei)
{
    *out = NULL;
    if (!cfg || !cfg->addr)
        return vt_fail(ei, VT_ERR_INVAL, "http: no address");
    if (strcmp(cfg->addr, "off") == 0)
        return 0;
    char host[256], shown[128];
    int port;
    vt_printable(cfg->addr, shown, sizeof(shown));
    if (vt_parse_hostport(cfg->addr, host, sizeof(host), &port) != 0)
        return vt_fail(ei, VT_ERR_INVAL, "http address '%s' is not host:port or off", shown);
    char url[300];
    snprintf(url, sizeof(url), "http://%s%s%s:%d", strchr(host, ':') ? "[" : "",
             host, strchr(host, ':') ? "]" : "", port);

    vt_http *h = calloc(1, sizeof(*h));
    if (!h)
        return vt_fail(ei, VT_ERR_NOMEM, "http: out of memory");
    h->cfg = *cfg;
    nng_url *u;
    int rv = nng_url_parse(&u, url);
    if (rv != 0) {
        free(h);
        return vt_fail(ei, VT_ERR_INVAL, "http address '%s': %s", shown, nng_strerror(rv));
    }
    rv = nng_http_server_hold(&h->server, u);
    nng_url_free(u);
    if (rv != 0) {
        free(h);
        return vt_fail(ei, VT_ERR_TRANSPORT, "http server %s: %s", shown, nng_strerror(rv));
    }
    if ((rv = add_handler(h, "/healthz", on_healthz)) != 0 ||
        (rv = add_handler(h, "/readyz", on_readyz)) != 0 ||
        (rv = add_handler(h, "/metrics", on_metrics)) != 0 ||
        (rv = nng_http_server_start(h->server)) != 0) {
        nng_http_server_release(h->server);
        free(h);
        return vt_fail(ei, VT_ERR_TRANSPORT, "http server %s: %s", shown, nng_strerror(rv));
    }
    h->port = port;
    nng_sockaddr sa;
    if (nng_http_server_get_addr(h->server, &sa) == 0) {
        if (sa.s_family == NNG_AF_INET)
            h->port = ntohs(sa.s_in.sa_port);
        else if (sa.s_family == NNG_AF_INET6)
            h->port = ntohs(sa.s_in6.sa_port);
    }
    if (cfg->log)
        vt_log_info(cfg->log, "http.listening", "addr=%s port=%d", cfg->addr, h->port);
    *out = h;
    return 0;
}

void vt_http_stop(vt_http *h)
{
    if (!h)
        return;
    nng_http_server_stop(h->server);
    nng_http_server_release(h->server);
    free(h);
}

int vt_http_port(const vt_http *h)
{
    return h ? h->port : 0;
}
