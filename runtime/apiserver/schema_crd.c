/* apiserver/schema_crd.c - types built from a CustomResourceDefinition's openAPIV3Schema.
 *
 * Every node of the result is malloc'ed, anonymous and marked crd; metadata points at the
 * built-in ObjectMeta, which kl_stype_free() leaves alone. Nodes that come from a schema carry
 * their value constraints and default in t->valid; nodes the conversion implies (apiVersion and
 * kind at the top, the items of `additionalProperties: true`) have none.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/error.h"
#include "kubelua/json.h"
#include "kubelua/log.h"
#include "kubelua/schema.h"

#include "apiserver/schema_int.h"

#define MAX_DEPTH 64

static const char objectmeta[] = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

static char *dup_str(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void free_strv(const char *const *v)
{
    if (v == NULL)
        return;
    for (const char *const *p = v; *p != NULL; p++)
        free((char *)*p);
    free((void *)v);
}

static void valid_free(kl_svalid_t *v)
{
    if (v == NULL)
        return;
    kl_json_free(v->def);
    free(v->pattern);
    free(v->re_error);
    free(v->map_type);
    if (v->re != NULL)
        kl__regex_free(v->re);
    free(v);
}

void kl_stype_free(kl_stype_t *t)
{
    if (t == NULL || !t->crd)
        return;
    valid_free((kl_svalid_t *)t->valid);
    kl_stype_free((kl_stype_t *)t->elem);
    for (size_t i = 0; i < t->nfields; i++) {
        kl_sfield_t *f = (kl_sfield_t *)&t->fields[i];
        kl_stype_free((kl_stype_t *)f->type);
        free((char *)f->name);
        free((char *)f->description);
    }
    free((void *)t->fields);
    free((char *)t->description);
    free((char *)t->list_type);
    free((char *)t->format);
    free_strv(t->list_map_keys);
    free_strv(t->enum_values);
    free(t);
}

/* A NULL-terminated copy of an array of strings (other values are JSON-encoded). */
static int strv_from(const kl_json_t *arr, const char *const **out)
{
    *out = NULL;
    if (!kl_json_is(arr, KL_TARRAY))
        return 0;
    char **v = calloc((size_t)arr->len + 1, sizeof(*v));
    if (v == NULL)
        return KL_ENOMEM;
    for (uint32_t i = 0; i < arr->len; i++) {
        const kl_json_t *it = arr->u.items[i];
        v[i] = it->type == KL_TSTRING ? strdup(it->u.s) : kl_json_encode_alloc(it, NULL);
        if (v[i] == NULL) {
            free_strv((const char *const *)v);
            return KL_ENOMEM;
        }
    }
    *out = (const char *const *)v;
    return 0;
}

static int cmp_field(const void *a, const void *b)
{
    return strcmp(((const kl_sfield_t *)a)->name, ((const kl_sfield_t *)b)->name);
}

static int convert(const kl_json_t *s, int depth, kl_stype_t **out, kl_errinfo_t *err);

/* Adds a field of a scalar or built-in type when the object does not have it. */
static int add_plain_field(kl_stype_t *t, kl_sfield_t *fields, const char *name, kl_skind_t kind,
                           const kl_stype_t *builtin)
{
    for (size_t i = 0; i < t->nfields; i++) {
        if (strcmp(fields[i].name, name) == 0) {
            if (builtin == NULL)
                return 0;
            kl_stype_free((kl_stype_t *)fields[i].type); /* metadata is always ObjectMeta */
            fields[i].type = builtin;
            return 0;
        }
    }
    kl_sfield_t *f = &fields[t->nfields];
    f->name = strdup(name);
    if (f->name == NULL)
        return KL_ENOMEM;
    t->nfields++;
    if (builtin != NULL) {
        f->type = builtin;
        return 0;
    }
    kl_stype_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return KL_ENOMEM;
    st->kind = kind;
    st->crd = true;
    f->type = st;
    return 0;
}

