/* The informer's cache: entries keyed "ns/name", indexes of buckets with O(1) removal, and the
 * handler notifications that follow every change. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/log.h"

#include "informer/informer_int.h"

#define COMP "informer"

static kl_key_t k_metadata, k_name, k_namespace, k_owner_refs, k_controller, k_uid, k_spec,
    k_node_name, k_labels, k_rv;
static pthread_once_t keys_once = PTHREAD_ONCE_INIT;

static void init_keys(void)
{
#define K(var, s) var = kl_key_intern(s, sizeof(s) - 1)
    K(k_metadata, "metadata");
    K(k_name, "name");
    K(k_namespace, "namespace");
    K(k_owner_refs, "ownerReferences");
    K(k_controller, "controller");
    K(k_uid, "uid");
    K(k_spec, "spec");
    K(k_node_name, "nodeName");
    K(k_labels, "labels");
    K(k_rv, "resourceVersion");
#undef K
}

static kl_val_t get(kl_val_t v, kl_key_t k, const char *s)
{
    return k ? kl_val_get_key(v, k) : kl_val_get(v, s);
}

int kl_informer_key_of(const kl_obj_t *obj, char *out, size_t cap)
{
    pthread_once(&keys_once, init_keys);
    kl_val_t md = get(kl_obj_root(obj), k_metadata, "metadata");
    size_t nl, nsl = 0;
    const char *name = kl_val_str(get(md, k_name, "name"), &nl);
    const char *ns = kl_val_str(get(md, k_namespace, "namespace"), &nsl);
    if (name == NULL || nl == 0)
        return KL_EINVAL;
    if (ns && nsl) {
        if (nsl + nl + 2 > cap)
            return KL_ETOOBIG;
        memcpy(out, ns, nsl);
        out[nsl] = '/';
        memcpy(out + nsl + 1, name, nl + 1);
    } else {
        if (nl + 1 > cap)
            return KL_ETOOBIG;
        memcpy(out, name, nl + 1);
    }
    return 0;
}

static const char *obj_rv(const kl_obj_t *obj)
{
    return kl_val_str(get(get(kl_obj_root(obj), k_metadata, "metadata"), k_rv, "resourceVersion"),
                      NULL);
}

/* The value an object has in an index, or NULL. */
static const char *index_value(const index_t *ix, const kl_obj_t *obj)
{
    kl_val_t root = kl_obj_root(obj);
    kl_val_t md = get(root, k_metadata, "metadata");
    const char *s = NULL;
    switch (ix->kind) {
    case IDX_NAMESPACE:
        s = kl_val_str(get(md, k_namespace, "namespace"), NULL);
        break;
    case IDX_OWNER: {
        kl_val_t refs = get(md, k_owner_refs, "ownerReferences");
        uint32_t n = kl_val_len(refs);
        for (uint32_t i = 0; i < n; i++) {
            kl_val_t r = kl_val_at(refs, i);
            if (kl_val_type(get(r, k_controller, "controller")) == KL_TTRUE) {
                s = kl_val_str(get(r, k_uid, "uid"), NULL);
                break;
            }
        }
        break;
    }
    case IDX_NODE:
        s = kl_val_str(get(get(root, k_spec, "spec"), k_node_name, "nodeName"), NULL);
        break;
    case IDX_LABEL:
        s = kl_val_str(kl_val_get(get(md, k_labels, "labels"), ix->label_key), NULL);
        break;
    default:
        break;
    }
    return s && *s ? s : NULL;
}

static void index_remove(kl_informer_t *inf, size_t i, entry_t *e)
{
    link_t *l = &e->links[i];
    bucket_t *b = l->b;
    if (b == NULL)
        return;
    uint32_t pos = l->pos;
    entry_t *last = b->items[--b->n];
    if (last != e) {
        b->items[pos] = last;
        last->links[i].pos = pos;
    }
    l->b = NULL;
    if (b->n == 0) {
        kl_strmap_del(&inf->idx[i].buckets, b->value, NULL);
        free(b->value);
        free(b->items);
        free(b);
    }
}

