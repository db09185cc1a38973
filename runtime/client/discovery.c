/* Discovery: which resources the server has, their kinds and scope. Aggregated discovery
 * (apidiscovery.k8s.io/v2, two requests) when the server offers it, otherwise the per-group
 * documents (/api, /api/v1, /apis, /apis/<group>/<version>). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kubelua/log.h"

#include "client/client_int.h"

#define COMP "discovery"
#define REFRESH_MIN_NS (2ull * 1000000000ull)
#define AGG_ACCEPT                                                                                 \
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"                        \
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"

typedef struct entry {
    kl_api_resource_t r;
    char **subs;
    size_t nsubs;
} entry_t;

typedef struct waiter {
    struct waiter *next;
    char *gv, *name;
    kl_discovery_cb cb;
    void *ud;
    uint64_t queued_ns;
} waiter_t;

struct kl_disc {
    kl_client_t *c;
    entry_t *entries;
    size_t n, cap;
    entry_t *next_entries; /* being built */
    size_t next_n, next_cap;
    bool valid, fetching;
    int outstanding; /* requests of the current fetch */
    int fetch_rc;
    int last_rc; /* result of the last fetch that failed (0 after a success) */
    uint64_t last_rc_ns;
    uint64_t fetched_ns, fetch_started_ns;
    waiter_t *waiters;
};

static void entries_free(entry_t *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)e[i].r.group);
        free((char *)e[i].r.version);
        free((char *)e[i].r.resource);
        free((char *)e[i].r.kind);
        free((char *)e[i].r.singular);
        for (size_t k = 0; k < e[i].nsubs; k++)
            free(e[i].subs[k]);
        free(e[i].subs);
    }
    free(e);
}

void kl__disc_free(kl_disc_t *d)
{
    if (d == NULL)
        return;
    entries_free(d->entries, d->n);
    entries_free(d->next_entries, d->next_n);
    while (d->waiters) {
        waiter_t *w = d->waiters;
        d->waiters = w->next;
        free(w->gv);
        free(w->name);
        free(w);
    }
    free(d);
}

static kl_disc_t *disc(kl_client_t *c)
{
    if (c->disc == NULL) {
        c->disc = calloc(1, sizeof(kl_disc_t));
        if (c->disc)
            c->disc->c = c;
    }
    return c->disc;
}

static unsigned verb_bits(kl_val_t verbs)
{
    static const char *const names[] = {"get",    "list",  "watch",  "create",
                                        "update", "patch", "delete", "deletecollection"};
    unsigned bits = 0;
    for (uint32_t i = 0; i < kl_val_len(verbs); i++) {
        const char *v = kl_val_str(kl_val_at(verbs, i), NULL);
        for (unsigned k = 0; v && k < 8; k++)
            if (strcmp(v, names[k]) == 0)
                bits |= 1u << k;
    }
    return bits;
}

static entry_t *add_entry(kl_disc_t *d, const char *group, const char *version,
                          const char *resource, const char *kind, const char *singular,
                          bool namespaced, unsigned verbs)
{
    for (size_t i = 0; i < d->next_n; i++) {
        entry_t *e = &d->next_entries[i];
        if (strcmp(e->r.group, group) == 0 && strcmp(e->r.version, version) == 0 &&
            strcmp(e->r.resource, resource) == 0)
            return e;
    }
    if (d->next_n == d->next_cap) {
        size_t cap = d->next_cap ? d->next_cap * 2 : 64;
        entry_t *n = realloc(d->next_entries, cap * sizeof(*n));
        if (n == NULL)
            return NULL;
        d->next_entries = n;
        d->next_cap = cap;
    }
    entry_t *e = &d->next_entries[d->next_n];
    memset(e, 0, sizeof(*e));
    e->r.group = strdup(group);
    e->r.version = strdup(version);
    e->r.resource = strdup(resource);
    e->r.kind = strdup(kind ? kind : "");
    e->r.singular = strdup(singular ? singular : "");
    e->r.namespaced = namespaced;
    e->r.verbs = verbs;
    e->subs = calloc(1, sizeof(char *));
    if (!e->r.group || !e->r.version || !e->r.resource || !e->r.kind || !e->r.singular ||
        !e->subs) {
        d->next_n++;
        return NULL;
    }
    e->r.subresources = (const char *const *)e->subs;
    d->next_n++;
    return e;
}

