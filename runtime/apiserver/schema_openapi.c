/* apiserver/schema_openapi.c - the OpenAPI v3 (per group-version) and v2 documents.
 *
 * Both are built as JSON trees shaped like kube-apiserver's: one definition per named type with
 * x-kubernetes-group-version-kind on top-level kinds, properties carrying the patch extensions
 * (x-kubernetes-patch-strategy, -patch-merge-key, -list-type, -list-map-keys), and per kind the
 * list/create/read/replace/patch/delete operations, each tagged with its GVK; patch, create and
 * update list the fieldValidation query parameter. v3 references types as
 * {"allOf":[{"$ref":...}]} under properties, as upstream does; v2 uses plain $ref. The v2 tree is
 * encoded as JSON or handed to schema_pb.c for the gnostic protobuf form.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/buf.h"
#include "kubelua/error.h"
#include "kubelua/json.h"
#include "kubelua/schema.h"

#include "apiserver/schema_int.h"

#define META "io.k8s.apimachinery.pkg.apis.meta.v1."

typedef struct anon_name {
    const kl_stype_t *type;
    char *name;
    const char *group, *version, *kind;
} anon_name_t;

typedef struct gen {
    bool v3;
    kl_json_t *defs;
    anon_name_t *anon;
    size_t nanon;
    int rc;
} gen_t;

/* ---- Small builders that remember the first failure ----------------------------------- */

static kl_json_t *put(gen_t *g, kl_json_t *o, const char *key, kl_json_t *v)
{
    if (o == NULL || v == NULL) {
        kl_json_free(v);
        g->rc = KL_ENOMEM;
        return NULL;
    }
    if (kl_json_set(o, key, v) < 0) {
        g->rc = KL_ENOMEM;
        return NULL;
    }
    return v;
}

static void put_str(gen_t *g, kl_json_t *o, const char *key, const char *s)
{
    if (s != NULL)
        put(g, o, key, kl_json_string(s));
}

static kl_json_t *push(gen_t *g, kl_json_t *arr, kl_json_t *v)
{
    if (arr == NULL || v == NULL) {
        kl_json_free(v);
        g->rc = KL_ENOMEM;
        return NULL;
    }
    if (kl_json_append(arr, v) < 0) {
        g->rc = KL_ENOMEM;
        return NULL;
    }
    return v;
}

static kl_json_t *gvk_obj(gen_t *g, const char *group, const char *version, const char *kind)
{
    kl_json_t *o = kl_json_object();
    put_str(g, o, "group", group);
    put_str(g, o, "kind", kind);
    put_str(g, o, "version", version);
    return o;
}

/* ---- Schemas -------------------------------------------------------------------------- */

static const anon_name_t *anon_of(gen_t *g, const kl_stype_t *t)
{
    for (size_t i = 0; i < g->nanon; i++) {
        if (g->anon[i].type == t)
            return &g->anon[i];
    }
    return NULL;
}

static const char *def_name(gen_t *g, const kl_stype_t *t)
{
    if (t->name != NULL)
        return t->name;
    const anon_name_t *a = anon_of(g, t);
    return a ? a->name : NULL;
}

static kl_json_t *ref_to(gen_t *g, const char *name)
{
    kl_json_t *r = kl_json_object();
    char buf[512];
    snprintf(buf, sizeof(buf), "#/%s/%s", g->v3 ? "components/schemas" : "definitions", name);
    put_str(g, r, "$ref", buf);
    return r;
}

static void emit_def(gen_t *g, const kl_stype_t *t);
static kl_json_t *inline_schema(gen_t *g, const kl_stype_t *t);

/* A reference to a named type (emitting its definition) or the inline schema. v3 wraps
 * references in allOf so siblings like description are allowed. */
static kl_json_t *schema_for(gen_t *g, const kl_stype_t *t)
{
    const char *name = def_name(g, t);
    if (name == NULL)
        return inline_schema(g, t);
    emit_def(g, t);
    if (!g->v3)
        return ref_to(g, name);
    kl_json_t *w = kl_json_object();
    kl_json_t *all = put(g, w, "allOf", kl_json_array());
    push(g, all, ref_to(g, name));
    return w;
}

