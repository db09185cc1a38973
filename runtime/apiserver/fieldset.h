/* apiserver/fieldset.h - sets of field paths, as server-side apply tracks field ownership
 * (structured-merge-diff's fieldpath.Set), and their FieldsV1 encoding in managedFields.
 *
 * A set is a trie. Each node says whether its own path is a member of the set ("." in FieldsV1)
 * and has children keyed by path elements, spelled as FieldsV1 spells them:
 *   f:<field name>                 a field of an object or a map key
 *   k:<JSON object>                an item of an associative list, by its key fields (sorted)
 *   v:<JSON value>                 an item of a set (a list of scalars)
 *   i:<index>                      an item of a list by position (decoded, never produced)
 * Children are kept sorted by the bytes of their element, so unions and differences are merges.
 *
 * Sets live in an arena (kl_arena_t) owned by the caller; nothing is freed before the arena is.
 * A set is built with kl_fset_kid() (children appended in any order) and then sealed with
 * kl_fset_seal(); the operations take and return sealed sets, may share subtrees with their
 * inputs, and never modify them. The empty set is NULL. Allocation failures are not reported by
 * each call: the arena remembers them (kl_arena_failed()) and results are then incomplete, so a
 * caller checks once when it is done. Not thread-safe per arena.
 */
#ifndef KL_APISERVER_FIELDSET_H
#define KL_APISERVER_FIELDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/buf.h"
#include "kubelua/error.h"
#include "kubelua/json.h"

typedef struct kl_arena_chunk kl_arena_chunk_t;

typedef struct kl_arena {
    kl_arena_chunk_t *chunks; /* heap chunks, newest first */
    unsigned char *next, *end;
    bool failed;
    _Alignas(16) unsigned char first[4096]; /* the first allocations need no malloc */
} kl_arena_t;

void kl_arena_init(kl_arena_t *a);
void kl_arena_cleanup(kl_arena_t *a);
/* n bytes aligned for any object; NULL (and the arena marked failed) when out of memory. */
void *kl_arena_alloc(kl_arena_t *a, size_t n);
char *kl_arena_strndup(kl_arena_t *a, const char *s, size_t n);
static inline bool kl_arena_failed(const kl_arena_t *a)
{
    return a->failed;
}

typedef struct kl_fset kl_fset_t;

typedef struct kl_fkid {
    const char *pe; /* path element, NUL-terminated, in the arena (or static) */
    uint32_t len;
    kl_fset_t *set; /* never NULL */
} kl_fkid_t;

struct kl_fset {
    kl_fkid_t *kids;
    uint32_t n, cap;
    bool member; /* the path of this node itself belongs to the set */
};

/* An empty node (for building); NULL when out of memory. */
kl_fset_t *kl_fset_new(kl_arena_t *a);
/* Appends a child for path element pe (not copied: it must outlive the arena's use) and returns
 * it; children may be appended in any order and more than once until the set is sealed. */
kl_fset_t *kl_fset_kid(kl_arena_t *a, kl_fset_t *parent, const char *pe, size_t len);
/* Sorts the children of every node and merges repeated ones; returns s, or NULL when s is empty
 * (no member anywhere). */
kl_fset_t *kl_fset_seal(kl_arena_t *a, kl_fset_t *s);

static inline bool kl_fset_empty(const kl_fset_t *s)
{
    return s == NULL || (!s->member && s->n == 0);
}
/* The child for element pe of a sealed set, or NULL. */
const kl_fset_t *kl_fset_get(const kl_fset_t *s, const char *pe, size_t len);
/* Number of member paths. */
size_t kl_fset_count(const kl_fset_t *s);

kl_fset_t *kl_fset_union(kl_arena_t *a, kl_fset_t *x, kl_fset_t *y);
/* Paths of x that are not members of y; like upstream, removing a path keeps its children. */
kl_fset_t *kl_fset_difference(kl_arena_t *a, kl_fset_t *x, const kl_fset_t *y);
kl_fset_t *kl_fset_intersection(kl_arena_t *a, const kl_fset_t *x, const kl_fset_t *y);
/* Whether x and y share a member path. */
bool kl_fset_intersects(const kl_fset_t *x, const kl_fset_t *y);

/* FieldsV1: a JSON object whose keys are path elements and "." (this node is a member); a member
 * without children is {}. kl_fset_to_json returns a new object ({} for the empty set), NULL when
 * out of memory. */
kl_json_t *kl_fset_to_json(const kl_fset_t *s);
KL_NODISCARD int kl_fset_encode(const kl_fset_t *s, kl_buf_t *out);
/* Decodes FieldsV1 into a sealed set in a. With canonical set, the JSON inside k: and v:
 * elements is rewritten the way this module writes it (compact, key fields sorted), so sets
 * written by other clients compare equal to computed ones. KL_EINVAL (message in err) when j is
 * not FieldsV1. */
KL_NODISCARD int kl_fset_from_json(kl_arena_t *a, const kl_json_t *j, bool canonical,
                                   kl_fset_t **out, kl_errinfo_t *err);
/* Whether FieldsV1 j (as stored, canonical) shares a member path with the sealed set s, without
 * decoding j; cost in proportion to s. */
bool kl_fset_json_intersects(const kl_json_t *j, const kl_fset_t *s);

/* JSON helpers for managedFields, which are wide trees copied and compared on every write:
 * a deep copy without kl_json_dup()'s duplicate-key lookups (NULL when out of memory), and an
 * equality that requires the same member order (a cheap "nothing changed" check; false
 * negatives only cost the caller the slow path). */
kl_json_t *kl_fset_json_copy(const kl_json_t *j);
bool kl_fset_json_same(const kl_json_t *a, const kl_json_t *b);

/* A path, as the elements from the root. */
typedef struct kl_fpath {
    const kl_fkid_t *const *elems;
    size_t n;
} kl_fpath_t;

/* Calls fn for every member path of s in order; stops at (and returns) the first nonzero
 * result. */
int kl_fset_walk(const kl_fset_t *s, int (*fn)(void *ud, const kl_fpath_t *path), void *ud);
/* Appends a path as upstream prints it in conflict errors: .spec.replicas,
 * .spec.containers[name="app"].image, .metadata.finalizers[="x"], .items[3]. */
KL_NODISCARD int kl_fpath_format(const kl_fpath_t *p, kl_buf_t *out);

#endif
