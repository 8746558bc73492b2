/* test_metrics.c - registry, validation, Prometheus text rendering. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vt_metrics.h"
#include "vt_test.h"

static double queue_depth(void *arg)
{
    return *(double *)arg;
}

static void *hammer(void *arg)
{
    vt_counter *c = arg;
    for (int i = 0; i < 100000; i++)
        vt_counter_inc(c);
    return NULL;
}

static void test_render(void)
{
    vt_metrics *m;
    VT_REQUIRE_OK(vt_metrics_new(&m));
    vt_errinfo ei = {0, ""};
    vt_counter *ok, *failed, *again, *plain;
    vt_gauge *g;
    vt_histogram *h;
    VT_CHECK_OK(vt_metrics_counter(m, "verity_jobs_total", "Jobs by final state.", "state=\"verified\"", &ok, &ei));
    VT_CHECK_OK(vt_metrics_gauge(m, "verity_workers", "Live workers.", NULL, &g, &ei));
    VT_CHECK_OK(vt_metrics_counter(m, "verity_jobs_total", "ignored", "state=\"failed\"", &failed, &ei));
    VT_CHECK_OK(vt_metrics_counter(m, "verity_jobs_total", "ignored", "state=\"verified\"", &again, &ei));
    VT_CHECK(again == ok, "same name+labels returns the same counter");
    VT_CHECK_OK(vt_metrics_counter(m, "verity_up_total", "Help with \\ and\nnewline.", "", &plain, &ei));
    double bounds[] = {0.005, 0.1, 1, 2.5};
    VT_CHECK_OK(vt_metrics_histogram(m, "verity_job_seconds", "Job latency.", "model=\"m1\"", bounds, 4, &h, &ei));
    double depth = 17;
    VT_CHECK_OK(vt_metrics_gauge_fn(m, "verity_queue_depth", "Queued jobs.", NULL, queue_depth, &depth, &ei));

    vt_counter_add(ok, 41);
    vt_counter_inc(ok);
    vt_counter_inc(failed);
    vt_gauge_set(g, 3);
    vt_gauge_add(g, -0.5);
    vt_histogram_observe(h, 0.001);
    vt_histogram_observe(h, 0.05);
    vt_histogram_observe(h, 0.1); /* le is inclusive */
    vt_histogram_observe(h, 7);
    VT_CHECK_EQ_U64(vt_histogram_count(h), 4);
    VT_CHECK(vt_gauge_get(g) == 2.5, "gauge %g", vt_gauge_get(g));

    vt_strbuf out = VT_STRBUF_INIT;
    VT_CHECK_OK(vt_metrics_render(m, &out));
    const char *want =
        "# HELP verity_jobs_total Jobs by final state.\n"
        "# TYPE verity_jobs_total counter\n"
        "verity_jobs_total{state=\"verified\"} 42\n"
        "verity_jobs_total{state=\"failed\"} 1\n"
        "# HELP verity_workers Live workers.\n"
        "# TYPE verity_workers gauge\n"
        "verity_workers 2.5\n"
        "# HELP verity_up_total Help with \\\\ and\\nnewline.\n"
        "# TYPE verity_up_total counter\n"
        "verity_up_total 0\n"
        "# HELP verity_job_seconds Job latency.\n"
        "# TYPE verity_job_seconds histogram\n"
        "verity_job_seconds_bucket{model=\"m1\",le=\"0.005\"} 1\n"
        "verity_job_seconds_bucket{model=\"m1\",le=\"0.1\"} 3\n"
        "verity_job_seconds_bucket{model=\"m1\",le=\"1\"} 3\n"
        "verity_job_seconds_bucket{model=\"m1\",le=\"2.5\"} 3\n"
        "verity_job_seconds_bucket{model=\"m1\",le=\"+Inf\"} 4\n"
        "verity_job_seconds_sum{model=\"m1\"} 7.151\n"
        "verity_job_seconds_count{model=\"m1\"} 4\n"
        "# HELP verity_queue_depth Queued jobs.\n"
        "# TYPE verity_queue_depth gauge\n"
        "verity_queue_depth 17\n";
    VT_CHECK(strcmp(vt_strbuf_cstr(&out), want) == 0, "render:\n%s", vt_strbuf_cstr(&out));

    /* Gauge functions are evaluated at render time. */
    depth = NAN;
    vt_gauge_set(g, INFINITY);
    vt_strbuf_reset(&out);
    VT_CHECK_OK(vt_metrics_render(m, &out));
    VT_CHECK(strstr(vt_strbuf_cstr(&out), "\nverity_queue_depth NaN\n") != NULL, "NaN");
    VT_CHECK(strstr(vt_strbuf_cstr(&out), "\nverity_workers +Inf\n") != NULL, "+Inf");
    vt_strbuf_free(&out);

    /* Increments from several threads are not lost. */
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, failed);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    VT_CHECK_EQ_U64(vt_counter_get(failed), 400001);
    vt_metrics_free(m);
}

