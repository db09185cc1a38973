/* Process-wide interning of object keys.
 *
 * Ids index a segmented array whose segments never move, so readers resolve an id without a
 * lock. Insertions take a mutex. Each thread keeps a small direct-mapped cache from key bytes to
 * id in front of the global index, so decoding a document usually interns every key without
 * touching the lock. Keys longer than KEY_MAX_LEN, or arriving once the table is full, are not
 * interned: documents then store them inline.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "object/obj_int.h"

#define SEG_BITS 12
#define SEG_SIZE (1u << SEG_BITS)
#define MAX_SEGS 256u
#define KEY_MAX_LEN 96
#define KEY_MAX_COUNT (SEG_SIZE * MAX_SEGS - 1)
#define TLS_SLOTS 2048u

typedef struct kentry {
    const char *str;
    uint32_t len;
    uint32_t hash;
} kentry_t;

static _Atomic(kentry_t *) segs[MAX_SEGS];
static _Atomic uint32_t nkeys; /* ids are 1..nkeys */
static size_t key_bytes;
static uint32_t *gindex; /* open addressing over ids, 0 = empty */
static uint32_t gindex_cap;
static pthread_mutex_t glock = PTHREAD_MUTEX_INITIALIZER;

typedef struct tslot {
    uint32_t hash;
    kl_key_t id;
} tslot_t;

static _Thread_local tslot_t tls_cache[TLS_SLOTS];

uint32_t kl__hash_bytes(const char *s, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        s += 8;
        len -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, len);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    return (uint32_t)h;
}

static inline const kentry_t *entry(kl_key_t id)
{
    kentry_t *seg = atomic_load_explicit(&segs[id >> SEG_BITS], memory_order_acquire);
    return &seg[id & (SEG_SIZE - 1)];
}

static inline int entry_is(const kentry_t *e, const char *key, size_t len, uint32_t hash)
{
    return e->hash == hash && e->len == len && memcmp(e->str, key, len) == 0;
}

/* Caller holds glock. */
static kl_key_t gindex_find(const char *key, size_t len, uint32_t hash)
{
    if (gindex_cap == 0)
        return 0;
    uint32_t mask = gindex_cap - 1;
    for (uint32_t i = hash & mask;; i = (i + 1) & mask) {
        kl_key_t id = gindex[i];
        if (id == 0)
            return 0;
        if (entry_is(entry(id), key, len, hash))
            return id;
    }
}

/* Caller holds glock. */
static int gindex_grow(void)
{
    uint32_t cap = gindex_cap ? gindex_cap * 2 : 4096;
    uint32_t *idx = calloc(cap, sizeof(*idx));
    if (idx == NULL)
        return KL_ENOMEM;
    uint32_t n = atomic_load_explicit(&nkeys, memory_order_relaxed);
    for (kl_key_t id = 1; id <= n; id++) {
        uint32_t i = entry(id)->hash & (cap - 1);
        while (idx[i] != 0)
            i = (i + 1) & (cap - 1);
        idx[i] = id;
    }
    free(gindex);
    gindex = idx;
    gindex_cap = cap;
    return 0;
}

static kl_key_t global_intern(const char *key, size_t len, uint32_t hash, int insert)
{
    pthread_mutex_lock(&glock);
    kl_key_t id = gindex_find(key, len, hash);
    if (id != 0 || !insert)
        goto out;
    uint32_t n = atomic_load_explicit(&nkeys, memory_order_relaxed);
    if (n >= KEY_MAX_COUNT)
        goto out;
    if ((n + 1) * 2 >= gindex_cap && gindex_grow() < 0)
        goto out;
    kl_key_t nid = n + 1;
    uint32_t seg = nid >> SEG_BITS;
    kentry_t *s = atomic_load_explicit(&segs[seg], memory_order_relaxed);
    if (s == NULL) {
        s = calloc(SEG_SIZE, sizeof(*s));
        if (s == NULL)
            goto out;
        atomic_store_explicit(&segs[seg], s, memory_order_release);
    }
    char *copy = malloc(len + 1);
    if (copy == NULL)
        goto out;
    memcpy(copy, key, len);
    copy[len] = '\0';
    s[nid & (SEG_SIZE - 1)] = (kentry_t){copy, (uint32_t)len, hash};
    key_bytes += len + 1;
    uint32_t i = hash & (gindex_cap - 1);
    while (gindex[i] != 0)
        i = (i + 1) & (gindex_cap - 1);
    gindex[i] = nid;
    atomic_store_explicit(&nkeys, nid, memory_order_release);
    id = nid;
out:
    pthread_mutex_unlock(&glock);
    return id;
}

static inline kl_key_t intern(const char *key, size_t len, int insert)
{
    if (len > KEY_MAX_LEN)
        return 0;
    uint32_t hash = kl__hash_bytes(key, len);
    tslot_t *slot = &tls_cache[hash & (TLS_SLOTS - 1)];
    if (slot->id != 0 && slot->hash == hash && entry_is(entry(slot->id), key, len, hash))
        return slot->id;
    kl_key_t id = global_intern(key, len, hash, insert);
    if (id != 0) {
        slot->hash = hash;
        slot->id = id;
    }
    return id;
}

kl_key_t kl_key_intern(const char *key, size_t len)
{
    return intern(key, len, 1);
}

kl_key_t kl_key_lookup(const char *key, size_t len)
{
    return intern(key, len, 0);
}

const char *kl_key_str(kl_key_t id, size_t *len)
{
    const kentry_t *e = entry(id);
    if (len)
        *len = e->len;
    return e->str;
}

void kl_key_stats(size_t *count, size_t *bytes)
{
    pthread_mutex_lock(&glock);
    if (count)
        *count = atomic_load(&nkeys);
    if (bytes)
        *bytes = key_bytes;
    pthread_mutex_unlock(&glock);
}
