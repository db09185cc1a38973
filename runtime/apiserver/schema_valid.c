/* apiserver/schema_valid.c - custom resources checked against their structural schema as
 * kube-apiserver checks them: defaults (schema/defaulting), pruning of defaults
 * (schema/pruning), the OpenAPI value validations of kube-openapi's SchemaValidator turned into
 * field errors as apiextensions-apiserver's validation package turns them, the uniqueness of
 * x-kubernetes-list-type set and map lists (schema/listtype), and the value checks of a CRD's
 * own schemas.
 *
 * Paths are kube-openapi's: "spec.ports[0].name", map keys joined with a dot. Messages quote
 * values the way Go's fmt does (see kl__schema_go_value()).
 */
#include "apiserver/schema_valid.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/buf.h"
#include "kubelua/error.h"
#include "kubelua/json.h"
#include "kubelua/schema.h"

#include "apiserver/schema_int.h"

/* ---- Pruning and defaulting ----------------------------------------------------------- */

static bool is_crd_node(const kl_stype_t *t)
{
    return t != NULL && t->crd;
}

int kl__schema_prune(const kl_stype_t *t, kl_json_t *j)
{
    if (!is_crd_node(t) || j == NULL)
        return 0;
    if (j->type == KL_TOBJECT && t->kind == KL_SK_OBJECT) {
        for (uint32_t i = 0; i < j->len;) {
            kl_jmember_t *m = &j->u.members[i];
            const kl_sfield_t *f = kl_stype_field(t, m->key, m->keylen);
            if (f == NULL) {
                if (!t->preserve_unknown) {
                    char *key = strdup(m->key);
                    if (key == NULL)
                        return KL_ENOMEM;
                    kl_json_del(j, key);
                    free(key);
                    continue;
                }
            } else if (kl__schema_prune(f->type, m->val) < 0) {
                return KL_ENOMEM;
            }
            i++;
        }
    } else if (j->type == KL_TOBJECT && t->kind == KL_SK_MAP) {
        for (uint32_t i = 0; i < j->len; i++)
            if (kl__schema_prune(t->elem, j->u.members[i].val) < 0)
                return KL_ENOMEM;
    } else if (j->type == KL_TARRAY && t->kind == KL_SK_LIST) {
        for (uint32_t i = 0; i < j->len; i++)
            if (kl__schema_prune(t->elem, j->u.items[i]) < 0)
                return KL_ENOMEM;
    }
    return 0;
}

static bool nonnullable_with_default(const kl_stype_t *t)
{
    return is_crd_node(t) && t->valid != NULL && t->valid->def != NULL && !t->valid->nullable;
}

static bool has_defaults_below(const kl_stype_t *t)
{
    return is_crd_node(t) && t->valid != NULL && t->valid->subtree_defaults;
}

/* structuraldefaulting.Default: missing fields (and nulls of non-nullable ones) get the default,
 * then every member is defaulted with its own schema. */
static int default_node(const kl_stype_t *t, kl_json_t *j, int *changed)
{
    if (!has_defaults_below(t) || j == NULL)
        return 0;
    if (j->type == KL_TOBJECT && t->kind == KL_SK_OBJECT) {
        for (size_t i = 0; i < t->nfields; i++) {
            const kl_stype_t *ft = t->fields[i].type;
            if (!is_crd_node(ft) || ft->valid == NULL || ft->valid->def == NULL)
                continue;
            const kl_json_t *cur = kl_json_get(j, t->fields[i].name);
            if (cur != NULL && !(cur->type == KL_TNULL && !ft->valid->nullable))
                continue;
            kl_json_t *d = kl_json_dup(ft->valid->def);
            if (d == NULL || kl_json_set(j, t->fields[i].name, d) < 0)
                return KL_ENOMEM;
            *changed = 1;
        }
        for (uint32_t i = 0; i < j->len; i++) {
            kl_jmember_t *m = &j->u.members[i];
            const kl_sfield_t *f = kl_stype_field(t, m->key, m->keylen);
            if (f != NULL && default_node(f->type, m->val, changed) < 0)
                return KL_ENOMEM;
        }
    } else if (j->type == KL_TOBJECT && t->kind == KL_SK_MAP) {
        for (uint32_t i = 0; i < j->len; i++) {
            kl_jmember_t *m = &j->u.members[i];
            if (m->val->type == KL_TNULL && nonnullable_with_default(t->elem)) {
                kl_json_t *d = kl_json_dup(t->elem->valid->def);
                if (d == NULL)
                    return KL_ENOMEM;
                kl_json_free(m->val);
                m->val = d;
                *changed = 1;
            }
            if (default_node(t->elem, m->val, changed) < 0)
                return KL_ENOMEM;
        }
    } else if (j->type == KL_TARRAY && t->kind == KL_SK_LIST) {
        for (uint32_t i = 0; i < j->len; i++) {
            if (j->u.items[i]->type == KL_TNULL && nonnullable_with_default(t->elem)) {
                kl_json_t *d = kl_json_dup(t->elem->valid->def);
                if (d == NULL || kl_json_replace_at(j, i, d) < 0)
                    return KL_ENOMEM;
                *changed = 1;
            }
            if (default_node(t->elem, j->u.items[i], changed) < 0)
                return KL_ENOMEM;
        }
    }
    return 0;
}

