/* Work queue metrics: counts, histograms, in-flight gauges and the Prometheus rendering. */

#include "kubelua/queue.h"

#include "unit/test_util.h"

#define MS 1000000ULL
#define SEC 1000000000ULL

typedef struct fixture {
    uv_loop_t loop;
    kl_queue_t *q;
    uint64_t now;
} fixture_t;

static uint64_t fake_clock(void *data)
{
    return ((fixture_t *)data)->now;
}

static kl_queue_t *open_queue(fixture_t *f, const char *name, const double *buckets, size_t n)
{
    kl_queue_opts_t o;
    kl_queue_opts_init(&o);
    o.name = name;
    o.clock = fake_clock;
    o.clock_data = f;
    o.buckets = buckets;
    o.nbuckets = n;
    kl_queue_t *q = NULL;
    assert_int_equal(kl_queue_new(&f->loop, &o, &q), 0);
    return q;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->now = 100 * SEC;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    kl_queue_free(f->q);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

static const char *get(kl_queue_t *q)
{
    const char *key = NULL;
    assert_int_equal(kl_queue_get(q, &key), 0);
    return key;
}

static void test_queue_stats_counts_and_histograms(void **state)
{
    fixture_t *f = *state;
    f->q = open_queue(f, "job", NULL, 0);
    kl_queue_t *q = f->q;
    uint64_t t0 = f->now;

    assert_int_equal(kl_queue_add(q, "ns/a"), 0); /* t0 */
    assert_int_equal(kl_queue_add(q, "ns/a"), 0); /* duplicate: not an add */
    f->now = t0 + 1 * MS;
    assert_int_equal(kl_queue_add(q, "ns/b"), 0);
    assert_int_equal(kl_queue_add_rate_limited(q, "ns/c", NULL), 0); /* parked 5 ms */
    assert_int_equal(kl_queue_add_after(q, "ns/d", 60), 0);

    kl_queue_stats_t st;
    kl_queue_stats(q, &st);
    assert_int_equal(st.depth, 2);
    assert_int_equal(st.ready, 2);
    assert_int_equal(st.delayed, 2);
    assert_int_equal(st.processing, 0);
    assert_int_equal(st.adds, 2);
    assert_int_equal(st.retries, 1);
    assert_true(st.unfinished == 0 && st.longest == 0);

    f->now = t0 + 2 * MS;
    const char *a = get(q); /* waited 2 ms */
    f->now = t0 + 4 * MS;
    const char *b = get(q); /* waited 3 ms */
    f->now = t0 + 10 * MS;
    kl_queue_stats(q, &st);
    assert_int_equal(st.processing, 2);
    assert_int_equal(st.depth, 0);
    assert_true(st.unfinished > 0.014 - 1e-12 && st.unfinished < 0.014 + 1e-12); /* 8 + 6 ms */
    assert_true(st.longest > 0.008 - 1e-12 && st.longest < 0.008 + 1e-12);
    assert_int_equal(st.latency->count, 2);
    assert_int_equal(kl_histogram_cumulative(st.latency, 5), 0); /* <= 1 ms */
    assert_int_equal(kl_histogram_cumulative(st.latency, 6), 2); /* <= 10 ms */
    assert_true(st.latency->sum > 0.005 - 1e-12 && st.latency->sum < 0.005 + 1e-12);

    assert_int_equal(kl_queue_done(q, a), 0); /* worked 8 ms */
    f->now = t0 + 30 * MS;
    assert_int_equal(kl_queue_done(q, b), 0); /* worked 26 ms */
    kl_queue_stats(q, &st);
    assert_int_equal(st.work->count, 2);
    assert_int_equal(kl_histogram_cumulative(st.work, 6), 1);
    assert_int_equal(kl_histogram_cumulative(st.work, 7), 2);
    assert_true(st.work->sum > 0.034 - 1e-12 && st.work->sum < 0.034 + 1e-12);
    assert_true(st.unfinished == 0 && st.longest == 0);

    /* The parked key counts as an add when it is moved into the queue. */
    const char *c = get(q);
    assert_string_equal(c, "ns/c");
    kl_queue_stats(q, &st);
    assert_int_equal(st.adds, 3);
    assert_int_equal(st.delayed, 1);
    assert_int_equal(kl_queue_done(q, c), 0);
}

static void test_queue_render_metrics(void **state)
{
    fixture_t *f = *state;
    double buckets[] = {0.01, 1};
    f->q = open_queue(f, "cronjob", buckets, 2);
    kl_queue_t *other = open_queue(f, "job", buckets, 2);
    uint64_t t0 = f->now;
    assert_int_equal(kl_queue_add(f->q, "ns/a"), 0);
    assert_int_equal(kl_queue_add(f->q, "ns/b"), 0);
    assert_int_equal(kl_queue_add_rate_limited(f->q, "ns/x", NULL), 0);
    f->now = t0 + 500 * MS;
    const char *a = get(f->q);
    f->now = t0 + 1500 * MS;
    assert_int_equal(kl_queue_done(f->q, a), 0);
    assert_int_equal(kl_queue_add(f->q, "ns/c"), 0);
    const char *key = get(f->q); /* b, waited 1.5 s */
    assert_string_equal(key, "ns/b");
    f->now = t0 + 3500 * MS; /* b in flight for 2 s */

    kl_buf_t out;
    kl_buf_init(&out, 0);
    const kl_queue_t *qs[] = {f->q, other};
    assert_int_equal(kl_queue_render_metrics(&out, qs, 2), 0);
    const char *want =
        "# HELP workqueue_depth Current depth of workqueue\n"
        "# TYPE workqueue_depth gauge\n"
        "workqueue_depth{name=\"cronjob\"} 2\n"
        "workqueue_depth{name=\"job\"} 0\n"
        "# HELP workqueue_adds_total Total number of adds handled by workqueue\n"
        "# TYPE workqueue_adds_total counter\n"
        "workqueue_adds_total{name=\"cronjob\"} 4\n"
        "workqueue_adds_total{name=\"job\"} 0\n"
        "# HELP workqueue_queue_duration_seconds How long in seconds an item stays in workqueue "
        "before being requested.\n"
        "# TYPE workqueue_queue_duration_seconds histogram\n"
        "workqueue_queue_duration_seconds_bucket{name=\"cronjob\",le=\"0.01\"} 0\n"
        "workqueue_queue_duration_seconds_bucket{name=\"cronjob\",le=\"1\"} 1\n"
        "workqueue_queue_duration_seconds_bucket{name=\"cronjob\",le=\"+Inf\"} 2\n"
        "workqueue_queue_duration_seconds_sum{name=\"cronjob\"} 2\n"
        "workqueue_queue_duration_seconds_count{name=\"cronjob\"} 2\n"
        "workqueue_queue_duration_seconds_bucket{name=\"job\",le=\"0.01\"} 0\n"
        "workqueue_queue_duration_seconds_bucket{name=\"job\",le=\"1\"} 0\n"
        "workqueue_queue_duration_seconds_bucket{name=\"job\",le=\"+Inf\"} 0\n"
        "workqueue_queue_duration_seconds_sum{name=\"job\"} 0\n"
        "workqueue_queue_duration_seconds_count{name=\"job\"} 0\n"
        "# HELP workqueue_work_duration_seconds How long in seconds processing an item from "
        "workqueue takes.\n"
        "# TYPE workqueue_work_duration_seconds histogram\n"
        "workqueue_work_duration_seconds_bucket{name=\"cronjob\",le=\"0.01\"} 0\n"
        "workqueue_work_duration_seconds_bucket{name=\"cronjob\",le=\"1\"} 1\n"
        "workqueue_work_duration_seconds_bucket{name=\"cronjob\",le=\"+Inf\"} 1\n"
        "workqueue_work_duration_seconds_sum{name=\"cronjob\"} 1\n"
        "workqueue_work_duration_seconds_count{name=\"cronjob\"} 1\n"
        "workqueue_work_duration_seconds_bucket{name=\"job\",le=\"0.01\"} 0\n"
        "workqueue_work_duration_seconds_bucket{name=\"job\",le=\"1\"} 0\n"
        "workqueue_work_duration_seconds_bucket{name=\"job\",le=\"+Inf\"} 0\n"
        "workqueue_work_duration_seconds_sum{name=\"job\"} 0\n"
        "workqueue_work_duration_seconds_count{name=\"job\"} 0\n"
        "# HELP workqueue_unfinished_work_seconds How many seconds of work has been done that is "
        "in progress and hasn't been observed by work_duration. Large values indicate stuck "
        "workers.\n"
        "# TYPE workqueue_unfinished_work_seconds gauge\n"
        "workqueue_unfinished_work_seconds{name=\"cronjob\"} 2\n"
        "workqueue_unfinished_work_seconds{name=\"job\"} 0\n"
        "# HELP workqueue_longest_running_processor_seconds How many seconds has the longest "
        "running processor for workqueue been running.\n"
        "# TYPE workqueue_longest_running_processor_seconds gauge\n"
        "workqueue_longest_running_processor_seconds{name=\"cronjob\"} 2\n"
        "workqueue_longest_running_processor_seconds{name=\"job\"} 0\n"
        "# HELP workqueue_retries_total Total number of retries handled by workqueue\n"
        "# TYPE workqueue_retries_total counter\n"
        "workqueue_retries_total{name=\"cronjob\"} 1\n"
        "workqueue_retries_total{name=\"job\"} 0\n";
    assert_string_equal(out.data, want);

    /* A ceiling too low leaves the buffer as it was. */
    kl_buf_t small;
    kl_buf_init(&small, 256);
    assert_int_equal(kl_queue_render_metrics(&small, qs, 2), KL_ETOOBIG);
    assert_int_equal(small.len, 0);
    kl_buf_cleanup(&small);
    kl_buf_cleanup(&out);
    kl_queue_free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_queue_stats_counts_and_histograms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_render_metrics, setup, teardown),
    };
    return cmocka_run_group_tests_name("queue_metrics", tests, NULL, NULL);
}
