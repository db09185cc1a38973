/* The table of served resources: built-ins and CustomResourceDefinitions. */
#include "apiserver/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/log.h"

#include "apiserver/schema_int.h"
#include "apiserver/strategy.h"
#include "apiserver/strategy_res.h"
#include "apiserver/table.h"

#define VERBS_ALL                                                                                  \
    "[\"create\",\"delete\",\"deletecollection\",\"get\",\"list\",\"patch\",\"update\",\"watch\"]"
#define VERBS_CREATE "[\"create\"]"

typedef struct builtin {
    const char *group, *version, *resource, *kind, *singular;
    const char *short_names; /* comma-separated */
    const char *categories;  /* comma-separated */
    bool namespaced;
    unsigned sub;
    bool has_status;
    kl_gc_policy_t gc;
    const char *alias_of; /* "group/version/resource" of the storage owner */
    const char *deprecation;
    bool create_only;
} builtin_t;

static const builtin_t builtins[] = {
    {"", "v1", "namespaces", "Namespace", "namespace", "ns", "", false,
     KL_SUB_STATUS | KL_SUB_FINALIZE, true, KL_GC_BACKGROUND, NULL, NULL, false},
    {"", "v1", "nodes", "Node", "node", "no", "", false, KL_SUB_STATUS, true, KL_GC_BACKGROUND,
     NULL, NULL, false},
    {"", "v1", "pods", "Pod", "pod", "po", "all", true,
     KL_SUB_STATUS | KL_SUB_LOG | KL_SUB_BINDING | KL_SUB_EVICTION | KL_SUB_EPHEMERAL, true,
     KL_GC_BACKGROUND, NULL, NULL, false},
    {"", "v1", "bindings", "Binding", "binding", "", "", true, 0, false, KL_GC_BACKGROUND, NULL,
     NULL, true},
    {"", "v1", "events", "Event", "event", "ev", "", true, 0, false, KL_GC_BACKGROUND, NULL, NULL,
     false},
    {"", "v1", "configmaps", "ConfigMap", "configmap", "cm", "", true, 0, false, KL_GC_BACKGROUND,
     NULL, NULL, false},
    {"", "v1", "secrets", "Secret", "secret", "", "", true, 0, false, KL_GC_BACKGROUND, NULL, NULL,
     false},
    {"", "v1", "serviceaccounts", "ServiceAccount", "serviceaccount", "sa", "", true, KL_SUB_TOKEN,
     false, KL_GC_BACKGROUND, NULL, NULL, false},
    {"", "v1", "services", "Service", "service", "svc", "all", true, KL_SUB_STATUS, true,
     KL_GC_BACKGROUND, NULL, NULL, false},
    {"", "v1", "endpoints", "Endpoints", "endpoints", "ep", "", true, 0, false, KL_GC_BACKGROUND,
     NULL, NULL, false},
    {"apps", "v1", "daemonsets", "DaemonSet", "daemonset", "ds", "all", true, KL_SUB_STATUS, true,
     KL_GC_BACKGROUND, NULL, NULL, false},
    {"apps", "v1", "deployments", "Deployment", "deployment", "deploy", "all", true,
     KL_SUB_STATUS | KL_SUB_SCALE, true, KL_GC_BACKGROUND, NULL, NULL, false},
    {"apps", "v1", "replicasets", "ReplicaSet", "replicaset", "rs", "all", true,
     KL_SUB_STATUS | KL_SUB_SCALE, true, KL_GC_BACKGROUND, NULL, NULL, false},
    {"apps", "v1", "controllerrevisions", "ControllerRevision", "controllerrevision", "", "", true,
     0, false, KL_GC_BACKGROUND, NULL, NULL, false},
    {"batch", "v1", "jobs", "Job", "job", "", "all", true, KL_SUB_STATUS, true, KL_GC_ORPHAN, NULL,
     NULL, false},
    {"batch", "v1", "cronjobs", "CronJob", "cronjob", "cj", "all", true, KL_SUB_STATUS, true,
     KL_GC_BACKGROUND, NULL, NULL, false},
    {"batch", "v1beta1", "cronjobs", "CronJob", "cronjob", "cj", "all", true, KL_SUB_STATUS, true,
     KL_GC_BACKGROUND, "batch/v1/cronjobs",
     "batch/v1beta1 CronJob is deprecated in v1.21+, unavailable in v1.25+; use batch/v1 "
     "CronJob",
     false},
    {"coordination.k8s.io", "v1", "leases", "Lease", "lease", "", "", true, 0, false,
     KL_GC_BACKGROUND, NULL, NULL, false},
    {"events.k8s.io", "v1", "events", "Event", "event", "ev", "", true, 0, false, KL_GC_BACKGROUND,
     NULL, NULL, false},
    /* Served and stored; no controller acts on them (see README, "API server"). */
    {"", "v1", "resourcequotas", "ResourceQuota", "resourcequota", "quota", "", true, KL_SUB_STATUS,
     true, KL_GC_BACKGROUND, NULL, NULL, false},
    {"", "v1", "limitranges", "LimitRange", "limitrange", "limits", "", true, 0, false,
     KL_GC_BACKGROUND, NULL, NULL, false},
    {"", "v1", "persistentvolumes", "PersistentVolume", "persistentvolume", "pv", "", false,
     KL_SUB_STATUS, true, KL_GC_BACKGROUND, NULL, NULL, false},
    {"", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", "persistentvolumeclaim", "pvc",
     "", true, KL_SUB_STATUS, true, KL_GC_BACKGROUND, NULL, NULL, false},
    {"", "v1", "podtemplates", "PodTemplate", "podtemplate", "", "", true, 0, false,
     KL_GC_BACKGROUND, NULL, NULL, false},
    {"", "v1", "replicationcontrollers", "ReplicationController", "replicationcontroller", "rc",
     "all", true, KL_SUB_STATUS | KL_SUB_SCALE, true, KL_GC_BACKGROUND, NULL, NULL, false},
    {"apps", "v1", "statefulsets", "StatefulSet", "statefulset", "sts", "all", true,
     KL_SUB_STATUS | KL_SUB_SCALE, true, KL_GC_BACKGROUND, NULL, NULL, false},
    {"rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding",
     "clusterrolebinding", "", "", false, 0, false, KL_GC_BACKGROUND, NULL, NULL, false},
    {"rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", "clusterrole", "", "", false,
     0, false, KL_GC_BACKGROUND, NULL, NULL, false},
    {"rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", "rolebinding", "", "", true,
     0, false, KL_GC_BACKGROUND, NULL, NULL, false},
    {"rbac.authorization.k8s.io", "v1", "roles", "Role", "role", "", "", true, 0, false,
     KL_GC_BACKGROUND, NULL, NULL, false},
    {"scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", "priorityclass", "pc", "",
     false, 0, false, KL_GC_BACKGROUND, NULL, NULL, false},
    {"policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", "poddisruptionbudget", "pdb",
     "", true, KL_SUB_STATUS, true, KL_GC_BACKGROUND, NULL, NULL, false},
    {"networking.k8s.io", "v1", "ingressclasses", "IngressClass", "ingressclass", "", "", false, 0,
     false, KL_GC_BACKGROUND, NULL, NULL, false},
    {"networking.k8s.io", "v1", "ingresses", "Ingress", "ingress", "ing", "", true, KL_SUB_STATUS,
     true, KL_GC_BACKGROUND, NULL, NULL, false},
    {"networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", "networkpolicy", "netpol", "",
     true, 0, false, KL_GC_BACKGROUND, NULL, NULL, false},
    {"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", "endpointslice", "", "", true, 0,
     false, KL_GC_BACKGROUND, NULL, NULL, false},
    {"autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler",
     "horizontalpodautoscaler", "hpa", "all", true, KL_SUB_STATUS, true, KL_GC_BACKGROUND, NULL,
     NULL, false},
    {"autoscaling", "v1", "horizontalpodautoscalers", "HorizontalPodAutoscaler",
     "horizontalpodautoscaler", "hpa", "all", true, KL_SUB_STATUS, true, KL_GC_BACKGROUND,
     "autoscaling/v2/horizontalpodautoscalers", NULL, false},
    {"storage.k8s.io", "v1", "storageclasses", "StorageClass", "storageclass", "sc", "", false, 0,
     false, KL_GC_BACKGROUND, NULL, NULL, false},
    {"node.k8s.io", "v1", "runtimeclasses", "RuntimeClass", "runtimeclass", "", "", false, 0, false,
     KL_GC_BACKGROUND, NULL, NULL, false},
    /* Create-only reviews, answered at once and never stored (reviews.c). */
    {"authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", "selfsubjectreview",
     "", "", false, 0, false, KL_GC_BACKGROUND, NULL, NULL, true},
    {"authentication.k8s.io", "v1", "tokenreviews", "TokenReview", "tokenreview", "", "", false, 0,
     false, KL_GC_BACKGROUND, NULL, NULL, true},
    {"authorization.k8s.io", "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview",
     "localsubjectaccessreview", "", "", true, 0, false, KL_GC_BACKGROUND, NULL, NULL, true},
    {"authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview",
     "selfsubjectaccessreview", "", "", false, 0, false, KL_GC_BACKGROUND, NULL, NULL, true},
    {"authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview",
     "selfsubjectrulesreview", "", "", false, 0, false, KL_GC_BACKGROUND, NULL, NULL, true},
    {"authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview",
     "subjectaccessreview", "", "", false, 0, false, KL_GC_BACKGROUND, NULL, NULL, true},
    {"apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
     "customresourcedefinition", "crd,crds", "api-extensions", false, KL_SUB_STATUS, true,
     KL_GC_BACKGROUND, NULL, NULL, false},
};