int kl_schema_apply_defaults(const kl_stype_t *t, kl_json_t *obj)
{
    int changed = 0;
    int rc = default_node(t, obj, &changed);
    return rc < 0 ? rc : changed;
}

/* ---- Validation ----------------------------------------------------------------------- */

typedef struct vctx {
    kl_ferrs_t *errs;
    kl_ferrs_t lerrs;   /* list-type errors: reported after the schema's */
    kl_buf_t name;      /* kube-openapi's path of the value: spec.ports[0].name */
    const char *prefix; /* field path the name is a child of (CRD defaults), or NULL */
    kl_buf_t field;     /* scratch: the field path of an error */
    kl_buf_t val;       /* scratch: a rendered value */
    kl_buf_t msg;       /* scratch: a detail */
    bool oom;
} vctx_t;

static void note(vctx_t *c, int rc)
{
    if (rc < 0)
        c->oom = true;
}

static void truncate_buf(kl_buf_t *b, size_t len)
{
    b->len = len;
    if (b->data != NULL)
        b->data[len] = '\0';
}

static const char *name_of(vctx_t *c)
{
    return c->name.data ? c->name.data : "";
}

/* The field path of an error at the current name, with an optional child (required fields). */
static const char *field_of(vctx_t *c, const char *child)
{
    truncate_buf(&c->field, 0);
    int rc = 0;
    if (c->prefix != NULL)
        rc = kl_buf_puts(&c->field, c->prefix);
    if (rc == 0 && c->name.len > 0)
        rc = kl_buf_printf(&c->field, "%s%s", c->field.len ? "." : "", c->name.data);
    if (rc == 0 && child != NULL)
        rc = kl_buf_printf(&c->field, "%s%s", c->field.len ? "." : "", child);
    note(c, rc);
    return c->field.data ? c->field.data : "";
}

static const char *value_of(vctx_t *c, const kl_json_t *j)
{
    truncate_buf(&c->val, 0);
    note(c, kl__schema_go_value(j, &c->val));
    return c->val.data ? c->val.data : "";
}

static const char *quoted(vctx_t *c, const char *s)
{
    truncate_buf(&c->val, 0);
    note(c, kl__schema_quote(s, strlen(s), &c->val));
    return c->val.data ? c->val.data : "";
}

static void add_err(vctx_t *c, kl_ferr_type_t type, const char *value, const char *fmt, ...)
    KL_PRINTF(4, 5);
static void add_err(vctx_t *c, kl_ferr_type_t type, const char *value, const char *fmt, ...)
{
    truncate_buf(&c->msg, 0);
    int rc = 0;
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        rc = kl_buf_vprintf(&c->msg, fmt, ap);
        va_end(ap);
    }
    note(c, rc);
    kl_ferr_add(c->errs, type, field_of(c, NULL), value, fmt ? c->msg.data : NULL);
}

static const char *type_name(const kl_stype_t *t)
{
    switch (t->kind) {
    case KL_SK_STRING:
        return "string";
    case KL_SK_INT:
        return "integer";
    case KL_SK_NUMBER:
        return "number";
    case KL_SK_BOOL:
        return "boolean";
    case KL_SK_LIST:
        return "array";
    case KL_SK_INT_OR_STRING:
        return "integer,string";
    case KL_SK_ANY:
        return "";
    default:
        return "object";
    }
}

/* The JSON type Go's decoder gives a value, and its strfmt format. */
static const char *value_type(const kl_json_t *j, const char **format)
{
    *format = "";
    switch (j->type) {
    case KL_TSTRING:
        return "string";
    case KL_TINT:
        *format = "int64";
        return "integer";
    case KL_TDOUBLE:
        *format = "float64";
        return "number";
    case KL_TTRUE:
    case KL_TFALSE:
        return "boolean";
    case KL_TARRAY:
        return "array";
    case KL_TOBJECT:
        return "object";
    default:
        return "null";
    }
}

static bool type_has(const kl_stype_t *t, const char *name)
{
    switch (t->kind) {
    case KL_SK_ANY:
        return false;
    case KL_SK_INT_OR_STRING:
        return strcmp(name, "integer") == 0 || strcmp(name, "string") == 0;
    default:
        return strcmp(type_name(t), name) == 0;
    }
}

/* swag.IsFloat64AJSONInteger. */
static bool is_json_integer(double f)
{
    const double max = 9007199254740991.0;
    if (!isfinite(f) || f < -max || f > max)
        return false;
    double g = trunc(f);
    if (f == g)
        return true;
    double diff = fabs(f - g);
    if (g == 0)
        return diff < 1e-9 * 4.9406564584124654e-324;
    return diff / fmin(fabs(f) + fabs(g), 1.79769313486231570e+308) < 1e-9;
}

