/* Revision hashes (runtime/primitives/hash.c): canonical form, stability, collision counts and
 * the SafeEncodeString alphabet. Expected values were computed independently (FNV-1a 32 of the
 * canonical JSON bytes). */
#include "kubelua/hash.h"
#include "kubelua/json.h"

#include "unit/test_util.h"

static kl_obj_t *parse(const char *json)
{
    kl_obj_t *doc;
    kl_errinfo_t err;
    if (kl_obj_parse_json(json, strlen(json), NULL, &doc, &err) < 0)
        fail_msg("parse: %s", err.msg);
    return doc;
}

static void test_hash_known_values(void **state)
{
    (void)state;
    kl_obj_t *a = parse("{\"b\":1,\"a\":[true,null,\"x\\\"y\\n\",1.5]}");
    uint32_t h;
    char s[KL_HASH_STR_MAX];
    assert_int_equal(kl_hash_val(kl_obj_root(a), NULL, &h), 0);
    assert_int_equal(h, 293333469u);
    assert_int_equal(kl_hash_string(kl_obj_root(a), NULL, s), 0);
    assert_string_equal(s, "6f77778bf");
    uint32_t cc = 3;
    assert_int_equal(kl_hash_string(kl_obj_root(a), &cc, s), 0);
    assert_string_equal(s, "6589865658");
    kl_obj_t *e = parse("{}");
    assert_int_equal(kl_hash_val(kl_obj_root(e), NULL, &h), 0);
    assert_int_equal(h, 1415952421u);
    kl_obj_unref(e);
    kl_obj_unref(a);
}

static void test_hash_encode(void **state)
{
    (void)state;
    char s[KL_HASH_STR_MAX];
    kl_hash_encode(0, s);
    assert_string_equal(s, "4");
    kl_hash_encode(4294967295u, s);
    assert_string_equal(s, "86f8fbc6f9");
    kl_hash_encode(1234567890u, s);
    assert_string_equal(s, "56789bcdf4");
}

static void test_hash_key_order_and_sources(void **state)
{
    (void)state;
    /* Same value, other key order and spacing: same hash. A tree frozen from kl_json_t too. */
    kl_obj_t *a = parse("{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]},"
                        "\"metadata\":{\"labels\":{\"x\":\"1\",\"a\":\"2\"}}}");
    kl_obj_t *b = parse(" { \"metadata\" : {\"labels\":{\"a\":\"2\",\"x\":\"1\"}},"
                        "\"spec\":{\"containers\":[{\"image\":\"i\",\"name\":\"c\"}]}}");
    kl_json_t *j;
    const char *text = "{\"metadata\":{\"labels\":{\"a\":\"2\",\"x\":\"1\"}},"
                       "\"spec\":{\"containers\":[{\"image\":\"i\",\"name\":\"c\"}]}}";
    assert_int_equal(kl_json_parse(text, strlen(text), NULL, &j, NULL), 0);
    kl_obj_t *c;
    assert_int_equal(kl_obj_from_json(j, &c), 0);
    kl_json_free(j);
    char ha[KL_HASH_STR_MAX], hb[KL_HASH_STR_MAX], hc[KL_HASH_STR_MAX];
    assert_int_equal(kl_hash_string(kl_obj_root(a), NULL, ha), 0);
    assert_int_equal(kl_hash_string(kl_obj_root(b), NULL, hb), 0);
    assert_int_equal(kl_hash_string(kl_obj_root(c), NULL, hc), 0);
    assert_string_equal(ha, hb);
    assert_string_equal(ha, hc);
    /* Array order matters, values matter, the collision count matters. */
    kl_obj_t *d = parse("{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"j\"}]},"
                        "\"metadata\":{\"labels\":{\"x\":\"1\",\"a\":\"2\"}}}");
    char hd[KL_HASH_STR_MAX], h0[KL_HASH_STR_MAX], h1[KL_HASH_STR_MAX];
    assert_int_equal(kl_hash_string(kl_obj_root(d), NULL, hd), 0);
    assert_string_not_equal(ha, hd);
    uint32_t zero = 0, one = 1;
    assert_int_equal(kl_hash_string(kl_obj_root(a), &zero, h0), 0);
    assert_int_equal(kl_hash_string(kl_obj_root(a), &one, h1), 0);
    assert_string_not_equal(h0, h1);
    assert_string_not_equal(h0, ha);
    for (const char *p = ha; *p; p++)
        assert_non_null(strchr("bcdfghjklmnpqrstvwxz2456789", *p));
    kl_obj_unref(a);
    kl_obj_unref(b);
    kl_obj_unref(c);
    kl_obj_unref(d);
}

static void test_hash_types_and_big_objects(void **state)
{
    (void)state;
    /* "1", 1, false, {} and [] differ; int 1 and double 1.0 are equal values (as for
     * kl_val_equal) and hash alike. */
    kl_obj_t *x = parse("[1,1.0,\"1\",false,{},[]]");
    kl_val_t r = kl_obj_root(x);
    uint32_t h[6];
    for (uint32_t i = 0; i < 6; i++)
        assert_int_equal(kl_hash_val(kl_val_at(r, i), NULL, &h[i]), 0);
    assert_int_equal(h[0], h[1]);
    for (int i = 1; i < 6; i++)
        for (int k = i + 1; k < 6; k++)
            assert_int_not_equal(h[i], h[k]);
    kl_obj_unref(x);
    /* More members than fit the on-stack sort, in two orders. */
    kl_buf_t b1, b2;
    kl_buf_init(&b1, 1 << 20);
    kl_buf_init(&b2, 1 << 20);
    assert_int_equal(kl_buf_putc(&b1, '{'), 0);
    assert_int_equal(kl_buf_putc(&b2, '{'), 0);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(kl_buf_printf(&b1, "%s\"k%03d\":%d", i ? "," : "", i, i), 0);
        assert_int_equal(kl_buf_printf(&b2, "%s\"k%03d\":%d", i ? "," : "", 99 - i, 99 - i), 0);
    }
    assert_int_equal(kl_buf_putc(&b1, '}'), 0);
    assert_int_equal(kl_buf_putc(&b2, '}'), 0);
    kl_obj_t *o1 = parse(b1.data), *o2 = parse(b2.data);
    uint32_t g1, g2;
    assert_int_equal(kl_hash_val(kl_obj_root(o1), NULL, &g1), 0);
    assert_int_equal(kl_hash_val(kl_obj_root(o2), NULL, &g2), 0);
    assert_int_equal(g1, g2);
    kl_obj_unref(o1);
    kl_obj_unref(o2);
    kl_buf_cleanup(&b1);
    kl_buf_cleanup(&b2);
    /* A missing value hashes as null. */
    kl_obj_t *n = parse("null");
    uint32_t hn, hm;
    assert_int_equal(kl_hash_val(kl_obj_root(n), NULL, &hn), 0);
    assert_int_equal(kl_hash_val((kl_val_t){0}, NULL, &hm), 0);
    assert_int_equal(hn, hm);
    kl_obj_unref(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_known_values),
        cmocka_unit_test(test_hash_encode),
        cmocka_unit_test(test_hash_key_order_and_sources),
        cmocka_unit_test(test_hash_types_and_big_objects),
    };
    return cmocka_run_group_tests_name("primitives_hash", tests, NULL, NULL);
}
