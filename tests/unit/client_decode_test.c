/* The incremental decoders: value boundaries in JSON text, watch event lines, the line splitter
 * with its ceiling, list bodies split into items, and resource paths. */
#include "kubelua/client.h"

#include "client/client_int.h"
#include "unit/test_util.h"

static void test_skim_values(void **state)
{
    (void)state;
    const char *cases[] = {
        "\"a\\\"b\\\\\"",
        "123",
        "-1.5e3",
        "true",
        "null",
        "{}",
        "[]",
        "{\"a\":[1,{\"b\":\"}]\"}],\"c\":\"\\\\\"}",
        "[\"x\",[[]],{}]",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[256];
        snprintf(buf, sizeof(buf), "  %s , rest", cases[i]);
        const char *end = kl__skim_value(buf, buf + strlen(buf), NULL);
        assert_non_null(end);
        assert_int_equal(end - buf, 2 + strlen(cases[i]));
    }
    const char *bad[] = {"{\"a\":1", "\"abc", "[1,2", "", "   "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_null(kl__skim_value(bad[i], bad[i] + strlen(bad[i]), NULL));
    bool has_kind;
    const char *o1 = "{\"metadata\":{\"kind\":1},\"x\":\"kind\"}";
    assert_non_null(kl__skim_value(o1, o1 + strlen(o1), &has_kind));
    assert_false(has_kind);
    const char *o2 = "{\"metadata\":{}, \"kind\" : \"Pod\"}";
    assert_non_null(kl__skim_value(o2, o2 + strlen(o2), &has_kind));
    assert_true(has_kind);
}

static void test_watch_line_decode(void **state)
{
    (void)state;
    kl_watch_type_t t;
    kl_obj_t *obj;
    kl_errinfo_t err;
    /* Member order does not matter; managedFields are dropped with the flag. */
    const char *l1 = "{\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"managedFields\":"
                     "[{\"manager\":\"x\"}]}},\"type\":\"MODIFIED\"}";
    assert_int_equal(
        kl__watch_decode_line(l1, strlen(l1), KL_PARSE_STRIP_MANAGED_FIELDS, &t, &obj, &err), 0);
    assert_int_equal(t, KL_WATCH_MODIFIED);
    assert_string_equal(kl_val_path_str(kl_obj_root(obj), "metadata", "name", NULL), "p");
    assert_true(kl_val_missing(kl_val_path(kl_obj_root(obj), "metadata", "managedFields", NULL)));
    /* The document holds only the object, not the event envelope. */
    assert_true(kl_val_missing(kl_val_get(kl_obj_root(obj), "type")));
    kl_obj_unref(obj);

    const char *err410 = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
                         "\"reason\":\"Expired\"}}";
    assert_int_equal(kl__watch_decode_line(err410, strlen(err410), 0, &t, &obj, &err), 0);
    assert_int_equal(t, KL_WATCH_ERROR);
    assert_int_equal(kl_val_int(kl_val_get(kl_obj_root(obj), "code")), 410);
    kl_obj_unref(obj);

    const char *bad[] = {
        "{\"type\":\"ADDED\"}",                        /* no object */
        "{\"type\":\"WHATEVER\",\"object\":{}}",       /* unknown type */
        "{\"type\":\"ADDED\",\"object\":{\"a\":1}",    /* cut */
        "{\"type\":\"ADDED\",\"object\":[1]}",         /* not an object */
        "{\"type\":\"ADDED\",\"object\":{\"a\":tru}}", /* invalid literal */
        "{\"type\":\"ADDED\",\"object\":{}} junk",     /* trailing garbage */
        "[1,2]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        obj = NULL;
        int rc = kl__watch_decode_line(bad[i], strlen(bad[i]), 0, &t, &obj, &err);
        if (rc != KL_ESYNTAX)
            fprintf(stderr, "case %zu: %s\n", i, kl_err_name(rc));
        assert_int_equal(rc, KL_ESYNTAX);
        assert_null(obj);
    }
}

typedef struct lines {
    char got[8][64];
    int n;
} lines_t;

static int on_line(const char *line, size_t len, void *ud)
{
    lines_t *l = ud;
    snprintf(l->got[l->n++], sizeof(l->got[0]), "%.*s", (int)len, line);
    return 0;
}

static void test_linebuf(void **state)
{
    (void)state;
    kl_linebuf_t lb;
    kl__linebuf_init(&lb, 16);
    lines_t l = {0};
    /* Lines split across feeds, blank heartbeats skipped, a line in one piece decoded in place. */
    assert_int_equal(kl__linebuf_feed(&lb, "ab", 2, on_line, &l), 0);
    assert_int_equal(kl__linebuf_feed(&lb, "c\n\n  \nde", 8, on_line, &l), 0);
    assert_int_equal(kl__linebuf_feed(&lb, "f\nxyz\n", 6, on_line, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.got[0], "abc");
    assert_string_equal(l.got[1], "def");
    assert_string_equal(l.got[2], "xyz");
    /* The ceiling holds whether the line arrives in pieces or at once. */
    assert_int_equal(kl__linebuf_feed(&lb, "0123456789", 10, on_line, &l), 0);
    assert_int_equal(kl__linebuf_feed(&lb, "0123456789", 10, on_line, &l), KL_ETOOBIG);
    kl__linebuf_cleanup(&lb);
    kl__linebuf_init(&lb, 16);
    assert_int_equal(kl__linebuf_feed(&lb, "01234567890123456789\n", 21, on_line, &l), KL_ETOOBIG);
    kl__linebuf_cleanup(&lb);
}

typedef struct items {
    int n;
    char kinds[4][32];
} items_t;

static void on_item(kl_obj_t *o, void *ud)
{
    items_t *it = ud;
    const char *k = kl_val_path_str(kl_obj_root(o), "kind", NULL);
    const char *a = kl_val_path_str(kl_obj_root(o), "apiVersion", NULL);
    snprintf(it->kinds[it->n++ % 4], 32, "%s %s", k ? k : "-", a ? a : "-");
    kl_obj_unref(o);
}

static void test_list_split(void **state)
{
    (void)state;
    const char *body =
        "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"42\","
        "\"continue\":\"tok\",\"remainingItemCount\":7},\"items\":[{\"metadata\":{\"name\":\"a\"}},"
        " {\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"b\"}} , {}]}";
    items_t it = {0};
    kl__list_meta_t m;
    kl_errinfo_t err;
    assert_int_equal(kl__list_split(body, strlen(body), 0, on_item, &it, &m, &err), 0);
    assert_int_equal(it.n, 3);
    assert_int_equal(m.items, 3);
    assert_string_equal(it.kinds[0], "Pod v1"); /* filled in from the list */
    assert_string_equal(it.kinds[1], "Pod v1");
    assert_string_equal(it.kinds[2], "Pod v1");
    assert_string_equal(m.resource_version, "42");
    assert_string_equal(m.continue_token, "tok");
    assert_int_equal(m.remaining, 7);
    free(m.continue_token);

    const char *empty = "{\"kind\":\"PodList\",\"items\":null,\"metadata\":{}}";
    it.n = 0;
    assert_int_equal(kl__list_split(empty, strlen(empty), 0, on_item, &it, &m, &err), 0);
    assert_int_equal(it.n, 0);
    assert_string_equal(m.continue_token, "");
    free(m.continue_token);

    const char *bad = "{\"kind\":\"PodList\",\"items\":[{\"a\":1},{\"b\":]}";
    it.n = 0;
    assert_int_equal(kl__list_split(bad, strlen(bad), 0, on_item, &it, &m, &err), KL_ESYNTAX);
    free(m.continue_token);
}

static void test_resource_parse_and_path(void **state)
{
    (void)state;
    char buf[128];
    kl_resource_t r;
    assert_int_equal(kl_resource_parse("v1/pods", &r, buf, sizeof(buf)), 0);
    assert_string_equal(r.group, "");
    assert_string_equal(r.version, "v1");
    assert_string_equal(r.resource, "pods");
    assert_int_equal(kl_resource_parse("apps/v1/deployments/status", &r, buf, sizeof(buf)), 0);
    assert_string_equal(r.group, "apps");
    assert_string_equal(r.subresource, "status");
    assert_int_equal(kl_resource_parse("pods", &r, buf, sizeof(buf)), KL_EINVAL);
    assert_int_equal(kl_resource_parse("a//b", &r, buf, sizeof(buf)), KL_EINVAL);
    assert_int_equal(kl_resource_parse("apps/v1", &r, buf, sizeof(buf)), KL_EINVAL);

    kl_buf_t b;
    kl_buf_init(&b, 1024);
    kl_resource_t p = {"", "v1", "pods", "ns 1", "a:b", "log"};
    assert_int_equal(kl_resource_path(&p, &b), 0);
    assert_string_equal(b.data, "/api/v1/namespaces/ns%201/pods/a%3Ab/log");
    kl_buf_reset(&b);
    kl_resource_t d = {"apps", "v1", "deployments", NULL, NULL, NULL};
    assert_int_equal(kl_resource_path(&d, &b), 0);
    assert_string_equal(b.data, "/apis/apps/v1/deployments");
    kl_buf_reset(&b);
    kl_resource_t n = {"", "v1", "namespaces", "x", "x", NULL};
    assert_int_equal(kl_resource_path(&n, &b), 0);
    assert_string_equal(b.data, "/api/v1/namespaces/x"); /* namespaces are not namespaced */
    kl_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skim_values),
        cmocka_unit_test(test_watch_line_decode),
        cmocka_unit_test(test_linebuf),
        cmocka_unit_test(test_list_split),
        cmocka_unit_test(test_resource_parse_and_path),
    };
    return cmocka_run_group_tests_name("client_decode", tests, NULL, NULL);
}