static void type_error(vctx_t *c, const char *want, const char *have)
{
    truncate_buf(&c->msg, 0);
    char shown[64];
    snprintf(shown, sizeof(shown), "%s", quoted(c, have));
    add_err(c, KL_FERR_TYPE_INVALID, shown, "%s in body must be of type %s: %s", name_of(c), want,
            shown);
}

/* kube-openapi's typeValidator. Returns whether the value has the schema's type. */
static bool check_type(vctx_t *c, const kl_stype_t *t, const kl_json_t *j)
{
    const char *format = t->valid ? t->valid->format : NULL;
    if (t->kind == KL_SK_ANY && format == NULL)
        return true;
    const char *dfmt;
    const char *sch = value_type(j, &dfmt);
    bool str_or_list = j->type == KL_TSTRING || j->type == KL_TARRAY;
    bool float_int = j->type == KL_TDOUBLE && is_json_integer(j->u.d) && type_has(t, "integer");
    bool int_float = j->type == KL_TINT && type_has(t, "number");
    bool has = type_has(t, sch);
    if (!str_or_list && format != NULL &&
        !(has || strcmp(dfmt, format) == 0 || float_int || int_float)) {
        type_error(c, format, dfmt);
        return false;
    }
    if (!type_has(t, "number") && !type_has(t, "integer") && format != NULL && str_or_list)
        return true;
    if (!(has || float_int || int_float)) {
        type_error(c, type_name(t), sch);
        return false;
    }
    return true;
}

static size_t utf8_count(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            n++;
    return n;
}

static void check_string(vctx_t *c, const kl_svalid_t *v, const kl_json_t *j)
{
    if (v == NULL)
        return;
    int64_t n = (int64_t)utf8_count(j->u.s, j->len);
    if (v->max_len >= 0 && n > v->max_len) {
        add_err(c, KL_FERR_TOO_LONG, NULL, "may not be more than %lld byte%s",
                (long long)v->max_len, v->max_len == 1 ? "" : "s");
        return;
    }
    if (v->min_len >= 0 && n < v->min_len) {
        add_err(c, KL_FERR_INVALID, value_of(c, j), "%s in body should be at least %lld chars long",
                name_of(c), (long long)v->min_len);
        return;
    }
    if (v->pattern != NULL) {
        int m = v->re ? kl__regex_search(v->re, j->u.s, j->len) : -1;
        if (v->re == NULL)
            add_err(c, KL_FERR_INVALID, value_of(c, j),
                    "%s in body should match '%s, but pattern is invalid: %s'", name_of(c),
                    v->pattern, v->re_error ? v->re_error : "");
        else if (m == 0)
            add_err(c, KL_FERR_INVALID, value_of(c, j), "%s in body should match '%s'", name_of(c),
                    v->pattern);
    }
}

static void check_format(vctx_t *c, const kl_svalid_t *v, const kl_json_t *j)
{
    if (v == NULL || v->format == NULL)
        return;
    if (kl__format_check(v->format, j->u.s, j->len) != 0)
        return;
    const char *shown = value_of(c, j);
    char *copy = strdup(shown);
    if (copy == NULL) {
        c->oom = true;
        return;
    }
    add_err(c, KL_FERR_INVALID, copy, "%s in body must be of type %s: %s", name_of(c), v->format,
            copy);
    free(copy);
}

static int float_text(vctx_t *c, double d, char *out, size_t cap)
{
    truncate_buf(&c->val, 0);
    int rc = kl__schema_go_float(d, &c->val);
    note(c, rc);
    snprintf(out, cap, "%s", c->val.data ? c->val.data : "");
    return rc;
}

/* kube-openapi's numberValidator: multipleOf, minimum, maximum, each with integer arithmetic for
 * integer values (the limit truncated to an integer, as upstream converts it). */
static void check_number(vctx_t *c, const kl_svalid_t *v, const kl_json_t *j)
{
    if (v == NULL || !(v->has_multiple || v->has_min || v->has_max))
        return;
    char value[64], lim[64];
    value[0] = '\0';
    bool isint = j->type == KL_TINT;
    double d = isint ? (double)j->u.i : j->u.d;
/* The value's text, rendered only when an error needs it. */
#define VALUE() (value[0] ? value : (snprintf(value, sizeof(value), "%s", value_of(c, j)), value))
    if (v->has_multiple) {
        int64_t fi = (int64_t)v->multiple;
        if (isint && fi != 0) {
            if (fi < 0)
                add_err(c, KL_FERR_INVALID, VALUE(),
                        "factor MultipleOf declared for %s must be positive: %lld", name_of(c),
                        (long long)fi);
            else if (j->u.i % fi != 0)
                add_err(c, KL_FERR_INVALID, VALUE(), "%s in body should be a multiple of %lld",
                        name_of(c), (long long)fi);
        } else {
            double mult = v->multiple < 1 ? 1 / v->multiple * d : d / v->multiple;
            if (v->multiple < 0) {
                float_text(c, v->multiple, lim, sizeof(lim));
                add_err(c, KL_FERR_INVALID, VALUE(),
                        "factor MultipleOf declared for %s must be positive: %s", name_of(c), lim);
            } else if (!is_json_integer(mult)) {
                float_text(c, v->multiple, lim, sizeof(lim));
                add_err(c, KL_FERR_INVALID, VALUE(), "%s in body should be a multiple of %s",
                        name_of(c), lim);
            }
        }
    }
    if (v->has_min) {
        int64_t m = (int64_t)v->min;
        bool bad = isint ? (v->excl_min ? j->u.i <= m : j->u.i < m)
                         : (v->excl_min ? d <= v->min : d < v->min);
        if (bad) {
            if (isint)
                snprintf(lim, sizeof(lim), "%lld", (long long)m);
            else
                float_text(c, v->min, lim, sizeof(lim));
            add_err(c, KL_FERR_INVALID, VALUE(), "%s in body should be greater than %s%s",
                    name_of(c), v->excl_min ? "" : "or equal to ", lim);
        }
    }
    if (v->has_max) {
        int64_t m = (int64_t)v->max;
        bool bad = isint ? (v->excl_max ? j->u.i >= m : j->u.i > m)
                         : (v->excl_max ? d >= v->max : d > v->max);
        if (bad) {
            if (isint)
                snprintf(lim, sizeof(lim), "%lld", (long long)m);
            else
                float_text(c, v->max, lim, sizeof(lim));
            add_err(c, KL_FERR_INVALID, VALUE(), "%s in body should be less than %s%s", name_of(c),
                    v->excl_max ? "" : "or equal to ", lim);
        }
    }
#undef VALUE
}

