/* Label selectors (runtime/primitives/selector.c): the string form, matching, the structured
 * metav1.LabelSelector form, node selector requirements, SelectorFromSet and the canonical
 * form. Expected messages are upstream's (k8s.io/apimachinery labels, content validation). */

#include "kubelua/selector.h"

#include "unit/test_util.h"

/* Upstream message texts, spelled out independently of the implementation. */
#define QNAME_RULE                                                                                 \
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "    \
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "         \
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
#define VALUE_RULE                                                                                 \
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "    \
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "             \
    "'my_value',  or '12345', regex used for validation is "                                       \
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
#define KEY_SHAPE_RULE                                                                             \
    "a valid label key " QNAME_RULE                                                                \
    " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
#define REQ "unable to parse requirement: "
#define INT_RULE "for 'Gt', 'Lt' operators, the value must be an integer"

static char *format(const kl_selector_t *s)
{
    kl_buf_t b;
    kl_buf_init(&b, 1 << 20);
    assert_int_equal(kl_selector_format(s, &b), 0);
    char *r = kl_buf_take(&b, NULL);
    assert_non_null(r);
    return r;
}

/* Compares err->msg with the expected text, which kl_errinfo_t may have cut at 511 bytes. */
static void assert_msg(const kl_errinfo_t *err, const char *want)
{
    size_t keep = sizeof(err->msg) - 1;
    if (strlen(want) <= keep) {
        if (strcmp(err->msg, want) != 0)
            fail_msg("message\n  got:  %s\n  want: %s", err->msg, want);
    } else if (strlen(err->msg) != keep || strncmp(err->msg, want, keep) != 0) {
        fail_msg("message (cut)\n  got:  %s\n  want: %.*s", err->msg, (int)keep, want);
    }
}

typedef struct parse_case {
    const char *in;
    const char *canonical; /* NULL: must fail with msg */
    const char *msg;
} parse_case_t;

