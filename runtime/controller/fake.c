/* The fake cluster of `kubelua test`. See fake.h. */
#include "controller/fake.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/client.h"
#include "kubelua/ktime.h"
#include "kubelua/log.h"
#include "kubelua/patch.h"
#include "kubelua/schema.h"
#include "kubelua/strmap.h"

#include "apiserver/ferr.h"
#include "apiserver/strategy.h"

typedef struct sub {
    kl_change_cb cb;
    void *ud;
} sub_t;

typedef struct fres {
    kl_rtype_t r;
    size_t replaying; /* replayed adds not yet delivered: not "synced" until they are */
    bool has_status;
    bool generation;
    kl_strmap_t objs; /* "ns/name" or "name" -> kl_obj_t * (one reference) */
    sub_t *subs;
    size_t nsubs;
} fres_t;

typedef enum dkind { D_WRITE, D_CHANGE } dkind_t;

typedef struct delivery {
    struct delivery *next;
    dkind_t kind;
    /* write */
    kl_write_cb cb;
    void *ud;
    int rc;
    kl_write_status_t status;
    kl_obj_t *result;
    /* change */
    fres_t *res;
    kl_change_t change;
    kl_obj_t *obj, *old;
    int only_sub; /* a replay for one new subscriber (its index + 1), or 0 for all */
} delivery_t;

struct kl_fake {
    kl_backend_t base;
    uv_loop_t *loop;
    uv_idle_t *idle;
    fres_t **res;
    size_t nres, cap;
    int64_t rv;
    uint64_t uids;
    uint64_t names;
    double now;
    delivery_t *head, *tail;
    kl_fake_write_t *writes;
    size_t nwrites, wcap;
    int gc_depth;
    struct fault *faults;
};

typedef struct fault {
    struct fault *next;
    kl_write_op_t op;
    char *resource, *name, *reason, *message;
    int code, times;
} fault_t;

static const struct {
    const char *spec, *kind;
    bool namespaced, has_status;
} builtins[] = {
    {"v1/pods", "Pod", true, true},
    {"v1/nodes", "Node", false, true},
    {"v1/namespaces", "Namespace", false, true},
    {"v1/events", "Event", true, false},
    {"v1/configmaps", "ConfigMap", true, false},
    {"v1/secrets", "Secret", true, false},
    {"v1/serviceaccounts", "ServiceAccount", true, false},
    {"v1/services", "Service", true, true},
    {"apps/v1/daemonsets", "DaemonSet", true, true},
    {"apps/v1/deployments", "Deployment", true, true},
    {"apps/v1/replicasets", "ReplicaSet", true, true},
    {"apps/v1/controllerrevisions", "ControllerRevision", true, false},
    {"batch/v1/jobs", "Job", true, true},
    {"batch/v1/cronjobs", "CronJob", true, true},
    {"coordination.k8s.io/v1/leases", "Lease", true, false},
    {"events.k8s.io/v1/events", "Event", true, false},
};

/* ---- Resources -------------------------------------------------------------------------- */

static fres_t *add_resource(kl_fake_t *f, const char *spec, const char *kind, bool namespaced,
                            bool has_status)
{
    char g[128] = "", v[64], r[128];
    const char *s1 = strchr(spec, '/');
    if (s1 == NULL)
        return NULL;
    const char *s2 = strchr(s1 + 1, '/');
    if (s2) {
        snprintf(g, sizeof(g), "%.*s", (int)(s1 - spec), spec);
        snprintf(v, sizeof(v), "%.*s", (int)(s2 - s1 - 1), s1 + 1);
        snprintf(r, sizeof(r), "%s", s2 + 1);
    } else {
        snprintf(v, sizeof(v), "%.*s", (int)(s1 - spec), spec);
        snprintf(r, sizeof(r), "%s", s1 + 1);
    }
    fres_t *fr = calloc(1, sizeof(*fr));
    if (fr == NULL)
        return NULL;
    char av[200];
    snprintf(av, sizeof(av), "%s%s%s", g, *g ? "/" : "", v);
    fr->r.group = strdup(g);
    fr->r.version = strdup(v);
    fr->r.resource = strdup(r);
    fr->r.kind = strdup(kind);
    fr->r.api_version = strdup(av);
    fr->r.spec = strdup(spec);
    fr->r.namespaced = namespaced;
    fr->r.impl = fr;
    fr->has_status = has_status;
    fr->generation = *g && strcmp(g, "coordination.k8s.io") && strcmp(g, "events.k8s.io");
    kl_strmap_init(&fr->objs, KL_STRMAP_COPY_KEYS);
    if (f->nres == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 32;
        fres_t **n = realloc(f->res, cap * sizeof(*n));
        if (n == NULL)
            return NULL;
        f->res = n;
        f->cap = cap;
    }
    f->res[f->nres++] = fr;
    return fr;
}

static fres_t *find_spec(kl_fake_t *f, const char *spec)
{
    for (size_t i = 0; i < f->nres; i++)
        if (strcmp(f->res[i]->r.spec, spec) == 0)
            return f->res[i];
    return NULL;
}

static fres_t *find_kind(kl_fake_t *f, const char *api_version, const char *kind)
{
    for (size_t i = 0; i < f->nres; i++)
        if (strcmp(f->res[i]->r.api_version, api_version) == 0 &&
            strcmp(f->res[i]->r.kind, kind) == 0)
            return f->res[i];
    return NULL;
}

const char *kl_fake_spec_for(kl_fake_t *f, const char *api_version, const char *kind)
{
    fres_t *r = find_kind(f, api_version, kind);
    return r ? r->r.spec : NULL;
}

int kl_fake_define(kl_fake_t *f, const char *spec, const char *kind, bool namespaced)
{
    if (find_spec(f, spec))
        return 0;
    return add_resource(f, spec, kind, namespaced, true) ? 0 : KL_ENOMEM;
}

/* ---- Delivery --------------------------------------------------------------------------- */

static void pump(uv_idle_t *h);