static void check_enum(vctx_t *c, const kl_stype_t *t, const kl_json_t *j)
{
    kl_buf_t enc, all;
    kl_buf_init(&enc, KL_BUF_DEFAULT_MAX);
    kl_buf_init(&all, KL_BUF_DEFAULT_MAX);
    int rc = j->type == KL_TSTRING || j->type == KL_TNULL ? 0 : kl_json_encode(j, &enc);
    const char *text = j->type == KL_TSTRING ? j->u.s : enc.data;
    bool found = false;
    for (const char *const *e = t->enum_values; rc == 0 && *e != NULL && !found; e++)
        found = j->type != KL_TNULL && text != NULL && strcmp(*e, text) == 0;
    for (const char *const *e = t->enum_values; rc == 0 && !found && *e != NULL; e++) {
        if (all.len > 0)
            rc = kl_buf_puts(&all, ", ");
        if (rc == 0)
            rc = kl__schema_quote(*e, strlen(*e), &all);
    }
    note(c, rc);
    if (rc == 0 && !found) {
        char *shown = strdup(value_of(c, j));
        if (shown == NULL)
            c->oom = true;
        else
            kl_ferr_add(c->errs, KL_FERR_NOT_SUPPORTED, field_of(c, NULL), shown,
                        all.data ? all.data : NULL);
        free(shown);
    }
    kl_buf_cleanup(&enc);
    kl_buf_cleanup(&all);
}

static void check_node(vctx_t *c, const kl_stype_t *t, const kl_json_t *j, const kl_json_t *old);

static int push_key(vctx_t *c, const char *key)
{
    int rc = c->name.len > 0 ? kl_buf_putc(&c->name, '.') : 0;
    if (rc == 0)
        rc = kl_buf_puts(&c->name, key);
    note(c, rc);
    return rc;
}

static void push_index(vctx_t *c, uint32_t i)
{
    char tmp[16];
    int n = 0;
    tmp[sizeof(tmp) - 1] = ']';
    do {
        tmp[sizeof(tmp) - 2 - n++] = (char)('0' + i % 10);
        i /= 10;
    } while (i > 0);
    tmp[sizeof(tmp) - 2 - n] = '[';
    note(c, kl_buf_append(&c->name, tmp + sizeof(tmp) - 2 - n, (size_t)n + 2));
}

static bool scalar_kind_differs(const kl_json_t *a, const kl_json_t *b)
{
    /* Go compares decoded scalars by type too: int64(1) and float64(1) are different. */
    return (a->type == KL_TINT && b->type == KL_TDOUBLE) ||
           (a->type == KL_TDOUBLE && b->type == KL_TINT);
}

static bool go_equal(const kl_json_t *a, const kl_json_t *b)
{
    if (scalar_kind_differs(a, b))
        return false;
    return kl_json_equal(a, b);
}

/* The stored item of a map list with the same keys as item, for ratcheting. */
static const kl_json_t *map_list_peer(const kl_stype_t *t, const kl_json_t *old,
                                      const kl_json_t *item)
{
    if (old == NULL || old->type != KL_TARRAY || t->list_type == NULL ||
        strcmp(t->list_type, "map") != 0 || t->list_map_keys == NULL || item->type != KL_TOBJECT)
        return NULL;
    for (uint32_t i = 0; i < old->len; i++) {
        const kl_json_t *o = old->u.items[i];
        if (o->type != KL_TOBJECT)
            continue;
        bool same = true;
        for (const char *const *k = t->list_map_keys; same && *k; k++) {
            const kl_json_t *a = kl_json_get(item, *k), *b = kl_json_get(o, *k);
            same = (a == NULL && b == NULL) || (a && b && go_equal(a, b));
        }
        if (same)
            return o;
    }
    return NULL;
}