static const parse_case_t parse_cases[] = {
    {"", "", NULL},
    {" \t\r\n", "", NULL},
    {"x=a", "x=a", NULL},
    {"x==a", "x==a", NULL},
    {"x!=a", "x!=a", NULL},
    {"x", "x", NULL},
    {"!x", "!x", NULL},
    {" ! x ", "!x", NULL},
    {"x=", "x=", NULL},
    {"x=,y=z", "x=,y=z", NULL},
    {"x = a , y != b", "x=a,y!=b", NULL},
    {"x in (b,a,a)", "x in (a,b)", NULL},
    {"x notin (a)", "x notin (a)", NULL},
    {"x in(a)", "x in (a)", NULL},
    {"x\tin\n( a , b )", "x in (a,b)", NULL},
    {"x in ()", "x in ()", NULL},
    {"x in (,a)", "x in (,a)", NULL},
    {"x in (a,,b)", "x in (,a,b)", NULL},
    {"x in (a,)", "x in (,a)", NULL},
    {"x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()", NULL},
    {"b=1,a=2,c", "a=2,b=1,c", NULL},
    {"a=b,a!=c", "a=b,a!=c", NULL},
    {"a!=c,a=b", "a!=c,a=b", NULL},
    {"x>1,y<10", "x>1,y<10", NULL},
    {"x>007", "x>007", NULL},
    {"in=notin", "in=notin", NULL},
    {"!in", "!in", NULL},
    {"x in (in,notin)", "x in (in,notin)", NULL},
    {"example.com/app=web", "example.com/app=web", NULL},
    {"app.kubernetes.io/name in (a.b,A_B)", "app.kubernetes.io/name in (A_B,a.b)", NULL},
    {"k=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     "k=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL},

    {",", NULL, "found ',', expected: !, identifier, or 'end of string'"},
    {"=a", NULL, "found '=', expected: !, identifier, or 'end of string'"},
    {"!=", NULL, "found '!=', expected: !, identifier, or 'end of string'"},
    {"x,", NULL, "found '', expected: identifier after ','"},
    {"x,,y", NULL, "found ',', expected: identifier after ','"},
    {"x=a b", NULL, "found 'b', expected: ',' or 'end of string'"},
    {"x=a)", NULL, "found ')', expected: ',' or 'end of string'"},
    {"!x=a", NULL, "found '=', expected: ',' or 'end of string'"},
    {"x in (a)b", NULL, "found 'b', expected: ',' or 'end of string'"},
    {"!", NULL, REQ "found '', expected: identifier"},
    {"!!x", NULL, REQ "found '!', expected: identifier"},
    {"x y", NULL, REQ "found 'y', expected: in, notin, =, ==, !=, gt, lt"},
    {"x (a)", NULL, REQ "found '(', expected: in, notin, =, ==, !=, gt, lt"},
    {"x in", NULL, REQ "found '' expected: '('"},
    {"x notin a", NULL, REQ "found 'a' expected: '('"},
    {"x in (", NULL, REQ "found '', expected: ',', ')' or identifier"},
    {"x in (=)", NULL, REQ "found '=', expected: ',', ')' or identifier"},
    {"x in (a", NULL, REQ "found '', expected: ',' or ')'"},
    {"x in (a b)", NULL, REQ "found 'b', expected: ',' or ')'"},
    {"x in (a,=)", NULL, REQ "found '=', expected: ',', or identifier"},
    {"x==(", NULL, REQ "found '(', expected: identifier"},
    {"x=!", NULL, REQ "found '!', expected: identifier"},
    {"a/b/c=d", NULL, REQ "<nil>: Invalid value: \"a/b/c\": " KEY_SHAPE_RULE},
    {"-x", NULL, REQ "<nil>: Invalid value: \"-x\": name part " QNAME_RULE},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL,
     REQ "<nil>: Invalid value: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "a\": name part must be no more than 63 bytes"},
    {"x=a_", NULL, REQ "values[0][x]: Invalid value: \"a_\": " VALUE_RULE},
    {"x in (ok,b_)", NULL, REQ "values[0][x]: Invalid value: \"b_\": " VALUE_RULE},
    {"x>a", NULL, REQ "values[0]: Invalid value: \"a\": " INT_RULE},
    {"x<", NULL, REQ "values[0]: Invalid value: \"\": " INT_RULE},
    {"x>99999999999999999999", NULL,
     REQ "values[0]: Invalid value: \"99999999999999999999\": " INT_RULE},
    {"x>-1", NULL, REQ "values[0][x]: Invalid value: \"-1\": " VALUE_RULE},
    {"x>a_", NULL,
     REQ "[values[0]: Invalid value: \"a_\": " INT_RULE
         ", values[0][x]: Invalid value: \"a_\": " VALUE_RULE "]"},
    {"x in (_a,b_)", NULL,
     REQ "[values[0][x]: Invalid value: \"_a\": " VALUE_RULE
         ", values[1][x]: Invalid value: \"b_\": " VALUE_RULE "]"},
};

static void test_selector_parse_table(void **state)
{
    for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        const parse_case_t *c = &parse_cases[i];
        kl_selector_t *s = NULL;
        kl_errinfo_t err = {0};
        int rc = kl_selector_parse(c->in, &s, &err);
        if (c->canonical != NULL) {
            if (rc != 0)
                fail_msg("parse(\"%s\") failed: %s", c->in, err.msg);
            char *f = format(s);
            if (strcmp(f, c->canonical) != 0)
                fail_msg("parse(\"%s\") formats as \"%s\", want \"%s\"", c->in, f, c->canonical);
            free(f);
            assert_int_equal(kl_selector_is_empty(s), c->canonical[0] == '\0');
            assert_false(kl_selector_is_nothing(s));
            /* The canonical form parses to the same selector. */
            kl_selector_t *s2 = NULL;
            assert_int_equal(kl_selector_parse(c->canonical, &s2, NULL), 0);
            char *f2 = format(s2);
            assert_string_equal(f2, c->canonical);
            free(f2);
            kl_selector_free(s2);
            kl_selector_free(s);
        } else {
            if (rc != KL_EINVAL)
                fail_msg("parse(\"%s\") = %d, want KL_EINVAL", c->in, rc);
            assert_null(s);
            assert_int_equal(err.code, KL_EINVAL);
            assert_msg(&err, c->msg);
        }
    }
    kl_selector_t *s = NULL;
    assert_int_equal(kl_selector_parse(NULL, &s, NULL), 0);
    assert_true(kl_selector_is_empty(s));
    kl_selector_free(s);
    kl_selector_free(NULL);
}

