/* kubelua/schema.h - structural schemas of Kubernetes kinds.
 *
 * One registry of types serves four purposes: strict decoding (unknown fields and wrong types
 * are reported with the paths and words kube-apiserver uses), strategic merge patch (which
 * lists merge by which key, which fields replace or retain keys), the OpenAPI documents kubectl
 * downloads (/openapi/v3 and /openapi/v2), and field descriptions for `kubectl explain`.
 *
 * Built-in types are defined in a compact text format embedded in the binary and parsed once,
 * on first use (thread-safe); they live for the whole process. CustomResourceDefinitions add
 * types at run time from their openAPIV3Schema with kl_schema_from_openapi(); those belong to
 * the caller and are freed with kl_stype_free().
 */
#ifndef KUBELUA_SCHEMA_H
#define KUBELUA_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "kubelua/buf.h"
#include "kubelua/error.h"
#include "kubelua/json.h"

typedef enum kl_skind {
    KL_SK_ANY = 0, /* anything (RawExtension, preserve-unknown-fields) */
    KL_SK_STRING,
    KL_SK_INT,    /* int32/int64 */
    KL_SK_NUMBER, /* float64 (also accepts integers) */
    KL_SK_BOOL,
    KL_SK_OBJECT,        /* a struct with named fields */
    KL_SK_MAP,           /* map[string]elem */
    KL_SK_LIST,          /* []elem */
    KL_SK_INT_OR_STRING, /* intstr.IntOrString */
    KL_SK_QUANTITY,      /* resource.Quantity: a string or a number */
    KL_SK_TIME,          /* metav1.Time: RFC 3339 string (or null) */
} kl_skind_t;

enum {
    KL_SF_REQUIRED = 1u << 0,      /* must be present (validation) */
    KL_SF_PATCH_MERGE = 1u << 1,   /* x-kubernetes-patch-strategy: merge */
    KL_SF_PATCH_REPLACE = 1u << 2, /* ... replace */
    KL_SF_RETAIN_KEYS = 1u << 3,   /* ... retainKeys */
    KL_SF_NULLABLE = 1u << 4,      /* null is a valid value (CRD schemas) */
};

typedef struct kl_stype kl_stype_t;
/* CRD value constraints and default of one schema node (apiserver/schema_int.h). */
typedef struct kl_svalid kl_svalid_t;

typedef struct kl_sfield {
    const char *name;
    const kl_stype_t *type;
    const char *merge_key; /* x-kubernetes-patch-merge-key for lists, else NULL */
    unsigned flags;        /* KL_SF_* */
    const char *description;
    const char *go_embed; /* Go struct the field is inlined from ("VolumeSource", "TypeMeta"),
                             named in the field path of decoding errors; else NULL */
} kl_sfield_t;

struct kl_stype {
    const char *name; /* "io.k8s.api.core.v1.PodSpec"; NULL for anonymous types */
    kl_skind_t kind;
    const kl_stype_t *elem;    /* KL_SK_LIST / KL_SK_MAP element type */
    const kl_sfield_t *fields; /* KL_SK_OBJECT */
    size_t nfields;
    bool preserve_unknown;            /* x-kubernetes-preserve-unknown-fields */
    const char *list_type;            /* "atomic", "set", "map" or NULL */
    const char *const *list_map_keys; /* NULL-terminated, for list_type "map" */
    const char *const *enum_values;   /* NULL-terminated or NULL */
    const char *description;
    const char *format;  /* OpenAPI format: "int32", "int64", "double", "byte", "date-time"... */
    const char *go_type; /* Go type named in decoding errors: "int32", "v1.JobSpec", "[]string" */
    bool crd;            /* built by kl_schema_from_openapi(): checked like a custom resource */
    const kl_svalid_t *valid; /* CRD nodes from a schema: default, nullable, minimum, pattern...;
                                 NULL for built-in types and implied CRD nodes */
};

/* Parses the built-in definitions now instead of on first use. Returns 0, or the (cached) error
 * of a broken definition with its message in err (optional); lookups then find nothing. */
KL_NODISCARD int kl_schema_init(kl_errinfo_t *err);
/* Built-in types by definition name, or NULL. */
const kl_stype_t *kl_schema_lookup(const char *name);
/* The top-level type of a built-in kind ("" group for core), or NULL. */
const kl_stype_t *kl_schema_for_kind(const char *group, const char *version, const char *kind);
/* A field of an object type, or NULL. */
const kl_sfield_t *kl_stype_field(const kl_stype_t *t, const char *name, size_t len);

/* Field validation modes of the fieldValidation query parameter. */
typedef enum kl_fieldval {
    KL_FIELDVAL_IGNORE = 0, /* drop unknown fields silently */
    KL_FIELDVAL_WARN,       /* drop them and report warnings */
    KL_FIELDVAL_STRICT,     /* reject the request */
} kl_fieldval_t;

/* Problems found by kl_schema_check(). Messages are complete sentences in kube-apiserver's
 * words, e.g. `unknown field "spec.restartPolicy"` or `json: cannot unmarshal string into Go
 * struct field JobSpec.spec.backoffLimit of type int32`.
 *
 * How the API server turns them into responses, as kube-apiserver does:
 * - type_errors fail decoding whatever the mode: 400 BadRequest `<Kind> in version "<v>" cannot
 *   be handled as a <Kind>: <first type error>` (upstream stops at the first one).
 * - unknown in STRICT mode: 400 BadRequest `... cannot be handled as a <Kind>: strict decoding
 *   error: <unknown joined with ", ">`; in WARN mode one Warning header per line.
 * - invalid (custom resources only): 422 Invalid, one field error per line.
 * Duplicate keys never reach a tree: the decoders reject them (KL_EDUPKEY); the server reports
 * those as `duplicate field "<key>"` itself. */