static void check_list(vctx_t *c, const kl_stype_t *t, const kl_json_t *j, const kl_json_t *old)
{
    size_t len = c->name.len;
    for (uint32_t i = 0; t->elem != NULL && i < j->len && !c->oom; i++) {
        push_index(c, i);
        check_node(c, t->elem, j->u.items[i], map_list_peer(t, old, j->u.items[i]));
        truncate_buf(&c->name, len);
    }
    const kl_svalid_t *v = t->valid;
    if (v == NULL)
        return;
    int64_t n = j->len;
    if (v->min_items >= 0 && n < v->min_items) {
        char value[32];
        snprintf(value, sizeof(value), "%lld", (long long)n);
        add_err(c, KL_FERR_INVALID, value, "%s in body should have at least %lld items", name_of(c),
                (long long)v->min_items);
    }
    if (v->max_items >= 0 && n > v->max_items) {
        char value[32];
        snprintf(value, sizeof(value), "%lld", (long long)n);
        add_err(c, KL_FERR_TOO_MANY, value, "must have at most %lld item%s",
                (long long)v->max_items, v->max_items == 1 ? "" : "s");
    }
    if (v->unique_items) {
        bool dup = false;
        for (uint32_t a = 1; a < j->len && !dup; a++)
            for (uint32_t b = 0; b < a && !dup; b++)
                dup = go_equal(j->u.items[a], j->u.items[b]);
        if (dup)
            add_err(c, KL_FERR_INVALID, "\"\"", "%s in body shouldn't contain duplicates",
                    name_of(c));
    }
}

static void check_object(vctx_t *c, const kl_stype_t *t, const kl_json_t *j, const kl_json_t *old)
{
    const kl_svalid_t *v = t->valid;
    int64_t n = j->len;
    if (v != NULL && v->min_props >= 0 && n < v->min_props) {
        /* kube-openapi reports the limit as the value. */
        char value[32];
        snprintf(value, sizeof(value), "%lld", (long long)v->min_props);
        add_err(c, KL_FERR_INVALID, value, "%s in body should have at least %lld properties",
                name_of(c), (long long)v->min_props);
        return;
    }
    if (v != NULL && v->max_props >= 0 && n > v->max_props) {
        char value[32];
        snprintf(value, sizeof(value), "%lld", (long long)v->max_props);
        add_err(c, KL_FERR_TOO_MANY, value, "must have at most %lld item%s",
                (long long)v->max_props, v->max_props == 1 ? "" : "s");
        return;
    }
    if (t->kind != KL_SK_OBJECT && t->kind != KL_SK_MAP)
        return;
    size_t len = c->name.len;
    for (uint32_t i = 0; i < j->len && !c->oom; i++) {
        const kl_jmember_t *m = &j->u.members[i];
        const kl_stype_t *sub;
        if (t->kind == KL_SK_MAP) {
            sub = t->elem;
        } else {
            const kl_sfield_t *f = kl_stype_field(t, m->key, m->keylen);
            sub = f ? f->type : NULL;
        }
        if (!is_crd_node(sub))
            continue;
        if (push_key(c, m->key) == 0)
            check_node(c, sub, m->val, old ? kl_json_getn(old, m->key, m->keylen) : NULL);
        truncate_buf(&c->name, len);
    }
    for (size_t i = 0; t->kind == KL_SK_OBJECT && i < t->nfields; i++) {
        const kl_sfield_t *f = &t->fields[i];
        if ((f->flags & KL_SF_REQUIRED) && kl_json_get(j, f->name) == NULL)
            kl_ferr_add(c->errs, KL_FERR_REQUIRED, field_of(c, f->name), NULL, NULL);
    }
}

static void check_node(vctx_t *c, const kl_stype_t *t, const kl_json_t *j, const kl_json_t *old)
{
    if (!is_crd_node(t) || c->oom)
        return;
    /* Ratcheting: a value unchanged from the stored object is not judged again. */
    if (old != NULL && kl_json_equal(old, j))
        return;
    const kl_svalid_t *v = t->valid;
    if (j->type == KL_TNULL) {
        if (t->kind != KL_SK_ANY && !(v && v->nullable))
            type_error(c, type_name(t), "null");
        if (t->enum_values != NULL)
            check_enum(c, t, j);
        return;
    }
    check_type(c, t, j);
    if (j->type == KL_TSTRING) {
        check_string(c, v, j);
        check_format(c, v, j);
    } else if (kl_json_is_number(j)) {
        check_number(c, v, j);
    } else if (j->type == KL_TARRAY && t->kind == KL_SK_LIST) {
        check_list(c, t, j, old && old->type == KL_TARRAY ? old : NULL);
    }
    if (t->enum_values != NULL)
        check_enum(c, t, j);
    if (j->type == KL_TOBJECT)
        check_object(c, t, j, old && old->type == KL_TOBJECT ? old : NULL);
}

/* ---- x-kubernetes-list-type ----------------------------------------------------------- */

