/* kubelua/nodes.h - node eligibility: nodeSelector, required node affinity, taints and
 * tolerations, readiness, the DaemonSet placement predicate, and the scheduler's resource fit.
 * Uses object.h, selector.h, quantity.h, conditions.h.
 *
 * Semantics are upstream's (k8s.io/component-helpers nodeaffinity, k8s.io/api core/v1
 * toleration helpers, pkg/controller/daemon NodeShouldRunDaemonPod, the scheduler's
 * NodeResourcesFit). Inputs are borrowed values of compact documents: a whole Node object and a
 * pod spec (the "spec" of a Pod or of a pod template). Strings returned point into those
 * documents or into static storage. Everything here is thread-safe; only the node-affinity
 * functions and the resource lists allocate.
 */
#ifndef KUBELUA_NODES_H
#define KUBELUA_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/error.h"
#include "kubelua/object.h"

/* ---- Taints and tolerations --------------------------------------------------------------- */

/* Effects as bits, for filters. Unknown effect strings have no bit. */
enum {
    KL_EFFECT_NO_SCHEDULE = 1u << 0,
    KL_EFFECT_PREFER_NO_SCHEDULE = 1u << 1,
    KL_EFFECT_NO_EXECUTE = 1u << 2,
};
/* The bit of "NoSchedule", "PreferNoSchedule" or "NoExecute"; 0 for anything else. */
unsigned kl_taint_effect_bit(const char *effect);

/* A v1.Toleration; NULL strings read as "". */
typedef struct kl_toleration {
    const char *key; /* "": every key */
    const char *op;  /* "" or "Equal": value must match; "Exists"; others tolerate nothing */
    const char *value;
    const char *effect; /* "": every effect */
    bool has_seconds;   /* tolerationSeconds is set (else: forever) */
    int64_t seconds;
} kl_toleration_t;

/* A v1.Taint; NULL strings read as "". */
typedef struct kl_taint {
    const char *key;
    const char *value;
    const char *effect;
} kl_taint_t;

void kl_toleration_from_val(kl_val_t v, kl_toleration_t *out);
void kl_taint_from_val(kl_val_t v, kl_taint_t *out);

/* Toleration.ToleratesTaint: the effect matches (or is empty), the key matches (or is empty),
 * and with "Equal" (or "") the values are equal, with "Exists" anything goes. So an empty key
 * with "Exists" tolerates every taint. tolerationSeconds does not matter here. */
bool kl_toleration_tolerates(const kl_toleration_t *t, const kl_taint_t *taint);

/* FindMatchingUntoleratedTaint: the index in taints (an array of v1.Taint, e.g.
 * node.spec.taints) of the first taint whose effect bit is in effects and that no toleration
 * tolerates, neither one of `tolerations` (an array of v1.Toleration, may be missing) nor one
 * of the nextra `extra` ones; -1 when every such taint is tolerated. */
int kl_taints_find_untolerated(kl_val_t taints, kl_val_t tolerations, const kl_toleration_t *extra,
                               size_t nextra, unsigned effects);

/* How long a pod with these tolerations may stay on a node with these taints, as the taint
 * eviction controller computes it from the NoExecute taints (GetMatchingTolerations and
 * getMinTolerationTime): KL_TOLERATE_NOT when a NoExecute taint is not tolerated (evict now),
 * KL_TOLERATE_FOREVER when every tolerating toleration has no tolerationSeconds (or there is
 * no NoExecute taint), else the smallest tolerationSeconds among the tolerations used (0 when
 * one of them is <= 0). */
#define KL_TOLERATE_FOREVER (-1)
#define KL_TOLERATE_NOT (-2)
int64_t kl_taints_noexecute_seconds(kl_val_t taints, kl_val_t tolerations);

/* ---- Node affinity -------------------------------------------------------------------------- */

/* Matches a v1.NodeSelector ({nodeSelectorTerms: [...]}) against a node, as
 * LazyErrorNodeSelector.Match: terms are ORed; inside a term matchExpressions (on the node's
 * labels, operators In NotIn Exists DoesNotExist Gt Lt) and matchFields (on metadata.name,
 * operators In and NotIn with exactly one value) are ANDed; a term with neither matches
 * nothing, and so does a selector without terms. A term that does not parse does not match.
 * Returns 1 (match), 0 (no match) or KL_ENOMEM. When err is given and some term failed to
 * parse, err is filled (code KL_EINVAL, upstream's message) even if another term matched:
 * zero it first to tell. */
int kl_node_selector_match(kl_val_t node_selector, kl_val_t node, kl_errinfo_t *err);

/* GetRequiredNodeAffinity(pod).Match(node): every spec.nodeSelector label equals the node's
 * label, and spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution (when
 * present) matches as above. Returns 1, 0 or KL_ENOMEM; err as above. */
int kl_node_affinity_match(kl_val_t pod_spec, kl_val_t node, kl_errinfo_t *err);

/* ---- Node state ----------------------------------------------------------------------------- */