static void enqueue(kl_fake_t *f, delivery_t *d)
{
    d->next = NULL;
    if (f->tail)
        f->tail->next = d;
    else
        f->head = d;
    f->tail = d;
    if (f->idle)
        uv_idle_start(f->idle, pump);
}

static void notify(kl_fake_t *f, fres_t *r, kl_change_t change, const kl_obj_t *obj,
                   const kl_obj_t *old)
{
    delivery_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return;
    d->kind = D_CHANGE;
    d->res = r;
    d->change = change;
    d->obj = kl_obj_ref(obj);
    d->old = kl_obj_ref(old);
    enqueue(f, d);
}

static void pump(uv_idle_t *h)
{
    kl_fake_t *f = h->data;
    for (int budget = 100000; f->head && budget > 0; budget--) {
        delivery_t *d = f->head;
        f->head = d->next;
        if (f->head == NULL)
            f->tail = NULL;
        if (d->kind == D_WRITE) {
            d->cb(d->rc, d->result, d->rc == 0 ? NULL : &d->status, d->ud);
        } else if (d->only_sub > 0) {
            sub_t *sub = &d->res->subs[d->only_sub - 1];
            d->res->replaying--;
            sub->cb(&d->res->r, d->change, d->obj, d->old, sub->ud);
            kl_obj_unref(d->obj);
        } else {
            for (size_t i = 0; i < d->res->nsubs; i++)
                d->res->subs[i].cb(&d->res->r, d->change, d->obj, d->old, d->res->subs[i].ud);
            kl_obj_unref(d->obj);
            kl_obj_unref(d->old);
        }
        free(d);
    }
    if (f->head == NULL)
        uv_idle_stop(h);
}

bool kl_fake_idle(const kl_fake_t *f)
{
    return f->head == NULL;
}

/* ---- Objects ---------------------------------------------------------------------------- */

static void obj_key(const fres_t *r, const char *ns, const char *name, char *out, size_t cap)
{
    if (r->r.namespaced)
        snprintf(out, cap, "%s/%s", ns ? ns : "", name);
    else
        snprintf(out, cap, "%s", name);
}

static void format_now(kl_fake_t *f, char *out)
{
    kl_time_format_rfc3339((int64_t)f->now, out);
}

/* Freezes j, stores it under key (replacing), and notifies. Returns the stored object. */
static kl_obj_t *store(kl_fake_t *f, fres_t *r, const char *key, kl_json_t *j)
{
    char rv[32];
    snprintf(rv, sizeof(rv), "%lld", (long long)++f->rv);
    kl_json_t *md = kl_json_ensure_object(j, "metadata");
    if (md == NULL || kl_json_set_str(md, "resourceVersion", rv) < 0)
        return NULL;
    kl_normalize_meta(j);
    kl_obj_t *doc;
    if (kl_obj_from_json(j, &doc) < 0)
        return NULL;
    void *old = NULL;
    if (kl_strmap_put(&r->objs, key, doc, &old) < 0) {
        kl_obj_unref(doc);
        return NULL;
    }
    notify(f, r, old ? KL_CHANGE_UPDATE : KL_CHANGE_ADD, doc, old);
    kl_obj_unref(old);
    return doc;
}

static void gc_dependents(kl_fake_t *f, const char *uid, bool orphan);

static int remove_key(kl_fake_t *f, fres_t *r, const char *key)
{
    void *old = NULL;
    if (kl_strmap_del(&r->objs, key, &old) < 0)
        return KL_ENOTFOUND;
    kl_obj_t *doc = old;
    notify(f, r, KL_CHANGE_DELETE, doc, NULL);
    char uid[64] = "";
    const char *u = kl_val_path_str(kl_obj_root(doc), "metadata", "uid", NULL);
    if (u)
        snprintf(uid, sizeof(uid), "%s", u);
    kl_obj_unref(doc);
    if (*uid)
        gc_dependents(f, uid, false);
    return 0;
}

static void next_uid(kl_fake_t *f, char *out)
{
    snprintf(out, 40, "00000000-0000-4000-8000-%012llx", (unsigned long long)++f->uids);
}

static void next_suffix(kl_fake_t *f, char *out)
{
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    uint64_t n = ++f->names * 7919 + 104729;
    for (int i = 0; i < 5; i++) {
        out[i] = alphabet[n % 27];
        n /= 27;
    }
    out[5] = '\0';
}

/* Fills the fields an API server sets on create. */
static int prepare_new(kl_fake_t *f, fres_t *r, kl_json_t *j, const char *ns, bool strict,
                       kl_ferrs_t *errs)
{
    kl_json_t *md = kl_json_ensure_object(j, "metadata");
    if (md == NULL)
        return KL_EINVAL;
    if (kl_json_set_str(j, "apiVersion", r->r.api_version) < 0 ||
        kl_json_set_str(j, "kind", r->r.kind) < 0)
        return KL_ENOMEM;
    if (r->r.namespaced) {
        const char *bns = kl_json_path_str(md, "namespace", NULL);
        if (kl_json_set_str(md, "namespace", ns ? ns : (bns ? bns : "default")) < 0)
            return KL_ENOMEM;
    }
    const char *name = kl_json_path_str(md, "name", NULL);
    const char *gen = kl_json_path_str(md, "generateName", NULL);
    if ((name == NULL || !*name) && gen) {
        char buf[300], sfx[6];
        next_suffix(f, sfx);
        snprintf(buf, sizeof(buf), "%s%s", gen, sfx);
        if (kl_json_set_str(md, "name", buf) < 0)
            return KL_ENOMEM;
    }
    /* A controller's create always gets a new uid; a fixture may bring its own. */
    if (strict || kl_json_get(md, "uid") == NULL) {
        char uid[40];
        next_uid(f, uid);
        if (kl_json_set_str(md, "uid", uid) < 0)
            return KL_ENOMEM;
    }
    if (strict || kl_json_get(md, "creationTimestamp") == NULL) {
        char ts[40];
        format_now(f, ts);
        if (kl_json_set_str(md, "creationTimestamp", ts) < 0)
            return KL_ENOMEM;
    }
    if (r->generation && (strict || kl_json_get(md, "generation") == NULL))
        if (kl_json_set_int(md, "generation", 1) < 0)
            return KL_ENOMEM;
    if (strict) {
        kl_json_del(md, "deletionTimestamp");
        kl_json_del(md, "deletionGracePeriodSeconds");
        if (r->has_status && strcmp(r->r.kind, "Node") != 0)
            kl_json_del(j, "status");
    }
    const kl_strategy_t *s = kl_strategy_for(r->r.group, r->r.kind);
    if (s->defaults && s->defaults(j) < 0)
        return KL_ENOMEM;
    if (strict && s->prepare_create && s->prepare_create(j) < 0)
        return KL_ENOMEM;
    if (errs) {
        kl_validate_object_meta(j, r->r.namespaced, "subdomain", errs);
        s->validate(j, NULL, errs);
    }
    return 0;
}

