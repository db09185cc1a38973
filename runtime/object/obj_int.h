/* object/obj_int.h - layout of compact documents, shared by the object module's sources.
 *
 * A document is one allocation: a header, then the container region (8-byte aligned), then the
 * string region. Every value is a 64-bit cell whose low 4 bits are a tag:
 *
 *   NULL, FALSE, TRUE  no payload
 *   SMALLINT           payload is a signed 60-bit integer (cell >> 4, arithmetic)
 *   BIGINT, DOUBLE     payload is the offset of an 8-byte value in the container region
 *   STRING             bits 4..35 offset into the string region, bits 36..63 length
 *   ARRAY, OBJECT      payload is the offset of the container's header (0 = empty container)
 *
 * An array header is {u32 count, u32 unused, u64 cells[count]}. An object header is
 * {u32 count, u32 keys[count], padding to 8, u64 cells[count]}. A key is an interned id, or,
 * with the top bit set, the offset in the string region of {u32 len, bytes, NUL} for keys that
 * were not interned. Container offset 0 is reserved so that it can mean "empty".
 */
#ifndef KL_OBJECT_OBJ_INT_H
#define KL_OBJECT_OBJ_INT_H

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "kubelua/object.h"

enum {
    CELL_NULL = 0,
    CELL_FALSE = 1,
    CELL_TRUE = 2,
    CELL_SMALLINT = 3,
    CELL_BIGINT = 4,
    CELL_DOUBLE = 5,
    CELL_STRING = 6,
    CELL_ARRAY = 7,
    CELL_OBJECT = 8,
};

#define CELL_TAG(c) ((unsigned)((c)&0xfu))
#define CELL_OFF(c) ((uint32_t)((c) >> 4))
#define CELL_STR_OFF(c) ((uint32_t)(((c) >> 4) & 0xffffffffu))
#define CELL_STR_LEN(c) ((uint32_t)((c) >> 36))
#define CELL_MAKE(tag, payload) (((uint64_t)(payload) << 4) | (uint64_t)(tag))
#define CELL_MAKE_STR(off, len) (((uint64_t)(len) << 36) | ((uint64_t)(off) << 4) | CELL_STRING)
#define SMALLINT_MIN (-((int64_t)1 << 59))
#define SMALLINT_MAX (((int64_t)1 << 59) - 1)
#define MAX_STR_LEN ((1u << 28) - 1)
#define KEY_INLINE 0x80000000u

#define KL_OBJ_INLINE_KEYS 1u

struct kl_obj {
    _Atomic uint32_t refs;
    uint32_t flags;
    uint64_t root;
    uint32_t cont_len;
    uint32_t str_len;
    _Alignas(8) unsigned char data[];
};

static inline const unsigned char *obj_cont(const kl_obj_t *d)
{
    return d->data;
}

static inline const char *obj_strs(const kl_obj_t *d)
{
    return (const char *)d->data + d->cont_len;
}

static inline uint32_t obj_count(const kl_obj_t *d, uint32_t off)
{
    uint32_t n;
    memcpy(&n, d->data + off, 4);
    return n;
}

static inline uint32_t obj_keys_size(uint32_t n)
{
    return (4 + 4 * n + 7) & ~7u;
}

static inline const uint32_t *obj_keys(const kl_obj_t *d, uint32_t off)
{
    return (const uint32_t *)(const void *)(d->data + off + 4);
}

static inline const uint64_t *obj_object_cells(const kl_obj_t *d, uint32_t off, uint32_t n)
{
    return (const uint64_t *)(const void *)(d->data + off + obj_keys_size(n));
}

static inline const uint64_t *obj_array_cells(const kl_obj_t *d, uint32_t off)
{
    return (const uint64_t *)(const void *)(d->data + off + 8);
}

/* The bytes and length of a key stored in document d. */
static inline const char *obj_key_str(const kl_obj_t *d, uint32_t k, size_t *len)
{
    if (k & KEY_INLINE) {
        const char *p = obj_strs(d) + (k & ~KEY_INLINE);
        uint32_t n;
        memcpy(&n, p, 4);
        *len = n;
        return p + 4;
    }
    return kl_key_str(k, len);
}

/* ---- Builder: accumulates cells and emits the final document ---------------------------- */

typedef struct kl_bframe {
    uint32_t cell_start;
    uint32_t key_start;
    uint8_t is_object;
} kl_bframe_t;

typedef struct kl_builder {
    uint64_t *cells;
    uint32_t ncells, cells_cap;
    uint32_t *keys;
    uint32_t nkeys, keys_cap;
    kl_bframe_t *frames;
    uint32_t depth, frames_cap;
    unsigned char *cont;
    size_t cont_len, cont_cap;
    char *strs;
    size_t str_len, str_cap;
    uint32_t flags;
    unsigned parse_flags;
    size_t nodes;
    kl_limits_t lim;
} kl_builder_t;

/* Returns this thread's reusable builder, reset, with limits from opts (may be NULL). */
kl_builder_t *kl__builder_get(const kl_parse_opts_t *opts);
/* Releases oversized scratch buffers after use. */
void kl__builder_release(kl_builder_t *b);
int kl__builder_grow_cells(kl_builder_t *b);
int kl__builder_grow_keys(kl_builder_t *b);
int kl__builder_reserve_cont(kl_builder_t *b, size_t n);
int kl__builder_reserve_strs(kl_builder_t *b, size_t n);
int kl__builder_open(kl_builder_t *b, int is_object);
/* Closes the innermost container: emits it and pushes its cell. dupinfo (optional) receives
 * the index of a duplicate key when one is found and duplicates are not allowed. */
int kl__builder_close(kl_builder_t *b, uint32_t *dup_index);
/* Adds a string value (bytes copied) or key. */
int kl__builder_string(kl_builder_t *b, const char *s, size_t len);
int kl__builder_key(kl_builder_t *b, const char *s, size_t len);
int kl__builder_int(kl_builder_t *b, int64_t v);
int kl__builder_double(kl_builder_t *b, double v);
/* Emits the finished document (exactly one value must be pending). */
int kl__builder_finish(kl_builder_t *b, kl_obj_t **out);

static inline int kl__builder_push(kl_builder_t *b, uint64_t cell)
{
    if (b->ncells == b->cells_cap) {
        int rc = kl__builder_grow_cells(b);
        if (rc < 0)
            return rc;
    }
    b->cells[b->ncells++] = cell;
    return 0;
}

uint32_t kl__hash_bytes(const char *s, size_t len);
/* Shortest decimal text that reads back as d (JSON has no NaN/Inf: those encode as null). */
int kl__format_double(double d, char *out, size_t cap);

#endif
