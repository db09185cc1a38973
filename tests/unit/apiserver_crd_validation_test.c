/* CustomResourceDefinition schemas enforced like kube-apiserver: a table of schemas and inputs
 * with the field errors (kube-openapi's words) or the defaulted object they must give; then
 * ratcheting on updates, the checks a CRD's own schemas get, and reading stored objects. */
#include "kubelua/json.h"
#include "kubelua/schema.h"

#include "apiserver/ferr.h"
#include "apiserver/schema_int.h"
#include "apiserver/schema_valid.h"
#include "unit/test_util.h"

/* YAML (flow style here) or JSON, one document. */
static kl_json_t *parse_any(const char *text)
{
    kl_json_t **docs = NULL;
    size_t n = 0;
    kl_errinfo_t err = {0};
    int rc = kl_yaml_parse(text, strlen(text), NULL, &docs, &n, &err);
    if (rc != 0)
        fprintf(stderr, "parse: %s (line %d): %s\n", err.msg, err.line, text);
    assert_int_equal(rc, 0);
    assert_int_equal(n, 1);
    kl_json_t *j = docs[0];
    free(docs);
    return j;
}

static kl_json_t *parse_json(const char *text)
{
    kl_json_t *j = NULL;
    assert_int_equal(kl_json_parse(text, strlen(text), NULL, &j, NULL), 0);
    return j;
}

/* A CRD type whose spec is the given schema (YAML flow or JSON). */
static kl_stype_t *spec_type(const char *spec_schema)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "{\"type\": \"object\", \"properties\": {\"spec\": %s, "
             "\"status\": {\"type\": \"object\", \"properties\": {\"count\": {\"type\": "
             "\"integer\", \"minimum\": 0}}}}}",
             spec_schema);
    kl_json_t *schema = parse_any(text);
    kl_stype_t *t = NULL;
    kl_errinfo_t err = {0};
    int rc = kl_schema_from_openapi(schema, &t, &err);
    if (rc != 0)
        fprintf(stderr, "from_openapi: %s\n", err.msg);
    assert_int_equal(rc, 0);
    kl_json_free(schema);
    return t;
}

static kl_json_t *object_with_spec(const char *spec)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "{\"apiVersion\": \"example.com/v1\", \"kind\": \"Widget\", \"metadata\": "
             "{\"name\": \"w\"}, \"spec\": %s}",
             spec);
    return parse_any(text);
}

typedef struct vcase {
    const char *schema; /* of .spec */
    const char *spec;   /* the object's .spec */
    const char *errors; /* expected field errors, "\n"-separated; "" for none */
    const char *after;  /* expected .spec after decoding (defaults, pruning), or NULL */
} vcase_t;

