/* Informers against a scripted fake peer: a watch cut in the middle of a line or sending a
 * malformed line is resumed from the last resourceVersion (no relist); a silent watch is
 * declared dead after its timeout plus slack and resumed; an ERROR 410 event relists and
 * reconciles (synthetic update, add and delete); a server that refuses watch-list gets a
 * paginated list; an expired continue token restarts the list. */
#include "kubelua/informer.h"

#include "unit/client_testlib.h"
#include "unit/test_util.h"

static uv_loop_t loop;

static int setup(void **state)
{
    (void)state;
    return uv_loop_init(&loop);
}

static int teardown(void **state)
{
    (void)state;
    return tl_loop_close(&loop);
}

#define OBJ(name, rv)                                                                              \
    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"" name                 \
    "\",\"namespace\":\"ns\",\"resourceVersion\":\"" rv "\"}}"
#define EV(type, name, rv) "{\"type\":\"" type "\",\"object\":" OBJ(name, rv) "}\n"
#define LIST(rv, items)                                                                            \
    "{\"kind\":\"ConfigMapList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"" rv    \
    "\"},\"items\":[" items "]}"

typedef enum scenario {
    S_CUT,
    S_SILENT,
    S_GONE,
    S_MALFORMED,
    S_NO_WATCHLIST,
    S_CONTINUE,
    S_WATCHLIST_CUT,
    S_EMPTY_WATCH
} scenario_t;

typedef struct script {
    scenario_t s;
    int lists, watches;
} script_t;

static void peer(tl_conn_t *c, void *ud)
{
    script_t *sc = ud;
    bool watch = tl_path_is(c, "watch=true");
    if (!watch) {
        int n = sc->lists++;
        if (sc->s == S_CONTINUE) {
            if (n == 0 || n == 2)
                tl_respond(c, 200, NULL,
                           "{\"kind\":\"ConfigMapList\",\"apiVersion\":\"v1\",\"metadata\":{"
                           "\"resourceVersion\":\"10\",\"continue\":\"c1\"},\"items\":[" OBJ(
                               "a", "1") "]}");
            else if (n == 1)
                tl_respond(c, 410, NULL,
                           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                           "\"reason\":\"Expired\",\"code\":410,\"message\":\"continue expired\"}");
            else
                tl_respond(c, 200, NULL, LIST("12", OBJ("b", "2")));
            return;
        }
        if (sc->s == S_GONE && n > 0)
            tl_respond(c, 200, NULL, LIST("30", OBJ("a", "25") "," OBJ("c", "26")));
        else
            tl_respond(c, 200, NULL, LIST("10", OBJ("a", "1") "," OBJ("b", "2")));
        return;
    }
    int w = sc->watches++;
    if (sc->s == S_NO_WATCHLIST && tl_path_is(c, "sendInitialEvents=true")) {
        tl_respond(c, 400, NULL,
                   "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"reason\":"
                   "\"BadRequest\",\"code\":400,\"message\":\"sendInitialEvents is forbidden\"}");
        return;
    }
    tl_start_chunked(c, 200);
    if (sc->s == S_EMPTY_WATCH) {
        tl_send(c, "0\r\n\r\n", 5); /* ends at once, nothing sent */
        return;
    }
    if (sc->s == S_WATCHLIST_CUT && tl_path_is(c, "sendInitialEvents=true")) {
        /* Accepted, but ended before the initial-events-end bookmark. */
        tl_chunk_str(c, EV("ADDED", "a", "1"));
        tl_send(c, "0\r\n\r\n", 5);
        return;
    }
    if (w == 0) {
        switch (sc->s) {
        case S_CUT: {
            tl_chunk_str(c, EV("ADDED", "c", "11") EV("MODIFIED", "a", "12"));
            /* A bookmark moves the resume point past events of other objects. */
            tl_chunk_str(c, "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"ConfigMap\","
                            "\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"20\"}}}\n");
            const char *e = EV("ADDED", "x", "21");
            tl_chunk(c, e, 25);
            return; /* closed in the middle of the line */
        }
        case S_SILENT:
            tl_chunk_str(c, EV("ADDED", "c", "11"));
            tl_peer_sleep(c, 8000);
            return;
        case S_GONE:
            tl_chunk_str(c, EV("ADDED", "c", "11"));
            tl_chunk_str(c, "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":"
                            "\"v1\",\"status\":\"Failure\",\"reason\":\"Expired\",\"code\":410,"
                            "\"message\":\"too old resource version\"}}\n");
            tl_peer_sleep(c, 8000);
            return;
        case S_MALFORMED:
            tl_chunk_str(c, EV("ADDED", "c", "11") "{\"type\":\"ADDED\",\"object\":{oops}}\n");
            tl_peer_sleep(c, 8000);
            return;
        default:
            break;
        }
    }
    tl_chunk_str(c, EV("ADDED", "d", "40"));
    tl_peer_sleep(c, 8000);
}