static void add_duplicate(vctx_t *c, uint32_t index, const kl_json_t *value)
{
    size_t len = c->name.len;
    push_index(c, index);
    kl_ferr_add(&c->lerrs, KL_FERR_DUPLICATE, field_of(c, NULL), value_of(c, value), NULL);
    truncate_buf(&c->name, len);
}

/* The indices of the second appearance of each repeated value. */
static void set_duplicates(vctx_t *c, const kl_json_t *const *vals, uint32_t n,
                           const kl_json_t *const *shown)
{
    for (uint32_t i = 1; i < n; i++) {
        uint32_t seen = 0;
        for (uint32_t k = 0; k < i; k++)
            if (go_equal(vals[i], vals[k]))
                seen++;
        if (seen == 1)
            add_duplicate(c, i, shown[i]);
    }
}

static void listtype_node(vctx_t *c, const kl_stype_t *t, const kl_json_t *j);

static void listtype_list(vctx_t *c, const kl_stype_t *t, const kl_json_t *j)
{
    const char *lt = t->list_type;
    if (lt != NULL && strcmp(lt, "set") == 0 && j->len > 1) {
        set_duplicates(c, (const kl_json_t *const *)j->u.items, j->len,
                       (const kl_json_t *const *)j->u.items);
    } else if (lt != NULL && strcmp(lt, "map") == 0 && t->list_map_keys != NULL) {
        for (uint32_t i = 0; i < j->len; i++) {
            const kl_json_t *x = j->u.items[i];
            if (x->type != KL_TOBJECT && x->type != KL_TNULL) {
                size_t len = c->name.len;
                push_index(c, i);
                kl_ferr_add(&c->lerrs, KL_FERR_INVALID, field_of(c, NULL), value_of(c, x),
                            "must be an object for an array of list-type map");
                truncate_buf(&c->name, len);
                goto items;
            }
        }
        for (uint32_t i = 1; i < j->len && !c->oom; i++) {
            /* Items are compared by the key fields they have (a missing key is a value too). */
            uint32_t seen = 0;
            for (uint32_t k = 0; k < i; k++) {
                bool same = true;
                for (const char *const *key = t->list_map_keys; same && *key; key++) {
                    const kl_json_t *a = kl_json_get(j->u.items[i], *key);
                    const kl_json_t *b = kl_json_get(j->u.items[k], *key);
                    same = (a == NULL && b == NULL) || (a && b && go_equal(a, b));
                }
                seen += same;
            }
            if (seen != 1)
                continue;
            kl_json_t *shown = kl_json_object();
            bool ok = shown != NULL;
            for (const char *const *key = t->list_map_keys; ok && *key; key++) {
                const kl_json_t *kv = kl_json_get(j->u.items[i], *key);
                kl_json_t *d = kv ? kl_json_dup(kv) : NULL;
                ok = kv == NULL || (d != NULL && kl_json_set(shown, *key, d) == 0);
            }
            if (ok)
                add_duplicate(c, i, shown);
            else
                c->oom = true;
            kl_json_free(shown);
        }
    }
items:
    for (uint32_t i = 0; t->elem != NULL && i < j->len; i++) {
        size_t len = c->name.len;
        push_index(c, i);
        listtype_node(c, t->elem, j->u.items[i]);
        truncate_buf(&c->name, len);
    }
}

static void listtype_node(vctx_t *c, const kl_stype_t *t, const kl_json_t *j)
{
    if (!is_crd_node(t) || c->oom)
        return;
    if (j->type == KL_TARRAY && t->kind == KL_SK_LIST) {
        listtype_list(c, t, j);
    } else if (j->type == KL_TOBJECT && (t->kind == KL_SK_OBJECT || t->kind == KL_SK_MAP)) {
        size_t len = c->name.len;
        for (uint32_t i = 0; i < j->len; i++) {
            const kl_jmember_t *m = &j->u.members[i];
            const kl_stype_t *sub = t->elem;
            if (t->kind == KL_SK_OBJECT) {
                const kl_sfield_t *f = kl_stype_field(t, m->key, m->keylen);
                sub = f ? f->type : NULL;
            }
            if (!is_crd_node(sub) || push_key(c, m->key) < 0)
                continue;
            listtype_node(c, sub, m->val);
            truncate_buf(&c->name, len);
        }
    }
}

static void vctx_init(vctx_t *c, kl_ferrs_t *errs, const char *prefix)
{
    memset(c, 0, sizeof(*c));
    c->errs = errs;
    c->prefix = prefix;
    kl_ferrs_init(&c->lerrs);
    kl_buf_init(&c->name, KL_BUF_DEFAULT_MAX);
    kl_buf_init(&c->field, KL_BUF_DEFAULT_MAX);
    kl_buf_init(&c->val, KL_BUF_DEFAULT_MAX);
    kl_buf_init(&c->msg, KL_BUF_DEFAULT_MAX);
}

static void vctx_cleanup(vctx_t *c)
{
    if (c->oom)
        c->errs->oom = 1;
    kl_ferrs_cleanup(&c->lerrs);
    kl_buf_cleanup(&c->name);
    kl_buf_cleanup(&c->field);
    kl_buf_cleanup(&c->val);
    kl_buf_cleanup(&c->msg);
}

