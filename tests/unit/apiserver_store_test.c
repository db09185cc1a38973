/* The store's transactions: a write alone is durable when it returns; grouped writes are
 * durable (and told to the event callback) only once kl_store_commit returns. */
#include <sqlite3.h>
#include <unistd.h>

#include "kubelua/object.h"

#include "apiserver/store.h"
#include "unit/test_util.h"

typedef struct seen {
    int events;
    int64_t last_rv;
    int opened;
} seen_t;

static void on_event(kl_store_t *st, const kl_event_t *ev, kl_table_t *t, void *data)
{
    seen_t *s = data;
    assert_true(ev->rv > s->last_rv); /* in order */
    s->last_rv = ev->rv;
    s->events++;
}

static void on_opened(void *data)
{
    ((seen_t *)data)->opened++;
}

static char dir[64];
static char path[128];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/kl-store-test.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/state.db", dir);
    return 0;
}

static int teardown(void **state)
{
    char p[160];
    const char *files[] = {"state.db", "state.db-wal", "state.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
    return 0;
}

static kl_store_t *open_store(void)
{
    kl_store_opts_t o = {.path = path};
    kl_store_t *st;
    kl_errinfo_t err;
    assert_int_equal(kl_store_open(&o, &st, &err), 0);
    assert_int_equal(kl_store_load(st, &err), 0);
    return st;
}

static void put(kl_store_t *st, kl_table_t *t, const char *name)
{
    char json[256];
    int n = snprintf(json, sizeof(json),
                     "{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\",\"namespace\":"
                     "\"default\",\"resourceVersion\":\"%lld\"}}",
                     name, (long long)kl_store_next_rv(st));
    kl_obj_t *doc;
    kl_errinfo_t err;
    assert_int_equal(kl_obj_parse_json(json, (size_t)n, NULL, &doc, &err), 0);
    char key[128];
    snprintf(key, sizeof(key), "default/%s", name);
    assert_int_equal(kl_store_put(st, t, key, json, (size_t)n, doc, KL_EV_ADDED, NULL, &err), 0);
}

static void test_single_writes_told_at_once(void **state)
{
    kl_store_t *st = open_store();
    seen_t s = {0};
    kl_store_set_event_cb(st, on_event, &s);
    kl_table_t *t = kl_store_table(st, "core/configmaps/");
    put(st, t, "a");
    assert_int_equal(s.events, 1);
    assert_false(kl_store_uncommitted(st));
    kl_store_close(st);
    st = open_store();
    assert_non_null(kl_store_get(kl_store_table(st, "core/configmaps/"), "default/a"));
    kl_store_close(st);
}

static void test_group_told_after_commit(void **state)
{
    kl_store_t *st = open_store();
    seen_t s = {0};
    kl_store_set_event_cb(st, on_event, &s);
    kl_store_set_grouping(st, true, on_opened, &s);
    kl_table_t *t = kl_store_table(st, "core/configmaps/");
    put(st, t, "a");
    put(st, t, "b");
    put(st, t, "a2");
    /* One transaction opened, nobody told yet; the new state is readable in memory. */
    assert_int_equal(s.opened, 1);
    assert_int_equal(s.events, 0);
    assert_true(kl_store_uncommitted(st));
    assert_non_null(kl_store_get(t, "default/b"));
    kl_errinfo_t err;
    assert_int_equal(kl_store_commit(st, &err), 0);
    assert_int_equal(s.events, 3);
    assert_false(kl_store_uncommitted(st));
    /* The next write opens the next group. */
    put(st, t, "c");
    assert_int_equal(s.opened, 2);
    assert_int_equal(s.events, 3);
    assert_int_equal(kl_store_commit(st, &err), 0);
    assert_int_equal(s.events, 4);
    /* Nothing open: a commit is a no-op. */
    assert_int_equal(kl_store_commit(st, &err), 0);
    assert_int_equal(s.events, 4);
    kl_store_close(st);
    st = open_store();
    t = kl_store_table(st, "core/configmaps/");
    assert_non_null(kl_store_get(t, "default/a2"));
    assert_non_null(kl_store_get(t, "default/c"));
    assert_int_equal(kl_store_objects(st), 4);
    kl_store_close(st);
}

static void test_batch_joins_group(void **state)
{
    kl_store_t *st = open_store();
    seen_t s = {0};
    kl_store_set_event_cb(st, on_event, &s);
    kl_store_set_grouping(st, true, on_opened, &s);
    kl_table_t *t = kl_store_table(st, "core/configmaps/");
    kl_errinfo_t err;
    put(st, t, "a");
    assert_int_equal(kl_store_batch_begin(st, &err), 0);
    put(st, t, "b");
    assert_int_equal(s.events, 0);
    /* The batch's end commits everything open, the group's earlier write included. */
    assert_int_equal(kl_store_batch_end(st, &err), 0);
    assert_int_equal(s.events, 2);
    assert_int_equal(s.opened, 1);
    assert_false(kl_store_uncommitted(st));
    kl_store_close(st);
}

static void test_close_commits_open_group(void **state)
{
    kl_store_t *st = open_store();
    seen_t s = {0};
    kl_store_set_grouping(st, true, on_opened, &s);
    kl_table_t *t = kl_store_table(st, "core/configmaps/");
    put(st, t, "late");
    assert_true(kl_store_uncommitted(st));
    kl_store_close(st);
    st = open_store();
    assert_non_null(kl_store_get(kl_store_table(st, "core/configmaps/"), "default/late"));
    kl_store_close(st);
}

static int64_t count_rows(const char *where)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM log WHERE %s", where);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

static void test_only_latest_versions_on_disk(void **state)
{
    kl_store_t *st = open_store();
    kl_table_t *t = kl_store_table(st, "core/configmaps/");
    put(st, t, "a");
    put(st, t, "a");
    put(st, t, "a");
    put(st, t, "b");
    const char json[] = "{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"b\"}}";
    kl_obj_t *doc;
    kl_errinfo_t err;
    assert_int_equal(kl_obj_parse_json(json, sizeof(json) - 1, NULL, &doc, &err), 0);
    assert_int_equal(kl_store_delete(st, t, "default/b", json, sizeof(json) - 1, doc, &err), 0);
    int64_t rv = kl_store_rv(st);
    assert_int_equal(rv, 5);
    kl_store_close(st);
    /* a's latest version, and b's tombstone (which carries the sequence). */
    assert_int_equal(count_rows("1"), 2);
    assert_int_equal(count_rows("superseded = 0 AND type != 3"), 1);
    st = open_store();
    /* Reopening drops the tombstone; resourceVersions go on from where they were. */
    assert_int_equal(kl_store_rv(st), rv);
    assert_int_equal(kl_store_objects(st), 1);
    t = kl_store_table(st, "core/configmaps/");
    put(st, t, "c");
    assert_int_equal(kl_store_rv(st), rv + 1);
    kl_store_close(st);
    assert_int_equal(count_rows("1"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_single_writes_told_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_told_after_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_joins_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_commits_open_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_only_latest_versions_on_disk, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