static int index_add(kl_informer_t *inf, size_t i, entry_t *e)
{
    const char *v = index_value(&inf->idx[i], e->obj);
    if (v == NULL)
        return 0;
    bucket_t *b = kl_strmap_get(&inf->idx[i].buckets, v);
    if (b == NULL) {
        b = calloc(1, sizeof(*b));
        if (b == NULL || (b->value = strdup(v)) == NULL ||
            kl_strmap_put(&inf->idx[i].buckets, b->value, b, NULL) < 0) {
            if (b)
                free(b->value);
            free(b);
            return KL_ENOMEM;
        }
    }
    if (b->n == b->cap) {
        uint32_t cap = b->cap ? b->cap * 2 : 4;
        entry_t **items = realloc(b->items, cap * sizeof(*items));
        if (items == NULL) {
            if (b->n == 0) {
                kl_strmap_del(&inf->idx[i].buckets, b->value, NULL);
                free(b->value);
                free(b);
            }
            return KL_ENOMEM;
        }
        b->items = items;
        b->cap = cap;
    }
    e->links[i] = (link_t){b, b->n};
    b->items[b->n++] = e;
    return 0;
}

static size_t entry_bytes(const entry_t *e, size_t nidx)
{
    return kl_obj_size(e->obj) + sizeof(*e) + strlen(e->key) + 1 + nidx * sizeof(link_t) +
           sizeof(kl_strmap_slot_t) * 2;
}

static void reindex(kl_informer_t *inf, entry_t *e, const kl_obj_t *old)
{
    for (size_t i = 0; i < inf->nidx; i++) {
        const char *nv = index_value(&inf->idx[i], e->obj);
        const char *ov = e->links[i].b ? e->links[i].b->value : NULL;
        if ((nv == NULL && ov == NULL) || (nv && ov && strcmp(nv, ov) == 0))
            continue;
        index_remove(inf, i, e);
        if (index_add(inf, i, e) < 0)
            KL_WARN(COMP, "out of memory indexing %s", e->key);
    }
    (void)old;
}

static entry_t *entry_new(kl_informer_t *inf, const char *key, kl_obj_t *obj)
{
    size_t kl = strlen(key);
    entry_t *e = malloc(sizeof(*e) + kl + 1);
    if (e == NULL)
        return NULL;
    e->links = calloc(inf->nidx ? inf->nidx : 1, sizeof(link_t));
    if (e->links == NULL) {
        free(e);
        return NULL;
    }
    memcpy(e->key, key, kl + 1);
    e->obj = obj;
    e->gen = inf->gen;
    return e;
}

/* ---- handler dispatch ---------------------------------------------------------------- */

static void compact_handlers(kl_informer_t *inf)
{
    if (inf->dispatching)
        return;
    size_t k = 0;
    for (size_t i = 0; i < inf->nhandlers; i++)
        if (!inf->handlers[i].removed)
            inf->handlers[k++] = inf->handlers[i];
    inf->nhandlers = k;
}

static void emit_add(kl_informer_t *inf, const kl_obj_t *obj, bool initial)
{
    inf->dispatching++;
    for (size_t i = 0; i < inf->nhandlers; i++) {
        handler_t *h = &inf->handlers[i];
        if (!h->removed && !h->replay && h->h.on_add)
            h->h.on_add(inf, obj, initial, h->ud);
    }
    inf->dispatching--;
}

static void emit_update(kl_informer_t *inf, const kl_obj_t *old, const kl_obj_t *obj)
{
    inf->dispatching++;
    for (size_t i = 0; i < inf->nhandlers; i++) {
        handler_t *h = &inf->handlers[i];
        if (!h->removed && !h->replay && h->h.on_update)
            h->h.on_update(inf, old, obj, h->ud);
    }
    inf->dispatching--;
}

