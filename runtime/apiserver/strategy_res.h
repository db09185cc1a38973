/* apiserver/strategy_res.h - defaulting and validation of the kinds served without a controller:
 * RBAC, ResourceQuota, LimitRange, PersistentVolume(Claim), PodTemplate, ReplicationController,
 * StatefulSet, PriorityClass, PodDisruptionBudget, Ingress, IngressClass, NetworkPolicy,
 * EndpointSlice, HorizontalPodAutoscaler, StorageClass and RuntimeClass (strategy_res.c), after
 * kube-apiserver 1.32's defaulting functions and validation. Nothing here stores anything. */
#ifndef KL_APISERVER_STRATEGY_RES_H
#define KL_APISERVER_STRATEGY_RES_H

#include "kubelua/json.h"

#include "apiserver/strategy.h"

/* The strategy of one of those kinds, or NULL (kl_strategy_for falls back to it). */
const kl_strategy_t *kl_strategy_res_for(const char *group, const char *kind);

/* The converter of an alias whose shape differs from its storage version, or NULL: today
 * autoscaling/v1 HorizontalPodAutoscaler (stored as autoscaling/v2). See kl_res_t.convert. */
int (*kl_res_convert_for(const char *group, const char *version,
                         const char *kind))(kl_json_t *obj, const char *api_version);

/* HorizontalPodAutoscaler conversion, as upstream converts the CPU target: v1
 * targetCPUUtilizationPercentage <-> a v2 cpu Resource metric with an Utilization target (and the
 * current values of status likewise). Other v2 metrics and behavior are dropped on the way to
 * v1 (upstream keeps them in annotations). 0 or KL_ENOMEM. Exposed for tests. */
int kl_hpa_convert(kl_json_t *obj, const char *api_version);

/* PodDisruptionBudget arithmetic of the eviction subresource, as the disruption controller
 * computes it: the healthy pods wanted for `expected` pods under minAvailable or maxUnavailable
 * (an integer or a percentage, rounded up). Returns the desired healthy count, or -1 with a
 * message in *why when the budget is malformed. Exposed for tests. */
int64_t kl_pdb_desired_healthy(const kl_json_t *pdb_spec, int64_t expected, const char **why);

#endif
