/* The backend for a real cluster: shared informers for reads and change events, the HTTP
 * client for writes. Resources are resolved from the client's discovery cache (prefetched at
 * start). See backend.h and backend_real.h. */
#include "controller/backend_real.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/ktime.h"
#include "kubelua/log.h"
#include "kubelua/strmap.h"

typedef struct handler {
    struct handler *next;
    struct rres *r;
    kl_change_cb cb;
    void *ud;
} handler_t;

typedef struct rres {
    kl_rtype_t t;
    kl_informer_t *inf;
} rres_t;

struct kl_real {
    kl_backend_t base;
    kl_client_t *client;
    kl_informers_t *infs;
    char *namespace; /* restrict namespaced informers, or NULL */
    kl_strmap_t res; /* spec -> rres_t */
    handler_t *handlers;
    struct wpending *writes; /* in flight; cancelled and freed by kl_real_free */
    bool started;
};

/* ---- Resources -------------------------------------------------------------------------- */

static int op_resolve(kl_backend_t *b, const char *spec, kl_rtype_t **out, kl_errinfo_t *err)
{
    kl_real_t *r = (kl_real_t *)b;
    rres_t *rr = kl_strmap_get(&r->res, spec);
    if (rr) {
        *out = &rr->t;
        return 0;
    }
    char buf[512];
    kl_resource_t cr;
    if (kl_resource_parse(spec, &cr, buf, sizeof(buf)) < 0)
        return kl_err(err, KL_EINVAL,
                      "bad resource \"%s\" (write group/version/plural, e.g. \"batch/v1/jobs\" "
                      "or \"v1/pods\")",
                      spec);
    char gv[300];
    snprintf(gv, sizeof(gv), "%s%s%s", cr.group && *cr.group ? cr.group : "",
             cr.group && *cr.group ? "/" : "", cr.version);
    const kl_api_resource_t *ar = kl_client_lookup(r->client, gv, cr.resource);
    if (ar == NULL)
        return kl_err(err, KL_ENOTFOUND, "the server does not serve %s (not in discovery)", spec);
    rr = calloc(1, sizeof(*rr));
    if (rr == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    rr->t.group = strdup(ar->group ? ar->group : "");
    rr->t.version = strdup(ar->version);
    rr->t.resource = strdup(ar->resource);
    rr->t.kind = strdup(ar->kind);
    rr->t.api_version = strdup(gv);
    rr->t.spec = strdup(spec);
    rr->t.namespaced = ar->namespaced;
    rr->t.impl = rr;
    kl_informer_opts_t io;
    kl_informer_opts_init(&io);
    io.resource = spec;
    io.namespace = ar->namespaced ? r->namespace : NULL;
    int rc = 0;
    if (!rr->t.group || !rr->t.version || !rr->t.resource || !rr->t.kind || !rr->t.api_version ||
        !rr->t.spec)
        rc = kl_err(err, KL_ENOMEM, "out of memory");
    if (rc == 0)
        rc = kl_informers_get(r->infs, &io, &rr->inf, err);
    if (rc == 0 && kl_strmap_put(&r->res, rr->t.spec, rr, NULL) < 0)
        rc = kl_err(err, KL_ENOMEM, "out of memory");
    if (rc == 0 && r->started)
        rc = kl_informers_start(r->infs);
    if (rc < 0) {
        free(rr->t.group);
        free(rr->t.version);
        free(rr->t.resource);
        free(rr->t.kind);
        free(rr->t.api_version);
        free(rr->t.spec);
        free(rr);
        return rc;
    }
    *out = &rr->t;
    return 0;
}

/* ---- Reads ------------------------------------------------------------------------------ */

static const kl_obj_t *op_get(kl_backend_t *b, kl_rtype_t *t, const char *ns, const char *name)
{
    rres_t *rr = t->impl;
    return kl_informer_get(rr->inf, t->namespaced ? ns : NULL, name);
}

/* A matching object with its sort key, the informer's "ns/name" (as the fake cluster sorts):
 * a comparison that looked the names up in the objects cost most of a list of thousands. */
typedef struct each_item {
    const char *key;
    const kl_obj_t *obj;
} each_item_t;

typedef struct each_ud {
    const kl_cache_query_t *q;
    bool (*fn)(const kl_obj_t *, void *);
    void *ud;
    each_item_t *items;
    size_t n, cap;
    bool oom;
} each_ud_t;

static bool collect(const kl_obj_t *obj, const char *key, void *ud)
{
    each_ud_t *e = ud;
    if (!kl_cache_query_match(e->q, obj))
        return true;
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 64;
        each_item_t *n = realloc(e->items, cap * sizeof(*n));
        if (n == NULL) {
            e->oom = true;
            return false;
        }
        e->items = n;
        e->cap = cap;
    }
    e->items[e->n++] = (each_item_t){.key = key, .obj = obj};
    return true;
}