typedef struct rec {
    int adds, updates, deletes, unknown;
} rec_t;

static void on_add(kl_informer_t *i, const kl_obj_t *o, bool init, void *ud)
{
    (void)i;
    (void)o;
    (void)init;
    ((rec_t *)ud)->adds++;
}

static void on_update(kl_informer_t *i, const kl_obj_t *o, const kl_obj_t *n, void *ud)
{
    (void)i;
    (void)o;
    (void)n;
    ((rec_t *)ud)->updates++;
}

static void on_delete(kl_informer_t *i, const kl_obj_t *o, bool unknown, void *ud)
{
    (void)i;
    (void)o;
    rec_t *r = ud;
    r->deletes++;
    r->unknown += unknown;
}

static const kl_informer_handlers_t H = {on_add, on_update, on_delete, NULL};

typedef struct run {
    tl_peer_t p;
    script_t sc;
    kl_client_t *c;
    kl_informer_t *inf;
    rec_t rec;
} run_t;

static bool synced_p(void *ud)
{
    return kl_informer_has_synced(ud);
}

static bool has_d(void *ud)
{
    run_t *r = ud;
    return kl_informer_get(r->inf, "ns", "d") != NULL;
}

static double resync_seconds;

static void start(run_t *r, scenario_t s, kl_list_mode_t mode, int watch_timeout)
{
    memset(r, 0, sizeof(*r));
    r->sc.s = s;
    assert_int_equal(tl_peer_start(&r->p, peer, &r->sc), 0);
    r->c = tl_peer_client(&loop, &r->p, NULL);
    assert_non_null(r->c);
    kl_informer_opts_t o;
    kl_informer_opts_init(&o);
    o.resource = "v1/configmaps";
    o.namespace = "ns";
    o.list_mode = mode;
    o.backoff_initial = 0.05;
    o.backoff_max = 0.1;
    o.resync_seconds = resync_seconds;
    if (watch_timeout) {
        o.watch_timeout_min = o.watch_timeout_max = watch_timeout;
        o.watch_slack = 0.3;
    }
    assert_int_equal(kl_informer_new(r->c, &o, &r->inf, NULL), 0);
    assert_int_equal(kl_informer_add_handlers(r->inf, &H, &r->rec, NULL), 0);
    assert_int_equal(kl_informer_start(r->inf), 0);
}

static void finish(run_t *r)
{
    kl_informer_free(r->inf);
    kl_client_free(r->c);
    uv_run(&loop, UV_RUN_NOWAIT);
    tl_peer_stop(&r->p);
}

static const char *request(run_t *r, int i)
{
    return i < 64 ? r->p.lines[i] : "";
}

