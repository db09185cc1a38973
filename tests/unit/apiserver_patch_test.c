/* JSON merge patch (RFC 7386) and JSON patch (RFC 6902) against the RFCs' own examples. */
#include "kubelua/json.h"
#include "kubelua/patch.h"

#include "unit/test_util.h"

static kl_json_t *J(const char *text)
{
    kl_json_t *j = NULL;
    kl_errinfo_t err;
    if (kl_json_parse(text, strlen(text), NULL, &j, &err) < 0) {
        fprintf(stderr, "bad test JSON: %s: %s\n", err.msg, text);
        fail();
    }
    return j;
}

static char *enc(const kl_json_t *j)
{
    char *s = kl_json_encode_alloc(j, NULL);
    assert_non_null(s);
    return s;
}

/* Applies a merge patch and compares with want (order-insensitive; the encodings are printed
 * on mismatch). */
static void check_merge(const char *doc, const char *patch, const char *want)
{
    kl_json_t *d = J(doc), *p = J(patch), *w = J(want);
    kl_errinfo_t err = {0};
    int rc = kl_patch_merge(&d, p, &err);
    if (rc != 0)
        fprintf(stderr, "merge %s + %s: %s\n", doc, patch, err.msg);
    assert_int_equal(rc, 0);
    if (!kl_json_equal(d, w)) {
        char *got = enc(d);
        fprintf(stderr, "merge %s + %s\n  got  %s\n  want %s\n", doc, patch, got, want);
        free(got);
        fail();
    }
    kl_json_free(d);
    kl_json_free(p);
    kl_json_free(w);
}