static void emit_delete(kl_informer_t *inf, const kl_obj_t *obj, bool unknown)
{
    inf->dispatching++;
    for (size_t i = 0; i < inf->nhandlers; i++) {
        handler_t *h = &inf->handlers[i];
        if (!h->removed && !h->replay && h->h.on_delete)
            h->h.on_delete(inf, obj, unknown, h->ud);
    }
    inf->dispatching--;
}

static void emit_synced(kl_informer_t *inf)
{
    inf->dispatching++;
    for (size_t i = 0; i < inf->nhandlers; i++) {
        handler_t *h = &inf->handlers[i];
        if (!h->removed && !h->replay && !h->synced_sent) {
            h->synced_sent = true;
            if (h->h.on_synced)
                h->h.on_synced(inf, h->ud);
        }
    }
    inf->dispatching--;
}

/* ---- cache changes ------------------------------------------------------------------- */

static kl_obj_t *transform(kl_informer_t *inf, kl_obj_t *obj)
{
    if (inf->o.transform == NULL || obj == NULL)
        return obj;
    return inf->o.transform(obj, inf->o.transform_ud);
}

static void upsert(kl_informer_t *inf, const char *key, kl_obj_t *obj, bool initial,
                   bool only_if_changed)
{
    entry_t *e = kl_strmap_get(&inf->cache, key);
    if (e == NULL) {
        e = entry_new(inf, key, obj);
        if (e == NULL || kl_strmap_put(&inf->cache, e->key, e, NULL) < 0) {
            KL_ERROR(COMP, "out of memory caching %s", key);
            if (e) {
                free(e->links);
                free(e);
            }
            kl_obj_unref(obj);
            return;
        }
        for (size_t i = 0; i < inf->nidx; i++)
            if (index_add(inf, i, e) < 0)
                KL_WARN(COMP, "out of memory indexing %s", key);
        inf->bytes += entry_bytes(e, inf->nidx);
        emit_add(inf, obj, initial);
        return;
    }
    e->gen = inf->gen;
    if (only_if_changed) {
        const char *a = obj_rv(e->obj), *b = obj_rv(obj);
        if (a && b && strcmp(a, b) == 0) {
            kl_obj_unref(obj);
            return;
        }
    }
    kl_obj_t *old = e->obj;
    inf->bytes -= kl_obj_size(old);
    e->obj = obj;
    inf->bytes += kl_obj_size(obj);
    reindex(inf, e, old);
    emit_update(inf, old, obj);
    kl_obj_unref(old);
}

static void remove_entry(kl_informer_t *inf, entry_t *e, const kl_obj_t *final, bool unknown)
{
    kl_strmap_del(&inf->cache, e->key, NULL);
    inf->bytes -= entry_bytes(e, inf->nidx);
    /* Handlers see the final state; the entry's document lives until they return. */
    for (size_t i = 0; i < inf->nidx; i++)
        index_remove(inf, i, e);
    emit_delete(inf, final ? final : e->obj, unknown);
    kl_obj_unref(e->obj);
    free(e->links);
    free(e);
}

void kl__informer_apply(kl_informer_t *inf, kl_watch_type_t type, kl_obj_t *obj)
{
    pthread_once(&keys_once, init_keys);
    char key[1024];
    obj = transform(inf, obj);
    if (obj == NULL)
        return;
    if (kl_informer_key_of(obj, key, sizeof(key)) < 0) {
        KL_WARN(COMP, "resource=%s: event object without metadata.name ignored", inf->o.resource);
        kl_obj_unref(obj);
        return;
    }
    if (type == KL_WATCH_DELETED) {
        entry_t *e = kl_strmap_get(&inf->cache, key);
        if (e)
            remove_entry(inf, e, obj, false);
        kl_obj_unref(obj);
    } else {
        upsert(inf, key, obj, false, false);
    }
    kl__informer_finish_dispatch(inf);
}

