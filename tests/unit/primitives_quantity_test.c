/* Resource quantities (runtime/primitives/quantity.c): ParseQuantity's grammar, suffixes,
 * rounding, caps and messages. */
#include <limits.h>

#include "kubelua/quantity.h"

#include "unit/test_util.h"

#define FORMAT_MSG                                                                                 \
    "quantities must match the regular expression "                                                \
    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
#define NUMERIC_MSG "unable to parse numeric part of quantity"
#define SUFFIX_MSG "unable to parse quantity's suffix"

typedef struct qcase {
    const char *in;
    int64_t value; /* Value() */
    int64_t milli; /* MilliValue() */
} qcase_t;

static const qcase_t good[] = {
    {"0", 0, 0},
    {"100m", 1, 100},
    {"500m", 1, 500},
    {"200Mi", 209715200, 209715200000},
    {"100Mi", 104857600, 104857600000},
    {"1Gi", 1073741824, 1073741824000},
    {"2", 2, 2000},
    {"1e3", 1000, 1000000},
    {"1E3", 1000, 1000000},
    {"1e+3", 1000, 1000000},
    {"1e-3", 1, 1},
    {"1E-3", 1, 1},
    {"1.5", 2, 1500},
    {"2.5", 3, 2500},
    {"1.5Gi", 1610612736, 1610612736000},
    {"0.5Gi", 536870912, 536870912000},
    {"1.5Mi", 1572864, 1572864000},
    {"1.1Ki", 1127, 1126400},
    {"1k", 1000, 1000000},
    {"1Ki", 1024, 1024000},
    {"1M", 1000000, 1000000000},
    {"1G", 1000000000, 1000000000000},
    {"1T", 1000000000000, 1000000000000000},
    {"1P", 1000000000000000, 1000000000000000000},
    {"1E", 1000000000000000000, INT64_MAX},
    {"8E", 8000000000000000000, INT64_MAX},
    {"1n", 1, 1},
    {"1u", 1, 1},
    {"1m", 1, 1},
    {"0.1m", 1, 1},
    {"-1", -1, -1000},
    {"-100m", -1, -100},
    {"-1.5Gi", -1610612736, -1610612736000},
    {"+5", 5, 5000},
    {"007", 7, 7000},
    {"000", 0, 0},
    {".5", 1, 500},
    {"5.", 5, 5000},
    {"1.G", 1000000000, 1000000000000},
    {".", 0, 0},
    {"-", 0, 0},
    {"+", 0, 0},
    {".Ki", 0, 0},
    {".Ti", 0, 0},
    {"0.e-10", 0, 0},
    {"1.0000000001", 2, 1001},
    {"1e-10", 1, 1},
    {"0.000000000000000000000000000001", 1, 1},
    {"1e-1000000000", 1, 1},
    {"0e1000000000", 0, 0},
    {"0.0Ei", 0, 0},
    {"9223372036854775807", INT64_MAX, INT64_MAX},
    {"9223372036854775808", INT64_MAX, INT64_MAX},
    {"10E", INT64_MAX, INT64_MAX},
    {"16Ei", INT64_MAX, INT64_MAX},
    {"8Ei", INT64_MAX, INT64_MAX},
    {"7Ei", 8070450532247928832, INT64_MAX},
    {"123456789012345678901234567890", INT64_MAX, INT64_MAX},
    {"1e1000000000", INT64_MAX, INT64_MAX},
    {"-1e1000000000", -INT64_MAX, INT64_MIN},
    /* Go's int32(parsed) wraps the exponent: 2^32 becomes 0. */
    {"1e4294967296", 1, 1000},
    {"12345678901234567890.5", INT64_MAX, INT64_MAX},
    {"1234567890123456789", 1234567890123456789, INT64_MAX},
    {"0.000000001", 1, 1},
    {"999999999n", 1, 1000},
    {"1000000000n", 1, 1000},
    {"1500000001n", 2, 1501},
};

static void test_quantity_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        kl_quantity_t q;
        kl_errinfo_t err;
        int rc = kl_quantity_parse(good[i].in, strlen(good[i].in), &q, &err);
        if (rc != 0)
            fail_msg("%s: %s", good[i].in, err.msg);
        if (kl_quantity_value(&q) != good[i].value || kl_quantity_milli(&q) != good[i].milli)
            fail_msg("%s: value %lld milli %lld, want %lld %lld", good[i].in,
                     (long long)kl_quantity_value(&q), (long long)kl_quantity_milli(&q),
                     (long long)good[i].value, (long long)good[i].milli);
    }
}

typedef struct bad_case {
    const char *in;
    const char *msg;
} bad_case_t;

static const bad_case_t bad[] = {
    {"", FORMAT_MSG},      {"abc", FORMAT_MSG},
    {"1 ", FORMAT_MSG},    {" 1", FORMAT_MSG},
    {"1.5.5", FORMAT_MSG}, {"1Kb", FORMAT_MSG},
    {"1e3.5", FORMAT_MSG}, {"--1", SUFFIX_MSG},
    {"1-", SUFFIX_MSG},    {"1e", SUFFIX_MSG},
    {"1K", SUFFIX_MSG},    {"1ki", SUFFIX_MSG},
    {"1Mi3", SUFFIX_MSG},  {"1mi", SUFFIX_MSG},
    {"1e+", SUFFIX_MSG},   {"1e9223372036854775808", SUFFIX_MSG},
    {"1EE", SUFFIX_MSG},   {".e-10", NUMERIC_MSG},
    {".Pi", NUMERIC_MSG},  {"-.Ei", NUMERIC_MSG},
};