void kl_schema_validate_cr(const kl_stype_t *t, const kl_json_t *obj, const kl_json_t *old,
                           kl_ferrs_t *errs)
{
    if (!is_crd_node(t) || obj == NULL)
        return;
    vctx_t c;
    vctx_init(&c, errs, NULL);
    check_node(&c, t, obj, old);
    truncate_buf(&c.name, 0);
    listtype_node(&c, t, obj);
    for (size_t i = 0; i < c.lerrs.n; i++) {
        const kl_ferr_t *f = &c.lerrs.items[i];
        kl_ferr_add(errs, f->type, f->field, f->value, f->detail);
    }
    vctx_cleanup(&c);
}

/* ---- The schemas of a CustomResourceDefinition ---------------------------------------- */

typedef struct crdchk {
    kl_ferrs_t *errs;
    kl_buf_t path;
    bool defaults; /* second pass: the defaults */
    bool oom;
} crdchk_t;

static const char *cpath(crdchk_t *k, const char *child)
{
    static const char empty[] = "";
    if (child == NULL)
        return k->path.data ? k->path.data : empty;
    size_t len = k->path.len;
    if (kl_buf_printf(&k->path, ".%s", child) < 0)
        k->oom = true;
    char *s = k->path.data ? strdup(k->path.data) : NULL;
    truncate_buf(&k->path, len);
    /* The caller frees it through cadd(). */
    return s;
}

static void cadd(crdchk_t *k, kl_ferr_type_t type, const char *child, const char *value,
                 const char *detail)
{
    char *field = (char *)cpath(k, child);
    if (field == NULL) {
        k->oom = true;
        return;
    }
    kl_ferr_add(k->errs, type, field, value, detail);
    free(field);
}

