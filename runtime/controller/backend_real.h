/* controller/backend_real.h - the backend for a real cluster (any API server: kubeconfig,
 * in-cluster, or the embedded one): one shared informer per resource for reads and change
 * events, the client for writes. Resolution uses the client's discovery cache, so prefetch
 * discovery (kl_client_resolve) before loading policies. Loop thread only. */
#ifndef KL_CONTROLLER_BACKEND_REAL_H
#define KL_CONTROLLER_BACKEND_REAL_H

#include "kubelua/client.h"
#include "kubelua/informer.h"

#include "controller/backend.h"

typedef struct kl_real kl_real_t;

/* namespace (may be NULL) restricts the informers of namespaced resources. The client stays
 * owned by the caller and must outlive the backend. */
KL_NODISCARD int kl_real_new(kl_client_t *client, const char *namespace, kl_real_t **out,
                             kl_errinfo_t *err);
/* Frees the informers (run the loop afterwards). */
void kl_real_free(kl_real_t *r);
kl_backend_t *kl_real_backend(kl_real_t *r);
kl_informers_t *kl_real_informers(kl_real_t *r);
/* Starts every informer (and those resolved later). */
KL_NODISCARD int kl_real_start(kl_real_t *r);
bool kl_real_synced(const kl_real_t *r);

#endif
