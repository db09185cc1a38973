/* The garbage collector and the namespace controller of the embedded API server.
 *
 * Owner references are indexed as objects change (owner uid -> dependents). Deleting an object
 * deletes its dependents (Background), or first deletes them and then the owner (Foreground,
 * the "foregroundDeletion" finalizer), or strips the references (Orphan, the "orphan"
 * finalizer). A terminating namespace has its content deleted before its "kubernetes"
 * finalizer is cleared. Work is queued and run from an idle handle in bounded steps, so a
 * DELETE answers at once and a large cascade never stalls the loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/log.h"

#include "apiserver/handlers_int.h"

#define STEP_BUDGET 256 /* deletions or updates per idle turn */

typedef enum task_kind {
    T_OWNER_GONE,  /* key = owner uid */
    T_FOREGROUND,  /* key = owner full store key */
    T_ORPHAN,      /* key = owner full store key */
    T_NAMESPACE,   /* key = namespace name */
    T_TABLE_PURGE, /* key = table prefix (a deleted CRD's objects) */
} task_kind_t;

struct kl_gc_task {
    kl_gc_task_t *next;
    task_kind_t kind;
    char key[];
};

typedef struct deps {
    kl_strmap_t keys; /* full store keys of dependents (copied), values unused */
} deps_t;

#define owners (srv->owners)

static void enqueue(kl_apiserver_t *srv, task_kind_t kind, const char *key)
{
    for (kl_gc_task_t *t = srv->gc_head; t; t = t->next)
        if (t->kind == kind && strcmp(t->key, key) == 0)
            return;
    size_t n = strlen(key);
    kl_gc_task_t *t = malloc(sizeof(*t) + n + 1);
    if (t == NULL)
        return;
    t->next = NULL;
    t->kind = kind;
    memcpy(t->key, key, n + 1);
    if (srv->gc_tail)
        srv->gc_tail->next = t;
    else
        srv->gc_head = t;
    srv->gc_tail = t;
    if (!srv->stopping)
        uv_idle_start(&srv->gc_idle, kl_gc_idle_cb);
}

static void dep_add(kl_apiserver_t *srv, const char *owner, const char *key)
{
    deps_t *d = kl_strmap_get(&owners, owner);
    if (d == NULL) {
        d = calloc(1, sizeof(*d));
        if (d == NULL)
            return;
        kl_strmap_init(&d->keys, KL_STRMAP_COPY_KEYS);
        if (kl_strmap_put(&owners, owner, d, NULL) < 0) {
            free(d);
            return;
        }
    }
    if (kl_strmap_put(&d->keys, key, NULL, NULL) < 0)
        KL_WARN("gc", "out of memory indexing a dependent of %s", owner);
}

static void deps_free(deps_t *d)
{
    kl_strmap_cleanup(&d->keys);
    free(d);
}

static void dep_del(kl_apiserver_t *srv, const char *owner, const char *key)
{
    deps_t *d = kl_strmap_get(&owners, owner);
    if (d == NULL)
        return;
    kl_strmap_del(&d->keys, key, NULL);
    if (kl_strmap_len(&d->keys) == 0) {
        kl_strmap_del(&owners, owner, NULL);
        deps_free(d);
    }
}

static bool refs_owner(kl_val_t refs, const char *uid)
{
    for (uint32_t i = 0; i < kl_val_len(refs); i++) {
        const char *u = kl_val_path_str(kl_val_at(refs, i), "uid", NULL);
        if (u && strcmp(u, uid) == 0)
            return true;
    }
    return false;
}

static kl_val_t owner_refs(const kl_sobj_t *o)
{
    return kl_val_path(kl_obj_root(o->doc), "metadata", "ownerReferences", NULL);
}

static const char *uid_of(const kl_sobj_t *o)
{
    return kl_val_path_str(kl_obj_root(o->doc), "metadata", "uid", NULL);
}

static bool has_finalizer(const kl_sobj_t *o, const char *f)
{
    kl_val_t fins = kl_val_path(kl_obj_root(o->doc), "metadata", "finalizers", NULL);
    for (uint32_t i = 0; i < kl_val_len(fins); i++) {
        const char *s = kl_val_str(kl_val_at(fins, i), NULL);
        if (s && strcmp(s, f) == 0)
            return true;
    }
    return false;
}

