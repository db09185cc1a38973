/* Builds compact documents. Values are pushed on a cell stack; closing a container moves its
 * cells (and keys) into the container region in one copy. The finished document is a single
 * allocation made once the sizes are known. Each thread reuses one builder's scratch buffers. */
#include <stdlib.h>
#include <string.h>

#include "object/obj_int.h"

#define SCRATCH_KEEP ((size_t)1 << 20)

static _Thread_local kl_builder_t tls_builder;

static void apply_limits(kl_limits_t *dst, const kl_parse_opts_t *opts)
{
    kl_limits_t l = {0};
    if (opts)
        l = opts->limits;
    dst->max_bytes = l.max_bytes ? l.max_bytes : KL_LIMIT_MAX_BYTES;
    dst->max_depth = l.max_depth ? l.max_depth : KL_LIMIT_MAX_DEPTH;
    dst->max_string = l.max_string ? l.max_string : KL_LIMIT_MAX_STRING;
    if (dst->max_string > MAX_STR_LEN)
        dst->max_string = MAX_STR_LEN;
    dst->max_members = l.max_members ? l.max_members : KL_LIMIT_MAX_MEMBERS;
    dst->max_nodes = l.max_nodes ? l.max_nodes : KL_LIMIT_MAX_NODES;
}

kl_builder_t *kl__builder_get(const kl_parse_opts_t *opts)
{
    kl_builder_t *b = &tls_builder;
    b->ncells = 0;
    b->nkeys = 0;
    b->depth = 0;
    /* Offset 0 of the container region is reserved so that it can mean "empty container". */
    b->cont_len = 8;
    b->str_len = 0;
    b->flags = 0;
    b->nodes = 0;
    b->parse_flags = opts ? opts->flags : 0;
    apply_limits(&b->lim, opts);
    return b;
}

void kl_obj_thread_cleanup(void)
{
    kl_builder_t *b = &tls_builder;
    free(b->cont);
    free(b->strs);
    free(b->cells);
    free(b->keys);
    free(b->frames);
    memset(b, 0, sizeof(*b));
}

void kl__builder_release(kl_builder_t *b)
{
    if (b->cont_cap > SCRATCH_KEEP) {
        free(b->cont);
        b->cont = NULL;
        b->cont_cap = 0;
    }
    if (b->str_cap > SCRATCH_KEEP) {
        free(b->strs);
        b->strs = NULL;
        b->str_cap = 0;
    }
    if ((size_t)b->cells_cap * 8 > SCRATCH_KEEP) {
        free(b->cells);
        b->cells = NULL;
        b->cells_cap = 0;
    }
    if ((size_t)b->keys_cap * 4 > SCRATCH_KEEP) {
        free(b->keys);
        b->keys = NULL;
        b->keys_cap = 0;
    }
}

static int grow(void **p, uint32_t *cap, size_t elem)
{
    uint32_t ncap = *cap ? *cap * 2 : 256;
    if (ncap < *cap)
        return KL_ETOOBIG;
    void *np = realloc(*p, (size_t)ncap * elem);
    if (np == NULL)
        return KL_ENOMEM;
    *p = np;
    *cap = ncap;
    return 0;
}

int kl__builder_grow_cells(kl_builder_t *b)
{
    return grow((void **)&b->cells, &b->cells_cap, sizeof(uint64_t));
}

int kl__builder_grow_keys(kl_builder_t *b)
{
    return grow((void **)&b->keys, &b->keys_cap, sizeof(uint32_t));
}

static int reserve_bytes(unsigned char **p, size_t *cap, size_t len, size_t n)
{
    if (len + n <= *cap)
        return 0;
    if (len + n > UINT32_MAX)
        return KL_ETOOBIG;
    size_t ncap = *cap ? *cap : 1024;
    while (ncap < len + n)
        ncap *= 2;
    unsigned char *np = realloc(*p, ncap);
    if (np == NULL)
        return KL_ENOMEM;
    *p = np;
    *cap = ncap;
    return 0;
}

int kl__builder_reserve_cont(kl_builder_t *b, size_t n)
{
    return reserve_bytes(&b->cont, &b->cont_cap, b->cont_len, n);
}

int kl__builder_reserve_strs(kl_builder_t *b, size_t n)
{
    return reserve_bytes((unsigned char **)&b->strs, &b->str_cap, b->str_len, n);
}