static const vcase_t cases[] = {
    /* Numbers: minimum, maximum, exclusive bounds, multipleOf; integers compare as integers. */
    {"{type: object, properties: {replicas: {type: integer, minimum: 0}}}", "{replicas: -1}",
     "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to "
     "0",
     NULL},
    {"{type: object, properties: {replicas: {type: integer, minimum: 0}}}", "{replicas: 0}", "",
     NULL},
    {"{type: object, properties: {r: {type: integer, minimum: 0, exclusiveMinimum: true}}}",
     "{r: 0}", "spec.r: Invalid value: 0: spec.r in body should be greater than 0", NULL},
    {"{type: object, properties: {r: {type: number, maximum: 2}}}", "{r: 2.5}",
     "spec.r: Invalid value: 2.5: spec.r in body should be less than or equal to 2", NULL},
    {"{type: object, properties: {r: {type: number, maximum: 2.5, exclusiveMaximum: true}}}",
     "{r: 2.5}", "spec.r: Invalid value: 2.5: spec.r in body should be less than 2.5", NULL},
    {"{type: object, properties: {r: {type: number, minimum: 1000000}}}", "{r: 0.5}",
     "spec.r: Invalid value: 0.5: spec.r in body should be greater than or equal to 1e+06", NULL},
    {"{type: object, properties: {r: {type: integer, multipleOf: 5}}}", "{r: 7}",
     "spec.r: Invalid value: 7: spec.r in body should be a multiple of 5", NULL},
    {"{type: object, properties: {r: {type: number, multipleOf: 0.25}}}", "{r: 0.3}",
     "spec.r: Invalid value: 0.3: spec.r in body should be a multiple of 0.25", NULL},
    {"{type: object, properties: {r: {type: number, multipleOf: 0.25}}}", "{r: 0.75}", "", NULL},
    {"{type: object, properties: {r: {type: integer, minimum: 1, maximum: 3}}}", "{r: 1.0}", "",
     NULL},
    /* Types, with upstream's wording (and its format-first quirk). */
    {"{type: object, properties: {r: {type: integer}}}", "{r: \"3\"}",
     "spec.r: Invalid value: \"string\": spec.r in body must be of type integer: \"string\"", NULL},
    {"{type: object, properties: {r: {type: integer, format: int32}}}", "{r: 1.5}",
     "spec.r: Invalid value: \"float64\": spec.r in body must be of type int32: \"float64\"", NULL},
    {"{type: object, properties: {r: {type: integer, format: int32}}}", "{r: 99999999999}", "",
     NULL},
    {"{type: object, properties: {p: {x-kubernetes-int-or-string: true}}}", "{p: true}",
     "spec.p: Invalid value: \"boolean\": spec.p in body must be of type integer,string: "
     "\"boolean\"",
     NULL},
    {"{type: object, properties: {p: {x-kubernetes-int-or-string: true, maximum: 10}}}",
     "{p: \"80%\"}", "", NULL},
    {"{type: object, properties: {p: {x-kubernetes-int-or-string: true, maximum: 10}}}", "{p: 11}",
     "spec.p: Invalid value: 11: spec.p in body should be less than or equal to 10", NULL},
    /* Strings: lengths in characters, ECMA-262 patterns. */
    {"{type: object, properties: {s: {type: string, maxLength: 5}}}", "{s: \"h\\u00e9llo\"}", "",
     NULL},
    {"{type: object, properties: {s: {type: string, maxLength: 5}}}", "{s: \"h\\u00e9llo!\"}",
     "spec.s: Too long: may not be more than 5 bytes", NULL},
    {"{type: object, properties: {s: {type: string, minLength: 3, maxLength: 1}}}", "{s: ab}",
     "spec.s: Too long: may not be more than 1 byte", NULL},
    {"{type: object, properties: {s: {type: string, minLength: 3}}}", "{s: ab}",
     "spec.s: Invalid value: \"ab\": spec.s in body should be at least 3 chars long", NULL},
    {"{type: object, properties: {s: {type: string, pattern: '^\\d{3}-[a-z]+$'}}}", "{s: 123-abc}",
     "", NULL},
    {"{type: object, properties: {s: {type: string, pattern: '^\\d{3}-[a-z]+$'}}}", "{s: 12-abc}",
     "spec.s: Invalid value: \"12-abc\": spec.s in body should match '^\\d{3}-[a-z]+$'", NULL},
    {"{type: object, properties: {s: {type: string, pattern: '^(?!admin$)[a-z]+$'}}}", "{s: admin}",
     "spec.s: Invalid value: \"admin\": spec.s in body should match '^(?!admin$)[a-z]+$'", NULL},
    {"{type: object, properties: {s: {type: string, pattern: '^caf\\u00e9$'}}}",
     "{s: \"caf\\u00e9\"}", "", NULL},
    {"{type: object, properties: {s: {type: string, pattern: 'a$'}}}", "{s: \"a\\n\"}",
     "spec.s: Invalid value: \"a\\n\": spec.s in body should match 'a$'", NULL},
    /* enum */
    {"{type: object, properties: {m: {type: string, enum: [a, b]}}}", "{m: x}",
     "spec.m: Unsupported value: \"x\": supported values: \"a\", \"b\"", NULL},
    {"{type: object, properties: {m: {type: integer, enum: [1, 2]}}}", "{m: 3}",
     "spec.m: Unsupported value: 3: supported values: \"1\", \"2\"", NULL},
    {"{type: object, properties: {m: {type: integer, enum: [1, 2]}}}", "{m: 2}", "", NULL},
    /* Formats, as kube-openapi's registry checks them. */
    {"{type: object, properties: {t: {type: string, format: date-time}}}",
     "{t: \"2024-02-29T03:04:05.5+02:00\"}", "", NULL},
    {"{type: object, properties: {t: {type: string, format: date-time}}}", "{t: yesterday}",
     "spec.t: Invalid value: \"yesterday\": spec.t in body must be of type date-time: "
     "\"yesterday\"",
     NULL},
    {"{type: object, properties: {t: {type: string, format: date}}}", "{t: \"2023-02-29\"}",
     "spec.t: Invalid value: \"2023-02-29\": spec.t in body must be of type date: \"2023-02-29\"",
     NULL},
    {"{type: object, properties: {b: {type: string, format: byte}}}", "{b: \"aGVsbG8=\"}", "",
     NULL},
    {"{type: object, properties: {b: {type: string, format: byte}}}", "{b: \"not base64\"}",
     "spec.b: Invalid value: \"not base64\": spec.b in body must be of type byte: \"not base64\"",
     NULL},
    {"{type: object, properties: {i: {type: string, format: ipv4}, u: {type: string, format: "
     "uuid}, c: {type: string, format: cidr}, d: {type: string, format: duration}}}",
     "{i: 10.0.0.1, u: 123e4567-e89b-12d3-a456-426614174000, c: 10.0.0.0/8, d: 1h30m}", "", NULL},
    {"{type: object, properties: {i: {type: string, format: ipv4}}}", "{i: 10.0.0.256}",
     "spec.i: Invalid value: \"10.0.0.256\": spec.i in body must be of type ipv4: \"10.0.0.256\"",
     NULL},
    {"{type: object, properties: {x: {type: string, format: no-such-format}}}", "{x: anything}", "",
     NULL},
    /* Arrays. */
    {"{type: object, properties: {l: {type: array, minItems: 1, items: {type: string}}}}",
     "{l: []}", "spec.l: Invalid value: 0: spec.l in body should have at least 1 items", NULL},
    {"{type: object, properties: {l: {type: array, maxItems: 2, items: {type: string}}}}",
     "{l: [a, b, c]}", "spec.l: Too many: 3: must have at most 2 items", NULL},
    {"{type: object, properties: {l: {type: array, uniqueItems: true, items: {type: string}}}}",
     "{l: [a, b, a]}", "spec.l: Invalid value: \"\": spec.l in body shouldn't contain duplicates",
     NULL},
    {"{type: object, properties: {l: {type: array, items: {type: integer, maximum: 1}}}}",
     "{l: [1, 2]}",
     "spec.l[1]: Invalid value: 2: spec.l[1] in body should be less than or equal to 1", NULL},
    /* Objects: property counts (upstream reports the limit as the value), required. */
    {"{type: object, properties: {m: {type: object, minProperties: 2, additionalProperties: "
     "{type: string}}}}",
     "{m: {a: b}}", "spec.m: Invalid value: 2: spec.m in body should have at least 2 properties",
     NULL},
    {"{type: object, properties: {m: {type: object, maxProperties: 1, additionalProperties: "
     "{type: string}}}}",
     "{m: {a: b, c: d}}", "spec.m: Too many: 1: must have at most 1 item", NULL},
    {"{type: object, required: [a, b], properties: {a: {type: string}, b: {type: string}}}",
     "{a: x}", "spec.b: Required value", NULL},
    {"{type: object, properties: {m: {type: object, additionalProperties: {type: integer, "
     "minimum: 0}}}}",
     "{m: {x: -1}}",
     "spec.m.x: Invalid value: -1: spec.m.x in body should be greater than or "
     "equal to 0",
     NULL},
    /* x-kubernetes-list-type set and map. */
    {"{type: object, properties: {tags: {type: array, x-kubernetes-list-type: set, items: "
     "{type: string}}}}",
     "{tags: [a, b, a, a]}", "spec.tags[2]: Duplicate value: \"a\"", NULL},
    {"{type: object, properties: {ports: {type: array, x-kubernetes-list-type: map, "
     "x-kubernetes-list-map-keys: [name], items: {type: object, required: [name], properties: "
     "{name: {type: string}, port: {type: integer}}}}}}",
     "{ports: [{name: a, port: 1}, {name: b}, {name: a, port: 2}]}",
     "spec.ports[2]: Duplicate value: map[string]interface {}{\"name\":\"a\"}", NULL},
    {"{type: object, properties: {ports: {type: array, x-kubernetes-list-type: map, "
     "x-kubernetes-list-map-keys: [name, proto], items: {type: object, properties: {name: "
     "{type: string}, proto: {type: string, default: TCP}}}}}}",
     "{ports: [{name: a}, {name: a, proto: TCP}]}",
     "spec.ports[1]: Duplicate value: map[string]interface {}{\"name\":\"a\", \"proto\":\"TCP\"}",
     "{\"ports\":[{\"name\":\"a\",\"proto\":\"TCP\"},{\"name\":\"a\",\"proto\":\"TCP\"}]}"},
    /* Defaults at every level: properties, nested under a defaulted object, array items,
     * additionalProperties; nulls of non-nullable fields get the default. */
    {"{type: object, properties: {backoffLimit: {type: integer, minimum: 0, default: 6}}}", "{}",
     "", "{\"backoffLimit\":6}"},
    {"{type: object, properties: {backoffLimit: {type: integer, minimum: 0, default: 6}}}",
     "{backoffLimit: null}", "", "{\"backoffLimit\":6}"},
    {"{type: object, properties: {backoffLimit: {type: integer, minimum: 0, default: 6}}}",
     "{backoffLimit: 2}", "", "{\"backoffLimit\":2}"},
    {"{type: object, properties: {o: {type: object, default: {}, properties: {a: {type: integer, "
     "default: 1}, b: {type: object, properties: {c: {type: string, default: x}}}}}}}",
     "{}", "", "{\"o\":{\"a\":1}}"},
    {"{type: object, properties: {l: {type: array, items: {type: object, properties: {port: "
     "{type: integer, default: 80}, name: {type: string}}}}}}",
     "{l: [{name: a}, {port: 81}]}", "", "{\"l\":[{\"name\":\"a\",\"port\":80},{\"port\":81}]}"},
    {"{type: object, properties: {m: {type: object, additionalProperties: {type: string, "
     "default: dflt}}}}",
     "{m: {a: x, b: null}}", "", "{\"m\":{\"a\":\"x\",\"b\":\"dflt\"}}"},
    {"{type: object, properties: {l: {type: array, items: {type: string, default: d}}}}",
     "{l: [a, null]}", "", "{\"l\":[\"a\",\"d\"]}"},
    /* Nulls: kept when nullable, dropped when not (no default), invalid inside a list. */
    {"{type: object, properties: {count: {type: string, nullable: true}, m: {type: string}}}",
     "{count: null, m: null}", "", "{\"count\":null}"},
    {"{type: object, properties: {l: {type: array, items: {type: string}}}}", "{l: [a, null]}",
     "spec.l[1]: Invalid value: \"null\": spec.l[1] in body must be of type string: \"null\"",
     NULL},
    /* Pruning: unknown fields go (reported), preserve-unknown-fields keeps them; a default is
     * pruned to its schema. */
    {"{type: object, properties: {a: {type: string}, free: {type: object, "
     "x-kubernetes-preserve-unknown-fields: true}}}",
     "{a: x, zz: 1, free: {anything: 1}}", "", "{\"a\":\"x\",\"free\":{\"anything\":1}}"},
    {"{type: object, properties: {o: {type: object, default: {a: 1, zz: 2}, properties: {a: "
     "{type: integer}}}}}",
     "{}", "", "{\"o\":{\"a\":1}}"},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const vcase_t *c = &cases[i];
        kl_stype_t *t = spec_type(c->schema);
        kl_json_t *obj = object_with_spec(c->spec);
        kl_schema_report_t r;
        kl_schema_report_init(&r);
        assert_int_equal(kl_schema_check(t, obj, KL_FIELDVAL_WARN, &r), 0);
        const char *got = r.invalid.data ? r.invalid.data : "";
        if (strcmp(got, c->errors) != 0)
            fprintf(stderr, "case %zu: %s with %s\n  want: %s\n  got:  %s\n", i, c->schema, c->spec,
                    c->errors, got);
        assert_string_equal(got, c->errors);
        assert_int_equal(r.ntype_errors, 0);
        if (c->after != NULL) {
            char *spec = kl_json_encode_alloc(kl_json_get(obj, "spec"), NULL);
            if (strcmp(spec, c->after) != 0)
                fprintf(stderr, "case %zu: spec after decoding: want %s, got %s\n", i, c->after,
                        spec);
            assert_string_equal(spec, c->after);
            free(spec);
        }
        kl_schema_report_cleanup(&r);
        kl_json_free(obj);
        kl_stype_free(t);
    }
}