static void add_sub(entry_t *e, const char *sub)
{
    char **n = realloc(e->subs, (e->nsubs + 2) * sizeof(char *));
    if (n == NULL)
        return;
    e->subs = n;
    n[e->nsubs] = strdup(sub);
    if (n[e->nsubs])
        e->nsubs++;
    n[e->nsubs] = NULL;
    e->r.subresources = (const char *const *)e->subs;
}

static const kl_api_resource_t *find(kl_disc_t *d, const char *gv, const char *name)
{
    char group[256] = "";
    const char *version = gv;
    const char *slash = strchr(gv, '/');
    if (slash) {
        size_t gl = (size_t)(slash - gv);
        if (gl >= sizeof(group))
            return NULL;
        memcpy(group, gv, gl);
        group[gl] = '\0';
        version = slash + 1;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < d->n; i++) {
            const kl_api_resource_t *r = &d->entries[i].r;
            if (strcmp(r->group, group) != 0 || strcmp(r->version, version) != 0)
                continue;
            if (pass == 0 && strcmp(r->kind, name) == 0)
                return r;
            if (pass == 1 && (strcasecmp(r->resource, name) == 0 ||
                              strcasecmp(r->singular, name) == 0 || strcasecmp(r->kind, name) == 0))
                return r;
        }
    }
    return NULL;
}

const kl_api_resource_t *kl_client_lookup(kl_client_t *c, const char *group_version,
                                          const char *kind_or_resource)
{
    kl_disc_t *d = c->disc;
    if (d == NULL || !d->valid || group_version == NULL || kind_or_resource == NULL)
        return NULL;
    return find(d, group_version, kind_or_resource);
}

void kl_client_discovery_invalidate(kl_client_t *c)
{
    if (c->disc)
        c->disc->valid = false;
}

static void fetch(kl_disc_t *d);

static void on_disc_timer(uv_timer_t *t);

/* Answers the waiters that can be answered now. */
static void dispatch(kl_disc_t *d)
{
    kl_client_t *c = d->c;
    waiter_t **pp = &d->waiters;
    bool need_fetch = false;
    uint64_t now = kl__now_ns(), wait_ns = 0;
    while (*pp) {
        waiter_t *w = *pp;
        const kl_api_resource_t *r = d->valid ? find(d, w->gv, w->name) : NULL;
        int rc = 0;
        if (r == NULL) {
            if (d->valid && d->fetched_ns >= w->queued_ns) {
                rc = KL_ENOTFOUND;
            } else if (d->last_rc && d->last_rc_ns >= w->queued_ns) {
                rc = d->last_rc;
            } else if (!d->fetching) {
                uint64_t last = d->fetch_started_ns;
                if (last && now - last < REFRESH_MIN_NS) {
                    uint64_t left = REFRESH_MIN_NS - (now - last);
                    if (wait_ns == 0 || left < wait_ns)
                        wait_ns = left;
                } else {
                    need_fetch = true;
                }
            }
            if (rc == 0) {
                pp = &w->next;
                continue;
            }
        }
        *pp = w->next;
        if (r) {
            w->cb(c, 0, r, NULL, w->ud);
        } else {
            char msg[600];
            snprintf(msg, sizeof(msg),
                     rc == KL_ENOTFOUND ? "the server doesn't have a resource type \"%s\" in %s"
                                        : "discovery failed while resolving \"%s\" in %s",
                     w->name, w->gv);
            kl_status_t st = {0, rc == KL_ENOTFOUND ? "NotFound" : "", msg, NULL, 0};
            w->cb(c, rc, NULL, &st, w->ud);
        }
        free(w->gv);
        free(w->name);
        free(w);
    }
    if (need_fetch)
        fetch(d);
    else if (wait_ns && d->waiters)
        uv_timer_start(&c->disc_timer, on_disc_timer, wait_ns / 1000000 + 1, 0);
}

static void fetch_done(kl_disc_t *d)
{
    if (--d->outstanding > 0)
        return;
    d->fetching = false;
    if (d->fetch_rc == 0) {
        entries_free(d->entries, d->n);
        d->entries = d->next_entries;
        d->n = d->next_n;
        d->cap = d->next_cap;
        d->valid = true;
        d->fetched_ns = kl__now_ns();
        KL_DEBUG(COMP, "%zu resources", d->n);
        d->last_rc = 0;
    } else {
        entries_free(d->next_entries, d->next_n);
        d->last_rc = d->fetch_rc;
        d->last_rc_ns = kl__now_ns();
    }
    d->next_entries = NULL;
    d->next_n = d->next_cap = 0;
    dispatch(d);
}

