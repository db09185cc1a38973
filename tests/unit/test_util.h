/* Helpers shared by the cmocka unit tests. Include this instead of <cmocka.h>: cmocka needs
 * the standard headers before it, in an order clang-format would otherwise rearrange. */
#ifndef KL_TEST_UTIL_H
#define KL_TEST_UTIL_H

/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads tests/fixtures/<name> (relative to the source tree) into a malloc'ed NUL-terminated
 * buffer; aborts the test run when missing. */
static inline char *kl_test_read_fixture(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/fixtures/%s", KL_SOURCE_DIR, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "missing fixture %s\n", path);
        abort();
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
        abort();
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

#endif
