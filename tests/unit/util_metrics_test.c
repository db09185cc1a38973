/* Counters, gauges, histograms and their Prometheus text rendering. */
#include <math.h>

#include "kubelua/buf.h"
#include "kubelua/metrics.h"

#include "unit/test_util.h"

static void test_metrics_counter_and_gauge(void **state)
{
    kl_counter_t c = {0};
    kl_counter_inc(&c);
    kl_counter_add(&c, 2.5);
    kl_counter_add(&c, -7);  /* ignored */
    kl_counter_add(&c, NAN); /* ignored */
    assert_true(c.value == 3.5);
    kl_gauge_t g = {0};
    kl_gauge_set(&g, 4);
    kl_gauge_add(&g, -6);
    assert_true(g.value == -2);
}

static void test_metrics_histogram_init_validates(void **state)
{
    kl_histogram_t h;
    double unsorted[] = {1, 1};
    assert_int_equal(kl_histogram_init(&h, unsorted, 2), KL_EINVAL);
    assert_null(h.counts);
    kl_histogram_cleanup(&h);
    double inf[] = {1, INFINITY};
    assert_int_equal(kl_histogram_init(&h, inf, 2), KL_EINVAL);
    double nan[] = {NAN};
    assert_int_equal(kl_histogram_init(&h, nan, 1), KL_EINVAL);
    assert_int_equal(kl_histogram_init_exponential(&h, 0, 10, 3), KL_EINVAL);
    assert_int_equal(kl_histogram_init_exponential(&h, 1, 1, 3), KL_EINVAL);
    assert_int_equal(kl_histogram_init_exponential(&h, 1, 2, 0), KL_EINVAL);
    /* No bounds at all: only +Inf. */
    assert_int_equal(kl_histogram_init(&h, NULL, 0), 0);
    kl_histogram_observe(&h, 123);
    assert_int_equal(kl_histogram_cumulative(&h, 0), 1);
    kl_histogram_cleanup(&h);
    kl_histogram_cleanup(&h);
    kl_histogram_cleanup(NULL);
}

static void test_metrics_histogram_exponential_buckets(void **state)
{
    kl_histogram_t h;
    assert_int_equal(kl_histogram_init_exponential(&h, KL_METRICS_QUEUE_BUCKETS_START,
                                                   KL_METRICS_QUEUE_BUCKETS_FACTOR,
                                                   KL_METRICS_QUEUE_BUCKETS_COUNT),
                     0);
    static const double want[] = {1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10};
    assert_int_equal(h.nbounds, 10);
    for (size_t i = 0; i < 10; i++)
        assert_true(h.bounds[i] == want[i]);
    kl_histogram_cleanup(&h);
}

static void test_metrics_histogram_observe(void **state)
{
    kl_histogram_t h;
    double bounds[] = {0.1, 1, 10};
    assert_int_equal(kl_histogram_init(&h, bounds, 3), 0);
    kl_histogram_observe(&h, 0.05);
    kl_histogram_observe(&h, 0.1); /* le is inclusive */
    kl_histogram_observe(&h, 0.5);
    kl_histogram_observe(&h, 10);
    kl_histogram_observe(&h, 11);
    kl_histogram_observe(&h, -1);
    assert_int_equal(h.counts[0], 3);
    assert_int_equal(h.counts[1], 1);
    assert_int_equal(h.counts[2], 1);
    assert_int_equal(h.counts[3], 1);
    assert_int_equal(kl_histogram_cumulative(&h, 0), 3);
    assert_int_equal(kl_histogram_cumulative(&h, 1), 4);
    assert_int_equal(kl_histogram_cumulative(&h, 2), 5);
    assert_int_equal(kl_histogram_cumulative(&h, 3), 6);
    assert_int_equal(kl_histogram_cumulative(&h, 99), 6);
    assert_int_equal(h.count, 6);
    assert_true(fabs(h.sum - 20.65) < 1e-12);
    kl_histogram_observe(&h, NAN);
    assert_int_equal(h.counts[3], 2);
    assert_true(isnan(h.sum));
    kl_histogram_cleanup(&h);
}

