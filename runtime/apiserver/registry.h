/* apiserver/registry.h - the resource types the embedded API server serves.
 *
 * Built-in resources come from a static table; CustomResourceDefinitions add resources while the
 * server runs. A resource alias (batch/v1beta1 cronjobs) shares the storage of its primary
 * (batch/v1 cronjobs) and rewrites apiVersion on the way out. Server thread only. Resources live
 * until the registry is freed (a deleted CRD's resources are marked gone, never freed early,
 * because watches may still point at them).
 */
#ifndef KL_APISERVER_REGISTRY_H
#define KL_APISERVER_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "kubelua/json.h"
#include "kubelua/schema.h"

#include "apiserver/store.h"

enum {
    KL_SUB_STATUS = 1u << 0,
    KL_SUB_SCALE = 1u << 1,
    KL_SUB_LOG = 1u << 2,
    KL_SUB_BINDING = 1u << 3,
    KL_SUB_EVICTION = 1u << 4,
    KL_SUB_FINALIZE = 1u << 5,
    KL_SUB_EPHEMERAL = 1u << 6,
    KL_SUB_TOKEN = 1u << 7, /* serviceaccounts/token (TokenRequest) */
};

typedef enum kl_gc_policy {
    KL_GC_BACKGROUND = 0,
    KL_GC_FOREGROUND = 1,
    KL_GC_ORPHAN = 2,
} kl_gc_policy_t;

typedef struct kl_res kl_res_t;
struct kl_printer;

/* Per-kind behaviour (defaulting, validation), see strategy.c. */
typedef struct kl_strategy kl_strategy_t;

struct kl_res {
    char *group; /* "" for core */
    char *version;
    char *resource; /* plural, e.g. "daemonsets" */
    char *kind;
    char *list_kind;
    char *singular;
    char **short_names; /* NULL-terminated (may be empty) */
    char **categories;  /* NULL-terminated (may be empty) */
    bool namespaced;
    unsigned subresources;  /* KL_SUB_* */
    bool list_only_verbs;   /* e.g. bindings: create only */
    const char *verbs_json; /* JSON array of verbs for discovery */
    char *deprecation;      /* Warning header text for deprecated versions, or NULL */
    kl_res_t *primary; /* storage owner: itself, or the resource an alias shares storage with */
    kl_table_t *table; /* the primary's live objects */
    const kl_stype_t *schema; /* top-level type (NULL: unchecked) */
    kl_stype_t *owned_schema; /* CRD schema owned by this resource */
    struct kl_printer *printer;
    const kl_strategy_t *strategy;
    kl_gc_policy_t gc_default;
    bool has_status; /* the object has a .status that main-resource writes must not change */
    bool is_crd;
    bool gone;                 /* CRD deleted: not served any more */
    char *crd_name;            /* owning CRD name for custom resources */
    char *api_version;         /* "apps/v1" or "v1" */
    char *group_resource;      /* "daemonsets.apps" or "pods" (for messages) */
    char *scale_selector_path; /* unused for now */
    /* Aliases whose shape differs from their primary's (autoscaling/v1 HorizontalPodAutoscaler):
     * rewrites obj, a JSON object of this kind in any served version, into the form of
     * api_version (this alias's or the primary's). NULL when only apiVersion differs. */
    int (*convert)(kl_json_t *obj, const char *api_version);
};

typedef struct kl_registry kl_registry_t;

KL_NODISCARD int kl_registry_new(kl_store_t *store, kl_registry_t **out, kl_errinfo_t *err);
void kl_registry_free(kl_registry_t *r);

/* Lookup by group, version and plural resource name. NULL when not served. */
kl_res_t *kl_registry_find(kl_registry_t *r, const char *group, const char *version,
                           const char *resource);
/* Lookup by group and kind, any served version (preferring the storage version). */
kl_res_t *kl_registry_find_kind(kl_registry_t *r, const char *group, const char *kind);
/* All resources, in registration order (gone ones included; check res->gone). */
kl_res_t **kl_registry_all(kl_registry_t *r, size_t *n);

/* Adds or replaces the resources of a CustomResourceDefinition (served versions). Returns
 * KL_EINVAL with a message for definitions that cannot be served. */
KL_NODISCARD int kl_registry_apply_crd(kl_registry_t *r, const kl_json_t *crd, kl_errinfo_t *err);
/* Stops serving a CRD's resources. */
void kl_registry_remove_crd(kl_registry_t *r, const char *crd_name);
/* Bumped whenever the set of served resources changes (discovery and OpenAPI hashes). */
unsigned kl_registry_generation(const kl_registry_t *r);

/* The group-versions served, for discovery ("" group first). */
typedef struct kl_group_version {
    const char *group;
    const char *version;
} kl_group_version_t;
size_t kl_registry_group_versions(kl_registry_t *r, kl_group_version_t *out, size_t cap);
/* The preferred (first registered) version of a group. */
const char *kl_registry_preferred_version(kl_registry_t *r, const char *group);

#endif
