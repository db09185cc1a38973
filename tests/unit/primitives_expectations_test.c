/* Expectations (runtime/primitives/expectations.c): lifecycle, tracked deletions, expiry with a
 * fake clock, references and garbage collection. */
#include "kubelua/expectations.h"
#include "kubelua/ktime.h"

#include "unit/test_util.h"

static int64_t fake_now(void *ud)
{
    return *(int64_t *)ud;
}

static kl_expectations_t *new_fake(int64_t *clock, int64_t ttl_ms)
{
    kl_expectations_t *e;
    kl_expectations_opts_t o = {.ttl_ms = ttl_ms, .now_ms = fake_now, .ud = clock};
    assert_int_equal(kl_expectations_new(&o, &e), 0);
    return e;
}

static void test_expectations_lifecycle(void **state)
{
    (void)state;
    int64_t clock = 1000000;
    kl_expectations_t *e = new_fake(&clock, 0);
    /* No record: satisfied (a new controller acts). */
    assert_true(kl_expectations_satisfied(e, "ns/ds"));
    assert_false(kl_expectations_get(e, "ns/ds", NULL, NULL, NULL, NULL));
    /* Observations without a record are ignored. */
    kl_expectations_creation_observed(e, "ns/ds");
    kl_expectations_deletion_observed(e, "ns/ds", NULL);
    assert_int_equal(kl_expectations_count(e), 0);

    assert_int_equal(kl_expectations_set(e, "ns/ds", 3, 1), 0);
    assert_false(kl_expectations_satisfied(e, "ns/ds"));
    kl_expectations_creation_observed(e, "ns/ds");
    kl_expectations_creation_observed(e, "ns/ds");
    kl_expectations_deletion_observed(e, "ns/ds", "ns/pod-a");
    assert_false(kl_expectations_satisfied(e, "ns/ds"));
    int64_t adds, dels, age;
    bool expired;
    assert_true(kl_expectations_get(e, "ns/ds", &adds, &dels, &age, &expired));
    assert_int_equal(adds, 1);
    assert_int_equal(dels, 0);
    assert_int_equal(age, 0);
    assert_false(expired);
    /* A failed create lowers the expectation directly. */
    kl_expectations_lower(e, "ns/ds", 1, 0);
    assert_true(kl_expectations_satisfied(e, "ns/ds"));
    /* Going negative is harmless. */
    kl_expectations_creation_observed(e, "ns/ds");
    assert_true(kl_expectations_get(e, "ns/ds", &adds, NULL, NULL, NULL));
    assert_int_equal(adds, -1);
    assert_true(kl_expectations_satisfied(e, "ns/ds"));
    kl_expectations_raise(e, "ns/ds", 2, 0);
    assert_false(kl_expectations_satisfied(e, "ns/ds"));
    /* Set overwrites. */
    assert_int_equal(kl_expectations_set(e, "ns/ds", 0, 0), 0);
    assert_true(kl_expectations_satisfied(e, "ns/ds"));
    assert_int_equal(kl_expectations_count(e), 1);
    /* Keys are independent. */
    assert_int_equal(kl_expectations_set(e, "ns/other", 1, 0), 0);
    assert_false(kl_expectations_satisfied(e, "ns/other"));
    assert_true(kl_expectations_satisfied(e, "ns/ds"));
    kl_expectations_delete(e, "ns/other");
    assert_true(kl_expectations_satisfied(e, "ns/other"));
    kl_expectations_delete(e, "ns/missing");
    assert_int_equal(kl_expectations_count(e), 1);
    kl_expectations_unref(e);
}

static void test_expectations_expiry(void **state)
{
    (void)state;
    int64_t clock = 5000;
    kl_expectations_t *e = new_fake(&clock, 0);
    assert_int_equal(kl_expectations_set(e, "k", 5, 0), 0);
    clock += KL_EXPECTATIONS_DEFAULT_TTL_MS;
    assert_false(kl_expectations_satisfied(e, "k")); /* exactly the TTL: not yet */
    clock += 1;
    assert_true(kl_expectations_satisfied(e, "k"));
    bool expired;
    int64_t age;
    assert_true(kl_expectations_get(e, "k", NULL, NULL, &age, &expired));
    assert_true(expired);
    assert_int_equal(age, KL_EXPECTATIONS_DEFAULT_TTL_MS + 1);
    /* Lowering does not refresh the stamp; setting does. */
    kl_expectations_lower(e, "k", 1, 0);
    assert_true(kl_expectations_satisfied(e, "k"));
    assert_int_equal(kl_expectations_set(e, "k", 5, 0), 0);
    assert_false(kl_expectations_satisfied(e, "k"));
    kl_expectations_unref(e);

    /* A custom TTL. */
    e = new_fake(&clock, 100);
    assert_int_equal(kl_expectations_set(e, "k", 1, 0), 0);
    clock += 100;
    assert_false(kl_expectations_satisfied(e, "k"));
    clock += 1;
    assert_true(kl_expectations_satisfied(e, "k"));
    kl_expectations_unref(e);
}