static int convert_object(const kl_json_t *s, int depth, kl_stype_t *t, bool embedded,
                          kl_errinfo_t *err)
{
    const kl_json_t *props = kl_json_get(s, "properties");
    uint32_t np = kl_json_is(props, KL_TOBJECT) ? props->len : 0;
    kl_sfield_t *fields = calloc((size_t)np + 3, sizeof(*fields));
    if (fields == NULL)
        return KL_ENOMEM;
    t->fields = fields;
    const kl_json_t *req = kl_json_get(s, "required");
    for (uint32_t i = 0; i < np; i++) {
        const kl_jmember_t *m = &props->u.members[i];
        kl_sfield_t *f = &fields[t->nfields];
        f->name = strdup(m->key);
        if (f->name == NULL)
            return KL_ENOMEM;
        t->nfields++;
        kl_stype_t *sub = NULL;
        int rc = convert(m->val, depth + 1, &sub, err);
        f->type = sub;
        if (rc < 0)
            return rc;
        f->description = dup_str(sub->description);
        if (kl_json_bool_or(kl_json_get(m->val, "nullable"), false))
            f->flags |= KL_SF_NULLABLE;
        for (uint32_t r = 0; kl_json_is(req, KL_TARRAY) && r < req->len; r++) {
            const char *rn = kl_json_str(req->u.items[r]);
            if (rn != NULL && strcmp(rn, m->key) == 0)
                f->flags |= KL_SF_REQUIRED;
        }
    }
    if (embedded) {
        const kl_stype_t *meta = kl_schema_lookup(objectmeta);
        int rc = add_plain_field(t, fields, "apiVersion", KL_SK_STRING, NULL);
        if (rc == 0)
            rc = add_plain_field(t, fields, "kind", KL_SK_STRING, NULL);
        if (rc == 0)
            rc = meta ? add_plain_field(t, fields, "metadata", KL_SK_OBJECT, meta) : KL_ENOTFOUND;
        if (rc < 0)
            return rc;
    }
    qsort(fields, t->nfields, sizeof(*fields), cmp_field);
    return 0;
}

static bool number_of(const kl_json_t *s, const char *key, double *out)
{
    const kl_json_t *j = kl_json_get(s, key);
    if (j == NULL || !kl_json_is_number(j))
        return false;
    *out = j->type == KL_TINT ? (double)j->u.i : j->u.d;
    return true;
}

static int64_t count_of(const kl_json_t *s, const char *key)
{
    const kl_json_t *j = kl_json_get(s, key);
    if (j == NULL || !kl_json_is_number(j))
        return -1;
    return j->type == KL_TINT ? j->u.i : (int64_t)j->u.d;
}

/* The format upstream keeps (StripUnsupportedFormatsPostProcess): string formats of its
 * registry, int32/int64 for integers, float/double for numbers. */
static const char *effective_format(const kl_stype_t *t)
{
    const char *f = t->format;
    if (f == NULL || *f == '\0')
        return NULL;
    switch (t->kind) {
    case KL_SK_STRING:
    case KL_SK_ANY:
    case KL_SK_INT_OR_STRING:
        return kl__format_supported(f) ? f : NULL;
    case KL_SK_INT:
        return strcmp(f, "int32") == 0 || strcmp(f, "int64") == 0 ? f : NULL;
    case KL_SK_NUMBER:
        return strcmp(f, "float") == 0 || strcmp(f, "double") == 0 ? f : NULL;
    default:
        return NULL;
    }
}

static atomic_bool cel_logged;

