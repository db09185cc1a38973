/* apiserver/local.h - in-process writes for the embedded cluster (`kubelua up`): the node
 * agent's Lease renewals reach the store without an HTTPS round trip.
 *
 * Why: 5,000 simulated kubelets renew their Leases every 10 s, 500 writes a second. Over HTTPS
 * each renewal costs a curl transfer, TLS, HTTP/2 framing and the response decoding on the
 * agent's side, and request parsing, a merge patch and managedFields bookkeeping on the server
 * (about 0.3 ms in all); through this channel a renewal is the store write alone, and the
 * renewals of one agent turn are applied in one go. Everything a Lease watcher sees is the same
 * (a MODIFIED event with a new resourceVersion), except that the kubelet's managedFields entry
 * keeps its time. Creations and every other write still go over HTTPS.
 *
 * Threads: kl_local_new() before the server's thread starts (it registers a handle on the
 * server's loop); kl_local_renew_leases() from any thread; the done callback runs on the
 * server's thread; kl_local_free() from any thread but the server's, before kl_apiserver_free.
 */
#ifndef KL_APISERVER_LOCAL_H
#define KL_APISERVER_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "kubelua/error.h"

#include "apiserver/apiserver.h"

typedef struct kl_local kl_local_t;

typedef struct kl_local_lease {
    char namespace[64];
    char name[256];
    char holder[256];
    int32_t duration_seconds;
    int64_t renew_us; /* renewTime, unix microseconds */
    int rc;           /* result: 0, KL_ENOTFOUND (no such Lease), or another code */
} kl_local_lease_t;

/* Called on the server's thread once every lease of the batch has its rc. */
typedef void (*kl_local_done_fn)(kl_local_lease_t *leases, size_t n, void *ud);

KL_NODISCARD int kl_local_new(kl_apiserver_t *srv, kl_local_t **out);
/* Queues a batch (leases stay the caller's until done runs). KL_ECLOSED after kl_local_free
 * began. */
KL_NODISCARD int kl_local_renew_leases(kl_local_t *l, kl_local_lease_t *leases, size_t n,
                                       kl_local_done_fn done, void *ud);
/* Finishes the queued batches, closes the handle on the server's loop and frees l. */
void kl_local_free(kl_local_t *l);

#endif
