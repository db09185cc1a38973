/* The string hash map the queue indexes its keys with (runtime/util/strmap.c). */

#include "kubelua/strmap.h"

#include "unit/test_util.h"

#define N 20000

static void test_strmap_basic(void **state)
{
    kl_strmap_t m;
    kl_strmap_init(&m, 0);
    assert_null(kl_strmap_get(&m, "a"));
    assert_false(kl_strmap_find(&m, "a", NULL));
    assert_int_equal(kl_strmap_del(&m, "a", NULL), KL_ENOTFOUND);

    int one = 1, two = 2;
    void *old = &one;
    assert_int_equal(kl_strmap_put(&m, "a", &one, &old), 0);
    assert_null(old);
    assert_int_equal(kl_strmap_put(&m, "b", NULL, NULL), 0);
    assert_int_equal(kl_strmap_len(&m), 2);
    assert_ptr_equal(kl_strmap_get(&m, "a"), &one);
    void *v = &one;
    assert_true(kl_strmap_find(&m, "b", &v)); /* present with a NULL value */
    assert_null(v);
    assert_false(kl_strmap_find(&m, "c", &v));

    assert_int_equal(kl_strmap_put(&m, "a", &two, &old), 0); /* replace */
    assert_ptr_equal(old, &one);
    assert_ptr_equal(kl_strmap_get(&m, "a"), &two);
    assert_int_equal(kl_strmap_len(&m), 2);

    assert_int_equal(kl_strmap_del(&m, "a", &old), 0);
    assert_ptr_equal(old, &two);
    assert_null(kl_strmap_get(&m, "a"));
    assert_int_equal(kl_strmap_len(&m), 1);
    assert_int_equal(kl_strmap_put(&m, "", &one, NULL), 0); /* empty key */
    assert_ptr_equal(kl_strmap_get(&m, ""), &one);
    kl_strmap_clear(&m);
    assert_int_equal(kl_strmap_len(&m), 0);
    assert_null(kl_strmap_get(&m, ""));
    kl_strmap_cleanup(&m);
    kl_strmap_cleanup(&m);
}

static void test_strmap_copy_keys(void **state)
{
    kl_strmap_t m;
    kl_strmap_init(&m, KL_STRMAP_COPY_KEYS);
    char key[32];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "ns/name-%d", i);
        assert_int_equal(kl_strmap_put(&m, key, (void *)(intptr_t)(i + 1), NULL), 0);
    }
    memset(key, 'x', sizeof(key) - 1); /* the map holds its own copies */
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "ns/name-%d", i);
        assert_int_equal((intptr_t)kl_strmap_get(&m, key), i + 1);
    }
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof(key), "ns/name-%d", i);
        assert_int_equal(kl_strmap_del(&m, key, NULL), 0);
    }
    kl_strmap_cleanup(&m); /* frees the 50 left; ASan checks */
}

/* Random inserts and deletes checked against a plain array, through growth and shrinkage. */
static void test_strmap_against_reference(void **state)
{
    kl_strmap_t m;
    kl_strmap_init(&m, 0);
    char(*keys)[16] = malloc(N * sizeof(*keys));
    int *present = calloc(N, sizeof(int));
    assert_non_null(keys);
    assert_non_null(present);
    for (int i = 0; i < N; i++)
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
    uint32_t seed = 7;
    size_t live = 0;
    for (int round = 0; round < 4 * N; round++) {
        seed = seed * 1664525u + 1013904223u;
        int i = (int)((seed >> 8) % N);
        /* Mostly inserts in the first half, mostly deletes in the second. */
        bool insert = ((seed >> 4) & 3) != 0;
        if (round >= 2 * N)
            insert = !insert;
        if (insert) {
            void *old = NULL;
            assert_int_equal(kl_strmap_put(&m, keys[i], &present[i], &old), 0);
            assert_true(old == (present[i] ? (void *)&present[i] : NULL));
            if (!present[i])
                live++;
            present[i] = 1;
        } else {
            int rc = kl_strmap_del(&m, keys[i], NULL);
            assert_int_equal(rc, present[i] ? 0 : KL_ENOTFOUND);
            if (present[i])
                live--;
            present[i] = 0;
        }
        assert_int_equal(kl_strmap_len(&m), live);
    }
    for (int i = 0; i < N; i++)
        assert_true(kl_strmap_find(&m, keys[i], NULL) == (present[i] != 0));
    size_t it = 0, seen = 0;
    const char *k;
    void *v;
    while (kl_strmap_next(&m, &it, &k, &v)) {
        int idx = atoi(k + 1);
        assert_ptr_equal(v, &present[idx]);
        assert_ptr_equal(k, keys[idx]); /* borrowed keys are stored as given */
        seen++;
    }
    assert_int_equal(seen, live);
    size_t cap_before = m.cap;
    for (int i = 0; i < N; i++)
        (void)kl_strmap_del(&m, keys[i], NULL);
    assert_int_equal(kl_strmap_len(&m), 0);
    assert_true(m.cap < cap_before); /* shrank */
    kl_strmap_cleanup(&m);
    free(keys);
    free(present);
}

static void test_strmap_reserve(void **state)
{
    kl_strmap_t m;
    kl_strmap_init(&m, 0);
    assert_int_equal(kl_strmap_reserve(&m, 1000), 0);
    size_t cap = m.cap;
    assert_true(cap * 3 / 4 >= 1000);
    char(*keys)[16] = malloc(1000 * sizeof(*keys));
    assert_non_null(keys);
    for (int i = 0; i < 1000; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        assert_int_equal(kl_strmap_put(&m, keys[i], NULL, NULL), 0);
    }
    assert_int_equal(m.cap, cap); /* no resize */
    kl_strmap_cleanup(&m);
    free(keys);
    assert_true(kl_strmap_hash("ns/a") != kl_strmap_hash("ns/b"));
    assert_true(kl_strmap_hash("ns/a") == kl_strmap_hash("ns/a"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strmap_basic),
        cmocka_unit_test(test_strmap_copy_keys),
        cmocka_unit_test(test_strmap_against_reference),
        cmocka_unit_test(test_strmap_reserve),
    };
    return cmocka_run_group_tests_name("strmap", tests, NULL, NULL);
}