static void test_metrics_format_value(void **state)
{
    char out[32];
    static const struct {
        double v;
        const char *s;
    } cases[] = {
        {1e-8, "1e-08"},
        {0.25, "0.25"},
        {42, "42"},
        {0.1, "0.1"},
        {1e21, "1e+21"},
        {-3.5, "-3.5"},
        {0, "0"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
        {1.0 / 3, "0.3333333333333333"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kl_metrics_format_value(cases[i].v, out);
        assert_string_equal(out, cases[i].s);
    }
    kl_metrics_format_value(NAN, out);
    assert_string_equal(out, "NaN");
}

static void test_metrics_render_histogram_text(void **state)
{
    kl_histogram_t h;
    double bounds[] = {0.001, 0.01, 1};
    assert_int_equal(kl_histogram_init(&h, bounds, 3), 0);
    kl_histogram_observe(&h, 0.0005);
    kl_histogram_observe(&h, 0.002);
    kl_histogram_observe(&h, 0.25);
    kl_histogram_observe(&h, 4);
    kl_buf_t b;
    kl_buf_init(&b, 0);
    kl_label_t labels[] = {{"name", "job"}, {"path", "a\\b \"c\"\nd"}};
    assert_int_equal(kl_metrics_render_histogram(&b, "req_seconds",
                                                 "Request time.\nIn seconds \\o/", labels, 2, &h),
                     0);
    const char *want =
        "# HELP req_seconds Request time.\\nIn seconds \\\\o/\n"
        "# TYPE req_seconds histogram\n"
        "req_seconds_bucket{name=\"job\",path=\"a\\\\b \\\"c\\\"\\nd\",le=\"0.001\"} 1\n"
        "req_seconds_bucket{name=\"job\",path=\"a\\\\b \\\"c\\\"\\nd\",le=\"0.01\"} 2\n"
        "req_seconds_bucket{name=\"job\",path=\"a\\\\b \\\"c\\\"\\nd\",le=\"1\"} 3\n"
        "req_seconds_bucket{name=\"job\",path=\"a\\\\b \\\"c\\\"\\nd\",le=\"+Inf\"} 4\n"
        "req_seconds_sum{name=\"job\",path=\"a\\\\b \\\"c\\\"\\nd\"} 4.2525\n"
        "req_seconds_count{name=\"job\",path=\"a\\\\b \\\"c\\\"\\nd\"} 4\n";
    assert_string_equal(b.data, want);

    /* Without labels, le is the only one; a second series of the same family has no header. */
    kl_buf_reset(&b);
    assert_int_equal(kl_metrics_write_header(&b, "rt", NULL, KL_METRIC_HISTOGRAM), 0);
    assert_int_equal(kl_metrics_write_histogram(&b, "rt", NULL, 0, &h), 0);
    assert_string_equal(b.data, "# TYPE rt histogram\n"
                                "rt_bucket{le=\"0.001\"} 1\n"
                                "rt_bucket{le=\"0.01\"} 2\n"
                                "rt_bucket{le=\"1\"} 3\n"
                                "rt_bucket{le=\"+Inf\"} 4\n"
                                "rt_sum 4.2525\n"
                                "rt_count 4\n");
    kl_buf_cleanup(&b);
    kl_histogram_cleanup(&h);
}

static void test_metrics_render_queue_default_buckets(void **state)
{
    kl_histogram_t h;
    assert_int_equal(kl_histogram_init_exponential(&h, 1e-8, 10, 10), 0);
    kl_histogram_observe(&h, 0.003);
    kl_buf_t b;
    kl_buf_init(&b, 0);
    kl_label_t l = {"name", "q"};
    assert_int_equal(kl_metrics_write_histogram(&b, "x", &l, 1, &h), 0);
    const char *want = "x_bucket{name=\"q\",le=\"1e-08\"} 0\n"
                       "x_bucket{name=\"q\",le=\"1e-07\"} 0\n"
                       "x_bucket{name=\"q\",le=\"1e-06\"} 0\n"
                       "x_bucket{name=\"q\",le=\"1e-05\"} 0\n"
                       "x_bucket{name=\"q\",le=\"0.0001\"} 0\n"
                       "x_bucket{name=\"q\",le=\"0.001\"} 0\n"
                       "x_bucket{name=\"q\",le=\"0.01\"} 1\n"
                       "x_bucket{name=\"q\",le=\"0.1\"} 1\n"
                       "x_bucket{name=\"q\",le=\"1\"} 1\n"
                       "x_bucket{name=\"q\",le=\"10\"} 1\n"
                       "x_bucket{name=\"q\",le=\"+Inf\"} 1\n"
                       "x_sum{name=\"q\"} 0.003\n"
                       "x_count{name=\"q\"} 1\n";
    assert_string_equal(b.data, want);
    kl_buf_cleanup(&b);
    kl_histogram_cleanup(&h);
}

static void test_metrics_render_counter_and_gauge(void **state)
{
    kl_buf_t b;
    kl_buf_init(&b, 0);
    kl_label_t l = {"code", "200"};
    assert_int_equal(kl_metrics_render_counter(&b, "http_requests_total", "Requests.", &l, 1, 7),
                     0);
    assert_int_equal(kl_metrics_render_gauge(&b, "ns:temp", "Temp.", NULL, 0, -0.5), 0);
    assert_int_equal(kl_metrics_write_sample(&b, "ns:temp", NULL, 0, INFINITY), 0);
    assert_string_equal(b.data, "# HELP http_requests_total Requests.\n"
                                "# TYPE http_requests_total counter\n"
                                "http_requests_total{code=\"200\"} 7\n"
                                "# HELP ns:temp Temp.\n"
                                "# TYPE ns:temp gauge\n"
                                "ns:temp -0.5\n"
                                "ns:temp +Inf\n");
    kl_buf_cleanup(&b);
}

static void test_metrics_render_rejects_bad_names(void **state)
{
    kl_buf_t b;
    kl_buf_init(&b, 0);
    assert_int_equal(kl_buf_puts(&b, "keep\n"), 0);
    kl_histogram_t h;
    assert_int_equal(kl_histogram_init(&h, NULL, 0), 0);
    kl_label_t le = {"le", "1"}, reserved = {"__x", "1"}, dash = {"a-b", "1"}, null = {"a", NULL};
    assert_int_equal(kl_metrics_render_counter(&b, "9abc", NULL, NULL, 0, 1), KL_EINVAL);
    assert_int_equal(kl_metrics_render_counter(&b, "", NULL, NULL, 0, 1), KL_EINVAL);
    assert_int_equal(kl_metrics_render_counter(&b, "a b", NULL, NULL, 0, 1), KL_EINVAL);
    assert_int_equal(kl_metrics_render_counter(&b, "ok", NULL, &reserved, 1, 1), KL_EINVAL);
    assert_int_equal(kl_metrics_render_counter(&b, "ok", NULL, &dash, 1, 1), KL_EINVAL);
    assert_int_equal(kl_metrics_render_counter(&b, "ok", NULL, &null, 1, 1), KL_EINVAL);
    assert_int_equal(kl_metrics_render_histogram(&b, "ok", NULL, &le, 1, &h), KL_EINVAL);
    assert_int_equal(kl_metrics_write_histogram(&b, "ok", &le, 1, &h), KL_EINVAL);
    assert_int_equal(kl_metrics_write_sample(&b, "ok", &le, 1, 1), 0); /* le is fine elsewhere */
    assert_string_equal(b.data, "keep\nok{le=\"1\"} 1\n");
    kl_histogram_cleanup(&h);
    kl_buf_cleanup(&b);
}

static void test_metrics_render_failure_leaves_buffer(void **state)
{
    kl_histogram_t h;
    assert_int_equal(kl_histogram_init_exponential(&h, 1e-8, 10, 10), 0);
    kl_buf_t b;
    kl_buf_init(&b, 100);
    assert_int_equal(kl_buf_puts(&b, "before\n"), 0);
    assert_int_equal(kl_metrics_render_histogram(&b, "x", "help", NULL, 0, &h), KL_ETOOBIG);
    assert_string_equal(b.data, "before\n");
    assert_int_equal(b.len, 7);
    kl_buf_cleanup(&b);
    kl_histogram_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_counter_and_gauge),
        cmocka_unit_test(test_metrics_histogram_init_validates),
        cmocka_unit_test(test_metrics_histogram_exponential_buckets),
        cmocka_unit_test(test_metrics_histogram_observe),
        cmocka_unit_test(test_metrics_format_value),
        cmocka_unit_test(test_metrics_render_histogram_text),
        cmocka_unit_test(test_metrics_render_queue_default_buckets),
        cmocka_unit_test(test_metrics_render_counter_and_gauge),
        cmocka_unit_test(test_metrics_render_rejects_bad_names),
        cmocka_unit_test(test_metrics_render_failure_leaves_buffer),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