/* Fields the server derives that a put leaves out: a Job's generated selector and labels
 * (when it gives no selector) and a DaemonSet's template generation (when it gives no
 * annotation). Anything the spec spells out stays as written. */
static int put_derived_fields(fres_t *r, const kl_json_t *given, kl_json_t *j, const kl_obj_t *cur)
{
    const kl_strategy_t *s = kl_strategy_for(r->r.group, r->r.kind);
    if (strcmp(r->r.spec, "batch/v1/jobs") == 0 && cur == NULL &&
        kl_json_path(given, "spec", "selector", NULL) == NULL && s->prepare_create)
        return s->prepare_create(j);
    if (strcmp(r->r.spec, "apps/v1/daemonsets") == 0 &&
        kl_json_path(given, "metadata", "annotations", KL_DS_TEMPLATE_GENERATION, NULL) == NULL) {
        if (cur == NULL)
            return s->prepare_create ? s->prepare_create(j) : 0;
        kl_json_t *old = kl_json_from_val(kl_obj_root(cur));
        int rc = old && s->prepare_update ? s->prepare_update(j, old) : old ? 0 : KL_ENOMEM;
        kl_json_free(old);
        return rc;
    }
    return 0;
}

int kl_fake_put(kl_fake_t *f, const kl_json_t *obj, kl_errinfo_t *err)
{
    const char *av = kl_json_path_str(obj, "apiVersion", NULL);
    const char *kind = kl_json_path_str(obj, "kind", NULL);
    fres_t *r = av && kind ? find_kind(f, av, kind) : NULL;
    if (r == NULL)
        return kl_err(err, KL_ENOTFOUND, "unknown kind %s %s (declare custom resources first)",
                      av ? av : "?", kind ? kind : "?");
    kl_json_t *j = kl_json_dup(obj);
    if (j == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    int rc =
        prepare_new(f, r, j, kl_json_path_str(obj, "metadata", "namespace", NULL), false, NULL);
    const char *name = kl_json_path_str(j, "metadata", "name", NULL);
    if (rc < 0 || name == NULL) {
        kl_json_free(j);
        return kl_err(err, rc < 0 ? rc : KL_EINVAL, "object without metadata.name");
    }
    char key[600];
    obj_key(r, kl_json_path_str(j, "metadata", "namespace", NULL), name, key, sizeof(key));
    kl_obj_t *cur = kl_strmap_get(&r->objs, key);
    if (put_derived_fields(r, obj, j, cur) < 0) {
        kl_json_free(j);
        return kl_err(err, KL_ENOMEM, "out of memory");
    }
    if (cur) {
        /* An update by someone else: what the server owns stays unless given. */
        kl_val_t cmd = kl_val_get(kl_obj_root(cur), "metadata");
        kl_json_t *md = kl_json_get(j, "metadata");
        const kl_json_t *given = kl_json_get(obj, "metadata");
        const char *keep[] = {"uid", "creationTimestamp", "generation", "deletionTimestamp", NULL};
        for (size_t i = 0; keep[i]; i++) {
            kl_val_t v = kl_val_get(cmd, keep[i]);
            if (!kl_val_missing(v) && kl_json_get(given, keep[i]) == NULL) {
                kl_json_del(md, keep[i]);
                if (kl_json_set(md, keep[i], kl_json_from_val(v)) < 0) {
                    kl_json_free(j);
                    return kl_err(err, KL_ENOMEM, "out of memory");
                }
            }
        }
        kl_val_t st = kl_val_get(kl_obj_root(cur), "status");
        if (!kl_val_missing(st) && kl_json_get(obj, "status") == NULL &&
            kl_json_set(j, "status", kl_json_from_val(st)) < 0) {
            kl_json_free(j);
            return kl_err(err, KL_ENOMEM, "out of memory");
        }
        if (r->generation && kl_json_get(given, "generation") == NULL) {
            kl_json_t *a = kl_json_from_val(kl_obj_root(cur)), *b = kl_json_dup(j);
            kl_json_del(a, "metadata");
            kl_json_del(a, "status");
            kl_json_del(b, "metadata");
            kl_json_del(b, "status");
            if (!kl_json_equal(a, b)) {
                int64_t g = kl_val_int(kl_val_get(cmd, "generation"));
                if (kl_json_set_int(md, "generation", g + 1) < 0) {
                    kl_json_free(a);
                    kl_json_free(b);
                    kl_json_free(j);
                    return kl_err(err, KL_ENOMEM, "out of memory");
                }
            }
            kl_json_free(a);
            kl_json_free(b);
        }
    }
    kl_obj_t *stored = store(f, r, key, j);
    kl_json_free(j);
    return stored ? 0 : kl_err(err, KL_ENOMEM, "out of memory");
}

int kl_fake_remove(kl_fake_t *f, const char *spec, const char *ns, const char *name)
{
    fres_t *r = find_spec(f, spec);
    if (r == NULL)
        return KL_ENOTFOUND;
    char key[600];
    obj_key(r, ns, name, key, sizeof(key));
    return remove_key(f, r, key);
}

const kl_obj_t *kl_fake_get(kl_fake_t *f, const char *spec, const char *ns, const char *name)
{
    fres_t *r = find_spec(f, spec);
    if (r == NULL)
        return NULL;
    char key[600];
    obj_key(r, ns, name, key, sizeof(key));
    return kl_strmap_get(&r->objs, key);
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted keys of a resource (caller frees the array, not the strings). */
static const char **sorted_keys(fres_t *r, size_t *n)
{
    *n = kl_strmap_len(&r->objs);
    const char **keys = malloc((*n ? *n : 1) * sizeof(char *));
    if (keys == NULL) {
        *n = 0;
        return NULL;
    }
    size_t it = 0, i = 0;
    const char *k;
    void *v;
    while (kl_strmap_next(&r->objs, &it, &k, &v))
        keys[i++] = k;
    qsort(keys, *n, sizeof(char *), cmp_keys);
    return keys;
}

size_t kl_fake_list(kl_fake_t *f, const char *spec, const kl_obj_t **out, size_t cap)
{
    fres_t *r = find_spec(f, spec);
    if (r == NULL)
        return 0;
    size_t n;
    const char **keys = sorted_keys(r, &n);
    size_t m = 0;
    for (size_t i = 0; keys && i < n && m < cap; i++)
        out[m++] = kl_strmap_get(&r->objs, keys[i]);
    free(keys);
    return m;
}

void kl_fake_set_now(kl_fake_t *f, double t)
{
    f->now = t;
    kl_time_set_fake_now_ms((int64_t)(t * 1000));
}

double kl_fake_now(const kl_fake_t *f)
{
    return f->now;
}

/* ---- Garbage collection ----------------------------------------------------------------- */

static int delete_object(kl_fake_t *f, fres_t *r, const char *key, const char *propagation);

static void gc_dependents(kl_fake_t *f, const char *uid, bool orphan)
{
    if (++f->gc_depth > 16) {
        f->gc_depth--;
        return;
    }
    for (size_t i = 0; i < f->nres; i++) {
        fres_t *r = f->res[i];
        size_t n;
        const char **keys = sorted_keys(r, &n);
        char **copy = calloc(n ? n : 1, sizeof(char *));
        for (size_t k = 0; copy && k < n; k++)
            copy[k] = strdup(keys[k]);
        free(keys);
        for (size_t k = 0; copy && k < n; k++) {
            const kl_obj_t *o = copy[k] ? kl_strmap_get(&r->objs, copy[k]) : NULL;
            if (o == NULL || !kl_owned_by(o, uid, false))
                continue;
            if (orphan) {
                kl_json_t *j = kl_json_from_val(kl_obj_root(o));
                kl_json_t *refs = kl_json_path(j, "metadata", "ownerReferences", NULL);
                for (uint32_t x = 0; kl_json_is(refs, KL_TARRAY) && x < refs->len; x++) {
                    const char *u = kl_json_path_str(kl_json_at(refs, x), "uid", NULL);
                    if (u && strcmp(u, uid) == 0)
                        kl_json_free(kl_json_take_at(refs, x--));
                }
                store(f, r, copy[k], j);
                kl_json_free(j);
            } else {
                delete_object(f, r, copy[k], "Background");
            }
        }
        for (size_t k = 0; copy && k < n; k++)
            free(copy[k]);
        free(copy);
    }
    f->gc_depth--;
}

/* Deletes or starts deleting (finalizers) the object at key. */
static int delete_object(kl_fake_t *f, fres_t *r, const char *key, const char *propagation)
{
    kl_obj_t *o = kl_strmap_get(&r->objs, key);
    if (o == NULL)
        return KL_ENOTFOUND;
    kl_val_t fins = kl_val_path(kl_obj_root(o), "metadata", "finalizers", NULL);
    if (kl_val_len(fins) > 0) {
        if (kl_val_missing(kl_val_path(kl_obj_root(o), "metadata", "deletionTimestamp", NULL))) {
            kl_json_t *j = kl_json_from_val(kl_obj_root(o));
            char ts[40];
            format_now(f, ts);
            kl_json_t *md = kl_json_get(j, "metadata");
            if (kl_json_set_str(md, "deletionTimestamp", ts) < 0 ||
                kl_json_set_int(md, "deletionGracePeriodSeconds", 0) < 0) {
                kl_json_free(j);
                return KL_ENOMEM;
            }
            store(f, r, key, j);
            kl_json_free(j);
        }
        return 0;
    }
    /* Without a policy, batch/v1 Jobs orphan their pods, as the real server does for backward
     * compatibility (kubectl sends Background explicitly). */
    if (propagation == NULL && strcmp(r->r.spec, "batch/v1/jobs") == 0)
        propagation = "Orphan";
    if (propagation && strcmp(propagation, "Orphan") == 0) {
        const char *u = kl_val_path_str(kl_obj_root(o), "metadata", "uid", NULL);
        char uid[64];
        snprintf(uid, sizeof(uid), "%s", u ? u : "");
        gc_dependents(f, uid, true);
    }
    return remove_key(f, r, key);
}

/* ---- Backend operations ----------------------------------------------------------------- */

static int op_resolve(kl_backend_t *b, const char *spec, kl_rtype_t **out, kl_errinfo_t *err)
{
    kl_fake_t *f = (kl_fake_t *)b;
    fres_t *r = find_spec(f, spec);
    if (r == NULL)
        return kl_err(err, KL_ENOTFOUND,
                      "unknown resource %s (resources are written group/version/plural, e.g. "
                      "\"batch/v1/jobs\" or \"v1/pods\")",
                      spec);
    *out = &r->r;
    return 0;
}

static const kl_obj_t *op_get(kl_backend_t *b, kl_rtype_t *res, const char *ns, const char *name)
{
    fres_t *r = res->impl;
    char key[600];
    obj_key(r, ns, name, key, sizeof(key));
    return kl_strmap_get(&r->objs, key);
}

static void op_each(kl_backend_t *b, kl_rtype_t *res, const kl_cache_query_t *q,
                    bool (*fn)(const kl_obj_t *obj, void *ud), void *ud)
{
    fres_t *r = res->impl;
    size_t n;
    const char **keys = sorted_keys(r, &n);
    for (size_t i = 0; keys && i < n; i++) {
        const kl_obj_t *o = kl_strmap_get(&r->objs, keys[i]);
        if (o && kl_cache_query_match(q, o) && !fn(o, ud))
            break;
    }
    free(keys);
}

static int op_subscribe(kl_backend_t *b, kl_rtype_t *res, kl_change_cb cb, void *ud)
{
    fres_t *r = res->impl;
    sub_t *n = realloc(r->subs, (r->nsubs + 1) * sizeof(*n));
    if (n == NULL)
        return KL_ENOMEM;
    r->subs = n;
    r->subs[r->nsubs++] = (sub_t){cb, ud};
    /* As an informer does for a handler added late: the objects already there arrive as adds
     * (in key order, so specs stay deterministic). */
    kl_fake_t *f = (kl_fake_t *)b;
    size_t nkeys;
    const char **keys = sorted_keys(r, &nkeys);
    for (size_t i = 0; keys && i < nkeys; i++) {
        delivery_t *d = calloc(1, sizeof(*d));
        if (d == NULL)
            break;
        d->kind = D_CHANGE;
        d->res = r;
        d->change = KL_CHANGE_ADD;
        d->obj = kl_obj_ref(kl_strmap_get(&r->objs, keys[i]));
        d->only_sub = (int)r->nsubs;
        r->replaying++;
        enqueue(f, d);
    }
    free(keys);
    return 0;
}

static bool op_synced(kl_backend_t *b, kl_rtype_t *res)
{
    return ((fres_t *)res->impl)->replaying == 0;
}

static double op_now(kl_backend_t *b)
{
    return ((kl_fake_t *)b)->now;
}

static void record(kl_fake_t *f, const kl_write_t *w, const char *name, int rc, int code)
{
    if (f->nwrites == f->wcap) {
        size_t cap = f->wcap ? f->wcap * 2 : 64;
        kl_fake_write_t *n = realloc(f->writes, cap * sizeof(*n));
        if (n == NULL)
            return;
        f->writes = n;
        f->wcap = cap;
    }
    kl_fake_write_t *x = &f->writes[f->nwrites++];
    memset(x, 0, sizeof(*x));
    x->op = w->op;
    x->resource = strdup(w->res->spec);
    x->namespace = w->namespace ? strdup(w->namespace) : NULL;
    x->name = name ? strdup(name) : NULL;
    x->subresource = w->subresource ? strdup(w->subresource) : NULL;
    x->patch_type = w->patch_type ? strdup(w->patch_type) : NULL;
    x->propagation = w->propagation ? strdup(w->propagation) : NULL;
    x->body = w->body ? kl_json_dup(w->body) : NULL;
    x->rc = rc;
    x->code = code;
}

static void fail_status(kl_write_status_t *st, int code, const char *reason, const char *fmt, ...)
    KL_PRINTF(4, 5);

static void fail_status(kl_write_status_t *st, int code, const char *reason, const char *fmt, ...)
{
    st->code = code;
    snprintf(st->reason, sizeof(st->reason), "%s", reason);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->message, sizeof(st->message), fmt, ap);
    va_end(ap);
}

/* POST pods/NAME/binding, as the embedded API server answers it (runtime/apiserver/subres.c):
 * spec.nodeName set and a PodScheduled=True condition, 409 for a pod already bound or being
 * deleted; the answer is a Status. */
static int bind_pod(kl_fake_t *f, fres_t *r, const kl_write_t *w, kl_obj_t **result,
                    kl_write_status_t *st)
{
    const char *node = kl_json_path_str(w->body, "target", "name", NULL);
    if (node == NULL || *node == '\0') {
        fail_status(st, 422, "Invalid", "Binding \"%s\" is invalid: target.name: Required value",
                    w->name);
        return KL_EINVALIDOBJ;
    }
    char key[600];
    obj_key(r, w->namespace, w->name, key, sizeof(key));
    kl_obj_t *cur = kl_strmap_get(&r->objs, key);
    if (cur == NULL) {
        fail_status(st, 404, "NotFound", "pods \"%s\" not found", w->name);
        return KL_ENOTFOUND;
    }
    kl_val_t root = kl_obj_root(cur);
    if (!kl_val_missing(kl_val_path(root, "metadata", "deletionTimestamp", NULL))) {
        fail_status(st, 409, "Conflict", "pod %s is being deleted, cannot be assigned to a host",
                    w->name);
        return KL_ECONFLICT;
    }
    const char *bound = kl_val_path_str(root, "spec", "nodeName", NULL);
    if (bound && *bound) {
        fail_status(st, 409, "Conflict", "pod %s is already assigned to node \"%s\"", w->name,
                    bound);
        return KL_ECONFLICT;
    }
    kl_json_t *ok = kl_json_object();
    int rc = ok ? 0 : KL_ENOMEM;
    if (rc == 0 &&
        (kl_json_set_str(ok, "kind", "Status") < 0 || kl_json_set_str(ok, "apiVersion", "v1") < 0 ||
         kl_json_set(ok, "metadata", kl_json_object()) < 0 ||
         kl_json_set_str(ok, "status", "Success") < 0 || kl_json_set_int(ok, "code", 201) < 0))
        rc = KL_ENOMEM;
    kl_json_t *pod = rc == 0 && !w->dry_run ? kl_json_from_val(root) : NULL;
    if (pod) {
        kl_json_t *spec = kl_json_ensure_object(pod, "spec");
        kl_json_t *status = kl_json_ensure_object(pod, "status");
        kl_json_t *conds = status ? kl_json_ensure_array(status, "conditions") : NULL;
        kl_json_t *c = kl_json_object();
        char ts[40];
        format_now(f, ts);
        if (spec == NULL || conds == NULL || c == NULL ||
            kl_json_set_str(spec, "nodeName", node) < 0 ||
            kl_json_set_str(c, "type", "PodScheduled") < 0 ||
            kl_json_set_str(c, "status", "True") < 0 ||
            kl_json_set(c, "lastProbeTime", kl_json_null()) < 0 ||
            kl_json_set_str(c, "lastTransitionTime", ts) < 0)
            rc = KL_ENOMEM;
        for (uint32_t i = 0; rc == 0 && i < conds->len; i++) {
            const char *t = kl_json_path_str(kl_json_at(conds, i), "type", NULL);
            if (t && strcmp(t, "PodScheduled") == 0) {
                kl_json_free(kl_json_take_at(conds, i));
                break;
            }
        }
        if (rc == 0 && kl_json_append(conds, c) == 0)
            c = NULL;
        else
            rc = KL_ENOMEM;
        kl_json_free(c);
        if (rc == 0 && store(f, r, key, pod) == NULL)
            rc = KL_ENOMEM;
    } else if (rc == 0 && !w->dry_run) {
        rc = KL_ENOMEM;
    }
    kl_json_free(pod);
    if (rc == 0)
        rc = kl_obj_from_json(ok, result);
    kl_json_free(ok);
    return rc;
}

/* Performs the write synchronously; the result is delivered later. */
static int perform(kl_fake_t *f, const kl_write_t *w, kl_obj_t **result, kl_write_status_t *st,
                   char *name_out, size_t name_cap)
{
    fres_t *r = w->res->impl;
    const char *gr = r->r.resource;
    char key[600];
    int rc = 0;
    kl_json_t *j = NULL;
    if (w->op == KL_WRITE_CREATE && w->subresource) {
        snprintf(name_out, name_cap, "%s", w->name ? w->name : "");
        if (!kl_json_is(w->body, KL_TOBJECT)) {
            fail_status(st, 400, "BadRequest", "the body must be an object");
            return KL_EBADREQUEST;
        }
        if (strcmp(r->r.spec, "v1/pods") == 0 && strcmp(w->subresource, "binding") == 0)
            return bind_pod(f, r, w, result, st);
        fail_status(st, 404, "NotFound", "the server could not find the requested resource");
        return KL_ENOTFOUND;
    }
    if (w->op == KL_WRITE_CREATE) {
        if (!kl_json_is(w->body, KL_TOBJECT)) {
            fail_status(st, 400, "BadRequest", "the body must be an object");
            return KL_EBADREQUEST;
        }
        j = kl_json_dup(w->body);
        kl_ferrs_t errs;
        kl_ferrs_init(&errs);
        rc = j ? prepare_new(f, r, j, w->namespace, true, &errs) : KL_ENOMEM;
        const char *name = kl_json_path_str(j, "metadata", "name", NULL);
        if (rc == 0 && errs.n) {
            kl_buf_t b;
            kl_buf_init(&b, 0);
            char kg[200];
            snprintf(kg, sizeof(kg), "%s%s%s", r->r.kind, *r->r.group ? "." : "", r->r.group);
            if (kl_ferrs_message(&errs, kg, name ? name : "", &b) == 0)
                fail_status(st, 422, "Invalid", "%s", b.data);
            kl_buf_cleanup(&b);
            kl_ferrs_cleanup(&errs);
            kl_json_free(j);
            return KL_EINVALIDOBJ;
        }
        kl_ferrs_cleanup(&errs);
        if (rc < 0) {
            kl_json_free(j);
            return rc;
        }
        snprintf(name_out, name_cap, "%s", name);
        obj_key(r, kl_json_path_str(j, "metadata", "namespace", NULL), name, key, sizeof(key));
        if (kl_strmap_get(&r->objs, key)) {
            fail_status(st, 409, "AlreadyExists", "%s \"%s\" already exists", gr, name);
            kl_json_free(j);
            return KL_EEXIST;
        }
        if (!w->dry_run)
            *result = kl_obj_ref(store(f, r, key, j));
        else
            rc = kl_obj_from_json(j, result);
        kl_json_free(j);
        return rc;
    }
    snprintf(name_out, name_cap, "%s", w->name ? w->name : "");
    obj_key(r, w->namespace, w->name ? w->name : "", key, sizeof(key));
    kl_obj_t *cur = kl_strmap_get(&r->objs, key);
    if (cur == NULL) {
        fail_status(st, 404, "NotFound", "%s \"%s\" not found", gr, w->name ? w->name : "");
        return KL_ENOTFOUND;
    }
    if (w->op == KL_WRITE_DELETE) {
        const char *uid = kl_val_path_str(kl_obj_root(cur), "metadata", "uid", NULL);
        if (w->pre_uid && (uid == NULL || strcmp(uid, w->pre_uid) != 0)) {
            fail_status(st, 409, "Conflict", "Precondition failed: UID in precondition: %s",
                        w->pre_uid);
            return KL_ECONFLICT;
        }
        if (w->dry_run) {
            *result = kl_obj_ref(cur);
            return 0;
        }
        *result = kl_obj_ref(cur);
        return delete_object(f, r, key, w->propagation);
    }
    kl_json_t *old = kl_json_from_val(kl_obj_root(cur));
    if (old == NULL)
        return KL_ENOMEM;
    if (w->op == KL_WRITE_PATCH) {
        j = kl_json_dup(old);
        kl_errinfo_t err;
        const char *t = w->patch_type ? w->patch_type : "merge";
        if (strcmp(t, "json") == 0)
            rc = kl_patch_json(&j, w->body, &err);
        else if (strcmp(t, "strategic") == 0)
            rc = kl_patch_strategic(&j, w->body,
                                    kl_schema_for_kind(r->r.group, r->r.version, r->r.kind), &err);
        else if (strcmp(t, "apply") == 0)
            rc = kl_patch_apply(&j, w->body,
                                kl_schema_for_kind(r->r.group, r->r.version, r->r.kind), &err);
        else
            rc = kl_patch_merge(&j, w->body, &err);
        if (rc < 0) {
            fail_status(st, 422, "Invalid", "%s", err.msg);
            kl_json_free(j);
            kl_json_free(old);
            return rc;
        }
    } else {
        if (!kl_json_is(w->body, KL_TOBJECT)) {
            kl_json_free(old);
            fail_status(st, 400, "BadRequest", "the body must be an object");
            return KL_EBADREQUEST;
        }
        j = kl_json_dup(w->body);
        const char *brv = kl_json_path_str(j, "metadata", "resourceVersion", NULL);
        const char *crv = kl_val_path_str(kl_obj_root(cur), "metadata", "resourceVersion", NULL);
        if (brv && *brv && crv && strcmp(brv, crv) != 0) {
            fail_status(st, 409, "Conflict",
                        "Operation cannot be fulfilled on %s \"%s\": the object has been "
                        "modified; please apply your changes to the latest version and try again",
                        gr, w->name);
            kl_json_free(j);
            kl_json_free(old);
            return KL_ECONFLICT;
        }
    }
    if (j == NULL) {
        kl_json_free(old);
        return KL_ENOMEM;
    }
    /* Status subresource: only status changes. Main resource: status is kept. */
    kl_json_t *next;
    bool status_sub = w->subresource && strcmp(w->subresource, "status") == 0;
    if (status_sub) {
        next = kl_json_dup(old);
        kl_json_t *st2 = kl_json_take(j, "status");
        kl_json_del(next, "status");
        if (st2 && kl_json_set(next, "status", st2) < 0)
            rc = KL_ENOMEM;
        kl_json_free(j);
    } else {
        next = j;
        kl_json_t *md = kl_json_ensure_object(next, "metadata");
        kl_json_t *omd = kl_json_get(old, "metadata");
        const char *keep[] = {"name",
                              "namespace",
                              "uid",
                              "creationTimestamp",
                              "deletionTimestamp",
                              "deletionGracePeriodSeconds",
                              "generation",
                              NULL};
        for (size_t i = 0; keep[i]; i++) {
            kl_json_del(md, keep[i]);
            kl_json_t *v = kl_json_get(omd, keep[i]);
            if (v && kl_json_set(md, keep[i], kl_json_dup(v)) < 0)
                rc = KL_ENOMEM;
        }
        if (r->has_status) {
            kl_json_del(next, "status");
            kl_json_t *st2 = kl_json_get(old, "status");
            if (st2 && kl_json_set(next, "status", kl_json_dup(st2)) < 0)
                rc = KL_ENOMEM;
        }
        if (kl_json_set_str(next, "apiVersion", r->r.api_version) < 0 ||
            kl_json_set_str(next, "kind", r->r.kind) < 0)
            rc = KL_ENOMEM;
        const kl_strategy_t *s = kl_strategy_for(r->r.group, r->r.kind);
        if (rc == 0 && s->defaults)
            rc = s->defaults(next);
        if (rc == 0 && s->prepare_update && !(w->subresource && *w->subresource))
            rc = s->prepare_update(next, old);
        /* generation follows spec changes */
        if (rc == 0 && r->generation) {
            kl_json_t *a = kl_json_dup(next), *b = kl_json_dup(old);
            const char *skip[] = {"metadata", "status", NULL};
            for (size_t i = 0; skip[i]; i++) {
                kl_json_del(a, skip[i]);
                kl_json_del(b, skip[i]);
            }
            if (!kl_json_equal(a, b)) {
                int64_t g = kl_json_int_or(kl_json_path(old, "metadata", "generation", NULL), 1);
                rc = kl_json_set_int(md, "generation", g + 1);
            }
            kl_json_free(a);
            kl_json_free(b);
        }
    }
    kl_json_free(old);
    if (rc < 0) {
        kl_json_free(next);
        return rc;
    }
    if (w->dry_run) {
        rc = kl_obj_from_json(next, result);
        kl_json_free(next);
        return rc;
    }
    /* A terminating object whose last finalizer went goes away. */
    const kl_json_t *fins = kl_json_path(next, "metadata", "finalizers", NULL);
    if (kl_json_path(next, "metadata", "deletionTimestamp", NULL) &&
        (!kl_json_is(fins, KL_TARRAY) || fins->len == 0)) {
        kl_obj_t *stored = store(f, r, key, next);
        *result = kl_obj_ref(stored);
        kl_json_free(next);
        return remove_key(f, r, key);
    }
    *result = kl_obj_ref(store(f, r, key, next));
    kl_json_free(next);
    return *result ? 0 : KL_ENOMEM;
}

static int code_for(int rc, const kl_write_t *w)
{
    if (rc == 0)
        return w->op == KL_WRITE_CREATE ? 201 : 200;
    switch (rc) {
    case KL_ENOTFOUND:
        return 404;
    case KL_ECONFLICT:
    case KL_EEXIST:
        return 409;
    case KL_EINVALIDOBJ:
    case KL_EINVAL:
        return 422;
    case KL_EBADREQUEST:
        return 400;
    default:
        return 500;
    }
}

/* A fault installed for this write, consumed; NULL when none. */
static fault_t *take_fault(kl_fake_t *f, const kl_write_t *w)
{
    const char *name = w->name;
    if (w->op == KL_WRITE_CREATE && w->body) {
        name = kl_json_path_str(w->body, "metadata", "name", NULL);
        if (name == NULL)
            name = kl_json_path_str(w->body, "metadata", "generateName", NULL);
    }
    for (fault_t *x = f->faults; x; x = x->next) {
        if (x->times == 0 || x->op != w->op || strcmp(x->resource, w->res->spec) != 0)
            continue;
        if (x->name && (name == NULL || strcmp(x->name, name) != 0))
            continue;
        if (x->times > 0)
            x->times--;
        return x;
    }
    return NULL;
}

int kl_fake_add_fault(kl_fake_t *f, kl_write_op_t op, const char *resource, const char *name,
                      int code, const char *reason, const char *message, int times)
{
    fault_t *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return KL_ENOMEM;
    x->op = op;
    x->code = code;
    x->times = times;
    x->resource = strdup(resource);
    x->name = name ? strdup(name) : NULL;
    x->reason = strdup(reason ? reason : "InternalError");
    x->message = strdup(message ? message : "injected failure");
    if (!x->resource || (name && !x->name) || !x->reason || !x->message) {
        free(x->resource);
        free(x->name);
        free(x->reason);
        free(x->message);
        free(x);
        return KL_ENOMEM;
    }
    /* Appended: rules given first match first. */
    fault_t **tail = &f->faults;
    while (*tail)
        tail = &(*tail)->next;
    *tail = x;
    return 0;
}

void kl_fake_clear_faults(kl_fake_t *f)
{
    while (f->faults) {
        fault_t *x = f->faults;
        f->faults = x->next;
        free(x->resource);
        free(x->name);
        free(x->reason);
        free(x->message);
        free(x);
    }
}

static int op_write(kl_backend_t *b, const kl_write_t *w, kl_write_cb cb, void *ud,
                    kl_errinfo_t *err)
{
    kl_fake_t *f = (kl_fake_t *)b;
    delivery_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    char name[300] = "";
    d->kind = D_WRITE;
    d->cb = cb;
    d->ud = ud;
    if (w->op == KL_WRITE_GET) {
        /* The fake's cache is the server's state: a fresh read sees the same object. */
        const kl_obj_t *o = op_get(b, (kl_rtype_t *)w->res, w->namespace, w->name);
        d->result = o ? kl_obj_ref((kl_obj_t *)o) : NULL;
        if (o == NULL) {
            d->rc = KL_ENOTFOUND;
            fail_status(&d->status, 404, "NotFound", "%s \"%s\" not found", w->res->resource,
                        w->name ? w->name : "");
        }
        enqueue(f, d);
        return 0;
    }
    fault_t *fault = take_fault(f, w);
    if (fault) {
        d->rc = kl_http_status_rc(fault->code, fault->reason);
        d->status.code = fault->code;
        snprintf(d->status.reason, sizeof(d->status.reason), "%s", fault->reason);
        snprintf(d->status.message, sizeof(d->status.message), "%s", fault->message);
        if (w->name)
            snprintf(name, sizeof(name), "%s", w->name);
        record(f, w, name, d->rc, fault->code);
        enqueue(f, d);
        return 0;
    }
    d->rc = perform(f, w, &d->result, &d->status, name, sizeof(name));
    if (d->rc < 0 && d->status.code == 0)
        fail_status(&d->status, 500, "InternalError", "%s", kl_strerror(d->rc));
    record(f, w, name, d->rc, code_for(d->rc, w));
    enqueue(f, d);
    return 0;
}

static const kl_backend_ops_t fake_ops = {
    .resolve = op_resolve,
    .get = op_get,
    .each = op_each,
    .write = op_write,
    .subscribe = op_subscribe,
    .synced = op_synced,
    .now = op_now,
};

/* ---- Lifecycle -------------------------------------------------------------------------- */

int kl_fake_new(uv_loop_t *loop, kl_fake_t **out)
{
    kl_fake_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return KL_ENOMEM;
    f->base.ops = &fake_ops;
    f->loop = loop;
    f->now = 1767225600; /* 2026-01-01T00:00:00Z */
    f->idle = malloc(sizeof(*f->idle));
    if (f->idle == NULL) {
        free(f);
        return KL_ENOMEM;
    }
    uv_idle_init(loop, f->idle);
    f->idle->data = f;
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        if (add_resource(f, builtins[i].spec, builtins[i].kind, builtins[i].namespaced,
                         builtins[i].has_status) == NULL) {
            kl_fake_free(f);
            return KL_ENOMEM;
        }
    }
    kl_fake_set_now(f, f->now);
    *out = f;
    return 0;
}