static void test_apiserver_patch_merge_rfc7386(void **state)
{
    (void)state;
    /* RFC 7386 Appendix A, every row. */
    check_merge("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    check_merge("{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}");
    check_merge("{\"a\":\"b\"}", "{\"a\":null}", "{}");
    check_merge("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}");
    check_merge("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    check_merge("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}");
    check_merge("{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}",
                "{\"a\":{\"b\":\"d\"}}");
    check_merge("{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}");
    check_merge("[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]");
    check_merge("{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]");
    check_merge("{\"a\":\"foo\"}", "null", "null");
    check_merge("{\"a\":\"foo\"}", "\"bar\"", "\"bar\"");
    check_merge("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}");
    check_merge("[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}");
    check_merge("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}");
}

static void test_apiserver_patch_merge_kubectl(void **state)
{
    (void)state;
    /* kubectl label / annotate (kubectl-protocol.md 5.16). */
    const char *job = "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"pi\","
                      "\"namespace\":\"default\",\"labels\":{\"app\":\"pi\"}},\"spec\":{}}";
    check_merge(job, "{\"metadata\":{\"labels\":{\"foo\":\"bar\"}}}",
                "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"pi\","
                "\"namespace\":\"default\",\"labels\":{\"app\":\"pi\",\"foo\":\"bar\"}},"
                "\"spec\":{}}");
    check_merge(job, "{\"metadata\":{\"annotations\":{\"foo\":\"bar\"}}}",
                "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"pi\","
                "\"namespace\":\"default\",\"labels\":{\"app\":\"pi\"},\"annotations\":{\"foo\":"
                "\"bar\"}},\"spec\":{}}");
    /* kubectl label foo- */
    check_merge(job, "{\"metadata\":{\"labels\":{\"app\":null}}}",
                "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"pi\","
                "\"namespace\":\"default\",\"labels\":{}},\"spec\":{}}");

    /* A NULL target is an absent document. */
    kl_json_t *d = NULL, *p = J("{\"a\":{\"b\":null,\"c\":1}}");
    assert_int_equal(kl_patch_merge(&d, p, NULL), 0);
    char *s = enc(d);
    assert_string_equal(s, "{\"a\":{\"c\":1}}");
    free(s);
    kl_json_free(d);
    kl_json_free(p);
}

/* Applies a JSON patch; want NULL means it must fail with want_rc and a message containing
 * want_msg. */
static void check_json(const char *doc, const char *ops, const char *want, int want_rc,
                       const char *want_msg)
{
    kl_json_t *d = J(doc), *p = J(ops);
    kl_errinfo_t err = {0};
    int rc = kl_patch_json(&d, p, &err);
    if (want != NULL) {
        if (rc != 0)
            fprintf(stderr, "json patch %s on %s: %s\n", ops, doc, err.msg);
        assert_int_equal(rc, 0);
        kl_json_t *w = J(want);
        if (!kl_json_equal(d, w)) {
            char *got = enc(d);
            fprintf(stderr, "json patch %s\n  got  %s\n  want %s\n", ops, got, want);
            free(got);
            fail();
        }
        kl_json_free(w);
    } else {
        if (rc != want_rc)
            fprintf(stderr, "json patch %s on %s: rc %s (%s), want %s\n", ops, doc, kl_err_name(rc),
                    err.msg, kl_err_name(want_rc));
        assert_int_equal(rc, want_rc);
        assert_int_equal(err.code, want_rc);
        if (want_msg && strstr(err.msg, want_msg) == NULL) {
            fprintf(stderr, "message \"%s\" lacks \"%s\"\n", err.msg, want_msg);
            fail();
        }
    }
    kl_json_free(d);
    kl_json_free(p);
}

static void test_apiserver_patch_json_rfc6902(void **state)
{
    (void)state;
    /* RFC 6902 Appendix A. */
    check_json("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]",
               "{\"baz\":\"qux\",\"foo\":\"bar\"}", 0, NULL); /* A.1 */
    check_json("{\"foo\":[\"bar\",\"baz\"]}",
               "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
               "{\"foo\":[\"bar\",\"qux\",\"baz\"]}", 0, NULL); /* A.2 */
    check_json("{\"baz\":\"qux\",\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]",
               "{\"foo\":\"bar\"}", 0, NULL); /* A.3 */
    check_json("{\"foo\":[\"bar\",\"qux\",\"baz\"]}", "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]",
               "{\"foo\":[\"bar\",\"baz\"]}", 0, NULL); /* A.4 */
    check_json("{\"baz\":\"qux\",\"foo\":\"bar\"}",
               "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
               "{\"baz\":\"boo\",\"foo\":\"bar\"}", 0, NULL); /* A.5 */
    check_json("{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":\"grault\"}}",
               "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]",
               "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\",\"thud\":\"fred\"}}", 0,
               NULL); /* A.6 */
    check_json("{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
               "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]",
               "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}", 0, NULL); /* A.7 */
    check_json("{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
               "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},"
               "{\"op\":\"test\",\"path\":\"/foo/1\",\"value\":2}]",
               "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}", 0, NULL); /* A.8 */
    check_json("{\"baz\":\"qux\"}", "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]", NULL,
               KL_EINVAL, "testing value /baz failed: test failed"); /* A.9 */
    check_json("{\"foo\":\"bar\"}",
               "[{\"op\":\"add\",\"path\":\"/child\",\"value\":{\"grandchild\":{}}}]",
               "{\"foo\":\"bar\",\"child\":{\"grandchild\":{}}}", 0, NULL); /* A.10 */
    check_json("{\"foo\":\"bar\"}",
               "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"xyz\":123}]",
               "{\"foo\":\"bar\",\"baz\":\"qux\"}", 0, NULL); /* A.11 */
    check_json("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]",
               NULL, KL_EINVAL,
               "add operation does not apply: doc is missing path: \"/baz/bat\": missing value");
    /* A.12 */
    check_json("{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10}]",
               "{\"/\":9,\"~1\":10}", 0, NULL); /* A.14 */
    check_json("{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":\"10\"}]",
               NULL, KL_EINVAL, "testing value /~01 failed"); /* A.15 */
    check_json("{\"foo\":[\"bar\"]}",
               "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\",\"def\"]}]",
               "{\"foo\":[\"bar\",[\"abc\",\"def\"]]}", 0, NULL); /* A.16 */

    /* A.13: duplicate "op" members are rejected by the decoder before the patch applies. */
    kl_json_t *j = NULL;
    const char *dup = "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"op\":\"remove\"}]";
    assert_int_not_equal(kl_json_parse(dup, strlen(dup), NULL, &j, NULL), 0);
    assert_null(j);
}

static void test_apiserver_patch_json_pointers(void **state)
{
    (void)state;
    /* RFC 6901 section 5, checked with "test". */
    const char *doc = "{\"foo\":[\"bar\",\"baz\"],\"\":0,\"a/b\":1,\"c%d\":2,\"e^f\":3,\"g|h\":4,"
                      "\"i\\\\j\":5,\"k\\\"l\":6,\" \":7,\"m~n\":8}";
    check_json(doc,
               "[{\"op\":\"test\",\"path\":\"/foo\",\"value\":[\"bar\",\"baz\"]},"
               "{\"op\":\"test\",\"path\":\"/foo/0\",\"value\":\"bar\"},"
               "{\"op\":\"test\",\"path\":\"/\",\"value\":0},"
               "{\"op\":\"test\",\"path\":\"/a~1b\",\"value\":1},"
               "{\"op\":\"test\",\"path\":\"/c%d\",\"value\":2},"
               "{\"op\":\"test\",\"path\":\"/e^f\",\"value\":3},"
               "{\"op\":\"test\",\"path\":\"/g|h\",\"value\":4},"
               "{\"op\":\"test\",\"path\":\"/i\\\\j\",\"value\":5},"
               "{\"op\":\"test\",\"path\":\"/k\\\"l\",\"value\":6},"
               "{\"op\":\"test\",\"path\":\"/ \",\"value\":7},"
               "{\"op\":\"test\",\"path\":\"/m~0n\",\"value\":8}]",
               doc, 0, NULL);
    /* The empty pointer is the whole document. */
    check_json("{\"a\":1}", "[{\"op\":\"test\",\"path\":\"\",\"value\":{\"a\":1}}]", "{\"a\":1}", 0,
               NULL);
    check_json("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":{\"b\":2}}]", "{\"b\":2}",
               0, NULL);
    /* 1 and 1.0 are the same number. */
    check_json("{\"a\":1}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":1.0}]", "{\"a\":1}", 0,
               NULL);
    /* Move and copy. */
    check_json("{\"a\":{\"b\":[1,2]}}",
               "[{\"op\":\"copy\",\"from\":\"/a/b\",\"path\":\"/c\"},"
               "{\"op\":\"add\",\"path\":\"/c/0\",\"value\":0},"
               "{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/d\"},"
               "{\"op\":\"move\",\"from\":\"/d\",\"path\":\"/d\"}]",
               "{\"c\":[0,1,2],\"d\":{\"b\":[1,2]}}", 0, NULL);
    /* A kubectl patch --type=json. */
    check_json(
        "{\"metadata\":{\"name\":\"web\",\"labels\":{\"app\":\"web\"}},\"spec\":{\"replicas\":1}}",
        "[{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":3},"
        "{\"op\":\"add\",\"path\":\"/metadata/labels/tier\",\"value\":\"front\"},"
        "{\"op\":\"remove\",\"path\":\"/metadata/labels/app\"}]",
        "{\"metadata\":{\"name\":\"web\",\"labels\":{\"tier\":\"front\"}},\"spec\":"
        "{\"replicas\":3}}",
        0, NULL);
}

