/* Work queue: dedup, FIFO, processing/dirty rules, ready callback, shutdown, free. */

#include "kubelua/queue.h"

#include "unit/test_util.h"

typedef struct fixture {
    uv_loop_t loop;
    kl_queue_t *q;
    uint64_t now; /* fake clock, ns */
    int ready_calls;
    int drained_calls;
    bool in_add; /* set around adds to prove callbacks never run inside them */
    char got[64][32];
    int ngot;
    bool drain_in_cb; /* ready_cb takes every key and finishes it */
    bool free_in_cb;
} fixture_t;

static uint64_t fake_clock(void *data)
{
    return ((fixture_t *)data)->now;
}

static void on_ready(kl_queue_t *q, void *data)
{
    fixture_t *f = data;
    assert_false(f->in_add);
    f->ready_calls++;
    if (f->free_in_cb) {
        kl_queue_free(q);
        f->q = NULL;
        return;
    }
    const char *key;
    while (f->drain_in_cb && kl_queue_get(q, &key) == 0) {
        snprintf(f->got[f->ngot++], sizeof(f->got[0]), "%s", key);
        assert_int_equal(kl_queue_done(q, key), 0);
    }
}

static void on_drained(kl_queue_t *q, void *data)
{
    fixture_t *f = data;
    assert_true(kl_queue_drained(q));
    f->drained_calls++;
    if (f->free_in_cb) {
        kl_queue_free(q);
        f->q = NULL;
    }
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    kl_queue_opts_t o;
    kl_queue_opts_init(&o);
    o.name = "test";
    o.clock = fake_clock;
    o.clock_data = f;
    o.ready_cb = on_ready;
    o.drained_cb = on_drained;
    o.cb_data = f;
    f->now = 1000000000;
    assert_int_equal(kl_queue_new(&f->loop, &o, &f->q), 0);
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

static void add(fixture_t *f, const char *key)
{
    f->in_add = true;
    assert_int_equal(kl_queue_add(f->q, key), 0);
    f->in_add = false;
}

static const char *get(fixture_t *f)
{
    const char *key = NULL;
    assert_int_equal(kl_queue_get(f->q, &key), 0);
    assert_non_null(key);
    return key;
}

static void expect_get_rc(fixture_t *f, int rc)
{
    const char *key = NULL;
    assert_int_equal(kl_queue_get(f->q, &key), rc);
    assert_null(key);
}

static void test_queue_dedup(void **state)
{
    fixture_t *f = *state;
    add(f, "ns/a");
    add(f, "ns/b");
    add(f, "ns/a");
    add(f, "ns/a");
    assert_int_equal(kl_queue_len(f->q), 2);
    kl_queue_stats_t st;
    kl_queue_stats(f->q, &st);
    assert_int_equal(st.adds, 2);
    assert_int_equal(st.depth, 2);
    assert_string_equal(get(f), "ns/a");
    assert_string_equal(get(f), "ns/b");
    expect_get_rc(f, KL_EAGAIN);
    assert_int_equal(kl_queue_done(f->q, "ns/a"), 0);
    assert_int_equal(kl_queue_done(f->q, "ns/b"), 0);
    expect_get_rc(f, KL_EAGAIN);
}

static void test_queue_fifo_order_and_key_copy(void **state)
{
    fixture_t *f = *state;
    char key[16];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "ns/k%02d", 19 - i);
        add(f, key); /* the queue copies: key is overwritten next round */
    }
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "ns/k%02d", 19 - i);
        const char *k = get(f);
        assert_string_equal(k, key);
        assert_ptr_not_equal(k, key);
    }
    expect_get_rc(f, KL_EAGAIN);
    assert_int_equal(kl_queue_add(f->q, ""), 0); /* the empty string is a key like any other */
    assert_string_equal(get(f), "");
    assert_int_equal(kl_queue_add(f->q, NULL), KL_EINVAL);
}