static bool is_one_of(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

static void check_default(crdchk_t *k, const kl_json_t *def, const kl_stype_t *tt)
{
    kl_json_t *pruned = kl_json_dup(def);
    if (pruned == NULL || kl__schema_prune(tt, pruned) < 0) {
        kl_json_free(pruned);
        k->oom = true;
        return;
    }
    if (!kl_json_equal(pruned, def)) {
        kl_buf_t v;
        kl_buf_init(&v, KL_BUF_DEFAULT_MAX);
        if (kl__schema_go_value(def, &v) < 0)
            k->oom = true;
        cadd(k, KL_FERR_INVALID, "default", v.data, "must not have unknown fields");
        kl_buf_cleanup(&v);
    }
    char *field = (char *)cpath(k, "default");
    if (field != NULL) {
        vctx_t c;
        vctx_init(&c, k->errs, field);
        check_node(&c, tt, pruned, NULL);
        vctx_cleanup(&c);
    } else {
        k->oom = true;
    }
    free(field);
    kl_json_free(pruned);
}

/* One schema node s (tt is its converted type, or NULL). Defaults are not followed into
 * additionalProperties nor into metadata, as upstream. */
static void check_schema(crdchk_t *k, const kl_json_t *s, const kl_stype_t *tt, bool root,
                         bool in_meta, bool in_addl)
{
    if (!kl_json_is(s, KL_TOBJECT) || k->oom)
        return;
    if (!is_crd_node(tt))
        tt = NULL;
    if (k->defaults) {
        const kl_json_t *def = kl_json_get(s, "default");
        if (def != NULL && tt != NULL && !in_meta && !in_addl)
            check_default(k, def, tt);
    } else {
        if (kl_json_bool_or(kl_json_get(s, "uniqueItems"), false))
            cadd(k, KL_FERR_FORBIDDEN, "uniqueItems", NULL,
                 "uniqueItems cannot be set to true since the runtime complexity becomes "
                 "quadratic");
        const char *pat = kl_json_str(kl_json_get(s, "pattern"));
        if (pat != NULL && *pat) {
            char why[300];
            void *re = kl__regex_compile(pat, why, sizeof(why));
            if (re == NULL) {
                kl_buf_t d, v;
                kl_buf_init(&d, KL_BUF_DEFAULT_MAX);
                kl_buf_init(&v, KL_BUF_DEFAULT_MAX);
                if (kl_buf_printf(&d, "must be a valid regular expression, but isn't: %s", why) <
                        0 ||
                    kl__schema_quote(pat, strlen(pat), &v) < 0)
                    k->oom = true;
                cadd(k, KL_FERR_INVALID, "pattern", v.data, d.data);
                kl_buf_cleanup(&d);
                kl_buf_cleanup(&v);
            } else {
                kl__regex_free(re);
            }
        }
        static const char *const list_types[] = {"atomic", "set", "map", NULL};
        static const char *const map_types[] = {"granular", "atomic", NULL};
        const char *lt = kl_json_str(kl_json_get(s, "x-kubernetes-list-type"));
        if (lt != NULL && !is_one_of(lt, list_types)) {
            kl_buf_t v;
            kl_buf_init(&v, KL_BUF_DEFAULT_MAX);
            if (kl__schema_quote(lt, strlen(lt), &v) < 0)
                k->oom = true;
            cadd(k, KL_FERR_NOT_SUPPORTED, "x-kubernetes-list-type", v.data,
                 "\"atomic\", \"set\", \"map\"");
            kl_buf_cleanup(&v);
        }
        const char *mt = kl_json_str(kl_json_get(s, "x-kubernetes-map-type"));
        if (mt != NULL && !is_one_of(mt, map_types)) {
            kl_buf_t v;
            kl_buf_init(&v, KL_BUF_DEFAULT_MAX);
            if (kl__schema_quote(mt, strlen(mt), &v) < 0)
                k->oom = true;
            cadd(k, KL_FERR_NOT_SUPPORTED, "x-kubernetes-map-type", v.data,
                 "\"granular\", \"atomic\"");
            kl_buf_cleanup(&v);
        }
        const kl_json_t *keys = kl_json_get(s, "x-kubernetes-list-map-keys");
        const kl_json_t *items = kl_json_get(s, "items");
        if (lt != NULL && strcmp(lt, "map") == 0 && kl_json_is(keys, KL_TARRAY)) {
            const kl_json_t *req = kl_json_get(items, "required");
            for (uint32_t i = 0; i < keys->len; i++) {
                const char *key = kl_json_str(keys->u.items[i]);
                const kl_json_t *prop = kl_json_path(items, "properties", key ? key : "", NULL);
                if (key == NULL || prop == NULL)
                    continue;
                bool required = false;
                for (uint32_t r = 0; kl_json_is(req, KL_TARRAY) && r < req->len; r++)
                    required = required || (kl_json_str(req->u.items[r]) &&
                                            strcmp(kl_json_str(req->u.items[r]), key) == 0);
                if (!required && kl_json_get(prop, "default") == NULL) {
                    char child[300];
                    snprintf(child, sizeof(child), "items.properties[%s].default", key);
                    cadd(k, KL_FERR_REQUIRED, child, NULL,
                         "this property is in x-kubernetes-list-map-keys, so it must have a "
                         "default or be a required property");
                }
            }
        }
    }
    size_t len = k->path.len;
    const kl_json_t *props = kl_json_get(s, "properties");
    bool embedded =
        root || kl_json_bool_or(kl_json_get(s, "x-kubernetes-embedded-resource"), false);
    for (uint32_t i = 0; kl_json_is(props, KL_TOBJECT) && i < props->len; i++) {
        const kl_jmember_t *m = &props->u.members[i];
        const kl_sfield_t *f = tt ? kl_stype_field(tt, m->key, m->keylen) : NULL;
        bool meta =
            in_meta || (embedded && (!strcmp(m->key, "metadata") || !strcmp(m->key, "apiVersion") ||
                                     !strcmp(m->key, "kind")));
        if (kl_buf_printf(&k->path, ".properties[%s]", m->key) < 0)
            k->oom = true;
        check_schema(k, m->val, f ? f->type : NULL, false, meta, in_addl);
        truncate_buf(&k->path, len);
    }
    const kl_json_t *items = kl_json_get(s, "items");
    if (items != NULL) {
        if (kl_buf_puts(&k->path, ".items") < 0)
            k->oom = true;
        check_schema(k, items, tt && tt->kind == KL_SK_LIST ? tt->elem : NULL, false, in_meta,
                     in_addl);
        truncate_buf(&k->path, len);
    }
    const kl_json_t *ap = kl_json_get(s, "additionalProperties");
    if (kl_json_is(ap, KL_TOBJECT)) {
        if (kl_buf_puts(&k->path, ".additionalProperties") < 0)
            k->oom = true;
        check_schema(k, ap, tt && tt->kind == KL_SK_MAP ? tt->elem : NULL, false, in_meta, true);
        truncate_buf(&k->path, len);
    }
}

void kl_crd_validate_schemas(const kl_json_t *crd, kl_ferrs_t *errs)
{
    const kl_json_t *versions = kl_json_path(crd, "spec", "versions", NULL);
    for (uint32_t i = 0; kl_json_is(versions, KL_TARRAY) && i < versions->len; i++) {
        const kl_json_t *schema =
            kl_json_path(versions->u.items[i], "schema", "openAPIV3Schema", NULL);
        if (!kl_json_is(schema, KL_TOBJECT))
            continue;
        crdchk_t k = {.errs = errs};
        kl_buf_init(&k.path, KL_BUF_DEFAULT_MAX);
        if (kl_buf_printf(&k.path, "spec.versions[%u].schema.openAPIV3Schema", i) < 0)
            k.oom = true;
        size_t before = errs->n;
        check_schema(&k, schema, NULL, true, false, false);
        /* Defaults are validated only once the schema itself is sound, as upstream. */
        kl_stype_t *tt = NULL;
        kl_errinfo_t err;
        if (errs->n == before && kl_schema_from_openapi(schema, &tt, &err) == 0) {
            k.defaults = true;
            check_schema(&k, schema, tt, true, false, false);
        }
        kl_stype_free(tt);
        if (k.oom)
            errs->oom = 1;
        kl_buf_cleanup(&k.path);
    }
}
