/* kubelua/quantity.h - Kubernetes resource quantities ("100m", "1.5Gi", "2e3") as
 * k8s.io/apimachinery/pkg/api/resource.ParseQuantity reads them.
 *
 * Grammar: an optional sign, digits with an optional '.', then a suffix: a binary one (Ki Mi Gi
 * Ti Pi Ei), a decimal one (n u m "" k M G T P E), or an exponent ("e3", "E-2"). Upstream's
 * scanner quirks are kept: "1." and ".5" parse, "-" alone is zero, "1.G" is accepted.
 *
 * Values are exact: the result is the parsed number rounded up (away from zero) to a whole
 * nanounit, as ParseQuantity does, with a magnitude of at most 2^63-1 units (upstream caps binary
 * quantities there; decimal ones beyond int64 have no defined int64 value upstream, here they
 * saturate at the same cap). Value() and MilliValue() round up away from zero like upstream's
 * common path. Pure functions, thread-safe, no allocation.
 */
#ifndef KUBELUA_QUANTITY_H
#define KUBELUA_QUANTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/error.h"
#include "kubelua/object.h"

typedef struct kl_quantity {
    bool neg;       /* negative (only when nonzero) */
    uint64_t units; /* whole units of the magnitude, <= INT64_MAX */
    uint32_t nanos; /* fractional part in 1e-9 units, 0..999999999 */
} kl_quantity_t;

/* Parses s (len bytes, no NUL needed). Returns 0, or KL_ESYNTAX with upstream's message in err:
 * "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
 * "unable to parse quantity's suffix" or "unable to parse numeric part of quantity". On error
 * *out is untouched. */
KL_NODISCARD int kl_quantity_parse(const char *s, size_t len, kl_quantity_t *out,
                                   kl_errinfo_t *err);
/* Reads a quantity from a JSON value: a string as above, or a number (what
 * Quantity.UnmarshalJSON accepts: an integer exactly, a double through its shortest decimal
 * form). A missing value or null is zero. */
KL_NODISCARD int kl_quantity_from_val(kl_val_t v, kl_quantity_t *out, kl_errinfo_t *err);

/* Value(): whole units rounded up away from zero. */
int64_t kl_quantity_value(const kl_quantity_t *q);
/* MilliValue(): thousandths rounded up away from zero; saturates at INT64_MAX/INT64_MIN where
 * upstream would overflow. */
int64_t kl_quantity_milli(const kl_quantity_t *q);
/* -1, 0 or 1. */
int kl_quantity_cmp(const kl_quantity_t *a, const kl_quantity_t *b);
bool kl_quantity_is_zero(const kl_quantity_t *q);
/* Approximate value as a double. */
double kl_quantity_double(const kl_quantity_t *q);

#endif