/* Decoding alone prunes and defaults but does not validate; strict decoding changes nothing. */
static void test_decode(void **state)
{
    (void)state;
    kl_stype_t *t = spec_type("{type: object, properties: {r: {type: integer, minimum: 0, "
                              "default: 3}, s: {type: integer, minimum: 0}}}");
    kl_json_t *obj = object_with_spec("{s: -1, zz: 1}");
    kl_schema_report_t r;
    kl_schema_report_init(&r);
    assert_int_equal(kl_schema_decode(t, obj, KL_FIELDVAL_WARN, &r), 0);
    assert_int_equal(r.ninvalid, 0);
    assert_string_equal(r.unknown.data, "unknown field \"spec.zz\"");
    assert_int_equal(kl_json_int_or(kl_json_path(obj, "spec", "r", NULL), 0), 3);
    kl_schema_report_cleanup(&r);
    kl_json_free(obj);

    obj = object_with_spec("{zz: 1}");
    kl_schema_report_init(&r);
    assert_int_equal(kl_schema_decode(t, obj, KL_FIELDVAL_STRICT, &r), 0);
    assert_int_equal(r.nunknown, 1);
    assert_null(kl_json_path(obj, "spec", "r", NULL));
    assert_non_null(kl_json_path(obj, "spec", "zz", NULL));
    kl_schema_report_cleanup(&r);
    kl_json_free(obj);

    /* Reading a stored object applies the defaults it lacks, and says whether it changed. */
    obj = object_with_spec("{s: 1}");
    assert_int_equal(kl_schema_apply_defaults(t, obj), 1);
    assert_int_equal(kl_json_int_or(kl_json_path(obj, "spec", "r", NULL), 0), 3);
    assert_int_equal(kl_schema_apply_defaults(t, obj), 0);
    kl_json_free(obj);
    kl_stype_free(t);
}

