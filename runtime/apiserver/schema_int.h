/* apiserver/schema_int.h - internals shared by the schema files (schema.c loads the built-in
 * definitions, schema_check.c decodes strictly, schema_crd.c converts CRD schemas,
 * schema_valid.c validates and defaults custom resources, schema_format.c checks OpenAPI string
 * formats and patterns, schema_openapi.c and schema_pb.c publish the OpenAPI documents). */
#ifndef KL_APISERVER_SCHEMA_INT_H
#define KL_APISERVER_SCHEMA_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/buf.h"
#include "kubelua/json.h"
#include "kubelua/schema.h"

/* Value constraints of a CRD schema node, owned by its kl_stype_t (freed by kl_stype_free()).
 * Limits that are absent are flagged by has_* or a negative count. */
struct kl_svalid {
    kl_json_t *def; /* `default`, pruned to the node's schema; NULL when none */
    bool nullable;
    bool subtree_defaults; /* this node or one below it (not through metadata) has a default */
    bool has_min, has_max, excl_min, excl_max, has_multiple;
    double min, max, multiple;
    int64_t min_len, max_len; /* characters (UTF-8 code points); -1: none */
    int64_t min_items, max_items;
    int64_t min_props, max_props;
    bool unique_items;
    char *pattern;       /* ECMA-262 source as written, or NULL */
    void *re;            /* its compiled form (pcre2_code), NULL when it does not compile */
    char *re_error;      /* why it does not compile */
    const char *format;  /* the format upstream validates with (unsupported ones are dropped) */
    char *map_type;      /* x-kubernetes-map-type, or NULL */
    size_t nvalidations; /* x-kubernetes-validations rules (CEL, not evaluated) */
};

/* Compiles an ECMA-262 pattern (the subset OpenAPI schemas use) with PCRE2. Returns the code, or
 * NULL with the reason in err. */
void *kl__regex_compile(const char *pattern, char *err, size_t errlen);
/* Whether s matches re anywhere (an unanchored search, as Go's MatchString); -1 on failure. */
int kl__regex_search(const void *re, const char *s, size_t len);
void kl__regex_free(void *re);

/* Whether s is valid for the OpenAPI string format (as kube-openapi's strfmt registry checks
 * it): 1 valid, 0 invalid, -1 a format the registry does not know (not checked). */
int kl__format_check(const char *format, const char *s, size_t len);
/* Whether the format is one kube-apiserver keeps on a string schema (others are ignored). */
bool kl__format_supported(const char *format);

/* resource.ParseQuantity: NULL when s is a quantity, else the error message. */
const char *kl__parse_quantity(const char *s);

/* Go's rendering of a decoded JSON value: `%v` for field error values (strings quoted, numbers
 * bare) and `%#v` (map[string]interface {}{"a":1}) for objects and arrays. */
KL_NODISCARD int kl__schema_go_value(const kl_json_t *j, kl_buf_t *out);
/* strconv.FormatFloat(d, 'g', -1, 64), what `%v` prints for a float64. */
KL_NODISCARD int kl__schema_go_float(double d, kl_buf_t *out);
/* strconv.Quote. */
KL_NODISCARD int kl__schema_quote(const char *s, size_t len, kl_buf_t *out);

/* Prunes from j the fields that t does not declare (no preserve-unknown-fields), as upstream
 * prunes defaults. Returns 0 or KL_ENOMEM. */
KL_NODISCARD int kl__schema_prune(const kl_stype_t *t, kl_json_t *j);

/* A built-in top-level kind and its type. */
typedef struct kl__schema_gvk {
    const char *group;
    const char *version;
    const char *kind;
    const kl_stype_t *type;
} kl__schema_gvk_t;

/* The built-in kinds (after a successful kl_schema_init()), or NULL with *n = 0. */
const kl__schema_gvk_t *kl__schema_gvks(size_t *n);
/* The built-in kind whose top-level type is t, or NULL. */
const kl__schema_gvk_t *kl__schema_gvk_of(const kl_stype_t *t);

/* The Go struct name of a named object type ("PodSpec"), for decoding errors. */
const char *kl__stype_struct_name(const kl_stype_t *t);

/* Appends the Go/JSON spelling of a number the way a JSON encoder writes it: integers exactly,
 * doubles in the shortest form that reads back the same. */
KL_NODISCARD int kl__schema_number_text(const kl_json_t *j, kl_buf_t *out);

/* Protobuf encoding of a Swagger 2.0 document held as a JSON tree (schema_pb.c). */
KL_NODISCARD int kl__openapi_v2_to_protobuf(const kl_json_t *doc, kl_buf_t *out);

#endif