static void test_apiserver_patch_json_errors(void **state)
{
    (void)state;
    const char *doc = "{\"a\":{\"b\":[1,2,3]},\"s\":\"x\"}";
    /* The patch document itself. */
    check_json(doc, "{\"op\":\"add\"}", NULL, KL_EBADREQUEST,
               "json: cannot unmarshal object into Go value of type jsonpatch.Patch");
    check_json(doc, "[\"add\"]", NULL, KL_EBADREQUEST,
               "cannot unmarshal string into Go value of type jsonpatch.Operation");
    check_json(doc, "null", doc, 0, NULL);
    check_json(doc, "[]", doc, 0, NULL);
    /* Operations. */
    check_json(doc, "[{\"op\":\"frobnicate\",\"path\":\"/a\"}]", NULL, KL_EINVAL,
               "Unexpected kind: frobnicate");
    check_json(doc, "[{\"path\":\"/a\"}]", NULL, KL_EINVAL, "Unexpected kind: unknown");
    check_json(doc, "[{\"op\":\"remove\"}]", NULL, KL_EINVAL,
               "remove operation failed to decode path");
    check_json(doc, "[{\"op\":\"add\",\"path\":\"/x\"}]", NULL, KL_EINVAL,
               "add operation missing value field");
    check_json(doc, "[{\"op\":\"move\",\"path\":\"/x\"}]", NULL, KL_EINVAL,
               "move operation failed to decode from");
    /* Pointers. */
    check_json(doc, "[{\"op\":\"remove\",\"path\":\"a\"}]", NULL, KL_EINVAL,
               "must be empty or start with \"/\"");
    check_json(doc, "[{\"op\":\"remove\",\"path\":\"/a~2\"}]", NULL, KL_EINVAL,
               "\"~\" must be followed by 0 or 1");
    check_json(doc, "[{\"op\":\"remove\",\"path\":\"/a~\"}]", NULL, KL_EINVAL,
               "\"~\" must be followed by 0 or 1");
    check_json(doc, "[{\"op\":\"remove\",\"path\":\"/a/b/01\"}]", NULL, KL_EINVAL,
               "value was not a proper array index: '01'");
    check_json(doc, "[{\"op\":\"remove\",\"path\":\"/a/b/3\"}]", NULL, KL_EINVAL,
               "Unable to access invalid index: 3: invalid index referenced");
    check_json(doc, "[{\"op\":\"add\",\"path\":\"/a/b/4\",\"value\":0}]", NULL, KL_EINVAL,
               "error in add for path: '/a/b/4': Unable to access invalid index: 4");
    check_json(doc, "[{\"op\":\"add\",\"path\":\"/a/b/3\",\"value\":4}]",
               "{\"a\":{\"b\":[1,2,3,4]},\"s\":\"x\"}", 0, NULL);
    check_json(doc, "[{\"op\":\"remove\",\"path\":\"/a/b/-\"}]", NULL, KL_EINVAL,
               "value was not a proper array index: '-'");
    check_json(doc, "[{\"op\":\"add\",\"path\":\"/s/x\",\"value\":0}]", NULL, KL_EINVAL,
               "doc is missing path");
    /* Missing targets. */
    check_json(
        doc, "[{\"op\":\"remove\",\"path\":\"/z\"}]", NULL, KL_EINVAL,
        "error in remove for path: '/z': Unable to remove nonexistent key: z: missing value");
    check_json(doc, "[{\"op\":\"remove\",\"path\":\"/z/y\"}]", NULL, KL_EINVAL,
               "remove operation does not apply: doc is missing path: \"/z/y\"");
    check_json(doc, "[{\"op\":\"replace\",\"path\":\"/z\",\"value\":1}]", NULL, KL_EINVAL,
               "replace operation does not apply: doc is missing key: /z: missing value");
    check_json(doc, "[{\"op\":\"replace\",\"path\":\"/z/y\",\"value\":1}]", NULL, KL_EINVAL,
               "replace operation does not apply: doc is missing path: /z/y");
    check_json(doc, "[{\"op\":\"move\",\"from\":\"/z\",\"path\":\"/y\"}]", NULL, KL_EINVAL,
               "Unable to remove nonexistent key: z");
    check_json(doc, "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/c\"}]", NULL, KL_EINVAL,
               "is a prefix of destination path");
    check_json(doc, "[{\"op\":\"move\",\"from\":\"/a/b\",\"path\":\"/q/r\"}]", NULL, KL_EINVAL,
               "move operation does not apply: doc is missing destination path: /q/r");
    check_json(doc, "[{\"op\":\"copy\",\"from\":\"/z\",\"path\":\"/y\"}]", NULL, KL_EINVAL,
               "error in copy for from: '/z'");
    check_json(doc, "[{\"op\":\"copy\",\"from\":\"/z/y\",\"path\":\"/y\"}]", NULL, KL_EINVAL,
               "copy operation does not apply: doc is missing from path: /z/y");
    check_json(doc, "[{\"op\":\"test\",\"path\":\"/z\",\"value\":null}]", NULL, KL_EINVAL,
               "testing value /z failed: test failed");
    check_json(doc, "[{\"op\":\"test\",\"path\":\"/z/y\",\"value\":1}]", NULL, KL_EINVAL,
               "test operation does not apply: is missing path: /z/y");
    /* An operation failing after others: the error still comes out. */
    check_json(doc,
               "[{\"op\":\"add\",\"path\":\"/n\",\"value\":1},"
               "{\"op\":\"test\",\"path\":\"/n\",\"value\":2}]",
               NULL, KL_EINVAL, "testing value /n failed");
}

