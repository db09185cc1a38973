/* apiserver/schema_pb.c - a Swagger 2.0 document (JSON tree) encoded as gnostic's
 * openapi_v2.Document protobuf message (github.com/google/gnostic-models, OpenAPIv2.proto), the
 * form kubectl asks for with "Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf".
 *
 * Only the messages the generated documents use are written: Document, Info, Paths,
 * NamedPathItem, PathItem, Operation, ParametersItem, Parameter, BodyParameter,
 * NonBodyParameter with Query/PathParameterSubSchema, Responses, NamedResponseValue,
 * ResponseValue, Response, SchemaItem, Definitions, NamedSchema, Schema (with TypeItem,
 * ItemsItem, Properties, AdditionalPropertiesItem) and NamedAny/Any. Extension values ("x-...")
 * and enum values go into Any.yaml as JSON text, which YAML readers accept as flow style.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/buf.h"
#include "kubelua/error.h"
#include "kubelua/json.h"

#include "apiserver/schema_int.h"

enum { WT_VARINT = 0, WT_LEN = 2 };

static int put_varint(kl_buf_t *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    return kl_buf_append(b, tmp, n);
}

static int put_key(kl_buf_t *b, unsigned field, unsigned wt)
{
    return put_varint(b, ((uint64_t)field << 3) | wt);
}

static int put_bytes(kl_buf_t *b, unsigned field, const void *p, size_t n)
{
    int rc = put_key(b, field, WT_LEN);
    if (rc == 0)
        rc = put_varint(b, n);
    if (rc == 0)
        rc = kl_buf_append(b, p, n);
    return rc;
}

static int put_string(kl_buf_t *b, unsigned field, const kl_json_t *s)
{
    const char *v = kl_json_str(s);
    return v ? put_bytes(b, field, v, s->len) : 0;
}

static int put_bool(kl_buf_t *b, unsigned field, const kl_json_t *v)
{
    if (!kl_json_bool_or(v, false))
        return 0; /* proto3 leaves false out */
    int rc = put_key(b, field, WT_VARINT);
    return rc ? rc : put_varint(b, 1);
}

/* Encoders take the value they encode (a kl_json_t, or a named_t for named entries). */
typedef int (*enc_fn)(const void *arg, kl_buf_t *b);

/* Encodes j with fn as an embedded message in field. */
static int put_msg(kl_buf_t *b, unsigned field, enc_fn fn, const void *j)
{
    kl_buf_t sub;
    kl_buf_init(&sub, b->max);
    int rc = fn(j, &sub);
    if (rc == 0)
        rc = put_bytes(b, field, sub.data ? sub.data : "", sub.len);
    kl_buf_cleanup(&sub);
    return rc;
}

/* Any { string yaml = 2; } holding the JSON text of the value. */
static int enc_any(const void *j_, kl_buf_t *b)
{
    const kl_json_t *j = j_;
    size_t n = 0;
    char *text = kl_json_encode_alloc(j, &n);
    if (text == NULL)
        return KL_ENOMEM;
    int rc = put_bytes(b, 2, text, n);
    free(text);
    return rc;
}

/* A named entry (NamedAny, NamedSchema, NamedPathItem...): name = 1, value = 2 encoded by fn. */
typedef struct named {
    const kl_jmember_t *m;
    enc_fn fn;
} named_t;

static int enc_named(const void *arg, kl_buf_t *b)
{
    const named_t *n = arg;
    int rc = put_bytes(b, 1, n->m->key, n->m->keylen);
    return rc ? rc : put_msg(b, 2, n->fn, n->m->val);
}

