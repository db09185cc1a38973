/* kubelua/hash.h - stable short hashes of JSON values, for revision labels such as
 * controller-revision-hash. Uses object.h.
 *
 * Upstream's ComputeHash is FNV-1a 32 over a Go-spew dump of the pod template, plus the
 * collisionCount; that dump cannot be reproduced outside Go, so kubelua hashes its own canonical
 * form instead: FNV-1a 32 over the compact JSON of the value with object keys sorted bytewise
 * at every level, strings escaping only '"', '\\' and control characters (as \u00XX),
 * integers in decimal and doubles as "%.17g" (so 1.0 hashes like 1, as kl_val_equal has it); when a
 * collision count is given, its 32 bits follow as 8 little-endian bytes (upper four zero), as
 * upstream appends them. The 32-bit result is rendered like upstream's
 * rand.SafeEncodeString(fmt.Sprint(hash)): every decimal digit mapped into the alphabet
 * "bcdfghjklmnpqrstvwxz2456789", e.g. "6d4f9c7b5". The same value gives the same string in every
 * run and process, whatever its key order. Thread-safe.
 */
#ifndef KUBELUA_HASH_H
#define KUBELUA_HASH_H

#include <stdint.h>

#include "kubelua/error.h"
#include "kubelua/object.h"

/* Longest encoded hash plus its NUL. */
#define KL_HASH_STR_MAX 16

/* FNV-1a 32 of v's canonical form (and of *collision_count when not NULL). Returns 0 or
 * KL_ENOMEM (sorting the keys of large objects allocates). */
KL_NODISCARD int kl_hash_val(kl_val_t v, const uint32_t *collision_count, uint32_t *out);
/* SafeEncodeString of the decimal form of h into out (KL_HASH_STR_MAX bytes). */
void kl_hash_encode(uint32_t h, char *out);
/* Both: the revision-hash string of v. */
KL_NODISCARD int kl_hash_string(kl_val_t v, const uint32_t *collision_count, char *out);

#endif
