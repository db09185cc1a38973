/* Work queue: delayed adds, the timer, per-key backoff and the token bucket. */
#include <math.h>

#include "kubelua/queue.h"

#include "unit/test_util.h"

#define MS 1000000ULL
#define SEC 1000000000ULL
#define NKEYS 10000

typedef struct fixture {
    uv_loop_t loop;
    kl_queue_t *q;
    bool real;    /* clock follows uv_hrtime() */
    uint64_t now; /* otherwise this */
    int *order;   /* key indexes in the order the ready callback got them */
    int ngot;
    char last[32];
} fixture_t;

static uint64_t test_clock(void *data)
{
    fixture_t *f = data;
    return f->real ? uv_hrtime() : f->now;
}

static int key_index(const char *key)
{
    return atoi(key + 4); /* "ns/k%05d" */
}

static void take_all(kl_queue_t *q, void *data)
{
    fixture_t *f = data;
    const char *key;
    while (kl_queue_get(q, &key) == 0) {
        if (f->order)
            f->order[f->ngot] = key_index(key);
        snprintf(f->last, sizeof(f->last), "%s", key);
        f->ngot++;
        assert_int_equal(kl_queue_done(q, key), 0);
    }
}

static void open_queue(fixture_t *f, const kl_queue_opts_t *base)
{
    kl_queue_opts_t o;
    if (base)
        o = *base;
    else
        kl_queue_opts_init(&o);
    o.clock = test_clock;
    o.clock_data = f;
    o.ready_cb = take_all;
    o.cb_data = f;
    assert_int_equal(kl_queue_new(&f->loop, &o, &f->q), 0);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->now = 5 * SEC;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    kl_queue_free(f->q);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f->order);
    free(f);
    return 0;
}

static void expect_key(fixture_t *f, const char *want)
{
    const char *key = NULL;
    assert_int_equal(kl_queue_get(f->q, &key), 0);
    assert_string_equal(key, want);
    assert_int_equal(kl_queue_done(f->q, key), 0);
}

static void expect_none(fixture_t *f)
{
    const char *key = NULL;
    assert_int_equal(kl_queue_get(f->q, &key), KL_EAGAIN);
}

static void test_queue_add_after_ordering(void **state)
{
    fixture_t *f = *state;
    open_queue(f, NULL);
    uint64_t t0 = f->now;
    assert_int_equal(kl_queue_add_after(f->q, "ns/c", 3), 0);
    assert_int_equal(kl_queue_add_after(f->q, "ns/a", 1), 0);
    assert_int_equal(kl_queue_add_after(f->q, "ns/b", 2), 0);
    assert_int_equal(kl_queue_add_after(f->q, "ns/d", 0), 0);
    assert_int_equal(kl_queue_add_after(f->q, "ns/e", -1), 0);
    assert_int_equal(kl_queue_add_after(f->q, "ns/f", NAN), 0); /* NaN: now */
    assert_int_equal(kl_queue_add_after(f->q, NULL, 1), KL_EINVAL);
    kl_queue_stats_t st;
    kl_queue_stats(f->q, &st);
    assert_int_equal(st.delayed, 3);
    assert_int_equal(kl_queue_len(f->q), 3);
    expect_key(f, "ns/d");
    expect_key(f, "ns/e");
    expect_key(f, "ns/f");
    expect_none(f);
    f->now = t0 + SEC - 1;
    expect_none(f);
    f->now = t0 + SEC;
    expect_key(f, "ns/a");
    expect_none(f);
    f->now = t0 + 10 * SEC; /* b and c both due: in time order */
    expect_key(f, "ns/b");
    expect_key(f, "ns/c");
    expect_none(f);
    kl_queue_stats(f->q, &st);
    assert_int_equal(st.delayed, 0);
}

static void test_queue_add_after_earliest_time_wins(void **state)
{
    fixture_t *f = *state;
    open_queue(f, NULL);
    uint64_t t0 = f->now;
    assert_int_equal(kl_queue_add_after(f->q, "ns/late-first", 10), 0);
    assert_int_equal(kl_queue_add_after(f->q, "ns/late-first", 1), 0);
    assert_int_equal(kl_queue_add_after(f->q, "ns/early-first", 1), 0);
    assert_int_equal(kl_queue_add_after(f->q, "ns/early-first", 10), 0);
    kl_queue_stats_t st;
    kl_queue_stats(f->q, &st);
    assert_int_equal(st.delayed, 2);
    f->now = t0 + SEC;
    expect_key(f, "ns/late-first");
    expect_key(f, "ns/early-first");
    f->now = t0 + 20 * SEC; /* each fired once */
    expect_none(f);
    kl_queue_stats(f->q, &st);
    assert_int_equal(st.delayed, 0);
    assert_int_equal(st.adds, 2);
}

