/* Controller expectations: per-key counters with optional tracked deletion keys. */
#include "kubelua/expectations.h"

#include <stdlib.h>
#include <string.h>

#include "kubelua/ktime.h"
#include "kubelua/strmap.h"

typedef struct record {
    char *key; /* owned; the map borrows it */
    int64_t adds, dels;
    int64_t stamp_ms;
    bool tracked;     /* deletions are tracked by pod key */
    kl_strmap_t pods; /* pending pod keys (copied), when tracked */
} record_t;

struct kl_expectations {
    size_t refs;
    int64_t ttl_ms;
    int64_t (*now_ms)(void *ud);
    void *ud;
    kl_strmap_t records; /* key -> record_t */
};

static int64_t now(const kl_expectations_t *e)
{
    return e->now_ms ? e->now_ms(e->ud) : kl_time_now_ms();
}

static void record_free(record_t *r)
{
    if (r == NULL)
        return;
    kl_strmap_cleanup(&r->pods);
    free(r->key);
    free(r);
}

int kl_expectations_new(const kl_expectations_opts_t *opts, kl_expectations_t **out)
{
    kl_expectations_t *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return KL_ENOMEM;
    e->refs = 1;
    e->ttl_ms = opts && opts->ttl_ms > 0 ? opts->ttl_ms : KL_EXPECTATIONS_DEFAULT_TTL_MS;
    e->now_ms = opts ? opts->now_ms : NULL;
    e->ud = opts ? opts->ud : NULL;
    kl_strmap_init(&e->records, 0);
    *out = e;
    return 0;
}

kl_expectations_t *kl_expectations_ref(kl_expectations_t *e)
{
    if (e)
        e->refs++;
    return e;
}

void kl_expectations_unref(kl_expectations_t *e)
{
    if (e == NULL || --e->refs > 0)
        return;
    size_t it = 0;
    const char *key;
    void *val;
    while (kl_strmap_next(&e->records, &it, &key, &val))
        record_free(val);
    kl_strmap_cleanup(&e->records);
    free(e);
}

static record_t *get(const kl_expectations_t *e, const char *key)
{
    return kl_strmap_get(&e->records, key);
}

/* A fresh record replacing any previous one for key; NULL when out of memory (the previous
 * record is then kept). */
static record_t *reset(kl_expectations_t *e, const char *key)
{
    record_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->key = strdup(key);
    if (r->key == NULL) {
        free(r);
        return NULL;
    }
    kl_strmap_init(&r->pods, KL_STRMAP_COPY_KEYS);
    r->stamp_ms = now(e);
    return r;
}

static int install(kl_expectations_t *e, record_t *r)
{
    record_t *old = NULL;
    kl_strmap_del(&e->records, r->key, (void **)&old);
    record_free(old);
    if (kl_strmap_put(&e->records, r->key, r, NULL) < 0) {
        record_free(r);
        return KL_ENOMEM;
    }
    return 0;
}

int kl_expectations_set(kl_expectations_t *e, const char *key, int64_t adds, int64_t dels)
{
    record_t *r = reset(e, key);
    if (r == NULL)
        return KL_ENOMEM;
    r->adds = adds;
    r->dels = dels;
    return install(e, r);
}

int kl_expectations_set_keys(kl_expectations_t *e, const char *key, int64_t adds,
                             const char *const *pod_keys, size_t ndel)
{
    record_t *r = reset(e, key);
    if (r == NULL)
        return KL_ENOMEM;
    r->adds = adds;
    r->tracked = true;
    for (size_t i = 0; i < ndel; i++) {
        if (kl_strmap_find(&r->pods, pod_keys[i], NULL))
            continue;
        if (kl_strmap_put(&r->pods, pod_keys[i], NULL, NULL) < 0) {
            record_free(r);
            return KL_ENOMEM;
        }
    }
    r->dels = (int64_t)kl_strmap_len(&r->pods);
    return install(e, r);
}

void kl_expectations_raise(kl_expectations_t *e, const char *key, int64_t adds, int64_t dels)
{
    record_t *r = get(e, key);
    if (r) {
        r->adds += adds;
        r->dels += dels;
    }
}

void kl_expectations_lower(kl_expectations_t *e, const char *key, int64_t adds, int64_t dels)
{
    record_t *r = get(e, key);
    if (r) {
        r->adds -= adds;
        r->dels -= dels;
    }
}

void kl_expectations_creation_observed(kl_expectations_t *e, const char *key)
{
    kl_expectations_lower(e, key, 1, 0);
}

void kl_expectations_deletion_observed(kl_expectations_t *e, const char *key, const char *pod_key)
{
    record_t *r = get(e, key);
    if (r == NULL)
        return;
    if (r->tracked) {
        if (pod_key == NULL || kl_strmap_del(&r->pods, pod_key, NULL) < 0)
            return;
    }
    r->dels--;
}

static bool expired(const kl_expectations_t *e, const record_t *r)
{
    return now(e) - r->stamp_ms > e->ttl_ms;
}

static bool satisfied(const kl_expectations_t *e, const record_t *r)
{
    return (r->adds <= 0 && r->dels <= 0) || expired(e, r);
}

bool kl_expectations_satisfied(const kl_expectations_t *e, const char *key)
{
    record_t *r = get(e, key);
    return r == NULL || satisfied(e, r);
}

void kl_expectations_delete(kl_expectations_t *e, const char *key)
{
    record_t *r = NULL;
    if (kl_strmap_del(&e->records, key, (void **)&r) == 0)
        record_free(r);
}

bool kl_expectations_get(const kl_expectations_t *e, const char *key, int64_t *adds, int64_t *dels,
                         int64_t *age_ms, bool *is_expired)
{
    record_t *r = get(e, key);
    if (r == NULL)
        return false;
    if (adds)
        *adds = r->adds;
    if (dels)
        *dels = r->dels;
    if (age_ms)
        *age_ms = now(e) - r->stamp_ms;
    if (is_expired)
        *is_expired = expired(e, r);
    return true;
}

bool kl_expectations_pending_deletion(const kl_expectations_t *e, const char *key,
                                      const char *pod_key)
{
    record_t *r = get(e, key);
    return r != NULL && r->tracked && kl_strmap_find(&r->pods, pod_key, NULL);
}

size_t kl_expectations_count(const kl_expectations_t *e)
{
    return kl_strmap_len(&e->records);
}

size_t kl_expectations_gc(kl_expectations_t *e)
{
    /* Removal moves entries, so collect the victims first, in batches of a fixed size. */
    size_t removed = 0;
    for (;;) {
        record_t *victims[64];
        size_t n = 0, it = 0;
        const char *key;
        void *val;
        while (n < 64 && kl_strmap_next(&e->records, &it, &key, &val))
            if (satisfied(e, val))
                victims[n++] = val;
        for (size_t i = 0; i < n; i++) {
            kl_strmap_del(&e->records, victims[i]->key, NULL);
            record_free(victims[i]);
        }
        removed += n;
        if (n < 64)
            return removed;
    }
}