static char *errors_text(const kl_ferrs_t *errs)
{
    kl_buf_t b;
    kl_buf_init(&b, 0);
    for (size_t i = 0; i < errs->n; i++) {
        if (i)
            assert_int_equal(kl_buf_putc(&b, '\n'), 0);
        assert_int_equal(kl_ferr_format(&errs->items[i], &b), 0);
    }
    if (b.data == NULL)
        return strdup("");
    return kl_buf_take(&b, NULL);
}

/* Updates: values unchanged from the stored object are not judged again, so a status write is
 * judged by its status and a spec write by its spec (validation ratcheting). */
static void test_ratcheting(void **state)
{
    (void)state;
    kl_stype_t *t = spec_type("{type: object, properties: {r: {type: integer, minimum: 0}, "
                              "ports: {type: array, x-kubernetes-list-type: map, "
                              "x-kubernetes-list-map-keys: [name], items: {type: object, "
                              "properties: {name: {type: string}, count: {type: integer, "
                              "minimum: 0}}}}}}");
    kl_json_t *old = parse_any("{apiVersion: example.com/v1, kind: Widget, metadata: {name: w}, "
                               "spec: {r: -1, ports: [{name: a, count: -1}]}, status: {count: 1}}");
    kl_json_t *next = kl_json_dup(old);
    assert_int_equal(kl_json_set_int(kl_json_get(next, "status"), "count", -2), 0);
    kl_ferrs_t errs;
    kl_ferrs_init(&errs);
    kl_schema_validate_cr(t, next, old, &errs);
    char *text = errors_text(&errs);
    assert_string_equal(text,
                        "status.count: Invalid value: -2: status.count in body should be greater "
                        "than or equal to 0");
    free(text);
    kl_ferrs_cleanup(&errs);

    /* A new map-list item is judged; the unchanged one (matched by key) is not. */
    kl_json_free(next);
    next = parse_any("{apiVersion: example.com/v1, kind: Widget, metadata: {name: w}, "
                     "spec: {r: -1, ports: [{name: b, count: -3}, {name: a, count: -1}]}, "
                     "status: {count: 1}}");
    kl_ferrs_init(&errs);
    kl_schema_validate_cr(t, next, old, &errs);
    text = errors_text(&errs);
    assert_string_equal(
        text, "spec.ports[0].count: Invalid value: -3: spec.ports[0].count in body should "
              "be greater than or equal to 0");
    free(text);
    kl_ferrs_cleanup(&errs);

    /* On create everything is judged. */
    kl_ferrs_init(&errs);
    kl_schema_validate_cr(t, old, NULL, &errs);
    assert_int_equal(errs.n, 2);
    kl_ferrs_cleanup(&errs);
    kl_json_free(next);
    kl_json_free(old);
    kl_stype_free(t);
}