static void test_queue_processing_key_not_handed_out_twice(void **state)
{
    fixture_t *f = *state;
    add(f, "ns/a");
    add(f, "ns/b");
    const char *a = get(f);
    assert_string_equal(a, "ns/a");

    /* Re-added while processing: marked dirty, not queued, not handed out. */
    add(f, "ns/a");
    add(f, "ns/a");
    assert_int_equal(kl_queue_len(f->q), 1);
    kl_queue_stats_t st;
    kl_queue_stats(f->q, &st);
    assert_int_equal(st.depth, 2); /* b queued + a dirty in flight */
    assert_int_equal(st.processing, 1);
    assert_int_equal(st.adds, 3);
    assert_string_equal(get(f), "ns/b");
    expect_get_rc(f, KL_EAGAIN);

    /* done() requeues it once, at the tail. */
    add(f, "ns/c");
    assert_int_equal(kl_queue_done(f->q, a), 0);
    assert_int_equal(kl_queue_len(f->q), 2);
    assert_string_equal(get(f), "ns/c");
    assert_string_equal(get(f), "ns/a");
    expect_get_rc(f, KL_EAGAIN);

    /* done() for keys not in flight does nothing. */
    assert_int_equal(kl_queue_done(f->q, "ns/nope"), KL_ENOTFOUND);
    add(f, "ns/d");
    assert_int_equal(kl_queue_done(f->q, "ns/d"), KL_ENOTFOUND);
    assert_int_equal(kl_queue_len(f->q), 1);
    assert_int_equal(kl_queue_done(f->q, "ns/a"), 0);
    assert_int_equal(kl_queue_done(f->q, "ns/a"), KL_ENOTFOUND);
    assert_int_equal(kl_queue_done(f->q, "ns/b"), 0);
    assert_int_equal(kl_queue_done(f->q, "ns/c"), 0);
    assert_string_equal(get(f), "ns/d");
    assert_int_equal(kl_queue_done(f->q, "ns/d"), 0);
    kl_queue_stats(f->q, &st);
    assert_int_equal(st.depth, 0);
    assert_int_equal(st.processing, 0);
}