static int get_path(kl_disc_t *d, const char *path, const char *accept, kl_client_cb cb);

/* An APIResourceList (legacy per-group document). */
static void on_resource_list(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st,
                             void *ud)
{
    kl_disc_t *d = ud;
    if (rc == 0 && body) {
        kl_val_t root = kl_obj_root(body);
        const char *gv = kl_val_path_str(root, "groupVersion", NULL);
        char group[256] = "";
        const char *version = gv ? gv : "";
        const char *slash = gv ? strchr(gv, '/') : NULL;
        if (slash && (size_t)(slash - gv) < sizeof(group)) {
            memcpy(group, gv, (size_t)(slash - gv));
            group[slash - gv] = '\0';
            version = slash + 1;
        }
        kl_val_t list = kl_val_get(root, "resources");
        for (int pass = 0; pass < 2; pass++) {
            for (uint32_t i = 0; i < kl_val_len(list); i++) {
                kl_val_t r = kl_val_at(list, i);
                const char *name = kl_val_path_str(r, "name", NULL);
                if (name == NULL)
                    continue;
                const char *sub = strchr(name, '/');
                if (pass == 0 && sub == NULL) {
                    add_entry(d, group, version, name, kl_val_path_str(r, "kind", NULL),
                              kl_val_path_str(r, "singularName", NULL),
                              kl_val_bool(kl_val_get(r, "namespaced")),
                              verb_bits(kl_val_get(r, "verbs")));
                } else if (pass == 1 && sub) {
                    char base[256];
                    snprintf(base, sizeof(base), "%.*s", (int)(sub - name), name);
                    for (size_t k = 0; k < d->next_n; k++) {
                        entry_t *e = &d->next_entries[k];
                        if (strcmp(e->r.group, group) == 0 && strcmp(e->r.version, version) == 0 &&
                            strcmp(e->r.resource, base) == 0)
                            add_sub(e, sub + 1);
                    }
                }
            }
        }
    } else if (rc < 0 && rc != KL_ENOTFOUND && rc != KL_ESERVER) {
        /* A broken aggregated API makes one group unavailable, not discovery as a whole. */
        d->fetch_rc = rc;
    }
    fetch_done(d);
}

static void on_group_list(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st,
                          void *ud)
{
    kl_disc_t *d = ud;
    if (rc == 0 && body) {
        kl_val_t groups = kl_val_get(kl_obj_root(body), "groups");
        for (uint32_t i = 0; i < kl_val_len(groups); i++) {
            kl_val_t vers = kl_val_get(kl_val_at(groups, i), "versions");
            for (uint32_t k = 0; k < kl_val_len(vers); k++) {
                const char *gv = kl_val_path_str(kl_val_at(vers, k), "groupVersion", NULL);
                char path[512];
                if (gv == NULL)
                    continue;
                snprintf(path, sizeof(path), "/apis/%s", gv);
                if (get_path(d, path, "application/json", on_resource_list) == 0)
                    d->outstanding++;
            }
        }
    } else if (rc < 0) {
        d->fetch_rc = rc;
    }
    fetch_done(d);
}

static void on_versions(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st,
                        void *ud)
{
    kl_disc_t *d = ud;
    if (rc == 0 && body) {
        kl_val_t vers = kl_val_get(kl_obj_root(body), "versions");
        for (uint32_t k = 0; k < kl_val_len(vers); k++) {
            const char *v = kl_val_str(kl_val_at(vers, k), NULL);
            char path[256];
            if (v == NULL)
                continue;
            snprintf(path, sizeof(path), "/api/%s", v);
            if (get_path(d, path, "application/json", on_resource_list) == 0)
                d->outstanding++;
        }
    } else if (rc < 0) {
        d->fetch_rc = rc;
    }
    fetch_done(d);
}