struct kl_registry {
    kl_store_t *store;
    kl_res_t **res;
    size_t n, cap;
    unsigned generation;
};

static char **split_list(const char *s)
{
    size_t count = 0;
    for (const char *p = s; *p; p++)
        if (*p == ',')
            count++;
    char **out = calloc(count + 2, sizeof(char *));
    if (out == NULL)
        return NULL;
    size_t i = 0;
    const char *start = s;
    for (const char *p = s;; p++) {
        if (*p == ',' || *p == '\0') {
            if (p > start)
                out[i++] = strndup(start, (size_t)(p - start));
            start = p + 1;
            if (*p == '\0')
                break;
        }
    }
    return out;
}

static char **json_string_list(const kl_json_t *arr)
{
    uint32_t n = kl_json_is(arr, KL_TARRAY) ? arr->len : 0;
    char **out = calloc(n + 1, sizeof(char *));
    if (out == NULL)
        return NULL;
    size_t j = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *s = kl_json_str(kl_json_at(arr, i));
        if (s)
            out[j++] = strdup(s);
    }
    return out;
}

static void free_list(char **l)
{
    for (size_t i = 0; l && l[i]; i++)
        free(l[i]);
    free(l);
}

static void res_free(kl_res_t *r)
{
    free(r->group);
    free(r->version);
    free(r->resource);
    free(r->kind);
    free(r->list_kind);
    free(r->singular);
    free_list(r->short_names);
    free_list(r->categories);
    free(r->deprecation);
    free(r->crd_name);
    free(r->api_version);
    free(r->group_resource);
    if (r->printer)
        kl_printer_free(r->printer);
    kl_stype_free(r->owned_schema);
    free(r);
}