static void test_informer_resume_after_cut(void **state)
{
    (void)state;
    run_t r;
    start(&r, S_CUT, KL_LIST_PAGED, 0);
    assert_true(tl_run_until(&loop, has_d, &r, 10000));
    /* list, watch from 10, watch resumed from 20 (the bookmark after the last complete event) */
    assert_non_null(strstr(request(&r, 0), "limit=500"));
    assert_non_null(strstr(request(&r, 1), "resourceVersion=10"));
    assert_non_null(strstr(request(&r, 2), "resourceVersion=20"));
    assert_non_null(strstr(request(&r, 2), "allowWatchBookmarks=true"));
    assert_int_equal(kl_informer_len(r.inf), 4);
    assert_null(kl_informer_get(r.inf, "ns", "x"));
    kl_informer_stats_t st;
    kl_informer_stats(r.inf, &st);
    assert_int_equal(st.relists, 0);
    assert_int_equal(st.lists, 1);
    assert_int_equal(st.watch_restarts, 1);
    assert_int_equal(st.watch_errors, 1);
    assert_int_equal(st.events[KL_WATCH_BOOKMARK], 1);
    assert_int_equal(r.rec.adds, 4);
    assert_int_equal(r.rec.updates, 1);
    finish(&r);
}

static void test_informer_silent_watch_restarted(void **state)
{
    (void)state;
    run_t r;
    uint64_t t0 = uv_hrtime();
    start(&r, S_SILENT, KL_LIST_PAGED, 1);
    assert_true(tl_run_until(&loop, has_d, &r, 10000));
    double secs = (double)(uv_hrtime() - t0) / 1e9;
    assert_true(secs >= 1.2 && secs < 5);
    assert_non_null(strstr(request(&r, 1), "timeoutSeconds=1"));
    assert_non_null(strstr(request(&r, 2), "resourceVersion=11"));
    kl_informer_stats_t st;
    kl_informer_stats(r.inf, &st);
    assert_int_equal(st.watch_errors, 1);
    assert_int_equal(st.relists, 0);
    finish(&r);
}

static void test_informer_410_relists(void **state)
{
    (void)state;
    run_t r;
    start(&r, S_GONE, KL_LIST_PAGED, 0);
    assert_true(tl_run_until(&loop, has_d, &r, 10000));
    /* After the relist: a changed (update), c already known with another rv (update), b gone
     * (delete, final state unknown), then d from the new watch. */
    assert_non_null(strstr(request(&r, 2), "limit=500"));
    assert_non_null(strstr(request(&r, 3), "resourceVersion=30"));
    assert_null(kl_informer_get(r.inf, "ns", "b"));
    assert_string_equal(kl_val_path_str(kl_obj_root(kl_informer_get(r.inf, "ns", "a")), "metadata",
                                        "resourceVersion", NULL),
                        "25");
    assert_int_equal(r.rec.deletes, 1);
    assert_int_equal(r.rec.unknown, 1);
    assert_int_equal(r.rec.updates, 2);
    assert_int_equal(r.rec.adds, 4);
    kl_informer_stats_t st;
    kl_informer_stats(r.inf, &st);
    assert_int_equal(st.relists, 1);
    assert_int_equal(st.events[KL_WATCH_ERROR], 1);
    finish(&r);
}

static void test_informer_malformed_line_resumes(void **state)
{
    (void)state;
    run_t r;
    start(&r, S_MALFORMED, KL_LIST_PAGED, 0);
    assert_true(tl_run_until(&loop, has_d, &r, 10000));
    assert_non_null(strstr(request(&r, 2), "resourceVersion=11"));
    kl_informer_stats_t st;
    kl_informer_stats(r.inf, &st);
    assert_int_equal(st.relists, 0);
    assert_int_equal(st.watch_errors, 1);
    finish(&r);
}

