/* Field path sets (apiserver/fieldset.h): FieldsV1 encoding and decoding, set operations,
 * conflict paths. */
#include "kubelua/json.h"

#include "apiserver/fieldset.h"
#include "unit/test_util.h"

static kl_json_t *parse(const char *text)
{
    kl_json_t *j = NULL;
    assert_int_equal(kl_json_parse(text, strlen(text), NULL, &j, NULL), 0);
    return j;
}

static kl_fset_t *set_of(kl_arena_t *a, const char *fields)
{
    kl_json_t *j = parse(fields);
    kl_fset_t *s = NULL;
    kl_errinfo_t err;
    int rc = kl_fset_from_json(a, j, true, &s, &err);
    if (rc < 0)
        fail_msg("%s: %s", fields, err.msg);
    kl_json_free(j);
    return s;
}

static void assert_set(const kl_fset_t *s, const char *want)
{
    kl_buf_t b;
    kl_buf_init(&b, 0);
    assert_int_equal(kl_fset_encode(s, &b), 0);
    assert_int_equal(kl_buf_putc(&b, '\0'), 0);
    assert_string_equal(b.data, want);
    /* The JSON tree form agrees with the text form. */
    kl_json_t *j = kl_fset_to_json(s);
    char *text = kl_json_encode_alloc(j, NULL);
    assert_string_equal(text, want);
    free(text);
    kl_json_free(j);
    kl_buf_cleanup(&b);
}

static void test_roundtrip(void **state)
{
    (void)state;
    kl_arena_t a;
    kl_arena_init(&a);
    /* Out of order on purpose: the set sorts its elements. */
    const char *in = "{\"f:spec\":{\"f:template\":{\"f:spec\":{\"f:containers\":{\"k:{\\\"name\\\":"
                     "\\\"app\\\"}\":"
                     "{\".\":{},\"f:name\":{},\"f:image\":{}}}}},\"f:replicas\":{}},"
                     "\"f:metadata\":{\"f:labels\":{\".\":{},\"f:app\":{}},\"f:finalizers\":{\"v:"
                     "\\\"x\\\"\":{}}}}";
    kl_fset_t *s = set_of(&a, in);
    assert_non_null(s);
    assert_int_equal(kl_fset_count(s), 7);
    assert_set(s, "{\"f:metadata\":{\"f:finalizers\":{\"v:\\\"x\\\"\":{}},\"f:labels\":{\".\":{},"
                  "\"f:app\":{}}},\"f:spec\":{\"f:replicas\":{},\"f:template\":{\"f:spec\":{"
                  "\"f:containers\":{\"k:{\\\"name\\\":\\\"app\\\"}\":{\".\":{},\"f:image\":{},"
                  "\"f:name\":{}}}}}}}");
    /* Empty. */
    kl_fset_t *e = set_of(&a, "{}");
    assert_null(e);
    assert_set(NULL, "{}");
    assert_false(kl_arena_failed(&a));
    kl_arena_cleanup(&a);
}

static void test_canonical(void **state)
{
    (void)state;
    kl_arena_t a;
    kl_arena_init(&a);
    kl_fset_t *s = set_of(&a, "{\"f:ports\":{\"k:{\\\"protocol\\\":\\\"TCP\\\", "
                              "\\\"containerPort\\\":80}\":{\".\":{}}},\"f:list\":{\"i:3\":{}}}");
    assert_set(s, "{\"f:list\":{\"i:3\":{}},\"f:ports\":{\"k:{\\\"containerPort\\\":80,"
                  "\\\"protocol\\\":\\\"TCP\\\"}\":{}}}");
    /* Two spellings of the same item merge. */
    s = set_of(&a, "{\"k:{\\\"b\\\":1,\\\"a\\\":2}\":{\"f:x\":{}},\"k:{\\\"a\\\":2,\\\"b\\\":1}\":"
                   "{\"f:y\":{}}}");
    assert_set(s, "{\"k:{\\\"a\\\":2,\\\"b\\\":1}\":{\"f:x\":{},\"f:y\":{}}}");

    kl_errinfo_t err;
    kl_fset_t *out;
    const char *bad[] = {"[]",           "{\"x:y\":{}}", "{\"f:a\":1}", "{\"k:[1]\":{}}",
                         "{\"k:{\":{}}", "{\"i:x\":{}}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kl_json_t *j = parse(bad[i]);
        assert_int_equal(kl_fset_from_json(&a, j, true, &out, &err), KL_EINVAL);
        kl_json_free(j);
    }
    kl_arena_cleanup(&a);
}

