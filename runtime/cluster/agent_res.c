/* The node agent's resource accounting and admission. See agent_res.h. */
#include "cluster/agent_res.h"

#include <stdio.h>
#include <stdlib.h>

#include "kubelua/log.h"
#include "kubelua/nodes.h"

struct kl_resources *agent_res_new(void)
{
    kl_resources_t *r = malloc(sizeof(*r));
    if (r)
        kl_resources_init(r);
    return r;
}

void agent_res_free(struct kl_resources *r)
{
    if (r == NULL)
        return;
    kl_resources_cleanup(r);
    free(r);
}

int agent_res_set_list(struct kl_resources *r, kl_val_t list, kl_errinfo_t *err)
{
    kl_resources_cleanup(r);
    kl_resources_init(r);
    return kl_resources_add_list(r, list, err);
}

int agent_res_set_pod(struct kl_resources *r, kl_val_t pod_spec, kl_errinfo_t *err)
{
    kl_resources_cleanup(r);
    kl_resources_init(r);
    return kl_pod_requests(pod_spec, r, err);
}

void agent_res_add(struct kl_resources *dst, const struct kl_resources *src, int sign)
{
    for (size_t i = 0; i < src->len; i++)
        if (kl_resources_add(dst, src->items[i].name, sign * src->items[i].amount) < 0)
            KL_WARN("agent", "out of memory counting %s", src->items[i].name);
}

bool agent_res_admit(kl_val_t pod_spec, kl_val_t node, const struct kl_resources *alloc,
                     const struct kl_resources *used, size_t npods,
                     const struct kl_resources *request, char *reason, size_t rcap, char *msg,
                     size_t mcap)
{
    if (!kl_val_missing(node) && kl_node_affinity_match(pod_spec, node, NULL) == 0) {
        snprintf(reason, rcap, "NodeAffinity");
        snprintf(msg, mcap,
                 "Pod was rejected: Predicate NodeAffinity failed: node(s) didn't "
                 "match Pod's node affinity/selector");
        return false;
    }
    kl_insufficient_t ins[4];
    size_t bad = kl_node_fits(alloc, used, npods, request, ins, 4);
    if (bad == 0)
        return true;
    snprintf(reason, rcap, "OutOf%s", ins[0].resource);
    snprintf(msg, mcap,
             "Pod was rejected: Node didn't have enough resource: %s, requested: %lld, used: "
             "%lld, capacity: %lld",
             ins[0].resource, (long long)ins[0].requested, (long long)ins[0].used,
             (long long)ins[0].capacity);
    return false;
}