typedef struct match_case {
    const char *sel;
    const char *labels; /* JSON; NULL for a missing value */
    bool want;
} match_case_t;

static const match_case_t match_cases[] = {
    {"", "{}", true},
    {"", "{\"a\":\"b\"}", true},
    {"", NULL, true},
    {"a=b", "{\"a\":\"b\"}", true},
    {"a==b", "{\"a\":\"b\"}", true},
    {"a=b", "{\"a\":\"c\"}", false},
    {"a=b", "{\"a\":\"bb\"}", false},
    {"a=b", "{}", false},
    {"a=b", NULL, false},
    {"a=b", "null", false},
    {"a!=b", "{}", true},
    {"a!=b", NULL, true},
    {"a!=b", "{\"a\":\"b\"}", false},
    {"a!=b", "{\"a\":\"c\"}", true},
    {"a in (b,c)", "{\"a\":\"c\"}", true},
    {"a in (b,c)", "{\"a\":\"d\"}", false},
    {"a in (b,c)", "{}", false},
    {"a notin (b,c)", "{}", true},
    {"a notin (b,c)", "{\"a\":\"b\"}", false},
    {"a notin (b,c)", "{\"a\":\"d\"}", true},
    {"a", "{\"a\":\"\"}", true},
    {"a", "{\"b\":\"a\"}", false},
    {"!a", "{}", true},
    {"!a", "{\"a\":\"x\"}", false},
    {"a=", "{\"a\":\"\"}", true},
    {"a=", "{}", false},
    {"a in ()", "{\"a\":\"\"}", true},
    {"a>5", "{\"a\":\"6\"}", true},
    {"a>5", "{\"a\":\"5\"}", false},
    {"a>5", "{\"a\":\"x\"}", false},
    {"a>5", "{\"a\":\"\"}", false},
    {"a>5", "{}", false},
    {"a<5", "{\"a\":\"-7\"}", true},
    {"a<5", "{\"a\":\"+3\"}", true},
    {"a<5", "{\"a\":\"5\"}", false},
    {"a<5", "{\"a\":\"99999999999999999999\"}", false},
    {"a=b,c=d", "{\"a\":\"b\",\"c\":\"d\"}", true},
    {"a=b,c=d", "{\"a\":\"b\"}", false},
    {"a=b,!c", "{\"a\":\"b\",\"c\":\"d\"}", false},
    {"a", "{\"a\":1}", false}, /* not a string: no such label */
    {"!a", "{\"a\":null}", true},
    {"app=web,tier in (fe,be),!canary,release",
     "{\"release\":\"1\",\"tier\":\"be\",\"app\":\"web\",\"x\":\"y\"}", true},
};

static void test_selector_match_table(void **state)
{
    for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
        const match_case_t *c = &match_cases[i];
        kl_selector_t *s = NULL;
        kl_errinfo_t err;
        if (kl_selector_parse(c->sel, &s, &err) != 0)
            fail_msg("parse(\"%s\"): %s", c->sel, err.msg);
        kl_obj_t *doc = NULL;
        kl_json_t *tree = NULL;
        kl_val_t labels = {0};
        if (c->labels != NULL) {
            assert_int_equal(kl_obj_parse_json(c->labels, strlen(c->labels), NULL, &doc, NULL), 0);
            assert_int_equal(kl_json_parse(c->labels, strlen(c->labels), NULL, &tree, NULL), 0);
            labels = kl_obj_root(doc);
        }
        if (kl_selector_matches(s, labels) != c->want)
            fail_msg("\"%s\" vs %s: want %d", c->sel, c->labels ? c->labels : "(missing)", c->want);
        if (kl_selector_matches_json(s, tree) != c->want)
            fail_msg("\"%s\" vs tree %s: want %d", c->sel, c->labels ? c->labels : "(NULL)",
                     c->want);
        kl_json_free(tree);
        kl_obj_unref(doc);
        kl_selector_free(s);
    }
}