static void index_object(kl_apiserver_t *srv, const char *key, kl_entry_t *e)
{
    const char *uid = uid_of(e->obj);
    if (uid)
        if (kl_strmap_put(&srv->uids, uid, e, NULL) < 0)
            KL_WARN("gc", "out of memory indexing %s", uid);
    kl_val_t refs = owner_refs(e->obj);
    for (uint32_t i = 0; i < kl_val_len(refs); i++) {
        const char *u = kl_val_path_str(kl_val_at(refs, i), "uid", NULL);
        if (u)
            dep_add(srv, u, key);
    }
}

void kl_gc_index_all(kl_apiserver_t *srv)
{
    size_t nres;
    kl_res_t **all = kl_registry_all(srv->reg, &nres);
    for (size_t r = 0; r < nres; r++) {
        if (all[r]->primary != all[r])
            continue;
        size_t n;
        kl_entry_t **entries = kl_store_sorted(all[r]->table, &n);
        for (size_t i = 0; i < n; i++) {
            char key[1024];
            snprintf(key, sizeof(key), "%s%s", all[r]->table->prefix, entries[i]->name_key);
            index_object(srv, key, entries[i]);
            if (kl_val_path(kl_obj_root(entries[i]->obj->doc), "metadata", "deletionTimestamp",
                            NULL)
                    .doc)
                kl_gc_schedule(srv, all[r], entries[i]->obj);
        }
    }
}

void kl_gc_observe(kl_apiserver_t *srv, const kl_event_t *ev, kl_table_t *table)
{
    const char *uid = uid_of(ev->obj);
    if (ev->prev) {
        kl_val_t refs = owner_refs(ev->prev);
        for (uint32_t i = 0; i < kl_val_len(refs); i++) {
            const char *u = kl_val_path_str(kl_val_at(refs, i), "uid", NULL);
            if (u && (ev->type == KL_EV_DELETED || !refs_owner(owner_refs(ev->obj), u)))
                dep_del(srv, u, ev->key);
        }
    }
    if (ev->type == KL_EV_DELETED) {
        if (uid) {
            kl_strmap_del(&srv->uids, uid, NULL);
            if (kl_strmap_get(&owners, uid))
                enqueue(srv, T_OWNER_GONE, uid);
        }
        if (strcmp(table->prefix, "apiextensions.k8s.io/customresourcedefinitions/") == 0) {
            const char *name = kl_val_path_str(kl_obj_root(ev->obj->doc), "metadata", "name", NULL);
            const char *group = kl_val_path_str(kl_obj_root(ev->obj->doc), "spec", "group", NULL);
            const char *plural =
                kl_val_path_str(kl_obj_root(ev->obj->doc), "spec", "names", "plural", NULL);
            if (name)
                kl_registry_remove_crd(srv->reg, name);
            if (group && plural) {
                char prefix[600];
                snprintf(prefix, sizeof(prefix), "%s/%s/", group, plural);
                enqueue(srv, T_TABLE_PURGE, prefix);
            }
        }
        return;
    }
    kl_entry_t *e = kl_store_get(table, ev->key + strlen(table->prefix));
    if (e == NULL)
        return;
    if (uid)
        if (kl_strmap_put(&srv->uids, uid, e, NULL) < 0)
            KL_WARN("gc", "out of memory indexing %s", uid);
    kl_val_t refs = owner_refs(ev->obj);
    kl_val_t prev_refs = ev->prev ? owner_refs(ev->prev) : (kl_val_t){0};
    bool dangling = false;
    for (uint32_t i = 0; i < kl_val_len(refs); i++) {
        const char *u = kl_val_path_str(kl_val_at(refs, i), "uid", NULL);
        if (u == NULL)
            continue;
        /* An owner the previous version already had is indexed: dep_add's duplicate scan is
         * linear in the owner's dependents, and a Job's 10,000 pods are written many times. */
        if (!ev->prev || !refs_owner(prev_refs, u))
            dep_add(srv, u, ev->key);
        if (kl_strmap_get(&srv->uids, u) == NULL)
            dangling = true;
    }
    if (dangling && ev->type == KL_EV_ADDED) {
        for (uint32_t i = 0; i < kl_val_len(refs); i++) {
            const char *u = kl_val_path_str(kl_val_at(refs, i), "uid", NULL);
            if (u && kl_strmap_get(&srv->uids, u) == NULL)
                enqueue(srv, T_OWNER_GONE, u);
        }
    }
}

