/* kubelua/object.h - compact immutable JSON documents (the cache's object form).
 *
 * A kl_obj_t holds one decoded JSON document in a single allocation: values are 8-byte cells,
 * containers are contiguous cell arrays, object keys are 32-bit ids interned process-wide, and
 * strings are stored inline, NUL-terminated. Documents are immutable once built and
 * reference-counted with atomic counts, so the cache, the work queue and Lua proxies can share
 * one copy, from any thread. Integers keep their exact int64 value (they never pass through a
 * double) and encode back byte for byte.
 *
 * A kl_val_t is a borrowed view of one value inside a document: it is valid while the caller
 * holds a reference to the document. Strings returned by accessors point into the document.
 *
 * Build documents with kl_obj_parse_json() or kl_obj_from_json() (json.h). Release with
 * kl_obj_unref(). Everything here is thread-safe except where noted.
 */
#ifndef KUBELUA_OBJECT_H
#define KUBELUA_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/buf.h"
#include "kubelua/error.h"

typedef enum kl_type {
    KL_TNULL = 0,
    KL_TFALSE = 1,
    KL_TTRUE = 2,
    KL_TINT = 3,
    KL_TDOUBLE = 4,
    KL_TSTRING = 5,
    KL_TARRAY = 6,
    KL_TOBJECT = 7,
} kl_type_t;

typedef struct kl_obj kl_obj_t;

typedef struct kl_val {
    const kl_obj_t *doc; /* NULL for a missing value (kl_val_type() reports KL_TNULL) */
    uint64_t cell;
} kl_val_t;

/* Limits applied while decoding untrusted input (JSON, YAML, Lua tables). Zero fields take the
 * defaults below. */
typedef struct kl_limits {
    size_t max_bytes;     /* input text size; default 64 MiB */
    uint32_t max_depth;   /* nesting of arrays/objects; default 256 */
    size_t max_string;    /* one string's length; default 16 MiB */
    uint32_t max_members; /* entries in one array or object; default 1,000,000 */
    size_t max_nodes;     /* total values, bounds YAML alias expansion; default 10,000,000 */
} kl_limits_t;

#define KL_LIMIT_MAX_BYTES ((size_t)64 << 20)
#define KL_LIMIT_MAX_DEPTH 256u
#define KL_LIMIT_MAX_STRING ((size_t)16 << 20)
#define KL_LIMIT_MAX_MEMBERS 1000000u
#define KL_LIMIT_MAX_NODES ((size_t)10000000)

enum {
    /* Drop metadata.managedFields of the top-level object while decoding. */
    KL_PARSE_STRIP_MANAGED_FIELDS = 1u << 0,
    /* Accept duplicate object keys, the last one wins (default: KL_EDUPKEY). */
    KL_PARSE_ALLOW_DUPLICATE_KEYS = 1u << 1,
};

typedef struct kl_parse_opts {
    kl_limits_t limits;
    unsigned flags; /* KL_PARSE_* */
} kl_parse_opts_t;

/* Decodes RFC 8259 JSON (UTF-8 validated) into a new document with one reference, owned by the
 * caller. opts may be NULL for the defaults. On failure *out is untouched and err (optional)
 * says what and where (line and column). */
KL_NODISCARD int kl_obj_parse_json(const char *text, size_t len, const kl_parse_opts_t *opts,
                                   kl_obj_t **out, kl_errinfo_t *err);

kl_obj_t *kl_obj_ref(const kl_obj_t *doc); /* returns doc; NULL is a no-op */
void kl_obj_unref(const kl_obj_t *doc);    /* NULL is a no-op */
/* Bytes held by the document's single allocation (for cache accounting). */
size_t kl_obj_size(const kl_obj_t *doc);

kl_val_t kl_obj_root(const kl_obj_t *doc);

kl_type_t kl_val_type(kl_val_t v);
static inline bool kl_val_missing(kl_val_t v)
{
    return v.doc == NULL;
}
bool kl_val_is_container(kl_val_t v);
/* Scalars. Wrong types give the fallback (0, false, NULL). kl_val_number() converts ints. */
bool kl_val_bool(kl_val_t v);
int64_t kl_val_int(kl_val_t v);
double kl_val_number(kl_val_t v);
/* A string's bytes (NUL-terminated) and length; NULL when v is not a string. */
const char *kl_val_str(kl_val_t v, size_t *len);
/* Count of members of an array or object; 0 otherwise. */
uint32_t kl_val_len(kl_val_t v);
/* Array element i, or a missing value. */
kl_val_t kl_val_at(kl_val_t v, uint32_t i);
/* Object member by key (case-sensitive), or a missing value. */
kl_val_t kl_val_get(kl_val_t v, const char *key);
kl_val_t kl_val_getn(kl_val_t v, const char *key, size_t keylen);
/* Object member i in document order: its key (NUL-terminated, length in *keylen when given) and
 * value. i must be < kl_val_len(v). */
kl_val_t kl_val_member(kl_val_t v, uint32_t i, const char **key, size_t *keylen);
/* Follows a NULL-terminated list of object keys: kl_val_path(root, "metadata", "name", NULL). */
kl_val_t kl_val_path(kl_val_t v, ...);
/* Follows a dotted path of object keys ("status.phase"); missing when a segment is missing or
 * longer than 127 bytes. */
kl_val_t kl_val_dotted(kl_val_t v, const char *path);
/* A scalar as field selectors compare it: the string itself, "true"/"false", or an integer
 * in decimal written to tmp. NULL for anything else (missing, null, objects, arrays, doubles). */
const char *kl_val_scalar_text(kl_val_t v, char tmp[32]);
/* Shorthand for a string at a path, or NULL. */
const char *kl_val_path_str(kl_val_t v, ...);
/* Deep equality of two values (object key order ignored, int 1 == double 1.0). */
bool kl_val_equal(kl_val_t a, kl_val_t b);
/* A stable identity of this value inside its document (for caching proxies). */
uintptr_t kl_val_id(kl_val_t v);

/* Appends v as compact JSON. Integers are written exactly as decoded. */
KL_NODISCARD int kl_val_encode(kl_val_t v, kl_buf_t *out);
/* Appends s as a JSON string literal (quotes and escapes). */
KL_NODISCARD int kl_json_quote(kl_buf_t *out, const char *s, size_t len);

/* ---- Interned keys (process-wide) ------------------------------------------------------ */

typedef uint32_t kl_key_t; /* 0 = not interned */

/* Interns key (when it qualifies: short enough and the table is below its ceiling) and
 * returns its id, or 0. */
kl_key_t kl_key_intern(const char *key, size_t len);
/* Returns the id of an already interned key, or 0; never inserts. */
kl_key_t kl_key_lookup(const char *key, size_t len);
/* The interned string (NUL-terminated) and length. */
const char *kl_key_str(kl_key_t id, size_t *len);
/* Member of an object by interned id; faster than kl_val_get on hot paths. */
kl_val_t kl_val_get_key(kl_val_t v, kl_key_t key);
/* Statistics for metrics: interned keys and their bytes. */
void kl_key_stats(size_t *count, size_t *bytes);

/* Frees the calling thread's parse scratch buffers (each thread that parses keeps some for
 * reuse); call it before a thread ends. Parsing again afterwards is fine. */
void kl_obj_thread_cleanup(void);

#endif
