/* Informers against `kubelua apiserver` over HTTPS: list+watch consistency under concurrent
 * writes, pagination across 2,500 objects, watch-list, bookmarks, resume after a server restart,
 * 410 after the server lost its event history (a relist with synthetic deletes), indexes and
 * shared informers. */
#include "kubelua/informer.h"

#include "unit/client_testlib.h"
#include "unit/test_util.h"

static tl_server_t srv;
static uv_loop_t loop;
static kl_client_t *client;

static kl_client_t *make_client(void)
{
    kl_restconfig_t *cfg = tl_server_config(&srv);
    assert_non_null(cfg);
    kl_client_opts_t co;
    kl_client_opts_init(&co);
    co.qps = 0; /* tests create objects as fast as they can */
    kl_client_t *c;
    kl_errinfo_t err;
    assert_int_equal(kl_client_new(&loop, cfg, &co, &c, &err), 0);
    kl_restconfig_free(cfg);
    return c;
}

static int setup(void **state)
{
    (void)state;
    if (tl_server_start(&srv) < 0)
        return -1;
    uv_loop_init(&loop);
    client = make_client();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kl_client_free(client);
    int rc = tl_loop_close(&loop);
    tl_server_stop(&srv);
    return rc;
}

/* ---- writers: n requests in flight at most ------------------------------------------------ */

typedef struct writer {
    int inflight, done, failed, next, total;
    const char *ns;
    const char *prefix;
    int op; /* 0 create, 1 patch, 2 delete */
} writer_t;

static void writer_pump(writer_t *w);

static void writer_cb(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st, void *ud)
{
    (void)c;
    (void)body;
    writer_t *w = ud;
    w->inflight--;
    w->done++;
    if (rc < 0) {
        w->failed++;
        fprintf(stderr, "write failed: %s %s\n", kl_err_name(rc), st ? st->message : "");
    }
    writer_pump(w);
}

static void writer_pump(writer_t *w)
{
    while (w->inflight < 32 && w->next < w->total) {
        int i = w->next++;
        char name[64], body[512];
        snprintf(name, sizeof(name), "%s-%04d", w->prefix, i);
        kl_resource_t r = {"", "v1", "configmaps", w->ns, name, NULL};
        int rc;
        if (w->op == 0) {
            snprintf(body, sizeof(body),
                     "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\","
                     "\"labels\":{\"app\":\"a%d\"}},\"data\":{\"v\":\"0\"}}",
                     name, i % 3);
            rc = kl_client_create(client, &r, NULL, body, strlen(body), writer_cb, w, NULL);
        } else if (w->op == 1) {
            snprintf(body, sizeof(body), "{\"data\":{\"v\":\"%d\"}}", i + 1);
            rc = kl_client_patch(client, &r, NULL, KL_PATCH_MERGE, body, strlen(body), writer_cb, w,
                                 NULL);
        } else {
            rc = kl_client_delete(client, &r, NULL, writer_cb, w, NULL);
        }
        assert_int_equal(rc, 0);
        w->inflight++;
    }
}

static bool writer_done(void *ud)
{
    writer_t *w = ud;
    return w->done == w->total;
}

static void write_all(const char *ns, const char *prefix, int op, int from, int to)
{
    writer_t w = {0};
    w.ns = ns;
    w.prefix = prefix;
    w.op = op;
    w.next = from;
    w.total = to;
    w.done = from;
    writer_pump(&w);
    assert_true(tl_run_until(&loop, writer_done, &w, 60000));
    assert_int_equal(w.failed, 0);
}

/* ---- a recording handler ---------------------------------------------------------------- */

typedef struct rec {
    int adds, updates, deletes, unknown_deletes, synced, initial_adds;
} rec_t;

static void rec_add(kl_informer_t *inf, const kl_obj_t *obj, bool initial, void *ud)
{
    (void)inf;
    (void)obj;
    rec_t *r = ud;
    r->adds++;
    r->initial_adds += initial;
}

static void rec_update(kl_informer_t *inf, const kl_obj_t *o, const kl_obj_t *n, void *ud)
{
    (void)inf;
    (void)o;
    (void)n;
    ((rec_t *)ud)->updates++;
}

static void rec_delete(kl_informer_t *inf, const kl_obj_t *obj, bool unknown, void *ud)
{
    (void)inf;
    (void)obj;
    rec_t *r = ud;
    r->deletes++;
    r->unknown_deletes += unknown;
}