static kl_json_t *strv_array(gen_t *g, const char *const *v)
{
    kl_json_t *a = kl_json_array();
    for (; v != NULL && *v != NULL; v++)
        push(g, a, kl_json_string(*v));
    return a;
}

static const char *patch_strategy(unsigned flags)
{
    bool merge = flags & KL_SF_PATCH_MERGE, retain = flags & KL_SF_RETAIN_KEYS;
    if (merge && retain)
        return "merge,retainKeys";
    if (merge)
        return "merge";
    if (retain)
        return "retainKeys";
    if (flags & KL_SF_PATCH_REPLACE)
        return "replace";
    return NULL;
}

static void fill_schema(gen_t *g, kl_json_t *s, const kl_stype_t *t)
{
    switch (t->kind) {
    case KL_SK_ANY:
        if (t->name != NULL && strstr(t->name, "apiextensions") == NULL)
            put_str(g, s, "type", "object");
        if (t->crd || t->preserve_unknown)
            put(g, s, "x-kubernetes-preserve-unknown-fields", kl_json_bool(true));
        break;
    case KL_SK_STRING:
    case KL_SK_QUANTITY:
        put_str(g, s, "type", "string");
        put_str(g, s, "format", t->format);
        break;
    case KL_SK_INT:
        put_str(g, s, "type", "integer");
        put_str(g, s, "format", t->format);
        break;
    case KL_SK_NUMBER:
        put_str(g, s, "type", "number");
        put_str(g, s, "format", t->format);
        break;
    case KL_SK_BOOL:
        put_str(g, s, "type", "boolean");
        break;
    case KL_SK_TIME:
        put_str(g, s, "type", "string");
        put_str(g, s, "format", "date-time");
        break;
    case KL_SK_INT_OR_STRING:
        put_str(g, s, "type", "string");
        put_str(g, s, "format", "int-or-string");
        if (t->crd)
            put(g, s, "x-kubernetes-int-or-string", kl_json_bool(true));
        break;
    case KL_SK_LIST:
        put_str(g, s, "type", "array");
        put(g, s, "items", schema_for(g, t->elem));
        put_str(g, s, "x-kubernetes-list-type", t->list_type);
        if (t->list_map_keys != NULL)
            put(g, s, "x-kubernetes-list-map-keys", strv_array(g, t->list_map_keys));
        break;
    case KL_SK_MAP:
        put_str(g, s, "type", "object");
        put(g, s, "additionalProperties", schema_for(g, t->elem));
        break;
    case KL_SK_OBJECT: {
        put_str(g, s, "type", "object");
        kl_json_t *props = t->nfields ? put(g, s, "properties", kl_json_object()) : NULL;
        kl_json_t *req = NULL;
        for (size_t i = 0; i < t->nfields && g->rc == 0; i++) {
            const kl_sfield_t *f = &t->fields[i];
            kl_json_t *p = put(g, props, f->name, schema_for(g, f->type));
            if (f->description != NULL)
                put_str(g, p, "description", f->description);
            else if (p != NULL && kl_json_get(p, "description") == NULL)
                put_str(g, p, "description", f->type->description);
            put_str(g, p, "x-kubernetes-patch-merge-key", f->merge_key);
            put_str(g, p, "x-kubernetes-patch-strategy", patch_strategy(f->flags));
            if ((f->flags & KL_SF_NULLABLE) && g->v3)
                put(g, p, "nullable", kl_json_bool(true));
            if (f->flags & KL_SF_REQUIRED) {
                if (req == NULL)
                    req = kl_json_array();
                push(g, req, kl_json_string(f->name));
            }
        }
        if (req != NULL)
            put(g, s, "required", req);
        if (t->preserve_unknown)
            put(g, s, "x-kubernetes-preserve-unknown-fields", kl_json_bool(true));
        break;
    }
    }
    if (t->enum_values != NULL)
        put(g, s, "enum", strv_array(g, t->enum_values));
}