static void test_selector_nothing(void **state)
{
    kl_selector_t *s = NULL;
    assert_int_equal(kl_selector_nothing(&s), 0);
    assert_true(kl_selector_is_nothing(s));
    assert_false(kl_selector_is_empty(s));
    kl_obj_t *doc;
    assert_int_equal(kl_obj_parse_json("{}", 2, NULL, &doc, NULL), 0);
    assert_false(kl_selector_matches(s, kl_obj_root(doc)));
    assert_false(kl_selector_matches(s, (kl_val_t){0}));
    assert_false(kl_selector_matches_json(s, NULL));
    char *f = format(s);
    assert_string_equal(f, "");
    free(f);
    assert_false(kl_selector_requirement(s, 0, NULL, NULL, NULL));
    assert_null(kl_selector_exact(s, "a"));
    kl_obj_unref(doc);
    kl_selector_free(s);
}

typedef struct struct_case {
    const char *json; /* NULL: a missing value / NULL tree */
    bool null_nothing;
    const char *canonical; /* "<nothing>" for the nothing selector; NULL: fails with msg */
    const char *msg;
} struct_case_t;

static const struct_case_t struct_cases[] = {
    {NULL, true, "<nothing>", NULL},
    {NULL, false, "", NULL},
    {"null", true, "<nothing>", NULL},
    {"null", false, "", NULL},
    {"{}", true, "", NULL},
    {"{}", false, "", NULL},
    {"{\"matchLabels\":{},\"matchExpressions\":[]}", true, "", NULL},
    {"{\"matchLabels\":null,\"matchExpressions\":null}", true, "", NULL},
    {"{\"matchLabels\":{\"b\":\"1\",\"a\":\"2\"}}", true, "a=2,b=1", NULL},
    {"{\"matchLabels\":{\"a\":null}}", true, "a=", NULL},
    {"{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":["
     "{\"key\":\"tier\",\"operator\":\"In\",\"values\":[\"b\",\"a\"]},"
     "{\"key\":\"x\",\"operator\":\"Exists\"},"
     "{\"key\":\"y\",\"operator\":\"DoesNotExist\",\"values\":null},"
     "{\"key\":\"z\",\"operator\":\"NotIn\",\"values\":[\"q\",\"q\"]}]}",
     true, "app=web,tier in (a,b),x,!y,z notin (q,q)", NULL},
    {"{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\"}],"
     "\"matchLabels\":{\"a\":\"1\"}}",
     true, "a=1,a", NULL},
    {"{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"in\",\"values\":[\"x\"]}]}", true, NULL,
     "\"in\" is not a valid label selector operator"},
    {"{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Gt\",\"values\":[\"1\"]}]}", true, NULL,
     "\"Gt\" is not a valid label selector operator"},
    {"{\"matchExpressions\":[{\"key\":\"a\"}]}", true, NULL,
     "\"\" is not a valid label selector operator"},
    {"{\"matchExpressions\":[null]}", true, NULL, "\"\" is not a valid label selector operator"},
    {"{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\",\"values\":[]}]}", true, NULL,
     "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be "
     "empty"},
    {"{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"NotIn\"}]}", true, NULL,
     "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be "
     "empty"},
    {"{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\",\"values\":[\"a\",\"b\"]}]}",
     true, NULL,
     "values: Invalid value: []string{\"a\", \"b\"}: values set must be empty for exists and does "
     "not exist"},
    {"{\"matchExpressions\":[{\"key\":\"a b\",\"operator\":\"Exists\"}]}", true, NULL,
     "key: Invalid value: \"a b\": name part " QNAME_RULE},
    {"{\"matchExpressions\":[{\"key\":\"a\\nb\\\"\\u00e9\\u0001\",\"operator\":\"Exists\"}]}", true,
     NULL, "key: Invalid value: \"a\\nb\\\"\xc3\xa9\\x01\": name part " QNAME_RULE},
    {"{\"matchExpressions\":[{\"key\":\"-a\",\"operator\":\"In\",\"values\":[]}]}", true, NULL,
     "[key: Invalid value: \"-a\": name part " QNAME_RULE
     ", values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be "
     "empty]"},
    {"{\"matchLabels\":{\"a\":\"b c\"}}", true, NULL,
     "values[0][a]: Invalid value: \"b c\": " VALUE_RULE},
    {"{\"matchLabels\":{\"a\":1}}", true, NULL, "matchLabels.a: expected a string"},
    {"{\"matchLabels\":[]}", true, NULL, "matchLabels: expected an object"},
    {"{\"matchExpressions\":{}}", true, NULL, "matchExpressions: expected an array"},
    {"{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\",\"values\":[1]}]}", true, NULL,
     "matchExpressions[0].values[0]: expected a string"},
    {"[]", true, NULL, "label selector: expected an object"},
};

static void check_struct(const struct_case_t *c, int rc, kl_selector_t *s, const kl_errinfo_t *err)
{
    if (c->canonical == NULL) {
        if (rc != KL_EINVAL)
            fail_msg("%s: rc %d, want KL_EINVAL", c->json, rc);
        assert_null(s);
        assert_msg(err, c->msg);
        return;
    }
    if (rc != 0)
        fail_msg("%s: %s", c->json ? c->json : "(missing)", err->msg);
    if (strcmp(c->canonical, "<nothing>") == 0) {
        assert_true(kl_selector_is_nothing(s));
    } else {
        assert_false(kl_selector_is_nothing(s));
        char *f = format(s);
        if (strcmp(f, c->canonical) != 0)
            fail_msg("%s formats as \"%s\", want \"%s\"", c->json, f, c->canonical);
        free(f);
        assert_int_equal(kl_selector_is_empty(s), c->canonical[0] == '\0');
    }
    kl_selector_free(s);
}

static void test_selector_structured_table(void **state)
{
    for (size_t i = 0; i < sizeof(struct_cases) / sizeof(struct_cases[0]); i++) {
        const struct_case_t *c = &struct_cases[i];
        kl_obj_t *doc = NULL;
        kl_json_t *tree = NULL;
        if (c->json != NULL) {
            assert_int_equal(kl_obj_parse_json(c->json, strlen(c->json), NULL, &doc, NULL), 0);
            assert_int_equal(kl_json_parse(c->json, strlen(c->json), NULL, &tree, NULL), 0);
        }
        kl_selector_t *s = NULL;
        kl_errinfo_t err = {0};
        int rc =
            kl_selector_from_val(doc ? kl_obj_root(doc) : (kl_val_t){0}, c->null_nothing, &s, &err);
        check_struct(c, rc, s, &err);
        s = NULL;
        memset(&err, 0, sizeof(err));
        rc = kl_selector_from_json(tree, c->null_nothing, &s, &err);
        check_struct(c, rc, s, &err);
        kl_json_free(tree);
        kl_obj_unref(doc);
    }
}

static void test_selector_structured_matching(void **state)
{
    const char *sel = "{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":["
                      "{\"key\":\"track\",\"operator\":\"NotIn\",\"values\":[\"canary\"]}]}";
    kl_obj_t *doc;
    assert_int_equal(kl_obj_parse_json(sel, strlen(sel), NULL, &doc, NULL), 0);
    kl_selector_t *s;
    assert_int_equal(kl_selector_from_val(kl_obj_root(doc), true, &s, NULL), 0);
    kl_json_t *l;
    assert_int_equal(kl_json_parse("{\"app\":\"web\"}", 13, NULL, &l, NULL), 0);
    assert_true(kl_selector_matches_json(s, l));
    assert_int_equal(kl_json_set_str(l, "track", "canary"), 0);
    assert_false(kl_selector_matches_json(s, l));
    assert_int_equal(kl_json_set_str(l, "track", "stable"), 0);
    assert_true(kl_selector_matches_json(s, l));
    kl_json_free(l);
    kl_selector_free(s);
    kl_obj_unref(doc);
}

typedef struct node_case {
    const char *json;
    const char *canonical; /* "<nothing>"; NULL: fails with msg */
    const char *msg;
} node_case_t;

static const node_case_t node_cases[] = {
    {"[]", "<nothing>", NULL},
    {"null", "<nothing>", NULL},
    {"[{\"key\":\"cpu\",\"operator\":\"Gt\",\"values\":[\"4\"]},"
     "{\"key\":\"zone\",\"operator\":\"In\",\"values\":[\"b\",\"a\"]},"
     "{\"key\":\"mem\",\"operator\":\"Lt\",\"values\":[\"64\"]},"
     "{\"key\":\"gpu\",\"operator\":\"DoesNotExist\"}]",
     "cpu>4,!gpu,mem<64,zone in (a,b)", NULL},
    {"[{\"key\":\"cpu\",\"operator\":\"Gt\",\"values\":[\"1\",\"2\"]}]", NULL,
     "values: Invalid value: []string{\"1\", \"2\"}: for 'Gt', 'Lt' operators, exactly one value "
     "is required"},
    {"[{\"key\":\"cpu\",\"operator\":\"Lt\",\"values\":[\"x\"]}]", NULL,
     "values[0]: Invalid value: \"x\": " INT_RULE},
    {"[{\"key\":\"cpu\",\"operator\":\"Gt\"}]", NULL,
     "values: Invalid value: []string(nil): for 'Gt', 'Lt' operators, exactly one value is "
     "required"},
    {"[{\"key\":\"a\",\"operator\":\"In\",\"values\":[]}]", NULL,
     "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"},
    {"[{\"key\":\"a\",\"operator\":\"In\"}]", NULL,
     "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be "
     "empty"},
    {"[{\"key\":\"a\",\"operator\":\"Foo\"}]", NULL,
     "\"Foo\" is not a valid node selector operator"},
    {"{}", NULL, "matchExpressions: expected an array"},
};

static void test_selector_node_requirements_table(void **state)
{
    for (size_t i = 0; i < sizeof(node_cases) / sizeof(node_cases[0]); i++) {
        const node_case_t *c = &node_cases[i];
        kl_obj_t *doc;
        kl_json_t *tree;
        assert_int_equal(kl_obj_parse_json(c->json, strlen(c->json), NULL, &doc, NULL), 0);
        assert_int_equal(kl_json_parse(c->json, strlen(c->json), NULL, &tree, NULL), 0);
        for (int form = 0; form < 2; form++) {
            kl_selector_t *s = NULL;
            kl_errinfo_t err = {0};
            int rc = form == 0 ? kl_selector_from_node_requirements(kl_obj_root(doc), &s, &err)
                               : kl_selector_from_node_requirements_json(tree, &s, &err);
            struct_case_t sc = {c->json, true, c->canonical, c->msg};
            check_struct(&sc, rc, s, &err);
        }
        kl_json_free(tree);
        kl_obj_unref(doc);
    }

    const char *terms = "[{\"key\":\"cpu\",\"operator\":\"Gt\",\"values\":[\"4\"]}]";
    kl_obj_t *doc, *node;
    assert_int_equal(kl_obj_parse_json(terms, strlen(terms), NULL, &doc, NULL), 0);
    kl_selector_t *s;
    assert_int_equal(kl_selector_from_node_requirements(kl_obj_root(doc), &s, NULL), 0);
    assert_int_equal(kl_obj_parse_json("{\"cpu\":\"8\"}", 11, NULL, &node, NULL), 0);
    assert_true(kl_selector_matches(s, kl_obj_root(node)));
    kl_obj_unref(node);
    assert_int_equal(kl_obj_parse_json("{\"cpu\":\"4\"}", 11, NULL, &node, NULL), 0);
    assert_false(kl_selector_matches(s, kl_obj_root(node)));
    kl_obj_unref(node);
    kl_selector_free(s);
    kl_obj_unref(doc);
}

static void test_selector_from_set(void **state)
{
    const char *labels = "{\"b\":\"1\",\"a\":\"x y\",\"c\":\"\"}";
    kl_obj_t *doc;
    kl_json_t *tree;
    assert_int_equal(kl_obj_parse_json(labels, strlen(labels), NULL, &doc, NULL), 0);
    assert_int_equal(kl_json_parse(labels, strlen(labels), NULL, &tree, NULL), 0);
    kl_selector_t *s, *s2;
    assert_int_equal(kl_selector_from_set(kl_obj_root(doc), &s, NULL), 0);
    assert_int_equal(kl_selector_from_set_json(tree, &s2, NULL), 0);
    char *f = format(s), *f2 = format(s2);
    assert_string_equal(f, "a=x y,b=1,c="); /* not validated, as SelectorFromSet */
    assert_string_equal(f2, f);
    assert_true(kl_selector_matches(s, kl_obj_root(doc)));
    assert_true(kl_selector_matches_json(s2, tree));
    free(f);
    free(f2);
    kl_selector_free(s);
    kl_selector_free(s2);
    kl_json_free(tree);
    kl_obj_unref(doc);

    assert_int_equal(kl_selector_from_set((kl_val_t){0}, &s, NULL), 0);
    assert_true(kl_selector_is_empty(s));
    kl_selector_free(s);
    assert_int_equal(kl_selector_from_set_json(NULL, &s, NULL), 0);
    assert_true(kl_selector_is_empty(s));
    kl_selector_free(s);
    assert_int_equal(kl_obj_parse_json("{\"a\":1}", 7, NULL, &doc, NULL), 0);
    kl_errinfo_t err;
    s = NULL;
    assert_int_equal(kl_selector_from_set(kl_obj_root(doc), &s, &err), KL_EINVAL);
    assert_null(s);
    assert_string_equal(err.msg, "labels.a: expected a string");
    kl_obj_unref(doc);
}

static void test_selector_requirements_and_exact(void **state)
{
    kl_selector_t *s;
    assert_int_equal(kl_selector_parse("z notin (b,a),a==1,m,!n,k in (only),c>3", &s, NULL), 0);
    static const struct {
        const char *key;
        kl_sel_op_t op;
        const char *vals[3];
    } want[] = {
        {"a", KL_SEL_EQUALS, {"1"}},       {"c", KL_SEL_GT, {"3"}},
        {"k", KL_SEL_IN, {"only"}},        {"m", KL_SEL_EXISTS, {0}},
        {"n", KL_SEL_DOES_NOT_EXIST, {0}}, {"z", KL_SEL_NOT_IN, {"a", "b"}},
    };
    size_t i = 0;
    const char *key;
    kl_sel_op_t op;
    const char *const *vals;
    for (; kl_selector_requirement(s, i, &key, &op, &vals); i++) {
        assert_true(i < 6);
        assert_string_equal(key, want[i].key);
        assert_int_equal(op, want[i].op);
        size_t j = 0;
        for (; vals[j] != NULL; j++)
            assert_string_equal(vals[j], want[i].vals[j]);
        assert_null(want[i].vals[j]);
    }
    assert_int_equal(i, 6);
    assert_string_equal(kl_selector_exact(s, "a"), "1");
    assert_string_equal(kl_selector_exact(s, "k"), "only");
    assert_null(kl_selector_exact(s, "z"));
    assert_null(kl_selector_exact(s, "m"));
    assert_null(kl_selector_exact(s, "c"));
    assert_null(kl_selector_exact(s, "nope"));
    kl_selector_free(s);

    /* Only the first requirement on a key counts, as RequiresExactMatch. */
    assert_int_equal(kl_selector_parse("a!=x,a=y", &s, NULL), 0);
    assert_null(kl_selector_exact(s, "a"));
    kl_selector_free(s);
    assert_int_equal(kl_selector_parse("a=y,a!=x", &s, NULL), 0);
    assert_string_equal(kl_selector_exact(s, "a"), "y");
    kl_selector_free(s);
    assert_int_equal(kl_selector_parse("a in (x,y)", &s, NULL), 0);
    assert_null(kl_selector_exact(s, "a"));
    kl_selector_free(s);
}

/* Many requirements and values: sorting stays stable and the canonical form round-trips. */
static void test_selector_large(void **state)
{
    kl_buf_t in;
    kl_buf_init(&in, 1 << 24);
    for (int i = 2000; i > 0; i--)
        assert_int_equal(kl_buf_printf(&in, "%sk%d in (v%d,v%d,v%d)", i < 2000 ? "," : "", i % 50,
                                       i, i * 7 % 1000, i),
                         0);
    kl_selector_t *s;
    kl_errinfo_t err;
    if (kl_selector_parse(in.data, &s, &err) != 0)
        fail_msg("%s", err.msg);
    const char *prev = "";
    const char *key;
    size_t i = 0;
    for (; kl_selector_requirement(s, i, &key, NULL, NULL); i++) {
        assert_true(strcmp(prev, key) <= 0);
        prev = key;
    }
    assert_int_equal(i, 2000);
    char *f = format(s);
    kl_selector_t *s2;
    assert_int_equal(kl_selector_parse(f, &s2, NULL), 0);
    char *f2 = format(s2);
    assert_string_equal(f, f2);
    free(f);
    free(f2);
    kl_selector_free(s2);
    kl_selector_free(s);
    kl_buf_cleanup(&in);
}

/* Thousands of bad values: the message starts as upstream's and collecting stays bounded. */
static void test_selector_many_errors(void **state)
{
    kl_buf_t in;
    kl_buf_init(&in, 1 << 24);
    assert_int_equal(kl_buf_puts(&in, "x in ("), 0);
    for (int i = 0; i < 20000; i++)
        assert_int_equal(kl_buf_printf(&in, "%s_%05d", i ? "," : "", i), 0);
    assert_int_equal(kl_buf_puts(&in, ")"), 0);
    kl_selector_t *s = NULL;
    kl_errinfo_t err;
    assert_int_equal(kl_selector_parse(in.data, &s, &err), KL_EINVAL);
    assert_null(s);
    assert_msg(&err, REQ "[values[0][x]: Invalid value: \"_00000\": " VALUE_RULE
                         ", values[1][x]: Invalid value: \"_00001\": " VALUE_RULE ", ...");
    kl_buf_cleanup(&in);

    /* Bytes that are not printable or not UTF-8 are quoted as Go's %q does. */
    assert_int_equal(kl_selector_parse("caf\xc3\xa9\xff\x7f=1", &s, &err), KL_EINVAL);
    assert_string_equal(err.msg, REQ
                        "<nil>: Invalid value: \"caf\xc3\xa9\\xff\\x7f\": name part " QNAME_RULE);
    assert_int_equal(kl_selector_parse("k=\xc2\xa0", &s, &err), KL_EINVAL);
    assert_string_equal(err.msg, REQ "values[0][k]: Invalid value: \"\\u00a0\": " VALUE_RULE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selector_parse_table),
        cmocka_unit_test(test_selector_match_table),
        cmocka_unit_test(test_selector_nothing),
        cmocka_unit_test(test_selector_structured_table),
        cmocka_unit_test(test_selector_structured_matching),
        cmocka_unit_test(test_selector_node_requirements_table),
        cmocka_unit_test(test_selector_from_set),
        cmocka_unit_test(test_selector_requirements_and_exact),
        cmocka_unit_test(test_selector_large),
        cmocka_unit_test(test_selector_many_errors),
    };
    return cmocka_run_group_tests_name("primitives_selector", tests, NULL, NULL);
}