int kl__builder_open(kl_builder_t *b, int is_object)
{
    if (b->depth >= b->lim.max_depth)
        return KL_ETOODEEP;
    if (b->depth == b->frames_cap) {
        int rc = grow((void **)&b->frames, &b->frames_cap, sizeof(kl_bframe_t));
        if (rc < 0)
            return rc;
    }
    b->frames[b->depth++] = (kl_bframe_t){b->ncells, b->nkeys, (uint8_t)is_object};
    return 0;
}

/* Key bytes of a pending key (interned or inline in the builder's string region). */
static const char *pending_key(const kl_builder_t *b, uint32_t k, size_t *len)
{
    if (k & KEY_INLINE) {
        const char *p = b->strs + (k & ~KEY_INLINE);
        uint32_t n;
        memcpy(&n, p, 4);
        *len = n;
        return p + 4;
    }
    return kl_key_str(k, len);
}

static int keys_equal(const kl_builder_t *b, uint32_t x, uint32_t y)
{
    if (x == y)
        return 1;
    if (!((x | y) & KEY_INLINE))
        return 0;
    size_t lx, ly;
    const char *sx = pending_key(b, x, &lx);
    const char *sy = pending_key(b, y, &ly);
    return lx == ly && memcmp(sx, sy, lx) == 0;
}

/* Finds a duplicate among keys[0..n): returns the index of the later duplicate or -1. Small
 * objects are checked pairwise; large ones through a temporary hash set. */
static int64_t find_duplicate(const kl_builder_t *b, const uint32_t *keys, uint32_t n)
{
    if (n < 2)
        return -1;
    if (n <= 24) {
        for (uint32_t i = 1; i < n; i++)
            for (uint32_t j = 0; j < i; j++)
                if (keys_equal(b, keys[i], keys[j]))
                    return i;
        return -1;
    }
    uint32_t cap = 64;
    while (cap < n * 2)
        cap *= 2;
    uint32_t *set = malloc(cap * sizeof(*set));
    if (set == NULL)
        return -2;
    memset(set, 0xff, cap * sizeof(*set));
    int64_t dup = -1;
    for (uint32_t i = 0; i < n && dup < 0; i++) {
        size_t len;
        const char *s = pending_key(b, keys[i], &len);
        uint32_t h = kl__hash_bytes(s, len) & (cap - 1);
        for (;; h = (h + 1) & (cap - 1)) {
            if (set[h] == UINT32_MAX) {
                set[h] = i;
                break;
            }
            if (keys_equal(b, keys[set[h]], keys[i])) {
                dup = i;
                break;
            }
        }
    }
    free(set);
    return dup;
}

int kl__builder_close(kl_builder_t *b, uint32_t *dup_index)
{
    kl_bframe_t f = b->frames[--b->depth];
    uint32_t n = b->ncells - f.cell_start;
    uint64_t *cells = b->cells + f.cell_start;
    if (n > b->lim.max_members)
        return KL_ETOOBIG;
    if (f.is_object) {
        uint32_t *keys = b->keys + f.key_start;
        for (;;) {
            int64_t d = find_duplicate(b, keys, n);
            if (d == -2)
                return KL_ENOMEM;
            if (d < 0)
                break;
            if (!(b->parse_flags & KL_PARSE_ALLOW_DUPLICATE_KEYS)) {
                if (dup_index)
                    *dup_index = (uint32_t)d;
                return KL_EDUPKEY;
            }
            /* Last one wins: drop the earlier occurrence. */
            uint32_t dupk = keys[d];
            for (uint32_t j = 0; j < (uint32_t)d; j++) {
                if (keys_equal(b, keys[j], dupk)) {
                    memmove(keys + j, keys + j + 1, (n - j - 1) * sizeof(*keys));
                    memmove(cells + j, cells + j + 1, (n - j - 1) * sizeof(*cells));
                    n--;
                    break;
                }
            }
        }
        uint64_t cell;
        if (n == 0) {
            cell = CELL_MAKE(CELL_OBJECT, 0);
        } else {
            size_t ksz = obj_keys_size(n);
            int rc = kl__builder_reserve_cont(b, ksz + (size_t)n * 8);
            if (rc < 0)
                return rc;
            uint32_t off = (uint32_t)b->cont_len;
            unsigned char *p = b->cont + off;
            memcpy(p, &n, 4);
            memcpy(p + 4, keys, (size_t)n * 4);
            if (ksz > 4 + (size_t)n * 4)
                memset(p + 4 + (size_t)n * 4, 0, ksz - 4 - (size_t)n * 4);
            memcpy(p + ksz, cells, (size_t)n * 8);
            b->cont_len += ksz + (size_t)n * 8;
            cell = CELL_MAKE(CELL_OBJECT, off);
        }
        b->ncells = f.cell_start;
        b->nkeys = f.key_start;
        return kl__builder_push(b, cell);
    }
    uint64_t cell;
    if (n == 0) {
        cell = CELL_MAKE(CELL_ARRAY, 0);
    } else {
        int rc = kl__builder_reserve_cont(b, 8 + (size_t)n * 8);
        if (rc < 0)
            return rc;
        uint32_t off = (uint32_t)b->cont_len;
        unsigned char *p = b->cont + off;
        memcpy(p, &n, 4);
        memset(p + 4, 0, 4);
        memcpy(p + 8, cells, (size_t)n * 8);
        b->cont_len += 8 + (size_t)n * 8;
        cell = CELL_MAKE(CELL_ARRAY, off);
    }
    b->ncells = f.cell_start;
    return kl__builder_push(b, cell);
}

