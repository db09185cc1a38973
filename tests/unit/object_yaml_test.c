#include <stdlib.h>
#include <string.h>

#include "kubelua/json.h"

#include "unit/test_util.h"

/* Parses YAML holding one document and returns its compact JSON encoding. */
static char *yaml_to_json(const char *text)
{
    kl_json_t **docs;
    size_t n;
    kl_errinfo_t err;
    int rc = kl_yaml_parse(text, strlen(text), NULL, &docs, &n, &err);
    if (rc != 0)
        fail_msg("yaml failed: %s", err.msg);
    assert_int_equal(n, 1);
    char *out = kl_json_encode_alloc(docs[0], NULL);
    kl_json_free_docs(docs, n);
    return out;
}

static void expect_yaml(const char *text, const char *json)
{
    char *out = yaml_to_json(text);
    if (strcmp(out, json) != 0)
        fail_msg("yaml %s\n  gave %s\n  want %s", text, out, json);
    free(out);
}

static void expect_yaml_error(const char *text, int code, int line, const char *msgpart)
{
    kl_json_t **docs = NULL;
    size_t n = 0;
    kl_errinfo_t err = {0};
    int rc = kl_yaml_parse(text, strlen(text), NULL, &docs, &n, &err);
    if (rc != code)
        fail_msg("expected %s, got %s (%s)", kl_err_name(code), kl_err_name(rc), err.msg);
    if (line)
        assert_int_equal(err.line, line);
    if (msgpart && strstr(err.msg, msgpart) == NULL)
        fail_msg("message '%s' lacks '%s'", err.msg, msgpart);
}

static void test_yaml_scalar_typing(void **state)
{
    expect_yaml(
        "a: 1\nb: -2\nc: 0x1f\nd: 0777\ne: 1_000\nf: 1.5\ng: .5\nh: 1e3\ni: true\n"
        "j: yes\nk: Off\nl: ~\nm: null\nnn:\no: hello\np: '1'\nq: \"true\"\nr: 1.2.3\n"
        "s: 0o17\nt: +5\nu: 0b101\nv: 2024-01-01\nw: 012abc\n",
        "{\"a\":1,\"b\":-2,\"c\":31,\"d\":511,\"e\":1000,\"f\":1.5,\"g\":0.5,\"h\":1000,"
        "\"i\":true,\"j\":true,\"k\":false,\"l\":null,\"m\":null,\"nn\":null,\"o\":\"hello\","
        "\"p\":\"1\",\"q\":\"true\",\"r\":\"1.2.3\",\"s\":15,\"t\":5,\"u\":5,"
        "\"v\":\"2024-01-01\",\"w\":\"012abc\"}");
    expect_yaml("num: 9223372036854775807\nbig: 9223372036854775808\n",
                "{\"num\":9223372036854775807,\"big\":9223372036854776000}");
    expect_yaml("s: !!str 123\ni: !!int \"42\"\nf: !!float 1\nb: !!bool \"yes\"\n",
                "{\"s\":\"123\",\"i\":42,\"f\":1,\"b\":true}");
    expect_yaml("1: a\ntrue: b\nnull: c\n", "{\"1\":\"a\",\"true\":\"b\",\"null\":\"c\"}");
    /* As with kubectl (YAML 1.1), a bare y or n is a boolean, also as a key. */
    expect_yaml("y: 1\nv: n\n", "{\"true\":1,\"v\":false}");
    expect_yaml_error("a: .nan\n", KL_EINVAL, 1, "not representable in JSON");
}

static void test_yaml_structures(void **state)
{
    expect_yaml("list:\n  - a\n  - {x: 1, yy: [1, 2]}\n  - []\n  - {}\nblock: |\n  line1\n  line2\n"
                "folded: >\n  a\n  b\n",
                "{\"list\":[\"a\",{\"x\":1,\"yy\":[1,2]},[],{}],\"block\":\"line1\\nline2\\n\","
                "\"folded\":\"a b\\n\"}");
    expect_yaml("- 1\n- two\n", "[1,\"two\"]");
    expect_yaml("\"quoted key\": 'it''s'\n", "{\"quoted key\":\"it's\"}");
}

static void test_yaml_anchors_and_merge(void **state)
{
    expect_yaml("base: &b {cpu: 1, mem: 2}\nuse: *b\nover:\n  <<: *b\n  mem: 3\nlist: &l [1]\n"
                "again: *l\n",
                "{\"base\":{\"cpu\":1,\"mem\":2},\"use\":{\"cpu\":1,\"mem\":2},\"over\":{\"cpu\":1,"
                "\"mem\":3},\"list\":[1],\"again\":[1]}");
    expect_yaml("a: &a {x: 1}\nb: &b {w: 2}\nc:\n  z: 3\n  <<: [*a, *b]\n",
                "{\"a\":{\"x\":1},\"b\":{\"w\":2},\"c\":{\"z\":3,\"x\":1,\"w\":2}}");
    expect_yaml_error("a: *nope\n", KL_EINVAL, 1, "unknown anchor 'nope'");
    /* A "billion laughs" document is stopped by the value limit. */
    const char *laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                         "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                         "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                         "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                         "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                         "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                         "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                         "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n";
    kl_parse_opts_t opts = {.limits = {.max_nodes = 100000}};
    kl_json_t **docs;
    size_t n;
    kl_errinfo_t err;
    assert_int_equal(kl_yaml_parse(laughs, strlen(laughs), &opts, &docs, &n, &err), KL_ETOOBIG);
    assert_non_null(strstr(err.msg, "alias expansion exceeds the limit"));
}