static void test_validation(void)
{
    vt_metrics *m;
    VT_REQUIRE_OK(vt_metrics_new(&m));
    vt_errinfo ei = {0, ""};
    vt_counter *c;
    vt_gauge *g;
    vt_histogram *h;
    VT_CHECK_ERR(vt_metrics_counter(m, "1bad", "", NULL, &c, &ei), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_metrics_counter(m, "bad-name", "", NULL, &c, &ei), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_metrics_counter(m, "", "", NULL, &c, &ei), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_metrics_counter(m, "ok", "", "state=verified", &c, &ei), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_metrics_counter(m, "ok", "", "state=\"a\",", &c, &ei), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_metrics_counter(m, "ok", "", "__x=\"a\"", &c, &ei), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_metrics_counter(m, "ok", "", "le=\"1\"", &c, &ei), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_metrics_counter(m, "ok", "", "a=\"x\\q\"", &c, &ei), VT_ERR_INVAL);
    VT_CHECK_OK(vt_metrics_counter(m, "ok", "", "a=\"x\\\"y\",b_2=\"\"", &c, &ei));
    VT_CHECK_OK(vt_metrics_counter(m, "ns:sub_total", "", NULL, &c, &ei));
    VT_CHECK_ERR(vt_metrics_gauge(m, "ok", "", NULL, &g, &ei), VT_ERR_INVAL); /* type clash */
    VT_CHECK(strstr(ei.detail, "another type") != NULL, "%s", ei.detail);
    double up[] = {1, 0.5};
    VT_CHECK_ERR(vt_metrics_histogram(m, "h", "", NULL, up, 2, &h, &ei), VT_ERR_INVAL);
    double inf[] = {1, INFINITY};
    VT_CHECK_ERR(vt_metrics_histogram(m, "h", "", NULL, inf, 2, &h, &ei), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_metrics_histogram(m, "h", "", NULL, up, 0, &h, &ei), VT_ERR_INVAL);
    double b1[] = {1, 2}, b2[] = {1, 3};
    VT_CHECK_OK(vt_metrics_histogram(m, "h", "", NULL, b1, 2, &h, &ei));
    VT_CHECK_ERR(vt_metrics_histogram(m, "h", "", NULL, b2, 2, &h, &ei), VT_ERR_INVAL);
    VT_CHECK_OK(vt_metrics_check_labels(NULL));
    vt_metrics_free(m);
}

static void test_helpers(void)
{
    vt_strbuf out = VT_STRBUF_INIT;
    vt_metrics_write_header(&out, "verity_x", "An x.", "gauge");
    vt_metrics_write_sample(&out, "verity_x", "k=\"v\"", 0.1);
    vt_metrics_write_sample(&out, "verity_x", NULL, 1e21);
    VT_CHECK_EQ_STR(vt_strbuf_cstr(&out),
                    "# HELP verity_x An x.\n# TYPE verity_x gauge\nverity_x{k=\"v\"} 0.1\nverity_x 1e+21\n");
    vt_strbuf_free(&out);
}

int main(void)
{
    test_render();
    test_validation();
    test_helpers();
    return vt_test_done();
}