static void test_queue_ready_callback(void **state)
{
    fixture_t *f = *state;
    f->drain_in_cb = true;
    add(f, "ns/a");
    add(f, "ns/b");
    assert_int_equal(f->ready_calls, 0); /* never from inside add */
    assert_int_equal(uv_run(&f->loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(f->ready_calls, 1); /* once for both */
    assert_int_equal(f->ngot, 2);
    assert_string_equal(f->got[0], "ns/a");
    assert_string_equal(f->got[1], "ns/b");

    /* Nothing ready: no call. */
    assert_int_equal(uv_run(&f->loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(f->ready_calls, 1);

    /* Keys taken before the loop turns: no spurious call. */
    f->drain_in_cb = false;
    add(f, "ns/c");
    const char *c = get(f);
    assert_int_equal(uv_run(&f->loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(f->ready_calls, 1);

    /* A dirty key requeued by done() is announced too. */
    add(f, "ns/c");
    assert_int_equal(uv_run(&f->loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(f->ready_calls, 1);
    f->drain_in_cb = true;
    assert_int_equal(kl_queue_done(f->q, c), 0);
    assert_int_equal(f->ready_calls, 1);
    assert_int_equal(uv_run(&f->loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(f->ready_calls, 2);
    assert_int_equal(f->ngot, 3);
    assert_string_equal(f->got[2], "ns/c");

    /* Callbacks can be replaced. */
    kl_queue_set_callbacks(f->q, NULL, NULL, NULL);
    add(f, "ns/d");
    assert_int_equal(uv_run(&f->loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(f->ready_calls, 2);
    assert_int_equal(kl_queue_len(f->q), 1);
}

static void test_queue_shutdown_without_drain(void **state)
{
    fixture_t *f = *state;
    add(f, "ns/a");
    add(f, "ns/b");
    assert_int_equal(kl_queue_add_after(f->q, "ns/later", 1.0), 0);
    const char *a = get(f);
    add(f, "ns/a"); /* dirty in flight */

    kl_queue_shut_down(f->q, false);
    assert_true(kl_queue_shutting_down(f->q));
    assert_false(kl_queue_drained(f->q)); /* a is in flight */
    expect_get_rc(f, KL_ECLOSED);         /* b is dropped */
    assert_int_equal(kl_queue_len(f->q), 0);
    assert_int_equal(kl_queue_add(f->q, "ns/c"), KL_ECLOSED);
    assert_int_equal(kl_queue_add_after(f->q, "ns/c", 1), KL_ECLOSED);
    assert_int_equal(kl_queue_add_rate_limited(f->q, "ns/c", NULL), KL_ECLOSED);
    kl_queue_stats_t st;
    kl_queue_stats(f->q, &st);
    assert_int_equal(st.delayed, 0);
    assert_int_equal(st.depth, 0);

    assert_int_equal(uv_run(&f->loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(f->drained_calls, 0);
    assert_int_equal(kl_queue_done(f->q, a), 0); /* not requeued */
    assert_true(kl_queue_drained(f->q));
    assert_int_equal(f->drained_calls, 0); /* from the loop only */
    f->now += 2000000000;
    expect_get_rc(f, KL_ECLOSED);
    assert_int_equal(uv_run(&f->loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(f->drained_calls, 1);
    assert_int_equal(f->ready_calls, 0);
    kl_queue_shut_down(f->q, false);
    kl_queue_shut_down(f->q, true);
    assert_int_equal(uv_run(&f->loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(f->drained_calls, 1);
}

static void test_queue_shutdown_with_drain(void **state)
{
    fixture_t *f = *state;
    add(f, "ns/a");
    add(f, "ns/b");
    add(f, "ns/c");
    assert_int_equal(kl_queue_add_after(f->q, "ns/later", 1.0), 0);
    const char *a = get(f);
    add(f, "ns/a"); /* dirty in flight: processed again during the drain */

    kl_queue_shut_down(f->q, true);
    assert_int_equal(kl_queue_add(f->q, "ns/d"), KL_ECLOSED);
    assert_false(kl_queue_drained(f->q));
    const char *b = get(f);
    const char *c = get(f);
    assert_string_equal(b, "ns/b");
    assert_string_equal(c, "ns/c");
    expect_get_rc(f, KL_EAGAIN); /* a still in flight */
    assert_int_equal(kl_queue_done(f->q, b), 0);
    assert_int_equal(kl_queue_done(f->q, c), 0);
    assert_int_equal(kl_queue_done(f->q, a), 0);
    assert_false(kl_queue_drained(f->q));
    a = get(f);
    assert_string_equal(a, "ns/a");
    f->now += 2000000000; /* the delayed key was dropped */
    expect_get_rc(f, KL_EAGAIN);
    assert_int_equal(uv_run(&f->loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(f->drained_calls, 0);
    assert_int_equal(kl_queue_done(f->q, a), 0);
    assert_true(kl_queue_drained(f->q));
    expect_get_rc(f, KL_ECLOSED);
    assert_int_equal(uv_run(&f->loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(f->drained_calls, 1);
}

static void test_queue_drain_escalates_to_stop(void **state)
{
    fixture_t *f = *state;
    add(f, "ns/a");
    add(f, "ns/b");
    const char *a = get(f);
    kl_queue_shut_down(f->q, true);
    kl_queue_shut_down(f->q, false);
    expect_get_rc(f, KL_ECLOSED);
    assert_int_equal(kl_queue_len(f->q), 0);
    assert_int_equal(kl_queue_done(f->q, a), 0);
    assert_true(kl_queue_drained(f->q));
    assert_int_equal(uv_run(&f->loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(f->drained_calls, 1);
}

static void test_queue_shutdown_when_idle_signals_at_once(void **state)
{
    fixture_t *f = *state;
    kl_queue_shut_down(f->q, true);
    assert_true(kl_queue_drained(f->q));
    assert_int_equal(f->drained_calls, 0);
    assert_int_equal(uv_run(&f->loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(f->drained_calls, 1);
}

static void test_queue_free_with_keys_in_every_state(void **state)
{
    fixture_t *f = *state;
    add(f, "ns/queued");
    add(f, "ns/processing");
    add(f, "ns/queued-too");
    assert_string_equal(get(f), "ns/queued");
    add(f, "ns/queued"); /* dirty in flight */
    assert_int_equal(kl_queue_add_after(f->q, "ns/delayed", 10), 0);
    assert_int_equal(kl_queue_add_rate_limited(f->q, "ns/failed", NULL), 0);
    f->now += 1000000000;
    assert_string_equal(get(f), "ns/processing");
    assert_string_equal(get(f), "ns/queued-too");
    assert_string_equal(get(f), "ns/failed"); /* in flight, with a failure count */
    kl_queue_free(f->q);                      /* the teardown's free is a no-op on NULL */
    f->q = NULL;
}

static void new_queue(fixture_t *f)
{
    kl_queue_opts_t o;
    kl_queue_opts_init(&o);
    o.ready_cb = on_ready;
    o.drained_cb = on_drained;
    o.cb_data = f;
    assert_int_equal(kl_queue_new(&f->loop, &o, &f->q), 0);
}

static void test_queue_free_inside_callback(void **state)
{
    fixture_t *f = *state;
    /* No callback after free, even with one pending. */
    add(f, "ns/a");
    kl_queue_shut_down(f->q, false);
    kl_queue_free(f->q);
    f->q = NULL;
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->ready_calls, 0);
    assert_int_equal(f->drained_calls, 0);

    /* Free from inside the ready callback. */
    f->free_in_cb = true;
    new_queue(f);
    add(f, "ns/a");
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->ready_calls, 1);
    assert_null(f->q);

    /* And from inside the drained callback. */
    new_queue(f);
    kl_queue_shut_down(f->q, true);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->drained_calls, 1);
    assert_null(f->q);
}

static void test_queue_new_rejects_bad_options(void **state)
{
    fixture_t *f = *state;
    kl_queue_t *q = NULL;
    kl_queue_opts_t o;
    kl_queue_opts_init(&o);
    o.base_delay = -1;
    assert_int_equal(kl_queue_new(&f->loop, &o, &q), KL_EINVAL);
    kl_queue_opts_init(&o);
    o.burst = 0;
    assert_int_equal(kl_queue_new(&f->loop, &o, &q), KL_EINVAL);
    o.qps = 0; /* no bucket: burst is irrelevant */
    assert_int_equal(kl_queue_new(&f->loop, &o, &q), 0);
    kl_queue_free(q);
    q = NULL;
    kl_queue_opts_init(&o);
    double bad[] = {1, 0.5};
    o.buckets = bad;
    o.nbuckets = 2;
    assert_int_equal(kl_queue_new(&f->loop, &o, &q), KL_EINVAL);
    assert_null(q);
    assert_int_equal(kl_queue_new(NULL, NULL, &q), KL_EINVAL);
    assert_int_equal(kl_queue_new(&f->loop, NULL, &q), 0);
    assert_string_equal(kl_queue_name(q), "");
    assert_string_equal(kl_queue_name(f->q), "test");
    kl_queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_queue_dedup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_fifo_order_and_key_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_processing_key_not_handed_out_twice, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queue_ready_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_shutdown_without_drain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_shutdown_with_drain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_drain_escalates_to_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_shutdown_when_idle_signals_at_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queue_free_with_keys_in_every_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_free_inside_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_new_rejects_bad_options, setup, teardown),
    };
    return cmocka_run_group_tests_name("queue_basic", tests, NULL, NULL);
}