static kl_json_t *inline_schema(gen_t *g, const kl_stype_t *t)
{
    kl_json_t *s = kl_json_object();
    put_str(g, s, "description", t->description);
    fill_schema(g, s, t);
    return s;
}

static void emit_def(gen_t *g, const kl_stype_t *t)
{
    const char *name = def_name(g, t);
    if (name == NULL || g->rc < 0 || kl_json_get(g->defs, name) != NULL)
        return;
    /* A placeholder first, so recursive types stop here. */
    if (put(g, g->defs, name, kl_json_null()) == NULL)
        return;
    kl_json_t *s = inline_schema(g, t);
    const kl__schema_gvk_t *bg = kl__schema_gvk_of(t);
    const anon_name_t *a = anon_of(g, t);
    if (bg != NULL || a != NULL) {
        kl_json_t *arr = put(g, s, "x-kubernetes-group-version-kind", kl_json_array());
        push(g, arr,
             bg ? gvk_obj(g, bg->group, bg->version, bg->kind)
                : gvk_obj(g, a->group, a->version, a->kind));
    }
    put(g, g->defs, name, s);
}

/* The synthesized <Kind>List definition. */
static void emit_list_def(gen_t *g, const kl_stype_t *t, const char *group, const char *version,
                          const char *kind, const char *list_name)
{
    if (kl_json_get(g->defs, list_name) != NULL)
        return;
    char lk[256];
    snprintf(lk, sizeof(lk), "%sList", kind);
    kl_json_t *s = kl_json_object();
    put_str(g, s, "description", "A list of objects.");
    put_str(g, s, "type", "object");
    kl_json_t *req = put(g, s, "required", kl_json_array());
    push(g, req, kl_json_string("items"));
    kl_json_t *props = put(g, s, "properties", kl_json_object());
    kl_json_t *av = put(g, props, "apiVersion", kl_json_object());
    put_str(g, av, "type", "string");
    put_str(g, av, "description", "Versioned schema of this representation of an object.");
    kl_json_t *items = put(g, props, "items", kl_json_object());
    put_str(g, items, "type", "array");
    put_str(g, items, "description", "The objects.");
    put(g, items, "items", schema_for(g, t));
    kl_json_t *k = put(g, props, "kind", kl_json_object());
    put_str(g, k, "type", "string");
    put_str(g, k, "description", "REST resource this object represents, in CamelCase.");
    const kl_stype_t *lm = kl_schema_lookup(META "ListMeta");
    if (lm != NULL) {
        kl_json_t *m = put(g, props, "metadata", schema_for(g, lm));
        put_str(g, m, "description", "Standard list metadata.");
    }
    kl_json_t *arr = put(g, s, "x-kubernetes-group-version-kind", kl_json_array());
    push(g, arr, gvk_obj(g, group, version, lk));
    put(g, g->defs, list_name, s);
}

/* ---- Paths ---------------------------------------------------------------------------- */

typedef struct opctx {
    const char *group, *version, *kind; /* GVK of the operation */
    const kl_stype_t *type;             /* body and response type, NULL for text */
    bool smp;                           /* strategic merge patch accepted */
    const char *tag, *id_suffix;        /* "batch_v1", "BatchV1NamespacedJob" */
} opctx_t;

typedef struct param {
    const char *name, *in, *type, *desc;
} param_t;

static const param_t p_dry = {"dryRun", "query", "string",
                              "When present, changes are not persisted. Valid value: All."};
static const param_t p_manager = {"fieldManager", "query", "string",
                                  "Name of the actor making the change."};
static const param_t p_validation = {
    "fieldValidation", "query", "string",
    "How the server treats unknown and duplicate fields: Ignore, Warn or Strict."};
static const param_t p_force = {"force", "query", "boolean",
                                "Force an apply request, taking over conflicting fields."};