static void rec_synced(kl_informer_t *inf, void *ud)
{
    (void)inf;
    ((rec_t *)ud)->synced++;
}

static const kl_informer_handlers_t rec_handlers = {rec_add, rec_update, rec_delete, rec_synced};

static bool synced_p(void *ud)
{
    return kl_informer_has_synced(ud);
}

/* Lists the configmaps of ns from the server and compares every item with the cache. */
typedef struct cmp {
    kl_informer_t *inf;
    int mismatches, items, done, rc;
} cmp_t;

static void cmp_item(kl_obj_t *item, void *ud)
{
    cmp_t *c = ud;
    c->items++;
    kl_val_t root = kl_obj_root(item);
    const char *ns = kl_val_path_str(root, "metadata", "namespace", NULL);
    const char *name = kl_val_path_str(root, "metadata", "name", NULL);
    const kl_obj_t *cached = kl_informer_get(c->inf, ns, name);
    if (cached == NULL || !kl_val_equal(kl_obj_root(cached), root))
        c->mismatches++;
    kl_obj_unref(item);
}

static void cmp_done(kl_client_t *c, int rc, const kl_list_meta_t *m, const kl_status_t *st,
                     void *ud)
{
    (void)c;
    (void)m;
    (void)st;
    cmp_t *p = ud;
    p->done = 1;
    p->rc = rc;
}

static bool cmp_done_p(void *ud)
{
    return ((cmp_t *)ud)->done != 0;
}

static void list_and_compare(kl_informer_t *inf, const char *ns, int *items, int *mismatches)
{
    kl_resource_t r = {"", "v1", "configmaps", ns, NULL, NULL};
    cmp_t c = {inf, 0, 0, 0, 0};
    assert_int_equal(kl_client_list_items(client, &r, NULL, cmp_item, cmp_done, &c, NULL), 0);
    assert_true(tl_run_until(&loop, cmp_done_p, &c, 30000));
    assert_int_equal(c.rc, 0);
    *items = c.items;
    *mismatches = c.mismatches;
}

static bool cache_matches(kl_informer_t *inf, const char *ns)
{
    int items, mism;
    list_and_compare(inf, ns, &items, &mism);
    return mism == 0 && (size_t)items == kl_informer_len(inf);
}

typedef struct wait_len {
    kl_informer_t *inf;
    size_t n;
} wait_len_t;

static bool len_is(void *ud)
{
    wait_len_t *w = ud;
    return kl_informer_len(w->inf) == w->n;
}

static void create_ns(const char *name)
{
    char body[256];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}", name);
    kl_resource_t r = {"", "v1", "namespaces", NULL, NULL, NULL};
    tl_result_t res = {0};
    assert_int_equal(
        kl_client_create(client, &r, NULL, body, strlen(body), tl_result_cb, &res, NULL), 0);
    assert_true(tl_run_until(&loop, tl_result_done, &res, 20000));
    assert_int_equal(res.rc, 0);
    tl_result_reset(&res);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_informer_consistency_under_writes(void **state)
{
    (void)state;
    create_ns("cons");
    write_all("cons", "pre", 0, 0, 200);
    kl_informer_opts_t o;
    kl_informer_opts_init(&o);
    o.resource = "v1/configmaps";
    o.namespace = "cons";
    o.list_mode = KL_LIST_PAGED;
    o.page_size = 50;
    kl_informer_t *inf;
    kl_errinfo_t err;
    assert_int_equal(kl_informer_new(client, &o, &inf, &err), 0);
    rec_t rec = {0};
    assert_int_equal(kl_informer_add_handlers(inf, &rec_handlers, &rec, NULL), 0);
    assert_int_equal(kl_informer_start(inf), 0);
    /* Writes race the initial list and the watch start. */
    writer_t w = {0};
    w.ns = "cons";
    w.prefix = "live";
    w.total = 300;
    writer_pump(&w);
    assert_true(tl_run_until(&loop, synced_p, inf, 30000));
    assert_true(tl_run_until(&loop, writer_done, &w, 60000));
    write_all("cons", "live", 1, 0, 300);
    write_all("cons", "pre", 2, 0, 100);
    wait_len_t wl = {inf, 400};
    assert_true(tl_run_until(&loop, len_is, &wl, 30000));
    assert_true(cache_matches(inf, "cons"));
    assert_int_equal(rec.synced, 1);
    assert_int_equal(rec.adds, 500);
    assert_int_equal(rec.deletes, 100);
    assert_int_equal(rec.unknown_deletes, 0);
    assert_true(rec.updates >= 300);

    /* Indexes: by namespace and by label value. */
    assert_int_equal(kl_informer_foreach(inf, "namespace", "nope", NULL, NULL), 0);
    assert_int_equal(kl_informer_add_index(inf, "label:app"), 0);
    kl_obj_t **objs;
    size_t n;
    assert_int_equal(kl_informer_list(inf, "namespace", "cons", &objs, &n), 0);
    assert_int_equal(n, 400);
    kl_informer_list_free(objs, n);
    assert_int_equal(kl_informer_list(inf, "label:app", "a0", &objs, &n), 0);
    size_t a0 = n;
    kl_informer_list_free(objs, n);
    assert_int_equal(kl_informer_list(inf, "label:app", "a1", &objs, &n), 0);
    size_t a1 = n;
    kl_informer_list_free(objs, n);
    assert_int_equal(kl_informer_list(inf, "label:app", "a2", &objs, &n), 0);
    assert_int_equal(a0 + a1 + n, 400);
    kl_informer_list_free(objs, n);
    assert_int_equal(kl_informer_list(inf, "label:nope", "x", &objs, &n), KL_EINVAL);

    kl_informer_stats_t st;
    kl_informer_stats(inf, &st);
    assert_int_equal(st.objects, 400);
    assert_true(st.bytes > 400 * 100);
    assert_true(st.lists >= 4);
    kl_buf_t b;
    kl_buf_init(&b, 1 << 20);
    const kl_informer_t *arr[1] = {inf};
    assert_int_equal(kl_informer_render_metrics(&b, arr, 1), 0);
    assert_non_null(
        strstr(b.data, "kubelua_informer_cache_objects{resource=\"v1/configmaps\"} 400"));
    kl_buf_cleanup(&b);
    kl_informer_free(inf);
}