/* The Ready condition is True. */
bool kl_node_is_ready(kl_val_t node);
/* spec.unschedulable (cordoned). */
bool kl_node_is_unschedulable(kl_val_t node);

/* ---- DaemonSet placement -------------------------------------------------------------------- */

/* The tolerations the DaemonSet controller adds to its pods (not-ready and unreachable
 * NoExecute; disk-, memory-, pid-pressure and unschedulable NoSchedule; network-unavailable
 * NoSchedule when host_network). Static storage; returns the count. */
size_t kl_daemonset_tolerations(bool host_network, const kl_toleration_t **out);

typedef struct kl_daemon_placement {
    bool should_run;              /* a daemon pod should be created on the node */
    bool should_continue_running; /* an existing daemon pod may stay */
    /* Why should_run is false: "nodeName" (spec.nodeName names another node), "affinity"
     * (nodeSelector or required node affinity), "taint", or NULL when it is true. */
    const char *reason;
    int taint; /* index in node.spec.taints of the first untolerated NoSchedule/NoExecute taint,
                  or -1 */
} kl_daemon_placement_t;

/* NodeShouldRunDaemonPod(node, ds) for the DaemonSet's pod template spec, with the controller's
 * tolerations added: (false, false) when spec.nodeName is another node or the required node
 * affinity does not match; otherwise (false, no untolerated NoExecute taint) when some
 * NoSchedule or NoExecute taint is not tolerated; else (true, true). Readiness, cordoning
 * (auto-tolerated), resources and PreferNoSchedule taints do not matter. Returns 0 or
 * KL_ENOMEM. */
KL_NODISCARD int kl_node_should_run_daemon_pod(kl_val_t node, kl_val_t pod_spec,
                                               kl_daemon_placement_t *out);

/* ---- Resources ------------------------------------------------------------------------------ */

/* A resource list in the scheduler's units: "cpu" in millicores, everything else (memory and
 * ephemeral-storage in bytes, pods, hugepages-*, extended resources) in whole units rounded up.
 * Names are owned copies. Initialise with KL_RESOURCES_INIT or kl_resources_init(); release
 * with kl_resources_cleanup(). */
typedef struct kl_resource_amount {
    char *name;
    int64_t amount;
} kl_resource_amount_t;

typedef struct kl_resources {
    kl_resource_amount_t *items;
    size_t len, cap;
} kl_resources_t;

#define KL_RESOURCES_INIT                                                                          \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void kl_resources_init(kl_resources_t *r);
void kl_resources_cleanup(kl_resources_t *r);
/* The amount for name, 0 when absent. */
int64_t kl_resources_get(const kl_resources_t *r, const char *name);
/* Adds (saturating) / raises to at least / sets amount for name. 0 or KL_ENOMEM. */
KL_NODISCARD int kl_resources_add(kl_resources_t *r, const char *name, int64_t amount);
KL_NODISCARD int kl_resources_max(kl_resources_t *r, const char *name, int64_t amount);
KL_NODISCARD int kl_resources_set(kl_resources_t *r, const char *name, int64_t amount);
/* Parses a v1.ResourceList object into r (adding to what is there). A bad quantity fails with
 * KL_ESYNTAX and a message naming the resource. */
KL_NODISCARD int kl_resources_add_list(kl_resources_t *r, kl_val_t list, kl_errinfo_t *err);

/* What the scheduler charges for a pod (resourcehelper.PodRequests): the sum over containers,
 * raised to the largest init container (restartable "sidecar" init containers, restartPolicy
 * Always, count towards the sum and towards every later init container), plus spec.overhead.
 * A container's request for a resource defaults to its limit when only the limit is set (the
 * API server's defaulting, applied again here for objects that skipped it). Adds to out. */
KL_NODISCARD int kl_pod_requests(kl_val_t pod_spec, kl_resources_t *out, kl_errinfo_t *err);

/* node.status.allocatable (node.status.capacity when allocatable is absent). Adds to out. */
KL_NODISCARD int kl_node_allocatable(kl_val_t node, kl_resources_t *out, kl_errinfo_t *err);

/* One failed check of the fit. */
typedef struct kl_insufficient {
    const char *resource; /* "pods", "cpu", ... (points into the request or static storage) */
    const char *reason;   /* "Too many pods", "Insufficient cpu", ...: NULL for extended ones,
                             whose reason is "Insufficient " + resource */
    int64_t requested, used, capacity;
} kl_insufficient_t;

/* The scheduler's fitsRequest: the pod count (pods_on_node + 1 against allocatable "pods"),
 * then, unless the request is all zero, cpu, memory, ephemeral-storage and every other
 * requested resource (hugepages-*, attachable-volumes-*, names with a '/') against
 * allocatable - used. Bare unknown names are ignored, as upstream does. Writes up to cap
 * findings to out and returns how many there are (0: the pod fits). */
size_t kl_node_fits(const kl_resources_t *allocatable, const kl_resources_t *used,
                    size_t pods_on_node, const kl_resources_t *request, kl_insufficient_t *out,
                    size_t cap);

#endif