static int res_finish(kl_registry_t *reg, kl_res_t *r)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s%s%s", r->group, *r->group ? "/" : "", r->version);
    r->api_version = strdup(buf);
    snprintf(buf, sizeof(buf), "%s%s%s", r->resource, *r->group ? "." : "", r->group);
    r->group_resource = strdup(buf);
    if (r->list_kind == NULL) {
        snprintf(buf, sizeof(buf), "%sList", r->kind);
        r->list_kind = strdup(buf);
    }
    if (r->api_version == NULL || r->group_resource == NULL || r->list_kind == NULL)
        return KL_ENOMEM;
    if (r->primary == r) {
        snprintf(buf, sizeof(buf), "%s/%s/", *r->group ? r->group : "core", r->resource);
        r->table = kl_store_table(reg->store, buf);
        if (r->table == NULL)
            return KL_ENOMEM;
    } else {
        r->table = r->primary->table;
    }
    return 0;
}

static int add(kl_registry_t *reg, kl_res_t *r)
{
    if (reg->n == reg->cap) {
        size_t cap = reg->cap ? reg->cap * 2 : 32;
        kl_res_t **n = realloc(reg->res, cap * sizeof(*n));
        if (n == NULL)
            return KL_ENOMEM;
        reg->res = n;
        reg->cap = cap;
    }
    reg->res[reg->n++] = r;
    reg->generation++;
    return 0;
}

