/* CRD schema conversion and checking; the OpenAPI v3 and v2 documents, the v2 one also as the
 * gnostic protobuf message (read back with a small protobuf reader). */
#include <time.h>

#include "kubelua/json.h"
#include "kubelua/schema.h"

#include "unit/test_util.h"

static kl_json_t *parse_any(const char *text)
{
    kl_json_t *j = NULL;
    kl_errinfo_t err = {0};
    int rc = kl_json_parse_any(text, strlen(text), NULL, &j, &err);
    if (rc != 0)
        fprintf(stderr, "parse: %s (line %d)\n", err.msg, err.line);
    assert_int_equal(rc, 0);
    return j;
}

/* ---- CRDs ----------------------------------------------------------------------------- */

static const char crd_schema[] =
    "type: object\n"
    "description: A cron tab.\n"
    "properties:\n"
    "  spec:\n"
    "    type: object\n"
    "    required: [cronSpec]\n"
    "    properties:\n"
    "      cronSpec: {type: string, description: The schedule.}\n"
    "      replicas: {type: integer, format: int32}\n"
    "      ratio: {type: number}\n"
    "      enabled: {type: boolean}\n"
    "      color: {type: string, enum: [red, blue]}\n"
    "      port: {x-kubernetes-int-or-string: true}\n"
    "      note: {type: string, nullable: true}\n"
    "      tags: {type: array, items: {type: string}, x-kubernetes-list-type: set}\n"
    "      ports:\n"
    "        type: array\n"
    "        x-kubernetes-list-type: map\n"
    "        x-kubernetes-list-map-keys: [name]\n"
    "        items: {type: object, required: [name], properties: {name: {type: string}, "
    "number: {type: integer}}}\n"
    "      labels: {type: object, additionalProperties: {type: string}}\n"
    "      free: {type: object, x-kubernetes-preserve-unknown-fields: true}\n"
    "      raw: {x-kubernetes-preserve-unknown-fields: true}\n"
    "      template:\n"
    "        type: object\n"
    "        x-kubernetes-embedded-resource: true\n"
    "        properties: {spec: {type: object, properties: {x: {type: string}}}}\n"
    "  status:\n"
    "    type: object\n"
    "    properties: {ready: {type: boolean}}\n";

static kl_stype_t *crd_type(void)
{
    kl_json_t *schema = parse_any(crd_schema);
    kl_stype_t *t = NULL;
    kl_errinfo_t err = {0};
    int rc = kl_schema_from_openapi(schema, &t, &err);
    if (rc != 0)
        fprintf(stderr, "from_openapi: %s\n", err.msg);
    assert_int_equal(rc, 0);
    kl_json_free(schema);
    return t;
}

static void crd_check(const kl_stype_t *t, const char *text, kl_fieldval_t mode,
                      kl_schema_report_t *r, kl_json_t **out)
{
    kl_json_t *obj = parse_any(text);
    kl_schema_report_init(r);
    assert_int_equal(kl_schema_check(t, obj, mode, r), 0);
    if (out != NULL)
        *out = obj;
    else
        kl_json_free(obj);
}