void kl_gc_schedule(kl_apiserver_t *srv, kl_res_t *res, const kl_sobj_t *obj)
{
    char key[1024];
    kl_val_t md = kl_val_get(kl_obj_root(obj->doc), "metadata");
    const char *ns = kl_val_path_str(md, "namespace", NULL);
    const char *name = kl_val_path_str(md, "name", NULL);
    if (name == NULL)
        return;
    if (res->namespaced)
        snprintf(key, sizeof(key), "%s%s/%s", res->primary->table->prefix, ns ? ns : "", name);
    else
        snprintf(key, sizeof(key), "%s%s", res->primary->table->prefix, name);
    if (has_finalizer(obj, "foregroundDeletion"))
        enqueue(srv, T_FOREGROUND, key);
    if (has_finalizer(obj, "orphan"))
        enqueue(srv, T_ORPHAN, key);
    if (!*res->group && strcmp(res->kind, "Namespace") == 0)
        enqueue(srv, T_NAMESPACE, name);
}

size_t kl_gc_dependents(kl_apiserver_t *srv, const char *uid, kl_entry_t **out, size_t cap)
{
    deps_t *d = kl_strmap_get(&owners, uid);
    size_t n = d ? kl_strmap_len(&d->keys) : 0;
    return n < cap ? n : cap;
}

/* Looks up a full store key: its table's resource and entry. */
static kl_entry_t *lookup(kl_apiserver_t *srv, const char *key, kl_res_t **res)
{
    const char *s = strchr(key, '/');
    if (s == NULL || (s = strchr(s + 1, '/')) == NULL)
        return NULL;
    char prefix[512];
    size_t n = (size_t)(s + 1 - key);
    if (n >= sizeof(prefix))
        return NULL;
    memcpy(prefix, key, n);
    prefix[n] = '\0';
    kl_table_t *t = kl_store_table(srv->store, prefix);
    if (t == NULL)
        return NULL;
    *res = kl_res_for_table(srv, t);
    if (*res == NULL)
        return NULL;
    return kl_store_get(t, key + n);
}

/* Writes obj back; when it is terminating and has no finalizers left, it goes away. */
static int write_back(kl_apiserver_t *srv, kl_res_t *res, const char *name_key, kl_json_t *obj)
{
    kl_errinfo_t err;
    kl_json_t *md = kl_json_get(obj, "metadata");
    const kl_json_t *fins = kl_json_get(md, "finalizers");
    int rc;
    if (kl_json_get(md, "deletionTimestamp") && (!kl_json_is(fins, KL_TARRAY) || fins->len == 0) &&
        !(!*res->group && !strcmp(res->kind, "Pod") &&
          kl_json_int_or(kl_json_get(md, "deletionGracePeriodSeconds"), 0) > 0))
        rc = kl_persist_delete(srv, res, name_key, obj, &err);
    else
        rc = kl_persist(srv, res, name_key, obj, NULL, &err);
    if (rc < 0)
        KL_WARN("gc", "writing %s%s failed: %s", res->primary->table->prefix, name_key, err.msg);
    return rc;
}

static void remove_finalizer(kl_json_t *obj, const char *f)
{
    kl_json_t *fins = kl_json_path(obj, "metadata", "finalizers", NULL);
    for (uint32_t i = 0; kl_json_is(fins, KL_TARRAY) && i < fins->len; i++) {
        const char *s = kl_json_str(kl_json_at(fins, i));
        if (s && strcmp(s, f) == 0) {
            kl_json_free(kl_json_take_at(fins, i));
            i--;
        }
    }
    if (kl_json_is(fins, KL_TARRAY) && fins->len == 0)
        kl_json_del(kl_json_get(obj, "metadata"), "finalizers");
}

static void strip_owner_ref(kl_json_t *obj, const char *uid)
{
    kl_json_t *refs = kl_json_path(obj, "metadata", "ownerReferences", NULL);
    for (uint32_t i = 0; kl_json_is(refs, KL_TARRAY) && i < refs->len; i++) {
        const char *u = kl_json_path_str(kl_json_at(refs, i), "uid", NULL);
        if (u && strcmp(u, uid) == 0) {
            kl_json_free(kl_json_take_at(refs, i));
            i--;
        }
    }
    if (kl_json_is(refs, KL_TARRAY) && refs->len == 0)
        kl_json_del(kl_json_get(obj, "metadata"), "ownerReferences");
}

