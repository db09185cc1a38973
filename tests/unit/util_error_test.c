#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kubelua/buf.h"
#include "kubelua/error.h"

static void test_error_names_and_messages(void **state)
{
    assert_string_equal(kl_err_name(KL_ENOTFOUND), "KL_ENOTFOUND");
    assert_string_equal(kl_strerror(KL_ENOTFOUND), "not found");
    assert_string_equal(kl_strerror(0), "success");
    assert_string_equal(kl_strerror(-9999), "unknown error");
}

static void test_errinfo_fills_position(void **state)
{
    kl_errinfo_t e;
    int rc = kl_err_at(&e, KL_ESYNTAX, 3, 7, "unexpected '%c'", '}');
    assert_int_equal(rc, KL_ESYNTAX);
    assert_int_equal(e.line, 3);
    assert_int_equal(e.column, 7);
    assert_string_equal(e.msg, "unexpected '}'");
    assert_int_equal(kl_err(NULL, KL_EINVAL, "ignored"), KL_EINVAL);
}

static void test_buf_ceiling(void **state)
{
    kl_buf_t b;
    kl_buf_init(&b, 8);
    assert_int_equal(kl_buf_puts(&b, "abcd"), 0);
    assert_int_equal(kl_buf_printf(&b, "%d", 123), 0);
    assert_string_equal(b.data, "abcd123");
    assert_int_equal(kl_buf_puts(&b, "xy"), KL_ETOOBIG);
    assert_string_equal(b.data, "abcd123");
    assert_int_equal(kl_buf_putc(&b, 'z'), 0);
    size_t n;
    char *s = kl_buf_take(&b, &n);
    assert_int_equal(n, 8);
    assert_string_equal(s, "abcd123z");
    assert_null(b.data);
    free(s);
    kl_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_names_and_messages),
        cmocka_unit_test(test_errinfo_fills_position),
        cmocka_unit_test(test_buf_ceiling),
    };
    return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
