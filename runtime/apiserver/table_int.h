/* apiserver/table_int.h - internals shared by the table printer sources (table*.c).
 *
 * A printer is a column list plus a row function. Row functions append cells through a
 * kl__cells_t, whose error is sticky: cell helpers do nothing once an append has failed, and the
 * caller checks c->rc once at the end. That keeps the printers as short as upstream's.
 */
#ifndef KL_APISERVER_TABLE_INT_H
#define KL_APISERVER_TABLE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/buf.h"
#include "kubelua/object.h"

#include "apiserver/table.h"

typedef struct kl__column {
    const char *name;
    const char *type;   /* "string", "integer", "number", "boolean", "date" */
    const char *format; /* "" or "name" (CRD columns may use others) */
    const char *description;
    int32_t priority;
} kl__column_t;

typedef struct kl__cells {
    kl_buf_t *out;
    int64_t now;
    uint32_t n; /* cells written so far */
    int rc;     /* first failure, sticky */
    /* The row's "conditions" as JSON text (static storage), or NULL. */
    const char *conditions;
    kl_buf_t tmp; /* scratch for composite cells, reset before each use */
} kl__cells_t;

typedef void (*kl__row_fn)(const kl_printer_t *p, kl__cells_t *c, kl_val_t obj);

struct kl_jsonpath;

struct kl_printer {
    const char *name;
    const kl__column_t *cols;
    uint32_t ncols;
    bool owned;           /* allocated by kl_printer_for (custom printers) */
    bool null_when_empty; /* the default convertor leaves Rows nil: "rows":null */
    kl__row_fn row;
    /* Custom printers only: one compiled path per column after Name. */
    struct kl_jsonpath **paths;
};

/* Built-in printers (table_core.c, table_apps.c) and their lookup. */
const kl_printer_t *kl__table_builtin(const char *group, const char *kind);
extern const kl_printer_t kl__printer_default;
extern const kl_printer_t kl__printer_daemonsets, kl__printer_deployments, kl__printer_replicasets,
    kl__printer_statefulsets, kl__printer_controllerrevisions, kl__printer_jobs,
    kl__printer_cronjobs;

/* Printers of the kinds served without a controller (table_res.c), or NULL. */
const kl_printer_t *kl__table_res_builtin(const char *group, const char *kind);

/* Custom-resource printers (table_crd.c). */
int kl__table_custom_new(const kl_json_t *columns, kl_printer_t **out, kl_errinfo_t *err);
void kl__table_custom_free(kl_printer_t *p);

/* ---- Descriptions shared by many columns ------------------------------------------------ */

extern const char kl__desc_name[];
extern const char kl__desc_created[];
extern const char kl__desc_containers[];
extern const char kl__desc_images[];

/* ---- Cells ------------------------------------------------------------------------------ */

void kl__cell_str(kl__cells_t *c, const char *s);
void kl__cell_strn(kl__cells_t *c, const char *s, size_t n);
void kl__cell_printf(kl__cells_t *c, const char *fmt, ...) KL_PRINTF(2, 3);
void kl__cell_int(kl__cells_t *c, int64_t v);
void kl__cell_double(kl__cells_t *c, double v);
void kl__cell_bool(kl__cells_t *c, bool v);
void kl__cell_null(kl__cells_t *c);
/* The scratch buffer's contents as a string cell. */
void kl__cell_tmp(kl__cells_t *c);
/* translateTimestampSince: HumanDuration(now - ts), or "<unknown>" when ts is missing/zero. */
void kl__cell_age(kl__cells_t *c, kl_val_t ts);
/* labels.FormatLabels: "k=v,k2=v2" sorted, or "<none>". */
void kl__cell_labels(kl__cells_t *c, kl_val_t map);
/* metav1.FormatLabelSelector: "<none>" for an empty or missing selector, "<error>" for an
 * invalid one. */
void kl__cell_selector(kl__cells_t *c, kl_val_t selector);
/* LabelSelectorAsSelector(...).String(): "" for empty or missing, "<invalid>" when invalid. */
void kl__cell_selector_raw(kl__cells_t *c, kl_val_t selector);
/* layoutContainerCells: two cells, the names and the images joined with ",". */
void kl__cell_containers(kl__cells_t *c, kl_val_t containers);

/* Scratch-buffer appends (sticky errors as for cells). */
void kl__tmp_reset(kl__cells_t *c);
void kl__tmp_puts(kl__cells_t *c, const char *s);
void kl__tmp_putn(kl__cells_t *c, const char *s, size_t n);
void kl__tmp_printf(kl__cells_t *c, const char *fmt, ...) KL_PRINTF(2, 3);

/* ---- Values ----------------------------------------------------------------------------- */

/* A string member or "" (never NULL); *len optional. */
const char *kl__str(kl_val_t v, const char *key, size_t *len);
/* True when v is a string equal to s. */
bool kl__str_is(kl_val_t v, const char *s);
/* True when v is present and not null (Go: a non-nil pointer). */
bool kl__present(kl_val_t v);

/* ---- Time (stand-ins for ktime.h, see table_util.c) -------------------------------------- */

#define KL__ZERO_TIME_SEC ((int64_t)-62135596800) /* 0001-01-01T00:00:00Z, Go's zero Time */

/* Parses RFC 3339 as Go's time.Parse(time.RFC3339, s) does (fraction optional, Z or ±hh:mm).
 * 0 or KL_ESYNTAX. */
int kl__time_parse(const char *s, size_t len, int64_t *sec, int32_t *nsec);
/* metav1.Time from a JSON value: false when missing, null, "", unparseable or Go's zero time. */
bool kl__time_of(kl_val_t v, int64_t *sec, int32_t *nsec);
/* "YYYY-MM-DDTHH:MM:SSZ" (out >= 32 bytes). */
void kl__time_format(int64_t sec, char *out);
/* HumanDuration of a duration in whole seconds (truncated toward zero, as Go's int(d.Seconds())).
 * out needs 16 bytes. */
void kl__human_duration(int64_t seconds, char *out, size_t cap);
/* HumanDuration(now - t) with t's nanoseconds taken into account. */
void kl__since(int64_t now, int64_t sec, int32_t nsec, char *out, size_t cap);

#endif
