/* apiserver/strategy.h - what the API server does to objects of a kind on create and update:
 * defaulting (the values kubectl and controllers rely on), server-generated fields, and
 * validation with field errors. The functions never store anything. */
#ifndef KL_APISERVER_STRATEGY_H
#define KL_APISERVER_STRATEGY_H

#include "kubelua/json.h"

#include "apiserver/ferr.h"

struct kl_strategy {
    /* Fills in defaults; applied to every object decoded from a create, update or patch. */
    int (*defaults)(kl_json_t *obj);
    /* Create only, after metadata.uid is assigned: generated selectors, initial status. */
    int (*prepare_create)(kl_json_t *obj);
    /* Kind-specific validation; old is NULL on create. Metadata is validated generically. */
    void (*validate)(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs);
    /* Updates of the main resource (not status), after defaults: fields the server derives
     * from the old object (DaemonSet template generation). May be NULL. */
    int (*prepare_update)(kl_json_t *obj, const kl_json_t *old);
    /* Name validation rule ("label", "subdomain" or "path"); NULL for the default. */
    const char *name_rule;
    /* metadata.generation: 1 kept and bumped on spec changes, -1 never set, 0 the default rule
     * (named groups yes, the core group no). */
    int generation;
};

/* The annotation apps/v1 DaemonSets carry their template generation in. */
#define KL_DS_TEMPLATE_GENERATION "deprecated.daemonset.template.generation"

typedef struct kl_strategy kl_strategy_t;

/* Never NULL: kinds without special rules get a strategy that only validates metadata. */
const kl_strategy_t *kl_strategy_for(const char *group, const char *kind);

/* Generic metadata validation (names, labels, annotations). name_rule is "subdomain", "label"
 * or "path" (custom resources). */
void kl_validate_object_meta(const kl_json_t *obj, int namespaced, const char *name_rule,
                             kl_ferrs_t *errs);

/* Drops ObjectMeta's empty omitempty fields (labels, annotations, ownerReferences,
 * finalizers, managedFields), as Go's encoding of a stored object would. */
void kl_normalize_meta(kl_json_t *obj);

/* Pod spec defaults shared by templates (exposed for tests). */
int kl_defaults_pod_spec(kl_json_t *spec);

#endif
