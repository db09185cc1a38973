/* Resource lists, pod requests and the scheduler's fit check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/nodes.h"
#include "kubelua/quantity.h"

void kl_resources_init(kl_resources_t *r)
{
    *r = (kl_resources_t)KL_RESOURCES_INIT;
}

void kl_resources_cleanup(kl_resources_t *r)
{
    for (size_t i = 0; i < r->len; i++)
        free(r->items[i].name);
    free(r->items);
    kl_resources_init(r);
}

static kl_resource_amount_t *find(const kl_resources_t *r, const char *name)
{
    for (size_t i = 0; i < r->len; i++)
        if (strcmp(r->items[i].name, name) == 0)
            return &r->items[i];
    return NULL;
}

int64_t kl_resources_get(const kl_resources_t *r, const char *name)
{
    kl_resource_amount_t *it = find(r, name);
    return it ? it->amount : 0;
}

/* The entry for name, created with amount 0 when absent; NULL when out of memory. */
static kl_resource_amount_t *slot(kl_resources_t *r, const char *name, bool *created)
{
    kl_resource_amount_t *it = find(r, name);
    *created = false;
    if (it)
        return it;
    if (r->len == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        kl_resource_amount_t *items = realloc(r->items, cap * sizeof(*items));
        if (items == NULL)
            return NULL;
        r->items = items;
        r->cap = cap;
    }
    char *copy = strdup(name);
    if (copy == NULL)
        return NULL;
    it = &r->items[r->len++];
    *it = (kl_resource_amount_t){.name = copy};
    *created = true;
    return it;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

int kl_resources_add(kl_resources_t *r, const char *name, int64_t amount)
{
    bool created;
    kl_resource_amount_t *it = slot(r, name, &created);
    if (it == NULL)
        return KL_ENOMEM;
    it->amount = sat_add(it->amount, amount);
    return 0;
}

int kl_resources_max(kl_resources_t *r, const char *name, int64_t amount)
{
    bool created;
    kl_resource_amount_t *it = slot(r, name, &created);
    if (it == NULL)
        return KL_ENOMEM;
    if (created || amount > it->amount)
        it->amount = amount;
    return 0;
}

int kl_resources_set(kl_resources_t *r, const char *name, int64_t amount)
{
    bool created;
    kl_resource_amount_t *it = slot(r, name, &created);
    if (it == NULL)
        return KL_ENOMEM;
    it->amount = amount;
    return 0;
}

static int add_all(kl_resources_t *dst, const kl_resources_t *src)
{
    for (size_t i = 0; i < src->len; i++) {
        int rc = kl_resources_add(dst, src->items[i].name, src->items[i].amount);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int max_all(kl_resources_t *dst, const kl_resources_t *src)
{
    for (size_t i = 0; i < src->len; i++) {
        int rc = kl_resources_max(dst, src->items[i].name, src->items[i].amount);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int64_t scaled(const char *name, const kl_quantity_t *q)
{
    return strcmp(name, "cpu") == 0 ? kl_quantity_milli(q) : kl_quantity_value(q);
}

/* Adds list to r; with skip (may be missing), names present in skip are left out. */
static int add_list(kl_resources_t *r, kl_val_t list, kl_val_t skip, const char *what,
                    kl_errinfo_t *err)
{
    if (kl_val_type(list) != KL_TOBJECT)
        return 0;
    uint32_t n = kl_val_len(list);
    for (uint32_t i = 0; i < n; i++) {
        const char *name;
        size_t len;
        kl_val_t v = kl_val_member(list, i, &name, &len);
        if (!kl_val_missing(kl_val_getn(skip, name, len)))
            continue;
        kl_quantity_t q;
        kl_errinfo_t e;
        int rc = kl_quantity_from_val(v, &q, &e);
        if (rc < 0)
            return kl_err(err, rc, "%s%s%s: %s", what, *what ? "." : "", name, e.msg);
        rc = kl_resources_add(r, name, scaled(name, &q));
        if (rc < 0)
            return kl_err(err, rc, "%s", kl_strerror(rc));
    }
    return 0;
}

int kl_resources_add_list(kl_resources_t *r, kl_val_t list, kl_errinfo_t *err)
{
    return add_list(r, list, (kl_val_t){0}, "", err);
}

/* A container's requests, with limits standing in for requests that are not set. */
static int container_requests(kl_val_t c, const char *path, kl_resources_t *out, kl_errinfo_t *err)
{
    kl_val_t req = kl_val_path(c, "resources", "requests", NULL);
    kl_val_t lim = kl_val_path(c, "resources", "limits", NULL);
    char what[96];
    snprintf(what, sizeof(what), "%s.resources.requests", path);
    int rc = add_list(out, req, (kl_val_t){0}, what, err);
    if (rc == 0) {
        snprintf(what, sizeof(what), "%s.resources.limits", path);
        rc = add_list(out, lim, kl_val_type(req) == KL_TOBJECT ? req : (kl_val_t){0}, what, err);
    }
    return rc;
}

int kl_pod_requests(kl_val_t pod_spec, kl_resources_t *out, kl_errinfo_t *err)
{
    kl_resources_t reqs = KL_RESOURCES_INIT, restartable = KL_RESOURCES_INIT,
                   init = KL_RESOURCES_INIT, cur = KL_RESOURCES_INIT;
    char path[64];
    int rc = 0;
    kl_val_t containers = kl_val_get(pod_spec, "containers");
    uint32_t n = kl_val_type(containers) == KL_TARRAY ? kl_val_len(containers) : 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        snprintf(path, sizeof(path), "spec.containers[%u]", i);
        rc = container_requests(kl_val_at(containers, i), path, &reqs, err);
    }
    kl_val_t inits = kl_val_get(pod_spec, "initContainers");
    n = kl_val_type(inits) == KL_TARRAY ? kl_val_len(inits) : 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        kl_val_t c = kl_val_at(inits, i);
        const char *policy = kl_val_str(kl_val_get(c, "restartPolicy"), NULL);
        snprintf(path, sizeof(path), "spec.initContainers[%u]", i);
        kl_resources_cleanup(&cur);
        rc = container_requests(c, path, &cur, err);
        if (rc < 0)
            break;
        if (policy != NULL && strcmp(policy, "Always") == 0) {
            /* A sidecar runs along with everything after it. */
            rc = add_all(&reqs, &cur);
            if (rc == 0)
                rc = add_all(&restartable, &cur);
            kl_resources_cleanup(&cur);
            if (rc == 0)
                rc = add_all(&cur, &restartable);
        } else {
            rc = add_all(&cur, &restartable);
        }
        if (rc == 0)
            rc = max_all(&init, &cur);
    }
    if (rc == 0)
        rc = max_all(&reqs, &init);
    if (rc == 0)
        rc = add_list(&reqs, kl_val_get(pod_spec, "overhead"), (kl_val_t){0}, "spec.overhead", err);
    if (rc == 0)
        rc = add_all(out, &reqs);
    if (rc == KL_ENOMEM)
        kl_err(err, rc, "%s", kl_strerror(rc));
    kl_resources_cleanup(&reqs);
    kl_resources_cleanup(&restartable);
    kl_resources_cleanup(&init);
    kl_resources_cleanup(&cur);
    return rc;
}

int kl_node_allocatable(kl_val_t node, kl_resources_t *out, kl_errinfo_t *err)
{
    kl_val_t list = kl_val_path(node, "status", "allocatable", NULL);
    const char *what = "status.allocatable";
    if (kl_val_type(list) != KL_TOBJECT) {
        list = kl_val_path(node, "status", "capacity", NULL);
        what = "status.capacity";
    }
    return add_list(out, list, (kl_val_t){0}, what, err);
}

/* IsScalarResourceName: extended resources, prefixed native ones, huge pages, attachable
 * volumes. */
static bool is_scalar(const char *name)
{
    if (strncmp(name, "hugepages-", 10) == 0 || strncmp(name, "attachable-volumes-", 19) == 0)
        return true;
    if (strchr(name, '/') == NULL)
        return false;
    return strstr(name, "kubernetes.io/") != NULL || strncmp(name, "requests.", 9) != 0;
}

static void report(kl_insufficient_t *out, size_t cap, size_t *n, kl_insufficient_t f)
{
    if (*n < cap)
        out[*n] = f;
    (*n)++;
}

size_t kl_node_fits(const kl_resources_t *allocatable, const kl_resources_t *used,
                    size_t pods_on_node, const kl_resources_t *request, kl_insufficient_t *out,
                    size_t cap)
{
    size_t n = 0;
    int64_t allowed = kl_resources_get(allocatable, "pods");
    if ((int64_t)pods_on_node + 1 > allowed)
        report(out, cap, &n,
               (kl_insufficient_t){"pods", "Too many pods", 1, (int64_t)pods_on_node, allowed});
    bool any_scalar = false;
    for (size_t i = 0; i < request->len; i++)
        any_scalar |= is_scalar(request->items[i].name);
    if (kl_resources_get(request, "cpu") == 0 && kl_resources_get(request, "memory") == 0 &&
        kl_resources_get(request, "ephemeral-storage") == 0 && !any_scalar)
        return n;
    static const struct {
        const char *name, *reason;
    } native[] = {{"cpu", "Insufficient cpu"},
                  {"memory", "Insufficient memory"},
                  {"ephemeral-storage", "Insufficient ephemeral-storage"}};
    for (size_t i = 0; i < sizeof(native) / sizeof(native[0]); i++) {
        int64_t want = kl_resources_get(request, native[i].name);
        int64_t have = kl_resources_get(allocatable, native[i].name);
        int64_t busy = kl_resources_get(used, native[i].name);
        if (want > 0 && sat_add(want, busy) > have)
            report(out, cap, &n,
                   (kl_insufficient_t){native[i].name, native[i].reason, want, busy, have});
    }
    for (size_t i = 0; i < request->len; i++) {
        const kl_resource_amount_t *it = &request->items[i];
        if (!is_scalar(it->name) || it->amount == 0)
            continue;
        int64_t have = kl_resources_get(allocatable, it->name);
        int64_t busy = kl_resources_get(used, it->name);
        if (sat_add(it->amount, busy) > have)
            report(out, cap, &n, (kl_insufficient_t){it->name, NULL, it->amount, busy, have});
    }
    return n;
}
