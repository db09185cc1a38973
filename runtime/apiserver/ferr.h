/* apiserver/ferr.h - field errors, rendered the way kube-apiserver reports invalid objects.
 *
 * A list of (type, field path, value, detail) entries, formatted as
 *   spec.selector: Required value
 *   spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure",
 * "Never" and turned into a 422 Invalid Status with details.causes. The list owns its strings.
 */
#ifndef KL_APISERVER_FERR_H
#define KL_APISERVER_FERR_H

#include <stddef.h>

#include "kubelua/buf.h"
#include "kubelua/error.h"
#include "kubelua/json.h"

typedef enum kl_ferr_type {
    KL_FERR_REQUIRED,      /* FieldValueRequired: "Required value" */
    KL_FERR_INVALID,       /* FieldValueInvalid: "Invalid value: <v>: <detail>" */
    KL_FERR_NOT_SUPPORTED, /* FieldValueNotSupported: "Unsupported value: <v>: supported values:
                              ..." */
    KL_FERR_FORBIDDEN,     /* FieldValueForbidden: "Forbidden: <detail>" */
    KL_FERR_DUPLICATE,     /* FieldValueDuplicate: "Duplicate value: <v>" */
    KL_FERR_TOO_LONG,      /* FieldValueTooLong */
    KL_FERR_IMMUTABLE,     /* an Invalid whose detail is "field is immutable" */
    KL_FERR_RAW,           /* FieldValueInvalid whose detail is already worded: "field: detail" */
    KL_FERR_TOO_MANY,      /* FieldValueTooMany: "Too many: <v>: <detail>" */
    KL_FERR_TYPE_INVALID,  /* FieldValueTypeInvalid: "Invalid value: <v>: <detail>" */
} kl_ferr_type_t;

typedef struct kl_ferr {
    kl_ferr_type_t type;
    char *field;
    char *value;  /* rendered value (Go-like), may be NULL */
    char *detail; /* may be NULL */
} kl_ferr_t;

typedef struct kl_ferrs {
    kl_ferr_t *items;
    size_t n, cap;
    int oom;
} kl_ferrs_t;

void kl_ferrs_init(kl_ferrs_t *e);
void kl_ferrs_cleanup(kl_ferrs_t *e);

void kl_ferr_add(kl_ferrs_t *e, kl_ferr_type_t type, const char *field, const char *value,
                 const char *detail);
void kl_ferr_addf(kl_ferrs_t *e, kl_ferr_type_t type, const char *field, const char *value,
                  const char *fmt, ...) KL_PRINTF(5, 6);
/* Renders a JSON value the way field errors quote values: strings quoted, numbers bare, others
 * as compact JSON. Returns a malloc'ed string. */
char *kl_ferr_value(const kl_json_t *v);

/* "spec.x: Required value" for item i. */
KL_NODISCARD int kl_ferr_format(const kl_ferr_t *f, kl_buf_t *out);
/* The Status message: `<Kind>.<group> "<name>" is invalid: <one>` or `...: [<a>, <b>]`, and
 * the causes array for details. */
KL_NODISCARD int kl_ferrs_message(const kl_ferrs_t *e, const char *kind_group, const char *name,
                                  kl_buf_t *out);
KL_NODISCARD int kl_ferrs_causes_json(const kl_ferrs_t *e, kl_buf_t *out);

#endif
