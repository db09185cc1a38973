/* kubelua/buf.h - growable byte buffer with a hard ceiling.
 *
 * Storage is caller-provided (kl_buf_t is usually embedded in another struct or on the stack);
 * the bytes belong to the buffer until kl_buf_take() hands them over. Appends past `max` fail
 * with KL_ETOOBIG and leave the contents unchanged. The data is always NUL-terminated when
 * non-NULL (the terminator is not counted in len). Not thread-safe.
 */
#ifndef KUBELUA_BUF_H
#define KUBELUA_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "kubelua/error.h"

typedef struct kl_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* ceiling on len */
} kl_buf_t;

#define KL_BUF_DEFAULT_MAX ((size_t)64 << 20)

void kl_buf_init(kl_buf_t *b, size_t max);
/* Frees the bytes; the buffer may be reused after kl_buf_init(). */
void kl_buf_cleanup(kl_buf_t *b);
/* Empties the buffer, keeping its storage. */
void kl_buf_reset(kl_buf_t *b);
/* Makes room for n more bytes; returns a pointer to write them or NULL (ETOOBIG/ENOMEM, see
 * rc when given). The caller then calls kl_buf_commit(b, written). */
char *kl_buf_reserve(kl_buf_t *b, size_t n, int *rc);
void kl_buf_commit(kl_buf_t *b, size_t n);
KL_NODISCARD int kl_buf_append(kl_buf_t *b, const void *p, size_t n);
KL_NODISCARD int kl_buf_puts(kl_buf_t *b, const char *s);
KL_NODISCARD int kl_buf_putc(kl_buf_t *b, char c);
KL_NODISCARD int kl_buf_printf(kl_buf_t *b, const char *fmt, ...) KL_PRINTF(2, 3);
KL_NODISCARD int kl_buf_vprintf(kl_buf_t *b, const char *fmt, va_list ap);
/* Moves the bytes out: the caller frees the result with free(). The buffer is left empty.
 * Returns "" (allocated) for an empty buffer, NULL only when out of memory. */
char *kl_buf_take(kl_buf_t *b, size_t *len);

#endif
