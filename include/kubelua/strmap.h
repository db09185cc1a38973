/* kubelua/strmap.h - open-addressing hash map from NUL-terminated strings to pointers.
 *
 * Linear probing with backward-shift deletion (no tombstones), power-of-two capacity, load kept
 * between 1/8 and 3/4 (the table grows when it passes 3/4 and shrinks when it falls under 1/8).
 * The hash of each key is stored beside it, so probes compare hashes before strings and a resize
 * never rehashes a string.
 *
 * Storage is caller-provided: embed a kl_strmap_t and call kl_strmap_init(). Keys are borrowed by
 * default, so the caller keeps every key alive and unchanged until it is removed (the usual
 * pattern is a value struct that holds its own key, with the map pointing at it). With
 * KL_STRMAP_COPY_KEYS the map copies keys on insert and frees its copies on removal and cleanup.
 * Values are opaque pointers the map never dereferences or frees; NULL values are allowed.
 * Not thread-safe. Any insertion or removal may move entries, which invalidates iteration.
 *
 * Iteration:
 *     size_t it = 0;
 *     const char *key;
 *     void *val;
 *     while (kl_strmap_next(&m, &it, &key, &val))
 *         use(key, val);
 */
#ifndef KUBELUA_STRMAP_H
#define KUBELUA_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/error.h"

enum {
    KL_STRMAP_COPY_KEYS = 1, /* the map owns copies of its keys */
};

typedef struct kl_strmap_slot {
    const char *key; /* NULL when the slot is empty */
    void *value;
    uint64_t hash;
} kl_strmap_slot_t;

typedef struct kl_strmap {
    kl_strmap_slot_t *slots; /* cap slots, NULL while cap is 0 */
    size_t cap;              /* 0 or a power of two */
    size_t len;              /* number of keys */
    unsigned flags;          /* KL_STRMAP_* */
} kl_strmap_t;

/* Hash used by the map (FNV-1a with a 64-bit finaliser); exposed for callers that want the same
 * distribution elsewhere. */
uint64_t kl_strmap_hash(const char *key);

/* Initialises an empty map; allocates nothing until the first insert. */
void kl_strmap_init(kl_strmap_t *m, unsigned flags);
/* Frees the table (and copied keys). Values are not touched: free them first, e.g. by iterating.
 * The map may be reused after kl_strmap_init(). */
void kl_strmap_cleanup(kl_strmap_t *m);
/* Reserves room for n keys in total without further resizing. 0 or KL_ENOMEM. */
KL_NODISCARD int kl_strmap_reserve(kl_strmap_t *m, size_t n);

static inline size_t kl_strmap_len(const kl_strmap_t *m)
{
    return m->len;
}

/* Returns the value stored for key, or NULL when absent (use kl_strmap_find() to tell a NULL
 * value from a missing key). */
void *kl_strmap_get(const kl_strmap_t *m, const char *key);
/* Returns true when key is present and then stores its value in *value (when value is not NULL).
 */
bool kl_strmap_find(const kl_strmap_t *m, const char *key, void **value);
/* Inserts or replaces. On replace the stored key is kept (with borrowed keys the caller must keep
 * the original key alive) and the previous value is returned in *old (when old is not NULL);
 * *old is set to NULL on a fresh insert. Returns 0, or KL_ENOMEM with the map unchanged. */
KL_NODISCARD int kl_strmap_put(kl_strmap_t *m, const char *key, void *value, void **old);
/* Removes key. Returns 0 and the removed value in *old (when old is not NULL), or KL_ENOTFOUND.
 */
int kl_strmap_del(kl_strmap_t *m, const char *key, void **old);
/* Removes every key (freeing copied keys) and keeps the table. */
void kl_strmap_clear(kl_strmap_t *m);
/* Iteration step: *it starts at 0. Returns false when done. Order is unspecified. */
bool kl_strmap_next(const kl_strmap_t *m, size_t *it, const char **key, void **value);

#endif
