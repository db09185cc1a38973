#include <stdlib.h>
#include <string.h>

#include "kubelua/json.h"
#include "kubelua/object.h"

#include "unit/test_util.h"

static kl_obj_t *parse_ok(const char *text, unsigned flags)
{
    kl_parse_opts_t opts = {.flags = flags};
    kl_obj_t *doc = NULL;
    kl_errinfo_t err;
    int rc = kl_obj_parse_json(text, strlen(text), &opts, &doc, &err);
    if (rc != 0)
        fail_msg("parse failed: %s", err.msg);
    return doc;
}

static char *encode(kl_val_t v)
{
    kl_buf_t b;
    kl_buf_init(&b, 0);
    assert_int_equal(kl_val_encode(v, &b), 0);
    return kl_buf_take(&b, NULL);
}

static void assert_round_trip(const char *text)
{
    kl_obj_t *doc = parse_ok(text, 0);
    char *out = encode(kl_obj_root(doc));
    assert_string_equal(out, text);
    free(out);
    kl_obj_unref(doc);
}

static void test_object_pod_round_trip_is_byte_exact(void **state)
{
    size_t len;
    char *pod = kl_test_read_fixture("pod.json", &len);
    kl_obj_t *doc = parse_ok(pod, 0);
    kl_val_t root = kl_obj_root(doc);
    assert_string_equal(kl_val_path_str(root, "metadata", "name", NULL), "pi-7x2kq");
    assert_string_equal(kl_val_path_str(root, "spec", "nodeName", NULL), "node-1");
    kl_val_t containers = kl_val_path(root, "spec", "containers", NULL);
    assert_int_equal(kl_val_type(containers), KL_TARRAY);
    assert_int_equal(kl_val_len(containers), 1);
    kl_val_t cmd = kl_val_get(kl_val_at(containers, 0), "command");
    assert_int_equal(kl_val_len(cmd), 4);
    assert_string_equal(kl_val_str(kl_val_at(cmd, 3), NULL), "print bpi(2000)");
    assert_int_equal(kl_val_int(kl_val_path(root, "spec", "terminationGracePeriodSeconds", NULL)),
                     30);
    assert_true(kl_val_missing(kl_val_path(root, "spec", "nope", "deeper", NULL)));
    char *out = encode(root);
    assert_int_equal(strlen(out), len);
    assert_memory_equal(out, pod, len);
    free(out);
    /* The compact form must stay well under twice the JSON text. */
    assert_true(kl_obj_size(doc) < 2 * len);
    kl_obj_unref(doc);
    free(pod);
}

static void test_object_strips_managed_fields(void **state)
{
    size_t len;
    char *pod = kl_test_read_fixture("pod.json", &len);
    kl_obj_t *doc = parse_ok(pod, KL_PARSE_STRIP_MANAGED_FIELDS);
    kl_val_t md = kl_val_get(kl_obj_root(doc), "metadata");
    assert_true(kl_val_missing(kl_val_get(md, "managedFields")));
    assert_string_equal(kl_val_str(kl_val_get(md, "resourceVersion"), NULL), "184467");
    assert_int_equal(kl_val_len(kl_val_get(md, "finalizers")), 1);

    /* The result equals the input with the member removed, and holds none of its bytes. */
    kl_json_t *j;
    assert_int_equal(kl_json_parse(pod, len, NULL, &j, NULL), 0);
    assert_true(kl_json_del(kl_json_get(j, "metadata"), "managedFields"));
    char *expect = kl_json_encode_alloc(j, NULL);
    char *out = encode(kl_obj_root(doc));
    assert_string_equal(out, expect);
    assert_true(kl_obj_size(doc) < 2 * strlen(expect));
    free(out);
    free(expect);
    kl_json_free(j);
    kl_obj_unref(doc);

    /* A nested "metadata.managedFields" deeper than the root's is kept. */
    doc = parse_ok("{\"spec\":{\"metadata\":{\"managedFields\":[1]}},\"metadata\":{\"a\":1,"
                   "\"managedFields\":[{\"x\":\"y\"}],\"b\":2}}",
                   KL_PARSE_STRIP_MANAGED_FIELDS);
    out = encode(kl_obj_root(doc));
    assert_string_equal(out, "{\"spec\":{\"metadata\":{\"managedFields\":[1]}},\"metadata\":{"
                             "\"a\":1,\"b\":2}}");
    free(out);
    kl_obj_unref(doc);
    free(pod);
}