static void test_expectations_tracked_deletions(void **state)
{
    (void)state;
    int64_t clock = 1;
    kl_expectations_t *e = new_fake(&clock, 0);
    const char *pods[] = {"ns/a", "ns/b", "ns/a"};
    assert_int_equal(kl_expectations_set_keys(e, "ns/rs", 1, pods, 3), 0);
    int64_t adds, dels;
    assert_true(kl_expectations_get(e, "ns/rs", &adds, &dels, NULL, NULL));
    assert_int_equal(adds, 1);
    assert_int_equal(dels, 2); /* the duplicate counts once */
    assert_true(kl_expectations_pending_deletion(e, "ns/rs", "ns/a"));
    /* Seen with a deletionTimestamp, then deleted: counted once. */
    kl_expectations_deletion_observed(e, "ns/rs", "ns/a");
    kl_expectations_deletion_observed(e, "ns/rs", "ns/a");
    assert_false(kl_expectations_pending_deletion(e, "ns/rs", "ns/a"));
    /* Pods we did not delete do not count. */
    kl_expectations_deletion_observed(e, "ns/rs", "ns/zzz");
    kl_expectations_deletion_observed(e, "ns/rs", NULL);
    assert_true(kl_expectations_get(e, "ns/rs", NULL, &dels, NULL, NULL));
    assert_int_equal(dels, 1);
    kl_expectations_creation_observed(e, "ns/rs");
    assert_false(kl_expectations_satisfied(e, "ns/rs"));
    kl_expectations_deletion_observed(e, "ns/rs", "ns/b");
    assert_true(kl_expectations_satisfied(e, "ns/rs"));
    /* A plain set drops the tracked keys. */
    assert_int_equal(kl_expectations_set_keys(e, "ns/rs", 0, pods, 1), 0);
    assert_int_equal(kl_expectations_set(e, "ns/rs", 0, 1), 0);
    assert_false(kl_expectations_pending_deletion(e, "ns/rs", "ns/a"));
    kl_expectations_deletion_observed(e, "ns/rs", "ns/whatever");
    assert_true(kl_expectations_satisfied(e, "ns/rs"));
    /* Many keys. */
    char names[200][16];
    const char *many[200];
    for (int i = 0; i < 200; i++) {
        snprintf(names[i], sizeof(names[i]), "ns/p%d", i);
        many[i] = names[i];
    }
    assert_int_equal(kl_expectations_set_keys(e, "ns/big", 0, many, 200), 0);
    for (int i = 0; i < 200; i++)
        kl_expectations_deletion_observed(e, "ns/big", many[199 - i]);
    assert_true(kl_expectations_satisfied(e, "ns/big"));
    kl_expectations_unref(e);
}

static void test_expectations_refs_and_gc(void **state)
{
    (void)state;
    int64_t clock = 0;
    kl_expectations_t *e = new_fake(&clock, 1000);
    assert_ptr_equal(kl_expectations_ref(e), e);
    char key[32];
    for (int i = 0; i < 150; i++) {
        snprintf(key, sizeof(key), "ns/k%d", i);
        assert_int_equal(kl_expectations_set(e, key, i % 3 == 0 ? 0 : 1, 0), 0);
    }
    assert_int_equal(kl_expectations_count(e), 150);
    /* 50 fulfilled records go. */
    assert_int_equal(kl_expectations_gc(e), 50);
    assert_int_equal(kl_expectations_count(e), 100);
    assert_false(kl_expectations_satisfied(e, "ns/k1"));
    /* After the TTL every record is expired. */
    clock = 2000;
    assert_int_equal(kl_expectations_gc(e), 100);
    assert_int_equal(kl_expectations_count(e), 0);
    assert_int_equal(kl_expectations_set(e, "ns/x", 1, 0), 0);
    kl_expectations_unref(e);
    /* Still alive through the second reference. */
    assert_false(kl_expectations_satisfied(e, "ns/x"));
    kl_expectations_unref(e);
    kl_expectations_unref(NULL);
}

static void test_expectations_default_clock(void **state)
{
    (void)state;
    kl_expectations_t *e;
    assert_int_equal(kl_expectations_new(NULL, &e), 0);
    kl_time_set_fake_now_ms(1700000000000);
    assert_int_equal(kl_expectations_set(e, "k", 1, 0), 0);
    kl_time_set_fake_now_ms(1700000000000 + KL_EXPECTATIONS_DEFAULT_TTL_MS + 1);
    assert_true(kl_expectations_satisfied(e, "k"));
    kl_time_set_fake_now_ms(0);
    kl_expectations_unref(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expectations_lifecycle),
        cmocka_unit_test(test_expectations_expiry),
        cmocka_unit_test(test_expectations_tracked_deletions),
        cmocka_unit_test(test_expectations_refs_and_gc),
        cmocka_unit_test(test_expectations_default_clock),
    };
    return cmocka_run_group_tests_name("primitives_expectations", tests, NULL, NULL);
}