void kl__informer_replace(kl_informer_t *inf, kl_obj_t **objs, size_t n, const char *rv)
{
    pthread_once(&keys_once, init_keys);
    char key[1024];
    bool initial = !inf->ever_synced;
    inf->gen++;
    if (kl_strmap_len(&inf->cache) == 0 && n)
        if (kl_strmap_reserve(&inf->cache, n) < 0)
            KL_WARN(COMP, "out of memory reserving the cache");
    for (size_t i = 0; i < n; i++) {
        kl_obj_t *obj = transform(inf, objs[i]);
        objs[i] = NULL;
        if (obj == NULL)
            continue;
        if (kl_informer_key_of(obj, key, sizeof(key)) < 0) {
            kl_obj_unref(obj);
            continue;
        }
        upsert(inf, key, obj, initial, true);
        if (inf->free_pending)
            break;
    }
    /* Objects the new list no longer has were deleted while we were not watching. */
    if (!inf->free_pending && kl_strmap_len(&inf->cache) > 0) {
        size_t cnt = 0, cap = 64;
        entry_t **gone = malloc(cap * sizeof(*gone));
        size_t it = 0;
        const char *k;
        void *v;
        while (gone && kl_strmap_next(&inf->cache, &it, &k, &v)) {
            entry_t *e = v;
            if (e->gen == inf->gen)
                continue;
            if (cnt == cap) {
                entry_t **ng = realloc(gone, 2 * cap * sizeof(*gone));
                if (ng == NULL)
                    break;
                gone = ng;
                cap *= 2;
            }
            gone[cnt++] = e;
        }
        for (size_t i = 0; i < cnt && !inf->free_pending; i++)
            remove_entry(inf, gone[i], NULL, true);
        free(gone);
    }
    for (size_t i = 0; i < n; i++)
        kl_obj_unref(objs[i]);
    if (rv)
        snprintf(inf->rv, sizeof(inf->rv), "%s", rv);
    inf->synced = true;
    inf->ever_synced = true;
    if (!inf->free_pending)
        emit_synced(inf);
    kl__informer_finish_dispatch(inf);
}

/* Replays the cache to handlers registered late, then tells them about the sync. */
void kl__informer_replay(kl_informer_t *inf)
{
    for (size_t i = 0; i < inf->nhandlers && !inf->free_pending; i++) {
        handler_t *h = &inf->handlers[i];
        if (!h->replay || h->removed)
            continue;
        h->replay = false;
        uint64_t id = h->id;
        size_t it = 0;
        const char *k;
        void *v;
        inf->dispatching++;
        while (kl_strmap_next(&inf->cache, &it, &k, &v)) {
            handler_t *hh = &inf->handlers[i];
            if (hh->id != id || hh->removed || inf->free_pending)
                break;
            if (hh->h.on_add)
                hh->h.on_add(inf, ((entry_t *)v)->obj, true, hh->ud);
        }
        inf->dispatching--;
    }
    if (inf->synced && !inf->free_pending)
        emit_synced(inf);
    kl__informer_finish_dispatch(inf);
}

void kl__informer_resync(kl_informer_t *inf)
{
    size_t it = 0;
    const char *k;
    void *v;
    inf->dispatching++;
    while (!inf->free_pending && kl_strmap_next(&inf->cache, &it, &k, &v)) {
        entry_t *e = v;
        for (size_t i = 0; i < inf->nhandlers; i++) {
            handler_t *h = &inf->handlers[i];
            if (!h->removed && !h->replay && h->h.on_update)
                h->h.on_update(inf, e->obj, e->obj, h->ud);
        }
    }
    inf->dispatching--;
    kl__informer_finish_dispatch(inf);
}

void kl__informer_cache_clear(kl_informer_t *inf)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (kl_strmap_next(&inf->cache, &it, &k, &v)) {
        entry_t *e = v;
        kl_obj_unref(e->obj);
        free(e->links);
        free(e);
    }
    kl_strmap_cleanup(&inf->cache);
    for (size_t i = 0; i < inf->nidx; i++) {
        it = 0;
        while (kl_strmap_next(&inf->idx[i].buckets, &it, &k, &v)) {
            bucket_t *b = v;
            free(b->value);
            free(b->items);
            free(b);
        }
        kl_strmap_cleanup(&inf->idx[i].buckets);
        free(inf->idx[i].name);
        free(inf->idx[i].label_key);
    }
    free(inf->idx);
    inf->idx = NULL;
    inf->nidx = 0;
    inf->bytes = 0;
}

