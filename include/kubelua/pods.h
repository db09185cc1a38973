/* kubelua/pods.h - pods built from templates, pod classification and deletion ranking, as
 * kube-controller-manager's controller_utils does them. Uses object.h, json.h, ktime.h,
 * conditions.h.
 *
 * Classification and ranking read compact documents (borrowed kl_val_t of whole Pod objects)
 * and never allocate, except kl_pods_rank(). kl_pod_from_template() builds a new mutable tree
 * the caller owns. Thread-safe.
 */
#ifndef KUBELUA_PODS_H
#define KUBELUA_PODS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/error.h"
#include "kubelua/json.h"
#include "kubelua/object.h"

/* ---- Pods from templates -------------------------------------------------------------------- */

typedef struct kl_pod_template_opts {
    /* The controller owner: becomes the one ownerReference {apiVersion, kind, name, uid,
     * controller: true, blockOwnerDeletion: true}. All four are required. */
    const char *owner_api_version;
    const char *owner_kind;
    const char *owner_name;
    const char *owner_uid;
    const char *namespace; /* metadata.namespace; NULL: not set (the create call names it) */
    /* metadata.generateName; NULL: "<owner_name>-", or owner_name when that is not a valid
     * name prefix (getPodsPrefix). Ignored when name is set. */
    const char *generate_name;
    const char *name; /* metadata.name instead of generateName */
    /* Extra labels / annotations (objects of strings) set over the template's. */
    const kl_json_t *labels;
    const kl_json_t *annotations;
    /* Finalizers appended after the template's, each unless already present. NULL-terminated
     * array or NULL. */
    const char *const *finalizers;
    const char *node_name; /* spec.nodeName */
    /* Pins the pod to a node the DaemonSet way (ReplaceDaemonSetPodNodeNameNodeAffinity): the
     * required node affinity becomes exactly one term matchFields metadata.name In [pin_node];
     * the user's required terms are dropped, preferred terms and nodeSelector are kept. */
    const char *pin_node;
    /* Tolerations (array) added with AddOrUpdateTolerationInPodSpec semantics: one that
     * matches an existing toleration's key, operator, value and effect replaces it in place,
     * others are appended. */
    const kl_json_t *tolerations;
    /* Upstream refuses to create a pod without labels ("unable to create pods, no labels");
     * set to build one anyway. */
    bool allow_no_labels;
} kl_pod_template_opts_t;

/* GetPodFromTemplate: a Pod {apiVersion: v1, kind: Pod, metadata, spec} whose metadata has the
 * template's labels, annotations and finalizers (copies) plus the options above, and whose spec
 * is a deep copy of the template's spec. tmpl is a v1.PodTemplateSpec ({metadata, spec}).
 * *out is owned by the caller (kl_json_free). Returns 0, KL_EINVAL (missing owner fields,
 * non-object template, no labels), KL_ENOMEM; err says why. */
KL_NODISCARD int kl_pod_from_template(const kl_json_t *tmpl, const kl_pod_template_opts_t *o,
                                      kl_json_t **out, kl_errinfo_t *err);
KL_NODISCARD int kl_pod_from_template_val(kl_val_t tmpl, const kl_pod_template_opts_t *o,
                                          kl_json_t **out, kl_errinfo_t *err);

/* GetTargetNodeName: spec.nodeName, else the single value of the first matchFields
 * "metadata.name" In requirement of the required node affinity; NULL when neither (or when
 * that requirement has several values). Points into the document. */
const char *kl_pod_target_node(kl_val_t pod);

/* ---- Classification ------------------------------------------------------------------------- */

typedef enum kl_pod_phase {
    KL_POD_PHASE_NONE = 0, /* empty or unrecognised */
    KL_POD_PENDING,
    KL_POD_RUNNING,
    KL_POD_SUCCEEDED,
    KL_POD_FAILED,
    KL_POD_UNKNOWN,
} kl_pod_phase_t;

kl_pod_phase_t kl_pod_phase(kl_val_t pod);
/* metadata.deletionTimestamp is set. */
bool kl_pod_is_deleted(kl_val_t pod);
/* Phase Succeeded or Failed. */
bool kl_pod_is_terminal(kl_val_t pod);
/* controller.IsPodActive: not terminal and not being deleted. */
bool kl_pod_is_active(kl_val_t pod);
/* Being deleted and not terminal (the Job controller's "terminating"). */
bool kl_pod_is_terminating(kl_val_t pod);
/* podutil.IsPodReady: the Ready condition is True. */
bool kl_pod_is_ready(kl_val_t pod);
/* podutil.IsPodAvailable: ready, and either min_ready_seconds is 0 or the Ready condition's
 * lastTransitionTime + min_ready_seconds is strictly before now_ms (Unix milliseconds). */
bool kl_pod_is_available(kl_val_t pod, int64_t min_ready_seconds, int64_t now_ms);

/* One class per pod, in this order of precedence: phase Succeeded, phase Failed, being deleted
 * (terminating), else active. */
typedef enum kl_pod_class {
    KL_POD_CLASS_ACTIVE = 0,
    KL_POD_CLASS_TERMINATING,
    KL_POD_CLASS_SUCCEEDED,
    KL_POD_CLASS_FAILED,
} kl_pod_class_t;

kl_pod_class_t kl_pod_classify(kl_val_t pod);
/* "active", "terminating", "succeeded", "failed". */
const char *kl_pod_class_name(kl_pod_class_t c);

/* The highest restartCount of status.containerStatuses (0 when none). */
int64_t kl_pod_max_restarts(kl_val_t pod);

/* A terminated container (state.terminated) of status.containerStatuses, then of
 * status.initContainerStatuses, in that order (the order podFailurePolicy scans them). */
typedef struct kl_pod_exit {
    const char *container; /* points into the document */
    int64_t exit_code;
    bool init;
} kl_pod_exit_t;

/* Writes up to cap terminated containers to out; returns how many there are. */
size_t kl_pod_exit_codes(kl_val_t pod, kl_pod_exit_t *out, size_t cap);

/* ---- Ranking -------------------------------------------------------------------------------- */

/* controller.ActivePods Less: negative when a should be deleted before b, positive when after,
 * 0 when they rank the same. Criteria in order: unscheduled before scheduled; phase Pending <
 * Unknown < Running (others rank with Pending); not ready before ready; both ready: ready more
 * recently first; higher max restart count first; newer creationTimestamp first (a missing one
 * first of all). */
int kl_pods_compare_active(kl_val_t a, kl_val_t b);

/* Sorts order[0..n) (filled with 0..n-1 by this function) so that pods[order[0]] is the first
 * to delete. The sort is stable, so equal pods keep their input order (upstream's sort.Sort is
 * not stable). Returns 0 or KL_ENOMEM. */
KL_NODISCARD int kl_pods_rank(const kl_val_t *pods, size_t n, size_t *order);

#endif