static void test_informer_watchlist_fallback(void **state)
{
    (void)state;
    run_t r;
    start(&r, S_NO_WATCHLIST, KL_LIST_AUTO, 0);
    assert_true(tl_run_until(&loop, has_d, &r, 10000));
    assert_non_null(strstr(request(&r, 0), "sendInitialEvents=true"));
    assert_non_null(strstr(request(&r, 0), "resourceVersionMatch=NotOlderThan"));
    assert_non_null(strstr(request(&r, 1), "limit=500"));
    assert_null(strstr(request(&r, 2), "sendInitialEvents"));
    assert_int_equal(kl_informer_len(r.inf), 3);
    finish(&r);
}

static void test_informer_continue_expired(void **state)
{
    (void)state;
    run_t r;
    start(&r, S_CONTINUE, KL_LIST_PAGED, 0);
    assert_true(tl_run_until(&loop, has_d, &r, 10000));
    /* page 1, page 2 (410), page 1 again, page 2, watch */
    assert_non_null(strstr(request(&r, 1), "continue=c1"));
    assert_null(strstr(request(&r, 2), "continue="));
    assert_non_null(strstr(request(&r, 3), "continue=c1"));
    assert_non_null(strstr(request(&r, 4), "resourceVersion=12"));
    assert_int_equal(kl_informer_len(r.inf), 3);
    finish(&r);
}

static void test_informer_watchlist_never_completes(void **state)
{
    (void)state;
    run_t r;
    start(&r, S_WATCHLIST_CUT, KL_LIST_AUTO, 0);
    assert_true(tl_run_until(&loop, has_d, &r, 10000));
    assert_non_null(strstr(request(&r, 0), "sendInitialEvents=true"));
    assert_non_null(strstr(request(&r, 1), "sendInitialEvents=true"));
    assert_non_null(strstr(request(&r, 2), "limit=500"));
    assert_int_equal(kl_informer_len(r.inf), 3);
    finish(&r);
}

static void test_informer_very_short_watches_back_off(void **state)
{
    (void)state;
    run_t r;
    start(&r, S_EMPTY_WATCH, KL_LIST_PAGED, 0);
    assert_true(tl_run_until(&loop, synced_p, r.inf, 10000));
    tl_run_until(&loop, tl_flag_set, &(int){0}, 1000);
    /* Backoff 0.05 .. 0.1 s with jitter: a handful of watches a second, not a hot loop. */
    int n = tl_peer_requests(&r.p);
    assert_true(n >= 5 && n < 40);
    kl_informer_stats_t st;
    kl_informer_stats(r.inf, &st);
    assert_true(st.watch_errors >= 4);
    assert_int_equal(st.relists, 0);
    finish(&r);
}

static bool resynced_twice(void *ud)
{
    run_t *r = ud;
    return r->rec.updates >= 2 * 3 + 1;
}

static void test_informer_periodic_resync(void **state)
{
    (void)state;
    run_t r;
    resync_seconds = 0.2;
    start(&r, S_CUT, KL_LIST_PAGED, 0);
    resync_seconds = 0;
    assert_true(tl_run_until(&loop, has_d, &r, 10000));
    /* Every resync is an update(obj, obj) per cached object (4 of them). */
    int before = r.rec.updates;
    assert_true(tl_run_until(&loop, resynced_twice, &r, 5000));
    assert_true(r.rec.updates - before >= 4);
    assert_int_equal(r.rec.deletes, 0);
    finish(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_informer_resume_after_cut),
        cmocka_unit_test(test_informer_silent_watch_restarted),
        cmocka_unit_test(test_informer_410_relists),
        cmocka_unit_test(test_informer_malformed_line_resumes),
        cmocka_unit_test(test_informer_watchlist_fallback),
        cmocka_unit_test(test_informer_continue_expired),
        cmocka_unit_test(test_informer_watchlist_never_completes),
        cmocka_unit_test(test_informer_periodic_resync),
        cmocka_unit_test(test_informer_very_short_watches_back_off),
    };
    return cmocka_run_group_tests_name("informer_fakepeer", tests, setup, teardown);
}
