/* The informer's cache without a server: events and relists applied directly, indexes kept
 * right through changes, handler notifications (initial adds, updates, deletes with final state
 * unknown), late handlers, transforms, removal and free from inside handlers. */
#include "kubelua/informer.h"

#include "informer/informer_int.h"
#include "unit/client_testlib.h"
#include "unit/test_util.h"

static uv_loop_t loop;
static kl_client_t *client;

static int setup(void **state)
{
    (void)state;
    uv_loop_init(&loop);
    kl_restconfig_t *cfg;
    assert_int_equal(kl_restconfig_for_url("http://127.0.0.1:9", NULL, NULL, &cfg), 0);
    assert_int_equal(kl_client_new(&loop, cfg, NULL, &client, NULL), 0);
    kl_restconfig_free(cfg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kl_client_free(client);
    return tl_loop_close(&loop);
}

static kl_obj_t *pod(const char *ns, const char *name, const char *rv, const char *node,
                     const char *owner, const char *app)
{
    char buf[1024];
    char ownerbuf[256] = "";
    if (owner)
        snprintf(ownerbuf, sizeof(ownerbuf),
                 ",\"ownerReferences\":[{\"uid\":\"other\",\"controller\":false},{\"uid\":\"%s\","
                 "\"controller\":true,\"kind\":\"Job\",\"name\":\"j\"}]",
                 owner);
    snprintf(
        buf, sizeof(buf),
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"namespace\":"
        "\"%s\",\"resourceVersion\":\"%s\",\"labels\":{\"app\":\"%s\"}%s},\"spec\":{\"nodeName\":"
        "\"%s\"}}",
        name, ns, rv, app ? app : "", ownerbuf, node ? node : "");
    kl_obj_t *o;
    assert_int_equal(kl_obj_parse_json(buf, strlen(buf), NULL, &o, NULL), 0);
    return o;
}

typedef struct rec {
    int adds, initial, updates, deletes, unknown, synced;
    char last[64];
    kl_informer_t *free_on_add;
    uint64_t remove_id;
} rec_t;

static void on_add(kl_informer_t *inf, const kl_obj_t *o, bool initial, void *ud)
{
    rec_t *r = ud;
    r->adds++;
    r->initial += initial;
    snprintf(r->last, sizeof(r->last), "%s",
             kl_val_path_str(kl_obj_root(o), "metadata", "name", NULL));
    if (r->remove_id)
        kl_informer_remove_handlers(inf, r->remove_id);
    if (r->free_on_add)
        kl_informer_free(r->free_on_add);
}

static void on_update(kl_informer_t *inf, const kl_obj_t *o, const kl_obj_t *n, void *ud)
{
    (void)inf;
    (void)o;
    rec_t *r = ud;
    r->updates++;
    snprintf(r->last, sizeof(r->last), "%s",
             kl_val_path_str(kl_obj_root(n), "metadata", "name", NULL));
}

static void on_delete(kl_informer_t *inf, const kl_obj_t *o, bool unknown, void *ud)
{
    (void)inf;
    rec_t *r = ud;
    r->deletes++;
    r->unknown += unknown;
    snprintf(r->last, sizeof(r->last), "%s",
             kl_val_path_str(kl_obj_root(o), "metadata", "resourceVersion", NULL));
}

static void on_synced(kl_informer_t *inf, void *ud)
{
    (void)inf;
    ((rec_t *)ud)->synced++;
}

static const kl_informer_handlers_t H = {on_add, on_update, on_delete, on_synced};

static kl_informer_t *make(const char *const *indexes, kl_transform_fn tf)
{
    kl_informer_opts_t o;
    kl_informer_opts_init(&o);
    o.resource = "v1/pods";
    o.indexes = indexes;
    o.transform = tf;
    kl_informer_t *inf;
    kl_errinfo_t err;
    assert_int_equal(kl_informer_new(client, &o, &inf, &err), 0);
    return inf;
}

static size_t count(kl_informer_t *inf, const char *index, const char *value)
{
    kl_obj_t **objs;
    size_t n;
    assert_int_equal(kl_informer_list(inf, index, value, &objs, &n), 0);
    kl_informer_list_free(objs, n);
    return n;
}

static void test_cache_indexes_and_events(void **state)
{
    (void)state;
    const char *const idx[] = {"label:app", NULL};
    kl_informer_t *inf = make(idx, NULL);
    rec_t r = {0};
    assert_int_equal(kl_informer_add_handlers(inf, &H, &r, NULL), 0);
    kl_obj_t *list[4] = {
        pod("a", "p1", "1", "n1", "job-1", "web"), pod("a", "p2", "2", "n1", "job-1", "web"),
        pod("b", "p3", "3", "n2", NULL, "db"), pod("b", "p4", "4", NULL, "job-2", NULL)};
    kl__informer_replace(inf, list, 4, "10");
    assert_int_equal(r.adds, 4);
    assert_int_equal(r.initial, 4);
    assert_int_equal(r.synced, 1);
    assert_true(kl_informer_has_synced(inf));
    assert_string_equal(kl_informer_resource_version(inf), "10");
    assert_int_equal(kl_informer_len(inf), 4);
    assert_non_null(kl_informer_get(inf, "a", "p1"));
    assert_non_null(kl_informer_get_key(inf, "b/p3"));
    assert_null(kl_informer_get(inf, "a", "p3"));
    assert_int_equal(count(inf, "namespace", "a"), 2);
    assert_int_equal(count(inf, "owner", "job-1"), 2);
    assert_int_equal(count(inf, "owner", "other"), 0); /* not the controller */
    assert_int_equal(count(inf, "node", "n1"), 2);
    assert_int_equal(count(inf, "label:app", "web"), 2);
    assert_int_equal(count(inf, "label:app", ""), 0);
    assert_int_equal(count(inf, NULL, NULL), 4);

    /* A pod moves to another node and changes its label. */
    kl__informer_apply(inf, KL_WATCH_MODIFIED, pod("a", "p1", "11", "n2", "job-1", "api"));
    assert_int_equal(r.updates, 1);
    assert_int_equal(count(inf, "node", "n1"), 1);
    assert_int_equal(count(inf, "node", "n2"), 2);
    assert_int_equal(count(inf, "label:app", "web"), 1);
    assert_int_equal(count(inf, "label:app", "api"), 1);
    /* ADDED for a known key is an update; MODIFIED for an unknown one an add. */
    kl__informer_apply(inf, KL_WATCH_ADDED, pod("a", "p2", "12", "n1", "job-1", "web"));
    kl__informer_apply(inf, KL_WATCH_MODIFIED, pod("c", "p5", "13", "n3", NULL, NULL));
    assert_int_equal(r.updates, 2);
    assert_int_equal(r.adds, 5);
    assert_int_equal(r.initial, 4);
    /* Deletes carry the event's final state. */
    kl__informer_apply(inf, KL_WATCH_DELETED, pod("b", "p3", "14", "n2", NULL, "db"));
    assert_int_equal(r.deletes, 1);
    assert_int_equal(r.unknown, 0);
    assert_string_equal(r.last, "14");
    assert_int_equal(count(inf, "label:app", "db"), 0);
    assert_int_equal(count(inf, "namespace", "b"), 1);
    /* Deleting what is not cached does nothing. */
    kl__informer_apply(inf, KL_WATCH_DELETED, pod("b", "zz", "15", NULL, NULL, NULL));
    assert_int_equal(r.deletes, 1);

    /* A relist: p1 unchanged (no event), p2 changed (update), p4 and p5 gone (deletes with the
     * last cached state, final state unknown), p6 new (add, not initial). */
    kl_obj_t *relist[3] = {pod("a", "p1", "11", "n2", "job-1", "api"),
                           pod("a", "p2", "20", "n1", "job-1", "web"),
                           pod("d", "p6", "21", "n4", NULL, NULL)};
    r.updates = r.adds = r.deletes = 0;
    kl__informer_replace(inf, relist, 3, "22");
    assert_int_equal(r.updates, 1);
    assert_int_equal(r.adds, 1);
    assert_int_equal(r.deletes, 2);
    assert_int_equal(r.unknown, 2);
    assert_int_equal(r.synced, 1); /* once per handler */
    assert_int_equal(kl_informer_len(inf), 3);
    assert_int_equal(count(inf, "owner", "job-2"), 0);
    assert_int_equal(count(inf, "node", "n3"), 0);

    kl_informer_stats_t st;
    kl_informer_stats(inf, &st);
    assert_int_equal(st.objects, 3);
    assert_true(st.bytes > 3 * 200);
    kl_informer_free(inf);
    uv_run(&loop, UV_RUN_NOWAIT);
}

static void test_cache_late_handler_and_index(void **state)
{
    (void)state;
    kl_informer_t *inf = make(NULL, NULL);
    kl_obj_t *list[2] = {pod("a", "p1", "1", "n1", NULL, "x"),
                         pod("a", "p2", "2", "n1", NULL, "y")};
    kl__informer_replace(inf, list, 2, "5");
    /* Added late: the current content arrives from the loop, not from inside the call. */
    rec_t r = {0};
    assert_int_equal(kl_informer_add_handlers(inf, &H, &r, NULL), 0);
    assert_int_equal(r.adds, 0);
    assert_true(tl_run_until(&loop, tl_flag_set, &r.synced, 2000));
    assert_int_equal(r.adds, 2);
    assert_int_equal(r.initial, 2);
    /* An index added later is filled from the cache. */
    assert_int_equal(count(inf, "namespace", "a"), 2);
    assert_int_equal(kl_informer_list(inf, "label:app", "x", &(kl_obj_t **){NULL}, &(size_t){0}),
                     KL_EINVAL);
    assert_int_equal(kl_informer_add_index(inf, "label:app"), 0);
    assert_int_equal(count(inf, "label:app", "x"), 1);
    assert_int_equal(kl_informer_add_index(inf, "bogus"), KL_EINVAL);
    kl__informer_apply(inf, KL_WATCH_MODIFIED, pod("a", "p1", "6", "n1", NULL, "y"));
    assert_int_equal(count(inf, "label:app", "y"), 2);
    kl_informer_free(inf);
}

static kl_obj_t *drop_spec(kl_obj_t *obj, void *ud)
{
    (void)ud;
    const char *name = kl_val_path_str(kl_obj_root(obj), "metadata", "name", NULL);
    if (name && strcmp(name, "skip") == 0) {
        kl_obj_unref(obj);
        return NULL;
    }
    char buf[512];
    snprintf(buf, sizeof(buf), "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\"}}", name,
             kl_val_path_str(kl_obj_root(obj), "metadata", "namespace", NULL));
    kl_obj_unref(obj);
    kl_obj_t *o;
    if (kl_obj_parse_json(buf, strlen(buf), NULL, &o, NULL) < 0)
        return NULL;
    return o;
}

static void test_cache_transform(void **state)
{
    (void)state;
    kl_informer_t *inf = make(NULL, drop_spec);
    kl_obj_t *list[2] = {pod("a", "p1", "1", "n1", NULL, "x"),
                         pod("a", "skip", "2", "n1", NULL, "y")};
    kl__informer_replace(inf, list, 2, "5");
    assert_int_equal(kl_informer_len(inf), 1);
    const kl_obj_t *o = kl_informer_get(inf, "a", "p1");
    assert_non_null(o);
    assert_true(kl_val_missing(kl_val_get(kl_obj_root(o), "spec")));
    assert_int_equal(count(inf, "node", "n1"), 0);
    kl_informer_free(inf);
}

static void test_cache_remove_and_free_inside_handlers(void **state)
{
    (void)state;
    kl_informer_t *inf = make(NULL, NULL);
    rec_t a = {0}, b = {0};
    uint64_t ida, idb;
    assert_int_equal(kl_informer_add_handlers(inf, &H, &a, &ida), 0);
    assert_int_equal(kl_informer_add_handlers(inf, &H, &b, &idb), 0);
    a.remove_id = idb; /* a removes b while the first add is dispatched */
    kl__informer_apply(inf, KL_WATCH_ADDED, pod("a", "p1", "1", NULL, NULL, NULL));
    assert_int_equal(a.adds, 1);
    assert_int_equal(b.adds, 0);
    a.remove_id = 0;
    kl__informer_apply(inf, KL_WATCH_ADDED, pod("a", "p2", "2", NULL, NULL, NULL));
    assert_int_equal(a.adds, 2);
    assert_int_equal(b.adds, 0);
    /* Freeing the informer from its own handler is deferred until the handler returns. */
    a.free_on_add = inf;
    kl_obj_t *list[3] = {pod("a", "q1", "3", NULL, NULL, NULL),
                         pod("a", "q2", "4", NULL, NULL, NULL),
                         pod("a", "q3", "5", NULL, NULL, NULL)};
    kl__informer_replace(inf, list, 3, "6");
    assert_int_equal(a.adds, 3);
    uv_run(&loop, UV_RUN_NOWAIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_indexes_and_events),
        cmocka_unit_test(test_cache_late_handler_and_index),
        cmocka_unit_test(test_cache_transform),
        cmocka_unit_test(test_cache_remove_and_free_inside_handlers),
    };
    return cmocka_run_group_tests_name("informer_cache", tests, setup, teardown);
}
