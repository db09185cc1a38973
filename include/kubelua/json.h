/* kubelua/json.h - mutable JSON trees, and YAML decoding.
 *
 * kl_json_t is an editable tree for the places that change objects: the API server (defaulting,
 * patches, metadata), manifests read from YAML, and tables built by Lua policies. Objects keep
 * their members in insertion order; integers are exact int64. Every node is owned by its
 * parent; kl_json_free() frees a node and everything under it. Functions that attach a node
 * take ownership of it, also when they fail (it is freed). Not thread-safe per tree.
 *
 * For reading, prefer the compact immutable form in object.h: kl_obj_from_json() freezes a tree,
 * kl_json_from_val() thaws a value.
 */
#ifndef KUBELUA_JSON_H
#define KUBELUA_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/buf.h"
#include "kubelua/error.h"
#include "kubelua/object.h"

typedef struct kl_json kl_json_t;

typedef struct kl_jmember {
    char *key; /* owned, NUL-terminated */
    uint32_t keylen;
    kl_json_t *val; /* owned */
} kl_jmember_t;

struct kl_json {
    kl_type_t type;
    uint32_t len; /* string bytes, array items or object members */
    uint32_t cap;
    union {
        int64_t i;
        double d;
        char *s;               /* KL_TSTRING, owned, NUL-terminated */
        kl_json_t **items;     /* KL_TARRAY */
        kl_jmember_t *members; /* KL_TOBJECT */
    } u;
};

/* Constructors; NULL when out of memory. */
kl_json_t *kl_json_null(void);
kl_json_t *kl_json_bool(bool b);
kl_json_t *kl_json_int(int64_t i);
kl_json_t *kl_json_double(double d);
kl_json_t *kl_json_string(const char *s);
kl_json_t *kl_json_stringn(const char *s, size_t len);
kl_json_t *kl_json_object(void);
kl_json_t *kl_json_array(void);
void kl_json_free(kl_json_t *j); /* NULL is a no-op */
kl_json_t *kl_json_dup(const kl_json_t *j);
/* Deep equality (key order ignored; int 1 == double 1.0). */
bool kl_json_equal(const kl_json_t *a, const kl_json_t *b);

static inline bool kl_json_is(const kl_json_t *j, kl_type_t t)
{
    return j != NULL && j->type == t;
}
static inline bool kl_json_is_bool(const kl_json_t *j)
{
    return j != NULL && (j->type == KL_TTRUE || j->type == KL_TFALSE);
}
static inline bool kl_json_is_number(const kl_json_t *j)
{
    return j != NULL && (j->type == KL_TINT || j->type == KL_TDOUBLE);
}
/* String value or NULL. */
const char *kl_json_str(const kl_json_t *j);
/* Integer value (doubles truncated) or fallback. */
int64_t kl_json_int_or(const kl_json_t *j, int64_t fallback);
bool kl_json_bool_or(const kl_json_t *j, bool fallback);

/* Objects. kl_json_get returns NULL when j is not an object or has no such key. */
kl_json_t *kl_json_get(const kl_json_t *j, const char *key);
kl_json_t *kl_json_getn(const kl_json_t *j, const char *key, size_t keylen);
/* Follows a NULL-terminated key list. */
kl_json_t *kl_json_path(const kl_json_t *j, ...);
const char *kl_json_path_str(const kl_json_t *j, ...);
/* Sets key to val (replacing an existing member in place); takes ownership of val. */
KL_NODISCARD int kl_json_set(kl_json_t *obj, const char *key, kl_json_t *val);
KL_NODISCARD int kl_json_setn(kl_json_t *obj, const char *key, size_t keylen, kl_json_t *val);
/* Convenience setters. */
KL_NODISCARD int kl_json_set_str(kl_json_t *obj, const char *key, const char *s);
KL_NODISCARD int kl_json_set_int(kl_json_t *obj, const char *key, int64_t i);
KL_NODISCARD int kl_json_set_bool(kl_json_t *obj, const char *key, bool b);
/* Returns the object member `key`, creating an empty object there when it is missing or null;
 * NULL when obj is not an object, the member is not an object, or out of memory. */
kl_json_t *kl_json_ensure_object(kl_json_t *obj, const char *key);
kl_json_t *kl_json_ensure_array(kl_json_t *obj, const char *key);
/* Detaches and returns a member (caller owns it), or NULL. */
kl_json_t *kl_json_take(kl_json_t *obj, const char *key);
/* Removes and frees a member; returns true when it existed. */
bool kl_json_del(kl_json_t *obj, const char *key);

/* Arrays. */
KL_NODISCARD int kl_json_append(kl_json_t *arr, kl_json_t *val);
KL_NODISCARD int kl_json_insert_at(kl_json_t *arr, uint32_t index, kl_json_t *val);
kl_json_t *kl_json_at(const kl_json_t *arr, uint32_t index);
/* Detaches and returns item index (caller owns it), or NULL. */
kl_json_t *kl_json_take_at(kl_json_t *arr, uint32_t index);
/* Replaces item index (freeing the old one); takes ownership of val. */
KL_NODISCARD int kl_json_replace_at(kl_json_t *arr, uint32_t index, kl_json_t *val);

/* Text. Parsing has the same rules and limits as kl_obj_parse_json(). */
KL_NODISCARD int kl_json_parse(const char *text, size_t len, const kl_parse_opts_t *opts,
                               kl_json_t **out, kl_errinfo_t *err);
KL_NODISCARD int kl_json_encode(const kl_json_t *j, kl_buf_t *out);
/* Indented (2 spaces) for humans. */
KL_NODISCARD int kl_json_encode_pretty(const kl_json_t *j, kl_buf_t *out);
/* Returns a malloc'ed NUL-terminated compact encoding (len optional), or NULL when out of
 * memory. */
char *kl_json_encode_alloc(const kl_json_t *j, size_t *len);

/* Freezing and thawing. */
KL_NODISCARD int kl_obj_from_json(const kl_json_t *j, kl_obj_t **out);
kl_json_t *kl_json_from_val(kl_val_t v); /* NULL when out of memory (a missing v gives null) */

/* YAML: decodes a stream of one or more documents ("---" separated) into trees. Plain scalars
 * are typed as YAML 1.1 does for Kubernetes manifests (true/yes/on, null/~, ints incl. 0x and
 * leading-0 octal, floats, .inf/.nan); anchors, aliases and "<<" merge keys are supported within
 * opts->limits.max_nodes. Duplicate keys and syntax errors fail with line and column in err.
 * Empty documents are skipped. On success *docs is a malloc'ed array of *ndocs trees; free with
 * kl_json_free_docs(). */
KL_NODISCARD int kl_yaml_parse(const char *text, size_t len, const kl_parse_opts_t *opts,
                               kl_json_t ***docs, size_t *ndocs, kl_errinfo_t *err);
void kl_json_free_docs(kl_json_t **docs, size_t ndocs);
/* Decodes either JSON (input starting with '{' or '[' after whitespace) or YAML holding exactly
 * one document. */
KL_NODISCARD int kl_json_parse_any(const char *text, size_t len, const kl_parse_opts_t *opts,
                                   kl_json_t **out, kl_errinfo_t *err);

#endif