static void test_crd_conversion(void **state)
{
    (void)state;
    kl_stype_t *t = crd_type();
    assert_true(t->crd);
    assert_int_equal(t->kind, KL_SK_OBJECT);
    assert_null(t->name);
    assert_string_equal(t->description, "A cron tab.");
    /* apiVersion, kind and metadata come first (sorted), metadata is the built-in ObjectMeta. */
    assert_int_equal(t->nfields, 5);
    assert_non_null(kl_stype_field(t, "apiVersion", 10));
    assert_ptr_equal(kl_stype_field(t, "metadata", 8)->type,
                     kl_schema_lookup("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
    const kl_stype_t *spec = kl_stype_field(t, "spec", 4)->type;
    assert_int_equal(spec->kind, KL_SK_OBJECT);
    const kl_sfield_t *cron = kl_stype_field(spec, "cronSpec", 8);
    assert_true(cron->flags & KL_SF_REQUIRED);
    assert_string_equal(cron->description, "The schedule.");
    assert_int_equal(kl_stype_field(spec, "replicas", 8)->type->kind, KL_SK_INT);
    assert_string_equal(kl_stype_field(spec, "replicas", 8)->type->format, "int32");
    assert_int_equal(kl_stype_field(spec, "port", 4)->type->kind, KL_SK_INT_OR_STRING);
    assert_true(kl_stype_field(spec, "note", 4)->flags & KL_SF_NULLABLE);
    const kl_stype_t *color = kl_stype_field(spec, "color", 5)->type;
    assert_string_equal(color->enum_values[1], "blue");
    assert_null(color->enum_values[2]);
    const kl_stype_t *ports = kl_stype_field(spec, "ports", 5)->type;
    assert_int_equal(ports->kind, KL_SK_LIST);
    assert_string_equal(ports->list_type, "map");
    assert_string_equal(ports->list_map_keys[0], "name");
    assert_int_equal(ports->elem->kind, KL_SK_OBJECT);
    assert_int_equal(kl_stype_field(spec, "labels", 6)->type->kind, KL_SK_MAP);
    assert_true(kl_stype_field(spec, "free", 4)->type->preserve_unknown);
    assert_int_equal(kl_stype_field(spec, "raw", 3)->type->kind, KL_SK_ANY);
    const kl_stype_t *tmpl = kl_stype_field(spec, "template", 8)->type;
    assert_non_null(kl_stype_field(tmpl, "metadata", 8));
    assert_non_null(kl_stype_field(tmpl, "kind", 4));
    kl_stype_free(t);
    kl_stype_free(NULL);

    /* Schemas that cannot be used. */
    const char *bad[] = {"[1]", "{\"type\": \"array\", \"items\": {\"type\": \"string\"}}",
                         "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"date\"}}}",
                         "{\"type\": \"object\", \"properties\": {\"a\": 5}}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kl_json_t *s = parse_any(bad[i]);
        kl_errinfo_t err = {0};
        t = (kl_stype_t *)1;
        assert_int_equal(kl_schema_from_openapi(s, &t, &err), KL_EINVAL);
        assert_null(t);
        assert_true(err.msg[0] != '\0');
        kl_json_free(s);
    }
}

static void test_crd_checking(void **state)
{
    (void)state;
    kl_stype_t *t = crd_type();
    kl_schema_report_t r;
    kl_json_t *obj;

    crd_check(t,
              "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: a, labels: "
              "{x: z}}\nspec:\n  cronSpec: '* * * * */5'\n  replicas: 3\n  ratio: 0.5\n"
              "  enabled: true\n  color: red\n  port: http\n  note: null\n  tags: [a, b]\n"
              "  ports: [{name: web, number: 80}]\n  labels: {a: b}\n"
              "  free: {anything: [1, 2], goes: {here: true}}\n  raw: 5\n"
              "  template: {apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {x: z}}\n"
              "status: {ready: true}\n",
              KL_FIELDVAL_STRICT, &r, &obj);
    if (r.nunknown + r.ntype_errors + r.ninvalid)
        fprintf(stderr, "%s\n%s\n%s\n", r.unknown.data, r.type_errors.data, r.invalid.data);
    assert_int_equal(r.nunknown + r.ntype_errors + r.ninvalid, 0);
    assert_non_null(kl_json_path(obj, "spec", "note", NULL)); /* nullable: kept */
    kl_schema_report_cleanup(&r);
    kl_json_free(obj);

    /* Unknown fields at several depths; Warn prunes them, Strict keeps the object as it is. */
    static const char unknown[] =
        "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: a, foo: 1}\n"
        "spec: {cronSpec: x, bar: 1, ports: [{name: a, baz: 2}], free: {kept: 1}, "
        "template: {metadata: {qux: 1}, spec: {zap: 1}}}\nextra: true\n";
    crd_check(t, unknown, KL_FIELDVAL_STRICT, &r, &obj);
    assert_string_equal(r.unknown.data, "unknown field \"metadata.foo\"\n"
                                        "unknown field \"spec.bar\"\n"
                                        "unknown field \"spec.ports[0].baz\"\n"
                                        "unknown field \"spec.template.metadata.qux\"\n"
                                        "unknown field \"spec.template.spec.zap\"\n"
                                        "unknown field \"extra\"");
    assert_int_equal(r.ninvalid, 0);
    assert_non_null(kl_json_get(obj, "extra"));
    kl_schema_report_cleanup(&r);
    kl_json_free(obj);
    crd_check(t, unknown, KL_FIELDVAL_WARN, &r, &obj);
    assert_int_equal(r.nunknown, 6);
    assert_null(kl_json_get(obj, "extra"));
    assert_null(kl_json_path(obj, "spec", "bar", NULL));
    assert_null(kl_json_path(obj, "metadata", "foo", NULL));
    assert_non_null(kl_json_path(obj, "spec", "free", "kept", NULL));
    kl_schema_report_cleanup(&r);
    kl_json_free(obj);

    /* Validation: types, required, enum; null of a non-nullable field is dropped. */
    crd_check(t,
              "{\"apiVersion\":\"stable.example.com/v1\",\"kind\":\"CronTab\",\"spec\":{"
              "\"replicas\":\"three\",\"ratio\":\"x\",\"enabled\":1,\"color\":\"pink\","
              "\"port\":true,\"tags\":\"a\",\"labels\":{\"a\":1},\"ports\":[{\"number\":1.5}],"
              "\"free\":null},\"status\":[]}",
              KL_FIELDVAL_STRICT, &r, &obj);
    assert_int_equal(r.nunknown, 0);
    assert_int_equal(r.ntype_errors, 0);
    assert_string_equal(
        r.invalid.data,
        "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type "
        "integer: \"string\"\n"
        "spec.ratio: Invalid value: \"string\": spec.ratio in body must be of type number: "
        "\"string\"\n"
        "spec.enabled: Invalid value: \"integer\": spec.enabled in body must be of type "
        "boolean: \"integer\"\n"
        "spec.color: Unsupported value: \"pink\": supported values: \"red\", \"blue\"\n"
        "spec.port: Invalid value: \"boolean\": spec.port in body must be of type "
        "integer,string: \"boolean\"\n"
        "spec.tags: Invalid value: \"string\": spec.tags in body must be of type array: "
        "\"string\"\n"
        "spec.labels.a: Invalid value: \"integer\": spec.labels.a in body must be of type "
        "string: \"integer\"\n"
        "spec.ports[0].number: Invalid value: \"number\": spec.ports[0].number in body must be "
        "of type integer: \"number\"\n"
        "spec.ports[0].name: Required value\n"
        "spec.cronSpec: Required value\n"
        "status: Invalid value: \"array\": status in body must be of type object: \"array\"");
    assert_int_equal(r.ninvalid, 11);
    assert_null(kl_json_path(obj, "spec", "free", NULL));
    kl_schema_report_cleanup(&r);
    kl_json_free(obj);

    /* metadata keeps Go decoding rules even inside a custom resource. */
    crd_check(t, "{\"apiVersion\":\"a/v1\",\"kind\":\"CronTab\",\"metadata\":{\"labels\":5}}",
              KL_FIELDVAL_STRICT, &r, NULL);
    assert_int_equal(r.ntype_errors, 1);
    assert_string_equal(r.type_errors.data, "json: cannot unmarshal number into Go struct field "
                                            "ObjectMeta.labels of type map[string]string");
    kl_schema_report_cleanup(&r);
    kl_stype_free(t);
}

/* ---- OpenAPI v3 ----------------------------------------------------------------------- */

static void check_refs(const kl_json_t *j, const kl_json_t *defs, const char *prefix)
{
    if (kl_json_is(j, KL_TOBJECT)) {
        for (uint32_t i = 0; i < j->len; i++) {
            const kl_jmember_t *m = &j->u.members[i];
            /* JSONSchemaProps has a property named $ref: only strings are references. */
            if (strcmp(m->key, "$ref") == 0 && m->val->type == KL_TSTRING) {
                const char *ref = kl_json_str(m->val);
                assert_non_null(ref);
                assert_true(strncmp(ref, prefix, strlen(prefix)) == 0);
                if (kl_json_get(defs, ref + strlen(prefix)) == NULL)
                    fprintf(stderr, "dangling %s\n", ref);
                assert_non_null(kl_json_get(defs, ref + strlen(prefix)));
            } else {
                check_refs(m->val, defs, prefix);
            }
        }
    } else if (kl_json_is(j, KL_TARRAY)) {
        for (uint32_t i = 0; i < j->len; i++)
            check_refs(j->u.items[i], defs, prefix);
    }
}

static bool has_param(const kl_json_t *op, const char *name)
{
    const kl_json_t *ps = kl_json_get(op, "parameters");
    for (uint32_t i = 0; ps != NULL && i < ps->len; i++) {
        const char *n = kl_json_path_str(ps->u.items[i], "name", NULL);
        if (n != NULL && strcmp(n, name) == 0)
            return true;
    }
    return false;
}

static const char *const pod_subs[] = {
    "status", "log", "eviction", "binding", "ephemeralcontainers", NULL};
static const char *const scale_subs[] = {"status", "scale", NULL};
static const char *const status_sub[] = {"status", NULL};

static kl_json_t *v3_doc(const char *group, const char *version, const kl_openapi_kind_t *kinds,
                         size_t n)
{
    kl_buf_t out;
    kl_buf_init(&out, KL_BUF_DEFAULT_MAX);
    assert_int_equal(kl_schema_openapi_v3(group, version, kinds, n, &out), 0);
    kl_json_t *doc = NULL;
    assert_int_equal(kl_json_parse(out.data, out.len, NULL, &doc, NULL), 0);
    kl_buf_cleanup(&out);
    assert_string_equal(kl_json_path_str(doc, "openapi", NULL), "3.0.0");
    const kl_json_t *defs = kl_json_path(doc, "components", "schemas", NULL);
    assert_non_null(defs);
    check_refs(doc, defs, "#/components/schemas/");
    return doc;
}

static void test_openapi_v3(void **state)
{
    (void)state;
    const kl_openapi_kind_t batch[] = {
        {"Job", "jobs", true, kl_schema_for_kind("batch", "v1", "Job"), status_sub},
        {"CronJob", "cronjobs", true, kl_schema_for_kind("batch", "v1", "CronJob"), status_sub},
    };
    kl_json_t *doc = v3_doc("batch", "v1", batch, 2);
    const kl_json_t *patch = kl_json_path(
        doc, "paths", "/apis/batch/v1/namespaces/{namespace}/jobs/{name}", "patch", NULL);
    assert_non_null(patch);
    const kl_json_t *gvk = kl_json_get(patch, "x-kubernetes-group-version-kind");
    assert_string_equal(kl_json_path_str(gvk, "group", NULL), "batch");
    assert_string_equal(kl_json_path_str(gvk, "version", NULL), "v1");
    assert_string_equal(kl_json_path_str(gvk, "kind", NULL), "Job");
    assert_true(has_param(patch, "fieldValidation"));
    assert_non_null(kl_json_path(patch, "requestBody", "content",
                                 "application/strategic-merge-patch+json", NULL));
    assert_true(has_param(
        kl_json_path(doc, "paths", "/apis/batch/v1/namespaces/{namespace}/jobs", "post", NULL),
        "fieldValidation"));
    assert_non_null(kl_json_path(doc, "paths", "/apis/batch/v1/jobs", "get", NULL));
    assert_non_null(kl_json_path(doc, "paths",
                                 "/apis/batch/v1/namespaces/{namespace}/cronjobs/{name}/status",
                                 "patch", NULL));
    /* Definitions for kubectl explain job.spec. */
    const kl_json_t *job =
        kl_json_path(doc, "components", "schemas", "io.k8s.api.batch.v1.Job", NULL);
    assert_non_null(job);
    const kl_json_t *jg = kl_json_at(kl_json_get(job, "x-kubernetes-group-version-kind"), 0);
    assert_string_equal(kl_json_path_str(jg, "kind", NULL), "Job");
    assert_string_equal(kl_json_path_str(job, "properties", "spec", "allOf", NULL) ? "" : "x", "x");
    const kl_json_t *specref =
        kl_json_at(kl_json_path(job, "properties", "spec", "allOf", NULL), 0);
    assert_string_equal(kl_json_path_str(specref, "$ref", NULL),
                        "#/components/schemas/io.k8s.api.batch.v1.JobSpec");
    const kl_json_t *bl = kl_json_path(doc, "components", "schemas", "io.k8s.api.batch.v1.JobSpec",
                                       "properties", "backoffLimit", NULL);
    assert_string_equal(kl_json_path_str(bl, "type", NULL), "integer");
    assert_string_equal(kl_json_path_str(bl, "format", NULL), "int32");
    assert_non_null(kl_json_path_str(bl, "description", NULL));
    const kl_json_t *jobspec =
        kl_json_path(doc, "components", "schemas", "io.k8s.api.batch.v1.JobSpec", NULL);
    assert_string_equal(kl_json_path_str(kl_json_at(kl_json_get(jobspec, "required"), 0), NULL),
                        "template");
    const kl_json_t *containers =
        kl_json_path(doc, "components", "schemas", "io.k8s.api.core.v1.PodSpec", "properties",
                     "containers", NULL);
    assert_string_equal(kl_json_path_str(containers, "x-kubernetes-patch-merge-key", NULL), "name");
    assert_string_equal(kl_json_path_str(containers, "x-kubernetes-patch-strategy", NULL), "merge");
    assert_string_equal(kl_json_path_str(containers, "x-kubernetes-list-type", NULL), "map");
    assert_string_equal(kl_json_path_str(containers, "type", NULL), "array");
    assert_string_equal(
        kl_json_path_str(kl_json_at(kl_json_path(containers, "items", "allOf", NULL), 0), "$ref",
                         NULL),
        "#/components/schemas/io.k8s.api.core.v1.Container");
    const kl_json_t *vols = kl_json_path(doc, "components", "schemas", "io.k8s.api.core.v1.PodSpec",
                                         "properties", "volumes", NULL);
    assert_string_equal(kl_json_path_str(vols, "x-kubernetes-patch-strategy", NULL),
                        "merge,retainKeys");
    assert_non_null(
        kl_json_path(doc, "components", "schemas", "io.k8s.api.batch.v1.JobList", NULL));
    assert_non_null(kl_json_path(doc, "components", "schemas",
                                 "io.k8s.apimachinery.pkg.apis.meta.v1.Status", NULL));
    kl_json_free(doc);

    /* core/v1 with subresources, apps/v1 with scale. */
    const kl_openapi_kind_t core[] = {
        {"Pod", "pods", true, kl_schema_for_kind("", "v1", "Pod"), pod_subs},
        {"Node", "nodes", false, kl_schema_for_kind("", "v1", "Node"), status_sub},
        {"Namespace", "namespaces", false, kl_schema_for_kind("", "v1", "Namespace"), NULL},
    };
    doc = v3_doc("", "v1", core, 3);
    assert_non_null(
        kl_json_path(doc, "paths", "/api/v1/namespaces/{namespace}/pods/{name}/log", "get", NULL));
    const kl_json_t *ev = kl_json_path(
        doc, "paths", "/api/v1/namespaces/{namespace}/pods/{name}/eviction", "post", NULL);
    assert_string_equal(kl_json_path_str(ev, "x-kubernetes-group-version-kind", "kind", NULL),
                        "Eviction");
    assert_non_null(kl_json_path(doc, "paths", "/api/v1/nodes/{name}", "patch", NULL));
    assert_string_equal(
        kl_json_path_str(doc, "paths", "/api/v1/nodes/{name}", "patch", "operationId", NULL),
        "patchCoreV1Node");
    kl_json_free(doc);
    const kl_openapi_kind_t apps[] = {
        {"Deployment", "deployments", true, kl_schema_for_kind("apps", "v1", "Deployment"),
         scale_subs},
    };
    doc = v3_doc("apps", "v1", apps, 1);
    const kl_json_t *sc =
        kl_json_path(doc, "paths", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale",
                     "patch", NULL);
    assert_string_equal(kl_json_path_str(sc, "x-kubernetes-group-version-kind", "group", NULL),
                        "autoscaling");
    assert_non_null(
        kl_json_path(doc, "components", "schemas", "io.k8s.api.autoscaling.v1.Scale", NULL));
    kl_json_free(doc);

    /* A CRD kind is published under its reversed group. */
    kl_stype_t *crd = crd_type();
    const kl_openapi_kind_t ck[] = {{"CronTab", "crontabs", true, crd, status_sub}};
    doc = v3_doc("stable.example.com", "v1", ck, 1);
    const kl_json_t *ct =
        kl_json_path(doc, "components", "schemas", "com.example.stable.v1.CronTab", NULL);
    assert_non_null(ct);
    assert_string_equal(
        kl_json_path_str(kl_json_at(kl_json_get(ct, "x-kubernetes-group-version-kind"), 0), "group",
                         NULL),
        "stable.example.com");
    assert_non_null(kl_json_path(ct, "properties", "spec", "properties", "cronSpec", NULL));
    assert_true(kl_json_bool_or(kl_json_path(ct, "properties", "spec", "properties", "free",
                                             "x-kubernetes-preserve-unknown-fields", NULL),
                                false));
    const kl_json_t *cp = kl_json_path(
        doc, "paths", "/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}", "patch",
        NULL);
    assert_true(has_param(cp, "fieldValidation"));
    assert_null(
        kl_json_path(cp, "requestBody", "content", "application/strategic-merge-patch+json", NULL));
    kl_json_free(doc);
    kl_stype_free(crd);
}

/* ---- A small protobuf reader ---------------------------------------------------------- */

typedef struct pb {
    const unsigned char *p, *end;
} pb_t;

static uint64_t pb_varint(pb_t *m)
{
    uint64_t v = 0;
    for (int shift = 0; m->p < m->end; shift += 7) {
        unsigned char c = *m->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return v;
    }
    fail_msg("truncated varint");
    return 0;
}

/* Next field of m: its number, and for length-delimited fields the bytes in *sub. */
static bool pb_next(pb_t *m, unsigned *field, pb_t *sub, uint64_t *val)
{
    if (m->p >= m->end)
        return false;
    uint64_t key = pb_varint(m);
    *field = (unsigned)(key >> 3);
    switch (key & 7) {
    case 0:
        *val = pb_varint(m);
        return true;
    case 2: {
        uint64_t n = pb_varint(m);
        assert_true(n <= (uint64_t)(m->end - m->p));
        sub->p = m->p;
        sub->end = m->p + n;
        m->p += n;
        return true;
    }
    default:
        fail_msg("unexpected wire type %u", (unsigned)(key & 7));
        return false;
    }
}

/* The first (or only) submessage in field, or an empty one. */
static pb_t pb_get(pb_t m, unsigned want)
{
    unsigned f;
    pb_t sub = {NULL, NULL};
    uint64_t v;
    while (pb_next(&m, &f, &sub, &v)) {
        if (f == want)
            return sub;
    }
    return (pb_t){NULL, NULL};
}

static bool pb_is(pb_t s, const char *str)
{
    return s.p != NULL && (size_t)(s.end - s.p) == strlen(str) &&
           memcmp(s.p, str, strlen(str)) == 0;
}

/* Among repeated named entries in field (name = 1, value = 2), the value named name. */
static pb_t pb_named(pb_t m, unsigned field, const char *name)
{
    unsigned f;
    pb_t sub;
    uint64_t v;
    while (pb_next(&m, &f, &sub, &v)) {
        if (f == field && pb_is(pb_get(sub, 1), name))
            return pb_get(sub, 2);
    }
    return (pb_t){NULL, NULL};
}

static bool pb_contains(pb_t s, const char *needle)
{
    size_t n = strlen(needle);
    for (const unsigned char *p = s.p; p != NULL && p + n <= s.end; p++) {
        if (memcmp(p, needle, n) == 0)
            return true;
    }
    return false;
}

static void test_openapi_v2(void **state)
{
    (void)state;
    const kl_openapi_kind_t batch[] = {
        {"Job", "jobs", true, kl_schema_for_kind("batch", "v1", "Job"), status_sub},
    };
    const kl_openapi_kind_t core[] = {
        {"Pod", "pods", true, kl_schema_for_kind("", "v1", "Pod"), pod_subs},
    };
    kl_stype_t *crd = crd_type();
    const kl_openapi_kind_t ck[] = {{"CronTab", "crontabs", true, crd, NULL}};
    const kl_openapi_gv_t gvs[] = {
        {"", "v1", core, 1}, {"batch", "v1", batch, 1}, {"stable.example.com", "v1", ck, 1}};

    /* JSON. */
    kl_buf_t out;
    kl_buf_init(&out, KL_BUF_DEFAULT_MAX);
    assert_int_equal(kl_schema_openapi_v2(gvs, 3, false, &out), 0);
    kl_json_t *doc = NULL;
    assert_int_equal(kl_json_parse(out.data, out.len, NULL, &doc, NULL), 0);
    kl_buf_cleanup(&out);
    assert_string_equal(kl_json_path_str(doc, "swagger", NULL), "2.0");
    const kl_json_t *defs = kl_json_get(doc, "definitions");
    check_refs(doc, defs, "#/definitions/");
    const kl_json_t *patch = kl_json_path(
        doc, "paths", "/apis/batch/v1/namespaces/{namespace}/jobs/{name}", "patch", NULL);
    assert_true(has_param(patch, "fieldValidation"));
    assert_string_equal(
        kl_json_path_str(defs, "io.k8s.api.batch.v1.Job", "properties", "spec", "$ref", NULL),
        "#/definitions/io.k8s.api.batch.v1.JobSpec");
    assert_non_null(kl_json_get(defs, "com.example.stable.v1.CronTab"));
    kl_json_free(doc);

    /* Protobuf. */
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    kl_buf_init(&out, KL_BUF_DEFAULT_MAX);
    assert_int_equal(kl_schema_openapi_v2(gvs, 3, true, &out), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("openapi v2 protobuf: %zu bytes in %.1f ms\n", out.len,
           (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
    pb_t d = {(const unsigned char *)out.data, (const unsigned char *)out.data + out.len};
    assert_true(pb_is(pb_get(d, 1), "2.0"));                   /* Document.swagger */
    assert_true(pb_is(pb_get(pb_get(d, 2), 1), "Kubernetes")); /* Info.title */

    /* Paths.path["/apis/batch/v1/.../jobs/{name}"].patch */
    pb_t item = pb_named(pb_get(d, 8), 2, "/apis/batch/v1/namespaces/{namespace}/jobs/{name}");
    assert_non_null(item.p);
    pb_t op = pb_get(item, 8);
    assert_non_null(op.p);
    assert_true(pb_is(pb_get(op, 5), "patchBatchV1NamespacedJob")); /* operation_id */
    /* vendor_extension x-kubernetes-group-version-kind, its Any.yaml holds the GVK. */
    pb_t gvk = pb_named(op, 13, "x-kubernetes-group-version-kind");
    assert_true(pb_contains(pb_get(gvk, 2), "\"kind\":\"Job\""));
    assert_true(pb_contains(pb_get(gvk, 2), "\"group\":\"batch\""));
    /* parameters: ParametersItem.parameter.non_body_parameter.query_parameter_sub_schema */
    bool found = false;
    unsigned f;
    pb_t sub;
    uint64_t v;
    pb_t it = op;
    while (pb_next(&it, &f, &sub, &v)) {
        if (f != 8)
            continue;
        pb_t q = pb_get(pb_get(pb_get(sub, 1), 2), 3);
        if (pb_is(pb_get(q, 4), "fieldValidation")) {
            found = true;
            assert_true(pb_is(pb_get(q, 2), "query"));
            assert_true(pb_is(pb_get(q, 6), "string"));
        }
    }
    assert_true(found);
    /* Path parameters sit on the path item as PathParameterSubSchema with required set. */
    pb_t pp = pb_get(pb_get(pb_get(pb_get(item, 9), 1), 2), 4);
    assert_true(pb_is(pb_get(pp, 4), "name"));
    assert_true(pb_is(pb_get(pp, 2), "path"));

    /* Definitions: the Job definition carries its GVK, type object and a spec reference. */
    pb_t defs_pb = pb_get(d, 9);
    pb_t job = pb_named(defs_pb, 1, "io.k8s.api.batch.v1.Job");
    assert_non_null(job.p);
    assert_true(pb_is(pb_get(pb_get(job, 22), 1), "object"));
    pb_t jg = pb_named(job, 31, "x-kubernetes-group-version-kind");
    assert_true(pb_contains(pb_get(jg, 2), "\"kind\":\"Job\""));
    pb_t spec = pb_named(pb_get(job, 25), 1, "spec");
    assert_true(pb_is(pb_get(spec, 1), "#/definitions/io.k8s.api.batch.v1.JobSpec"));
    /* PodSpec.containers: array of Container with the patch extensions. */
    pb_t ps = pb_named(defs_pb, 1, "io.k8s.api.core.v1.PodSpec");
    pb_t cont = pb_named(pb_get(ps, 25), 1, "containers");
    assert_true(pb_is(pb_get(pb_get(cont, 22), 1), "array"));
    assert_true(pb_is(pb_get(pb_get(pb_get(cont, 23), 1), 1),
                      "#/definitions/io.k8s.api.core.v1.Container"));
    assert_true(
        pb_contains(pb_get(pb_named(cont, 31, "x-kubernetes-patch-merge-key"), 2), "\"name\""));
    assert_true(
        pb_contains(pb_get(pb_named(cont, 31, "x-kubernetes-patch-strategy"), 2), "\"merge\""));
    /* required lists and maps (additional_properties). */
    pb_t ct = pb_named(defs_pb, 1, "io.k8s.api.core.v1.Container");
    assert_true(pb_is(pb_get(ct, 19), "name"));
    pb_t labels = pb_named(
        pb_get(pb_named(defs_pb, 1, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"), 25), 1,
        "labels");
    assert_true(pb_is(pb_get(pb_get(pb_get(pb_get(labels, 21), 1), 22), 1), "string"));
    kl_buf_cleanup(&out);
    kl_stype_free(crd);
}

static void test_openapi_crd_extensions_as_properties(void **state)
{
    (void)state;
    const kl_openapi_kind_t apiext[] = {
        {"CustomResourceDefinition", "customresourcedefinitions", false,
         kl_schema_for_kind("apiextensions.k8s.io", "v1", "CustomResourceDefinition"), status_sub},
    };
    const kl_openapi_gv_t gvs[] = {{"apiextensions.k8s.io", "v1", apiext, 1}};
    kl_buf_t out;
    kl_buf_init(&out, KL_BUF_DEFAULT_MAX);
    assert_int_equal(kl_schema_openapi_v2(gvs, 1, true, &out), 0);
    pb_t d = {(const unsigned char *)out.data, (const unsigned char *)out.data + out.len};
    pb_t jsp = pb_named(pb_get(d, 9), 1,
                        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps");
    assert_non_null(jsp.p);
    pb_t props = pb_get(jsp, 25);
    assert_non_null(pb_named(props, 1, "x-kubernetes-preserve-unknown-fields").p);
    assert_non_null(pb_named(props, 1, "$ref").p);
    /* Recursive: properties refers back to JSONSchemaProps. */
    pb_t p = pb_named(props, 1, "properties");
    assert_true(pb_is(pb_get(pb_get(pb_get(p, 21), 1), 1),
                      "#/definitions/"
                      "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps"));
    kl_buf_cleanup(&out);

    /* The v3 document of the group has the same definitions, with valid references. */
    kl_json_t *doc = v3_doc("apiextensions.k8s.io", "v1", apiext, 1);
    assert_non_null(kl_json_path(doc, "components", "schemas",
                                 "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1."
                                 "JSONSchemaProps",
                                 "properties", "x-kubernetes-list-map-keys", NULL));
    kl_json_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crd_conversion),
        cmocka_unit_test(test_crd_checking),
        cmocka_unit_test(test_openapi_v3),
        cmocka_unit_test(test_openapi_v2),
        cmocka_unit_test(test_openapi_crd_extensions_as_properties),
    };
    return cmocka_run_group_tests_name("apiserver_schema_openapi", tests, NULL, NULL);
}