/* ---- reads --------------------------------------------------------------------------- */

const kl_obj_t *kl_informer_get_key(const kl_informer_t *inf, const char *key)
{
    entry_t *e = key ? kl_strmap_get(&inf->cache, key) : NULL;
    return e ? e->obj : NULL;
}

const kl_obj_t *kl_informer_get(const kl_informer_t *inf, const char *ns, const char *name)
{
    if (name == NULL)
        return NULL;
    if (ns == NULL || *ns == '\0')
        return kl_informer_get_key(inf, name);
    char key[1024];
    if (snprintf(key, sizeof(key), "%s/%s", ns, name) >= (int)sizeof(key))
        return NULL;
    return kl_informer_get_key(inf, key);
}

size_t kl_informer_len(const kl_informer_t *inf)
{
    return kl_strmap_len(&inf->cache);
}

static long find_index(const kl_informer_t *inf, const char *name)
{
    for (size_t i = 0; i < inf->nidx; i++)
        if (strcmp(inf->idx[i].name, name) == 0)
            return (long)i;
    return -1;
}

int kl__informer_add_index(kl_informer_t *inf, const char *name, kl_errinfo_t *err)
{
    int kind;
    const char *label = NULL;
    if (strcmp(name, "namespace") == 0)
        kind = IDX_NAMESPACE;
    else if (strcmp(name, "owner") == 0)
        kind = IDX_OWNER;
    else if (strcmp(name, "node") == 0)
        kind = IDX_NODE;
    else if (strncmp(name, "label:", 6) == 0 && name[6])
        kind = IDX_LABEL, label = name + 6;
    else
        return kl_err(err, KL_EINVAL,
                      "unknown index \"%s\" (namespace, owner, node or label:<key>)", name);
    if (find_index(inf, name) >= 0)
        return 0;
    index_t *ni = realloc(inf->idx, (inf->nidx + 1) * sizeof(*ni));
    if (ni == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    inf->idx = ni;
    index_t *ix = &ni[inf->nidx];
    memset(ix, 0, sizeof(*ix));
    ix->kind = kind;
    ix->name = strdup(name);
    ix->label_key = label ? strdup(label) : NULL;
    kl_strmap_init(&ix->buckets, 0);
    if (ix->name == NULL || (label && ix->label_key == NULL)) {
        free(ix->name);
        free(ix->label_key);
        return kl_err(err, KL_ENOMEM, "out of memory");
    }
    /* Grow every entry's links, then index what is cached. */
    size_t it = 0;
    const char *k;
    void *v;
    while (kl_strmap_next(&inf->cache, &it, &k, &v)) {
        entry_t *e = v;
        link_t *nl = realloc(e->links, (inf->nidx + 1) * sizeof(link_t));
        if (nl == NULL)
            return kl_err(err, KL_ENOMEM, "out of memory");
        nl[inf->nidx] = (link_t){NULL, 0};
        e->links = nl;
    }
    size_t i = inf->nidx++;
    it = 0;
    while (kl_strmap_next(&inf->cache, &it, &k, &v)) {
        entry_t *e = v;
        if (index_add(inf, i, e) < 0)
            return kl_err(err, KL_ENOMEM, "out of memory");
        inf->bytes += sizeof(link_t);
    }
    return 0;
}

int kl_informer_add_index(kl_informer_t *inf, const char *index)
{
    if (index == NULL)
        return KL_EINVAL;
    return kl__informer_add_index(inf, index, NULL);
}

long kl_informer_foreach_keyed(const kl_informer_t *inf, const char *index, const char *value,
                               kl_informer_keyed_visit_fn fn, void *ud)
{
    long n = 0;
    if (index == NULL) {
        size_t it = 0;
        const char *k;
        void *v;
        while (kl_strmap_next(&inf->cache, &it, &k, &v)) {
            n++;
            entry_t *e = v;
            if (!fn(e->obj, e->key, ud))
                break;
        }
        return n;
    }
    long i = find_index(inf, index);
    if (i < 0)
        return KL_EINVAL;
    bucket_t *b = value ? kl_strmap_get(&inf->idx[i].buckets, value) : NULL;
    if (b == NULL)
        return 0;
    for (uint32_t k = 0; k < b->n; k++) {
        n++;
        entry_t *e = b->items[k];
        if (!fn(e->obj, e->key, ud))
            break;
    }
    return n;
}

typedef struct unkeyed {
    kl_informer_visit_fn fn;
    void *ud;
} unkeyed_t;

static bool visit_unkeyed(const kl_obj_t *obj, const char *key, void *ud)
{
    (void)key;
    unkeyed_t *u = ud;
    return u->fn(obj, u->ud);
}

long kl_informer_foreach(const kl_informer_t *inf, const char *index, const char *value,
                         kl_informer_visit_fn fn, void *ud)
{
    unkeyed_t u = {fn, ud};
    return kl_informer_foreach_keyed(inf, index, value, visit_unkeyed, &u);
}

typedef struct collect {
    kl_obj_t **v;
    size_t n;
} collect_t;

static bool collect_fn(const kl_obj_t *obj, void *ud)
{
    collect_t *c = ud;
    c->v[c->n++] = kl_obj_ref(obj);
    return true;
}

static bool count_fn(const kl_obj_t *obj, void *ud)
{
    (void)obj;
    (*(size_t *)ud)++;
    return true;
}

int kl_informer_list(const kl_informer_t *inf, const char *index, const char *value,
                     kl_obj_t ***objs, size_t *n)
{
    size_t cnt = 0;
    long r = kl_informer_foreach(inf, index, value, count_fn, &cnt);
    if (r < 0)
        return (int)r;
    collect_t c = {malloc((cnt ? cnt : 1) * sizeof(kl_obj_t *)), 0};
    if (c.v == NULL)
        return KL_ENOMEM;
    (void)kl_informer_foreach(inf, index, value, collect_fn, &c);
    *objs = c.v;
    *n = c.n;
    return 0;
}

void kl_informer_list_free(kl_obj_t **objs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kl_obj_unref(objs[i]);
    free(objs);
}

/* ---- handlers ------------------------------------------------------------------------ */

int kl_informer_add_handlers(kl_informer_t *inf, const kl_informer_handlers_t *h, void *ud,
                             uint64_t *id)
{
    if (h == NULL)
        return KL_EINVAL;
    compact_handlers(inf);
    if (inf->nhandlers == inf->handlers_cap) {
        size_t cap = inf->handlers_cap ? inf->handlers_cap * 2 : 4;
        handler_t *n = realloc(inf->handlers, cap * sizeof(*n));
        if (n == NULL)
            return KL_ENOMEM;
        inf->handlers = n;
        inf->handlers_cap = cap;
    }
    handler_t *hd = &inf->handlers[inf->nhandlers++];
    memset(hd, 0, sizeof(*hd));
    hd->h = *h;
    hd->ud = ud;
    hd->id = ++inf->next_handler_id;
    /* Objects already cached (and the synced notice) are delivered from the loop. */
    hd->replay = kl_strmap_len(&inf->cache) > 0 || inf->synced;
    if (hd->replay)
        kl__informer_schedule_tick(inf, 0);
    if (id)
        *id = hd->id;
    return 0;
}

void kl_informer_remove_handlers(kl_informer_t *inf, uint64_t id)
{
    for (size_t i = 0; i < inf->nhandlers; i++)
        if (inf->handlers[i].id == id)
            inf->handlers[i].removed = true;
    compact_handlers(inf);
}

void kl__informer_compact_handlers(kl_informer_t *inf)
{
    compact_handlers(inf);
}
