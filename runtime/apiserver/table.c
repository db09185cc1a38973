/* Table envelope, rows, column definitions, printer selection and the default printer. */
#include <stdlib.h>
#include <string.h>

#include "apiserver/table_int.h"

/* ---- Default printer (rest.NewDefaultTableConvertor) ------------------------------------ */

static const kl__column_t default_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Created At", "date", "", kl__desc_created, 0},
};

static void default_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t obj)
{
    kl_val_t meta = kl_val_get(obj, "metadata");
    size_t n;
    const char *name = kl__str(meta, "name", &n);
    kl__cell_strn(c, name, n);
    /* m.GetCreationTimestamp().Time.UTC().Format(time.RFC3339): Go's zero time when unset. */
    int64_t sec = KL__ZERO_TIME_SEC;
    int32_t nsec;
    size_t len;
    const char *ts = kl_val_str(kl_val_get(meta, "creationTimestamp"), &len);
    if (ts == NULL || kl__time_parse(ts, len, &sec, &nsec) < 0)
        sec = KL__ZERO_TIME_SEC;
    char buf[32];
    kl__time_format(sec, buf);
    kl__cell_str(c, buf);
}

const kl_printer_t kl__printer_default = {
    .name = "default",
    .cols = default_cols,
    .ncols = 2,
    .null_when_empty = true,
    .row = default_row,
};

/* ---- Selection -------------------------------------------------------------------------- */

int kl_printer_for(const char *group, const char *kind, const kl_json_t *additional_printer_columns,
                   kl_printer_t **out, kl_errinfo_t *err)
{
    if (out == NULL)
        return kl_err(err, KL_EINVAL, "no output printer");
    if (additional_printer_columns != NULL)
        return kl__table_custom_new(additional_printer_columns, out, err);
    const kl_printer_t *p = kl__table_builtin(group ? group : "", kind ? kind : "");
    /* Built-ins are static and immutable; kl_printer_free() leaves them alone. */
    *out = (kl_printer_t *)(p ? p : &kl__printer_default);
    return 0;
}

int kl_printer_for_crd(kl_val_t crd, const char *version, kl_printer_t **out, kl_errinfo_t *err)
{
    kl_val_t versions = kl_val_path(crd, "spec", "versions", NULL);
    for (uint32_t i = 0; i < kl_val_len(versions); i++) {
        kl_val_t v = kl_val_at(versions, i);
        if (!kl__str_is(kl_val_get(v, "name"), version ? version : ""))
            continue;
        kl_val_t cols = kl_val_get(v, "additionalPrinterColumns");
        kl_json_t *j = kl_val_type(cols) == KL_TARRAY ? kl_json_from_val(cols) : kl_json_array();
        if (j == NULL)
            return kl_err(err, KL_ENOMEM, "out of memory");
        int rc = kl__table_custom_new(j, out, err);
        kl_json_free(j);
        return rc;
    }
    return kl_err(err, KL_ENOTFOUND, "version %s not found in CustomResourceDefinition %s",
                  version ? version : "", kl__str(kl_val_get(crd, "metadata"), "name", NULL));
}

void kl_printer_free(kl_printer_t *p)
{
    if (p != NULL && p->owned)
        kl__table_custom_free(p);
}

const char *kl_printer_name(const kl_printer_t *p)
{
    return p ? p->name : "";
}

/* ---- Output ----------------------------------------------------------------------------- */

static void truncate_to(kl_buf_t *out, size_t mark)
{
    out->len = mark;
    if (out->data)
        out->data[mark] = '\0';
}

int kl_printer_columns(const kl_printer_t *p, kl_buf_t *out)
{
    size_t mark = out->len;
    int rc = kl_buf_putc(out, '[');
    for (uint32_t i = 0; i < p->ncols && rc == 0; i++) {
        const kl__column_t *col = &p->cols[i];
        if ((rc = kl_buf_puts(out, i ? ",{\"name\":" : "{\"name\":")) < 0 ||
            (rc = kl_json_quote(out, col->name, strlen(col->name))) < 0 ||
            (rc = kl_buf_puts(out, ",\"type\":")) < 0 ||
            (rc = kl_json_quote(out, col->type, strlen(col->type))) < 0 ||
            (rc = kl_buf_puts(out, ",\"format\":")) < 0 ||
            (rc = kl_json_quote(out, col->format, strlen(col->format))) < 0 ||
            (rc = kl_buf_puts(out, ",\"description\":")) < 0 ||
            (rc = kl_json_quote(out, col->description, strlen(col->description))) < 0)
            break;
        rc = kl_buf_printf(out, ",\"priority\":%d}", (int)col->priority);
    }
    if (rc == 0)
        rc = kl_buf_putc(out, ']');
    if (rc < 0)
        truncate_to(out, mark);
    return rc;
}