static const param_t p_pretty = {"pretty", "query", "string", "Pretty-print the output."};
static const param_t p_list[] = {
    {"allowWatchBookmarks", "query", "boolean", "Request BOOKMARK events in a watch."},
    {"continue", "query", "string", "Continue token of a paged list."},
    {"fieldSelector", "query", "string", "Restrict the objects by their fields."},
    {"labelSelector", "query", "string", "Restrict the objects by their labels."},
    {"limit", "query", "integer", "Maximum number of objects in one page."},
    {"resourceVersion", "query", "string", "Resource version to list or watch from."},
    {"resourceVersionMatch", "query", "string", "How resourceVersion applies to a list."},
    {"sendInitialEvents", "query", "boolean", "Start a watch with the current objects."},
    {"timeoutSeconds", "query", "integer", "Timeout of the list or watch call."},
    {"watch", "query", "boolean", "Watch for changes instead of listing."},
};
static const param_t p_delete[] = {
    {"gracePeriodSeconds", "query", "integer", "Seconds before the object is deleted."},
    {"orphanDependents", "query", "boolean", "Deprecated; use propagationPolicy."},
    {"propagationPolicy", "query", "string", "Orphan, Background or Foreground."},
};

static void add_param(gen_t *g, kl_json_t *params, const param_t *p, bool required)
{
    kl_json_t *o = push(g, params, kl_json_object());
    put_str(g, o, "name", p->name);
    put_str(g, o, "in", p->in);
    put_str(g, o, "description", p->desc);
    if (required)
        put(g, o, "required", kl_json_bool(true));
    if (g->v3) {
        kl_json_t *s = put(g, o, "schema", kl_json_object());
        put_str(g, s, "type", p->type);
        put(g, s, "uniqueItems", kl_json_bool(true));
    } else {
        put_str(g, o, "type", p->type);
        put(g, o, "uniqueItems", kl_json_bool(true));
    }
}

static kl_json_t *mime_list(gen_t *g, const char *const *types)
{
    return strv_array(g, types);
}

static const char *const json_types[] = {"application/json", "application/yaml",
                                         "application/vnd.kubernetes.protobuf", NULL};
static const char *const patch_types[] = {
    "application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json",
    "application/strategic-merge-patch+json", NULL};

static void add_body(gen_t *g, kl_json_t *op, kl_json_t *params, const kl_stype_t *type,
                     const char *const *ctypes)
{
    if (g->v3) {
        kl_json_t *rb = put(g, op, "requestBody", kl_json_object());
        kl_json_t *content = put(g, rb, "content", kl_json_object());
        for (const char *const *c = ctypes; *c != NULL; c++) {
            kl_json_t *m = put(g, content, *c, kl_json_object());
            put(g, m, "schema", schema_for(g, type));
        }
        put(g, rb, "required", kl_json_bool(true));
    } else {
        kl_json_t *o = push(g, params, kl_json_object());
        put_str(g, o, "name", "body");
        put_str(g, o, "in", "body");
        put(g, o, "required", kl_json_bool(true));
        put(g, o, "schema", schema_for(g, type));
        put(g, op, "consumes", mime_list(g, ctypes));
    }
}

static void add_responses(gen_t *g, kl_json_t *op, const kl_stype_t *type, const char *list_name,
                          const char *const *codes)
{
    kl_json_t *rs = put(g, op, "responses", kl_json_object());
    for (const char *const *c = codes; *c != NULL; c++) {
        kl_json_t *r = put(g, rs, *c, kl_json_object());
        put_str(g, r, "description",
                strcmp(*c, "201") == 0   ? "Created"
                : strcmp(*c, "202") == 0 ? "Accepted"
                                         : "OK");
        kl_json_t *schema;
        if (type == NULL) {
            schema = kl_json_object();
            put_str(g, schema, "type", "string");
        } else if (list_name != NULL) {
            if (g->v3) {
                schema = kl_json_object();
                char buf[512];
                snprintf(buf, sizeof(buf), "#/components/schemas/%s", list_name);
                put_str(g, schema, "$ref", buf);
            } else {
                schema = ref_to(g, list_name);
            }
        } else {
            schema = schema_for(g, type);
            /* Responses use a plain $ref in both versions. */
            kl_json_t *all = kl_json_get(schema, "allOf");
            if (all != NULL) {
                kl_json_t *inner = kl_json_take_at(all, 0);
                kl_json_free(schema);
                schema = inner;
            }
        }
        if (g->v3) {
            kl_json_t *content = put(g, r, "content", kl_json_object());
            kl_json_t *m = put(g, content, "application/json", kl_json_object());
            put(g, m, "schema", schema);
        } else {
            put(g, r, "schema", schema);
        }
    }
    kl_json_t *u = put(g, rs, "401", kl_json_object());
    put_str(g, u, "description", "Unauthorized");
}