static void test_object_int64_exact(void **state)
{
    assert_round_trip("[9223372036854775807,-9223372036854775808,1234567890123456789,"
                      "576460752303423487,576460752303423488,-576460752303423489,0,-1]");
    kl_obj_t *doc = parse_ok("{\"a\":9223372036854775807,\"b\":-9223372036854775808}", 0);
    assert_true(kl_val_int(kl_val_get(kl_obj_root(doc), "a")) == INT64_MAX);
    assert_true(kl_val_int(kl_val_get(kl_obj_root(doc), "b")) == INT64_MIN);
    kl_obj_unref(doc);
    /* Past int64: a double, as Go decodes it into float64. */
    doc = parse_ok("[9223372036854775808, 1.5, 1e3, -0.25]", 0);
    kl_val_t r = kl_obj_root(doc);
    assert_int_equal(kl_val_type(kl_val_at(r, 0)), KL_TDOUBLE);
    assert_true(kl_val_number(kl_val_at(r, 1)) == 1.5);
    assert_true(kl_val_number(kl_val_at(r, 2)) == 1000.0);
    char *out = encode(r);
    assert_string_equal(out, "[9223372036854776000,1.5,1000,-0.25]");
    free(out);
    kl_obj_unref(doc);
    /* Doubles print as Go prints them. */
    doc = parse_ok("[0.1,1e21,1e-7,123.456,-1.5e-6,100.0,3.0e2,2.5e+25]", 0);
    out = encode(kl_obj_root(doc));
    assert_string_equal(out, "[0.1,1e+21,1e-7,123.456,-0.0000015,100,300,2.5e+25]");
    free(out);
    kl_obj_unref(doc);
}

static void test_object_empty_containers_stay_distinct(void **state)
{
    assert_round_trip("{\"a\":{},\"b\":[],\"c\":[{}],\"d\":{\"e\":[]},\"f\":null,\"g\":true,"
                      "\"h\":false,\"i\":\"\"}");
    kl_obj_t *doc = parse_ok("{\"a\":{},\"b\":[]}", 0);
    assert_int_equal(kl_val_type(kl_val_get(kl_obj_root(doc), "a")), KL_TOBJECT);
    assert_int_equal(kl_val_type(kl_val_get(kl_obj_root(doc), "b")), KL_TARRAY);
    kl_obj_unref(doc);
}

static void test_object_strings_and_escapes(void **state)
{
    kl_obj_t *doc =
        parse_ok("[\"a\\\"b\\\\c\\/d\\n\\t\\u00e9\\ud83d\\ude00\\u0001\", \"\\ud800x\"]", 0);
    kl_val_t r = kl_obj_root(doc);
    size_t len;
    const char *s = kl_val_str(kl_val_at(r, 0), &len);
    assert_string_equal(s, "a\"b\\c/d\n\t\xc3\xa9\xf0\x9f\x98\x80\x01");
    assert_int_equal(len, strlen(s));
    /* A lone surrogate becomes U+FFFD, as Go's decoder does. */
    assert_string_equal(kl_val_str(kl_val_at(r, 1), NULL), "\xef\xbf\xbdx");
    char *out = encode(r);
    assert_string_equal(out, "[\"a\\\"b\\\\c/d\\n\\t\xc3\xa9\xf0\x9f\x98\x80\\u0001\","
                             "\"\xef\xbf\xbdx\"]");
    free(out);
    kl_obj_unref(doc);
    assert_round_trip("{\"\xc3\xa9t\xc3\xa9\":\"\xe2\x82\xac\",\"k\\nl\":1}");
}

static void expect_error(const char *text, int code, int line, int column, const char *msgpart)
{
    kl_obj_t *doc = NULL;
    kl_errinfo_t err = {0};
    int rc = kl_obj_parse_json(text, strlen(text), NULL, &doc, &err);
    if (rc != code)
        fail_msg("'%s': expected %s, got %s (%s)", text, kl_err_name(code), kl_err_name(rc),
                 err.msg);
    assert_null(doc);
    if (line) {
        assert_int_equal(err.line, line);
        assert_int_equal(err.column, column);
    }
    if (msgpart && strstr(err.msg, msgpart) == NULL)
        fail_msg("message '%s' lacks '%s'", err.msg, msgpart);
}

