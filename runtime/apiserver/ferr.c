#include "apiserver/ferr.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kl_ferrs_init(kl_ferrs_t *e)
{
    memset(e, 0, sizeof(*e));
}

void kl_ferrs_cleanup(kl_ferrs_t *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->items[i].field);
        free(e->items[i].value);
        free(e->items[i].detail);
    }
    free(e->items);
    memset(e, 0, sizeof(*e));
}

void kl_ferr_add(kl_ferrs_t *e, kl_ferr_type_t type, const char *field, const char *value,
                 const char *detail)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        kl_ferr_t *n = realloc(e->items, cap * sizeof(*n));
        if (n == NULL) {
            e->oom = 1;
            return;
        }
        e->items = n;
        e->cap = cap;
    }
    kl_ferr_t *f = &e->items[e->n++];
    f->type = type;
    f->field = strdup(field ? field : "");
    f->value = value ? strdup(value) : NULL;
    f->detail = detail ? strdup(detail) : NULL;
    if (f->field == NULL)
        e->oom = 1;
}

void kl_ferr_addf(kl_ferrs_t *e, kl_ferr_type_t type, const char *field, const char *value,
                  const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    kl_ferr_add(e, type, field, value, buf);
}

char *kl_ferr_value(const kl_json_t *v)
{
    if (v == NULL)
        return strdup("null");
    kl_buf_t b;
    kl_buf_init(&b, 1 << 16);
    if (kl_json_encode(v, &b) < 0) {
        kl_buf_cleanup(&b);
        return strdup("...");
    }
    return kl_buf_take(&b, NULL);
}

int kl_ferr_format(const kl_ferr_t *f, kl_buf_t *out)
{
    int rc = kl_buf_printf(out, "%s: ", f->field);
    if (rc < 0)
        return rc;
    switch (f->type) {
    case KL_FERR_REQUIRED:
        rc = kl_buf_puts(out, "Required value");
        if (rc == 0 && f->detail)
            rc = kl_buf_printf(out, ": %s", f->detail);
        return rc;
    case KL_FERR_INVALID:
    case KL_FERR_IMMUTABLE:
    case KL_FERR_TYPE_INVALID:
        rc = kl_buf_printf(out, "Invalid value: %s", f->value ? f->value : "null");
        if (rc == 0 && (f->detail || f->type == KL_FERR_IMMUTABLE))
            rc = kl_buf_printf(out, ": %s", f->detail ? f->detail : "field is immutable");
        return rc;
    case KL_FERR_NOT_SUPPORTED:
        rc = kl_buf_printf(out, "Unsupported value: %s", f->value ? f->value : "null");
        if (rc == 0 && f->detail)
            rc = kl_buf_printf(out, ": supported values: %s", f->detail);
        return rc;
    case KL_FERR_FORBIDDEN:
        rc = kl_buf_puts(out, "Forbidden");
        if (rc == 0 && f->detail)
            rc = kl_buf_printf(out, ": %s", f->detail);
        return rc;
    case KL_FERR_DUPLICATE:
        return kl_buf_printf(out, "Duplicate value: %s", f->value ? f->value : "null");
    case KL_FERR_RAW:
        return kl_buf_puts(out, f->detail ? f->detail : "invalid");
    case KL_FERR_TOO_LONG:
        rc = kl_buf_puts(out, "Too long");
        if (rc == 0 && f->detail)
            rc = kl_buf_printf(out, ": %s", f->detail);
        return rc;
    case KL_FERR_TOO_MANY:
        rc = kl_buf_printf(out, "Too many: %s", f->value ? f->value : "null");
        if (rc == 0 && f->detail)
            rc = kl_buf_printf(out, ": %s", f->detail);
        return rc;
    }
    return 0;
}

int kl_ferrs_message(const kl_ferrs_t *e, const char *kind_group, const char *name, kl_buf_t *out)
{
    int rc = kl_buf_printf(out, "%s \"%s\" is invalid: ", kind_group, name ? name : "");
    if (rc == 0 && e->n > 1)
        rc = kl_buf_putc(out, '[');
    for (size_t i = 0; rc == 0 && i < e->n; i++) {
        if (i)
            rc = kl_buf_puts(out, ", ");
        if (rc == 0)
            rc = kl_ferr_format(&e->items[i], out);
    }
    if (rc == 0 && e->n > 1)
        rc = kl_buf_putc(out, ']');
    return rc;
}

static const char *cause_reason(kl_ferr_type_t t)
{
    switch (t) {
    case KL_FERR_REQUIRED:
        return "FieldValueRequired";
    case KL_FERR_NOT_SUPPORTED:
        return "FieldValueNotSupported";
    case KL_FERR_FORBIDDEN:
        return "FieldValueForbidden";
    case KL_FERR_DUPLICATE:
        return "FieldValueDuplicate";
    case KL_FERR_TOO_LONG:
        return "FieldValueTooLong";
    case KL_FERR_TOO_MANY:
        return "FieldValueTooMany";
    case KL_FERR_TYPE_INVALID:
        return "FieldValueTypeInvalid";
    default:
        return "FieldValueInvalid";
    }
}

int kl_ferrs_causes_json(const kl_ferrs_t *e, kl_buf_t *out)
{
    int rc = kl_buf_putc(out, '[');
    for (size_t i = 0; rc == 0 && i < e->n; i++) {
        const kl_ferr_t *f = &e->items[i];
        kl_buf_t msg;
        kl_buf_init(&msg, 0);
        rc = kl_ferr_format(f, &msg);
        /* The cause message drops the "field: " prefix, as upstream. */
        const char *m = msg.data ? msg.data + strlen(f->field) + 2 : "";
        if (rc == 0)
            rc = kl_buf_printf(out, "%s{\"reason\":\"%s\",\"message\":", i ? "," : "",
                               cause_reason(f->type));
        if (rc == 0)
            rc = kl_json_quote(out, m, strlen(m));
        if (rc == 0)
            rc = kl_buf_puts(out, ",\"field\":");
        if (rc == 0)
            rc = kl_json_quote(out, f->field, strlen(f->field));
        if (rc == 0)
            rc = kl_buf_putc(out, '}');
        kl_buf_cleanup(&msg);
    }
    return rc ? rc : kl_buf_putc(out, ']');
}
