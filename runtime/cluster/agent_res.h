/* cluster/agent_res.h - the node agent's resource accounting and admission: what the files
 * that talk to the server need of include/kubelua/nodes.h. */
#ifndef KL_CLUSTER_AGENT_RES_H
#define KL_CLUSTER_AGENT_RES_H

#include <stdbool.h>
#include <stddef.h>

#include "kubelua/error.h"
#include "kubelua/object.h"

struct kl_resources; /* nodes.h's kl_resources_t */

struct kl_resources *agent_res_new(void); /* NULL when out of memory */
void agent_res_free(struct kl_resources *r);
/* Replaces r's content by a v1.ResourceList. */
KL_NODISCARD int agent_res_set_list(struct kl_resources *r, kl_val_t list, kl_errinfo_t *err);
/* Replaces r's content by what the scheduler charges for a pod spec. */
KL_NODISCARD int agent_res_set_pod(struct kl_resources *r, kl_val_t pod_spec, kl_errinfo_t *err);
/* dst += sign * src (sign 1 or -1). */
void agent_res_add(struct kl_resources *dst, const struct kl_resources *src, int sign);

/* kubelet's admission of a pod on a node: its required node affinity (when the Node object is
 * known: node may be missing) and resources (request against allocatable - used, npods + 1
 * against the pods capacity). Returns true to admit; otherwise reason ("NodeAffinity",
 * "OutOfcpu", ...) and message are filled as kubelet words them. */
bool agent_res_admit(kl_val_t pod_spec, kl_val_t node, const struct kl_resources *alloc,
                     const struct kl_resources *used, size_t npods,
                     const struct kl_resources *request, char *reason, size_t rcap, char *msg,
                     size_t mcap);

#endif