static void test_queue_add_after_meets_queued_and_processing_keys(void **state)
{
    fixture_t *f = *state;
    open_queue(f, NULL);
    uint64_t t0 = f->now;

    /* Parked while queued: fires into the dedup. */
    assert_int_equal(kl_queue_add(f->q, "ns/a"), 0);
    assert_int_equal(kl_queue_add_after(f->q, "ns/a", 1), 0);
    f->now = t0 + SEC;
    const char *key;
    assert_int_equal(kl_queue_get(f->q, &key), 0);
    assert_int_equal(kl_queue_len(f->q), 0);
    assert_int_equal(kl_queue_done(f->q, key), 0);
    expect_none(f);

    /* Parked while processing: fires into the dirty mark, processed again after done. */
    assert_int_equal(kl_queue_add(f->q, "ns/b"), 0);
    assert_int_equal(kl_queue_get(f->q, &key), 0);
    assert_int_equal(kl_queue_add_after(f->q, "ns/b", 1), 0);
    f->now = t0 + 2 * SEC;
    expect_none(f);
    assert_int_equal(kl_queue_done(f->q, key), 0);
    expect_key(f, "ns/b");
    expect_none(f);
}

static void test_queue_add_after_real_timer(void **state)
{
    fixture_t *f = *state;
    f->real = true;
    open_queue(f, NULL);
    uint64_t t0 = uv_hrtime();
    assert_int_equal(kl_queue_add_after(f->q, "ns/k00002", 0.02), 0);
    assert_int_equal(kl_queue_add_after(f->q, "ns/k00003", 0.03), 0);
    assert_int_equal(kl_queue_add_after(f->q, "ns/k00001", 0.01), 0); /* re-arms earlier */
    f->order = calloc(3, sizeof(int));
    assert_non_null(f->order);
    /* The timer keeps the loop alive until the last key fired; then the loop runs dry. */
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    uint64_t elapsed = uv_hrtime() - t0;
    assert_int_equal(f->ngot, 3);
    assert_int_equal(f->order[0], 1);
    assert_int_equal(f->order[1], 2);
    assert_int_equal(f->order[2], 3);
    assert_true(elapsed >= 30 * MS);
    assert_true(elapsed < 1000 * MS);
}

/* 10,000 keys parked with distinct delays (1 ms + 4 us * i, added in shuffled order) while the
 * clock is frozen, so their ready times are exact; then the clock runs for real and the timer
 * fires them. They must come out sorted by delay, i.e. by index. Takes about 45 ms. */
static void test_queue_10000_delayed_keys_fire_in_order(void **state)
{
    fixture_t *f = *state;
    f->now = uv_hrtime();
    open_queue(f, NULL);
    int *perm = malloc(NKEYS * sizeof(int));
    f->order = calloc(NKEYS, sizeof(int));
    assert_non_null(perm);
    assert_non_null(f->order);
    for (int i = 0; i < NKEYS; i++)
        perm[i] = i;
    uint32_t seed = 12345;
    for (int i = NKEYS - 1; i > 0; i--) {
        seed = seed * 1103515245u + 12345u;
        int j = (int)((seed >> 8) % (uint32_t)(i + 1));
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    char key[32];
    for (int i = 0; i < NKEYS; i++) {
        snprintf(key, sizeof(key), "ns/k%05d", perm[i]);
        assert_int_equal(kl_queue_add_after(f->q, key, 0.001 + perm[i] * 4e-6), 0);
    }
    kl_queue_stats_t st;
    kl_queue_stats(f->q, &st);
    assert_int_equal(st.delayed, NKEYS);
    f->real = true;
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->ngot, NKEYS);
    for (int i = 0; i < NKEYS; i++)
        assert_int_equal(f->order[i], i);
    kl_queue_stats(f->q, &st);
    assert_int_equal(st.delayed, 0);
    assert_int_equal(st.adds, NKEYS);
    free(perm);
}

static void test_queue_rate_limited_backoff(void **state)
{
    fixture_t *f = *state;
    open_queue(f, NULL); /* 5 ms .. 1000 s, bucket 10 qps burst 100 */
    uint64_t t0 = f->now;
    double d;
    for (int i = 0; i < 25; i++) {
        assert_int_equal(kl_queue_add_rate_limited(f->q, "ns/k", &d), 0);
        uint64_t want = i < 18 ? (5 * MS) << i : 1000 * SEC; /* 5 ms * 2^17 = 655 s */
        assert_true(d == (double)want / 1e9);
        assert_int_equal(kl_queue_num_requeues(f->q, "ns/k"), i + 1);
    }
    /* Parked once, at the earliest time: 5 ms. */
    kl_queue_stats_t st;
    kl_queue_stats(f->q, &st);
    assert_int_equal(st.delayed, 1);
    assert_int_equal(st.retries, 25);
    f->now = t0 + 5 * MS - 1;
    expect_none(f);
    f->now = t0 + 5 * MS;
    expect_key(f, "ns/k");
    /* Failures survive done and time; forget resets them. */
    f->now += 3600 * SEC;
    assert_int_equal(kl_queue_num_requeues(f->q, "ns/k"), 25);
    kl_queue_forget(f->q, "ns/k");
    kl_queue_forget(f->q, "ns/unknown");
    kl_queue_forget(f->q, NULL);
    assert_int_equal(kl_queue_num_requeues(f->q, "ns/k"), 0);
    assert_int_equal(kl_queue_num_requeues(f->q, "ns/unknown"), 0);
    assert_int_equal(kl_queue_add_rate_limited(f->q, "ns/k", &d), 0);
    assert_true(d == 0.005);
    assert_int_equal(kl_queue_add_rate_limited(f->q, "ns/k", &d), 0);
    assert_true(d == 0.010);
    assert_int_equal(kl_queue_add_rate_limited(f->q, "ns/other", &d), 0);
    assert_true(d == 0.005); /* per key */
    assert_int_equal(kl_queue_num_requeues(f->q, "ns/k"), 2);
}