int kl_registry_new(kl_store_t *store, kl_registry_t **out, kl_errinfo_t *err)
{
    kl_registry_t *reg = calloc(1, sizeof(*reg));
    if (reg == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    reg->store = store;
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        const builtin_t *b = &builtins[i];
        kl_res_t *r = calloc(1, sizeof(*r));
        if (r == NULL)
            goto oom;
        r->group = strdup(b->group);
        r->version = strdup(b->version);
        r->resource = strdup(b->resource);
        r->kind = strdup(b->kind);
        r->singular = strdup(b->singular);
        r->short_names = split_list(b->short_names);
        r->categories = split_list(b->categories);
        r->namespaced = b->namespaced;
        r->subresources = b->sub;
        r->has_status = b->has_status;
        r->gc_default = b->gc;
        r->list_only_verbs = b->create_only;
        r->verbs_json = b->create_only ? VERBS_CREATE : VERBS_ALL;
        r->deprecation = b->deprecation ? strdup(b->deprecation) : NULL;
        r->primary = r;
        if (b->alias_of) {
            char g[64], v[32], res[64];
            if (sscanf(b->alias_of, "%63[^/]/%31[^/]/%63s", g, v, res) == 3)
                r->primary = kl_registry_find(reg, g, v, res);
            if (r->primary == NULL)
                r->primary = r;
        }
        r->schema = kl_schema_for_kind(b->group, b->version, b->kind);
        r->strategy = kl_strategy_for(b->group, b->kind);
        if (b->alias_of)
            r->convert = kl_res_convert_for(b->group, b->version, b->kind);
        if (add(reg, r) < 0) {
            res_free(r);
            goto oom;
        }
        if (!r->group || !r->version || !r->resource || !r->kind || !r->singular ||
            !r->short_names || !r->categories || res_finish(reg, r) < 0)
            goto oom;
    }
    *out = reg;
    return 0;
oom:
    kl_registry_free(reg);
    return kl_err(err, KL_ENOMEM, "out of memory");
}

void kl_registry_free(kl_registry_t *reg)
{
    if (reg == NULL)
        return;
    for (size_t i = 0; i < reg->n; i++)
        res_free(reg->res[i]);
    free(reg->res);
    free(reg);
}

kl_res_t *kl_registry_find(kl_registry_t *reg, const char *group, const char *version,
                           const char *resource)
{
    for (size_t i = 0; i < reg->n; i++) {
        kl_res_t *r = reg->res[i];
        if (!r->gone && strcmp(r->resource, resource) == 0 && strcmp(r->group, group) == 0 &&
            strcmp(r->version, version) == 0)
            return r;
    }
    return NULL;
}

kl_res_t *kl_registry_find_kind(kl_registry_t *reg, const char *group, const char *kind)
{
    kl_res_t *found = NULL;
    for (size_t i = 0; i < reg->n; i++) {
        kl_res_t *r = reg->res[i];
        if (!r->gone && strcmp(r->kind, kind) == 0 && strcmp(r->group, group) == 0 &&
            !r->list_only_verbs) {
            if (r->primary == r)
                return r;
            if (found == NULL)
                found = r;
        }
    }
    return found;
}

kl_res_t **kl_registry_all(kl_registry_t *reg, size_t *n)
{
    *n = reg->n;
    return reg->res;
}

unsigned kl_registry_generation(const kl_registry_t *reg)
{
    return reg->generation;
}