int kl__builder_string(kl_builder_t *b, const char *s, size_t len)
{
    if (len > b->lim.max_string)
        return KL_ETOOBIG;
    int rc = kl__builder_reserve_strs(b, len + 1);
    if (rc < 0)
        return rc;
    uint32_t off = (uint32_t)b->str_len;
    memcpy(b->strs + off, s, len);
    b->strs[off + len] = '\0';
    b->str_len += len + 1;
    return kl__builder_push(b, CELL_MAKE_STR(off, len));
}

int kl__builder_key(kl_builder_t *b, const char *s, size_t len)
{
    if (b->nkeys == b->keys_cap) {
        int rc = kl__builder_grow_keys(b);
        if (rc < 0)
            return rc;
    }
    kl_key_t id = kl_key_intern(s, len);
    if (id == 0) {
        if (len > b->lim.max_string)
            return KL_ETOOBIG;
        int rc = kl__builder_reserve_strs(b, len + 5);
        if (rc < 0)
            return rc;
        uint32_t off = (uint32_t)b->str_len;
        uint32_t n = (uint32_t)len;
        memcpy(b->strs + off, &n, 4);
        memcpy(b->strs + off + 4, s, len);
        b->strs[off + 4 + len] = '\0';
        b->str_len += len + 5;
        b->flags |= KL_OBJ_INLINE_KEYS;
        id = KEY_INLINE | off;
    }
    b->keys[b->nkeys++] = id;
    return 0;
}

int kl__builder_int(kl_builder_t *b, int64_t v)
{
    if (v >= SMALLINT_MIN && v <= SMALLINT_MAX)
        return kl__builder_push(b, ((uint64_t)v << 4) | CELL_SMALLINT);
    int rc = kl__builder_reserve_cont(b, 8);
    if (rc < 0)
        return rc;
    uint32_t off = (uint32_t)b->cont_len;
    memcpy(b->cont + off, &v, 8);
    b->cont_len += 8;
    return kl__builder_push(b, CELL_MAKE(CELL_BIGINT, off));
}

int kl__builder_double(kl_builder_t *b, double v)
{
    int rc = kl__builder_reserve_cont(b, 8);
    if (rc < 0)
        return rc;
    uint32_t off = (uint32_t)b->cont_len;
    memcpy(b->cont + off, &v, 8);
    b->cont_len += 8;
    return kl__builder_push(b, CELL_MAKE(CELL_DOUBLE, off));
}

int kl__builder_finish(kl_builder_t *b, kl_obj_t **out)
{
    if (b->ncells != 1 || b->depth != 0)
        return KL_EINVAL;
    size_t cont = (b->cont_len + 7) & ~(size_t)7;
    size_t total = sizeof(kl_obj_t) + cont + b->str_len;
    kl_obj_t *d = malloc(total);
    if (d == NULL)
        return KL_ENOMEM;
    atomic_init(&d->refs, 1);
    d->flags = b->flags;
    d->root = b->cells[0];
    d->cont_len = (uint32_t)cont;
    d->str_len = (uint32_t)b->str_len;
    if (b->cont_len > 8)
        memcpy(d->data + 8, b->cont + 8, b->cont_len - 8);
    memset(d->data, 0, 8);
    if (cont > b->cont_len)
        memset(d->data + b->cont_len, 0, cont - b->cont_len);
    if (b->str_len)
        memcpy(d->data + cont, b->strs, b->str_len);
    *out = d;
    return 0;
}
