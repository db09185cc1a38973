/* apiserver/patch_int.h - helpers shared by the patch sources (patch_*.c); see kubelua/patch.h.
 *
 * Nothing here is thread-safe beyond what the caller arranges; every helper works on trees the
 * caller owns.
 */
#ifndef KL_APISERVER_PATCH_INT_H
#define KL_APISERVER_PATCH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/json.h"
#include "kubelua/patch.h"
#include "kubelua/schema.h"

/* Nesting bound for every recursion over patches and targets: the same limit the decoders
 * apply, so trees that came from text never hit it. */
#define KL_PATCH_MAX_DEPTH KL_LIMIT_MAX_DEPTH

/* Appends a value the way Go's fmt prints it with %v after json.Unmarshal into interface{}
 * (map[a:1 b:[x y]], keys sorted, strings bare, <nil>), stopping silently at `max` bytes. Used
 * to word error messages as the upstream libraries do. */
typedef struct kl_patch_fmt {
    char *buf;
    size_t len, max;
} kl_patch_fmt_t;
void kl__patch_fmt_value(kl_patch_fmt_t *f, const kl_json_t *v, unsigned depth);
/* Go's reflect type name of a decoded JSON value: "map[string]interface {}", "[]interface {}",
 * "string", "int64", "float64", "bool" or "<nil>". */
const char *kl__patch_go_type(const kl_json_t *v);
/* Formats v with %v into a caller buffer (NUL-terminated, truncated). */
const char *kl__patch_fmt(char *buf, size_t size, const kl_json_t *v);

/* Deep copy bounded by KL_PATCH_MAX_DEPTH; NULL on ENOMEM or too deep (*rc says which). */
kl_json_t *kl__patch_dup(const kl_json_t *v, int *rc);
/* Nesting depth of v (a scalar is 0), or a value above limit as soon as it exceeds it. */
unsigned kl__patch_depth(const kl_json_t *v, unsigned limit);
/* Number of nodes in v, counting at most `limit`. */
size_t kl__patch_nodes(const kl_json_t *v, size_t limit);

/* Replaces obj's member at index i by val (takes ownership), or removes it when val is NULL. */
void kl__patch_member_set(kl_json_t *obj, uint32_t i, kl_json_t *val);
void kl__patch_member_remove(kl_json_t *obj, uint32_t i);
/* Index of member key in obj, or -1. */
int64_t kl__patch_member_find(const kl_json_t *obj, const char *key, size_t keylen);

/* Position index over a JSON array: maps the key of each item (the member `key` of an object
 * item, or the item itself when key is NULL) to the position of its first occurrence. Lookups
 * compare with kl_json_equal(), so they agree with the linear scans of upstream code, in
 * O(1) expected time. Keys are read from the array on every probe, so items may be edited in
 * place as long as their key stays equal; positions must not move. */
typedef struct kl_vindex {
    const kl_json_t *arr;
    const char *key; /* NULL: the item itself is the key */
    struct kl_vslot {
        uint32_t hash;
        uint32_t pos1; /* position + 1; 0 = empty */
    } * slots;
    uint32_t mask;
    uint32_t used;
} kl_vindex_t;

/* Indexes arr[0..n). Returns 0 or KL_ENOMEM. */
KL_NODISCARD int kl__vindex_build(kl_vindex_t *ix, const kl_json_t *arr, const char *key,
                                  uint32_t n);
/* Adds arr[pos] when its key is not present yet. */
KL_NODISCARD int kl__vindex_add(kl_vindex_t *ix, uint32_t pos);
/* First position whose key equals k, or -1. A NULL k (missing key) is never found. */
int64_t kl__vindex_find(const kl_vindex_t *ix, const kl_json_t *k);
void kl__vindex_free(kl_vindex_t *ix);
/* The key of item v under ix's rule (NULL when v is not an object or lacks the member). */
const kl_json_t *kl__vindex_key(const kl_vindex_t *ix, const kl_json_t *v);

/* Schema lookups with upstream's patch metadata semantics. */
typedef struct kl_patch_meta {
    const kl_stype_t *type; /* the field's (or element's) type; NULL when unknown */
    const char *merge_key;  /* NULL or "" when none */
    bool merge;             /* patch strategy merge */
    bool replace;           /* patch strategy replace */
} kl_patch_meta_t;

/* Field `key` of object type t for a value that is an object in both documents. */
KL_NODISCARD int kl__patch_lookup_struct(const kl_stype_t *t, const char *key, size_t keylen,
                                         kl_patch_meta_t *out, kl_errinfo_t *err);
/* Field `key` of t for a list: out->type becomes the element type. */
KL_NODISCARD int kl__patch_lookup_slice(const kl_stype_t *t, const char *key, size_t keylen,
                                        kl_patch_meta_t *out, kl_errinfo_t *err);
/* Field of t by name (scanning t->fields; no registry needed), or NULL. */
const kl_sfield_t *kl__patch_field(const kl_stype_t *t, const char *key, size_t keylen);

#endif
