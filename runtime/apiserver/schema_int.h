/* apiserver/schema_int.h - internals shared by the schema files (schema.c loads the built-in
 * definitions, schema_check.c decodes strictly, schema_crd.c converts CRD schemas,
 * schema_openapi.c and schema_pb.c publish the OpenAPI documents). */
#ifndef KL_APISERVER_SCHEMA_INT_H
#define KL_APISERVER_SCHEMA_INT_H

#include <stddef.h>

#include "kubelua/buf.h"
#include "kubelua/json.h"
#include "kubelua/schema.h"

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