static kl_json_t *add_op(gen_t *g, kl_json_t *item, const char *method, const char *action,
                         const char *verb, const char *desc, const opctx_t *c)
{
    kl_json_t *op = put(g, item, method, kl_json_object());
    char id[300];
    snprintf(id, sizeof(id), "%s%s", verb, c->id_suffix);
    put_str(g, op, "description", desc);
    put_str(g, op, "operationId", id);
    kl_json_t *tags = put(g, op, "tags", kl_json_array());
    push(g, tags, kl_json_string(c->tag));
    if (!g->v3)
        put(g, op, "produces", mime_list(g, json_types));
    put_str(g, op, "x-kubernetes-action", action);
    put(g, op, "x-kubernetes-group-version-kind", gvk_obj(g, c->group, c->version, c->kind));
    return op;
}

/* Operations on one object (or subresource) path. */
static void object_ops(gen_t *g, kl_json_t *item, const opctx_t *c, bool get, bool write, bool del)
{
    const char *const ok[] = {"200", NULL};
    const char *const created[] = {"200", "201", NULL};
    if (get) {
        kl_json_t *op = add_op(g, item, "get", "get", "read", "read the specified object", c);
        kl_json_t *params = put(g, op, "parameters", kl_json_array());
        add_param(g, params, &p_pretty, false);
        add_responses(g, op, c->type, NULL, ok);
    }
    if (write && c->type != NULL) {
        kl_json_t *op = add_op(g, item, "put", "put", "replace", "replace the specified object", c);
        kl_json_t *params = put(g, op, "parameters", kl_json_array());
        add_param(g, params, &p_dry, false);
        add_param(g, params, &p_manager, false);
        add_param(g, params, &p_validation, false);
        add_param(g, params, &p_pretty, false);
        add_body(g, op, params, c->type, json_types);
        add_responses(g, op, c->type, NULL, created);

        op = add_op(g, item, "patch", "patch", "patch", "partially update the specified object", c);
        params = put(g, op, "parameters", kl_json_array());
        add_param(g, params, &p_dry, false);
        add_param(g, params, &p_manager, false);
        add_param(g, params, &p_validation, false);
        add_param(g, params, &p_force, false);
        add_param(g, params, &p_pretty, false);
        const char *const crd_patch[] = {patch_types[0], patch_types[1], patch_types[2], NULL};
        const kl_stype_t *patch = kl_schema_lookup(META "Patch");
        if (patch != NULL)
            add_body(g, op, params, patch, c->smp ? patch_types : crd_patch);
        add_responses(g, op, c->type, NULL, created);
    }
    if (del) {
        kl_json_t *op =
            add_op(g, item, "delete", "delete", "delete", "delete the specified object", c);
        kl_json_t *params = put(g, op, "parameters", kl_json_array());
        add_param(g, params, &p_dry, false);
        for (size_t i = 0; i < sizeof(p_delete) / sizeof(p_delete[0]); i++)
            add_param(g, params, &p_delete[i], false);
        add_param(g, params, &p_pretty, false);
        const kl_stype_t *dopt = kl_schema_lookup(META "DeleteOptions");
        if (dopt != NULL)
            add_body(g, op, params, dopt, json_types);
        const char *const codes[] = {"200", "202", NULL};
        add_responses(g, op, c->type, NULL, codes);
    }
}

static void path_params(gen_t *g, kl_json_t *item, bool name, bool ns)
{
    kl_json_t *params = put(g, item, "parameters", kl_json_array());
    const param_t pn = {"name", "path", "string", "Name of the object."};
    const param_t pns = {"namespace", "path", "string", "Namespace of the objects."};
    if (name)
        add_param(g, params, &pn, true);
    if (ns)
        add_param(g, params, &pns, true);
}