static void test_object_malformed_json(void **state)
{
    expect_error("", KL_ESYNTAX, 1, 1, "unexpected end");
    expect_error("{\"a\":1,}", KL_ESYNTAX, 1, 8, "expected a string key");
    expect_error("{\"a\":1\n,\"b\":[1,2,}", KL_ESYNTAX, 2, 11, "unexpected character");
    expect_error("[1 2]", KL_ESYNTAX, 1, 4, "expected ',' or ']'");
    expect_error("{\"a\" 1}", KL_ESYNTAX, 1, 6, "expected ':'");
    expect_error("\"abc", KL_ESYNTAX, 0, 0, "unterminated string");
    expect_error("\"a\\qb\"", KL_ESYNTAX, 0, 0, "invalid escape");
    expect_error("\"a\\u12\"", KL_ESYNTAX, 0, 0, "bad \\u escape");
    expect_error("\"a\tb\"", KL_ESYNTAX, 0, 0, "control character");
    expect_error("\"\xff\"", KL_EUTF8, 1, 2, "invalid UTF-8");
    expect_error("\"\xc0\xaf\"", KL_EUTF8, 0, 0, NULL);
    expect_error("\"\xed\xa0\x80\"", KL_EUTF8, 0, 0, NULL);
    expect_error("01", KL_ESYNTAX, 0, 0, "leading zero");
    expect_error("-", KL_ESYNTAX, 0, 0, "invalid number");
    expect_error("1.", KL_ESYNTAX, 0, 0, "invalid number");
    expect_error("1e", KL_ESYNTAX, 0, 0, "invalid number");
    expect_error("tru", KL_ESYNTAX, 0, 0, "invalid literal");
    expect_error("nul", KL_ESYNTAX, 0, 0, "invalid literal");
    expect_error("{} {}", KL_ESYNTAX, 1, 4, "after the value");
    expect_error("1e999", KL_ESYNTAX, 0, 0, "out of range");
    expect_error("{\"a\":1,\"b\":2,\"a\":3}", KL_EDUPKEY, 0, 0, "duplicate key \"a\"");
}