static int cmp_items(const void *a, const void *b)
{
    return strcmp(((const each_item_t *)a)->key, ((const each_item_t *)b)->key);
}

/* Visits matching objects sorted by their "ns/name" keys (as the fake cluster does), using
 * the narrowest index the query allows. */
static void op_each(kl_backend_t *b, kl_rtype_t *t, const kl_cache_query_t *q,
                    bool (*fn)(const kl_obj_t *obj, void *ud), void *ud)
{
    rres_t *rr = t->impl;
    /* What the index answers is not checked again on every object. */
    kl_cache_query_t rest = q ? *q : (kl_cache_query_t){0};
    each_ud_t e = {.q = &rest, .fn = fn, .ud = ud};
    const char *index = NULL, *value = NULL;
    if (rest.owner_uid)
        index = "owner", value = rest.owner_uid, rest.owner_uid = NULL;
    else if (rest.node_name)
        index = "node", value = rest.node_name, rest.node_name = NULL;
    else if (rest.namespace)
        index = "namespace", value = rest.namespace, rest.namespace = NULL;
    kl_informer_foreach_keyed(rr->inf, index, value, collect, &e);
    if (e.oom)
        KL_ERROR("controller", "out of memory listing %s", t->spec);
    if (e.n > 1)
        qsort(e.items, e.n, sizeof(*e.items), cmp_items);
    for (size_t i = 0; i < e.n; i++)
        if (!fn(e.items[i].obj, ud))
            break;
    free(e.items);
}

/* ---- Writes ----------------------------------------------------------------------------- */

typedef struct wpending {
    struct wpending *prev, *next;
    kl_real_t *r;
    kl_req_t *req;
    kl_write_cb cb;
    void *ud;
} wpending_t;