/* The checks a CRD's own schemas get when it is written. */
static void test_crd_schemas(void **state)
{
    (void)state;
    static const struct {
        const char *schema;
        const char *errors;
    } crds[] = {
        {"{type: object, properties: {spec: {type: object, properties: {backoffLimit: {type: "
         "integer, minimum: 0, default: -1}}}}}",
         "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[backoffLimit]."
         "default: Invalid value: -1:  in body should be greater than or equal to 0"},
        {"{type: object, properties: {spec: {type: object, properties: {o: {type: object, "
         "default: {a: x, zz: 1}, properties: {a: {type: integer}}}}}}}",
         "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[o].default: "
         "Invalid value: map[string]interface {}{\"a\":\"x\", \"zz\":1}: must not have unknown "
         "fields\n"
         "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[o].default.a: "
         "Invalid value: \"string\": a in body must be of type integer: \"string\""},
        {"{type: object, properties: {spec: {type: object, properties: {s: {type: string, "
         "pattern: '('}}}}}",
         "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[s].pattern: "
         "Invalid value: \"(\": must be a valid regular expression, but isn't: missing closing "
         "parenthesis at offset 1"},
        {"{type: object, properties: {l: {type: array, uniqueItems: true, items: {type: "
         "string}}}}",
         "spec.versions[0].schema.openAPIV3Schema.properties[l].uniqueItems: Forbidden: "
         "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"},
        {"{type: object, properties: {l: {type: array, x-kubernetes-list-type: map, "
         "x-kubernetes-list-map-keys: [name], items: {type: object, properties: {name: {type: "
         "string}}}}}}",
         "spec.versions[0].schema.openAPIV3Schema.properties[l].items.properties[name].default: "
         "Required value: this property is in x-kubernetes-list-map-keys, so it must have a "
         "default or be a required property"},
        {"{type: object, properties: {m: {type: object, x-kubernetes-map-type: weird}}}",
         "spec.versions[0].schema.openAPIV3Schema.properties[m].x-kubernetes-map-type: "
         "Unsupported value: \"weird\": supported values: \"granular\", \"atomic\""},
        /* Defaults under additionalProperties are not validated (upstream does not follow
         * them); valid defaults and CEL rules are fine. */
        {"{type: object, properties: {m: {type: object, additionalProperties: {type: integer, "
         "minimum: 0, default: -1}}, count: {type: integer, default: 1, x-kubernetes-validations: "
         "[{rule: 'self > 0'}]}}}",
         ""},
    };
    for (size_t i = 0; i < sizeof(crds) / sizeof(crds[0]); i++) {
        char text[4096];
        snprintf(text, sizeof(text),
                 "{spec: {group: example.com, versions: [{name: v1, served: true, storage: "
                 "true, schema: {openAPIV3Schema: %s}}]}}",
                 crds[i].schema);
        kl_json_t *crd = parse_any(text);
        kl_ferrs_t errs;
        kl_ferrs_init(&errs);
        kl_crd_validate_schemas(crd, &errs);
        char *got = errors_text(&errs);
        if (strcmp(got, crds[i].errors) != 0)
            fprintf(stderr, "crd %zu:\n  want: %s\n  got:  %s\n", i, crds[i].errors, got);
        assert_string_equal(got, crds[i].errors);
        free(got);
        kl_ferrs_cleanup(&errs);
        kl_json_free(crd);
    }
}