static void test_quantity_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kl_quantity_t q = {.units = 42};
        kl_errinfo_t err;
        int rc = kl_quantity_parse(bad[i].in, strlen(bad[i].in), &q, &err);
        if (rc != KL_ESYNTAX)
            fail_msg("'%s' parsed (rc %d)", bad[i].in, rc);
        if (strcmp(err.msg, bad[i].msg) != 0)
            fail_msg("'%s': got '%s' want '%s'", bad[i].in, err.msg, bad[i].msg);
        assert_int_equal(q.units, 42); /* untouched */
    }
}

static void test_quantity_exact_nanos(void **state)
{
    (void)state;
    kl_quantity_t q;
    /* 1e-10 * 1024 = 102.4 n, rounded up to 103 n. */
    assert_int_equal(kl_quantity_parse("0.0000000001Ki", 14, &q, NULL), 0);
    assert_int_equal(q.units, 0);
    assert_int_equal(q.nanos, 103);
    assert_false(q.neg);
    assert_int_equal(kl_quantity_parse("-2.5", 4, &q, NULL), 0);
    assert_true(q.neg);
    assert_int_equal(q.units, 2);
    assert_int_equal(q.nanos, 500000000);
    assert_true(kl_quantity_double(&q) == -2.5);
    /* Negative zero is zero. */
    assert_int_equal(kl_quantity_parse("-0", 2, &q, NULL), 0);
    assert_false(q.neg);
    assert_true(kl_quantity_is_zero(&q));
    /* The length is honoured: no NUL needed. */
    assert_int_equal(kl_quantity_parse("12Mi-garbage", 4, &q, NULL), 0);
    assert_int_equal(kl_quantity_value(&q), 12 << 20);
}

static void test_quantity_compare(void **state)
{
    (void)state;
    kl_quantity_t a, b, c, z;
    assert_int_equal(kl_quantity_parse("1Gi", 3, &a, NULL), 0);
    assert_int_equal(kl_quantity_parse("1G", 2, &b, NULL), 0);
    assert_int_equal(kl_quantity_parse("-1", 2, &c, NULL), 0);
    assert_int_equal(kl_quantity_parse("0", 1, &z, NULL), 0);
    assert_int_equal(kl_quantity_cmp(&a, &b), 1);
    assert_int_equal(kl_quantity_cmp(&b, &a), -1);
    assert_int_equal(kl_quantity_cmp(&a, &a), 0);
    assert_int_equal(kl_quantity_cmp(&c, &z), -1);
    assert_int_equal(kl_quantity_cmp(&z, &c), 1);
    kl_quantity_t d, e;
    assert_int_equal(kl_quantity_parse("-2", 2, &d, NULL), 0);
    assert_int_equal(kl_quantity_cmp(&d, &c), -1);
    assert_int_equal(kl_quantity_parse("1000m", 5, &e, NULL), 0);
    kl_quantity_t one;
    assert_int_equal(kl_quantity_parse("1", 1, &one, NULL), 0);
    assert_int_equal(kl_quantity_cmp(&e, &one), 0);
}

static void test_quantity_from_json(void **state)
{
    (void)state;
    const char *doc = "{\"i\":2,\"neg\":-3,\"d\":0.5,\"s\":\" 100m \",\"bad\":\"x\",\"b\":true,"
                      "\"big\":1e30,\"n\":null}";
    kl_obj_t *o;
    assert_int_equal(kl_obj_parse_json(doc, strlen(doc), NULL, &o, NULL), 0);
    kl_val_t root = kl_obj_root(o);
    kl_quantity_t q;
    kl_errinfo_t err;
    assert_int_equal(kl_quantity_from_val(kl_val_get(root, "i"), &q, NULL), 0);
    assert_int_equal(kl_quantity_milli(&q), 2000);
    assert_int_equal(kl_quantity_from_val(kl_val_get(root, "neg"), &q, NULL), 0);
    assert_int_equal(kl_quantity_value(&q), -3);
    assert_int_equal(kl_quantity_from_val(kl_val_get(root, "d"), &q, NULL), 0);
    assert_int_equal(kl_quantity_milli(&q), 500);
    assert_int_equal(kl_quantity_from_val(kl_val_get(root, "s"), &q, NULL), 0);
    assert_int_equal(kl_quantity_milli(&q), 100);
    assert_int_equal(kl_quantity_from_val(kl_val_get(root, "big"), &q, NULL), 0);
    assert_int_equal(kl_quantity_value(&q), INT64_MAX);
    assert_int_equal(kl_quantity_from_val(kl_val_get(root, "n"), &q, NULL), 0);
    assert_true(kl_quantity_is_zero(&q));
    assert_int_equal(kl_quantity_from_val(kl_val_get(root, "missing"), &q, NULL), 0);
    assert_true(kl_quantity_is_zero(&q));
    assert_int_equal(kl_quantity_from_val(kl_val_get(root, "bad"), &q, &err), KL_ESYNTAX);
    assert_string_equal(err.msg, FORMAT_MSG);
    assert_int_equal(kl_quantity_from_val(kl_val_get(root, "b"), &q, &err), KL_ESYNTAX);
    kl_obj_unref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantity_values),      cmocka_unit_test(test_quantity_errors),
        cmocka_unit_test(test_quantity_exact_nanos), cmocka_unit_test(test_quantity_compare),
        cmocka_unit_test(test_quantity_from_json),
    };
    return cmocka_run_group_tests_name("primitives_quantity", tests, NULL, NULL);
}