/* An APIGroupDiscoveryList, or, from an older server, the legacy document. */
static void on_aggregated(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st,
                          void *ud, bool core)
{
    kl_disc_t *d = ud;
    const char *kind = rc == 0 && body ? kl_val_path_str(kl_obj_root(body), "kind", NULL) : NULL;
    if (kind && strcmp(kind, "APIGroupDiscoveryList") == 0) {
        kl_val_t items = kl_val_get(kl_obj_root(body), "items");
        for (uint32_t i = 0; i < kl_val_len(items); i++) {
            kl_val_t g = kl_val_at(items, i);
            const char *group = kl_val_path_str(g, "metadata", "name", NULL);
            kl_val_t vers = kl_val_get(g, "versions");
            for (uint32_t k = 0; k < kl_val_len(vers); k++) {
                kl_val_t v = kl_val_at(vers, k);
                const char *version = kl_val_path_str(v, "version", NULL);
                kl_val_t res = kl_val_get(v, "resources");
                for (uint32_t j = 0; version && j < kl_val_len(res); j++) {
                    kl_val_t r = kl_val_at(res, j);
                    const char *name = kl_val_path_str(r, "resource", NULL);
                    const char *scope = kl_val_path_str(r, "scope", NULL);
                    if (name == NULL)
                        continue;
                    entry_t *e = add_entry(d, core ? "" : (group ? group : ""), version, name,
                                           kl_val_path_str(r, "responseKind", "kind", NULL),
                                           kl_val_path_str(r, "singularResource", NULL),
                                           scope && strcmp(scope, "Namespaced") == 0,
                                           verb_bits(kl_val_get(r, "verbs")));
                    kl_val_t subs = kl_val_get(r, "subresources");
                    for (uint32_t s = 0; e && s < kl_val_len(subs); s++) {
                        const char *sn = kl_val_path_str(kl_val_at(subs, s), "subresource", NULL);
                        if (sn)
                            add_sub(e, sn);
                    }
                }
            }
        }
    } else if (kind && strcmp(kind, "APIVersions") == 0) {
        on_versions(c, rc, body, st, ud);
        return;
    } else if (kind && strcmp(kind, "APIGroupList") == 0) {
        on_group_list(c, rc, body, st, ud);
        return;
    } else if (rc < 0) {
        d->fetch_rc = rc;
    }
    fetch_done(d);
}

static void on_agg_core(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st,
                        void *ud)
{
    on_aggregated(c, rc, body, st, ud, true);
}

static void on_agg_groups(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st,
                          void *ud)
{
    on_aggregated(c, rc, body, st, ud, false);
}

static int get_path(kl_disc_t *d, const char *path, const char *accept, kl_client_cb cb)
{
    kl_client_t *c = d->c;
    kl_req_t *req = kl__req_new(c, REQ_OBJ, "GET", VERB_GET);
    if (req == NULL)
        return KL_ENOMEM;
    size_t n = strlen(c->cfg->server) + strlen(path) + 1;
    req->url = malloc(n);
    if (req->url == NULL) {
        kl__req_free(req);
        return KL_ENOMEM;
    }
    snprintf(req->url, n, "%s%s", c->cfg->server, path);
    req->accept = accept;
    req->cb = cb;
    req->ud = d;
    req->retry_transport = true;
    req->parse_flags = 0;
    kl__req_submit(c, req);
    return 0;
}

static void fetch(kl_disc_t *d)
{
    if (d->fetching)
        return;
    d->fetching = true;
    d->fetch_rc = 0;
    d->fetch_started_ns = kl__now_ns();
    d->outstanding = 1; /* held until both requests are issued */
    if (get_path(d, "/api", AGG_ACCEPT, on_agg_core) == 0)
        d->outstanding++;
    else
        d->fetch_rc = KL_ENOMEM;
    if (get_path(d, "/apis", AGG_ACCEPT, on_agg_groups) == 0)
        d->outstanding++;
    else
        d->fetch_rc = KL_ENOMEM;
    if (--d->outstanding == 0)
        fetch_done(d);
}

static void on_disc_timer(uv_timer_t *t)
{
    kl_client_t *c = t->data;
    if (c->disc)
        dispatch(c->disc);
}

int kl_client_resolve(kl_client_t *c, const char *group_version, const char *kind_or_resource,
                      kl_discovery_cb cb, void *ud)
{
    if (group_version == NULL || kind_or_resource == NULL || cb == NULL)
        return KL_EINVAL;
    kl_disc_t *d = disc(c);
    waiter_t *w = calloc(1, sizeof(*w));
    if (d == NULL || w == NULL) {
        free(w);
        return KL_ENOMEM;
    }
    w->gv = strdup(group_version);
    w->name = strdup(kind_or_resource);
    if (w->gv == NULL || w->name == NULL) {
        free(w->gv);
        free(w->name);
        free(w);
        return KL_ENOMEM;
    }
    w->cb = cb;
    w->ud = ud;
    w->queued_ns = kl__now_ns();
    waiter_t **pp = &d->waiters;
    while (*pp)
        pp = &(*pp)->next;
    *pp = w;
    c->disc_timer.data = c;
    uv_timer_start(&c->disc_timer, on_disc_timer, 0, 0);
    return 0;
}
