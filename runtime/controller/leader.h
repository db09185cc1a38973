/* controller/leader.h - leader election through a coordination.k8s.io/v1 Lease, as client-go's
 * LeaderElector and kube-controller-manager do: lease 15 s, renew deadline 10 s, retry every
 * 2 s. A candidate takes the lease when it is free or expired (judged by the local time at which
 * the lease was last seen changing, so clock skew between replicas does not matter); the leader
 * renews it every retry period and gives up the moment it cannot renew within the deadline.
 * Loop thread only. */
#ifndef KL_CONTROLLER_LEADER_H
#define KL_CONTROLLER_LEADER_H

#include <stdbool.h>
#include <uv.h>

#include "kubelua/client.h"

typedef struct kl_leader kl_leader_t;

/* Called on every change: leading or not. */
typedef void (*kl_leader_cb)(kl_leader_t *l, bool leading, void *ud);

typedef struct kl_leader_opts {
    const char *namespace; /* default "kube-system" */
    const char *name;      /* default "kubelua" */
    const char *identity;  /* default "<hostname>_<pid>" */
    double lease_seconds;  /* 15 */
    double renew_seconds;  /* 10 */
    double retry_seconds;  /* 2 */
} kl_leader_opts_t;

KL_NODISCARD int kl_leader_start(uv_loop_t *loop, kl_client_t *c, const kl_leader_opts_t *o,
                                 kl_leader_cb cb, void *ud, kl_leader_t **out, kl_errinfo_t *err);
bool kl_leader_leading(const kl_leader_t *l);
/* True once the first attempt got an answer (leading or not): readiness. */
bool kl_leader_known(const kl_leader_t *l);
const char *kl_leader_identity(const kl_leader_t *l);
/* Gives the lease up (when held) so a standby takes over at once, then calls done(ud); stops
 * trying. */
void kl_leader_release(kl_leader_t *l, void (*done)(void *ud), void *ud);
/* Frees (run the loop afterwards). */
void kl_leader_free(kl_leader_t *l);

#endif
