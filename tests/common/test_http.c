/* test_http.c - the health/metrics endpoint over real HTTP. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_http.h"
#include "vt_test.h"
#include "vt_testsupport.h"

static atomic_bool ready_flag;

static bool ready(void *arg, char *why, size_t whysz)
{
    (void)arg;
    if (atomic_load(&ready_flag))
        return true;
    snprintf(why, whysz, "redis unreachable");
    return false;
}

static void extra(void *arg, vt_strbuf *out)
{
    (void)arg;
    vt_metrics_write_header(out, "verity_extra", "Computed on demand.", "gauge");
    vt_metrics_write_sample(out, "verity_extra", NULL, 5);
}

static void get(const char *addr, const char *path, int want_status, const char *want_body)
{
    int status = 0;
    char *body = NULL;
    int rv = vt_ts_http_get(addr, path, 5000, &status, &body);
    VT_CHECK_OK(rv);
    VT_CHECK(status == want_status, "GET %s: status %d, want %d", path, status, want_status);
    if (want_body)
        VT_CHECK(body && strstr(body, want_body) != NULL, "GET %s: body '%s' lacks '%s'", path,
                 body ? body : "(null)", want_body);
    free(body);
}

int main(void)
{
    vt_metrics *m;
    VT_REQUIRE_OK(vt_metrics_new(&m));
    vt_counter *c;
    vt_errinfo ei = {0, ""};
    VT_REQUIRE_OK(vt_metrics_counter(m, "verity_jobs_total", "Jobs.", "state=\"verified\"", &c, &ei));
    vt_counter_add(c, 3);

    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", vt_ts_free_port());
    vt_http_config cfg = {.addr = addr, .metrics = m, .ready = ready, .extra_metrics = extra};
    vt_http *h;
    VT_REQUIRE_OK(vt_http_start(&h, &cfg, &ei));
    VT_CHECK(vt_http_port(h) == atoi(strchr(addr, ':') + 1), "port %d", vt_http_port(h));

    get(addr, "/healthz", 200, "ok");
    get(addr, "/readyz", 503, "not ready: redis unreachable");
    atomic_store(&ready_flag, true);
    get(addr, "/readyz", 200, "ready");
    get(addr, "/metrics", 200, "verity_jobs_total{state=\"verified\"} 3\n");
    get(addr, "/metrics", 200, "# TYPE verity_extra gauge\nverity_extra 5\n");
    get(addr, "/nope", 404, NULL);
    vt_counter_inc(c);
    get(addr, "/metrics", 200, "verity_jobs_total{state=\"verified\"} 4\n");

    /* A second server on the same port fails cleanly... */
    vt_http *h2 = NULL;
    vt_http_config cfg2 = {.addr = addr};
    int rv = vt_http_start(&h2, &cfg2, &ei);
    /* (NNG shares a server per URL inside one process, so this may also
     * succeed; either way the first keeps serving.) */
    if (rv == 0)
        vt_http_stop(h2);
    get(addr, "/healthz", 200, "ok");
    vt_http_stop(h);

    /* ...and after stop nothing listens. */
    int status;
    VT_CHECK_ERR(vt_ts_http_get(addr, "/healthz", 1000, &status, NULL), VT_ERR_UNAVAILABLE);

    /* Port 0 picks a port; vt_http_port reports it. */
    vt_http_config cfg0 = {.addr = "127.0.0.1:0"};
    VT_CHECK_OK(vt_http_start(&h, &cfg0, &ei));
    if (h) {
        VT_CHECK(vt_http_port(h) > 0, "bound port %d", vt_http_port(h));
        char a0[64];
        snprintf(a0, sizeof(a0), "127.0.0.1:%d", vt_http_port(h));
        get(a0, "/readyz", 200, "ready"); /* no callback: always ready */
        get(a0, "/metrics", 200, NULL);   /* no registry: empty */
        vt_http_stop(h);
    }

    /* "off" and bad addresses. */
    vt_http_config off = {.addr = "off"};
    h = (vt_http *)1;
    VT_CHECK_OK(vt_http_start(&h, &off, &ei));
    VT_CHECK(h == NULL, "off gives NULL");
    vt_http_stop(NULL);
    vt_http_config bad = {.addr = "nohost"};
    VT_CHECK_ERR(vt_http_start(&h, &bad, &ei), VT_ERR_INVAL);
    vt_metrics_free(m);
    return vt_test_done();
}