static void test_operations(void **state)
{
    (void)state;
    kl_arena_t a;
    kl_arena_init(&a);
    kl_fset_t *x = set_of(&a, "{\"f:a\":{},\"f:b\":{\"f:c\":{},\"f:d\":{}},\"f:l\":{\".\":{},"
                              "\"f:m\":{}}}");
    kl_fset_t *y = set_of(&a, "{\"f:b\":{\"f:d\":{},\"f:e\":{}},\"f:l\":{},\"f:z\":{}}");
    assert_set(kl_fset_union(&a, x, y), "{\"f:a\":{},\"f:b\":{\"f:c\":{},\"f:d\":{},\"f:e\":{}},"
                                        "\"f:l\":{\".\":{},\"f:m\":{}},\"f:z\":{}}");
    /* Removing a member keeps its children, as upstream's Difference. */
    assert_set(kl_fset_difference(&a, x, y),
               "{\"f:a\":{},\"f:b\":{\"f:c\":{}},\"f:l\":{\"f:m\":{}}}");
    assert_set(kl_fset_intersection(&a, x, y), "{\"f:b\":{\"f:d\":{}},\"f:l\":{}}");
    assert_true(kl_fset_intersects(x, y));
    kl_fset_t *z = set_of(&a, "{\"f:b\":{\"f:q\":{}},\"f:q\":{}}");
    assert_false(kl_fset_intersects(x, z));
    assert_null(kl_fset_intersection(&a, x, z));
    /* Unchanged inputs come back as they are. */
    assert_ptr_equal(kl_fset_difference(&a, x, z), x);
    assert_ptr_equal(kl_fset_union(&a, x, NULL), x);
    assert_null(kl_fset_difference(&a, x, x));
    assert_null(kl_fset_difference(&a, NULL, x));

    kl_json_t *raw = parse("{\"f:b\":{\"f:d\":{}},\"f:l\":{\".\":{},\"f:m\":{}}}");
    assert_true(kl_fset_json_intersects(raw, x));
    assert_false(kl_fset_json_intersects(raw, z));
    kl_fset_t *lonly = set_of(&a, "{\"f:l\":{}}");
    assert_true(kl_fset_json_intersects(raw, lonly));
    kl_fset_t *bonly = set_of(&a, "{\"f:b\":{}}");
    assert_false(kl_fset_json_intersects(raw, bonly)); /* b is not a member, only a parent */
    kl_json_free(raw);

    assert_ptr_equal(kl_fset_get(x, "f:b", 3), x->kids[1].set);
    assert_null(kl_fset_get(x, "f:bb", 4));
    assert_false(kl_arena_failed(&a));
    kl_arena_cleanup(&a);
}

typedef struct paths {
    kl_buf_t b;
} paths_t;

static int collect(void *ud, const kl_fpath_t *p)
{
    paths_t *ps = ud;
    if (ps->b.len && kl_buf_putc(&ps->b, ' ') < 0)
        return -1;
    return kl_fpath_format(p, &ps->b);
}

static void test_paths(void **state)
{
    (void)state;
    kl_arena_t a;
    kl_arena_init(&a);
    kl_fset_t *s = set_of(
        &a, "{\"f:spec\":{\"f:replicas\":{},\"f:containers\":{\"k:{\\\"name\\\":\\\"app\\\"}\":"
            "{\".\":{},\"f:image\":{}},\"k:{\\\"containerPort\\\":80,\\\"protocol\\\":"
            "\\\"TCP\\\"}\":{}}},\"f:finalizers\":{\"v:\\\"a/b\\\"\":{}},\"f:list\":{\"i:2\":{}},"
            "\"f:a\":{}}");
    paths_t ps;
    kl_buf_init(&ps.b, 0);
    assert_int_equal(kl_fset_walk(s, collect, &ps), 0);
    assert_int_equal(kl_buf_putc(&ps.b, '\0'), 0);
    /* Members of a level come before the levels below, as upstream iterates. */
    assert_string_equal(ps.b.data, ".a .finalizers[=\"a/b\"] .list[2] .spec.replicas "
                                   ".spec.containers[containerPort=80,protocol=\"TCP\"] "
                                   ".spec.containers[name=\"app\"] "
                                   ".spec.containers[name=\"app\"].image");
    kl_buf_cleanup(&ps.b);
    kl_arena_cleanup(&a);
}

static void test_arena(void **state)
{
    (void)state;
    kl_arena_t a;
    kl_arena_init(&a);
    /* Many small and a few big allocations, all aligned. */
    for (int i = 0; i < 10000; i++) {
        void *p = kl_arena_alloc(&a, (size_t)(i % 97) + 1);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
    }
    assert_non_null(kl_arena_alloc(&a, 100000));
    assert_null(kl_arena_alloc(&a, SIZE_MAX));
    assert_true(kl_arena_failed(&a));
    kl_arena_cleanup(&a);
    assert_false(kl_arena_failed(&a));
    /* A wide node: many children appended out of order, sealed once. */
    kl_fset_t *root = kl_fset_new(&a);
    char *names[2000];
    for (int i = 0; i < 2000; i++) {
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "f:k%d", (i * 7919) % 2000);
        names[i] = kl_arena_strndup(&a, buf, (size_t)n);
        kl_fset_t *k = kl_fset_kid(&a, root, names[i], (size_t)n);
        assert_non_null(k);
        k->member = true;
    }
    root = kl_fset_seal(&a, root);
    assert_int_equal(root->n, 2000);
    assert_int_equal(kl_fset_count(root), 2000);
    assert_non_null(kl_fset_get(root, "f:k1234", 7));
    kl_arena_cleanup(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),  cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_operations), cmocka_unit_test(test_paths),
        cmocka_unit_test(test_arena),
    };
    return cmocka_run_group_tests_name("apiserver_managed_fieldset", tests, NULL, NULL);
}