static void test_object_duplicate_keys_last_wins_when_allowed(void **state)
{
    kl_obj_t *doc = parse_ok("{\"a\":1,\"b\":2,\"a\":3}", KL_PARSE_ALLOW_DUPLICATE_KEYS);
    char *out = encode(kl_obj_root(doc));
    assert_string_equal(out, "{\"b\":2,\"a\":3}");
    free(out);
    kl_obj_unref(doc);

    /* Large objects use the hashed duplicate check. */
    kl_buf_t b;
    kl_buf_init(&b, 0);
    assert_int_equal(kl_buf_putc(&b, '{'), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(kl_buf_printf(&b, "\"k%d\":%d,", i, i), 0);
    assert_int_equal(kl_buf_puts(&b, "\"k42\":0}"), 0);
    expect_error(b.data, KL_EDUPKEY, 0, 0, "\"k42\"");
    kl_buf_cleanup(&b);
}

static void test_object_limits(void **state)
{
    size_t n = 100000;
    char *deep = malloc(n + 1);
    memset(deep, '[', n);
    deep[n] = '\0';
    expect_error(deep, KL_ETOODEEP, 1, 257, "nesting deeper than 256 levels");

    kl_parse_opts_t opts = {.limits = {.max_depth = 3}};
    kl_obj_t *doc = NULL;
    assert_int_equal(kl_obj_parse_json("[[[1]]]", 7, &opts, &doc, NULL), 0);
    kl_obj_unref(doc);
    assert_int_equal(kl_obj_parse_json("[[[[1]]]]", 9, &opts, &doc, NULL), KL_ETOODEEP);
    free(deep);

    opts = (kl_parse_opts_t){.limits = {.max_bytes = 10}};
    kl_errinfo_t err;
    assert_int_equal(kl_obj_parse_json("[1,2,3,4,5,6]", 13, &opts, &doc, &err), KL_ETOOBIG);
    opts = (kl_parse_opts_t){.limits = {.max_string = 3}};
    assert_int_equal(kl_obj_parse_json("[\"abcd\"]", 8, &opts, &doc, &err), KL_ETOOBIG);
    opts = (kl_parse_opts_t){.limits = {.max_members = 2}};
    assert_int_equal(kl_obj_parse_json("[1,2,3]", 7, &opts, &doc, &err), KL_ETOOBIG);
}

static void test_object_long_keys_are_stored_inline(void **state)
{
    char key[300];
    memset(key, 'x', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    char text[400];
    snprintf(text, sizeof(text), "{\"%s\":1,\"short\":2}", key);
    kl_obj_t *doc = parse_ok(text, 0);
    kl_val_t r = kl_obj_root(doc);
    assert_int_equal(kl_val_int(kl_val_get(r, key)), 1);
    assert_int_equal(kl_val_int(kl_val_get(r, "short")), 2);
    assert_true(kl_val_missing(kl_val_get(r, "xxx")));
    const char *k;
    size_t kl;
    kl_val_member(r, 0, &k, &kl);
    assert_int_equal(kl, strlen(key));
    assert_string_equal(k, key);
    char *out = encode(r);
    assert_string_equal(out, text);
    free(out);
    kl_obj_unref(doc);
}

static void test_object_equality_and_refcount(void **state)
{
    kl_obj_t *a = parse_ok("{\"x\":[1,2,{\"y\":\"z\"}],\"n\":1}", 0);
    kl_obj_t *b = parse_ok("{\"n\":1.0,\"x\":[1,2,{\"y\":\"z\"}]}", 0);
    kl_obj_t *c = parse_ok("{\"n\":1,\"x\":[1,2,{\"y\":\"w\"}]}", 0);
    assert_true(kl_val_equal(kl_obj_root(a), kl_obj_root(b)));
    assert_false(kl_val_equal(kl_obj_root(a), kl_obj_root(c)));
    assert_ptr_equal(kl_obj_ref(a), a);
    kl_obj_unref(a);
    kl_obj_unref(a);
    kl_obj_unref(b);
    kl_obj_unref(c);
    kl_obj_unref(NULL);
}

static void test_json_tree_editing(void **state)
{
    kl_json_t *j;
    kl_errinfo_t err;
    const char *text = "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"n\":[1,2]}}";
    assert_int_equal(kl_json_parse(text, strlen(text), NULL, &j, &err), 0);
    assert_string_equal(kl_json_path_str(j, "metadata", "name", NULL), "a");
    kl_json_t *labels = kl_json_ensure_object(kl_json_get(j, "metadata"), "labels");
    assert_non_null(labels);
    assert_int_equal(kl_json_set_str(labels, "app", "web"), 0);
    assert_int_equal(kl_json_set_int(kl_json_get(j, "spec"), "replicas", 3), 0);
    assert_int_equal(kl_json_append(kl_json_path(j, "spec", "n", NULL), kl_json_int(3)), 0);
    assert_int_equal(kl_json_insert_at(kl_json_path(j, "spec", "n", NULL), 0, kl_json_int(0)), 0);
    assert_true(kl_json_del(kl_json_get(j, "metadata"), "name"));
    assert_false(kl_json_del(kl_json_get(j, "metadata"), "name"));
    /* Setting a member that exists replaces it in place, keeping the order. */
    assert_int_equal(kl_json_set(j, "metadata", kl_json_dup(kl_json_get(j, "metadata"))), 0);
    char *out = kl_json_encode_alloc(j, NULL);
    assert_string_equal(out, "{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"n\":[0,1,2,"
                             "3],\"replicas\":3}}");
    free(out);

    /* Attaching to a non-container fails and frees the value. */
    assert_int_equal(kl_json_set(kl_json_path(j, "spec", "replicas", NULL), "x", kl_json_int(1)),
                     KL_ETYPE);
    assert_null(kl_json_ensure_object(kl_json_get(j, "spec"), "replicas"));

    /* Freeze and thaw keep everything. */
    kl_obj_t *doc;
    assert_int_equal(kl_obj_from_json(j, &doc), 0);
    kl_json_t *back = kl_json_from_val(kl_obj_root(doc));
    assert_true(kl_json_equal(j, back));
    kl_json_t *other = kl_json_dup(j);
    assert_int_equal(kl_json_set_int(kl_json_get(other, "spec"), "replicas", 4), 0);
    assert_false(kl_json_equal(j, other));
    kl_json_free(other);
    kl_json_free(back);
    kl_obj_unref(doc);

    kl_buf_t b;
    kl_buf_init(&b, 0);
    assert_int_equal(kl_json_encode_pretty(kl_json_get(j, "spec"), &b), 0);
    assert_string_equal(b.data, "{\n  \"n\": [\n    0,\n    1,\n    2,\n    3\n  ],\n  "
                                "\"replicas\": 3\n}");
    kl_buf_cleanup(&b);
    kl_json_free(j);
}

static void test_json_encode_respects_ceiling(void **state)
{
    kl_json_t *s = kl_json_string("0123456789");
    kl_buf_t b;
    kl_buf_init(&b, 8);
    assert_int_equal(kl_json_encode(s, &b), KL_ETOOBIG);
    assert_int_equal(b.len, 0);
    kl_buf_cleanup(&b);
    kl_json_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_object_pod_round_trip_is_byte_exact),
        cmocka_unit_test(test_object_strips_managed_fields),
        cmocka_unit_test(test_object_int64_exact),
        cmocka_unit_test(test_object_empty_containers_stay_distinct),
        cmocka_unit_test(test_object_strings_and_escapes),
        cmocka_unit_test(test_object_malformed_json),
        cmocka_unit_test(test_object_duplicate_keys_last_wins_when_allowed),
        cmocka_unit_test(test_object_limits),
        cmocka_unit_test(test_object_long_keys_are_stored_inline),
        cmocka_unit_test(test_object_equality_and_refcount),
        cmocka_unit_test(test_json_tree_editing),
        cmocka_unit_test(test_json_encode_respects_ceiling),
    };
    return cmocka_run_group_tests_name("object_json", tests, NULL, NULL);
}