static void camel(char *out, size_t n, const char *s, size_t len)
{
    snprintf(out, n, "%.*s", (int)len, s);
    if (out[0])
        out[0] = (char)toupper((unsigned char)out[0]);
}

static void kind_paths(gen_t *g, kl_json_t *paths, const char *group, const char *version,
                       const kl_openapi_kind_t *k)
{
    char prefix[256], gcam[64], vcam[64], tag[128], base[512], path[600], idsfx[300];
    if (group[0] == '\0') {
        snprintf(prefix, sizeof(prefix), "/api/%s", version);
        snprintf(gcam, sizeof(gcam), "Core");
        snprintf(tag, sizeof(tag), "core_%s", version);
    } else {
        snprintf(prefix, sizeof(prefix), "/apis/%s/%s", group, version);
        const char *dot = strchr(group, '.');
        camel(gcam, sizeof(gcam), group, dot ? (size_t)(dot - group) : strlen(group));
        snprintf(tag, sizeof(tag), "%.*s_%s", dot ? (int)(dot - group) : (int)strlen(group), group,
                 version);
    }
    camel(vcam, sizeof(vcam), version, strlen(version));
    snprintf(base, sizeof(base), "%s%s/%s", prefix, k->namespaced ? "/namespaces/{namespace}" : "",
             k->resource);
    snprintf(idsfx, sizeof(idsfx), "%s%s%s%s", gcam, vcam, k->namespaced ? "Namespaced" : "",
             k->kind);
    const char *tname = def_name(g, k->type);
    char list_name[300];
    snprintf(list_name, sizeof(list_name), "%sList", tname ? tname : k->kind);
    emit_list_def(g, k->type, group, version, k->kind, list_name);
    opctx_t c = {.group = group,
                 .version = version,
                 .kind = k->kind,
                 .type = k->type,
                 .smp = !k->type->crd,
                 .tag = tag,
                 .id_suffix = idsfx};

    /* Collection. */
    kl_json_t *coll = put(g, paths, base, kl_json_object());
    path_params(g, coll, false, k->namespaced);
    kl_json_t *op = add_op(g, coll, "get", "list", "list", "list or watch objects", &c);
    kl_json_t *params = put(g, op, "parameters", kl_json_array());
    for (size_t i = 0; i < sizeof(p_list) / sizeof(p_list[0]); i++)
        add_param(g, params, &p_list[i], false);
    add_param(g, params, &p_pretty, false);
    const char *const ok[] = {"200", NULL};
    add_responses(g, op, k->type, list_name, ok);
    op = add_op(g, coll, "post", "post", "create", "create an object", &c);
    params = put(g, op, "parameters", kl_json_array());
    add_param(g, params, &p_dry, false);
    add_param(g, params, &p_manager, false);
    add_param(g, params, &p_validation, false);
    add_param(g, params, &p_pretty, false);
    add_body(g, op, params, k->type, json_types);
    const char *const created[] = {"200", "201", "202", NULL};
    add_responses(g, op, k->type, NULL, created);
    op = add_op(g, coll, "delete", "deletecollection", "deleteCollection",
                "delete a collection of objects", &c);
    params = put(g, op, "parameters", kl_json_array());
    for (size_t i = 0; i < sizeof(p_list) / sizeof(p_list[0]); i++)
        add_param(g, params, &p_list[i], false);
    add_param(g, params, &p_dry, false);
    add_param(g, params, &p_pretty, false);
    const kl_stype_t *status = kl_schema_lookup(META "Status");
    if (status != NULL)
        add_responses(g, op, status, NULL, ok);

    /* Across namespaces. */
    if (k->namespaced) {
        snprintf(path, sizeof(path), "%s/%s", prefix, k->resource);
        kl_json_t *all = put(g, paths, path, kl_json_object());
        opctx_t ca = c;
        char sfx[300];
        snprintf(sfx, sizeof(sfx), "%s%s%sForAllNamespaces", gcam, vcam, k->kind);
        ca.id_suffix = sfx;
        op = add_op(g, all, "get", "list", "list", "list or watch objects of all namespaces", &ca);
        params = put(g, op, "parameters", kl_json_array());
        for (size_t i = 0; i < sizeof(p_list) / sizeof(p_list[0]); i++)
            add_param(g, params, &p_list[i], false);
        add_responses(g, op, k->type, list_name, ok);
    }

    /* The object. */
    snprintf(path, sizeof(path), "%s/{name}", base);
    kl_json_t *item = put(g, paths, path, kl_json_object());
    path_params(g, item, true, k->namespaced);
    object_ops(g, item, &c, true, true, true);

    /* Subresources. */
    for (const char *const *sr = k->subresources; sr != NULL && *sr != NULL; sr++) {
        snprintf(path, sizeof(path), "%s/{name}/%s", base, *sr);
        kl_json_t *sub = put(g, paths, path, kl_json_object());
        path_params(g, sub, true, k->namespaced);
        opctx_t cs = c;
        char sfx[512];
        char scam[64];
        camel(scam, sizeof(scam), *sr, strlen(*sr));
        snprintf(sfx, sizeof(sfx), "%s%s", idsfx, scam);
        cs.id_suffix = sfx;
        if (strcmp(*sr, "scale") == 0) {
            cs.group = "autoscaling";
            cs.version = "v1";
            cs.kind = "Scale";
            cs.type = kl_schema_for_kind("autoscaling", "v1", "Scale");
            cs.smp = true;
            object_ops(g, sub, &cs, true, true, false);
        } else if (strcmp(*sr, "eviction") == 0 || strcmp(*sr, "binding") == 0) {
            bool ev = (*sr)[0] == 'e';
            cs.group = ev ? "policy" : "";
            cs.version = "v1";
            cs.kind = ev ? "Eviction" : "Binding";
            cs.type = kl_schema_for_kind(cs.group, "v1", cs.kind);
            if (cs.type != NULL) {
                op = add_op(g, sub, "post", "post", "create", "create a subresource object", &cs);
                params = put(g, op, "parameters", kl_json_array());
                add_param(g, params, &p_dry, false);
                add_param(g, params, &p_manager, false);
                add_param(g, params, &p_validation, false);
                add_body(g, op, params, cs.type, json_types);
                add_responses(g, op, cs.type, NULL, created);
            }
        } else if (strcmp(*sr, "log") == 0) {
            cs.type = NULL;
            op = add_op(g, sub, "get", "get", "read", "read the log of a container", &cs);
            params = put(g, op, "parameters", kl_json_array());
            const param_t lp[] = {
                {"container", "query", "string", "Container to stream logs of."},
                {"follow", "query", "boolean", "Follow the log stream."},
                {"previous", "query", "boolean", "Logs of the previous instance."},
                {"sinceSeconds", "query", "integer", "Only logs newer than this many seconds."},
                {"tailLines", "query", "integer", "Number of lines from the end."},
                {"timestamps", "query", "boolean", "Prefix each line with its timestamp."},
            };
            for (size_t i = 0; i < sizeof(lp) / sizeof(lp[0]); i++)
                add_param(g, params, &lp[i], false);
            add_responses(g, op, NULL, NULL, ok);
        } else {
            object_ops(g, sub, &cs, true, true, false);
        }
    }
}