typedef struct kl_schema_report {
    kl_buf_t unknown; /* `unknown field "spec.foo"`, "\n"-separated, deduplicated, at most 100 */
    kl_buf_t type_errors; /* wrong types, "\n"-separated: these always fail decoding */
    kl_buf_t invalid;     /* CRD schema violations: `spec.size: Required value`, "\n"-separated */
    size_t nunknown;
    size_t ntype_errors;
    size_t ninvalid;
} kl_schema_report_t;

void kl_schema_report_init(kl_schema_report_t *r);
void kl_schema_report_cleanup(kl_schema_report_t *r);

/* Checks obj against t. Unknown fields are recorded in r->unknown and, unless mode is STRICT
 * (nothing is changed then), pruned from obj; values of the wrong type are recorded in
 * r->type_errors. apiVersion, kind and metadata of a top-level object are checked against
 * ObjectMeta as upstream does. null is accepted for every field of a built-in type (it decodes
 * to the zero value). For CRD types (t->crd) obj is decoded as kube-apiserver decodes a custom
 * resource (see kl_schema_decode()) and then validated against the whole schema: types,
 * required, enum, minimum/maximum, multipleOf, lengths, pattern, format, item and property
 * counts, list-type set/map uniqueness (r->invalid, one field error per line, e.g.
 * `spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to
 * 0`). Returns 0 (inspect r) or KL_ENOMEM. */
KL_NODISCARD int kl_schema_check(const kl_stype_t *t, kl_json_t *obj, kl_fieldval_t mode,
                                 kl_schema_report_t *r);

/* The decoding half of kl_schema_check(), what the API server does to a request body: the same
 * for built-in types; for CRD types unknown fields are pruned (or reported), nulls of
 * non-nullable fields without a default are dropped and `default` values are applied at every
 * level (properties, array items, additionalProperties), but values are not validated: the
 * server validates the object it is about to store (after merging an update with the stored
 * object), with kl_schema_validate_cr() (apiserver/schema_valid.h). */
KL_NODISCARD int kl_schema_decode(const kl_stype_t *t, kl_json_t *obj, kl_fieldval_t mode,
                                  kl_schema_report_t *r);

/* Applies the `default` values of a CRD type to obj, as kube-apiserver does when it reads a
 * stored custom resource. Returns 1 when obj changed, 0 when not, KL_ENOMEM. */
KL_NODISCARD int kl_schema_apply_defaults(const kl_stype_t *t, kl_json_t *obj);

/* Builds a type from a CRD version's openAPIV3Schema (properties, items, type, format, required,
 * additionalProperties, nullable, x-kubernetes-preserve-unknown-fields,
 * x-kubernetes-int-or-string, x-kubernetes-embedded-resource, x-kubernetes-list-type/-map-keys,
 * x-kubernetes-map-type, enum, description, and the value constraints: default (pruned to the
 * schema), minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf, minLength,
 * maxLength, pattern (compiled once, ECMA-262 syntax through PCRE2), minItems, maxItems,
 * uniqueItems, minProperties, maxProperties). x-kubernetes-validations (CEL) rules are accepted
 * and not evaluated. metadata is always ObjectMeta; apiVersion and kind are added at the top.
 * Every node is anonymous and has crd set. *out belongs to the caller; on failure err says why
 * (KL_EINVAL for a schema that is not structural enough to use, KL_ENOMEM). */
KL_NODISCARD int kl_schema_from_openapi(const kl_json_t *openapi_v3_schema, kl_stype_t **out,
                                        kl_errinfo_t *err);
void kl_stype_free(kl_stype_t *t);

/* One kind served in a group-version, for the OpenAPI documents. */
typedef struct kl_openapi_kind {
    const char *kind;     /* "Job" */
    const char *resource; /* "jobs" */
    bool namespaced;
    const kl_stype_t *type;          /* its schema; an anonymous (CRD) type is published under the
                                        reversed group, version and kind: com.example.stable.v1.CronTab */
    const char *const *subresources; /* NULL-terminated: "status", "scale", "log"... or NULL;
                                        "scale" uses autoscaling/v1 Scale, "eviction" policy/v1
                                        Eviction, "binding" v1 Binding, "log" plain text */
} kl_openapi_kind_t;

/* Appends the OpenAPI v3 document of one group-version ("" group for core): the paths kubectl
 * looks for (a PATCH operation per kind tagged with x-kubernetes-group-version-kind and a
 * fieldValidation query parameter, plus get/put/post/delete) and components.schemas for every
 * type reachable from the kinds. */
KL_NODISCARD int kl_schema_openapi_v3(const char *group, const char *version,
                                      const kl_openapi_kind_t *kinds, size_t nkinds, kl_buf_t *out);

/* One group-version for the OpenAPI v2 document, which covers all of them. */
typedef struct kl_openapi_gv {
    const char *group;
    const char *version;
    const kl_openapi_kind_t *kinds;
    size_t nkinds;
} kl_openapi_gv_t;

/* Appends the OpenAPI v2 (Swagger 2.0) document as JSON, or, with protobuf set, encoded as the
 * gnostic openapi_v2.Document protobuf message that kubectl requests with
 * "Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf". Answer that request with
 * "Content-Type: application/octet-stream" as kube-apiserver does: kubectl 1.20 cannot parse the
 * long media type in a response ("mime: unexpected content after media subtype"). Definitions of
 * top-level kinds carry x-kubernetes-group-version-kind, which kubectl 1.20's validation needs. */
KL_NODISCARD int kl_schema_openapi_v2(const kl_openapi_gv_t *gvs, size_t ngvs, bool protobuf,
                                      kl_buf_t *out);

#endif