/* Copies the dependents of uid (the list changes while we work on it). */
static char **snapshot_deps(kl_apiserver_t *srv, const char *uid, size_t *n)
{
    deps_t *d = kl_strmap_get(&owners, uid);
    *n = 0;
    if (d == NULL || kl_strmap_len(&d->keys) == 0)
        return NULL;
    char **out = calloc(kl_strmap_len(&d->keys), sizeof(char *));
    size_t it = 0;
    const char *k;
    while (out && kl_strmap_next(&d->keys, &it, &k, NULL))
        if ((out[*n] = strdup(k)) != NULL)
            (*n)++;
    return out;
}

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

/* Deletes the dependents of uid whose owners are all gone, and strips the dangling reference
 * from those with other live owners. Returns true when done. */
static bool run_owner_gone(kl_apiserver_t *srv, const char *uid, int *budget)
{
    if (kl_strmap_get(&srv->uids, uid))
        return true; /* the owner exists (again): nothing dangles */
    size_t n;
    char **keys = snapshot_deps(srv, uid, &n);
    bool done = true;
    for (size_t i = 0; i < n; i++) {
        if (*budget <= 0) {
            done = false;
            break;
        }
        kl_res_t *res;
        kl_entry_t *e = lookup(srv, keys[i], &res);
        if (e == NULL) {
            dep_del(srv, uid, keys[i]);
            continue;
        }
        (*budget)--;
        kl_val_t refs = owner_refs(e->obj);
        bool other_owner = false;
        for (uint32_t k = 0; k < kl_val_len(refs); k++) {
            const char *u = kl_val_path_str(kl_val_at(refs, k), "uid", NULL);
            if (u && strcmp(u, uid) != 0 && kl_strmap_get(&srv->uids, u))
                other_owner = true;
        }
        if (other_owner) {
            kl_json_t *obj = kl_json_from_val(kl_obj_root(e->obj->doc));
            if (obj) {
                strip_owner_ref(obj, uid);
                char nk[600];
                snprintf(nk, sizeof(nk), "%s", e->name_key);
                write_back(srv, res, nk, obj);
                kl_json_free(obj);
            }
            continue;
        }
        if (kl_val_path(kl_obj_root(e->obj->doc), "metadata", "deletionTimestamp", NULL).doc) {
            /* Already terminating; it leaves the list when it is really gone. */
            continue;
        }
        kl_json_t *result = NULL;
        kl_errinfo_t err;
        if (kl_delete_entry(srv, res, e, KL_GC_BACKGROUND, 1, -1, 0, &result, &err) < 0)
            KL_WARN("gc", "deleting dependent %s: %s", keys[i], err.msg);
        kl_json_free(result);
    }
    /* Terminating dependents keep the owner's entry until they go. */
    if (done && kl_strmap_get(&owners, uid)) {
        deps_t *d = kl_strmap_get(&owners, uid);
        bool all_terminating = true;
        size_t it = 0;
        const char *k;
        while (d && kl_strmap_next(&d->keys, &it, &k, NULL)) {
            kl_res_t *res;
            kl_entry_t *e = lookup(srv, k, &res);
            if (e &&
                !kl_val_path(kl_obj_root(e->obj->doc), "metadata", "deletionTimestamp", NULL).doc)
                all_terminating = false;
        }
        done = all_terminating;
    }
    free_list(keys, n);
    return done;
}