/* Writes the cells array; returns the row's conditions (or NULL) through *conditions. */
static int write_cells(const kl_printer_t *p, kl_val_t obj, int64_t now, kl_buf_t *out,
                       const char **conditions)
{
    kl__cells_t c = {.out = out, .now = now};
    kl_buf_init(&c.tmp, KL_BUF_DEFAULT_MAX);
    c.rc = kl_buf_putc(out, '[');
    if (c.rc == 0)
        p->row(p, &c, obj);
    if (c.rc == 0)
        c.rc = kl_buf_putc(out, ']');
    kl_buf_cleanup(&c.tmp);
    if (conditions)
        *conditions = c.conditions;
    return c.rc;
}

int kl_printer_cells(const kl_printer_t *p, kl_val_t obj, int64_t now, kl_buf_t *out)
{
    size_t mark = out->len;
    int rc = write_cells(p, obj, now, out, NULL);
    if (rc < 0)
        truncate_to(out, mark);
    return rc;
}

int kl_printer_row(const kl_printer_t *p, kl_val_t obj, int64_t now, kl_buf_t *out)
{
    size_t mark = out->len;
    const char *conditions = NULL;
    int rc = kl_buf_puts(out, "{\"cells\":");
    if (rc == 0)
        rc = write_cells(p, obj, now, out, &conditions);
    if (rc == 0 && conditions != NULL && (rc = kl_buf_puts(out, ",\"conditions\":")) == 0)
        rc = kl_buf_puts(out, conditions);
    if (rc == 0)
        rc = kl_buf_puts(out, ",\"object\":{\"kind\":\"PartialObjectMetadata\","
                              "\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":");
    if (rc == 0) {
        kl_val_t meta = kl_val_get(obj, "metadata");
        rc = kl_val_type(meta) == KL_TOBJECT ? kl_val_encode(meta, out) : kl_buf_puts(out, "{}");
    }
    if (rc == 0)
        rc = kl_buf_puts(out, "}}");
    if (rc < 0)
        truncate_to(out, mark);
    return rc;
}

static int put_opt_str(kl_buf_t *out, bool *first, const char *key, const char *val)
{
    if (val == NULL || val[0] == '\0')
        return 0;
    int rc = kl_buf_puts(out, *first ? "\"" : ",\"");
    *first = false;
    if (rc == 0 && (rc = kl_buf_puts(out, key)) == 0 && (rc = kl_buf_puts(out, "\":")) == 0)
        rc = kl_json_quote(out, val, strlen(val));
    return rc;
}

int kl_table_begin(const kl_printer_t *p, const kl_table_opts_t *opts, kl_buf_t *out)
{
    static const kl_table_opts_t defaults = {.include_columns = true};
    if (opts == NULL)
        opts = &defaults;
    size_t mark = out->len;
    bool first = true;
    int rc =
        kl_buf_puts(out, "{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":{");
    if (rc == 0)
        rc = put_opt_str(out, &first, "resourceVersion", opts->resource_version);
    if (rc == 0)
        rc = put_opt_str(out, &first, "continue", opts->continue_token);
    if (rc == 0 && opts->has_remaining_item_count)
        rc = kl_buf_printf(out, "%s\"remainingItemCount\":%lld", first ? "" : ",",
                           (long long)opts->remaining_item_count);
    if (rc == 0)
        rc = kl_buf_puts(out, "},\"columnDefinitions\":");
    if (rc == 0)
        rc = opts->include_columns ? kl_printer_columns(p, out) : kl_buf_puts(out, "null");
    if (rc == 0)
        rc = kl_buf_puts(out, ",\"rows\":");
    if (rc < 0)
        truncate_to(out, mark);
    return rc;
}

int kl_table_row(const kl_printer_t *p, kl_val_t obj, int64_t now, size_t index, kl_buf_t *out)
{
    size_t mark = out->len;
    int rc = kl_buf_putc(out, index == 0 ? '[' : ',');
    if (rc == 0)
        rc = kl_printer_row(p, obj, now, out);
    if (rc < 0)
        truncate_to(out, mark);
    return rc;
}

int kl_table_end(const kl_printer_t *p, size_t nrows, kl_buf_t *out)
{
    if (nrows > 0)
        return kl_buf_puts(out, "]}");
    return kl_buf_puts(out, p->null_when_empty ? "null}" : "[]}");
}

int kl_table_write(const kl_printer_t *p, const kl_val_t *objs, size_t n,
                   const kl_table_opts_t *opts, int64_t now, kl_buf_t *out)
{
    size_t mark = out->len;
    int rc = kl_table_begin(p, opts, out);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = kl_table_row(p, objs[i], now, i, out);
    if (rc == 0)
        rc = kl_table_end(p, n, out);
    if (rc < 0)
        truncate_to(out, mark);
    return rc;
}