/* Reads the value constraints and the default of s into t->valid, after t's children. */
static int convert_valid(const kl_json_t *s, kl_stype_t *t, kl_errinfo_t *err)
{
    kl_svalid_t *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    t->valid = v;
    v->nullable = kl_json_bool_or(kl_json_get(s, "nullable"), false);
    v->has_min = number_of(s, "minimum", &v->min);
    v->has_max = number_of(s, "maximum", &v->max);
    v->has_multiple = number_of(s, "multipleOf", &v->multiple);
    v->excl_min = kl_json_bool_or(kl_json_get(s, "exclusiveMinimum"), false);
    v->excl_max = kl_json_bool_or(kl_json_get(s, "exclusiveMaximum"), false);
    v->min_len = count_of(s, "minLength");
    v->max_len = count_of(s, "maxLength");
    v->min_items = count_of(s, "minItems");
    v->max_items = count_of(s, "maxItems");
    v->min_props = count_of(s, "minProperties");
    v->max_props = count_of(s, "maxProperties");
    v->unique_items = kl_json_bool_or(kl_json_get(s, "uniqueItems"), false);
    v->format = effective_format(t);
    const char *mt = kl_json_str(kl_json_get(s, "x-kubernetes-map-type"));
    if (mt != NULL && (v->map_type = strdup(mt)) == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    const char *pat = kl_json_str(kl_json_get(s, "pattern"));
    if (pat != NULL && *pat) {
        char why[300];
        v->pattern = strdup(pat);
        if (v->pattern == NULL)
            return kl_err(err, KL_ENOMEM, "out of memory");
        v->re = kl__regex_compile(pat, why, sizeof(why));
        if (v->re == NULL && (v->re_error = strdup(why)) == NULL)
            return kl_err(err, KL_ENOMEM, "out of memory");
    }
    const kl_json_t *rules = kl_json_get(s, "x-kubernetes-validations");
    if (kl_json_is(rules, KL_TARRAY) && rules->len > 0) {
        v->nvalidations = rules->len;
        if (!atomic_exchange(&cel_logged, true))
            KL_INFO("apiserver", "CRD schemas with x-kubernetes-validations: the CEL rules are "
                                 "accepted but not evaluated (kubelua has no CEL interpreter)");
    }
    const kl_json_t *def = kl_json_get(s, "default");
    if (def != NULL) {
        v->def = kl_json_dup(def);
        if (v->def == NULL || kl__schema_prune(t, v->def) < 0)
            return kl_err(err, KL_ENOMEM, "out of memory");
    }
    v->subtree_defaults = v->def != NULL;
    for (size_t i = 0; i < t->nfields && !v->subtree_defaults; i++) {
        const kl_stype_t *ft = t->fields[i].type;
        v->subtree_defaults = ft != NULL && ft->crd && ft->valid && ft->valid->subtree_defaults;
    }
    if (t->elem != NULL && t->elem->valid != NULL && t->elem->valid->subtree_defaults)
        v->subtree_defaults = true;
    return 0;
}

static int convert(const kl_json_t *s, int depth, kl_stype_t **out, kl_errinfo_t *err)
{
    *out = NULL;
    if (!kl_json_is(s, KL_TOBJECT))
        return kl_err(err, KL_EINVAL, "a schema must be an object");
    if (depth > MAX_DEPTH)
        return kl_err(err, KL_EINVAL, "schema nested deeper than %d levels", MAX_DEPTH);
    kl_stype_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    *out = t;
    t->crd = true;
    t->description = dup_str(kl_json_str(kl_json_get(s, "description")));
    t->format = dup_str(kl_json_str(kl_json_get(s, "format")));
    t->preserve_unknown =
        kl_json_bool_or(kl_json_get(s, "x-kubernetes-preserve-unknown-fields"), false);
    bool embedded = kl_json_bool_or(kl_json_get(s, "x-kubernetes-embedded-resource"), false);
    int rc = strv_from(kl_json_get(s, "enum"), &t->enum_values);
    if (rc < 0)
        return kl_err(err, rc, "out of memory");
    const char *type = kl_json_str(kl_json_get(s, "type"));
    const kl_json_t *ap = kl_json_get(s, "additionalProperties");
    if (kl_json_bool_or(kl_json_get(s, "x-kubernetes-int-or-string"), false)) {
        t->kind = KL_SK_INT_OR_STRING;
    } else if (type == NULL) {
        t->kind = embedded ? KL_SK_OBJECT : KL_SK_ANY;
        if (embedded)
            rc = convert_object(s, depth, t, true, err);
    } else if (strcmp(type, "object") == 0) {
        if (kl_json_get(s, "properties") == NULL && kl_json_is(ap, KL_TOBJECT)) {
            kl_stype_t *elem = NULL;
            t->kind = KL_SK_MAP;
            rc = convert(ap, depth + 1, &elem, err);
            t->elem = elem;
        } else if (kl_json_get(s, "properties") == NULL && kl_json_bool_or(ap, false)) {
            kl_stype_t *elem = calloc(1, sizeof(*elem));
            t->kind = KL_SK_MAP;
            t->elem = elem;
            if (elem == NULL)
                rc = KL_ENOMEM;
            else
                elem->crd = true;
        } else {
            t->kind = KL_SK_OBJECT;
            rc = convert_object(s, depth, t, embedded, err);
        }
    } else if (strcmp(type, "array") == 0) {
        kl_stype_t *elem = NULL;
        t->kind = KL_SK_LIST;
        const kl_json_t *items = kl_json_get(s, "items");
        if (items != NULL) {
            rc = convert(items, depth + 1, &elem, err);
        } else if ((elem = calloc(1, sizeof(*elem))) != NULL) {
            elem->crd = true;
        } else {
            rc = KL_ENOMEM;
        }
        t->elem = elem;
        t->list_type = dup_str(kl_json_str(kl_json_get(s, "x-kubernetes-list-type")));
        if (rc == 0)
            rc = strv_from(kl_json_get(s, "x-kubernetes-list-map-keys"), &t->list_map_keys);
    } else if (strcmp(type, "string") == 0) {
        t->kind = KL_SK_STRING;
    } else if (strcmp(type, "integer") == 0) {
        t->kind = KL_SK_INT;
    } else if (strcmp(type, "number") == 0) {
        t->kind = KL_SK_NUMBER;
    } else if (strcmp(type, "boolean") == 0) {
        t->kind = KL_SK_BOOL;
    } else {
        return kl_err(err, KL_EINVAL, "unsupported type \"%s\"", type);
    }
    if (rc == KL_ENOMEM)
        return kl_err(err, rc, "out of memory");
    if (rc == 0)
        rc = convert_valid(s, t, err);
    return rc;
}

int kl_schema_from_openapi(const kl_json_t *openapi_v3_schema, kl_stype_t **out, kl_errinfo_t *err)
{
    *out = NULL;
    kl_stype_t *t = NULL;
    int rc = kl_schema_init(err);
    if (rc < 0)
        return rc;
    if (!kl_json_is(openapi_v3_schema, KL_TOBJECT))
        return kl_err(err, KL_EINVAL, "openAPIV3Schema must be an object");
    /* The top level is an embedded resource in all but name: apiVersion, kind, metadata. */
    const char *type = kl_json_str(kl_json_get(openapi_v3_schema, "type"));
    if (type != NULL && strcmp(type, "object") != 0)
        return kl_err(err, KL_EINVAL, "the top-level type must be object, not \"%s\"", type);
    kl_json_t *root = kl_json_dup(openapi_v3_schema);
    if (root == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    rc = kl_json_set_str(root, "type", "object");
    if (rc == 0)
        rc = kl_json_set_bool(root, "x-kubernetes-embedded-resource", true);
    kl_json_del(root, "additionalProperties");
    if (rc < 0) {
        kl_json_free(root);
        return kl_err(err, rc, "out of memory");
    }
    rc = convert(root, 0, &t, err);
    kl_json_free(root);
    if (rc < 0) {
        kl_stype_free(t);
        return rc;
    }
    *out = t;
    return 0;
}