size_t kl_registry_group_versions(kl_registry_t *reg, kl_group_version_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < reg->n; i++) {
        kl_res_t *r = reg->res[i];
        if (r->gone)
            continue;
        size_t j;
        for (j = 0; j < n; j++)
            if (strcmp(out[j].group, r->group) == 0 && strcmp(out[j].version, r->version) == 0)
                break;
        if (j == n && n < cap)
            out[n++] = (kl_group_version_t){r->group, r->version};
    }
    return n;
}

const char *kl_registry_preferred_version(kl_registry_t *reg, const char *group)
{
    /* The storage version (a primary) is preferred; otherwise the first registered. */
    const char *first = NULL;
    for (size_t i = 0; i < reg->n; i++) {
        kl_res_t *r = reg->res[i];
        if (r->gone || strcmp(r->group, group) != 0)
            continue;
        if (r->primary == r && !r->deprecation)
            return r->version;
        if (first == NULL)
            first = r->version;
    }
    return first;
}

/* ---- CustomResourceDefinitions ---------------------------------------------------------- */

static void mark_gone(kl_registry_t *reg, const char *crd_name)
{
    for (size_t i = 0; i < reg->n; i++) {
        kl_res_t *r = reg->res[i];
        if (r->is_crd && !r->gone && r->crd_name && strcmp(r->crd_name, crd_name) == 0) {
            r->gone = true;
            reg->generation++;
        }
    }
}

void kl_registry_remove_crd(kl_registry_t *reg, const char *crd_name)
{
    mark_gone(reg, crd_name);
}

/* Stored custom resources get their schema's defaults, as kube-apiserver applies them when it
 * reads an object from storage: a default added to a CRD shows on the objects that exist. The
 * defaulted form replaces the in-memory copy only (same resourceVersion, no event); the stored
 * row catches up on the object's next write. */
static void default_stored(kl_res_t *r)
{
    const kl_stype_t *t = r->schema;
    if (t == NULL || t->valid == NULL || !t->valid->subtree_defaults || r->table == NULL)
        return;
    size_t n = 0;
    kl_entry_t **all = kl_store_sorted(r->table, &n);
    for (size_t i = 0; i < n; i++) {
        kl_entry_t *e = all[i];
        kl_json_t *obj = kl_json_from_val(kl_obj_root(e->obj->doc));
        int rc = obj ? kl_schema_apply_defaults(t, obj) : KL_ENOMEM;
        kl_buf_t b;
        kl_buf_init(&b, 0);
        kl_obj_t *doc = NULL;
        if (rc == 1 && kl_json_encode(obj, &b) == 0 && kl_obj_from_json(obj, &doc) == 0) {
            kl_sobj_t *o = malloc(sizeof(*o) + b.len + 1);
            if (o != NULL) {
                o->refs = 1;
                o->rv = e->obj->rv;
                o->doc = doc;
                o->len = b.len;
                memcpy(o->json, b.data, b.len + 1);
                r->table->bytes = r->table->bytes - e->obj->len + o->len;
                kl_sobj_unref(e->obj);
                e->obj = o;
                doc = NULL;
            }
        }
        if (rc < 0)
            KL_WARN("apiserver", "defaulting stored %s %s: out of memory", r->kind, e->name_key);
        kl_obj_unref(doc);
        kl_buf_cleanup(&b);
        kl_json_free(obj);
    }
}