static void test_apiserver_patch_json_limits(void **state)
{
    (void)state;
    kl_errinfo_t err;
    /* 10,000 operations pass, 10,001 do not. */
    kl_json_t *ops = kl_json_array();
    for (int i = 0; i < 10000; i++) {
        kl_json_t *op = kl_json_object();
        assert_int_equal(kl_json_set_str(op, "op", "test"), 0);
        assert_int_equal(kl_json_set_str(op, "path", "/a"), 0);
        assert_int_equal(kl_json_set_int(op, "value", 1), 0);
        assert_int_equal(kl_json_append(ops, op), 0);
    }
    kl_json_t *d = J("{\"a\":1}");
    assert_int_equal(kl_patch_json(&d, ops, &err), 0);
    assert_int_equal(kl_json_append(ops, kl_json_dup(ops->u.items[0])), 0);
    assert_int_equal(kl_patch_json(&d, ops, &err), KL_ETOOBIG);
    assert_string_equal(err.msg,
                        "The allowed maximum operations in a JSON patch is 10000, got 10001");
    kl_json_free(ops);
    kl_json_free(d);

    /* Copying the document into itself doubles it each time: bounded. */
    ops = kl_json_array();
    for (int i = 0; i < 40; i++)
        assert_int_equal(
            kl_json_append(ops, J("{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/a/-\"}")), 0);
    d = J("{\"a\":[1]}");
    assert_int_equal(kl_patch_json(&d, ops, &err), KL_ETOOBIG);
    assert_non_null(strstr(err.msg, "copy operations would create more than"));
    kl_json_free(ops);
    kl_json_free(d);

    /* Nesting the document into itself level by level stops at the depth limit. */
    ops = kl_json_array();
    assert_int_equal(kl_json_append(ops, J("{\"op\":\"add\",\"path\":\"/a\",\"value\":{}}")), 0);
    char path[4096] = "/a";
    for (int i = 0; i < 300; i++) {
        kl_json_t *op = J("{\"op\":\"add\",\"value\":{}}");
        strcat(path, "/a");
        assert_int_equal(kl_json_set_str(op, "path", path), 0);
        assert_int_equal(kl_json_append(ops, op), 0);
    }
    d = J("{}");
    int rc = kl_patch_json(&d, ops, &err);
    assert_true(rc == KL_ETOODEEP);
    kl_json_free(ops);
    kl_json_free(d);

    /* Pointers with more segments than the depth limit. */
    char *longp = malloc(2 * 300 + 1);
    for (int i = 0; i < 300; i++)
        memcpy(longp + 2 * i, "/x", 2);
    longp[600] = '\0';
    ops = kl_json_array();
    kl_json_t *op = J("{\"op\":\"remove\"}");
    assert_int_equal(kl_json_set_str(op, "path", longp), 0);
    assert_int_equal(kl_json_append(ops, op), 0);
    d = J("{}");
    assert_int_equal(kl_patch_json(&d, ops, &err), KL_ETOODEEP);
    free(longp);
    kl_json_free(ops);
    kl_json_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apiserver_patch_merge_rfc7386),
        cmocka_unit_test(test_apiserver_patch_merge_kubectl),
        cmocka_unit_test(test_apiserver_patch_json_rfc6902),
        cmocka_unit_test(test_apiserver_patch_json_pointers),
        cmocka_unit_test(test_apiserver_patch_json_errors),
        cmocka_unit_test(test_apiserver_patch_json_limits),
    };
    return cmocka_run_group_tests_name("apiserver_patch", tests, NULL, NULL);
}
