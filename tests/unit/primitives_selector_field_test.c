/* Field selectors (runtime/primitives/selector_field.c), as k8s.io/apimachinery/pkg/fields
 * ParseSelector: operators, sorting, escapes, errors and matching through a getter. */

#include "kubelua/selector.h"

#include "unit/test_util.h"

static char *format(const kl_fieldsel_t *fs)
{
    kl_buf_t b;
    kl_buf_init(&b, 1 << 20);
    assert_int_equal(kl_fieldsel_format(fs, &b), 0);
    char *r = kl_buf_take(&b, NULL);
    assert_non_null(r);
    return r;
}

typedef struct parse_case {
    const char *in;
    const char *canonical; /* NULL: fails with msg */
    const char *msg;
    size_t nterms;
    const char *field0, *value0; /* the first term, when there is one */
    bool negated0;
} parse_case_t;

static const parse_case_t cases[] = {
    {"", "", NULL, 0, NULL, NULL, false},
    {"metadata.name=x", "metadata.name=x", NULL, 1, "metadata.name", "x", false},
    {"metadata.name==x", "metadata.name=x", NULL, 1, "metadata.name", "x", false},
    {"status.phase!=Running", "status.phase!=Running", NULL, 1, "status.phase", "Running", true},
    {"b=1,a=2", "a=2,b=1", NULL, 2, "a", "2", false},
    {"spec.nodeName=n1,metadata.namespace!=kube-system",
     "metadata.namespace!=kube-system,spec.nodeName=n1", NULL, 2, "metadata.namespace",
     "kube-system", true},
    {"a=b\\,c", "a=b\\,c", NULL, 1, "a", "b,c", false},
    {"a=b\\=c", "a=b\\=c", NULL, 1, "a", "b=c", false},
    {"a=b\\\\c", "a=b\\\\c", NULL, 1, "a", "b\\c", false},
    {"a=x\\,y,b=z", "a=x\\,y,b=z", NULL, 2, "a", "x,y", false},
    {"a=b,", "a=b", NULL, 1, "a", "b", false},
    {",,a=b,,", "a=b", NULL, 1, "a", "b", false},
    {"a=", "a=", NULL, 1, "a", "", false},
    {"=b", "=b", NULL, 1, "", "b", false},
    {"=", "", NULL, 0, NULL, NULL, false},
    {"!=,==", "", NULL, 0, NULL, NULL, false},
    {"a = b", "a = b", NULL, 1, "a ", " b", false},
    {"a!b=c", "a!b=c", NULL, 1, "a!b", "c", false},
    {"a=caf\xc3\xa9", "a=caf\xc3\xa9", NULL, 1, "a", "caf\xc3\xa9", false},
    /* Anything to unescape makes Go re-encode the value: invalid UTF-8 becomes U+FFFD. */
    {"a=\xff\\,", "a=\xef\xbf\xbd\\,", NULL, 1, "a", "\xef\xbf\xbd,", false},
    {"a=\xff", "a=\xff", NULL, 1, "a", "\xff", false},

    {.in = "a", .msg = "invalid selector: 'a'; can't understand 'a'"},
    {.in = "x=1,a", .msg = "invalid selector: 'x=1,a'; can't understand 'a'"},
    {.in = "a!b", .msg = "invalid selector: 'a!b'; can't understand 'a!b'"},
    {.in = "a=b\\", .msg = "invalid field selector: invalid escape sequence: \\"},
    {.in = "a=b\\x", .msg = "invalid field selector: invalid escape sequence: \\x"},
    {.in = "a=b\\\xc3\xa9", .msg = "invalid field selector: invalid escape sequence: \\\xc3\xa9"},
    {.in = "a=b=c", .msg = "invalid field selector: unescaped character in value: 61"},
    {.in = "a!==b", .msg = "invalid field selector: unescaped character in value: 61"},
    {.in = "a===b", .msg = "invalid field selector: unescaped character in value: 61"},
};