int kl_registry_apply_crd(kl_registry_t *reg, const kl_json_t *crd, kl_errinfo_t *err)
{
    const char *name = kl_json_path_str(crd, "metadata", "name", NULL);
    const kl_json_t *spec = kl_json_get(crd, "spec");
    const char *group = kl_json_path_str(spec, "group", NULL);
    const kl_json_t *names = kl_json_get(spec, "names");
    const char *plural = kl_json_path_str(names, "plural", NULL);
    const char *kind = kl_json_path_str(names, "kind", NULL);
    const char *scope = kl_json_path_str(spec, "scope", NULL);
    const kl_json_t *versions = kl_json_get(spec, "versions");
    if (!name || !group || !plural || !kind || !kl_json_is(versions, KL_TARRAY))
        return kl_err(err, KL_EINVAL, "incomplete CustomResourceDefinition");

    /* Find the storage version first: every served version shares its storage. */
    const kl_json_t *storage_v = NULL;
    for (uint32_t i = 0; i < versions->len; i++)
        if (kl_json_bool_or(kl_json_get(kl_json_at(versions, i), "storage"), false))
            storage_v = kl_json_at(versions, i);
    if (storage_v == NULL)
        storage_v = kl_json_at(versions, 0);

    mark_gone(reg, name);
    kl_res_t *primary = NULL;
    /* Storage version first, then the others. */
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = 0; i < versions->len; i++) {
            const kl_json_t *v = kl_json_at(versions, i);
            if ((pass == 0) != (v == storage_v))
                continue;
            if (!kl_json_bool_or(kl_json_get(v, "served"), true) && v != storage_v)
                continue;
            const char *vname = kl_json_path_str(v, "name", NULL);
            if (vname == NULL)
                continue;
            kl_res_t *r = calloc(1, sizeof(*r));
            if (r == NULL)
                return kl_err(err, KL_ENOMEM, "out of memory");
            r->is_crd = true;
            r->crd_name = strdup(name);
            r->group = strdup(group);
            r->version = strdup(vname);
            r->resource = strdup(plural);
            r->kind = strdup(kind);
            const char *lk = kl_json_path_str(names, "listKind", NULL);
            r->list_kind = lk ? strdup(lk) : NULL;
            const char *sg = kl_json_path_str(names, "singular", NULL);
            char lower[256];
            if (sg == NULL) {
                size_t k;
                for (k = 0; kind[k] && k < sizeof(lower) - 1; k++)
                    lower[k] = (char)(kind[k] >= 'A' && kind[k] <= 'Z' ? kind[k] + 32 : kind[k]);
                lower[k] = '\0';
                sg = lower;
            }
            r->singular = strdup(sg);
            r->short_names = json_string_list(kl_json_get(names, "shortNames"));
            r->categories = json_string_list(kl_json_get(names, "categories"));
            r->namespaced = scope == NULL || strcmp(scope, "Namespaced") == 0;
            const kl_json_t *sub = kl_json_get(v, "subresources");
            if (kl_json_get(sub, "status"))
                r->subresources |= KL_SUB_STATUS;
            if (kl_json_get(sub, "scale"))
                r->subresources |= KL_SUB_SCALE;
            r->has_status = (r->subresources & KL_SUB_STATUS) != 0;
            r->verbs_json = VERBS_ALL;
            r->gc_default = KL_GC_BACKGROUND;
            r->strategy = kl_strategy_for(group, kind);
            if (kl_json_bool_or(kl_json_get(v, "deprecated"), false)) {
                const char *w = kl_json_path_str(v, "deprecationWarning", NULL);
                char buf[512];
                if (w == NULL) {
                    snprintf(buf, sizeof(buf), "%s/%s %s is deprecated", group, vname, kind);
                    w = buf;
                }
                r->deprecation = strdup(w);
            }
            const kl_json_t *schema = kl_json_path(v, "schema", "openAPIV3Schema", NULL);
            if (schema) {
                kl_errinfo_t serr;
                if (kl_schema_from_openapi(schema, &r->owned_schema, &serr) < 0)
                    KL_WARN("apiserver", "CRD %s version %s: schema not usable: %s", name, vname,
                            serr.msg);
                r->schema = r->owned_schema;
            }
            kl_errinfo_t perr;
            if (kl_printer_for(group, kind, kl_json_get(v, "additionalPrinterColumns"), &r->printer,
                               &perr) < 0) {
                KL_WARN("apiserver", "CRD %s version %s: printer columns: %s", name, vname,
                        perr.msg);
                r->printer = NULL;
            }
            r->primary = primary ? primary : r;
            if (!r->crd_name || !r->group || !r->version || !r->resource || !r->kind ||
                !r->singular || !r->short_names || !r->categories || add(reg, r) < 0) {
                res_free(r);
                return kl_err(err, KL_ENOMEM, "out of memory");
            }
            if (res_finish(reg, r) < 0)
                return kl_err(err, KL_ENOMEM, "out of memory");
            if (primary == NULL)
                primary = r;
        }
    }
    if (primary != NULL)
        default_stored(primary);
    return 0;
}