static void test_informer_pagination_2500(void **state)
{
    (void)state;
    create_ns("many");
    write_all("many", "cm", 0, 0, 2500);
    kl_informer_opts_t o;
    kl_informer_opts_init(&o);
    o.resource = "v1/configmaps";
    o.namespace = "many";
    o.list_mode = KL_LIST_PAGED;
    o.page_size = 500;
    kl_informer_t *inf;
    assert_int_equal(kl_informer_new(client, &o, &inf, NULL), 0);
    assert_int_equal(kl_informer_start(inf), 0);
    assert_true(tl_run_until(&loop, synced_p, inf, 60000));
    assert_int_equal(kl_informer_len(inf), 2500);
    kl_informer_stats_t st;
    kl_informer_stats(inf, &st);
    assert_int_equal(st.lists, 5);
    kl_informer_free(inf);

    /* The same through watch-list. */
    o.list_mode = KL_LIST_WATCHLIST;
    assert_int_equal(kl_informer_new(client, &o, &inf, NULL), 0);
    rec_t rec = {0};
    assert_int_equal(kl_informer_add_handlers(inf, &rec_handlers, &rec, NULL), 0);
    assert_int_equal(kl_informer_start(inf), 0);
    assert_true(tl_run_until(&loop, synced_p, inf, 60000));
    assert_int_equal(kl_informer_len(inf), 2500);
    assert_int_equal(rec.initial_adds, 2500);
    kl_informer_stats(inf, &st);
    assert_int_equal(st.lists, 0);
    assert_int_equal(st.events[KL_WATCH_ADDED], 2500);
    assert_true(st.events[KL_WATCH_BOOKMARK] >= 1);
    /* Changes after the initial events arrive on the same stream. */
    write_all("many", "cm", 2, 0, 10);
    wait_len_t wl = {inf, 2490};
    assert_true(tl_run_until(&loop, len_is, &wl, 30000));
    assert_int_equal(rec.deletes, 10);
    kl_informer_free(inf);
}