static void test_fieldsel_parse_table(void **state)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const parse_case_t *c = &cases[i];
        kl_fieldsel_t *fs = NULL;
        kl_errinfo_t err = {0};
        int rc = kl_fieldsel_parse(c->in, &fs, &err);
        if (c->canonical == NULL) {
            if (rc != KL_EINVAL)
                fail_msg("parse(\"%s\") = %d, want KL_EINVAL", c->in, rc);
            assert_null(fs);
            assert_string_equal(err.msg, c->msg);
            continue;
        }
        if (rc != 0)
            fail_msg("parse(\"%s\"): %s", c->in, err.msg);
        char *f = format(fs);
        if (strcmp(f, c->canonical) != 0)
            fail_msg("parse(\"%s\") formats as \"%s\", want \"%s\"", c->in, f, c->canonical);
        free(f);
        assert_int_equal(kl_fieldsel_count(fs), c->nterms);
        assert_int_equal(kl_fieldsel_is_empty(fs), c->nterms == 0);
        const char *field, *value;
        bool negated;
        if (c->nterms > 0) {
            assert_true(kl_fieldsel_term(fs, 0, &field, &negated, &value));
            assert_string_equal(field, c->field0);
            assert_string_equal(value, c->value0);
            assert_int_equal(negated, c->negated0);
        }
        assert_false(kl_fieldsel_term(fs, c->nterms, &field, &negated, &value));
        kl_fieldsel_free(fs);
    }
    kl_fieldsel_free(NULL);
}

/* A pod's fields: metadata.name and status.phase are set, spec.nodeName is supported but
 * unset, anything else is unsupported. */
static const char *pod_field(const char *field, bool *known, void *ud)
{
    int *calls = ud;
    (*calls)++;
    if (strcmp(field, "metadata.name") == 0)
        return "web-0";
    if (strcmp(field, "status.phase") == 0)
        return "Running";
    if (strcmp(field, "spec.nodeName") == 0)
        return NULL;
    *known = false;
    return NULL;
}

typedef struct match_case {
    const char *sel;
    int want; /* 1, 0, or KL_EINVAL */
    const char *msg;
} match_case_t;

static const match_case_t match_cases[] = {
    {"", 1, NULL},
    {"metadata.name=web-0", 1, NULL},
    {"metadata.name==web-0", 1, NULL},
    {"metadata.name=web-1", 0, NULL},
    {"metadata.name!=web-0", 0, NULL},
    {"metadata.name!=web-1", 1, NULL},
    {"metadata.name=web-0,status.phase!=Running", 0, NULL},
    {"metadata.name=web-0,status.phase=Running", 1, NULL},
    {"spec.nodeName=", 1, NULL},
    {"spec.nodeName!=", 0, NULL},
    {"spec.nodeName=n1", 0, NULL},
    {"spec.foo=bar", KL_EINVAL, "field label not supported: spec.foo"},
    /* Every term is checked, also after one that does not match. */
    {"metadata.name=nope,spec.foo=bar", KL_EINVAL, "field label not supported: spec.foo"},
};

static void test_fieldsel_match_table(void **state)
{
    for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
        const match_case_t *c = &match_cases[i];
        kl_fieldsel_t *fs;
        assert_int_equal(kl_fieldsel_parse(c->sel, &fs, NULL), 0);
        int calls = 0;
        kl_errinfo_t err = {0};
        int rc = kl_fieldsel_matches(fs, pod_field, &calls, &err);
        if (rc != c->want)
            fail_msg("\"%s\": %d, want %d", c->sel, rc, c->want);
        if (c->msg != NULL)
            assert_string_equal(err.msg, c->msg);
        else
            assert_int_equal((size_t)calls, kl_fieldsel_count(fs));
        kl_fieldsel_free(fs);
    }
}

static void test_fieldsel_exact(void **state)
{
    kl_fieldsel_t *fs;
    assert_int_equal(
        kl_fieldsel_parse("status.phase!=x,metadata.name==web\\,0,status.phase=y", &fs, NULL), 0);
    assert_string_equal(kl_fieldsel_exact(fs, "metadata.name"), "web,0");
    assert_string_equal(kl_fieldsel_exact(fs, "status.phase"), "y");
    assert_null(kl_fieldsel_exact(fs, "spec.nodeName"));
    kl_fieldsel_free(fs);
    assert_int_equal(kl_fieldsel_parse("a!=b", &fs, NULL), 0);
    assert_null(kl_fieldsel_exact(fs, "a"));
    kl_fieldsel_free(fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fieldsel_parse_table),
        cmocka_unit_test(test_fieldsel_match_table),
        cmocka_unit_test(test_fieldsel_exact),
    };
    return cmocka_run_group_tests_name("primitives_selector_field", tests, NULL, NULL);
}
