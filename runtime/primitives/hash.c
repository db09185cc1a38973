/* Stable revision hashes: FNV-1a 32 over a canonical JSON form. */
#include "kubelua/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FNV_OFFSET 2166136261u
#define FNV_PRIME 16777619u
#define SORT_ON_STACK 32

static void fnv(uint32_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    uint32_t x = *h;
    for (size_t i = 0; i < n; i++) {
        x ^= b[i];
        x *= FNV_PRIME;
    }
    *h = x;
}

static void fnv_str(uint32_t *h, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    fnv(h, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '"' && c != '\\' && c >= 0x20)
            continue;
        fnv(h, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
        if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            fnv(h, esc, 6);
        } else {
            fnv(h, esc, 2);
        }
    }
    fnv(h, s + run, n - run);
    fnv(h, "\"", 1);
}

typedef struct member {
    const char *key;
    size_t len;
    uint32_t index;
} member_t;

static int cmp_members(const void *a, const void *b)
{
    const member_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int hash_value(uint32_t *h, kl_val_t v)
{
    char buf[40];
    switch (kl_val_type(v)) {
    case KL_TNULL:
        fnv(h, "null", 4);
        return 0;
    case KL_TTRUE:
        fnv(h, "true", 4);
        return 0;
    case KL_TFALSE:
        fnv(h, "false", 5);
        return 0;
    case KL_TINT:
        fnv(h, buf, (size_t)snprintf(buf, sizeof(buf), "%lld", (long long)kl_val_int(v)));
        return 0;
    case KL_TDOUBLE:
        fnv(h, buf, (size_t)snprintf(buf, sizeof(buf), "%.17g", kl_val_number(v)));
        return 0;
    case KL_TSTRING: {
        size_t n;
        const char *s = kl_val_str(v, &n);
        fnv_str(h, s, n);
        return 0;
    }
    case KL_TARRAY: {
        uint32_t n = kl_val_len(v);
        fnv(h, "[", 1);
        for (uint32_t i = 0; i < n; i++) {
            if (i)
                fnv(h, ",", 1);
            int rc = hash_value(h, kl_val_at(v, i));
            if (rc < 0)
                return rc;
        }
        fnv(h, "]", 1);
        return 0;
    }
    case KL_TOBJECT:
        break;
    }
    uint32_t n = kl_val_len(v);
    member_t stack[SORT_ON_STACK], *m = stack;
    if (n > SORT_ON_STACK) {
        m = malloc(n * sizeof(*m));
        if (m == NULL)
            return KL_ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        kl_val_member(v, i, &m[i].key, &m[i].len);
        m[i].index = i;
    }
    qsort(m, n, sizeof(*m), cmp_members);
    int rc = 0;
    fnv(h, "{", 1);
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        if (i)
            fnv(h, ",", 1);
        fnv_str(h, m[i].key, m[i].len);
        fnv(h, ":", 1);
        rc = hash_value(h, kl_val_member(v, m[i].index, NULL, NULL));
    }
    fnv(h, "}", 1);
    if (m != stack)
        free(m);
    return rc;
}

int kl_hash_val(kl_val_t v, const uint32_t *collision_count, uint32_t *out)
{
    uint32_t h = FNV_OFFSET;
    int rc = hash_value(&h, v);
    if (rc < 0)
        return rc;
    if (collision_count) {
        uint32_t c = *collision_count;
        unsigned char le[8] = {(unsigned char)c, (unsigned char)(c >> 8), (unsigned char)(c >> 16),
                               (unsigned char)(c >> 24)};
        fnv(&h, le, sizeof(le));
    }
    *out = h;
    return 0;
}

void kl_hash_encode(uint32_t h, char *out)
{
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    int n = snprintf(out, KL_HASH_STR_MAX, "%u", (unsigned)h);
    for (int i = 0; i < n; i++)
        out[i] = alphabet[(unsigned char)out[i] % (sizeof(alphabet) - 1)];
}

int kl_hash_string(kl_val_t v, const uint32_t *collision_count, char *out)
{
    uint32_t h;
    int rc = kl_hash_val(v, collision_count, &h);
    if (rc == 0)
        kl_hash_encode(h, out);
    return rc;
}