static void test_informer_shared_and_late_handlers(void **state)
{
    (void)state;
    kl_informers_t *set;
    assert_int_equal(kl_informers_new(client, &set), 0);
    kl_informer_opts_t o;
    kl_informer_opts_init(&o);
    o.resource = "v1/configmaps";
    o.namespace = "cons";
    kl_informer_t *a, *b;
    assert_int_equal(kl_informers_get(set, &o, &a, NULL), 0);
    const char *const idx[] = {"label:app", NULL};
    o.indexes = idx;
    assert_int_equal(kl_informers_get(set, &o, &b, NULL), 0);
    assert_ptr_equal(a, b);
    o.namespace = "many";
    assert_int_equal(kl_informers_get(set, &o, &b, NULL), 0);
    assert_ptr_not_equal(a, b);
    assert_int_equal(kl_informers_count(set), 2);
    assert_int_equal(kl_informers_start(set), 0);
    assert_true(tl_run_until(&loop, synced_p, a, 30000));
    assert_true(tl_run_until(&loop, synced_p, b, 30000));
    assert_true(kl_informers_synced(set));
    /* A handler added after the sync gets the cache as initial adds, then synced. */
    rec_t rec = {0};
    assert_int_equal(kl_informer_add_handlers(a, &rec_handlers, &rec, NULL), 0);
    assert_int_equal(rec.adds, 0);
    assert_true(tl_run_until(&loop, tl_flag_set, &rec.synced, 10000));
    assert_int_equal((size_t)rec.initial_adds, kl_informer_len(a));
    kl_obj_t **objs;
    size_t n;
    assert_int_equal(kl_informer_list(a, "label:app", "a1", &objs, &n), 0);
    assert_true(n > 0);
    kl_informer_list_free(objs, n);
    kl_informers_free(set);
}

static void test_informer_restart_resume_and_410(void **state)
{
    (void)state;
    create_ns("rs");
    write_all("rs", "r", 0, 0, 50);
    kl_informer_opts_t o;
    kl_informer_opts_init(&o);
    o.resource = "v1/configmaps";
    o.namespace = "rs";
    o.list_mode = KL_LIST_PAGED;
    o.backoff_initial = 0.05;
    o.backoff_max = 0.2;
    kl_informer_t *inf;
    assert_int_equal(kl_informer_new(client, &o, &inf, NULL), 0);
    rec_t rec = {0};
    assert_int_equal(kl_informer_add_handlers(inf, &rec_handlers, &rec, NULL), 0);
    assert_int_equal(kl_informer_start(inf), 0);
    assert_true(tl_run_until(&loop, synced_p, inf, 30000));
    assert_int_equal(kl_informer_len(inf), 50);
    kl_informer_stats_t st0;
    kl_informer_stats(inf, &st0);

    /* Restart the server under a running informer: the watch breaks, is resumed from the
     * last resourceVersion (with backoff while the server is down), and later writes arrive on
     * the resumed stream without a relist. */
    assert_int_equal(tl_server_restart(&srv), 0);
    tl_run_until(&loop, tl_flag_set, &(int){0}, 1500);
    write_all("rs", "n", 0, 0, 3);
    wait_len_t wl = {inf, 53};
    assert_true(tl_run_until(&loop, len_is, &wl, 30000));
    assert_true(cache_matches(inf, "rs"));
    kl_informer_stats_t st;
    kl_informer_stats(inf, &st);
    assert_true(st.watch_restarts > st0.watch_restarts);
    assert_int_equal(st.relists, 0);
    assert_int_equal(rec.adds, 53);

    /* Stop the informer, change things, and restart the server so that it has lost the event
     * history: resuming from the old resourceVersion gets 410 Expired, the informer relists and
     * reconciles: deletes it missed come out with final_state_unknown and the last state. */
    kl_informer_stop(inf);
    write_all("rs", "r", 2, 0, 5);
    write_all("rs", "n", 0, 3, 6);
    write_all("rs", "r", 1, 10, 15);
    assert_int_equal(tl_server_restart(&srv), 0);
    kl_client_t *side = make_client();
    assert_int_equal(kl_informer_start(inf), 0);
    wl.n = 51;
    assert_true(tl_run_until(&loop, len_is, &wl, 30000));
    assert_true(tl_run_until(&loop, synced_p, inf, 30000));
    assert_true(cache_matches(inf, "rs"));
    kl_informer_stats(inf, &st);
    assert_int_equal(st.relists, 1);
    assert_int_equal(st.events[KL_WATCH_ERROR], 1);
    assert_int_equal(rec.deletes, 5);
    assert_int_equal(rec.unknown_deletes, 5);
    assert_int_equal(rec.adds, 56);
    assert_int_equal(rec.updates, 5);
    kl_client_free(side);
    kl_informer_free(inf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_informer_consistency_under_writes),
        cmocka_unit_test(test_informer_pagination_2500),
        cmocka_unit_test(test_informer_shared_and_late_handlers),
        cmocka_unit_test(test_informer_restart_resume_and_410),
    };
    return cmocka_run_group_tests_name("informer_apiserver", tests, setup, teardown);
}