static void unlink_write(wpending_t *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        p->r->writes = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

static void on_response(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st,
                        void *ud)
{
    wpending_t *p = ud;
    unlink_write(p);
    kl_write_status_t ws = {0};
    if (rc < 0 && st) {
        ws.code = st->http_code;
        snprintf(ws.reason, sizeof(ws.reason), "%s", st->reason ? st->reason : "");
        snprintf(ws.message, sizeof(ws.message), "%s", st->message ? st->message : "");
    }
    p->cb(rc, rc == 0 ? kl_obj_ref(body) : NULL, rc < 0 ? &ws : NULL, p->ud);
    free(p);
}

static int op_write(kl_backend_t *b, const kl_write_t *w, kl_write_cb cb, void *ud,
                    kl_errinfo_t *err)
{
    kl_real_t *r = (kl_real_t *)b;
    const kl_rtype_t *t = w->res;
    kl_resource_t cr = {.group = t->group,
                        .version = t->version,
                        .resource = t->resource,
                        .namespace = t->namespaced ? w->namespace : NULL,
                        .name = w->name,
                        .subresource = w->subresource};
    kl_req_opts_t o = {.dry_run = w->dry_run,
                       .field_manager = w->field_manager,
                       .force = w->force,
                       .propagation_policy = w->propagation,
                       .precondition_uid = w->pre_uid,
                       .precondition_resource_version = w->pre_resource_version};
    if (w->grace_seconds >= 0) {
        o.grace_period_seconds = w->grace_seconds;
        o.has_grace_period = true;
    }
    kl_buf_t body;
    kl_buf_init(&body, 0);
    if (w->body && kl_json_encode(w->body, &body) < 0) {
        kl_buf_cleanup(&body);
        return kl_err(err, KL_ENOMEM, "encoding the request body");
    }
    wpending_t *p = malloc(sizeof(*p));
    if (p == NULL) {
        kl_buf_cleanup(&body);
        return kl_err(err, KL_ENOMEM, "out of memory");
    }
    *p = (wpending_t){.r = r, .next = r->writes, .cb = cb, .ud = ud};
    if (r->writes)
        r->writes->prev = p;
    r->writes = p;
    int rc;
    switch (w->op) {
    case KL_WRITE_CREATE:
        if (w->subresource == NULL)
            cr.name = NULL; /* POST to the collection; a subresource POST names its parent */
        rc = kl_client_create(r->client, &cr, &o, body.data, body.len, on_response, p, &p->req);
        break;
    case KL_WRITE_UPDATE:
        if (w->subresource && strcmp(w->subresource, "status") == 0)
            rc = kl_client_update_status(r->client, &cr, &o, body.data, body.len, on_response, p,
                                         &p->req);
        else
            rc = kl_client_update(r->client, &cr, &o, body.data, body.len, on_response, p, &p->req);
        break;
    case KL_WRITE_PATCH: {
        kl_patch_type_t pt = KL_PATCH_MERGE;
        if (w->patch_type && strcmp(w->patch_type, "json") == 0)
            pt = KL_PATCH_JSON;
        else if (w->patch_type && strcmp(w->patch_type, "strategic") == 0)
            pt = KL_PATCH_STRATEGIC;
        else if (w->patch_type && strcmp(w->patch_type, "apply") == 0)
            pt = KL_PATCH_APPLY;
        rc = kl_client_patch(r->client, &cr, &o, pt, body.data, body.len, on_response, p, &p->req);
        break;
    }
    case KL_WRITE_GET:
        rc = kl_client_get(r->client, &cr, NULL, on_response, p, &p->req);
        break;
    default:
        rc = kl_client_delete(r->client, &cr, &o, on_response, p, &p->req);
        break;
    }
    kl_buf_cleanup(&body);
    if (rc < 0) {
        unlink_write(p);
        free(p);
        return kl_err(err, rc, "starting the request failed: %s", kl_strerror(rc));
    }
    return 0;
}

/* ---- Change events ---------------------------------------------------------------------- */

static void h_add(kl_informer_t *inf, const kl_obj_t *obj, bool initial, void *ud)
{
    handler_t *h = ud;
    h->cb(&h->r->t, KL_CHANGE_ADD, obj, NULL, h->ud);
}

static void h_update(kl_informer_t *inf, const kl_obj_t *old, const kl_obj_t *obj, void *ud)
{
    handler_t *h = ud;
    h->cb(&h->r->t, KL_CHANGE_UPDATE, obj, old, h->ud);
}

static void h_delete(kl_informer_t *inf, const kl_obj_t *obj, bool unknown, void *ud)
{
    handler_t *h = ud;
    h->cb(&h->r->t, KL_CHANGE_DELETE, obj, NULL, h->ud);
}

static int op_subscribe(kl_backend_t *b, kl_rtype_t *t, kl_change_cb cb, void *ud)
{
    kl_real_t *r = (kl_real_t *)b;
    handler_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return KL_ENOMEM;
    h->r = t->impl;
    h->cb = cb;
    h->ud = ud;
    kl_informer_handlers_t hs = {.on_add = h_add, .on_update = h_update, .on_delete = h_delete};
    int rc = kl_informer_add_handlers(h->r->inf, &hs, h, NULL);
    if (rc < 0) {
        free(h);
        return rc;
    }
    h->next = r->handlers;
    r->handlers = h;
    return 0;
}

static bool op_synced(kl_backend_t *b, kl_rtype_t *t)
{
    return kl_informer_has_synced(((rres_t *)t->impl)->inf);
}

static double op_now(kl_backend_t *b)
{
    return (double)kl_time_now_ms() / 1000.0;
}

static const kl_backend_ops_t real_ops = {
    .resolve = op_resolve,
    .get = op_get,
    .each = op_each,
    .write = op_write,
    .subscribe = op_subscribe,
    .synced = op_synced,
    .now = op_now,
};

/* ---- Lifecycle -------------------------------------------------------------------------- */

int kl_real_new(kl_client_t *client, const char *namespace, kl_real_t **out, kl_errinfo_t *err)
{
    kl_real_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    r->base.ops = &real_ops;
    r->client = client;
    kl_strmap_init(&r->res, 0);
    if (namespace && *namespace && (r->namespace = strdup(namespace)) == NULL) {
        free(r);
        return kl_err(err, KL_ENOMEM, "out of memory");
    }
    int rc = kl_informers_new(client, &r->infs);
    if (rc < 0) {
        free(r->namespace);
        free(r);
        return kl_err(err, rc, "cannot create informers");
    }
    *out = r;
    return 0;
}

kl_backend_t *kl_real_backend(kl_real_t *r)
{
    return &r->base;
}

kl_informers_t *kl_real_informers(kl_real_t *r)
{
    return r->infs;
}

int kl_real_start(kl_real_t *r)
{
    r->started = true;
    return kl_informers_start(r->infs);
}

bool kl_real_synced(const kl_real_t *r)
{
    return kl_informers_synced(r->infs);
}

void kl_real_free(kl_real_t *r)
{
    if (r == NULL)
        return;
    /* Writes still in flight (a stop does not wait for them) are cancelled: their callbacks
     * would reach a manager that is gone. */
    while (r->writes) {
        wpending_t *p = r->writes;
        r->writes = p->next;
        if (p->req)
            kl_client_cancel(p->req);
        free(p);
    }
    kl_informers_free(r->infs);
    while (r->handlers) {
        handler_t *h = r->handlers;
        r->handlers = h->next;
        free(h);
    }
    size_t it = 0;
    const char *k;
    void *v;
    while (kl_strmap_next(&r->res, &it, &k, &v)) {
        rres_t *rr = v;
        free(rr->t.group);
        free(rr->t.version);
        free(rr->t.resource);
        free(rr->t.kind);
        free(rr->t.api_version);
        free(rr->t.spec);
        free(rr);
    }
    kl_strmap_cleanup(&r->res);
    free(r->namespace);
    free(r);
}