static void test_queue_rate_limited_job_style(void **state)
{
    fixture_t *f = *state;
    kl_queue_opts_t o;
    kl_queue_opts_init(&o);
    o.base_delay = 1;
    o.max_delay = 60;
    o.qps = 0;
    open_queue(f, &o);
    static const double want[] = {1, 2, 4, 8, 16, 32, 60, 60};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        double d;
        assert_int_equal(kl_queue_add_rate_limited(f->q, "ns/job", &d), 0);
        assert_true(d == want[i]);
    }
    /* No bucket: many distinct keys never wait more than their own backoff. */
    char key[32];
    for (int i = 0; i < 500; i++) {
        double d;
        snprintf(key, sizeof(key), "ns/k%05d", i);
        assert_int_equal(kl_queue_add_rate_limited(f->q, key, &d), 0);
        assert_true(d == 1);
    }
}

static void test_queue_token_bucket(void **state)
{
    fixture_t *f = *state;
    kl_queue_opts_t o;
    kl_queue_opts_init(&o);
    o.base_delay = 0.001;
    o.qps = 10;
    o.burst = 3;
    open_queue(f, &o);
    char key[32];
    double d;
    /* Burst of 3 at the per-key delay, then one token every 100 ms. */
    static const double want[] = {0.001, 0.001, 0.001, 0.1, 0.2, 0.3};
    int k = 0;
    for (size_t i = 0; i < 6; i++) {
        snprintf(key, sizeof(key), "ns/k%05d", k++);
        assert_int_equal(kl_queue_add_rate_limited(f->q, key, &d), 0);
        assert_true(d > want[i] - 1e-9 && d < want[i] + 1e-9);
    }
    /* After a second the bucket is full again (capped at burst). */
    f->now += SEC;
    for (size_t i = 0; i < 4; i++) {
        snprintf(key, sizeof(key), "ns/k%05d", k++);
        assert_int_equal(kl_queue_add_rate_limited(f->q, key, &d), 0);
        assert_true(d > want[i] - 1e-9 && d < want[i] + 1e-9);
    }
    /* Half a token refilled after 50 ms: the debt is 1.5 tokens. */
    f->now += 50 * MS;
    snprintf(key, sizeof(key), "ns/k%05d", k++);
    assert_int_equal(kl_queue_add_rate_limited(f->q, key, &d), 0);
    assert_true(d > 0.15 - 1e-9 && d < 0.15 + 1e-9);
    /* The bucket applies to rate-limited adds only. */
    assert_int_equal(kl_queue_add(f->q, "ns/plain"), 0);
    assert_int_equal(kl_queue_len(f->q), 1);
    /* Twelve more at once: 9 tokens in debt. */
    f->now += 10 * SEC;
    for (int i = 0; i < 12; i++) {
        snprintf(key, sizeof(key), "ns/k%05d", k++);
        assert_int_equal(kl_queue_add_rate_limited(f->q, key, &d), 0);
    }
    assert_true(d > 0.9 - 1e-9 && d < 0.9 + 1e-9);
    /* The larger of backoff and bucket wins: ns/k00000 has 1 failure, 9 more calls take the
     * bucket to -6 (0.6 s) with a backoff of 2^9 ms; the 10th gives 2^10 ms against 0.7 s. */
    f->now += 10 * SEC;
    for (int i = 0; i < 9; i++)
        assert_int_equal(kl_queue_add_rate_limited(f->q, "ns/k00000", &d), 0);
    assert_true(d > 0.6 - 1e-9 && d < 0.6 + 1e-9);
    assert_int_equal(kl_queue_add_rate_limited(f->q, "ns/k00000", &d), 0);
    assert_true(d == 1.024);
    kl_queue_stats_t st;
    kl_queue_stats(f->q, &st);
    assert_int_equal(st.retries, 6 + 4 + 1 + 12 + 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_queue_add_after_ordering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_add_after_earliest_time_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_add_after_meets_queued_and_processing_keys,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_add_after_real_timer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_10000_delayed_keys_fire_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queue_rate_limited_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_rate_limited_job_style, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_token_bucket, setup, teardown),
    };
    return cmocka_run_group_tests_name("queue_delay", tests, NULL, NULL);
}
