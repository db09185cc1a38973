/* Internals shared by selector.c, selector_field.c and selector_validate.c. */
#ifndef KL_PRIMITIVES_SELECTOR_INT_H
#define KL_PRIMITIVES_SELECTOR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/buf.h"

/* Length-taking forms of the validators in selector.h (same messages). */
const char *kl__validate_label_key(const char *s, size_t n);
const char *kl__validate_label_value(const char *s, size_t n);

/* Appends s quoted as Go's strconv.Quote (and so %q and %#v) would write it. */
KL_NODISCARD int kl__go_quote(kl_buf_t *b, const char *s, size_t n);

/* Decodes one UTF-8 sequence at s (n > 0 bytes available) as Go's utf8.DecodeRuneInString:
 * returns the rune and sets *width; an invalid sequence gives U+FFFD with width 1. */
uint32_t kl__utf8_decode(const char *s, size_t n, size_t *width);

#endif