/* Foreground: delete the dependents, then drop the owner's finalizer once none is left. */
static bool run_foreground(kl_apiserver_t *srv, const char *key, int *budget)
{
    kl_res_t *res;
    kl_entry_t *owner = lookup(srv, key, &res);
    if (owner == NULL || !has_finalizer(owner->obj, "foregroundDeletion"))
        return true;
    const char *uid = uid_of(owner->obj);
    char uidbuf[64];
    snprintf(uidbuf, sizeof(uidbuf), "%s", uid ? uid : "");
    size_t n;
    char **keys = snapshot_deps(srv, uidbuf, &n);
    size_t remaining = 0;
    for (size_t i = 0; i < n; i++) {
        kl_res_t *dres;
        kl_entry_t *e = lookup(srv, keys[i], &dres);
        if (e == NULL) {
            dep_del(srv, uidbuf, keys[i]);
            continue;
        }
        remaining++;
        if (kl_val_path(kl_obj_root(e->obj->doc), "metadata", "deletionTimestamp", NULL).doc ||
            *budget <= 0)
            continue;
        (*budget)--;
        kl_json_t *result = NULL;
        kl_errinfo_t err;
        if (kl_delete_entry(srv, dres, e, KL_GC_FOREGROUND, 1, -1, 0, &result, &err) < 0)
            KL_WARN("gc", "deleting dependent %s: %s", keys[i], err.msg);
        kl_json_free(result);
    }
    free_list(keys, n);
    owner = lookup(srv, key, &res);
    if (owner == NULL)
        return true;
    if (remaining > 0 || kl_strmap_get(&owners, uidbuf))
        return false;
    kl_json_t *obj = kl_json_from_val(kl_obj_root(owner->obj->doc));
    if (obj) {
        remove_finalizer(obj, "foregroundDeletion");
        char nk[600];
        snprintf(nk, sizeof(nk), "%s", owner->name_key);
        write_back(srv, res, nk, obj);
        kl_json_free(obj);
    }
    return true;
}

/* Orphan: strip the owner reference from every dependent, then drop the finalizer. */
static bool run_orphan(kl_apiserver_t *srv, const char *key, int *budget)
{
    kl_res_t *res;
    kl_entry_t *owner = lookup(srv, key, &res);
    if (owner == NULL || !has_finalizer(owner->obj, "orphan"))
        return true;
    char uid[64];
    snprintf(uid, sizeof(uid), "%s", uid_of(owner->obj) ? uid_of(owner->obj) : "");
    size_t n;
    char **keys = snapshot_deps(srv, uid, &n);
    bool done = true;
    for (size_t i = 0; i < n; i++) {
        if (*budget <= 0) {
            done = false;
            break;
        }
        kl_res_t *dres;
        kl_entry_t *e = lookup(srv, keys[i], &dres);
        if (e == NULL) {
            dep_del(srv, uid, keys[i]);
            continue;
        }
        (*budget)--;
        kl_json_t *obj = kl_json_from_val(kl_obj_root(e->obj->doc));
        if (obj) {
            strip_owner_ref(obj, uid);
            char nk[600];
            snprintf(nk, sizeof(nk), "%s", e->name_key);
            write_back(srv, dres, nk, obj);
            kl_json_free(obj);
        }
    }
    free_list(keys, n);
    if (!done)
        return false;
    owner = lookup(srv, key, &res);
    if (owner == NULL)
        return true;
    kl_json_t *obj = kl_json_from_val(kl_obj_root(owner->obj->doc));
    if (obj) {
        remove_finalizer(obj, "orphan");
        char nk[600];
        snprintf(nk, sizeof(nk), "%s", owner->name_key);
        write_back(srv, res, nk, obj);
        kl_json_free(obj);
    }
    return true;
}

/* Namespace: delete everything in it; once empty, clear the "kubernetes" finalizer. */
static bool run_namespace(kl_apiserver_t *srv, const char *ns, int *budget)
{
    kl_res_t *nsres = kl_registry_find(srv->reg, "", "v1", "namespaces");
    kl_entry_t *nse = nsres ? kl_store_get(nsres->table, ns) : NULL;
    if (nse == NULL)
        return true;
    size_t nres;
    kl_res_t **all = kl_registry_all(srv->reg, &nres);
    size_t remaining = 0;
    size_t plen = strlen(ns);
    for (size_t r = 0; r < nres; r++) {
        kl_res_t *res = all[r];
        if (res->primary != res || !res->namespaced)
            continue;
        size_t n;
        kl_entry_t **entries = kl_store_sorted(res->table, &n);
        /* Keys are "ns/name", sorted: find the namespace's range. */
        char **keys = calloc(n ? n : 1, sizeof(char *));
        size_t nk = 0;
        for (size_t i = 0; keys && i < n; i++)
            if (strncmp(entries[i]->name_key, ns, plen) == 0 && entries[i]->name_key[plen] == '/')
                keys[nk++] = strdup(entries[i]->name_key);
        remaining += nk;
        for (size_t i = 0; i < nk; i++) {
            kl_entry_t *e = keys[i] ? kl_store_get(res->table, keys[i]) : NULL;
            if (e == NULL || *budget <= 0 ||
                kl_val_path(kl_obj_root(e->obj->doc), "metadata", "deletionTimestamp", NULL).doc)
                continue;
            (*budget)--;
            kl_json_t *result = NULL;
            kl_errinfo_t err;
            if (kl_delete_entry(srv, res, e, KL_GC_BACKGROUND, 1, -1, 0, &result, &err) < 0)
                KL_WARN("gc", "namespace %s: deleting %s: %s", ns, keys[i], err.msg);
            kl_json_free(result);
        }
        free_list(keys, nk);
    }
    if (remaining > 0)
        return false;
    nse = kl_store_get(nsres->table, ns);
    if (nse == NULL)
        return true;
    kl_json_t *obj = kl_json_from_val(kl_obj_root(nse->obj->doc));
    if (obj) {
        kl_json_del(kl_json_get(obj, "spec"), "finalizers");
        write_back(srv, nsres, ns, obj);
        kl_json_free(obj);
    }
    return true;
}