/* ---- Documents ------------------------------------------------------------------------ */

static void gen_cleanup(gen_t *g)
{
    for (size_t i = 0; i < g->nanon; i++)
        free(g->anon[i].name);
    free(g->anon);
    g->anon = NULL;
    g->nanon = 0;
}

/* Names anonymous (CRD) kinds: stable.example.com/v1 CronTab -> com.example.stable.v1.CronTab. */
static int name_anon(gen_t *g, const char *group, const char *version,
                     const kl_openapi_kind_t *kinds, size_t nkinds)
{
    for (size_t i = 0; i < nkinds; i++) {
        const kl_openapi_kind_t *k = &kinds[i];
        if (k->type == NULL)
            return KL_EINVAL;
        if (k->type->name != NULL || anon_of(g, k->type) != NULL)
            continue;
        kl_buf_t b;
        kl_buf_init(&b, 4096);
        int rc = 0;
        const char *end = group + strlen(group);
        while (rc == 0 && end > group) {
            const char *start = end;
            while (start > group && start[-1] != '.')
                start--;
            rc = kl_buf_append(&b, start, (size_t)(end - start));
            if (rc == 0)
                rc = kl_buf_putc(&b, '.');
            end = start > group ? start - 1 : group;
        }
        if (rc == 0)
            rc = kl_buf_printf(&b, "%s.%s", version, k->kind);
        anon_name_t *na = realloc(g->anon, (g->nanon + 1) * sizeof(*na));
        if (rc < 0 || na == NULL) {
            kl_buf_cleanup(&b);
            return KL_ENOMEM;
        }
        g->anon = na;
        na[g->nanon].type = k->type;
        na[g->nanon].name = kl_buf_take(&b, NULL);
        na[g->nanon].group = group;
        na[g->nanon].version = version;
        na[g->nanon].kind = k->kind;
        if (na[g->nanon].name == NULL)
            return KL_ENOMEM;
        g->nanon++;
    }
    return 0;
}