/* Go's %v and %#v of decoded values, which the messages quote. */
static void test_go_values(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *want;
    } vals[] = {
        {"1", "1"},
        {"-1.5", "-1.5"},
        {"1e6", "1e+06"},
        {"123456.5", "123456.5"},
        {"0.0001", "0.0001"},
        {"0.00001", "1e-05"},
        {"1.0", "1"},
        {"\"a\\\"b\\n\"", "\"a\\\"b\\n\""},
        {"true", "true"},
        {"null", "\"null\""},
        {"[1, \"a\", null]", "[]interface {}{1, \"a\", interface {}(nil)}"},
        {"{\"b\": 1, \"a\": [true]}", "map[string]interface {}{\"a\":[]interface {}{true}, "
                                      "\"b\":1}"},
    };
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        kl_json_t *j = parse_json(vals[i].json);
        kl_buf_t b;
        kl_buf_init(&b, 0);
        assert_int_equal(kl__schema_go_value(j, &b), 0);
        assert_string_equal(b.data, vals[i].want);
        kl_buf_cleanup(&b);
        kl_json_free(j);
    }
}

/* The daemonjob example's CRD: backoffLimit defaults to 6 and may not be negative. */
static void test_daemonjob_example(void **state)
{
    (void)state;
    size_t len = 0;
    char path[1024];
    snprintf(path, sizeof(path), "%s/examples/daemonjob/crd.yaml", KL_SOURCE_DIR);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *text = malloc(1 << 16);
    assert_non_null(text);
    len = fread(text, 1, (1 << 16) - 1, f);
    text[len] = '\0';
    fclose(f);
    kl_json_t *crd = parse_any(text);
    free(text);
    kl_ferrs_t errs;
    kl_ferrs_init(&errs);
    kl_crd_validate_schemas(crd, &errs);
    assert_int_equal(errs.n, 0);
    kl_ferrs_cleanup(&errs);
    const kl_json_t *schema =
        kl_json_path(kl_json_at(kl_json_path(crd, "spec", "versions", NULL), 0), "schema",
                     "openAPIV3Schema", NULL);
    kl_stype_t *t = NULL;
    kl_errinfo_t err;
    assert_int_equal(kl_schema_from_openapi(schema, &t, &err), 0);
    kl_json_t *dj = parse_any("{apiVersion: kubelua.io/v1alpha1, kind: DaemonJob, metadata: "
                              "{name: d}, spec: {template: {spec: {restartPolicy: Never, "
                              "containers: [{name: c, image: busybox}]}}}}");
    kl_schema_report_t r;
    kl_schema_report_init(&r);
    assert_int_equal(kl_schema_check(t, dj, KL_FIELDVAL_STRICT, &r), 0);
    assert_int_equal(r.ninvalid + r.nunknown, 0);
    assert_int_equal(kl_json_int_or(kl_json_path(dj, "spec", "backoffLimit", NULL), 0), 6);
    kl_schema_report_cleanup(&r);
    assert_int_equal(kl_json_set_int(kl_json_get(dj, "spec"), "backoffLimit", -1), 0);
    assert_int_equal(kl_json_set_str(kl_json_path(dj, "spec", "template", "spec", NULL),
                                     "restartPolicy", "Always"),
                     0);
    kl_schema_report_init(&r);
    assert_int_equal(kl_schema_check(t, dj, KL_FIELDVAL_STRICT, &r), 0);
    assert_string_equal(r.invalid.data,
                        "spec.template.spec.restartPolicy: Unsupported value: \"Always\": "
                        "supported values: \"Never\", \"OnFailure\"\n"
                        "spec.backoffLimit: Invalid value: -1: spec.backoffLimit in body should "
                        "be greater than or equal to 0");
    kl_schema_report_cleanup(&r);
    kl_json_free(dj);
    kl_stype_free(t);
    kl_json_free(crd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),      cmocka_unit_test(test_decode),
        cmocka_unit_test(test_ratcheting), cmocka_unit_test(test_crd_schemas),
        cmocka_unit_test(test_go_values),  cmocka_unit_test(test_daemonjob_example),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