static void test_yaml_multi_document_stream(void **state)
{
    const char *text = "---\na: 1\n---\n# only a comment\n---\nb: 2\n...\n---\n- x\n";
    kl_json_t **docs;
    size_t n;
    assert_int_equal(kl_yaml_parse(text, strlen(text), NULL, &docs, &n, NULL), 0);
    assert_int_equal(n, 3);
    assert_int_equal(kl_json_int_or(kl_json_get(docs[0], "a"), 0), 1);
    assert_int_equal(kl_json_int_or(kl_json_get(docs[1], "b"), 0), 2);
    assert_int_equal(docs[2]->type, KL_TARRAY);
    kl_json_free_docs(docs, n);
    assert_int_equal(kl_yaml_parse("", 0, NULL, &docs, &n, NULL), 0);
    assert_int_equal(n, 0);
    kl_json_free_docs(docs, n);
}

static void test_yaml_errors_name_line_and_column(void **state)
{
    expect_yaml_error("a: 1\nb: [1, 2\nc: 3\n", KL_ESYNTAX, 3, "line 3, column 2");
    expect_yaml_error("a:\n  b: 1\n c: 2\n", KL_ESYNTAX, 3, NULL);
    expect_yaml_error("a: 1\nb: 2\na: 3\n", KL_EDUPKEY, 3,
                      "line 3: mapping key \"a\" already defined at line 1");
    expect_yaml_error("? [a]\n: 1\n", KL_EINVAL, 0, "complex mapping keys");
    kl_json_t *j;
    kl_errinfo_t err;
    assert_int_equal(kl_json_parse_any("a: 1\n---\nb: 2\n", 14, NULL, &j, &err), KL_EINVAL);
    assert_non_null(strstr(err.msg, "exactly one document"));
    assert_int_equal(kl_json_parse_any("  {\"a\":1}", 9, NULL, &j, &err), 0);
    kl_json_free(j);
}

static void test_yaml_sample_manifests(void **state)
{
    /* The pi Job as shipped: backoffLimit appears twice, as kubectl reports. */
    size_t len;
    char *pi = kl_test_read_fixture("manifests/job-pi.yaml", &len);
    kl_json_t **docs;
    size_t n;
    kl_errinfo_t err;
    assert_int_equal(kl_yaml_parse(pi, len, NULL, &docs, &n, &err), KL_EDUPKEY);
    assert_string_equal(err.msg, "line 17: mapping key \"backoffLimit\" already defined at line 7");
    free(pi);

    /* The nginx DaemonSet is valid YAML: its slip (empty matchLabels, name beside it) is for
     * the API server to reject. */
    char *ds = kl_test_read_fixture("manifests/daemonset-nginx.yaml", &len);
    assert_int_equal(kl_yaml_parse(ds, len, NULL, &docs, &n, &err), 0);
    assert_int_equal(n, 1);
    kl_json_t *sel = kl_json_path(docs[0], "spec", "selector", NULL);
    assert_int_equal(kl_json_get(sel, "matchLabels")->type, KL_TNULL);
    assert_string_equal(kl_json_str(kl_json_get(sel, "name")), "deamonset-example");
    kl_json_free_docs(docs, n);
    free(ds);

    char *fl = kl_test_read_fixture("manifests/daemonset-fluentd.yaml", &len);
    assert_int_equal(kl_yaml_parse(fl, len, NULL, &docs, &n, &err), 0);
    kl_json_t *tol =
        kl_json_at(kl_json_path(docs[0], "spec", "template", "spec", "tolerations", NULL), 0);
    assert_string_equal(kl_json_path_str(tol, "key", NULL), "node-role.kubernetes.io/master");
    kl_json_t *vm = kl_json_path(docs[0], "spec", "template", "spec", "containers", NULL);
    vm = kl_json_get(kl_json_at(vm, 0), "volumeMounts");
    assert_true(kl_json_get(kl_json_at(vm, 1), "readOnly")->type == KL_TTRUE);
    kl_json_free_docs(docs, n);
    free(fl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yaml_scalar_typing),
        cmocka_unit_test(test_yaml_structures),
        cmocka_unit_test(test_yaml_anchors_and_merge),
        cmocka_unit_test(test_yaml_multi_document_stream),
        cmocka_unit_test(test_yaml_errors_name_line_and_column),
        cmocka_unit_test(test_yaml_sample_manifests),
    };
    return cmocka_run_group_tests_name("object_yaml", tests, NULL, NULL);
}
