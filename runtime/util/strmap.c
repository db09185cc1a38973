#include "kubelua/strmap.h"

#include <stdlib.h>
#include <string.h>

#define MIN_CAP 16

uint64_t kl_strmap_hash(const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    /* FNV's low bits are weak for short keys with a shared prefix; the murmur3 finaliser mixes
     * the high bits down, which linear probing over a power-of-two table needs. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

void kl_strmap_init(kl_strmap_t *m, unsigned flags)
{
    m->slots = NULL;
    m->cap = 0;
    m->len = 0;
    m->flags = flags;
}

static void free_keys(kl_strmap_t *m)
{
    if (!(m->flags & KL_STRMAP_COPY_KEYS))
        return;
    for (size_t i = 0; i < m->cap; i++)
        free((char *)m->slots[i].key);
}

void kl_strmap_cleanup(kl_strmap_t *m)
{
    free_keys(m);
    free(m->slots);
    m->slots = NULL;
    m->cap = 0;
    m->len = 0;
}

void kl_strmap_clear(kl_strmap_t *m)
{
    free_keys(m);
    if (m->slots)
        memset(m->slots, 0, m->cap * sizeof(*m->slots));
    m->len = 0;
}

/* Returns the slot holding key, or the empty slot where it would go. The table is never full. */
static size_t probe(const kl_strmap_t *m, const char *key, uint64_t hash)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)hash & mask;
    for (;;) {
        const kl_strmap_slot_t *s = &m->slots[i];
        if (s->key == NULL || (s->hash == hash && strcmp(s->key, key) == 0))
            return i;
        i = (i + 1) & mask;
    }
}

static int resize(kl_strmap_t *m, size_t cap)
{
    kl_strmap_slot_t *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return KL_ENOMEM;
    size_t mask = cap - 1;
    for (size_t i = 0; i < m->cap; i++) {
        kl_strmap_slot_t *s = &m->slots[i];
        if (s->key == NULL)
            continue;
        size_t j = (size_t)s->hash & mask;
        while (slots[j].key)
            j = (j + 1) & mask;
        slots[j] = *s;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

int kl_strmap_reserve(kl_strmap_t *m, size_t n)
{
    size_t cap = m->cap ? m->cap : MIN_CAP;
    while (n > cap / 4 * 3) {
        if (cap > SIZE_MAX / 2 / sizeof(kl_strmap_slot_t))
            return KL_ENOMEM;
        cap *= 2;
    }
    if (cap == m->cap)
        return 0;
    return resize(m, cap);
}

bool kl_strmap_find(const kl_strmap_t *m, const char *key, void **value)
{
    if (m->len == 0)
        return false;
    const kl_strmap_slot_t *s = &m->slots[probe(m, key, kl_strmap_hash(key))];
    if (s->key == NULL)
        return false;
    if (value)
        *value = s->value;
    return true;
}

void *kl_strmap_get(const kl_strmap_t *m, const char *key)
{
    void *v = NULL;
    return kl_strmap_find(m, key, &v) ? v : NULL;
}

int kl_strmap_put(kl_strmap_t *m, const char *key, void *value, void **old)
{
    uint64_t hash = kl_strmap_hash(key);
    size_t i;
    if (m->cap) {
        i = probe(m, key, hash);
        if (m->slots[i].key) {
            if (old)
                *old = m->slots[i].value;
            m->slots[i].value = value;
            return 0;
        }
    }
    if ((m->len + 1) > m->cap / 4 * 3) {
        int rc = kl_strmap_reserve(m, m->len + 1);
        if (rc < 0)
            return rc;
    }
    const char *stored = key;
    if (m->flags & KL_STRMAP_COPY_KEYS) {
        stored = strdup(key);
        if (stored == NULL)
            return KL_ENOMEM;
    }
    i = probe(m, key, hash);
    m->slots[i].key = stored;
    m->slots[i].value = value;
    m->slots[i].hash = hash;
    m->len++;
    if (old)
        *old = NULL;
    return 0;
}

int kl_strmap_del(kl_strmap_t *m, const char *key, void **old)
{
    if (m->len == 0)
        return KL_ENOTFOUND;
    size_t i = probe(m, key, kl_strmap_hash(key));
    if (m->slots[i].key == NULL)
        return KL_ENOTFOUND;
    if (old)
        *old = m->slots[i].value;
    if (m->flags & KL_STRMAP_COPY_KEYS)
        free((char *)m->slots[i].key);

    /* Backward shift: pull later members of the probe run into the hole unless that would move
     * them before their home slot. */
    size_t mask = m->cap - 1;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        kl_strmap_slot_t *s = &m->slots[j];
        if (s->key == NULL)
            break;
        size_t home = (size_t)s->hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = *s;
            i = j;
        }
    }
    m->slots[i].key = NULL;
    m->slots[i].value = NULL;
    m->len--;

    if (m->cap > MIN_CAP && m->len < m->cap / 8)
        (void)resize(m, m->cap / 2); /* failing to shrink is harmless */
    return 0;
}

bool kl_strmap_next(const kl_strmap_t *m, size_t *it, const char **key, void **value)
{
    for (size_t i = *it; i < m->cap; i++) {
        if (m->slots[i].key) {
            *it = i + 1;
            if (key)
                *key = m->slots[i].key;
            if (value)
                *value = m->slots[i].value;
            return true;
        }
    }
    *it = m->cap;
    return false;
}