/* Every "x-" member of obj as a repeated NamedAny in field. */
static int put_extensions(kl_buf_t *b, unsigned field, const kl_json_t *obj)
{
    for (uint32_t i = 0; kl_json_is(obj, KL_TOBJECT) && i < obj->len; i++) {
        const kl_jmember_t *m = &obj->u.members[i];
        if (strncmp(m->key, "x-", 2) != 0)
            continue;
        named_t n = {m, enc_any};
        int rc = put_msg(b, field, enc_named, &n);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int put_strings(kl_buf_t *b, unsigned field, const kl_json_t *arr)
{
    for (uint32_t i = 0; kl_json_is(arr, KL_TARRAY) && i < arr->len; i++) {
        int rc = put_string(b, field, arr->u.items[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- Schema --------------------------------------------------------------------------- */

static int enc_schema(const void *s_, kl_buf_t *b);

static int enc_type_item(const void *t_, kl_buf_t *b)
{
    const kl_json_t *t = t_;
    return kl_json_is(t, KL_TARRAY) ? put_strings(b, 1, t) : put_string(b, 1, t);
}

static int enc_items_item(const void *items_, kl_buf_t *b)
{
    const kl_json_t *items = items_;
    if (kl_json_is(items, KL_TARRAY)) {
        for (uint32_t i = 0; i < items->len; i++) {
            int rc = put_msg(b, 1, enc_schema, items->u.items[i]);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    return put_msg(b, 1, enc_schema, items);
}

static int enc_additional(const void *ap_, kl_buf_t *b)
{
    const kl_json_t *ap = ap_;
    if (kl_json_is_bool(ap)) {
        /* A oneof member is written even when it holds the default value. */
        int rc = put_key(b, 2, WT_VARINT);
        return rc ? rc : put_varint(b, ap->type == KL_TTRUE);
    }
    return put_msg(b, 1, enc_schema, ap);
}

/* Each member of obj as a repeated named message in field; with skip_ext, "x-" members are
 * extensions written elsewhere (Paths, Responses) rather than entries. */
static int put_named_map(kl_buf_t *b, unsigned field, const kl_json_t *obj, enc_fn fn,
                         bool skip_ext)
{
    for (uint32_t i = 0; kl_json_is(obj, KL_TOBJECT) && i < obj->len; i++) {
        const kl_jmember_t *m = &obj->u.members[i];
        if (skip_ext && strncmp(m->key, "x-", 2) == 0)
            continue;
        named_t n = {m, fn};
        int rc = put_msg(b, field, enc_named, &n);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int enc_properties(const void *props_, kl_buf_t *b)
{
    const kl_json_t *props = props_;
    return put_named_map(b, 1, props, enc_schema, false);
}

static int enc_schema(const void *s_, kl_buf_t *b)
{
    const kl_json_t *s = s_;
    int rc = 0;
    const kl_json_t *v;
    if (!kl_json_is(s, KL_TOBJECT))
        return 0;
    if (rc == 0)
        rc = put_string(b, 1, kl_json_get(s, "$ref"));
    if (rc == 0)
        rc = put_string(b, 2, kl_json_get(s, "format"));
    if (rc == 0)
        rc = put_string(b, 3, kl_json_get(s, "title"));
    if (rc == 0)
        rc = put_string(b, 4, kl_json_get(s, "description"));
    if (rc == 0 && (v = kl_json_get(s, "default")) != NULL)
        rc = put_msg(b, 5, enc_any, v);
    if (rc == 0)
        rc = put_bool(b, 16, kl_json_get(s, "uniqueItems"));
    if (rc == 0)
        rc = put_strings(b, 19, kl_json_get(s, "required"));
    v = kl_json_get(s, "enum");
    for (uint32_t i = 0; rc == 0 && kl_json_is(v, KL_TARRAY) && i < v->len; i++)
        rc = put_msg(b, 20, enc_any, v->u.items[i]);
    if (rc == 0 && (v = kl_json_get(s, "additionalProperties")) != NULL)
        rc = put_msg(b, 21, enc_additional, v);
    if (rc == 0 && (v = kl_json_get(s, "type")) != NULL)
        rc = put_msg(b, 22, enc_type_item, v);
    if (rc == 0 && (v = kl_json_get(s, "items")) != NULL)
        rc = put_msg(b, 23, enc_items_item, v);
    v = kl_json_get(s, "allOf");
    for (uint32_t i = 0; rc == 0 && kl_json_is(v, KL_TARRAY) && i < v->len; i++)
        rc = put_msg(b, 24, enc_schema, v->u.items[i]);
    if (rc == 0 && (v = kl_json_get(s, "properties")) != NULL)
        rc = put_msg(b, 25, enc_properties, v);
    if (rc == 0)
        rc = put_bool(b, 27, kl_json_get(s, "readOnly"));
    if (rc == 0 && (v = kl_json_get(s, "example")) != NULL)
        rc = put_msg(b, 30, enc_any, v);
    if (rc == 0)
        rc = put_extensions(b, 31, s);
    return rc;
}

/* ---- Parameters, responses, operations ------------------------------------------------ */

static int enc_body_param(const void *p_, kl_buf_t *b)
{
    const kl_json_t *p = p_;
    int rc = put_string(b, 1, kl_json_get(p, "description"));
    if (rc == 0)
        rc = put_string(b, 2, kl_json_get(p, "name"));
    if (rc == 0)
        rc = put_string(b, 3, kl_json_get(p, "in"));
    if (rc == 0)
        rc = put_bool(b, 4, kl_json_get(p, "required"));
    if (rc == 0 && kl_json_get(p, "schema") != NULL)
        rc = put_msg(b, 5, enc_schema, kl_json_get(p, "schema"));
    if (rc == 0)
        rc = put_extensions(b, 6, p);
    return rc;
}

/* Query and form parameters share numbering up to type = 6; path and header ones use 5. */
static int enc_simple_param(const kl_json_t *p, kl_buf_t *b, bool query)
{
    int rc = put_bool(b, 1, kl_json_get(p, "required"));
    if (rc == 0)
        rc = put_string(b, 2, kl_json_get(p, "in"));
    if (rc == 0)
        rc = put_string(b, 3, kl_json_get(p, "description"));
    if (rc == 0)
        rc = put_string(b, 4, kl_json_get(p, "name"));
    unsigned off = query ? 1 : 0;
    if (rc == 0)
        rc = put_string(b, 5 + off, kl_json_get(p, "type"));
    if (rc == 0)
        rc = put_string(b, 6 + off, kl_json_get(p, "format"));
    if (rc == 0)
        rc = put_bool(b, 19 + off, kl_json_get(p, "uniqueItems"));
    if (rc == 0)
        rc = put_extensions(b, 22 + off, p);
    return rc;
}

static int enc_query_param(const void *p_, kl_buf_t *b)
{
    const kl_json_t *p = p_;
    return enc_simple_param(p, b, true);
}

static int enc_path_param(const void *p_, kl_buf_t *b)
{
    const kl_json_t *p = p_;
    return enc_simple_param(p, b, false);
}

static int enc_non_body(const void *p_, kl_buf_t *b)
{
    const kl_json_t *p = p_;
    const char *in = kl_json_str(kl_json_get(p, "in"));
    if (in != NULL && strcmp(in, "path") == 0)
        return put_msg(b, 4, enc_path_param, p);
    return put_msg(b, 3, enc_query_param, p);
}

static int enc_parameter(const void *p_, kl_buf_t *b)
{
    const kl_json_t *p = p_;
    const char *in = kl_json_str(kl_json_get(p, "in"));
    if (in != NULL && strcmp(in, "body") == 0)
        return put_msg(b, 1, enc_body_param, p);
    return put_msg(b, 2, enc_non_body, p);
}

static int enc_parameters_item(const void *p_, kl_buf_t *b)
{
    const kl_json_t *p = p_;
    return put_msg(b, 1, enc_parameter, p);
}

static int put_parameters(kl_buf_t *b, unsigned field, const kl_json_t *arr)
{
    for (uint32_t i = 0; kl_json_is(arr, KL_TARRAY) && i < arr->len; i++) {
        int rc = put_msg(b, field, enc_parameters_item, arr->u.items[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int enc_schema_item(const void *s_, kl_buf_t *b)
{
    const kl_json_t *s = s_;
    return put_msg(b, 1, enc_schema, s);
}

static int enc_response(const void *r_, kl_buf_t *b)
{
    const kl_json_t *r = r_;
    int rc = put_string(b, 1, kl_json_get(r, "description"));
    if (rc == 0 && kl_json_get(r, "schema") != NULL)
        rc = put_msg(b, 2, enc_schema_item, kl_json_get(r, "schema"));
    if (rc == 0)
        rc = put_extensions(b, 5, r);
    return rc;
}

static int enc_response_value(const void *r_, kl_buf_t *b)
{
    const kl_json_t *r = r_;
    return put_msg(b, 1, enc_response, r);
}

static int enc_responses(const void *rs_, kl_buf_t *b)
{
    const kl_json_t *rs = rs_;
    int rc = put_named_map(b, 1, rs, enc_response_value, true);
    return rc ? rc : put_extensions(b, 2, rs);
}

static int enc_operation(const void *op_, kl_buf_t *b)
{
    const kl_json_t *op = op_;
    int rc = put_strings(b, 1, kl_json_get(op, "tags"));
    if (rc == 0)
        rc = put_string(b, 2, kl_json_get(op, "summary"));
    if (rc == 0)
        rc = put_string(b, 3, kl_json_get(op, "description"));
    if (rc == 0)
        rc = put_string(b, 5, kl_json_get(op, "operationId"));
    if (rc == 0)
        rc = put_strings(b, 6, kl_json_get(op, "produces"));
    if (rc == 0)
        rc = put_strings(b, 7, kl_json_get(op, "consumes"));
    if (rc == 0)
        rc = put_parameters(b, 8, kl_json_get(op, "parameters"));
    if (rc == 0 && kl_json_get(op, "responses") != NULL)
        rc = put_msg(b, 9, enc_responses, kl_json_get(op, "responses"));
    if (rc == 0)
        rc = put_bool(b, 11, kl_json_get(op, "deprecated"));
    if (rc == 0)
        rc = put_extensions(b, 13, op);
    return rc;
}

static int enc_path_item(const void *item_, kl_buf_t *b)
{
    const kl_json_t *item = item_;
    static const char *const methods[] = {"get",     "put",  "post", "delete",
                                          "options", "head", "patch"};
    int rc = put_string(b, 1, kl_json_get(item, "$ref"));
    for (unsigned i = 0; rc == 0 && i < sizeof(methods) / sizeof(methods[0]); i++) {
        const kl_json_t *op = kl_json_get(item, methods[i]);
        if (op != NULL)
            rc = put_msg(b, 2 + i, enc_operation, op);
    }
    if (rc == 0)
        rc = put_parameters(b, 9, kl_json_get(item, "parameters"));
    if (rc == 0)
        rc = put_extensions(b, 10, item);
    return rc;
}

static int enc_paths(const void *paths_, kl_buf_t *b)
{
    const kl_json_t *paths = paths_;
    int rc = put_extensions(b, 1, paths);
    return rc ? rc : put_named_map(b, 2, paths, enc_path_item, true);
}

static int enc_definitions(const void *defs_, kl_buf_t *b)
{
    const kl_json_t *defs = defs_;
    return put_named_map(b, 1, defs, enc_schema, false);
}

static int enc_info(const void *info_, kl_buf_t *b)
{
    const kl_json_t *info = info_;
    int rc = put_string(b, 1, kl_json_get(info, "title"));
    if (rc == 0)
        rc = put_string(b, 2, kl_json_get(info, "version"));
    if (rc == 0)
        rc = put_string(b, 3, kl_json_get(info, "description"));
    if (rc == 0)
        rc = put_extensions(b, 7, info);
    return rc;
}

int kl__openapi_v2_to_protobuf(const kl_json_t *doc, kl_buf_t *out)
{
    int rc = put_string(out, 1, kl_json_get(doc, "swagger"));
    if (rc == 0 && kl_json_get(doc, "info") != NULL)
        rc = put_msg(out, 2, enc_info, kl_json_get(doc, "info"));
    if (rc == 0)
        rc = put_string(out, 3, kl_json_get(doc, "host"));
    if (rc == 0)
        rc = put_string(out, 4, kl_json_get(doc, "basePath"));
    if (rc == 0)
        rc = put_strings(out, 5, kl_json_get(doc, "schemes"));
    if (rc == 0)
        rc = put_strings(out, 6, kl_json_get(doc, "consumes"));
    if (rc == 0)
        rc = put_strings(out, 7, kl_json_get(doc, "produces"));
    if (rc == 0 && kl_json_get(doc, "paths") != NULL)
        rc = put_msg(out, 8, enc_paths, kl_json_get(doc, "paths"));
    if (rc == 0 && kl_json_get(doc, "definitions") != NULL)
        rc = put_msg(out, 9, enc_definitions, kl_json_get(doc, "definitions"));
    if (rc == 0)
        rc = put_extensions(out, 16, doc);
    return rc;
}