kl_backend_t *kl_fake_backend(kl_fake_t *f)
{
    return &f->base;
}

size_t kl_fake_writes(const kl_fake_t *f, const kl_fake_write_t **out)
{
    *out = f->writes;
    return f->nwrites;
}

void kl_fake_clear_writes(kl_fake_t *f)
{
    for (size_t i = 0; i < f->nwrites; i++) {
        kl_fake_write_t *x = &f->writes[i];
        free(x->resource);
        free(x->namespace);
        free(x->name);
        free(x->subresource);
        free(x->patch_type);
        free(x->propagation);
        kl_json_free(x->body);
    }
    f->nwrites = 0;
}

static void free_idle(uv_handle_t *h)
{
    free(h);
}

void kl_fake_free(kl_fake_t *f)
{
    if (f == NULL)
        return;
    kl_fake_clear_faults(f);
    while (f->head) {
        delivery_t *d = f->head;
        f->head = d->next;
        kl_obj_unref(d->result);
        kl_obj_unref(d->obj);
        kl_obj_unref(d->old);
        free(d);
    }
    if (f->idle)
        uv_close((uv_handle_t *)f->idle, free_idle);
    kl_fake_clear_writes(f);
    free(f->writes);
    for (size_t i = 0; i < f->nres; i++) {
        fres_t *r = f->res[i];
        size_t it = 0;
        const char *k;
        void *v;
        while (kl_strmap_next(&r->objs, &it, &k, &v))
            kl_obj_unref(v);
        kl_strmap_cleanup(&r->objs);
        free(r->subs);
        free(r->r.group);
        free(r->r.version);
        free(r->r.resource);
        free(r->r.kind);
        free(r->r.api_version);
        free(r->r.spec);
        free(r);
    }
    free(f->res);
    kl_time_set_fake_now_ms(0);
    free(f);
}