static kl_json_t *info(gen_t *g)
{
    kl_json_t *i = kl_json_object();
    put_str(g, i, "title", "Kubernetes");
    put_str(g, i, "version", "v1.32.0");
    return i;
}

int kl_schema_openapi_v3(const char *group, const char *version, const kl_openapi_kind_t *kinds,
                         size_t nkinds, kl_buf_t *out)
{
    int rc = kl_schema_init(NULL);
    if (rc < 0)
        return rc;
    gen_t g = {.v3 = true};
    kl_json_t *doc = kl_json_object();
    if (doc == NULL)
        return KL_ENOMEM;
    put_str(&g, doc, "openapi", "3.0.0");
    put(&g, doc, "info", info(&g));
    kl_json_t *paths = put(&g, doc, "paths", kl_json_object());
    kl_json_t *comp = put(&g, doc, "components", kl_json_object());
    g.defs = put(&g, comp, "schemas", kl_json_object());
    if (g.rc == 0)
        g.rc = name_anon(&g, group ? group : "", version, kinds, nkinds);
    for (size_t i = 0; i < nkinds && g.rc == 0; i++)
        kind_paths(&g, paths, group ? group : "", version, &kinds[i]);
    rc = g.rc;
    if (rc == 0)
        rc = kl_json_encode(doc, out);
    kl_json_free(doc);
    gen_cleanup(&g);
    return rc;
}

int kl_schema_openapi_v2(const kl_openapi_gv_t *gvs, size_t ngvs, bool protobuf, kl_buf_t *out)
{
    int rc = kl_schema_init(NULL);
    if (rc < 0)
        return rc;
    gen_t g = {.v3 = false};
    kl_json_t *doc = kl_json_object();
    if (doc == NULL)
        return KL_ENOMEM;
    put_str(&g, doc, "swagger", "2.0");
    put(&g, doc, "info", info(&g));
    kl_json_t *paths = put(&g, doc, "paths", kl_json_object());
    g.defs = put(&g, doc, "definitions", kl_json_object());
    for (size_t i = 0; i < ngvs && g.rc == 0; i++) {
        const char *group = gvs[i].group ? gvs[i].group : "";
        g.rc = name_anon(&g, group, gvs[i].version, gvs[i].kinds, gvs[i].nkinds);
        for (size_t k = 0; k < gvs[i].nkinds && g.rc == 0; k++)
            kind_paths(&g, paths, group, gvs[i].version, &gvs[i].kinds[k]);
    }
    rc = g.rc;
    if (rc == 0)
        rc = protobuf ? kl__openapi_v2_to_protobuf(doc, out) : kl_json_encode(doc, out);
    kl_json_free(doc);
    gen_cleanup(&g);
    return rc;
}