static bool run_table_purge(kl_apiserver_t *srv, const char *prefix, int *budget)
{
    kl_table_t *t = kl_store_table(srv->store, prefix);
    kl_res_t *res = t ? kl_res_for_table(srv, t) : NULL;
    if (t == NULL || res == NULL)
        return true;
    size_t n;
    kl_entry_t **entries = kl_store_sorted(t, &n);
    if (n == 0)
        return true;
    char **keys = calloc(n, sizeof(char *));
    size_t nk = 0;
    for (size_t i = 0; keys && i < n && (int)nk < *budget; i++)
        keys[nk++] = strdup(entries[i]->name_key);
    for (size_t i = 0; i < nk; i++) {
        kl_entry_t *e = keys[i] ? kl_store_get(t, keys[i]) : NULL;
        if (e == NULL)
            continue;
        (*budget)--;
        kl_json_t *obj = kl_json_from_val(kl_obj_root(e->obj->doc));
        kl_errinfo_t err;
        if (obj)
            kl_persist_delete(srv, res, keys[i], obj, &err);
        kl_json_free(obj);
    }
    free_list(keys, nk);
    return kl_strmap_len(&t->objects) == 0;
}

bool kl_gc_run(kl_apiserver_t *srv)
{
    int budget = STEP_BUDGET;
    size_t tasks = 0;
    for (kl_gc_task_t *t = srv->gc_head; t; t = t->next)
        tasks++;
    /* Each task is looked at once per turn; unfinished ones go to the back. */
    while (srv->gc_head && tasks-- > 0 && budget > 0) {
        kl_gc_task_t *t = srv->gc_head;
        srv->gc_head = t->next;
        if (srv->gc_head == NULL)
            srv->gc_tail = NULL;
        t->next = NULL;
        bool done = true;
        switch (t->kind) {
        case T_OWNER_GONE:
            done = run_owner_gone(srv, t->key, &budget);
            break;
        case T_FOREGROUND:
            done = run_foreground(srv, t->key, &budget);
            break;
        case T_ORPHAN:
            done = run_orphan(srv, t->key, &budget);
            break;
        case T_NAMESPACE:
            done = run_namespace(srv, t->key, &budget);
            break;
        case T_TABLE_PURGE:
            done = run_table_purge(srv, t->key, &budget);
            break;
        }
        if (done) {
            free(t);
        } else {
            if (srv->gc_tail)
                srv->gc_tail->next = t;
            else
                srv->gc_head = t;
            srv->gc_tail = t;
        }
    }
    /* Tasks that wait on other objects (terminating dependents) are retried by the tick. */
    return budget <= 0 && srv->gc_head != NULL;
}

void kl_gc_cleanup(kl_apiserver_t *srv)
{
    while (srv->gc_head) {
        kl_gc_task_t *t = srv->gc_head;
        srv->gc_head = t->next;
        free(t);
    }
    srv->gc_tail = NULL;
    size_t it = 0;
    const char *k;
    void *v;
    while (kl_strmap_next(&owners, &it, &k, &v)) {
        deps_free(v);
    }
    kl_strmap_cleanup(&owners);
}
